// Certificates we produce, checked by the real IC agent (@icp-sdk/core): threshold-signed
// subnet certificates with a delegation from a root key, in both canister-range formats.

import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import * as cbor from '@dfinity/cbor';
import { sha256 } from '@noble/hashes/sha2.js';
import { CanisterStatus, Certificate, HttpAgent, lookupResultToBuffer } from '@icp-sdk/core/agent';
import { Principal } from '@icp-sdk/core/principal';
import {
  buildStateTree,
  type CertifiedState,
  type CertifiedStateView,
  certificationThreshold,
  CertificateVerificationError,
  type DealtKeys,
  dealKeys,
  decodeCertificate,
  encodeCertificate,
  generateKey,
  type HashTree,
  LocalThresholdSigner,
  publicKeyToDer,
  RootAuthority,
  SecretKeySigner,
  type SubnetCertifiedState,
  SubnetCertifier,
  UnknownSubnetError,
  verifyCertificate,
  witness,
} from '../src/certification/index.js';
import { seededRandom } from './fixtures/seeded-random.js';

const text = (s: string): Uint8Array => new TextEncoder().encode(s);
const canisterId = (n: number): Uint8Array => Uint8Array.from([0, 0, 0, 0, 0, (n >> 16) & 0xff, (n >> 8) & 0xff, n & 0xff, 1, 1]);
/** The agent checks certificate time against the wall clock; replica code takes time as input. */
const nowNs = (): bigint => BigInt(Date.now()) * 1_000_000n;
const ed25519Der = (b: number): Uint8Array =>
  Uint8Array.from([...Buffer.from('302a300506032b6570032100', 'hex'), ...new Uint8Array(32).fill(b)]);

// Seven ranges: two shards of /canister_ranges/<subnet>; our canister sits in the second shard.
const ranges = Array.from({ length: 7 }, (_, i) => [canisterId(i * 0x100), canisterId(i * 0x100 + 0x7f)] as const);
const ourCanister = canisterId(6 * 0x100 + 3);
const outsideCanister = canisterId(6 * 0x100 + 0x80);
const certifiedData = sha256(text('certified data of our canister'));
const requestId = sha256(text('a request'));

interface Fixture {
  rootSigner: SecretKeySigner;
  root: RootAuthority;
  subnetKeys: DealtKeys;
  subnetId: Uint8Array;
  certifier: SubnetCertifier;
  state: CertifiedState;
}

function makeFixture(n: number): Fixture {
  const rootKey = generateKey(seededRandom('root'));
  const rootSigner = new SecretKeySigner(rootKey.secretKey);
  const subnetKeys = dealKeys(n, certificationThreshold(n), seededRandom(`subnet-${n}`));
  const subnetPublicKeyDer = publicKeyToDer(subnetKeys.publicKey);
  const subnetId = Principal.selfAuthenticating(subnetPublicKeyDer).toUint8Array();
  const subnetRecord: SubnetCertifiedState = { subnetId, publicKey: subnetPublicKeyDer, canisterRanges: ranges, subnetType: 'application' };
  const otherSubnet: SubnetCertifiedState = {
    subnetId: Uint8Array.of(9, 9, 9, 2),
    publicKey: publicKeyToDer(generateKey(seededRandom('other')).publicKey),
    canisterRanges: [[canisterId(0x10000), canisterId(0x1ffff)]],
  };
  const root = new RootAuthority({ signer: rootSigner, subnets: [subnetRecord, otherSubnet], time: nowNs() });
  // Sign with a qualifying subset of shares: the last n - f replicas.
  const t = certificationThreshold(n);
  const signer = LocalThresholdSigner.fromDealt(subnetKeys, subnetKeys.shares.slice(-t).map((s) => s.index));
  const certifier = new SubnetCertifier({ subnetId, signer, delegation: root });
  const view: CertifiedStateView = {
    time: nowNs(),
    canisters: [
      {
        canisterId: ourCanister,
        controllers: [Principal.anonymous().toUint8Array(), canisterId(1)],
        certifiedData,
        moduleHash: sha256(text('wasm')),
        metadata: [{ name: 'candid:service', visibility: 'public', content: text('service : { hello : () -> () }') }],
      },
    ],
    requestStatus: [{ requestId, status: 'replied', reply: text('DIDL\x00\x00') }],
    subnets: [{ ...subnetRecord, nodes: [{ nodeId: Uint8Array.of(1, 1, 1, 2), publicKey: ed25519Der(5) }] }, otherSubnet],
  };
  return { rootSigner, root, subnetKeys, subnetId, certifier, state: certifier.certifyState(buildStateTree(view)) };
}

const certifiedDataPath = (id: Uint8Array) => ['canister', id, 'certified_data'];

