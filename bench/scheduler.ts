// Rounds on all cores, side by side in one run:
//  (a) executions per second of trivial updates (Motoko counter `inc`) across 1000 canisters, in
//      process and on 1 and 2 worker threads, with the speed-up of 2 workers over 1. Each
//      configuration runs in a process of its own, held to as many cores as it has workers
//      (`taskset`): the speed-up is that of the replica given 2 cores instead of 1. With 1 worker
//      and both cores the main thread has a core of its own; that row is printed too, and one in
//      which the main thread also runs 40% of the canisters itself (`workerPool.mainShare`). The
//      configurations run 3 times, interleaved, and the medians are printed (a shared machine's
//      load moves single runs by ±10%).
//  (b) round times while a long (DTS) message is in flight next to the trivial updates.
// Run: node --import tsx bench/scheduler.ts [--canisters N] [--rounds N] [--warmup N] [--repeat N]

import { spawnSync } from 'node:child_process';
import { parseArgs } from 'node:util';
import { availableParallelism } from 'node:os';
import { IDL } from '@icp-sdk/core/candid';
import { compileMotoko } from '../test/support/motoko.js';
import { ExecutionTest, candid, type ExecutionTestOptions } from '../test/support/execution-test.js';
import { WorkerSandboxHost } from '../replica/src/index.js';
import { installMany, median, percentile, sampleInChild, threadIds, threadSchedule } from './support.js';

const { values } = parseArgs({ options: {
  canisters: { type: 'string', default: '1000' },
  rounds: { type: 'string', default: '30' },
  /**
   * Untimed rounds first: instances restored in the workers, and the code a round runs optimised.
   * `--trace-opt` shows optimisations going on until about the tenth round (functions called once
   * a round get hot slowly); a replica that runs for hours runs optimised code.
   */
  warmup: { type: 'string', default: '12' },
  /**
   * Runs of each configuration, interleaved (all configurations, then all again, …): the figures
   * printed are each configuration's median run, and the speed-up is the median of the ratios of
   * runs taken one after the other, so a change of load on the machine moves both sides alike.
   */
  repeat: { type: 'string', default: '3' },
  /**
   * Only these configurations, `workers@cores` (0 workers = in process), e.g. `--hosts 1@1` to
   * profile one; `workers+share@cores`: the main thread runs that share of the canisters itself.
   */
  hosts: { type: 'string', default: '0@1,1@1,2@2,1@2,1+0.4@2' },
  /** Internal: run one configuration in this process and print its result as JSON. */
  sample: { type: 'string' },
  /** Internal: the sample's `workerPool.mainShare`. */
  'main-share': { type: 'string', default: '0' },
  'skip-dts': { type: 'boolean', default: false },
  /** Writes a CPU profile of the main thread over the timed rounds to this file. */
  profile: { type: 'string' },
} });
const CANISTERS = Number(values.canisters);
const ROUNDS = Number(values.rounds);
const WARMUP = Number(values.warmup);
const INC = candid();

/** A main-thread CPU profile through the inspector (`node --cpu-prof` would include the set-up). */
async function startProfile(): Promise<{ stop(file: string): Promise<void> }> {
  const { Session } = await import('node:inspector/promises');
  const { writeFile } = await import('node:fs/promises');
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.setSamplingInterval', { interval: 100 });
  await session.post('Profiler.start');
  return {
    async stop(file) {
      const { profile } = await session.post('Profiler.stop');
      await writeFile(file, JSON.stringify(profile));
      session.disconnect();
    },
  };
}

interface Throughput {
  readonly perSecond: number;
  readonly roundMs: number[];
  /** CPU time per message (µs), not wall time, so less disturbed by other load on the machine. */
  readonly cpu: { readonly main: number; readonly process: number };
  /** Share of the measured time each thread was busy: the main thread, then each worker. */
  readonly busy: number[];
  /**
   * The main thread per round (ms, medians): on a core, and runnable but waiting for one. It
   * prepares and commits every execution, so its wait delays the round.
   */
  readonly main: { readonly run: number; readonly wait: number };
  /**
   * The worker threads per round (ms, medians), ordered in each round by their wait for a core:
   * time on a core, and waiting for one. Canisters stay on the worker that holds their instance,
   * so a worker that waits while the others run ends the round late. Empty where the threads
   * cannot be told apart.
   */
  readonly workers: { readonly run: number[]; readonly wait: number[] };
}

