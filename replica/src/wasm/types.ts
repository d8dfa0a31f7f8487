// Shapes of the wasm layer: limits enforced at install, what validation learns about a module,
// and the contract between instrumented code and the host (names of injected imports/exports).
import type { ValType } from '../system-api/signatures.js';

export type { ValType };

/**
 * Install-time limits. IC defaults come from `rs/config/src/embedders.rs` and
 * `rs/embedders/src/wasm_utils/validation.rs`; the ones marked "ours" have no IC counterpart
 * (the IC leaves them to wasmtime) and bound what V8 would otherwise accept.
 */
export interface WasmLimits {
  /** Largest accepted (decompressed) module, bytes. IC `WASM_MAX_SIZE` = 100 MiB. */
  readonly maxWasmBytes: number;
  /** Defined functions. IC `MAX_FUNCTIONS`. */
  readonly maxFunctions: number;
  /** Defined globals. IC `MAX_GLOBALS`. */
  readonly maxGlobals: number;
  /** Exports named `canister_update|canister_query|canister_composite_query <name>`. IC `MAX_NUMBER_EXPORTED_FUNCTIONS`. */
  readonly maxExportedMethods: number;
  /** Sum of `<name>` lengths of those exports. IC `MAX_SUM_EXPORTED_FUNCTION_NAME_LENGTHS`. */
  readonly maxSumExportedMethodNameLengths: number;
  /** `icp:public|private` custom sections. IC `MAX_CUSTOM_SECTIONS`. */
  readonly maxCustomSections: number;
  /** Sum of `<name>` lengths plus contents of those sections. IC `MAX_CUSTOM_SECTIONS_SIZE` = 1 MiB. */
  readonly maxCustomSectionsBytes: number;
  /** Code section size in bytes. IC `MAX_CODE_SECTION_SIZE_IN_BYTES` = 10 MiB. */
  readonly maxCodeSectionBytes: number;
  /** Instructions in one function body. IC `WASM_FUNCTION_SIZE_LIMIT`. */
  readonly maxFunctionInstructions: number;
  /** Weighted instruction complexity of one body. IC `WASM_FUNCTION_COMPLEXITY_LIMIT`. */
  readonly maxFunctionComplexity: number;
  /** Locals of one function, params included (ours: V8's 50 000, less room for instrumentation scratch locals). */
  readonly maxFunctionLocals: number;
  /** Initial elements of the table; also caps its maximum after instrumentation (ours). */
  readonly maxTableElements: number;
  /** Data segments (ours: V8's limit is 100 000). */
  readonly maxDataSegments: number;
}

export const DEFAULT_WASM_LIMITS: WasmLimits = Object.freeze({
  maxWasmBytes: 100 * 1024 * 1024,
  maxFunctions: 50_000,
  maxGlobals: 1_000,
  maxExportedMethods: 1_000,
  maxSumExportedMethodNameLengths: 20_000,
  maxCustomSections: 16,
  maxCustomSectionsBytes: 1024 * 1024,
  maxCodeSectionBytes: 10 * 1024 * 1024,
  maxFunctionInstructions: 1_000_000,
  maxFunctionComplexity: 1_000_000,
  maxFunctionLocals: 50_000 - 16,
  maxTableElements: 1_000_000,
  maxDataSegments: 100_000,
});

export type MetadataVisibility = 'public' | 'private';

/** An `icp:public <name>` / `icp:private <name>` custom section (interface spec, "Canister metadata"). */
export interface CanisterMetadataSection {
  readonly visibility: MetadataVisibility;
  readonly content: Uint8Array;
}

/** The system entry points the spec lets a canister export, by presence. */
export interface SystemMethods {
  readonly init: boolean;
  readonly preUpgrade: boolean;
  readonly postUpgrade: boolean;
  readonly inspectMessage: boolean;
  readonly heartbeat: boolean;
  readonly globalTimer: boolean;
  readonly onLowWasmMemory: boolean;
}

export interface CanisterMethods {
  readonly update: readonly string[];
  readonly query: readonly string[];
  readonly compositeQuery: readonly string[];
}

/** What install-time validation learned about a module. */
export interface ModuleInfo {
  /** Method names by kind, each sorted. */
  readonly methods: CanisterMethods;
  readonly systemMethods: SystemMethods;
  readonly metadata: ReadonlyMap<string, CanisterMetadataSection>;
  /** The module's (only) memory in 64 KiB pages, if it declares one. */
  readonly memory: { readonly minPages: number; readonly maxPages: number | undefined } | undefined;
  /** The module has a `(start)` function (instrumentation turns it into an export). */
  readonly hasStart: boolean;
  /** ic0 functions the module imports, in import order. */
  readonly imports: readonly string[];
  /** Size of the (decompressed) module in bytes. */
  readonly wasmBytes: number;
  /** Defined (not imported) functions. */
  readonly functionCount: number;
  /** Instructions over all function bodies (the IC charges compilation per instruction). */
  readonly instructionCount: number;
  /** Largest instruction count of one body. */
  readonly largestFunctionInstructionCount: number;
  /** OS pages (4 KiB) that active data segments initialise, ascending: a fresh instance is zero elsewhere. */
  readonly dataPages: readonly number[];
}

