// The sandbox host on worker threads (one per core by default). Each canister has affinity to one
// worker, which keeps its live instance (a bounded number per worker); a worker that lacks the
// canister's instance gets a snapshot of its committed state to restore from. Compiled modules
// are shared with the workers, page deltas come back in transferred buffers.
//
// An iteration's new executions are sent in batches as the main thread prepares them and run in
// parallel (results come back per batch, to be committed while later batches run); the cores'
// budgets are applied by the same rule as in process (walkIteration), and an execution a core
// had no room for is undone. A long execution that uses up its slice keeps its worker blocked until the
// scheduler continues or aborts it; the pool sends that worker's other jobs elsewhere and puts a
// fresh worker in its place. Only `maxHeldExecutions` may hold a thread at once: beyond that a
// paused execution is rolled back and, when continued, run again from the start up to its next
// slice end (runs are deterministic: the replicated state cannot tell the difference).

import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import type { FeeSchedule } from '../cycles/index.js';
import type { CanisterState, PageMap } from '../state/index.js';
import type { ExecutionState } from '../state/canister.js';
import { InProcessSandboxHost, restoreCommitted, walkIteration, type HostJob, type HostOutcome, type IterationPlan, type IterationResult, type SandboxHost } from './host.js';
import { packSnapshot, sandboxModule, type JobResult, type SandboxJob } from './job.js';
import { WireReader, WireWriter, readReport, writeJob } from './job-codec.js';
import { idOf } from './ids.js';
import type { Sandbox, SandboxModule, SandboxResult } from './sandbox.js';
import { COMMAND, type EncodedReports, type FromWorker, type JobReport, type ToWorker, type WorkerData } from './worker-protocol.js';
import { workerEntry } from '../worker-entry.js';
import { equalBytes } from '../bytes.js';
import { executionFees } from './fees.js';

export interface WorkerPoolOptions {
  /** Worker threads that run canisters (see `defaultWorkerCount`). */
  readonly workers: number;
  readonly fees: FeeSchedule;
  readonly stableMemoryBytes: bigint;
  /** Long executions that may block a thread at once (more restart from scratch when continued). */
  readonly maxHeldExecutions?: number;
  /** Live instances per worker. */
  readonly maxSandboxesPerWorker?: number;
  /** Instances kept on the main thread for queries. */
  readonly maxQuerySandboxes?: number;
  /**
   * How much nicer than the main thread the workers run (Linux, where it is per thread; 0: as nice
   * as the main thread). The main thread prepares and commits every execution of a round, so a
   * core it waits for delays them all: with workers a little nicer, it runs first when the threads
   * outnumber the cores, and the workers take the rest. On 2 cores, 5 cut the main thread's wait
   * for a core by a third (7 → 4.7 ms a round) and raised the throughput by ~5%; 19 starved the
   * workers. Default: 5 with more than one core, else 0 (on one core nothing runs in parallel: the
   * threads only take turns).
   */
  readonly workerNice?: number;
  /**
   * Share of the canisters (0 to 1) whose messages the main thread runs itself, in the walk of
   * an iteration, while the workers run the rest. A message that does not end within
   * MAIN_THREAD_PROBE instructions is rolled back and run on a worker, and its canister stays
   * with the workers. Default 0.
   */
  readonly mainShare?: number;
}

/**
 * Instructions a message may run on the main thread (see `mainShare`): ~5 ms at most of the
 * thread every other execution waits for, once per canister that runs long messages.
 */
export const MAIN_THREAD_PROBE = 10_000_000n;

/** See `WorkerPoolOptions.workerNice`. */
export const DEFAULT_WORKER_NICE = 5;

function defaultWorkerNice(): number {
  return availableParallelism() > 1 ? DEFAULT_WORKER_NICE : 0;
}

/** Jobs a worker is sent at least at a time while an iteration is prepared (see `dispatch`). */
const MIN_BATCH = 32;

