// Execution cost through the real host: the same canister method timed
//  - instrumented: installed on an in-process replica and called as an update (metering, dirty
//    page journal, System API, commit, the round around it), and
//  - plain: the same, uninstrumented Wasm instantiated directly with a minimal JS ic0 stub.
// Workloads: a Motoko canister doing real work (sort, hash, bignum) and hand-written worst cases
// for the instrumentation (tiny basic blocks, stores scattered over many pages).
// Runs alternate between the two sides and are timed in CPU time of the process.
// Run: node --import tsx bench/execution.ts

import { compileMotoko } from '../test/support/motoko.js';
import { ExecutionTest } from '../test/support/execution-test.js';
import { wat } from '../test/support/wat.js';
import { IC0 } from '../replica/src/system-api/signatures.js';
import { candidNat, median } from './support.js';

const REPS = 7;

const MOTOKO = `
import VarArray "mo:core/VarArray";
import Nat32 "mo:core/Nat32";
import Nat8 "mo:core/Nat8";

persistent actor Bench {
  func xorshift(seed : Nat32) : () -> Nat32 {
    var x = seed;
    func () : Nat32 { x ^= x << 13; x ^= x >> 17; x ^= x << 5; x }
  };

  // Sorts n pseudo-random 32-bit numbers; returns an FNV-1a checksum of the sorted array.
  public func sort(n : Nat) : async Nat32 {
    let next = xorshift(2463534242);
    let a = VarArray.tabulate<Nat32>(n, func _ = next());
    VarArray.sortInPlace(a, Nat32.compare);
    var h : Nat32 = 2166136261;
    for (x in a.vals()) { h := (h ^ x) *% 16777619 };
    h
  };

  // Fills n bytes, then hashes them (FNV-1a), 4 rounds.
  public func hash(n : Nat) : async Nat32 {
    let next = xorshift(88172645);
    let bytes = VarArray.tabulate<Nat8>(n, func _ = Nat8.fromNat32(next() & 0xff));
    var h : Nat32 = 2166136261;
    for (round in Nat32.range(0, 4)) {
      for (b in bytes.vals()) { h := (h ^ Nat8.toNat32(b)) *% 16777619 };
    };
    h
  };

  // n! as a bignum, reduced modulo a prime at the end.
  public func bignum(n : Nat) : async Nat {
    var f = 1;
    var i = 2;
    while (i <= n) { f *= i; i += 1 };
    f % 1_000_000_007
  };
};`;

/** Tiny basic blocks: an if/else and a conditional branch per iteration. */
const TINY_BLOCKS = `(module
  (import "ic0" "msg_arg_data_copy" (func $arg (param i32 i32 i32)))
  (import "ic0" "msg_reply_data_append" (func $append (param i32 i32)))
  (import "ic0" "msg_reply" (func $reply))
  (memory (export "memory") 1)
  (func (export "canister_update run") (local $n i32) (local $i i32) (local $x i32)
    (call $arg (i32.const 0) (i32.const 0) (i32.const 4))
    (local.set $n (i32.load (i32.const 0)))
    (loop $l
      (if (i32.and (local.get $i) (i32.const 1))
        (then (local.set $x (i32.add (local.get $x) (i32.const 3))))
        (else (local.set $x (i32.xor (local.get $x) (i32.const 5)))))
      (br_if $l (i32.lt_u (local.tee $i (i32.add (local.get $i) (i32.const 1))) (local.get $n))))
    (i32.store (i32.const 0) (local.get $x))
    (call $append (i32.const 0) (i32.const 4))
    (call $reply)))`;

/** Stores scattered over 64 MiB: nearly every store lands on another 4 KiB page than the last one. */
const SCATTERED_STORES = `(module
  (import "ic0" "msg_arg_data_copy" (func $arg (param i32 i32 i32)))
  (import "ic0" "msg_reply_data_append" (func $append (param i32 i32)))
  (import "ic0" "msg_reply" (func $reply))
  (memory (export "memory") 1024)
  (func (export "canister_update run") (local $n i32) (local $i i32) (local $a i32) (local $x i32)
    (call $arg (i32.const 0) (i32.const 0) (i32.const 4))
    (local.set $n (i32.load (i32.const 0)))
    (loop $l
      (local.set $a (i32.and (i32.mul (local.get $i) (i32.const 4100)) (i32.const 0x3fffffc)))
      (local.set $x (i32.add (local.get $x) (i32.load (local.get $a))))
      (i32.store (local.get $a) (i32.add (local.get $x) (local.get $i)))
      (br_if $l (i32.lt_u (local.tee $i (i32.add (local.get $i) (i32.const 1))) (local.get $n))))
    (i32.store (i32.const 0) (local.get $x))
    (call $append (i32.const 0) (i32.const 4))
    (call $reply)))`;

