// The instruction set we accept: MVP, sign-extension, non-trapping float-to-int, bulk memory,
// multi-value and reference-types basics. Names follow the text format; `IMMEDIATES` says how
// to skip each opcode's immediates.

export const IMM_NONE = 0;
export const IMM_BLOCKTYPE = 1;
export const IMM_U32 = 2;
export const IMM_BR_TABLE = 3;
export const IMM_CALL_INDIRECT = 4;
export const IMM_MEMARG = 5;
export const IMM_MEMIDX = 6;
export const IMM_I32 = 7;
export const IMM_I64 = 8;
export const IMM_F32 = 9;
export const IMM_F64 = 10;
export const IMM_SELECT_T = 11;
export const IMM_REFTYPE = 12;
export const IMM_PREFIX_FC = 13;
/** Not an instruction we accept. */
export const IMM_INVALID = 255;

export const OP = {
  unreachable: 0x00,
  nop: 0x01,
  block: 0x02,
  loop: 0x03,
  if: 0x04,
  else: 0x05,
  end: 0x0b,
  br: 0x0c,
  br_if: 0x0d,
  br_table: 0x0e,
  return: 0x0f,
  call: 0x10,
  call_indirect: 0x11,
  drop: 0x1a,
  select: 0x1b,
  select_t: 0x1c,
  local_get: 0x20,
  local_set: 0x21,
  local_tee: 0x22,
  global_get: 0x23,
  global_set: 0x24,
  i32_load: 0x28,
  i32_store: 0x36,
  i64_store32: 0x3e,
  memory_size: 0x3f,
  memory_grow: 0x40,
  i32_const: 0x41,
  i64_const: 0x42,
  f32_const: 0x43,
  f64_const: 0x44,
  i32_eqz: 0x45,
  i32_eq: 0x46,
  i32_ne: 0x47,
  i32_lt_u: 0x49,
  i32_gt_u: 0x4b,
  i64_lt_s: 0x53,
  f32_eq: 0x5b,
  f64_eq: 0x61,
  i32_add: 0x6a,
  i32_sub: 0x6b,
  i32_and: 0x71,
  i32_or: 0x72,
  i32_shr_u: 0x76,
  i64_sub: 0x7d,
  i64_extend_i32_u: 0xad,
  ref_null: 0xd0,
  ref_is_null: 0xd1,
  ref_func: 0xd2,
  prefix_fc: 0xfc,
} as const;

export const FC = {
  memory_init: 8,
  data_drop: 9,
  memory_copy: 10,
  memory_fill: 11,
  table_init: 12,
  elem_drop: 13,
  table_copy: 14,
  table_grow: 15,
  table_size: 16,
  table_fill: 17,
} as const;

/** Value type codes in the binary format. */
export const VALTYPE = { i32: 0x7f, i64: 0x7e, f32: 0x7d, f64: 0x7c, v128: 0x7b, funcref: 0x70, externref: 0x6f } as const;

export const VALTYPE_NAMES: Readonly<Record<number, 'i32' | 'i64' | 'f32' | 'f64' | 'funcref' | 'externref'>> = {
  0x7f: 'i32',
  0x7e: 'i64',
  0x7d: 'f32',
  0x7c: 'f64',
  0x70: 'funcref',
  0x6f: 'externref',
};

export function isValType(b: number): boolean {
  return b === 0x7f || b === 0x7e || b === 0x7d || b === 0x7c || b === 0x70 || b === 0x6f;
}

export function isRefType(b: number): boolean {
  return b === 0x70 || b === 0x6f;
}

/** Text-format names of single-byte opcodes we accept. */
export const OPCODE_NAMES: readonly (string | undefined)[] = buildNames();

/** Text-format names of 0xFC-prefixed opcodes (index = sub-opcode). */
export const FC_NAMES: readonly string[] = [
  'i32.trunc_sat_f32_s', 'i32.trunc_sat_f32_u', 'i32.trunc_sat_f64_s', 'i32.trunc_sat_f64_u',
  'i64.trunc_sat_f32_s', 'i64.trunc_sat_f32_u', 'i64.trunc_sat_f64_s', 'i64.trunc_sat_f64_u',
  'memory.init', 'data.drop', 'memory.copy', 'memory.fill',
  'table.init', 'elem.drop', 'table.copy', 'table.grow', 'table.size', 'table.fill',
];

