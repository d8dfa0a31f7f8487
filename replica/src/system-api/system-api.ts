// The ic0 System API (interface spec, "Canister interface (System API)") for 32-bit canisters.
// One SystemApi per message execution: it checks where each function may be called, bounds-checks
// every memory access, charges the per-call instruction overhead, and collects what the message
// produced into an ApiOutcome that the execution layer commits or discards.

import { IC0, type ApiContext } from './signatures.js';
import { CanisterTrap } from './errors.js';
import { costOf } from './costs.js';
import { concatBytes, equalBytes } from '../bytes.js';
import {
  DEFAULT_SYSTEM_API_LIMITS,
  type ApiOutcome,
  type CallCosts,
  type CanisterView,
  type MessageInput,
  type OutgoingCall,
  type SandboxAccess,
  type SystemApiLimits,
} from './types.js';

const CONTEXT_NAMES: Record<ApiContext, string> = {
  I: 'init', G: 'pre upgrade', U: 'update', RQ: 'replicated query', NRQ: 'non replicated query',
  TQ: 'transform', CQ: 'composite query', Ry: 'reply callback', Rt: 'reject callback',
  CRy: 'composite reply callback', CRt: 'composite reject callback', C: 'cleanup',
  CC: 'composite cleanup', F: 'inspect message', T: 'system task', s: 'start',
};

const EMPTY = new Uint8Array(0);
const U64_MAX = (1n << 64n) - 1n;
/** Curves/algorithms the spec defines: ecdsa secp256k1 (0); schnorr bip340secp256k1 (0), ed25519 (1); vetkd bls12_381_g2 (0). */
const THRESHOLD_VARIANTS = { ecdsa: 1, schnorr: 2, vetkd: 1 } as const;
const utf8 = new TextDecoder('utf-8', { fatal: true });
const utf8Lossy = new TextDecoder('utf-8');

type CallUnderConstruction = OutgoingCall & { onCleanupSet: boolean; timeoutSet: boolean };

/** What a System API holds between messages (`release`): nothing of the last one. */
const RELEASED: { readonly message: MessageInput; readonly canister: CanisterView; readonly outcome: ApiOutcome } = {
  message: { context: 'T', caller: EMPTY, arg: EMPTY, cyclesAvailable: 0n, cyclesRefunded: 0n, rejectCode: 0, deadline: 0n, needsResponse: false, replicated: true },
  canister: { canisterId: EMPTY, controllers: [], status: 3, version: 0n, balance: 0n, frozenReserve: 0n, globalTimer: 0n, envVars: [], subnetId: EMPTY, rootKey: EMPTY, time: 0n },
  outcome: { calls: [], cyclesAccepted: 0n, cyclesBurned: 0n, messageAccepted: false, logs: [], balance: 0n },
};

export class SystemApi {
  // One SystemApi serves a sandbox for its whole life: `reset` starts each message, and the
  // import table is built once (building ~80 closures per message was a third of a trivial
  // update's cost).
  outcome!: ApiOutcome;
  message!: MessageInput;
  canister!: CanisterView;
  private costs!: CallCosts;
  private limits!: SystemApiLimits;
  private readonly replyBuffer: Uint8Array[] = [];
  private replyBytes = 0;
  private pending: CallUnderConstruction | undefined;
  /** Whether a call_new was concluded by call_perform since (then call_* trap until call_new). */
  private performed = false;
  private cyclesAvailable = 0n;
  private table: Record<string, (...args: never[]) => unknown> | undefined;

  constructor(
    private readonly sandbox: SandboxAccess,
    message: MessageInput,
    canister: CanisterView,
    costs: CallCosts,
    limits: SystemApiLimits = DEFAULT_SYSTEM_API_LIMITS,
  ) {
    this.reset(message, canister, costs, limits);
  }

