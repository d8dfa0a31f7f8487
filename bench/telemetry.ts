// Cost of telemetry on a round-shaped workload, side by side in one run:
//   baseline   the workload with no telemetry calls at all (baseline*: the same again, whose
//              "overhead" shows the noise of the run)
//   off        the same workload calling RoundTracer and ReplicaMetrics, no SDK installed (the default)
//   on (100%)  SDK installed: every round sampled, batch span processor into a counting no-op
//              exporter, metrics into an in-memory reader
//   on (1%)    the same with 1% of rounds sampled
// A round: induct, 10 iterations of 100 parallel messages (each hashes its payload and awaits, as
// a message awaits its worker), route, certify. Per message: an execute_message span with 4
// attributes and a result, and a message metric. Two message sizes: 1 KiB of hashing (~7 µs, far
// cheaper than any canister message) and 32 KiB (~180 µs, the order of a small canister update).
// Reported: messages per CPU-second of this process (median of interleaved samples; CPU time, not
// wall time, so other processes on the same cores do not count) and the overhead against the
// baseline (median of the ratios of adjacent samples). Then the absolute CPU cost of the
// telemetry calls around an empty message, without awaits: through `RoundTracer.message` (a span
// object per message) and, rows "exec", as the scheduler traces (`RoundTracer.execution`). Last, the real thing: round throughput
// of the replica (in process) running trivial Motoko updates with tracing off and on, spans going
// to a counting exporter in this process and, over OTLP/HTTP (protobuf, the default, and JSON), to
// a collector in another process (the OTLP payloads are built on the replica's exporter thread:
// its CPU shows in the CPU column, not in the main thread's).
// Run: npx tsx bench/telemetry.ts [--only synthetic|replica] [--samples N] [--rounds N]
// (replica part: samples per variant, default 5; rounds per sample, default 100: a replica runs
// for long, so the exporter thread's warm-up should not dominate a sample)
import { parseArgs } from 'node:util';
import v8 from 'node:v8';
import vm from 'node:vm';
import { ExportResultCode, type ExportResult } from '@opentelemetry/core';
import { AggregationTemporality, InMemoryMetricExporter, PeriodicExportingMetricReader } from '@opentelemetry/sdk-metrics';
import type { ReadableSpan, SpanExporter } from '@opentelemetry/sdk-trace-base';
import { sha256 } from '@noble/hashes/sha2.js';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { ATTR, recordMessageResult, ReplicaMetrics, RoundTracer, SPAN } from '../replica/src/telemetry/index.js';
import { setupTelemetry, type Telemetry } from '../replica/src/telemetry/setup.js';
import { compileMotoko } from '../test/support/motoko.js';
import { ExecutionTest, candid } from '../test/support/execution-test.js';
import { installMany, threadSchedule, median, sampleInChild } from './support.js';

const ITERATIONS = 10;
const MESSAGES_PER_ITERATION = 100;
const MESSAGES_PER_ROUND = ITERATIONS * MESSAGES_PER_ITERATION;
const WARM_UP_ROUNDS = 2;
const SAMPLES = 11;
/** Spans of one sampled round: its messages, iterations, and round, induct, route, certify. */
const SPANS_PER_ROUND = ITERATIONS * MESSAGES_PER_ITERATION + ITERATIONS + 4;
const CANISTERS = Array.from({ length: MESSAGES_PER_ITERATION }, (_, i) => `canister-${i.toString().padStart(3, '0')}`);
let PAYLOAD = new Uint8Array(1024);

/** A span sink that only counts: what a collector that keeps up costs the replica. */
class CountingExporter implements SpanExporter {
  spans = 0;
  export(spans: ReadableSpan[], done: (result: ExportResult) => void): void {
    this.spans += spans.length;
    done({ code: ExportResultCode.SUCCESS });
  }
  shutdown(): Promise<void> { return Promise.resolve(); }
}

/** The work of one message: hash the payload, let the result come back like a worker's. */
async function execute(seed: number): Promise<number> {
  PAYLOAD[0] = seed & 0xff;
  const digest = sha256(PAYLOAD);
  await undefined;
  return digest[0]! + 1_000;
}

