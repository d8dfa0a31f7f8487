// What operations cost, as pure functions of a fee schedule. Each mirrors a method of dfinity/ic
// `rs/cycles_account_manager/src/cycles_account_manager.rs` (named in its comment), including
// where it scales: the IC scales a whole charge, so `(a + b) * n / 13` can differ by a cycle
// from `a * n / 13 + b * n / 13`, and we follow it exactly.
import { scaleCost, scaledFee, scheduleFor, toCount } from './schedule.js';
import type {
  CanisterResourceUsage,
  Cycles,
  FeeSchedule,
  FreezingThresholdInput,
  Quantity,
  ResourceSaturation,
  SignatureKind,
  WasmMode,
} from './types.js';

const GIB = 1n << 30n;
const SECONDS_PER_DAY = 86_400n;
const NANOS_PER_SECOND = 1_000_000_000n;
const DAY_NANOS = SECONDS_PER_DAY * NANOS_PER_SECOND;

// ---------------------------------------------------------------------------------------------
// Execution
// ---------------------------------------------------------------------------------------------

/**
 * `convert_instructions_to_cycles`: the unscaled price of `instructions`, at
 * `ten_update_instructions_execution_fee` per 10 (`fee * n / 10`, rounding down).
 */
export function instructionsToCycles(schedule: FeeSchedule, instructions: Quantity, mode: WasmMode = 'wasm32'): Cycles {
  const fee = mode === 'wasm64' ? schedule.tenUpdateInstructionsExecutionFeeWasm64 : schedule.tenUpdateInstructionsExecutionFee;
  return (fee * toCount('instructions', instructions)) / 10n;
}

/**
 * `execution_cost`: executing a message of `instructions` instructions: the fixed per-message
 * fee plus the instructions, scaled together.
 */
export function executionCost(schedule: FeeSchedule, instructions: Quantity, mode: WasmMode = 'wasm32'): Cycles {
  return scaleCost(schedule, schedule.updateMessageExecutionFee + instructionsToCycles(schedule, instructions, mode));
}

/**
 * `prepay_execution_cycles`: what an update execution takes from the balance before it runs,
 * the cost of its whole instruction limit. The unused part is refunded afterwards.
 */
export function prepaymentForExecution(schedule: FeeSchedule, instructionLimit: Quantity, mode: WasmMode = 'wasm32'): Cycles {
  return executionCost(schedule, instructionLimit, mode);
}

/**
 * `refund_unused_execution_cycles`: given back after execution, the instructions left of the
 * limit, never more than was prepaid. The fixed per-message fee is not refunded.
 */
export function executionRefund(
  schedule: FeeSchedule,
  unusedInstructions: Quantity,
  prepaid: Cycles,
  mode: WasmMode = 'wasm32',
): Cycles {
  const refund = scaleCost(schedule, instructionsToCycles(schedule, unusedInstructions, mode));
  return refund < prepaid ? refund : prepaid;
}

// ---------------------------------------------------------------------------------------------
// Messages
// ---------------------------------------------------------------------------------------------

/**
 * `ingress_induction_cost_from_bytes`: inducting an ingress message of `bytes` bytes. The IC
 * counts the whole signed HTTP request envelope (`SignedIngress::binary().len()`), and scales the
 * two fees separately before multiplying by the size.
 */
export function ingressInductionCost(schedule: FeeSchedule, bytes: Quantity): Cycles {
  return (
    scaledFee(schedule, 'ingressMessageReceptionFee') +
    scaledFee(schedule, 'ingressByteReceptionFee') * toCount('ingress bytes', bytes)
  );
}

/** `xnet_call_bytes_transmitted_fee`: transmitting `bytes` bytes of a request or response. */
export function xnetTransmissionCost(schedule: FeeSchedule, bytes: Quantity): Cycles {
  return scaleCost(schedule, schedule.xnetByteTransmissionFee * toCount('transmitted bytes', bytes));
}

