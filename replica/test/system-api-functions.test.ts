// Every ic0 function of the System API, exercised from hand-written WAT canisters installed
// through the management canister and driven by ingress messages and rounds. Each test asserts
// an observable effect (reply bytes, balances, logs, state), not merely that the call returned.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { IDL } from '@icp-sdk/core/candid';
import { Principal } from '@icp-sdk/core/principal';
import { CallRejected, ExecutionTest, TEST_USER, emptySettings } from '../../test/support/execution-test.js';
import { wat } from '../../test/support/wat.js';
import { MANAGEMENT_METHODS } from '../src/index.js';
import {
  canisterCreationCost, httpRequestCost, scheduleFor, signatureCost, xnetCallCost,
} from '../src/cycles/index.js';
import { IC0 } from '../src/system-api/signatures.js';

// ---- WAT scaffolding ------------------------------------------------------------------------

/** Every ic0 import, named `$<name>`: the module may call any of them. */
const IMPORTS = Object.entries(IC0).map(([name, s]) => {
  const params = s.params.length ? ` (param ${s.params.join(' ')})` : '';
  const results = s.results.length ? ` (result ${s.results.join(' ')})` : '';
  return `(import "ic0" "${name}" (func $${name}${params}${results}))`;
}).join('\n');

/** Constant strings placed in a data segment; `S.x` is `{ ptr, len }`. */
class Strings {
  private at: number;
  private readonly segments: string[] = [];
  constructor(start: number) {
    this.at = start;
  }
  add(value: string | Uint8Array): { ptr: number; len: number } {
    const bytes = typeof value === 'string' ? new TextEncoder().encode(value) : value;
    const ptr = this.at;
    this.segments.push(`(data (i32.const ${ptr}) "${[...bytes].map((b) => `\\${b.toString(16).padStart(2, '0')}`).join('')}")`);
    this.at += bytes.length + 8 - (bytes.length % 8);
    return { ptr, len: bytes.length };
  }
  wat(): string {
    return this.segments.join('\n');
  }
}
const c = (s: { ptr: number; len: number }) => `(i32.const ${s.ptr}) (i32.const ${s.len})`;

// Memory layout: 0x1000 argument buffer, 0x3000 saved values, 0x4000 output buffer, 0x9000 strings.
const HELPERS = `
  (global $o (mut i32) (i32.const 0x4000))
  (func $begin (global.set $o (i32.const 0x4000)))
  (func $advance (param $n i32) (global.set $o (i32.add (global.get $o) (local.get $n))))
  (func $o16 (result i32) (global.get $o) (call $advance (i32.const 16)))
  (func $out_i32 (param $v i32) (i32.store (global.get $o) (local.get $v)) (call $advance (i32.const 4)))
  (func $out_i64 (param $v i64) (i64.store (global.get $o) (local.get $v)) (call $advance (i32.const 8)))
  (func $out_bytes (param $p i32) (param $n i32) (memory.copy (global.get $o) (local.get $p) (local.get $n)) (call $advance (local.get $n)))
  (func $out_arg (local $n i32)
    (local.set $n (call $msg_arg_data_size))
    (call $msg_arg_data_copy (global.get $o) (i32.const 0) (local.get $n))
    (call $advance (local.get $n)))
  (func $out_reply
    (call $msg_reply_data_append (i32.const 0x4000) (i32.sub (global.get $o) (i32.const 0x4000)))
    (call $msg_reply)
    (call $begin))
  (func $arg (param $dst i32) (result i32) (local $n i32)
    (local.set $n (call $msg_arg_data_size))
    (call $msg_arg_data_copy (local.get $dst) (i32.const 0) (local.get $n))
    (local.get $n))
  (func $arg_i32 (result i32) (drop (call $arg (i32.const 0x1000))) (i32.load (i32.const 0x1000)))
  (func $arg_i64 (result i64) (drop (call $arg (i32.const 0x1000))) (i64.load (i32.const 0x1000)))
`;

const S = new Strings(0x9000);
const HELLO = S.add('hello');
const WORLD = S.add(' world');
const M_ECHO = S.add('echo');
const M_CALLER = S.add('caller');
const M_ACCEPT = S.add('accept');
const M_MISSING = S.add('nonexistent');
const M_REJECT = S.add('reject');
const M_DEADLINE = S.add('deadline');
const M_RAW_RAND = S.add('raw_rand');
const NOPE = S.add('nope');
const EMPTY_CANDID = S.add(Uint8Array.of(0x44, 0x49, 0x44, 0x4c, 0, 0));
const CLEANUP_RAN = S.add('cleanup ran');
const CALLBACK_TRAPPED = S.add('callback trapped');
const TIMER_FIRED = S.add('timer fired');
const KEY_1 = S.add('key_1');
const TEST_KEY_1 = S.add('test_key_1');
const NO_KEY = S.add('no_such_key');
const DENY = 0x796e6564; // "deny", little-endian
const TWIC = 0x63697774; // "twic"

// Callback table indices.
const CB = { forward: 0, rejectInfo: 1, trap: 2, cleanup: 3, cycles: 4, deadline: 5, status: 6, callerInfo: 7 };

const signCost = (fn: string, key: { ptr: number; len: number }, variant: number) => `
    (local.set $d (global.get $o)) (call $advance (i32.const 20))
    (i32.store (local.get $d) (call $${fn} ${c(key)} (i32.const ${variant}) (i32.add (local.get $d) (i32.const 4))))`;

