export { ManagementCanister, effectiveCanisterId } from './management-canister.js';
export { METHODS as MANAGEMENT_METHODS, isManagementMethod } from './candid.js';
export { executeManagementQuery, mayReadLogs, MANAGEMENT_QUERY_METHODS, type ManagementQueryResult } from './fetch-logs.js';
