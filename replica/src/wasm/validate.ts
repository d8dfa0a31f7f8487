// Install-time validation of canister modules: the IC's rules (rs/embedders/src/wasm_utils/
// validation.rs; interface spec "WebAssembly module requirements") on top of structural
// validity, which V8 has the last word on.
import { IC0 } from '../system-api/signatures.js';
import { readLocals, readFcInstruction, skipImmediates } from './code.js';
import { COMPLEXITY_TABLE } from './costs.js';
import { InvalidWasmError } from './errors.js';
import { IMM_PREFIX_FC, IMMEDIATES, VALTYPE_NAMES } from './opcodes.js';
import { EXTERNAL_KIND, functionType, kindName, parseModule, reject, type FuncType, type ParsedModule } from './parse.js';
import { WasmReader } from './reader.js';
import {
  DEFAULT_WASM_LIMITS, INSTRUMENTATION, type CanisterMetadataSection, type ModuleInfo, type SystemMethods,
  type WasmLimits,
} from './types.js';
import { webAssembly } from './engine.js';

const SYSTEM_METHODS: Readonly<Record<string, keyof SystemMethods>> = {
  canister_init: 'init',
  canister_pre_upgrade: 'preUpgrade',
  canister_post_upgrade: 'postUpgrade',
  canister_inspect_message: 'inspectMessage',
  canister_heartbeat: 'heartbeat',
  canister_global_timer: 'globalTimer',
  canister_on_low_wasm_memory: 'onLowWasmMemory',
};

const METHOD_PREFIXES = [
  ['canister_update ', 'update'],
  ['canister_query ', 'query'],
  ['canister_composite_query ', 'compositeQuery'],
] as const;

/**
 * Validates a canister module (already decompressed) and describes it. Throws
 * InvalidWasmError, never another error, whatever the input.
 */
export function validateModule(bytes: Uint8Array, limits: WasmLimits = DEFAULT_WASM_LIMITS): ModuleInfo {
  try {
    return validate(bytes, limits);
  } catch (err) {
    throw asInvalidWasm(err);
  }
}

