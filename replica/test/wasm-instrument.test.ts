// Instrumentation: exact instruction counts per instruction class, check points, dirty pages,
// memory.grow gating, call depth, NaN canonicalisation, exports and index renumbering.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { wat } from '../../test/support/wat.js';
import { compileMotoko } from '../../test/support/motoko.js';
import {
  INSTRUMENTATION, instrumentModule, validateModule, webAssembly, type InstrumentedModule, type ModuleInfo,
} from '../src/wasm/index.js';

// The engine's WebAssembly API, as far as these tests use it (lib ES2022 has no typings for it).
interface WasmGlobal { value: number | bigint }
interface WasmMemory { buffer: ArrayBuffer; grow(pages: number): number }
interface WasmTable { get(i: number): unknown; length: number }
type Exports = Record<string, unknown>;
const WA = (globalThis as unknown as {
  WebAssembly: {
    Module: new (bytes: Uint8Array) => object;
    Instance: new (module: object, imports: Record<string, Record<string, unknown>>) => { exports: Exports };
  };
}).WebAssembly;

class OutOfInstructions extends Error {}
class CallDepthExceeded extends Error {}

interface Host {
  readonly exports: Exports;
  readonly instrumented: InstrumentedModule;
  readonly info: ModuleInfo;
  /** Every page passed to mark_dirty, in call order. */
  readonly dirtyCalls: number[];
  readonly dirtyRanges: [number, number][];
  readonly growRequests: number[];
  outOfInstructionsCalls: number;
  callDepthExceededCalls: number;
  allowGrow: boolean;
  /** Called on out_of_instructions; default: trap. */
  onOutOfInstructions: (host: Host) => void;
  counter: bigint;
  readonly depth: number;
  readonly dirtyPage: number;
  /** Runs export `name` with a fresh counter and returns the instructions it consumed. */
  measure(name: string, ...args: unknown[]): number;
  global(name: string): WasmGlobal;
}

async function instantiate(
  text: string,
  options: { maxCallDepth?: number; ic0?: Record<string, unknown> } = {},
): Promise<Host> {
  const bytes = await wat(text);
  const info = validateModule(bytes);
  const instrumented = instrumentModule(bytes, info, { maxCallDepth: options.maxCallDepth ?? 10_000 });
  assert.ok(webAssembly.validate(instrumented.bytes), 'instrumented module validates');
  let self!: Host;
  const imports = {
    ic0: options.ic0 ?? {},
    [INSTRUMENTATION.importModule]: {
      out_of_instructions: () => {
        self.outOfInstructionsCalls++;
        self.onOutOfInstructions(self);
      },
      mark_dirty: (page: number) => {
        self.dirtyCalls.push(page);
      },
      mark_dirty_range: (start: number, length: number) => {
        self.dirtyRanges.push([start >>> 0, length >>> 0]);
      },
      memory_grow_allowed: (delta: number) => {
        self.growRequests.push(delta);
        return self.allowGrow ? 1 : 0;
      },
      call_depth_exceeded: () => {
        self.callDepthExceededCalls++;
        throw new CallDepthExceeded();
      },
    },
  };
  const instance = new WA.Instance(new WA.Module(instrumented.bytes), imports);
  const exports = instance.exports;
  const global = (name: string) => exports[name] as WasmGlobal;
  self = {
    exports, instrumented, info,
    dirtyCalls: [], dirtyRanges: [], growRequests: [],
    outOfInstructionsCalls: 0, callDepthExceededCalls: 0, allowGrow: true,
    onOutOfInstructions: () => { throw new OutOfInstructions(); },
    get counter() { return global(INSTRUMENTATION.instructionCounterExport).value as bigint; },
    set counter(v: bigint) { global(INSTRUMENTATION.instructionCounterExport).value = v; },
    get depth() { return global(INSTRUMENTATION.callDepthExport).value as number; },
    get dirtyPage() { return global(INSTRUMENTATION.dirtyPageExport).value as number; },
    measure(name: string, ...args: unknown[]) {
      const start = 1_000_000_000n;
      self.counter = start;
      (exports[name] as (...a: unknown[]) => unknown)(...args);
      return Number(start - self.counter);
    },
    global,
  };
  self.counter = 1_000_000_000n;
  return self;
}

