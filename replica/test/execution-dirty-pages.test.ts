// Dirty page tracking through the real host: the per-thread filter behind mark_dirty, and the
// page deltas a message commits (they must equal what the canister wrote, page for page).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ExecutionTest, CallRejected } from '../../test/support/execution-test.js';
import { wat } from '../../test/support/wat.js';
import { DirtyPageFilter } from '../src/execution/dirty-pages.js';
import { PAGE_SIZE, PageMap } from '../src/state/index.js';

describe('the dirty page filter', () => {
  it('passes the first mark of a page per message, and again after forget or a new message', () => {
    const filter = new DirtyPageFilter();
    const saved: number[] = [];
    filter.attach((page) => saved.push(page));
    for (const page of [3, 3, 9, 3, 9, 1048575, 0, 1048575]) filter.mark(page);
    assert.deepEqual(saved, [3, 9, 1048575, 0]);
    filter.forget(9);
    filter.mark(9);
    filter.mark(3);
    assert.deepEqual(saved, [3, 9, 1048575, 0, 9]);
    filter.detach();
    filter.attach((page) => saved.push(page));
    filter.mark(3);
    filter.mark(9);
    assert.deepEqual(saved, [3, 9, 1048575, 0, 9, 3, 9]);
    assert.throws(() => filter.attach(() => {}), /already attached/);
    filter.detach();
  });

  it('marks every page of a range once; empty and wrapping ranges mark nothing', () => {
    const filter = new DirtyPageFilter();
    const saved: number[] = [];
    filter.attach((page) => saved.push(page));
    filter.markRange(4095, 2); // pages 0 and 1
    filter.markRange(100, 0);
    filter.markRange(0xfffff000, 0x2000); // wraps around 2^32
    filter.mark(1);
    filter.markRange(8192, 3 * 4096); // pages 2, 3, 4 (not 5)
    filter.markRange(0xfffff000, 0x1000); // the last page of 4 GiB
    assert.deepEqual(saved, [0, 1, 2, 3, 4, 1048575]);
    filter.detach();
  });
});

const CANISTER = `(module
  (import "ic0" "msg_reply" (func $reply))
  (import "ic0" "trap" (func $trap (param i32 i32)))
  (memory (export "memory") 1)
  (data (i32.const 20000) "\\01\\02\\03\\04")
  ;; stores rotating over pages 1, 2 and 3 (and 9 once), n rounds
  (func (export "canister_update rotate") (local $i i32)
    (loop $l
      (i32.store (i32.add (i32.const 4096) (i32.mul (i32.rem_u (local.get $i) (i32.const 3)) (i32.const 4096)))
        (i32.add (local.get $i) (i32.const 1)))
      (i32.store offset=36864 (i32.const 0) (local.get $i))
      (br_if $l (i32.lt_u (local.tee $i (i32.add (local.get $i) (i32.const 1))) (i32.const 100))))
    (call $reply))
  ;; the same, then a trap: nothing may stay
  (func (export "canister_update rotate_and_trap") (local $i i32)
    (loop $l
      (i32.store (i32.add (i32.const 4096) (i32.mul (i32.rem_u (local.get $i) (i32.const 3)) (i32.const 4096)))
        (i32.const -1))
      (br_if $l (i32.lt_u (local.tee $i (i32.add (local.get $i) (i32.const 1))) (i32.const 100))))
    (call $trap (i32.const 0) (i32.const 0)))
  ;; writes a page never written before and a data page, then traps
  (func (export "canister_update fresh_and_trap")
    (i32.store (i32.const 49152) (i32.const 5))
    (i32.store (i32.const 20000) (i32.const 0))
    (call $trap (i32.const 0) (i32.const 0)))
  (func (export "canister_update check_fresh")
    (if (i32.load (i32.const 49152)) (then (unreachable)))
    (if (i32.ne (i32.load (i32.const 20000)) (i32.const 0x04030201)) (then (unreachable)))
    (call $reply))
  ;; bulk writes over pages the stores marked and others
  (func (export "canister_update bulk")
    (i32.store (i32.const 4096) (i32.const 7))
    (memory.fill (i32.const 4000) (i32.const 0xab) (i32.const 200))
    (memory.copy (i32.const 20000) (i32.const 4000) (i32.const 16000))
    (call $reply))
  ;; a store at the end of memory, growth, then a store straddling into the new page
  (func (export "canister_update straddle")
    (i32.store (i32.const 65532) (i32.const 0x04030201))
    (drop (memory.grow (i32.const 1)))
    (i64.store (i32.const 65532) (i64.const 0x0807060504030201))
    (call $reply)))`;

