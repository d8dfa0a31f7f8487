// Spans for rounds, phases and message executions, and the W3C trace context that a message
// carries from the HTTP request (or the calling canister, or the sending subnet) into execution.
//
// One trace per round: `round` → phases (`induct`, `iteration`, `route`, `certify`, ...) →
// `execute_message`. A message that carries a traceparent gets its span in the trace of that
// traceparent (the ingress request's, the caller's), with a link to the round phase it ran in, so
// both views connect. Telemetry never changes what a canister sees: nothing here reads or writes
// replicated state.

import {
  context,
  defaultTextMapGetter,
  defaultTextMapSetter,
  INVALID_SPAN_CONTEXT,
  isSpanContextValid,
  ROOT_CONTEXT,
  SpanStatusCode,
  trace,
  TraceFlags,
  type Attributes,
  type Context,
  type Link,
  type Span,
  type SpanContext,
  type SpanKind,
  type TextMapGetter,
  type Tracer,
  type TracerProvider,
} from '@opentelemetry/api';
import { parseTraceParent, TRACE_PARENT_HEADER, W3CTraceContextPropagator } from '@opentelemetry/core';
import { ATTR, SPAN, type MessageKind, type MessageOutcome, type PhaseName, type SpanName } from './attributes.js';

export const TRACER_NAME = '@icpk/replica';
export { TRACE_PARENT_HEADER };

const w3c = new W3CTraceContextPropagator();
/**
 * The provider property (set by `setupTelemetry`) through which the RoundTracer hands message
 * executions over as records instead of SDK spans.
 */
export const EXECUTION_SINK = Symbol.for('icpk.telemetry.executionSink');

/** One message execution, reported after the fact: the `execute_message` span without a span object. */
export interface ExecutionRecord {
  traceId: string;
  spanId: string;
  parentSpanId: string | undefined;
  /** The parent is the span named by the message's traceparent (the sender's), not a phase. */
  parentRemote: boolean;
  links: readonly SpanContext[] | undefined;
  /** Epoch milliseconds, with sub-millisecond digits. */
  startTime: number;
  endTime: number;
  canisterId: string;
  method: string;
  kind: MessageKind | undefined;
  messageId: string | undefined;
  caller: string | undefined;
  dtsSlice: number | undefined;
  outcome: MessageOutcome;
  instructions: number;
}

/** Where execution records go (the SDK set up by `setupTelemetry`); only sampled ones are given. */
export interface ExecutionSink {
  newSpanId(): string;
  /** Copies the record: the caller reuses it. */
  addExecution(record: Readonly<ExecutionRecord>): void;
}

/** The span handed to callbacks when no SDK is installed: records nothing, costs nothing. */
const NOOP_SPAN: Span = trace.wrapSpanContext(INVALID_SPAN_CONTEXT);

// ---------------------------------------------------------------------------------------------
// W3C traceparent: into a message, out of a message.

/** Something that prints as a principal's text form; converted only when a span records. */
export interface Textual { toText(): string }

/** Headers as node:http gives them, or a `get`-style map (NATS `MsgHdrs`, fetch `Headers`). */
export type HeaderSource =
  | Readonly<Record<string, string | readonly string[] | undefined>>
  | { get(name: string): string | null | undefined };

/** A `set`-style header map (NATS `MsgHdrs`, fetch `Headers`) or a plain record. */
export type HeaderTarget = { set(name: string, value: string): void } | Record<string, string>;

/** The W3C traceparent of a span or context (default: the active one); undefined if it has none. */
export function traceparentOf(source: Span | Context = context.active()): string | undefined {
  const sc = isSpan(source) ? source.spanContext() : trace.getSpanContext(source);
  if (!sc || !isSpanContextValid(sc)) return undefined;
  const carrier: Record<string, string> = {};
  w3c.inject(trace.setSpanContext(ROOT_CONTEXT, sc), carrier, defaultTextMapSetter);
  return carrier[TRACE_PARENT_HEADER];
}

