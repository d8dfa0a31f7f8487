// Hash trees, interface spec "Certificate", "Lookup" and "Encoding of certificates".

import * as cbor from '@dfinity/cbor';
import { sha256 } from '@noble/hashes/sha2.js';
import { DuplicateLabelError, MalformedHashTreeError } from './errors.js';
import { compareBytes, equalBytes } from '../bytes.js';

import type {
  EmptyNode,
  ForkNode,
  HashTree,
  Label,
  LabeledNode,
  LabeledTreeInput,
  LookupResult,
  Path,
  SubtreeLookupResult,
} from './types.js';

/** Lexicographic byte order is the order of labels in well-formed trees (spec "Lookup"). */
export { compareBytes, equalBytes };

const utf8 = new TextEncoder();

/** Spec "Certificate": `domain_sep(s) = byte(|s|) · s`. */
export function domainSeparator(s: string): Uint8Array {
  const bytes = utf8.encode(s);
  if (bytes.length > 255) throw new RangeError('domain separator longer than 255 bytes');
  const out = new Uint8Array(bytes.length + 1);
  out[0] = bytes.length;
  out.set(bytes, 1);
  return out;
}

const EMPTY_SEPARATOR = domainSeparator('ic-hashtree-empty');
const FORK_SEPARATOR = domainSeparator('ic-hashtree-fork');
const LABELED_SEPARATOR = domainSeparator('ic-hashtree-labeled');
const LEAF_SEPARATOR = domainSeparator('ic-hashtree-leaf');

/** `reconstruct(Empty) = H(domain_sep("ic-hashtree-empty"))`. */
const EMPTY_DIGEST = sha256(EMPTY_SEPARATOR);

// ---------------------------------------------------------------------------------------------
// Construction
// ---------------------------------------------------------------------------------------------

const EMPTY: EmptyNode = Object.freeze({ kind: 'empty' });

export function labelBytes(label: Label): Uint8Array {
  return typeof label === 'string' ? utf8.encode(label) : label;
}

export function empty(): HashTree {
  return EMPTY;
}

export function fork(left: HashTree, right: HashTree): HashTree {
  return { kind: 'fork', left, right };
}

export function labeled(label: Label, subtree: HashTree): HashTree {
  return { kind: 'labeled', label: labelBytes(label), subtree };
}

export function leaf(value: Uint8Array | string): HashTree {
  return { kind: 'leaf', value: typeof value === 'string' ? utf8.encode(value) : value };
}

export function pruned(digest: Uint8Array): HashTree {
  if (digest.length !== 32) throw new MalformedHashTreeError(`pruned digest has ${digest.length} bytes, expected 32`);
  return { kind: 'pruned', digest };
}



/**
 * Memo of forks built by `pairForks`, keyed by the left child: when a round rebuilds a forest
 * whose neighbouring children are the very same objects as last round, it gets the very same
 * fork object back, whose digest is already cached. One changed canister out of n therefore
 * costs O(log n) fork hashes instead of O(n).
 */
export type ForkMemo = WeakMap<HashTree, ForkNode>;

function memoFork(left: HashTree, right: HashTree, memo: ForkMemo | undefined): HashTree {
  if (memo === undefined) return fork(left, right);
  const cached = memo.get(left);
  if (cached !== undefined && cached.right === right) return cached;
  const made: ForkNode = { kind: 'fork', left, right };
  memo.set(left, made);
  return made;
}

/**
 * Joins sibling nodes with forks the way the IC does (rs/canonical_state tree_hash): pair
 * neighbours from left to right, carry an odd one over to the next level, repeat until one
 * node is left. For N = 2^k1 + 2^k2 + ... this yields full binary trees of 2^k1, 2^k2, ...
 * leaves, nested to the right; depth is ⌈log2 N⌉.
 */
export function pairForks(nodes: readonly HashTree[], memo?: ForkMemo): HashTree {
  if (nodes.length === 0) return EMPTY;
  let level = nodes;
  while (level.length > 1) {
    const next: HashTree[] = [];
    let i = 0;
    for (; i + 1 < level.length; i += 2) next.push(memoFork(level[i]!, level[i + 1]!, memo));
    if (i < level.length) next.push(level[i]!);
    level = next;
  }
  return level[0]!;
}

/**
 * The subtree of a node with the given labeled children: children sorted by label (an already
 * sorted input is detected in O(n) and not re-sorted), wrapped in `Labeled` nodes and joined by
 * `pairForks`. No children gives `Empty`. Duplicate labels throw `DuplicateLabelError`.
 */
export function forest(children: Iterable<readonly [Label, HashTree]>, memo?: ForkMemo): HashTree {
  const nodes: LabeledNode[] = [];
  for (const [label, subtree] of children) nodes.push({ kind: 'labeled', label: labelBytes(label), subtree });
  return forestOfLabeled(nodes, memo);
}

