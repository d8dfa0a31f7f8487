// Canister modules may be installed gzip-compressed (interface spec, "install_code": the
// module is a wasm binary or a gzip of one). The decompressed size is bounded before
// inflating, so a small "gzip bomb" cannot exhaust memory.
import { gunzipSync } from 'node:zlib';
import { InvalidWasmError } from './errors.js';

const WASM_MAGIC = [0x00, 0x61, 0x73, 0x6d];
const GZIP_MAGIC = [0x1f, 0x8b];

function startsWith(bytes: Uint8Array, magic: readonly number[]): boolean {
  return bytes.length >= magic.length && magic.every((b, i) => bytes[i] === b);
}

export function decodeCanisterWasm(bytes: Uint8Array, maxDecompressedBytes: number): Uint8Array {
  if (startsWith(bytes, WASM_MAGIC)) {
    if (bytes.length > maxDecompressedBytes) tooLarge(bytes.length, maxDecompressedBytes);
    return bytes;
  }
  if (!startsWith(bytes, GZIP_MAGIC)) {
    throw new InvalidWasmError('malformed', 'Wasm module is malformed: it starts with neither the wasm magic number (\\0asm) nor the gzip magic number (1f 8b).');
  }
  let inflated: Buffer;
  try {
    inflated = gunzipSync(bytes, { maxOutputLength: Math.max(1, maxDecompressedBytes) });
  } catch (err) {
    if ((err as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE') {
      throw new InvalidWasmError('wasm-too-large', `Decompressed Wasm module exceeds the maximum allowed size of ${maxDecompressedBytes} bytes.`, { cause: err });
    }
    throw new InvalidWasmError('malformed', `Wasm module is malformed: gzip decompression failed: ${(err as Error).message}.`, { cause: err });
  }
  const wasm = new Uint8Array(inflated.buffer, inflated.byteOffset, inflated.byteLength);
  if (!startsWith(wasm, WASM_MAGIC)) {
    throw new InvalidWasmError('malformed', 'Wasm module is malformed: the decompressed module does not start with the wasm magic number (\\0asm).');
  }
  return wasm;
}

function tooLarge(size: number, max: number): never {
  throw new InvalidWasmError('wasm-too-large', `Wasm module size of ${size} bytes exceeds the maximum allowed size of ${max} bytes.`);
}
