// The OTLP/HTTP JSON the exporter thread writes from span batches: the ExportTraceServiceRequest
// shape of opentelemetry-proto's JSON mapping (hex ids, enums as numbers, times as decimal strings),
// for execution records and for SDK spans with events, links and an error status.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SpanKind, SpanStatusCode } from '@opentelemetry/api';
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { ATTR, SPAN } from '../src/telemetry/attributes.js';
import { attributesJson, exportTraceRequest } from '../src/telemetry/otlp-json.js';
import { packBatch, SpanBatcher, unpackBatch } from '../src/telemetry/span-records.js';

const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';

test('writes executions and SDK spans as an OTLP ExportTraceServiceRequest', () => {
  const b = new SpanBatcher({ name: '@icpk/replica' });
  b.addExecution({
    traceId: TRACE, spanId: '1111111111111111', parentSpanId: '00f067aa0ba902b7', parentRemote: true,
    links: [{ traceId: TRACE, spanId: 'bbbbbbbbbbbbbbbb', traceFlags: 1 }],
    startTime: 1_764_081_234_567.5, endTime: 1_764_081_234_568.25,
    canisterId: 'rrkah-fqaaa-aaaaa-aaaaq-cai', method: 'say "hi"\n', kind: 'ingress', messageId: 'ab'.repeat(32),
    caller: undefined, dtsSlice: 2, outcome: 'trapped', instructions: 12_345,
  });
  b.addSpan({
    name: SPAN.iteration, kind: SpanKind.INTERNAL,
    spanContext: () => ({ traceId: TRACE, spanId: '3333333333333333', traceFlags: 1 }),
    parentSpanContext: { traceId: TRACE, spanId: '4444444444444444', traceFlags: 1 },
    startTime: [1_764_081_234, 5], endTime: [1_764_081_235, 0],
    status: { code: SpanStatusCode.ERROR, message: 'broken invariant' },
    attributes: { [ATTR.iterationIndex]: 2, ratio: 0.5, ok: true, names: ['a', 'b'] },
    links: [{ context: { traceId: TRACE, spanId: '5555555555555555', traceFlags: 1, isRemote: true }, attributes: { k: 'v' } }],
    events: [{ name: 'exception', time: [1_764_081_234, 600_000_000], attributes: { 'exception.message': 'x' } }],
    resource: undefined, instrumentationScope: { name: '@icpk/replica' },
    droppedAttributesCount: 0, droppedEventsCount: 0, droppedLinksCount: 0, duration: [0, 0], ended: true,
  } as unknown as ReadableSpan);
  // As the batch crosses to the exporter thread.
  const batch = unpackBatch(structuredClone(packBatch(b.take()!)));
  const json = JSON.parse(exportTraceRequest(batch, attributesJson({ 'service.name': 'icpk-replica' })));

  const [resourceSpans] = json.resourceSpans;
  assert.deepEqual(resourceSpans.resource.attributes, [{ key: 'service.name', value: { stringValue: 'icpk-replica' } }]);
  assert.equal(resourceSpans.scopeSpans.length, 1);
  assert.equal(resourceSpans.scopeSpans[0].scope.name, '@icpk/replica');
  const [exec, iteration] = resourceSpans.scopeSpans[0].spans;

  assert.equal(exec.name, SPAN.executeMessage);
  assert.equal(exec.traceId, TRACE);
  assert.equal(exec.spanId, '1111111111111111');
  assert.equal(exec.parentSpanId, '00f067aa0ba902b7');
  assert.equal(exec.kind, 1); // INTERNAL, offset by one in OTLP
  assert.equal(exec.startTimeUnixNano, '1764081234567500000');
  assert.equal(exec.endTimeUnixNano, '1764081234568250000');
  assert.equal(exec.flags, 0x301); // sampled, parent remote (and known to be)
  assert.deepEqual(exec.status, { code: SpanStatusCode.ERROR });
  assert.deepEqual(exec.links.map((l: { spanId: string }) => l.spanId), ['bbbbbbbbbbbbbbbb']);
  const value = (s: { attributes: { key: string; value: unknown }[] }, key: string) => s.attributes.find((a) => a.key === key)?.value;
  assert.deepEqual(value(exec, ATTR.messageMethod), { stringValue: 'say "hi"\n' });
  assert.deepEqual(value(exec, ATTR.messageId), { stringValue: 'ab'.repeat(32) });
  assert.deepEqual(value(exec, ATTR.dtsSlice), { intValue: 2 });
  assert.deepEqual(value(exec, ATTR.messageInstructions), { intValue: 12_345 });
  assert.deepEqual(value(exec, ATTR.messageOutcome), { stringValue: 'trapped' });
  assert.equal(value(exec, ATTR.messageCaller), undefined);

  assert.equal(iteration.parentSpanId, '4444444444444444');
  assert.equal(iteration.startTimeUnixNano, '1764081234000000005');
  assert.deepEqual(iteration.status, { code: SpanStatusCode.ERROR, message: 'broken invariant' });
  assert.deepEqual(value(iteration, ATTR.iterationIndex), { intValue: 2 });
  assert.deepEqual(value(iteration, 'ratio'), { doubleValue: 0.5 });
  assert.deepEqual(value(iteration, 'ok'), { boolValue: true });
  assert.deepEqual(value(iteration, 'names'), { arrayValue: { values: [{ stringValue: 'a' }, { stringValue: 'b' }] } });
  assert.deepEqual(iteration.events, [{
    timeUnixNano: '1764081234600000000', name: 'exception',
    attributes: [{ key: 'exception.message', value: { stringValue: 'x' } }], droppedAttributesCount: 0,
  }]);
  assert.equal(iteration.links[0].flags, 0x301);
  assert.deepEqual(iteration.links[0].attributes, [{ key: 'k', value: { stringValue: 'v' } }]);
});
