// The Prometheus scrape endpoint (exporter-prometheus behind our node:http server) and the
// Grafana dashboard: every series a dashboard query reads is one the replica really exports.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { InMemoryMetricExporter, AggregationTemporality, PeriodicExportingMetricReader } from '@opentelemetry/sdk-metrics';
import { ATTR, LABEL, METRICS, prometheusSeries, ReplicaMetrics, type MetricDescriptor } from '../src/telemetry/index.js';
import { setupTelemetry, type Telemetry } from '../src/telemetry/setup.js';

const DASHBOARD = new URL('../../charts/icpk/dashboards/replica.json', import.meta.url);

/** Records a value on every instrument, so every metric has a series. */
function recordAll(m: ReplicaMetrics) {
  m.recordMessage('replied', 1_000_000n);
  m.recordMessage('rejected', 500n);
  m.recordRound({ seconds: 0.02, instructions: 1_000_500n });
  m.recordMessage('paused', 2_000_000_000n);
  m.recordRound({ seconds: 0.3, instructions: 2_000_000_000n });
  m.recordCyclesBurned('execution', 590_000n);
  m.recordCyclesBurned('ingress_induction', 1_200_000n);
  m.recordCyclesBurned('some_future_category', 1n);
  m.setRoundEndGauges({ queues: { input: 12, subnet: 1 }, pausedExecutions: 2 });
  m.recordCheckpoint({ seconds: 1.5, bytes: 40_960, pages: 10 });
  m.recordCheckpointFailure();
  m.recordXnet('sent', 'subnet-b', 5);
  m.recordXnet('received', 'subnet-b', 4);
  m.setXnetLag('subnet-b', 3);
  m.recordQuery({ kind: 'query', outcome: 'replied', seconds: 0.001 });
  m.recordQuery({ kind: 'composite_query', outcome: 'rejected', seconds: 0.01 });
}

/** Sample lines of a Prometheus text exposition: series name → label sets. */
function parseExposition(text: string): Map<string, string[]> {
  const series = new Map<string, string[]>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+\S+/.exec(line);
    assert.ok(m, `malformed sample line: ${line}`);
    series.set(m[1]!, [...(series.get(m[1]!) ?? []), m[2] ?? '']);
  }
  return series;
}

/**
 * Every `icpk_*` metric name in a PromQL expression. Label matchers (`{...}`), grouping clauses
 * (`by (...)`, `without (...)`) and string literals name labels and values, not metrics: drop them first.
 */
function referencedMetrics(expr: string): string[] {
  const bare = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, '""')
    .replace(/\{[^}]*\}/g, '')
    .replace(/\b(by|without)\s*\([^)]*\)/g, '');
  return [...bare.matchAll(/\bicpk_[a-z0-9_]+/g)].map((m) => m[0]);
}

interface Panel { title?: string; type: string; targets?: { expr: string; refId?: string }[]; panels?: Panel[] }
interface Dashboard { title: string; uid: string; panels: Panel[]; templating: { list: { name: string; type: string }[] } }

function dashboardQueries(d: Dashboard): { panel: string; expr: string }[] {
  const out: { panel: string; expr: string }[] = [];
  const walk = (ps: Panel[]) => {
    for (const p of ps) {
      for (const t of p.targets ?? []) out.push({ panel: p.title ?? '(untitled)', expr: t.expr });
      if (p.panels) walk(p.panels);
    }
  };
  walk(d.panels);
  return out;
}

