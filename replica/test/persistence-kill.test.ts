// Crash safety: a replica process (FileBlockLog + FsCheckpointStore) is killed with SIGKILL at
// seeded random moments, several times, and restarted each time. Afterwards every message it
// acknowledged is replied, and the state restored from checkpoint + replay equals a fresh replay
// of the whole log from genesis.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { bytesToHex } from '@noble/hashes/utils.js';
import { FileBlockLog } from '../src/consensus/block-log.js';
import { FsCheckpointStore, restoreReplica } from '../src/checkpoint/index.js';
import { stateHash } from '../src/state/serialize.js';
import { CONFIG, Driver } from './fixtures/persistence-driver.js';

const CHILD = fileURLToPath(new URL('./fixtures/persistence-child.ts', import.meta.url));
const ITERATIONS = 5;
const SEED = Number(process.env.ICPK_KILL_SEED ?? 20261124);

const dirs: string[] = [];
after(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

function xorshift(seed: number): () => number {
  let x = seed | 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 2 ** 32;
  };
}

/** Runs the child until `killAfterMs` after it is ready, then SIGKILLs it; returns the acknowledged ids. */
async function runAndKill(dir: string, tag: string, seed: number, killAfterMs: number): Promise<{ acked: string[]; readyHeight: bigint }> {
  const child = spawn(process.execPath, ['--import', 'tsx', CHILD, dir, tag, String(seed)], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  const acked: string[] = [];
  let readyHeight = -1n;
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  const lines = createInterface({ input: child.stdout });
  let timer: NodeJS.Timeout | undefined;
  lines.on('line', (line) => {
    if (line.startsWith('ACK ')) acked.push(line.slice(4));
    else if (line.startsWith('READY ')) {
      readyHeight = BigInt(line.slice(6));
      timer = setTimeout(() => child.kill('SIGKILL'), killAfterMs);
    }
  });
  const guard = setTimeout(() => child.kill('SIGKILL'), 60_000);
  const { signal } = await exited;
  clearTimeout(guard);
  clearTimeout(timer);
  await new Promise((r) => setImmediate(r));
  assert.equal(signal, 'SIGKILL', `child ended by itself: ${stderr}`);
  assert.ok(readyHeight >= 0n, `child never became ready: ${stderr}`);
  return { acked, readyHeight };
}

test('kill -9 loop: acknowledged messages survive and replay is deterministic', { timeout: 180_000 }, async () => {
  const dir = await mkdtemp(join(tmpdir(), 'icpk-kill-'));
  dirs.push(dir);
  const random = xorshift(SEED);
  const acked: string[] = [];
  let lastReady = -1n;
  for (let i = 0; i < ITERATIONS; i++) {
    const killAfter = 150 + Math.floor(random() * 900);
    const run = await runAndKill(dir, `run${i}`, Math.floor(random() * 2 ** 31), killAfter);
    assert.ok(run.readyHeight >= lastReady, `restart went back from ${lastReady} to ${run.readyHeight}`);
    lastReady = run.readyHeight;
    acked.push(...run.acked);
  }
  assert.ok(acked.length > 0, 'the child acknowledged some messages');

  // Restart: newest valid checkpoint + replay of the blocks after it.
  const log = await FileBlockLog.open(join(dir, 'blocks'));
  const store = await FsCheckpointStore.open(join(dir, 'checkpoints'));
  const restored = await restoreReplica({ config: CONFIG, store, blocks: log, checkpointer: { interval: 3n } });
  assert.ok(restored.checkpoint, "some checkpoint survived");
  if (process.env.ICPK_KILL_VERBOSE) console.error({ acked: acked.length, lastReady, checkpoint: restored.checkpoint.height, skipped: restored.skipped.map((s) => s.error.message), replayed: restored.replayed, requeued: restored.requeued, height: restored.replica.state.height });
  const height = restored.replica.state.height;
  const hash = bytesToHex(stateHash(restored.replica.state));

  // A fresh replay of the same log from genesis, with no checkpoint at all.
  const empty = await FsCheckpointStore.open(join(dir, 'empty'));
  const replayLog = await FileBlockLog.open(join(dir, 'blocks'));
  const fresh = await restoreReplica({ config: CONFIG, store: empty, blocks: replayLog, checkpointDuringReplay: false });
  assert.equal(fresh.replica.state.height, height);
  assert.equal(bytesToHex(stateHash(fresh.replica.state)), hash);
  await replayLog.close();

  // Every acknowledged message is replied (those no block took yet are executed now).
  const d = new Driver(restored.replica, restored.checkpointer);
  for (const id of acked) {
    const status = restored.replica.ingressStatus(id)?.status === 'replied' ? 'replied' : (await d.awaitStatus(id, 200)).status;
    assert.equal(status, 'replied', `message ${id}`);
  }
  await log.close();
});
