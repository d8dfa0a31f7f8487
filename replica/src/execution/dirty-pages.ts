// The host side of the instrumentation's `mark_dirty(page)`: a filter in Wasm in front of the
// sandbox's page journal. Instrumented code calls mark_dirty whenever a store leaves its two
// cached pages; most such stores hit pages the message has already marked. A call from Wasm
// into JS costs ~7 ns in Node 20, a call into another Wasm instance ~1.5 ns, so the filter is a
// tiny module with a bitmap of the pages marked in the current message, and only a page's first
// mark reaches JS (where the sandbox saves its pre-image). Bulk writes (`mark_dirty_range`) go
// through the same bitmap, page by page.
//
// One filter per thread serves every sandbox on it: a thread runs one message at a time, and
// the sandbox attaches for the message and detaches after it (which clears the bits it set).

/**
 * (module
 *   (import "icpk" "save" (func $save (param i32)))
 *   (memory (export "bits") 2)                        ;; 2^20 bits: every OS page of 4 GiB
 *   (func $mark (export "mark") (param $page i32) (local $at i32) (local $byte i32) (local $bit i32)
 *     (local.set $at (i32.shr_u (local.get $page) (i32.const 3)))
 *     (local.set $bit (i32.shl (i32.const 1) (i32.and (local.get $page) (i32.const 7))))
 *     (local.set $byte (i32.load8_u (local.get $at)))
 *     (if (i32.and (local.get $byte) (local.get $bit)) (then (return)))
 *     (i32.store8 (local.get $at) (i32.or (local.get $byte) (local.get $bit)))
 *     (call $save (local.get $page)))
 *   ;; every page of [start, start + length); a range that wraps around 2^32 traps in the
 *   ;; instruction that follows, so it marks nothing.
 *   (func (export "mark_range") (param $start i32) (param $length i32) (local $page i32) (local $last i32)
 *     (if (i32.eqz (local.get $length)) (then (return)))
 *     (local.set $page (i32.shr_u (local.get $start) (i32.const 12)))
 *     (local.set $last (i32.shr_u (i32.add (local.get $start) (i32.sub (local.get $length) (i32.const 1))) (i32.const 12)))
 *     (if (i32.gt_u (local.get $page) (local.get $last)) (then (return)))
 *     (loop $next
 *       (call $mark (local.get $page))
 *       (br_if $next (i32.le_u (local.tee $page (i32.add (local.get $page) (i32.const 1))) (local.get $last))))))
 */
const FILTER_WASM =
  '0061736d01000000010a0260017f0060027f7f00020d01046963706b0473617665000003030200010503010002071c03046269747302' +
  '00046d61726b00010a6d61726b5f72616e676500020a71023301037f200041037621014101200041077174210320012d000021022002' +
  '20037104400f0b200120022003723a0000200010000b3b01027f20014504400f0b2000410c7621022000200141016b6a410c76210320' +
  '0220034b04400f0b034020021001200241016a220220034d0d000b0b';

let compiled: WebAssembly.Module | undefined;

export class DirtyPageFilter {
  /** The Wasm function instrumented modules import as `mark_dirty`. */
  readonly mark: (page: number) => void;
  /** The Wasm function instrumented modules import as `mark_dirty_range`. */
  readonly markRange: (start: number, length: number) => void;
  private readonly bits: Uint8Array;
  /** Pages whose bit is set, to clear them when the message ends. */
  private readonly marked: number[] = [];
  private save: ((page: number) => void) | undefined;

  constructor() {
    compiled ??= new WebAssembly.Module(Buffer.from(FILTER_WASM, 'hex'));
    const instance = new WebAssembly.Instance(compiled, {
      icpk: {
        save: (page: number) => {
          this.marked.push(page >>> 0);
          this.save!(page >>> 0);
        },
      },
    });
    this.mark = instance.exports.mark as (page: number) => void;
    this.markRange = instance.exports.mark_range as (start: number, length: number) => void;
    this.bits = new Uint8Array((instance.exports.bits as WebAssembly.Memory).buffer);
  }

  /** Routes the first mark of each page to `save` until `detach`. */
  attach(save: (page: number) => void): void {
    if (this.save !== undefined) throw new Error('the dirty page filter is already attached to a running message');
    this.save = save;
  }

  /** Forgets every mark (the next message starts with none) and detaches. */
  detach(): void {
    for (const page of this.marked) this.bits[page >>> 3] = 0;
    this.marked.length = 0;
    this.save = undefined;
  }

  /** Makes the next mark of `page` reach `save` again. */
  forget(page: number): void {
    this.bits[page >>> 3]! &= ~(1 << (page & 7));
  }
}

let perThread: DirtyPageFilter | undefined;

/** The filter of the current thread. */
export function dirtyPageFilter(): DirtyPageFilter {
  perThread ??= new DirtyPageFilter();
  return perThread;
}