/** The same loop, but consecutive stores alternate between two pages: every store calls the host's mark_dirty. */
const PING_PONG_STORES = SCATTERED_STORES.replace(
  '(i32.and (i32.mul (local.get $i) (i32.const 4100)) (i32.const 0x3fffffc))',
  '(i32.and (i32.mul (local.get $i) (i32.const 4096)) (i32.const 0x1000))',
);

/** Stores rotating over three pages: each store misses both cached pages and calls mark_dirty (the host's filter). */
const ROTATING_STORES = SCATTERED_STORES.replace(
  '(i32.and (i32.mul (local.get $i) (i32.const 4100)) (i32.const 0x3fffffc))',
  '(i32.mul (i32.rem_u (local.get $i) (i32.const 3)) (i32.const 4096))',
);

/** Call-heavy: naive recursive Fibonacci (call depth accounting on every call). */
const FIB = `(module
  (import "ic0" "msg_arg_data_copy" (func $arg (param i32 i32 i32)))
  (import "ic0" "msg_reply_data_append" (func $append (param i32 i32)))
  (import "ic0" "msg_reply" (func $reply))
  (memory (export "memory") 1)
  (func $fib (param $n i32) (result i32)
    (if (result i32) (i32.lt_u (local.get $n) (i32.const 2))
      (then (local.get $n))
      (else (i32.add (call $fib (i32.sub (local.get $n) (i32.const 1))) (call $fib (i32.sub (local.get $n) (i32.const 2)))))))
  (func (export "canister_update run")
    (call $arg (i32.const 0) (i32.const 0) (i32.const 4))
    (i32.store (i32.const 0) (call $fib (i32.load (i32.const 0))))
    (call $append (i32.const 0) (i32.const 4))
    (call $reply)))`;

// ---- the plain side: a minimal ic0 stub --------------------------------------------------------

type Exports = Record<string, unknown>;

/** Instantiates uninstrumented canister Wasm; `call` runs an update and returns its reply. */
function plainCanister(bytes: Uint8Array) {
  let memory: WebAssembly.Memory | undefined;
  let arg: Uint8Array = new Uint8Array(0);
  let reply: Uint8Array[] = [];
  let replied = false;
  let stablePages = 0n;
  const mem = () => new Uint8Array(memory!.buffer);
  const self = Uint8Array.of(0, 0, 0, 0, 0, 0, 0, 1, 1, 1);
  const caller = Uint8Array.of(4);
  const text = (src: number, size: number) => new TextDecoder().decode(mem().subarray(src, src + size));
  const impl: Record<string, (...a: never[]) => unknown> = {
    msg_arg_data_size: () => arg.length,
    msg_arg_data_copy: (dst: number, off: number, size: number) => mem().set(arg.subarray(off, off + size), dst),
    msg_caller_size: () => caller.length,
    msg_caller_copy: (dst: number, off: number, size: number) => mem().set(caller.subarray(off, off + size), dst),
    canister_self_size: () => self.length,
    canister_self_copy: (dst: number, off: number, size: number) => mem().set(self.subarray(off, off + size), dst),
    msg_reply_data_append: (src: number, size: number) => { reply.push(mem().slice(src, src + size)); },
    msg_reply: () => { replied = true; },
    msg_reject: (src: number, size: number) => { throw new Error(`rejected: ${text(src, size)}`); },
    trap: (src: number, size: number) => { throw new Error(`trapped: ${text(src, size)}`); },
    debug_print: () => {},
    canister_status: () => 1,
    stable64_size: () => stablePages,
    stable64_grow: (delta: bigint) => { const old = stablePages; stablePages += delta; return old; },
  };
  const ic0: Record<string, unknown> = {};
  for (const [name, sig] of Object.entries(IC0)) {
    ic0[name] = impl[name] ?? (() => (sig.results[0] === 'i64' ? 0n : sig.results[0] === undefined ? undefined : 0));
  }
  const exports: Exports = new WebAssembly.Instance(new WebAssembly.Module(bytes), { ic0 } as WebAssembly.Imports).exports;
  memory = (exports.memory ?? Object.values(exports).find((e) => e instanceof WebAssembly.Memory)) as WebAssembly.Memory;
  (exports.canister_init as (() => void) | undefined)?.();
  return {
    call(method: string, input: Uint8Array): Uint8Array {
      arg = input;
      reply = [];
      replied = false;
      (exports[`canister_update ${method}`] as () => void)();
      if (!replied) throw new Error(`${method} did not reply`);
      return Uint8Array.from(reply.flatMap((r) => [...r]));
    },
  };
}

