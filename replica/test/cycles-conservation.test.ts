// Conservation of cycles under a randomized (seeded) workload: thousands of rounds of ingress to
// several canisters that reply, trap, burn cycles, accept half of what they are sent, run long
// (DTS) executions, grow their memory and call each other (and the management canister) with
// cycles, best-effort and guaranteed, trapping in callbacks or right after the call. Time moves
// 2 s a round, so storage and compute allocation are charged every 5 rounds; one poor canister
// with a compute allocation freezes and is uninstalled half-way. After every round:
// Σ balances + in flight + burned = minted (the ExecutionTest checks it).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { IDL } from '@icp-sdk/core/candid';
import { Principal } from '@icp-sdk/core/principal';
import { ExecutionTest, emptySettings } from '../../test/support/execution-test.js';
import { program, programCanister } from '../../test/support/program-canister.js';
import { checkCyclesConservation, cyclesLedger, scheduleFor } from '../src/cycles/index.js';
import { DEFAULT_EXECUTION_CONFIG, DEFAULT_SCHEDULER_CONFIG, canisterIdFromIndex } from '../src/index.js';

const ROUNDS = 4000;
const MANAGEMENT = Principal.managementCanister();

/** mulberry32: a small deterministic generator, so that a failure replays from its seed. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

test('cycles are conserved across a randomized multi-canister workload with calls, refunds, traps, DTS and storage charges', async () => {
  const t = new ExecutionTest({
    subnetSize: 13,
    roundTime: 2_000_000_000n,
    // Cheap messages: a small message limit keeps prepayments and call reservations small; a small
    // slice makes the loops long executions.
    fees: scheduleFor(13, { maxInstructionsPerMessage: 5_000_000n, maxInterCanisterPayloadBytes: 4096n }),
    execution: { ...DEFAULT_EXECUTION_CONFIG, instructions: { ...DEFAULT_EXECUTION_CONFIG.instructions, update: 5_000_000n, install: 50_000_000n, slice: 40_000n } },
    scheduler: { ...DEFAULT_SCHEDULER_CONFIG, roundInstructions: 2_000_000n, iterationInstructions: 500_000n },
  });
  const seed = 0x5eed;
  const rand = random(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
  const wasm = await programCanister();

  const rich: Principal[] = [];
  for (let i = 0; i < 4; i++) rich.push(await t.createAndInstall(wasm, program.reply(), 5_000_000_000_000n));
  // 1% compute allocation costs 10 M cycles a second on 13 nodes: 40 B last ~2_400 s above a
  // 600 s freezing threshold, then the canister freezes, and is uninstalled when it cannot pay.
  const poor = await t.createAndInstall(wasm, program.reply(), 40_000_000_000n);
  await t.management('update_settings', {
    canister_id: poor, settings: { ...emptySettings(), compute_allocation: [1n], freezing_threshold: [600n] }, sender_canister_version: [],
  });
  const canisters = [...rich, poor];
  const missing = canisterIdFromIndex(0xffff0n);
  const depositArg = (id: Principal) => new Uint8Array(IDL.encode([IDL.Record({ canister_id: IDL.Principal })], [{ canister_id: id }]));

  /** A random program; calls nest up to `depth` deep, and attach cycles if `sendCycles`. */
  const make = (depth: number, sendCycles = true): Uint8Array => {
    const r = rand();
    if (r < 0.15) return program.reply();
    if (r < 0.25) return program.trap();
    if (r < 0.32) return program.burn(BigInt(Math.floor(rand() * 1_000_000)));
    if (r < 0.4) return program.acceptHalf();
    if (r < 0.5) return program.loop(1 + Math.floor(rand() * 12));
    if (r < 0.52) return program.grow();
    if (depth === 0) return program.reply();
    const cycles = !sendCycles || rand() < 0.5 ? 0n : BigInt(Math.floor(rand() * 2_000_000_000));
    const mode = { trapInReply: rand() < 0.1, bestEffort: rand() < 0.2, trapAfter: rand() < 0.05 };
    const c = rand();
    if (c < 0.07) return program.call(MANAGEMENT, 'deposit_cycles', cycles, depositArg(pick(canisters)), mode);
    if (c < 0.1) return program.call(missing, 'run', cycles, program.reply(), mode);
    if (c < 0.13) return program.call(pick(canisters), 'no_such_method', cycles, new Uint8Array(0), mode);
    return program.call(pick(canisters), 'run', cycles, make(depth - 1), mode);
  };

  let pausedRounds = 0;
  // Outcomes are counted as they come: the ingress history forgets them after MAX_INGRESS_TTL.
  const open = new Set<string>();
  let replied = 0;
  let rejected = 0;
  const countOutcomes = () => {
    for (const id of open) {
      const s = t.state.ingressHistory.get(id)?.status;
      if (s === 'replied') replied++;
      if (s === 'rejected') rejected++;
      if (s === 'replied' || s === 'rejected') open.delete(id);
    }
  };
  for (let round = 0; round < ROUNDS; round++) {
    const messages = Math.floor(rand() * 5);
    for (let i = 0; i < messages; i++) {
      // The poor canister sends no cycles away, so it lasts as long as computed; its calls may
      // still be open when it is uninstalled.
      const to = pick(canisters);
      const arg = to === poor ? make(2, false) : make(3);
      // Ingress to a canister without code is refused before induction, as on the IC.
      if (t.canister(to).execution) open.add(await t.submit(to, 'run', arg));
    }
    const summary = await t.tick({ checkpoint: round % 97 === 96 });
    if (summary.pausedExecutions > 0) pausedRounds++;
    countOutcomes();
  }
  for (let i = 0; i < 50 && t.rounds.at(-1)!.workLeft; i++) {
    await t.tick();
    countOutcomes();
  }

  const ledger = checkCyclesConservation(t.state);
  assert.ok(ledger.burned > 0n && ledger.minted > ledger.burned);
  assert.ok(pausedRounds > 0, 'long executions were paused across rounds');
  assert.ok(replied > 1000 && rejected > 1000, `replied ${replied}, rejected ${rejected}`);

  // The poor canister paid for its compute allocation, froze, and lost its code (deposits from
  // the others and the refunds of its open calls may have given it a balance again since).
  const p = t.canister(poor);
  assert.equal(p.execution, undefined);
  assert.equal(p.settings.computeAllocation, 0n);
  assert.ok((p.cyclesBurned.get('compute_allocation') ?? 0n) > 30_000_000_000n);

  // Every category of charge happened, and what canisters account for is what the subnet burned
  // (less responses whose best-effort call had timed out, whose refund no canister receives).
  const byCategory = new Map<string, bigint>();
  for (const c of t.state.canisters()) for (const [k, v] of c.cyclesBurned) byCategory.set(k, (byCategory.get(k) ?? 0n) + v);
  for (const category of ['execution', 'ingress_induction', 'call', 'storage', 'compute_allocation', 'cycles_burn']) {
    assert.ok((byCategory.get(category) ?? 0n) > 0n, `${category} charged`);
  }
  const attributed = [...byCategory.values()].reduce((a, b) => a + b, 0n);
  assert.ok(attributed <= ledger.burned, `attributed ${attributed} ≤ burned ${ledger.burned}`);
});

test('a leak is a loud error that says where the cycles were', async () => {
  const t = new ExecutionTest({ subnetSize: 13 });
  await t.createAndInstall(await programCanister(), program.reply(), 1_000_000_000_000n);
  const c = t.state.canisters()[0]!;
  c.balance -= 7n;
  assert.throws(() => checkCyclesConservation(t.state), /7 cycles vanished .*minted 1000000000000, received 0; balances/);
  c.balance += 7n;
  assert.equal(cyclesLedger(t.state).minted, 1_000_000_000_000n);
});
