// Messages between the worker pool (main thread) and its workers. Jobs and results travel encoded
// in one transferred buffer per batch (job-codec.ts), and the buffers go back to be written again
// once read; compiled modules as they are (a `WebAssembly.Module` is shared with the worker, not
// copied).

import type { FeeSchedule } from '../cycles/index.js';
import type { Wire } from './job-codec.js';
import type { SandboxModule } from './sandbox.js';

export type { JobReport } from './job-codec.js';

export interface WorkerData {
  readonly fees: FeeSchedule;
  readonly stableMemoryBytes: bigint;
  /**
   * Int32 [command, epoch]: the main thread's answer to a paused execution, and the epoch of the
   * batches the worker may still run (older ones were handed to other workers meanwhile).
   */
  readonly control: SharedArrayBuffer;
  /** Int32 [permits]: how many more executions may pause (block a thread); shared by the pool. */
  readonly permits: SharedArrayBuffer;
  /** How much nicer than the main thread the worker runs: `WorkerPoolOptions.workerNice`. */
  readonly nice: number;
}

/** Values of `control[0]`. */
export const COMMAND = { none: 0, continue: 1, abort: 2 } as const;

/**
 * A batch's jobs, encoded one after the other: id (u32); replay (u32: a long execution that had to
 * give up its thread runs again from the start, passing this many slice ends without stopping —
 * runs are deterministic, so they fall at the same places); the snapshot to restore the
 * canister's instance from, if any (an extra: cloned, its buffers transferred); the job.
 */
export interface EncodedBatch {
  readonly jobs: Wire;
  readonly extras: readonly unknown[];
}

export type ToWorker =
  | {
      readonly type: 'batch';
      readonly batch: number;
      /** Jobs of a batch from an older epoch are skipped (modules and evictions still apply). */
      readonly epoch: number;
      readonly modules: readonly SandboxModule[];
      readonly evict: readonly string[];
      readonly jobs: EncodedBatch;
      /**
       * Buffers of earlier results, back for the worker's next ones: the main thread gives one
       * back once every result in it is committed (at the end of the iteration it came in).
       */
      readonly returned: readonly ArrayBuffer[];
      /**
       * The subnet's id and root key, when they differ from what the worker last received: job
       * views come without them (the same for every job, so not cloned per job).
       */
      readonly subnet?: { readonly subnetId: Uint8Array; readonly rootKey: Uint8Array };
    }
  /** Drop every instance (the worker goes back to the pool after holding a long execution). */
  | { readonly type: 'reset' };

/** Job reports encoded one after the other (`writeReport`), in a transferred buffer. */
export type EncodedReports = Wire;

export type FromWorker =
  /** The batch is done; its jobs' buffer goes back to the main thread for its next batches. */
  | { readonly type: 'results'; readonly batch: number; readonly reports: EncodedReports; readonly jobs: ArrayBuffer }
  /**
   * Job `id` used its slice and the worker now waits for a command; `reports` are the jobs of its
   * batch before it. The rest of the batch, and later batches, are not run (the pool sends their
   * jobs elsewhere).
   */
  | {
      readonly type: 'paused';
      readonly batch: number;
      readonly reports: EncodedReports;
      readonly id: number;
      readonly executed: bigint;
    }
  /** The held execution used another slice and waits again. */
  | { readonly type: 'slice'; readonly id: number; readonly executed: bigint }
  /** The held execution finished (done) or was aborted; the worker is free. */
  | { readonly type: 'released'; readonly id: number; readonly report: EncodedReports | undefined };
