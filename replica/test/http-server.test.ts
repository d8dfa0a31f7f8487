// The HTTP front end end to end: the real server on port 0, driven by the real agent-js
// HttpAgent and by raw fetch with hand-built CBOR for malformed requests.
//
// `TestReplica` stands in for the execution side (not part of the HTTP layer): it records
// calls, answers queries and produces real certificates (BLS12-381 signed hash trees), so the
// agent verifies everything it would verify against an IC replica: certified update replies,
// read_state certificates, and node signatures on query responses.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { BLS12_381_G2_OID, Cbor, Ed25519PublicKey, HttpAgent, wrapDER, type Identity } from '@icp-sdk/core/agent';
import { DelegationChain, DelegationIdentity, ECDSAKeyIdentity, Ed25519KeyIdentity } from '@icp-sdk/core/identity';
import { Secp256k1KeyIdentity } from '@icp-sdk/core/identity/secp256k1';
import { Principal } from '@icp-sdk/core/principal';
import { bls12_381 } from '@noble/curves/bls12-381.js';
import { ed25519 } from '@noble/curves/ed25519.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { encodeWithSelfDescribedTag } from '@dfinity/cbor';
import { CanisterError, ErrorCode } from '../src/errors.js';
import { decodeCbor } from '../src/http/cbor.js';
import { ReplicaOverloadedError } from '../src/http/errors.js';
import { encodeUleb128, hashOfMap, requestIdOf, responseSignaturePayload } from '../src/http/request-id.js';
import { createHttpServer, type ReplicaHttpServer } from '../src/http/server.js';
import type {
  AuthenticatedCall,
  AuthenticatedQuery,
  CborMap,
  MetadataVisibility,
  QueryOutcome,
  ReadStateContext,
  ReplicaFrontend,
  RequestStatusTarget,
} from '../src/http/types.js';

// ---------------------------------------------------------------------------------------------
// A minimal certified state tree for the test double (interface spec, "Certification").

const te = new TextEncoder();
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const concat = (...parts: Uint8Array[]) => Uint8Array.from(Buffer.concat(parts));
const domainSep = (s: string) => concat(Uint8Array.of(s.length), te.encode(s));

type StateNode = Uint8Array | Map<string, { label: Uint8Array; node: StateNode }>;
type HashTree = [0] | [1, HashTree, HashTree] | [2, Uint8Array, HashTree] | [3, Uint8Array];

function setPath(root: Map<string, { label: Uint8Array; node: StateNode }>, labels: Uint8Array[], value: Uint8Array): void {
  let node = root;
  labels.forEach((label, i) => {
    const key = hex(label);
    if (i === labels.length - 1) {
      node.set(key, { label, node: value });
      return;
    }
    let child = node.get(key)?.node;
    if (!(child instanceof Map)) {
      child = new Map();
      node.set(key, { label, node: child });
    }
    node = child;
  });
}

/** The part of the tree under the requested paths (a fully pruned-away rest is simply left out). */
function select(node: StateNode, paths: Uint8Array[][]): StateNode | undefined {
  if (paths.some((p) => p.length === 0)) return node;
  if (node instanceof Uint8Array) return undefined;
  const out = new Map<string, { label: Uint8Array; node: StateNode }>();
  for (const [key, child] of node) {
    const rests = paths.filter((p) => hex(p[0]!) === key).map((p) => p.slice(1));
    if (rests.length === 0) continue;
    const sub = select(child.node, rests);
    if (sub !== undefined) out.set(key, { label: child.label, node: sub });
  }
  return out;
}

function toHashTree(node: StateNode): HashTree {
  if (node instanceof Uint8Array) return [3, node];
  const children = [...node.values()].sort((a, b) => Buffer.compare(a.label, b.label));
  if (children.length === 0) return [0];
  return children.map((c): HashTree => [2, c.label, toHashTree(c.node)]).reduce((l, r) => [1, l, r]);
}

function reconstruct(t: HashTree): Uint8Array {
  switch (t[0]) {
    case 0:
      return sha256(domainSep('ic-hashtree-empty'));
    case 1:
      return sha256(concat(domainSep('ic-hashtree-fork'), reconstruct(t[1]), reconstruct(t[2])));
    case 2:
      return sha256(concat(domainSep('ic-hashtree-labeled'), t[1], reconstruct(t[2])));
    case 3:
      return sha256(concat(domainSep('ic-hashtree-leaf'), t[1]));
  }
}

// ---------------------------------------------------------------------------------------------
// The test double of the execution side.

const range = (lo: number, hi: number) => [Uint8Array.from([0, 0, 0, 0, 0, 0, 0, lo, 1, 1]), Uint8Array.from([0, 0, 0, 0, 0, 0, 0, hi, 1, 1])];
const [RANGE_LO, RANGE_HI] = range(0, 0x7f) as [Uint8Array, Uint8Array];
const CANISTER = Principal.fromUint8Array(Uint8Array.from([0, 0, 0, 0, 0, 0, 0, 1, 1, 1]));
const OTHER_CANISTER = Principal.fromUint8Array(Uint8Array.from([0, 0, 0, 0, 0, 0, 0, 2, 1, 1]));
const FOREIGN_CANISTER = Principal.fromUint8Array(Uint8Array.from([0, 0, 0, 0, 0, 0, 0, 0x90, 1, 1]));

interface CallRecord {
  sender: Uint8Array;
  target: RequestStatusTarget;
  status: 'replied' | 'rejected';
  reply?: Uint8Array;
  reject?: { code: number; message: string; errorCode: string };
}

