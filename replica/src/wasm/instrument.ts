// Binary-to-binary instrumentation of a validated canister module, after the IC's
// rs/embedders/src/wasm_utils/instrumentation.rs: instruction metering per basic block,
// dirty-page tracking of stores (the IC's write barrier), gated memory.grow, call depth,
// NaN canonicalisation, and exports the host needs (mutable globals, memory, table, start).
//
// Metering: the cost of a basic block (instruction_to_cost, see costs.ts) is subtracted from
// `__icpk_instructions` at the block's start. Blocks end after loop, if, else, end, br, br_if,
// br_table, return and unreachable, exactly as the IC splits them, so counts match the IC's.
// Check points (`if counter < 0 then out_of_instructions()`) sit at function entry, at every
// loop header, right after every call/call_indirect returns, and right after every dynamic
// (bulk) charge. Between two check points execution only moves forward inside one function
// frame, so the counter overshoots by less than the static cost of one function body.
//
// Dirty pages: a store compares its OS page with the two pages marked last (globals); only when
// it is neither does it call mark_dirty(page), which the host filters further (sandbox.ts). Bulk
// writes call mark_dirty_range unless empty or inside the last marked page and the next.
//
// Call depth: only functions on a cycle of the call graph (call-graph.ts) count their frames;
// every other function can have at most one frame on a stack, so the stack stays bounded.
//
// Speed: the counter travels between function bodies as a value, not through memory. Every
// body takes it as an extra last parameter (its declared locals move up by one) and returns it
// as an extra last result; calls and call_indirect pass it and take it back (tables hold bodies;
// an import in a table sits behind an adapter with a body's type). The global
// `__icpk_instructions` stays exact wherever it can be observed: a block that can trap or call
// out (not QUIET) stores the counter in its charge, every call stores what the callee returns,
// and so does a failed check. What the host calls (exports, start) goes through an entry with
// the function's own type, which loads the global, calls the body and stores the result;
// callbacks go through the `__icpk_callback` trampoline. Host imports reload the global after.
import { analyzeCalls } from './call-graph.js';
import { readFcInstruction, readLocals, skipBlockType, skipImmediates } from './code.js';
import { BULK_COST_PER_UNIT, COST_TABLE, FUNCTION_ENTRY_COST } from './costs.js';
import { InvalidWasmError, WasmInstrumentationError } from './errors.js';
import { FC, IMM_PREFIX_FC, IMMEDIATES, NAN_PRODUCING, OP, VALTYPE, VALTYPE_NAMES, isStore, storedValType } from './opcodes.js';
import { EXTERNAL_KIND, SECTION, multipleMemories, parseModule, reject, type FuncType, type ParsedModule } from './parse.js';
import { WasmReader } from './reader.js';
import {
  DEFAULT_INSTRUMENTATION_OPTIONS, INSTRUMENTATION, type InstrumentationOptions, type InstrumentedGlobalExport,
  type InstrumentedModule, type ModuleInfo, type ValType,
} from './types.js';
import { sameType } from './validate.js';
import { ByteWriter } from './writer.js';
import { uleb128Size } from '../bytes.js';

/** V8 accepts at most 1000 parameters and 1000 results per function type. */
const MAX_ENGINE_ARITY = 1000;

const INJECTED_IMPORTS = [
  [INSTRUMENTATION.imports.outOfInstructions, { params: [], results: [] }],
  [INSTRUMENTATION.imports.markDirty, { params: [VALTYPE.i32], results: [] }],
  [INSTRUMENTATION.imports.markDirtyRange, { params: [VALTYPE.i32, VALTYPE.i32], results: [] }],
  [INSTRUMENTATION.imports.memoryGrowAllowed, { params: [VALTYPE.i32], results: [VALTYPE.i32] }],
  [INSTRUMENTATION.imports.callDepthExceeded, { params: [], results: [] }],
] as const satisfies readonly (readonly [string, FuncType])[];

// Scratch locals a rewritten body may need, allocated on first use.
const SLOT_I32_A = 0; // store address, bulk destination, memory.grow delta
const SLOT_I32_B = 1; // store page, bulk source/value
const SLOT_I32_C = 2; // stored i32 value, bulk length
const SLOT_I64 = 3;
const SLOT_F32 = 4;
const SLOT_F64 = 5;
const SLOT_DEPTH = 6; // `__icpk_call_depth` after this call's increment
const SLOT_TYPES = [VALTYPE.i32, VALTYPE.i32, VALTYPE.i32, VALTYPE.i64, VALTYPE.f32, VALTYPE.f64, VALTYPE.i32];

/**
 * Opcodes (single-byte) that can neither trap nor call out: a basic block made only of these
 * charges the counter local without storing it to the global, as nothing can observe the global
 * before the next storing charge, check failure or the function's exit (which all store it).
 */
const QUIET = (() => {
  const q = new Uint8Array(256);
  const ranges: [number, number][] = [
    [0x01, 0x0f], // nop, block, loop, if, else, end, br, br_if, br_table, return
    [0x1a, 0x1c], // drop, select
    [0x20, 0x24], // local.*, global.get/set
    [0x3f, 0x3f], // memory.size
    [0x41, 0x6c], // constants, comparisons, i32 clz..mul
    [0x71, 0x7e], // i32 and..rotr, i64 clz..mul
    [0x83, 0xa7], // i64 and..rotr, float ops, i32.wrap_i64
    [0xac, 0xad], // i64.extend_i32_s/u
    [0xb2, 0xc4], // float conversions, reinterpretations, sign extensions
    [0xd0, 0xd2], // ref.null, ref.is_null, ref.func
  ];
  for (const [a, b] of ranges) q.fill(1, a, b + 1);
  return q;
})();

/**
 * Instruments a module that passed validateModule. The output imports `__icpk` functions and
 * exports the globals, memory and table described in INSTRUMENTATION (types.ts).
 */
