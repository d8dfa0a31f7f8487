// Threshold BLS over BLS12-381 (G1 signatures, G2 keys) with Shamir-dealt keys.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { bls12_381 } from '@noble/curves/bls12-381.js';
import {
  certificationThreshold,
  checkKeyShare,
  combine,
  combinePublicShares,
  dealKeys,
  generateKey,
  InsufficientSharesError,
  InvalidKeyMaterialError,
  LocalThresholdSigner,
  publicKeyFromDer,
  publicKeyToDer,
  randomnessThreshold,
  SecretKeySigner,
  selfAuthenticatingPrincipal,
  signShare,
  verify,
  verifyShare,
} from '../src/certification/index.js';
import { Principal } from '@icp-sdk/core/principal';
import { seededRandom } from './fixtures/seeded-random.js';

const message = new TextEncoder().encode('\x0Dic-state-root' + 'x'.repeat(32));

/** All k-subsets of 0..n-1 (or a sample of them when there are many). */
function subsets(n: number, k: number, limit = 30): number[][] {
  const out: number[][] = [];
  const rec = (start: number, acc: number[]) => {
    if (out.length >= limit) return;
    if (acc.length === k) {
      out.push([...acc]);
      return;
    }
    for (let i = start; i < n; i++) rec(i + 1, [...acc, i]);
  };
  rec(0, []);
  // Also the last k indices, to cover high Shamir points.
  out.push(Array.from({ length: k }, (_, i) => n - k + i));
  return out;
}

describe('thresholds', () => {
  it('follow f = floor((n-1)/3): certification n-f, randomness f+1', () => {
    const table = [1, 2, 3, 4, 7, 13, 28, 34, 40].map((n) => [n, certificationThreshold(n), randomnessThreshold(n)]);
    assert.deepEqual(table, [
      [1, 1, 1],
      [2, 2, 1],
      [3, 3, 1],
      [4, 3, 2],
      [7, 5, 3],
      [13, 9, 5],
      [28, 19, 10],
      [34, 23, 12],
      [40, 27, 14],
    ]);
    assert.throws(() => certificationThreshold(0), InvalidKeyMaterialError);
  });
});

