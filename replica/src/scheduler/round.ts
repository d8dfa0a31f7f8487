// One round: take a block, induct its messages, then execute in iterations until no work is left
// or the round's instruction limit is used; then update priorities, bound the paused executions
// and charge for resources. Heartbeats and due global timers are the first work of each canister.
//
// An iteration executes one message (or one slice of a long execution) per canister with work,
// on all scheduler cores at once, and commits the results in canister-id order; the outputs
// delivered to local canisters are the next iteration's inputs. What runs where (in process, on
// which worker) never changes what the round does.

import { RandomTapeRng } from '../randomness/index.js';
import { SPAN, type MessageOutcome, type PhaseName } from '../telemetry/attributes.js';
import type { ReplicaMetrics } from '../telemetry/metrics.js';
import type { MessageAttributes, RoundTracer } from '../telemetry/tracing.js';
import { Principal } from '@icp-sdk/core/principal';
import { CanisterError, ErrorCode, RejectCode } from '../errors.js';
import type { Block, IngressMessage } from '../consensus/types.js';
import { rejectOf, type ExecutionEnvironment, type PreparedExecution } from '../execution/environment.js';
import type { HostJob, HostOutcome } from '../execution/host.js';
import { idOf, textOf } from '../execution/ids.js';
import { effectiveCanisterId, type ManagementCanister } from '../management/index.js';
import { isInstallMethod, isInstalling, waitsForInstall } from '../management/install-code.js';
import { PAGE_SIZE, type CanisterMessage, type CanisterState, type ExecutionWork, type ReplicatedState, type Request, type SystemTask } from '../state/index.js';
import { chargeForResources } from './resource-charging.js';
import { Router } from './routing.js';
import { RoundSchedule, byLongExecutionPriority, type NextExecution } from './schedule.js';
import { DEFAULT_SCHEDULER_CONFIG, type RoundOptions, type RoundSummary, type SchedulerConfig } from './types.js';

const MANAGEMENT = Principal.managementCanister();

/** Jobs handed to the host at a time while an iteration is prepared. */
const PREFETCH_BATCH = 64;

/** Management calls that replace a canister's code or memories: they abort its paused execution. */
const ABORTS_PAUSED = new Set(['install_code', 'install_chunked_code', 'uninstall_code', 'take_canister_snapshot', 'load_canister_snapshot']);

/** What one round accumulates while it runs. */
interface RoundTally {
  instructions: bigint;
  consumed: bigint;
  subnetInstructions: bigint;
  executed: number;
  iterations: number;
  /** Bytes of pages written by the round's executions. */
  heapDelta: number;
}

export class Scheduler {
  /**
   * The prepared executions of the long executions in progress, by canister id. Their replicated
   * part is `canister.scheduler.paused`; this is what finishing them needs besides.
   */
  private readonly long = new Map<string, PreparedExecution>();

  /** Ingress induction fees by message size. */
  private readonly inductionFees = new Map<number, bigint>();

  /** When the executions in flight were handed to the host (telemetry on only). */
  private readonly started = new Map<HostJob, number>();

  constructor(
    private readonly env: ExecutionEnvironment,
    private readonly management: ManagementCanister,
    readonly config: SchedulerConfig = DEFAULT_SCHEDULER_CONFIG,
    /** A span per phase and per message execution, under the round span the node opens. */
    private readonly tracer?: RoundTracer,
    /** Executions by outcome and their instructions (added to the counters when the node records the round). */
    private readonly metrics?: ReplicaMetrics,
  ) {
    const c = config;
    if (c.roundInstructions <= 0n || c.iterationInstructions <= 0n) throw new Error('the round and iteration instruction limits must be positive');
    if (!Number.isInteger(c.schedulerCores) || c.schedulerCores < 1) throw new Error(`schedulerCores must be a positive integer, got ${c.schedulerCores}`);
    if (!Number.isInteger(c.maxPausedExecutions) || c.maxPausedExecutions < 0) throw new Error(`maxPausedExecutions must be a non-negative integer, got ${c.maxPausedExecutions}`);
  }

