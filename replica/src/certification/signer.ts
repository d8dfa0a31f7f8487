// Local signers: the key material a process holds, behind the `ThresholdSigner` interface the
// certifiers and the random tape use. A deployment where each replica holds one share only
// gathers shares from its peers (signShare / verifyShare / combine) and plugs in its own signer.

import { combine, hashToG1, publicKeyOf, signHashed, verify, verifyShare } from './bls.js';
import { InsufficientSharesError, InvalidKeyMaterialError } from './errors.js';
import type { DealtKeys, KeyShare, SignatureShare, ThresholdSigner } from './types.js';

/** Signs with a whole secret key: the root key, or a subnet of one replica (1-of-1). */
export class SecretKeySigner implements ThresholdSigner {
  readonly publicKey: Uint8Array;
  readonly #secretKey: Uint8Array;

  constructor(secretKey: Uint8Array) {
    this.#secretKey = secretKey;
    this.publicKey = publicKeyOf(secretKey);
  }

  sign(message: Uint8Array): Uint8Array {
    return signHashed(this.#secretKey, hashToG1(message));
  }
}

/**
 * Holds `threshold` or more shares of one key (e.g. a subnet's replicas simulated in one
 * process, or tests): signs with each share, combines, and checks the result against the
 * public key so a corrupt share can never yield an invalid certificate silently.
 */
export class LocalThresholdSigner implements ThresholdSigner {
  readonly publicKey: Uint8Array;
  readonly threshold: number;
  readonly #shares: readonly KeyShare[];

  constructor(publicKey: Uint8Array, threshold: number, shares: readonly KeyShare[]) {
    if (shares.length < threshold) throw new InsufficientSharesError(shares.length, threshold);
    this.publicKey = publicKey;
    this.threshold = threshold;
    this.#shares = shares.slice(0, threshold);
  }

  static fromDealt(keys: DealtKeys, indices?: readonly number[]): LocalThresholdSigner {
    const shares = indices === undefined ? keys.shares : keys.shares.filter((s) => indices.includes(s.index));
    return new LocalThresholdSigner(keys.publicKey, keys.threshold, shares);
  }

  /** The individual shares, as each replica would produce them. */
  signShares(message: Uint8Array): SignatureShare[] {
    const hashed = hashToG1(message);
    return this.#shares.map((s) => ({ index: s.index, signature: signHashed(s.secret, hashed) }));
  }

  sign(message: Uint8Array): Uint8Array {
    const signature = combine(this.signShares(message), this.threshold);
    if (!verify(this.publicKey, message, signature)) {
      const bad = this.#shares.find((s) => !verifyShare(s.publicShare, message, signHashed(s.secret, hashToG1(message))));
      throw new InvalidKeyMaterialError(
        bad === undefined
          ? 'combined signature does not verify: the shares do not belong to this public key'
          : `key share ${bad.index} does not match its public share`,
      );
    }
    return signature;
  }
}