/** One worker thread per core. */
export function defaultWorkerCount(): number {
  return availableParallelism();
}

interface Origin {
  readonly execution: ExecutionState;
  readonly stable: PageMap;
}

type Role = 'active' | 'held' | 'spare' | 'retired';

class PoolWorker {
  /** [command, epoch]: see worker-protocol.ts. */
  readonly control: Int32Array;
  readonly modules = new Set<string>();
  /** Canisters whose instance this worker holds, least recently used first. */
  readonly canisters = new Map<string, true>();
  readonly evict: string[] = [];
  /** Jobs sent to it and not reported yet. */
  readonly pending = new Set<Dispatched>();
  /** Its next batch's jobs (see EncodedBatch). */
  readonly jobs = new WireWriter(1 << 16);
  /** Jobs placed on it and not sent yet (see `dispatch`). */
  readonly queued: { readonly d: Dispatched; readonly restore: boolean }[] = [];
  /** Buffers of results that came in this iteration (their pages are views of them until committed). */
  readonly received: ArrayBuffer[] = [];
  /** Buffers of results all committed: they go back with its next batch. */
  readonly returnable: ArrayBuffer[] = [];
  /** Batches of an older epoch are skipped (their jobs went elsewhere when the worker was held). */
  epoch = 0;
  /** The main thread waits for the slice it told its held execution to run. */
  awaiting = false;
  role: Role = 'active';
  /** The subnet id and root key last sent (job views come without them). */
  subnetId: Uint8Array | undefined;
  rootKey: Uint8Array | undefined;
  private referenced = false;

  constructor(readonly worker: Worker, control: SharedArrayBuffer) {
    this.control = new Int32Array(control);
  }

  send(message: ToWorker, transfer: ArrayBuffer[] = []): void {
    this.worker.postMessage(message, transfer);
  }

  /** Keeps the process alive only while the main thread waits for the worker. */
  refresh(): void {
    const busy = this.pending.size > 0 || this.awaiting;
    if (busy === this.referenced) return;
    this.referenced = busy;
    if (busy) this.worker.ref();
    else this.worker.unref();
  }

  command(command: number): void {
    Atomics.store(this.control, 0, command);
    Atomics.notify(this.control, 0);
  }

  /** Its jobs not run yet are taken away: batches sent before now will be skipped. */
  nextEpoch(): void {
    this.epoch++;
    Atomics.store(this.control, 1, this.epoch);
  }
}

/** One job sent to a worker, until its execution is done (across slices and rounds). */
class Dispatched {
  readonly id: number;
  /** Instructions executed when the last slice ended. */
  last = 0n;
  /** Slice ends passed so far. */
  ends = 0;
  worker: PoolWorker | undefined;
  /** An outcome (or failure) that came before anyone asked for it. */
  private ready: { readonly outcome: HostOutcome } | { readonly error: unknown } | undefined;
  private waiter: ((o: HostOutcome) => void) | undefined;
  private failer: ((e: unknown) => void) | undefined;

  constructor(id: number, readonly canister: CanisterState, readonly job: SandboxJob) {
    this.id = id;
  }

  /**
   * The next outcome (a slice end or the end): at once if it came already (results arrive a
   * batch at a time, so the walk mostly goes on without waiting), else a promise.
   */
  take(): HostOutcome | Promise<HostOutcome> {
    const ready = this.ready;
    if (ready) {
      this.ready = undefined;
      return 'outcome' in ready ? ready.outcome : Promise.reject(ready.error);
    }
    return new Promise<HostOutcome>((resolve, reject) => {
      this.waiter = resolve;
      this.failer = reject;
    });
  }

  slice(executed: bigint): void {
    this.ends++;
    const slice = executed - this.last;
    this.last = executed;
    this.settle({ kind: 'paused', slice });
  }

  done(result: JobResult): void {
    this.settle({ kind: 'done', result, slice: result.instructions - this.last });
  }

