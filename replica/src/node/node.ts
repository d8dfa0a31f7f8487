// One replica process on the embedded default: a `Replica`, its 1-of-1 subnet key, a root key
// that delegates to the subnet (clients trust one root key, as on the IC), an Ed25519 node key
// for query signatures, the HTTP interface, and the round loop:
//
//   every round:  execute block ─► certify state ─► resolve synchronous calls
//
// Queries run on query workers against their copy of the latest certified state, concurrently
// with rounds; read_state is answered from the latest certified state.

import { join } from 'node:path';
import { Principal } from '@icp-sdk/core/principal';
import { SecretKeySigner, type CanisterRange, type SubnetMetrics } from '../certification/index.js';
import { Checkpointer, FsCheckpointStore, PersistentModuleCache, executeRound, restoreInto, type CheckpointStore } from '../checkpoint/index.js';
import { FileBlockLog, LocalBlockMaker, systemClock, type Clock } from '../consensus/index.js';
import { randomTape, randomTapeMessage } from '../randomness/index.js';
import { SPAN } from '../telemetry/attributes.js';
import type { ReplicaMetrics } from '../telemetry/metrics.js';
import type { OpenRound, RoundTracer } from '../telemetry/tracing.js';
import { stateHash } from '../state/serialize.js';
import { bytesToHex } from '@noble/hashes/utils.js';
import { createHttpServer, SignaturePool, type HttpServerOptions, type ReplicaHttpServer } from '../http/index.js';
import { Replica, defaultReplicaConfig, type ReplicaConfig } from '../replica.js';
import { canisterIdFromIndex } from '../state/index.js';
import { scheduleFor } from '../cycles/index.js';
import { createQueryService, DEFAULT_QUERY_LIMITS, QueryStatePublisher, type QueryLimits, type QueryService } from '../query/index.js';
import { StateCertification, type CertifiedSnapshot } from './certification.js';
import { NodeFrontend } from './frontend.js';
import type { QueryCacheOptions } from './query-cache.js';
import { IngressTracker } from './ingress.js';
import { generateNodeKeys, loadOrCreateNodeKeys, NodeSigningKey, subnetIdentity, type NodeKeys } from './keys.js';
import { RoundLoop, type RoundOutcome } from './round-loop.js';
import { SigningThread } from './signer-thread.js';
import { DEFAULT_SIGNATURE_THREADS } from './defaults.js';
import { checkRegistry, XNetLink, type NodeXNetOptions } from './xnet-link.js';

/** Structured logging as pino does it (`logger.info({ fields }, 'message')`). */
export interface NodeLogger {
  debug(fields: object, message: string): void;
  info(fields: object, message: string): void;
  warn(fields: object, message: string): void;
  error(fields: object, message: string): void;
}

const silent: NodeLogger = { debug() {}, info() {}, warn() {}, error() {} };
/** Canister log records are bytes; the logger gets them as text (invalid UTF-8 replaced). */
const logText = new TextDecoder();

