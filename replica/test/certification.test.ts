// Hash trees (spec "Certificate", "Lookup", "Encoding of certificates" incl. its worked
// example), witnesses, and the system state tree layout.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as cbor from '@dfinity/cbor';
import { sha256 } from '@noble/hashes/sha2.js';
import {
  buildLabeledTree,
  buildStateTree,
  type CanisterCertifiedState,
  canisterRangeShards,
  type CertifiedStateView,
  decodeHashTree,
  decodeNat,
  DuplicateLabelError,
  digest,
  EMPTY_RANGES_LABEL,
  empty,
  encodeHashTree,
  encodeNat,
  flattenForks,
  fork,
  forest,
  type HashTree,
  hashTreeFromCbor,
  hashTreeToCbor,
  InvalidStateViewError,
  labeled,
  leaf,
  lookupPath,
  lookupSubtree,
  MalformedHashTreeError,
  type Path,
  pruned,
  reconstruct,
  type RequestStatusRecord,
  StateTreeCache,
  witness,
} from '../src/certification/index.js';

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const text = (s: string): Uint8Array => new TextEncoder().encode(s);
const cborOf = (t: HashTree): string => hex(cbor.encode(hashTreeToCbor(t) as unknown as cbor.CborValue));

/** Counts nodes of each kind. */
function census(t: HashTree, acc: Record<string, number> = {}): Record<string, number> {
  acc[t.kind] = (acc[t.kind] ?? 0) + 1;
  if (t.kind === 'fork') {
    census(t.left, acc);
    census(t.right, acc);
  } else if (t.kind === 'labeled') census(t.subtree, acc);
  return acc;
}

// The example of spec "Encoding of certificates" → "Example".
const specTree = fork(
  fork(
    labeled('a', fork(fork(labeled('x', leaf('hello')), empty()), labeled('y', leaf('world')))),
    labeled('b', leaf('good')),
  ),
  fork(labeled('c', empty()), labeled('d', leaf('morning'))),
);

describe('hash tree: the spec example', () => {
  it('encodes to the CBOR of the spec', () => {
    assert.equal(
      cborOf(specTree),
      '8301830183024161830183018302417882034568656c6c6f810083024179820345776f726c6483024162820344676f6f648301830241638100830241648203476d6f726e696e67',
    );
  });

  it('has the root hash of the spec', () => {
    assert.equal(hex(reconstruct(specTree)), 'eb5c5b2195e62d996b84c9bcc8259d19a83786a2f59e0878cec84c811f669aa0');
  });

  it('prunes to the spec witness for /a/y, /ax, /d', () => {
    const w = witness(specTree, [['a', 'y'], ['ax'], ['d']]);
    assert.equal(
      cborOf(w),
      '83018301830241618301820458201b4feff9bef8131788b0c9dc6dbad6e81e524249c879e9f10f71ce3749f5a63883024179820345776f726c6483024162820458207b32ac0c6ba8ce35ac82c255fc7906f7fc130dab2a090f80fe12f9c2cae83ba6830182045820ec8324b8a1f1ac16bd2e806edba78006479c9877fed4eb464a25485465af601d830241648203476d6f726e696e67',
    );
    assert.deepEqual(reconstruct(w), reconstruct(specTree));
  });

  it('looks up the pruned tree as the spec says', () => {
    const w = witness(specTree, [['a', 'y'], ['ax'], ['d']]);
    assert.deepEqual(lookupPath(w, ['a', 'a']), { status: 'unknown' });
    assert.deepEqual(lookupPath(w, ['a', 'y']), { status: 'found', value: text('world') });
    assert.deepEqual(lookupPath(w, ['aa']), { status: 'absent' });
    assert.deepEqual(lookupPath(w, ['ax']), { status: 'absent' });
    assert.deepEqual(lookupPath(w, ['b']), { status: 'unknown' });
    assert.deepEqual(lookupPath(w, ['bb']), { status: 'unknown' });
    assert.deepEqual(lookupPath(w, ['d']), { status: 'found', value: text('morning') });
    assert.deepEqual(lookupPath(w, ['e']), { status: 'absent' });
  });

  it('decodes what it encodes, with or without the self-describing tag', () => {
    const bytes = encodeHashTree(specTree);
    assert.equal(hex(bytes.slice(0, 3)), 'd9d9f7');
    assert.deepEqual(reconstruct(decodeHashTree(bytes)), reconstruct(specTree));
    const untagged = cbor.encode(hashTreeToCbor(specTree) as unknown as cbor.CborValue);
    assert.deepEqual(reconstruct(decodeHashTree(untagged)), reconstruct(specTree));
  });

  it('rejects malformed CBOR trees', () => {
    assert.throws(() => hashTreeFromCbor([5]), MalformedHashTreeError);
    assert.throws(() => hashTreeFromCbor([1, [0]]), MalformedHashTreeError);
    assert.throws(() => hashTreeFromCbor([2, 'x', [0]]), MalformedHashTreeError);
    assert.throws(() => hashTreeFromCbor([4, new Uint8Array(31)]), MalformedHashTreeError);
    assert.throws(() => hashTreeFromCbor('tree'), MalformedHashTreeError);
  });
});

