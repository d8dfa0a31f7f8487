// Calls between canisters on the subnet, with real Motoko canisters: replies and rejects (with
// the spec's reject codes), fan-out, a ring of calls, canister creation with cycles, cycles
// attached and refunded, call_on_cleanup, queue and payload limits, best-effort calls that time
// out, stopping a canister with open calls, timers and heartbeats.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { IDL } from '@icp-sdk/core/candid';
import { Principal } from '@icp-sdk/core/principal';
import { compileMotoko } from '../../test/support/motoko.js';
import { CallRejected, ExecutionTest, candid, decode } from '../../test/support/execution-test.js';
import { DEFAULT_EXECUTION_CONFIG, DEFAULT_SCHEDULER_CONFIG, MANAGEMENT_METHODS, canisterIdFromIndex } from '../src/index.js';

const text = (b: Uint8Array) => decode<string>([IDL.Text], b)[0]!;
const nat = (b: Uint8Array) => decode<bigint>([IDL.Nat], b)[0]!;
const wasm = async (name: string) => (await compileMotoko(name)).wasm;

/** Reports how calls end, by the reject code Motoko sees. */
const PROBER = `
import Error "mo:core/Error";
import Cycles "mo:core/Cycles";
import List "mo:core/List";
import Nat "mo:core/Nat";
import Runtime "mo:core/Runtime";
import Text "mo:core/Text";

persistent actor Prober {
  type Echo = actor { echo : Text -> async Text; fail : () -> async () };
  type Loop = actor { work : Nat -> async Nat; spin : () -> async () };
  type Self = actor { accept_half : () -> async () };
  var cleaned = 0;

  func code(e : Error) : Text = debug_show (Error.code(e));
  func echo(p : Principal) : Echo = actor (debug_show p);
  func loop_(p : Principal) : Loop = actor (debug_show p);

  public func echo_code(p : Principal) : async Text {
    try { ignore await echo(p).echo("x"); "replied" } catch (e) { code(e) }
  };
  public func fail_code(p : Principal) : async Text {
    try { await echo(p).fail(); "replied" } catch (e) { code(e) }
  };
  public func spin_code(p : Principal) : async Text {
    try { await loop_(p).spin(); "replied" } catch (e) { code(e) }
  };
  public func bounded(p : Principal, n : Nat) : async Text {
    try { ignore await (with timeout = 1) loop_(p).work(n); "replied" } catch (e) { code(e) }
  };
  public func wait(p : Principal, n : Nat) : async Nat {
    await loop_(p).work(n)
  };
  public func burst(p : Principal, n : Nat) : async Text {
    let pending = List.empty<async Text>();
    for (i in Nat.range(0, n)) List.add(pending, echo(p).echo(Nat.toText(i)));
    var ok = 0;
    var full = 0;
    for (reply in List.values(pending)) {
      try { ignore await reply; ok += 1 } catch (e) { if (Error.code(e) == #system_transient) full += 1 }
    };
    "ok=" # Nat.toText(ok) # " transient=" # Nat.toText(full)
  };
  public func big(p : Principal, bytes : Nat) : async () {
    var t = "0123456789abcdef";
    while (t.size() < bytes) { t := t # t };
    ignore await echo(p).echo(t);
  };
  public func cleanup_probe(p : Principal) : async () {
    try { ignore await echo(p).echo("x"); Runtime.trap("trap after the await") } finally { cleaned += 1 };
  };
  public func send(p : Principal, amount : Nat) : async Nat {
    ignore await (with cycles = amount) echo(p).echo("x");
    Cycles.refunded()
  };
  public func send_to_prober(p : Principal, amount : Nat) : async Nat {
    let other : Self = actor (debug_show p);
    await (with cycles = amount) other.accept_half();
    Cycles.refunded()
  };
  public func accept_half() : async () {
    ignore Cycles.accept<system>(Cycles.available() / 2);
  };
  public query func cleanups() : async Nat { cleaned };
};`;

const prober = async () => (await compileMotoko('prober', PROBER)).wasm;

