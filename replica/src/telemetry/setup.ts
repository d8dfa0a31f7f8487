// The only file that touches the OpenTelemetry SDK. Everything else in the replica talks to
// `@opentelemetry/api`, which is a no-op until this installs providers.
//
// Off by default: with no exporter, reader or scrape port configured, nothing is installed and
// the API stays the global no-op (no context manager, no span objects, no metric storage).

import http from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  context,
  diag,
  DiagLogLevel,
  metrics,
  propagation,
  trace,
  type Attributes,
  type DiagLogger,
  type MeterProvider as ApiMeterProvider,
  type TracerProvider as ApiTracerProvider,
} from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { CompositePropagator, W3CBaggagePropagator, W3CTraceContextPropagator } from '@opentelemetry/core';
import { OTLPMetricExporter as OTLPJsonMetricExporter } from '@opentelemetry/exporter-metrics-otlp-http';
import { OTLPMetricExporter as OTLPProtobufMetricExporter } from '@opentelemetry/exporter-metrics-otlp-proto';
import { PrometheusExporter } from '@opentelemetry/exporter-prometheus';
import { resourceFromAttributes, type Resource } from '@opentelemetry/resources';
import { MeterProvider, PeriodicExportingMetricReader, type IMetricReader } from '@opentelemetry/sdk-metrics';
import {
  ParentBasedSampler,
  TraceIdRatioBasedSampler,
  type SpanExporter,
} from '@opentelemetry/sdk-trace-base';
import { NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
import { ATTR } from './attributes.js';
import {
  BatchingSpanSink, ExecutionFanOut, ExporterThread, InProcessExport, OTLP_PROTOCOLS, type BatchOptions, type OtlpProtocol,
} from './span-export.js';
import { FastIdGenerator } from './span-ids.js';
import { EXECUTION_SINK } from './tracing.js';
import { ATTR_SERVICE_INSTANCE_ID, ATTR_SERVICE_NAME, ATTR_SERVICE_VERSION } from '@opentelemetry/semantic-conventions';

export interface TelemetryOptions {
  readonly serviceName: string;
  readonly serviceVersion?: string;
  /** This replica (pod name): `service.instance.id`. */
  readonly serviceInstanceId?: string;
  /** More resource attributes, e.g. `{ 'icpk.subnet.id': ... }`. */
  readonly resourceAttributes?: Attributes;
  /** OTLP/HTTP base URL, e.g. `http://otel-collector:4318`: spans to /v1/traces, metrics to /v1/metrics. */
  readonly otlpEndpoint?: string;
  /** Where spans go, as is (no path added): instead of `otlpEndpoint`'s /v1/traces. */
  readonly otlpTracesEndpoint?: string;
  /** Where metrics go, as is (no path added): instead of `otlpEndpoint`'s /v1/metrics. */
  readonly otlpMetricsEndpoint?: string;
  /** How spans and metrics are encoded: `http/protobuf` (OTLP's default, and ours) or `http/json`. */
  readonly otlpProtocol?: OtlpProtocol;
  /** The spans' encoding, instead of `otlpProtocol`. */
  readonly otlpTracesProtocol?: OtlpProtocol;
  /** The metrics' encoding, instead of `otlpProtocol`. */
  readonly otlpMetricsProtocol?: OtlpProtocol;
  /** Headers of every OTLP request (e.g. a collector's credentials). */
  readonly otlpHeaders?: Readonly<Record<string, string>>;
  /** Interval of the OTLP metric export (default 10 s). */
  readonly metricExportIntervalMs?: number;
  /** Port of the Prometheus scrape endpoint (`/metrics`); 0 picks a free port; absent: no endpoint. */
  readonly prometheusPort?: number;
  /** Address it binds to (default: all interfaces, as a pod's scrape target needs). */
  readonly prometheusHost?: string;
  /** Fraction of rounds traced (default 1). A message follows its sender's sampling decision. */
  readonly sampleRatio?: number;
  /** An extra span exporter (tests, benchmarks). */
  readonly spanExporter?: SpanExporter;
  /** How spans reach `spanExporter` (default `batch`; tests want `simple`). */
  readonly spanProcessor?: 'batch' | 'simple';
  /** An extra metric reader (tests: a PeriodicExportingMetricReader over an in-memory exporter). */
  readonly metricReader?: IMetricReader;
  /** Where the SDK's own warnings go (export failures, dropped spans). */
  readonly diagnostics?: DiagLogger;
}

export interface Telemetry {
  /** Whether an SDK is installed (spans or metrics go somewhere). */
  readonly enabled: boolean;
  readonly tracerProvider: ApiTracerProvider;
  readonly meterProvider: ApiMeterProvider;
  /** Resolves once the scrape endpoint listens (at once without one); rejects if it cannot bind. */
  readonly ready: Promise<void>;
  /** `http://host:port/metrics` once `ready`, when a scrape endpoint is configured. */
  readonly prometheusUrl: string | undefined;
  forceFlush(): Promise<void>;
  /** Flushes, stops exporters and the scrape endpoint, and restores the global no-op API. */
  shutdown(): Promise<void>;
}

/** Spans go to the exporter in batches of this size, or after this delay. */
const BATCH: BatchOptions = { maxBatchSize: 256, delayMillis: 500 };
/** `simple`: each span goes to the exporter when it ends (tests read them at once). */
const SIMPLE: BatchOptions = { maxBatchSize: 1, delayMillis: 0 };
/** Spans waiting for a slow collector beyond which new ones are dropped (rounds of a thousand messages). */
const MAX_QUEUED_SPANS = 16_384;

/** The telemetry this process installed and has not shut down: the SDK's providers are global. */
let installed: Telemetry | undefined;

export function setupTelemetry(options: TelemetryOptions): Telemetry {
  const base = options.otlpEndpoint?.replace(/\/+$/, '');
  const tracesUrl = options.otlpTracesEndpoint ?? (base === undefined ? undefined : `${base}/v1/traces`);
  const metricsUrl = options.otlpMetricsEndpoint ?? (base === undefined ? undefined : `${base}/v1/metrics`);
  const tracing = options.spanExporter !== undefined || tracesUrl !== undefined;
  const metering = options.metricReader !== undefined || metricsUrl !== undefined || options.prometheusPort !== undefined;
  if (!tracing && !metering) {
    return {
      enabled: false,
      tracerProvider: trace.getTracerProvider(),
      meterProvider: metrics.getMeterProvider(),
      ready: Promise.resolve(),
      prometheusUrl: undefined,
      forceFlush: async () => {},
      shutdown: async () => {},
    };
  }
  if (installed) throw new Error('telemetry is already set up in this process: shut it down before setting it up again');

  if (options.diagnostics) diag.setLogger(options.diagnostics, DiagLogLevel.WARN);
  const resource = resourceFromAttributes({
    ...options.resourceAttributes,
    [ATTR_SERVICE_NAME]: options.serviceName,
    ...(options.serviceVersion ? { [ATTR_SERVICE_VERSION]: options.serviceVersion } : {}),
    ...(options.serviceInstanceId ? { [ATTR_SERVICE_INSTANCE_ID]: options.serviceInstanceId } : {}),
  });
  const headers = options.otlpHeaders ? { ...options.otlpHeaders } : undefined;
  /** A signal's destination: its own protocol option if set, else `otlpProtocol` (checked: JavaScript callers). */
  const otlp = (url: string | undefined, own: 'otlpTracesProtocol' | 'otlpMetricsProtocol'): Otlp | undefined => {
    if (url === undefined) return undefined;
    const option = options[own] !== undefined ? own : 'otlpProtocol';
    return { url, headers, protocol: checkedProtocol(options[option] ?? 'http/protobuf', option) };
  };
  const tracesOtlp = otlp(tracesUrl, 'otlpTracesProtocol');
  const metricsOtlp = otlp(metricsUrl, 'otlpMetricsProtocol');
  const tracerProvider = tracing ? startTracing(options, resource, tracesOtlp) : undefined;
  const metered = metering ? startMetrics(options, resource, metricsOtlp) : undefined;
  const meterProvider = metered?.meterProvider;
  const scrape = metered?.scrape;

  let prometheusUrl: string | undefined;
  let shutdown: Promise<void> | undefined;
  const ready = scrape ? scrape.listening.then((url) => { prometheusUrl = url; }) : Promise.resolve();
  const telemetry: Telemetry = {
    enabled: true,
    tracerProvider: tracerProvider ?? trace.getTracerProvider(),
    meterProvider: meterProvider ?? metrics.getMeterProvider(),
    ready,
    get prometheusUrl() { return prometheusUrl; },
    // Telemetry never fails the replica: an unreachable collector is a diagnostic, not an error.
    forceFlush: async () => {
      for (const r of await Promise.allSettled([tracerProvider?.forceFlush(), meterProvider?.forceFlush()])) {
        if (r.status === 'rejected') diag.warn(`telemetry flush failed: ${String(r.reason)}`);
      }
    },
    shutdown: () => (shutdown ??= (async () => {
      try {
        await Promise.allSettled([tracerProvider?.shutdown(), meterProvider?.shutdown()]);
        const server = scrape?.server;
        if (server?.listening) {
          const closed = new Promise<void>((resolve) => server.close(() => resolve()));
          server.closeAllConnections();
          await closed;
        }
      } finally {
        if (tracerProvider) {
          trace.disable();
          context.disable();
          propagation.disable();
        }
        if (meterProvider) metrics.disable();
        if (options.diagnostics) diag.disable();
        installed = undefined;
      }
    })()),
  };
  installed = telemetry;
  return telemetry;
}

/** Where one signal goes over OTLP/HTTP. */
interface Otlp { readonly url: string; readonly headers?: Record<string, string>; readonly protocol: OtlpProtocol }

/**
 * Tracer provider, W3C propagation and the async context manager, installed globally. Message
 * executions skip the SDK's span objects: the RoundTracer hands them to the provider's execution
 * sink as records, batched with the SDK's other spans; OTLP payloads are built on a thread of their own.
 */
function startTracing(options: TelemetryOptions, resource: Resource, otlp: Otlp | undefined): NodeTracerProvider {
  const ids = new FastIdGenerator();
  const sinks: BatchingSpanSink[] = [];
  if (otlp) {
    const thread = new ExporterThread({
      url: otlp.url, protocol: otlp.protocol, headers: otlp.headers, resourceAttributes: resource.attributes,
      maxQueuedSpans: MAX_QUEUED_SPANS,
    });
    sinks.push(new BatchingSpanSink(ids, thread, BATCH));
  }
  if (options.spanExporter) {
    sinks.push(new BatchingSpanSink(ids, new InProcessExport(options.spanExporter, resource), options.spanProcessor === 'simple' ? SIMPLE : BATCH));
  }
  const provider = new NodeTracerProvider({
    resource,
    // Rounds are sampled by ratio; a message follows the decision of its sender (parent-based).
    sampler: new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(clampRatio(options.sampleRatio ?? 1)) }),
    spanProcessors: sinks,
    idGenerator: ids,
  });
  Object.defineProperty(provider, EXECUTION_SINK, { value: sinks.length === 1 ? sinks[0] : new ExecutionFanOut(sinks, ids) });
  registerOrThrow(trace.setGlobalTracerProvider(provider), 'tracer provider');
  registerOrThrow(context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable()), 'context manager');
  registerOrThrow(propagation.setGlobalPropagator(new CompositePropagator({
    propagators: [new W3CTraceContextPropagator(), new W3CBaggagePropagator()],
  })), 'propagator');
  return provider;
}

