// OTLP/HTTP protobuf (ExportTraceServiceRequest of opentelemetry-proto, trace/v1/trace.proto):
// the same request as otlp-json.ts, written as protobuf straight from a span batch into one
// growable buffer, on the exporter thread: less than half the JSON's bytes (an execution ~350
// bytes against ~800), well under half its encoding time, and OTLP's default protocol. Nested
// messages reserve their length's bytes and backfill them (moving the message when its length
// needs another size), so the output is canonical: minimal lengths, fields in number order,
// proto3 defaults left out (except in `AnyValue`'s oneof, where a set zero counts).

import type { Attributes, AttributeValue, Link } from '@opentelemetry/api';
import type { TimedEvent } from '@opentelemetry/sdk-trace-base';
import { ATTR, SPAN } from './attributes.js';
import { executionFlags, flagsOf, KIND_INTERNAL, linkFlags, scopeGroups, STATUS_ERROR } from './otlp-common.js';
import { NONE, SLOT, STRIDE, type SpanBatch, type SpanData } from './span-records.js';
import { grown, newBytes, uleb128Size } from '../bytes.js';

/** Wire types. */
const VARINT = 0;
const FIXED64 = 1;
const LEN = 2;
const FIXED32 = 5;

/** Field numbers (opentelemetry-proto: collector/trace/v1, trace/v1, common/v1, resource/v1). */
const REQUEST_RESOURCE_SPANS = 1;
const RESOURCE_SPANS = { resource: 1, scopeSpans: 2 } as const;
const RESOURCE = { attributes: 1 } as const;
const SCOPE_SPANS = { scope: 1, spans: 2, schemaUrl: 3 } as const;
const SCOPE = { name: 1, version: 2 } as const;
const SPAN_FIELD = {
  traceId: 1, spanId: 2, parentSpanId: 4, name: 5, kind: 6, startTime: 7, endTime: 8, attributes: 9, droppedAttributes: 10,
  events: 11, droppedEvents: 12, links: 13, droppedLinks: 14, status: 15, flags: 16,
} as const;
const EVENT = { time: 1, name: 2, attributes: 3, droppedAttributes: 4 } as const;
const LINK = { traceId: 1, spanId: 2, attributes: 4, droppedAttributes: 5, flags: 6 } as const;
const STATUS = { message: 2, code: 3 } as const;
const KEY_VALUE = { key: 1, value: 2 } as const;
const ANY = { string: 1, bool: 2, int: 3, double: 4, array: 5 } as const;
const ARRAY_VALUES = 1;

/**
 * The request body for `batch`, or for its executions `from` to `to` (and its SDK spans if
 * `withSpans`); `resource` is the encoded `Resource` message's content (`resourceProtobuf`).
 */
export function exportTraceRequestProtobuf(
  batch: SpanBatch, resource: Uint8Array, from = 0, to = batch.executionCount, withSpans = true,
): Uint8Array {
  // An execution takes ~350-450 bytes: one allocation for most requests.
  const w = new ProtoWriter(1024 + 384 * Math.max(0, to - from) + 1024 * (withSpans ? batch.spans.length : 0));
  const strings = to > from ? stringBytes(batch) : undefined;
  const rs = w.begin(REQUEST_RESOURCE_SPANS, 3);
  w.tag(RESOURCE_SPANS.resource, LEN);
  w.varint(resource.length);
  w.raw(resource);
  for (const { scope, executions, spans } of scopeGroups(batch, to > from, withSpans)) {
    const ss = w.begin(RESOURCE_SPANS.scopeSpans, 3);
    const sc = w.begin(SCOPE_SPANS.scope, 1);
    w.string(SCOPE.name, scope.name);
    if (scope.version !== undefined) w.string(SCOPE.version, scope.version);
    w.end(sc, 1);
    if (executions) for (let i = from; i < to; i++) execution(w, batch, strings!, i * STRIDE);
    for (const d of spans) span(w, d);
    if (scope.schemaUrl !== undefined) w.string(SCOPE_SPANS.schemaUrl, scope.schemaUrl);
    w.end(ss, 3);
  }
  w.end(rs, 3);
  return w.bytes();
}