describe('certificates verified by the real agent (@icp-sdk/core)', () => {
  for (const n of [1, 4, 13]) {
    describe(`subnet of ${n} replicas, delegation from a root key`, () => {
      let f: Fixture;
      before(() => {
        f = makeFixture(n);
      });

      for (const format of ['flat', 'tree'] as const) {
        it(`verifies and reveals certified_data (${format} canister ranges)`, async () => {
          const certificate = f.certifier.certificate(
            f.state,
            [certifiedDataPath(ourCanister)],
            format === 'flat' ? { kind: 'flat' } : { kind: 'tree', canisterId: ourCanister },
          );
          const cert = await Certificate.create({
            certificate,
            rootKey: f.root.publicKeyDer,
            principal: { canisterId: Principal.fromUint8Array(ourCanister) },
          });
          const value = lookupResultToBuffer(cert.lookup_path(['canister', Principal.fromUint8Array(ourCanister).toUint8Array(), 'certified_data']));
          assert.deepEqual(value, certifiedData);
          // Our own verifier agrees.
          verifyCertificate(certificate, { rootKey: f.root.publicKeyDer, target: { canisterId: ourCanister }, now: nowNs() });
        });
      }

      it('reveals the request status', async () => {
        const certificate = f.certifier.certificate(f.state, [['request_status', requestId]], { kind: 'tree', canisterId: ourCanister });
        const cert = await Certificate.create({
          certificate,
          rootKey: f.root.publicKeyDer,
          principal: { canisterId: Principal.fromUint8Array(ourCanister) },
        });
        assert.deepEqual(new TextDecoder().decode(lookupResultToBuffer(cert.lookup_path(['request_status', requestId, 'status']))), 'replied');
        assert.deepEqual(lookupResultToBuffer(cert.lookup_path(['request_status', requestId, 'reply'])), text('DIDL\x00\x00'));
      });

      it('is rejected under a wrong root key', async () => {
        const certificate = f.certifier.certificate(f.state, [certifiedDataPath(ourCanister)]);
        const wrongRoot = publicKeyToDer(generateKey(seededRandom('wrong root')).publicKey);
        await assert.rejects(
          Certificate.create({ certificate, rootKey: wrongRoot, principal: { canisterId: Principal.fromUint8Array(ourCanister) } }),
          /signature/i,
        );
        assert.throws(() => verifyCertificate(certificate, { rootKey: wrongRoot }), CertificateVerificationError);
      });

      it('is rejected when the tree is tampered with', async () => {
        const certificate = f.certifier.certificate(f.state, [certifiedDataPath(ourCanister)]);
        const decoded = decodeCertificate(certificate);
        const tamper = (t: HashTree): HashTree => {
          switch (t.kind) {
            case 'leaf':
              return t.value.length === 32 ? { kind: 'leaf', value: sha256(text('forged')) } : t;
            case 'fork':
              return { kind: 'fork', left: tamper(t.left), right: tamper(t.right) };
            case 'labeled':
              return { kind: 'labeled', label: t.label, subtree: tamper(t.subtree) };
            default:
              return t;
          }
        };
        const forged = encodeCertificate({ ...decoded, tree: tamper(decoded.tree) });
        await assert.rejects(
          Certificate.create({ certificate: forged, rootKey: f.root.publicKeyDer, principal: { canisterId: Principal.fromUint8Array(ourCanister) } }),
          /signature/i,
        );
        assert.throws(() => verifyCertificate(forged, { rootKey: f.root.publicKeyDer }), CertificateVerificationError);
      });

      it('is rejected when signed by a key that is not the delegated one', async () => {
        const impostor = new SubnetCertifier({
          subnetId: f.subnetId,
          signer: new SecretKeySigner(generateKey(seededRandom('impostor')).secretKey),
          delegation: f.root,
        });
        const certificate = impostor.certificate(impostor.certifyState(f.state.tree), [certifiedDataPath(ourCanister)]);
        await assert.rejects(
          Certificate.create({ certificate, rootKey: f.root.publicKeyDer, principal: { canisterId: Principal.fromUint8Array(ourCanister) } }),
          /signature/i,
        );
      });
    });
  }

  describe('scope and root subnet', () => {
    let f: Fixture;
    before(() => {
      f = makeFixture(4);
    });

    it('a delegation does not authorize canisters outside the subnet ranges', async () => {
      for (const format of [{ kind: 'flat' } as const, { kind: 'tree', canisterId: outsideCanister } as const]) {
        const certificate = f.certifier.certificate(f.state, [certifiedDataPath(outsideCanister)], format);
        await assert.rejects(
          Certificate.create({ certificate, rootKey: f.root.publicKeyDer, principal: { canisterId: Principal.fromUint8Array(outsideCanister) } }),
        );
        assert.throws(
          () => verifyCertificate(certificate, { rootKey: f.root.publicKeyDer, target: { canisterId: outsideCanister } }),
          CertificateVerificationError,
        );
      }
    });

    it('subnet-targeted certificates verify with the delegation for the subnet', async () => {
      const certificate = f.certifier.certificate(f.state, [['subnet', f.subnetId, 'node']], { kind: 'none' });
      const cert = await Certificate.create({
        certificate,
        rootKey: f.root.publicKeyDer,
        principal: { subnetId: Principal.fromUint8Array(f.subnetId) },
      });
      assert.deepEqual(lookupResultToBuffer(cert.lookup_path(['subnet', f.subnetId, 'node', Uint8Array.of(1, 1, 1, 2), 'public_key'])), ed25519Der(5));
    });

    it('the root subnet certifies without a delegation', async () => {
      const rootCertifier = new SubnetCertifier({ subnetId: f.root.subnetId, signer: f.rootSigner });
      const tree = buildStateTree({
        time: nowNs(),
        canisters: [{ canisterId: ourCanister, controllers: [], certifiedData, moduleHash: new Uint8Array(32) }],
        requestStatus: [],
        subnets: [],
      });
      const certificate = rootCertifier.certify(tree, [certifiedDataPath(ourCanister)]);
      assert.equal(decodeCertificate(certificate).delegation, undefined);
      const cert = await Certificate.create({
        certificate,
        rootKey: f.root.publicKeyDer,
        principal: { canisterId: Principal.fromUint8Array(ourCanister) },
      });
      assert.deepEqual(lookupResultToBuffer(cert.lookup_path(certifiedDataPath(ourCanister))), certifiedData);
    });

    it('a stale certificate is rejected by the agent time check', async () => {
      const old = f.certifier.certifyState(
        buildStateTree({ time: nowNs() - 3_600_000_000_000n, canisters: [], requestStatus: [], subnets: [] }),
      );
      const certificate = f.certifier.certificate(old, [['time']]);
      await assert.rejects(
        Certificate.create({ certificate, rootKey: f.root.publicKeyDer, principal: { canisterId: Principal.fromUint8Array(ourCanister) } }),
        /time|old|past/i,
      );
    });

    it('certificates carry the self-describing tag; delegations reveal only the subnet key, ranges and time', () => {
      const certificate = f.certifier.certificate(f.state, [certifiedDataPath(ourCanister)]);
      assert.equal(Buffer.from(certificate.subarray(0, 3)).toString('hex'), 'd9d9f7');
      const delegation = decodeCertificate(certificate).delegation!;
      assert.deepEqual(delegation.subnetId, f.subnetId);
      const inner = decodeCertificate(delegation.certificate);
      assert.equal(inner.delegation, undefined);
      assert.deepEqual(inner.tree, witness(f.root.certified.tree, [
        ['subnet', f.subnetId, 'public_key'],
        ['subnet', f.subnetId, 'type'],
        ['subnet', f.subnetId, 'canister_ranges'],
        ['time'],
      ]));
      assert.throws(() => f.root.delegate(Uint8Array.of(1), { kind: 'flat' }), UnknownSubnetError);
    });
  });
});

