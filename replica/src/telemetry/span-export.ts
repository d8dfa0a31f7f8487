// How finished spans leave the main thread. One span processor (for the SDK's spans) that is also
// the RoundTracer's execution sink (for message executions, which never become span objects):
// both go into compact batches (span-records.ts), shipped to an exporter — the exporter thread for
// OTLP, which writes and sends the OTLP/HTTP protobuf or JSON itself, or an SDK exporter in this
// process (tests).

import { Worker } from 'node:worker_threads';
import { diag, TraceFlags, type Attributes, type Context } from '@opentelemetry/api';
import { ExportResultCode, internal } from '@opentelemetry/core';
import type { Resource } from '@opentelemetry/resources';
import type { ReadableSpan, Span, SpanExporter, SpanProcessor } from '@opentelemetry/sdk-trace-base';
import { workerEntry } from '../worker-entry.js';
import type { FastIdGenerator } from './span-ids.js';
import { packBatch, readableSpans, SpanBatcher, type PackedSpanBatch, type SpanBatch } from './span-records.js';
import { TRACER_NAME, type ExecutionRecord, type ExecutionSink } from './tracing.js';

/** Where batches go. */
export interface SpanDestination {
  send(batch: SpanBatch): void;
  /** Resolves when everything sent so far has been exported (or failed, which is reported). */
  flush(): Promise<void>;
  shutdown(): Promise<void>;
}

export interface BatchOptions {
  /** A batch is shipped when it holds this many spans ... */
  readonly maxBatchSize: number;
  /** ... or this long after its first span. */
  readonly delayMillis: number;
}

/** Batches sampled spans and executions for one destination. */
export class BatchingSpanSink implements SpanProcessor, ExecutionSink {
  private readonly batcher = new SpanBatcher({ name: TRACER_NAME });
  private timer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(
    private readonly ids: FastIdGenerator,
    private readonly destination: SpanDestination,
    private readonly options: BatchOptions,
  ) {}

  newSpanId(): string {
    return this.ids.generateSpanId();
  }

  addExecution(record: Readonly<ExecutionRecord>): void {
    if (this.closed) return;
    this.batcher.addExecution(record);
    this.added();
  }

  onStart(_span: Span, _parentContext: Context): void {}

  onEnd(span: ReadableSpan): void {
    if (this.closed || (span.spanContext().traceFlags & TraceFlags.SAMPLED) === 0) return;
    this.batcher.addSpan(span);
    this.added();
  }

  async forceFlush(): Promise<void> {
    this.ship();
    await this.destination.flush();
  }

  async shutdown(): Promise<void> {
    if (this.closed) return;
    this.ship();
    this.closed = true;
    await this.destination.shutdown();
  }

  private added(): void {
    if (this.batcher.size >= this.options.maxBatchSize) this.ship();
    else this.timer ??= setTimeout(() => this.ship(), this.options.delayMillis).unref();
  }

  private ship(): void {
    if (this.timer !== undefined) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    const batch = this.batcher.take();
    if (batch) this.destination.send(batch);
  }
}

/** Several sinks fed the same executions (e.g. OTLP and a test's exporter). */
export class ExecutionFanOut implements ExecutionSink {
  constructor(private readonly sinks: readonly BatchingSpanSink[], private readonly ids: FastIdGenerator) {}
  newSpanId(): string {
    return this.ids.generateSpanId();
  }
  addExecution(record: Readonly<ExecutionRecord>): void {
    for (const s of this.sinks) s.addExecution(record);
  }
}

/** An SDK exporter in this process: batches become ReadableSpans here. */
export class InProcessExport implements SpanDestination {
  private readonly pending = new Set<Promise<void>>();

  constructor(private readonly exporter: SpanExporter, private readonly resource: Resource) {}

  send(batch: SpanBatch): void {
    const done = internal._export(this.exporter, readableSpans(batch, this.resource)).then((result) => {
      if (result.code !== ExportResultCode.SUCCESS) diag.warn(`span export failed: ${String(result.error ?? 'unknown error')}`);
    });
    this.pending.add(done);
    void done.finally(() => this.pending.delete(done));
  }

  async flush(): Promise<void> {
    await Promise.all([...this.pending]);
    await this.exporter.forceFlush?.();
  }

  async shutdown(): Promise<void> {
    await this.flush();
    await this.exporter.shutdown();
  }
}

/** OTLP/HTTP encodings, as `OTEL_EXPORTER_OTLP_PROTOCOL` names them (gRPC is not implemented). */
export const OTLP_PROTOCOLS = ['http/protobuf', 'http/json'] as const;
export type OtlpProtocol = typeof OTLP_PROTOCOLS[number];

/** What the exporter thread is started with. */
export interface ExporterThreadData {
  /** OTLP/HTTP traces URL. */
  readonly url: string;
  readonly protocol: OtlpProtocol;
  readonly headers?: Record<string, string>;
  readonly resourceAttributes: Attributes;
  /** Spans queued for export beyond which new batches are dropped (a collector that does not keep up). */
  readonly maxQueuedSpans: number;
}

export type ToExporterThread =
  | { readonly type: 'batch'; readonly batch: PackedSpanBatch }
  | { readonly type: 'flush'; readonly id: number };

export type FromExporterThread =
  | { readonly type: 'flushed'; readonly id: number }
  | { readonly type: 'warn'; readonly message: string };

/** OTLP export on a thread of its own (export-worker.ts): encoding and HTTP never run on the main thread. */
export class ExporterThread implements SpanDestination {
  private readonly worker: Worker;
  private readonly flushes = new Map<number, () => void>();
  private nextFlush = 0;
  private exited = false;

  constructor(data: ExporterThreadData) {
    this.worker = new Worker(workerEntry(import.meta.url, 'export-worker'), { workerData: data });
    this.worker.unref(); // spans are best effort: a process that ends without shutdown() loses its last batch
    this.worker.on('message', (m: FromExporterThread) => {
      if (m.type === 'warn') diag.warn(m.message);
      else this.settle(m.id);
    });
    this.worker.on('error', (e) => diag.warn(`span exporter thread failed: ${e.message}`));
    this.worker.on('exit', () => {
      this.exited = true;
      for (const id of [...this.flushes.keys()]) this.settle(id);
    });
  }

  send(batch: SpanBatch): void {
    if (this.exited) return;
    const packed = packBatch(batch);
    this.worker.postMessage({ type: 'batch', batch: packed } satisfies ToExporterThread, [packed.executions.buffer, packed.lengths.buffer]);
  }

  flush(): Promise<void> {
    if (this.exited) return Promise.resolve();
    const id = this.nextFlush++;
    return new Promise<void>((resolve) => {
      this.flushes.set(id, resolve);
      this.worker.ref(); // a flush that is awaited keeps the process alive until it is answered
      this.worker.postMessage({ type: 'flush', id } satisfies ToExporterThread);
    });
  }

  async shutdown(): Promise<void> {
    await this.flush();
    await this.worker.terminate();
  }

  private settle(id: number): void {
    const resolve = this.flushes.get(id);
    this.flushes.delete(id);
    if (this.flushes.size === 0 && !this.exited) this.worker.unref();
    resolve?.();
  }
}
