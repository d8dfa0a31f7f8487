// Certified slices: the sending subnet reveals, from its certified state tree, its stream's header
// and the messages the receiver lacks (`/streams/<receiver>/{header,messages/<index>}`), under a
// certificate signed by its subnet key. The receiving subnet verifies the certificate against the
// key the registry holds for the sender, reads the messages out of the tree, and checks that each
// is one the sender may send it: a request from one of the sender's canisters to one of its own,
// a response the other way. Only then does the slice go into a block.

import { Principal } from '@icp-sdk/core/principal';
import { effectiveCanisterId } from '../management/management-canister.js';
import {
  decodeCertificate,
  decodeStreamHeader,
  digest,
  lookupPath,
  publicKeyFromDer,
  stateRootMessage,
  streamIndexLabel,
  verify,
  CertificationError,
  type Path,
} from '../certification/index.js';
import type { XNetSlice } from '../consensus/types.js';
import type { Registry, SubnetRecord } from '../registry/index.js';
import type { CanisterMessage, ReplicatedState } from '../state/index.js';
import { decodeStreamMessage, StateEncodingError } from '../state/serialize.js';
import type { CertifiedSnapshot, StateCertification } from '../node/certification.js';
import { traceparentsAt } from './slice.js';
import { SLICE_OVERHEAD_BYTES, type SliceLimits, type StreamPosition, type XNetEnvelope } from './transport.js';
import { traceparentFromHeaders } from '../telemetry/tracing.js';

const MANAGEMENT = Principal.managementCanister();

/** A slice another subnet sent that must not be inducted; the message says why. */
export class XNetSliceError extends Error {
  override readonly name = 'XNetSliceError';
}

/** The state tree paths of a slice: the stream's header and messages [from, from + count). */
export function slicePaths(to: Uint8Array, from: bigint, count: number): Path[] {
  const paths: Path[] = [['streams', to, 'header']];
  for (let i = 0; i < count; i++) paths.push(['streams', to, 'messages', streamIndexLabel(from + BigInt(i))]);
  return paths;
}

/**
 * The sending side: the slice of the certified stream to `to` after `position` (within `limits`),
 * or undefined when the receiver has all of it, signals included. Trace context comes from
 * `live`, the state as it is now (it is not certified).
 */
export function certifiedSlice(
  certification: StateCertification, snapshot: CertifiedSnapshot, live: ReplicatedState,
  to: Principal, position: StreamPosition, limits: SliceLimits,
): XNetEnvelope | undefined {
  const toBytes = to.toUint8Array();
  const tree = snapshot.state.tree;
  const found = lookupPath(tree, ['streams', toBytes, 'header']);
  if (found.status !== 'found') return undefined;
  const header = decodeStreamHeader(found.value);
  const from = position.from > header.begin ? position.from : header.begin;
  const available = header.end > from ? Number(header.end - from) : 0;
  let count = available < limits.messages ? available : limits.messages;
  if (limits.bytes !== undefined) {
    // Whole messages while they fit (the first one always goes).
    let bytes = SLICE_OVERHEAD_BYTES;
    for (let i = 0; i < count; i++) {
      const leaf = lookupPath(tree, ['streams', toBytes, 'messages', streamIndexLabel(from + BigInt(i))]);
      bytes += leaf.status === 'found' ? leaf.value.length + 64 : 0;
      if (i > 0 && bytes > limits.bytes) {
        count = i;
        break;
      }
    }
  }
  if (count === 0 && header.signalsEnd <= position.acked) return undefined;
  const certificate = certification.subnetCertificate(snapshot, slicePaths(toBytes, from, count));
  const traceparents = traceparentsAt(live.streams.get(to.toText()), from, count);
  return { certificate, from, count, ...(traceparents ? { traceparents } : {}) };
}

/** Checks a BLS signature (of a state root): `verify` here, or on a thread. */
export type BlsVerifier = (publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array) => boolean | Promise<boolean>;

/**
 * The receiving side: verifies `envelope` from subnet `source` for subnet `self` and returns the
 * slice as a block carries it. Throws (rejects with) `XNetSliceError` naming what is wrong. The
 * certificate's signature is checked by `blsVerify` (two pairings: give it a thread).
 */