const PROBE = `(module
  ${IMPORTS}
  (memory 1)
  ${S.wat()}
  (table 8 funcref)
  (elem (i32.const 0) $cb_forward $cb_reject_info $cb_trap $cb_cleanup $cb_cycles $cb_deadline $cb_status $cb_caller_info)
  (global $cleanups (mut i32) (i32.const 0))
  (global $cleanup_env (mut i32) (i32.const -1))
  (global $cleanup_code (mut i32) (i32.const -1))
  (global $timer_fired (mut i32) (i32.const 0))
  ${HELPERS}

  ;; ---- message data
  (func (export "canister_update echo") (call $begin) (call $out_arg) (call $out_reply))
  (func (export "canister_query qecho") (call $begin) (call $out_arg) (call $out_reply))
  (func (export "canister_update caller") (local $n i32)
    (call $begin)
    (local.set $n (call $msg_caller_size))
    (call $msg_caller_copy (global.get $o) (i32.const 0) (local.get $n))
    (call $advance (local.get $n))
    (call $out_reply))
  (func $out_caller_info (local $n i32)
    (local.set $n (call $msg_caller_info_data_size))
    (call $out_i32 (local.get $n))
    (call $msg_caller_info_data_copy (global.get $o) (i32.const 0) (local.get $n))
    (call $advance (local.get $n))
    (local.set $n (call $msg_caller_info_signer_size))
    (call $out_i32 (local.get $n))
    (call $msg_caller_info_signer_copy (global.get $o) (i32.const 0) (local.get $n))
    (call $advance (local.get $n)))
  (func (export "canister_update caller_info") (call $begin) (call $out_caller_info) (call $out_reply))
  (func (export "canister_update caller_info_after_call")
    (call $call_new (i32.const 0) (i32.const 0) ${c(M_RAW_RAND)} (i32.const ${CB.callerInfo}) (i32.const 0) (i32.const ${CB.callerInfo}) (i32.const 0))
    (call $call_data_append ${c(EMPTY_CANDID)})
    (call $perform))
  (func (export "canister_update reject")
    (call $msg_reply_data_append ${c(HELLO)}) ;; discarded by the reject
    (call $msg_reject (i32.const 0x1000) (call $arg (i32.const 0x1000))))
  (func (export "canister_update deadline") (call $begin) (call $out_i64 (call $msg_deadline)) (call $out_reply))

  ;; ---- the canister and the subnet
  (func (export "canister_update self") (local $n i32)
    (call $begin)
    (local.set $n (call $canister_self_size))
    (call $canister_self_copy (global.get $o) (i32.const 0) (local.get $n))
    (call $advance (local.get $n))
    (call $out_reply))
  (func (export "canister_update subnet") (local $n i32)
    (call $begin)
    (local.set $n (call $subnet_self_size))
    (call $subnet_self_copy (global.get $o) (i32.const 0) (local.get $n))
    (call $advance (local.get $n))
    (call $out_reply))
  (func (export "canister_update balance")
    (call $begin)
    (call $out_i64 (call $canister_cycle_balance))
    (call $canister_cycle_balance128 (call $o16))
    (call $canister_liquid_cycle_balance128 (call $o16))
    (call $out_reply))
  (func (export "canister_update status") (call $begin) (call $out_i32 (call $canister_status)) (call $out_reply))
  (func (export "canister_update version") (call $begin) (call $out_i64 (call $canister_version)) (call $out_reply))
  (func (export "canister_update time") (call $begin) (call $out_i64 (call $time)) (call $out_reply))
  (func (export "canister_update root_key") (local $n i32)
    (call $begin)
    (local.set $n (call $root_key_size))
    (call $root_key_copy (global.get $o) (i32.const 0) (local.get $n))
    (call $advance (local.get $n))
    (call $out_reply))
  (func (export "canister_update is_controller")
    (call $begin)
    (call $out_i32 (call $is_controller (i32.const 0x1000) (call $arg (i32.const 0x1000))))
    (call $out_reply))
  (func (export "canister_update replicated") (call $begin) (call $out_i32 (call $in_replicated_execution)) (call $out_reply))
  (func (export "canister_query qreplicated") (call $begin) (call $out_i32 (call $in_replicated_execution)) (call $out_reply))

  ;; ---- performance counter
  (func (export "canister_update perf") (local $i i32) (local $a i64)
    (call $begin)
    (local.set $a (call $performance_counter (i32.const 0)))
    (loop $l
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get $i) (i32.const 1000))))
    (call $out_i64 (local.get $a))
    (call $out_i64 (call $performance_counter (i32.const 0)))
    (call $out_i64 (call $performance_counter (i32.const 1)))
    (call $out_reply))
  (func (export "canister_update perf_bad") (drop (call $performance_counter (i32.const 7))) (call $msg_reply))

  ;; ---- cost_*
  (func (export "canister_update costs") (local $d i32)
    (call $begin)
    (call $cost_call (i64.const 10) (i64.const 100) (call $o16))
    (call $cost_create_canister (call $o16))
    (call $cost_http_request (i64.const 1000) (i64.const 2000) (call $o16))
    ${signCost('cost_sign_with_ecdsa', KEY_1, 0)}
    ${signCost('cost_sign_with_ecdsa', KEY_1, 1)}
    ${signCost('cost_sign_with_ecdsa', NO_KEY, 0)}
    ${signCost('cost_sign_with_schnorr', KEY_1, 1)}
    ${signCost('cost_sign_with_schnorr', KEY_1, 2)}
    ${signCost('cost_sign_with_schnorr', NO_KEY, 0)}
    ${signCost('cost_vetkd_derive_key', TEST_KEY_1, 0)}
    ${signCost('cost_vetkd_derive_key', TEST_KEY_1, 1)}
    ${signCost('cost_vetkd_derive_key', NO_KEY, 0)}
    (call $out_reply))

  ;; ---- environment variables
  (func (export "canister_update env_count") (call $begin) (call $out_i32 (call $env_var_count)) (call $out_reply))
  (func (export "canister_update env_name") (local $i i32) (local $n i32)
    (call $begin)
    (local.set $i (call $arg_i32))
    (local.set $n (call $env_var_name_size (local.get $i)))
    (call $env_var_name_copy (local.get $i) (global.get $o) (i32.const 0) (local.get $n))
    (call $advance (local.get $n))
    (call $out_reply))
  (func (export "canister_update env_value") (local $k i32) (local $n i32)
    (call $begin)
    (local.set $k (call $arg (i32.const 0x1000)))
    (local.set $n (call $env_var_value_size (i32.const 0x1000) (local.get $k)))
    (call $env_var_value_copy (i32.const 0x1000) (local.get $k) (global.get $o) (i32.const 0) (local.get $n))
    (call $advance (local.get $n))
    (call $out_reply))
  (func (export "canister_update env_exists")
    (call $begin)
    (call $out_i32 (call $env_var_name_exists (i32.const 0x1000) (call $arg (i32.const 0x1000))))
    (call $out_reply))

  ;; ---- logging, trapping, burning, certifying
  (func (export "canister_update print")
    (call $debug_print (i32.const 0x1000) (call $arg (i32.const 0x1000)))
    (call $msg_reply))
  (func (export "canister_update trap") (call $trap (i32.const 0x1000) (call $arg (i32.const 0x1000))))
  (func (export "canister_update burn")
    (call $begin)
    (call $canister_cycle_balance128 (call $o16))
    (call $cycles_burn128 (i64.const 0) (call $arg_i64) (call $o16))
    (call $canister_cycle_balance128 (call $o16))
    (call $out_reply))
  (func (export "canister_update certify")
    (call $certified_data_set (i32.const 0x1000) (call $arg (i32.const 0x1000)))
    (call $msg_reply))
  (func $cert (local $n i32)
    (call $begin)
    (call $out_i32 (call $data_certificate_present))
    (if (call $data_certificate_present) (then
      (local.set $n (call $data_certificate_size))
      (call $out_i32 (local.get $n))
      (call $data_certificate_copy (global.get $o) (i32.const 0) (local.get $n))
      (call $advance (local.get $n))))
    (call $out_reply))
  (func (export "canister_update cert") (call $cert))
  (func (export "canister_query qcert") (call $cert))

  ;; ---- global timer
  (func (export "canister_update timer_set") (call $begin) (call $out_i64 (call $global_timer_set (call $arg_i64))) (call $out_reply))
  (func (export "canister_global_timer")
    (global.set $timer_fired (i32.add (global.get $timer_fired) (i32.const 1)))
    (i64.store (i32.const 0x3100) (call $time))
    (call $debug_print ${c(TIMER_FIRED)}))
  (func (export "canister_query timer_info")
    (call $begin) (call $out_i32 (global.get $timer_fired)) (call $out_i64 (i64.load (i32.const 0x3100))) (call $out_reply))

  ;; ---- stable memory
  (func (export "canister_update stable")
    (call $begin)
    (call $out_i32 (call $stable_size))
    (call $out_i32 (call $stable_grow (i32.const 1)))
    (call $out_i32 (call $stable_size))
    (call $stable_write (i32.const 10) ${c(HELLO)})
    (call $stable_read (global.get $o) (i32.const 10) (i32.const 5)) (call $advance (i32.const 5))
    (call $out_i64 (call $stable64_size))
    (call $out_i64 (call $stable64_grow (i64.const 2)))
    (call $out_i64 (call $stable64_size))
    (call $stable64_write (i64.const 131079) (i64.const ${WORLD.ptr}) (i64.const ${WORLD.len}))
    (call $stable64_read (i64.extend_i32_u (global.get $o)) (i64.const 131079) (i64.const ${WORLD.len})) (call $advance (i32.const ${WORLD.len}))
    (call $stable_read (global.get $o) (i32.const 131079) (i32.const ${WORLD.len})) (call $advance (i32.const ${WORLD.len}))
    (call $out_i32 (call $stable_grow (i32.const 65536)))
    (call $out_i64 (call $stable64_grow (i64.const 0x100000000)))
    (call $out_reply))
  (func (export "canister_query stable_read") (local $n i32)
    (call $begin)
    (local.set $n (call $arg_i32))
    (call $stable64_read (i64.extend_i32_u (global.get $o)) (i64.const 0) (i64.extend_i32_u (local.get $n)))
    (call $advance (local.get $n))
    (call $out_reply))
  (func (export "canister_update stable_oob_read")
    (call $stable64_write (i64.const 0) ${c(WORLD).replace(/i32/g, 'i64')}) ;; rolled back by the trap
    (call $stable64_read (i64.const 0) (i64.mul (call $stable64_size) (i64.const 65536)) (i64.const 1)))
  (func (export "canister_update stable_oob_write")
    (call $stable_write (i32.sub (i32.mul (call $stable_size) (i32.const 65536)) (i32.const 2)) ${c(HELLO)}))

  ;; ---- inspect message
  (func (export "canister_inspect_message") (local $n i32)
    (local.set $n (call $msg_method_name_size))
    (call $msg_method_name_copy (i32.const 0x2000) (i32.const 0) (local.get $n))
    (if (i32.ge_u (local.get $n) (i32.const 4)) (then
      (if (i32.eq (i32.load (i32.const 0x2000)) (i32.const ${DENY})) (then (return)))
      (if (i32.eq (i32.load (i32.const 0x2000)) (i32.const ${TWIC})) (then (call $accept_message)))))
    (call $accept_message))

  ;; ---- calls: the callee is the argument (a principal)
  (func $start_call (param $m i32) (param $mn i32) (param $reply i32) (param $reject i32)
    (call $call_new (i32.const 0x1000) (call $arg (i32.const 0x1000)) (local.get $m) (local.get $mn)
      (local.get $reply) (i32.const 7) (local.get $reject) (i32.const 8)))
  (func $perform (i32.store (i32.const 0x3300) (call $call_perform)))
  (func (export "canister_update call_echo")
    (call $start_call ${c(M_ECHO)} (i32.const ${CB.forward}) (i32.const ${CB.rejectInfo}))
    (call $call_data_append ${c(HELLO)})
    (call $call_data_append ${c(WORLD)})
    (call $perform))
  (func (export "canister_update call_caller")
    (call $start_call ${c(M_CALLER)} (i32.const ${CB.forward}) (i32.const ${CB.rejectInfo}))
    (call $perform))
  (func (export "canister_update call_missing")
    (call $start_call ${c(M_MISSING)} (i32.const ${CB.forward}) (i32.const ${CB.rejectInfo}))
    (call $perform))
  (func (export "canister_update call_rejecting")
    (call $start_call ${c(M_REJECT)} (i32.const ${CB.forward}) (i32.const ${CB.rejectInfo}))
    (call $call_data_append ${c(NOPE)})
    (call $perform))
  (func (export "canister_update call_mgmt")
    (call $call_new (i32.const 0) (i32.const 0) ${c(M_RAW_RAND)} (i32.const ${CB.forward}) (i32.const 1) (i32.const ${CB.rejectInfo}) (i32.const 2))
    (call $call_data_append ${c(EMPTY_CANDID)})
    (call $perform))
  (func (export "canister_update call_cleanup")
    (call $start_call ${c(M_ECHO)} (i32.const ${CB.trap}) (i32.const ${CB.trap}))
    (call $call_on_cleanup (i32.const ${CB.cleanup}) (i32.const 42))
    (call $perform))
  (func (export "canister_update call_best_effort")
    (call $start_call ${c(M_DEADLINE)} (i32.const ${CB.deadline}) (i32.const ${CB.rejectInfo}))
    (call $call_with_best_effort_response (i32.const 10))
    (call $perform))
  (func (export "canister_update status_after_call")
    (call $call_new (i32.const 0) (i32.const 0) ${c(M_RAW_RAND)} (i32.const ${CB.status}) (i32.const 0) (i32.const ${CB.status}) (i32.const 0))
    (call $call_data_append ${c(EMPTY_CANDID)})
    (call $perform))
  (func (export "canister_query cleanups")
    (call $begin)
    (call $out_i32 (global.get $cleanups)) (call $out_i32 (global.get $cleanup_env)) (call $out_i32 (global.get $cleanup_code))
    (call $out_reply))
  (func $cb_forward (param $env i32)
    (call $begin) (call $out_i32 (i32.load (i32.const 0x3300))) (call $out_i32 (local.get $env)) (call $out_arg) (call $out_reply))
  (func $cb_reject_info (param $env i32) (local $n i32)
    (call $begin)
    (call $out_i32 (local.get $env))
    (call $out_i32 (call $msg_reject_code))
    (local.set $n (call $msg_reject_msg_size))
    (call $msg_reject_msg_copy (global.get $o) (i32.const 0) (local.get $n))
    (call $advance (local.get $n))
    (call $out_reply))
  (func $cb_caller_info (param $env i32) (call $begin) (call $out_caller_info) (call $out_reply))
  (func $cb_trap (param $env i32) (call $trap ${c(CALLBACK_TRAPPED)}))
  (func $cb_cleanup (param $env i32)
    (global.set $cleanups (i32.add (global.get $cleanups) (i32.const 1)))
    (global.set $cleanup_env (local.get $env))
    (global.set $cleanup_code (call $msg_reject_code))
    (call $debug_print ${c(CLEANUP_RAN)}))
  (func $cb_deadline (param $env i32) (call $begin) (call $out_arg) (call $out_i64 (call $msg_deadline)) (call $out_reply))
  (func $cb_status (param $env i32) (call $begin) (call $out_i32 (call $canister_status)) (call $out_reply))

  ;; ---- cycles: send 600k (128-bit) + 400k (64-bit) to the argument's "accept"
  (func (export "canister_update send_cycles")
    (call $canister_cycle_balance128 (i32.const 0x3000))
    (call $start_call ${c(M_ACCEPT)} (i32.const ${CB.cycles}) (i32.const ${CB.cycles}))
    (call $call_cycles_add128 (i64.const 0) (i64.const 600000))
    (call $call_cycles_add (i64.const 400000))
    (call $canister_cycle_balance128 (i32.const 0x3010))
    (i32.store (i32.const 0x3020) (call $call_perform))
    (call $canister_cycle_balance128 (i32.const 0x3030)))
  (func $cb_cycles (param $env i32)
    (call $begin)
    (call $out_bytes (i32.const 0x3000) (i32.const 64))
    (call $msg_cycles_refunded128 (call $o16))
    (call $out_i64 (call $msg_cycles_refunded))
    (call $canister_cycle_balance128 (call $o16))
    (call $out_i32 (call $msg_reject_code))
    (call $out_arg)
    (call $out_reply))
  (func (export "canister_update accept")
    (call $begin)
    (call $msg_cycles_available128 (call $o16))
    (call $out_i64 (call $msg_cycles_available))
    (call $canister_cycle_balance128 (call $o16))
    (call $msg_cycles_accept128 (i64.const 0) (i64.const 300000) (call $o16))
    (call $out_i64 (call $msg_cycles_accept (i64.const 100000)))
    (call $msg_cycles_available128 (call $o16))
    (call $canister_cycle_balance128 (call $o16))
    (call $out_reply)
    ;; Once the call is replied, its remaining cycles go back to the caller: nothing is left here.
    (call $msg_cycles_available128 (i32.const 0x3200))
    (i64.store (i32.const 0x3210) (call $msg_cycles_accept (i64.const 1))))
  (func (export "canister_query after_reply") (call $begin) (call $out_bytes (i32.const 0x3200) (i32.const 24)) (call $out_reply))
)`;

