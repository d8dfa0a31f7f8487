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

/** A head's argument: a number when it is a safe integer, else a bigint; null for indefinite length. */
type Argument = number | bigint | null;

class Decoder {
  private pos = 0;
  /** Where the decoder is: map keys and array indices, formatted only for an error message. */
  private readonly path: (string | number)[] = [];
  /** The same bytes, to read ASCII text without copying it first. */
  private readonly view: Buffer;

  constructor(
    private readonly bytes: Uint8Array,
    private readonly integerKeys = false,
  ) {
    this.view = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  decodeTop(): CborValue {
    const value = this.item(0);
    if (this.pos !== this.bytes.length) {
      this.fail(`${this.bytes.length - this.pos} trailing byte(s) after the CBOR value`);
    }
    return value;
  }

  private fail(reason: string): never {
    const where = this.path.map((p, i) => (typeof p === 'number' ? `[${p}]` : i === 0 ? p : `.${p}`)).join('');
    throw new CborDecodeError(reason, this.pos, where);
  }

  private byte(): number {
    if (this.pos >= this.bytes.length) this.fail('unexpected end of input');
    return this.bytes[this.pos++]!;
  }

  /** Fails unless `n` more bytes are there. */
  private need(n: number | bigint): void {
    const remaining = this.bytes.length - this.pos;
    if (n > remaining) this.fail(`declared length ${n} exceeds the ${remaining} remaining byte(s)`);
  }

  /** A copy of the next `n` bytes (a request body is not kept alive by what was decoded from it). */
  private take(n: number): Uint8Array {
    this.need(n);
    const out = this.bytes.slice(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }

  /** The argument of a head (RFC 8949 §3). */
  private argument(info: number): Argument {
    if (info < 24) return info;
    const bytes = this.bytes;
    switch (info) {
      case 24:
        return this.byte();
      case 25: {
        this.need(2);
        const at = this.pos;
        this.pos += 2;
        return (bytes[at]! << 8) | bytes[at + 1]!;
      }
      case 26: {
        this.need(4);
        const at = this.pos;
        this.pos += 4;
        return bytes[at]! * 0x1000000 + ((bytes[at + 1]! << 16) | (bytes[at + 2]! << 8) | bytes[at + 3]!);
      }
      case 27: {
        this.need(8);
        const at = this.pos;
        this.pos += 8;
        const high = bytes[at]! * 0x1000000 + ((bytes[at + 1]! << 16) | (bytes[at + 2]! << 8) | bytes[at + 3]!);
        const low = bytes[at + 4]! * 0x1000000 + ((bytes[at + 5]! << 16) | (bytes[at + 6]! << 8) | bytes[at + 7]!);
        // Below 2^53 a number holds it exactly.
        return high < 0x200000 ? high * 0x100000000 + low : (BigInt(high) << 32n) | BigInt(low);
      }
      case 31:
        return null;
      default:
        return this.fail(`reserved additional information ${info}`);
    }
  }

  /** A definite length or count, bounded by the remaining input (each element takes a byte). */
  private length(arg: number | bigint): number {
    this.need(arg);
    return arg as number;
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
        return BigInt(arg);
      case 1:
        if (arg === null) return this.fail('indefinite length is not allowed for an integer');
        return -1n - BigInt(arg);
      case 2:
        return arg === null ? this.indefiniteString(2) : this.take(this.length(arg));
      case 3:
        return arg === null ? this.utf8(this.indefiniteString(3)) : this.text(this.length(arg));
      case 4:
        return this.array(arg, depth);
      case 5:
        return this.map(arg, depth);
      default:
        if (arg === null) return this.fail('indefinite length is not allowed for a tag');
        return this.tag(arg, depth);
    }
  }

  /** The next `n` bytes as text: ASCII (every key and most values) read in place. */
  private text(n: number): string {
    const start = this.pos;
    const end = start + n;
    const bytes = this.bytes;
    let ascii = true;
    for (let i = start; i < end; i++) {
      if (bytes[i]! >= 0x80) {
        ascii = false;
        break;
      }
    }
    if (!ascii) return this.utf8(this.take(n));
    this.pos = end;
    return this.view.toString('latin1', start, end);
  }

  private utf8(bytes: Uint8Array): string {
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
      if (arg === null) return this.fail('nested indefinite-length string chunk');
      const chunk = this.take(this.length(arg));
      chunks.push(chunk);
    }
    return concatBytes(chunks);
  }

  private array(arg: Argument, depth: number): CborValue[] {
    const out: CborValue[] = [];
    if (arg === null) {
      while (!this.isBreak()) {
        this.path.push(out.length);
        out.push(this.item(depth + 1));
        this.path.pop();
      }
      return out;
    }
    const count = this.length(arg);
    for (let i = 0; i < count; i++) {
      this.path.push(i);
      out.push(this.item(depth + 1));
      this.path.pop();
    }
    return out;
  }

  private map(arg: Argument, depth: number): CborMap {
    const out: CborMap = new Map();
    if (arg === null) {
      while (!this.isBreak()) this.entry(out, depth);
      return out;
    }
    // Each entry takes at least two bytes: bound the count before looping.
    const count = this.length(arg);
    for (let i = 0; i < count; i++) this.entry(out, depth);
    return out;
  }

  private entry(out: CborMap, depth: number): void {
    const keyStart = this.pos;
    const initial = this.byte();
    let key: string;
    if (this.integerKeys && initial >> 5 <= 1) {
      this.pos = keyStart;
      key = String(this.item(depth + 1));
    } else if (initial >> 5 === 3) {
      const karg = this.argument(initial & 0x1f);
      key = karg === null ? this.utf8(this.indefiniteString(3)) : this.text(this.length(karg));
    } else {
      this.pos = keyStart;
      this.fail(this.integerKeys ? 'map keys must be integers or text strings' : 'map keys must be text strings');
    }
    if (out.has(key)) {
      this.pos = keyStart;
      this.fail(`duplicate map key '${key}'`);
    }
    this.path.push(key);
    out.set(key, this.item(depth + 1));
    this.path.pop();
  }

  private tag(arg: number | bigint, depth: number): CborValue {
    const tag = BigInt(arg);
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
