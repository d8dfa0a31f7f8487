// Executes messages on canisters, in two halves around the sandbox run so that the run can happen
// on another thread: `prepare` checks the message and builds the sandbox job without changing the
// state; `finish` (or `begin` for the first slice of a long execution) settles cycles, commits or
// rolls back, and routes the outputs. Only the main thread calls these; everything they do is
// deterministic given the order the scheduler calls them in.

import { Principal } from '@icp-sdk/core/principal';
import { CanisterError, ErrorCode, RejectCode, formatErrorCode } from '../errors.js';
import {
  CanisterState,
  PageMap,
  type CallContext,
  type CallOrigin,
  type ReplicatedState,
  type Request,
  type Response,
  type ResponsePayload,
} from '../state/index.js';
import type { CallerInfo, Callback, ExecutionWork as Work, SystemTask } from '../state/types.js';
import type { ApiContext, ApiOutcome, CanisterView, MessageInput } from '../system-api/index.js';
import { InvalidWasmError, ModuleCache, decodeCanisterWasm, type CompiledCanisterModule } from '../wasm/index.js';
import { Charging, FreezingThresholds, type ExecutionFees } from './charging.js';
import { InProcessSandboxHost, type SandboxHost } from './host.js';
import { idOf } from './ids.js';
import { sandboxModule, type JobResult, type SandboxJob } from './job.js';
import type { EntryPoint, SandboxLimits, SandboxResult } from './sandbox.js';
import { DEFAULT_EXECUTION_CONFIG, type ExecutionConfig, type MessageSink, type QueryResult } from './types.js';
import { changeOrigin, decodeInstall, installReply, respondToManagementCall, type InstallRequest } from '../management/install-code.js';
import type { Registry } from '../registry/index.js';

/** Bytes of canister log records kept per canister (older records are dropped first). */
export const MAX_LOG_BYTES = 64 * 1024;
const utf8 = new TextDecoder();
const MANAGEMENT_BYTES = Principal.managementCanister().toUint8Array();

export type { InstallMode, InstallRequest } from '../management/install-code.js';

export interface SubnetContext {
  readonly subnetId: Principal;
  rootKey(): Uint8Array;
  /** Where canisters of other subnets are (calls to them go into streams); absent: this subnet only. */
  readonly registry?: Registry;
}

export type { SystemTask, ExecutionWork as Work } from '../state/types.js';

/**
 * A prepared execution: the job to run (if any) and what `finish` needs. Nothing of the state
 * has changed yet; an execution the round has no room for is simply dropped and prepared again.
 */
export interface PreparedExecution {
  readonly canister: CanisterState;
  readonly work: Work;
  readonly job: SandboxJob | undefined;
  /** Cycles taken for the execution before it runs (0 without a job). */
  readonly prepaid: bigint;
  readonly plan: Plan;
}

type Plan =
  /** A request refused before running code: a call context is opened and rejected. */
  | { readonly kind: 'refuse'; readonly error: CanisterError }
  /** A response whose callback is gone: dropped. */
  | { readonly kind: 'drop' }
  /** A response whose call context or code is gone: the callback is consumed, its cycles kept. */
  | { readonly kind: 'consume'; readonly callback: Callback; readonly response: Response }
  /** A response the canister cannot pay to execute: the call context is closed with the error. */
  | { readonly kind: 'unpayable'; readonly callback: Callback; readonly response: Response; readonly error: CanisterError }
  /** A task with nothing to run (no export, no cycles, not running). */
  | { readonly kind: 'skip' }
  | { readonly kind: 'request'; readonly request: Request }
  | { readonly kind: 'response'; readonly response: Response; readonly callback: Callback }
  | { readonly kind: 'task'; readonly task: SystemTask }
  /** install_code: the job runs all its phases; `finishInstall` commits or answers the error. */
  | { readonly kind: 'install'; readonly request: Request; readonly install: InstallRequest; readonly compiled: CompiledCanisterModule; readonly limit: bigint }
  /** install_code refused before running code: the management call gets the error. */
  | { readonly kind: 'installRefused'; readonly request: Request; readonly error: CanisterError };

export class ExecutionEnvironment {
  readonly charging: Charging;
  readonly host: SandboxHost;
  /** Freezing thresholds by canister (the scheduler clears them after management calls). */
  readonly thresholds: FreezingThresholds;