describe('threshold BLS', () => {
  for (const n of [1, 4, 13]) {
    const t = certificationThreshold(n);
    it(`n = ${n}: any ${t} of ${n} shares combine to one signature that verifies; ${t - 1} do not`, () => {
      const keys = dealKeys(n, t, seededRandom(`n${n}`));
      assert.equal(keys.publicKey.length, 96);
      assert.equal(keys.shares.length, n);
      for (const s of keys.shares) assert.ok(checkKeyShare(s));
      assert.deepEqual(combinePublicShares(keys.shares.slice(-t), t), keys.publicKey);

      const shares = keys.shares.map((s) => ({ index: s.index, signature: signShare(s.secret, message) }));
      for (const [i, s] of shares.entries()) {
        assert.equal(s.signature.length, 48);
        assert.ok(verifyShare(keys.shares[i]!.publicShare, message, s.signature));
      }
      let reference: Uint8Array | undefined;
      for (const subset of subsets(n, t)) {
        const sig = combine(subset.map((i) => shares[i]!), t);
        assert.ok(verify(keys.publicKey, message, sig));
        reference ??= sig;
        assert.deepEqual(sig, reference, 'BLS threshold signatures are unique');
      }
      // More shares than needed: still the same signature.
      assert.deepEqual(combine(shares, t), reference);

      if (t > 1) {
        // Too few shares: refused outright, and interpolating them anyway gives garbage.
        assert.throws(() => combine(shares.slice(0, t - 1), t), InsufficientSharesError);
        assert.ok(!verify(keys.publicKey, message, combine(shares.slice(0, t - 1), t - 1)));
      }
      // Duplicate shares do not count twice.
      if (t > 1) assert.throws(() => combine([shares[0]!, ...Array(t - 1).fill(shares[0]!)], t), InsufficientSharesError);
    });
  }

  it('a bad share makes the combination invalid and is caught by verifyShare', () => {
    const keys = dealKeys(4, 3, seededRandom('bad'));
    const shares = keys.shares.map((s) => ({ index: s.index, signature: signShare(s.secret, message) }));
    const forged = { index: 2, signature: signShare(keys.shares[0]!.secret, message) };
    assert.ok(!verifyShare(keys.shares[1]!.publicShare, message, forged.signature));
    assert.ok(!verify(keys.publicKey, message, combine([shares[0]!, forged, shares[2]!], 3)));
  });

  it('is standard BLS: the 1-of-1 signature verifies with noble and for the plain secret', () => {
    const { secretKey, publicKey } = generateKey(seededRandom('plain'));
    const sig = new SecretKeySigner(secretKey).sign(message);
    const short = bls12_381.shortSignatures;
    assert.ok(short.verify(sig, short.hash(message), publicKey), 'default G1 DST of noble = the IC ciphersuite');
    assert.deepEqual(sig, short.sign(short.hash(message), secretKey).toBytes(true));
    assert.ok(!verify(publicKey, new TextEncoder().encode('other'), sig));
    assert.ok(!verify(publicKey, message, new Uint8Array(48)));
    assert.ok(!verify(new Uint8Array(96), message, sig));
  });

  it('LocalThresholdSigner signs with its shares and checks the result', () => {
    const keys = dealKeys(13, 9, seededRandom('local'));
    const signer = LocalThresholdSigner.fromDealt(keys, [13, 12, 11, 10, 9, 8, 7, 6, 5]);
    assert.ok(verify(keys.publicKey, message, signer.sign(message)));
    const other = dealKeys(13, 9, seededRandom('other'));
    const mixed = new LocalThresholdSigner(keys.publicKey, 9, [...other.shares.slice(0, 1), ...keys.shares.slice(1, 9)]);
    assert.throws(() => mixed.sign(message), InvalidKeyMaterialError);
    assert.throws(() => LocalThresholdSigner.fromDealt(keys, [1, 2]), InsufficientSharesError);
  });

  it('validates its inputs', () => {
    assert.throws(() => dealKeys(0, 1), InvalidKeyMaterialError);
    assert.throws(() => dealKeys(3, 4), InvalidKeyMaterialError);
    assert.throws(() => dealKeys(3, 0), InvalidKeyMaterialError);
    assert.throws(() => signShare(new Uint8Array(32), message), InvalidKeyMaterialError); // zero scalar
    assert.throws(() => signShare(new Uint8Array(31).fill(1), message), InvalidKeyMaterialError);
    assert.throws(() => combine([{ index: 1, signature: new Uint8Array(48).fill(1) }], 1), InvalidKeyMaterialError);
    assert.throws(() => combine([{ index: 0, signature: new Uint8Array(48) }], 1), InvalidKeyMaterialError);
  });

  it('draws dealer randomness from crypto.getRandomValues by default', () => {
    const a = dealKeys(1, 1);
    const b = dealKeys(1, 1);
    assert.notDeepEqual(a.publicKey, b.publicKey);
  });
});

describe('public key encodings', () => {
  it('DER-encodes G2 keys with the prefix agent-js expects, and derives the self-authenticating id', () => {
    const { publicKey } = generateKey(seededRandom('der'));
    const der = publicKeyToDer(publicKey);
    assert.equal(der.length, 133);
    assert.equal(
      Buffer.from(der.subarray(0, 37)).toString('hex'),
      '308182301d060d2b0601040182dc7c0503010201060c2b0601040182dc7c05030201036100',
    );
    assert.deepEqual(publicKeyFromDer(der), publicKey);
    assert.throws(() => publicKeyFromDer(der.subarray(1)), InvalidKeyMaterialError);
    const tampered = der.slice();
    tampered[5] ^= 1;
    assert.throws(() => publicKeyFromDer(tampered), InvalidKeyMaterialError);
    assert.deepEqual(selfAuthenticatingPrincipal(der), Principal.selfAuthenticating(der).toUint8Array());
  });
});
