// Representation-independent hashing (interface spec, "Representation-independent hashing of
// structured data") and request ids (spec, "Request ids"), plus the domain separators of the
// signatures that cover them (spec, "Authentication" and "Request: Query call").

import { sha256 } from '@noble/hashes/sha2.js';
import { compareBytes, concatBytes, encodeUleb128 } from '../bytes.js';

export { encodeUleb128 };

const text = new TextEncoder();

/** `\x0Aic-request`: prefix of the bytes signed in `sender_sig`. */
export const IC_REQUEST_DOMAIN_SEPARATOR = text.encode('\x0Aic-request');
/** `\x1Aic-request-auth-delegation`: prefix of the bytes signed by each delegation's signer. */
export const IC_REQUEST_AUTH_DELEGATION_DOMAIN_SEPARATOR = text.encode('\x1Aic-request-auth-delegation');
/** `\x0Bic-response`: prefix of the bytes a node signs for a query response. */
export const IC_RESPONSE_DOMAIN_SEPARATOR = text.encode('\x0Bic-response');

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
  if (typeof value === 'bigint') {
    // Nats: unsigned LEB128; (negative) integers: signed LEB128.
    return sha256(value >= 0n ? encodeUleb128(value) : encodeSleb128(value));
  }
  if (typeof value === 'number') {
    if (!Number.isSafeInteger(value)) throw new TypeError(`cannot hash the non-integer number ${value}`);
    return hashValue(BigInt(value));
  }
  if (typeof value === 'string') return sha256(text.encode(value));
  if (value instanceof Uint8Array) return sha256(value);
  if (Array.isArray(value)) return sha256(concatBytes((value as readonly Hashable[]).map(hashValue)));
  if (value === null || typeof value !== 'object') {
    throw new TypeError(`the representation-independent hash has no encoding for ${value === null ? 'null' : typeof value}`);
  }
  return hashOfMap(value as ReadonlyMap<string, Hashable | undefined> | { readonly [key: string]: Hashable | undefined });
}

/**
 * hash_of_map: sha256 of the sorted concatenations H(key) · H(value) of the present fields.
 */
export function hashOfMap(
  map: ReadonlyMap<string, Hashable | undefined> | { readonly [key: string]: Hashable | undefined },
): Uint8Array {
  const entries: [string, Hashable | undefined][] =
    map instanceof Map ? [...map.entries()] : Object.entries(map as { [key: string]: Hashable | undefined });
  const pairs: Uint8Array[] = [];
  for (const [key, value] of entries) {
    if (value === undefined) continue;
    pairs.push(concatBytes([sha256(text.encode(key)), hashValue(value)]));
  }
  pairs.sort(compareBytes);
  return sha256(concatBytes(pairs));
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
