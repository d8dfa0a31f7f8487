// The durable block log: acknowledged ingress survives a restart, blocks replay in order, a torn
// tail is cut off, and restart = checkpoint + replay gives the state hash from before the stop.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { appendFile, mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Principal } from '@icp-sdk/core/principal';
import { bytesToHex } from '@noble/hashes/utils.js';
import { ManualClock, canisterIdFromIndex, type IngressMessage, type XNetSlice } from '../src/index.js';
import { BlockLogCorruptError, FileBlockLog } from '../src/consensus/block-log.js';
import { FsCheckpointStore, executeRound, restoreReplica } from '../src/checkpoint/index.js';
import { stateHash } from '../src/state/serialize.js';
import { CONFIG, Driver, USER, counterCanister, messageId, readU64 } from './fixtures/persistence-driver.js';

const dirs: string[] = [];
after(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});
async function tempDir(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'icpk-log-'));
  dirs.push(d);
  return d;
}

const ingress = (n: number): IngressMessage => ({
  messageId: messageId(`m${n}`), sender: USER, receiver: canisterIdFromIndex(0n), method: 'inc', arg: new Uint8Array([n]),
});

test('submit resolves once durable; blocks and unblocked ingress survive a reopen', async () => {
  const dir = await tempDir();
  const clock = new ManualClock();
  const log = await FileBlockLog.open(dir, { clock });
  await Promise.all([ingress(1), ingress(2), ingress(3)].map((m) => log.submit(m)));
  assert.ok(log.stats.syncs <= 3);
  const b1 = log.make();
  assert.equal(b1.height, 1n);
  assert.deepEqual(b1.ingress.map((m) => m.arg[0]), [1, 2, 3]);
  await log.submit({
    ...ingress(4), effectiveCanisterId: Principal.managementCanister(), traceparent: 'tp',
    callerInfo: { data: Uint8Array.of(1, 2), signer: Principal.fromText('rdmx6-jaaaa-aaaaa-aaadq-cai') },
  });
  clock.advance(5n);
  const b2 = log.make();
  await log.submit(ingress(5)); // durable, but no block took it
  await log.close();

  const again = await FileBlockLog.open(dir, { clock });
  assert.equal(again.lastBlockHeight, 2n);
  const replayed = [];
  for await (const b of again.blocksAfter(0n)) replayed.push(b);
  assert.deepEqual(replayed, [b1, b2]);
  const after1 = [];
  for await (const b of again.blocksAfter(1n)) after1.push(b.height);
  assert.deepEqual(after1, [2n]);
  assert.equal(await again.resume(() => false), 1);
  const b3 = again.make();
  assert.equal(b3.height, 3n);
  assert.ok(b3.time > b2.time);
  assert.deepEqual(b3.ingress.map((m) => m.arg[0]), [5]);
  await again.close();
});

test('a block with slices of other subnets\' streams replays as it was made', async () => {
  const dir = await tempDir();
  const log = await FileBlockLog.open(dir, { clock: new ManualClock() });
  const remote = Principal.fromUint8Array(new Uint8Array(29).fill(7));
  const a = canisterIdFromIndex(0x100000n);
  const slice: XNetSlice = {
    subnet: remote, header: { begin: 3n, end: 6n, signalsEnd: 2n }, from: 4n,
    messages: [
      { kind: 'request', sender: a, receiver: canisterIdFromIndex(1n), method: 'echo', arg: Uint8Array.of(1), cycles: 5n, origin: { kind: 'canister', caller: a, callbackId: 9, deadline: 0n } },
      { kind: 'response', originator: canisterIdFromIndex(2n), respondent: a, callbackId: 4, payload: { kind: 'reject', code: 4, message: 'no', errorCode: 'IC0406' }, refund: 1n },
    ],
    traceparents: ['00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01', undefined],
  };
  const made = log.make([slice]);
  const plain = log.make();
  await log.close();
  const again = await FileBlockLog.open(dir, { clock: new ManualClock() });
  const replayed = [];
  for await (const b of again.blocksAfter(0n)) replayed.push(b);
  // Trace context is kept beside the messages (their certified encoding has none).
  assert.deepEqual(replayed, [made, plain]);
  assert.deepEqual(made.xnet, [slice]);
  assert.equal(plain.xnet, undefined);
  await again.close();
});

