// Defaults of a replica process that the command line shows without loading the node.

import { availableParallelism } from 'node:os';

/** Threads executing canisters in a replica process: one per core. */
export const DEFAULT_WORKERS = availableParallelism();

/**
 * Threads checking request signatures and signing query responses: one per core but the HTTP
 * thread's. On two cores one thread took ~8% less CPU per signed query than two (larger batches,
 * fewer wake-ups) at the same rate.
 */
export const DEFAULT_SIGNATURE_THREADS = Math.max(1, availableParallelism() - 1);
