// Canister snapshots (data part): take, load, list, delete; snapshots are replicated state, so
// they survive checkpoints and count in the state hash, and their pages are written once.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bytesToHex } from '@noble/hashes/utils.js';
import { CanisterError, ErrorCode } from '../src/index.js';
import {
  Checkpointer, FsCheckpointStore, deleteSnapshot, listSnapshots, loadSnapshot, restoreReplica, snapshotOwner, snapshotSize,
  snapshotsSize, takeSnapshot,
} from '../src/checkpoint/index.js';
import { stateHash } from '../src/state/serialize.js';
import { CONFIG, Driver, counterCanister, readU64 } from './fixtures/persistence-driver.js';

const dirs: string[] = [];
after(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

const code = (c: ErrorCode) => (e: unknown) => e instanceof CanisterError && e.code === c;

test('take, load, list and delete', async () => {
  const d = Driver.fresh();
  const id = await d.createAndInstall(await counterCanister());
  for (let i = 0; i < 3; i++) await d.update(id, 'inc');
  const c = d.state.canister(id)!;
  const s1 = takeSnapshot(c, { now: d.state.time });
  assert.equal(s1.id.length, 18);
  assert.equal(snapshotOwner(s1.id)!.toText(), id.toText());
  assert.equal(s1.canisterVersion, c.version);
  assert.deepEqual(listSnapshots(c).map((s) => bytesToHex(s.id)), [bytesToHex(s1.id)]);
  assert.ok(snapshotSize(s1) >= BigInt(c.execution!.heap.sizeBytes + c.stable.sizeBytes));
  assert.equal(snapshotsSize(c), snapshotSize(s1));

  await d.update(id, 'inc');
  await d.update(id, 'inc');
  assert.equal(readU64(d.query(id, 'get')), 5n);
  const version = c.version;
  loadSnapshot(c, c, s1.id, { evict: (x) => d.replica.env.evict(x) });
  assert.equal(readU64(d.query(id, 'get')), 3n);
  assert.equal(readU64(c.certifiedData), 3n);
  assert.equal(c.version, version + 1n);
  // The snapshot is a copy: running on does not change it, and it loads again.
  assert.equal(readU64(await d.update(id, 'inc')), 4n);
  loadSnapshot(c, c, s1.id);
  assert.equal(readU64(d.query(id, 'get')), 3n);

  const s2 = takeSnapshot(c, { now: d.state.time, maxSnapshots: 2 });
  assert.throws(() => takeSnapshot(c, { now: d.state.time, maxSnapshots: 2 }), code(ErrorCode.CanisterRejectedMessage));
  const s3 = takeSnapshot(c, { now: d.state.time, maxSnapshots: 2, replace: s1.id });
  assert.deepEqual(listSnapshots(c).map((s) => bytesToHex(s.id)), [s2.id, s3.id].map((x) => bytesToHex(x)));
  deleteSnapshot(c, s2.id);
  assert.throws(() => deleteSnapshot(c, s2.id), code(ErrorCode.CanisterSnapshotNotFound));
  assert.throws(() => loadSnapshot(c, c, s1.id), code(ErrorCode.CanisterSnapshotNotFound));
  assert.equal(listSnapshots(c).length, 1);

  const [created] = await d.management('provisional_create_canister_with_cycles', { amount: [], settings: [], specified_id: [], sender_canister_version: [] });
  const empty = d.state.canister((created as { canister_id: import('@icp-sdk/core/principal').Principal }).canister_id)!;
  assert.throws(() => takeSnapshot(empty, { now: 0n }), code(ErrorCode.CanisterWasmModuleNotFound));
  // A snapshot of one canister loads onto another canister of the subnet.
  loadSnapshot(empty, c, s3.id);
  assert.equal(readU64(d.query(empty.id, 'get')), 3n);
});

test('snapshots survive a checkpoint and restore; their pages are written once', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'icpk-snap-'));
  dirs.push(dir);
  const store = await FsCheckpointStore.open(dir);
  const d = Driver.fresh((modules) => new Checkpointer(store, modules, { interval: 1000n }));
  const id = await d.createAndInstall(await counterCanister());
  await d.update(id, 'inc');
  const c = d.state.canister(id)!;
  const before = bytesToHex(stateHash(d.state));
  const snap = takeSnapshot(c, { now: d.state.time });
  assert.notEqual(bytesToHex(stateHash(d.state)), before, 'the snapshot is in the state hash');
  const first = await d.checkpointer!.checkpoint(d.state);
  await d.update(id, 'inc');
  const second = await d.checkpointer!.checkpoint(d.state);
  const snapshotPages = snap.heap.pageCount + snap.stable.pageCount;
  assert.ok(first.pagesWritten >= snapshotPages * 2, 'the first checkpoint writes canister and snapshot pages');
  // inc dirties one heap page and one stable page; the snapshot's pages are not written again.
  assert.equal(second.pagesWritten, 2);

  const r = await restoreReplica({ config: CONFIG, store });
  assert.equal(bytesToHex(stateHash(r.replica.state)), bytesToHex(second.stateHash));
  const rc = r.replica.state.canister(id)!;
  assert.deepEqual(listSnapshots(rc).map((s) => bytesToHex(s.id)), [bytesToHex(snap.id)]);
  const after = new Driver(r.replica);
  assert.equal(readU64(after.query(id, 'get')), 2n);
  loadSnapshot(rc, rc, snap.id);
  assert.equal(readU64(after.query(id, 'get')), 1n);
  // The next snapshot id continues after the restored ones.
  assert.notEqual(bytesToHex(takeSnapshot(rc, { now: 0n }).id), bytesToHex(snap.id));
});
