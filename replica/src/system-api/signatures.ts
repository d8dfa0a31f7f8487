// The ic0 System API imports for 32-bit canisters (I = i32), with where each may be called.
// Interface spec, "Overview of imports". Data, not code: validation checks signatures against it,
// the System API checks availability against it.

export type ValType = 'i32' | 'i64' | 'f32' | 'f64';

/**
 * Entry-point contexts, as the spec abbreviates them:
 * I init/post_upgrade, G pre_upgrade, U update, RQ replicated query, NRQ non-replicated query,
 * TQ http transform, CQ composite query, Ry/Rt reply/reject callback, CRy/CRt the same in a
 * composite query, C cleanup, CC cleanup in a composite query, F inspect_message, T system task,
 * s the module's (start) function.
 */
export type ApiContext =
  | 'I' | 'G' | 'U' | 'RQ' | 'NRQ' | 'TQ' | 'CQ' | 'Ry' | 'Rt' | 'CRy' | 'CRt' | 'C' | 'CC' | 'F' | 'T' | 's';

export interface Ic0Signature {
  readonly params: readonly ValType[];
  readonly results: readonly ValType[];
  readonly contexts: ReadonlySet<ApiContext>;
}

const STAR: readonly ApiContext[] = ['I', 'G', 'U', 'RQ', 'NRQ', 'TQ', 'CQ', 'Ry', 'Rt', 'CRy', 'CRt', 'C', 'CC', 'F', 'T'];

function sig(params: string, results: string, where: string): Ic0Signature {
  const types = (s: string) => (s === '' ? [] : (s.split(' ') as ValType[]));
  const contexts = new Set<ApiContext>();
  for (const w of where.split(' ')) {
    if (w === '*') STAR.forEach((c) => contexts.add(c));
    else contexts.add(w as ApiContext);
  }
  return { params: types(params), results: types(results), contexts };
}

const ARG = 'I U RQ NRQ TQ CQ Ry CRy F';
const CALLER_INFO = 'U RQ NRQ CQ Ry Rt CRy CRt C CC F';
const RESPOND = 'U RQ NRQ TQ CQ Ry Rt CRy CRt';
const CALL = 'U CQ Ry Rt CRy CRt T';
const CYCLES_IN = 'U RQ Rt Ry';
const CYCLES_ADD = 'U Ry Rt T';
const MUTATE = 'I G U Ry Rt C T';

