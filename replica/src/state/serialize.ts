// The canonical encoding of the replicated state, for checkpoints and the state hash.
//
// Metadata (everything but memory pages) is a compact binary encoding of our own: LEB128 varints,
// length-prefixed bytes and text, records as their fields in a fixed order, maps sorted by key,
// canisters in id order. Page maps are referenced by a stable id and written separately, by page.
//
// Adding a replicated field = one line in CANISTER_FIELDS / SUBNET_FIELDS (or in the record codec
// of a nested type). Encoding refuses objects with fields it does not know, so a field added to a
// state class without a codec fails loudly instead of silently vanishing from checkpoints.

import { Principal } from '@icp-sdk/core/principal';
import { createHash } from 'node:crypto';
import { bytesToHex } from '@noble/hashes/utils.js';
import { canisterSnapshots, type CanisterSnapshot } from '../checkpoint/snapshots.js';
import type { RejectCode } from '../errors.js';
import type { GlobalValue } from '../execution/sandbox.js';
import type { CompiledCanisterModule } from '../wasm/index.js';
import { CanisterState, type CanisterChange, type ExecutionState } from './canister.js';
import { PageMap, isZero } from './page-map.js';
import { ReplicatedState } from './replicated-state.js';
import { IngressHistory } from './ingress-history.js';
import type {
  CallContext, CallOrigin, CallerInfo, Callback, CanisterLogRecord, CanisterMessage, CanisterSchedulerState, CanisterSettings,
  ExecutionWork, IngressStatus, LogVisibility, PausedExecution, Request, Response, ResponsePayload, Stream,
} from './types.js';
import { grown, newBytes, sha256 } from '../bytes.js';

export const STATE_ENCODING_VERSION = 2;

/** The encoding met a value it has no codec for: a bug of the replica, never of a canister. */
export class StateEncodingError extends Error {
  override readonly name = 'StateEncodingError';
}

// ---- bytes ------------------------------------------------------------------------------------

export class ByteWriter {
  private buf: Uint8Array;
  private view: DataView;
  private pos = 0;

  constructor(
    capacity = 1024,
    /** `hash`: the bytes only feed the state hash, so fields that are not replicated are left out. */
    readonly purpose: 'store' | 'hash' = 'store',
  ) {
    this.buf = new Uint8Array(capacity);
    this.view = new DataView(this.buf.buffer);
  }

  get length(): number {
    return this.pos;
  }

  private reserve(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    this.buf = grown(this.buf, this.pos, n, newBytes);
    this.view = new DataView(this.buf.buffer);
  }

  u8(n: number): void {
    this.reserve(1);
    this.buf[this.pos++] = n;
  }

  /** Unsigned LEB128. */
  varuint(n: number | bigint): void {
    if (typeof n === 'number') {
      if (!Number.isSafeInteger(n) || n < 0) throw new StateEncodingError(`not a non-negative safe integer: ${n}`);
      if (n < 0x80) return this.u8(n);
      n = BigInt(n);
    }
    if (n < 0n) throw new StateEncodingError(`negative value for an unsigned field: ${n}`);
    do {
      let byte = Number(n & 0x7fn);
      n >>= 7n;
      if (n !== 0n) byte |= 0x80;
      this.u8(byte);
    } while (n !== 0n);
  }

  /** Signed, zigzag then LEB128. */
  varint(n: bigint): void {
    this.varuint(n >= 0n ? n << 1n : ((-n) << 1n) - 1n);
  }

  f64(n: number): void {
    this.reserve(8);
    this.view.setFloat64(this.pos, n, true);
    this.pos += 8;
  }

  raw(bytes: Uint8Array): void {
    this.reserve(bytes.length);
    this.buf.set(bytes, this.pos);
    this.pos += bytes.length;
  }

  bytes(bytes: Uint8Array): void {
    this.varuint(bytes.length);
    this.raw(bytes);
  }

  text(s: string): void {
    this.bytes(utf8Encoder.encode(s));
  }

  finish(): Uint8Array {
    return this.buf.slice(0, this.pos);
  }
}

export class ByteReader {
  private pos = 0;
  private readonly view: DataView;

  constructor(private readonly buf: Uint8Array) {
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  }

  get offset(): number {
    return this.pos;
  }

  get done(): boolean {
    return this.pos === this.buf.length;
  }

  private need(n: number): void {
    if (this.pos + n > this.buf.length) throw new StateEncodingError(`truncated encoding at byte ${this.pos}`);
  }

