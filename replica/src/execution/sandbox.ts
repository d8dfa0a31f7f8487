// One canister's live Wasm instance. Runs one entry point at a time against the instrumented
// module, keeps pre-images of every page it writes, and either commits (returning the page
// deltas for the owner of the replicated state) or rolls back to the state before the message.

import { CanisterError, ErrorCode } from '../errors.js';
import { PAGE_SHIFT, PAGE_SIZE, PageMap } from '../state/page-map.js';
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
import { INSTRUMENTATION, type CompiledCanisterModule } from '../wasm/index.js';
import { JournaledStableMemory, WASM_PAGE } from './stable-memory.js';

export type EntryPoint =
  | { readonly kind: 'export'; readonly name: string }
  | { readonly kind: 'callback'; readonly fn: number; readonly env: number };

export type GlobalValue = number | bigint;

/** The persisted execution state of a canister: what survives between messages. */
export interface ExecutionSnapshot {
  readonly heap: PageMap;
  readonly stable: PageMap;
  readonly globals: readonly GlobalValue[];
}

export interface PageDelta {
  readonly index: number;
  readonly bytes: Uint8Array;
}

export interface SandboxLimits {
  /** Instructions this message may execute in total. */
  readonly instructions: bigint;
  /** Heap size limit in bytes (the canister's wasm_memory_limit, at most 4 GiB). */
  readonly wasmMemoryBytes: number;
  readonly stableMemoryBytes: bigint;
  readonly systemApi?: SystemApiLimits;
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
  | { readonly ok: false; readonly error: CanisterError; readonly instructions: bigint };

interface Live {
  readonly instance: WebAssembly.Instance;
  readonly memory: WebAssembly.Memory;
  readonly counter: WebAssembly.Global;
  readonly dirtyPage: WebAssembly.Global;
  readonly callDepth: WebAssembly.Global;
  readonly globals: readonly WebAssembly.Global[];
  readonly table?: WebAssembly.Table;
}

export class Sandbox implements SandboxAccess {
  private live: Live | undefined;
  private view: Uint8Array = new Uint8Array(0);
  private readonly heapJournal = new Map<number, Uint8Array>();
  private api: SystemApi | undefined;
  private budget = 0n;
  private limits: SandboxLimits | undefined;
  readonly stable: JournaledStableMemory;

  private constructor(
    readonly compiled: CompiledCanisterModule,
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
    compiled: CompiledCanisterModule,
    stable: PageMap,
    view: CanisterView,
    costs: CallCosts,
    limits: SandboxLimits,
  ): { sandbox: Sandbox; instructions: bigint } | { error: CanisterError; instructions: bigint } {
    const sandbox = new Sandbox(compiled, stable, limits.stableMemoryBytes);
    sandbox.begin(startMessage(view), view, costs, limits);
    try {
      sandbox.instantiate();
      const instructions = sandbox.instructionsExecuted();
      sandbox.stable.commit();
      sandbox.heapJournal.clear();
      return { sandbox, instructions };
    } catch (e) {
      const instructions = sandbox.budget - (sandbox.live ? (sandbox.live.counter.value as bigint) : sandbox.budget);
      sandbox.stable.rollback();
      return { error: toCanisterError(e), instructions };
    } finally {
      sandbox.api = undefined;
    }
  }

  /** An instance restored from persisted state (after restart, or a rollback that grew memory). */
  static restore(compiled: CompiledCanisterModule, snapshot: ExecutionSnapshot, stableLimit: bigint): Sandbox {
    const sandbox = new Sandbox(compiled, snapshot.stable, stableLimit);
    sandbox.reinstantiate(snapshot.heap, snapshot.globals);
    return sandbox;
  }

  /** The heap as a page map (used at install to create the canister's persisted heap). */
  heapSnapshot(): { heap: PageMap; globals: GlobalValue[] } {
    const live = this.mustLive();
    return { heap: PageMap.fromMemory(new Uint8Array(live.memory.buffer)), globals: live.globals.map((g) => g.value) };
  }

  hasExport(name: string): boolean {
    return typeof this.mustLive().instance.exports[name] === 'function';
  }

