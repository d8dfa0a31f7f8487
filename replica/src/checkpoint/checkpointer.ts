// Incremental checkpoints. Every `interval` rounds the state is written to the store: all
// metadata, the pages dirtied since the previous checkpoint (a layer per page map), modules not
// stored yet, and last a manifest naming every object with its SHA-256. A page map's content is
// the latest version of each page across its layers; every `compactEvery` checkpoints a new base
// rewrites everything, so chains stay short and old objects can be collected.
//
// A checkpoint is captured synchronously (hash, metadata, page copies, dirty sets cleared) and
// written asynchronously, so rounds may go on while it uploads.

import { bytesToHex } from '@noble/hashes/utils.js';
import { PageMap as PageMapClass, type PageMap } from '../state/page-map.js';
import type { ReplicatedState } from '../state/replicated-state.js';
import { encodeState, pageMapHash, stateHash, statePageMaps } from '../state/serialize.js';
import { canisterSnapshots } from './snapshots.js';
import { CheckpointError } from './errors.js';
import { wasmOf, type WasmSource } from './module-store.js';
import { parseManifest } from './manifest.js';
import { objectRef, packLayers, type LayerPlan } from './page-objects.js';
import {
  MANIFEST_FORMAT, type CheckpointManifest, type CheckpointStore, type LayerRef, type ObjectRef, type PageMapManifest,
} from './types.js';

export interface CheckpointerConfig {
  /** Rounds between checkpoints (IC default 500). */
  readonly interval: bigint;
  /** A checkpoint with this many predecessors in its chain is written as a new base instead. */
  readonly compactEvery: number;
  /** Upper bound of one pages object. */
  readonly maxObjectBytes: number;
  /** Complete checkpoints kept after a newer one is verified (the newest included). */
  readonly retain: number;
  /** Objects uploaded at once. */
  readonly concurrency: number;
  /** After publishing, read every new object back and check its hash (costs a full read). */
  readonly verifyContents: boolean;
}

export const DEFAULT_CHECKPOINTER_CONFIG: CheckpointerConfig = {
  interval: 500n,
  compactEvery: 16,
  maxObjectBytes: 8 * 1024 * 1024,
  retain: 2,
  concurrency: 8,
  verifyContents: false,
};

export interface CheckpointResult {
  readonly height: bigint;
  readonly stateHash: Uint8Array;
  /** A new base (everything rewritten) rather than a delta. */
  readonly base: boolean;
  readonly pagesWritten: number;
  readonly objectsWritten: number;
  /** Bytes of the objects this checkpoint added, manifest included. */
  readonly bytesWritten: number;
  /** Time to capture (hash, encode, copy pages) and to write, verify and collect. */
  readonly captureMs: number;
  readonly writeMs: number;
  readonly deleted: number;
}

interface Tracked {
  readonly map: PageMap;
  readonly layers: readonly LayerRef[];
}

const CHECKPOINTS = 'checkpoints/';
/**
 * What PageMap.page returns for a page it does not hold (one shared zero page), so a dirty page
 * that is gone is written as "zeroed". Were that ever a fresh array, the page would be written
 * as a zero page instead: more bytes, same content.
 */
const ABSENT = new PageMapClass().page(0);
const WASM = 'wasm/';

export function checkpointPrefix(height: bigint): string {
  return `${CHECKPOINTS}${height.toString().padStart(20, '0')}/`;
}

export function manifestKey(height: bigint): string {
  return `${checkpointPrefix(height)}manifest.json`;
}

/** Heights of the checkpoints that have a manifest, newest first. */
export async function listCheckpointHeights(store: CheckpointStore): Promise<bigint[]> {
  const keys = await store.list(CHECKPOINTS);
  const heights: bigint[] = [];
  for (const key of keys) {
    const m = /^checkpoints\/(\d{20})\/manifest\.json$/.exec(key);
    if (m) heights.push(BigInt(m[1]!));
  }
  return heights.sort((a, b) => (a < b ? 1 : a > b ? -1 : 0));
}

export class Checkpointer {
  readonly config: CheckpointerConfig;
  // Position in the chain as of the last capture (a write may still be under way).
  private tracked = new Map<string, Tracked>();
  private chain: { readonly height: bigint; readonly base: bigint; readonly depth: number } | undefined;
  /** Set when a write failed after its dirty pages were taken: the next checkpoint rewrites everything. */
  private forceBase = true;
  // As of the last published checkpoint.
  /** Every object of the published chain and stored module, by key. */
  private objects = new Map<string, ObjectRef>();
  private last: CheckpointManifest | undefined;
  private retained: bigint[] = [];
  private writing: Promise<unknown> = Promise.resolve();
  /** Checkpoints captured and not yet published or failed. */
  private inFlight = 0;