/**
 * The contract between instrumented code and the host. Imports come from module
 * `importModule` and are appended after the module's own imports.
 */
export const INSTRUMENTATION = Object.freeze({
  importModule: '__icpk',
  imports: Object.freeze({
    /** `[] -> []`: the counter went negative at a check point; the host traps or tops up and returns. */
    outOfInstructions: 'out_of_instructions',
    /**
     * `[i32 page] -> []`: a store is about to write OS page `page` (and maybe `page + 1`). Like
     * mark_dirty_range, it must neither read nor change the instruction counter.
     */
    markDirty: 'mark_dirty',
    /** `[i32 start, i32 length] -> []`: memory.fill/copy/init is about to write this byte range. */
    markDirtyRange: 'mark_dirty_range',
    /** `[i32 deltaPages] -> [i32]`: 0 makes `memory.grow` fail (-1) without growing. */
    memoryGrowAllowed: 'memory_grow_allowed',
    /** `[] -> []`: a call would exceed the call depth limit; the host traps. */
    callDepthExceeded: 'call_depth_exceeded',
  }),
  /** Exported mutable i64: instructions left in the current slice. */
  instructionCounterExport: '__icpk_instructions',
  /** Exported mutable i32: the last page passed to mark_dirty; the host sets -1 per message. */
  dirtyPageExport: '__icpk_dirty_page',
  /** Exported mutable i32: the page passed to mark_dirty before the last one; -1 per message too. */
  dirtyPage2Export: '__icpk_dirty_page_2',
  /** Exported mutable i32: current call depth; 0 between messages. */
  callDepthExport: '__icpk_call_depth',
  /** Every defined mutable global `i` is also exported as `${globalExportPrefix}${i}`. */
  globalExportPrefix: '__icpk_global_',
  /** Export name of the memory when the module does not export it (or declares none). */
  memoryExport: '__icpk_memory',
  /** Export name of the table when the module does not export it. */
  tableExport: '__icpk_table',
  /**
   * The `(start)` function, removed from the start section and exported under this name so
   * the host runs it after setting the counter (as the IC exports it as `canister_start`).
   */
  startExport: '__icpk_start',
  /**
   * `[i32 fn, i32 env] -> []`, exported when the module has a table: calls table entry `fn` with
   * `env` as an `(i32) -> ()` function (a trap if it is not one), as the IC calls callbacks.
   * Table entries are instrumented bodies, which the host cannot call itself.
   */
  callbackExport: '__icpk_callback',
  /** Export names with this prefix are reserved for the above. */
  reservedPrefix: '__icpk',
  /** OS page size for dirty tracking (IC `PAGE_SIZE`), as a shift. */
  pageShift: 12,
  /** NaN results of float arithmetic are replaced by these (the IC enables Cranelift's NaN canonicalisation). */
  canonicalNaN32: 0x7fc00000,
  canonicalNaN64: 0x7ff8000000000000n,
});

export interface InstrumentationOptions {
  /**
   * Frames of recursive functions (those on a cycle of the call graph, indirect calls included)
   * allowed at once before call_depth_exceeded. Other functions are not counted: each can have
   * at most one frame on a stack.
   */
  readonly maxCallDepth: number;
  /** The table's maximum is capped to this many elements. */
  readonly maxTableElements: number;
}

export const DEFAULT_INSTRUMENTATION_OPTIONS: InstrumentationOptions = Object.freeze({
  maxCallDepth: 10_000,
  maxTableElements: DEFAULT_WASM_LIMITS.maxTableElements,
});

export interface InstrumentedGlobalExport {
  /** Index of the global in the original module. */
  readonly index: number;
  readonly exportName: string;
  readonly type: ValType;
}

export interface InstrumentedModule {
  readonly bytes: Uint8Array;
  readonly exports: {
    /** Export name of the memory (the module's own export name, or `__icpk_memory`). */
    readonly memory: string;
    /** Export name of the table, if the module has one. */
    readonly table: string | undefined;
    /** The original start function, exported, if the module had one. */
    readonly start: string | undefined;
    /** The callback trampoline (INSTRUMENTATION.callbackExport), if the module has a table. */
    readonly callback: string | undefined;
    /** Every mutable global of the module. */
    readonly globals: readonly InstrumentedGlobalExport[];
  };
  /** Functions in the instrumented module (imports, injected imports, defined). */
  readonly functionCount: number;
  /** Injected `__icpk` imports (their indices follow the module's own imported functions). */
  readonly injectedImportCount: number;
}
