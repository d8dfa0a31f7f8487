// Argument bounds of the System API: every `*_copy` and every function that reads or writes
// canister memory traps with a clear contract-violation message on out-of-bounds (and
// wrapping) pointers, offsets and sizes, and the message is rolled back. And the instruction
// charge of system calls (overhead + bytes copied) as performance_counter shows it.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Principal } from '@icp-sdk/core/principal';
import { CallRejected, ExecutionTest, TEST_USER, emptySettings } from '../../test/support/execution-test.js';
import { wat } from '../../test/support/wat.js';
import { CanisterError, DEFAULT_EXECUTION_CONFIG } from '../src/index.js';
import { scheduleFor } from '../src/cycles/index.js';
import { costOf } from '../src/system-api/costs.js';
import { IC0 } from '../src/system-api/signatures.js';

const IMPORTS = Object.entries(IC0).map(([name, s]) => {
  const params = s.params.length ? ` (param ${s.params.join(' ')})` : '';
  const results = s.results.length ? ` (result ${s.results.join(' ')})` : '';
  return `(import "ic0" "${name}" (func $${name}${params}${results}))`;
}).join('\n');

const MEM = 65536; // one Wasm page
const STR = { noop: [0x9000, 'noop'], pong: [0x9010, 'pong'], rejector: [0x9020, 'rejector'], alpha: [0x9030, 'ALPHA'], key: [0x9040, 'key_1'], rejected: [0x9050, 'rejected!'] } as const;
const s = (k: keyof typeof STR) => `(i32.const ${STR[k][0]}) (i32.const ${STR[k][1].length})`;
const u32 = (v: number) => `(i32.const ${v | 0})`;
const u64 = (v: bigint) => `(i64.const ${BigInt.asIntN(64, v)})`;

const ROOT_KEY = Uint8Array.from({ length: 133 }, (_, i) => i);
const CERTIFICATE = Uint8Array.from({ length: 200 }, (_, i) => 255 - i);

// ---- the cases ---------------------------------------------------------------------------------

type Ctx = 'U' | 'Ry' | 'Rt' | 'F' | 'NRQ';
interface Case {
  readonly title: string;
  readonly fn: string;
  readonly ctx: Ctx;
  readonly body: string;
  readonly errorCode: 'IC0502' | 'IC0504';
  readonly match: RegExp;
}
const CASES: Case[] = [];
const contract = (fn: string, what: string) => new RegExp(`Canister violated contract: ic0\\.${fn}: .*${what}`);

/** `*_copy` functions: data of `len` bytes, copied with `call(dst, offset, size)`. */
interface Copy { fn: string; ctx: Ctx; len: number; call: (dst: number, off: number, size: number) => string }
const COPIES: Copy[] = ([
  { fn: 'msg_arg_data_copy', ctx: 'U', len: 4 },
  { fn: 'msg_caller_copy', ctx: 'U', len: TEST_USER.toUint8Array().length },
  { fn: 'msg_caller_info_data_copy', ctx: 'U', len: 0 },
  { fn: 'msg_caller_info_signer_copy', ctx: 'U', len: 0 },
  { fn: 'msg_reject_msg_copy', ctx: 'Rt', len: STR.rejected[1].length },
  { fn: 'canister_self_copy', ctx: 'U', len: 10 },
  { fn: 'subnet_self_copy', ctx: 'U', len: 10 },
  { fn: 'msg_method_name_copy', ctx: 'F', len: 'noop'.length },
  { fn: 'root_key_copy', ctx: 'U', len: ROOT_KEY.length },
  { fn: 'data_certificate_copy', ctx: 'NRQ', len: CERTIFICATE.length },
] satisfies Omit<Copy, 'call'>[]).map((c): Copy => ({ ...c, call: (d, o, n) => `(call $${c.fn} ${u32(d)} ${u32(o)} ${u32(n)})` }));
COPIES.push(
  { fn: 'env_var_name_copy', ctx: 'U', len: 'ALPHA'.length, call: (d, o, n) => `(call $env_var_name_copy (i32.const 0) ${u32(d)} ${u32(o)} ${u32(n)})` },
  { fn: 'env_var_value_copy', ctx: 'U', len: 'value'.length, call: (d, o, n) => `(call $env_var_value_copy ${s('alpha')} ${u32(d)} ${u32(o)} ${u32(n)})` },
);
for (const c of COPIES) {
  const add = (title: string, body: string, what: string) => CASES.push({ title: `${c.fn}: ${title}`, fn: c.fn, ctx: c.ctx, body, errorCode: 'IC0504', match: contract(c.fn, what) });
  add('offset past the end of the data', c.call(0x100, c.len, 1), `offset=${c.len} \\+ length=1 exceeds`);
  if (c.len >= 2) add('dst past the end of memory', c.call(MEM - 1, 0, 2), `dst=${MEM - 1} \\+ length=2 exceeds the slice size=${MEM}`);
  if (c.len >= 1) add('dst that wraps around 2^32', c.call(0xffffffff, 0, 1), 'dst=4294967295 \\+ length=1 exceeds');
  add('offset that wraps around 2^32', c.call(0x100, 0xffffffff, 2), 'offset=4294967295 \\+ length=2 exceeds');
  add('size 2^32-1', c.call(0, 0, 0xffffffff), 'length=4294967295 exceeds');
}

