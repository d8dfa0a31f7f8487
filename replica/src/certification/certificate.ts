// Certificates and delegations: interface spec "Certificate", "Delegation", "Encoding of
// certificates" and certificates.cddl:
//
//   certificate = tagged<{ tree : hash-tree, signature : bytes, ? delegation : delegation }>
//   delegation  = { subnet_id : bytes, certificate : bytes }
//
// The signature is a BLS signature on `domain_sep("ic-state-root") · reconstruct(tree)`.

import * as cbor from '@dfinity/cbor';
import { combine, publicKeyFromDer, publicKeyToDer, selfAuthenticatingPrincipal, verify } from './bls.js';
import { decodeNat } from './encoding.js';
import { CertificateVerificationError, MalformedCertificateError, UnknownSubnetError } from './errors.js';
import {
  compareBytes,
  digest,
  domainSeparator,
  equalBytes,
  flattenForks,
  hashTreeFromCbor,
  hashTreeToCbor,
  lookupPath,
  lookupSubtree,
} from './hash-tree.js';
import { buildStateTree } from './state-tree.js';
import type {
  CertificateDelegation,
  CertificateTarget,
  CertifiedState,
  DecodedCertificate,
  DelegationFormat,
  DelegationSource,
  HashTree,
  Path,
  SignatureShare,
  SubnetCertifiedState,
  ThresholdSigner,
} from './types.js';
import { witness } from './witness.js';
import { hexOf } from '../bytes.js';

/** `domain_sep("ic-state-root")` = `\x0Dic-state-root`. */
export const STATE_ROOT_DOMAIN = domainSeparator('ic-state-root');

/** The message a certificate's signature signs: `\x0Dic-state-root · root_hash`. */
export function stateRootMessage(rootHash: Uint8Array): Uint8Array {
  const out = new Uint8Array(STATE_ROOT_DOMAIN.length + rootHash.length);
  out.set(STATE_ROOT_DOMAIN, 0);
  out.set(rootHash, STATE_ROOT_DOMAIN.length);
  return out;
}

export type CertificateSigning =
  /** A signature already made (e.g. combined by consensus) on `stateRootMessage(root)`. */
  | { readonly signature: Uint8Array }
  /** Sign now with a local signer (whole key or enough shares). */
  | { readonly signer: ThresholdSigner }
  /** Combine shares gathered from replicas. */
  | { readonly signatureShares: readonly SignatureShare[]; readonly threshold: number };

export type CreateCertificateOptions = {
  /** The (usually pruned) tree to certify; it must contain `/time` for agents to accept it. */
  readonly tree: HashTree;
  readonly delegation?: CertificateDelegation;
} & CertificateSigning;

function signatureFor(options: CertificateSigning, rootHash: Uint8Array): Uint8Array {
  if ('signature' in options) return options.signature;
  if ('signer' in options) return options.signer.sign(stateRootMessage(rootHash));
  return combine(options.signatureShares, options.threshold);
}

/** CBOR bytes of a certificate, with the self-describing tag 55799 as the CDDL prescribes. */
export function createCertificate(options: CreateCertificateOptions): Uint8Array {
  const signature = signatureFor(options, digest(options.tree));
  return encodeCertificate({ tree: options.tree, signature, ...(options.delegation ? { delegation: options.delegation } : {}) });
}

export function encodeCertificate(certificate: DecodedCertificate): Uint8Array {
  const value: Record<string, cbor.CborValue> = {
    tree: hashTreeToCbor(certificate.tree) as unknown as cbor.CborValue,
    signature: certificate.signature,
  };
  if (certificate.delegation !== undefined) {
    value['delegation'] = {
      subnet_id: certificate.delegation.subnetId,
      certificate: certificate.delegation.certificate,
    };
  }
  return cbor.encodeWithSelfDescribedTag(value);
}

