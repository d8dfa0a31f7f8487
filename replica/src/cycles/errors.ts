// Misuse of the fee functions: a broken invariant of the caller, never a canister's error.

/** A quantity that is negative, fractional or not finite, or a subnet size below 1. */
export class CyclesQuantityError extends RangeError {
  override readonly name = 'CyclesQuantityError';
  constructor(what: string, value: unknown) {
    super(`${what} must be a non-negative integer, got ${String(value)}`);
  }
}
