// Compact span records: how finished spans travel from the main thread to where they are exported
// (the exporter thread for OTLP, or an exporter in this process). A batch is a few flat arrays
// that a worker's postMessage copies cheaply (numbers in one transferred buffer, strings interned
// per batch), instead of one SDK span object per message held until export.
//
// Message executions arrive as `ExecutionRecord`s written by the RoundTracer (no span object ever
// exists for them on the main thread); the few other spans (rounds, phases, HTTP requests) are
// SDK spans, copied to plain `SpanData` when they end. `readableSpans` turns a batch back into
// the SDK's `ReadableSpan`s for any SDK exporter.

import { SpanKind, SpanStatusCode, TraceFlags, type Attributes, type HrTime, type Link, type SpanContext, type SpanStatus } from '@opentelemetry/api';
import type { InstrumentationScope } from '@opentelemetry/core';
import type { Resource } from '@opentelemetry/resources';
import type { ReadableSpan, TimedEvent } from '@opentelemetry/sdk-trace-base';
import { ATTR, SPAN } from './attributes.js';
import type { ExecutionRecord } from './tracing.js';

/** An SDK span as plain data (structured-cloneable). */
export interface SpanData {
  readonly name: string;
  readonly kind: SpanKind;
  readonly context: SpanContext;
  readonly parent?: SpanContext;
  readonly startTime: HrTime;
  readonly endTime: HrTime;
  readonly status: SpanStatus;
  readonly attributes: Attributes;
  readonly links: readonly Link[];
  readonly events: readonly TimedEvent[];
  readonly scope: InstrumentationScope;
  readonly dropped: readonly [attributes: number, events: number, links: number];
}

/** Finished spans since the last batch. */
export interface SpanBatch {
  /** Execution records, `STRIDE` numbers each (see `SLOT`): string fields are indices into `strings`. */
  readonly executions: Float64Array<ArrayBuffer>;
  readonly executionCount: number;
  readonly strings: readonly string[];
  /** Links of executions: [trace id, span id, trace flags] triples of string indices and flags. */
  readonly links: readonly number[];
  readonly spans: readonly SpanData[];
  /** The instrumentation scope of the executions. */
  readonly scope: InstrumentationScope;
}

/**
 * A batch as it crosses to the exporter thread: its strings joined into one, which a worker's
 * postMessage copies at once (an array of strings is copied string by string).
 */
export interface PackedSpanBatch extends Omit<SpanBatch, 'strings'> {
  readonly text: string;
  readonly lengths: Uint32Array<ArrayBuffer>;
}

export function packBatch(batch: SpanBatch): PackedSpanBatch {
  const { strings, ...rest } = batch;
  const lengths = new Uint32Array(strings.length);
  for (let i = 0; i < strings.length; i++) lengths[i] = strings[i]!.length;
  return { ...rest, text: strings.join(''), lengths };
}

export function unpackBatch(packed: PackedSpanBatch): SpanBatch {
  const { text, lengths, ...rest } = packed;
  const strings: string[] = [];
  let at = 0;
  for (const n of lengths) {
    strings.push(text.slice(at, at + n));
    at += n;
  }
  return { ...rest, strings };
}

/** Slots of one execution record. */
export const SLOT = {
  traceId: 0, spanId: 1, parentSpanId: 2, flags: 3, start: 4, end: 5, canisterId: 6, method: 7, kind: 8,
  messageId: 9, caller: 10, dtsSlice: 11, outcome: 12, instructions: 13, linkStart: 14, linkCount: 15,
} as const;
export const STRIDE = 16;
/** `flags`: the parent is a remote span (a traceparent the message brought); W3C sampled. */
export const PARENT_REMOTE = 1;
export const SAMPLED = 2;
/** An absent optional field. */
export const NONE = -1;

/** Collects finished spans into batches; used by the main thread only. */
export class SpanBatcher {
  private executions = new Float64Array(STRIDE * 256);
  private executionCount = 0;
  private strings: string[] = [];
  private interned = new Map<string, number>();
  /** The string each slot interned last and its index: consecutive executions mostly share them. */
  private readonly lastString: (string | undefined)[] = new Array<string | undefined>(STRIDE).fill(undefined);
  private readonly lastIndex = new Float64Array(STRIDE);
  private links: number[] = [];
  private spans: SpanData[] = [];

  constructor(private readonly scope: InstrumentationScope) {}

  /** Spans held (executions and others). */
  get size(): number {
    return this.executionCount + this.spans.length;
  }

