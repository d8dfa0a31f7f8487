// Candid service descriptions (`.did`, the `candid:service` metadata) to agent IDL types:
// type definitions (recursive ones through `IDL.Rec`), the service and its init arguments.
// Candid spec, "Type definitions"; `import` is not supported (metadata never has it).

import { IDL } from '@icp-sdk/core/candid';
import { CandidSyntaxError, CandidTypeError } from './errors.js';
import { TokenStream } from './lexer.js';

/** Field labels: a name, or a numeric id (`0 : nat`, or the position in a tuple). */
export type FieldLabel = { readonly name: string } | { readonly id: number };

export type TypeNode =
  | { readonly kind: 'ref'; readonly name: string }
  | { readonly kind: 'opt' | 'vec'; readonly inner: TypeNode }
  | { readonly kind: 'record' | 'variant'; readonly fields: readonly { readonly label: FieldLabel; readonly type: TypeNode }[] }
  | { readonly kind: 'func'; readonly func: FuncNode }
  | { readonly kind: 'service'; readonly methods: readonly { readonly name: string; readonly type: TypeNode }[] };

export interface FuncNode {
  readonly args: readonly TypeNode[];
  readonly results: readonly TypeNode[];
  readonly annotations: readonly string[];
}

export const PRIMITIVES: Readonly<Record<string, IDL.Type>> = {
  nat: IDL.Nat,
  nat8: IDL.Nat8,
  nat16: IDL.Nat16,
  nat32: IDL.Nat32,
  nat64: IDL.Nat64,
  int: IDL.Int,
  int8: IDL.Int8,
  int16: IDL.Int16,
  int32: IDL.Int32,
  int64: IDL.Int64,
  float32: IDL.Float32,
  float64: IDL.Float64,
  bool: IDL.Bool,
  text: IDL.Text,
  null: IDL.Null,
  reserved: IDL.Reserved,
  empty: IDL.Empty,
  principal: IDL.Principal,
};

const FUNC_ANNOTATIONS = new Set(['query', 'oneway', 'composite_query']);

// ---- parsing -----------------------------------------------------------------------------------

export function parseTypeNode(ts: TokenStream): TypeNode {
  const t = ts.peek();
  if (t.kind !== 'id') return ts.fail('expected a type');
  switch (t.value) {
    case 'opt':
    case 'vec':
      ts.next();
      return { kind: t.value, inner: parseTypeNode(ts) };
    case 'blob':
      ts.next();
      return { kind: 'vec', inner: { kind: 'ref', name: 'nat8' } };
    case 'record':
    case 'variant':
      ts.next();
      return { kind: t.value, fields: parseFields(ts, t.value) };
    case 'func':
      ts.next();
      return { kind: 'func', func: parseFunc(ts) };
    case 'service':
      ts.next();
      return { kind: 'service', methods: parseMethods(ts) };
    default:
      ts.next();
      return { kind: 'ref', name: t.value };
  }
}

function parseFields(ts: TokenStream, kind: 'record' | 'variant'): { label: FieldLabel; type: TypeNode }[] {
  ts.expectSym('{');
  const fields: { label: FieldLabel; type: TypeNode }[] = [];
  let nextId = 0;
  while (!ts.acceptSym('}')) {
    const t = ts.peek();
    let label: FieldLabel;
    let type: TypeNode;
    if (t.kind === 'nat' && ts.isSym(':', 1)) {
      ts.next();
      ts.next();
      label = { id: Number(BigInt(t.value)) };
      type = parseTypeNode(ts);
    } else if ((t.kind === 'id' || t.kind === 'text') && ts.isSym(':', 1)) {
      label = { name: ts.expectName() };
      ts.next();
      type = parseTypeNode(ts);
    } else if (kind === 'variant' && (t.kind === 'id' || t.kind === 'text')) {
      // `variant { a; b }`: a tag of type null.
      label = { name: ts.expectName() };
      type = { kind: 'ref', name: 'null' };
    } else {
      // `record { nat; text }`: positional fields get the next ids.
      label = { id: nextId };
      type = parseTypeNode(ts);
    }
    if ('id' in label) nextId = label.id + 1;
    fields.push({ label, type });
    if (!ts.acceptSym(';')) {
      ts.expectSym('}');
      break;
    }
  }
  return fields;
}

