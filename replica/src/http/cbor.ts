// CBOR for the HTTPS interface (interface spec, "CBOR encoding of requests and responses").
//
// Decoding is our own, strict, bounded decoder rather than @dfinity/cbor's: request bodies come
// from anyone, and that decoder silently accepts truncated byte strings, ignores trailing bytes,
// lets the `__proto__` key reach object prototypes and throws RangeErrors on short input.
// Here every length is checked against the remaining input before anything is allocated, nesting
// is bounded, duplicate map keys are refused (the spec prohibits them) and floats are refused
// (the spec: floating-point numbers may not encode integers; no request field is a float).
//
// Responses are encoded with @dfinity/cbor, the codec agent-js decodes them with.

import { encodeWithSelfDescribedTag } from '@dfinity/cbor';
import { concatBytes } from '../bytes.js';
import { CborDecodeError } from './errors.js';
import type { CborMap, CborValue } from './types.js';

/** RFC 8949 §3.4.6: the self-described CBOR tag; allowed anywhere, carries no meaning. */
export const SELF_DESCRIBED_TAG = 55799n;
const TAG_POSITIVE_BIGNUM = 2n;
const TAG_NEGATIVE_BIGNUM = 3n;

/** Deepest nesting accepted; envelopes nest about 7 levels deep (envelope → delegation → targets). */
const MAX_DEPTH = 64;

const utf8 = new TextDecoder('utf-8', { fatal: true });

class Decoder {
  private pos = 0;
  private readonly path: string[] = [];

  constructor(
    private readonly bytes: Uint8Array,
    private readonly integerKeys = false,
  ) {}

  decodeTop(): CborValue {
    const value = this.item(0);
    if (this.pos !== this.bytes.length) {
      this.fail(`${this.bytes.length - this.pos} trailing byte(s) after the CBOR value`);
    }
    return value;
  }

  private fail(reason: string): never {
    throw new CborDecodeError(reason, this.pos, this.path.join(''));
  }

  private byte(): number {
    if (this.pos >= this.bytes.length) this.fail('unexpected end of input');
    return this.bytes[this.pos++]!;
  }