/** Trivial updates, one per canister per round; only round execution is timed. */
async function throughput(workers: number, mainShare: number, counter: Uint8Array): Promise<Throughput> {
  // The worker threads are the threads the pool starts (as it is made).
  const before = new Set(threadIds());
  // No cycles conservation check after each round: a test harness's check, not part of a round.
  const t = new ExecutionTest({ workers, checkCycles: false, ...(mainShare > 0 ? { workerPool: { mainShare } } : {}) });
  const started = threadIds().filter((tid) => !before.has(tid));
  try {
    const ids = await installMany(t, counter, CANISTERS);
    const host = t.replica.env.host;
    const workerThreads = () => (host instanceof WorkerSandboxHost ? host.threads() : []);
    // The main thread, then the workers (if they are known).
    const tids = [process.pid, ...(started.length === workerThreads().length ? started : [])];
    /** Per round, per thread of `tids` (the workers ordered by wait): ms on a core and waiting for one. */
    const schedules: { run: number; wait: number }[][] = [];
    const roundMs: number[] = [];
    let executed = 0;
    let elapsed = 0;
    let main = performance.eventLoopUtilization();
    let workers = workerThreads().map((w) => w.performance.eventLoopUtilization());
    let busyMain = 0;
    const busyWorkers = workers.map(() => 0);
    let cpuProcess = 0;
    let profiler: { stop(file: string): Promise<void> } | undefined;
    for (let round = -WARMUP; round < ROUNDS; round++) {
      if (round === 0 && values.profile) profiler = await startProfile(); // after the warm-up
      for (const id of ids) await t.submit(id, 'inc', INC);
      main = performance.eventLoopUtilization();
      workers = workerThreads().map((w) => w.performance.eventLoopUtilization());
      const threadsBefore = tids.map((tid) => threadSchedule(tid));
      const processBefore = process.cpuUsage();
      const start = performance.now();
      const summary = await t.tick();
      const ms = performance.now() - start;
      const processUsed = process.cpuUsage(processBefore);
      const threadsUsed = tids.map((tid, i) => {
        const after = threadSchedule(tid);
        return { run: (after.run - threadsBefore[i]!.run) / 1000, wait: (after.wait - threadsBefore[i]!.wait) / 1000 };
      });
      if (round < 0) continue; // warm-up
      roundMs.push(ms);
      elapsed += ms;
      executed += summary.messagesExecuted;
      const [onMain, ...onWorkers] = threadsUsed;
      schedules.push([onMain!, ...onWorkers.sort((a, b) => a.wait - b.wait)]);
      cpuProcess += processUsed.user + processUsed.system;
      busyMain += performance.eventLoopUtilization(main).active;
      workerThreads().forEach((w, i) => (busyWorkers[i]! += w.performance.eventLoopUtilization(workers[i]).active));
    }
    if (profiler) await profiler.stop(values.profile!);
    const cpuMain = schedules.reduce((sum, [onMain]) => sum + onMain!.run, 0) * 1000;
    const run = tids.map((_, i) => median(schedules.map((threads) => threads[i]!.run)));
    const wait = tids.map((_, i) => median(schedules.map((threads) => threads[i]!.wait)));
    return {
      perSecond: (executed / elapsed) * 1000, roundMs, cpu: { main: cpuMain / executed, process: cpuProcess / executed },
      busy: [busyMain / elapsed, ...busyWorkers.map((b) => b / elapsed)],
      main: { run: run[0]!, wait: wait[0]! }, workers: { run: run.slice(1), wait: wait.slice(1) },
    };
  } finally {
    await t.close();
  }
}

/** Round times with and without a long message in flight (IC limits: slice 2 B, round 4 B). */
async function dtsRounds(counter: Uint8Array, loop: Uint8Array): Promise<{ quiet: number[]; busy: number[]; rounds: number }> {
  const options: ExecutionTestOptions = { workers: Math.min(2, availableParallelism()) };
  const t = new ExecutionTest(options);
  try {
    const ids = await installMany(t, counter, Math.min(CANISTERS, 200));
    const [long] = await installMany(t, loop, 1);
    const round = async () => {
      for (const id of ids) await t.submit(id, 'inc', INC);
      const start = performance.now();
      await t.tick();
      return performance.now() - start;
    };
    const quiet: number[] = [];
    for (let i = 0; i < 8; i++) quiet.push(await round());
    const work = await t.submit(long!, 'work', candid([IDL.Nat], [150_000_000n])); // ~20 B instructions
    const busy: number[] = [];
    while (!t.result(work)) busy.push(await round());
    return { quiet: quiet.slice(2), busy, rounds: busy.length };
  } finally {
    await t.close();
  }
}

const counter = (await compileMotoko('counter')).wasm;
if (values.sample !== undefined) {
  console.log(JSON.stringify(await throughput(Number(values.sample), Number(values['main-share']), counter)));
  process.exit(0);
}
const loop = (await compileMotoko('loop')).wasm;

/** `taskset` and enough cores to hold each configuration to its own number of them. */
const pinning = availableParallelism() >= 2 && spawnSync('taskset', ['-c', '0', 'true']).status === 0;

/** One configuration in a fresh process, on cores 0..cores-1. */
function sample(workers: number, share: number, cores: number): Promise<Throughput> {
  const args = ['--sample', String(workers), '--main-share', String(share), '--canisters', String(CANISTERS), '--rounds', String(ROUNDS), '--warmup', String(WARMUP), ...(values.profile ? ['--profile', values.profile] : [])];
  return sampleInChild(new URL(import.meta.url).pathname, args, pinning ? ['taskset', '-c', Array.from({ length: cores }, (_, i) => i).join(',')] : []);
}

