// Hostile and broken canister modules: each must get a clear error, and none may crash or stall
// the replica. All cases share one replica that also hosts a well-behaved counter canister,
// checked after every case.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { gzipSync } from 'node:zlib';
import type { Principal } from '@icp-sdk/core/principal';
import { compileMotoko } from '../../test/support/motoko.js';
import { CallRejected, ExecutionTest, candid, emptySettings } from '../../test/support/execution-test.js';
import { wat } from '../../test/support/wat.js';
import { CanisterError, DEFAULT_EXECUTION_CONFIG } from '../src/index.js';
import { PageMap } from '../src/state/page-map.js';

// Small limits keep the runaway cases short; the mechanisms are the same at the IC's limits.
const LIMITS = { update: 200_000_000n, query: 50_000_000n, inspectMessage: 10_000_000n, install: 100_000_000n, cleanup: 50_000_000n };
const config = { execution: { ...DEFAULT_EXECUTION_CONFIG, instructions: { ...DEFAULT_EXECUTION_CONFIG.instructions, ...LIMITS } } };

const REPLY = '(import "ic0" "msg_reply" (func $reply))';
const COUNTER = `(module
  ${REPLY}
  (import "ic0" "msg_reply_data_append" (func $append (param i32 i32)))
  (memory 1)
  (func (export "canister_update inc")
    (i32.store (i32.const 0) (i32.add (i32.load (i32.const 0)) (i32.const 1)))
    (call $append (i32.const 0) (i32.const 4)) (call $reply))
  (func (export "canister_query get") (call $append (i32.const 0) (i32.const 4)) (call $reply)))`;

let shared: { t: ExecutionTest; counter: Principal; expected: number } | undefined;
async function replica() {
  if (!shared) {
    const t = new ExecutionTest(config);
    shared = { t, counter: await t.createAndInstall(await wat(COUNTER)), expected: 0 };
  }
  return shared;
}

const u32 = (b: Uint8Array) => new DataView(b.buffer, b.byteOffset, b.byteLength).getUint32(0, true);

/** The well-behaved canister still executes updates and queries, with its state intact. */
async function assertHealthy(): Promise<void> {
  const s = await replica();
  s.expected++;
  assert.equal(u32(await s.t.update(s.counter, 'inc')), s.expected);
  assert.equal(u32(s.t.query(s.counter, 'get')), s.expected);
}

function rejected(errorCode: string | RegExp, message: RegExp | string) {
  return (e: unknown) => {
    // CallRejected from execution, or CanisterError when the replica refuses the ingress up front.
    assert.ok(e instanceof CallRejected || e instanceof CanisterError, `expected a rejection, got ${String(e)}`);
    if (typeof errorCode === 'string') assert.equal(e.errorCode, errorCode, e.message);
    else assert.match(e.errorCode, errorCode, e.message);
    if (typeof message === 'string') assert.ok(e.message.includes(message), `${JSON.stringify(e.message)} lacks ${JSON.stringify(message)}`);
    else assert.match(e.message, message);
    return true;
  };
}

/** Installing `wasm` on a fresh canister fails as described, and the canister stays empty. */
async function installFails(wasm: Uint8Array, errorCode: string | RegExp, message: RegExp | string): Promise<Principal> {
  const { t } = await replica();
  const id = await t.createCanister();
  await assert.rejects(t.install(id, wasm), rejected(errorCode, message));
  assert.equal(t.canister(id).execution, undefined, 'the canister stays empty');
  assert.equal(t.canister(id).stable.sizeBytes, 0);
  await assert.rejects(t.update(id, 'inc'), rejected('IC0537', 'contains no Wasm module'));
  return id;
}

// ---- helpers building binary modules -------------------------------------------------------

function leb(n: number): number[] {
  const out: number[] = [];
  do {
    let b = n & 0x7f;
    n = Math.floor(n / 128);
    if (n > 0) b |= 0x80;
    out.push(b);
  } while (n > 0);
  return out;
}
function section(id: number, body: number[] | Uint8Array): Uint8Array {
  return Uint8Array.from([id, ...leb(body.length), ...body]);
}
function moduleOf(...sections: Uint8Array[]): Uint8Array {
  const header = Uint8Array.of(0x00, 0x61, 0x73, 0x6d, 1, 0, 0, 0);
  const out = new Uint8Array(header.length + sections.reduce((n, s) => n + s.length, 0));
  out.set(header);
  let at = header.length;
  for (const s of sections) {
    out.set(s, at);
    at += s.length;
  }
  return out;
}

