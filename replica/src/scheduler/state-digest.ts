// A digest of the whole replicated state, for determinism checks (same blocks, any number of
// workers: same digest). It walks the state generically, so a field added to the state is covered
// without touching this file: maps by sorted key, canisters in id order, page maps as their size
// and page hashes, modules as their hash. Trace context and checkpoint bookkeeping (a page map's
// dirty set) are not replicated and left out.
//
// The checkpoint encoding (`state/serialize.ts` `stateHash`) is the canonical hash; this one
// does not depend on every field having a codec yet.

import { Principal } from '@icp-sdk/core/principal';
import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex } from '@noble/hashes/utils.js';
import { PageMap } from '../state/page-map.js';
import type { ReplicatedState } from '../state/replicated-state.js';

const NOT_REPLICATED = new Set(['traceparent']);
const encoder = new TextEncoder();

export function stateDigest(state: ReplicatedState): string {
  const h = sha256.create();
  const emit = (s: string) => h.update(encoder.encode(s));
  const subnet: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(state)) if (key !== 'canisterMap') subnet[key] = value;
  walk(subnet, emit, h);
  for (const canister of state.canisters()) {
    emit('\ncanister ');
    walk(canister, emit, h);
  }
  return bytesToHex(h.digest());
}

/** The same digest of any part of the state (a canister, a page map, a queue). */
export function valueDigest(value: unknown): string {
  const h = sha256.create();
  walk(value, (s) => h.update(encoder.encode(s)), h);
  return bytesToHex(h.digest());
}

type Hash = ReturnType<typeof sha256.create>;

function walk(value: unknown, emit: (s: string) => void, h: Hash): void {
  if (value === undefined) return emit('u');
  if (value === null) return emit('z');
  switch (typeof value) {
    case 'bigint': return emit(`n${value};`);
    case 'number': return emit(`d${value};`);
    case 'string': return emit(`s${JSON.stringify(value)}`);
    case 'boolean': return emit(value ? 'T' : 'F');
    case 'function': throw new Error('a function in the replicated state');
  }
  if (value instanceof Uint8Array) {
    emit(`b${value.length}:`);
    h.update(value);
    return;
  }
  if (value instanceof Principal) return emit(`p${value.toText()};`);
  if (value instanceof PageMap) {
    emit(`m${value.sizeBytes}[`);
    for (const index of value.indices()) {
      emit(`${index}:`);
      h.update(sha256(value.page(index)));
    }
    return emit(']');
  }
  if (value instanceof Map) {
    emit('{');
    for (const key of [...value.keys()].sort(compareKeys)) {
      walk(key, emit, h);
      emit('=');
      walk(value.get(key), emit, h);
    }
    return emit('}');
  }
  if (value instanceof Set) {
    emit('<');
    for (const item of [...value].sort(compareKeys)) walk(item, emit, h);
    return emit('>');
  }
  if (Array.isArray(value)) {
    emit(`[${value.length}`);
    for (const item of value) walk(item, emit, h);
    return emit(']');
  }
  const record = value as Record<string, unknown>;
  // A compiled module is identified by its hash.
  if (typeof record.hashHex === 'string' && 'module' in record) return emit(`w${record.hashHex};`);
  emit('(');
  for (const key of Object.keys(record).sort()) {
    if (NOT_REPLICATED.has(key)) continue;
    emit(`${key}:`);
    walk(record[key], emit, h);
  }
  emit(')');
}

function compareKeys(a: unknown, b: unknown): number {
  if (typeof a === 'number' && typeof b === 'number') return a - b;
  if (typeof a === 'bigint' && typeof b === 'bigint') return a < b ? -1 : a > b ? 1 : 0;
  const x = String(a);
  const y = String(b);
  return x < y ? -1 : x > y ? 1 : 0;
}
