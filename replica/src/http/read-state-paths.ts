// Which state tree paths a read_state request may ask for (interface spec, "Request: Read
// state"). A path of a form the spec does not list is answered 404 "Invalid path requested"
// as the IC does; a listed path the sender may not read here is answered 403.

import type { AuthenticatedScope } from './auth.js';
import { equalBytes, hexOf, principalText, targetAllowed } from './auth.js';
import { ForbiddenPathError, InvalidPathError, MalformedRequestError } from './errors.js';
import type { ReplicaFrontend } from './types.js';

/** The endpoint a read_state request came in at. */
export type ReadStateEndpoint =
  | { kind: 'canister'; apiVersion: 2 | 3; effectiveCanisterId: Uint8Array }
  | { kind: 'subnet'; apiVersion: 2 | 3; effectiveSubnetId: Uint8Array };

export interface PathAuthorizationContext {
  endpoint: ReadStateEndpoint;
  sender: Uint8Array;
  scope: AuthenticatedScope;
  rootSubnetId: Uint8Array;
  frontend: Pick<
    ReplicaFrontend,
    'requestStatusSender' | 'requestStatusTarget' | 'canisterControllers' | 'canisterMetadataVisibility'
  >;
}

const REQUEST_ID_BYTES = 32;
const REQUEST_STATUS_LEAVES = new Set(['status', 'reply', 'reject_code', 'reject_message', 'error_code']);
const API_BOUNDARY_NODE_LEAVES = new Set(['domain', 'ipv4_address', 'ipv6_address']);
const SUBNET_LEAVES = new Set(['public_key', 'type', 'node']);
const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Labels shown as text when they are printable ASCII, as hex otherwise. */
export function formatPath(path: Uint8Array[]): string {
  return (
    '/' +
    path
      .map((label) => (label.length > 0 && label.every((b) => b >= 0x20 && b < 0x7f && b !== 0x2f) ? String.fromCharCode(...label) : `0x${hexOf(label)}`))
      .join('/')
  );
}

function labelIs(label: Uint8Array | undefined, name: string): boolean {
  if (label === undefined || label.length !== name.length) return false;
  for (let i = 0; i < name.length; i++) if (label[i] !== name.charCodeAt(i)) return false;
  return true;
}

function labelIn(label: Uint8Array | undefined, names: Set<string>): boolean {
  if (label === undefined) return false;
  for (const name of names) if (labelIs(label, name)) return true;
  return false;
}

/**
 * Checks every requested path against the spec's list and the sender's rights; throws
 * InvalidPathError (404), ForbiddenPathError (403) or MalformedRequestError (400).
 */