  fail(e: unknown): void {
    const f = this.failer;
    this.waiter = this.failer = undefined;
    if (f) f(e);
    else this.ready = { error: e };
  }

  private settle(o: HostOutcome): void {
    const w = this.waiter;
    this.waiter = this.failer = undefined;
    if (w) w(o);
    else this.ready = { outcome: o };
  }
}

type Long = { readonly kind: 'held'; readonly d: Dispatched; readonly worker: PoolWorker } | { readonly kind: 'detached'; readonly d: Dispatched };

/** What the pool did, for tests and benchmarks (not replicated). */
export interface WorkerPoolStats {
  /** Workers started, replacements for held ones included. */
  spawned: number;
  /** Snapshots sent for a worker to restore a canister's instance from. */
  restores: number;
  /** Executions run for a core that turned out to have no room for them, then undone. */
  undone: number;
  /** Paused executions that blocked a thread. */
  held: number;
  /** Paused executions that could not hold a thread and were run again to continue. */
  replays: number;
  /** Batches of jobs sent to workers. */
  batches: number;
  /** Executions the main thread ran (see `mainShare`). */
  local: number;
  /** Executions the main thread gave up at MAIN_THREAD_PROBE and sent to a worker. */
  probed: number;
}

export class WorkerSandboxHost implements SandboxHost {
  readonly stats: WorkerPoolStats = { spawned: 0, restores: 0, undone: 0, held: 0, replays: 0, batches: 0, local: 0, probed: 0 };
  private readonly active: PoolWorker[] = [];
  private readonly spares: PoolWorker[] = [];
  private readonly held = new Set<PoolWorker>();
  private readonly placements = new Map<string, { worker: PoolWorker; origin: Origin }>();
  private readonly jobs = new Map<number, Dispatched>();
  private readonly long = new Map<string, Long>();
  private readonly queries = new Map<string, { sandbox: Sandbox; origin: Origin }>();
  private readonly permits = new SharedArrayBuffer(4);
  private readonly maxSandboxes: number;
  private readonly maxQuerySandboxes: number;
  private readonly nice: number;
  /** Instances of the main thread's share of the canisters (see `mainShare`). */
  private readonly local: InProcessSandboxHost | undefined;
  private readonly mainShare: number;
  /** Per canister seen: whether the main thread runs its messages. */
  private readonly onMain = new Map<string, boolean>();
  private mainCount = 0;
  /** This iteration's jobs the main thread runs (not started ahead: it runs them in the walk). */
  private readonly mainJobs = new Set<HostJob>();
  private nextJob = 1;
  private nextBatch = 1;
  private failure: Error | undefined;
  private closed = false;

  constructor(private readonly options: WorkerPoolOptions) {
    if (!Number.isInteger(options.workers) || options.workers < 1) throw new Error(`a worker pool needs at least one worker, got ${options.workers}`);
    Atomics.store(new Int32Array(this.permits), 0, options.maxHeldExecutions ?? 8);
    this.maxSandboxes = options.maxSandboxesPerWorker ?? 2048;
    this.maxQuerySandboxes = options.maxQuerySandboxes ?? 256;
    this.nice = options.workerNice ?? defaultWorkerNice();
    if (!Number.isInteger(this.nice) || this.nice < 0 || this.nice > 19) throw new Error(`workerNice must be an integer from 0 to 19, got ${this.nice}`);
    this.mainShare = options.mainShare ?? 0;
    if (!(this.mainShare >= 0 && this.mainShare <= 1)) throw new Error(`mainShare must be from 0 to 1, got ${options.mainShare}`);
    if (this.mainShare > 0) this.local = new InProcessSandboxHost(executionFees(options.fees), options.stableMemoryBytes, this.maxSandboxes);
    for (let i = 0; i < options.workers; i++) this.active.push(this.spawn());
  }

  get pausedCount(): number {
    return this.long.size;
  }