/** Functions that read `[src, src+size)` of canister memory. */
const READS: { fn: string; call: (src: number, size: number) => string; prelude?: string }[] = [
  { fn: 'msg_reply_data_append', call: (p, n) => `(call $msg_reply_data_append ${u32(p)} ${u32(n)})` },
  { fn: 'msg_reject', call: (p, n) => `(call $msg_reject ${u32(p)} ${u32(n)})` },
  { fn: 'call_new', call: (p, n) => `(call $call_new ${u32(p)} ${u32(n)} ${s('noop')} (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0))` },
  { fn: 'call_new', call: (p, n) => `(call $call_new (i32.const 0) (i32.const 0) ${u32(p)} ${u32(n)} (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0))` },
  {
    fn: 'call_data_append', call: (p, n) => `(call $call_data_append ${u32(p)} ${u32(n)})`,
    prelude: `(call $call_new (i32.const 0) (i32.const 0) ${s('noop')} (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0))`,
  },
  { fn: 'stable_write', call: (p, n) => `(call $stable_write (i32.const 0) ${u32(p)} ${u32(n)})` },
  { fn: 'stable64_write', call: (p, n) => `(call $stable64_write (i64.const 0) ${u64(BigInt(p >>> 0))} ${u64(BigInt(n >>> 0))})` },
  { fn: 'certified_data_set', call: (p, n) => `(call $certified_data_set ${u32(p)} ${u32(n)})` },
  { fn: 'is_controller', call: (p, n) => `(drop (call $is_controller ${u32(p)} ${u32(n)}))` },
  { fn: 'cost_sign_with_ecdsa', call: (p, n) => `(drop (call $cost_sign_with_ecdsa ${u32(p)} ${u32(n)} (i32.const 0) (i32.const 0x100)))` },
  { fn: 'cost_sign_with_schnorr', call: (p, n) => `(drop (call $cost_sign_with_schnorr ${u32(p)} ${u32(n)} (i32.const 0) (i32.const 0x100)))` },
  { fn: 'cost_vetkd_derive_key', call: (p, n) => `(drop (call $cost_vetkd_derive_key ${u32(p)} ${u32(n)} (i32.const 0) (i32.const 0x100)))` },
  { fn: 'env_var_name_exists', call: (p, n) => `(drop (call $env_var_name_exists ${u32(p)} ${u32(n)}))` },
  { fn: 'env_var_value_size', call: (p, n) => `(drop (call $env_var_value_size ${u32(p)} ${u32(n)}))` },
  { fn: 'env_var_value_copy', call: (p, n) => `(call $env_var_value_copy ${u32(p)} ${u32(n)} (i32.const 0x100) (i32.const 0) (i32.const 0))` },
];
for (const [k, r] of READS.entries()) {
  const which = r.fn === 'call_new' ? (k === 2 ? ' (callee)' : ' (method name)') : '';
  const add = (title: string, src: number, size: number, what: string) => CASES.push({
    title: `${r.fn}${which}: ${title}`, fn: r.fn, ctx: 'U', body: `${r.prelude ?? ''} ${r.call(src, size)}`, errorCode: 'IC0504',
    // certified_data_set checks the size limit before reading
    match: r.fn === 'certified_data_set' && size > 32 ? contract(r.fn, 'exceeds the limit of 32 bytes') : contract(r.fn, what),
  });
  add('src past the end of memory', MEM - 1, 2, `src=${MEM - 1} \\+ length=2 exceeds the slice size=${MEM}`);
  add('src that wraps around 2^32', 0xffffffff, 2, 'src=4294967295 \\+ length=2 exceeds');
  add('size 2^32-1', 0, 0xffffffff, 'src=0 \\+ length=4294967295 exceeds');
}

