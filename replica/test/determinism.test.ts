// Determinism: the same sequence of blocks gives the same state, round after round, whether the
// canisters run in process, on 1, 2 or 4 worker threads, or partly on the main thread beside them.
// The scenario mixes what makes parallel execution hard: many canisters per iteration, calls
// between them (fan-out, a ring), rejects, long executions paused across rounds (DTS), timers and
// heartbeats, and a round limit small enough that cores run out of room mid-iteration.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { IDL } from '@icp-sdk/core/candid';
import type { Principal } from '@icp-sdk/core/principal';
import { compileMotoko } from '../../test/support/motoko.js';
import { ExecutionTest, candid } from '../../test/support/execution-test.js';
import {
  DEFAULT_EXECUTION_CONFIG, DEFAULT_SCHEDULER_CONFIG, WorkerSandboxHost, type ReplicaConfig, type RoundSummary, type WorkerPoolStats,
} from '../src/index.js';
import { stateDigest } from '../src/scheduler/index.js';
import { stateHash } from '../src/state/serialize.js';

const config = {
  execution: { ...DEFAULT_EXECUTION_CONFIG, instructions: { ...DEFAULT_EXECUTION_CONFIG.instructions, update: 1_000_000_000n, slice: 100_000_000n } },
  scheduler: { ...DEFAULT_SCHEDULER_CONFIG, roundInstructions: 300_000_000n },
};

interface Run {
  readonly digests: string[];
  readonly summaries: Omit<RoundSummary, 'height'>[];
  readonly stats?: WorkerPoolStats;
}

async function scenario(workers: number, workerPool?: ReplicaConfig['workerPool']): Promise<Run> {
  const wasm = async (name: string) => (await compileMotoko(name)).wasm;
  const t = new ExecutionTest({ ...config, workers, workerPool });
  try {
    const counters: Principal[] = [];
    for (let i = 0; i < 6; i++) counters.push(await t.createAndInstall(await wasm('counter')));
    const echo = await t.createAndInstall(await wasm('echo'));
    const caller = await t.createAndInstall(await wasm('caller'), candid([IDL.Principal], [echo]));
    const ring = [await t.createAndInstall(await wasm('chain')), await t.createAndInstall(await wasm('chain')), await t.createAndInstall(await wasm('chain'))];
    const loops = [await t.createAndInstall(await wasm('loop')), await t.createAndInstall(await wasm('loop')), await t.createAndInstall(await wasm('loop'))];
    await t.createAndInstall(await wasm('heartbeat'));
    await t.createAndInstall(await wasm('timer'));

    const digests: string[] = [];
    const summaries: Omit<RoundSummary, 'height'>[] = [];
    for (let round = 0; round < 24; round++) {
      // Several messages per counter: they take several iterations, next to the long executions.
      for (let i = 0; i < 12; i++) await t.submit(counters[(round + (i % 3)) % counters.length]!, 'inc', candid());
      if (round === 1) await t.submit(caller, 'fanout', candid([IDL.Nat], [12n]));
      if (round === 2) await t.submit(ring[0]!, 'ping', candid([IDL.Nat, IDL.Vec(IDL.Principal)], [7n, [ring[1]!, ring[2]!, ring[0]!]]));
      if (round === 3 || round === 9) {
        for (const [i, loop] of loops.entries()) await t.submit(loop, 'work', candid([IDL.Nat], [BigInt(2_000_000 + i * 700_000)]));
      }
      if (round === 5) await t.submit(caller, 'call_fail', candid());
      if (round === 7) await t.submit(caller, 'call_echo', candid([IDL.Text], ['hello']));
      if (round === 11) await t.submit(loops[0]!, 'spin', candid());
      const { height: _, ...summary } = await t.tick();
      summaries.push(summary);
      // The checkpoint encoding's hash, and our generic digest of every field.
      digests.push(`${Buffer.from(stateHash(t.state)).toString('hex')} ${stateDigest(t.state)}`);
    }
    const host = t.replica.env.host;
    return { digests, summaries, stats: host instanceof WorkerSandboxHost ? { ...host.stats } : undefined };
  } finally {
    await t.close();
  }
}

test('the same blocks give the same state in process and on 1, 2 and 4 workers', async () => {
  const reference = await scenario(0);
  // The scenario exercised what it should: long executions paused across rounds, cores out of room.
  assert.ok(reference.summaries.some((s) => s.pausedExecutions > 0), 'a long execution was paused');
  assert.ok(reference.summaries.some((s) => s.roundInstructions >= config.scheduler.roundInstructions), 'a round used its limit');
  for (const workers of [1, 2, 4]) {
    const run = await scenario(workers);
    assert.ok(run.stats!.held > 0 && run.stats!.undone > 0, `long executions held a worker, cores undid executions: ${JSON.stringify(run.stats)}`);
    assertSame(run, reference, `${workers} workers`);
  }
});

test('the same state when instances are evicted and paused executions cannot keep a thread', async () => {
  const reference = await scenario(0);
  // Three instances per worker (canisters keep moving) and no thread for a paused execution
  // (every long execution is run again from the start to continue).
  const run = await scenario(2, { maxSandboxesPerWorker: 3, maxHeldExecutions: 0 });
  assert.ok(run.stats!.replays > 0 && run.stats!.held === 0, JSON.stringify(run.stats));
  assert.ok(run.stats!.restores > 30, JSON.stringify(run.stats));
  assertSame(run, reference, 'evictions and replays');
});

test('the same state when the main thread runs a share of the canisters', async () => {
  const reference = await scenario(0);
  // All of them: what is too long for the main thread goes to the worker (DTS and all there).
  const all = await scenario(1, { mainShare: 1 });
  assert.ok(all.stats!.local > 0 && all.stats!.probed > 0 && all.stats!.held > 0, JSON.stringify(all.stats));
  assertSame(all, reference, 'the main thread running every canister it can');
  // Half of them, beside two workers with room for three instances each (canisters keep moving).
  const half = await scenario(2, { mainShare: 0.5, maxSandboxesPerWorker: 3 });
  assert.ok(half.stats!.local > 0 && half.stats!.restores > 10, JSON.stringify(half.stats));
  assertSame(half, reference, 'the main thread running half of the canisters');
});

function assertSame(run: Run, reference: Run, what: string): void {
  for (let i = 0; i < reference.digests.length; i++) {
    assert.deepEqual(run.summaries[i], reference.summaries[i], `round ${i} summary with ${what}`);
    assert.equal(run.digests[i], reference.digests[i], `state after round ${i} with ${what}`);
  }
}
