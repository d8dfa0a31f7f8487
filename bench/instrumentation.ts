// Cost of instrumentation, side by side in one run (plain and instrumented runs alternate, and
// each is timed in CPU time of the process, so a busy shared machine disturbs the ratio less):
//  (a) compute-heavy WAT loops (integer + memory, scattered stores, float), plain vs instrumented;
//  (b) a Motoko canister method doing real work, driven through a minimal ic0 stub, plain vs
//      instrumented;
//  (c) validation and instrumentation throughput (MB/s) on Motoko canisters and a synthetic 5 MB module.
// Run: npx tsx bench/instrumentation.ts
import { compileMotoko } from '../test/support/motoko.js';
import { wat } from '../test/support/wat.js';
import { IC0 } from '../replica/src/system-api/signatures.js';
import { INSTRUMENTATION, instrumentModule, validateModule } from '../replica/src/wasm/index.js';
import { ByteWriter } from '../replica/src/wasm/writer.js';
import { DirtyPageFilter } from '../replica/src/execution/dirty-pages.js';
import { candidNat, median } from './support.js';

type Exports = Record<string, unknown>;
interface WasmMemory { buffer: ArrayBuffer }
const WA = (globalThis as unknown as {
  WebAssembly: {
    Module: new (bytes: Uint8Array) => object;
    Instance: new (module: object, imports: object) => { exports: Exports };
  };
}).WebAssembly;

const REPS = 7;

/** CPU time of this process so far, ms. */
function cpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

/**
 * Median CPU times of `a` and `b`, run alternately; each argument (untimed) makes the function
 * timed in one repetition.
 */
function pair(a: () => () => void, b: () => () => void, reps = REPS): [number, number] {
  a()(); // warm-up (tier-up, caches)
  b()();
  const sa: number[] = [];
  const sb: number[] = [];
  for (let i = 0; i < reps; i++) {
    const runA = a();
    let t = cpuMs();
    runA();
    sa.push(cpuMs() - t);
    const runB = b();
    t = cpuMs();
    runB();
    sb.push(cpuMs() - t);
  }
  return [median(sa), median(sb)];
}

/** Median time of `fn`; `prepare` (untimed) makes a fresh `fn` per repetition when given. */
function time(fn: () => void, reps = REPS, prepare?: () => () => void): number {
  (prepare?.() ?? fn)(); // warm-up (tier-up, caches)
  const samples: number[] = [];
  for (let i = 0; i < reps; i++) {
    const run = prepare?.() ?? fn;
    const t = cpuMs();
    run();
    samples.push(cpuMs() - t);
  }
  return median(samples);
}

const fmt = (x: number, digits = 1) => x.toFixed(digits);

/**
 * The __icpk host: the replica's dirty page filter (saving no pages), a counter large enough to
 * never run out. One filter, attached for the whole run: every page is saved once.
 */
const filter = new DirtyPageFilter();
filter.attach(() => {});
function icpkImports() {
  return {
    out_of_instructions: () => { throw new Error('out of instructions'); },
    mark_dirty: filter.mark,
    mark_dirty_range: filter.markRange,
    memory_grow_allowed: () => 1,
    call_depth_exceeded: () => { throw new Error('call depth exceeded'); },
  };
}

function instrumented(bytes: Uint8Array) {
  const info = validateModule(bytes);
  return instrumentModule(bytes, info);
}

// ---------------------------------------------------------------------------------------------
// (a) Compute-heavy WAT.

