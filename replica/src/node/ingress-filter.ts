// Which management canister calls users may send as ingress, and under which effective canister
// id (interface spec, "Effective canister id" and "The IC management canister": methods that only
// canisters may call, and methods only a canister's controllers may call).

import { Principal } from '@icp-sdk/core/principal';
import { CanisterError, ErrorCode } from '../errors.js';
import { EffectiveIdMismatchError } from '../http/index.js';
import { effectiveCanisterId, MANAGEMENT_METHODS } from '../management/index.js';
import type { ReplicatedState } from '../state/index.js';

/** Creation methods: any effective canister id hosted by the subnet (or a subnet endpoint) will do. */
const CREATE_METHODS = new Set(['provisional_create_canister_with_cycles']);
/** Methods anyone may call on any canister. */
const OPEN_METHODS = new Set(['provisional_top_up_canister']);
/** Methods on one canister that only its controllers may call by ingress. */
const CONTROLLER_METHODS = new Set([
  'canister_status',
  'update_settings',
  'install_code',
  'install_chunked_code',
  'uninstall_code',
  'upload_chunk',
  'clear_chunk_store',
  'stored_chunks',
  'start_canister',
  'stop_canister',
  'delete_canister',
  'take_canister_snapshot',
  'load_canister_snapshot',
  'list_canister_snapshots',
  'delete_canister_snapshot',
]);

function text(bytes: Uint8Array): string {
  return Principal.fromUint8Array(bytes).toText();
}

/**
 * Checks an ingress message to `aaaaa-aa` before it enters the block. Returns the canister the
 * call is about (undefined for creation); throws `CanisterError` for calls the IC refuses
 * without executing them, `EffectiveIdMismatchError` (400) for a URL that names another canister.
 */
export function filterManagementIngress(
  state: ReplicatedState,
  call: { readonly sender: Uint8Array; readonly methodName: string; readonly arg: Uint8Array; readonly effectiveCanisterId: Uint8Array },
): Principal | undefined {
  const method = call.methodName;
  // Unknown methods are answered by the management canister itself, in the certified state.
  if (!Object.prototype.hasOwnProperty.call(MANAGEMENT_METHODS, method)) return undefined;
  if (CREATE_METHODS.has(method)) return undefined;
  if (!OPEN_METHODS.has(method) && !CONTROLLER_METHODS.has(method)) {
    throw new CanisterError(ErrorCode.CanisterRejectedMessage, `Only canisters can call ic00 method ${method}`);
  }
  const target = effectiveCanisterId(method, call.arg);
  if (target === undefined) {
    throw new CanisterError(ErrorCode.InvalidManagementPayload, `Error decoding candid for ${method}: no canister id in the argument`);
  }
  if (!equal(target.toUint8Array(), call.effectiveCanisterId)) {
    throw new EffectiveIdMismatchError(
      `Specified CanisterId ${target.toText()} does not match effective canister id in URL ${text(call.effectiveCanisterId)}`,
    );
  }
  if (CONTROLLER_METHODS.has(method)) {
    const canister = state.canister(target);
    if (!canister) throw new CanisterError(ErrorCode.CanisterNotFound, `Canister ${target.toText()} not found`);
    if (!canister.isController(Principal.fromUint8Array(call.sender))) {
      throw new CanisterError(
        ErrorCode.CanisterInvalidController,
        `Only controllers of canister ${target.toText()} can call ic00 method ${method}`,
      );
    }
  }
  return target;
}

function equal(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}
