// The canonical encoding: every field round-trips, the hash covers all of it, maps are written
// sorted, and a field without a codec is refused loudly.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Principal } from '@icp-sdk/core/principal';
import { bytesToHex } from '@noble/hashes/utils.js';
import {
  CanisterState, PageMap, RejectCode, ReplicatedState, canisterIdFromIndex, defaultSettings, type CanisterMessage,
} from '../src/index.js';
import { canisterSnapshots } from '../src/checkpoint/index.js';
import {
  ByteReader, ByteWriter, StateEncodingError, decodeStateInto, encodeState, pageMapHash, stateHash, statePageMaps, type DecodeContext,
} from '../src/state/serialize.js';
import { CONFIG, USER } from './fixtures/persistence-driver.js';

const A = canisterIdFromIndex(7n);
const B = canisterIdFromIndex(3n);

/** A state with at least one value in every field, including each variant of each union. */
function richState(): ReplicatedState {
  const s = new ReplicatedState(CONFIG.subnetId, CONFIG.canisterRange);
  s.time = 1_700_000_000_123_456_789n;
  s.height = 42n;
  s.nextCanisterIndex = 8n;
  s.cyclesMinted = 1n << 90n; // beyond 64 bits
  s.cyclesBurned = 12345n;
  s.ingressHistory.set('ff', { status: 'done', sender: USER, receiver: A, time: 1n });
  s.ingressHistory.set('aa', { status: 'replied', reply: new Uint8Array([1, 2]), sender: USER, receiver: A, time: 2n });
  s.ingressHistory.set('bb', { status: 'rejected', code: RejectCode.CanisterError, message: 'boom', errorCode: 'IC0503', sender: USER, receiver: A, time: 3n });
  s.ingressHistory.set('cc', { status: 'processing', sender: USER, receiver: A, time: 4n });
  s.ingressHistory.set('dd', { status: 'received', sender: USER, receiver: B, time: 5n });
  const req = (origin: 'ingress' | 'attributed' | 'canister'): CanisterMessage => ({
    kind: 'request', sender: B, receiver: A, method: 'm', arg: new Uint8Array([9]), cycles: 77n,
    origin: origin === 'ingress' ? { kind: 'ingress', messageId: 'aa', sender: USER }
      : origin === 'attributed' ? { kind: 'ingress', messageId: 'ab', sender: USER, callerInfo: { data: new Uint8Array([4, 2]), signer: B } }
      : { kind: 'canister', caller: B, callbackId: 3, deadline: 99n },
    ...(origin === 'ingress' ? { traceparent: '00-abc-def-01' } : {}),
  });
  s.pendingRawRand.push(req('canister') as never);
  s.pendingSubnetCalls.push(req('ingress') as never, req('attributed') as never);

  for (const id of [A, B]) {
    const c = new CanisterState(id, defaultSettings([USER, id]), 10n ** 13n);
    c.settings.logVisibility = id === A ? { kind: 'allowed_viewers', principals: [USER] } : { kind: 'public' };
    c.settings.environmentVariables = [['K', 'V']];
    c.status = id === A ? 'stopping' : 'stopped';
    c.version = 5n;
    c.certifiedData = new Uint8Array([4, 2]);
    c.globalTimer = 123n;
    c.inputQueue.push(req('ingress'), req('canister'), {
      kind: 'response', originator: A, respondent: B, callbackId: 1, refund: 5n,
      payload: { kind: 'reject', code: RejectCode.CanisterReject, message: 'no' },
    }, { kind: 'response', originator: A, respondent: B, callbackId: 2, refund: 0n, payload: { kind: 'reply', data: new Uint8Array([1]) } });
    c.callContexts.set(9, { id: 9, origin: { kind: 'system' }, method: 'heartbeat', cyclesAvailable: 0n, responded: false, instructions: 1n });
    c.callContexts.set(2, { id: 2, origin: { kind: 'canister', caller: B, callbackId: 1, deadline: 0n }, method: 'f', cyclesAvailable: 3n, responded: true, instructions: 2n });
    c.callbacks.set(4, {
      id: 4, callContextId: 2, callee: B, reply: { fn: 1, env: 2 }, reject: { fn: 3, env: 4 }, cleanup: { fn: 5, env: 6 },
      cyclesSent: 1n, reservation: 2n, deadline: 3n,
    });
    c.callbacks.set(1, { id: 1, callContextId: 2, callee: B, reply: { fn: 1, env: 2 }, reject: { fn: 3, env: 4 }, cyclesSent: 0n, reservation: 0n, deadline: 0n });
    c.nextCallContextId = 10;
    c.nextCallbackId = 5;
    c.chunkStore.set('beef', new Uint8Array([1, 2, 3]));
    c.chunkStore.set('abcd', new Uint8Array([4]));
    c.logs.push({ idx: 0n, timestampNanos: 1n, content: new Uint8Array([104, 105]) });
    c.nextLogIdx = 1n;
    c.stopRequests.push(req('ingress') as never);
    c.recordChange({ timestampNanos: 1n, canisterVersion: 0n, origin: { kind: 'user', id: USER }, details: { kind: 'creation', controllers: [USER] } });
    c.recordChange({ timestampNanos: 2n, canisterVersion: 1n, origin: { kind: 'canister', id: B }, details: { kind: 'code_deployment', mode: 'upgrade', moduleHash: new Uint8Array(32) } });
    c.recordChange({ timestampNanos: 3n, canisterVersion: 2n, origin: { kind: 'user', id: USER }, details: { kind: 'code_uninstall' } });
    c.recordChange({ timestampNanos: 4n, canisterVersion: 3n, origin: { kind: 'user', id: USER }, details: { kind: 'controllers_change', controllers: [] } });
    c.cyclesBurned.set('z', 1n);
    c.cyclesBurned.set('a', 2n);
    c.installCount = 2n;
    c.scheduler.accumulatedPriority = -250n;
    c.scheduler.priorityCredit = 100n;
    c.scheduler.longExecutionMode = 'prioritized';
    if (id === A) c.scheduler.paused = { work: { kind: 'message', message: req('ingress') }, prepaid: 5n, instructions: 7n, slices: 2 };
    else c.scheduler.paused = { work: { kind: 'task', task: 'global_timer' }, prepaid: 1n, instructions: 2n, slices: 1, timerBefore: 9n };
    c.stable = new PageMap(1 << 20);
    c.stable.write(5000, new Uint8Array([7, 7, 7]));
    c.stable.setPage(100, new Uint8Array(4096)); // an explicit zero page
    s.addCanister(c);
  }
  return s;
}

