// Encodings of state tree values, spec "Encoding of certificates" ("natural numbers are
// leb128-encoded, text values are UTF-8-encoded, blob values are encoded as is") and the CBOR
// blobs of spec "The system state tree".

import * as cbor from '@dfinity/cbor';
import type { CanisterRange, SubnetMetrics } from './types.js';
import { encodeUleb128 } from '../bytes.js';

/** Unsigned LEB128 of a natural number. */
export function encodeNat(n: bigint | number): Uint8Array {
  return encodeUleb128(BigInt(n));
}

/** Inverse of `encodeNat`; throws on truncated input or trailing bytes. */
export function decodeNat(bytes: Uint8Array): bigint {
  let v = 0n;
  let shift = 0n;
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i]!;
    v |= BigInt(b & 0x7f) << shift;
    shift += 7n;
    if ((b & 0x80) === 0) {
      if (i !== bytes.length - 1) throw new RangeError('trailing bytes after LEB128 number');
      return v;
    }
  }
  throw new RangeError('truncated LEB128 number');
}

const utf8 = new TextEncoder();

export function encodeText(s: string): Uint8Array {
  return utf8.encode(s);
}

/** `/canister/<id>/controllers`: `#6.55799([* bytes .size (0..29)])`. */
export function encodeControllers(controllers: readonly Uint8Array[]): Uint8Array {
  return cbor.encodeWithSelfDescribedTag([...controllers]);
}

/** Canister ranges: `tagged<[*[principal principal]]>` (spec "Subnet information"). */
export function encodeCanisterRanges(ranges: readonly CanisterRange[]): Uint8Array {
  return cbor.encodeWithSelfDescribedTag(ranges.map(([start, end]) => [start, end]));
}

const U64_MASK = (1n << 64n) - 1n;

/**
 * `/subnet/<id>/metrics`: a CBOR map with the field names of spec "Subnet information";
 * `consumed_cycles_total` is `{ low: nat, high: opt nat }` (64-bit halves of the 128-bit count).
 */
export function encodeSubnetMetrics(metrics: SubnetMetrics): Uint8Array {
  const low = metrics.consumedCyclesTotal & U64_MASK;
  const high = metrics.consumedCyclesTotal >> 64n;
  if (high > U64_MASK) throw new RangeError('consumed cycles exceed 128 bits');
  const consumed: Record<string, bigint> = { low };
  if (high !== 0n) consumed['high'] = high;
  return cbor.encode({
    num_canisters: metrics.numCanisters,
    canister_state_bytes: metrics.canisterStateBytes,
    consumed_cycles_total: consumed,
    update_transactions_total: metrics.updateTransactionsTotal,
  });
}
