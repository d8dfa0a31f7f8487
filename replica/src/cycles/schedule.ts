// The IC's fee schedule, and how it scales with the size of a subnet.
//
// Values: dfinity/ic `rs/config/src/subnet_config.rs`, `CyclesAccountManagerConfig::application_subnet()`,
// as published on internetcomputer.org "Cycles cost formulas" / "Gas and cycles cost" (the
// 13-node column: creation 500B, base 5M, 1 cycle per instruction, …).
import { CyclesQuantityError } from './errors.js';
import type { ChargingParameters, Cycles, FeeSchedule, Quantity, ReferenceFees } from './types.js';

const B = 1_000_000_000n;
const T = 1_000_000_000_000n;
const MIB = 1024n * 1024n;

/** One cycle per instruction (10 per 10) since the November 2024 repricing; Wasm64 costs twice that. */
const TEN_UPDATE_INSTRUCTIONS_EXECUTION_FEE = 10n;
const WASM64_INSTRUCTION_COST_OVERHEAD = 2n;

/** 10B cycles (1 XDR cent) per request: `ECDSA_SIGNATURE_FEE`, `SCHNORR_SIGNATURE_FEE`, `VETKD_FEE`. */
const THRESHOLD_KEY_FEE = 10n * B;

/** Fees of a 13-node application subnet (also verified-application subnets). */
export const APPLICATION_SUBNET_FEES: ReferenceFees = Object.freeze({
  canisterCreationFee: 500n * B,
  updateMessageExecutionFee: 5_000_000n,
  tenUpdateInstructionsExecutionFee: TEN_UPDATE_INSTRUCTIONS_EXECUTION_FEE,
  tenUpdateInstructionsExecutionFeeWasm64: WASM64_INSTRUCTION_COST_OVERHEAD * TEN_UPDATE_INSTRUCTIONS_EXECUTION_FEE,
  xnetCallFee: 260_000n,
  xnetByteTransmissionFee: 1_000n,
  ingressMessageReceptionFee: 1_200_000n,
  ingressByteReceptionFee: 2_000n,
  // "4 SDR per GiB per year => 4e12 cycles per year": 4e12 / 31_536_000 s ≈ 127_000.
  gibStoragePerSecondFee: 127_000n,
  basePerSecondFee: 0n,
  computePercentAllocatedPerSecondFee: 10_000_000n,
  ecdsaSignatureFee: THRESHOLD_KEY_FEE,
  schnorrSignatureFee: THRESHOLD_KEY_FEE,
  vetkdFee: THRESHOLD_KEY_FEE,
  httpRequestLinearBaselineFee: 3_000_000n,
  httpRequestQuadraticBaselineFee: 60_000n,
  httpRequestPerByteFee: 400n,
  httpResponsePerByteFee: 800n,
});

/**
 * `CyclesAccountManagerConfig::system_subnet()`: processing is free on system subnets, except
 * threshold signatures, which a system subnet holding a key charges to callers from other
 * subnets (the IC exempts callers on the NNS subnet; that decision is the caller's).
 */
export const SYSTEM_SUBNET_FEES: ReferenceFees = Object.freeze({
  ...APPLICATION_SUBNET_FEES,
  canisterCreationFee: 0n,
  updateMessageExecutionFee: 0n,
  tenUpdateInstructionsExecutionFee: 0n,
  tenUpdateInstructionsExecutionFeeWasm64: 0n,
  xnetCallFee: 0n,
  xnetByteTransmissionFee: 0n,
  ingressMessageReceptionFee: 0n,
  ingressByteReceptionFee: 0n,
  gibStoragePerSecondFee: 0n,
  basePerSecondFee: 0n,
  computePercentAllocatedPerSecondFee: 0n,
  httpRequestLinearBaselineFee: 0n,
  httpRequestQuadraticBaselineFee: 0n,
  httpRequestPerByteFee: 0n,
  httpResponsePerByteFee: 0n,
});

