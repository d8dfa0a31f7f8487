// Instruction costs, as data. Source: `instruction_to_cost` in the IC replica's
// rs/embedders/src/wasm_utils/instrumentation.rs (Wasm32 values; "validated in benchmarks"
// there). Instructions not listed cost DEFAULT_INSTRUCTION_COST, as in the IC.
import { FC_NAMES, OPCODE_NAMES } from './opcodes.js';

export const DEFAULT_INSTRUCTION_COST = 1;

/** Every function entry costs this on top of its first block: even empty functions consume fuel (IC). */
export const FUNCTION_ENTRY_COST = 1;

/** Bulk memory/table operations charge this per byte (element) of their length operand, before running (IC `decr_instruction_counter`). */
export const BULK_COST_PER_UNIT = 1;

const group = (cost: number, names: string): Record<string, number> =>
  Object.fromEntries(names.trim().split(/\s+/).map((n) => [n, cost]));

/** Static cost per instruction (by text-format name). */
export const INSTRUCTION_COSTS: Readonly<Record<string, number>> = Object.freeze({
  // Block structure is free; the cost of a branch is on the branch.
  ...group(0, 'block loop else end'),
  ...group(1, 'i32.const i64.const f32.const f64.const'),
  // Integer arithmetic 1, division and remainder 10.
  ...group(1, `i32.add i32.sub i32.mul i32.and i32.or i32.xor i32.shl i32.shr_s i32.shr_u i32.rotl i32.rotr
    i64.add i64.sub i64.mul i64.and i64.or i64.xor i64.shl i64.shr_s i64.shr_u i64.rotl i64.rotr`),
  ...group(10, 'i32.div_s i32.div_u i32.rem_s i32.rem_u i64.div_s i64.div_u i64.rem_s i64.rem_u'),
  ...group(1, `i32.eqz i32.eq i32.ne i32.lt_s i32.lt_u i32.gt_s i32.gt_u i32.le_s i32.le_u i32.ge_s i32.ge_u
    i64.eqz i64.eq i64.ne i64.lt_s i64.lt_u i64.gt_s i64.gt_u i64.le_s i64.le_u i64.ge_s i64.ge_u`),
  // Floats: the IC's benchmarked split.
  ...group(1, 'f32.abs f32.neg f64.abs f64.neg'),
  ...group(2, `f32.add f32.sub f32.mul f32.ceil f32.floor f32.trunc f32.nearest
    f64.add f64.sub f64.mul f64.ceil f64.floor f64.trunc f64.nearest`),
  'f32.div': 3,
  'f64.div': 5,
  ...group(18, 'f32.min f32.max f64.min f64.max'),
  'f32.copysign': 2,
  'f64.copysign': 3,
  'f32.sqrt': 5,
  'f64.sqrt': 8,
  ...group(3, 'f32.eq f32.ne f32.lt f32.gt f32.le f32.ge f64.eq f64.ne f64.lt f64.gt f64.le f64.ge'),
  ...group(1, `i32.wrap_i64 i32.extend8_s i32.extend16_s i64.extend8_s i64.extend16_s i64.extend32_s
    f64.reinterpret_i64 i64.reinterpret_f64 i32.reinterpret_f32 f32.reinterpret_i32
    i64.extend_i32_s i64.extend_i32_u`),
  // Signed conversions are cheaper than unsigned ones.
  ...group(3, 'f32.convert_i32_s f64.convert_i64_s f32.convert_i64_s f64.convert_i32_s'),
  ...group(16, 'f64.convert_i32_u f32.convert_i64_u f32.convert_i32_u f64.convert_i64_u'),
  ...group(20, `i64.trunc_sat_f32_s i64.trunc_sat_f32_u i64.trunc_sat_f64_s i64.trunc_sat_f64_u
    i32.trunc_sat_f32_s i32.trunc_sat_f32_u i32.trunc_sat_f64_s i32.trunc_sat_f64_u`),
  ...group(1, 'f32.demote_f64 f64.promote_f32'),
  ...group(20, `i32.trunc_f32_s i32.trunc_f32_u i32.trunc_f64_s i32.trunc_f64_u
    i64.trunc_f32_s i64.trunc_f32_u i64.trunc_f64_s i64.trunc_f64_u`),
  // Loads and stores 1 in Wasm32 (2 in Wasm64, which we do not accept yet).
  ...group(1, `i32.load i64.load f32.load f64.load i32.load8_s i32.load8_u i32.load16_s i32.load16_u
    i64.load8_s i64.load8_u i64.load16_s i64.load16_u i64.load32_s i64.load32_u
    i32.store i64.store f32.store f64.store i32.store8 i32.store16 i64.store8 i64.store16 i64.store32`),
  ...group(2, 'global.get global.set'),
  ...group(5, 'table.get table.set'),
  // Typed `select` (0x1c) is not listed in the IC and costs the default, which is also 1.
  ...group(1, 'local.get local.set local.tee select'),
  ...group(300, 'memory.grow table.grow'),
  'memory.size': 20,
  'table.size': 100,
  // Bulk operations: 100 static, plus BULK_COST_PER_UNIT per byte/element at run time.
  ...group(100, 'memory.fill memory.copy memory.init table.fill table.copy table.init'),
  ...group(300, 'data.drop elem.drop'),
  call: 5,
  call_indirect: 10,
  ...group(1, 'return drop unreachable nop'),
  ...group(2, 'if br br_if br_table'),
  ...group(1, 'i32.popcnt i64.popcnt i32.clz i32.ctz i64.clz i64.ctz'),
  'ref.null': 1,
  'ref.is_null': 5,
  'ref.func': 130,
});

