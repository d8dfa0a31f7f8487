// The query executors' copy of the certified state: after every round it holds exactly the
// canisters' memories, globals and views of the replicated state (only what changed is sent),
// answers queries as a query on the replicated state does, follows reinstalls and deletions, and
// applies the per-query instruction limit.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { IDL } from '@icp-sdk/core/candid';
import type { Principal } from '@icp-sdk/core/principal';
import { compileMotoko } from '../../test/support/motoko.js';
import { ExecutionTest, TEST_USER, candid } from '../../test/support/execution-test.js';
import { scheduleFor } from '../src/cycles/index.js';
import { InProcessQueries, QueryStatePublisher, QueryStore, QueryExecutor, QueryWorkerPool, DEFAULT_QUERY_LIMITS, type QueryStateUpdate } from '../src/query/index.js';
import { CanisterError } from '../src/errors.js';
import { executionFees } from '../src/execution/fees.js';
import { PageMap } from '../src/state/page-map.js';

function samePages(actual: PageMap, expected: PageMap, what: string): void {
  assert.equal(actual.sizeBytes, expected.sizeBytes, `${what}: size`);
  const indices = expected.indices();
  assert.deepEqual(actual.indices().filter((i) => !isZeroPage(actual.page(i))), indices.filter((i) => !isZeroPage(expected.page(i))), `${what}: pages`);
  for (const i of indices) assert.ok(Buffer.from(actual.page(i)).equals(Buffer.from(expected.page(i))), `${what}: page ${i}`);
}

const isZeroPage = (p: Uint8Array) => p.every((b) => b === 0);

function setup(t: ExecutionTest) {
  const publisher = new QueryStatePublisher(t.replica.env, { subnetId: t.replica.config.subnetId.toUint8Array(), rootKey: () => t.replica.config.rootKey });
  const store = new QueryStore(t.replica.config.execution.stableMemoryBytes);
  const updates: QueryStateUpdate[] = [];
  const publish = () => {
    const update = publisher.build(t.state);
    updates.push(update);
    store.apply(update);
    return update;
  };
  return { publisher, store, publish, updates };
}

function assertMirrors(t: ExecutionTest, store: QueryStore, ids: Principal[]): void {
  for (const id of ids) {
    const c = t.canister(id);
    const copy = store.canister(id.toText());
    assert.ok(copy?.code && c.execution, `canister ${id.toText()} in the query state`);
    samePages(copy.code.heap, c.execution.heap, 'heap');
    samePages(copy.code.stable, c.stable, 'stable');
    assert.deepEqual(copy.code.globals, c.execution.globals);
    assert.equal(copy.view.version, c.version);
    assert.equal(copy.view.balance, c.balance);
  }
}

test('the query state follows every round with the pages that changed, and answers as the replicated state does', async () => {
  const t = new ExecutionTest();
  const { store, publish } = setup(t);
  const executor = new QueryExecutor(store, executionFees(scheduleFor(1)));
  const counter = await t.createAndInstall((await compileMotoko('counter')).wasm);
  const leaf = await t.createAndInstall((await compileMotoko('leaf')).wasm);
  const first = publish();
  assert.ok(first.canisters.every((c) => c.code?.full), 'the first update carries whole memories');
  assertMirrors(t, store, [counter, leaf]);

  const nat = (bytes: Uint8Array) => IDL.decode([IDL.Nat], bytes)[0];
  for (let i = 1n; i <= 5n; i++) {
    await t.update(counter, 'inc');
    await t.update(leaf, 'set', candid([IDL.Nat], [i * 10n]));
    const update = publish();
    const sent = update.canisters.filter((c) => c.code !== undefined);
    assert.ok(sent.every((c) => !c.code!.full), 'later updates carry only changed pages');
    assertMirrors(t, store, [counter, leaf]);
    for (const [id, method] of [[counter, 'get'], [leaf, 'get']] as const) {
      const r = executor.execute({ canisterId: id.toText(), method, arg: candid(), caller: TEST_USER.toUint8Array() });
      assert.equal(r.status, 'replied');
      assert.equal(nat((r as { reply: Uint8Array }).reply), nat(t.query(id, method)));
    }
  }
  // A round that changed nothing of a canister sends nothing of it.
  await t.tick();
  const quiet = publish();
  assert.ok(quiet.canisters.every((c) => c.code === undefined || (c.code.heap.indices.length === 0 && c.code.stable.indices.length === 0)));

  // A query that writes its memory leaves the copy as it was.
  const before = Buffer.from(store.canister(leaf.toText())!.code!.heap.page(0)).toString('hex');
  for (let i = 0; i < 3; i++) {
    const r = executor.execute({ canisterId: leaf.toText(), method: 'bump', arg: candid(), caller: TEST_USER.toUint8Array() });
    assert.equal(nat((r as { reply: Uint8Array }).reply), 51n);
  }
  assert.equal(Buffer.from(store.canister(leaf.toText())!.code!.heap.page(0)).toString('hex'), before);
  await t.close();
});

