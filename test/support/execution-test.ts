// The execution test builder: a replica in process with a manual clock, ingress submitted as a
// user, rounds run on demand. Most tests of the suite are written against this.

import type { RoundTracer } from '../../replica/src/telemetry/tracing.js';
import type { CallerInfo } from '../../replica/src/state/types.js';
import { IDL } from '@icp-sdk/core/candid';
import { Principal } from '@icp-sdk/core/principal';
import { hexOf, sha256 } from '../../replica/src/bytes.js';
import { checkCyclesConservation } from '../../replica/src/cycles/index.js';
import {
  LocalBlockMaker,
  ManualClock,
  Replica,
  defaultReplicaConfig,
  type CanisterState,
  type IngressStatus,
  type ReplicaConfig,
  type RoundOptions,
  type RoundSummary,
  type XNetSlice,
} from '../../replica/src/index.js';

/** A rejected call, as a client would see it. */
export class CallRejected extends Error {
  override readonly name = 'CallRejected';
  constructor(readonly rejectCode: number, readonly errorCode: string, message: string) {
    super(message);
  }
}

export const ANONYMOUS = Principal.anonymous();
/** A self-authenticating-looking user id (ends in 0x02). */
export const TEST_USER = Principal.fromUint8Array(new Uint8Array([...sha256('test user').slice(0, 28), 2]));

export interface ExecutionTestOptions extends Partial<ReplicaConfig> {
  /** Nanoseconds the clock moves per round (default 1 s). */
  readonly roundTime?: bigint;
  /**
   * Check after every round that cycles are conserved (Σ balances + in flight + burned = minted);
   * a violation throws `CyclesConservationError`. Default on.
   */
  readonly checkCycles?: boolean;
  /** Traces every round (a round span opened here, as the node does) and its executions. */
  readonly tracer?: RoundTracer;
}

export class ExecutionTest {
  readonly clock = new ManualClock();
  readonly replica: Replica;
  readonly rounds: RoundSummary[] = [];
  private messageCount = 0;
  private readonly roundTime: bigint;
  private readonly tracer: RoundTracer | undefined;
  private readonly checkCycles: boolean;

  constructor(options: ExecutionTestOptions = {}) {
    const { roundTime = 1_000_000_000n, checkCycles = true, tracer, ...config } = options;
    this.roundTime = roundTime;
    this.checkCycles = checkCycles;
    this.tracer = tracer;
    this.replica = new Replica(defaultReplicaConfig(config), new LocalBlockMaker(this.clock), undefined, { tracer });
  }

  get state() {
    return this.replica.state;
  }

  canister(id: Principal): CanisterState {
    const c = this.replica.state.canister(id);
    if (!c) throw new Error(`no canister ${id.toText()}`);
    return c;
  }

  /** Submits an ingress message; returns its message id. */
  async submit(receiver: Principal, method: string, arg: Uint8Array, sender: Principal = TEST_USER, callerInfo?: CallerInfo): Promise<string> {
    const messageId = hexOf(sha256(`message ${this.messageCount++}`));
    await this.replica.submit({ messageId, sender, receiver, method, arg, ...(callerInfo ? { callerInfo } : {}) });
    return messageId;
  }

  /** Runs one round (the clock moves by `roundTime` first), inducting `xnet` slices of other subnets. */
  async tick(options?: RoundOptions, xnet: readonly XNetSlice[] = []): Promise<RoundSummary> {
    this.clock.advance(this.roundTime);
    const run = () => this.replica.executeRound(this.replica.blocks.make(xnet), options);
    const summary = await (this.tracer ? this.tracer.round(this.replica.state.height + 1n, run) : run());
    if (this.checkCycles) checkCyclesConservation(this.replica.state);
    this.rounds.push(summary);
    return summary;
  }

  /** Runs rounds until the message has a terminal status. */
  async awaitStatus(messageId: string, maxRounds = 100): Promise<IngressStatus> {
    for (let i = 0; i < maxRounds; i++) {
      const s = this.replica.ingressStatus(messageId);
      if (s && (s.status === 'replied' || s.status === 'rejected')) return s;
      await this.tick();
    }
    throw new Error(`message ${messageId} not done after ${maxRounds} rounds (status ${this.replica.ingressStatus(messageId)?.status})`);
  }