  constructor(
    readonly store: CheckpointStore,
    private readonly wasm: WasmSource,
    config: Partial<CheckpointerConfig> = {},
  ) {
    this.config = { ...DEFAULT_CHECKPOINTER_CONFIG, ...config };
    if (this.config.interval <= 0n) throw new Error('checkpoint interval must be positive');
  }

  /**
   * Continues the chain of a loaded checkpoint: `state` is the state it restored, whose page maps
   * have nothing dirty, so the next checkpoint is a delta on top of `manifest`.
   */
  resume(manifest: CheckpointManifest, state: ReplicatedState): void {
    const byId = new Map(manifest.pageMaps.map((p) => [p.id, p]));
    this.tracked.clear();
    for (const [id, map] of statePageMaps(state)) {
      const m = byId.get(id);
      if (m) this.tracked.set(id, { map, layers: m.layers });
    }
    this.chain = { height: BigInt(manifest.height), base: BigInt(manifest.base), depth: manifest.depth };
    this.forceBase = false;
    this.objects = new Map(manifest.objects.map((o) => [o.key, o]));
    this.last = manifest;
    this.retained = [BigInt(manifest.height)];
  }

  /** The last checkpoint published (and verified). */
  get lastManifest(): CheckpointManifest | undefined {
    return this.last;
  }

  /** The oldest checkpoint kept by the last garbage collection (0 if none): a restart never needs blocks below it. */
  get oldestRetainedHeight(): bigint {
    return this.retained.length === 0 ? 0n : this.retained.reduce((a, b) => (a < b ? a : b));
  }

  /** Whether a checkpoint is still being written. */
  get busy(): boolean {
    return this.inFlight > 0;
  }

  isDue(height: bigint): boolean {
    return height > 0n && height % this.config.interval === 0n;
  }

  /** Checkpoints if the state's height is a multiple of the interval. */
  async maybeCheckpoint(state: ReplicatedState): Promise<CheckpointResult | undefined> {
    if (!this.isDue(state.height)) return undefined;
    return this.checkpoint(state);
  }

  /**
   * Checkpoints the state as it is now: the capture happens before this returns its promise, so
   * the caller may run the next round at once. Writes are published in order; the promise
   * resolves once this one is published, verified and old checkpoints are collected.
   */
  checkpoint(state: ReplicatedState): Promise<CheckpointResult> {
    let captured: Captured;
    try {
      captured = this.capture(state);
    } catch (e) {
      return Promise.reject(e);
    }
    const previous = this.writing;
    const done = previous.then(
      () => this.write(captured),
      (e: unknown) => {
        if (captured.base) return this.write(captured);
        // This delta builds on objects the failed checkpoint never published.
        this.forceBase = true;
        throw new CheckpointError(`checkpoint at height ${captured.height} builds on one that failed`, captured.height, { cause: e });
      },
    );
    this.writing = done;
    this.inFlight++;
    const settled = () => {
      this.inFlight--;
    };
    done.then(settled, settled);
    return done;
  }

  // ---- capture (synchronous) --------------------------------------------------------------------