export interface NodeOptions {
  /** HTTP port; 0 picks a free one. Default 4943, the port local IC tooling expects. */
  readonly port?: number;
  /** Interface to listen on. Default 127.0.0.1 (loopback only). */
  readonly host?: string;
  /** Keeps `keys.json` here so the root key survives restarts. Without it keys live in memory only. */
  readonly dataDir?: string;
  /** Explicit key material (tests); takes precedence over `dataDir`. */
  readonly keys?: NodeKeys;
  /** Pause between rounds when there is no work, in ms. Default 200. */
  readonly roundIntervalMs?: number;
  /** Ingress messages waiting for a block before calls are answered 429. Default 10 000. */
  readonly maxPendingIngress?: number;
  /** Replica configuration; the subnet id and root key come from the node's keys. */
  readonly replica?: Partial<Omit<ReplicaConfig, 'subnetId' | 'rootKey'>>;
  /** Source of block time; the system clock by default. */
  readonly clock?: Clock;
  readonly http?: HttpServerOptions;
  readonly logger?: NodeLogger;
  /** A round failed (a broken replica invariant): the loop has stopped. Default: log and rethrow. */
  readonly onFatal?: (error: unknown) => void;
  /**
   * Where checkpoints go. Default with `dataDir`: `<dataDir>/checkpoints` on disk; an
   * S3CheckpointStore puts them in MinIO. Without either the state lives in memory only.
   */
  readonly checkpointStore?: CheckpointStore;
  /** Rounds between checkpoints (IC default 500). */
  readonly checkpointInterval?: bigint;
  /** A trace per round (phases as child spans); from `setupTelemetry`. Off: no-op. */
  readonly tracer?: RoundTracer;
  readonly metrics?: ReplicaMetrics;
  /** The query cache (default on, 200 MiB); `false` turns it off. */
  readonly queryCache?: QueryCacheOptions | false;
  /**
   * Whether this subnet is the root of trust, as the only subnet of a local network is (dfx's
   * replica, PocketIC): the root key is the subnet's key and certificates carry no delegation.
   * Default true. `false`: a separate root key (standing in for the NNS) delegates to the subnet,
   * as on an application subnet of the IC.
   */
  readonly rootSubnet?: boolean;
  /** Query worker threads (default 1); 0 runs queries on the main thread (still on the certified state). */
  readonly queryWorkers?: number;
  /**
   * Threads checking request signatures and signing query responses (default one per core but
   * the main thread's, at least one); 0 does it on the main thread, which then spends most of an
   * authenticated query's time there.
   */
  readonly signatureThreads?: number;
  /** Limits of queries and composite query call graphs (IC defaults). */
  readonly queryLimits?: Partial<QueryLimits>;
  /**
   * The other subnets of the network: the registry (which must hold this node's subnet, with its
   * canister range and key) and the transport their certified streams travel over. Absent: the
   * node's subnet is alone and calls to canisters outside it are rejected.
   */
  readonly xnet?: NodeXNetOptions;
}

/** Set by `Node.start` when the node persists its state. */
interface Persistence {
  readonly blocks: FileBlockLog;
  readonly modules: PersistentModuleCache;
  readonly store: CheckpointStore;
}

export const DEFAULT_PORT = 4943;
export const DEFAULT_ROUND_INTERVAL_MS = 200;
export const DEFAULT_MAX_PENDING_INGRESS = 10_000;
export const DEFAULT_QUERY_WORKERS = 1;
export { DEFAULT_SIGNATURE_THREADS, DEFAULT_WORKERS } from './defaults.js';

/** Canister ids of management calls (`aaaaa-aa`): agents use it as effective canister id of creations. */
const MANAGEMENT_RANGE: CanisterRange = [new Uint8Array(0), new Uint8Array(0)];

/** The IC's query limits, with the per-query instruction limit of the replica's configuration. */
function queryLimitsOf(config: ReplicaConfig, overrides: Partial<QueryLimits> = {}): QueryLimits {
  return { ...DEFAULT_QUERY_LIMITS, instructionsPerQuery: config.execution.instructions.query, ...overrides };
}

