// Queries answered by the management canister itself (interface spec, "IC method
// fetch_canister_logs"): served only in non-replicated mode, on the node's query path, from the
// state a query sees. Canisters cannot call them and they never enter a block.

import { IDL } from '@icp-sdk/core/candid';
import { Principal } from '@icp-sdk/core/principal';
import { CanisterError, ErrorCode } from '../errors.js';
import type { CanisterState, LogVisibility, ReplicatedState } from '../state/index.js';
import { METHODS } from './candid.js';

/** Management methods callable as (non-replicated) queries. */
export const MANAGEMENT_QUERY_METHODS: ReadonlySet<string> = new Set(['fetch_canister_logs']);

export type ManagementQueryResult =
  | { readonly status: 'replied'; readonly reply: Uint8Array }
  | { readonly status: 'rejected'; readonly error: CanisterError };

/** Whether `caller` may read the logs of `canister` under its `log_visibility` setting. */
export function mayReadLogs(canister: CanisterState, caller: Principal): boolean {
  const visibility: LogVisibility = canister.settings.logVisibility;
  switch (visibility.kind) {
    case 'public':
      return true;
    case 'controllers':
      return canister.isController(caller);
    case 'allowed_viewers':
      return canister.isController(caller) || visibility.principals.some((p) => p.compareTo(caller) === 'eq');
  }
}

/**
 * A query to `aaaaa-aa`. `fetch_canister_logs` replies with the canister's log records (oldest
 * first) to the callers its `log_visibility` admits; any other method is not a query method.
 */
export function executeManagementQuery(state: ReplicatedState, method: string, arg: Uint8Array, caller: Principal): ManagementQueryResult {
  const reject = (code: ErrorCode, message: string): ManagementQueryResult => ({ status: 'rejected', error: new CanisterError(code, message) });
  if (method !== 'fetch_canister_logs') return reject(ErrorCode.CanisterMethodNotFound, `Query method ${method} not found.`);

  const spec = METHODS.fetch_canister_logs;
  let canisterId: Principal;
  try {
    const decoded = IDL.decode([...spec.args], arg)[0] as unknown as { canister_id: Principal } | undefined;
    if (!decoded) throw new Error('no argument');
    canisterId = decoded.canister_id;
  } catch (e) {
    return reject(ErrorCode.InvalidManagementPayload, `Error decoding candid: ${e instanceof Error ? e.message : String(e)}`);
  }
  const canister = state.canister(canisterId);
  if (!canister) return reject(ErrorCode.CanisterNotFound, `Canister ${canisterId.toText()} not found`);
  if (!mayReadLogs(canister, caller)) {
    return reject(ErrorCode.CanisterRejectedMessage, `Caller ${caller.toText()} is not allowed to query ic00 method ${method}`);
  }
  const records = canister.logs.map((r) => ({ idx: r.idx, timestamp_nanos: r.timestampNanos, content: r.content }));
  return { status: 'replied', reply: new Uint8Array(IDL.encode([...spec.results], [{ canister_log_records: records }])) };
}
