// Canister Wasm modules: install-time validation, instrumentation for metering and
// persistence, and a compile cache.
export { decodeCanisterWasm } from './decode.js';
export { validateModule } from './validate.js';
export { instrumentModule } from './instrument.js';
export { ModuleCache, type CompiledCanisterModule } from './cache.js';
export { InvalidWasmError, WasmInstrumentationError, type InvalidWasmRule } from './errors.js';
export {
  BULK_COST_PER_UNIT, COST_TABLE, DEFAULT_INSTRUCTION_COST, FUNCTION_ENTRY_COST, INSTRUCTION_COMPLEXITY,
  INSTRUCTION_COSTS,
} from './costs.js';
export { webAssembly, type CompiledWasmModule, type WebAssemblyApi } from './engine.js';
export {
  DEFAULT_INSTRUMENTATION_OPTIONS, DEFAULT_WASM_LIMITS, INSTRUMENTATION, type CanisterMetadataSection,
  type CanisterMethods, type InstrumentationOptions, type InstrumentedGlobalExport, type InstrumentedModule,
  type MetadataVisibility, type ModuleInfo, type SystemMethods, type ValType, type WasmLimits,
} from './types.js';
