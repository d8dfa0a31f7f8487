// Executes messages on canisters: one function per kind of message, each following the IC's
// shape — check, prepay, run in the sandbox, settle cycles, commit or roll back, route outputs.
// The caller (the scheduler) decides the order; everything here is deterministic given it.

import { Principal } from '@icp-sdk/core/principal';
import { CanisterError, ErrorCode, RejectCode, formatErrorCode } from '../errors.js';
import {
  CanisterState,
  PageMap,
  type CallContext,
  type CallOrigin,
  type CanisterMessage,
  type ReplicatedState,
  type Request,
  type Response,
  type ResponsePayload,
} from '../state/index.js';
import type { ApiContext, ApiOutcome, CanisterView, MessageInput } from '../system-api/index.js';
import { InvalidWasmError, ModuleCache, decodeCanisterWasm, type CompiledCanisterModule } from '../wasm/index.js';
import { Charging, type ExecutionFees } from './charging.js';
import { Sandbox, type EntryPoint, type SandboxLimits, type SandboxResult } from './sandbox.js';
import { DEFAULT_EXECUTION_CONFIG, type ExecutionConfig, type MessageSink, type QueryResult } from './types.js';

const MAX_LOG_BYTES = 64 * 1024;
const utf8 = new TextDecoder();

export type InstallMode = 'install' | 'reinstall' | 'upgrade';

export interface InstallRequest {
  readonly mode: InstallMode;
  readonly wasm: Uint8Array;
  readonly arg: Uint8Array;
  readonly caller: Principal;
  readonly skipPreUpgrade?: boolean;
}

export interface SubnetContext {
  readonly subnetId: Principal;
  rootKey(): Uint8Array;
}

export class ExecutionEnvironment {
  private readonly sandboxes = new Map<string, Sandbox>();
  readonly charging: Charging;

  constructor(
    readonly subnet: SubnetContext,
    readonly fees: ExecutionFees,
    readonly config: ExecutionConfig = DEFAULT_EXECUTION_CONFIG,
    readonly modules: ModuleCache = new ModuleCache(),
  ) {
    this.charging = new Charging(fees);
  }

  // ---- replicated execution ------------------------------------------------------------------

  /** Executes one message from a canister's input queue; returns the instructions it used. */
  executeMessage(state: ReplicatedState, canister: CanisterState, message: CanisterMessage, sink: MessageSink): bigint {
    return message.kind === 'request'
      ? this.executeRequest(state, canister, message, sink)
      : this.executeResponse(state, canister, message, sink);
  }

  private executeRequest(state: ReplicatedState, canister: CanisterState, request: Request, sink: MessageSink): bigint {
    const ctx = this.openCallContext(canister, request.origin, request.method, request.cycles);
    const refuse = (error: CanisterError) => {
      this.respond(canister, ctx, rejectOf(error), sink);
      return 0n;
    };
    if (canister.status !== 'running') return refuse(notRunning(canister));
    const exec = canister.execution;
    if (!exec) return refuse(emptyCanister(canister));
    const methods = exec.module.info.methods;
    let context: ApiContext;
    let exportName: string;
    if (methods.update.includes(request.method)) [context, exportName] = ['U', `canister_update ${request.method}`];
    else if (methods.query.includes(request.method)) [context, exportName] = ['RQ', `canister_query ${request.method}`];
    else if (methods.compositeQuery.includes(request.method)) {
      return refuse(new CanisterError(ErrorCode.CompositeQueryCalledInReplicatedMode,
        `Error from Canister ${canister.idText}: Composite query cannot be called in replicated mode`));
    } else {
      return refuse(new CanisterError(ErrorCode.CanisterMethodNotFound,
        `Error from Canister ${canister.idText}: Canister has no update method '${request.method}'.`));
    }
    const limit = this.config.instructions.update;
    const prepaid = this.charging.prepay(canister, limit);
    if (prepaid === undefined) return refuse(outOfCycles(canister, this.charging.shortfall(canister, limit)));

    const input: MessageInput = {
      context, caller: request.sender.toUint8Array(), arg: request.arg, cyclesAvailable: ctx.cyclesAvailable,
      cyclesRefunded: 0n, rejectCode: 0, deadline: request.origin.kind === 'canister' ? request.origin.deadline : 0n,
      needsResponse: true, replicated: true,
    };
    const result = this.run(state, canister, { kind: 'export', name: exportName }, input, limit);
    this.settle(state, canister, prepaid, result.instructions);
    ctx.instructions += result.instructions;
    if (!result.ok) {
      this.respond(canister, ctx, rejectOf(withCanister(canister, result.error)), sink);
      return result.instructions;
    }
    this.commit(state, canister, ctx, result, sink);
    this.closeIfDone(canister, ctx, sink);
    return result.instructions;
  }

