export { SystemApi } from './system-api.js';
export { CanisterTrap } from './errors.js';
export { IC0, type ApiContext, type Ic0Signature, type ValType } from './signatures.js';
export { costOf } from './costs.js';
export * from './types.js';