  constructor(
    readonly subnet: SubnetContext,
    readonly fees: ExecutionFees,
    readonly config: ExecutionConfig = DEFAULT_EXECUTION_CONFIG,
    readonly modules: ModuleCache = new ModuleCache(),
    host?: SandboxHost,
  ) {
    this.charging = new Charging(fees);
    this.thresholds = new FreezingThresholds(fees);
    this.host = host ?? new InProcessSandboxHost(fees, config.stableMemoryBytes);
  }

  // ---- replicated execution: prepare ---------------------------------------------------------

  /** Checks the work and builds its sandbox job; changes nothing. */
  prepare(state: ReplicatedState, canister: CanisterState, work: Work): PreparedExecution {
    if (work.kind === 'task') return this.prepareTask(state, canister, work.task);
    if (work.kind === 'install') return this.prepareInstall(state, canister, work.request);
    return work.message.kind === 'request'
      ? this.prepareRequest(state, canister, work.message)
      : this.prepareResponse(state, canister, work.message);
  }

  private prepareRequest(state: ReplicatedState, canister: CanisterState, request: Request): PreparedExecution {
    const work: Work = { kind: 'message', message: request };
    if (canister.status !== 'running') return refuse(canister, work, notRunning(canister));
    const exec = canister.execution;
    if (!exec) return refuse(canister, work, emptyCanister(canister));
    const methods = exec.module.info.methods;
    let context: ApiContext;
    let exportName: string;
    if (methods.update.includes(request.method)) [context, exportName] = ['U', `canister_update ${request.method}`];
    else if (methods.query.includes(request.method)) [context, exportName] = ['RQ', `canister_query ${request.method}`];
    else if (methods.compositeQuery.includes(request.method)) {
      return refuse(canister, work, new CanisterError(ErrorCode.CompositeQueryCalledInReplicatedMode,
        `Error from Canister ${canister.idText}: Composite query cannot be called in replicated mode`));
    } else {
      return refuse(canister, work, new CanisterError(ErrorCode.CanisterMethodNotFound,
        `Error from Canister ${canister.idText}: Canister has no update method '${request.method}'.`));
    }
    const limit = this.config.instructions.update;
    const prepaid = this.fees.executionCost(limit);
    const threshold = this.thresholds.of(canister);
    if (canister.balance - prepaid < threshold) {
      return refuse(canister, work, outOfCycles(canister, this.charging.shortfall(canister, limit)));
    }
    const input: MessageInput = {
      context, caller: request.sender.toUint8Array(), arg: request.arg, cyclesAvailable: request.cycles,
      cyclesRefunded: 0n, rejectCode: 0, deadline: request.origin.kind === 'canister' ? request.origin.deadline : 0n,
      needsResponse: true, replicated: true,
      ...callerInfoOf(request.origin),
    };
    const job = this.job(state, canister, { kind: 'export', name: exportName }, input, limit, canister.balance - prepaid, threshold, undefined, {
      discardMemory: context === 'RQ', cleanup: undefined, callContextInstructions: undefined,
    });
    return { canister, work, job, prepaid, plan: { kind: 'request', request } };
  }

  private prepareResponse(state: ReplicatedState, canister: CanisterState, response: Response): PreparedExecution {
    const work: Work = { kind: 'message', message: response };
    const callback = canister.callbacks.get(response.callbackId);
    if (!callback) return { canister, work, job: undefined, prepaid: 0n, plan: { kind: 'drop' } };
    const ctx = canister.callContexts.get(callback.callContextId);
    if (!ctx || !canister.execution) return { canister, work, job: undefined, prepaid: 0n, plan: { kind: 'consume', callback, response } };
    const limit = this.config.instructions.update;
    const prepaid = this.fees.executionCost(limit);
    const balance = canister.balance + this.returned(response, callback);
    const threshold = this.thresholds.of(canister);
    if (balance - prepaid < threshold) {
      const error = outOfCycles(canister, prepaid + threshold - balance);
      return { canister, work, job: undefined, prepaid: 0n, plan: { kind: 'unpayable', callback, response, error } };
    }
    const isReply = response.payload.kind === 'reply';
    const input: MessageInput = {
      context: isReply ? 'Ry' : 'Rt',
      caller: ctx.origin.kind === 'canister' ? ctx.origin.caller.toUint8Array()
        : ctx.origin.kind === 'ingress' ? ctx.origin.sender.toUint8Array() : MANAGEMENT_BYTES,
      arg: response.payload.kind === 'reply' ? response.payload.data : new Uint8Array(0),
      cyclesAvailable: ctx.cyclesAvailable,
      cyclesRefunded: response.refund,
      rejectCode: response.payload.kind === 'reject' ? response.payload.code : 0,
      rejectMessage: response.payload.kind === 'reject' ? response.payload.message : undefined,
      deadline: callback.deadline,
      needsResponse: !ctx.responded && ctx.origin.kind !== 'system',
      replicated: true,
      ...callerInfoOf(ctx.origin),
    };
    const closure = isReply ? callback.reply : callback.reject;
    const job = this.job(state, canister, { kind: 'callback', fn: closure.fn, env: closure.env }, input, limit, balance - prepaid, threshold, undefined, {
      discardMemory: undefined, cleanup: callback.cleanup, callContextInstructions: ctx.instructions,
    });
    return { canister, work, job, prepaid, plan: { kind: 'response', response, callback } };
  }