// ---- decoding helpers --------------------------------------------------------------------------

class Reader {
  private readonly view: DataView;
  private at = 0;
  constructor(private readonly buf: Uint8Array) {
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  }
  i32(): number {
    const v = this.view.getInt32(this.at, true);
    this.at += 4;
    return v;
  }
  i64(): bigint {
    const v = this.view.getBigInt64(this.at, true);
    this.at += 8;
    return v;
  }
  u128(): bigint {
    const lo = this.view.getBigUint64(this.at, true);
    const hi = this.view.getBigUint64(this.at + 8, true);
    this.at += 16;
    return (hi << 64n) | lo;
  }
  bytes(n: number): Uint8Array {
    if (this.at + n > this.buf.length) throw new Error(`reply too short: ${this.at} + ${n} > ${this.buf.length}`);
    const v = this.buf.slice(this.at, this.at + n);
    this.at += n;
    return v;
  }
  rest(): Uint8Array {
    return this.bytes(this.buf.length - this.at);
  }
  text(n?: number): string {
    return new TextDecoder().decode(n === undefined ? this.rest() : this.bytes(n));
  }
  get done(): boolean {
    return this.at === this.buf.length;
  }
}
const r = (bytes: Uint8Array) => new Reader(bytes);
const enc = (s: string) => new TextEncoder().encode(s);
const i32Arg = (v: number) => { const b = new Uint8Array(4); new DataView(b.buffer).setInt32(0, v, true); return b; };
const i64Arg = (v: bigint) => { const b = new Uint8Array(8); new DataView(b.buffer).setBigInt64(0, v, true); return b; };
const rejected = (code: number, errorCode: string, message?: RegExp | string) => (e: unknown) => {
  assert.ok(e instanceof CallRejected, `expected CallRejected, got ${String(e)}`);
  assert.equal(e.rejectCode, code, e.message);
  assert.equal(e.errorCode, errorCode, e.message);
  if (typeof message === 'string') assert.ok(e.message.includes(message), `${JSON.stringify(e.message)} does not include ${JSON.stringify(message)}`);
  else if (message) assert.match(e.message, message);
  return true;
};

