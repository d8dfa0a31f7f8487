// Threshold BLS over BLS12-381 as the IC uses it for certification and the random tape:
// signatures in G1 (48 bytes compressed), public keys in G2 (96 bytes compressed), messages
// hashed to G1 with the ciphersuite of spec "Certificate":
// BLS_SIG_BLS12381G1_XMD:SHA-256_SSWU_RO_NUL_ (draft-irtf-cfrg-bls-signature-04).
//
// Keys are dealt by a trusted dealer with Shamir secret sharing over the scalar field Fr: the
// secret is f(0) of a random polynomial f of degree threshold-1, replica i holds f(i). BLS
// signatures are linear in the key, so the signature under f(0) is the Lagrange interpolation
// at 0 of any `threshold` shares, computed "in the exponent" on G1 points. BLS signatures are
// unique: every qualifying subset of shares yields the same signature bytes.

import { bls12_381 } from '@noble/curves/bls12-381.js';
import { bytesToNumberBE, numberToBytesBE } from '@noble/curves/utils.js';
import { sha224 } from '@noble/hashes/sha2.js';
import { InsufficientSharesError, InvalidKeyMaterialError } from './errors.js';
import type { DealtKeys, KeyShare, RandomSource, SignatureShare } from './types.js';

const G1 = bls12_381.G1.Point;
const G2 = bls12_381.G2.Point;
const Fr = bls12_381.fields.Fr;
const ORDER = Fr.ORDER;

/** The hash-to-curve domain separation tag of the IC's BLS signatures (G1 signatures). */
export const BLS_SIGNATURE_DST = 'BLS_SIG_BLS12381G1_XMD:SHA-256_SSWU_RO_NUL_';

export const PUBLIC_KEY_LENGTH = 96;
export const SIGNATURE_LENGTH = 48;
export const SECRET_LENGTH = 32;

/**
 * DER prefix of a BLS12-381 G2 public key: SubjectPublicKeyInfo with algorithm OID
 * 1.3.6.1.4.1.44668.5.3.1.2.1 and curve OID 1.3.6.1.4.1.44668.5.3.2.1 (spec "Delegation",
 * `extract_der`), byte for byte what agent-js checks.
 */
export const BLS_DER_PREFIX = Uint8Array.from(
  Buffer.from('308182301d060d2b0601040182dc7c0503010201060c2b0601040182dc7c05030201036100', 'hex'),
);

// --- thresholds -------------------------------------------------------------------------------

/** f = ⌊(n−1)/3⌋, the number of faulty replicas a subnet of n tolerates. */
export function faultTolerance(n: number): number {
  if (!Number.isInteger(n) || n < 1) throw new InvalidKeyMaterialError(`subnet size must be a positive integer, got ${n}`);
  return Math.floor((n - 1) / 3);
}

/** n − f shares certify a state: any two certifying quorums overlap in an honest replica. */
export function certificationThreshold(n: number): number {
  return n - faultTolerance(n);
}

/** f + 1 shares produce the random tape: at least one honest replica, yet unpredictable by f. */
export function randomnessThreshold(n: number): number {
  return faultTolerance(n) + 1;
}

// --- encodings --------------------------------------------------------------------------------

export function publicKeyToDer(publicKey: Uint8Array): Uint8Array {
  if (publicKey.length !== PUBLIC_KEY_LENGTH) {
    throw new InvalidKeyMaterialError(`BLS public key has ${publicKey.length} bytes, expected ${PUBLIC_KEY_LENGTH}`);
  }
  const out = new Uint8Array(BLS_DER_PREFIX.length + PUBLIC_KEY_LENGTH);
  out.set(BLS_DER_PREFIX, 0);
  out.set(publicKey, BLS_DER_PREFIX.length);
  return out;
}

export function publicKeyFromDer(der: Uint8Array): Uint8Array {
  if (der.length !== BLS_DER_PREFIX.length + PUBLIC_KEY_LENGTH) {
    throw new InvalidKeyMaterialError(`DER BLS public key has ${der.length} bytes`);
  }
  for (let i = 0; i < BLS_DER_PREFIX.length; i++) {
    if (der[i] !== BLS_DER_PREFIX[i]) throw new InvalidKeyMaterialError('not a DER-encoded BLS12-381 G2 public key');
  }
  return der.slice(BLS_DER_PREFIX.length);
}

/**
 * The self-authenticating principal of a DER public key, `SHA-224(der) · 0x02` (spec "Special
 * forms of Principals"). The IC's root subnet id is this of the root key, which is what agents
 * assume for certificates without delegation.
 */
