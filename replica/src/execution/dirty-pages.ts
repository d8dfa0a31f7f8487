// The host side of the instrumentation's `mark_dirty(page)`: a filter in Wasm in front of the
// sandbox's page journal. Instrumented code calls mark_dirty whenever a store leaves its two
// cached pages; most such stores hit pages the message has already marked. A call from Wasm
// into JS costs ~7 ns in Node 20, a call into another Wasm instance ~1.5 ns, so the filter is a
// tiny module with a bitmap of the pages marked in the current message, and only a page's first
// mark reaches JS (where the sandbox saves its pre-image).
//
// One filter per thread serves every sandbox on it: a thread runs one message at a time, and
// the sandbox attaches for the message and detaches after it (which clears the bits it set).

/**
 * (module
 *   (import "icpk" "save" (func $save (param i32)))
 *   (memory (export "bits") 2)                        ;; 2^20 bits: every OS page of 4 GiB
 *   (func (export "mark") (param $page i32) (local $at i32) (local $byte i32) (local $bit i32)
 *     (local.set $at (i32.shr_u (local.get $page) (i32.const 3)))
 *     (local.set $bit (i32.shl (i32.const 1) (i32.and (local.get $page) (i32.const 7))))
 *     (local.set $byte (i32.load8_u (local.get $at)))
 *     (if (i32.and (local.get $byte) (local.get $bit)) (then (return)))
 *     (i32.store8 (local.get $at) (i32.or (local.get $byte) (local.get $bit)))
 *     (call $save (local.get $page))))
 */
const FILTER_WASM =
  '0061736d0100000001050160017f00020d01046963706b04736176650000030201000503010002070f0204626974730200046d61726b' +
  '00010a35013301037f200041037621014101200041077174210320012d00002102200220037104400f0b200120022003723a0000200010000b';

let compiled: WebAssembly.Module | undefined;

export class DirtyPageFilter {
  /** The Wasm function instrumented modules import as `mark_dirty`. */
  readonly mark: (page: number) => void;
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