/** Functions that write a result (16-byte cycles amounts, stable reads) to `dst`. */
const WRITES: { fn: string; ctx?: Ctx; call: (dst: number) => string; bytes: number }[] = [
  { fn: 'msg_cycles_available128', call: (d) => `(call $msg_cycles_available128 ${u32(d)})`, bytes: 16 },
  { fn: 'msg_cycles_accept128', call: (d) => `(call $msg_cycles_accept128 (i64.const 0) (i64.const 0) ${u32(d)})`, bytes: 16 },
  { fn: 'msg_cycles_refunded128', ctx: 'Ry', call: (d) => `(call $msg_cycles_refunded128 ${u32(d)})`, bytes: 16 },
  { fn: 'cycles_burn128', call: (d) => `(call $cycles_burn128 (i64.const 0) (i64.const 7) ${u32(d)})`, bytes: 16 },
  { fn: 'canister_cycle_balance128', call: (d) => `(call $canister_cycle_balance128 ${u32(d)})`, bytes: 16 },
  { fn: 'canister_liquid_cycle_balance128', call: (d) => `(call $canister_liquid_cycle_balance128 ${u32(d)})`, bytes: 16 },
  { fn: 'cost_call', call: (d) => `(call $cost_call (i64.const 0) (i64.const 0) ${u32(d)})`, bytes: 16 },
  { fn: 'cost_create_canister', call: (d) => `(call $cost_create_canister ${u32(d)})`, bytes: 16 },
  { fn: 'cost_http_request', call: (d) => `(call $cost_http_request (i64.const 0) (i64.const 0) ${u32(d)})`, bytes: 16 },
  { fn: 'cost_sign_with_ecdsa', call: (d) => `(drop (call $cost_sign_with_ecdsa ${s('key')} (i32.const 0) ${u32(d)}))`, bytes: 16 },
  { fn: 'cost_sign_with_schnorr', call: (d) => `(drop (call $cost_sign_with_schnorr ${s('key')} (i32.const 0) ${u32(d)}))`, bytes: 16 },
  { fn: 'cost_vetkd_derive_key', call: (d) => `(drop (call $cost_vetkd_derive_key ${s('key')} (i32.const 0) ${u32(d)}))`, bytes: 16 },
  { fn: 'stable_read', call: (d) => `(call $stable_read ${u32(d)} (i32.const 0) (i32.const 16))`, bytes: 16 },
  { fn: 'stable64_read', call: (d) => `(call $stable64_read ${u64(BigInt(d >>> 0))} (i64.const 0) (i64.const 16))`, bytes: 16 },
];
for (const w of WRITES) {
  const add = (title: string, dst: number) => CASES.push({
    title: `${w.fn}: ${title}`, fn: w.fn, ctx: w.ctx ?? 'U', body: w.call(dst), errorCode: 'IC0504',
    match: contract(w.fn, `dst=${dst >>> 0} \\+ length=${w.bytes} exceeds the slice size=${MEM}`),
  });
  add('dst partly past the end of memory', MEM - 8);
  add('dst that wraps around 2^32', 0xfffffff8);
}

