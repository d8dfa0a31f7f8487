import type { ApiContext } from './signatures.js';

/** What the System API needs from the sandbox that runs the Wasm instance. */
export interface SandboxAccess {
  /** The instance's linear memory as it is now (re-read after every grow). */
  memory(): Uint8Array;
  /** Records that the host is about to write `[start, start+length)` of linear memory. */
  markDirty(start: number, length: number): void;
  /** Charges instructions for a system call; may trap with the instruction limit error. */
  charge(instructions: bigint): void;
  /** Instructions executed so far by this message (all slices). */
  instructionsExecuted(): bigint;
  /** Instructions executed by the current call context before this message. */
  callContextInstructions(): bigint;
  readonly stable: StableMemoryAccess;
}

export interface StableMemoryAccess {
  /** Size in 64 KiB Wasm pages. */
  sizePages(): bigint;
  /** Grows by `pages`; returns the old size, or -1 if over the limit. */
  grow(pages: bigint): bigint;
  read(offset: bigint, length: number): Uint8Array;
  write(offset: bigint, bytes: Uint8Array): void;
}

/** The message being executed, as the System API exposes it. */
export interface MessageInput {
  readonly context: ApiContext;
  readonly caller: Uint8Array;
  /** The caller's verified `sender_info` (ingress messages and their callbacks only). */
  readonly callerInfo?: { readonly data: Uint8Array; readonly signer: Uint8Array };
  readonly arg: Uint8Array;
  readonly methodName?: string;
  /** Cycles attached by the caller and not yet accepted by earlier messages of the call context. */
  readonly cyclesAvailable: bigint;
  readonly cyclesRefunded: bigint;
  /** 0 in a reply callback. */
  readonly rejectCode: number;
  readonly rejectMessage?: string;
  readonly deadline: bigint;
  /** Whether the call context still expects a response (false once replied, and for system tasks). */
  readonly needsResponse: boolean;
  /** Whether non-replicated (queries executed by one replica). */
  readonly replicated: boolean;
}

/** The canister and subnet as the System API sees them at message start. */
export interface CanisterView {
  readonly canisterId: Uint8Array;
  readonly controllers: readonly Uint8Array[];
  /** 1 running, 2 stopping, 3 stopped. */
  readonly status: 1 | 2 | 3;
  readonly version: bigint;
  /** Balance after the execution prepayment was taken. */
  readonly balance: bigint;
  /** Cycles that must stay on the balance (freezing threshold and reservations). */
  readonly frozenReserve: bigint;
  readonly globalTimer: bigint;
  readonly certificate?: Uint8Array;
  readonly envVars: readonly (readonly [string, string])[];
  readonly subnetId: Uint8Array;
  readonly rootKey: Uint8Array;
  readonly time: bigint;
}

/** Fees the System API quotes (`ic0.cost_*`) and charges (`call_perform`). */
export interface CallCosts {
  /** What `ic0.cost_call` quotes: transmission plus the reserved response execution. */
  callCost(methodNameBytes: bigint, payloadBytes: bigint): bigint;
  /** Charged at call_perform for sending the request. */
  requestTransmissionCost(methodNameBytes: bigint, payloadBytes: bigint): bigint;
  createCanisterCost(): bigint;
  httpRequestCost(requestBytes: bigint, maxResponseBytes: bigint): bigint;
  /** Reserved at call_perform for processing the response; the unused part is refunded. */
  responseReservation(): bigint;
  /** Cost of a signature/vetKD call for a key name, or undefined for an unknown key. */
  thresholdKeyCost(kind: 'ecdsa' | 'schnorr' | 'vetkd', keyName: string, curveOrAlgorithm: number): bigint | undefined;
}

export interface SystemApiLimits {
  readonly maxResponseBytes: number;
  readonly maxCallPayloadBytes: number;
  readonly maxCertifiedDataBytes: number;
  readonly maxDebugPrintBytes: number;
  readonly maxCallTimeoutSeconds: number;
}

export const DEFAULT_SYSTEM_API_LIMITS: SystemApiLimits = {
  maxResponseBytes: 2 * 1024 * 1024,
  maxCallPayloadBytes: 2 * 1024 * 1024,
  maxCertifiedDataBytes: 32,
  maxDebugPrintBytes: 32 * 1024,
  maxCallTimeoutSeconds: 300,
};

export interface OutgoingCall {
  readonly callee: Uint8Array;
  readonly method: string;
  arg: Uint8Array;
  cycles: bigint;
  readonly reply: { fn: number; env: number };
  readonly reject: { fn: number; env: number };
  cleanup?: { fn: number; env: number };
  /** Best-effort (bounded-wait) call with this timeout; undefined for guaranteed response. */
  timeoutSeconds?: number;
  /** Cycles set aside at call_perform for the response (refunded in part later). */
  reservation: bigint;
  /** Charged at call_perform for sending the request. */
  fee: bigint;
}

export type Response = { kind: 'reply'; data: Uint8Array } | { kind: 'reject'; message: string };

/** Everything a message produced; discarded (but for instructions) if it trapped. */
export interface ApiOutcome {
  response?: Response;
  readonly calls: OutgoingCall[];
  cyclesAccepted: bigint;
  cyclesBurned: bigint;
  certifiedData?: Uint8Array;
  globalTimer?: bigint;
  messageAccepted: boolean;
  readonly logs: Uint8Array[];
  /** Balance now: start balance minus cycles sent/reserved/burned plus accepted. */
  balance: bigint;
}