/** Like `forest`, for ready-made labeled nodes (lets callers cache the labeled nodes too). */
export function forestOfLabeled(nodes: LabeledNode[], memo?: ForkMemo): HashTree {
  let sorted = true;
  for (let i = 1; i < nodes.length; i++) {
    if (compareBytes(nodes[i - 1]!.label, nodes[i]!.label) >= 0) {
      sorted = false;
      break;
    }
  }
  if (!sorted) {
    nodes = [...nodes].sort((a, b) => compareBytes(a.label, b.label));
    for (let i = 1; i < nodes.length; i++) {
      if (compareBytes(nodes[i - 1]!.label, nodes[i]!.label) === 0) throw new DuplicateLabelError(nodes[i]!.label);
    }
  }
  return pairForks(nodes, memo);
}

function isHashTree(input: object): input is HashTree {
  return 'kind' in input && typeof (input as { kind: unknown }).kind === 'string';
}

/**
 * Builds a well-formed hash tree from a nested labeled tree: `Uint8Array` is a leaf, a map or
 * entry list is a subtree (children sorted, balanced forks as in `pairForks`), and a `HashTree`
 * is embedded unchanged (which is how cached subtrees are reused).
 */
export function buildLabeledTree(input: LabeledTreeInput): HashTree {
  if (input instanceof Uint8Array) return { kind: 'leaf', value: input };
  if (input instanceof Map || Array.isArray(input)) {
    const entries = input instanceof Map ? [...input.entries()] : (input as readonly (readonly [Label, LabeledTreeInput])[]);
    return forest(entries.map(([label, child]) => [label, buildLabeledTree(child)] as const));
  }
  if (isHashTree(input as object)) return input as HashTree;
  throw new MalformedHashTreeError('labeled tree input is neither bytes, a map, an entry list nor a hash tree');
}

// ---------------------------------------------------------------------------------------------
// Digests
// ---------------------------------------------------------------------------------------------

// Digests of immutable nodes, computed at most once per node object.
const digestCache = new WeakMap<HashTree, Uint8Array>();

/**
 * `reconstruct(tree)` of spec "Certificate", memoized per node. The returned array is shared
 * with the cache: do not mutate it (`reconstruct` returns a copy).
 */
export function digest(tree: HashTree): Uint8Array {
  switch (tree.kind) {
    case 'empty':
      return EMPTY_DIGEST;
    case 'pruned':
      return tree.digest;
    default:
      break;
  }
  const cached = digestCache.get(tree);
  if (cached !== undefined) return cached;
  let d: Uint8Array;
  switch (tree.kind) {
    case 'fork':
      d = sha256.create().update(FORK_SEPARATOR).update(digest(tree.left)).update(digest(tree.right)).digest();
      break;
    case 'labeled':
      d = sha256.create().update(LABELED_SEPARATOR).update(tree.label).update(digest(tree.subtree)).digest();
      break;
    case 'leaf':
      d = sha256.create().update(LEAF_SEPARATOR).update(tree.value).digest();
      break;
  }
  digestCache.set(tree, d);
  return d;
}

/** The root hash of a tree (spec `reconstruct`), as a fresh array. */
export function reconstruct(tree: HashTree): Uint8Array {
  return digest(tree).slice();
}

// ---------------------------------------------------------------------------------------------
// Lookup (spec "Lookup")
// ---------------------------------------------------------------------------------------------

/** `flatten_forks`: the children of a node, seen through its forks; `Empty` contributes none. */
export function flattenForks(tree: HashTree): HashTree[] {
  const out: HashTree[] = [];
  const stack: HashTree[] = [tree];
  while (stack.length > 0) {
    const t = stack.pop()!;
    if (t.kind === 'fork') {
      stack.push(t.right, t.left);
    } else if (t.kind !== 'empty') {
      out.push(t);
    }
  }
  return out;
}

/**
 * `well_formed` of spec "Canister signatures": a leaf, or a forest whose labels strictly
 * increase, with no leaf beside other nodes and every labeled subtree well-formed itself.
 */
export function wellFormed(tree: HashTree): boolean {
  if (tree.kind === 'leaf') return true;
  let previous: Uint8Array | undefined;
  for (const t of flattenForks(tree)) {
    if (t.kind === 'leaf') return false;
    if (t.kind !== 'labeled') continue;
    if (previous !== undefined && compareBytes(previous, t.label) >= 0) return false;
    if (!wellFormed(t.subtree)) return false;
    previous = t.label;
  }
  return true;
}

type LabelSearch = { status: 'found'; subtree: HashTree } | { status: 'absent' } | { status: 'unknown' };

