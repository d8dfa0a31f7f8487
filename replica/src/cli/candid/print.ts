// Decoded Candid values shown as Candid text (the way dfx prints replies: `(42 : nat)`) or as
// JSON (nat/int/64-bit numbers as decimal strings, blobs as hex, opt as value or null).

import { IDL, idlLabelToId } from '@icp-sdk/core/candid';
import type { Principal } from '@icp-sdk/core/principal';

const KEYWORDS = new Set([
  'blob', 'bool', 'composite_query', 'empty', 'false', 'float32', 'float64', 'func', 'import', 'int', 'int8', 'int16', 'int32', 'int64',
  'nat', 'nat8', 'nat16', 'nat32', 'nat64', 'null', 'oneway', 'opt', 'principal', 'query', 'record', 'reserved', 'service', 'text',
  'true', 'type', 'variant', 'vec',
]);

function unwrap(type: IDL.Type): IDL.Type {
  let t = type;
  while (t instanceof IDL.RecClass) t = t.getType()!;
  return t;
}

/** A field key as Candid text: `name`, `"odd name"`, or the numeric id of `_123_`. */
export function labelText(key: string): string {
  const m = /^_(\d+)_$/.exec(key);
  if (m) return m[1]!;
  return /^[A-Za-z_][A-Za-z0-9_]*$/.test(key) && !KEYWORDS.has(key) ? key : quote(new TextEncoder().encode(key));
}

function quote(bytes: Uint8Array, blob = false): string {
  let out = '"';
  if (!blob) {
    const text = new TextDecoder().decode(bytes);
    for (const ch of text) {
      if (ch === '"') out += '\\"';
      else if (ch === '\\') out += '\\\\';
      else if (ch === '\n') out += '\\n';
      else if (ch === '\r') out += '\\r';
      else if (ch === '\t') out += '\\t';
      else if (ch < ' ' || ch === '\x7f') out += `\\${ch.charCodeAt(0).toString(16).padStart(2, '0')}`;
      else out += ch;
    }
    return `${out}"`;
  }
  for (const b of bytes) {
    out += b >= 0x20 && b < 0x7f && b !== 0x22 && b !== 0x5c ? String.fromCharCode(b) : `\\${b.toString(16).padStart(2, '0')}`;
  }
  return `${out}"`;
}

function groupDigits(n: bigint): string {
  const negative = n < 0n;
  const digits = (negative ? -n : n).toString().replace(/\B(?=(\d{3})+(?!\d))/g, '_');
  return negative ? `-${digits}` : digits;
}

/** One value as Candid text. */
export function formatValue(type: IDL.Type, value: unknown): string {
  const t = unwrap(type);
  if (t instanceof IDL.NatClass || t instanceof IDL.IntClass || t instanceof IDL.FixedNatClass || t instanceof IDL.FixedIntClass) {
    return `${groupDigits(BigInt(value as bigint | number))} : ${t.name}`;
  }
  if (t instanceof IDL.FloatClass) return `${String(value)} : ${t.name}`;
  if (t instanceof IDL.TextClass) return quote(new TextEncoder().encode(value as string));
  if (t instanceof IDL.BoolClass) return String(value);
  if (t instanceof IDL.NullClass || t instanceof IDL.ReservedClass) return 'null';
  if (t instanceof IDL.PrincipalClass) return `principal "${(value as Principal).toText()}"`;
  if (t instanceof IDL.ServiceClass) return `service "${(value as Principal).toText()}"`;
  if (t instanceof IDL.FuncClass) {
    const [p, m] = value as [Principal, string];
    return `func "${p.toText()}".${labelText(m)}`;
  }
  if (t instanceof IDL.OptClass) {
    const v = value as [] | [unknown];
    return v.length === 0 ? 'null' : `opt ${formatValue(t._type, v[0])}`;
  }
  if (t instanceof IDL.VecClass) {
    const inner = unwrap(t._type);
    if (inner instanceof IDL.FixedNatClass && inner._bits === 8) return `blob ${quote(Uint8Array.from(value as ArrayLike<number>), true)}`;
    const items = Array.from(value as ArrayLike<unknown>);
    return items.length === 0 ? 'vec {}' : `vec { ${items.map((x) => formatValue(t._type, x)).join('; ')} }`;
  }
  if (t instanceof IDL.TupleClass) {
    const items = value as unknown[];
    const types = t._fields.map(([, ft]) => ft);
    return items.length === 0 ? 'record {}' : `record { ${items.map((x, i) => formatValue(types[i]!, x)).join('; ')} }`;
  }
  if (t instanceof IDL.RecordClass) {
    const v = value as Record<string, unknown>;
    if (t._fields.length === 0) return 'record {}';
    return `record { ${t._fields.map(([k, ft]) => `${labelText(k)} = ${formatValue(ft, v[k])}`).join('; ')} }`;
  }
  if (t instanceof IDL.VariantClass) {
    const [key, inner] = Object.entries(value as Record<string, unknown>)[0]!;
    const ft = t._fields.find(([k]) => k === key)?.[1] ?? IDL.Null;
    return unwrap(ft) instanceof IDL.NullClass ? `variant { ${labelText(key)} }` : `variant { ${labelText(key)} = ${formatValue(ft, inner)} }`;
  }
  return String(value);
}

