// The `icpk` command line against a node started in the test: the canister lifecycle through
// bin/icpk as child processes (Candid arguments and replies, --json output), then, in process
// through `runCli` to keep the suite fast, upgrades, certified data and the exit codes scripts
// rely on; `start` as a child process until SIGINT.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { IDL } from '@icp-sdk/core/candid';
import {
  CandidSyntaxError,
  CandidTypeError,
  encodeArgs,
  formatValues,
  methodsOf,
  parseDid,
  runCli,
  typesOfMessage,
  valuesToJson,
} from '../replica/src/cli/index.js';
import { Node } from '../replica/src/node/index.js';
import { compileMotoko } from './support/motoko.js';

const ICPK = fileURLToPath(new URL('../bin/icpk', import.meta.url));

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

describe('icpk against a local node', () => {
  let node: Node;
  let configDir: string;
  let counterWasm: string;
  let certifiedWasm: string;

  function icpk(args: string[], env: Record<string, string> = {}): Promise<Run> {
    return new Promise((resolve) => {
      execFile(
        ICPK,
        args,
        { env: { ...process.env, ICPK_NETWORK: node.url, ICPK_CONFIG_DIR: configDir, ...env }, timeout: 60_000 },
        (error, stdout, stderr) => resolve({ code: error ? Number(error.code ?? 1) : 0, stdout, stderr }),
      );
    });
  }

  /** The same command line in this process (no process start-up). */
  async function icpkHere(args: string[], env: Record<string, string> = {}): Promise<Run> {
    let stdout = '';
    let stderr = '';
    const code = await runCli(args, {
      io: { stdout: (t) => void (stdout += t), stderr: (t) => void (stderr += t) },
      env: { ...process.env, ICPK_NETWORK: node.url, ICPK_CONFIG_DIR: configDir, ...env },
    });
    return { code, stdout, stderr };
  }

  async function ok(args: string[], run = icpkHere): Promise<string> {
    const r = await run(args);
    assert.equal(r.code, 0, `icpk ${args.join(' ')} failed:\n${r.stderr}`);
    return r.stdout.trim();
  }

  const okChild = (args: string[]) => ok(args, icpk);

  before(async () => {
    configDir = await mkdtemp(join(tmpdir(), 'icpk-cli-'));
    [counterWasm, certifiedWasm] = (await Promise.all([compileMotoko('counter'), compileMotoko('certified')])).map((c) => c.wasmPath) as [string, string];
    node = await Node.start({ port: 0, roundIntervalMs: 20 });
  });

  after(async () => {
    await node?.close();
    await rm(configDir, { recursive: true, force: true });
  });

  it('bin/icpk creates, installs, calls, queries and reports status, as text and as JSON', async () => {
    const me = await okChild(['whoami']);
    const id = await okChild(['create', '--cycles', '5T']);
    assert.match(id, /^[a-z0-9-]+-cai$/);
    assert.match(await okChild(['install', id, counterWasm]), /^Installed .* on /);

    assert.equal(await okChild(['call', id, 'inc']), '(1 : nat)');
    assert.equal(await okChild(['call', id, 'add', '(41)']), '(42 : nat)');
    assert.equal(await ok(['call', id, 'add', '1_000']), '(1_042 : nat)');
    assert.equal(await okChild(['call', id, 'get']), '(1_042 : nat)', 'get is a query per the interface');
    assert.deepEqual(JSON.parse(await okChild(['call', id, 'get', '--json'])), { reply: ['1042'] });
    assert.equal(await ok(['call', id, 'get', '--raw']), '4449444c00017d9208');

    const status = JSON.parse(await okChild(['status', id, '--json'])) as Record<string, unknown>;
    assert.equal(status.status, 'running');
    assert.deepEqual(status.controllers, [me]);
    assert.match(String(status.module_hash), /^[0-9a-f]{64}$/);
    assert.ok(BigInt(String(status.cycles)) > 4_000_000_000_000n);

    const topUp = JSON.parse(await ok(['cycles', id, '--add', '1T', '--json'])) as { added: string; cycles: string };
    assert.equal(topUp.added, '1000000000000');
    assert.ok(BigInt(topUp.cycles) > 5_000_000_000_000n);

    assert.match(await ok(['delete', id]), /^Deleted /);
    const gone = await icpkHere(['status', id]);
    assert.equal(gone.code, 1);
    assert.match(gone.stderr, /IC0301.*not found/);
  });

  it('upgrades in place and keeps the counter', async () => {
    const id = await ok(['create']);
    await ok(['install', id, counterWasm]);
    await ok(['call', id, 'add', '(7)']);
    assert.match(await ok(['install', id, counterWasm, '--mode', 'upgrade']), /^Upgraded /);
    assert.equal(await ok(['call', id, 'get']), '(7 : nat)');
  });

  it('verifies certified data with cert', async () => {
    const id = await ok(['create']);
    await ok(['install', id, certifiedWasm]);
    assert.equal(await ok(['call', id, 'set', '(blob "\\ca\\fe")']), '()');
    const cert = JSON.parse(await ok(['cert', id, '--json'])) as Record<string, unknown>;
    assert.equal(cert.verified, true);
    assert.equal(cert.certified_data, 'cafe');
    assert.equal(cert.subnet, node.subnetId.toText());
    assert.deepEqual(cert.matching_fields, ['data']);
  });

  it('exits 2 on usage errors, 1 on rejects, 3 when no replica answers', async () => {
    const id = await ok(['create']);
    await ok(['install', id, counterWasm]);
    const unknownMethod = await icpkHere(['call', id, 'nope']);
    assert.equal(unknownMethod.code, 2);
    assert.match(unknownMethod.stderr, /has no method 'nope'[\s\S]*add, get, inc/);
    const badArg = await icpkHere(['call', id, 'add', '("x")']);
    assert.equal(badArg.code, 2);
    assert.match(badArg.stderr, /expected nat/);
    assert.equal((await icpkHere(['frobnicate'])).code, 2);

    // Not a controller: the management canister refuses, with the IC's error code.
    const stranger = await icpkHere(['status', id, '--identity', 'anonymous', '--json']);
    assert.equal(stranger.code, 1);
    assert.match(stranger.stderr, /IC0512/);
    assert.equal((JSON.parse(stranger.stdout) as { exit_code: number }).exit_code, 1);

    const down = await icpkHere(['ping'], { ICPK_NETWORK: 'http://127.0.0.1:9' });
    assert.equal(down.code, 3);
    assert.match(down.stderr, /cannot reach a replica/);
  });

  it('signs with a PEM identity: secp256k1 (SEC1, as dfx exports it) or Ed25519 (PKCS#8)', async () => {
    const keys = [
      generateKeyPairSync('ec', { namedCurve: 'secp256k1' }).privateKey.export({ format: 'pem', type: 'sec1' }).toString(),
      generateKeyPairSync('ed25519').privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(),
    ];
    for (const [i, pem] of keys.entries()) {
      const path = join(configDir, `key-${i}.pem`);
      await writeFile(path, pem);
      const me = await ok(['whoami', '--identity', path]);
      const id = await ok(['create', '--identity', path]);
      const status = JSON.parse(await ok(['status', id, '--json', '--identity', path])) as { controllers: string[] };
      assert.deepEqual(status.controllers, [me]);
    }
  });

  it('start runs a replica that the other commands can use, until SIGINT', async () => {
    const child = spawn(ICPK, ['start', '--port', '0'], { env: { ...process.env, ICPK_CONFIG_DIR: configDir }, stdio: ['ignore', 'pipe', 'pipe'] });
    const url = await new Promise<string>((resolve, reject) => {
      let out = '';
      child.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        const m = /^url: (\S+)$/m.exec(out);
        if (m) resolve(m[1]!);
      });
      child.once('exit', (code) => reject(new Error(`icpk start exited with ${code}`)));
    });
    const ping = JSON.parse((await icpkHere(['ping', '--json'], { ICPK_NETWORK: url })).stdout) as Record<string, unknown>;
    assert.equal(ping.health, 'healthy');
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
    child.kill('SIGINT');
    assert.equal(await exited, 0);
  });

  it('start --subnets 2 runs two subnets whose canisters call each other', async () => {
    const child = spawn(ICPK, ['start', '--port', '0', '--subnets', '2'], { env: { ...process.env, ICPK_CONFIG_DIR: configDir }, stdio: ['ignore', 'pipe', 'pipe'] });
    const urls = await new Promise<string[]>((resolve, reject) => {
      let out = '';
      child.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        const found = [...out.matchAll(/^url: (\S+)$/gm)].map((m) => m[1]!);
        if (found.length === 2) resolve(found);
      });
      child.once('exit', (code) => reject(new Error(`icpk start exited with ${code}`)));
    });
    try {
      const [echoWasm, callerWasm] = (await Promise.all([compileMotoko('echo'), compileMotoko('caller')])).map((c) => c.wasmPath);
      const on = (url: string) => (args: string[]) => icpkHere(args, { ICPK_NETWORK: url }).then((r) => {
        assert.equal(r.code, 0, r.stderr);
        return r.stdout.trim();
      });
      const echo = await on(urls[1]!)(['create']);
      await on(urls[1]!)(['install', echo, echoWasm!]);
      const caller = await on(urls[0]!)(['create']);
      await on(urls[0]!)(['install', caller, callerWasm!, '--arg', `(principal "${echo}")`]);
      assert.match(await on(urls[0]!)(['call', caller, 'call_echo', '("across")']), /across/);
    } finally {
      const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
      child.kill('SIGINT');
      assert.equal(await exited, 0);
    }
  });
});

