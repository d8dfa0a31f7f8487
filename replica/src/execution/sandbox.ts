// One canister's live Wasm instance. Runs one entry point at a time against the instrumented
// module, keeps pre-images of every page it writes, and either commits (returning the page
// deltas for the owner of the replicated state) or rolls back to the state before the message.
//
// A sandbox owns its memories: the Wasm memory and a stable-memory page map of its own. The
// replicated state (on the main thread) applies the returned deltas to its copy, so a sandbox can
// live in a worker thread, and a long (DTS) execution in progress is never visible to queries.

import { CanisterError, ErrorCode } from '../errors.js';
import { PAGE_SHIFT, PAGE_SIZE, PageMap, isZero } from '../state/page-map.js';
import {
  CanisterTrap,
  SystemApi,
  type ApiOutcome,
  type CallCosts,
  type CanisterView,
  type MessageInput,
  type SandboxAccess,
  type SystemApiLimits,
} from '../system-api/index.js';
import { INSTRUMENTATION, type InstrumentedModule, type ModuleInfo } from '../wasm/types.js';
import type { CompiledWasmModule } from '../wasm/engine.js';
import { dirtyPageFilter } from './dirty-pages.js';
import { JournaledStableMemory, WASM_PAGE } from './stable-memory.js';

export type EntryPoint =
  | { readonly kind: 'export'; readonly name: string }
  | { readonly kind: 'callback'; readonly fn: number; readonly env: number };

export type GlobalValue = number | bigint;

/**
 * What a sandbox needs of a compiled canister module: the compiled code and the names the
 * instrumentation exported. A `CompiledCanisterModule` is one; workers receive just this part.
 */
export interface SandboxModule {
  readonly hashHex: string;
  readonly module: CompiledWasmModule;
  readonly info: Pick<ModuleInfo, 'imports' | 'dataPages'>;
  readonly instrumented: Pick<InstrumentedModule, 'exports'>;
}

/** The persisted execution state of a canister: what survives between messages. */
export interface ExecutionSnapshot {
  readonly heap: PageMap;
  /** Owned by the sandbox restored from the snapshot (pass a copy of the canister's). */
  readonly stable: PageMap;
  readonly globals: readonly GlobalValue[];
}

/**
 * A changed page. Heap pages a sandbox returns are views of its live memory, valid until the
 * instance runs again: whoever keeps them copies them (page maps do, and so does a worker's
 * result encoding).
 */
export interface PageDelta {
  readonly index: number;
  readonly bytes: Uint8Array;
}

export interface SandboxLimits {
  /** Instructions this message may execute in total (the message limit). */
  readonly instructions: bigint;
  /**
   * Deterministic time slicing: instructions per slice. When a slice is used up before the
   * message limit, the `onSlice` hook of the run decides whether to go on; undefined: one slice.
   */
  readonly slice?: bigint;
  /** Heap size limit in bytes (the canister's wasm_memory_limit, at most 4 GiB). */
  readonly wasmMemoryBytes: number;
  readonly stableMemoryBytes: bigint;
  readonly systemApi?: SystemApiLimits;
}

/**
 * Called at the end of each slice with the instructions the message executed so far. It may
 * block (a worker waits for the next round); 'abort' rolls the message back.
 */
export type SliceHook = (executedSoFar: bigint) => 'continue' | 'abort';

export interface RunOptions {
  /** false (non-replicated queries): always roll back, but return the outcome. Default true. */
  readonly persist?: boolean;
  readonly onSlice?: SliceHook;
  /** Instructions of the first slice, if it is not a whole one (a cleanup finishing a slice). */
  readonly firstSlice?: bigint;
  /** Instructions the call context executed before this message (`performance_counter(1)`). */
  readonly callContextInstructions?: bigint;
}

export type SandboxResult =
  | {
      readonly ok: true;
      readonly outcome: ApiOutcome;
      readonly instructions: bigint;
      readonly heap: { readonly sizeBytes: number; readonly pages: readonly PageDelta[] };
      readonly stable: { readonly sizeBytes: number; readonly pages: readonly PageDelta[] };
      readonly globals: readonly GlobalValue[];
    }
  /** `logs`: what the message printed before it trapped (canister logs keep it). */
  | { readonly ok: false; readonly error: CanisterError; readonly instructions: bigint; readonly logs?: readonly Uint8Array[] };

/** Thrown out of `Sandbox.run` when the slice hook aborted the message (it was rolled back). */
export class ExecutionAborted extends Error {
  override readonly name = 'ExecutionAborted';
  constructor(readonly instructions: bigint) {
    super('the execution was aborted');
  }
}