const WORKLOADS: { name: string; n: number; text: string }[] = [
  {
    name: 'integer + load/store, sequential',
    n: 20_000_000,
    text: `(module (memory 1)
      (func (export "run") (param $n i32) (result i32) (local $i i32) (local $x i32) (local $a i32)
        loop
          local.get $i i32.const 2 i32.shl i32.const 0xfffc i32.and local.set $a
          local.get $x i32.const 31 i32.mul local.get $a i32.load i32.add local.get $i i32.xor local.set $x
          local.get $a local.get $x i32.store
          local.get $i i32.const 1 i32.add local.tee $i local.get $n i32.lt_u br_if 0
        end
        local.get $x))`,
  },
  {
    name: 'integer + stores scattered over 16 pages',
    n: 20_000_000,
    text: `(module (memory 1)
      (func (export "run") (param $n i32) (result i32) (local $i i32) (local $x i32) (local $a i32)
        loop
          local.get $i i32.const 0x9e3779b1 i32.mul i32.const 16 i32.shr_u i32.const 0xfffc i32.and local.set $a
          local.get $x i32.const 31 i32.mul local.get $a i32.load i32.add local.get $i i32.xor local.set $x
          local.get $a local.get $x i32.store
          local.get $i i32.const 1 i32.add local.tee $i local.get $n i32.lt_u br_if 0
        end
        local.get $x))`,
  },
  {
    name: 'float (mul, add, div, sqrt)',
    n: 20_000_000,
    text: `(module
      (func (export "run") (param $n i32) (result f64) (local $i i32) (local $x f64) (local $y f64)
        loop
          local.get $x f64.const 1.0000001 f64.mul local.get $i f64.convert_i32_u f64.sqrt f64.add local.set $x
          local.get $y local.get $x f64.const 3 f64.div f64.sub local.set $y
          local.get $i i32.const 1 i32.add local.tee $i local.get $n i32.lt_u br_if 0
        end
        local.get $x local.get $y f64.add))`,
  },
  {
    name: 'calls (recursive fib)',
    n: 30,
    text: `(module
      (func $fib (export "run") (param $n i32) (result i32)
        local.get $n i32.const 2 i32.lt_u
        if (result i32) local.get $n
        else local.get $n i32.const 1 i32.sub call $fib local.get $n i32.const 2 i32.sub call $fib i32.add end))`,
  },
];

interface Row { workload: string; plainMs: number; instrumentedMs: number; instructions: number }

async function computeRows(): Promise<Row[]> {
  const rows: Row[] = [];
  for (const w of WORKLOADS) {
    const bytes = await wat(w.text);
    const plain = new WA.Instance(new WA.Module(bytes), {}).exports;
    const ins = instrumented(bytes);
    let counterGlobal: { value: bigint } | undefined;
    const imports = icpkImports();
    const inst = new WA.Instance(new WA.Module(ins.bytes), { [INSTRUMENTATION.importModule]: imports }).exports;
    counterGlobal = inst[INSTRUMENTATION.instructionCounterExport] as { value: bigint };
    const runPlain = plain.run as (n: number) => unknown;
    const runInst = inst.run as (n: number) => unknown;
    const start = 1n << 62n;
    const plainResult = runPlain(w.n);
    counterGlobal.value = start;
    const instResult = runInst(w.n);
    if (plainResult !== instResult) throw new Error(`${w.name}: results differ (${plainResult} vs ${instResult})`);
    const instructions = Number(start - counterGlobal.value);
    const [plainMs, instrumentedMs] = pair(() => () => runPlain(w.n), () => () => {
      counterGlobal!.value = start;
      runInst(w.n);
    });
    rows.push({ workload: w.name, plainMs, instrumentedMs, instructions });
  }
  return rows;
}

// ---------------------------------------------------------------------------------------------
// (b) A Motoko canister method, through a minimal ic0 stub (enough for init and one update).