export class Node {
  readonly replica: Replica;
  readonly certification: StateCertification;
  readonly ingress = new IngressTracker();
  readonly nodeKey: NodeSigningKey;
  readonly frontend: NodeFrontend;
  /** The subnet's id (self-authenticating id of its public key, as the IC derives subnet ids). */
  readonly subnetId: Principal;
  readonly nodeId: Principal;
  readonly maxPendingIngress: number;
  readonly queries: QueryService;
  readonly #queryState: QueryStatePublisher;
  /** Signs state roots and random tapes off the main thread. */
  readonly #signing: SigningThread;
  /** Checks request signatures and signs query responses off the main thread. */
  readonly #signatures: SignaturePool;
  readonly #http: ReplicaHttpServer;
  readonly #loop: RoundLoop;
  readonly #clock: Clock;
  readonly #logger: NodeLogger;
  readonly #options: NodeOptions;
  #latest: CertifiedSnapshot | undefined;
  #messagesExecuted = 0n;
  #address: { host: string; port: number } | undefined;
  #closing: Promise<void> | undefined;
  readonly #persistence: Persistence | undefined;
  /** Height and state hash the node restored to at start (persistent nodes only). */
  restored: { readonly height: bigint; readonly stateHash: Uint8Array } | undefined;
  #checkpointer: Checkpointer | undefined;
  /** The checkpoint being written in the background, settled (never rejected) once it is done. */
  #checkpointWrite: Promise<void> = Promise.resolve();
  /** Per canister (id text): the next log record index not yet written to the node's logger. */
  #logCursors: Map<string, bigint> | undefined;
  /** Per-category cycles burned by the live canisters at the last round (for metric deltas). */
  #burnedTotals = new Map<string, bigint>();
  /** Streams to and from the other subnets, with `xnet`. */
  readonly #xnet: XNetLink | undefined;
  /** Builds a node without starting it; see `Node.start`. */
  constructor(keys: NodeKeys, options: NodeOptions = {}, persistence?: Persistence) {
    this.#options = options;
    this.#clock = options.clock ?? systemClock;
    this.#logger = options.logger ?? silent;
    this.maxPendingIngress = options.maxPendingIngress ?? DEFAULT_MAX_PENDING_INGRESS;

    const subnet = subnetIdentity(keys);
    const subnetIdBytes = subnet.subnetId;
    this.subnetId = Principal.fromUint8Array(subnetIdBytes);
    const base = defaultReplicaConfig(options.replica);
    const ranges: CanisterRange[] = [
      [canisterIdFromIndex(base.canisterRange.start).toUint8Array(), canisterIdFromIndex(base.canisterRange.end).toUint8Array()],
    ];
    // Before any thread starts: a misconfigured node is refused with nothing left running.
    if (options.xnet) checkRegistry(options.xnet.registry, this.subnetId, subnet.publicKeyDer, ranges);

    const subnetSigner = new SecretKeySigner(keys.subnetSecret);
    this.#signing = new SigningThread(subnetSigner, keys.subnetSecret);
    this.nodeKey = new NodeSigningKey(keys.nodeSeed);
    this.nodeId = Principal.fromUint8Array(this.nodeKey.nodeId);
    this.#signatures = new SignaturePool({ threads: options.signatureThreads ?? DEFAULT_SIGNATURE_THREADS, signingSeed: keys.nodeSeed });

    this.certification = new StateCertification({
      subnetSigner,
      ...(options.rootSubnet === false ? { rootSigner: new SecretKeySigner(keys.rootSecret), rootRoutedRanges: [MANAGEMENT_RANGE] } : {}),
      subnetId: subnetIdBytes,
      canisterRanges: ranges,
      nodes: [{ nodeId: this.nodeKey.nodeId, publicKey: this.nodeKey.publicKeyDer }],
      clock: this.#clock,
    });
    const config: ReplicaConfig = {
      ...base, subnetId: this.subnetId, rootKey: this.certification.rootKeyDer, ...(options.xnet ? { registry: options.xnet.registry } : {}),
    };
    this.#persistence = persistence;
    this.replica = new Replica(
      config,
      persistence?.blocks ?? new LocalBlockMaker(this.#clock, config.scheduler.maxIngressPerBlock, (h) => this.#randomTape(h)),
      persistence?.modules,
      { tracer: options.tracer, metrics: options.metrics },
    );

    this.#queryState = new QueryStatePublisher(this.replica.env, { subnetId: subnetIdBytes, rootKey: () => config.rootKey });
    this.queries = createQueryService({
      workers: options.queryWorkers ?? DEFAULT_QUERY_WORKERS,
      fees: config.fees ?? scheduleFor(config.subnetSize),
      stableMemoryBytes: config.execution.stableMemoryBytes,
      limits: queryLimitsOf(config, options.queryLimits),
    });

    this.frontend = new NodeFrontend({
      replica: this.replica,
      queries: this.queries,
      certifiedCanister: (id) => this.#queryState.canister(id),
      certification: this.certification,
      ingress: this.ingress,
      nodeKey: this.nodeKey,
      signatures: this.#signatures,
      maxPendingIngress: this.maxPendingIngress,
      latest: () => this.#latest,
      roundIdle: () => this.#loop.idle(),
      ingressSubmitted: () => this.#loop.wake(),
      stopped: () => this.#closing !== undefined || this.#loop.stopped,
      ...(options.queryCache !== undefined ? { queryCache: options.queryCache } : {}),
      ...(options.metrics ? { metrics: options.metrics } : {}),
    });
    this.#http = createHttpServer(this.frontend, {
      rootSubnetId: this.certification.rootSubnetId,
      verifier: this.#signatures.verify,
      canisterVerifier: this.#signatures.verifyCanister,
      onInternalError: (error) => this.#logger.error({ err: error }, 'internal error answering a request'),
      ...options.http,
    });
    this.#loop = new RoundLoop(() => this.#round(), {
      intervalMs: options.roundIntervalMs ?? DEFAULT_ROUND_INTERVAL_MS,
      onFatal: options.onFatal ?? ((error) => this.#fatal(error)),
    });
    if (options.xnet) {
      this.#xnet = new XNetLink(options.xnet, {
        subnetId: this.subnetId, certification: this.certification, state: this.replica.state,
        latest: () => this.#latest, wake: () => this.#loop.wake(),
        // The signature check (two pairings) runs on the signing thread.
        verify: (key, message, signature) => this.#signing.verify(key, message, signature),
        logger: this.#logger, ...(options.tracer ? { tracer: options.tracer } : {}), ...(options.metrics ? { metrics: options.metrics } : {}),
      });
    }
  }

  /** Creates keys (or loads them from `dataDir`), certifies the genesis state and starts serving. */
  static async start(options: NodeOptions = {}): Promise<Node> {
    const keys = options.keys ?? (options.dataDir !== undefined ? await loadOrCreateNodeKeys(options.dataDir) : generateNodeKeys());
    let persistence: Persistence | undefined;
    let made: Node | undefined;
    const store = options.checkpointStore ?? (options.dataDir !== undefined ? await FsCheckpointStore.open(join(options.dataDir, 'checkpoints')) : undefined);
    if (store && options.dataDir !== undefined) {
      const subnetSigner = new SecretKeySigner(keys.subnetSecret);
      const blocks = await FileBlockLog.open(join(options.dataDir, 'blocks'), {
        clock: options.clock ?? systemClock,
        maxIngressPerBlock: options.replica?.scheduler?.maxIngressPerBlock,
        // Signed ahead on the node's signing thread once the node exists.
        randomTape: (h) => (made ? made.#randomTape(h) : randomTape(h, subnetSigner)),
      });
      persistence = { blocks, modules: new PersistentModuleCache(), store };
    }
    const node = (made = new Node(keys, options, persistence));
    if (persistence) {
      // Newest valid checkpoint, then every block after it: the state from before the restart.
      const restored = await restoreInto(node.replica, persistence.modules, {
        store: persistence.store,
        checkpointer: options.checkpointInterval !== undefined ? { interval: options.checkpointInterval } : undefined,
      });
      node.#checkpointer = restored.checkpointer;
      node.restored = { height: node.replica.state.height, stateHash: stateHash(node.replica.state) };
      node.#logger.info(
        { height: Number(node.restored.height), stateHash: bytesToHex(node.restored.stateHash), replayed: restored.replayed, requeued: restored.requeued },
        'state restored',
      );
    }
    await node.listen();
    return node;
  }

  /** Certifies the first round, then listens and starts the round loop. */
  async listen(): Promise<{ host: string; port: number }> {
    if (this.#address) return this.#address;
    this.#loop.start();
    await this.#loop.runNow();
    this.#address = await this.#http.listen(this.#options.port ?? DEFAULT_PORT, this.#options.host ?? '127.0.0.1');
    this.#logger.info(
      { url: this.url, subnet: this.subnetId.toText(), node: this.nodeId.toText(), rootKey: Buffer.from(this.rootKey).toString('hex') },
      'replica listening',
    );
    return this.#address;
  }

  get url(): string {
    if (!this.#address) throw new Error('the node is not listening yet');
    const host = this.#address.host.includes(':') ? `[${this.#address.host}]` : this.#address.host;
    return `http://${host}:${this.#address.port}`;
  }

  get port(): number {
    if (!this.#address) throw new Error('the node is not listening yet');
    return this.#address.port;
  }

  /** DER-encoded root public key: what clients trust (`/api/v2/status` root_key). */
  get rootKey(): Uint8Array {
    return this.certification.rootKeyDer;
  }

  get latest(): CertifiedSnapshot | undefined {
    return this.#latest;
  }

  /** Height of the latest certified state. */
  get height(): bigint {
    return this.#latest?.height ?? 0n;
  }

  /** Runs a round now (after the one in progress, if any). */
  round(): Promise<void> {
    return this.#loop.runNow();
  }

  /** Stops the round loop, answers waiting calls, closes the HTTP server. Idempotent. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      this.#xnet?.close();
      await this.#loop.stop();
      await this.#checkpointWrite;
      this.ingress.close();
      const server = this.#http.server;
      const force = setTimeout(() => server.closeAllConnections(), 1000);
      force.unref();
      try {
        if (this.#address) await this.#http.close();
      } finally {
        clearTimeout(force);
      }
      await this.replica.close();
      await this.queries.close();
      await this.#signing.close();
      await this.#signatures.close();
      await this.#persistence?.blocks.close();
    })();
    return this.#closing;
  }

  async #round(): Promise<RoundOutcome> {
    const { tracer, metrics } = this.#options;
    const started = performance.now(); // wall-clock-ok: round duration metric only
    const body = async (round?: OpenRound): Promise<RoundOutcome> => {
      // What canisters printed before this node's first round (restored state) is not news.
      if (this.#logCursors === undefined && this.#logger !== silent) this.#logCursors = this.#currentLogCursors();
      const xnet = this.#xnet ? await this.#xnet.pull() : [];
      // The block takes the random tape of the last round, signed ahead on the signing thread:
      // waiting for it here is cheaper than signing it again on this thread.
      await this.#signing.prepared(randomTapeMessage(this.replica.state.height));
      const block = this.replica.blocks.make(xnet);
      const { summary, written } = await executeRound(this.replica, this.#checkpointer, { block, tracer, metrics, background: true });
      this.#xnet?.recordRound(summary);
      if (written) this.#checkpointWrite = written.then(() => undefined, (e: unknown) => this.#checkpointFailed(e, summary.height));
      this.#messagesExecuted += BigInt(summary.messagesExecuted);
      const state = this.replica.state;
      // The state stays as it is until the signature is back: the round is not over before.
      const certify = () => this.certification.certifyWith(state, this.#metrics(), (message) => this.#signing.sign(message));
      const snapshot = await (tracer ? tracer.phase(SPAN.certify, certify) : certify());
      this.#latest = snapshot;
      // In the same turn as `#latest`: a query sees the state of the certificate it is given.
      if (this.queries.wantsWholeState) this.#queryState.reset();
      this.queries.publish(this.#queryState.build(state));
      this.frontend.onCertified(snapshot);
      this.ingress.onCertified(snapshot, this.#clock.now());
      this.#xnet?.announce();
      this.#emitCanisterLogs(summary.height);
      if (summary.messagesExecuted > 0) {
        this.#logger.debug({ height: Number(summary.height), messages: summary.messagesExecuted, instructions: String(summary.instructions) }, 'round');
      }
      const workLeft =
        summary.workLeft || this.replica.blocks.pending > 0 || state.pendingRawRand.length > 0 || state.pendingSubnetCalls.length > 0;
      round?.summarize({ instructions: summary.instructions, messages: summary.messagesExecuted, workLeft });
      metrics?.recordRound({ seconds: (performance.now() - started) / 1000, instructions: summary.instructions }); // wall-clock-ok
      if (metrics) this.#recordCyclesBurned(metrics);
      metrics?.setRoundEndGauges({
        pausedExecutions: summary.pausedExecutions,
        queues: {
          input: state.canisters().reduce((n, c) => n + c.inputQueue.length, 0),
          subnet: state.pendingSubnetCalls.length,
          ingress_pool: this.replica.blocks.pending,
        },
      });
      return { workLeft };
    };
    return tracer ? tracer.round(this.replica.state.height + 1n, body) : body();
  }

  /** The tape of round `height` (prepared on the signing thread); the next two are started. */
  #randomTape(height: bigint): Uint8Array {
    const tape = this.#signing.take(randomTapeMessage(height));
    this.#signing.prepare(randomTapeMessage(height + 1n));
    this.#signing.prepare(randomTapeMessage(height + 2n));
    return tape;
  }

  #currentLogCursors(): Map<string, bigint> {
    const cursors = new Map<string, bigint>();
    for (const c of this.replica.state.canisters()) cursors.set(c.idText, c.nextLogIdx);
    return cursors;
  }

  /**
   * The canister log records added since the last round (by `idx`), each as one structured record
   * `{ component: 'canister', canister_id, idx, round }` with the printed text as the message.
   */
  #emitCanisterLogs(height: bigint): void {
    const cursors = this.#logCursors;
    if (cursors === undefined) return;
    const seen = new Set<string>();
    const round = Number(height);
    for (const c of this.replica.state.canisters()) {
      const id = c.idText;
      seen.add(id);
      let next = cursors.get(id) ?? 0n;
      // Indices only grow; a smaller one means the log started over (a canister re-created).
      if (c.nextLogIdx < next) next = 0n;
      if (c.nextLogIdx === next) {
        cursors.set(id, next);
        continue;
      }
      const oldest = c.logs[0]?.idx ?? c.nextLogIdx;
      if (oldest > next) {
        // More was printed in one round than the canister's log keeps: the oldest are gone.
        this.#logger.warn({ component: 'canister', canister_id: id, round, dropped: Number(oldest - next) }, 'canister log records dropped before they were written');
      }
      for (const record of c.logs) {
        if (record.idx < next) continue;
        this.#logger.info({ component: 'canister', canister_id: id, idx: Number(record.idx), round }, logText.decode(record.content));
      }
      cursors.set(id, c.nextLogIdx);
    }
    for (const id of cursors.keys()) if (!seen.has(id)) cursors.delete(id);
  }

  /** Cycles burned this round, by category: the growth of the canisters' per-category totals. */
  #recordCyclesBurned(metrics: ReplicaMetrics): void {
    const totals = new Map<string, bigint>();
    for (const c of this.replica.state.canisters()) {
      for (const [category, amount] of c.cyclesBurned) totals.set(category, (totals.get(category) ?? 0n) + amount);
    }
    for (const [category, total] of [...totals].sort(([a], [b]) => (a < b ? -1 : 1))) {
      const delta = total - (this.#burnedTotals.get(category) ?? 0n);
      if (delta > 0n) metrics.recordCyclesBurned(category, delta);
    }
    this.#burnedTotals = totals;
  }

  #metrics(): SubnetMetrics {
    const state = this.replica.state;
    let bytes = 0n;
    for (const c of state.canisters()) bytes += c.memoryUsage();
    return {
      numCanisters: BigInt(state.canisterCount),
      canisterStateBytes: bytes,
      consumedCyclesTotal: state.cyclesBurned,
      updateTransactionsTotal: this.#messagesExecuted,
    };
  }

  /**
   * A store that fails (MinIO down, a full disk) loses nothing: the block log keeps every block
   * since the last checkpoint that was written, a restart replays them, and the next checkpoint
   * due is written in full. Rounds and clients are not held up.
   */
  #checkpointFailed(error: unknown, height: bigint): void {
    this.#options.metrics?.recordCheckpointFailure();
    this.#logger.error(
      { err: error, height: Number(height) },
      'checkpoint failed: blocks since the last checkpoint are kept, the next one due is written in full',
    );
  }

  #fatal(error: unknown): void {
    this.#logger.error({ err: error }, 'round failed: the replica stopped executing');
    // A broken invariant of the replica: crash loudly rather than serve a state nobody certified.
    queueMicrotask(() => {
      throw error;
    });
  }
}
