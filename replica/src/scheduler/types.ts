import { INGRESS_HISTORY_MEMORY_CAPACITY } from '../state/ingress-history.js';

/** The scheduler's limits; IC defaults (rs/config/src/subnet_config.rs), configurable per subnet. */
export interface SchedulerConfig {
  /**
   * Instructions a round may execute on one scheduler core before leftover work waits for the
   * next round (IC: per thread). A core starts an execution only while it used less, so a round
   * never goes over it by more than one slice (plus overheads).
   */
  readonly roundInstructions: bigint;
  /**
   * Instructions a core may use in one iteration (then the next iteration delivers the outputs):
   * shorter iterations deliver local messages sooner. At most the round's; IC: no separate limit.
   */
  readonly iterationInstructions: bigint;
  /** Cycles charged per ingress message byte etc. come from the fee schedule; this bounds a round's ingress. */
  readonly maxIngressPerBlock: number;
  /**
   * Canisters executed in parallel in an iteration (IC: 4). Part of the deterministic schedule,
   * unrelated to the number of worker threads, which never changes the outcome.
   */
  readonly schedulerCores: number;
  /** Long executions that may stay paused at the end of a round; the rest are aborted (IC: 4). */
  readonly maxPausedExecutions: number;
  /** Counted against the round per execution, for entering and leaving the engine (IC: 2 M). */
  readonly instructionOverheadPerExecution: bigint;
  /** Management canister calls executed per round, in instructions (IC: a quarter of the round). */
  readonly subnetMessageInstructions: bigint;
  /** Messages one canister may have queued from one sender (IC `DEFAULT_QUEUE_CAPACITY`: 500). */
  readonly maxQueueSlots: number;
  /**
   * Messages a stream to another subnet may hold unacknowledged; further requests to that subnet
   * are rejected (responses always go in: their slot was reserved with the call).
   */
  readonly maxStreamMessages: number;
  /** Rounds after which accumulated priorities start over (IC: a day of rounds). */
  readonly priorityResetInterval: bigint;
  /**
   * Bytes of memory pages an iteration may write (heap and stable, 4 KiB per changed page) before
   * the round stops: a core starts no execution once its executions of the iteration wrote this
   * much, and no iteration follows one after which the round's total reached it; the rest waits
   * for the next round (IC `max_heap_delta_per_iteration`: 200 MB, ×10 on system subnets).
   */
  readonly maxHeapDeltaPerIteration: number;
  /**
   * Bytes of pages changed since the last checkpoint above which a round executes no canister
   * message (management calls still run); a checkpoint writes them out and resets the count
   * (IC `SUBNET_HEAP_DELTA_CAPACITY`: 140 GiB). A soft limit: the execution that crosses it completes.
   */
  readonly subnetHeapDeltaCapacity: number;
  /**
   * Bytes of replies and reject messages the ingress history may hold; past it, the oldest
   * terminal statuses become 'done' (IC `ingress_history_memory_capacity`: 4 GiB).
   */
  readonly ingressHistoryMemoryCapacity: number;
}

export const DEFAULT_SCHEDULER_CONFIG: SchedulerConfig = {
  roundInstructions: 4_000_000_000n,
  iterationInstructions: 4_000_000_000n,
  maxIngressPerBlock: 1000,
  schedulerCores: 4,
  maxPausedExecutions: 4,
  instructionOverheadPerExecution: 2_000_000n,
  subnetMessageInstructions: 1_000_000_000n,
  maxQueueSlots: 500,
  maxStreamMessages: 10_000,
  priorityResetInterval: 24n * 3600n,
  maxHeapDeltaPerIteration: 200_000_000,
  subnetHeapDeltaCapacity: 140 * 1024 * 1024 * 1024,
  ingressHistoryMemoryCapacity: INGRESS_HISTORY_MEMORY_CAPACITY,
};

export interface RoundSummary {
  readonly height: bigint;
  /** Instructions executed in the round: every canister execution and management call. */
  readonly instructions: bigint;
  /**
   * The round's use of its instruction limit, as the IC counts it: per iteration, the most any
   * scheduler core used (executions and their overheads), summed. At most the round limit plus
   * one slice (and one overhead).
   */
  readonly roundInstructions: bigint;
  readonly messagesExecuted: number;
  /** Iterations of the round (each executes at most one message per canister). */
  readonly iterations: number;
  /** Bytes of memory pages the round's executions wrote (heap and stable, per execution). */
  readonly heapDelta: number;
  /** Long executions paused at the end of the round. */
  readonly pausedExecutions: number;
  /** Whether messages are still queued (or executions paused) at the end of the round. */
  readonly workLeft: boolean;
  /** Messages inducted from and routed to other subnets' streams, by subnet id (text). */
  readonly xnet: { readonly received: ReadonlyMap<string, number>; readonly sent: ReadonlyMap<string, number> };
}

/** What the round needs to know besides the block. */
export interface RoundOptions {
  /** A checkpoint follows this round: paused executions are aborted (and restart later), as on the IC. */
  readonly checkpoint?: boolean;
}