function bytesField(obj: Record<string, unknown>, key: string): Uint8Array {
  const v = obj[key];
  if (v instanceof Uint8Array) return v;
  if (v instanceof ArrayBuffer) return new Uint8Array(v);
  throw new MalformedCertificateError(`certificate field ${key} is not a byte string`);
}

export function decodeCertificate(bytes: Uint8Array): DecodedCertificate {
  let value: unknown;
  try {
    value = cbor.decode(bytes);
  } catch (cause) {
    throw new MalformedCertificateError('certificate is not valid CBOR', { cause });
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new MalformedCertificateError('certificate is not a CBOR map');
  }
  const obj = value as Record<string, unknown>;
  let tree: HashTree;
  try {
    tree = hashTreeFromCbor(obj['tree']);
  } catch (cause) {
    throw new MalformedCertificateError('certificate tree is malformed', { cause });
  }
  const signature = bytesField(obj, 'signature');
  const d = obj['delegation'];
  if (d === undefined) return { tree, signature };
  if (typeof d !== 'object' || d === null) throw new MalformedCertificateError('delegation is not a map');
  const dobj = d as Record<string, unknown>;
  return { tree, signature, delegation: { subnetId: bytesField(dobj, 'subnet_id'), certificate: bytesField(dobj, 'certificate') } };
}

// ---------------------------------------------------------------------------------------------
// Verification (spec `verify_cert`, `check_delegation`, `delegation_key`)
// ---------------------------------------------------------------------------------------------

const NANOS_PER_MINUTE = 60_000_000_000n;

export interface VerifyCertificateOptions {
  /** The root of trust: raw (96 bytes) or DER-encoded BLS public key. */
  readonly rootKey: Uint8Array;
  /** Checks the delegation's scope: canister ranges for a canister, the subnet id for a subnet. */
  readonly target?: CertificateTarget;
  /** Current time (ns); when given, `/time` must lie within [now − maxAge, now + 5 min]. */
  readonly now?: bigint;
  /** Defaults to 5 minutes, agent-js's default. */
  readonly maxAgeNs?: bigint;
}

function decodeRanges(blob: Uint8Array): [Uint8Array, Uint8Array][] {
  const value: unknown = cbor.decode(blob);
  if (!Array.isArray(value)) throw new CertificateVerificationError('canister ranges are not a CBOR array');
  return value.map((r: unknown) => {
    if (!Array.isArray(r) || r.length !== 2 || !(r[0] instanceof Uint8Array) || !(r[1] instanceof Uint8Array)) {
      throw new CertificateVerificationError('canister range is not a pair of principals');
    }
    return [r[0], r[1]];
  });
}

function inRanges(canisterId: Uint8Array, ranges: readonly [Uint8Array, Uint8Array][]): boolean {
  return ranges.some(([start, end]) => compareBytes(start, canisterId) <= 0 && compareBytes(canisterId, end) <= 0);
}

/** Whether the delegation tree authorizes `subnetId` for `canisterId` (sharded or flat form). */
function delegationCovers(tree: HashTree, subnetId: Uint8Array, canisterId: Uint8Array): boolean {
  const shards = lookupSubtree(tree, ['canister_ranges', subnetId]);
  if (shards.status === 'found') {
    for (const shard of flattenForks(shards.subtree)) {
      if (shard.kind === 'labeled' && shard.subtree.kind === 'leaf' && inRanges(canisterId, decodeRanges(shard.subtree.value))) {
        return true;
      }
    }
  }
  const flat = lookupPath(tree, ['subnet', subnetId, 'canister_ranges']);
  return flat.status === 'found' && inRanges(canisterId, decodeRanges(flat.value));
}

function checkTime(tree: HashTree, now: bigint | undefined, maxAgeNs: bigint): void {
  const time = lookupPath(tree, ['time']);
  if (time.status !== 'found') throw new CertificateVerificationError('certificate has no /time');
  if (now === undefined) return;
  const t = decodeNat(time.value);
  if (t < now - maxAgeNs) throw new CertificateVerificationError('certificate is too old');
  if (t > now + 5n * NANOS_PER_MINUTE) throw new CertificateVerificationError('certificate is from the future');
}

