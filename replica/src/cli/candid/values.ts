// Candid values in text form (Candid spec, "Values"): `(42, "hi", record { a = opt true })` to
// the JavaScript values agent IDL encodes. With the expected types (from the service
// description) values are checked and converted against them, with the spec's coercions (a
// value where an `opt` is expected, `blob` for `vec nat8`); without, types are inferred
// (`nat` for 42, `int` for -1, `float64` for 1.5, ...) or taken from annotations `(42 : nat8)`.

import { IDL, idlLabelToId } from '@icp-sdk/core/candid';
import { Principal } from '@icp-sdk/core/principal';
import { parseTypeNode, TypeEnvironment, type FieldLabel } from './did.js';
import { CandidTypeError } from './errors.js';
import { decodeUtf8, TokenStream } from './lexer.js';

export type ValueNode =
  | { readonly kind: 'number'; readonly text: string; readonly float: boolean; readonly at: number }
  | { readonly kind: 'text' | 'blob'; readonly bytes: Uint8Array; readonly at: number }
  | { readonly kind: 'bool'; readonly value: boolean; readonly at: number }
  | { readonly kind: 'null'; readonly at: number }
  | { readonly kind: 'opt'; readonly value: ValueNode; readonly at: number }
  | { readonly kind: 'vec'; readonly items: readonly ValueNode[]; readonly at: number }
  | { readonly kind: 'record'; readonly fields: readonly FieldValue[]; readonly at: number }
  | { readonly kind: 'variant'; readonly field: FieldValue; readonly at: number }
  | { readonly kind: 'principal' | 'service'; readonly text: string; readonly at: number }
  | { readonly kind: 'func'; readonly principal: string; readonly method: string; readonly at: number }
  | { readonly kind: 'annotated'; readonly value: ValueNode; readonly type: IDL.Type; readonly at: number };

export interface FieldValue {
  readonly label: FieldLabel;
  readonly value: ValueNode;
}

// ---- parsing -----------------------------------------------------------------------------------

function parseValue(ts: TokenStream, env: TypeEnvironment): ValueNode {
  const t = ts.peek();
  const at = t.at;
  if (t.kind === 'sym' && (t.value === '-' || t.value === '+')) {
    ts.next();
    const n = ts.next();
    if (n.kind !== 'nat' && n.kind !== 'float') ts.fail('expected a number after the sign', at);
    return { kind: 'number', text: `${t.value === '-' ? '-' : ''}${(n as { value: string }).value}`, float: n.kind === 'float', at };
  }
  if (t.kind === 'nat' || t.kind === 'float') {
    ts.next();
    return { kind: 'number', text: t.value, float: t.kind === 'float', at };
  }
  if (t.kind === 'text') {
    ts.next();
    return { kind: 'text', bytes: t.value, at };
  }
  if (t.kind === 'sym' && t.value === '(') {
    ts.next();
    const v = parseAnnotated(ts, env);
    ts.expectSym(')');
    return v;
  }
  if (t.kind !== 'id') return ts.fail('expected a value');
  ts.next();
  switch (t.value) {
    case 'true':
    case 'false':
      return { kind: 'bool', value: t.value === 'true', at };
    case 'null':
      return { kind: 'null', at };
    case 'opt':
      return { kind: 'opt', value: parseValue(ts, env), at };
    case 'vec': {
      ts.expectSym('{');
      const items: ValueNode[] = [];
      while (!ts.acceptSym('}')) {
        items.push(parseAnnotated(ts, env));
        if (!ts.acceptSym(';')) {
          ts.expectSym('}');
          break;
        }
      }
      return { kind: 'vec', items, at };
    }
    case 'blob': {
      const b = ts.next();
      if (b.kind !== 'text') ts.fail('expected a text literal after blob', b.at);
      return { kind: 'blob', bytes: (b as { value: Uint8Array }).value, at };
    }
    case 'record': {
      ts.expectSym('{');
      const fields: FieldValue[] = [];
      let nextId = 0;
      while (!ts.acceptSym('}')) {
        const f = parseField(ts, env, nextId, false);
        if ('id' in f.label) nextId = f.label.id + 1;
        fields.push(f);
        if (!ts.acceptSym(';')) {
          ts.expectSym('}');
          break;
        }
      }
      return { kind: 'record', fields, at };
    }
    case 'variant': {
      ts.expectSym('{');
      const field = parseField(ts, env, 0, true);
      ts.acceptSym(';');
      ts.expectSym('}');
      return { kind: 'variant', field, at };
    }
    case 'principal':
    case 'service': {
      const p = ts.next();
      if (p.kind !== 'text') ts.fail(`expected a text literal after ${t.value}`, p.at);
      return { kind: t.value, text: decodeUtf8((p as { value: Uint8Array }).value, ts), at };
    }
    case 'func': {
      const p = ts.next();
      if (p.kind !== 'text') ts.fail('expected a text literal after func', p.at);
      ts.expectSym('.');
      return { kind: 'func', principal: decodeUtf8((p as { value: Uint8Array }).value, ts), method: ts.expectName(), at };
    }
    default:
      return ts.fail(`unexpected '${t.value}'`, at);
  }
}

