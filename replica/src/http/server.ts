// The HTTPS interface endpoints (interface spec, "HTTPS Interface") on node:http.
//
//   GET  /api/v2/status
//   POST /api/v2/canister/<ecid>/call              asynchronous call: 202, or 200 + reject body
//   POST /api/v3|v4/canister/<ecid>/call           synchronous call: 200 + certificate, or 202
//   POST /api/v4/subnet/<esid>/call                canister creation on that subnet
//   POST /api/v2|v3/canister/<ecid>/query          signed query response
//   POST /api/v3/subnet/<esid>/query               list_canisters of that subnet
//   POST /api/v2|v3/canister|subnet/<id>/read_state  certificate
//
// Every request ends in a response: handler failures are mapped to a status code and a text
// body naming the problem; nothing is thrown out of a handler.

import { traceparentFromHeaders } from '../telemetry/tracing.js';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Principal } from '@icp-sdk/core/principal';
import { CanisterError, ErrorCode } from '../errors.js';
import {
  authenticateWith,
  checkTargetAllowed,
  equalBytes,
  MAX_INGRESS_TTL_MS,
  PERMITTED_DRIFT_MS,
  principalText,
  verifyHere,
  type AuthenticatedScope,
  type SignatureVerifier,
} from './auth.js';
import { ClientGoneError, readBoundedBody } from './body.js';
import { encodeCbor } from './cbor.js';
import { decodeEnvelope, type CallContent, type Envelope, type QueryContent, type ReadStateContent } from './envelope.js';
import {
  EffectiveIdMismatchError,
  HttpInterfaceError,
  MalformedRequestError,
  MethodNotAllowedError,
  NoSuchEndpointError,
  NotHostedError,
  ReplicaNotReadyError,
  ReplicaOverloadedError,
  RequestTooLargeError,
  UnsupportedContentTypeError,
  UpdateNotPermittedError,
} from './errors.js';
import { authorizeReadStatePaths, type ReadStateEndpoint } from './read-state-paths.js';
import { encodeQueryResponse, queryResponseHash } from './query-response.js';
import { responseSignaturePayload } from './request-id.js';
import type { AuthenticatedCall, AuthenticatedQuery, HttpServerOptions, QueryOutcome, ReadStateContext, ReplicaFrontend } from './types.js';

/** Version of the interface spec this front end follows, reported in /api/v2/status. */
export const IC_API_VERSION = '0.18.0';

const MIB = 1024 * 1024;
/** The IC's default max_ingress_bytes_per_message. */
export const DEFAULT_MAX_INGRESS_BYTES_PER_MESSAGE = 2 * MIB;
/** Headroom of the body bound over the ingress limit, for queries and read_state requests (not bound by it on the IC). */
export const DEFAULT_ENVELOPE_ALLOWANCE_BYTES = MIB / 2;
/** The IC's default ingress_message_certificate_timeout_seconds for synchronous calls. */
export const DEFAULT_SYNC_CALL_TIMEOUT_MS = 10_000;

const MANAGEMENT_CANISTER_ID = new Uint8Array(0);
/** The spec, "Effective canister id": management methods callable through a subnet endpoint. */
const SUBNET_CALL_METHODS = new Set(['create_canister', 'provisional_create_canister_with_cycles']);
const SUBNET_QUERY_METHODS = new Set(['list_canisters']);

const CORS_HEADERS = {
  'access-control-allow-origin': '*',
} as const;
const CORS_PREFLIGHT_HEADERS = {
  ...CORS_HEADERS,
  'access-control-allow-methods': 'GET, POST',
  'access-control-allow-headers': 'Accept, Authorization, Content-Type, traceparent',
  'access-control-max-age': '7200',
} as const;

type Target = { kind: 'canister' | 'subnet'; id: Uint8Array; text: string };
type Route =
  | { op: 'status' }
  | { op: 'call'; version: 2 | 3 | 4; target: Target }
  | { op: 'query'; version: 2 | 3; target: Target }
  | { op: 'read_state'; version: 2 | 3; target: Target };

/** Which (version, target kind) pairs each operation has (spec, "HTTPS Interface"). */
const ENDPOINTS: Record<'call' | 'query' | 'read_state', Record<'canister' | 'subnet', number[]>> = {
  call: { canister: [2, 3, 4], subnet: [4] },
  query: { canister: [2, 3], subnet: [3] },
  read_state: { canister: [2, 3], subnet: [2, 3] },
};