export const IC0: Readonly<Record<string, Ic0Signature>> = {
  msg_arg_data_size: sig('', 'i32', ARG),
  msg_arg_data_copy: sig('i32 i32 i32', '', ARG),
  msg_caller_size: sig('', 'i32', '*'),
  msg_caller_copy: sig('i32 i32 i32', '', '*'),
  msg_caller_info_data_size: sig('', 'i32', CALLER_INFO),
  msg_caller_info_data_copy: sig('i32 i32 i32', '', CALLER_INFO),
  msg_caller_info_signer_size: sig('', 'i32', CALLER_INFO),
  msg_caller_info_signer_copy: sig('i32 i32 i32', '', CALLER_INFO),
  msg_reject_code: sig('', 'i32', 'Ry Rt CRy CRt C'),
  msg_reject_msg_size: sig('', 'i32', 'Rt CRt'),
  msg_reject_msg_copy: sig('i32 i32 i32', '', 'Rt CRt'),
  msg_deadline: sig('', 'i64', 'U RQ NRQ CQ Ry Rt CRy CRt'),
  msg_reply_data_append: sig('i32 i32', '', RESPOND),
  msg_reply: sig('', '', RESPOND),
  msg_reject: sig('i32 i32', '', RESPOND),
  msg_cycles_available128: sig('i32', '', CYCLES_IN),
  msg_cycles_refunded128: sig('i32', '', 'Rt Ry'),
  msg_cycles_accept128: sig('i64 i64 i32', '', CYCLES_IN),
  cycles_burn128: sig('i64 i64 i32', '', 'I G U RQ Ry Rt C T'),
  canister_self_size: sig('', 'i32', '*'),
  canister_self_copy: sig('i32 i32 i32', '', '*'),
  canister_cycle_balance128: sig('i32', '', '*'),
  canister_liquid_cycle_balance128: sig('i32', '', '*'),
  canister_status: sig('', 'i32', '*'),
  canister_version: sig('', 'i64', '*'),
  subnet_self_size: sig('', 'i32', '*'),
  subnet_self_copy: sig('i32 i32 i32', '', '*'),
  msg_method_name_size: sig('', 'i32', 'F'),
  msg_method_name_copy: sig('i32 i32 i32', '', 'F'),
  accept_message: sig('', '', 'F'),
  call_new: sig('i32 i32 i32 i32 i32 i32 i32 i32', '', CALL),
  call_on_cleanup: sig('i32 i32', '', CALL),
  call_data_append: sig('i32 i32', '', CALL),
  call_with_best_effort_response: sig('i32', '', CALL),
  call_cycles_add128: sig('i64 i64', '', CYCLES_ADD),
  call_perform: sig('', 'i32', CALL),
  stable64_size: sig('', 'i64', '* s'),
  stable64_grow: sig('i64', 'i64', '* s'),
  stable64_write: sig('i64 i64 i64', '', '* s'),
  stable64_read: sig('i64 i64 i64', '', '* s'),
  root_key_size: sig('', 'i32', 'I G U RQ Ry Rt C T'),
  root_key_copy: sig('i32 i32 i32', '', 'I G U RQ Ry Rt C T'),
  certified_data_set: sig('i32 i32', '', 'I G U Ry Rt T'),
  data_certificate_present: sig('', 'i32', '*'),
  data_certificate_size: sig('', 'i32', 'NRQ CQ'),
  data_certificate_copy: sig('i32 i32 i32', '', 'NRQ CQ'),
  time: sig('', 'i64', '*'),
  global_timer_set: sig('i64', 'i64', MUTATE),
  performance_counter: sig('i32', 'i64', '* s'),
  is_controller: sig('i32 i32', 'i32', '* s'),
  in_replicated_execution: sig('', 'i32', '* s'),
  cost_call: sig('i64 i64 i32', '', '* s'),
  cost_create_canister: sig('i32', '', '* s'),
  cost_http_request: sig('i64 i64 i32', '', '* s'),
  cost_sign_with_ecdsa: sig('i32 i32 i32 i32', 'i32', '* s'),
  cost_sign_with_schnorr: sig('i32 i32 i32 i32', 'i32', '* s'),
  cost_vetkd_derive_key: sig('i32 i32 i32 i32', 'i32', '* s'),
  env_var_count: sig('', 'i32', '*'),
  env_var_name_size: sig('i32', 'i32', '*'),
  env_var_name_copy: sig('i32 i32 i32 i32', '', '*'),
  env_var_name_exists: sig('i32 i32', 'i32', '*'),
  env_var_value_size: sig('i32 i32', 'i32', '*'),
  env_var_value_copy: sig('i32 i32 i32 i32 i32', '', '*'),
  debug_print: sig('i32 i32', '', '* s'),
  trap: sig('i32 i32', '', '* s'),
  // Only for 32-bit canisters.
  msg_cycles_available: sig('', 'i64', CYCLES_IN),
  msg_cycles_refunded: sig('', 'i64', 'Rt Ry'),
  msg_cycles_accept: sig('i64', 'i64', CYCLES_IN),
  canister_cycle_balance: sig('', 'i64', '*'),
  call_cycles_add: sig('i64', '', CYCLES_ADD),
  stable_size: sig('', 'i32', '* s'),
  stable_grow: sig('i32', 'i32', '* s'),
  stable_write: sig('i32 i32 i32', '', '* s'),
  stable_read: sig('i32 i32 i32', '', '* s'),
};