  /** The worker threads running canisters now (for measurements). */
  threads(): Worker[] {
    return this.active.map((w) => w.worker);
  }

  /** Executions started ahead of their iteration's walk. */
  private readonly starts = new Map<HostJob, Dispatched>();

  prefetch(jobs: readonly HostJob[]): void {
    if (this.failure) return;
    const dispatched: Dispatched[] = [];
    for (const job of jobs) {
      if (job.kind !== 'start' || this.starts.has(job) || this.mainJobs.has(job)) continue;
      if (this.runsOnMain(job)) {
        this.mainJobs.add(job);
        continue;
      }
      const d = new Dispatched(this.nextJob++, job.canister, job.job);
      this.starts.set(job, d);
      dispatched.push(d);
    }
    this.dispatch(dispatched, false);
  }

  async runIteration(plan: IterationPlan): Promise<IterationResult> {
    if (this.failure) throw this.failure;
    this.prefetch(plan.cores.flat());
    this.dispatch([]); // what waits for a full batch goes now
    const starts = new Map(this.starts);
    this.starts.clear();
    const mainJobs = new Set(this.mainJobs);
    this.mainJobs.clear();
    const result = await walkIteration(plan, (job) => {
      if (job.kind === 'none') return { kind: 'none' };
      if (job.kind === 'resume') return this.resume(idOf(job.canister));
      if (mainJobs.has(job)) return this.runOnMain(job as Extract<HostJob, { kind: 'start' }>);
      const d = starts.get(job)!;
      starts.delete(job); // what is left are the jobs the cores had no room for
      return d.take();
    });
    // Executions started for a core that then had no room for them are undone.
    for (let k = 0; k < plan.cores.length; k++) {
      for (let i = 0; i < plan.cores[k]!.length; i++) {
        const job = plan.cores[k]![i]!;
        if (result.ran[k]![i] || job.kind !== 'start' || mainJobs.has(job)) continue;
        const outcome = await starts.get(job)!.take();
        this.stats.undone++;
        if (outcome.kind === 'paused') this.abort(idOf(job.canister));
        else this.invalidate(idOf(job.canister));
      }
    }
    // Every outcome of the iteration is decided and committed before the scheduler prepares the
    // next one: the buffers their results came in can be written again.
    for (const w of this.active) w.returnable.push(...w.received.splice(0));
    return result;
  }

  abort(canisterId: string): void {
    const long = this.long.get(canisterId);
    if (!long) return;
    this.long.delete(canisterId);
    this.jobs.delete(long.d.id);
    // A held execution is rolled back by its worker, which then drops its instances; a detached
    // one was rolled back already and its instance is at the committed state.
    if (long.kind === 'held') long.worker.command(COMMAND.abort);
  }

  invalidate(canisterId: string): void {
    this.local?.invalidate(canisterId);
    this.forgetPlacement(canisterId);
    this.queries.delete(canisterId);
  }

  querySandbox(canister: CanisterState): Sandbox {
    const id = idOf(canister);
    const cached = this.queries.get(id);
    if (cached && sameOrigin(cached.origin, canister)) {
      this.queries.delete(id);
      this.queries.set(id, cached);
      return cached.sandbox;
    }
    const sandbox = restoreCommitted(canister, this.options.stableMemoryBytes);
    this.queries.delete(id);
    this.queries.set(id, { sandbox, origin: originOf(canister) });
    while (this.queries.size > this.maxQuerySandboxes) this.queries.delete(this.queries.keys().next().value!);
    return sandbox;
  }

  committed(canister: CanisterState, result: Extract<SandboxResult, { ok: true }>): void {
    const cached = this.queries.get(idOf(canister));
    if (!cached) return;
    if (sameOrigin(cached.origin, canister)) cached.sandbox.applyCommitted(result);
    else this.queries.delete(idOf(canister));
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const all = [...this.active, ...this.spares, ...this.held];
    for (const w of all) w.command(COMMAND.abort);
    for (const d of this.jobs.values()) d.fail(new Error('the worker pool was closed'));
    await this.local?.close();
    await Promise.all(all.map((w) => w.worker.terminate()));
  }

