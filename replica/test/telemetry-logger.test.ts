// Structured logs: JSON lines with the active span's trace and span ids, per-component levels
// from an `ICPK_LOG`-style spec, `round` / `canister_id` fields, canister debug_print records.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { InMemorySpanExporter } from '@opentelemetry/sdk-trace-base';
import { createLogger, parseLogLevels, RoundTracer, SPAN, withContext, type LoggerOptions } from '../src/telemetry/index.js';
import { setupTelemetry, type Telemetry } from '../src/telemetry/setup.js';

/** A destination that keeps each JSON line, parsed. */
function capture(): { lines: Record<string, unknown>[]; options: Pick<LoggerOptions, 'destination'> } {
  const lines: Record<string, unknown>[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const l of chunk.toString('utf8').split('\n')) if (l) lines.push(JSON.parse(l) as Record<string, unknown>);
      done();
    },
  });
  return { lines, options: { destination } };
}

describe('log level spec (ICPK_LOG)', () => {
  it('parses a default and per-component levels', () => {
    const l = parseLogLevels('info,scheduler=debug, http = warn ,canister=off');
    assert.equal(l.default, 'info');
    assert.deepEqual([...l.components], [['scheduler', 'debug'], ['http', 'warn'], ['canister', 'silent']]);
    assert.equal(parseLogLevels(undefined).default, 'info');
    assert.equal(parseLogLevels('', 'warn').default, 'warn');
    assert.equal(parseLogLevels('xnet=trace').default, 'info');
    assert.equal(parseLogLevels('DEBUG').default, 'debug');
  });

  it('rejects unknown levels and empty component names with a message naming the spec', () => {
    assert.throws(() => parseLogLevels('info,scheduler=loud'), /unknown level "loud"/);
    assert.throws(() => parseLogLevels('=debug'), /missing component name/);
  });
});

describe('replica logger', () => {
  it('writes JSON lines with level labels, time, component and base fields', () => {
    const { lines, options } = capture();
    const logs = createLogger({ ...options, base: { subnet_id: 'yndj2-3ybaa-aaaaa-aaaap-yai' } });
    logs.component('scheduler').info({ messages: 3 }, 'round done');
    assert.equal(lines.length, 1);
    const line = lines[0]!;
    assert.equal(line.level, 'info');
    assert.equal(line.component, 'scheduler');
    assert.equal(line.msg, 'round done');
    assert.equal(line.messages, 3);
    assert.equal(line.subnet_id, 'yndj2-3ybaa-aaaaa-aaaap-yai');
    assert.ok(typeof line.time === 'string' && !Number.isNaN(Date.parse(line.time)));
    assert.equal(line.trace_id, undefined, 'no span, no trace id');
  });

  it('applies per-component levels', () => {
    const { lines, options } = capture();
    const logs = createLogger({ ...options, levels: 'warn,scheduler=debug' });
    logs.component('scheduler').debug('scheduler debug');
    logs.component('http').info('http info');
    logs.component('http').warn('http warn');
    logs.root.info('root info');
    assert.deepEqual(lines.map((l) => l.msg), ['scheduler debug', 'http warn']);
    assert.equal(logs.component('scheduler'), logs.component('scheduler'), 'one child per component');
  });

  it('adds round and canister_id when given', () => {
    const { lines, options } = capture();
    const logs = createLogger(options);
    const principal = { toText: () => 'rrkah-fqaaa-aaaaa-aaaaq-cai' };
    withContext(logs.component('execution'), { round: 17n, canisterId: principal }).info('installed');
    withContext(logs.component('execution'), { round: 18 }).info('nothing to do');
    assert.deepEqual(lines.map(({ round, canister_id }) => ({ round, canister_id })), [
      { round: 17, canister_id: 'rrkah-fqaaa-aaaaa-aaaaq-cai' },
      { round: 18, canister_id: undefined },
    ]);
  });

  it('records debug_print as structured canister records, decoding bytes leniently', () => {
    const { lines, options } = capture();
    const logs = createLogger({ ...options, levels: 'info' });
    logs.debugPrint('rrkah-fqaaa-aaaaa-aaaaq-cai', new TextEncoder().encode('hello from motoko'), { round: 5n });
    logs.debugPrint({ toText: () => 'ryjl3-tyaaa-aaaaa-aaaba-cai' }, Uint8Array.of(0x68, 0x69, 0xff));
    assert.deepEqual(lines.map(({ component, canister_id, msg, round, level }) => ({ component, canister_id, msg, round, level })), [
      { component: 'canister', canister_id: 'rrkah-fqaaa-aaaaa-aaaaq-cai', msg: 'hello from motoko', round: 5, level: 'info' },
      { component: 'canister', canister_id: 'ryjl3-tyaaa-aaaaa-aaaba-cai', msg: 'hi\ufffd', round: undefined, level: 'info' },
    ]);
  });

  it('drops debug_print lines when the canister component is silenced', () => {
    const { lines, options } = capture();
    const logs = createLogger({ ...options, levels: 'info,canister=off' });
    logs.debugPrint('rrkah-fqaaa-aaaaa-aaaaq-cai', 'noise');
    assert.equal(lines.length, 0);
  });
});

describe('log lines inside spans', () => {
  let telemetry: Telemetry;
  const exporter = new InMemorySpanExporter();
  before(() => { telemetry = setupTelemetry({ serviceName: 'icpk-replica', spanExporter: exporter, spanProcessor: 'simple' }); });
  after(() => telemetry.shutdown());

  it('carry the active span\'s trace and span ids, across awaits', async () => {
    const { lines, options } = capture();
    const logs = createLogger(options);
    const log = logs.component('execution');
    const rt = new RoundTracer(telemetry.tracerProvider);
    await rt.round(3n, () => rt.phase(SPAN.iteration, async () => {
      await rt.message({ canisterId: 'rrkah-fqaaa-aaaaa-aaaaq-cai', method: 'inc' }, async () => {
        await new Promise<void>((resolve) => setImmediate(resolve));
        log.info('executing');
        logs.debugPrint('rrkah-fqaaa-aaaaa-aaaaq-cai', 'inside the canister');
      });
      log.info('iteration done');
    }));
    log.info('after the round');

    const spans = exporter.getFinishedSpans();
    const exec = spans.find((s) => s.name === SPAN.executeMessage)!.spanContext();
    const iteration = spans.find((s) => s.name === SPAN.iteration)!.spanContext();
    assert.deepEqual(lines.map(({ msg, trace_id, span_id, trace_flags }) => ({ msg, trace_id, span_id, trace_flags })), [
      { msg: 'executing', trace_id: exec.traceId, span_id: exec.spanId, trace_flags: '01' },
      { msg: 'inside the canister', trace_id: exec.traceId, span_id: exec.spanId, trace_flags: '01' },
      { msg: 'iteration done', trace_id: iteration.traceId, span_id: iteration.spanId, trace_flags: '01' },
      { msg: 'after the round', trace_id: undefined, span_id: undefined, trace_flags: undefined },
    ]);
  });
});
