// Errors of the persistence layer. A checkpoint that fails verification is skipped (the loader
// falls back to an older one); these errors say why, for logs and tests.

export class CheckpointError extends Error {
  override readonly name: string = 'CheckpointError';
  constructor(
    message: string,
    /** Height of the checkpoint concerned, when there is one. */
    readonly height?: bigint,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** A checkpoint is torn or corrupt: a missing object, a size or hash mismatch, an unreadable manifest. */
export class CorruptCheckpointError extends CheckpointError {
  override readonly name = 'CorruptCheckpointError';
}