/** Meter provider with its readers (OTLP, Prometheus scrape endpoint, extra), installed globally. */
function startMetrics(options: TelemetryOptions, resource: Resource, otlp: Otlp | undefined) {
  const readers: IMetricReader[] = [];
  if (otlp) {
    const config = { url: otlp.url, headers: otlp.headers };
    readers.push(new PeriodicExportingMetricReader({
      exporter: otlp.protocol === 'http/json' ? new OTLPJsonMetricExporter(config) : new OTLPProtobufMetricExporter(config),
      exportIntervalMillis: options.metricExportIntervalMs ?? 10_000,
    }));
  }
  if (options.metricReader) readers.push(options.metricReader);
  let scrape: ReturnType<typeof serveMetrics> | undefined;
  if (options.prometheusPort !== undefined) {
    // The subnet id (a resource attribute) becomes a label of every series: dashboards filter by it.
    const exporter = new PrometheusExporter({
      preventServerStart: true,
      withoutScopeInfo: true,
      withResourceConstantLabels: new RegExp(`^${ATTR.subnetId.replaceAll('.', '\\.')}$`),
    });
    readers.push(exporter);
    scrape = serveMetrics(exporter, options.prometheusPort, options.prometheusHost);
  }
  const meterProvider = new MeterProvider({ resource, readers });
  registerOrThrow(metrics.setGlobalMeterProvider(meterProvider), 'meter provider');
  return { meterProvider, scrape };
}

