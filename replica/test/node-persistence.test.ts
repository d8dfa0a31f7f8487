// A node with a data directory survives a restart: checkpoint + block log replay give back the
// same state, and the same root key, so clients keep working.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Actor, HttpAgent } from '@icp-sdk/core/agent';
import { IDL } from '@icp-sdk/core/candid';
import { Ed25519KeyIdentity } from '@icp-sdk/core/identity';
import { Node } from '../src/node/index.js';
import { managementCanister } from '../src/cli/management.js';
import { stateHash } from '../src/state/serialize.js';
import { compileMotoko } from '../../test/support/motoko.js';

const counterIdl: IDL.InterfaceFactory = ({ IDL }) =>
  IDL.Service({ inc: IDL.Func([], [IDL.Nat], []), get: IDL.Func([], [IDL.Nat], ['query']) });

test('a node restarted on its data directory has the same state hash and serves the same canister', async () => {
  const dataDir = await mkdtemp(join(tmpdir(), 'icpk-node-'));
  const { wasm } = await compileMotoko('counter');
  const identity = Ed25519KeyIdentity.generate();
  try {
    // Checkpoint every 3 rounds so both a checkpoint and a replayed tail are exercised.
    let node = await Node.start({ port: 0, dataDir, roundIntervalMs: 20, checkpointInterval: 3n });
    let agent = await HttpAgent.create({ host: node.url, identity, shouldFetchRootKey: true });
    const { canister_id } = await managementCanister(agent).provisional_create_canister_with_cycles({
      amount: [10_000_000_000_000n], settings: [], specified_id: [], sender_canister_version: [],
    });
    await managementCanister(agent).install_code({
      mode: { install: null }, canister_id, wasm_module: wasm, arg: new Uint8Array(IDL.encode([], [])), sender_canister_version: [],
    });
    let counter = Actor.createActor<{ inc(): Promise<bigint>; get(): Promise<bigint> }>(counterIdl, { agent, canisterId: canister_id });
    for (let i = 1n; i <= 5n; i++) assert.equal(await counter.inc(), i);
    const rootKey = node.rootKey;
    await node.close();
    const height = node.replica.state.height;
    const hash = stateHash(node.replica.state);

    node = await Node.start({ port: 0, dataDir, roundIntervalMs: 20, checkpointInterval: 3n });
    try {
      assert.deepEqual(node.rootKey, rootKey);
      assert.equal(node.restored?.height, height);
      assert.deepEqual(node.restored?.stateHash, hash);
      agent = await HttpAgent.create({ host: node.url, identity, shouldFetchRootKey: true });
      counter = Actor.createActor(counterIdl, { agent, canisterId: canister_id });
      assert.equal(await counter.get(), 5n);
      assert.equal(await counter.inc(), 6n);
    } finally {
      await node.close();
    }
  } finally {
    await rm(dataDir, { recursive: true, force: true });
  }
});
