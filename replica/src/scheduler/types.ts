export interface SchedulerConfig {
  /** Instructions a round may execute before leftover work waits for the next round (IC: 4 B). */
  readonly roundInstructions: bigint;
  /** Cycles charged per ingress message byte etc. come from the fee schedule; this bounds a round's ingress. */
  readonly maxIngressPerBlock: number;
}

export const DEFAULT_SCHEDULER_CONFIG: SchedulerConfig = {
  roundInstructions: 4_000_000_000n,
  maxIngressPerBlock: 1000,
};

export interface RoundSummary {
  readonly height: bigint;
  readonly instructions: bigint;
  readonly messagesExecuted: number;
  /** Whether messages are still queued at the end of the round. */
  readonly workLeft: boolean;
}
