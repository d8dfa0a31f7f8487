// Throughput and latency of the HTTP interface on loopback: trivial queries (counter `get`) and
// trivial updates (counter `inc`, v4 synchronous calls answered with a certificate), side by side
// with the Internet Computer's published figures. The node runs in this process; the load comes
// from a child process (this file with --load) so client work does not eat the server's thread.
//
//   node --import tsx bench/http.ts [--seconds 4] [--queries 20000] [--concurrency 64] [--updates 4000 (0: none)] [--tree DIR]
//
// `--tree DIR` measures the replica of another checkout (e.g. the previous commit) with this
// load generator, so two versions can be compared side by side on the same machine.
//
// Requests are signed (Ed25519) ahead of time, so the client measures the server rather than its
// own signing, each with its own nonce; anonymous queries (sender 0x04, no signature, what browser
// frontends mostly send) are measured too. Responses are checked for status 200 but not verified
// (agents would verify them).

import { fork } from 'node:child_process';
import { connect, type Socket } from 'node:net';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { randomBytes } from 'node:crypto';
import { availableParallelism, loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Cbor, HttpAgent, requestIdOf } from '@icp-sdk/core/agent';
import { IDL } from '@icp-sdk/core/candid';
import { Ed25519KeyIdentity } from '@icp-sdk/core/identity';
import { Principal } from '@icp-sdk/core/principal';
import { NodeSigningKey } from '../replica/src/node/keys.js';
import { percentile } from './support.js';

interface LoadJob {
  readonly url: string;
  readonly canisterId: string;
  readonly kind: 'query' | 'update';
  /** Queries from the anonymous principal: no key, no signature (what browser frontends mostly send). */
  readonly anonymous?: boolean;
  readonly concurrency: number;
  readonly maxRequests: number;
  readonly seconds: number;
}

interface LoadResult {
  readonly ok: number;
  readonly failed: number;
  readonly failures: Record<string, number>;
  readonly seconds: number;
  /** Latencies of successful requests, ms. */
  readonly latencies: number[];
  /** CPU time (user + system) the load generator spent sending them and reading the answers, µs. */
  readonly cpuMicros: number;
}

// ---- the load generator (child process) --------------------------------------------------------

const IC_REQUEST = Buffer.concat([Buffer.from([10]), Buffer.from('ic-request')]);

function signer(): { key: NodeSigningKey; der: Uint8Array; sender: Principal } {
  const key = new NodeSigningKey(randomBytes(32));
  return { key, der: key.publicKeyDer, sender: Principal.selfAuthenticating(key.publicKeyDer) };
}

/**
 * Request bodies, each with its own nonce (so every update is a new message and every signature
 * is new to the server): signed with an Ed25519 key, or anonymous (no key, no signature).
 */
function envelopes(job: LoadJob, count: number): Uint8Array[] {
  const { key, der, sender } = job.anonymous ? { key: undefined, der: undefined, sender: Principal.anonymous() } : signer();
  const canisterId = Principal.fromText(job.canisterId);
  const arg = new Uint8Array(IDL.encode([], []));
  const expiry = BigInt(Date.now() + 4 * 60_000) * 1_000_000n;
  const out: Uint8Array[] = [];
  for (let i = 0; i < count; i++) {
    const content = {
      request_type: job.kind === 'query' ? 'query' : 'call',
      canister_id: canisterId,
      method_name: job.kind === 'query' ? 'get' : 'inc',
      arg,
      sender,
      nonce: new Uint8Array(randomBytes(8)),
      ingress_expiry: expiry,
    };
    if (key === undefined) {
      out.push(Cbor.encode({ content }));
      continue;
    }
    const sig = key.sign(Buffer.concat([IC_REQUEST, requestIdOf(content)]));
    out.push(Cbor.encode({ content, sender_pubkey: der, sender_sig: sig }));
  }
  return out;
}

const REPLIED = Buffer.from('replied');