/** A structurally valid module with `n` empty functions `() -> ()`. */
function manyFunctions(n: number): Uint8Array {
  const types = section(1, [1, 0x60, 0, 0]);
  const funcs = new Uint8Array([...leb(n), ...new Uint8Array(n)]); // every function has type 0
  const code = new Uint8Array(leb(n).length + n * 3);
  code.set(leb(n));
  for (let i = 0, at = leb(n).length; i < n; i++, at += 3) code.set([2, 0, 0x0b], at); // size 2: no locals, end
  return moduleOf(types, section(3, funcs), section(10, code));
}

// ---- install-time rejections -----------------------------------------------------------------

test('random bytes as a module: IC0505, nothing installed', async () => {
  let seed = 42;
  const random = Uint8Array.from({ length: 4096 }, () => (seed = (seed * 1103515245 + 12345) >>> 0) >>> 24);
  await installFails(random, 'IC0505', /Wasm module is malformed/);
  // Random bytes behind a valid header.
  const headed = new Uint8Array(random);
  headed.set([0x00, 0x61, 0x73, 0x6d, 1, 0, 0, 0]);
  await installFails(headed, 'IC0505', /Wasm module/);
  await installFails(new Uint8Array(0), 'IC0505', /Wasm module is malformed/);
  await assertHealthy();
});

test('a truncated Motoko module: IC0505', async () => {
  const { wasm } = await compileMotoko('counter');
  for (const fraction of [0.1, 0.5, 0.99]) {
    await installFails(wasm.slice(0, Math.floor(wasm.length * fraction)), 'IC0505', /Wasm module/);
  }
  // And gzipped, then truncated: the gzip stream is incomplete.
  const gz = gzipSync(wasm);
  await installFails(gz.subarray(0, gz.length >> 1), 'IC0505', /gzip decompression failed/);
  await assertHealthy();
});

test('100 000 functions: IC0505 (over the function limit)', async () => {
  const started = performance.now();
  await installFails(manyFunctions(100_000), 'IC0505', /defined 100000 functions which exceeds the maximum number allowed 50000/);
  assert.ok(performance.now() - started < 5000, `took ${Math.round(performance.now() - started)} ms`);
  await assertHealthy();
});

test('a data segment claiming 4 GiB of bytes it does not have: IC0505', async () => {
  const types = section(1, [1, 0x60, 0, 0]);
  const memory = section(5, [1, 0, 1]);
  // One active segment at offset 0 that claims 0xfffffff0 bytes; only 4 follow.
  const data = section(11, [1, 0, 0x41, 0, 0x0b, ...leb(0xfffffff0), 1, 2, 3, 4]);
  await installFails(moduleOf(types, memory, data), 'IC0505', /Wasm module/);
  // A section size that claims more bytes than the module has.
  await installFails(Uint8Array.of(0, 0x61, 0x73, 0x6d, 1, 0, 0, 0, 11, ...leb(0x7ffffff0), 1), 'IC0505', /Wasm module/);
  await assertHealthy();
});

test('a data segment past the end of memory: a clear error at install, nothing installed', async () => {
  await installFails(await wat(`(module (memory 1) (data (i32.const 65530) "0123456789"))`), /^IC05\d\d$/, 'data segment is out of bounds');
  await installFails(await wat(`(module (memory 1) (data (i32.const -1) "x"))`), /^IC05\d\d$/, 'data segment is out of bounds');
  await assertHealthy();
});

test('a gzip bomb (decompresses beyond the 100 MiB limit): IC0505 without inflating it all', async () => {
  const inflated = new Uint8Array(120 * 1024 * 1024);
  inflated.set([0x00, 0x61, 0x73, 0x6d, 1, 0, 0, 0]);
  const bomb = gzipSync(inflated, { level: 9 });
  assert.ok(bomb.length < 200_000, `${bomb.length} bytes`);
  const started = performance.now();
  await installFails(bomb, 'IC0505', /exceeds the maximum allowed size of 104857600 bytes/);
  assert.ok(performance.now() - started < 5000, `took ${Math.round(performance.now() - started)} ms`);
  await assertHealthy();
});

