// Runs sandbox jobs against the live instances one executor holds: the main thread (in-process
// host) or one worker thread. The executor keeps one instance per canister and the compiled
// modules it was given; which instances it keeps is decided by the host, never by the runner.

import { toCanisterError } from './sandbox.js';
import { ExecutionAborted, Sandbox, type ExecutionSnapshot, type SandboxModule, type SandboxResult, type SliceHook } from './sandbox.js';
import type { CallCosts } from '../system-api/index.js';
import type { JobResult, SandboxJob } from './job.js';
import { runInstall } from './install-run.js';

export class SandboxRunner {
  private readonly modules = new Map<string, SandboxModule>();
  private readonly sandboxes = new Map<string, Sandbox>();

  constructor(
    private readonly costs: CallCosts,
    private readonly stableMemoryBytes: bigint,
  ) {}

  get size(): number {
    return this.sandboxes.size;
  }

  addModule(module: SandboxModule): void {
    this.modules.set(module.hashHex, module);
  }

  module(hashHex: string): SandboxModule {
    const m = this.modules.get(hashHex);
    if (!m) throw new Error(`executor has no module ${hashHex}`);
    return m;
  }

  sandbox(canisterId: string): Sandbox | undefined {
    return this.sandboxes.get(canisterId);
  }

  /** Replaces the canister's instance by one restored from the snapshot (which it owns then). */
  restore(canisterId: string, module: SandboxModule, snapshot: ExecutionSnapshot): Sandbox {
    const sandbox = Sandbox.restore(module, snapshot, this.stableMemoryBytes);
    this.sandboxes.set(canisterId, sandbox);
    return sandbox;
  }

  evict(canisterId: string): void {
    this.sandboxes.delete(canisterId);
  }

  clear(): void {
    this.sandboxes.clear();
  }

  /**
   * Runs a job on the canister's instance (which must exist). Returns 'aborted' when the slice
   * hook aborted it; the instance is rolled back then. A failed callback runs the cleanup with
   * the instructions left, continuing the slice it failed in.
   */
  run(job: SandboxJob, onSlice?: SliceHook): JobResult | 'aborted' {
    if (job.install) {
      // The live instance stays as it is: the new code is committed by the main thread.
      try {
        return runInstall(job, job.install, this.sandboxes.get(job.canisterId), this.costs, this.stableMemoryBytes, onSlice);
      } catch (e) {
        if (e instanceof ExecutionAborted) return 'aborted';
        throw e;
      }
    }
    const sandbox = this.sandboxes.get(job.canisterId);
    if (!sandbox) throw new Error(`executor has no instance of canister ${job.canisterId}`);
    let pauses = 0n;
    const hook: SliceHook | undefined = onSlice && ((executed) => {
      pauses++;
      return onSlice(executed);
    });
    try {
      const context = job.callContextInstructions;
      const main = sandbox.run(job.entry, job.input, job.view, this.costs, job.limits, { onSlice: hook, callContextInstructions: context, persist: !job.discardMemory });
      if (main.ok || !job.cleanup) return { main, instructions: main.instructions };
      const left = job.limits.instructions - main.instructions;
      const slice = job.limits.slice ?? job.limits.instructions;
      const sliceLeft = (pauses + 1n) * slice - main.instructions;
      let cleanup: SandboxResult;
      try {
        cleanup = sandbox.run(
          { kind: 'callback', ...job.cleanup },
          { ...job.input, context: 'C', needsResponse: false, cyclesAvailable: 0n },
          job.view, this.costs,
          { ...job.limits, instructions: left > 0n ? left : 0n },
          {
            onSlice: hook && ((executed) => hook(main.instructions + executed)), firstSlice: sliceLeft > 0n ? sliceLeft : 0n,
            callContextInstructions: (context ?? 0n) + main.instructions,
          },
        );
      } catch (e) {
        if (e instanceof ExecutionAborted) throw e;
        cleanup = { ok: false, error: toCanisterError(e), instructions: 0n };
      }
      return { main, cleanup, instructions: main.instructions + cleanup.instructions };
    } catch (e) {
      if (e instanceof ExecutionAborted) return 'aborted';
      throw e;
    }
  }
}