interface Live {
  readonly instance: WebAssembly.Instance;
  readonly memory: WebAssembly.Memory;
  readonly counter: WebAssembly.Global;
  readonly dirtyPage: WebAssembly.Global;
  readonly dirtyPage2: WebAssembly.Global;
  readonly callDepth: WebAssembly.Global;
  readonly globals: readonly WebAssembly.Global[];
  readonly table?: WebAssembly.Table;
  /** The callback trampoline: calls table entry `fn` with `env` as an (i32) -> () function. */
  readonly callback?: (fn: number, env: number) => void;
}

/** Raised inside the Wasm call stack to unwind an aborted execution; never leaves the sandbox. */
const ABORT = Symbol('abort');

/** Page buffers for pre-images, reused from message to message (per thread). */
const sparePages: Uint8Array[] = [];
const MAX_SPARE_PAGES = 1024;

/** The pre-image of a page that was zero: shared, never written. */
const ZERO_PAGE = new Uint8Array(PAGE_SIZE);

function releasePages(journal: Map<number, Uint8Array>): void {
  for (const page of journal.values()) if (page !== ZERO_PAGE && sparePages.length < MAX_SPARE_PAGES) sparePages.push(page);
  journal.clear();
}

/** The data pages of a module as a set, per module. */
const dataPageSets = new WeakMap<readonly number[], ReadonlySet<number>>();

function dataPageSet(pages: readonly number[]): ReadonlySet<number> {
  let set = dataPageSets.get(pages);
  if (set === undefined) {
    set = new Set(pages);
    dataPageSets.set(pages, set);
  }
  return set;
}


export class Sandbox implements SandboxAccess {
  private live: Live | undefined;
  private view: Uint8Array = new Uint8Array(0);
  private readonly heapJournal = new Map<number, Uint8Array>();
  /**
   * Pages of the live memory that may be non-zero besides the module's data pages: every page
   * written (journaled, restored or applied) since this sandbox was created. Whole-memory work
   * (the heap at install, rollback across memory.grow) visits only these, never all 4 GiB.
   */
  private readonly touched = new Set<number>();
  private api: SystemApi | undefined;
  /** Reused across messages; `api` is set only while a message runs. */
  private systemApi: SystemApi | undefined;
  private fns: Record<string, (...args: never[]) => unknown> | undefined;
  /** Instructions granted to the current message so far (slices add up). */
  private budget = 0n;
  private limits: SandboxLimits | undefined;
  private onSlice: SliceHook | undefined;
  private contextInstructions = 0n;
  /**
   * The globals' values at the committed state (undefined: read them from the instance). Kept so
   * that a message does not read every global before it runs, only after.
   */
  private committedGlobals: readonly GlobalValue[] | undefined;
  /** Where the thread's dirty page filter sends the first mark_dirty(page) of a message. */
  private readonly saveMarked = (page: number) => {
    this.savePage(page);
    this.savePage(page + 1);
  };
  readonly stable: JournaledStableMemory;

  private constructor(
    readonly compiled: SandboxModule,
    stablePages: PageMap,
    stableLimit: bigint,
  ) {
    this.stable = new JournaledStableMemory(stablePages, stableLimit);
  }

  /**
   * A fresh instance for install: instantiation runs the module's start function (context `s`),
   * charged to the install's instruction limit. Returns the sandbox or the trap.
   */
  static install(
    compiled: SandboxModule,
    stable: PageMap,
    view: CanisterView,
    costs: CallCosts,
    limits: SandboxLimits,
    /** Slices, as for `run` (install_code slices its start function like its other phases). */
    options: Pick<RunOptions, 'onSlice' | 'firstSlice'> = {},
  ): { sandbox: Sandbox; instructions: bigint } | { error: CanisterError; instructions: bigint } {
    const sandbox = new Sandbox(compiled, stable, limits.stableMemoryBytes);
    sandbox.begin(startMessage(view), view, costs, options.onSlice ? limits : { ...limits, slice: undefined }, options.onSlice, options.firstSlice);
    try {
      sandbox.instantiate();
      const instructions = sandbox.instructionsExecuted();
      sandbox.stable.commit();
      releasePages(sandbox.heapJournal);
      return { sandbox, instructions };
    } catch (e) {
      const instructions = sandbox.budget - (sandbox.live ? (sandbox.live.counter.value as bigint) : sandbox.budget);
      sandbox.stable.rollback();
      if (e === ABORT) throw new ExecutionAborted(instructions);
      return { error: toCanisterError(e), instructions };
    } finally {
      sandbox.end();
    }
  }

