// Runs an install_code job where the canister's instance lives (in process or in a worker), as
// one message for deterministic time slicing: the phases share the install's instruction limit
// and its slices, so a pause can fall in canister_pre_upgrade, the start function or
// canister_init / canister_post_upgrade alike (IC: install.rs, upgrade.rs).
//
// Nothing here touches the canister's live instance: pre_upgrade runs on a copy of it and the new
// code on a fresh instance, over a copy of stable memory. A failure, an abort or a pause thus
// leaves the instance at the committed state, which queries and the next messages keep using
// until the main thread commits the result.

import { CanisterError, ErrorCode } from '../errors.js';
import { PageMap } from '../state/page-map.js';
import type { ApiOutcome, CallCosts, CanisterView, MessageInput } from '../system-api/index.js';
import type { InstallJob, JobResult, SandboxJob } from './job.js';
import { Sandbox, type RunOptions, type SandboxLimits, type SandboxResult, type SliceHook } from './sandbox.js';

/**
 * Runs the install. Throws `ExecutionAborted` when the slice hook aborts it. `current` is the
 * canister's instance at the committed state (needed for an upgrade).
 */
export function runInstall(
  job: SandboxJob, install: InstallJob, current: Sandbox | undefined, costs: CallCosts, stableLimit: bigint, onSlice?: SliceHook,
): JobResult {
  const limit = job.limits.instructions;
  const slice = job.limits.slice ?? limit;
  let used = 0n;
  let pauses = 0n;
  const hook: SliceHook | undefined = onSlice && ((executed) => {
    pauses++;
    return onSlice(used + executed);
  });
  // Each phase goes on with the slice the previous one was in and with what is left of the limit.
  const options = (): Pick<RunOptions, 'onSlice' | 'firstSlice'> => {
    const left = (pauses + 1n) * slice - used;
    return { onSlice: hook, firstSlice: left > 0n ? left : 0n };
  };
  const limits = (): SandboxLimits => ({ ...job.limits, instructions: limit - used });
  const failed = (phase: string, r: { error: CanisterError; logs?: readonly Uint8Array[] }): JobResult => {
    const e = r.error;
    // Over the limit, the IC says just that; other failures say in which phase they happened.
    const message = e.code === ErrorCode.CanisterInstructionLimitExceeded ? e.message : `${phase}: ${e.message}`;
    return { main: { ok: false, error: new CanisterError(e.code, message, { cause: e }), instructions: used, logs: r.logs }, instructions: used };
  };

  if (install.mode === 'upgrade' && !current) throw new Error(`upgrade of canister ${job.canisterId} without its instance`);
  let stable = install.mode === 'upgrade' ? current!.stable.pages.clone() : new PageMap();
  if (install.preUpgrade) {
    const snapshot = current!.heapSnapshot();
    const old = Sandbox.restore(current!.compiled, { heap: snapshot.heap, stable, globals: snapshot.globals }, stableLimit);
    const r = old.run({ kind: 'export', name: 'canister_pre_upgrade' }, { ...job.input, context: 'G', arg: new Uint8Array(0) },
      job.view, costs, limits(), options());
    used += r.instructions;
    if (!r.ok) return failed('Pre-upgrade failed', r);
    stable = old.stable.pages;
  }

  // The new code runs as the canister's next version (pre_upgrade above saw the current one).
  const view: CanisterView = { ...job.view, version: job.view.version + 1n };
  const installed = Sandbox.install(install.module, stable, view, costs, limits(), options());
  used += installed.instructions;
  if ('error' in installed) return failed('Start function failed', installed);
  const sandbox = installed.sandbox;
  const init = install.mode === 'upgrade' ? 'canister_post_upgrade' : 'canister_init';
  let outcome = emptyOutcome(view.balance);
  if (sandbox.hasExport(init)) {
    const r: SandboxResult = sandbox.run({ kind: 'export', name: init }, job.input as MessageInput, view, costs, limits(), options());
    used += r.instructions;
    if (!r.ok) return failed(install.mode === 'upgrade' ? 'Post-upgrade failed' : 'Init failed', r);
    outcome = r.outcome;
  }

  const heap = sandbox.heapSnapshot();
  // A fresh copy has no dirty pages: those it has now are exactly the ones the install wrote.
  const written = [...stable.dirty].sort((a, b) => a - b);
  return {
    main: {
      ok: true, outcome, instructions: used, globals: heap.globals,
      heap: { sizeBytes: heap.heap.sizeBytes, pages: heap.heap.indices().map((index) => ({ index, bytes: heap.heap.page(index) })) },
      stable: { sizeBytes: stable.sizeBytes, pages: written.map((index) => ({ index, bytes: stable.page(index) })) },
    },
    instructions: used,
  };
}

/** The outcome of an install whose module has no canister_init / canister_post_upgrade. */
function emptyOutcome(balance: bigint): ApiOutcome {
  return { calls: [], cyclesAccepted: 0n, cyclesBurned: 0n, messageAccepted: false, logs: [], balance };
}
