// The ingress history: the status of every ingress message by id, as the IC keeps it. A terminal
// status (replied, rejected, done) is kept for MAX_INGRESS_TTL after it was recorded and then
// removed; while the history holds more reply and reject payload than its capacity, the oldest
// terminal statuses lose their payload and become 'done'. Both happen at the end of a round
// (`prune`), from replicated values only, so every replica removes the same entries.

import type { IngressStatus } from './types.js';

/** How long a terminal status is kept (IC `MAX_INGRESS_TTL`: 5 minutes), in nanoseconds. */
export const MAX_INGRESS_TTL_NS = 5n * 60n * 1_000_000_000n;

/**
 * Kept beyond MAX_INGRESS_TTL: the front end accepts an ingress_expiry up to this much further
 * (`PERMITTED_DRIFT_AT_VALIDATOR`), so a status outlives every request that could repeat it.
 */
export const PERMITTED_DRIFT_NS = 30n * 1_000_000_000n;

/** How long after it was recorded a terminal status is removed. */
const KEPT_NS = MAX_INGRESS_TTL_NS + PERMITTED_DRIFT_NS;

/** Bytes of replies and reject messages the history holds before the oldest become 'done' (IC: 4 GiB). */
export const INGRESS_HISTORY_MEMORY_CAPACITY = 4 * 1024 * 1024 * 1024;

const utf8 = new TextEncoder();

function isTerminal(s: IngressStatus): boolean {
  return s.status === 'replied' || s.status === 'rejected' || s.status === 'done';
}

/** Bytes of payload a status holds (IC `IngressStatus::payload_bytes`). */
function payloadBytes(s: IngressStatus): number {
  if (s.status === 'replied') return s.reply.length;
  if (s.status === 'rejected') return utf8.encode(s.message).length;
  return 0;
}

/**
 * A Map of statuses by message id (hex) that also knows when each terminal status is due for
 * removal. Pruning times are derived from the statuses (`time` + TTL), so the index is rebuilt
 * from a checkpoint's entries and never stored.
 */
export class IngressHistory extends Map<string, IngressStatus> {
  /** Message ids by the time their terminal status is removed; `times` lists the keys ascending. */
  readonly #due = new Map<bigint, string[]>();
  #times: bigint[] = [];
  /** Reply and reject bytes held: what `capacityBytes` bounds. */
  #payloadBytes = 0;

  get payloadBytes(): number {
    return this.#payloadBytes;
  }

  override set(messageId: string, status: IngressStatus): this {
    const old = super.get(messageId);
    if (old !== undefined) this.#payloadBytes -= payloadBytes(old);
    this.#payloadBytes += payloadBytes(status);
    super.set(messageId, status);
    // A status turns terminal once; 'done' replacing a reply keeps the pruning time it had.
    if (isTerminal(status) && (old === undefined || !isTerminal(old))) this.#enroll(status.time + KEPT_NS, messageId);
    return this;
  }

  override delete(messageId: string): boolean {
    const old = super.get(messageId);
    if (old === undefined) return false;
    this.#payloadBytes -= payloadBytes(old);
    return super.delete(messageId);
  }

  override clear(): void {
    super.clear();
    this.#due.clear();
    this.#times = [];
    this.#payloadBytes = 0;
  }

  /**
   * At the end of a round: removes the terminal statuses due at or before `time`, then, while the
   * payload held exceeds `capacityBytes`, turns replies and rejects into 'done', oldest first, a
   * whole pruning time at once (as the IC). Returns how many statuses were removed.
   */
  prune(time: bigint, capacityBytes = INGRESS_HISTORY_MEMORY_CAPACITY): number {
    let removed = 0;
    let expired = 0;
    while (expired < this.#times.length && this.#times[expired]! <= time) {
      const due = this.#times[expired++]!;
      for (const id of this.#due.get(due)!) {
        const s = super.get(id);
        // (the time check skips an id that was removed and recorded again since)
        if (s !== undefined && isTerminal(s) && s.time + KEPT_NS <= time && this.delete(id)) removed++;
      }
      this.#due.delete(due);
    }
    if (expired > 0) this.#times = this.#times.slice(expired);
    for (let i = 0; i < this.#times.length && this.#payloadBytes > capacityBytes; i++) {
      for (const id of this.#due.get(this.#times[i]!)!) {
        const s = super.get(id);
        if (s === undefined || payloadBytes(s) === 0) continue;
        this.set(id, { status: 'done', sender: s.sender, receiver: s.receiver, time: s.time });
      }
    }
    return removed;
  }

  #enroll(due: bigint, messageId: string): void {
    let ids = this.#due.get(due);
    if (ids === undefined) {
      ids = [];
      this.#due.set(due, ids);
      // Live rounds record in time order (an append); a checkpoint's entries come in id order.
      let at = this.#times.length;
      while (at > 0 && this.#times[at - 1]! > due) at--;
      this.#times.splice(at, 0, due);
    }
    ids.push(messageId);
  }
}
