// Loading the newest valid checkpoint. Every object is checked against the manifest (size and
// SHA-256), every page map against its hash and the whole state against the state hash; a
// checkpoint that fails any check (no manifest, a missing or truncated object, a hash mismatch)
// is skipped and the next older one tried.
//
// Pages are resolved into a page index (page → object and offset) before they are copied into
// page maps: that index is what a lazily loaded page map would keep (see the report: PageMap needs
// a fallback source for absent pages to make this lazy).

import { PageMap } from '../state/page-map.js';
import { ReplicatedState } from '../state/replicated-state.js';
import { StateEncodingError, decodeStateInto, pageMapHash, stateHash, transferState, type DecodeContext } from '../state/serialize.js';
import { InvalidWasmError, type ModuleCache, type CompiledCanisterModule } from '../wasm/index.js';
import { listCheckpointHeights, readManifest } from './checkpointer.js';
import { CorruptCheckpointError } from './errors.js';
import { applyRun, pageMapFromIndex, sha256Hex, type PageLocation } from './page-objects.js';
import type { CheckpointManifest, CheckpointStore } from './types.js';
import { FsCheckpointStore } from './fs-store.js';
import { VerifiedObjects, applyRunLazy, lazySource, type LazyLocation } from './lazy-pages.js';
import { hexOf } from '../bytes.js';

export interface LoadedCheckpoint {
  readonly manifest: CheckpointManifest;
  readonly height: bigint;
  readonly stateHash: Uint8Array;
}

export interface SkippedCheckpoint {
  readonly height: bigint;
  readonly error: Error;
}

export interface LoadResult {
  /** The checkpoint now in the target state, if any was valid. */
  readonly loaded: LoadedCheckpoint | undefined;
  /** Newer checkpoints that failed verification, newest first. */
  readonly skipped: readonly SkippedCheckpoint[];
}

export interface LoadOptions {
  /** Ignore checkpoints above this height. */
  readonly maxHeight?: bigint;
  readonly concurrency?: number;
  /**
   * Page maps read their pages from the checkpoint's files on demand instead of copying them into
   * memory (filesystem store only; other stores load eagerly). Default: true for FsCheckpointStore.
   */
  readonly lazy?: boolean;
}

/**
 * Loads the newest valid checkpoint into `target` (a fresh state of the same subnet). Modules are
 * re-prepared through `modules`, so their compiled form is shared with the execution environment.
 */
export async function loadCheckpoint(
  store: CheckpointStore, target: ReplicatedState, modules: ModuleCache, options: LoadOptions = {},
): Promise<LoadResult> {
  const skipped: SkippedCheckpoint[] = [];
  for (const height of await listCheckpointHeights(store)) {
    if (options.maxHeight !== undefined && height > options.maxHeight) continue;
    try {
      const lazy = options.lazy ?? true;
      const loaded = await loadOne(store, height, target, modules, options.concurrency ?? 8, lazy && store instanceof FsCheckpointStore ? store : undefined);
      return { loaded, skipped };
    } catch (e) {
      if (!isCorruption(e)) throw e;
      skipped.push({ height, error: e as Error });
    }
  }
  return { loaded: undefined, skipped };
}

/** Errors that mean "this checkpoint is bad", as opposed to "the store is unreachable". */
function isCorruption(e: unknown): boolean {
  return e instanceof CorruptCheckpointError || e instanceof StateEncodingError || e instanceof InvalidWasmError;
}