/** Decoding without modules: page maps come from the original state. */
function contextFrom(original: ReplicatedState): DecodeContext {
  const maps = new Map(statePageMaps(original));
  return {
    module: () => assert.fail('no modules in this state'),
    pageMap: (id, size) => {
      const m = maps.get(id)!.clone();
      assert.equal(m.sizeBytes, size);
      return m;
    },
  };
}

test('every field round-trips: re-encoding the decoded state gives the same bytes and hash', () => {
  const s = richState();
  const bytes = encodeState(s);
  const copy = decodeStateInto(new ReplicatedState(CONFIG.subnetId, CONFIG.canisterRange), bytes, contextFrom(s));
  assert.deepEqual(encodeState(copy), bytes);
  assert.equal(bytesToHex(stateHash(copy)), bytesToHex(stateHash(s)));
  const a = copy.canister(A)!;
  assert.deepEqual(a.settings.logVisibility, { kind: 'allowed_viewers', principals: [USER] });
  assert.equal(a.callbacks.get(4)!.cleanup!.fn, 5);
  assert.equal(a.callbacks.get(1)!.cleanup, undefined);
  assert.equal(copy.cyclesMinted, 1n << 90n);
  assert.deepEqual((a.inputQueue[0] as { traceparent?: string }).traceparent, '00-abc-def-01');
  assert.equal(copy.ingressHistory.get('bb')!.status, 'rejected');
  assert.equal(a.scheduler.accumulatedPriority, -250n);
  assert.equal(copy.canister(B)!.scheduler.paused?.timerBefore, 9n);
  // Canisters come back in id order regardless of how they were added.
  assert.deepEqual(copy.canisters().map((c) => c.idText), [B.toText(), A.toText()]);
});

test('maps are encoded sorted: insertion order does not change the encoding', () => {
  const s1 = richState();
  const s2 = richState();
  const c = s2.canister(A)!;
  const entries = [...c.chunkStore].reverse();
  c.chunkStore.clear();
  for (const [k, v] of entries) c.chunkStore.set(k, v);
  const history = [...s2.ingressHistory].reverse();
  s2.ingressHistory.clear();
  for (const [k, v] of history) s2.ingressHistory.set(k, v);
  assert.deepEqual(encodeState(s2), encodeState(s1));
});

