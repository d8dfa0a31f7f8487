// A real nats-server for tests (Debian's package): a free port on loopback, JetStream in a temp
// directory, stopped (and restartable on the same port) by the test.

import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, type ConnectionOptions, type NatsConnection } from 'nats';

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

export class NatsServer {
  #process: ChildProcess | undefined;

  private constructor(readonly port: number, private readonly storeDir: string) {}

  get url(): string {
    return `nats://127.0.0.1:${this.port}`;
  }

  static async start(): Promise<NatsServer> {
    const server = new NatsServer(await freePort(), await mkdtemp(join(tmpdir(), 'icpk-nats-')));
    await server.restart();
    return server;
  }

  /** Starts the server (again, on the same port and store) and waits until it takes connections. */
  async restart(): Promise<void> {
    if (this.#process) throw new Error('nats-server is running');
    const p = spawn('nats-server', ['-js', '-p', String(this.port), '-sd', this.storeDir, '-a', '127.0.0.1'], { stdio: 'ignore' });
    this.#process = p;
    const exited = new Promise<never>((_, reject) => p.once('exit', (code) => reject(new Error(`nats-server exited (code ${code}): is it installed? (apt-get install nats-server)`))));
    exited.catch(() => undefined);
    p.once('error', () => undefined);
    for (let attempt = 0; ; attempt++) {
      try {
        const nc = await Promise.race([connect({ servers: this.url, reconnect: false }), exited]);
        await nc.close();
        return;
      } catch (e) {
        if (attempt >= 100 || this.#process !== p || p.exitCode !== null) throw e;
        await new Promise((r) => setTimeout(r, 20));
      }
    }
  }

  /** A client that reconnects for as long as it takes (the server may be restarted). */
  connect(options: Partial<ConnectionOptions> = {}): Promise<NatsConnection> {
    return connect({ servers: this.url, maxReconnectAttempts: -1, reconnectTimeWait: 50, ...options });
  }

  async stop(): Promise<void> {
    const p = this.#process;
    if (!p) return;
    this.#process = undefined;
    if (p.exitCode === null) {
      const exited = new Promise((r) => p.once('exit', r));
      p.kill('SIGINT');
      await exited;
    }
  }

  async close(): Promise<void> {
    await this.stop();
    await rm(this.storeDir, { recursive: true, force: true });
  }
}