/** Free execution: balances move only by what the canisters send, accept and burn. */
const FREE = { fees: scheduleFor(1, { costSchedule: 'free' }) };
const ROOT_KEY = Uint8Array.from({ length: 133 }, (_, i) => (i * 7 + 3) & 0xff);

let probeWasm: Uint8Array | undefined;
async function probe(): Promise<Uint8Array> {
  return (probeWasm ??= await wat(PROBE));
}

async function setup(options: ConstructorParameters<typeof ExecutionTest>[0] = {}) {
  const t = new ExecutionTest({ rootKey: ROOT_KEY, ...options });
  const id = await t.createAndInstall(await probe());
  return { t, id };
}

async function updateSettings(t: ExecutionTest, id: Principal, settings: Record<string, unknown[]>) {
  await t.management('update_settings', { canister_id: id, settings: { ...emptySettings(), ...settings }, sender_canister_version: [] });
}

// ---- tests -------------------------------------------------------------------------------------

test('msg_arg_data_* and msg_reply*: the argument comes back as the reply, in updates and queries', async () => {
  const { t, id } = await setup();
  const arg = Uint8Array.from({ length: 3000 }, (_, i) => (i * 13) & 0xff);
  assert.deepEqual(await t.update(id, 'echo', arg), arg);
  assert.deepEqual(t.query(id, 'qecho', arg), arg);
  assert.deepEqual(await t.update(id, 'echo', new Uint8Array(0)), new Uint8Array(0));
});

test('msg_caller_*: the ingress sender, or the calling canister', async () => {
  const { t, id } = await setup();
  assert.deepEqual(await t.update(id, 'caller'), TEST_USER.toUint8Array());
  const other = Principal.fromUint8Array(Uint8Array.of(1, 2, 3, 4, 2));
  assert.deepEqual(await t.update(id, 'caller', new Uint8Array(0), other), other.toUint8Array());
  const b = await t.createAndInstall(await probe());
  const reply = r(await t.update(id, 'call_caller', b.toUint8Array()));
  assert.equal(reply.i32(), 0, 'call_perform returns 0');
  assert.equal(reply.i32(), 7, 'reply callback env');
  assert.deepEqual(reply.rest(), id.toUint8Array());
});

test('msg_caller_info_*: empty for callers without canister-signature caller info', async () => {
  const { t, id } = await setup();
  const reply = r(await t.update(id, 'caller_info'));
  assert.equal(reply.i32(), 0);
  assert.equal(reply.i32(), 0);
  assert.ok(reply.done);
});