describe('hash tree: digests and lookup', () => {
  it('uses the domain-separated hashes of spec "Certificate"', () => {
    const ds = (s: string) => Uint8Array.from([s.length, ...text(s)]);
    assert.deepEqual(digest(empty()), sha256(ds('ic-hashtree-empty')));
    assert.deepEqual(digest(leaf('v')), sha256(Uint8Array.from([...ds('ic-hashtree-leaf'), ...text('v')])));
    const l = leaf('v');
    assert.deepEqual(
      digest(labeled('k', l)),
      sha256(Uint8Array.from([...ds('ic-hashtree-labeled'), ...text('k'), ...digest(l)])),
    );
    assert.deepEqual(
      digest(fork(l, empty())),
      sha256(Uint8Array.from([...ds('ic-hashtree-fork'), ...digest(l), ...digest(empty())])),
    );
    assert.deepEqual(digest(pruned(digest(l))), digest(l));
  });

  it('covers all lookup outcomes', () => {
    const t = buildLabeledTree(new Map<string, Uint8Array | Map<string, Uint8Array>>([
      ['k', text('v')],
      ['sub', new Map([['x', text('1')]])],
    ]));
    assert.deepEqual(lookupPath(t, ['k']), { status: 'found', value: text('v') });
    assert.deepEqual(lookupPath(t, ['sub']), { status: 'error' });
    assert.deepEqual(lookupPath(t, ['k', 'deeper']), { status: 'absent' }); // below a leaf
    assert.deepEqual(lookupPath(t, ['a']), { status: 'absent' }); // before the first label
    assert.deepEqual(lookupPath(t, ['m']), { status: 'absent' }); // between labels
    assert.deepEqual(lookupPath(t, ['z']), { status: 'absent' }); // after the last label
    assert.deepEqual(lookupPath(empty(), []), { status: 'absent' });
    assert.deepEqual(lookupPath(pruned(digest(t)), ['k']), { status: 'unknown' });
    assert.deepEqual(lookupPath(pruned(digest(t)), []), { status: 'unknown' });
    const sub = lookupSubtree(t, ['sub']);
    assert.equal(sub.status, 'found');
    // Labels compare as bytes: a label that is a prefix of another sorts first.
    const p = forest([[text('canister_ranges'), leaf('r')], [text('canister'), leaf('c')]]);
    assert.deepEqual(flattenForks(p).map((n) => (n.kind === 'labeled' ? new TextDecoder().decode(n.label) : '?')), [
      'canister',
      'canister_ranges',
    ]);
    assert.deepEqual(lookupPath(p, ['canister_ranges']), { status: 'found', value: text('r') });
  });

  it('builds forks the way the IC pairs them (left to right, odd one carried)', () => {
    const labels = ['0', '1', '2', '3', '4', '5', '6'];
    const t = forest(labels.map((l) => [l, leaf(l)] as const));
    const shape = (n: HashTree): string =>
      n.kind === 'fork' ? `(${shape(n.left)} ${shape(n.right)})` : n.kind === 'labeled' ? new TextDecoder().decode(n.label) : '?';
    assert.equal(shape(t), '(((0 1) (2 3)) ((4 5) 6))');
    assert.equal(forest([]).kind, 'empty');
    assert.equal(forest([['only', leaf('x')]]).kind, 'labeled');
  });

  it('sorts children and rejects duplicate labels', () => {
    const a = forest([['b', leaf('2')], ['a', leaf('1')]]);
    const b = forest([['a', leaf('1')], ['b', leaf('2')]]);
    assert.deepEqual(reconstruct(a), reconstruct(b));
    assert.throws(() => forest([['a', leaf('1')], ['a', leaf('2')]]), DuplicateLabelError);
  });

  it('embeds prebuilt subtrees in the labeled-tree builder', () => {
    const sub = forest([['x', leaf('1')]]);
    const t = buildLabeledTree([['s', sub], ['v', text('2')]]);
    const found = lookupSubtree(t, ['s']);
    assert.equal(found.status === 'found' && found.subtree, sub);
  });
});