  async executeRound(state: ReplicatedState, block: Block, options: RoundOptions = {}): Promise<RoundSummary> {
    const previousTime = state.time;
    const subnetQueue: Request[] = [];
    const router = new Router(state, subnetQueue, this.config, this.env.subnet.registry);
    state.height = block.height;
    state.time = block.time > state.time ? block.time : state.time + 1n;

    this.phase(SPAN.induct, () => {
      // raw_rand calls of earlier rounds: ChaCha20 keyed by this round's random tape.
      const rng = new RandomTapeRng(block.randomness);
      this.management.answerRawRand(state, () => rng.next32(), router);
      this.expireCallbacks(state);
      for (const slice of block.xnet ?? []) router.induct(slice);
      this.induct(state, block.ingress, router, subnetQueue);
    });
    const tasks = this.systemTasks(state);

    const tally: RoundTally = { instructions: 0n, consumed: 0n, subnetInstructions: 0n, executed: 0, iterations: 0, heapDelta: 0 };
    // Too many pages changed since the last checkpoint: canisters wait for it (management calls run).
    const canistersRun = subnetHeapDelta(state) < this.config.subnetHeapDeltaCapacity;
    const canisters = state.canisters();
    const schedule = RoundSchedule.compute(canisters, this.config.schedulerCores, state.height, this.config.priorityResetInterval);
    const fullyExecuted = new Set<CanisterState>();
    // Results are committed in canister-id order (`canisters` is in id order).
    const index = new Map(canisters.map((c, i) => [c, i]));
    const order = (c: CanisterState) => index.get(c)!;
    const membership = state.membership;
    const next = (c: CanisterState): NextExecution => {
      if (state.membership !== membership && state.canister(idOf(c)) !== c) return 'none'; // deleted during the round
      if (c.scheduler.paused) return 'long';
      return c.scheduler.pendingInstall || (tasks.get(c)?.length ?? 0) > 0 || c.inputQueue.length > 0 ? 'new' : 'none';
    };
    for (let first = true; ; first = false) {
      const { subnetProgress, progress } = await this.phase(SPAN.iteration, async () => {
        const subnetProgress = this.executeSubnetMessages(state, subnetQueue, router, tally);
        const progress = canistersRun && await this.iterate(state, schedule, next, tasks, router, fullyExecuted, first, tally, order);
        this.management.completeStops(state, router);
        return { subnetProgress, progress };
      });
      if (!subnetProgress && !progress) break;
      if (tally.consumed >= this.config.roundInstructions) break;
      if (tally.heapDelta >= this.config.maxHeapDeltaPerIteration) break;
    }

    schedule.finishRound(state.canisters(), fullyExecuted);
    this.boundPausedExecutions(state, options.checkpoint ? 0 : this.config.maxPausedExecutions);
    chargeForResources(state, previousTime, this.env, router, (c) => this.abort(c));

    // Management calls left when the budget ran out wait for the next round.
    state.pendingSubnetCalls.push(...subnetQueue.splice(0));
    state.ingressHistory.prune(state.time, this.config.ingressHistoryMemoryCapacity);
    const live = state.canisters();
    return {
      height: block.height,
      instructions: tally.instructions,
      roundInstructions: tally.consumed,
      messagesExecuted: tally.executed,
      iterations: tally.iterations,
      heapDelta: tally.heapDelta,
      pausedExecutions: this.long.size,
      workLeft: state.pendingSubnetCalls.length > 0
        || live.some((c) => c.inputQueue.length > 0 || c.scheduler.paused !== undefined || c.scheduler.pendingInstall !== undefined),
      xnet: { received: router.received, sent: router.sent },
    };
  }

  /** Aborts every paused execution (before a checkpoint); the messages start over later. */
  abortPausedExecutions(state: ReplicatedState): number {
    return this.boundPausedExecutions(state, 0);
  }

  // ---- phases ----------------------------------------------------------------------------------

  private phase<T>(name: PhaseName, fn: () => T): T {
    return this.tracer ? this.tracer.phase(name, fn) : fn();
  }

