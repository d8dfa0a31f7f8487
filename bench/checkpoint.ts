// Incremental checkpoints: time and bytes against the number of dirty pages of one large canister
// (1 GiB of stable memory by default), for the filesystem store and for S3 (s3rver on localhost),
// then the time to restore the chain. Run: npx tsx bench/checkpoint.ts
// ICPK_BENCH_PAGES sets the canister's size in 4 KiB pages (default 262144 = 1 GiB).

import { mkdtemp, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as Minio from 'minio';
import { CanisterState, DEFAULT_SUBNET_ID, PAGE_SIZE, PageMap, ReplicatedState, canisterIdFromIndex, defaultSettings } from '../replica/src/index.js';
import { Checkpointer, FsCheckpointStore, S3CheckpointStore, lazyPageCounters, loadCheckpoint, type CheckpointStore } from '../replica/src/checkpoint/index.js';
import { PageDigestCache, stateHash } from '../replica/src/state/serialize.js';
import { ModuleCache } from '../replica/src/wasm/index.js';

const PAGES = Number(process.env.ICPK_BENCH_PAGES ?? 262_144);
const DIRTY = [1, 1_000, 100_000].filter((n) => n <= PAGES);
const RANGE = { start: 0n, end: 0xfffffn };
const noWasm = { wasm: () => undefined };

interface S3rverInstance { run(): Promise<{ port: number }>; close(): Promise<void> }
const S3rver = createRequire(import.meta.url)('s3rver') as new (o: Record<string, unknown>) => S3rverInstance;

/** One canister whose stable memory has every page written (distinct contents). */
function largeState(): ReplicatedState {
  const state = new ReplicatedState(DEFAULT_SUBNET_ID, RANGE);
  const canister = new CanisterState(canisterIdFromIndex(0n), defaultSettings([]), 10n ** 13n);
  canister.stable = new PageMap(PAGES * PAGE_SIZE);
  const page = new Uint8Array(PAGE_SIZE);
  const view = new DataView(page.buffer);
  for (let i = 0; i < PAGES; i++) {
    for (let w = 0; w < PAGE_SIZE; w += 512) view.setUint32(w, i * 2654435761 + w);
    canister.stable.setPage(i, page);
  }
  state.addCanister(canister);
  return state;
}

/** Changes `n` pages spread over the memory. */
function dirty(state: ReplicatedState, n: number, round: number): void {
  const stable = state.canisters()[0]!.stable;
  const stride = Math.max(1, Math.floor(PAGES / n));
  const word = new Uint8Array(8);
  new DataView(word.buffer).setFloat64(0, round);
  for (let i = 0; i < n; i++) stable.write(((i * stride) % PAGES) * PAGE_SIZE + 64, word);
}

const ms = (x: number): string => x.toFixed(0);
const mib = (x: number): string => (x / 2 ** 20).toFixed(x < 2 ** 20 ? 3 : 1);

async function run(name: string, store: CheckpointStore, rows: string[], restores: string[]): Promise<void> {
  const state = largeState();
  const checkpointer = new Checkpointer(store, noWasm, { interval: 1n, compactEvery: 1000 });
  state.height = 1n;
  const base = await checkpointer.checkpoint(state);
  rows.push(`| ${name} | base | ${PAGES} | ${base.pagesWritten} | ${mib(base.bytesWritten)} | ${base.objectsWritten} | ${ms(base.captureMs)} | ${ms(base.writeMs)} | ${ms(base.captureMs + base.writeMs)} |`);
  for (const [i, n] of DIRTY.entries()) {
    dirty(state, n, i + 1);
    state.height++;
    const r = await checkpointer.checkpoint(state);
    rows.push(`| ${name} | delta | ${n} | ${r.pagesWritten} | ${mib(r.bytesWritten)} | ${r.objectsWritten} | ${ms(r.captureMs)} | ${ms(r.writeMs)} | ${ms(r.captureMs + r.writeMs)} |`);
  }
  const modes: boolean[] = store instanceof FsCheckpointStore ? [false, true] : [false];
  for (const lazy of modes) {
    const read = store.counters.bytesRead;
    const lazyRead = lazyPageCounters.bytesRead;
    const t0 = performance.now();
    const target = new ReplicatedState(DEFAULT_SUBNET_ID, RANGE);
    const { loaded } = await loadCheckpoint(store, target, new ModuleCache(), { lazy });
    const t = performance.now() - t0;
    if (!loaded || loaded.height !== state.height) throw new Error('restore failed');
    const stable = target.canisters()[0]!.stable;
    // Lazy: objects are streamed through SHA-256 (not kept) and page maps hashed through positional reads.
    const streamed = lazy ? `${mib(store.counters.bytesRead - read)} streamed + ${mib(lazyPageCounters.bytesRead - lazyRead)} paged` : mib(store.counters.bytesRead - read);
    restores.push(`| ${name} | ${lazy ? 'lazy' : 'eager'} | ${DIRTY.length} deltas on a base | ${streamed} | ${stable.residentPageCount} / ${stable.pageCount} | ${ms(t)} |`);
  }
}

const dirs: string[] = [];
const temp = async (): Promise<string> => {
  const d = await mkdtemp(join(tmpdir(), 'icpk-bench-'));
  dirs.push(d);
  return d;
};

const s3 = new S3rver({ port: 0, address: '127.0.0.1', directory: await temp(), silent: true });
const { port } = await s3.run();
const client = new Minio.Client({ endPoint: '127.0.0.1', port, useSSL: false, accessKey: 'S3RVER', secretKey: 'S3RVER', pathStyle: true, region: 'us-east-1' });

/** The state hash: every page digested (cold), then again with one page changed (cached digests). */
function hashTimes(): { cold: number; warm: number } {
  const state = largeState();
  let t0 = performance.now();
  stateHash(state, { cache: new PageDigestCache() });
  const cold = performance.now() - t0;
  const cache = new PageDigestCache();
  stateHash(state, { cache });
  state.canisters()[0]!.stable.dirty.clear();
  dirty(state, 1, 99);
  t0 = performance.now();
  stateHash(state, { cache });
  return { cold, warm: performance.now() - t0 };
}

try {
  const { cold, warm } = hashTimes();

  const rows: string[] = [];
  const restores: string[] = [];
  await run('filesystem', await FsCheckpointStore.open(await temp()), rows, restores);
  await run('s3 (s3rver)', await S3CheckpointStore.open(client, 'bench', 'replica'), rows, restores);

  console.log(`## Checkpoints of one canister with ${mib(PAGES * PAGE_SIZE)} MiB of stable memory (${PAGES} pages)\n`);
  console.log('| store | kind | dirty pages | pages written | MiB written | objects | capture (ms) | write (ms) | total (ms) |');
  console.log('|---|---|---|---|---|---|---|---|---|');
  for (const r of rows) console.log(r);
  console.log('\n## Restore (load the newest checkpoint: verify every object, apply the chain, check the state hash)\n');
  console.log('Lazy (filesystem only): pages objects are hashed by streaming and kept open; pages are read on demand.\n');
  console.log('| store | mode | chain | MiB read | stable pages resident / total | time (ms) |');
  console.log('|---|---|---|---|---|---|');
  for (const r of restores) console.log(r);
  console.log('\n## State hash\n');
  console.log('| all pages digested (ms) | one dirty page, cached digests (ms) | ratio |');
  console.log('|---|---|---|');
  console.log(`| ${ms(cold)} | ${ms(warm)} | ${(cold / warm).toFixed(1)}x |`);
} finally {
  await s3.close();
  for (const d of dirs) await rm(d, { recursive: true, force: true });
}
