// Where sandboxes live: the seam between the main thread, which owns the replicated state, and
// the executors that hold live instances. Two implementations: in process (this file) and a pool
// of worker threads (worker-pool.ts). Both run an iteration by the same rule, so the outcome of a
// round never depends on which one runs it, nor on the number of workers.

import { PAGE_SIZE, type CanisterState, type PageMap } from '../state/index.js';
import type { ExecutionState } from '../state/canister.js';
import type { CallCosts } from '../system-api/index.js';
import type { JobResult, SandboxJob } from './job.js';
import { idOf } from './ids.js';
import { SandboxRunner } from './runner.js';
import { Sandbox, type SandboxResult } from './sandbox.js';

/** One execution a scheduler core runs in an iteration. */
export type HostJob =
  /** A new message, task or callback: run `job` on the canister's instance. */
  | { readonly kind: 'start'; readonly canister: CanisterState; readonly job: SandboxJob }
  /** The next slice of the canister's paused (DTS) execution. */
  | { readonly kind: 'resume'; readonly canister: CanisterState }
  /** Decided without running code (a refused request, a dropped response): counts as an execution. */
  | { readonly kind: 'none'; readonly canister: CanisterState };

export type HostOutcome =
  /** The execution finished in this slice; `slice` is what this slice ran. */
  | { readonly kind: 'done'; readonly result: JobResult; readonly slice: bigint }
  /** The slice was used up: the execution is paused until the scheduler resumes or aborts it. */
  | { readonly kind: 'paused'; readonly slice: bigint }
  | { readonly kind: 'none' };

export interface IterationPlan {
  /** Per scheduler core, its executions in priority order. */
  readonly cores: readonly (readonly HostJob[])[];
  /**
   * Told, for every job, whether it ran (its outcome) or not (undefined), as soon as that is
   * known: the scheduler commits while later executions still run.
   */
  readonly onDecided?: (job: HostJob, outcome: HostOutcome | undefined) => void;
  /** A job starts only while its core has used less than this (then at most one slice more). */
  readonly budget: bigint;
  /** Instructions counted per execution on top of what it ran (entering and leaving the engine). */
  readonly overhead: bigint;
  /** A job starts only while its core's executions of this iteration wrote fewer bytes of pages than this. */
  readonly heapDeltaLimit?: number;
}

export interface IterationResult {
  /**
   * Per core and job: whether it ran, or the core's budget ran out before it. (The outcomes went
   * to `onDecided`; holding them here would keep every result of the iteration alive to its end.)
   */
  readonly ran: readonly (readonly boolean[])[];
  /** Instructions each core used, overheads included. */
  readonly used: readonly bigint[];
  /** Bytes of pages each core's finished executions wrote. */
  readonly heapDelta: readonly number[];
}

export interface SandboxHost {
  /**
   * Jobs of the coming iteration, while the rest is being prepared: a host with workers starts
   * them at once (whether a core has room for them is only known later; if not, they are undone).
   */
  prefetch(jobs: readonly HostJob[]): void;
  /** Runs the iteration's executions (the prefetched ones included); resolves when every core is done. */
  runIteration(plan: IterationPlan): Promise<IterationResult>;
  /** Aborts the canister's paused execution: its instance is rolled back or dropped. */
  abort(canisterId: string): void;
  /** Drops the canister's live instance (new code, deleted, state replaced). */
  invalidate(canisterId: string): void;
  /** A main-thread instance on the canister's committed state, for queries and inspect_message. */
  querySandbox(canister: CanisterState): Sandbox;
  /** A result of the canister was committed to the replicated state. */
  committed(canister: CanisterState, result: Extract<SandboxResult, { ok: true }>): void;
  /** Paused executions the host holds. */
  readonly pausedCount: number;
  /** Stops the executors (worker threads); the host is unusable afterwards. */
  close(): Promise<void>;
}

export function outcomeInstructions(o: HostOutcome): bigint {
  return o.kind === 'none' ? 0n : o.slice;
}

/**
 * Bytes of memory pages an outcome writes when committed: the changed heap and stable pages of
 * the message and of its cleanup (a long execution counts when it finishes, as on the IC).
 */
export function outcomeHeapDelta(o: HostOutcome): number {
  if (o.kind !== 'done') return 0;
  let pages = 0;
  for (const r of [o.result.main, o.result.cleanup]) if (r?.ok) pages += r.heap.pages.length + r.stable.pages.length;
  return pages * PAGE_SIZE;
}

/**
 * The rule both hosts follow: each core takes its jobs in order and starts one only while it has
 * used less than the budget. `run` may run a job at once or return one already in flight.
 */
export async function walkIteration(
  plan: IterationPlan,
  run: (job: HostJob) => HostOutcome | Promise<HostOutcome>,
): Promise<IterationResult> {
  const used = plan.cores.map(() => 0n);
  const heapDelta = plan.cores.map(() => 0);
  const heapDeltaLimit = plan.heapDeltaLimit ?? Infinity;
  const ran = await Promise.all(plan.cores.map(async (core, k) => {
    const out: boolean[] = [];
    for (const job of core) {
      if (used[k]! >= plan.budget || heapDelta[k]! >= heapDeltaLimit) {
        out.push(false);
        plan.onDecided?.(job, undefined);
        continue;
      }
      const running = run(job);
      const o = running instanceof Promise ? await running : running;
      used[k] = used[k]! + outcomeInstructions(o) + plan.overhead;
      heapDelta[k] = heapDelta[k]! + outcomeHeapDelta(o);
      out.push(true);
      plan.onDecided?.(job, o);
    }
    return out;
  }));
  return { ran, used, heapDelta };
}

