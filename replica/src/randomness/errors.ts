// Errors of the random tape. Stable `name` and `code`, as elsewhere in the replica.

export type RandomnessErrorCode = 'INVALID_RANDOM_TAPE' | 'RANDOM_TAPE_EXHAUSTED';

/** A tape that is not a valid threshold signature for its height (or not 48 bytes). */
export class InvalidRandomTapeError extends Error {
  override readonly name = 'InvalidRandomTapeError';
  readonly code: RandomnessErrorCode = 'INVALID_RANDOM_TAPE';
}

/** More draws than one ChaCha20 key stream (2^32 blocks of 64 bytes) can serve. */
export class RandomTapeExhaustedError extends Error {
  override readonly name = 'RandomTapeExhaustedError';
  readonly code: RandomnessErrorCode = 'RANDOM_TAPE_EXHAUSTED';
}