/**
 * A keep-alive HTTP/1.1 connection that sends prebuilt POST requests and reads just enough of the
 * response (status line, Content-Length, body): a client far cheaper per request than node:http
 * or fetch, so that on a machine shared with the server the client takes as little as it can.
 */
class Connection {
  readonly #socket: Socket;
  #buffer: Buffer = Buffer.alloc(0);
  #waiting: { resolve: (r: { status: number; body: Buffer }) => void; reject: (e: Error) => void } | undefined;

  private constructor(socket: Socket) {
    this.#socket = socket;
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => {
      this.#buffer = this.#buffer.length === 0 ? chunk : Buffer.concat([this.#buffer, chunk]);
      this.#parse();
    });
    socket.on('error', (e) => this.#fail(e));
    socket.on('close', () => this.#fail(new Error('connection closed')));
  }

  static open(url: URL): Promise<Connection> {
    return new Promise((resolve, reject) => {
      const socket = connect(Number(url.port), url.hostname, () => resolve(new Connection(socket)));
      socket.once('error', reject);
    });
  }

  post(request: Buffer): Promise<{ status: number; body: Buffer }> {
    return new Promise((resolve, reject) => {
      this.#waiting = { resolve, reject };
      this.#socket.write(request);
    });
  }

  close(): void {
    this.#socket.destroy();
  }

  #parse(): void {
    const end = this.#buffer.indexOf('\r\n\r\n');
    if (end < 0 || !this.#waiting) return;
    const head = this.#buffer.toString('latin1', 0, end);
    const length = Number(/\r\ncontent-length: *(\d+)/i.exec(head)?.[1] ?? 0);
    if (this.#buffer.length < end + 4 + length) return;
    const body = this.#buffer.subarray(end + 4, end + 4 + length);
    this.#buffer = this.#buffer.subarray(end + 4 + length);
    const waiting = this.#waiting;
    this.#waiting = undefined;
    waiting.resolve({ status: Number(head.slice(9, 12)), body });
  }

  #fail(e: Error): void {
    const waiting = this.#waiting;
    this.#waiting = undefined;
    waiting?.reject(e);
  }
}

/** The whole request, headers and body, ready to write. */
function httpRequest(url: URL, body: Uint8Array): Buffer {
  const head = `POST ${url.pathname} HTTP/1.1\r\nHost: ${url.host}\r\nContent-Type: application/cbor\r\nContent-Length: ${body.byteLength}\r\nConnection: keep-alive\r\n\r\n`;
  return Buffer.concat([Buffer.from(head, 'latin1'), body]);
}

async function runLoad(job: LoadJob): Promise<LoadResult> {
  const bodies = envelopes(job, job.kind === 'query' ? Math.min(job.maxRequests, 2000) : job.maxRequests);
  const path = job.kind === 'query' ? 'query' : 'call';
  const version = job.kind === 'query' ? 3 : 4;
  const url = new URL(`${job.url}/api/v${version}/canister/${job.canisterId}/${path}`);
  const requests = bodies.map((body) => httpRequest(url, body));
  const latencies: number[] = [];
  const failures: Record<string, number> = {};
  const fail = (what: string) => (failures[what] = (failures[what] ?? 0) + 1);
  let next = 0;
  // The driver starts counting the server's CPU time now.
  await new Promise<void>((resolve) => process.send!('started', () => resolve()));
  const cpu = process.cpuUsage();
  const deadline = performance.now() + job.seconds * 1000;
  const started = performance.now();
  const worker = async () => {
    let connection = await Connection.open(url);
    while (next < job.maxRequests && performance.now() < deadline) {
      const request = requests[next++ % requests.length]!;
      const t0 = performance.now();
      try {
        const res = await connection.post(request);
        // Queries and v4 calls both answer a CBOR map with `status: replied` when they succeed.
        if (res.status === 200 && res.body.includes(REPLIED)) latencies.push(performance.now() - t0);
        else if (res.status === 200) fail(`200 ${String(Cbor.decode<{ status?: string }>(new Uint8Array(res.body)).status)}`);
        else fail(String(res.status));
      } catch (e) {
        fail((e as Error).message);
        connection.close();
        connection = await Connection.open(url);
      }
    }
    connection.close();
  };
  await Promise.all(Array.from({ length: job.concurrency }, worker));
  const failed = Object.values(failures).reduce((a, b) => a + b, 0);
  const { user, system } = process.cpuUsage(cpu);
  return { ok: latencies.length, failed, failures, seconds: (performance.now() - started) / 1000, latencies, cpuMicros: user + system };
}

// ---- the driver (this process) -----------------------------------------------------------------

/** A load's result, with the CPU time the server's process (all its threads) spent meanwhile, µs. */
type Measured = LoadResult & { readonly serverCpuMicros: number };

function load(job: LoadJob): Promise<Measured> {
  return new Promise((resolve, reject) => {
    const child = fork(fileURLToPath(import.meta.url), ['--load'], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    let cpu: NodeJS.CpuUsage | undefined;
    child.on('message', (message: 'started' | LoadResult) => {
      if (message === 'started') {
        cpu = process.cpuUsage();
        return;
      }
      const { user, system } = process.cpuUsage(cpu);
      resolve({ ...message, serverCpuMicros: user + system });
      child.kill();
    });
    child.once('error', reject);
    child.once('exit', (code) => code !== 0 && code !== null && reject(new Error(`load generator exited with ${code}`)));
    child.send(job);
  });
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { seconds: { type: 'string' }, queries: { type: 'string' }, concurrency: { type: 'string' }, updates: { type: 'string' }, tree: { type: 'string' } } });
  const seconds = Number(values.seconds ?? 4);
  const loadBefore = loadavg()[0]!;
  const tree = values.tree !== undefined ? pathToFileURL(`${resolve(values.tree)}/`) : new URL('../', import.meta.url);
  const { Node } = (await import(new URL('replica/src/node/index.js', tree).href)) as typeof import('../replica/src/node/index.js');
  const { managementCanister } = await import('../replica/src/cli/management.js');
  const { compileMotoko } = await import('../test/support/motoko.js');