  // ---- dispatching -----------------------------------------------------------------------------

  /** Whether the main thread runs this job: its canister is in the main thread's share. */
  private runsOnMain(job: Extract<HostJob, { kind: 'start' }>): boolean {
    if (!this.local || job.job.install || !job.canister.execution) return false;
    const id = idOf(job.canister);
    let mine = this.onMain.get(id);
    if (mine === undefined) {
      // Canisters as they come, each to the main thread while it has less than its share.
      mine = this.mainCount < this.mainShare * (this.onMain.size + 1);
      if (mine) this.mainCount++;
      this.onMain.set(id, mine);
    }
    return mine;
  }

  /**
   * Runs a job on the main thread, or, if it is too long for it, on a worker (the canister then
   * stays with the workers). A worker's instance of the canister is stale once the main thread
   * ran it, and the other way round: whichever runs it drops the other's.
   */
  private runOnMain(job: Extract<HostJob, { kind: 'start' }>): HostOutcome | Promise<HostOutcome> {
    const id = idOf(job.canister);
    this.forgetPlacement(id);
    const outcome = this.local!.tryRun(job, MAIN_THREAD_PROBE);
    if (outcome) {
      this.stats.local++;
      return outcome;
    }
    this.stats.probed++;
    this.local!.invalidate(id);
    this.onMain.set(id, false);
    this.mainCount--;
    const d = new Dispatched(this.nextJob++, job.canister, job.job);
    this.dispatch([d]);
    return d.take();
  }

  private forgetPlacement(canisterId: string): void {
    const p = this.placements.get(canisterId);
    if (!p) return;
    this.placements.delete(canisterId);
    if (p.worker.role === 'active' && p.worker.canisters.delete(canisterId)) p.worker.evict.push(canisterId);
  }

  private resume(canisterId: string): HostOutcome | Promise<HostOutcome> {
    const long = this.long.get(canisterId);
    if (!long) throw new Error(`canister ${canisterId} has no paused execution to resume`);
    const next = long.d.take();
    if (long.kind === 'held') {
      long.worker.awaiting = true;
      long.worker.refresh();
      long.worker.command(COMMAND.continue);
    } else {
      this.long.delete(canisterId);
      this.dispatch([long.d]);
    }
    return next;
  }

  /**
   * Sends jobs to the workers that hold their canisters (or to the least loaded, with a
   * snapshot). A worker runs a batch while the main thread prepares the next one or commits the
   * results of the previous one. Unless `flush`, a worker's jobs wait until it has a batch of at
   * least MIN_BATCH: smaller batches cost more in hand-offs between the threads than they win in
   * running early (8 jobs a batch halved the throughput of two workers).
   */
  private dispatch(list: readonly Dispatched[], flush = true): void {
    for (const d of list) {
      const { worker, restore } = this.place(d.canister);
      worker.queued.push({ d, restore });
    }
    for (const w of this.active) if (w.queued.length > 0 && (flush || w.queued.length >= MIN_BATCH)) this.send(w);
  }

