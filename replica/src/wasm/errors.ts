// Errors of the wasm layer. A rejected module is the canister developer's problem (IC0505,
// "CanisterInvalidWasm"); an instrumentation failure of a validated module is ours.
import { ErrorCode } from '../errors.js';

/**
 * The module was rejected at install time. `rule` is a stable id of the violated rule
 * (e.g. 'import-unknown', 'too-many-functions', 'malformed'); the message says what to fix,
 * worded like the IC replica's `WasmValidationError`.
 */
export class InvalidWasmError extends Error {
  override readonly name = 'InvalidWasmError';
  readonly code = ErrorCode.CanisterInvalidWasm;
  constructor(
    readonly rule: InvalidWasmRule,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** Stable ids of the validation rules (see validate.ts for each one's wording). */
export type InvalidWasmRule =
  | 'malformed'
  | 'wasm-too-large'
  | 'unsupported-proposal'
  | 'import-unknown'
  | 'import-signature'
  | 'import-kind'
  | 'multiple-memories'
  | 'memory64'
  | 'multiple-tables'
  | 'table-too-large'
  | 'too-many-functions'
  | 'too-many-globals'
  | 'global-type'
  | 'too-many-exports'
  | 'export-names-too-long'
  | 'duplicate-method'
  | 'invalid-canister-export'
  | 'reserved-export'
  | 'export-signature'
  | 'too-many-data-segments'
  | 'data-offset'
  | 'code-too-large'
  | 'function-too-large'
  | 'function-too-complex'
  | 'too-many-locals'
  | 'custom-section-name'
  | 'duplicate-metadata'
  | 'too-many-custom-sections'
  | 'custom-section-too-large';

/**
 * Instrumenting a module that passed validation failed, or the engine refused the
 * instrumented output: a defect of this replica, not of the canister.
 */
export class WasmInstrumentationError extends Error {
  override readonly name = 'WasmInstrumentationError';
  readonly code = ErrorCode.CanisterWasmEngineError;
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}