// Stable memory offsets (the stable memory has one page) and 64-bit heap addresses.
const STABLE_OOB = /Canister trapped: stable memory out of bounds/;
CASES.push(
  { title: 'stable64_read: offset that wraps around 2^64', fn: 'stable64_read', ctx: 'U', body: `(call $stable64_read (i64.const 0x100) ${u64((1n << 64n) - 1n)} (i64.const 2))`, errorCode: 'IC0502', match: STABLE_OOB },
  { title: 'stable64_write: offset that wraps around 2^64', fn: 'stable64_write', ctx: 'U', body: `(call $stable64_write ${u64((1n << 64n) - 1n)} (i64.const 0x100) (i64.const 2))`, errorCode: 'IC0502', match: STABLE_OOB },
  { title: 'stable_read: offset past the stable memory', fn: 'stable_read', ctx: 'U', body: `(call $stable_read (i32.const 0x100) ${u32(0xffffffff)} (i32.const 2))`, errorCode: 'IC0502', match: STABLE_OOB },
  { title: 'stable_write: offset past the stable memory', fn: 'stable_write', ctx: 'U', body: `(call $stable_write ${u32(65535)} (i32.const 0x100) (i32.const 2))`, errorCode: 'IC0502', match: STABLE_OOB },
  { title: 'stable64_read: dst beyond 32 bits', fn: 'stable64_read', ctx: 'U', body: `(call $stable64_read ${u64(1n << 32n)} (i64.const 0) (i64.const 1))`, errorCode: 'IC0504', match: contract('stable64_read', 'out of bounds for a 32-bit memory') },
  { title: 'stable64_read: size beyond 32 bits', fn: 'stable64_read', ctx: 'U', body: `(call $stable64_read (i64.const 0) (i64.const 0) ${u64(1n << 32n)})`, errorCode: 'IC0504', match: contract('stable64_read', 'out of bounds for a 32-bit memory') },
  { title: 'stable64_write: src beyond 32 bits', fn: 'stable64_write', ctx: 'U', body: `(call $stable64_write (i64.const 0) ${u64(1n << 32n)} (i64.const 1))`, errorCode: 'IC0504', match: contract('stable64_write', 'out of bounds for a 32-bit memory') },
);

// ---- the module --------------------------------------------------------------------------------

const SELF = 0x2000;
const MODULE = `(module
  ${IMPORTS}
  (type $case (func))
  (memory 1)
  ${(Object.keys(STR) as (keyof typeof STR)[]).map((k) => `(data (i32.const ${STR[k][0]}) "${STR[k][1]}")`).join('\n')}
  (table ${CASES.length + 4} funcref)
  (elem (i32.const 0) ${CASES.map((_, i) => `$case${i}`).join(' ')} $cb_case $cb_noop)
  ${CASES.map((c, i) => `(func $case${i} (type $case) ${c.body})`).join('\n')}
  (global $count (mut i32) (i32.const 0))

  (func $arg_i32 (param $at i32) (result i32)
    (call $msg_arg_data_copy (i32.const 0x1000) (local.get $at) (i32.const 4))
    (i32.load (i32.const 0x1000)))
  ;; Changes every part of the state a message may change; all of it must be rolled back.
  (func $prep
    (global.set $count (i32.add (global.get $count) (i32.const 1)))
    (i32.store (i32.const 0x5000) (global.get $count))
    (call $stable64_write (i64.const 0) (i64.const 0x5000) (i64.const 4))
    (call $certified_data_set (i32.const 0x5000) (i32.const 4))
    (drop (call $global_timer_set (i64.const 0x7fffffffffffffff)))
    (call $cycles_burn128 (i64.const 0) (i64.const 1000) (i32.const 0x5100)))
  (func (export "canister_init") (drop (call $stable64_grow (i64.const 1))))
  (func (export "canister_update case")
    (call $prep)
    (call_indirect (type $case) (call $arg_i32 (i32.const 0)))
    (call $msg_reply))
  (func (export "canister_query qcase") (call_indirect (type $case) (call $arg_i32 (i32.const 0))) (call $msg_reply))
  (func (export "canister_inspect_message")
    (if (i32.eq (call $msg_arg_data_size) (i32.const 8)) (then
      (call_indirect (type $case) (call $arg_i32 (i32.const 4)))))
    (call $accept_message))
  ;; Ry/Rt: call self; the callback (with the case as env) runs the case.
  (func $via (param $m i32) (param $mn i32)
    (call $canister_self_copy (i32.const ${SELF}) (i32.const 0) (call $canister_self_size))
    (call $call_new (i32.const ${SELF}) (call $canister_self_size) (local.get $m) (local.get $mn)
      (i32.const ${CASES.length}) (call $arg_i32 (i32.const 0)) (i32.const ${CASES.length}) (call $arg_i32 (i32.const 0)))
    (call $call_cycles_add128 (i64.const 0) (i64.const 5000))
    (drop (call $call_perform)))
  (func (export "canister_update via_reply") (call $via ${s('pong')}))
  (func (export "canister_update via_reject") (call $via ${s('rejector')}))
  (func $cb_case (param $env i32) (call $prep) (call_indirect (type $case) (local.get $env)) (call $msg_reply))
  (func $cb_noop (param $env i32))
  (func (export "canister_update pong") (call $msg_reply))
  (func (export "canister_update noop") (call $msg_reply))
  (func (export "canister_update rejector") (call $msg_reject ${s('rejected')}))
  (func (export "canister_query state")
    (i32.store (i32.const 0x1000) (global.get $count))
    (i32.store (i32.const 0x1004) (i32.load (i32.const 0x5000)))
    (call $stable64_read (i64.const 0x1008) (i64.const 0) (i64.const 4))
    (call $msg_reply_data_append (i32.const 0x1000) (i32.const 12))
    (call $msg_reply))
)`;