class TestReplica implements ReplicaFrontend {
  readonly bls = bls12_381.shortSignatures;
  readonly blsSecret = bls12_381.utils.randomSecretKey();
  readonly rootKeyDer = wrapDER(this.bls.getPublicKey(this.blsSecret).toBytes(), BLS12_381_G2_OID);
  readonly nodeSecret = ed25519.utils.randomSecretKey();
  readonly nodeKeyDer = Ed25519PublicKey.fromRaw(ed25519.getPublicKey(this.nodeSecret)).toDer();
  readonly nodeId = Principal.selfAuthenticating(this.nodeKeyDer).toUint8Array();
  // No NNS delegation: agents take the root key's self-authenticating id as the subnet id.
  readonly subnet = Principal.selfAuthenticating(this.rootKeyDer).toUint8Array();

  healthState: 'healthy' | 'starting' = 'healthy';
  certifySync = true;
  readonly calls: AuthenticatedCall[] = [];
  readonly queries: AuthenticatedQuery[] = [];
  readonly readStates: { paths: Uint8Array[][]; ctx: ReadStateContext }[] = [];
  readonly records = new Map<string, CallRecord>();
  readonly controllers = new Map<string, Uint8Array[]>();
  readonly metadata = new Map<string, { visibility: MetadataVisibility; content: Uint8Array }>();
  hang: Promise<void> | undefined;

  rootKey() {
    return this.rootKeyDer;
  }
  health() {
    return this.healthState;
  }
  hostsCanister(id: Uint8Array) {
    return Buffer.compare(id, RANGE_LO) >= 0 && Buffer.compare(id, RANGE_HI) <= 0;
  }
  subnetId() {
    return this.subnet;
  }
  certifiedHeight() {
    return 42n;
  }

  async submitCall(call: AuthenticatedCall): Promise<void> {
    this.calls.push(call);
    if (call.methodName === 'inspect_reject') {
      throw new CanisterError(ErrorCode.CanisterRejectedMessage, 'Canister rejected the message in inspect_message');
    }
    if (call.methodName === 'overload') throw new ReplicaOverloadedError();
    const target: RequestStatusTarget = { canisterId: call.canisterId, effectiveCanisterId: call.effectiveCanisterId };
    if (call.effectiveSubnetId) target.effectiveSubnetId = call.effectiveSubnetId;
    const record: CallRecord =
      call.methodName === 'trap'
        ? { sender: call.sender, target, status: 'rejected', reject: { code: 5, message: 'Canister called ic0.trap', errorCode: 'IC0503' } }
        : { sender: call.sender, target, status: 'replied', reply: concat(te.encode('reply:'), call.arg) };
    this.records.set(hex(call.requestId), record);
  }

  async awaitCertifiedStatus(requestId: Uint8Array): Promise<Uint8Array | undefined> {
    if (!this.certifySync || !this.records.has(hex(requestId))) return undefined;
    return this.certificate([[te.encode('request_status'), requestId], [te.encode('time')]]);
  }

  async query(q: AuthenticatedQuery): Promise<QueryOutcome> {
    this.queries.push(q);
    if (q.methodName === 'hang') await this.hang;
    if (q.methodName === 'reject') return { status: 'rejected', rejectCode: 4, rejectMessage: 'no greeting today', errorCode: 'IC0406' };
    if (q.methodName === 'missing') throw new CanisterError(ErrorCode.CanisterMethodNotFound, 'Canister has no query method missing');
    return { status: 'replied', reply: concat(te.encode('hello '), q.arg) };
  }

  async readState(paths: Uint8Array[][], ctx: ReadStateContext): Promise<Uint8Array> {
    this.readStates.push({ paths, ctx });
    return this.certificate(paths);
  }

  requestStatusSender(requestId: Uint8Array) {
    return this.records.get(hex(requestId))?.sender;
  }
  requestStatusTarget(requestId: Uint8Array) {
    return this.records.get(hex(requestId))?.target;
  }
  canisterControllers(canisterId: Uint8Array) {
    return this.controllers.get(hex(canisterId));
  }
  canisterMetadataVisibility(canisterId: Uint8Array, name: string) {
    return this.metadata.get(`${hex(canisterId)}/${name}`)?.visibility;
  }
  nodeSigner() {
    return { nodeId: this.nodeId, sign: (m: Uint8Array) => ed25519.sign(m, this.nodeSecret) };
  }

  stateTree(): Map<string, { label: Uint8Array; node: StateNode }> {
    const root = new Map<string, { label: Uint8Array; node: StateNode }>();
    const L = (s: string) => te.encode(s);
    setPath(root, [L('time')], encodeUleb128(BigInt(Date.now()) * 1_000_000n));
    setPath(root, [L('subnet'), this.subnet, L('public_key')], this.rootKeyDer);
    setPath(root, [L('subnet'), this.subnet, L('type')], L('application'));
    setPath(root, [L('subnet'), this.subnet, L('canister_ranges')], encodeWithSelfDescribedTag([[RANGE_LO, RANGE_HI]]));
    setPath(root, [L('subnet'), this.subnet, L('node'), this.nodeId, L('public_key')], this.nodeKeyDer);
    for (const [cid, controllers] of this.controllers) {
      const id = Uint8Array.from(Buffer.from(cid, 'hex'));
      setPath(root, [L('canister'), id, L('controllers')], encodeWithSelfDescribedTag(controllers));
      setPath(root, [L('canister'), id, L('module_hash')], sha256(id));
    }
    for (const [key, { content }] of this.metadata) {
      const [cid, name] = key.split('/') as [string, string];
      setPath(root, [L('canister'), Uint8Array.from(Buffer.from(cid, 'hex')), L('metadata'), L(name)], content);
    }
    for (const [rid, record] of this.records) {
      const base = [L('request_status'), Uint8Array.from(Buffer.from(rid, 'hex'))];
      setPath(root, [...base, L('status')], L(record.status));
      if (record.reply) setPath(root, [...base, L('reply')], record.reply);
      if (record.reject) {
        setPath(root, [...base, L('reject_code')], encodeUleb128(BigInt(record.reject.code)));
        setPath(root, [...base, L('reject_message')], L(record.reject.message));
        setPath(root, [...base, L('error_code')], L(record.reject.errorCode));
      }
    }
    return root;
  }

