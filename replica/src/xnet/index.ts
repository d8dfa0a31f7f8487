// Cross-subnet messaging (XNet): slices of the streams between subnets, certified by the sender
// and verified by the receiver, and the transports they travel over (in process, NATS).

export { DEFAULT_SLICE_MESSAGES, streamSlice, traceparentsAt } from './slice.js';
export { certifiedSlice, slicePaths, verifySlice, XNetSliceError } from './certified-slice.js';
export {
  EmbeddedXNet, SLICE_OVERHEAD_BYTES, type SliceLimits, type StreamPosition, type XNetEndpoint, type XNetEnvelope, type XNetTransport,
} from './transport.js';
export { NatsXNet, xnetNewsSubject, xnetSubject, type NatsXNetOptions } from './nats-transport.js';