describe('read_state through the agent over a mocked HTTP endpoint', () => {
  it('CanisterStatus decodes controllers, module hash, candid, time and node keys', async () => {
    const f = makeFixture(4);
    const requests: string[] = [];
    const fetchMock = async (input: Parameters<typeof fetch>[0] | URL, init?: RequestInit): Promise<Response> => {
      const url = new URL(String(input));
      requests.push(url.pathname);
      if (!url.pathname.endsWith('/read_state')) return new Response('not found', { status: 404 });
      const body = cbor.decode(new Uint8Array(init!.body as ArrayBuffer)) as { content: { paths: Uint8Array[][] } };
      const certificate = f.certifier.certificate(f.state, body.content.paths, { kind: 'tree', canisterId: ourCanister });
      return new Response(cbor.encode({ certificate }), { status: 200, headers: { 'content-type': 'application/cbor' } });
    };
    const agent = HttpAgent.createSync({
      host: 'http://127.0.0.1:1',
      fetch: fetchMock as typeof fetch,
      rootKey: f.root.publicKeyDer,
      shouldFetchRootKey: false,
      shouldSyncTime: false,
    });
    const status = await CanisterStatus.request({
      canisterId: Principal.fromUint8Array(ourCanister),
      agent,
      paths: ['controllers', 'module_hash', 'candid', 'time', 'subnet'],
    });
    assert.deepEqual(
      (status.get('controllers') as Principal[]).map((p) => p.toText()),
      [Principal.anonymous().toText(), Principal.fromUint8Array(canisterId(1)).toText()],
    );
    assert.equal(status.get('module_hash'), Buffer.from(sha256(text('wasm'))).toString('hex'));
    assert.equal(status.get('candid'), 'service : { hello : () -> () }');
    assert.ok(status.get('time') instanceof Date);
    const subnet = status.get('subnet') as { subnetId: string; nodeKeys: Map<string, Uint8Array> };
    assert.equal(subnet.subnetId, Principal.fromUint8Array(f.subnetId).toText());
    assert.equal(subnet.nodeKeys.size, 1);
    assert.ok(requests.every((p) => p.includes('/read_state')), requests.join(','));
  });
});