  /** An instance restored from persisted state; the sandbox takes ownership of `snapshot.stable`. */
  static restore(compiled: SandboxModule, snapshot: ExecutionSnapshot, stableLimit: bigint): Sandbox {
    const sandbox = new Sandbox(compiled, snapshot.stable, stableLimit);
    sandbox.reinstantiate(snapshot.globals, (memory) => {
      const want = Math.ceil(snapshot.heap.sizeBytes / WASM_PAGE);
      const have = memory.buffer.byteLength / WASM_PAGE;
      if (want > have) memory.grow(want - have);
      const bytes = new Uint8Array(memory.buffer);
      // A fresh memory is zero but for the data segments: clear those, then write the pages.
      const present = snapshot.heap.indices();
      const written = new Set(present);
      for (const page of compiled.info.dataPages) {
        if (!written.has(page) && page * PAGE_SIZE < bytes.length) bytes.fill(0, page * PAGE_SIZE, (page + 1) * PAGE_SIZE);
      }
      for (const index of present) {
        bytes.set(snapshot.heap.page(index), index * PAGE_SIZE);
        sandbox.touched.add(index);
      }
    });
    return sandbox;
  }

  /** The heap as a page map (used at install to create the canister's persisted heap). */
  heapSnapshot(): { heap: PageMap; globals: GlobalValue[] } {
    const live = this.mustLive();
    const mem = this.memory();
    const heap = new PageMap(mem.length);
    for (const index of this.maybeNonZero()) {
      const page = mem.subarray(index * PAGE_SIZE, (index + 1) * PAGE_SIZE);
      if (!isZero(page)) heap.setPage(index, page);
    }
    return { heap, globals: live.globals.map((g) => g.value) };
  }

  hasExport(name: string): boolean {
    return typeof this.mustLive().instance.exports[name] === 'function';
  }

  /**
   * Runs one entry point. On success the changes stay in the instance and the deltas are
   * returned for the persisted state; on a trap everything is rolled back. Throws
   * `ExecutionAborted` (after rolling back) when the slice hook aborts the message.
   */
  run(
    entry: EntryPoint,
    message: MessageInput,
    view: CanisterView,
    costs: CallCosts,
    limits: SandboxLimits,
    options: RunOptions = {},
  ): SandboxResult {
    const live = this.mustLive();
    const globalsBefore = this.committedGlobals ?? live.globals.map((g) => g.value);
    const pagesBefore = live.memory.buffer.byteLength / WASM_PAGE;
    this.begin(message, view, costs, limits, options.onSlice, options.firstSlice);
    this.contextInstructions = options.callContextInstructions ?? 0n;
    live.dirtyPage.value = -1;
    live.dirtyPage2.value = -1;
    live.callDepth.value = 0;
    try {
      this.invoke(live, entry);
      const outcome = this.api!.finish();
      const instructions = this.instructionsExecuted();
      if (options.persist === false) {
        this.rollback(globalsBefore, pagesBefore);
        return { ok: true, outcome, instructions, heap: { sizeBytes: pagesBefore * WASM_PAGE, pages: [] }, stable: { sizeBytes: this.stable.pages.sizeBytes, pages: [] }, globals: globalsBefore };
      }
      return { ok: true, outcome, instructions, ...this.commit(live) };
    } catch (e) {
      const instructions = this.instructionsExecuted();
      const logs = this.api?.outcome.logs;
      this.rollback(globalsBefore, pagesBefore);
      if (e === ABORT) throw new ExecutionAborted(instructions);
      return { ok: false, error: toCanisterError(e), instructions, logs: logs?.length ? logs : undefined };
    } finally {
      this.end();
    }
  }

  /**
   * Applies deltas committed by another instance of the same canister (a worker's), so that this
   * one (kept on the main thread for queries) stays equal to the persisted state.
   */
  applyCommitted(result: Extract<SandboxResult, { ok: true }>): void {
    const live = this.mustLive();
    const wantPages = result.heap.sizeBytes / WASM_PAGE;
    const havePages = live.memory.buffer.byteLength / WASM_PAGE;
    if (wantPages > havePages) live.memory.grow(wantPages - havePages);
    const mem = this.memory();
    for (const p of result.heap.pages) {
      mem.set(p.bytes, p.index * PAGE_SIZE);
      this.touched.add(p.index);
    }
    live.globals.forEach((g, i) => (g.value = result.globals[i]!));
    this.committedGlobals = result.globals;
    this.stable.pages.sizeBytes = result.stable.sizeBytes;
    for (const p of result.stable.pages) this.stable.pages.setPage(p.index, p.bytes);
    this.stable.commit();
  }

