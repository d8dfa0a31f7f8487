// OTLP export end to end: a real OTLP/HTTP receiver (node:http on port 0, protobuf or JSON as the
// exporters send it, gzip accepted) gets the spans of a round and the replica's metrics, with
// spans in protobuf (the default) and in JSON (asked for).

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { gunzipSync } from 'node:zlib';
import { ATTR, METRICS, ReplicaMetrics, RoundTracer, SPAN, recordMessageResult } from '../src/telemetry/index.js';
import { setupTelemetry, telemetryOptionsFromEnv, type Telemetry } from '../src/telemetry/setup.js';
import type { OtlpProtocol } from '../src/telemetry/span-export.js';
import { decodeMetricsRequest, decodeTraceRequest } from './fixtures/otlp-protobuf.js';
import { compileMotoko } from '../../test/support/motoko.js';
import { ExecutionTest, TEST_USER, candid } from '../../test/support/execution-test.js';

interface OtlpValue { stringValue?: string; intValue?: string | number; doubleValue?: number; boolValue?: boolean }
interface OtlpAttribute { key: string; value: OtlpValue }
interface OtlpSpan {
  traceId: string; spanId: string; parentSpanId?: string; name: string; attributes?: OtlpAttribute[];
  links?: { traceId: string; spanId: string }[]; startTimeUnixNano?: string; endTimeUnixNano?: string;
}
interface OtlpTraces { resourceSpans: { resource: { attributes: OtlpAttribute[] }; scopeSpans: { scope: { name: string }; spans: OtlpSpan[] }[] }[] }
interface OtlpMetric { name: string; unit?: string; sum?: { dataPoints: unknown[]; isMonotonic?: boolean }; histogram?: { dataPoints: unknown[] }; gauge?: { dataPoints: unknown[] } }
interface OtlpMetrics { resourceMetrics: { resource: { attributes: OtlpAttribute[] }; scopeMetrics: { metrics: OtlpMetric[] }[] }[] }

/**
 * A minimal OTLP/HTTP collector: records what arrives on /v1/traces and /v1/metrics (protobuf,
 * decoded to OTLP's JSON form, or JSON), and the content types and headers of each.
 */
class OtlpReceiver {
  readonly traces: OtlpTraces[] = [];
  readonly metrics: OtlpMetrics[] = [];
  private readonly contentTypes = new Map<string, Set<string>>();
  /** The headers of every request, by path. */
  readonly headers = new Map<string, http.IncomingHttpHeaders[]>();
  private readonly server = http.createServer((req, res) => {
    const seen = this.headers.get(String(req.url)) ?? [];
    this.headers.set(String(req.url), [...seen, req.headers]);
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      let body = Buffer.concat(chunks);
      if (req.headers['content-encoding'] === 'gzip') body = gunzipSync(body);
      const contentType = String(req.headers['content-type']);
      this.contentTypesOf(String(req.url)).add(contentType);
      const protobuf = contentType.startsWith('application/x-protobuf');
      if (req.method !== 'POST' || !(protobuf || contentType.startsWith('application/json'))) {
        res.writeHead(415).end();
        return;
      }
      const decode = req.url === '/v1/metrics' ? decodeMetricsRequest : decodeTraceRequest;
      const json: unknown = protobuf ? decode(body) : JSON.parse(body.toString('utf8'));
      if (req.url === '/v1/traces') this.traces.push(json as OtlpTraces);
      else if (req.url === '/v1/metrics') this.metrics.push(json as OtlpMetrics);
      else {
        res.writeHead(404).end();
        return;
      }
      // The response in the request's encoding: an empty ExportTraceServiceResponse is no bytes at all.
      if (protobuf) res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end();
      else res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });

  async start(): Promise<string> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  stop(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  /** The content types of the requests to `path`. */
  contentTypesOf(path: string): Set<string> {
    let types = this.contentTypes.get(path);
    if (types === undefined) this.contentTypes.set(path, types = new Set());
    return types;
  }

  spans(): OtlpSpan[] {
    return this.traces.flatMap((t) => t.resourceSpans.flatMap((r) => r.scopeSpans.flatMap((s) => s.spans)));
  }

  metricNames(): Set<string> {
    return new Set(this.metrics.flatMap((m) => m.resourceMetrics.flatMap((r) => r.scopeMetrics.flatMap((s) => s.metrics.map((x) => x.name)))));
  }
}

const attr = (s: OtlpSpan, key: string) => s.attributes?.find((a) => a.key === key)?.value;

/** Spans in `protocol` (the default if undefined), sent with `contentType`. */
for (const [protocol, contentType] of [[undefined, 'application/x-protobuf'], ['http/json', 'application/json']] as const) describe(`OTLP/HTTP export to a real receiver, spans in ${protocol ?? 'the default protocol (http/protobuf)'}`, () => {
  const receiver = new OtlpReceiver();
  let telemetry: Telemetry;

  before(async () => {
    const endpoint = await receiver.start();
    telemetry = setupTelemetry({
      serviceName: 'icpk-replica',
      serviceInstanceId: 'subnet-a-0',
      resourceAttributes: { [ATTR.subnetId]: 'yndj2-3ybaa-aaaaa-aaaap-yai' },
      otlpEndpoint: `${endpoint}/`,
      ...(protocol === undefined ? {} : { otlpProtocol: protocol satisfies OtlpProtocol }),
      metricExportIntervalMs: 60_000, // the test flushes explicitly
    });
  });
  after(async () => {
    await telemetry.shutdown();
    await receiver.stop();
  });

  it('delivers the spans of a round', async () => {
    const rt = new RoundTracer(telemetry.tracerProvider);
    await rt.round(9n, async () => {
      rt.phase(SPAN.induct, () => {});
      await rt.phase(SPAN.iteration, () => Promise.all([0, 1].map((i) => rt.message(
        { canisterId: 'rrkah-fqaaa-aaaaa-aaaaq-cai', method: `m${i}`, kind: 'ingress' },
        async (span) => { recordMessageResult(span, { outcome: 'replied', instructions: 77n, cycles: 9n }); },
      ))));
      rt.phase(SPAN.certify, () => {});
    });
    await telemetry.forceFlush();

    const spans = receiver.spans();
    assert.deepEqual(spans.map((s) => s.name).sort(), ['certify', 'execute_message', 'execute_message', 'induct', 'iteration', 'round']);
    const round = spans.find((s) => s.name === SPAN.round)!;
    const iteration = spans.find((s) => s.name === SPAN.iteration)!;
    assert.ok(!round.parentSpanId, 'the round is a root span');
    assert.equal(iteration.parentSpanId, round.spanId);
    for (const exec of spans.filter((s) => s.name === SPAN.executeMessage)) {
      assert.equal(exec.parentSpanId, iteration.spanId);
      assert.equal(exec.traceId, round.traceId);
      assert.equal(attr(exec, ATTR.canisterId)?.stringValue, 'rrkah-fqaaa-aaaaa-aaaaq-cai');
      assert.equal(Number(attr(exec, ATTR.messageInstructions)?.intValue), 77);
      assert.equal(attr(exec, ATTR.messageOutcome)?.stringValue, 'replied');
    }
    assert.equal(Number(attr(round, ATTR.roundHeight)?.intValue), 9);

    const resource = receiver.traces[0]!.resourceSpans[0]!.resource.attributes;
    const res = (k: string) => resource.find((a) => a.key === k)?.value.stringValue;
    assert.equal(res('service.name'), 'icpk-replica');
    assert.equal(res('service.instance.id'), 'subnet-a-0');
    assert.equal(res(ATTR.subnetId), 'yndj2-3ybaa-aaaaa-aaaap-yai');
    assert.deepEqual([...receiver.contentTypesOf('/v1/traces')], [contentType]);
  });

  it('delivers the executions of real rounds (built on the exporter thread) with their trace, parents and attributes', async () => {
    const t = new ExecutionTest({ tracer: new RoundTracer(telemetry.tracerProvider) });
    try {
      const counter = await t.createAndInstall((await compileMotoko('counter')).wasm);
      // An ingress call whose HTTP request carried a W3C trace context, and one without.
      const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
      const clientSpan = '00f067aa0ba902b7';
      const traced = 'cc'.repeat(32);
      await t.replica.submit({ messageId: traced, sender: TEST_USER, receiver: counter, method: 'inc', arg: candid(), traceparent: `00-${traceId}-${clientSpan}-01` });
      const plain = await t.submit(counter, 'inc', candid());
      assert.equal((await t.awaitStatus(traced)).status, 'replied');
      await t.awaitStatus(plain);
      await telemetry.forceFlush();

      const spans = receiver.spans();
      const byId = new Map(spans.map((s) => [s.spanId, s]));
      const inc = spans.find((s) => s.name === SPAN.executeMessage && attr(s, ATTR.messageId)?.stringValue === traced)!;
      assert.ok(inc, 'the ingress execution arrives');
      assert.equal(inc.traceId, traceId);
      assert.equal(inc.parentSpanId, clientSpan);
      assert.equal(attr(inc, ATTR.canisterId)?.stringValue, counter.toText());
      assert.equal(attr(inc, ATTR.messageMethod)?.stringValue, 'inc');
      assert.equal(attr(inc, ATTR.messageKind)?.stringValue, 'ingress');
      assert.equal(attr(inc, ATTR.messageOutcome)?.stringValue, 'replied');
      assert.ok(Number(attr(inc, ATTR.messageInstructions)?.intValue) > 0);
      assert.ok(BigInt(inc.startTimeUnixNano!) <= BigInt(inc.endTimeUnixNano!));
      // Linked to the iteration it ran in, which is in its round's trace.
      const iteration = byId.get(inc.links?.[0]?.spanId ?? '');
      assert.equal(iteration?.name, SPAN.iteration);
      assert.equal(byId.get(iteration!.parentSpanId!)?.name, SPAN.round);

      // Without a traceparent: a child of the iteration, in the round's trace.
      const untraced = spans.find((s) => s.name === SPAN.executeMessage && attr(s, ATTR.messageId)?.stringValue === plain)!;
      const phase = byId.get(untraced.parentSpanId!)!;
      assert.equal(phase.name, SPAN.iteration);
      assert.equal(untraced.traceId, phase.traceId);
      assert.equal(attr(untraced, ATTR.messageOutcome)?.stringValue, 'replied');
    } finally {
      await t.close();
    }
  });

  it('delivers the replica\'s metrics', async () => {
    const m = new ReplicaMetrics(telemetry.meterProvider);
    m.recordMessage('replied', 3_000_000n);
    m.recordMessage('trapped', 10n);
    m.recordRound({ seconds: 0.012, instructions: 3_000_010n });
    m.recordCyclesBurned('execution', 1_000_000n);
    m.setRoundEndGauges({ queues: { input: 4, subnet: 0 }, pausedExecutions: 1 });
    m.recordCheckpoint({ seconds: 0.8, bytes: 1n << 20n, pages: 256 });
    m.recordCheckpointFailure();
    m.recordXnet('sent', 'subnet-b', 3);
    m.setXnetLag('subnet-b', 2);
    m.recordQuery({ kind: 'query', outcome: 'replied', seconds: 0.002 });
    await telemetry.forceFlush();

    const names = receiver.metricNames();
    for (const d of Object.values(METRICS)) assert.ok(names.has(d.name), `${d.name} arrives over OTLP`);
    const all = receiver.metrics.flatMap((x) => x.resourceMetrics.flatMap((r) => r.scopeMetrics.flatMap((s) => s.metrics)));
    const byName = (n: string) => all.find((x) => x.name === n)!;
    assert.ok(byName(METRICS.roundDuration.name).histogram, 'round duration is a histogram');
    assert.equal(byName(METRICS.roundsTotal.name).sum?.isMonotonic, true);
    assert.ok(byName(METRICS.queueLength.name).gauge);
    assert.equal(byName(METRICS.roundDuration.name).unit, 's');
    // In the same protocol as the spans.
    const types = [...receiver.contentTypesOf('/v1/metrics')];
    assert.ok(types.length > 0 && types.every((c) => c.startsWith(contentType)), types.join());
  });
});

describe('OTLP/HTTP export configured from the environment: signal endpoints, headers, resource attributes', () => {
  const receiver = new OtlpReceiver();
  let telemetry: Telemetry;

  before(async () => {
    const endpoint = await receiver.start();
    // As a pod would set them: no base endpoint, each signal's URL as is, a collector's credentials.
    telemetry = setupTelemetry(telemetryOptionsFromEnv({
      OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: `${endpoint}/v1/traces`,
      OTEL_EXPORTER_OTLP_METRICS_ENDPOINT: `${endpoint}/v1/metrics`,
      OTEL_EXPORTER_OTLP_HEADERS: 'authorization=Basic%20aWNwazpzZWNyZXQ=, x-scope-orgid=tenant-1',
      OTEL_RESOURCE_ATTRIBUTES: 'k8s.pod.name=replica-0,deployment.environment=test%20bed',
      OTEL_METRIC_EXPORT_INTERVAL: '60000',
    }, { serviceName: 'icpk-replica' }));
  });
  after(async () => {
    await telemetry.shutdown();
    await receiver.stop();
  });

  it('sends spans and metrics to their endpoints with the headers, under the resource attributes', async () => {
    const rt = new RoundTracer(telemetry.tracerProvider);
    await rt.round(1n, async () => rt.phase(SPAN.induct, () => {}));
    new ReplicaMetrics(telemetry.meterProvider).recordRound({ seconds: 0.01, instructions: 1n });
    await telemetry.forceFlush();

    assert.deepEqual(receiver.spans().map((s) => s.name).sort(), ['induct', 'round']);
    assert.ok(receiver.metricNames().has(METRICS.roundsTotal.name));
    assert.deepEqual([...receiver.headers.keys()].sort(), ['/v1/metrics', '/v1/traces'], 'each signal at its URL, nothing appended');
    for (const [path, requests] of receiver.headers) {
      for (const h of requests) {
        assert.equal(h.authorization, 'Basic aWNwazpzZWNyZXQ=', `${path}: the decoded header`);
        assert.equal(h['x-scope-orgid'], 'tenant-1', path);
      }
    }
    const resource = receiver.traces[0]!.resourceSpans[0]!.resource.attributes;
    const res = (k: string) => resource.find((a) => a.key === k)?.value.stringValue;
    assert.equal(res('k8s.pod.name'), 'replica-0');
    assert.equal(res('deployment.environment'), 'test bed');
    assert.equal(res('service.name'), 'icpk-replica');
  });
});