/**
 * The traceparent of an incoming request (HTTP headers, NATS headers), validated and normalised,
 * or undefined when absent or malformed. What a client sends is untrusted: only a well-formed
 * value (55 characters) is ever stored on a message.
 */
export function traceparentFromHeaders(headers: HeaderSource): string | undefined {
  const getter = hasGet(headers) ? getGetter : defaultTextMapGetter;
  return traceparentOf(w3c.extract(ROOT_CONTEXT, headers, getter as TextMapGetter));
}

/** Sets `traceparent` on outgoing headers (NATS publish of an XNet slice, an HTTP request). */
export function injectTraceparent(headers: HeaderTarget, traceparent: string | undefined): void {
  if (traceparent === undefined) return;
  const ctx = contextFromTraceparent(traceparent);
  if (hasSet(headers)) w3c.inject(ctx, headers, { set: (h, k, v) => h.set(k, v) });
  else w3c.inject(ctx, headers, defaultTextMapSetter);
}

/** A context whose span is the remote span named by `traceparent`; `base` when it is malformed. */
export function contextFromTraceparent(traceparent: string, base: Context = ROOT_CONTEXT): Context {
  return w3c.extract(base, { [TRACE_PARENT_HEADER]: traceparent }, defaultTextMapGetter);
}

/** A span link to the span named by `traceparent` (e.g. caller → callee), or undefined. */
export function linkTo(traceparent: string | undefined, attributes?: Attributes): Link | undefined {
  if (traceparent === undefined) return undefined;
  const sc = parseTraceParent(traceparent);
  return sc && isSpanContextValid(sc) ? { context: sc, attributes } : undefined;
}

// ---------------------------------------------------------------------------------------------
// Spans.

export interface SpanOptions {
  readonly attributes?: Attributes;
  /** Parent by W3C traceparent (e.g. from request headers); the active context otherwise. */
  readonly traceparent?: string;
  readonly links?: readonly (string | Link | undefined)[];
  readonly kind?: SpanKind;
}

/** Runs `fn` in a new active span that ends when `fn` returns or its promise settles. */
export function withSpan<T>(tracer: Tracer, name: SpanName | string, fn: (span: Span) => T, options: SpanOptions = {}, parent: Context = context.active()): T {
  const remote = options.traceparent === undefined ? undefined : contextFromTraceparent(options.traceparent, parent);
  const span = tracer.startSpan(name, { attributes: options.attributes, links: toLinks(options.links), kind: options.kind }, remote ?? parent);
  return runInSpan(span, trace.setSpan(remote ?? parent, span), fn);
}

/** Marks `span` failed with the exception: what an exception out of a phase means. */
export function recordError(span: Span, error: unknown): void {
  if (!span.isRecording()) return;
  if (error instanceof Error) span.recordException(error);
  span.setStatus({ code: SpanStatusCode.ERROR, message: error instanceof Error ? error.message : String(error) });
}

function runInSpan<T>(span: Span, ctx: Context, fn: (span: Span) => T, onEnd?: () => void): T {
  return context.with(ctx, () => {
    let result: T;
    try {
      result = fn(span);
    } catch (e) {
      recordError(span, e);
      span.end();
      onEnd?.();
      throw e;
    }
    if (!isPromiseLike(result)) {
      span.end();
      onEnd?.();
      return result;
    }
    return Promise.resolve(result).then(
      (value) => { span.end(); onEnd?.(); return value; },
      (e: unknown) => { recordError(span, e); span.end(); onEnd?.(); throw e; },
    ) as T;
  });
}

// ---------------------------------------------------------------------------------------------
// Rounds.

/** What identifies one message execution; converted to span attributes only when recorded. */
export interface MessageAttributes {
  readonly canisterId: string | Textual;
  readonly method: string;
  readonly kind?: MessageKind;
  /** Hex request id of an ingress message. */
  readonly messageId?: string;
  readonly caller?: string | Textual;
  /** DTS slice index: 0 for a fresh execution, n for the n-th resumption. */
  readonly dtsSlice?: number;
}

