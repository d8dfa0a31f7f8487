// Textual ids, computed once per principal object: `Principal.toText` (base32 with a checksum) is
// costly, and the hot paths of a round ask for the same ids many times.

import type { Principal } from '@icp-sdk/core/principal';
import type { CanisterState } from '../state/index.js';

const texts = new WeakMap<Principal, string>();

export function textOf(p: Principal): string {
  let text = texts.get(p);
  if (text === undefined) {
    text = p.toText();
    texts.set(p, text);
  }
  return text;
}

/** `canister.idText`, cached. */
export function idOf(canister: CanisterState): string {
  return textOf(canister.id);
}