  private capture(state: ReplicatedState): Captured {
    const started = performance.now(); // wall-clock-ok: checkpoint timing report
    const height = state.height;
    if (this.chain && this.chain.height >= height) {
      throw new CheckpointError(`height ${height} is not past the last checkpoint (${this.chain.height})`, height);
    }
    for (const c of state.canisters()) {
      if (c.scheduler.paused) {
        throw new CheckpointError(`canister ${c.idText} has a paused execution at height ${height}: the round before a checkpoint must abort them (executeRound(block, { checkpoint: true }))`, height);
      }
    }
    // Everything that can fail comes before the first dirty set is cleared. The hash goes first:
    // it updates page digests from the dirty sets.
    const mapHashes = new Map<PageMap, Uint8Array>();
    const hash = stateHash(state, { pageMapHashes: mapHashes });
    const meta = encodeState(state);
    const wasm = this.modulesOf(state);

    const base = this.forceBase || !this.chain || this.chain.depth + 1 >= this.config.compactEvery;
    const prefix = checkpointPrefix(height);
    const maps = statePageMaps(state);
    const plans = this.planLayers(maps, base);
    const packed = packLayers(plans.map((p) => p.plan).filter((p) => p !== undefined), (n) => `${prefix}pages-${String(n).padStart(4, '0')}.bin`, this.config.maxObjectBytes);
    for (const [, map] of maps) map.dirty.clear();

    let next = 0;
    const heightText = height.toString();
    const pageMaps: PageMapManifest[] = maps.map(([id, map], i) => {
      const { plan, previous } = plans[i]!;
      const layers = plan === undefined ? previous
        : [...previous, { height: heightText, reset: previous.length === 0, pages: plan.pages.length, runs: packed.runs[next++]! }];
      return { id, sizeBytes: map.sizeBytes, hash: bytesToHex(mapHashes.get(map) ?? pageMapHash(map)), layers };
    });

    const parent = base ? undefined : this.chain!.height.toString();
    this.tracked = new Map(maps.map(([id, map], i) => [id, { map, layers: pageMaps[i]!.layers }]));
    this.chain = base ? { height, base: height, depth: 0 } : { height, base: this.chain!.base, depth: this.chain!.depth + 1 };
    this.forceBase = false;
    return {
      height, hash, base, baseHeight: this.chain.base, depth: this.chain.depth, parent,
      meta, metaKey: `${prefix}meta.bin`, pageMaps, packed: packed.objects, pagesWritten: packed.pagesWritten, wasm,
      captureMs: performance.now() - started, // wall-clock-ok
    };
  }

  /** Module bytes by hash for every module in use; lets the source forget the rest. */
  private modulesOf(state: ReplicatedState): Map<string, Uint8Array> {
    const wasm = new Map<string, Uint8Array>();
    for (const c of state.canisters()) {
      if (c.execution) wasm.set(c.execution.module.hashHex, wasmOf(c.execution.module, this.wasm, c.execution));
      for (const s of canisterSnapshots(c).byId.values()) wasm.set(s.module.hashHex, wasmOf(s.module, this.wasm));
    }
    this.wasm.retainOnly?.(new Set(wasm.keys()));
    return wasm;
  }

  /**
   * Per page map: the layers it has so far and the pages to write now. A new base, a page map not
   * seen before or replaced by another object (install, snapshot load) is written whole; otherwise
   * its dirty pages are, and nothing if none is dirty.
   */
  private planLayers(maps: [string, PageMap][], base: boolean): { plan: LayerPlan | undefined; previous: readonly LayerRef[] }[] {
    return maps.map(([id, map]) => {
      const prev = this.tracked.get(id);
      if (base || !prev || prev.map !== map) return { plan: { id, map, pages: map.indices(), zeroed: [] }, previous: [] };
      if (map.dirty.size === 0) return { plan: undefined, previous: prev.layers };
      const pages: number[] = [];
      const zeroed: number[] = [];
      for (const index of [...map.dirty].sort((a, b) => a - b)) (map.page(index) === ABSENT ? zeroed : pages).push(index);
      return { plan: { id, map, pages, zeroed }, previous: prev.layers };
    });
  }

  // ---- write, verify, collect (asynchronous) ----------------------------------------------------