/** A deterministic pseudo-random generator for property tests. */
function prng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function randomTree(rand: () => number, depth: number): Map<string, unknown> {
  const m = new Map<string, unknown>();
  const n = 1 + Math.floor(rand() * 6);
  for (let i = 0; i < n; i++) {
    const label = String.fromCharCode(97 + Math.floor(rand() * 8)) + (rand() < 0.3 ? 'x' : '');
    m.set(label, depth > 0 && rand() < 0.5 ? randomTree(rand, depth - 1) : text(`v${i}`));
  }
  return m;
}

function allPaths(m: Map<string, unknown>, prefix: string[] = []): string[][] {
  const out: string[][] = [];
  for (const [k, v] of m) {
    if (v instanceof Map) out.push(...allPaths(v as Map<string, unknown>, [...prefix, k]));
    else out.push([...prefix, k]);
  }
  return out;
}

function valueAt(m: Map<string, unknown>, path: readonly string[]): Uint8Array | undefined | 'subtree' {
  let cur: unknown = m;
  for (const l of path) {
    if (!(cur instanceof Map)) return undefined;
    cur = (cur as Map<string, unknown>).get(l);
    if (cur === undefined) return undefined;
  }
  return cur instanceof Map ? 'subtree' : (cur as Uint8Array);
}

function revealedLeaves(t: HashTree): number {
  if (t.kind === 'leaf') return 1;
  if (t.kind === 'fork') return revealedLeaves(t.left) + revealedLeaves(t.right);
  if (t.kind === 'labeled') return revealedLeaves(t.subtree);
  return 0;
}