describe('Prometheus scrape endpoint', () => {
  let telemetry: Telemetry;
  let scraped: Map<string, string[]>;
  let body: string;

  before(async () => {
    telemetry = setupTelemetry({
      serviceName: 'icpk-replica', prometheusPort: 0, prometheusHost: '127.0.0.1',
      resourceAttributes: { [ATTR.subnetId]: 'yndj2-3ybaa-aaaaa-aaaap-yai' },
    });
    await telemetry.ready;
    recordAll(new ReplicaMetrics(telemetry.meterProvider));
    const res = await fetch(telemetry.prometheusUrl!);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^text\/plain/);
    body = await res.text();
    scraped = parseExposition(body);
  });
  after(() => telemetry.shutdown());

  it('listens on the configured host, on a free port when asked for 0', () => {
    assert.match(telemetry.prometheusUrl!, /^http:\/\/127\.0\.0\.1:\d+\/metrics$/);
  });

  it('serves every replica metric under its Prometheus name', () => {
    for (const d of Object.values(METRICS) as MetricDescriptor[]) {
      for (const s of prometheusSeries(d)) assert.ok(scraped.has(s), `${s} is scraped`);
      assert.match(body, new RegExp(`^# TYPE ${d.name} (counter|histogram|gauge)$`, 'm'));
    }
  });

  it('labels by outcome, category, queue, direction, and keeps unknown categories bounded', () => {
    const labels = (name: string) => scraped.get(name)!.join(' ');
    assert.match(labels('icpk_messages_executed_total'), /outcome="replied"/);
    assert.match(labels('icpk_messages_executed_total'), /outcome="paused"/);
    assert.match(labels('icpk_cycles_burned_total'), /category="ingress_induction"/);
    assert.match(labels('icpk_cycles_burned_total'), /category="other"/);
    assert.doesNotMatch(labels('icpk_cycles_burned_total'), /some_future_category/);
    assert.match(labels('icpk_canister_queue_length'), /queue="input"/);
    assert.match(labels('icpk_xnet_messages_total'), /direction="received",remote_subnet="subnet-b"|remote_subnet="subnet-b",direction="received"/);
    assert.match(labels('icpk_query_duration_seconds_bucket'), /kind="composite_query"/);
    // Round-duration buckets are seconds-sized, not the SDK's millisecond defaults.
    assert.match(labels('icpk_round_duration_seconds_bucket'), /le="0.025"/);
    assert.match(labels('icpk_round_instructions_bucket'), /le="4000000000"/);
  });

  it('labels every series with the subnet, as the dashboard filters', () => {
    for (const d of Object.values(METRICS) as MetricDescriptor[]) {
      for (const labels of scraped.get(prometheusSeries(d)[0]!)!) assert.match(labels, /icpk_subnet_id="yndj2-3ybaa-aaaaa-aaaap-yai"/, d.name);
    }
  });

  it('counts messages and instructions once their round is recorded', async () => {
    const m = new ReplicaMetrics(telemetry.meterProvider);
    const value = async (series: string, labels: string) => {
      const text = await (await fetch(telemetry.prometheusUrl!)).text();
      const line = text.split('\n').find((l) => l.startsWith(series) && l.includes(labels));
      return line === undefined ? 0 : Number(line.split(' ').at(-1));
    };
    const before = await value('icpk_messages_executed_total', 'outcome="trapped"');
    const instructions = await value('icpk_instructions_executed_total', '');
    m.recordMessage('trapped', 7n);
    m.recordMessage('trapped', 3);
    assert.equal(await value('icpk_messages_executed_total', 'outcome="trapped"'), before, 'tallied during the round');
    m.recordRound({ seconds: 0.01, instructions: 10 });
    assert.equal(await value('icpk_messages_executed_total', 'outcome="trapped"'), before + 2);
    assert.equal(await value('icpk_instructions_executed_total', ''), instructions + 10);
  });

  it('answers 404 elsewhere', async () => {
    const res = await fetch(telemetry.prometheusUrl!.replace('/metrics', '/other'));
    assert.equal(res.status, 404);
    await res.text();
  });

  it('supports an extra in-memory reader next to the scrape endpoint', async () => {
    // (Second SDK in the same process: only after the first is shut down.)
    await telemetry.shutdown();
    const exporter = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE);
    const reader = new PeriodicExportingMetricReader({ exporter, exportIntervalMillis: 60_000 });
    const t = setupTelemetry({ serviceName: 'icpk-replica', metricReader: reader });
    try {
      new ReplicaMetrics(t.meterProvider).recordRound({ seconds: 0.1, instructions: 10 });
      await t.forceFlush();
      const names = exporter.getMetrics().flatMap((r) => r.scopeMetrics.flatMap((s) => s.metrics.map((m) => m.descriptor.name)));
      assert.ok(names.includes('icpk_rounds_total'));
    } finally {
      await t.shutdown();
    }
  });
});

