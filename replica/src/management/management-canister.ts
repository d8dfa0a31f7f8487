// The management canister `aaaaa-aa` (interface spec, "The IC management canister"): its calls
// are executed by the subnet between canister messages, in the order they were sent.

import { IDL } from '@icp-sdk/core/candid';
import { Principal } from '@icp-sdk/core/principal';
import { bytesToHex } from '@noble/hashes/utils.js';
import { CanisterError, ErrorCode } from '../errors.js';
import { MAX_LOG_BYTES, rejectOf, type ExecutionEnvironment } from '../execution/environment.js';
import type { MessageSink } from '../execution/types.js';
import { recordBurn } from '../execution/charging.js';
import {
  CanisterState,
  defaultSettings,
  type CanisterSettings,
  type ReplicatedState,
  type Request,
  type ResponsePayload,
} from '../state/index.js';
import { deleteSnapshot, listSnapshots, loadSnapshot, snapshotOwner, snapshotSize, snapshotsSize, takeSnapshot } from '../checkpoint/snapshots.js';
import { METHODS, decodeManagementArgs, isManagementMethod, type ManagementMethod } from './candid.js';
import { controlledCanister, decodeInstall } from './install-code.js';
import { sha256 } from '../bytes.js';

/** Chunk store limits (IC: 1 MiB chunks, 100 MiB total per canister). */
const MAX_CHUNK_BYTES = 1024 * 1024;
const MAX_CHUNKS = 100;
const MAX_CONTROLLERS = 10;

type Args = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

/** Settings any update must keep within: the IC's bounds. */
function applySettings(target: CanisterSettings, s: Args): void {
  if (s.controllers?.length) {
    const controllers = s.controllers[0] as Principal[];
    if (controllers.length > MAX_CONTROLLERS) {
      throw invalidArg(`Invalid settings: expected at most ${MAX_CONTROLLERS} controllers, got ${controllers.length}`);
    }
    target.controllers = controllers;
  }
  if (s.compute_allocation?.length) {
    const v = BigInt(s.compute_allocation[0]);
    if (v > 100n) throw invalidArg(`Invalid settings: compute_allocation must be between 0 and 100, got ${v}`);
    target.computeAllocation = v;
  }
  if (s.memory_allocation?.length) target.memoryAllocation = BigInt(s.memory_allocation[0]);
  if (s.freezing_threshold?.length) target.freezingThreshold = BigInt(s.freezing_threshold[0]);
  if (s.reserved_cycles_limit?.length) target.reservedCyclesLimit = BigInt(s.reserved_cycles_limit[0]);
  if (s.log_visibility?.length) {
    const v = s.log_visibility[0];
    target.logVisibility = 'public' in v ? { kind: 'public' }
      : 'allowed_viewers' in v ? { kind: 'allowed_viewers', principals: v.allowed_viewers } : { kind: 'controllers' };
  }
  if (s.wasm_memory_limit?.length) {
    const v = BigInt(s.wasm_memory_limit[0]);
    if (v > 1n << 48n) throw invalidArg(`Invalid settings: wasm_memory_limit ${v} is too large`);
    target.wasmMemoryLimit = v;
  }
  if (s.wasm_memory_threshold?.length) target.wasmMemoryThreshold = BigInt(s.wasm_memory_threshold[0]);
  if (s.environment_variables?.length) {
    const vars = (s.environment_variables[0] as { name: string; value: string }[]).map((v) => [v.name, v.value] as [string, string]);
    target.environmentVariables = vars.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  }
}

function invalidArg(message: string): CanisterError {
  return new CanisterError(ErrorCode.InvalidManagementPayload, message);
}

export class ManagementCanister {
  constructor(
    private readonly env: ExecutionEnvironment,
    /** Cycles a new canister gets from a provisional create without an amount (the IC's default). */
    private readonly defaultProvisionalCycles = 100_000_000_000_000n,
  ) {}