/** Our own server around the exporter's handler: we choose the address and learn the port. */
function serveMetrics(exporter: PrometheusExporter, port: number, host: string | undefined) {
  const server = http.createServer((req, res) => {
    if (req.method === 'GET' && (req.url === '/metrics' || req.url?.startsWith('/metrics?'))) {
      exporter.getMetricsRequestHandler(req, res);
    } else {
      res.writeHead(404).end('not found: the scrape endpoint is /metrics\n');
    }
  });
  const listening = new Promise<string>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      const { address, port: bound, family } = server.address() as AddressInfo;
      resolve(`http://${family === 'IPv6' ? `[${address}]` : address}:${bound}/metrics`);
    });
  });
  return { server, listening };
}

/** Telemetry options from the standard OTel variables plus ours (for the chart's pod spec). */
export function telemetryOptionsFromEnv(env: NodeJS.ProcessEnv, defaults: TelemetryOptions): TelemetryOptions {
  const num = (name: string): number | undefined => {
    const v = env[name];
    if (v === undefined || v === '') return undefined;
    const n = Number(v);
    if (!Number.isFinite(n)) throw new Error(`${name}=${v} is not a number`);
    return n;
  };
  const keyValues = (name: string): Record<string, string> | undefined => {
    const v = env[name]?.trim();
    return v ? keyValueList(v, name) : undefined;
  };
  return {
    ...defaults,
    serviceName: env.OTEL_SERVICE_NAME || defaults.serviceName,
    serviceInstanceId: env.ICPK_REPLICA_ID || env.HOSTNAME || defaults.serviceInstanceId,
    otlpEndpoint: env.OTEL_EXPORTER_OTLP_ENDPOINT || defaults.otlpEndpoint,
    otlpTracesEndpoint: env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT || defaults.otlpTracesEndpoint,
    otlpMetricsEndpoint: env.OTEL_EXPORTER_OTLP_METRICS_ENDPOINT || defaults.otlpMetricsEndpoint,
    otlpHeaders: keyValues('OTEL_EXPORTER_OTLP_HEADERS') ?? defaults.otlpHeaders,
    resourceAttributes: { ...keyValues('OTEL_RESOURCE_ATTRIBUTES'), ...defaults.resourceAttributes },
    otlpProtocol: protocolFromEnv(env, 'OTEL_EXPORTER_OTLP_PROTOCOL') ?? defaults.otlpProtocol,
    otlpTracesProtocol: protocolFromEnv(env, 'OTEL_EXPORTER_OTLP_TRACES_PROTOCOL') ?? defaults.otlpTracesProtocol,
    otlpMetricsProtocol: protocolFromEnv(env, 'OTEL_EXPORTER_OTLP_METRICS_PROTOCOL') ?? defaults.otlpMetricsProtocol,
    metricExportIntervalMs: num('OTEL_METRIC_EXPORT_INTERVAL') ?? defaults.metricExportIntervalMs,
    sampleRatio: num('OTEL_TRACES_SAMPLER_ARG') ?? defaults.sampleRatio,
    prometheusPort: num('ICPK_PROMETHEUS_PORT') ?? defaults.prometheusPort,
    prometheusHost: env.ICPK_PROMETHEUS_HOST || defaults.prometheusHost,
  };
}

