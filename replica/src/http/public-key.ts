// User public keys and plain signatures (interface spec, "Signatures"): DER SubjectPublicKeyInfo
// (RFC 5280 §4.1.2.7) for Ed25519 (RFC 8410), ECDSA on secp256k1 and P-256 (RFC 5480), and
// the IC's own OIDs for canister signatures and DER-wrapped COSE (WebAuthn) keys.

import { createPublicKey, verify as verifyNative, type KeyObject } from 'node:crypto';
import { ed25519 } from '@noble/curves/ed25519.js';
import { p256 } from '@noble/curves/nist.js';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { InvalidPublicKeyError, InvalidSignatureError, UnsupportedSignatureSchemeError } from './errors.js';
import { verifyCanisterSignature, type CanisterSignatureContext } from './canister-signature.js';
import { parseCoseKey, verifyWebAuthnSignature, type WebAuthnPublicKey } from './webauthn.js';
import { equalBytes } from '../bytes.js';

// Content octets of the OBJECT IDENTIFIERs involved.
const OID_ED25519 = Uint8Array.from([0x2b, 0x65, 0x70]); // 1.3.101.112
const OID_EC_PUBLIC_KEY = Uint8Array.from([0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01]); // 1.2.840.10045.2.1
const OID_SECP256K1 = Uint8Array.from([0x2b, 0x81, 0x04, 0x00, 0x0a]); // 1.3.132.0.10
const OID_P256 = Uint8Array.from([0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07]); // 1.2.840.10045.3.1.7
const OID_IC_CANISTER_SIGNATURE = Uint8Array.from([0x2b, 0x06, 0x01, 0x04, 0x01, 0x83, 0xb8, 0x43, 0x01, 0x02]); // 1.3.6.1.4.1.56387.1.2
const OID_IC_DER_WRAPPED_COSE = Uint8Array.from([0x2b, 0x06, 0x01, 0x04, 0x01, 0x83, 0xb8, 0x43, 0x01, 0x01]); // 1.3.6.1.4.1.56387.1.1
const OID_RSA = Uint8Array.from([0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01]); // 1.2.840.113549.1.1.1

export type UserPublicKey =
  | { scheme: 'ed25519'; der: Uint8Array; raw: Uint8Array }
  | { scheme: 'ecdsa-secp256k1'; der: Uint8Array; raw: Uint8Array }
  | { scheme: 'ecdsa-p256'; der: Uint8Array; raw: Uint8Array }
  | { scheme: 'canister-signature'; der: Uint8Array; signingCanisterId: Uint8Array; seed: Uint8Array }
  | { scheme: 'webauthn-cose'; der: Uint8Array; cose: WebAuthnPublicKey };

interface Tlv {
  tag: number;
  start: number; // first content byte
  end: number; // one past the last content byte
}

/** One DER TLV at `pos` inside [pos, limit); definite lengths only. */
function readTlv(der: Uint8Array, pos: number, limit: number): Tlv {
  if (pos + 2 > limit) throw new InvalidPublicKeyError('truncated DER');
  const tag = der[pos]!;
  let len = der[pos + 1]!;
  let at = pos + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n === 0 || n > 3) throw new InvalidPublicKeyError('unsupported DER length form');
    if (at + n > limit) throw new InvalidPublicKeyError('truncated DER length');
    len = 0;
    for (let i = 0; i < n; i++) len = (len << 8) | der[at + i]!;
    at += n;
    if (len < 0x80 || (n > 1 && len >> (8 * (n - 1)) === 0)) throw new InvalidPublicKeyError('non-minimal DER length');
  }
  if (at + len > limit) throw new InvalidPublicKeyError('DER length exceeds the key');
  return { tag, start: at, end: at + len };
}


/**
 * Keys seen recently, by DER: a client signs request after request with the same key, and
 * parsing (a curve point check) and importing it into OpenSSL cost more than verifying.
 * Least recently used first; only keys that parsed are kept.
 */
const parsedKeys = new Map<string, UserPublicKey>();
const MAX_PARSED_KEYS = 4096;
/** The OpenSSL key object of a parsed Ed25519 key, made on its first verification. */
const nativeKeys = new WeakMap<UserPublicKey, KeyObject>();

/**
 * Parses a DER-encoded user public key. Throws InvalidPublicKeyError for anything malformed or
 * of an unknown algorithm, UnsupportedSignatureSchemeError for RSA outside WebAuthn (as the IC).
 */