  /**
   * Runs one entry point. On success the changes stay in the instance and the deltas are
   * returned for the persisted state; on a trap everything is rolled back.
   * `persist: false` (non-replicated queries) always rolls back but returns the outcome.
   */
  run(
    entry: EntryPoint,
    message: MessageInput,
    view: CanisterView,
    costs: CallCosts,
    limits: SandboxLimits,
    persisted: ExecutionSnapshot,
    persist = true,
  ): SandboxResult {
    const live = this.mustLive();
    const globalsBefore = live.globals.map((g) => g.value);
    const pagesBefore = live.memory.buffer.byteLength / WASM_PAGE;
    this.begin(message, view, costs, limits);
    live.dirtyPage.value = -1;
    live.callDepth.value = 0;
    try {
      this.invoke(live, entry);
      const outcome = this.api!.finish();
      const instructions = this.instructionsExecuted();
      if (!persist) {
        this.rollback(live, globalsBefore, pagesBefore, persisted);
        return { ok: true, outcome, instructions, heap: emptyDelta(persisted.heap), stable: emptyDelta(persisted.stable), globals: globalsBefore };
      }
      return { ok: true, outcome, instructions, ...this.commit(live) };
    } catch (e) {
      const instructions = this.instructionsExecuted();
      const error = toCanisterError(e);
      this.rollback(live, globalsBefore, pagesBefore, persisted);
      return { ok: false, error, instructions };
    } finally {
      this.api = undefined;
    }
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
    return 0n;
  }

  // ---- internals -----------------------------------------------------------------------------

  private begin(message: MessageInput, view: CanisterView, costs: CallCosts, limits: SandboxLimits): void {
    this.api = new SystemApi(this, message, view, costs, limits.systemApi);
    this.limits = limits;
    this.budget = limits.instructions;
    if (this.live) this.live.counter.value = limits.instructions;
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
    const fn = table && entry.fn < table.length ? (table.get(entry.fn) as ((env: number) => void) | null) : null;
    if (typeof fn !== 'function') {
      throw CanisterTrap.contract(`Canister's callback at table index ${entry.fn} is not a function`);
    }
    fn(entry.env);
  }

  private imports(): WebAssembly.Imports {
    const ic0: Record<string, (...args: never[]) => unknown> = {};
    for (const name of this.compiled.info.imports) {
      ic0[name] = (...args: never[]) => {
        const fns = this.api!.functions() as Record<string, (...a: never[]) => unknown>;
        return fns[name]!(...args);
      };
    }
    return {
      ic0,
      [INSTRUMENTATION.importModule]: {
        [INSTRUMENTATION.imports.outOfInstructions]: () => this.outOfInstructions(),
        [INSTRUMENTATION.imports.markDirty]: (page: number) => {
          this.savePage(page >>> 0);
          this.savePage((page >>> 0) + 1);
        },
        [INSTRUMENTATION.imports.markDirtyRange]: (start: number, length: number) => this.markDirty(start >>> 0, length >>> 0),
        [INSTRUMENTATION.imports.memoryGrowAllowed]: (delta: number) => this.growAllowed(delta >>> 0),
        [INSTRUMENTATION.imports.callDepthExceeded]: () => {
          throw CanisterTrap.trapped('stack overflow (call depth limit exceeded)');
        },
      },
    };
  }

  private instantiate(): void {
    // The System API object is created per message; the import wrappers look it up per call, so
    // one set of imports serves the instance for its whole life.
    const instance = new WebAssembly.Instance(this.compiled.module, this.imports());
    const ex = instance.exports;
    const names = this.compiled.instrumented.exports;
    this.live = {
      instance,
      memory: ex[names.memory] as WebAssembly.Memory,
      counter: ex[INSTRUMENTATION.instructionCounterExport] as WebAssembly.Global,
      dirtyPage: ex[INSTRUMENTATION.dirtyPageExport] as WebAssembly.Global,
      callDepth: ex[INSTRUMENTATION.callDepthExport] as WebAssembly.Global,
      globals: names.globals.map((g) => ex[g.exportName] as WebAssembly.Global),
      table: names.table ? (ex[names.table] as WebAssembly.Table) : undefined,
    };
    this.live.counter.value = this.budget;
    this.live.dirtyPage.value = -1;
    this.live.callDepth.value = 0;
    const start = this.compiled.instrumented.exports.start;
    if (start) (ex[start] as () => void)();
  }