  /** Heartbeat or global timer: a system task with no caller waiting. */
  private prepareTask(state: ReplicatedState, canister: CanisterState, task: SystemTask): PreparedExecution {
    const work: Work = { kind: 'task', task };
    const skip: PreparedExecution = { canister, work, job: undefined, prepaid: 0n, plan: { kind: 'skip' } };
    const exec = canister.execution;
    if (!exec || canister.status !== 'running') return skip;
    const exportName = task === 'heartbeat' ? 'canister_heartbeat' : 'canister_global_timer';
    if (!(task === 'heartbeat' ? exec.module.info.systemMethods.heartbeat : exec.module.info.systemMethods.globalTimer)) return skip;
    const limit = this.config.instructions.update;
    const prepaid = this.fees.executionCost(limit);
    const threshold = this.thresholds.of(canister);
    if (canister.balance - prepaid < threshold) return skip;
    const input: MessageInput = {
      context: 'T', caller: MANAGEMENT_BYTES, arg: new Uint8Array(0),
      cyclesAvailable: 0n, cyclesRefunded: 0n, rejectCode: 0, deadline: 0n, needsResponse: false, replicated: true,
    };
    const job = this.job(state, canister, { kind: 'export', name: exportName }, input, limit, canister.balance - prepaid, threshold,
      task === 'global_timer' ? 0n : undefined);
    return { canister, work, job, prepaid, plan: { kind: 'task', task } };
  }

  /** Built in one go, every field present (one object shape for all jobs; no copies). */
  private job(
    state: ReplicatedState, canister: CanisterState, entry: EntryPoint, input: MessageInput, limit: bigint,
    balance: bigint, frozenReserve: bigint, globalTimer?: bigint,
    extra?: Pick<SandboxJob, 'discardMemory' | 'cleanup' | 'callContextInstructions'>,
  ): SandboxJob {
    const view = this.view(state, canister, balance, frozenReserve);
    if (globalTimer !== undefined) view.globalTimer = globalTimer;
    return {
      canisterId: idOf(canister),
      module: canister.execution!.module,
      entry,
      input,
      view,
      limits: this.jobLimits(canister, limit),
      discardMemory: extra?.discardMemory,
      cleanup: extra?.cleanup,
      callContextInstructions: extra?.callContextInstructions,
    };
  }

  // ---- replicated execution: begin, finish, abort -------------------------------------------

  /**
   * The first slice of a long execution was used: the message leaves the queue (the scheduler
   * dequeues it) and its prepayment is taken, so nothing else can spend those cycles meanwhile.
   */
  begin(prepared: PreparedExecution, slice: bigint): void {
    const { canister, work } = prepared;
    if (canister.scheduler.paused) throw new Error(`canister ${canister.idText} already has a paused execution`);
    canister.balance -= prepared.prepaid;
    let timerBefore: bigint | undefined;
    if (work.kind === 'task' && work.task === 'global_timer') {
      timerBefore = canister.globalTimer;
      canister.globalTimer = 0n;
    }
    canister.scheduler.paused = { work, prepaid: prepared.prepaid, instructions: slice, slices: 1, timerBefore };
  }

  /** Another slice of a paused execution was used. */
  continue(canister: CanisterState, slice: bigint): void {
    const paused = canister.scheduler.paused;
    if (!paused) throw new Error(`canister ${canister.idText} has no paused execution`);
    paused.instructions += slice;
    paused.slices++;
  }

