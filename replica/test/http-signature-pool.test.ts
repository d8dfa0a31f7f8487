// The signature pool: the same verdicts as checking on the HTTP thread (first failure of a chain
// included), node signatures equal to the node key's own, and no job lost when a thread dies.

import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createPublicKey, verify as verifyNative } from 'node:crypto';
import { createHash } from 'node:crypto';
import * as cbor from '@dfinity/cbor';
import { Cbor, requestIdOf, wrapDER } from '@icp-sdk/core/agent';
import { DelegationChain, DelegationIdentity, ECDSAKeyIdentity, Ed25519KeyIdentity } from '@icp-sdk/core/identity';
import { Secp256k1KeyIdentity } from '@icp-sdk/core/identity/secp256k1';
import { Principal } from '@icp-sdk/core/principal';
import { authenticate, authenticateWith } from '../src/http/auth.js';
import { decodeEnvelope } from '../src/http/envelope.js';
import { SignaturePool, nextInlineShare } from '../src/http/signature-pool.js';
import { parseUserPublicKey, type VerifiableKey } from '../src/http/public-key.js';
import { NodeSigningKey } from '../src/node/keys.js';
import {
  SecretKeySigner, buildLabeledTree, createCertificate, encodeNat, generateKey, hashTreeToCbor, labeled, leaf, reconstruct, type HashTree,
} from '../src/certification/index.js';

const CANISTER = Principal.fromUint8Array(Uint8Array.from([0, 0, 0, 0, 0, 0, 0, 1, 1, 1]));
const nowNs = () => BigInt(Date.now()) * 1_000_000n;
const seed = Uint8Array.from({ length: 32 }, (_, i) => i + 1);

type AnyIdentity = { getPrincipal(): Principal; transformRequest(request: unknown): Promise<unknown> };

/** A query signed as HttpAgent signs it, optionally tampered with after signing. */
async function query(identity: AnyIdentity, tamper?: (body: Record<string, any>) => void): Promise<Uint8Array> {
  const body = {
    request_type: 'query', canister_id: CANISTER, method_name: 'get', arg: new Uint8Array(0),
    sender: identity.getPrincipal(), ingress_expiry: nowNs() + 60_000_000_000n,
  };
  const transformed = (await identity.transformRequest({ request: {}, endpoint: 'read', body })) as { body: Record<string, any> };
  tamper?.(transformed.body);
  return Cbor.encode(transformed.body);
}

const flip = (bytes: Uint8Array, at: number) => {
  const out = Uint8Array.from(bytes);
  out[at]! ^= 1;
  return out;
};

/** Good and bad requests of every scheme, and chains with more than one problem. */
async function requests(): Promise<[string, Uint8Array][]> {
  const ed = Ed25519KeyIdentity.generate();
  const k1 = Secp256k1KeyIdentity.generate();
  const p256 = await ECDSAKeyIdentity.generate();
  const expiration = new Date(Date.now() + 60_000);
  const root = Ed25519KeyIdentity.generate();
  const middle = Ed25519KeyIdentity.generate();
  const session = Ed25519KeyIdentity.generate();
  const first = await DelegationChain.create(root, middle.getPublicKey(), expiration);
  const chain = await DelegationChain.create(middle, session.getPublicKey(), expiration, { previous: first });
  const delegated = DelegationIdentity.fromDelegation(session, chain);
  return [
    ['ed25519', await query(ed)],
    ['secp256k1', await query(k1)],
    ['p-256', await query(p256)],
    ['ed25519, bad signature', await query(ed, (b) => (b.sender_sig = flip(b.sender_sig, 3)))],
    ['secp256k1, bad signature', await query(k1, (b) => (b.sender_sig = flip(b.sender_sig, 40)))],
    ['p-256, bad signature', await query(p256, (b) => (b.sender_sig = flip(b.sender_sig, 10)))],
    ['ed25519, short signature', await query(ed, (b) => (b.sender_sig = b.sender_sig.slice(0, 63)))],
    ['delegated', await query(delegated)],
    ['delegated, bad request signature', await query(delegated, (b) => (b.sender_sig = flip(b.sender_sig, 0)))],
    ['delegated, second delegation bad', await query(delegated, (b) => {
      b.sender_delegation[1].signature = flip(b.sender_delegation[1].signature, 7);
    })],
    ['delegated, both delegations and the request bad', await query(delegated, (b) => {
      b.sender_delegation[0].signature = flip(b.sender_delegation[0].signature, 7);
      b.sender_delegation[1].signature = flip(b.sender_delegation[1].signature, 7);
      b.sender_sig = flip(b.sender_sig, 0);
    })],
    ['delegated, second delegation bad and its key malformed', await query(delegated, (b) => {
      b.sender_delegation[0].signature = flip(b.sender_delegation[0].signature, 1);
      b.sender_delegation[1].delegation.pubkey = Uint8Array.of(1, 2, 3);
    })],
  ];
}