test('an infinite loop in canister_init: the install fails at the instruction limit (IC0522), nothing installed', async () => {
  const wasm = await wat(`(module (memory 1) (func (export "canister_init") (loop $l (br $l))))`);
  await installFails(wasm, 'IC0522', `exceeded the limit of ${LIMITS.install} instructions`);
  await assertHealthy();
});

test('a trap or a runaway loop in the start function: the install fails, nothing installed', async () => {
  await installFails(await wat(`(module (func $s unreachable) (start $s))`), 'IC0502', /Canister trapped: unreachable/);
  await installFails(await wat(`(module (func $s (loop $l (br $l))) (start $s))`), 'IC0522', `exceeded the limit of ${LIMITS.install} instructions`);
  await installFails(await wat(`(module (import "ic0" "trap" (func $trap (param i32 i32))) (memory 1) (data (i32.const 0) "nope")
    (func $s (call $trap (i32.const 0) (i32.const 4))) (start $s))`), 'IC0503', "Canister called `ic0.trap` with message: 'nope'");
  await assertHealthy();
});

test('a failed upgrade leaves the old module, its memory and its stable memory in place', async () => {
  const { t } = await replica();
  const id = await t.createAndInstall(await wat(COUNTER));
  await t.update(id, 'inc');
  await t.update(id, 'inc');
  const version = t.canister(id).version;
  await assert.rejects(t.install(id, await wat(`(module (func $s unreachable) (start $s))`), candid(), 'upgrade'), rejected('IC0502', 'unreachable'));
  await assert.rejects(t.install(id, Uint8Array.of(1, 2, 3), candid(), 'upgrade'), rejected('IC0505', /malformed/));
  assert.equal(t.canister(id).version, version);
  assert.equal(u32(t.query(id, 'get')), 2);
  assert.equal(u32(await t.update(id, 'inc')), 3);
  await assertHealthy();
});

// ---- runtime misbehaviour -------------------------------------------------------------------

const RUNAWAY = `(module
  ${REPLY}
  (memory 1)
  (table 2 funcref)
  (elem (i32.const 0) $self_indirect)
  (func $rec (call $rec))
  (func $self_indirect (call_indirect (i32.const 0)))
  (func $big (param i64 i64 i64 i64) (local ${'i64 '.repeat(1000)})
    (call $big (local.get 0) (local.get 1) (local.get 2) (local.get 3)))
  (func (export "canister_update recurse") (call $rec))
  (func (export "canister_update recurse_indirect") (call $self_indirect))
  (func (export "canister_update recurse_big") (call $big (i64.const 1) (i64.const 2) (i64.const 3) (i64.const 4)))
  (func (export "canister_query recurse_query") (call $rec))
  (func (export "canister_update spin") (loop $l (br $l)))
  (func (export "canister_query spin_query") (loop $l (br $l)))
  (func (export "canister_update silent"))
  (func (export "canister_query silent_query"))
  (func (export "canister_update ok") (call $reply)))`;

test('infinite recursion traps with a stack overflow (IC0502), and the canister keeps working', async () => {
  const { t } = await replica();
  const id = await t.createAndInstall(await wat(RUNAWAY));
  await assert.rejects(t.update(id, 'recurse'), rejected('IC0502', /Canister trapped: stack overflow/));
  await assert.rejects(t.update(id, 'recurse_indirect'), rejected('IC0502', /Canister trapped: stack overflow/));
  // Frames of 1000 locals exhaust the engine's stack before the call depth limit.
  await assert.rejects(t.update(id, 'recurse_big'), rejected('IC0502', /Canister trapped: stack overflow/));
  assert.throws(() => t.query(id, 'recurse_query'), rejected('IC0502', /Canister trapped: stack overflow/));
  await t.update(id, 'ok');
  await assertHealthy();
});

test('runaway loops stop at the instruction limit (IC0522) in updates and queries', async () => {
  const { t } = await replica();
  const id = await t.createAndInstall(await wat(RUNAWAY));
  await assert.rejects(t.update(id, 'spin'), rejected('IC0522', `exceeded the limit of ${LIMITS.update} instructions`));
  assert.throws(() => t.query(id, 'spin_query'), rejected('IC0522', `exceeded the limit of ${LIMITS.query} instructions`));
  await t.update(id, 'ok');
  await assertHealthy();
});

