// Request ids and representation-independent hashing against agent-js, the reference client:
// the replica must compute exactly the id the agent signs.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Cbor, hashOfMap as agentHashOfMap, requestIdOf as agentRequestIdOf } from '@icp-sdk/core/agent';
import { lebEncode, slebEncode } from '@icp-sdk/core/candid';
import { Principal } from '@icp-sdk/core/principal';
import { decodeCbor } from '../src/http/cbor.js';
import { decodeEnvelope } from '../src/http/envelope.js';
import { encodeSleb128, encodeUleb128, hashOfMap, requestIdOf, type Hashable } from '../src/http/request-id.js';
import type { CborMap } from '../src/http/types.js';

/** Deterministic PRNG (mulberry32) so failures reproduce. */
function prng(seed: number) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (n: number) => Math.floor(next() * n);
  const bytes = (max: number) => Uint8Array.from({ length: int(max + 1) }, () => int(256));
  const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)]!;
  const str = (max: number) => {
    const alphabet = ['a', 'b', 'z', '_', '0', ' ', 'é', '€', '日', '😀', '\u0000', '\n'];
    return Array.from({ length: int(max + 1) }, () => pick(alphabet)).join('');
  };
  const nat = (): bigint => {
    switch (int(4)) {
      case 0:
        return BigInt(int(24));
      case 1:
        return BigInt(int(1 << 30));
      case 2:
        return BigInt(Date.now()) * 1_000_000n + BigInt(int(1e9));
      default:
        return BigInt.asUintN(64, (BigInt(int(2 ** 32)) << 32n) | BigInt(int(2 ** 32)));
    }
  };
  return { next, int, bytes, pick, str, nat };
}

type Rng = ReturnType<typeof prng>;

/** A random request content as agent-js would build it (Principals, bigint expiry, Uint8Arrays). */
function randomContent(r: Rng): Record<string, unknown> {
  const requestType = r.pick(['call', 'query', 'read_state'] as const);
  const content: Record<string, unknown> = {
    request_type: requestType,
    sender: r.int(3) === 0 ? Principal.anonymous() : Principal.fromUint8Array(r.bytes(29)),
    ingress_expiry: r.nat(),
  };
  if (r.int(2) === 0) content.nonce = r.bytes(32);
  if (requestType === 'read_state') {
    content.paths = Array.from({ length: r.int(5) }, () => Array.from({ length: r.int(6) }, () => r.bytes(40)));
  } else {
    content.canister_id = Principal.fromUint8Array(r.bytes(29));
    content.method_name = r.str(20);
    content.arg = r.bytes(r.int(2) === 0 ? 8 : 3000);
  }
  return content;
}

/** Arbitrary nested values for the generic hash: nats, blobs, text, arrays, maps. */
function randomValue(r: Rng, depth: number): Hashable {
  switch (r.int(depth > 3 ? 3 : 5)) {
    case 0:
      return r.nat();
    case 1:
      return r.bytes(50);
    case 2:
      return r.str(12);
    case 3:
      return Array.from({ length: r.int(4) }, () => randomValue(r, depth + 1));
    default: {
      const map: Record<string, Hashable> = {};
      for (let i = r.int(5); i > 0; i--) map[r.str(8)] = randomValue(r, depth + 1);
      return map;
    }
  }
}

/** agent-js hashes Principals by their bytes: the replica sees them as blobs. */
function toHashable(value: unknown): Hashable {
  if (Principal.isPrincipal(value)) return value.toUint8Array();
  if (Array.isArray(value)) return value.map(toHashable);
  if (value instanceof Uint8Array || typeof value === 'bigint' || typeof value === 'string' || typeof value === 'number') return value;
  const out: Record<string, Hashable> = {};
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) if (v !== undefined) out[k] = toHashable(v);
  return out;
}

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

