// Runs queries on a query executor's certified state: plain queries (`canister_query`, rolled back
// after they run) and composite queries (`canister_composite_query`), which call query methods of
// other canisters on this subnet. A composite query's call graph is walked depth first as the IC's
// query handler does (rs/execution_environment/src/query_handler): outgoing calls one at a time,
// each callee on the certified state, the caller's callback on the caller's state as its earlier
// executions left it; limits on depth, total instructions (with an overhead per call) and wall
// time; no re-entrancy. Whatever a query changes is undone before the next one runs.

import { Principal } from '@icp-sdk/core/principal';
import { CanisterError, ErrorCode, RejectCode, formatErrorCode } from '../errors.js';
import type { EntryPoint, SandboxResult } from '../execution/sandbox.js';
import type { CallCosts, MessageInput, OutgoingCall, Response } from '../system-api/index.js';
import type { QueryCanister, QueryStore } from './store.js';
import { DEFAULT_QUERY_LIMITS, type QueryLimits, type QueryRequest, type QueryResult } from './types.js';

/** What a callee answers its caller: a reply or a reject (never a user-level error). */
type Payload = { readonly kind: 'reply'; readonly data: Uint8Array } | { readonly kind: 'reject'; readonly code: number; readonly message: string };

/** The outcome of one execution in a call context. */
type Step =
  | { readonly kind: 'response'; readonly response: Response }
  | { readonly kind: 'error'; readonly error: CanisterError }
  | { readonly kind: 'calls'; readonly calls: readonly OutgoingCall[] };

/** A call context in the call graph: a canister answering one query call. */
interface Frame {
  readonly canister: QueryCanister;
  /** Who called: the user (top level) or the calling canister. */
  readonly caller: Uint8Array;
  readonly topLevel: boolean;
  /** A composite query keeps its changes between its callbacks (undone when the context ends). */
  readonly composite: boolean;
  readonly requests: OutgoingCall[];
  /** The call whose response comes next. */
  inFlight?: OutgoingCall;
  /** Instructions of this call context so far (`performance_counter(1)`). */
  instructions: bigint;
  readonly heapPages: Set<number>;
  dropInstance: boolean;
  ended: boolean;
}

/** The call graph's verdict for the user. */
type GraphResult = { readonly kind: 'response'; readonly response: Response } | { readonly kind: 'error'; readonly error: CanisterError };

const EMPTY = new Uint8Array(0);
const wallClock = () => Date.now(); // wall-clock-ok: the call graph time limit, never replicated

function withCanister(id: string, e: CanisterError): CanisterError {
  if (e.message.startsWith('Error from Canister')) return e;
  return new CanisterError(e.code, `Error from Canister ${id}: ${e.message}`, { cause: e });
}

function rejected(e: CanisterError, instructions: bigint): QueryResult {
  return { status: 'rejected', code: e.rejectCode, message: e.message, errorCode: e.errorCode, instructions };
}

function rejectPayload(e: CanisterError): Payload {
  return { kind: 'reject', code: e.rejectCode, message: e.message };
}

function payloadOf(r: Response): Payload {
  return r.kind === 'reply' ? { kind: 'reply', data: r.data } : { kind: 'reject', code: RejectCode.CanisterReject, message: r.message };
}

/** Why a canister cannot run a query now, or undefined. */
function unavailable(c: QueryCanister): CanisterError | undefined {
  if (c.status === 'stopped') return new CanisterError(ErrorCode.CanisterStopped, `Canister ${c.id} is stopped and therefore does not have a CallContextManager`);
  if (c.status === 'stopping') return new CanisterError(ErrorCode.CanisterStopping, `Canister ${c.id} is stopping`);
  if (!c.code) {
    return new CanisterError(ErrorCode.CanisterWasmModuleNotFound,
      `Error from Canister ${c.id}: Attempted to execute a message, but the canister contains no Wasm module.`);
  }
  if (c.view.balance < c.view.frozenReserve) {
    return new CanisterError(ErrorCode.CanisterOutOfCycles,
      `Canister ${c.id} is unable to process query calls because it's frozen. Please top up the canister with cycles and try again.`);
  }
  return undefined;
}

