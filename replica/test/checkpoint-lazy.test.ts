// Lazily restored page maps: a filesystem checkpoint of a canister with 1 GiB of stable memory
// (every page written) restores with only a few pages resident; pages are read from the
// checkpoint's files on demand, writes make them resident, and the state hash equals the eager
// restore's.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bytesToHex } from '@noble/hashes/utils.js';
import { Checkpointer, FsCheckpointStore, lazyPageCounters, loadCheckpoint, restoreReplica } from '../src/checkpoint/index.js';
import { PersistentModuleCache } from '../src/checkpoint/module-store.js';
import { PAGE_SIZE, PageMap } from '../src/state/page-map.js';
import { ReplicatedState } from '../src/state/replicated-state.js';
import { pageMapHash, stateHash } from '../src/state/serialize.js';
import { CONFIG, Driver, bigStableCanister, readU64, u64le } from './fixtures/persistence-driver.js';

const dirs: string[] = [];
after(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

const PAGES = (1 << 30) / PAGE_SIZE;

test('a 1 GiB stable memory restores lazily: few pages resident, same answers and state hash as eager', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'icpk-lazy-'));
  dirs.push(dir);
  const store = await FsCheckpointStore.open(dir);
  const d = Driver.fresh((modules) => new Checkpointer(store, modules, { interval: 1000n }));
  const id = await d.createAndInstall(await bigStableCanister());
  const stable = d.state.canister(id)!.stable;
  // Every page of the 1 GiB written, with distinct contents.
  const page = new Uint8Array(PAGE_SIZE);
  const view = new DataView(page.buffer);
  for (let i = 0; i < PAGES; i++) {
    view.setUint32(16, i, true);
    view.setUint32(PAGE_SIZE - 4, i ^ 0x5a5a5a5a, true);
    page.fill(0, 0, 16);
    if (i === 0 || i === PAGES - 1) page.set(stable.page(i).subarray(0, 16));
    stable.setPage(i, page);
  }
  const checkpoint = await d.checkpointer!.checkpoint(d.state);
  assert.equal(stable.pageCount, PAGES);

  const restored = await restoreReplica({ config: CONFIG, store });
  assert.equal(restored.checkpoint?.height, checkpoint.height);
  const lazy = restored.replica.state.canister(id)!.stable;
  assert.ok(lazy.isLazy);
  assert.equal(lazy.pageCount, PAGES);
  assert.equal(lazy.indices().length, PAGES);
  assert.ok(lazy.residentPageCount < PAGES / 100, `resident after restore: ${lazy.residentPageCount} of ${PAGES}`);
  assert.equal(lazy.dirty.size, 0);
  assert.equal(bytesToHex(stateHash(restored.replica.state)), bytesToHex(checkpoint.stateHash));
  assert.equal(new DataView(lazy.read(12_345 * PAGE_SIZE + 16, 4).buffer).getUint32(0, true), 12_345);
  assert.equal(readU64(lazy.read(0, 8)), 0x0123456789abcdefn);

  // The eager restore of the same checkpoint: every page resident, same state hash.
  const eagerState = new ReplicatedState(d.state.subnetId, d.state.canisterRange);
  const eager = await loadCheckpoint(store, eagerState, new PersistentModuleCache(), { lazy: false });
  assert.equal(eager.loaded?.height, checkpoint.height);
  assert.equal(eagerState.canister(id)!.stable.isLazy, false);
  assert.equal(eagerState.canister(id)!.stable.residentPageCount, PAGES);
  assert.equal(bytesToHex(stateHash(eagerState)), bytesToHex(stateHash(restored.replica.state)));

  // An update touching one page: only that page (and the heap's) becomes resident and dirty.
  const after = new Driver(restored.replica, undefined, d.clock, 'after'); // fresh message ids
  const readsBefore = lazyPageCounters.pagesRead;
  await after.update(id, 'touch', u64le(200_000n));
  await d.update(id, 'touch', u64le(200_000n));
  // Execution commits a copy of the canister: the new stable map shares the lazy source.
  const touched = restored.replica.state.canister(id)!.stable;
  assert.ok(touched.isLazy);
  assert.deepEqual([...touched.dirty], [200_000]);
  assert.ok(touched.residentPageCount < PAGES / 100, `resident after the update: ${touched.residentPageCount}`);
  const word = touched.read(200_000 * PAGE_SIZE, 20);
  assert.equal(readU64(word), 1n); // written by the update
  assert.equal(new DataView(word.buffer).getUint32(16, true), 200_000); // the rest of the page came from the file
  // Same update on the original: same memories (the states differ in message ids and the like).
  assert.equal(bytesToHex(pageMapHash(touched)), bytesToHex(pageMapHash(d.state.canister(id)!.stable)));
  console.log(`resident after restore+update: ${touched.residentPageCount}/${PAGES}; pages read from files by the update and hash: ${lazyPageCounters.pagesRead - readsBefore}`);

  // A clone shares the source; a write to it leaves the original alone.
  const copy: PageMap = lazy.clone();
  copy.write(7 * PAGE_SIZE + 16, new Uint8Array([1, 2, 3, 4]));
  assert.equal(new DataView(lazy.read(7 * PAGE_SIZE + 16, 4).buffer).getUint32(0, true), 7);
  assert.equal(new DataView(copy.read(7 * PAGE_SIZE + 20 - 4 + PAGE_SIZE, 4).buffer).getUint32(0, true), 8);
});