  /** Ingress induction: charge the receiver, queue the message, record its status. */
  private induct(state: ReplicatedState, ingress: readonly IngressMessage[], router: Router, subnetQueue: Request[]): void {
    subnetQueue.push(...state.pendingSubnetCalls.splice(0));
    for (const m of ingress) {
      if (state.ingressHistory.has(m.messageId)) continue; // duplicates are executed once
      const request: Request = {
        kind: 'request', sender: m.sender, receiver: m.receiver, method: m.method, arg: m.arg, cycles: 0n,
        origin: m.callerInfo === undefined ? { kind: 'ingress', messageId: m.messageId, sender: m.sender }
          : { kind: 'ingress', messageId: m.messageId, sender: m.sender, callerInfo: m.callerInfo },
        traceparent: m.traceparent,
      };
      // On the IC a message goes 'received' → 'processing' or a reject within this loop: only the last is recorded.
      // No closures here: under tsx every closure created costs a defineProperty (keepNames).
      if (m.receiver.compareTo(MANAGEMENT) === 'eq') {
        state.ingressHistory.set(m.messageId, { status: 'processing', sender: m.sender, receiver: m.receiver, time: state.time });
        subnetQueue.push(request);
        continue;
      }
      const canister = state.canister(textOf(m.receiver));
      if (!canister) {
        rejectIngress(router, m, new CanisterError(ErrorCode.CanisterNotFound, `Canister ${m.receiver.toText()} not found`));
        continue;
      }
      if (canister.status !== 'running') {
        rejectIngress(router, m, canister.status === 'stopped'
          ? new CanisterError(ErrorCode.CanisterStopped, `Canister ${canister.idText} is stopped and therefore does not have a CallContextManager`)
          : new CanisterError(ErrorCode.CanisterStopping, `Canister ${canister.idText} is stopping`));
        continue;
      }
      const fee = this.inductionCost(m.arg.length + m.method.length);
      const threshold = this.env.thresholds.of(canister);
      if (canister.balance - fee < threshold) {
        rejectIngress(router, m, new CanisterError(ErrorCode.CanisterOutOfCycles,
          `Canister ${canister.idText} is out of cycles: please top up the canister with at least ${fee + threshold - canister.balance} additional cycles`));
        continue;
      }
      canister.balance -= fee;
      canister.burn('ingress_induction', fee);
      state.cyclesBurned += fee;
      state.ingressHistory.set(m.messageId, { status: 'processing', sender: m.sender, receiver: m.receiver, time: state.time });
      canister.inputQueue.push(request);
    }
  }

  /** The induction fee by message size (a few sizes recur: computed once each). */
  private inductionCost(bytes: number): bigint {
    let fee = this.inductionFees.get(bytes);
    if (fee === undefined) {
      if (this.inductionFees.size >= 4096) this.inductionFees.clear();
      fee = this.env.fees.ingressInductionCost(BigInt(bytes));
      this.inductionFees.set(bytes, fee);
    }
    return fee;
  }

  /**
   * Best-effort calls whose deadline passed without a response: the caller gets a SYS_UNKNOWN
   * reject now, and the response, if it comes later, is dropped.
   */
  private expireCallbacks(state: ReplicatedState): void {
    for (const c of state.canisters()) {
      if (c.callbacks.size === 0) continue;
      for (const cb of c.callbacks.values()) {
        if (cb.deadline === 0n || cb.deadline > state.time) continue;
        const answered = (m: CanisterMessage) => m.kind === 'response' && m.callbackId === cb.id;
        if (c.inputQueue.some(answered)) continue;
        const work = c.scheduler.paused?.work;
        if (work?.kind === 'message' && answered(work.message)) continue;
        const e = new CanisterError(ErrorCode.DeadlineExpired, 'Call deadline has expired.');
        c.inputQueue.push({
          kind: 'response', originator: c.id, respondent: cb.callee, callbackId: cb.id,
          payload: { kind: 'reject', code: RejectCode.SysUnknown, message: e.message, errorCode: e.errorCode }, refund: 0n,
        });
      }
    }
  }