  /** Sends the worker its queued jobs as one batch. */
  private send(worker: PoolWorker): void {
    const canisters: string[] = [];
    const modules: SandboxModule[] = [];
    const transfer: ArrayBuffer[] = [];
    let subnet: { subnetId: Uint8Array; rootKey: Uint8Array } | undefined;
    worker.jobs.reset();
    for (const { d, restore } of worker.queued.splice(0)) {
      const module = d.job.module;
      if (!worker.modules.has(module.hashHex)) {
        worker.modules.add(module.hashHex);
        modules.push(sandboxModule(module));
      }
      const { subnetId, rootKey } = d.job.view;
      if (!sameBytes(worker.subnetId, subnetId) || !sameBytes(worker.rootKey, rootKey)) {
        worker.subnetId = subnetId;
        worker.rootKey = rootKey;
        subnet = { subnetId, rootKey };
      }
      // An install on an empty canister needs no instance of the old code.
      const snapshot = restore && d.canister.execution ? snapshotOf(d.canister) : undefined;
      if (restore) this.stats.restores++;
      if (d.ends > 0) this.stats.replays++;
      if (snapshot) transfer.push(snapshot.heap.bytes.buffer as ArrayBuffer, snapshot.stable.bytes.buffer as ArrayBuffer);
      // See EncodedBatch. A detached long execution runs again from the start, through the slice ends it passed.
      const w = worker.jobs;
      w.u32(d.id);
      w.u32(d.ends);
      w.extra(snapshot);
      // The view goes without the subnet's id and root key (sent once per batch when they change).
      const install = d.job.install;
      if (install && !worker.modules.has(install.module.hashHex)) {
        worker.modules.add(install.module.hashHex);
        modules.push(install.module);
      }
      writeJob(w, d.job, module.hashHex, install && { mode: install.mode, preUpgrade: install.preUpgrade, module: install.module.hashHex });
      canisters.push(d.job.canisterId);
      d.worker = worker;
      worker.pending.add(d);
      this.jobs.set(d.id, d);
    }
    // Evictions run before the batch's jobs, after the batches sent earlier (a canister with a
    // job queued for this worker is in this batch: queues are sent whole).
    let inBatch: Set<string> | undefined;
    for (const id of worker.canisters.keys()) {
      if (worker.canisters.size <= this.maxSandboxes) break;
      inBatch ??= new Set(canisters);
      if (inBatch.has(id)) continue;
      worker.canisters.delete(id);
      this.placements.delete(id);
      worker.evict.push(id);
    }
    worker.refresh();
    const extras = worker.jobs.extras;
    const jobs = worker.jobs.take();
    const returned = worker.returnable.splice(0);
    this.stats.batches++;
    worker.send({
      type: 'batch', batch: this.nextBatch++, epoch: worker.epoch, modules, evict: worker.evict.splice(0),
      jobs: { jobs, extras }, returned, subnet,
    }, [jobs.buffer, ...returned, ...transfer]);
  }

  private place(canister: CanisterState): { worker: PoolWorker; restore: boolean } {
    const id = idOf(canister);
    const p = this.placements.get(id);
    if (p && p.worker.role === 'active' && sameOrigin(p.origin, canister)) {
      p.worker.canisters.delete(id);
      p.worker.canisters.set(id, true);
      return { worker: p.worker, restore: false };
    }
    let worker = p && p.worker.role === 'active' ? p.worker : this.active[0]!;
    if (!(p && p.worker.role === 'active')) {
      for (const w of this.active) if (w.canisters.size < worker.canisters.size) worker = w;
    }
    worker.canisters.delete(id);
    worker.canisters.set(id, true);
    this.placements.set(id, { worker, origin: originOf(canister) });
    return { worker, restore: true };
  }

  // ---- worker life cycle -----------------------------------------------------------------------

  private spawn(): PoolWorker {
    this.stats.spawned++;
    const control = new SharedArrayBuffer(8);
    const data: WorkerData = {
      fees: this.options.fees, stableMemoryBytes: this.options.stableMemoryBytes, control, permits: this.permits, nice: this.nice,
    };
    const w = new PoolWorker(new Worker(workerEntry(import.meta.url, 'worker'), { workerData: data }), control);
    w.worker.on('message', (m: FromWorker) => this.receive(w, m));
    w.worker.on('error', (e) => this.fail(e));
    w.worker.on('exit', (code) => {
      if (!this.closed && w.role !== 'retired') this.fail(new Error(`a sandbox worker exited unexpectedly (code ${code})`));
    });
    // After the listeners (adding one refs the worker again): idle workers keep no process alive.
    w.worker.unref();
    return w;
  }

