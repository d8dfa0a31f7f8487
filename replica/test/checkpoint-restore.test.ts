// Restart from a checkpoint plus replay of the later blocks gives the state hash of the replica
// that never stopped, for the filesystem store and for S3 (a real s3rver on a random port).

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as Minio from 'minio';
import { bytesToHex } from '@noble/hashes/utils.js';
import {
  Checkpointer, FsCheckpointStore, S3CheckpointStore, restoreReplica, type CheckpointStore,
} from '../src/checkpoint/index.js';
import { LocalBlockMaker } from '../src/index.js';
import { stateHash } from '../src/state/serialize.js';
import { CONFIG, Driver, counterCanister, readU64 } from './fixtures/persistence-driver.js';

interface S3rverInstance { run(): Promise<{ port: number }>; close(): Promise<void> }
type S3rverClass = new (options: Record<string, unknown>) => S3rverInstance;
const S3rver = createRequire(import.meta.url)('s3rver') as S3rverClass;

const dirs: string[] = [];
let s3: S3rverInstance;
let client: Minio.Client;

async function tempDir(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'icpk-ckpt-'));
  dirs.push(d);
  return d;
}

before(async () => {
  s3 = new S3rver({ port: 0, address: '127.0.0.1', directory: await tempDir(), silent: true });
  const { port } = await s3.run();
  client = new Minio.Client({
    endPoint: '127.0.0.1', port, useSSL: false, accessKey: 'S3RVER', secretKey: 'S3RVER', pathStyle: true, region: 'us-east-1',
  });
});

