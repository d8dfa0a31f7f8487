// Manifests are JSON (readable with `cat` when something goes wrong); parsing checks the shape so
// a torn or foreign file is reported as a corrupt checkpoint, never trusted.

import { CorruptCheckpointError } from './errors.js';
import { MANIFEST_FORMAT, type CheckpointManifest } from './types.js';

export function parseManifest(bytes: Uint8Array | undefined, height: bigint): CheckpointManifest {
  if (!bytes) throw new CorruptCheckpointError(`checkpoint ${height} has no manifest`, height);
  let m: unknown;
  try {
    m = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch (e) {
    throw new CorruptCheckpointError(`manifest of checkpoint ${height} is not JSON: ${(e as Error).message}`, height, { cause: e });
  }
  const fail = (what: string): never => {
    throw new CorruptCheckpointError(`manifest of checkpoint ${height} is malformed: ${what}`, height);
  };
  const o = m as Record<string, unknown>;
  if (typeof o !== 'object' || o === null) fail('not an object');
  if (o.format !== MANIFEST_FORMAT) fail(`format ${String(o.format)}`);
  if (o.height !== height.toString()) fail(`height ${String(o.height)}`);
  if (typeof o.stateHash !== 'string' || !/^[0-9a-f]{64}$/.test(o.stateHash)) fail('stateHash');
  if (typeof o.meta !== 'string' || typeof o.base !== 'string' || typeof o.depth !== 'number') fail('meta, base or depth');
  if (!Array.isArray(o.objects) || !o.objects.every(isObjectRef)) fail('objects');
  if (!Array.isArray(o.pageMaps) || !o.pageMaps.every(isPageMap)) fail('pageMaps');
  const keys = new Set((o.objects as { key: string }[]).map((x) => x.key));
  if (!keys.has(o.meta as string)) fail('meta is not among the objects');
  for (const p of o.pageMaps as { layers: { runs: { key: string }[] }[] }[]) {
    for (const l of p.layers) for (const r of l.runs) if (!keys.has(r.key)) fail(`run object ${r.key} is not among the objects`);
  }
  return m as CheckpointManifest;
}

function isObjectRef(x: unknown): boolean {
  const o = x as Record<string, unknown>;
  return typeof o === 'object' && o !== null && typeof o.key === 'string' && Number.isSafeInteger(o.size)
    && typeof o.sha256 === 'string' && /^[0-9a-f]{64}$/.test(o.sha256);
}

function isPageMap(x: unknown): boolean {
  const o = x as Record<string, unknown>;
  return typeof o === 'object' && o !== null && typeof o.id === 'string' && Number.isSafeInteger(o.sizeBytes)
    && typeof o.hash === 'string' && Array.isArray(o.layers) && o.layers.every(isLayer);
}

function isLayer(x: unknown): boolean {
  const o = x as Record<string, unknown>;
  return typeof o === 'object' && o !== null && typeof o.height === 'string' && typeof o.reset === 'boolean'
    && Array.isArray(o.runs) && o.runs.every((r) => {
      const run = r as Record<string, unknown>;
      return typeof run === 'object' && run !== null && typeof run.key === 'string'
        && Number.isSafeInteger(run.offset) && Number.isSafeInteger(run.length);
    });
}
