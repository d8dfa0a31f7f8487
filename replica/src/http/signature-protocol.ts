// Messages between the signature pool (the HTTP thread) and its threads. A batch travels as one
// transferred buffer holding every job's byte fields back to back, so a batch costs one copy-free
// message each way whatever its size.

import type { VerifiableKey } from './public-key.js';

/** What a job asks for; a verification names its key's scheme. */
export const JobKind = { Ed25519: 0, Secp256k1: 1, P256: 2, Sign: 3, CanisterSignature: 4 } as const;
export type JobKind = (typeof JobKind)[keyof typeof JobKind];

export const SCHEME_OF_KIND: Record<Exclude<JobKind, 3 | 4>, VerifiableKey['scheme']> = {
  0: 'ed25519',
  1: 'ecdsa-secp256k1',
  2: 'ecdsa-p256',
};

export const KIND_OF_SCHEME: Record<VerifiableKey['scheme'], JobKind> = {
  ed25519: JobKind.Ed25519,
  'ecdsa-secp256k1': JobKind.Secp256k1,
  'ecdsa-p256': JobKind.P256,
};

export const SIGNATURE_BYTES = 64;

export interface SignatureWorkerData {
  /** Ed25519 seed of the key that `Sign` jobs use (the node key), if any. */
  readonly signingSeed?: Uint8Array;
}

export interface ToSignatureWorker {
  readonly batch: number;
  readonly kinds: Uint8Array<ArrayBuffer>;
  /**
   * End offset of each field in `bytes`, fields of all jobs in order: a verification's key (DER
   * and raw point), message and signature; a canister signature's key (DER), message, signature,
   * root key and what it is (UTF-8, for the problem's text); a signature's message.
   */
  readonly ends: Uint32Array<ArrayBuffer>;
  readonly bytes: ArrayBuffer;
}

export type FromSignatureWorker =
  | { readonly ready: true }
  | {
      readonly batch: number;
      /** Per job: 1 if the signature verifies (verifications), or 1 once signed (signatures). */
      readonly ok: Uint8Array;
      /** The signatures of the batch's `Sign` jobs, in order, 64 bytes each. */
      readonly signatures: Uint8Array;
      /** What is wrong with the canister signatures that do not verify, by job index. */
      readonly problems?: Record<number, string>;
    };
