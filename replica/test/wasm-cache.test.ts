// The compile cache: keyed by the SHA-256 of the decompressed module, compiled once, LRU-bounded.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import { gzipSync } from 'node:zlib';
import { wat } from '../../test/support/wat.js';
import { INSTRUMENTATION, InvalidWasmError, ModuleCache } from '../src/wasm/index.js';

const WA = (globalThis as unknown as {
  WebAssembly: { Instance: new (module: object, imports: object) => { exports: Record<string, unknown> } };
}).WebAssembly;

const moduleNumber = (n: number) =>
  wat(`(module (func (export "canister_query n") ) (func (export "value") (result i32) i32.const ${n}))`);

describe('ModuleCache', () => {
  it('prepares a module once per hash, whether gzipped or not', async () => {
    const bytes = await moduleNumber(1);
    const cache = new ModuleCache();
    const first = cache.prepare(bytes);
    assert.equal(first.hashHex, createHash('sha256').update(bytes).digest('hex'));
    assert.equal(first.hash.length, 32);
    assert.equal(first.originalSize, bytes.length);
    assert.deepEqual(first.info.methods.query, ['n']);
    const again = cache.prepare(bytes.slice());
    assert.equal(again.module, first.module, 'compiled once');
    const gzipped = gzipSync(bytes);
    const fromGzip = cache.prepare(gzipped);
    assert.equal(fromGzip.module, first.module);
    assert.equal(fromGzip.hashHex, first.hashHex);
    assert.equal(fromGzip.originalSize, gzipped.length);
    assert.equal(cache.size, 1);
  });

  it('yields an instantiable, instrumented module', async () => {
    const entry = new ModuleCache().prepare(await moduleNumber(7));
    const noop = () => {};
    const instance = new WA.Instance(entry.module, {
      [INSTRUMENTATION.importModule]: {
        out_of_instructions: noop, mark_dirty: noop, mark_dirty_range: noop,
        memory_grow_allowed: () => 1, call_depth_exceeded: noop,
      },
    });
    (instance.exports[INSTRUMENTATION.instructionCounterExport] as { value: bigint }).value = 100n;
    assert.equal((instance.exports.value as () => number)(), 7);
    assert.equal((instance.exports[INSTRUMENTATION.instructionCounterExport] as { value: bigint }).value, 98n);
  });

  it('evicts the least recently used entry', async () => {
    const [a, b, c] = await Promise.all([moduleNumber(1), moduleNumber(2), moduleNumber(3)]);
    const cache = new ModuleCache({}, 2);
    const ea = cache.prepare(a);
    const eb = cache.prepare(b);
    cache.prepare(a);
    const ec = cache.prepare(c);
    assert.equal(cache.size, 2);
    assert.equal(cache.peek(eb.hashHex), undefined);
    assert.equal(cache.peek(ea.hashHex), ea);
    assert.equal(cache.peek(ec.hashHex), ec);
  });

  it('rejects invalid modules with InvalidWasmError and caches nothing', async () => {
    const cache = new ModuleCache();
    const bad = await wat(`(module (import "ic0" "nope" (func)))`);
    assert.throws(() => cache.prepare(bad), (err: unknown) => err instanceof InvalidWasmError && err.rule === 'import-unknown');
    assert.throws(() => cache.prepare(Uint8Array.of(9, 9, 9)), (err: unknown) => err instanceof InvalidWasmError && err.rule === 'malformed');
    assert.equal(cache.size, 0);
  });

  it('applies its limits', async () => {
    const bytes = await moduleNumber(5);
    const cache = new ModuleCache({ maxFunctions: 1 });
    assert.throws(() => cache.prepare(bytes), (err: unknown) => err instanceof InvalidWasmError && err.rule === 'too-many-functions');
    const small = new ModuleCache({ maxWasmBytes: 16 });
    assert.throws(() => small.prepare(gzipSync(bytes)), (err: unknown) => err instanceof InvalidWasmError && err.rule === 'wasm-too-large');
  });
});