after(async () => {
  await s3?.close();
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

const stores: [string, () => Promise<CheckpointStore>][] = [
  ['filesystem', async () => FsCheckpointStore.open(await tempDir())],
  ['s3', async () => S3CheckpointStore.open(client, 'checkpoints', `replica-${Math.random().toString(36).slice(2)}`)],
];

for (const [name, open] of stores) {
  test(`${name}: objects put, get, list, delete; counters count them`, async () => {
    const store = await open();
    assert.equal(await store.get('checkpoints/1/x'), undefined);
    await store.put('checkpoints/1/b.bin', new Uint8Array([1, 2, 3]));
    await store.put('checkpoints/1/a.bin', new Uint8Array(0));
    await store.publish('checkpoints/2/manifest.json', new TextEncoder().encode('{}'));
    await store.put('wasm/ab.wasm', new Uint8Array([9]));
    assert.deepEqual(await store.get('checkpoints/1/b.bin'), new Uint8Array([1, 2, 3]));
    assert.deepEqual(await store.list('checkpoints/'), ['checkpoints/1/a.bin', 'checkpoints/1/b.bin', 'checkpoints/2/manifest.json']);
    assert.deepEqual(await store.list('wasm/'), ['wasm/ab.wasm']);
    await store.delete('checkpoints/1/b.bin');
    await store.delete('checkpoints/1/missing');
    assert.deepEqual(await store.list('checkpoints/1'), ['checkpoints/1/a.bin']);
    assert.equal(store.counters.objectsWritten, 4);
    assert.equal(store.counters.bytesWritten, 6);
  });
}

for (const [name, open] of stores) {
  test(`${name}: restart from a checkpoint and replay gives the same state hash`, async () => {
    const store = await open();
    const d = Driver.fresh((modules) => new Checkpointer(store, modules, { interval: 5n, compactEvery: 3 }));
    const id = await d.createAndInstall(await counterCanister());
    for (let i = 0; i < 13; i++) await d.update(id, 'inc');
    await d.tickTo(23n);
    assert.ok(d.checkpoints.length >= 4, `checkpoints at ${d.checkpoints.map((c) => c.height)}`);
    assert.ok(d.checkpoints.some((c) => !c.base), 'some checkpoints are deltas');
    const before = stateHash(d.state);

    const restored = await restoreReplica({
      config: CONFIG, store, replay: d.blocks, blocks: new LocalBlockMaker(d.clock), checkpointer: { interval: 5n, compactEvery: 3 },
    });
    assert.equal(restored.checkpoint?.height, 20n);
    assert.equal(restored.replayed, 3);
    assert.equal(restored.replica.state.height, 23n);
    assert.equal(bytesToHex(stateHash(restored.replica.state)), bytesToHex(before));
    assert.equal(bytesToHex(stateHash(restored.replica.state, { cache: false })), bytesToHex(before));

    // The restored replica runs on: same answers, and it checkpoints as a delta of the loaded chain.
    const after = new Driver(restored.replica, restored.checkpointer, d.clock, 'after');
    assert.equal(readU64(after.query(id, 'get')), 13n);
    assert.equal(readU64(await after.update(id, 'inc')), 14n);
    await after.tickTo(25n);
    assert.equal(after.checkpoints.at(-1)?.height, 25n);
  });
}

test('restoring without blocks gives exactly the checkpointed state', async () => {
  const store = await FsCheckpointStore.open(await tempDir());
  const d = Driver.fresh((modules) => new Checkpointer(store, modules, { interval: 1000n }));
  const id = await d.createAndInstall(await counterCanister());
  await d.update(id, 'inc');
  const result = await d.checkpointer!.checkpoint(d.state);
  const restored = await restoreReplica({ config: CONFIG, store });
  assert.equal(bytesToHex(stateHash(restored.replica.state)), bytesToHex(result.stateHash));
  assert.equal(readU64(new Driver(restored.replica).query(id, 'get')), 1n);
});

test('Motoko canisters: upgrade between checkpoints, restart, same hash and same answers', async () => {
  const { compileMotoko } = await import('../../test/support/motoko.js');
  const { IDL } = await import('@icp-sdk/core/candid');
  const counter = (await compileMotoko('counter')).wasm;
  const upgrade = (await compileMotoko('upgrade')).wasm;
  const store = await FsCheckpointStore.open(await tempDir());
  const d = Driver.fresh((modules) => new Checkpointer(store, modules, { interval: 4n }));
  const c1 = await d.createAndInstall(counter);
  const c2 = await d.createAndInstall(upgrade);
  for (let i = 0; i < 3; i++) await d.update(c1, 'inc');
  await d.update(c2, 'bump');
  await d.tickTo(12n);
  await d.install(c2, upgrade, 'upgrade'); // a new heap page map: written whole at the next checkpoint
  await d.update(c2, 'bump');
  await d.tickTo(d.state.height + 4n - (d.state.height % 4n) + 2n);
  const hash = bytesToHex(stateHash(d.state));

  const r = await restoreReplica({ config: CONFIG, store, replay: d.blocks, blocks: new LocalBlockMaker(d.clock) });
  assert.ok(r.replayed >= 1);
  assert.equal(bytesToHex(stateHash(r.replica.state)), hash);
  const after = new Driver(r.replica, r.checkpointer, d.clock, 'after');
  const nat = (b: Uint8Array) => IDL.decode([IDL.Nat], b)[0];
  assert.equal(nat(after.query(c1, 'get')), 3n);
  assert.equal(nat(await after.update(c1, 'inc')), 4n);
  const Read = IDL.Record({ stable_count: IDL.Nat, heap_count: IDL.Nat });
  assert.deepEqual(IDL.decode([Read], after.query(c2, 'read'))[0], { stable_count: 2n, heap_count: 1n });
});

test('filesystem store: temporary files of a crashed write are removed on open; keys cannot escape', async () => {
  const dir = await tempDir();
  const { mkdir, writeFile, readdir } = await import('node:fs/promises');
  await mkdir(join(dir, '.tmp'), { recursive: true });
  await writeFile(join(dir, '.tmp', 'half-written'), new Uint8Array(10));
  const store = await FsCheckpointStore.open(dir);
  assert.deepEqual(await readdir(join(dir, '.tmp')), []);
  assert.deepEqual(await store.list(''), []);
  await assert.rejects(store.put('../outside', new Uint8Array(1)), /invalid checkpoint object key/);
  await assert.rejects(store.put('/abs', new Uint8Array(1)), /invalid checkpoint object key/);
});

test('a long (DTS) execution spanning a checkpoint is aborted before it and restarts; restart + replay matches', async () => {
  const { DEFAULT_EXECUTION_CONFIG, DEFAULT_SCHEDULER_CONFIG } = await import('../src/index.js');
  const { burnCanister } = await import('./fixtures/persistence-driver.js');
  // burn needs about 1.2 M instructions: with 300 k per slice and per round it takes 5 rounds.
  const config = {
    ...CONFIG,
    scheduler: { ...DEFAULT_SCHEDULER_CONFIG, roundInstructions: 300_000n, instructionOverheadPerExecution: 0n },
    execution: { ...DEFAULT_EXECUTION_CONFIG, instructions: { ...DEFAULT_EXECUTION_CONFIG.instructions, slice: 300_000n } },
  };
  const store = await FsCheckpointStore.open(await tempDir());
  const d = Driver.fresh((modules) => new Checkpointer(store, modules, { interval: 10n }), config);
  const id = await d.createAndInstall(await burnCanister());
  await d.tickTo(7n);
  const message = await d.submit(id, 'burn', new Uint8Array());
  await d.tick();
  await d.tick();
  assert.ok(d.state.canister(id)!.scheduler.paused, 'the message is paused between slices');
  await assert.rejects(d.checkpointer!.checkpoint(d.state), /has a paused execution/);
  await d.tick(); // height 10: aborted before the checkpoint
  assert.equal(d.checkpoints.at(-1)?.height, 10n);
  assert.equal(d.state.canister(id)!.scheduler.paused, undefined);
  assert.equal(d.replica.ingressStatus(message)?.status, 'processing');
  const status = await d.awaitStatus(message);
  assert.equal(status.status, 'replied');
  assert.ok(d.state.height > 14n && d.state.height < 20n, `replied at ${d.state.height}: started over after the checkpoint`);
  assert.equal(readU64((status as { reply: Uint8Array }).reply), 100_000n);
  const hash = bytesToHex(stateHash(d.state));

  const r = await restoreReplica({ config, store, replay: d.blocks, blocks: new LocalBlockMaker(d.clock), checkpointer: { interval: 10n } });
  assert.equal(r.checkpoint?.height, 10n);
  assert.equal(bytesToHex(stateHash(r.replica.state)), hash);
});

test('with worker threads: restart from a checkpoint and replay gives the same state hash', async () => {
  const config = { ...CONFIG, workers: 2 };
  const store = await FsCheckpointStore.open(await tempDir());
  const d = Driver.fresh((modules) => new Checkpointer(store, modules, { interval: 4n }), config);
  try {
    const a = await d.createAndInstall(await counterCanister());
    const b = await d.createAndInstall(await counterCanister());
    for (let i = 0; i < 5; i++) {
      await d.submit(a, 'inc', new Uint8Array());
      await d.submit(b, 'inc', new Uint8Array());
      await d.tick();
    }
    await d.tickTo(14n);
    const hash = bytesToHex(stateHash(d.state));
    const r = await restoreReplica({ config, store, replay: d.blocks, blocks: new LocalBlockMaker(d.clock) });
    try {
      assert.equal(r.checkpoint?.height, 12n);
      assert.equal(bytesToHex(stateHash(r.replica.state)), hash);
      // And the same as a replica without workers replaying everything.
      const single = await restoreReplica({ config: CONFIG, store: await FsCheckpointStore.open(await tempDir()), replay: d.blocks });
      assert.equal(bytesToHex(stateHash(single.replica.state)), hash);
    } finally {
      await r.replica.close();
    }
  } finally {
    await d.replica.close();
  }
});