  // ---- SandboxAccess (called by the System API) ---------------------------------------------

  memory(): Uint8Array {
    const buffer = this.mustLive().memory.buffer;
    if (this.view.buffer !== buffer) this.view = new Uint8Array(buffer);
    return this.view;
  }

  markDirty(start: number, length: number): void {
    if (length === 0) return;
    const first = start >>> PAGE_SHIFT;
    const last = (start + length - 1) >>> PAGE_SHIFT;
    for (let p = first; p <= last; p++) this.savePage(p);
  }

  charge(instructions: bigint): void {
    const counter = this.mustLive().counter;
    counter.value = (counter.value as bigint) - instructions;
    if ((counter.value as bigint) < 0n) this.outOfInstructions();
  }

  instructionsExecuted(): bigint {
    const counter = this.live?.counter.value as bigint | undefined;
    return this.budget - (counter ?? this.budget);
  }

  callContextInstructions(): bigint {
    return this.contextInstructions;
  }

  // ---- internals -----------------------------------------------------------------------------

  private begin(
    message: MessageInput, view: CanisterView, costs: CallCosts, limits: SandboxLimits,
    onSlice: SliceHook | undefined, firstSlice: bigint | undefined,
  ): void {
    if (this.systemApi) this.systemApi.reset(message, view, costs, limits.systemApi);
    else this.systemApi = new SystemApi(this, message, view, costs, limits.systemApi);
    this.api = this.systemApi;
    this.fns = this.api.functions();
    this.limits = limits;
    this.onSlice = onSlice;
    const sliced = onSlice !== undefined && limits.slice !== undefined && limits.slice < limits.instructions;
    const first = firstSlice ?? limits.slice ?? limits.instructions;
    this.budget = sliced ? (first < limits.instructions ? first : limits.instructions) : limits.instructions;
    if (this.live) this.live.counter.value = this.budget;
    dirtyPageFilter().attach(this.saveMarked);
  }

  private end(): void {
    dirtyPageFilter().detach();
    this.systemApi?.release();
    this.api = undefined;
    this.fns = undefined;
    this.onSlice = undefined;
  }

  private invoke(live: Live, entry: EntryPoint): void {
    if (entry.kind === 'export') {
      const fn = live.instance.exports[entry.name];
      if (typeof fn !== 'function') {
        throw new CanisterError(ErrorCode.CanisterMethodNotFound, `Canister has no method '${entry.name}'`);
      }
      (fn as () => void)();
      return;
    }
    const table = live.table;
    const fn = table && entry.fn < table.length ? (table.get(entry.fn) as (() => unknown) | null) : null;
    if (typeof fn !== 'function' || live.callback === undefined) {
      throw CanisterTrap.contract(`Canister's callback at table index ${entry.fn} is not a function`);
    }
    // The IC calls a callback with call_indirect of type (i32) -> (): another signature traps.
    // Table entries are instrumented bodies, (i32, counter) -> (counter) for a callback; the
    // instrumentation's trampoline makes that call_indirect. A signature mismatch there traps
    // before the callee charged anything.
    const mismatch = () => CanisterTrap.trapped(`indirect call type mismatch: the callback at table index ${entry.fn} is not of type (i32) -> ()`);
    if (fn.length !== 2) throw mismatch();
    try {
      live.callback(entry.fn, entry.env);
    } catch (e) {
      if (e instanceof WebAssembly.RuntimeError && /signature mismatch/.test(e.message) && this.instructionsExecuted() === 0n) throw mismatch();
      throw e;
    }
  }

  private imports(): WebAssembly.Imports {
    const ic0: Record<string, (...args: never[]) => unknown> = {};
    for (const name of this.compiled.info.imports) {
      // The System API object is created per message; the wrappers look its functions up per
      // call, so one set of imports serves the instance for its whole life.
      ic0[name] = (...args: never[]) => this.fns![name]!(...args);
    }
    return {
      ic0,
      [INSTRUMENTATION.importModule]: {
        [INSTRUMENTATION.imports.outOfInstructions]: () => this.outOfInstructions(),
        [INSTRUMENTATION.imports.markDirty]: dirtyPageFilter().mark,
        [INSTRUMENTATION.imports.markDirtyRange]: dirtyPageFilter().markRange,
        [INSTRUMENTATION.imports.memoryGrowAllowed]: (delta: number) => this.growAllowed(delta >>> 0),
        [INSTRUMENTATION.imports.callDepthExceeded]: () => {
          throw CanisterTrap.trapped('stack overflow (call depth limit exceeded)');
        },
      },
    };
  }

