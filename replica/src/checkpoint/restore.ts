// Restart of a replica: a new Replica, the newest valid checkpoint loaded into its state, the
// blocks after the checkpoint's height replayed through the scheduler, and the acknowledged
// ingress no block took yet put back into the pool. The result has the state hash the replica
// had before it stopped (or crashed).

import { ATTR, SPAN } from '../telemetry/attributes.js';
import type { ReplicaMetrics } from '../telemetry/metrics.js';
import type { RoundTracer } from '../telemetry/tracing.js';
import { LocalBlockMaker, type Block } from '../consensus/index.js';
import { FileBlockLog } from '../consensus/block-log.js';
import { Replica, defaultReplicaConfig, type ReplicaConfig } from '../replica.js';
import type { RoundSummary } from '../scheduler/index.js';
import { Checkpointer, type CheckpointResult, type CheckpointerConfig } from './checkpointer.js';
import { loadCheckpoint, type LoadedCheckpoint, type SkippedCheckpoint } from './loader.js';
import { PersistentModuleCache } from './module-store.js';
import type { CheckpointStore } from './types.js';

export interface PersistenceOptions {
  readonly store: CheckpointStore;
  /** Blocks to replay when the replica's block source is not a FileBlockLog (tests). */
  readonly replay?: Iterable<Block> | AsyncIterable<Block>;
  readonly checkpointer?: Partial<CheckpointerConfig>;
  /** Write checkpoints that fall due while replaying (default true, as the replica would have). */
  readonly checkpointDuringReplay?: boolean;
  /** Ignore checkpoints above this height (to replay further from an older one). */
  readonly maxCheckpointHeight?: bigint;
  /** Page maps read pages from a filesystem checkpoint on demand (default true; see LoadOptions). */
  readonly lazy?: boolean;
}

export interface RestoreOptions extends PersistenceOptions {
  readonly config?: ReplicaConfig;
  /** The block source of the new replica. A FileBlockLog is also what is replayed. */
  readonly blocks?: LocalBlockMaker;
  readonly modules?: PersistentModuleCache;
}

export interface Restored {
  readonly checkpointer: Checkpointer;
  readonly checkpoint: LoadedCheckpoint | undefined;
  readonly skipped: readonly SkippedCheckpoint[];
  readonly replayed: number;
  /** Acknowledged messages put back into the pool. */
  readonly requeued: number;
}

export interface RestoredReplica extends Restored {
  readonly replica: Replica;
  readonly modules: PersistentModuleCache;
}

/** A new Replica restored from the store (and its block log, if `blocks` is a FileBlockLog). */
export async function restoreReplica(options: RestoreOptions): Promise<RestoredReplica> {
  const modules = options.modules ?? new PersistentModuleCache();
  const replica = new Replica(options.config ?? defaultReplicaConfig(), options.blocks ?? new LocalBlockMaker(), modules);
  return { replica, modules, ...(await restoreInto(replica, modules, options)) };
}

/**
 * Restores into a replica that has not executed anything yet (built with `modules` as its module
 * cache): newest valid checkpoint, then the blocks after it (from its FileBlockLog, or `replay`),
 * then acknowledged ingress no block took back into the pool.
 */
export async function restoreInto(replica: Replica, modules: PersistentModuleCache, options: PersistenceOptions): Promise<Restored> {
  const { loaded, skipped } = await loadCheckpoint(options.store, replica.state, modules, { maxHeight: options.maxCheckpointHeight, lazy: options.lazy });
  const checkpointer = new Checkpointer(options.store, modules, options.checkpointer);
  if (loaded) checkpointer.resume(loaded.manifest, replica.state);

  let replayed = 0;
  const log = replica.blocks instanceof FileBlockLog ? replica.blocks : undefined;
  const source = log ? log.blocksAfter(replica.state.height) : options.replay;
  if (source) {
    for await (const block of source) {
      if (block.height <= replica.state.height) continue;
      if (block.height !== replica.state.height + 1n) {
        throw new Error(`cannot replay: block ${block.height} follows state height ${replica.state.height} (is the block log pruned past the checkpoint?)`);
      }
      await executeRound(replica, checkpointer, { block, checkpoint: options.checkpointDuringReplay ?? true, prune: false });
      replayed++;
    }
  }
  const requeued = log ? await log.resume((id) => replica.state.ingressHistory.has(id)) : 0;
  return { checkpointer, checkpoint: loaded, skipped, replayed, requeued };
}

export interface RoundOptions {
  /** The block to execute (default: the replica's block source makes the next one). */
  readonly block?: Block;
  /** Checkpoint if due (default true). */
  readonly checkpoint?: boolean;
  /** After a checkpoint, delete block log segments no restart can need any more (default true). */
  readonly prune?: boolean;
  /** Traces the checkpoint as a phase of the open round. */
  readonly tracer?: RoundTracer;
  readonly metrics?: ReplicaMetrics;
  /**
   * Write the checkpoint without waiting for it (a replica serving clients): rounds go on while it
   * uploads, and a slow or unreachable store never holds them up. A checkpoint that falls due
   * while an earlier one is still being written is skipped. The outcome is in `written`.
   */
  readonly background?: boolean;
}

export interface RoundResult {
  readonly summary: RoundSummary;
  /** The checkpoint written after the round, if one was due (not with `background`). */
  readonly checkpoint: CheckpointResult | undefined;
  /** With `background`, the checkpoint being written, if one was due. */
  readonly written?: Promise<CheckpointResult | undefined>;
}

/**
 * One round of the embedded loop: execute (awaited: the scheduler may become asynchronous), then
 * checkpoint if due and prune the block log. What the replica's round loop should call.
 */
export async function executeRound(replica: Replica, checkpointer: Checkpointer | undefined, options: RoundOptions = {}): Promise<RoundResult> {
  // The round before a checkpoint aborts long (DTS) executions: a checkpoint holds none.
  const height = options.block?.height ?? replica.state.height + 1n;
  const due = options.checkpoint !== false && checkpointer !== undefined && checkpointer.isDue(height) && !(options.background && checkpointer.busy);
  const summary = await replica.executeRound(options.block, { checkpoint: due });
  if (!due || !checkpointer) return { summary, checkpoint: undefined };
  const written = writeCheckpoint(replica, checkpointer, options);
  return options.background ? { summary, checkpoint: undefined, written } : { summary, checkpoint: await written };
}

/** Captures the checkpoint now (synchronously), then writes it, records it and prunes the block log. */
async function writeCheckpoint(replica: Replica, checkpointer: Checkpointer, options: RoundOptions): Promise<CheckpointResult | undefined> {
  const started = performance.now(); // wall-clock-ok: checkpoint duration metric only
  const write = () => checkpointer.maybeCheckpoint(replica.state);
  const checkpoint = options.tracer
    ? await options.tracer.phase(SPAN.checkpoint, async (span) => {
        const result = await write();
        if (result) span.setAttributes({ [ATTR.checkpointBytes]: result.bytesWritten, [ATTR.checkpointPages]: result.pagesWritten });
        return result;
      })
    : await write();
  if (checkpoint) {
    options.metrics?.recordCheckpoint({
      seconds: (performance.now() - started) / 1000, // wall-clock-ok
      bytes: checkpoint.bytesWritten,
      pages: checkpoint.pagesWritten,
    });
  }
  // Blocks up to the oldest checkpoint a restart could fall back to are no longer needed.
  if (checkpoint && options.prune !== false && replica.blocks instanceof FileBlockLog) {
    await replica.blocks.pruneThrough(checkpointer.oldestRetainedHeight);
  }
  return checkpoint;
}
