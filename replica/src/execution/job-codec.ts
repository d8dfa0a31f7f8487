// Jobs and their results in one buffer per batch, for the worker messages. Structured cloning
// costs about as much per job as a trivial message's execution (every object, bigint and byte
// array is visited twice, once per side); this codec writes fields in a fixed order into a
// transferred buffer instead. Byte strings and result pages are read back as views of that buffer.
//
// Every field of a job and of a result is written: the `Exhaustive` checks below fail to compile
// when a field is added to a type the codec carries, until the codec carries it too.

import { CanisterError } from '../errors.js';
import type { ApiContext, ApiOutcome, CanisterView, MessageInput, OutgoingCall, Response } from '../system-api/index.js';
import { PAGE_SIZE } from '../state/page-map.js';
import type { InstallJob, JobResult, SandboxJob } from './job.js';
import type { EntryPoint, GlobalValue, PageDelta, SandboxLimits, SandboxResult } from './sandbox.js';
import { grown, newBytes } from '../bytes.js';

/** A job as the codec carries it: the module by hash, the subnet's id and root key apart (see worker-protocol.ts). */
export type EncodedJob = Omit<SandboxJob, 'module' | 'view' | 'install'> & {
  readonly module: string;
  readonly view: Omit<CanisterView, 'subnetId' | 'rootKey'>;
  /** install_code: the new module by hash too (sent to the worker like any other). */
  readonly install?: Omit<InstallJob, 'module'> & { readonly module: string };
};

const INSTALL_MODES = ['install', 'reinstall', 'upgrade'] as const;

/** What a worker reports for one job of a batch. */
export type JobReport =
  | { readonly id: number; readonly kind: 'done'; readonly result: JobResult }
  /** Reached a slice end but no thread could be held for it: rolled back, `executed` so far. */
  | { readonly id: number; readonly kind: 'detached'; readonly executed: bigint };

// Compile-time checks that the codec knows every field (a new field makes these fail to compile).
type Exhaustive<T, K extends keyof T> = Exclude<keyof T, K> extends never ? true : never;
const checks: [
  Exhaustive<EncodedJob, 'canisterId' | 'module' | 'entry' | 'input' | 'view' | 'limits' | 'cleanup' | 'callContextInstructions' | 'discardMemory' | 'install'>,
  Exhaustive<NonNullable<EncodedJob['install']>, 'mode' | 'module' | 'preUpgrade'>,
  Exhaustive<MessageInput, 'context' | 'caller' | 'callerInfo' | 'arg' | 'methodName' | 'cyclesAvailable' | 'cyclesRefunded' | 'rejectCode' | 'rejectMessage' | 'deadline' | 'needsResponse' | 'replicated'>,
  Exhaustive<EncodedJob['view'], 'canisterId' | 'controllers' | 'status' | 'version' | 'balance' | 'frozenReserve' | 'globalTimer' | 'certificate' | 'envVars' | 'time'>,
  Exhaustive<SandboxLimits, 'instructions' | 'slice' | 'wasmMemoryBytes' | 'stableMemoryBytes' | 'systemApi'>,
  Exhaustive<ApiOutcome, 'response' | 'calls' | 'cyclesAccepted' | 'cyclesBurned' | 'certifiedData' | 'globalTimer' | 'messageAccepted' | 'logs' | 'balance'>,
  Exhaustive<OutgoingCall, 'callee' | 'method' | 'arg' | 'cycles' | 'reply' | 'reject' | 'cleanup' | 'timeoutSeconds' | 'reservation' | 'fee'>,
  Exhaustive<Extract<SandboxResult, { ok: true }>, 'ok' | 'outcome' | 'instructions' | 'heap' | 'stable' | 'globals'>,
  Exhaustive<Extract<SandboxResult, { ok: false }>, 'ok' | 'error' | 'instructions' | 'logs'>,
  Exhaustive<JobResult, 'main' | 'cleanup' | 'instructions'>,
] = [true, true, true, true, true, true, true, true, true, true];
void checks;

