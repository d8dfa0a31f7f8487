// Calls between canisters of two subnets against calls within one, side by side in one run: a
// local network of two subnets (a node each, certified every round, slices verified by the
// receiver, in-process transport); a Motoko caller makes `--calls` concurrent calls to an echo
// canister (fanout) on its own subnet, then on the other, alternating, `--samples` times each.
// Reported: inter-canister calls per second (wall time of the whole fanout, from the ingress
// call to its certified reply through the real agent), the rounds each fanout took on the
// caller's subnet, and the ratio cross-subnet / local.
// Run: node --import tsx bench/xnet.ts [--calls N] [--samples N]

import { parseArgs } from 'node:util';
import { Actor, HttpAgent } from '@icp-sdk/core/agent';
import { IDL } from '@icp-sdk/core/candid';
import { Ed25519KeyIdentity } from '@icp-sdk/core/identity';
import { startLocalNetwork } from '../replica/src/node/index.js';
import { callerIdl, installOn, type Caller } from '../test/support/two-nodes.js';
import { median } from './support.js';

const { values } = parseArgs({ options: { calls: { type: 'string', default: '500' }, samples: { type: 'string', default: '5' } } });
const CALLS = BigInt(values.calls);
const SAMPLES = Number(values.samples);

const network = await startLocalNetwork({ subnets: 2, node: { roundIntervalMs: 200 } });
const [a, b] = network.nodes;
try {
  const localEcho = await installOn(a!, 'echo');
  const remoteEcho = await installOn(b!, 'echo');
  const agent = await HttpAgent.create({ host: a!.url, shouldFetchRootKey: true, identity: Ed25519KeyIdentity.generate() });
  const callers = {
    local: Actor.createActor<Caller>(callerIdl, { agent, canisterId: await installOn(a!, 'caller', new Uint8Array(IDL.encode([IDL.Principal], [localEcho]))) }),
    'cross-subnet': Actor.createActor<Caller>(callerIdl, { agent, canisterId: await installOn(a!, 'caller', new Uint8Array(IDL.encode([IDL.Principal], [remoteEcho]))) }),
  };
  const results = { local: [] as { perSecond: number; rounds: number }[], 'cross-subnet': [] as { perSecond: number; rounds: number }[] };
  for (let s = -1; s < SAMPLES; s++) {
    for (const kind of ['local', 'cross-subnet'] as const) {
      const before = a!.height;
      const start = performance.now();
      const replies = await callers[kind].fanout(CALLS);
      const seconds = (performance.now() - start) / 1000;
      if (replies !== CALLS) throw new Error(`${kind}: ${replies} replies of ${CALLS}`);
      if (s >= 0) results[kind].push({ perSecond: Number(CALLS) / seconds, rounds: Number(a!.height - before) });
    }
  }
  console.log(`inter-canister calls, ${CALLS} concurrent from one Motoko canister (fanout), median of ${SAMPLES}; 2 subnets, a node each, in process`);
  const row = (kind: keyof typeof results) => {
    const r = results[kind];
    return `  ${kind.padEnd(13)} ${median(r.map((x) => x.perSecond)).toFixed(0).padStart(7)} calls/s   ${median(r.map((x) => x.rounds)).toString().padStart(3)} rounds on the caller's subnet per fanout`;
  };
  console.log(row('local'));
  console.log(row('cross-subnet'));
  const ratio = median(results['cross-subnet'].map((x) => x.perSecond)) / median(results.local.map((x) => x.perSecond));
  console.log(`  cross-subnet / local: ${ratio.toFixed(2)}x`);
} finally {
  await network.close();
}
