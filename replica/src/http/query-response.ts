// The body of a query response (spec, "Request: Query call"): the outcome, and one node signature
// over `\x0Bic-response` · hash_of_map(outcome fields, timestamp, request_id). Every query answers
// one, so it is hashed and written directly, byte for byte what @dfinity/cbor writes for the same
// map (the self-described tag, then the fields in this order, integers in their shortest form).

import type { QueryOutcome } from './types.js';
import { hashOfMap } from './request-id.js';

/** One node signature of a query response. */
export interface NodeSignature {
  readonly timestamp: bigint;
  readonly signature: Uint8Array;
  readonly identity: Uint8Array;
}

/** hash_of_map of the response fields the node signs. */
export function queryResponseHash(outcome: QueryOutcome, timestamp: bigint, requestId: Uint8Array): Uint8Array {
  return outcome.status === 'replied'
    ? hashOfMap({ status: 'replied', reply: { arg: outcome.reply }, timestamp, request_id: requestId })
    : hashOfMap({
        status: 'rejected',
        reject_code: BigInt(outcome.rejectCode),
        reject_message: outcome.rejectMessage,
        error_code: outcome.errorCode,
        timestamp,
        request_id: requestId,
      });
}

/** The CBOR body: {status, reply | reject_code, reject_message, error_code, signatures: [..]}. */
export function encodeQueryResponse(outcome: QueryOutcome, signature: NodeSignature): Uint8Array {
  const w = new Writer(outcome.status === 'replied' ? outcome.reply.length + 192 : 256 + 3 * outcome.rejectMessage.length);
  w.raw(SELF_DESCRIBED);
  if (outcome.status === 'replied') {
    w.head(MAP, 3);
    w.text('status');
    w.text('replied');
    w.text('reply');
    w.head(MAP, 1);
    w.text('arg');
    w.bytes(outcome.reply);
  } else {
    w.head(MAP, 5);
    w.text('status');
    w.text('rejected');
    w.text('reject_code');
    w.head(UNSIGNED, outcome.rejectCode);
    w.text('reject_message');
    w.text(outcome.rejectMessage);
    w.text('error_code');
    w.text(outcome.errorCode);
  }
  w.text('signatures');
  w.head(ARRAY, 1);
  w.head(MAP, 3);
  w.text('timestamp');
  w.head(UNSIGNED, signature.timestamp);
  w.text('signature');
  w.bytes(signature.signature);
  w.text('identity');
  w.bytes(signature.identity);
  return w.done();
}

const UNSIGNED = 0;
const BYTES = 2;
const TEXT = 3;
const ARRAY = 4;
const MAP = 5;
/** RFC 8949 §3.4.6, tag 55799. */
const SELF_DESCRIBED = Uint8Array.of(0xd9, 0xd9, 0xf7);

/** Writes CBOR items into a buffer sized from a bound of the body's length. */
class Writer {
  #buffer: Buffer;
  #at = 0;

  constructor(bound: number) {
    this.#buffer = Buffer.allocUnsafe(bound);
  }

  /** A head with its argument in the shortest form (RFC 8949 §4.2.1). */
  head(major: number, value: number | bigint): void {
    this.#room(9);
    const b = this.#buffer;
    const m = major << 5;
    if (typeof value === 'bigint' && value > 0xffffffffn) {
      b[this.#at++] = m | 27;
      b.writeBigUInt64BE(value, this.#at);
      this.#at += 8;
      return;
    }
    const v = Number(value);
    if (v < 24) {
      b[this.#at++] = m | v;
    } else if (v < 0x100) {
      b[this.#at++] = m | 24;
      b[this.#at++] = v;
    } else if (v < 0x10000) {
      b[this.#at++] = m | 25;
      this.#at = b.writeUInt16BE(v, this.#at);
    } else if (v <= 0xffffffff) {
      b[this.#at++] = m | 26;
      this.#at = b.writeUInt32BE(v, this.#at);
    } else {
      b[this.#at++] = m | 27;
      b.writeBigUInt64BE(BigInt(v), this.#at);
      this.#at += 8;
    }
  }

  bytes(value: Uint8Array): void {
    this.head(BYTES, value.length);
    this.raw(value);
  }

  text(value: string): void {
    const length = Buffer.byteLength(value, 'utf8');
    this.head(TEXT, length);
    this.#room(length);
    this.#at += this.#buffer.write(value, this.#at, 'utf8');
  }

  raw(value: Uint8Array): void {
    this.#room(value.length);
    this.#buffer.set(value, this.#at);
    this.#at += value.length;
  }

  /** The bytes written, as a plain Uint8Array over them. */
  done(): Uint8Array {
    return new Uint8Array(this.#buffer.buffer, this.#buffer.byteOffset, this.#at);
  }

  #room(n: number): void {
    if (this.#at + n <= this.#buffer.length) return;
    const grown = Buffer.allocUnsafe(Math.max(2 * this.#buffer.length, this.#at + n));
    this.#buffer.copy(grown, 0, 0, this.#at);
    this.#buffer = grown;
  }
}
