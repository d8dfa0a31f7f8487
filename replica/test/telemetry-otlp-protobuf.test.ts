// The OTLP/HTTP protobuf the exporter thread writes from span batches: decoded with a strict
// wire-format decoder (fixtures/otlp-protobuf.ts), it carries exactly what the JSON encoder's
// request for the same batch and range carries (ids, times, attributes, links, events, status,
// flags, scope, resource), for executions and SDK spans.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { SpanKind, SpanStatusCode, type Attributes, type AttributeValue } from '@opentelemetry/api';
import { ProtobufTraceSerializer } from '@opentelemetry/otlp-transformer';
import { resourceFromAttributes } from '@opentelemetry/resources';
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { ATTR, SPAN } from '../src/telemetry/attributes.js';
import { attributesJson, exportTraceRequest } from '../src/telemetry/otlp-json.js';
import { exportTraceRequestProtobuf, resourceProtobuf } from '../src/telemetry/otlp-protobuf.js';
import { packBatch, readableSpans, SpanBatcher, unpackBatch, type SpanBatch } from '../src/telemetry/span-records.js';
import type { ExecutionRecord } from '../src/telemetry/tracing.js';
import { decodeTraceRequest, normalizeTraceJson, wireFields } from './fixtures/otlp-protobuf.js';

const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const OTHER_TRACE = '0af7651916cd43dd8448eb211c80319c';
const SCOPE = { name: '@icpk/replica' };
const RESOURCE: Attributes = {
  'service.name': 'icpk-replica', 'service.instance.id': 'subnet-a-0', 'host.names': ['a', 'b'], 'icpk.test.flag': true,
  'icpk.test.ratio': 0.25, 'icpk.test.count': 3,
};

function execution(overrides: Partial<ExecutionRecord>): ExecutionRecord {
  return {
    traceId: TRACE, spanId: '1111111111111111', startTime: 1_764_081_234_567.5, endTime: 1_764_081_234_568.25,
    canisterId: 'rrkah-fqaaa-aaaaa-aaaaq-cai', method: 'inc', kind: 'ingress', outcome: 'replied', instructions: 12_345,
    ...overrides,
  } as ExecutionRecord;
}

function sdkSpan(s: Partial<ReadableSpan> & { id: string; parent?: string; scope?: ReadableSpan['instrumentationScope'] }): ReadableSpan {
  return {
    name: SPAN.iteration, kind: SpanKind.INTERNAL,
    spanContext: () => ({ traceId: TRACE, spanId: s.id, traceFlags: 1 }),
    parentSpanContext: s.parent === undefined ? undefined : { traceId: TRACE, spanId: s.parent, traceFlags: 1 },
    startTime: [1_764_081_234, 5], endTime: [1_764_081_235, 0],
    status: { code: SpanStatusCode.UNSET }, attributes: {}, links: [], events: [],
    resource: undefined, instrumentationScope: s.scope ?? SCOPE,
    droppedAttributesCount: 0, droppedEventsCount: 0, droppedLinksCount: 0, duration: [0, 0], ended: true,
    ...s,
  } as unknown as ReadableSpan;
}

/** Executions with and without parents, links, a DTS slice, a trap; SDK spans of two scopes. */
function mixedBatch(): SpanBatch {
  const b = new SpanBatcher(SCOPE);
  b.addExecution(execution({
    parentSpanId: '00f067aa0ba902b7', parentRemote: true, links: [{ traceId: TRACE, spanId: 'bbbbbbbbbbbbbbbb', traceFlags: 1 }],
    method: 'say "hi"\n', messageId: 'ab'.repeat(32), dtsSlice: 2, outcome: 'trapped',
  }));
  b.addExecution(execution({
    traceId: OTHER_TRACE, spanId: '2222222222222222', kind: undefined, caller: '2vxsx-fae', dtsSlice: 0,
    instructions: 2 ** 40 + 3, startTime: 1_764_081_234_999.75, endTime: 1_764_081_235_000 + 2 ** -12, // the last bit of the double
  }));
  b.addExecution(execution({
    spanId: '3333333333333333', parentSpanId: '4444444444444444', method: 'größe ✓ '.repeat(30), caller: '2vxsx-fae',
    links: [
      { traceId: TRACE, spanId: 'cccccccccccccccc', traceFlags: 0 },
      { traceId: OTHER_TRACE, spanId: 'dddddddddddddddd', traceFlags: 1 },
    ],
  }));
  b.addSpan(sdkSpan({
    id: '5555555555555555', parent: '4444444444444444',
    status: { code: SpanStatusCode.ERROR, message: 'broken invariant' },
    attributes: {
      [ATTR.iterationIndex]: 2, ratio: 0.5, ok: true, no: false, empty: '', zero: 0, negative: -7, huge: 2 ** 53 + 2,
      infinite: Infinity, names: ['a', 'b'], mixed: [1, 2.5, true, 'x', null] as unknown as AttributeValue, 'ключ': 'значение',
    },
    links: [{ context: { traceId: TRACE, spanId: '6666666666666666', traceFlags: 1, isRemote: true }, attributes: { k: 'v' } }],
    events: [
      { name: 'exception', time: [1_764_081_234, 600_000_000], attributes: { 'exception.message': 'x'.repeat(300) } },
      { name: 'mark', time: [1_764_081_234, 999_999_999] },
    ],
    droppedAttributesCount: 1, droppedEventsCount: 2, droppedLinksCount: 3,
  }));
  // A small span (its length fits one byte) of another scope, with a version and a schema URL.
  b.addSpan(sdkSpan({
    id: '7777777777777777', name: 'GET', kind: SpanKind.SERVER, status: { code: SpanStatusCode.OK },
    scope: { name: '@icpk/http', version: '1.2.3', schemaUrl: 'https://opentelemetry.io/schemas/1.30.0' },
  }));
  b.addSpan(sdkSpan({ id: '8888888888888888', parent: '5555555555555555', name: SPAN.route }));
  // As the batch crosses to the exporter thread.
  return unpackBatch(structuredClone(packBatch(b.take()!)));
}

