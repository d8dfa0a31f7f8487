// Section-level parser. Keeps every section's structure (and byte ranges into the input) so
// validation can check it and instrumentation can rewrite it; function bodies are kept as
// byte ranges and decoded instruction by instruction later (validate.ts, instrument.ts).
import { InvalidWasmError, type InvalidWasmRule } from './errors.js';
import { isRefType, isValType, VALTYPE } from './opcodes.js';
import { WasmReader } from './reader.js';
import type { WasmLimits } from './types.js';

export const EXTERNAL_KIND = { func: 0, table: 1, memory: 2, global: 3 } as const;
const KIND_NAMES = ['function', 'table', 'memory', 'global'];

export const SECTION = {
  custom: 0, type: 1, import: 2, function: 3, table: 4, memory: 5, global: 6,
  export: 7, start: 8, element: 9, code: 10, data: 11, dataCount: 12,
} as const;

/** Position of each known section id in the required order (data count sits before code). */
const SECTION_ORDER: Readonly<Record<number, number>> = { 1: 1, 2: 2, 3: 3, 4: 4, 5: 5, 6: 6, 7: 7, 8: 8, 9: 9, 12: 10, 10: 11, 11: 12 };

export interface FuncType {
  readonly params: readonly number[];
  readonly results: readonly number[];
}

export interface ImportEntry {
  readonly module: string;
  readonly name: string;
  readonly kind: number;
  /** For function imports. */
  readonly typeIndex: number;
}

export interface TableType {
  readonly refType: number;
  readonly min: number;
  readonly max: number | undefined;
}

export interface MemoryType {
  readonly min: number;
  readonly max: number | undefined;
}

/** A constant expression: one instruction and `end`, as bytes [start, end). */
export interface ConstExpr {
  readonly op: number;
  readonly start: number;
  readonly end: number;
  /** The i32.const value, or the ref.func index. */
  readonly value: number;
}

export interface GlobalEntry {
  readonly valType: number;
  readonly mutable: boolean;
  readonly init: ConstExpr;
}

export interface ExportEntry {
  readonly name: string;
  readonly kind: number;
  readonly index: number;
  /** The encoded name (length prefix included), for copying. */
  readonly nameStart: number;
  readonly nameEnd: number;
}

export interface ElementSegment {
  readonly flags: number;
  readonly table: number;
  readonly offset: ConstExpr | undefined;
  /** elemkind byte (flags 1-3) or reftype (flags 5-7); unused for flags 0 and 4. */
  readonly elemType: number;
  /** Function indices (flags 0-3). */
  readonly funcs: number[] | undefined;
  /** Element expressions (flags 4-7). */
  readonly exprs: ConstExpr[] | undefined;
}

export interface DataSegment {
  readonly passive: boolean;
  readonly offset: ConstExpr | undefined;
  readonly dataStart: number;
  readonly dataEnd: number;
}

export interface CustomSection {
  readonly name: string;
  readonly contentStart: number;
  readonly end: number;
}

export interface SectionSpan {
  readonly id: number;
  /** Content start (after id and size). */
  readonly start: number;
  readonly end: number;
  /** Start of the entries, after the leading vector count (for vector sections). */
  entriesStart: number;
  count: number;
}

export interface ParsedModule {
  readonly bytes: Uint8Array;
  readonly sections: Map<number, SectionSpan>;
  readonly types: FuncType[];
  readonly imports: ImportEntry[];
  /** Type index of each imported function, in function index order. */
  readonly importedFunctionTypes: number[];
  /** Type index of each defined function. */
  functionTypes: Uint32Array;
  readonly tables: TableType[];
  readonly memories: MemoryType[];
  readonly globals: GlobalEntry[];
  readonly exports: ExportEntry[];
  start: number | undefined;
  readonly elements: ElementSegment[];
  dataCount: number | undefined;
  /** [start, end) of each function body's content (after its size), two entries per body. */
  bodies: Uint32Array;
  readonly data: DataSegment[];
  readonly customs: CustomSection[];
}

/** Limits checked while parsing, so huge counts are rejected before any work is done. */
export type ParseLimits = Pick<WasmLimits, 'maxFunctions' | 'maxGlobals' | 'maxDataSegments' | 'maxCodeSectionBytes'>;

const NO_LIMITS: ParseLimits = {
  maxFunctions: Infinity, maxGlobals: Infinity, maxDataSegments: Infinity, maxCodeSectionBytes: Infinity,
};

export function reject(rule: InvalidWasmRule, message: string): never {
  throw new InvalidWasmError(rule, message);
}