const MOTOKO_BIG = `
import Array "mo:core/Array";
import Map "mo:core/Map";
import Set "mo:core/Set";
import List "mo:core/List";
import Text "mo:core/Text";
import Nat "mo:core/Nat";
import Int "mo:core/Int";
import Float "mo:core/Float";
import Iter "mo:core/Iter";
import Principal "mo:core/Principal";
import Blob "mo:core/Blob";
import Char "mo:core/Char";
import Queue "mo:core/Queue";
import Stack "mo:core/Stack";
import Nat64 "mo:core/Nat64";
import Int32 "mo:core/Int32";
import VarArray "mo:core/VarArray";
import PureMap "mo:core/pure/Map";
import PureList "mo:core/pure/List";
persistent actor Big {
  let users = Map.empty<Nat, Text>();
  let tags = Set.empty<Text>();
  let log = List.empty<Text>();
  let q = Queue.empty<Nat>();
  let st = Stack.empty<Nat>();
  var pm : PureMap.Map<Text, Nat> = PureMap.empty();
  var pl : PureList.List<Nat> = PureList.empty();
  public func add(id : Nat, name : Text) : async Nat {
    Map.add(users, Nat.compare, id, name);
    Set.add(tags, Text.compare, Text.toUpper(name));
    List.add(log, name # "@" # Nat.toText(id));
    Queue.pushBack(q, id);
    Stack.push(st, id);
    pm := PureMap.add(pm, Text.compare, name, id);
    pl := PureList.pushFront(pl, id);
    Map.size(users)
  };
  public query func stats() : async (Nat, Float, Text, Int) {
    let xs = Array.tabulate<Nat>(100, func i = i * i);
    let s = Array.foldLeft<Nat, Nat>(xs, 0, Nat.add);
    let f = Float.sqrt(Float.fromInt(s)) * Float.pi;
    let sorted = Array.sort<Nat>(xs, Nat.compare);
    let t = Text.join(Iter.map<Nat, Text>(sorted.vals(), Nat.toText), ",");
    let b = Blob.fromArray([1, 2, 3]);
    let c = Char.toNat32('x');
    let v = VarArray.repeat<Nat>(0, 10);
    let i32 = Int32.fromInt(-5);
    (s + Blob.size(b) + Nat64.toNat(Nat64.fromNat32(c)) + v.size(), f, t # Principal.toText(Principal.fromBlob(b)), Int32.toInt(i32) + Int.abs(-3))
  };
  public func work(n : Nat) : async Nat {
    var i = 0;
    var acc = 0;
    while (i < n) { acc += i % 7; i += 1 };
    acc
  };
  public func fill(n : Nat) : async Nat {
    for (i in Nat.range(0, n)) { Map.add(users, Nat.compare, i, Nat.toText(i)) };
    Map.size(users)
  };
};`;


/** Compiled once per module, as the replica does (its cache keys them by hash). */
const compiledModules = new Map<Uint8Array, object>();
function compiledModule(bytes: Uint8Array): object {
  let module = compiledModules.get(bytes);
  if (module === undefined) {
    module = new WA.Module(bytes);
    compiledModules.set(bytes, module);
  }
  return module;
}

