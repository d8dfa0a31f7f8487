// Messages between the query service (main thread) and its query workers: state updates after
// each certified round, batches of queries, batches of results. Plain data.

import type { FeeSchedule } from '../cycles/index.js';
import type { QueryLimits, QueryRequest, QueryResult, QueryStateUpdate } from './types.js';

export interface QueryWorkerData {
  readonly fees: FeeSchedule;
  readonly stableMemoryBytes: bigint;
  readonly limits: QueryLimits;
  /** Live instances a worker keeps (least recently used go first). */
  readonly maxSandboxes: number;
}

export type ToQueryWorker =
  | { readonly type: 'state'; readonly update: QueryStateUpdate }
  | { readonly type: 'queries'; readonly queries: readonly { readonly id: number; readonly request: QueryRequest }[] };

/** A result, or the message of an exception the executor threw (a replica bug, not a canister's). */
export type QueryReport = { readonly id: number; readonly result: QueryResult } | { readonly id: number; readonly failure: string };

export type FromQueryWorker = { readonly type: 'results'; readonly results: readonly QueryReport[] };
