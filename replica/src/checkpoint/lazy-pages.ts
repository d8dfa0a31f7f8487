// Lazily loaded page maps over a filesystem checkpoint. At load every pages object is opened and
// its SHA-256 checked by streaming it through the hash (nothing is kept); the open descriptor is
// then what the page maps read from, with positional reads of single 4 KiB pages. Positional reads
// are trusted after that check: the objects are immutable (written once, renamed into place), and
// a descriptor opened at load keeps reading the verified file even after pruning unlinks it.

import { closeSync, open as openFd, read as readFd, readSync } from 'node:fs';
import { promisify } from 'node:util';
import { createHash } from 'node:crypto';
import { PAGE_SIZE, type PageSource } from '../state/page-map.js';
import { ByteReader } from '../state/serialize.js';
import { CorruptCheckpointError } from './errors.js';
import { readRunHeader } from './page-objects.js';
import type { RunRef } from './types.js';


/** Counters of lazy page reads, for tests and the bench. */
export interface LazyPageCounters {
  pagesRead: number;
  bytesRead: number;
}

export const lazyPageCounters: LazyPageCounters = { pagesRead: 0, bytesRead: 0 };

const closer = new FinalizationRegistry<number[]>((fds) => {
  for (const fd of fds) {
    try {
      closeSync(fd);
    } catch {
      // already closed
    }
  }
});

/** Open, verified objects of one load. Closed when no page map refers to it any more. */
export class VerifiedObjects {
  private readonly fds = new Map<string, number>();
  private readonly fdList: number[] = [];

  constructor() {
    closer.register(this, this.fdList);
  }

  /** Opens `path`, checks its size and SHA-256 by streaming; false if it is missing. */
  async add(key: string, path: string, size: number, sha256: string, height: bigint): Promise<boolean> {
    let fd: number;
    try {
      // A raw descriptor (not a FileHandle, which would close itself on GC): the registry closes it.
      fd = await promisify(openFd)(path, 'r');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw e;
    }
    this.fdList.push(fd);
    this.fds.set(key, fd);
    const h = createHash('sha256');
    const buf = Buffer.alloc(1 << 20);
    let pos = 0;
    for (;;) {
      const bytesRead = await readAsync(fd, buf, pos);
      if (bytesRead === 0) break;
      h.update(buf.subarray(0, bytesRead));
      pos += bytesRead;
    }
    if (pos !== size) throw new CorruptCheckpointError(`checkpoint ${height}: object ${key} has ${pos} bytes, expected ${size}`, height);
    if (h.digest('hex') !== sha256) throw new CorruptCheckpointError(`checkpoint ${height}: object ${key} does not match its hash`, height);
    return true;
  }

  has(key: string): boolean {
    return this.fds.has(key);
  }

  readAt(key: string, offset: number, length: number): Uint8Array {
    const fd = this.fds.get(key);
    if (fd === undefined) throw new Error(`object ${key} is not open`);
    const out = new Uint8Array(length);
    let done = 0;
    while (done < length) {
      const n = readSync(fd, out, done, length - done, offset + done);
      if (n === 0) throw new CorruptCheckpointError(`object ${key} ends before ${offset + length}`);
      done += n;
    }
    return out;
  }

  /** Closes every descriptor now (page maps over these objects can no longer read). */
  close(): void {
    for (const fd of this.fdList.splice(0)) {
      try {
        closeSync(fd);
      } catch {
        // already closed
      }
    }
    this.fds.clear();
  }
}

function readAsync(fd: number, buf: Buffer, pos: number): Promise<number> {
  return new Promise((resolve, reject) => readFd(fd, buf, 0, buf.length, pos, (err, n) => (err ? reject(err) : resolve(n))));
}

/** Where a page is: an object (by key) and an offset in it. */
export interface LazyLocation {
  readonly key: string;
  readonly offset: number;
}

/** Applies a run to a lazy page index, reading only the run's header. */
export function applyRunLazy(index: Map<number, LazyLocation>, objects: VerifiedObjects, run: RunRef, objectSize: number): void {
  if (run.offset + run.length > objectSize) throw new CorruptCheckpointError(`run at ${run.key}+${run.offset} is past the end of the object`);
  for (let want = Math.min(run.length, 64 * 1024); ; want = Math.min(run.length, want * 4)) {
    const head = objects.readAt(run.key, run.offset, want);
    const parsed = parseHeader(head, run);
    if (parsed) {
      const [zeroed, pages, headerLength] = parsed;
      if (headerLength + pages.length * PAGE_SIZE !== run.length) throw new CorruptCheckpointError(`page run at ${run.key}+${run.offset} has the wrong length`);
      for (const z of zeroed) index.delete(z);
      let at = run.offset + headerLength;
      for (const page of pages) {
        index.set(page, { key: run.key, offset: at });
        at += PAGE_SIZE;
      }
      return;
    }
    if (want === run.length) throw new CorruptCheckpointError(`page run at ${run.key}+${run.offset} has a truncated header`);
  }
}

/** [zeroed, pages, header length], or undefined if `head` is too short to hold the header. */
function parseHeader(head: Uint8Array, run: RunRef): [number[], number[], number] | undefined {
  const r = new ByteReader(head);
  try {
    const { zeroed, pages } = readRunHeader(r, run);
    return [zeroed, pages, r.offset];
  } catch (e) {
    if (e instanceof CorruptCheckpointError) throw e;
    return undefined;
  }
}

/** A page source over a lazy page index. */
export function lazySource(index: Map<number, LazyLocation>, objects: VerifiedObjects): PageSource {
  const sorted = [...index.keys()].sort((a, b) => a - b);
  return {
    size: sorted.length,
    has: (i) => index.has(i),
    indices: () => sorted,
    read(i) {
      const loc = index.get(i);
      if (!loc) return undefined;
      lazyPageCounters.pagesRead++;
      lazyPageCounters.bytesRead += PAGE_SIZE;
      // The source keeps `objects` reachable, so its descriptors stay open while a map uses it.
      return objects.readAt(loc.key, loc.offset, PAGE_SIZE);
    },
  };
}
