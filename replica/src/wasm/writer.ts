// A growable byte buffer with the LEB128 encodings the wasm binary format uses.

import { grown, newBytes } from '../bytes.js';

export class ByteWriter {
  buf: Uint8Array;
  len = 0;

  constructor(capacity = 1024) {
    this.buf = new Uint8Array(capacity);
  }

  reset(): void {
    this.len = 0;
  }

  ensure(extra: number): void {
    if (this.len + extra > this.buf.length) this.buf = grown(this.buf, this.len, extra, newBytes);
  }

  u8(b: number): void {
    if (this.len >= this.buf.length) this.ensure(1);
    this.buf[this.len++] = b;
  }

  u32(value: number): void {
    this.ensure(5);
    let v = value >>> 0;
    const buf = this.buf;
    while (v >= 0x80) {
      buf[this.len++] = (v & 0x7f) | 0x80;
      v >>>= 7;
    }
    buf[this.len++] = v;
  }

  /** A u32 as exactly 5 LEB128 bytes (valid non-minimal encoding), for back-patching. */
  u32Padded(value: number, at = this.len): void {
    if (at === this.len) {
      this.ensure(5);
      this.len += 5;
    }
    const buf = this.buf;
    let v = value >>> 0;
    for (let i = 0; i < 4; i++) {
      buf[at + i] = (v & 0x7f) | 0x80;
      v >>>= 7;
    }
    buf[at + 4] = v;
  }

  /** Signed LEB128 of an i32 value. */
  s32(value: number): void {
    this.ensure(5);
    let v = value | 0;
    const buf = this.buf;
    for (;;) {
      const b = v & 0x7f;
      v >>= 7;
      if ((v === 0 && (b & 0x40) === 0) || (v === -1 && (b & 0x40) !== 0)) {
        buf[this.len++] = b;
        return;
      }
      buf[this.len++] = b | 0x80;
    }
  }

  /** Signed LEB128 of a non-negative integer below 2^53 (an i64 immediate). */
  s64NonNegative(value: number): void {
    this.ensure(10);
    let v = value;
    const buf = this.buf;
    for (;;) {
      const b = v % 128;
      v = Math.floor(v / 128);
      if (v === 0 && (b & 0x40) === 0) {
        buf[this.len++] = b;
        return;
      }
      buf[this.len++] = b | 0x80;
    }
  }

  bytes(src: Uint8Array, start = 0, end = src.length): void {
    const n = end - start;
    this.ensure(n);
    if (n < 16) {
      const buf = this.buf;
      let o = this.len;
      for (let i = start; i < end; i++) buf[o++] = src[i]!;
    } else {
      this.buf.set(src.subarray(start, end), this.len);
    }
    this.len += n;
  }

  name(text: string): void {
    const encoded = new TextEncoder().encode(text);
    this.u32(encoded.length);
    this.bytes(encoded);
  }

  /** Inserts `src[0..n)` at `at`, shifting what follows. */
  insert(at: number, src: Uint8Array, n = src.length): void {
    this.ensure(n);
    const buf = this.buf;
    if (at < this.len) buf.copyWithin(at + n, at, this.len);
    for (let i = 0; i < n; i++) buf[at + i] = src[i]!;
    this.len += n;
  }

  finish(): Uint8Array {
    return this.buf.slice(0, this.len);
  }
}