/** A `Resource` message's content (its attributes), encoded once per exporter. */
export function resourceProtobuf(attributes: Attributes): Uint8Array {
  const w = new ProtoWriter(256);
  writeAttributes(w, RESOURCE.attributes, attributes);
  return new Uint8Array(w.bytes()); // a plain array, as every other source of bytes here
}

const UTF8 = new TextEncoder();

/** The keys of execution attributes as `KeyValue` key fields (tag, length, UTF-8), made once. */
const KEY = {
  canisterId: keyField(ATTR.canisterId), method: keyField(ATTR.messageMethod), kind: keyField(ATTR.messageKind),
  messageId: keyField(ATTR.messageId), caller: keyField(ATTR.messageCaller), dtsSlice: keyField(ATTR.dtsSlice),
  outcome: keyField(ATTR.messageOutcome), instructions: keyField(ATTR.messageInstructions),
};
const EXECUTE_MESSAGE = UTF8.encode(SPAN.executeMessage);

/** Our attribute names are short: a one-byte length. */
function keyField(key: string): Uint8Array {
  const utf8 = UTF8.encode(key);
  return Uint8Array.of(KEY_VALUE.key * 8 + LEN, utf8.length, ...utf8);
}

/**
 * A batch's strings as UTF-8 (one buffer, offsets per string) and, for those used as ids, as the
 * bytes their hex spells: made once for all the requests of a batch.
 */
interface StringBytes {
  readonly utf8: Uint8Array;
  /** Offsets into `utf8`: string i is [at[i], at[i + 1]). */
  readonly at: Uint32Array;
  /** Ids decoded so far (`idAt[i]` is string i's offset in `ids`, -1 if not yet decoded). */
  ids: Uint8Array;
  idsEnd: number;
  readonly idAt: Int32Array;
  readonly idLength: Uint32Array;
}

const bytesOf = new WeakMap<SpanBatch, StringBytes>();
function stringBytes(batch: SpanBatch): StringBytes {
  let b = bytesOf.get(batch);
  if (b !== undefined) return b;
  const strings = batch.strings;
  const text = strings.join('');
  const utf8 = UTF8.encode(text);
  const at = new Uint32Array(strings.length + 1);
  // All ASCII (the usual case): byte offsets are character offsets.
  const ascii = utf8.length === text.length;
  for (let i = 0; i < strings.length; i++) at[i + 1] = at[i]! + (ascii ? strings[i]!.length : Buffer.byteLength(strings[i]!, 'utf8'));
  const n = strings.length;
  b = { utf8, at, ids: new Uint8Array(Math.max(16, n * 16)), idsEnd: 0, idAt: new Int32Array(n).fill(-1), idLength: new Uint32Array(n) };
  bytesOf.set(batch, b);
  return b;
}

/** Where string `i`'s id bytes are in `b.ids` (decoded from its hex on first use). */
function idOffset(b: StringBytes, strings: readonly string[], i: number): number {
  let o = b.idAt[i]!;
  if (o >= 0) return o;
  const hex = strings[i]!;
  const n = hex.length >> 1;
  if (b.idsEnd + n > b.ids.length) b.ids = grown(b.ids, b.idsEnd, n, newBytes);
  o = b.idsEnd;
  // Decoded here rather than by Buffer#write: a call into C++ costs more than 16 characters.
  const ids = b.ids;
  let k = 0;
  for (; k < n; k++) {
    const hi = HEX[hex.charCodeAt(2 * k)] ?? 16;
    const lo = HEX[hex.charCodeAt(2 * k + 1)] ?? 16;
    if (hi > 15 || lo > 15) break; // not hex: the bytes before it, as Buffer.from(hex, 'hex') does
    ids[o + k] = (hi << 4) | lo;
  }
  b.idAt[i] = o;
  b.idLength[i] = k;
  b.idsEnd += k;
  return o;
}