/** Bytes written into a buffer that is larger: what `WireWriter.take` hands over. */
export interface Wire {
  readonly buffer: ArrayBuffer;
  readonly length: number;
}

/**
 * Buffers a writer keeps for reuse (about one per batch of a round: they come back at the end of
 * the iteration), and the largest it keeps (one that grew for an install is let go).
 */
const MAX_SPARE_BUFFERS = 32;
const MAX_SPARE_BYTES = 16 << 20;

const utf8 = new TextEncoder();
const fromUtf8 = new TextDecoder();
const U64 = 1n << 64n;

/**
 * Writes into a buffer that is kept and reused: one writer per destination; `take` hands the
 * buffer over to be transferred and goes on in one that came back (growing, or allocating,
 * buffers per batch kept the collector busy).
 */
export class WireWriter {
  private bytes: Uint8Array;
  private view: DataView;
  private at = 0;
  private readonly spares: ArrayBuffer[] = [];
  /** Values the codec does not encode itself (snapshots, system API limits), cloned alongside. */
  extras: unknown[] = [];

  constructor(private readonly initialBytes = 4096) {
    this.bytes = new Uint8Array(initialBytes);
    this.view = new DataView(this.bytes.buffer);
  }

  get length(): number {
    return this.at;
  }

  /**
   * Hands over the writer's own buffer (to transfer: no copy) and goes on in one given back
   * earlier (`give`), or a new one. Buffers that go back and forth between two threads this way
   * are allocated once: a new buffer per message made the receiver collect garbage for the
   * external memory alone, many times a round.
   */
  take(): Wire {
    const out = { buffer: this.bytes.buffer as ArrayBuffer, length: this.at };
    const spare = this.spares.pop();
    this.bytes = spare ? new Uint8Array(spare) : new Uint8Array(this.initialBytes);
    this.view = new DataView(this.bytes.buffer);
    this.reset();
    return out;
  }

  /** A buffer taken from a writer like this one, back for reuse. */
  give(buffer: ArrayBuffer): void {
    if (this.spares.length < MAX_SPARE_BUFFERS && buffer.byteLength >= this.initialBytes && buffer.byteLength <= MAX_SPARE_BYTES) this.spares.push(buffer);
  }

  /** Forgets what was written. */
  reset(): void {
    this.at = 0;
    this.extras = [];
  }

  private room(n: number): void {
    if (this.at + n <= this.bytes.length) return;
    this.bytes = grown(this.bytes, this.at, n, newBytes);
    this.view = new DataView(this.bytes.buffer);
  }

  u8(v: number): void {
    this.room(1);
    this.bytes[this.at++] = v;
  }

  u32(v: number): void {
    this.room(4);
    this.view.setUint32(this.at, v, true);
    this.at += 4;
  }

  f64(v: number): void {
    this.room(8);
    this.view.setFloat64(this.at, v, true);
    this.at += 8;
  }

  /** A bigint: 0 + 8 bytes when in [0, 2^64), else 1 + its decimal text. */
  big(v: bigint): void {
    if (v >= 0n && v < U64) {
      this.room(9);
      this.bytes[this.at] = 0;
      this.view.setBigUint64(this.at + 1, v, true);
      this.at += 9;
      return;
    }
    this.u8(1);
    this.str(v.toString());
  }

  bytesOf(v: Uint8Array): void {
    this.u32(v.length);
    this.room(v.length);
    this.bytes.set(v, this.at);
    this.at += v.length;
  }

  str(v: string): void {
    // At most 3 bytes per UTF-16 unit. Most strings are short ASCII (ids, hashes, method names):
    // copied by hand, which is cheaper than a call into the encoder.
    const n = v.length;
    this.room(4 + n * 3);
    const bytes = this.bytes;
    const start = this.at + 4;
    let i = 0;
    if (n <= 128) {
      for (; i < n; i++) {
        const c = v.charCodeAt(i);
        if (c >= 0x80) break;
        bytes[start + i] = c;
      }
    }
    const written = i === n ? n : utf8.encodeInto(v, bytes.subarray(start)).written;
    this.view.setUint32(this.at, written, true);
    this.at = start + written;
  }

