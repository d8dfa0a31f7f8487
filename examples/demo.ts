// `make run`: a local network on the embedded default, used the way a dapp uses the IC. Starts two
// subnets (a replica each: subnet key, one root key delegating to both, HTTP interface, streams
// between them over the in-process transport), compiles the example Motoko canisters, then does
// everything through the real IC agent (`@icp-sdk/core`): creates canisters through the
// management canister, installs them, makes update calls (replies verified from certificates)
// and queries (node signatures verified), upgrades one, checks a certified variable against the
// root key, and has a canister on one subnet call a canister on the other.
//
//   node --import tsx examples/demo.ts [--port N]      (default: free ports; the second subnet on N+1)

import { parseArgs } from 'node:util';
import { Actor, Certificate, CertifiedRejectErrorCode, HttpAgent, RejectError, lookupResultToBuffer } from '@icp-sdk/core/agent';
import { IDL } from '@icp-sdk/core/candid';
import { Ed25519KeyIdentity } from '@icp-sdk/core/identity';
import type { Principal } from '@icp-sdk/core/principal';
import type { Node } from '../replica/src/node/index.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { managementCanister } from '../replica/src/cli/management.js';
import { startLocalNetwork } from '../replica/src/node/index.js';
import { compileMotoko } from '../test/support/motoko.js';

const { values } = parseArgs({ options: { port: { type: 'string' } } });
const started = Date.now();
const step = (what: string, detail = '') =>
  console.log(`[${((Date.now() - started) / 1000).toFixed(2).padStart(6)} s] ${what}${detail ? `: ${detail}` : ''}`);
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

// ---- the network -------------------------------------------------------------------------------

const network = await startLocalNetwork({ subnets: 2, node: { port: values.port ? Number(values.port) : 0, roundIntervalMs: 50 } });
const [node, other] = network.nodes as [Node, Node];
step('local network up', `subnet ${node.subnetId.toText()} at ${node.url}, subnet ${other.subnetId.toText()} at ${other.url}`);
step('root key', `${hex(node.rootKey).slice(0, 32)}… (both subnet keys are delegated from it)`);

const [counter, trap, upgrade, certified, echo, caller] = await Promise.all(['counter', 'trap', 'upgrade', 'certified', 'echo', 'caller'].map((n) => compileMotoko(n)));
step('compiled Motoko canisters', `counter ${counter!.wasm.length} B, trap ${trap!.wasm.length} B, upgrade ${upgrade!.wasm.length} B, certified ${certified!.wasm.length} B`);

// ---- a client ----------------------------------------------------------------------------------

const identity = Ed25519KeyIdentity.generate();
const agent = await HttpAgent.create({ host: node.url, shouldFetchRootKey: true, identity });
step('agent connected', `identity ${identity.getPrincipal().toText()}, root key fetched from /api/v2/status`);
const ic = managementCanister(agent);

async function deploy(name: string, wasm: Uint8Array, on = ic, arg = new Uint8Array(IDL.encode([], []))): Promise<Principal> {
  const { canister_id } = await on.provisional_create_canister_with_cycles({ amount: [10_000_000_000_000n], settings: [], specified_id: [], sender_canister_version: [] });
  await on.install_code({ mode: { install: null }, canister_id, wasm_module: wasm, arg, sender_canister_version: [] });
  step(`created and installed ${name}`, `${canister_id.toText()} (module hash ${hex(sha256(wasm)).slice(0, 16)}…)`);
  return canister_id;
}

// ---- a counter: updates and queries ------------------------------------------------------------

const counterId = await deploy('counter', counter!.wasm);
const c = Actor.createActor<{ inc(): Promise<bigint>; add(n: bigint): Promise<bigint>; get(): Promise<bigint> }>(
  ({ IDL }) => IDL.Service({ inc: IDL.Func([], [IDL.Nat], []), add: IDL.Func([IDL.Nat], [IDL.Nat], []), get: IDL.Func([], [IDL.Nat], ['query']) }),
  { agent, canisterId: counterId },
);
for (let i = 0; i < 3; i++) step('counter.inc() update, certified reply', String(await c.inc()));
step('counter.add(39) update', String(await c.add(39n)));
step('counter.get() query, node signature verified', String(await c.get()));

// ---- a trap: rolled back, reported as a certified reject ----------------------------------------