  private executeResponse(state: ReplicatedState, canister: CanisterState, response: Response, sink: MessageSink): bigint {
    const callback = canister.callbacks.get(response.callbackId);
    if (!callback) return 0n; // A late response to a callback that no longer exists is dropped.
    canister.callbacks.delete(callback.id);
    canister.balance += response.refund + callback.reservation;
    const ctx = canister.callContexts.get(callback.callContextId);
    const exec = canister.execution;
    if (!ctx || !exec) return 0n;

    const isReply = response.payload.kind === 'reply';
    const limit = this.config.instructions.update;
    const prepaid = this.charging.prepay(canister, limit);
    if (prepaid === undefined) {
      // The IC keeps the response until the canister can pay; we close the context instead of losing it.
      this.closeIfDone(canister, ctx, sink, outOfCycles(canister, this.charging.shortfall(canister, limit)));
      return 0n;
    }
    const input: MessageInput = {
      context: isReply ? 'Ry' : 'Rt',
      caller: ctx.origin.kind === 'canister' ? ctx.origin.caller.toUint8Array()
        : ctx.origin.kind === 'ingress' ? ctx.origin.sender.toUint8Array() : Principal.managementCanister().toUint8Array(),
      arg: response.payload.kind === 'reply' ? response.payload.data : new Uint8Array(0),
      cyclesAvailable: ctx.cyclesAvailable,
      cyclesRefunded: response.refund,
      rejectCode: response.payload.kind === 'reject' ? response.payload.code : 0,
      rejectMessage: response.payload.kind === 'reject' ? response.payload.message : undefined,
      deadline: callback.deadline,
      needsResponse: !ctx.responded && ctx.origin.kind !== 'system',
      replicated: true,
    };
    const closure = isReply ? callback.reply : callback.reject;
    const result = this.run(state, canister, { kind: 'callback', fn: closure.fn, env: closure.env }, input, limit);
    this.settle(state, canister, prepaid, result.instructions);
    ctx.instructions += result.instructions;
    let used = result.instructions;
    if (result.ok) {
      this.commit(state, canister, ctx, result, sink);
      this.closeIfDone(canister, ctx, sink);
      return used;
    }
    if (callback.cleanup) used += this.runCleanup(state, canister, ctx, callback.cleanup, input, sink);
    this.closeIfDone(canister, ctx, sink, withCanister(canister, result.error));
    return used;
  }

  private runCleanup(
    state: ReplicatedState, canister: CanisterState, ctx: CallContext,
    cleanup: { fn: number; env: number }, input: MessageInput, sink: MessageSink,
  ): bigint {
    const limit = this.config.instructions.cleanup;
    const prepaid = this.charging.prepay(canister, limit);
    if (prepaid === undefined) return 0n;
    const result = this.run(state, canister, { kind: 'callback', ...cleanup },
      { ...input, context: 'C', needsResponse: false, cyclesAvailable: 0n }, limit);
    this.settle(state, canister, prepaid, result.instructions);
    if (result.ok) this.commit(state, canister, ctx, result, sink);
    return result.instructions;
  }