/** How a message execution ended; see `recordMessageResult`. */
export interface MessageResult {
  readonly outcome: MessageOutcome;
  readonly instructions: bigint | number;
  /** Cycles charged for the execution (after the refund). */
  readonly cycles?: bigint | number;
  /** Trap or reject message: the span's status message for `trapped`. */
  readonly message?: string;
}

/** The trace context a message brings with it. */
export interface MessageTrace {
  /** The sender's span: the ingress HTTP request, the calling canister's execution, ... */
  readonly traceparent?: string;
  /** Related spans that are not the parent, e.g. the callee's execution for a response. */
  readonly links?: readonly (string | undefined)[];
}

export interface RoundSummaryAttributes {
  readonly instructions?: bigint | number;
  readonly messages?: number;
  readonly workLeft?: boolean;
}

/** One open round: its span and the context its phases start from. */
export interface OpenRound {
  readonly height: bigint;
  readonly span: Span;
  /** The round's traceparent (undefined with telemetry off). */
  readonly traceparent: string | undefined;
  /** Sets the round's result attributes (instructions, messages, work left). */
  summarize(summary: RoundSummaryAttributes): void;
  /** Ends the round span; later calls do nothing. */
  end(summary?: RoundSummaryAttributes): void;
}

interface RoundState {
  readonly span: Span;
  readonly ctx: Context;
  readonly traceId: string;
  /** No SDK installed: every phase and message takes the free path. */
  readonly noop: boolean;
  /** Open phases, innermost last: the parent of a message when the active context has lost the round. */
  readonly phases: OpenPhase[];
  ended: boolean;
}

interface OpenPhase {
  readonly ctx: Context;
  readonly span: SpanContext;
  /** [span]: the link of an execution whose parent is remote (made once per phase). */
  readonly asLink: readonly SpanContext[];
}

/**
 * The spans of a replica's rounds. One instance per replica, used by the main thread, which owns
 * the round. It remembers the open round and phase, so a message started from a context that
 * lost the round (a worker's 'message' event, a timer) still lands in the right place.
 */
export class RoundTracer {
  private readonly tracer: Tracer;
  private readonly sink: ExecutionSink | undefined;
  private current: RoundState | undefined;
  /** Date.now() - performance.now() when the open round started: turns execution times into epoch times. */
  private epochOffset = 0;
  /** Reused for every execution record (the sink copies it). */
  private readonly record: ExecutionRecord = {
    traceId: '', spanId: '', parentSpanId: undefined, parentRemote: false, links: undefined, startTime: 0, endTime: 0,
    canisterId: '', method: '', kind: undefined, messageId: undefined, caller: undefined, dtsSlice: undefined,
    outcome: 'completed', instructions: 0,
  };

  constructor(provider: TracerProvider = trace.getTracerProvider()) {
    this.tracer = provider.getTracer(TRACER_NAME);
    this.sink = sinkOf(provider);
  }

  /**
   * Whether executions are traced (an SDK is installed): only then does the scheduler take their
   * times and call `execution`. Otherwise a message's traceparent passes through unchanged.
   */
  get tracing(): boolean {
    const round = this.current;
    return round === undefined ? this.sink !== undefined : !round.noop;
  }

  /** The clock of execution start times (`performance.now()`): telemetry only, never state. */
  now(): number {
    return performance.now();
  }

