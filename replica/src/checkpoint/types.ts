// Shapes of checkpoints: the object store they live in and the manifest that publishes one.

/** Counters of one store since it was opened: what the checkpoint bench and tests measure. */
export interface StoreCounters {
  bytesWritten: number;
  objectsWritten: number;
  bytesRead: number;
  objectsRead: number;
  objectsDeleted: number;
}

export function zeroCounters(): StoreCounters {
  return { bytesWritten: 0, objectsWritten: 0, bytesRead: 0, objectsRead: 0, objectsDeleted: 0 };
}

/**
 * A flat namespace of immutable objects. `put` is atomic and durable when it resolves: a reader
 * sees the whole object or nothing. The checkpointer writes every object of a checkpoint first
 * and its manifest last, so a manifest implies complete objects (their hashes say whether they
 * are intact).
 */
export interface CheckpointStore {
  put(key: string, bytes: Uint8Array): Promise<void>;
  /** The object, or undefined if there is none. */
  get(key: string): Promise<Uint8Array | undefined>;
  /** Keys starting with `prefix`, sorted. */
  list(prefix: string): Promise<string[]>;
  /** Deleting a missing key is not an error. */
  delete(key: string): Promise<void>;
  /** Publishes a manifest: called only after every object it names is durable. */
  publish(key: string, bytes: Uint8Array): Promise<void>;
  readonly counters: StoreCounters;
  /** Human-readable location for logs and errors. */
  readonly location: string;
}

/** One object a checkpoint needs, with its size and SHA-256 (hex). */
export interface ObjectRef {
  readonly key: string;
  readonly size: number;
  readonly sha256: string;
}

/** A contiguous piece of a pages object: one self-contained run of a layer (see page-objects.ts). */
export interface RunRef {
  readonly key: string;
  readonly offset: number;
  readonly length: number;
}

/**
 * Pages of one page map written by one checkpoint. `reset` starts from an empty map (a full
 * write); otherwise the layer applies on top of the previous ones.
 */
export interface LayerRef {
  readonly height: string;
  readonly reset: boolean;
  readonly pages: number;
  readonly runs: readonly RunRef[];
}

export interface PageMapManifest {
  readonly id: string;
  readonly sizeBytes: number;
  /** pageMapHash, hex: checked after the layers are applied. */
  readonly hash: string;
  /** Oldest first; the first one has `reset`. A page's content is its latest version. */
  readonly layers: readonly LayerRef[];
}

export interface CheckpointManifest {
  readonly format: 'icpk-checkpoint/1';
  /** Height of the last block executed into this state (decimal). */
  readonly height: string;
  /** stateHash, hex. */
  readonly stateHash: string;
  /** Height of the checkpoint that wrote full page maps for everything (the chain's base). */
  readonly base: string;
  /** The previous checkpoint of the chain, if this one is a delta. */
  readonly parent: string | undefined;
  /** Checkpoints between this one and its base (0 for a base). */
  readonly depth: number;
  /** Key of the state metadata (encodeState). */
  readonly meta: string;
  readonly pageMaps: readonly PageMapManifest[];
  /** Every object this checkpoint needs (metadata, pages of the whole chain, modules). */
  readonly objects: readonly ObjectRef[];
}

export const MANIFEST_FORMAT = 'icpk-checkpoint/1';
