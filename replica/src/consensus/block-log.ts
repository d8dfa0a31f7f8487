// The durable block source of a single replica: an append-only log on disk of the ingress it
// accepted and the blocks it made. `submit` resolves only once the message is on disk (records of
// concurrent submits share one fsync), so an acknowledged message survives a crash; `make`
// writes the block before returning it, so a block is executed only once it can be replayed.
//
// Records, in segment files `blocks-<seq>.log`:
//   u32 BE payload length | first 8 bytes of SHA-256(payload) | payload (CBOR)
// A torn record at the end of the last segment (a crash mid-write) is cut off when the log is
// opened; a damaged record anywhere else is an error.
//
// Restart = newest valid checkpoint + `blocksAfter(its height)` executed in order, then `resume`
// puts the acknowledged messages that no block took yet back into the pool.

import { closeSync, fdatasync, fdatasyncSync, fsyncSync, openSync, write, writeSync } from 'node:fs';
import { mkdir, open, readFile, readdir, rm, truncate } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { decode, encode } from '@dfinity/cbor';
import { Principal } from '@icp-sdk/core/principal';
import { LocalBlockMaker, defaultTape, systemClock, type Clock } from './local-block-maker.js';
import type { Block, IngressMessage, XNetSlice } from './types.js';
import type { CallerInfo } from '../state/types.js';
import { decodeStreamMessage, encodeStreamMessage } from '../state/serialize.js';
import { sha256 } from '../bytes.js';

export class BlockLogCorruptError extends Error {
  override readonly name = 'BlockLogCorruptError';
  constructor(message: string, readonly file: string, readonly offset: number) {
    super(message);
  }
}

export interface FileBlockLogOptions {
  readonly clock?: Clock;
  readonly maxIngressPerBlock?: number;
  /** Randomness of round h; defaults to the embedded hash chain (as LocalBlockMaker). */
  readonly randomTape?: (height: bigint) => Uint8Array;
  /** A new segment starts once the current one is this large. */
  readonly segmentBytes?: number;
}

interface Segment {
  readonly seq: number;
  readonly path: string;
  size: number;
  /** Highest block height in the segment, -1n if none. */
  maxHeight: bigint;
  /** Ingress records in the segment not yet taken by any block. */
  readonly untaken: Set<string>;
}

type Flush = { bytes: Uint8Array; message: IngressMessage; resolve: () => void; reject: (e: Error) => void };

const HEADER = 12;
const writeAsync = promisify(write);
const fdatasyncAsync = promisify(fdatasync);
const SEGMENT = /^blocks-(\d{12})\.log$/;

export class FileBlockLog extends LocalBlockMaker {
  private readonly ready: IngressMessage[] = [];
  private readonly segments: Segment[];
  /** Ingress ids seen in a record but not (yet) in a block: which segment holds them. */
  private readonly untakenIn = new Map<string, Segment>();
  private fd: number;
  private lastHeight: bigint;
  private lastBlockTime: bigint;
  private queue: Flush[] = [];
  private flushing = false;
  private closed = false;
  private readonly clockSource: Clock;
  private readonly maxPerBlock: number;
  private readonly tape: (height: bigint) => Uint8Array;
  private readonly segmentBytes: number;
  /** Bytes and fsyncs since open, for tests and metrics. */
  readonly stats = { bytesAppended: 0, syncs: 0 };

  private constructor(
    readonly dir: string,
    segments: Segment[],
    last: { height: bigint; time: bigint },
    options: FileBlockLogOptions,
  ) {
    super(options.clock, options.maxIngressPerBlock, options.randomTape);
    this.clockSource = options.clock ?? systemClock;
    this.maxPerBlock = options.maxIngressPerBlock ?? 1000;
    this.tape = options.randomTape ?? defaultTape;
    this.segmentBytes = options.segmentBytes ?? 64 * 1024 * 1024;
    this.segments = segments;
    for (const s of segments) for (const id of s.untaken) this.untakenIn.set(id, s);
    this.lastHeight = last.height;
    this.lastBlockTime = last.time;
    this.fd = openSync(segments.at(-1)!.path, 'a');
  }

