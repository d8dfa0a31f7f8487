// The node's `ReplicaFrontend`, driven directly (no HTTP) with rounds run by the test: ingress
// deduplication and back-pressure, the management canister's ingress rules, certified request
// statuses, queries on the latest certified state with their data certificate, and what
// read_state reveals of this (non-root) subnet.

import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { IDL } from '@icp-sdk/core/candid';
import { Principal } from '@icp-sdk/core/principal';
import { decodeCertificate, lookupPath, lookupSubtree, verifyCertificate } from '../src/certification/index.js';
import { CanisterError } from '../src/errors.js';
import { EffectiveIdMismatchError, ReplicaOverloadedError, type AuthenticatedCall, type AuthenticatedQuery } from '../src/http/index.js';
import { Node, generateNodeKeys, type NodeOptions } from '../src/node/index.js';
import { compileMotoko } from '../../test/support/motoko.js';

const utf8 = (s: string) => new TextEncoder().encode(s);
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const USER = new Uint8Array([...randomBytes(28), 2]);
const STRANGER = new Uint8Array([...randomBytes(28), 2]);
const MANAGEMENT = new Uint8Array(0);
const expiry = () => BigInt(Date.now() + 120_000) * 1_000_000n;
const nat = (bytes: Uint8Array) => IDL.decode([IDL.Nat], bytes)[0] as bigint;

function call(canisterId: Uint8Array, methodName: string, arg: Uint8Array, overrides: Partial<AuthenticatedCall> = {}): AuthenticatedCall {
  return {
    requestId: new Uint8Array(randomBytes(32)),
    sender: USER,
    canisterId,
    methodName,
    arg,
    ingressExpiry: expiry(),
    effectiveCanisterId: canisterId,
    ...overrides,
  };
}

function query(canisterId: Uint8Array, methodName: string, arg = new Uint8Array(IDL.encode([], []))): AuthenticatedQuery {
  return { requestId: new Uint8Array(randomBytes(32)), sender: USER, canisterId, methodName, arg, ingressExpiry: expiry(), effectiveCanisterId: canisterId };
}

const CreateArgs = IDL.Record({
  amount: IDL.Opt(IDL.Nat),
  settings: IDL.Opt(IDL.Record({ controllers: IDL.Opt(IDL.Vec(IDL.Principal)) })),
  specified_id: IDL.Opt(IDL.Principal),
  sender_canister_version: IDL.Opt(IDL.Nat64),
});
const InstallArgs = IDL.Record({
  mode: IDL.Variant({ install: IDL.Null }),
  canister_id: IDL.Principal,
  wasm_module: IDL.Vec(IDL.Nat8),
  arg: IDL.Vec(IDL.Nat8),
  sender_canister_version: IDL.Opt(IDL.Nat64),
});
const CanisterIdArg = IDL.Record({ canister_id: IDL.Principal });

/** A node whose rounds only run when the test says so. */
function manualNode(options: NodeOptions = {}): Node {
  return new Node(generateNodeKeys(), options);
}

/** Submits, runs rounds until the status is certified, returns the certificate. */
async function execute(node: Node, c: AuthenticatedCall): Promise<Uint8Array> {
  await node.frontend.submitCall(c);
  const waiting = node.frontend.awaitCertifiedStatus(c.requestId, 5_000);
  for (let i = 0; i < 5; i++) await node.round();
  const certificate = await waiting;
  assert.ok(certificate, 'the call finished within five rounds');
  return certificate;
}

function replyOf(node: Node, certificate: Uint8Array, requestId: Uint8Array, target: Uint8Array): Uint8Array {
  const cert = verifyCertificate(certificate, { rootKey: node.rootKey, target: { canisterId: target } });
  const status = lookupPath(cert.tree, ['request_status', requestId, 'status']);
  assert.equal(status.status, 'found');
  const reject = lookupPath(cert.tree, ['request_status', requestId, 'reject_message']);
  assert.equal(new TextDecoder().decode((status as { value: Uint8Array }).value), 'replied', reject.status === 'found' ? new TextDecoder().decode(reject.value) : '');
  return (lookupPath(cert.tree, ['request_status', requestId, 'reply']) as { value: Uint8Array }).value;
}

async function createCanister(node: Node): Promise<Uint8Array> {
  const c = call(MANAGEMENT, 'provisional_create_canister_with_cycles', new Uint8Array(IDL.encode([CreateArgs], [{ amount: [10n ** 13n], settings: [], specified_id: [], sender_canister_version: [] }])));
  const reply = replyOf(node, await execute(node, c), c.requestId, MANAGEMENT);
  return (IDL.decode([CanisterIdArg], reply)[0] as unknown as { canister_id: Principal }).canister_id.toUint8Array();
}

