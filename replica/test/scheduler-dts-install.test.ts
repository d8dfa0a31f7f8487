// Deterministic time slicing of install_code (IC: execution/install_code.rs): canister_init,
// pre_upgrade and post_upgrade run in slices across rounds while other canisters keep running;
// the canister is busy meanwhile; the result is committed all at once or not at all. Limits are
// small (slice 10 M, round 20 M) so that a few million loop iterations take several rounds.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { IDL } from '@icp-sdk/core/candid';
import { Principal } from '@icp-sdk/core/principal';
import { sha256 } from '@noble/hashes/sha2.js';
import { ExecutionTest, candid, type ExecutionTestOptions } from '../../test/support/execution-test.js';
import { wat } from '../../test/support/wat.js';
import { DEFAULT_EXECUTION_CONFIG, DEFAULT_SCHEDULER_CONFIG, MANAGEMENT_METHODS } from '../src/index.js';
import { stateDigest, valueDigest } from '../src/scheduler/index.js';
import { stateHash } from '../src/state/serialize.js';

const SLICE = 10_000_000n;
const ROUND = 20_000_000n;
const INSTALL = 500_000_000n;
const limits = (slice: bigint, install = INSTALL): ExecutionTestOptions => ({
  execution: { ...DEFAULT_EXECUTION_CONFIG, instructions: { ...DEFAULT_EXECUTION_CONFIG.instructions, update: 40_000_000n, install, slice } },
  scheduler: { ...DEFAULT_SCHEDULER_CONFIG, roundInstructions: ROUND, subnetMessageInstructions: ROUND },
});
const dts = limits(SLICE);

/** Loop iterations that take about four slices. */
const LONG = 3_000_000n;

/**
 * A canister whose canister_init and canister_post_upgrade spin `n` iterations (adding Σ i % 7 to
 * heap[0]) and set heap[8] to its tag; heap[16] counts `inc` calls. pre_upgrade saves the three
 * words to stable memory, post_upgrade reads them back before spinning (and traps after, if told).
 */
async function spinner(tag: number, init: bigint, postUpgrade: bigint, trapAfterPostUpgrade = false): Promise<Uint8Array> {
  return wat(`(module
    (import "ic0" "msg_reply" (func $reply))
    (import "ic0" "msg_reply_data_append" (func $append (param i32 i32)))
    (import "ic0" "stable64_size" (func $ssize (result i64)))
    (import "ic0" "stable64_grow" (func $sgrow (param i64) (result i64)))
    (import "ic0" "stable64_write" (func $swrite (param i64 i64 i64)))
    (import "ic0" "stable64_read" (func $sread (param i64 i64 i64)))
    (import "ic0" "trap" (func $trap (param i32 i32)))
    (memory 1)
    (data (i32.const 100) "post_upgrade gave up")
    (func $spin (param $n i64) (local $i i64) (local $acc i64)
      (block $done (loop $l
        (br_if $done (i64.ge_u (local.get $i) (local.get $n)))
        (local.set $acc (i64.add (local.get $acc) (i64.rem_u (local.get $i) (i64.const 7))))
        (local.set $i (i64.add (local.get $i) (i64.const 1)))
        (br $l)))
      (i64.store (i32.const 0) (i64.add (i64.load (i32.const 0)) (local.get $acc))))
    (func (export "canister_init")
      (i64.store (i32.const 8) (i64.const ${tag}))
      (call $spin (i64.const ${init})))
    (func (export "canister_pre_upgrade")
      (if (i64.eq (call $ssize) (i64.const 0)) (then (drop (call $sgrow (i64.const 1)))))
      (call $swrite (i64.const 0) (i64.const 0) (i64.const 24)))
    (func (export "canister_post_upgrade")
      (call $sread (i64.const 0) (i64.const 0) (i64.const 24))
      (i64.store (i32.const 8) (i64.const ${tag}))
      (call $spin (i64.const ${postUpgrade}))
      ${trapAfterPostUpgrade ? '(call $trap (i32.const 100) (i32.const 20))' : ''})
    (func (export "canister_update inc")
      (i64.store (i32.const 16) (i64.add (i64.load (i32.const 16)) (i64.const 1)))
      (call $append (i32.const 0) (i32.const 24)) (call $reply))
    (func (export "canister_query get") (call $append (i32.const 0) (i32.const 24)) (call $reply)))`);
}

