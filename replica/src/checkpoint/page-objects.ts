// How pages travel in checkpoint objects. A layer of a page map (the pages one checkpoint writes
// for it) is cut into runs; a run is self-contained:
//
//   "PGR1" | varuint zeroed count | zeroed indices | varuint page count | page indices | pages
//
// (indices ascending, delta-encoded varints; pages 4 KiB each, in index order). Runs of all page
// maps are packed into objects of at most `maxObjectBytes`, so a checkpoint costs a few large
// puts instead of one per page.

import { createHash } from 'node:crypto';
import { PAGE_SIZE, PageMap } from '../state/page-map.js';
import { ByteReader, ByteWriter } from '../state/serialize.js';
import { CorruptCheckpointError } from './errors.js';
import type { ObjectRef, RunRef } from './types.js';

const RUN_MAGIC = new Uint8Array([0x50, 0x47, 0x52, 0x31]); // "PGR1"

/** Pages to write for one page map in one checkpoint. */
export interface LayerPlan {
  readonly id: string;
  readonly map: PageMap;
  /** Present pages to write, ascending. */
  readonly pages: readonly number[];
  /** Pages that are gone (read as zero) since the previous layer, ascending. */
  readonly zeroed: readonly number[];
}

interface PlannedRun {
  readonly layer: number;
  readonly header: Uint8Array;
  readonly map: PageMap;
  readonly pages: readonly number[];
  readonly size: number;
}

export interface PackedObject {
  readonly key: string;
  readonly bytes: Uint8Array;
  readonly sha256: string;
}

export interface PackResult {
  readonly objects: PackedObject[];
  /** Runs of each layer, in the order of the plans. */
  readonly runs: RunRef[][];
  readonly pagesWritten: number;
}

/**
 * Copies the planned pages into objects (synchronously: the pages may change as soon as this
 * returns, the objects may be uploaded later).
 */
export function packLayers(plans: readonly LayerPlan[], keyOf: (n: number) => string, maxObjectBytes: number): PackResult {
  const maxPagesPerRun = Math.max(1, Math.floor((maxObjectBytes - 64 * 1024) / PAGE_SIZE));
  const runs: PlannedRun[] = [];
  plans.forEach((plan, layer) => {
    if (plan.pages.length === 0 && plan.zeroed.length === 0) return; // e.g. a reset to an empty map
    for (let start = 0; start < Math.max(plan.pages.length, 1); start += maxPagesPerRun) {
      const pages = plan.pages.slice(start, start + maxPagesPerRun);
      runs.push(plannedRun(layer, plan.map, start === 0 ? plan.zeroed : [], pages));
    }
  });

  // Greedy packing in plan order: a run goes into the current object if it fits.
  const groups: PlannedRun[][] = [];
  let current: PlannedRun[] = [];
  let size = 0;
  for (const run of runs) {
    if (current.length > 0 && size + run.size > maxObjectBytes) {
      groups.push(current);
      current = [];
      size = 0;
    }
    current.push(run);
    size += run.size;
  }
  if (current.length > 0) groups.push(current);

  const refs: RunRef[][] = plans.map(() => []);
  const objects: PackedObject[] = [];
  let pagesWritten = 0;
  groups.forEach((group, n) => {
    const key = keyOf(n);
    const bytes = new Uint8Array(group.reduce((s, r) => s + r.size, 0));
    let at = 0;
    for (const run of group) {
      const offset = at;
      bytes.set(run.header, at);
      at += run.header.length;
      for (const index of run.pages) {
        bytes.set(run.map.page(index), at);
        at += PAGE_SIZE;
      }
      pagesWritten += run.pages.length;
      refs[run.layer]!.push({ key, offset, length: run.size });
    }
    objects.push({ key, bytes, sha256: sha256Hex(bytes) });
  });
  return { objects, runs: refs, pagesWritten };
}

function plannedRun(layer: number, map: PageMap, zeroed: readonly number[], pages: readonly number[]): PlannedRun {
  const w = new ByteWriter(16 + 3 * (zeroed.length + pages.length));
  w.raw(RUN_MAGIC);
  writeIndices(w, zeroed);
  writeIndices(w, pages);
  const header = w.finish();
  return { layer, header, map, pages, size: header.length + pages.length * PAGE_SIZE };
}

function writeIndices(w: ByteWriter, indices: readonly number[]): void {
  w.varuint(indices.length);
  let prev = 0;
  for (const index of indices) {
    w.varuint(index - prev);
    prev = index;
  }
}

/**
 * The header of a page run as `plannedRun` writes it: magic, zeroed pages, pages. Leaves `r` at
 * the first page's content (`r.offset` is the header length).
 */
export function readRunHeader(r: ByteReader, run: RunRef): { zeroed: number[]; pages: number[] } {
  for (const b of RUN_MAGIC) if (r.u8() !== b) throw new CorruptCheckpointError(`no page run at ${run.key}+${run.offset}`);
  const zeroed = readIndices(r);
  return { zeroed, pages: readIndices(r) };
}

function readIndices(r: ByteReader): number[] {
  const n = r.varuintNumber();
  const out: number[] = [];
  let prev = 0;
  for (let i = 0; i < n; i++) {
    prev += r.varuintNumber();
    out.push(prev);
  }
  return out;
}

/** Where a page's content is: an object's bytes and an offset in them. */
export interface PageLocation {
  readonly bytes: Uint8Array;
  readonly offset: number;
}

/**
 * Applies a run to a page index (index → location of the latest content). The index is what a
 * lazy page map would keep instead of the pages themselves.
 */
export function applyRun(index: Map<number, PageLocation>, object: Uint8Array, run: RunRef): void {
  if (run.offset + run.length > object.length) throw new CorruptCheckpointError(`run at ${run.key}+${run.offset} is past the end of the object`);
  const bytes = object.subarray(run.offset, run.offset + run.length);
  const r = new ByteReader(bytes);
  const { zeroed, pages } = readRunHeader(r, run);
  for (const z of zeroed) index.delete(z);
  let at = run.offset + r.offset;
  if (r.offset + pages.length * PAGE_SIZE !== run.length) throw new CorruptCheckpointError(`page run at ${run.key}+${run.offset} has the wrong length`);
  for (const page of pages) {
    index.set(page, { bytes: object, offset: at });
    at += PAGE_SIZE;
  }
}

/** Materializes a page index into a page map with nothing dirty. */
export function pageMapFromIndex(sizeBytes: number, index: Map<number, PageLocation>): PageMap {
  const map = new PageMap(sizeBytes);
  for (const page of [...index.keys()].sort((a, b) => a - b)) {
    const { bytes, offset } = index.get(page)!;
    map.setPage(page, bytes.subarray(offset, offset + PAGE_SIZE));
  }
  map.dirty.clear();
  return map;
}

export function sha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

export function objectRef(key: string, bytes: Uint8Array): ObjectRef {
  return { key, size: bytes.length, sha256: sha256Hex(bytes) };
}
