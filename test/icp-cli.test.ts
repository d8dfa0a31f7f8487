// DFINITY's own command-line tool, `icp` (icp-cli, a Rust client built on ic-agent), against a
// local node by URL, unmodified: canister installation and upgrade, update and query calls
// (replies verified from certificates and node signatures), and canister status. The binary
// comes from its npm package (an optional dependency, published for linux-x64).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { HttpAgent } from '@icp-sdk/core/agent';
import { Ed25519KeyIdentity } from '@icp-sdk/core/identity';
import { Principal } from '@icp-sdk/core/principal';
import { Node } from '../replica/src/node/index.js';
import { defaultSettings, managementCanister } from '../replica/src/cli/management.js';
import { compileMotoko } from './support/motoko.js';

const run = promisify(execFile);

function icpBinary(): string | undefined {
  try {
    return createRequire(import.meta.url).resolve('@icp-sdk/icp-cli-linux-x64/bin/icp');
  } catch {
    return undefined;
  }
}

const ICP = icpBinary();

describe('icp-cli against a local node', { skip: ICP === undefined && 'icp-cli is published for linux-x64 only' }, () => {
  let node: Node;
  let home: string;
  let canister: Principal;
  let tester: Principal;
  let wasmPath: string;

  /** Runs `icp` with a private home directory (its identities live there); its output, warnings after. */
  async function icpLocal(...args: string[]): Promise<string> {
    const env = { PATH: process.env['PATH'] ?? '', HOME: home, DO_NOT_TRACK: '1', NO_COLOR: '1' };
    const { stdout, stderr } = await run(ICP!, args, { env, timeout: 60_000 });
    return `${stdout.trim()}\n${stderr}`.trim();
  }

  /** Runs an `icp` command against the node, by URL and with the node's root key. */
  const icp = (...args: string[]) => icpLocal(...args, '-n', node.url, '-k', Buffer.from(node.rootKey).toString('hex'));

  before(async () => {
    home = await mkdtemp(join(tmpdir(), 'icpk-icp-cli-'));
    node = await Node.start({ port: 0, roundIntervalMs: 20 });
    const counter = await compileMotoko('counter');
    wasmPath = counter.wasmPath;
    // An identity of icp's own making controls the canister that the IC agent creates for it.
    await icpLocal('identity', 'new', 'tester', '--storage', 'plaintext');
    tester = Principal.fromText((await icpLocal('identity', 'principal', '--identity', 'tester')).split('\n')[0]!);
    const agent = await HttpAgent.create({ host: node.url, identity: Ed25519KeyIdentity.generate(), shouldFetchRootKey: true });
    const { canister_id } = await managementCanister(agent).provisional_create_canister_with_cycles({
      amount: [10_000_000_000_000n],
      settings: [{ ...defaultSettings(), controllers: [[tester]] }],
      specified_id: [],
      sender_canister_version: [],
    });
    canister = canister_id;
  });

  after(async () => {
    await node?.close();
    if (home) await rm(home, { recursive: true, force: true });
  });

  it('installs, calls, queries and upgrades a Motoko canister', async () => {
    const id = canister.toText();
    assert.match(await icp('canister', 'install', '--identity', 'tester', '--wasm', wasmPath, id), /installed successfully/);
    const reply = async (...args: string[]) => (await icp('canister', 'call', ...args)).split('\n')[0];
    assert.equal(await reply(id, 'inc', '()'), '(1 : nat)');
    assert.equal(await reply(id, 'add', '(41 : nat)'), '(42 : nat)');
    // A query: the reply is signed by the node and verified against the subnet's node keys.
    assert.equal(await reply('--query', id, 'get', '()'), '(42 : nat)');
    assert.match(await icp('canister', 'install', '--identity', 'tester', '--mode', 'upgrade', '--wasm', wasmPath, id), /installed successfully/);
    assert.equal(await reply('--query', id, 'get', '()'), '(42 : nat)');
  });

  it('shows the canister status with settings, module hash and cycles', async () => {
    const status = await icp('canister', 'status', '--identity', 'tester', canister.toText());
    assert.match(status, /Status: Running/);
    assert.match(status, /Freezing threshold: 2_592_000/);
    assert.match(status, new RegExp(`controller: ${tester.toText()}`));
    assert.match(status, /Module hash: 0x[0-9a-f]{64}/);
    assert.match(status, /Cycles: [\d_]+/);
  });

  it('shows a non-controller only what the certified state tree makes public', async () => {
    // canister_status is refused (controllers only); icp falls back to read_state of
    // /canister/<id>/controllers and /module_hash, verified against the root key.
    const status = await icp('canister', 'status', canister.toText());
    assert.match(status, new RegExp(`controller: ${tester.toText()}`));
    assert.match(status, /Module hash: 0x[0-9a-f]{64}/);
    assert.doesNotMatch(status, /Cycles:/);
  });
});