  addExecution(r: ExecutionRecord): void {
    if ((this.executionCount + 1) * STRIDE > this.executions.length) {
      const grown = new Float64Array(this.executions.length * 2);
      grown.set(this.executions);
      this.executions = grown;
    }
    const e = this.executions;
    const o = this.executionCount++ * STRIDE;
    e[o + SLOT.traceId] = this.internAt(SLOT.traceId, r.traceId);
    e[o + SLOT.spanId] = this.strings.push(r.spanId) - 1; // unique: not worth a table lookup
    e[o + SLOT.parentSpanId] = r.parentSpanId === undefined ? NONE : this.internAt(SLOT.parentSpanId, r.parentSpanId);
    e[o + SLOT.flags] = (r.parentRemote ? PARENT_REMOTE : 0) | SAMPLED;
    e[o + SLOT.start] = r.startTime;
    e[o + SLOT.end] = r.endTime;
    e[o + SLOT.canisterId] = this.internAt(SLOT.canisterId, r.canisterId);
    e[o + SLOT.method] = this.internAt(SLOT.method, r.method);
    e[o + SLOT.kind] = r.kind === undefined ? NONE : this.internAt(SLOT.kind, r.kind);
    e[o + SLOT.messageId] = r.messageId === undefined ? NONE : this.strings.push(r.messageId) - 1;
    e[o + SLOT.caller] = r.caller === undefined ? NONE : this.intern(r.caller);
    e[o + SLOT.dtsSlice] = r.dtsSlice ?? NONE;
    e[o + SLOT.outcome] = this.internAt(SLOT.outcome, r.outcome);
    e[o + SLOT.instructions] = r.instructions;
    const links = r.links;
    e[o + SLOT.linkStart] = this.links.length;
    e[o + SLOT.linkCount] = links === undefined ? 0 : links.length;
    if (links !== undefined) {
      for (const l of links) this.links.push(this.intern(l.traceId), this.intern(l.spanId), l.traceFlags);
    }
  }

  addSpan(span: ReadableSpan): void {
    this.spans.push(spanData(span));
  }

  /** The batch of what was added since the last call (undefined if nothing was). */
  take(): SpanBatch | undefined {
    if (this.size === 0) return undefined;
    const batch: SpanBatch = {
      executions: this.executions.slice(0, this.executionCount * STRIDE),
      executionCount: this.executionCount,
      strings: this.strings,
      links: this.links,
      spans: this.spans,
      scope: this.scope,
    };
    this.executionCount = 0;
    this.strings = [];
    this.interned = new Map();
    this.lastString.fill(undefined);
    this.links = [];
    this.spans = [];
    return batch;
  }

  private internAt(slot: number, s: string): number {
    if (this.lastString[slot] === s) return this.lastIndex[slot]!;
    const i = this.intern(s);
    this.lastString[slot] = s;
    this.lastIndex[slot] = i;
    return i;
  }

  private intern(s: string): number {
    let i = this.interned.get(s);
    if (i === undefined) {
      i = this.strings.push(s) - 1;
      this.interned.set(s, i);
    }
    return i;
  }
}

/** The SDK's spans of a batch, for an SDK exporter. */
export function readableSpans(batch: SpanBatch, resource: Resource): ReadableSpan[] {
  const out: ReadableSpan[] = [];
  for (let i = 0; i < batch.executionCount; i++) out.push(executionSpan(batch, i * STRIDE, resource));
  for (const d of batch.spans) {
    out.push(new RecordedSpan(d.name, d.kind, d.context, d.parent, d.startTime, d.endTime, d.status, d.attributes,
      d.links as Link[], d.events as TimedEvent[], resource, d.scope, ...d.dropped));
  }
  return out;
}

