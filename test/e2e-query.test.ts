// Queries through the real IC agent on the certified state: answered while a long (DTS) update is
// in flight and never showing its half-done state, composite queries fanning out to other
// canisters (Motoko `composite query`), the call graph limits and rejects of the IC, and query
// executions that leave the replicated state exactly as it was.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Actor, HttpAgent, RejectError, type ActorSubclass } from '@icp-sdk/core/agent';
import { IDL } from '@icp-sdk/core/candid';
import { Ed25519KeyIdentity } from '@icp-sdk/core/identity';
import { Principal } from '@icp-sdk/core/principal';
import { Node } from '../replica/src/node/index.js';
import { managementCanister, type ManagementCanister } from '../replica/src/cli/management.js';
import { DEFAULT_EXECUTION_CONFIG } from '../replica/src/execution/types.js';
import { DEFAULT_SCHEDULER_CONFIG } from '../replica/src/scheduler/index.js';
import { canisterIdFromIndex } from '../replica/src/state/index.js';
import { stateHash } from '../replica/src/state/serialize.js';
import { compileMotoko } from './support/motoko.js';

const emptyArg = () => new Uint8Array(IDL.encode([], []));
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

interface Slow {
  set(v: bigint): Promise<void>;
  bump(n: bigint): Promise<bigint>;
  read(): Promise<[bigint, string]>;
}
const slowIdl: IDL.InterfaceFactory = ({ IDL }) =>
  IDL.Service({
    set: IDL.Func([IDL.Nat], [], []),
    bump: IDL.Func([IDL.Nat], [IDL.Nat], []),
    read: IDL.Func([], [IDL.Nat, IDL.Text], ['query']),
  });

interface Leaf {
  set(v: bigint): Promise<void>;
  get(): Promise<bigint>;
}
const leafIdl: IDL.InterfaceFactory = ({ IDL }) => IDL.Service({ set: IDL.Func([IDL.Nat], [], []), get: IDL.Func([], [IDL.Nat], ['query']) });

interface Fanout {
  sum(a: Principal, b: Principal): Promise<bigint>;
  hop(rest: Principal[]): Promise<bigint>;
  many(p: Principal, times: bigint, n: bigint): Promise<bigint>;
  try_get(p: Principal): Promise<string>;
  try_upd(p: Principal): Promise<string>;
  bump_both(p: Principal): Promise<[bigint, bigint, bigint]>;
  whocalls(p: Principal): Promise<Principal>;
  own_value(): Promise<bigint>;
}
const fanoutIdl = (mode: 'composite_query' | 'update'): IDL.InterfaceFactory => ({ IDL }) => {
  const cq = mode === 'composite_query' ? ['composite_query'] : [];
  return IDL.Service({
    sum: IDL.Func([IDL.Principal, IDL.Principal], [IDL.Nat], cq),
    hop: IDL.Func([IDL.Vec(IDL.Principal)], [IDL.Nat], cq),
    many: IDL.Func([IDL.Principal, IDL.Nat, IDL.Nat], [IDL.Nat], cq),
    try_get: IDL.Func([IDL.Principal], [IDL.Text], cq),
    try_upd: IDL.Func([IDL.Principal], [IDL.Text], cq),
    bump_both: IDL.Func([IDL.Principal], [IDL.Nat, IDL.Nat, IDL.Nat], cq),
    whocalls: IDL.Func([IDL.Principal], [IDL.Principal], cq),
    own_value: IDL.Func([], [IDL.Nat], ['query']),
  });
};

/** The reject an agent call failed with: code, IC error code and message. */
async function rejection(promise: Promise<unknown>): Promise<{ rejectCode: number; errorCode: string; message: string }> {
  try {
    await promise;
  } catch (e) {
    assert.ok(e instanceof RejectError, String(e));
    const code = e.code as unknown as { rejectCode: number; rejectErrorCode: string; rejectMessage: string };
    return { rejectCode: code.rejectCode, errorCode: code.rejectErrorCode, message: code.rejectMessage };
  }
  assert.fail('the call was not rejected');
}

async function until(condition: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 6000 && !condition(); i++) await new Promise((r) => setTimeout(r, 5));
  assert.ok(condition(), `never happened: ${what}`);
}