  u8(): number {
    this.need(1);
    return this.buf[this.pos++]!;
  }

  varuint(): bigint {
    let result = 0n;
    let shift = 0n;
    for (;;) {
      const byte = this.u8();
      result |= BigInt(byte & 0x7f) << shift;
      if ((byte & 0x80) === 0) return result;
      shift += 7n;
      if (shift > 7n * 40n) throw new StateEncodingError('varint too long');
    }
  }

  varuintNumber(): number {
    this.need(1);
    const first = this.buf[this.pos]!;
    if (first < 0x80) {
      this.pos++;
      return first;
    }
    const n = this.varuint();
    if (n > BigInt(Number.MAX_SAFE_INTEGER)) throw new StateEncodingError(`integer too large: ${n}`);
    return Number(n);
  }

  varint(): bigint {
    const z = this.varuint();
    return (z & 1n) === 0n ? z >> 1n : -((z + 1n) >> 1n);
  }

  f64(): number {
    this.need(8);
    const n = this.view.getFloat64(this.pos, true);
    this.pos += 8;
    return n;
  }

  raw(n: number): Uint8Array {
    this.need(n);
    const out = this.buf.slice(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }

  bytes(): Uint8Array {
    return this.raw(this.varuintNumber());
  }

  text(): string {
    return utf8Decoder.decode(this.bytes());
  }
}

const utf8Encoder = new TextEncoder();
const utf8Decoder = new TextDecoder('utf-8', { fatal: true });

// ---- codecs -----------------------------------------------------------------------------------

/** Loaders a decoder needs for what metadata only references: modules and page maps. */
export interface DecodeContext {
  module(hashHex: string): CompiledCanisterModule;
  pageMap(id: string, sizeBytes: number): PageMap;
}

export interface Codec<T> {
  write(w: ByteWriter, value: T): void;
  read(r: ByteReader, ctx: DecodeContext): T;
}

export const nat: Codec<bigint> = { write: (w, v) => w.varuint(v), read: (r) => r.varuint() };
export const int: Codec<bigint> = { write: (w, v) => w.varint(v), read: (r) => r.varint() };
/** A safe integer (ids, counters); signed. */
export const num: Codec<number> = {
  write: (w, v) => {
    if (!Number.isSafeInteger(v)) throw new StateEncodingError(`not a safe integer: ${v}`);
    w.varint(BigInt(v));
  },
  read: (r) => Number(r.varint()),
};
export const bool: Codec<boolean> = { write: (w, v) => w.u8(v ? 1 : 0), read: (r) => r.u8() === 1 };
export const bytes: Codec<Uint8Array> = { write: (w, v) => w.bytes(v), read: (r) => r.bytes() };
export const text: Codec<string> = { write: (w, v) => w.text(v), read: (r) => r.text() };
export const principal: Codec<Principal> = {
  write: (w, v) => w.bytes(v.toUint8Array()),
  read: (r) => Principal.fromUint8Array(r.bytes()),
};

/** A Wasm global: i32/f32/f64 are JS numbers (kept as f64 bits, exact), i64 a bigint. */
export const globalValue: Codec<GlobalValue> = {
  write: (w, v) => {
    if (typeof v === 'bigint') {
      w.u8(1);
      w.varint(v);
    } else {
      w.u8(0);
      w.f64(v);
    }
  },
  read: (r) => (r.u8() === 1 ? r.varint() : r.f64()),
};

/**
 * A field that is stored (a restart keeps it) but not replicated, so not hashed: replicas may
 * differ in it (a trace context carries each replica's own span ids).
 */
export function notReplicated<T>(c: Codec<T>): Codec<T> {
  return {
    write: (w, v) => {
      if (w.purpose === 'store') c.write(w, v);
    },
    read: (r, ctx) => c.read(r, ctx),
  };
}

export function opt<T>(c: Codec<T>): Codec<T | undefined> {
  return {
    write: (w, v) => {
      w.u8(v === undefined ? 0 : 1);
      if (v !== undefined) c.write(w, v);
    },
    read: (r, ctx) => (r.u8() === 0 ? undefined : c.read(r, ctx)),
  };
}

export function list<T>(c: Codec<T>): Codec<T[]> {
  return {
    write: (w, v) => {
      w.varuint(v.length);
      for (const x of v) c.write(w, x);
    },
    read: (r, ctx) => {
      const n = r.varuintNumber();
      const out: T[] = [];
      for (let i = 0; i < n; i++) out.push(c.read(r, ctx));
      return out;
    },
  };
}

export function pair<A, B>(a: Codec<A>, b: Codec<B>): Codec<[A, B]> {
  return {
    write: (w, [x, y]) => {
      a.write(w, x);
      b.write(w, y);
    },
    read: (r, ctx) => [a.read(r, ctx), b.read(r, ctx)],
  };
}

export const byNumber = (a: number, b: number): number => a - b;
export const byString = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/**
 * A map, written sorted by key, so the encoding never depends on insertion order; `make` gives the
 * map to read into (a Map subclass keeps its kind).
 */
export function sortedMap<K, V, M extends Map<K, V> = Map<K, V>>(key: Codec<K>, value: Codec<V>, order: (a: K, b: K) => number, make = (): M => new Map<K, V>() as M): Codec<M> {
  return {
    write: (w, m) => {
      w.varuint(m.size);
      for (const k of [...m.keys()].sort(order)) {
        key.write(w, k);
        value.write(w, m.get(k)!);
      }
    },
    read: (r, ctx) => {
      const n = r.varuintNumber();
      const m = make();
      for (let i = 0; i < n; i++) {
        const k = key.read(r, ctx);
        m.set(k, value.read(r, ctx));
      }
      return m;
    },
  };
}

export function literal<T extends string>(values: readonly T[]): Codec<T> {
  return {
    write: (w, v) => {
      const i = values.indexOf(v);
      if (i < 0) throw new StateEncodingError(`unknown value '${v}' (expected one of ${values.join(', ')})`);
      w.varuint(i);
    },
    read: (r) => {
      const i = r.varuintNumber();
      if (i >= values.length) throw new StateEncodingError(`unknown literal index ${i}`);
      return values[i]!;
    },
  };
}

type FieldCodecs<T> = { readonly [K in keyof T]-?: Codec<T[K]> };

/**
 * A record: its fields in the order listed. Writing an object with a field that is not listed
 * throws (`name` says which codec to extend). Undefined optional fields are left out on read.
 */
export function record<T extends object>(name: string, fields: FieldCodecs<T>, allowed: readonly string[] = []): Codec<T> {
  const keys = Object.keys(fields) as (keyof T & string)[];
  const known = new Set<string>([...keys, ...allowed]);
  return {
    write: (w, v) => {
      for (const k of Object.keys(v)) {
        if (!known.has(k) && (v as Record<string, unknown>)[k] !== undefined) {
          throw new StateEncodingError(`${name} has a field '${k}' without a codec: add it in state/serialize.ts`);
        }
      }
      for (const k of keys) fields[k].write(w, v[k]);
    },
    read: (r, ctx) => {
      const out: Record<string, unknown> = {};
      for (const k of keys) {
        const value = fields[k].read(r, ctx);
        if (value !== undefined) out[k] = value;
      }
      return out as T;
    },
  };
}

/** A tagged union: the tag as text, then the case's other fields. */
export function union<T extends object>(name: string, tag: keyof T & string, cases: Record<string, Codec<object>>): Codec<T> {
  return {
    write: (w, v) => {
      const t = (v as Record<string, unknown>)[tag] as string;
      const c = cases[t];
      if (!c) throw new StateEncodingError(`${name}: no codec for ${tag} '${t}'`);
      w.text(t);
      const { [tag]: _, ...rest } = v as Record<string, unknown>;
      c.write(w, rest);
    },
    read: (r, ctx) => {
      const t = r.text();
      const c = cases[t];
      if (!c) throw new StateEncodingError(`${name}: unknown ${tag} '${t}'`);
      return { [tag]: t, ...c.read(r, ctx) } as T;
    },
  };
}

// ---- the state's types ------------------------------------------------------------------------

const callPair = record<{ fn: number; env: number }>('callback closure', { fn: num, env: num });
const rejectCode = num as unknown as Codec<RejectCode>;

const logVisibility = union<LogVisibility>('LogVisibility', 'kind', {
  controllers: record('LogVisibility.controllers', {}),
  public: record('LogVisibility.public', {}),
  allowed_viewers: record<{ principals: Principal[] }>('LogVisibility.allowed_viewers', { principals: list(principal) }),
});

export const settingsCodec = record<CanisterSettings>('CanisterSettings', {
  controllers: list(principal),
  computeAllocation: nat,
  memoryAllocation: nat,
  freezingThreshold: nat,
  reservedCyclesLimit: nat,
  logVisibility,
  wasmMemoryLimit: nat,
  wasmMemoryThreshold: nat,
  environmentVariables: list(pair(text, text)),
});

const callOrigin = union<CallOrigin>('CallOrigin', 'kind', {
  ingress: record('CallOrigin.ingress', { messageId: text, sender: principal, callerInfo: opt(record<CallerInfo>('CallerInfo', { data: bytes, signer: principal })) }),
  canister: record('CallOrigin.canister', { caller: principal, callbackId: num, deadline: nat }),
  system: record('CallOrigin.system', {}),
});


export const requestCodec = record<Omit<Request, 'kind'>>('Request', {
  sender: principal,
  receiver: principal,
  method: text,
  arg: bytes,
  cycles: nat,
  origin: callOrigin as Codec<Request['origin']>,
  traceparent: notReplicated(opt(text)),
});

const responsePayload = union<ResponsePayload>('ResponsePayload', 'kind', {
  reply: record('ResponsePayload.reply', { data: bytes }),
  reject: record('ResponsePayload.reject', { code: rejectCode, message: text, errorCode: opt(text) }),
});

const responseCodec = record<Omit<Response, 'kind'>>('Response', {
  originator: principal,
  respondent: principal,
  callbackId: num,
  payload: responsePayload,
  refund: nat,
});

const message = union<CanisterMessage>('CanisterMessage', 'kind', { request: requestCodec, response: responseCodec });

const stream = record<Stream>('Stream', { begin: nat, messages: list(message), signalsEnd: nat });

/**
 * A message of a stream as its sending subnet certifies it (`/streams/<subnet_id>/messages/<index>`),
 * without its trace context (each replica has its own; it travels beside the certified slice).
 */
export function encodeStreamMessage(m: CanisterMessage): Uint8Array {
  const w = new ByteWriter(256 + (m.kind === 'request' ? m.arg.length : m.payload.kind === 'reply' ? m.payload.data.length : m.payload.message.length * 3));
  message.write(w, m.kind === 'request' && m.traceparent !== undefined ? { ...m, traceparent: undefined } : m);
  return w.finish();
}

/** The inverse of `encodeStreamMessage`; throws `StateEncodingError` on malformed bytes. */
export function decodeStreamMessage(bytes: Uint8Array): CanisterMessage {
  const r = new ByteReader(bytes);
  const m = message.read(r, NO_MODULES);
  if (!r.done) throw new StateEncodingError('trailing bytes after a stream message');
  return m;
}

/** Messages refer to no module or page map. */
const NO_MODULES: DecodeContext = {
  module: () => { throw new StateEncodingError('a stream message refers to a module'); },
  pageMap: () => { throw new StateEncodingError('a stream message refers to a page map'); },
};
const request: Codec<Request> = {
  write: (w, v) => requestCodec.write(w, withoutKind(v, 'request')),
  read: (r, ctx) => ({ kind: 'request', ...requestCodec.read(r, ctx) }),
};

function withoutKind<T extends { kind: string }>(v: T, kind: string): Omit<T, 'kind'> {
  if (v.kind !== kind) throw new StateEncodingError(`expected a ${kind}, got ${v.kind}`);
  const { kind: _, ...rest } = v;
  return rest;
}

const callContext = record<CallContext>('CallContext', {
  id: num,
  origin: callOrigin,
  method: text,
  cyclesAvailable: nat,
  responded: bool,
  instructions: nat,
});

const callback = record<Callback>('Callback', {
  id: num,
  callContextId: num,
  callee: principal,
  reply: callPair,
  reject: callPair,
  cleanup: opt(callPair),
  cyclesSent: nat,
  reservation: nat,
  deadline: nat,
});

const logRecord = record<CanisterLogRecord>('CanisterLogRecord', { idx: nat, timestampNanos: nat, content: bytes });

const change = record<CanisterChange>('CanisterChange', {
  timestampNanos: nat,
  canisterVersion: nat,
  origin: record('CanisterChange.origin', { kind: literal(['user', 'canister'] as const), id: principal }),
  details: union<CanisterChange['details']>('CanisterChange.details', 'kind', {
    creation: record('creation', { controllers: list(principal) }),
    code_uninstall: record('code_uninstall', {}),
    code_deployment: record('code_deployment', { mode: literal(['install', 'reinstall', 'upgrade'] as const), moduleHash: bytes }),
    controllers_change: record('controllers_change', { controllers: list(principal) }),
    // Ready for load_canister_snapshot's history entry (not in CanisterChange yet).
    load_snapshot: record<{ canisterVersion: bigint; snapshotId: Uint8Array; takenAtNanos: bigint }>('load_snapshot', {
      canisterVersion: nat, snapshotId: bytes, takenAtNanos: nat,
    }) as Codec<object>,
  }),
});

const ingressParties = { sender: principal, receiver: principal, time: nat };
const ingressStatus = union<IngressStatus>('IngressStatus', 'status', {
  received: record('IngressStatus.received', ingressParties),
  processing: record('IngressStatus.processing', ingressParties),
  replied: record('IngressStatus.replied', { reply: bytes, ...ingressParties }),
  rejected: record('IngressStatus.rejected', { code: rejectCode, message: text, errorCode: text, ...ingressParties }),
  done: record('IngressStatus.done', ingressParties),
});

// A paused (DTS) execution is encoded so the hash covers it between checkpoints; checkpoints
// themselves never contain one (the checkpointer refuses: the round before aborts them).
const executionWork = union<ExecutionWork>('ExecutionWork', 'kind', {
  message: record('ExecutionWork.message', { message }),
  task: record('ExecutionWork.task', { task: literal(['heartbeat', 'global_timer'] as const) }),
  install: record('ExecutionWork.install', { request }),
});

const pausedExecution = record<PausedExecution>('PausedExecution', {
  work: executionWork,
  prepaid: nat,
  instructions: nat,
  slices: num,
  timerBefore: opt(nat),
});

const schedulerState = record<CanisterSchedulerState>('CanisterSchedulerState', {
  accumulatedPriority: int,
  priorityCredit: int,
  longExecutionMode: literal(['opportunistic', 'prioritized'] as const),
  paused: opt(pausedExecution),
  pendingInstall: opt(request),
});

// ---- canisters ----------------------------------------------------------------------------------

/**
 * Every replicated field of a canister that is plain data. The constructor arguments (id,
 * settings, balance), the code and memories (execution, stable) and snapshots are written around
 * this table, in `writeCanister`.
 */
const CANISTER_FIELDS = {
  status: literal(['running', 'stopping', 'stopped'] as const),
  version: nat,
  certifiedData: bytes,
  globalTimer: nat,
  inputQueue: list(message),
  callContexts: sortedMap(num, callContext, byNumber),
  callbacks: sortedMap(num, callback, byNumber),
  nextCallContextId: num,
  nextCallbackId: num,
  chunkStore: sortedMap(text, bytes, byString),
  logs: list(logRecord),
  nextLogIdx: nat,
  stopRequests: list(request),
  history: list(change),
  totalChanges: nat,
  cyclesBurned: sortedMap(text, nat, byString),
  installCount: nat,
  scheduler: schedulerState,
} satisfies { [K in keyof CanisterState]?: Codec<CanisterState[K]> };

// `snapshots`: once CanisterState has the field (today a side table in checkpoint/snapshots.ts).
const CANISTER_SPECIAL = ['id', 'settings', 'balance', 'execution', 'stable', 'snapshots'] as const;

/** Fields of ExecutionState besides the page maps; `wasm` (if present) is stored by module hash. */
const EXECUTION_FIELDS = ['module', 'heap', 'globals', 'wasm'];

/** Every replicated field of the subnet besides canisters. */
const SUBNET_FIELDS = {
  time: nat,
  height: nat,
  nextCanisterIndex: nat,
  cyclesMinted: nat,
  cyclesBurned: nat,
  ingressHistory: sortedMap(text, ingressStatus, byString, () => new IngressHistory()),
  pendingRawRand: list(request),
  pendingSubnetCalls: list(request),
  streams: sortedMap(text, stream, byString),
  cyclesReceived: nat,
  cyclesSent: nat,
} satisfies { [K in keyof ReplicatedState]?: Codec<ReplicatedState[K]> };

/** `canisterMap` is private: canisters are written one by one, in id order. */
const SUBNET_SPECIAL = ['subnetId', 'canisterRange', 'canisterMap'] as const;

function assertCovered(what: string, obj: object, ...known: readonly (readonly string[])[]): void {
  const set = new Set(known.flat());
  for (const key of Object.keys(obj)) {
    if (!set.has(key)) throw new StateEncodingError(`${what} has a field '${key}' without a codec: add it in state/serialize.ts`);
  }
}

/** Assigns a decoded value, refilling readonly containers in place. */
function assign(target: object, key: string, value: unknown): void {
  const t = target as Record<string, unknown>;
  const current = t[key];
  if (current instanceof Map && value instanceof Map) {
    current.clear();
    for (const [k, v] of value) current.set(k, v);
  } else if (Array.isArray(current) && Array.isArray(value)) {
    current.length = 0;
    current.push(...value);
  } else {
    t[key] = value;
  }
}

/** The id of a page map in checkpoints: the canister id in hex and the memory's role. */
export function pageMapId(canister: Principal, role: string): string {
  return `${bytesToHex(canister.toUint8Array())}/${role}`;
}

function snapshotRole(snapshotId: Uint8Array, memory: 'heap' | 'stable'): string {
  return `snapshot/${bytesToHex(snapshotId)}/${memory}`;
}

const globalsCodec = list(globalValue);
const chunkStoreCodec = sortedMap(text, bytes, byString);

const snapshotMeta = {
  write(w: ByteWriter, s: CanisterSnapshot): void {
    assertCovered('CanisterSnapshot', s, SNAPSHOT_KEYS);
    w.bytes(s.id);
    nat.write(w, s.takenAtNanos);
    nat.write(w, s.canisterVersion);
    w.bytes(s.module.hash);
    w.varuint(s.heap.sizeBytes);
    w.varuint(s.stable.sizeBytes);
    globalsCodec.write(w, s.globals as GlobalValue[]);
    w.bytes(s.certifiedData);
    nat.write(w, s.globalTimer);
    chunkStoreCodec.write(w, s.chunkStore as Map<string, Uint8Array>);
  },
  read(r: ByteReader, ctx: DecodeContext, canister: Principal): CanisterSnapshot {
    const id = r.bytes();
    const takenAtNanos = r.varuint();
    const canisterVersion = r.varuint();
    const module = ctx.module(bytesToHex(r.bytes()));
    const heapSize = r.varuintNumber();
    const stableSize = r.varuintNumber();
    return {
      id, takenAtNanos, canisterVersion, module,
      heap: ctx.pageMap(pageMapId(canister, snapshotRole(id, 'heap')), heapSize),
      stable: ctx.pageMap(pageMapId(canister, snapshotRole(id, 'stable')), stableSize),
      globals: globalsCodec.read(r, ctx),
      certifiedData: r.bytes(),
      globalTimer: r.varuint(),
      chunkStore: chunkStoreCodec.read(r, ctx),
    };
  },
};
const SNAPSHOT_KEYS = ['id', 'takenAtNanos', 'canisterVersion', 'module', 'heap', 'stable', 'globals', 'certifiedData', 'globalTimer', 'chunkStore'];

/** A canister's metadata: every field but page contents (page maps by id and size). */
export function encodeCanister(c: CanisterState, purpose: 'store' | 'hash' = 'store'): Uint8Array {
  const w = new ByteWriter(4096, purpose);
  writeCanister(w, c);
  return w.finish();
}

function writeCanister(w: ByteWriter, c: CanisterState): void {
  assertCovered('CanisterState', c, Object.keys(CANISTER_FIELDS), CANISTER_SPECIAL);
  principal.write(w, c.id);
  settingsCodec.write(w, c.settings);
  nat.write(w, c.balance);
  for (const [key, codec] of Object.entries(CANISTER_FIELDS)) (codec as Codec<unknown>).write(w, c[key as keyof CanisterState]);
  const exec = c.execution;
  w.u8(exec ? 1 : 0);
  if (exec) {
    assertCovered('ExecutionState', exec, EXECUTION_FIELDS);
    w.bytes(exec.module.hash);
    w.varuint(exec.heap.sizeBytes);
    globalsCodec.write(w, exec.globals as GlobalValue[]);
  }
  w.varuint(c.stable.sizeBytes);
  const snapshots = canisterSnapshots(c);
  nat.write(w, snapshots.nextLocalId);
  const ids = [...snapshots.byId.keys()].sort(byString);
  w.varuint(ids.length);
  for (const id of ids) snapshotMeta.write(w, snapshots.byId.get(id)!);
}

export function decodeCanister(bytes: Uint8Array, ctx: DecodeContext): CanisterState {
  const r = new ByteReader(bytes);
  const c = readCanister(r, ctx);
  if (!r.done) throw new StateEncodingError('trailing bytes after canister metadata');
  return c;
}

function readCanister(r: ByteReader, ctx: DecodeContext): CanisterState {
  const id = principal.read(r, ctx);
  const settings = settingsCodec.read(r, ctx);
  const balance = nat.read(r, ctx);
  const c = new CanisterState(id, settings, balance);
  for (const [key, codec] of Object.entries(CANISTER_FIELDS)) assign(c, key, (codec as Codec<unknown>).read(r, ctx));
  if (r.u8() === 1) {
    const module = ctx.module(bytesToHex(r.bytes()));
    const heap = ctx.pageMap(pageMapId(id, 'heap'), r.varuintNumber());
    const globals = globalsCodec.read(r, ctx);
    c.execution = { module, heap, globals } satisfies ExecutionState;
  }
  c.stable = ctx.pageMap(pageMapId(id, 'stable'), r.varuintNumber());
  const snapshots = canisterSnapshots(c);
  snapshots.nextLocalId = r.varuint();
  const n = r.varuintNumber();
  for (let i = 0; i < n; i++) {
    const s = snapshotMeta.read(r, ctx, id);
    snapshots.byId.set(bytesToHex(s.id), s);
  }
  return c;
}

// ---- the subnet -------------------------------------------------------------------------------

/** The subnet's metadata and every canister's, in id order: all of the state but page contents. */
export function encodeState(state: ReplicatedState): Uint8Array {
  const w = new ByteWriter(64 * 1024);
  w.varuint(STATE_ENCODING_VERSION);
  writeSubnet(w, state);
  const canisters = state.canisters();
  w.varuint(canisters.length);
  for (const c of canisters) w.bytes(encodeCanister(c));
  return w.finish();
}

function writeSubnet(w: ByteWriter, state: ReplicatedState): void {
  assertCovered('ReplicatedState', state, Object.keys(SUBNET_FIELDS), SUBNET_SPECIAL);
  principal.write(w, state.subnetId);
  nat.write(w, state.canisterRange.start);
  nat.write(w, state.canisterRange.end);
  for (const [key, codec] of Object.entries(SUBNET_FIELDS)) (codec as Codec<unknown>).write(w, state[key as keyof ReplicatedState]);
}

/**
 * Decodes into `target`, a fresh state (e.g. the one a new Replica made), so that whoever holds a
 * reference to it sees the restored state. Subnet id and range must match.
 */
export function decodeStateInto(target: ReplicatedState, bytes: Uint8Array, ctx: DecodeContext): ReplicatedState {
  if (target.canisterCount !== 0 || target.height !== 0n) throw new StateEncodingError('decodeStateInto needs a fresh state');
  const r = new ByteReader(bytes);
  const version = r.varuintNumber();
  if (version !== STATE_ENCODING_VERSION) throw new StateEncodingError(`state encoding version ${version} is not supported`);
  const subnetId = principal.read(r, ctx);
  const start = r.varuint();
  const end = r.varuint();
  if (subnetId.compareTo(target.subnetId) !== 'eq' || start !== target.canisterRange.start || end !== target.canisterRange.end) {
    throw new StateEncodingError(`the checkpoint is of subnet ${subnetId.toText()} [${start}, ${end}], not ${target.subnetId.toText()}`);
  }
  for (const [key, codec] of Object.entries(SUBNET_FIELDS)) assign(target, key, (codec as Codec<unknown>).read(r, ctx));
  const n = r.varuintNumber();
  for (let i = 0; i < n; i++) target.addCanister(decodeCanister(r.bytes(), ctx));
  if (!r.done) throw new StateEncodingError('trailing bytes after the state');
  return target;
}

/** Moves everything of `from` (a decoded state) into `to`, a fresh state of the same subnet. */
export function transferState(from: ReplicatedState, to: ReplicatedState): ReplicatedState {
  if (to.canisterCount !== 0 || to.height !== 0n) throw new StateEncodingError('transferState needs a fresh target');
  if (from.subnetId.compareTo(to.subnetId) !== 'eq') throw new StateEncodingError('transferState across subnets');
  for (const key of Object.keys(SUBNET_FIELDS)) assign(to, key, from[key as keyof ReplicatedState]);
  for (const c of from.canisters()) to.addCanister(c);
  return to;
}

// ---- page maps ----------------------------------------------------------------------------------

/** Every page map of the state with its id, canisters in id order. */
export function statePageMaps(state: ReplicatedState): [string, PageMap][] {
  const out: [string, PageMap][] = [];
  for (const c of state.canisters()) out.push(...canisterPageMaps(c));
  return out;
}

export function canisterPageMaps(c: CanisterState): [string, PageMap][] {
  const out: [string, PageMap][] = [];
  if (c.execution) out.push([pageMapId(c.id, 'heap'), c.execution.heap]);
  out.push([pageMapId(c.id, 'stable'), c.stable]);
  const snapshots = canisterSnapshots(c);
  for (const key of [...snapshots.byId.keys()].sort(byString)) {
    const s = snapshots.byId.get(key)!;
    out.push([pageMapId(c.id, snapshotRole(s.id, 'heap')), s.heap]);
    out.push([pageMapId(c.id, snapshotRole(s.id, 'stable')), s.stable]);
  }
  return out;
}

/**
 * Digests of pages, cached per page map. A page's digest is recomputed only when the page is in
 * the map's `dirty` set; the checkpointer clears `dirty` only right after hashing, so every page
 * outside `dirty` is unchanged since its digest was taken.
 */
export class PageDigestCache {
  private readonly digests = new WeakMap<PageMap, Map<number, Uint8Array>>();

