// Threads for the HTTP interface's signature work: checking the signatures of requests (an
// Ed25519 verification is most of what an authenticated query costs) and signing query responses
// with the node key. The HTTP thread then only parses, routes and answers.
//
// Jobs submitted in the same turn of the event loop go to the thread with the fewest outstanding,
// in messages of a few jobs, several in flight per thread (see `#enqueue`). While the threads are
// busier than the calling thread, it signs a share of the responses itself (`nextInlineShare`).
// Until a thread is up, and if one dies, its work is done on the calling thread instead: the
// answer is the same, only where it is computed differs. None of it reaches replicated state (it
// authenticates requests and signs non-replicated responses).

import { Worker } from 'node:worker_threads';
import type { EventLoopUtilization } from 'node:perf_hooks';
import type { SignatureCheck } from './auth.js';
import { signatureVerifies } from './public-key.js';
import { canisterSignatureProblem, type CanisterSignatureContext, type CanisterSignatureKey } from './canister-signature.js';
import { JobKind, KIND_OF_SCHEME, SIGNATURE_BYTES, type FromSignatureWorker, type SignatureWorkerData, type ToSignatureWorker } from './signature-protocol.js';
import { workerEntry } from '../worker-entry.js';
import { NodeSigningKey } from '../node/keys.js';

export interface SignaturePoolOptions {
  /** Threads; 0 does everything on the calling thread. */
  readonly threads: number;
  /** Ed25519 seed of the key `sign` signs with (the node key). */
  readonly signingSeed?: Uint8Array;
}

/** A job waiting for its thread, and who waits for its answer. */
type Job =
  | { readonly check: SignatureCheck; readonly verified: (ok: boolean) => void }
  | { readonly canister: CanisterCheck; readonly answered: (problem: string | undefined) => void }
  | { readonly message: Uint8Array; readonly signed: (signature: Uint8Array) => void };

interface CanisterCheck {
  readonly key: CanisterSignatureKey;
  readonly message: Uint8Array;
  readonly signature: Uint8Array;
  readonly context: CanisterSignatureContext;
  readonly what: string;
}

const utf8 = new TextEncoder();

/** Jobs per message to a thread (an Ed25519 verification is ~60 µs). */
const BATCH_JOBS = 8;
/** Messages a thread may have unanswered, so it never waits for the HTTP thread between two. */
const BATCHES_IN_FLIGHT = 4;
/** How often the share of responses the calling thread signs itself is adjusted. */
const BALANCE_INTERVAL_MS = 100;
/** Steps of the share: up slowly, down fast (a busy HTTP thread is what delays every request). */
const SHARE_UP = 0.1;
const SHARE_DOWN = 0.25;
/** Utilizations closer than this count as balanced. */
const BALANCE_MARGIN = 0.05;

/**
 * The next share of query responses the calling (HTTP) thread signs itself, from the share now
 * and how busy the signature threads and the calling thread were over the last interval (event
 * loop utilization, 0..1): a step towards the less busy side. Under signed load the threads also
 * verify every request and are the busier side, so the HTTP thread takes some signing and both
 * cores work; under anonymous load the HTTP thread is the busier one and the share returns to 0.
 */
export function nextInlineShare(share: number, threads: number, caller: number): number {
  if (threads > caller + BALANCE_MARGIN) return Math.min(1, share + SHARE_UP);
  if (threads < caller - BALANCE_MARGIN) return Math.max(0, share - SHARE_DOWN);
  return share;
}

function problemHere(c: CanisterCheck): string | undefined {
  return canisterSignatureProblem(c.key, c.message, c.signature, c.context, c.what);
}

class SignatureThread {
  /** Resolves when the thread is up (or gone). */
  readonly started: Promise<void>;
  markStarted!: () => void;
  /** Sent batches not answered yet, by batch number. */
  readonly sent = new Map<number, readonly Job[]>();
  queue: Job[] = [];
  outstanding = 0;
  ready = false;
  /** Its event loop's use at the last balance. */
  use: EventLoopUtilization | undefined;
  #referenced = false;

  constructor(readonly worker: Worker) {
    this.started = new Promise((resolve) => (this.markStarted = resolve));
  }

  /** Keeps the process alive only while jobs are outstanding. */
  refresh(force = false): void {
    const busy = this.outstanding > 0;
    if (busy === this.#referenced && !force) return;
    this.#referenced = busy;
    if (busy) this.worker.ref();
    else this.worker.unref();
  }
}

export class SignaturePool {
  readonly #threads: SignatureThread[] = [];
  readonly #data: SignatureWorkerData;
  readonly #signingKey: NodeSigningKey | undefined;
  #nextBatch = 0;
  #flushScheduled = false;
  #closed = false;
  /** Share of responses signed on the calling thread (see `nextInlineShare`), and its dither. */
  #inlineShare = 0;
  #inlineCredit = 0;
  #balancer: NodeJS.Timeout | undefined;
  #callerUse = performance.eventLoopUtilization();