/** The same round with the telemetry calls taken out (same closures, same awaits). */
async function roundWithoutTelemetry(height: number): Promise<number> {
  let instructions = 0;
  for (let it = 0; it < ITERATIONS; it++) {
    const results = await Promise.all(CANISTERS.map(async (_, i) => {
      const used = await execute(height + it * MESSAGES_PER_ITERATION + i);
      return used;
    }));
    for (const r of results) instructions += r;
  }
  return instructions;
}

async function roundWithTelemetry(rt: RoundTracer, metrics: ReplicaMetrics, height: number): Promise<number> {
  const started = performance.now();
  return rt.round(height, async (round) => {
    rt.phase(SPAN.induct, (span) => span.setAttribute(ATTR.inductedMessages, MESSAGES_PER_ROUND));
    let instructions = 0;
    for (let it = 0; it < ITERATIONS; it++) {
      await rt.phase(SPAN.iteration, async () => {
        const results = await Promise.all(CANISTERS.map((canisterId, i) =>
          rt.message({ canisterId, method: 'transfer', kind: 'ingress', messageId: canisterId }, async (span) => {
            const used = await execute(height + it * MESSAGES_PER_ITERATION + i);
            recordMessageResult(span, { outcome: 'replied', instructions: used, cycles: used * 4 });
            metrics.recordMessage('replied', used);
            return used;
          })));
        for (const r of results) instructions += r;
      }, { [ATTR.iterationIndex]: it });
    }
    rt.phase(SPAN.route, () => {});
    rt.phase(SPAN.certify, () => {});
    round.summarize({ instructions, messages: MESSAGES_PER_ROUND, workLeft: false });
    metrics.recordRound({ seconds: (performance.now() - started) / 1000, instructions });
    return instructions;
  });
}

interface Variant {
  readonly name: string;
  /** Installs what the variant needs; returns the round runner and a teardown. */
  start(): { round: (height: number) => Promise<number>; stop: () => Promise<void> };
}

let exported = 0;
function sdkVariant(name: string, sampleRatio: number): Variant {
  return {
    name,
    start() {
      const exporter = new CountingExporter();
      const reader = new PeriodicExportingMetricReader({
        exporter: new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE), exportIntervalMillis: 1_000,
      });
      const t: Telemetry = setupTelemetry({ serviceName: 'bench', spanExporter: exporter, spanProcessor: 'batch', sampleRatio, metricReader: reader });
      const rt = new RoundTracer(t.tracerProvider);
      const metrics = new ReplicaMetrics(t.meterProvider);
      return {
        round: (h) => roundWithTelemetry(rt, metrics, h),
        stop: async () => {
          await t.shutdown();
          exported += exporter.spans;
        },
      };
    },
  };
}

const BASELINE: Variant = { name: 'baseline', start: () => ({ round: roundWithoutTelemetry, stop: async () => {} }) };
/** The baseline measured as if it were a variant: its "overhead" is the noise floor of the run. */
const BASELINE_AGAIN: Variant = { ...BASELINE, name: 'baseline*' };
const OFF: Variant = {
  name: 'off',
  start() {
    const t = setupTelemetry({ serviceName: 'bench' });
    const rt = new RoundTracer(t.tracerProvider);
    const metrics = new ReplicaMetrics(t.meterProvider);
    return { round: (h) => roundWithTelemetry(rt, metrics, h), stop: () => t.shutdown() };
  },
};

// A full collection between samples, so one variant's garbage is not collected on another's time.
v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;

async function sample(v: Variant, height: number, rounds: number): Promise<number> {
  const { round, stop } = v.start();
  for (let i = 0; i < WARM_UP_ROUNDS; i++) await round(height + i);
  gc();
  const t0 = process.cpuUsage();
  for (let r = 0; r < rounds; r++) await round(height + r);
  const used = process.cpuUsage(t0);
  const seconds = (used.user + used.system) / 1e6;
  await stop();
  return (rounds * MESSAGES_PER_ROUND) / seconds;
}

