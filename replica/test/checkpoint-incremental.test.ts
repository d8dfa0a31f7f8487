// Incremental checkpoints: only dirty pages are written, chains compact into new bases, torn
// checkpoints are skipped for the previous one, and garbage collection keeps what restarts need.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, truncate, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bytesToHex } from '@noble/hashes/utils.js';
import {
  Checkpointer, CorruptCheckpointError, FsCheckpointStore, listCheckpointHeights, manifestKey, readManifest, restoreReplica,
} from '../src/checkpoint/index.js';
import { LocalBlockMaker } from '../src/index.js';
import { PAGE_SIZE } from '../src/state/page-map.js';
import { stateHash } from '../src/state/serialize.js';
import { CONFIG, Driver, bigStableCanister, counterCanister, u64le } from './fixtures/persistence-driver.js';

const dirs: string[] = [];
after(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});
async function fsStore(): Promise<FsCheckpointStore> {
  const d = await mkdtemp(join(tmpdir(), 'icpk-ckpt-'));
  dirs.push(d);
  return FsCheckpointStore.open(d);
}

test('a canister with 1 GiB of stable memory and one page changed writes about one page', async () => {
  const store = await fsStore();
  const d = Driver.fresh((modules) => new Checkpointer(store, modules, { interval: 1000n }));
  const id = await d.createAndInstall(await bigStableCanister());
  const canister = d.state.canister(id)!;
  assert.equal(canister.stable.sizeBytes, 1 << 30);
  await d.update(id, 'touch', u64le(1000n));
  const first = await d.checkpointer!.checkpoint(d.state);
  assert.ok(first.base);

  // One update writing 8 bytes into stable page 200 000 (and a heap word).
  await d.update(id, 'touch', u64le(200_000n));
  assert.deepEqual([...canister.stable.dirty], [200_000]);
  const written = store.counters.bytesWritten;
  const second = await d.checkpointer!.checkpoint(d.state);
  assert.equal(second.base, false);
  assert.ok(second.pagesWritten >= 1 && second.pagesWritten <= 3, `pages written: ${second.pagesWritten}`);
  const bytes = store.counters.bytesWritten - written;
  // A stable page, the heap page touched, metadata and the manifest: a few pages, not 1 GiB.
  assert.ok(bytes < 6 * PAGE_SIZE + 16 * 1024, `bytes written: ${bytes}`);
  assert.equal(bytes, second.bytesWritten);

  const restored = await restoreReplica({ config: CONFIG, store });
  assert.equal(bytesToHex(stateHash(restored.replica.state)), bytesToHex(second.stateHash));
  const stable = restored.replica.state.canister(id)!.stable;
  assert.equal(stable.sizeBytes, 1 << 30);
  assert.equal(new DataView(stable.read(200_000 * PAGE_SIZE, 8).buffer).getBigUint64(0, true), 2n);
  assert.equal(new DataView(stable.read((1 << 30) - PAGE_SIZE, 8).buffer).getBigUint64(0, true), 0x0123456789abcdefn);
});

test('unchanged page maps write nothing; every compactEvery-th checkpoint is a new base', async () => {
  const store = await fsStore();
  const d = Driver.fresh((modules) => new Checkpointer(store, modules, { interval: 2n, compactEvery: 3 }));
  const id = await d.createAndInstall(await counterCanister());
  await d.tickTo(10n);
  const bases = d.checkpoints.map((c) => c.base);
  assert.deepEqual(d.checkpoints.map((c) => c.height), [2n, 4n, 6n, 8n, 10n]);
  assert.deepEqual(bases, [true, false, false, true, false]);
  // Idle rounds dirty nothing: deltas carry metadata and a manifest only.
  for (const c of d.checkpoints.filter((c) => !c.base)) assert.equal(c.pagesWritten, 0);
  await d.update(id, 'inc');
  await d.tickTo(12n);
  assert.ok(d.checkpoints.at(-1)!.pagesWritten > 0);
});