export function unsupported(what: string, proposal: string): never {
  reject('unsupported-proposal', `Wasm module uses ${what}, from the ${proposal} proposal, which is not supported. Compile the canister without that feature.`);
}

export function parseModule(bytes: Uint8Array, limits: ParseLimits = NO_LIMITS): ParsedModule {
  const r = new WasmReader(bytes);
  if (bytes.length < 8 || bytes[0] !== 0x00 || bytes[1] !== 0x61 || bytes[2] !== 0x73 || bytes[3] !== 0x6d) {
    reject('malformed', 'Wasm module is malformed: it does not start with the wasm magic number (\\0asm).');
  }
  if (bytes[4] !== 1 || bytes[5] !== 0 || bytes[6] !== 0 || bytes[7] !== 0) {
    reject('malformed', 'Wasm module is malformed: unsupported binary format version (expected 1; components are not supported).');
  }
  r.pos = 8;
  const m: ParsedModule = {
    bytes, sections: new Map(), types: [], imports: [], importedFunctionTypes: [],
    functionTypes: new Uint32Array(0), tables: [], memories: [], globals: [], exports: [],
    start: undefined, elements: [], dataCount: undefined, bodies: new Uint32Array(0), data: [], customs: [],
  };
  let lastOrder = 0;
  while (r.pos < r.end) {
    const sectionAt = r.pos;
    const id = r.u8();
    const size = r.u32();
    const start = r.pos;
    if (size > r.end - start) r.fail(`section ${id} of ${size} bytes runs past the end of the module`, sectionAt);
    const end = start + size;
    if (id === SECTION.custom) {
      const s = new WasmReader(bytes, start, end);
      const name = s.name();
      m.customs.push({ name, contentStart: s.pos, end });
      r.pos = end;
      continue;
    }
    if (id === 13) unsupported('a tag section', 'exception handling');
    const order = SECTION_ORDER[id];
    if (order === undefined) r.fail(`unknown section id ${id}`, sectionAt);
    if (order <= lastOrder) r.fail(`section ${id} is duplicated or out of order`, sectionAt);
    lastOrder = order;
    const span: SectionSpan = { id, start, end, entriesStart: start, count: 0 };
    m.sections.set(id, span);
    const s = new WasmReader(bytes, start, end);
    parseSection(m, id, s, span, limits);
    if (s.pos !== end) s.fail(`section ${id} has ${end - s.pos} unexpected trailing bytes`);
    r.pos = end;
  }
  if (m.functionTypes.length !== m.bodies.length / 2) {
    reject('malformed', `Wasm module is malformed: the function section declares ${m.functionTypes.length} functions but the code section has ${m.bodies.length / 2} bodies.`);
  }
  return m;
}