  optStr(v: string | undefined): void {
    this.u8(v === undefined ? 0 : 1);
    if (v !== undefined) this.str(v);
  }

  optBig(v: bigint | undefined): void {
    this.u8(v === undefined ? 0 : 1);
    if (v !== undefined) this.big(v);
  }

  optBytes(v: Uint8Array | undefined): void {
    this.u8(v === undefined ? 0 : 1);
    if (v !== undefined) this.bytesOf(v);
  }

  /** A value cloned alongside the buffer (its index is written). */
  extra(v: unknown): void {
    this.u8(v === undefined ? 0 : 1);
    if (v !== undefined) {
      this.u32(this.extras.length);
      this.extras.push(v);
    }
  }
}

export class WireReader {
  private readonly bytes: Uint8Array;
  private readonly view: DataView;
  private at = 0;

  /** Reads `wire` (a whole buffer, or the bytes a writer wrote into a larger one). */
  constructor(wire: ArrayBuffer | Wire, private readonly extras: readonly unknown[] = []) {
    const buffer = wire instanceof ArrayBuffer ? wire : wire.buffer;
    this.bytes = new Uint8Array(buffer, 0, wire instanceof ArrayBuffer ? buffer.byteLength : wire.length);
    this.view = new DataView(buffer);
  }

  get done(): boolean {
    return this.at >= this.bytes.length;
  }

  u8(): number {
    return this.bytes[this.at++]!;
  }

  u32(): number {
    const v = this.view.getUint32(this.at, true);
    this.at += 4;
    return v;
  }

  f64(): number {
    const v = this.view.getFloat64(this.at, true);
    this.at += 8;
    return v;
  }

  big(): bigint {
    if (this.u8() === 1) return BigInt(this.str());
    const at = this.at;
    this.at += 8;
    // Zero is common (cycles, timers): no bigint allocated for it.
    if (this.view.getUint32(at, true) === 0 && this.view.getUint32(at + 4, true) === 0) return 0n;
    return this.view.getBigUint64(at, true);
  }

  /** A copy: what goes into the replicated state must not pin the whole batch's buffer. */
  bytesOf(): Uint8Array {
    const n = this.u32();
    const v = this.bytes.slice(this.at, this.at + n);
    this.at += n;
    return v;
  }

  /** A view of the buffer (no copy), for what is used once (job inputs, pages copied into page maps). */
  viewOf(): Uint8Array {
    const n = this.u32();
    const v = this.bytes.subarray(this.at, this.at + n);
    this.at += n;
    return v;
  }

  str(): string {
    const n = this.u32();
    const at = this.at;
    this.at += n;
    return n === 0 ? '' : fromUtf8.decode(this.bytes.subarray(at, at + n));
  }

  optStr(): string | undefined {
    return this.u8() === 0 ? undefined : this.str();
  }

  optBig(): bigint | undefined {
    return this.u8() === 0 ? undefined : this.big();
  }

  optBytes(): Uint8Array | undefined {
    return this.u8() === 0 ? undefined : this.bytesOf();
  }

  optView(): Uint8Array | undefined {
    return this.u8() === 0 ? undefined : this.viewOf();
  }

  extra<T>(): T | undefined {
    return this.u8() === 0 ? undefined : (this.extras[this.u32()] as T);
  }
}

// ---- jobs ---------------------------------------------------------------------------------------

/**
 * `module` (and the new module of an install): the module's hash (the worker has the module);
 * the view's subnet fields are not written.
 */
