// OTLP/HTTP JSON (ExportTraceServiceRequest, opentelemetry-proto's JSON mapping) written straight
// from a span batch, on the exporter thread: no span objects and no intermediate OTLP objects, so
// that exporting costs the thread (and, on a shared core, the main thread) little. Ids are hex,
// 64-bit integers decimal strings, enums numbers, as the OTLP JSON encoding specifies.

import type { Attributes, AttributeValue, HrTime, Link } from '@opentelemetry/api';
import type { TimedEvent } from '@opentelemetry/sdk-trace-base';
import { ATTR, SPAN } from './attributes.js';
import { executionFlags, flagsOf, KIND_INTERNAL, linkFlags, scopeGroups, STATUS_ERROR } from './otlp-common.js';
import { SLOT, STRIDE, NONE, type SpanBatch, type SpanData } from './span-records.js';

/**
 * The request body for `batch`, or for its executions `from` to `to` (and its SDK spans if
 * `withSpans`); `resource` is the JSON of the resource's attributes (`attributesJson`).
 */
export function exportTraceRequest(batch: SpanBatch, resource: string, from = 0, to = batch.executionCount, withSpans = true): string {
  const quoted = to > from ? quotedStrings(batch) : undefined;
  const scopeSpans: string[] = [];
  for (const { scope, executions, spans: sdkSpans } of scopeGroups(batch, to > from, withSpans)) {
    const spans: string[] = [];
    if (executions) for (let i = from; i < to; i++) spans.push(execution(batch, quoted!, i * STRIDE));
    for (const d of sdkSpans) spans.push(span(d));
    const version = scope.version === undefined ? '' : `,"version":${JSON.stringify(scope.version)}`;
    const schema = scope.schemaUrl === undefined ? '' : `,"schemaUrl":${JSON.stringify(scope.schemaUrl)}`;
    scopeSpans.push(`{"scope":{"name":${JSON.stringify(scope.name)}${version}},"spans":[${spans.join(',')}]${schema}}`);
  }
  return `{"resourceSpans":[{"resource":{"attributes":${resource},"droppedAttributesCount":0},"scopeSpans":[${scopeSpans.join(',')}]}]}`;
}

/** The batch's strings as JSON strings, made once for all the requests of a batch. */
const quotedOf = new WeakMap<SpanBatch, string[]>();
function quotedStrings(batch: SpanBatch): string[] {
  let q = quotedOf.get(batch);
  if (q === undefined) quotedOf.set(batch, q = batch.strings.map((s) => JSON.stringify(s)));
  return q;
}

/** One execution record; `q` holds the batch's strings as JSON strings. */
function execution(batch: SpanBatch, q: readonly string[], o: number): string {
  const e = batch.executions;
  const flags = e[o + SLOT.flags]!;
  const traceId = q[e[o + SLOT.traceId]!]!;
  const parent = e[o + SLOT.parentSpanId]!;
  let attributes = `{"key":"${ATTR.canisterId}","value":{"stringValue":${q[e[o + SLOT.canisterId]!]}}},`
    + `{"key":"${ATTR.messageMethod}","value":{"stringValue":${q[e[o + SLOT.method]!]}}}`;
  if (e[o + SLOT.kind] !== NONE) attributes += `,{"key":"${ATTR.messageKind}","value":{"stringValue":${q[e[o + SLOT.kind]!]}}}`;
  if (e[o + SLOT.messageId] !== NONE) attributes += `,{"key":"${ATTR.messageId}","value":{"stringValue":${q[e[o + SLOT.messageId]!]}}}`;
  if (e[o + SLOT.caller] !== NONE) attributes += `,{"key":"${ATTR.messageCaller}","value":{"stringValue":${q[e[o + SLOT.caller]!]}}}`;
  if (e[o + SLOT.dtsSlice] !== NONE) attributes += `,{"key":"${ATTR.dtsSlice}","value":{"intValue":${e[o + SLOT.dtsSlice]}}}`;
  const outcome = batch.strings[e[o + SLOT.outcome]!];
  attributes += `,{"key":"${ATTR.messageOutcome}","value":{"stringValue":${q[e[o + SLOT.outcome]!]}}}`
    + `,{"key":"${ATTR.messageInstructions}","value":{"intValue":${e[o + SLOT.instructions]}}}`;
  let links = '';
  const first = e[o + SLOT.linkStart]!;
  for (let k = 0; k < e[o + SLOT.linkCount]!; k++) {
    const j = first + k * 3;
    if (k > 0) links += ',';
    links += `{"traceId":${q[batch.links[j]!]},"spanId":${q[batch.links[j + 1]!]},"attributes":[],"droppedAttributesCount":0,"flags":${linkFlags(batch.links[j + 2]!)}}`;
  }
  // A trap is the canister's failure, not the replica's; an error status makes it easy to find.
  const status = outcome === 'trapped' ? `{"code":${STATUS_ERROR}}` : '{"code":0}';
  return `{"traceId":${traceId},"spanId":${q[e[o + SLOT.spanId]!]},`
    + (parent === NONE ? '' : `"parentSpanId":${q[parent]},`)
    + `"name":"${SPAN.executeMessage}","kind":${KIND_INTERNAL},`
    + `"startTimeUnixNano":"${millisToNanos(e[o + SLOT.start]!)}","endTimeUnixNano":"${millisToNanos(e[o + SLOT.end]!)}",`
    + `"attributes":[${attributes}],"droppedAttributesCount":0,"events":[],"droppedEventsCount":0,"status":${status},`
    + `"links":[${links}],"droppedLinksCount":0,"flags":${executionFlags(flags)}}`;
}

