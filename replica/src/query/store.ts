// A query executor's copy of the latest certified state: per canister its memories as page maps,
// globals, view and query methods, and (for recently queried canisters) a live instance equal to
// that state. Updated only by `apply`, between queries, so a query sees one certified height.

import { unpackPageMap, unpackPages, type WirePages } from '../execution/job.js';
import { Sandbox, type GlobalValue, type SandboxLimits, type SandboxModule, type SandboxResult } from '../execution/sandbox.js';
import type { PageMap } from '../state/page-map.js';
import type { QueryCanisterUpdate, QueryCanisterView, QueryStateUpdate } from './types.js';

export interface QueryCode {
  readonly module: SandboxModule;
  readonly query: ReadonlySet<string>;
  readonly compositeQuery: ReadonlySet<string>;
  heap: PageMap;
  stable: PageMap;
  globals: readonly GlobalValue[];
}

export interface QueryCanister {
  readonly id: string;
  status: QueryCanisterUpdate['status'];
  view: QueryCanisterView;
  limits: Omit<SandboxLimits, 'instructions'>;
  code: QueryCode | undefined;
}

function applyPages(map: PageMap, wire: WirePages): void {
  const { sizeBytes, pages } = unpackPages(wire);
  map.sizeBytes = sizeBytes;
  for (const p of pages) map.setPage(p.index, p.bytes);
}

export class QueryStore {
  height = -1n;
  time = 0n;
  subnetId: Uint8Array = new Uint8Array(0);
  rootKey: Uint8Array = new Uint8Array(0);
  readonly #modules = new Map<string, SandboxModule>();
  readonly #canisters = new Map<string, QueryCanister>();
  /** Live instances equal to the certified state, least recently used first. */
  readonly #sandboxes = new Map<string, Sandbox>();

  constructor(
    private readonly stableMemoryBytes: bigint,
    private readonly maxSandboxes = 256,
  ) {}

  canister(id: string): QueryCanister | undefined {
    return this.#canisters.get(id);
  }

  apply(update: QueryStateUpdate): void {
    if (update.subnet) {
      this.subnetId = update.subnet.subnetId;
      this.rootKey = update.subnet.rootKey;
    }
    for (const m of update.modules) this.#modules.set(m.hashHex, m);
    const removed = update.whole ? this.#absentFrom(update) : update.removed;
    for (const id of removed) {
      this.#canisters.delete(id);
      this.#sandboxes.delete(id);
    }
    for (const u of update.canisters) this.#applyCanister(u);
    this.height = update.height;
    this.time = update.time;
  }

  /** A whole update lists every canister: the others are gone. */
  #absentFrom(update: QueryStateUpdate): string[] {
    const present = new Set(update.canisters.map((c) => c.id));
    return [...this.#canisters.keys()].filter((id) => !present.has(id));
  }

  #applyCanister(u: QueryCanisterUpdate): void {
    let c = this.#canisters.get(u.id);
    if (!c) this.#canisters.set(u.id, (c = { id: u.id, status: u.status, view: u.view, limits: u.limits, code: undefined }));
    c.status = u.status;
    c.view = u.view;
    c.limits = u.limits;
    const code = u.code;
    if (!code) {
      c.code = undefined;
      this.#sandboxes.delete(u.id);
      return;
    }
    if (code.full || !c.code || c.code.module.hashHex !== code.module) {
      const module = this.#modules.get(code.module);
      if (!module) throw new Error(`query state update without module ${code.module}`);
      c.code = {
        module, query: new Set(code.query), compositeQuery: new Set(code.compositeQuery),
        heap: unpackPageMap(code.heap), stable: unpackPageMap(code.stable), globals: code.globals,
      };
      this.#sandboxes.delete(u.id);
      return;
    }
    applyPages(c.code.heap, code.heap);
    applyPages(c.code.stable, code.stable);
    c.code.globals = code.globals;
    const live = this.#sandboxes.get(u.id);
    if (!live) return;
    // The live instance follows the same deltas (linear memory only grows, as here).
    const delta = { ok: true, heap: unpackPages(code.heap), stable: unpackPages(code.stable), globals: code.globals } as unknown as Extract<SandboxResult, { ok: true }>;
    live.applyCommitted(delta);
  }

  /** The canister's live instance on the certified state (restored if it has none). */
  sandbox(c: QueryCanister): Sandbox {
    const code = c.code!;
    let sandbox = this.#sandboxes.get(c.id);
    if (sandbox) {
      this.#sandboxes.delete(c.id);
      this.#sandboxes.set(c.id, sandbox);
      return sandbox;
    }
    sandbox = Sandbox.restore(code.module, { heap: code.heap, stable: code.stable.clone(), globals: code.globals }, this.stableMemoryBytes);
    this.#sandboxes.set(c.id, sandbox);
    while (this.#sandboxes.size > this.maxSandboxes) this.#sandboxes.delete(this.#sandboxes.keys().next().value!);
    return sandbox;
  }

  /**
   * A composite query's execution changed the instance (kept between its callbacks): put it back
   * to the certified state. `heapPages` are the pages it wrote; a grown memory or changed stable
   * memory is not worth undoing page by page: the instance is dropped and restored when needed.
   */
  revert(c: QueryCanister, heapPages: ReadonlySet<number>, dropInstance: boolean): void {
    const live = this.#sandboxes.get(c.id);
    if (!live || !c.code) return;
    if (dropInstance) {
      this.#sandboxes.delete(c.id);
      return;
    }
    const heap = c.code.heap;
    const pages = [...heapPages].map((index) => ({ index, bytes: heap.page(index) }));
    const restore = {
      ok: true,
      heap: { sizeBytes: heap.sizeBytes, pages },
      stable: { sizeBytes: c.code.stable.sizeBytes, pages: [] },
      globals: c.code.globals,
    } as unknown as Extract<SandboxResult, { ok: true }>;
    live.applyCommitted(restore);
  }
}
