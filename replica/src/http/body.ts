// Reading a request body with a size bound that is enforced while the body streams in: a body
// over the bound is never buffered whole, whatever its Content-Length claims.

import type { IncomingMessage } from 'node:http';
import { RequestTooLargeError } from './errors.js';

/** The client went away before the body was complete; there is nobody to answer. */
export class ClientGoneError extends Error {
  override readonly name = 'ClientGoneError';
  readonly code = 'client_gone';
  constructor() {
    super('the client closed the connection before the request body was complete');
  }
}

/**
 * Resolves with the whole body, or rejects with RequestTooLargeError as soon as the declared or
 * received length exceeds `maxBytes`; the request is then paused and no more of it is read
 * (the caller answers 413 and closes the connection).
 */
export function readBoundedBody(req: IncomingMessage, maxBytes: number): Promise<Uint8Array> {
  return new Promise((resolve, reject) => {
    const tooLarge = (size: string) =>
      new RequestTooLargeError(`Request body of ${size} is larger than the max allowed ${maxBytes} bytes.`);
    const declared = req.headers['content-length'];
    if (declared !== undefined && /^\d+$/.test(declared) && Number(declared) > maxBytes) {
      req.pause();
      reject(tooLarge(`${declared} bytes`));
      return;
    }
    const chunks: Buffer[] = [];
    let received = 0;
    let settled = false;
    const cleanup = () => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('aborted', onGone);
      req.off('error', onGone);
      req.off('close', onClose);
    };
    const onData = (chunk: Buffer) => {
      received += chunk.length;
      if (received > maxBytes) {
        settled = true;
        cleanup();
        req.pause();
        chunks.length = 0;
        reject(tooLarge(`more than ${maxBytes} bytes`));
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = () => {
      settled = true;
      cleanup();
      const body = Buffer.concat(chunks, received);
      resolve(new Uint8Array(body.buffer, body.byteOffset, body.byteLength));
    };
    const onGone = () => {
      if (settled) return;
      settled = true;
      cleanup();
      reject(new ClientGoneError());
    };
    const onClose = () => {
      if (!req.complete) onGone();
    };
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('aborted', onGone);
    req.on('error', onGone);
    req.on('close', onClose);
  });
}