  /** Opens the log in `dir` (created if missing), cutting off a torn tail. */
  static async open(dir: string, options: FileBlockLogOptions = {}): Promise<FileBlockLog> {
    await mkdir(dir, { recursive: true });
    const names = (await readdir(dir)).filter((n) => SEGMENT.test(n)).sort();
    const segments: Segment[] = [];
    let last = { height: 0n, time: 0n };
    const taken = new Set<string>();
    const untakenIn = new Map<string, Segment>();
    for (const [i, name] of names.entries()) {
      const path = join(dir, name);
      const seq = Number(SEGMENT.exec(name)![1]);
      const segment: Segment = { seq, path, size: 0, maxHeight: -1n, untaken: new Set() };
      const bytes = await readFile(path);
      const { end, records } = scan(bytes, path, i === names.length - 1);
      for (const r of records) {
        if (r.kind === 'ingress') {
          if (!taken.has(r.message.messageId)) {
            segment.untaken.add(r.message.messageId);
            untakenIn.set(r.message.messageId, segment);
          }
          continue;
        }
        if (r.block.height !== last.height + 1n && last.height !== 0n) {
          throw new BlockLogCorruptError(`block ${r.block.height} follows block ${last.height}`, path, 0);
        }
        last = { height: r.block.height, time: r.block.time };
        segment.maxHeight = r.block.height;
        for (const m of r.block.ingress) {
          taken.add(m.messageId);
          untakenIn.get(m.messageId)?.untaken.delete(m.messageId);
          untakenIn.delete(m.messageId);
        }
      }
      segment.size = end;
      if (bytes.length !== end) {
        await truncate(path, end); // the torn tail of the last segment
        const h = await open(path, 'r+');
        await h.sync();
        await h.close();
      }
      segments.push(segment);
    }
    if (segments.length === 0) {
      const path = join(dir, segmentName(0));
      await (await open(path, 'a')).close();
      segments.push({ seq: 0, path, size: 0, maxHeight: -1n, untaken: new Set() });
      await syncDir(dir);
    }
    return new FileBlockLog(dir, segments, last, options);
  }

  /** Height of the last block in the log (0 if none). */
  get lastBlockHeight(): bigint {
    return this.lastHeight;
  }

  override get pending(): number {
    return this.ready.length;
  }

  /** Resolves once the message is durable; then it is in the pool for the next block. */
  override submit(message: IngressMessage): Promise<void> {
    if (this.closed) return Promise.reject(new Error('block log is closed'));
    const bytes = frame(encode({ k: 'i', m: encodeIngress(message) }));
    return new Promise<void>((resolve, reject) => {
      this.queue.push({ bytes, message, resolve, reject });
      if (!this.flushing) void this.flush();
    });
  }

  /** Makes the next block from durable ingress and appends it (fsync) before returning it. */
  override make(xnet: readonly XNetSlice[] = []): Block {
    if (this.closed) throw new Error('block log is closed');
    const height = this.lastHeight + 1n;
    const now = this.clockSource.now();
    const time = now > this.lastBlockTime ? now : this.lastBlockTime + 1n;
    const block: Block = {
      height, time, ingress: this.ready.splice(0, this.maxPerBlock), ...(xnet.length > 0 ? { xnet } : {}), randomness: this.tape(height - 1n),
    };
    this.appendSync(frame(encode({ k: 'b', ...encodeBlock(block) })));
    this.lastHeight = height;
    this.lastBlockTime = time;
    const segment = this.segments.at(-1)!;
    segment.maxHeight = height;
    for (const m of block.ingress) {
      this.untakenIn.get(m.messageId)?.untaken.delete(m.messageId);
      this.untakenIn.delete(m.messageId);
    }
    if (segment.size >= this.segmentBytes && !this.flushing) this.rotate();
    return block;
  }

  override async next(): Promise<Block> {
    return this.make();
  }

  /** Blocks with height above `height`, in order, read from disk. */
  async *blocksAfter(height: bigint): AsyncGenerator<Block> {
    for (const s of this.segments) {
      if (s.maxHeight !== -1n && s.maxHeight <= height) continue;
      const bytes = await readFile(s.path);
      const { records } = scan(bytes.subarray(0, s.size), s.path, false);
      for (const r of records) if (r.kind === 'block' && r.block.height > height) yield r.block;
    }
  }