function parseSection(m: ParsedModule, id: number, s: WasmReader, span: SectionSpan, limits: ParseLimits): void {
  switch (id) {
    case SECTION.type: {
      const n = vector(s, span, 'type', 3);
      for (let i = 0; i < n; i++) {
        const form = s.u8();
        if (form !== 0x60) {
          if (form === 0x4e || form === 0x4f || form === 0x50 || form === 0x5e || form === 0x5f) unsupported('a non-function type', 'garbage collection');
          s.fail(`unknown type form 0x${form.toString(16)}`, s.pos - 1);
        }
        const params = valTypes(s);
        const results = valTypes(s);
        m.types.push({ params, results });
      }
      return;
    }
    case SECTION.import: {
      const n = vector(s, span, 'import', 4);
      for (let i = 0; i < n; i++) {
        const module = s.name();
        const name = s.name();
        const kind = s.u8();
        let typeIndex = 0;
        switch (kind) {
          case EXTERNAL_KIND.func:
            typeIndex = s.u32();
            if (typeIndex >= m.types.length) s.fail(`import '${name}' refers to unknown type ${typeIndex}`);
            m.importedFunctionTypes.push(typeIndex);
            break;
          case EXTERNAL_KIND.table:
            tableType(s);
            break;
          case EXTERNAL_KIND.memory:
            memoryType(s);
            break;
          case EXTERNAL_KIND.global:
            valType(s);
            s.u8();
            break;
          case 4:
            unsupported('a tag import', 'exception handling');
          default:
            s.fail(`unknown import kind ${kind}`, s.pos - 1);
        }
        m.imports.push({ module, name, kind, typeIndex });
      }
      return;
    }
    case SECTION.function: {
      const at = s.pos;
      const n = s.u32();
      if (n > limits.maxFunctions) {
        reject('too-many-functions', `Wasm module defined ${n} functions which exceeds the maximum number allowed ${limits.maxFunctions}.`);
      }
      if (n > s.remaining) s.fail(`function count ${n} exceeds the remaining bytes`, at);
      span.entriesStart = s.pos;
      span.count = n;
      const types = new Uint32Array(n);
      for (let i = 0; i < n; i++) {
        const t = s.u32();
        if (t >= m.types.length) s.fail(`function ${i} refers to unknown type ${t}`);
        types[i] = t;
      }
      m.functionTypes = types;
      return;
    }
    case SECTION.table: {
      const n = vector(s, span, 'table', 3);
      for (let i = 0; i < n; i++) m.tables.push(tableType(s));
      return;
    }
    case SECTION.memory: {
      const n = vector(s, span, 'memory', 2);
      for (let i = 0; i < n; i++) m.memories.push(memoryType(s));
      return;
    }
    case SECTION.global: {
      const at = s.pos;
      const n = s.u32();
      if (n > limits.maxGlobals) {
        reject('too-many-globals', `Wasm module defined ${n} globals which exceeds the maximum number allowed ${limits.maxGlobals}.`);
      }
      if (n * 4 > s.remaining) s.fail(`global count ${n} exceeds the remaining bytes`, at);
      span.entriesStart = s.pos;
      span.count = n;
      for (let i = 0; i < n; i++) {
        const type = valType(s);
        const mut = s.u8();
        if (mut > 1) s.fail(`invalid global mutability ${mut}`, s.pos - 1);
        m.globals.push({ valType: type, mutable: mut === 1, init: constExpr(s) });
      }
      return;
    }
    case SECTION.export: {
      const n = vector(s, span, 'export', 3);
      for (let i = 0; i < n; i++) {
        const nameStart = s.pos;
        const name = s.name();
        const nameEnd = s.pos;
        const kind = s.u8();
        if (kind === 4) unsupported('a tag export', 'exception handling');
        if (kind > 3) s.fail(`unknown export kind ${kind}`, s.pos - 1);
        const index = s.u32();
        m.exports.push({ name, kind, index, nameStart, nameEnd });
      }
      return;
    }
    case SECTION.start:
      m.start = s.u32();
      return;
    case SECTION.element: {
      const n = vector(s, span, 'element segment', 2);
      for (let i = 0; i < n; i++) m.elements.push(elementSegment(s));
      return;
    }
    case SECTION.dataCount:
      m.dataCount = s.u32();
      return;
    case SECTION.code: {
      const size = s.end - s.pos;
      if (size > limits.maxCodeSectionBytes) {
        reject('code-too-large', `Wasm module code section size of ${size} exceeds the maximum allowed size of ${limits.maxCodeSectionBytes}.`);
      }
      const n = vector(s, span, 'function body', 2);
      const bodies = new Uint32Array(n * 2);
      for (let i = 0; i < n; i++) {
        const len = s.u32();
        const start = s.pos;
        s.skip(len);
        bodies[2 * i] = start;
        bodies[2 * i + 1] = s.pos;
      }
      m.bodies = bodies;
      return;
    }
    case SECTION.data: {
      const at = s.pos;
      const n = s.u32();
      if (n > limits.maxDataSegments) {
        reject('too-many-data-segments', `Wasm module defined ${n} data segments which exceeds the maximum number allowed ${limits.maxDataSegments}.`);
      }
      if (n * 2 > s.remaining) s.fail(`data segment count ${n} exceeds the remaining bytes`, at);
      span.entriesStart = s.pos;
      span.count = n;
      for (let i = 0; i < n; i++) {
        const flags = s.u32();
        let offset: ConstExpr | undefined;
        if (flags === 0 || flags === 2) {
          if (flags === 2 && s.u32() !== 0) multipleMemories();
          offset = constExpr(s);
        } else if (flags !== 1) {
          s.fail(`invalid data segment flags ${flags}`);
        }
        const { start, end } = s.byteString();
        m.data.push({ passive: flags === 1, offset, dataStart: start, dataEnd: end });
      }
      return;
    }
  }
}

function vector(s: WasmReader, span: SectionSpan, what: string, minElementBytes: number): number {
  const n = s.count(what, minElementBytes);
  span.entriesStart = s.pos;
  span.count = n;
  return n;
}

export function multipleMemories(): never {
  reject('multiple-memories', 'Wasm module has an invalid memory section. Modules may declare at most one memory (multi-memory is not supported).');
}