  constructor(options: SignaturePoolOptions) {
    this.#data = options.signingSeed !== undefined ? { signingSeed: options.signingSeed } : {};
    this.#signingKey = options.signingSeed === undefined ? undefined : new NodeSigningKey(options.signingSeed);
    for (let i = 0; i < options.threads; i++) this.#spawn();
    if (options.threads > 0 && this.#signingKey !== undefined) {
      this.#balancer = setInterval(() => this.#balance(), BALANCE_INTERVAL_MS).unref();
    }
  }

  /** The share of query responses the calling thread signs itself now (0 unless the threads are the busier side). */
  get inlineShare(): number {
    return this.#inlineShare;
  }

  /** Resolves when every thread is up: until then, work is done on the calling thread. */
  async started(): Promise<void> {
    const threads = [...this.#threads];
    // Waiting for them keeps the process alive meanwhile.
    for (const t of threads) t.worker.ref();
    await Promise.all(threads.map((t) => t.started));
    for (const t of threads) t.refresh(true);
  }

  /** The threads (for tests). */
  get threads(): readonly Worker[] {
    return this.#threads.map((t) => t.worker);
  }

  /** Checks signatures; each is true when it verifies (a `SignatureVerifier`). */
  readonly verify = (checks: readonly SignatureCheck[]): Promise<readonly boolean[]> =>
    Promise.all(
      checks.map((c) => {
        const thread = this.#pick();
        if (thread === undefined) return signatureVerifies(c.key, c.message, c.signature);
        return new Promise<boolean>((verified) => this.#enqueue(thread, { check: c, verified }));
      }),
    );

  /**
   * Checks a canister signature (BLS pairings: milliseconds) on a thread; what is wrong with it,
   * or undefined (a `CanisterSignatureVerifier`).
   */
  readonly verifyCanister = (
    key: CanisterSignatureKey,
    message: Uint8Array,
    signature: Uint8Array,
    context: CanisterSignatureContext,
    what: string,
  ): Promise<string | undefined> => {
    const canister: CanisterCheck = { key, message, signature, context, what };
    const thread = this.#pick();
    if (thread === undefined) return Promise.resolve(problemHere(canister));
    return new Promise((answered) => this.#enqueue(thread, { canister, answered }));
  };

  /** The signature of `message` with the pool's signing key. */
  sign(message: Uint8Array): Promise<Uint8Array> {
    if (this.#signingKey === undefined) return Promise.reject(new Error('the signature pool has no signing key'));
    const thread = this.#pick();
    if (thread === undefined || this.#signsHere()) return Promise.resolve(this.#signHere(message));
    return new Promise((signed) => this.#enqueue(thread, { message, signed }));
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#balancer);
    const threads = this.#threads.splice(0);
    for (const t of threads) this.#doHere(t);
    await Promise.all(threads.map((t) => t.worker.terminate()));
  }

  /** Whether this response is one of the share signed here (spread evenly, no randomness). */
  #signsHere(): boolean {
    if (this.#inlineShare === 0) return false;
    this.#inlineCredit += this.#inlineShare;
    if (this.#inlineCredit < 1) return false;
    this.#inlineCredit -= 1;
    return true;
  }

  /** Adjusts the share signed here from the utilizations of the last interval. */
  #balance(): void {
    const caller = performance.eventLoopUtilization(this.#callerUse);
    this.#callerUse = performance.eventLoopUtilization();
    let busiest = 0;
    for (const t of this.#threads) {
      if (!t.ready) continue;
      const now = t.worker.performance.eventLoopUtilization();
      if (t.use !== undefined) busiest = Math.max(busiest, t.worker.performance.eventLoopUtilization(now, t.use).utilization);
      t.use = now;
    }
    this.#inlineShare = nextInlineShare(this.#inlineShare, busiest, caller.utilization);
  }

  #signHere(message: Uint8Array): Uint8Array {
    return this.#signingKey!.sign(message);
  }

  /** The ready thread with the fewest outstanding jobs, if any. */
  #pick(): SignatureThread | undefined {
    let best: SignatureThread | undefined;
    for (const t of this.#threads) {
      if (t.ready && (best === undefined || t.outstanding < best.outstanding)) best = t;
    }
    return best;
  }

  /**
   * Jobs go in batches of at most `BATCH_JOBS`, with up to `BATCHES_IN_FLIGHT` per thread: the
   * thread starts the next batch as soon as it has answered one, and answers come back while it
   * works, so the HTTP thread and the signature threads work at the same time instead of taking
   * turns on one large batch. What comes in while a thread's batches are full waits for its next.
   */
  #enqueue(thread: SignatureThread, job: Job): void {
    thread.queue.push(job);
    thread.outstanding++;
    thread.refresh();
    if (thread.sent.size < BATCHES_IN_FLIGHT && !this.#flushScheduled) {
      this.#flushScheduled = true;
      setImmediate(() => this.#flush());
    }
  }

  /** Jobs of this turn of the event loop to the threads that have room for them. */
  #flush(): void {
    this.#flushScheduled = false;
    for (const t of this.#threads) this.#send(t);
  }

  #send(t: SignatureThread): void {
    while (t.queue.length > 0 && t.sent.size < BATCHES_IN_FLIGHT) {
      const jobs = t.queue.splice(0, BATCH_JOBS);
      const batch = this.#nextBatch++;
      t.sent.set(batch, jobs);
      const message = pack(batch, jobs);
      t.worker.postMessage(message, [message.bytes, message.kinds.buffer, message.ends.buffer]);
    }
  }

  #spawn(): void {
    const worker = new Worker(workerEntry(import.meta.url, 'signature-worker'), { workerData: this.#data });
    const thread = new SignatureThread(worker);
    worker.on('message', (m: FromSignatureWorker) => {
      if ('ready' in m) {
        thread.ready = !this.#closed;
        thread.markStarted();
        return;
      }
      this.#answered(thread, m);
    });
    worker.on('error', () => this.#lost(thread));
    worker.on('exit', () => this.#lost(thread));
    worker.unref();
    this.#threads.push(thread);
  }

  #answered(thread: SignatureThread, m: Extract<FromSignatureWorker, { batch: number }>): void {
    const jobs = thread.sent.get(m.batch);
    if (jobs === undefined) return;
    thread.sent.delete(m.batch);
    thread.outstanding -= jobs.length;
    this.#send(thread);
    thread.refresh();
    let signed = 0;
    jobs.forEach((job, i) => {
      if ('verified' in job) {
        job.verified(m.ok[i] === 1);
        return;
      }
      if ('answered' in job) {
        job.answered(m.ok[i] === 1 ? undefined : m.problems?.[i] ?? `${job.canister.what}: the canister signature does not verify`);
        return;
      }
      const at = signed++ * SIGNATURE_BYTES;
      job.signed(m.ok[i] === 1 ? m.signatures.slice(at, at + SIGNATURE_BYTES) : this.#signHere(job.message));
    });
  }

  /**
   * A thread died (a bug, or out of memory): its jobs are done here, and another takes its place,
   * unless it never came up (then neither would another: the work stays on this thread).
   */
  #lost(thread: SignatureThread): void {
    thread.markStarted();
    const i = this.#threads.indexOf(thread);
    if (i < 0) return;
    this.#threads.splice(i, 1);
    const started = thread.ready;
    this.#doHere(thread);
    if (started && !this.#closed) this.#spawn();
  }

  /** Every job of `thread` not answered yet, done on this thread. */
  #doHere(thread: SignatureThread): void {
    const jobs = [...[...thread.sent.values()].flat(), ...thread.queue];
    thread.sent.clear();
    thread.queue = [];
    thread.outstanding = 0;
    thread.ready = false;
    thread.refresh();
    for (const job of jobs) {
      if ('verified' in job) job.verified(signatureVerifies(job.check.key, job.check.message, job.check.signature));
      else if ('answered' in job) job.answered(problemHere(job.canister));
      else job.signed(this.#signHere(job.message));
    }
  }
}

/** A job's byte fields, in the order the thread reads them. */
function fieldsOf(job: Job): readonly Uint8Array[] {
  if ('verified' in job) return [job.check.key.der, job.check.key.raw, job.check.message, job.check.signature];
  if ('answered' in job) {
    const c = job.canister;
    return [c.key.der, c.message, c.signature, c.context.rootKey, utf8.encode(c.what)];
  }
  return [job.message];
}

/** The batch as one buffer of fields back to back, their end offsets and the jobs' kinds. */
function pack(batch: number, jobs: readonly Job[]): ToSignatureWorker {
  const fields = jobs.map(fieldsOf);
  let count = 0;
  let total = 0;
  for (const f of fields) {
    count += f.length;
    for (const b of f) total += b.length;
  }
  const bytes = new Uint8Array(total);
  const ends = new Uint32Array(count);
  const kinds = new Uint8Array(jobs.length);
  let at = 0;
  let field = 0;
  jobs.forEach((job, i) => {
    kinds[i] = 'verified' in job ? KIND_OF_SCHEME[job.check.key.scheme] : 'answered' in job ? JobKind.CanisterSignature : JobKind.Sign;
    for (const b of fields[i]!) {
      bytes.set(b, at);
      at += b.length;
      ends[field++] = at;
    }
  });
  return { batch, kinds, ends, bytes: bytes.buffer };
}