  /**
   * Records a message execution (or one DTS slice of it) that started at `startTime` (from
   * `now()`) and ends now, as an `execute_message` span: a child of the message's `traceparent`
   * (the sender's span) when it has one, linked to the current phase, else a child of the current
   * phase. Returns the traceparent its outgoing calls carry (its own, or, when it is not sampled,
   * its parent's so that callees are not sampled either).
   */
  execution(attrs: MessageAttributes, result: MessageResult, startTime: number, traceparent?: string): string | undefined {
    const round = this.current;
    const sink = this.sink;
    if (sink === undefined || round === undefined || round.ended) return this.executionSpan(attrs, result, startTime, traceparent);
    const phase = round.phases[round.phases.length - 1];
    let parent: SpanContext | undefined = phase?.span ?? round.span.spanContext();
    let remote = false;
    if (traceparent !== undefined) {
      const sc = parseTraceParent(traceparent);
      if (sc && isSpanContextValid(sc)) {
        parent = sc;
        remote = true;
      }
    }
    // Parent-based sampling, as the SDK's sampler decides it.
    if ((parent.traceFlags & TraceFlags.SAMPLED) === 0) return remote ? traceparent : traceparentOfContext(parent);
    const r = this.record;
    r.traceId = parent.traceId;
    r.spanId = sink.newSpanId();
    r.parentSpanId = parent.spanId;
    r.parentRemote = remote;
    r.links = remote ? phase?.asLink ?? [round.span.spanContext()] : undefined;
    r.startTime = startTime + this.epochOffset;
    r.endTime = performance.now() + this.epochOffset;
    r.canisterId = text(attrs.canisterId);
    r.method = attrs.method;
    r.kind = attrs.kind;
    r.messageId = attrs.messageId;
    r.caller = attrs.caller === undefined ? undefined : text(attrs.caller);
    r.dtsSlice = attrs.dtsSlice;
    r.outcome = result.outcome;
    r.instructions = Number(result.instructions);
    sink.addExecution(r);
    return `00-${r.traceId}-${r.spanId}-01`;
  }

  /** `execution` through the tracer's API (a provider not set up here, or no open round). */
  private executionSpan(attrs: MessageAttributes, result: MessageResult, startTime: number, traceparent: string | undefined): string | undefined {
    const { span } = this.openMessage(attrs, { traceparent }, startTime);
    recordMessageResult(span, result);
    const out = traceparentOf(span);
    span.end();
    return out;
  }

  /** Opens the span of round `height`, a new trace. Prefer `round()`, which also ends it. */
  startRound(height: bigint | number, attributes?: Attributes): OpenRound {
    if (this.current && !this.current.ended) {
      this.current.span.setStatus({ code: SpanStatusCode.ERROR, message: 'round not ended before the next one started' });
      this.finish(this.current);
    }
    const span = this.tracer.startSpan(SPAN.round, { root: true }, ROOT_CONTEXT);
    const sc = span.spanContext();
    const h = BigInt(height);
    if (span.isRecording()) span.setAttributes({ ...attributes, [ATTR.roundHeight]: Number(h) });
    const state: RoundState = {
      span, ctx: trace.setSpan(ROOT_CONTEXT, span), traceId: sc.traceId,
      noop: !isSpanContextValid(sc), phases: [], ended: false,
    };
    this.current = state;
    if (!state.noop) this.epochOffset = Date.now() - performance.now();
    return {
      height: h,
      span,
      traceparent: traceparentOf(span),
      summarize: (summary) => {
        if (span.isRecording()) span.setAttributes(summaryAttributes(summary));
      },
      end: (summary) => {
        if (summary && !state.ended && span.isRecording()) span.setAttributes(summaryAttributes(summary));
        this.finish(state);
      },
    };
  }

  /** Runs `fn` as round `height`: the round span is active inside and ends when `fn` settles. */
  round<T>(height: bigint | number, fn: (round: OpenRound) => T, attributes?: Attributes): T {
    const round = this.startRound(height, attributes);
    const run = (): T => {
      let result: T;
      try {
        result = fn(round);
      } catch (e) {
        recordError(round.span, e);
        round.end();
        throw e;
      }
      if (!isPromiseLike(result)) {
        round.end();
        return result;
      }
      return Promise.resolve(result).then(
        (value) => { round.end(); return value; },
        (e: unknown) => { recordError(round.span, e); round.end(); throw e; },
      ) as T;
    };
    const state = this.current!;
    return state.noop ? run() : context.with(state.ctx, run);
  }

