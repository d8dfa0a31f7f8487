// The worker pool's batches: a worker is sent jobs in batches of at least 32 while an iteration
// is prepared, however many workers share the scheduler's prefetches (smaller batches cost more in
// hand-offs between the threads than they win). And the workers' priority: below the main
// thread's, which prepares and commits every execution.

import { readFileSync, readdirSync } from 'node:fs';
import { once } from 'node:events';
import { availableParallelism, getPriority } from 'node:os';
import { test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { Worker } from 'node:worker_threads';
import assert from 'node:assert/strict';
import { compileMotoko } from '../../test/support/motoko.js';
import { ExecutionTest, candid } from '../../test/support/execution-test.js';
import type { Principal } from '@icp-sdk/core/principal';
import { DEFAULT_WORKER_NICE, WorkerSandboxHost } from '../src/index.js';

test('four workers get the jobs of an iteration in batches of at least 32, not a quarter of each prefetch', async () => {
  const t = new ExecutionTest({ workers: 4 });
  try {
    const counter = (await compileMotoko('counter')).wasm;
    const ids: Principal[] = [];
    for (let i = 0; i < 128; i++) ids.push(await t.createAndInstall(counter));
    const host = t.replica.env.host as WorkerSandboxHost;
    const round = async () => {
      const messages: string[] = [];
      for (const id of ids) messages.push(await t.submit(id, 'inc', candid()));
      const before = host.stats.batches;
      const summary = await t.tick();
      assert.equal(summary.messagesExecuted, 128);
      for (const m of messages) assert.equal(t.replica.ingressStatus(m)?.status, 'replied');
      return host.stats.batches - before;
    };
    await round(); // instances restored in the workers
    // The scheduler hands the host 64 jobs at a time: 16 per worker, held until each has 32.
    const batches = await round();
    assert.ok(batches <= 4 + 1, `128 jobs on 4 workers went in ${batches} batches`);
    assert.ok(batches >= 4, `every worker got jobs: ${batches} batches`);
  } finally {
    await t.close();
  }
});

/** The nice value of each thread of this process (Linux). */
function threadNices(): number[] {
  return readdirSync('/proc/self/task').map((tid) => {
    const stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
    // After the command in parentheses: state is field 3, nice field 19.
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[16]);
  });
}

/** Whether a thread of this process may make itself nicer: not when the process already runs at 19, nor where a sandbox forbids it. */
async function threadsMayBeNicer(): Promise<boolean> {
  const probe = new Worker(
    `const os = require('node:os');
     const before = os.getPriority(0);
     try { os.setPriority(0, Math.min(19, before + 1)); } catch {}
     require('node:worker_threads').parentPort.postMessage(os.getPriority(0) > before);`,
    { eval: true },
  );
  const [nicer] = (await once(probe, 'message')) as [boolean];
  await probe.terminate();
  return nicer;
}

test('on Linux with more than one core the workers run nicer than the main thread; workerNice 0 leaves them equal', { skip: process.platform !== 'linux' || availableParallelism() < 2 }, async (ctx) => {
  assert.throws(() => new ExecutionTest({ workers: 1, workerPool: { workerNice: 20 } }), /workerNice must be an integer from 0 to 19, got 20/);
  if (!(await threadsMayBeNicer())) return ctx.skip('threads of this process cannot be made nicer (already at 19, or not allowed)');
  const counter = (await compileMotoko('counter')).wasm;
  for (const workerNice of [undefined, 0]) {
    const t = new ExecutionTest({ workers: 2, ...(workerNice === undefined ? {} : { workerPool: { workerNice } }) });
    try {
      const id = await t.createAndInstall(counter);
      await t.update(id, 'inc');
      const main = getPriority(0); // this thread's
      // Capped at 19, e.g. under a CI runner that is itself niced.
      const expected = Math.min(19, main + (workerNice ?? DEFAULT_WORKER_NICE));
      // A worker sets its nice value once its modules are loaded; one that has had no job yet may
      // still be loading them.
      let values = threadNices();
      for (let i = 0; i < 400 && values.filter((n) => n === expected).length < 2 && expected !== main; i++) {
        await delay(50);
        values = threadNices();
      }
      assert.equal(values.filter((n) => n !== main).length, expected === main ? 0 : 2, `thread nice values: ${values} (main ${main})`);
      assert.ok(values.every((n) => n === main || n === expected), `thread nice values: ${values} (main ${main}, workers ${expected})`);
    } finally {
      await t.close();
    }
  }
});