/**
 * Verifies a certificate as agents do (spec "Certificate" / "Delegation"), returning it
 * decoded; throws `CertificateVerificationError` (or `MalformedCertificateError`) otherwise.
 */
export function verifyCertificate(bytes: Uint8Array, options: VerifyCertificateOptions): DecodedCertificate {
  const rootKey = options.rootKey.length === 96 ? options.rootKey : publicKeyFromDer(options.rootKey);
  const cert = decodeCertificate(bytes);
  checkTime(cert.tree, options.now, options.maxAgeNs ?? 5n * NANOS_PER_MINUTE);
  let key = rootKey;
  const d = cert.delegation;
  if (d !== undefined) {
    const inner = decodeCertificate(d.certificate);
    if (inner.delegation !== undefined) throw new CertificateVerificationError('delegation certificate has a delegation itself');
    // Delegations may be old (agent-js accepts 30 days).
    checkTime(inner.tree, options.now, 30n * 24n * 60n * NANOS_PER_MINUTE);
    if (!verify(rootKey, stateRootMessage(digest(inner.tree)), inner.signature)) {
      throw new CertificateVerificationError('delegation signature does not verify under the root key');
    }
    const target = options.target;
    if (target !== undefined && 'canisterId' in target && !delegationCovers(inner.tree, d.subnetId, target.canisterId)) {
      throw new CertificateVerificationError('delegation does not cover the canister');
    }
    if (target !== undefined && 'subnetId' in target && !equalBytes(target.subnetId, d.subnetId)) {
      throw new CertificateVerificationError('delegation is for another subnet');
    }
    const subnetKey = lookupPath(inner.tree, ['subnet', d.subnetId, 'public_key']);
    if (subnetKey.status !== 'found') throw new CertificateVerificationError('delegation does not reveal the subnet key');
    key = publicKeyFromDer(subnetKey.value);
  }
  if (!verify(key, stateRootMessage(digest(cert.tree)), cert.signature)) {
    throw new CertificateVerificationError('certificate signature does not verify');
  }
  return cert;
}

// ---------------------------------------------------------------------------------------------
// The root of trust and subnets
// ---------------------------------------------------------------------------------------------


/**
 * The holder of the root key (the IC's NNS subnet): certifies the subnet topology and hands
 * out delegations. Its state tree holds `/subnet/<id>/...`, `/canister_ranges/<id>/...` and
 * `/time`; it is signed once, at construction, and every delegation is a witness of it, so a
 * delegation's time is the `time` given here (agents accept delegations up to 30 days old and
 * at most 5 minutes in the future: recreate the authority to renew).
 */
export class RootAuthority implements DelegationSource {
  readonly publicKey: Uint8Array;
  readonly publicKeyDer: Uint8Array;
  /** The root subnet's id as agents derive it: the self-authenticating id of the root key. */
  readonly subnetId: Uint8Array;
  readonly certified: CertifiedState;
  readonly #delegations = new Map<string, CertificateDelegation>();

  constructor(options: { readonly signer: ThresholdSigner; readonly subnets: readonly SubnetCertifiedState[]; readonly time: bigint }) {
    this.publicKey = options.signer.publicKey;
    this.publicKeyDer = publicKeyToDer(this.publicKey);
    this.subnetId = selfAuthenticatingPrincipal(this.publicKeyDer);
    const tree = buildStateTree({ time: options.time, requestStatus: [], canisters: [], subnets: options.subnets });
    const rootHash = digest(tree);
    this.certified = { tree, rootHash, signature: options.signer.sign(stateRootMessage(rootHash)) };
  }

