// The exporter thread: turns span batches from the main thread into OTLP/HTTP requests, protobuf
// (otlp-protobuf.ts, OTLP's default) or JSON (otlp-json.ts), and posts them to the collector, one
// at a time, in order. Batches that arrive while too many spans wait for a slow collector are
// dropped (with a warning), as the SDK's batch processor drops them; transient failures (the
// statuses OTLP/HTTP says to retry, network errors) are retried a few times with backoff.

import http from 'node:http';
import https from 'node:https';
import { parentPort, workerData } from 'node:worker_threads';
import type { Attributes } from '@opentelemetry/api';
import { attributesJson, exportTraceRequest } from './otlp-json.js';
import { exportTraceRequestProtobuf, resourceProtobuf } from './otlp-protobuf.js';
import type { ExporterThreadData, FromExporterThread, OtlpProtocol, ToExporterThread } from './span-export.js';
import { unpackBatch, type SpanBatch } from './span-records.js';

/** OTLP/HTTP's content types. */
const CONTENT_TYPE: Record<OtlpProtocol, string> = { 'http/protobuf': 'application/x-protobuf', 'http/json': 'application/json' };
const data = workerData as ExporterThreadData;
const port = parentPort!;
const url = new URL(data.url);
const client = url.protocol === 'https:' ? https : http;
const agent = new client.Agent({ keepAlive: true });
const headers = { ...data.headers, 'content-type': CONTENT_TYPE[data.protocol] };
const encode = data.protocol === 'http/protobuf' ? protobufBodies(data.resourceAttributes) : jsonBodies(data.resourceAttributes);
const TIMEOUT_MS = 10_000;
const ATTEMPTS = 4;
const RETRYABLE = new Set([429, 502, 503, 504]);
/**
 * Executions per request: a batch from the main thread becomes several requests. Small bodies stay
 * in V8's young generation; a JSON body of a thousand spans (~700 KB) made this thread collect
 * garbage for a third of its time.
 */
const SPANS_PER_REQUEST = 256;

let chain: Promise<void> = Promise.resolve();
let queued = 0;
let dropped = 0;

const post = (m: FromExporterThread) => port.postMessage(m);

port.on('message', (m: ToExporterThread) => {
  if (m.type === 'flush') {
    chain = chain.then(() => post({ type: 'flushed', id: m.id }));
    return;
  }
  const size = m.batch.executionCount + m.batch.spans.length;
  if (queued + size > data.maxQueuedSpans) {
    if (dropped === 0) post({ type: 'warn', message: 'spans dropped: the collector does not keep up' });
    dropped += size;
    return;
  }
  queued += size;
  chain = chain.then(async () => {
    try {
      const batch = unpackBatch(m.batch);
      const n = batch.executionCount;
      for (let from = 0; from < n || from === 0; from += SPANS_PER_REQUEST) {
        const to = Math.min(from + SPANS_PER_REQUEST, n);
        await send(encode(batch, from, to, to === n));
      }
    } catch (e) {
      post({ type: 'warn', message: `span export to ${data.url} failed: ${e instanceof Error ? e.message : String(e)}` });
    } finally {
      queued -= size;
    }
  });
});

/** The request body for executions `from` to `to` of a batch (and its SDK spans if `withSpans`). */
type Bodies = (batch: SpanBatch, from: number, to: number, withSpans: boolean) => Buffer;

function protobufBodies(attributes: Attributes): Bodies {
  const resource = resourceProtobuf(attributes);
  return (batch, from, to, withSpans) => {
    const body = exportTraceRequestProtobuf(batch, resource, from, to, withSpans);
    return Buffer.from(body.buffer, body.byteOffset, body.byteLength); // a view, not a copy
  };
}

function jsonBodies(attributes: Attributes): Bodies {
  const resource = attributesJson(attributes);
  return (batch, from, to, withSpans) => Buffer.from(exportTraceRequest(batch, resource, from, to, withSpans), 'utf8');
}

async function send(body: Buffer): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    const status = await request(body).catch((e: unknown) => (attempt < ATTEMPTS ? undefined : Promise.reject(e)));
    if (status !== undefined && status >= 200 && status < 300) return;
    if (attempt >= ATTEMPTS || (status !== undefined && !RETRYABLE.has(status))) throw new Error(`HTTP status ${status}`);
    await new Promise((resolve) => setTimeout(resolve, 250 * 2 ** attempt));
  }
}

/** One POST; resolves with the response status. */
function request(body: Buffer): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = client.request(url, { method: 'POST', agent, headers: { ...headers, 'content-length': body.length }, timeout: TIMEOUT_MS }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`no answer within ${TIMEOUT_MS} ms`)));
    req.on('error', reject);
    req.end(body);
  });
}
