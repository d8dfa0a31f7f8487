// The strict request decoder (RFC 8949) against the encoder agent-js uses, and against inputs
// @dfinity/cbor would misread.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { encode, encodeWithSelfDescribedTag } from '@dfinity/cbor';
import { decodeCbor } from '../src/http/cbor.js';
import { CborDecodeError } from '../src/http/errors.js';

const bytes = (...b: number[]) => Uint8Array.from(b);
const fails = (input: Uint8Array, reason: RegExp) =>
  assert.throws(() => decodeCbor(input), (e: unknown) => e instanceof CborDecodeError && e.status === 400 && reason.test(e.message));

describe('CBOR decoding of requests', () => {
  it('decodes what @dfinity/cbor encodes, tagged or not', () => {
    const value = { a: 1, b: [Uint8Array.of(1, 2), 'text', 2n ** 63n], c: { d: true, e: null } };
    for (const encoded of [encode(value), encodeWithSelfDescribedTag(value)]) {
      const decoded = decodeCbor(encoded) as Map<string, unknown>;
      assert.equal(decoded.get('a'), 1n);
      assert.deepEqual(decoded.get('b'), [Uint8Array.of(1, 2), 'text', 2n ** 63n]);
      assert.deepEqual(decoded.get('c'), new Map<string, unknown>([['d', true], ['e', null]]));
    }
  });

  it('decodes indefinite-length strings, arrays and maps', () => {
    // (_ h'01', h'0203'), [_ 1, 2], {_ "a": 1}
    assert.deepEqual(decodeCbor(bytes(0x5f, 0x41, 0x01, 0x42, 0x02, 0x03, 0xff)), Uint8Array.of(1, 2, 3));
    assert.deepEqual(decodeCbor(bytes(0x9f, 0x01, 0x02, 0xff)), [1n, 2n]);
    assert.deepEqual(decodeCbor(bytes(0xbf, 0x61, 0x61, 0x01, 0xff)), new Map([['a', 1n]]));
  });

  it('decodes bignums (tag 2/3) as the spec allows for large nats', () => {
    assert.equal(decodeCbor(bytes(0xc2, 0x49, 0x01, 0, 0, 0, 0, 0, 0, 0, 0)), 2n ** 64n);
    assert.equal(decodeCbor(bytes(0xc3, 0x41, 0x00)), -1n);
  });

  it('refuses truncated input instead of returning short byte strings', () => {
    fails(bytes(0x45, 0x01, 0x02), /declared length 5 exceeds/);
    fails(bytes(0xa1, 0x61), /declared length 1 exceeds|unexpected end/);
    fails(bytes(0x1b, 0x00, 0x01), /exceeds|unexpected end/);
    fails(new Uint8Array(0), /unexpected end/);
  });

  it('refuses trailing bytes, duplicate keys, non-text keys, floats and unknown tags', () => {
    fails(bytes(0x01, 0x02), /trailing/);
    fails(bytes(0xa2, 0x61, 0x61, 0x01, 0x61, 0x61, 0x02), /duplicate map key 'a'/);
    fails(bytes(0xa1, 0x01, 0x02), /map keys must be text/);
    fails(bytes(0xfb, 0x3f, 0xf0, 0, 0, 0, 0, 0, 0), /floating-point/);
    fails(bytes(0xc1, 0x01), /unsupported CBOR tag 1/);
    fails(bytes(0x7f, 0x41, 0x61, 0xff), /wrong major type/);
    fails(bytes(0x62, 0xc3, 0x28), /UTF-8/);
  });

  it('bounds declared lengths and nesting before allocating', () => {
    fails(bytes(0x9b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff), /exceeds/);
    fails(bytes(0xbb, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00), /exceeds/);
    fails(new Uint8Array(100_000).fill(0x81), /nesting deeper/);
  });

  it('keeps __proto__ an ordinary key', () => {
    const decoded = decodeCbor(encode({ ['__proto__']: 1 } as never)) as Map<string, unknown>;
    assert.ok(decoded instanceof Map);
    assert.equal(decoded.get('__proto__'), 1n);
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
  });

  it('reports where in the value the problem is', () => {
    // {"content": {"arg": <float>}}
    const input = bytes(0xa1, 0x67, ...new TextEncoder().encode('content'), 0xa1, 0x63, ...new TextEncoder().encode('arg'), 0xf9, 0x3c, 0x00);
    assert.throws(() => decodeCbor(input), (e: unknown) => e instanceof CborDecodeError && e.field === 'content.arg');
  });
});
