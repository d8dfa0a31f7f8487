// The replica's query cache, as the IC keeps one per node: the outcome of a query, keyed by
// (caller, canister, method, argument), reused while the execution would see exactly the same
// inputs. A query reads only its canister's state and the certified state it runs on (batch
// time through `ic0.time`, the data certificate, the cycle balance), so an entry stays valid
// while that certified state's height and time, the canister's version, balance and status are
// the ones it was computed on. Bounded by bytes, least recently used entries go first.

import type { QueryOutcome, SenderInfo } from '../http/index.js';
import { hexOf } from '../bytes.js';

/** What a query's outcome depends on besides its key. */
export interface QueryCacheEnv {
  /** Height and batch time of the certified state the query ran on. */
  readonly height: bigint;
  readonly time: bigint;
  /** The canister's version: any change of its state increments it. */
  readonly canisterVersion: bigint;
  readonly balance: bigint;
  readonly status: string;
}

export interface QueryCacheStats {
  /** Answered from the cache. */
  hits: number;
  /** Not in the cache (or stale): executed. */
  misses: number;
  /** Canister query executions (misses plus uncacheable queries). */
  executions: number;
  /** Entries dropped because the state they were computed on changed. */
  invalidated: number;
  /** Entries dropped to stay within the byte capacity. */
  evicted: number;
  /** Entries and their accounted size now. */
  entries: number;
  bytes: number;
}

export interface QueryCacheOptions {
  /** Total accounted size of the entries. Default 200 MiB (the IC's default). 0 disables the cache. */
  readonly capacityBytes?: number;
}

export const DEFAULT_QUERY_CACHE_CAPACITY_BYTES = 200 * 1024 * 1024;

/** Accounted per entry besides keys and payloads (maps, objects, bigints). */
const ENTRY_OVERHEAD_BYTES = 256;

interface Entry {
  readonly env: QueryCacheEnv;
  readonly outcome: QueryOutcome;
  readonly bytes: number;
}


export function queryCacheKey(canisterId: Uint8Array, method: string, arg: Uint8Array, caller: Uint8Array, senderInfo?: SenderInfo): string {
  // Principals are at most 29 bytes, so their hex never contains the separator. Caller info is
  // what the canister sees of `sender_info` (its signer and data), as the caller id is.
  const base = `${hexOf(canisterId)}/${hexOf(caller)}/${method.length}:${method}/${base64(arg)}`;
  return senderInfo === undefined ? base : `${base}/${hexOf(senderInfo.signer)}/${base64(senderInfo.info)}`;
}

function base64(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64');
}

function sameEnv(a: QueryCacheEnv, b: QueryCacheEnv): boolean {
  return a.height === b.height && a.time === b.time && a.canisterVersion === b.canisterVersion && a.balance === b.balance && a.status === b.status;
}

function outcomeBytes(o: QueryOutcome): number {
  return o.status === 'replied' ? o.reply.byteLength : o.rejectMessage.length * 2 + o.errorCode.length * 2;
}

export class QueryCache {
  readonly capacityBytes: number;
  /** Insertion order is recency order: a hit moves its entry to the end. */
  readonly #entries = new Map<string, Entry>();
  #bytes = 0;
  readonly #stats = { hits: 0, misses: 0, executions: 0, invalidated: 0, evicted: 0 };

  constructor(options: QueryCacheOptions = {}) {
    this.capacityBytes = Math.max(0, options.capacityBytes ?? DEFAULT_QUERY_CACHE_CAPACITY_BYTES);
  }

  get stats(): QueryCacheStats {
    return { ...this.#stats, entries: this.#entries.size, bytes: this.#bytes };
  }

  /** A query's canister code ran (whether or not its outcome could be cached). */
  countExecution(): void {
    this.#stats.executions++;
  }

  /** The cached outcome for `key` if it was computed in `env`; a stale entry is dropped. */
  get(key: string, env: QueryCacheEnv): QueryOutcome | undefined {
    const entry = this.#entries.get(key);
    if (entry === undefined) {
      this.#stats.misses++;
      return undefined;
    }
    this.#entries.delete(key);
    if (!sameEnv(entry.env, env)) {
      this.#bytes -= entry.bytes;
      this.#stats.invalidated++;
      this.#stats.misses++;
      return undefined;
    }
    this.#entries.set(key, entry);
    this.#stats.hits++;
    return entry.outcome;
  }

  put(key: string, env: QueryCacheEnv, outcome: QueryOutcome): void {
    const bytes = key.length * 2 + outcomeBytes(outcome) + ENTRY_OVERHEAD_BYTES;
    const old = this.#entries.get(key);
    if (old !== undefined) {
      this.#entries.delete(key);
      this.#bytes -= old.bytes;
    }
    if (bytes > this.capacityBytes) return;
    this.#entries.set(key, { env, outcome, bytes });
    this.#bytes += bytes;
    for (const [k, e] of this.#entries) {
      if (this.#bytes <= this.capacityBytes) break;
      this.#entries.delete(k);
      this.#bytes -= e.bytes;
      this.#stats.evicted++;
    }
  }

  /** A newer state was certified: entries computed at another batch time can never be hit again. */
  onCertified(height: bigint, time: bigint): void {
    for (const [k, e] of this.#entries) {
      if (e.env.time === time && e.env.height === height) continue;
      this.#entries.delete(k);
      this.#bytes -= e.bytes;
      this.#stats.invalidated++;
    }
  }

  clear(): void {
    this.#entries.clear();
    this.#bytes = 0;
  }
}
