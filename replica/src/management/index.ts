export { ManagementCanister, effectiveCanisterId } from './management-canister.js';
export { METHODS as MANAGEMENT_METHODS, isManagementMethod } from './candid.js';
