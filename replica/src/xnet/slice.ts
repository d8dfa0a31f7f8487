// The sending side of a stream: the part of this subnet's stream to another subnet that the
// receiver has not inducted yet, as an `XNetSlice`. The certified form (state tree paths and a
// certificate the receiver verifies) is built around this in `certified-slice.ts`.

import type { Principal } from '@icp-sdk/core/principal';
import type { XNetSlice } from '../consensus/types.js';
import type { ReplicatedState, StreamHeader } from '../state/index.js';

/** Messages per slice by default (the IC's XNet payloads are bounded likewise). */
export const DEFAULT_SLICE_MESSAGES = 1000;

export function streamHeader(state: ReplicatedState, to: Principal): StreamHeader | undefined {
  const stream = state.streams.get(to.toText());
  if (stream === undefined) return undefined;
  return { begin: stream.begin, end: stream.begin + BigInt(stream.messages.length), signalsEnd: stream.signalsEnd };
}

/**
 * `state`'s stream to subnet `to` from message `from` on (at most `max` messages, none before the
 * stream's begin), or undefined when there is no stream to that subnet.
 */
export function streamSlice(state: ReplicatedState, to: Principal, from: bigint, max = DEFAULT_SLICE_MESSAGES): XNetSlice | undefined {
  const stream = state.streams.get(to.toText());
  const header = streamHeader(state, to);
  if (stream === undefined || header === undefined) return undefined;
  const start = from > header.begin ? (from < header.end ? from : header.end) : header.begin;
  const messages = stream.messages.slice(Number(start - header.begin), Number(start - header.begin) + max);
  const traceparents = messages.map((m) => (m.kind === 'request' ? m.traceparent : undefined));
  return {
    subnet: state.subnetId, header, from: start, messages,
    ...(traceparents.some((t) => t !== undefined) ? { traceparents } : {}),
  };
}