export function parseUserPublicKey(der: Uint8Array): UserPublicKey {
  const id = Buffer.from(der.buffer, der.byteOffset, der.byteLength).toString('latin1');
  const known = parsedKeys.get(id);
  if (known !== undefined) {
    parsedKeys.delete(id);
    parsedKeys.set(id, known);
    return known;
  }
  // A copy: the request body the key came in is not kept alive by the cache.
  const key = parseDer(der.slice());
  parsedKeys.set(id, key);
  if (parsedKeys.size > MAX_PARSED_KEYS) parsedKeys.delete(parsedKeys.keys().next().value!);
  return key;
}

function parseDer(der: Uint8Array): UserPublicKey {
  const spki = readTlv(der, 0, der.length);
  if (spki.tag !== 0x30) throw new InvalidPublicKeyError('not a DER SEQUENCE (SubjectPublicKeyInfo)');
  if (spki.end !== der.length) throw new InvalidPublicKeyError('trailing bytes after SubjectPublicKeyInfo');
  const algorithm = readTlv(der, spki.start, spki.end);
  if (algorithm.tag !== 0x30) throw new InvalidPublicKeyError('missing AlgorithmIdentifier');
  const oid = readTlv(der, algorithm.start, algorithm.end);
  if (oid.tag !== 0x06) throw new InvalidPublicKeyError('missing algorithm OID');
  const algorithmOid = der.subarray(oid.start, oid.end);
  let parameters: Uint8Array | undefined;
  if (oid.end < algorithm.end) {
    const p = readTlv(der, oid.end, algorithm.end);
    if (p.end !== algorithm.end) throw new InvalidPublicKeyError('trailing bytes in AlgorithmIdentifier');
    if (p.tag === 0x05 && p.start === p.end && equalBytes(algorithmOid, OID_RSA)) {
      throw new UnsupportedSignatureSchemeError('RSA signatures are only allowed in a WebAuthn context');
    }
    // Only ECDSA keys have parameters (the curve OID); RFC 8410 forbids them for Ed25519.
    if (p.tag !== 0x06) throw new InvalidPublicKeyError('unexpected algorithm parameters');
    parameters = der.subarray(p.start, p.end);
  }
  const bitString = readTlv(der, algorithm.end, spki.end);
  if (bitString.tag !== 0x03 || bitString.end !== spki.end) throw new InvalidPublicKeyError('missing subjectPublicKey BIT STRING');
  if (bitString.start === bitString.end || der[bitString.start] !== 0) {
    throw new InvalidPublicKeyError('subjectPublicKey must have no unused bits');
  }
  const key = der.slice(bitString.start + 1, bitString.end);

  if (equalBytes(algorithmOid, OID_ED25519)) {
    if (parameters !== undefined) throw new InvalidPublicKeyError('Ed25519 keys take no parameters (RFC 8410)');
    if (key.length !== 32) throw new InvalidPublicKeyError(`Ed25519 key of ${key.length} bytes, expected 32`);
    try {
      ed25519.Point.fromBytes(key);
    } catch {
      throw new InvalidPublicKeyError('Ed25519 key is not a curve point');
    }
    return { scheme: 'ed25519', der, raw: key };
  }
  if (equalBytes(algorithmOid, OID_EC_PUBLIC_KEY)) {
    const curve = parameters && equalBytes(parameters, OID_SECP256K1) ? 'secp256k1' : parameters && equalBytes(parameters, OID_P256) ? 'p256' : undefined;
    if (!curve) throw new InvalidPublicKeyError('ECDSA keys must name curve secp256k1 (1.3.132.0.10) or P-256 (1.2.840.10045.3.1.7)');
    // The spec: points in uncompressed form, 0x04 · x · y.
    if (key.length !== 65 || key[0] !== 0x04) throw new InvalidPublicKeyError('ECDSA point must be uncompressed (0x04 · x · y, 65 bytes)');
    try {
      (curve === 'secp256k1' ? secp256k1 : p256).Point.fromBytes(key).assertValidity();
    } catch {
      throw new InvalidPublicKeyError(`ECDSA key is not a point of ${curve}`);
    }
    return { scheme: curve === 'secp256k1' ? 'ecdsa-secp256k1' : 'ecdsa-p256', der, raw: key };
  }
  if (equalBytes(algorithmOid, OID_IC_CANISTER_SIGNATURE)) {
    // BIT STRING content: |signing_canister_id| · signing_canister_id · seed (spec, "Canister signatures").
    const idLength = key[0];
    if (idLength === undefined || 1 + idLength > key.length || idLength > 29) {
      throw new InvalidPublicKeyError('malformed canister signature public key');
    }
    if (parameters !== undefined) throw new InvalidPublicKeyError('canister signature keys take no parameters');
    return { scheme: 'canister-signature', der, signingCanisterId: key.slice(1, 1 + idLength), seed: key.slice(1 + idLength) };
  }
  if (equalBytes(algorithmOid, OID_IC_DER_WRAPPED_COSE)) {
    if (parameters !== undefined) throw new InvalidPublicKeyError('DER-wrapped COSE keys take no parameters');
    return { scheme: 'webauthn-cose', der, cose: parseCoseKey(key) };
  }
  if (equalBytes(algorithmOid, OID_RSA)) {
    throw new UnsupportedSignatureSchemeError('RSA signatures are only allowed in a WebAuthn context');
  }
  throw new InvalidPublicKeyError('unknown public key algorithm');
}