  /**
   * Undoes `begin` for an execution aborted before it finished (install_code, a checkpoint, too
   * many paused executions): the cycles come back and the message goes back to the front of the
   * queue, to start over later. Returns the work for the scheduler to requeue.
   */
  abort(canister: CanisterState): Work {
    const paused = canister.scheduler.paused;
    if (!paused) throw new Error(`canister ${canister.idText} has no paused execution`);
    this.host.abort(idOf(canister));
    canister.balance += paused.prepaid;
    if (paused.timerBefore !== undefined && canister.globalTimer === 0n) canister.globalTimer = paused.timerBefore;
    canister.scheduler.paused = undefined;
    return paused.work;
  }

  /**
   * Applies a finished execution (`result` undefined when there was no job). The scheduler has
   * removed the work from the queue. Returns the instructions charged for. `traceparent` is the
   * execution's trace context (telemetry, never state): its outgoing calls carry it to the callees.
   */
  finish(state: ReplicatedState, prepared: PreparedExecution, result: JobResult | undefined, sink: MessageSink, traceparent?: string): bigint {
    const { canister, plan } = prepared;
    const wasPaused = canister.scheduler.paused !== undefined;
    if (wasPaused) {
      canister.scheduler.paused = undefined;
    } else if (prepared.job) {
      canister.balance -= prepared.prepaid;
      if (plan.kind === 'task' && plan.task === 'global_timer') canister.globalTimer = 0n;
    }
    switch (plan.kind) {
      case 'refuse': {
        const request = (prepared.work as { message: Request }).message;
        const ctx = this.openCallContext(canister, request.origin, request.method, request.cycles);
        this.respond(canister, ctx, rejectOf(plan.error), sink);
        return 0n;
      }
      case 'drop':
        // A response nobody waits for any more (its best-effort call timed out): its cycles are lost.
        if (prepared.work.kind === 'message' && prepared.work.message.kind === 'response') state.cyclesBurned += prepared.work.message.refund;
        return 0n;
      case 'skip':
        return 0n;
      case 'consume':
        canister.callbacks.delete(plan.callback.id);
        this.returnReservation(state, canister, plan.response, plan.callback);
        return 0n;
      case 'unpayable': {
        canister.callbacks.delete(plan.callback.id);
        this.returnReservation(state, canister, plan.response, plan.callback);
        const ctx = canister.callContexts.get(plan.callback.callContextId)!;
        // The IC keeps the response until the canister can pay; we close the context instead of losing it.
        this.closeIfDone(canister, ctx, sink, plan.error);
        return 0n;
      }
      case 'request':
        return this.finishRequest(state, prepared, plan.request, result!, sink, traceparent);
      case 'response':
        return this.finishResponse(state, prepared, plan.response, plan.callback, result!, sink, traceparent);
      case 'task':
        return this.finishTask(state, prepared, plan.task, result!, sink, traceparent);
      case 'install':
        return this.finishInstall(state, prepared, plan, result!, sink);
      case 'installRefused':
        respondToManagementCall(plan.request, rejectOf(plan.error), sink);
        return 0n;
    }
  }

  private finishRequest(
    state: ReplicatedState, prepared: PreparedExecution, request: Request, result: JobResult, sink: MessageSink, traceparent: string | undefined,
  ): bigint {
    const { canister } = prepared;
    const ctx = this.openCallContext(canister, request.origin, request.method, request.cycles);
    this.settle(state, canister, prepared.prepaid, result.instructions, prepared.job!.limits.instructions);
    ctx.instructions += result.instructions;
    const r = result.main;
    if (!r.ok) {
      this.logTrap(state, canister, r);
      this.respond(canister, ctx, rejectOf(withCanister(canister, r.error)), sink);
      return result.instructions;
    }
    this.commit(state, canister, ctx, r, prepared.job!.view.balance, sink, traceparent);
    this.closeIfDone(canister, ctx, sink);
    return result.instructions;
  }

  private finishResponse(
    state: ReplicatedState, prepared: PreparedExecution, response: Response, callback: Callback, result: JobResult, sink: MessageSink,
    traceparent: string | undefined,
  ): bigint {
    const { canister } = prepared;
    canister.callbacks.delete(callback.id);
    this.returnReservation(state, canister, response, callback);
    const ctx = canister.callContexts.get(callback.callContextId)!;
    this.settle(state, canister, prepared.prepaid, result.instructions, prepared.job!.limits.instructions);
    ctx.instructions += result.instructions;
    const viewBalance = prepared.job!.view.balance;
    if (result.main.ok) {
      this.commit(state, canister, ctx, result.main, viewBalance, sink, traceparent);
      this.closeIfDone(canister, ctx, sink);
      return result.instructions;
    }
    this.logTrap(state, canister, result.main);
    let error = withCanister(canister, result.main.error);
    if (result.cleanup?.ok) this.commit(state, canister, ctx, result.cleanup, viewBalance, sink, traceparent);
    else if (result.cleanup) {
      // As the IC reports it: the callback's error, then the cleanup's.
      this.logTrap(state, canister, result.cleanup);
      error = new CanisterError(error.code, `${error.message}\n\ncall_on_cleanup also failed:\n\n${result.cleanup.error.message}`, { cause: error });
    }
    this.closeIfDone(canister, ctx, sink, error);
    return result.instructions;
  }