describe('committed page deltas', () => {
  it('a delta overwrites a resident page in place, keeps a copy of a new one, and leaves clones alone', () => {
    const map = new PageMap(4 * PAGE_SIZE);
    const delta = new Uint8Array(PAGE_SIZE).fill(1);
    map.setPage(2, delta);
    delta.fill(9); // the delta's buffer goes back to its worker: the map kept a copy
    const page = map.page(2);
    assert.equal(page[0], 1);
    const before = map.clone();
    map.setPage(2, new Uint8Array(PAGE_SIZE).fill(2));
    assert.equal(map.page(2), page, 'no new buffer for a page already resident');
    assert.equal(page[PAGE_SIZE - 1], 2);
    assert.equal(before.page(2)[0], 1, 'a clone has pages of its own');
    assert.deepEqual([...map.dirty], [2]);
  });

  it('stores rotating over more pages than the cache holds are all committed, and rolled back on a trap', async () => {
    const t = new ExecutionTest();
    const id = await t.createAndInstall(await wat(CANISTER));
    await t.update(id, 'rotate');
    const heap = () => t.canister(id).execution!.heap;
    const word = (at: number) => new DataView(heap().read(at, 4).buffer).getUint32(0, true);
    assert.equal(word(4096), 100, 'page 1: the last i with i % 3 = 0 is 99');
    assert.equal(word(8192), 98);
    assert.equal(word(12288), 99);
    assert.equal(word(36864), 99);
    await assert.rejects(t.update(id, 'rotate_and_trap'), CallRejected);
    assert.equal(word(4096), 100);
    assert.equal(word(8192), 98);
    // The live instance was rolled back too: the next message sees the committed values.
    await t.update(id, 'rotate');
    assert.equal(word(12288), 99);
    await t.close();
  });

  it('a trap restores a page never written before to zero and a data page to its data', async () => {
    const t = new ExecutionTest();
    const id = await t.createAndInstall(await wat(CANISTER));
    await assert.rejects(t.update(id, 'fresh_and_trap'), CallRejected);
    await t.update(id, 'check_fresh');
    assert.deepEqual([...t.canister(id).execution!.heap.read(49152, 4)], [0, 0, 0, 0]);
    assert.deepEqual([...t.canister(id).execution!.heap.read(20000, 4)], [1, 2, 3, 4]);
    await t.close();
  });

  it('bulk writes are committed page for page', async () => {
    const t = new ExecutionTest();
    const id = await t.createAndInstall(await wat(CANISTER));
    await t.update(id, 'bulk');
    const heap = t.canister(id).execution!.heap;
    const expected = new Uint8Array(65536);
    expected.fill(0xab, 4000, 4200);
    expected.set(expected.slice(4000, 20000), 20000);
    assert.deepEqual(heap.read(0, 65536), expected);
    assert.deepEqual(heap.indices(), [0, 1, 4], "pages 5 to 8 received zeros: unchanged");
    await t.close();
  });

  it('a store straddling into memory grown in the same message is committed', async () => {
    const t = new ExecutionTest();
    const id = await t.createAndInstall(await wat(CANISTER));
    await t.update(id, 'straddle');
    assert.deepEqual([...t.canister(id).execution!.heap.read(65532, 8)], [1, 2, 3, 4, 5, 6, 7, 8]);
    await t.close();
  });
});