export function selfAuthenticatingPrincipal(der: Uint8Array): Uint8Array {
  const out = new Uint8Array(29);
  out.set(sha224(der), 0);
  out[28] = 0x02;
  return out;
}

function scalarFromBytes(secret: Uint8Array, what: string): bigint {
  if (secret.length !== SECRET_LENGTH) throw new InvalidKeyMaterialError(`${what} has ${secret.length} bytes, expected ${SECRET_LENGTH}`);
  const s = bytesToNumberBE(secret);
  if (s === 0n || s >= ORDER) throw new InvalidKeyMaterialError(`${what} is not a non-zero scalar of Fr`);
  return s;
}

function scalarToBytes(s: bigint): Uint8Array {
  return numberToBytesBE(s, SECRET_LENGTH);
}

function g1FromBytes(bytes: Uint8Array, what: string): InstanceType<typeof G1> {
  if (bytes.length !== SIGNATURE_LENGTH) throw new InvalidKeyMaterialError(`${what} has ${bytes.length} bytes, expected ${SIGNATURE_LENGTH}`);
  try {
    const p = G1.fromBytes(bytes);
    p.assertValidity();
    return p;
  } catch (cause) {
    throw new InvalidKeyMaterialError(`${what} is not a valid G1 point`, { cause });
  }
}

function g2FromBytes(bytes: Uint8Array, what: string): InstanceType<typeof G2> {
  if (bytes.length !== PUBLIC_KEY_LENGTH) throw new InvalidKeyMaterialError(`${what} has ${bytes.length} bytes, expected ${PUBLIC_KEY_LENGTH}`);
  try {
    const p = G2.fromBytes(bytes);
    p.assertValidity();
    return p;
  } catch (cause) {
    throw new InvalidKeyMaterialError(`${what} is not a valid G2 point`, { cause });
  }
}

// --- dealing ----------------------------------------------------------------------------------

function defaultRandomSource(length: number): Uint8Array {
  return crypto.getRandomValues(new Uint8Array(length)); // wall-clock-ok: dealer randomness, not replicated state
}

/** A uniformly random non-zero scalar: 64 bytes reduced mod r (bias below 2^-250). */
function randomScalar(rng: RandomSource): bigint {
  for (;;) {
    const bytes = rng(64);
    if (bytes.length !== 64) throw new InvalidKeyMaterialError('random source returned the wrong number of bytes');
    const s = bytesToNumberBE(bytes) % ORDER;
    if (s !== 0n) return s;
  }
}

/**
 * Trusted-dealer key generation: a random polynomial f over Fr of degree `threshold − 1`; the
 * key is f(0), replica i (1..n) gets f(i). Runs outside replicated execution (at subnet
 * creation), hence the only place randomness is drawn. Pass `rng` for reproducible tests.
 */
export function dealKeys(n: number, threshold: number, rng: RandomSource = defaultRandomSource): DealtKeys {
  if (!Number.isInteger(n) || n < 1) throw new InvalidKeyMaterialError(`number of shares must be a positive integer, got ${n}`);
  if (!Number.isInteger(threshold) || threshold < 1 || threshold > n) {
    throw new InvalidKeyMaterialError(`threshold must be an integer in 1..${n}, got ${threshold}`);
  }
  for (;;) {
    const coefficients: bigint[] = [];
    for (let k = 0; k < threshold; k++) coefficients.push(randomScalar(rng));
    const evaluate = (x: bigint): bigint => {
      let acc = 0n;
      for (let k = coefficients.length - 1; k >= 0; k--) acc = Fr.add(Fr.mul(acc, x), coefficients[k]!);
      return acc;
    };
    const secrets: bigint[] = [];
    for (let i = 1; i <= n; i++) secrets.push(evaluate(BigInt(i)));
    // A zero share cannot sign (and would leak nothing useful); redeal in that ~2^-254 case.
    if (secrets.some((s) => s === 0n)) continue;
    return {
      publicKey: G2.BASE.multiply(coefficients[0]!).toBytes(true),
      threshold,
      shares: secrets.map((s, i) => ({
        index: i + 1,
        secret: scalarToBytes(s),
        publicShare: G2.BASE.multiply(s).toBytes(true),
      })),
    };
  }
}

/** A single (1-of-1) key: `{ secretKey, publicKey }`, e.g. the root key of a test network. */
export function generateKey(rng: RandomSource = defaultRandomSource): { secretKey: Uint8Array; publicKey: Uint8Array } {
  const { publicKey, shares } = dealKeys(1, 1, rng);
  return { secretKey: shares[0]!.secret, publicKey };
}

