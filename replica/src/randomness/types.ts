// Types of the random tape.

/** The random tape of one round: a 48-byte threshold BLS signature (compressed G1 point). */
export type RandomTape = Uint8Array;

/** A replica's share of the random tape of a round. */
export interface RandomTapeShare {
  /** The replica's Shamir index (1-based), as in the dealt key shares. */
  readonly index: number;
  readonly signature: Uint8Array;
}