// One module holds every cost row as its own exported function, so the table below is the
// whole specification of costs: entry (1) + the static cost of each instruction executed
// (IC instruction_to_cost) + 1 per byte/element of bulk operations.
const COST_ROWS: { name: string; body: string; expected: number }[] = [
  { name: 'empty function', body: '', expected: 1 },
  { name: 'nop', body: 'nop', expected: 1 + 1 },
  { name: 'i32.const + drop', body: 'i32.const 1 drop', expected: 1 + 1 + 1 },
  { name: 'i32.add', body: 'i32.const 1 i32.const 2 i32.add drop', expected: 1 + 1 + 1 + 1 + 1 },
  { name: 'i64.mul', body: 'i64.const 3 i64.const 4 i64.mul drop', expected: 1 + 1 + 1 + 1 + 1 },
  { name: 'i32.div_s', body: 'i32.const 7 i32.const 2 i32.div_s drop', expected: 1 + 1 + 1 + 10 + 1 },
  { name: 'i64.rem_u', body: 'i64.const 7 i64.const 2 i64.rem_u drop', expected: 1 + 1 + 1 + 10 + 1 },
  { name: 'i32.popcnt', body: 'i32.const 7 i32.popcnt drop', expected: 1 + 1 + 1 + 1 },
  { name: 'i32.eqz', body: 'i32.const 7 i32.eqz drop', expected: 1 + 1 + 1 + 1 },
  { name: 'f64.add', body: 'f64.const 1 f64.const 2 f64.add drop', expected: 1 + 1 + 1 + 2 + 1 },
  { name: 'f32.mul', body: 'f32.const 1 f32.const 2 f32.mul drop', expected: 1 + 1 + 1 + 2 + 1 },
  { name: 'f32.div', body: 'f32.const 1 f32.const 3 f32.div drop', expected: 1 + 1 + 1 + 3 + 1 },
  { name: 'f64.div', body: 'f64.const 1 f64.const 3 f64.div drop', expected: 1 + 1 + 1 + 5 + 1 },
  { name: 'f64.sqrt', body: 'f64.const 2 f64.sqrt drop', expected: 1 + 1 + 8 + 1 },
  { name: 'f32.sqrt', body: 'f32.const 2 f32.sqrt drop', expected: 1 + 1 + 5 + 1 },
  { name: 'f64.min', body: 'f64.const 1 f64.const 2 f64.min drop', expected: 1 + 1 + 1 + 18 + 1 },
  { name: 'f64.copysign', body: 'f64.const 1 f64.const 2 f64.copysign drop', expected: 1 + 1 + 1 + 3 + 1 },
  { name: 'f64.neg', body: 'f64.const 1 f64.neg drop', expected: 1 + 1 + 1 + 1 },
  { name: 'f64.lt', body: 'f64.const 1 f64.const 2 f64.lt drop', expected: 1 + 1 + 1 + 3 + 1 },
  { name: 'f64.convert_i64_u', body: 'i64.const 1 f64.convert_i64_u drop', expected: 1 + 1 + 16 + 1 },
  { name: 'f64.convert_i64_s', body: 'i64.const 1 f64.convert_i64_s drop', expected: 1 + 1 + 3 + 1 },
  { name: 'i32.trunc_f64_s', body: 'f64.const 1 i32.trunc_f64_s drop', expected: 1 + 1 + 20 + 1 },
  { name: 'i32.trunc_sat_f64_u', body: 'f64.const 1 i32.trunc_sat_f64_u drop', expected: 1 + 1 + 20 + 1 },
  { name: 'f32.demote_f64', body: 'f64.const 1 f32.demote_f64 drop', expected: 1 + 1 + 1 + 1 },
  { name: 'i64.extend_i32_u', body: 'i32.const 1 i64.extend_i32_u drop', expected: 1 + 1 + 1 + 1 },
  { name: 'local.get + local.set', body: 'local.get $i local.set $i', expected: 1 + 1 + 1 },
  { name: 'local.tee', body: 'i32.const 1 local.tee $i drop', expected: 1 + 1 + 1 + 1 },
  { name: 'global.get + global.set', body: 'global.get $g global.set $g', expected: 1 + 2 + 2 },
  { name: 'i32.load', body: 'i32.const 0 i32.load drop', expected: 1 + 1 + 1 + 1 },
  { name: 'i64.load32_u', body: 'i32.const 0 i64.load32_u offset=4 drop', expected: 1 + 1 + 1 + 1 },
  { name: 'i64.store', body: 'i32.const 8 i64.const 1 i64.store', expected: 1 + 1 + 1 + 1 },
  { name: 'f32.store', body: 'i32.const 8 f32.const 1 f32.store offset=4', expected: 1 + 1 + 1 + 1 },
  { name: 'select', body: 'i32.const 1 i32.const 2 i32.const 0 select drop', expected: 1 + 1 + 1 + 1 + 1 + 1 },
  { name: 'typed select', body: 'i32.const 1 i32.const 2 i32.const 0 select (result i32) drop', expected: 1 + 1 + 1 + 1 + 1 + 1 },
  { name: 'call (callee: entry 1)', body: 'call $nop', expected: 1 + 5 + 1 },
  { name: 'call with arguments', body: 'i32.const 1 i32.const 2 call $add drop', expected: (1 + 1 + 1 + 5 + 1) + (1 + 1 + 1 + 1) },
  { name: 'call_indirect', body: 'i32.const 0 call_indirect (type $void)', expected: 1 + 1 + 10 + 1 },
  { name: 'br', body: 'block br 0 end', expected: 1 + 0 + 2 },
  { name: 'br_if taken', body: 'block i32.const 1 br_if 0 i32.const 5 drop end', expected: 1 + 1 + 2 },
  { name: 'br_if not taken', body: 'block i32.const 0 br_if 0 i32.const 5 drop end', expected: 1 + 1 + 2 + (1 + 1) },
  { name: 'br_table', body: 'block block i32.const 1 br_table 0 1 end i32.const 9 drop end', expected: 1 + 1 + 2 },
  { name: 'if (then)', body: 'i32.const 1 if i32.const 2 drop else i32.const 3 drop i32.const 4 drop end', expected: 1 + 1 + 2 + (1 + 1) },
  { name: 'if (else)', body: 'i32.const 0 if i32.const 2 drop else i32.const 3 drop i32.const 4 drop end', expected: 1 + 1 + 2 + (1 + 1 + 1 + 1) },
  {
    name: 'loop, 3 iterations',
    body: 'i32.const 3 local.set $i loop local.get $i i32.const 1 i32.sub local.tee $i br_if 0 end',
    expected: 1 + 1 + 1 + 3 * (1 + 1 + 1 + 1 + 2),
  },
  { name: 'return', body: 'i32.const 1 drop return', expected: 1 + 1 + 1 + 1 },
  { name: 'memory.size', body: 'memory.size drop', expected: 1 + 20 + 1 },
  { name: 'memory.grow', body: 'i32.const 1 memory.grow drop', expected: 1 + 1 + 300 + 1 },
  { name: 'memory.fill of 1000 bytes', body: 'i32.const 0 i32.const 7 i32.const 1000 memory.fill', expected: 1 + 3 + 100 + 1000 },
  { name: 'memory.fill of 0 bytes', body: 'i32.const 0 i32.const 7 i32.const 0 memory.fill', expected: 1 + 3 + 100 },
  { name: 'memory.copy of 500 bytes', body: 'i32.const 0 i32.const 1000 i32.const 500 memory.copy', expected: 1 + 3 + 100 + 500 },
  { name: 'memory.init of 4 bytes', body: 'i32.const 0 i32.const 0 i32.const 4 memory.init $d', expected: 1 + 3 + 100 + 4 },
  { name: 'data.drop', body: 'data.drop $d', expected: 1 + 300 },
  { name: 'ref.func', body: 'ref.func $nop drop', expected: 1 + 130 + 1 },
  { name: 'ref.null + ref.is_null', body: 'ref.null func ref.is_null drop', expected: 1 + 1 + 5 + 1 },
  { name: 'table.get', body: 'i32.const 0 table.get 0 drop', expected: 1 + 1 + 5 + 1 },
  { name: 'table.size', body: 'table.size 0 drop', expected: 1 + 100 + 1 },
  { name: 'table.grow', body: 'ref.null func i32.const 1 table.grow 0 drop', expected: 1 + 1 + 1 + 300 + 1 },
  { name: 'table.fill of 1 element', body: 'i32.const 0 ref.null func i32.const 1 table.fill 0', expected: 1 + 3 + 100 + 1 },
  { name: 'table.copy of 1 element', body: 'i32.const 1 i32.const 0 i32.const 1 table.copy', expected: 1 + 3 + 100 + 1 },
  { name: 'table.init of 1 element', body: 'i32.const 0 i32.const 0 i32.const 1 table.init $e', expected: 1 + 3 + 100 + 1 },
  { name: 'elem.drop', body: 'elem.drop $e', expected: 1 + 300 },
];

