// Canister snapshots (interface spec, "IC method take_canister_snapshot" and the three after it):
// the data part. A snapshot captures the module, heap, stable memory, globals, certified data,
// global timer and chunk store of one canister; loading it puts them back. Snapshots are part of
// the canister's replicated state, so checkpoints write them (their page maps once: they never
// change after capture) and the state hash covers them.
//
// The management canister checks controllers and decodes arguments; these functions do the rest
// and report user errors as CanisterError values.

import type { Principal } from '@icp-sdk/core/principal';
import { Principal as PrincipalClass } from '@icp-sdk/core/principal';
import { bytesToHex } from '@noble/hashes/utils.js';
import { CanisterError, ErrorCode } from '../errors.js';
import type { GlobalValue } from '../execution/sandbox.js';
import type { CanisterState } from '../state/canister.js';
import type { PageMap } from '../state/page-map.js';
import type { CompiledCanisterModule } from '../wasm/index.js';

export interface CanisterSnapshot {
  /** 8-byte big-endian local id, then the canister id (as the IC forms snapshot ids). */
  readonly id: Uint8Array;
  readonly takenAtNanos: bigint;
  /** The canister version when the snapshot was taken. */
  readonly canisterVersion: bigint;
  readonly module: CompiledCanisterModule;
  readonly heap: PageMap;
  readonly stable: PageMap;
  readonly globals: readonly GlobalValue[];
  readonly certifiedData: Uint8Array;
  /** 0 = timer inactive. */
  readonly globalTimer: bigint;
  readonly chunkStore: ReadonlyMap<string, Uint8Array>;
}

/** A canister's snapshots, keyed by the hex of the snapshot id. */
export interface CanisterSnapshots {
  nextLocalId: bigint;
  readonly byId: Map<string, CanisterSnapshot>;
}

/** IC default (`MAX_NUMBER_OF_SNAPSHOTS_PER_CANISTER`). */
export const DEFAULT_MAX_SNAPSHOTS_PER_CANISTER = 10;

export function canisterSnapshots(canister: CanisterState): CanisterSnapshots {
  return canister.snapshots;
}

export function snapshotId(canister: Principal, localId: bigint): Uint8Array {
  const raw = canister.toUint8Array();
  const id = new Uint8Array(8 + raw.length);
  new DataView(id.buffer).setBigUint64(0, localId);
  id.set(raw, 8);
  return id;
}

/** The canister a snapshot id belongs to, or undefined if the id is malformed. */
export function snapshotOwner(id: Uint8Array): Principal | undefined {
  if (id.length < 9 || id.length > 8 + 29) return undefined;
  return PrincipalClass.fromUint8Array(id.slice(8));
}

/** Bytes the snapshot occupies, as `list_canister_snapshots` reports in `total_size`. */
export function snapshotSize(s: CanisterSnapshot): bigint {
  let size = BigInt(s.heap.sizeBytes) + BigInt(s.stable.sizeBytes) + BigInt(s.module.info.wasmBytes);
  size += BigInt(s.certifiedData.length) + 8n * BigInt(s.globals.length);
  for (const chunk of s.chunkStore.values()) size += BigInt(chunk.length);
  return size;
}

/** Memory all snapshots of a canister occupy (`memory_metrics.snapshots_size`). */
export function snapshotsSize(canister: CanisterState): bigint {
  let total = 0n;
  for (const s of canisterSnapshots(canister).byId.values()) total += snapshotSize(s);
  return total;
}

export interface TakeSnapshotOptions {
  /** Delete this snapshot once the new one exists (`replace_snapshot`). */
  readonly replace?: Uint8Array;
  /** Block time (`taken_at_timestamp`). */
  readonly now: bigint;
  readonly maxSnapshots?: number;
}

/** take_canister_snapshot: copies the canister's code, memories and system state into a new snapshot. */
export function takeSnapshot(canister: CanisterState, options: TakeSnapshotOptions): CanisterSnapshot {
  const exec = canister.execution;
  if (!exec) {
    throw new CanisterError(ErrorCode.CanisterWasmModuleNotFound,
      `Canister ${canister.idText} is empty: a snapshot can be taken only of a canister with a Wasm module.`);
  }
  const snapshots = canisterSnapshots(canister);
  const replaced = options.replace ? mustFind(canister, options.replace) : undefined;
  const max = options.maxSnapshots ?? DEFAULT_MAX_SNAPSHOTS_PER_CANISTER;
  if (!replaced && snapshots.byId.size >= max) {
    throw new CanisterError(ErrorCode.CanisterRejectedMessage,
      `Canister ${canister.idText} has reached the maximum of ${max} snapshots: delete one or pass replace_snapshot.`);
  }
  const snapshot: CanisterSnapshot = {
    id: snapshotId(canister.id, snapshots.nextLocalId++),
    takenAtNanos: options.now,
    canisterVersion: canister.version,
    module: exec.module,
    heap: exec.heap.clone(),
    stable: canister.stable.clone(),
    globals: [...exec.globals],
    certifiedData: canister.certifiedData.slice(),
    globalTimer: canister.globalTimer,
    chunkStore: new Map([...canister.chunkStore].map(([k, v]) => [k, v.slice()])),
  };
  if (replaced) snapshots.byId.delete(bytesToHex(replaced.id));
  snapshots.byId.set(bytesToHex(snapshot.id), snapshot);
  return snapshot;
}

export interface LoadSnapshotHooks {
  /** Drops the canister's live instance: its memories are replaced. */
  evict?(canisterIdText: string): void;
}

/**
 * load_canister_snapshot: the target's module, memories, globals, certified data, timer and chunk
 * store become the snapshot's (copies: the snapshot stays usable). `source` is the canister the
 * snapshot belongs to (the target itself, or another canister of the subnet).
 */
export function loadSnapshot(target: CanisterState, source: CanisterState, id: Uint8Array, hooks: LoadSnapshotHooks = {}): CanisterSnapshot {
  const snapshot = mustFind(source, id);
  target.execution = { module: snapshot.module, heap: snapshot.heap.clone(), globals: [...snapshot.globals] };
  markAllDirty(target.execution.heap);
  target.stable = snapshot.stable.clone();
  markAllDirty(target.stable);
  target.certifiedData = snapshot.certifiedData.slice();
  target.globalTimer = snapshot.globalTimer;
  target.chunkStore.clear();
  for (const [k, v] of snapshot.chunkStore) target.chunkStore.set(k, v.slice());
  target.version++;
  hooks.evict?.(target.idText);
  return snapshot;
}

/** list_canister_snapshots, in id order. */
export function listSnapshots(canister: CanisterState): CanisterSnapshot[] {
  const snapshots = canisterSnapshots(canister);
  return [...snapshots.byId.keys()].sort().map((k) => snapshots.byId.get(k)!);
}

/** delete_canister_snapshot. */
export function deleteSnapshot(canister: CanisterState, id: Uint8Array): void {
  mustFind(canister, id);
  canisterSnapshots(canister).byId.delete(bytesToHex(id));
}

function mustFind(canister: CanisterState, id: Uint8Array): CanisterSnapshot {
  const s = canisterSnapshots(canister).byId.get(bytesToHex(id));
  if (!s) {
    throw new CanisterError(ErrorCode.CanisterSnapshotNotFound,
      `Could not find the snapshot ID ${bytesToHex(id)} for canister ${canister.idText}.`);
  }
  return s;
}

/** A fresh copy is a new memory for the checkpointer too; dirty marks say so to anyone tracking pages. */
function markAllDirty(map: PageMap): void {
  for (const index of map.indices()) map.dirty.add(index);
}