  /** Heartbeat or global timer: a system task with no caller waiting. */
  executeTask(state: ReplicatedState, canister: CanisterState, task: 'heartbeat' | 'global_timer', sink: MessageSink): bigint {
    const exec = canister.execution;
    if (!exec || canister.status !== 'running') return 0n;
    const exportName = task === 'heartbeat' ? 'canister_heartbeat' : 'canister_global_timer';
    if (!(task === 'heartbeat' ? exec.module.info.systemMethods.heartbeat : exec.module.info.systemMethods.globalTimer)) return 0n;
    const limit = this.config.instructions.update;
    const prepaid = this.charging.prepay(canister, limit);
    if (prepaid === undefined) return 0n;
    const ctx = this.openCallContext(canister, { kind: 'system' }, exportName, 0n);
    const result = this.run(state, canister, { kind: 'export', name: exportName }, {
      context: 'T', caller: Principal.managementCanister().toUint8Array(), arg: new Uint8Array(0),
      cyclesAvailable: 0n, cyclesRefunded: 0n, rejectCode: 0, deadline: 0n, needsResponse: false, replicated: true,
    }, limit);
    this.settle(state, canister, prepaid, result.instructions);
    if (result.ok) this.commit(state, canister, ctx, result, sink);
    else this.appendLog(state, canister, `[TRAP]: ${result.error.message}`);
    this.closeIfDone(canister, ctx, sink);
    return result.instructions;
  }

  // ---- non-replicated execution --------------------------------------------------------------

  /** A query on the current state; nothing it does persists. */
  executeQuery(
    state: ReplicatedState, canister: CanisterState, method: string, arg: Uint8Array, caller: Principal,
    certificate?: Uint8Array,
  ): QueryResult {
    const reject = (e: CanisterError, instructions = 0n): QueryResult => ({
      status: 'rejected', code: e.rejectCode, message: e.message, errorCode: e.errorCode, instructions,
    });
    if (canister.status !== 'running') return reject(notRunning(canister));
    const exec = canister.execution;
    if (!exec) return reject(emptyCanister(canister));
    const methods = exec.module.info.methods;
    const exportName = methods.query.includes(method) ? `canister_query ${method}`
      : methods.compositeQuery.includes(method) ? `canister_composite_query ${method}` : undefined;
    if (!exportName) {
      return reject(new CanisterError(ErrorCode.CanisterMethodNotFound,
        `Error from Canister ${canister.idText}: Canister has no query method '${method}'.`));
    }
    const limit = this.config.instructions.query;
    const result = this.run(state, canister, { kind: 'export', name: exportName }, {
      context: exportName.startsWith('canister_query') ? 'NRQ' : 'CQ', caller: caller.toUint8Array(), arg,
      cyclesAvailable: 0n, cyclesRefunded: 0n, rejectCode: 0, deadline: 0n, needsResponse: true, replicated: false,
    }, limit, false, certificate);
    if (!result.ok) return reject(withCanister(canister, result.error), result.instructions);
    const response = result.outcome.response;
    if (!response) {
      return reject(new CanisterError(ErrorCode.CanisterDidNotReply,
        `Error from Canister ${canister.idText}: Canister did not reply to the call`), result.instructions);
    }
    if (response.kind === 'reject') {
      return { status: 'rejected', code: RejectCode.CanisterReject, message: response.message, errorCode: formatErrorCode(ErrorCode.CanisterRejectedMessage), instructions: result.instructions };
    }
    return { status: 'replied', reply: response.data, instructions: result.instructions };
  }

