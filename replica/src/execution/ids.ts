// Textual ids, computed once per principal object: `Principal.toText` (base32 with a checksum) is
// costly, and the hot paths of a round ask for the same ids many times.

import type { Principal } from '@icp-sdk/core/principal';
import type { CanisterState } from '../state/index.js';

const texts = new WeakMap<Principal, string>();
/**
 * The same by the principal's bytes, for principals that arrive as new objects each time (the
 * receivers of ingress messages). Bounded: started over when it holds too many.
 */
const byBytes = new Map<string, string>();
const MAX_BY_BYTES = 1 << 16;

export function textOf(p: Principal): string {
  let text = texts.get(p);
  if (text === undefined) {
    const key = String.fromCharCode.apply(null, p.toUint8Array() as unknown as number[]);
    text = byBytes.get(key);
    if (text === undefined) {
      text = p.toText();
      if (byBytes.size >= MAX_BY_BYTES) byBytes.clear();
      byBytes.set(key, text);
    }
    texts.set(p, text);
  }
  return text;
}

/** `canister.idText`, cached. */
export function idOf(canister: CanisterState): string {
  return textOf(canister.id);
}