function valType(s: WasmReader): number {
  const b = s.u8();
  if (isValType(b)) return b;
  if (b === VALTYPE.v128) unsupported('the v128 value type', 'SIMD');
  if (b === 0x64 || b === 0x63) unsupported('a typed reference', 'typed function references');
  s.fail(`unknown value type 0x${b.toString(16)}`, s.pos - 1);
}

function valTypes(s: WasmReader): number[] {
  const n = s.count('value type');
  const out = new Array<number>(n);
  for (let i = 0; i < n; i++) out[i] = valType(s);
  return out;
}

function limitsOf(s: WasmReader, what: 'memory' | 'table'): { min: number; max: number | undefined } {
  const flags = s.u8();
  if (flags & 0x04) {
    if (what === 'memory') reject('memory64', 'Wasm module declares a 64-bit memory (memory64), which is not supported yet. Build a 32-bit (wasm32) canister.');
    unsupported('a 64-bit table', 'memory64');
  }
  if (flags & 0x02) unsupported(`a shared ${what}`, 'threads');
  if (flags > 1) unsupported(`${what} limits flags 0x${flags.toString(16)}`, 'custom page sizes');
  const min = s.u32();
  const max = flags & 1 ? s.u32() : undefined;
  return { min, max };
}

function tableType(s: WasmReader): TableType {
  const refType = s.u8();
  if (!isRefType(refType)) {
    if (refType === 0x64 || refType === 0x63) unsupported('a typed reference table', 'typed function references');
    s.fail(`invalid table element type 0x${refType.toString(16)}`, s.pos - 1);
  }
  return { refType, ...limitsOf(s, 'table') };
}

function memoryType(s: WasmReader): MemoryType {
  return limitsOf(s, 'memory');
}

/** One constant instruction followed by `end` (the MVP + reference-types forms). */
export function constExpr(s: WasmReader): ConstExpr {
  const start = s.pos;
  const op = s.u8();
  let value = 0;
  switch (op) {
    case 0x41: value = s.s32(); break;
    case 0x42: s.skipSigned(10); break;
    case 0x43: s.skip(4); break;
    case 0x44: s.skip(8); break;
    case 0x23: value = s.u32(); break;
    case 0xd0: s.u8(); break;
    case 0xd2: value = s.u32(); break;
    default: constExprOp(s, op, start);
  }
  const endOp = s.u8();
  if (endOp !== 0x0b) constExprOp(s, endOp, s.pos - 1);
  return { op, start, end: s.pos, value };
}

function constExprOp(s: WasmReader, op: number, at: number): never {
  if (op === 0x6a || op === 0x6b || op === 0x6c || op === 0x7c || op === 0x7d || op === 0x7e || op === 0x41 || op === 0x42) {
    unsupported('an extended constant expression', 'extended-const');
  }
  if (op === 0xfd) unsupported('a v128 constant', 'SIMD');
  s.fail(`invalid constant expression opcode 0x${op.toString(16)}`, at);
}

function elementSegment(s: WasmReader): ElementSegment {
  const at = s.pos;
  const flags = s.u32();
  if (flags > 7) s.fail(`invalid element segment flags ${flags}`, at);
  const active = (flags & 1) === 0;
  const explicitTable = (flags & 2) !== 0;
  const usesExprs = (flags & 4) !== 0;
  let table = 0;
  let offset: ConstExpr | undefined;
  if (active) {
    if (explicitTable) table = s.u32();
    offset = constExpr(s);
  }
  let elemType = VALTYPE.funcref as number;
  if (flags !== 0 && flags !== 4) {
    elemType = s.u8();
    if (usesExprs ? !isRefType(elemType) : elemType !== 0x00) s.fail(`invalid element type 0x${elemType.toString(16)}`, s.pos - 1);
  }
  const n = s.count('element', 1);
  if (usesExprs) {
    const exprs: ConstExpr[] = [];
    for (let i = 0; i < n; i++) exprs.push(constExpr(s));
    return { flags, table, offset, elemType, funcs: undefined, exprs };
  }
  const funcs = new Array<number>(n);
  for (let i = 0; i < n; i++) funcs[i] = s.u32();
  return { flags, table, offset, elemType, funcs, exprs: undefined };
}

export function kindName(kind: number): string {
  return KIND_NAMES[kind] ?? `kind ${kind}`;
}

/** The type of function `index` in the function index space (imports first). */
export function functionType(m: ParsedModule, index: number): FuncType | undefined {
  const imported = m.importedFunctionTypes.length;
  const t = index < imported ? m.importedFunctionTypes[index] : m.functionTypes[index - imported];
  return t === undefined ? undefined : m.types[t];
}