// The Candid text the CLI reads (service descriptions, arguments) and prints (replies). Unit
// tests, kept next to the CLI's end-to-end tests because the CLI is their only user.
describe('Candid text as icpk reads and prints it', () => {
  const did = parseDid(`
    // a comment /* and */ another
    type Tree = variant { leaf : nat; node : record { left : Tree; right : Tree } };
    type Person = record { name : text; age : nat8; tags : vec text; photo : opt blob; "odd name" : bool; 5 : int };
    service : (nat, opt text) -> {
      get : () -> (record { certificate : opt blob; data : blob }) query;
      tree : (Tree) -> (Tree, Person);
      pair : (record { nat; text }) -> () oneway;
    }`);
  const methods = methodsOf(did.service!);
  const roundTrip = (types: IDL.Type[], text: string) => formatValues(types, IDL.decode(types, encodeArgs(text, types).bytes));

  it('parses service descriptions: recursive types, tuples, init arguments, annotations', () => {
    assert.deepEqual([...methods.keys()], ['get', 'pair', 'tree']);
    assert.deepEqual(did.init!.map((t) => t.display()), ['nat', 'opt text']);
    assert.deepEqual(methods.get('get')!.annotations, ['query']);
    assert.deepEqual(methods.get('pair')!.annotations, ['oneway']);
    const tree = methods.get('tree')!.argTypes;
    assert.equal(
      roundTrip(tree, 'variant { node = record { left = variant { leaf = 1 }; right = variant { leaf = 2_000 } } }'),
      '(variant { node = record { left = variant { leaf = 1 : nat }; right = variant { leaf = 2_000 : nat } } })',
    );
    assert.equal(roundTrip(methods.get('pair')!.argTypes, '(record { 7; "x" })'), '(record { 7 : nat; "x" })');
  });

  it('reads values against their types, with escapes, blobs, opt coercion and defaults for missing opt fields', () => {
    const person = methods.get('tree')!.retTypes[1]!;
    assert.equal(
      roundTrip([person], '(record { name = "al\\"i\\u{e9}"; age = 42; tags = vec { "a"; "b" }; photo = blob "\\00\\ffab"; "odd name" = true; 5 = -3 })'),
      // Fields in Candid's canonical (field id) order.
      '(record { 5 = -3 : int; age = 42 : nat8; name = "al\\"ié"; tags = vec { "a"; "b" }; "odd name" = true; photo = opt blob "\\00\\ffab" })',
    );
    assert.equal(roundTrip([person], '(record { name = "b"; age = 1; tags = vec {}; "odd name" = false; 5 = 0 })').includes('photo = null'), true);
    assert.equal(roundTrip(did.init!, '(5)'), '(5 : nat, null)');
    assert.equal(roundTrip([IDL.Nat64, IDL.Int8, IDL.Float64, IDL.Principal], '(0xff, -128, 1.5e3, principal "aaaaa-aa")'), '(255 : nat64, -128 : int8, 1500 : float64, principal "aaaaa-aa")');
  });

  it('infers types when there is no interface, and honours annotations', () => {
    const { types } = encodeArgs('(42, -1, 1.5, "hi", opt vec { 1; 2 }, record { a = true; 7 = null }, (5 : nat8), variant { ok }, blob "\\01")');
    assert.equal(
      types.map((t) => t.display()).join(', '),
      'nat, int, float64, text, opt vec nat, record {_7_:null; a:bool}, nat8, variant {ok}, vec nat8',
    );
  });

  it('decodes replies from their own type table, field names shown as ids', () => {
    const bytes = encodeArgs('(record { a = 1; b = "x" })').bytes;
    const types = typesOfMessage(bytes);
    assert.equal(formatValues(types, IDL.decode(types, bytes)), '(record { 97 = 1 : nat; 98 = "x" })');
    assert.deepEqual(valuesToJson(types, IDL.decode(types, bytes)), [{ 97: '1', 98: 'x' }]);
  });

  it('says what is wrong, and where', () => {
    const person = methods.get('tree')!.retTypes[1]!;
    assert.throws(() => encodeArgs('(record { nam = "x" })', [person]), (e: unknown) => e instanceof CandidTypeError && /unexpected record field nam/.test(e.message));
    assert.throws(() => encodeArgs('(1, 2, 3)', did.init), /expected 2 arguments, got 3/);
    assert.throws(() => encodeArgs('(300)', [IDL.Nat8]), /out of range for nat8/);
    assert.throws(() => encodeArgs('("x")', [IDL.Nat]), /expected nat, got text/);
    assert.throws(() => encodeArgs('(record { a = 1'), (e: unknown) => e instanceof CandidSyntaxError && /expected '}'.*column 16/.test(e.message));
    assert.throws(() => parseDid('service : { f : (Missing) -> () }'), /unknown type Missing/);
  });
});