test('the hash covers each field', () => {
  const base = bytesToHex(stateHash(richState()));
  const changes: ((s: ReplicatedState) => void)[] = [
    (s) => (s.time += 1n),
    (s) => s.ingressHistory.delete('dd'),
    (s) => (s.canister(A)!.balance += 1n),
    (s) => (s.canister(A)!.settings.freezingThreshold += 1n),
    (s) => (s.canister(A)!.callContexts.get(2)!.responded = false),
    (s) => (s.canister(B)!.logs[0]!.content[0] = 0),
    (s) => s.canister(B)!.stable.write(0, new Uint8Array([1])),
    (s) => (s.canister(B)!.stable.sizeBytes += 65536),
    (s) => canisterSnapshots(s.canister(B)!).nextLocalId++,
    (s) => (s.canister(B)!.scheduler.accumulatedPriority += 1n),
  ];
  for (const change of changes) {
    const s = richState();
    change(s);
    assert.notEqual(bytesToHex(stateHash(s)), base, change.toString());
  }
});

test('trace contexts are kept by checkpoints but not hashed: replicas may differ in them', () => {
  const s = richState();
  const hash = bytesToHex(stateHash(s));
  const bytes = encodeState(s);
  const q = s.canister(A)!.inputQueue;
  q[0] = { ...(q[0] as object), traceparent: '00-another-replica-01' } as never;
  assert.equal(bytesToHex(stateHash(s)), hash);
  assert.notDeepEqual(encodeState(s), bytes);
});

test('a field without a codec is refused, naming the place to add it', () => {
  const s = richState();
  (s.canister(A) as unknown as Record<string, unknown>).futureField = 3n;
  assert.throws(() => encodeState(s), (e: Error) => e instanceof StateEncodingError && /CanisterState has a field 'futureField'/.test(e.message));
  const t = richState();
  (t.canister(A)!.callContexts.get(2) as unknown as Record<string, unknown>).extra = 1;
  assert.throws(() => stateHash(t), /CallContext has a field 'extra' without a codec/);
  const u = richState();
  (u as unknown as Record<string, unknown>).registryVersion = 1n;
  assert.throws(() => encodeState(u), /ReplicatedState has a field 'registryVersion'/);
});

test('page map hash: cached digests follow dirty pages; zero pages hash like absent ones', () => {
  const m = new PageMap(1 << 20);
  m.write(10, new Uint8Array([1, 2, 3]));
  m.write(70_000, new Uint8Array([4]));
  const h1 = pageMapHash(m);
  m.dirty.clear(); // as a checkpoint would, right after hashing
  m.write(70_000, new Uint8Array([5]));
  const cached = pageMapHash(m);
  assert.deepEqual(cached, pageMapHash(m, false));
  assert.notDeepEqual(cached, h1);
  assert.deepEqual(cached, pageMapHash(m.clone()));

  const sparse = new PageMap(1 << 20);
  sparse.write(10, new Uint8Array([1, 2, 3]));
  const withZero = sparse.clone();
  withZero.setPage(200, new Uint8Array(4096));
  assert.deepEqual(pageMapHash(withZero), pageMapHash(sparse));
});

test('varints: unsigned and zigzag, up to 128 bits and beyond', () => {
  const values = [0n, 1n, 127n, 128n, 300n, (1n << 64n) - 1n, 1n << 127n, 1n << 200n];
  const w = new ByteWriter(4);
  for (const v of values) {
    w.varuint(v);
    w.varint(-v);
  }
  w.f64(-0);
  w.f64(Number.NaN);
  const r = new ByteReader(w.finish());
  for (const v of values) {
    assert.equal(r.varuint(), v);
    assert.equal(r.varint(), -v);
  }
  assert.ok(Object.is(r.f64(), -0));
  assert.ok(Number.isNaN(r.f64()));
  assert.ok(r.done);
  assert.throws(() => new ByteWriter().varuint(-1n), StateEncodingError);
  assert.throws(() => new ByteReader(new Uint8Array([0x80])).varuint(), /truncated/);
});

test('decoding refuses a checkpoint of another subnet', () => {
  const s = richState();
  const other = new ReplicatedState(Principal.fromText('aaaaa-aa'), CONFIG.canisterRange);
  assert.throws(() => decodeStateInto(other, encodeState(s), contextFrom(s)), /the checkpoint is of subnet/);
});