  private take(n: number): Uint8Array {
    if (n > this.bytes.length - this.pos) {
      this.fail(`declared length ${n} exceeds the ${this.bytes.length - this.pos} remaining byte(s)`);
    }
    const out = this.bytes.slice(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }

  /** The argument of a head (RFC 8949 §3): a number, or null for indefinite length. */
  private argument(info: number): bigint | null {
    if (info < 24) return BigInt(info);
    switch (info) {
      case 24:
        return BigInt(this.byte());
      case 25:
      case 26:
      case 27: {
        const size = info === 25 ? 2 : info === 26 ? 4 : 8;
        let v = 0n;
        for (const b of this.take(size)) v = (v << 8n) | BigInt(b);
        return v;
      }
      case 31:
        return null;
      default:
        return this.fail(`reserved additional information ${info}`);
    }
  }

  /** A definite length or count, bounded by the remaining input (each element takes a byte). */
  private length(arg: bigint): number {
    const remaining = this.bytes.length - this.pos;
    if (arg > BigInt(remaining)) this.fail(`declared length ${arg} exceeds the ${remaining} remaining byte(s)`);
    return Number(arg);
  }

  private isBreak(): boolean {
    if (this.pos >= this.bytes.length) this.fail('unexpected end of input in indefinite-length item');
    if (this.bytes[this.pos] === 0xff) {
      this.pos++;
      return true;
    }
    return false;
  }

  private item(depth: number): CborValue {
    if (depth > MAX_DEPTH) this.fail(`nesting deeper than ${MAX_DEPTH}`);
    const initial = this.byte();
    const major = initial >> 5;
    const info = initial & 0x1f;
    if (major === 7) return this.simple(info);
    const arg = this.argument(info);
    switch (major) {
      case 0:
        if (arg === null) return this.fail('indefinite length is not allowed for an integer');
        return arg;
      case 1:
        if (arg === null) return this.fail('indefinite length is not allowed for an integer');
        return -1n - arg;
      case 2:
        return arg === null ? this.indefiniteString(2) : this.take(this.length(arg));
      case 3:
        return this.text(arg === null ? this.indefiniteString(3) : this.take(this.length(arg)));
      case 4:
        return this.array(arg, depth);
      case 5:
        return this.map(arg, depth);
      default:
        if (arg === null) return this.fail('indefinite length is not allowed for a tag');
        return this.tag(arg, depth);
    }
  }

  private text(bytes: Uint8Array): string {
    try {
      return utf8.decode(bytes);
    } catch {
      return this.fail('text string is not valid UTF-8');
    }
  }

  /** RFC 8949 §3.2.3: chunks of the same major type, definite length each. */
  private indefiniteString(major: 2 | 3): Uint8Array {
    const chunks: Uint8Array[] = [];
    while (!this.isBreak()) {
      const initial = this.byte();
      if (initial >> 5 !== major) this.fail('chunk of an indefinite-length string has the wrong major type');
      const arg = this.argument(initial & 0x1f);
      if (arg === null) this.fail('nested indefinite-length string chunk');
      const chunk = this.take(this.length(arg));
      chunks.push(chunk);
    }
    return concatBytes(chunks);
  }

  private array(arg: bigint | null, depth: number): CborValue[] {
    const out: CborValue[] = [];
    if (arg === null) {
      while (!this.isBreak()) {
        this.path.push(`[${out.length}]`);
        out.push(this.item(depth + 1));
        this.path.pop();
      }
      return out;
    }
    const count = this.length(arg);
    for (let i = 0; i < count; i++) {
      this.path.push(`[${i}]`);
      out.push(this.item(depth + 1));
      this.path.pop();
    }
    return out;
  }

  private map(arg: bigint | null, depth: number): CborMap {
    const out: CborMap = new Map();
    const entry = () => {
      const keyStart = this.pos;
      const initial = this.byte();
      let key: string;
      if (this.integerKeys && initial >> 5 <= 1) {
        this.pos = keyStart;
        key = String(this.item(depth + 1));
      } else if (initial >> 5 === 3) {
        const karg = this.argument(initial & 0x1f);
        key = this.text(karg === null ? this.indefiniteString(3) : this.take(this.length(karg)));
      } else {
        this.pos = keyStart;
        this.fail(this.integerKeys ? 'map keys must be integers or text strings' : 'map keys must be text strings');
      }
      if (out.has(key)) {
        this.pos = keyStart;
        this.fail(`duplicate map key '${key}'`);
      }
      this.path.push(this.path.length === 0 ? key : `.${key}`);
      out.set(key, this.item(depth + 1));
      this.path.pop();
    };
    if (arg === null) {
      while (!this.isBreak()) entry();
      return out;
    }
    // Each entry takes at least two bytes: bound the count before looping.
    const count = this.length(arg);
    for (let i = 0; i < count; i++) entry();
    return out;
  }

  private tag(tag: bigint, depth: number): CborValue {
    if (tag === SELF_DESCRIBED_TAG) return this.item(depth + 1);
    if (tag === TAG_POSITIVE_BIGNUM || tag === TAG_NEGATIVE_BIGNUM) {
      // RFC 8949 §3.4.3; the spec: nats too large for major type 0 use the bignum format.
      const content = this.item(depth + 1);
      if (!(content instanceof Uint8Array)) this.fail('bignum tag must wrap a byte string');
      let v = 0n;
      for (const b of content) v = (v << 8n) | BigInt(b);
      return tag === TAG_POSITIVE_BIGNUM ? v : -1n - v;
    }
    return this.fail(`unsupported CBOR tag ${tag}`);
  }

  private simple(info: number): CborValue {
    switch (info) {
      case 20:
        return false;
      case 21:
        return true;
      case 22:
        return null;
      case 23:
        return undefined;
      case 25:
      case 26:
      case 27:
        return this.fail('floating-point numbers are not allowed in IC requests');
      case 31:
        return this.fail('unexpected break code');
      default:
        return this.fail(`unsupported simple value ${info === 24 ? 'with one-byte extension' : info}`);
    }
  }
}

/**
 * Decodes one CBOR data item (optionally tagged 55799) that must span `bytes` exactly.
 * `integerKeys` also admits integer map keys, kept as their decimal text (COSE keys, RFC 8152,
 * are maps keyed by integers: `1` is the key type, `-1` the curve).
 */
export function decodeCbor(bytes: Uint8Array, options: { integerKeys?: boolean } = {}): CborValue {
  return new Decoder(bytes, options.integerKeys).decodeTop();
}

/**
 * Encodes a response body: the self-described tag, then the value (spec, "CBOR encoding of
 * requests and responses"). Uses the codec agent-js decodes with.
 */
export function encodeCbor(value: unknown): Uint8Array {
  return encodeWithSelfDescribedTag(value as Parameters<typeof encodeWithSelfDescribedTag>[0]);
}

/** A short description of a decoded value's CBOR type, for error messages. */
export function describeCbor(value: CborValue): string {
  if (typeof value === 'bigint') return value < 0n ? 'a negative integer' : 'an unsigned integer';
  if (value instanceof Uint8Array) return 'a byte string';
  if (typeof value === 'string') return 'a text string';
  if (typeof value === 'boolean') return 'a boolean';
  if (value === null) return 'null';
  if (value === undefined) return 'undefined';
  if (Array.isArray(value)) return 'an array';
  return 'a map';
}