  /** Heartbeats and due global timers: each canister's first work in the round. */
  private systemTasks(state: ReplicatedState): Map<CanisterState, SystemTask[]> {
    const tasks = new Map<CanisterState, SystemTask[]>();
    for (const c of state.canisters()) {
      const methods = c.execution?.module.info.systemMethods;
      if (!methods || c.status !== 'running' || c.scheduler.paused || c.scheduler.pendingInstall) continue;
      const list: SystemTask[] = [];
      if (methods.heartbeat) list.push('heartbeat');
      if (methods.globalTimer && c.globalTimer !== 0n && c.globalTimer <= state.time) list.push('global_timer');
      if (list.length > 0) tasks.set(c, list);
    }
    return tasks;
  }

  /**
   * Management canister calls, in order, within the round's budget for them. Calls about a
   * canister that is installing code wait in the queue, in their order, until it is done.
   */
  private executeSubnetMessages(state: ReplicatedState, queue: Request[], router: Router, tally: RoundTally): boolean {
    let progress = false;
    const waiting: Request[] = [];
    const canisters = queue.length > 0 ? state.canisters() : [];
    const longInstall = canisters.some((c) => c.scheduler.paused?.work.kind === 'install');
    let installing = canisters.some(isInstalling);
    while (queue.length > 0 && tally.subnetInstructions < this.config.subnetMessageInstructions) {
      const request = queue.shift()!;
      const aborts = ABORTS_PAUSED.has(request.method);
      const target = installing || aborts ? effectiveCanisterId(request.method, request.arg) : undefined;
      if (installing && waitsForInstall(state, request, target, longInstall)) {
        waiting.push(request);
        continue;
      }
      if (aborts) {
        const canister = target && state.canister(target);
        if (canister?.scheduler.paused) this.abort(canister);
      }
      if (isInstallMethod(request.method)) installing = true;
      const used = this.management.execute(state, request, router);
      this.env.thresholds.clear(); // settings, snapshots or the chunk store may have changed
      tally.subnetInstructions += used;
      tally.instructions += used;
      tally.executed++;
      progress = true;
    }
    queue.unshift(...waiting);
    return progress;
  }

  /**
   * One iteration: prepare one execution per canister with work, run them on the cores, commit
   * the ones the cores had room for in canister-id order. Returns whether anything executed.
   */
  private async iterate(
    state: ReplicatedState, schedule: RoundSchedule, next: (c: CanisterState) => NextExecution,
    tasks: Map<CanisterState, SystemTask[]>, router: Router, fullyExecuted: Set<CanisterState>, first: boolean, tally: RoundTally,
    order: (c: CanisterState) => number,
  ): Promise<boolean> {
    if (tally.consumed >= this.config.roundInstructions) return false;
    schedule.chargeIdle(next, fullyExecuted);
    const cores = schedule.partition(next);
    if (cores.every((core) => core.length === 0)) return false;
    tally.iterations++;

    // Prepare in priority order (rank by rank across the cores), handing the host each batch as
    // it is ready so that execution starts while the rest is prepared.
    const prepared = new Map<CanisterState, PreparedExecution>();
    const plan: HostJob[][] = cores.map(() => []);
    const ranks = new Map<HostJob, number>();
    let batch: HostJob[] = [];
    const deepest = Math.max(...cores.map((core) => core.length));
    for (let rank = 0; rank < deepest; rank++) {
      for (let k = 0; k < cores.length; k++) {
        const c = cores[k]![rank];
        if (!c) continue;
        let job: HostJob;
        const work = c.scheduler.paused?.work ?? nextWork(c, tasks)!;
        if (c.scheduler.paused) job = { kind: 'resume', canister: c };
        else {
          const p = this.env.prepare(state, c, work);
          prepared.set(c, p);
          job = p.job ? { kind: 'start', canister: c, job: p.job } : { kind: 'none', canister: c };
        }
        // The span is made after the fact, when the outcome is committed: only its start is taken here.
        if (job.kind !== 'none' && this.tracer?.tracing) this.started.set(job, this.tracer.now());
        plan[k]!.push(job);
        ranks.set(job, rank);
        batch.push(job);
        if (batch.length >= PREFETCH_BATCH) {
          this.env.host.prefetch(batch);
          batch = [];
        }
      }
    }
    this.env.host.prefetch(batch);

    // Commit in canister-id order, each result as soon as it and all before it are decided.
    // One job per canister: placed by its index in id order (no sort).
    const slots: (HostJob | undefined)[] = [];
    for (const core of plan) {
      for (const job of core) {
        const i = order(job.canister);
        if (i === undefined || slots[i]) throw new Error(`canister ${job.canister.idText}: not scheduled this round, or twice in one iteration`);
        slots[i] = job;
      }
    }
    const inOrder: HostJob[] = [];
    for (const job of slots) if (job) inOrder.push(job);
    const decided = new Map<HostJob, HostOutcome | undefined>();
    let cursor = 0;
    let executed = 0;
    // What is committed is let go at once (results, prepared executions): kept to the end of the
    // iteration, a round's worth of them would be copied by each young-generation collection.
    const commitDecided = () => {
      while (cursor < inOrder.length && decided.has(inOrder[cursor]!)) {
        const job = inOrder[cursor++]!;
        const outcome = decided.get(job);
        decided.delete(job);
        const c = job.canister;
        const p = prepared.get(c);
        prepared.delete(c);
        if (!outcome) continue;
        executed++;
        this.apply(state, job, outcome, p, tasks, router, tally);
        if (next(c) !== 'new' || (first && ranks.get(job) === 0)) fullyExecuted.add(c);
      }
    };
    const left = this.config.roundInstructions - tally.consumed;
    const budget = left < this.config.iterationInstructions ? left : this.config.iterationInstructions;
    const result = await this.env.host.runIteration({
      cores: plan, budget, overhead: this.config.instructionOverheadPerExecution, heapDeltaLimit: this.config.maxHeapDeltaPerIteration,
      onDecided: (job, outcome) => {
        decided.set(job, outcome);
        commitDecided();
      },
    });
    commitDecided();
    this.started.clear(); // executions the cores had no room for: they start over in a later iteration
    if (cursor !== inOrder.length) throw new Error('an iteration ended with executions neither run nor refused');
    let most = 0n;
    for (const used of result.used) if (used > most) most = used;
    tally.consumed += most;
    for (const bytes of result.heapDelta) tally.heapDelta += bytes;
    return executed > 0;
  }

