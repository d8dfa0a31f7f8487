// Checkpoint objects as files under one directory: the embedded default. An object is written to
// a temporary file, fsynced, renamed into place and its directory fsynced, so after a crash it is
// either complete or absent.

import { randomBytes } from 'node:crypto';
import { mkdir, open, readFile, readdir, rename, rm, rmdir } from 'node:fs/promises';
import { dirname, join, relative, sep } from 'node:path';
import { zeroCounters, type CheckpointStore, type StoreCounters } from './types.js';

const TMP = '.tmp';
const KEY = /^[A-Za-z0-9_-][A-Za-z0-9._-]*(\/[A-Za-z0-9_-][A-Za-z0-9._-]*)*$/;

export class FsCheckpointStore implements CheckpointStore {
  readonly counters: StoreCounters = zeroCounters();

  private constructor(readonly dir: string) {}

  /** Opens (creating) the directory and removes temporary files a crash left behind. */
  static async open(dir: string): Promise<FsCheckpointStore> {
    await mkdir(dir, { recursive: true });
    await rm(join(dir, TMP), { recursive: true, force: true });
    await mkdir(join(dir, TMP), { recursive: true });
    return new FsCheckpointStore(dir);
  }

  get location(): string {
    return this.dir;
  }

  async put(key: string, bytes: Uint8Array): Promise<void> {
    const path = this.path(key);
    const tmp = join(this.dir, TMP, randomBytes(8).toString('hex'));
    const file = await open(tmp, 'w');
    try {
      await file.writeFile(bytes);
      await file.sync();
    } finally {
      await file.close();
    }
    await mkdir(dirname(path), { recursive: true });
    await rename(tmp, path);
    await syncDir(dirname(path));
    this.counters.bytesWritten += bytes.length;
    this.counters.objectsWritten++;
  }

  publish(key: string, bytes: Uint8Array): Promise<void> {
    return this.put(key, bytes);
  }

  async get(key: string): Promise<Uint8Array | undefined> {
    try {
      const buf = await readFile(this.path(key));
      this.counters.bytesRead += buf.length;
      this.counters.objectsRead++;
      return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw e;
    }
  }

  async list(prefix: string): Promise<string[]> {
    const out: string[] = [];
    const walk = async (dir: string): Promise<void> => {
      let entries;
      try {
        entries = await readdir(dir, { withFileTypes: true });
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
        throw e;
      }
      for (const entry of entries) {
        const path = join(dir, entry.name);
        if (dir === this.dir && entry.name === TMP) continue;
        if (entry.isDirectory()) await walk(path);
        else {
          const key = relative(this.dir, path).split(sep).join('/');
          if (key.startsWith(prefix)) out.push(key);
        }
      }
    };
    await walk(this.dir);
    return out.sort();
  }

  async delete(key: string): Promise<void> {
    const path = this.path(key);
    await rm(path, { force: true });
    this.counters.objectsDeleted++;
    // Empty directories of deleted checkpoints go too (a non-empty one stays: rmdir fails).
    let dir = dirname(path);
    while (dir !== this.dir && dir.startsWith(this.dir)) {
      try {
        await rmdir(dir);
      } catch {
        break;
      }
      dir = dirname(dir);
    }
  }

  /** The file holding `key` (for positional reads of lazily loaded pages). */
  objectPath(key: string): string {
    return this.path(key);
  }

  private path(key: string): string {
    if (!KEY.test(key)) throw new Error(`invalid checkpoint object key '${key}'`);
    return join(this.dir, ...key.split('/'));
  }
}

async function syncDir(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
