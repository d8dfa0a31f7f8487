// Validated, instrumented and compiled modules, keyed by the SHA-256 of the decompressed
// module (the IC's module hash, as `canister_status` reports it), so a module installed on
// many canisters is compiled once. Bounded by an LRU.
import { bytesToHex } from '@noble/hashes/utils.js';
import { hash as digest } from 'node:crypto';
import { decodeCanisterWasm } from './decode.js';
import { WasmInstrumentationError } from './errors.js';
import { webAssembly, type CompiledWasmModule } from './engine.js';
import { instrumentModule } from './instrument.js';
import {
  DEFAULT_INSTRUMENTATION_OPTIONS, DEFAULT_WASM_LIMITS, type InstrumentationOptions, type InstrumentedModule,
  type ModuleInfo, type WasmLimits,
} from './types.js';
import { validateModule } from './validate.js';

export interface CompiledCanisterModule {
  /** SHA-256 of the decompressed module. */
  readonly hash: Uint8Array;
  readonly hashHex: string;
  readonly info: ModuleInfo;
  readonly instrumented: InstrumentedModule;
  /** The instrumented module, compiled; can be posted to worker threads. */
  readonly module: CompiledWasmModule;
  /** Size of the module as installed (possibly gzipped). */
  readonly originalSize: number;
}

export class ModuleCache {
  private readonly entries = new Map<string, CompiledCanisterModule>();
  private readonly limits: WasmLimits;

  constructor(
    limits: Partial<WasmLimits> = {},
    private readonly maxEntries = 64,
    private readonly options: InstrumentationOptions = DEFAULT_INSTRUMENTATION_OPTIONS,
  ) {
    this.limits = { ...DEFAULT_WASM_LIMITS, ...limits };
  }

  get size(): number {
    return this.entries.size;
  }

  /** Validates, instruments and compiles `rawBytes` (wasm or gzipped wasm), once per hash. Throws InvalidWasmError. */
  prepare(rawBytes: Uint8Array): CompiledCanisterModule {
    const wasm = decodeCanisterWasm(rawBytes, this.limits.maxWasmBytes);
    // Native SHA-256: a module is hashed at every install (a pure-JS hash took ~1 ms per 200 KB).
    const hash = new Uint8Array(digest('sha256', wasm, 'buffer'));
    const hashHex = bytesToHex(hash);
    const cached = this.entries.get(hashHex);
    if (cached !== undefined) {
      // Re-insert: Map iteration order is the LRU order.
      this.entries.delete(hashHex);
      this.entries.set(hashHex, cached);
      return cached.originalSize === rawBytes.length ? cached : { ...cached, originalSize: rawBytes.length };
    }
    const info = validateModule(wasm, this.limits);
    const instrumented = instrumentModule(wasm, info, { ...this.options, maxTableElements: this.limits.maxTableElements });
    let module: CompiledWasmModule;
    try {
      module = new webAssembly.Module(instrumented.bytes);
    } catch (err) {
      throw new WasmInstrumentationError(`The instrumented module does not compile: ${(err as Error).message}`, { cause: err });
    }
    const entry: CompiledCanisterModule = { hash, hashHex, info, instrumented, module, originalSize: rawBytes.length };
    this.entries.set(hashHex, entry);
    while (this.entries.size > this.maxEntries) {
      this.entries.delete(this.entries.keys().next().value!);
    }
    return entry;
  }

  /** The entry for a module hash, if cached (does not refresh its LRU position). */
  peek(hashHex: string): CompiledCanisterModule | undefined {
    return this.entries.get(hashHex);
  }

  clear(): void {
    this.entries.clear();
  }
}
