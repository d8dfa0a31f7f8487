// Fairness: accumulated priority and compute allocation, as on the IC. Unit tests of the round
// schedule, then busy Motoko canisters competing for cores that fit one message per round.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { IDL } from '@icp-sdk/core/candid';
import type { Principal } from '@icp-sdk/core/principal';
import { compileMotoko } from '../../test/support/motoko.js';
import { ExecutionTest, candid, emptySettings } from '../../test/support/execution-test.js';
import { CanisterState, DEFAULT_EXECUTION_CONFIG, DEFAULT_SCHEDULER_CONFIG, canisterIdFromIndex, defaultSettings } from '../src/index.js';
import { RoundSchedule, type NextExecution } from '../src/scheduler/index.js';

function canisters(n: number, setup: (c: CanisterState, i: number) => void = () => {}): CanisterState[] {
  return Array.from({ length: n }, (_, i) => {
    const c = new CanisterState(canisterIdFromIndex(BigInt(i)), defaultSettings([]), 0n);
    setup(c, i);
    return c;
  });
}

/** The canisters' indices (their ids are made from 0, 1, 2, …). */
const ids = (list: readonly CanisterState[]) => list.map((c) => c.id.toUint8Array()[7]!);

test('canisters are ordered by accumulated priority, canister id breaking ties', () => {
  const list = canisters(5, (c, i) => (c.scheduler.accumulatedPriority = BigInt([5, 9, 5, 1, 9][i]!)));
  const schedule = RoundSchedule.compute(list, 2, 1n, 1000n);
  assert.deepEqual(ids(schedule.orderedNew), [1, 4, 0, 2, 3]);
});

test('long executions come first; the top ones get cores of their own', () => {
  const list = canisters(6, (c, i) => {
    c.scheduler.accumulatedPriority = BigInt(i);
    if (i === 1 || i === 2) c.scheduler.paused = { work: { kind: 'task', task: 'heartbeat' }, prepaid: 0n, instructions: 0n, slices: 1 };
  });
  const schedule = RoundSchedule.compute(list, 3, 1n, 1000n);
  assert.deepEqual(ids(schedule.orderedLong), [2, 1]);
  assert.equal(schedule.longCores, 1);
  assert.equal(list[2]!.scheduler.longExecutionMode, 'prioritized');
  const next = (c: CanisterState): NextExecution => (c.scheduler.paused ? 'long' : 'new');
  // Core 0: the prioritized long execution alone; new executions round-robin on cores 1 and 2;
  // the other long execution on the next core in turn.
  assert.deepEqual(schedule.partition(next).map(ids), [[2], [5, 3, 1], [4, 0]]);
});

test('priorities always add up to zero: what the executed pay, the others gain', () => {
  const list = canisters(7, (c, i) => (c.settings = { ...c.settings, computeAllocation: i === 0 ? 40n : 0n }));
  for (let round = 1n; round <= 50n; round++) {
    const schedule = RoundSchedule.compute(list, 3, round, 1000n);
    // Two canisters execute in full each round: the top of the order.
    const executed = new Set(schedule.orderedNew.slice(0, 2));
    schedule.finishRound(list, executed);
    const sum = list.reduce((n, c) => n + c.scheduler.accumulatedPriority, 0n);
    assert.ok(sum >= 0n && sum < BigInt(list.length), `round ${round}: sum ${sum}`);
  }
});

test('a compute allocation gets its share; no canister starves', async () => {
  // Two cores and a round that fits one message per core: two messages per round for nine busy canisters.
  const t = new ExecutionTest({
    execution: { ...DEFAULT_EXECUTION_CONFIG, instructions: { ...DEFAULT_EXECUTION_CONFIG.instructions, update: 1_000_000_000n } },
    scheduler: { ...DEFAULT_SCHEDULER_CONFIG, schedulerCores: 2, roundInstructions: 20_000_000n },
  });
  const { wasm } = await compileMotoko('loop');
  const busy: Principal[] = [];
  for (let i = 0; i < 9; i++) busy.push(await t.createAndInstall(wasm));
  const favoured = busy[4]!;
  await t.management('update_settings', {
    canister_id: favoured, settings: { ...emptySettings(), compute_allocation: [50n] }, sender_canister_version: [],
  });
  const ROUNDS = 40;
  const work = candid([IDL.Nat], [200_000n]); // ~27 M instructions: more than a core's round
  for (const c of busy) for (let i = 0; i < ROUNDS; i++) await t.submit(c, 'work', work);
  await t.tick(); // induction
  const executed = new Map<string, number[]>(busy.map((c) => [c.toText(), []]));
  for (let round = 0; round < ROUNDS; round++) {
    const before = new Map(busy.map((c) => [c.toText(), t.canister(c).inputQueue.length]));
    const summary = await t.tick();
    assert.equal(summary.messagesExecuted, 2, `round ${round}: one message per core`);
    for (const c of busy) if (t.canister(c).inputQueue.length < before.get(c.toText())!) executed.get(c.toText())!.push(round);
  }
  const share = executed.get(favoured.toText())!.length;
  assert.ok(share >= ROUNDS / 2, `the canister with 50% ran in ${share} of ${ROUNDS} rounds`);
  for (const c of busy) {
    if (c === favoured) continue;
    const rounds = executed.get(c.toText())!;
    assert.ok(rounds.length >= 4, `${c.toText()} ran in ${rounds.length} rounds`);
    // No long waits: every canister runs again within a bounded number of rounds.
    const gaps = rounds.slice(1).map((r, i) => r - rounds[i]!);
    assert.ok(Math.max(...gaps, rounds[0]!) <= 12, `${c.toText()} ran in rounds ${rounds.join(',')}`);
  }
});
