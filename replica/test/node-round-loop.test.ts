// The node's round loop: one round at a time, rounds back to back while there is work, a round
// soon after ingress arrives, and a loop that stops for good when a round fails.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { RoundLoop, type RoundOutcome } from '../src/node/index.js';

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

/** A round function that records concurrency and can be held open. */
function probe(outcomes: RoundOutcome[] = []) {
  let active = 0;
  const state = { rounds: 0, maxActive: 0, gate: undefined as Promise<void> | undefined };
  const round = async (): Promise<RoundOutcome> => {
    active++;
    state.maxActive = Math.max(state.maxActive, active);
    try {
      if (state.gate) await state.gate;
      state.rounds++;
      return outcomes.shift() ?? { workLeft: false };
    } finally {
      active--;
    }
  };
  return { state, round };
}

const IDLE = 60_000; // so that only wake() and work make rounds in these tests
const noFatal = (e: unknown) => assert.fail(`unexpected fatal error: ${String(e)}`);

describe('RoundLoop', () => {
  it('never runs two rounds at once, however often it is woken or driven', async () => {
    const { state, round } = probe();
    const loop = new RoundLoop(round, { intervalMs: IDLE, onFatal: noFatal });
    loop.start();
    const gate = deferred();
    state.gate = gate.promise;
    const forced = [loop.runNow(), loop.runNow(), loop.runNow()];
    for (let i = 0; i < 10; i++) loop.wake();
    gate.resolve();
    await Promise.all(forced);
    await loop.stop();
    assert.equal(state.maxActive, 1);
    assert.ok(state.rounds >= 3);
  });

  it('runs a round soon after wake, and again after one that was woken while running', async () => {
    const { state, round } = probe();
    const loop = new RoundLoop(round, { intervalMs: IDLE, onFatal: noFatal });
    loop.start();
    loop.wake();
    await new Promise((r) => setImmediate(r));
    await loop.idle();
    assert.equal(state.rounds, 1);

    const gate = deferred();
    state.gate = gate.promise;
    loop.wake();
    await new Promise((r) => setImmediate(r));
    loop.wake(); // arrives while the round is held open
    gate.resolve();
    state.gate = undefined;
    for (let i = 0; i < 10 && state.rounds < 3; i++) await new Promise((r) => setImmediate(r));
    await loop.idle();
    assert.equal(state.rounds, 3);
    await loop.stop();
  });

  it('keeps going while rounds leave work, then waits', async () => {
    const { state, round } = probe([{ workLeft: true }, { workLeft: true }, { workLeft: false }]);
    const loop = new RoundLoop(round, { intervalMs: IDLE, onFatal: noFatal });
    loop.start();
    loop.wake();
    for (let i = 0; i < 50 && state.rounds < 3; i++) await new Promise((r) => setImmediate(r));
    await loop.idle();
    for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
    assert.equal(state.rounds, 3);
    await loop.stop();
  });

  it('does nothing before start and after stop', async () => {
    const { state, round } = probe();
    const loop = new RoundLoop(round, { intervalMs: 1, onFatal: noFatal });
    loop.wake();
    await new Promise((r) => setTimeout(r, 5));
    assert.equal(state.rounds, 0);
    await loop.runNow(); // explicit rounds work without the timer
    assert.equal(state.rounds, 1);
    await loop.stop();
    loop.wake();
    await loop.runNow();
    await new Promise((r) => setTimeout(r, 5));
    assert.equal(state.rounds, 1);
  });

  it('stops for good when a round fails, and reports it once', async () => {
    const errors: unknown[] = [];
    const loop = new RoundLoop(
      async () => {
        throw new Error('broken invariant');
      },
      { intervalMs: IDLE, onFatal: (e) => errors.push(e) },
    );
    loop.start();
    await loop.runNow();
    assert.equal(loop.stopped, true);
    loop.wake();
    await loop.runNow();
    assert.equal(errors.length, 1);
    assert.match(String(errors[0]), /broken invariant/);
  });
});
