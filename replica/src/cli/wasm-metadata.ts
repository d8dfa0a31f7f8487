// The metadata custom sections of a canister module (`icp:public <name>` / `icp:private <name>`,
// interface spec "Canister metadata"), read from the file before installing it: compilers put
// the Candid interface (`candid:service`) and init argument types (`candid:args`) there.

import { gunzipSync } from 'node:zlib';
import { WasmReader } from '../wasm/reader.js';

/** The module as the IC hashes and runs it: gzip is undone. */
export function moduleBytes(file: Uint8Array): Uint8Array {
  return file[0] === 0x1f && file[1] === 0x8b ? new Uint8Array(gunzipSync(file)) : file;
}

/** `name` → text content of every `icp:public`/`icp:private` section; empty if not a Wasm module. */
export function wasmMetadata(file: Uint8Array): Map<string, string> {
  const bytes = moduleBytes(file);
  const out = new Map<string, string>();
  if (bytes.length < 8 || bytes[0] !== 0 || bytes[1] !== 0x61 || bytes[2] !== 0x73 || bytes[3] !== 0x6d) return out;
  const r = new WasmReader(bytes, 8);
  try {
    while (r.remaining > 0) {
      const id = r.u8();
      const { start, end } = r.byteString(); // the section, bounds-checked
      if (id !== 0) continue;
      const section = new WasmReader(bytes, start, end);
      const m = /^icp:(public|private) (.+)$/.exec(section.name());
      if (m) out.set(m[2]!, new TextDecoder().decode(bytes.subarray(section.pos, end)));
    }
  } catch {
    // A malformed module: the replica will say what is wrong with it at install.
  }
  return out;
}
