// A small WAT canister whose update method `run` does what its argument says: reply, trap, burn
// or accept cycles, loop (long executions under a small DTS slice), grow its memory, or call
// another canister (or the management canister) with cycles and a program of its own. Cheap to
// install and to run, so that tests can make thousands of rounds of varied traffic with exact
// cycles accounting.
//
// Argument: one op byte, then its operands.
//   0 reply ""                  1 trap
//   2 burn <u64 LE>, reply      3 accept half of the cycles available, reply
//   4 loop <u8 k> (k·1000 iterations), reply
//   5 grow the heap by one page, reply
//   6 call <u8 calleeLen> <callee> <u8 methodLen> <method> <u64 LE cycles> <u8 mode> <rest: arg>
//     mode bit 0: trap in the reply callback (a cleanup runs); bit 1: best-effort call (1 s);
//     bit 2: trap right after call_perform (the call is discarded).
//     Reply callback replies with the callee's reply; reject callback replies with
//     `[reject code] + reject message`.

import { Principal } from '@icp-sdk/core/principal';
import { wat } from './wat.js';
import { concatBytes } from '../../replica/src/bytes.js';

const SOURCE = `
(module
  (import "ic0" "msg_arg_data_size" (func $arg_size (result i32)))
  (import "ic0" "msg_arg_data_copy" (func $arg_copy (param i32 i32 i32)))
  (import "ic0" "msg_reply_data_append" (func $append (param i32 i32)))
  (import "ic0" "msg_reply" (func $reply))
  (import "ic0" "msg_reject_code" (func $reject_code (result i32)))
  (import "ic0" "msg_reject_msg_size" (func $reject_msg_size (result i32)))
  (import "ic0" "msg_reject_msg_copy" (func $reject_msg_copy (param i32 i32 i32)))
  (import "ic0" "msg_cycles_available128" (func $available (param i32)))
  (import "ic0" "msg_cycles_accept128" (func $accept (param i64 i64 i32)))
  (import "ic0" "cycles_burn128" (func $burn (param i64 i64 i32)))
  (import "ic0" "call_new" (func $call_new (param i32 i32 i32 i32 i32 i32 i32 i32)))
  (import "ic0" "call_on_cleanup" (func $call_on_cleanup (param i32 i32)))
  (import "ic0" "call_data_append" (func $call_data_append (param i32 i32)))
  (import "ic0" "call_cycles_add128" (func $call_cycles_add128 (param i64 i64)))
  (import "ic0" "call_with_best_effort_response" (func $best_effort (param i32)))
  (import "ic0" "call_perform" (func $call_perform (result i32)))
  (import "ic0" "trap" (func $trap (param i32 i32)))
  (memory 2)
  (table 3 funcref)
  (elem (i32.const 0) $on_reply $on_reject $on_cleanup)
  (data (i32.const 0) "trap")

  ;; The argument is copied to 0x10000 (the second page); scratch space at 0x100.
  (func $load (result i32) (local $n i32)
    (local.set $n (call $arg_size))
    (call $arg_copy (i32.const 0x10000) (i32.const 0) (local.get $n))
    (local.get $n))

  (func $fail (call $trap (i32.const 0) (i32.const 4)))

  (func (export "canister_update run") (local $n i32) (local $op i32) (local $p i32) (local $i i32)
    (local $callee i32) (local $clen i32) (local $method i32) (local $mlen i32) (local $mode i32)
    (local.set $n (call $load))
    (local.set $op (i32.load8_u (i32.const 0x10000)))
    (if (i32.eq (local.get $op) (i32.const 1)) (then (call $fail)))
    (if (i32.eq (local.get $op) (i32.const 2)) (then
      (call $burn (i64.const 0) (i64.load (i32.const 0x10001)) (i32.const 0x100))))
    (if (i32.eq (local.get $op) (i32.const 3)) (then
      (call $available (i32.const 0x100))
      (call $accept (i64.const 0) (i64.shr_u (i64.load (i32.const 0x100)) (i64.const 1)) (i32.const 0x110))))
    (if (i32.eq (local.get $op) (i32.const 4)) (then
      (local.set $i (i32.mul (i32.load8_u (i32.const 0x10001)) (i32.const 1000)))
      (loop $spin
        (local.set $i (i32.sub (local.get $i) (i32.const 1)))
        (br_if $spin (i32.gt_s (local.get $i) (i32.const 0))))))
    (if (i32.eq (local.get $op) (i32.const 5)) (then (drop (memory.grow (i32.const 1)))))
    (if (i32.eq (local.get $op) (i32.const 6)) (then
      (local.set $clen (i32.load8_u (i32.const 0x10001)))
      (local.set $callee (i32.const 0x10002))
      (local.set $p (i32.add (local.get $callee) (local.get $clen)))
      (local.set $mlen (i32.load8_u (local.get $p)))
      (local.set $method (i32.add (local.get $p) (i32.const 1)))
      (local.set $p (i32.add (local.get $method) (local.get $mlen)))
      (local.set $mode (i32.load8_u (i32.add (local.get $p) (i32.const 8))))
      (call $call_new (local.get $callee) (local.get $clen) (local.get $method) (local.get $mlen)
        (i32.const 0) (i32.and (local.get $mode) (i32.const 1)) (i32.const 1) (i32.const 0))
      (call $call_on_cleanup (i32.const 2) (i32.const 0))
      (if (i32.and (local.get $mode) (i32.const 2)) (then (call $best_effort (i32.const 1))))
      (call $call_cycles_add128 (i64.const 0) (i64.load (local.get $p)))
      (local.set $p (i32.add (local.get $p) (i32.const 9)))
      (call $call_data_append (local.get $p) (i32.sub (i32.add (i32.const 0x10000) (local.get $n)) (local.get $p)))
      (if (call $call_perform) (then (call $fail)))
      (if (i32.and (local.get $mode) (i32.const 4)) (then (call $fail)))
      (return)))
    (call $reply))

  (func $on_reply (param $env i32) (local $n i32)
    (if (local.get $env) (then (call $fail)))
    (local.set $n (call $load))
    (call $append (i32.const 0x10000) (local.get $n))
    (call $reply))

  (func $on_reject (param $env i32) (local $n i32)
    (i32.store8 (i32.const 0x100) (call $reject_code))
    (call $append (i32.const 0x100) (i32.const 1))
    (local.set $n (call $reject_msg_size))
    (call $reject_msg_copy (i32.const 0x10000) (i32.const 0) (local.get $n))
    (call $append (i32.const 0x10000) (local.get $n))
    (call $reply))

  (func $on_cleanup (param $env i32)))
`;

