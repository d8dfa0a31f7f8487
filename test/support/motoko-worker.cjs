// Compiles one Motoko program with the npm `motoko` compiler, then exits.
//
// Runs in a fresh worker thread per compile: the js_of_ocaml compiler keeps state between
// compiles (its virtual file system, package table and internal counters), so compiling the
// same source twice in one instance can give different bytes. A fresh instance per compile keeps
// module hashes reproducible. Plain CommonJS because `motoko` is CommonJS and workers started from
// tsx-loaded modules do not inherit its TypeScript loader.
'use strict';

const { parentPort, workerData } = require('node:worker_threads');

// Error messages from the compiler can embed its 2.8 MB minified source; keep them short.
const MAX_MESSAGE = 500;

function shortMessage(err) {
  const text = err instanceof Error ? err.message : typeof err === 'string' ? err : JSON.stringify(err);
  const firstLines = String(text).split('\n').slice(0, 5).join('\n');
  return firstLines.length > MAX_MESSAGE ? `${firstLines.slice(0, MAX_MESSAGE)}…` : firstLines;
}

function compile({ files, entry, gc }) {
  const mo = require('motoko');
  mo.loadPackage(require('motoko/packages/latest/core.json'));
  for (const [path, content] of Object.entries(files)) mo.write(path, content);
  // Without a classic GC flag the compiler emits memory64 (enhanced orthogonal persistence),
  // which Node 20's WebAssembly rejects and which the replica does not target yet.
  mo.compiler.gcFlags(gc);
  const { code, diagnostics } = mo.compiler.compileWasm('ic', entry);
  const errors = (diagnostics ?? [])
    .filter((d) => d.severity === 1)
    .map((d) => ({
      source: d.source,
      // The compiler reports 0-based lines and characters; people read 1-based ones.
      line: d.range.start.line + 1,
      column: d.range.start.character + 1,
      code: d.code,
      message: d.message,
    }));
  if (!code) return { ok: false, errors };
  return { ok: true, wasm: code.wasm, candid: code.candid, compilerVersion: mo.version };
}

let result;
try {
  result = compile(workerData);
} catch (err) {
  result = { ok: false, crash: shortMessage(err) };
}
parentPort.postMessage(result);
