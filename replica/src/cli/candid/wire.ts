// The types a Candid message carries in its own type table (Candid spec, "Binary format"), as
// agent IDL types: replies can be decoded and shown without the service description. Field
// names are lost on the wire (only their hashes travel), so fields show as numeric ids.

import type { IDL } from '@icp-sdk/core/candid';
import { CandidTypeError } from './errors.js';
import { TypeEnvironment, type FieldLabel, type TypeNode } from './did.js';

const PRIMITIVE_OPCODES: Readonly<Record<number, string>> = {
  [-1]: 'null',
  [-2]: 'bool',
  [-3]: 'nat',
  [-4]: 'int',
  [-5]: 'nat8',
  [-6]: 'nat16',
  [-7]: 'nat32',
  [-8]: 'nat64',
  [-9]: 'int8',
  [-10]: 'int16',
  [-11]: 'int32',
  [-12]: 'int64',
  [-13]: 'float32',
  [-14]: 'float64',
  [-15]: 'text',
  [-16]: 'reserved',
  [-17]: 'empty',
  [-24]: 'principal',
};
const ANNOTATIONS: Readonly<Record<number, string>> = { 1: 'query', 2: 'oneway', 3: 'composite_query' };

class Reader {
  #pos = 0;
  constructor(private readonly bytes: Uint8Array) {}

  byte(): number {
    if (this.#pos >= this.bytes.length) throw new CandidTypeError('Candid message ends inside its type table');
    return this.bytes[this.#pos++]!;
  }

  uleb(): number {
    let result = 0n;
    let shift = 0n;
    for (;;) {
      const b = this.byte();
      result |= BigInt(b & 0x7f) << shift;
      shift += 7n;
      if ((b & 0x80) === 0) break;
    }
    if (result > BigInt(Number.MAX_SAFE_INTEGER)) throw new CandidTypeError('Candid type table value out of range');
    return Number(result);
  }

  sleb(): number {
    let result = 0n;
    let shift = 0n;
    let b: number;
    do {
      b = this.byte();
      result |= BigInt(b & 0x7f) << shift;
      shift += 7n;
    } while (b & 0x80);
    if (b & 0x40) result -= 1n << shift;
    return Number(result);
  }

  take(n: number): Uint8Array {
    if (this.#pos + n > this.bytes.length) throw new CandidTypeError('Candid message ends inside its type table');
    const out = this.bytes.subarray(this.#pos, this.#pos + n);
    this.#pos += n;
    return out;
  }
}

/** The argument types of a Candid message, from its type table. */
export function typesOfMessage(message: Uint8Array): IDL.Type[] {
  const r = new Reader(message);
  const magic = new TextDecoder().decode(r.take(4));
  if (magic !== 'DIDL') throw new CandidTypeError('not a Candid message (no DIDL magic)');
  const env = new TypeEnvironment();
  const ref = (code: number): TypeNode => {
    if (code >= 0) return { kind: 'ref', name: `t${code}` };
    const prim = PRIMITIVE_OPCODES[code];
    if (prim === undefined) throw new CandidTypeError(`unknown Candid type opcode ${code}`);
    return { kind: 'ref', name: prim };
  };
  const fields = (): { label: FieldLabel; type: TypeNode }[] => {
    const n = r.uleb();
    const out: { label: FieldLabel; type: TypeNode }[] = [];
    for (let i = 0; i < n; i++) out.push({ label: { id: r.uleb() }, type: ref(r.sleb()) });
    return out;
  };
  const count = r.uleb();
  for (let i = 0; i < count; i++) {
    const op = r.sleb();
    let node: TypeNode;
    switch (op) {
      case -18:
        node = { kind: 'opt', inner: ref(r.sleb()) };
        break;
      case -19:
        node = { kind: 'vec', inner: ref(r.sleb()) };
        break;
      case -20:
        node = { kind: 'record', fields: fields() };
        break;
      case -21:
        node = { kind: 'variant', fields: fields() };
        break;
      case -22: {
        const args = Array.from({ length: r.uleb() }, () => ref(r.sleb()));
        const results = Array.from({ length: r.uleb() }, () => ref(r.sleb()));
        const annotations = Array.from(r.take(r.uleb()), (a) => ANNOTATIONS[a] ?? 'query');
        node = { kind: 'func', func: { args, results, annotations } };
        break;
      }
      case -23: {
        const n = r.uleb();
        const methods: { name: string; type: TypeNode }[] = [];
        for (let j = 0; j < n; j++) methods.push({ name: new TextDecoder().decode(r.take(r.uleb())), type: ref(r.sleb()) });
        node = { kind: 'service', methods };
        break;
      }
      default:
        throw new CandidTypeError(`unsupported Candid type table entry ${op}`);
    }
    env.define(`t${i}`, node);
  }
  const args = r.uleb();
  return Array.from({ length: args }, () => env.resolve(ref(r.sleb())));
}