/**
 * `key1=value1,key2=value2`, as OpenTelemetry's environment variables write headers and resource
 * attributes (W3C Baggage's format: spaces around items ignored, values percent-decoded). Not
 * @opentelemetry/core's `parseKeyPairsIntoRecord`: it drops a malformed entry silently, and a
 * mistyped credentials header should stop start-up with the variable's name instead.
 */
export function keyValueList(text: string, name: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const item of text.split(',')) {
    if (item.trim() === '') continue;
    const eq = item.indexOf('=');
    const key = eq < 0 ? '' : item.slice(0, eq).trim();
    if (key === '') throw new Error(`${name}: "${item.trim()}" is not key=value`);
    let value: string;
    try {
      value = decodeURIComponent(item.slice(eq + 1).trim());
    } catch {
      throw new Error(`${name}: the value of ${key} is not percent-encoded correctly`);
    }
    out[key] = value;
  }
  return out;
}

/** An OTLP protocol variable (a signal's own one wins over the general one in `setupTelemetry`). */
function protocolFromEnv(env: NodeJS.ProcessEnv, name: string): OtlpProtocol | undefined {
  const v = env[name]?.trim();
  return v ? checkedProtocol(v, name) : undefined;
}

function checkedProtocol(v: string, name: string): OtlpProtocol {
  if ((OTLP_PROTOCOLS as readonly string[]).includes(v)) return v as OtlpProtocol;
  const grpc = v === 'grpc' ? ' (the replica exports OTLP over HTTP only, not gRPC)' : '';
  throw new Error(`${name}=${v} is not supported${grpc}: use http/protobuf (the default) or http/json`);
}

function clampRatio(r: number): number {
  return Number.isFinite(r) ? Math.min(1, Math.max(0, r)) : 1;
}

function registerOrThrow(ok: boolean, what: string): void {
  if (!ok) throw new Error(`telemetry: a global ${what} is already registered; shut the previous telemetry down first`);
}
