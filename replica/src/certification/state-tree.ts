// The system state tree, interface spec "The system state tree", laid out as the IC's canonical
// state does (rs/canonical_state lazy_tree_conversion): label names, value encodings, and which
// labels exist for which records.

import { encodeCanisterRanges, encodeControllers, encodeNat, encodeSubnetMetrics, encodeText } from './encoding.js';
import { InvalidStateViewError } from './errors.js';
import { compareBytes, type ForkMemo, forest, forestOfLabeled } from './hash-tree.js';
import type {
  ApiBoundaryNodeRecord,
  CanisterCertifiedState,
  CanisterRange,
  CertifiedStateView,
  HashTree,
  LabeledNode,
  RequestStatusRecord,
  StreamCertifiedState,
  StreamMessageRecord,
  SubnetCertifiedState,
} from './types.js';
import { hexOf } from '../bytes.js';

const utf8 = new TextEncoder();

function leafOf(value: Uint8Array): HashTree {
  return { kind: 'leaf', value };
}

function labeledOf(label: Uint8Array | string, subtree: HashTree): LabeledNode {
  return { kind: 'labeled', label: typeof label === 'string' ? utf8.encode(label) : label, subtree };
}

/**
 * Reuses subtrees across rounds. Records of the `CertifiedStateView` are keyed by object
 * identity, so a record must be replaced, not mutated, when it changes (copy-on-write). With
 * the cache, an unchanged canister costs no hashing at all and the forks above it are reused
 * too (see `ForkMemo`), so a round's cost is proportional to what changed, plus sorting.
 */
export class StateTreeCache {
  readonly canisters = new WeakMap<CanisterCertifiedState, LabeledNode>();
  readonly requests = new WeakMap<RequestStatusRecord, LabeledNode>();
  readonly subnets = new WeakMap<SubnetCertifiedState, { readonly subnet: LabeledNode; readonly ranges: LabeledNode }>();
  readonly apiBoundaryNodes = new WeakMap<ApiBoundaryNodeRecord, LabeledNode>();
  readonly streamMessages = new WeakMap<StreamMessageRecord, LabeledNode>();
  readonly forks: ForkMemo = new WeakMap();
}

// --- /request_status --------------------------------------------------------------------------

function requestStatusNode(r: RequestStatusRecord): LabeledNode {
  if (r.requestId.length !== 32) {
    throw new InvalidStateViewError(`request id ${hexOf(r.requestId)} has ${r.requestId.length} bytes, expected 32`);
  }
  const children: [string, HashTree][] = [['status', leafOf(encodeText(r.status))]];
  switch (r.status) {
    case 'replied':
      if (r.reply === undefined) throw new InvalidStateViewError(`request ${hexOf(r.requestId)} is replied without a reply`);
      children.push(['reply', leafOf(r.reply)]);
      break;
    case 'rejected':
      if (r.rejectCode === undefined || r.rejectMessage === undefined) {
        throw new InvalidStateViewError(`request ${hexOf(r.requestId)} is rejected without reject code and message`);
      }
      children.push(['reject_code', leafOf(encodeNat(r.rejectCode))]);
      children.push(['reject_message', leafOf(encodeText(r.rejectMessage))]);
      if (r.errorCode !== undefined) children.push(['error_code', leafOf(encodeText(r.errorCode))]);
      break;
    default:
      // received / processing / done: only the status (spec "Request status").
      break;
  }
  return labeledOf(r.requestId, forest(children));
}

// --- /canister --------------------------------------------------------------------------------

function canisterNode(c: CanisterCertifiedState): LabeledNode {
  const children: [string, HashTree][] = [['controllers', leafOf(encodeControllers(c.controllers))]];
  if (c.moduleHash !== undefined) {
    if (c.moduleHash.length !== 32) throw new InvalidStateViewError(`module hash of ${hexOf(c.canisterId)} is not 32 bytes`);
    if (c.certifiedData.length > 32) {
      throw new InvalidStateViewError(`certified data of ${hexOf(c.canisterId)} exceeds 32 bytes`);
    }
    children.push(['certified_data', leafOf(c.certifiedData)]);
    children.push(['module_hash', leafOf(c.moduleHash)]);
    const sections: [string, HashTree][] = [];
    for (const s of c.metadata ?? []) sections.push([s.name, leafOf(s.content)]);
    children.push(['metadata', forest(sections)]);
  }
  return labeledOf(c.canisterId, forest(children));
}

