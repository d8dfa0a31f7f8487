// Deterministic time slicing. The limits are the IC's divided by ten (slice 200 M, round 400 M,
// message 4 B) so a "10 B" computation is 1 B here: the same structure, a test that stays fast.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { IDL } from '@icp-sdk/core/candid';
import { Principal } from '@icp-sdk/core/principal';
import { compileMotoko } from '../../test/support/motoko.js';
import { ExecutionTest, candid, decode, type ExecutionTestOptions } from '../../test/support/execution-test.js';
import { DEFAULT_EXECUTION_CONFIG, DEFAULT_SCHEDULER_CONFIG, MANAGEMENT_METHODS } from '../src/index.js';
import { valueDigest } from '../src/scheduler/index.js';

const SLICE = 200_000_000n;
const ROUND = 400_000_000n;
const limits = (slice: bigint, overhead = DEFAULT_SCHEDULER_CONFIG.instructionOverheadPerExecution): ExecutionTestOptions => ({
  execution: { ...DEFAULT_EXECUTION_CONFIG, instructions: { ...DEFAULT_EXECUTION_CONFIG.instructions, update: 4_000_000_000n, slice } },
  scheduler: { ...DEFAULT_SCHEDULER_CONFIG, roundInstructions: ROUND, instructionOverheadPerExecution: overhead },
});
const dts = limits(SLICE);

const nat = (b: Uint8Array) => decode<bigint>([IDL.Nat], b)[0]!;
const wasm = async (name: string) => (await compileMotoko(name)).wasm;
/** What `loop.work(n)` returns: the sum of i % 7 for i < n. */
const workResult = (n: bigint) => (n / 7n) * 21n + ((n % 7n) * ((n % 7n) - 1n)) / 2n;
/** ~1 B instructions of `loop.work` (135 instructions per iteration). */
const ONE_BILLION = 7_400_000n;

/** A long update that changes state first, and a query that reads it. */
const SLOW = `
persistent actor Slow {
  var total : Nat = 0;
  public func add(k : Nat, work : Nat) : async Nat {
    total += k;
    var i = 0;
    var acc = 0;
    while (i < work) { acc += i % 7; i += 1 };
    total
  };
  public query func get() : async Nat { total };
};`;

for (const workers of [0, 2]) {
  test(`a 1 B computation runs over several rounds while another canister completes a message in each (${workers} workers)`, async () => {
    const t = new ExecutionTest({ ...dts, workers });
    try {
      const loop = await t.createAndInstall(await wasm('loop'));
      const counter = await t.createAndInstall(await wasm('counter'));
      const slow = await t.createAndInstall((await compileMotoko('slow', SLOW)).wasm);
      const long = await t.submit(loop, 'work', candid([IDL.Nat], [ONE_BILLION]));
      const add = await t.submit(slow, 'add', candid([IDL.Nat, IDL.Nat], [5n, ONE_BILLION / 2n]));
      let rounds = 0;
      let expected = 0n;
      while (!t.result(long)) {
        const inc = await t.submit(counter, 'inc', candid());
        const summary = await t.tick();
        rounds++;
        assert.equal(t.result(inc)?.status, 'replied', `round ${rounds}: the counter's message completed`);
        assert.equal(nat((t.result(inc) as { reply: Uint8Array }).reply), ++expected);
        assert.ok(summary.roundInstructions <= ROUND + SLICE + dts.scheduler!.instructionOverheadPerExecution, `round ${rounds}: ${summary.roundInstructions}`);
        // Queries see the committed state, never the half-done update.
        assert.equal(nat(t.query(slow, 'get')), t.result(add) ? 5n : 0n);
        assert.ok(rounds < 20);
      }
      assert.ok(rounds >= 3, `${rounds} rounds`);
      assert.equal(nat((t.result(long) as { reply: Uint8Array }).reply), workResult(ONE_BILLION));
      assert.equal(t.result(add)?.status, 'replied');
      assert.equal(nat(t.query(slow, 'get')), 5n);
      assert.equal(t.canister(loop).scheduler.paused, undefined);
    } finally {
      await t.close();
    }
  });
}

test('a message interrupted by DTS gives the same result and charge as without slices', async () => {
  const run = async (options: ExecutionTestOptions) => {
    const t = new ExecutionTest(options);
    try {
      const loop = await t.createAndInstall(await wasm('loop'));
      const before = t.canister(loop).cyclesBurned.get('execution') ?? 0n;
      const id = await t.submit(loop, 'work', candid([IDL.Nat], [ONE_BILLION]));
      const rounds = t.rounds.length;
      const status = await t.awaitStatus(id);
      const c = t.canister(loop);
      return {
        reply: (status as { reply: Uint8Array }).reply,
        charged: c.cyclesBurned.get('execution')! - before,
        rounds: t.rounds.length - rounds,
        heap: valueDigest({ heap: c.execution!.heap, globals: c.execution!.globals, stable: c.stable }),
      };
    } finally {
      await t.close();
    }
  };
  const sliced = await run(dts);
  const whole = await run(limits(4_000_000_000n));
  const slicedOnWorkers = await run({ ...dts, workers: 1 });
  assert.ok(sliced.rounds >= 3 && whole.rounds === 1, `${sliced.rounds} rounds sliced, ${whole.rounds} whole`);
  for (const other of [whole, slicedOnWorkers]) {
    assert.deepEqual(other.reply, sliced.reply);
    assert.equal(other.charged, sliced.charged);
    assert.equal(other.heap, sliced.heap);
  }
});