// ---- measuring -------------------------------------------------------------------------------

/** CPU time of this process so far, ms: a busy shared machine disturbs it less than wall time. */
function cpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

const rawU32 = (n: number) => { const b = new Uint8Array(4); new DataView(b.buffer).setUint32(0, n, true); return b; };
const same = (a: Uint8Array, b: Uint8Array) => a.length === b.length && a.every((x, i) => x === b[i]);

interface Row { workload: string; instructions: bigint; instrumentedMs: number; plainMs: number }

async function measure(workload: string, wasm: Uint8Array, method: string, arg: Uint8Array): Promise<Row> {
  const t = new ExecutionTest();
  const id = await t.createAndInstall(wasm);
  const plain = plainCanister(wasm);

  // Warm-up (compilation tiers, caches) and a check that both sides compute the same reply.
  const expected = plain.call(method, arg);
  const got = await t.update(id, method, arg);
  if (!same(expected, got)) throw new Error(`${workload}: replies differ`);
  const instructions = t.rounds.at(-1)!.instructions;

  const instrumented: number[] = [];
  const direct: number[] = [];
  for (let i = 0; i < REPS; i++) {
    let start = cpuMs();
    await t.update(id, method, arg);
    instrumented.push(cpuMs() - start);
    start = cpuMs();
    plain.call(method, arg);
    direct.push(cpuMs() - start);
  }
  return { workload, instructions, instrumentedMs: median(instrumented), plainMs: median(direct) };
}

const { wasm: motoko } = await compileMotoko('bench-execution', MOTOKO);
const rows: Row[] = [
  await measure('Motoko `sort(300_000)` (VarArray.sortInPlace, 1.2 MB of Nat32)', motoko, 'sort', candidNat(300_000)),
  await measure('Motoko `hash(4_000_000)` (fill 4 MB, FNV-1a x4)', motoko, 'hash', candidNat(4_000_000)),
  await measure('Motoko `bignum(4_000)` (4000! as Nat)', motoko, 'bignum', candidNat(4_000)),
  await measure('WAT: tight loop of tiny basic blocks (20M iterations)', await wat(TINY_BLOCKS), 'run', rawU32(20_000_000)),
  await measure('WAT: recursive fib(32) (calls)', await wat(FIB), 'run', rawU32(32)),
  await measure('WAT: stores scattered over 64 MiB (2M stores, each on another page)', await wat(SCATTERED_STORES), 'run', rawU32(2_000_000)),
  await measure('WAT: stores alternating between two pages (20M stores)', await wat(PING_PONG_STORES), 'run', rawU32(20_000_000)),
  await measure('WAT: stores rotating over three pages (20M stores)', await wat(ROTATING_STORES), 'run', rawU32(20_000_000)),
];

const fmt = (x: number) => x.toFixed(1);
const lines = [
  `## Execution through the replica vs plain Wasm (median of ${REPS}, CPU ms, Node ${process.versions.node})`,
  '',
  '| workload | instructions | ms instrumented (replica) | ms plain | ratio |',
  '|---|---:|---:|---:|---:|',
  ...rows.map((r) => `| ${r.workload} | ${r.instructions.toLocaleString('en-US')} | ${fmt(r.instrumentedMs)} | ${fmt(r.plainMs)} | ${(r.instrumentedMs / r.plainMs).toFixed(2)}x |`),
];
console.log(lines.join('\n'));