  /** Runs canister_inspect_message for an ingress message; undefined if accepted. */
  inspectMessage(state: ReplicatedState, canister: CanisterState, method: string, arg: Uint8Array, caller: Principal): CanisterError | undefined {
    const exec = canister.execution;
    if (!exec) return emptyCanister(canister);
    if (!exec.module.info.systemMethods.inspectMessage) return undefined;
    const result = this.run(state, canister, { kind: 'export', name: 'canister_inspect_message' }, {
      context: 'F', caller: caller.toUint8Array(), arg, methodName: method, cyclesAvailable: 0n, cyclesRefunded: 0n,
      rejectCode: 0, deadline: 0n, needsResponse: false, replicated: false,
    }, this.config.instructions.inspectMessage, false);
    if (!result.ok) return withCanister(canister, result.error);
    if (!result.outcome.messageAccepted) {
      return new CanisterError(ErrorCode.CanisterRejectedMessage,
        `Error from Canister ${canister.idText}: Canister rejected the message`);
    }
    return undefined;
  }

  // ---- code installation (driven by the management canister) --------------------------------

  /** install_code: all or nothing. Returns the instructions used; throws CanisterError. */
  installCode(state: ReplicatedState, canister: CanisterState, req: InstallRequest, sink: MessageSink): bigint {
    const compiled = this.prepareModule(req.wasm);
    const old = canister.execution;
    if (req.mode === 'install' && old) {
      throw new CanisterError(ErrorCode.CanisterNonEmpty,
        `Canister ${canister.idText} cannot be installed because the canister is not empty. Try installing with mode='reinstall' instead.`);
    }
    if (req.mode === 'upgrade' && !old) {
      throw new CanisterError(ErrorCode.CanisterWasmModuleNotFound,
        `Error from Canister ${canister.idText}: Attempted to execute a message, but the canister contains no Wasm module.`);
    }
    const limit = this.config.instructions.install;
    const prepaid = this.charging.prepay(canister, limit);
    if (prepaid === undefined) throw outOfCycles(canister, this.charging.shortfall(canister, limit));

    const stableBackup = canister.stable;
    let used = 0n;
    const fail = (error: CanisterError, phase: string): never => {
      canister.stable = stableBackup;
      this.sandboxes.delete(canister.idText); // rebuilt from the persisted state on next use
      this.settle(state, canister, prepaid, used);
      throw new CanisterError(error.code, `Error from Canister ${canister.idText}: ${phase}: ${error.message}`, { cause: error });
    };
    const caller = req.caller.toUint8Array();
    const taskInput = (context: ApiContext, arg: Uint8Array): MessageInput => ({
      context, caller, arg, cyclesAvailable: 0n, cyclesRefunded: 0n, rejectCode: 0, deadline: 0n,
      needsResponse: false, replicated: true,
    });

    // Work on a copy of stable memory so that a failure anywhere leaves the canister untouched.
    let stable: PageMap = req.mode === 'upgrade' ? canister.stable.clone() : new PageMap();
    if (req.mode === 'upgrade' && old && old.module.info.systemMethods.preUpgrade && !req.skipPreUpgrade) {
      const sandbox = Sandbox.restore(old.module, { heap: old.heap, stable, globals: old.globals }, this.config.stableMemoryBytes);
      const r = sandbox.run({ kind: 'export', name: 'canister_pre_upgrade' }, taskInput('G', new Uint8Array(0)),
        this.view(state, canister), this.fees, this.limits(canister, limit - used), { heap: old.heap, stable, globals: old.globals });
      used += r.instructions;
      if (!r.ok) fail(r.error, 'Pre-upgrade failed');
      stable = sandbox.stable.pages;
    }
    const view = this.view(state, canister);
    const installed = Sandbox.install(compiled, stable, view, this.fees, this.limits(canister, limit - used));
    used += installed.instructions;
    if ('error' in installed) return fail(installed.error, 'Start function failed');
    const sandbox = installed.sandbox;
    const init = req.mode === 'upgrade' ? 'canister_post_upgrade' : 'canister_init';
    let outcome: ApiOutcome | undefined;
    if (sandbox.hasExport(init)) {
      const snap = sandbox.heapSnapshot();
      const r = sandbox.run({ kind: 'export', name: init }, taskInput('I', req.arg), view, this.fees,
        this.limits(canister, limit - used), { heap: snap.heap, stable, globals: snap.globals });
      used += r.instructions;
      if (!r.ok) return fail(r.error, req.mode === 'upgrade' ? 'Post-upgrade failed' : 'Init failed');
      outcome = r.outcome;
    }

    // Commit: the new module, its memories, and a fresh system state where the IC resets it.
    if (req.mode !== 'upgrade') this.rejectOpenCalls(canister, sink, 'Canister has been reinstalled.');
    const snap = sandbox.heapSnapshot();
    canister.execution = { module: compiled, heap: snap.heap, globals: snap.globals };
    canister.stable = stable;
    for (const index of stable.indices()) stable.dirty.add(index);
    canister.globalTimer = 0n;
    if (req.mode !== 'upgrade') canister.certifiedData = new Uint8Array(0);
    this.sandboxes.set(canister.idText, sandbox);
    if (outcome) this.applySystemState(state, canister, outcome);
    canister.version++;
    canister.installCount++;
    this.settle(state, canister, prepaid, used);
    return used;
  }

