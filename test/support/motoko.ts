// Compiles the Motoko test canisters under test/canisters with the npm `motoko` compiler.
//
// Each compile runs in a fresh worker thread (see motoko-worker.cjs for why), and the result is
// cached under `.cache/motoko/` at the repository root, keyed by the sha256 of the sources, the
// compiler version and the flags, so repeated test runs skip the ~1.5 s compile.
import { createHash } from 'node:crypto';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';
import { join, posix } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';

/** The repository root, found from this file rather than from the working directory. */
export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
/** Where the Motoko test canisters live. */
export const CANISTERS_DIR = join(REPO_ROOT, 'test', 'canisters');
/** Where compiled canisters are cached. */
export const MOTOKO_CACHE_DIR = join(REPO_ROOT, '.cache', 'motoko');

const WORKER_URL = new URL('./motoko-worker.cjs', import.meta.url);

/**
 * The flags every compile uses; part of the cache key. `classicOP` selects 32-bit classic
 * orthogonal persistence: the default (enhanced orthogonal persistence) emits memory64, which
 * Node 20 rejects.
 */
export const MOTOKO_FLAGS = { mode: 'ic', gc: 'classicOP' } as const;

export interface MotokoCompilation {
  readonly wasm: Uint8Array;
  /** The canister's Candid service description, as `moc --idl` prints it. */
  readonly candid: string;
  /** True when the result was read from `.cache/motoko` rather than compiled now. */
  readonly fromCache: boolean;
  /** sha256 (hex) of sources + compiler version + flags; names the cache files. */
  readonly cacheKey: string;
  /** Absolute path of the cached wasm (the Candid text sits next to it as `<key>.did`). */
  readonly wasmPath: string;
}

export interface CompileMotokoOptions {
  /** Read and write `.cache/motoko`. Default true; false always compiles (in a fresh worker). */
  readonly cache?: boolean;
}

/** One error the compiler reported: 1-based line and column. */
export interface MotokoDiagnostic {
  readonly source: string;
  readonly line: number;
  readonly column: number;
  readonly code: string;
  readonly message: string;
}

// `file:line: message (code)`; the compiler's multi-line messages are indented under it.
function formatDiagnostic(d: MotokoDiagnostic): string {
  return `  ${d.source}:${d.line}: ${d.message.replace(/\n/g, '\n    ')} (${d.code})`;
}

export class MotokoCompileError extends Error {
  override readonly name = 'MotokoCompileError';
  constructor(
    readonly canister: string,
    readonly diagnostics: readonly MotokoDiagnostic[],
    detail?: string,
  ) {
    super(
      `Motoko compile of ${canister} failed:\n` +
        (detail ?? diagnostics.map(formatDiagnostic).join('\n')),
    );
  }
}

/**
 * Compiles a Motoko canister.
 *
 * - `compileMotoko('counter')` compiles `test/canisters/counter.mo` together with the local files
 *   it imports (`import Child "child"` → `test/canisters/child.mo`), transitively.
 * - `compileMotoko('inline', source)` compiles one source text as `inline.mo`.
 * - `compileMotoko('main', { 'main.mo': …, 'lib.mo': … })` compiles the given files; the entry is
 *   `<name>.mo` (or `name` itself if that is a key).
 */
export async function compileMotoko(
  name: string,
  sources?: Record<string, string> | string,
  options: CompileMotokoOptions = {},
): Promise<MotokoCompilation> {
  const { files, entry } = await resolveSources(name, sources);
  const cacheKey = motokoCacheKey(files, entry);
  const wasmPath = join(MOTOKO_CACHE_DIR, `${cacheKey}.wasm`);
  const didPath = join(MOTOKO_CACHE_DIR, `${cacheKey}.did`);
  const useCache = options.cache ?? true;

  if (useCache) {
    const cached = await readCached(wasmPath, didPath);
    if (cached) return { ...cached, fromCache: true, cacheKey, wasmPath };
    // Several tests may ask for the same canister at once: compile it once.
    const pending = inFlight.get(cacheKey);
    if (pending) return pending;
  }

  const compile = (async (): Promise<MotokoCompilation> => {
    const { wasm, candid } = await compileInWorker(name, files, entry);
    if (useCache) {
      await mkdir(MOTOKO_CACHE_DIR, { recursive: true });
      // Candid first: the wasm file's presence marks a complete entry.
      await writeAtomically(didPath, candid);
      await writeAtomically(wasmPath, wasm);
    }
    return { wasm, candid, fromCache: false, cacheKey, wasmPath };
  })();
  if (!useCache) return compile;
  inFlight.set(cacheKey, compile);
  try {
    return await compile;
  } finally {
    inFlight.delete(cacheKey);
  }
}

/** The cache key for a set of sources: sha256 over sources, compiler version and flags. */
export function motokoCacheKey(files: Readonly<Record<string, string>>, entry: string): string {
  const hash = createHash('sha256');
  hash.update(JSON.stringify({ compiler: compilerVersion(), flags: MOTOKO_FLAGS, entry }));
  for (const path of Object.keys(files).sort()) {
    hash.update(`\0${path}\0${files[path]!.length}\0`);
    hash.update(files[path]!);
  }
  return hash.digest('hex');
}

const inFlight = new Map<string, Promise<MotokoCompilation>>();