  const { wasm } = await compileMotoko('counter');
  const start = async (options: { queryCache?: false }) => {
    const node = await Node.start({ port: 0, host: '127.0.0.1', ...options });
    const agent = await HttpAgent.create({ host: node.url, shouldFetchRootKey: true, identity: Ed25519KeyIdentity.generate() });
    const ic = managementCanister(agent);
    const { canister_id } = await ic.provisional_create_canister_with_cycles({ amount: [10n ** 15n], settings: [], specified_id: [], sender_canister_version: [] });
    await ic.install_code({ mode: { install: null }, canister_id, wasm_module: wasm, arg: new Uint8Array(IDL.encode([], [])), sender_canister_version: [] });
    return { node, base: { url: node.url, canisterId: canister_id.toText(), seconds } };
  };

  const { node, base } = await start({});
  // Warm-up: JIT on both sides, connections, the module's first instantiation.
  await load({ ...base, kind: 'query', concurrency: 8, maxRequests: 500, seconds: 1 });
  await load({ ...base, kind: 'query', anonymous: true, concurrency: 8, maxRequests: 500, seconds: 1 });
  const updateCount = Number(values.updates ?? 4_000);
  if (updateCount > 0) await load({ ...base, kind: 'update', concurrency: 8, maxRequests: 200, seconds: 1 });
  const queryCount = Number(values.queries ?? 20_000);
  const concurrency = Number(values.concurrency ?? 64);
  const queries = await load({ ...base, kind: 'query', concurrency, maxRequests: queryCount });
  const anonymous = await load({ ...base, kind: 'query', anonymous: true, concurrency, maxRequests: queryCount });
  const updates = updateCount > 0 ? await load({ ...base, kind: 'update', concurrency: 200, maxRequests: updateCount }) : undefined;
  const rounds = node.height;
  await node.close();
  // Without the query cache every query runs the canister (on the query worker where there is one).
  const uncached = await start({ queryCache: false });
  await load({ ...uncached.base, kind: 'query', concurrency: 8, maxRequests: 500, seconds: 1 });
  const executed = await load({ ...uncached.base, kind: 'query', concurrency, maxRequests: queryCount });
  await uncached.node.close();