test("msg_caller_info_*: an ingress message's verified sender_info, in the update and in its call context's callbacks", async () => {
  const { t, id } = await setup();
  const info = { data: enc('email=alice@example.org'), signer: Principal.fromText('rdmx6-jaaaa-aaaaa-aaadq-cai') };
  for (const method of ['caller_info', 'caller_info_after_call']) {
    const status = await t.awaitStatus(await t.submit(id, method, new Uint8Array(0), undefined, info));
    assert.equal(status.status, 'replied', method);
    const reply = r(status.reply!);
    assert.equal(reply.i32(), info.data.length);
    assert.deepEqual(reply.bytes(info.data.length), info.data);
    const signer = info.signer.toUint8Array();
    assert.equal(reply.i32(), signer.length);
    assert.deepEqual(reply.bytes(signer.length), signer);
    assert.ok(reply.done, method);
  }
});

test('msg_reject: the caller gets reject code 4 (IC0406) with the message; appended reply data is dropped', async () => {
  const { t, id } = await setup();
  await assert.rejects(t.update(id, 'reject', enc('go away')), rejected(4, 'IC0406', /^go away$/));
});

test('msg_cycles_*, call_cycles_add(128): cycles sent by one canister, partly accepted by another, the rest refunded', async () => {
  const { t, id: a } = await setup(FREE);
  const b = await t.createAndInstall(await probe());
  const aBefore = t.canister(a).balance;
  const bBefore = t.canister(b).balance;
  const reply = r(await t.update(a, 'send_cycles', b.toUint8Array()));
  // In the sender: the balance drops by the attached cycles as soon as they are added.
  const sentFrom = reply.u128();
  const afterAdd = reply.u128();
  const rc = reply.i32();
  reply.bytes(12);
  const afterPerform = reply.u128();
  assert.equal(sentFrom, aBefore);
  assert.equal(sentFrom - afterAdd, 1_000_000n);
  assert.equal(rc, 0);
  assert.equal(afterPerform, afterAdd, 'free schedule: no transmission fee or reservation');
  // In the reply callback: the refund, already on the balance.
  assert.equal(reply.u128(), 600_000n, 'msg_cycles_refunded128');
  assert.equal(reply.i64(), 600_000n, 'msg_cycles_refunded');
  assert.equal(reply.u128(), aBefore - 400_000n, 'balance in the callback includes the refund');
  assert.equal(reply.i32(), 0, 'msg_reject_code in a reply callback');
  // What the callee saw.
  assert.equal(reply.u128(), 1_000_000n, 'msg_cycles_available128');
  assert.equal(reply.i64(), 1_000_000n, 'msg_cycles_available');
  const bInMessage = reply.u128();
  assert.equal(bInMessage, bBefore);
  assert.equal(reply.u128(), 300_000n, 'msg_cycles_accept128 moved its maximum');
  assert.equal(reply.i64(), 100_000n, 'msg_cycles_accept moved its maximum');
  assert.equal(reply.u128(), 600_000n, 'available after accepting');
  assert.equal(reply.u128(), bInMessage + 400_000n, 'accepted cycles are on the balance at once');
  assert.ok(reply.done);
  assert.equal(t.canister(a).balance, aBefore - 400_000n);
  assert.equal(t.canister(b).balance, bBefore + 400_000n);
  // After msg_reply nothing is available any more (spec: es.cycles_available := 0), so a late
  // accept moves nothing and the refund stays whole.
  const after = r(t.query(b, 'after_reply'));
  assert.equal(after.u128(), 0n, 'msg_cycles_available128 after msg_reply');
  assert.equal(after.i64(), 0n, 'msg_cycles_accept after msg_reply');
});

test('canister_self_* and subnet_self_*', async () => {
  const { t, id } = await setup();
  assert.deepEqual(await t.update(id, 'self'), id.toUint8Array());
  assert.deepEqual(await t.update(id, 'subnet'), t.replica.config.subnetId.toUint8Array());
});

test('canister_cycle_balance(128): the balance as of the message (exact when execution is free)', async () => {
  const { t, id } = await setup(FREE);
  const before = t.canister(id).balance;
  const reply = r(await t.update(id, 'balance'));
  assert.equal(reply.i64(), before);
  assert.equal(reply.u128(), before);
  assert.equal(reply.u128(), before, 'no freezing threshold on a free schedule: all of it is liquid');
  assert.equal(t.canister(id).balance, before);
});

test('canister_liquid_cycle_balance128: the balance less the freezing threshold; the balance less the execution prepayment', async () => {
  const { t, id } = await setup();
  const before = t.canister(id).balance;
  const reply = r(await t.update(id, 'balance'));
  const b64 = reply.i64();
  const b128 = reply.u128();
  const liquid = reply.u128();
  assert.equal(b64, b128);
  const threshold = t.replica.env.fees.freezingThreshold(t.canister(id));
  assert.ok(threshold > 0n);
  assert.equal(liquid, b128 - threshold);
  // The message sees its balance after ingress induction and the prepayment for its instruction limit.
  const prepaid = t.replica.env.fees.executionCost(t.replica.config.execution.instructions.update);
  assert.ok(b128 < before - prepaid + 1n && b128 > before - prepaid - 10_000_000n, `${b128} vs ${before - prepaid}`);
  // With a zero freezing threshold everything is liquid.
  await updateSettings(t, id, { freezing_threshold: [0n] });
  const again = r(await t.update(id, 'balance'));
  again.i64();
  assert.equal(again.u128(), again.u128());
});

test('execution: the unused part of the instruction prepayment is refunded after a successful update', async () => {
  const { t, id } = await setup();
  const burnedSoFar = () => [...t.canister(id).cyclesBurned.values()].reduce((a, b) => a + b, 0n);
  const before = t.canister(id).balance;
  const burnedBefore = burnedSoFar();
  const inMessage = r(await t.update(id, 'balance')).i64();
  // Every cycle that left the balance was burned for something (ingress induction, execution).
  assert.equal(before - t.canister(id).balance, burnedSoFar() - burnedBefore);
  assert.ok(t.canister(id).balance > inMessage, `balance after ${t.canister(id).balance} vs in the message ${inMessage}`);
});

test('canister_status: 1 while running, 2 in a callback executing while the canister is stopping', async () => {
  const { t, id } = await setup();
  assert.equal(r(await t.update(id, 'status')).i32(), 1);
  const call = await t.submit(id, 'status_after_call', new Uint8Array(0));
  await t.tick(); // the call to raw_rand goes out; it is answered next round
  assert.equal(t.replica.ingressStatus(call)?.status, 'processing');
  const sig = MANAGEMENT_METHODS.stop_canister;
  const stop = await t.submit(Principal.managementCanister(), 'stop_canister', new Uint8Array(IDL.encode([...sig.args], [{ canister_id: id }])));
  await t.tick(); // stop_canister runs first, then the callback
  const s = await t.awaitStatus(call);
  assert.equal(s.status, 'replied');
  assert.equal(s.status === 'replied' && r(s.reply).i32(), 2);
  assert.equal((await t.awaitStatus(stop)).status, 'replied');
  assert.equal(t.canister(id).status, 'stopped');
});

