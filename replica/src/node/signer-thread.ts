// The main thread's side of the signing worker: asynchronous signatures with the subnet key,
// signatures computed ahead (the random tape of the next round) handed out synchronously, and
// checks of other subnets' BLS signatures. Until the thread is up, and for anything not computed
// ahead, the main thread does it itself.

import { Worker } from 'node:worker_threads';
import { verify, type SecretKeySigner } from '../certification/index.js';
import { workerEntry } from '../worker-entry.js';

export type SigningRequest =
  | { readonly id: number; readonly message: Uint8Array }
  | { readonly id: number; readonly verify: { readonly publicKey: Uint8Array; readonly message: Uint8Array; readonly signature: Uint8Array } };
export type SigningReply = { readonly id: number; readonly signature: Uint8Array } | { readonly id: number; readonly verified: boolean };

const key = (message: Uint8Array) => Buffer.from(message.buffer, message.byteOffset, message.byteLength).toString('latin1');

interface Pending {
  /** The same work, done on this thread (the worker is gone). */
  here(): SigningReply;
  resolve(reply: SigningReply): void;
}

export class SigningThread {
  readonly #worker: Worker;
  readonly #pending = new Map<number, Pending>();
  /** Signatures computed ahead, by message. */
  readonly #ahead = new Map<string, Uint8Array | Promise<Uint8Array>>();
  #nextId = 0;
  #ready = false;
  #closed = false;
  #onStarted!: () => void;
  readonly #started = new Promise<void>((resolve) => (this.#onStarted = resolve));

  constructor(private readonly signer: SecretKeySigner, secretKey: Uint8Array) {
    this.#worker = new Worker(workerEntry(import.meta.url, 'signing-worker'), { workerData: { secretKey } });
    this.#worker.on('message', (m: { ready: true } | SigningReply) => {
      if ('ready' in m) {
        this.#ready = true;
        this.#onStarted();
        return;
      }
      const pending = this.#pending.get(m.id);
      this.#pending.delete(m.id);
      pending?.resolve(m);
      if (this.#pending.size === 0) this.#worker.unref();
    });
    this.#worker.on('error', () => {
      // Signing and checking go back to the main thread.
      this.#ready = false;
      this.#answerHere();
    });
    this.#worker.unref();
  }

  /** Resolves when the thread takes work (until then the calling thread does it). */
  async started(): Promise<void> {
    this.#worker.ref(); // waiting keeps the process alive meanwhile
    await this.#started;
    if (this.#pending.size === 0) this.#worker.unref();
  }

  /** Signs `message` on the signing thread (or here, while it is not up). */
  async sign(message: Uint8Array): Promise<Uint8Array> {
    const reply = await this.#run((id) => ({ id, message }), (id) => ({ id, signature: this.signer.sign(message) }));
    return (reply as { signature: Uint8Array }).signature;
  }

  /** Whether `signature` is a BLS signature of `message` under `publicKey` (96 bytes), checked on the thread. */
  async verify(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): Promise<boolean> {
    const reply = await this.#run((id) => ({ id, verify: { publicKey, message, signature } }), (id) => ({ id, verified: verify(publicKey, message, signature) }));
    return (reply as { verified: boolean }).verified;
  }

  #run(request: (id: number) => SigningRequest, here: (id: number) => SigningReply): Promise<SigningReply> {
    const id = this.#nextId++;
    if (!this.#ready || this.#closed) return Promise.resolve(here(id));
    return new Promise((resolve) => {
      this.#pending.set(id, { here: () => here(id), resolve });
      this.#worker.ref();
      this.#worker.postMessage(request(id));
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

  /** Resolves when the signature of `message`, if it is being prepared, is ready to `take`. */
  async prepared(message: Uint8Array): Promise<void> {
    const pending = this.#ahead.get(key(message));
    if (pending instanceof Promise) await pending;
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
    this.#answerHere();
  }

  /** Whoever still waits gets the answer from this thread. */
  #answerHere(): void {
    for (const { here, resolve } of this.#pending.values()) resolve(here());
    this.#pending.clear();
  }
}

