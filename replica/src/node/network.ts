// A local network of several subnets, each the only replica of its own subnet (own subnet key and
// canister range, one root key delegating to all of them, as the NNS does), that know each other
// through a registry and exchange certified streams over a transport: in process by default.

import { Principal } from '@icp-sdk/core/principal';
import { LocalRegistry } from '../registry/index.js';
import { canisterIdFromIndex } from '../state/index.js';
import { EmbeddedXNet, type XNetTransport } from '../xnet/index.js';
import { generateNodeKeys, subnetIdentity } from './keys.js';
import { Node, type NodeOptions } from './node.js';

export interface LocalNetworkOptions {
  readonly subnets: number;
  /** The transport of subnet `i` (default: one in-process transport for all). */
  readonly transport?: (subnet: number) => XNetTransport;
  /** Canister ids per subnet: subnet `i` hosts indices [i·size, (i+1)·size). Default 2^20. */
  readonly rangeSize?: bigint;
  /** Options of every node; subnet `i` listens on `port + i` (a free port each by default). */
  readonly node?: Omit<NodeOptions, 'keys' | 'xnet' | 'rootSubnet'>;
}

export interface LocalNetwork {
  readonly registry: LocalRegistry;
  /** In the order of their canister ranges. */
  readonly nodes: readonly Node[];
  close(): Promise<void>;
}

export async function startLocalNetwork(options: LocalNetworkOptions): Promise<LocalNetwork> {
  if (!Number.isInteger(options.subnets) || options.subnets < 1) throw new Error(`a network has at least one subnet, not ${options.subnets}`);
  const size = options.rangeSize ?? 1n << 20n;
  const root = generateNodeKeys().rootSecret;
  const keys = Array.from({ length: options.subnets }, () => ({ ...generateNodeKeys(), rootSecret: root }));
  const range = (i: number) => ({ start: BigInt(i) * size, end: BigInt(i + 1) * size - 1n });
  const registry = new LocalRegistry(keys.map((k, i) => {
    const s = subnetIdentity(k);
    const { start, end } = range(i);
    return { subnetId: Principal.fromUint8Array(s.subnetId), publicKeyDer: s.publicKeyDer, canisterRanges: [[canisterIdFromIndex(start), canisterIdFromIndex(end)]] };
  }));
  const embedded = new EmbeddedXNet();
  const nodes = await Promise.all(keys.map((k, i) => Node.start({
    ...options.node, port: options.node?.port ? options.node.port + i : 0, keys: k, rootSubnet: false,
    replica: { ...options.node?.replica, canisterRange: range(i) },
    xnet: { registry, transport: options.transport?.(i) ?? embedded },
  })));
  return {
    registry,
    nodes,
    close: async () => {
      await Promise.all(nodes.map((n) => n.close()));
    },
  };
}
