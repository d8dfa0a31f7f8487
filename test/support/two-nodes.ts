// Two nodes, each the only replica of its own subnet (own subnet key and canister range, one root
// key for both), that know each other through a registry and exchange certified streams over the
// transport each is given: the network of the XNet end-to-end tests.

import { HttpAgent } from '@icp-sdk/core/agent';
import { IDL } from '@icp-sdk/core/candid';
import { Ed25519KeyIdentity } from '@icp-sdk/core/identity';
import { Principal } from '@icp-sdk/core/principal';
import { Node, generateNodeKeys, subnetIdentity, type NodeOptions } from '../../replica/src/node/index.js';
import { canisterIdFromIndex, LocalRegistry, type XNetTransport } from '../../replica/src/index.js';
import { managementCanister } from '../../replica/src/cli/management.js';
import { compileMotoko } from './motoko.js';

const RANGES = [[0n, 0xfffffn], [0x100000n, 0x1fffffn]] as const;

export interface TwoNodes {
  readonly registry: LocalRegistry;
  readonly a: Node;
  readonly b: Node;
}

export async function startTwoNodes(transports: readonly [XNetTransport, XNetTransport], options: Omit<NodeOptions, 'keys' | 'xnet' | 'replica'> = {}): Promise<TwoNodes> {
  const root = generateNodeKeys().rootSecret;
  const keys = [0, 1].map(() => ({ ...generateNodeKeys(), rootSecret: root }));
  const registry = new LocalRegistry(keys.map((k, i) => {
    const s = subnetIdentity(k);
    return {
      subnetId: Principal.fromUint8Array(s.subnetId), publicKeyDer: s.publicKeyDer,
      canisterRanges: [[canisterIdFromIndex(RANGES[i]![0]), canisterIdFromIndex(RANGES[i]![1])]],
    };
  }));
  const [a, b] = await Promise.all(keys.map((k, i) => Node.start({
    port: 0, roundIntervalMs: 20, rootSubnet: false, ...options, keys: k,
    replica: { canisterRange: { start: RANGES[i]![0], end: RANGES[i]![1] } },
    xnet: { registry, transport: transports[i]! },
  })));
  return { registry, a: a!, b: b! };
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
