// Misuse of the fee functions: a broken invariant of the caller, never a canister's error.

/** A quantity that is negative, fractional or not finite, or a subnet size below 1. */
export class CyclesQuantityError extends RangeError {
  override readonly name = 'CyclesQuantityError';
  constructor(what: string, value: unknown) {
    super(`${what} must be a non-negative integer, got ${String(value)}`);
  }
}

/**
 * Cycles appeared or vanished: Σ balances + Σ in flight + burned ≠ minted. A replica bug; the
 * message says where the cycles were when it was noticed.
 */
export class CyclesConservationError extends Error {
  override readonly name = 'CyclesConservationError';
  constructor(message: string) {
    super(message);
  }
}