/** Interleaved samples of `variants` (the first is the baseline); overhead = median of per-round-robin ratios. */
async function compare(title: string, payloadBytes: number, rounds: number, variants: Variant[]): Promise<void> {
  PAYLOAD = new Uint8Array(payloadBytes).map((_, i) => i);
  exported = 0;
  const results = new Map<string, number[]>(variants.map((v) => [v.name, []]));
  for (const v of variants) await sample(v, 0, 1); // warm every path once
  exported = 0;
  for (let s = 0; s < SAMPLES; s++) {
    // Rotate the order so no variant always runs first (GC, tier-up, thermal drift).
    for (let k = 0; k < variants.length; k++) {
      const v = variants[(s + k) % variants.length]!;
      results.get(v.name)!.push(await sample(v, s * 1000, rounds));
    }
  }
  const base = results.get(variants[0]!.name)!;
  console.log(`\n${title}: ${MESSAGES_PER_ROUND} messages/round, sha256 of ${payloadBytes / 1024} KiB each, ${rounds} rounds/sample, ${SAMPLES} interleaved samples`);
  console.log(`${'variant'.padEnd(12)} ${'messages/s'.padStart(12)} ${'CPU µs/msg'.padStart(11)} ${'overhead'.padStart(9)}`);
  for (const v of variants) {
    const xs = results.get(v.name)!;
    const ops = median(xs);
    const overhead = v === variants[0] ? '' : `${((median(xs.map((x, i) => base[i]! / x)) - 1) * 100).toFixed(1)}%`;
    console.log(`${v.name.padEnd(12)} ${ops.toFixed(0).padStart(12)} ${(1e6 / ops).toFixed(2).padStart(11)} ${overhead.padStart(9)}`);
  }
  console.log('(baseline*: the baseline again, as a variant: its overhead is the noise of this run)');
  if (exported > 0) {
    console.log(`spans exported: ${exported} (the 100% variant alone produces ${SAMPLES * (rounds + WARM_UP_ROUNDS) * SPANS_PER_ROUND}; fewer would mean drops)`);
  }
}

/**
 * The absolute cost of the per-message calls (span, result, metric) around a message that does
 * nothing, synchronously: what telemetry adds to every message whatever its size.
 */
async function perMessageCost(variants: { name: string; setup: () => Telemetry | undefined; executions?: boolean }[]): Promise<void> {
  const N = 200_000;
  console.log(`\nper-message cost of the telemetry calls around an empty message (${N} messages in open rounds of 1000, median of ${SAMPLES})`);
  console.log(`${'variant'.padEnd(12)} ${'CPU ns/msg'.padStart(11)}`);
  let sink = 0;
  const direct = (i: number) => { sink += i; return i; };
  for (const v of variants) {
    const t = v.setup();
    const rt = new RoundTracer(t?.tracerProvider);
    const metrics = new ReplicaMetrics(t?.meterProvider);
    const run = (n: number) => {
      for (let r = 0; r < n / 1000; r++) {
        rt.round(r, () => rt.phase(SPAN.iteration, () => {
          for (let i = 0; i < 1000; i++) {
            if (t === undefined && v.name === 'baseline') { direct(i); continue; }
            const canisterId = CANISTERS[i % MESSAGES_PER_ITERATION]!;
            if (v.executions) {
              // As the scheduler traces an execution: its start taken, a record once its outcome is known.
              const started = rt.tracing ? rt.now() : 0;
              const used = direct(i);
              const result = { outcome: 'replied', instructions: used } as const;
              if (rt.tracing) sink += rt.execution({ canisterId, method: 'transfer', kind: 'ingress', messageId: canisterId }, result, started)?.length ?? 0;
              metrics.recordMessage('replied', used);
              continue;
            }
            rt.message({ canisterId, method: 'transfer', kind: 'ingress', messageId: canisterId }, (span) => {
              const used = direct(i);
              recordMessageResult(span, { outcome: 'replied', instructions: used, cycles: used * 4 });
              metrics.recordMessage('replied', used);
            });
          }
        }));
        metrics.recordRound({ seconds: 0, instructions: 0 });
      }
    };
    run(N / 10);
    const xs: number[] = [];
    for (let s = 0; s < SAMPLES; s++) {
      gc();
      const t0 = process.cpuUsage();
      run(N);
      const used = process.cpuUsage(t0);
      xs.push(((used.user + used.system) * 1000) / N);
    }
    await t?.shutdown();
    console.log(`${v.name.padEnd(12)} ${median(xs).toFixed(0).padStart(11)}`);
  }
  if (sink < 0) console.log(sink);
}

const countingSdk = (sampleRatio: number) => () => setupTelemetry({
  serviceName: 'bench', spanExporter: new CountingExporter(), spanProcessor: 'batch', sampleRatio,
  metricReader: new PeriodicExportingMetricReader({ exporter: new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE), exportIntervalMillis: 1_000 }),
});