  /** Runs `fn` in a phase span (`induct`, `iteration`, `route`, `certify`, ...) of the open round. */
  phase<T>(name: PhaseName, fn: (span: Span) => T, attributes?: Attributes): T {
    const round = this.current;
    if (round?.noop) return fn(NOOP_SPAN);
    const parent = this.parentContext();
    const span = this.tracer.startSpan(name, { attributes }, parent);
    const ctx = trace.setSpan(parent, span);
    if (!round) return runInSpan(span, ctx, fn);
    const sc = span.spanContext();
    const open: OpenPhase = { ctx, span: sc, asLink: [sc] };
    round.phases.push(open);
    return runInSpan(span, ctx, fn, () => {
      const i = round.phases.lastIndexOf(open);
      if (i >= 0) round.phases.splice(i, 1);
    });
  }

  /**
   * Runs `fn` in an `execute_message` span. Its parent is the message's traceparent when it has
   * one (linked to the current phase), else the current phase. Pass the span to
   * `recordMessageResult` and stamp outgoing messages with `traceparentOf(span)`. In a round
   * that is not sampled, a message without a traceparent gets no span: `fn` receives the phase's.
   */
  message<T>(attrs: MessageAttributes, fn: (span: Span) => T, carrier?: MessageTrace): T {
    const { span, ctx } = this.openMessage(attrs, carrier);
    return ctx === undefined ? fn(span) : runInSpan(span, ctx, fn);
  }

  /**
   * Opens an `execute_message` span (parented like `message`) for an execution that starts
   * and ends in different places, e.g. dispatched to a worker and committed when its outcome is
   * decided. End it with `endMessage`; `withActiveSpan` makes it active for logs in between.
   */
  startMessage(attrs: MessageAttributes, carrier?: MessageTrace): Span {
    return this.openMessage(attrs, carrier).span;
  }

  /** The span of a message, and the context to run it in (none: no span of its own, run as is). */
  private openMessage(attrs: MessageAttributes, carrier: MessageTrace | undefined, startTime?: number): { span: Span; ctx?: Context } {
    const traceparent = carrier?.traceparent;
    if (this.current?.noop) {
      // No SDK: still hand the sender's context through, so outgoing messages keep the trace.
      return { span: traceparent === undefined ? NOOP_SPAN : passThrough(traceparent) };
    }
    const local = this.parentContext();
    if (traceparent === undefined && carrier?.links === undefined) {
      // An unsampled round samples none of its messages (parent-based sampling): skip the SDK.
      const phase = trace.getSpan(local);
      if (phase && !phase.isRecording()) return { span: phase };
    }
    const remote = traceparent === undefined ? undefined : contextFromTraceparent(traceparent, local);
    const parent = remote ?? local; // a malformed traceparent leaves `local`
    let links: Link[] | undefined = toLinks(carrier?.links);
    if (parent !== local) {
      const phase = trace.getSpanContext(local);
      if (phase && isSpanContextValid(phase)) (links ??= []).push({ context: phase });
    }
    const span = this.tracer.startSpan(SPAN.executeMessage, { links, startTime }, parent);
    if (span.isRecording()) setMessageAttributes(span, attrs);
    return { span, ctx: trace.setSpan(parent, span) };
  }

  /**
   * Any span outside the round's phases (HTTP request, query, XNet slice received from NATS): its
   * parent is `options.traceparent` or the active context, never the open round.
   */
  span<T>(name: SpanName | string, fn: (span: Span) => T, options?: SpanOptions): T {
    return withSpan(this.tracer, name, fn, options);
  }

  private parentContext(): Context {
    const active = context.active();
    const round = this.current;
    if (!round || round.ended) return active;
    if (trace.getSpanContext(active)?.traceId === round.traceId) return active;
    return round.phases[round.phases.length - 1]?.ctx ?? round.ctx;
  }

  private finish(state: RoundState): void {
    if (state.ended) return;
    state.ended = true;
    state.span.end();
    if (this.current === state) this.current = undefined;
  }
}

/** Records how a message execution ended and ends the span from `startMessage`. */
export function endMessage(span: Span, result: MessageResult): void {
  recordMessageResult(span, result);
  span.end(); // a no-op on the phase's or a pass-through span handed out instead of a new one
}