describe('Prometheus scrape endpoint on a port in use', () => {
  it('rejects `ready` with the bind error and still shuts down', async () => {
    const squatter = http.createServer();
    await new Promise<void>((resolve) => squatter.listen(0, '127.0.0.1', resolve));
    const { port } = squatter.address() as AddressInfo;
    const t = setupTelemetry({ serviceName: 'icpk-replica', prometheusPort: port, prometheusHost: '127.0.0.1' });
    try {
      await assert.rejects(t.ready, /EADDRINUSE/);
      assert.equal(t.prometheusUrl, undefined);
    } finally {
      await t.shutdown();
      await new Promise((resolve) => squatter.close(resolve));
    }
  });
});

describe('Grafana dashboard charts/icpk/dashboards/replica.json', () => {
  const dashboard = JSON.parse(readFileSync(DASHBOARD, 'utf8')) as Dashboard;
  const queries = dashboardQueries(dashboard);
  const exported = new Map<string, MetricDescriptor>();
  for (const d of Object.values(METRICS) as MetricDescriptor[]) for (const s of prometheusSeries(d)) exported.set(s, d);

  it('is a dashboard with a datasource variable and queries', () => {
    assert.ok(dashboard.uid && dashboard.title);
    assert.ok(dashboard.templating.list.some((v) => v.type === 'datasource'));
    assert.ok(queries.length >= 12, `${queries.length} queries`);
  });

  it('reads only series that metrics.ts exports (histograms as _bucket/_sum/_count)', () => {
    for (const { panel, expr } of queries) {
      const names = referencedMetrics(expr);
      assert.ok(names.length > 0, `panel "${panel}" queries no icpk metric: ${expr}`);
      for (const n of names) assert.ok(exported.has(n), `panel "${panel}" reads ${n}, which the replica does not export`);
      // histogram_quantile needs buckets of a histogram.
      if (expr.includes('histogram_quantile')) assert.ok(names.some((n) => n.endsWith('_bucket')), `panel "${panel}"`);
    }
  });

  it('reads only series a real scrape shows', async () => {
    const t = setupTelemetry({ serviceName: 'icpk-replica', prometheusPort: 0, prometheusHost: '127.0.0.1' });
    try {
      await t.ready;
      recordAll(new ReplicaMetrics(t.meterProvider));
      const scraped = parseExposition(await (await fetch(t.prometheusUrl!)).text());
      for (const { panel, expr } of queries) {
        for (const n of referencedMetrics(expr)) assert.ok(scraped.has(n), `panel "${panel}" reads ${n}, absent from the scrape`);
      }
    } finally {
      await t.shutdown();
    }
  });

  it('covers the replica\'s metrics', () => {
    const read = new Set(queries.flatMap((q) => referencedMetrics(q.expr)).map((n) => exported.get(n)!.name));
    const unread = (Object.values(METRICS) as MetricDescriptor[]).map((d) => d.name).filter((n) => !read.has(n));
    assert.deepEqual(unread, [], 'every exported metric has a panel');
  });

  it('groups only by labels the metric has', () => {
    for (const { panel, expr } of queries) {
      for (const m of expr.matchAll(/\bby\s*\(([^)]*)\)/g)) {
        const names = referencedMetrics(expr);
        const labels = new Set(['le', 'instance', 'job', LABEL.subnet, ...names.flatMap((n) => exported.get(n)!.labels)]);
        for (const l of m[1]!.split(',').map((s) => s.trim()).filter(Boolean)) {
          assert.ok(labels.has(l), `panel "${panel}" groups by "${l}", not a label of ${names.join(', ')}`);
        }
      }
    }
  });
});