/** The method as the IC looks it up: a composite query first, then a query. */
function queryMethod(c: QueryCanister, method: string): 'composite' | 'query' | CanisterError {
  if (c.code!.compositeQuery.has(method)) return 'composite';
  if (c.code!.query.has(method)) return 'query';
  return new CanisterError(ErrorCode.CanisterMethodNotFound, `Error from Canister ${c.id}: Canister has no query method '${method}'.`);
}

export class QueryExecutor {
  constructor(
    private readonly store: QueryStore,
    private readonly costs: CallCosts,
    private readonly limits: QueryLimits = DEFAULT_QUERY_LIMITS,
  ) {}

  execute(request: QueryRequest): QueryResult {
    return new CallGraph(this.store, this.costs, this.limits, request).run();
  }
}

/** One user query: its call graph's budget and frames. Used once. */
class CallGraph {
  #left: bigint;
  #executed = 0n;
  readonly #started = wallClock();
  /** Frames whose instance keeps changes, to undo them however the query ends. */
  readonly #composite: Frame[] = [];

  constructor(
    private readonly store: QueryStore,
    private readonly costs: CallCosts,
    private readonly limits: QueryLimits,
    private readonly request: QueryRequest,
  ) {
    this.#left = limits.callGraphInstructions;
  }

  run(): QueryResult {
    const { request } = this;
    const canister = this.store.canister(request.canisterId);
    if (!canister) return rejected(new CanisterError(ErrorCode.CanisterNotFound, `Canister ${request.canisterId} not found`), 0n);
    const refused = unavailable(canister);
    if (refused) return rejected(refused, 0n);
    const kind = queryMethod(canister, request.method);
    if (kind instanceof CanisterError) return rejected(kind, 0n);
    try {
      return kind === 'query' ? this.#plain(canister) : this.#compositeQuery(canister);
    } finally {
      for (const frame of this.#composite) this.#end(frame);
    }
  }

  /** A `canister_query` from a user: one execution, rolled back. */
  #plain(canister: QueryCanister): QueryResult {
    const frame = this.#frame(canister, this.request.caller, true, false);
    const r = this.#run(frame, { kind: 'export', name: `canister_query ${this.request.method}` }, this.#input('NRQ', this.request.caller, this.request.arg, this.request.callerInfo));
    if (!r.ok) return rejected(withCanister(canister.id, r.error), this.#executed);
    const response = r.outcome.response;
    if (!response) {
      return rejected(new CanisterError(ErrorCode.CanisterDidNotReply, `Error from Canister ${canister.id}: Canister did not reply to the call`), this.#executed);
    }
    return this.#userResult({ kind: 'response', response });
  }

  #compositeQuery(canister: QueryCanister): QueryResult {
    const root = this.#frame(canister, this.request.caller, true, true);
    const step = this.#step(root, this.#run(root, { kind: 'export', name: `canister_composite_query ${this.request.method}` },
      this.#input('CQ', this.request.caller, this.request.arg, this.request.callerInfo)));
    if (step.kind !== 'calls') return this.#userResult(step);
    root.requests.push(...step.calls);
    return this.#userResult(this.#graph(root));
  }

  #userResult(r: GraphResult): QueryResult {
    if (r.kind === 'error') return rejected(r.error, this.#executed);
    if (r.response.kind === 'reply') return { status: 'replied', reply: r.response.data, instructions: this.#executed };
    return {
      status: 'rejected', code: RejectCode.CanisterReject, message: r.response.message,
      errorCode: formatErrorCode(ErrorCode.CanisterRejectedMessage), instructions: this.#executed,
    };
  }

  /** Depth-first walk of the calls of `root`'s call context until the user has a response. */
  #graph(root: Frame): GraphResult {
    const stack: Frame[] = [root];
    let calleeResult: Payload | undefined;
    for (let frame = stack.pop(); frame !== undefined; frame = stack.pop()) {
      if (stack.length >= this.limits.callGraphDepth) {
        return { kind: 'error', error: new CanisterError(ErrorCode.QueryCallGraphTooDeep, 'Composite query calls exceeded the maximum call depth.') };
      }
      if (this.#left <= 0n) {
        return { kind: 'error', error: new CanisterError(ErrorCode.QueryCallGraphTotalInstructionLimitExceeded, 'Composite query calls exceeded the instruction limit.') };
      }
      if (wallClock() - this.#started >= this.limits.callGraphWallTimeMs) { // wall-clock-ok: a non-replicated limit
        return { kind: 'error', error: new CanisterError(ErrorCode.QueryTimeLimitExceeded, 'Composite query calls exceeded the time limit.') };
      }
      let step: Step;
      if (calleeResult !== undefined) {
        const call = frame.inFlight!;
        frame.inFlight = undefined;
        step = this.#callback(frame, call, calleeResult);
        calleeResult = undefined;
        if (step.kind === 'calls') {
          frame.requests.push(...step.calls);
          stack.push(frame);
          continue;
        }
      } else {
        const call = frame.requests.shift();
        if (call !== undefined) {
          const receiver = Principal.fromUint8Array(call.callee).toText();
          if (receiver === frame.canister.id || stack.some((f) => f.canister.id === receiver)) {
            return { kind: 'error', error: new CanisterError(ErrorCode.QueryCallGraphLoopDetected, 'Query calls re-entering the same canister are not allowed yet.') };
          }
          frame.inFlight = call;
          stack.push(frame);
          const callee = this.#request(frame, receiver, call);
          if ('frame' in callee) stack.push(callee.frame);
          else calleeResult = callee.payload;
          continue;
        }
        // Every call answered and still no response.
        step = { kind: 'error', error: new CanisterError(ErrorCode.CanisterDidNotReply, `Canister ${frame.canister.id} did not produce a response`) };
      }
      this.#end(frame);
      if (frame.topLevel) return step.kind === 'response' ? step : { kind: 'error', error: step.error };
      calleeResult = step.kind === 'response' ? payloadOf(step.response) : rejectPayload(step.error);
    }
    throw new Error('the query call graph ended without a response');
  }

  /** A query call from a canister: the callee answers at once, or its new call context goes on the stack. */
  #request(caller: Frame, receiver: string, call: OutgoingCall): { payload: Payload } | { frame: Frame } {
    const reject = (e: CanisterError) => ({ payload: rejectPayload(e) });
    if (call.callee.length === 0) {
      return reject(new CanisterError(ErrorCode.CanisterContractViolation, `Composite queries cannot call the management canister method '${call.method}' on this replica.`));
    }
    // Only this subnet's canisters are here: a canister of another subnet is not found.
    const canister = this.store.canister(receiver);
    if (!canister) return reject(new CanisterError(ErrorCode.CanisterNotFound, `Canister ${receiver} not found`));
    const refused = unavailable(canister);
    if (refused) return reject(refused);
    const kind = queryMethod(canister, call.method);
    if (kind instanceof CanisterError) return reject(kind);
    const callerId = Principal.fromText(caller.canister.id).toUint8Array();
    const frame = this.#frame(canister, callerId, false, kind === 'composite');
    const entry: EntryPoint = { kind: 'export', name: kind === 'composite' ? `canister_composite_query ${call.method}` : `canister_query ${call.method}` };
    const step = this.#step(frame, this.#run(frame, entry, this.#input(kind === 'composite' ? 'CQ' : 'NRQ', callerId, call.arg)));
    this.#left -= this.limits.instructionOverheadPerCall;
    if (step.kind === 'calls' && kind === 'composite') {
      frame.requests.push(...step.calls);
      return { frame };
    }
    this.#end(frame);
    if (step.kind === 'response') return { payload: payloadOf(step.response) };
    if (step.kind === 'error') return reject(step.error);
    return reject(new CanisterError(ErrorCode.CanisterDidNotReply, `Canister ${canister.id} did not produce a response`));
  }