function parseField(ts: TokenStream, env: TypeEnvironment, nextId: number, variant: boolean): FieldValue {
  const t = ts.peek();
  if (t.kind === 'nat' && ts.isSym('=', 1)) {
    ts.next();
    ts.next();
    return { label: { id: Number(BigInt(t.value)) }, value: parseAnnotated(ts, env) };
  }
  if ((t.kind === 'id' || t.kind === 'text') && ts.isSym('=', 1)) {
    const name = ts.expectName();
    ts.next();
    return { label: { name }, value: parseAnnotated(ts, env) };
  }
  if (variant && (t.kind === 'id' || t.kind === 'text')) {
    // `variant { ok }`: a tag with the null value.
    return { label: { name: ts.expectName() }, value: { kind: 'null', at: t.at } };
  }
  return { label: { id: nextId }, value: parseAnnotated(ts, env) };
}

function parseAnnotated(ts: TokenStream, env: TypeEnvironment): ValueNode {
  const at = ts.peek().at;
  const value = parseValue(ts, env);
  if (!ts.acceptSym(':')) return value;
  return { kind: 'annotated', value, type: env.resolve(parseTypeNode(ts)), at };
}

/** Parses an argument sequence `(v1, v2, ...)`; a bare single value is taken as `(value)`. */
export function parseValues(source: string, env = new TypeEnvironment()): ValueNode[] {
  const text = source.trim();
  if (text === '') return [];
  const ts = TokenStream.of(text);
  const values: ValueNode[] = [];
  if (ts.isSym('(') && closesAtEnd(ts)) {
    ts.next();
    while (!ts.acceptSym(')')) {
      values.push(parseAnnotated(ts, env));
      if (!ts.acceptSym(',')) {
        ts.expectSym(')');
        break;
      }
    }
  } else {
    values.push(parseAnnotated(ts, env));
  }
  if (!ts.atEnd()) ts.fail('unexpected text after the values');
  return values;
}

/** Whether the `(` at the cursor is closed by the last token (an argument list, not `(v) : t`). */
function closesAtEnd(ts: TokenStream): boolean {
  let depth = 0;
  for (let i = 0; ; i++) {
    const t = ts.peek(i);
    if (t.kind === 'eof') return false;
    if (t.kind === 'sym' && (t.value === '(' || t.value === '{')) depth++;
    if (t.kind === 'sym' && (t.value === ')' || t.value === '}')) depth--;
    if (depth === 0) return ts.peek(i + 1).kind === 'eof';
  }
}

// ---- conversion --------------------------------------------------------------------------------

function labelId(label: FieldLabel): number {
  return 'id' in label ? label.id : idlLabelToId(label.name);
}

function unwrap(type: IDL.Type): IDL.Type {
  let t = type;
  while (t instanceof IDL.RecClass) {
    const inner = t.getType();
    if (!inner) throw new CandidTypeError('recursive type used before it was defined');
    t = inner;
  }
  return t;
}

function show(v: ValueNode): string {
  return v.kind === 'number' ? v.text : v.kind;
}

function integer(v: ValueNode, type: IDL.Type): bigint {
  if (v.kind !== 'number' || v.float) throw new CandidTypeError(`expected ${type.display()}, got ${show(v)}`);
  return BigInt(v.text);
}

function inRange(n: bigint, lo: bigint, hi: bigint, type: IDL.Type): bigint {
  if (n < lo || n > hi) throw new CandidTypeError(`${n} is out of range for ${type.display()}`);
  return n;
}

