// Orthogonal persistence: incremental checkpoints of the replicated state to a directory or an
// S3 bucket, restart from the newest valid one plus the block log, and canister snapshots.
export { Checkpointer, DEFAULT_CHECKPOINTER_CONFIG, checkpointPrefix, listCheckpointHeights, manifestKey, readManifest,
  type CheckpointResult, type CheckpointerConfig } from './checkpointer.js';
export { CheckpointError, CorruptCheckpointError } from './errors.js';
export { FsCheckpointStore } from './fs-store.js';
export { lazyPageCounters, type LazyPageCounters } from './lazy-pages.js';
export { S3CheckpointStore } from './s3-store.js';
export { loadCheckpoint, type LoadOptions, type LoadResult, type LoadedCheckpoint, type SkippedCheckpoint } from './loader.js';
export { parseManifest } from './manifest.js';
export { PersistentModuleCache, wasmOf, type WasmSource } from './module-store.js';
export {
  executeRound, restoreInto, restoreReplica, type PersistenceOptions, type RestoreOptions, type Restored, type RestoredReplica,
  type RoundOptions, type RoundResult,
} from './restore.js';
export {
  DEFAULT_MAX_SNAPSHOTS_PER_CANISTER, canisterSnapshots, deleteSnapshot, listSnapshots, loadSnapshot, snapshotId,
  snapshotOwner, snapshotSize, snapshotsSize, takeSnapshot, type CanisterSnapshot, type CanisterSnapshots,
  type LoadSnapshotHooks, type TakeSnapshotOptions,
} from './snapshots.js';
export * from './types.js';