const COST_MODULE = `(module
  (type $void (func))
  (memory 1)
  (table 2 funcref)
  (global $g (mut i32) (i32.const 0))
  (elem (i32.const 0) $nop)
  (elem $e func $nop)
  (elem declare func $nop)
  (data $d "abcdefgh")
  (func $nop)
  (func $add (param i32 i32) (result i32) local.get 0 local.get 1 i32.add)
  ${COST_ROWS.map((row, i) => `(func (export "row${i}") (local $i i32) ${row.body})`).join('\n  ')}
)`;

describe('instruction costs (IC instruction_to_cost)', async () => {
  const host = await instantiate(COST_MODULE);
  for (const [i, row] of COST_ROWS.entries()) {
    it(`${row.name} costs ${row.expected}`, () => {
      assert.equal(host.measure(`row${i}`), row.expected);
      // Deterministic: the same call consumes the same again.
      assert.equal(host.measure(`row${i}`), row.expected);
    });
  }
});

describe('check points', () => {
  it('an infinite loop calls out_of_instructions once the counter is negative', async () => {
    const host = await instantiate(`(module (func (export "spin") loop br 0 end))`);
    host.counter = 1000n;
    assert.throws(() => (host.exports.spin as () => void)(), OutOfInstructions);
    assert.equal(host.outOfInstructionsCalls, 1);
    // Entry (1) leaves 999; each iteration charges br (2) at the loop header: 499 iterations
    // reach 1, the 500th reaches -1 and the check fires.
    assert.equal(host.counter, -1n);
  });

  it('the host can top up and resume (deterministic time slicing)', async () => {
    const host = await instantiate(`(module (func (export "spin") loop br 0 end))`);
    host.onOutOfInstructions = (h) => {
      if (h.outOfInstructionsCalls === 3) throw new OutOfInstructions();
      h.counter += 1000n;
    };
    host.counter = 1000n;
    assert.throws(() => (host.exports.spin as () => void)(), OutOfInstructions);
    assert.equal(host.outOfInstructionsCalls, 3);
    assert.equal(host.counter, -1n);
  });

  it('a long straight-line callee is caught right after the call returns', async () => {
    const body = 'i32.const 1 drop '.repeat(100);
    const host = await instantiate(`(module (func $long ${body}) (func (export "run") call $long i32.const 1 drop))`);
    host.counter = 50n;
    assert.throws(() => (host.exports.run as () => void)(), OutOfInstructions);
    // run's entry block charges 1 + call 5 + 2 = 8 and passes (42 left); $long charges 201 at
    // entry and its own check fires with the counter at -159.
    assert.equal(host.counter, -159n);
  });

  it('what a callee charged is in the global for a host call or a trap later in the same block', async () => {
    let seen = -1n;
    const host: Host = await instantiate(`(module
      (import "ic0" "msg_arg_data_size" (func $size (result i32)))
      (func $w (result i32) i32.const 1 drop i32.const 1 drop i32.const 7)
      (func (export "readAfterCall") call $w drop call $size drop)
      (func (export "trapAfterCall") call $w drop unreachable))`, {
      ic0: { msg_arg_data_size: () => { seen = host.counter; return 0; } },
    });
    // readAfterCall's one block: entry 1 + call 5 + drop 1 + call 5 + drop 1 = 13; $w: 1 + 5 = 6.
    host.counter = 1000n;
    (host.exports.readAfterCall as () => void)();
    assert.equal(1000n - seen, 13n + 6n);
    assert.equal(host.counter, 1000n - 13n - 6n);
    // trapAfterCall's block: entry 1 + call 5 + drop 1 + unreachable 1 = 8; $w: 6.
    host.counter = 1000n;
    assert.throws(() => (host.exports.trapAfterCall as () => void)(), /unreachable/);
    assert.equal(host.counter, 1000n - 8n - 6n);
  });

  it('a bulk operation checks right after its dynamic charge, before running', async () => {
    const host = await instantiate(`(module (memory 1)
      (func (export "fill") i32.const 0 i32.const 255 i32.const 60000 memory.fill))`);
    host.counter = 10_000n;
    assert.throws(() => (host.exports.fill as () => void)(), OutOfInstructions);
    assert.equal(host.counter, 10_000n - 104n - 60_000n);
    assert.equal(host.dirtyRanges.length, 0, 'mark_dirty_range is not reached');
  });
});