test('canister_version: the version at message start; every committed update increments it', async () => {
  const { t, id } = await setup();
  const v0 = t.canister(id).version;
  assert.equal(r(await t.update(id, 'version')).i64(), v0);
  assert.equal(t.canister(id).version, v0 + 1n);
  assert.equal(r(await t.update(id, 'version')).i64(), v0 + 1n);
});

test('inspect_message: msg_method_name_* decides, accept_message admits (and traps when called twice)', async () => {
  const { t, id } = await setup();
  await assert.rejects(t.submit(id, 'deny_this', new Uint8Array(0)), (e: Error & { errorCode?: string }) => {
    assert.equal(e.errorCode, 'IC0406');
    assert.match(e.message, /Canister rejected the message/);
    return true;
  });
  await assert.rejects(t.submit(id, 'twice', new Uint8Array(0)), (e: Error & { errorCode?: string }) => {
    assert.equal(e.errorCode, 'IC0504');
    assert.match(e.message, /accept_message/);
    return true;
  });
  // Accepted messages execute normally.
  assert.deepEqual(await t.update(id, 'echo', enc('ok')), enc('ok'));
});

test('call_new/call_data_append/call_perform: a call to another canister, the reply callback by table index', async () => {
  const { t, id } = await setup();
  const b = await t.createAndInstall(await probe());
  const reply = r(await t.update(id, 'call_echo', b.toUint8Array()));
  assert.equal(reply.i32(), 0, 'call_perform');
  assert.equal(reply.i32(), 7, 'reply env');
  assert.equal(reply.text(), 'hello world', 'both call_data_append pieces arrive');
});

test('reject callbacks: msg_reject_code and msg_reject_msg_* for a canister reject and a missing method', async () => {
  const { t, id } = await setup();
  const b = await t.createAndInstall(await probe());
  const rej = r(await t.update(id, 'call_rejecting', b.toUint8Array()));
  assert.equal(rej.i32(), 8, 'reject env');
  assert.equal(rej.i32(), 4, 'CANISTER_REJECT');
  assert.equal(rej.text(), 'nope');
  const missing = r(await t.update(id, 'call_missing', b.toUint8Array()));
  assert.equal(missing.i32(), 8);
  assert.equal(missing.i32(), 5, 'CANISTER_ERROR');
  assert.match(missing.text(), /has no update method 'nonexistent'/);
  // A call to a canister that does not exist comes back as a reject, too.
  const nobody = Principal.fromUint8Array(Uint8Array.of(0, 0, 0, 0, 0, 0xff, 0xff, 0xf0, 1, 1));
  const gone = r(await t.update(id, 'call_missing', nobody.toUint8Array()));
  assert.equal(gone.i32(), 8);
  assert.equal(gone.i32(), 3, 'DESTINATION_INVALID');
  assert.match(gone.text(), /not found/);
});

test('a call to the management canister (raw_rand) is answered in a later round', async () => {
  const { t, id } = await setup();
  const height = t.state.height;
  const reply = r(await t.update(id, 'call_mgmt'));
  assert.ok(t.state.height >= height + 2n);
  assert.equal(reply.i32(), 0);
  assert.equal(reply.i32(), 1);
  const bytes = IDL.decode([IDL.Vec(IDL.Nat8)], reply.rest())[0] as unknown as Uint8Array;
  assert.equal(bytes.length, 32);
});

test('call_on_cleanup: the cleanup callback runs (with its env) when the reply callback traps, and its changes persist', async () => {
  const { t, id } = await setup();
  const b = await t.createAndInstall(await probe());
  await assert.rejects(t.update(id, 'call_cleanup', b.toUint8Array()), rejected(5, 'IC0503', 'callback trapped'));
  const cleanups = r(t.query(id, 'cleanups'));
  assert.equal(cleanups.i32(), 1);
  assert.equal(cleanups.i32(), 42, 'cleanup env');
  assert.equal(cleanups.i32(), 0, 'msg_reject_code in the cleanup of a reply callback');
  assert.ok(t.canister(id).logs.some((l) => new TextDecoder().decode(l.content) === 'cleanup ran'));
});

test('call_with_best_effort_response: the callee and the callback see the deadline; ingress has none (msg_deadline 0)', async () => {
  const { t, id } = await setup();
  assert.equal(r(await t.update(id, 'deadline')).i64(), 0n);
  const b = await t.createAndInstall(await probe());
  const reply = r(await t.update(id, 'call_best_effort', b.toUint8Array()));
  const calleeDeadline = reply.i64();
  const callbackDeadline = reply.i64();
  assert.equal(calleeDeadline, callbackDeadline);
  // The call went out in the round of the ingress message: deadline = that round's time + 10 s.
  const roundTimes = t.rounds.length;
  assert.ok(roundTimes >= 1);
  assert.equal(calleeDeadline, t.state.time + 10_000_000_000n);
});

test('stable_* and stable64_*: size, grow, write, read; the 32-bit API is limited to 4 GiB', async () => {
  const { t, id } = await setup();
  const reply = r(await t.update(id, 'stable'));
  assert.equal(reply.i32(), 0, 'stable_size');
  assert.equal(reply.i32(), 0, 'stable_grow returns the old size');
  assert.equal(reply.i32(), 1, 'stable_size after grow');
  assert.equal(reply.text(5), 'hello');
  assert.equal(reply.i64(), 1n, 'stable64_size');
  assert.equal(reply.i64(), 1n, 'stable64_grow returns the old size');
  assert.equal(reply.i64(), 3n);
  assert.equal(reply.text(6), ' world', 'stable64 write/read');
  assert.equal(reply.text(6), ' world', 'the 32-bit read sees the same bytes');
  assert.equal(reply.i32(), -1, 'stable_grow beyond 4 GiB');
  assert.equal(reply.i64(), -1n, 'stable64_grow beyond the stable memory limit');
  assert.ok(reply.done);
  assert.equal(t.canister(id).stable.sizeBytes, 3 * 65536);
  const persisted = t.query(id, 'stable_read', i32Arg(16));
  assert.equal(new TextDecoder().decode(persisted.slice(10, 15)), 'hello');
});

test('stable memory out of bounds traps (IC0502) and rolls back the message', async () => {
  const { t, id } = await setup();
  await t.update(id, 'stable');
  const before = t.query(id, 'stable_read', i32Arg(8));
  await assert.rejects(t.update(id, 'stable_oob_read'), rejected(5, 'IC0502', 'stable memory out of bounds'));
  await assert.rejects(t.update(id, 'stable_oob_write'), rejected(5, 'IC0502', 'stable memory out of bounds'));
  assert.deepEqual(t.query(id, 'stable_read', i32Arg(8)), before, 'the write before the trap was rolled back');
});