// ---- running -----------------------------------------------------------------------------------

type Outcome = { ok: true } | { ok: false; errorCode: string; message: string };
const i32Arg = (v: number) => { const b = new Uint8Array(4); new DataView(b.buffer).setInt32(0, v, true); return b; };

let moduleWasm: Uint8Array | undefined;
async function setup(options: ConstructorParameters<typeof ExecutionTest>[0] = {}) {
  moduleWasm ??= await wat(MODULE);
  const t = new ExecutionTest({ rootKey: ROOT_KEY, fees: scheduleFor(1, { costSchedule: 'free' }), ...options });
  const id = await t.createCanister();
  await t.management('update_settings', {
    canister_id: id, settings: { ...emptySettings(), environment_variables: [[{ name: 'ALPHA', value: 'value' }]] }, sender_canister_version: [],
  });
  await t.install(id, moduleWasm);
  return { t, id };
}

/** Runs the cases of one context; for replicated ones, checks that nothing they did persisted. */
async function run(t: ExecutionTest, id: Principal, ctx: Ctx, indices: number[]): Promise<Map<number, Outcome>> {
  const out = new Map<number, Outcome>();
  if (ctx === 'NRQ') {
    for (const i of indices) {
      const q = t.replica.query(id, 'qcase', i32Arg(i), TEST_USER, CERTIFICATE);
      out.set(i, q.status === 'replied' ? { ok: true } : { ok: false, errorCode: q.errorCode, message: q.message });
    }
    return out;
  }
  if (ctx === 'F') {
    for (const i of indices) {
      try {
        await t.submit(id, 'noop', new Uint8Array([...i32Arg(0), ...i32Arg(i)]));
        out.set(i, { ok: true });
      } catch (e) {
        if (!(e instanceof CanisterError)) throw e;
        out.set(i, { ok: false, errorCode: e.errorCode, message: e.message });
      }
    }
    return out;
  }
  const method = ctx === 'U' ? 'case' : ctx === 'Ry' ? 'via_reply' : 'via_reject';
  const submitted: [number, string][] = [];
  for (const i of indices) submitted.push([i, await t.submit(id, method, i32Arg(i))]);
  for (const [i, m] of submitted) {
    const st = await t.awaitStatus(m);
    out.set(i, st.status === 'replied' ? { ok: true } : st.status === 'rejected' ? { ok: false, errorCode: st.errorCode, message: st.message } : { ok: false, errorCode: '', message: st.status });
  }
  return out;
}