  /** The caller's reply or reject callback for `call`, with its cleanup if it traps. */
  #callback(frame: Frame, call: OutgoingCall, payload: Payload): Step {
    const info = frame.topLevel ? this.request.callerInfo : undefined;
    const input: MessageInput = payload.kind === 'reply'
      ? this.#input('CRy', frame.caller, payload.data, info)
      : { ...this.#input('CRt', frame.caller, EMPTY, info), rejectCode: payload.code, rejectMessage: payload.message };
    const closure = payload.kind === 'reply' ? call.reply : call.reject;
    const r = this.#run(frame, { kind: 'callback', fn: closure.fn, env: closure.env }, input);
    if (r.ok || !call.cleanup) return this.#step(frame, r);
    let error = withCanister(frame.canister.id, r.error);
    const cleanup = this.#run(frame, { kind: 'callback', ...call.cleanup }, { ...input, context: 'CC', needsResponse: false });
    if (!cleanup.ok) {
      error = new CanisterError(error.code, `${error.message}\n\ncall_on_cleanup also failed:\n\n${cleanup.error.message}`, { cause: error });
    }
    return { kind: 'error', error };
  }

  #step(frame: Frame, r: SandboxResult): Step {
    if (!r.ok) return { kind: 'error', error: withCanister(frame.canister.id, r.error) };
    if (r.outcome.response) return { kind: 'response', response: r.outcome.response };
    return { kind: 'calls', calls: r.outcome.calls };
  }

  #frame(canister: QueryCanister, caller: Uint8Array, topLevel: boolean, composite: boolean): Frame {
    const frame: Frame = { canister, caller, topLevel, composite, requests: [], instructions: 0n, heapPages: new Set(), dropInstance: false, ended: false };
    if (composite) this.#composite.push(frame);
    return frame;
  }

  #input(context: MessageInput['context'], caller: Uint8Array, arg: Uint8Array, callerInfo?: MessageInput['callerInfo']): MessageInput {
    const input: MessageInput = { context, caller, arg, cyclesAvailable: 0n, cyclesRefunded: 0n, rejectCode: 0, deadline: 0n, needsResponse: true, replicated: false };
    return callerInfo === undefined ? input : { ...input, callerInfo };
  }

  /** One execution in `frame`'s call context, within what is left of both limits. */
  #run(frame: Frame, entry: EntryPoint, input: MessageInput): SandboxResult {
    const { canister } = frame;
    const code = canister.code!;
    const sandbox = this.store.sandbox(canister);
    const left = this.#left > 0n ? this.#left : 0n;
    const instructions = this.limits.instructionsPerQuery < left ? this.limits.instructionsPerQuery : left;
    // The data certificate is for the canister the user called, at the top level only.
    const certificate = frame.topLevel ? this.request.certificate : undefined;
    const view = { ...canister.view, subnetId: this.store.subnetId, rootKey: this.store.rootKey, time: this.store.time, certificate };
    const r = sandbox.run(entry, input, view, this.costs, { ...canister.limits, instructions }, {
      persist: frame.composite,
      callContextInstructions: frame.instructions,
    });
    frame.instructions += r.instructions;
    this.#left -= r.instructions;
    this.#executed += r.instructions;
    if (r.ok && frame.composite) {
      for (const p of r.heap.pages) frame.heapPages.add(p.index);
      if (r.heap.sizeBytes !== code.heap.sizeBytes || r.stable.pages.length > 0 || r.stable.sizeBytes !== code.stable.sizeBytes) frame.dropInstance = true;
    }
    return r;
  }

  /** The call context is over: what its executions changed is undone. */
  #end(frame: Frame): void {
    if (frame.ended) return;
    frame.ended = true;
    // Globals change with almost every execution: put them back even when no page changed.
    if (frame.composite) this.store.revert(frame.canister, frame.heapPages, frame.dropInstance);
  }
}
