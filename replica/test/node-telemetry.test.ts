// A node with telemetry on: every round is a trace (round → certify), and the Prometheus endpoint
// exports rounds, the cycles canisters burned by category, and the queries it answered.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Actor, HttpAgent } from '@icp-sdk/core/agent';
import { IDL } from '@icp-sdk/core/candid';
import { InMemorySpanExporter } from '@opentelemetry/sdk-trace-base';
import { Node } from '../src/node/index.js';
import { managementCanister } from '../src/cli/management.js';
import { SPAN } from '../src/telemetry/attributes.js';
import { ReplicaMetrics, RoundTracer } from '../src/telemetry/index.js';
import { setupTelemetry } from '../src/telemetry/setup.js';
import { compileMotoko } from '../../test/support/motoko.js';

test('rounds are traced and burned cycles are exported by category', async () => {
  const exporter = new InMemorySpanExporter();
  const telemetry = setupTelemetry({ serviceName: 'icpk-test', spanExporter: exporter, spanProcessor: 'simple', prometheusPort: 0, prometheusHost: '127.0.0.1' });
  await telemetry.ready;
  const node = await Node.start({
    port: 0, roundIntervalMs: 20,
    tracer: new RoundTracer(telemetry.tracerProvider), metrics: new ReplicaMetrics(telemetry.meterProvider),
  });
  try {
    const agent = await HttpAgent.create({ host: node.url, shouldFetchRootKey: true });
    const { canister_id } = await managementCanister(agent).provisional_create_canister_with_cycles({
      amount: [10_000_000_000_000n], settings: [], specified_id: [], sender_canister_version: [],
    });
    const { wasm } = await compileMotoko('counter');
    await managementCanister(agent).install_code({
      mode: { install: null }, canister_id, wasm_module: wasm, arg: new Uint8Array(IDL.encode([], [])), sender_canister_version: [],
    });
    const counter = Actor.createActor<{ inc(): Promise<bigint>; get(): Promise<bigint>; nothing(): Promise<bigint> }>(
      ({ IDL }) => IDL.Service({ inc: IDL.Func([], [IDL.Nat], []), get: IDL.Func([], [IDL.Nat], ['query']), nothing: IDL.Func([], [IDL.Nat], ['query']) }),
      { agent, canisterId: canister_id });
    assert.equal(await counter.inc(), 1n);
    await node.round();
    assert.equal(await counter.get(), 1n);
    assert.equal(await counter.get(), 1n);
    await assert.rejects(counter.nothing(), /IC0536|has no query method/);

    const spans = exporter.getFinishedSpans();
    const rounds = new Set(spans.filter((s) => s.name === SPAN.round).map((s) => s.spanContext().spanId));
    assert.ok(rounds.size > 0);
    assert.ok(spans.some((s) => s.name === SPAN.certify && rounds.has(s.parentSpanContext?.spanId ?? '')));
    assert.ok(spans.some((s) => s.name === SPAN.executeMessage && s.attributes['icpk.message.method'] === 'inc'));

    const text = await (await fetch(telemetry.prometheusUrl!)).text();
    const value = (line: RegExp) => Number(text.split('\n').find((l) => line.test(l))?.split(' ').at(-1) ?? 'NaN');
    assert.ok(value(/^icpk_rounds_total\b/) > 0, 'rounds counted');
    assert.ok(value(/^icpk_cycles_burned_total\{[^}]*category="execution"/) > 0, 'execution cycles burned');
    assert.ok(value(/^icpk_cycles_burned_total\{[^}]*category="ingress_induction"/) > 0, 'ingress induction cycles burned');
    // Executions by outcome: the install's init and `inc` replied; instructions add up.
    assert.ok(value(/^icpk_messages_executed_total\{[^}]*outcome="replied"/) >= 1, 'replied executions counted');
    assert.ok(value(/^icpk_instructions_executed_total\b/) > 0, 'instructions counted');
    assert.equal(value(/^icpk_dts_paused_executions\b/), 0, 'no execution paused at the end of the last round');
    // Queries through the HTTP interface: counted by kind and outcome, and timed.
    assert.equal(value(/^icpk_query_total\{[^}]*kind="query"[^}]*outcome="replied"/), 2);
    assert.equal(value(/^icpk_query_total\{[^}]*kind="query"[^}]*outcome="rejected"/), 1);
    assert.equal(value(/^icpk_query_duration_seconds_count\{[^}]*kind="query"/), 3);
  } finally {
    await node.close();
    await telemetry.shutdown();
  }
});