test('out-of-bounds arguments trap with a clear message, and the message is rolled back', async (t) => {
  const { t: rt, id } = await setup();
  const balance = rt.canister(id).balance;
  const byCtx = new Map<Ctx, number[]>();
  CASES.forEach((c, i) => byCtx.set(c.ctx, [...(byCtx.get(c.ctx) ?? []), i]));
  const outcomes = new Map<number, Outcome>();
  for (const [ctx, indices] of byCtx) for (const [i, o] of await run(rt, id, ctx, indices)) outcomes.set(i, o);

  for (const [i, c] of CASES.entries()) {
    await t.test(`${c.ctx} ${c.title}`, () => {
      const o = outcomes.get(i)!;
      assert.equal(o.ok, false, 'must trap');
      if (o.ok) return;
      if (c.ctx === 'F' && c.title.endsWith('size 2^32-1')) {
        // The bytes are charged before they are copied (as on the IC): 2^32 instructions exceed
        // the inspect_message limit before the bounds check is reached.
        assert.equal(o.errorCode, 'IC0522', o.message);
        return;
      }
      assert.equal(o.errorCode, c.errorCode, o.message);
      assert.match(o.message, c.match);
    });
  }
  await t.test('nothing persisted: heap, globals, stable memory, certified data, timer, cycles', () => {
    const state = new DataView(rt.query(id, 'state').buffer);
    assert.deepEqual([state.getInt32(0, true), state.getInt32(4, true), state.getInt32(8, true)], [0, 0, 0]);
    assert.deepEqual(rt.canister(id).certifiedData, new Uint8Array(0));
    assert.equal(rt.canister(id).globalTimer, 0n);
    // Execution is free here; the only cycles moving are the 1000 burned by each case (rolled
    // back) and the 5000 sent with each Ry/Rt call, which come back as the refund.
    assert.equal(rt.canister(id).balance, balance);
    assert.equal(rt.canister(id).cyclesBurned.get('cycles_burn'), undefined);
  });
});

test('the cases cover every *_copy function and every function taking a pointer', () => {
  const covered = new Set(CASES.map((c) => c.fn));
  const pointerFunctions = Object.keys(IC0).filter((name) => name.endsWith('_copy') || name.endsWith('128')
    || ['msg_reply_data_append', 'msg_reject', 'call_new', 'call_data_append', 'stable_write', 'stable64_write', 'stable_read', 'stable64_read',
      'certified_data_set', 'is_controller', 'env_var_name_exists', 'env_var_value_size'].includes(name) || name.startsWith('cost_'));
  // call_cycles_add128 takes no pointer; debug_print and trap truncate instead (tested below).
  const missing = pointerFunctions.filter((n) => !covered.has(n) && n !== 'call_cycles_add128');
  assert.deepEqual(missing, []);
});

test('debug_print and trap truncate out-of-bounds text instead of trapping on it', async () => {
  const { t, id } = await setup({ fees: undefined });
  const wasm = await wat(`(module ${IMPORTS} (memory 1)
    (data (i32.const ${MEM - 3}) "xyz")
    (func (export "canister_update print")
      (call $debug_print (i32.const ${MEM - 3}) (i32.const 100))
      (call $debug_print (i32.const 0xffffffff) (i32.const 10))
      (call $debug_print (i32.const 0) (i32.const 0xffffffff))
      (call $msg_reply))
    (func (export "canister_update trap") (call $trap (i32.const ${MEM - 3}) (i32.const 0xffffffff))))`);
  await t.install(id, wasm, undefined, 'reinstall');
  const before = t.canister(id).logs.length;
  await t.update(id, 'print');
  const lines = t.canister(id).logs.slice(before).map((l) => l.content);
  assert.equal(lines.length, 3);
  assert.equal(new TextDecoder().decode(lines[0]), 'xyz');
  assert.equal(lines[1]!.length, 0);
  assert.equal(lines[2]!.length, 32 * 1024, 'capped at the maximum debug_print size');
  await assert.rejects(t.update(id, 'trap'), (e: CallRejected) => {
    assert.equal(e.errorCode, 'IC0503');
    assert.match(e.message, /Canister called `ic0.trap` with message: 'xyz'/);
    return true;
  });
});

