// Request envelopes (interface spec, "Authentication", "Request: Call", "Request: Read state",
// "Request: Query call"; _attachments/requests.cddl): decoding the CBOR body and checking its
// shape. Only the fields of the spec are accepted: an unknown field would be part of the
// signed request id but carry no meaning here, so it is refused with its name rather than
// silently ignored.

import { decodeCbor, describeCbor } from './cbor.js';
import { MalformedRequestError } from './errors.js';
import { hashOfMap, requestIdOf, type Hashable } from './request-id.js';
import type { CborMap, CborValue, SenderInfo } from './types.js';

export type RequestType = 'call' | 'query' | 'read_state';

/** Requests.cddl `principal = bytes .size (0..29)`. */
export const MAX_PRINCIPAL_BYTES = 29;
/** The spec: `nonce` is at most 32 bytes (IC: MAXIMUM_NUMBER_OF_BYTES_IN_NONCE). */
export const MAX_NONCE_BYTES = 32;
/** The spec: at most 1000 paths of at most 127 labels each in a read_state request. */
export const MAX_READ_STATE_PATHS = 1000;
export const MAX_PATH_LABELS = 127;
/** Timestamps are u64 nanoseconds on the IC. */
const U64_MAX = (1n << 64n) - 1n;

/** What a delegation allows (dfinity/ic#10449): absent or "all", or only "queries". */
export type DelegationPermissions = 'all' | 'queries';

export interface Delegation {
  pubkey: Uint8Array;
  /** Nanoseconds since 1970-01-01. */
  expiration: bigint;
  targets?: Uint8Array[];
  permissions?: DelegationPermissions;
}

export interface SignedDelegation {
  delegation: Delegation;
  signature: Uint8Array;
  /** hash_of_map of the `delegation` map as sent: what its signer signed. */
  delegationHash: Uint8Array;
}

interface CommonContent {
  sender: Uint8Array;
  nonce?: Uint8Array;
  ingressExpiry: bigint;
}

export interface CallContent extends CommonContent {
  requestType: 'call';
  canisterId: Uint8Array;
  methodName: string;
  arg: Uint8Array;
  senderInfo?: SenderInfo;
}

export interface QueryContent extends CommonContent {
  requestType: 'query';
  canisterId: Uint8Array;
  methodName: string;
  arg: Uint8Array;
  senderInfo?: SenderInfo;
}

export interface ReadStateContent extends CommonContent {
  requestType: 'read_state';
  paths: Uint8Array[][];
}

export type RequestContent = CallContent | QueryContent | ReadStateContent;
export type ContentOf<T extends RequestType> = Extract<RequestContent, { requestType: T }>;

export interface Envelope<C extends RequestContent = RequestContent> {
  content: C;
  /** The request id: hash_of_map of the `content` map as sent. */
  requestId: Uint8Array;
  senderPubkey?: Uint8Array;
  senderSig?: Uint8Array;
  senderDelegation?: SignedDelegation[];
}

const ENVELOPE_FIELDS = new Set(['content', 'sender_pubkey', 'sender_sig', 'sender_delegation']);
const COMMON_FIELDS = ['request_type', 'sender', 'nonce', 'ingress_expiry'];
const CONTENT_FIELDS: Record<RequestType, Set<string>> = {
  call: new Set([...COMMON_FIELDS, 'canister_id', 'method_name', 'arg', 'sender_info']),
  query: new Set([...COMMON_FIELDS, 'canister_id', 'method_name', 'arg', 'sender_info']),
  // agent-js's AttributesIdentity leaves sender_info out of read_state: the IC does not hash it there.
  read_state: new Set([...COMMON_FIELDS, 'paths']),
};

function bad(field: string, problem: string): never {
  throw new MalformedRequestError(field, problem);
}

/**
 * A map with null/undefined entries dropped: serde (the IC, agent-rs) reads both as an absent
 * optional field, and agent-js's CBOR encoder writes `undefined` for unset object fields. The
 * request id is then computed without them, as the IC computes it from its typed content.
 */
function expectMap(value: CborValue, field: string): CborMap {
  if (!(value instanceof Map)) bad(field, `expected a map, got ${describeCbor(value)}`);
  // The decoded map is the request's own: it is filtered in place, not copied.
  for (const [k, v] of value) if (v === null || v === undefined) value.delete(k);
  return value;
}

function onlyFields(map: CborMap, allowed: Set<string>, where: string): void {
  for (const key of map.keys()) {
    if (!allowed.has(key)) bad(where ? `${where}.${key}` : key, `unknown field '${key}'${where ? ` in ${where}` : ''}`);
  }
}

function required(map: CborMap, key: string, where: string): CborValue {
  if (!map.has(key)) bad(`${where}.${key}`, 'missing required field');
  return map.get(key);
}

function blob(value: CborValue, field: string, maxBytes?: number, what = 'a byte string'): Uint8Array {
  if (!(value instanceof Uint8Array)) bad(field, `expected ${what}, got ${describeCbor(value)}`);
  if (maxBytes !== undefined && value.length > maxBytes) bad(field, `${value.length} bytes, at most ${maxBytes} allowed`);
  return value;
}

function principal(value: CborValue, field: string): Uint8Array {
  return blob(value, field, MAX_PRINCIPAL_BYTES, 'a principal (byte string)');
}

function text(value: CborValue, field: string): string {
  if (typeof value !== 'string') bad(field, `expected a text string, got ${describeCbor(value)}`);
  return value;
}

function nat64(value: CborValue, field: string): bigint {
  if (typeof value !== 'bigint' || value < 0n) bad(field, `expected a natural number, got ${describeCbor(value)}`);
  if (value > U64_MAX) bad(field, 'does not fit in 64 bits');
  return value;
}

