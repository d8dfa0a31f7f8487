// One replica of one subnet: replicated state, the execution environment, the scheduler and the
// block source, wired together. The HTTP interface and tests drive it through this class.

import type { ReplicaMetrics } from './telemetry/metrics.js';
import type { RoundTracer } from './telemetry/tracing.js';
import { Principal } from '@icp-sdk/core/principal';
import { scheduleFor, type FeeSchedule } from './cycles/index.js';
import { LocalBlockMaker, type Block, type IngressMessage } from './consensus/index.js';
import { CanisterError, ErrorCode } from './errors.js';
import { ExecutionEnvironment } from './execution/environment.js';
import { executionFees } from './execution/fees.js';
import { textOf } from './execution/ids.js';
import { WorkerSandboxHost, type WorkerPoolOptions } from './execution/worker-pool.js';
import { DEFAULT_EXECUTION_CONFIG, type ExecutionConfig, type QueryResult } from './execution/types.js';
import { ManagementCanister, effectiveCanisterId } from './management/index.js';
import { Scheduler, DEFAULT_SCHEDULER_CONFIG, type RoundOptions, type RoundSummary, type SchedulerConfig } from './scheduler/index.js';
import { ReplicatedState, type IngressStatus } from './state/index.js';
import { ModuleCache } from './wasm/index.js';
import type { Registry } from './registry/index.js';

export interface ReplicaConfig {
  readonly subnetId: Principal;
  /** Number of replicas in the subnet: scales the fee schedule (n/13). */
  readonly subnetSize: number;
  /** Canister id range (indices) this subnet allocates from. */
  readonly canisterRange: { readonly start: bigint; readonly end: bigint };
  readonly execution: ExecutionConfig;
  readonly scheduler: SchedulerConfig;
  readonly fees?: FeeSchedule;
  readonly rootKey: Uint8Array;
  /**
   * Worker threads that run the canisters (`defaultWorkerCount()`: one per core). 0 or absent:
   * everything runs on the main thread. The replicated state is the same either way.
   */
  readonly workers?: number;
  /** Tuning of the worker pool (instances per worker, long executions holding a thread). */
  readonly workerPool?: Partial<Omit<WorkerPoolOptions, 'workers' | 'fees' | 'stableMemoryBytes'>>;
  /**
   * The subnets of the network and their canister ranges: calls to canisters of another subnet go
   * into the stream to it. Absent: this subnet is alone (calls outside it are rejected).
   */
  readonly registry?: Registry;
}

const MANAGEMENT = Principal.managementCanister();

export const DEFAULT_SUBNET_ID = Principal.fromText('yndj2-3ybaa-aaaaa-aaaap-yai'); // arbitrary self-chosen id

export function defaultReplicaConfig(overrides: Partial<ReplicaConfig> = {}): ReplicaConfig {
  return {
    subnetId: DEFAULT_SUBNET_ID,
    subnetSize: 1,
    canisterRange: { start: 0n, end: 0xfffffn },
    execution: DEFAULT_EXECUTION_CONFIG,
    scheduler: DEFAULT_SCHEDULER_CONFIG,
    rootKey: new Uint8Array(0),
    ...overrides,
  };
}

export class Replica {
  readonly state: ReplicatedState;
  readonly env: ExecutionEnvironment;
  readonly management: ManagementCanister;
  readonly scheduler: Scheduler;

  constructor(
    readonly config: ReplicaConfig = defaultReplicaConfig(),
    readonly blocks: LocalBlockMaker = new LocalBlockMaker(),
    modules = new ModuleCache(),
    /** Traces of rounds and message executions, and their metrics (see replica/src/telemetry); off by default. */
    telemetry: { readonly tracer?: RoundTracer; readonly metrics?: ReplicaMetrics } = {},
  ) {
    this.state = new ReplicatedState(config.subnetId, config.canisterRange);
    const schedule = config.fees ?? scheduleFor(config.subnetSize);
    const fees = executionFees(schedule);
    const host = config.workers
      ? new WorkerSandboxHost({ ...config.workerPool, workers: config.workers, fees: schedule, stableMemoryBytes: config.execution.stableMemoryBytes })
      : undefined;
    const subnet = { subnetId: config.subnetId, rootKey: () => config.rootKey, ...(config.registry ? { registry: config.registry } : {}) };
    this.env = new ExecutionEnvironment(subnet, fees, config.execution, modules, host);
    this.management = new ManagementCanister(this.env);
    this.scheduler = new Scheduler(this.env, this.management, config.scheduler, telemetry.tracer, telemetry.metrics);
  }

  /** Accepts an ingress message for the next block; inspect_message runs first where it applies. */
  async submit(message: IngressMessage): Promise<void> {
    const isManagement = message.receiver.compareTo(MANAGEMENT) === 'eq';
    if (!isManagement) {
      const canister = this.state.canister(textOf(message.receiver));
      if (!canister) throw new CanisterError(ErrorCode.CanisterNotFound, `Canister ${message.receiver.toText()} not found`);
      const refused = this.env.inspectMessage(this.state, canister, message.method, message.arg, message.sender, message.callerInfo);
      if (refused) throw refused;
    }
    await this.blocks.submit({
      ...message,
      effectiveCanisterId: message.effectiveCanisterId ?? (isManagement ? effectiveCanisterId(message.method, message.arg) : message.receiver),
    });
  }

  /** Executes the next block. Rounds must not overlap: await one before starting the next. */
  executeRound(block: Block = this.blocks.make(), options: RoundOptions = {}): Promise<RoundSummary> {
    return this.scheduler.executeRound(this.state, block, options);
  }

  /** Aborts the long executions in progress (before a checkpoint); they start over later. */
  abortPausedExecutions(): number {
    return this.scheduler.abortPausedExecutions(this.state);
  }

  /** Stops the worker threads, if any. */
  close(): Promise<void> {
    return this.env.host.close();
  }

  query(canisterId: Principal, method: string, arg: Uint8Array, caller: Principal, certificate?: Uint8Array): QueryResult {
    const canister = this.state.canister(canisterId);
    if (!canister) {
      const e = new CanisterError(ErrorCode.CanisterNotFound, `Canister ${canisterId.toText()} not found`);
      return { status: 'rejected', code: e.rejectCode, message: e.message, errorCode: e.errorCode, instructions: 0n };
    }
    return this.env.executeQuery(this.state, canister, method, arg, caller, certificate);
  }

  ingressStatus(messageId: string): IngressStatus | undefined {
    return this.state.ingressHistory.get(messageId);
  }
}