/** Instantiates a Motoko canister with stub ic0 functions; `call(method, arg)` runs an update. */
function motokoCanister(bytes: Uint8Array, instrumentedModule: ReturnType<typeof instrumented> | undefined) {
  let memory: WasmMemory | undefined;
  let arg: Uint8Array = new Uint8Array(0);
  let replied = false;
  let stablePages = 0n;
  const mem = () => new Uint8Array(memory!.buffer);
  const self = Uint8Array.of(0, 0, 0, 0, 0, 0, 0, 1, 1, 1);
  const caller = Uint8Array.of(4);
  const overrides: Record<string, (...a: number[]) => unknown> = {
    msg_arg_data_size: () => arg.length,
    msg_arg_data_copy: (dst, off, size) => { mem().set(arg.subarray(off, off + size), dst); },
    msg_caller_size: () => caller.length,
    msg_caller_copy: (dst, off, size) => { mem().set(caller.subarray(off, off + size), dst); },
    canister_self_size: () => self.length,
    canister_self_copy: (dst, off, size) => { mem().set(self.subarray(off, off + size), dst); },
    msg_reply_data_append: () => {},
    msg_reply: () => { replied = true; },
    trap: (src, size) => { throw new Error(`canister trapped: ${new TextDecoder().decode(mem().subarray(src, src + size))}`); },
    stable64_size: () => stablePages,
    stable64_grow: ((delta: bigint) => { const old = stablePages; stablePages += delta; return old; }) as never,
    canister_status: () => 1,
  };
  const ic0: Record<string, unknown> = {};
  for (const [name, sig] of Object.entries(IC0)) {
    ic0[name] = overrides[name] ?? (() => (sig.results[0] === 'i64' ? 0n : sig.results[0] === undefined ? undefined : 0));
  }
  let counter: { value: bigint } | undefined;
  const imports: Record<string, object> = { ic0 };
  if (instrumentedModule !== undefined) imports[INSTRUMENTATION.importModule] = icpkImports();
  const exports = new WA.Instance(compiledModule(instrumentedModule?.bytes ?? bytes), imports).exports;
  memory = exports[instrumentedModule?.exports.memory ?? 'mem'] as WasmMemory;
  const START = 1n << 62n;
  if (instrumentedModule !== undefined) {
    counter = exports[INSTRUMENTATION.instructionCounterExport] as { value: bigint };
    counter.value = START;
    (exports[INSTRUMENTATION.dirtyPageExport] as { value: number }).value = -1;
    if (instrumentedModule.exports.start !== undefined) (exports[instrumentedModule.exports.start] as () => void)();
  }
  (exports.canister_init as () => void)();
  return {
    call(method: string, input: Uint8Array): number {
      arg = input;
      replied = false;
      if (counter !== undefined) counter.value = START;
      (exports[`canister_update ${method}`] as () => void)();
      if (!replied) throw new Error(`${method} did not reply`);
      return counter === undefined ? 0 : Number(START - counter.value);
    },
  };
}

async function motokoRows(wasm: Uint8Array): Promise<Row[]> {
  const ins = instrumented(wasm);
  const rows: Row[] = [];
  for (const [method, n] of [['work', 3_000_000], ['fill', 50_000]] as const) {
    const input = candidNat(n);
    const instructions = motokoCanister(wasm, ins).call(method, input);
    // A fresh instance per repetition (untimed): `fill` grows state, and every run should do the same work.
    const [plainMs, instrumentedMs] = pair(() => {
      const canister = motokoCanister(wasm, undefined);
      return () => canister.call(method, input);
    }, () => {
      const canister = motokoCanister(wasm, ins);
      return () => canister.call(method, input);
    });
    rows.push({ workload: `Motoko \`${method}(${n})\``, plainMs, instrumentedMs, instructions });
  }
  return rows;
}

// ---------------------------------------------------------------------------------------------
// (c) Throughput of validation and instrumentation.

/** A valid module of about `targetBytes`: many functions mixing arithmetic, memory, control flow, calls and floats. */
function syntheticModule(targetBytes: number): Uint8Array {
  const w = new ByteWriter(targetBytes + 4096);
  const section = (id: number, write: () => void) => {
    w.u8(id);
    const at = w.len;
    w.u32Padded(0);
    write();
    w.u32Padded(w.len - at - 5, at);
  };
  const body = new ByteWriter(2048);
  const op = (...bytes: number[]) => bytes.forEach((b) => body.u8(b));
  let seed = 12345;
  const next = () => (seed = (seed * 1103515245 + 12345) >>> 0) >>> 8;
  const makeBody = (self: number) => {
    body.reset();
    body.u8(2); body.u8(2); body.u8(0x7f); body.u8(1); body.u8(0x7c); // locals 1-2: i32, 3: f64
    while (body.len < 1000) {
      switch (next() % 7) {
        case 0: op(0x20, 0, 0x41); body.s32(next() % 1000); op(0x6a, 0x21, 1); break;
        case 1: op(0x20, 1, 0x28, 2); body.u32(next() % 4000); op(0x20, 0, 0x6c, 0x21, 1); break;
        case 2: op(0x20, 1, 0x20, 0, 0x36, 2); body.u32(next() % 4000); break;
        case 3: op(0x02, 0x40, 0x03, 0x40, 0x20, 1, 0x41, 1, 0x6b, 0x22, 1, 0x45, 0x0d, 1, 0x0c, 0, 0x0b, 0x0b); break;
        case 4: op(0x20, 0, 0xb7, 0x20, 3, 0xa0, 0x9f, 0x21, 3); break;
        case 5: op(0x20, 1, 0x10); body.u32(next() % Math.max(1, self)); op(0x21, 1); break;
        case 6: op(0x20, 0, 0x04, 0x40, 0x20, 1, 0x41, 3, 0x6e, 0x21, 1, 0x05, 0x20, 1, 0x41, 5, 0x6f, 0x21, 1, 0x0b); break;
      }
    }
    op(0x20, 1, 0x0b);
  };
  const functions = Math.ceil(targetBytes / 1010);
  w.bytes(Uint8Array.of(0x00, 0x61, 0x73, 0x6d, 1, 0, 0, 0));
  section(1, () => { w.u32(1); w.bytes(Uint8Array.of(0x60, 1, 0x7f, 1, 0x7f)); });
  section(3, () => { w.u32(functions); for (let i = 0; i < functions; i++) w.u8(0); });
  section(5, () => { w.u32(1); w.u8(0); w.u32(1); });
  section(10, () => {
    w.u32(functions);
    for (let f = 0; f < functions; f++) {
      makeBody(f);
      w.u32(body.len);
      w.bytes(body.buf, 0, body.len);
    }
  });
  return w.finish();
}

