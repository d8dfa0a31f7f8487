// A sandbox job: everything needed to run one message of one canister, prepared on the main
// thread and run wherever the canister's live instance is (in process or in a worker). Plain
// data, so it can be posted to a worker; the results come back the same way.

import { CanisterError, type ErrorCode } from '../errors.js';
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

// ---- the wire format (worker messages) ----------------------------------------------------------

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

/** The subnet's id and root key are sent once per batch (see worker-protocol.ts), not per job. */
export type WireView = Omit<CanisterView, 'subnetId' | 'rootKey'>;

export type WireJob = Omit<SandboxJob, 'module' | 'view'> & { readonly module: string; readonly view: WireView; readonly snapshot?: WireSnapshot };

type WireError = { readonly code: ErrorCode; readonly message: string };

export type WireSandboxResult =
  | (Omit<Extract<SandboxResult, { ok: true }>, 'heap' | 'stable'> & { readonly heap: WirePages; readonly stable: WirePages })
  | { readonly ok: false; readonly error: WireError; readonly instructions: bigint; readonly logs?: readonly Uint8Array[] };

export interface WireJobResult {
  readonly main: WireSandboxResult;
  readonly cleanup?: WireSandboxResult;
  readonly instructions: bigint;
}

export function packPages(sizeBytes: number, pages: readonly PageDelta[]): WirePages {
  const bytes = new Uint8Array(pages.length * PAGE_SIZE);
  pages.forEach((p, i) => bytes.set(p.bytes, i * PAGE_SIZE));
  return { sizeBytes, indices: pages.map((p) => p.index), bytes };
}

export function unpackPages(wire: WirePages): { sizeBytes: number; pages: PageDelta[] } {
  return {
    sizeBytes: wire.sizeBytes,
    pages: wire.indices.map((index, i) => ({ index, bytes: wire.bytes.subarray(i * PAGE_SIZE, (i + 1) * PAGE_SIZE) })),
  };
}

export function packPageMap(map: PageMap): WirePages {
  return packPages(map.sizeBytes, map.indices().map((index) => ({ index, bytes: map.page(index) })));
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

function packResult(r: SandboxResult): WireSandboxResult {
  if (!r.ok) return { ok: false, error: { code: r.error.code, message: r.error.message }, instructions: r.instructions, logs: r.logs };
  return { ...r, heap: packPages(r.heap.sizeBytes, r.heap.pages), stable: packPages(r.stable.sizeBytes, r.stable.pages) };
}

function unpackResult(r: WireSandboxResult): SandboxResult {
  if (!r.ok) return { ok: false, error: new CanisterError(r.error.code, r.error.message), instructions: r.instructions, logs: r.logs };
  return { ...r, heap: unpackPages(r.heap), stable: unpackPages(r.stable) };
}

export function packJobResult(r: JobResult): { wire: WireJobResult; transfer: ArrayBuffer[] } {
  const wire: WireJobResult = { main: packResult(r.main), cleanup: r.cleanup && packResult(r.cleanup), instructions: r.instructions };
  const transfer: ArrayBuffer[] = [];
  for (const part of [wire.main, wire.cleanup]) {
    if (part?.ok) transfer.push(part.heap.bytes.buffer as ArrayBuffer, part.stable.bytes.buffer as ArrayBuffer);
  }
  return { wire, transfer };
}

export function unpackJobResult(r: WireJobResult): JobResult {
  return { main: unpackResult(r.main), cleanup: r.cleanup && unpackResult(r.cleanup), instructions: r.instructions };
}
