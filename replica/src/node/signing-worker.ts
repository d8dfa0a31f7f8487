// A thread for the round loop's BLS work: it signs with the subnet key (the state root of each
// round and the random tape of the next one) and checks other subnets' signatures (the
// certificates of XNet slices). BLS signatures are deterministic, so where they are computed
// changes nothing; off the main thread they no longer hold up the HTTP interface.

import { parentPort, workerData } from 'node:worker_threads';
import { SecretKeySigner, verify } from '../certification/index.js';
import type { SigningReply, SigningRequest } from './signer-thread.js';

const signer = new SecretKeySigner((workerData as { secretKey: Uint8Array }).secretKey);
const port = parentPort!;

port.on('message', (m: SigningRequest) => {
  const reply: SigningReply = 'verify' in m
    ? { id: m.id, verified: verify(m.verify.publicKey, m.verify.message, m.verify.signature) }
    : { id: m.id, signature: signer.sign(m.message) };
  port.postMessage(reply);
});
port.postMessage({ ready: true });
