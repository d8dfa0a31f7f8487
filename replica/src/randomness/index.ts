// The random tape: per-round threshold randomness and the deterministic stream `raw_rand` draws
// from.

export type { RandomTape, RandomTapeShare } from './types.js';
export { InvalidRandomTapeError, RandomTapeExhaustedError, type RandomnessErrorCode } from './errors.js';
export {
  combineRandomTape,
  RANDOM_TAPE_DOMAIN,
  randomTape,
  randomTapeMessage,
  RandomTapeRng,
  randomTapeShare,
  verifyRandomTape,
  verifyRandomTapeShare,
} from './random-tape.js';
