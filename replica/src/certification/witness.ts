// Witness generation: prune a full tree down to the paths a client asked for (spec
// "Certificate": "The state tree can be pruned by replacing subtrees with their root hashes").

import { compareBytes, digest, flattenForks, labelBytes } from './hash-tree.js';
import type { HashTree, Path } from './types.js';

interface PathTrie {
  /** A requested path ends here: reveal the whole subtree. */
  whole: boolean;
  readonly children: Map<string, { readonly label: Uint8Array; readonly next: PathTrie }>;
}

function newTrie(): PathTrie {
  return { whole: false, children: new Map() };
}

function trieOf(paths: readonly Path[]): PathTrie {
  const root = newTrie();
  for (const path of paths) {
    let node = root;
    for (const l of path) {
      const label = labelBytes(l);
      const key = Buffer.from(label.buffer, label.byteOffset, label.byteLength).toString('latin1');
      let child = node.children.get(key);
      if (child === undefined) {
        child = { label, next: newTrie() };
        node.children.set(key, child);
      }
      node = child.next;
    }
    node.whole = true;
  }
  return root;
}

// Per-node caches; nodes are immutable, so these stay valid for the node's lifetime and make
// repeated witnesses over the same certified tree (one per read_state) O(k log n).
const forestCache = new WeakMap<HashTree, readonly HashTree[]>();
const forestSizeCache = new WeakMap<HashTree, number>();

function forestOf(tree: HashTree): readonly HashTree[] {
  let f = forestCache.get(tree);
  if (f === undefined) {
    f = flattenForks(tree);
    forestCache.set(tree, f);
  }
  return f;
}

/** Number of `flatten_forks` elements below `tree`. */
function forestSize(tree: HashTree): number {
  if (tree.kind === 'empty') return 0;
  if (tree.kind !== 'fork') return 1;
  let size = forestSizeCache.get(tree);
  if (size === undefined) {
    size = forestSize(tree.left) + forestSize(tree.right);
    forestSizeCache.set(tree, size);
  }
  return size;
}

function pruneAway(tree: HashTree): HashTree {
  // `Empty` reveals nothing and is smaller than its digest.
  if (tree.kind === 'empty' || tree.kind === 'pruned') return tree;
  return { kind: 'pruned', digest: digest(tree) };
}

/** Index of the first element of sorted `xs` that is ≥ x. */
function lowerBound(xs: readonly number[], x: number): number {
  let lo = 0;
  let hi = xs.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (xs[mid]! < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * Rebuilds the fork structure of a forest root, keeping only forks that lead to one of the
 * `targets` (forest indices, sorted) and pruning every other fork subtree to its digest.
 * Returns undefined when nothing below `tree` is targeted.
 */
function rebuild(
  tree: HashTree,
  offset: number,
  targets: readonly number[],
  replacements: ReadonlyMap<number, HashTree>,
): HashTree | undefined {
  const size = forestSize(tree);
  const first = lowerBound(targets, offset);
  if (first >= targets.length || targets[first]! >= offset + size) return undefined;
  if (tree.kind === 'fork') {
    const leftSize = forestSize(tree.left);
    const l = rebuild(tree.left, offset, targets, replacements);
    const r = rebuild(tree.right, offset + leftSize, targets, replacements);
    return { kind: 'fork', left: l ?? pruneAway(tree.left), right: r ?? pruneAway(tree.right) };
  }
  return replacements.get(offset);
}

/** Index of the labeled element with `label` in `elements`, or where it would be inserted. */
function searchLabel(
  labeledIdx: readonly number[],
  elements: readonly HashTree[],
  label: Uint8Array,
): { found: boolean; at: number } {
  let lo = 0;
  let hi = labeledIdx.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    const el = elements[labeledIdx[mid]!]!;
    const c = compareBytes((el as { label: Uint8Array }).label, label);
    if (c === 0) return { found: true, at: mid };
    if (c < 0) lo = mid + 1;
    else hi = mid;
  }
  return { found: false, at: lo };
}

const labeledIndexCache = new WeakMap<readonly HashTree[], readonly number[]>();

function labeledIndices(elements: readonly HashTree[]): readonly number[] {
  let idx = labeledIndexCache.get(elements);
  if (idx === undefined) {
    const out: number[] = [];
    elements.forEach((e, i) => {
      if (e.kind === 'labeled') out.push(i);
    });
    idx = out;
    labeledIndexCache.set(elements, idx);
  }
  return idx;
}

function reveal(tree: HashTree, trie: PathTrie): HashTree {
  if (trie.whole) return tree;
  switch (tree.kind) {
    case 'empty':
      // An empty subtree proves the absence of every label below it.
      return tree;
    case 'leaf':
      // A path continues below a leaf: the IC prunes the leaf (lookups then yield Unknown
      // rather than disclosing the value).
      return pruneAway(tree);
    case 'pruned':
      return tree;
    default:
      break;
  }
  const elements = forestOf(tree);
  const labeledIdx = labeledIndices(elements);
  const replacements = new Map<number, HashTree>();
  const neighbours: number[] = [];
  for (const { label, next } of trie.children.values()) {
    const { found, at } = searchLabel(labeledIdx, elements, label);
    if (found) {
      const i = labeledIdx[at]!;
      const node = elements[i] as { label: Uint8Array; subtree: HashTree };
      replacements.set(i, { kind: 'labeled', label: node.label, subtree: reveal(node.subtree, next) });
    } else {
      // Absence proof (spec `find_label`): reveal the labels right before and after the
      // missing one, with their contents pruned.
      if (at > 0) neighbours.push(labeledIdx[at - 1]!);
      if (at < labeledIdx.length) neighbours.push(labeledIdx[at]!);
    }
  }
  for (const i of neighbours) {
    if (replacements.has(i)) continue;
    const node = elements[i] as { label: Uint8Array; subtree: HashTree };
    replacements.set(i, { kind: 'labeled', label: node.label, subtree: pruneAway(node.subtree) });
  }
  const targets = [...replacements.keys()].sort((a, b) => a - b);
  return rebuild(tree, 0, targets, replacements) ?? pruneAway(tree);
}

/**
 * The pruned tree that reveals exactly the given paths of `tree` and has the same root hash.
 * A path that ends at an inner node reveals that whole subtree (as the IC does for e.g.
 * `/request_status/<id>`); a path that is absent is proven absent by revealing the neighbouring
 * labels with pruned contents. Everything else is replaced by `Pruned` digests. No paths
 * yields the root as a single `Pruned` node.
 */
export function witness(tree: HashTree, paths: readonly Path[]): HashTree {
  if (paths.length === 0) return pruneAway(tree);
  return reveal(tree, trieOf(paths));
}