describe('dirty pages', () => {
  it('stores call mark_dirty when they leave the two cached pages', async () => {
    const host = await instantiate(`(module (memory 2)
      (func (export "write")
        i32.const 0 i32.const 1 i32.store
        i32.const 8 i32.const 1 i32.store        ;; same page: no call
        i32.const 12288 i64.const 1 i64.store    ;; page 3
        i32.const 4095 i64.const -1 i64.store    ;; page 0 (the second cached page), straddles into page 1: no call
        i32.const 0 i32.const 2 i32.store offset=8192  ;; page 2 via the offset
        i32.const 16 f64.const 1 f64.store offset=8192 ;; page 2 again: no call
        i32.const 20000 i32.const 9 i32.store8
        i32.const 30000 i32.const 9 i32.store16
        i32.const 40000 f32.const 1 f32.store
        i32.const 50000 i64.const 1 i64.store8
        i32.const 60000 i64.const 1 i64.store16
        i32.const 70000 i64.const 1 i64.store32))`);
    host.global(INSTRUMENTATION.dirtyPageExport).value = -1;
    (host.exports.write as () => void)();
    assert.deepEqual(host.dirtyCalls, [0, 3, 2, 4, 7, 9, 12, 14, 17]);
    assert.equal(host.dirtyPage, 17);
    assert.equal(host.global(INSTRUMENTATION.dirtyPage2Export).value, 14);
    const memory = host.exports[host.instrumented.exports.memory] as WasmMemory;
    const view = new DataView(memory.buffer);
    assert.equal(view.getBigInt64(4095, true), -1n, 'the straddling store wrote its bytes');
    assert.equal(view.getInt32(8192, true), 2);
    assert.equal(view.getFloat64(8208, true), 1);
  });

  it('memory.fill, memory.copy and memory.init report their destination range', async () => {
    const host = await instantiate(`(module (memory 1) (data $d "xyz")
      (func (export "bulk")
        i32.const 100 i32.const 7 i32.const 5000 memory.fill
        i32.const 9000 i32.const 100 i32.const 300 memory.copy
        i32.const 20000 i32.const 1 i32.const 2 memory.init $d))`);
    (host.exports.bulk as () => void)();
    assert.deepEqual(host.dirtyRanges, [[100, 5000], [9000, 300], [20000, 2]]);
    const memory = new Uint8Array((host.exports[host.instrumented.exports.memory] as WasmMemory).buffer);
    assert.equal(memory[100 + 4999], 7);
    assert.equal(memory[9000], 7);
    assert.deepEqual([...memory.subarray(20000, 20002)], [0x79, 0x7a]);
  });
});

