// Main thread, right after a round is certified: what the query executors need to bring their copy
// of the certified state up to this height. Whole memories for a canister they have not seen (or
// whose memories were replaced: install, reinstall, snapshot load, restore), otherwise only the
// pages written since the previous certified round (page maps track them once asked). Reads the
// replicated state, never writes it.

import type { ExecutionEnvironment } from '../execution/environment.js';
import { packPages, sandboxModule } from '../execution/job.js';
import type { GlobalValue, SandboxModule } from '../execution/sandbox.js';
import type { CanisterState, PageMap, ReplicatedState } from '../state/index.js';
import type { QueryCanisterUpdate, QueryStateUpdate } from './types.js';

/** What was last published of a canister, to tell what changed. */
interface Published extends PublishedCanister {
  readonly heap: PageMap | undefined;
  readonly stable: PageMap;
  readonly module: string | undefined;
  readonly globals: readonly GlobalValue[] | undefined;
  readonly globalTimer: bigint;
  readonly settings: unknown;
}

/** The certified facts of a canister the query front end needs (cache validity, routing). */
export interface PublishedCanister {
  readonly version: bigint;
  readonly balance: bigint;
  readonly status: string;
  /** Its `canister_composite_query` methods (metrics tell queries and composite queries apart). */
  readonly compositeQueries: readonly string[];
}

export class QueryStatePublisher {
  readonly #published = new Map<string, Published>();
  readonly #modules = new Set<string>();
  #subnetSent = false;

  constructor(private readonly env: ExecutionEnvironment, private readonly subnet: { readonly subnetId: Uint8Array; readonly rootKey: () => Uint8Array }) {}

  /** The next update is built from scratch (a query worker started over and has nothing). */
  reset(): void {
    this.#published.clear();
    this.#modules.clear();
    this.#subnetSent = false;
  }

  /** The canister as last published (the latest certified state), or undefined. */
  canister(id: string): PublishedCanister | undefined {
    return this.#published.get(id);
  }

  /** The update from the previous certified state to `state` (which must be whole: between rounds). */
  build(state: ReplicatedState): QueryStateUpdate {
    const whole = !this.#subnetSent;
    if (whole) this.#published.clear();
    const modules: SandboxModule[] = [];
    const canisters: QueryCanisterUpdate[] = [];
    const live = new Set<string>();
    for (const c of state.canisters()) {
      live.add(c.idText);
      const update = this.#canister(state, c, modules);
      if (update) canisters.push(update);
    }
    const removed: string[] = [];
    for (const id of this.#published.keys()) {
      if (live.has(id)) continue;
      this.#published.delete(id);
      removed.push(id);
    }
    const update: QueryStateUpdate = { whole, height: state.height, time: state.time, modules, canisters, removed };
    if (!whole) return update;
    this.#subnetSent = true;
    return { ...update, subnet: { subnetId: this.subnet.subnetId, rootKey: this.subnet.rootKey() } };
  }

  #canister(state: ReplicatedState, c: CanisterState, modules: SandboxModule[]): QueryCanisterUpdate | undefined {
    const exec = c.execution;
    const prior = this.#published.get(c.idText);
    const module = exec?.module.hashHex;
    const full = !prior || prior.heap !== exec?.heap || prior.stable !== c.stable || prior.module !== module;
    let heapPages: number[] | undefined;
    let stablePages: number[] | undefined;
    if (exec && !full) {
      heapPages = exec.heap.takeChanges();
      stablePages = c.stable.takeChanges();
    }
    const whole = full || heapPages === undefined || stablePages === undefined;
    const unchanged = !whole && prior !== undefined && heapPages!.length === 0 && stablePages!.length === 0 &&
      prior.globals === exec?.globals && prior.version === c.version && prior.balance === c.balance &&
      prior.status === c.status && prior.globalTimer === c.globalTimer && prior.settings === c.settings;
    if (unchanged) return undefined;
    this.#published.set(c.idText, {
      heap: exec?.heap, stable: c.stable, module, globals: exec?.globals, version: c.version, balance: c.balance,
      status: c.status, globalTimer: c.globalTimer, settings: c.settings, compositeQueries: exec?.module.info.methods.compositeQuery ?? [],
    });

    const { view, limits } = this.env.queryView(state, c);
    const { subnetId: _s, rootKey: _r, time: _t, certificate: _c, ...canisterView } = view;
    const { instructions: _i, ...memoryLimits } = limits;
    const update: { -readonly [K in keyof QueryCanisterUpdate]: QueryCanisterUpdate[K] } = {
      id: c.idText, status: c.status as QueryCanisterUpdate['status'], view: canisterView, limits: memoryLimits,
    };
    if (!exec) return update;
    if (!this.#modules.has(exec.module.hashHex)) {
      this.#modules.add(exec.module.hashHex);
      modules.push(sandboxModule(exec.module));
    }
    if (whole) {
      // From now on both maps report the pages written to them.
      exec.heap.takeChanges();
      c.stable.takeChanges();
    }
    update.code = {
      module: exec.module.hashHex,
      query: exec.module.info.methods.query,
      compositeQuery: exec.module.info.methods.compositeQuery,
      globals: exec.globals,
      full: whole,
      heap: packPages(exec.heap, whole ? exec.heap.indices() : heapPages!),
      stable: packPages(c.stable, whole ? c.stable.indices() : stablePages!),
    };
    return update;
  }
}