const trapId = await deploy('trap', trap!.wasm);
const t = Actor.createActor<{ write_then_trap(): Promise<void>; read(): Promise<bigint> }>(
  ({ IDL }) => IDL.Service({ write_then_trap: IDL.Func([], [], []), read: IDL.Func([], [IDL.Nat], ['query']) }),
  { agent, canisterId: trapId },
);
try {
  await t.write_then_trap();
  throw new Error('write_then_trap should have been rejected');
} catch (e) {
  if (!(e instanceof RejectError) || !(e.code instanceof CertifiedRejectErrorCode)) throw e;
  step('trap.write_then_trap() rejected', `${e.code.rejectErrorCode}: ${e.code.rejectMessage.split('\n')[0]}`);
}
step('trap.read() after the trap (state rolled back)', String(await t.read()));

// ---- an upgrade: stable variables survive, transient ones start over ----------------------------

const upgradeId = await deploy('upgrade', upgrade!.wasm);
const u = Actor.createActor<{ bump(): Promise<void>; read(): Promise<{ stable_count: bigint; heap_count: bigint }> }>(
  ({ IDL }) => IDL.Service({ bump: IDL.Func([], [], []), read: IDL.Func([], [IDL.Record({ stable_count: IDL.Nat, heap_count: IDL.Nat })], ['query']) }),
  { agent, canisterId: upgradeId },
);
await u.bump();
await u.bump();
await ic.install_code({ mode: { upgrade: [] }, canister_id: upgradeId, wasm_module: upgrade!.wasm, arg: new Uint8Array(IDL.encode([], [])), sender_canister_version: [] });
const after = await u.read();
step('upgraded', `stable_count=${after.stable_count} (kept), heap_count=${after.heap_count} (reset)`);

// ---- a certified variable -----------------------------------------------------------------------

const certifiedId = await deploy('certified', certified!.wasm);
const v = Actor.createActor<{ set(value: Uint8Array): Promise<void>; get(): Promise<{ data: Uint8Array; certificate: [] | [Uint8Array] }> }>(
  ({ IDL }) =>
    IDL.Service({
      set: IDL.Func([IDL.Vec(IDL.Nat8)], [], []),
      get: IDL.Func([], [IDL.Record({ data: IDL.Vec(IDL.Nat8), certificate: IDL.Opt(IDL.Vec(IDL.Nat8)) })], ['query']),
    }),
  { agent, canisterId: certifiedId },
);
const value = sha256(new TextEncoder().encode('hello, certified world'));
await v.set(value);
step('certified.set(sha256("hello, certified world"))', hex(value).slice(0, 16) + '…');
const { data, certificate } = await v.get();
const cert = await Certificate.create({ certificate: certificate[0]!, rootKey: agent.rootKey!, principal: { canisterId: certifiedId } });
const certifiedData = lookupResultToBuffer(cert.lookup_path(['canister', certifiedId.toUint8Array(), 'certified_data']));
if (certifiedData === undefined || hex(certifiedData) !== hex(data) || hex(data) !== hex(value)) {
  throw new Error('the certified data does not match what the query returned');
}
step('certified.get() query', `data ${hex(data).slice(0, 16)}…, certificate verified against the root key; certified_data matches`);

// ---- a call to a canister of the other subnet ---------------------------------------------------

const otherAgent = await HttpAgent.create({ host: other.url, shouldFetchRootKey: true, identity });
const echoId = await deploy('echo on the other subnet', echo!.wasm, managementCanister(otherAgent));
const callerId = await deploy('caller', caller!.wasm, ic, new Uint8Array(IDL.encode([IDL.Principal], [echoId])));
const x = Actor.createActor<{ call_echo(t: string): Promise<string>; fanout(n: bigint): Promise<bigint> }>(
  ({ IDL }) => IDL.Service({ call_echo: IDL.Func([IDL.Text], [IDL.Text], []), fanout: IDL.Func([IDL.Nat], [IDL.Nat], []) }),
  { agent, canisterId: callerId },
);
step('caller.call_echo("hello, other subnet")', `${await x.call_echo('hello, other subnet')} (request and reply through the certified streams)`);
step('caller.fanout(20)', `${await x.fanout(20n)} replies from the other subnet`);
const stream = node.replica.state.streams.get(other.subnetId.toText())!;
step('stream to the other subnet', `${stream.begin + BigInt(stream.messages.length)} messages sent, ${stream.signalsEnd} received back`);

// ---- what the subnet thinks of it all -----------------------------------------------------------

for (const id of [counterId, trapId, upgradeId, certifiedId]) {
  const s = await ic.canister_status({ canister_id: id });
  step(`canister ${id.toText()}`, `${Object.keys(s.status)[0]}, ${s.cycles} cycles, ${s.memory_size} bytes`);
}
step('done', `certified height ${node.height}`);
await network.close();