let version: string | undefined;
/**
 * The npm package version pins both the compiler (moc.min.js) and the bundled `mo:core`
 * (packages/latest/core.json), so it identifies the toolchain.
 */
function compilerVersion(): string {
  if (version === undefined) {
    const require = createRequire(import.meta.url);
    const pkg = require('motoko/package.json') as { version: string };
    version = `motoko@${pkg.version}`;
  }
  return version;
}

async function resolveSources(
  name: string,
  sources: Record<string, string> | string | undefined,
): Promise<{ files: Record<string, string>; entry: string }> {
  if (typeof sources === 'string') {
    const entry = name.endsWith('.mo') ? name : `${name}.mo`;
    return { files: { [entry]: sources }, entry };
  }
  if (sources !== undefined) {
    const entry = name in sources ? name : `${name}.mo`;
    if (!(entry in sources)) throw new Error(`compileMotoko: no entry file ${entry} among ${Object.keys(sources).join(', ')}`);
    return { files: { ...sources }, entry };
  }
  return loadFixture(name);
}

// `import X "path"`, `import { a } "path"` at the start of a line; `mo:` packages, `canister:`
// and `ic:` imports are not files.
const IMPORT = /^\s*import\b[^";]*?"([^"]+)"/gm;

/** Reads `test/canisters/<name>.mo` and, transitively, the local files it imports. */
async function loadFixture(name: string): Promise<{ files: Record<string, string>; entry: string }> {
  const entry = name.endsWith('.mo') ? name : `${name}.mo`;
  const files: Record<string, string> = {};
  const pending = [entry];
  while (pending.length > 0) {
    const path = pending.pop()!;
    if (path in files) continue;
    let text: string;
    try {
      text = await readFile(join(CANISTERS_DIR, ...path.split('/')), 'utf8');
    } catch (err) {
      throw new Error(`compileMotoko: cannot read test/canisters/${path}`, { cause: err });
    }
    files[path] = text;
    for (const match of text.matchAll(IMPORT)) {
      const target = match[1]!;
      if (/^(mo|canister|ic|blob):/.test(target)) continue;
      const resolved = posix.normalize(posix.join(posix.dirname(path), target));
      pending.push(resolved.endsWith('.mo') ? resolved : `${resolved}.mo`);
    }
  }
  return { files, entry };
}

async function readCached(wasmPath: string, didPath: string): Promise<{ wasm: Uint8Array; candid: string } | undefined> {
  try {
    const wasm = new Uint8Array(await readFile(wasmPath));
    const candid = await readFile(didPath, 'utf8');
    return { wasm, candid };
  } catch {
    return undefined;
  }
}

let tempCounter = 0;
async function writeAtomically(path: string, data: Uint8Array | string): Promise<void> {
  // Unique per process and call, so concurrent test processes never share a temp file; rename
  // within one directory is atomic, so readers see either nothing or the whole file.
  const temp = `${path}.${process.pid}.${++tempCounter}.tmp`;
  await writeFile(temp, data);
  await rename(temp, path);
}

// Each compiler instance takes a few hundred MB; bound how many run at once.
const MAX_WORKERS = Math.max(1, Math.min(4, availableParallelism()));
let running = 0;
const waiting: (() => void)[] = [];

async function withWorkerSlot<T>(run: () => Promise<T>): Promise<T> {
  if (running >= MAX_WORKERS) await new Promise<void>((resolve) => waiting.push(resolve));
  running++;
  try {
    return await run();
  } finally {
    running--;
    waiting.shift()?.();
  }
}

type WorkerResult =
  | { ok: true; wasm: Uint8Array; candid: string }
  | { ok: false; errors?: MotokoDiagnostic[]; crash?: string };

function compileInWorker(
  name: string,
  files: Record<string, string>,
  entry: string,
): Promise<{ wasm: Uint8Array; candid: string }> {
  return withWorkerSlot(
    () =>
      new Promise((resolve, reject) => {
        const worker = new Worker(WORKER_URL, {
          workerData: { files, entry, gc: MOTOKO_FLAGS.gc },
          // The compiler's own diagnostics come back as data; keep its stray output off the test log.
          stdout: true,
          stderr: true,
        });
        worker.stdout.resume();
        worker.stderr.resume();
        let settled = false;
        const settle = (fn: () => void) => {
          if (settled) return;
          settled = true;
          fn();
          void worker.terminate();
        };
        worker.once('message', (result: WorkerResult) =>
          settle(() => {
            if (result.ok) resolve({ wasm: new Uint8Array(result.wasm), candid: result.candid });
            else if (result.crash !== undefined) reject(new MotokoCompileError(name, [], `  compiler crashed: ${result.crash}`));
            else reject(new MotokoCompileError(name, result.errors ?? []));
          }),
        );
        worker.once('error', (err) =>
          settle(() => reject(new MotokoCompileError(name, [], `  compiler worker failed: ${String(err.message).slice(0, 500)}`))),
        );
        worker.once('exit', (code) =>
          settle(() => reject(new MotokoCompileError(name, [], `  compiler worker exited (code ${code}) without a result`))),
        );
      }),
  );
}

/** Absolute path of a fixture under test/canisters. */
export function fixturePath(name: string): string {
  return join(CANISTERS_DIR, name.endsWith('.mo') ? name : `${name}.mo`);
}
