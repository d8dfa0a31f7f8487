// Signature schemes beyond plain keys, through the real IC agent against a local node:
// canister signatures (a login as with Internet Identity: a canister signs a delegation to a
// session key by certifying it, the agent then signs with the session key), attributes that
// canister signs about the user (`sender_info`, read by the callee as caller info) and WebAuthn
// (passkeys: ECDSA P-256 and RSA assertions over DER-wrapped COSE keys).

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, generateKeyPairSync, randomBytes, sign, type KeyObject } from 'node:crypto';
import * as cbor from '@dfinity/cbor';
import { Actor, Cbor, HttpAgent, SignIdentity, requestIdOf, type PublicKey, type Signature } from '@icp-sdk/core/agent';
import { DER_COSE_OID, wrapDER } from '@icp-sdk/core/agent';
import { IDL } from '@icp-sdk/core/candid';
import { AttributesIdentity, Delegation, DelegationChain, DelegationIdentity, Ed25519KeyIdentity } from '@icp-sdk/core/identity';
import { Principal } from '@icp-sdk/core/principal';
import { Node } from '../replica/src/node/index.js';
import { defaultSettings, managementCanister } from '../replica/src/cli/management.js';
import { hashTreeToCbor, labeled, leaf, fork, reconstruct, type HashTree } from '../replica/src/certification/index.js';
import { compileMotoko } from './support/motoko.js';
import { wat } from './support/wat.js';
import { certifiedIdl, whoamiIdl, type Certified, type Whoami } from './support/interfaces.js';

/** AlgorithmIdentifier of canister signature keys: SEQUENCE { OID 1.3.6.1.4.1.56387.1.2 }. */
const CANISTER_SIG_OID = Uint8Array.from([0x30, 0x0c, 0x06, 0x0a, 0x2b, 0x06, 0x01, 0x04, 0x01, 0x83, 0xb8, 0x43, 0x01, 0x02]);
const DELEGATION_DOMAIN = new TextEncoder().encode('\x1Aic-request-auth-delegation');
const SENDER_INFO_DOMAIN = new TextEncoder().encode('\x0Eic-sender-info');

/** A query that replies with the caller info it is given: data · signer. */
const CALLER_INFO_WAT = `(module
  (import "ic0" "msg_caller_info_data_size" (func $data_size (result i32)))
  (import "ic0" "msg_caller_info_data_copy" (func $data_copy (param i32 i32 i32)))
  (import "ic0" "msg_caller_info_signer_size" (func $signer_size (result i32)))
  (import "ic0" "msg_caller_info_signer_copy" (func $signer_copy (param i32 i32 i32)))
  (import "ic0" "msg_reply_data_append" (func $append (param i32 i32)))
  (import "ic0" "msg_reply" (func $reply))
  (memory 1)
  (func $info (local $d i32) (local $s i32)
    (local.set $d (call $data_size))
    (call $data_copy (i32.const 0) (i32.const 0) (local.get $d))
    (local.set $s (call $signer_size))
    (call $signer_copy (local.get $d) (i32.const 0) (local.get $s))
    (call $append (i32.const 0) (i32.add (local.get $d) (local.get $s)))
    (call $reply))
  (export "canister_query info" (func $info)))`;
const emptyArg = () => new Uint8Array(IDL.encode([], []));
const attributesIdl: IDL.InterfaceFactory = ({ IDL }) => IDL.Service({ attributes: IDL.Func([], [IDL.Opt(IDL.Vec(IDL.Nat8))], []) });
const sha256 = (b: Uint8Array | string) => new Uint8Array(createHash('sha256').update(b).digest());
const concat = (...parts: Uint8Array[]) => new Uint8Array(Buffer.concat(parts));

/** The canister-signature public key of `canister` with `seed` (spec, "Canister signatures"). */
function canisterSigKey(canister: Principal, seed: Uint8Array): Uint8Array {
  const id = canister.toUint8Array();
  return wrapDER(concat(Uint8Array.of(id.length), id, seed), CANISTER_SIG_OID);
}

/** The tree a signing canister certifies: /sig/<sha256(seed)>/<sha256(message)> = "". */
function sigTree(seed: Uint8Array, messages: readonly Uint8Array[]): HashTree {
  const leaves = messages
    .map((m) => sha256(m))
    .sort((a, b) => Buffer.compare(a, b))
    .map((h) => labeled(h, leaf(new Uint8Array(0))));
  return labeled('sig', labeled(sha256(seed), leaves.reduce((a, b) => fork(a, b))));
}

function canisterSignature(certificate: Uint8Array, tree: HashTree): Uint8Array {
  return cbor.encodeWithSelfDescribedTag({ certificate, tree: hashTreeToCbor(tree) } as never);
}