/** Hex digits' values by character code (16: not a hex digit). */
const HEX = new Uint8Array(128).fill(16);
for (let d = 0; d < 16; d++) {
  HEX['0123456789abcdef'.charCodeAt(d)] = d;
  HEX['0123456789ABCDEF'.charCodeAt(d)] = d;
}

/** One execution record (as otlp-json.ts's `execution`). */
function execution(w: ProtoWriter, batch: SpanBatch, b: StringBytes, o: number): void {
  const e = batch.executions;
  const s = batch.strings;
  const flags = e[o + SLOT.flags]!;
  const sp = w.begin(SCOPE_SPANS.spans, 2);
  idField(w, b, s, SPAN_FIELD.traceId, e[o + SLOT.traceId]!);
  idField(w, b, s, SPAN_FIELD.spanId, e[o + SLOT.spanId]!);
  const parent = e[o + SLOT.parentSpanId]!;
  if (parent !== NONE) idField(w, b, s, SPAN_FIELD.parentSpanId, parent);
  w.tag(SPAN_FIELD.name, LEN);
  w.varint(EXECUTE_MESSAGE.length);
  w.raw(EXECUTE_MESSAGE);
  w.tag(SPAN_FIELD.kind, VARINT);
  w.varint(KIND_INTERNAL);
  w.tag(SPAN_FIELD.startTime, FIXED64);
  w.millisAsNanos(e[o + SLOT.start]!);
  w.tag(SPAN_FIELD.endTime, FIXED64);
  w.millisAsNanos(e[o + SLOT.end]!);
  stringAttribute(w, b, KEY.canisterId, e[o + SLOT.canisterId]!);
  stringAttribute(w, b, KEY.method, e[o + SLOT.method]!);
  if (e[o + SLOT.kind] !== NONE) stringAttribute(w, b, KEY.kind, e[o + SLOT.kind]!);
  if (e[o + SLOT.messageId] !== NONE) stringAttribute(w, b, KEY.messageId, e[o + SLOT.messageId]!);
  if (e[o + SLOT.caller] !== NONE) stringAttribute(w, b, KEY.caller, e[o + SLOT.caller]!);
  if (e[o + SLOT.dtsSlice] !== NONE) intAttribute(w, KEY.dtsSlice, e[o + SLOT.dtsSlice]!);
  const outcome = s[e[o + SLOT.outcome]!];
  stringAttribute(w, b, KEY.outcome, e[o + SLOT.outcome]!);
  intAttribute(w, KEY.instructions, e[o + SLOT.instructions]!);
  const first = e[o + SLOT.linkStart]!;
  for (let k = 0; k < e[o + SLOT.linkCount]!; k++) {
    const j = first + k * 3;
    const l = w.begin(SPAN_FIELD.links, 1);
    idField(w, b, s, LINK.traceId, batch.links[j]!);
    idField(w, b, s, LINK.spanId, batch.links[j + 1]!);
    w.tag(LINK.flags, FIXED32);
    w.fixed32(linkFlags(batch.links[j + 2]!));
    w.end(l, 1);
  }
  // A trap is the canister's failure, not the replica's; an error status makes it easy to find.
  if (outcome === 'trapped') {
    w.tag(SPAN_FIELD.status, LEN);
    w.varint(2);
    w.tag(STATUS.code, VARINT);
    w.varint(STATUS_ERROR);
  }
  w.tag(SPAN_FIELD.flags, FIXED32);
  w.fixed32(executionFlags(flags));
  w.end(sp, 2);
}

function idField(w: ProtoWriter, b: StringBytes, strings: readonly string[], field: number, i: number): void {
  const o = idOffset(b, strings, i);
  const n = b.idLength[i]!;
  if (n === 0) return;
  w.tag(field, LEN);
  w.varint(n);
  w.copy(b.ids, o, o + n);
}