test('an unknown method: IC0536 for updates and queries', async () => {
  const { t } = await replica();
  const id = await t.createAndInstall(await wat(RUNAWAY));
  await assert.rejects(t.update(id, 'no_such_method'), rejected('IC0536', "has no update method 'no_such_method'"));
  assert.throws(() => t.query(id, 'no_such_method'), rejected('IC0536', "has no query method 'no_such_method'"));
  assert.throws(() => t.query(id, 'ok'), rejected('IC0536', "has no query method 'ok'"));
  await assertHealthy();
});

test('a method that never replies: IC0506 for queries and updates', async () => {
  const { t } = await replica();
  const id = await t.createAndInstall(await wat(RUNAWAY));
  assert.throws(() => t.query(id, 'silent_query'), rejected('IC0506', 'did not reply'));
  await assert.rejects(t.update(id, 'silent'), rejected('IC0506', 'did not produce a response'));
  await assertHealthy();
});

test('memory.grow up to the wasm_memory_limit, -1 beyond it; the canister stays consistent', async () => {
  const { t } = await replica();
  const id = await t.createAndInstall(await wat(`(module
    (import "ic0" "msg_reply" (func $reply))
    (import "ic0" "msg_reply_data_append" (func $append (param i32 i32)))
    (memory 1)
    (func $out (param $v i32) (i32.store (i32.const 0) (local.get $v)) (call $append (i32.const 0) (i32.const 4)))
    (func (export "canister_update grow_all") (local $n i32)
      (block $done (loop $l
        (br_if $done (i32.eq (memory.grow (i32.const 1)) (i32.const -1)))
        (local.set $n (i32.add (local.get $n) (i32.const 1)))
        (br $l)))
      ;; touch the last byte of the last page
      (i32.store8 (i32.sub (i32.mul (memory.size) (i32.const 65536)) (i32.const 1)) (i32.const 0x5a))
      (call $out (local.get $n)) (call $out (memory.size)) (call $out (memory.grow (i32.const 1))) (call $reply))
    (func (export "canister_update grow_then_trap") (drop (memory.grow (i32.const 1))) unreachable)
    (func (export "canister_query probe")
      (call $out (memory.size))
      (call $out (i32.load8_u (i32.sub (i32.mul (memory.size) (i32.const 65536)) (i32.const 1))))
      (call $reply)))`));
  const limit = 2n * 1024n * 1024n; // 32 pages
  await t.management('update_settings', { canister_id: id, settings: { ...emptySettings(), wasm_memory_limit: [limit] }, sender_canister_version: [] });
  const grown = await t.update(id, 'grow_all');
  const view = new DataView(grown.buffer, grown.byteOffset);
  assert.equal(view.getInt32(0, true), 31, 'grew from 1 to 32 pages');
  assert.equal(view.getInt32(4, true), 32);
  assert.equal(view.getInt32(8, true), -1, 'memory.grow beyond the limit returns -1');
  assert.equal(t.canister(id).execution!.heap.sizeBytes, Number(limit));
  const probe = t.query(id, 'probe');
  assert.deepEqual([u32(probe), u32(probe.subarray(4))], [32, 0x5a]);
  // A later message still cannot grow; one that traps after a failed grow changes nothing.
  await assert.rejects(t.update(id, 'grow_then_trap'), rejected('IC0502', 'unreachable'));
  assert.deepEqual([u32(t.query(id, 'probe')), u32(t.query(id, 'probe').subarray(4))], [32, 0x5a]);
  // Raising the limit lets it grow again; a grow in a trapped message is undone.
  await t.management('update_settings', { canister_id: id, settings: { ...emptySettings(), wasm_memory_limit: [4n * limit] }, sender_canister_version: [] });
  await assert.rejects(t.update(id, 'grow_then_trap'), rejected('IC0502', 'unreachable'));
  assert.equal(u32(t.query(id, 'probe')), 32, 'the grow of the trapped message was rolled back');
  const more = await t.update(id, 'grow_all');
  assert.equal(new DataView(more.buffer, more.byteOffset).getInt32(4, true), 128);
  await assertHealthy();
});

