// Canister snapshots through the management canister: a controller rolls a canister back around
// a risky upgrade.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { IDL } from '@icp-sdk/core/candid';
import { Principal } from '@icp-sdk/core/principal';
import { compileMotoko } from '../../test/support/motoko.js';
import { CallRejected, ExecutionTest, candid, decode } from '../../test/support/execution-test.js';

const Read = IDL.Record({ stable_count: IDL.Nat, heap_count: IDL.Nat });

test('take, upgrade, load: the canister is back to the snapshot; list and delete', async () => {
  const { wasm } = await compileMotoko('upgrade');
  const t = new ExecutionTest();
  try {
    const id = await t.createAndInstall(wasm);
    await t.update(id, 'bump');
    await t.update(id, 'bump');
    const [snap] = (await t.management('take_canister_snapshot', { canister_id: id, replace_snapshot: [] })) as [
      { id: Uint8Array; total_size: bigint },
    ];
    assert.ok(snap.total_size > 0n);
    await t.install(id, wasm, candid(), 'upgrade');
    await t.update(id, 'bump');
    assert.deepEqual(decode([Read], t.query(id, 'read'))[0], { stable_count: 3n, heap_count: 1n });

    await t.management('load_canister_snapshot', { canister_id: id, snapshot_id: snap.id, sender_canister_version: [] });
    assert.deepEqual(decode([Read], t.query(id, 'read'))[0], { stable_count: 2n, heap_count: 2n });
    await t.update(id, 'bump');
    assert.deepEqual(decode([Read], t.query(id, 'read'))[0], { stable_count: 3n, heap_count: 3n });

    const [listed] = (await t.management('list_canister_snapshots', { canister_id: id })) as [{ id: Uint8Array }[]];
    assert.deepEqual(listed.map((s) => Buffer.from(s.id).toString('hex')), [Buffer.from(snap.id).toString('hex')]);
    await t.management('delete_canister_snapshot', { canister_id: id, snapshot_id: snap.id });
    const [after] = (await t.management('list_canister_snapshots', { canister_id: id })) as [unknown[]];
    assert.equal(after.length, 0);
    await assert.rejects(
      t.management('load_canister_snapshot', { canister_id: id, snapshot_id: snap.id, sender_canister_version: [] }),
      (e: CallRejected) => e.errorCode === 'IC0305',
    );
    // Only controllers may take snapshots.
    const stranger = Principal.fromUint8Array(new Uint8Array([7, 7, 7, 2]));
    await assert.rejects(t.management('take_canister_snapshot', { canister_id: id, replace_snapshot: [] }, stranger),
      (e: CallRejected) => e.errorCode === 'IC0512');
  } finally {
    await t.close?.();
  }
});
