// The random tape: per-round randomness that no coalition of up to f replicas can predict or
// bias, used by `raw_rand` (spec "IC method raw_rand": 32 bytes of randomness per call).
//
// The tape of round h is the threshold BLS signature, under the subnet's randomness key
// (threshold f + 1, `randomnessThreshold`), on
//
//     domain_sep("ic-random-tape") · h   =   "\x0Eic-random-tape" · u64_be(h)
//
// following the `domain_sep` convention of spec "Certificate" so it can never collide with a
// state certification message ("\x0Dic-state-root" · hash). BLS signatures are unique, so every
// subset of f + 1 honest shares yields the same tape, yet f shares reveal nothing about it. The
// randomness key must be dealt separately from the certification key (different threshold).
//
// From the tape, `RandomTapeRng` derives a deterministic stream: ChaCha20 (RFC 8439) keyed with
// SHA-256(tape), all-zero nonce, block counter from 0; draw k is key-stream bytes [32k, 32k+32).

import { chacha20 } from '@noble/ciphers/chacha.js';
import {
  combine,
  domainSeparator,
  SIGNATURE_LENGTH,
  signShare,
  type ThresholdSigner,
  verify,
} from '../certification/index.js';
import { InvalidRandomTapeError, RandomTapeExhaustedError } from './errors.js';
import type { RandomTape, RandomTapeShare } from './types.js';
import { sha256 } from '../bytes.js';

/** `domain_sep("ic-random-tape")` = `\x0Eic-random-tape`. */
export const RANDOM_TAPE_DOMAIN = domainSeparator('ic-random-tape');

const U64_MAX = (1n << 64n) - 1n;

/** The message signed for the tape of round `height`. */
export function randomTapeMessage(height: bigint): Uint8Array {
  if (height < 0n || height > U64_MAX) throw new RangeError(`height ${height} is not a u64`);
  const out = new Uint8Array(RANDOM_TAPE_DOMAIN.length + 8);
  out.set(RANDOM_TAPE_DOMAIN, 0);
  new DataView(out.buffer).setBigUint64(RANDOM_TAPE_DOMAIN.length, height, false);
  return out;
}

/** This replica's share of the tape of round `height`. */
export function randomTapeShare(secretShare: Uint8Array, height: bigint): Uint8Array {
  return signShare(secretShare, randomTapeMessage(height));
}

export function verifyRandomTapeShare(publicShare: Uint8Array, height: bigint, share: Uint8Array): boolean {
  return verify(publicShare, randomTapeMessage(height), share);
}

export function verifyRandomTape(publicKey: Uint8Array, height: bigint, tape: RandomTape): boolean {
  return verify(publicKey, randomTapeMessage(height), tape);
}

/**
 * Combines `threshold` shares into the tape; with `publicKey`, checks the result and throws
 * `InvalidRandomTapeError` if a share was bad.
 */
export function combineRandomTape(
  shares: readonly RandomTapeShare[],
  threshold: number,
  height: bigint,
  publicKey?: Uint8Array,
): RandomTape {
  const tape = combine(shares, threshold);
  if (publicKey !== undefined && !verifyRandomTape(publicKey, height, tape)) {
    throw new InvalidRandomTapeError(`combined random tape of height ${height} does not verify`);
  }
  return tape;
}

/** The tape of round `height` from a signer holding the randomness key (or f + 1 shares). */
export function randomTape(height: bigint, signer: ThresholdSigner): RandomTape {
  return signer.sign(randomTapeMessage(height));
}

const DRAW_BYTES = 32;
const BLOCK_BYTES = 64;
const BLOCKS_PER_REFILL = 8;
const DRAWS_PER_REFILL = (BLOCKS_PER_REFILL * BLOCK_BYTES) / DRAW_BYTES;
const MAX_BLOCKS = 2 ** 32; // RFC 8439's 32-bit block counter
const NONCE = new Uint8Array(12);
const ZEROS = new Uint8Array(BLOCKS_PER_REFILL * BLOCK_BYTES);

/**
 * Deterministic CSPRNG of one round: every replica that drew the same number of times gets the
 * same next bytes. `raw_rand` takes one `next32()` per call, in execution order.
 */
export class RandomTapeRng {
  readonly #key: Uint8Array;
  readonly #buffer = new Uint8Array(BLOCKS_PER_REFILL * BLOCK_BYTES);
  #bufferChunk = -1;
  #drawn: number;

  /** `startAt` resumes a stream after that many draws (e.g. when replaying a round). */
  constructor(tape: RandomTape, startAt = 0) {
    if (tape.length !== SIGNATURE_LENGTH) {
      throw new InvalidRandomTapeError(`random tape has ${tape.length} bytes, expected ${SIGNATURE_LENGTH}`);
    }
    if (!Number.isSafeInteger(startAt) || startAt < 0) throw new RangeError(`invalid start position ${startAt}`);
    this.#key = sha256(tape);
    this.#drawn = startAt;
  }

  /** How many 32-byte draws have been taken. */
  get drawn(): number {
    return this.#drawn;
  }

  next32(): Uint8Array {
    const chunk = Math.floor(this.#drawn / DRAWS_PER_REFILL);
    if (chunk !== this.#bufferChunk) {
      const counter = chunk * BLOCKS_PER_REFILL;
      if (counter + BLOCKS_PER_REFILL > MAX_BLOCKS) throw new RandomTapeExhaustedError('random tape key stream exhausted');
      chacha20(this.#key, NONCE, ZEROS, this.#buffer, counter);
      this.#bufferChunk = chunk;
    }
    const offset = (this.#drawn % DRAWS_PER_REFILL) * DRAW_BYTES;
    this.#drawn++;
    return this.#buffer.slice(offset, offset + DRAW_BYTES);
  }
}
