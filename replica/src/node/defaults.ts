// Defaults of a replica process that the command line shows without loading the node.

import { availableParallelism } from 'node:os';

/** Threads executing canisters in a replica process: one per core. */
export const DEFAULT_WORKERS = availableParallelism();
