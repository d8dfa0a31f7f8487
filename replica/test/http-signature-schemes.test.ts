// The parts of canister-signature and WebAuthn verification below the HTTP interface: COSE keys
// (integer-keyed CBOR maps), their refusals, and the well-formedness rule for signature trees.
// End to end, through the agent, in test/e2e-signatures.test.ts.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { decodeCbor } from '../src/http/cbor.js';
import { InvalidPublicKeyError } from '../src/http/errors.js';
import { parseCoseKey } from '../src/http/webauthn.js';
import { CborDecodeError } from '../src/http/errors.js';
import { fork, labeled, leaf, pruned, wellFormed } from '../src/certification/index.js';

const hex = (s: string) => Uint8Array.from(Buffer.from(s.replace(/\s+/g, ''), 'hex'));
// The example of the interface specification ("Web Authentication"): ECDSA on P-256.
const SPEC_COSE = hex(`A501 0203 2620 0121 5820 7FFD 8363 2072 FD1B FEAF 3FBA A431 46E0 EF95 C3F5 5E39
  94A4 1BBF 2B51 74D7 71DA 2258 2032 497E ED0A 7F6F 0009 2876 5B83 1816 2CFD 80A9 4E52 5A6A 368C 2363 063D 04E6 ED`);

describe('COSE keys of WebAuthn', () => {
  it('decodes integer map keys only when asked to', () => {
    assert.throws(() => decodeCbor(SPEC_COSE), (e: unknown) => e instanceof CborDecodeError && /map keys must be text strings/.test(e.message));
    const map = decodeCbor(SPEC_COSE, { integerKeys: true }) as Map<string, unknown>;
    assert.deepEqual([...map.keys()], ['1', '3', '-1', '-2', '-3']);
    assert.equal(map.get('3'), -7n);
  });

  it("parses the specification's example key as ECDSA P-256", () => {
    const key = parseCoseKey(SPEC_COSE);
    assert.equal(key.algorithm, 'ecdsa-p256');
    assert.equal(key.key.asymmetricKeyType, 'ec');
  });

  it('parses RSA keys', () => {
    const { publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const jwk = publicKey.export({ format: 'jwk' });
    const n = Buffer.from(jwk.n!, 'base64url');
    const e = Buffer.from(jwk.e!, 'base64url');
    const cose = Buffer.concat([Buffer.from([0xa4, 0x01, 0x03, 0x03, 0x39, 0x01, 0x00, 0x20, 0x59, 0x01, 0x00]), n, Buffer.from([0x21, 0x43]), e]);
    assert.equal(parseCoseKey(cose).algorithm, 'rsa-pkcs1-sha256');
  });

  it('refuses other algorithms, curves, point sizes, points off the curve and non-maps', () => {
    const variant = (from: string, to: string) => hex(Buffer.from(SPEC_COSE).toString('hex').replace(from, to));
    const cases: [Uint8Array, RegExp][] = [
      [variant('0326', '0327'), /WebAuthn keys must be ECDSA P-256/], // alg -8 (EdDSA)
      [variant('2001', '2002'), /curve P-256/], // crv 2 (P-384)
      [hex('A4 0102 0326 2001 21'), /not CBOR/], // truncated
      [hex('A4 0102 0326 2001 2143 010203'), /x of 3 bytes/],
      [variant('7ffd8363', '7ffd8364'), /not a valid P-256 point/],
      [hex('80'), /expected a map/],
    ];
    for (const [cose, why] of cases) {
      assert.throws(() => parseCoseKey(cose), (e: unknown) => e instanceof InvalidPublicKeyError && why.test(e.message), String(why));
    }
  });
});

describe('well-formed signature trees', () => {
  const empty = new Uint8Array(0);
  it('accepts leaves and forests of strictly increasing labels', () => {
    assert.ok(wellFormed(leaf(empty)));
    assert.ok(wellFormed(labeled('sig', fork(labeled('a', leaf(empty)), labeled('b', pruned(new Uint8Array(32)))))));
  });
  it('refuses unsorted or repeated labels and leaves beside labels', () => {
    assert.ok(!wellFormed(fork(labeled('b', leaf(empty)), labeled('a', leaf(empty)))));
    assert.ok(!wellFormed(fork(labeled('a', leaf(empty)), labeled('a', leaf(empty)))));
    assert.ok(!wellFormed(fork(labeled('a', leaf(empty)), leaf(empty))));
    assert.ok(!wellFormed(labeled('sig', fork(labeled('b', leaf(empty)), labeled('a', leaf(empty))))));
  });
});
