import type { Principal } from '@icp-sdk/core/principal';
import type { CallOrigin, Request, Response, ResponsePayload } from '../state/index.js';

/** Who sent an ingress message, and its id: what its entry in the ingress history records. */
export type IngressOrigin = Pick<Extract<CallOrigin, { kind: 'ingress' }>, 'messageId' | 'sender'>;

/** Instruction limits per kind of execution (IC defaults; configurable per subnet). */
export interface InstructionLimits {
  readonly update: bigint;
  readonly install: bigint;
  readonly query: bigint;
  readonly inspectMessage: bigint;
  readonly cleanup: bigint;
  /**
   * Deterministic time slicing: a replicated execution that runs longer pauses after each slice
   * and goes on in the next rounds, up to its message limit (IC: 2 B).
   */
  readonly slice: bigint;
}

export const DEFAULT_INSTRUCTION_LIMITS: InstructionLimits = {
  update: 40_000_000_000n,
  install: 300_000_000_000n,
  query: 5_000_000_000n,
  inspectMessage: 200_000_000n,
  cleanup: 40_000_000_000n,
  slice: 2_000_000_000n,
};

export interface ExecutionConfig {
  readonly instructions: InstructionLimits;
  /** Stable memory limit per canister (IC: 500 GiB). */
  readonly stableMemoryBytes: bigint;
  /** Maximum canister Wasm module size after decompression (IC: 100 MiB). */
  readonly maxWasmBytes: number;
}

export const DEFAULT_EXECUTION_CONFIG: ExecutionConfig = {
  instructions: DEFAULT_INSTRUCTION_LIMITS,
  stableMemoryBytes: 500n * 1024n * 1024n * 1024n,
  maxWasmBytes: 100 * 1024 * 1024,
};

/** Where the outputs of an execution go; implemented by the scheduler (routing). */
export interface MessageSink {
  request(request: Request): void;
  response(response: Response): void;
  /** The response to an ingress message (`receiver` is the canister it was sent to). */
  ingressResult(ingress: IngressOrigin, payload: ResponsePayload, receiver: Principal): void;
}

/** Non-replicated execution result, as the HTTP query endpoint returns it. */
export type QueryResult =
  | { readonly status: 'replied'; readonly reply: Uint8Array; readonly instructions: bigint }
  | { readonly status: 'rejected'; readonly code: number; readonly message: string; readonly errorCode: string; readonly instructions: bigint };