  /**
   * After replay: acknowledged messages no block took, in the order they were accepted, go back
   * into the pool, except those the state already knows (`isKnown`, e.g. the ingress history).
   */
  async resume(isKnown: (messageId: string) => boolean): Promise<number> {
    const seen = new Set(this.ready.map((m) => m.messageId));
    for (const s of this.segments) {
      if (s.untaken.size === 0) continue;
      const { records } = scan((await readFile(s.path)).subarray(0, s.size), s.path, false);
      for (const r of records) {
        if (r.kind !== 'ingress' || !s.untaken.has(r.message.messageId)) continue;
        const id = r.message.messageId;
        if (seen.has(id)) continue;
        seen.add(id);
        if (isKnown(id)) {
          s.untaken.delete(id);
          this.untakenIn.delete(id);
        } else {
          this.ready.push(r.message);
        }
      }
    }
    return this.ready.length;
  }

  /**
   * Deletes whole segments whose blocks are all at or below `height` (the oldest checkpoint kept)
   * and whose ingress every block already took. The segment being written stays.
   */
  async pruneThrough(height: bigint): Promise<number> {
    let removed = 0;
    while (this.segments.length > 1) {
      const s = this.segments[0]!;
      if (s.maxHeight > height || s.untaken.size > 0) break;
      await rm(s.path, { force: true });
      this.segments.shift();
      removed++;
    }
    if (removed > 0) await syncDir(this.dir);
    return removed;
  }

  /** Waits for pending submits, then closes the file. */
  async close(): Promise<void> {
    while (this.flushing || this.queue.length > 0) await new Promise((r) => setImmediate(r));
    this.closed = true;
    closeSync(this.fd);
  }

  // ---- internals ----------------------------------------------------------------------------------

  private async flush(): Promise<void> {
    this.flushing = true;
    try {
      while (this.queue.length > 0) {
        const batch = this.queue.splice(0);
        try {
          const bytes = Buffer.concat(batch.map((b) => b.bytes));
          const { bytesWritten } = await writeAsync(this.fd, bytes, 0, bytes.length, null);
          if (bytesWritten !== bytes.length) throw new Error(`short write to the block log (${bytesWritten} of ${bytes.length})`);
          await fdatasyncAsync(this.fd);
          this.segments.at(-1)!.size += bytes.length;
          this.stats.bytesAppended += bytes.length;
          this.stats.syncs++;
          const segment = this.segments.at(-1)!;
          for (const b of batch) {
            segment.untaken.add(b.message.messageId);
            this.untakenIn.set(b.message.messageId, segment);
            this.ready.push(b.message);
            b.resolve();
          }
        } catch (e) {
          for (const b of batch) b.reject(e as Error);
        }
      }
    } finally {
      this.flushing = false;
    }
  }

  private appendSync(bytes: Uint8Array): void {
    const written = writeSync(this.fd, bytes);
    if (written !== bytes.length) throw new Error(`short write to the block log (${written} of ${bytes.length})`);
    fdatasyncSync(this.fd);
    this.segments.at(-1)!.size += bytes.length;
    this.stats.bytesAppended += bytes.length;
    this.stats.syncs++;
  }

  private rotate(): void {
    const seq = this.segments.at(-1)!.seq + 1;
    const path = join(this.dir, segmentName(seq));
    const fd = openSync(path, 'a');
    const dirFd = openSync(this.dir, 'r');
    try {
      fsyncSync(dirFd);
    } finally {
      closeSync(dirFd);
    }
    closeSync(this.fd);
    this.fd = fd;
    this.segments.push({ seq, path, size: 0, maxHeight: -1n, untaken: new Set() });
  }
}

// ---- records --------------------------------------------------------------------------------------

type LogRecord = { kind: 'ingress'; message: IngressMessage } | { kind: 'block'; block: Block };

function frame(payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(HEADER + payload.length);
  new DataView(out.buffer).setUint32(0, payload.length);
  out.set(sha256(payload).subarray(0, 8), 4);
  out.set(payload, HEADER);
  return out;
}

/** Reads records up to the first damaged one; only the last segment may end in one (a torn tail). */
function scan(bytes: Uint8Array, path: string, isLast: boolean): { end: number; records: LogRecord[] } {
  const records: LogRecord[] = [];
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let at = 0;
  while (at < bytes.length) {
    const bad = (why: string): { end: number; records: LogRecord[] } => {
      if (isLast) return { end: at, records };
      throw new BlockLogCorruptError(`block log damaged at byte ${at}: ${why}`, path, at);
    };
    if (at + HEADER > bytes.length) return bad('truncated header');
    const length = view.getUint32(at);
    if (at + HEADER + length > bytes.length) return bad('truncated record');
    const payload = bytes.subarray(at + HEADER, at + HEADER + length);
    const sum = sha256(payload).subarray(0, 8);
    for (let i = 0; i < 8; i++) if (sum[i] !== bytes[at + 4 + i]) return bad('checksum mismatch');
    let record: LogRecord;
    try {
      record = decodeRecord(payload);
    } catch (e) {
      return bad(`undecodable record: ${(e as Error).message}`);
    }
    records.push(record);
    at += HEADER + length;
  }
  return { end: at, records };
}

