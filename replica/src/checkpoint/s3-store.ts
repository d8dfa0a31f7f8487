// Checkpoint objects in an S3 bucket through the `minio` client (MinIO in the cluster). Each put
// is atomic in S3; the checkpointer batches pages into objects of several MiB because every
// request costs a round trip (about 2 ms against a local server).

import type { Client } from 'minio';
import { zeroCounters, type CheckpointStore, type StoreCounters } from './types.js';

export class S3CheckpointStore implements CheckpointStore {
  readonly counters: StoreCounters = zeroCounters();

  private constructor(
    private readonly client: Client,
    readonly bucket: string,
    /** Prepended to every key; one prefix per replica (garbage collection owns everything under it). */
    readonly prefix: string,
  ) {}

  /** Creates the bucket if it does not exist. */
  static async open(client: Client, bucket: string, prefix = '', region = 'us-east-1'): Promise<S3CheckpointStore> {
    if (!(await client.bucketExists(bucket))) {
      try {
        await client.makeBucket(bucket, region);
      } catch (e) {
        // Another replica may have created it in between.
        if (!(await client.bucketExists(bucket))) throw e;
      }
    }
    const p = prefix === '' || prefix.endsWith('/') ? prefix : `${prefix}/`;
    return new S3CheckpointStore(client, bucket, p);
  }

  get location(): string {
    return `s3://${this.bucket}/${this.prefix}`;
  }

  async put(key: string, bytes: Uint8Array): Promise<void> {
    const body = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    await retrying(() => this.client.putObject(this.bucket, this.prefix + key, body, bytes.length));
    this.counters.bytesWritten += bytes.length;
    this.counters.objectsWritten++;
  }

  publish(key: string, bytes: Uint8Array): Promise<void> {
    return this.put(key, bytes);
  }

  async get(key: string): Promise<Uint8Array | undefined> {
    const buf = await retrying(async () => {
      let stream;
      try {
        stream = await this.client.getObject(this.bucket, this.prefix + key);
      } catch (e) {
        if (isNotFound(e)) return undefined;
        throw e;
      }
      const chunks: Buffer[] = [];
      for await (const chunk of stream) chunks.push(chunk as Buffer);
      return Buffer.concat(chunks);
    });
    if (!buf) return undefined;
    this.counters.bytesRead += buf.length;
    this.counters.objectsRead++;
    return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
  }

  async list(prefix: string): Promise<string[]> {
    return retrying(async () => {
      const out: string[] = [];
      for await (const item of this.client.listObjectsV2(this.bucket, this.prefix + prefix, true)) {
        const name = (item as { name?: string }).name;
        if (name !== undefined) out.push(name.slice(this.prefix.length));
      }
      return out.sort();
    });
  }

  async delete(key: string): Promise<void> {
    // One by one: a bulk delete of many keys makes s3rver (our test server) answer 500.
    await retrying(() => this.client.removeObject(this.bucket, this.prefix + key));
    this.counters.objectsDeleted++;
  }
}

const TRANSIENT = new Set(['ECONNRESET', 'ECONNREFUSED', 'ETIMEDOUT', 'EPIPE', 'EAI_AGAIN', 'InternalError', 'SlowDown', 'ServiceUnavailable', 'RequestTimeout']);

/** Retries requests that failed for reasons a retry can fix (connection resets, 5xx, throttling). */
async function retrying<T>(request: () => Promise<T>, attempts = 5): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await request();
    } catch (e) {
      const code = (e as { code?: string }).code;
      if (attempt >= attempts || code === undefined || !TRANSIENT.has(code)) throw e;
      await new Promise((r) => setTimeout(r, 20 * 2 ** attempt));
    }
  }
}

function isNotFound(e: unknown): boolean {
  const code = (e as { code?: string }).code;
  return code === 'NoSuchKey' || code === 'NotFound';
}