async function installCanister(node: Node, wasm: Uint8Array): Promise<Uint8Array> {
  const id = await createCanister(node);
  const arg = IDL.encode([InstallArgs], [{ mode: { install: null }, canister_id: Principal.fromUint8Array(id), wasm_module: wasm, arg: IDL.encode([], []), sender_canister_version: [] }]);
  const c = call(MANAGEMENT, 'install_code', new Uint8Array(arg), { effectiveCanisterId: id });
  replyOf(node, await execute(node, c), c.requestId, id);
  return id;
}

describe('the node front end', () => {
  let counterWasm: Uint8Array;
  let certifiedWasm: Uint8Array;

  before(async () => {
    counterWasm = (await compileMotoko('counter')).wasm;
    certifiedWasm = (await compileMotoko('certified')).wasm;
  });

  it('is healthy once a round is certified, and no longer once closed', async () => {
    const node = manualNode();
    assert.equal(node.frontend.health(), 'starting');
    await node.round();
    assert.equal(node.frontend.health(), 'healthy');
    assert.equal(node.frontend.certifiedHeight(), 1n);
    await node.close();
    assert.equal(node.frontend.health(), 'starting');
  });

  it('submits a request id once, however often it is sent', async () => {
    const node = manualNode();
    await node.round();
    const id = await installCanister(node, counterWasm);
    const inc = call(id, 'inc', new Uint8Array(IDL.encode([], [])));
    await node.frontend.submitCall(inc);
    await node.frontend.submitCall(inc);
    assert.equal(node.replica.blocks.pending, 1);
    assert.deepEqual(node.frontend.requestStatusSender(inc.requestId), USER);
    assert.deepEqual(node.frontend.requestStatusTarget(inc.requestId), { canisterId: id, effectiveCanisterId: id });
    await node.round();
    await node.frontend.submitCall(inc); // after execution too
    assert.equal(node.replica.blocks.pending, 0);
    const certificate = await node.frontend.awaitCertifiedStatus(inc.requestId, 1000);
    assert.equal(nat(replyOf(node, certificate!, inc.requestId, id)), 1n);
  });

  it('answers 429 when the ingress pool is full', async () => {
    const node = manualNode({ maxPendingIngress: 2 });
    await node.round();
    const id = await installCanister(node, counterWasm);
    const arg = new Uint8Array(IDL.encode([], []));
    await node.frontend.submitCall(call(id, 'inc', arg));
    await node.frontend.submitCall(call(id, 'inc', arg));
    await assert.rejects(() => node.frontend.submitCall(call(id, 'inc', arg)), ReplicaOverloadedError);
    await node.round();
    await node.frontend.submitCall(call(id, 'inc', arg));
  });

  it('applies the management canister ingress rules before anything enters a block', async () => {
    const node = manualNode();
    await node.round();
    const id = await installCanister(node, counterWasm);
    const other = await createCanister(node);
    const about = (canister: Uint8Array) => new Uint8Array(IDL.encode([CanisterIdArg], [{ canister_id: Principal.fromUint8Array(canister) }]));

    await assert.rejects(
      () => node.frontend.submitCall(call(MANAGEMENT, 'raw_rand', new Uint8Array(IDL.encode([], [])))),
      (e: unknown) => e instanceof CanisterError && e.errorCode === 'IC0406' && /Only canisters/.test(e.message),
    );
    await assert.rejects(
      () => node.frontend.submitCall(call(MANAGEMENT, 'stop_canister', about(id), { effectiveCanisterId: other })),
      EffectiveIdMismatchError,
    );
    await assert.rejects(
      () => node.frontend.submitCall(call(MANAGEMENT, 'stop_canister', about(id), { effectiveCanisterId: id, sender: STRANGER })),
      (e: unknown) => e instanceof CanisterError && e.errorCode === 'IC0512',
    );
    const missing = Principal.fromUint8Array(new Uint8Array([0, 0, 0, 0, 0, 0, 0x0f, 0, 1, 1])).toUint8Array();
    await assert.rejects(
      () => node.frontend.submitCall(call(MANAGEMENT, 'canister_status', about(missing), { effectiveCanisterId: missing })),
      (e: unknown) => e instanceof CanisterError && e.errorCode === 'IC0301',
    );
    assert.equal(node.replica.blocks.pending, 0);
  });

  it('answers queries from the latest certified state, with the data certificate of that state', async () => {
    const node = manualNode();
    await node.round();
    const id = await installCanister(node, certifiedWasm);
    const value = new Uint8Array(randomBytes(32));
    const set = call(id, 'set', new Uint8Array(IDL.encode([IDL.Vec(IDL.Nat8)], [value])));
    await node.frontend.submitCall(set);
    const Get = IDL.Record({ data: IDL.Vec(IDL.Nat8), certificate: IDL.Opt(IDL.Vec(IDL.Nat8)) });
    const read = async () => {
      const outcome = await node.frontend.query(query(id, 'get'));
      assert.equal(outcome.status, 'replied');
      return IDL.decode([Get], (outcome as { reply: Uint8Array }).reply)[0] as unknown as { data: Uint8Array; certificate: [] | [Uint8Array] };
    };
    assert.equal((await read()).data.length, 0, 'not executed yet');
    await node.round();
    const { data, certificate } = await read();
    assert.deepEqual(new Uint8Array(data), value);
    const cert = verifyCertificate(certificate[0]!, { rootKey: node.rootKey, target: { canisterId: id } });
    assert.deepEqual((lookupPath(cert.tree, ['canister', id, 'certified_data']) as { value: Uint8Array }).value, value);
    const time = lookupPath(cert.tree, ['time']);
    assert.equal(time.status, 'found');
  });

  it('times out waiting for a status that never comes', async () => {
    const node = manualNode();
    await node.round();
    assert.equal(await node.frontend.awaitCertifiedStatus(new Uint8Array(32), 10), undefined);
  });

  it('reveals an application subnet as the spec allows: canister ranges only at v2, metrics only at the subnet endpoint', async () => {
    const node = manualNode({ rootSubnet: false });
    await node.round();
    const subnetId = node.subnetId.toUint8Array();
    const canister = Principal.fromUint8Array(new Uint8Array([0, 0, 0, 0, 0, 0, 0, 0, 1, 1])).toUint8Array();
    const read = async (apiVersion: 2 | 3, at: 'canister' | 'subnet') => {
      const bytes = await node.frontend.readState([[utf8('subnet')], [utf8('time')]], {
        sender: USER,
        apiVersion,
        ...(at === 'canister' ? { effectiveCanisterId: canister } : { effectiveSubnetId: subnetId }),
      });
      const cert = verifyCertificate(bytes, { rootKey: node.rootKey, target: at === 'canister' ? { canisterId: canister } : { subnetId } });
      const status = (path: string) => lookupPath(cert.tree, ['subnet', subnetId, path]).status;
      return { cert, ranges: status('canister_ranges'), metrics: status('metrics'), key: status('public_key') };
    };
    const v3 = await read(3, 'canister');
    assert.deepEqual([v3.key, v3.ranges, v3.metrics], ['found', 'unknown', 'unknown']);
    const nodes = lookupSubtree(v3.cert.tree, ['subnet', subnetId, 'node', node.nodeId.toUint8Array(), 'public_key']);
    assert.equal(nodes.status, 'found');
    const v2 = await read(2, 'canister');
    assert.equal(v2.ranges, 'found');
    const subnet = await read(3, 'subnet');
    assert.equal(subnet.metrics, 'found');
    // Never `canister` next to `canister_ranges` in one certificate (agent-js orders them wrongly).
    const labels = (bytes: Uint8Array) => JSON.stringify(decodeCertificate(bytes).tree, (_k, v: unknown) => (v instanceof Uint8Array ? hex(v) : v));
    assert.doesNotMatch(labels(await node.frontend.readState([[utf8('subnet')]], { sender: USER, apiVersion: 3, effectiveCanisterId: canister })), new RegExp(hex(utf8('canister_ranges'))));
  });

  it('reveals a root subnet\'s canister ranges at every version: its certificates have no delegation to carry them', async () => {
    const node = manualNode();
    await node.round();
    const subnetId = node.subnetId.toUint8Array();
    assert.deepEqual(node.rootKey, node.certification.subnetKeyDer);
    const canister = Principal.fromUint8Array(new Uint8Array([0, 0, 0, 0, 0, 0, 0, 0, 1, 1])).toUint8Array();
    for (const apiVersion of [2, 3] as const) {
      const bytes = await node.frontend.readState([[utf8('subnet')]], { sender: USER, apiVersion, effectiveCanisterId: canister });
      const cert = verifyCertificate(bytes, { rootKey: node.rootKey, target: { canisterId: canister } });
      assert.equal(decodeCertificate(bytes).delegation, undefined);
      assert.equal(lookupPath(cert.tree, ['subnet', subnetId, 'canister_ranges']).status, 'found');
    }
  });

  for (const rootSubnet of [true, false]) it(`certifies creations sent to aaaaa-aa so that agents accept the management canister as effective id (${rootSubnet ? 'root' : 'application'} subnet)`, async () => {
    const node = manualNode({ rootSubnet });
    await node.round();
    const c = call(MANAGEMENT, 'provisional_create_canister_with_cycles', new Uint8Array(IDL.encode([CreateArgs], [{ amount: [], settings: [], specified_id: [], sender_canister_version: [] }])));
    const certificate = await execute(node, c);
    // The delegation's canister ranges include aaaaa-aa: verification with it as target passes.
    replyOf(node, certificate, c.requestId, MANAGEMENT);
  });
});