  /** Starts a new message: everything the previous one produced is forgotten. */
  reset(message: MessageInput, canister: CanisterView, costs: CallCosts, limits: SystemApiLimits = DEFAULT_SYSTEM_API_LIMITS): void {
    this.message = message;
    this.canister = canister;
    this.costs = costs;
    this.limits = limits;
    this.replyBuffer.length = 0;
    this.replyBytes = 0;
    this.pending = undefined;
    this.performed = false;
    this.cyclesAvailable = message.cyclesAvailable;
    this.outcome = {
      calls: [],
      cyclesAccepted: 0n,
      cyclesBurned: 0n,
      messageAccepted: false,
      logs: [],
      balance: canister.balance,
    };
  }

  /**
   * Lets go of the message after its run: a sandbox keeps its System API from one message to the
   * next, and what the last message read (its input, a worker's job buffer) would otherwise stay
   * alive for a round and be copied by every collection of the young generation meanwhile.
   */
  release(): void {
    this.message = RELEASED.message;
    this.canister = RELEASED.canister;
    this.outcome = RELEASED.outcome;
    this.replyBuffer.length = 0;
    this.pending = undefined;
  }

  /** Called when the Wasm function returns normally: cycles of a call never performed go back. */
  finish(): ApiOutcome {
    this.discardPending();
    return this.outcome;
  }

  // ---- helpers -------------------------------------------------------------------------------

  private enter(name: string, bytes = 0): void {
    this.allowed(name);
    this.sandbox.charge(costOf(name, bytes));
  }

  /** Traps unless `name` may be called from the current context. */
  private allowed(name: string): void {
    const ctx = this.message.context;
    if (!IC0[name]!.contexts.has(ctx)) {
      throw CanisterTrap.contract(`"ic0_${name}" cannot be executed in ${CONTEXT_NAMES[ctx]} mode`);
    }
  }

  /** Traps unless `[dst, dst+length)` lies in linear memory (checked before producing the bytes). */
  private writable(name: string, dst: number, length: number): void {
    const size = this.sandbox.memory().length;
    if (dst + length > size) {
      throw CanisterTrap.contract(`ic0.${name}: dst=${dst} + length=${length} exceeds the slice size=${size}`);
    }
  }

  /** The deprecated 32-bit stable memory API only works on a stable memory of at most 4 GiB. */
  private stable32(): void {
    if (this.sandbox.stable.sizePages() > 65536n) {
      throw CanisterTrap.trapped('32 bit stable memory api used on a memory larger than 4GB');
    }
  }

  private read(name: string, src: number, size: number): Uint8Array {
    const mem = this.sandbox.memory();
    const start = src >>> 0;
    const len = size >>> 0;
    if (start + len > mem.length) {
      throw CanisterTrap.contract(`ic0.${name}: src=${start} + length=${len} exceeds the slice size=${mem.length}`);
    }
    return mem.slice(start, start + len);
  }

  private write(name: string, dst: number, bytes: Uint8Array): void {
    const mem = this.sandbox.memory();
    const start = dst >>> 0;
    if (start + bytes.length > mem.length) {
      throw CanisterTrap.contract(`ic0.${name}: dst=${start} + length=${bytes.length} exceeds the slice size=${mem.length}`);
    }
    this.sandbox.markDirty(start, bytes.length);
    mem.set(bytes, start);
  }

  /** The `*_copy` idiom: copy `data[offset..offset+size]` to `memory[dst..]`. */
  private copy(name: string, data: Uint8Array, dst: number, offset: number, size: number): void {
    const off = offset >>> 0;
    const len = size >>> 0;
    if (off + len > data.length) {
      throw CanisterTrap.contract(`ic0.${name}: offset=${off} + length=${len} exceeds the size=${data.length} of the data`);
    }
    this.write(name, dst, data.subarray(off, off + len));
  }

  private write128(name: string, dst: number, value: bigint): void {
    const out = new Uint8Array(16);
    const view = new DataView(out.buffer);
    view.setBigUint64(0, value & U64_MAX, true);
    view.setBigUint64(8, value >> 64n, true);
    this.write(name, dst, out);
  }