const COUNTER = `(module
  (import "ic0" "msg_reply" (func $reply))
  (import "ic0" "msg_reply_data_append" (func $append (param i32 i32)))
  (memory 1)
  (func (export "canister_update inc")
    (i64.store (i32.const 0) (i64.add (i64.load (i32.const 0)) (i64.const 1)))
    (call $append (i32.const 0) (i32.const 8)) (call $reply)))`;

/** Σ i % 7 for i < n: what one spin adds to heap[0]. */
const spun = (n: bigint) => (n / 7n) * 21n + ((n % 7n) * ((n % 7n) - 1n)) / 2n;

/** [sum, tag, incs] from a `get` or `inc` reply. */
function words(bytes: Uint8Array): [bigint, bigint, bigint] {
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return [v.getBigUint64(0, true), v.getBigUint64(8, true), v.getBigUint64(16, true)];
}

const u64 = (bytes: Uint8Array) => new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getBigUint64(0, true);

function installArg(mode: 'install' | 'reinstall' | 'upgrade', canister: Principal, wasm: Uint8Array): Uint8Array {
  const m = mode === 'upgrade' ? { upgrade: [{ skip_pre_upgrade: [], wasm_memory_persistence: [] }] } : { [mode]: null };
  return new Uint8Array(IDL.encode([...MANAGEMENT_METHODS.install_code.args], [{ mode: m, canister_id: canister, wasm_module: wasm, arg: candid(), sender_canister_version: [] }]));
}

const MANAGEMENT = Principal.managementCanister();
const submitInstall = (t: ExecutionTest, mode: 'install' | 'reinstall' | 'upgrade', canister: Principal, wasm: Uint8Array) =>
  t.submit(MANAGEMENT, 'install_code', installArg(mode, canister, wasm));
const statusArg = (canister: Principal) => new Uint8Array(IDL.encode([...MANAGEMENT_METHODS.canister_status.args], [{ canister_id: canister }]));

/** What the replicated state holds of a canister's code and memories. */
function memories(t: ExecutionTest, id: Principal): string {
  const c = t.canister(id);
  return valueDigest({ module: c.moduleHash, heap: c.execution?.heap, globals: c.execution?.globals, stable: c.stable });
}

const executionBurned = (t: ExecutionTest, id: Principal) => t.canister(id).cyclesBurned.get('execution') ?? 0n;

for (const workers of [0, 2]) {
  test(`a long canister_init and a long post_upgrade run over several rounds while another canister completes a message in each (${workers} workers)`, async () => {
    const t = new ExecutionTest({ ...dts, workers });
    try {
      const counter = await t.createAndInstall(await wat(COUNTER));
      const id = await t.createCanister();
      let incs = 0n;

      /** Runs rounds until `message` is answered; checks each round as it goes; returns the rounds. */
      const untilDone = async (message: string, during: () => void): Promise<number> => {
        let rounds = 0;
        while (!t.result(message)) {
          const inc = await t.submit(counter, 'inc', candid());
          await t.tick();
          rounds++;
          const r = t.result(inc);
          assert.equal(r?.status, 'replied', `round ${rounds}: the other canister's message completed`);
          assert.equal(u64((r as { reply: Uint8Array }).reply), ++incs);
          if (!t.result(message)) during();
          assert.ok(rounds < 30, `${rounds} rounds`);
        }
        return rounds;
      };

      const install = await submitInstall(t, 'install', id, await spinner(1, LONG, 0n));
      await t.tick();
      assert.ok(t.canister(id).scheduler.paused?.work.kind === 'install', 'the install is paused after its first round');
      // Management calls about the canister wait for the install.
      const status = await t.submit(MANAGEMENT, 'canister_status', statusArg(id));
      const installRounds = 1 + await untilDone(install, () => {
        assert.equal(t.result(status), undefined, 'canister_status waits for the install');
        // Queries see the committed state: no module yet.
        assert.throws(() => t.query(id, 'get'), /no Wasm module/);
      });
      assert.equal(t.result(install)?.status, 'replied');
      assert.ok(installRounds >= 3, `${installRounds} rounds`);
      await t.awaitStatus(status);
      assert.equal(t.result(status)?.status, 'replied');
      assert.deepEqual(words(t.query(id, 'get')), [spun(LONG), 1n, 0n]);

      const upgrade = await submitInstall(t, 'upgrade', id, await spinner(2, 0n, LONG));
      await t.tick();
      assert.ok(t.canister(id).scheduler.paused?.work.kind === 'install', 'the upgrade is paused after its first round');
      // An update for the canister waits for the upgrade, and then runs on the new code.
      const early = await t.submit(id, 'inc', candid());
      const upgradeRounds = 1 + await untilDone(upgrade, () => {
        assert.equal(t.result(early), undefined, 'the update waits for the upgrade');
        // The half-done upgrade is invisible: the old code and memory answer.
        assert.deepEqual(words(t.query(id, 'get')), [spun(LONG), 1n, 0n]);
      });
      assert.equal(t.result(upgrade)?.status, 'replied');
      assert.ok(upgradeRounds >= 3, `${upgradeRounds} rounds`);
      await t.awaitStatus(early);
      assert.deepEqual(words((t.result(early) as { reply: Uint8Array }).reply), [2n * spun(LONG), 2n, 1n],
        'post_upgrade read what pre_upgrade saved and spun; then the update ran on the new code');
      assert.equal(t.canister(id).installCount, 2n);
      assert.equal(t.canister(id).scheduler.paused, undefined);
    } finally {
      await t.close();
    }
  });
}