function buildNames(): (string | undefined)[] {
  const names: (string | undefined)[] = new Array(256).fill(undefined);
  const put = (start: number, list: string) => list.split(' ').forEach((n, i) => (names[start + i] = n));
  put(0x00, 'unreachable nop block loop if else');
  put(0x0b, 'end br br_if br_table return call call_indirect');
  put(0x1a, 'drop select select');
  put(0x20, 'local.get local.set local.tee global.get global.set table.get table.set');
  put(0x28, 'i32.load i64.load f32.load f64.load i32.load8_s i32.load8_u i32.load16_s i32.load16_u ' +
    'i64.load8_s i64.load8_u i64.load16_s i64.load16_u i64.load32_s i64.load32_u ' +
    'i32.store i64.store f32.store f64.store i32.store8 i32.store16 i64.store8 i64.store16 i64.store32 ' +
    'memory.size memory.grow i32.const i64.const f32.const f64.const');
  put(0x45, 'i32.eqz i32.eq i32.ne i32.lt_s i32.lt_u i32.gt_s i32.gt_u i32.le_s i32.le_u i32.ge_s i32.ge_u ' +
    'i64.eqz i64.eq i64.ne i64.lt_s i64.lt_u i64.gt_s i64.gt_u i64.le_s i64.le_u i64.ge_s i64.ge_u ' +
    'f32.eq f32.ne f32.lt f32.gt f32.le f32.ge f64.eq f64.ne f64.lt f64.gt f64.le f64.ge ' +
    'i32.clz i32.ctz i32.popcnt i32.add i32.sub i32.mul i32.div_s i32.div_u i32.rem_s i32.rem_u ' +
    'i32.and i32.or i32.xor i32.shl i32.shr_s i32.shr_u i32.rotl i32.rotr ' +
    'i64.clz i64.ctz i64.popcnt i64.add i64.sub i64.mul i64.div_s i64.div_u i64.rem_s i64.rem_u ' +
    'i64.and i64.or i64.xor i64.shl i64.shr_s i64.shr_u i64.rotl i64.rotr ' +
    'f32.abs f32.neg f32.ceil f32.floor f32.trunc f32.nearest f32.sqrt f32.add f32.sub f32.mul f32.div ' +
    'f32.min f32.max f32.copysign ' +
    'f64.abs f64.neg f64.ceil f64.floor f64.trunc f64.nearest f64.sqrt f64.add f64.sub f64.mul f64.div ' +
    'f64.min f64.max f64.copysign ' +
    'i32.wrap_i64 i32.trunc_f32_s i32.trunc_f32_u i32.trunc_f64_s i32.trunc_f64_u ' +
    'i64.extend_i32_s i64.extend_i32_u i64.trunc_f32_s i64.trunc_f32_u i64.trunc_f64_s i64.trunc_f64_u ' +
    'f32.convert_i32_s f32.convert_i32_u f32.convert_i64_s f32.convert_i64_u f32.demote_f64 ' +
    'f64.convert_i32_s f64.convert_i32_u f64.convert_i64_s f64.convert_i64_u f64.promote_f32 ' +
    'i32.reinterpret_f32 i64.reinterpret_f64 f32.reinterpret_i32 f64.reinterpret_i64 ' +
    'i32.extend8_s i32.extend16_s i64.extend8_s i64.extend16_s i64.extend32_s');
  put(0xd0, 'ref.null ref.is_null ref.func');
  return names;
}

/** How to skip the immediates of each single-byte opcode; IMM_INVALID for those we reject. */
export const IMMEDIATES: Uint8Array = (() => {
  const imm = new Uint8Array(256).fill(IMM_INVALID);
  for (let op = 0; op < 256; op++) if (OPCODE_NAMES[op] !== undefined) imm[op] = IMM_NONE;
  imm[0x02] = imm[0x03] = imm[0x04] = IMM_BLOCKTYPE;
  imm[0x0c] = imm[0x0d] = IMM_U32;
  imm[0x0e] = IMM_BR_TABLE;
  imm[0x10] = IMM_U32;
  imm[0x11] = IMM_CALL_INDIRECT;
  imm[0x1c] = IMM_SELECT_T;
  for (let op = 0x20; op <= 0x26; op++) imm[op] = IMM_U32;
  for (let op = 0x28; op <= 0x3e; op++) imm[op] = IMM_MEMARG;
  imm[0x3f] = imm[0x40] = IMM_MEMIDX;
  imm[0x41] = IMM_I32;
  imm[0x42] = IMM_I64;
  imm[0x43] = IMM_F32;
  imm[0x44] = IMM_F64;
  imm[0xd0] = IMM_REFTYPE;
  imm[0xd2] = IMM_U32;
  imm[0xfc] = IMM_PREFIX_FC;
  return imm;
})();

/**
 * Opcodes of proposals we reject, for an actionable message. (Anything else we do not know
 * is simply malformed.)
 */
export function unsupportedProposal(op: number): string | undefined {
  if (op === 0xfd) return 'SIMD';
  if (op === 0xfe) return 'threads (atomics)';
  if (op === 0xfb) return 'garbage collection';
  if ((op >= 0x06 && op <= 0x0a) || op === 0x18 || op === 0x19 || op === 0x1f) return 'exception handling';
  if (op === 0x12 || op === 0x13) return 'tail calls';
  if (op === 0x14 || op === 0x15 || (op >= 0xd3 && op <= 0xd6)) return 'typed function references';
  return undefined;
}

/** Stores: i32.store … i64.store32. */
export function isStore(op: number): boolean {
  return op >= 0x36 && op <= 0x3e;
}

/** Value type stored by a store opcode (i32/i64/f32/f64 as binary codes). */
export function storedValType(op: number): number {
  switch (op) {
    case 0x36: case 0x3a: case 0x3b: return VALTYPE.i32;
    case 0x37: case 0x3c: case 0x3d: case 0x3e: return VALTYPE.i64;
    case 0x38: return VALTYPE.f32;
    default: return VALTYPE.f64;
  }
}

/**
 * Float instructions whose result may be a NaN with an arbitrary payload, mapped to the
 * result type: these get NaN canonicalisation (as Cranelift's `enable_nan_canonicalization`).
 */
export const NAN_PRODUCING: Uint8Array = (() => {
  const t = new Uint8Array(256);
  for (const op of [0x8d, 0x8e, 0x8f, 0x90, 0x91, 0x92, 0x93, 0x94, 0x95, 0x96, 0x97, 0xb6]) t[op] = VALTYPE.f32;
  for (const op of [0x9b, 0x9c, 0x9d, 0x9e, 0x9f, 0xa0, 0xa1, 0xa2, 0xa3, 0xa4, 0xa5, 0xbb]) t[op] = VALTYPE.f64;
  return t;
})();