  /** Commits one execution's outcome: finished, paused after its first slice, or one slice further. */
  private apply(
    state: ReplicatedState, job: HostJob, outcome: HostOutcome, prepared: PreparedExecution | undefined,
    tasks: Map<CanisterState, SystemTask[]>, router: Router, tally: RoundTally,
  ): void {
    const tracer = this.tracer;
    if ((tracer === undefined && !this.metrics) || job.kind === 'none') return this.commit(state, job, outcome, prepared, tasks, router, tally, undefined);
    const work = job.kind === 'resume' ? job.canister.scheduler.paused?.work : prepared?.work;
    const message = work?.kind === 'message' ? work.message : work?.kind === 'install' ? work.request : undefined;
    // The sender's trace context: outgoing calls carry it on (or the execution's own, when traced).
    let traceparent = message?.kind === 'request' ? message.traceparent : undefined;
    const started = this.started.get(job);
    if (started === undefined && !this.metrics) return this.commit(state, job, outcome, prepared, tasks, router, tally, traceparent);
    const result = { outcome: outcomeOf(outcome), instructions: outcome.kind === 'none' ? 0n : outcome.slice };
    this.metrics?.recordMessage(result.outcome, result.instructions);
    if (started !== undefined) {
      this.started.delete(job);
      traceparent = tracer!.execution(messageAttributes(job, work, message), result, started, traceparent);
    }
    this.commit(state, job, outcome, prepared, tasks, router, tally, traceparent);
  }

  private commit(
    state: ReplicatedState, job: HostJob, outcome: HostOutcome, prepared: PreparedExecution | undefined,
    tasks: Map<CanisterState, SystemTask[]>, router: Router, tally: RoundTally, traceparent: string | undefined,
  ): void {
    const c = job.canister;
    if (outcome.kind !== 'none') tally.instructions += outcome.slice;
    if (job.kind === 'resume') {
      if (outcome.kind === 'paused') {
        this.env.continue(c, outcome.slice);
        return;
      }
      const long = this.long.get(idOf(c));
      if (!long || outcome.kind !== 'done') throw new Error(`canister ${c.idText}: a resumed execution must pause or finish`);
      this.long.delete(idOf(c));
      this.env.finish(state, long, outcome.result, router, traceparent);
      tally.executed++;
      return;
    }
    dequeue(c, prepared!.work, tasks);
    if (outcome.kind === 'paused') {
      this.env.begin(prepared!, outcome.slice);
      this.long.set(idOf(c), prepared!);
      return;
    }
    this.env.finish(state, prepared!, outcome.kind === 'done' ? outcome.result : undefined, router, traceparent);
    tally.executed++;
  }

