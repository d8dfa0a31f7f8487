// Fairness, as on the IC (rs/execution_environment/src/scheduler/round_schedule.rs): every round
// each canister's accumulated priority grows by its compute allocation plus an even share of the
// free capacity, and shrinks by 100% for each round it executed in full. Canisters are ordered by
// it (long executions first, canister id as the tie-break) and dealt to the scheduler cores, so a
// canister with a compute allocation of x% is first on a core in at least x% of the rounds, and
// every canister eventually rises to the top: none starves.

import type { CanisterState } from '../state/index.js';

/** What a canister executes next, as far as scheduling is concerned. */
export type NextExecution = 'none' | 'new' | 'long';

export class RoundSchedule {
  private constructor(
    readonly cores: number,
    /** Cores given to the highest-priority long executions, one each. */
    readonly longCores: number,
    readonly totalComputeAllocation: bigint,
    /** Canisters without a long execution, by priority. */
    readonly orderedNew: readonly CanisterState[],
    /** Canisters with a long (paused) execution, by priority. */
    readonly orderedLong: readonly CanisterState[],
  ) {}

  /**
   * Orders the canisters for a round (`canisters` in id order) and marks the long executions
   * that get a core of their own. Every `resetInterval` rounds the priorities start over.
   */
  static compute(canisters: readonly CanisterState[], cores: number, round: bigint, resetInterval: bigint): RoundSchedule {
    const n = BigInt(canisters.length);
    const m = multiplier(cores, canisters.length);
    const capacity = computeCapacity(cores);
    let totalAllocation = 0n;
    for (const c of canisters) {
      if (resetInterval > 0n && round % resetInterval === 0n) {
        c.scheduler.accumulatedPriority = c.settings.computeAllocation * m;
        c.scheduler.priorityCredit = 0n;
      }
      totalAllocation += c.settings.computeAllocation;
    }
    const freePerCanister = n === 0n ? 0n : positive(capacity - totalAllocation) * BigInt(cores);
    let longAllocation = 0n;
    let longCount = 0;
    for (const c of canisters) {
      if (!c.scheduler.paused) continue;
      longAllocation += c.settings.computeAllocation * m + freePerCanister;
      longCount++;
    }
    // Sort is stable and `canisters` is in id order: ties go to the smaller canister id.
    const ordered = [...canisters].sort((a, b) => {
      const sa = a.scheduler;
      const sb = b.scheduler;
      if (sa.longExecutionMode !== sb.longExecutionMode) return sa.longExecutionMode === 'prioritized' ? -1 : 1;
      if ((sa.paused === undefined) !== (sb.paused === undefined)) return sa.paused ? -1 : 1;
      return sa.accumulatedPriority > sb.accumulatedPriority ? -1 : sa.accumulatedPriority < sb.accumulatedPriority ? 1 : 0;
    });
    let longCores = longCount === 0 ? 0 : Number((longAllocation + 100n * m - 1n) / (100n * m));
    longCores = Math.min(Math.max(longCores, longCount > 0 ? 1 : 0), Math.max(cores - 1, 1), longCount);
    const orderedLong = ordered.slice(0, longCount);
    for (const c of orderedLong.slice(0, longCores)) c.scheduler.longExecutionMode = 'prioritized';
    return new RoundSchedule(cores, longCores, totalAllocation, ordered.slice(longCount), orderedLong);
  }

  /**
   * The canisters with work, dealt to the cores: the top long executions on cores of their own,
   * new executions round-robin on the other cores, the remaining long executions after them.
   * A canister that started the round with a long execution takes no new work in this round (but
   * an install_code that aborted it).
   */
  partition(next: (c: CanisterState) => NextExecution): CanisterState[][] {
    const out: CanisterState[][] = Array.from({ length: this.cores }, () => []);
    const long = this.orderedLong.filter((c) => next(c) === 'long');
    const prioritized = long.filter((c) => c.scheduler.longExecutionMode === 'prioritized').slice(0, this.longCores);
    const opportunistic = long.filter((c) => !prioritized.includes(c));
    let idx = 0;
    for (const c of prioritized) out[idx++]!.push(c);
    const first = idx;
    const newCores = this.cores - first;
    if (newCores <= 0) idx = 0;
    // A canister whose long execution install_code aborted this round runs the install now.
    const installing = this.orderedLong.filter((c) => c.scheduler.pendingInstall !== undefined && next(c) === 'new');
    for (const c of installing.length === 0 ? this.orderedNew : [...installing, ...this.orderedNew]) {
      if (next(c) === 'none') continue;
      out[idx]!.push(c);
      idx = newCores <= 0 ? (idx + 1) % this.cores : first + ((idx - first + 1) % newCores);
    }
    for (const c of opportunistic) {
      out[idx]!.push(c);
      idx = (idx + 1) % this.cores;
    }
    return out;
  }

  /** Idle canisters ahead of the first one with work count as fully executed (so idling is not hoarded). */
  chargeIdle(next: (c: CanisterState) => NextExecution, fullyExecuted: Set<CanisterState>): void {
    for (const c of this.orderedNew) {
      if (next(c) !== 'none') break;
      fullyExecuted.add(c);
    }
  }

  /**
   * End of round: canisters that executed in full pay 100%; everyone gains their compute
   * allocation and a share of what was paid beyond the allocations. A canister in the middle of
   * a long execution keeps its charges as credit until the execution completes.
   */
  finishRound(canisters: readonly CanisterState[], fullyExecuted: ReadonlySet<CanisterState>): void {
    const m = multiplier(this.cores, canisters.length);
    let charged = 0n;
    const present = new Set(canisters);
    for (const c of fullyExecuted) {
      if (!present.has(c)) continue;
      charged += 100n * m;
      c.scheduler.priorityCredit += 100n * m;
    }
    const n = BigInt(Math.max(canisters.length, 1));
    const freePerCanister = positive(charged - this.totalComputeAllocation * m) / n;
    for (const c of canisters) {
      const s = c.scheduler;
      s.accumulatedPriority += c.settings.computeAllocation * m + freePerCanister;
      if (!s.paused) {
        s.accumulatedPriority -= s.priorityCredit;
        s.priorityCredit = 0n;
        s.longExecutionMode = 'opportunistic';
      }
    }
  }
}

/** Paused executions in the order the scheduler would continue them (the ones to keep first). */
export function byLongExecutionPriority(canisters: readonly CanisterState[]): CanisterState[] {
  return canisters.filter((c) => c.scheduler.paused).sort((a, b) => {
    const sa = a.scheduler;
    const sb = b.scheduler;
    if (sa.longExecutionMode !== sb.longExecutionMode) return sa.longExecutionMode === 'prioritized' ? -1 : 1;
    return sa.accumulatedPriority > sb.accumulatedPriority ? -1 : sa.accumulatedPriority < sb.accumulatedPriority ? 1 : 0;
  });
}

/** Allocatable capacity in percent: all cores but the one kept for long executions (IC). */
export function computeCapacity(cores: number): bigint {
  return cores >= 2 ? BigInt((cores - 1) * 100) : 100n;
}

function multiplier(cores: number, canisters: number): bigint {
  return BigInt(Math.max(cores * canisters, 1));
}

function positive(x: bigint): bigint {
  return x > 0n ? x : 0n;
}