// --- /subnet and /canister_ranges -------------------------------------------------------------

/**
 * The IC splits a subnet's ranges into leaves of at most this many ranges, each labeled by the
 * lowest canister id it covers (rs/canonical_state: MAX_RANGES_PER_ROUTING_TABLE_LEAF).
 */
export const MAX_RANGES_PER_SHARD = 5;

/** Label of the single shard of a subnet without ranges: `CanisterId::from_u64(0)`. */
export const EMPTY_RANGES_LABEL = Uint8Array.of(0, 0, 0, 0, 0, 0, 0, 0, 1, 1);

export function sortedRanges(ranges: readonly CanisterRange[]): CanisterRange[] {
  for (const [start, end] of ranges) {
    if (compareBytes(start, end) > 0) throw new InvalidStateViewError(`canister range starts after it ends: ${hexOf(start)} > ${hexOf(end)}`);
  }
  return [...ranges].sort((a, b) => compareBytes(a[0], b[0]));
}

/** The sharded `/canister_ranges/<subnet_id>` subtree. */
export function canisterRangeShards(ranges: readonly CanisterRange[]): HashTree {
  const sorted = sortedRanges(ranges);
  if (sorted.length === 0) return forest([[EMPTY_RANGES_LABEL, leafOf(encodeCanisterRanges([]))]]);
  const shards: [Uint8Array, HashTree][] = [];
  for (let i = 0; i < sorted.length; i += MAX_RANGES_PER_SHARD) {
    const chunk = sorted.slice(i, i + MAX_RANGES_PER_SHARD);
    shards.push([chunk[0]![0], leafOf(encodeCanisterRanges(chunk))]);
  }
  return forest(shards);
}

function subnetNodes(s: SubnetCertifiedState): { subnet: LabeledNode; ranges: LabeledNode } {
  const children: [string, HashTree][] = [
    ['public_key', leafOf(s.publicKey)],
    ['canister_ranges', leafOf(encodeCanisterRanges(sortedRanges(s.canisterRanges)))],
  ];
  if (s.nodes !== undefined) {
    const nodes: [Uint8Array, HashTree][] = [];
    for (const n of s.nodes) nodes.push([n.nodeId, forest([['public_key', leafOf(n.publicKey)]])]);
    children.push(['node', forest(nodes)]);
  }
  if (s.metrics !== undefined) children.push(['metrics', leafOf(encodeSubnetMetrics(s.metrics))]);
  if (s.subnetType !== undefined) children.push(['type', leafOf(encodeText(s.subnetType))]);
  return {
    subnet: labeledOf(s.subnetId, forest(children)),
    ranges: labeledOf(s.subnetId, canisterRangeShards(s.canisterRanges)),
  };
}

// --- /api_boundary_nodes ----------------------------------------------------------------------

function apiBoundaryNode(b: ApiBoundaryNodeRecord): LabeledNode {
  const children: [string, HashTree][] = [
    ['domain', leafOf(encodeText(b.domain))],
    ['ipv6_address', leafOf(encodeText(b.ipv6Address))],
  ];
  if (b.ipv4Address !== undefined) children.push(['ipv4_address', leafOf(encodeText(b.ipv4Address))]);
  return labeledOf(b.nodeId, forest(children));
}

// --- /streams ---------------------------------------------------------------------------------

/** The label of message `index` of a stream: 8 bytes big-endian, so labels sort as indices. */
export function streamIndexLabel(index: bigint): Uint8Array {
  if (index < 0n || index >= 1n << 64n) throw new InvalidStateViewError(`stream index ${index} is out of range`);
  const label = new Uint8Array(8);
  new DataView(label.buffer).setBigUint64(0, index);
  return label;
}

/** `header` of a stream: begin, end and signals end, 8 bytes big-endian each. */
export function encodeStreamHeader(h: { readonly begin: bigint; readonly end: bigint; readonly signalsEnd: bigint }): Uint8Array {
  const out = new Uint8Array(24);
  const view = new DataView(out.buffer);
  view.setBigUint64(0, h.begin);
  view.setBigUint64(8, h.end);
  view.setBigUint64(16, h.signalsEnd);
  return out;
}