  /** Executes one request addressed to `aaaaa-aa`; the response goes to the sink. */
  execute(state: ReplicatedState, request: Request, sink: MessageSink): bigint {
    let refund = request.cycles;
    const respond = (payload: ResponsePayload) => this.respondTo(request, payload, sink, Principal.managementCanister(), refund);
    const method = request.method;
    if (!isManagementMethod(method)) {
      respond(rejectOf(new CanisterError(ErrorCode.CanisterMethodNotFound, `Management canister has no method '${method}'`)));
      return 0n;
    }
    let args: Args;
    try {
      args = (decodeManagementArgs(method, request.arg) ?? {}) as Args;
    } catch (e) {
      respond(rejectOf(invalidArg(`Error decoding candid for ${method}: ${(e as Error).message}`)));
      return 0n;
    }
    try {
      const result = this.dispatch(state, method, args, request, sink, (n) => (refund -= n));
      if (result === 'deferred') return 0n;
      respond({ kind: 'reply', data: new Uint8Array(IDL.encode([...METHODS[method].results], result.values)) });
      return result.instructions;
    } catch (e) {
      if (!(e instanceof CanisterError)) throw e;
      respond(rejectOf(e));
      return 0n;
    }
  }

  /** Answers raw_rand calls made in earlier rounds, from this round's random tape. */
  answerRawRand(state: ReplicatedState, randomness: () => Uint8Array, sink: MessageSink): void {
    const pending = state.pendingRawRand.splice(0);
    for (const request of pending) {
      const data = new Uint8Array(IDL.encode([...METHODS.raw_rand.results], [randomness()]));
      this.respondTo(request, { kind: 'reply', data }, sink);
    }
  }

  /** Canisters that were stopping and have no open call contexts become stopped. */
  completeStops(state: ReplicatedState, sink: MessageSink): void {
    for (const canister of state.canisters()) {
      if (canister.status !== 'stopping' || canister.hasOpenCallContexts()) continue;
      canister.status = 'stopped';
      canister.version++;
      for (const request of canister.stopRequests.splice(0)) {
        this.respondTo(request, { kind: 'reply', data: new Uint8Array(IDL.encode([], [])) }, sink);
      }
    }
  }