/** `find_label` of spec "Lookup", over `flatten_forks(tree)`. */
export function findLabel(label: Label, tree: HashTree): LabelSearch {
  const l = labelBytes(label);
  const trees = flattenForks(tree);
  if (trees.length === 0) return { status: 'absent' };
  if (trees.length === 1 && trees[0]!.kind === 'leaf') return { status: 'absent' };
  for (const t of trees) {
    if (t.kind === 'labeled' && equalBytes(t.label, l)) return { status: 'found', subtree: t.subtree };
  }
  const first = trees[0]!;
  if (first.kind === 'labeled' && compareBytes(l, first.label) < 0) return { status: 'absent' };
  const last = trees[trees.length - 1]!;
  if (last.kind === 'labeled' && compareBytes(last.label, l) < 0) return { status: 'absent' };
  for (let i = 0; i + 1 < trees.length; i++) {
    const a = trees[i]!;
    const b = trees[i + 1]!;
    if (a.kind === 'labeled' && b.kind === 'labeled' && compareBytes(a.label, l) < 0 && compareBytes(l, b.label) < 0) {
      return { status: 'absent' };
    }
  }
  return { status: 'unknown' };
}

/** `lookup_path` of spec "Lookup". */
export function lookupPath(tree: HashTree, path: Path): LookupResult {
  let t = tree;
  for (const label of path) {
    const found = findLabel(label, t);
    if (found.status !== 'found') return found;
    t = found.subtree;
  }
  switch (t.kind) {
    case 'empty':
      return { status: 'absent' };
    case 'leaf':
      return { status: 'found', value: t.value };
    case 'pruned':
      return { status: 'unknown' };
    default:
      return { status: 'error' };
  }
}

/** The subtree at `path` (any node kind), as agents' `lookup_subtree`. */
export function lookupSubtree(tree: HashTree, path: Path): SubtreeLookupResult {
  let t = tree;
  for (const label of path) {
    const found = findLabel(label, t);
    if (found.status !== 'found') return found;
    t = found.subtree;
  }
  return { status: 'found', subtree: t };
}

// ---------------------------------------------------------------------------------------------
// CBOR (spec "Encoding of certificates", certificates.cddl)
// ---------------------------------------------------------------------------------------------

/** A hash tree as the CDDL's arrays: `[0]`, `[1 l r]`, `[2 label t]`, `[3 data]`, `[4 hash]`. */
export type HashTreeCbor =
  | readonly [0]
  | readonly [1, HashTreeCbor, HashTreeCbor]
  | readonly [2, Uint8Array, HashTreeCbor]
  | readonly [3, Uint8Array]
  | readonly [4, Uint8Array];

export function hashTreeToCbor(tree: HashTree): HashTreeCbor {
  switch (tree.kind) {
    case 'empty':
      return [0];
    case 'fork':
      return [1, hashTreeToCbor(tree.left), hashTreeToCbor(tree.right)];
    case 'labeled':
      return [2, tree.label, hashTreeToCbor(tree.subtree)];
    case 'leaf':
      return [3, tree.value];
    case 'pruned':
      return [4, tree.digest];
  }
}

function asBytes(value: unknown, what: string): Uint8Array {
  if (value instanceof Uint8Array) return value;
  if (value instanceof ArrayBuffer) return new Uint8Array(value);
  throw new MalformedHashTreeError(`${what} is not a byte string`);
}

/** Decodes the CDDL array form; throws `MalformedHashTreeError` on anything else. */
export function hashTreeFromCbor(value: unknown): HashTree {
  if (!Array.isArray(value) || value.length === 0) throw new MalformedHashTreeError('hash tree node is not a non-empty array');
  const tag = value[0];
  switch (tag) {
    case 0:
      if (value.length !== 1) break;
      return EMPTY;
    case 1:
      if (value.length !== 3) break;
      return fork(hashTreeFromCbor(value[1]), hashTreeFromCbor(value[2]));
    case 2:
      if (value.length !== 3) break;
      return { kind: 'labeled', label: asBytes(value[1], 'label'), subtree: hashTreeFromCbor(value[2]) };
    case 3:
      if (value.length !== 2) break;
      return { kind: 'leaf', value: asBytes(value[1], 'leaf value') };
    case 4:
      if (value.length !== 2) break;
      return pruned(asBytes(value[1], 'pruned digest'));
    default:
      throw new MalformedHashTreeError(`unknown hash tree node tag ${String(tag)}`);
  }
  throw new MalformedHashTreeError(`hash tree node with tag ${String(tag)} has ${value.length} elements`);
}

/** CBOR bytes of a tree on its own (with the self-describing tag 55799). */
export function encodeHashTree(tree: HashTree): Uint8Array {
  return cbor.encodeWithSelfDescribedTag(hashTreeToCbor(tree) as unknown as cbor.CborValue);
}

export function decodeHashTree(bytes: Uint8Array): HashTree {
  let value: unknown;
  try {
    value = cbor.decode(bytes);
  } catch (cause) {
    throw new MalformedHashTreeError('hash tree is not valid CBOR', { cause });
  }
  return hashTreeFromCbor(value);
}
