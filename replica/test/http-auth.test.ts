// Authentication against real agent-js identities: they sign exactly as the agent does
// (`transformRequest`), the replica decodes the CBOR envelope and verifies it.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Cbor, wrapDER } from '@icp-sdk/core/agent';
import {
  DelegationChain,
  DelegationIdentity,
  ECDSAKeyIdentity,
  Ed25519KeyIdentity,
} from '@icp-sdk/core/identity';
import { Secp256k1KeyIdentity } from '@icp-sdk/core/identity/secp256k1';
import { Principal } from '@icp-sdk/core/principal';
import { p256 } from '@noble/curves/nist.js';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { generateKey } from '../src/certification/index.js';
import { authenticate, checkTargetAllowed } from '../src/http/auth.js';
import { decodeEnvelope, type RequestType } from '../src/http/envelope.js';
import {
  AnonymousSignatureError,
  DelegationExpiredError,
  DelegationTargetError,
  IngressExpiryError,
  InvalidDelegationError,
  InvalidPublicKeyError,
  InvalidSignatureError,
  InvalidSenderInfoError,
  MissingSignatureError,
  SenderMismatchError,
} from '../src/http/errors.js';

const CANISTER_A = Principal.fromUint8Array(Uint8Array.from([0, 0, 0, 0, 0, 0, 0, 1, 1, 1]));
const CANISTER_B = Principal.fromUint8Array(Uint8Array.from([0, 0, 0, 0, 0, 0, 0, 2, 1, 1]));
const MINUTE_NS = 60_000_000_000n;

const nowNs = () => BigInt(Date.now()) * 1_000_000n;

type AnyIdentity = { getPrincipal(): Principal; transformRequest(request: unknown): Promise<unknown> };

function content(requestType: RequestType, sender: Principal, overrides: Record<string, unknown> = {}): Record<string, unknown> {
  const base: Record<string, unknown> = { request_type: requestType, sender, ingress_expiry: nowNs() + 4n * MINUTE_NS };
  if (requestType === 'read_state') base.paths = [[new TextEncoder().encode('time')]];
  else Object.assign(base, { canister_id: CANISTER_A, method_name: 'greet', arg: Uint8Array.from([0x44, 0x49, 0x44, 0x4c, 0, 0]) });
  if (requestType === 'call') base.nonce = Uint8Array.from({ length: 16 }, (_, i) => i);
  return { ...base, ...overrides };
}

/** Signs as HttpAgent does: the identity's transformRequest, then the agent's CBOR encoding. */
async function envelopeBytes(
  identity: AnyIdentity,
  requestType: RequestType,
  overrides: Record<string, unknown> = {},
  tamper?: (body: Record<string, any>) => void,
): Promise<Uint8Array> {
  const body = content(requestType, identity.getPrincipal(), overrides);
  const endpoint = requestType === 'call' ? 'call' : requestType === 'query' ? 'read' : 'read_state';
  const transformed = (await identity.transformRequest({ request: {}, endpoint, body })) as { body: Record<string, any> };
  tamper?.(transformed.body);
  return Cbor.encode(transformed.body);
}

/** A root of trust for canister signatures (none of these requests carries a valid one). */
const ROOT_KEY = generateKey().publicKey;

function verify(bytes: Uint8Array, requestType: RequestType, now = nowNs()) {
  const envelope = decodeEnvelope(bytes, requestType);
  const scope = authenticate(envelope, { now, rootKey: ROOT_KEY });
  if (envelope.content.requestType !== 'read_state') checkTargetAllowed(scope, envelope.content.canisterId);
  return { envelope, scope };
}