export function authorizeReadStatePaths(paths: Uint8Array[][], ctx: PathAuthorizationContext): void {
  let requestId: Uint8Array | undefined;
  let rangesSubnet: Uint8Array | undefined;
  const { endpoint } = ctx;
  const where = endpoint.kind === 'canister' ? `/api/v${endpoint.apiVersion}/canister/.../read_state` : `/api/v${endpoint.apiVersion}/subnet/.../read_state`;

  for (const path of paths) {
    const [first, second, third, fourth, fifth] = path;
    const n = path.length;
    const shown = formatPath(path);

    if (n === 1 && labelIs(first, 'time')) continue;

    if (labelIs(first, 'api_boundary_nodes')) {
      if (n === 1 || n === 2 || (n === 3 && labelIn(third, API_BOUNDARY_NODE_LEAVES))) continue;
      throw new InvalidPathError(shown);
    }

    if (labelIs(first, 'canister_ranges')) {
      if (n !== 2) throw new InvalidPathError(shown);
      if (endpoint.kind !== 'subnet') {
        throw new ForbiddenPathError(`${shown} can only be requested at /api/v2|v3/subnet/<effective_subnet_id>/read_state, not at ${where}.`);
      }
      if (rangesSubnet !== undefined && !equalBytes(rangesSubnet, second!)) {
        throw new MalformedRequestError('content.paths', 'all paths with prefix /canister_ranges must refer to the same subnet id');
      }
      rangesSubnet = second;
      continue;
    }

    if (labelIs(first, 'subnet')) {
      if (n === 1 || n === 2) continue;
      if (n === 3 && labelIn(third, SUBNET_LEAVES)) continue;
      if (n === 3 && labelIs(third, 'canister_ranges')) {
        // Root subnet ranges: always; other subnets: only at the (deprecated) v2 endpoints.
        if (equalBytes(second!, ctx.rootSubnetId) || endpoint.apiVersion === 2) continue;
        throw new ForbiddenPathError(
          `${shown} of a non-root subnet can only be requested at v2 read_state endpoints; use /canister_ranges/<subnet_id> at the subnet endpoint.`,
        );
      }
      if (n === 3 && labelIs(third, 'metrics')) {
        if (endpoint.kind === 'subnet' && equalBytes(second!, endpoint.effectiveSubnetId)) continue;
        throw new ForbiddenPathError(`${shown} can only be requested at /api/v2|v3/subnet/<subnet_id>/read_state of that subnet.`);
      }
      if (n === 4 && labelIs(third, 'node')) continue;
      if (n === 5 && labelIs(third, 'node') && labelIs(fifth, 'public_key')) continue;
      throw new InvalidPathError(shown);
    }

    if (labelIs(first, 'request_status')) {
      if (!(n === 2 || (n === 3 && labelIn(third, REQUEST_STATUS_LEAVES)))) throw new InvalidPathError(shown);
      const id = second!;
      if (id.length !== REQUEST_ID_BYTES) {
        throw new MalformedRequestError('content.paths', `invalid request id in ${shown}: request ids are ${REQUEST_ID_BYTES} bytes long`);
      }
      if (requestId !== undefined && !equalBytes(requestId, id)) {
        throw new MalformedRequestError(
          'content.paths',
          `more than one request id in request_status paths: 0x${hexOf(requestId)} and 0x${hexOf(id)}`,
        );
      }
      requestId = id;
      authorizeRequestStatus(id, shown, ctx);
      continue;
    }

    if (labelIs(first, 'canister')) {
      const isCanisterLeaf = n === 3 && (labelIs(third, 'module_hash') || labelIs(third, 'controllers'));
      const isMetadata = n === 4 && labelIs(third, 'metadata');
      if (!isCanisterLeaf && !isMetadata) throw new InvalidPathError(shown);
      const canisterId = second!;
      if (endpoint.kind !== 'canister') {
        throw new ForbiddenPathError(`${shown} can only be requested at /api/v2|v3/canister/<effective_canister_id>/read_state.`);
      }
      if (!equalBytes(canisterId, endpoint.effectiveCanisterId)) {
        throw new ForbiddenPathError(
          `${shown}: canister ${principalText(canisterId)} does not match the effective canister id ${principalText(endpoint.effectiveCanisterId)} of the URL.`,
        );
      }
      if (isMetadata) {
        let name: string;
        try {
          name = utf8.decode(fourth!);
        } catch {
          throw new MalformedRequestError('content.paths', `custom section name in ${shown} is not UTF-8`);
        }
        if (ctx.frontend.canisterMetadataVisibility(canisterId, name) === 'private') {
          const controllers = ctx.frontend.canisterControllers(canisterId) ?? [];
          if (!controllers.some((c) => equalBytes(c, ctx.sender))) {
            throw new ForbiddenPathError(
              `Custom section ${name.slice(0, 100)} can only be requested by the controllers of the canister.`,
            );
          }
        }
      }
      continue;
    }

    throw new InvalidPathError(shown);
  }
}

/**
 * The spec: `/request_status/<id>/...` may be read if nothing is known about the request, or
 * the reader is its sender and reads it at the same effective canister (subnet) id. As the IC,
 * the call's canister must also be within the reader's delegation targets.
 */
function authorizeRequestStatus(requestId: Uint8Array, shown: string, ctx: PathAuthorizationContext): void {
  const sender = ctx.frontend.requestStatusSender(requestId);
  if (sender === undefined) return;
  if (!equalBytes(sender, ctx.sender)) {
    throw new ForbiddenPathError(`${shown}: the request was not signed by the sender of this read_state request.`);
  }
  const target = ctx.frontend.requestStatusTarget(requestId);
  if (target === undefined) return;
  const { endpoint } = ctx;
  if (endpoint.kind === 'canister') {
    if (target.effectiveCanisterId !== undefined && !equalBytes(target.effectiveCanisterId, endpoint.effectiveCanisterId)) {
      throw new ForbiddenPathError(
        `${shown}: the request was sent to effective canister id ${principalText(target.effectiveCanisterId)}, not ${principalText(endpoint.effectiveCanisterId)}.`,
      );
    }
    if (target.effectiveCanisterId === undefined && target.effectiveSubnetId !== undefined) {
      throw new ForbiddenPathError(`${shown}: the request was sent to a subnet endpoint; read its status at that subnet's endpoint.`);
    }
  } else {
    if (target.effectiveSubnetId === undefined || !equalBytes(target.effectiveSubnetId, endpoint.effectiveSubnetId)) {
      throw new ForbiddenPathError(`${shown}: the request was not sent to effective subnet id ${principalText(endpoint.effectiveSubnetId)}.`);
    }
  }
  if (!targetAllowed(ctx.scope, target.canisterId)) {
    throw new ForbiddenPathError(`${shown}: the request's canister is not among the sender delegation targets.`);
  }
}
