// Calls between canisters of two subnets (XNet), with real Motoko canisters: requests and their
// responses travel in the streams between the subnets, routed by the registry; signals free the
// streams; cycles are conserved on each subnet at every round (the builder checks it); the
// outcome does not depend on the number of workers; streams survive a checkpoint.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { IDL } from '@icp-sdk/core/candid';
import { Principal } from '@icp-sdk/core/principal';
import { compileMotoko } from '../../test/support/motoko.js';
import { CallRejected, TEST_USER, candid, decode } from '../../test/support/execution-test.js';
import { SUBNET_A, SUBNET_B, TwoSubnets } from '../../test/support/two-subnets.js';
import { canisterIdFromIndex, ErrorCode, LocalRegistry, ReplicatedState, RejectCode, streamSlice } from '../src/index.js';
import { StateEncodingError, decodeStateInto, decodeStreamMessage, encodeState, encodeStreamMessage, stateHash } from '../src/state/serialize.js';
import { Router } from '../src/scheduler/routing.js';
import { DEFAULT_SCHEDULER_CONFIG } from '../src/scheduler/types.js';
import { stateDigest } from '../src/scheduler/state-digest.js';

const text = (b: Uint8Array) => decode<string>([IDL.Text], b)[0]!;
const nat = (b: Uint8Array) => decode<bigint>([IDL.Nat], b)[0]!;
const wasm = async (name: string) => (await compileMotoko(name)).wasm;

/** Echo on subnet B, a caller of it on subnet A. */
async function callerAndEcho(net: TwoSubnets): Promise<{ caller: Principal; echo: Principal }> {
  const echo = await net.b.createAndInstall(await wasm('echo'));
  const caller = await net.a.createAndInstall(await wasm('caller'), candid([IDL.Principal], [echo]));
  return { caller, echo };
}

test('a canister calls a canister of another subnet: reply, reject, and 50 calls at once', async () => {
  const net = new TwoSubnets();
  const { caller, echo } = await callerAndEcho(net);
  assert.equal(net.registry.route(caller)?.toText(), SUBNET_A.toText());
  assert.equal(net.registry.route(echo)?.toText(), SUBNET_B.toText());

  assert.equal(text(await net.update(net.a, caller, 'call_echo', candid([IDL.Text], ['across']))), 'across');
  assert.equal(text(await net.update(net.a, caller, 'call_fail')), 'caught: fail');
  assert.equal(nat(await net.update(net.a, caller, 'fanout', candid([IDL.Nat], [50n]))), 50n);

  // Each subnet sent its messages to the other and nothing to itself.
  const sentToB = net.a.rounds.reduce((n, r) => n + (r.xnet.sent.get(SUBNET_B.toText()) ?? 0), 0);
  const receivedFromA = net.b.rounds.reduce((n, r) => n + (r.xnet.received.get(SUBNET_A.toText()) ?? 0), 0);
  assert.equal(sentToB, 52);
  assert.equal(receivedFromA, 52);
  assert.equal(net.a.state.streams.has(SUBNET_A.toText()), false);

  // Two more rounds carry the last signals: both streams are empty, every message acknowledged.
  await net.tick();
  await net.tick();
  const ab = net.a.state.streams.get(SUBNET_B.toText())!;
  const ba = net.b.state.streams.get(SUBNET_A.toText())!;
  assert.deepEqual([ab.begin, ab.messages.length, ab.signalsEnd], [52n, 0, 52n]);
  assert.deepEqual([ba.begin, ba.messages.length, ba.signalsEnd], [52n, 0, 52n]);
  await net.close();
});

test('cycles sent to another subnet arrive, and what the callee does not accept comes back', async () => {
  const net = new TwoSubnets();
  const { caller, echo } = await callerAndEcho(net);
  const before = { caller: net.a.canister(caller).balance, echo: net.b.canister(echo).balance };
  await net.update(net.a, caller, 'call_echo', candid([IDL.Text], ['x']));
  // echo accepts nothing: the caller paid fees only; the cycles that crossed came back.
  assert.equal(net.a.state.cyclesSent, net.a.state.cyclesReceived);
  assert.ok(net.a.canister(caller).balance < before.caller);
  assert.ok(net.b.canister(echo).balance <= before.echo);
  await net.close();
});

test('a call to an id of the other subnet that no canister has is rejected back: destination invalid', async () => {
  const net = new TwoSubnets();
  const echo = await net.b.createAndInstall(await wasm('echo'));
  const missing = canisterIdFromIndex(0x100000n + 999n); // in subnet B's range, never created
  const caller = await net.a.createAndInstall(await wasm('caller'), candid([IDL.Principal], [missing]));
  await assert.rejects(net.update(net.a, caller, 'call_echo', candid([IDL.Text], ['x'])), (e: unknown) => {
    assert.ok(e instanceof CallRejected);
    assert.match(e.message, new RegExp(`Canister ${missing.toText()} not found`));
    return true;
  });
  assert.ok(net.b.state.canister(echo));
  await net.close();
});