  private bind(instance: WebAssembly.Instance): Live {
    const ex = instance.exports;
    const names = this.compiled.instrumented.exports;
    return {
      instance,
      memory: ex[names.memory] as WebAssembly.Memory,
      counter: ex[INSTRUMENTATION.instructionCounterExport] as WebAssembly.Global,
      dirtyPage: ex[INSTRUMENTATION.dirtyPageExport] as WebAssembly.Global,
      dirtyPage2: ex[INSTRUMENTATION.dirtyPage2Export] as WebAssembly.Global,
      callDepth: ex[INSTRUMENTATION.callDepthExport] as WebAssembly.Global,
      globals: names.globals.map((g) => ex[g.exportName] as WebAssembly.Global),
      table: names.table ? (ex[names.table] as WebAssembly.Table) : undefined,
      callback: names.callback ? (ex[names.callback] as (fn: number, env: number) => void) : undefined,
    };
  }

  private instantiate(): void {
    this.committedGlobals = undefined;
    this.live = this.bind(new WebAssembly.Instance(this.compiled.module as WebAssembly.Module, this.imports()));
    this.live.counter.value = this.budget;
    this.live.dirtyPage.value = -1;
    this.live.dirtyPage2.value = -1;
    this.live.callDepth.value = 0;
    const start = this.compiled.instrumented.exports.start;
    if (start) (this.live.instance.exports[start] as () => void)();
  }

  /** A new instance (start is not run again) whose memory `fill` writes and whose globals are given. */
  private reinstantiate(globals: readonly GlobalValue[], fill: (memory: WebAssembly.Memory) => void): void {
    const live = this.bind(new WebAssembly.Instance(this.compiled.module as WebAssembly.Module, this.imports()));
    fill(live.memory);
    live.globals.forEach((g, i) => (g.value = globals[i]!));
    this.committedGlobals = globals;
    this.live = live;
  }

  private savePage(page: number): void {
    if (this.heapJournal.has(page)) return;
    const mem = this.memory();
    const start = page * PAGE_SIZE;
    if (start >= mem.length) return;
    if (!this.touched.has(page) && !dataPageSet(this.compiled.info.dataPages).has(page)) {
      // Never written and no data segment: still zero (fresh memory), nothing to copy.
      this.heapJournal.set(page, ZERO_PAGE);
      this.touched.add(page);
      return;
    }
    const copy = sparePages.pop() ?? new Uint8Array(PAGE_SIZE);
    copy.set(mem.subarray(start, start + PAGE_SIZE));
    this.heapJournal.set(page, copy);
    this.touched.add(page);
  }

  private growAllowed(delta: number): number {
    const live = this.mustLive();
    const size = live.memory.buffer.byteLength;
    if (size + delta * WASM_PAGE > (this.limits?.wasmMemoryBytes ?? 0)) return 0;
    // mark_dirty(page) could not save page + 1 while it lay past the end of memory: once the
    // memory grows, the last page must be marked again before a store straddles out of it.
    if (size > 0) dirtyPageFilter().forget(size / PAGE_SIZE - 1);
    live.dirtyPage.value = -1;
    live.dirtyPage2.value = -1;
    return 1;
  }

  /**
   * The counter went negative: the message limit is reached (trap), or the slice is used up and
   * the slice hook says whether to go on with another slice (the counter is topped up) or abort.
   */
  private outOfInstructions(): void {
    const limits = this.limits!;
    const counter = this.mustLive().counter;
    while (this.onSlice && this.budget < limits.instructions && (counter.value as bigint) < 0n) {
      if (this.instructionsExecuted() > limits.instructions) break;
      if (this.onSlice(this.instructionsExecuted()) === 'abort') throw ABORT;
      const rest = limits.instructions - this.budget;
      const add = limits.slice! < rest ? limits.slice! : rest;
      this.budget += add;
      counter.value = (counter.value as bigint) + add;
    }
    if ((counter.value as bigint) >= 0n) return;
    throw new CanisterError(
      ErrorCode.CanisterInstructionLimitExceeded,
      `Canister exceeded the limit of ${limits.instructions} instructions for single message execution.`,
    );
  }

