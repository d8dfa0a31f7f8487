// The node's query cache: identical queries (caller, canister, method, argument) on an unchanged
// certified state are answered without executing the canister again, with exactly the reply a
// fresh execution gives; an update (the canister's version), a newer certified state (its time),
// another caller or argument miss. The cache is bounded in bytes, least recently used first.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Actor, HttpAgent } from '@icp-sdk/core/agent';
import { IDL } from '@icp-sdk/core/candid';
import { Principal } from '@icp-sdk/core/principal';
import type { AuthenticatedCall, AuthenticatedQuery, QueryOutcome } from '../src/http/index.js';
import { Node, generateNodeKeys } from '../src/node/index.js';
import { QueryCache, queryCacheKey, type QueryCacheEnv } from '../src/node/query-cache.js';
import { managementCanister } from '../src/cli/management.js';
import { compileMotoko } from '../../test/support/motoko.js';

const SOURCE = `
import Time "mo:core/Time";

persistent actor Cached {
  var count : Nat = 0;

  public func inc() : async Nat {
    count += 1;
    count
  };

  public query func get() : async Nat {
    count
  };

  public query func plus(n : Nat) : async Nat {
    count + n
  };

  public query func now() : async Int {
    Time.now()
  };

  public query ({ caller }) func whoami() : async Principal {
    caller
  };
};
`;

const USER = new Uint8Array([...randomBytes(28), 2]);
const OTHER = new Uint8Array([...randomBytes(28), 2]);
const MANAGEMENT = new Uint8Array(0);
const expiry = () => BigInt(Date.now() + 120_000) * 1_000_000n;
const none = () => new Uint8Array(IDL.encode([], []));
const nat = (o: QueryOutcome) => {
  assert.equal(o.status, 'replied', o.status === 'rejected' ? o.rejectMessage : '');
  return IDL.decode([IDL.Nat], (o as { reply: Uint8Array }).reply)[0] as bigint;
};

function call(canisterId: Uint8Array, methodName: string, arg: Uint8Array, effectiveCanisterId = canisterId): AuthenticatedCall {
  return { requestId: new Uint8Array(randomBytes(32)), sender: USER, canisterId, methodName, arg, ingressExpiry: expiry(), effectiveCanisterId };
}

function query(canisterId: Uint8Array, methodName: string, arg = none(), sender = USER): AuthenticatedQuery {
  return { requestId: new Uint8Array(randomBytes(32)), sender, canisterId, methodName, arg, ingressExpiry: expiry(), effectiveCanisterId: canisterId };
}

async function execute(node: Node, c: AuthenticatedCall): Promise<void> {
  await node.frontend.submitCall(c);
  const waiting = node.frontend.awaitCertifiedStatus(c.requestId, 5_000);
  for (let i = 0; i < 5; i++) await node.round();
  assert.ok(await waiting, 'the call finished within five rounds');
}