async function loadOne(
  store: CheckpointStore, height: bigint, target: ReplicatedState, modules: ModuleCache, concurrency: number,
  lazyStore: FsCheckpointStore | undefined,
): Promise<LoadedCheckpoint> {
  const manifest = await readManifest(store, height);
  const pageKeys = new Set<string>();
  if (lazyStore) for (const m of manifest.pageMaps) for (const l of m.layers) for (const r of l.runs) pageKeys.add(r.key);
  const verified = lazyStore ? new VerifiedObjects() : undefined;
  const sizes = new Map(manifest.objects.map((o) => [o.key, o.size]));
  let objects: Map<string, Uint8Array>;
  try {
    objects = await fetchVerified(store, manifest, concurrency, verified && lazyStore ? { objects: verified, store: lazyStore, keys: pageKeys } : undefined);
  } catch (e) {
    verified?.close();
    throw e;
  }
  const pageMaps = new Map(manifest.pageMaps.map((p) => [p.id, p]));
  const used = new Set<string>();
  const corrupt = (what: string): never => {
    throw new CorruptCheckpointError(`checkpoint ${height}: ${what}`, height);
  };

  const ctx: DecodeContext = {
    module(hashHex: string): CompiledCanisterModule {
      const wasm = objects.get(`wasm/${hashHex}.wasm`) ?? corrupt(`module ${hashHex} is not among its objects`);
      const compiled = modules.prepare(wasm);
      if (compiled.hashHex !== hashHex) corrupt(`module ${hashHex} has hash ${compiled.hashHex}`);
      return compiled;
    },
    pageMap(id: string, sizeBytes: number): PageMap {
      const m = pageMaps.get(id) ?? corrupt(`page map ${id} is missing`);
      if (m.sizeBytes !== sizeBytes) corrupt(`page map ${id} has size ${m.sizeBytes}, metadata says ${sizeBytes}`);
      used.add(id);
      if (verified) {
        const lazyIndex = new Map<number, LazyLocation>();
        for (const layer of m.layers) {
          if (layer.reset) lazyIndex.clear();
          for (const run of layer.runs) {
            if (!verified.has(run.key)) corrupt(`page object ${run.key} is not among its objects`);
            applyRunLazy(lazyIndex, verified, run, sizes.get(run.key)!);
          }
        }
        const map = PageMap.lazy(sizeBytes, lazySource(lazyIndex, verified));
        if (hexOf(pageMapHash(map)) !== m.hash) corrupt(`page map ${id} does not match its hash`);
        return map;
      }
      const index = new Map<number, PageLocation>();
      for (const layer of m.layers) {
        if (layer.reset) index.clear();
        for (const run of layer.runs) applyRun(index, objects.get(run.key)!, run);
      }
      const map = pageMapFromIndex(sizeBytes, index);
      if (hexOf(pageMapHash(map)) !== m.hash) corrupt(`page map ${id} does not match its hash`);
      return map;
    },
  };

  try {
    return finishLoad(manifest, height, target, objects, ctx, pageMaps.size, used, corrupt);
  } catch (e) {
    verified?.close();
    throw e;
  }
}

function finishLoad(
  manifest: CheckpointManifest, height: bigint, target: ReplicatedState, objects: Map<string, Uint8Array>, ctx: DecodeContext,
  pageMapCount: number, used: Set<string>, corrupt: (what: string) => never,
): LoadedCheckpoint {
  const pageMaps = { size: pageMapCount };
  const scratch = new ReplicatedState(target.subnetId, target.canisterRange);
  decodeStateInto(scratch, objects.get(manifest.meta)!, ctx);
  if (used.size !== pageMaps.size) corrupt(`${pageMaps.size - used.size} page maps are not referenced by the state`);
  const hash = stateHash(scratch);
  if (hexOf(hash) !== manifest.stateHash) corrupt(`state hash ${hexOf(hash)} differs from the manifest's ${manifest.stateHash}`);
  transferState(scratch, target);
  return { manifest, height, stateHash: hash };
}

interface LazyFetch {
  readonly objects: VerifiedObjects;
  readonly store: FsCheckpointStore;
  /** Objects to verify and keep open instead of reading into memory. */
  readonly keys: ReadonlySet<string>;
}

async function fetchVerified(
  store: CheckpointStore, manifest: CheckpointManifest, concurrency: number, lazy?: LazyFetch,
): Promise<Map<string, Uint8Array>> {
  const out = new Map<string, Uint8Array>();
  let next = 0;
  const height = BigInt(manifest.height);
  const worker = async (): Promise<void> => {
    while (next < manifest.objects.length) {
      const ref = manifest.objects[next++]!;
      if (lazy?.keys.has(ref.key)) {
        if (!(await lazy.objects.add(ref.key, lazy.store.objectPath(ref.key), ref.size, ref.sha256, height))) {
          throw new CorruptCheckpointError(`checkpoint ${height}: object ${ref.key} is missing`, height);
        }
        lazy.store.counters.bytesRead += ref.size; // streamed through the hash, not kept
        lazy.store.counters.objectsRead++;
        continue;
      }
      const bytes = await store.get(ref.key);
      if (!bytes) throw new CorruptCheckpointError(`checkpoint ${height}: object ${ref.key} is missing`, height);
      if (bytes.length !== ref.size) {
        throw new CorruptCheckpointError(`checkpoint ${height}: object ${ref.key} has ${bytes.length} bytes, expected ${ref.size}`, height);
      }
      if (sha256Hex(bytes) !== ref.sha256) throw new CorruptCheckpointError(`checkpoint ${height}: object ${ref.key} does not match its hash`, height);
      out.set(ref.key, bytes);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(concurrency, manifest.objects.length)) }, worker));
  return out;
}

