// What the two OTLP encoders (otlp-json.ts, otlp-protobuf.ts) share: the values of OTLP's flags and
// enums as our spans use them, and how a batch's spans group by instrumentation scope.

import type { SpanContext } from '@opentelemetry/api';
import type { InstrumentationScope } from '@opentelemetry/core';
import { PARENT_REMOTE, SAMPLED, type SpanBatch, type SpanData } from './span-records.js';

/** OTLP span flags: the W3C flags, and whether the parent's (or link's) remoteness is known and true. */
const HAS_IS_REMOTE = 0x100;
const IS_REMOTE = 0x200;
/** OTLP's SpanKind is the API's plus one (0 is unspecified). */
export const KIND_INTERNAL = 1;
export const STATUS_ERROR = 2;

/** The OTLP flags of an SDK span or link. */
export function flagsOf(sc: SpanContext, isRemote: boolean | undefined): number {
  return (sc.traceFlags & 0xff) | HAS_IS_REMOTE | (isRemote ? IS_REMOTE : 0);
}

/** The OTLP flags of an execution record, from its record flags. */
export function executionFlags(flags: number): number {
  return (flags & SAMPLED ? 1 : 0) | HAS_IS_REMOTE | (flags & PARENT_REMOTE ? IS_REMOTE : 0);
}

/** The OTLP flags of an execution's link, from the W3C flags it recorded (links are local). */
export function linkFlags(traceFlags: number): number {
  return (traceFlags & 0xff) | HAS_IS_REMOTE;
}

/** The spans of one instrumentation scope in a request. */
export interface ScopeGroup {
  readonly scope: InstrumentationScope;
  /** Whether the batch's executions (its own scope) go here. */
  executions: boolean;
  readonly spans: SpanData[];
}

/**
 * The scopes of a request, in first-seen order: the batch's own scope when it carries executions,
 * then those of its SDK spans if `withSpans`.
 */
export function scopeGroups(batch: SpanBatch, executions: boolean, withSpans: boolean): Iterable<ScopeGroup> {
  const groups = new Map<string, ScopeGroup>();
  const groupOf = (scope: InstrumentationScope) => {
    const key = `${scope.name}@${scope.version ?? ''}:${scope.schemaUrl ?? ''}`;
    let group = groups.get(key);
    if (group === undefined) groups.set(key, group = { scope, executions: false, spans: [] });
    return group;
  };
  if (executions) groupOf(batch.scope).executions = true;
  if (withSpans) for (const d of batch.spans) groupOf(d.scope).spans.push(d);
  return groups.values();
}
