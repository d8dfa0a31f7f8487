// Request authentication (interface spec, "Authentication"; the IC's ingress validator):
// ingress expiry, sender vs. public key, the delegation chain and the request signature.

import { Principal } from '@icp-sdk/core/principal';
import type { DelegationPermissions, Envelope, RequestContent } from './envelope.js';
import {
  AnonymousSignatureError,
  DelegationExpiredError,
  DelegationTargetError,
  IngressExpiryError,
  InvalidDelegationError,
  InvalidSenderInfoError,
  InvalidSignatureError,
  MissingSignatureError,
  SenderMismatchError,
  UnsupportedSignatureSchemeError,
} from './errors.js';
import {
  checkSignatureForm, isVerifiableKey, parseUserPublicKey, signatureMismatch, signatureVerifies, verifySignature, type UserPublicKey, type VerifiableKey,
} from './public-key.js';
import { delegationSignaturePayload, digestInto, requestSignaturePayload } from './request-id.js';
import { canisterSignatureProblem, type CanisterSignatureContext, type CanisterSignatureKey, type CanisterSignatureVerifier } from './canister-signature.js';
import type { SenderInfo } from './types.js';
import { domainSeparator } from '../certification/index.js';
import { concatBytes, equalBytes, hexOf } from '../bytes.js';

/** The spec: the delegation field must not contain more than 20 delegations. */
export const MAX_DELEGATIONS = 20;
/** The spec: a delegation's targets list must contain no more than 1000 elements. */
export const MAX_TARGETS_PER_DELEGATION = 1000;
/** MAX_INGRESS_TTL of the IC. */
export const MAX_INGRESS_TTL_MS = 5 * 60 * 1000;
/** PERMITTED_DRIFT_AT_VALIDATOR of the IC: leeway for client clocks that run ahead. */
export const PERMITTED_DRIFT_MS = 30 * 1000;

const ANONYMOUS = Uint8Array.of(0x04);
const SELF_AUTHENTICATING_SUFFIX = 0x02;

/** What the authenticated sender may do. */
export interface AuthenticatedScope {
  /** Canisters the request may target: the intersection of all delegations' targets; 'all' without restriction. */
  targets: 'all' | ReadonlySet<string>;
  /** 'queries' if any delegation of the chain restricts to queries (dfinity/ic#10449). */
  permissions: DelegationPermissions;
}

export interface AuthenticationOptions {
  /** Current time, ns since the epoch. */
  now: bigint;
  maxIngressTtlMs?: number;
  permittedDriftMs?: number;
  /** The root of trust canister signatures (e.g. Internet Identity's delegations) are verified against. */
  rootKey?: Uint8Array;
}


function principalText(bytes: Uint8Array): string {
  try {
    return Principal.fromUint8Array(bytes).toText();
  } catch {
    return `0x${hexOf(bytes)}`;
  }
}


export function isAnonymous(principal: Uint8Array): boolean {
  return equalBytes(principal, ANONYMOUS);
}

/** Self-authenticating id: sha224(DER public key) · 0x02 (spec, "Special forms of Principals"). */
export function selfAuthenticatingId(derPublicKey: Uint8Array): Uint8Array {
  const out = new Uint8Array(29);
  digestInto('sha224', derPublicKey, out, 0);
  out[28] = SELF_AUTHENTICATING_SUFFIX;
  return out;
}

function formatNs(ns: bigint): string {
  const ms = ns / 1_000_000n;
  const date = ms <= 8_640_000_000_000_000n ? new Date(Number(ms)).toISOString() : 'far future';
  return `${ns} ns (${date})`;
}

/**
 * The expiry rule of the IC's validator: now ≤ ingress_expiry ≤ now + MAX_INGRESS_TTL + drift.
 * The message format keeps the "Invalid request expiry: " prefix agent-js reacts to.
 */
export function checkIngressExpiry(ingressExpiry: bigint, opts: AuthenticationOptions): void {
  const ttl = BigInt(opts.maxIngressTtlMs ?? MAX_INGRESS_TTL_MS) * 1_000_000n;
  const drift = BigInt(opts.permittedDriftMs ?? PERMITTED_DRIFT_MS) * 1_000_000n;
  const min = opts.now;
  const max = opts.now + ttl + drift;
  if (ingressExpiry < min || ingressExpiry > max) {
    const why = ingressExpiry < min ? 'the request has expired' : 'the expiry is too far in the future';
    throw new IngressExpiryError(
      `Specified ingress_expiry not within expected range (${why}): ` +
        `Minimum allowed expiry: ${formatNs(min)}, Maximum allowed expiry: ${formatNs(max)}, Provided expiry: ${formatNs(ingressExpiry)}`,
    );
  }
}

