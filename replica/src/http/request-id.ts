// Representation-independent hashing (interface spec, "Representation-independent hashing of
// structured data") and request ids (spec, "Request ids"), plus the domain separators of the
// signatures that cover them (spec, "Authentication" and "Request: Query call").

import { compareBytes, concatBytes, digestInto, encodeUleb128, sha256 } from '../bytes.js';

export { digestInto, encodeUleb128, sha256 };

const text = new TextEncoder();

/** `\x0Aic-request`: prefix of the bytes signed in `sender_sig`. */
export const IC_REQUEST_DOMAIN_SEPARATOR = text.encode('\x0Aic-request');
/** `\x1Aic-request-auth-delegation`: prefix of the bytes signed by each delegation's signer. */
export const IC_REQUEST_AUTH_DELEGATION_DOMAIN_SEPARATOR = text.encode('\x1Aic-request-auth-delegation');
/** `\x0Bic-response`: prefix of the bytes a node signs for a query response. */
export const IC_RESPONSE_DOMAIN_SEPARATOR = text.encode('\x0Bic-response');

/**
 * Hashes of short texts seen before: map keys (the few field names of the spec) and values such
 * as `request_type` and method names recur in every request. Bounded: once full, new texts are
 * hashed each time rather than remembered.
 */
const textHashes = new Map<string, Uint8Array>();
const MAX_TEXT_HASHES = 1024;
const MAX_REMEMBERED_TEXT = 64;

function textHashInto(value: string, out: Uint8Array, at: number): void {
  const known = textHashes.get(value);
  if (known !== undefined) {
    out.set(known, at);
    return;
  }
  digestInto('sha256', value, out, at);
  if (value.length <= MAX_REMEMBERED_TEXT && textHashes.size < MAX_TEXT_HASHES) textHashes.set(value, out.slice(at, at + 32));
}

/** LEB128 of integers up to 64 bits is at most 10 bytes; views of each length, made once. */
const leb = new Uint8Array(10);
const lebViews = Array.from({ length: 11 }, (_, n) => leb.subarray(0, n));

/**
 * Scratch space of the maps being hashed, one per nesting level (a value can be a map): the
 * pairs H(key) · H(value) of a map are written, sorted and hashed there.
 */
const pairBuffers: Uint8Array[] = [];
let nesting = 0;

function pairBuffer(level: number, bytes: number): Uint8Array {
  let buffer = pairBuffers[level];
  if (buffer === undefined || buffer.length < bytes) {
    buffer = new Uint8Array(Math.max(bytes, 1024));
    pairBuffers[level] = buffer;
  }
  return buffer;
}

/**
 * What can be hashed: nats/ints (bigint, or number for small non-negative integers), blobs,
 * text, arrays, and maps given as `Map` or as plain objects. `undefined` map entries count as
 * omitted optional fields.
 */
export type Hashable =
  | bigint
  | number
  | string
  | Uint8Array
  | readonly Hashable[]
  | ReadonlyMap<string, Hashable | undefined>
  | { readonly [key: string]: Hashable | undefined };


/** Shortest signed LEB128 (the spec's encoding of integers). */
export function encodeSleb128(n: bigint): Uint8Array {
  const out: number[] = [];
  for (;;) {
    const b = Number(n & 0x7fn);
    n >>= 7n; // arithmetic shift on bigint
    const signBitClear = (b & 0x40) === 0;
    if ((n === 0n && signBitClear) || (n === -1n && !signBitClear)) {
      out.push(b);
      return Uint8Array.from(out);
    }
    out.push(b | 0x80);
  }
}



/** The hash of one field value. */
export function hashValue(value: Hashable): Uint8Array {
  const out = new Uint8Array(32);
  hashValueInto(value, out, 0);
  return out;
}

/** hash_of_map: sha256 of the sorted concatenations H(key) · H(value) of the present fields. */
export function hashOfMap(
  map: ReadonlyMap<string, Hashable | undefined> | { readonly [key: string]: Hashable | undefined },
): Uint8Array {
  const out = new Uint8Array(32);
  hashOfMapInto(map, out, 0);
  return out;
}

