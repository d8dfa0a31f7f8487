// The registry: which subnet hosts which canister ids (the routing table), and each subnet's
// public key, against which its certified streams are verified. Embedded: a fixed list of
// subnets given at start (`LocalRegistry`); in cluster mode the same interface over NATS KV.
//
// Routing decides where a message goes, so it is an input of replicated execution: every replica
// of a subnet must see the same registry at the same height. A fixed registry is trivially so.

import { Principal } from '@icp-sdk/core/principal';
import { compareBytes } from '../bytes.js';

/** Canister ids from `start` to `end`, inclusive, compared as bytes (as the IC's routing table). */
export type CanisterIdRange = readonly [start: Principal, end: Principal];

export interface SubnetRecord {
  readonly subnetId: Principal;
  readonly canisterRanges: readonly CanisterIdRange[];
  /** The subnet's threshold BLS public key (DER): its state certificates verify against it. */
  readonly publicKeyDer?: Uint8Array;
}

export interface Registry {
  /** The subnet whose ranges hold `canister`, or undefined when no subnet does. */
  route(canister: Principal): Principal | undefined;
  subnet(subnetId: Principal): SubnetRecord | undefined;
  /** Every subnet, in ascending id order. */
  subnets(): readonly SubnetRecord[];
}

/** A registry that does not change: the subnets of an embedded network, or of a test. */
export class LocalRegistry implements Registry {
  readonly #subnets: readonly SubnetRecord[];
  readonly #byId = new Map<string, SubnetRecord>();
  /** Ranges of every subnet, by start, for a binary search. */
  readonly #ranges: readonly { readonly start: Uint8Array; readonly end: Uint8Array; readonly subnetId: Principal }[];

  constructor(subnets: readonly SubnetRecord[]) {
    this.#subnets = [...subnets].sort((a, b) => compareBytes(a.subnetId.toUint8Array(), b.subnetId.toUint8Array()));
    const ranges = [];
    for (const s of this.#subnets) {
      const id = s.subnetId.toText();
      if (this.#byId.has(id)) throw new Error(`subnet ${id} is in the registry twice`);
      this.#byId.set(id, s);
      for (const [start, end] of s.canisterRanges) {
        const range = { start: start.toUint8Array(), end: end.toUint8Array(), subnetId: s.subnetId };
        if (compareBytes(range.start, range.end) > 0) throw new Error(`subnet ${id} has an empty canister range ${start.toText()}..${end.toText()}`);
        ranges.push(range);
      }
    }
    ranges.sort((a, b) => compareBytes(a.start, b.start));
    for (let i = 1; i < ranges.length; i++) {
      if (compareBytes(ranges[i]!.start, ranges[i - 1]!.end) <= 0) {
        throw new Error(`canister ranges of subnets ${ranges[i - 1]!.subnetId.toText()} and ${ranges[i]!.subnetId.toText()} overlap`);
      }
    }
    this.#ranges = ranges;
  }

  route(canister: Principal): Principal | undefined {
    const id = canister.toUint8Array();
    let lo = 0;
    let hi = this.#ranges.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      const r = this.#ranges[mid]!;
      if (compareBytes(id, r.start) < 0) hi = mid - 1;
      else if (compareBytes(id, r.end) > 0) lo = mid + 1;
      else return r.subnetId;
    }
    return undefined;
  }

  subnet(subnetId: Principal): SubnetRecord | undefined {
    return this.#byId.get(subnetId.toText());
  }

  subnets(): readonly SubnetRecord[] {
    return this.#subnets;
  }
}
