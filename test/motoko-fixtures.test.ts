// The Motoko test canisters compile, compile reproducibly, and are cached.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { MOTOKO_CACHE_DIR, MotokoCompileError, compileMotoko } from './support/motoko.js';

// Each canister with the methods its Candid interface must offer.
const FIXTURES: Readonly<Record<string, readonly string[]>> = {
  counter: ['inc: () -> (nat);', 'get: () -> (nat) query;', 'add: (n: nat) -> (nat);'],
  upgrade: ['bump: () -> ();', 'read_stable: () -> (nat) query;', 'read_heap: () -> (nat) query;'],
  trap: ['write_then_trap: () -> ();', 'read: () -> (nat) query;'],
  loop: ['spin: () -> ();', 'work: (n: nat) -> (nat);'],
  mgmt: ['self_status: () -> (nat);', 'raw_rand: () -> (blob);'],
  echo: ['echo: (t: text) -> (text);', 'fail: () -> ();'],
  caller: ['service : (callee: principal) -> Caller', 'call_echo: (t: text) -> (text);', 'fanout: (n: nat) -> (nat);'],
  chain: ['ping: (hops: nat, next: vec principal) -> (nat);'],
  child: ['service : (parent: principal) -> Child', 'hello: (name: text) -> (text);'],
  parent: ['spawn: () -> (principal);', 'spawn_and_call: (name: text) -> (text);'],
  timer: ['ticks: () -> (nat) query;'],
  heartbeat: ['beats: () -> (nat) query;'],
};

const WASM_MAGIC = [0x00, 0x61, 0x73, 0x6d];

// The compile target is ES2022 without DOM typings: declare the part of the WebAssembly JS API used here.
interface WasmJsApi {
  validate(bytes: Uint8Array): boolean;
  Module: { new (bytes: Uint8Array): object; imports(module: object): { module: string; name: string }[] };
}
const wasmApi = (globalThis as unknown as { WebAssembly: WasmJsApi }).WebAssembly;

describe('Motoko fixtures', () => {
  for (const [name, methods] of Object.entries(FIXTURES)) {
    test(`${name}.mo compiles to a wasm32 canister with its Candid interface`, async () => {
      const { wasm, candid, wasmPath } = await compileMotoko(name);
      assert.deepEqual([...wasm.subarray(0, 4)], WASM_MAGIC);
      // Node 20 validates only wasm32 memories: this also checks the classic (32-bit) GC flag took.
      assert.ok(wasmApi.validate(wasm), `${name}.mo: wasm does not validate`);
      const imports = wasmApi.Module.imports(new wasmApi.Module(wasm));
      assert.ok(imports.some((i) => i.module === 'ic0'), `${name}.mo: no ic0 imports`);
      for (const method of methods) assert.ok(candid.includes(method), `${name}.mo: Candid lacks ${method}\n${candid}`);
      assert.ok(existsSync(wasmPath));
      assert.equal(await readFile(wasmPath.replace(/\.wasm$/, '.did'), 'utf8'), candid);
    });
  }

  test('parent.mo embeds the child actor class', async () => {
    const parent = await compileMotoko('parent');
    const child = await compileMotoko('child');
    assert.ok(parent.wasm.length > child.wasm.length);
  });
});

describe('compileMotoko', () => {
  // Unique to this test so that an earlier run's cache cannot answer the first call.
  const source = `persistent actor { public query func answer() : async Nat { ${Object.keys(FIXTURES).length} } };`;

  test('compiling the same source twice gives identical bytes (fresh compiler per compile)', async () => {
    // Compile something else in between: a reused compiler instance would number things differently.
    const first = await compileMotoko('repro', source, { cache: false });
    await compileMotoko('other', 'persistent actor { public func f() : async Text { "other" } };', { cache: false });
    const second = await compileMotoko('repro', source, { cache: false });
    assert.equal(first.fromCache, false);
    assert.equal(second.fromCache, false);
    assert.deepEqual(second.wasm, first.wasm);
    assert.equal(second.candid, first.candid);
  });

  test('a second compile of the same sources is served from .cache/motoko', async () => {
    const first = await compileMotoko('cached', source);
    assert.equal(first.wasmPath, join(MOTOKO_CACHE_DIR, `${first.cacheKey}.wasm`));
    assert.ok(existsSync(first.wasmPath));
    const second = await compileMotoko('cached', source);
    assert.equal(second.fromCache, true);
    assert.equal(second.cacheKey, first.cacheKey);
    assert.deepEqual(second.wasm, first.wasm);
    assert.equal(second.candid, first.candid);
    assert.match(second.candid, /answer: \(\) -> \(nat\) query;/);
  });

  test('the cache key depends on the sources', async () => {
    const a = await compileMotoko('keyed', 'persistent actor { public func a() : async () {} };');
    const b = await compileMotoko('keyed', 'persistent actor { public func b() : async () {} };');
    assert.notEqual(a.cacheKey, b.cacheKey);
  });

  test('several files: the entry imports a local module', async () => {
    const { candid } = await compileMotoko('main', {
      'main.mo': 'import Lib "lib"; persistent actor { public query func twice(n : Nat) : async Nat { Lib.twice(n) } };',
      'lib.mo': 'module { public func twice(n : Nat) : Nat { 2 * n } };',
    });
    assert.match(candid, /twice: \(n: nat\) -> \(nat\) query;/);
  });

  test('a syntax error names the file and line', async () => {
    const bad = 'persistent actor {\n  public func f() : async Nat {\n    1 +\n  };\n};\n';
    await assert.rejects(compileMotoko('bad', bad), (err: unknown) => {
      assert.ok(err instanceof MotokoCompileError);
      assert.match(err.message, /^Motoko compile of bad failed:/);
      assert.match(err.message, /bad\.mo:4: /);
      assert.equal(err.diagnostics[0]?.line, 4);
      assert.equal(err.diagnostics[0]?.code, 'M0001');
      // Short: no compiler source dumped into the message.
      assert.ok(err.message.length < 1000, err.message);
      return true;
    });
  });

  test('a type error is reported the same way', async () => {
    const bad = 'persistent actor {\n  public func f() : async Nat { "text" };\n};\n';
    await assert.rejects(compileMotoko('typo', bad), /typo\.mo:2: literal of type\s+Text\s+does not have expected type\s+Nat \(M0050\)/);
  });

  test('a missing fixture is a clear error', async () => {
    await assert.rejects(compileMotoko('no-such-canister'), /cannot read test\/canisters\/no-such-canister\.mo/);
  });
});
