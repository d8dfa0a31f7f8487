// install_code and install_chunked_code as a long execution (IC: rs/execution_environment/src/
// execution/install_code.rs). The management canister checks the call and leaves it with the
// canister as its next execution (`scheduler.pendingInstall`); the scheduler runs it in slices like
// an update, and the execution environment commits it all at once or not at all. Between slices
// the canister is busy: its own messages and management calls about it wait. An install aborted
// (by a checkpoint, or too many paused executions) goes back to `pendingInstall` and starts over.
//
// Everything here reads the call again from its bytes, so a restarted install decides exactly as
// the first attempt would have on the same state.

import { IDL } from '@icp-sdk/core/candid';
import { Principal } from '@icp-sdk/core/principal';
import { bytesToHex } from '@noble/hashes/utils.js';
import { concatBytes, sha256 } from '../bytes.js';
import { CanisterError, ErrorCode } from '../errors.js';
import type { MessageSink } from '../execution/types.js';
import type { CanisterState, ReplicatedState, Request, ResponsePayload } from '../state/index.js';
import { METHODS, decodeManagementArgs } from './candid.js';

export type InstallMode = 'install' | 'reinstall' | 'upgrade';

/** An install_code call, decoded and checked against the state (its chunks assembled). */
export interface InstallRequest {
  readonly mode: InstallMode;
  readonly wasm: Uint8Array;
  readonly arg: Uint8Array;
  readonly caller: Principal;
  readonly skipPreUpgrade?: boolean;
}

type Args = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

export function isInstallMethod(method: string): method is 'install_code' | 'install_chunked_code' {
  return method === 'install_code' || method === 'install_chunked_code';
}

/**
 * Decodes an install call and checks what does not need the code to run: the caller controls the
 * canister (and the chunk store's canister), the chunks are there and hash to the module hash,
 * the upgrade options are supported. Returns the target canister and the request; throws
 * CanisterError with the IC's codes.
 */
export function decodeInstall(state: ReplicatedState, req: Request): { canister: CanisterState; install: InstallRequest } {
  const method = req.method;
  if (!isInstallMethod(method)) throw new Error(`${method} is not an install call`);
  let a: Args;
  try {
    a = (decodeManagementArgs(method, req.arg) ?? {}) as Args;
  } catch (e) {
    throw new CanisterError(ErrorCode.InvalidManagementPayload, `Error decoding candid for ${method}: ${(e as Error).message}`);
  }
  let canister: CanisterState;
  let wasm: Uint8Array;
  if (method === 'install_code') {
    canister = controlledCanister(state, a.canister_id, req.sender);
    wasm = new Uint8Array(a.wasm_module);
  } else {
    canister = controlledCanister(state, a.target_canister, req.sender);
    const store = a.store_canister?.length ? controlledCanister(state, a.store_canister[0], req.sender) : canister;
    const parts = (a.chunk_hashes_list as { hash: Uint8Array }[]).map(({ hash }) => {
      const chunk = store.chunkStore.get(bytesToHex(new Uint8Array(hash)));
      if (!chunk) throw invalidArg(`Chunk ${bytesToHex(new Uint8Array(hash))} is not in the chunk store of ${store.idText}`);
      return chunk;
    });
    wasm = concatBytes(parts);
    const hash = sha256(wasm);
    if (bytesToHex(hash) !== bytesToHex(new Uint8Array(a.wasm_module_hash))) {
      throw invalidArg(`The wasm module hash ${bytesToHex(new Uint8Array(a.wasm_module_hash))} does not match the hash of the assembled chunks ${bytesToHex(hash)}`);
    }
  }
  const mode = a.mode as Args;
  const kind: InstallMode = 'install' in mode ? 'install' : 'reinstall' in mode ? 'reinstall' : 'upgrade';
  const upgradeOptions = kind === 'upgrade' ? (mode.upgrade?.[0] ?? {}) : {};
  if (upgradeOptions.wasm_memory_persistence?.[0] && 'keep' in upgradeOptions.wasm_memory_persistence[0]) {
    // Enhanced orthogonal persistence keeps the Wasm heap across upgrades; it needs 64-bit
    // memories, which this runtime does not accept yet, so no installed module can use it.
    throw invalidArg(
      `install_code on ${canister.idText}: wasm_memory_persistence = keep (enhanced orthogonal persistence) is not supported by this replica; upgrade with 'replace' (the default)`,
    );
  }
  return {
    canister,
    install: { mode: kind, wasm, arg: new Uint8Array(a.arg), caller: req.sender, skipPreUpgrade: upgradeOptions.skip_pre_upgrade?.[0] === true },
  };
}

/** The canister `id`, if `caller` controls it (IC0512 otherwise, IC0301 if there is none). */
export function controlledCanister(state: ReplicatedState, id: Principal, caller: Principal): CanisterState {
  const c = state.canister(id);
  if (!c) throw new CanisterError(ErrorCode.CanisterNotFound, `Canister ${id.toText()} not found`);
  if (!c.isController(caller)) {
    throw new CanisterError(ErrorCode.CanisterInvalidController,
      `Only the controllers of the canister ${c.idText} can control it.\nCanister's controllers: ${c.settings.controllers.map((p) => p.toText()).join(' ')}\nSender's ID: ${caller.toText()}`);
  }
  return c;
}

/** Answers a call to the management canister by its origin: the ingress history or the caller's queue. */
export function respondToManagementCall(request: Request, payload: ResponsePayload, sink: MessageSink, refund: bigint = request.cycles): void {
  const respondent = Principal.managementCanister();
  if (request.origin.kind === 'ingress') sink.ingressResult(request.origin, payload, respondent);
  else sink.response({ kind: 'response', originator: request.sender, respondent, callbackId: request.origin.callbackId, payload, refund });
}

/** install_code's reply: the empty tuple. */
export function installReply(method: 'install_code' | 'install_chunked_code'): ResponsePayload {
  return { kind: 'reply', data: new Uint8Array(IDL.encode([...METHODS[method].results], [])) };
}

/** Who asked for a change, for the canister history. */
export function changeOrigin(req: Request): { kind: 'user' | 'canister'; id: Principal } {
  return { kind: req.origin.kind === 'canister' ? 'canister' : 'user', id: req.sender };
}

/**
 * Whether a management call must wait in the subnet queue (IC `can_execute_subnet_msg`): a call
 * about a canister that is installing code waits until the install is done, and a new install
 * waits while a long one is in progress (`longInstall`), so installs run one at a time once long.
 */
export function waitsForInstall(state: ReplicatedState, request: Request, target: Principal | undefined, longInstall: boolean): boolean {
  if (longInstall && isInstallMethod(request.method)) return true;
  const c = target && state.canister(target);
  return c !== undefined && isInstalling(c);
}

/** The canister has an install_code queued or in progress. */
export function isInstalling(c: CanisterState): boolean {
  return c.scheduler.pendingInstall !== undefined || c.scheduler.paused?.work.kind === 'install';
}

function invalidArg(message: string): CanisterError {
  return new CanisterError(ErrorCode.InvalidManagementPayload, message);
}