/** A `KeyValue` (span field 9) with a string of the batch as its value. */
function stringAttribute(w: ProtoWriter, b: StringBytes, key: Uint8Array, i: number): void {
  const n = b.at[i + 1]! - b.at[i]!;
  const any = 1 + uleb128Size(n) + n;
  w.tag(SPAN_FIELD.attributes, LEN);
  w.varint(key.length + 1 + uleb128Size(any) + any);
  w.raw(key);
  w.tag(KEY_VALUE.value, LEN);
  w.varint(any);
  w.tag(ANY.string, LEN);
  w.varint(n);
  w.copy(b.utf8, b.at[i]!, b.at[i + 1]!);
}

/** A `KeyValue` (span field 9) with an integer value. */
function intAttribute(w: ProtoWriter, key: Uint8Array, v: number): void {
  const kv = w.begin(SPAN_FIELD.attributes, 1);
  w.raw(key);
  const any = w.begin(KEY_VALUE.value, 1);
  w.tag(ANY.int, VARINT);
  w.int64(v);
  w.end(any, 1);
  w.end(kv, 1);
}

/** An SDK span (as otlp-json.ts's `span`). */
function span(w: ProtoWriter, d: SpanData): void {
  const sp = w.begin(SCOPE_SPANS.spans, 2);
  w.hex(SPAN_FIELD.traceId, d.context.traceId);
  w.hex(SPAN_FIELD.spanId, d.context.spanId);
  if (d.parent !== undefined) w.hex(SPAN_FIELD.parentSpanId, d.parent.spanId);
  w.string(SPAN_FIELD.name, d.name);
  w.tag(SPAN_FIELD.kind, VARINT);
  w.varint(d.kind + 1);
  w.tag(SPAN_FIELD.startTime, FIXED64);
  w.nanos(d.startTime[0], d.startTime[1]);
  w.tag(SPAN_FIELD.endTime, FIXED64);
  w.nanos(d.endTime[0], d.endTime[1]);
  writeAttributes(w, SPAN_FIELD.attributes, d.attributes);
  w.uint(SPAN_FIELD.droppedAttributes, d.dropped[0]);
  for (const e of d.events) event(w, e);
  w.uint(SPAN_FIELD.droppedEvents, d.dropped[1]);
  for (const l of d.links) link(w, l);
  w.uint(SPAN_FIELD.droppedLinks, d.dropped[2]);
  if (d.status.code !== 0 || (d.status.message ?? '') !== '') {
    const st = w.begin(SPAN_FIELD.status, 1);
    if (d.status.message !== undefined) w.string(STATUS.message, d.status.message);
    w.uint(STATUS.code, d.status.code);
    w.end(st, 1);
  }
  w.tag(SPAN_FIELD.flags, FIXED32);
  w.fixed32(flagsOf(d.context, d.parent?.isRemote));
  w.end(sp, 2);
}

function link(w: ProtoWriter, l: Link): void {
  const at = w.begin(SPAN_FIELD.links, 1);
  w.hex(LINK.traceId, l.context.traceId);
  w.hex(LINK.spanId, l.context.spanId);
  writeAttributes(w, LINK.attributes, l.attributes ?? {});
  w.uint(LINK.droppedAttributes, l.droppedAttributesCount ?? 0);
  w.tag(LINK.flags, FIXED32);
  w.fixed32(flagsOf(l.context, l.context.isRemote));
  w.end(at, 1);
}

function event(w: ProtoWriter, e: TimedEvent): void {
  const at = w.begin(SPAN_FIELD.events, 1);
  w.tag(EVENT.time, FIXED64);
  w.nanos(e.time[0], e.time[1]);
  w.string(EVENT.name, e.name);
  writeAttributes(w, EVENT.attributes, e.attributes ?? {});
  w.uint(EVENT.droppedAttributes, e.droppedAttributesCount ?? 0);
  w.end(at, 1);
}