  private finishTask(
    state: ReplicatedState, prepared: PreparedExecution, task: SystemTask, result: JobResult, sink: MessageSink, traceparent: string | undefined,
  ): bigint {
    const { canister } = prepared;
    const exportName = task === 'heartbeat' ? 'canister_heartbeat' : 'canister_global_timer';
    const ctx = this.openCallContext(canister, { kind: 'system' }, exportName, 0n);
    this.settle(state, canister, prepared.prepaid, result.instructions, prepared.job!.limits.instructions);
    const r = result.main;
    if (r.ok) this.commit(state, canister, ctx, r, prepared.job!.view.balance, sink, traceparent);
    else this.logTrap(state, canister, r);
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
    const result = this.runQuery(state, canister, { kind: 'export', name: exportName }, {
      context: exportName.startsWith('canister_query') ? 'NRQ' : 'CQ', caller: caller.toUint8Array(), arg,
      cyclesAvailable: 0n, cyclesRefunded: 0n, rejectCode: 0, deadline: 0n, needsResponse: true, replicated: false,
    }, this.config.instructions.query, certificate);
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

  /**
   * The canister as a non-replicated query sees it at this state (the query workers get it with
   * each certified state): its view without the data certificate, and the limits of one query.
   */
  queryView(state: ReplicatedState, canister: CanisterState): { view: CanisterView; limits: SandboxLimits } {
    return { view: this.view(state, canister, canister.balance), limits: this.limits(canister, this.config.instructions.query) };
  }

  /** Runs canister_inspect_message for an ingress message; undefined if accepted. */
  inspectMessage(
    state: ReplicatedState, canister: CanisterState, method: string, arg: Uint8Array, caller: Principal, callerInfo?: CallerInfo,
  ): CanisterError | undefined {
    const exec = canister.execution;
    if (!exec) return emptyCanister(canister);
    if (!exec.module.info.systemMethods.inspectMessage) return undefined;
    const result = this.runQuery(state, canister, { kind: 'export', name: 'canister_inspect_message' }, {
      context: 'F', caller: caller.toUint8Array(), arg, methodName: method, cyclesAvailable: 0n, cyclesRefunded: 0n,
      rejectCode: 0, deadline: 0n, needsResponse: false, replicated: false,
      ...callerInfoInput(callerInfo),
    }, this.config.instructions.inspectMessage);
    if (!result.ok) return withCanister(canister, result.error);
    if (!result.outcome.messageAccepted) {
      return new CanisterError(ErrorCode.CanisterRejectedMessage,
        `Error from Canister ${canister.idText}: Canister rejected the message`);
    }
    return undefined;
  }

  private runQuery(
    state: ReplicatedState, canister: CanisterState, entry: EntryPoint, input: MessageInput, limit: bigint, certificate?: Uint8Array,
  ): SandboxResult {
    const sandbox = this.host.querySandbox(canister);
    const view = { ...this.view(state, canister, canister.balance), certificate };
    return sandbox.run(entry, input, view, this.fees, this.limits(canister, limit), { persist: false });
  }

  // ---- code installation (driven by the management canister) --------------------------------

  /**
   * The checks of install_code that need no code to run (mode against the canister, the module,
   * the cycles for the install limit); throws CanisterError. The management canister calls it to
   * answer at once, `prepareInstall` again when the install starts.
   */
  checkInstall(canister: CanisterState, req: InstallRequest): CompiledCanisterModule {
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
    if (canister.balance - this.fees.executionCost(limit) < this.fees.freezingThreshold(canister)) {
      throw outOfCycles(canister, this.charging.shortfall(canister, limit));
    }
    return compiled;
  }

  /** install_code as the canister's execution: one job over all its phases, sliced like an update. */
  private prepareInstall(state: ReplicatedState, canister: CanisterState, request: Request): PreparedExecution {
    const work: Work = { kind: 'install', request };
    let install: InstallRequest;
    let compiled: CompiledCanisterModule;
    try {
      const decoded = decodeInstall(state, request);
      if (decoded.canister !== canister) throw new Error(`install_code for ${decoded.canister.idText} queued on ${canister.idText}`);
      install = decoded.install;
      compiled = this.checkInstall(canister, install);
    } catch (e) {
      if (!(e instanceof CanisterError)) throw e;
      return { canister, work, job: undefined, prepaid: 0n, plan: { kind: 'installRefused', request, error: e } };
    }
    const limit = this.config.instructions.install;
    const prepaid = this.fees.executionCost(limit);
    const old = canister.execution;
    const input: MessageInput = {
      context: 'I', caller: install.caller.toUint8Array(), arg: install.arg, cyclesAvailable: 0n, cyclesRefunded: 0n,
      rejectCode: 0, deadline: 0n, needsResponse: false, replicated: true,
    };
    const job: SandboxJob = {
      canisterId: idOf(canister),
      // The current code, whose instance pre_upgrade runs on; the new one if there is none.
      module: old?.module ?? compiled,
      entry: { kind: 'export', name: 'canister_init' },
      input,
      view: this.view(state, canister, canister.balance - prepaid),
      limits: { ...this.limits(canister, limit), slice: this.config.instructions.slice },
      install: {
        mode: install.mode,
        module: sandboxModule(compiled),
        preUpgrade: install.mode === 'upgrade' && !install.skipPreUpgrade && old!.module.info.systemMethods.preUpgrade,
      },
    };
    return { canister, work, job, prepaid, plan: { kind: 'install', request, install, compiled, limit } };
  }

  /** Commits an install all at once, or leaves the canister as it was with the error. */
  private finishInstall(
    state: ReplicatedState, prepared: PreparedExecution, plan: Extract<Plan, { kind: 'install' }>, result: JobResult, sink: MessageSink,
  ): bigint {
    const { canister } = prepared;
    const { install, request } = plan;
    this.settle(state, canister, prepared.prepaid, result.instructions, plan.limit);
    const r = result.main;
    if (!r.ok) {
      const error = new CanisterError(r.error.code, `Error from Canister ${canister.idText}: ${r.error.message}`, { cause: r.error });
      respondToManagementCall(request, rejectOf(error), sink);
      return result.instructions;
    }
    // The new module, its memories, and a fresh system state where the IC resets it.
    if (install.mode !== 'upgrade') this.rejectOpenCalls(canister, sink, 'Canister has been reinstalled.');
    const heap = new PageMap(r.heap.sizeBytes);
    for (const p of r.heap.pages) heap.setPage(p.index, p.bytes);
    // An upgrade's pages go over the stable memory it started from (nothing changed it meanwhile:
    // the canister was busy); install and reinstall start from an empty one.
    if (install.mode !== 'upgrade') canister.stable = new PageMap();
    canister.stable.sizeBytes = r.stable.sizeBytes;
    for (const p of r.stable.pages) canister.stable.setPage(p.index, p.bytes);
    canister.execution = { module: plan.compiled, heap, globals: [...r.globals] };
    canister.globalTimer = 0n;
    if (install.mode !== 'upgrade') canister.certifiedData = new Uint8Array(0);
    this.host.invalidate(idOf(canister));
    this.applySystemState(state, canister, r.outcome, prepared.job!.view.balance);
    canister.version++;
    canister.installCount++;
    canister.recordChange({
      timestampNanos: state.time, canisterVersion: canister.version, origin: changeOrigin(request),
      details: { kind: 'code_deployment', mode: install.mode, moduleHash: plan.compiled.hash },
    });
    respondToManagementCall(request, installReply(request.method as 'install_code' | 'install_chunked_code'), sink);
    return result.instructions;
  }

  /** uninstall_code (and running out of cycles): code and memories go, settings stay. */
  uninstall(canister: CanisterState, sink: MessageSink): void {
    if (canister.scheduler.paused) throw new Error(`uninstall_code on ${canister.idText} with a paused execution: abort it first`);
    this.rejectOpenCalls(canister, sink, 'Canister has been uninstalled.');
    canister.execution = undefined;
    canister.stable.clear();
    canister.stable = new PageMap();
    canister.certifiedData = new Uint8Array(0);
    canister.globalTimer = 0n;
    canister.version++;
    this.host.invalidate(idOf(canister));
  }

  /** Forgets the live instance (canister deleted or state reloaded). */
  evict(canisterId: string): void {
    this.host.invalidate(canisterId);
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

  /** The canister as the System API sees it; `balance` is after the prepayment for the message. */
  private view(state: ReplicatedState, canister: CanisterState, balance: bigint, frozenReserve = this.fees.freezingThreshold(canister)): Mutable<CanisterView> {
    return {
      canisterId: canister.id.toUint8Array(),
      controllers: this.controllerBytes(canister),
      status: canister.status === 'running' ? 1 : canister.status === 'stopping' ? 2 : 3,
      version: canister.version,
      balance,
      frozenReserve,
      globalTimer: canister.globalTimer,
      envVars: canister.settings.environmentVariables,
      subnetId: this.subnet.subnetId.toUint8Array(),
      rootKey: this.subnet.rootKey(),
      time: state.time,
    };
  }

  /** A replicated message's limits, shared by the canister's jobs while its memory limit stays the same. */
  private jobLimits(canister: CanisterState, instructions: bigint): SandboxLimits {
    const cached = this.#jobLimits.get(canister);
    if (cached && cached.instructions === instructions && cached.wasmMemoryLimit === canister.settings.wasmMemoryLimit) return cached.limits;
    const limits = { ...this.limits(canister, instructions), slice: this.config.instructions.slice };
    this.#jobLimits.set(canister, { instructions, wasmMemoryLimit: canister.settings.wasmMemoryLimit, limits });
    return limits;
  }

  readonly #jobLimits = new WeakMap<CanisterState, { instructions: bigint; wasmMemoryLimit: bigint; limits: SandboxLimits }>();

  /** The controllers as bytes, computed again only when the list changes. */
  private controllerBytes(canister: CanisterState): readonly Uint8Array[] {
    const list = canister.settings.controllers;
    const cached = this.#controllers.get(list);
    if (cached && sameItems(cached.principals, list)) return cached.bytes;
    const bytes = list.map((c) => c.toUint8Array());
    this.#controllers.set(list, { principals: [...list], bytes });
    return bytes;
  }

  readonly #controllers = new WeakMap<readonly Principal[], { principals: readonly Principal[]; bytes: readonly Uint8Array[] }>();

  private limits(canister: CanisterState, instructions: bigint): SandboxLimits {
    const wasmLimit = canister.settings.wasmMemoryLimit > 0n ? canister.settings.wasmMemoryLimit : 4n << 30n;
    return {
      instructions,
      wasmMemoryBytes: Number(wasmLimit < 4n << 30n ? wasmLimit : 4n << 30n),
      stableMemoryBytes: this.config.stableMemoryBytes,
    };
  }

  /** What a response gives back: its refund and the call's reservation, less the response's transmission. */
  private returned(response: Response, callback: Callback): bigint {
    return response.refund + callback.reservation - this.responseTransmission(response, callback);
  }

  private responseTransmission(response: Response, callback: Callback): bigint {
    const p = response.payload;
    const bytes = BigInt(p.kind === 'reply' ? p.data.length : new TextEncoder().encode(p.message).length);
    const cost = this.fees.responseTransmissionCost(bytes);
    return cost < callback.reservation ? cost : callback.reservation;
  }

  private returnReservation(state: ReplicatedState, canister: CanisterState, response: Response, callback: Callback): void {
    const transmission = this.responseTransmission(response, callback);
    canister.balance += response.refund + callback.reservation - transmission;
    canister.burn('call', transmission);
    state.cyclesBurned += transmission;
  }

  private settle(state: ReplicatedState, canister: CanisterState, prepaid: bigint, used: bigint, limit: bigint): void {
    state.cyclesBurned += this.charging.settle(canister, prepaid, used, limit);
  }

  private openCallContext(canister: CanisterState, origin: CallOrigin, method: string, cycles: bigint): CallContext {
    const ctx: CallContext = { id: canister.nextCallContextId++, origin, method, cyclesAvailable: cycles, responded: false, instructions: 0n };
    canister.callContexts.set(ctx.id, ctx);
    return ctx;
  }

  /** Applies a successful execution: memories, system state, outgoing calls, the response. */
  private commit(
    state: ReplicatedState, canister: CanisterState, ctx: CallContext, result: Extract<SandboxResult, { ok: true }>,
    viewBalance: bigint, sink: MessageSink, traceparent: string | undefined,
  ): void {
    const exec = canister.execution!;
    exec.heap.sizeBytes = result.heap.sizeBytes;
    for (const p of result.heap.pages) exec.heap.setPage(p.index, p.bytes);
    exec.globals = result.globals; // never changed in place: the sandbox makes a new array per commit
    canister.stable.sizeBytes = result.stable.sizeBytes;
    for (const p of result.stable.pages) canister.stable.setPage(p.index, p.bytes);
    this.host.committed(canister, result);
    const o = result.outcome;
    ctx.cyclesAvailable -= o.cyclesAccepted;
    this.applySystemState(state, canister, o, viewBalance);
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
        // The caller's execution span (telemetry on): the callee's span is its child.
        ...withTraceparent(traceparent),
      });
    }
    if (o.response) {
      this.respond(canister, ctx, o.response.kind === 'reply'
        ? { kind: 'reply', data: o.response.data }
        : { kind: 'reject', code: RejectCode.CanisterReject, message: o.response.message, errorCode: formatErrorCode(ErrorCode.CanisterRejectedMessage) }, sink);
    }
    canister.version++;
  }

  /**
   * The outcome's balance is relative to the balance the message saw: apply the difference, so
   * that what happened to the balance meanwhile (the settled prepayment, a deposit while a long
   * execution was paused) is kept.
   */
  private applySystemState(state: ReplicatedState, canister: CanisterState, o: ApiOutcome, viewBalance: bigint): void {
    canister.balance += o.balance - viewBalance;
    if (o.cyclesBurned > 0n) {
      canister.burn('cycles_burn', o.cyclesBurned);
      state.cyclesBurned += o.cyclesBurned;
    }
    if (o.certifiedData) canister.certifiedData = o.certifiedData;
    if (o.globalTimer !== undefined) canister.globalTimer = o.globalTimer;
    for (const line of o.logs) this.appendLog(state, canister, line);
  }

  /** A failed execution keeps what it printed in the canister's logs, followed by the trap. */
  private logTrap(state: ReplicatedState, canister: CanisterState, r: Extract<SandboxResult, { ok: false }>): void {
    for (const line of r.logs ?? []) this.appendLog(state, canister, line);
    this.appendLog(state, canister, `[TRAP]: ${r.error.message}`);
  }

  appendLog(state: ReplicatedState, canister: CanisterState, line: Uint8Array | string): void {
    const content = typeof line === 'string' ? new TextEncoder().encode(line) : line;
    canister.logs.push({ idx: canister.nextLogIdx++, timestampNanos: state.time, content });
    let total = 0;
    for (const r of canister.logs) total += r.content.length;
    while (total > MAX_LOG_BYTES && canister.logs.length > 1) total -= canister.logs.shift()!.content.length;
  }

  /** Sends a response for a call context (once) and forgets it when no callback is left. */
  private respond(canister: CanisterState, ctx: CallContext, payload: ResponsePayload, sink: MessageSink): void {
    if (ctx.responded) return;
    ctx.responded = true;
    const origin = ctx.origin;
    if (origin.kind === 'ingress') sink.ingressResult(origin, payload, canister.id);
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
    // Callbacks stay: their responses still come back and return the call's reservation and the
    // unaccepted cycles without running any code (plan 'consume'), as on the IC.
    for (const id of ids) {
      const ctx = canister.callContexts.get(id)!;
      if (!ctx.responded && ctx.origin.kind !== 'system') {
        this.respond(canister, ctx, { kind: 'reject', code: RejectCode.CanisterReject, message, errorCode: formatErrorCode(ErrorCode.CanisterRejectedMessage) }, sink);
      }
      canister.callContexts.delete(id);
    }
  }
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

function sameItems<T>(a: readonly T[], b: readonly T[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Caller info as `MessageInput` carries it: no field when there is none. */
function callerInfoInput(info: CallerInfo | undefined): Pick<MessageInput, 'callerInfo'> {
  return info === undefined ? {} : { callerInfo: { data: info.data, signer: info.signer.toUint8Array() } };
}

/** The caller info of an ingress message and of the call context it opened. */
function callerInfoOf(origin: CallOrigin): Pick<MessageInput, 'callerInfo'> {
  return callerInfoInput(origin.kind === 'ingress' ? origin.callerInfo : undefined);
}

/** A request refused before running code (no closure per message: see round.ts's induct). */
function refuse(canister: CanisterState, work: Work, error: CanisterError): PreparedExecution {
  return { canister, work, job: undefined, prepaid: 0n, plan: { kind: 'refuse', error } };
}

function withTraceparent(traceparent: string | undefined): { traceparent?: string } {
  return traceparent === undefined ? {} : { traceparent };
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