describe('memory.grow', () => {
  const text = `(module (memory 1 10) (func (export "grow") (param i32) (result i32) local.get 0 memory.grow))`;

  it('asks memory_grow_allowed and grows when allowed', async () => {
    const host = await instantiate(text);
    assert.equal((host.exports.grow as (n: number) => number)(2), 1);
    assert.deepEqual(host.growRequests, [2]);
    assert.equal((host.exports[host.instrumented.exports.memory] as WasmMemory).buffer.byteLength, 3 * 65536);
  });

  it('yields -1 without growing when refused', async () => {
    const host = await instantiate(text);
    host.allowGrow = false;
    assert.equal((host.exports.grow as (n: number) => number)(2), -1);
    assert.equal((host.exports[host.instrumented.exports.memory] as WasmMemory).buffer.byteLength, 65536);
  });
});

describe('call depth', () => {
  const text = `(module
    (func $rec (export "rec") (param i32) (result i32)
      local.get 0 i32.eqz
      if (result i32) i32.const 0
      else local.get 0 i32.const 1 i32.sub call $rec i32.const 1 i32.add end)
    (func (export "viaReturn") (result i32) i32.const 1 if i32.const 7 return end i32.const 8)
    (func (export "viaBr0") (result i32) i32.const 5 br 0)
    (func (export "viaNestedBr") (result i32) block i32.const 6 br 1 end i32.const 0)
    (func (export "viaBrTable") (result i32) block (result i32) i32.const 3 i32.const 1 br_table 0 1 end)
    (func (export "viaBrIf") (result i32) i32.const 4 i32.const 1 br_if 0 drop i32.const 0)
    (func (export "multi") (result i32 i64) i32.const 1 if i32.const 1 i64.const 2 return end i32.const 0 i64.const 0))`;

  it('allows exactly maxCallDepth frames', async () => {
    const host = await instantiate(text, { maxCallDepth: 100 });
    assert.equal((host.exports.rec as (n: number) => number)(99), 99);
    assert.equal(host.depth, 0);
    assert.equal(host.callDepthExceededCalls, 0);
  });

  it('calls call_depth_exceeded at frame maxCallDepth + 1', async () => {
    const host = await instantiate(text, { maxCallDepth: 100 });
    assert.throws(() => (host.exports.rec as (n: number) => number)(100), CallDepthExceeded);
    assert.equal(host.callDepthExceededCalls, 1);
    assert.equal(host.depth, 101, 'a trap leaves the depth for the host to reset');
  });

  it('every way out of a function decrements the depth', async () => {
    const host = await instantiate(text, { maxCallDepth: 100 });
    const call = (name: string) => (host.exports[name] as () => unknown)();
    assert.equal(call('viaReturn'), 7);
    assert.equal(host.depth, 0);
    assert.equal(call('viaBr0'), 5);
    assert.equal(host.depth, 0);
    assert.equal(call('viaNestedBr'), 6);
    assert.equal(host.depth, 0);
    assert.equal(call('viaBrTable'), 3);
    assert.equal(host.depth, 0);
    assert.equal(call('viaBrIf'), 4);
    assert.equal(host.depth, 0);
    assert.deepEqual(call('multi'), [1, 2n]);
    assert.equal(host.depth, 0);
  });
});