  /** uninstall_code (and running out of cycles): code and memories go, settings stay. */
  uninstall(canister: CanisterState, sink: MessageSink): void {
    this.rejectOpenCalls(canister, sink, 'Canister has been uninstalled.');
    canister.execution = undefined;
    canister.stable.clear();
    canister.stable = new PageMap();
    canister.certifiedData = new Uint8Array(0);
    canister.globalTimer = 0n;
    canister.version++;
    this.sandboxes.delete(canister.idText);
  }

  /** Forgets the live instance (canister deleted or state reloaded). */
  evict(canisterId: string): void {
    this.sandboxes.delete(canisterId);
  }

  prepareModule(wasm: Uint8Array): CompiledCanisterModule {
    try {
      return this.modules.prepare(decodeCanisterWasm(wasm, this.config.maxWasmBytes));
    } catch (e) {
      if (e instanceof InvalidWasmError) {
        throw new CanisterError(ErrorCode.CanisterInvalidWasm, `Error while installing: ${e.message}`, { cause: e });
      }
      throw e;
    }
  }

  // ---- internals -----------------------------------------------------------------------------

  private run(
    state: ReplicatedState, canister: CanisterState, entry: EntryPoint, input: MessageInput, limit: bigint,
    persist = true, certificate?: Uint8Array,
  ): SandboxResult {
    const exec = canister.execution!;
    const persisted = { heap: exec.heap, stable: canister.stable, globals: exec.globals };
    let sandbox = this.sandboxes.get(canister.idText);
    if (!sandbox || sandbox.compiled !== exec.module || sandbox.stable.pages !== canister.stable) {
      sandbox = Sandbox.restore(exec.module, persisted, this.config.stableMemoryBytes);
      this.sandboxes.set(canister.idText, sandbox);
    }
    const view = this.view(state, canister, certificate);
    return sandbox.run(entry, input, view, this.fees, this.limits(canister, limit), persisted, persist);
  }

  private view(state: ReplicatedState, canister: CanisterState, certificate?: Uint8Array): CanisterView {
    return {
      canisterId: canister.id.toUint8Array(),
      controllers: canister.settings.controllers.map((c) => c.toUint8Array()),
      status: canister.status === 'running' ? 1 : canister.status === 'stopping' ? 2 : 3,
      version: canister.version,
      balance: canister.balance,
      frozenReserve: this.fees.freezingThreshold(canister),
      globalTimer: canister.globalTimer,
      certificate,
      envVars: canister.settings.environmentVariables,
      subnetId: this.subnet.subnetId.toUint8Array(),
      rootKey: this.subnet.rootKey(),
      time: state.time,
    };
  }