let compiled: Promise<Uint8Array> | undefined;

/** The program canister's Wasm. */
export function programCanister(): Promise<Uint8Array> {
  compiled ??= wat(SOURCE);
  return compiled;
}

const utf8 = new TextEncoder();

export const program = {
  reply: (): Uint8Array => Uint8Array.of(0),
  trap: (): Uint8Array => Uint8Array.of(1),
  burn: (amount: bigint): Uint8Array => concatBytes([Uint8Array.of(2), u64(amount)]),
  acceptHalf: (): Uint8Array => Uint8Array.of(3),
  loop: (thousands: number): Uint8Array => Uint8Array.of(4, thousands),
  grow: (): Uint8Array => Uint8Array.of(5),
  /** A call of `method` on `callee` (the management canister too) with `cycles` and `arg`. */
  call(callee: Principal, method: string, cycles: bigint, arg: Uint8Array, mode: { trapInReply?: boolean; bestEffort?: boolean; trapAfter?: boolean } = {}): Uint8Array {
    const id = callee.toUint8Array();
    const name = utf8.encode(method);
    const flags = (mode.trapInReply ? 1 : 0) | (mode.bestEffort ? 2 : 0) | (mode.trapAfter ? 4 : 0);
    return concatBytes([Uint8Array.of(6, id.length), id, Uint8Array.of(name.length), name, u64(cycles), Uint8Array.of(flags), arg]);
  },
};

function u64(n: bigint): Uint8Array {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setBigUint64(0, n, true);
  return b;
}

