// The trace of real rounds: a round span with induct and iteration phases, an execute_message
// span per execution (and per DTS slice), an ingress call's trace carried from the request's
// traceparent into the caller's execution and from there into the callee's.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { IDL } from '@icp-sdk/core/candid';
import { InMemorySpanExporter, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { DEFAULT_EXECUTION_CONFIG, DEFAULT_SCHEDULER_CONFIG } from '../src/index.js';
import { ATTR, SPAN } from '../src/telemetry/attributes.js';
import { RoundTracer } from '../src/telemetry/tracing.js';
import { setupTelemetry, type Telemetry } from '../src/telemetry/setup.js';
import { compileMotoko } from '../../test/support/motoko.js';
import { ExecutionTest, TEST_USER, candid, decode } from '../../test/support/execution-test.js';

const exporter = new InMemorySpanExporter();
let telemetry: Telemetry;
before(() => {
  telemetry = setupTelemetry({ serviceName: 'icpk-test', spanExporter: exporter, spanProcessor: 'simple' });
});
after(() => telemetry.shutdown());

const parentOf = (s: ReadableSpan) => s.parentSpanContext?.spanId;
const byId = (spans: ReadableSpan[]) => new Map(spans.map((s) => [s.spanContext().spanId, s]));

test('round → induct / iteration → execute_message; ingress trace reaches the callee; DTS slices', async () => {
  const t = new ExecutionTest({
    tracer: new RoundTracer(telemetry.tracerProvider),
    // Small slices so a modest computation spans several rounds.
    execution: { ...DEFAULT_EXECUTION_CONFIG, instructions: { ...DEFAULT_EXECUTION_CONFIG.instructions, update: 4_000_000_000n, slice: 200_000_000n } },
    scheduler: { ...DEFAULT_SCHEDULER_CONFIG, roundInstructions: 400_000_000n },
  });
  try {
    const echo = await t.createAndInstall((await compileMotoko('echo')).wasm);
    const caller = await t.createAndInstall((await compileMotoko('caller')).wasm, candid([IDL.Principal], [echo]));
    const loop = await t.createAndInstall((await compileMotoko('loop')).wasm);
    exporter.reset();

    // An ingress call whose HTTP request carried a W3C trace context.
    const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
    const remoteSpan = '00f067aa0ba902b7';
    await t.replica.submit({
      messageId: 'aa'.repeat(32), sender: TEST_USER, receiver: caller, method: 'call_echo',
      arg: candid([IDL.Text], ['hi']), traceparent: `00-${traceId}-${remoteSpan}-01`,
    });
    // A long computation: ~1 B instructions, sliced at 200 M.
    const long = await t.submit(loop, 'work', candid([IDL.Nat], [7_000_000n]));
    const status = await t.awaitStatus('aa'.repeat(32));
    assert.equal(status.status, 'replied');
    assert.equal(decode<string>([IDL.Text], (status as { reply: Uint8Array }).reply)[0], 'hi');
    assert.equal((await t.awaitStatus(long)).status, 'replied');

    const spans = exporter.getFinishedSpans();
    const ids = byId(spans);
    const messages = spans.filter((s) => s.name === SPAN.executeMessage);
    const on = (canister: string) => messages.filter((s) => s.attributes[ATTR.canisterId] === canister);

    // The caller's ingress execution is a child of the HTTP request's span, in its trace.
    const ingress = on(caller.toText()).find((s) => s.attributes[ATTR.messageMethod] === 'call_echo')!;
    assert.ok(ingress, 'the ingress execution has a span');
    assert.equal(ingress.spanContext().traceId, traceId);
    assert.equal(parentOf(ingress), remoteSpan);
    // ... and linked to the phase it ran in.
    assert.ok(ingress.links.some((l) => ids.get(l.context.spanId)?.name === SPAN.iteration));
    // The callee's execution is a child of the caller's, in the same trace.
    const callee = on(echo.toText()).find((s) => s.attributes[ATTR.messageMethod] === 'echo')!;
    assert.equal(callee.spanContext().traceId, traceId);
    assert.equal(parentOf(callee), ingress.spanContext().spanId);
    assert.equal(callee.attributes[ATTR.messageOutcome], 'replied');

    // Executions without a trace of their own sit under an iteration phase of a round.
    const callback = on(caller.toText()).find((s) => s.attributes[ATTR.messageKind] === 'response')!;
    const iteration = ids.get(parentOf(callback)!)!;
    assert.equal(iteration.name, SPAN.iteration);
    const round = ids.get(parentOf(iteration)!)!;
    assert.equal(round.name, SPAN.round);
    assert.ok(spans.some((s) => s.name === SPAN.induct && parentOf(s) === round.spanContext().spanId));

    // The long message: paused slices, then the slice that finished it, over several rounds.
    const slices = on(loop.toText()).filter((s) => s.attributes[ATTR.messageMethod] === 'work');
    const outcomes = slices.map((s) => s.attributes[ATTR.messageOutcome]);
    assert.ok(slices.length >= 3, `${slices.length} slices`);
    assert.deepEqual(outcomes.slice(0, -1), Array(slices.length - 1).fill('paused'));
    assert.equal(outcomes.at(-1), 'replied');
    // Each slice runs in an iteration; a 400 M round has room for two 200 M slices.
    const rounds = slices.map((s) => Number(ids.get(parentOf(ids.get(parentOf(s)!)!)!)!.attributes[ATTR.roundHeight]));
    assert.deepEqual(rounds, [...rounds].sort((a, b) => a - b));
    assert.ok(new Set(rounds).size >= Math.ceil(slices.length / 2), `slices in rounds ${rounds.join(',')}`);
    assert.deepEqual(slices.slice(1).map((s) => s.attributes[ATTR.dtsSlice]), slices.slice(1).map((_, i) => i + 1));
  } finally {
    await t.close();
  }
});

test('a heartbeat and the message behind it in the queue each get the span of what ran', async () => {
  const t = new ExecutionTest({ tracer: new RoundTracer(telemetry.tracerProvider) });
  try {
    const canister = await t.createAndInstall((await compileMotoko('heartbeat')).wasm);
    exporter.reset();
    await t.submit(canister, 'beats', candid());
    await t.tick();
    const executions = exporter.getFinishedSpans().filter((s) => s.name === SPAN.executeMessage)
      .map((s) => [s.attributes[ATTR.messageMethod], s.attributes[ATTR.messageKind]]);
    // The heartbeat runs first in the round, then the ingress message (then Motoko's async helper).
    assert.deepEqual(executions.slice(0, 2), [['canister_heartbeat', 'heartbeat'], ['beats', 'ingress']]);
  } finally {
    await t.close();
  }
});
