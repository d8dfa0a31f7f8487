export { Replica, defaultReplicaConfig, DEFAULT_SUBNET_ID, type ReplicaConfig } from './replica.js';
export * from './errors.js';
export * from './consensus/index.js';
export * from './state/index.js';
export { ExecutionEnvironment, type InstallMode } from './execution/environment.js';
export * from './execution/types.js';
export { ManagementCanister, effectiveCanisterId, MANAGEMENT_METHODS } from './management/index.js';
export { Scheduler, DEFAULT_SCHEDULER_CONFIG, type RoundSummary, type SchedulerConfig } from './scheduler/index.js';
