// A thread of the signature pool: checks the signatures of requests and signs query responses
// with the node key. Pure functions of their inputs (Ed25519 signing is deterministic), so which
// thread does a job changes nothing but when it is done.

import { parentPort, workerData } from 'node:worker_threads';
import { parseUserPublicKey, signatureVerifies, type VerifiableKey } from './public-key.js';
import { canisterSignatureProblem } from './canister-signature.js';
import { NodeSigningKey } from '../node/keys.js';
import { JobKind, SCHEME_OF_KIND, SIGNATURE_BYTES, type FromSignatureWorker, type SignatureWorkerData, type ToSignatureWorker } from './signature-protocol.js';

const utf8 = new TextDecoder();

const data = workerData as SignatureWorkerData;
const port = parentPort!;
const signingKey = data.signingSeed === undefined ? undefined : new NodeSigningKey(data.signingSeed);

/**
 * Keys by DER, least recently used first: the HTTP thread parsed and validated them already, and
 * a client signs request after request with the same key (its OpenSSL key object hangs off it).
 */
const keys = new Map<string, VerifiableKey>();
const MAX_KEYS = 4096;

function keyOf(kind: Exclude<JobKind, 3 | 4>, der: Uint8Array, raw: Uint8Array): VerifiableKey {
  const id = `${kind}:${Buffer.from(der.buffer, der.byteOffset, der.byteLength).toString('latin1')}`;
  let key = keys.get(id);
  if (key !== undefined) {
    keys.delete(id);
  } else {
    key = { scheme: SCHEME_OF_KIND[kind], der: der.slice(), raw: raw.slice() } as VerifiableKey;
    if (keys.size >= MAX_KEYS) keys.delete(keys.keys().next().value!);
  }
  keys.set(id, key);
  return key;
}

port.on('message', ({ batch, kinds, ends, bytes }: ToSignatureWorker) => {
  const all = new Uint8Array(bytes);
  let field = 0;
  const next = () => {
    const start = field === 0 ? 0 : ends[field - 1]!;
    return all.subarray(start, ends[field++]!);
  };
  const ok = new Uint8Array(kinds.length);
  let signs = 0;
  for (const kind of kinds) if (kind === JobKind.Sign) signs++;
  const signatures = new Uint8Array(signs * SIGNATURE_BYTES);
  let signed = 0;
  let problems: Record<number, string> | undefined;
  for (let i = 0; i < kinds.length; i++) {
    const kind = kinds[i] as JobKind;
    if (kind === JobKind.Sign) {
      const message = next();
      const slot = signed++;
      if (signingKey === undefined) continue;
      signatures.set(signingKey.sign(message), slot * SIGNATURE_BYTES);
      ok[i] = 1;
      continue;
    }
    if (kind === JobKind.CanisterSignature) {
      const key = parseUserPublicKey(next());
      const message = next();
      const signature = next();
      const rootKey = next();
      const what = utf8.decode(next());
      const problem = key.scheme === 'canister-signature'
        ? canisterSignatureProblem(key, message, signature, { rootKey }, what)
        : `${what}: not a canister signature key`;
      if (problem === undefined) ok[i] = 1;
      else (problems ??= {})[i] = problem;
      continue;
    }
    const der = next();
    const raw = next();
    const message = next();
    const signature = next();
    ok[i] = signatureVerifies(keyOf(kind, der, raw), message, signature) ? 1 : 0;
  }
  const reply: FromSignatureWorker = problems === undefined ? { batch, ok, signatures } : { batch, ok, signatures, problems };
  port.postMessage(reply, [ok.buffer, signatures.buffer]);
});
port.postMessage({ ready: true } satisfies FromSignatureWorker);