describe('call depth: only functions on a call cycle count', () => {
  const text = `(module
    (type $ii (func (param i32) (result i32)))
    (table 2 funcref)
    (elem (i32.const 0) $viaTable $leaf)
    (func $leaf (param i32) (result i32) local.get 0)
    (func $chain (param i32) (result i32) local.get 0 call $leaf)
    ;; recursion through the table: $viaTable -> call_indirect $ii -> $viaTable
    (func $viaTable (export "viaTable") (param i32) (result i32)
      local.get 0 i32.eqz
      if (result i32) i32.const 0
      else local.get 0 i32.const 1 i32.sub i32.const 0 call_indirect (type $ii) end)
    ;; mutual recursion that leaves through return, br and br_table
    (func $even (export "even") (param i32) (result i32)
      local.get 0 i32.eqz if i32.const 1 return end
      block (result i32) local.get 0 i32.const 1 i32.sub call $odd i32.const 0 br_table 0 0 end)
    (func $odd (param i32) (result i32)
      local.get 0 i32.eqz if i32.const 0 br 1 end
      local.get 0 i32.const 1 i32.sub call $even)
    (func (export "depthAtLeaf") (param i32) (result i32) local.get 0 call $chain))`;

  it('counts frames of recursion through call_indirect and of mutual recursion, exactly', async () => {
    const host = await instantiate(text, { maxCallDepth: 50 });
    const call = (name: string, n: number) => (host.exports[name] as (n: number) => number)(n);
    assert.equal(call('viaTable', 49), 0, '50 frames of $viaTable');
    assert.equal(host.depth, 0);
    assert.throws(() => call('viaTable', 50), CallDepthExceeded);
    host.global(INSTRUMENTATION.callDepthExport).value = 0;
    assert.equal(call('even', 49), 0, '$even and $odd: 50 frames');
    assert.equal(host.depth, 0, 'return, br and br_table leave through the epilogue');
    assert.equal(call('even', 48), 1);
    assert.equal(host.depth, 0);
    assert.throws(() => call('even', 50), CallDepthExceeded);
  });

  it('does not count functions that cannot recurse', async () => {
    const host = await instantiate(text, { maxCallDepth: 1 });
    // $leaf is in the table but no call_indirect of its type can reach it from itself.
    assert.equal((host.exports.depthAtLeaf as (n: number) => number)(7), 7);
    assert.equal(host.depth, 0);
    assert.equal(host.callDepthExceededCalls, 0);
  });
});