describe('request id', () => {
  it('matches the spec example (interface spec, "Request ids")', () => {
    // The spec writes the arg as "DIDL\x00\xFD*": the blob 44 49 44 4c 00 fd 2a.
    const specArg = Uint8Array.from([0x44, 0x49, 0x44, 0x4c, 0x00, 0xfd, 0x2a]);
    const specId = requestIdOf({
      request_type: 'call',
      sender: Uint8Array.of(0x04),
      ingress_expiry: 1685570400000000000n,
      canister_id: Uint8Array.from([0, 0, 0, 0, 0, 0, 0x04, 0xd2]),
      method_name: 'hello',
      arg: specArg,
    });
    assert.equal(hex(specId), '1d1091364d6bb8a6c16b203ee75467d59ead468f523eb058880ae8ec80e2b101');
    assert.equal(specId.length, 32);
  });

  it('matches the spec example of a nested map', () => {
    const ours = hashOfMap({ reply: { arg: new TextEncoder().encode('DIDL\x00\x00') } });
    const agent = agentHashOfMap({ reply: { arg: new TextEncoder().encode('DIDL\x00\x00') } });
    assert.equal(hex(ours), hex(agent));
  });

  it('equals agent-js requestIdOf on 500 random contents', () => {
    const r = prng(0x1c0ffee);
    for (let i = 0; i < 500; i++) {
      const content = randomContent(r);
      const expected = agentRequestIdOf(content);
      assert.equal(hex(requestIdOf(toHashable(content) as Record<string, Hashable>)), hex(expected), `content #${i}`);
    }
  });

  it('equals agent-js requestIdOf after the agent CBOR-encodes the envelope and we decode it', () => {
    const r = prng(42);
    for (let i = 0; i < 300; i++) {
      const content = randomContent(r);
      const bytes = Cbor.encode({ content });
      const envelope = decodeEnvelope(bytes, content.request_type as 'call' | 'query' | 'read_state');
      assert.equal(hex(envelope.requestId), hex(agentRequestIdOf(content)), `content #${i}`);
    }
  });

  it('hashes arbitrary nested maps as agent-js hashOfMap does', () => {
    const r = prng(7);
    for (let i = 0; i < 300; i++) {
      const map: Record<string, Hashable> = {};
      for (let k = r.int(6); k > 0; k--) map[r.str(10)] = randomValue(r, 0);
      assert.equal(hex(hashOfMap(map)), hex(agentHashOfMap(map as Record<string, unknown>)), `map #${i}`);
      // Same through CBOR: the decoded Map hashes like the object it came from.
      const decoded = decodeCbor(Cbor.encode(map)) as CborMap;
      assert.equal(hex(hashOfMap(decoded as ReadonlyMap<string, Hashable>)), hex(hashOfMap(map)), `decoded map #${i}`);
    }
  });

  it('encodes LEB128 like agent-js (unsigned and signed)', () => {
    const r = prng(99);
    assert.deepEqual([...encodeUleb128(624485n)], [0xe5, 0x8e, 0x26]);
    assert.deepEqual([...encodeUleb128(0n)], [0x00]);
    assert.deepEqual([...encodeSleb128(-123456n)], [0xc0, 0xbb, 0x78]);
    assert.deepEqual([...encodeSleb128(0n)], [0x00]);
    for (let i = 0; i < 500; i++) {
      const n = r.nat();
      assert.equal(hex(encodeUleb128(n)), hex(lebEncode(n)), `uleb ${n}`);
      const s = r.int(2) === 0 ? -n : n;
      assert.equal(hex(encodeSleb128(s)), hex(slebEncode(s)), `sleb ${s}`);
    }
  });

  it('skips undefined fields like omitted optional fields', () => {
    const withUndefined = requestIdOf({ request_type: 'query', nonce: undefined, sender: Uint8Array.of(4) });
    const without = requestIdOf({ request_type: 'query', sender: Uint8Array.of(4) });
    assert.equal(hex(withUndefined), hex(without));
  });
});

describe('envelope decoding', () => {
  it('reads null and undefined optional fields as absent, as serde does', () => {
    const content = { request_type: 'query', sender: Uint8Array.of(4), ingress_expiry: 5n, canister_id: new Uint8Array(0), method_name: 'm', arg: new Uint8Array(0) };
    const bytes = Cbor.encode({ content: { ...content, nonce: undefined }, sender_sig: null } as never);
    const envelope = decodeEnvelope(bytes, 'query');
    assert.equal(hex(envelope.requestId), hex(agentRequestIdOf(content)));
    assert.equal(envelope.senderSig, undefined);
  });

  it('names the field of nested sender_info problems and hashes the normalized map', () => {
    const content = {
      request_type: 'call',
      sender: Uint8Array.of(4),
      ingress_expiry: 5n,
      canister_id: new Uint8Array(0),
      method_name: 'm',
      arg: new Uint8Array(0),
      sender_info: { info: Uint8Array.of(1), signer: Uint8Array.of(2), sig: Uint8Array.of(3) },
    };
    const ok = decodeEnvelope(Cbor.encode({ content: { ...content, sender_info: { ...content.sender_info, extra: null } } } as never), 'call');
    assert.equal(hex(ok.requestId), hex(agentRequestIdOf(content)));
    assert.throws(
      () => decodeEnvelope(Cbor.encode({ content: { ...content, sender_info: { info: 1n } } } as never), 'call'),
      /content\.sender_info\.info: expected a byte string/,
    );
  });
});
