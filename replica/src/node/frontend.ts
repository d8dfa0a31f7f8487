// The execution side of the HTTP interface for one replica process (`ReplicaFrontend`): update
// calls go into the block source, queries run on the latest certified state, read_state and
// synchronous calls are answered with certificates of that state.

import { Principal } from '@icp-sdk/core/principal';
import type { DelegationFormat, Path } from '../certification/index.js';
import { CanisterError, ErrorCode, formatErrorCode } from '../errors.js';
import {
  EffectiveIdMismatchError,
  ReplicaNotReadyError,
  ReplicaOverloadedError,
  type AuthenticatedCall,
  type AuthenticatedQuery,
  type MetadataVisibility,
  type QueryOutcome,
  type ReadStateContext,
  type ReplicaFrontend,
  type RequestStatusTarget,
} from '../http/index.js';
import { effectiveCanisterId, executeManagementQuery } from '../management/index.js';
import type { Replica } from '../replica.js';
import type { ReplicaMetrics } from '../telemetry/index.js';
import type { PublishedCanister, QueryService } from '../query/index.js';
import type { CertifiedSnapshot, StateCertification } from './certification.js';
import { filterManagementIngress } from './ingress-filter.js';
import { isTerminal, type IngressTracker } from './ingress.js';
import type { NodeSigningKey } from './keys.js';
import { QueryCache, queryCacheKey, type QueryCacheEnv, type QueryCacheOptions, type QueryCacheStats } from './query-cache.js';
import { hexOf } from '../bytes.js';

/** What the front end needs from the node that owns it. */
export interface NodeFrontendHost {
  readonly replica: Replica;
  /** Runs queries on the latest certified state (query workers). */
  readonly queries: QueryService;
  /** A canister as of the latest certified state (what the query cache keys on). */
  certifiedCanister(id: string): PublishedCanister | undefined;
  readonly certification: StateCertification;
  readonly ingress: IngressTracker;
  readonly nodeKey: NodeSigningKey;
  /** Signs with the node key off the main thread (query responses); else the key signs here. */
  readonly signatures?: { sign(message: Uint8Array): Promise<Uint8Array> };
  /** Ingress messages the pool may hold before calls are answered 429. */
  readonly maxPendingIngress: number;
  /** The latest certified state; undefined before the first round. */
  latest(): CertifiedSnapshot | undefined;
  /** Resolves when no round is executing (the replicated state is whole). */
  roundIdle(): Promise<void>;
  /** An ingress message entered the pool: make a block soon. */
  ingressSubmitted(): void;
  /** The node was closed or its round loop failed. */
  stopped(): boolean;
  /** Query cache settings; `false` turns the cache off. */
  readonly queryCache?: QueryCacheOptions | false;
  /** Query rate and latency by kind and outcome go here. */
  readonly metrics?: ReplicaMetrics;
}

const utf8 = new TextDecoder();
const isManagement = (id: Uint8Array) => id.length === 0;

/** Principal texts of recently queried canister ids (`toText` is a base32 encoding with a CRC). */
const canisterTexts = new Map<string, string>();
function canisterText(id: Uint8Array): string {
  const key = Buffer.from(id.buffer, id.byteOffset, id.byteLength).toString('latin1');
  let text = canisterTexts.get(key);
  if (text === undefined) {
    text = Principal.fromUint8Array(id).toText();
    if (canisterTexts.size >= 4096) canisterTexts.clear();
    canisterTexts.set(key, text);
  }
  return text;
}

export class NodeFrontend implements ReplicaFrontend {
  readonly #subnetId: Uint8Array;
  readonly #queryCache: QueryCache;
  readonly #nodeSigner: { nodeId: Uint8Array; sign(message: Uint8Array): Uint8Array | Promise<Uint8Array> };

  constructor(private readonly host: NodeFrontendHost) {
    this.#subnetId = host.certification.subnetId;
    this.#queryCache = new QueryCache(host.queryCache === false ? { capacityBytes: 0 } : host.queryCache);
    const pool = host.signatures;
    this.#nodeSigner = pool ? { nodeId: host.nodeKey.nodeId, sign: (message) => pool.sign(message) } : host.nodeKey;
  }

  /** Hits, misses and canister query executions of the query cache (a snapshot). */
  get queryCacheStats(): QueryCacheStats {
    return this.#queryCache.stats;
  }

  /** The node certified a new state: cached query outcomes of older states are dropped. */
  onCertified(snapshot: CertifiedSnapshot): void {
    this.#queryCache.onCertified(snapshot.height, snapshot.time);
  }

  rootKey(): Uint8Array {
    return this.host.certification.rootKeyDer;
  }

  health(): 'healthy' | 'starting' {
    return this.host.latest() !== undefined && !this.host.stopped() ? 'healthy' : 'starting';
  }

  hostsCanister(canisterId: Uint8Array): boolean {
    try {
      return this.host.replica.state.inRange(Principal.fromUint8Array(canisterId));
    } catch {
      return false;
    }
  }

  subnetId(): Uint8Array {
    return this.#subnetId;
  }