test('reinstalls send whole memories again; deleted canisters leave the query state', async () => {
  const t = new ExecutionTest();
  const { store, publish } = setup(t);
  const counterWasm = (await compileMotoko('counter')).wasm;
  const id = await t.createAndInstall(counterWasm);
  await t.update(id, 'inc');
  publish();
  await t.install(id, counterWasm, candid(), 'reinstall');
  const update = publish();
  assert.equal(update.canisters.find((c) => c.id === id.toText())?.code?.full, true);
  assertMirrors(t, store, [id]);

  await t.management('stop_canister', { canister_id: id });
  await t.management('delete_canister', { canister_id: id });
  const gone = publish();
  assert.deepEqual(gone.removed, [id.toText()]);
  assert.equal(store.canister(id.toText()), undefined);
  await t.close();
});

test('a query over its instruction limit is rejected with IC0522, on the main thread as on workers', async () => {
  const t = new ExecutionTest();
  const leaf = await t.createAndInstall((await compileMotoko('leaf')).wasm);
  const publisher = new QueryStatePublisher(t.replica.env, { subnetId: t.replica.config.subnetId.toUint8Array(), rootKey: () => t.replica.config.rootKey });
  const queries = new InProcessQueries({
    fees: scheduleFor(1),
    stableMemoryBytes: t.replica.config.execution.stableMemoryBytes,
    limits: { ...DEFAULT_QUERY_LIMITS, instructionsPerQuery: 10_000_000n },
  });
  queries.publish(publisher.build(t.state));
  const r = await queries.execute({ canisterId: leaf.toText(), method: 'burn', arg: candid([IDL.Nat], [10_000_000n]), caller: TEST_USER.toUint8Array() });
  assert.equal(r.status, 'rejected');
  assert.equal((r as { errorCode: string }).errorCode, 'IC0522');
  assert.match((r as { message: string }).message, /exceeded the limit of 10000000 instructions/);
  const ok = await queries.execute({ canisterId: leaf.toText(), method: 'burn', arg: candid([IDL.Nat], [100n]), caller: TEST_USER.toUint8Array() });
  assert.equal(ok.status, 'replied');
  await queries.close();
  await t.close();
});

test('a query worker that dies is replaced and gets a whole state with the next certified round', async () => {
  const t = new ExecutionTest();
  const leaf = await t.createAndInstall((await compileMotoko('leaf')).wasm);
  await t.update(leaf, 'set', candid([IDL.Nat], [9n]));
  const publisher = new QueryStatePublisher(t.replica.env, { subnetId: t.replica.config.subnetId.toUint8Array(), rootKey: () => t.replica.config.rootKey });
  const pool = new QueryWorkerPool({ workers: 1, fees: scheduleFor(1), stableMemoryBytes: t.replica.config.execution.stableMemoryBytes });
  const publish = () => {
    if (pool.wantsWholeState) publisher.reset();
    pool.publish(publisher.build(t.state));
  };
  const get = () => pool.execute({ canisterId: leaf.toText(), method: 'get', arg: candid(), caller: TEST_USER.toUint8Array() });
  const value = (r: Awaited<ReturnType<typeof get>>) => (r.status === 'replied' ? IDL.decode([IDL.Nat], r.reply)[0] : r.errorCode);
  try {
    publish();
    assert.equal(value(await get()), 9n);

    const dead = pool.threads[0]!;
    await dead.terminate();
    await new Promise((r) => setImmediate(r));
    assert.equal(pool.wantsWholeState, true);
    assert.notEqual(pool.threads[0], dead);
    // Until the next certified state the replacement has nothing: a transient reject, no wrong answer.
    await assert.rejects(get(), (e: unknown) => e instanceof CanisterError && e.errorCode === 'IC0208');

    await t.update(leaf, 'set', candid([IDL.Nat], [10n]));
    publish();
    assert.equal(pool.wantsWholeState, false);
    assert.equal(value(await get()), 10n);
  } finally {
    await pool.close();
    await t.close();
  }
});
