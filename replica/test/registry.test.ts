// The registry: routing canister ids to subnets by their ranges, refusing a table that routes an
// id twice, and a node that refuses a registry that does not know it as it is.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Principal } from '@icp-sdk/core/principal';
import { canisterIdFromIndex, EmbeddedXNet, LocalRegistry } from '../src/index.js';
import { generateNodeKeys, Node, subnetIdentity } from '../src/node/index.js';

const subnet = (n: number) => Principal.fromUint8Array(new Uint8Array(29).fill(n));
const range = (start: bigint, end: bigint) => [canisterIdFromIndex(start), canisterIdFromIndex(end)] as const;

test('routes every id of a range to its subnet, and nothing else anywhere', () => {
  const registry = new LocalRegistry([
    { subnetId: subnet(2), canisterRanges: [range(100n, 199n), range(400n, 499n)] },
    { subnetId: subnet(1), canisterRanges: [range(0n, 99n)] },
    { subnetId: subnet(3), canisterRanges: [range(200n, 299n)] },
  ]);
  for (let i = 0n; i < 600n; i++) {
    const expected = i < 100n ? 1 : i < 200n ? 2 : i < 300n ? 3 : i >= 400n && i < 500n ? 2 : undefined;
    assert.equal(registry.route(canisterIdFromIndex(i))?.toText(), expected && subnet(expected).toText(), `index ${i}`);
  }
  assert.equal(registry.route(Principal.managementCanister()), undefined);
  assert.equal(registry.route(Principal.anonymous()), undefined);
  assert.deepEqual(registry.subnets().map((s) => s.subnetId.toText()), [1, 2, 3].map((n) => subnet(n).toText()));
  assert.equal(registry.subnet(subnet(3))?.canisterRanges.length, 1);
  assert.equal(registry.subnet(subnet(9)), undefined);
});

test('refuses overlapping ranges, empty ranges and a subnet twice, naming them', () => {
  assert.throws(() => new LocalRegistry([
    { subnetId: subnet(1), canisterRanges: [range(0n, 100n)] },
    { subnetId: subnet(2), canisterRanges: [range(100n, 200n)] },
  ]), /canister ranges of subnets .* overlap/);
  assert.throws(() => new LocalRegistry([{ subnetId: subnet(1), canisterRanges: [range(5n, 4n)] }]), /empty canister range/);
  assert.throws(() => new LocalRegistry([
    { subnetId: subnet(1), canisterRanges: [] },
    { subnetId: subnet(1), canisterRanges: [] },
  ]), /is in the registry twice/);
});

test('a node refuses a registry that does not know its subnet, its key or its range', async () => {
  const keys = generateNodeKeys();
  const me = subnetIdentity(keys);
  const id = Principal.fromUint8Array(me.subnetId);
  const start = (registry: LocalRegistry) => Node.start({ port: 0, keys, rootSubnet: false, xnet: { registry, transport: new EmbeddedXNet() } });
  await assert.rejects(start(new LocalRegistry([{ subnetId: subnet(1), canisterRanges: [range(0n, 0xfffffn)] }])), /has no subnet .*this node's subnet/);
  const otherKey = subnetIdentity(generateNodeKeys()).publicKeyDer;
  await assert.rejects(start(new LocalRegistry([{ subnetId: id, publicKeyDer: otherKey, canisterRanges: [range(0n, 0xfffffn)] }])), /public key of subnet .* is not this node's subnet key/);
  await assert.rejects(start(new LocalRegistry([{ subnetId: id, publicKeyDer: me.publicKeyDer, canisterRanges: [range(0n, 10n)] }])), /does not route this node's canister range/);
});