/** `prepayment_for_response_transmission`: a call reserves the transmission of the largest response. */
export function prepaymentForResponseTransmission(schedule: FeeSchedule): Cycles {
  return xnetTransmissionCost(schedule, schedule.maxInterCanisterPayloadBytes);
}

/**
 * `prepayment_for_response_execution`: a call reserves the execution of its callback at the full
 * message instruction limit, in the caller's Wasm mode.
 */
export function prepaymentForResponseExecution(schedule: FeeSchedule, mode: WasmMode = 'wasm32'): Cycles {
  return executionCost(schedule, schedule.maxInstructionsPerMessage, mode);
}

/**
 * `xnet_total_transmission_fee`: what sending a request of `requestBytes` (method name + argument,
 * `Request::payload_size_bytes`) takes for transmission: the per-call fee, the request's bytes, and
 * the reservation for the largest response.
 */
export function xnetCallTransmissionCost(schedule: FeeSchedule, requestBytes: Quantity): Cycles {
  return (
    scaledFee(schedule, 'xnetCallFee') +
    xnetTransmissionCost(schedule, requestBytes) +
    prepaymentForResponseTransmission(schedule)
  );
}

/**
 * `xnet_call_total_fee`, which `ic0.cost_call(method_name_size, payload_size)` returns: the cycles
 * a canister needs above its freezing threshold for `ic0.call_perform` to succeed (transmission
 * both ways plus the reserved callback execution). Cycles attached to the call come on top.
 */
export function xnetCallCost(
  schedule: FeeSchedule,
  methodNameBytes: Quantity,
  payloadBytes: Quantity,
  mode: WasmMode = 'wasm32',
): Cycles {
  const requestBytes = toCount('method name bytes', methodNameBytes) + toCount('payload bytes', payloadBytes);
  return xnetCallTransmissionCost(schedule, requestBytes) + prepaymentForResponseExecution(schedule, mode);
}

/**
 * `refund_for_response_transmission`: when the response arrives, the reserved transmission
 * minus what its `responseBytes` actually cost is given back.
 */
export function responseTransmissionRefund(schedule: FeeSchedule, responseBytes: Quantity, prepaid: Cycles): Cycles {
  const cost = xnetTransmissionCost(schedule, responseBytes);
  return cost < prepaid ? prepaid - cost : 0n;
}

// ---------------------------------------------------------------------------------------------
// Canisters and storage
// ---------------------------------------------------------------------------------------------

/** `canister_creation_fee`, which `ic0.cost_create_canister` returns. */
export function canisterCreationCost(schedule: FeeSchedule): Cycles {
  return scaledFee(schedule, 'canisterCreationFee');
}

/**
 * `memory_cost`: holding `bytes` of memory for a duration. The IC takes whole seconds
 * (`Duration::as_secs`) and rounds the unscaled amount down to a cycle before scaling.
 */
export function storageCost(schedule: FeeSchedule, bytes: Quantity, durationNanos: Quantity): Cycles {
  const seconds = wholeSeconds(durationNanos);
  return scaleCost(schedule, (toCount('bytes', bytes) * schedule.gibStoragePerSecondFee * seconds) / GIB);
}

/** `canister_base_cost`: the flat per-canister fee, charged only to canisters using memory. */
export function canisterBaseCost(schedule: FeeSchedule, bytes: Quantity, durationNanos: Quantity): Cycles {
  if (toCount('bytes', bytes) === 0n) return 0n;
  return scaleCost(schedule, schedule.basePerSecondFee * wholeSeconds(durationNanos));
}

/** `compute_allocation_cost`: `percent` of compute allocation for a duration. */
export function computeAllocationCost(schedule: FeeSchedule, percent: Quantity, durationNanos: Quantity): Cycles {
  const seconds = wholeSeconds(durationNanos);
  return scaleCost(schedule, schedule.computePercentAllocatedPerSecondFee * seconds * toCount('compute allocation', percent));
}

/**
 * Memory charged for a duration under a `memory_allocation`: the allocation is reserved, so the
 * canister pays for max(allocation, usage) (`MemoryAllocation::allocated_bytes`).
 */