type Cbor = Record<string, unknown>;

function encodeIngress(m: IngressMessage): Cbor {
  const out: Cbor = { id: m.messageId, s: m.sender.toUint8Array(), r: m.receiver.toUint8Array(), m: m.method, a: m.arg };
  if (m.effectiveCanisterId) out.e = m.effectiveCanisterId.toUint8Array();
  if (m.traceparent !== undefined) out.t = m.traceparent;
  if (m.callerInfo !== undefined) out.c = { d: m.callerInfo.data, s: m.callerInfo.signer.toUint8Array() };
  return out;
}

/** A plain copy: decoded byte strings are views into the whole segment file. */
const own = (x: unknown): Uint8Array => new Uint8Array(x as Uint8Array);

function decodeCallerInfo(c: Cbor): CallerInfo {
  return { data: own(c.d), signer: Principal.fromUint8Array(own(c.s)) };
}

function decodeIngress(c: Cbor): IngressMessage {
  return {
    messageId: c.id as string,
    sender: Principal.fromUint8Array(own(c.s)),
    receiver: Principal.fromUint8Array(own(c.r)),
    method: c.m as string,
    arg: own(c.a),
    ...(c.e ? { effectiveCanisterId: Principal.fromUint8Array(own(c.e)) } : {}),
    ...(c.t !== undefined ? { traceparent: c.t as string } : {}),
    ...(c.c !== undefined ? { callerInfo: decodeCallerInfo(c.c as Cbor) } : {}),
  };
}

function encodeBlock(b: Block): Cbor {
  const out: Cbor = { h: b.height, t: b.time, r: b.randomness, i: b.ingress.map(encodeIngress) };
  if (b.xnet !== undefined) out.x = b.xnet.map(encodeSlice);
  return out;
}

/** A slice as the block took it (verified then; a replay trusts its own log). */
function encodeSlice(s: XNetSlice): Cbor {
  const out: Cbor = {
    s: s.subnet.toUint8Array(), b: s.header.begin, e: s.header.end, g: s.header.signalsEnd, f: s.from,
    m: s.messages.map(encodeStreamMessage),
  };
  if (s.traceparents !== undefined) out.t = s.traceparents.map((t) => t ?? null);
  return out;
}

function decodeSlice(c: Cbor): XNetSlice {
  return {
    subnet: Principal.fromUint8Array(own(c.s)),
    header: { begin: BigInt(c.b as number | bigint), end: BigInt(c.e as number | bigint), signalsEnd: BigInt(c.g as number | bigint) },
    from: BigInt(c.f as number | bigint),
    messages: (c.m as Uint8Array[]).map((m) => decodeStreamMessage(own(m))),
    ...(c.t !== undefined ? { traceparents: (c.t as (string | null)[]).map((t) => t ?? undefined) } : {}),
  };
}

function decodeRecord(payload: Uint8Array): LogRecord {
  const c = decode(payload) as Cbor;
  if (c.k === 'i') return { kind: 'ingress', message: decodeIngress(c.m as Cbor) };
  if (c.k === 'b') {
    return {
      kind: 'block',
      block: {
        height: BigInt(c.h as number | bigint),
        time: BigInt(c.t as number | bigint),
        randomness: own(c.r),
        ingress: (c.i as Cbor[]).map(decodeIngress),
        ...(c.x !== undefined ? { xnet: (c.x as Cbor[]).map(decodeSlice) } : {}),
      },
    };
  }
  throw new Error(`unknown record kind ${String(c.k)}`);
}

function segmentName(seq: number): string {
  return `blocks-${String(seq).padStart(12, '0')}.log`;
}

async function syncDir(dir: string): Promise<void> {
  const h = await open(dir, 'r');
  try {
    await h.sync();
  } finally {
    await h.close();
  }
}