/** Converts a parsed value to the JS value `type` encodes, checking it fits. */
export function valueOf(v: ValueNode, expected: IDL.Type): unknown {
  const type = unwrap(expected);
  // The expected type decides; an annotation only decides when types are inferred.
  if (v.kind === 'annotated') return valueOf(v.value, type);
  if (type instanceof IDL.OptClass) {
    if (v.kind === 'null') return [];
    if (v.kind === 'opt') return [valueOf(v.value, type._type)];
    // Spec coercion: `t <: opt t` for a value that is not null, opt or reserved.
    return [valueOf(v, type._type)];
  }
  if (type instanceof IDL.NatClass) {
    const n = integer(v, type);
    if (n < 0n) throw new CandidTypeError(`${n} is not a nat`);
    return n;
  }
  if (type instanceof IDL.IntClass) return integer(v, type);
  if (type instanceof IDL.FixedNatClass) {
    const n = inRange(integer(v, type), 0n, (1n << BigInt(type._bits)) - 1n, type);
    return type._bits <= 32 ? Number(n) : n;
  }
  if (type instanceof IDL.FixedIntClass) {
    const half = 1n << BigInt(type._bits - 1);
    const n = inRange(integer(v, type), -half, half - 1n, type);
    return type._bits <= 32 ? Number(n) : n;
  }
  if (type instanceof IDL.FloatClass) {
    if (v.kind !== 'number') throw new CandidTypeError(`expected ${type.display()}, got ${show(v)}`);
    return Number(v.text);
  }
  if (type instanceof IDL.TextClass) {
    if (v.kind !== 'text') throw new CandidTypeError(`expected text, got ${show(v)}`);
    return decodeUtf8(v.bytes);
  }
  if (type instanceof IDL.BoolClass) {
    if (v.kind !== 'bool') throw new CandidTypeError(`expected bool, got ${show(v)}`);
    return v.value;
  }
  if (type instanceof IDL.NullClass || type instanceof IDL.ReservedClass) {
    if (type instanceof IDL.NullClass && v.kind !== 'null') throw new CandidTypeError(`expected null, got ${show(v)}`);
    return null;
  }
  if (type instanceof IDL.PrincipalClass) {
    if (v.kind !== 'principal') throw new CandidTypeError(`expected principal "…", got ${show(v)}`);
    return Principal.fromText(v.text);
  }
  if (type instanceof IDL.ServiceClass) {
    if (v.kind !== 'service' && v.kind !== 'principal') throw new CandidTypeError(`expected service "…", got ${show(v)}`);
    return Principal.fromText(v.text);
  }
  if (type instanceof IDL.FuncClass) {
    if (v.kind !== 'func') throw new CandidTypeError(`expected func "…".method, got ${show(v)}`);
    return [Principal.fromText(v.principal), v.method];
  }
  if (type instanceof IDL.VecClass) {
    const inner = unwrap(type._type);
    const bytes = inner instanceof IDL.FixedNatClass && inner._bits === 8;
    if (v.kind === 'blob') {
      if (!bytes) throw new CandidTypeError(`a blob is a vec nat8, not ${type.display()}`);
      return v.bytes;
    }
    if (v.kind !== 'vec') throw new CandidTypeError(`expected ${type.display()}, got ${show(v)}`);
    const items = v.items.map((item) => valueOf(item, type._type));
    return bytes ? Uint8Array.from(items as number[]) : items;
  }
  if (type instanceof IDL.TupleClass) {
    if (v.kind !== 'record') throw new CandidTypeError(`expected ${type.display()}, got ${show(v)}`);
    const fields = tupleComponents(type);
    return fields.map((t, i) => {
      const f = v.fields.find((x) => labelId(x.label) === i);
      if (f === undefined) {
        if (unwrap(t) instanceof IDL.OptClass) return [];
        throw new CandidTypeError(`record is missing field ${i}`);
      }
      return valueOf(f.value, t);
    });
  }
  if (type instanceof IDL.RecordClass) {
    if (v.kind !== 'record') throw new CandidTypeError(`expected ${type.display()}, got ${show(v)}`);
    // Unknown fields first: a misspelt name is the likelier mistake than a missing field.
    for (const f of v.fields) {
      if (!type._fields.some(([key]) => idlLabelToId(key) === labelId(f.label))) {
        throw new CandidTypeError(`unexpected record field ${'name' in f.label ? f.label.name : f.label.id}`);
      }
    }
    const out: Record<string, unknown> = {};
    for (const [key, t] of type._fields) {
      const f = v.fields.find((x) => labelId(x.label) === idlLabelToId(key));
      if (f === undefined) {
        const u = unwrap(t);
        if (u instanceof IDL.OptClass) out[key] = [];
        else if (u instanceof IDL.NullClass || u instanceof IDL.ReservedClass) out[key] = null;
        else throw new CandidTypeError(`record is missing field ${/^_\d+_$/.test(key) ? key.slice(1, -1) : key}`);
        continue;
      }
      out[key] = valueOf(f.value, t);
    }
    return out;
  }
  if (type instanceof IDL.VariantClass) {
    if (v.kind !== 'variant') throw new CandidTypeError(`expected ${type.display()}, got ${show(v)}`);
    const entry = type._fields.find(([key]) => idlLabelToId(key) === labelId(v.field.label));
    if (entry === undefined) {
      throw new CandidTypeError(`variant has no tag ${'name' in v.field.label ? v.field.label.name : v.field.label.id}`);
    }
    return { [entry[0]]: valueOf(v.field.value, entry[1]) };
  }
  throw new CandidTypeError(`values of type ${type.display()} cannot be written`);
}