  const row = (r: Measured) => {
    const sorted = [...r.latencies].sort((a, b) => a - b);
    return { rate: r.ok / r.seconds, p50: percentile(sorted, 50), p99: percentile(sorted, 99), server: r.serverCpuMicros / r.ok, client: r.cpuMicros / r.ok };
  };
  const q = row(queries);
  const a = row(anonymous);
  const x = row(executed);
  const f0 = (x: number) => x.toLocaleString('en-US', { maximumFractionDigits: 0 });
  const f1 = (x: number) => x.toFixed(1);
  const ratio = (x: number, y: number) => `${(x / y).toFixed(2)}×`;
  const cpu = (r: ReturnType<typeof row>) => `| its CPU per query, server / load generator (µs) | ${f0(r.server)} / ${f0(r.client)} | | |`;
  const all = [queries, anonymous, executed, ...(updates ? [updates] : [])];
  console.log('## HTTP interface on loopback: one node, trivial canister methods\n');
  console.log(
    `Node ${process.version}, ${availableParallelism()} cores (1-min load ${loadBefore.toFixed(1)} before, ${loadavg()[0]!.toFixed(1)} after), ` +
      `${all.reduce((n, r) => n + r.ok, 0)} requests, ${rounds} rounds; client in a separate process.\n`,
  );
  console.log('| metric | this replica | IC (published) | ratio |');
  console.log('|---|---|---|---|');
  console.log(`| queries/s, signed (1 node, ${concurrency} concurrent) | ${f0(q.rate)} | ~7,000 per node | ${ratio(q.rate, 7000)} |`);
  console.log(`| query latency p50 / p99 (ms) | ${f1(q.p50)} / ${f1(q.p99)} | ~170 | ${ratio(q.p50, 170)} (p50) |`);
  console.log(cpu(q));
  console.log(`| queries/s, anonymous (no signature to verify) | ${f0(a.rate)} | ~7,000 per node | ${ratio(a.rate, 7000)} |`);
  console.log(`| its latency p50 / p99 (ms) | ${f1(a.p50)} / ${f1(a.p99)} | ~170 | ${ratio(a.p50, 170)} (p50) |`);
  console.log(cpu(a));
  console.log(`| queries/s, signed, query cache off (each runs the canister) | ${f0(x.rate)} | ~7,000 per node | ${ratio(x.rate, 7000)} |`);
  console.log(`| its latency p50 / p99 (ms) | ${f1(x.p50)} / ${f1(x.p99)} | ~170 | ${ratio(x.p50, 170)} (p50) |`);
  console.log(cpu(x));
  if (updates) {
    const u = row(updates);
    console.log(`| updates/s (1 subnet, 200 concurrent) | ${f0(u.rate)} | 1,200–2,000 per subnet | ${ratio(u.rate, 1600)} (vs 1,600) |`);
    console.log(`| update latency p50 / p99 (ms) | ${f1(u.p50)} / ${f1(u.p99)} | ~1,750 | ${ratio(u.p50, 1750)} (p50) |`);
  }
  console.log('\nIC latencies are as users see them across the internet and a 13-node consensus; these are loopback on one node.');
  console.log('CPU per query: all threads of the server\'s process, and the load generator\'s, while the load ran (both share the machine\'s cores).');
  for (const [name, r] of [['queries', queries], ['anonymous queries', anonymous], ['uncached queries', executed], ['updates', updates]] as const) {
    if (r !== undefined && r.failed > 0) console.log(`\n${name}: ${r.failed} failed: ${JSON.stringify(r.failures)}`);
  }
}

if (process.argv.includes('--load')) {
  process.once('message', (job: LoadJob) => {
    runLoad(job).then(
      (result) => process.send!(result, () => process.exit(0)),
      (e: unknown) => {
        console.error(e);
        process.exit(1);
      },
    );
  });
} else {
  await main();
}
