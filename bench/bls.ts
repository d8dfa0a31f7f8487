// Threshold BLS cost per round: each replica signs its share of the state root (and of the
// random tape), one replica combines, clients verify. Run: npx tsx bench/bls.ts

import {
  buildStateTree,
  type CanisterCertifiedState,
  certificationThreshold,
  combine,
  dealKeys,
  digest,
  randomnessThreshold,
  signShare,
  StateTreeCache,
  stateRootMessage,
  verify,
  verifyShare,
} from '../replica/src/certification/index.js';
import { randomTapeMessage } from '../replica/src/randomness/index.js';

function time(iterations: number, f: () => void): number {
  f(); // warm up (JIT, precomputed tables)
  const t0 = performance.now();
  for (let i = 0; i < iterations; i++) f();
  return (performance.now() - t0) / iterations;
}

const ms = (x: number): string => x.toFixed(2);
const rootHash = new Uint8Array(32).fill(7);
const stateMessage = stateRootMessage(rootHash);
const tapeMessage = randomTapeMessage(1234n);

console.log('## Threshold BLS per round (BLS12-381, @noble/curves, single thread)\n');
console.log('| n | purpose | threshold | signShare per replica (ms) | verifyShare per share (ms) | combine (ms) | verify (ms) | round critical path* (ms) |');
console.log('|---|---|---|---|---|---|---|---|');
for (const n of [1, 4, 13]) {
  for (const [purpose, threshold, message] of [
    ['certification', certificationThreshold(n), stateMessage],
    ['random tape', randomnessThreshold(n), tapeMessage],
  ] as const) {
    const keys = dealKeys(n, threshold);
    const share = keys.shares[0]!;
    const sign = time(20, () => signShare(share.secret, message));
    const shares = keys.shares.map((s) => ({ index: s.index, signature: signShare(s.secret, message) }));
    const verifyOne = time(10, () => verifyShare(share.publicShare, message, shares[0]!.signature));
    const comb = time(20, () => combine(shares, threshold));
    const signature = combine(shares, threshold);
    const ver = time(10, () => verify(keys.publicKey, message, signature));
    // Replicas sign in parallel; the combiner verifies the `threshold` shares it uses (or, as
    // LocalThresholdSigner does, only the combined result, falling back to shares on failure).
    const critical = sign + comb + ver;
    console.log(`| ${n} | ${purpose} | ${threshold} | ${ms(sign)} | ${ms(verifyOne)} | ${ms(comb)} | ${ms(ver)} | ${ms(critical)} |`);
  }
}
console.log('\n*signShare + combine + verify of the combined signature (replicas sign in parallel).\n');

console.log('## State tree per round\n');
console.log('| canisters | build + hash, no cache | build + hash, cache, 10 canisters changed |');
console.log('|---|---|---|');
const canisterId = (i: number) => Uint8Array.from([0, 0, 0, 0, 0, (i >> 16) & 0xff, (i >> 8) & 0xff, i & 0xff, 1, 1]);
for (const count of [1_000, 10_000]) {
  const canisters: CanisterCertifiedState[] = Array.from({ length: count }, (_, i) => ({
    canisterId: canisterId(i),
    controllers: [Uint8Array.of(4)],
    certifiedData: new Uint8Array(32).fill(i & 0xff),
    moduleHash: new Uint8Array(32).fill(1),
  }));
  let height = 0n;
  const view = () => ({ time: ++height, canisters, requestStatus: [], subnets: [] });
  const cold = time(3, () => digest(buildStateTree(view())));
  const cache = new StateTreeCache();
  digest(buildStateTree(view(), cache));
  const warm = time(20, () => {
    for (let k = 0; k < 10; k++) {
      const i = (Number(height) * 31 + k * 97) % count;
      canisters[i] = { ...canisters[i]!, certifiedData: new Uint8Array(32).fill(Number(height) & 0xff) };
    }
    digest(buildStateTree(view(), cache));
  });
  console.log(`| ${count} | ${ms(cold)} ms | ${ms(warm)} ms |`);
}
