// The node's BLS thread: signatures with the subnet key equal those made here (BLS signatures are
// unique), checks of other subnets' signatures agree with checking here, and once the thread is
// closed the same calls are answered on the calling thread.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKey, SecretKeySigner, stateRootMessage } from '../src/certification/index.js';
import { SigningThread } from '../src/node/signer-thread.js';

test('signs and checks BLS signatures on its thread, and here once closed', async () => {
  const { secretKey } = generateKey();
  const signer = new SecretKeySigner(secretKey);
  const other = new SecretKeySigner(generateKey().secretKey);
  const thread = new SigningThread(signer, secretKey);
  const message = stateRootMessage(new Uint8Array(32).fill(7));
  const elsewhere = stateRootMessage(new Uint8Array(32).fill(8));
  await thread.started(); // until then, work is done here
  const signature = await thread.sign(message);
  assert.deepEqual(signature, signer.sign(message));
  assert.equal(await thread.verify(signer.publicKey, message, signature), true);
  assert.equal(await thread.verify(signer.publicKey, elsewhere, signature), false);
  assert.equal(await thread.verify(other.publicKey, message, signature), false);
  await thread.close();
  assert.deepEqual(await thread.sign(message), signature);
  assert.equal(await thread.verify(signer.publicKey, message, signature), true);
  assert.equal(await thread.verify(other.publicKey, message, signature), false);
});