/**
 * A WebAuthn authenticator in software: what a browser's passkey produces for the agent
 * (authenticator data, client data whose challenge is the payload, a signature over both).
 */
class PasskeyIdentity extends SignIdentity {
  readonly #der: Uint8Array;
  constructor(
    readonly privateKey: KeyObject,
    readonly cose: Uint8Array,
    readonly challengeOf: (blob: Uint8Array) => string = (blob) => Buffer.from(blob).toString('base64url'),
  ) {
    super();
    this.#der = wrapDER(cose, DER_COSE_OID);
  }

  static p256(): PasskeyIdentity {
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const jwk = publicKey.export({ format: 'jwk' });
    const x = Buffer.from(jwk.x!, 'base64url');
    const y = Buffer.from(jwk.y!, 'base64url');
    // {1: 2 (EC2), 3: -7 (ES256), -1: 1 (P-256), -2: x, -3: y}
    return new PasskeyIdentity(privateKey, concat(Uint8Array.from([0xa5, 0x01, 0x02, 0x03, 0x26, 0x20, 0x01, 0x21, 0x58, 0x20]), x, Uint8Array.of(0x22, 0x58, 0x20), y));
  }

  static rsa(): PasskeyIdentity {
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const jwk = publicKey.export({ format: 'jwk' });
    const n = Buffer.from(jwk.n!, 'base64url');
    const e = Buffer.from(jwk.e!, 'base64url');
    // {1: 3 (RSA), 3: -257 (RS256), -1: n, -2: e}
    return new PasskeyIdentity(
      privateKey,
      concat(Uint8Array.from([0xa4, 0x01, 0x03, 0x03, 0x39, 0x01, 0x00, 0x20, 0x59, n.length >> 8, n.length & 0xff]), n, Uint8Array.of(0x21, 0x40 | e.length), e),
    );
  }

  getPublicKey(): PublicKey {
    const der = this.#der;
    return { toDer: () => der as never, derKey: der as never, rawKey: this.cose as never };
  }

  async sign(blob: Uint8Array): Promise<Signature> {
    const authenticatorData = concat(sha256('localhost'), Uint8Array.of(0x05, 0, 0, 0, 1)); // rpIdHash · flags (UP, UV) · counter
    const clientDataJson = JSON.stringify({ type: 'webauthn.get', challenge: this.challengeOf(blob), origin: 'https://localhost' });
    const signature = sign('sha256', concat(authenticatorData, sha256(clientDataJson)), this.privateKey);
    return Cbor.encode({ authenticator_data: authenticatorData, client_data_json: clientDataJson, signature: new Uint8Array(signature) }) as Signature;
  }
}

