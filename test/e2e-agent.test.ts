// The real IC agent (`@icp-sdk/core`, unmodified) against a local node over HTTP: canister
// creation and installation through the management canister, update calls verified from
// certificates, queries with node signatures verified, the v4/v3 synchronous and v2 asynchronous
// call endpoints, every kind of identity the agent ships, read_state, and a certified variable
// checked with the agent's own certificate verification.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import {
  Actor,
  Certificate,
  CertifiedRejectErrorCode,
  Cbor,
  CanisterStatus,
  HttpAgent,
  RejectError,
  UncertifiedRejectUpdateErrorCode,
  lookupResultToBuffer,
  pollForResponse,
  requestIdOf,
  type ActorSubclass,
  type SignIdentity,
} from '@icp-sdk/core/agent';
import { IDL } from '@icp-sdk/core/candid';
import { DelegationChain, DelegationIdentity, ECDSAKeyIdentity, Ed25519KeyIdentity } from '@icp-sdk/core/identity';
import { Secp256k1KeyIdentity } from '@icp-sdk/core/identity/secp256k1';
import { Principal } from '@icp-sdk/core/principal';
import { sha256 } from '@noble/hashes/sha2.js';
import { Node } from '../replica/src/node/index.js';
import { defaultSettings, managementCanister, type ManagementCanister } from '../replica/src/cli/management.js';
import { compileMotoko } from './support/motoko.js';
import { certifiedIdl, whoamiIdl, type Certified, type Whoami } from './support/interfaces.js';

const utf8 = (s: string) => new TextEncoder().encode(s);
const emptyArg = () => new Uint8Array(IDL.encode([], []));

interface Counter {
  inc(): Promise<bigint>;
  add(n: bigint): Promise<bigint>;
  get(): Promise<bigint>;
}
const counterIdl: IDL.InterfaceFactory = ({ IDL }) =>
  IDL.Service({ inc: IDL.Func([], [IDL.Nat], []), add: IDL.Func([IDL.Nat], [IDL.Nat], []), get: IDL.Func([], [IDL.Nat], ['query']) });