test('a huge stable64_read into a small heap traps at once, without materialising the bytes', async () => {
  const { t, id } = await setup();
  const wasm = await wat(`(module ${IMPORTS} (memory 1)
    (func (export "canister_update big")
      (drop (call $stable64_grow (i64.const 70000))) ;; > 4 GiB, allocated lazily
      (call $stable64_read (i64.const 65000) (i64.const 0) (i64.const 0xffffffff))
      (call $msg_reply)))`);
  await t.install(id, wasm, undefined, 'reinstall');
  const started = performance.now();
  await assert.rejects(t.update(id, 'big'), (e: CallRejected) => {
    assert.equal(e.errorCode, 'IC0504');
    assert.match(e.message, /ic0.stable64_read: dst=65000 \+ length=4294967295 exceeds the slice size=65536/);
    return true;
  });
  assert.ok(performance.now() - started < 2000, `took ${performance.now() - started} ms`);
  assert.equal(t.canister(id).stable.sizeBytes, 0, 'the grow was rolled back too');
});

test('the 32-bit stable memory API traps once stable memory is larger than 4 GiB', async () => {
  const { t, id } = await setup();
  const wasm = await wat(`(module ${IMPORTS} (memory 1)
    (func (export "canister_update grow") (drop (call $stable64_grow (i64.const 65537))) (call $msg_reply))
    (func (export "canister_update size") (drop (call $stable_size)) (call $msg_reply))
    (func (export "canister_update grow32") (drop (call $stable_grow (i32.const 0))) (call $msg_reply))
    (func (export "canister_update read32") (call $stable_read (i32.const 0) (i32.const 0) (i32.const 1)) (call $msg_reply))
    (func (export "canister_update write32") (call $stable_write (i32.const 0) (i32.const 0) (i32.const 1)) (call $msg_reply))
    (func (export "canister_update read64") (call $stable64_read (i64.const 0) (i64.const 4294967296) (i64.const 1)) (call $msg_reply)))`);
  await t.install(id, wasm, undefined, 'reinstall');
  await t.update(id, 'grow');
  for (const m of ['size', 'grow32', 'read32', 'write32']) {
    await assert.rejects(t.update(id, m), (e: CallRejected) => {
      assert.equal(e.errorCode, 'IC0502', `${m}: ${e.message}`);
      assert.match(e.message, /32 bit stable memory api used on a memory larger than 4GB/);
      return true;
    });
  }
  await t.update(id, 'read64'); // the 64-bit API reads past 4 GiB
});

// ---- instruction charges -------------------------------------------------------------------

/** Methods `m_<fn>` that read performance_counter(0) around exactly one call of `fn` (args from the argument). */
const MEASURED: Record<string, { args: string; prelude?: string; max?: number }> = {
  none: { args: '' },
  debug_print: { args: '(i32.const 0x1000) (local.get $n)' },
  msg_reply_data_append: { args: '(i32.const 0x1000) (local.get $n)' },
  certified_data_set: { args: '(i32.const 0x1000) (local.get $n)', max: 32 },
  call_data_append: { args: '(i32.const 0x1000) (local.get $n)', prelude: '(call $call_new (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0))' },
  msg_arg_data_copy: { args: '(i32.const 0x1000) (i32.const 0) (local.get $n)', max: 4 },
  canister_self_copy: { args: '(i32.const 0x1000) (i32.const 0) (local.get $n)', max: 10 },
  stable_write: { args: '(i32.const 0) (i32.const 0x1000) (local.get $n)' },
  stable_read: { args: '(i32.const 0x1000) (i32.const 0) (local.get $n)' },
  stable64_write: { args: '(i64.const 0) (i64.const 0x1000) (i64.extend_i32_u (local.get $n))' },
  stable64_read: { args: '(i64.const 0x1000) (i64.const 0) (i64.extend_i32_u (local.get $n))' },
  msg_arg_data_size: { args: '', max: 0 },
  canister_version: { args: '', max: 0 },
  is_controller: { args: '(i32.const 0x1000) (local.get $n)', max: 29 },
};

