// The replica's metrics as one typed object. Instruments carry their Prometheus names, so the
// scrape endpoint and an OTLP collector show the same names (`_total` counters, `_seconds`
// histograms, which Prometheus exports as `_bucket`, `_sum` and `_count`).
//
// Without an SDK (telemetry off) every instrument is the API's no-op.

import {
  metrics as metricsApi,
  type Attributes,
  type Counter,
  type Gauge,
  type Histogram,
  type Meter,
  type MeterProvider,
  type ObservableResult,
} from '@opentelemetry/api';
import {
  CYCLES_BURN_CATEGORIES,
  LABEL,
  MESSAGE_OUTCOMES,
  type CyclesBurnCategory,
  type MessageOutcome,
  type QueryKind,
  type QueryOutcome,
  type QueueName,
  type XnetDirection,
} from './attributes.js';

export const METER_NAME = '@icpk/replica';

export type MetricKind = 'counter' | 'histogram' | 'gauge' | 'observable_gauge';

export interface MetricDescriptor {
  readonly name: string;
  readonly kind: MetricKind;
  readonly unit: string;
  readonly description: string;
  readonly labels: readonly string[];
  /** Histogram bucket boundaries (the OTel defaults suit milliseconds, not these). */
  readonly buckets?: readonly number[];
}

const SECONDS_FAST = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];
const SECONDS_SLOW = [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300];
const INSTRUCTIONS = [1e5, 1e6, 1e7, 5e7, 1e8, 2.5e8, 5e8, 1e9, 2e9, 3e9, 4e9, 5e9, 1e10];

/** Every metric the replica exports. Dashboards and alerts may use exactly these. */
export const METRICS = {
  roundsTotal: { name: 'icpk_rounds_total', kind: 'counter', unit: '{round}', description: 'Rounds executed.', labels: [] },
  roundDuration: {
    name: 'icpk_round_duration_seconds', kind: 'histogram', unit: 's',
    description: 'Wall-clock duration of a round, from block to commit.', labels: [], buckets: SECONDS_FAST,
  },
  roundInstructions: {
    name: 'icpk_round_instructions', kind: 'histogram', unit: '{instruction}',
    description: 'Instructions executed in a round.', labels: [], buckets: INSTRUCTIONS,
  },
  messagesExecuted: {
    name: 'icpk_messages_executed_total', kind: 'counter', unit: '{message}',
    description: 'Message executions (DTS slices count one each), by outcome.', labels: [LABEL.outcome],
  },
  instructionsExecuted: {
    name: 'icpk_instructions_executed_total', kind: 'counter', unit: '{instruction}',
    description: 'Instructions executed by canisters.', labels: [],
  },
  cyclesBurned: {
    name: 'icpk_cycles_burned_total', kind: 'counter', unit: '{cycle}',
    description: 'Cycles burned, by category.', labels: [LABEL.category],
  },
  queueLength: {
    name: 'icpk_canister_queue_length', kind: 'observable_gauge', unit: '{message}',
    description: 'Messages waiting at the end of the last round, by queue.', labels: [LABEL.queue],
  },
  dtsPaused: {
    name: 'icpk_dts_paused_executions', kind: 'observable_gauge', unit: '{execution}',
    description: 'Executions paused by deterministic time slicing at the end of the last round.', labels: [],
  },
  checkpointDuration: {
    name: 'icpk_checkpoint_duration_seconds', kind: 'histogram', unit: 's',
    description: 'Wall-clock duration of writing a checkpoint.', labels: [], buckets: SECONDS_SLOW,
  },
  checkpointBytes: {
    name: 'icpk_checkpoint_bytes_total', kind: 'counter', unit: 'By',
    description: 'Bytes written by checkpoints.', labels: [],
  },
  checkpointPages: {
    name: 'icpk_checkpoint_pages_total', kind: 'counter', unit: '{page}',
    description: '4 KiB pages written by checkpoints.', labels: [],
  },
  checkpointFailures: {
    name: 'icpk_checkpoint_failures_total', kind: 'counter', unit: '{checkpoint}',
    description: 'Checkpoints that could not be written (the store failed); the blocks since the last one are kept.', labels: [],
  },
  xnetMessages: {
    name: 'icpk_xnet_messages_total', kind: 'counter', unit: '{message}',
    description: 'Cross-subnet messages, by direction and remote subnet.', labels: [LABEL.direction, LABEL.remoteSubnet],
  },
  xnetLag: {
    name: 'icpk_xnet_lag_rounds', kind: 'gauge', unit: '{round}',
    description: 'Rounds from a message entering the stream to a remote subnet to that subnet acknowledging it (inducted there), by remote subnet.', labels: [LABEL.remoteSubnet],
  },
  queryTotal: {
    name: 'icpk_query_total', kind: 'counter', unit: '{query}',
    description: 'Queries executed, by kind and outcome.', labels: [LABEL.kind, LABEL.outcome],
  },
  queryDuration: {
    name: 'icpk_query_duration_seconds', kind: 'histogram', unit: 's',
    description: 'Wall-clock duration of a query, by kind.', labels: [LABEL.kind], buckets: SECONDS_FAST,
  },
} as const satisfies Record<string, MetricDescriptor>;

