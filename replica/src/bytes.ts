// Byte-string helpers shared by every concern (principals, hashes, encodings).

import { createHash, hash } from 'node:crypto';

export function concatBytes(parts: readonly Uint8Array[]): Uint8Array {
  let total = 0;
  for (const p of parts) total += p.length;
  const out = new Uint8Array(total);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** A zeroed byte array (the allocator of `grown` for plain byte arrays). */
export const newBytes = (size: number): Uint8Array => new Uint8Array(size);

/**
 * A buffer holding the first `used` bytes of `bytes` with room for `extra` more: at least twice
 * as large, so that a writer growing byte by byte copies each byte a bounded number of times.
 * For the slow path of growable writers (they test for room inline).
 */
export function grown<T extends Uint8Array>(bytes: T, used: number, extra: number, alloc: (size: number) => T): T {
  const next = alloc(Math.max(used + extra, bytes.length * 2));
  next.set(bytes.subarray(0, used));
  return next;
}

/** Lexicographic order of byte strings (the order of principals and hash-tree labels). */
export function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return a[i]! - b[i]!;
  return a.length - b.length;
}

/** Lowercase hex, read in place (no copy of the bytes). */
export function hexOf(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');
}

export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Shortest unsigned LEB128 (the spec's encoding of nats). */
export function encodeUleb128(n: bigint): Uint8Array {
  if (n < 0n) throw new RangeError('unsigned LEB128 of a negative number');
  const out: number[] = [];
  do {
    let b = Number(n & 0x7fn);
    n >>= 7n;
    if (n !== 0n) b |= 0x80;
    out.push(b);
  } while (n !== 0n);
  return Uint8Array.from(out);
}

/** Bytes of `n` (a non-negative safe integer) as unsigned LEB128, which is also protobuf's varint. */
export function uleb128Size(n: number): number {
  let size = 1;
  while (n >= 0x80) {
    n = Math.floor(n / 128);
    size++;
  }
  return size;
}

/**
 * A digest of `data` written at `out[at, ...)`. OpenSSL's one-shot hash: a request id and a query
 * response take some 15 SHA-256 hashes of a few bytes each, where the cost is in the call, not in
 * the compression function. The digest as a one-byte string, copied in place, spares allocating
 * a Buffer per hash (`crypto.hash` is Node 20.12+; `createHash` before). Strings are hashed as UTF-8.
 */
export const digestInto: (algorithm: 'sha256' | 'sha224', data: Uint8Array | string, out: Uint8Array, at: number) => void =
  typeof hash === 'function'
    ? (algorithm, data, out, at) => {
        const digest = hash(algorithm, data, 'binary');
        for (let i = 0; i < digest.length; i++) out[at + i] = digest.charCodeAt(i);
      }
    : (algorithm, data, out, at) => out.set(createHash(algorithm).update(data).digest(), at);

/** SHA-256 of bytes, or of a string as UTF-8 (OpenSSL's one-shot hash). */
export function sha256(data: Uint8Array | string): Uint8Array {
  const out = new Uint8Array(32);
  digestInto('sha256', data, out, 0);
  return out;
}