  certifiedHeight(): bigint | undefined {
    return this.host.latest()?.height;
  }

  nodeSigner(): { nodeId: Uint8Array; sign(message: Uint8Array): Uint8Array | Promise<Uint8Array> } {
    return this.#nodeSigner;
  }

  async submitCall(call: AuthenticatedCall): Promise<void> {
    if (this.host.stopped()) throw new ReplicaNotReadyError('The replica is shutting down.');
    const id = hexOf(call.requestId);
    const { replica, ingress } = this.host;
    // A request id names one message: a resubmission must never execute it again.
    if (ingress.get(id) !== undefined || replica.ingressStatus(id) !== undefined) return;
    if (replica.blocks.pending >= this.host.maxPendingIngress) throw new ReplicaOverloadedError();
    // The replicated state must be whole for inspect_message and the ingress filter.
    await this.host.roundIdle();
    if (ingress.get(id) !== undefined || replica.ingressStatus(id) !== undefined) return;

    const about = isManagement(call.canisterId) ? filterManagementIngress(replica.state, call) : undefined;
    const target: RequestStatusTarget = { canisterId: call.canisterId };
    if (call.effectiveSubnetId !== undefined) target.effectiveSubnetId = call.effectiveSubnetId;
    else target.effectiveCanisterId = call.effectiveCanisterId;
    // Tracked before it is submitted, so a concurrent duplicate finds it.
    ingress.add(id, { sender: call.sender, target, expiry: call.ingressExpiry });
    try {
      await replica.submit({
        messageId: id,
        sender: Principal.fromUint8Array(call.sender),
        receiver: Principal.fromUint8Array(call.canisterId),
        method: call.methodName,
        arg: call.arg,
        ...(about ? { effectiveCanisterId: about } : {}),
        ...(call.traceparent ? { traceparent: call.traceparent } : {}),
        ...(call.senderInfo ? { callerInfo: { data: call.senderInfo.info, signer: Principal.fromUint8Array(call.senderInfo.signer) } } : {}),
      });
    } catch (e) {
      ingress.delete(id);
      throw e;
    }
    this.host.ingressSubmitted();
  }

  async awaitCertifiedStatus(requestId: Uint8Array, timeoutMs: number): Promise<Uint8Array | undefined> {
    const id = hexOf(requestId);
    let snapshot = this.host.latest();
    if (!isTerminal(snapshot, id)) snapshot = await this.host.ingress.wait(id, timeoutMs);
    if (snapshot === undefined) return undefined;
    const target = this.host.ingress.get(id)?.target;
    // The front end does not learn whether the call came in at v3 (the IC answers with the flat
    // canister ranges) or v4 (the shard): the flat form is the one every agent reads.
    const format: DelegationFormat = target?.effectiveSubnetId !== undefined ? { kind: 'none' } : { kind: 'flat' };
    return this.host.certification.certificate(snapshot, [['request_status', requestId]], format);
  }