describe('queries on the certified state through the IC agent', () => {
  let node: Node;
  let agent: HttpAgent;
  let ic: ActorSubclass<ManagementCanister>;
  const wasm: Record<string, Uint8Array> = {};

  async function install(name: string): Promise<Principal> {
    const { canister_id } = await ic.provisional_create_canister_with_cycles({ amount: [10_000_000_000_000n], settings: [], specified_id: [], sender_canister_version: [] });
    await ic.install_code({ mode: { install: null }, canister_id, wasm_module: wasm[name]!, arg: emptyArg(), sender_canister_version: [] });
    return canister_id;
  }

  before(async () => {
    for (const name of ['slow', 'leaf', 'fanout']) wasm[name] = (await compileMotoko(name)).wasm;
    node = await Node.start({
      port: 0,
      // Rounds only when there is work: the state hash can be compared around queries.
      roundIntervalMs: 3_600_000,
      replica: {
        // Canisters run on a worker thread, so a long message leaves the main thread free.
        workers: 1,
        // Short slices and rounds: a long update spans many rounds quickly.
        execution: { ...DEFAULT_EXECUTION_CONFIG, instructions: { ...DEFAULT_EXECUTION_CONFIG.instructions, slice: 50_000_000n } },
        scheduler: { ...DEFAULT_SCHEDULER_CONFIG, roundInstructions: 100_000_000n, iterationInstructions: 100_000_000n },
      },
      queryWorkers: 1,
    });
    agent = await HttpAgent.create({ host: node.url, shouldFetchRootKey: true, identity: Ed25519KeyIdentity.generate() });
    ic = managementCanister(agent);
  });

  after(async () => {
    await node?.close();
  });

  it('answers a query while a long update is in flight, from the last certified state, never a half-done one', async () => {
    const id = await install('slow');
    const slow = Actor.createActor<Slow>(slowIdl, { agent, canisterId: id });
    await slow.set(7n);
    const paused = () => node.replica.state.canister(id)?.scheduler.paused !== undefined;

    const update = slow.bump(40_000_000n);
    await until(paused, 'the update paused at a slice end');
    const pausedAt = node.height;
    const answers: { value: [bigint, string]; height: bigint; pausedAfter: boolean }[] = [];
    while (paused() && answers.length < 5) {
      const value = await slow.read();
      answers.push({ value, height: node.height, pausedAfter: paused() });
    }
    const result = await update;
    const doneAt = node.height;

    assert.equal(result, 1008n);
    assert.ok(answers.length > 0);
    // Answered while the update was still paused: no query waited for it to finish.
    const during = answers.filter((a) => a.pausedAfter);
    assert.ok(during.length > 0, 'no query was answered while the update was in flight');
    for (const a of during) {
      assert.deepEqual(a.value, [7n, 'idle'], 'a query saw the update half done');
      assert.ok(a.height >= pausedAt && a.height < doneAt);
    }
    // Rounds went on while the queries ran: the update needed several.
    assert.ok(doneAt > pausedAt);
    assert.deepEqual(await slow.read(), [1008n, 'done']);
  });

  describe('composite queries', () => {
    let a: Principal;
    let b: Principal;
    let root: Principal;
    let fan: ActorSubclass<Fanout>;

    before(async () => {
      [a, b, root] = [await install('leaf'), await install('leaf'), await install('fanout')];
      await Actor.createActor<Leaf>(leafIdl, { agent, canisterId: a }).set(5n);
      await Actor.createActor<Leaf>(leafIdl, { agent, canisterId: b }).set(37n);
      fan = Actor.createActor<Fanout>(fanoutIdl('composite_query'), { agent, canisterId: root });
    });

    it('fan out to two other canisters and combine their answers; callees see the calling canister as caller', async () => {
      assert.equal(await fan.sum(a, b), 42n);
      assert.equal((await fan.whocalls(a)).toText(), root.toText());
    });

    it('leave the replicated state as it was: changes made during the call graph are discarded', async () => {
      await node.round();
      const height = node.height;
      const before = hex(stateHash(node.replica.state));
      // The caller's change before its await is seen by its callbacks; each call to the leaf
      // starts from the certified state again.
      assert.deepEqual(await fan.bump_both(a), [1n, 6n, 6n]);
      assert.deepEqual(await fan.bump_both(a), [1n, 6n, 6n]);
      assert.equal(await fan.own_value(), 0n);
      assert.equal(await Actor.createActor<Leaf>(leafIdl, { agent, canisterId: a }).get(), 5n);
      assert.equal(node.height, height);
      assert.equal(hex(stateHash(node.replica.state)), before);
    });

    it('reject calls to update methods and to canisters that are not on this subnet', async () => {
      const elsewhere = canisterIdFromIndex(0x200000n);
      assert.match(await fan.try_get(elsewhere), new RegExp(`^#destination_invalid Canister ${elsewhere.toText()} not found`));
      assert.match(await fan.try_upd(a), /^#canister_error .*has no query method 'upd'/);
      assert.equal(await fan.try_get(b), 'ok 37');
    });

    it('cannot be called in replicated mode', async () => {
      const asUpdate = Actor.createActor<Fanout>(fanoutIdl('update'), { agent, canisterId: root });
      const r = await rejection(asUpdate.sum(a, b));
      assert.equal(r.errorCode, 'IC0527');
      assert.match(r.message, /Composite query cannot be called in replicated mode/);
    });

    it('stop at the call graph limits: depth, total instructions, re-entrancy', async () => {
      const hops: Principal[] = [];
      for (let i = 0; i < 7; i++) hops.push(await install('fanout'));
      // Six nested calls are within the depth limit, seven are not.
      assert.equal(await fan.hop(hops.slice(0, 6)), 6n);
      const deep = await rejection(fan.hop(hops));
      assert.deepEqual([deep.rejectCode, deep.errorCode], [5, 'IC0525']);
      assert.match(deep.message, /exceeded the maximum call depth/);

      // Every call costs 50 M instructions on top of its own: 200 calls exceed the 5 B of a graph.
      assert.equal(await fan.many(a, 10n, 0n), 0n);
      const costly = await rejection(fan.many(a, 200n, 0n));
      assert.deepEqual([costly.rejectCode, costly.errorCode], [5, 'IC0526']);
      assert.match(costly.message, /exceeded the instruction limit/);

      const loop = await rejection(fan.hop([hops[0]!, root]));
      assert.deepEqual([loop.rejectCode, loop.errorCode], [5, 'IC0517']);
      assert.match(loop.message, /re-entering the same canister/);
    });
  });
});