function span(d: SpanData): string {
  const status = d.status.message === undefined ? `{"code":${d.status.code}}` : `{"code":${d.status.code},"message":${JSON.stringify(d.status.message)}}`;
  return `{"traceId":"${d.context.traceId}","spanId":"${d.context.spanId}",`
    + (d.parent === undefined ? '' : `"parentSpanId":"${d.parent.spanId}",`)
    + `"name":${JSON.stringify(d.name)},"kind":${d.kind + 1},`
    + `"startTimeUnixNano":"${hrTimeToNanos(d.startTime)}","endTimeUnixNano":"${hrTimeToNanos(d.endTime)}",`
    + `"attributes":${attributesJson(d.attributes)},"droppedAttributesCount":${d.dropped[0]},`
    + `"events":[${d.events.map(event).join(',')}],"droppedEventsCount":${d.dropped[1]},"status":${status},`
    + `"links":[${d.links.map(link).join(',')}],"droppedLinksCount":${d.dropped[2]},`
    + `"flags":${flagsOf(d.context, d.parent?.isRemote)}}`;
}

function link(l: Link): string {
  return `{"traceId":"${l.context.traceId}","spanId":"${l.context.spanId}","attributes":${attributesJson(l.attributes ?? {})},`
    + `"droppedAttributesCount":${l.droppedAttributesCount ?? 0},"flags":${flagsOf(l.context, l.context.isRemote)}}`;
}

function event(e: TimedEvent): string {
  return `{"timeUnixNano":"${hrTimeToNanos(e.time)}","name":${JSON.stringify(e.name)},"attributes":${attributesJson(e.attributes ?? {})},`
    + `"droppedAttributesCount":${e.droppedAttributesCount ?? 0}}`;
}

/** OTLP `KeyValue`s as a JSON array. */
export function attributesJson(attributes: Attributes): string {
  const out: string[] = [];
  for (const key of Object.keys(attributes)) {
    const v = attributes[key];
    if (v !== undefined && v !== null) out.push(`{"key":${JSON.stringify(key)},"value":${anyValue(v)}}`);
  }
  return `[${out.join(',')}]`;
}

function anyValue(v: AttributeValue | null | undefined): string {
  switch (typeof v) {
    case 'string': return `{"stringValue":${JSON.stringify(v)}}`;
    case 'boolean': return `{"boolValue":${v}}`;
    case 'number': return Number.isSafeInteger(v) ? `{"intValue":${v}}` : `{"doubleValue":${Number.isFinite(v) ? v : JSON.stringify(String(v))}}`;
    default:
      if (Array.isArray(v)) return `{"arrayValue":{"values":[${(v as (AttributeValue | null | undefined)[]).map(anyValue).join(',')}]}}`;
      return '{}';
  }
}

/** Epoch milliseconds (a float) as decimal nanoseconds: ms·1e6 does not fit a double exactly. */
function millisToNanos(ms: number): string {
  const seconds = Math.floor(ms / 1000);
  return hrTimeToNanos([seconds, Math.round((ms - seconds * 1000) * 1e6)]);
}

function hrTimeToNanos([seconds, nanos]: HrTime): string {
  if (nanos >= 1e9) return hrTimeToNanos([seconds + 1, nanos - 1e9]);
  return seconds === 0 ? String(nanos) : `${seconds}${String(nanos).padStart(9, '0')}`;
}