function intersect(a: 'all' | ReadonlySet<string>, b: 'all' | ReadonlySet<string>): 'all' | ReadonlySet<string> {
  if (a === 'all') return b;
  if (b === 'all') return a;
  return new Set([...a].filter((x) => b.has(x)));
}

/** A signature a request carries, in a scheme this replica verifies, still to be checked. */
export interface SignatureCheck {
  readonly key: VerifiableKey;
  readonly message: Uint8Array;
  readonly signature: Uint8Array;
}

/**
 * Checks signatures, each true when it verifies: here (`verifyHere`) or on other threads (the
 * node's signature pool), so that the HTTP thread does not spend its time in Ed25519.
 */
export type SignatureVerifier = (checks: readonly SignatureCheck[]) => Promise<readonly boolean[]>;

export function verifyHere(checks: readonly SignatureCheck[]): boolean[] {
  return checks.map((c) => signatureVerifies(c.key, c.message, c.signature));
}

/**
 * One step of the IC validator's walk down the chain, in its order: a signature to check (and
 * the error it is reported with if it does not verify), or a refusal found without cryptography.
 */
type Step =
  | { readonly kind: 'verify'; readonly check: SignatureCheck; readonly fails: () => Error }
  /** Checked here, in its turn: WebAuthn (see `VerifiableKey`). */
  | { readonly kind: 'check'; readonly run: () => void }
  /** A canister signature: BLS pairings, checked here or by a `CanisterSignatureVerifier`. */
  | {
      readonly kind: 'canister';
      readonly key: CanisterSignatureKey;
      readonly message: Uint8Array;
      readonly signature: Uint8Array;
      readonly what: string;
      readonly fails: (problem: string) => Error;
    }
  | { readonly kind: 'refuse'; readonly error: Error };

/** What is left to authenticate a request once everything but its signatures is checked. */
interface Authentication {
  readonly scope: AuthenticatedScope;
  readonly steps: readonly Step[];
}

/**
 * Authenticates a decoded request. Order as the IC's validator: ingress expiry (skipped for
 * anonymous query and read_state requests, which the spec lets the IC accept with any expiry),
 * then the sender against the public key, the delegation chain (length, expiry, cycles, target
 * counts, signatures) and finally the request signature with the last delegated key.
 *
 * Returns the delegation scope; whether the request's canister is within it is checked by
 * `checkTargetAllowed` (call/query) and the read_state path rules.
 */
export function authenticate(envelope: Envelope<RequestContent>, opts: AuthenticationOptions): AuthenticatedScope {
  const { scope, steps } = prepareAuthentication(envelope, opts);
  const checks = steps.flatMap((s) => (s.kind === 'verify' ? [s.check] : []));
  const verified = checks.length === 0 ? [] : verifyHere(checks);
  const context = canisterContext(opts);
  conclude(steps, verified, (s) => problemHere(s, context));
  return scope;
}

/**
 * As `authenticate`, with the signatures checked by `verifier` (all of them at once, so a chain
 * costs one trip to another thread). The first failure in the validator's order is the one
 * reported, as when they are checked one after the other.
 */
export async function authenticateWith(
  envelope: Envelope<RequestContent>,
  opts: AuthenticationOptions,
  verifier: SignatureVerifier,
  canisterVerifier?: CanisterSignatureVerifier,
): Promise<AuthenticatedScope> {
  const { scope, steps } = prepareAuthentication(envelope, opts);
  const checks = steps.flatMap((s) => (s.kind === 'verify' ? [s.check] : []));
  const context = canisterContext(opts);
  // Canister signatures start at once, with the plain ones; their problems are taken in order.
  const canister = new Map<Step, Promise<string | undefined>>();
  for (const s of steps) {
    if (s.kind !== 'canister') continue;
    const problem = context !== undefined && canisterVerifier
      ? canisterVerifier(s.key, s.message, s.signature, context, s.what)
      : Promise.resolve(problemHere(s, context));
    problem.catch(() => undefined); // a step before it may fail first
    canister.set(s, problem);
  }
  const verified = checks.length === 0 ? [] : await verifier(checks);
  const problems = new Map<Step, string | undefined>();
  for (const [s, p] of canister) problems.set(s, await p);
  conclude(steps, verified, (s) => problems.get(s));
  return scope;
}

