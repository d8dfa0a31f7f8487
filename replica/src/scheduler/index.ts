export { Scheduler } from './round.js';
export { RoundSchedule, computeCapacity, type NextExecution } from './schedule.js';
export { Router, queueFull } from './routing.js';
export * from './types.js';
export { stateDigest, valueDigest } from './state-digest.js';