  /** The terminal status of a message, if it has one yet. */
  result(messageId: string): IngressStatus | undefined {
    const s = this.replica.ingressStatus(messageId);
    return s && (s.status === 'replied' || s.status === 'rejected') ? s : undefined;
  }

  /** Stops the replica's worker threads (with `workers` > 0 a test must call this to exit). */
  close(): Promise<void> {
    return this.replica.close();
  }

  /** An update call; resolves with the reply bytes or throws CallRejected. */
  async update(canister: Principal, method: string, arg: Uint8Array = candid(), sender: Principal = TEST_USER): Promise<Uint8Array> {
    const status = await this.awaitStatus(await this.submit(canister, method, arg, sender));
    if (status.status === 'replied') return status.reply;
    if (status.status === 'rejected') throw new CallRejected(status.code, status.errorCode, status.message);
    throw new Error('unreachable');
  }

  query(canister: Principal, method: string, arg: Uint8Array = candid(), sender: Principal = TEST_USER): Uint8Array {
    const r = this.replica.query(canister, method, arg, sender);
    if (r.status === 'replied') return r.reply;
    throw new CallRejected(r.code, r.errorCode, r.message);
  }

  // ---- management canister helpers -----------------------------------------------------------

  async createCanister(options: { cycles?: bigint; controllers?: Principal[]; sender?: Principal } = {}): Promise<Principal> {
    const settings = options.controllers ? [{ ...emptySettings(), controllers: [options.controllers] }] : [];
    const reply = await this.management('provisional_create_canister_with_cycles',
      { amount: [options.cycles ?? 100_000_000_000_000n], settings, specified_id: [], sender_canister_version: [] },
      options.sender);
    return (reply[0] as { canister_id: Principal }).canister_id;
  }

  async install(
    canister: Principal, wasm: Uint8Array, arg: Uint8Array = candid(),
    mode: 'install' | 'reinstall' | 'upgrade' = 'install', sender: Principal = TEST_USER,
    upgradeOptions: { skip_pre_upgrade?: boolean } = {},
  ): Promise<void> {
    const m = mode === 'upgrade'
      ? { upgrade: [{ skip_pre_upgrade: upgradeOptions.skip_pre_upgrade === undefined ? [] : [upgradeOptions.skip_pre_upgrade], wasm_memory_persistence: [] }] }
      : { [mode]: null };
    await this.management('install_code', { mode: m, canister_id: canister, wasm_module: wasm, arg, sender_canister_version: [] }, sender);
  }

  async createAndInstall(wasm: Uint8Array, arg: Uint8Array = candid(), cycles?: bigint): Promise<Principal> {
    const id = await this.createCanister({ cycles });
    await this.install(id, wasm, arg);
    return id;
  }

  /** Calls a management canister method with Candid values; returns the decoded reply. */
  async management(method: string, arg: Record<string, unknown> | undefined, sender: Principal = TEST_USER): Promise<unknown[]> {
    const { MANAGEMENT_METHODS } = await import('../../replica/src/index.js');
    const sig = MANAGEMENT_METHODS[method as keyof typeof MANAGEMENT_METHODS];
    const bytes = new Uint8Array(IDL.encode([...sig.args], arg === undefined ? [] : [arg]));
    const reply = await this.update(Principal.managementCanister(), method, bytes, sender);
    return IDL.decode([...sig.results], reply);
  }
}

export function emptySettings(): Record<string, unknown[]> {
  return {
    controllers: [], compute_allocation: [], memory_allocation: [], freezing_threshold: [], reserved_cycles_limit: [],
    log_visibility: [], wasm_memory_limit: [], wasm_memory_threshold: [], environment_variables: [],
  };
}

/** Candid-encodes values of the given types (no arguments: the empty argument list). */
export function candid(types: IDL.Type[] = [], values: unknown[] = []): Uint8Array {
  return new Uint8Array(IDL.encode(types, values));
}

export function decode<T = unknown>(types: IDL.Type[], bytes: Uint8Array): T[] {
  return IDL.decode(types, bytes) as T[];
}