/** The series names Prometheus shows for a metric (a histogram is three series). */
export function prometheusSeries(m: MetricDescriptor): string[] {
  return m.kind === 'histogram' ? [`${m.name}_bucket`, `${m.name}_sum`, `${m.name}_count`] : [m.name];
}

export interface RoundMetrics {
  readonly seconds: number;
  readonly instructions: bigint | number;
}

export interface CheckpointMetrics {
  readonly seconds: number;
  readonly bytes: bigint | number;
  readonly pages: bigint | number;
}

export interface QueryMetrics {
  readonly kind: QueryKind;
  readonly outcome: QueryOutcome;
  readonly seconds: number;
}

/** Gauges sampled at the end of a round, reported at the next scrape or export. */
export interface RoundEndGauges {
  readonly queues?: Partial<Record<QueueName, number>>;
  readonly pausedExecutions?: number;
}

/** The replica's instruments, with recording methods that keep labels bounded. */
export class ReplicaMetrics {
  readonly roundsTotal: Counter;
  readonly roundDuration: Histogram;
  readonly roundInstructions: Histogram;
  readonly messagesExecuted: Counter;
  readonly instructionsExecuted: Counter;
  readonly cyclesBurned: Counter;
  readonly checkpointDuration: Histogram;
  readonly checkpointBytes: Counter;
  readonly checkpointPages: Counter;
  readonly checkpointFailures: Counter;
  readonly xnetMessages: Counter;
  readonly xnetLag: Gauge;
  readonly queryTotal: Counter;
  readonly queryDuration: Histogram;

  private queues: Partial<Record<QueueName, number>> = {};
  private paused: number | undefined;
  /** Message outcomes and instructions tallied during a round, added to the counters at its end. */
  private readonly outcomeTally = new Map<MessageOutcome, number>();
  private instructionTally = 0;

  constructor(provider: MeterProvider = metricsApi.getMeterProvider()) {
    const meter = provider.getMeter(METER_NAME);
    this.roundsTotal = counter(meter, METRICS.roundsTotal);
    this.roundDuration = histogram(meter, METRICS.roundDuration);
    this.roundInstructions = histogram(meter, METRICS.roundInstructions);
    this.messagesExecuted = counter(meter, METRICS.messagesExecuted);
    this.instructionsExecuted = counter(meter, METRICS.instructionsExecuted);
    this.cyclesBurned = counter(meter, METRICS.cyclesBurned);
    this.checkpointDuration = histogram(meter, METRICS.checkpointDuration);
    this.checkpointBytes = counter(meter, METRICS.checkpointBytes);
    this.checkpointPages = counter(meter, METRICS.checkpointPages);
    this.checkpointFailures = counter(meter, METRICS.checkpointFailures);
    this.xnetMessages = counter(meter, METRICS.xnetMessages);
    this.xnetLag = meter.createGauge(METRICS.xnetLag.name, options(METRICS.xnetLag));
    this.queryTotal = counter(meter, METRICS.queryTotal);
    this.queryDuration = histogram(meter, METRICS.queryDuration);

    meter.createObservableGauge(METRICS.queueLength.name, options(METRICS.queueLength)).addCallback((r: ObservableResult) => {
      for (const [queue, n] of Object.entries(this.queues)) r.observe(n, { [LABEL.queue]: queue });
    });
    meter.createObservableGauge(METRICS.dtsPaused.name, options(METRICS.dtsPaused)).addCallback((r: ObservableResult) => {
      if (this.paused !== undefined) r.observe(this.paused);
    });
  }

