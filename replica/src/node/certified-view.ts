// The certified part of the replicated state (interface spec, "The system state tree") as the
// state tree builder consumes it. Records are replaced, never mutated, when what they certify
// changes, so the builder's `StateTreeCache` (keyed by record identity) rehashes only what a
// round changed.

import {
  encodeStreamHeader, type CanisterCertifiedState, type CanisterMetadataSection, type CertifiedStateView, type RequestStatusRecord,
  type StreamCertifiedState, type StreamMessageRecord, type SubnetCertifiedState,
} from '../certification/index.js';
import { Principal } from '@icp-sdk/core/principal';
import { streamHeader, type CanisterMessage, type CanisterState, type IngressStatus, type ReplicatedState } from '../state/index.js';
import { encodeStreamMessage } from '../state/serialize.js';
import { equalBytes, hexOf } from '../bytes.js';

/** The certified records of one round, keyed for the HTTP front end's lookups. */
export interface CertifiedView {
  readonly view: CertifiedStateView;
  /** By canister id (hex of the principal bytes). */
  readonly canisters: ReadonlyMap<string, CanisterCertifiedState>;
  /** By request id (hex), as the ingress history keys them. */
  readonly requests: ReadonlyMap<string, RequestStatusRecord>;
}

interface CanisterEntry {
  readonly record: CanisterCertifiedState;
  readonly controllers: string;
  readonly certifiedData: Uint8Array;
  readonly module: unknown;
}

const REQUEST_ID_HEX = /^[0-9a-f]{64}$/;

/** The ingress history entry as `/request_status/<id>` shows it. */
export function requestStatusRecord(requestId: Uint8Array, s: IngressStatus): RequestStatusRecord {
  switch (s.status) {
    case 'replied':
      return { requestId, status: 'replied', reply: s.reply };
    case 'rejected':
      return { requestId, status: 'rejected', rejectCode: s.code, rejectMessage: s.message, errorCode: s.errorCode };
    default:
      return { requestId, status: s.status };
  }
}

export class CertifiedViewBuilder {
  readonly #canisters = new Map<string, CanisterEntry>();
  /** Ingress history entries are replaced on every status change: their identity is the key. */
  #requests = new WeakMap<IngressStatus, RequestStatusRecord>();
  /** A message keeps its index while it is in a stream: encoded once. */
  #streamMessages = new WeakMap<CanisterMessage, StreamMessageRecord>();

  /** `subnets` are this subnet's records (built by the node, replaced when they change). */
  build(state: ReplicatedState, subnets: readonly SubnetCertifiedState[]): CertifiedView {
    const canisters = new Map<string, CanisterCertifiedState>();
    const live = new Set<string>();
    for (const c of state.canisters()) {
      const entry = this.#canisterEntry(c);
      live.add(c.idText);
      canisters.set(hexOf(entry.record.canisterId), entry.record);
    }
    for (const id of this.#canisters.keys()) if (!live.has(id)) this.#canisters.delete(id);

    const requests = new Map<string, RequestStatusRecord>();
    // Ids in byte order (lower-case hex of equal length sorts as its bytes), so that the state
    // tree finds them sorted: a native sort of the text is several times cheaper than its own.
    const history = state.ingressHistory;
    for (const messageId of [...history.keys()].sort()) {
      const status = history.get(messageId)!;
      let record = this.#requests.get(status);
      if (record === undefined) {
        // Only HTTP ingress has 32-byte request ids; anything else has no place in the tree.
        if (!REQUEST_ID_HEX.test(messageId)) continue;
        record = requestStatusRecord(new Uint8Array(Buffer.from(messageId, 'hex')), status);
        this.#requests.set(status, record);
      }
      requests.set(messageId, record);
    }

    const view: CertifiedStateView = { time: state.time, requestStatus: requests.values(), canisters: canisters.values(), subnets };
    return { view: state.streams.size > 0 ? { ...view, streams: this.#streams(state) } : view, canisters, requests };
  }

  #streams(state: ReplicatedState): StreamCertifiedState[] {
    const out: StreamCertifiedState[] = [];
    for (const [subnet, stream] of state.streams) {
      const messages: StreamMessageRecord[] = [];
      for (let i = 0; i < stream.messages.length; i++) {
        const m = stream.messages[i]!;
        let record = this.#streamMessages.get(m);
        if (record === undefined) {
          record = { index: stream.begin + BigInt(i), value: encodeStreamMessage(m) };
          this.#streamMessages.set(m, record);
        }
        messages.push(record);
      }
      out.push({ subnetId: Principal.fromText(subnet).toUint8Array(), header: encodeStreamHeader(streamHeader(stream)), messages });
    }
    return out;
  }

  #canisterEntry(c: CanisterState): CanisterEntry {
    const controllers = c.settings.controllers.map((p) => p.toText()).join(',');
    const module = c.execution?.module;
    const prior = this.#canisters.get(c.idText);
    if (prior && prior.controllers === controllers && prior.module === module && equalBytes(prior.certifiedData, c.certifiedData)) {
      return prior;
    }
    const certifiedData = c.certifiedData.slice();
    const record: CanisterCertifiedState = {
      canisterId: c.id.toUint8Array(),
      controllers: c.settings.controllers.map((p) => p.toUint8Array()),
      certifiedData,
      ...(module ? { moduleHash: module.hash, metadata: metadataOf(c) } : {}),
    };
    const entry = { record, controllers, certifiedData, module };
    this.#canisters.set(c.idText, entry);
    return entry;
  }
}

function metadataOf(c: CanisterState): CanisterMetadataSection[] {
  const sections: CanisterMetadataSection[] = [];
  for (const [name, s] of c.execution?.module.info.metadata ?? []) sections.push({ name, visibility: s.visibility, content: s.content });
  return sections;
}
