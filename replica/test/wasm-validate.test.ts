// Install-time validation: one module per rule, malformed input of every kind, gzip, and a real
// Motoko canister.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { gzipSync } from 'node:zlib';
import { wat } from '../../test/support/wat.js';
import { compileMotoko } from '../../test/support/motoko.js';
import {
  DEFAULT_WASM_LIMITS, InvalidWasmError, decodeCanisterWasm, instrumentModule, validateModule, webAssembly,
  type InvalidWasmRule, type WasmLimits,
} from '../src/wasm/index.js';

// --- A small binary builder, for modules the text format cannot express. ---

function leb(n: number): number[] {
  const out: number[] = [];
  do {
    let b = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) b |= 0x80;
    out.push(b);
  } while (n > 0);
  return out;
}
const str = (s: string) => { const b = [...new TextEncoder().encode(s)]; return [...leb(b.length), ...b]; };
const section = (id: number, content: number[]) => [id, ...leb(content.length), ...content];
const vec = (items: number[][]) => [...leb(items.length), ...items.flat()];
const HEADER = [0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00];
const moduleOf = (...sections: number[][]) => Uint8Array.from([...HEADER, ...sections.flat()]);

function withCustomSection(bytes: Uint8Array, name: string, content: Uint8Array | number[]): Uint8Array {
  return Uint8Array.from([...bytes, ...section(0, [...str(name), ...content])]);
}

/** `n` functions of type [] -> [] with empty bodies, built directly into one buffer. */
function manyFunctions(n: number): Uint8Array {
  const types = section(1, vec([[0x60, 0, 0]]));
  const funcSection = [...leb(n), ...new Array<number>(n).fill(0)];
  const codeSection = [...leb(n)];
  for (let i = 0; i < n; i++) codeSection.push(2, 0, 0x0b);
  return moduleOf(types, section(3, funcSection), section(10, codeSection));
}

function rejects(bytes: Uint8Array, rule: InvalidWasmRule, limits?: Partial<WasmLimits>): InvalidWasmError {
  try {
    validateModule(bytes, { ...DEFAULT_WASM_LIMITS, ...limits });
  } catch (err) {
    assert.ok(err instanceof InvalidWasmError, `expected InvalidWasmError, got ${String(err)}`);
    assert.equal(err.rule, rule, err.message);
    assert.equal(err.name, 'InvalidWasmError');
    assert.equal(err.code, 505);
    return err;
  }
  assert.fail(`expected rejection with rule '${rule}'`);
}