/** An argument or result sequence as Candid text: `(v1, v2)`. */
export function formatValues(types: readonly IDL.Type[], values: readonly unknown[]): string {
  return `(${values.map((v, i) => formatValue(types[i]!, v)).join(', ')})`;
}

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** One value as JSON: lossless (big numbers as strings, blobs as hex). */
export function toJson(type: IDL.Type, value: unknown): Json {
  const t = unwrap(type);
  if (t instanceof IDL.NatClass || t instanceof IDL.IntClass) return String(value);
  if (t instanceof IDL.FixedNatClass || t instanceof IDL.FixedIntClass) return t._bits <= 32 ? Number(value) : String(value);
  if (t instanceof IDL.FloatClass || t instanceof IDL.BoolClass || t instanceof IDL.TextClass) return value as Json;
  if (t instanceof IDL.NullClass || t instanceof IDL.ReservedClass) return null;
  if (t instanceof IDL.PrincipalClass || t instanceof IDL.ServiceClass) return (value as Principal).toText();
  if (t instanceof IDL.FuncClass) {
    const [p, m] = value as [Principal, string];
    return { principal: p.toText(), method: m };
  }
  if (t instanceof IDL.OptClass) {
    const v = value as [] | [unknown];
    return v.length === 0 ? null : toJson(t._type, v[0]);
  }
  if (t instanceof IDL.VecClass) {
    const inner = unwrap(t._type);
    if (inner instanceof IDL.FixedNatClass && inner._bits === 8) return Buffer.from(Uint8Array.from(value as ArrayLike<number>)).toString('hex');
    return Array.from(value as ArrayLike<unknown>, (x) => toJson(t._type, x));
  }
  if (t instanceof IDL.TupleClass) {
    const types = t._fields.map(([, ft]) => ft);
    return (value as unknown[]).map((x, i) => toJson(types[i]!, x));
  }
  if (t instanceof IDL.RecordClass) {
    const v = value as Record<string, unknown>;
    const out: Record<string, Json> = {};
    for (const [k, ft] of t._fields) out[/^_\d+_$/.test(k) ? String(idlLabelToId(k)) : k] = toJson(ft, v[k]);
    return out;
  }
  if (t instanceof IDL.VariantClass) {
    const [key, inner] = Object.entries(value as Record<string, unknown>)[0]!;
    const ft = t._fields.find(([k]) => k === key)?.[1] ?? IDL.Null;
    return { [/^_\d+_$/.test(key) ? String(idlLabelToId(key)) : key]: toJson(ft, inner) };
  }
  return null;
}

export function valuesToJson(types: readonly IDL.Type[], values: readonly unknown[]): Json[] {
  return values.map((v, i) => toJson(types[i]!, v));
}
