// Types of the certification layer: hash trees (interface spec "Certificate"), the certified
// view of the replicated state (spec "The system state tree"), key material for threshold BLS
// and certificates with delegations (spec "Delegation", "Encoding of certificates").

// ---------------------------------------------------------------------------------------------
// Hash trees
// ---------------------------------------------------------------------------------------------

/**
 * A hash tree node, spec "Certificate":
 * `HashTree = Empty | Fork HashTree HashTree | Labeled Label HashTree | Leaf blob | Pruned Hash`.
 *
 * Nodes are immutable values: their digest is computed once and cached (see `digest` in
 * hash-tree.ts), so a subtree object that is reused from one round to the next is never hashed
 * again. Never mutate a node, a label, a leaf value or a pruned digest after construction.
 */
export type HashTree = EmptyNode | ForkNode | LabeledNode | LeafNode | PrunedNode;

export interface EmptyNode {
  readonly kind: 'empty';
}
export interface ForkNode {
  readonly kind: 'fork';
  readonly left: HashTree;
  readonly right: HashTree;
}
export interface LabeledNode {
  readonly kind: 'labeled';
  readonly label: Uint8Array;
  readonly subtree: HashTree;
}
export interface LeafNode {
  readonly kind: 'leaf';
  readonly value: Uint8Array;
}
export interface PrunedNode {
  readonly kind: 'pruned';
  /** The SHA-256 digest of the subtree that was pruned away (32 bytes). */
  readonly digest: Uint8Array;
}

/** A label: bytes, or text that stands for its UTF-8 encoding. */
export type Label = Uint8Array | string;

/** A path in the state tree: a sequence of labels (spec "Lookup"). */
export type Path = readonly Label[];

/**
 * Input of the labeled-tree builder: a leaf value, a map (or list of entries) from labels to
 * subtrees, or an already built hash tree that is embedded as-is (this is how cached subtrees
 * are reused). Children need not be sorted; duplicate labels are rejected.
 */
export type LabeledTreeInput =
  | Uint8Array
  | HashTree
  | ReadonlyMap<Label, LabeledTreeInput>
  | readonly (readonly [Label, LabeledTreeInput])[];

/** Result of `lookupPath`, spec "Lookup": `Found v | Absent | Unknown | Error`. */
export type LookupResult =
  | { readonly status: 'found'; readonly value: Uint8Array }
  | { readonly status: 'absent' }
  | { readonly status: 'unknown' }
  | { readonly status: 'error' };

/** Result of `lookupSubtree`: like `LookupResult`, but any node may be the value. */
export type SubtreeLookupResult =
  | { readonly status: 'found'; readonly subtree: HashTree }
  | { readonly status: 'absent' }
  | { readonly status: 'unknown' };

// ---------------------------------------------------------------------------------------------
// The certified state view (spec "The system state tree")
// ---------------------------------------------------------------------------------------------

/**
 * The part of the replicated state that is certified, as the state tree builder consumes it.
 * Collections are iterables of records that carry their own key (principal bytes or request
 * id), so `Map.values()` and plain arrays both work; order does not matter (the builder sorts),
 * duplicate keys are rejected.
 *
 * With a `StateTreeCache`, records are treated as immutable values keyed by object identity:
 * replace a record (copy-on-write) when it changes instead of mutating it, like the IC's
 * `Arc<CanisterState>`.
 */
export interface CertifiedStateView {
  /** Batch time in nanoseconds since 1970-01-01: `/time`, a LEB128-encoded natural. */
  readonly time: bigint;
  /** `/request_status/<request_id>/...` */
  readonly requestStatus: Iterable<RequestStatusRecord>;
  /** `/canister/<canister_id>/...` */
  readonly canisters: Iterable<CanisterCertifiedState>;
  /** `/subnet/<subnet_id>/...` and `/canister_ranges/<subnet_id>/...` */
  readonly subnets: Iterable<SubnetCertifiedState>;
  /** `/api_boundary_nodes/<node_id>/...`; the subtree is empty when omitted. */
  readonly apiBoundaryNodes?: Iterable<ApiBoundaryNodeRecord>;
  /**
   * `/streams/<subnet_id>/{header,messages/<index>}`: this subnet's streams to other subnets,
   * which they induct from certified slices (XNet). No `streams` label when omitted.
   */
  readonly streams?: Iterable<StreamCertifiedState>;
}