test('root_key_*: the subnet root key', async () => {
  const { t, id } = await setup();
  assert.deepEqual(await t.update(id, 'root_key'), ROOT_KEY);
});

test('certified_data_set: up to 32 bytes are certified; more traps (IC0504)', async () => {
  const { t, id } = await setup();
  const data = Uint8Array.from({ length: 32 }, (_, i) => i + 1);
  await t.update(id, 'certify', data);
  assert.deepEqual(t.canister(id).certifiedData, data);
  await assert.rejects(t.update(id, 'certify', new Uint8Array(33)), rejected(5, 'IC0504', 'certified_data_set'));
  assert.deepEqual(t.canister(id).certifiedData, data);
});

test('data_certificate_*: absent in updates, present in a query given a certificate', async () => {
  const { t, id } = await setup();
  assert.deepEqual(r(await t.update(id, 'cert')).i32(), 0);
  assert.deepEqual(r(t.query(id, 'qcert')).i32(), 0, 'no certificate supplied');
  const certificate = Uint8Array.from({ length: 300 }, (_, i) => (i * 31) & 0xff);
  const q = t.replica.query(id, 'qcert', new Uint8Array(0), TEST_USER, certificate);
  assert.equal(q.status, 'replied');
  const reply = r(q.status === 'replied' ? q.reply : new Uint8Array(0));
  assert.equal(reply.i32(), 1);
  assert.equal(reply.i32(), certificate.length);
  assert.deepEqual(reply.rest(), certificate);
});

test('time: the block time of the round the message executes in', async () => {
  const { t, id } = await setup();
  const reply = r(await t.update(id, 'time'));
  assert.equal(reply.i64(), t.state.time);
  assert.equal(t.state.time, t.clock.now());
});

test('global_timer_set: returns the previous value; the timer fires canister_global_timer in a later round, once', async () => {
  const { t, id } = await setup();
  const later = t.state.time + 3_600_000_000_000n;
  assert.equal(r(await t.update(id, 'timer_set', i64Arg(later))).i64(), 0n);
  assert.equal(r(await t.update(id, 'timer_set', i64Arg(0n))).i64(), later, 'cancelled');
  const due = t.state.time + 1n;
  assert.equal(r(await t.update(id, 'timer_set', i64Arg(due))).i64(), 0n);
  assert.equal(r(t.query(id, 'timer_info')).i32(), 0, 'not in the round that set it');
  await t.tick();
  const info = r(t.query(id, 'timer_info'));
  assert.equal(info.i32(), 1);
  assert.ok(info.i64() >= due);
  assert.ok(t.canister(id).logs.some((l) => new TextDecoder().decode(l.content) === 'timer fired'));
  await t.tick();
  await t.tick();
  assert.equal(r(t.query(id, 'timer_info')).i32(), 1, 'fires once');
  assert.equal(r(await t.update(id, 'timer_set', i64Arg(0n))).i64(), 0n, 'a fired timer is unset');
});

test('performance_counter: type 0 increases within a message; type 1 includes it; other types trap', async () => {
  const { t, id } = await setup();
  const reply = r(await t.update(id, 'perf'));
  const a = reply.i64();
  const b = reply.i64();
  const callContext = reply.i64();
  assert.ok(a > 0n);
  assert.ok(b - a > 3000n, `a loop of 1000 iterations between the reads: ${a} -> ${b}`);
  assert.ok(callContext >= b);
  await assert.rejects(t.update(id, 'perf_bad'), rejected(5, 'IC0504', 'performance_counter'));
});

test('is_controller: 1 for a controller, 0 otherwise; more than 29 bytes traps', async () => {
  const { t, id } = await setup();
  assert.equal(r(await t.update(id, 'is_controller', TEST_USER.toUint8Array())).i32(), 1);
  assert.equal(r(await t.update(id, 'is_controller', id.toUint8Array())).i32(), 0);
  assert.equal(r(await t.update(id, 'is_controller', new Uint8Array(0))).i32(), 0);
  await assert.rejects(t.update(id, 'is_controller', new Uint8Array(30)), rejected(5, 'IC0504', 'is_controller'));
});

test('in_replicated_execution: 1 in an update and a replicated query, 0 in a query call', async () => {
  const { t, id } = await setup();
  assert.equal(r(await t.update(id, 'replicated')).i32(), 1);
  assert.equal(r(await t.update(id, 'qreplicated')).i32(), 1);
  assert.equal(r(t.query(id, 'qreplicated')).i32(), 0);
});

test('cost_*: the fee schedule of the subnet (replica/src/cycles); unknown keys and curves give return codes', async () => {
  const { t, id } = await setup();
  const schedule = scheduleFor(t.replica.config.subnetSize);
  const reply = r(await t.update(id, 'costs'));
  assert.equal(reply.u128(), xnetCallCost(schedule, 10, 100), 'cost_call');
  assert.equal(reply.u128(), canisterCreationCost(schedule), 'cost_create_canister');
  assert.equal(reply.u128(), httpRequestCost(schedule, 1000, 2000), 'cost_http_request');
  const sign = () => ({ rc: reply.i32(), cost: reply.u128() });
  const ecdsa = [sign(), sign(), sign()];
  const schnorr = [sign(), sign(), sign()];
  const vetkd = [sign(), sign(), sign()];
  assert.deepEqual(ecdsa[0], { rc: 0, cost: signatureCost(schedule, 'ecdsa') });
  assert.equal(ecdsa[1]!.rc, 1, 'ecdsa: unknown curve');
  assert.equal(ecdsa[2]!.rc, 2, 'ecdsa: unknown key');
  assert.deepEqual(schnorr[0], { rc: 0, cost: signatureCost(schedule, 'schnorr') }, 'ed25519');
  assert.equal(schnorr[1]!.rc, 1, 'schnorr: unknown algorithm');
  assert.equal(schnorr[2]!.rc, 2, 'schnorr: unknown key');
  assert.deepEqual(vetkd[0], { rc: 0, cost: signatureCost(schedule, 'vetkd') });
  assert.equal(vetkd[1]!.rc, 1, 'vetkd: unknown curve');
  assert.equal(vetkd[2]!.rc, 2, 'vetkd: unknown key');
});