  private commit(live: Live): Omit<Extract<SandboxResult, { ok: true }>, 'ok' | 'outcome' | 'instructions'> {
    const mem = this.memory();
    const pages: PageDelta[] = [];
    for (const [index, before] of this.heapJournal) {
      const now = mem.subarray(index * PAGE_SIZE, (index + 1) * PAGE_SIZE);
      // A page marked but left unchanged is not dirty: the delta stays exact.
      if (!equalPage(now, before)) pages.push({ index, bytes: now });
    }
    sortByIndex(pages);
    releasePages(this.heapJournal);
    const stablePages = this.stable.commit();
    const globals = live.globals.map((g) => g.value);
    this.committedGlobals = globals;
    return {
      heap: { sizeBytes: live.memory.buffer.byteLength, pages },
      stable: { sizeBytes: this.stable.pages.sizeBytes, pages: stablePages },
      globals,
    };
  }

  private rollback(globals: readonly GlobalValue[], pagesBefore: number): void {
    this.stable.rollback();
    const live = this.mustLive();
    const mem = this.memory();
    for (const [index, before] of this.heapJournal) mem.set(before, index * PAGE_SIZE);
    releasePages(this.heapJournal);
    if (live.memory.buffer.byteLength / WASM_PAGE === pagesBefore) {
      live.globals.forEach((g, i) => (g.value = globals[i]!));
      this.committedGlobals = globals;
      return;
    }
    // Linear memory cannot shrink: a new instance gets the old memory's first `pagesBefore` pages.
    // Pages outside maybeNonZero() are zero in both memories.
    const old = new Uint8Array(live.memory.buffer, 0, pagesBefore * WASM_PAGE);
    this.reinstantiate(globals, (memory) => {
      const have = memory.buffer.byteLength / WASM_PAGE;
      if (pagesBefore > have) memory.grow(pagesBefore - have);
      const bytes = new Uint8Array(memory.buffer);
      for (const index of this.maybeNonZero()) {
        const at = index * PAGE_SIZE;
        if (at < old.length) bytes.set(old.subarray(at, at + PAGE_SIZE), at);
      }
    });
  }

  /** Pages that may be non-zero in the live memory, ascending, within its size. */
  private maybeNonZero(): number[] {
    const pages = new Set(this.touched);
    for (const page of this.compiled.info.dataPages) pages.add(page);
    const limit = this.memory().length / PAGE_SIZE;
    return [...pages].filter((page) => page < limit).sort((a, b) => a - b);
  }

  private mustLive(): Live {
    if (!this.live) throw new Error('sandbox has no instance');
    return this.live;
  }
}

function startMessage(view: CanisterView): MessageInput {
  return {
    context: 's', caller: view.canisterId, arg: new Uint8Array(0), cyclesAvailable: 0n, cyclesRefunded: 0n,
    rejectCode: 0, deadline: 0n, needsResponse: false, replicated: true,
  };
}

/** Ascending page order in place (a message changes a few pages: insertion sort, no allocation). */
function sortByIndex(pages: PageDelta[]): void {
  for (let i = 1; i < pages.length; i++) {
    const p = pages[i]!;
    let j = i - 1;
    for (; j >= 0 && pages[j]!.index > p.index; j--) pages[j + 1] = pages[j]!;
    pages[j + 1] = p;
  }
}

function equalPage(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.compare(a, b) === 0;
}

/** Maps engine traps to the IC's messages (wasmtime's wording, which the IC reports). */
export function toCanisterError(e: unknown): CanisterError {
  if (e instanceof CanisterError) return e;
  if (e instanceof WebAssembly.RuntimeError) {
    const m = e.message;
    const what =
      m.includes('unreachable') ? 'unreachable'
      : m.includes('memory access out of bounds') ? 'heap out of bounds'
      : m.includes('divide by zero') || m.includes('remainder by zero') ? 'integer division by 0'
      : m.includes('integer overflow') || m.includes('divide result unrepresentable') ? 'integer overflow'
      : m.includes('float unrepresentable') ? 'invalid conversion to integer'
      : m.includes('table index is out of bounds') ? 'table out of bounds'
      : m.includes('null function') || m.includes('function signature mismatch') ? 'indirect call type mismatch or null function'
      : m;
    return CanisterTrap.trapped(what);
  }
  if (e instanceof RangeError && /call stack/i.test(e.message)) {
    return CanisterTrap.trapped('stack overflow');
  }
  throw e;
}