describe('query cache (node front end, rounds run by the test)', () => {
  const node = new Node(generateNodeKeys());
  let id: Uint8Array;

  before(async () => {
    await node.round();
    const create = call(MANAGEMENT, 'provisional_create_canister_with_cycles', new Uint8Array(IDL.encode(
      [IDL.Record({ amount: IDL.Opt(IDL.Nat), settings: IDL.Opt(IDL.Reserved), specified_id: IDL.Opt(IDL.Principal), sender_canister_version: IDL.Opt(IDL.Nat64) })],
      [{ amount: [10n ** 13n], settings: [], specified_id: [], sender_canister_version: [] }],
    )));
    await execute(node, create);
    id = node.replica.state.canisters()[0]!.id.toUint8Array();
    const { wasm } = await compileMotoko('query-cache', SOURCE);
    const install = IDL.encode(
      [IDL.Record({ mode: IDL.Variant({ install: IDL.Null }), canister_id: IDL.Principal, wasm_module: IDL.Vec(IDL.Nat8), arg: IDL.Vec(IDL.Nat8), sender_canister_version: IDL.Opt(IDL.Nat64) })],
      [{ mode: { install: null }, canister_id: Principal.fromUint8Array(id), wasm_module: wasm, arg: none(), sender_canister_version: [] }],
    );
    await execute(node, call(MANAGEMENT, 'install_code', new Uint8Array(install), id));
  });

  after(() => node.close());

  it('repeated identical queries execute once and hit afterwards, with the same reply', async () => {
    const before = node.frontend.queryCacheStats;
    const first = await node.frontend.query(query(id, 'get'));
    const second = await node.frontend.query(query(id, 'get'));
    const third = await node.frontend.query(query(id, 'get'));
    const after = node.frontend.queryCacheStats;
    assert.equal(after.executions - before.executions, 1);
    assert.equal(after.hits - before.hits, 2);
    assert.equal(after.misses - before.misses, 1);
    assert.equal(nat(first), 0n);
    assert.deepEqual(second, first);
    assert.deepEqual(third, first);
    // What a fresh execution on the same state gives.
    const fresh = node.replica.query(Principal.fromUint8Array(id), 'get', none(), Principal.fromUint8Array(USER), node.certification.dataCertificate(node.latest!, id));
    assert.equal(fresh.status, 'replied');
    assert.deepEqual((second as { reply: Uint8Array }).reply, (fresh as { reply: Uint8Array }).reply);
  });

  it('another caller or argument misses', async () => {
    const s0 = node.frontend.queryCacheStats;
    await node.frontend.query(query(id, 'plus', new Uint8Array(IDL.encode([IDL.Nat], [1n]))));
    assert.equal(nat(await node.frontend.query(query(id, 'plus', new Uint8Array(IDL.encode([IDL.Nat], [1n]))))), 1n);
    assert.equal(nat(await node.frontend.query(query(id, 'plus', new Uint8Array(IDL.encode([IDL.Nat], [2n]))))), 2n);
    const s1 = node.frontend.queryCacheStats;
    assert.equal(s1.executions - s0.executions, 2, 'one execution per argument');
    assert.equal(s1.hits - s0.hits, 1);

    const mine = await node.frontend.query(query(id, 'whoami'));
    const theirs = await node.frontend.query(query(id, 'whoami', none(), OTHER));
    const s2 = node.frontend.queryCacheStats;
    assert.equal(s2.executions - s1.executions, 2, 'one execution per caller');
    const principal = (o: QueryOutcome) => (IDL.decode([IDL.Principal], (o as { reply: Uint8Array }).reply)[0] as unknown as Principal).toText();
    assert.equal(principal(mine), Principal.fromUint8Array(USER).toText());
    assert.equal(principal(theirs), Principal.fromUint8Array(OTHER).toText());
    assert.equal(principal(await node.frontend.query(query(id, 'whoami', none(), OTHER))), Principal.fromUint8Array(OTHER).toText());
    assert.equal(node.frontend.queryCacheStats.hits - s2.hits, 1);
  });

  it('an update in between invalidates: the next query executes and sees the new state', async () => {
    assert.equal(nat(await node.frontend.query(query(id, 'get'))), 0n);
    await execute(node, call(id, 'inc', none()));
    const s0 = node.frontend.queryCacheStats;
    assert.equal(nat(await node.frontend.query(query(id, 'get'))), 1n);
    assert.equal(nat(await node.frontend.query(query(id, 'get'))), 1n);
    const s1 = node.frontend.queryCacheStats;
    assert.equal(s1.executions - s0.executions, 1);
    assert.equal(s1.hits - s0.hits, 1);
  });

  it('a newer certified state (another batch time) invalidates what ic0.time read', async () => {
    const t0 = await node.frontend.query(query(id, 'now'));
    assert.deepEqual(await node.frontend.query(query(id, 'now')), t0, 'same certified state: a hit');
    const entriesBefore = node.frontend.queryCacheStats.entries;
    assert.ok(entriesBefore > 0);
    await node.round();
    assert.equal(node.frontend.queryCacheStats.entries, 0, 'entries of older states are dropped on certification');
    const s0 = node.frontend.queryCacheStats;
    const t1 = await node.frontend.query(query(id, 'now'));
    assert.equal(node.frontend.queryCacheStats.executions - s0.executions, 1);
    const time = (o: QueryOutcome) => IDL.decode([IDL.Int], (o as { reply: Uint8Array }).reply)[0] as bigint;
    assert.equal(time(t1), node.latest!.time);
    assert.ok(time(t1) > time(t0));
  });

  it('rejections are answered the same from the cache; unknown canisters are not cached', async () => {
    const a = await node.frontend.query(query(id, 'nope'));
    const b = await node.frontend.query(query(id, 'nope'));
    assert.equal(a.status, 'rejected');
    assert.deepEqual(b, a);
    const missing = new Uint8Array([0, 0, 0, 0, 0, 0, 0x10, 0, 1, 1]);
    const s0 = node.frontend.queryCacheStats;
    await node.frontend.query(query(missing, 'get'));
    await node.frontend.query(query(missing, 'get'));
    assert.equal(node.frontend.queryCacheStats.entries, s0.entries);
    assert.equal(node.frontend.queryCacheStats.executions, s0.executions);
  });
});