function parseTuple(ts: TokenStream): TypeNode[] {
  ts.expectSym('(');
  const types: TypeNode[] = [];
  while (!ts.acceptSym(')')) {
    // `(name : type)`: argument names are documentation only.
    const t = ts.peek();
    if ((t.kind === 'id' || t.kind === 'text') && ts.isSym(':', 1)) {
      ts.next();
      ts.next();
    }
    types.push(parseTypeNode(ts));
    if (!ts.acceptSym(',')) {
      ts.expectSym(')');
      break;
    }
  }
  return types;
}

function parseFunc(ts: TokenStream): FuncNode {
  const args = parseTuple(ts);
  ts.expectSym('->');
  const results = parseTuple(ts);
  const annotations: string[] = [];
  while (ts.isId() && FUNC_ANNOTATIONS.has((ts.peek() as { value: string }).value)) annotations.push(ts.expectId());
  return { args, results, annotations };
}

function parseMethods(ts: TokenStream): { name: string; type: TypeNode }[] {
  ts.expectSym('{');
  const methods: { name: string; type: TypeNode }[] = [];
  while (!ts.acceptSym('}')) {
    const name = ts.expectName();
    ts.expectSym(':');
    const type: TypeNode = ts.isSym('(') ? { kind: 'func', func: parseFunc(ts) } : { kind: 'ref', name: ts.expectId() };
    methods.push({ name, type });
    if (!ts.acceptSym(';')) {
      ts.expectSym('}');
      break;
    }
  }
  return methods;
}

// ---- resolution to IDL -------------------------------------------------------------------------

/** Named types of a description, resolved lazily; cycles go through `IDL.Rec`. */
export class TypeEnvironment {
  readonly #defs = new Map<string, TypeNode>();
  readonly #resolved = new Map<string, IDL.Type>();
  readonly #recs = new Map<string, IDL.RecClass>();
  readonly #resolving = new Set<string>();

