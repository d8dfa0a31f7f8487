// Types of the HTTPS interface front end (interface spec, "HTTPS Interface") and the contract
// with the execution side (`ReplicaFrontend`), which the HTTP layer codes against.

import type { SignatureVerifier } from './auth.js';
import type { CanisterSignatureVerifier } from './canister-signature.js';

/** A decoded CBOR data item as the request decoder produces it (see cbor.ts). */
export type CborValue = bigint | Uint8Array | string | boolean | null | undefined | CborValue[] | CborMap;
/** CBOR maps of IC requests have text keys only; a `Map` keeps keys like `__proto__` harmless. */
export type CborMap = Map<string, CborValue>;

/** Principals travel as blobs of at most 29 bytes (requests.cddl `principal`). */
export type PrincipalBytes = Uint8Array;

/** The `sender_info` map of call and query content (spec, "Request: Call"). */
export interface SenderInfo {
  /** The sender information passed to the canister. */
  info: Uint8Array;
  /** The signing canister: must be the canister of the canister-signature `sender_pubkey`. */
  signer: PrincipalBytes;
  /** Canister signature over `\x0Eic-sender-info` · info. */
  sig: Uint8Array;
}

/**
 * An update call that passed envelope validation and authentication.
 * `submitCall` receives it; the request id is the representation-independent hash of the content.
 */
export interface AuthenticatedCall {
  requestId: Uint8Array;
  sender: PrincipalBytes;
  canisterId: PrincipalBytes;
  methodName: string;
  arg: Uint8Array;
  nonce?: Uint8Array;
  /** Nanoseconds since 1970-01-01. */
  ingressExpiry: bigint;
  /**
   * The effective canister id of the URL. For management canister calls this is whatever the
   * client chose; the frontend checks it against the argument (spec, "Effective canister id").
   * For `/api/v4/subnet/<id>/call` it is the management canister id (the empty blob).
   */
  effectiveCanisterId: PrincipalBytes;
  /**
   * Set only for `/api/v4/subnet/<effective_subnet_id>/call` (canister creation on that subnet)
   * and `/api/v3/subnet/<effective_subnet_id>/query` (`list_canisters` of that subnet).
   */
  effectiveSubnetId?: PrincipalBytes;
  /** W3C trace context of the HTTP request, carried into the message's execution. */
  traceparent?: string;
  /**
   * Spec `sender_info`, verified: the canister receives it as caller info (`ic0.msg_caller_info_*`).
   */
  senderInfo?: SenderInfo;
}

/** A query call that passed validation and authentication: a call's fields but the trace context. */
export type AuthenticatedQuery = Omit<AuthenticatedCall, 'traceparent'>;

export type QueryOutcome =
  | { status: 'replied'; reply: Uint8Array }
  | { status: 'rejected'; rejectCode: number; rejectMessage: string; errorCode: string };

/** What `readState` is told about the request beyond the paths. */
export interface ReadStateContext {
  sender: PrincipalBytes;
  /** Set for `/api/v{2,3}/canister/<effective_canister_id>/read_state`. */
  effectiveCanisterId?: PrincipalBytes;
  /**
   * Added: set for `/api/v{2,3}/subnet/<effective_subnet_id>/read_state`. The spec's pruning
   * rules for `/subnet/<id>/node` and `/subnet/<id>/metrics` depend on it.
   */
  effectiveSubnetId?: PrincipalBytes;
  /**
   * Added: the API version of the endpoint. `/subnet/<id>/canister_ranges` of a non-root subnet
   * is only revealed at v2 endpoints (spec, "Request: Read state").
   */
  apiVersion: 2 | 3;
}

/** Where an earlier call was sent, for `request_status` path authorization. */
export interface RequestStatusTarget {
  /** The `canister_id` of the call: must be in the read_state sender's delegation targets. */
  canisterId: PrincipalBytes;
  /** The effective canister id the call was submitted under (canister endpoints). */
  effectiveCanisterId?: PrincipalBytes;
  /** The effective subnet id the call was submitted under (subnet endpoints). */
  effectiveSubnetId?: PrincipalBytes;
}

/** Visibility of a canister's custom section `icp:public <name>` / `icp:private <name>`. */
export type MetadataVisibility = 'public' | 'private';

/**
 * The execution side as the HTTP layer sees it. Everything about replicated state, execution
 * and certification lives behind this interface.
 */
