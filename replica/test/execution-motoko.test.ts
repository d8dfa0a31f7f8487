// Real Motoko canisters on the execution core: compiled in the test set-up, installed through
// the management canister, driven by ingress messages and rounds.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { IDL } from '@icp-sdk/core/candid';
import { Principal } from '@icp-sdk/core/principal';
import { compileMotoko } from '../../test/support/motoko.js';
import { CallRejected, ExecutionTest, TEST_USER, candid, decode } from '../../test/support/execution-test.js';
import { DEFAULT_EXECUTION_CONFIG } from '../src/index.js';

const nat = (bytes: Uint8Array) => decode<bigint>([IDL.Nat], bytes)[0];
// A small update limit keeps the looping canister test short; the mechanism is the same at 40 B.
const config = {
  execution: { ...DEFAULT_EXECUTION_CONFIG, instructions: { ...DEFAULT_EXECUTION_CONFIG.instructions, update: 500_000_000n } },
};

test('counter: updates change state, queries read it', async () => {
  const { wasm } = await compileMotoko('counter');
  const t = new ExecutionTest(config);
  const id = await t.createAndInstall(wasm);
  assert.equal(nat(await t.update(id, 'inc')), 1n);
  assert.equal(nat(await t.update(id, 'inc')), 2n);
  assert.equal(nat(t.query(id, 'get')), 2n);
  assert.equal(nat(await t.update(id, 'add', candid([IDL.Nat], [40n]))), 42n);
  assert.equal(nat(t.query(id, 'get')), 42n);
  // An update call to a query method runs it as a replicated query: the reply counts, memory
  // changes do not (Motoko's runtime would otherwise be left "in query" and trap from then on).
  assert.equal(nat(await t.update(id, 'get')), 42n);
  assert.equal(nat(await t.update(id, 'inc')), 43n);
  assert.equal(nat(await t.update(id, 'get')), 43n);
});

test('upgrade keeps stable variables and wipes the heap', async () => {
  const { wasm } = await compileMotoko('upgrade');
  const t = new ExecutionTest(config);
  const id = await t.createAndInstall(wasm);
  await t.update(id, 'bump');
  await t.update(id, 'bump');
  const Read = IDL.Record({ stable_count: IDL.Nat, heap_count: IDL.Nat });
  assert.deepEqual(decode([Read], t.query(id, 'read'))[0], { stable_count: 2n, heap_count: 2n });
  const versionBefore = t.canister(id).version;
  await t.install(id, wasm, candid(), 'upgrade');
  assert.deepEqual(decode([Read], t.query(id, 'read'))[0], { stable_count: 2n, heap_count: 0n });
  assert.ok(t.canister(id).version > versionBefore);
  await t.update(id, 'bump');
  assert.deepEqual(decode([Read], t.query(id, 'read'))[0], { stable_count: 3n, heap_count: 1n });
  // Reinstall wipes stable memory too.
  await t.install(id, wasm, candid(), 'reinstall');
  assert.deepEqual(decode([Read], t.query(id, 'read'))[0], { stable_count: 0n, heap_count: 0n });
});

test('a trap after a write leaves the state unchanged and reports IC0503', async () => {
  const { wasm } = await compileMotoko('trap');
  const t = new ExecutionTest(config);
  const id = await t.createAndInstall(wasm);
  const balanceBefore = t.canister(id).balance;
  await assert.rejects(t.update(id, 'write_then_trap'), (e: CallRejected) => {
    assert.equal(e.rejectCode, 5);
    assert.equal(e.errorCode, 'IC0503');
    assert.match(e.message, /Canister called `ic0.trap` with message: '?boom/);
    assert.match(e.message, new RegExp(id.toText()));
    return true;
  });
  assert.equal(nat(t.query(id, 'read')), 0n);
  // The instructions executed were still paid for.
  assert.ok(t.canister(id).balance < balanceBefore);
  // The canister keeps working after the trap.
  await assert.rejects(t.update(id, 'write_then_trap'));
  assert.equal(nat(t.query(id, 'read')), 0n);
});

test('an infinite loop runs out of instructions with IC0522 and the canister stays usable', async () => {
  const { wasm } = await compileMotoko('loop');
  const t = new ExecutionTest(config);
  const id = await t.createAndInstall(wasm);
  await assert.rejects(t.update(id, 'spin'), (e: CallRejected) => {
    assert.equal(e.errorCode, 'IC0522');
    assert.match(e.message, /exceeded the limit of 500000000 instructions for single message execution/);
    return true;
  });
  assert.equal(nat(await t.update(id, 'work', candid([IDL.Nat], [1000n]))), 2997n);
});

test('a canister calls the management canister: canister_status and raw_rand', async () => {
  const { wasm } = await compileMotoko('mgmt');
  // The same blocks on two replicas: raw_rand must give both the same bytes.
  const replay = async () => {
    const t = new ExecutionTest(config);
    const id = await t.createCanister();
    // The canister must control itself to read its own status.
    await t.management('update_settings', {
      canister_id: id,
      settings: { controllers: [[TEST_USER, id]], compute_allocation: [], memory_allocation: [], freezing_threshold: [],
        reserved_cycles_limit: [], log_visibility: [], wasm_memory_limit: [], wasm_memory_threshold: [], environment_variables: [] },
      sender_canister_version: [],
    });
    await t.install(id, wasm);
    const cycles = nat(await t.update(id, 'self_status'));
    assert.ok(cycles > 0n && cycles <= 100_000_000_000_000n, `cycles ${cycles}`);
    const a = decode<Uint8Array>([IDL.Vec(IDL.Nat8)], await t.update(id, 'raw_rand'))[0]!;
    const b = decode<Uint8Array>([IDL.Vec(IDL.Nat8)], await t.update(id, 'raw_rand'))[0]!;
    await t.close();
    return [a, b];
  };
  const [a, b] = await replay();
  assert.equal(a.length, 32);
  assert.notDeepEqual(a, b);
  assert.deepEqual(await replay(), [a, b]);
});

test('management canister: controllers only, with the IC error for everyone else', async () => {
  const { wasm } = await compileMotoko('counter');
  const t = new ExecutionTest(config);
  const id = await t.createAndInstall(wasm);
  const stranger = Principal.fromUint8Array(new Uint8Array([9, 9, 9, 2]));
  await assert.rejects(t.install(id, wasm, candid(), 'reinstall', stranger), (e: CallRejected) => {
    assert.equal(e.errorCode, 'IC0512');
    assert.match(e.message, /Only the controllers of the canister/);
    return true;
  });
  await assert.rejects(t.management('canister_status', { canister_id: id }, stranger), /IC0512|Only the controllers/);
  // Installing again without reinstall is refused; the canister keeps its code.
  await assert.rejects(t.install(id, wasm), (e: CallRejected) => e.errorCode === 'IC0514');
  assert.equal(nat(await t.update(id, 'inc')), 1n);
});