describe('NaN canonicalisation', () => {
  it('replaces every NaN result by the canonical NaN, keeps other values', async () => {
    const host = await instantiate(`(module
      (func (export "div64") (param f64 f64) (result i64) local.get 0 local.get 1 f64.div i64.reinterpret_f64)
      (func (export "payload64") (result i64) f64.const -nan:0x4000000000001 f64.const 1 f64.add i64.reinterpret_f64)
      (func (export "sqrt64") (result i64) f64.const -1 f64.sqrt i64.reinterpret_f64)
      (func (export "div32") (result i32) f32.const 0 f32.const 0 f32.div i32.reinterpret_f32)
      (func (export "payload32") (result i32) f32.const nan:0x200001 f32.const 1 f32.mul i32.reinterpret_f32)
      (func (export "demote") (result i32) f64.const nan:0x4000000000001 f32.demote_f64 i32.reinterpret_f32)
      (func (export "promote") (result i64) f32.const -nan:0x200001 f64.promote_f32 i64.reinterpret_f64)
      (func (export "min") (result i64) f64.const nan:0x1 f64.const 1 f64.min i64.reinterpret_f64)
      (func (export "ceil") (result i32) f32.const -nan:0x7 f32.ceil i32.reinterpret_f32))`);
    const call = (name: string, ...args: number[]) => (host.exports[name] as (...a: number[]) => number | bigint)(...args);
    const NAN64 = INSTRUMENTATION.canonicalNaN64;
    const NAN32 = INSTRUMENTATION.canonicalNaN32;
    assert.equal(call('div64', 0, 0), NAN64);
    assert.equal(call('div64', 1, 4), 0x3fd0000000000000n, '0.25 is untouched');
    assert.equal(call('payload64'), NAN64);
    assert.equal(call('sqrt64'), NAN64);
    assert.equal(call('div32'), NAN32);
    assert.equal(call('payload32'), NAN32);
    assert.equal(call('demote'), NAN32);
    assert.equal(BigInt.asUintN(64, call('promote') as bigint), NAN64);
    assert.equal(call('min'), NAN64);
    assert.equal(call('ceil'), NAN32);
  });
});

