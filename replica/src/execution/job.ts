// A sandbox job: everything needed to run one message of one canister, prepared on the main
// thread and run wherever the canister's live instance is (in process or in a worker). Plain
// data, encoded for a worker by job-codec.ts; the results come back the same way.

import { PAGE_SIZE, PageMap } from '../state/page-map.js';
import type { CanisterView, MessageInput } from '../system-api/index.js';
import type { EntryPoint, ExecutionSnapshot, GlobalValue, PageDelta, SandboxLimits, SandboxModule, SandboxResult } from './sandbox.js';

export interface SandboxJob {
  readonly canisterId: string;
  readonly module: SandboxModule;
  readonly entry: EntryPoint;
  readonly input: MessageInput;
  readonly view: CanisterView;
  readonly limits: SandboxLimits;
  /** A response's cleanup callback: run when the callback fails, with the instructions left. */
  readonly cleanup?: { readonly fn: number; readonly env: number };
  /** Instructions the call context executed before this message (`performance_counter(1)`). */
  readonly callContextInstructions?: bigint;
  /** A query method called as an update (replicated query): the reply counts, memory changes do not. */
  readonly discardMemory?: boolean;
  /** install_code: the job runs `install-run.ts` instead of one entry point (see there). */
  readonly install?: InstallJob;
}

/**
 * install_code as one job, all phases sliced as one message: canister_pre_upgrade on a copy of the
 * current instance (upgrade), then a fresh instance of the new module (start function), then
 * canister_init or canister_post_upgrade with `input`. The job's `module` and `view` are the
 * current code's (the new code sees the next canister version).
 */
export interface InstallJob {
  readonly mode: 'install' | 'reinstall' | 'upgrade';
  /** The new code (only what a sandbox needs, so that it is cheap to post to a worker). */
  readonly module: SandboxModule;
  /** Run canister_pre_upgrade first (an upgrade of a canister that exports it, not skipped). */
  readonly preUpgrade: boolean;
}

/**
 * What a job produced: the entry point's result and, if it ran, the cleanup's. For an install,
 * `main.heap` holds every non-zero page of the new instance and `main.stable` the pages written
 * over the stable memory it started from (the canister's for an upgrade, else empty).
 */
export interface JobResult {
  readonly main: SandboxResult;
  readonly cleanup?: SandboxResult;
  /** Instructions of the whole job, all slices, cleanup included. */
  readonly instructions: bigint;
}

// ---- snapshots for the worker messages (jobs and results: job-codec.ts) -------------------------

/** Pages of a page map packed into one buffer (transferable). */
export interface WirePages {
  readonly sizeBytes: number;
  readonly indices: readonly number[];
  readonly bytes: Uint8Array;
}

export interface WireSnapshot {
  readonly heap: WirePages;
  readonly stable: WirePages;
  readonly globals: readonly GlobalValue[];
}

/** Only what a sandbox needs of a compiled module: cheap to post to a worker thread. */
export function sandboxModule(m: SandboxModule): SandboxModule {
  return { hashHex: m.hashHex, module: m.module, info: { imports: m.info.imports, dataPages: m.info.dataPages }, instrumented: { exports: m.instrumented.exports } };
}

/** `indices` of `map` packed into one buffer (all its pages by default). */
export function packPages(map: PageMap, indices: readonly number[] = map.indices()): WirePages {
  const bytes = new Uint8Array(indices.length * PAGE_SIZE);
  indices.forEach((index, i) => bytes.set(map.page(index), i * PAGE_SIZE));
  return { sizeBytes: map.sizeBytes, indices, bytes };
}

export const packPageMap = (map: PageMap): WirePages => packPages(map);

/** The pages of `wire` as deltas (views into its buffer). */
export function unpackPages(wire: WirePages): { sizeBytes: number; pages: PageDelta[] } {
  return {
    sizeBytes: wire.sizeBytes,
    pages: wire.indices.map((index, i) => ({ index, bytes: wire.bytes.subarray(i * PAGE_SIZE, (i + 1) * PAGE_SIZE) })),
  };
}

export function unpackPageMap(wire: WirePages): PageMap {
  const map = new PageMap(wire.sizeBytes);
  wire.indices.forEach((index, i) => map.setPage(index, wire.bytes.subarray(i * PAGE_SIZE, (i + 1) * PAGE_SIZE)));
  return map;
}

export function packSnapshot(snapshot: Omit<ExecutionSnapshot, 'stable'> & { readonly stable: PageMap }): WireSnapshot {
  return { heap: packPageMap(snapshot.heap), stable: packPageMap(snapshot.stable), globals: snapshot.globals };
}

export function unpackSnapshot(wire: WireSnapshot): ExecutionSnapshot {
  return { heap: unpackPageMap(wire.heap), stable: unpackPageMap(wire.stable), globals: wire.globals };
}
