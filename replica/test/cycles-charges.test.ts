// What the replica actually charges, end to end, on subnets of 1, 13 and 34 nodes, against
// amounts computed by hand from the IC's 13-node fee table scaled n/13 (not from `cycles/`):
// an update's ingress induction and execution (from its instruction count), an inter-canister
// call with cycles attached (half accepted, the rest refunded), storage every 10 s, and creation.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { IDL } from '@icp-sdk/core/candid';
import { Principal } from '@icp-sdk/core/principal';
import { ExecutionTest } from '../../test/support/execution-test.js';
import { program, programCanister } from '../../test/support/program-canister.js';

// The 13-node reference fees (cycles).
const UPDATE_BASE = 5_000_000n;
const TEN_INSTRUCTIONS = 10n; // 1 cycle per instruction
const INGRESS_MESSAGE = 1_200_000n;
const INGRESS_BYTE = 2_000n;
const XNET_CALL = 260_000n;
const XNET_BYTE = 1_000n;
const GIB_SECOND = 127_000n;
const CREATION = 500_000_000_000n;
const LIMIT = 40_000_000_000n; // update message instruction limit

const scale = (n: bigint, cycles: bigint) => (cycles * n) / 13n;
/** Prepaid for the limit, refunded for what was not used (`refund_unused_execution_cycles`). */
const updateCharge = (n: bigint, used: bigint) =>
  scale(n, UPDATE_BASE + (TEN_INSTRUCTIONS * LIMIT) / 10n) - scale(n, (TEN_INSTRUCTIONS * (LIMIT - used)) / 10n);

for (const n of [1, 13, 34]) {
  const N = BigInt(n);

  test(`n = ${n}: an update pays its ingress induction and its instructions, exactly`, async () => {
    const t = new ExecutionTest({ subnetSize: n, roundTime: 1_000_000n }); // no storage period crossed
    const id = await t.createAndInstall(await programCanister(), program.reply());
    const c = t.canister(id);
    for (const arg of [program.reply(), program.loop(50)]) {
      const before = c.balance;
      const burned = new Map(c.cyclesBurned);
      await t.submit(id, 'run', arg);
      const summary = await t.tick();
      const used = summary.instructions;
      assert.ok(used > 0n);
      const ingress = scale(N, INGRESS_MESSAGE) + scale(N, INGRESS_BYTE) * BigInt('run'.length + arg.length);
      const delta = (k: string) => (c.cyclesBurned.get(k) ?? 0n) - (burned.get(k) ?? 0n);
      assert.equal(delta('ingress_induction'), ingress);
      assert.equal(delta('execution'), updateCharge(N, used), `${used} instructions`);
      assert.equal(before - c.balance, ingress + updateCharge(N, used));
    }
  });

  test(`n = ${n}: a call moves the accepted cycles, refunds the rest and pays for transmission`, async () => {
    const t = new ExecutionTest({ subnetSize: n, roundTime: 1_000_000n });
    const wasm = await programCanister();
    const caller = await t.createAndInstall(wasm, program.reply());
    const callee = await t.createAndInstall(wasm, program.reply());
    const [a, b] = [t.canister(caller), t.canister(callee)];
    const [a0, b0] = [a.balance, b.balance];
    const [ea, eb] = [a.cyclesBurned.get('execution')!, b.cyclesBurned.get('execution')!];
    const sent = 1_000_000_000n;
    const arg = program.call(callee, 'run', sent, program.acceptHalf());
    const status = await t.awaitStatus(await t.submit(caller, 'run', arg));
    assert.equal(status.status, 'replied');
    const exec = (k: typeof a) => k.cyclesBurned.get('execution')! - (k === a ? ea : eb);
    // Request: the call fee and method + argument bytes; the empty reply: 0 bytes.
    const transmission = scale(N, XNET_CALL + XNET_BYTE * BigInt('run'.length + 1));
    assert.equal(a.cyclesBurned.get('call'), transmission);
    const ingress = scale(N, INGRESS_MESSAGE) + scale(N, INGRESS_BYTE) * BigInt('run'.length + arg.length);
    assert.equal(a0 - a.balance, ingress + exec(a) + transmission + sent / 2n);
    assert.equal(b.balance - b0, sent / 2n - exec(b));
  });

  test(`n = ${n}: storage is charged every 10 s for the memory held; creation costs the creation fee`, async () => {
    const t = new ExecutionTest({ subnetSize: n, roundTime: 10_000_000_000n });
    const id = await t.createAndInstall(await programCanister(), program.reply());
    const c = t.canister(id);
    const storage = () => c.cyclesBurned.get('storage') ?? 0n;
    const before = storage();
    await t.tick();
    const bytes = c.memoryUsage();
    assert.equal(storage() - before, scale(N, (bytes * GIB_SECOND * 10n) / (1n << 30n)));
    // create_canister from a canister: the fee is burned, the rest is the new balance.
    const cycles = 2n * scale(N, CREATION);
    const arg = program.call(Principal.managementCanister(), 'create_canister', cycles,
      new Uint8Array(IDL.encode([IDL.Record({ settings: IDL.Opt(IDL.Null), sender_canister_version: IDL.Opt(IDL.Nat64) })], [{ settings: [], sender_canister_version: [] }])),
    );
    const balance = c.balance;
    const burnedBefore = t.state.cyclesBurned;
    const messageId = await t.submit(id, 'run', arg);
    await t.awaitStatus(messageId);
    const created = t.state.canisters().find((x) => x !== c)!;
    assert.equal(created.balance, cycles - scale(N, CREATION));
    assert.equal(created.cyclesBurned.get('canister_creation'), scale(N, CREATION));
    assert.ok(balance - c.balance > cycles && t.state.cyclesBurned - burnedBefore > scale(N, CREATION));
  });
}