function hashValueInto(value: Hashable, out: Uint8Array, at: number): void {
  if (typeof value === 'string') return textHashInto(value, out, at);
  if (value instanceof Uint8Array) return digestInto('sha256', value, out, at);
  if (typeof value === 'bigint') {
    // Nats: unsigned LEB128; (negative) integers: signed LEB128.
    if (value >= 0n && value < 1n << 64n) return digestInto('sha256', lebViews[uleb64(value)]!, out, at);
    return digestInto('sha256', value >= 0n ? encodeUleb128(value) : encodeSleb128(value), out, at);
  }
  if (typeof value === 'number') {
    if (!Number.isSafeInteger(value)) throw new TypeError(`cannot hash the non-integer number ${value}`);
    return hashValueInto(BigInt(value), out, at);
  }
  if (Array.isArray(value)) {
    const items = value as readonly Hashable[];
    const hashes = new Uint8Array(32 * items.length);
    items.forEach((item, i) => hashValueInto(item, hashes, 32 * i));
    return digestInto('sha256', hashes, out, at);
  }
  if (value === null || typeof value !== 'object') {
    throw new TypeError(`the representation-independent hash has no encoding for ${value === null ? 'null' : typeof value}`);
  }
  hashOfMapInto(value as ReadonlyMap<string, Hashable | undefined> | { readonly [key: string]: Hashable | undefined }, out, at);
}

/** Unsigned LEB128 of a value below 2^64 into `leb`; its length. */
function uleb64(value: bigint): number {
  let n = 0;
  let low = Number(value & 0xffffffffn);
  let high = Number(value >> 32n);
  do {
    // 7 bits at a time from a 64-bit value held as two 32-bit halves.
    let b = low & 0x7f;
    low = (low >>> 7) | ((high & 0x7f) << 25);
    high >>>= 7;
    if (low !== 0 || high !== 0) b |= 0x80;
    leb[n++] = b;
  } while (low !== 0 || high !== 0);
  return n;
}

function hashOfMapInto(
  map: ReadonlyMap<string, Hashable | undefined> | { readonly [key: string]: Hashable | undefined },
  out: Uint8Array,
  at: number,
): void {
  const entries: Iterable<[string, Hashable | undefined]> =
    map instanceof Map ? map.entries() : Object.entries(map as { [key: string]: Hashable | undefined });
  const level = nesting++;
  try {
    let pairs = pairBuffer(level, 0);
    let n = 0;
    for (const [key, value] of entries) {
      if (value === undefined) continue;
      if (pairs.length < 64 * (n + 1)) {
        const grown = pairBuffer(level, 128 * (n + 1));
        grown.set(pairs.subarray(0, 64 * n));
        pairs = grown;
      }
      textHashInto(key, pairs, 64 * n);
      hashValueInto(value, pairs, 64 * n + 32);
      n++;
    }
    sortPairs(pairs, n);
    digestInto('sha256', pairs.subarray(0, 64 * n), out, at);
  } finally {
    nesting--;
  }
}

/** Insertion sort of the first `n` 64-byte pairs (maps have a handful of fields). */
function sortPairs(pairs: Uint8Array, n: number): void {
  for (let i = 1; i < n; i++) {
    for (let j = i; j > 0 && comparePairs(pairs, 64 * (j - 1), 64 * j) > 0; j--) {
      for (let k = 0; k < 64; k++) {
        const t = pairs[64 * (j - 1) + k]!;
        pairs[64 * (j - 1) + k] = pairs[64 * j + k]!;
        pairs[64 * j + k] = t;
      }
    }
  }
}

function comparePairs(pairs: Uint8Array, a: number, b: number): number {
  for (let k = 0; k < 64; k++) {
    const d = pairs[a + k]! - pairs[b + k]!;
    if (d !== 0) return d;
  }
  return 0;
}

/** The request id: hash_of_map of the request's `content` map; always 32 bytes. */
export function requestIdOf(
  content: ReadonlyMap<string, Hashable | undefined> | { readonly [key: string]: Hashable | undefined },
): Uint8Array {
  return hashOfMap(content);
}

/** Bytes signed in `sender_sig`: `\x0Aic-request` · request id. */
export function requestSignaturePayload(requestId: Uint8Array): Uint8Array {
  return concatBytes([IC_REQUEST_DOMAIN_SEPARATOR, requestId]);
}

/** Bytes signed for a delegation: `\x1Aic-request-auth-delegation` · hash_of_map(delegation). */
export function delegationSignaturePayload(delegationHash: Uint8Array): Uint8Array {
  return concatBytes([IC_REQUEST_AUTH_DELEGATION_DOMAIN_SEPARATOR, delegationHash]);
}

/** Bytes a node signs for a query response: `\x0Bic-response` · hash_of_map(response). */
export function responseSignaturePayload(responseHash: Uint8Array): Uint8Array {
  return concatBytes([IC_RESPONSE_DOMAIN_SEPARATOR, responseHash]);
}

export { concatBytes, compareBytes };