/** `KeyValue`s as repeated field `field`. */
function writeAttributes(w: ProtoWriter, field: number, attributes: Attributes): void {
  for (const key of Object.keys(attributes)) {
    const v = attributes[key];
    if (v === undefined || v === null) continue;
    const kv = w.begin(field, 1);
    w.string(KEY_VALUE.key, key);
    anyValue(w, KEY_VALUE.value, v);
    w.end(kv, 1);
  }
}

/** An `AnyValue`: its oneof member is written even when it is the default (a set empty string, 0, false). */
function anyValue(w: ProtoWriter, field: number, v: AttributeValue | null | undefined): void {
  const at = w.begin(field, 1);
  switch (typeof v) {
    case 'string':
      w.stringAlways(ANY.string, v);
      break;
    case 'boolean':
      w.tag(ANY.bool, VARINT);
      w.varint(v ? 1 : 0);
      break;
    case 'number':
      if (Number.isSafeInteger(v)) {
        w.tag(ANY.int, VARINT);
        w.int64(v);
      } else {
        w.tag(ANY.double, FIXED64);
        w.double(v);
      }
      break;
    default:
      if (Array.isArray(v)) {
        const arr = w.begin(ANY.array, 1);
        for (const x of v as (AttributeValue | null | undefined)[]) anyValue(w, ARRAY_VALUES, x);
        w.end(arr, 1);
      }
  }
  w.end(at, 1);
}

const TWO_32 = 0x1_0000_0000;
const SCRATCH = new DataView(new ArrayBuffer(8));

/** Protobuf's wire format into one growable buffer. */
class ProtoWriter {
  private buf: Buffer;
  private pos = 0;

  constructor(capacity: number) {
    this.buf = Buffer.allocUnsafe(capacity);
  }

  /** The bytes written (a view, not a copy). */
  bytes(): Uint8Array {
    return this.buf.subarray(0, this.pos);
  }

  tag(field: number, wire: number): void {
    this.varint(field * 8 + wire);
  }

  /** A non-negative integer below 2^53. */
  varint(n: number): void {
    this.ensure(8);
    const buf = this.buf;
    while (n >= 128) {
      buf[this.pos++] = (n & 127) | 128;
      n = n < TWO_32 ? n >>> 7 : Math.floor(n / 128);
    }
    buf[this.pos++] = n;
  }

  /** An int64 (a safe integer; negative ones take ten bytes, two's complement). */
  int64(n: number): void {
    let hi = Math.floor(n / TWO_32) >>> 0;
    let lo = n >>> 0;
    this.ensure(10);
    const buf = this.buf;
    while (hi !== 0) {
      buf[this.pos++] = (lo & 127) | 128;
      lo = ((lo >>> 7) | (hi << 25)) >>> 0;
      hi >>>= 7;
    }
    while (lo >= 128) {
      buf[this.pos++] = (lo & 127) | 128;
      lo >>>= 7;
    }
    buf[this.pos++] = lo;
  }

  /** A uint32 field, left out when 0 (proto3's default). */
  uint(field: number, n: number): void {
    if (n === 0) return;
    this.tag(field, VARINT);
    this.varint(n);
  }

  fixed32(n: number): void {
    this.ensure(4);
    this.le32(n);
  }

  /** A fixed64 from its two 32-bit halves. */
  fixed64(lo: number, hi: number): void {
    this.ensure(8);
    this.le32(lo);
    this.le32(hi);
  }

  private le32(n: number): void {
    const buf = this.buf;
    buf[this.pos++] = n;
    buf[this.pos++] = n >>> 8;
    buf[this.pos++] = n >>> 16;
    buf[this.pos++] = n >>> 24;
  }

  double(v: number): void {
    SCRATCH.setFloat64(0, v, true);
    this.fixed64(SCRATCH.getUint32(0, true), SCRATCH.getUint32(4, true));
  }