  digestsOf(map: PageMap): Map<number, Uint8Array> {
    let d = this.digests.get(map);
    if (!d) {
      d = new Map();
      for (const index of map.indices()) setDigest(d, index, map.page(index));
      this.digests.set(map, d);
      return d;
    }
    for (const index of map.dirty) setDigest(d, index, map.page(index));
    return d;
  }
}

function setDigest(d: Map<number, Uint8Array>, index: number, page: Uint8Array): void {
  // Zero pages read like absent pages: the hash does not depend on how sparse the map is.
  if (isZero(page)) d.delete(index);
  else d.set(index, sha256(page));
}

const PAGE_MAP_DOMAIN = utf8Encoder.encode('icpk-page-map/1');

/** SHA-256 over the size and the non-zero pages (index and digest), in index order. */
export function pageMapHash(map: PageMap, cache: PageDigestCache | false = defaultDigests): Uint8Array {
  const digests = (cache || new PageDigestCache()).digestsOf(map);
  const indices = [...digests.keys()].sort(byNumber);
  const h = createHash('sha256');
  h.update(PAGE_MAP_DOMAIN);
  const head = new ByteWriter(32);
  head.varuint(map.sizeBytes);
  head.varuint(indices.length);
  h.update(head.finish());
  // Entries of 4-byte index and 32-byte digest, fed in batches.
  const batch = new Uint8Array(36 * 4096);
  const view = new DataView(batch.buffer);
  let at = 0;
  for (const index of indices) {
    view.setUint32(at, index);
    batch.set(digests.get(index)!, at + 4);
    at += 36;
    if (at === batch.length) {
      h.update(batch);
      at = 0;
    }
  }
  h.update(batch.subarray(0, at));
  return Uint8Array.from(h.digest());
}

const defaultDigests = new PageDigestCache();
const STATE_DOMAIN = utf8Encoder.encode('icpk-state/1');

export interface StateHashOptions {
  /** Page digests to reuse; `false` hashes every page afresh (for tests and audits). */
  readonly cache?: PageDigestCache | false;
  /** Receives the hash of every page map on the way (the checkpointer puts them in its manifest). */
  readonly pageMapHashes?: Map<PageMap, Uint8Array>;
}

/**
 * SHA-256 of the canonical encoding of the whole state, page contents included: the subnet's
 * metadata, then per canister (in id order) its metadata and the hash of each of its page maps.
 * Fields that are stored but not replicated (trace contexts) are left out.
 */
export function stateHash(state: ReplicatedState, options: StateHashOptions = {}): Uint8Array {
  const cache = options.cache === false ? new PageDigestCache() : (options.cache ?? defaultDigests);
  const h = createHash('sha256');
  h.update(STATE_DOMAIN);
  const subnet = new ByteWriter(4096, 'hash');
  subnet.varuint(STATE_ENCODING_VERSION);
  writeSubnet(subnet, state);
  h.update(sha256(subnet.finish()));
  const canisters = state.canisters();
  const count = new ByteWriter(8);
  count.varuint(canisters.length);
  h.update(count.finish());
  for (const c of canisters) {
    // The metadata says which page maps exist (heap only with code, one pair per snapshot).
    h.update(sha256(encodeCanister(c, 'hash')));
    for (const [, map] of canisterPageMaps(c)) {
      const hash = pageMapHash(map, cache);
      options.pageMapHashes?.set(map, hash);
      h.update(hash);
    }
  }
  return Uint8Array.from(h.digest());
}

