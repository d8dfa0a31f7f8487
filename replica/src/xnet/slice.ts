// The sending side of a stream, uncertified: the part of this subnet's stream to another subnet
// that the receiver has not inducted yet, as an `XNetSlice` (what execution tests hand from one
// replica to another). Nodes send the certified form instead (`certified-slice.ts`), with the
// trace context looked up here.

import type { Principal } from '@icp-sdk/core/principal';
import type { XNetSlice } from '../consensus/types.js';
import { streamHeader, type ReplicatedState, type Stream } from '../state/index.js';

/** Messages per slice by default (the IC's XNet payloads are bounded likewise). */
export const DEFAULT_SLICE_MESSAGES = 1000;

/**
 * `state`'s stream to subnet `to` from message `from` on (at most `max` messages, none before the
 * stream's begin), or undefined when there is no stream to that subnet.
 */
export function streamSlice(state: ReplicatedState, to: Principal, from: bigint, max = DEFAULT_SLICE_MESSAGES): XNetSlice | undefined {
  const stream = state.streams.get(to.toText());
  if (stream === undefined) return undefined;
  const header = streamHeader(stream);
  const start = from > header.begin ? (from < header.end ? from : header.end) : header.begin;
  const messages = stream.messages.slice(Number(start - header.begin), Number(start - header.begin) + max);
  const traceparents = traceparentsAt(stream, start, messages.length);
  return { subnet: state.subnetId, header, from: start, messages, ...(traceparents ? { traceparents } : {}) };
}

/**
 * The trace context of the stream's messages [from, from + count) (undefined for a response, or a
 * message no longer in the stream), or undefined when none of them has one.
 */
export function traceparentsAt(stream: Stream | undefined, from: bigint, count: number): (string | undefined)[] | undefined {
  const traceparents: (string | undefined)[] = [];
  for (let i = 0; i < count; i++) {
    const at = stream === undefined ? -1 : Number(from + BigInt(i) - stream.begin);
    const m = at >= 0 ? stream!.messages[at] : undefined;
    traceparents.push(m?.kind === 'request' ? m.traceparent : undefined);
  }
  return traceparents.some((t) => t !== undefined) ? traceparents : undefined;
}
