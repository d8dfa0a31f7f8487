// The embedded block source: one replica orders its own ingress into blocks. Time is read from a
// clock that only this module touches; the block carries it into replicated state.

import { sha384 } from '@noble/hashes/sha2.js';
import type { Block, BlockSource, IngressMessage, XNetSlice } from './types.js';

export interface Clock {
  /** Nanoseconds since the epoch. */
  now(): bigint;
}

export const systemClock: Clock = {
  now: () => BigInt(Date.now()) * 1_000_000n,
};

/** A clock for tests and replays: starts at `start` and advances only when told. */
export class ManualClock implements Clock {
  constructor(private time = 1_700_000_000_000_000_000n) {}
  now(): bigint {
    return this.time;
  }
  advance(nanos: bigint): void {
    this.time += nanos;
  }
}

export class LocalBlockMaker implements BlockSource {
  private readonly pool: IngressMessage[] = [];
  private height = 0n;
  private lastTime = 0n;

  constructor(
    private readonly clock: Clock = systemClock,
    private readonly maxIngressPerBlock = 1000,
    /** Random tape source: the randomness for round h (a threshold signature in a real subnet). */
    private readonly randomTape: (height: bigint) => Uint8Array = defaultTape,
  ) {}

  async submit(message: IngressMessage): Promise<void> {
    this.pool.push(message);
  }

  /** Synchronous form for in-process drivers (tests, the embedded replica loop). */
  make(xnet: readonly XNetSlice[] = []): Block {
    this.height++;
    const now = this.clock.now();
    this.lastTime = now > this.lastTime ? now : this.lastTime + 1n;
    return {
      height: this.height,
      time: this.lastTime,
      ingress: this.pool.splice(0, this.maxIngressPerBlock),
      ...(xnet.length > 0 ? { xnet } : {}),
      // raw_rand in round h is answered from the tape of round h-1, fixed before this block.
      randomness: this.randomTape(this.height - 1n),
    };
  }

  async next(): Promise<Block> {
    return this.make();
  }

  get pending(): number {
    return this.pool.length;
  }
}

/**
 * Without a subnet key (in-process tests): a hash of the height, deterministic and as long as a
 * BLS signature. A node signs the height with its subnet key instead (see node/node.ts).
 */
export function defaultTape(height: bigint): Uint8Array {
  const h = new Uint8Array(8);
  new DataView(h.buffer).setBigUint64(0, height);
  return sha384(new Uint8Array([...new TextEncoder().encode('ic-random-tape'), ...h]));
}