/** Any failure while decoding untrusted bytes becomes InvalidWasmError('malformed'). */
export function asInvalidWasm(err: unknown): InvalidWasmError {
  if (err instanceof InvalidWasmError) return err;
  return new InvalidWasmError('malformed', `Wasm module could not be decoded: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
}

function validate(bytes: Uint8Array, limits: WasmLimits): ModuleInfo {
  if (bytes.length > limits.maxWasmBytes) {
    reject('wasm-too-large', `Wasm module size of ${bytes.length} bytes exceeds the maximum allowed size of ${limits.maxWasmBytes} bytes.`);
  }
  const m = parseModule(bytes, limits);
  const imports = validateImports(m);
  validateMemoryAndTables(m, limits);
  validateGlobals(m);
  const { methods, systemMethods } = validateExports(m, limits);
  const dataPages = validateData(m);
  const code = validateCode(m, limits);
  const metadata = validateCustomSections(m, limits);
  validateWithEngine(bytes);

  const memory = m.memories[0];
  return {
    methods,
    systemMethods,
    metadata,
    memory: memory === undefined ? undefined : { minPages: memory.min, maxPages: memory.max },
    hasStart: m.start !== undefined,
    imports,
    wasmBytes: bytes.length,
    functionCount: m.functionTypes.length,
    instructionCount: code.instructions,
    largestFunctionInstructionCount: code.largest,
    dataPages,
  };
}

function signature(t: FuncType): string {
  const list = (ts: readonly number[]) => `[${ts.map((v) => VALTYPE_NAMES[v] ?? `0x${v.toString(16)}`).join(', ')}]`;
  return `${list(t.params)} -> ${list(t.results)}`;
}

function validateImports(m: ParsedModule): string[] {
  const used: string[] = [];
  for (const imp of m.imports) {
    if (imp.kind !== EXTERNAL_KIND.func) {
      const what = kindName(imp.kind);
      reject('import-kind', `Wasm module has an invalid import section. Importing ${what}s is not allowed: the module imports ${what} '${imp.name}' from '${imp.module}'; declare it in the module instead.`);
    }
    const expected = Object.hasOwn(IC0, imp.name) ? IC0[imp.name] : undefined;
    if (imp.module !== 'ic0' || expected === undefined) {
      reject('import-unknown', `Wasm module has an invalid import section. Module imports function '${imp.name}' from '${imp.module}' that is not exported by the runtime.`);
    }
    const actual = m.types[imp.typeIndex]!;
    const want = { params: expected.params.map(code), results: expected.results.map(code) };
    if (!sameType(actual, want)) {
      reject('import-signature', `Wasm module has an invalid import section. Module imports function '${imp.name}' from 'ic0' with the wrong signature: the runtime exports it as ${signature(want)}, the module declares ${signature(actual)}.`);
    }
    used.push(imp.name);
  }
  return used;
}

function code(t: string): number {
  return t === 'i32' ? 0x7f : t === 'i64' ? 0x7e : t === 'f32' ? 0x7d : 0x7c;
}

export function sameType(a: FuncType, b: FuncType): boolean {
  return sameList(a.params, b.params) && sameList(a.results, b.results);
}

function sameList(a: readonly number[], b: readonly number[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function validateMemoryAndTables(m: ParsedModule, limits: WasmLimits): void {
  if (m.memories.length > 1) {
    reject('multiple-memories', `Wasm module has an invalid memory section. It declares ${m.memories.length} memories; at most one is allowed.`);
  }
  if (m.tables.length > 1) {
    reject('multiple-tables', `Wasm module has an invalid table section. It declares ${m.tables.length} tables; at most one is supported.`);
  }
  const table = m.tables[0];
  if (table !== undefined && table.min > limits.maxTableElements) {
    reject('table-too-large', `Wasm module has an invalid table section. Its initial size of ${table.min} elements exceeds the maximum allowed ${limits.maxTableElements}.`);
  }
}

function validateGlobals(m: ParsedModule): void {
  for (const g of m.globals) {
    if (VALTYPE_NAMES[g.valType] === 'funcref' || VALTYPE_NAMES[g.valType] === 'externref') {
      reject('global-type', `Wasm module has an invalid global section. Unsupported global type: ${VALTYPE_NAMES[g.valType]}; only i32, i64, f32 and f64 globals are allowed.`);
    }
  }
}

function validateExports(m: ParsedModule, limits: WasmLimits): { methods: ModuleInfo['methods']; systemMethods: SystemMethods } {
  const methods = { update: [] as string[], query: [] as string[], compositeQuery: [] as string[] };
  const system: Record<keyof SystemMethods, boolean> = {
    init: false, preUpgrade: false, postUpgrade: false, inspectMessage: false,
    heartbeat: false, globalTimer: false, onLowWasmMemory: false,
  };
  const seen = new Map<string, string>();
  let count = 0;
  let nameLengths = 0;
  for (const exp of m.exports) {
    if (exp.name.startsWith(INSTRUMENTATION.reservedPrefix)) {
      reject('reserved-export', `Wasm module has an invalid export section. Exporting reserved symbol '${exp.name}' is not allowed (the '${INSTRUMENTATION.reservedPrefix}' prefix is reserved by the runtime).`);
    }
    if (exp.kind !== EXTERNAL_KIND.func) continue;
    let isEntryPoint = false;
    const systemKey = SYSTEM_METHODS[exp.name];
    if (systemKey !== undefined) {
      system[systemKey] = true;
      isEntryPoint = true;
    } else {
      const prefix = METHOD_PREFIXES.find(([p]) => exp.name.startsWith(p));
      if (prefix !== undefined) {
        const method = exp.name.slice(prefix[0].length);
        const previous = seen.get(method);
        if (previous !== undefined) {
          reject('duplicate-method', `Wasm module has an invalid export section. Duplicate function '${method}' exported multiple times with different call types: update, query, or composite_query.`);
        }
        seen.set(method, prefix[1]);
        methods[prefix[1]].push(method);
        count++;
        nameLengths += method.length;
        isEntryPoint = true;
      } else if (exp.name.startsWith('canister_')) {
        reject('invalid-canister-export', `Wasm module has an invalid export section. Exporting reserved function '${exp.name}' with "canister_" prefix is not allowed; only the entry points of the interface spec may use it.`);
      }
    }
    if (isEntryPoint) {
      const type = functionType(m, exp.index);
      if (type === undefined) reject('malformed', `Wasm module is malformed: export '${exp.name}' refers to unknown function ${exp.index}.`);
      if (type.params.length !== 0 || type.results.length !== 0) {
        reject('export-signature', `Wasm module has an invalid export section. Function '${exp.name}' must have type [] -> [], but has ${signature(type)}.`);
      }
    }
  }
  if (count > limits.maxExportedMethods) {
    reject('too-many-exports', `Wasm module has an invalid export section. The number of exported functions called \`canister_update <name>\`, \`canister_query <name>\`, or \`canister_composite_query <name>\` exceeds ${limits.maxExportedMethods}.`);
  }
  if (nameLengths > limits.maxSumExportedMethodNameLengths) {
    reject('export-names-too-long', `Wasm module has an invalid export section. The sum of \`<name>\` lengths in exported functions called \`canister_update <name>\`, \`canister_query <name>\`, or \`canister_composite_query <name>\` exceeds ${limits.maxSumExportedMethodNameLengths}.`);
  }
  methods.update.sort();
  methods.query.sort();
  methods.compositeQuery.sort();
  return { methods, systemMethods: system };
}