describe('QueryCache', () => {
  const env = (over: Partial<QueryCacheEnv> = {}): QueryCacheEnv => ({ height: 5n, time: 100n, canisterVersion: 3n, balance: 10n, status: 'running', ...over });
  const reply = (bytes: number): QueryOutcome => ({ status: 'replied', reply: new Uint8Array(bytes) });
  const key = (n: number) => queryCacheKey(new Uint8Array([n]), 'm', new Uint8Array([1, 2]), new Uint8Array([4]));

  it('an entry is valid only in the environment it was computed in', () => {
    const cache = new QueryCache();
    cache.put(key(1), env(), reply(1));
    assert.ok(cache.get(key(1), env()));
    assert.equal(cache.get(key(1), env({ canisterVersion: 4n })), undefined, 'canister version changed');
    assert.equal(cache.stats.entries, 0, 'the stale entry is gone');
    for (const changed of [{ time: 101n }, { height: 6n }, { balance: 9n }, { status: 'stopping' }]) {
      cache.put(key(1), env(), reply(1));
      assert.equal(cache.get(key(1), env(changed)), undefined, JSON.stringify(changed, (_k, v: unknown) => (typeof v === 'bigint' ? String(v) : v)));
    }
    assert.equal(cache.stats.invalidated, 5);
  });

  it('keys tell callers, methods and arguments apart', () => {
    const k = (c: number[], m: string, a: number[], s: number[]) => queryCacheKey(new Uint8Array(c), m, new Uint8Array(a), new Uint8Array(s));
    const keys = [k([1], 'm', [1], [2]), k([1], 'm', [1], [3]), k([1], 'n', [1], [2]), k([1], 'm', [1, 0], [2]), k([1, 1], 'm', [1], [2]), k([1], 'm/x', [], [2])];
    assert.equal(new Set(keys).size, keys.length);
  });

  it('stays within its byte capacity, evicting the least recently used', () => {
    const cache = new QueryCache({ capacityBytes: 3 * 1024 });
    cache.put(key(1), env(), reply(700));
    cache.put(key(2), env(), reply(700));
    assert.ok(cache.get(key(1), env()), 'touch 1: 2 is now the oldest');
    cache.put(key(3), env(), reply(700));
    cache.put(key(4), env(), reply(700));
    assert.ok(cache.stats.bytes <= 3 * 1024);
    assert.ok(cache.stats.evicted >= 1);
    assert.equal(cache.get(key(2), env()), undefined, 'least recently used went first');
    assert.ok(cache.get(key(4), env()));
    cache.put(key(5), env(), reply(10 * 1024));
    assert.equal(cache.get(key(5), env()), undefined, 'larger than the whole cache: not kept');
    assert.equal(new QueryCache({ capacityBytes: 0 }).stats.entries, 0);
  });
});

describe('query cache through the agent', () => {
  let node: Node;

  before(async () => {
    // Long idle interval: no round runs between the queries unless a call arrives.
    node = await Node.start({ port: 0, roundIntervalMs: 60_000 });
  });

  after(async () => {
    await node?.close();
  });

  it('identical agent queries execute once until an update call changes the canister', async () => {
    const agent = await HttpAgent.create({ host: node.url, shouldFetchRootKey: true });
    const mgmt = managementCanister(agent);
    const { canister_id } = await mgmt.provisional_create_canister_with_cycles({ amount: [10n ** 13n], settings: [], specified_id: [], sender_canister_version: [] });
    const { wasm } = await compileMotoko('query-cache', SOURCE);
    await mgmt.install_code({ mode: { install: null }, canister_id, wasm_module: wasm, arg: none(), sender_canister_version: [] });
    const actor = Actor.createActor<{ get(): Promise<bigint>; inc(): Promise<bigint> }>(
      ({ IDL }) => IDL.Service({ get: IDL.Func([], [IDL.Nat], ['query']), inc: IDL.Func([], [IDL.Nat], []) }),
      { agent, canisterId: canister_id },
    );
    const s0 = node.frontend.queryCacheStats;
    assert.equal(await actor.get(), 0n);
    assert.equal(await actor.get(), 0n);
    assert.equal(await actor.get(), 0n);
    const s1 = node.frontend.queryCacheStats;
    assert.equal(s1.executions - s0.executions, 1);
    assert.equal(s1.hits - s0.hits, 2);
    assert.equal(await actor.inc(), 1n);
    assert.equal(await actor.get(), 1n);
    assert.equal(await actor.get(), 1n);
    const s2 = node.frontend.queryCacheStats;
    assert.equal(s2.executions - s1.executions, 1);
    assert.equal(s2.hits - s1.hits, 1);
  });
});
