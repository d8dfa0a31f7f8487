// The replicated state of one canister. Owned by the main thread; mutated only by the execution
// layer when it commits a message, in canister-id order.

import { Principal } from '@icp-sdk/core/principal';
import type { CompiledCanisterModule } from '../wasm/index.js';
import type { CanisterSnapshots } from '../checkpoint/snapshots.js';
import type { GlobalValue } from '../execution/sandbox.js';
import { PageMap } from './page-map.js';
import { compareBytes } from '../bytes.js';

import type {
  CallContext,
  Callback,
  CanisterLogRecord,
  CanisterMessage,
  CanisterSchedulerState,
  CanisterSettings,
  CanisterStatus,
  Request,
} from './types.js';

export { compareBytes };

export type CanisterChange = {
  readonly timestampNanos: bigint;
  readonly canisterVersion: bigint;
  readonly origin: { readonly kind: 'user' | 'canister'; readonly id: Principal };
  readonly details:
    | { readonly kind: 'creation'; readonly controllers: readonly Principal[] }
    | { readonly kind: 'code_uninstall' }
    | { readonly kind: 'code_deployment'; readonly mode: 'install' | 'reinstall' | 'upgrade'; readonly moduleHash: Uint8Array }
    | { readonly kind: 'controllers_change'; readonly controllers: readonly Principal[] }
    | { readonly kind: 'load_snapshot'; readonly canisterVersion: bigint; readonly snapshotId: Uint8Array; readonly takenAtNanos: bigint };
};

const MAX_HISTORY = 20;

export const DEFAULT_FREEZING_THRESHOLD = 2_592_000n; // 30 days
export const DEFAULT_RESERVED_CYCLES_LIMIT = 5_000_000_000_000n;
export const DEFAULT_WASM_MEMORY_LIMIT = 3n * 1024n * 1024n * 1024n;

export function defaultSettings(controllers: Principal[]): CanisterSettings {
  return {
    controllers,
    computeAllocation: 0n,
    memoryAllocation: 0n,
    freezingThreshold: DEFAULT_FREEZING_THRESHOLD,
    reservedCyclesLimit: DEFAULT_RESERVED_CYCLES_LIMIT,
    logVisibility: { kind: 'controllers' },
    wasmMemoryLimit: DEFAULT_WASM_MEMORY_LIMIT,
    wasmMemoryThreshold: 0n,
    environmentVariables: [],
  };
}

/** Code and memories of an installed canister. */
export interface ExecutionState {
  readonly module: CompiledCanisterModule;
  heap: PageMap;
  globals: readonly GlobalValue[];
}

export class CanisterState {
  status: CanisterStatus = 'running';
  version = 0n;
  execution: ExecutionState | undefined;
  /** Stable memory outlives upgrades; wiped by reinstall and uninstall. */
  stable = new PageMap();
  certifiedData: Uint8Array = new Uint8Array(0);
  /** 0 = no timer set. */
  globalTimer = 0n;
  readonly inputQueue: CanisterMessage[] = [];
  readonly callContexts = new Map<number, CallContext>();
  readonly callbacks = new Map<number, Callback>();
  nextCallContextId = 0;
  nextCallbackId = 0;
  readonly chunkStore = new Map<string, Uint8Array>();
  readonly logs: CanisterLogRecord[] = [];
  nextLogIdx = 0n;
  /** stop_canister requests waiting for the canister to stop. */
  readonly stopRequests: Request[] = [];
  /** Canister history for canister_info (most recent last, bounded). */
  readonly history: CanisterChange[] = [];
  totalChanges = 0n;
  /** Cycles burned, by category, for canister_status and metrics. */
  readonly cyclesBurned = new Map<string, bigint>();
  /** Counters reported by canister_status query_stats and used by cycles accounting. */
  installCount = 0n;
  /** Scheduling: accumulated priority and the long (DTS) execution in progress, if any. */
  /** Canister snapshots (take/load_canister_snapshot), part of the replicated state. */
  readonly snapshots: CanisterSnapshots = { nextLocalId: 0n, byId: new Map() };
  readonly scheduler: CanisterSchedulerState = { accumulatedPriority: 0n, priorityCredit: 0n, longExecutionMode: 'opportunistic' };

  constructor(
    readonly id: Principal,
    public settings: CanisterSettings,
    public balance: bigint,
  ) {}

  get idText(): string {
    return this.id.toText();
  }

  get moduleHash(): Uint8Array | undefined {
    return this.execution?.module.hash;
  }

  /** Memory usage in bytes as the IC accounts it: heap, stable, code, chunk store. */
  memoryUsage(): bigint {
    let bytes = BigInt(this.stable.sizeBytes);
    if (this.execution) {
      bytes += BigInt(this.execution.heap.sizeBytes) + BigInt(this.execution.module.info.wasmBytes);
    }
    for (const chunk of this.chunkStore.values()) bytes += BigInt(chunk.length);
    return bytes;
  }

  isController(p: Principal): boolean {
    return this.settings.controllers.some((c) => c.compareTo(p) === 'eq');
  }

  burn(category: string, amount: bigint): void {
    if (amount === 0n) return;
    this.cyclesBurned.set(category, (this.cyclesBurned.get(category) ?? 0n) + amount);
  }

  recordChange(change: CanisterChange): void {
    this.history.push(change);
    this.totalChanges++;
    if (this.history.length > MAX_HISTORY) this.history.shift();
  }

  hasOpenCallContexts(): boolean {
    // A long execution in progress counts: a stopping canister waits for it.
    if (this.scheduler.paused) return true;
    for (const ctx of this.callContexts.values()) if (ctx.origin.kind !== 'system' && !ctx.responded) return true;
    return this.callbacks.size > 0;
  }
}


export function comparePrincipals(a: Principal, b: Principal): number {
  return compareBytes(a.toUint8Array(), b.toUint8Array());
}
