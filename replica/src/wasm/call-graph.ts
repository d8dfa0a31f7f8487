// Which defined functions can recurse: those on a cycle of the module's call graph. Only their
// frames need the call-depth limit (instrument.ts): any other function can appear at most once on
// a stack (a second frame would make a cycle), so the stack stays bounded without counting it.
//
// Edges: `call f` to a defined function (imports are the host, which never calls back into the
// module), and `call_indirect (type t)` to every function that could be in a table with a type
// equal to t: those listed in element segments or taken by `ref.func` in code or a global.
import { readFcInstruction, readLocals, skipImmediates } from './code.js';
import { IMM_PREFIX_FC, IMMEDIATES, OP } from './opcodes.js';
import type { ParsedModule } from './parse.js';
import { WasmReader } from './reader.js';

export interface CallGraph {
  /** recursive[f] is 1 when defined function f (0-based, imports excluded) lies on a call cycle. */
  readonly recursive: Uint8Array;
  /** taken[f] is 1 when defined function f can become a reference (element segment, ref.func). */
  readonly taken: Uint8Array;
  /** takenImports[i] is 1 when imported function i can become a reference. */
  readonly takenImports: Uint8Array;
}

export function analyzeCalls(m: ParsedModule): CallGraph {
  const imported = m.importedFunctionTypes.length;
  const n = m.functionTypes.length;
  const typeKey = (t: number) => {
    const ft = m.types[t]!;
    return `${ft.params.join(',')}>${ft.results.join(',')}`;
  };
  // One hub node per indirectly callable signature: call_indirect → hub → every function of it.
  const hubs = new Map<string, number>();
  const hubOf = (key: string) => {
    let hub = hubs.get(key);
    if (hub === undefined) {
      hub = n + hubs.size;
      hubs.set(key, hub);
    }
    return hub;
  };
  const taken = new Uint8Array(n);
  const takenImports = new Uint8Array(imported);
  const take = (f: number) => {
    if (f < imported) takenImports[f] = 1;
    else if (f - imported < n) taken[f - imported] = 1;
  };
  for (const seg of m.elements) {
    if (seg.funcs !== undefined) for (const f of seg.funcs) take(f);
    else for (const e of seg.exprs!) if (e.op === OP.ref_func) take(e.value);
  }
  for (const g of m.globals) if (g.init.op === OP.ref_func) take(g.init.value);

  const from: number[] = [];
  const to: number[] = [];
  const r = new WasmReader(m.bytes);
  for (let f = 0; f < n; f++) {
    const funcIndex = imported + f;
    r.pos = m.bodies[2 * f]!;
    r.end = m.bodies[2 * f + 1]!;
    readLocals(r, Infinity, funcIndex);
    while (r.pos < r.end) {
      const at = r.pos;
      const op = r.u8();
      const kind = IMMEDIATES[op]!;
      if (kind === IMM_PREFIX_FC) {
        readFcInstruction(r, at, funcIndex);
      } else if (op === OP.call) {
        const callee = r.u32();
        if (callee >= imported) {
          from.push(f);
          to.push(callee - imported);
        }
      } else if (op === OP.call_indirect) {
        const type = r.u32();
        r.u32();
        from.push(f);
        to.push(hubOf(typeKey(type)));
      } else if (op === OP.ref_func) {
        take(r.u32());
      } else {
        skipImmediates(r, op, kind, at, funcIndex);
      }
    }
  }
  for (let f = 0; f < n; f++) {
    if (taken[f] === 0) continue;
    const hub = hubs.get(typeKey(m.functionTypes[f]!));
    if (hub === undefined) continue;
    from.push(hub);
    to.push(f);
  }
  return { recursive: onCycle(n, n + hubs.size, from, to), taken, takenImports };
}

/** Marks the first `n` of `nodes` nodes that lie on a cycle (Tarjan's SCCs, iterative). */
function onCycle(n: number, nodes: number, from: number[], to: number[]): Uint8Array {
  // Adjacency in CSR form.
  const start = new Uint32Array(nodes + 1);
  for (const a of from) start[a + 1]!++;
  for (let i = 0; i < nodes; i++) start[i + 1]! += start[i]!;
  const adj = new Uint32Array(from.length);
  const fill = start.slice(0, nodes);
  const selfLoop = new Uint8Array(nodes);
  for (let e = 0; e < from.length; e++) {
    const a = from[e]!;
    adj[fill[a]!++] = to[e]!;
    if (a === to[e]) selfLoop[a] = 1;
  }
  const index = new Int32Array(nodes).fill(-1);
  const low = new Uint32Array(nodes);
  const onStack = new Uint8Array(nodes);
  const stack: number[] = [];
  const callStack: number[] = [];
  const edgeAt = new Uint32Array(nodes);
  const result = new Uint8Array(n);
  let next = 0;
  for (let root = 0; root < nodes; root++) {
    if (index[root] !== -1) continue;
    callStack.push(root);
    index[root] = low[root] = next++;
    edgeAt[root] = start[root]!;
    stack.push(root);
    onStack[root] = 1;
    while (callStack.length > 0) {
      const v = callStack[callStack.length - 1]!;
      if (edgeAt[v]! < start[v + 1]!) {
        const w = adj[edgeAt[v]!++]!;
        if (index[w] === -1) {
          index[w] = low[w] = next++;
          edgeAt[w] = start[w]!;
          stack.push(w);
          onStack[w] = 1;
          callStack.push(w);
        } else if (onStack[w] === 1 && index[w]! < low[v]!) {
          low[v] = index[w]!;
        }
        continue;
      }
      callStack.pop();
      const parent = callStack[callStack.length - 1];
      if (parent !== undefined && low[v]! < low[parent]!) low[parent] = low[v]!;
      if (low[v] !== index[v]) continue;
      // v is the root of an SCC: its members lie on a cycle if there are several or v loops to itself.
      const cyclic = stack[stack.length - 1] !== v || selfLoop[v] === 1;
      let w: number;
      do {
        w = stack.pop()!;
        onStack[w] = 0;
        if (cyclic && w < n) result[w] = 1;
      } while (w !== v);
    }
  }
  return result;
}