test('a torn tail is cut off when the log is opened; damage before the tail is an error', async () => {
  const dir = await tempDir();
  const log = await FileBlockLog.open(dir, { clock: new ManualClock() });
  await log.submit(ingress(1));
  log.make();
  await log.close();
  const [file] = (await readdir(dir)).filter((f) => f.endsWith('.log'));
  const path = join(dir, file!);
  const good = (await stat(path)).size;
  await appendFile(path, new Uint8Array([0, 0, 1, 0, 9, 9])); // half a header of the next record
  const reopened = await FileBlockLog.open(dir, { clock: new ManualClock() });
  assert.equal(reopened.lastBlockHeight, 1n);
  assert.equal((await stat(path)).size, good);
  await reopened.close();

  // A record whose payload was cut short, and one with a wrong checksum: both torn tails too.
  const bytes = await readFile(path);
  await writeFile(path, bytes.subarray(0, bytes.length - 3));
  const cut = await FileBlockLog.open(dir, { clock: new ManualClock() });
  assert.equal(cut.lastBlockHeight, 0n, 'the block record was the last one');
  await cut.close();

  // In a segment that is not the last, damage is not a torn tail.
  const dir2 = await tempDir();
  const log2 = await FileBlockLog.open(dir2, { clock: new ManualClock(), segmentBytes: 1 });
  await log2.submit(ingress(1));
  log2.make();
  log2.make();
  await log2.close();
  const files = (await readdir(dir2)).filter((f) => f.endsWith('.log')).sort();
  assert.ok(files.length >= 2);
  const first = join(dir2, files[0]!);
  const b = await readFile(first);
  b[b.length - 1]! ^= 0xff;
  await writeFile(first, b);
  await assert.rejects(FileBlockLog.open(dir2), BlockLogCorruptError);
});

test('restart with a block log: checkpoint + replay = the state before, acknowledged messages all replied', async () => {
  const dir = await tempDir();
  const clock = new ManualClock();
  const store = await FsCheckpointStore.open(join(dir, 'checkpoints'));
  const log = await FileBlockLog.open(join(dir, 'blocks'), { clock, segmentBytes: 4096 });
  const first = await restoreReplica({ config: CONFIG, store, blocks: log, checkpointer: { interval: 4n, retain: 2 } });
  const d = new Driver(first.replica, first.checkpointer, clock, 'run1');
  const id = await d.createAndInstall(await counterCanister());
  for (let i = 0; i < 9; i++) await d.update(id, 'inc');
  const pending = [await d.submit(id, 'inc', new Uint8Array()), await d.submit(id, 'inc', new Uint8Array())];
  const hash = bytesToHex(stateHash(d.state));
  const height = d.state.height;
  // Segments below the oldest retained checkpoint were pruned.
  const segments = (await readdir(join(dir, 'blocks'))).filter((f) => f.endsWith('.log'));
  assert.ok(segments.length < Number(height), `segments: ${segments.length}`);
  await log.close();

  const log2 = await FileBlockLog.open(join(dir, 'blocks'), { clock });
  const second = await restoreReplica({ config: CONFIG, store, blocks: log2, checkpointer: { interval: 4n } });
  assert.ok(second.checkpoint && second.checkpoint.height <= height);
  assert.equal(second.replica.state.height, height);
  assert.equal(bytesToHex(stateHash(second.replica.state)), hash);
  assert.equal(second.requeued, 2);
  const d2 = new Driver(second.replica, second.checkpointer, clock, 'run2');
  for (const m of pending) assert.equal((await d2.awaitStatus(m)).status, 'replied');
  assert.equal(readU64(d2.query(id, 'get')), 11n);
  await executeRound(second.replica, second.checkpointer);
  await log2.close();
});