test('a torn checkpoint (manifest missing, or an object truncated) is skipped for the previous one', async () => {
  const store = await fsStore();
  const d = Driver.fresh((modules) => new Checkpointer(store, modules, { interval: 4n, retain: 3 }));
  const id = await d.createAndInstall(await counterCanister());
  for (let i = 0; i < 3; i++) await d.update(id, 'inc');
  await d.tickTo(8n);
  await d.update(id, 'inc');
  await d.tickTo(12n);
  assert.deepEqual(await listCheckpointHeights(store), [12n, 8n, 4n]);
  const hashAt = new Map(d.checkpoints.map((c) => [c.height, bytesToHex(c.stateHash)]));

  // Truncate an object of checkpoint 12: its hash no longer matches, so 8 is used.
  const m12 = await readManifest(store, 12n);
  const pages12 = m12.objects.find((o) => o.key.startsWith('checkpoints/00000000000000000012/pages'))!;
  await truncate(join(store.dir, ...pages12.key.split('/')), pages12.size - 100);
  let r = await restoreReplica({ config: CONFIG, store, checkpointer: { interval: 4n } });
  assert.equal(r.checkpoint?.height, 8n);
  assert.equal(r.skipped[0]?.height, 12n);
  assert.ok(r.skipped[0]?.error instanceof CorruptCheckpointError);
  assert.match(r.skipped[0]!.error.message, /has \d+ bytes, expected/);
  assert.equal(bytesToHex(stateHash(r.replica.state)), hashAt.get(8n));

  // Replaying the blocks after 8 reaches the hash the replica had at 12.
  r = await restoreReplica({ config: CONFIG, store, replay: d.blocks.filter((b) => b.height <= 12n), blocks: new LocalBlockMaker(d.clock), checkpointDuringReplay: false });
  assert.equal(r.replica.state.height, 12n);
  assert.equal(bytesToHex(stateHash(r.replica.state)), hashAt.get(12n));

  // A flipped byte (same size) is caught by the object hash.
  const m8 = await readManifest(store, 8n);
  const meta8 = join(store.dir, ...m8.meta.split('/'));
  const bytes = await readFile(meta8);
  bytes[bytes.length - 1]! ^= 1;
  await writeFile(meta8, bytes);
  // And a missing manifest: the checkpoint never finished.
  await rm(join(store.dir, ...manifestKey(12n).split('/')));
  r = await restoreReplica({ config: CONFIG, store });
  assert.equal(r.checkpoint?.height, 4n);
  assert.equal(r.skipped.length, 1);
  assert.match(r.skipped[0]!.error.message, /does not match its hash/);
  assert.equal(bytesToHex(stateHash(r.replica.state)), hashAt.get(4n));
});

test('garbage collection keeps the newest checkpoints and everything their chains need', async () => {
  const store = await fsStore();
  const d = Driver.fresh((modules) => new Checkpointer(store, modules, { interval: 1n, compactEvery: 4, retain: 2 }));
  const id = await d.createAndInstall(await counterCanister());
  for (let i = 0; i < 10; i++) await d.update(id, 'inc');
  const heights = await listCheckpointHeights(store);
  assert.equal(heights.length, 2);
  assert.equal(heights[0], d.state.height);
  // Every object a kept manifest names is there; nothing else is.
  const keep = new Set<string>();
  for (const h of heights) {
    const m = await readManifest(store, h);
    keep.add(manifestKey(h));
    for (const o of m.objects) keep.add(o.key);
  }
  assert.deepEqual(new Set(await store.list('')), keep);
  assert.equal(d.checkpointer!.oldestRetainedHeight, heights[1]);
  const r = await restoreReplica({ config: CONFIG, store });
  assert.equal(bytesToHex(stateHash(r.replica.state)), bytesToHex(stateHash(d.state)));
});

test('checkpoints captured while an earlier one still uploads are published in order', async () => {
  const store = await fsStore();
  const d = Driver.fresh((modules) => new Checkpointer(store, modules, { interval: 1000n }));
  const id = await d.createAndInstall(await counterCanister());
  await d.update(id, 'inc');
  const first = d.checkpointer!.checkpoint(d.state); // captured now, written in the background
  const hashAtFirst = bytesToHex(stateHash(d.state));
  await d.update(id, 'inc');
  const second = d.checkpointer!.checkpoint(d.state);
  const [a, b] = await Promise.all([first, second]);
  assert.equal(bytesToHex(a.stateHash), hashAtFirst);
  assert.equal(b.base, false);
  const m = await readManifest(store, b.height);
  assert.equal(m.parent, a.height.toString());
  const r = await restoreReplica({ config: CONFIG, store });
  assert.equal(bytesToHex(stateHash(r.replica.state)), bytesToHex(b.stateHash));
});

test('a failed write makes the next checkpoint a new base', async () => {
  const inner = await fsStore();
  let failPuts = 0;
  const store = Object.assign(Object.create(inner) as FsCheckpointStore, {
    put: (key: string, bytes: Uint8Array) => (failPuts-- > 0 ? Promise.reject(new Error('disk full')) : inner.put(key, bytes)),
  });
  const d = Driver.fresh((modules) => new Checkpointer(store, modules, { interval: 1000n }));
  const id = await d.createAndInstall(await counterCanister());
  await d.checkpointer!.checkpoint(d.state);
  await d.update(id, 'inc');
  failPuts = 1;
  await assert.rejects(d.checkpointer!.checkpoint(d.state), /failed: disk full/);
  await d.update(id, 'inc');
  const next = await d.checkpointer!.checkpoint(d.state);
  assert.equal(next.base, true, 'the pages dirtied before the failure are rewritten with everything else');
  const r = await restoreReplica({ config: CONFIG, store: inner });
  assert.equal(bytesToHex(stateHash(r.replica.state)), bytesToHex(next.stateHash));
});
