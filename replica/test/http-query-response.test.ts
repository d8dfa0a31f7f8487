// Query response bodies written directly: the same bytes as @dfinity/cbor (the codec agent-js
// decodes them with) writes for the same map, and the hash agent-js checks the signature against.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { encodeWithSelfDescribedTag } from '@dfinity/cbor';
import { hashOfMap as agentHashOfMap } from '@icp-sdk/core/agent';
import { encodeQueryResponse, queryResponseHash } from '../src/http/query-response.js';
import type { QueryOutcome } from '../src/http/types.js';

const bytes = (n: number, fill = 7) => new Uint8Array(n).fill(fill);
const identity = bytes(29, 1);
const signature = bytes(64, 2);

/** What the server encoded before: the generic encoder over the response map. */
function generic(outcome: QueryOutcome, timestamp: bigint): Uint8Array {
  const fields =
    outcome.status === 'replied'
      ? { status: 'replied', reply: { arg: outcome.reply } }
      : { status: 'rejected', reject_code: outcome.rejectCode, reject_message: outcome.rejectMessage, error_code: outcome.errorCode };
  return encodeWithSelfDescribedTag({ ...fields, signatures: [{ timestamp, signature, identity }] });
}

const outcomes: QueryOutcome[] = [
  { status: 'replied', reply: new Uint8Array(0) },
  { status: 'replied', reply: bytes(23) },
  { status: 'replied', reply: bytes(24) },
  { status: 'replied', reply: bytes(255) },
  { status: 'replied', reply: bytes(256) },
  { status: 'replied', reply: bytes(70_000) },
  { status: 'rejected', rejectCode: 4, rejectMessage: 'IC0406: no', errorCode: 'IC0406' },
  { status: 'rejected', rejectCode: 5, rejectMessage: 'Canister trapped: é€日😀 '.repeat(40), errorCode: 'IC0503' },
  { status: 'rejected', rejectCode: 1, rejectMessage: '', errorCode: 'IC0101' },
];
const timestamps = [0n, 23n, 24n, 255n, 65_535n, 65_536n, 2n ** 32n - 1n, 2n ** 32n, 1_764_079_000_000_000_000n, 2n ** 64n - 1n];

describe('query response bodies', () => {
  it('are byte for byte what @dfinity/cbor writes', () => {
    for (const outcome of outcomes) {
      for (const timestamp of timestamps) {
        assert.deepEqual(
          Buffer.from(encodeQueryResponse(outcome, { timestamp, signature, identity })).toString('hex'),
          Buffer.from(generic(outcome, timestamp)).toString('hex'),
        );
      }
    }
  });

  it('are signed over the hash agent-js computes', () => {
    const requestId = bytes(32, 9);
    for (const outcome of outcomes) {
      const timestamp = 1_764_079_000_000_000_000n;
      const expected =
        outcome.status === 'replied'
          ? agentHashOfMap({ status: 'replied', reply: { arg: outcome.reply }, timestamp, request_id: requestId })
          : agentHashOfMap({
              status: 'rejected',
              reject_code: outcome.rejectCode,
              reject_message: outcome.rejectMessage,
              error_code: outcome.errorCode,
              timestamp,
              request_id: requestId,
            });
      assert.deepEqual(queryResponseHash(outcome, timestamp, requestId), new Uint8Array(expected));
    }
  });
});
