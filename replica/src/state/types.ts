import type { Principal } from '@icp-sdk/core/principal';
import type { RejectCode } from '../errors.js';

export type CanisterStatus = 'running' | 'stopping' | 'stopped';

export type LogVisibility =
  | { readonly kind: 'controllers' }
  | { readonly kind: 'public' }
  | { readonly kind: 'allowed_viewers'; readonly principals: readonly Principal[] };

/** Settings as in the management canister's `canister_settings`, with the IC's defaults. */
export interface CanisterSettings {
  controllers: Principal[];
  computeAllocation: bigint;
  memoryAllocation: bigint;
  freezingThreshold: bigint;
  reservedCyclesLimit: bigint;
  logVisibility: LogVisibility;
  wasmMemoryLimit: bigint;
  wasmMemoryThreshold: bigint;
  environmentVariables: [string, string][];
}

/**
 * What a canister signed about an ingress message's sender (spec `sender_info`, e.g. attributes
 * Internet Identity certifies), handed to the receiver as caller info (`ic0.msg_caller_info_*`).
 */
export interface CallerInfo {
  readonly data: Uint8Array;
  /** The canister that signed `data`. */
  readonly signer: Principal;
}

/** Who is waiting for the outcome of a call context. */
export type CallOrigin =
  | { readonly kind: 'ingress'; readonly messageId: string; readonly sender: Principal; readonly callerInfo?: CallerInfo }
  | { readonly kind: 'canister'; readonly caller: Principal; readonly callbackId: number; readonly deadline: bigint }
  /** Heartbeat, global timer: nobody waits for a response. */
  | { readonly kind: 'system' };

export interface Request {
  readonly kind: 'request';
  readonly sender: Principal;
  readonly receiver: Principal;
  readonly method: string;
  readonly arg: Uint8Array;
  readonly cycles: bigint;
  readonly origin: Exclude<CallOrigin, { kind: 'system' }>;
  /** Trace context carried with the message (W3C traceparent), never part of replicated outcomes. */
  readonly traceparent?: string;
}

export type ResponsePayload =
  | { readonly kind: 'reply'; readonly data: Uint8Array }
  | { readonly kind: 'reject'; readonly code: RejectCode; readonly message: string; readonly errorCode?: string };

export interface Response {
  readonly kind: 'response';
  /** The canister that made the call and receives the response. */
  readonly originator: Principal;
  readonly respondent: Principal;
  readonly callbackId: number;
  readonly payload: ResponsePayload;
  /** Cycles sent with the call and not accepted by the callee. */
  readonly refund: bigint;
}

export type CanisterMessage = Request | Response;

/** What a stream to another subnet certifies of itself (`/streams/<subnet_id>/header`). */
export interface StreamHeader {
  /** Index of the first message still in the stream. */
  readonly begin: bigint;
  /** Index the next message will get. */
  readonly end: bigint;
  /** Index of the next message expected from that subnet: every one below has been inducted here. */
  readonly signalsEnd: bigint;
}

/**
 * Messages to one other subnet (requests and responses, in the order they were sent) that it has
 * not acknowledged yet, and how far this subnet has inducted the messages that subnet sent it.
 */
export interface Stream {
  /** Index of `messages[0]`: the receiver's signals acknowledged every message below it. */
  begin: bigint;
  readonly messages: CanisterMessage[];
  /** Index of the next message expected from that subnet (signalled back to it in the header). */
  signalsEnd: bigint;
}

export interface CallContext {
  readonly id: number;
  readonly origin: CallOrigin;
  readonly method: string;
  /** Cycles attached by the caller not yet accepted. */
  cyclesAvailable: bigint;
  responded: boolean;
  /** Instructions executed by all messages of this call context so far. */
  instructions: bigint;
}

export interface Callback {
  readonly id: number;
  readonly callContextId: number;
  readonly callee: Principal;
  readonly reply: { readonly fn: number; readonly env: number };
  readonly reject: { readonly fn: number; readonly env: number };
  readonly cleanup?: { readonly fn: number; readonly env: number };
  readonly cyclesSent: bigint;
  /** Set aside at call_perform for processing the response. */
  readonly reservation: bigint;
  readonly deadline: bigint;
}

export type IngressStatus =
  | { readonly status: 'received' | 'processing'; readonly sender: Principal; readonly receiver: Principal; readonly time: bigint }
  | {
      readonly status: 'replied';
      readonly reply: Uint8Array;
      readonly sender: Principal;
      readonly receiver: Principal;
      readonly time: bigint;
    }
  | {
      readonly status: 'rejected';
      readonly code: RejectCode;
      readonly message: string;
      readonly errorCode: string;
      readonly sender: Principal;
      readonly receiver: Principal;
      readonly time: bigint;
    }
  | { readonly status: 'done'; readonly sender: Principal; readonly receiver: Principal; readonly time: bigint };

export interface CanisterLogRecord {
  readonly idx: bigint;
  readonly timestampNanos: bigint;
  readonly content: Uint8Array;
}

export type SystemTask = 'heartbeat' | 'global_timer';

/** What a canister executes: a message from its input queue, a system task, or install_code. */
export type ExecutionWork =
  | { readonly kind: 'message'; readonly message: CanisterMessage }
  | { readonly kind: 'task'; readonly task: SystemTask }
  /** An install_code (or install_chunked_code) call to the management canister for this canister. */
  | { readonly kind: 'install'; readonly request: Request };

/** A long (DTS) execution between two slices: what it runs and what it took so far. */
export interface PausedExecution {
  /** Out of the input queue while paused; put back in front if the execution is aborted. */
  readonly work: ExecutionWork;
  /** Cycles taken for the whole message when its first slice ran. */
  readonly prepaid: bigint;
  /** Instructions of the slices run so far. */
  instructions: bigint;
  slices: number;
  /** A global timer task resets the timer when it starts; an abort restores this value. */
  readonly timerBefore?: bigint;
}

/** What the scheduler keeps of a canister from round to round (the IC's `SchedulerState`). */
export interface CanisterSchedulerState {
  /**
   * Grows every round by the canister's compute allocation plus its share of the free capacity,
   * shrinks by 100% for every round the canister executed in full; orders the canisters.
   */
  accumulatedPriority: bigint;
  /** The 100% charges of rounds a long execution ran in, applied when it completes. */
  priorityCredit: bigint;
  /** A long execution given a core of its own this round, ahead of other long executions. */
  longExecutionMode: 'opportunistic' | 'prioritized';
  /** The long execution in progress. Never set at a checkpoint: checkpoints abort it first. */
  paused?: PausedExecution;
  /**
   * An install_code accepted for this canister and not started yet (or aborted, to start over):
   * the canister's next execution; until it is done the canister runs nothing else.
   */
  pendingInstall?: Request;
}
