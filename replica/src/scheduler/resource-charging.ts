// Storage and allocations, charged at the end of a round for the time that passed (dfinity/ic
// `SchedulerImpl::charge_canisters_for_resource_allocation_and_usage`): memory (heap, stable
// memory, code, chunk store, snapshots, or the memory allocation if larger) and compute
// allocation, per second, a whole charging period at a time. A canister that cannot pay is
// charged what it has and uninstalled, as on the IC: code, memories, chunk store and snapshots go,
// its open calls are rejected, its allocations reset; its settings and id stay.

import { recordBurn } from '../execution/charging.js';
import type { ExecutionEnvironment } from '../execution/environment.js';
import type { MessageSink } from '../execution/types.js';
import type { CanisterState, ReplicatedState } from '../state/index.js';

const NANOS_PER_SECOND = 1_000_000_000n;

/**
 * Charges every canister for the charging periods (`durationBetweenAllocationChargesSeconds`,
 * IC: 10 s) that state time crossed since `previousTime`. `abortPaused` aborts a canister's long
 * execution (the scheduler owns those) before the canister is uninstalled.
 */
export function chargeForResources(
  state: ReplicatedState, previousTime: bigint, env: ExecutionEnvironment, sink: MessageSink,
  abortPaused: (canister: CanisterState) => void,
): void {
  const period = env.fees.schedule.durationBetweenAllocationChargesSeconds * NANOS_PER_SECOND;
  if (previousTime === 0n || period <= 0n) return;
  const periods = state.time / period - previousTime / period;
  if (periods <= 0n) return;
  const elapsed = periods * period;
  for (const canister of state.canisters()) {
    const charges = env.fees.resourceCharges(canister, elapsed);
    const storage = charges.memory + charges.messageMemory;
    if (storage + charges.computeAllocation === 0n) continue;
    if (canister.balance >= storage + charges.computeAllocation) {
      canister.balance -= storage + charges.computeAllocation;
      recordBurn(state, canister, 'storage', storage);
      recordBurn(state, canister, 'compute_allocation', charges.computeAllocation);
      continue;
    }
    // Cannot pay: everything left is burned (storage first), then the canister loses its code.
    const forStorage = canister.balance < storage ? canister.balance : storage;
    recordBurn(state, canister, 'storage', forStorage);
    recordBurn(state, canister, 'compute_allocation', canister.balance - forStorage);
    canister.balance = 0n;
    uninstallOutOfCycles(canister, env, sink, abortPaused);
  }
}

function uninstallOutOfCycles(
  canister: CanisterState, env: ExecutionEnvironment, sink: MessageSink, abortPaused: (canister: CanisterState) => void,
): void {
  if (canister.scheduler.paused) abortPaused(canister);
  env.uninstall(canister, sink);
  // `uninstall_canister` also empties the chunk store; the scheduler deletes the snapshots.
  canister.chunkStore.clear();
  canister.snapshots.byId.clear();
  canister.settings = { ...canister.settings, computeAllocation: 0n, memoryAllocation: 0n };
}