/** Deterministic pseudo-random bytes (xorshift32), so failures reproduce. */
function randomBytes(seed: number, length: number): Uint8Array {
  let x = seed | 1;
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

const CANISTER = `(module
  (import "ic0" "msg_reply" (func $reply))
  (import "ic0" "msg_arg_data_size" (func $size (result i32)))
  (import "ic0" "msg_reply_data_append" (func $append (param i32 i32)))
  (memory (export "memory") 2 16)
  (table 1 funcref)
  (global $n (mut i32) (i32.const 0))
  (data (i32.const 16) "hello")
  (elem (i32.const 0) $go)
  (start $setup)
  (func $setup i32.const 1 global.set $n)
  (func $go call $reply)
  (func $read i32.const 16 i32.const 5 call $append call $reply)
  (export "canister_init" (func $setup))
  (export "canister_update zeta" (func $go))
  (export "canister_update alpha" (func $go))
  (export "canister_query read" (func $read))
  (export "canister_composite_query both" (func $read))
  (export "canister_heartbeat" (func $go))
  (export "canister_on_low_wasm_memory" (func $go))
  (export "helper" (func $read)))`;

describe('accepted modules', () => {
  it('describes a canister: methods, entry points, memory, start, imports, metadata', async () => {
    let bytes = await wat(CANISTER);
    bytes = withCustomSection(bytes, 'icp:public candid:service', new TextEncoder().encode('service : {}'));
    bytes = withCustomSection(bytes, 'icp:private notes', [1, 2, 3]);
    bytes = withCustomSection(bytes, 'name-of-a-tool', [9, 9]);
    const info = validateModule(bytes);
    assert.deepEqual(info.methods, { update: ['alpha', 'zeta'], query: ['read'], compositeQuery: ['both'] });
    assert.deepEqual(info.systemMethods, {
      init: true, preUpgrade: false, postUpgrade: false, inspectMessage: false,
      heartbeat: true, globalTimer: false, onLowWasmMemory: true,
    });
    assert.deepEqual(info.memory, { minPages: 2, maxPages: 16 });
    assert.equal(info.hasStart, true);
    assert.deepEqual(info.imports, ['msg_reply', 'msg_arg_data_size', 'msg_reply_data_append']);
    assert.equal(info.wasmBytes, bytes.length);
    assert.equal(info.functionCount, 3);
    assert.equal(info.instructionCount, 3 + 2 + 5);
    assert.equal(info.largestFunctionInstructionCount, 5);
    assert.deepEqual([...info.metadata.keys()], ['candid:service', 'notes']);
    assert.equal(info.metadata.get('candid:service')!.visibility, 'public');
    assert.equal(new TextDecoder().decode(info.metadata.get('candid:service')!.content), 'service : {}');
    assert.deepEqual(info.metadata.get('notes'), { visibility: 'private', content: Uint8Array.of(1, 2, 3) });
  });

  it('accepts the empty module', async () => {
    const info = validateModule(await wat('(module)'));
    assert.deepEqual(info.methods, { update: [], query: [], compositeQuery: [] });
    assert.equal(info.memory, undefined);
    assert.equal(info.hasStart, false);
  });

  it('lists the OS pages active data segments initialise', async () => {
    const info = validateModule(await wat(`(module (memory 2) (data $passive "zz")
      (data (i32.const 8192) "")
      (data (i32.const 40000) "abc")
      (data (i32.const 4095) "xy")
      (data (i32.const 10) "a"))`));
    assert.deepEqual(info.dataPages, [0, 1, 9]);
    assert.deepEqual(validateModule(await wat('(module)')).dataPages, []);
  });

  it('accepts a real Motoko canister', async () => {
    const { wasm } = await compileMotoko('counter');
    const info = validateModule(wasm);
    assert.deepEqual(info.methods.update, ['__motoko_async_helper', '__motoko_gc_trigger', 'add', 'inc']);
    assert.deepEqual(info.methods.query, ['__motoko_runtime_information', '__motoko_stable_var_info', 'get']);
    assert.equal(info.systemMethods.init, true);
    assert.equal(info.systemMethods.preUpgrade, true);
    assert.equal(info.systemMethods.postUpgrade, true);
    assert.ok(info.imports.includes('msg_reply'));
    assert.notEqual(info.memory, undefined);
  });

  it('accepts sign-extension, saturating truncation, bulk memory, multi-value and reference types', async () => {
    validateModule(await wat(`(module (memory 1) (table 2 funcref) (data $d "x") (elem $e func $f)
      (func $f (param i32) (result i32 i64)
        local.get 0 i32.extend8_s f64.const 1 i32.trunc_sat_f64_s i32.add
        i32.const 0 i32.const 0 i32.const 1 memory.init $d data.drop $d
        i32.const 0 i32.const 0 i32.const 0 memory.copy
        i32.const 0 ref.func $f table.set 0 i32.const 0 table.get 0 ref.is_null drop
        ref.null func i32.const 0 table.grow 0 drop table.size 0 drop
        i32.const 0 i32.const 0 i32.const 1 table.init $e elem.drop $e
        i32.const 1 i32.const 2 i32.const 1 select (result i32) drop
        i64.const 1))`));
  });
});

describe('rejected modules: one per rule', () => {
  it('import-unknown: a function the runtime does not export', async () => {
    const err = rejects(await wat(`(module (import "ic0" "foo" (func)))`), 'import-unknown');
    assert.equal(err.message, "Wasm module has an invalid import section. Module imports function 'foo' from 'ic0' that is not exported by the runtime.");
  });

  it('import-unknown: a known function from another module', async () => {
    const err = rejects(await wat(`(module (import "env" "msg_reply" (func)))`), 'import-unknown');
    assert.match(err.message, /'msg_reply' from 'env'/);
  });

  it('import-signature: a known function with the wrong type', async () => {
    const err = rejects(await wat(`(module (import "ic0" "msg_reply" (func (param i32))))`), 'import-signature');
    assert.match(err.message, /the runtime exports it as \[\] -> \[\], the module declares \[i32\] -> \[\]/);
  });

  for (const [kind, decl] of [['memory', '(memory 1)'], ['table', '(table 1 funcref)'], ['global', '(global i32)']] as const) {
    it(`import-kind: an imported ${kind}`, async () => {
      const err = rejects(await wat(`(module (import "env" "x" ${decl}))`), 'import-kind');
      assert.match(err.message, new RegExp(`Importing ${kind}s is not allowed`));
    });
  }

  it('too-many-functions: 100 000 functions are rejected quickly', () => {
    const bytes = manyFunctions(100_000);
    const started = performance.now();
    const err = rejects(bytes, 'too-many-functions');
    assert.ok(performance.now() - started < 50, 'rejected before decoding the bodies');
    assert.equal(err.message, 'Wasm module defined 100000 functions which exceeds the maximum number allowed 50000.');
  });

  it('50 000 functions are accepted', () => {
    validateModule(manyFunctions(50_000));
  });

  it('too-many-globals', async () => {
    const globals = Array.from({ length: 1001 }, () => '(global i32 (i32.const 0))').join(' ');
    rejects(await wat(`(module ${globals})`), 'too-many-globals');
  });

  it('global-type: a funcref global', async () => {
    rejects(await wat(`(module (global funcref (ref.null func)))`), 'global-type');
  });

  it('too-many-exports: 1001 methods', async () => {
    const exports = Array.from({ length: 1001 }, (_, i) => `(export "canister_query m${i}" (func $f))`).join(' ');
    rejects(await wat(`(module (func $f) ${exports})`), 'too-many-exports');
  });

  it('export-names-too-long: method names summing over 20 000', async () => {
    const a = 'a'.repeat(10_000);
    const b = 'b'.repeat(10_001);
    rejects(await wat(`(module (func $f) (export "canister_update ${a}" (func $f)) (export "canister_query ${b}" (func $f)))`), 'export-names-too-long');
  });

  it('duplicate-method: the same name as update and query', async () => {
    const err = rejects(await wat(`(module (func $f) (export "canister_update foo" (func $f)) (export "canister_query foo" (func $f)))`), 'duplicate-method');
    assert.match(err.message, /Duplicate function 'foo' exported multiple times/);
  });

  it('duplicate-method: composite query and update', async () => {
    rejects(await wat(`(module (func $f) (export "canister_composite_query x" (func $f)) (export "canister_update x" (func $f)))`), 'duplicate-method');
  });

  for (const name of ['canister_foo', 'canister_update', 'canister_start', 'canister_query_x']) {
    it(`invalid-canister-export: '${name}'`, async () => {
      rejects(await wat(`(module (func $f) (export "${name}" (func $f)))`), 'invalid-canister-export');
    });
  }

  it('export-signature: a method with a parameter', async () => {
    const err = rejects(await wat(`(module (func $f (param i32)) (export "canister_update f" (func $f)))`), 'export-signature');
    assert.match(err.message, /'canister_update f' must have type \[\] -> \[\], but has \[i32\] -> \[\]/);
  });

  it('export-signature: canister_init with a result', async () => {
    rejects(await wat(`(module (func $f (result i32) i32.const 0) (export "canister_init" (func $f)))`), 'export-signature');
  });

  it('export-signature: an imported function exported as an entry point', async () => {
    rejects(await wat(`(module (import "ic0" "msg_arg_data_size" (func $s (result i32))) (export "canister_heartbeat" (func $s)))`), 'export-signature');
  });

  it('reserved-export: the __icpk prefix', async () => {
    rejects(await wat(`(module (global i32 (i32.const 0)) (export "__icpk_instructions" (global 0)))`), 'reserved-export');
  });

  it('other exports are allowed, whatever their signature', async () => {
    validateModule(await wat(`(module (func $f (param i32) (result i32) local.get 0) (export "helper" (func $f)) (memory (export "canister_memory") 1))`));
  });

  it('too-many-custom-sections: 17 icp sections', async () => {
    let bytes = await wat('(module)');
    for (let i = 0; i < 17; i++) bytes = withCustomSection(bytes, `icp:public s${i}`, [i]);
    rejects(bytes, 'too-many-custom-sections');
    // Other custom sections do not count.
    let other = await wat('(module)');
    for (let i = 0; i < 40; i++) other = withCustomSection(other, `tool ${i}`, [i]);
    validateModule(other);
  });

  it('custom-section-too-large: contents plus names over 1 MiB', async () => {
    const bytes = withCustomSection(await wat('(module)'), 'icp:private big', new Uint8Array(1024 * 1024 - 2));
    const err = rejects(bytes, 'custom-section-too-large');
    assert.match(err.message, /size 1048577 bytes, allowed 1048576 bytes/);
    validateModule(withCustomSection(await wat('(module)'), 'icp:private big', new Uint8Array(1024 * 1024 - 3)));
  });

  it('duplicate-metadata: the same name public and private', async () => {
    let bytes = withCustomSection(await wat('(module)'), 'icp:public a', [1]);
    bytes = withCustomSection(bytes, 'icp:private a', [2]);
    rejects(bytes, 'duplicate-metadata');
  });

  for (const name of ['icp:foo x', 'icp:public', 'icp:private']) {
    it(`custom-section-name: '${name}'`, async () => {
      rejects(withCustomSection(await wat('(module)'), name, []), 'custom-section-name');
    });
  }

  it('multiple-memories', () => {
    rejects(moduleOf(section(5, vec([[0, 1], [0, 1]]))), 'multiple-memories');
  });

  it('memory64', async () => {
    rejects(await wat('(module (memory i64 1))', { memory64: true }), 'memory64');
  });

  it('multiple-tables', async () => {
    rejects(await wat('(module (table 1 funcref) (table 1 funcref))'), 'multiple-tables');
  });

  it('table-too-large', async () => {
    rejects(await wat('(module (table 1000001 funcref))'), 'table-too-large');
    validateModule(await wat('(module (table 1000000 funcref))'));
  });

  it('too-many-data-segments', async () => {
    const bytes = await wat('(module (memory 1) (data (i32.const 0) "a") (data (i32.const 1) "b") (data (i32.const 2) "c"))');
    rejects(bytes, 'too-many-data-segments', { maxDataSegments: 2 });
    validateModule(bytes, { ...DEFAULT_WASM_LIMITS, maxDataSegments: 3 });
  });

  it('too-many-data-segments: a huge count is rejected before reading the segments', () => {
    const bytes = moduleOf(section(5, vec([[0, 1]])), section(11, [...leb(200_000), 1, 0]));
    rejects(bytes, 'too-many-data-segments');
  });

  it('data-offset: an offset that is not an i32.const', () => {
    const bytes = moduleOf(
      section(5, vec([[0, 1]])),
      section(6, vec([[0x7f, 0, 0x41, 0, 0x0b]])),
      section(11, vec([[0, 0x23, 0, 0x0b, ...leb(1), 0x61]])),
    );
    rejects(bytes, 'data-offset');
  });

  it('code-too-large', async () => {
    rejects(await wat('(module (func i32.const 1 drop i32.const 1 drop))'), 'code-too-large', { maxCodeSectionBytes: 8 });
  });

  it('function-too-large: instructions per function (end included)', async () => {
    const bytes = await wat('(module (func i32.const 1 drop i32.const 1 drop nop))');
    const err = rejects(bytes, 'function-too-large', { maxFunctionInstructions: 5 });
    assert.match(err.message, /function at index 0 of size 6 that exceeds the maximum allowed size of 5/);
    validateModule(bytes, { ...DEFAULT_WASM_LIMITS, maxFunctionInstructions: 6 });
  });

  it('function-too-complex', async () => {
    // Three calls at complexity 50 each, plus `end`.
    const bytes = await wat('(module (func $f call $f call $f call $f))');
    rejects(bytes, 'function-too-complex', { maxFunctionComplexity: 150 });
    validateModule(bytes, { ...DEFAULT_WASM_LIMITS, maxFunctionComplexity: 151 });
  });

  it('too-many-locals', () => {
    const body = [1, ...leb(60_000), 0x7f, 0x0b];
    const bytes = moduleOf(section(1, vec([[0x60, 0, 0]])), section(3, vec([[0]])), section(10, vec([[...leb(body.length), ...body]])));
    rejects(bytes, 'too-many-locals');
  });

  it('unsupported-proposal: a SIMD instruction names the opcode', async () => {
    const err = rejects(await wat('(module (func v128.const i32x4 0 0 0 0 drop))'), 'unsupported-proposal');
    assert.match(err.message, /instruction 0xfd 0x0c from the SIMD proposal/);
  });

  it('unsupported-proposal: a v128 parameter', async () => {
    rejects(await wat('(module (func (param v128)))'), 'unsupported-proposal');
  });

  it('unsupported-proposal: tail calls', async () => {
    const err = rejects(await wat('(module (func $f return_call $f))', { tail_call: true }), 'unsupported-proposal');
    assert.match(err.message, /tail calls/);
  });

  it('unsupported-proposal: atomics', () => {
    const body = [0, 0x41, 0, 0xfe, 0x10, 2, 0, 0x1a, 0x0b]; // i32.atomic.load
    const bytes = moduleOf(section(1, vec([[0x60, 0, 0]])), section(3, vec([[0]])), section(5, vec([[0, 1]])), section(10, vec([[...leb(body.length), ...body]])));
    const err = rejects(bytes, 'unsupported-proposal');
    assert.match(err.message, /threads/);
  });

  it('malformed: V8 has the last word on typing', () => {
    // A function declared to return i32 whose body is empty.
    const bytes = moduleOf(section(1, vec([[0x60, 0, 1, 0x7f]])), section(3, vec([[0]])), section(10, vec([[2, 0, 0x0b]])));
    const err = rejects(bytes, 'malformed');
    assert.match(err.message, /^Wasm module is not valid WebAssembly: .+/);
  });

  it('wasm-too-large', async () => {
    rejects(await wat('(module (func))'), 'wasm-too-large', { maxWasmBytes: 10 });
  });
});

describe('malformed input always yields InvalidWasmError', () => {
  it('random bytes, with and without a wasm header', () => {
    for (let seed = 1; seed <= 300; seed++) {
      const noise = randomBytes(seed, 1 + (seed * 7) % 200);
      rejects(noise, 'malformed');
      const headed = Uint8Array.from([...HEADER, ...noise]);
      try {
        validateModule(headed);
      } catch (err) {
        assert.ok(err instanceof InvalidWasmError, `seed ${seed}: ${String(err)}`);
      }
    }
  });

  it('every prefix of a real module', async () => {
    const bytes = await wat(CANISTER);
    // Prefixes that end exactly between sections are well-formed modules of their own.
    const boundaries = new Set<number>([8]);
    for (let pos = 8; pos < bytes.length;) {
      pos += 1;
      let size = 0;
      let scale = 1;
      for (;;) {
        const b = bytes[pos++]!;
        size += (b & 0x7f) * scale;
        scale *= 128;
        if (b < 0x80) break;
      }
      pos += size;
      boundaries.add(pos);
    }
    let rejected = 0;
    for (let n = 0; n < bytes.length; n++) {
      try {
        validateModule(bytes.subarray(0, n));
        assert.ok(boundaries.has(n), `prefix of ${n} bytes was accepted`);
      } catch (err) {
        assert.ok(err instanceof InvalidWasmError, `prefix ${n}: ${String(err)}`);
        rejected++;
      }
    }
    assert.ok(rejected > bytes.length - boundaries.size - 1);
  });

  it('every single-byte corruption of a real module; what passes also instruments', async () => {
    const bytes = await wat(CANISTER);
    let accepted = 0;
    for (let i = 0; i < bytes.length; i++) {
      for (const value of [0x00, 0x80, 0xff, bytes[i]! ^ 0x01]) {
        const corrupt = bytes.slice();
        corrupt[i] = value;
        let info;
        try {
          info = validateModule(corrupt);
        } catch (err) {
          assert.ok(err instanceof InvalidWasmError, `byte ${i} = ${value}: ${String(err)}`);
          continue;
        }
        accepted++;
        assert.ok(webAssembly.validate(instrumentModule(corrupt, info).bytes), `byte ${i} = ${value}: instrumented output is valid`);
      }
    }
    assert.ok(accepted > 0);
  });

  it('a data segment claiming 4 GiB is rejected without allocating', () => {
    const bytes = moduleOf(section(5, vec([[0, 1]])), section(11, [1, 0, 0x41, 0, 0x0b, ...leb(0xffffffff), 1, 2, 3]));
    const err = rejects(bytes, 'malformed');
    assert.match(err.message, /length 4294967295 runs past the end/);
  });

  it('a vector count past the end, an over-long LEB128, a section past the end', () => {
    rejects(moduleOf(section(1, [...leb(0xffffffff), 0x60, 0, 0])), 'malformed');
    rejects(moduleOf([1, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00]), 'malformed');
    rejects(moduleOf([1, 0x80, 0x80, 0x80, 0x80, 0x7f]), 'malformed');
    rejects(moduleOf([1, 100, 0]), 'malformed');
  });

  it('sections out of order or duplicated', () => {
    rejects(moduleOf(section(3, vec([])), section(1, vec([]))), 'malformed');
    rejects(moduleOf(section(1, vec([])), section(1, vec([]))), 'malformed');
  });

  it('a wrong magic number or version', () => {
    rejects(Uint8Array.of(0, 0x61, 0x73, 0x6e, 1, 0, 0, 0), 'malformed');
    rejects(Uint8Array.of(0, 0x61, 0x73, 0x6d, 0x0d, 0, 1, 0), 'malformed');
    rejects(new Uint8Array(0), 'malformed');
  });
});

describe('decodeCanisterWasm', () => {
  it('returns a plain module as it is', async () => {
    const bytes = await wat(CANISTER);
    assert.equal(decodeCanisterWasm(bytes, 1 << 20), bytes);
  });

  it('gunzips a gzipped module', async () => {
    const bytes = await wat(CANISTER);
    assert.deepEqual(decodeCanisterWasm(gzipSync(bytes), 1 << 20), bytes);
  });

  it('bounds the decompressed size', async () => {
    const small = await wat(CANISTER);
    const bomb = gzipSync(Uint8Array.from([...HEADER, ...new Uint8Array(4 << 20)]));
    assert.ok(bomb.length < 10_000);
    assert.throws(() => decodeCanisterWasm(bomb, 1 << 20), (err: unknown) => err instanceof InvalidWasmError && err.rule === 'wasm-too-large');
    assert.throws(() => decodeCanisterWasm(small, 10), (err: unknown) => err instanceof InvalidWasmError && err.rule === 'wasm-too-large');
  });

  it('rejects other magic numbers, corrupt gzip, and gzip of something else', () => {
    const malformed = (err: unknown) => err instanceof InvalidWasmError && err.rule === 'malformed';
    assert.throws(() => decodeCanisterWasm(Uint8Array.of(1, 2, 3, 4), 100), malformed);
    assert.throws(() => decodeCanisterWasm(Uint8Array.of(0x1f, 0x8b, 8, 0, 1, 2, 3), 100), malformed);
    assert.throws(() => decodeCanisterWasm(gzipSync(Buffer.from('not wasm')), 100), malformed);
  });
});
