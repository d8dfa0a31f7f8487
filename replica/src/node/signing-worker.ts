// A thread that signs with the subnet key for the round loop: the state root of each round and
// the random tape of the next one. BLS signatures are deterministic, so where they are computed
// changes nothing; off the main thread they no longer hold up the HTTP interface.

import { parentPort, workerData } from 'node:worker_threads';
import { SecretKeySigner } from '../certification/index.js';

const signer = new SecretKeySigner((workerData as { secretKey: Uint8Array }).secretKey);
const port = parentPort!;

port.on('message', ({ id, message }: { id: number; message: Uint8Array }) => {
  port.postMessage({ id, signature: signer.sign(message) });
});
port.postMessage({ ready: true });
