// Certification of each round's state (interface spec, "Certification"): build the state tree
// from the replicated state, sign its root hash with the subnet key, and serve certificates
// (witnesses plus the root's delegation to the subnet) from the latest certified state.

import {
  buildStateTree,
  createCertificate,
  digest,
  witness,
  stateRootMessage,
  publicKeyToDer,
  RootAuthority,
  selfAuthenticatingPrincipal,
  StateTreeCache,
  SubnetCertifier,
  type CanisterCertifiedState,
  type CanisterRange,
  type CertificateDelegation,
  type CertifiedState,
  type DelegationFormat,
  type DelegationSource,
  type NodePublicKeyRecord,
  type Path,
  type RequestStatusRecord,
  type SubnetCertifiedState,
  type SubnetMetrics,
  type ThresholdSigner,
} from '../certification/index.js';
import type { Clock } from '../consensus/index.js';
import type { ReplicatedState } from '../state/index.js';
import { CertifiedViewBuilder } from './certified-view.js';

/** The outcome of certifying one round: what queries and read_state are answered from. */
export interface CertifiedSnapshot {
  readonly height: bigint;
  /** Batch time of the round (ns), `/time` of every certificate served from it. */
  readonly time: bigint;
  readonly state: CertifiedState;
  /** Certified canister records by canister id (hex of the principal bytes). */
  readonly canisters: ReadonlyMap<string, CanisterCertifiedState>;
  /** Certified request statuses by request id (hex). */
  readonly requests: ReadonlyMap<string, RequestStatusRecord>;
}

export interface StateCertificationOptions {
  readonly subnetSigner: ThresholdSigner;
  /**
   * The root key's signer: stands in for the NNS, which delegates to this subnet. Absent: this
   * subnet is the root of trust (as a local network's only subnet is): its key is the root key
   * and its certificates carry no delegation.
   */
  readonly rootSigner?: ThresholdSigner;
  readonly subnetId: Uint8Array;
  /** The canister ids this subnet hosts, as its own state tree certifies them. */
  readonly canisterRanges: readonly CanisterRange[];
  /**
   * With a `rootSigner`: ranges its delegation routes to this subnet besides `canisterRanges`,
   * e.g. the management canister `aaaaa-aa`, the effective canister id agent-js gives canister
   * creations. Kept out of the subnet's own tree. (The Rust agent cannot index a range starting
   * at the empty principal: it talks to root subnets, whose certificates need no ranges.)
   */
  readonly rootRoutedRanges?: readonly CanisterRange[];
  readonly nodes: readonly NodePublicKeyRecord[];
  /** Wall clock for delegation timestamps (outside replicated state). */
  readonly clock: Clock;
  /** Renew the root's delegation when it is older than this (agents accept up to 30 days). Default 1 day. */
  readonly delegationRenewalNs?: bigint;
}

const DAY_NS = 24n * 3600n * 1_000_000_000n;

/** The root of trust, re-signed when its delegation ages (agents reject delegations older than 30 days). */
class RenewingRootAuthority implements DelegationSource {
  #authority: RootAuthority;
  #signedAt: bigint;

  constructor(
    private readonly signer: ThresholdSigner,
    private readonly subnet: SubnetCertifiedState,
    private readonly clock: Clock,
    private readonly renewalNs: bigint,
  ) {
    this.#signedAt = clock.now();
    this.#authority = this.#sign(this.#signedAt);
  }

  get publicKeyDer(): Uint8Array {
    return this.#authority.publicKeyDer;
  }

  get subnetId(): Uint8Array {
    return this.#authority.subnetId;
  }

  #sign(time: bigint): RootAuthority {
    return new RootAuthority({ signer: this.signer, subnets: [this.subnet], time });
  }

  delegate(subnetId: Uint8Array, format: DelegationFormat): CertificateDelegation {
    const now = this.clock.now();
    if (now - this.#signedAt > this.renewalNs) {
      this.#signedAt = now;
      this.#authority = this.#sign(now);
    }
    return this.#authority.delegate(subnetId, format);
  }
}

export class StateCertification {
  readonly subnetId: Uint8Array;
  readonly subnetKeyDer: Uint8Array;
  readonly rootKeyDer: Uint8Array;
  /** The root subnet's id as agents derive it from the root key. */
  readonly rootSubnetId: Uint8Array;
  /** Whether this subnet is the root of trust (its certificates carry no delegation). */
  readonly isRoot: boolean;
  readonly #certifier: SubnetCertifier;
  readonly #cache = new StateTreeCache();
  readonly #views = new CertifiedViewBuilder();
  readonly #dataCertificates = new WeakMap<CertifiedSnapshot, Map<string, Uint8Array>>();
  #subnet: SubnetCertifiedState;

