// The JS engine's WebAssembly API, typed here because the project compiles against lib ES2022
// without DOM typings (@types/node does not declare the WebAssembly namespace).

/** A compiled module (`WebAssembly.Module`); structured-cloneable to worker threads. */
export interface CompiledWasmModule {
  readonly [Symbol.toStringTag]: string;
}

export interface WasmModuleDescriptor {
  readonly module: string;
  readonly name: string;
  readonly kind: 'function' | 'table' | 'memory' | 'global' | 'tag';
}

export interface WebAssemblyApi {
  validate(bytes: Uint8Array): boolean;
  Module: {
    new (bytes: Uint8Array): CompiledWasmModule;
    imports(module: CompiledWasmModule): WasmModuleDescriptor[];
    exports(module: CompiledWasmModule): Omit<WasmModuleDescriptor, 'module'>[];
  };
}

export const webAssembly = (globalThis as unknown as { WebAssembly: WebAssemblyApi }).WebAssembly;