  certificate(paths: Uint8Array[][]): Uint8Array {
    const tree = toHashTree(select(this.stateTree(), paths) ?? new Map());
    const message = concat(domainSep('ic-state-root'), reconstruct(tree));
    const signature = this.bls.sign(this.bls.hash(message), this.blsSecret).toBytes();
    return Cbor.encode({ tree, signature });
  }
}

// ---------------------------------------------------------------------------------------------
// Helpers for raw requests.

const MINUTE_NS = 60_000_000_000n;
const nowNs = () => BigInt(Date.now()) * 1_000_000n;

function anonymousContent(type: 'call' | 'query' | 'read_state', overrides: Record<string, unknown> = {}): Record<string, unknown> {
  const base: Record<string, unknown> = { request_type: type, sender: Uint8Array.of(4), ingress_expiry: nowNs() + 3n * MINUTE_NS };
  if (type === 'read_state') base.paths = [[te.encode('time')]];
  else Object.assign(base, { canister_id: CANISTER.toUint8Array(), method_name: 'greet', arg: te.encode('DIDL') });
  for (const [k, v] of Object.entries(overrides)) {
    if (v === undefined) delete base[k];
    else base[k] = v;
  }
  return base;
}

async function signedBody(identity: Identity, type: 'call' | 'query' | 'read_state', overrides: Record<string, unknown> = {}, tamper?: (b: Record<string, any>) => void) {
  const body = anonymousContent(type, { sender: identity.getPrincipal(), ...overrides });
  const endpoint = type === 'call' ? 'call' : type === 'query' ? 'read' : 'read_state';
  const t = (await identity.transformRequest({ request: {}, endpoint, body } as never)) as { body: Record<string, any> };
  tamper?.(t.body);
  return Cbor.encode(t.body);
}

// ---------------------------------------------------------------------------------------------