  constructor(options: StateCertificationOptions) {
    this.subnetId = options.subnetId;
    this.subnetKeyDer = publicKeyToDer(options.subnetSigner.publicKey);
    this.#subnet = {
      subnetId: options.subnetId,
      publicKey: this.subnetKeyDer,
      canisterRanges: options.canisterRanges,
      nodes: options.nodes,
      subnetType: 'application',
    };
    let root: RenewingRootAuthority | undefined;
    if (options.rootSigner !== undefined) {
      const rootView: SubnetCertifiedState = {
        subnetId: options.subnetId,
        publicKey: this.subnetKeyDer,
        canisterRanges: [...(options.rootRoutedRanges ?? []), ...options.canisterRanges],
        subnetType: 'application',
      };
      root = new RenewingRootAuthority(options.rootSigner, rootView, options.clock, options.delegationRenewalNs ?? DAY_NS);
    }
    this.isRoot = root === undefined;
    this.rootKeyDer = root?.publicKeyDer ?? this.subnetKeyDer;
    this.rootSubnetId = selfAuthenticatingPrincipal(this.rootKeyDer);
    this.#certifier = new SubnetCertifier({ subnetId: options.subnetId, signer: options.subnetSigner, ...(root ? { delegation: root } : {}) });
  }

  /** Builds the state tree of the state as the last round left it and signs its root hash. */
  certify(state: ReplicatedState, metrics: SubnetMetrics): CertifiedSnapshot {
    this.#updateMetrics(metrics);
    const { view, canisters, requests } = this.#views.build(state, [this.#subnet]);
    const certified = this.#certifier.certifyState(buildStateTree(view, this.#cache));
    return { height: state.height, time: state.time, state: certified, canisters, requests };
  }

  #updateMetrics(metrics: SubnetMetrics): void {
    const prior = this.#subnet.metrics;
    if (
      prior === undefined ||
      prior.numCanisters !== metrics.numCanisters ||
      prior.canisterStateBytes !== metrics.canisterStateBytes ||
      prior.consumedCyclesTotal !== metrics.consumedCyclesTotal ||
      prior.updateTransactionsTotal !== metrics.updateTransactionsTotal
    ) {
      this.#subnet = { ...this.#subnet, metrics };
    }
  }

  /**
   * `certify` with the signature made elsewhere (the signing thread): the tree is built now, from
   * the state as it is, and the state must not change until the promise settles.
   */
  async certifyWith(state: ReplicatedState, metrics: SubnetMetrics, sign: (message: Uint8Array) => Promise<Uint8Array>): Promise<CertifiedSnapshot> {
    this.#updateMetrics(metrics);
    const { view, canisters, requests } = this.#views.build(state, [this.#subnet]);
    const tree = buildStateTree(view, this.#cache);
    const rootHash = digest(tree);
    const height = state.height;
    const time = state.time;
    const signature = await sign(stateRootMessage(rootHash));
    return { height, time, state: { tree, rootHash, signature }, canisters, requests };
  }

  /** A certificate revealing `paths` (and `/time`) of a certified state, with the root's delegation. */
  certificate(snapshot: CertifiedSnapshot, paths: readonly Path[], format: DelegationFormat): Uint8Array {
    return this.#certifier.certificate(snapshot.state, paths, format);
  }

  /**
   * A certificate revealing `paths` (and `/time`) signed by this subnet's key alone, without the
   * root's delegation: what other subnets verify this subnet's streams with, against the key the
   * registry holds for it.
   */
  subnetCertificate(snapshot: CertifiedSnapshot, paths: readonly Path[]): Uint8Array {
    return createCertificate({ tree: witness(snapshot.state.tree, [...paths, ['time']]), signature: snapshot.state.signature });
  }

  /**
   * The data certificate a query sees through `ic0.data_certificate_copy` (spec, "Certified
   * data"): `/canister/<id>/certified_data` and `/time`. Undefined for a canister that is empty or
   * unknown in that state. Built once per canister and certified state.
   */
  dataCertificate(snapshot: CertifiedSnapshot, canisterId: Uint8Array): Uint8Array | undefined {
    const key = Buffer.from(canisterId).toString('hex');
    const record = snapshot.canisters.get(key);
    if (record?.moduleHash === undefined) return undefined;
    let byCanister = this.#dataCertificates.get(snapshot);
    if (byCanister === undefined) {
      byCanister = new Map();
      this.#dataCertificates.set(snapshot, byCanister);
    }
    let certificate = byCanister.get(key);
    if (certificate === undefined) {
      // The flat canister ranges: every certificate verifier reads them (the shard form is newer).
      certificate = this.certificate(snapshot, [['canister', canisterId, 'certified_data']], { kind: 'flat' });
      byCanister.set(key, certificate);
    }
    return certificate;
  }
}