/** Runs `fn` with `span` active (log lines carry its ids; spans started inside are its children). */
export function withActiveSpan<T>(span: Span, fn: () => T): T {
  return context.with(trace.setSpan(context.active(), span), fn);
}

/** Records how a message execution ended on its span. */
export function recordMessageResult(span: Span, result: MessageResult): void {
  if (!span.isRecording()) return;
  span.setAttribute(ATTR.messageOutcome, result.outcome);
  span.setAttribute(ATTR.messageInstructions, Number(result.instructions));
  if (result.cycles !== undefined) span.setAttribute(ATTR.messageCycles, Number(result.cycles));
  // A trap is the canister's failure, not the replica's; an error status makes it easy to find.
  if (result.outcome === 'trapped') span.setStatus({ code: SpanStatusCode.ERROR, message: result.message });
}

// ---------------------------------------------------------------------------------------------

function setMessageAttributes(span: Span, a: MessageAttributes): void {
  span.setAttribute(ATTR.canisterId, text(a.canisterId));
  span.setAttribute(ATTR.messageMethod, a.method);
  if (a.kind !== undefined) span.setAttribute(ATTR.messageKind, a.kind);
  if (a.messageId !== undefined) span.setAttribute(ATTR.messageId, a.messageId);
  if (a.caller !== undefined) span.setAttribute(ATTR.messageCaller, text(a.caller));
  if (a.dtsSlice !== undefined) span.setAttribute(ATTR.dtsSlice, a.dtsSlice);
}

function summaryAttributes(s: RoundSummaryAttributes): Attributes {
  const out: Attributes = {};
  if (s.instructions !== undefined) out[ATTR.roundInstructions] = Number(s.instructions);
  if (s.messages !== undefined) out[ATTR.roundMessages] = s.messages;
  if (s.workLeft !== undefined) out[ATTR.roundWorkLeft] = s.workLeft;
  return out;
}

function text(x: string | Textual): string {
  return typeof x === 'string' ? x : x.toText();
}

function toLinks(links: readonly (string | Link | undefined)[] | undefined): Link[] | undefined {
  if (!links || links.length === 0) return undefined;
  const out: Link[] = [];
  for (const l of links) {
    const link = typeof l === 'string' ? linkTo(l) : l;
    if (link) out.push(link);
  }
  return out.length > 0 ? out : undefined;
}

function sinkOf(provider: TracerProvider): ExecutionSink | undefined {
  type WithSink = { [EXECUTION_SINK]?: ExecutionSink; getDelegate?: () => TracerProvider };
  const p = provider as WithSink;
  return p[EXECUTION_SINK] ?? (p.getDelegate?.() as WithSink | undefined)?.[EXECUTION_SINK];
}

/** The W3C traceparent of a span context. */
function traceparentOfContext(sc: SpanContext): string {
  return `00-${sc.traceId}-${sc.spanId}-0${sc.traceFlags & TraceFlags.SAMPLED}`;
}

function passThrough(traceparent: string): Span {
  const sc: SpanContext | null = parseTraceParent(traceparent);
  return sc && isSpanContextValid(sc) ? trace.wrapSpanContext(sc) : NOOP_SPAN;
}

function isSpan(x: Span | Context): x is Span {
  return typeof (x as Span).spanContext === 'function';
}

function isPromiseLike<T>(x: T | PromiseLike<T>): x is PromiseLike<T> {
  return typeof (x as { then?: unknown } | null)?.then === 'function';
}

function hasGet(h: HeaderSource): h is { get(name: string): string | null | undefined } {
  return typeof (h as { get?: unknown }).get === 'function';
}

function hasSet(h: HeaderTarget): h is { set(name: string, value: string): void } {
  return typeof (h as { set?: unknown }).set === 'function';
}

const getGetter: TextMapGetter<{ get(name: string): string | null | undefined }> = {
  get: (h, key) => h.get(key) || undefined, // NATS answers '' for an absent header
  keys: () => [],
};
