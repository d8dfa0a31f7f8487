// A bounds-checked cursor over wasm bytes. Every failure is an InvalidWasmError('malformed')
// naming the byte offset, so untrusted input can never escape as another kind of error.
import { InvalidWasmError } from './errors.js';

const utf8 = new TextDecoder('utf-8', { fatal: true });

export class WasmReader {
  pos: number;
  constructor(
    readonly bytes: Uint8Array,
    start = 0,
    public end = bytes.length,
  ) {
    this.pos = start;
  }

  get remaining(): number {
    return this.end - this.pos;
  }

  fail(what: string, at = this.pos): never {
    throw new InvalidWasmError('malformed', `Wasm module is malformed: ${what} (at byte offset ${at}).`);
  }

  u8(): number {
    if (this.pos >= this.end) this.fail('unexpected end of section or function');
    return this.bytes[this.pos++]!;
  }

  /** Unsigned LEB128, at most 5 bytes (wasm `u32`). */
  u32(): number {
    const p = this.pos;
    if (p < this.end) {
      const b = this.bytes[p]!;
      if (b < 0x80) {
        this.pos = p + 1;
        return b;
      }
    }
    return this.u32Slow();
  }

  private u32Slow(): number {
    const start = this.pos;
    let result = 0;
    let scale = 1;
    for (let i = 0; i < 5; i++) {
      const b = this.u8();
      if (i === 4 && b > 0x0f) this.fail('integer representation too long or too large', start);
      result += (b & 0x7f) * scale;
      if (b < 0x80) return result;
      scale *= 128;
    }
    return result; // unreachable: the fifth byte has no continuation bit
  }

  /** Signed LEB128 of `maxBytes` at most (5 for i32, 10 for i64); returns nothing, only skips. */
  skipSigned(maxBytes: number): void {
    const start = this.pos;
    for (let i = 0; i < maxBytes; i++) {
      if (this.u8() < 0x80) return;
    }
    this.fail('integer representation too long', start);
  }

  /** Signed LEB128 i32. */
  s32(): number {
    const start = this.pos;
    let result = 0;
    let shift = 0;
    let b: number;
    do {
      if (shift >= 35) this.fail('integer representation too long', start);
      b = this.u8();
      result |= (b & 0x7f) << shift;
      shift += 7;
    } while (b & 0x80);
    if (shift < 32 && b & 0x40) result |= -1 << shift;
    return result | 0;
  }

  skip(n: number): void {
    if (n > this.end - this.pos) this.fail(`length ${n} runs past the end`);
    this.pos += n;
  }

  /** A `vec` length, checked against what remains (each element is at least `minElementBytes`). */
  count(what: string, minElementBytes = 1): number {
    const at = this.pos;
    const n = this.u32();
    if (n * minElementBytes > this.end - this.pos) this.fail(`${what} count ${n} exceeds the remaining bytes`, at);
    return n;
  }

  /** A length-prefixed byte string; returns its start offset. */
  byteString(): { start: number; end: number } {
    const n = this.u32();
    const start = this.pos;
    this.skip(n);
    return { start, end: this.pos };
  }

  name(): string {
    const { start, end } = this.byteString();
    try {
      return utf8.decode(this.bytes.subarray(start, end));
    } catch (err) {
      throw new InvalidWasmError('malformed', `Wasm module is malformed: invalid UTF-8 name (at byte offset ${start}).`, { cause: err });
    }
  }
}