function management(method: keyof typeof MANAGEMENT_METHODS, arg: Record<string, unknown>): Uint8Array {
  return new Uint8Array(IDL.encode([...MANAGEMENT_METHODS[method].args], [arg]));
}

test('caller and callee: a reply, a reject, and nothing left open', async () => {
  const t = new ExecutionTest();
  const echo = await t.createAndInstall(await wasm('echo'));
  const caller = await t.createAndInstall(await wasm('caller'), candid([IDL.Principal], [echo]));
  assert.equal(text(await t.update(caller, 'call_echo', candid([IDL.Text], ['hello']))), 'hello');
  assert.equal(text(await t.update(caller, 'call_fail')), 'caught: fail');
  for (const id of [echo, caller]) {
    assert.equal(t.canister(id).callContexts.size, 0);
    assert.equal(t.canister(id).callbacks.size, 0);
  }
});

for (const workers of [0, 2]) {
  test(`a fan-out of 100 concurrent calls completes in one round (${workers} workers)`, async () => {
    const t = new ExecutionTest({ workers });
    try {
      const echo = await t.createAndInstall(await wasm('echo'));
      const caller = await t.createAndInstall(await wasm('caller'), candid([IDL.Principal], [echo]));
      const id = await t.submit(caller, 'fanout', candid([IDL.Nat], [100n]));
      const summary = await t.tick();
      const status = t.result(id);
      assert.equal(status?.status, 'replied', 'local calls and their responses run in the same round');
      assert.equal(nat((status as { reply: Uint8Array }).reply), 100n);
      assert.ok(summary.messagesExecuted >= 201, `${summary.messagesExecuted} messages: the call, 100 requests, 100 responses`);
      assert.equal(t.canister(caller).callbacks.size, 0);
    } finally {
      await t.close();
    }
  });
}

test('a ring of calls A → B → C → A → … returns through every hop', async () => {
  const t = new ExecutionTest();
  const [a, b, c] = [await t.createAndInstall(await wasm('chain')), await t.createAndInstall(await wasm('chain')), await t.createAndInstall(await wasm('chain'))];
  const hops = nat(await t.update(a!, 'ping', candid([IDL.Nat, IDL.Vec(IDL.Principal)], [9n, [b!, c!, a!]])));
  assert.equal(hops, 9n);
  for (const id of [a!, b!, c!]) assert.equal(t.canister(id).callContexts.size, 0);
});

test('a canister creates a child canister with cycles and calls it', async () => {
  const t = new ExecutionTest();
  const parent = await t.createAndInstall(await wasm('parent'));
  const before = t.canister(parent).balance;
  const canistersBefore = t.state.canisterCount;
  assert.equal(text(await t.update(parent, 'spawn_and_call', candid([IDL.Text], ['world']))), 'hello world');
  assert.equal(t.state.canisterCount, canistersBefore + 1);
  const child = t.state.canisters().find((c) => c.isController(parent))!;
  assert.ok(child, 'the child is controlled by its parent');
  assert.ok(child.execution, 'the child has code');
  const CHILD_CYCLES = 1_000_000_000_000n;
  assert.ok(child.balance > 0n && child.balance < CHILD_CYCLES, `child balance ${child.balance}: the cycles sent minus the creation fee`);
  assert.ok(before - t.canister(parent).balance >= CHILD_CYCLES, 'the parent paid the cycles it sent');
  assert.equal(decode<Principal>([IDL.Principal], t.query(child.id, 'parent_id'))[0]!.toText(), parent.toText());
  assert.equal(nat(t.query(child.id, 'count')), 1n);
  assert.equal(nat(t.query(parent, 'count')), 1n);
});

test('a recurring timer ticks, round after round', async () => {
  const t = new ExecutionTest();
  const timer = await t.createAndInstall(await wasm('timer'));
  const seen: bigint[] = [];
  for (let i = 0; i < 6; i++) {
    await t.tick();
    seen.push(nat(t.query(timer, 'ticks')));
  }
  assert.ok(seen[5]! >= 4n, `ticks ${seen.join(', ')}`);
  for (let i = 1; i < seen.length; i++) assert.ok(seen[i]! >= seen[i - 1]!);
});