/** Creates a canister, installs and upgrades it with long phases; what it cost and left. */
async function installAndUpgrade(options: ExecutionTestOptions, interrupt?: (t: ExecutionTest) => Promise<void>) {
  const t = new ExecutionTest(options);
  try {
    const id = await t.createCanister();
    const before = executionBurned(t, id);
    const from = t.rounds.length;
    const install = await submitInstall(t, 'install', id, await spinner(1, LONG, 0n));
    await t.tick();
    if (interrupt) await interrupt(t);
    await t.awaitStatus(install);
    await t.update(id, 'inc');
    const upgrade = await submitInstall(t, 'upgrade', id, await spinner(2, 0n, LONG));
    await t.tick();
    if (interrupt) await interrupt(t);
    await t.awaitStatus(upgrade);
    const c = t.canister(id);
    return {
      install: t.result(install)!.status,
      upgrade: t.result(upgrade)!.status,
      get: words(t.query(id, 'get')),
      // Storage is charged by state time, which differs with the number of rounds: execution only.
      charged: executionBurned(t, id) - before,
      memories: memories(t, id),
      version: c.version,
      rounds: t.rounds.length - from,
    };
  } finally {
    await t.close();
  }
}

test('a sliced install and upgrade give the same result and charge as without slices, in process and on a worker', async () => {
  const sliced = await installAndUpgrade(dts);
  const whole = await installAndUpgrade(limits(INSTALL));
  const onWorker = await installAndUpgrade({ ...dts, workers: 1 });
  assert.ok(sliced.rounds > whole.rounds + 2, `${sliced.rounds} rounds sliced, ${whole.rounds} whole`);
  assert.deepEqual(sliced.get, [2n * spun(LONG), 2n, 1n]);
  for (const other of [whole, onWorker]) {
    const { rounds: _a, ...a } = other;
    const { rounds: _b, ...b } = sliced;
    assert.deepEqual(a, b);
  }
});

test('a checkpoint aborts a paused install and upgrade; they start over and end in the same state with the same charge', async () => {
  const reference = await installAndUpgrade(dts);
  let aborted = 0;
  const checkpointed = await installAndUpgrade(dts, async (t) => {
    await t.tick();
    const paused = t.state.canisters().find((c) => c.scheduler.paused?.work.kind === 'install');
    assert.ok(paused, 'an install is paused before the checkpoint');
    await t.tick({ checkpoint: true });
    assert.equal(paused.scheduler.paused, undefined, 'the checkpoint aborted it');
    assert.ok(paused.scheduler.pendingInstall, 'it is still the canister\'s next execution');
    // The checkpoint itself holds the aborted install, ready to start over after a restart.
    assert.ok(stateHash(t.state).length > 0);
    aborted++;
  });
  assert.equal(aborted, 2);
  const { rounds: _a, ...a } = checkpointed;
  const { rounds: _b, ...b } = reference;
  assert.deepEqual(a, b);
  assert.ok(checkpointed.rounds > reference.rounds, 'starting over took longer');
});

