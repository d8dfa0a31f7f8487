// A worker thread of the sandbox pool: holds live instances of the canisters the pool gives it,
// runs batches of jobs, and returns results and page deltas. A job that uses up its slice blocks
// this thread (Atomics.wait) until the main thread says to continue (next round) or to abort.

import { getPriority, setPriority } from 'node:os';
import { parentPort, workerData } from 'node:worker_threads';
import { executionFees } from './fees.js';
import { unpackSnapshot, type WireSnapshot } from './job.js';
import { WireReader, WireWriter, readJob, writeReport } from './job-codec.js';
import { SandboxRunner } from './runner.js';
import type { SliceHook } from './sandbox.js';
import { COMMAND, type EncodedBatch, type EncodedReports, type FromWorker, type JobReport, type ToWorker, type WorkerData } from './worker-protocol.js';

const data = workerData as WorkerData;
// Nicer than the main thread by `data.nice` (a thread starts with its creator's nice value). On
// Linux "process" 0 is the calling thread alone; elsewhere it would be the whole process, so it is
// left alone there. Not allowed: the worker runs as it is.
if (process.platform === 'linux' && data.nice !== 0) {
  try {
    setPriority(0, Math.min(19, getPriority(0) + data.nice));
  } catch {
    // e.g. a sandbox that forbids it
  }
}
const port = parentPort!;
const control = new Int32Array(data.control);
const permits = new Int32Array(data.permits);
/** The subnet's id and root key, sent with the first batch (and again if they change). */
let subnet: { readonly subnetId: Uint8Array; readonly rootKey: Uint8Array } = { subnetId: new Uint8Array(0), rootKey: new Uint8Array(0) };
const runner = new SandboxRunner(executionFees(data.fees), data.stableMemoryBytes);

function post(message: FromWorker, transfer: ArrayBuffer[] = []): void {
  port.postMessage(message, transfer);
}

function acquirePermit(): boolean {
  if (Atomics.sub(permits, 0, 1) > 0) return true;
  Atomics.add(permits, 0, 1);
  return false;
}

/** Blocks until the main thread answers; returns its command. */
function awaitCommand(): 'continue' | 'abort' {
  Atomics.wait(control, 0, COMMAND.none);
  const command = Atomics.exchange(control, 0, COMMAND.none);
  return command === COMMAND.abort ? 'abort' : 'continue';
}

/** Encodes reports into a buffer of their own (transferred with the message). */
function encode(reports: readonly JobReport[]): EncodedReports {
  const w = new WireWriter();
  for (const r of reports) writeReport(w, r);
  return w.take();
}

/** Results of the batch running (one at a time: a held execution blocks the thread). */
const reports = new WireWriter(1 << 20);

/** The job running now, for the slice hook (one hook for all jobs: no closure per job). */
const running = { batch: 0, id: 0, replay: 0, ends: 0, held: false, detached: undefined as bigint | undefined };

const onSlice: SliceHook = (executed) => {
  const j = running;
  if (++j.ends <= j.replay) return 'continue';
  if (j.held) {
    post({ type: 'slice', id: j.id, executed });
    return awaitCommand();
  }
  if (!acquirePermit()) {
    j.detached = executed;
    return 'abort';
  }
  j.held = true;
  const before = reports.take();
  post({ type: 'paused', batch: j.batch, reports: before, id: j.id, executed }, [before.buffer]);
  return awaitCommand();
};

function runBatch(batch: number, encoded: EncodedBatch): void {
  // Each result is encoded as soon as its job ran (its pages may be views of the instance's memory).
  reports.reset();
  const r = new WireReader(encoded.jobs, encoded.extras);
  while (!r.done) {
    const id = r.u32();
    const replay = r.u32();
    const snapshot = r.extra<WireSnapshot>();
    const job = readJob(r, subnet);
    const module = runner.module(job.module);
    if (snapshot) runner.restore(job.canisterId, module, unpackSnapshot(snapshot));
    running.batch = batch;
    running.id = id;
    running.replay = replay;
    running.ends = 0;
    running.held = false;
    running.detached = undefined;
    const { install, ...rest } = job;
    const result = runner.run({ ...rest, module, ...(install ? { install: { ...install, module: runner.module(install.module) } } : {}) }, onSlice);
    if (running.held) {
      // The rest of the batch went elsewhere when this job paused; this thread is free again.
      Atomics.add(permits, 0, 1);
      if (result === 'aborted') {
        runner.evict(job.canisterId);
        post({ type: 'released', id, report: undefined });
      } else {
        const report = encode([{ id, kind: 'done', result }]);
        post({ type: 'released', id, report }, [report.buffer]);
      }
      return;
    }
    writeReport(reports, result === 'aborted' ? { id, kind: 'detached', executed: running.detached! } : { id, kind: 'done', result });
  }
  const all = reports.take();
  // The jobs are read (their views are not used after their runs): the buffer goes back.
  post({ type: 'results', batch, reports: all, jobs: encoded.jobs.buffer }, [all.buffer, encoded.jobs.buffer]);
}

port.on('message', (message: ToWorker) => {
  if (message.type === 'reset') {
    runner.clear();
    return;
  }
  if (message.subnet) subnet = message.subnet;
  for (const buffer of message.returned) reports.give(buffer);
  for (const module of message.modules) runner.addModule(module);
  for (const id of message.evict) runner.evict(id);
  if (message.epoch !== Atomics.load(control, 1)) return; // its jobs were handed to another worker
  runBatch(message.batch, message.jobs);
});
