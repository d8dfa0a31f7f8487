// The conservation invariant of cycles: every cycle minted (provisional creation and top-ups) or
// received from another subnet is, at the end of a round, in a balance, in flight (in this subnet
// or in a stream to another, until that subnet acknowledges it), sent to another subnet, or burned.
// A violation is a replica bug.

import { attachedCycles, type ExecutionWork, type ReplicatedState } from '../state/index.js';
import { CyclesConservationError } from './errors.js';
import type { Cycles } from './types.js';

/** Where the cycles of a subnet are, at the end of a round. */
export interface CyclesLedger {
  readonly minted: Cycles;
  readonly burned: Cycles;
  /** Σ canister balances. */
  readonly balances: Cycles;
  /** Attached to requests and responses in input queues, and to requests the management canister holds. */
  readonly inMessages: Cycles;
  /** Attached to calls a canister received and did not accept (yet). */
  readonly inCallContexts: Cycles;
  /** Set aside at call_perform for the response's execution and transmission. */
  readonly reservedByCallbacks: Cycles;
  /** Prepaid by long executions between slices (and attached to the message they run). */
  readonly inPausedExecutions: Cycles;
  /** Attached to messages in streams to other subnets, not acknowledged yet. */
  readonly inStreams: Cycles;
  /** Attached to messages other subnets sent here, and to messages they acknowledged from here. */
  readonly received: Cycles;
  readonly sent: Cycles;
}

/** Counts where every cycle of `state` is. */
export function cyclesLedger(state: ReplicatedState): CyclesLedger {
  let balances = 0n;
  let inMessages = 0n;
  let inCallContexts = 0n;
  let reservedByCallbacks = 0n;
  let inPausedExecutions = 0n;
  for (const c of state.canisters()) {
    if (c.balance < 0n) throw new CyclesConservationError(`canister ${c.idText} has a negative balance: ${c.balance}`);
    balances += c.balance;
    for (const m of c.inputQueue) inMessages += attachedCycles(m);
    for (const r of c.stopRequests) inMessages += r.cycles;
    for (const ctx of c.callContexts.values()) inCallContexts += ctx.cyclesAvailable;
    for (const cb of c.callbacks.values()) reservedByCallbacks += cb.reservation;
    const paused = c.scheduler.paused;
    if (paused) inPausedExecutions += paused.prepaid + workCycles(paused.work);
    if (c.scheduler.pendingInstall) inMessages += c.scheduler.pendingInstall.cycles;
  }
  for (const r of state.pendingSubnetCalls) inMessages += r.cycles;
  for (const r of state.pendingRawRand) inMessages += r.cycles;
  let inStreams = 0n;
  for (const stream of state.streams.values()) for (const m of stream.messages) inStreams += attachedCycles(m);
  return {
    minted: state.cyclesMinted, burned: state.cyclesBurned,
    balances, inMessages, inCallContexts, reservedByCallbacks, inPausedExecutions,
    inStreams, received: state.cyclesReceived, sent: state.cyclesSent,
  };
}

/** Σ balances + Σ in flight + sent + burned = minted + received, or a loud `CyclesConservationError`. */
export function checkCyclesConservation(state: ReplicatedState): CyclesLedger {
  const l = cyclesLedger(state);
  const accounted = l.balances + l.inMessages + l.inCallContexts + l.reservedByCallbacks + l.inPausedExecutions + l.inStreams + l.sent + l.burned;
  if (accounted !== l.minted + l.received) {
    const diff = accounted - l.minted - l.received;
    throw new CyclesConservationError(
      `cycles are not conserved at height ${state.height}: ${diff > 0n ? `${diff} cycles appeared` : `${-diff} cycles vanished`} ` +
      `(minted ${l.minted}, received ${l.received}; balances ${l.balances}, in messages ${l.inMessages}, in call contexts ${l.inCallContexts}, ` +
      `reserved by callbacks ${l.reservedByCallbacks}, in paused executions ${l.inPausedExecutions}, in streams ${l.inStreams}, sent ${l.sent}, burned ${l.burned})`);
  }
  return l;
}

function workCycles(work: ExecutionWork): Cycles {
  return work.kind === 'message' ? attachedCycles(work.message) : work.kind === 'install' ? work.request.cycles : 0n;
}

