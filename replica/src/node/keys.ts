// Key material of one replica process on the embedded default: the root key (it stands in for
// the NNS and delegates to the subnet), the subnet's 1-of-1 threshold key (it certifies state)
// and the node's Ed25519 key (it signs query responses). Kept in memory; with a data directory
// they are loaded from and saved to `keys.json`, so clients keep trusting the same root key
// across restarts.

import { createPrivateKey, createPublicKey, randomBytes, sign, type KeyObject } from 'node:crypto';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { generateKey, publicKeyOf, publicKeyToDer, selfAuthenticatingPrincipal } from '../certification/index.js';
import { InvalidNodeKeysError } from './errors.js';
import { hexOf } from '../bytes.js';

export interface NodeKeys {
  /** BLS12-381 secret scalar of the root key (32 bytes). */
  readonly rootSecret: Uint8Array;
  /** BLS12-381 secret scalar of the subnet key, 1-of-1 (32 bytes). */
  readonly subnetSecret: Uint8Array;
  /** Ed25519 seed of the node key (32 bytes). */
  readonly nodeSeed: Uint8Array;
}

export const KEYS_FILE = 'keys.json';
const KEYS_FILE_VERSION = 1;

export function generateNodeKeys(): NodeKeys {
  return {
    rootSecret: generateKey().secretKey,
    subnetSecret: generateKey().secretKey,
    nodeSeed: new Uint8Array(randomBytes(32)),
  };
}

/** Reads `<dataDir>/keys.json`, or generates keys and writes it (mode 0600) if it is missing. */
export async function loadOrCreateNodeKeys(dataDir: string): Promise<NodeKeys> {
  const path = join(dataDir, KEYS_FILE);
  let text: string | undefined;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
  if (text !== undefined) return parseNodeKeys(text, path);
  const keys = generateNodeKeys();
  await mkdir(dataDir, { recursive: true });
  const temp = `${path}.${process.pid}.tmp`;
  await writeFile(temp, serializeNodeKeys(keys), { mode: 0o600 });
  await rename(temp, path);
  return keys;
}

export function serializeNodeKeys(keys: NodeKeys): string {
  return `${JSON.stringify(
    { version: KEYS_FILE_VERSION, rootSecret: hexOf(keys.rootSecret), subnetSecret: hexOf(keys.subnetSecret), nodeSeed: hexOf(keys.nodeSeed) },
    null,
    2,
  )}\n`;
}

export function parseNodeKeys(text: string, source = KEYS_FILE): NodeKeys {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (cause) {
    throw new InvalidNodeKeysError(`${source} is not JSON`, { cause });
  }
  const obj = (typeof value === 'object' && value !== null ? value : {}) as Record<string, unknown>;
  if (obj.version !== KEYS_FILE_VERSION) throw new InvalidNodeKeysError(`${source}: unsupported version ${String(obj.version)}`);
  const field = (name: string): Uint8Array => {
    const v = obj[name];
    if (typeof v !== 'string' || !/^[0-9a-f]{64}$/i.test(v)) throw new InvalidNodeKeysError(`${source}: ${name} must be 64 hex digits`);
    return new Uint8Array(Buffer.from(v, 'hex'));
  };
  const keys = { rootSecret: field('rootSecret'), subnetSecret: field('subnetSecret'), nodeSeed: field('nodeSeed') };
  try {
    publicKeyOf(keys.rootSecret);
    publicKeyOf(keys.subnetSecret);
  } catch (cause) {
    throw new InvalidNodeKeysError(`${source}: a BLS secret is not a valid scalar`, { cause });
  }
  return keys;
}

// PKCS#8 wrapping of a raw Ed25519 seed (RFC 8410), so node:crypto's native signer can use it.
const ED25519_PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');

/** The node's Ed25519 key: signs query responses; its DER public key is in the state tree. */
export class NodeSigningKey {
  /** DER (SubjectPublicKeyInfo, 44 bytes) as `/subnet/<id>/node/<node_id>/public_key` holds it. */
  readonly publicKeyDer: Uint8Array;
  /** The node id: the self-authenticating principal of the public key. */
  readonly nodeId: Uint8Array;
  readonly #key: KeyObject;

  constructor(seed: Uint8Array) {
    if (seed.length !== 32) throw new InvalidNodeKeysError(`Ed25519 seed has ${seed.length} bytes, expected 32`);
    this.#key = createPrivateKey({ key: Buffer.concat([ED25519_PKCS8_PREFIX, seed]), format: 'der', type: 'pkcs8' });
    this.publicKeyDer = new Uint8Array(createPublicKey(this.#key).export({ format: 'der', type: 'spki' }));
    this.nodeId = selfAuthenticatingPrincipal(this.publicKeyDer);
  }

  sign(message: Uint8Array): Uint8Array {
    return new Uint8Array(sign(null, message, this.#key));
  }
}

/** Public parts derived from the keys. */
export function rootPublicKeyDer(keys: NodeKeys): Uint8Array {
  return publicKeyToDer(publicKeyOf(keys.rootSecret));
}

/** The subnet key (DER) of a node's keys and the subnet id derived from it, as the IC derives subnet ids. */
export function subnetIdentity(keys: NodeKeys): { readonly subnetId: Uint8Array; readonly publicKeyDer: Uint8Array } {
  const publicKeyDer = publicKeyToDer(publicKeyOf(keys.subnetSecret));
  return { subnetId: selfAuthenticatingPrincipal(publicKeyDer), publicKeyDer };
}