  private respondable(name: string): void {
    if (!this.message.needsResponse || this.outcome.response) {
      throw CanisterTrap.contract(`ic0.${name}: the call is already replied or does not need a response`);
    }
  }

  private call(name: string): CallUnderConstruction {
    if (!this.pending) {
      throw CanisterTrap.contract(`ic0.${name}: no call is under construction (call ic0.call_new first)`);
    }
    return this.pending;
  }

  private discardPending(): void {
    if (this.pending) this.outcome.balance += this.pending.cycles;
    this.pending = undefined;
  }

  private liquidBalance(): bigint {
    const liquid = this.outcome.balance - this.canister.frozenReserve;
    return liquid > 0n ? liquid : 0n;
  }

  private text(name: string, bytes: Uint8Array): string {
    try {
      return utf8.decode(bytes);
    } catch {
      throw CanisterTrap.contract(`ic0.${name}: the text is not valid UTF-8`);
    }
  }

  // ---- the imports ---------------------------------------------------------------------------

  /** The `ic0` functions, for `WebAssembly.instantiate(module, { ic0: ... })`. */
  functions(): Record<string, (...args: never[]) => unknown> {
    if (this.table) return this.table;
    const api = {
      msg_arg_data_size: () => (this.enter('msg_arg_data_size'), this.message.arg.length),
      msg_arg_data_copy: (dst: number, off: number, size: number) => {
        this.enter('msg_arg_data_copy', size >>> 0);
        this.copy('msg_arg_data_copy', this.message.arg, dst, off, size);
      },
      msg_caller_size: () => (this.enter('msg_caller_size'), this.message.caller.length),
      msg_caller_copy: (dst: number, off: number, size: number) => {
        this.enter('msg_caller_copy', size >>> 0);
        this.copy('msg_caller_copy', this.message.caller, dst, off, size);
      },
      // Caller info is only set for callers authenticated by canister signatures, which we do not issue.
      msg_caller_info_data_size: () => (this.enter('msg_caller_info_data_size'), this.message.callerInfo?.data.length ?? 0),
      msg_caller_info_data_copy: (dst: number, off: number, size: number) => {
        this.enter('msg_caller_info_data_copy', size >>> 0);
        this.copy('msg_caller_info_data_copy', this.message.callerInfo?.data ?? EMPTY, dst, off, size);
      },
      msg_caller_info_signer_size: () => (this.enter('msg_caller_info_signer_size'), this.message.callerInfo?.signer.length ?? 0),
      msg_caller_info_signer_copy: (dst: number, off: number, size: number) => {
        this.enter('msg_caller_info_signer_copy', size >>> 0);
        this.copy('msg_caller_info_signer_copy', this.message.callerInfo?.signer ?? EMPTY, dst, off, size);
      },
      msg_reject_code: () => (this.enter('msg_reject_code'), this.message.rejectCode),
      msg_reject_msg_size: () => (this.enter('msg_reject_msg_size'), this.rejectMessage('msg_reject_msg_size').length),
      msg_reject_msg_copy: (dst: number, off: number, size: number) => {
        this.enter('msg_reject_msg_copy', size >>> 0);
        this.copy('msg_reject_msg_copy', this.rejectMessage('msg_reject_msg_copy'), dst, off, size);
      },
      msg_deadline: () => (this.enter('msg_deadline'), this.message.deadline),
      msg_reply_data_append: (src: number, size: number) => {
        this.enter('msg_reply_data_append', size >>> 0);
        this.respondable('msg_reply_data_append');
        const bytes = this.read('msg_reply_data_append', src, size);
        if (this.replyBytes + bytes.length > this.limits.maxResponseBytes) {
          throw CanisterTrap.contract(
            `ic0.msg_reply_data_append: application payload size (${this.replyBytes + bytes.length}) cannot be larger than ${this.limits.maxResponseBytes}`,
          );
        }
        this.replyBuffer.push(bytes);
        this.replyBytes += bytes.length;
      },
      msg_reply: () => {
        this.enter('msg_reply');
        this.respondable('msg_reply');
        this.outcome.response = { kind: 'reply', data: concatBytes(this.replyBuffer) };
        this.cyclesAvailable = 0n;
      },
      msg_reject: (src: number, size: number) => {
        this.enter('msg_reject', size >>> 0);
        this.respondable('msg_reject');
        const message = this.text('msg_reject', this.read('msg_reject', src, size));
        this.outcome.response = { kind: 'reject', message };
        this.cyclesAvailable = 0n;
      },
      msg_cycles_available: () => {
        this.enter('msg_cycles_available');
        return this.cyclesAvailable > U64_MAX ? trap64('msg_cycles_available') : this.cyclesAvailable;
      },
      msg_cycles_available128: (dst: number) => {
        this.enter('msg_cycles_available128');
        this.write128('msg_cycles_available128', dst, this.cyclesAvailable);
      },
      msg_cycles_refunded: () => {
        this.enter('msg_cycles_refunded');
        return this.message.cyclesRefunded > U64_MAX ? trap64('msg_cycles_refunded') : this.message.cyclesRefunded;
      },
      msg_cycles_refunded128: (dst: number) => {
        this.enter('msg_cycles_refunded128');
        this.write128('msg_cycles_refunded128', dst, this.message.cyclesRefunded);
      },
      msg_cycles_accept: (max: bigint) => {
        this.enter('msg_cycles_accept');
        return this.accept(BigInt.asUintN(64, max));
      },
      msg_cycles_accept128: (high: bigint, low: bigint, dst: number) => {
        this.enter('msg_cycles_accept128');
        const amount = this.accept(u128(high, low));
        this.write128('msg_cycles_accept128', dst, amount);
      },
      cycles_burn128: (high: bigint, low: bigint, dst: number) => {
        this.enter('cycles_burn128');
        const wanted = u128(high, low);
        const burned = wanted < this.liquidBalance() ? wanted : this.liquidBalance();
        this.outcome.balance -= burned;
        this.outcome.cyclesBurned += burned;
        this.write128('cycles_burn128', dst, burned);
      },
      canister_self_size: () => (this.enter('canister_self_size'), this.canister.canisterId.length),
      canister_self_copy: (dst: number, off: number, size: number) => {
        this.enter('canister_self_copy', size >>> 0);
        this.copy('canister_self_copy', this.canister.canisterId, dst, off, size);
      },
      canister_cycle_balance: () => {
        this.enter('canister_cycle_balance');
        return this.outcome.balance > U64_MAX ? trap64('canister_cycle_balance') : this.outcome.balance;
      },
      canister_cycle_balance128: (dst: number) => {
        this.enter('canister_cycle_balance128');
        this.write128('canister_cycle_balance128', dst, this.outcome.balance);
      },
      canister_liquid_cycle_balance128: (dst: number) => {
        this.enter('canister_liquid_cycle_balance128');
        this.write128('canister_liquid_cycle_balance128', dst, this.liquidBalance());
      },
      canister_status: () => (this.enter('canister_status'), this.canister.status),
      canister_version: () => (this.enter('canister_version'), this.canister.version),
      subnet_self_size: () => (this.enter('subnet_self_size'), this.canister.subnetId.length),
      subnet_self_copy: (dst: number, off: number, size: number) => {
        this.enter('subnet_self_copy', size >>> 0);
        this.copy('subnet_self_copy', this.canister.subnetId, dst, off, size);
      },
      msg_method_name_size: () => (this.enter('msg_method_name_size'), this.methodName().length),
      msg_method_name_copy: (dst: number, off: number, size: number) => {
        this.enter('msg_method_name_copy', size >>> 0);
        this.copy('msg_method_name_copy', this.methodName(), dst, off, size);
      },
      accept_message: () => {
        this.enter('accept_message');
        if (this.outcome.messageAccepted) throw CanisterTrap.contract('ic0.accept_message: the message was already accepted');
        this.outcome.messageAccepted = true;
      },
      call_new: (
        calleeSrc: number, calleeSize: number, nameSrc: number, nameSize: number,
        replyFn: number, replyEnv: number, rejectFn: number, rejectEnv: number,
      ) => {
        this.enter('call_new', (calleeSize >>> 0) + (nameSize >>> 0));
        this.discardPending();
        const callee = this.read('call_new', calleeSrc, calleeSize);
        const method = this.text('call_new', this.read('call_new', nameSrc, nameSize));
        this.pending = {
          callee, method, arg: new Uint8Array(0), cycles: 0n,
          reply: { fn: replyFn >>> 0, env: replyEnv >>> 0 },
          reject: { fn: rejectFn >>> 0, env: rejectEnv >>> 0 },
          reservation: 0n, fee: 0n, onCleanupSet: false, timeoutSet: false,
        };
        this.performed = false;
      },
      call_on_cleanup: (fn: number, env: number) => {
        this.enter('call_on_cleanup');
        const call = this.call('call_on_cleanup');
        if (call.onCleanupSet) throw CanisterTrap.contract('ic0.call_on_cleanup: can be called at most once per call');
        call.onCleanupSet = true;
        call.cleanup = { fn: fn >>> 0, env: env >>> 0 };
      },
      call_data_append: (src: number, size: number) => {
        this.enter('call_data_append', size >>> 0);
        const call = this.call('call_data_append');
        const bytes = this.read('call_data_append', src, size);
        if (call.arg.length + bytes.length > this.limits.maxCallPayloadBytes) {
          throw CanisterTrap.contract(
            `ic0.call_data_append: the call payload (${call.arg.length + bytes.length} bytes) exceeds the limit of ${this.limits.maxCallPayloadBytes} bytes`,
          );
        }
        call.arg = concatBytes([call.arg, bytes]);
      },
      call_with_best_effort_response: (timeout: number) => {
        this.enter('call_with_best_effort_response');
        const call = this.call('call_with_best_effort_response');
        if (call.timeoutSet) throw CanisterTrap.contract('ic0.call_with_best_effort_response: can be called at most once per call');
        call.timeoutSet = true;
        call.timeoutSeconds = Math.min(timeout >>> 0, this.limits.maxCallTimeoutSeconds);
      },
      call_cycles_add: (amount: bigint) => {
        this.enter('call_cycles_add');
        this.addCycles('call_cycles_add', BigInt.asUintN(64, amount));
      },
      call_cycles_add128: (high: bigint, low: bigint) => {
        this.enter('call_cycles_add128');
        this.addCycles('call_cycles_add128', u128(high, low));
      },
      call_perform: () => {
        this.enter('call_perform');
        if (this.performed) throw CanisterTrap.contract('ic0.call_perform: no call is under construction');
        const call = this.call('call_perform');
        const fee = this.costs.requestTransmissionCost(BigInt(utf8Bytes(call.method)), BigInt(call.arg.length));
        const reservation = this.costs.responseReservation();
        if (this.outcome.balance - fee - reservation < this.canister.frozenReserve) {
          // SYS_TRANSIENT: the call would take the canister below its freezing threshold.
          this.discardPending();
          this.performed = true;
          return 2;
        }
        this.outcome.balance -= fee + reservation;
        call.fee = fee;
        call.reservation = reservation;
        const { onCleanupSet: _c, timeoutSet: _t, ...done } = call;
        this.outcome.calls.push(done);
        this.pending = undefined;
        this.performed = true;
        return 0;
      },
      stable_size: () => {
        this.enter('stable_size');
        this.stable32();
        return Number(this.sandbox.stable.sizePages());
      },
      stable_grow: (pages: number) => {
        this.enter('stable_grow');
        this.stable32();
        if (this.sandbox.stable.sizePages() + BigInt(pages >>> 0) > 65536n) return -1;
        return Number(this.sandbox.stable.grow(BigInt(pages >>> 0)));
      },
      stable_write: (offset: number, src: number, size: number) => {
        this.enter('stable_write', size >>> 0);
        this.stable32();
        this.stableWrite('stable_write', BigInt(offset >>> 0), this.read('stable_write', src, size));
      },
      stable_read: (dst: number, offset: number, size: number) => {
        this.enter('stable_read', size >>> 0);
        this.stable32();
        this.writable('stable_read', dst >>> 0, size >>> 0);
        this.write('stable_read', dst, this.stableRead('stable_read', BigInt(offset >>> 0), size >>> 0));
      },
      stable64_size: () => (this.enter('stable64_size'), this.sandbox.stable.sizePages()),
      stable64_grow: (pages: bigint) => {
        this.enter('stable64_grow');
        return this.sandbox.stable.grow(BigInt.asUintN(64, pages));
      },
      stable64_write: (offset: bigint, src: bigint, size: bigint) => {
        this.allowed('stable64_write');
        const len = this.u32Size('stable64_write', size);
        this.enter('stable64_write', len);
        const bytes = this.read('stable64_write', this.u32Size('stable64_write', src), len);
        this.stableWrite('stable64_write', BigInt.asUintN(64, offset), bytes);
      },
      stable64_read: (dst: bigint, offset: bigint, size: bigint) => {
        this.allowed('stable64_read');
        const len = this.u32Size('stable64_read', size);
        this.enter('stable64_read', len);
        const at = this.u32Size('stable64_read', dst);
        // Check the destination before reading: a huge read into a small heap must not allocate.
        this.writable('stable64_read', at, len);
        const bytes = this.stableRead('stable64_read', BigInt.asUintN(64, offset), len);
        this.write('stable64_read', at, bytes);
      },
      root_key_size: () => (this.enter('root_key_size'), this.canister.rootKey.length),
      root_key_copy: (dst: number, off: number, size: number) => {
        this.enter('root_key_copy', size >>> 0);
        this.copy('root_key_copy', this.canister.rootKey, dst, off, size);
      },
      certified_data_set: (src: number, size: number) => {
        this.enter('certified_data_set', size >>> 0);
        if (size >>> 0 > this.limits.maxCertifiedDataBytes) {
          throw CanisterTrap.contract(
            `ic0.certified_data_set: certified data (${size >>> 0} bytes) exceeds the limit of ${this.limits.maxCertifiedDataBytes} bytes`,
          );
        }
        this.outcome.certifiedData = this.read('certified_data_set', src, size);
      },
      data_certificate_present: () => (this.enter('data_certificate_present'), this.canister.certificate ? 1 : 0),
      data_certificate_size: () => (this.enter('data_certificate_size'), this.certificate('data_certificate_size').length),
      data_certificate_copy: (dst: number, off: number, size: number) => {
        this.enter('data_certificate_copy', size >>> 0);
        this.copy('data_certificate_copy', this.certificate('data_certificate_copy'), dst, off, size);
      },
      time: () => (this.enter('time'), this.canister.time),
      global_timer_set: (timestamp: bigint) => {
        this.enter('global_timer_set');
        const previous = this.outcome.globalTimer ?? this.canister.globalTimer;
        this.outcome.globalTimer = BigInt.asUintN(64, timestamp);
        return previous;
      },
      performance_counter: (type: number) => {
        this.enter('performance_counter');
        if (type === 0) return this.sandbox.instructionsExecuted();
        if (type === 1) return this.sandbox.callContextInstructions() + this.sandbox.instructionsExecuted();
        throw CanisterTrap.contract(`ic0.performance_counter: unknown counter type ${type}`);
      },
      is_controller: (src: number, size: number) => {
        this.enter('is_controller', size >>> 0);
        const id = this.read('is_controller', src, size);
        if (id.length > 29) throw CanisterTrap.contract(`ic0.is_controller: ${id.length} bytes is not a valid principal`);
        return this.canister.controllers.some((ctl) => equalBytes(ctl, id)) ? 1 : 0;
      },
      in_replicated_execution: () => (this.enter('in_replicated_execution'), this.message.replicated ? 1 : 0),
      cost_call: (methodNameSize: bigint, payloadSize: bigint, dst: number) => {
        this.enter('cost_call');
        this.write128('cost_call', dst, this.costs.callCost(BigInt.asUintN(64, methodNameSize), BigInt.asUintN(64, payloadSize)));
      },
      cost_create_canister: (dst: number) => {
        this.enter('cost_create_canister');
        this.write128('cost_create_canister', dst, this.costs.createCanisterCost());
      },
      cost_http_request: (requestSize: bigint, maxResponse: bigint, dst: number) => {
        this.enter('cost_http_request');
        this.write128('cost_http_request', dst, this.costs.httpRequestCost(BigInt.asUintN(64, requestSize), BigInt.asUintN(64, maxResponse)));
      },
      cost_sign_with_ecdsa: (src: number, size: number, curve: number, dst: number) =>
        this.thresholdCost('cost_sign_with_ecdsa', 'ecdsa', src, size, curve, dst),
      cost_sign_with_schnorr: (src: number, size: number, algorithm: number, dst: number) =>
        this.thresholdCost('cost_sign_with_schnorr', 'schnorr', src, size, algorithm, dst),
      cost_vetkd_derive_key: (src: number, size: number, curve: number, dst: number) =>
        this.thresholdCost('cost_vetkd_derive_key', 'vetkd', src, size, curve, dst),
      env_var_count: () => (this.enter('env_var_count'), this.canister.envVars.length),
      env_var_name_size: (index: number) => {
        this.enter('env_var_name_size');
        return utf8Bytes(this.envVar('env_var_name_size', index)[0]);
      },
      env_var_name_copy: (index: number, dst: number, off: number, size: number) => {
        this.enter('env_var_name_copy', size >>> 0);
        this.copy('env_var_name_copy', encode(this.envVar('env_var_name_copy', index)[0]), dst, off, size);
      },
      env_var_name_exists: (src: number, size: number) => {
        this.enter('env_var_name_exists', size >>> 0);
        const name = this.text('env_var_name_exists', this.read('env_var_name_exists', src, size));
        return this.canister.envVars.some(([n]) => n === name) ? 1 : 0;
      },
      env_var_value_size: (src: number, size: number) => {
        this.enter('env_var_value_size', size >>> 0);
        return utf8Bytes(this.envValue('env_var_value_size', src, size));
      },
      env_var_value_copy: (src: number, size: number, dst: number, off: number, len: number) => {
        this.enter('env_var_value_copy', (size >>> 0) + (len >>> 0));
        this.copy('env_var_value_copy', encode(this.envValue('env_var_value_copy', src, size)), dst, off, len);
      },
      debug_print: (src: number, size: number) => {
        this.enter('debug_print', size >>> 0);
        // Over-long or out-of-bounds prints are truncated, not trapped, as on the IC.
        const mem = this.sandbox.memory();
        const start = Math.min(src >>> 0, mem.length);
        const len = Math.min(size >>> 0, mem.length - start, this.limits.maxDebugPrintBytes);
        this.outcome.logs.push(mem.slice(start, start + len));
      },
      trap: (src: number, size: number) => {
        this.enter('trap', size >>> 0);
        const mem = this.sandbox.memory();
        const start = Math.min(src >>> 0, mem.length);
        const len = Math.min(size >>> 0, mem.length - start, this.limits.maxDebugPrintBytes);
        throw CanisterTrap.calledTrap(utf8Lossy.decode(mem.subarray(start, start + len)));
      },
    };
    this.table = api as unknown as Record<string, (...args: never[]) => unknown>;
    return this.table;
  }