  private limits(canister: CanisterState, instructions: bigint): SandboxLimits {
    const wasmLimit = canister.settings.wasmMemoryLimit > 0n ? canister.settings.wasmMemoryLimit : 4n << 30n;
    return {
      instructions,
      wasmMemoryBytes: Number(wasmLimit < 4n << 30n ? wasmLimit : 4n << 30n),
      stableMemoryBytes: this.config.stableMemoryBytes,
    };
  }

  private settle(state: ReplicatedState, canister: CanisterState, prepaid: bigint, used: bigint): void {
    state.cyclesBurned += this.charging.settle(canister, prepaid, used);
  }

  private openCallContext(canister: CanisterState, origin: CallOrigin, method: string, cycles: bigint): CallContext {
    const ctx: CallContext = { id: canister.nextCallContextId++, origin, method, cyclesAvailable: cycles, responded: false, instructions: 0n };
    canister.callContexts.set(ctx.id, ctx);
    return ctx;
  }

  /** Applies a successful execution: memories, system state, outgoing calls, the response. */
  private commit(state: ReplicatedState, canister: CanisterState, ctx: CallContext, result: Extract<SandboxResult, { ok: true }>, sink: MessageSink): void {
    const exec = canister.execution!;
    exec.heap.sizeBytes = result.heap.sizeBytes;
    for (const p of result.heap.pages) exec.heap.setPage(p.index, p.bytes);
    exec.globals = [...result.globals];
    canister.stable.sizeBytes = result.stable.sizeBytes;
    if (canister.stable !== this.sandboxes.get(canister.idText)?.stable.pages) {
      for (const p of result.stable.pages) canister.stable.setPage(p.index, p.bytes);
    } else {
      for (const p of result.stable.pages) canister.stable.dirty.add(p.index);
    }
    const o = result.outcome;
    ctx.cyclesAvailable -= o.cyclesAccepted;
    this.applySystemState(state, canister, o);
    for (const call of o.calls) {
      const id = canister.nextCallbackId++;
      const deadline = call.timeoutSeconds === undefined ? 0n : state.time + BigInt(call.timeoutSeconds) * 1_000_000_000n;
      canister.callbacks.set(id, {
        id, callContextId: ctx.id, callee: Principal.fromUint8Array(call.callee), reply: call.reply, reject: call.reject,
        cleanup: call.cleanup, cyclesSent: call.cycles, reservation: call.reservation, deadline,
      });
      canister.burn('call', call.fee);
      state.cyclesBurned += call.fee;
      sink.request({
        kind: 'request', sender: canister.id, receiver: Principal.fromUint8Array(call.callee), method: call.method,
        arg: call.arg, cycles: call.cycles, origin: { kind: 'canister', caller: canister.id, callbackId: id, deadline },
      });
    }
    if (o.response) {
      this.respond(canister, ctx, o.response.kind === 'reply'
        ? { kind: 'reply', data: o.response.data }
        : { kind: 'reject', code: RejectCode.CanisterReject, message: o.response.message, errorCode: formatErrorCode(ErrorCode.CanisterRejectedMessage) }, sink);
    }
    canister.version++;
  }

  private applySystemState(state: ReplicatedState, canister: CanisterState, o: ApiOutcome): void {
    canister.balance = o.balance;
    if (o.cyclesBurned > 0n) {
      canister.burn('cycles_burn', o.cyclesBurned);
      state.cyclesBurned += o.cyclesBurned;
    }
    if (o.certifiedData) canister.certifiedData = o.certifiedData;
    if (o.globalTimer !== undefined) canister.globalTimer = o.globalTimer;
    for (const line of o.logs) this.appendLog(state, canister, line);
  }

  appendLog(state: ReplicatedState, canister: CanisterState, line: Uint8Array | string): void {
    const content = typeof line === 'string' ? new TextEncoder().encode(line) : line;
    canister.logs.push({ idx: canister.nextLogIdx++, timestampNanos: state.time, content });
    let total = canister.logs.reduce((n, r) => n + r.content.length, 0);
    while (total > MAX_LOG_BYTES && canister.logs.length > 1) total -= canister.logs.shift()!.content.length;
  }

