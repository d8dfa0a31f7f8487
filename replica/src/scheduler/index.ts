export { Scheduler } from './round.js';
export * from './types.js';