/** The persisted state an instance was restored from, to notice when it was replaced. */
interface Origin {
  readonly execution: ExecutionState;
  readonly stable: PageMap;
}

/** A long execution the in-process host ran ahead of the rounds: its slice ends and result. */
interface Playback {
  readonly ends: readonly bigint[];
  readonly result: JobResult;
  next: number;
}

/**
 * Runs jobs on the main thread. It cannot block in the middle of a message, so a long (DTS)
 * execution runs to its end at once and is then handed to the scheduler slice by slice, with the
 * same slice ends a worker would report: the replicated state sees exactly what it would see with
 * workers. The instance, ahead of the replicated state until then, serves no queries meanwhile.
 */
export class InProcessSandboxHost implements SandboxHost {
  private readonly runner: SandboxRunner;
  private readonly origins = new Map<string, Origin>();
  private readonly playback = new Map<string, Playback>();

  constructor(
    costs: CallCosts,
    private readonly stableMemoryBytes: bigint,
    private readonly maxSandboxes = 4096,
  ) {
    this.runner = new SandboxRunner(costs, stableMemoryBytes);
  }

  get pausedCount(): number {
    return this.playback.size;
  }

  prefetch(): void {
    // Jobs run when the walk reaches them: in process, nothing is started ahead.
  }

  runIteration(plan: IterationPlan): Promise<IterationResult> {
    return walkIteration(plan, (job) => this.run(job));
  }

  private run(job: HostJob): HostOutcome {
    const id = idOf(job.canister);
    if (job.kind === 'none') return { kind: 'none' };
    if (job.kind === 'resume') {
      const p = this.playback.get(id);
      if (!p) throw new Error(`canister ${id} has no paused execution to resume`);
      if (p.next < p.ends.length) {
        const slice = p.ends[p.next]! - p.ends[p.next - 1]!;
        p.next++;
        return { kind: 'paused', slice };
      }
      this.playback.delete(id);
      return { kind: 'done', result: p.result, slice: p.result.instructions - p.ends[p.ends.length - 1]! };
    }
    if (job.canister.execution) this.instance(job.canister); // an install may find none
    const ends: bigint[] = [];
    const result = this.runner.run(job.job, (executed) => {
      ends.push(executed);
      return 'continue';
    });
    if (result === 'aborted') throw new Error('an in-process execution cannot be aborted while it runs');
    if (ends.length === 0) return { kind: 'done', result, slice: result.instructions };
    // The result's heap pages are views of the instance's memory: they stay valid, as the instance
    // runs nothing until the result is committed (queries get a throw-away instance meanwhile).
    this.playback.set(id, { ends, result, next: 1 });
    return { kind: 'paused', slice: ends[0]! };
  }

  /**
   * Runs a new execution (not an install; the canister has code) only if it ends within `probe`
   * instructions (and within its slice); otherwise rolls it back and returns undefined, for the
   * caller to run it elsewhere. The worker pool runs its main thread's share of the canisters this
   * way: a long message must not block the thread that prepares and commits every execution.
   */
  tryRun(job: Extract<HostJob, { kind: 'start' }>, probe: bigint): HostOutcome | undefined {
    this.instance(job.canister);
    const limits = job.job.limits;
    const slice = limits.slice !== undefined && limits.slice < probe ? limits.slice : probe;
    const result = this.runner.run({ ...job.job, limits: { ...limits, slice } }, () => 'abort');
    return result === 'aborted' ? undefined : { kind: 'done', result, slice: result.instructions };
  }

  abort(canisterId: string): void {
    if (this.playback.delete(canisterId)) this.invalidate(canisterId);
  }

  invalidate(canisterId: string): void {
    this.runner.evict(canisterId);
    this.origins.delete(canisterId);
  }

  querySandbox(canister: CanisterState): Sandbox {
    if (this.playback.has(idOf(canister))) return restoreCommitted(canister, this.stableMemoryBytes);
    return this.instance(canister);
  }

  committed(): void {
    // The instance ran the message itself: it is already equal to the committed state.
  }

  async close(): Promise<void> {
    this.runner.clear();
    this.origins.clear();
    this.playback.clear();
  }

  /** The canister's instance, restored from the replicated state if it has none or a stale one. */
  private instance(canister: CanisterState): Sandbox {
    const id = idOf(canister);
    const exec = canister.execution;
    if (!exec) throw new Error(`canister ${id} has no code to run`);
    const origin = this.origins.get(id);
    const current = this.runner.sandbox(id);
    if (current && origin && origin.execution === exec && origin.stable === canister.stable) {
      // Map order is the LRU order.
      this.origins.delete(id);
      this.origins.set(id, origin);
      return current;
    }
    const sandbox = this.runner.restore(id, exec.module, { heap: exec.heap, stable: canister.stable.clone(), globals: exec.globals });
    this.origins.delete(id);
    this.origins.set(id, { execution: exec, stable: canister.stable });
    while (this.origins.size > this.maxSandboxes) {
      const oldest = this.origins.keys().next().value!;
      this.invalidate(oldest);
    }
    return sandbox;
  }
}

/** A throw-away instance on the canister's committed state. */
export function restoreCommitted(canister: CanisterState, stableMemoryBytes: bigint): Sandbox {
  const exec = canister.execution;
  if (!exec) throw new Error(`canister ${canister.idText} has no code to run`);
  return Sandbox.restore(exec.module, { heap: exec.heap, stable: canister.stable.clone(), globals: exec.globals }, stableMemoryBytes);
}