  private dispatch(
    state: ReplicatedState, method: ManagementMethod, a: Args, req: Request, sink: MessageSink,
    takeCycles: (n: bigint) => void,
  ): { values: unknown[]; instructions: bigint } | 'deferred' {
    const done = (values: unknown[] = [], instructions = 0n) => ({ values, instructions });
    const caller = req.sender;
    switch (method) {
      case 'create_canister': {
        if (req.origin.kind === 'ingress') {
          throw new CanisterError(ErrorCode.CanisterRejectedMessage,
            'create_canister can only be called by other canisters; users call provisional_create_canister_with_cycles or use the cycles ledger');
        }
        const fee = this.env.fees.createCanisterCost();
        if (req.cycles < fee) {
          throw new CanisterError(ErrorCode.InsufficientCyclesForCreateCanister,
            `Creating a canister requires a fee of ${fee} that is deducted from the canister's initial balance but only ${req.cycles} cycles were received with the create_canister request.`);
        }
        // Created first: if there is no id left, the cycles go back with the reject.
        const c = this.create(state, caller, a.settings?.[0], req.cycles - fee);
        takeCycles(req.cycles);
        recordBurn(state, c, 'canister_creation', fee);
        return done([{ canister_id: c.id }]);
      }
      case 'provisional_create_canister_with_cycles': {
        const amount = a.amount?.length ? BigInt(a.amount[0]) : this.defaultProvisionalCycles;
        if (a.specified_id?.length) {
          const id = a.specified_id[0] as Principal;
          if (state.canister(id)) {
            throw new CanisterError(ErrorCode.CanisterIdAlreadyExists, `Canister ${id.toText()} is already installed.`);
          }
        }
        state.cyclesMinted += amount;
        const c = this.create(state, caller, a.settings?.[0], amount, a.specified_id?.[0]);
        return done([{ canister_id: c.id }]);
      }
      case 'provisional_top_up_canister': {
        const c = this.canister(state, a.canister_id);
        const amount = BigInt(a.amount);
        c.balance += amount;
        state.cyclesMinted += amount;
        return done();
      }
      case 'deposit_cycles': {
        const c = this.canister(state, a.canister_id);
        c.balance += req.cycles;
        takeCycles(req.cycles);
        return done();
      }
      case 'raw_rand': {
        if (req.origin.kind === 'ingress') {
          throw new CanisterError(ErrorCode.CanisterRejectedMessage, 'raw_rand can only be called by canisters');
        }
        state.pendingRawRand.push(req);
        return 'deferred';
      }
      case 'canister_status': {
        const c = this.controlled(state, a.canister_id, caller);
        return done([this.status(c)]);
      }
      case 'canister_info': {
        if (req.origin.kind === 'ingress') {
          throw new CanisterError(ErrorCode.CanisterRejectedMessage, 'canister_info can only be called by canisters');
        }
        const c = this.canister(state, a.canister_id);
        const n = a.num_requested_changes?.length ? Number(a.num_requested_changes[0]) : 0;
        return done([{
          total_num_changes: c.totalChanges,
          recent_changes: c.history.slice(Math.max(0, c.history.length - n)).map(encodeChange),
          module_hash: c.moduleHash ? [c.moduleHash] : [],
          controllers: c.settings.controllers,
        }]);
      }
      case 'update_settings': {
        const c = this.controlled(state, a.canister_id, caller);
        const before = c.settings.controllers;
        const next = { ...c.settings };
        applySettings(next, a.settings);
        c.settings = next;
        c.version++;
        if (next.controllers !== before) {
          c.recordChange({ timestampNanos: state.time, canisterVersion: c.version, origin: originOf(req), details: { kind: 'controllers_change', controllers: next.controllers } });
        }
        return done();
      }
      case 'install_code':
      case 'install_chunked_code': {
        // Checked now, run as the canister's next execution (in slices), answered when done.
        const { canister, install } = decodeInstall(state, req);
        this.env.checkInstall(canister, install);
        canister.scheduler.pendingInstall = req;
        return 'deferred';
      }
      case 'uninstall_code': {
        const c = this.controlled(state, a.canister_id, caller);
        this.env.uninstall(c, sink);
        c.recordChange({ timestampNanos: state.time, canisterVersion: c.version, origin: originOf(req), details: { kind: 'code_uninstall' } });
        return done();
      }
      case 'upload_chunk': {
        const c = this.controlled(state, a.canister_id, caller);
        const chunk = new Uint8Array(a.chunk);
        if (chunk.length > MAX_CHUNK_BYTES) throw invalidArg(`Chunk of ${chunk.length} bytes exceeds the maximum chunk size of ${MAX_CHUNK_BYTES} bytes`);
        const hash = sha256(chunk);
        const key = bytesToHex(hash);
        if (!c.chunkStore.has(key) && c.chunkStore.size >= MAX_CHUNKS) {
          throw invalidArg(`The chunk store of ${c.idText} is full (${MAX_CHUNKS} chunks)`);
        }
        c.chunkStore.set(key, chunk);
        return done([{ hash }]);
      }
      case 'clear_chunk_store': {
        this.controlled(state, a.canister_id, caller).chunkStore.clear();
        return done();
      }
      case 'stored_chunks': {
        const c = this.controlled(state, a.canister_id, caller);
        return done([[...c.chunkStore.keys()].sort().map((h) => ({ hash: hexToBytes(h) }))]);
      }
      case 'start_canister': {
        const c = this.controlled(state, a.canister_id, caller);
        if (c.status === 'stopping') {
          for (const r of c.stopRequests.splice(0)) {
            const e = new CanisterError(ErrorCode.CanisterStoppingCancelled, `Canister ${c.idText}'s stop request was cancelled by a start request.`);
            this.respondTo(r, rejectOf(e), sink);
          }
        }
        if (c.status !== 'running') c.version++;
        c.status = 'running';
        return done();
      }
      case 'stop_canister': {
        const c = this.controlled(state, a.canister_id, caller);
        if (c.status === 'stopped') return done();
        if (c.status === 'running') {
          c.status = 'stopping';
          c.version++;
        }
        c.stopRequests.push(req);
        return 'deferred';
      }
      case 'delete_canister': {
        const c = this.controlled(state, a.canister_id, caller);
        if (c.status !== 'stopped') {
          throw new CanisterError(ErrorCode.CanisterNotStopped, `Canister ${c.idText} must be stopped before it is deleted.`);
        }
        if (c.id.compareTo(caller) === 'eq') {
          throw new CanisterError(ErrorCode.CanisterRejectedMessage, `Canister ${c.idText} cannot delete itself.`);
        }
        // Messages still queued get an answer (and their cycles back) rather than vanishing.
        for (const m of c.inputQueue.splice(0)) {
          if (m.kind === 'request') {
            const e = new CanisterError(ErrorCode.CanisterNotFound, `Canister ${c.idText} was deleted before it executed this call`);
            this.respondTo(m, rejectOf(e), sink, c.id);
          } else {
            state.cyclesBurned += m.refund;
            c.burn('deletion', m.refund);
          }
        }
        state.cyclesBurned += c.balance;
        c.burn('deletion', c.balance);
        c.balance = 0n;
        state.removeCanister(c.id);
        this.env.evict(c.idText);
        return done();
      }
      case 'take_canister_snapshot': {
        const c = this.controlled(state, a.canister_id, caller);
        const snap = takeSnapshot(c, { now: state.time, replace: a.replace_snapshot?.[0] ? new Uint8Array(a.replace_snapshot[0]) : undefined });
        return done([{ id: snap.id, taken_at_timestamp: snap.takenAtNanos, total_size: snapshotSize(snap) }]);
      }
      case 'load_canister_snapshot': {
        const c = this.controlled(state, a.canister_id, caller);
        const id = new Uint8Array(a.snapshot_id);
        const owner = snapshotOwner(id);
        const source = owner && state.canister(owner);
        if (!source) {
          throw new CanisterError(ErrorCode.CanisterSnapshotNotFound, `Could not find the snapshot ID ${bytesToHex(id)} for canister ${c.idText}.`);
        }
        if (source !== c) this.controlled(state, source.id, caller);
        if (c.scheduler.paused) {
          throw new CanisterError(ErrorCode.CanisterRejectedMessage, `Canister ${c.idText} has a long execution in progress; load the snapshot again once it completes.`);
        }
        const snap = loadSnapshot(c, source, id, { evict: (x) => this.env.evict(x) });
        c.version++;
        c.recordChange({
          timestampNanos: state.time, canisterVersion: c.version, origin: originOf(req),
          details: { kind: 'load_snapshot', canisterVersion: snap.canisterVersion, snapshotId: snap.id, takenAtNanos: snap.takenAtNanos },
        });
        return done();
      }
      case 'list_canister_snapshots': {
        const c = this.controlled(state, a.canister_id, caller);
        return done([listSnapshots(c).map((snap) => ({ id: snap.id, taken_at_timestamp: snap.takenAtNanos, total_size: snapshotSize(snap) }))]);
      }
      case 'delete_canister_snapshot': {
        const c = this.controlled(state, a.canister_id, caller);
        deleteSnapshot(c, new Uint8Array(a.snapshot_id));
        return done();
      }
      case 'fetch_canister_logs':
        throw new CanisterError(ErrorCode.CanisterRejectedMessage,
          'fetch_canister_logs can only be called as a query (non-replicated), not in replicated mode');
    }
  }