/**
 * Weighted "complexity" per instruction, bounding compile time per function. Source:
 * `wasm_function_complexity` in rs/embedders/src/wasm_utils/validation.rs; default 1.
 */
export const INSTRUCTION_COMPLEXITY: Readonly<Record<string, number>> = Object.freeze({
  ...group(50, 'block loop if br br_if br_table call call_indirect memory.grow table.grow'),
  'table.get': 14,
  'ref.func': 8,
  'table.set': 7,
  'ref.is_null': 6,
  ...group(5, `table.fill i32.trunc_f32_s i32.trunc_f32_u i32.trunc_f64_s i32.trunc_f64_u
    i64.extend_i32_s i64.extend_i32_u i64.trunc_f32_s i64.trunc_f32_u i64.trunc_f64_s i64.trunc_f64_u
    f32.convert_i32_s f32.convert_i32_u f32.convert_i64_s f32.convert_i64_u f32.demote_f64
    f64.convert_i32_s f64.convert_i32_u f64.convert_i64_s f64.convert_i64_u`),
  ...group(4, 'f32.neg f32.abs f64.neg f64.abs table.copy table.init memory.copy'),
  ...group(3, `f32.copysign f64.copysign f64.eq i32.rem_u i32.rem_s i64.rem_u i64.rem_s
    i32.div_u i32.div_s i64.div_u i64.div_s memory.fill
    i32.load i64.load f32.load f64.load i32.load8_s i32.load8_u i32.load16_s i32.load16_u
    i64.load8_s i64.load8_u i64.load16_s i64.load16_u i64.load32_s i64.load32_u
    i32.trunc_sat_f32_s i32.trunc_sat_f32_u i32.trunc_sat_f64_s i32.trunc_sat_f64_u
    i64.trunc_sat_f32_s i64.trunc_sat_f32_u i64.trunc_sat_f64_s i64.trunc_sat_f64_u`),
  ...group(2, `global.get i32.popcnt i64.popcnt select memory.size
    i32.store i32.store16 i32.store8 i64.store i64.store32 i64.store16 i64.store8 f64.store f32.store
    i32.eqz i32.eq i32.ne i32.lt_s i32.lt_u i32.gt_s i32.gt_u i32.le_s i32.le_u i32.ge_s i32.ge_u
    i64.eqz i64.eq i64.ne i64.lt_s i64.lt_u i64.gt_s i64.gt_u i64.le_s i64.le_u i64.ge_s i64.ge_u
    f32.eq f32.ne f32.lt f32.gt f32.le f32.ge f64.ne f64.lt f64.gt f64.le f64.ge
    f32.ceil f64.ceil f32.floor f64.floor f32.sqrt f64.sqrt f32.trunc f64.trunc
    i32.reinterpret_f32 i64.reinterpret_f64 f32.reinterpret_i32 f64.reinterpret_i64
    i32.wrap_i64 i32.extend8_s i32.extend16_s i64.extend8_s i64.extend16_s i64.extend32_s f64.promote_f32`),
});

export interface OpcodeTable {
  /** Indexed by single-byte opcode. */
  readonly single: Uint16Array;
  /** Indexed by 0xFC sub-opcode. */
  readonly fc: Uint16Array;
}

function compile(table: Readonly<Record<string, number>>, fallback: number): OpcodeTable {
  const single = new Uint16Array(256).fill(fallback);
  const fc = new Uint16Array(FC_NAMES.length).fill(fallback);
  OPCODE_NAMES.forEach((name, op) => {
    if (name !== undefined && name in table) single[op] = table[name]!;
  });
  FC_NAMES.forEach((name, sub) => {
    if (name in table) fc[sub] = table[name]!;
  });
  return { single, fc };
}

/** INSTRUCTION_COSTS as lookup tables. */
export const COST_TABLE: OpcodeTable = compile(INSTRUCTION_COSTS, DEFAULT_INSTRUCTION_COST);

/** INSTRUCTION_COMPLEXITY as lookup tables. */
export const COMPLEXITY_TABLE: OpcodeTable = compile(INSTRUCTION_COMPLEXITY, 1);
// The typed select (0x1c) shares its text name with select (0x1b), but the IC's complexity
// table lists only the untyped one; the typed one takes the default.
COMPLEXITY_TABLE.single[0x1c] = 1;