const MEASURE_MODULE = `(module ${IMPORTS} (memory 2)
  (func (export "canister_init") (drop (call $stable64_grow (i64.const 2))))
  ${Object.entries(MEASURED).map(([fn, m]) => {
    const call = fn === 'none' ? '' : IC0[fn]!.results.length ? `(drop (call $${fn} ${m.args}))` : `(call $${fn} ${m.args})`;
    return `(func (export "canister_update m_${fn}") (local $n i32) (local $a i64) (local $b i64)
    (call $msg_arg_data_copy (i32.const 0x100) (i32.const 0) (i32.const 4))
    (local.set $n (i32.load (i32.const 0x100)))
    ${m.prelude ?? ''}
    (local.set $a (call $performance_counter (i32.const 0)))
    ${call}
    (local.set $b (call $performance_counter (i32.const 0)))
    (i64.store (i32.const 0x200) (i64.sub (local.get $b) (local.get $a)))
    (call $msg_reply_data_append (i32.const 0x200) (i32.const 8))
    (call $msg_reply))`;
  }).join('\n')}
  (func (export "canister_update copy_loop") (local $i i32)
    (loop $l
      (call $stable64_write (i64.const 0) (i64.const 0) (i64.const 60000))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get $i) (i32.const 40))))
    (call $msg_reply))
)`;

test('system call charges: a fixed overhead per function plus one instruction per byte, seen by performance_counter', async () => {
  const t = new ExecutionTest();
  const id = await t.createAndInstall(await wat(MEASURE_MODULE));
  const delta = async (fn: string, n: number) => {
    const reply = await t.update(id, `m_${fn}`, i32Arg(n));
    // The counter delta is the last 8 bytes (msg_reply_data_append puts its own bytes first).
    return new DataView(reply.buffer, reply.byteOffset + reply.length - 8).getBigInt64(0, true);
  };
  const base = await delta('none', 0);
  // Reading the counter itself costs the performance_counter overhead.
  assert.ok(base >= costOf('performance_counter', 0), `baseline ${base}`);
  const zero: Record<string, bigint> = {};
  for (const [fn, m] of Object.entries(MEASURED)) {
    if (fn === 'none') continue;
    zero[fn] = await delta(fn, 0);
    // The overhead: what the call adds to the baseline, up to the few Wasm instructions that push its arguments.
    const overhead = zero[fn]! - base;
    assert.ok(overhead >= costOf(fn, 0) && overhead <= costOf(fn, 0) + 10n, `${fn}: overhead ${overhead}, table ${costOf(fn, 0)}`);
    const n = m.max ?? 5000;
    if (n > 0) assert.equal(await delta(fn, n) - zero[fn]!, BigInt(n), `${fn}: ${n} bytes`);
  }
  // Same call shape, different function: exactly the difference of the overheads.
  assert.equal(zero.msg_reply_data_append! - zero.debug_print!, costOf('msg_reply_data_append', 0) - costOf('debug_print', 0));
  assert.equal(zero.msg_arg_data_copy! - zero.stable_read!, costOf('msg_arg_data_copy', 0) - costOf('stable_read', 0));
  assert.equal(zero.stable64_write! - zero.stable64_read!, 0n);
});

test('bytes copied by system calls count against the instruction limit', async () => {
  const t = new ExecutionTest({
    execution: { ...DEFAULT_EXECUTION_CONFIG, instructions: { ...DEFAULT_EXECUTION_CONFIG.instructions, update: 2_000_000n } },
  });
  const id = await t.createAndInstall(await wat(MEASURE_MODULE));
  // 40 writes of 60 000 bytes: 2.4 M instructions of copying, a few hundred of Wasm.
  await assert.rejects(t.update(id, 'copy_loop'), (e: CallRejected) => {
    assert.equal(e.errorCode, 'IC0522');
    assert.match(e.message, /exceeded the limit of 2000000 instructions/);
    return true;
  });
  assert.deepEqual(await t.update(id, 'm_none', i32Arg(0)).then((r) => r.length), 8, 'the canister still works');
});
