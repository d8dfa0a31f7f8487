// Canister signatures (interface spec, "Canister signatures"): a canister signs a payload by
// putting `/sig/<sha256(seed)>/<sha256(payload)>` into a tree whose root hash is its certified
// data; the signature is that tree and a certificate of the certified data. Internet Identity
// signs its delegations this way, so every request of a user logged in with it carries one.

import { createHash } from 'node:crypto';
import * as cbor from '@dfinity/cbor';
import {
  CertificationError,
  hashTreeFromCbor,
  lookupPath,
  reconstruct,
  verifyCertificate,
  wellFormed,
  type HashTree,
} from '../certification/index.js';
import { equalBytes } from '../bytes.js';
import { InvalidSignatureError } from './errors.js';
import { sha256 } from './request-id.js';

/** What verifying a canister signature needs from the replica. */
export interface CanisterSignatureContext {
  /** The root of trust certificates are verified against (what `/api/v2/status` reports as `root_key`). */
  readonly rootKey: Uint8Array;
}

/**
 * Signatures verified recently. A BLS pairing costs milliseconds, and a client logged in with a
 * delegation from a canister sends the same delegation signature with every request of its
 * session, so verifying it once per session rather than once per request is what makes such
 * sessions affordable. Keyed by every input of the verification (root key included); only
 * successes are kept; least recently used first.
 */
const verified = new Map<string, true>();
const MAX_VERIFIED = 4096;

function cacheKey(parts: readonly Uint8Array[]): string {
  const h = createHash('sha256');
  for (const p of parts) h.update(Uint8Array.of(p.length >>> 24, p.length >>> 16, p.length >>> 8, p.length)).update(p);
  return h.digest('base64');
}

/** The signature's certificate and tree, or what is wrong with it. */
function decodeSignature(signature: Uint8Array): { certificate: Uint8Array; tree: HashTree } | string {
  const bad = (why: string) => `malformed canister signature: ${why}`;
  let value: unknown;
  try {
    value = cbor.decode(signature);
  } catch (e) {
    return bad(`not CBOR (${e instanceof Error ? e.message : String(e)})`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value) || value instanceof Uint8Array) {
    return bad('not a CBOR map');
  }
  const { certificate, tree } = value as Record<string, unknown>;
  if (!(certificate instanceof Uint8Array)) return bad('`certificate` is not a byte string');
  try {
    return { certificate, tree: hashTreeFromCbor(tree) };
  } catch (e) {
    return bad(`\`tree\` is not a hash tree (${e instanceof Error ? e.message : String(e)})`);
  }
}

/** A canister-signature public key as verification needs it. */
export interface CanisterSignatureKey {
  readonly signingCanisterId: Uint8Array;
  readonly seed: Uint8Array;
  readonly der: Uint8Array;
}

/**
 * What is wrong with a canister signature of `signingCanisterId` with `seed` over `message` (the
 * condition of the spec that fails, prefixed with `what`), or undefined if it verifies. Pure but
 * for this thread's cache of verified signatures: it may run on any thread.
 */
export function canisterSignatureProblem(
  key: CanisterSignatureKey,
  message: Uint8Array,
  signature: Uint8Array,
  context: CanisterSignatureContext,
  what: string,
): string | undefined {
  const id = cacheKey([context.rootKey, key.der, message, signature]);
  if (verified.has(id)) {
    verified.delete(id);
    verified.set(id, true);
    return undefined;
  }
  const decoded = decodeSignature(signature);
  if (typeof decoded === 'string') return `${what}: ${decoded}`;
  const { certificate, tree } = decoded;
  if (!wellFormed(tree)) return `${what}: the canister signature's tree is not well-formed`;
  const sig = lookupPath(tree, ['sig', sha256(key.seed), sha256(message)]);
  if (sig.status !== 'found' || sig.value.length !== 0) {
    return `${what}: the canister signature's tree does not contain /sig/<sha256(seed)>/<sha256(message)>`;
  }
  let cert;
  try {
    // A delegation in the certificate must cover the signing canister (the spec's second rule).
    cert = verifyCertificate(certificate, { rootKey: context.rootKey, target: { canisterId: key.signingCanisterId } });
  } catch (e) {
    const why = e instanceof CertificationError ? e.message : String(e);
    return `${what}: the canister signature's certificate is not valid: ${why}`;
  }
  const certified = lookupPath(cert.tree, ['canister', key.signingCanisterId, 'certified_data']);
  if (certified.status !== 'found' || !equalBytes(certified.value, reconstruct(tree))) {
    return `${what}: the signing canister's certified data in the certificate is not the root hash of the signature's tree`;
  }
  verified.set(id, true);
  if (verified.size > MAX_VERIFIED) verified.delete(verified.keys().next().value!);
  return undefined;
}

/** As `canisterSignatureProblem`, throwing InvalidSignatureError with the problem. */
export function verifyCanisterSignature(
  key: CanisterSignatureKey,
  message: Uint8Array,
  signature: Uint8Array,
  context: CanisterSignatureContext,
  what: string,
): void {
  const problem = canisterSignatureProblem(key, message, signature, context, what);
  if (problem !== undefined) throw new InvalidSignatureError(problem);
}

/**
 * Checks a canister signature, possibly on another thread (a BLS pairing costs milliseconds):
 * resolves to what is wrong with it, or undefined if it verifies.
 */
export type CanisterSignatureVerifier = (
  key: CanisterSignatureKey,
  message: Uint8Array,
  signature: Uint8Array,
  context: CanisterSignatureContext,
  what: string,
) => Promise<string | undefined>;
