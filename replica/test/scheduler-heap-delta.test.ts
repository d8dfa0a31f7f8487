// The heap delta limits, as on the IC: an iteration's executions may write at most
// `maxHeapDeltaPerIteration` bytes of pages (a core starts nothing more once its executions wrote
// that much; the round ends after an iteration that reached it), and a subnet whose pages changed
// since the last checkpoint reach `subnetHeapDeltaCapacity` executes no canister message until a
// checkpoint writes them out. The rest waits for the next round; nothing is lost.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Principal } from '@icp-sdk/core/principal';
import { wat } from '../../test/support/wat.js';
import { ExecutionTest, type ExecutionTestOptions } from '../../test/support/execution-test.js';
import { DEFAULT_SCHEDULER_CONFIG, PAGE_SIZE } from '../src/index.js';

/** `write` with argument byte k: bumps a counter and stores it in pages 0 … k-1 (k changed pages). */
const WRITER = `
(module
  (import "ic0" "msg_arg_data_copy" (func $arg_copy (param i32 i32 i32)))
  (import "ic0" "msg_reply" (func $reply))
  (memory 16)
  (func (export "canister_update write") (local $k i32) (local $i i32) (local $n i32)
    (call $arg_copy (i32.const 8) (i32.const 0) (i32.const 1))
    (local.set $k (i32.load8_u (i32.const 8)))
    (local.set $n (i32.add (i32.load (i32.const 0)) (i32.const 1)))
    (block $done (loop $next
      (br_if $done (i32.ge_u (local.get $i) (local.get $k)))
      (i32.store (i32.add (i32.mul (local.get $i) (i32.const 4096)) (i32.const 16)) (local.get $n))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $next)))
    (i32.store (i32.const 0) (local.get $n))
    (call $reply)))
`;

async function writers(options: ExecutionTestOptions, n: number): Promise<{ t: ExecutionTest; ids: Principal[] }> {
  const t = new ExecutionTest(options);
  const wasm = await wat(WRITER);
  const ids: Principal[] = [];
  for (let i = 0; i < n; i++) ids.push(await t.createAndInstall(wasm));
  return { t, ids };
}

/** Submits one `write(pages)` per canister; returns the message ids. */
async function writeEach(t: ExecutionTest, ids: readonly Principal[], pages: number): Promise<string[]> {
  const sent: string[] = [];
  for (const id of ids) sent.push(await t.submit(id, 'write', new Uint8Array([pages])));
  return sent;
}

const done = (t: ExecutionTest, sent: readonly string[]) => sent.filter((m) => t.result(m)?.status === 'replied').length;

test('by default an iteration runs every canister that writes a few pages', async () => {
  const { t, ids } = await writers({}, 4);
  const sent = await writeEach(t, ids, 2);
  const summary = await t.tick();
  assert.equal(done(t, sent), 4);
  assert.equal(summary.heapDelta, 4 * 2 * PAGE_SIZE);
  assert.equal(DEFAULT_SCHEDULER_CONFIG.maxHeapDeltaPerIteration, 200_000_000);
});

for (const workers of [0, 2]) {
  test(`a core starts nothing once its executions wrote the iteration limit; the round stops there (${workers} workers)`, async () => {
    // One core; 3 pages per iteration. Each message writes 2: the second crosses the limit.
    const { t, ids } = await writers({ workers, scheduler: { ...DEFAULT_SCHEDULER_CONFIG, schedulerCores: 1, maxHeapDeltaPerIteration: 3 * PAGE_SIZE } }, 5);
    try {
      const sent = await writeEach(t, ids, 2);
      const first = await t.tick();
      assert.equal(first.messagesExecuted, 2);
      assert.equal(first.heapDelta, 4 * PAGE_SIZE);
      assert.equal(first.iterations, 1);
      assert.equal(first.workLeft, true);
      assert.equal(done(t, sent), 2);
      // The rest runs in the next rounds, in the order the schedule gives them.
      assert.equal((await t.tick()).messagesExecuted, 2);
      await t.tick();
      assert.equal(done(t, sent), 5);
    } finally {
      await t.close();
    }
  });
}

test('the limit applies per core and then to the round: no new iteration starts after it was reached', async () => {
  // Two cores, 3 pages per iteration; each canister has two messages of 1 page each.
  const { t, ids } = await writers({ scheduler: { ...DEFAULT_SCHEDULER_CONFIG, schedulerCores: 2, maxHeapDeltaPerIteration: 3 * PAGE_SIZE } }, 4);
  const sent = [...await writeEach(t, ids, 1), ...await writeEach(t, ids, 1)];
  const summary = await t.tick();
  // Iteration 1: each core runs its two canisters (2 pages per core, under the limit); the round
  // wrote 4 pages ≥ 3, so no second iteration: the second message of each canister waits.
  assert.equal(summary.iterations, 1);
  assert.equal(summary.messagesExecuted, 4);
  assert.equal(summary.heapDelta, 4 * PAGE_SIZE);
  assert.equal(done(t, sent), 4);
  await t.tick();
  assert.equal(done(t, sent), 8);
});

test('past the subnet heap delta capacity canisters wait for a checkpoint', async () => {
  const { t, ids } = await writers({ scheduler: { ...DEFAULT_SCHEDULER_CONFIG, subnetHeapDeltaCapacity: 3 * PAGE_SIZE } }, 2);
  // As a checkpoint does: the pages written so far (by the installs) are written out.
  const checkpoint = () => {
    for (const c of t.state.canisters()) {
      c.execution?.heap.dirty.clear();
      c.stable.dirty.clear();
    }
  };
  checkpoint();
  const sent = await writeEach(t, ids, 2);
  // Under the capacity at the start of the round: both run (the soft limit may be crossed).
  assert.equal((await t.tick()).messagesExecuted, 2);
  const more = await writeEach(t, ids, 2);
  for (let i = 0; i < 3; i++) {
    const summary = await t.tick();
    assert.equal(summary.messagesExecuted, 0);
    assert.equal(summary.workLeft, true);
  }
  assert.equal(done(t, more), 0);
  checkpoint();
  await t.tick();
  assert.equal(done(t, [...sent, ...more]), 4);
});
