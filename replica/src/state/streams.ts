// Streams to other subnets (`ReplicatedState.streams`): the one to a subnet, its end and header,
// and the cycles a message carries across the border.

import type { CanisterMessage, Stream, StreamHeader } from './types.js';
import type { ReplicatedState } from './replicated-state.js';

/** The stream to `subnet` (id text), created empty on first use. */
export function streamOf(state: ReplicatedState, subnet: string): Stream {
  let stream = state.streams.get(subnet);
  if (stream === undefined) {
    stream = { begin: 0n, messages: [], signalsEnd: 0n };
    state.streams.set(subnet, stream);
  }
  return stream;
}

/** The index the stream's next message will get. */
export function streamEnd(stream: Stream): bigint {
  return stream.begin + BigInt(stream.messages.length);
}

export function streamHeader(stream: Stream): StreamHeader {
  return { begin: stream.begin, end: streamEnd(stream), signalsEnd: stream.signalsEnd };
}

/** Cycles a message carries: attached to a request, refunded with a response. */
export function attachedCycles(m: CanisterMessage): bigint {
  return m.kind === 'request' ? m.cycles : m.refund;
}