  define(name: string, node: TypeNode): void {
    if (this.#defs.has(name)) throw new CandidTypeError(`type ${name} is defined twice`);
    this.#defs.set(name, node);
  }

  has(name: string): boolean {
    return this.#defs.has(name);
  }

  /** A named type, or a primitive. */
  named(name: string): IDL.Type {
    const prim = PRIMITIVES[name];
    if (prim !== undefined && !this.#defs.has(name)) return prim;
    const done = this.#resolved.get(name);
    if (done) return done;
    const def = this.#defs.get(name);
    if (def === undefined) throw new CandidTypeError(`unknown type ${name}`);
    if (this.#resolving.has(name)) {
      let rec = this.#recs.get(name);
      if (rec === undefined) {
        rec = IDL.Rec();
        this.#recs.set(name, rec);
      }
      return rec;
    }
    this.#resolving.add(name);
    const type = this.resolve(def);
    this.#resolving.delete(name);
    const rec = this.#recs.get(name);
    if (rec !== undefined) {
      if (!(type instanceof IDL.ConstructType)) throw new CandidTypeError(`type ${name} is defined in terms of itself`);
      rec.fill(type);
      this.#resolved.set(name, rec);
      return rec;
    }
    this.#resolved.set(name, type);
    return type;
  }

  resolve(node: TypeNode): IDL.Type {
    switch (node.kind) {
      case 'ref':
        return this.named(node.name);
      case 'opt':
        return IDL.Opt(this.resolve(node.inner));
      case 'vec':
        return IDL.Vec(this.resolve(node.inner));
      case 'record': {
        const ids = node.fields.map((f) => f.label);
        // `record { T0; T1 }` (ids 0..n-1, no names) is a tuple: agents use JS arrays for it.
        if (ids.length > 0 && ids.every((l, i) => 'id' in l && l.id === i)) {
          return IDL.Tuple(...node.fields.map((f) => this.resolve(f.type)));
        }
        return IDL.Record(this.#fieldsOf(node.fields));
      }
      case 'variant':
        return IDL.Variant(this.#fieldsOf(node.fields));
      case 'func':
        return this.func(node.func);
      case 'service': {
        const methods: Record<string, IDL.FuncClass> = {};
        for (const m of node.methods) methods[m.name] = this.#method(m.type);
        return IDL.Service(methods);
      }
    }
  }

  func(f: FuncNode): IDL.FuncClass {
    return IDL.Func(
      f.args.map((a) => this.resolve(a)) as [IDL.Type, ...IDL.Type[]],
      f.results.map((r) => this.resolve(r)) as [IDL.Type, ...IDL.Type[]],
      [...f.annotations],
    );
  }

  #method(node: TypeNode): IDL.FuncClass {
    let t = this.resolve(node);
    if (t instanceof IDL.RecClass) t = t.getType()!;
    if (!(t instanceof IDL.FuncClass)) throw new CandidTypeError('a service method must have a function type');
    return t;
  }

  #fieldsOf(fields: readonly { label: FieldLabel; type: TypeNode }[]): Record<string, IDL.Type> {
    const out: Record<string, IDL.Type> = {};
    for (const f of fields) {
      const key = 'name' in f.label ? f.label.name : `_${f.label.id}_`;
      if (key in out) throw new CandidTypeError(`field ${key} appears twice`);
      out[key] = this.resolve(f.type);
    }
    return out;
  }
}

/** A parsed service description. */
export interface ServiceDescription {
  readonly env: TypeEnvironment;
  /** The actor, if the description has one. */
  readonly service?: IDL.ServiceClass;
  /** Init arguments of `service : (args) -> {...}` (a class), if any. */
  readonly init?: IDL.Type[];
}

/** Parses a `.did` text: `type` definitions and an optional `service`. */
export function parseDid(source: string): ServiceDescription {
  const ts = TokenStream.of(source);
  const env = new TypeEnvironment();
  let serviceNode: TypeNode | undefined;
  let initNodes: TypeNode[] | undefined;
  while (!ts.atEnd()) {
    if (ts.acceptId('type')) {
      const name = ts.expectName();
      ts.expectSym('=');
      env.define(name, parseTypeNode(ts));
    } else if (ts.acceptId('import')) {
      throw new CandidSyntaxError('import is not supported: pass a self-contained .did', source, ts.peek().at);
    } else if (ts.acceptId('service')) {
      if (ts.isId() && !ts.isId('service')) ts.next(); // optional service name
      ts.expectSym(':');
      if (ts.isSym('(')) {
        initNodes = parseTuple(ts);
        ts.expectSym('->');
      }
      serviceNode = ts.isSym('{') ? { kind: 'service', methods: parseMethods(ts) } : { kind: 'ref', name: ts.expectId() };
    } else {
      ts.fail("expected 'type' or 'service'");
    }
    ts.acceptSym(';');
  }
  let service: IDL.ServiceClass | undefined;
  if (serviceNode) {
    let t = env.resolve(serviceNode);
    if (t instanceof IDL.RecClass) t = t.getType()!;
    if (!(t instanceof IDL.ServiceClass)) throw new CandidTypeError('the actor of a service description must be a service type');
    service = t;
  }
  return {
    env,
    ...(service ? { service } : {}),
    ...(initNodes ? { init: initNodes.map((n) => env.resolve(n)) } : {}),
  };
}

/** A type in Candid syntax, e.g. `vec record { nat; text }`, resolved in `env`. */
export function parseType(source: string, env = new TypeEnvironment()): IDL.Type {
  const ts = TokenStream.of(source);
  const type = env.resolve(parseTypeNode(ts));
  if (!ts.atEnd()) ts.fail('unexpected text after the type');
  return type;
}

/** An argument type sequence in Candid syntax, e.g. `(nat, opt text)` as in `candid:args`. */
export function parseArgTypes(source: string, env = new TypeEnvironment()): IDL.Type[] {
  const ts = TokenStream.of(source);
  const types = parseTuple(ts).map((n) => env.resolve(n));
  if (!ts.atEnd()) ts.fail('unexpected text after the argument types');
  return types;
}

/** The methods of a service with their function types. */
export function methodsOf(service: IDL.ServiceClass): Map<string, IDL.FuncClass> {
  return new Map(service._fields);
}