export function writeJob(w: WireWriter, job: Omit<EncodedJob, 'module' | 'install'>, module: string, install?: EncodedJob['install']): void {
  w.str(job.canisterId);
  w.str(module);
  writeEntry(w, job.entry);
  const i = job.input;
  w.str(i.context);
  w.bytesOf(i.caller);
  w.bytesOf(i.arg);
  w.optStr(i.methodName);
  w.big(i.cyclesAvailable);
  w.big(i.cyclesRefunded);
  w.u32(i.rejectCode);
  w.optStr(i.rejectMessage);
  w.big(i.deadline);
  w.u8((i.needsResponse ? 1 : 0) | (i.replicated ? 2 : 0) | (job.discardMemory === undefined ? 0 : job.discardMemory ? 4 : 8) | (i.callerInfo ? 16 : 0));
  if (i.callerInfo) {
    w.bytesOf(i.callerInfo.data);
    w.bytesOf(i.callerInfo.signer);
  }
  const v = job.view;
  w.bytesOf(v.canisterId);
  w.u32(v.controllers.length);
  for (const c of v.controllers) w.bytesOf(c);
  w.u8(v.status);
  w.big(v.version);
  w.big(v.balance);
  w.big(v.frozenReserve);
  w.big(v.globalTimer);
  w.optBytes(v.certificate);
  w.u32(v.envVars.length);
  for (const [name, value] of v.envVars) {
    w.str(name);
    w.str(value);
  }
  w.big(v.time);
  const l = job.limits;
  w.big(l.instructions);
  w.optBig(l.slice);
  w.f64(l.wasmMemoryBytes);
  w.big(l.stableMemoryBytes);
  w.extra(l.systemApi);
  w.u8(job.cleanup ? 1 : 0);
  if (job.cleanup) {
    w.u32(job.cleanup.fn);
    w.u32(job.cleanup.env);
  }
  w.optBig(job.callContextInstructions);
  w.u8(install === undefined ? 0 : 1 + INSTALL_MODES.indexOf(install.mode) + (install.preUpgrade ? 4 : 0));
  if (install) w.str(install.module);
}

/** With `subnet`, the view gets the subnet's id and root key (the worker's copy of them). */
export function readJob(r: WireReader): EncodedJob;
export function readJob(r: WireReader, subnet: { readonly subnetId: Uint8Array; readonly rootKey: Uint8Array }): EncodedJob & { readonly view: CanisterView };
export function readJob(r: WireReader, subnet?: { readonly subnetId: Uint8Array; readonly rootKey: Uint8Array }): EncodedJob {
  const canisterId = r.str();
  const module = r.str();
  const entry = readEntry(r);
  const context = r.str() as ApiContext;
  const caller = r.viewOf();
  const arg = r.viewOf();
  const methodName = r.optStr();
  const cyclesAvailable = r.big();
  const cyclesRefunded = r.big();
  const rejectCode = r.u32();
  const rejectMessage = r.optStr();
  const deadline = r.big();
  const flags = r.u8();
  const callerInfo = (flags & 16) !== 0 ? { data: r.viewOf(), signer: r.viewOf() } : undefined;
  const input: MessageInput = {
    context, caller, arg, cyclesAvailable, cyclesRefunded, rejectCode, deadline,
    needsResponse: (flags & 1) !== 0, replicated: (flags & 2) !== 0,
    ...(methodName === undefined ? {} : { methodName }),
    ...(rejectMessage === undefined ? {} : { rejectMessage }),
    ...(callerInfo === undefined ? {} : { callerInfo }),
  };
  const id = r.viewOf();
  const controllers: Uint8Array[] = [];
  for (let n = r.u32(); n > 0; n--) controllers.push(r.viewOf());
  const status = r.u8() as 1 | 2 | 3;
  const version = r.big();
  const balance = r.big();
  const frozenReserve = r.big();
  const globalTimer = r.big();
  const certificate = r.optView();
  const envVars: [string, string][] = [];
  for (let n = r.u32(); n > 0; n--) envVars.push([r.str(), r.str()]);
  const time = r.big();
  const view = {
    canisterId: id, controllers, status, version, balance, frozenReserve, globalTimer, envVars, time,
    ...(certificate ? { certificate } : {}), ...(subnet ? { subnetId: subnet.subnetId, rootKey: subnet.rootKey } : {}),
  };
  const instructions = r.big();
  const slice = r.optBig();
  const wasmMemoryBytes = r.f64();
  const stableMemoryBytes = r.big();
  const systemApi = r.extra<SandboxLimits['systemApi']>();
  const limits: SandboxLimits = {
    instructions, wasmMemoryBytes, stableMemoryBytes,
    ...(slice === undefined ? {} : { slice }),
    ...(systemApi === undefined ? {} : { systemApi }),
  };
  const cleanup = r.u8() === 1 ? { fn: r.u32(), env: r.u32() } : undefined;
  const callContextInstructions = r.optBig();
  const installFlags = r.u8();
  const install = installFlags === 0 ? undefined : { mode: INSTALL_MODES[(installFlags - 1) & 3]!, preUpgrade: (installFlags & 4) !== 0, module: r.str() };
  return {
    canisterId, module, entry, input, view, limits,
    ...(cleanup ? { cleanup } : {}),
    ...(callContextInstructions === undefined ? {} : { callContextInstructions }),
    ...((flags & 12) === 0 ? {} : { discardMemory: (flags & 4) !== 0 }),
    ...(install ? { install } : {}),
  };
}