describe('HTTP front end', () => {
  const replica = new TestReplica();
  let http: ReplicaHttpServer;
  let host: string;

  const post = (path: string, body: Uint8Array | string, contentType = 'application/cbor') =>
    fetch(`${host}${path}`, { method: 'POST', headers: { 'content-type': contentType }, body });
  const expectStatus = async (response: Response, status: number, text?: RegExp) => {
    const body = await response.text();
    assert.equal(response.status, status, `expected ${status}, got ${response.status}: ${body}`);
    if (text) assert.match(body, text);
    return body;
  };
  const cbor = async (response: Response) => decodeCbor(new Uint8Array(await response.arrayBuffer())) as CborMap;
  const agentFor = (identity?: Identity, verifyQuerySignatures = true) =>
    HttpAgent.create({ host, identity, shouldFetchRootKey: true, verifyQuerySignatures, retryTimes: 0 });
  const ecid = CANISTER.toText();

  before(async () => {
    http = createHttpServer(replica, { syncCallTimeoutMs: 2000 });
    const { port } = await http.listen(0);
    host = `http://127.0.0.1:${port}`;
  });
  after(async () => {
    await http.close();
  });

  describe('with the real HttpAgent', () => {
    it('serves /api/v2/status as tagged CBOR with the root key', async () => {
      const agent = await agentFor(undefined, false);
      assert.deepEqual(agent.rootKey, replica.rootKeyDer);
      const status = (await agent.status()) as Record<string, unknown>;
      assert.equal(status.replica_health_status, 'healthy');
      assert.equal(status.ic_api_version, '0.18.0');
      const raw = await fetch(`${host}/api/v2/status`);
      assert.equal(raw.status, 200);
      assert.equal(raw.headers.get('content-type'), 'application/cbor');
      assert.equal(raw.headers.get('access-control-allow-origin'), '*');
      const bytes = new Uint8Array(await raw.arrayBuffer());
      assert.deepEqual([...bytes.slice(0, 3)], [0xd9, 0xd9, 0xf7]);
      assert.equal((decodeCbor(bytes) as CborMap).get('certified_height'), 42n);
    });

    it('answers queries (signatures unchecked) for anonymous and signed senders', async () => {
      for (const identity of [undefined, Ed25519KeyIdentity.generate(), Secp256k1KeyIdentity.generate(), await ECDSAKeyIdentity.generate()]) {
        const agent = await agentFor(identity, false);
        const response = await agent.query(CANISTER, { methodName: 'greet', arg: te.encode('you') });
        assert.equal(response.status, 'replied');
        assert.equal(Buffer.from((response as { reply: { arg: Uint8Array } }).reply.arg).toString(), 'hello you');
        const q = replica.queries.at(-1)!;
        assert.deepEqual(q.sender, (identity?.getPrincipal() ?? Principal.anonymous()).toUint8Array());
        assert.deepEqual(q.effectiveCanisterId, CANISTER.toUint8Array());
      }
    });

    it('signs query responses so that the agent verifies them against the node key from read_state', async () => {
      const agent = await agentFor(Ed25519KeyIdentity.generate(), true);
      const replied = await agent.query(CANISTER, { methodName: 'greet', arg: te.encode('verified') });
      assert.equal(replied.status, 'replied');
      const rejected = (await agent.query(CANISTER, { methodName: 'reject', arg: new Uint8Array() })) as unknown as Record<string, unknown>;
      assert.equal(rejected.status, 'rejected');
      assert.equal(rejected.reject_code, 4);
      assert.equal(rejected.error_code, 'IC0406');
      // A CanisterError thrown by query execution is a signed rejection too.
      const missing = (await agent.query(CANISTER, { methodName: 'missing', arg: new Uint8Array() })) as unknown as Record<string, unknown>;
      assert.equal(missing.status, 'rejected');
      assert.equal(missing.reject_code, 5);
      assert.equal(missing.error_code, 'IC0536');
      // The node keys came from a v3 canister read_state of /subnet.
      const subnetRead = replica.readStates.find((r) => r.paths.some((p) => p.length === 1 && Buffer.from(p[0]!).toString() === 'subnet'));
      assert.ok(subnetRead);
      assert.equal(subnetRead.ctx.apiVersion, 3);
    });

    it('runs update calls synchronously (v4) with a certified reply', async () => {
      const identity = Ed25519KeyIdentity.generate();
      const agent = await agentFor(identity, false);
      const result = await agent.update(CANISTER, { methodName: 'echo', arg: te.encode('sync') });
      assert.equal(Buffer.from(result.reply).toString(), 'reply:sync');
      assert.equal(result.callResponse.status, 200);
      const call = replica.calls.at(-1)!;
      assert.deepEqual(call.sender, identity.getPrincipal().toUint8Array());
      assert.ok(call.nonce && call.nonce.length === 16, 'agent calls carry a nonce');
    });

    it('runs asynchronous calls (v2: 202) and the agent polls read_state for the certified reply', async () => {
      const agent = await agentFor(Secp256k1KeyIdentity.generate(), false);
      const submitted = await agent.call(CANISTER, { methodName: 'echo', arg: te.encode('async'), callSync: false });
      assert.equal(submitted.response.status, 202);
      const result = await agent.update(CANISTER, { methodName: 'echo', arg: te.encode('polled'), callSync: false });
      assert.equal(Buffer.from(result.reply).toString(), 'reply:polled');
    });

    it('answers 202 on v4 when the status is not certified in time, and polling then succeeds', async () => {
      replica.certifySync = false;
      try {
        const agent = await agentFor(await ECDSAKeyIdentity.generate(), false);
        const result = await agent.update(CANISTER, { methodName: 'echo', arg: te.encode('late') });
        assert.equal(result.callResponse.status, 202);
        assert.equal(Buffer.from(result.reply).toString(), 'reply:late');
      } finally {
        replica.certifySync = true;
      }
    });

    it('reports calls refused before the block source (inspect_message) as reject bodies', async () => {
      const agent = await agentFor(Ed25519KeyIdentity.generate(), false);
      for (const callSync of [true, false]) {
        await assert.rejects(agent.update(CANISTER, { methodName: 'inspect_reject', arg: new Uint8Array(), callSync }), (e: any) => {
          assert.equal(e.name, 'RejectError');
          assert.equal(e.code.rejectCode, 4);
          assert.equal(e.code.rejectErrorCode, 'IC0406');
          assert.match(e.code.rejectMessage, /inspect_message/);
          return true;
        });
      }
      // The raw bodies: v2 is {error_code, reject_code, reject_message}; v3/v4 add status non_replicated_rejection.
      const body = await signedBody(Ed25519KeyIdentity.generate(), 'call', { method_name: 'inspect_reject' });
      const v2 = await post(`/api/v2/canister/${ecid}/call`, body);
      assert.equal(v2.status, 200);
      const v2Body = await cbor(v2);
      assert.deepEqual([...v2Body.keys()].sort(), ['error_code', 'reject_code', 'reject_message']);
      const v3 = await post(`/api/v3/canister/${ecid}/call`, body);
      assert.equal(v3.status, 200);
      assert.equal((await cbor(v3)).get('status'), 'non_replicated_rejection');
    });

    it('reports certified rejects through the certificate', async () => {
      const agent = await agentFor(Ed25519KeyIdentity.generate(), false);
      await assert.rejects(agent.update(CANISTER, { methodName: 'trap', arg: new Uint8Array() }), (e: any) => {
        assert.equal(e.name, 'RejectError');
        assert.equal(e.code.rejectCode, 5);
        assert.equal(e.code.rejectErrorCode, 'IC0503');
        return true;
      });
    });

    it('answers 429 when the frontend sheds load', async () => {
      const agent = await agentFor(Ed25519KeyIdentity.generate(), false);
      await assert.rejects(agent.call(CANISTER, { methodName: 'overload', arg: new Uint8Array(), callSync: false }), (e: any) => {
        assert.equal(e.code.status, 429);
        return true;
      });
    });

    it('enforces delegation targets and queries-only delegations', async () => {
      const root = Ed25519KeyIdentity.generate();
      const session = Ed25519KeyIdentity.generate();
      const exp = new Date(Date.now() + 10 * 60_000);
      const scoped = DelegationIdentity.fromDelegation(session, await DelegationChain.create(root, session.getPublicKey(), exp, { targets: [CANISTER] }));
      const agent = await agentFor(scoped, true);
      const ok = await agent.update(CANISTER, { methodName: 'echo', arg: te.encode('delegated') });
      assert.equal(Buffer.from(ok.reply).toString(), 'reply:delegated');
      assert.equal((await agent.query(CANISTER, { methodName: 'greet', arg: new Uint8Array() })).status, 'replied');
      await assert.rejects(agent.call(OTHER_CANISTER, { methodName: 'echo', arg: new Uint8Array() }), (e: any) => {
        assert.equal(e.code.status, 400);
        assert.match(e.code.bodyText, /not one of the delegation targets/);
        return true;
      });

      const readOnly = DelegationIdentity.fromDelegation(
        session,
        await DelegationChain.create(root, session.getPublicKey(), exp, { permissions: 'queries' }),
      );
      const roAgent = await agentFor(readOnly, true);
      assert.equal((await roAgent.query(CANISTER, { methodName: 'greet', arg: new Uint8Array() })).status, 'replied');
      await assert.rejects(roAgent.call(CANISTER, { methodName: 'echo', arg: new Uint8Array() }), (e: any) => {
        assert.equal(e.code.status, 400);
        assert.match(e.code.bodyText, /Update calls are not permitted/);
        return true;
      });
    });

    it('serves read_state with the spec path rules: controllers, private metadata', async () => {
      const controller = Ed25519KeyIdentity.generate();
      const stranger = Ed25519KeyIdentity.generate();
      replica.controllers.set(hex(CANISTER.toUint8Array()), [controller.getPrincipal().toUint8Array()]);
      replica.metadata.set(`${hex(CANISTER.toUint8Array())}/candid:service`, { visibility: 'public', content: te.encode('service : {}') });
      replica.metadata.set(`${hex(CANISTER.toUint8Array())}/secret`, { visibility: 'private', content: te.encode('42') });
      const L = (s: string) => te.encode(s);
      const canister = CANISTER.toUint8Array();

      const strangerAgent = await agentFor(stranger, false);
      const pub = await strangerAgent.readState({ canisterId: CANISTER }, { paths: [[L('canister'), canister, L('metadata'), L('candid:service')]] });
      const found = pub.verifiedCertificate.lookup_path([L('canister'), canister, L('metadata'), L('candid:service')]);
      assert.equal(Buffer.from((found as { value: Uint8Array }).value).toString(), 'service : {}');
      await assert.rejects(strangerAgent.readState({ canisterId: CANISTER }, { paths: [[L('canister'), canister, L('metadata'), L('secret')]] }), (e: any) => {
        assert.equal(e.code.status, 403);
        assert.match(e.code.bodyText, /controllers/);
        return true;
      });
      const controllerAgent = await agentFor(controller, false);
      const secret = await controllerAgent.readState({ canisterId: CANISTER }, { paths: [[L('canister'), canister, L('metadata'), L('secret')]] });
      assert.equal(
        Buffer.from((secret.verifiedCertificate.lookup_path([L('canister'), canister, L('metadata'), L('secret')]) as { value: Uint8Array }).value).toString(),
        '42',
      );
      // /time is always in the certificate, and the frontend learns the endpoint.
      const last = replica.readStates.at(-1)!;
      assert.ok(last.paths.some((p) => p.length === 1 && Buffer.from(p[0]!).toString() === 'time'));
      assert.deepEqual(last.ctx.effectiveCanisterId, canister);
      assert.equal(last.ctx.apiVersion, 3);
    });

    it('lets only the sender read a request status', async () => {
      const owner = Ed25519KeyIdentity.generate();
      const agent = await agentFor(owner, false);
      const { requestId } = await agent.call(CANISTER, { methodName: 'echo', arg: te.encode('mine'), callSync: false });
      const path = [te.encode('request_status'), new Uint8Array(requestId), te.encode('status')];
      const own = await agent.readState({ canisterId: CANISTER }, { paths: [path] });
      assert.equal(Buffer.from((own.verifiedCertificate.lookup_path(path) as { value: Uint8Array }).value).toString(), 'replied');
      const other = await agentFor(Ed25519KeyIdentity.generate(), false);
      await assert.rejects(other.readState({ canisterId: CANISTER }, { paths: [path] }), (e: any) => {
        assert.equal(e.code.status, 403);
        return true;
      });
      // At another effective canister id than the call's: refused too.
      await assert.rejects(agent.readState({ canisterId: OTHER_CANISTER }, { paths: [path] }), (e: any) => {
        assert.equal(e.code.status, 403);
        return true;
      });
    });

    it('reads subnet state at the subnet endpoint', async () => {
      const agent = await agentFor(undefined, false);
      const subnet = Principal.fromUint8Array(replica.subnet);
      const response = await agent.readState({ subnetId: subnet }, { paths: [[te.encode('subnet'), replica.subnet, te.encode('public_key')]] });
      const key = response.verifiedCertificate.lookup_path([te.encode('subnet'), replica.subnet, te.encode('public_key')]);
      assert.deepEqual((key as { value: Uint8Array }).value, replica.rootKeyDer);
      assert.deepEqual(replica.readStates.at(-1)!.ctx.effectiveSubnetId, replica.subnet);
    });
  });

  describe('malformed and refused requests (raw fetch)', () => {
    const statusStillServed = async () => assert.equal((await fetch(`${host}/api/v2/status`)).status, 200);

    it('refuses a body that is not CBOR', async () => {
      await expectStatus(await post(`/api/v2/canister/${ecid}/query`, 'hello, replica'), 400, /CBOR/);
      await expectStatus(await post(`/api/v2/canister/${ecid}/query`, Uint8Array.of(0xd9, 0xd9, 0xf7, 0xa1, 0x67)), 400, /CBOR/);
      await statusStillServed();
    });

    it('refuses other content types', async () => {
      await expectStatus(await post(`/api/v2/canister/${ecid}/query`, Cbor.encode({ content: anonymousContent('query') }), 'application/json'), 400, /application\/cbor/);
    });

    it('refuses a request type that does not fit the endpoint', async () => {
      await expectStatus(await post(`/api/v2/canister/${ecid}/call`, Cbor.encode({ content: anonymousContent('query') })), 400, /request_type.*'query'.*call endpoint/);
      await expectStatus(await post(`/api/v3/canister/${ecid}/read_state`, Cbor.encode({ content: anonymousContent('call') })), 400, /request_type/);
    });

    it('names missing, mistyped and unknown fields', async () => {
      await expectStatus(await post(`/api/v3/canister/${ecid}/query`, Cbor.encode({ content: anonymousContent('query', { method_name: undefined }) })), 400, /content\.method_name: missing/);
      await expectStatus(await post(`/api/v3/canister/${ecid}/query`, Cbor.encode({ content: anonymousContent('query', { arg: 'text' }) })), 400, /content\.arg: expected a byte string/);
      await expectStatus(await post(`/api/v3/canister/${ecid}/query`, Cbor.encode({ content: anonymousContent('query', { colour: 'red' }) })), 400, /unknown field 'colour'/);
      await expectStatus(await post(`/api/v3/canister/${ecid}/query`, Cbor.encode({ content: anonymousContent('query', { nonce: new Uint8Array(33) }) })), 400, /content\.nonce: 33 bytes/);
      await expectStatus(await post(`/api/v3/canister/${ecid}/query`, Cbor.encode({ contents: {} })), 400, /unknown field 'contents'/);
      await expectStatus(await post(`/api/v3/canister/${ecid}/query`, Cbor.encode([1, 2])), 400, /expected a map/);
      await statusStillServed();
    });

    it('refuses a 3 MiB body with 413 while it streams, and keeps serving', async () => {
      const big = new Uint8Array(3 * 1024 * 1024);
      await expectStatus(await post(`/api/v2/canister/${ecid}/call`, big), 413, /larger than the max allowed/);
      // Without Content-Length (chunked): the bound holds while streaming.
      const stream = new ReadableStream<Uint8Array>({
        start(controller) {
          for (let i = 0; i < 48; i++) controller.enqueue(big.subarray(i * 65536, (i + 1) * 65536));
          controller.close();
        },
      });
      const chunked = await fetch(`${host}/api/v2/canister/${ecid}/call`, {
        method: 'POST',
        headers: { 'content-type': 'application/cbor' },
        body: stream,
        duplex: 'half',
      } as RequestInit);
      await expectStatus(chunked, 413);
      await statusStillServed();
    });

    it('refuses a call message over max_ingress_bytes_per_message with 413', async () => {
      const body = Cbor.encode({ content: anonymousContent('call', { arg: new Uint8Array(2 * 1024 * 1024 + 1) }) });
      await expectStatus(await post(`/api/v2/canister/${ecid}/call`, body), 413, /Message byte size/);
    });

    it('answers 404 for canisters outside the subnet and unknown subnets', async () => {
      const foreign = FOREIGN_CANISTER.toText();
      await expectStatus(await post(`/api/v3/canister/${foreign}/query`, Cbor.encode({ content: anonymousContent('query', { canister_id: FOREIGN_CANISTER.toUint8Array() }) })), 404, /not hosted/);
      await expectStatus(await post(`/api/v3/canister/${foreign}/read_state`, Cbor.encode({ content: anonymousContent('read_state') })), 404, /not hosted/);
      const otherSubnet = Principal.selfAuthenticating(new Uint8Array(44)).toText();
      await expectStatus(await post(`/api/v3/subnet/${otherSubnet}/read_state`, Cbor.encode({ content: anonymousContent('read_state') })), 404, /Subnet .* not served/);
    });

    it('refuses a canister id that differs from the effective canister id', async () => {
      const body = Cbor.encode({ content: anonymousContent('call', { canister_id: OTHER_CANISTER.toUint8Array() }) });
      await expectStatus(await post(`/api/v2/canister/${ecid}/call`, body), 400, /does not match effective canister id/);
    });

    it('passes management canister calls to the frontend with the effective canister id of the URL', async () => {
      const body = Cbor.encode({ content: anonymousContent('call', { canister_id: new Uint8Array(0), method_name: 'canister_status' }) });
      await expectStatus(await post(`/api/v2/canister/${OTHER_CANISTER.toText()}/call`, body), 202);
      const call = replica.calls.at(-1)!;
      assert.deepEqual(call.canisterId, new Uint8Array(0));
      assert.deepEqual(call.effectiveCanisterId, OTHER_CANISTER.toUint8Array());
      // aaaaa-aa as the effective canister id (agent-js does so for create_canister) is routed here.
      await expectStatus(await post(`/api/v2/canister/aaaaa-aa/call`, Cbor.encode({ content: anonymousContent('call', { canister_id: new Uint8Array(0), method_name: 'create_canister' }) })), 202);
    });

    it('serves the subnet call and query endpoints for their management methods only', async () => {
      const subnet = Principal.fromUint8Array(replica.subnet).toText();
      const create = Cbor.encode({ content: anonymousContent('call', { canister_id: new Uint8Array(0), method_name: 'create_canister' }) });
      const res = await post(`/api/v4/subnet/${subnet}/call`, create);
      assert.equal(res.status, 200);
      assert.deepEqual(replica.calls.at(-1)!.effectiveSubnetId, replica.subnet);
      await expectStatus(await post(`/api/v4/subnet/${subnet}/call`, Cbor.encode({ content: anonymousContent('call') })), 400, /only accepts create_canister/);
      const list = Cbor.encode({ content: anonymousContent('query', { canister_id: new Uint8Array(0), method_name: 'list_canisters' }) });
      assert.equal((await post(`/api/v3/subnet/${subnet}/query`, list)).status, 200);
      await expectStatus(await post(`/api/v3/subnet/${subnet}/query`, Cbor.encode({ content: anonymousContent('query') })), 400, /list_canisters/);
      await expectStatus(await post(`/api/v2/subnet/${subnet}/call`, create), 404, /No endpoint/);
    });

    it('refuses expired requests with the IC message agents recognise', async () => {
      const body = await signedBody(Ed25519KeyIdentity.generate(), 'call', { ingress_expiry: nowNs() - MINUTE_NS });
      await expectStatus(await post(`/api/v2/canister/${ecid}/call`, body), 400, /^Invalid request expiry: /);
      const future = Cbor.encode({ content: anonymousContent('call', { ingress_expiry: nowNs() + 10n * MINUTE_NS }) });
      await expectStatus(await post(`/api/v2/canister/${ecid}/call`, future), 400, /too far in the future/);
    });

    it('refuses bad signatures', async () => {
      const body = await signedBody(Ed25519KeyIdentity.generate(), 'query', {}, (b) => {
        b.sender_sig = Uint8Array.from(b.sender_sig as Uint8Array).reverse();
      });
      await expectStatus(await post(`/api/v3/canister/${ecid}/query`, body), 400, /Invalid signature/);
      await statusStillServed();
    });

    it('applies the read_state path rules', async () => {
      const L = (s: string) => te.encode(s);
      const rs = (paths: Uint8Array[][], at = `/api/v3/canister/${ecid}/read_state`) => post(at, Cbor.encode({ content: anonymousContent('read_state', { paths }) }));
      await expectStatus(await rs([[L('canister_ranges'), replica.subnet]]), 403, /subnet/);
      await expectStatus(await rs([[L('canister'), OTHER_CANISTER.toUint8Array(), L('module_hash')]]), 403, /does not match the effective canister id/);
      await expectStatus(await rs([[L('subnet'), replica.subnet, L('metrics')]]), 403);
      await expectStatus(await rs([[L('canister'), CANISTER.toUint8Array(), L('certified_data')]]), 404, /Invalid path requested/);
      await expectStatus(await rs([[L('nonsense')]]), 404, /Invalid path requested: \/nonsense/);
      await expectStatus(await rs([[L('request_status'), new Uint8Array(31)]]), 400, /32 bytes/);
      await expectStatus(await rs([[L('request_status'), new Uint8Array(32)], [L('request_status'), new Uint8Array(32).fill(1)]]), 400, /more than one request id/);
      // Allowed: unknown request ids, time, subnet info; at v3, /canister_ranges at the subnet endpoint.
      assert.equal((await rs([[L('request_status'), new Uint8Array(32)], [L('time')], [L('subnet')]])).status, 200);
      const subnetAt = `/api/v3/subnet/${Principal.fromUint8Array(replica.subnet).toText()}/read_state`;
      assert.equal((await rs([[L('canister_ranges'), replica.subnet]], subnetAt)).status, 200);
      assert.equal((await rs([[L('subnet'), replica.subnet, L('metrics')]], subnetAt)).status, 200);
      await expectStatus(await rs([[L('canister'), CANISTER.toUint8Array(), L('controllers')]], subnetAt), 403);
      const tooMany = Array.from({ length: 1001 }, () => [L('time')]);
      await expectStatus(await rs(tooMany), 400, /1001 paths, at most 1000/);
      await statusStillServed();
    });

    it('returns the read_state response as {certificate}', async () => {
      const res = await post(`/api/v2/canister/${ecid}/read_state`, Cbor.encode({ content: anonymousContent('read_state') }));
      assert.equal(res.status, 200);
      const body = await cbor(res);
      assert.deepEqual([...body.keys()], ['certificate']);
      assert.ok(body.get('certificate') instanceof Uint8Array);
      assert.equal(replica.readStates.at(-1)!.ctx.apiVersion, 2);
    });

    it('signs v2 query responses over the spec hash with the node key', async () => {
      const content = anonymousContent('query', { arg: te.encode('raw') });
      const res = await post(`/api/v2/canister/${ecid}/query`, Cbor.encode({ content }));
      assert.equal(res.status, 200);
      const body = await cbor(res);
      assert.equal(body.get('status'), 'replied');
      const reply = body.get('reply') as CborMap;
      assert.equal(Buffer.from(reply.get('arg') as Uint8Array).toString(), 'hello raw');
      const [sig] = body.get('signatures') as CborMap[];
      const timestamp = sig!.get('timestamp') as bigint;
      assert.deepEqual(sig!.get('identity'), replica.nodeId);
      const hash = hashOfMap({ status: 'replied', reply: { arg: reply.get('arg') as Uint8Array }, timestamp, request_id: requestIdOf(content as never) });
      assert.ok(ed25519.verify(sig!.get('signature') as Uint8Array, responseSignaturePayload(hash), ed25519.getPublicKey(replica.nodeSecret)));
    });

    it('answers unknown endpoints, wrong methods, bad ids and CORS preflights', async () => {
      await expectStatus(await fetch(`${host}/api/v2/canister/${ecid}/call`), 405, /use POST/);
      await expectStatus(await post('/api/v2/status', 'x'), 405, /use GET/);
      await expectStatus(await fetch(`${host}/api/v9/canister/${ecid}/call`, { method: 'POST' }), 404, /No endpoint/);
      await expectStatus(await fetch(`${host}/api/v4/canister/${ecid}/query`, { method: 'POST' }), 404);
      await expectStatus(await fetch(`${host}/`), 404);
      await expectStatus(await post('/api/v3/canister/not-a-principal/query', Cbor.encode({ content: anonymousContent('query') })), 400, /invalid effective canister id/);
      const preflight = await fetch(`${host}/api/v3/canister/${ecid}/query`, {
        method: 'OPTIONS',
        headers: { origin: 'https://example.org', 'access-control-request-method': 'POST' },
      });
      assert.equal(preflight.status, 204);
      assert.equal(preflight.headers.get('access-control-allow-origin'), '*');
      assert.match(preflight.headers.get('access-control-allow-methods') ?? '', /POST/);
      assert.match(preflight.headers.get('access-control-allow-headers') ?? '', /Content-Type/);
      const error = await post(`/api/v2/canister/${ecid}/query`, 'junk');
      assert.equal(error.headers.get('access-control-allow-origin'), '*');
      await error.text();
    });

    it('answers 503 while the replica is starting', async () => {
      replica.healthState = 'starting';
      try {
        await expectStatus(await post(`/api/v3/canister/${ecid}/query`, Cbor.encode({ content: anonymousContent('query') })), 503, /starting/);
        const status = decodeCbor(new Uint8Array(await (await fetch(`${host}/api/v2/status`)).arrayBuffer())) as CborMap;
        assert.equal(status.get('replica_health_status'), 'starting');
      } finally {
        replica.healthState = 'healthy';
      }
    });

    it('answers 429 beyond the concurrency limit', async () => {
      const busy = new TestReplica();
      let release!: () => void;
      busy.hang = new Promise((r) => (release = r));
      const small = createHttpServer(busy, { maxConcurrentRequests: 1 });
      const { port } = await small.listen(0);
      try {
        const url = `http://127.0.0.1:${port}/api/v3/canister/${ecid}/query`;
        const init = { method: 'POST', headers: { 'content-type': 'application/cbor' } };
        const first = fetch(url, { ...init, body: Cbor.encode({ content: anonymousContent('query', { method_name: 'hang' }) }) });
        while (busy.queries.length === 0) await new Promise((r) => setTimeout(r, 5));
        await expectStatus(await fetch(url, { ...init, body: Cbor.encode({ content: anonymousContent('query') }) }), 429, /overloaded/);
        release();
        assert.equal((await first).status, 200);
        assert.equal((await fetch(url, { ...init, body: Cbor.encode({ content: anonymousContent('query') }) })).status, 200);
      } finally {
        release();
        await small.close();
      }
    });
  });

  describe('fuzzing', () => {
    it('answers 500 random and mutated bodies with 4xx, never 5xx, and keeps serving', async () => {
      let seed = 0x5eed;
      const rand = () => {
        seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
        return seed / 2 ** 32;
      };
      const int = (n: number) => Math.floor(rand() * n);
      const randomBytes = (n: number) => Uint8Array.from({ length: n }, () => int(256));
      const identity = Ed25519KeyIdentity.generate();
      // Signed bases: any change to the content changes the request id and breaks the signature.
      const bases: [string, Uint8Array][] = [
        [`/api/v2/canister/${ecid}/call`, await signedBody(identity, 'call')],
        [`/api/v4/canister/${ecid}/call`, await signedBody(identity, 'call')],
        [`/api/v3/canister/${ecid}/query`, await signedBody(identity, 'query')],
        [`/api/v3/canister/${ecid}/read_state`, await signedBody(identity, 'read_state', { paths: [[te.encode('time')], [te.encode('subnet')]] })],
        [`/api/v3/subnet/${Principal.fromUint8Array(replica.subnet).toText()}/read_state`, await signedBody(identity, 'read_state')],
      ];
      const keys = ['content', 'sender_pubkey', 'sender_sig', 'sender_delegation', 'request_type', 'sender', 'ingress_expiry', 'paths', 'arg', 'nonce', 'canister_id', 'method_name', 'delegation', 'targets'];
      const randomValue = (depth: number): unknown => {
        switch (int(depth > 2 ? 4 : 6)) {
          case 0:
            return BigInt(int(2 ** 31)) * BigInt(int(2 ** 31));
          case 1:
            return randomBytes(int(40));
          case 2:
            return ['call?', 'quer', 'READ_STATE', '', '\u0000', 'x'.repeat(int(50))][int(6)];
          case 3:
            return [true, false, null, -int(1000)][int(4)];
          case 4:
            return Array.from({ length: int(4) }, () => randomValue(depth + 1));
          default: {
            const m: Record<string, unknown> = {};
            for (let i = int(5); i > 0; i--) m[keys[int(keys.length)]!] = randomValue(depth + 1);
            return m;
          }
        }
      };
      const counts = new Map<number, number>();
      for (let i = 0; i < 500; i++) {
        const [path, base] = bases[int(bases.length)]!;
        let body: Uint8Array;
        switch (int(5)) {
          case 0: {
            body = Uint8Array.from(base);
            // XOR distinct positions with non-zero bytes: the body always differs from the valid base.
            const positions = new Set(Array.from({ length: 1 + int(4) }, () => int(body.length)));
            for (const at of positions) body[at]! ^= 1 + int(255);
            break;
          }
          case 1:
            body = base.slice(0, int(base.length));
            break;
          case 2: {
            const at = int(base.length);
            body = Uint8Array.from([...base.slice(0, at), ...randomBytes(1 + int(8)), ...base.slice(at)]);
            break;
          }
          case 3:
            body = randomBytes(int(200));
            break;
          default:
            body = Cbor.encode(randomValue(0) as never);
        }
        const res = await post(path, body);
        const text = await res.text();
        counts.set(res.status, (counts.get(res.status) ?? 0) + 1);
        assert.ok(res.status >= 400 && res.status < 500, `#${i} ${path}: ${res.status} ${text}`);
        assert.ok(text.length > 0, `#${i}: a refusal names the problem`);
      }
      assert.equal((await fetch(`${host}/api/v2/status`)).status, 200);
      assert.ok((counts.get(400) ?? 0) > 0);
    });
  });
});