export function decodeStreamHeader(bytes: Uint8Array): { begin: bigint; end: bigint; signalsEnd: bigint } {
  if (bytes.length !== 24) throw new InvalidStateViewError(`a stream header has 24 bytes, not ${bytes.length}`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, 24);
  const header = { begin: view.getBigUint64(0), end: view.getBigUint64(8), signalsEnd: view.getBigUint64(16) };
  if (header.begin > header.end) throw new InvalidStateViewError(`a stream header begins at ${header.begin}, after its end ${header.end}`);
  return header;
}

function streamMessageNode(m: StreamMessageRecord): LabeledNode {
  return labeledOf(streamIndexLabel(m.index), leafOf(m.value));
}

function streamNode(s: StreamCertifiedState, cache: StateTreeCache | undefined): LabeledNode {
  const messages: LabeledNode[] = [];
  for (const m of s.messages) messages.push(cached(cache?.streamMessages, m, streamMessageNode));
  return labeledOf(s.subnetId, forest([['header', leafOf(s.header)], ['messages', forestOfLabeled(messages, cache?.forks)]]));
}

// --- the whole tree ---------------------------------------------------------------------------

function cached<K extends object, V>(cache: WeakMap<K, V> | undefined, key: K, make: (k: K) => V): V {
  if (cache === undefined) return make(key);
  let v = cache.get(key);
  if (v === undefined) {
    v = make(key);
    cache.set(key, v);
  }
  return v;
}

/**
 * Builds the certified state tree of spec "The system state tree":
 *
 * ```
 * /api_boundary_nodes/<node_id>/{domain,ipv4_address,ipv6_address}
 * /canister/<canister_id>/{certified_data,controllers,metadata/<name>,module_hash}
 * /canister_ranges/<subnet_id>/<lowest canister id of shard>
 * /request_status/<request_id>/{status,reply,reject_code,reject_message,error_code}
 * /streams/<subnet_id>/{header,messages/<index>}          (only when the view has streams)
 * /subnet/<subnet_id>/{public_key,canister_ranges,node/<node_id>/public_key,metrics,type}
 * /time
 * ```
 *
 * Top-level subtrees exist even when empty (as on the IC). Pass a `StateTreeCache` (kept across
 * rounds) to reuse the subtrees, and their digests, of unchanged records.
 */
export function buildStateTree(view: CertifiedStateView, cache?: StateTreeCache): HashTree {
  if (view.time < 0n) throw new InvalidStateViewError('time is negative');
  const memo = cache?.forks;

  const canisters: LabeledNode[] = [];
  for (const c of view.canisters) canisters.push(cached(cache?.canisters, c, canisterNode));

  const requests: LabeledNode[] = [];
  for (const r of view.requestStatus) requests.push(cached(cache?.requests, r, requestStatusNode));

  const subnets: LabeledNode[] = [];
  const ranges: LabeledNode[] = [];
  for (const s of view.subnets) {
    const nodes = cached(cache?.subnets, s, subnetNodes);
    subnets.push(nodes.subnet);
    ranges.push(nodes.ranges);
  }

  const boundaryNodes: LabeledNode[] = [];
  for (const b of view.apiBoundaryNodes ?? []) boundaryNodes.push(cached(cache?.apiBoundaryNodes, b, apiBoundaryNode));

  const top = [
    labeledOf('api_boundary_nodes', forestOfLabeled(boundaryNodes, memo)),
    labeledOf('canister', forestOfLabeled(canisters, memo)),
    labeledOf('canister_ranges', forestOfLabeled(ranges, memo)),
    labeledOf('request_status', forestOfLabeled(requests, memo)),
  ];
  if (view.streams !== undefined) {
    const streams: LabeledNode[] = [];
    for (const s of view.streams) streams.push(streamNode(s, cache));
    top.push(labeledOf('streams', forestOfLabeled(streams, memo)));
  }
  top.push(labeledOf('subnet', forestOfLabeled(subnets, memo)), labeledOf('time', leafOf(encodeNat(view.time))));
  // Labels in byte order; `forestOfLabeled` would sort anyway, this keeps the fast path.
  return forestOfLabeled(top, memo);
}
