// The main thread's side of the signing worker: asynchronous signatures with the subnet key, and
// signatures computed ahead (the random tape of the next round) handed out synchronously. Until
// the thread is up, and for anything not computed ahead, the main thread signs itself.

import { Worker } from 'node:worker_threads';
import type { SecretKeySigner } from '../certification/index.js';
import { workerEntry } from '../worker-entry.js';

const key = (message: Uint8Array) => Buffer.from(message.buffer, message.byteOffset, message.byteLength).toString('latin1');

export class SigningThread {
  readonly #worker: Worker;
  readonly #pending = new Map<number, { readonly message: Uint8Array; readonly resolve: (signature: Uint8Array) => void }>();
  /** Signatures computed ahead, by message. */
  readonly #ahead = new Map<string, Uint8Array | Promise<Uint8Array>>();
  #nextId = 0;
  #ready = false;
  #closed = false;

  constructor(private readonly signer: SecretKeySigner, secretKey: Uint8Array) {
    this.#worker = new Worker(workerEntry(import.meta.url, 'signing-worker'), { workerData: { secretKey } });
    this.#worker.on('message', (m: { ready: true } | { id: number; signature: Uint8Array }) => {
      if ('ready' in m) {
        this.#ready = true;
        return;
      }
      const pending = this.#pending.get(m.id);
      this.#pending.delete(m.id);
      pending?.resolve(m.signature);
      if (this.#pending.size === 0) this.#worker.unref();
    });
    this.#worker.on('error', () => {
      // Signing goes back to the main thread.
      this.#ready = false;
      this.#signHere();
    });
    this.#worker.unref();
  }

  /** Signs `message` on the signing thread (or here, while it is not up). */
  sign(message: Uint8Array): Promise<Uint8Array> {
    if (!this.#ready || this.#closed) return Promise.resolve(this.signer.sign(message));
    const id = this.#nextId++;
    return new Promise((resolve) => {
      this.#pending.set(id, { message, resolve });
      this.#worker.ref();
      this.#worker.postMessage({ id, message });
    });
  }

  /** Starts signing `message`, to be taken with `take` later. */
  prepare(message: Uint8Array): void {
    if (!this.#ready || this.#closed) return;
    const k = key(message);
    if (this.#ahead.has(k)) return;
    // Only the next few are ever asked for; anything older was skipped.
    if (this.#ahead.size >= 8) this.#ahead.clear();
    const signature = this.sign(message);
    this.#ahead.set(k, signature);
    void signature.then((s) => {
      if (this.#ahead.get(k) === signature) this.#ahead.set(k, s);
    });
  }

  /** The signature of `message`: the one prepared if it is ready, else computed now. */
  take(message: Uint8Array): Uint8Array {
    const k = key(message);
    const prepared = this.#ahead.get(k);
    this.#ahead.delete(k);
    return prepared instanceof Uint8Array ? prepared : this.signer.sign(message);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#worker.terminate();
    this.#signHere();
  }

  /** Whoever still waits gets the signature from this thread. */
  #signHere(): void {
    for (const { message, resolve } of this.#pending.values()) resolve(this.signer.sign(message));
    this.#pending.clear();
  }
}