/** Both encodings of one request, in one form. */
function both(batch: SpanBatch, from?: number, to?: number, withSpans?: boolean) {
  const json = normalizeTraceJson(JSON.parse(exportTraceRequest(batch, attributesJson(RESOURCE), from, to, withSpans)));
  const proto = decodeTraceRequest(exportTraceRequestProtobuf(batch, resourceProtobuf(RESOURCE), from, to, withSpans));
  return { json, proto };
}

interface Decoded {
  resourceSpans: { resource: { attributes: { key: string; value: Record<string, unknown> }[] }; scopeSpans: {
    scope: { name: string; version: string }; schemaUrl: string; spans: Record<string, unknown>[];
  }[] }[];
}

describe('OTLP/HTTP protobuf', () => {
  it('carries what the JSON carries, for executions and SDK spans', () => {
    const batch = mixedBatch();
    const { json, proto } = both(batch);
    assert.deepEqual(proto, json);

    // And what it carries is right (not merely the same mistake twice).
    const d = proto as unknown as Decoded;
    const [rs] = d.resourceSpans;
    assert.deepEqual(rs!.resource.attributes.find((a) => a.key === 'host.names')?.value,
      { arrayValue: { values: [{ stringValue: 'a' }, { stringValue: 'b' }] } });
    assert.deepEqual(rs!.scopeSpans.map((s) => [s.scope.name, s.scope.version, s.schemaUrl, s.spans.length]), [
      ['@icpk/replica', '', '', 5], ['@icpk/http', '1.2.3', 'https://opentelemetry.io/schemas/1.30.0', 1],
    ]);
    const [trapped, second, third, iteration] = rs!.scopeSpans[0]!.spans as Record<string, any>[];
    assert.equal(trapped!.traceId, TRACE);
    assert.equal(trapped!.parentSpanId, '00f067aa0ba902b7');
    assert.equal(trapped!.startTimeUnixNano, '1764081234567500000');
    assert.equal(trapped!.flags, 0x301);
    assert.deepEqual(trapped!.status, { message: '', code: SpanStatusCode.ERROR });
    assert.equal(second!.parentSpanId, '');
    assert.equal(second!.startTimeUnixNano, '1764081234999750000');
    assert.equal(second!.endTimeUnixNano, '1764081235000000244');
    assert.deepEqual(second!.attributes.find((a: { key: string }) => a.key === ATTR.messageInstructions).value, { intValue: String(2 ** 40 + 3) });
    assert.deepEqual(second!.attributes.find((a: { key: string }) => a.key === ATTR.dtsSlice).value, { intValue: '0' });
    assert.deepEqual(third!.links.map((l: { spanId: string; flags: number }) => [l.spanId, l.flags]), [['cccccccccccccccc', 0x100], ['dddddddddddddddd', 0x101]]);
    const value = (key: string) => iteration!.attributes.find((a: { key: string }) => a.key === key)?.value;
    assert.deepEqual(value('empty'), { stringValue: '' });
    assert.deepEqual(value('zero'), { intValue: '0' });
    assert.deepEqual(value('no'), { boolValue: false });
    assert.deepEqual(value('negative'), { intValue: '-7' });
    assert.deepEqual(value('huge'), { doubleValue: 2 ** 53 + 2 });
    assert.deepEqual(value('infinite'), { doubleValue: Infinity });
    assert.deepEqual(value('mixed'), { arrayValue: { values: [{ intValue: '1' }, { doubleValue: 2.5 }, { boolValue: true }, { stringValue: 'x' }, {}] } });
    assert.deepEqual(iteration!.status, { message: 'broken invariant', code: SpanStatusCode.ERROR });
    assert.deepEqual([iteration!.droppedAttributesCount, iteration!.droppedEventsCount, iteration!.droppedLinksCount], [1, 2, 3]);
    assert.equal(iteration!.events[1].timeUnixNano, '1764081234999999999');
  });

  it('carries what the JSON carries for ranges of executions, with and without the SDK spans', () => {
    const batch = mixedBatch();
    for (const [from, to, withSpans] of [[0, 1, false], [1, 3, true], [2, 3, false], [3, 3, true], [0, 0, false], [0, 3, false]] as const) {
      const { json, proto } = both(batch, from, to, withSpans);
      assert.deepEqual(proto, json, `executions ${from}..${to}, SDK spans ${withSpans}`);
      const spans = (proto as unknown as Decoded).resourceSpans[0]!.scopeSpans.flatMap((s) => s.spans);
      assert.equal(spans.length, to - from + (withSpans ? 3 : 0));
    }
  });

  it('carries what the JSON carries for a request of hundreds of executions (lengths of three bytes)', () => {
    const b = new SpanBatcher(SCOPE);
    for (let i = 0; i < 600; i++) {
      b.addExecution(execution({
        spanId: i.toString(16).padStart(16, '0'), parentSpanId: '00f067aa0ba902b7', messageId: i.toString(16).padStart(64, '0'),
        canisterId: `canister-${i % 7}`, caller: i % 2 ? '2vxsx-fae' : undefined, startTime: 1_764_081_234_567 + i / 1000,
        endTime: 1_764_081_234_568 + i / 1000, instructions: i * 1_000_003,
      }));
    }
    const batch = b.take()!;
    const body = exportTraceRequestProtobuf(batch, resourceProtobuf(RESOURCE));
    assert.ok(body.length > 2 ** 14, `a body of ${body.length} bytes`);
    const { json, proto } = both(batch);
    assert.deepEqual(proto, json);
    // Requests of one batch share its strings' bytes: the later ones are the same as on their own.
    assert.deepEqual(both(batch, 256, 512, false), both(unpackBatch(packBatch(batch)), 256, 512, false));
  });

  it('carries what the SDK\'s own protobuf serializer writes for the same spans, without its written-out defaults', () => {
    // An encoder we did not write: the field numbers and wire types are not merely our decoder's idea.
    const batch = mixedBatch();
    const sdk = ProtobufTraceSerializer.serializeRequest(readableSpans(batch, resourceFromAttributes(RESOURCE)))!;
    const ours = exportTraceRequestProtobuf(batch, resourceProtobuf(RESOURCE));
    // The SDK gives each scope object its own ScopeSpans; we (as the JSON) merge equal scopes: compare spans with their scope.
    const spans = (d: Decoded) => d.resourceSpans.flatMap((r) => r.scopeSpans.flatMap((s) => s.spans.map((span) => ({ scope: s.scope, schemaUrl: s.schemaUrl, span }))));
    const decodedSdk = decodeTraceRequest(sdk, { canonical: false }) as unknown as Decoded;
    const theirs = spans(decodedSdk).sort((x, y) => String(x.span.spanId).localeCompare(String(y.span.spanId)));
    // The one difference on purpose: an integer beyond 2^53 is not exact, so we (and our JSON) write it as a double.
    const huge = theirs.find((s) => s.span.name === SPAN.iteration)!.span.attributes as { key: string; value: unknown }[];
    assert.deepEqual(huge.find((a) => a.key === 'huge')!.value, { intValue: String(2 ** 53 + 2) });
    huge.find((a) => a.key === 'huge')!.value = { doubleValue: 2 ** 53 + 2 };
    const decodedOurs = decodeTraceRequest(ours) as unknown as Decoded;
    assert.deepEqual(spans(decodedOurs).sort((x, y) => String(x.span.spanId).localeCompare(String(y.span.spanId))), theirs);
    assert.deepEqual(decodedOurs.resourceSpans.map((r) => r.resource), decodedSdk.resourceSpans.map((r) => r.resource));
    assert.throws(() => decodeTraceRequest(sdk), /a default value written out/);
    assert.ok(ours.length < sdk.length);
  });

  it('encodes the resource once, as the Resource message\'s attributes', () => {
    const fields = wireFields(resourceProtobuf(RESOURCE));
    assert.equal(fields.length, Object.keys(RESOURCE).length);
    assert.ok(fields.every((f) => f.field === 1 && f.wire === 2));
  });
});