describe('the IC agent against a local node', () => {
  let node: Node;
  let identity: Ed25519KeyIdentity;
  let agent: HttpAgent;
  let ic: ActorSubclass<ManagementCanister>;
  const wasm: Record<string, Uint8Array> = {};

  async function install(name: string, who: HttpAgent = agent): Promise<Principal> {
    const mgmt = who === agent ? ic : managementCanister(who);
    const { canister_id } = await mgmt.provisional_create_canister_with_cycles({
      amount: [10_000_000_000_000n],
      settings: [],
      specified_id: [],
      sender_canister_version: [],
    });
    await mgmt.install_code({ mode: { install: null }, canister_id, wasm_module: wasm[name]!, arg: emptyArg(), sender_canister_version: [] });
    return canister_id;
  }

  /** A signed call envelope posted by hand, for the endpoints the agent does not pick itself. */
  async function rawCall(
    version: 2 | 3 | 4,
    who: SignIdentity,
    canisterId: Principal,
    method: string,
    arg: Uint8Array,
    nonce: Uint8Array = randomBytes(8),
    expiry = BigInt(Date.now() + 120_000) * 1_000_000n,
  ) {
    const content = {
      request_type: 'call',
      canister_id: canisterId,
      method_name: method,
      arg,
      nonce: new Uint8Array(nonce),
      sender: who.getPrincipal(),
      ingress_expiry: expiry,
    };
    const signed = (await who.transformRequest({ request: {}, endpoint: 'call', body: content } as never)) as { body: unknown };
    const res = await fetch(`${node.url}/api/v${version}/canister/${canisterId.toText()}/call`, {
      method: 'POST',
      headers: { 'content-type': 'application/cbor' },
      body: Cbor.encode(signed.body),
    });
    return { status: res.status, body: new Uint8Array(await res.arrayBuffer()), requestId: requestIdOf(content) };
  }

  before(async () => {
    const [counter, certified, trap, whoami] = await Promise.all([
      compileMotoko('counter'),
      compileMotoko('certified'),
      compileMotoko('trap'),
      compileMotoko('whoami'),
    ]);
    Object.assign(wasm, { counter: counter.wasm, certified: certified.wasm, trap: trap.wasm, whoami: whoami.wasm });
    // An application subnet whose certificates carry the root key's delegation (the default is a
    // root subnet, as a local network's only subnet is): the agent must verify the chain.
    node = await Node.start({ port: 0, roundIntervalMs: 20, rootSubnet: false });
    identity = Ed25519KeyIdentity.generate();
    agent = await HttpAgent.create({ host: node.url, shouldFetchRootKey: true, identity });
    ic = managementCanister(agent);
  });

  after(async () => {
    await node?.close();
  });

  it('serves /api/v2/status with the root key the delegation chain starts from', async () => {
    const status = (await agent.status()) as unknown as { root_key: Uint8Array; replica_health_status: string; certified_height: bigint };
    assert.deepEqual(new Uint8Array(status.root_key), node.rootKey);
    assert.equal(status.replica_health_status, 'healthy');
    assert.ok(status.certified_height >= 1n);
  });

  it('creates and installs a Motoko canister through aaaaa-aa, controlled by the caller', async () => {
    const id = await install('counter');
    const status = await ic.canister_status({ canister_id: id });
    assert.deepEqual(status.status, { running: null });
    assert.deepEqual(status.settings.controllers.map((p) => p.toText()), [identity.getPrincipal().toText()]);
    assert.deepEqual(status.module_hash[0], sha256(wasm.counter!));
    assert.ok(status.cycles > 0n && status.cycles <= 10_000_000_000_000n);
  });

  it('runs update and query calls with Candid; update replies come from verified certificates', async () => {
    const id = await install('counter');
    const counter = Actor.createActor<Counter>(counterIdl, { agent, canisterId: id });
    assert.equal(await counter.inc(), 1n);
    assert.equal(await counter.add(41n), 42n);
    assert.equal(await counter.get(), 42n);

    // The agent's update path: a v4 synchronous call whose certificate it verified.
    const { certificate, reply } = await agent.update(id, { methodName: 'inc', arg: emptyArg() });
    assert.equal(IDL.decode([IDL.Nat], reply)[0], 43n);
    assert.ok(certificate instanceof Certificate);
    const delegation = certificate.cert.delegation;
    assert.ok(delegation, 'the certificate carries the root key delegation to the subnet');
    assert.equal(Principal.fromUint8Array(delegation.subnet_id).toText(), node.subnetId.toText());
  });

  it('verifies node signatures on query responses', async () => {
    const id = await install('counter');
    const response = await agent.query(id, { methodName: 'get', arg: emptyArg() });
    assert.equal(response.status, 'replied');
    const signatures = response.signatures ?? [];
    assert.equal(signatures.length, 1);
    assert.equal(Principal.fromUint8Array(signatures[0]!.identity).toText(), node.nodeId.toText());

    // The subnet's node keys as the agent found them, through read_state /subnet.
    const keys = await agent.fetchSubnetKeys({ canisterId: id });
    assert.deepEqual([...keys.keys()], [node.nodeId.toText()]);
    assert.equal((await agent.getSubnetIdFromCanister(id)).toText(), node.subnetId.toText());
  });

  it('falls back to the v2 asynchronous call and polls read_state for the certified status', async () => {
    const id = await install('counter');
    const { response, requestId } = await agent.call(id, { methodName: 'inc', arg: emptyArg(), callSync: false });
    assert.equal(response.status, 202);
    const polled = await pollForResponse(agent, { canisterId: id }, requestId);
    assert.equal(IDL.decode([IDL.Nat], polled.reply)[0], 1n);
    const status = polled.certificate.lookup_path(['request_status', requestId, 'status']);
    assert.equal(new TextDecoder().decode(lookupResultToBuffer(status)), 'replied');
    // The same through `update`, as an agent without the v4 endpoint would do it.
    const { reply } = await agent.update(id, { methodName: 'inc', arg: emptyArg(), callSync: false });
    assert.equal(IDL.decode([IDL.Nat], reply)[0], 2n);
  });

  it('answers v3 and v4 synchronous calls with a certificate of the reply', async () => {
    const id = await install('counter');
    for (const version of [3, 4] as const) {
      const { status, body, requestId } = await rawCall(version, identity, id, 'inc', emptyArg());
      assert.equal(status, 200);
      const decoded = Cbor.decode<{ status: string; certificate: Uint8Array }>(body);
      assert.equal(decoded.status, 'replied');
      const certificate = await Certificate.create({ certificate: decoded.certificate, rootKey: agent.rootKey!, principal: { canisterId: id } });
      const path = ['request_status', requestId];
      assert.equal(new TextDecoder().decode(lookupResultToBuffer(certificate.lookup_path([...path, 'status']))), 'replied');
      const reply = lookupResultToBuffer(certificate.lookup_path([...path, 'reply']))!;
      assert.equal(IDL.decode([IDL.Nat], reply)[0], version === 3 ? 1n : 2n);
    }
  });

  it('executes a resubmitted request once', async () => {
    const id = await install('counter');
    const nonce = randomBytes(8);
    const expiry = BigInt(Date.now() + 120_000) * 1_000_000n;
    const first = await rawCall(2, identity, id, 'inc', emptyArg(), nonce, expiry);
    assert.equal(first.status, 202);
    const again = await rawCall(3, identity, id, 'inc', emptyArg(), nonce, expiry);
    assert.equal(again.status, 200);
    assert.deepEqual(again.requestId, first.requestId);
    const counter = Actor.createActor<Counter>(counterIdl, { agent, canisterId: id });
    assert.equal(await counter.get(), 1n);
  });

  it('authenticates Ed25519, secp256k1, ECDSA P-256 and delegated identities', async () => {
    const id = await install('whoami');
    const root = Ed25519KeyIdentity.generate();
    const session = Ed25519KeyIdentity.generate();
    const chain = await DelegationChain.create(root, session.getPublicKey(), new Date(Date.now() + 10 * 60_000), { targets: [id] });
    const ed25519 = Ed25519KeyIdentity.generate();
    const secp256k1 = Secp256k1KeyIdentity.generate();
    const ecdsa = await ECDSAKeyIdentity.generate();
    // A delegated session key acts for the identity at the root of the chain.
    const identities: [string, SignIdentity, Principal][] = [
      ['ed25519', ed25519, ed25519.getPrincipal()],
      ['secp256k1', secp256k1, secp256k1.getPrincipal()],
      ['ecdsa', ecdsa, ecdsa.getPrincipal()],
      ['delegation', DelegationIdentity.fromDelegation(session, chain), root.getPrincipal()],
    ];
    for (const [name, who, principal] of identities) {
      const a = await HttpAgent.create({ host: node.url, shouldFetchRootKey: true, identity: who });
      const actor = Actor.createActor<Whoami>(whoamiIdl, { agent: a, canisterId: id });
      assert.equal((await actor.whoami()).toText(), principal.toText(), `${name} update`);
      assert.equal((await actor.whoami_query()).toText(), principal.toText(), `${name} query`);
    }
  });

  it('reports a trap as a certified reject with the IC error code', async () => {
    const id = await install('trap');
    const trap = Actor.createActor(({ IDL }) => IDL.Service({ write_then_trap: IDL.Func([], [], []) }), { agent, canisterId: id });
    await assert.rejects(
      () => trap.write_then_trap!(),
      (e: unknown) => {
        assert.ok(e instanceof RejectError && e.code instanceof CertifiedRejectErrorCode, String(e));
        assert.equal(e.code.rejectCode, 5);
        assert.equal(e.code.rejectErrorCode, 'IC0503');
        assert.match(e.code.rejectMessage, /boom/);
        return true;
      },
    );
  });

  it('reads controllers, module hash and private metadata through read_state, metadata for controllers only', async () => {
    const id = await install('counter');
    const status = await CanisterStatus.request({ agent, canisterId: id, paths: ['controllers', 'module_hash', 'candid', 'time'] });
    assert.deepEqual((status.get('controllers') as Principal[]).map((p) => p.toText()), [identity.getPrincipal().toText()]);
    assert.equal(status.get('module_hash'), Buffer.from(sha256(wasm.counter!)).toString('hex'));
    assert.match(String(status.get('candid')), /service : \{/);

    const stranger = await HttpAgent.create({ host: node.url, shouldFetchRootKey: true, identity: Ed25519KeyIdentity.generate() });
    await assert.rejects(
      () => stranger.readState({ canisterId: id }, { paths: [[utf8('canister'), id.toUint8Array(), utf8('metadata'), utf8('candid:service')]] }),
      /403|controllers/,
    );
  });

  it('refuses management calls of a canister from someone who does not control it', async () => {
    const id = await install('counter');
    const stranger = managementCanister(await HttpAgent.create({ host: node.url, shouldFetchRootKey: true, identity: Ed25519KeyIdentity.generate() }));
    await assert.rejects(
      () => stranger.stop_canister({ canister_id: id }),
      // Refused before it reached a block: an uncertified reject in the call's response.
      (e: unknown) => e instanceof RejectError && e.code instanceof UncertifiedRejectUpdateErrorCode && e.code.rejectErrorCode === 'IC0512',
    );
    await assert.rejects(
      () => stranger.update_settings({ canister_id: id, settings: defaultSettings(), sender_canister_version: [] }),
      /Only controllers/,
    );
  });

  it('serves a certified variable whose certificate the agent verifies', async () => {
    const id = await install('certified');
    const certified = Actor.createActor<Certified>(certifiedIdl, { agent, canisterId: id });
    const initial = await certified.get();
    assert.equal(initial.data.length, 0);
    assert.equal(initial.certificate.length, 1, 'queries see a data certificate');

    for (const text of ['hello', 'world']) {
      const value = sha256(utf8(text));
      await certified.set(value);
      const { data, certificate } = await certified.get();
      assert.deepEqual(new Uint8Array(data), value);
      const cert = await Certificate.create({ certificate: certificate[0]!, rootKey: agent.rootKey!, principal: { canisterId: id } });
      const certifiedData = lookupResultToBuffer(cert.lookup_path(['canister', id.toUint8Array(), 'certified_data']));
      assert.deepEqual(certifiedData, value, `certified data is ${text}'s hash`);
      assert.ok(lookupResultToBuffer(cert.lookup_path(['time'])));
    }

    // A certificate is bound to its canister: another canister id does not verify against it.
    const other = await install('certified');
    const { certificate } = await certified.get();
    const cert = await Certificate.create({ certificate: certificate[0]!, rootKey: agent.rootKey!, principal: { canisterId: id } });
    assert.equal(cert.lookup_path(['canister', other.toUint8Array(), 'certified_data']).status, 'Unknown');
  });
});
