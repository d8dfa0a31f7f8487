// Where non-replicated queries run: on query worker threads (each with its own copy of the latest
// certified state) or, without workers, on the main thread against a copy kept the same way. In
// both, a query sees exactly one certified state and never waits for a round in progress.

import { Worker } from 'node:worker_threads';
import { CanisterError, ErrorCode } from '../errors.js';
import type { FeeSchedule } from '../cycles/index.js';
import { executionFees } from '../execution/fees.js';
import { QueryExecutor } from './executor.js';
import type { FromQueryWorker, QueryWorkerData, ToQueryWorker } from './protocol.js';
import { QueryStore } from './store.js';
import { DEFAULT_QUERY_LIMITS, type QueryLimits, type QueryRequest, type QueryResult, type QueryStateUpdate } from './types.js';
import { workerEntry } from '../worker-entry.js';

export interface QueryService {
  /** The state certified at `update.height`: queries submitted from now on run on it. */
  publish(update: QueryStateUpdate): void;
  execute(request: QueryRequest): Promise<QueryResult>;
  /** An executor started over (its thread died): the next update must be whole (`publisher.reset`). */
  readonly wantsWholeState: boolean;
  close(): Promise<void>;
}

export interface QueryServiceOptions {
  /** Query worker threads; 0 runs queries on the main thread. */
  readonly workers: number;
  readonly fees: FeeSchedule;
  readonly stableMemoryBytes: bigint;
  readonly limits?: QueryLimits;
  /** Live instances per executor. Default 256. */
  readonly maxSandboxes?: number;
}

export function createQueryService(options: QueryServiceOptions): QueryService {
  return options.workers > 0 ? new QueryWorkerPool(options) : new InProcessQueries(options);
}

/** Queries on the main thread, against a copy of the certified state (not the live one). */
export class InProcessQueries implements QueryService {
  readonly #store: QueryStore;
  readonly #executor: QueryExecutor;

  constructor(options: Omit<QueryServiceOptions, 'workers'>) {
    this.#store = new QueryStore(options.stableMemoryBytes, options.maxSandboxes);
    this.#executor = new QueryExecutor(this.#store, executionFees(options.fees), options.limits ?? DEFAULT_QUERY_LIMITS);
  }

  readonly wantsWholeState = false;

  publish(update: QueryStateUpdate): void {
    this.#store.apply(update);
  }

  async execute(request: QueryRequest): Promise<QueryResult> {
    return this.#executor.execute(request);
  }

  async close(): Promise<void> {}
}

interface Pending {
  readonly resolve: (r: QueryResult) => void;
  readonly reject: (e: Error) => void;
}

class QueryWorker {
  readonly pending = new Map<number, Pending>();
  /** Queries waiting for the next flush (sent in one message). */
  queue: { id: number; request: QueryRequest }[] = [];
  /** Canisters whose data certificate at the current height the worker has already received. */
  readonly certificates = new Set<string>();
  #referenced = false;

  /** `ready`: it has a whole state (false for a replacement until a whole update reaches it). */
  constructor(readonly worker: Worker, public ready: boolean) {}

  /** After the listeners are attached (attaching one refs the worker again). */
  start(): void {
    this.worker.unref();
  }

  get load(): number {
    return this.pending.size;
  }

  /** Keeps the process alive only while queries are outstanding. */
  refresh(): void {
    const busy = this.pending.size > 0;
    if (busy === this.#referenced) return;
    this.#referenced = busy;
    if (busy) this.worker.ref();
    else this.worker.unref();
  }
}

/**
 * Query worker threads. Every worker receives every state update, in order, before any query
 * submitted after it: a worker's queue is FIFO, so a query runs on the state certified when it
 * was submitted. Each query goes to the worker with the fewest outstanding; queries submitted in
 * the same turn of the event loop travel in one message.
 */
export class QueryWorkerPool implements QueryService {
  readonly #workers: QueryWorker[] = [];
  readonly #data: QueryWorkerData;
  #nextId = 0;
  #flushScheduled = false;
  #closed = false;
  #wantsWholeState = false;