describe('witnesses', () => {
  it('keep the root hash and reveal exactly the requested paths (random trees)', () => {
    const rand = prng(42);
    for (let round = 0; round < 200; round++) {
      const data = randomTree(rand, 3);
      const full = buildLabeledTree(data as never);
      const leaves = allPaths(data);
      const chosen = leaves.filter(() => rand() < 0.3);
      const absent: string[][] = [['zz'], [...(leaves[0] ?? ['a']).slice(0, 1), 'nope'], ['a', 'b', 'c', 'd']];
      const w = witness(full, [...chosen, ...absent]);
      assert.deepEqual(reconstruct(w), reconstruct(full));
      for (const p of leaves) {
        const r = lookupPath(w, p);
        if (chosen.some((c) => c.join('/') === p.join('/'))) {
          assert.deepEqual(r, { status: 'found', value: valueAt(data, p) });
        } else {
          assert.notEqual(r.status, 'found', `unrequested ${p.join('/')} must not be revealed`);
        }
      }
      for (const p of absent) {
        const expected = valueAt(data, p);
        const r = lookupPath(w, p);
        if (expected === undefined) assert.ok(r.status === 'absent' || r.status === 'unknown', `${p.join('/')}: ${r.status}`);
      }
      // Only requested leaves carry values.
      assert.equal(revealedLeaves(w), chosen.length);
    }
  });

  it('prove absence with the neighbouring labels', () => {
    const full = forest(['a', 'c', 'e', 'g'].map((l) => [l, leaf(l)] as const));
    for (const [missing, expectedLabels] of [
      ['b', ['a', 'c']],
      ['0', ['a']],
      ['z', ['g']],
    ] as const) {
      const w = witness(full, [[missing]]);
      assert.deepEqual(lookupPath(w, [missing]), { status: 'absent' });
      const labels = flattenForks(w)
        .filter((n) => n.kind === 'labeled')
        .map((n) => new TextDecoder().decode((n as { label: Uint8Array }).label));
      assert.deepEqual(labels, expectedLabels);
      assert.equal(revealedLeaves(w), 0);
    }
  });

  it('reveal a whole subtree when a path ends at an inner node, and nothing for no paths', () => {
    const full = buildLabeledTree(new Map<string, unknown>([['r', new Map([['x', text('1')], ['y', text('2')]])], ['s', text('3')]]) as never);
    const w = witness(full, [['r']]);
    assert.deepEqual(lookupPath(w, ['r', 'x']), { status: 'found', value: text('1') });
    assert.deepEqual(lookupPath(w, ['r', 'y']), { status: 'found', value: text('2') });
    assert.deepEqual(lookupPath(w, ['s']), { status: 'unknown' });
    const none = witness(full, []);
    assert.equal(none.kind, 'pruned');
    assert.deepEqual(reconstruct(none), reconstruct(full));
  });

  it('is cheap on a large forest (targeted rebuild, cached sizes)', () => {
    const n = 20_000;
    const full = forest(Array.from({ length: n }, (_, i) => [Buffer.from(i.toString(16).padStart(8, '0')), leaf(String(i))] as const));
    digest(full);
    witness(full, [[Buffer.from('00000001')]]); // warm the per-node caches
    const t0 = performance.now();
    for (let i = 0; i < 200; i++) witness(full, [[Buffer.from((i * 97).toString(16).padStart(8, '0'))]]);
    const perWitness = (performance.now() - t0) / 200;
    assert.ok(perWitness < 5, `witness took ${perWitness.toFixed(2)} ms`);
    const w = witness(full, [[Buffer.from('00000005')]]);
    // One path in a forest of 2^14+... leaves: O(log n) nodes.
    const c = census(w);
    assert.ok((c['fork'] ?? 0) <= 20 && (c['pruned'] ?? 0) <= 20, JSON.stringify(c));
  });
});

// --- the system state tree ----------------------------------------------------------------------

const canisterId = (n: number): Uint8Array => Uint8Array.from([0, 0, 0, 0, 0, n >> 16, (n >> 8) & 0xff, n & 0xff, 1, 1]);
const subnetId = Uint8Array.from({ length: 29 }, (_, i) => i + 1);

function sampleView(time = 1_700_000_000_000_000_000n): CertifiedStateView {
  const installed: CanisterCertifiedState = {
    canisterId: canisterId(1),
    controllers: [Uint8Array.of(4), canisterId(9)],
    certifiedData: text('hello'),
    moduleHash: new Uint8Array(32).fill(7),
    metadata: [
      { name: 'candid:service', visibility: 'public', content: text('service : {}') },
      { name: 'secret', visibility: 'private', content: text('s') },
    ],
  };
  const emptyCanister: CanisterCertifiedState = { canisterId: canisterId(2), controllers: [], certifiedData: new Uint8Array() };
  const req = (b: number, r: Omit<RequestStatusRecord, 'requestId'>): RequestStatusRecord => ({ requestId: new Uint8Array(32).fill(b), ...r });
  return {
    time,
    canisters: [emptyCanister, installed],
    requestStatus: [
      req(1, { status: 'replied', reply: text('DIDL') }),
      req(2, { status: 'rejected', rejectCode: 5, rejectMessage: 'trapped', errorCode: 'IC0503' }),
      req(3, { status: 'processing' }),
    ],
    subnets: [
      {
        subnetId,
        publicKey: new Uint8Array(133).fill(9),
        canisterRanges: [[canisterId(0), canisterId(0xffff)]],
        nodes: [{ nodeId: Uint8Array.of(1, 2, 3), publicKey: text('ed25519 key') }],
        metrics: { numCanisters: 2n, canisterStateBytes: 1000n, consumedCyclesTotal: (1n << 64n) + 5n, updateTransactionsTotal: 3n },
        subnetType: 'application',
      },
    ],
    apiBoundaryNodes: [{ nodeId: Uint8Array.of(7), domain: 'api.example.com', ipv6Address: '::1' }],
  };
}

