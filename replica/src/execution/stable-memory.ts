// Stable memory of one canister inside a sandbox: a page map plus a journal of pre-images so a
// trapped message leaves it exactly as it was.

import { PAGE_SIZE, PageMap } from '../state/page-map.js';
import type { StableMemoryAccess } from '../system-api/index.js';

export const WASM_PAGE = 65536;

export class JournaledStableMemory implements StableMemoryAccess {
  private readonly journal = new Map<number, Uint8Array>();
  private sizeAtStart: number;

  constructor(
    readonly pages: PageMap,
    private readonly maxBytes: bigint,
  ) {
    this.sizeAtStart = pages.sizeBytes;
  }

  sizePages(): bigint {
    return BigInt(this.pages.sizeBytes / WASM_PAGE);
  }

  grow(delta: bigint): bigint {
    const old = this.sizePages();
    const next = old + delta;
    if (next * BigInt(WASM_PAGE) > this.maxBytes) return -1n;
    this.pages.sizeBytes = Number(next) * WASM_PAGE;
    return old;
  }

  read(offset: bigint, length: number): Uint8Array {
    return this.pages.read(Number(offset), length);
  }

  write(offset: bigint, bytes: Uint8Array): void {
    const start = Number(offset);
    const first = Math.floor(start / PAGE_SIZE);
    const last = Math.floor((start + Math.max(bytes.length, 1) - 1) / PAGE_SIZE);
    for (let p = first; p <= last; p++) {
      if (!this.journal.has(p)) this.journal.set(p, this.pages.page(p).slice());
    }
    this.pages.write(start, bytes);
  }

  /** Pages written by this message (ascending) with their new content; clears the journal. */
  commit(): { index: number; bytes: Uint8Array }[] {
    const out = [...this.journal.keys()].sort((a, b) => a - b).map((index) => ({ index, bytes: this.pages.page(index) }));
    this.journal.clear();
    this.sizeAtStart = this.pages.sizeBytes;
    return out;
  }

  rollback(): void {
    for (const [index, before] of this.journal) this.pages.setPage(index, before);
    this.journal.clear();
    this.pages.sizeBytes = this.sizeAtStart;
  }
}