/** One stream to another subnet, as certified. */
export interface StreamCertifiedState {
  /** The receiving subnet. */
  readonly subnetId: Uint8Array;
  /** `header`: the stream's begin, end and signals end (see `encodeStreamHeader`). */
  readonly header: Uint8Array;
  /**
   * `messages/<index>` (the index as 8 bytes big-endian), from the stream's begin to its end.
   * Records are kept from round to round while a message stays in the stream.
   */
  readonly messages: readonly StreamMessageRecord[];
}

export interface StreamMessageRecord {
  readonly index: bigint;
  /** The message as the sending subnet encodes it. */
  readonly value: Uint8Array;
}

/** Spec "Overview of canister calling": the certified status of an update call. */
export type RequestStatusKind = 'received' | 'processing' | 'replied' | 'rejected' | 'done';

/** `/request_status/<request_id>`; which optional fields must be set depends on `status`. */
export interface RequestStatusRecord {
  /** The 32-byte request id (representation-independent hash of the request). */
  readonly requestId: Uint8Array;
  readonly status: RequestStatusKind;
  /** Required when `status` is `replied`: `/reply` (blob). */
  readonly reply?: Uint8Array;
  /** Required when `status` is `rejected`: `/reject_code` (natural). */
  readonly rejectCode?: number;
  /** Required when `status` is `rejected`: `/reject_message` (text). */
  readonly rejectMessage?: string;
  /** Optional when `status` is `rejected`: `/error_code` (text, e.g. `IC0503`). */
  readonly errorCode?: string;
}

/** A custom section `icp:public <name>` or `icp:private <name>` of the installed module. */
export interface CanisterMetadataSection {
  readonly name: string;
  readonly visibility: 'public' | 'private';
  readonly content: Uint8Array;
}

/**
 * `/canister/<canister_id>/...`. A canister without `moduleHash` is empty: like the IC, its
 * subtree then holds only `controllers` (no certified data, module hash or metadata).
 */
export interface CanisterCertifiedState {
  readonly canisterId: Uint8Array;
  /** The controllers' principals; encoded as `#6.55799([* bytes])` in `/controllers`. */
  readonly controllers: readonly Uint8Array[];
  /** `/certified_data` (at most 32 bytes; empty by default). */
  readonly certifiedData: Uint8Array;
  /** SHA-256 of the installed module: `/module_hash`. Absent iff the canister is empty. */
  readonly moduleHash?: Uint8Array;
  /**
   * `/metadata/<name>`: both public and private sections are in the tree; restricting who may
   * read private ones is the HTTP layer's concern (spec "Request: Read state").
   */
  readonly metadata?: Iterable<CanisterMetadataSection>;
}

/** A closed interval `[start, end]` of principals (canister ids), compared lexicographically. */
export type CanisterRange = readonly [start: Uint8Array, end: Uint8Array];

/** Subnet types as the IC names them in `/subnet/<subnet_id>/type`. */
export type SubnetType = 'application' | 'system' | 'verified_application';

/** Spec "Subnet information": `/subnet/<subnet_id>/metrics`, a CBOR map. */
export interface SubnetMetrics {
  readonly numCanisters: bigint;
  readonly canisterStateBytes: bigint;
  /** Up to 128 bits; encoded as `{ low, high? }` 64-bit halves as the spec prescribes. */
  readonly consumedCyclesTotal: bigint;
  readonly updateTransactionsTotal: bigint;
}

export interface NodePublicKeyRecord {
  readonly nodeId: Uint8Array;
  /** DER-encoded Ed25519 public key (RFC 8410). */
  readonly publicKey: Uint8Array;
}