const REPEAT = Math.max(1, Number(values.repeat));
console.log(`trivial updates (counter.inc), ${CANISTERS} canisters, one update each per round, ${ROUNDS} rounds after ${WARMUP} untimed, median of ${REPEAT} interleaved runs; ${availableParallelism()} cores${pinning ? '' : ' (not pinned: no taskset or one core)'}`);
const pct = (x: number) => `${(x * 100).toFixed(0)}%`;
const hosts = values.hosts.split(',').map((host) => {
  const [spec, pinned] = host.split('@') as [string, string | undefined];
  const [workers, share = 0] = spec.split('+').map(Number) as [number, number | undefined];
  const cores = pinned === undefined ? Math.max(workers, 1) : Number(pinned);
  return { key: `${workers}${share > 0 ? `+${share}` : ''}@${cores}`, workers, share, cores, runs: [] as Throughput[] };
});
for (let i = 0; i < REPEAT; i++) {
  for (const h of hosts) h.runs.push(await sample(h.workers, h.share, h.cores));
}
/** ` (min–max)` of several values, nothing for one. */
const range = (xs: readonly number[], digits: number) => (xs.length > 1 ? ` (${Math.min(...xs).toFixed(digits)}–${Math.max(...xs).toFixed(digits)})` : '');
for (const { workers, share, cores, runs } of hosts) {
  const perSecond = runs.map((x) => x.perSecond);
  const r = runs[perSecond.indexOf(median(perSecond))]!;
  const onMain = share > 0 ? ` + main ${pct(share)}` : '';
  const name = `${workers === 0 ? 'in process' : `${workers} worker${workers > 1 ? 's' : ''}${onMain}`}, ${cores} core${cores > 1 ? 's' : ''}`;
  // CPU per message: of the main thread, and of the whole process (all threads; 1e6 / it = updates per second per core).
  console.log(`  ${name.padEnd(27)} ${r.perSecond.toFixed(0).padStart(7)} updates/s${range(perSecond, 0)} (${(r.perSecond / cores).toFixed(0)} per core)   round p50 ${percentile(r.roundMs, 50).toFixed(1)} ms, max ${Math.max(...r.roundMs).toFixed(1)} ms   CPU/message: main ${r.cpu.main.toFixed(1)} µs, all threads ${r.cpu.process.toFixed(1)} µs   busy: main ${pct(r.busy[0]!)}${r.busy.slice(1).map((b, i) => `, worker ${i + 1} ${pct(b)}`).join('')}${Number.isNaN(r.main.run) ? '' : `   main thread per round: runs ${r.main.run.toFixed(1)} ms, waits for a core ${r.main.wait.toFixed(1)} ms`}${r.workers.run.length > 1 ? `; workers (by wait): run ${r.workers.run.map((ms) => ms.toFixed(1)).join('/')} ms, wait ${r.workers.wait.map((ms) => ms.toFixed(1)).join('/')} ms` : ''}`);
}
/** The median over the repeats of `a`'s throughput over `b`'s in the same repeat, and their range. */
function speedUp(a: string, b: string): string | undefined {
  const x = hosts.find((h) => h.key === a)?.runs;
  const y = hosts.find((h) => h.key === b)?.runs;
  if (!x || !y) return undefined;
  const ratios = x.map((r, i) => r.perSecond / y[i]!.perSecond);
  return `${median(ratios).toFixed(2)}x${range(ratios, 2)}`;
}
const perCore = speedUp('2@2', '1@1');
if (perCore) console.log(`  speed-up, 2 workers on 2 cores / 1 worker on 1 core: ${perCore}`);
const sameCores = speedUp('2@2', '1@2');
if (sameCores) console.log(`  2 workers / 1 worker, both on 2 cores: ${sameCores}`);
const shared = speedUp('1+0.4@2', '1@1');
if (shared) console.log(`  speed-up, 1 worker + the main thread's 40% on 2 cores / 1 worker on 1 core: ${shared}`);
const overTwo = speedUp('1+0.4@2', '2@2');
if (overTwo) console.log(`  1 worker + the main thread's 40% / 2 workers, both on 2 cores: ${overTwo}`);
if (values['skip-dts']) process.exit(0);

console.log('\nround time with a long message in flight (~20 B instructions; slice 2 B, round 4 B), 200 trivial updates per round, 2 workers');
const d = await dtsRounds(counter, loop);
const stats = (xs: number[]) => `p50 ${percentile(xs, 50).toFixed(0)} ms, p90 ${percentile(xs, 90).toFixed(0)} ms, max ${Math.max(...xs).toFixed(0)} ms`;
console.log(`  without: ${stats(d.quiet)}`);
console.log(`  with:    ${stats(d.busy)} over ${d.rounds} rounds`);