const ROUTE_PATTERN = /^\/api\/v(\d+)\/(canister|subnet)\/([^/]+)\/(call|query|read_state)$/;

export interface ReplicaHttpServer {
  server: http.Server;
  /** Starts listening; resolves with the bound address (port 0 picks a free port). */
  listen(port: number, host?: string): Promise<{ port: number; host: string }>;
  /** Stops accepting connections and closes idle ones. */
  close(): Promise<void>;
}

interface Reply {
  status: number;
  body: Uint8Array | string;
  contentType?: string;
  closeConnection?: boolean;
}

const cbor = (value: unknown, status = 200): Reply => ({ status, body: encodeCbor(value), contentType: 'application/cbor' });
const empty = (status: number): Reply => ({ status, body: '' });

/**
 * Ids of recent URLs, by their text: decoding a principal's text (base32 and its CRC, checked by
 * encoding it again) is work every request to the same canister would repeat. Only ids that
 * decoded are kept; bounded.
 */
const urlIds = new Map<string, Uint8Array>();
const MAX_URL_IDS = 4096;

function urlId(text: string): Uint8Array {
  let id = urlIds.get(text);
  if (id !== undefined) return id;
  id = Principal.fromText(text).toUint8Array();
  if (urlIds.size >= MAX_URL_IDS) urlIds.clear();
  urlIds.set(text, id);
  return id;
}

function parseRoute(method: string, pathname: string): Route {
  if (pathname === '/api/v2/status') {
    if (method !== 'GET' && method !== 'HEAD') throw new MethodNotAllowedError(method, pathname, 'GET');
    return { op: 'status' };
  }
  const m = ROUTE_PATTERN.exec(pathname);
  if (!m) throw new NoSuchEndpointError(method, pathname);
  const version = Number(m[1]);
  const kind = m[2] as 'canister' | 'subnet';
  const op = m[4] as 'call' | 'query' | 'read_state';
  if (!ENDPOINTS[op][kind].includes(version)) throw new NoSuchEndpointError(method, pathname);
  if (method !== 'POST') throw new MethodNotAllowedError(method, pathname, 'POST');
  let text: string;
  let id: Uint8Array;
  try {
    text = decodeURIComponent(m[3]!);
    id = urlId(text);
  } catch (e) {
    throw new MalformedRequestError(
      'url',
      `invalid effective ${kind} id '${m[3]}': ${e instanceof Error ? e.message : String(e)}`,
    );
  }
  const target: Target = { kind, id, text };
  if (op === 'call') return { op, version: version as 2 | 3 | 4, target };
  return { op, version: version as 2 | 3, target };
}

function isCborContentType(header: string | undefined): boolean {
  if (header === undefined) return false;
  return header.split(';')[0]!.trim().toLowerCase() === 'application/cbor';
}

function isManagementCanister(id: Uint8Array): boolean {
  return id.length === 0;
}

/** What the frontend is given of an authenticated call or query. */
function authenticated(content: CallContent | QueryContent, requestId: Uint8Array, target: Target): AuthenticatedCall {
  const request: AuthenticatedCall = {
    requestId,
    sender: content.sender,
    canisterId: content.canisterId,
    methodName: content.methodName,
    arg: content.arg,
    ingressExpiry: content.ingressExpiry,
    effectiveCanisterId: target.kind === 'canister' ? target.id : MANAGEMENT_CANISTER_ID,
  };
  if (content.nonce !== undefined) request.nonce = content.nonce;
  if (content.senderInfo !== undefined) request.senderInfo = content.senderInfo;
  if (target.kind === 'subnet') request.effectiveSubnetId = target.id;
  return request;
}

/**
 * A reject decided before the message entered the block source (e.g. by inspect_message):
 * reported in the body, not in the certified state (spec, "Request: Asynchronous Call" and
 * "Request: Call").
 */
function rejectBody(e: CanisterError, sync: boolean): Reply {
  const base = { error_code: e.errorCode, reject_code: e.rejectCode, reject_message: e.message };
  return cbor(sync ? { status: 'non_replicated_rejection', ...base } : base);
}

