// Canister memory (heap or stable) as 4 KiB pages. Only pages ever written are stored; the rest
// read as zero. `dirty` collects the pages changed since the last checkpoint.

export const PAGE_SIZE = 4096;
export const PAGE_SHIFT = 12;
const ZERO_PAGE = new Uint8Array(PAGE_SIZE);

/**
 * Read-only pages a page map falls back to for pages it does not hold (e.g. a checkpoint's page
 * objects on disk). `read` returns a fresh 4 KiB copy (or undefined for an absent page) and must
 * not change its answer for the source's lifetime; `indices` lists the present pages, ascending.
 */
export interface PageSource {
  read(index: number): Uint8Array | undefined;
  indices(): readonly number[];
  has(index: number): boolean;
  readonly size: number;
}

export class PageMap {
  private readonly pages = new Map<number, Uint8Array>();
  /** Pages changed since the last checkpoint, for incremental checkpoints. */
  readonly dirty = new Set<number>();
  /** Lazily loaded pages: consulted for pages not in `pages`. Writes make a page resident. */
  private source: PageSource | undefined;
  /**
   * Pages written since the last `takeChanges()`, for the query state that follows each certified
   * round; undefined until someone asks, so a map nobody follows tracks nothing. Never hashed.
   */
  #changes: Set<number> | undefined;

  constructor(
    /** Size in bytes; reads past it are the caller's error. */
    public sizeBytes = 0,
  ) {}

  /** A page map over `source` with nothing resident and nothing dirty. */
  static lazy(sizeBytes: number, source: PageSource): PageMap {
    const map = new PageMap(sizeBytes);
    map.source = source;
    return map;
  }

  get pageCount(): number {
    if (!this.source) return this.pages.size;
    let n = this.source.size;
    for (const index of this.pages.keys()) if (!this.source.has(index)) n++;
    return n;
  }

  /** Pages held in memory (the rest, if any, are read from the source on demand). */
  get residentPageCount(): number {
    return this.pages.size;
  }

  get isLazy(): boolean {
    return this.source !== undefined;
  }

  /** A page's bytes: the map's own for a resident page, valid until the page is next written. */
  page(index: number): Uint8Array {
    return this.pages.get(index) ?? this.source?.read(index) ?? ZERO_PAGE;
  }

  /** A resident page to modify (copied in from the source, or zero). */
  private residentPage(index: number): Uint8Array {
    let page = this.pages.get(index);
    if (!page) {
      page = this.source?.read(index) ?? new Uint8Array(PAGE_SIZE);
      this.pages.set(index, page);
    }
    return page;
  }

  /**
   * Replaces a whole page (a copy is kept). A resident page is overwritten in place, as `write`
   * does: committing an execution's pages allocates nothing (rather than a 4 KiB buffer per page,
   * and the collection of the one it replaced).
   */
  setPage(index: number, content: Uint8Array): void {
    if (content.length !== PAGE_SIZE) throw new Error(`page ${index} has ${content.length} bytes`);
    const page = this.pages.get(index);
    if (page) page.set(content);
    else this.pages.set(index, content.slice());
    this.dirty.add(index);
    this.#changes?.add(index);
  }

  /**
   * Pages written since the previous call, ascending; undefined on the first call and after
   * `clear` (the caller must take the whole map then). Only the query state publisher calls it.
   */
  takeChanges(): number[] | undefined {
    const changes = this.#changes;
    this.#changes = new Set();
    return changes && [...changes].sort((a, b) => a - b);
  }

  read(offset: number, length: number, into = new Uint8Array(length), at = 0): Uint8Array {
    let done = 0;
    while (done < length) {
      const pos = offset + done;
      const index = Math.floor(pos / PAGE_SIZE);
      const within = pos - index * PAGE_SIZE;
      const n = Math.min(PAGE_SIZE - within, length - done);
      const page = this.pages.get(index) ?? this.source?.read(index);
      if (page) into.set(page.subarray(within, within + n), at + done);
      else into.fill(0, at + done, at + done + n);
      done += n;
    }
    return into;
  }

  write(offset: number, bytes: Uint8Array): void {
    let done = 0;
    while (done < bytes.length) {
      const pos = offset + done;
      const index = Math.floor(pos / PAGE_SIZE);
      const within = pos - index * PAGE_SIZE;
      const n = Math.min(PAGE_SIZE - within, bytes.length - done);
      const page = n === PAGE_SIZE ? this.pages.get(index) ?? this.fresh(index) : this.residentPage(index);
      page.set(n === bytes.length ? bytes : bytes.subarray(done, done + n), within); // a page delta: no view
      this.dirty.add(index);
      this.#changes?.add(index);
      done += n;
    }
  }

  /** Page indices in ascending order: the deterministic iteration order. */
  indices(): number[] {
    if (!this.source) return [...this.pages.keys()].sort((a, b) => a - b);
    const out = [...this.source.indices()];
    for (const index of this.pages.keys()) if (!this.source.has(index)) out.push(index);
    return out.sort((a, b) => a - b);
  }

  private fresh(index: number): Uint8Array {
    const page = new Uint8Array(PAGE_SIZE);
    this.pages.set(index, page);
    return page;
  }

  /** Copies every non-zero page of a linear memory (e.g. after instantiation). */
  static fromMemory(bytes: Uint8Array): PageMap {
    const map = new PageMap(bytes.length);
    for (let index = 0; index * PAGE_SIZE < bytes.length; index++) {
      const page = bytes.subarray(index * PAGE_SIZE, (index + 1) * PAGE_SIZE);
      if (!isZero(page)) map.setPage(index, page);
    }
    return map;
  }

  /** Writes the whole map into a linear memory of at least `sizeBytes`, zeroing other pages. */
  copyInto(bytes: Uint8Array): void {
    bytes.fill(0);
    if (this.source) {
      for (const index of this.source.indices()) {
        if (!this.pages.has(index)) bytes.set(this.source.read(index)!, index * PAGE_SIZE);
      }
    }
    for (const [index, page] of this.pages) bytes.set(page, index * PAGE_SIZE);
  }

  /** A copy; a lazy map's copy shares its (read-only) source and copies only resident pages. */
  clone(): PageMap {
    const copy = new PageMap(this.sizeBytes);
    copy.source = this.source;
    for (const [index, page] of this.pages) copy.pages.set(index, page.slice());
    return copy;
  }

  clear(): void {
    for (const index of this.indices()) this.dirty.add(index);
    this.source = undefined;
    this.pages.clear();
    this.sizeBytes = 0;
    this.#changes = undefined;
  }
}

export function isZero(bytes: Uint8Array): boolean {
  // Compare 8 bytes at a time where aligned; pages are always aligned.
  if (bytes.byteOffset % 8 === 0 && bytes.length % 8 === 0) {
    const words = new BigUint64Array(bytes.buffer, bytes.byteOffset, bytes.length / 8);
    for (let i = 0; i < words.length; i++) if (words[i] !== 0n) return false;
    return true;
  }
  for (let i = 0; i < bytes.length; i++) if (bytes[i] !== 0) return false;
  return true;
}