for (const workers of [0, 2]) {
  test(`a trap in the last slice of post_upgrade leaves the old module and memories (${workers} workers)`, async () => {
    const t = new ExecutionTest({ ...dts, workers });
    try {
      const id = await t.createCanister();
      await t.install(id, await spinner(1, 1000n, 0n));
      await t.update(id, 'inc');
      const before = { memories: memories(t, id), version: t.canister(id).version, get: words(t.query(id, 'get')) };
      const burned = executionBurned(t, id);
      const upgrade = await submitInstall(t, 'upgrade', id, await spinner(2, 0n, LONG, true));
      const from = t.rounds.length;
      const status = await t.awaitStatus(upgrade);
      assert.ok(t.rounds.length - from >= 3, 'the upgrade ran for several rounds before it trapped');
      assert.equal(status.status, 'rejected');
      const s = status as { errorCode: string; message: string };
      assert.equal(s.errorCode, 'IC0503');
      assert.equal(s.message, `Error from Canister ${id.toText()}: Post-upgrade failed: Canister called \`ic0.trap\` with message: 'post_upgrade gave up'`);
      assert.equal(memories(t, id), before.memories, 'module, heap, globals and stable memory are as before');
      assert.equal(t.canister(id).version, before.version);
      assert.deepEqual(words(t.query(id, 'get')), before.get);
      assert.deepEqual(words(await t.update(id, 'inc')), [before.get[0], 1n, 2n], 'the old code runs on');
      // The instructions executed are charged: several slices' worth.
      const fees = t.replica.env.fees;
      assert.ok(executionBurned(t, id) - burned > fees.executionCost(3n * SLICE) - fees.executionCost(0n));
    } finally {
      await t.close();
    }
  });
}

test('an install over the install instruction limit fails after several rounds with the IC error, nothing installed', async () => {
  const t = new ExecutionTest(limits(SLICE, 100_000_000n));
  const id = await t.createCanister();
  const install = await submitInstall(t, 'install', id, await spinner(1, 1_000_000_000n, 0n));
  const from = t.rounds.length;
  const status = await t.awaitStatus(install);
  assert.ok(t.rounds.length - from >= 5, `${t.rounds.length - from} rounds for 10 slices`);
  assert.equal(status.status, 'rejected');
  const s = status as { errorCode: string; message: string };
  assert.equal(s.errorCode, 'IC0522');
  assert.equal(s.message, `Error from Canister ${id.toText()}: Canister exceeded the limit of 100000000 instructions for single message execution.`);
  assert.equal(t.canister(id).execution, undefined);
  assert.equal(t.canister(id).moduleHash, undefined);
  assert.equal(t.canister(id).scheduler.paused, undefined);
  assert.equal(t.canister(id).scheduler.pendingInstall, undefined);
});

test('a second install_code waits while a long install is in progress, then runs', async () => {
  const t = new ExecutionTest(dts);
  const a = await t.createCanister();
  const b = await t.createCanister();
  const first = await submitInstall(t, 'install', a, await spinner(1, LONG, 0n));
  await t.tick();
  const second = await submitInstall(t, 'install', b, await spinner(2, 10n, 0n));
  await t.tick();
  assert.equal(t.result(first), undefined);
  assert.equal(t.result(second), undefined, 'the second install waits for the long one (IC: one long install_code at a time)');
  await t.awaitStatus(second);
  assert.equal(t.result(first)?.status, 'replied', 'the first one finished before');
  assert.deepEqual(words(t.query(b, 'get')), [spun(10n), 2n, 0n]);
});

// ---- determinism ---------------------------------------------------------------------------------

