// Defaults of a replica process that the command line shows without loading the node.

import { availableParallelism } from 'node:os';

/** Threads executing canisters in a replica process: one per core. */
export const DEFAULT_WORKERS = availableParallelism();

/** Threads checking request signatures and signing query responses: one per core. */
export const DEFAULT_SIGNATURE_THREADS = availableParallelism();
