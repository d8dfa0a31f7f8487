// How certified stream slices travel between subnets. A subnet serves slices of its streams from
// its latest certified state; a subnet about to make a block pulls, from every other subnet, the
// part of that subnet's stream to it that it has not inducted yet. Embedded: subnets in one
// process call each other's endpoints directly. Cluster mode: the same over NATS, with the trace
// context in the message headers.

import type { Principal } from '@icp-sdk/core/principal';

/** A certified slice as it crosses between subnets. */
export interface XNetEnvelope {
  /**
   * Signed by the sending subnet's key alone (no delegation): reveals its stream's header and
   * messages [from, from + count) to the receiving subnet.
   */
  readonly certificate: Uint8Array;
  readonly from: bigint;
  readonly count: number;
  /** Trace context of the messages, by position (transport metadata, not certified). */
  readonly traceparents?: readonly (string | undefined)[];
}

/** What the receiver has of the stream already. */
export interface StreamPosition {
  /** The next message index it expects (its signals end for that stream). */
  readonly from: bigint;
  /** The begin of its own stream back to the sender: signals up to here are known to it. */
  readonly acked: bigint;
}

/** How large a slice may be: messages, and bytes of certificate (a transport's message size). */
export interface SliceLimits {
  readonly messages: number;
  /** At least one message goes, whatever its size. Default: no limit. */
  readonly bytes?: number;
}

/** What a subnet serves to the others. */
export interface XNetEndpoint {
  /** The slice of the stream to `to` after `position`, or undefined when it holds nothing new. */
  slice(to: Principal, position: StreamPosition, limits: SliceLimits): XNetEnvelope | undefined;
  /** Subnet `from` certified something new for this one (messages or signals): pull soon. */
  news?(from: Principal): void;
}

export interface XNetTransport {
  /** Serves this subnet's streams to the others (replaces an earlier endpoint of the subnet). */
  serve(subnet: Principal, endpoint: XNetEndpoint): void;
  /** Stops serving (the node stops). */
  withdraw(subnet: Principal): void;
  /**
   * Tells subnets `to` that `from` certified something new for them, so that they pull without
   * waiting for their next idle round (best effort: they pull every round anyway).
   */
  announce(from: Principal, to: readonly Principal[]): void;
  /**
   * The slice of `source`'s stream to `to` after `position`, or undefined when there is nothing
   * new or `source` cannot be reached now (the next round asks again).
   */
  pull(source: Principal, to: Principal, position: StreamPosition, maxMessages: number): Promise<XNetEnvelope | undefined>;
}

/** Certificate bytes a slice may use besides its messages (header, witness, signature). */
export const SLICE_OVERHEAD_BYTES = 16 * 1024;

/** Subnets of one process. */
export class EmbeddedXNet implements XNetTransport {
  readonly #endpoints = new Map<string, XNetEndpoint>();

  serve(subnet: Principal, endpoint: XNetEndpoint): void {
    this.#endpoints.set(subnet.toText(), endpoint);
  }

  withdraw(subnet: Principal): void {
    this.#endpoints.delete(subnet.toText());
  }

  async pull(source: Principal, to: Principal, position: StreamPosition, maxMessages: number): Promise<XNetEnvelope | undefined> {
    return this.#endpoints.get(source.toText())?.slice(to, position, { messages: maxMessages });
  }

  announce(from: Principal, to: readonly Principal[]): void {
    for (const subnet of to) this.#endpoints.get(subnet.toText())?.news?.(from);
  }
}