describe('authentication with agent-js identities', () => {
  it('accepts Ed25519-signed call, query and read_state requests', async () => {
    const id = Ed25519KeyIdentity.generate();
    for (const type of ['call', 'query', 'read_state'] as const) {
      const { scope } = verify(await envelopeBytes(id, type), type);
      assert.equal(scope.targets, 'all');
      assert.equal(scope.permissions, 'all');
    }
  });

  it('accepts secp256k1 signatures (Secp256k1KeyIdentity)', async () => {
    const id = Secp256k1KeyIdentity.generate();
    for (let i = 0; i < 5; i++) verify(await envelopeBytes(id, 'call'), 'call');
  });

  it('accepts P-256 signatures from WebCrypto (ECDSAKeyIdentity), high-S included', async () => {
    const id = await ECDSAKeyIdentity.generate();
    // WebCrypto does not normalise S: over 24 signatures some are high-S (probability 1 - 2^-24).
    let highS = 0;
    for (let i = 0; i < 24; i++) {
      const bytes = await envelopeBytes(id, 'call', { arg: Uint8Array.of(i) }, (body) => {
        if (p256.Signature.fromBytes(body.sender_sig, 'compact').hasHighS()) highS++;
      });
      verify(bytes, 'call');
    }
    assert.ok(highS > 0, 'no high-S signature was produced');
  });

  it('accepts a high-S secp256k1 signature, as the IC (malleable verification)', async () => {
    const id = Secp256k1KeyIdentity.generate();
    const bytes = await envelopeBytes(id, 'call', {}, (body) => {
      const sig = secp256k1.Signature.fromBytes(body.sender_sig, 'compact');
      const n = secp256k1.Point.Fn.ORDER;
      body.sender_sig = new secp256k1.Signature(sig.r, n - sig.s).toBytes('compact');
    });
    verify(bytes, 'call');
  });

  it('refuses DER-encoded ECDSA signatures: the spec encodes r · s in 64 bytes', async () => {
    const id = Secp256k1KeyIdentity.generate();
    const bytes = await envelopeBytes(id, 'call', {}, (body) => {
      body.sender_sig = secp256k1.Signature.fromBytes(body.sender_sig, 'compact').toBytes('der');
    });
    assert.throws(() => verify(bytes, 'call'), InvalidSignatureError);
  });

  it('accepts a chain of two delegations and intersects their targets', async () => {
    const root = Ed25519KeyIdentity.generate();
    const middle = await ECDSAKeyIdentity.generate();
    const session = Secp256k1KeyIdentity.generate();
    const expiration = new Date(Date.now() + 15 * 60 * 1000);
    const first = await DelegationChain.create(root, middle.getPublicKey(), expiration, { targets: [CANISTER_A, CANISTER_B] });
    const second = await DelegationChain.create(middle, session.getPublicKey(), expiration, { previous: first, targets: [CANISTER_A] });
    const identity = DelegationIdentity.fromDelegation(session, second);
    assert.equal(identity.getPrincipal().toText(), root.getPrincipal().toText());

    const { scope } = verify(await envelopeBytes(identity, 'call'), 'call');
    assert.notEqual(scope.targets, 'all');
    assert.deepEqual([...(scope.targets as Set<string>)], [Buffer.from(CANISTER_A.toUint8Array()).toString('hex')]);
    verify(await envelopeBytes(identity, 'query'), 'query');

    // CANISTER_B is in the first delegation's targets but not in the second's.
    const toB = await envelopeBytes(identity, 'call', { canister_id: CANISTER_B });
    assert.throws(() => verify(toB, 'call'), DelegationTargetError);
  });

  it('accepts delegations without targets for any canister', async () => {
    const root = Ed25519KeyIdentity.generate();
    const session = Ed25519KeyIdentity.generate();
    const chain = await DelegationChain.create(root, session.getPublicKey(), new Date(Date.now() + 60_000));
    const identity = DelegationIdentity.fromDelegation(session, chain);
    const { scope } = verify(await envelopeBytes(identity, 'call', { canister_id: CANISTER_B }), 'call');
    assert.equal(scope.targets, 'all');
  });

  it('reports queries-only delegations (permissions = "queries")', async () => {
    const root = Ed25519KeyIdentity.generate();
    const session = Ed25519KeyIdentity.generate();
    const chain = await DelegationChain.create(root, session.getPublicKey(), new Date(Date.now() + 60_000), { permissions: 'queries' });
    const identity = DelegationIdentity.fromDelegation(session, chain);
    const { scope } = verify(await envelopeBytes(identity, 'query'), 'query');
    assert.equal(scope.permissions, 'queries');
  });

  it('refuses a tampered body', async () => {
    const id = Ed25519KeyIdentity.generate();
    const bytes = await envelopeBytes(id, 'call', {}, (body) => {
      body.content = { ...body.content, arg: Uint8Array.from([1, 2, 3]) };
    });
    assert.throws(() => verify(bytes, 'call'), InvalidSignatureError);
  });

  it('refuses a tampered signature', async () => {
    const id = Ed25519KeyIdentity.generate();
    const bytes = await envelopeBytes(id, 'query', {}, (body) => {
      const sig = Uint8Array.from(body.sender_sig as Uint8Array);
      sig[5]! ^= 0x01;
      body.sender_sig = sig;
    });
    assert.throws(() => verify(bytes, 'query'), InvalidSignatureError);
  });

  it('refuses a sender that is not the public key’s self-authenticating id', async () => {
    const id = Ed25519KeyIdentity.generate();
    const other = Ed25519KeyIdentity.generate();
    const bytes = await envelopeBytes(id, 'call', { sender: other.getPrincipal() });
    assert.throws(() => verify(bytes, 'call'), SenderMismatchError);
  });

  it('refuses an expired delegation', async () => {
    const root = Ed25519KeyIdentity.generate();
    const session = Ed25519KeyIdentity.generate();
    const chain = await DelegationChain.create(root, session.getPublicKey(), new Date(Date.now() - 1000));
    const identity = DelegationIdentity.fromDelegation(session, chain);
    const bytes = await envelopeBytes(identity, 'call');
    assert.throws(() => verify(bytes, 'call'), (e: unknown) => e instanceof DelegationExpiredError && /Invalid delegation expiry/.test(e.message));
  });

  it('refuses a delegation signed by the wrong key', async () => {
    const root = Ed25519KeyIdentity.generate();
    const impostor = Ed25519KeyIdentity.generate();
    const session = Ed25519KeyIdentity.generate();
    const forged = await DelegationChain.create(impostor, session.getPublicKey(), new Date(Date.now() + 60_000));
    const chain = DelegationChain.fromDelegations(forged.delegations, root.getPublicKey().toDer());
    const identity = DelegationIdentity.fromDelegation(session, chain);
    const bytes = await envelopeBytes(identity, 'call');
    assert.throws(() => verify(bytes, 'call'), InvalidDelegationError);
  });

  it('refuses cyclic delegation chains', async () => {
    const root = Ed25519KeyIdentity.generate();
    const session = Ed25519KeyIdentity.generate();
    const exp = new Date(Date.now() + 60_000);
    const first = await DelegationChain.create(root, session.getPublicKey(), exp);
    const back = await DelegationChain.create(session, root.getPublicKey(), exp, { previous: first });
    const identity = DelegationIdentity.fromDelegation(root, back);
    const bytes = await envelopeBytes(identity, 'call');
    assert.throws(() => verify(bytes, 'call'), (e: unknown) => e instanceof InvalidDelegationError && /cycle/.test(e.message));
  });

  it('refuses chains of more than 20 delegations', async () => {
    const keys = Array.from({ length: 22 }, () => Ed25519KeyIdentity.generate());
    const exp = new Date(Date.now() + 60_000);
    let chain: DelegationChain | undefined;
    for (let i = 0; i < 21; i++) {
      chain = await DelegationChain.create(keys[i]!, keys[i + 1]!.getPublicKey(), exp, chain ? { previous: chain } : {});
    }
    const identity = DelegationIdentity.fromDelegation(keys[21]!, chain!);
    const bytes = await envelopeBytes(identity, 'call');
    assert.throws(() => verify(bytes, 'call'), (e: unknown) => e instanceof InvalidDelegationError && /too long/.test(e.message));
  });

  it('refuses an expired request and one too far in the future', async () => {
    const id = Ed25519KeyIdentity.generate();
    const expired = await envelopeBytes(id, 'call', { ingress_expiry: nowNs() - MINUTE_NS });
    assert.throws(
      () => verify(expired, 'call'),
      (e: unknown) => e instanceof IngressExpiryError && e.status === 400 && e.message.startsWith('Invalid request expiry: '),
    );
    const future = await envelopeBytes(id, 'query', { ingress_expiry: nowNs() + 6n * MINUTE_NS });
    assert.throws(() => verify(future, 'query'), IngressExpiryError);
    // Within MAX_INGRESS_TTL plus the permitted drift (30 s): accepted.
    verify(await envelopeBytes(id, 'call', { ingress_expiry: nowNs() + 5n * MINUTE_NS + 20_000_000_000n }), 'call');
  });

  it('lets anonymous queries and read_state requests through with any expiry, not calls', () => {
    const anonymous = Principal.anonymous();
    const old = nowNs() - 60n * MINUTE_NS;
    verify(Cbor.encode({ content: content('query', anonymous, { ingress_expiry: old }) }), 'query');
    verify(Cbor.encode({ content: content('read_state', anonymous, { ingress_expiry: old }) }), 'read_state');
    assert.throws(() => verify(Cbor.encode({ content: content('call', anonymous, { ingress_expiry: old }) }), 'call'), IngressExpiryError);
  });

  it('refuses signatures on anonymous requests and unsigned non-anonymous ones', async () => {
    const id = Ed25519KeyIdentity.generate();
    const signedAnonymous = await envelopeBytes(id, 'call', { sender: Principal.anonymous() });
    assert.throws(() => verify(signedAnonymous, 'call'), AnonymousSignatureError);
    const unsigned = Cbor.encode({ content: content('call', id.getPrincipal()) });
    assert.throws(() => verify(unsigned, 'call'), MissingSignatureError);
  });

  it('refuses a canister-signature key whose signature is not a canister signature', () => {
    const oid = Uint8Array.from([0x30, 0x0c, 0x06, 0x0a, 0x2b, 0x06, 0x01, 0x04, 0x01, 0x83, 0xb8, 0x43, 0x01, 0x02]);
    const canister = CANISTER_A.toUint8Array();
    const der = wrapDER(Uint8Array.from([canister.length, ...canister, 1, 2, 3]), oid);
    const sender = Principal.selfAuthenticating(der);
    const bytes = Cbor.encode({ content: content('call', sender), sender_pubkey: der, sender_sig: new Uint8Array(100) });
    assert.throws(
      () => verify(bytes, 'call'),
      (e: unknown) => e instanceof InvalidSignatureError && /malformed canister signature/.test(e.message),
    );
  });

  it('refuses sender_info on anonymous requests and under keys that are not canister-signature keys', async () => {
    const senderInfo = { info: Uint8Array.of(1), signer: CANISTER_A.toUint8Array(), sig: Uint8Array.of(2) };
    const anonymous = Cbor.encode({ content: content('query', Principal.anonymous(), { sender_info: senderInfo }) });
    assert.throws(() => verify(anonymous, 'query'), (e: unknown) => e instanceof InvalidSenderInfoError && /anonymous/.test(e.message));
    const signed = await envelopeBytes(Ed25519KeyIdentity.generate(), 'call', { sender_info: senderInfo });
    assert.throws(() => verify(signed, 'call'), (e: unknown) => e instanceof InvalidSenderInfoError && /must be a canister signature public key, not ed25519/.test(e.message));
  });

  it('refuses malformed public keys', () => {
    const der = Uint8Array.from([0x30, 0x03, 0x02, 0x01, 0x00]);
    const sender = Principal.selfAuthenticating(der);
    const bytes = Cbor.encode({ content: content('call', sender), sender_pubkey: der, sender_sig: new Uint8Array(64) });
    assert.throws(() => verify(bytes, 'call'), InvalidPublicKeyError);
  });
});