  /** Answers a request by its origin: the ingress history or the calling canister's queue. */
  private respondTo(
    request: Request, payload: ResponsePayload, sink: MessageSink,
    respondent: Principal = Principal.managementCanister(), refund: bigint = request.cycles,
  ): void {
    if (request.origin.kind === 'ingress') sink.ingressResult(request.origin, payload, respondent);
    else {
      sink.response({
        kind: 'response', originator: request.sender, respondent, callbackId: request.origin.callbackId, payload, refund,
      });
    }
  }

  private create(state: ReplicatedState, caller: Principal, settings: Args | undefined, cycles: bigint, specified?: Principal): CanisterState {
    const id = specified ?? state.allocateCanisterId();
    if (!id) throw new CanisterError(ErrorCode.MaxNumberOfCanistersReached, 'The subnet has no canister ids left in its range.');
    const s = defaultSettings([caller]);
    if (settings) applySettings(s, settings);
    const c = new CanisterState(id, s, cycles);
    state.addCanister(c);
    c.recordChange({
      timestampNanos: state.time, canisterVersion: 0n,
      origin: { kind: isCanisterId(caller) ? 'canister' : 'user', id: caller },
      details: { kind: 'creation', controllers: s.controllers },
    });
    return c;
  }

  private canister(state: ReplicatedState, id: Principal): CanisterState {
    const c = state.canister(id);
    if (!c) throw new CanisterError(ErrorCode.CanisterNotFound, `Canister ${id.toText()} not found`);
    return c;
  }

  private controlled(state: ReplicatedState, id: Principal, caller: Principal): CanisterState {
    return controlledCanister(state, id, caller);
  }


