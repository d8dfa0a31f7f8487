import type { Principal } from '@icp-sdk/core/principal';
import type { CallerInfo, CanisterMessage, StreamHeader } from '../state/types.js';

/** An ingress message as consensus orders it: authenticated, not yet inducted. */
export interface IngressMessage {
  /** Hex of the request id (interface spec, "Request ids"). */
  readonly messageId: string;
  readonly sender: Principal;
  readonly receiver: Principal;
  readonly method: string;
  readonly arg: Uint8Array;
  /** For management canister calls: the canister the call is about. */
  readonly effectiveCanisterId?: Principal;
  readonly traceparent?: string;
  /** The sender's verified `sender_info`, for the receiver's `ic0.msg_caller_info_*`. */
  readonly callerInfo?: CallerInfo;
}

/**
 * Part of another subnet's stream to this one, verified against that subnet's certificate before
 * it went into a block (cross-subnet messaging, "XNet").
 */
export interface XNetSlice {
  /** The sending subnet. */
  readonly subnet: Principal;
  /** The stream's header as the sender certified it: its `signalsEnd` acknowledges our messages. */
  readonly header: StreamHeader;
  /** Index of `messages[0]`. */
  readonly from: bigint;
  readonly messages: readonly CanisterMessage[];
  /**
   * W3C trace context of requests by position in `messages` (the transport's headers, not
   * certified and not replicated).
   */
  readonly traceparents?: readonly (string | undefined)[];
}

/** What consensus agrees on for one round. */
export interface Block {
  readonly height: bigint;
  /** Nanoseconds since the epoch; strictly increasing from block to block. */
  readonly time: bigint;
  readonly ingress: readonly IngressMessage[];
  /** Slices of other subnets' streams to this one, in ascending subnet id order; none if absent. */
  readonly xnet?: readonly XNetSlice[];
  /**
   * Randomness for raw_rand answered in this round: the random tape of an earlier round,
   * fixed before this block's contents were known.
   */
  readonly randomness: Uint8Array;
}

/**
 * Where blocks come from. Embedded: a local log on one replica. Cluster: NATS JetStream.
 * A block is durable before `append` resolves, so an acknowledged ingress message is never lost.
 */
export interface BlockSource {
  /** Orders ingress messages into the next block(s); resolves once durable. */
  submit(message: IngressMessage): Promise<void>;
  /** The next block to execute, or undefined if none is ready. */
  next(): Promise<Block | undefined>;
}