test('the heartbeat runs once in every round', async () => {
  const t = new ExecutionTest();
  const hb = await t.createAndInstall(await wasm('heartbeat'));
  const start = nat(t.query(hb, 'beats'));
  for (let i = 1; i <= 5; i++) {
    await t.tick();
    assert.equal(nat(t.query(hb, 'beats')), start + BigInt(i));
  }
});

test('reject codes reach the caller: destination invalid, canister reject, canister error', async () => {
  const t = new ExecutionTest({
    execution: { ...DEFAULT_EXECUTION_CONFIG, instructions: { ...DEFAULT_EXECUTION_CONFIG.instructions, update: 200_000_000n } },
  });
  const p = await t.createAndInstall(await prober());
  const echo = await t.createAndInstall(await wasm('echo'));
  const loop = await t.createAndInstall(await wasm('loop'));
  const missing = canisterIdFromIndex(0xfff0n);
  assert.equal(text(await t.update(p, 'echo_code', candid([IDL.Principal], [echo]))), 'replied');
  assert.equal(text(await t.update(p, 'echo_code', candid([IDL.Principal], [missing]))), '#destination_invalid');
  assert.equal(text(await t.update(p, 'fail_code', candid([IDL.Principal], [echo]))), '#canister_reject');
  assert.equal(text(await t.update(p, 'spin_code', candid([IDL.Principal], [loop]))), '#canister_error');
});

test('a full input queue rejects the excess with SYS_TRANSIENT and returns its cycles', async () => {
  const t = new ExecutionTest();
  const p = await t.createAndInstall(await prober());
  const echo = await t.createAndInstall(await wasm('echo'));
  assert.equal(text(await t.update(p, 'burst', candid([IDL.Principal, IDL.Nat], [echo, 520n]))), 'ok=500 transient=20');
  assert.equal(t.canister(p).callbacks.size, 0);
});

test('a smaller queue limit is configurable', async () => {
  const t = new ExecutionTest({ scheduler: { ...DEFAULT_SCHEDULER_CONFIG, maxQueueSlots: 10 } });
  const p = await t.createAndInstall(await prober());
  const echo = await t.createAndInstall(await wasm('echo'));
  assert.equal(text(await t.update(p, 'burst', candid([IDL.Principal, IDL.Nat], [echo, 25n]))), 'ok=10 transient=15');
});

test('a call with more than 2 MiB of payload is refused', async () => {
  const t = new ExecutionTest();
  const p = await t.createAndInstall(await prober());
  const echo = await t.createAndInstall(await wasm('echo'));
  await t.update(p, 'big', candid([IDL.Principal, IDL.Nat], [echo, 1_000_000n]));
  await assert.rejects(t.update(p, 'big', candid([IDL.Principal, IDL.Nat], [echo, 2n * 1024n * 1024n])), (e: CallRejected) => {
    assert.equal(e.errorCode, 'IC0504');
    assert.match(e.message, /payload/);
    return true;
  });
});

test('cycles attached to a call come back, but for what the callee accepts', async () => {
  const t = new ExecutionTest();
  const a = await t.createAndInstall(await prober());
  const b = await t.createAndInstall(await prober());
  const echo = await t.createAndInstall(await wasm('echo'));
  const amount = 10_000_000_000_000n;
  assert.equal(nat(await t.update(a, 'send', candid([IDL.Principal, IDL.Nat], [echo, amount]))), amount);
  const [a0, b0] = [t.canister(a).balance, t.canister(b).balance];
  assert.equal(nat(await t.update(a, 'send_to_prober', candid([IDL.Principal, IDL.Nat], [b, amount]))), amount / 2n);
  const fees = 100_000_000n; // execution and transmission fees of the calls, far below the amounts
  assert.ok(a0 - t.canister(a).balance >= amount / 2n && a0 - t.canister(a).balance < amount / 2n + fees);
  assert.ok(t.canister(b).balance - b0 <= amount / 2n && t.canister(b).balance - b0 > amount / 2n - fees);
});