function canisterContext(opts: AuthenticationOptions): CanisterSignatureContext | undefined {
  return opts.rootKey !== undefined ? { rootKey: opts.rootKey } : undefined;
}

type CanisterStep = Extract<Step, { kind: 'canister' }>;

/** What is wrong with a canister signature, checked on this thread. */
function problemHere(s: CanisterStep, context: CanisterSignatureContext | undefined): string | undefined {
  if (context === undefined) return `${s.what}: canister signatures need the root key to verify against`;
  return canisterSignatureProblem(s.key, s.message, s.signature, context, s.what);
}

/** Throws the first failure in the validator's order. */
function conclude(
  steps: readonly Step[],
  verified: readonly boolean[],
  problemOf: (step: CanisterStep) => string | undefined,
): void {
  let next = 0;
  for (const step of steps) {
    if (step.kind === 'refuse') throw step.error;
    if (step.kind === 'check') {
      step.run();
    } else if (step.kind === 'canister') {
      const problem = problemOf(step);
      if (problem !== undefined) throw step.fails(problem);
    } else if (verified[next++] !== true) {
      throw step.fails();
    }
  }
}

/** Everything but the signatures themselves: throws what needs no cryptography to find. */
function prepareAuthentication(envelope: Envelope<RequestContent>, opts: AuthenticationOptions): Authentication {
  const { content } = envelope;
  const anonymous = isAnonymous(content.sender);
  if (!(anonymous && content.requestType !== 'call')) checkIngressExpiry(content.ingressExpiry, opts);

  const senderInfo = content.requestType !== 'read_state' ? content.senderInfo : undefined;

  if (anonymous) {
    if (envelope.senderPubkey !== undefined || envelope.senderSig !== undefined || envelope.senderDelegation !== undefined) {
      throw new AnonymousSignatureError();
    }
    if (senderInfo !== undefined) throw new InvalidSenderInfoError('an anonymous request has no sender_pubkey to verify sender_info under');
    return { scope: { targets: 'all', permissions: 'all' }, steps: [] };
  }
  if (envelope.senderPubkey === undefined || envelope.senderSig === undefined) {
    throw new MissingSignatureError(principalText(content.sender));
  }
  if (!equalBytes(selfAuthenticatingId(envelope.senderPubkey), content.sender)) {
    throw new SenderMismatchError(principalText(content.sender), hexOf(envelope.senderPubkey));
  }

  const delegations = envelope.senderDelegation ?? [];
  if (delegations.length > MAX_DELEGATIONS) {
    throw new InvalidDelegationError(
      `Chain of delegations is too long: got ${delegations.length} delegations, but at most ${MAX_DELEGATIONS} are allowed.`,
    );
  }
  for (const { delegation } of delegations) {
    if (delegation.expiration < opts.now) {
      throw new DelegationExpiredError(
        `Specified sender delegation has expired: Provided expiry: ${formatNs(delegation.expiration)}, Local replica time: ${formatNs(opts.now)}`,
      );
    }
  }
  // The spec: every public key appears once in the chain; cycles and self-delegations are refused.
  const seen = new Set(delegations.length > 0 ? [hexOf(envelope.senderPubkey)] : []);
  for (const { delegation } of delegations) {
    const key = hexOf(delegation.pubkey);
    if (seen.has(key)) {
      throw new InvalidDelegationError(`Chain of delegations contains at least one cycle: first repeating public key encountered ${key}`);
    }
    seen.add(key);
    if (delegation.targets && new Set(delegation.targets.map(hexOf)).size > MAX_TARGETS_PER_DELEGATION) {
      throw new InvalidDelegationError(
        `expected at most ${MAX_TARGETS_PER_DELEGATION} targets per delegation, but got ${new Set(delegation.targets.map(hexOf)).size}`,
      );
    }
  }

  // The chain, key by key: each delegation is signed by the key before it, the request by the
  // last. Signatures are collected to be checked together; the first problem in this order wins.
  let signer = parseUserPublicKey(envelope.senderPubkey);
  let targets: 'all' | ReadonlySet<string> = 'all';
  let permissions: DelegationPermissions = 'all';
  const steps: Step[] = [];
  const signed = (key: UserPublicKey, message: Uint8Array, signature: Uint8Array, what: string, wrap: (e: Error) => Error): Step => {
    if (key.scheme === 'canister-signature') {
      return { kind: 'canister', key, message, signature, what, fails: (problem) => wrap(new InvalidSignatureError(problem)) };
    }
    if (!isVerifiableKey(key)) {
      return {
        kind: 'check',
        run: () => {
          try {
            verifySignature(key, message, signature, what);
          } catch (e) {
            throw wrap(e as Error);
          }
        },
      };
    }
    try {
      checkSignatureForm(key, signature, what);
    } catch (e) {
      return { kind: 'refuse', error: wrap(e as Error) };
    }
    return { kind: 'verify', check: { key, message, signature }, fails: () => wrap(signatureMismatch(key, what)) };
  };
  const asDelegationError = (e: Error) =>
    e instanceof UnsupportedSignatureSchemeError ? e : new InvalidDelegationError(e.message);
  for (let i = 0; i < delegations.length; i++) {
    const { delegation, signature, delegationHash } = delegations[i]!;
    const step = signed(signer, delegationSignaturePayload(delegationHash), signature, `delegation ${i}`, asDelegationError);
    steps.push(step);
    if (step.kind === 'refuse') return { scope: { targets, permissions }, steps };
    if (delegation.targets) targets = intersect(targets, new Set(delegation.targets.map(hexOf)));
    if (delegation.permissions === 'queries') permissions = 'queries';
    try {
      signer = parseUserPublicKey(delegation.pubkey);
    } catch (e) {
      const error = e instanceof UnsupportedSignatureSchemeError
        ? e
        : new InvalidDelegationError(`public key of delegation ${i}: ${e instanceof Error ? e.message : String(e)}`);
      steps.push({ kind: 'refuse', error });
      return { scope: { targets, permissions }, steps };
    }
  }
  steps.push(signed(signer, requestSignaturePayload(envelope.requestId), envelope.senderSig, 'sender_sig', (e) => e));
  if (senderInfo !== undefined) steps.push(senderInfoStep(senderInfo, envelope.senderPubkey));
  return { scope: { targets, permissions }, steps };
}