/** Checks the offsets of active segments; returns the OS pages they initialise (ascending). */
function validateData(m: ParsedModule): number[] {
  const pages = new Set<number>();
  const maxPage = 2 ** (32 - INSTRUMENTATION.pageShift);
  for (const [i, seg] of m.data.entries()) {
    if (seg.offset === undefined) continue;
    if (seg.offset.op !== 0x41) {
      reject('data-offset', `Wasm module has an invalid data section. Data segment ${i} has an offset expression that is not a single i32.const.`);
    }
    const length = seg.dataEnd - seg.dataStart;
    if (length === 0) continue;
    const start = seg.offset.value >>> 0;
    const last = Math.min(Math.floor((start + length - 1) / 2 ** INSTRUMENTATION.pageShift), maxPage - 1);
    for (let page = start >>> INSTRUMENTATION.pageShift; page <= last; page++) pages.add(page);
  }
  return [...pages].sort((a, b) => a - b);
}

function validateCode(m: ParsedModule, limits: WasmLimits): { instructions: number; largest: number } {
  const { bytes, bodies } = m;
  const imported = m.importedFunctionTypes.length;
  const complexity = COMPLEXITY_TABLE;
  let total = 0;
  let largest = 0;
  const r = new WasmReader(bytes);
  for (let f = 0; f < bodies.length / 2; f++) {
    const start = bodies[2 * f]!;
    const end = bodies[2 * f + 1]!;
    const funcIndex = imported + f;
    r.pos = start;
    r.end = end;
    const params = m.types[m.functionTypes[f]!]!.params.length;
    readLocals(r, limits.maxFunctionLocals - params, funcIndex);
    let instructions = 0;
    let weight = 0;
    let depth = 0;
    for (;;) {
      const at = r.pos;
      const op = r.u8();
      instructions++;
      const kind = IMMEDIATES[op]!;
      if (kind === IMM_PREFIX_FC) {
        weight += complexity.fc[readFcInstruction(r, at, funcIndex)]!;
      } else {
        weight += complexity.single[op]!;
        skipImmediates(r, op, kind, at, funcIndex);
        if (op === 0x02 || op === 0x03 || op === 0x04) depth++;
        else if (op === 0x0b && depth-- === 0) break;
      }
    }
    if (r.pos !== end) r.fail(`function ${funcIndex} has bytes after its final end`);
    if (instructions > limits.maxFunctionInstructions) {
      reject('function-too-large', `Wasm module contains a function at index ${funcIndex} of size ${instructions} that exceeds the maximum allowed size of ${limits.maxFunctionInstructions}.`);
    }
    if (weight > limits.maxFunctionComplexity) {
      reject('function-too-complex', `Wasm module contains a function at index ${funcIndex} with complexity ${weight} which exceeds the maximum complexity allowed ${limits.maxFunctionComplexity}.`);
    }
    total += instructions;
    if (instructions > largest) largest = instructions;
  }
  return { instructions: total, largest };
}

function validateCustomSections(m: ParsedModule, limits: WasmLimits): Map<string, CanisterMetadataSection> {
  const metadata = new Map<string, CanisterMetadataSection>();
  let totalBytes = 0;
  for (const section of m.customs) {
    const { name } = section;
    if (!name.startsWith('icp:')) continue;
    let visibility: 'public' | 'private';
    let key: string;
    if (name.startsWith('icp:public ')) {
      visibility = 'public';
      key = name.slice('icp:public '.length);
    } else if (name.startsWith('icp:private ')) {
      visibility = 'private';
      key = name.slice('icp:private '.length);
    } else if (name === 'icp:public' || name === 'icp:private') {
      reject('custom-section-name', `Wasm module has an invalid custom section. 'icp:' section names must have a space after the public/private scope.`);
    } else {
      reject('custom-section-name', `Wasm module has an invalid custom section. Custom section '${name}' has no public/private scope defined.`);
    }
    if (metadata.has(key)) {
      reject('duplicate-metadata', `Wasm module has an invalid custom section. Name '${key}' already exists.`);
    }
    totalBytes += section.end - section.contentStart + new TextEncoder().encode(key).length;
    if (totalBytes > limits.maxCustomSectionsBytes) {
      reject('custom-section-too-large', `Wasm module has an invalid custom section. The total size of the custom sections exceeds the maximum allowed: size ${totalBytes} bytes, allowed ${limits.maxCustomSectionsBytes} bytes.`);
    }
    metadata.set(key, { visibility, content: m.bytes.slice(section.contentStart, section.end) });
    if (metadata.size > limits.maxCustomSections) {
      reject('too-many-custom-sections', `Wasm module defined ${metadata.size} custom sections which exceeds the maximum number allowed ${limits.maxCustomSections}.`);
    }
  }
  return metadata;
}

/** V8 has the last word on structural validity (types, stack discipline, index ranges). */
function validateWithEngine(bytes: Uint8Array): void {
  if (webAssembly.validate(bytes)) return;
  let detail = 'the engine rejected it';
  try {
    new webAssembly.Module(bytes);
  } catch (err) {
    if (err instanceof Error) detail = err.message;
  }
  reject('malformed', `Wasm module is not valid WebAssembly: ${detail}.`);
}
