// A query worker thread: keeps its own copy of the latest certified state (brought up to date by
// the main thread after every certified round) and runs queries on it. Rounds never wait for it,
// and it never waits for rounds.

import { parentPort, workerData } from 'node:worker_threads';
import { executionFees } from '../execution/fees.js';
import { QueryExecutor } from './executor.js';
import type { FromQueryWorker, QueryReport, QueryWorkerData, ToQueryWorker } from './protocol.js';
import { QueryStore } from './store.js';

const data = workerData as QueryWorkerData;
const port = parentPort!;
const store = new QueryStore(data.stableMemoryBytes, data.maxSandboxes);
const executor = new QueryExecutor(store, executionFees(data.fees), data.limits);

/** Data certificates at the current height, by canister: the main thread sends each once. */
const certificates = new Map<string, Uint8Array>();

port.on('message', (message: ToQueryWorker) => {
  if (message.type === 'state') {
    store.apply(message.update);
    certificates.clear();
    return;
  }
  const results = message.queries.map(({ id, request }): QueryReport => {
    try {
      if (request.certificate !== undefined) certificates.set(request.canisterId, request.certificate);
      const certificate = certificates.get(request.canisterId);
      return { id, result: executor.execute(certificate !== undefined ? { ...request, certificate } : request) };
    } catch (e) {
      return { id, failure: e instanceof Error ? (e.stack ?? e.message) : String(e) };
    }
  });
  const reply: FromQueryWorker = { type: 'results', results };
  port.postMessage(reply);
});