test('the same calls on 0 and 2 workers leave both subnets in the same state', async () => {
  const digests: string[][] = [];
  for (const workers of [0, 2]) {
    const net = new TwoSubnets({ workers });
    const { caller } = await callerAndEcho(net);
    await net.update(net.a, caller, 'fanout', candid([IDL.Nat], [20n]));
    await net.update(net.a, caller, 'call_fail');
    await net.tick();
    digests.push([stateDigest(net.a.state), stateDigest(net.b.state)]);
    await net.close();
  }
  assert.deepEqual(digests[0], digests[1]);
});

test('a slice is inducted once: the same messages again, or out of order, change nothing', async () => {
  const net = new TwoSubnets();
  const { caller } = await callerAndEcho(net);
  const id = await net.a.submit(caller, 'call_echo', candid([IDL.Text], ['once']));
  await net.a.tick(); // the request is now in A's stream to B
  const slice = streamSlice(net.a.state, SUBNET_B, 0n)!;
  assert.equal(slice.messages.length, 1);
  await net.b.tick(undefined, [slice]);
  const afterFirst = stateDigest(net.b.state);
  assert.equal(net.b.state.streams.get(SUBNET_A.toText())!.signalsEnd, 1n);
  // Again: already inducted (the echo's reply is not sent twice).
  await net.b.tick(undefined, [slice]);
  assert.equal(net.b.state.streams.get(SUBNET_A.toText())!.messages.length, 1);
  // A slice starting past what was inducted (a gap) is not inducted.
  await net.b.tick(undefined, [{ ...slice, from: 5n }]);
  assert.equal(net.b.state.streams.get(SUBNET_A.toText())!.signalsEnd, 1n);
  assert.notEqual(stateDigest(net.b.state), afterFirst); // time moved, but...
  assert.equal(net.b.state.streams.get(SUBNET_A.toText())!.messages.length, 1); // ...one reply only
  const reply = streamSlice(net.b.state, SUBNET_A, 0n)!;
  await net.a.tick(undefined, [reply]);
  await net.a.tick();
  assert.equal(net.a.result(id)?.status, 'replied');
  await net.close();
});

test('a request for a canister another subnet hosts is rejected back, never forwarded', async () => {
  // Subnet B receives, from A, a request addressed to a canister of A itself.
  const state = new ReplicatedState(SUBNET_B, { start: 0x100000n, end: 0x1fffffn });
  const registry = new LocalRegistry([
    { subnetId: SUBNET_A, canisterRanges: [[canisterIdFromIndex(0n), canisterIdFromIndex(0xfffffn)]] },
    { subnetId: SUBNET_B, canisterRanges: [[canisterIdFromIndex(0x100000n), canisterIdFromIndex(0x1fffffn)]] },
  ]);
  const router = new Router(state, [], DEFAULT_SCHEDULER_CONFIG, registry);
  const a1 = canisterIdFromIndex(1n);
  router.induct({
    subnet: SUBNET_A, header: { begin: 0n, end: 1n, signalsEnd: 0n }, from: 0n,
    messages: [{ kind: 'request', sender: a1, receiver: canisterIdFromIndex(2n), method: 'm', arg: new Uint8Array(), cycles: 7n, origin: { kind: 'canister', caller: a1, callbackId: 3, deadline: 0n } }],
  });
  const back = state.streams.get(SUBNET_A.toText())!;
  assert.equal(back.signalsEnd, 1n);
  assert.equal(back.messages.length, 1);
  const response = back.messages[0]!;
  assert.equal(response.kind, 'response');
  if (response.kind !== 'response') return;
  assert.equal(response.refund, 7n);
  assert.equal(response.callbackId, 3);
  assert.equal(response.payload.kind, 'reject');
  if (response.payload.kind === 'reject') {
    assert.equal(response.payload.code, RejectCode.DestinationInvalid);
    assert.equal(response.payload.errorCode, `IC0${ErrorCode.CanisterNotFound}`);
  }
  assert.equal(state.cyclesReceived, 7n);
});

test('streams are part of the state: encoded in checkpoints and hashed, without trace context', () => {
  const state = new ReplicatedState(SUBNET_A, { start: 0n, end: 0xfffffn });
  const router = new Router(state, [], DEFAULT_SCHEDULER_CONFIG, new TwoSubnets().registry);
  const a1 = canisterIdFromIndex(1n);
  for (let i = 0; i < 3; i++) {
    router.request({
      kind: 'request', sender: a1, receiver: canisterIdFromIndex(0x100000n + BigInt(i)), method: 'echo', arg: new Uint8Array([i]), cycles: BigInt(i),
      origin: { kind: 'canister', caller: a1, callbackId: i, deadline: 0n }, traceparent: `00-${'1'.repeat(32)}-${String(i).repeat(16)}-01`,
    });
  }
  const stream = state.streams.get(SUBNET_B.toText())!;
  assert.equal(stream.messages.length, 3);
  assert.deepEqual(router.sent, new Map([[SUBNET_B.toText(), 3]]));

  const restored = decodeStateInto(new ReplicatedState(SUBNET_A, state.canisterRange), encodeState(state), {} as never);
  assert.deepEqual(restored.streams.get(SUBNET_B.toText())!.messages.map(encodeStreamMessage), stream.messages.map(encodeStreamMessage));
  assert.deepEqual(stateHash(restored), stateHash(state));
  assert.equal(stateDigest(restored), stateDigest(state));
  // A message more in the stream is another state.
  const first = stream.messages[0]!;
  assert.equal(first.kind, 'request');
  if (first.kind === 'request') router.request({ ...first, arg: new Uint8Array([9]) });
  assert.notDeepEqual(stateHash(restored), stateHash(state));

  // The certified encoding of a message leaves its trace context out, and decodes back.
  const m = stream.messages[0]!;
  const untraced = m.kind === 'request' ? { ...m, traceparent: undefined } : m;
  assert.deepEqual(encodeStreamMessage(m), encodeStreamMessage(untraced));
  assert.deepEqual(encodeStreamMessage(decodeStreamMessage(encodeStreamMessage(m))), encodeStreamMessage(m));
  assert.throws(() => decodeStreamMessage(new Uint8Array([9, 9, 9])), StateEncodingError);
});