async function scenario(workers: number): Promise<string[]> {
  const t = new ExecutionTest({ ...dts, workers });
  try {
    const counters = [];
    for (let i = 0; i < 3; i++) counters.push(await t.createAndInstall(await wat(COUNTER)));
    const a = await t.createCanister();
    const b = await t.createCanister();
    const chunked = await t.createCanister();
    const digests: string[] = [];
    const chunkWasm = await spinner(3, LONG / 2n, LONG / 3n);
    for (let round = 0; round < 30; round++) {
      for (let i = 0; i < 4; i++) await t.submit(counters[(round + i) % 3]!, 'inc', candid());
      if (round === 0) await submitInstall(t, 'install', a, await spinner(1, LONG, 0n));
      if (round === 1) await submitInstall(t, 'install', b, await spinner(2, LONG / 2n, 0n));
      if (round === 2) {
        const half = Math.floor(chunkWasm.length / 2);
        for (const part of [chunkWasm.subarray(0, half), chunkWasm.subarray(half)]) {
          await t.submit(MANAGEMENT, 'upload_chunk', new Uint8Array(IDL.encode([...MANAGEMENT_METHODS.upload_chunk.args], [{ canister_id: chunked, chunk: part }])));
        }
      }
      if (round === 3) {
        const hashes = [chunkWasm.subarray(0, Math.floor(chunkWasm.length / 2)), chunkWasm.subarray(Math.floor(chunkWasm.length / 2))].map((p) => ({ hash: sha256(p) }));
        await t.submit(MANAGEMENT, 'install_chunked_code', new Uint8Array(IDL.encode([...MANAGEMENT_METHODS.install_chunked_code.args], [{
          mode: { install: null }, target_canister: chunked, store_canister: [], chunk_hashes_list: hashes, wasm_module_hash: sha256(chunkWasm),
          arg: candid(), sender_canister_version: [],
        }])));
      }
      if (round === 5) await t.submit(a, 'inc', candid());
      if (round === 8) await submitInstall(t, 'upgrade', a, await spinner(4, 0n, LONG));
      if (round === 12) await submitInstall(t, 'upgrade', a, await spinner(5, 0n, LONG, true));
      await t.tick({ checkpoint: round === 9 });
      digests.push(`${Buffer.from(stateHash(t.state)).toString('hex')} ${stateDigest(t.state)}`);
    }
    assert.equal(t.canister(chunked).installCount, 1n, 'the chunked install completed');
    assert.deepEqual(words(t.query(a, 'get'))[1], 4n, 'the trapped upgrade left the first upgrade in place');
    assert.equal(t.state.canisters().filter((c) => c.scheduler.pendingInstall || c.scheduler.paused).length, 0);
    return digests;
  } finally {
    await t.close();
  }
}

test('the same blocks with sliced installs give the same state in process and on 1, 2 and 4 workers', async () => {
  const reference = await scenario(0);
  for (const workers of [1, 2, 4]) {
    const run = await scenario(workers);
    for (let i = 0; i < reference.length; i++) assert.equal(run[i], reference[i], `${workers} workers, round ${i}`);
  }
});

// ---- restart ------------------------------------------------------------------------------------

test('an install aborted by a checkpoint is in the checkpoint; a restart replays to the same state and the install completes', async () => {
  const { mkdtemp, rm } = await import('node:fs/promises');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const { Checkpointer, FsCheckpointStore, restoreReplica } = await import('../src/checkpoint/index.js');
  const { LocalBlockMaker, defaultReplicaConfig } = await import('../src/index.js');
  const { Driver } = await import('./fixtures/persistence-driver.js');
  const dir = await mkdtemp(join(tmpdir(), 'icpk-install-'));
  try {
    const config = defaultReplicaConfig(dts);
    const store = await FsCheckpointStore.open(dir);
    const d = Driver.fresh((modules) => new Checkpointer(store, modules, { interval: 8n }), config);
    const [created] = await d.management('provisional_create_canister_with_cycles', { amount: [10n ** 14n], settings: [], specified_id: [], sender_canister_version: [] });
    const id = (created as { canister_id: Principal }).canister_id;
    await d.tickTo(6n);
    const install = await d.submit(MANAGEMENT, 'install_code', installArg('install', id, await spinner(1, LONG, 0n)));
    await d.tick(); // height 7: paused
    assert.ok(d.state.canister(id)!.scheduler.paused);
    await d.tick(); // height 8: a checkpoint round aborts it, the checkpoint keeps it pending
    assert.ok(d.state.canister(id)!.scheduler.pendingInstall);
    assert.equal(d.checkpoints.at(-1)?.height, 8n);
    const status = await d.awaitStatus(install);
    assert.equal(status.status, 'replied');
    await d.tickTo(d.state.height + 1n);
    assert.ok(d.state.height < 16n, 'the checkpoint at height 8 is still the newest');
    const hash = Buffer.from(stateHash(d.state)).toString('hex');

    // From the checkpoint at height 8 (install pending), with and without the later blocks.
    const r = await restoreReplica({ config, store });
    assert.equal(r.replica.state.height, 8n);
    assert.ok(r.replica.state.canister(id)!.scheduler.pendingInstall, 'restored with the install pending');
    const replayed = await restoreReplica({ config, store, replay: d.blocks, blocks: new LocalBlockMaker(d.clock) });
    assert.equal(Buffer.from(stateHash(replayed.replica.state)).toString('hex'), hash);
    const after = new Driver(replayed.replica, replayed.checkpointer, d.clock, 'after');
    assert.deepEqual(words(after.query(id, 'get')), [spun(LONG), 1n, 0n]);
    await r.replica.close();
    await replayed.replica.close();
    await d.replica.close();
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