export function memoryAllocationCost(
  schedule: FeeSchedule,
  usage: Pick<CanisterResourceUsage, 'memoryAllocation' | 'memoryUsage'>,
  durationNanos: Quantity,
): Cycles {
  return storageCost(schedule, allocatedBytes(usage), durationNanos);
}

/**
 * `storage_reservation_cycles`: moved to the reserved balance when a canister allocates
 * `allocatedBytes` more while the subnet is at `saturation`. Above the threshold the reservation
 * covers up to `max_storage_reservation_period` of storage, growing linearly to the capacity;
 * the amount is the area under that line between usage and usage + allocatedBytes.
 */
export function storageReservationCycles(
  schedule: FeeSchedule,
  allocatedBytes: Quantity,
  saturation: ResourceSaturation,
): Cycles {
  const capacity = toCount('capacity', saturation.capacity);
  const threshold = min(toCount('threshold', saturation.threshold), capacity);
  const usage = min(toCount('usage', saturation.usage), capacity);
  const grown = min(usage + toCount('allocated bytes', allocatedBytes), capacity);
  const after = totalStorageReservation(schedule, grown, threshold, capacity);
  const before = totalStorageReservation(schedule, usage, threshold, capacity);
  return after > before ? after - before : 0n;
}

/** The cycles a memory grow of `allocatedBytes` must reserve; see `storageReservationCycles`. */
export const reservedCyclesForMemoryGrow = storageReservationCycles;

/** `total_storage_reservation_cycles`: reservation for 0 → `usage`. */
function totalStorageReservation(schedule: FeeSchedule, usage: bigint, threshold: bigint, capacity: bigint): Cycles {
  // ResourceSaturation::reservation_factor: period · (U − T) / (C − T), 0 when C = T.
  const span = capacity > threshold ? capacity - threshold : 0n;
  const above = usage > threshold ? usage - threshold : 0n;
  const periodSeconds = span === 0n ? 0n : (schedule.maxStorageReservationPeriodSeconds * above) / span;
  // Triangle of base (U − T) and height period · fee: memory_cost(U − T, period / 2), with the
  // period halved as a Duration (nanosecond precision) and then truncated to seconds.
  const halfPeriodNanos = (periodSeconds * NANOS_PER_SECOND) / 2n;
  return storageCost(schedule, above, halfPeriodNanos);
}

// ---------------------------------------------------------------------------------------------
// Special features
// ---------------------------------------------------------------------------------------------

/**
 * `http_request_fee`: an HTTP outcall. Not `scale_cost`: consensus work grows with the square of
 * the subnet size, so the IC prices it as `(linear + quadratic·n + perByte·request +
 * perByte·response) · n`. `requestBytes` is the request's variable parts (URL, headers, body,
 * transform name and context); `maxResponseBytes` defaults to the 2 MB maximum.
 */
export function httpRequestCost(schedule: FeeSchedule, requestBytes: Quantity, maxResponseBytes?: Quantity | null): Cycles {
  if (schedule.costSchedule === 'free') return 0n;
  const n = BigInt(schedule.subnetSize);
  const responseBytes = maxResponseBytes == null ? schedule.maxHttpResponseBytes : toCount('max response bytes', maxResponseBytes);
  return (
    (schedule.httpRequestLinearBaselineFee +
      schedule.httpRequestQuadraticBaselineFee * n +
      schedule.httpRequestPerByteFee * toCount('request bytes', requestBytes) +
      schedule.httpResponsePerByteFee * responseBytes) *
    n
  );
}

/**
 * `ecdsa_signature_fee`, `schnorr_signature_fee`, `vetkd_fee`: one threshold signature or key
 * derivation, the same for every key of a kind. The subnet that holds the key charges it, scaled
 * by its own size: pass that subnet's schedule (e.g. 34 nodes for the production keys) or its size.
 */