  /** Sends a response for a call context (once) and forgets it when no callback is left. */
  private respond(canister: CanisterState, ctx: CallContext, payload: ResponsePayload, sink: MessageSink): void {
    if (ctx.responded) return;
    ctx.responded = true;
    const origin = ctx.origin;
    if (origin.kind === 'ingress') sink.ingressResult(origin.messageId, payload, canister.id);
    else if (origin.kind === 'canister') {
      sink.response({
        kind: 'response', originator: origin.caller, respondent: canister.id, callbackId: origin.callbackId,
        payload, refund: ctx.cyclesAvailable,
      });
    }
    ctx.cyclesAvailable = 0n;
    this.forgetIfClosed(canister, ctx);
  }

  /**
   * After the last callback of a call context ran: a context that never responded gets the
   * error of the failed callback, or "did not reply".
   */
  private closeIfDone(canister: CanisterState, ctx: CallContext, sink: MessageSink, error?: CanisterError): void {
    if (this.hasCallbacks(canister, ctx.id)) return;
    if (!ctx.responded && ctx.origin.kind !== 'system') {
      const e = error ?? new CanisterError(ErrorCode.CanisterDidNotReply,
        `Error from Canister ${canister.idText}: Canister did not produce a response`);
      this.respond(canister, ctx, rejectOf(e), sink);
    }
    this.forgetIfClosed(canister, ctx);
  }

  private forgetIfClosed(canister: CanisterState, ctx: CallContext): void {
    if ((ctx.responded || ctx.origin.kind === 'system') && !this.hasCallbacks(canister, ctx.id)) canister.callContexts.delete(ctx.id);
  }

  private hasCallbacks(canister: CanisterState, callContextId: number): boolean {
    for (const cb of canister.callbacks.values()) if (cb.callContextId === callContextId) return true;
    return false;
  }

  private rejectOpenCalls(canister: CanisterState, sink: MessageSink, message: string): void {
    const ids = [...canister.callContexts.keys()].sort((a, b) => a - b);
    canister.callbacks.clear();
    for (const id of ids) {
      const ctx = canister.callContexts.get(id)!;
      if (!ctx.responded && ctx.origin.kind !== 'system') {
        this.respond(canister, ctx, { kind: 'reject', code: RejectCode.CanisterReject, message, errorCode: formatErrorCode(ErrorCode.CanisterRejectedMessage) }, sink);
      }
      canister.callContexts.delete(id);
    }
  }
}

export function rejectOf(e: CanisterError): ResponsePayload {
  return { kind: 'reject', code: e.rejectCode, message: e.message, errorCode: e.errorCode };
}

function withCanister(canister: CanisterState, e: CanisterError): CanisterError {
  if (e.message.startsWith('Error from Canister')) return e;
  return new CanisterError(e.code, `Error from Canister ${canister.idText}: ${e.message}`, { cause: e });
}

function notRunning(canister: CanisterState): CanisterError {
  return canister.status === 'stopped'
    ? new CanisterError(ErrorCode.CanisterStopped, `Canister ${canister.idText} is stopped and therefore does not have a CallContextManager`)
    : new CanisterError(ErrorCode.CanisterStopping, `Canister ${canister.idText} is stopping`);
}

export function emptyCanister(canister: CanisterState): CanisterError {
  return new CanisterError(ErrorCode.CanisterWasmModuleNotFound,
    `Error from Canister ${canister.idText}: Attempted to execute a message, but the canister contains no Wasm module.`);
}

export function outOfCycles(canister: CanisterState, shortfall: bigint): CanisterError {
  return new CanisterError(ErrorCode.CanisterOutOfCycles,
    `Canister ${canister.idText} is out of cycles: please top up the canister with at least ${shortfall > 0n ? shortfall : 0n} additional cycles`);
}

export function logText(bytes: Uint8Array): string {
  return utf8.decode(bytes);
}