test('env_var_*: variables set with update_settings, in name order', async () => {
  const { t, id } = await setup();
  assert.equal(r(await t.update(id, 'env_count')).i32(), 0);
  await updateSettings(t, id, { environment_variables: [[{ name: 'ZED', value: 'last' }, { name: 'ALPHA', value: 'grüße' }]] });
  assert.equal(r(await t.update(id, 'env_count')).i32(), 2);
  assert.equal(new TextDecoder().decode(await t.update(id, 'env_name', i32Arg(0))), 'ALPHA');
  assert.equal(new TextDecoder().decode(await t.update(id, 'env_name', i32Arg(1))), 'ZED');
  assert.equal(new TextDecoder().decode(await t.update(id, 'env_value', enc('ALPHA'))), 'grüße');
  assert.equal(r(await t.update(id, 'env_exists', enc('ZED'))).i32(), 1);
  assert.equal(r(await t.update(id, 'env_exists', enc('zed'))).i32(), 0);
  await assert.rejects(t.update(id, 'env_name', i32Arg(2)), rejected(5, 'IC0504', 'env_var_name_size'));
  await assert.rejects(t.update(id, 'env_value', enc('NOPE')), rejected(5, 'IC0504', 'env_var_value_size'));
});

test('debug_print: lands in the canister log', async () => {
  const { t, id } = await setup();
  await t.update(id, 'print', enc('hello from wasm'));
  const last = t.canister(id).logs.at(-1)!;
  assert.equal(new TextDecoder().decode(last.content), 'hello from wasm');
  assert.equal(last.timestampNanos, t.state.time);
});

test('trap: IC0503 with the message; the message is rolled back', async () => {
  const { t, id } = await setup();
  const version = t.canister(id).version;
  await assert.rejects(t.update(id, 'trap', enc('custom failure')), rejected(5, 'IC0503', "Canister called `ic0.trap` with message: 'custom failure'"));
  assert.equal(t.canister(id).version, version);
});

test('cycles_burn128: burns up to the liquid balance; the balance drops by the amount burned', async () => {
  const { t, id } = await setup(FREE);
  const before = t.canister(id).balance;
  const reply = r(await t.update(id, 'burn', i64Arg(1_234_567n)));
  const inBefore = reply.u128();
  assert.equal(inBefore, before);
  assert.equal(reply.u128(), 1_234_567n);
  assert.equal(reply.u128(), inBefore - 1_234_567n);
  assert.equal(t.canister(id).balance, before - 1_234_567n);
  assert.equal(t.canister(id).cyclesBurned.get('cycles_burn'), 1_234_567n);
  // Asking for more than the balance burns what is there.
  const all = r(await t.update(id, 'burn', i64Arg(-1n))); // 2^64 - 1
  const had = all.u128();
  assert.equal(all.u128(), had);
  assert.equal(t.canister(id).balance, 0n);
});

// ---- upgrade hooks and call contexts --------------------------------------------------------

const UPGRADE_PROBE = `(module
  ${IMPORTS}
  (memory 1)
  ${S.wat()}
  (table 1 funcref)
  (elem (i32.const 0) $cb)
  ${HELPERS}
  (func $save (param $at i64)
    (if (i64.eqz (call $stable64_size)) (then (drop (call $stable64_grow (i64.const 1)))))
    (i64.store (i32.const 0x3000) (call $canister_version))
    (i32.store (i32.const 0x3008) (call $canister_status))
    (call $stable64_write (local.get $at) (i64.const 0x3000) (i64.const 12)))
  (func (export "canister_pre_upgrade") (call $save (i64.const 0)))
  (func (export "canister_post_upgrade") (call $save (i64.const 16)))
  (func (export "canister_query upgrade_info")
    (call $begin)
    (call $stable64_read (i64.extend_i32_u (global.get $o)) (i64.const 0) (i64.const 28))
    (call $advance (i32.const 28))
    (call $out_reply))
  (func $spin (local $i i32)
    (loop $l (local.set $i (i32.add (local.get $i) (i32.const 1))) (br_if $l (i32.lt_u (local.get $i) (i32.const 10000)))))
  ;; Works, then calls itself; the callback reports both performance counters.
  (func (export "canister_update work_then_call")
    (call $spin)
    (call $canister_self_copy (i32.const 0x1000) (i32.const 0) (call $canister_self_size))
    (call $call_new (i32.const 0x1000) (call $canister_self_size) ${c(M_ECHO)} (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0))
    (drop (call $call_perform)))
  (func (export "canister_update echo") (call $msg_reply))
  (func $cb (param $env i32)
    (call $begin)
    (call $out_i64 (call $performance_counter (i32.const 0)))
    (call $out_i64 (call $performance_counter (i32.const 1)))
    (call $out_reply))
  (func (export "canister_update print_then_trap")
    (call $debug_print ${c(HELLO)})
    (call $trap ${c(NOPE)}))
)`;

test('canister_status in post_upgrade of a stopped canister is 3 (stopped)', async () => {
  const t = new ExecutionTest();
  const wasm = await wat(UPGRADE_PROBE);
  const id = await t.createAndInstall(wasm);
  await t.management('stop_canister', { canister_id: id });
  await t.install(id, wasm, undefined, 'upgrade');
  await t.management('start_canister', { canister_id: id });
  const info = r(t.query(id, 'upgrade_info'));
  info.i64();
  assert.equal(info.i32(), 3, 'pre_upgrade');
  info.bytes(4);
  info.i64();
  assert.equal(info.i32(), 3, 'post_upgrade');
});

test('canister_version: pre_upgrade sees the old version, post_upgrade the new one', async () => {
  const t = new ExecutionTest();
  const wasm = await wat(UPGRADE_PROBE);
  const id = await t.createAndInstall(wasm);
  const before = t.canister(id).version;
  await t.install(id, wasm, undefined, 'upgrade');
  const info = r(t.query(id, 'upgrade_info'));
  assert.equal(info.i64(), before, 'pre_upgrade: the old version');
  info.bytes(8);
  assert.ok(info.i64() > before, 'post_upgrade: the new version');
});

test('performance_counter(1) counts the whole call context, across the update and its callback', async () => {
  const t = new ExecutionTest();
  const id = await t.createAndInstall(await wat(UPGRADE_PROBE));
  const reply = r(await t.update(id, 'work_then_call'));
  const message = reply.i64();
  const callContext = reply.i64();
  assert.ok(callContext > message + 30_000n, `counter 0: ${message}, counter 1: ${callContext} (the update ran a 10 000-iteration loop)`);
});

test('canister logs keep the debug_print output of a message that traps, and the trap', async () => {
  const t = new ExecutionTest();
  const id = await t.createAndInstall(await wat(UPGRADE_PROBE));
  await assert.rejects(t.update(id, 'print_then_trap'), rejected(5, 'IC0503', 'nope'));
  const lines = t.canister(id).logs.map((l) => new TextDecoder().decode(l.content));
  assert.ok(lines.includes('hello'), JSON.stringify(lines));
  assert.ok(lines.some((l) => l.includes('nope')), JSON.stringify(lines));
});

test('coverage: every ic0 function of signatures.ts is called by the probe canister', () => {
  const missing = Object.keys(IC0).filter((name) => !PROBE.includes(`(call $${name} `) && !PROBE.includes(`(call $${name})`));
  assert.deepEqual(missing, []);
});
