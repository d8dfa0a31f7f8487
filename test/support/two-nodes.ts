// The network of the XNet end-to-end tests: two subnets of a local network, canisters installed
// through the agent, the caller canister's interface, and an agent that traces its calls.

import { HttpAgent } from '@icp-sdk/core/agent';
import { IDL } from '@icp-sdk/core/candid';
import { Ed25519KeyIdentity } from '@icp-sdk/core/identity';
import { Principal } from '@icp-sdk/core/principal';
import { startLocalNetwork, type LocalNetworkOptions, type Node, type NodeLogger } from '../../replica/src/node/index.js';
import type { LocalRegistry, XNetTransport } from '../../replica/src/index.js';
import { managementCanister } from '../../replica/src/cli/management.js';
import { compileMotoko } from './motoko.js';

export interface TwoNodes {
  readonly registry: LocalRegistry;
  readonly a: Node;
  readonly b: Node;
}

/** Two subnets of a local network, each node with the transport given for it. */
export async function startTwoNodes(transports: readonly [XNetTransport, XNetTransport], options: NonNullable<LocalNetworkOptions['node']> = {}): Promise<TwoNodes> {
  const { registry, nodes } = await startLocalNetwork({ subnets: 2, transport: (i) => transports[i]!, node: { roundIntervalMs: 20, ...options } });
  return { registry, a: nodes[0]!, b: nodes[1]! };
}

/** Creates a canister on `node` (through the agent) and installs the Motoko test canister `name`. */
export async function installOn(node: Node, name: string, arg: Uint8Array = new Uint8Array(IDL.encode([], []))): Promise<Principal> {
  const agent = await HttpAgent.create({ host: node.url, shouldFetchRootKey: true, identity: Ed25519KeyIdentity.generate() });
  const ic = managementCanister(agent);
  const { canister_id } = await ic.provisional_create_canister_with_cycles({ amount: [10_000_000_000_000n], settings: [], specified_id: [], sender_canister_version: [] });
  await ic.install_code({ mode: { install: null }, canister_id, wasm_module: (await compileMotoko(name)).wasm, arg, sender_canister_version: [] });
  return canister_id;
}

export interface Caller {
  call_echo(t: string): Promise<string>;
  call_fail(): Promise<string>;
  fanout(n: bigint): Promise<bigint>;
}

/** `test/canisters/caller.mo`. */
export const callerIdl: IDL.InterfaceFactory = ({ IDL }) => IDL.Service({
  call_echo: IDL.Func([IDL.Text], [IDL.Text], []),
  call_fail: IDL.Func([], [IDL.Text], []),
  fanout: IDL.Func([IDL.Nat], [IDL.Nat], []),
});

/** An agent whose update calls carry `traceparent` (W3C), as a traced client's would. */
export function tracingAgent(host: string, traceparent: string): Promise<HttpAgent> {
  return HttpAgent.create({
    host, shouldFetchRootKey: true, identity: Ed25519KeyIdentity.generate(),
    fetch: ((input: Parameters<typeof fetch>[0], init?: RequestInit) => {
      const headers = new Headers(init?.headers);
      if (String(input).endsWith('/call')) headers.set('traceparent', traceparent);
      return fetch(input, { ...init, headers });
    }) as typeof fetch,
  });
}

/** A node logger that keeps the warnings (XNet slices refused or not received) for the test to read. */
export function warningLog(): { readonly warnings: { fields: object; message: string }[]; readonly logger: NodeLogger } {
  const warnings: { fields: object; message: string }[] = [];
  return { warnings, logger: { debug() {}, info() {}, warn: (fields, message) => warnings.push({ fields, message }), error() {} } };
}