describe('exports and renumbering', () => {
  const text = `(module
    (import "ic0" "msg_reply" (func $reply))
    (import "ic0" "msg_arg_data_size" (func $size (result i32)))
    (type $ii (func (param i32) (result i32)))
    (memory 1)
    (table 4 funcref)
    (global $counter (mut i32) (i32.const 5))
    (global $constant i32 (i32.const 1))
    (global $wide (mut i64) (i64.const 7))
    (global $float (mut f64) (f64.const 0.5))
    (elem (i32.const 1) $double $triple)
    (start $init)
    (func $init global.get $counter i32.const 100 i32.add global.set $counter)
    (func $double (param i32) (result i32) local.get 0 i32.const 2 i32.mul)
    (func $triple (param i32) (result i32) local.get 0 i32.const 3 i32.mul)
    (func (export "direct") (param i32) (result i32) local.get 0 call $triple call $size i32.add)
    (func (export "indirect") (param i32 i32) (result i32) local.get 0 local.get 1 call_indirect (type $ii))
    (func (export "viaRefFunc") (param i32) (result i32)
      i32.const 3 ref.func $double table.set
      local.get 0 i32.const 3 call_indirect (type $ii))
    (func (export "bump") global.get $counter i32.const 1 i32.add global.set $counter call $reply)
    (func (export "canister_update go") call $reply))`;

  it('keeps calls, exports, tables and ref.func right after the injected imports', async () => {
    let replies = 0;
    const host = await instantiate(text, { ic0: { msg_reply: () => { replies++; }, msg_arg_data_size: () => 1000 } });
    const call = (name: string, ...args: number[]) => (host.exports[name] as (...a: number[]) => number)(...args);
    assert.equal(call('direct', 5), 1015);
    assert.equal(call('indirect', 5, 1), 10);
    assert.equal(call('indirect', 5, 2), 15);
    assert.equal(call('viaRefFunc', 21), 42);
    call('canister_update go');
    assert.equal(replies, 1);
    assert.equal(host.instrumented.injectedImportCount, 5);
    // Imports, injected imports, bodies, an entry (own type, counter in the global) for each
    // function the host calls (5 exports and the start function) and the callback trampoline.
    assert.equal(host.instrumented.functionCount, 2 + 5 + 8 + 6 + 1);
  });

  it('exports every mutable global, the memory, the table and the start function', async () => {
    const host = await instantiate(text, { ic0: { msg_reply: () => {}, msg_arg_data_size: () => 0 } });
    const { exports } = host.instrumented;
    assert.deepEqual(exports.globals, [
      { index: 0, exportName: '__icpk_global_0', type: 'i32' },
      { index: 2, exportName: '__icpk_global_2', type: 'i64' },
      { index: 3, exportName: '__icpk_global_3', type: 'f64' },
    ]);
    assert.equal(exports.memory, INSTRUMENTATION.memoryExport);
    assert.equal(exports.table, INSTRUMENTATION.tableExport);
    assert.equal(exports.start, INSTRUMENTATION.startExport);
    assert.ok(host.exports[exports.memory] !== undefined);
    assert.equal((host.exports[exports.table!] as WasmTable).length, 4);
    // The start function did not run at instantiation: the host runs it with a counter set.
    assert.equal(host.global('__icpk_global_0').value, 5);
    host.counter = 1000n;
    (host.exports[exports.start!] as () => void)();
    assert.equal(host.global('__icpk_global_0').value, 105);
    // The host can save and restore globals, and the code sees the restored value.
    host.global('__icpk_global_0').value = 41;
    (host.exports.bump as () => void)();
    assert.equal(host.global('__icpk_global_0').value, 42);
    assert.equal(host.global('__icpk_global_2').value, 7n);
    assert.equal(host.global('__icpk_global_3').value, 0.5);
  });

  it('calls an import held in the table, and a host call through it sees the exact counter', async () => {
    let seen = -1n;
    const host: Host = await instantiate(`(module
      (import "ic0" "msg_arg_data_size" (func $size (result i32)))
      (type $r (func (result i32)))
      (table 1 funcref)
      (elem (i32.const 0) $size)
      (func (export "viaTable") (result i32) i32.const 0 call_indirect (type $r)))`, {
      ic0: { msg_arg_data_size: () => { seen = host.counter; return 1000; } },
    });
    host.counter = 100n;
    assert.equal((host.exports.viaTable as () => number)(), 1000);
    // entry 1 + i32.const 1 + call_indirect 10; the import itself costs nothing here.
    assert.equal(100n - seen, 12n);
    assert.equal(host.counter, 100n - 12n);
  });

  it('refuses a type with 1000 parameters, which the counter parameter would take past the engine limit', async () => {
    const bytes = await wat(`(module (type (func (param ${'i32 '.repeat(1000)}))) (func (type 0)))`);
    assert.throws(() => instrumentModule(bytes, validateModule(bytes)), (e: Error) => e.name === 'WasmInstrumentationError' && /1000 parameters/.test(e.message));
    const ok = await wat(`(module (func (param ${'i32 '.repeat(999)})))`);
    assert.ok(webAssembly.validate(instrumentModule(ok, validateModule(ok)).bytes));
  });

  it('uses the module’s own memory and table export names', async () => {
    const host = await instantiate(`(module (memory (export "mem") 1) (table (export "tbl") 1 funcref))`);
    assert.equal(host.instrumented.exports.memory, 'mem');
    assert.equal(host.instrumented.exports.table, 'tbl');
    assert.equal(host.instrumented.exports.start, undefined);
  });

  it('gives a module without memory an empty exported one', async () => {
    const host = await instantiate(`(module (func (export "f")))`);
    assert.equal(host.instrumented.exports.memory, INSTRUMENTATION.memoryExport);
    assert.equal((host.exports[INSTRUMENTATION.memoryExport] as WasmMemory).buffer.byteLength, 0);
    assert.equal(host.instrumented.exports.table, undefined);
  });
});

describe('a real Motoko canister', () => {
  it('instruments into a module V8 validates and compiles', async () => {
    const { wasm } = await compileMotoko('counter');
    const info = validateModule(wasm);
    const instrumented = instrumentModule(wasm, info);
    assert.ok(webAssembly.validate(instrumented.bytes));
    const module = new webAssembly.Module(instrumented.bytes);
    const imports = webAssembly.Module.imports(module);
    assert.deepEqual(
      imports.filter((i) => i.module === INSTRUMENTATION.importModule).map((i) => i.name),
      Object.values(INSTRUMENTATION.imports),
    );
    const exportNames = new Set(webAssembly.Module.exports(module).map((e) => e.name));
    for (const name of ['canister_update inc', 'canister_query get', 'canister_init', INSTRUMENTATION.instructionCounterExport]) {
      assert.ok(exportNames.has(name), name);
    }
    // Instrumenting is deterministic.
    assert.deepEqual(instrumentModule(wasm, info).bytes, instrumented.bytes);
  });
});