  constructor(options: QueryServiceOptions) {
    this.#data = {
      fees: options.fees,
      stableMemoryBytes: options.stableMemoryBytes,
      limits: options.limits ?? DEFAULT_QUERY_LIMITS,
      maxSandboxes: options.maxSandboxes ?? 256,
    };
    for (let i = 0; i < options.workers; i++) this.#spawn(true);
  }

  get wantsWholeState(): boolean {
    return this.#wantsWholeState;
  }

  /** The threads (for tests and metrics). */
  get threads(): readonly Worker[] {
    return this.#workers.map((w) => w.worker);
  }

  publish(update: QueryStateUpdate): void {
    if (this.#closed) return;
    // Queries already queued were submitted on the previous state: they go first.
    this.#flush();
    const message: ToQueryWorker = { type: 'state', update };
    for (const w of this.#workers) {
      w.certificates.clear();
      // A replacement thread can only start from a whole state.
      if (!w.ready && !update.whole) continue;
      w.ready = true;
      w.worker.postMessage(message);
    }
    if (update.whole) this.#wantsWholeState = false;
  }

  execute(request: QueryRequest): Promise<QueryResult> {
    if (this.#closed) return Promise.reject(new Error('the query service is closed'));
    let best: QueryWorker | undefined;
    for (const w of this.#workers) {
      if (w.ready && (best === undefined || w.load + w.queue.length < best.load + best.queue.length)) best = w;
    }
    if (best === undefined) {
      return Promise.reject(new CanisterError(ErrorCode.CertifiedStateUnavailable, 'The query executor is restarting; retry after the next round.'));
    }
    const id = this.#nextId++;
    // A data certificate (a few KiB) goes to a worker once per height and canister.
    if (request.certificate !== undefined) {
      if (best.certificates.has(request.canisterId)) {
        const { certificate: _sent, ...rest } = request;
        request = rest;
      } else {
        best.certificates.add(request.canisterId);
      }
    }
    return new Promise((resolve, reject) => {
      best.pending.set(id, { resolve, reject });
      best.queue.push({ id, request });
      best.refresh();
      if (!this.#flushScheduled) {
        this.#flushScheduled = true;
        setImmediate(() => this.#flush());
      }
    });
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const workers = [...this.#workers];
    for (const w of workers) this.#failAll(w, new Error('the query service closed'));
    await Promise.all(workers.map((w) => w.worker.terminate()));
  }

  #spawn(ready: boolean): QueryWorker {
    const w = new QueryWorker(new Worker(workerEntry(import.meta.url, 'worker'), { workerData: this.#data }), ready);
    w.worker.on('message', (m: FromQueryWorker) => this.#results(w, m));
    w.worker.on('error', (e) => this.#lost(w, e));
    w.worker.on('exit', (code) => this.#lost(w, new Error(`the query worker exited with code ${code}`)));
    w.start();
    this.#workers.push(w);
    return w;
  }

  /**
   * A thread died (a bug or out of memory: canister code cannot kill it): its queries fail, a new
   * thread takes its place and gets a whole state with the next certified round.
   */
  #lost(w: QueryWorker, e: Error): void {
    const i = this.#workers.indexOf(w);
    if (i < 0) return;
    this.#workers.splice(i, 1);
    this.#failAll(w, e);
    if (this.#closed) return;
    this.#spawn(false);
    this.#wantsWholeState = true;
  }

  #flush(): void {
    this.#flushScheduled = false;
    for (const w of this.#workers) {
      if (w.queue.length === 0) continue;
      const message: ToQueryWorker = { type: 'queries', queries: w.queue };
      w.queue = [];
      w.worker.postMessage(message);
    }
  }

  #results(w: QueryWorker, m: FromQueryWorker): void {
    for (const report of m.results) {
      const p = w.pending.get(report.id);
      if (!p) continue;
      w.pending.delete(report.id);
      if ('result' in report) p.resolve(report.result);
      else p.reject(new Error(`query execution failed: ${report.failure}`));
    }
    w.refresh();
  }

  #failAll(w: QueryWorker, e: Error): void {
    for (const p of w.pending.values()) p.reject(e);
    w.pending.clear();
    w.queue = [];
    w.refresh();
  }
}

