// The replicated state of a subnet: canisters in id order, the ingress history, time and height.

import { Principal } from '@icp-sdk/core/principal';
import { CanisterState, comparePrincipals } from './canister.js';
import { IngressHistory } from './ingress-history.js';
import type { Request, Stream } from './types.js';

export class ReplicatedState {
  private readonly canisterMap = new Map<string, CanisterState>();
  #sorted: CanisterState[] | undefined; // derived from canisterMap, not state
  #membership = 0; // counts changes of the canister set, not state
  /** Statuses of ingress messages by id (hex); terminal ones are pruned after MAX_INGRESS_TTL. */
  readonly ingressHistory = new IngressHistory();
  /** Nanoseconds since the epoch, from the block. */
  time = 0n;
  height = 0n;
  /** The next canister id to allocate, an index into the subnet's range. */
  nextCanisterIndex: bigint;
  /** Cycles minted (created from nothing by provisional calls) and burned, for conservation checks. */
  cyclesMinted = 0n;
  cyclesBurned = 0n;
  /** raw_rand calls, answered from the random tape of a later round. */
  readonly pendingRawRand: Request[] = [];
  /** Management canister calls left over when a round's budget ran out. */
  readonly pendingSubnetCalls: Request[] = [];
  /** Streams to other subnets, by subnet id (text); visited in sorted order. */
  readonly streams = new Map<string, Stream>();
  /**
   * Cycles attached to messages from other subnets that were inducted here, and to messages to
   * other subnets they acknowledged: cycles that crossed the subnet's border, for conservation.
   */
  cyclesReceived = 0n;
  cyclesSent = 0n;

  constructor(
    readonly subnetId: Principal,
    readonly canisterRange: { readonly start: bigint; readonly end: bigint },
  ) {
    this.nextCanisterIndex = canisterRange.start;
  }

  canister(id: Principal | string): CanisterState | undefined {
    return this.canisterMap.get(typeof id === 'string' ? id : id.toText());
  }

  addCanister(c: CanisterState): void {
    this.canisterMap.set(c.idText, c);
    this.#sorted = undefined;
    this.#membership++;
  }

  removeCanister(id: Principal): void {
    this.canisterMap.delete(id.toText());
    this.#sorted = undefined;
    this.#membership++;
  }

  /** Changes whenever a canister is added or removed: unchanged, a canister seen before is still there. */
  get membership(): number {
    return this.#membership;
  }

  /** Canisters in ascending id order: the only order in which state may be visited. */
  canisters(): CanisterState[] {
    // Sorted once per change of the canister set: rounds visit it several times per iteration.
    this.#sorted ??= [...this.canisterMap.values()].sort((a, b) => comparePrincipals(a.id, b.id));
    return this.#sorted.slice();
  }

  get canisterCount(): number {
    return this.canisterMap.size;
  }

  /** Whether an id is in this subnet's range (it may not exist yet). */
  inRange(id: Principal): boolean {
    const index = canisterIndex(id);
    return index !== undefined && index >= this.canisterRange.start && index <= this.canisterRange.end;
  }

  allocateCanisterId(): Principal | undefined {
    if (this.nextCanisterIndex > this.canisterRange.end) return undefined;
    return canisterIdFromIndex(this.nextCanisterIndex++);
  }
}

/** The IC's canister ids: an 8-byte big-endian index followed by 0x01 0x01. */
export function canisterIdFromIndex(index: bigint): Principal {
  const bytes = new Uint8Array(10);
  new DataView(bytes.buffer).setBigUint64(0, index);
  bytes[8] = 1;
  bytes[9] = 1;
  return Principal.fromUint8Array(bytes);
}

export function canisterIndex(id: Principal): bigint | undefined {
  const bytes = id.toUint8Array();
  if (bytes.length !== 10 || bytes[8] !== 1 || bytes[9] !== 1) return undefined;
  return new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0);
}

export const MANAGEMENT_CANISTER_ID = Principal.managementCanister();