const { values: args } = parseArgs({
  options: {
    only: { type: 'string' },
    // One sample of the replica part, in a child process.
    sample: { type: 'string' }, collector: { type: 'string' }, canisters: { type: 'string' }, rounds: { type: 'string' },
    // Samples per variant of the replica part (default 5).
    samples: { type: 'string' },
  },
});
const part = (name: 'synthetic' | 'replica') => args.sample === undefined && (args.only === undefined || args.only === name);

// Off first: a replica with telemetry off never enables the SDK, so neither does this part.
const ON = [BASELINE, sdkVariant('on (100%)', 1), sdkVariant('on (1%)', 0.01), BASELINE_AGAIN];
if (part('synthetic')) {
  await compare('telemetry off (no SDK installed)', 1024, 20, [BASELINE, OFF, BASELINE_AGAIN]);
  await compare('telemetry off (no SDK installed)', 32 * 1024, 2, [BASELINE, OFF, BASELINE_AGAIN]);
  await compare('telemetry on', 1024, 20, ON);
  await compare('telemetry on', 32 * 1024, 2, ON);
  await perMessageCost([
    { name: 'baseline', setup: () => undefined },
    { name: 'off', setup: () => setupTelemetry({ serviceName: 'bench' }) },
    { name: 'on (100%)', setup: countingSdk(1) },
    { name: 'on (1%)', setup: countingSdk(0.01) },
    // The scheduler's path: executions recorded after the fact (RoundTracer.execution), no span objects.
    { name: 'off, exec', setup: () => setupTelemetry({ serviceName: 'bench' }), executions: true },
    { name: 'on, exec', setup: countingSdk(1), executions: true },
  ]);
}

// ---------------------------------------------------------------------------------------------
// The replica itself: round throughput of trivial updates with tracing off and on. Each sample is
// a process of its own (a fresh replica with one telemetry set-up, as a deployment has), started
// in turn for each variant: switching the SDK on and off inside one process deoptimises shared
// code and makes the order of the variants show up in the figures.

/** An OTLP/HTTP collector in another process that accepts everything: its CPU is not ours. */
async function startCollector(): Promise<{ url: string; stop: () => void }> {
  const child = spawn(process.execPath, ['-e', `
    require('node:http').createServer((req, res) => {
      req.resume();
      // An empty ExportTraceServiceResponse, in the request's encoding.
      const protobuf = req.headers['content-type'] === 'application/x-protobuf';
      req.on('end', () => { res.writeHead(200, { 'content-type': req.headers['content-type'] }); res.end(protobuf ? '' : '{}'); });
    }).listen(0, '127.0.0.1', function () { console.log(this.address().port); });`], { stdio: ['ignore', 'pipe', 'inherit'] });
  const [line] = await once(child.stdout!, 'data') as [Buffer];
  return { url: `http://127.0.0.1:${line.toString().trim()}`, stop: () => child.kill() };
}

/** `off*` is `off` again: its "overhead" is the noise between processes (memory layout, mostly). */
const REPLICA_VARIANTS = ['off', 'on (100%)', 'on, OTLP', 'on, OTLP JSON', 'off*'] as const;
type ReplicaVariant = typeof REPLICA_VARIANTS[number];

/**
 * Per message of a sample: wall time of the rounds (their throughput), CPU time of the main thread
 * (which runs the rounds; NaN where Linux's schedstat is not available) and of all threads.
 */
interface ReplicaCost { readonly wall: number; readonly main: number; readonly cpu: number }

