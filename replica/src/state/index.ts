export * from './types.js';
export * from './page-map.js';
export * from './canister.js';
export * from './replicated-state.js';
export * from './streams.js';
export * from './ingress-history.js';