export interface SubnetCertifiedState {
  readonly subnetId: Uint8Array;
  /** DER-encoded BLS12-381 G2 public key (see `publicKeyToDer`): `/public_key`. */
  readonly publicKey: Uint8Array;
  /**
   * Canister ranges assigned to the subnet: `/subnet/<id>/canister_ranges` (one CBOR blob) and
   * the sharded `/canister_ranges/<id>/<lowest canister id of shard>` subtree.
   */
  readonly canisterRanges: readonly CanisterRange[];
  /** `/node/<node_id>/public_key`; the IC only lists the nodes of its own subnet. */
  readonly nodes?: Iterable<NodePublicKeyRecord>;
  /** `/metrics`; the IC only certifies them for its own subnet. */
  readonly metrics?: SubnetMetrics;
  /** `/type` (certified by the IC since certification version 25; agents ignore it). */
  readonly subnetType?: SubnetType;
}

export interface ApiBoundaryNodeRecord {
  readonly nodeId: Uint8Array;
  readonly domain: string;
  readonly ipv4Address?: string;
  readonly ipv6Address: string;
}

// ---------------------------------------------------------------------------------------------
// Threshold BLS key material
// ---------------------------------------------------------------------------------------------

/** A source of cryptographically secure random bytes (used only by the dealer). */
export type RandomSource = (length: number) => Uint8Array;

/** One replica's share of a threshold key. */
export interface KeyShare {
  /** The Shamir evaluation point x = 1..n (the replica's position in the subnet, 1-based). */
  readonly index: number;
  /** The secret share f(index), a scalar of Fr as 32 big-endian bytes. */
  readonly secret: Uint8Array;
  /** f(index)·G2, compressed (96 bytes): verifies this replica's signature shares. */
  readonly publicShare: Uint8Array;
}

/** Output of the trusted dealer. */
export interface DealtKeys {
  /** The threshold public key f(0)·G2, compressed (96 bytes, not DER). */
  readonly publicKey: Uint8Array;
  readonly threshold: number;
  readonly shares: readonly KeyShare[];
}

/** A signature share by the replica holding share `index` (48-byte compressed G1 point). */
export interface SignatureShare {
  readonly index: number;
  readonly signature: Uint8Array;
}

/**
 * Produces full (combined) BLS signatures under `publicKey`. Local implementations hold the
 * whole key or enough shares; a distributed one gathers shares from peer replicas.
 */
export interface ThresholdSigner {
  /** Raw compressed G2 public key (96 bytes). */
  readonly publicKey: Uint8Array;
  sign(message: Uint8Array): Uint8Array;
}

// ---------------------------------------------------------------------------------------------
// Certificates and delegations
// ---------------------------------------------------------------------------------------------

/** Spec "Delegation": `{ subnet_id, certificate }`, the certificate as CBOR bytes. */
export interface CertificateDelegation {
  readonly subnetId: Uint8Array;
  readonly certificate: Uint8Array;
}

/** A decoded certificate (spec "Certificate"). */
export interface DecodedCertificate {
  readonly tree: HashTree;
  readonly signature: Uint8Array;
  readonly delegation?: CertificateDelegation;
}

/**
 * Which canister ranges a delegation reveals, as the IC chooses per endpoint:
 * - `flat`: `/subnet/<id>/canister_ranges` (call v3, read_state v2);
 * - `tree`: only the `/canister_ranges/<id>/<shard>` leaf that may contain `canisterId`
 *   (call v4, read_state v3, query v3);
 * - `none`: neither (subnet read_state).
 */
export type DelegationFormat =
  | { readonly kind: 'flat' }
  | { readonly kind: 'tree'; readonly canisterId: Uint8Array }
  | { readonly kind: 'none' };

/** Anything that hands out delegations for a subnet (e.g. `RootAuthority`). */
export interface DelegationSource {
  delegate(subnetId: Uint8Array, format: DelegationFormat): CertificateDelegation;
}

/** A state tree whose root hash has been signed: the unit the HTTP layer serves from. */
export interface CertifiedState {
  readonly tree: HashTree;
  readonly rootHash: Uint8Array;
  readonly signature: Uint8Array;
}

/** For whom a certificate is checked, as in agent-js: a canister (range check) or a subnet. */
export type CertificateTarget =
  | { readonly canisterId: Uint8Array }
  | { readonly subnetId: Uint8Array };