describe('state tree', () => {
  const tree = buildStateTree(sampleView());
  const found = (p: Path): Uint8Array => {
    const r = lookupPath(tree, p);
    assert.equal(r.status, 'found', `${p.map((l) => (typeof l === 'string' ? l : hex(l))).join('/')}: ${r.status}`);
    return (r as { value: Uint8Array }).value;
  };

  it('has /time as LEB128 nanoseconds', () => {
    assert.equal(decodeNat(found(['time'])), 1_700_000_000_000_000_000n);
    assert.equal(hex(encodeNat(624485)), 'e58e26'); // the LEB128 example of the Wikipedia/DWARF spec
  });

  it('has the canister paths of spec "Canister information"', () => {
    const c = canisterId(1);
    assert.deepEqual(found(['canister', c, 'certified_data']), text('hello'));
    assert.deepEqual(found(['canister', c, 'module_hash']), new Uint8Array(32).fill(7));
    assert.deepEqual(found(['canister', c, 'metadata', 'candid:service']), text('service : {}'));
    assert.deepEqual(found(['canister', c, 'metadata', 'secret']), text('s'));
    const controllers = found(['canister', c, 'controllers']);
    assert.equal(hex(controllers.slice(0, 3)), 'd9d9f7', 'self-describing tag');
    assert.deepEqual(cbor.decode(controllers), [Uint8Array.of(4), canisterId(9)]);
    // An empty canister only has controllers, like on the IC.
    assert.deepEqual(cbor.decode(found(['canister', canisterId(2), 'controllers'])), []);
    assert.equal(lookupPath(tree, ['canister', canisterId(2), 'module_hash']).status, 'absent');
    assert.equal(lookupPath(tree, ['canister', canisterId(2), 'certified_data']).status, 'absent');
  });

  it('has the request status paths of spec "Request status"', () => {
    const id = (b: number) => new Uint8Array(32).fill(b);
    assert.deepEqual(found(['request_status', id(1), 'status']), text('replied'));
    assert.deepEqual(found(['request_status', id(1), 'reply']), text('DIDL'));
    assert.deepEqual(found(['request_status', id(2), 'status']), text('rejected'));
    assert.equal(decodeNat(found(['request_status', id(2), 'reject_code'])), 5n);
    assert.deepEqual(found(['request_status', id(2), 'reject_message']), text('trapped'));
    assert.deepEqual(found(['request_status', id(2), 'error_code']), text('IC0503'));
    assert.deepEqual(found(['request_status', id(3), 'status']), text('processing'));
    assert.equal(lookupPath(tree, ['request_status', id(3), 'reply']).status, 'absent');
    assert.equal(lookupPath(tree, ['request_status', id(4), 'status']).status, 'absent');
  });

  it('has the subnet paths of spec "Subnet information" and the sharded canister ranges', () => {
    assert.deepEqual(found(['subnet', subnetId, 'public_key']), new Uint8Array(133).fill(9));
    const flat = found(['subnet', subnetId, 'canister_ranges']);
    assert.equal(hex(flat.slice(0, 3)), 'd9d9f7');
    assert.deepEqual(cbor.decode(flat), [[canisterId(0), canisterId(0xffff)]]);
    assert.deepEqual(cbor.decode(found(['canister_ranges', subnetId, canisterId(0)])), [[canisterId(0), canisterId(0xffff)]]);
    assert.deepEqual(found(['subnet', subnetId, 'node', Uint8Array.of(1, 2, 3), 'public_key']), text('ed25519 key'));
    assert.deepEqual(found(['subnet', subnetId, 'type']), text('application'));
    assert.deepEqual(cbor.decode(found(['subnet', subnetId, 'metrics'])), {
      num_canisters: 2,
      canister_state_bytes: 1000,
      consumed_cycles_total: { low: 5, high: 1 },
      update_transactions_total: 3,
    });
    assert.deepEqual(found(['api_boundary_nodes', Uint8Array.of(7), 'domain']), text('api.example.com'));
    assert.equal(lookupPath(tree, ['api_boundary_nodes', Uint8Array.of(7), 'ipv4_address']).status, 'absent');
  });

  it('splits canister ranges into shards of five labeled by their lowest canister id', () => {
    const ranges = Array.from({ length: 12 }, (_, i) => [canisterId(i * 10), canisterId(i * 10 + 5)] as const).reverse();
    const shards = canisterRangeShards(ranges);
    const labels = flattenForks(shards).map((n) => hex((n as { label: Uint8Array }).label));
    assert.deepEqual(labels, [hex(canisterId(0)), hex(canisterId(50)), hex(canisterId(100))]);
    assert.equal((cbor.decode(lookupPath(shards, [canisterId(50)]).status === 'found' ? (lookupPath(shards, [canisterId(50)]) as { value: Uint8Array }).value : new Uint8Array()) as unknown[]).length, 5);
    const none = canisterRangeShards([]);
    assert.deepEqual(cbor.decode((lookupPath(none, [EMPTY_RANGES_LABEL]) as { value: Uint8Array }).value), []);
  });

  it('always has the top-level subtrees, empty ones included', () => {
    const t = buildStateTree({ time: 0n, canisters: [], requestStatus: [], subnets: [] });
    const labels = flattenForks(t).map((n) => new TextDecoder().decode((n as { label: Uint8Array }).label));
    assert.deepEqual(labels, ['api_boundary_nodes', 'canister', 'canister_ranges', 'request_status', 'subnet', 'time']);
    assert.equal(lookupSubtree(t, ['canister']).status, 'found');
  });

  it('rejects inconsistent records', () => {
    const base = { time: 0n, canisters: [], subnets: [] };
    assert.throws(
      () => buildStateTree({ ...base, requestStatus: [{ requestId: new Uint8Array(32), status: 'replied' }] }),
      InvalidStateViewError,
    );
    assert.throws(
      () => buildStateTree({ ...base, requestStatus: [{ requestId: new Uint8Array(31), status: 'received' }] }),
      InvalidStateViewError,
    );
    const dup = { canisterId: canisterId(1), controllers: [], certifiedData: new Uint8Array() };
    assert.throws(() => buildStateTree({ ...base, requestStatus: [], canisters: [dup, { ...dup }] }), DuplicateLabelError);
  });

  it('does not depend on the order of records', () => {
    const v = sampleView();
    const reversed: CertifiedStateView = {
      ...v,
      canisters: [...v.canisters].reverse(),
      requestStatus: [...v.requestStatus].reverse(),
    };
    assert.deepEqual(reconstruct(buildStateTree(reversed)), reconstruct(tree));
  });

  it('reuses unchanged subtrees with a cache and still yields the uncached root hash', () => {
    const n = 3000;
    const canisters: CanisterCertifiedState[] = Array.from({ length: n }, (_, i) => ({
      canisterId: canisterId(i),
      controllers: [Uint8Array.of(4)],
      certifiedData: text(`data ${i}`),
      moduleHash: new Uint8Array(32).fill(i & 0xff),
    }));
    const cache = new StateTreeCache();
    const view = (time: bigint): CertifiedStateView => ({ time, canisters, requestStatus: [], subnets: [] });
    const t1 = buildStateTree(view(1n), cache);
    digest(t1);
    // One canister changes (copy-on-write), time advances.
    canisters[1234] = { ...canisters[1234]!, certifiedData: text('changed') };
    const t0 = performance.now();
    const t2 = buildStateTree(view(2n), cache);
    const root = reconstruct(t2);
    const cachedMs = performance.now() - t0;
    const t3 = performance.now();
    const uncached = reconstruct(buildStateTree(view(2n)));
    const uncachedMs = performance.now() - t3;
    assert.deepEqual(root, uncached);
    assert.notDeepEqual(reconstruct(t1), root);
    assert.deepEqual(lookupPath(t2, ['canister', canisterId(1234), 'certified_data']), { status: 'found', value: text('changed') });
    assert.ok(cachedMs < uncachedMs, `cached ${cachedMs.toFixed(1)} ms vs uncached ${uncachedMs.toFixed(1)} ms`);
  });
});
