// The exporter thread: turns span batches from the main thread into OTLP/HTTP (JSON) requests with
// the SDK's exporter. One export at a time, in order; batches that arrive while too many spans
// wait for a slow collector are dropped (with a warning), as the SDK's batch processor drops them.

import { parentPort, workerData } from 'node:worker_threads';
import { ExportResultCode } from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import type { ExporterThreadData, FromExporterThread, ToExporterThread } from './span-export.js';
import { readableSpans, unpackBatch } from './span-records.js';

const data = workerData as ExporterThreadData;
const port = parentPort!;
const exporter = new OTLPTraceExporter({ url: data.url, headers: data.headers });
const resource = resourceFromAttributes(data.resourceAttributes);

let chain: Promise<void> = Promise.resolve();
let queued = 0;
let dropped = 0;

const post = (m: FromExporterThread) => port.postMessage(m);

port.on('message', (m: ToExporterThread) => {
  if (m.type === 'flush') {
    chain = chain.then(() => exporter.forceFlush()).then(() => post({ type: 'flushed', id: m.id }));
    return;
  }
  const size = m.batch.executionCount + m.batch.spans.length;
  if (queued + size > data.maxQueuedSpans) {
    if (dropped === 0) post({ type: 'warn', message: 'spans dropped: the collector does not keep up' });
    dropped += size;
    return;
  }
  queued += size;
  chain = chain.then(() => new Promise<void>((resolve) => {
    exporter.export(readableSpans(unpackBatch(m.batch), resource), (result) => {
      queued -= size;
      if (result.code !== ExportResultCode.SUCCESS) post({ type: 'warn', message: `span export failed: ${String(result.error ?? 'unknown error')}` });
      resolve();
    });
  }));
});