function writeEntry(w: WireWriter, e: EntryPoint): void {
  if (e.kind === 'export') {
    w.u8(0);
    w.str(e.name);
  } else {
    w.u8(1);
    w.u32(e.fn);
    w.u32(e.env);
  }
}

function readEntry(r: WireReader): EntryPoint {
  return r.u8() === 0 ? { kind: 'export', name: r.str() } : { kind: 'callback', fn: r.u32(), env: r.u32() };
}

// ---- results ------------------------------------------------------------------------------------

export function writeReport(w: WireWriter, report: JobReport): void {
  w.u32(report.id);
  if (report.kind === 'detached') {
    w.u8(0);
    w.big(report.executed);
    return;
  }
  w.u8(1);
  const r = report.result;
  w.big(r.instructions);
  writeResult(w, r.main);
  w.u8(r.cleanup ? 1 : 0);
  if (r.cleanup) writeResult(w, r.cleanup);
}

export function readReport(r: WireReader): JobReport {
  const id = r.u32();
  if (r.u8() === 0) return { id, kind: 'detached', executed: r.big() };
  const instructions = r.big();
  const main = readResult(r);
  const cleanup = r.u8() === 1 ? readResult(r) : undefined;
  return { id, kind: 'done', result: { main, instructions, ...(cleanup ? { cleanup } : {}) } };
}

function writeResult(w: WireWriter, r: SandboxResult): void {
  w.big(r.instructions);
  if (!r.ok) {
    w.u8(0);
    w.u32(r.error.code);
    w.str(r.error.message);
    w.u8(r.logs ? 1 : 0);
    if (r.logs) writeList(w, r.logs);
    return;
  }
  w.u8(1);
  writePages(w, r.heap);
  writePages(w, r.stable);
  w.u32(r.globals.length);
  for (const g of r.globals) {
    if (typeof g === 'bigint') {
      w.u8(1);
      // i64 globals: as two's complement, so negative values take the fast path too.
      w.big(BigInt.asUintN(64, g));
    } else if ((g | 0) === g && !Object.is(g, -0)) {
      // i32 globals (and integral floats): read back as small integers, not heap numbers.
      w.u8(2);
      w.u32(g >>> 0);
    } else {
      w.u8(0);
      w.f64(g);
    }
  }
  const o = r.outcome;
  writeResponse(w, o.response);
  w.u32(o.calls.length);
  for (const c of o.calls) {
    w.bytesOf(c.callee);
    w.str(c.method);
    w.bytesOf(c.arg);
    w.big(c.cycles);
    w.u32(c.reply.fn);
    w.u32(c.reply.env);
    w.u32(c.reject.fn);
    w.u32(c.reject.env);
    w.u8(c.cleanup ? 1 : 0);
    if (c.cleanup) {
      w.u32(c.cleanup.fn);
      w.u32(c.cleanup.env);
    }
    w.u8(c.timeoutSeconds === undefined ? 0 : 1);
    if (c.timeoutSeconds !== undefined) w.f64(c.timeoutSeconds);
    w.big(c.reservation);
    w.big(c.fee);
  }
  w.big(o.cyclesAccepted);
  w.big(o.cyclesBurned);
  w.optBytes(o.certifiedData);
  w.optBig(o.globalTimer);
  w.u8(o.messageAccepted ? 1 : 0);
  writeList(w, o.logs);
  w.big(o.balance);
}

