// Checkpoints store a canister's module as the original Wasm bytes (content-addressed by module
// hash) and re-prepare it through the ModuleCache on restore. The compiled module does not keep
// those bytes, so the replica's cache is this subclass, which retains them per module hash.

import { decodeCanisterWasm, DEFAULT_WASM_LIMITS, ModuleCache, type CompiledCanisterModule } from '../wasm/index.js';

/** Where the checkpointer finds a module's Wasm bytes. */
export interface WasmSource {
  wasm(hashHex: string): Uint8Array | undefined;
  /** Told at each checkpoint which modules the state uses; may forget the others. */
  retainOnly?(hashes: ReadonlySet<string>): void;
}

export class PersistentModuleCache extends ModuleCache implements WasmSource {
  private readonly bytes = new Map<string, Uint8Array>();

  override prepare(rawBytes: Uint8Array): CompiledCanisterModule {
    const compiled = super.prepare(rawBytes);
    if (!this.bytes.has(compiled.hashHex)) {
      // The cache validated it already; decoding again only inflates gzip (the module hash is of the inflated bytes).
      this.bytes.set(compiled.hashHex, decodeCanisterWasm(rawBytes, DEFAULT_WASM_LIMITS.maxWasmBytes).slice());
    }
    return compiled;
  }

  wasm(hashHex: string): Uint8Array | undefined {
    return this.bytes.get(hashHex);
  }

  /** Forgets bytes of modules no longer used by any canister or snapshot (called between rounds). */
  retainOnly(hashes: ReadonlySet<string>): void {
    for (const key of [...this.bytes.keys()]) if (!hashes.has(key)) this.bytes.delete(key);
  }
}

/** The Wasm bytes of an installed module: from the execution state if it keeps them, else the cache. */
export function wasmOf(module: CompiledCanisterModule, source: WasmSource, execution?: object): Uint8Array {
  const kept = (execution as { wasm?: Uint8Array } | undefined)?.wasm;
  const bytes = kept ?? source.wasm(module.hashHex);
  if (!bytes) {
    throw new Error(`the Wasm bytes of module ${module.hashHex} are unknown: build the Replica with a PersistentModuleCache so checkpoints can store modules`);
  }
  return bytes;
}
