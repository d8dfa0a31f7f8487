// Every cycles charge the execution layer makes, in one place: prepay the maximum for a
// message, execute, refund what was not used. Amounts come from the subnet's fee schedule.

import type { CallCosts } from '../system-api/index.js';
import type { CanisterState } from '../state/index.js';

/** The fees the execution layer needs, already scaled to the subnet's size. */
export interface ExecutionFees extends CallCosts {
  /** Base fee per message plus the per-instruction fee for `instructions`. */
  executionCost(instructions: bigint): bigint;
  ingressInductionCost(bytes: bigint): bigint;
  /** Cycles a canister must keep so it can pay its idle burn for the freezing threshold. */
  freezingThreshold(canister: CanisterState): bigint;
  /** Idle burn rate (storage and allocations) in cycles per day, as canister_status reports it. */
  idleCyclesBurnedPerDay(canister: CanisterState): bigint;
  createCanisterCost(): bigint;
  /** Transmitting a response of `bytes`: taken from the call's reservation when it arrives. */
  responseTransmissionCost(bytes: bigint): bigint;
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

  /** Charges `used` instructions against a prepayment and refunds the rest; returns the charge. */
  settle(canister: CanisterState, prepaid: bigint, used: bigint): bigint {
    const cost = this.fees.executionCost(used);
    const charge = cost < prepaid ? cost : prepaid;
    canister.balance += prepaid - charge;
    canister.burn('execution', charge);
    return charge;
  }

  /** Shortfall to report when a canister cannot pay for a message. */
  shortfall(canister: CanisterState, limit: bigint): bigint {
    return this.fees.executionCost(limit) + this.fees.freezingThreshold(canister) - canister.balance;
  }
}