/** The verdict as data: the scope, or the error's class and message. */
async function verdict(run: () => unknown): Promise<string> {
  try {
    return JSON.stringify(await run(), (_, v) => (v instanceof Set ? [...v] : v));
  } catch (e) {
    return `${(e as Error).name}: ${(e as Error).message}`;
  }
}

describe('signature pool', () => {
  const pool = new SignaturePool({ threads: 2, signingSeed: seed });
  const inline = new SignaturePool({ threads: 0, signingSeed: seed });
  after(() => Promise.all([pool.close(), inline.close()]));

  it('gives the verdict of checking on this thread, the first failure of a chain included', async () => {
    await pool.started();
    const now = nowNs();
    for (const [name, bytes] of await requests()) {
      const here = await verdict(() => authenticate(decodeEnvelope(bytes, 'query'), { now }));
      for (const p of [pool, inline]) {
        assert.equal(await verdict(() => authenticateWith(decodeEnvelope(bytes, 'query'), { now }, p.verify)), here, name);
      }
    }
  });

  it('signs as the node key does, many at once', async () => {
    const key = new NodeSigningKey(seed);
    const publicKey = createPublicKey({ key: Buffer.from(key.publicKeyDer), format: 'der', type: 'spki' });
    const messages = Array.from({ length: 200 }, (_, i) => Uint8Array.from({ length: 1 + (i % 50) }, (_, j) => i * j));
    for (const p of [pool, inline]) {
      const signatures = await Promise.all(messages.map((m) => p.sign(m)));
      signatures.forEach((s, i) => {
        assert.deepEqual(s, key.sign(messages[i]!));
        assert.ok(verifyNative(null, messages[i]!, publicKey, s));
      });
    }
  });

  it('checks canister signatures on its threads with the verdict, and the problem, of checking here', async () => {
    await pool.started();
    const now = nowNs();
    const root = generateKey();
    const rootKey = root.publicKey;
    const seedOfKey = Uint8Array.of(7, 7);
    const signer = CANISTER.toUint8Array();
    const der = wrapDER(Uint8Array.from([signer.length, ...signer, ...seedOfKey]), Uint8Array.from([0x30, 0x0c, 0x06, 0x0a, 0x2b, 0x06, 0x01, 0x04, 0x01, 0x83, 0xb8, 0x43, 0x01, 0x02]));
    const sha256 = (b: Uint8Array) => new Uint8Array(createHash('sha256').update(b).digest());
    const content = {
      request_type: 'query', canister_id: CANISTER, method_name: 'get', arg: new Uint8Array(0),
      sender: Principal.selfAuthenticating(der), ingress_expiry: now + 60_000_000_000n,
    };
    const message = Uint8Array.from([...new TextEncoder().encode('\x0Aic-request'), ...requestIdOf(content)]);
    const treeFor = (m: Uint8Array): HashTree => labeled('sig', labeled(sha256(seedOfKey), labeled(sha256(m), leaf(new Uint8Array(0)))));
    const certify = (tree: HashTree, secret = root.secretKey) => createCertificate({
      tree: buildLabeledTree(new Map<string, unknown>([
        ['canister', new Map([[signer, new Map([['certified_data', reconstruct(tree)]])]])],
        ['time', encodeNat(now)],
      ]) as never),
      signer: new SecretKeySigner(secret),
    });
    const envelope = (signature: Uint8Array) => Cbor.encode({ content, sender_pubkey: der, sender_sig: signature });
    const signature = (certificate: Uint8Array, tree: HashTree) => cbor.encodeWithSelfDescribedTag({ certificate, tree: hashTreeToCbor(tree) } as never);
    const good = treeFor(message);
    const cases: [string, Uint8Array][] = [
      ['valid', envelope(signature(certify(good), good))],
      ['a tree for another message', envelope(signature(certify(treeFor(Uint8Array.of(1))), treeFor(Uint8Array.of(1))))],
      ['certified under another root key', envelope(signature(certify(good, generateKey().secretKey), good))],
      ['not CBOR', envelope(Uint8Array.of(1, 2, 3))],
    ];
    for (const [name, bytes] of cases) {
      const here = await verdict(() => authenticate(decodeEnvelope(bytes, 'query'), { now, rootKey }));
      if (name === 'valid') assert.match(here, /"targets":"all"/);
      else assert.match(here, /^InvalidSignatureError: Invalid signature: sender_sig: /, name);
      for (const p of [pool, inline]) {
        assert.equal(await verdict(() => authenticateWith(decodeEnvelope(bytes, 'query'), { now, rootKey }, p.verify, p.verifyCanister)), here, name);
      }
    }
  });

  it('finishes the jobs of a thread that dies on this thread', async () => {
    const p = new SignaturePool({ threads: 1, signingSeed: seed });
    try {
      const key = new NodeSigningKey(seed);
      // Once the thread is up, take it down with work outstanding.
      await p.started();
      const messages = Array.from({ length: 50 }, (_, i) => Uint8Array.of(i));
      const signed = Promise.all(messages.map((m) => p.sign(m)));
      await p.threads[0]!.terminate();
      assert.deepEqual(await signed, messages.map((m) => key.sign(m)));
      const now = nowNs();
      const [, good] = (await requests())[0]!;
      assert.match(await verdict(() => authenticateWith(decodeEnvelope(good, 'query'), { now }, p.verify)), /"targets":"all"/);
    } finally {
      await p.close();
    }
  });

  it('signs a share of the responses on the calling thread while its threads are the busier side, and stops when they are not', async () => {
    const p = new SignaturePool({ threads: 1, signingSeed: seed });
    try {
      await p.started();
      const node = new NodeSigningKey(seed);
      const user = new NodeSigningKey(Uint8Array.from({ length: 32 }, (_, i) => 100 + i));
      const message = Uint8Array.of(1, 2, 3);
      const key = parseUserPublicKey(user.publicKeyDer);
      assert.equal(key.scheme, 'ed25519');
      const check = { key: key as VerifiableKey, message, signature: user.sign(message) };
      // The thread verifies while this one waits: the share rises.
      for (let i = 0; i < 300 && p.inlineShare === 0; i++) {
        assert.ok((await p.verify(Array.from({ length: 100 }, () => check))).every(Boolean));
      }
      assert.ok(p.inlineShare > 0, 'the calling thread takes a share of the signing');
      const messages = Array.from({ length: 100 }, (_, i) => Uint8Array.of(i, 7));
      assert.deepEqual(await Promise.all(messages.map((m) => p.sign(m))), messages.map((m) => node.sign(m)));
      // This thread busy, the signature thread idle: the share goes back to 0.
      for (let i = 0; i < 300 && p.inlineShare > 0; i++) {
        const until = performance.now() + 10;
        while (performance.now() < until);
        await new Promise((resolve) => setImmediate(resolve));
      }
      assert.equal(p.inlineShare, 0);
    } finally {
      await p.close();
    }
  });
});

describe('share of responses signed on the calling thread', () => {
  it('steps towards the less busy side, within 0..1, and stays when both are about as busy', () => {
    assert.equal(nextInlineShare(0, 0.9, 0.5), 0.1);
    assert.equal(nextInlineShare(0.95, 1, 0.2), 1);
    assert.equal(nextInlineShare(0.5, 0.3, 0.9), 0.25);
    assert.equal(nextInlineShare(0.1, 0, 1), 0);
    assert.equal(nextInlineShare(0.4, 0.8, 0.78), 0.4);
    assert.equal(nextInlineShare(0, 0.1, 0.1), 0);
  });
});