function array(value: CborValue, field: string, maxLength: number, what: string): CborValue[] {
  if (!Array.isArray(value)) bad(field, `expected an array, got ${describeCbor(value)}`);
  if (value.length > maxLength) bad(field, `${value.length} ${what}, at most ${maxLength} allowed`);
  return value;
}

/** The sender_info value, and its map without absent entries (what the request id hashes). */
function senderInfo(value: CborValue, field: string): [SenderInfo, CborMap] {
  const map = expectMap(value, field);
  onlyFields(map, new Set(['info', 'signer', 'sig']), field);
  const info: SenderInfo = {
    info: blob(required(map, 'info', field), `${field}.info`),
    signer: principal(required(map, 'signer', field), `${field}.signer`),
    sig: blob(required(map, 'sig', field), `${field}.sig`),
  };
  return [info, map];
}

function signedDelegation(value: CborValue, field: string): SignedDelegation {
  const outer = expectMap(value, field);
  onlyFields(outer, new Set(['delegation', 'signature']), field);
  const where = `${field}.delegation`;
  const inner = expectMap(required(outer, 'delegation', field), where);
  onlyFields(inner, new Set(['pubkey', 'expiration', 'targets', 'permissions']), where);
  const delegation: Delegation = {
    pubkey: blob(required(inner, 'pubkey', where), `${where}.pubkey`),
    expiration: nat64(required(inner, 'expiration', where), `${where}.expiration`),
  };
  if (inner.has('targets')) {
    // The count limit (1000) is checked with the chain, as the IC does; bound it loosely here.
    const targets = array(inner.get('targets'), `${where}.targets`, Number.MAX_SAFE_INTEGER, 'targets');
    delegation.targets = targets.map((t, i) => principal(t, `${where}.targets[${i}]`));
  }
  if (inner.has('permissions')) {
    const p = text(inner.get('permissions'), `${where}.permissions`);
    if (p !== 'all' && p !== 'queries') bad(`${where}.permissions`, `unsupported value '${p}', expected "all" or "queries"`);
    delegation.permissions = p;
  }
  return {
    delegation,
    signature: blob(required(outer, 'signature', field), `${field}.signature`),
    // Validated above to hold only hashable values (blobs, nats, text, arrays of blobs).
    delegationHash: hashOfMap(inner as ReadonlyMap<string, Hashable>),
  };
}

/** Validates the content map; replaces nested maps in it by their normalized form. */
function parseContent(map: CborMap, expected: RequestType): RequestContent {
  const requestType = text(required(map, 'request_type', 'content'), 'content.request_type');
  if (requestType !== 'call' && requestType !== 'query' && requestType !== 'read_state') {
    bad('content.request_type', `unknown request type '${requestType}'`);
  }
  if (requestType !== expected) {
    bad('content.request_type', `'${requestType}' request sent to the ${expected} endpoint`);
  }
  onlyFields(map, CONTENT_FIELDS[requestType], 'content');
  const common: CommonContent = {
    sender: principal(required(map, 'sender', 'content'), 'content.sender'),
    ingressExpiry: nat64(required(map, 'ingress_expiry', 'content'), 'content.ingress_expiry'),
  };
  if (map.has('nonce')) common.nonce = blob(map.get('nonce'), 'content.nonce', MAX_NONCE_BYTES);
  if (requestType === 'read_state') {
    const paths = array(required(map, 'paths', 'content'), 'content.paths', MAX_READ_STATE_PATHS, 'paths');
    return {
      requestType,
      ...common,
      paths: paths.map((p, i) =>
        array(p, `content.paths[${i}]`, MAX_PATH_LABELS, 'labels').map((l, j) => blob(l, `content.paths[${i}][${j}]`)),
      ),
    };
  }
  const content: CallContent | QueryContent = {
    requestType,
    ...common,
    canisterId: principal(required(map, 'canister_id', 'content'), 'content.canister_id'),
    methodName: text(required(map, 'method_name', 'content'), 'content.method_name'),
    arg: blob(required(map, 'arg', 'content'), 'content.arg'),
  };
  if (map.has('sender_info')) {
    const [info, normalized] = senderInfo(map.get('sender_info'), 'content.sender_info');
    content.senderInfo = info;
    map.set('sender_info', normalized);
  }
  return content;
}

/**
 * Decodes and shape-checks a request body for the endpoint of `expected` request type.
 * Throws CborDecodeError or MalformedRequestError (both answered 400).
 */
export function decodeEnvelope<T extends RequestType>(body: Uint8Array, expected: T): Envelope<ContentOf<T>> {
  if (body.length === 0) bad('', 'empty request body');
  const top = expectMap(decodeCbor(body), 'envelope');
  onlyFields(top, ENVELOPE_FIELDS, '');
  const contentMap = expectMap(required(top, 'content', 'envelope'), 'content');
  const content = parseContent(contentMap, expected) as ContentOf<T>;
  const envelope: Envelope<ContentOf<T>> = {
    content,
    // parseContent accepted only hashable values (blobs, nats, text, arrays, nested maps).
    requestId: requestIdOf(contentMap as ReadonlyMap<string, Hashable>),
  };
  if (top.has('sender_pubkey')) envelope.senderPubkey = blob(top.get('sender_pubkey'), 'sender_pubkey');
  if (top.has('sender_sig')) envelope.senderSig = blob(top.get('sender_sig'), 'sender_sig');
  if (top.has('sender_delegation')) {
    // The count limit (20) is checked with the chain, as the IC does; bound it loosely here.
    const delegations = array(top.get('sender_delegation'), 'sender_delegation', Number.MAX_SAFE_INTEGER, 'delegations');
    envelope.senderDelegation = delegations.map((d, i) => signedDelegation(d, `sender_delegation[${i}]`));
  }
  return envelope;
}
