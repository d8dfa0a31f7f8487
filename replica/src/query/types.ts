// Non-replicated execution on the latest certified state: what the main thread sends the query
// executors after each certified round (only what changed), the queries themselves, and the
// limits of a composite query's call graph (IC defaults, rs/config execution_environment.rs).

import type { WirePages } from '../execution/job.js';
import type { GlobalValue, SandboxLimits, SandboxModule } from '../execution/sandbox.js';
import type { QueryResult } from '../execution/types.js';
import type { CanisterView, MessageInput } from '../system-api/index.js';

export interface QueryLimits {
  /** Instructions of one query or callback execution (IC: 5 B). */
  readonly instructionsPerQuery: bigint;
  /** Instructions of a whole composite query call graph, overheads included (IC: 5 B). */
  readonly callGraphInstructions: bigint;
  /** Nested query calls (IC: 6). */
  readonly callGraphDepth: number;
  /** Charged to the call graph per query call on top of what it executes (IC: 50 M). */
  readonly instructionOverheadPerCall: bigint;
  /** Wall time of a whole call graph, ms (IC: 10 s). Never reaches replicated state. */
  readonly callGraphWallTimeMs: number;
}

export const DEFAULT_QUERY_LIMITS: QueryLimits = {
  instructionsPerQuery: 5_000_000_000n,
  callGraphInstructions: 5_000_000_000n,
  callGraphDepth: 6,
  instructionOverheadPerCall: 50_000_000n,
  callGraphWallTimeMs: 10_000,
};

/** The view of a canister without what is the same for the whole subnet or state. */
export type QueryCanisterView = Omit<CanisterView, 'subnetId' | 'rootKey' | 'time' | 'certificate'>;

/** One canister in a state update: everything when `full`, else what changed since the last one. */
export interface QueryCanisterUpdate {
  /** Principal text. */
  readonly id: string;
  readonly status: 'running' | 'stopping' | 'stopped';
  readonly view: QueryCanisterView;
  readonly limits: Omit<SandboxLimits, 'instructions'>;
  /** The code, or undefined for an empty canister. */
  readonly code?: {
    readonly module: string;
    readonly query: readonly string[];
    readonly compositeQuery: readonly string[];
    readonly globals: readonly GlobalValue[];
    /** The whole memories (`full`) or the pages written since the previous update. */
    readonly full: boolean;
    readonly heap: WirePages;
    readonly stable: WirePages;
  };
}

/** What a certified round changed, for the executors' copy of the certified state. */
export interface QueryStateUpdate {
  /** Built from scratch: every canister whole (the first update, and after `reset`). */
  readonly whole: boolean;
  readonly height: bigint;
  readonly time: bigint;
  /** Sent once (and when they change). */
  readonly subnet?: { readonly subnetId: Uint8Array; readonly rootKey: Uint8Array };
  /** Compiled modules the executors do not have yet (a WebAssembly.Module is shared, not copied). */
  readonly modules: readonly SandboxModule[];
  readonly canisters: readonly QueryCanisterUpdate[];
  /** Principal texts of deleted canisters. */
  readonly removed: readonly string[];
}

export interface QueryRequest {
  /** Principal text of the receiver. */
  readonly canisterId: string;
  readonly method: string;
  readonly arg: Uint8Array;
  readonly caller: Uint8Array;
  /** The caller's verified `sender_info` (the top-level call context only). */
  readonly callerInfo?: MessageInput['callerInfo'];
  /** The data certificate of the receiver at the executors' height (the top-level canister only). */
  readonly certificate?: Uint8Array;
}

export type { QueryResult };
