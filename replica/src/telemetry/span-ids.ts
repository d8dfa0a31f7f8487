// Trace and span ids from a fast non-cryptographic generator (xorshift128, seeded once from the
// system's randomness). Ids only have to be unique, not secret, and never reach replicated state;
// the SDK's RandomIdGenerator calls Math.random and writes through a Buffer for every id.

import { randomBytes } from 'node:crypto';

const HEX: string[] = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

export class FastIdGenerator {
  private x: number;
  private y: number;
  private z: number;
  private w: number;

  constructor(seed: Uint8Array = randomBytes(16)) {
    const v = new DataView(seed.buffer, seed.byteOffset, 16);
    this.x = v.getUint32(0) | 1; // xorshift128 must not start at all zeros
    this.y = v.getUint32(4);
    this.z = v.getUint32(8);
    this.w = v.getUint32(12);
  }

  /** 32 lowercase hex characters, never all zeros (W3C). */
  generateTraceId(): string {
    return this.hex32(this.next() | 1) + this.hex32(this.next()) + this.hex32(this.next()) + this.hex32(this.next());
  }

  /** 16 lowercase hex characters, never all zeros (W3C). */
  generateSpanId(): string {
    return this.hex32(this.next() | 1) + this.hex32(this.next());
  }

  private next(): number {
    const t = this.x ^ (this.x << 11);
    this.x = this.y;
    this.y = this.z;
    this.z = this.w;
    this.w = (this.w ^ (this.w >>> 19)) ^ (t ^ (t >>> 8));
    return this.w;
  }

  private hex32(n: number): string {
    return HEX[(n >>> 24) & 0xff]! + HEX[(n >>> 16) & 0xff]! + HEX[(n >>> 8) & 0xff]! + HEX[n & 0xff]!;
  }
}
