// Node key material: generated once and kept in the data directory (so clients keep trusting the
// same root key across restarts), refused when damaged, and the node's Ed25519 key in the form
// agents verify query signatures with.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Ed25519PublicKey } from '@icp-sdk/core/agent';
import { Principal } from '@icp-sdk/core/principal';
import { ed25519 } from '@noble/curves/ed25519.js';
import {
  InvalidNodeKeysError,
  KEYS_FILE,
  Node,
  NodeSigningKey,
  generateNodeKeys,
  loadOrCreateNodeKeys,
  parseNodeKeys,
  serializeNodeKeys,
} from '../src/node/index.js';

async function withDir<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), 'node-keys-'));
  try {
    return await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

describe('node keys', () => {
  it('are created once in the data directory, readable by the owner only, and reused', async () => {
    await withDir(async (dir) => {
      const first = await loadOrCreateNodeKeys(dir);
      const mode = (await stat(join(dir, KEYS_FILE))).mode & 0o777;
      assert.equal(mode, 0o600);
      const again = await loadOrCreateNodeKeys(dir);
      assert.deepEqual(again, first);
    });
  });

  it('give a restarted node the same root key, subnet id and node id', async () => {
    await withDir(async (dir) => {
      const a = await Node.start({ port: 0, dataDir: dir });
      const identity = { rootKey: a.rootKey, subnet: a.subnetId.toText(), node: a.nodeId.toText() };
      await a.close();
      const b = await Node.start({ port: 0, dataDir: dir });
      try {
        assert.deepEqual({ rootKey: b.rootKey, subnet: b.subnetId.toText(), node: b.nodeId.toText() }, identity);
      } finally {
        await b.close();
      }
    });
  });

  it('refuse a damaged keys file rather than replacing it', async () => {
    await withDir(async (dir) => {
      await writeFile(join(dir, KEYS_FILE), '{"version":1,"rootSecret":"00"}');
      await assert.rejects(() => loadOrCreateNodeKeys(dir), InvalidNodeKeysError);
      assert.match(await readFile(join(dir, KEYS_FILE), 'utf8'), /"00"/);
    });
    assert.throws(() => parseNodeKeys('not json'), InvalidNodeKeysError);
    const keys = generateNodeKeys();
    assert.deepEqual(parseNodeKeys(serializeNodeKeys(keys)), keys);
    // The zero scalar is no BLS secret key.
    const zero = serializeNodeKeys({ ...keys, rootSecret: new Uint8Array(32) });
    assert.throws(() => parseNodeKeys(zero), InvalidNodeKeysError);
  });

  it('sign query responses with an Ed25519 key agents can read from the state tree', () => {
    const key = new NodeSigningKey(generateNodeKeys().nodeSeed);
    assert.equal(key.publicKeyDer.length, 44);
    const raw = Ed25519PublicKey.fromDer(key.publicKeyDer as never).rawKey;
    assert.equal(Principal.fromUint8Array(key.nodeId).toText(), Principal.selfAuthenticating(key.publicKeyDer).toText());
    const message = new TextEncoder().encode('\x0Bic-response and a hash');
    assert.ok(ed25519.verify(key.sign(message), message, raw));
  });
});