  private status(c: CanisterState): Args {
    const s = c.settings;
    const heap = BigInt(c.execution?.heap.sizeBytes ?? 0);
    const stable = BigInt(c.stable.sizeBytes);
    const binary = BigInt(c.execution?.module.info.wasmBytes ?? 0);
    const chunks = [...c.chunkStore.values()].reduce((n, ch) => n + BigInt(ch.length), 0n);
    return {
      status: { [c.status]: null },
      ready_for_migration: false,
      version: c.version,
      settings: {
        controllers: s.controllers,
        compute_allocation: s.computeAllocation,
        memory_allocation: s.memoryAllocation,
        freezing_threshold: s.freezingThreshold,
        reserved_cycles_limit: s.reservedCyclesLimit,
        minimum_incoming_canister_call_cycles: 0n,
        log_memory_limit: BigInt(MAX_LOG_BYTES),
        snapshot_visibility: { controllers: null },
        status_visibility: { controllers: null },
        log_visibility: s.logVisibility.kind === 'allowed_viewers'
          ? { allowed_viewers: s.logVisibility.principals } : { [s.logVisibility.kind]: null },
        wasm_memory_limit: s.wasmMemoryLimit,
        wasm_memory_threshold: s.wasmMemoryThreshold,
        environment_variables: s.environmentVariables.map(([name, value]) => ({ name, value })),
      },
      module_hash: c.moduleHash ? [c.moduleHash] : [],
      memory_size: c.memoryUsage() + snapshotsSize(c),
      memory_metrics: {
        wasm_memory_size: heap,
        stable_memory_size: stable,
        global_memory_size: BigInt((c.execution?.globals.length ?? 0) * 8),
        wasm_binary_size: binary,
        custom_sections_size: 0n,
        canister_history_size: BigInt(c.history.length * 64),
        wasm_chunk_store_size: chunks,
        snapshots_size: snapshotsSize(c),
        // The canister log buffer (fetch_canister_logs), a field newer clients (icp-cli) require.
        log_memory_store_size: c.logs.reduce((n, r) => n + BigInt(r.content.length), 0n),
      },
      cycles: c.balance,
      reserved_cycles: 0n,
      idle_cycles_burned_per_day: this.env.fees.idleCyclesBurnedPerDay(c),
      query_stats: { num_calls_total: 0n, num_instructions_total: 0n, request_payload_bytes_total: 0n, response_payload_bytes_total: 0n },
    };
  }
}

/** Canister ids end in 0x01; self-authenticating user ids in 0x02, anonymous is 0x04. */
function isCanisterId(p: Principal): boolean {
  const b = p.toUint8Array();
  return b.length > 0 && b[b.length - 1] === 1;
}

function originOf(req: Request): { kind: 'user' | 'canister'; id: Principal } {
  return { kind: req.origin.kind === 'canister' ? 'canister' : 'user', id: req.sender };
}

function encodeChange(ch: CanisterState['history'][number]): Args {
  const origin = ch.origin.kind === 'user'
    ? { from_user: { user_id: ch.origin.id } }
    : { from_canister: { canister_id: ch.origin.id, canister_version: [] } };
  const d = ch.details;
  const details = d.kind === 'creation' ? { creation: { controllers: d.controllers, environment_variables_hash: [] } }
    : d.kind === 'code_uninstall' ? { code_uninstall: null }
    : d.kind === 'code_deployment' ? { code_deployment: { mode: { [d.mode]: null }, module_hash: d.moduleHash } }
    : d.kind === 'load_snapshot'
      ? { load_snapshot: { canister_version: d.canisterVersion, snapshot_id: d.snapshotId, taken_at_timestamp: d.takenAtNanos, source: { taken_from_canister: null } } }
    : { controllers_change: { controllers: d.controllers } };
  return { timestamp_nanos: ch.timestampNanos, canister_version: ch.canisterVersion, origin, details };
}


function hexToBytes(hex: string): Uint8Array {
  return Uint8Array.from(hex.match(/../g)!.map((h) => parseInt(h, 16)));
}

/**
 * The effective canister id of a management call (interface spec, "Effective canister id"):
 * the canister the call is about, or undefined for calls that name none.
 */
export function effectiveCanisterId(method: string, arg: Uint8Array): Principal | undefined {
  if (!isManagementMethod(method) || method === 'raw_rand') return undefined;
  try {
    const a = decodeManagementArgs(method, arg) as Args | undefined;
    if (!a) return undefined;
    if (a.canister_id instanceof Principal) return a.canister_id;
    if (a.target_canister instanceof Principal) return a.target_canister;
    if (a.specified_id?.[0] instanceof Principal) return a.specified_id[0];
  } catch {
    return undefined;
  }
  return undefined;
}