function readResult(r: WireReader): SandboxResult {
  const instructions = r.big();
  if (r.u8() === 0) {
    const error = new CanisterError(r.u32(), r.str());
    const logs = r.u8() === 1 ? readList(r) : undefined;
    return { ok: false, error, instructions, ...(logs ? { logs } : {}) };
  }
  const heap = readPages(r);
  const stable = readPages(r);
  const globals = new Array<GlobalValue>(r.u32());
  for (let i = 0; i < globals.length; i++) {
    const tag = r.u8();
    globals[i] = tag === 1 ? BigInt.asIntN(64, r.big()) : tag === 2 ? r.u32() | 0 : r.f64();
  }
  const response = readResponse(r);
  const calls: OutgoingCall[] = [];
  for (let n = r.u32(); n > 0; n--) {
    const callee = r.bytesOf();
    const method = r.str();
    const arg = r.bytesOf();
    const cycles = r.big();
    const reply = { fn: r.u32(), env: r.u32() };
    const reject = { fn: r.u32(), env: r.u32() };
    const cleanup = r.u8() === 1 ? { fn: r.u32(), env: r.u32() } : undefined;
    const timeoutSeconds = r.u8() === 1 ? r.f64() : undefined;
    const reservation = r.big();
    const fee = r.big();
    calls.push({
      callee, method, arg, cycles, reply, reject, reservation, fee,
      ...(cleanup ? { cleanup } : {}), ...(timeoutSeconds === undefined ? {} : { timeoutSeconds }),
    });
  }
  const cyclesAccepted = r.big();
  const cyclesBurned = r.big();
  const certifiedData = r.optBytes();
  const globalTimer = r.optBig();
  const messageAccepted = r.u8() === 1;
  const logs = readList(r);
  const balance = r.big();
  const outcome: ApiOutcome = {
    calls, cyclesAccepted, cyclesBurned, messageAccepted, logs, balance,
    ...(response ? { response } : {}), ...(certifiedData ? { certifiedData } : {}), ...(globalTimer === undefined ? {} : { globalTimer }),
  };
  return { ok: true, outcome, instructions, heap, stable, globals };
}

function writeResponse(w: WireWriter, response: Response | undefined): void {
  if (!response) return w.u8(0);
  if (response.kind === 'reply') {
    w.u8(1);
    w.bytesOf(response.data);
  } else {
    w.u8(2);
    w.str(response.message);
  }
}

function readResponse(r: WireReader): Response | undefined {
  const kind = r.u8();
  return kind === 0 ? undefined : kind === 1 ? { kind: 'reply', data: r.bytesOf() } : { kind: 'reject', message: r.str() };
}

/** Pages inline: size, count, indices, then the page bytes. */
function writePages(w: WireWriter, pages: { readonly sizeBytes: number; readonly pages: readonly PageDelta[] }): void {
  w.f64(pages.sizeBytes);
  w.u32(pages.pages.length);
  for (const p of pages.pages) {
    w.u32(p.index);
    w.bytesOf(p.bytes);
  }
}

function readPages(r: WireReader): { sizeBytes: number; pages: PageDelta[] } {
  const sizeBytes = r.f64();
  const pages: PageDelta[] = [];
  for (let n = r.u32(); n > 0; n--) {
    const index = r.u32();
    const bytes = r.viewOf();
    if (bytes.length !== PAGE_SIZE) throw new Error(`a page delta of ${bytes.length} bytes`);
    pages.push({ index, bytes });
  }
  return { sizeBytes, pages };
}

function writeList(w: WireWriter, list: readonly Uint8Array[]): void {
  w.u32(list.length);
  for (const b of list) w.bytesOf(b);
}

function readList(r: WireReader): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let n = r.u32(); n > 0; n--) out.push(r.bytesOf());
  return out;
}
