// The worker messages' codec: every field of a job and of a result comes back as it was written,
// including the optional ones, bigints beyond 64 bits and negative i64 globals.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CanisterError, ErrorCode } from '../src/errors.js';
import { WireReader, WireWriter, readJob, readReport, writeJob, writeReport, type EncodedJob, type JobReport } from '../src/execution/job-codec.js';
import { PAGE_SIZE } from '../src/index.js';

const bytes = (...xs: number[]) => new Uint8Array(xs);
const page = (fill: number) => new Uint8Array(PAGE_SIZE).fill(fill);

const full: EncodedJob = {
  canisterId: 'rwlgt-iiaaa-aaaaa-aaaaa-cai',
  module: 'ab'.repeat(32),
  entry: { kind: 'callback', fn: 7, env: 4_000_000_000 },
  input: {
    context: 'Rt', caller: bytes(1, 2, 3), arg: bytes(), methodName: 'größe', cyclesAvailable: (1n << 100n) + 5n, cyclesRefunded: 0n,
    rejectCode: 4, rejectMessage: 'nope ✗', deadline: 123n, needsResponse: true, replicated: true,
    callerInfo: { data: bytes(6, 6, 6), signer: bytes(0, 0, 0, 0, 0, 0, 0, 7, 1, 1) },
  },
  view: {
    canisterId: bytes(0, 0, 0, 0, 0, 0, 0, 1, 1, 1), controllers: [bytes(9), bytes(8, 7)], status: 2, version: 3n, balance: 10n ** 30n,
    frozenReserve: 1n, globalTimer: 0n, certificate: bytes(5, 5), envVars: [['A', 'b'], ['', 'é']], time: 1_700_000_000_000_000_000n,
  },
  limits: { instructions: 40_000_000_000n, slice: 2_000_000_000n, wasmMemoryBytes: 4 * 2 ** 30, stableMemoryBytes: 500n << 30n, systemApi: { maxCallArgBytes: 7 } as never },
  cleanup: { fn: 1, env: 2 },
  callContextInstructions: 99n,
  discardMemory: false,
  install: { mode: 'upgrade', preUpgrade: true, module: 'cd'.repeat(32) },
};

test('a job with every field comes back equal', () => {
  const w = new WireWriter();
  const { module, install, ...rest } = full;
  writeJob(w, rest, module, install);
  const plain: EncodedJob = {
    canisterId: 'x', module: 'm', entry: { kind: 'export', name: 'canister_update inc' },
    input: { context: 'U', caller: bytes(1), arg: bytes(2), cyclesAvailable: 0n, cyclesRefunded: 0n, rejectCode: 0, deadline: 0n, needsResponse: true, replicated: true },
    view: { canisterId: bytes(3), controllers: [], status: 1, version: 0n, balance: 5n, frozenReserve: 0n, globalTimer: 0n, envVars: [], time: 1n },
    limits: { instructions: 1n, wasmMemoryBytes: 10, stableMemoryBytes: 2n },
  };
  writeJob(w, plain, plain.module);
  for (const mode of ['install', 'reinstall'] as const) writeJob(w, plain, plain.module, { mode, preUpgrade: false, module: 'n' });
  const extras = w.extras;
  const r = new WireReader(w.take(), extras);
  assert.deepEqual(readJob(r), full);
  assert.deepEqual(readJob(r), plain);
  for (const mode of ['install', 'reinstall'] as const) assert.deepEqual(readJob(r), { ...plain, install: { mode, preUpgrade: false, module: 'n' } });
  assert.ok(r.done);
});

test('reports come back equal: results with pages, calls and globals, traps, detached executions', () => {
  const reports: JobReport[] = [
    {
      id: 1, kind: 'done', result: {
        instructions: 5000n,
        main: {
          ok: false, error: new CanisterError(ErrorCode.CanisterTrapped, 'boom'), instructions: 4000n, logs: [bytes(104, 105)],
        },
        cleanup: {
          ok: true, instructions: 1000n, globals: [1, -2n, 2n ** 63n - 1n, -(2n ** 63n), 1.5, NaN],
          heap: { sizeBytes: 65536, pages: [{ index: 0, bytes: page(1) }, { index: 15, bytes: page(2) }] },
          stable: { sizeBytes: 0, pages: [] },
          outcome: {
            calls: [
              { callee: bytes(1), method: 'm', arg: bytes(2), cycles: 3n, reply: { fn: 1, env: 2 }, reject: { fn: 3, env: 4 }, reservation: 5n, fee: 6n },
              { callee: bytes(), method: '', arg: bytes(), cycles: 1n << 70n, reply: { fn: 0, env: 0 }, reject: { fn: 0, env: 0 }, cleanup: { fn: 9, env: 9 }, timeoutSeconds: 10, reservation: 0n, fee: 0n },
            ],
            cyclesAccepted: 1n, cyclesBurned: 2n, certifiedData: bytes(7), globalTimer: 0n, messageAccepted: true, logs: [], balance: 10n ** 20n,
            response: { kind: 'reject', message: 'no' },
          },
        },
      },
    },
    { id: 2, kind: 'detached', executed: 2_000_000_000n },
    {
      id: 3, kind: 'done', result: {
        instructions: 1n,
        main: {
          ok: true, instructions: 1n, globals: [], heap: { sizeBytes: 0, pages: [] }, stable: { sizeBytes: 4096, pages: [{ index: 0, bytes: page(3) }] },
          outcome: { calls: [], cyclesAccepted: 0n, cyclesBurned: 0n, messageAccepted: false, logs: [bytes(1)], balance: 0n, response: { kind: 'reply', data: bytes(1, 2) } },
        },
      },
    },
  ];
  const w = new WireWriter();
  for (const report of reports) writeReport(w, report);
  const r = new WireReader(w.take());
  const back = [readReport(r), readReport(r), readReport(r)];
  assert.ok(r.done);
  // Errors compare by code and message.
  const main = (back[0] as Extract<JobReport, { kind: 'done' }>).result.main;
  assert.ok(!main.ok && main.error instanceof CanisterError && main.error.code === ErrorCode.CanisterTrapped && main.error.message === 'boom');
  const strip = (x: JobReport[]) => JSON.parse(JSON.stringify(x, (k, v) => (typeof v === 'bigint' ? `${v}n` : v instanceof Uint8Array ? [...v] : k === 'error' ? 'error' : v)));
  assert.deepEqual(strip(back), strip(reports));
});

test('a writer hands its buffer over without copying and writes the next message into one given back', () => {
  const w = new WireWriter(64);
  w.u32(7);
  w.str('first');
  const first = w.take();
  assert.equal(first.buffer.byteLength, 64, 'the writer\'s own buffer, not a copy of what was written');
  assert.ok(first.length < first.buffer.byteLength);
  const r = new WireReader(first);
  assert.equal(r.u32(), 7);
  assert.equal(r.str(), 'first');
  assert.ok(r.done, 'a reader stops at the length written, not at the end of the buffer');

  // The writer went on in a new buffer when it handed the first one over; the one given back is next.
  w.give(first.buffer);
  w.u32(8);
  const second = w.take();
  assert.notEqual(second.buffer, first.buffer);
  w.u32(9);
  const third = w.take();
  assert.equal(third.buffer, first.buffer, 'the buffer given back is written again');
  assert.equal(new WireReader(third).u32(), 9);
  w.u32(10);
  assert.notEqual(w.take().buffer, first.buffer, 'with none given back, a new one');
  w.give(new ArrayBuffer(32));
  w.u32(11);
  w.take();
  assert.equal(w.take().buffer.byteLength, 64, 'a buffer smaller than the writer starts with is not kept');
});