/** One sample (run in a child process): `rounds` rounds and the flush of their spans. */
async function replicaSample(variant: ReplicaVariant, canisters: number, rounds: number, collector: string): Promise<ReplicaCost> {
  const telemetry = variant === 'off' || variant === 'off*' ? setupTelemetry({ serviceName: 'bench' })
    : variant === 'on (100%)' ? setupTelemetry({ serviceName: 'bench', spanExporter: new CountingExporter(), spanProcessor: 'batch' })
    : setupTelemetry({
      serviceName: 'bench', otlpEndpoint: collector, metricExportIntervalMs: 60_000,
      otlpProtocol: variant === 'on, OTLP JSON' ? 'http/json' : 'http/protobuf',
    });
  const t = new ExecutionTest({ tracer: new RoundTracer(telemetry.tracerProvider), checkCycles: false });
  try {
    const ids = await installMany(t, (await compileMotoko('counter')).wasm, canisters);
    let cpu = 0;
    let wall = 0;
    let main = 0;
    const timed = async <T>(fn: () => Promise<T>, count: boolean): Promise<T> => {
      const c0 = process.cpuUsage();
      const m0 = threadSchedule().run;
      const w0 = performance.now();
      const result = await fn();
      const used = process.cpuUsage(c0);
      if (count) {
        wall += (performance.now() - w0) * 1000;
        main += threadSchedule().run - m0;
        cpu += used.user + used.system;
      }
      return result;
    };
    for (let r = -3; r < rounds; r++) { // three rounds of warm-up
      // Their spans exported before the timed rounds: the exporter thread is up (starting it, a
      // one-off, is not the steady cost of tracing a replica's rounds).
      if (r === 0) await telemetry.forceFlush();
      for (const id of ids) await t.submit(id, 'inc', candid());
      const summary = await timed(() => t.tick(), r >= 0);
      if (summary.messagesExecuted !== canisters) throw new Error(`round executed ${summary.messagesExecuted} messages`);
    }
    await timed(() => telemetry.forceFlush(), true);
    const messages = canisters * rounds;
    return { wall: wall / messages, main: main / messages, cpu: cpu / messages };
  } finally {
    await telemetry.shutdown();
    await t.close();
  }
}

async function replicaRounds(canisters: number, rounds: number, samples: number): Promise<void> {
  const collector = await startCollector();
  try {
    const results = new Map<ReplicaVariant, ReplicaCost[]>(REPLICA_VARIANTS.map((v) => [v, []]));
    for (let s = 0; s < samples; s++) {
      for (let k = 0; k < REPLICA_VARIANTS.length; k++) {
        const variant = REPLICA_VARIANTS[(s + k) % REPLICA_VARIANTS.length]!;
        results.get(variant)!.push(await sampleInChild<ReplicaCost>(new URL(import.meta.url).pathname,
          ['--sample', variant, '--collector', collector.url, '--canisters', String(canisters), '--rounds', String(rounds)]));
      }
    }
    console.log(`\nreplica rounds: ${canisters} Motoko counters, one inc each per round, in process, ${rounds} rounds/sample after 3 of warm-up, ${samples} samples per variant (each a fresh process, in turn)`);
    console.log(`${'variant'.padEnd(14)} ${'updates/s'.padStart(10)} ${'wall µs/msg'.padStart(12)} ${'overhead'.padStart(9)} ${'main µs/msg'.padStart(12)} ${'overhead'.padStart(9)} ${'CPU µs/msg'.padStart(11)} ${'overhead'.padStart(9)}`);
    const base = results.get('off')!;
    const overhead = (xs: number[], ys: number[]) => `${((median(xs.map((x, j) => x / ys[j]!)) - 1) * 100).toFixed(1)}%`;
    for (const v of REPLICA_VARIANTS) {
      const xs = results.get(v)!;
      const first = v === 'off';
      const column = (key: keyof ReplicaCost, width: number) => {
        const ys = xs.map((x) => x[key]);
        return `${median(ys).toFixed(2).padStart(width)} ${(first ? '' : overhead(ys, base.map((b) => b[key]))).padStart(9)}`;
      };
      console.log(`${v.padEnd(14)} ${(1e6 / median(xs.map((x) => x.wall))).toFixed(0).padStart(10)} ${column('wall', 12)} ${column('main', 12)} ${column('cpu', 11)}`);
    }
    console.log('(wall: the rounds and the flush of their spans, i.e. round throughput; main: CPU time of the main thread, which runs');
    console.log(' the rounds; CPU: all threads of the process, the exporter thread and background GC included; OTLP: protobuf,');
    console.log(' the default; off*: off again, whose overhead is the noise between processes)');
  } finally {
    collector.stop();
  }
}

if (args.sample !== undefined) {
  const cost = await replicaSample(args.sample as ReplicaVariant, Number(args.canisters), Number(args.rounds), args.collector!);
  process.stdout.write(`${JSON.stringify(cost)}\n`);
} else if (part('replica')) {
  await replicaRounds(300, Number(args.rounds ?? 100), Number(args.samples ?? 5));
}