for (const rootSubnet of [true, false]) {
  describe(`signature schemes against a ${rootSubnet ? 'root' : 'delegated'} subnet`, () => {
    let node: Node;
    let agent: HttpAgent;
    let whoamiId: Principal;
    let signer: Principal;
    let signerActor: Certified;
    let attributesId: Principal;
    let callerInfoId: Principal;

    before(async () => {
      const [whoami, certified] = await Promise.all([compileMotoko('whoami'), compileMotoko('certified')]);
      node = await Node.start({ port: 0, roundIntervalMs: 20, rootSubnet });
      agent = await HttpAgent.create({ host: node.url, shouldFetchRootKey: true, identity: Ed25519KeyIdentity.generate() });
      const ic = managementCanister(agent);
      const install = async (wasm: Uint8Array, env: [string, string][] = []) => {
        const settings = defaultSettings({ environment_variables: [env.map(([name, value]) => ({ name, value }))] });
        const { canister_id } = await ic.provisional_create_canister_with_cycles({ amount: [10n ** 13n], settings: [settings], specified_id: [], sender_canister_version: [] });
        await ic.install_code({ mode: { install: null }, canister_id, wasm_module: wasm, arg: emptyArg(), sender_canister_version: [] });
        return canister_id;
      };
      [whoamiId, signer] = await Promise.all([install(whoami.wasm), install(certified.wasm)]);
      const [attributes, callerInfo] = await Promise.all([compileMotoko('attributes'), wat(CALLER_INFO_WAT)]);
      [attributesId, callerInfoId] = await Promise.all([
        install(attributes.wasm, [['trusted_attribute_signers', signer.toText()]]),
        install(callerInfo),
      ]);
      signerActor = Actor.createActor<Certified>(certifiedIdl, { agent, canisterId: signer });
    });

    after(async () => {
      await node?.close();
    });

    /**
     * What Internet Identity does at login: certify a delegation from the user's canister key
     * (signer canister, seed) to a session key, then hand out the certificate as its signature.
     */
    async function login(seed: Uint8Array, session: Ed25519KeyIdentity, alsoSign: Uint8Array[] = []) {
      const delegation = new Delegation(session.getPublicKey().toDer(), BigInt(Date.now() + 10 * 60_000) * 1_000_000n);
      const message = concat(DELEGATION_DOMAIN, requestIdOf({ ...delegation }));
      const tree = sigTree(seed, [message, ...alsoSign]);
      await signerActor.set(reconstruct(tree));
      const { certificate } = await signerActor.get();
      assert.equal(certificate.length, 1, 'a query returns the data certificate');
      const userKey = canisterSigKey(signer, seed);
      const signature = canisterSignature(new Uint8Array(certificate[0]!), tree);
      const chain = DelegationChain.fromDelegations([{ delegation, signature: signature as Signature }], userKey as never);
      return { identity: DelegationIdentity.fromDelegation(session, chain), userKey, delegation, message, tree, certificate: new Uint8Array(certificate[0]!) };
    }

    it('accepts a delegation signed by a canister (an Internet Identity login): updates and queries as the canister-key principal', async () => {
      const seed = randomBytes(16);
      const { identity, userKey } = await login(seed, Ed25519KeyIdentity.generate());
      const user = Principal.selfAuthenticating(userKey);
      assert.equal(identity.getPrincipal().toText(), user.toText());
      const userAgent = await HttpAgent.create({ host: node.url, shouldFetchRootKey: true, identity });
      const actor = Actor.createActor<Whoami>(whoamiIdl, { agent: userAgent, canisterId: whoamiId });
      assert.equal((await actor.whoami()).toText(), user.toText());
      assert.equal((await actor.whoami_query()).toText(), user.toText());
      // The signature is verified once and then served from the cache: a second session request.
      assert.equal((await actor.whoami()).toText(), user.toText());
    });

    it('refuses canister signatures whose tree, certificate or canister do not match', async () => {
      const seed = randomBytes(16);
      const session = Ed25519KeyIdentity.generate();
      const good = await login(seed, session);
      const call = async (chain: DelegationChain) => {
        // No retries: a refused signature stays refused.
        const userAgent = await HttpAgent.create({ host: node.url, shouldFetchRootKey: true, retryTimes: 0, identity: DelegationIdentity.fromDelegation(session, chain) });
        return Actor.createActor<Whoami>(whoamiIdl, { agent: userAgent, canisterId: whoamiId }).whoami_query();
      };
      const withSignature = (signature: Uint8Array, key: Uint8Array = good.userKey) =>
        DelegationChain.fromDelegations([{ delegation: good.delegation, signature: signature as Signature }], key as never);

      // A tree that signs another message (its root hash is not the certified data either).
      const otherTree = sigTree(seed, [randomBytes(32)]);
      await assert.rejects(call(withSignature(canisterSignature(good.certificate, otherTree))), /\/sig\/<sha256\(seed\)>\/<sha256\(message\)>/);
      // The right path, but the certificate certifies another tree.
      const wider = sigTree(seed, [good.message, randomBytes(32)]);
      await assert.rejects(call(withSignature(canisterSignature(good.certificate, wider))), /certified data in the certificate is not the root hash/);
      // Another seed: another public key, whose /sig/<seed> is not in the tree.
      const otherSeedKey = canisterSigKey(signer, randomBytes(16));
      await assert.rejects(call(withSignature(canisterSignature(good.certificate, good.tree), otherSeedKey)), /\/sig\/<sha256\(seed\)>/);
      // The key names another canister: its certified data is not in the certificate.
      const otherCanisterKey = canisterSigKey(whoamiId, seed);
      await assert.rejects(call(withSignature(canisterSignature(good.certificate, good.tree), otherCanisterKey)), /certified data/);
      // A tampered certificate signature.
      const decoded = cbor.decode(good.certificate) as Record<string, unknown>;
      const tampered = new Uint8Array(decoded['signature'] as Uint8Array);
      tampered[5] ^= 1;
      const badCert = cbor.encodeWithSelfDescribedTag({ ...decoded, signature: tampered } as never);
      await assert.rejects(call(withSignature(canisterSignature(badCert, good.tree))), /certificate is not valid/);
      // Not CBOR at all.
      await assert.rejects(call(withSignature(randomBytes(40))), /malformed canister signature/);
      // The good one still works.
      assert.equal((await call(withSignature(canisterSignature(good.certificate, good.tree)))).toText(), Principal.selfAuthenticating(good.userKey).toText());
    });

    it('hands attributes the login canister signed (sender_info) to the callee as caller info, in updates and queries', async () => {
      const seed = randomBytes(16);
      const data = new TextEncoder().encode('email=alice@example.org');
      const infoMessage = concat(SENDER_INFO_DOMAIN, data);
      const session = Ed25519KeyIdentity.generate();
      const { identity, certificate, tree } = await login(seed, session, [infoMessage]);
      const withAttributes = (signature: Uint8Array, signerId: Principal = signer, inner: SignIdentity = identity) =>
        HttpAgent.create({
          host: node.url, shouldFetchRootKey: true, retryTimes: 0,
          identity: new AttributesIdentity({ inner, attributes: { data, signature }, signer: { canisterId: signerId } }),
        });
      const agentWith = await withAttributes(canisterSignature(certificate, tree));
      // Motoko's CallerAttributes: the signer is trusted by the canister's environment variable.
      const attributes = Actor.createActor<{ attributes(): Promise<[] | [Uint8Array]> }>(attributesIdl, { agent: agentWith, canisterId: attributesId });
      assert.deepEqual(await attributes.attributes(), [data]);
      const expected = concat(data, signer.toUint8Array());
      const query = await agentWith.query(callerInfoId, { methodName: 'info', arg: new Uint8Array(0) });
      assert.equal(query.status, 'replied');
      assert.deepEqual(new Uint8Array((query as { reply: { arg: Uint8Array } }).reply.arg), expected);

      // Without attributes the callee sees none.
      const plain = await HttpAgent.create({ host: node.url, shouldFetchRootKey: true, identity });
      assert.deepEqual(await Actor.createActor<{ attributes(): Promise<[] | [Uint8Array]> }>(attributesIdl, { agent: plain, canisterId: attributesId }).attributes(), []);
      const none = await plain.query(callerInfoId, { methodName: 'info', arg: new Uint8Array(0) });
      assert.deepEqual(new Uint8Array((none as { reply: { arg: Uint8Array } }).reply.arg), new Uint8Array(0));

      // Refused: another signer than the key's canister, a signature over other data, a plain key.
      const info = (a: HttpAgent) => a.query(callerInfoId, { methodName: 'info', arg: new Uint8Array(0) });
      await assert.rejects(info(await withAttributes(canisterSignature(certificate, tree), whoamiId)), /Invalid sender_info: signer .* does not match canister ID/);
      const other = await login(seed, session, [randomBytes(32)]);
      await assert.rejects(info(await withAttributes(canisterSignature(other.certificate, other.tree))), /Invalid sender_info: signature verification failed/);
      await assert.rejects(info(await withAttributes(canisterSignature(certificate, tree), signer, Ed25519KeyIdentity.generate())), /sender_pubkey must be a canister signature public key/);
    });

    it('accepts WebAuthn (passkey) signatures with P-256 and RSA keys, alone and delegating to a session key', async () => {
      for (const passkey of [PasskeyIdentity.p256(), PasskeyIdentity.rsa()]) {
        const direct = await HttpAgent.create({ host: node.url, shouldFetchRootKey: true, identity: passkey });
        const actor = Actor.createActor<Whoami>(whoamiIdl, { agent: direct, canisterId: whoamiId });
        assert.equal((await actor.whoami()).toText(), passkey.getPrincipal().toText());
        assert.equal((await actor.whoami_query()).toText(), passkey.getPrincipal().toText());
        const session = Ed25519KeyIdentity.generate();
        const chain = await DelegationChain.create(passkey, session.getPublicKey(), new Date(Date.now() + 60_000));
        const delegated = await HttpAgent.create({ host: node.url, shouldFetchRootKey: true, identity: DelegationIdentity.fromDelegation(session, chain) });
        assert.equal((await Actor.createActor<Whoami>(whoamiIdl, { agent: delegated, canisterId: whoamiId }).whoami()).toText(), passkey.getPrincipal().toText());
      }
    });

    it('refuses WebAuthn assertions whose challenge is not the payload or whose signature is wrong', async () => {
      const genuine = PasskeyIdentity.p256();
      const wrongChallenge = new PasskeyIdentity(genuine.privateKey, genuine.cose, () => Buffer.from(randomBytes(32)).toString('base64url'));
      const other = PasskeyIdentity.p256();
      const wrongKey = new PasskeyIdentity(other.privateKey, genuine.cose);
      for (const [identity, why] of [
        [wrongChallenge, /challenge is not the base64url encoding/],
        [wrongKey, /WebAuthn ECDSA P-256 signature does not verify/],
      ] as const) {
        const a = await HttpAgent.create({ host: node.url, shouldFetchRootKey: true, retryTimes: 0, identity });
        await assert.rejects(Actor.createActor<Whoami>(whoamiIdl, { agent: a, canisterId: whoamiId }).whoami_query(), why);
      }
    });
  });
}
