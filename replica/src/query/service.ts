// Where non-replicated queries run: on query worker threads (each with its own copy of the latest
// certified state) or, without workers, on the main thread against a copy kept the same way. In
// both, a query sees exactly one certified state and never waits for a round in progress.

import { Worker } from 'node:worker_threads';
import type { FeeSchedule } from '../cycles/index.js';
import { executionFees } from '../execution/fees.js';
import { QueryExecutor } from './executor.js';
import type { FromQueryWorker, QueryWorkerData, ToQueryWorker } from './protocol.js';
import { QueryStore } from './store.js';
import { DEFAULT_QUERY_LIMITS, type QueryLimits, type QueryRequest, type QueryResult, type QueryStateUpdate } from './types.js';

export interface QueryService {
  /** The state certified at `update.height`: queries submitted from now on run on it. */
  publish(update: QueryStateUpdate): void;
  execute(request: QueryRequest): Promise<QueryResult>;
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

  constructor(readonly worker: Worker) {}

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
  #nextId = 0;
  #flushScheduled = false;
  #closed = false;

  constructor(options: QueryServiceOptions) {
    const data: QueryWorkerData = {
      fees: options.fees,
      stableMemoryBytes: options.stableMemoryBytes,
      limits: options.limits ?? DEFAULT_QUERY_LIMITS,
      maxSandboxes: options.maxSandboxes ?? 256,
    };
    for (let i = 0; i < options.workers; i++) {
      const w = new QueryWorker(new Worker(workerEntry(), { workerData: data }));
      w.worker.on('message', (m: FromQueryWorker) => this.#results(w, m));
      w.worker.on('error', (e) => this.#failAll(w, e));
      w.start();
      this.#workers.push(w);
    }
  }

  publish(update: QueryStateUpdate): void {
    if (this.#closed) return;
    // Queries already queued were submitted on the previous state: they go first.
    this.#flush();
    const message: ToQueryWorker = { type: 'state', update };
    for (const w of this.#workers) {
      w.certificates.clear();
      w.worker.postMessage(message);
    }
  }

  execute(request: QueryRequest): Promise<QueryResult> {
    if (this.#closed) return Promise.reject(new Error('the query service is closed'));
    let best = this.#workers[0]!;
    for (const w of this.#workers) if (w.load + w.queue.length < best.load + best.queue.length) best = w;
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
    for (const w of this.#workers) this.#failAll(w, new Error('the query service closed'));
    await Promise.all(this.#workers.map((w) => w.worker.terminate()));
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

function workerEntry(): URL {
  const entry = new URL(import.meta.url.endsWith('.ts') ? './worker.ts' : './worker.js', import.meta.url);
  if (!import.meta.url.endsWith('.ts')) return entry;
  const tsx = import.meta.resolve('tsx/esm/api');
  const code = `import { register } from ${JSON.stringify(tsx)}; register(); await import(${JSON.stringify(entry.href)});`;
  return new URL(`data:text/javascript,${encodeURIComponent(code)}`);
}