export const CHARGING_PARAMETERS: ChargingParameters = Object.freeze({
  referenceSubnetSize: 13, // DEFAULT_REFERENCE_SUBNET_SIZE
  durationBetweenAllocationChargesSeconds: 10n,
  maxStorageReservationPeriodSeconds: 300_000_000n, // ~9.5 years
  defaultReservedBalanceLimit: 5n * T, // DEFAULT_RESERVED_BALANCE_LIMIT
  maxInstructionsPerMessage: 40n * B, // MAX_INSTRUCTIONS_PER_MESSAGE
  maxInterCanisterPayloadBytes: 2n * MIB, // MAX_INTER_CANISTER_PAYLOAD_IN_BYTES
  maxHttpResponseBytes: 2_000_000n, // MAX_CANISTER_HTTP_RESPONSE_BYTES
  defaultFreezingThresholdSeconds: 2_592_000n, // 30 days
});

/** Subnet memory above which storage reservation starts (`SUBNET_MEMORY_THRESHOLD`, execution config). */
export const SUBNET_MEMORY_THRESHOLD = 750n * 1024n * MIB;
/** Logical storage a subnet offers canisters (`SUBNET_MEMORY_CAPACITY`). */
export const SUBNET_MEMORY_CAPACITY = 2n * 1024n * 1024n * MIB;

/**
 * The fee schedule of an application subnet with `subnetSize` nodes. `overrides` replace any
 * other field: reference fees (stated for `referenceSubnetSize` nodes), charging parameters, or
 * the cost schedule; e.g. `scheduleFor(28, SYSTEM_SUBNET_FEES)` for a system subnet, or
 * `scheduleFor(34, schedule)` for the same fees on another subnet.
 */
export function scheduleFor(subnetSize: number, overrides: Partial<FeeSchedule> = {}): FeeSchedule {
  const schedule: FeeSchedule = {
    ...APPLICATION_SUBNET_FEES,
    ...CHARGING_PARAMETERS,
    costSchedule: 'normal',
    ...overrides,
    subnetSize,
  };
  requireSubnetSize('subnetSize', schedule.subnetSize);
  // The IC forbids a zero reference size (`scale_cost` divides by it).
  requireSubnetSize('referenceSubnetSize', schedule.referenceSubnetSize);
  return Object.freeze(schedule);
}

/**
 * `CyclesAccountManager::scale_cost`: `(cycles * subnet_size) / reference_subnet_size`, integer
 * division rounding down, applied by the IC to a whole charge (not to each fee separately), and 0
 * on a free cost schedule.
 */
export function scaleCost(schedule: FeeSchedule, cycles: Cycles): Cycles {
  if (schedule.costSchedule === 'free') return 0n;
  return (cycles * BigInt(schedule.subnetSize)) / BigInt(schedule.referenceSubnetSize);
}

/** The fees `scale_cost` applies to: each one's per-unit price on this subnet. */
export type ScaledFeeName = Exclude<
  keyof ReferenceFees,
  'httpRequestLinearBaselineFee' | 'httpRequestQuadraticBaselineFee' | 'httpRequestPerByteFee' | 'httpResponsePerByteFee'
>;

/**
 * One fee's price on this subnet, e.g. `scaledFee(scheduleFor(34), 'canisterCreationFee')`
 * = 1_307_692_307_692, the figure of the IC's published 34-node table. Charges of several units
 * are scaled as a whole by the cost functions, which can round differently than per unit.
 */
export function scaledFee(schedule: FeeSchedule, fee: ScaledFeeName): Cycles {
  return scaleCost(schedule, schedule[fee]);
}

/** A quantity as a bigint, rejecting negatives and fractions. */
export function toCount(what: string, value: Quantity): bigint {
  if (typeof value === 'bigint') {
    if (value < 0n) throw new CyclesQuantityError(what, value);
    return value;
  }
  if (!Number.isSafeInteger(value) || value < 0) throw new CyclesQuantityError(what, value);
  return BigInt(value);
}

function requireSubnetSize(what: string, size: number): void {
  if (!Number.isSafeInteger(size) || size < 1) throw new CyclesQuantityError(what, size);
}