test('a full stream to another subnet rejects further requests as transient (SYS_TRANSIENT); the others complete', async () => {
  const BURST = `
import Error "mo:core/Error";
import List "mo:core/List";
import Nat "mo:core/Nat";
persistent actor {
  type Echo = actor { echo : Text -> async Text };
  public func burst(p : Principal, n : Nat) : async Text {
    let e : Echo = actor (debug_show p);
    let pending = List.empty<async Text>();
    for (i in Nat.range(0, n)) List.add(pending, e.echo(Nat.toText(i)));
    var ok = 0;
    var full = 0;
    for (reply in List.values(pending)) {
      try { ignore await reply; ok += 1 } catch (err) { if (Error.code(err) == #system_transient) full += 1 }
    };
    "ok=" # Nat.toText(ok) # " transient=" # Nat.toText(full)
  };
};`;
  const net = new TwoSubnets({ scheduler: { ...DEFAULT_SCHEDULER_CONFIG, maxStreamMessages: 5 } });
  const echo = await net.b.createAndInstall(await wasm('echo'));
  const burst = await net.a.createAndInstall((await compileMotoko('burst', BURST)).wasm);
  assert.equal(text(await net.update(net.a, burst, 'burst', candid([IDL.Principal, IDL.Nat], [echo, 12n]))), 'ok=5 transient=7');
  await net.close();
});

test("a canister's management calls about a canister of another subnet go to that subnet's management canister", async () => {
  const net = new TwoSubnets();
  const manager = await net.a.createAndInstall(await wasm('manager'));
  const managed = await net.b.createCanister({ controllers: [manager, TEST_USER] });
  const before = net.b.canister(managed).balance;
  await net.update(net.a, manager, 'deposit', candid([IDL.Principal, IDL.Nat], [managed, 1_000_000_000n]));
  assert.equal(net.b.canister(managed).balance, before + 1_000_000_000n);
  assert.equal(nat(await net.update(net.a, manager, 'status', candid([IDL.Principal], [managed]))), net.b.canister(managed).balance);
  // The calls crossed the streams: none reached A's own management canister with an unknown canister.
  const toB = net.a.state.streams.get(SUBNET_B.toText())!;
  assert.equal(toB.begin, 2n); // both requests sent to B and acknowledged by it
  assert.equal(toB.signalsEnd, 2n); // both responses inducted from B
  await net.close();
});

test('a best-effort call to a subnet that does not answer ends after its deadline (SYS_UNKNOWN); the late reply is dropped', async () => {
  const BOUNDED = `
import Error "mo:core/Error";
persistent actor {
  type Echo = actor { echo : Text -> async Text };
  public func bounded(p : Principal) : async Text {
    let e : Echo = actor (debug_show p);
    try { await (with timeout = 2) e.echo("late") } catch (err) { debug_show (Error.code(err)) }
  };
};`;
  const net = new TwoSubnets();
  const echo = await net.b.createAndInstall(await wasm('echo'));
  const bounded = await net.a.createAndInstall((await compileMotoko('bounded', BOUNDED)).wasm);
  // Subnet B is cut off: A runs rounds (1 s of block time each) and never gets a slice from it.
  const id = await net.a.submit(bounded, 'bounded', candid([IDL.Principal], [echo]));
  for (let i = 0; i < 4 && !net.a.result(id); i++) await net.a.tick();
  const status = net.a.result(id);
  assert.equal(status?.status, 'replied');
  assert.equal(text((status as { reply: Uint8Array }).reply), '#system_unknown');
  // B comes back: it inducts the request and replies; the reply reaches A and is dropped there.
  for (let i = 0; i < 4; i++) await net.tick();
  assert.equal(net.b.state.streams.get(SUBNET_A.toText())?.signalsEnd, 1n, 'B executed the request');
  assert.equal(net.a.state.streams.get(SUBNET_B.toText())?.signalsEnd, 1n, 'A inducted the late reply');
  assert.equal(net.a.canister(bounded).callbacks.size, 0);
  await net.close();
});
