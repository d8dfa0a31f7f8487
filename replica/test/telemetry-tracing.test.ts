// Round tracing as the scheduler will use it: one trace per round, a span per phase, a span per
// message execution; an ingress message's traceparent (HTTP header → message → execution, and
// across subnets through NATS headers) makes its execution a child of the remote span.
// The SDK captures spans in memory; assertions are on the span tree.

import { after, afterEach, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { IncomingHttpHeaders } from 'node:http';
import { context, ROOT_CONTEXT, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import { InMemorySpanExporter, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import {
  ATTR,
  SPAN,
  RoundTracer,
  endMessage,
  injectTraceparent,
  withActiveSpan,
  recordMessageResult,
  traceparentFromHeaders,
  traceparentOf,
  type MessageAttributes,
} from '../src/telemetry/index.js';
import { setupTelemetry, telemetryOptionsFromEnv, type Telemetry, type TelemetryOptions } from '../src/telemetry/setup.js';

const tick = () => new Promise<void>((resolve) => setImmediate(resolve));
const CANISTERS = ['rrkah-fqaaa-aaaaa-aaaaq-cai', 'ryjl3-tyaaa-aaaaa-aaaba-cai', 'r7inp-6aaaa-aaaaa-aaabq-cai'];
/** A client's trace: what an agent (or a load balancer) puts in the `traceparent` header. */
const CLIENT_TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736';
const CLIENT_SPAN_ID = '00f067aa0ba902b7';
const CLIENT_TRACEPARENT = `00-${CLIENT_TRACE_ID}-${CLIENT_SPAN_ID}-01`;

const byName = (spans: readonly ReadableSpan[], name: string) => spans.filter((s) => s.name === name);
const one = (spans: readonly ReadableSpan[], name: string) => {
  const found = byName(spans, name);
  assert.equal(found.length, 1, `exactly one ${name} span, got ${found.length}`);
  return found[0]!;
};
const parentOf = (s: ReadableSpan) => s.parentSpanContext?.spanId;
const idOf = (s: ReadableSpan) => s.spanContext().spanId;

/** NATS message headers: `get` answers '' for an absent header, like nats.js `MsgHdrs`. */
class NatsLikeHeaders {
  private readonly map = new Map<string, string>();
  set(k: string, v: string) { this.map.set(k, v); }
  get(k: string) { return this.map.get(k) ?? ''; }
}

describe('telemetry off (the default)', () => {
  it('installs nothing and runs rounds through the no-op API', async () => {
    const t = setupTelemetry({ serviceName: 'icpk-replica' });
    assert.equal(t.enabled, false);
    const rt = new RoundTracer(t.tracerProvider);
    const result = await rt.round(1n, async (round) => {
      assert.equal(round.traceparent, undefined);
      const n = rt.phase(SPAN.induct, () => 3);
      return rt.phase(SPAN.iteration, async () => n + (await rt.message({ canisterId: CANISTERS[0]!, method: 'inc' }, async (span) => {
        assert.equal(span.isRecording(), false);
        recordMessageResult(span, { outcome: 'replied', instructions: 10n });
        return 4;
      })));
    });
    assert.equal(result, 7);
    await t.shutdown();
  });

  it('hands a message\'s traceparent through to its outgoing calls', () => {
    const rt = new RoundTracer();
    rt.round(2n, () => rt.phase(SPAN.iteration, () => {
      rt.message({ canisterId: CANISTERS[0]!, method: 'call' }, (span) => {
        assert.equal(traceparentOf(span), CLIENT_TRACEPARENT);
      }, { traceparent: CLIENT_TRACEPARENT });
    }));
    // The HTTP layer's span, too: the client's context reaches the message unchanged.
    assert.equal(rt.span(SPAN.httpRequest, (span) => traceparentOf(span), { traceparent: CLIENT_TRACEPARENT }), CLIENT_TRACEPARENT);
  });

  it('propagates errors unchanged', () => {
    const rt = new RoundTracer();
    assert.throws(() => rt.round(3n, () => rt.phase(SPAN.certify, () => { throw new Error('broken invariant'); })), /broken invariant/);
  });
});

describe('round spans', () => {
  let telemetry: Telemetry;
  const exporter = new InMemorySpanExporter();
  let rt: RoundTracer;

  before(() => {
    telemetry = setupTelemetry({ serviceName: 'icpk-replica', spanExporter: exporter, spanProcessor: 'simple' });
    rt = new RoundTracer(telemetry.tracerProvider);
  });
  after(() => telemetry.shutdown());
  afterEach(() => exporter.reset());

  /** A round shaped like the scheduler's: induct, iterations of parallel messages, route, certify. */
  async function runRound(height: bigint, messages: { attrs: MessageAttributes; traceparent?: string }[]) {
    return rt.round(height, async (round) => {
      await rt.phase(SPAN.induct, async (span) => {
        await tick();
        span.setAttribute(ATTR.inductedMessages, messages.length);
      });
      let executed = 0;
      await rt.phase(SPAN.iteration, async () => {
        // One message per canister in parallel, as the worker pool runs them; each awaits its worker.
        await Promise.all(messages.map(({ attrs, traceparent }) => rt.message(attrs, async (span) => {
          await tick();
          await tick();
          recordMessageResult(span, { outcome: 'replied', instructions: 1_234_567n, cycles: 5_000_000n });
          executed++;
        }, { traceparent })));
      }, { [ATTR.iterationIndex]: 0 });
      rt.phase(SPAN.route, () => {});
      await rt.phase(SPAN.certify, async () => { await tick(); });
      round.summarize({ instructions: 1_234_567n * BigInt(executed), messages: executed, workLeft: false });
      return round;
    });
  }

  it('builds round → phases → execute_message across awaits', async () => {
    const messages = CANISTERS.map((canisterId, i) => ({
      attrs: { canisterId, method: `m${i}`, kind: 'ingress' as const, messageId: `0${i}`, caller: '2vxsx-fae' },
    }));
    await runRound(42n, messages);

    const spans = exporter.getFinishedSpans();
    const round = one(spans, SPAN.round);
    assert.equal(parentOf(round), undefined, 'a round is the root of its own trace');
    assert.equal(round.attributes[ATTR.roundHeight], 42);
    assert.equal(round.attributes[ATTR.roundMessages], 3);
    assert.equal(round.attributes[ATTR.roundInstructions], 3 * 1_234_567);

    for (const phase of [SPAN.induct, SPAN.iteration, SPAN.route, SPAN.certify]) {
      assert.equal(parentOf(one(spans, phase)), idOf(round), `${phase} is a child of round`);
    }
    const iteration = one(spans, SPAN.iteration);
    assert.equal(iteration.attributes[ATTR.iterationIndex], 0);
    assert.equal(one(spans, SPAN.induct).attributes[ATTR.inductedMessages], 3);

    const executions = byName(spans, SPAN.executeMessage);
    assert.equal(executions.length, 3);
    for (const [i, s] of executions.entries()) {
      assert.equal(parentOf(s), idOf(iteration), 'execute_message is a child of its iteration');
      assert.equal(s.spanContext().traceId, round.spanContext().traceId);
      assert.deepEqual(Object.keys(s.attributes).sort(), [
        ATTR.canisterId, ATTR.messageCaller, ATTR.messageCycles, ATTR.messageId,
        ATTR.messageInstructions, ATTR.messageKind, ATTR.messageMethod, ATTR.messageOutcome,
      ].sort());
      assert.ok(CANISTERS.includes(s.attributes[ATTR.canisterId] as string), `canister id of span ${i}`);
      assert.equal(s.attributes[ATTR.messageInstructions], 1_234_567);
      assert.equal(s.attributes[ATTR.messageCycles], 5_000_000);
      assert.equal(s.attributes[ATTR.messageOutcome], 'replied');
      assert.equal(s.attributes[ATTR.messageKind], 'ingress');
    }
    // Nothing ran outside the round: every span is in the round's trace.
    assert.ok(spans.every((s) => s.spanContext().traceId === round.spanContext().traceId));
  });

  it('takes principals and converts them only for recorded spans', async () => {
    let conversions = 0;
    const principal = { toText: () => { conversions++; return CANISTERS[1]!; } };
    await rt.round(1n, () => rt.phase(SPAN.iteration, () => rt.message({ canisterId: principal, method: 'go', caller: principal }, () => {})));
    assert.equal(conversions, 2);
    assert.equal(one(exporter.getFinishedSpans(), SPAN.executeMessage).attributes[ATTR.canisterId], CANISTERS[1]);
  });

  it('makes an ingress message with a stored traceparent a child of the remote span', async () => {
    // The HTTP layer reads the header and stores it on the ingress message...
    const stored = traceparentFromHeaders({ 'content-type': 'application/cbor', traceparent: CLIENT_TRACEPARENT });
    assert.equal(stored, CLIENT_TRACEPARENT);
    // ...consensus orders it, and the round executes it.
    await runRound(43n, [
      { attrs: { canisterId: CANISTERS[0]!, method: 'transfer', kind: 'ingress' }, traceparent: stored },
      { attrs: { canisterId: CANISTERS[1]!, method: 'other', kind: 'ingress' } },
    ]);
    const spans = exporter.getFinishedSpans();
    const iteration = one(spans, SPAN.iteration);
    const executions = byName(spans, SPAN.executeMessage);
    const traced = executions.find((s) => s.attributes[ATTR.messageMethod] === 'transfer');
    const local = executions.find((s) => s.attributes[ATTR.messageMethod] === 'other');
    assert.equal(traced!.spanContext().traceId, CLIENT_TRACE_ID, 'the execution is in the client\'s trace');
    assert.equal(parentOf(traced!), CLIENT_SPAN_ID, 'a child of the request\'s span');
    assert.deepEqual(traced!.links.map((l) => l.context.spanId), [idOf(iteration)], 'linked to the round phase it ran in');
    assert.equal(parentOf(local!), idOf(iteration));
    assert.deepEqual(local!.links, []);
  });

  it('carries a caller\'s context to the callee on another subnet through NATS headers, and links the response', async () => {
    // Subnet A: the ingress message runs and calls a canister on subnet B.
    let outgoingTraceparent: string | undefined;
    await rt.round(10n, () => rt.phase(SPAN.iteration, () => rt.message({ canisterId: CANISTERS[0]!, method: 'swap', kind: 'ingress' }, (span) => {
      outgoingTraceparent = traceparentOf(span); // stamped on the outgoing Request
    }, { traceparent: CLIENT_TRACEPARENT })));
    const callerSpan = one(exporter.getFinishedSpans(), SPAN.executeMessage);
    assert.equal(outgoingTraceparent, `00-${CLIENT_TRACE_ID}-${idOf(callerSpan)}-01`);

    // XNet: the message travels in a slice; its traceparent rides in the NATS message headers.
    const headers = new NatsLikeHeaders();
    injectTraceparent(headers, outgoingTraceparent);
    const received = traceparentFromHeaders(headers);
    assert.equal(received, outgoingTraceparent);

    // Subnet B: the request executes; its reply goes back with the callee's traceparent.
    exporter.reset();
    let replyTraceparent: string | undefined;
    await rt.round(7n, () => rt.phase(SPAN.xnetReceive, () => rt.phase(SPAN.iteration, () =>
      rt.message({ canisterId: CANISTERS[2]!, method: 'quote', kind: 'request', caller: CANISTERS[0]! }, (span) => {
        replyTraceparent = traceparentOf(span);
      }, { traceparent: received }))));
    const calleeSpan = one(exporter.getFinishedSpans(), SPAN.executeMessage);
    assert.equal(calleeSpan.spanContext().traceId, CLIENT_TRACE_ID);
    assert.equal(parentOf(calleeSpan), idOf(callerSpan), 'callee execution is a child of the caller\'s');
    assert.equal(one(exporter.getFinishedSpans(), SPAN.iteration).parentSpanContext?.spanId,
      idOf(one(exporter.getFinishedSpans(), SPAN.xnetReceive)), 'phases nest');

    // Subnet A again: the callback runs in the caller's trace, linked to the callee's execution.
    exporter.reset();
    await rt.round(11n, () => rt.phase(SPAN.iteration, () => rt.message({ canisterId: CANISTERS[0]!, method: 'swap', kind: 'response' }, () => {},
      { traceparent: outgoingTraceparent, links: [replyTraceparent] })));
    const callback = one(exporter.getFinishedSpans(), SPAN.executeMessage);
    assert.equal(callback.spanContext().traceId, CLIENT_TRACE_ID);
    assert.equal(parentOf(callback), idOf(callerSpan));
    assert.ok(callback.links.some((l) => l.context.spanId === idOf(calleeSpan)), 'linked to the callee\'s execution');
  });

  it('keeps DTS slices of one message in its trace while each lands in its own round', async () => {
    for (const [slice, height] of [[0, 20n], [1, 21n], [2, 22n]] as const) {
      await rt.round(height, () => rt.phase(SPAN.iteration, () => rt.message(
        { canisterId: CANISTERS[0]!, method: 'long', kind: 'ingress', dtsSlice: slice },
        (span) => recordMessageResult(span, { outcome: slice < 2 ? 'paused' : 'replied', instructions: 2_000_000_000n }),
        { traceparent: CLIENT_TRACEPARENT })));
    }
    const spans = exporter.getFinishedSpans();
    const slices = byName(spans, SPAN.executeMessage);
    assert.deepEqual(slices.map((s) => s.attributes[ATTR.dtsSlice]), [0, 1, 2]);
    assert.deepEqual(slices.map((s) => s.attributes[ATTR.messageOutcome]), ['paused', 'paused', 'replied']);
    assert.ok(slices.every((s) => parentOf(s) === CLIENT_SPAN_ID));
    const iterations = byName(spans, SPAN.iteration).map(idOf);
    assert.deepEqual(slices.map((s) => s.links[0]?.context.spanId), iterations, 'each slice links to its own round');
  });

  it('spans executions that are dispatched to workers and committed from a callback', async () => {
    // The scheduler's shape: prepare jobs (open a span each), hand them to the worker pool, and
    // commit each outcome from the pool's onDecided callback, in canister-id order.
    const jobs = CANISTERS.map((canisterId, i) => ({ canisterId, traceparent: i === 1 ? CLIENT_TRACEPARENT : undefined }));
    const logLines: string[] = [];
    await rt.round(60n, () => rt.phase(SPAN.iteration, async () => {
      const spans = new Map(jobs.map((job) => [job, rt.startMessage({ canisterId: job.canisterId, method: 'run', kind: 'ingress' }, job)]));
      await new Promise<void>((resolve) => {
        let left = jobs.length;
        // Outcomes arrive outside the round's async context, as worker 'message' events do.
        context.with(ROOT_CONTEXT, () => jobs.slice().reverse().forEach((job, k) => setTimeout(() => {
          const span = spans.get(job)!;
          withActiveSpan(span, () => logLines.push(traceparentOf() ?? 'none'));
          endMessage(span, { outcome: k === 0 ? 'paused' : 'replied', instructions: 1000n * BigInt(k + 1) });
          if (--left === 0) resolve();
        }, k)));
      });
    }));
    const spans = exporter.getFinishedSpans();
    const iteration = one(spans, SPAN.iteration);
    const executions = byName(spans, SPAN.executeMessage);
    assert.equal(executions.length, 3);
    for (const e of executions) {
      const remote = e.spanContext().traceId === CLIENT_TRACE_ID;
      assert.equal(parentOf(e), remote ? CLIENT_SPAN_ID : idOf(iteration));
      assert.ok(e.endTime[0] > 0 && e.ended);
      assert.ok(['paused', 'replied'].includes(e.attributes[ATTR.messageOutcome] as string));
    }
    assert.deepEqual(new Set(logLines), new Set(executions.map((e) => `00-${e.spanContext().traceId}-${idOf(e)}-01`)), 'each active while committed');
  });

  it('parents a message to the open phase even when the async context was lost', async () => {
    await rt.round(5n, () => rt.phase(SPAN.iteration, async () => {
      // A worker's 'message' event, for instance, fires outside the round's async context.
      await context.with(ROOT_CONTEXT, () => rt.message({ canisterId: CANISTERS[0]!, method: 'x' }, async () => { await tick(); }));
    }));
    const spans = exporter.getFinishedSpans();
    assert.equal(parentOf(one(spans, SPAN.executeMessage)), idOf(one(spans, SPAN.iteration)));
  });

  it('marks traps and thrown errors, and still ends every span', async () => {
    await assert.rejects(rt.round(6n, async () => {
      await rt.phase(SPAN.iteration, () => rt.message({ canisterId: CANISTERS[0]!, method: 'boom' }, (span) => {
        recordMessageResult(span, { outcome: 'trapped', instructions: 100n, message: 'Canister trapped: unreachable' });
      }));
      await rt.phase(SPAN.certify, async () => { await tick(); throw new Error('state hash mismatch'); });
    }), /state hash mismatch/);
    const spans = exporter.getFinishedSpans();
    const exec = one(spans, SPAN.executeMessage);
    assert.equal(exec.status.code, SpanStatusCode.ERROR);
    assert.equal(exec.status.message, 'Canister trapped: unreachable');
    assert.equal(one(spans, SPAN.certify).status.code, SpanStatusCode.ERROR);
    assert.equal(one(spans, SPAN.certify).events[0]?.name, 'exception');
    assert.equal(one(spans, SPAN.round).status.code, SpanStatusCode.ERROR);
    assert.equal(trace.getActiveSpan(), undefined, 'no span leaks out of the round');
  });

  it('ends a round that was never ended when the next one starts', () => {
    rt.startRound(30n);
    const next = rt.startRound(31n);
    next.end({ messages: 0 });
    next.end(); // idempotent
    const rounds = byName(exporter.getFinishedSpans(), SPAN.round);
    assert.deepEqual(rounds.map((r) => r.attributes[ATTR.roundHeight]), [30, 31]);
    assert.equal(rounds[0]!.status.code, SpanStatusCode.ERROR);
  });

  it('keeps spans outside the round (HTTP, queries) out of the open round', async () => {
    const round = rt.startRound(50n);
    let messageTraceparent: string | undefined;
    await rt.phase(SPAN.iteration, async () => {
      // Meanwhile the HTTP layer handles a call in its own async context.
      await context.with(ROOT_CONTEXT, () => rt.span(SPAN.httpRequest, async (span) => {
        messageTraceparent = traceparentOf(span); // stored on the ingress message
        await tick();
      }, { traceparent: traceparentFromHeaders({ traceparent: CLIENT_TRACEPARENT }), kind: SpanKind.SERVER }));
      await context.with(ROOT_CONTEXT, () => rt.span(SPAN.query, () => {}));
    });
    round.end();
    const spans = exporter.getFinishedSpans();
    const httpSpan = one(spans, SPAN.httpRequest);
    assert.equal(parentOf(httpSpan), CLIENT_SPAN_ID);
    assert.equal(httpSpan.kind, SpanKind.SERVER);
    assert.equal(messageTraceparent, `00-${CLIENT_TRACE_ID}-${idOf(httpSpan)}-01`);
    assert.equal(parentOf(one(spans, SPAN.query)), undefined, 'a query is its own trace');
  });

  it('validates traceparent headers from clients', () => {
    const incoming: IncomingHttpHeaders = { host: 'localhost', traceparent: CLIENT_TRACEPARENT };
    assert.equal(traceparentFromHeaders(incoming), CLIENT_TRACEPARENT, 'node:http request headers as they come');
    assert.equal(traceparentFromHeaders({}), undefined);
    assert.equal(traceparentFromHeaders({ traceparent: 'garbage' }), undefined);
    assert.equal(traceparentFromHeaders({ traceparent: `00-${'0'.repeat(32)}-${CLIENT_SPAN_ID}-01` }), undefined, 'all-zero trace id');
    assert.equal(traceparentFromHeaders({ traceparent: [CLIENT_TRACEPARENT, 'x'] }), CLIENT_TRACEPARENT);
    assert.equal(traceparentFromHeaders(new NatsLikeHeaders()), undefined);
    // A future version with extra fields is accepted and normalised to version 00.
    assert.equal(traceparentFromHeaders({ traceparent: `01-${CLIENT_TRACE_ID}-${CLIENT_SPAN_ID}-01-future` }), CLIENT_TRACEPARENT);
    // A malformed stored traceparent leaves the message in the round's trace.
    rt.round(8n, () => rt.phase(SPAN.iteration, () => rt.message({ canisterId: CANISTERS[0]!, method: 'x' }, () => {}, { traceparent: 'nope' })));
    const spans = exporter.getFinishedSpans();
    assert.equal(parentOf(one(spans, SPAN.executeMessage)), idOf(one(spans, SPAN.iteration)));
  });
});

describe('sampling', () => {
  it('traces a fraction of rounds, but always a message whose sender sampled it', async () => {
    const exporter = new InMemorySpanExporter();
    const t = setupTelemetry({ serviceName: 'icpk-replica', spanExporter: exporter, spanProcessor: 'simple', sampleRatio: 0 });
    try {
      const rt = new RoundTracer(t.tracerProvider);
      await rt.round(1n, () => rt.phase(SPAN.iteration, async () => {
        await rt.message({ canisterId: CANISTERS[0]!, method: 'unsampled' }, async (span) => {
          await tick();
          // Its outgoing calls carry the round's unsampled context, so callees do not sample either.
          assert.equal(span.isRecording(), false);
          assert.match(traceparentOf(span) ?? '', /^00-[0-9a-f]{32}-[0-9a-f]{16}-00$/);
        });
        await rt.message({ canisterId: CANISTERS[0]!, method: 'sampled' }, async () => { await tick(); }, { traceparent: CLIENT_TRACEPARENT });
        await rt.message({ canisterId: CANISTERS[0]!, method: 'unsampled' }, async () => {}, { traceparent: `00-${CLIENT_TRACE_ID}-${CLIENT_SPAN_ID}-00` });
      }));
      const spans = exporter.getFinishedSpans();
      assert.deepEqual(spans.map((s) => s.attributes[ATTR.messageMethod]), ['sampled']);
      assert.equal(parentOf(spans[0]!), CLIENT_SPAN_ID);
    } finally {
      await t.shutdown();
    }
  });

  it('refuses a second SDK while one is installed, and allows one after shutdown', async () => {
    const first = setupTelemetry({ serviceName: 'a', spanExporter: new InMemorySpanExporter() });
    assert.throws(() => setupTelemetry({ serviceName: 'b', spanExporter: new InMemorySpanExporter() }), /already set up/);
    await first.shutdown();
    const second = setupTelemetry({ serviceName: 'c', spanExporter: new InMemorySpanExporter() });
    await second.shutdown();
  });
});

describe('options from the environment (the chart sets these on the pod)', () => {
  it('reads the standard OTel variables and ours, keeping defaults otherwise', () => {
    const defaults = { serviceName: 'icpk-replica', sampleRatio: 0.5 };
    assert.deepEqual(telemetryOptionsFromEnv({}, defaults), {
      serviceName: 'icpk-replica', sampleRatio: 0.5, serviceInstanceId: undefined, otlpEndpoint: undefined, otlpProtocol: undefined,
      otlpTracesEndpoint: undefined, otlpMetricsEndpoint: undefined, otlpHeaders: undefined, resourceAttributes: {},
      otlpTracesProtocol: undefined, otlpMetricsProtocol: undefined,
      metricExportIntervalMs: undefined, prometheusPort: undefined, prometheusHost: undefined,
    });
    const o = telemetryOptionsFromEnv({
      OTEL_SERVICE_NAME: 'replica-a', HOSTNAME: 'subnet-a-1', OTEL_EXPORTER_OTLP_ENDPOINT: 'http://otel-collector:4318',
      OTEL_TRACES_SAMPLER_ARG: '0.1', OTEL_METRIC_EXPORT_INTERVAL: '15000', ICPK_PROMETHEUS_PORT: '9464', ICPK_PROMETHEUS_HOST: '0.0.0.0',
    }, defaults);
    assert.equal(o.serviceName, 'replica-a');
    assert.equal(o.serviceInstanceId, 'subnet-a-1');
    assert.equal(o.otlpEndpoint, 'http://otel-collector:4318');
    assert.equal(o.sampleRatio, 0.1);
    assert.equal(o.metricExportIntervalMs, 15_000);
    assert.equal(o.prometheusPort, 9464);
    assert.equal(o.prometheusHost, '0.0.0.0');
  });

  it('reads signal endpoints, headers and resource attributes as OpenTelemetry writes them', () => {
    const o = telemetryOptionsFromEnv({
      OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'https://traces.example/otlp/v1/traces',
      OTEL_EXPORTER_OTLP_METRICS_ENDPOINT: 'https://metrics.example/push',
      OTEL_EXPORTER_OTLP_HEADERS: ' api-key = abc%3D%3D ,x-tenant=a%2Cb,, ',
      OTEL_RESOURCE_ATTRIBUTES: 'k8s.namespace.name=icpk,icpk.subnet.id=from-env',
    }, { serviceName: 'x', resourceAttributes: { 'icpk.subnet.id': 'from-code' } });
    assert.equal(o.otlpTracesEndpoint, 'https://traces.example/otlp/v1/traces');
    assert.equal(o.otlpMetricsEndpoint, 'https://metrics.example/push');
    assert.deepEqual(o.otlpHeaders, { 'api-key': 'abc==', 'x-tenant': 'a,b' });
    // What the replica sets itself wins over the environment.
    assert.deepEqual(o.resourceAttributes, { 'k8s.namespace.name': 'icpk', 'icpk.subnet.id': 'from-code' });
  });

  it('rejects a malformed header or resource attribute list with the variable\'s name', () => {
    assert.throws(() => telemetryOptionsFromEnv({ OTEL_EXPORTER_OTLP_HEADERS: 'authorization' }, { serviceName: 'x' }),
      { message: 'OTEL_EXPORTER_OTLP_HEADERS: "authorization" is not key=value' });
    assert.throws(() => telemetryOptionsFromEnv({ OTEL_RESOURCE_ATTRIBUTES: '=v' }, { serviceName: 'x' }),
      { message: 'OTEL_RESOURCE_ATTRIBUTES: "=v" is not key=value' });
    assert.throws(() => telemetryOptionsFromEnv({ OTEL_EXPORTER_OTLP_HEADERS: 'k=%E0%A4%A' }, { serviceName: 'x' }),
      { message: 'OTEL_EXPORTER_OTLP_HEADERS: the value of k is not percent-encoded correctly' });
  });

  it('rejects a malformed number with the variable\'s name', () => {
    assert.throws(() => telemetryOptionsFromEnv({ ICPK_PROMETHEUS_PORT: 'ninety' }, { serviceName: 'x' }), /ICPK_PROMETHEUS_PORT=ninety/);
  });

  it('reads the OTLP protocols: the general one and each signal\'s, protobuf unless told otherwise', () => {
    const protocols = (env: NodeJS.ProcessEnv, defaults: TelemetryOptions = { serviceName: 'x' }) => {
      const o = telemetryOptionsFromEnv(env, defaults);
      return [o.otlpProtocol, o.otlpTracesProtocol, o.otlpMetricsProtocol];
    };
    // Unset: the default (http/protobuf) is setupTelemetry's, so the options stay unset.
    assert.deepEqual(protocols({}), [undefined, undefined, undefined]);
    assert.deepEqual(protocols({ OTEL_EXPORTER_OTLP_PROTOCOL: '' }), [undefined, undefined, undefined]);
    assert.deepEqual(protocols({}, { serviceName: 'x', otlpProtocol: 'http/json' }), ['http/json', undefined, undefined]);
    assert.deepEqual(protocols({ OTEL_EXPORTER_OTLP_PROTOCOL: 'http/protobuf' }), ['http/protobuf', undefined, undefined]);
    assert.deepEqual(protocols({ OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json' }), ['http/json', undefined, undefined]);
    assert.deepEqual(protocols({ OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: 'http/json', OTEL_EXPORTER_OTLP_PROTOCOL: 'http/protobuf' }),
      ['http/protobuf', 'http/json', undefined]);
    assert.deepEqual(protocols({ OTEL_EXPORTER_OTLP_METRICS_PROTOCOL: 'http/json' }), [undefined, undefined, 'http/json']);
  });

  it('rejects an OTLP protocol it does not speak, naming the variable and the accepted values', () => {
    assert.throws(() => telemetryOptionsFromEnv({ OTEL_EXPORTER_OTLP_PROTOCOL: 'http/xml' }, { serviceName: 'x' }),
      { message: 'OTEL_EXPORTER_OTLP_PROTOCOL=http/xml is not supported: use http/protobuf (the default) or http/json' });
    assert.throws(() => telemetryOptionsFromEnv({ OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: 'grpc' }, { serviceName: 'x' }),
      { message: 'OTEL_EXPORTER_OTLP_TRACES_PROTOCOL=grpc is not supported (the replica exports OTLP over HTTP only, not gRPC): use http/protobuf (the default) or http/json' });
    // Also when code passes a value the types do not allow (JavaScript callers).
    assert.throws(() => setupTelemetry({ serviceName: 'x', otlpEndpoint: 'http://127.0.0.1:1', otlpProtocol: 'grpc' as never }),
      /otlpProtocol=grpc is not supported \(the replica exports OTLP over HTTP only, not gRPC\)/);
  });
});
