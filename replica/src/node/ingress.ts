// Update calls accepted over HTTP, from submission until their status is certified: who sent
// them and where (for read_state authorization before they reach the ingress history), duplicate
// detection, and the synchronous-call waiters that each certified round may resolve.

import type { RequestStatusTarget } from '../http/index.js';
import type { CertifiedSnapshot } from './certification.js';

export interface TrackedRequest {
  readonly sender: Uint8Array;
  readonly target: RequestStatusTarget;
  /** The request's ingress_expiry (ns): after it, the request can never be submitted again. */
  readonly expiry: bigint;
}

type Waiter = (snapshot: CertifiedSnapshot | undefined) => void;

const TERMINAL = new Set(['replied', 'rejected', 'done']);

export function isTerminal(snapshot: CertifiedSnapshot | undefined, requestIdHex: string): boolean {
  const status = snapshot?.requests.get(requestIdHex)?.status;
  return status !== undefined && TERMINAL.has(status);
}

export class IngressTracker {
  readonly #requests = new Map<string, TrackedRequest>();
  readonly #waiters = new Map<string, Set<Waiter>>();

  get(requestIdHex: string): TrackedRequest | undefined {
    return this.#requests.get(requestIdHex);
  }

  add(requestIdHex: string, request: TrackedRequest): void {
    this.#requests.set(requestIdHex, request);
  }

  delete(requestIdHex: string): void {
    this.#requests.delete(requestIdHex);
  }

  /** Number of synchronous calls waiting for a certified status. */
  get waiting(): number {
    let n = 0;
    for (const set of this.#waiters.values()) n += set.size;
    return n;
  }

  /**
   * Resolves with the first certified state in which the request's status is terminal, or with
   * undefined after `timeoutMs` (or when the node closes).
   */
  wait(requestIdHex: string, timeoutMs: number): Promise<CertifiedSnapshot | undefined> {
    return new Promise((resolve) => {
      let set = this.#waiters.get(requestIdHex);
      if (set === undefined) {
        set = new Set();
        this.#waiters.set(requestIdHex, set);
      }
      const waiters = set;
      const timer = setTimeout(() => done(undefined), timeoutMs);
      const done: Waiter = (snapshot) => {
        clearTimeout(timer);
        waiters.delete(done);
        if (waiters.size === 0 && this.#waiters.get(requestIdHex) === waiters) this.#waiters.delete(requestIdHex);
        resolve(snapshot);
      };
      waiters.add(done);
    });
  }

  /** After each certified round: resolve waiters whose request is done; forget expired requests. */
  onCertified(snapshot: CertifiedSnapshot, nowNs: bigint): void {
    for (const [id, waiters] of [...this.#waiters]) {
      if (!isTerminal(snapshot, id)) continue;
      for (const w of [...waiters]) w(snapshot);
    }
    for (const [id, r] of this.#requests) if (r.expiry < nowNs) this.#requests.delete(id);
  }

  close(): void {
    for (const waiters of [...this.#waiters.values()]) for (const w of [...waiters]) w(undefined);
  }
}