  /**
   * The worker blocks on a paused execution: a fresh one takes its place among the active, its
   * instances are forgotten (their canisters are restored elsewhere when they run next), and the
   * jobs it has not run go elsewhere. Returns those jobs.
   */
  private hold(w: PoolWorker, held: Dispatched): Dispatched[] {
    const slot = this.active.indexOf(w);
    if (slot < 0) throw new Error('only an active worker can hold a paused execution');
    w.role = 'held';
    this.held.add(w);
    this.stats.held++;
    const next = this.spares.pop() ?? this.spawn();
    next.role = 'active';
    this.active[slot] = next;
    for (const id of w.canisters.keys()) this.placements.delete(id);
    w.canisters.clear();
    w.evict.length = 0;
    w.nextEpoch();
    const orphans = [...w.pending, ...w.queued.splice(0).map((q) => q.d)].filter((d) => d !== held);
    w.pending.clear();
    w.refresh();
    return orphans;
  }

  /** The held execution is over: the worker drops its instances and waits as a spare. */
  private release(w: PoolWorker): void {
    this.held.delete(w);
    w.awaiting = false;
    w.refresh();
    if (this.closed) return;
    if (this.spares.length < (this.options.maxHeldExecutions ?? 8)) {
      w.send({ type: 'reset' });
      w.role = 'spare';
      this.spares.push(w);
    } else {
      w.role = 'retired';
      void w.worker.terminate();
    }
  }

  private receive(w: PoolWorker, m: FromWorker): void {
    switch (m.type) {
      case 'results':
        w.jobs.give(m.jobs);
        w.received.push(m.reports.buffer);
        this.reports(w, m.reports);
        return;
      case 'paused': {
        this.reports(w, m.reports);
        const d = this.jobs.get(m.id)!;
        const orphans = this.hold(w, d);
        this.long.set(idOf(d.canister), { kind: 'held', d, worker: w });
        d.slice(m.executed);
        this.dispatch(orphans);
        return;
      }
      case 'slice':
        w.awaiting = false;
        w.refresh();
        this.jobs.get(m.id)?.slice(m.executed);
        return;
      case 'released':
        this.release(w);
        if (m.report) this.reports(w, m.report);
        else this.jobs.delete(m.id);
        return;
    }
  }

  private reports(w: PoolWorker, encoded: EncodedReports): void {
    const r = new WireReader(encoded);
    while (!r.done) this.report(w, readReport(r));
  }

  private report(w: PoolWorker, r: JobReport): void {
    const d = this.jobs.get(r.id);
    if (d) w.pending.delete(d);
    w.refresh();
    if (!d) return; // aborted meanwhile
    if (r.kind === 'done') {
      this.jobs.delete(r.id);
      this.long.delete(idOf(d.canister));
      d.done(r.result);
      return;
    }
    this.long.set(idOf(d.canister), { kind: 'detached', d });
    d.slice(r.executed);
  }

  private fail(e: unknown): void {
    if (this.closed || this.failure) return;
    this.failure = e instanceof Error ? e : new Error(String(e));
    for (const d of this.jobs.values()) d.fail(this.failure);
  }
}

function sameBytes(a: Uint8Array | undefined, b: Uint8Array): boolean {
  return a === b || (a !== undefined && equalBytes(a, b));
}

function originOf(canister: CanisterState): Origin {
  return { execution: canister.execution!, stable: canister.stable };
}

function sameOrigin(origin: Origin, canister: CanisterState): boolean {
  return origin.execution === canister.execution && origin.stable === canister.stable;
}

function snapshotOf(canister: CanisterState) {
  const exec = canister.execution!;
  return packSnapshot({ heap: exec.heap, stable: canister.stable, globals: exec.globals });
}