test('call_on_cleanup: a callback that traps runs its cleanup, whose changes stay', async () => {
  const t = new ExecutionTest();
  const p = await t.createAndInstall(await prober());
  const echo = await t.createAndInstall(await wasm('echo'));
  await assert.rejects(t.update(p, 'cleanup_probe', candid([IDL.Principal], [echo])), /trap after the await/);
  assert.equal(nat(t.query(p, 'cleanups')), 1n);
  assert.equal(t.canister(p).callContexts.size, 0);
});

/** Long executions over several rounds: slice 100 M, round 300 M. */
const dts = {
  execution: { ...DEFAULT_EXECUTION_CONFIG, instructions: { ...DEFAULT_EXECUTION_CONFIG.instructions, update: 2_000_000_000n, slice: 100_000_000n } },
  scheduler: { ...DEFAULT_SCHEDULER_CONFIG, roundInstructions: 300_000_000n },
};

test('a best-effort call times out with SYS_UNKNOWN; the late response is dropped', async () => {
  const t = new ExecutionTest(dts);
  const p = await t.createAndInstall(await prober());
  const loop = await t.createAndInstall(await wasm('loop'));
  const id = await t.submit(p, 'bounded', candid([IDL.Principal, IDL.Nat], [loop, 6_000_000n]));
  const status = await t.awaitStatus(id);
  assert.equal(status.status, 'replied');
  assert.equal(text((status as { reply: Uint8Array }).reply), '#system_unknown');
  assert.ok(t.canister(loop).scheduler.paused, 'the callee is still working when the caller gave up');
  while (t.canister(loop).scheduler.paused || t.canister(loop).inputQueue.length > 0) await t.tick();
  await t.tick();
  assert.equal(t.canister(p).callbacks.size, 0);
  assert.equal(t.canister(p).callContexts.size, 0);
  assert.equal(t.canister(p).inputQueue.length, 0, 'the late response was dropped');
});

test('a stopping canister finishes its open calls before it stops', async () => {
  const t = new ExecutionTest(dts);
  const p = await t.createAndInstall(await prober());
  const loop = await t.createAndInstall(await wasm('loop'));
  const call = await t.submit(p, 'wait', candid([IDL.Principal, IDL.Nat], [loop, 6_000_000n]));
  await t.tick();
  const stop = await t.submit(Principal.managementCanister(), 'stop_canister', management('stop_canister', { canister_id: p }));
  await t.tick();
  assert.equal(t.canister(p).status, 'stopping');
  await assert.rejects(t.update(p, 'echo_code', candid([IDL.Principal], [loop])), (e: CallRejected) => e.errorCode === 'IC0509');
  let rounds = 0;
  while (!t.result(stop) && rounds++ < 50) {
    assert.ok(t.result(call) || t.canister(p).status === 'stopping', 'stopped only after the open call completed');
    await t.tick();
  }
  assert.equal(t.result(call)?.status, 'replied');
  assert.equal(t.result(stop)?.status, 'replied');
  assert.equal(t.canister(p).status, 'stopped');
});

test('a stopped canister takes no new requests: callers get a reject at once', async () => {
  const t = new ExecutionTest();
  const p = await t.createAndInstall(await prober());
  const echo = await t.createAndInstall(await wasm('echo'));
  await t.management('stop_canister', { canister_id: echo });
  assert.equal(t.canister(echo).status, 'stopped');
  assert.equal(text(await t.update(p, 'echo_code', candid([IDL.Principal], [echo]))), '#canister_error');
  assert.equal(t.canister(echo).inputQueue.length, 0, 'nothing was queued for the stopped canister');
  await assert.rejects(t.update(echo, 'echo', candid([IDL.Text], ['x'])), (e: CallRejected) => e.errorCode === 'IC0508');
});