/**
 * Verifies `signature` over `message` (domain separator · payload) on this thread. Throws
 * InvalidSignatureError if it does not verify. Canister signatures need the root of trust of
 * `context`; without it they are refused with UnsupportedSignatureSchemeError.
 */
export function verifySignature(key: UserPublicKey, message: Uint8Array, signature: Uint8Array, what: string, context?: CanisterSignatureContext): void {
  if (key.scheme === 'canister-signature') {
    if (context === undefined) throw new UnsupportedSignatureSchemeError(`${what}: canister signatures need the root key to verify against`);
    verifyCanisterSignature(key, message, signature, context, what);
    return;
  }
  if (key.scheme === 'webauthn-cose') {
    verifyWebAuthnSignature(key.cose, message, signature, what);
    return;
  }
  checkSignatureForm(key, signature, what);
  if (!signatureVerifies(key, message, signature)) throw signatureMismatch(key, what);
}

/**
 * Plain keys: their signatures are checked by `signatureVerifies` alone, so on any thread.
 * Canister signatures (a certificate against the root key) and WebAuthn assertions (JSON client
 * data, COSE keys) are checked by `verifySignature` on the calling thread.
 */
export type VerifiableKey = Extract<UserPublicKey, { scheme: 'ed25519' | 'ecdsa-secp256k1' | 'ecdsa-p256' }>;

export function isVerifiableKey(key: UserPublicKey): key is VerifiableKey {
  return key.scheme === 'ed25519' || key.scheme === 'ecdsa-secp256k1' || key.scheme === 'ecdsa-p256';
}

/** What can be told about a plain signature without checking it: its length. Throws as `verifySignature` does. */
export function checkSignatureForm(key: VerifiableKey, signature: Uint8Array, what: string): void {
  switch (key.scheme) {
    case 'ed25519':
      if (signature.length !== 64) throw new InvalidSignatureError(`${what}: Ed25519 signature of ${signature.length} bytes, expected 64`);
      return;
    case 'ecdsa-secp256k1':
    case 'ecdsa-p256':
      if (signature.length !== 64) {
        throw new InvalidSignatureError(`${what}: ECDSA signature of ${signature.length} bytes, expected r · s (64 bytes)`);
      }
      return;
  }
}

/** The error of a well-formed signature that does not verify. */
export function signatureMismatch(key: VerifiableKey, what: string): InvalidSignatureError {
  const scheme = key.scheme === 'ed25519' ? 'Ed25519' : `ECDSA ${key.scheme === 'ecdsa-secp256k1' ? 'secp256k1' : 'P-256'}`;
  return new InvalidSignatureError(`${what}: ${scheme} signature does not verify`);
}

/**
 * The cryptographic check alone, on a signature `checkSignatureForm` accepted: pure, so it can run
 * on any thread.
 *
 * ECDSA: the spec's encoding is r · s, 32 bytes each, big-endian, over SHA-256 of the message.
 * High-S signatures are accepted: the IC verifies malleable signatures (OpenSSL legacy), and
 * WebCrypto (ECDSAKeyIdentity) does not normalise S.
 */
export function signatureVerifies(key: VerifiableKey, message: Uint8Array, signature: Uint8Array): boolean {
  try {
    if (key.scheme === 'ed25519') {
      // OpenSSL's native Ed25519 (RFC 8032) is ~20x faster than the pure-JS verifier: it is
      // most of the cost of an authenticated query.
      return verifyNative(null, message, nativeKey(key), signature);
    }
    const curve = key.scheme === 'ecdsa-secp256k1' ? secp256k1 : p256;
    return curve.verify(signature, message, key.raw, { prehash: true, lowS: false, format: 'compact' });
  } catch {
    return false;
  }
}

/** The OpenSSL key object of an Ed25519 key, made once per parsed key. */
function nativeKey(key: VerifiableKey): KeyObject {
  let native = nativeKeys.get(key);
  if (native === undefined) {
    native = createPublicKey({ key: Buffer.from(key.der), format: 'der', type: 'spki' });
    nativeKeys.set(key, native);
  }
  return native;
}
