// The worker pool's batches: a worker is sent jobs in batches of at least 32 while an iteration
// is prepared, however many workers share the scheduler's prefetches (smaller batches cost more in
// hand-offs between the threads than they win).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compileMotoko } from '../../test/support/motoko.js';
import { ExecutionTest, candid } from '../../test/support/execution-test.js';
import type { Principal } from '@icp-sdk/core/principal';
import { WorkerSandboxHost } from '../src/index.js';

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