  /**
   * Canister ranges in a read_state delegation as the IC serves them: the shard of the effective
   * canister at v3, the flat list at v2, none at subnet endpoints.
   */
  #readStateFormat(ctx: ReadStateContext): DelegationFormat {
    if (ctx.effectiveCanisterId === undefined) return { kind: 'none' };
    return ctx.apiVersion === 2 ? { kind: 'flat' } : { kind: 'tree', canisterId: ctx.effectiveCanisterId };
  }

  async query(q: AuthenticatedQuery): Promise<QueryOutcome> {
    const metrics = this.host.metrics;
    if (metrics === undefined) return this.#query(q);
    const started = performance.now(); // wall-clock-ok: query latency metric only
    const outcome = await this.#query(q);
    const composite = this.host.certifiedCanister(canisterText(q.canisterId))?.compositeQueries.includes(q.methodName) ?? false;
    metrics.recordQuery({
      kind: composite ? 'composite_query' : 'query',
      outcome: outcome.status === 'replied' ? 'replied' : TRAPS.has(outcome.errorCode) ? 'trapped' : 'rejected',
      seconds: (performance.now() - started) / 1000, // wall-clock-ok
    });
    return outcome;
  }

  async #query(q: AuthenticatedQuery): Promise<QueryOutcome> {
    if (q.effectiveSubnetId !== undefined) {
      return reject(new CanisterError(ErrorCode.CanisterMethodNotFound, `The subnet query ${q.methodName} is not supported by this replica`));
    }
    if (isManagement(q.canisterId)) {
      // fetch_canister_logs reads the logs of the live state: it must be whole.
      await this.host.roundIdle();
      return this.#managementQuery(q, Principal.fromUint8Array(q.sender));
    }
    // Canister queries never wait for a round: they run on the latest certified state, which the
    // query service received in the same turn as `latest()` changed.
    const snapshot = this.host.latest();
    if (snapshot === undefined) throw new CanisterError(ErrorCode.CertifiedStateUnavailable, 'No certified state yet');
    const canisterId = canisterText(q.canisterId);
    const canister = this.host.certifiedCanister(canisterId);
    const env: QueryCacheEnv | undefined = canister && {
      height: snapshot.height,
      time: snapshot.time,
      canisterVersion: canister.version,
      balance: canister.balance,
      status: canister.status,
    };
    const key = env && this.#queryCache.capacityBytes > 0 ? queryCacheKey(q.canisterId, q.methodName, q.arg, q.sender, q.senderInfo) : undefined;
    if (key !== undefined && env !== undefined) {
      const cached = this.#queryCache.get(key, env);
      if (cached !== undefined) return cached;
    }
    const certificate = this.host.certification.dataCertificate(snapshot, q.canisterId);
    if (canister) this.#queryCache.countExecution();
    const r = await this.host.queries.execute({
      canisterId, method: q.methodName, arg: q.arg, caller: q.sender,
      ...(certificate ? { certificate } : {}),
      ...(q.senderInfo ? { callerInfo: { data: q.senderInfo.info, signer: q.senderInfo.signer } } : {}),
    });
    const outcome: QueryOutcome = r.status === 'replied'
      ? { status: 'replied', reply: r.reply }
      : { status: 'rejected', rejectCode: r.code, rejectMessage: r.message, errorCode: r.errorCode };
    if (key !== undefined && env !== undefined) this.#queryCache.put(key, env, outcome);
    return outcome;
  }

  /**
   * Queries to `aaaaa-aa` (`fetch_canister_logs`): the effective canister id must be the canister
   * the argument names, as for management calls. Never cached: they read no canister code.
   */
  #managementQuery(q: AuthenticatedQuery, sender: Principal): QueryOutcome {
    const about = effectiveCanisterId(q.methodName, q.arg);
    if (about !== undefined && hexOf(about.toUint8Array()) !== hexOf(q.effectiveCanisterId)) {
      throw new EffectiveIdMismatchError(
        `Specified CanisterId ${about.toText()} does not match effective canister id in URL ${Principal.fromUint8Array(q.effectiveCanisterId).toText()}`,
      );
    }
    const r = executeManagementQuery(this.host.replica.state, q.methodName, q.arg, sender);
    return r.status === 'replied' ? { status: 'replied', reply: r.reply } : reject(r.error);
  }

  async readState(paths: Uint8Array[][], ctx: ReadStateContext): Promise<Uint8Array> {
    const snapshot = this.host.latest();
    if (snapshot === undefined) throw new CanisterError(ErrorCode.CertifiedStateUnavailable, 'No certified state yet');
    return this.host.certification.certificate(snapshot, paths.flatMap((p) => this.#expand(p, ctx)), this.#readStateFormat(ctx));
  }

  /**
   * `/subnet` and `/subnet/<id>` reveal what the spec lets this endpoint see: a non-root subnet's
   * `canister_ranges` only at v2 endpoints (at v3 the root's delegation carries them), `metrics`
   * only at its own subnet endpoint. A root subnet's certificates have no delegation: its ranges
   * are revealed at every version, as agents check a canister against them in the certificate.
   */
  #expand(path: Uint8Array[], ctx: ReadStateContext): Path[] {
    if (path.length === 0 || utf8.decode(path[0]) !== 'subnet' || path.length > 2) return [path];
    if (path.length === 2 && hexOf(path[1]!) !== hexOf(this.#subnetId)) return [path];
    const base = ['subnet', this.#subnetId];
    const out: Path[] = [
      [...base, 'public_key'],
      [...base, 'node'],
      [...base, 'type'],
    ];
    if (ctx.apiVersion === 2 || this.host.certification.isRoot) out.push([...base, 'canister_ranges']);
    if (ctx.effectiveSubnetId !== undefined && hexOf(ctx.effectiveSubnetId) === hexOf(this.#subnetId)) out.push([...base, 'metrics']);
    return out;
  }

  requestStatusSender(requestId: Uint8Array): Uint8Array | undefined {
    const id = hexOf(requestId);
    return this.host.ingress.get(id)?.sender ?? this.host.replica.ingressStatus(id)?.sender.toUint8Array();
  }

  requestStatusTarget(requestId: Uint8Array): RequestStatusTarget | undefined {
    return this.host.ingress.get(hexOf(requestId))?.target;
  }

  canisterControllers(canisterId: Uint8Array): Uint8Array[] | undefined {
    const record = this.host.latest()?.canisters.get(hexOf(canisterId));
    return record ? [...record.controllers] : undefined;
  }

  canisterMetadataVisibility(canisterId: Uint8Array, name: string): MetadataVisibility | undefined {
    const record = this.host.latest()?.canisters.get(hexOf(canisterId));
    for (const section of record?.metadata ?? []) if (section.name === name) return section.visibility;
    return undefined;
  }
}

/** Error codes of a query whose canister trapped (IC0502 trapped, IC0503 called trap). */
const TRAPS: ReadonlySet<string> = new Set([ErrorCode.CanisterTrapped, ErrorCode.CanisterCalledTrap].map(formatErrorCode));

function reject(e: CanisterError): QueryOutcome {
  return { status: 'rejected', rejectCode: e.rejectCode, rejectMessage: e.message, errorCode: e.errorCode };
}
