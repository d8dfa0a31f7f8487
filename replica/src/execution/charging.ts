// Every cycles charge the execution layer makes, in one place: prepay the maximum for a
// message, execute, refund what was not used. Amounts come from the subnet's fee schedule.

import { executionRefund, type FeeSchedule, type ResourceCharges } from '../cycles/index.js';
import type { CallCosts } from '../system-api/index.js';
import type { CanisterState, ReplicatedState } from '../state/index.js';

/** The fees the execution layer needs, already scaled to the subnet's size. */
export interface ExecutionFees extends CallCosts {
  /** The schedule the fees come from (subnet size, reference fees, charging periods). */
  readonly schedule: FeeSchedule;
  /** Base fee per message plus the per-instruction fee for `instructions`. */
  executionCost(instructions: bigint): bigint;
  ingressInductionCost(bytes: bigint): bigint;
  /** Cycles a canister must keep so it can pay its idle burn for the freezing threshold. */
  freezingThreshold(canister: CanisterState): bigint;
  /** Idle burn rate (storage and allocations) in cycles per day, as canister_status reports it. */
  idleCyclesBurnedPerDay(canister: CanisterState): bigint;
  /** What holding its memory and allocations for `durationNanos` costs the canister, by resource. */
  resourceCharges(canister: CanisterState, durationNanos: bigint): ResourceCharges;
  createCanisterCost(): bigint;
  /** Transmitting a response of `bytes`: taken from the call's reservation when it arrives. */
  responseTransmissionCost(bytes: bigint): bigint;
}

/**
 * Where burned cycles are counted, by category (the label of `icpk_cycles_burned_total`):
 * per canister for metrics, and per subnet for the conservation invariant.
 */
export type BurnCategory =
  | 'execution' | 'ingress_induction' | 'call' | 'canister_creation' | 'storage' | 'compute_allocation'
  | 'http_outcall' | 'cycles_burn' | 'deletion' | 'other';

/** Takes `amount` out of existence on behalf of `canister` (the caller has already debited it). */
export function recordBurn(state: ReplicatedState, canister: CanisterState, category: BurnCategory, amount: bigint): void {
  if (amount < 0n) throw new Error(`canister ${canister.idText}: burning a negative amount (${amount}) of ${category} cycles`);
  canister.burn(category, amount);
  state.cyclesBurned += amount;
}

/**
 * Freezing thresholds, computed once per canister while what they depend on stays the same: its
 * settings, code and memory sizes. Snapshots and the chunk store change only through management
 * calls, after which the scheduler clears the memo.
 */
export class FreezingThresholds {
  #memo = new WeakMap<CanisterState, ThresholdEntry>();

  constructor(private readonly fees: ExecutionFees) {}

  of(c: CanisterState): bigint {
    const e = this.#memo.get(c);
    const s = c.settings;
    const exec = c.execution;
    if (e && e.settings === s && e.freezingThreshold === s.freezingThreshold && e.memoryAllocation === s.memoryAllocation
      && e.computeAllocation === s.computeAllocation && e.execution === exec && e.heapBytes === exec?.heap.sizeBytes
      && e.stable === c.stable && e.stableBytes === c.stable.sizeBytes && e.chunks === c.chunkStore.size
      && e.snapshots === c.snapshots.byId.size) return e.value;
    const value = this.fees.freezingThreshold(c);
    this.#memo.set(c, {
      settings: s, freezingThreshold: s.freezingThreshold, memoryAllocation: s.memoryAllocation, computeAllocation: s.computeAllocation,
      execution: exec, heapBytes: exec?.heap.sizeBytes, stable: c.stable, stableBytes: c.stable.sizeBytes, chunks: c.chunkStore.size,
      snapshots: c.snapshots.byId.size, value,
    });
    return value;
  }

  clear(): void {
    this.#memo = new WeakMap();
  }
}

interface ThresholdEntry {
  readonly settings: CanisterState['settings'];
  readonly freezingThreshold: bigint;
  readonly memoryAllocation: bigint;
  readonly computeAllocation: bigint;
  readonly execution: CanisterState['execution'];
  readonly heapBytes: number | undefined;
  readonly stable: CanisterState['stable'];
  readonly stableBytes: number;
  readonly chunks: number;
  readonly snapshots: number;
  readonly value: bigint;
}

export class Charging {
  constructor(readonly fees: ExecutionFees) {}

  /** Takes the cost of `limit` instructions up front; undefined if the canister cannot afford it. */
  prepay(canister: CanisterState, limit: bigint): bigint | undefined {
    const amount = this.fees.executionCost(limit);
    if (canister.balance - amount < this.fees.freezingThreshold(canister)) return undefined;
    canister.balance -= amount;
    return amount;
  }

  /**
   * Charges `used` instructions against a prepayment and refunds the rest; returns the charge.
   * With the `limit` the prepayment was for, the refund is the IC's (`refund_unused_execution_cycles`:
   * the unused instructions' price, scaled on its own), which can be a cycle above `executionCost(used)`.
   */
  settle(canister: CanisterState, prepaid: bigint, used: bigint, limit?: bigint): bigint {
    let charge: bigint;
    if (limit === undefined) {
      const cost = this.fees.executionCost(used);
      charge = cost < prepaid ? cost : prepaid;
    } else {
      const unused = limit > used ? limit - used : 0n;
      charge = prepaid - executionRefund(this.fees.schedule, unused, prepaid);
    }
    canister.balance += prepaid - charge;
    canister.burn('execution', charge);
    return charge;
  }

  /** Shortfall to report when a canister cannot pay for a message. */
  shortfall(canister: CanisterState, limit: bigint): bigint {
    return this.fees.executionCost(limit) + this.fees.freezingThreshold(canister) - canister.balance;
  }
}
