// The subnet's fee schedule as the execution layer consumes it.

import {
  canisterCreationCost,
  executionCost,
  freezingThresholdCycles,
  httpRequestCost,
  idleCyclesBurnedPerDay,
  ingressInductionCost,
  prepaymentForResponseExecution,
  prepaymentForResponseTransmission,
  resourceCharges,
  scaledFee,
  signatureCost,
  xnetCallCost,
  xnetTransmissionCost,
  type FeeSchedule,
} from '../cycles/index.js';
import { snapshotsSize } from '../checkpoint/snapshots.js';
import type { CanisterState } from '../state/index.js';
import type { ExecutionFees } from './charging.js';

/** Threshold keys this subnet quotes fees for (`ic0.cost_sign_with_*`); none are served yet. */
const KNOWN_KEYS: Record<'ecdsa' | 'schnorr' | 'vetkd', { names: readonly string[]; variants: number }> = {
  ecdsa: { names: ['key_1', 'test_key_1', 'dfx_test_key'], variants: 1 },
  schnorr: { names: ['key_1', 'test_key_1', 'dfx_test_key'], variants: 2 },
  vetkd: { names: ['key_1', 'test_key_1', 'dfx_test_key'], variants: 1 },
};

export function executionFees(schedule: FeeSchedule): ExecutionFees {
  // Storage is charged on everything the canister holds: heap, stable memory, code, chunk store
  // and its snapshots (canister_status `memory_size`).
  const usage = (c: CanisterState) => ({
    memoryUsage: c.memoryUsage() + snapshotsSize(c),
    memoryAllocation: c.settings.memoryAllocation,
    computeAllocation: c.settings.computeAllocation,
  });
  return {
    schedule,
    executionCost: (instructions) => executionCost(schedule, instructions),
    ingressInductionCost: (bytes) => ingressInductionCost(schedule, bytes),
    freezingThreshold: (c) => freezingThresholdCycles(schedule, { ...usage(c), freezingThresholdSeconds: c.settings.freezingThreshold }),
    idleCyclesBurnedPerDay: (c) => idleCyclesBurnedPerDay(schedule, usage(c)),
    resourceCharges: (c, durationNanos) => resourceCharges(schedule, usage(c), durationNanos),
    createCanisterCost: () => canisterCreationCost(schedule),
    callCost: (method, payload) => xnetCallCost(schedule, method, payload),
    // The call fee and the request's bytes are burned at call_perform; the reservation covers the
    // response's execution and the largest response's transmission, and comes back when the
    // response arrives, less what transmitting the actual response cost.
    requestTransmissionCost: (method, payload) => scaledFee(schedule, 'xnetCallFee') + xnetTransmissionCost(schedule, method + payload),
    responseReservation: () => prepaymentForResponseExecution(schedule) + prepaymentForResponseTransmission(schedule),
    responseTransmissionCost: (bytes) => xnetTransmissionCost(schedule, bytes),
    httpRequestCost: (request, maxResponse) => httpRequestCost(schedule, request, maxResponse),
    thresholdKeyCost: (kind, keyName, variant) => {
      const known = KNOWN_KEYS[kind];
      if (variant >= known.variants || !known.names.includes(keyName)) return undefined;
      return signatureCost(schedule, kind);
    },
  };
}
