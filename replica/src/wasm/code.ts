// Decoding of function bodies, shared by validation (scan) and instrumentation (rewrite):
// skipping immediates, local declarations, and rejecting instructions we do not support.
import {
  FC_NAMES, IMM_BLOCKTYPE, IMM_BR_TABLE, IMM_CALL_INDIRECT, IMM_F32, IMM_F64, IMM_I32, IMM_I64,
  IMM_MEMARG, IMM_MEMIDX, IMM_NONE, IMM_REFTYPE, IMM_SELECT_T, IMM_U32, isRefType, isValType,
  unsupportedProposal, VALTYPE,
} from './opcodes.js';
import { multipleMemories, reject, unsupported } from './parse.js';
import type { WasmReader } from './reader.js';

export function skipBlockType(r: WasmReader): void {
  const b = r.bytes[r.pos];
  if (b === 0x40 || (b !== undefined && isValType(b))) {
    r.pos++;
    return;
  }
  if (b === VALTYPE.v128) unsupported('a v128 block type', 'SIMD');
  if (b === 0x64 || b === 0x63) unsupported('a typed reference block type', 'typed function references');
  // A type index (multi-value), encoded as a non-negative s33.
  const at = r.pos;
  r.skipSigned(5);
  if ((r.bytes[r.pos - 1]! & 0x40) !== 0) r.fail('invalid block type', at);
}

export function skipMemArg(r: WasmReader): void {
  const align = r.u32();
  // Bit 6 of the alignment announces a memory index (multi-memory).
  if (align & 0x40) multipleMemories();
  r.u32();
}

/** Skips the immediates of a single-byte opcode of immediate kind `kind` (not IMM_PREFIX_FC). */
export function skipImmediates(r: WasmReader, op: number, kind: number, at: number, funcIndex: number): void {
  switch (kind) {
    case IMM_NONE:
      return;
    case IMM_U32:
      r.u32();
      return;
    case IMM_MEMARG:
      skipMemArg(r);
      return;
    case IMM_I32:
      r.skipSigned(5);
      return;
    case IMM_BLOCKTYPE:
      skipBlockType(r);
      return;
    case IMM_I64:
      r.skipSigned(10);
      return;
    case IMM_F32:
      r.skip(4);
      return;
    case IMM_F64:
      r.skip(8);
      return;
    case IMM_BR_TABLE: {
      const n = r.count('br_table target');
      for (let i = 0; i <= n; i++) r.u32();
      return;
    }
    case IMM_CALL_INDIRECT:
      r.u32();
      r.u32();
      return;
    case IMM_MEMIDX:
      if (r.u32() !== 0) multipleMemories();
      return;
    case IMM_SELECT_T: {
      const n = r.count('select type');
      for (let i = 0; i < n; i++) {
        const t = r.u8();
        if (t === VALTYPE.v128) unsupported('a v128 select', 'SIMD');
        if (!isValType(t)) r.fail(`invalid select type 0x${t.toString(16)}`, r.pos - 1);
      }
      return;
    }
    case IMM_REFTYPE: {
      const t = r.u8();
      if (!isRefType(t)) r.fail(`invalid reference type 0x${t.toString(16)}`, r.pos - 1);
      return;
    }
    default:
      invalidOpcode(r, op, at, funcIndex);
  }
}

/** Reads a 0xFC sub-opcode (after the prefix) and skips its immediates; returns the sub-opcode. */
export function readFcInstruction(r: WasmReader, at: number, funcIndex: number): number {
  const sub = r.u32();
  switch (sub) {
    case 0: case 1: case 2: case 3: case 4: case 5: case 6: case 7:
      return sub;
    case 8: // memory.init data memidx
      r.u32();
      if (r.u32() !== 0) multipleMemories();
      return sub;
    case 10: // memory.copy dst src
      if (r.u32() !== 0 || r.u32() !== 0) multipleMemories();
      return sub;
    case 11: // memory.fill
      if (r.u32() !== 0) multipleMemories();
      return sub;
    case 9: case 13: case 15: case 16: case 17:
      r.u32();
      return sub;
    case 12: case 14:
      r.u32();
      r.u32();
      return sub;
    default:
      reject('unsupported-proposal', `Wasm module uses instruction 0xfc ${sub} (at byte offset ${at}) in function ${funcIndex}, which is not supported.`);
  }
}

export function invalidOpcode(r: WasmReader, op: number, at: number, funcIndex: number): never {
  const proposal = unsupportedProposal(op);
  if (proposal !== undefined) {
    let what = `0x${op.toString(16).padStart(2, '0')}`;
    if (op === 0xfd || op === 0xfe || op === 0xfb) {
      const sub = r.pos < r.end ? r.u32() : undefined;
      if (sub !== undefined) what += ` 0x${sub.toString(16).padStart(2, '0')}`;
    }
    reject('unsupported-proposal', `Wasm module uses instruction ${what} from the ${proposal} proposal (function ${funcIndex}, byte offset ${at}), which is not supported. Compile the canister without ${proposal}.`);
  }
  r.fail(`unknown opcode 0x${op.toString(16).padStart(2, '0')} in function ${funcIndex}`, at);
}

export interface LocalDecls {
  /** Number of declaration entries. */
  readonly entries: number;
  /** Byte range of the entries (after their count). */
  readonly entriesStart: number;
  readonly entriesEnd: number;
  /** Declared locals (params excluded). */
  readonly count: number;
}

export function readLocals(r: WasmReader, maxLocals: number, funcIndex: number): LocalDecls {
  const entries = r.count('local declaration', 2);
  const entriesStart = r.pos;
  let count = 0;
  for (let i = 0; i < entries; i++) {
    count += r.u32();
    const t = r.u8();
    if (!isValType(t)) {
      if (t === VALTYPE.v128) unsupported('a v128 local', 'SIMD');
      r.fail(`invalid local type 0x${t.toString(16)}`, r.pos - 1);
    }
    if (count > maxLocals) {
      reject('too-many-locals', `Wasm module function ${funcIndex} declares more than ${maxLocals} locals.`);
    }
  }
  return { entries, entriesStart, entriesEnd: r.pos, count };
}

export function fcName(sub: number): string {
  return FC_NAMES[sub] ?? `0xfc ${sub}`;
}