for (const workers of [0, 2]) {
  test(`no round goes over its limit by more than one slice (${workers} workers)`, async () => {
    const t = new ExecutionTest({ ...limits(SLICE, 0n), workers });
    try {
      const loops = [];
      for (let i = 0; i < 5; i++) loops.push(await t.createAndInstall(await wasm('loop')));
      const counters = [];
      for (let i = 0; i < 5; i++) counters.push(await t.createAndInstall(await wasm('counter')));
      const ids: string[] = [];
      for (const [i, loop] of loops.entries()) ids.push(await t.submit(loop, 'work', candid([IDL.Nat], [ONE_BILLION / BigInt(i + 1)])));
      const from = t.rounds.length;
      while (ids.some((id) => !t.result(id))) {
        for (const c of counters) await t.submit(c, 'add', candid([IDL.Nat], [1n]));
        await t.tick();
        assert.ok(t.rounds.length - from < 40);
      }
      const rounds = t.rounds.slice(from);
      for (const r of rounds) {
        assert.ok(r.roundInstructions <= ROUND + SLICE, `round ${r.height} used ${r.roundInstructions}`);
        // Each of the 4 scheduler cores stays within the same bound.
        assert.ok(r.instructions <= 4n * (ROUND + SLICE), `round ${r.height} executed ${r.instructions}`);
      }
      assert.ok(rounds.some((r) => r.roundInstructions > ROUND), 'some round ended on a slice that went past the limit');
      assert.ok(rounds.some((r) => r.pausedExecutions > 1), 'several long executions were paused at once');
    } finally {
      await t.close();
    }
  });
}

const upgrade = (canister: Principal, wasmModule: Uint8Array) => new Uint8Array(IDL.encode([...MANAGEMENT_METHODS.install_code.args], [{
  mode: { upgrade: [{ skip_pre_upgrade: [], wasm_memory_persistence: [] }] }, canister_id: canister, wasm_module: wasmModule, arg: candid(), sender_canister_version: [],
}]));

for (const workers of [0, 2]) {
  test(`install_code on a canister with a paused execution aborts it; it starts over after the upgrade (${workers} workers)`, async () => {
    const t = new ExecutionTest({ ...dts, workers });
    try {
      const loopWasm = await wasm('loop');
      const loop = await t.createAndInstall(loopWasm);
      const reference = await t.createAndInstall(loopWasm);
      const ref = await t.submit(reference, 'work', candid([IDL.Nat], [ONE_BILLION]));
      const id = await t.submit(loop, 'work', candid([IDL.Nat], [ONE_BILLION]));
      await t.tick();
      assert.ok(t.canister(loop).scheduler.paused, 'the message is paused after its first round');
      const balance = t.canister(loop).balance;
      const install = await t.submit(Principal.managementCanister(), 'install_code', upgrade(loop, loopWasm));
      await t.tick();
      assert.equal(t.result(install)?.status, 'replied');
      assert.equal(t.canister(loop).installCount, 2n);
      assert.ok(t.canister(loop).balance > balance, 'the prepayment of the aborted execution came back');
      const status = await t.awaitStatus(id);
      await t.awaitStatus(ref);
      assert.equal(nat((status as { reply: Uint8Array }).reply), workResult(ONE_BILLION));
      // Only the complete run was charged for: the difference is the upgrade, far less than a slice.
      const fees = t.replica.env.fees;
      const extra = t.canister(loop).cyclesBurned.get('execution')! - t.canister(reference).cyclesBurned.get('execution')!;
      assert.ok(extra > 0n && extra < fees.executionCost(SLICE) - fees.executionCost(0n), `${extra} cycles more than the reference`);
    } finally {
      await t.close();
    }
  });
}

test('a checkpoint aborts paused executions; they start over and complete with the same charge', async () => {
  const t = new ExecutionTest(dts);
  const loop = await t.createAndInstall(await wasm('loop'));
  const reference = await t.createAndInstall(await wasm('loop'));
  const ref = await t.submit(reference, 'work', candid([IDL.Nat], [ONE_BILLION]));
  const id = await t.submit(loop, 'work', candid([IDL.Nat], [ONE_BILLION]));
  await t.tick();
  await t.tick({ checkpoint: true });
  assert.equal(t.canister(loop).scheduler.paused, undefined);
  assert.equal(t.canister(loop).inputQueue.length, 1, 'the message is back in the queue');
  assert.equal(t.rounds.at(-1)!.pausedExecutions, 0);
  const status = await t.awaitStatus(id);
  await t.awaitStatus(ref);
  assert.equal(nat((status as { reply: Uint8Array }).reply), workResult(ONE_BILLION));
  assert.equal(t.canister(loop).cyclesBurned.get('execution'), t.canister(reference).cyclesBurned.get('execution'));
});

test('at most maxPausedExecutions stay paused between rounds; the others start over later', async () => {
  const t = new ExecutionTest({ ...dts, scheduler: { ...dts.scheduler!, maxPausedExecutions: 2, schedulerCores: 4 } });
  const loops = [];
  for (let i = 0; i < 5; i++) loops.push(await t.createAndInstall(await wasm('loop')));
  const ids = [];
  for (const loop of loops) ids.push(await t.submit(loop, 'work', candid([IDL.Nat], [ONE_BILLION / 2n])));
  for (let round = 0; ids.some((id) => !t.result(id)); round++) {
    const summary = await t.tick();
    assert.ok(summary.pausedExecutions <= 2, `round ${round}: ${summary.pausedExecutions} paused`);
    assert.ok(round < 60);
  }
  for (const id of ids) assert.equal(nat((t.result(id) as { reply: Uint8Array }).reply), workResult(ONE_BILLION / 2n));
});