  /** Keeps at most `max` paused executions (those the scheduler would continue first). */
  private boundPausedExecutions(state: ReplicatedState, max: number): number {
    const paused = byLongExecutionPriority(state.canisters());
    for (const c of paused.slice(max)) this.abort(c);
    return Math.max(paused.length - max, 0);
  }

  private abort(canister: CanisterState): void {
    const work = this.env.abort(canister);
    this.long.delete(idOf(canister));
    if (work.kind === 'message') canister.inputQueue.unshift(work.message);
    // An aborted install stays the canister's next execution and starts over (IC: AbortedInstallCode).
    if (work.kind === 'install') canister.scheduler.pendingInstall = work.request;
  }
}

/** The canister's next work that is not a long execution: a system task, then its input queue. */
function outcomeOf(outcome: HostOutcome): MessageOutcome {
  if (outcome.kind === 'paused') return 'paused';
  if (outcome.kind === 'none') return 'aborted';
  const main = outcome.result.main;
  if (!main.ok) return 'trapped';
  const response = main.outcome.response;
  return response === undefined ? 'completed' : response.kind === 'reply' ? 'replied' : 'rejected';
}

/** What the span of one execution (or one DTS slice of it) says about it. */
function messageAttributes(job: HostJob, work: ExecutionWork | undefined, message: CanisterMessage | undefined): MessageAttributes {
  const paused = job.canister.scheduler.paused;
  return {
    canisterId: idOf(job.canister), // cached: `idText` computes the checksum and base32 each time
    method: work?.kind === 'task' ? `canister_${work.task}` : message?.kind === 'request' ? message.method : 'callback',
    kind: work?.kind === 'task' ? (work.task === 'heartbeat' ? 'heartbeat' : 'global_timer')
      : message?.kind === 'response' ? 'response'
      : message?.origin.kind === 'ingress' ? 'ingress' : 'request',
    messageId: message?.kind === 'request' && message.origin.kind === 'ingress' ? message.origin.messageId : undefined,
    dtsSlice: job.kind === 'resume' && paused ? paused.slices : undefined,
  };
}

/** An ingress message refused at induction: rejected at once. */
function rejectIngress(router: Router, m: IngressMessage, error: CanisterError): void {
  router.ingressResult(m, rejectOf(error), m.receiver);
}

/** Bytes of canister memory pages changed since the last checkpoint (which writes them and resets the count). */
function subnetHeapDelta(state: ReplicatedState): number {
  let pages = 0;
  for (const c of state.canisters()) pages += (c.execution?.heap.dirty.size ?? 0) + c.stable.dirty.size;
  return pages * PAGE_SIZE;
}

function nextWork(c: CanisterState, tasks: Map<CanisterState, SystemTask[]>): ExecutionWork | undefined {
  const install = c.scheduler.pendingInstall;
  if (install) return { kind: 'install', request: install };
  const task = tasks.get(c)?.[0];
  if (task) return { kind: 'task', task };
  const message = c.inputQueue[0];
  return message ? { kind: 'message', message } : undefined;
}

function dequeue(c: CanisterState, work: ExecutionWork, tasks: Map<CanisterState, SystemTask[]>): void {
  if (work.kind === 'task') {
    if (tasks.get(c)?.shift() !== work.task) throw new Error(`canister ${c.idText}: the executed task was not next`);
    return;
  }
  if (work.kind === 'install') {
    if (c.scheduler.pendingInstall !== work.request) throw new Error(`canister ${c.idText}: the executed install was not next`);
    c.scheduler.pendingInstall = undefined;
    return;
  }
  if (c.inputQueue.shift() !== work.message) throw new Error(`canister ${c.idText}: the executed message was not at the front of its queue`);
}

