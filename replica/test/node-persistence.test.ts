// A node with a data directory survives a restart: checkpoint + block log replay give back the
// same state, and the same root key, so clients keep working; a checkpoint store that fails
// (a real S3 server stopped and started again) costs no state and holds up no round.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRequire } from 'node:module';
import * as Minio from 'minio';
import { pino } from 'pino';
import { Actor, HttpAgent } from '@icp-sdk/core/agent';
import { IDL } from '@icp-sdk/core/candid';
import { Ed25519KeyIdentity } from '@icp-sdk/core/identity';
import type { Principal } from '@icp-sdk/core/principal';
import { Node } from '../src/node/index.js';
import { S3CheckpointStore } from '../src/checkpoint/index.js';
import { managementCanister } from '../src/cli/management.js';
import { stateHash } from '../src/state/serialize.js';
import { compileMotoko } from '../../test/support/motoko.js';

interface S3rverInstance { run(): Promise<{ port: number }>; close(): Promise<void>; httpServer: import('node:http').Server }
const S3rver = createRequire(import.meta.url)('s3rver') as new (options: Record<string, unknown>) => S3rverInstance;

interface Counter {
  inc(): Promise<bigint>;
  get(): Promise<bigint>;
}
const counterIdl: IDL.InterfaceFactory = ({ IDL }) =>
  IDL.Service({ inc: IDL.Func([], [IDL.Nat], []), get: IDL.Func([], [IDL.Nat], ['query']) });

async function installCounter(agent: HttpAgent, wasm: Uint8Array): Promise<Principal> {
  const ic = managementCanister(agent);
  const { canister_id } = await ic.provisional_create_canister_with_cycles({
    amount: [10_000_000_000_000n], settings: [], specified_id: [], sender_canister_version: [],
  });
  await ic.install_code({
    mode: { install: null }, canister_id, wasm_module: wasm, arg: new Uint8Array(IDL.encode([], [])), sender_canister_version: [],
  });
  return canister_id;
}

test('a node restarted on its data directory has the same state hash and serves the same canister', async () => {
  const dataDir = await mkdtemp(join(tmpdir(), 'icpk-node-'));
  const { wasm } = await compileMotoko('counter');
  const identity = Ed25519KeyIdentity.generate();
  try {
    // Checkpoint every 3 rounds so both a checkpoint and a replayed tail are exercised.
    let node = await Node.start({ port: 0, dataDir, roundIntervalMs: 20, checkpointInterval: 3n });
    let agent = await HttpAgent.create({ host: node.url, identity, shouldFetchRootKey: true });
    const canister_id = await installCounter(agent, wasm);
    let counter = Actor.createActor<Counter>(counterIdl, { agent, canisterId: canister_id });
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

test('a checkpoint store that goes away holds up nothing and loses nothing; checkpoints resume when it is back', async () => {
  const dataDir = await mkdtemp(join(tmpdir(), 'icpk-node-'));
  const s3Dir = join(dataDir, 's3');
  const { wasm } = await compileMotoko('counter');
  const identity = Ed25519KeyIdentity.generate();
  const startS3 = async (port = 0) => {
    const s3 = new S3rver({ port, address: '127.0.0.1', directory: s3Dir, silent: true });
    return { s3, port: (await s3.run()).port };
  };
  let { s3, port } = await startS3();
  const client = new Minio.Client({
    endPoint: '127.0.0.1', port, useSSL: false, accessKey: 'S3RVER', secretKey: 'S3RVER', pathStyle: true, region: 'us-east-1',
  });
  const checkpointStore = await S3CheckpointStore.open(client, 'checkpoints', 'replica');
  const logged: { msg: string; height?: number }[] = [];
  const logger = pino({ level: 'error' }, { write: (line: string) => void logged.push(JSON.parse(line) as { msg: string; height?: number }) });
  const published = async () => (await checkpointStore.list('checkpoints/')).filter((k) => k.endsWith('manifest.json')).length;
  /** Lets the node's own round loop run until `done`, failing after `rounds` more rounds. */
  const until = async (done: () => boolean | Promise<boolean>, rounds: bigint, what: string) => {
    const from = node!.replica.state.height;
    while (!(await done())) {
      await new Promise((r) => setTimeout(r, 20));
      assert.ok(node!.replica.state.height < from + rounds, what);
    }
  };
  let node: Node | undefined;
  try {
    node = await Node.start({ port: 0, dataDir, checkpointStore, roundIntervalMs: 20, checkpointInterval: 4n, logger });
    let agent = await HttpAgent.create({ host: node.url, identity, shouldFetchRootKey: true });
    const canister_id = await installCounter(agent, wasm);
    let counter = Actor.createActor<Counter>(counterIdl, { agent, canisterId: canister_id });
    for (let i = 1n; i <= 3n; i++) assert.equal(await counter.inc(), i);
    // Checkpoints are written in the background: wait for the first one.
    await until(async () => (await published()) > 0, 500n, 'a checkpoint is written while the store is up');

    // The store goes away: updates keep completing, rounds pass several checkpoint heights.
    s3.httpServer.closeAllConnections();
    await s3.close();
    const downAt = node.replica.state.height;
    for (let i = 4n; i <= 8n; i++) assert.equal(await counter.inc(), i);
    // Rounds go on past several checkpoint heights, and the failure is logged.
    await until(() => node!.replica.state.height > downAt + 8n && logged.some((l) => /checkpoint failed/.test(l.msg)), 500n, 'a failed checkpoint is logged');

    // Back on the same port: the next checkpoint due is written.
    ({ s3 } = await startS3(port));
    const before = await published();
    await until(async () => (await published()) > before, 500n, 'a checkpoint is written once the store is back');
    assert.equal(await counter.inc(), 9n);
    await node.close();
    const hash = stateHash(node.replica.state);

    // A restart from that checkpoint and the block log has everything.
    node = await Node.start({ port: 0, dataDir, checkpointStore, roundIntervalMs: 20, checkpointInterval: 4n, logger });
    assert.deepEqual(node.restored?.stateHash, hash);
    agent = await HttpAgent.create({ host: node.url, identity, shouldFetchRootKey: true });
    counter = Actor.createActor(counterIdl, { agent, canisterId: canister_id });
    assert.equal(await counter.get(), 9n);
  } finally {
    await node?.close();
    s3.httpServer?.closeAllConnections();
    await s3.close().catch(() => undefined); // already stopped if the test failed while it was down
    await rm(dataDir, { recursive: true, force: true });
  }
});
