// Two subnets in one process, each a replica of the execution test builder, with a registry that
// routes half of the canister ids to each, and their streams delivered to each other every round
// (what the embedded XNet transport does between nodes, here without certification).

import { Principal } from '@icp-sdk/core/principal';
import { canisterIdFromIndex, LocalRegistry, streamSlice, type IngressStatus, type XNetSlice } from '../../replica/src/index.js';
import { CallRejected, ExecutionTest, candid, type ExecutionTestOptions } from './execution-test.js';

export const SUBNET_A = Principal.fromText('yndj2-3ybaa-aaaaa-aaaap-yai');
export const SUBNET_B = Principal.fromUint8Array(new Uint8Array([...new Array(28).fill(0xb), 2]));
const RANGE_A = { start: 0n, end: 0xfffffn };
const RANGE_B = { start: 0x100000n, end: 0x1fffffn };

export const twoSubnetRegistry = () => new LocalRegistry([
  { subnetId: SUBNET_A, canisterRanges: [[canisterIdFromIndex(RANGE_A.start), canisterIdFromIndex(RANGE_A.end)]] },
  { subnetId: SUBNET_B, canisterRanges: [[canisterIdFromIndex(RANGE_B.start), canisterIdFromIndex(RANGE_B.end)]] },
]);

export class TwoSubnets {
  readonly registry = twoSubnetRegistry();
  readonly a: ExecutionTest;
  readonly b: ExecutionTest;
  /** Slices delivered, per round: [to a, to b]. */
  readonly delivered: [XNetSlice | undefined, XNetSlice | undefined][] = [];

  constructor(options: Omit<ExecutionTestOptions, 'subnetId' | 'canisterRange' | 'registry'> = {}) {
    this.a = new ExecutionTest({ ...options, subnetId: SUBNET_A, canisterRange: RANGE_A, registry: this.registry });
    this.b = new ExecutionTest({ ...options, subnetId: SUBNET_B, canisterRange: RANGE_B, registry: this.registry });
  }

  /**
   * A round on each subnet. Each inducts the other's stream to it as the other's previous round
   * left it, from where it stopped inducting (as a certified slice would give it).
   */
  async tick(): Promise<void> {
    const toA = slice(this.b, this.a);
    const toB = slice(this.a, this.b);
    this.delivered.push([toA, toB]);
    await this.a.tick(undefined, toA ? [toA] : []);
    await this.b.tick(undefined, toB ? [toB] : []);
  }

  /** An update call to a canister of `on`, with rounds on both subnets until it is done. */
  async update(on: ExecutionTest, canister: Principal, method: string, arg: Uint8Array = candid(), maxRounds = 100): Promise<Uint8Array> {
    const id = await on.submit(canister, method, arg);
    for (let i = 0; i < maxRounds; i++) {
      await this.tick();
      const s: IngressStatus | undefined = on.result(id);
      if (s?.status === 'replied') return s.reply;
      if (s?.status === 'rejected') throw new CallRejected(s.code, s.errorCode, s.message);
    }
    throw new Error(`${method} not done after ${maxRounds} rounds`);
  }

  async close(): Promise<void> {
    await Promise.all([this.a.close(), this.b.close()]);
  }
}

function slice(from: ExecutionTest, to: ExecutionTest): XNetSlice | undefined {
  return streamSlice(from.state, to.state.subnetId, to.state.streams.get(from.state.subnetId.toText())?.signalsEnd ?? 0n);
}
