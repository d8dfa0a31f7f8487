// Web Authentication signatures (interface spec, "Web Authentication"): the public key is a COSE
// key (RFC 8152) wrapped in DER, ECDSA P-256 or RSA PKCS#1 v1.5, both with SHA-256; the
// signature is a CBOR map of the authenticator's assertion, whose client data must carry the
// signed payload as its challenge.

import { createPublicKey, verify, type KeyObject } from 'node:crypto';
import { decodeCbor, describeCbor } from './cbor.js';
import { InvalidPublicKeyError, InvalidSignatureError } from './errors.js';
import { sha256 } from './request-id.js';
import type { CborMap, CborValue } from './types.js';

/** COSE labels and values used here (RFC 8152 §7, §13; RFC 8230 for RSA). */
const COSE_KTY = '1';
const COSE_ALG = '3';
const KTY_EC2 = 2n;
const KTY_RSA = 3n;
const ALG_ES256 = -7n;
const ALG_RS256 = -257n;
const EC2_CRV = '-1';
const EC2_X = '-2';
const EC2_Y = '-3';
const CRV_P256 = 1n;
const RSA_N = '-1';
const RSA_E = '-2';

export interface WebAuthnPublicKey {
  readonly algorithm: 'ecdsa-p256' | 'rsa-pkcs1-sha256';
  readonly key: KeyObject;
}

function base64url(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64url');
}

function bytesAt(map: CborMap, label: string, what: string, length?: number): Uint8Array {
  const v = map.get(label);
  if (!(v instanceof Uint8Array)) throw new InvalidPublicKeyError(`COSE key: ${what} (label ${label}) is not a byte string`);
  if (length !== undefined && v.length !== length) throw new InvalidPublicKeyError(`COSE key: ${what} of ${v.length} bytes, expected ${length}`);
  return v;
}

/** Parses the COSE key inside a DER-wrapped COSE public key; InvalidPublicKeyError otherwise. */
export function parseCoseKey(cose: Uint8Array): WebAuthnPublicKey {
  let value: CborValue;
  try {
    value = decodeCbor(cose, { integerKeys: true });
  } catch (e) {
    throw new InvalidPublicKeyError(`COSE key is not CBOR: ${e instanceof Error ? e.message : String(e)}`);
  }
  if (!(value instanceof Map)) throw new InvalidPublicKeyError(`COSE key is ${describeCbor(value)}, expected a map`);
  const kty = value.get(COSE_KTY);
  const alg = value.get(COSE_ALG);
  const jwk = (() => {
    if (kty === KTY_EC2 && alg === ALG_ES256) {
      if (value.get(EC2_CRV) !== CRV_P256) throw new InvalidPublicKeyError('COSE key: ES256 keys must be on curve P-256 (crv 1)');
      return { kty: 'EC', crv: 'P-256', x: base64url(bytesAt(value, EC2_X, 'x', 32)), y: base64url(bytesAt(value, EC2_Y, 'y', 32)) };
    }
    if (kty === KTY_RSA && alg === ALG_RS256) {
      return { kty: 'RSA', n: base64url(bytesAt(value, RSA_N, 'modulus')), e: base64url(bytesAt(value, RSA_E, 'exponent')) };
    }
    throw new InvalidPublicKeyError(
      `COSE key of type ${String(kty)} with algorithm ${String(alg)}: WebAuthn keys must be ECDSA P-256 (kty 2, alg -7) or RSA (kty 3, alg -257)`,
    );
  })();
  try {
    return { algorithm: jwk.kty === 'EC' ? 'ecdsa-p256' : 'rsa-pkcs1-sha256', key: createPublicKey({ key: jwk, format: 'jwk' }) };
  } catch (e) {
    throw new InvalidPublicKeyError(`COSE key is not a valid ${jwk.kty === 'EC' ? 'P-256 point' : 'RSA key'}: ${e instanceof Error ? e.message : String(e)}`);
  }
}

/** The fields of a WebAuthn signature (spec: a CBOR map of three mandatory fields). */
function decodeAssertion(signature: Uint8Array, what: string): { authenticatorData: Uint8Array; clientDataJson: string; signature: Uint8Array } {
  const bad = (why: string): never => {
    throw new InvalidSignatureError(`${what}: malformed WebAuthn signature: ${why}`);
  };
  let value: CborValue;
  try {
    value = decodeCbor(signature);
  } catch (e) {
    return bad(`not CBOR (${e instanceof Error ? e.message : String(e)})`);
  }
  if (!(value instanceof Map)) return bad(`${describeCbor(value)}, expected a map`);
  const authenticatorData = value.get('authenticator_data');
  const clientDataJson = value.get('client_data_json');
  const sig = value.get('signature');
  if (!(authenticatorData instanceof Uint8Array)) return bad('`authenticator_data` is not a byte string');
  if (typeof clientDataJson !== 'string') return bad('`client_data_json` is not a text string');
  if (!(sig instanceof Uint8Array)) return bad('`signature` is not a byte string');
  return { authenticatorData, clientDataJson, signature: sig };
}

/**
 * Verifies a WebAuthn assertion over `message`: the client data's challenge is base64url(message)
 * and the signature verifies on authenticatorData · SHA-256(clientDataJSON).
 */
export function verifyWebAuthnSignature(key: WebAuthnPublicKey, message: Uint8Array, signature: Uint8Array, what: string): void {
  const assertion = decodeAssertion(signature, what);
  let challenge: unknown;
  try {
    challenge = (JSON.parse(assertion.clientDataJson) as { challenge?: unknown } | null)?.challenge;
  } catch {
    throw new InvalidSignatureError(`${what}: WebAuthn client_data_json is not JSON`);
  }
  if (challenge !== base64url(message)) {
    throw new InvalidSignatureError(`${what}: the WebAuthn challenge is not the base64url encoding of the signed payload`);
  }
  const clientDataHash = sha256(assertion.clientDataJson);
  let ok = false;
  try {
    ok = verify('sha256', Buffer.concat([assertion.authenticatorData, clientDataHash]), key.key, assertion.signature);
  } catch {
    ok = false;
  }
  if (!ok) throw new InvalidSignatureError(`${what}: WebAuthn ${key.algorithm === 'ecdsa-p256' ? 'ECDSA P-256' : 'RSA'} signature does not verify`);
}
