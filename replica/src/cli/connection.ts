// Talking to a replica: reachability and root key from `/api/v2/status`, an `HttpAgent` that
// verifies every certificate against that root key (or one pinned with --root-key), and agent
// errors turned into messages a developer can act on.

import {
  AgentError,
  Cbor,
  CertifiedRejectErrorCode,
  HttpAgent,
  HttpErrorCode,
  HttpFetchErrorCode,
  UncertifiedRejectErrorCode,
  UncertifiedRejectUpdateErrorCode,
} from '@icp-sdk/core/agent';
import { CliError, UnreachableError, UsageError } from './errors.js';
import { loadIdentity, type LoadedIdentity } from './identity.js';

export const DEFAULT_NETWORK = 'http://127.0.0.1:4943';

export interface NetworkStatus {
  readonly rootKey: Uint8Array;
  readonly health: string | undefined;
  readonly certifiedHeight: bigint | undefined;
  readonly implVersion: string | undefined;
  readonly apiVersion: string | undefined;
}

export interface Connection {
  readonly network: string;
  readonly agent: HttpAgent;
  readonly identity: LoadedIdentity;
  readonly status: NetworkStatus;
  /** The key certificates are verified against. */
  readonly rootKey: Uint8Array;
}

export interface ConnectOptions {
  readonly network: string;
  readonly identity?: string;
  /** Hex DER root key to trust instead of the one the replica reports. */
  readonly rootKey?: string;
  readonly env?: NodeJS.ProcessEnv;
}

export function normalizeNetwork(network: string): string {
  if (network === 'local') return DEFAULT_NETWORK;
  let url: URL;
  try {
    url = new URL(network);
  } catch {
    throw new UsageError(`--network must be a URL like ${DEFAULT_NETWORK}, got '${network}'`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new UsageError(`--network must be an http(s) URL, got '${network}'`);
  return url.toString().replace(/\/$/, '');
}

export async function fetchStatus(network: string): Promise<NetworkStatus> {
  let response: Response;
  try {
    response = await fetch(`${network}/api/v2/status`, { signal: AbortSignal.timeout(10_000) });
  } catch (cause) {
    throw new UnreachableError(`cannot reach a replica at ${network}`, {
      hint: 'Start one with `icpk start`, or pass --network <url> of a running one.',
      cause,
    });
  }
  if (!response.ok) throw new UnreachableError(`${network}/api/v2/status answered ${response.status} ${response.statusText}: is this an IC replica?`);
  let body: Record<string, unknown>;
  try {
    body = Cbor.decode(new Uint8Array(await response.arrayBuffer()));
  } catch (cause) {
    throw new UnreachableError(`${network}/api/v2/status did not answer CBOR: is this an IC replica?`, { cause });
  }
  const rootKey = body.root_key;
  if (!(rootKey instanceof Uint8Array)) throw new UnreachableError(`${network} reports no root key`);
  return {
    rootKey,
    health: typeof body.replica_health_status === 'string' ? body.replica_health_status : undefined,
    certifiedHeight:
      typeof body.certified_height === 'bigint' || typeof body.certified_height === 'number' ? BigInt(body.certified_height) : undefined,
    implVersion: typeof body.impl_version === 'string' ? body.impl_version : undefined,
    apiVersion: typeof body.ic_api_version === 'string' ? body.ic_api_version : undefined,
  };
}

export async function connect(options: ConnectOptions): Promise<Connection> {
  const network = normalizeNetwork(options.network);
  const identity = await loadIdentity(options.identity, options.env);
  const status = await fetchStatus(network);
  let rootKey = status.rootKey;
  if (options.rootKey !== undefined) {
    if (!/^([0-9a-f]{2})+$/i.test(options.rootKey)) throw new UsageError('--root-key must be the DER root key in hex');
    rootKey = new Uint8Array(Buffer.from(options.rootKey, 'hex'));
  }
  const agent = await HttpAgent.create({ host: network, identity: identity.identity, rootKey, shouldFetchRootKey: false, retryTimes: 1 });
  return { network, agent, identity, status, rootKey };
}

/** An agent failure as a CLI error: rejects with their IC codes, HTTP errors with the body. */
export function explainAgentError(e: unknown, network?: string): unknown {
  if (!(e instanceof AgentError)) return e;
  const code = e.code;
  if (code instanceof CertifiedRejectErrorCode || code instanceof UncertifiedRejectErrorCode || code instanceof UncertifiedRejectUpdateErrorCode) {
    return new CliError(`rejected (reject code ${code.rejectCode}${code.rejectErrorCode ? `, ${code.rejectErrorCode}` : ''}): ${code.rejectMessage}`, {
      cause: e,
    });
  }
  if (code instanceof HttpErrorCode) {
    return new CliError(`the replica answered ${code.status} ${code.statusText}: ${(code.bodyText ?? '').trim()}`, { cause: e });
  }
  if (code instanceof HttpFetchErrorCode) {
    return new UnreachableError(`lost the connection to ${network ?? 'the replica'}`, { cause: e });
  }
  return new CliError(e.message, { cause: e });
}