  // ---- function bodies too long to inline ---------------------------------------------------

  private rejectMessage(name: string): Uint8Array {
    if (this.message.rejectCode === 0 || this.message.rejectMessage === undefined) {
      throw CanisterTrap.contract(`ic0.${name}: there is no reject message (the reject code is 0)`);
    }
    return encode(this.message.rejectMessage);
  }

  private methodName(): Uint8Array {
    return encode(this.message.methodName ?? '');
  }

  private certificate(name: string): Uint8Array {
    if (!this.canister.certificate) throw CanisterTrap.contract(`ic0.${name}: no data certificate is available`);
    return this.canister.certificate;
  }

  private accept(max: bigint): bigint {
    const amount = max < this.cyclesAvailable ? max : this.cyclesAvailable;
    this.cyclesAvailable -= amount;
    this.outcome.cyclesAccepted += amount;
    this.outcome.balance += amount;
    return amount;
  }

  private addCycles(name: string, amount: bigint): void {
    const call = this.call(name);
    if (amount > this.liquidBalance()) {
      throw CanisterTrap.contract(
        `ic0.${name}: cannot attach ${amount} cycles; only ${this.liquidBalance()} are available above the freezing threshold`,
      );
    }
    this.outcome.balance -= amount;
    call.cycles += amount;
  }