  /** One finished round; also adds the round's message tallies to the counters. */
  recordRound(round: RoundMetrics): void {
    this.roundsTotal.add(1);
    this.roundDuration.record(round.seconds);
    this.roundInstructions.record(Number(round.instructions));
    this.flushMessages();
  }

  /**
   * One message execution (or DTS slice): its outcome and instructions. Tallied in memory (a
   * counter update costs as much as a small message) and added to the counters by
   * `recordRound` or `flushMessages`.
   */
  recordMessage(outcome: MessageOutcome, instructions: bigint | number): void {
    this.outcomeTally.set(outcome, (this.outcomeTally.get(outcome) ?? 0) + 1);
    this.instructionTally += Number(instructions);
  }

  /** Adds tallied messages to the counters (done by `recordRound`; call it for work outside rounds). */
  flushMessages(): void {
    for (const [outcome, n] of this.outcomeTally) this.messagesExecuted.add(n, OUTCOME_LABELS[outcome]);
    this.outcomeTally.clear();
    if (this.instructionTally > 0) this.instructionsExecuted.add(this.instructionTally);
    this.instructionTally = 0;
  }

  /** Cycles burned in `category` (the name passed to `CanisterState.burn`; unknown names count as `other`). */
  recordCyclesBurned(category: string, amount: bigint | number): void {
    if (amount === 0 || amount === 0n) return;
    this.cyclesBurned.add(Number(amount), CATEGORY_LABELS.get(category) ?? CATEGORY_LABELS.get('other'));
  }

  /** Queue lengths and paused executions at the end of a round, for the observable gauges. */
  setRoundEndGauges(g: RoundEndGauges): void {
    if (g.queues) this.queues = { ...g.queues };
    if (g.pausedExecutions !== undefined) this.paused = g.pausedExecutions;
  }

  recordCheckpoint(c: CheckpointMetrics): void {
    this.checkpointDuration.record(c.seconds);
    this.checkpointBytes.add(Number(c.bytes));
    this.checkpointPages.add(Number(c.pages));
  }

  recordCheckpointFailure(): void {
    this.checkpointFailures.add(1);
  }

  recordXnet(direction: XnetDirection, remoteSubnet: string, messages: number): void {
    if (messages > 0) this.xnetMessages.add(messages, { [LABEL.direction]: direction, [LABEL.remoteSubnet]: remoteSubnet });
  }

  /** Rounds from messages entering the stream to `remoteSubnet` to that subnet acknowledging them. */
  setXnetLag(remoteSubnet: string, rounds: number): void {
    this.xnetLag.record(rounds, { [LABEL.remoteSubnet]: remoteSubnet });
  }

  recordQuery(q: QueryMetrics): void {
    this.queryTotal.add(1, { [LABEL.kind]: q.kind, [LABEL.outcome]: q.outcome });
    this.queryDuration.record(q.seconds, KIND_LABELS[q.kind]);
  }
}

// Label objects are built once: recording a message allocates nothing.
const OUTCOME_LABELS = {} as Record<MessageOutcome, Attributes>;
for (const o of MESSAGE_OUTCOMES) OUTCOME_LABELS[o] = Object.freeze({ [LABEL.outcome]: o });
const CATEGORY_LABELS = new Map<string, Attributes>(CYCLES_BURN_CATEGORIES.map((c: CyclesBurnCategory) => [c, Object.freeze({ [LABEL.category]: c })]));
const KIND_LABELS: Record<QueryKind, Attributes> = {
  query: Object.freeze({ [LABEL.kind]: 'query' }),
  composite_query: Object.freeze({ [LABEL.kind]: 'composite_query' }),
};

function options(m: MetricDescriptor) {
  return {
    description: m.description,
    unit: m.unit,
    ...(m.buckets ? { advice: { explicitBucketBoundaries: [...m.buckets] } } : {}),
  };
}

function counter(meter: Meter, m: MetricDescriptor): Counter {
  return meter.createCounter(m.name, options(m));
}

function histogram(meter: Meter, m: MetricDescriptor): Histogram {
  return meter.createHistogram(m.name, options(m));
}
