// A canister that runs out of cycles: below its freezing threshold it rejects ingress and calls
// from other canisters with IC0207 and the amount it needs; when it cannot pay for its resources it
// is uninstalled (code and memories gone, settings kept, allocations reset); deposit_cycles then
// revives it: it takes messages and installs again.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { IDL } from '@icp-sdk/core/candid';
import { Principal } from '@icp-sdk/core/principal';
import { CallRejected, ExecutionTest, emptySettings } from '../../test/support/execution-test.js';
import { program, programCanister } from '../../test/support/program-canister.js';
import { DEFAULT_EXECUTION_CONFIG } from '../src/index.js';

const utf8 = new TextDecoder();
const DAY = 86_400n;

test('a canister out of cycles freezes, is uninstalled, and deposit_cycles revives it', async () => {
  const t = new ExecutionTest({ subnetSize: 13, roundTime: 10_000_000_000n });
  const wasm = await programCanister();
  const fees = t.replica.env.fees;
  const rich = await t.createAndInstall(wasm, program.reply(), 10_000_000_000_000n);
  const id = await t.createAndInstall(wasm, program.reply(), 400_000_000_000n);
  await t.management('update_settings', {
    canister_id: id, settings: { ...emptySettings(), compute_allocation: [10n], freezing_threshold: [100n] }, sender_canister_version: [],
  });
  const c = t.canister(id);
  const prepay = fees.executionCost(DEFAULT_EXECUTION_CONFIG.instructions.update);

  // canister_status: 10% of compute at 10 M cycles a second each, plus the memory held.
  const status = (await t.management('canister_status', { canister_id: id }))[0] as Record<string, bigint>;
  const storagePerDay = (c.memoryUsage() * 127_000n * DAY) / (1n << 30n);
  assert.equal(status.idle_cycles_burned_per_day, 100_000_000n * DAY + storagePerDay);
  assert.equal(fees.freezingThreshold(c), ((100_000_000n * DAY + storagePerDay) * 100n) / DAY);
  assert.deepEqual(await t.update(id, 'run', program.reply()), new Uint8Array(0));

  // Compute allocation drains it until it can no longer prepay an update above its threshold.
  while (c.balance - prepay >= fees.freezingThreshold(c) + 100_000_000n) await t.tick();
  const before = c.balance;
  const messageId = await t.submit(id, 'run', program.reply());
  await t.tick();
  const rejected = t.result(messageId)!;
  assert.equal(rejected.status, 'rejected');
  if (rejected.status !== 'rejected') return;
  assert.equal(rejected.errorCode, 'IC0207');
  const induction = fees.ingressInductionCost(BigInt('run'.length + 1));
  const needed = prepay + fees.freezingThreshold(c) - (before - induction);
  assert.equal(rejected.message, `Canister ${c.idText} is out of cycles: please top up the canister with at least ${needed} additional cycles`);

  // A call from another canister gets the same reject (SYS_TRANSIENT).
  const reply = await t.update(rich, 'run', program.call(id, 'run', 0n, program.reply()));
  assert.equal(reply[0], 2);
  assert.match(utf8.decode(reply.subarray(1)), new RegExp(`^Canister ${c.idText} is out of cycles: please top up the canister with at least \\d+ additional cycles$`));

  // It cannot pay its compute allocation for ever: it is uninstalled, its settings stay.
  for (let i = 0; i < 1000 && c.execution; i++) await t.tick();
  assert.equal(c.execution, undefined);
  assert.equal(c.balance, 0n);
  const after = (await t.management('canister_status', { canister_id: id }))[0] as Record<string, any>;
  assert.deepEqual(after.module_hash, []);
  assert.equal(after.settings.freezing_threshold, 100n);
  assert.equal(after.settings.compute_allocation, 0n);
  assert.equal(after.memory_size, 0n);
  assert.ok((c.cyclesBurned.get('compute_allocation') ?? 0n) > 0n);
  await assert.rejects(t.update(id, 'run', program.reply()), (e: CallRejected) => e.errorCode === 'IC0537');

  // A deposit from another canister revives it: it installs and runs again.
  const deposit = new Uint8Array(IDL.encode([IDL.Record({ canister_id: IDL.Principal })], [{ canister_id: id }]));
  await t.update(rich, 'run', program.call(Principal.managementCanister(), 'deposit_cycles', 400_000_000_000n, deposit));
  assert.equal(c.balance, 400_000_000_000n);
  await t.install(id, wasm, program.reply());
  assert.deepEqual(await t.update(id, 'run', program.reply()), new Uint8Array(0));
});