// No closures in here: this runs once per span (under tsx every closure costs a defineProperty).
function executionSpan(batch: SpanBatch, o: number, resource: Resource): ReadableSpan {
  const s = batch.strings;
  const e = batch.executions;
  const flags = e[o + SLOT.flags]!;
  const traceId = s[e[o + SLOT.traceId]!]!;
  const traceFlags = flags & SAMPLED ? TraceFlags.SAMPLED : TraceFlags.NONE;
  const parentIndex = e[o + SLOT.parentSpanId]!;
  const parent: SpanContext | undefined = parentIndex === NONE ? undefined
    : { traceId, spanId: s[parentIndex]!, traceFlags, isRemote: (flags & PARENT_REMOTE) !== 0 };
  const attributes: Attributes = { [ATTR.canisterId]: s[e[o + SLOT.canisterId]!]!, [ATTR.messageMethod]: s[e[o + SLOT.method]!]! };
  const kind = e[o + SLOT.kind]!;
  if (kind !== NONE) attributes[ATTR.messageKind] = s[kind]!;
  const messageId = e[o + SLOT.messageId]!;
  if (messageId !== NONE) attributes[ATTR.messageId] = s[messageId]!;
  const caller = e[o + SLOT.caller]!;
  if (caller !== NONE) attributes[ATTR.messageCaller] = s[caller]!;
  const dtsSlice = e[o + SLOT.dtsSlice]!;
  if (dtsSlice !== NONE) attributes[ATTR.dtsSlice] = dtsSlice;
  const outcome = s[e[o + SLOT.outcome]!]!;
  attributes[ATTR.messageOutcome] = outcome;
  attributes[ATTR.messageInstructions] = e[o + SLOT.instructions]!;
  const links: Link[] = [];
  const first = e[o + SLOT.linkStart]!;
  for (let k = 0; k < e[o + SLOT.linkCount]!; k++) {
    const j = first + k * 3;
    links.push({ context: { traceId: s[batch.links[j]!]!, spanId: s[batch.links[j + 1]!]!, traceFlags: batch.links[j + 2]! } });
  }
  // A trap is the canister's failure, not the replica's; an error status makes it easy to find.
  const status: SpanStatus = outcome === 'trapped' ? TRAPPED : UNSET;
  return new RecordedSpan(SPAN.executeMessage, SpanKind.INTERNAL, { traceId, spanId: s[e[o + SLOT.spanId]!]!, traceFlags }, parent,
    millisToHrTime(e[o + SLOT.start]!), millisToHrTime(e[o + SLOT.end]!), status, attributes, links, [], resource, batch.scope, 0, 0, 0);
}

const TRAPPED: SpanStatus = Object.freeze({ code: SpanStatusCode.ERROR });
const UNSET: SpanStatus = Object.freeze({ code: SpanStatusCode.UNSET });

/** A finished span as the SDK's exporters read it. */
class RecordedSpan implements ReadableSpan {
  readonly ended = true;

  constructor(
    readonly name: string,
    readonly kind: SpanKind,
    private readonly context: SpanContext,
    readonly parentSpanContext: SpanContext | undefined,
    readonly startTime: HrTime,
    readonly endTime: HrTime,
    readonly status: SpanStatus,
    readonly attributes: Attributes,
    readonly links: Link[],
    readonly events: TimedEvent[],
    readonly resource: Resource,
    readonly instrumentationScope: InstrumentationScope,
    readonly droppedAttributesCount: number,
    readonly droppedEventsCount: number,
    readonly droppedLinksCount: number,
  ) {}

  spanContext(): SpanContext {
    return this.context;
  }

  get duration(): HrTime {
    const nanos = (this.endTime[0] - this.startTime[0]) * 1e9 + (this.endTime[1] - this.startTime[1]);
    return [Math.floor(nanos / 1e9), nanos % 1e9];
  }
}

function spanData(span: ReadableSpan): SpanData {
  const sc = span.spanContext();
  const p = span.parentSpanContext;
  return {
    name: span.name,
    kind: span.kind,
    // Plain copies: a trace state object does not survive structured cloning.
    context: { traceId: sc.traceId, spanId: sc.spanId, traceFlags: sc.traceFlags },
    ...(p ? { parent: { traceId: p.traceId, spanId: p.spanId, traceFlags: p.traceFlags, isRemote: p.isRemote } } : {}),
    startTime: span.startTime,
    endTime: span.endTime,
    status: span.status,
    attributes: span.attributes,
    links: span.links.map((l) => ({
      context: { traceId: l.context.traceId, spanId: l.context.spanId, traceFlags: l.context.traceFlags, isRemote: l.context.isRemote },
      ...(l.attributes ? { attributes: l.attributes } : {}),
    })),
    events: span.events,
    scope: { name: span.instrumentationScope.name, version: span.instrumentationScope.version, schemaUrl: span.instrumentationScope.schemaUrl },
    dropped: [span.droppedAttributesCount, span.droppedEventsCount, span.droppedLinksCount],
  };
}

/** Epoch milliseconds (a float with sub-millisecond digits) as the SDK's [seconds, nanoseconds]. */
function millisToHrTime(ms: number): HrTime {
  const seconds = Math.floor(ms / 1000);
  const nanos = Math.round((ms - seconds * 1000) * 1e6);
  return nanos >= 1e9 ? [seconds + 1, nanos - 1e9] : [seconds, nanos];
}