const SENDER_INFO_DOMAIN = domainSeparator('ic-sender-info');

/**
 * The spec, `sender_info`: `sig` is a canister signature over `\x0Eic-sender-info` · `info` that
 * verifies under `sender_pubkey`, which must therefore be a canister-signature key of `signer`.
 */
function senderInfoStep(info: SenderInfo, senderPubkey: Uint8Array): Step {
  const key = parseUserPublicKey(senderPubkey);
  if (key.scheme !== 'canister-signature') {
    return { kind: 'refuse', error: new InvalidSenderInfoError(`sender_pubkey must be a canister signature public key, not ${key.scheme}`) };
  }
  if (!equalBytes(key.signingCanisterId, info.signer)) {
    const why = `signer ${principalText(info.signer)} does not match canister ID ${principalText(key.signingCanisterId)} in sender_pubkey`;
    return { kind: 'refuse', error: new InvalidSenderInfoError(why) };
  }
  return {
    kind: 'canister', key, message: concatBytes([SENDER_INFO_DOMAIN, info.info]), signature: info.sig, what: 'sender_info.sig',
    fails: (problem) => new InvalidSenderInfoError(`signature verification failed: ${problem}`),
  };
}

/** The IC's rule for call and query: the canister must be among the delegation targets. */
export function checkTargetAllowed(scope: AuthenticatedScope, canisterId: Uint8Array): void {
  if (scope.targets !== 'all' && !scope.targets.has(hexOf(canisterId))) {
    throw new DelegationTargetError(principalText(canisterId));
  }
}

export function targetAllowed(scope: AuthenticatedScope, canisterId: Uint8Array): boolean {
  return scope.targets === 'all' || scope.targets.has(hexOf(canisterId));
}

export { principalText, equalBytes, hexOf };