  private async write(c: Captured): Promise<CheckpointResult> {
    const started = performance.now(); // wall-clock-ok: checkpoint timing report
    try {
      const uploads: { key: string; bytes: Uint8Array; ref: ObjectRef }[] = [];
      uploads.push({ key: c.metaKey, bytes: c.meta, ref: objectRef(c.metaKey, c.meta) });
      for (const o of c.packed) uploads.push({ key: o.key, bytes: o.bytes, ref: { key: o.key, size: o.bytes.length, sha256: o.sha256 } });
      const known = new Map(this.objects);
      for (const [hashHex, bytes] of c.wasm) {
        const key = `${WASM}${hashHex}.wasm`;
        if (!known.has(key)) uploads.push({ key, bytes, ref: objectRef(key, bytes) });
      }
      await forEachLimited(uploads, this.config.concurrency, (u) => this.store.put(u.key, u.bytes));
      for (const u of uploads) known.set(u.key, u.ref);

      // Every object the manifest needs: metadata, every run's object, modules in use.
      const needed = new Set<string>([c.metaKey]);
      for (const p of c.pageMaps) for (const l of p.layers) for (const r of l.runs) needed.add(r.key);
      for (const hashHex of c.wasm.keys()) needed.add(`${WASM}${hashHex}.wasm`);
      const objects = [...needed].sort().map((key) => {
        const ref = known.get(key);
        if (!ref) throw new CheckpointError(`object ${key} of the chain is unknown`, c.height);
        return ref;
      });
      const manifest: CheckpointManifest = {
        format: MANIFEST_FORMAT,
        height: c.height.toString(),
        stateHash: bytesToHex(c.hash),
        base: c.baseHeight.toString(),
        parent: c.parent,
        depth: c.depth,
        meta: c.metaKey,
        pageMaps: c.pageMaps,
        objects,
      };
      const manifestBytes = new TextEncoder().encode(JSON.stringify(manifest));
      await this.store.publish(manifestKey(c.height), manifestBytes);
      await this.verify(c.height, manifestBytes, uploads);

      this.objects = new Map(objects.map((o) => [o.key, o]));
      this.last = manifest;
      const deleted = await this.collectGarbage(manifest);
      return {
        height: c.height, stateHash: c.hash, base: c.base, pagesWritten: c.pagesWritten,
        objectsWritten: uploads.length + 1,
        bytesWritten: uploads.reduce((n, u) => n + u.bytes.length, 0) + manifestBytes.length,
        captureMs: c.captureMs, writeMs: performance.now() - started, deleted, // wall-clock-ok
      };
    } catch (e) {
      // The dirty pages of this capture are gone from the page maps: only a new base is safe.
      this.forceBase = true;
      throw e instanceof CheckpointError ? e : new CheckpointError(`checkpoint at height ${c.height} failed: ${(e as Error).message}`, c.height, { cause: e });
    }
  }

  private async verify(height: bigint, manifestBytes: Uint8Array, uploads: { key: string; ref: ObjectRef }[]): Promise<void> {
    const back = await this.store.get(manifestKey(height));
    if (!back || Buffer.compare(back, manifestBytes) !== 0) throw new CheckpointError(`manifest at height ${height} did not read back`, height);
    if (!this.config.verifyContents) return;
    await forEachLimited(uploads, this.config.concurrency, async (u) => {
      const bytes = await this.store.get(u.key);
      if (!bytes || objectRef(u.key, bytes).sha256 !== u.ref.sha256) throw new CheckpointError(`object ${u.key} did not read back`, height);
    });
  }

  /**
   * Keeps the newest `retain` checkpoints up to `newest` and everything they need; deletes other
   * manifests first (so no manifest ever names a deleted object), then unreferenced objects.
   */
  private async collectGarbage(newest: CheckpointManifest): Promise<number> {
    const newestHeight = BigInt(newest.height);
    const heights = await listCheckpointHeights(this.store);
    const kept: CheckpointManifest[] = [newest];
    const dropped: bigint[] = [];
    for (const h of heights) {
      if (h === newestHeight) continue;
      if (h > newestHeight || kept.length >= this.config.retain) {
        dropped.push(h);
        continue;
      }
      const m = await readManifest(this.store, h).catch(() => undefined);
      if (m) kept.push(m);
      else dropped.push(h);
    }
    this.retained = kept.map((m) => BigInt(m.height));
    const keep = new Set<string>();
    for (const m of kept) {
      keep.add(manifestKey(BigInt(m.height)));
      for (const o of m.objects) keep.add(o.key);
    }
    let deleted = 0;
    for (const h of dropped) {
      await this.store.delete(manifestKey(h));
      deleted++;
    }
    for (const key of [...(await this.store.list(CHECKPOINTS)), ...(await this.store.list(WASM))]) {
      if (keep.has(key)) continue;
      await this.store.delete(key);
      deleted++;
    }
    return deleted;
  }
}

interface Captured {
  readonly height: bigint;
  readonly hash: Uint8Array;
  readonly base: boolean;
  readonly baseHeight: bigint;
  readonly depth: number;
  readonly parent: string | undefined;
  readonly meta: Uint8Array;
  readonly metaKey: string;
  readonly pageMaps: PageMapManifest[];
  readonly packed: readonly { key: string; bytes: Uint8Array; sha256: string }[];
  readonly pagesWritten: number;
  readonly wasm: Map<string, Uint8Array>;
  readonly captureMs: number;
}

/** Reads and parses a manifest; throws CorruptCheckpointError if it is missing or malformed. */
export async function readManifest(store: CheckpointStore, height: bigint): Promise<CheckpointManifest> {
  const bytes = await store.get(manifestKey(height));
  return parseManifest(bytes, height);
}

async function forEachLimited<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) await fn(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}