export interface ReplicaFrontend {
  /** DER-encoded root public key (BLS12-381 G2), served in /api/v2/status. */
  rootKey(): Uint8Array;
  /** Health for status: 'healthy' once the replica certifies rounds. */
  health(): 'healthy' | 'starting';
  /**
   * Which canisters this subnet hosts: effective canister id routing (unknown → 404).
   * Meant as membership in the subnet's canister ranges, not existence of the canister.
   * Not asked for the management canister id, which agents use as the effective canister id
   * of calls like `create_canister`.
   */
  hostsCanister(canisterId: Uint8Array): boolean;
  /**
   * This subnet's id. With no NNS delegation in certificates, agent-js takes the subnet id to be
   * the self-authenticating principal of the root key (`Principal.selfAuthenticating(rootKey)`),
   * so that is what this should return for agents to find node keys.
   */
  subnetId(): Uint8Array;
  /** An authenticated update call; runs canister_inspect_message where applicable; resolves once the message is durably in the block source. Rejects with a CanisterError (IC code) if refused. */
  submitCall(call: AuthenticatedCall): Promise<void>;
  /** Waits until the request's status is terminal and certified; returns a CBOR certificate covering request_status/<id> and time, or undefined on timeout. */
  awaitCertifiedStatus(requestId: Uint8Array, timeoutMs: number): Promise<Uint8Array | undefined>;
  /** Non-replicated query on the latest certified state. */
  query(q: AuthenticatedQuery): Promise<QueryOutcome>;
  /**
   * A certificate (CBOR bytes) for the given paths, pruned; access checks on paths are done by
   * the HTTP layer before calling. The HTTP layer always adds `["time"]` to the paths (the
   * spec: the certificate always reveals /time).
   */
  readState(paths: Uint8Array[][], ctx: ReadStateContext): Promise<Uint8Array>;
  /** Who sent the request with this id, if the state tree knows it. */
  requestStatusSender(requestId: Uint8Array): Uint8Array | undefined;
  /**
   * Added: where the request with this id was sent, if known. The spec only lets the sender read
   * `/request_status/<id>` at the same effective canister (or subnet) id, and the IC checks the
   * call's canister against the reader's delegation targets.
   */
  requestStatusTarget(requestId: Uint8Array): RequestStatusTarget | undefined;
  /** Controllers of a canister, undefined if it does not exist. */
  canisterControllers(canisterId: Uint8Array): Uint8Array[] | undefined;
  /**
   * Added: visibility of the custom section `<name>` of the canister's module; undefined when
   * the canister does not exist, is empty or has no such section (then anyone may ask). Private
   * sections are only readable by controllers (spec, "Request: Read state").
   */
  canisterMetadataVisibility(canisterId: Uint8Array, name: string): MetadataVisibility | undefined;
  /** Signs query responses: the node's Ed25519 key (here or on another thread), node id. */
  nodeSigner(): { nodeId: Uint8Array; sign(message: Uint8Array): Uint8Array | Promise<Uint8Array> };
  /** Added, optional: the height of the latest certified state, served as `certified_height` in status. */
  certifiedHeight?(): bigint | undefined;
}

/** Options of `createHttpServer`; every field has a default fitting the IC mainnet. */
export interface HttpServerOptions {
  /**
   * Largest request body read, in bytes, enforced while the body streams in (413 beyond it).
   * Default max_ingress_bytes_per_message + 512 KiB: queries and read_state requests are not
   * bounded by the ingress limit on the IC, and a delegation chain can be sizeable.
   */
  maxBodyBytes?: number;
  /**
   * The subnet's max_ingress_bytes_per_message: largest call, counted as the IC does (the whole
   * signed request plus its 32-byte id). Default 2 MiB.
   */
  maxIngressBytesPerMessage?: number;
  /** MAX_INGRESS_TTL: how far in the future ingress_expiry may be. Default 5 minutes. */
  maxIngressTtlMs?: number;
  /** PERMITTED_DRIFT_AT_VALIDATOR: allowance for client clocks ahead of ours. Default 30 s. */
  permittedDriftMs?: number;
  /** How long a synchronous call (v3/v4) waits for its certified status before answering 202. Default 10 s. */
  syncCallTimeoutMs?: number;
  /** Requests served at once before answering 429. Default 1000. */
  maxConcurrentRequests?: number;
  /** Time to receive a whole request before node answers 408. Default 300 s, as the IC. */
  requestTimeoutMs?: number;
  /** Current time in ns since the epoch; the wall clock by default (the HTTP layer is outside replicated state). */
  now?: () => bigint;
  /** The root subnet's id for read_state rules; default the frontend's subnetId() (a single-subnet instance is its own root). */
  rootSubnetId?: Uint8Array;
  /** `impl_version` in /api/v2/status. */
  implVersion?: string;
  /**
   * Checks the signatures of requests (sender and delegations); default: on the HTTP thread.
   * The node passes its signature pool, so they are checked on other threads.
   */
  verifier?: SignatureVerifier;
  /** Checks canister signatures (BLS pairings); default: on the HTTP thread. The node passes its signature pool. */
  canisterVerifier?: CanisterSignatureVerifier;
  /** Called for requests that fail with 5xx, for logging; never affects the response. */
  onInternalError?: (error: unknown) => void;
}