export async function verifySlice(
  envelope: XNetEnvelope, source: SubnetRecord, self: Principal, registry: Registry, blsVerify: BlsVerifier = verify,
): Promise<XNetSlice> {
  const fail = (why: string): never => {
    throw new XNetSliceError(`slice of subnet ${source.subnetId.toText()}'s stream to ${self.toText()} refused: ${why}`);
  };
  const keyDer = source.publicKeyDer ?? fail('the registry has no public key for that subnet');
  const certificate = refusing(fail, '', () => decodeCertificate(envelope.certificate));
  // Signed by the subnet key itself: a delegation would make another key the one that counts.
  if (certificate.delegation !== undefined) fail('the certificate carries a delegation');
  const key = refusing(fail, '', () => publicKeyFromDer(keyDer));
  if (!(await blsVerify(key, stateRootMessage(digest(certificate.tree)), certificate.signature))) {
    fail('the certificate signature does not verify under the subnet key');
  }

  const tree = certificate.tree;
  const revealed = (what: string, ...path: Path): Uint8Array => {
    const found = lookupPath(tree, ['streams', self.toUint8Array(), ...path]);
    return found.status === 'found' ? found.value : fail(`the certificate does not reveal ${what}`);
  };
  const header = refusing(fail, '', () => decodeStreamHeader(revealed('the stream header', 'header')));
  const { from, count } = envelope;
  if (!Number.isSafeInteger(count) || count < 0) fail(`a count of ${count} messages`);
  if (from < header.begin || from + BigInt(count) > header.end) {
    fail(`messages [${from}, ${from + BigInt(count)}) are outside the stream's [${header.begin}, ${header.end})`);
  }
  const messages: CanisterMessage[] = [];
  for (let i = 0; i < count; i++) {
    const index = from + BigInt(i);
    const bytes = revealed(`message ${index}`, 'messages', streamIndexLabel(index));
    const m = refusing(fail, `message ${index} is malformed: `, () => decodeStreamMessage(bytes));
    const problem = misaddressed(m, source.subnetId, self, registry);
    if (problem !== undefined) fail(`message ${index} ${problem}`);
    messages.push(m);
  }
  // Trace context is the transport's, not certified: kept only where it is a valid W3C traceparent.
  const traceparents = envelope.traceparents?.slice(0, count).map((t) => (typeof t === 'string' ? traceparentFromHeaders({ traceparent: t }) : undefined));
  return {
    subnet: source.subnetId, header, from, messages,
    ...(traceparents?.some((t) => t !== undefined) ? { traceparents } : {}),
  };
}

/** `f()`, with what is wrong with the data it reads (malformed encodings) turned into a refusal. */
function refusing<T>(fail: (why: string) => never, prefix: string, f: () => T): T {
  try {
    return f();
  } catch (e) {
    if (e instanceof CertificationError || e instanceof StateEncodingError) fail(prefix + e.message);
    throw e;
  }
}

/**
 * Why `m` is not a message `source` may send `self`, or undefined if it is. The management
 * canister (`aaaaa-aa`) of each subnet answers calls about that subnet's canisters.
 */
function misaddressed(m: CanisterMessage, source: Principal, self: Principal, registry: Registry): string | undefined {
  const on = (p: Principal, subnet: Principal) => registry.route(p)?.compareTo(subnet) === 'eq';
  const management = (p: Principal) => p.compareTo(MANAGEMENT) === 'eq';
  if (m.kind === 'request') {
    if (m.origin.kind !== 'canister') return 'is a request that no canister made';
    if (!on(m.sender, source)) return `is a request from ${m.sender.toText()}, which is not a canister of the sending subnet`;
    if (management(m.receiver)) {
      const target = effectiveCanisterId(m.method, m.arg);
      return target !== undefined && on(target, self) ? undefined : `is a call to ${m.method} of the management canister about no canister of this subnet`;
    }
    if (!on(m.receiver, self)) return `is a request to ${m.receiver.toText()}, which is not a canister of this subnet`;
    return undefined;
  }
  if (!management(m.respondent) && !on(m.respondent, source)) return `is a response from ${m.respondent.toText()}, which is not a canister of the sending subnet`;
  if (!on(m.originator, self)) return `is a response to ${m.originator.toText()}, which is not a canister of this subnet`;
  return undefined;
}