  /** The shard label of `/canister_ranges/<subnet>` that may hold `canisterId` (IC: lower bound). */
  #shardFor(subnetId: Uint8Array, canisterId: Uint8Array): Uint8Array | undefined {
    const shards = lookupSubtree(this.certified.tree, ['canister_ranges', subnetId]);
    if (shards.status !== 'found') return undefined;
    let best: Uint8Array | undefined;
    for (const s of flattenForks(shards.subtree)) {
      if (s.kind === 'labeled' && compareBytes(s.label, canisterId) <= 0) best = s.label;
    }
    return best;
  }

  delegate(subnetId: Uint8Array, format: DelegationFormat = { kind: 'flat' }): CertificateDelegation {
    const tree = this.certified.tree;
    if (lookupPath(tree, ['subnet', subnetId, 'public_key']).status !== 'found') {
      throw new UnknownSubnetError(`no subnet ${hexOf(subnetId)} in the root state`);
    }
    const paths: Path[] = [['subnet', subnetId, 'public_key'], ['time']];
    if (lookupPath(tree, ['subnet', subnetId, 'type']).status === 'found') paths.push(['subnet', subnetId, 'type']);
    let key = `${hexOf(subnetId)}/${format.kind}`;
    switch (format.kind) {
      case 'flat':
        paths.push(['subnet', subnetId, 'canister_ranges']);
        break;
      case 'tree': {
        const shard = this.#shardFor(subnetId, format.canisterId);
        if (shard !== undefined) {
          paths.push(['canister_ranges', subnetId, shard]);
          key += `/${hexOf(shard)}`;
        }
        break;
      }
      case 'none':
        break;
    }
    let delegation = this.#delegations.get(key);
    if (delegation === undefined) {
      const certificate = createCertificate({ tree: witness(tree, paths), signature: this.certified.signature });
      delegation = { subnetId, certificate };
      this.#delegations.set(key, delegation);
    }
    return delegation;
  }
}

/**
 * Certifies a subnet's state trees: signs the root hash once per round (`certifyState`) and
 * serves certificates for requested paths from that (`certificate`). Without `delegation` the
 * subnet is the root subnet and its key must be the root key; for a single replica the signer
 * is simply a `SecretKeySigner` (1-of-1).
 */
export class SubnetCertifier {
  readonly subnetId: Uint8Array;
  readonly publicKey: Uint8Array;
  readonly publicKeyDer: Uint8Array;
  readonly #signer: ThresholdSigner;
  readonly #delegation: DelegationSource | undefined;

  constructor(options: { readonly subnetId: Uint8Array; readonly signer: ThresholdSigner; readonly delegation?: DelegationSource }) {
    this.subnetId = options.subnetId;
    this.#signer = options.signer;
    this.#delegation = options.delegation;
    this.publicKey = options.signer.publicKey;
    this.publicKeyDer = publicKeyToDer(this.publicKey);
  }

  /** Signs the root hash of a (full) state tree. */
  certifyState(tree: HashTree): CertifiedState {
    const rootHash = digest(tree);
    return { tree, rootHash, signature: this.#signer.sign(stateRootMessage(rootHash)) };
  }

  /**
   * A certificate revealing `paths` (and always `/time`, spec "Certificate": all state trees
   * include the time) of a certified state; `paths` undefined reveals the whole tree.
   */
  certificate(state: CertifiedState, paths?: readonly Path[], format: DelegationFormat = { kind: 'flat' }): Uint8Array {
    const tree = paths === undefined ? state.tree : witness(state.tree, [...paths, ['time']]);
    const delegation = this.#delegation?.delegate(this.subnetId, format);
    return createCertificate({ tree, signature: state.signature, ...(delegation ? { delegation } : {}) });
  }

  /** `certifyState` and `certificate` in one go. */
  certify(tree: HashTree, paths?: readonly Path[], format?: DelegationFormat): Uint8Array {
    return this.certificate(this.certifyState(tree), paths, format);
  }
}
