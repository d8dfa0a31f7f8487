// The metadata custom sections of a canister module (`icp:public <name>` / `icp:private <name>`,
// interface spec "Canister metadata"), read from the file before installing it: compilers put
// the Candid interface (`candid:service`) and init argument types (`candid:args`) there.

import { gunzipSync } from 'node:zlib';

function uleb(bytes: Uint8Array, at: { pos: number }): number {
  let result = 0;
  let shift = 0;
  for (;;) {
    if (at.pos >= bytes.length) throw new Error('truncated LEB128');
    const b = bytes[at.pos++]!;
    result += (b & 0x7f) * 2 ** shift;
    shift += 7;
    if ((b & 0x80) === 0) return result;
  }
}

/** The module as the IC hashes and runs it: gzip is undone. */
export function moduleBytes(file: Uint8Array): Uint8Array {
  return file[0] === 0x1f && file[1] === 0x8b ? new Uint8Array(gunzipSync(file)) : file;
}

/** `name` → text content of every `icp:public`/`icp:private` section; empty if not a Wasm module. */
export function wasmMetadata(file: Uint8Array): Map<string, string> {
  const bytes = moduleBytes(file);
  const out = new Map<string, string>();
  if (bytes.length < 8 || bytes[0] !== 0 || bytes[1] !== 0x61 || bytes[2] !== 0x73 || bytes[3] !== 0x6d) return out;
  const at = { pos: 8 };
  try {
    while (at.pos < bytes.length) {
      const id = bytes[at.pos++]!;
      const size = uleb(bytes, at);
      const end = at.pos + size;
      if (id === 0) {
        const nameLength = uleb(bytes, at);
        const name = new TextDecoder().decode(bytes.subarray(at.pos, at.pos + nameLength));
        const m = /^icp:(public|private) (.+)$/.exec(name);
        if (m) out.set(m[2]!, new TextDecoder().decode(bytes.subarray(at.pos + nameLength, end)));
      }
      at.pos = end;
    }
  } catch {
    // A malformed module: the replica will say what is wrong with it at install.
  }
  return out;
}