  /** A new instance whose memory and globals are the persisted ones (start is not run again). */
  private reinstantiate(heap: PageMap, globals: readonly GlobalValue[]): void {
    const instance = new WebAssembly.Instance(this.compiled.module, this.imports());
    const ex = instance.exports;
    const names = this.compiled.instrumented.exports;
    const memory = ex[names.memory] as WebAssembly.Memory;
    const have = memory.buffer.byteLength / WASM_PAGE;
    const want = Math.ceil(heap.sizeBytes / WASM_PAGE);
    if (want > have) memory.grow(want - have);
    heap.copyInto(new Uint8Array(memory.buffer));
    const exported = names.globals.map((g) => ex[g.exportName] as WebAssembly.Global);
    exported.forEach((g, i) => (g.value = globals[i]!));
    this.live = {
      instance,
      memory,
      counter: ex[INSTRUMENTATION.instructionCounterExport] as WebAssembly.Global,
      dirtyPage: ex[INSTRUMENTATION.dirtyPageExport] as WebAssembly.Global,
      callDepth: ex[INSTRUMENTATION.callDepthExport] as WebAssembly.Global,
      globals: exported,
      table: names.table ? (ex[names.table] as WebAssembly.Table) : undefined,
    };
  }

  private savePage(page: number): void {
    if (this.heapJournal.has(page)) return;
    const mem = this.memory();
    const start = page * PAGE_SIZE;
    if (start >= mem.length) return;
    this.heapJournal.set(page, mem.slice(start, start + PAGE_SIZE));
  }

  private growAllowed(delta: number): number {
    const live = this.mustLive();
    const next = live.memory.buffer.byteLength + delta * WASM_PAGE;
    return next <= (this.limits?.wasmMemoryBytes ?? 0) ? 1 : 0;
  }

  private outOfInstructions(): void {
    throw new CanisterError(
      ErrorCode.CanisterInstructionLimitExceeded,
      `Canister exceeded the limit of ${this.budget} instructions for single message execution.`,
    );
  }

  private commit(live: Live): Omit<Extract<SandboxResult, { ok: true }>, 'ok' | 'outcome' | 'instructions'> {
    const mem = this.memory();
    const pages: PageDelta[] = [];
    for (const index of [...this.heapJournal.keys()].sort((a, b) => a - b)) {
      const now = mem.subarray(index * PAGE_SIZE, (index + 1) * PAGE_SIZE);
      // A page marked but left unchanged is not dirty: the delta stays exact.
      if (!equalPage(now, this.heapJournal.get(index)!)) pages.push({ index, bytes: now.slice() });
    }
    this.heapJournal.clear();
    const stablePages = this.stable.commit();
    return {
      heap: { sizeBytes: live.memory.buffer.byteLength, pages },
      stable: { sizeBytes: this.stable.pages.sizeBytes, pages: stablePages },
      globals: live.globals.map((g) => g.value),
    };
  }

  private rollback(live: Live, globals: readonly GlobalValue[], pagesBefore: number, persisted: ExecutionSnapshot): void {
    this.stable.rollback();
    if (live.memory.buffer.byteLength / WASM_PAGE !== pagesBefore) {
      // Linear memory cannot shrink: start over from the persisted state.
      this.heapJournal.clear();
      this.reinstantiate(persisted.heap, globals);
      return;
    }
    const mem = this.memory();
    for (const [index, before] of this.heapJournal) mem.set(before, index * PAGE_SIZE);
    this.heapJournal.clear();
    live.globals.forEach((g, i) => (g.value = globals[i]!));
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

function emptyDelta(map: PageMap): { sizeBytes: number; pages: PageDelta[] } {
  return { sizeBytes: map.sizeBytes, pages: [] };
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