interface Throughput { module: string; bytes: number; validateMs: number; instrumentMs: number; outBytes: number }

function throughput(name: string, bytes: Uint8Array): Throughput {
  const info = validateModule(bytes);
  for (let i = 0; i < 5; i++) instrumentModule(bytes, info); // let the JIT settle
  const validateMs = time(() => validateModule(bytes), 9);
  const instrumentMs = time(() => instrumentModule(bytes, info), 9);
  return { module: name, bytes: bytes.length, validateMs, instrumentMs, outBytes: instrumentModule(bytes, info).bytes.length };
}

// ---------------------------------------------------------------------------------------------

const lines: string[] = [];
const print = (s = '') => lines.push(s);

const compute = await computeRows();
const counter = (await compileMotoko('counter')).wasm;
const big = (await compileMotoko('bench-big', MOTOKO_BIG)).wasm;
let motoko: Row[] = [];
let motokoNote = '';
try {
  motoko = await motokoRows(big);
} catch (err) {
  motokoNote = `(b) skipped: ${(err as Error).message}`;
}

print('## Execution: plain vs instrumented (median of 7, CPU ms)');
print();
print('| workload | plain ms | instrumented ms | ratio | instructions counted | instr/ns (instrumented) |');
print('|---|---:|---:|---:|---:|---:|');
for (const r of [...compute, ...motoko]) {
  print(`| ${r.workload} | ${fmt(r.plainMs)} | ${fmt(r.instrumentedMs)} | ${fmt(r.instrumentedMs / r.plainMs, 2)}x | ${r.instructions.toLocaleString('en-US')} | ${fmt(r.instructions / (r.instrumentedMs * 1e6), 2)} |`);
}
if (motokoNote) print(`\n${motokoNote}`);
print();
print('## Validation and instrumentation throughput (median of 9, CPU time)');
print();
print('| module | size KB | validate ms | validate MB/s | instrument ms | instrument MB/s | output KB |');
print('|---|---:|---:|---:|---:|---:|---:|');
for (const t of [
  throughput('Motoko counter', counter),
  throughput('Motoko, 19 core modules', big),
  throughput('synthetic', syntheticModule(5 * 1024 * 1024)),
]) {
  const mb = t.bytes / 1e6;
  print(`| ${t.module} | ${fmt(t.bytes / 1024, 0)} | ${fmt(t.validateMs)} | ${fmt(mb / (t.validateMs / 1000), 0)} | ${fmt(t.instrumentMs)} | ${fmt(mb / (t.instrumentMs / 1000), 0)} | ${fmt(t.outBytes / 1024, 0)} |`);
}
console.log(lines.join('\n'));