/** The public key (or public share) of a secret scalar, compressed G2. */
export function publicKeyOf(secret: Uint8Array): Uint8Array {
  return G2.BASE.multiply(scalarFromBytes(secret, 'secret key')).toBytes(true);
}

/** Whether `share` is consistent with its public share (a sanity check of stored key files). */
export function checkKeyShare(share: KeyShare): boolean {
  return equal(publicKeyOf(share.secret), share.publicShare);
}

function equal(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

// --- signing ----------------------------------------------------------------------------------

/** H(m) ∈ G1 with the IC's DST. */
export function hashToG1(message: Uint8Array): InstanceType<typeof G1> {
  return bls12_381.shortSignatures.hash(message, BLS_SIGNATURE_DST) as InstanceType<typeof G1>;
}

/** A signature share f(i)·H(m) (also the plain signature when the secret is a whole key). */
export function signShare(secretShare: Uint8Array, message: Uint8Array): Uint8Array {
  return signHashed(secretShare, hashToG1(message));
}

/** `signShare` for a message already hashed with `hashToG1` (several local shares, one hash). */
export function signHashed(secretShare: Uint8Array, hashed: InstanceType<typeof G1>): Uint8Array {
  return hashed.multiply(scalarFromBytes(secretShare, 'secret share')).toBytes(true);
}

/** Plain BLS signing with a whole secret key (the 1-of-1 case). */
export const sign = signShare;

/** Pairing check e(σ, G2) = e(H(m), pk); false for malformed inputs instead of throwing. */
export function verify(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
  if (publicKey.length !== PUBLIC_KEY_LENGTH || signature.length !== SIGNATURE_LENGTH) return false;
  try {
    return bls12_381.shortSignatures.verify(signature, hashToG1(message), publicKey);
  } catch {
    return false;
  }
}

/** A share verifies like a signature, under the replica's public share. */
export function verifyShare(publicShare: Uint8Array, message: Uint8Array, signatureShare: Uint8Array): boolean {
  return verify(publicShare, message, signatureShare);
}

/** Lagrange coefficients at x = 0 for the evaluation points `xs` (distinct, non-zero). */
function lagrangeAtZero(xs: readonly bigint[]): bigint[] {
  return xs.map((xi, i) => {
    let num = 1n;
    let den = 1n;
    xs.forEach((xj, j) => {
      if (j === i) return;
      num = Fr.mul(num, xj);
      den = Fr.mul(den, Fr.sub(xj, xi));
    });
    return Fr.div(num, den);
  });
}

/**
 * Interpolates the signature at 0 from `threshold` distinct shares (extra shares are ignored:
 * with honest shares every subset gives the same result). Shares are not checked here: verify
 * untrusted ones with `verifyShare` first, or the result is simply an invalid signature.
 */
export function combine(shares: readonly SignatureShare[], threshold: number): Uint8Array {
  if (!Number.isInteger(threshold) || threshold < 1) throw new InvalidKeyMaterialError(`invalid threshold ${threshold}`);
  return atZero(shares, threshold, G1.ZERO, (s) => g1FromBytes(s.signature, `signature share ${s.index}`));
}

/** Interpolates the public key at 0 from public shares (to cross-check dealt key material). */
export function combinePublicShares(shares: readonly { index: number; publicShare: Uint8Array }[], threshold: number): Uint8Array {
  return atZero(shares, threshold, G2.ZERO, (s) => g2FromBytes(s.publicShare, `public share ${s.index}`));
}

/**
 * The group element at 0 interpolated from the first `threshold` items of distinct indices (the
 * first of each index counts), compressed.
 */
function atZero<S extends { readonly index: number }, P extends { add(other: P): P; multiplyUnsafe(k: bigint): P; toBytes(compressed: boolean): Uint8Array }>(
  items: readonly S[], threshold: number, zero: P, point: (item: S) => P,
): Uint8Array {
  const byIndex = new Map<number, S>();
  for (const s of items) {
    if (!Number.isInteger(s.index) || s.index < 1) throw new InvalidKeyMaterialError(`invalid share index ${s.index}`);
    if (!byIndex.has(s.index)) byIndex.set(s.index, s);
  }
  if (byIndex.size < threshold) throw new InsufficientSharesError(byIndex.size, threshold);
  const chosen = [...byIndex.values()].slice(0, threshold);
  const lambdas = lagrangeAtZero(chosen.map((s) => BigInt(s.index)));
  let acc = zero;
  chosen.forEach((s, i) => {
    acc = acc.add(point(s).multiplyUnsafe(lambdas[i]!));
  });
  return acc.toBytes(true);
}
