// The entry module of a worker thread (sandbox workers, query workers, the signing thread).

/**
 * `name` (without extension) beside the module `from` (the caller's `import.meta.url`). Under tsx
 * (sources run as TypeScript) a worker does not inherit the loader, so a small bootstrap
 * registers it before importing the entry.
 */
export function workerEntry(from: string, name: string): URL {
  const typescript = from.endsWith('.ts');
  const entry = new URL(`./${name}.${typescript ? 'ts' : 'js'}`, from);
  if (!typescript) return entry;
  const tsx = import.meta.resolve('tsx/esm/api');
  const code = `import { register } from ${JSON.stringify(tsx)}; register(); await import(${JSON.stringify(entry.href)});`;
  return new URL(`data:text/javascript,${encodeURIComponent(code)}`);
}