test('a heartbeat that runs away every round does not stall the replica', async () => {
  const t = new ExecutionTest(config);
  const counter = await t.createAndInstall(await wat(COUNTER));
  const id = await t.createAndInstall(await wat(`(module (func (export "canister_heartbeat") (loop $l (br $l))))`));
  const started = performance.now();
  for (let i = 1; i <= 3; i++) assert.equal(u32(await t.update(counter, 'inc')), i);
  assert.ok(performance.now() - started < 20_000);
  const traps = t.canister(id).logs.filter((l) => new TextDecoder().decode(l.content).startsWith('[TRAP]: '));
  assert.ok(traps.length >= 3, 'each runaway heartbeat is logged as a trap');
  assert.match(new TextDecoder().decode(traps[0]!.content), /exceeded the limit of 200000000 instructions/);
});

test('a module with a 4 GiB initial memory does not crash the replica', async (tc) => {
  const { t } = await replica();
  const id = await t.createCanister();
  // Whole-memory page map operations are what cost seconds of uncharged host time per install.
  const fromMemory = tc.mock.method(PageMap, 'fromMemory');
  const copyInto = tc.mock.method(PageMap.prototype, 'copyInto');
  let installed = false;
  const started = performance.now();
  try {
    await t.install(id, await wat(`(module ${REPLY} (memory 65536) (func (export "canister_update ok") (call $reply)))`));
    await t.update(id, 'ok');
    installed = true;
  } catch (e) {
    // Refusing it (it exceeds the default 3 GiB wasm_memory_limit) is fine too.
    assert.ok(e instanceof CallRejected, String(e));
  }
  const took = performance.now() - started;
  assert.ok(took < 120_000, `took ${Math.round(took)} ms`);
  await assertHealthy();
  await tc.test('and visits only the pages it uses, never the whole memory', () => {
    assert.equal(fromMemory.mock.callCount(), 0);
    assert.equal(copyInto.mock.callCount(), 0);
    if (installed) {
      const heap = t.canister(id).execution!.heap;
      assert.equal(heap.sizeBytes, 4 * 1024 ** 3);
      assert.deepEqual(heap.indices(), []);
    }
  });
});

test('a callback index outside the table or at an empty slot traps; the canister keeps working', async () => {
  const { t } = await replica();
  const id = await t.createAndInstall(await wat(callbackModule('(func $cb (param i32) (call $reply))', 1)));
  await assert.rejects(t.update(id, 'call', Uint8Array.of(100)), rejected(/^IC05\d\d$/, /table index 100/));
  await assert.rejects(t.update(id, 'call', Uint8Array.of(1)), rejected(/^IC05\d\d$/, /table index 1/));
  await t.update(id, 'call', Uint8Array.of(0)); // the valid callback replies
  await assertHealthy();
});

test('a reply callback whose table entry has the wrong type traps instead of crashing the replica', async () => {
  for (const cb of [
    '(func $cb (param i64) (call $reply))',
    '(func $cb (param i32) (result i32) (call $reply) (i32.const 0))',
    '(func $cb (param i32 i32) (call $reply))',
  ]) {
    const t = new ExecutionTest(config); // a crash must not take the shared replica down
    const id = await t.createAndInstall(await wat(callbackModule(cb, 2)));
    await assert.rejects(t.update(id, 'call', Uint8Array.of(0)), rejected(/^IC05\d\d$/, /signature|type/), cb);
  }
});

/** Calls itself ("pong"); the reply/reject callback is the table index given as the argument's first byte; `$cb` is at index 0. */
function callbackModule(cb: string, tableSize: number): string {
  return `(module
    (import "ic0" "msg_reply" (func $reply))
    (import "ic0" "msg_arg_data_copy" (func $arg (param i32 i32 i32)))
    (import "ic0" "canister_self_size" (func $self_size (result i32)))
    (import "ic0" "canister_self_copy" (func $self_copy (param i32 i32 i32)))
    (import "ic0" "call_new" (func $call_new (param i32 i32 i32 i32 i32 i32 i32 i32)))
    (import "ic0" "call_perform" (func $perform (result i32)))
    (memory 1)
    (data (i32.const 100) "pong")
    (table ${tableSize} funcref)
    (elem (i32.const 0) $cb)
    ${cb}
    (func (export "canister_update pong") (call $reply))
    (func (export "canister_update call")
      (call $arg (i32.const 200) (i32.const 0) (i32.const 1))
      (call $self_copy (i32.const 0) (i32.const 0) (call $self_size))
      (call $call_new (i32.const 0) (call $self_size) (i32.const 100) (i32.const 4)
        (i32.load8_u (i32.const 200)) (i32.const 0) (i32.load8_u (i32.const 200)) (i32.const 0))
      (drop (call $perform))))`;
}