  private stableRead(name: string, offset: bigint, length: number): Uint8Array {
    const size = this.sandbox.stable.sizePages() * 65536n;
    if (offset + BigInt(length) > size) {
      throw CanisterTrap.trapped(`stable memory out of bounds (${name} at ${offset} + ${length} > ${size})`);
    }
    return this.sandbox.stable.read(offset, length);
  }

  private stableWrite(name: string, offset: bigint, bytes: Uint8Array): void {
    const size = this.sandbox.stable.sizePages() * 65536n;
    if (offset + BigInt(bytes.length) > size) {
      throw CanisterTrap.trapped(`stable memory out of bounds (${name} at ${offset} + ${bytes.length} > ${size})`);
    }
    this.sandbox.stable.write(offset, bytes);
  }

  private u32Size(name: string, value: bigint): number {
    const v = BigInt.asUintN(64, value);
    if (v > 0xffffffffn) throw CanisterTrap.contract(`ic0.${name}: ${v} is out of bounds for a 32-bit memory`);
    return Number(v);
  }

  private thresholdCost(
    name: string, kind: 'ecdsa' | 'schnorr' | 'vetkd', src: number, size: number, variant: number, dst: number,
  ): number {
    this.enter(name, size >>> 0);
    const keyName = this.text(name, this.read(name, src, size));
    if (variant >>> 0 >= THRESHOLD_VARIANTS[kind]) return 1; // unknown curve or algorithm
    const cost = this.costs.thresholdKeyCost(kind, keyName, variant);
    if (cost === undefined) return 2; // unknown key
    this.write128(name, dst, cost);
    return 0;
  }

  private envVar(name: string, index: number): readonly [string, string] {
    const entry = this.canister.envVars[index >>> 0];
    if (!entry) throw CanisterTrap.contract(`ic0.${name}: no environment variable at index ${index >>> 0}`);
    return entry;
  }

  private envValue(name: string, src: number, size: number): string {
    const key = this.text(name, this.read(name, src, size));
    const entry = this.canister.envVars.find(([n]) => n === key);
    if (!entry) throw CanisterTrap.contract(`ic0.${name}: no environment variable named '${key}'`);
    return entry[1];
  }
}

function u128(high: bigint, low: bigint): bigint {
  return (BigInt.asUintN(64, high) << 64n) | BigInt.asUintN(64, low);
}

function trap64(name: string): never {
  throw CanisterTrap.contract(`ic0.${name}: the amount does not fit in 64 bits; use the 128-bit variant`);
}

const encoder = new TextEncoder();
function encode(s: string): Uint8Array {
  return encoder.encode(s);
}
function utf8Bytes(s: string): number {
  return encoder.encode(s).length;
}


