// The ingress history as the IC keeps it: a terminal status is removed MAX_INGRESS_TTL (plus the
// front end's expiry drift) after it was recorded, a message still being processed is never
// removed, and past the memory capacity the oldest replies and rejects become 'done', a whole
// pruning time at once. The pruning index is derived from the statuses, so a restored state
// prunes exactly as the state it was saved from.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Principal } from '@icp-sdk/core/principal';
import { wat } from '../../test/support/wat.js';
import { ExecutionTest, candid } from '../../test/support/execution-test.js';
import {
  DEFAULT_SCHEDULER_CONFIG, IngressHistory, MAX_INGRESS_TTL_NS, PERMITTED_DRIFT_NS, RejectCode, ReplicatedState, type IngressStatus,
} from '../src/index.js';
import { decodeStateInto, encodeState, stateHash, type DecodeContext } from '../src/state/serialize.js';
import { CONFIG, USER } from './fixtures/persistence-driver.js';

const KEEP = MAX_INGRESS_TTL_NS + PERMITTED_DRIFT_NS;
const A = Principal.fromText('aaaaa-aa');

const replied = (time: bigint, bytes = 10): IngressStatus => ({ status: 'replied', reply: new Uint8Array(bytes), sender: USER, receiver: A, time });
const rejected = (time: bigint, message = 'boom'): IngressStatus => ({ status: 'rejected', code: RejectCode.CanisterError, message, errorCode: 'IC0503', sender: USER, receiver: A, time });
const processing = (time: bigint): IngressStatus => ({ status: 'processing', sender: USER, receiver: A, time });

test('a terminal status is removed once MAX_INGRESS_TTL and the drift have passed since it was recorded', () => {
  const h = new IngressHistory();
  h.set('01', processing(100n));
  h.set('01', replied(200n));
  h.set('02', rejected(300n));
  h.set('03', processing(100n)); // still executing (e.g. waiting for a downstream call)
  assert.equal(h.prune(200n + KEEP - 1n), 0);
  assert.equal(h.size, 3);
  assert.equal(h.prune(200n + KEEP), 1);
  assert.deepEqual([...h.keys()], ['02', '03']);
  assert.equal(h.prune(10n * KEEP), 1);
  assert.deepEqual([...h.keys()], ['03'], 'a status that is not terminal stays');
  assert.equal(h.payloadBytes, 0);
});

test('past the capacity the oldest replies and rejects become done, a whole pruning time at once', () => {
  const h = new IngressHistory();
  h.set('a1', replied(1n, 100));
  h.set('a2', rejected(1n, 'x'.repeat(100)));
  h.set('b1', replied(2n, 100));
  h.set('c1', replied(3n, 100));
  h.set('p', processing(1n));
  assert.equal(h.payloadBytes, 400);
  assert.equal(h.prune(3n, 250), 0);
  // Time 1 holds 200 bytes: forgetting it leaves 200 ≤ 250, so time 2 keeps its reply.
  assert.deepEqual(
    [...h].map(([id, s]) => `${id}:${s.status}`),
    ['a1:done', 'a2:done', 'b1:replied', 'c1:replied', 'p:processing'],
  );
  assert.equal(h.payloadBytes, 200);
  const done = h.get('a1')!;
  assert.deepEqual({ ...done }, { status: 'done', sender: USER, receiver: A, time: 1n }, "done keeps who sent it, to whom, and when");
  // 'done' keeps the pruning time of the reply it replaced.
  assert.equal(h.prune(1n + KEEP, 250), 2);
  assert.deepEqual([...h.keys()], ['b1', 'c1', 'p']);
});

test('a restored history prunes the same statuses: the index is rebuilt from the entries', () => {
  const state = new ReplicatedState(CONFIG.subnetId, CONFIG.canisterRange);
  // Recorded out of id order and over several times, as rounds do.
  for (let i = 0; i < 30; i++) state.ingressHistory.set((97 * i % 101).toString(16).padStart(2, '0'), i % 3 === 0 ? processing(BigInt(i)) : replied(BigInt(i), i));
  const noCanisters: DecodeContext = {
    module: () => assert.fail('no canisters'),
    pageMap: () => assert.fail('no canisters'),
  };
  const copy = decodeStateInto(new ReplicatedState(CONFIG.subnetId, CONFIG.canisterRange), encodeState(state), noCanisters);
  assert.ok(copy.ingressHistory instanceof IngressHistory);
  assert.equal(copy.ingressHistory.payloadBytes, state.ingressHistory.payloadBytes);
  for (const [time, capacity] of [[12n + KEEP, 1000], [20n + KEEP, 100], [40n + KEEP, 0]] as const) {
    assert.equal(copy.ingressHistory.prune(time, capacity), state.ingressHistory.prune(time, capacity));
    assert.deepEqual(stateHash(copy), stateHash(state));
  }
  assert.equal(state.ingressHistory.size, 10, 'only the processing statuses are left');
});

/** `echo`: replies with its argument. */
const ECHO = `
(module
  (import "ic0" "msg_arg_data_size" (func $size (result i32)))
  (import "ic0" "msg_arg_data_copy" (func $copy (param i32 i32 i32)))
  (import "ic0" "msg_reply_data_append" (func $append (param i32 i32)))
  (import "ic0" "msg_reply" (func $reply))
  (memory 1)
  (func (export "canister_update echo")
    (call $copy (i32.const 0) (i32.const 0) (call $size))
    (call $append (i32.const 0) (call $size))
    (call $reply)))
`;

test('rounds prune the history: a status is readable for MAX_INGRESS_TTL, then gone; the history stays bounded', async () => {
  // A round every 30 s of block time, one 1 KiB reply per round, capacity for three of them.
  const roundTime = 30_000_000_000n;
  const t = new ExecutionTest({ roundTime, scheduler: { ...DEFAULT_SCHEDULER_CONFIG, ingressHistoryMemoryCapacity: 3 * 1024 } });
  try {
    const id = await t.createAndInstall(await wat(ECHO));
    const first = await t.submit(id, 'echo', new Uint8Array(1024));
    await t.tick();
    const repliedAt = t.replica.state.time;
    assert.equal(t.result(first)?.status, 'replied');
    while (t.replica.state.time < repliedAt + 2n * KEEP) {
      await t.submit(id, 'echo', new Uint8Array(1024));
      await t.tick();
      const history = t.replica.state.ingressHistory;
      assert.ok(history.payloadBytes <= 3 * 1024, 'the capacity holds at the end of every round');
      const status = t.replica.ingressStatus(first)?.status;
      if (t.replica.state.time < repliedAt + KEEP) assert.ok(status === 'replied' || status === 'done', 'kept until its time is up');
      else assert.equal(status, undefined, 'removed once its time is up');
    }
    // What is left: the statuses of the last KEEP of block time, the newest three with their replies.
    const statuses = [...t.replica.state.ingressHistory.values()].map((s) => s.status);
    assert.equal(statuses.length, Number(KEEP / roundTime));
    assert.deepEqual(statuses.slice(-4), ['done', 'replied', 'replied', 'replied']);
  } finally {
    await t.close();
  }
});
