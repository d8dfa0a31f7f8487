// The IC's fee schedule as data. Field names follow `CyclesAccountManagerConfig` in dfinity/ic
// `rs/config/src/subnet_config.rs`; every amount is in cycles, as a bigint (the IC uses u128).

/** An amount of cycles. */
export type Cycles = bigint;

/** A count (bytes, instructions, nanoseconds, seconds, percent): a non-negative integer. */
export type Quantity = bigint | number;

/**
 * `CanisterCyclesCostSchedule`: `free` subnets (e.g. rented ones) charge nothing for resources,
 * though their balances still move for transfers.
 */
export type CostSchedule = 'normal' | 'free';

export type WasmMode = 'wasm32' | 'wasm64';

/** The threshold-key services that charge a per-request fee. */
export type SignatureKind = 'ecdsa' | 'schnorr' | 'vetkd';

/**
 * The fees of a subnet the size of `referenceSubnetSize` (13 nodes on the IC). The functions in
 * this folder scale them to the actual `subnetSize` of a `FeeSchedule` the way the IC does.
 */
export interface ReferenceFees {
  /** Charged to a canister's creator (`create_canister`). */
  readonly canisterCreationFee: Cycles;
  /** Fixed fee for every update message (and response, task) executed. */
  readonly updateMessageExecutionFee: Cycles;
  /** Fee per 10 instructions of an update execution; per 10 so fees below 1 cycle fit. */
  readonly tenUpdateInstructionsExecutionFee: Cycles;
  /** The same for Wasm64 canisters (the IC charges twice: `WASM64_INSTRUCTION_COST_OVERHEAD`). */
  readonly tenUpdateInstructionsExecutionFeeWasm64: Cycles;
  /** Per inter-canister call, covering request and response. */
  readonly xnetCallFee: Cycles;
  /** Per byte of an inter-canister request or response. */
  readonly xnetByteTransmissionFee: Cycles;
  /** Per ingress message inducted. */
  readonly ingressMessageReceptionFee: Cycles;
  /** Per byte of an ingress message. */
  readonly ingressByteReceptionFee: Cycles;
  /** Per GiB of memory per second. */
  readonly gibStoragePerSecondFee: Cycles;
  /**
   * Flat per-second fee for every canister using any memory. 0 on the published schedule; newer
   * IC master (`base_per_second_fee`) sets 10_000 together with a 317_500 storage fee.
   */
  readonly basePerSecondFee: Cycles;
  /** Per percent of compute allocation per second. */
  readonly computePercentAllocatedPerSecondFee: Cycles;
  readonly ecdsaSignatureFee: Cycles;
  readonly schnorrSignatureFee: Cycles;
  readonly vetkdFee: Cycles;
  /** HTTP outcalls: `(linear + quadratic·n + perByte·req + perByte·resp) · n`, not `scale_cost`. */
  readonly httpRequestLinearBaselineFee: Cycles;
  readonly httpRequestQuadraticBaselineFee: Cycles;
  readonly httpRequestPerByteFee: Cycles;
  readonly httpResponsePerByteFee: Cycles;
}

/** Limits and periods the charging rules depend on (the IC keeps these in other configs). */
export interface ChargingParameters {
  /** The subnet size `ReferenceFees` are stated for (`DEFAULT_REFERENCE_SUBNET_SIZE` = 13). */
  readonly referenceSubnetSize: number;
  /** How often memory and compute allocation are charged, in seconds. */
  readonly durationBetweenAllocationChargesSeconds: bigint;
  /** Upper bound of the storage reservation period, in seconds. */
  readonly maxStorageReservationPeriodSeconds: bigint;
  /** `reserved_cycles_limit` of canisters that did not set one. */
  readonly defaultReservedBalanceLimit: Cycles;
  /**
   * Instruction limit of an update message (`max_instructions_per_message`): a call prepays the
   * execution of its response callback at this many instructions.
   */
  readonly maxInstructionsPerMessage: bigint;
  /** Largest inter-canister payload (`MAX_INTER_CANISTER_PAYLOAD_IN_BYTES`): a call prepays its response's transmission at this size. */
  readonly maxInterCanisterPayloadBytes: bigint;
  /** Response size assumed by an HTTP outcall without `max_response_bytes`. */
  readonly maxHttpResponseBytes: bigint;
  /** Default `freezing_threshold` of a canister, in seconds. */
  readonly defaultFreezingThresholdSeconds: bigint;
}

/** Everything needed to price operations on one subnet. */
export interface FeeSchedule extends ReferenceFees, ChargingParameters {
  /** Number of nodes of the subnet the fees are charged on. */
  readonly subnetSize: number;
  readonly costSchedule: CostSchedule;
}

/**
 * How full a resource is: storage reservation starts once subnet usage passes `threshold`
 * and reaches the full reservation period at `capacity` (cycles_account_manager `ResourceSaturation`).
 * All in bytes.
 */
export interface ResourceSaturation {
  readonly usage: Quantity;
  readonly threshold: Quantity;
  readonly capacity: Quantity;
}

/** What a canister holds and reserves: the inputs to its idle burn rate. */
export interface CanisterResourceUsage {
  /** Bytes of Wasm memory, stable memory, globals, code, chunk store, snapshots, … */
  readonly memoryUsage: Quantity;
  /** `memory_allocation` setting in bytes; 0 = best effort. The canister pays for max(allocation, usage). */
  readonly memoryAllocation?: Quantity;
  /** Bytes held by the canister's queued messages (guaranteed + best-effort). */
  readonly messageMemoryUsage?: Quantity;
  /** `compute_allocation` setting, in percent (0–100). */
  readonly computeAllocation?: Quantity;
}

export interface FreezingThresholdInput extends CanisterResourceUsage {
  /** `freezing_threshold` setting, in seconds; defaults to 30 days. */
  readonly freezingThresholdSeconds?: Quantity;
  /** Reserved cycles count towards the threshold: the IC subtracts them (saturating). */
  readonly reservedBalance?: Cycles;
}