export function signatureCost(schedule: FeeSchedule, kind: SignatureKind, signingSubnetSize?: number): Cycles {
  const onSigningSubnet = signingSubnetSize === undefined ? schedule : scheduleFor(signingSubnetSize, schedule);
  switch (kind) {
    case 'ecdsa':
      return scaledFee(onSigningSubnet, 'ecdsaSignatureFee');
    case 'schnorr':
      return scaledFee(onSigningSubnet, 'schnorrSignatureFee');
    case 'vetkd':
      return scaledFee(onSigningSubnet, 'vetkdFee');
  }
}

// ---------------------------------------------------------------------------------------------
// Idle burn and freezing
// ---------------------------------------------------------------------------------------------

/** Per-resource charges for holding resources over a period (`idle_cycles_burned_rate_by_resource`). */
export interface ResourceCharges {
  /** Memory (max of allocation and usage) plus the per-canister base fee. */
  readonly memory: Cycles;
  readonly messageMemory: Cycles;
  readonly computeAllocation: Cycles;
}

/** `idle_cycles_burned_rate_by_resource`: cycles per day for each resource a canister holds. */
export function idleCyclesBurnedPerDayByResource(schedule: FeeSchedule, usage: CanisterResourceUsage): ResourceCharges {
  const memory = allocatedBytes(usage);
  return {
    memory: storageCost(schedule, memory, DAY_NANOS) + canisterBaseCost(schedule, memory, DAY_NANOS),
    messageMemory: storageCost(schedule, usage.messageMemoryUsage ?? 0n, DAY_NANOS),
    computeAllocation: computeAllocationCost(schedule, usage.computeAllocation ?? 0n, DAY_NANOS),
  };
}

/** `idle_cycles_burned_rate`: cycles per day a canister burns doing nothing (`canister_status`'s `idle_cycles_burned_per_day`). */
export function idleCyclesBurnedPerDay(schedule: FeeSchedule, usage: CanisterResourceUsage): Cycles {
  const rate = idleCyclesBurnedPerDayByResource(schedule, usage);
  return rate.memory + rate.messageMemory + rate.computeAllocation;
}

/**
 * `charge_canister_for_resource_allocation_and_usage`: what the periodic charge takes for a
 * `durationNanos` since the last charge: each resource's daily rate × whole seconds / 86_400.
 */
export function resourceCharges(schedule: FeeSchedule, usage: CanisterResourceUsage, durationNanos: Quantity): ResourceCharges {
  const seconds = wholeSeconds(durationNanos);
  const rate = idleCyclesBurnedPerDayByResource(schedule, usage);
  return {
    memory: (rate.memory * seconds) / SECONDS_PER_DAY,
    messageMemory: (rate.messageMemory * seconds) / SECONDS_PER_DAY,
    computeAllocation: (rate.computeAllocation * seconds) / SECONDS_PER_DAY,
  };
}

/**
 * `freeze_threshold_cycles`: the balance a canister must keep to be able to pay for idling
 * through its freezing threshold: idle burn per day × threshold seconds / 86_400, minus its
 * reserved cycles (never below 0). Below it the canister is frozen: it rejects messages and
 * may not spend.
 */
export function freezingThresholdCycles(schedule: FeeSchedule, input: FreezingThresholdInput): Cycles {
  const seconds = toCount('freezing threshold', input.freezingThresholdSeconds ?? schedule.defaultFreezingThresholdSeconds);
  const threshold = (idleCyclesBurnedPerDay(schedule, input) * seconds) / SECONDS_PER_DAY;
  const reserved = input.reservedBalance ?? 0n;
  return threshold > reserved ? threshold - reserved : 0n;
}

// ---------------------------------------------------------------------------------------------

function allocatedBytes(usage: Pick<CanisterResourceUsage, 'memoryAllocation' | 'memoryUsage'>): bigint {
  const used = toCount('memory usage', usage.memoryUsage);
  const allocation = toCount('memory allocation', usage.memoryAllocation ?? 0n);
  return allocation > used ? allocation : used;
}

function wholeSeconds(durationNanos: Quantity): bigint {
  return toCount('duration', durationNanos) / NANOS_PER_SECOND;
}

function min(a: bigint, b: bigint): bigint {
  return a < b ? a : b;
}