  /**
   * seconds·1e9 + nanos as a fixed64, exactly: 1e9 = 1953125·2^9, and seconds·1953125 stays
   * below 2^53 for any seconds below 2^32, so the product splits into 32-bit halves without loss.
   */
  nanos(seconds: number, nanos: number): void {
    const m = seconds * 1953125;
    const low = (m % 0x80_0000) * 512 + nanos;
    this.fixed64(low, Math.floor(m / 0x80_0000) + Math.floor(low / TWO_32));
  }

  /** Epoch milliseconds (a float) as nanoseconds, rounded as otlp-json.ts's `millisToNanos`. */
  millisAsNanos(ms: number): void {
    const seconds = Math.floor(ms / 1000);
    const nanos = Math.round((ms - seconds * 1000) * 1e6);
    if (nanos >= 1e9) this.nanos(seconds + 1, nanos - 1e9);
    else this.nanos(seconds, nanos);
  }

  /** A string field, left out when empty (proto3's default). */
  string(field: number, s: string): void {
    if (s !== '') this.stringAlways(field, s);
  }

  stringAlways(field: number, s: string): void {
    this.tag(field, LEN);
    // Short strings (at most 42 characters, 126 UTF-8 bytes) have a one-byte length: no counting first.
    if (s.length <= 42) {
      this.ensure(1 + 3 * s.length);
      const n = this.buf.write(s, this.pos + 1, 'utf8');
      this.buf[this.pos] = n;
      this.pos += 1 + n;
      return;
    }
    const n = Buffer.byteLength(s, 'utf8');
    this.varint(n);
    this.ensure(n);
    this.pos += this.buf.write(s, this.pos, 'utf8');
  }

  /** A bytes field holding the bytes that hex string `hex` spells (an id), left out when empty. */
  hex(field: number, hex: string): void {
    const n = hex.length >> 1;
    if (n === 0) return;
    this.tag(field, LEN);
    this.ensure(1 + n);
    // Ids are 8 or 16 bytes: a one-byte length, backfilled with what the hex held.
    const written = this.buf.write(hex, this.pos + 1, 'hex');
    this.buf[this.pos] = written;
    this.pos += 1 + written;
  }

  raw(bytes: Uint8Array): void {
    this.copy(bytes, 0, bytes.length);
  }

  /** Bytes [from, to) of `src`. */
  copy(src: Uint8Array, from: number, to: number): void {
    this.ensure(to - from);
    const buf = this.buf;
    let pos = this.pos;
    // A loop beats a call into TypedArray#set or Buffer#copy for the few bytes of a key or an id.
    if (to - from <= 64) {
      for (let i = from; i < to; i++) buf[pos++] = src[i]!;
    } else {
      buf.set(src.subarray(from, to), pos);
      pos += to - from;
    }
    this.pos = pos;
  }

  /**
   * Starts a nested message (field `field`), reserving `reserve` bytes for its length (what it
   * usually needs); returns where its content starts, for `end`.
   */
  begin(field: number, reserve: number): number {
    this.tag(field, LEN);
    this.ensure(reserve);
    this.pos += reserve;
    return this.pos;
  }

  /** Ends the message `begin` started: its length backfilled, the content moved if it needs another size. */
  end(start: number, reserve: number): void {
    const n = this.pos - start;
    const size = uleb128Size(n);
    if (size !== reserve) {
      this.ensure(size - reserve);
      this.buf.copyWithin(start + size - reserve, start, this.pos);
      this.pos += size - reserve;
    }
    let at = start - reserve;
    let v = n;
    while (v >= 128) {
      this.buf[at++] = (v & 127) | 128;
      v >>>= 7;
    }
    this.buf[at] = v;
  }

  private ensure(n: number): void {
    if (this.pos + n > this.buf.length) this.buf = grown(this.buf, this.pos, n, Buffer.allocUnsafe);
  }
}