export function createHttpServer(frontend: ReplicaFrontend, options: HttpServerOptions = {}): ReplicaHttpServer {
  const maxIngressBytes = options.maxIngressBytesPerMessage ?? DEFAULT_MAX_INGRESS_BYTES_PER_MESSAGE;
  const maxBodyBytes = options.maxBodyBytes ?? maxIngressBytes + DEFAULT_ENVELOPE_ALLOWANCE_BYTES;
  const syncCallTimeoutMs = options.syncCallTimeoutMs ?? DEFAULT_SYNC_CALL_TIMEOUT_MS;
  const maxConcurrent = options.maxConcurrentRequests ?? 1000;
  const now = options.now ?? (() => BigInt(Date.now()) * 1_000_000n);
  const authOptions = () => ({
    now: now(),
    maxIngressTtlMs: options.maxIngressTtlMs ?? MAX_INGRESS_TTL_MS,
    permittedDriftMs: options.permittedDriftMs ?? PERMITTED_DRIFT_MS,
    rootKey: frontend.rootKey(),
  });
  const verifier: SignatureVerifier = options.verifier ?? (async (checks) => verifyHere(checks));
  let inFlight = 0;

  function reportInternal(e: unknown): void {
    try {
      options.onInternalError?.(e);
    } catch {
      // Logging must not change the answer.
    }
  }

  function checkSubnet(target: Target): void {
    if (!equalBytes(target.id, frontend.subnetId())) {
      throw new NotHostedError(`Subnet ${target.text} is not served by this replica (subnet ${principalText(frontend.subnetId())}).`);
    }
  }

  /** Effective canister ids must be in this subnet's ranges; agents use aaaaa-aa for "any". */
  function checkHosted(target: Target): void {
    if (!isManagementCanister(target.id) && !frontend.hostsCanister(target.id)) {
      throw new NotHostedError(`Canister ${target.text} is not hosted by subnet ${principalText(frontend.subnetId())}.`);
    }
  }

  /** The spec, "Effective canister id" / "Effective subnet id", for calls and queries. */
  function checkEffectiveTarget(target: Target, content: CallContent | QueryContent, subnetMethods: Set<string>, endpoint: string): void {
    if (target.kind === 'canister') {
      if (!isManagementCanister(content.canisterId) && !equalBytes(content.canisterId, target.id)) {
        throw new EffectiveIdMismatchError(
          `Specified CanisterId ${principalText(content.canisterId)} does not match effective canister id in URL ${target.text}`,
        );
      }
      checkHosted(target);
      return;
    }
    checkSubnet(target);
    if (!isManagementCanister(content.canisterId) || !subnetMethods.has(content.methodName)) {
      throw new EffectiveIdMismatchError(
        `The subnet ${endpoint} endpoint only accepts ${[...subnetMethods].join('/')} of the management canister (aaaaa-aa), ` +
          `got canister_id=${principalText(content.canisterId)} method_name='${content.methodName}'`,
      );
    }
  }

  async function handleCall(route: Extract<Route, { op: 'call' }>, body: Uint8Array, headers: http.IncomingHttpHeaders): Promise<Reply> {
    const envelope: Envelope<CallContent> = decodeEnvelope(body, 'call');
    const { content, requestId } = envelope;
    checkEffectiveTarget(route.target, content, SUBNET_CALL_METHODS, 'call');
    // As the IC's SignedIngress::count_bytes: the whole signed request plus its 32-byte id.
    const messageBytes = body.length + 32;
    if (messageBytes > maxIngressBytes) {
      throw new RequestTooLargeError(
        `Request 0x${Buffer.from(requestId).toString('hex')} is too large. Message byte size ${messageBytes} is larger than the max allowed ${maxIngressBytes}.`,
      );
    }
    const scope: AuthenticatedScope = await authenticateWith(envelope, authOptions(), verifier, options.canisterVerifier);
    checkTargetAllowed(scope, content.canisterId);
    if (scope.permissions === 'queries') throw new UpdateNotPermittedError();

    const call: AuthenticatedCall = authenticated(content, requestId, route.target);
    const traceparent = traceparentFromHeaders(headers);
    if (traceparent !== undefined) call.traceparent = traceparent;
    const sync = route.version !== 2;
    try {
      await frontend.submitCall(call);
    } catch (e) {
      if (e instanceof CanisterError) return rejectBody(e, sync);
      throw e;
    }
    if (!sync) return empty(202);
    let certificate: Uint8Array | undefined;
    try {
      certificate = await withTimeout(frontend.awaitCertifiedStatus(requestId, syncCallTimeoutMs), syncCallTimeoutMs + 1000);
    } catch (e) {
      // The call is in the block source already: the client can still learn its fate by polling.
      reportInternal(e);
      certificate = undefined;
    }
    // The spec: 202 with an empty body when the implementation's timeout passes first.
    return certificate === undefined ? empty(202) : cbor({ status: 'replied', certificate });
  }

  async function handleQuery(route: Extract<Route, { op: 'query' }>, body: Uint8Array): Promise<Reply> {
    const envelope: Envelope<QueryContent> = decodeEnvelope(body, 'query');
    const { content, requestId } = envelope;
    checkEffectiveTarget(route.target, content, SUBNET_QUERY_METHODS, 'query');
    const scope = await authenticateWith(envelope, authOptions(), verifier, options.canisterVerifier);
    checkTargetAllowed(scope, content.canisterId);

    const query: AuthenticatedQuery = authenticated(content, requestId, route.target);
    let outcome: QueryOutcome;
    try {
      outcome = await frontend.query(query);
    } catch (e) {
      // Errors of query execution are answers to the query, signed like any other.
      if (!(e instanceof CanisterError)) throw e;
      outcome = { status: 'rejected', rejectCode: e.rejectCode, rejectMessage: e.message, errorCode: e.errorCode };
    }
    return signedQueryResponse(outcome, requestId);
  }

  /**
   * The spec, "Request: Query call": one node signature over `\x0Bic-response` ·
   * hash_of_map({status, reply | reject fields, timestamp, request_id}), which agent-js checks
   * against /subnet/<subnet_id>/node/<node_id>/public_key from a read_state certificate.
   */
  async function signedQueryResponse(outcome: QueryOutcome, requestId: Uint8Array): Promise<Reply> {
    const timestamp = now();
    const signer = frontend.nodeSigner();
    const signature = await signer.sign(responseSignaturePayload(queryResponseHash(outcome, timestamp, requestId)));
    return { status: 200, body: encodeQueryResponse(outcome, { timestamp, signature, identity: signer.nodeId }), contentType: 'application/cbor' };
  }

  async function handleReadState(route: Extract<Route, { op: 'read_state' }>, body: Uint8Array): Promise<Reply> {
    const envelope: Envelope<ReadStateContent> = decodeEnvelope(body, 'read_state');
    const { content } = envelope;
    let endpoint: ReadStateEndpoint;
    if (route.target.kind === 'canister') {
      checkHosted(route.target);
      endpoint = { kind: 'canister', apiVersion: route.version, effectiveCanisterId: route.target.id };
    } else {
      checkSubnet(route.target);
      endpoint = { kind: 'subnet', apiVersion: route.version, effectiveSubnetId: route.target.id };
    }
    const scope = await authenticateWith(envelope, authOptions(), verifier, options.canisterVerifier);
    authorizeReadStatePaths(content.paths, {
      endpoint,
      sender: content.sender,
      scope,
      rootSubnetId: options.rootSubnetId ?? frontend.subnetId(),
      frontend,
    });
    // The spec: the returned certificate always reveals /time, requested or not.
    const paths = content.paths.some((p) => p.length === 1 && Buffer.from(p[0]!).toString() === 'time')
      ? content.paths
      : [...content.paths, [new TextEncoder().encode('time')]];
    const ctx: ReadStateContext = { sender: content.sender, apiVersion: route.version };
    if (endpoint.kind === 'canister') ctx.effectiveCanisterId = endpoint.effectiveCanisterId;
    else ctx.effectiveSubnetId = endpoint.effectiveSubnetId;
    const certificate = await frontend.readState(paths, ctx);
    return cbor({ certificate });
  }

  function status(): Reply {
    const body: Record<string, unknown> = {
      ic_api_version: IC_API_VERSION,
      root_key: frontend.rootKey(),
      impl_version: options.implVersion ?? '0.1.0',
      replica_health_status: frontend.health(),
    };
    const height = frontend.certifiedHeight?.();
    if (height !== undefined) body.certified_height = height;
    return cbor(body);
  }

  function errorReply(e: unknown): Reply {
    if (e instanceof HttpInterfaceError) {
      return { status: e.status, body: e.message, closeConnection: e instanceof RequestTooLargeError };
    }
    if (e instanceof CanisterError) {
      // Refusals of the execution side outside call/query (which answer them in the body).
      const status =
        e.code === ErrorCode.CertifiedStateUnavailable
          ? 503
          : e.code === ErrorCode.CanisterNotFound || e.code === ErrorCode.CanisterNotHostedBySubnet || e.code === ErrorCode.SubnetNotFound
            ? 404
            : 400;
      return { status, body: `${e.errorCode}: ${e.message}` };
    }
    reportInternal(e);
    return { status: 500, body: `Internal error: ${e instanceof Error ? e.message : String(e)}` };
  }

  function send(res: http.ServerResponse, reply: Reply, head = false): void {
    if (res.headersSent || res.destroyed) return;
    const body = typeof reply.body === 'string' ? Buffer.from(reply.body, 'utf8') : Buffer.from(reply.body.buffer, reply.body.byteOffset, reply.body.byteLength);
    // Name-value pairs: node:http writes them as they are, without walking an object's keys.
    const headers = ['access-control-allow-origin', CORS_HEADERS['access-control-allow-origin'], 'content-length', String(body.length)];
    if (body.length > 0) headers.push('content-type', reply.contentType ?? 'text/plain; charset=utf-8');
    if (reply.closeConnection) headers.push('connection', 'close');
    res.writeHead(reply.status, headers);
    res.end(head ? undefined : body);
  }

  async function handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    res.on('error', () => {
      // The client went away; nothing to answer.
    });
    const method = req.method ?? 'GET';
    let pathname: string;
    try {
      pathname = new URL(req.url ?? '/', 'http://replica').pathname;
    } catch {
      pathname = req.url ?? '/';
    }
    if (method === 'OPTIONS') {
      // CORS preflight, as the IC's CorsLayer answers it: any origin, GET and POST.
      res.writeHead(204, CORS_PREFLIGHT_HEADERS);
      res.end();
      return;
    }
    let route: Route;
    try {
      route = parseRoute(method, pathname);
    } catch (e) {
      send(res, errorReply(e));
      return;
    }
    if (route.op === 'status') {
      try {
        send(res, status(), method === 'HEAD');
      } catch (e) {
        send(res, errorReply(e));
      }
      return;
    }

    inFlight++;
    try {
      const overloaded = inFlight > maxConcurrent;
      const body = await readBoundedBody(req, maxBodyBytes);
      if (overloaded) throw new ReplicaOverloadedError();
      if (frontend.health() !== 'healthy') throw new ReplicaNotReadyError();
      if (!isCborContentType(req.headers['content-type'])) throw new UnsupportedContentTypeError(req.headers['content-type']);
      let reply: Reply;
      switch (route.op) {
        case 'call':
          reply = await handleCall(route, body, req.headers);
          break;
        case 'query':
          reply = await handleQuery(route, body);
          break;
        case 'read_state':
          reply = await handleReadState(route, body);
          break;
      }
      send(res, reply);
    } catch (e) {
      if (e instanceof ClientGoneError) {
        res.destroy();
        return;
      }
      send(res, errorReply(e));
    } finally {
      inFlight--;
    }
  }

  const server = http.createServer((req, res) => {
    handle(req, res).catch((e: unknown) => {
      // Unreachable by construction; keep the promise from rejecting unhandled regardless.
      reportInternal(e);
      if (!res.headersSent) {
        res.writeHead(500, { ...CORS_HEADERS, 'content-type': 'text/plain; charset=utf-8' });
        res.end('Internal error');
      } else {
        res.destroy();
      }
    });
  });
  // The IC answers 408 when a request is not received within 300 s.
  server.requestTimeout = options.requestTimeoutMs ?? 300_000;

  return {
    server,
    listen(port: number, host = '127.0.0.1') {
      return new Promise((resolve, reject) => {
        const onError = (e: Error) => reject(e);
        server.once('error', onError);
        server.listen(port, host, () => {
          server.off('error', onError);
          const address = server.address() as AddressInfo;
          resolve({ port: address.port, host: address.address });
        });
      });
    },
    close() {
      return new Promise((resolve, reject) => {
        server.close((e) => (e ? reject(e) : resolve()));
        server.closeIdleConnections();
      });
    },
  };
}

/** Resolves with undefined if `promise` has not settled within `ms`. */
function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => resolve(undefined), ms);
    timer.unref();
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
