// Canister memory (heap or stable) as 4 KiB pages. Only pages ever written are stored; the rest
// read as zero. `dirty` collects the pages changed since the last checkpoint.

export const PAGE_SIZE = 4096;
export const PAGE_SHIFT = 12;
const ZERO_PAGE = new Uint8Array(PAGE_SIZE);

export class PageMap {
  private readonly pages = new Map<number, Uint8Array>();
  /** Pages changed since the last checkpoint, for incremental checkpoints. */
  readonly dirty = new Set<number>();

  constructor(
    /** Size in bytes; reads past it are the caller's error. */
    public sizeBytes = 0,
  ) {}

  get pageCount(): number {
    return this.pages.size;
  }

  page(index: number): Uint8Array {
    return this.pages.get(index) ?? ZERO_PAGE;
  }

  /** Replaces a whole page (a copy is kept). */
  setPage(index: number, content: Uint8Array): void {
    if (content.length !== PAGE_SIZE) throw new Error(`page ${index} has ${content.length} bytes`);
    this.pages.set(index, content.slice());
    this.dirty.add(index);
  }

  read(offset: number, length: number, into = new Uint8Array(length), at = 0): Uint8Array {
    let done = 0;
    while (done < length) {
      const pos = offset + done;
      const index = Math.floor(pos / PAGE_SIZE);
      const within = pos - index * PAGE_SIZE;
      const n = Math.min(PAGE_SIZE - within, length - done);
      const page = this.pages.get(index);
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
      let page = this.pages.get(index);
      if (!page) {
        page = new Uint8Array(PAGE_SIZE);
        this.pages.set(index, page);
      }
      page.set(bytes.subarray(done, done + n), within);
      this.dirty.add(index);
      done += n;
    }
  }

  /** Page indices in ascending order: the deterministic iteration order. */
  indices(): number[] {
    return [...this.pages.keys()].sort((a, b) => a - b);
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
    for (const [index, page] of this.pages) bytes.set(page, index * PAGE_SIZE);
  }

  clone(): PageMap {
    const copy = new PageMap(this.sizeBytes);
    for (const [index, page] of this.pages) copy.pages.set(index, page.slice());
    return copy;
  }

  clear(): void {
    for (const index of this.pages.keys()) this.dirty.add(index);
    this.pages.clear();
    this.sizeBytes = 0;
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
