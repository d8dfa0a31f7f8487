// The random tape (threshold BLS on "\x0Eic-random-tape" · height) and the ChaCha20 stream that
// `raw_rand` draws from.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { chacha20 } from '@noble/ciphers/chacha.js';
import { sha256 } from '@noble/hashes/sha2.js';
import {
  dealKeys,
  InsufficientSharesError,
  LocalThresholdSigner,
  randomnessThreshold,
} from '../src/certification/index.js';
import {
  combineRandomTape,
  InvalidRandomTapeError,
  randomTape,
  randomTapeMessage,
  RandomTapeRng,
  randomTapeShare,
  verifyRandomTape,
  verifyRandomTapeShare,
} from '../src/randomness/index.js';
import { seededRandom } from './fixtures/seeded-random.js';

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

describe('random tape', () => {
  it('signs "\\x0Eic-random-tape" followed by the height as 8 bytes big endian', () => {
    assert.equal(hex(randomTapeMessage(0x0102030405060708n)), `0e${hex(new TextEncoder().encode('ic-random-tape'))}0102030405060708`);
    assert.throws(() => randomTapeMessage(-1n), RangeError);
    assert.throws(() => randomTapeMessage(1n << 64n), RangeError);
  });

  for (const n of [1, 4, 13]) {
    const t = randomnessThreshold(n);
    it(`n = ${n}: any ${t} shares give the same tape, which verifies; heights differ`, () => {
      const keys = dealKeys(n, t, seededRandom(`beacon-${n}`));
      const height = 42n;
      const shares = keys.shares.map((s) => ({ index: s.index, signature: randomTapeShare(s.secret, height) }));
      for (const [i, s] of shares.entries()) assert.ok(verifyRandomTapeShare(keys.shares[i]!.publicShare, height, s.signature));
      const first = combineRandomTape(shares.slice(0, t), t, height, keys.publicKey);
      const last = combineRandomTape(shares.slice(-t), t, height, keys.publicKey);
      assert.equal(first.length, 48);
      assert.deepEqual(first, last);
      assert.ok(verifyRandomTape(keys.publicKey, height, first));
      assert.ok(!verifyRandomTape(keys.publicKey, height + 1n, first));
      const signer = LocalThresholdSigner.fromDealt(keys);
      assert.deepEqual(randomTape(height, signer), first);
      assert.notDeepEqual(randomTape(height + 1n, signer), first);
      if (t > 1) {
        assert.throws(() => combineRandomTape(shares.slice(0, t - 1), t, height), InsufficientSharesError);
        assert.throws(() => combineRandomTape(shares.slice(0, t - 1), t - 1, height, keys.publicKey), InvalidRandomTapeError);
      }
    });
  }
});

describe('RandomTapeRng', () => {
  const keys = dealKeys(4, 2, seededRandom('rng'));
  const tape = randomTape(7n, LocalThresholdSigner.fromDealt(keys));

  it('is deterministic, and successive draws differ', () => {
    const a = new RandomTapeRng(tape);
    const b = new RandomTapeRng(tape);
    const drawsA = Array.from({ length: 100 }, () => a.next32());
    const drawsB = Array.from({ length: 100 }, () => b.next32());
    assert.deepEqual(drawsA, drawsB);
    assert.equal(new Set(drawsA.map(hex)).size, 100);
    for (const d of drawsA) assert.equal(d.length, 32);
    assert.equal(a.drawn, 100);
  });

  it('is ChaCha20 keyed with SHA-256(tape), zero nonce, counter from 0', () => {
    const stream = chacha20(sha256(tape), new Uint8Array(12), new Uint8Array(32 * 40));
    const rng = new RandomTapeRng(tape);
    for (let k = 0; k < 40; k++) assert.deepEqual(rng.next32(), stream.subarray(32 * k, 32 * k + 32));
  });

  it('resumes at a given draw and depends on the tape', () => {
    const full = new RandomTapeRng(tape);
    const draws = Array.from({ length: 40 }, () => full.next32());
    const resumed = new RandomTapeRng(tape, 23);
    assert.deepEqual(resumed.next32(), draws[23]);
    const other = randomTape(8n, LocalThresholdSigner.fromDealt(keys));
    assert.notDeepEqual(new RandomTapeRng(other).next32(), draws[0]);
    assert.throws(() => new RandomTapeRng(new Uint8Array(47)), InvalidRandomTapeError);
  });
});