export function instrumentModule(
  bytes: Uint8Array,
  info: ModuleInfo,
  options: Partial<InstrumentationOptions> = {},
): InstrumentedModule {
  const opts = { ...DEFAULT_INSTRUMENTATION_OPTIONS, ...options };
  if (!Number.isInteger(opts.maxCallDepth) || opts.maxCallDepth < 1 || opts.maxCallDepth > 0x7fffffff) {
    throw new WasmInstrumentationError(`maxCallDepth must be an integer in [1, 2^31 - 1], got ${opts.maxCallDepth}.`);
  }
  try {
    return new Instrumenter(parseModule(bytes), info, opts).run();
  } catch (err) {
    if (err instanceof InvalidWasmError || err instanceof WasmInstrumentationError) throw err;
    throw new WasmInstrumentationError(`Instrumenting the Wasm module failed: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
}

function snippet(write: (w: ByteWriter) => void): Uint8Array {
  const w = new ByteWriter(32);
  write(w);
  return w.finish();
}

class Instrumenter {
  private readonly bytes: Uint8Array;
  private readonly importedFunctions: number;
  private readonly newTypes: FuncType[] = [];
  /** Encoded block type of the wrapper block, per type index. */
  private readonly wrapperBlockTypes: Uint8Array[] = [];
  private readonly injectedTypes: number[];
  private readonly fOutOfInstructions: number;
  private readonly fMarkDirty: number;
  private readonly fMarkDirtyRange: number;
  private readonly fMemoryGrowAllowed: number;
  private readonly fCallDepthExceeded: number;
  private readonly gCounter: number;
  private readonly gDirtyPage: number;
  private readonly gDirtyPage2: number;
  private readonly gCallDepth: number;
  /** Per type index: the type of a body of that type, which takes and returns the counter last. */
  private readonly bodyTypeOf: number[];
  /** Per defined function: the type of its body. */
  private readonly bodyTypes: number[] = [];
  /** The body type of callbacks, `(i32) -> ()`, when the module has a table. */
  private readonly callbackBodyType: number | undefined;
  /** recursive[f]: defined function f lies on a call cycle and counts towards the call depth. */
  private readonly recursive: Uint8Array;
  /** Per defined function: the index of its entry (see entryOf), or -1 if it needs none. */
  private readonly entries: Int32Array;
  /** Defined functions that have an entry, in entry order. */
  private readonly entryFunctions: number[] = [];
  /** Imported functions a table can hold, each behind an adapter with a body's type. */
  private readonly adaptedImports: number[] = [];
  /** Per imported function: its adapter's index, or -1. */
  private readonly adapters: Int32Array;
  /** Index and type of the callback trampoline (when the module has a table). */
  private readonly fCallback: number;
  private readonly callbackType: number | undefined;

  private depthPrologue: Uint8Array = new Uint8Array(0);
  private depthEpilogue: Uint8Array = new Uint8Array(0);
  // Per-body snippets (they name the body's counter and dirty-page locals).
  private check: Uint8Array = new Uint8Array(0);
  private chargeHead: Uint8Array = new Uint8Array(0);
  private chargeTail: Uint8Array = new Uint8Array(0);
  private afterCall: Uint8Array = new Uint8Array(0);
  private reload: Uint8Array = new Uint8Array(0);
  private readonly counterSnippets = new Map<number, Uint8Array[]>();
  /** The counter parameter of the body being rewritten; parameters from it on shift by one. */
  private lCounter = 0;
  private readonly pointBuffer = new Uint8Array(128);

  // Per-body state.
  private readonly code = new ByteWriter(1 << 16);
  private readonly reader: WasmReader;
  private slots = [-1, -1, -1, -1, -1, -1, -1];
  private slotOrder: number[] = [];
  private nextLocal = 0;
  /** Output position, accumulated cost and kind of the open basic block. */
  private pointPos = 0;
  private pointCost = 0;
  private pointReentrant = false;
  /** Whether the open basic block has an instruction that can trap or call out. */
  private pointLoud = false;
  private chargeTailLocal: Uint8Array = new Uint8Array(0);
  /** Input position up to which instructions have been copied to the output. */
  private copyFrom = 0;

  constructor(
    private readonly m: ParsedModule,
    private readonly info: ModuleInfo,
    private readonly opts: InstrumentationOptions,
  ) {
    this.bytes = m.bytes;
    this.reader = new WasmReader(m.bytes);
    if (info.functionCount !== m.functionTypes.length || info.wasmBytes !== m.bytes.length) {
      throw new WasmInstrumentationError('The ModuleInfo passed to instrumentModule describes a different module.');
    }
    for (const imp of m.imports) {
      if (imp.kind !== EXTERNAL_KIND.func) reject('import-kind', 'Wasm module has an invalid import section. Only function imports are allowed.');
    }
    if (m.memories.length > 1) reject('multiple-memories', 'Wasm module declares more than one memory.');
    if (m.tables.length > 1) reject('multiple-tables', 'Wasm module declares more than one table.');
    this.importedFunctions = m.importedFunctionTypes.length;
    this.injectedTypes = INJECTED_IMPORTS.map(([, t]) => this.typeIndex(t));
    for (let t = 0; t < m.types.length; t++) {
      const results = m.types[t]!.results;
      this.wrapperBlockTypes.push(
        results.length === 0 ? Uint8Array.of(0x40)
          : results.length === 1 ? Uint8Array.of(results[0]!)
            : snippet((w) => w.s32(this.typeIndex({ params: [], results }))),
      );
    }
    const base = this.importedFunctions;
    this.fOutOfInstructions = base;
    this.fMarkDirty = base + 1;
    this.fMarkDirtyRange = base + 2;
    this.fMemoryGrowAllowed = base + 3;
    this.fCallDepthExceeded = base + 4;
    this.gCounter = m.globals.length;
    this.gDirtyPage = m.globals.length + 1;
    this.gCallDepth = m.globals.length + 2;
    this.gDirtyPage2 = m.globals.length + 3;

    // Every type a body or call_indirect can need is known before the type section is written.
    const bodyType = (t: FuncType) => {
      if (t.params.length >= MAX_ENGINE_ARITY || t.results.length >= MAX_ENGINE_ARITY) {
        throw new WasmInstrumentationError(`Wasm module has a function type with ${t.params.length} parameters and ${t.results.length} results; at most ${MAX_ENGINE_ARITY - 1} of each are supported (the instrumentation adds one).`);
      }
      return this.typeIndex({ params: [...t.params, VALTYPE.i64], results: [...t.results, VALTYPE.i64] });
    };
    this.bodyTypeOf = m.types.map(bodyType);
    this.callbackBodyType = m.tables.length > 0 ? bodyType({ params: [VALTYPE.i32], results: [] }) : undefined;
    const n = m.functionTypes.length;
    for (let f = 0; f < n; f++) this.bodyTypes.push(this.bodyTypeOf[m.functionTypes[f]!]!);
    const graph = analyzeCalls(m);
    this.recursive = graph.recursive;
    // Functions the host calls get an entry with their own type. Tables hold bodies.
    const entered = new Uint8Array(n);
    for (const e of m.exports) if (e.kind === EXTERNAL_KIND.func && e.index >= this.importedFunctions) entered[e.index - this.importedFunctions] = 1;
    if (m.start !== undefined && m.start >= this.importedFunctions) entered[m.start - this.importedFunctions] = 1;
    this.entries = new Int32Array(n).fill(-1);
    for (let f = 0; f < n; f++) {
      if (entered[f] === 0) continue;
      this.entries[f] = this.importedFunctions + INJECTED_IMPORTS.length + n + this.entryFunctions.length;
      this.entryFunctions.push(f);
    }
    this.adapters = new Int32Array(this.importedFunctions).fill(-1);
    let next = this.importedFunctions + INJECTED_IMPORTS.length + n + this.entryFunctions.length;
    for (let i = 0; i < this.importedFunctions; i++) {
      if (graph.takenImports[i] === 0) continue;
      this.adapters[i] = next++;
      this.adaptedImports.push(i);
    }
    this.fCallback = next;
    this.callbackType = m.tables.length > 0 ? this.typeIndex({ params: [VALTYPE.i32, VALTYPE.i32], results: [] }) : undefined;
  }

  private typeIndex(t: FuncType): number {
    const existing = this.m.types.findIndex((u) => sameType(u, t));
    if (existing >= 0) return existing;
    const added = this.newTypes.findIndex((u) => sameType(u, t));
    if (added >= 0) return this.m.types.length + added;
    this.newTypes.push(t);
    return this.m.types.length + this.newTypes.length - 1;
  }

  /** The index of function `index` (original numbering) as a direct call target: its body. */
  private remap(index: number): number {
    return index < this.importedFunctions ? index : index + INJECTED_IMPORTS.length;
  }

  /** The index of function `index` where the host calls it (export, start): its entry. */
  private entryOf(index: number): number {
    return index < this.importedFunctions ? index : this.entries[index - this.importedFunctions]!;
  }

  /** The index of function `index` as a table element or ref.func: a body, or an import's adapter. */
  private bodyOf(index: number): number {
    return index < this.importedFunctions ? this.adapters[index]! : this.remap(index);
  }

  /** Functions after the bodies: entries, import adapters and the callback trampoline. */
  private get extraFunctions(): number {
    return this.entryFunctions.length + this.adaptedImports.length + (this.callbackType === undefined ? 0 : 1);
  }

  run(): InstrumentedModule {
    const { m, bytes } = this;
    const out = new ByteWriter(Math.max(1024, Math.ceil(bytes.length * 1.7)));
    out.bytes(bytes, 0, 8);
    const raw = (id: number) => {
      const s = m.sections.get(id);
      if (s !== undefined) this.section(out, id, () => out.bytes(bytes, s.start, s.end));
    };

    this.section(out, SECTION.type, () => {
      out.u32(m.types.length + this.newTypes.length);
      const s = m.sections.get(SECTION.type);
      if (s !== undefined) out.bytes(bytes, s.entriesStart, s.end);
      for (const t of this.newTypes) {
        out.u8(0x60);
        out.u32(t.params.length);
        for (const p of t.params) out.u8(p);
        out.u32(t.results.length);
        for (const r of t.results) out.u8(r);
      }
    });
    this.section(out, SECTION.import, () => {
      out.u32(m.imports.length + INJECTED_IMPORTS.length);
      const s = m.sections.get(SECTION.import);
      if (s !== undefined) out.bytes(bytes, s.entriesStart, s.end);
      INJECTED_IMPORTS.forEach(([name], i) => {
        out.name(INSTRUMENTATION.importModule);
        out.name(name);
        out.u8(EXTERNAL_KIND.func);
        out.u32(this.injectedTypes[i]!);
      });
    });
    const functions = this.bodyTypes.length + this.extraFunctions;
    if (functions > 0) {
      this.section(out, SECTION.function, () => {
        out.u32(this.bodyTypes.length + this.extraFunctions);
        for (const t of this.bodyTypes) out.u32(t);
        for (const f of this.entryFunctions) out.u32(m.functionTypes[f]!);
        for (const i of this.adaptedImports) out.u32(this.bodyTypeOf[m.importedFunctionTypes[i]!]!);
        if (this.callbackType !== undefined) out.u32(this.callbackType);
      });
    }
    const table = m.tables[0];
    if (table !== undefined) {
      // The maximum is capped so table.grow cannot exhaust host memory.
      this.section(out, SECTION.table, () => {
        const max = Math.max(table.min, Math.min(table.max ?? Infinity, this.opts.maxTableElements));
        out.u32(1);
        out.u8(table.refType);
        out.u8(1);
        out.u32(table.min);
        out.u32(max);
      });
    }
    if (m.memories.length > 0) {
      raw(SECTION.memory);
    } else {
      // A module without memory gets an empty one, so the host always has a memory to use.
      this.section(out, SECTION.memory, () => { out.u32(1); out.u8(0); out.u32(0); });
    }
    this.section(out, SECTION.global, () => {
      out.u32(m.globals.length + 4);
      const s = m.sections.get(SECTION.global);
      if (s !== undefined) out.bytes(bytes, s.entriesStart, s.end);
      out.u8(VALTYPE.i64); out.u8(1); out.u8(OP.i64_const); out.u8(0); out.u8(OP.end);
      out.u8(VALTYPE.i32); out.u8(1); out.u8(OP.i32_const); out.s32(-1); out.u8(OP.end);
      out.u8(VALTYPE.i32); out.u8(1); out.u8(OP.i32_const); out.u8(0); out.u8(OP.end);
      out.u8(VALTYPE.i32); out.u8(1); out.u8(OP.i32_const); out.s32(-1); out.u8(OP.end);
    });
    const exports = this.writeExports(out);
    if (m.elements.length > 0 || m.sections.has(SECTION.element)) this.section(out, SECTION.element, () => this.writeElements(out));
    raw(SECTION.dataCount);
    if (functions > 0) this.section(out, SECTION.code, () => this.writeCode(out));
    raw(SECTION.data);
    this.writeNameSection(out);

    return {
      bytes: out.finish(),
      exports,
      functionCount: this.importedFunctions + INJECTED_IMPORTS.length + m.functionTypes.length + this.extraFunctions,
      injectedImportCount: INJECTED_IMPORTS.length,
    };
  }

  /** Writes a section with a 5-byte size, back-patched once its content is known. */
  private section(out: ByteWriter, id: number, write: () => void): void {
    out.u8(id);
    const at = out.len;
    out.u32Padded(0);
    write();
    out.u32Padded(out.len - at - 5, at);
  }

  private writeExports(out: ByteWriter): InstrumentedModule['exports'] {
    const { m, bytes } = this;
    const added: [string, number, number][] = [
      [INSTRUMENTATION.instructionCounterExport, EXTERNAL_KIND.global, this.gCounter],
      [INSTRUMENTATION.dirtyPageExport, EXTERNAL_KIND.global, this.gDirtyPage],
      [INSTRUMENTATION.callDepthExport, EXTERNAL_KIND.global, this.gCallDepth],
      [INSTRUMENTATION.dirtyPage2Export, EXTERNAL_KIND.global, this.gDirtyPage2],
    ];
    const globals: InstrumentedGlobalExport[] = [];
    m.globals.forEach((g, index) => {
      if (!g.mutable) return;
      const type = VALTYPE_NAMES[g.valType];
      if (type === 'funcref' || type === 'externref' || type === undefined) {
        reject('global-type', `Wasm module has an invalid global section. Unsupported global type: ${type}.`);
      }
      const exportName = `${INSTRUMENTATION.globalExportPrefix}${index}`;
      globals.push({ index, exportName, type: type as ValType });
      added.push([exportName, EXTERNAL_KIND.global, index]);
    });
    let memory = m.exports.find((e) => e.kind === EXTERNAL_KIND.memory)?.name;
    if (memory === undefined) {
      memory = INSTRUMENTATION.memoryExport;
      added.push([memory, EXTERNAL_KIND.memory, 0]);
    }
    let table: string | undefined;
    if (m.tables.length > 0) {
      table = m.exports.find((e) => e.kind === EXTERNAL_KIND.table)?.name;
      if (table === undefined) {
        table = INSTRUMENTATION.tableExport;
        added.push([table, EXTERNAL_KIND.table, 0]);
      }
    }
    let start: string | undefined;
    if (m.start !== undefined) {
      start = INSTRUMENTATION.startExport;
      added.push([start, EXTERNAL_KIND.func, this.entryOf(m.start)]);
    }
    let callback: string | undefined;
    if (this.callbackType !== undefined) {
      callback = INSTRUMENTATION.callbackExport;
      added.push([callback, EXTERNAL_KIND.func, this.fCallback]);
    }
    this.section(out, SECTION.export, () => {
      out.u32(m.exports.length + added.length);
      for (const e of m.exports) {
        out.bytes(bytes, e.nameStart, e.nameEnd);
        out.u8(e.kind);
        out.u32(e.kind === EXTERNAL_KIND.func ? this.entryOf(e.index) : e.index);
      }
      for (const [name, kind, index] of added) {
        out.name(name);
        out.u8(kind);
        out.u32(index);
      }
    });
    return { memory, table, start, callback, globals };
  }

  private writeElements(out: ByteWriter): void {
    const { m, bytes } = this;
    out.u32(m.elements.length);
    for (const seg of m.elements) {
      out.u32(seg.flags);
      if (seg.offset !== undefined) {
        if (seg.flags & 2) out.u32(seg.table);
        out.bytes(bytes, seg.offset.start, seg.offset.end);
      }
      if (seg.flags !== 0 && seg.flags !== 4) out.u8(seg.elemType);
      if (seg.funcs !== undefined) {
        out.u32(seg.funcs.length);
        for (const f of seg.funcs) out.u32(this.bodyOf(f));
      } else {
        const exprs = seg.exprs!;
        out.u32(exprs.length);
        for (const e of exprs) {
          if (e.op === OP.ref_func) {
            out.u8(OP.ref_func);
            out.u32(this.bodyOf(e.value));
            out.u8(OP.end);
          } else {
            out.bytes(bytes, e.start, e.end);
          }
        }
      }
    }
  }

  private writeCode(out: ByteWriter): void {
    const { m, bytes, code } = this;
    const n = m.functionTypes.length;
    out.u32(n + this.extraFunctions);
    for (let f = 0; f < n; f++) {
      const typeIndex = m.functionTypes[f]!;
      const locals = this.rewriteBody(f, typeIndex);
      const extra = this.slotOrder.length;
      const size = uleb128Size(locals.entries + extra) + (locals.entriesEnd - locals.entriesStart) + 2 * extra + code.len;
      out.u32(size);
      out.u32(locals.entries + extra);
      out.bytes(bytes, locals.entriesStart, locals.entriesEnd);
      for (const slot of this.slotOrder) {
        out.u8(1);
        out.u8(SLOT_TYPES[slot]!);
      }
      out.bytes(code.buf, 0, code.len);
    }
    // Entries: the counter goes from the global into the body and back; they charge nothing.
    for (const f of this.entryFunctions) {
      const params = m.types[m.functionTypes[f]!]!.params.length;
      code.reset();
      code.u8(0); // no locals
      for (let i = 0; i < params; i++) { code.u8(OP.local_get); code.u32(i); }
      code.u8(OP.global_get); code.u32(this.gCounter);
      code.u8(OP.call); code.u32(this.remap(this.importedFunctions + f));
      code.u8(OP.global_set); code.u32(this.gCounter);
      code.u8(OP.end);
      out.u32(code.len);
      out.bytes(code.buf, 0, code.len);
    }
    // Adapters: an import in a table, called like a body; the host uses the global.
    for (const i of this.adaptedImports) {
      const params = m.types[m.importedFunctionTypes[i]!]!.params.length;
      code.reset();
      code.u8(0);
      code.u8(OP.local_get); code.u32(params);
      code.u8(OP.global_set); code.u32(this.gCounter);
      for (let p = 0; p < params; p++) { code.u8(OP.local_get); code.u32(p); }
      code.u8(OP.call); code.u32(i);
      code.u8(OP.global_get); code.u32(this.gCounter);
      code.u8(OP.end);
      out.u32(code.len);
      out.bytes(code.buf, 0, code.len);
    }
    // The callback trampoline: (fn, env) calls table entry fn as an (i32) -> () body.
    if (this.callbackType !== undefined) {
      code.reset();
      code.u8(0);
      code.u8(OP.local_get); code.u32(1);
      code.u8(OP.global_get); code.u32(this.gCounter);
      code.u8(OP.local_get); code.u32(0);
      code.u8(OP.call_indirect); code.u32(this.callbackBodyType!); code.u32(0);
      code.u8(OP.global_set); code.u32(this.gCounter);
      code.u8(OP.end);
      out.u32(code.len);
      out.bytes(code.buf, 0, code.len);
    }
  }

  private local(slot: number): number {
    let index = this.slots[slot]!;
    if (index < 0) {
      index = this.nextLocal++;
      this.slots[slot] = index;
      this.slotOrder.push(slot);
    }
    return index;
  }

  /** Rewrites body `f` into `this.code` (instructions only); returns its local declarations. */
  private rewriteBody(f: number, typeIndex: number) {
    const { bytes, code } = this;
    const r = this.reader;
    const funcIndex = this.importedFunctions + f;
    r.pos = this.m.bodies[2 * f]!;
    r.end = this.m.bodies[2 * f + 1]!;
    const locals = readLocals(r, Infinity, funcIndex);
    // The counter is the last parameter: declared locals move up by one.
    const shifted = this.m.types[typeIndex]!.params.length;
    this.nextLocal = shifted + 1 + locals.count;
    this.slots.fill(-1);
    this.slotOrder = [];
    this.bodySnippets(shifted, this.recursive[f] === 1);

    code.reset();
    code.bytes(this.depthPrologue);
    code.u8(OP.block);
    code.bytes(this.wrapperBlockTypes[typeIndex]!);

    const costs = COST_TABLE.single;
    const fcCosts = COST_TABLE.fc;
    this.pointPos = code.len;
    this.pointCost = FUNCTION_ENTRY_COST;
    this.pointReentrant = true;
    this.pointLoud = false;
    this.copyFrom = r.pos;
    let depth = 0;

    for (;;) {
      const at = r.pos;
      const op = r.u8();
      const kind = IMMEDIATES[op]!;
      if (kind === IMM_PREFIX_FC) {
        const sub = readFcInstruction(r, at, funcIndex);
        this.pointCost += fcCosts[sub]!;
        if (sub > 7) this.pointLoud = true;
        if (sub === FC.memory_fill || sub === FC.memory_copy || sub === FC.memory_init) {
          this.flushTo(at);
          this.emitBulkMemory();
          this.copyFrom = at;
        } else if (sub === FC.table_fill || sub === FC.table_copy || sub === FC.table_init) {
          this.flushTo(at);
          this.emitBulkCharge();
          this.copyFrom = at;
        }
        continue;
      }
      this.pointCost += costs[op]!;
      if (QUIET[op] === 0) this.pointLoud = true;
      switch (op) {
        case OP.block:
          skipBlockType(r);
          depth++;
          break;
        case OP.loop:
          skipBlockType(r);
          depth++;
          this.boundary(true);
          break;
        case OP.if:
          skipBlockType(r);
          depth++;
          this.boundary(false);
          break;
        case OP.else:
        case OP.unreachable:
          this.boundary(false);
          break;
        case OP.end:
          if (depth === 0) {
            // The function's own end closes the wrapper block; the epilogue follows it.
            this.flushTo(r.pos);
            this.closePoint(this.pointPos, this.pointCost, this.pointReentrant, this.pointLoud);
            if (r.pos !== r.end) r.fail(`function ${funcIndex} has bytes after its final end`);
            code.bytes(this.depthEpilogue);
            code.u8(OP.local_get); code.u32(this.lCounter);
            code.u8(OP.end);
            return locals;
          }
          depth--;
          this.boundary(false);
          break;
        case OP.br:
        case OP.br_if:
          r.u32();
          this.boundary(false);
          break;
        case OP.br_table: {
          const n = r.count('br_table target');
          for (let i = 0; i <= n; i++) r.u32();
          this.boundary(false);
          break;
        }
        case OP.return:
          // Leave through the wrapper block so the call depth is decremented.
          this.flushTo(at);
          code.u8(OP.br);
          code.u32(depth);
          this.copyFrom = r.pos;
          this.boundary(false);
          break;
        case OP.call: {
          const callee = r.u32();
          this.flushTo(at);
          if (callee < this.importedFunctions) {
            // The host reads and may change the global.
            code.u8(OP.call); code.u32(callee);
            code.bytes(this.afterCall);
          } else {
            // A body takes the counter as its last argument and returns it as its last result.
            // The rest of this (loud) block may trap or call out: the global follows at once.
            code.u8(OP.local_get); code.u32(this.lCounter);
            code.u8(OP.call); code.u32(this.remap(callee));
            code.u8(OP.local_tee); code.u32(this.lCounter);
            code.u8(OP.global_set); code.u32(this.gCounter);
            code.bytes(this.check);
          }
          this.copyFrom = r.pos;
          break;
        }
        case OP.local_get:
        case OP.local_set:
        case OP.local_tee: {
          const index = r.u32();
          if (index >= this.lCounter) {
            this.flushTo(at);
            code.u8(op); code.u32(index + 1);
            this.copyFrom = r.pos;
          }
          break;
        }
        case OP.call_indirect: {
          // Tables hold bodies: the counter goes below the table index, typed as a body.
          const type = r.u32();
          const table = r.u32();
          this.flushTo(at);
          const index = this.local(SLOT_I32_A);
          code.u8(OP.local_set); code.u32(index);
          code.u8(OP.local_get); code.u32(this.lCounter);
          code.u8(OP.local_get); code.u32(index);
          code.u8(OP.call_indirect); code.u32(this.bodyTypeOf[type]!); code.u32(table);
          code.u8(OP.local_tee); code.u32(this.lCounter);
          code.u8(OP.global_set); code.u32(this.gCounter);
          code.bytes(this.check);
          this.copyFrom = r.pos;
          break;
        }
        case OP.ref_func: {
          const target = r.u32();
          this.flushTo(at);
          code.u8(OP.ref_func);
          code.u32(this.bodyOf(target));
          this.copyFrom = r.pos;
          break;
        }
        case OP.memory_grow:
          skipImmediates(r, op, kind, at, funcIndex);
          this.flushTo(at);
          this.emitMemoryGrow();
          this.copyFrom = r.pos;
          break;
        default:
          if (isStore(op)) {
            const memarg = r.pos;
            if (r.u32() & 0x40) multipleMemories();
            const offset = r.u32();
            this.flushTo(at);
            this.emitStoreBarrier(op, offset);
            code.u8(op);
            code.bytes(bytes, memarg, r.pos);
            this.copyFrom = r.pos;
          } else {
            skipImmediates(r, op, kind, at, funcIndex);
            const nan = NAN_PRODUCING[op]!;
            if (nan !== 0) {
              this.flushTo(r.pos);
              this.emitCanonicalNaN(nan);
            }
          }
      }
    }
  }

  /**
   * Builds the snippets of one body, whose counter is parameter `counterParam`: charges, check
   * points (a failed one stores the counter for the host, which may top the global up), the
   * reload after a host call, and for a recursive function the call-depth prologue/epilogue.
   */
  private bodySnippets(counterParam: number, recursive: boolean): void {
    const C = this.gCounter;
    const L = this.lCounter = counterParam;
    // Most bodies have few parameters: the snippets of a counter index are built once.
    const cached = this.counterSnippets.get(L);
    if (cached !== undefined) {
      [this.reload, this.check, this.afterCall, this.chargeHead, this.chargeTail, this.chargeTailLocal] = cached;
    } else {
      this.counterSnippet(C, L);
      this.counterSnippets.set(L, [this.reload, this.check, this.afterCall, this.chargeHead, this.chargeTail, this.chargeTailLocal]);
    }
    if (!recursive) {
      // At most one frame of this function can be on a stack: it does not count (call-graph.ts).
      this.depthPrologue = this.depthEpilogue = new Uint8Array(0);
      return;
    }
    // The call depth after the increment is kept in a local: callees restore the global to it.
    const K = this.gCallDepth;
    const d = this.local(SLOT_DEPTH);
    this.depthPrologue = snippet((w) => {
      w.u8(OP.global_get); w.u32(K); w.u8(OP.i32_const); w.u8(1); w.u8(OP.i32_add); w.u8(OP.local_tee); w.u32(d); w.u8(OP.global_set); w.u32(K);
      w.u8(OP.local_get); w.u32(d); w.u8(OP.i32_const); w.s32(this.opts.maxCallDepth); w.u8(OP.i32_gt_u);
      w.u8(OP.if); w.u8(0x40);
      w.u8(OP.local_get); w.u32(L); w.u8(OP.global_set); w.u32(C);
      w.u8(OP.call); w.u32(this.fCallDepthExceeded);
      w.u8(OP.end);
    });
    this.depthEpilogue = snippet((w) => {
      w.u8(OP.local_get); w.u32(d); w.u8(OP.i32_const); w.u8(1); w.u8(OP.i32_sub); w.u8(OP.global_set); w.u32(K);
    });
  }

  /** The snippets that use counter global C and counter local L. */
  private counterSnippet(C: number, L: number): void {
    this.reload = snippet((w) => { w.u8(OP.global_get); w.u32(C); w.u8(OP.local_set); w.u32(L); });
    const outOfInstructions = (w: ByteWriter) => {
      w.u8(OP.if); w.u8(0x40);
      w.u8(OP.local_get); w.u32(L); w.u8(OP.global_set); w.u32(C);
      w.u8(OP.call); w.u32(this.fOutOfInstructions);
      // The host tops the counter up (or traps).
      w.u8(OP.global_get); w.u32(C); w.u8(OP.local_set); w.u32(L);
      w.u8(OP.end);
    };
    this.check = snippet((w) => {
      w.u8(OP.local_get); w.u32(L); w.u8(OP.i64_const); w.u8(0); w.u8(OP.i64_lt_s);
      outOfInstructions(w);
    });
    this.afterCall = snippet((w) => {
      w.u8(OP.global_get); w.u32(C); w.u8(OP.local_tee); w.u32(L); w.u8(OP.i64_const); w.u8(0); w.u8(OP.i64_lt_s);
      outOfInstructions(w);
    });
    this.chargeHead = snippet((w) => { w.u8(OP.local_get); w.u32(L); w.u8(OP.i64_const); });
    this.chargeTail = snippet((w) => { w.u8(OP.i64_sub); w.u8(OP.local_tee); w.u32(L); w.u8(OP.global_set); w.u32(C); });
    this.chargeTailLocal = snippet((w) => { w.u8(OP.i64_sub); w.u8(OP.local_set); w.u32(L); });
  }

  /** Copies the input not yet copied, up to `pos`. */
  private flushTo(pos: number): void {
    if (pos > this.copyFrom) this.code.bytes(this.bytes, this.copyFrom, pos);
    this.copyFrom = pos;
  }

  /**
   * Ends the current basic block after the instruction just read: charges its cost at its
   * start, and opens the next block.
   */
  private boundary(nextReentrant: boolean): void {
    this.flushTo(this.reader.pos);
    this.closePoint(this.pointPos, this.pointCost, this.pointReentrant, this.pointLoud);
    this.pointPos = this.code.len;
    this.pointCost = 0;
    this.pointReentrant = nextReentrant;
    this.pointLoud = false;
  }

  /** Inserts the charge of a finished basic block at its start (with a check if reentrant). */
  private closePoint(pos: number, cost: number, reentrant: boolean, loud: boolean): void {
    if (!reentrant && cost === 0) return;
    const buf = this.pointBuffer;
    const head = this.chargeHead;
    let n = 0;
    for (let i = 0; i < head.length; i++) buf[n++] = head[i]!;
    let v = cost;
    for (;;) {
      const b = v % 128;
      v = Math.floor(v / 128);
      if (v === 0 && (b & 0x40) === 0) {
        buf[n++] = b;
        break;
      }
      buf[n++] = b | 0x80;
    }
    const tail = loud ? this.chargeTail : this.chargeTailLocal;
    for (let i = 0; i < tail.length; i++) buf[n++] = tail[i]!;
    if (reentrant) {
      const check = this.check;
      for (let i = 0; i < check.length; i++) buf[n++] = check[i]!;
    }
    this.code.insert(pos, buf, n);
  }

  /** `[i32 n]` on the stack: subtracts n (BULK_COST_PER_UNIT each) and checks; leaves n. */
  private emitBulkCharge(): void {
    const { code } = this;
    const n = this.local(SLOT_I32_C);
    code.u8(OP.local_set); code.u32(n);
    this.emitDynamicCharge(n);
    code.u8(OP.local_get); code.u32(n);
  }

  private emitDynamicCharge(lengthLocal: number): void {
    const { code } = this;
    code.u8(OP.local_get); code.u32(this.lCounter);
    code.u8(OP.local_get); code.u32(lengthLocal);
    code.u8(OP.i64_extend_i32_u);
    if (BULK_COST_PER_UNIT !== 1) {
      code.u8(OP.i64_const); code.s64NonNegative(BULK_COST_PER_UNIT); code.u8(0x7e); // i64.mul
    }
    code.bytes(this.chargeTail);
    code.bytes(this.check);
  }

  /**
   * `[i32 dst, i32 src|value, i32 n]`: dynamic charge, then mark_dirty_range(dst, n) unless n is
   * 0 or the range lies in the pages the last mark_dirty covered (the cached page and the next).
   */
  private emitBulkMemory(): void {
    const { code } = this;
    const d = this.local(SLOT_I32_A);
    const s = this.local(SLOT_I32_B);
    const n = this.local(SLOT_I32_C);
    code.u8(OP.local_set); code.u32(n);
    code.u8(OP.local_set); code.u32(s);
    code.u8(OP.local_set); code.u32(d);
    this.emitDynamicCharge(n);
    // covered = first page == D && last page - D <= 1 (unsigned); the host ignores n = 0.
    code.u8(OP.local_get); code.u32(n);
    code.u8(OP.i32_eqz);
    code.u8(OP.local_get); code.u32(d);
    code.u8(OP.i32_const); code.u8(INSTRUMENTATION.pageShift);
    code.u8(OP.i32_shr_u);
    code.u8(OP.global_get); code.u32(this.gDirtyPage);
    code.u8(OP.i32_eq);
    code.u8(OP.local_get); code.u32(d);
    code.u8(OP.local_get); code.u32(n);
    code.u8(OP.i32_add);
    code.u8(OP.i32_const); code.u8(1);
    code.u8(OP.i32_sub);
    code.u8(OP.i32_const); code.u8(INSTRUMENTATION.pageShift);
    code.u8(OP.i32_shr_u);
    code.u8(OP.global_get); code.u32(this.gDirtyPage);
    code.u8(OP.i32_sub);
    code.u8(OP.i32_const); code.u8(2);
    code.u8(OP.i32_lt_u);
    code.u8(OP.i32_and);
    code.u8(OP.i32_or);
    code.u8(OP.i32_eqz);
    code.u8(OP.if); code.u8(0x40);
    code.u8(OP.local_get); code.u32(d);
    code.u8(OP.local_get); code.u32(n);
    code.u8(OP.call); code.u32(this.fMarkDirtyRange);
    code.u8(OP.end);
    code.u8(OP.local_get); code.u32(d);
    code.u8(OP.local_get); code.u32(s);
    code.u8(OP.local_get); code.u32(n);
  }

  /** `[i32 delta]` → `memory_grow_allowed(delta) ? memory.grow(delta) : -1`. */
  private emitMemoryGrow(): void {
    const { code } = this;
    const delta = this.local(SLOT_I32_A);
    code.u8(OP.local_tee); code.u32(delta);
    code.u8(OP.call); code.u32(this.fMemoryGrowAllowed);
    code.bytes(this.reload);
    code.u8(OP.if); code.u8(VALTYPE.i32);
    code.u8(OP.local_get); code.u32(delta);
    code.u8(OP.memory_grow); code.u8(0);
    code.u8(OP.else);
    code.u8(OP.i32_const); code.s32(-1);
    code.u8(OP.end);
  }

  /**
   * `[i32 addr, value]` before a store: unless the OS page of addr+offset is one of the two
   * cached pages (`__icpk_dirty_page`, `__icpk_dirty_page_2`), call mark_dirty(page) and make it
   * the first cached page, the first becoming the second; then restore the operands. The host
   * neither reads nor changes the counter in mark_dirty, so the counter local stays valid.
   */
  private emitStoreBarrier(op: number, offset: number): void {
    const { code } = this;
    const valType = storedValType(op);
    const value = this.local(valType === VALTYPE.i32 ? SLOT_I32_C : valType === VALTYPE.i64 ? SLOT_I64 : valType === VALTYPE.f32 ? SLOT_F32 : SLOT_F64);
    const addr = this.local(SLOT_I32_A);
    const page = this.local(SLOT_I32_B);
    code.u8(OP.local_set); code.u32(value);
    code.u8(OP.local_tee); code.u32(addr);
    if (offset !== 0) {
      code.u8(OP.i32_const); code.s32(offset | 0);
      code.u8(OP.i32_add);
    }
    code.u8(OP.i32_const); code.u8(INSTRUMENTATION.pageShift);
    code.u8(OP.i32_shr_u);
    code.u8(OP.local_tee); code.u32(page);
    code.u8(OP.global_get); code.u32(this.gDirtyPage);
    code.u8(OP.i32_ne);
    code.u8(OP.if); code.u8(0x40);
    code.u8(OP.local_get); code.u32(page);
    code.u8(OP.global_get); code.u32(this.gDirtyPage2);
    code.u8(OP.i32_ne);
    code.u8(OP.if); code.u8(0x40);
    code.u8(OP.local_get); code.u32(page);
    code.u8(OP.call); code.u32(this.fMarkDirty);
    code.u8(OP.global_get); code.u32(this.gDirtyPage);
    code.u8(OP.global_set); code.u32(this.gDirtyPage2);
    code.u8(OP.local_get); code.u32(page);
    code.u8(OP.global_set); code.u32(this.gDirtyPage);
    code.u8(OP.end);
    code.u8(OP.end);
    code.u8(OP.local_get); code.u32(addr);
    code.u8(OP.local_get); code.u32(value);
  }

  /** `[fX r]` → `r == r ? r : canonical NaN`. */
  private emitCanonicalNaN(type: number): void {
    const { code } = this;
    const f32 = type === VALTYPE.f32;
    const t = this.local(f32 ? SLOT_F32 : SLOT_F64);
    code.u8(OP.local_tee); code.u32(t);
    if (f32) {
      code.u8(OP.f32_const);
      code.u8(0x00); code.u8(0x00); code.u8(0xc0); code.u8(0x7f);
    } else {
      code.u8(OP.f64_const);
      code.u8(0x00); code.u8(0x00); code.u8(0x00); code.u8(0x00); code.u8(0x00); code.u8(0x00); code.u8(0xf8); code.u8(0x7f);
    }
    code.u8(OP.local_get); code.u32(t);
    code.u8(OP.local_get); code.u32(t);
    code.u8(f32 ? OP.f32_eq : OP.f64_eq);
    code.u8(OP.select);
  }

  /**
   * Keeps the `name` section's module, function and local names (function indices shifted past
   * the injected imports) for readable traps; drops the rest and any malformed name section.
   */
  private writeNameSection(out: ByteWriter): void {
    const custom = this.m.customs.find((c) => c.name === 'name');
    if (custom === undefined) return;
    const w = new ByteWriter(custom.end - custom.contentStart + 64);
    try {
      const r = new WasmReader(this.bytes, custom.contentStart, custom.end);
      while (r.pos < r.end) {
        const id = r.u8();
        const size = r.u32();
        const start = r.pos;
        r.skip(size);
        if (id > 2) continue;
        const s = new WasmReader(this.bytes, start, start + size);
        w.u8(id);
        const at = w.len;
        w.u32Padded(0);
        if (id === 0) {
          w.bytes(this.bytes, start, start + size);
        } else {
          const n = s.count('name');
          w.u32(n);
          for (let i = 0; i < n; i++) {
            const index = s.u32();
            w.u32(this.remap(index));
            const from = s.pos;
            if (id === 1) {
              s.byteString();
              w.bytes(this.bytes, from, s.pos);
              continue;
            }
            // Locals of a body from the counter parameter on moved up by one.
            const defined = index - this.importedFunctions;
            const shifted = defined >= 0 && defined < this.m.functionTypes.length
              ? this.m.types[this.m.functionTypes[defined]!]!.params.length : Infinity;
            const locals = s.count('local name');
            w.u32(locals);
            for (let j = 0; j < locals; j++) {
              const local = s.u32();
              w.u32(local >= shifted ? local + 1 : local);
              const name = s.pos;
              s.byteString();
              w.bytes(this.bytes, name, s.pos);
            }
          }
        }
        w.u32Padded(w.len - at - 5, at);
      }
    } catch {
      return;
    }
    out.u8(SECTION.custom);
    const at = out.len;
    out.u32Padded(0);
    out.name('name');
    out.bytes(w.buf, 0, w.len);
    out.u32Padded(out.len - at - 5, at);
  }
}