/** The components of a tuple type (the agent keeps them protected). */
export function tupleComponents(type: IDL.TupleClass<unknown[]>): IDL.Type[] {
  return type._fields.map(([, t]) => t);
}

/** The type a value has on its own: literals, constructors and annotations. */
export function inferType(v: ValueNode): IDL.Type {
  switch (v.kind) {
    case 'annotated':
      return v.type;
    case 'number':
      return v.float ? IDL.Float64 : v.text.startsWith('-') ? IDL.Int : IDL.Nat;
    case 'text':
      return IDL.Text;
    case 'blob':
      return IDL.Vec(IDL.Nat8);
    case 'bool':
      return IDL.Bool;
    case 'null':
      return IDL.Null;
    case 'principal':
      return IDL.Principal;
    case 'service':
      return IDL.Service({});
    case 'func':
      return IDL.Func([], []);
    case 'opt':
      return IDL.Opt(inferType(v.value));
    case 'vec':
      return IDL.Vec(v.items.length > 0 ? inferType(v.items[0]!) : IDL.Empty);
    case 'record': {
      if (v.fields.length > 0 && v.fields.every((f, i) => 'id' in f.label && f.label.id === i)) {
        return IDL.Tuple(...v.fields.map((f) => inferType(f.value)));
      }
      const fields: Record<string, IDL.Type> = {};
      for (const f of v.fields) fields['name' in f.label ? f.label.name : `_${f.label.id}_`] = inferType(f.value);
      return IDL.Record(fields);
    }
    case 'variant':
      return IDL.Variant({ ['name' in v.field.label ? v.field.label.name : `_${v.field.label.id}_`]: inferType(v.field.value) });
  }
}

/**
 * Candid text arguments to bytes. With `types` the values must fit them (missing trailing `opt`
 * arguments are `null`); without, their types are inferred.
 */
export function encodeArgs(source: string, types?: readonly IDL.Type[], env?: TypeEnvironment): { types: IDL.Type[]; bytes: Uint8Array } {
  const values = parseValues(source, env);
  if (types === undefined) {
    const inferred = values.map(inferType);
    return { types: inferred, bytes: new Uint8Array(IDL.encode(inferred, values.map((v, i) => valueOf(v, inferred[i]!)))) };
  }
  if (values.length > types.length) {
    throw new CandidTypeError(`expected ${types.length} argument${types.length === 1 ? '' : 's'}, got ${values.length}`);
  }
  const js = types.map((t, i) => {
    const v = values[i];
    if (v !== undefined) return valueOf(v, t);
    const u = unwrap(t);
    if (u instanceof IDL.OptClass) return [];
    if (u instanceof IDL.NullClass || u instanceof IDL.ReservedClass) return null;
    throw new CandidTypeError(`missing argument ${i + 1} of type ${t.display()}`);
  });
  return { types: [...types], bytes: new Uint8Array(IDL.encode([...types], js)) };
}
