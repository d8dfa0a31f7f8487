// Entry point of one local replica process:
//
//   node --import tsx replica/src/node/main.ts [--port 4943] [--host 127.0.0.1] [--data-dir DIR]
//        [--round-interval MS] [--workers N] [--query-workers N] [--signature-threads N] [--log-level info]
//
// Prints the URL and the root key clients must trust, then serves until SIGINT/SIGTERM.

import { parseArgs } from 'node:util';
import pino from 'pino';
import { ReplicaMetrics, RoundTracer } from '../telemetry/index.js';
import { setupTelemetry, telemetryOptionsFromEnv } from '../telemetry/setup.js';
import { DEFAULT_PORT, DEFAULT_QUERY_WORKERS, DEFAULT_ROUND_INTERVAL_MS, DEFAULT_SIGNATURE_THREADS, DEFAULT_WORKERS, Node } from './node.js';

const USAGE = `Usage: node --import tsx replica/src/node/main.ts [options]

  --port <n>             HTTP port (default ${DEFAULT_PORT}; 0 picks a free port)
  --host <addr>          interface to listen on (default 127.0.0.1)
  --data-dir <dir>       keep keys.json here so the root key survives restarts
  --round-interval <ms>  pause between rounds when idle (default ${DEFAULT_ROUND_INTERVAL_MS})
  --workers <n>          worker threads executing canisters (default ${DEFAULT_WORKERS}, one per core; 0: the
                         main thread, where a long message holds up the HTTP interface until it is done)
  --query-workers <n>    threads running queries on the certified state (default ${DEFAULT_QUERY_WORKERS}; 0: the main thread)
  --signature-threads <n> threads checking request signatures, signing query responses (default ${DEFAULT_SIGNATURE_THREADS}; 0: the main thread)
  --log-level <level>    pino level: debug, info, warn, error, silent (default info)
  -h, --help             this text`;

function fail(message: string): never {
  process.stderr.write(`${message}\n\n${USAGE}\n`);
  process.exit(2);
}

function integer(name: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) fail(`--${name} must be a non-negative integer, got '${value}'`);
  return n;
}

let parsed;
try {
  parsed = parseArgs({
    options: {
      port: { type: 'string' },
      host: { type: 'string' },
      'data-dir': { type: 'string' },
      'round-interval': { type: 'string' },
      workers: { type: 'string' },
      'query-workers': { type: 'string' },
      'signature-threads': { type: 'string' },
      'log-level': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
} catch (e) {
  fail((e as Error).message);
}
const { values } = parsed;
if (values.help) {
  process.stdout.write(`${USAGE}\n`);
  process.exit(0);
}

const logger = pino({ level: values['log-level'] ?? 'info' }, pino.destination(2));
// Off unless OTEL_EXPORTER_OTLP_ENDPOINT or ICPK_PROMETHEUS_PORT is set; then a trace per round
// and the replica's metrics.
const telemetry = setupTelemetry(telemetryOptionsFromEnv(process.env, { serviceName: 'icpk-replica' }));
await telemetry.ready;
const node = await Node.start({
  tracer: new RoundTracer(telemetry.tracerProvider),
  metrics: new ReplicaMetrics(telemetry.meterProvider),
  port: integer('port', values.port, DEFAULT_PORT),
  ...(values.host !== undefined ? { host: values.host } : {}),
  ...(values['data-dir'] !== undefined ? { dataDir: values['data-dir'] } : {}),
  roundIntervalMs: integer('round-interval', values['round-interval'], DEFAULT_ROUND_INTERVAL_MS),
  replica: { workers: integer('workers', values.workers, DEFAULT_WORKERS) },
  queryWorkers: integer('query-workers', values['query-workers'], DEFAULT_QUERY_WORKERS),
  signatureThreads: integer('signature-threads', values['signature-threads'], DEFAULT_SIGNATURE_THREADS),
  logger,
}).catch((e: unknown) => {
  const err = e as NodeJS.ErrnoException;
  if (err.code === 'EADDRINUSE') fail(`port ${values.port ?? DEFAULT_PORT} is in use; pass --port 0 for a free one`);
  throw e;
});

// Machine-readable first lines: tools (make run, tests) read the URL from stdout.
process.stdout.write(`url: ${node.url}\nroot_key: ${Buffer.from(node.rootKey).toString('hex')}\nsubnet: ${node.subnetId.toText()}\n`);
if (telemetry.prometheusUrl) process.stdout.write(`metrics: ${telemetry.prometheusUrl}\n`);

let stopping = false;
async function stop(signal: string): Promise<void> {
  if (stopping) return;
  stopping = true;
  logger.info({ signal }, 'stopping');
  await node.close();
  await telemetry.shutdown();
  process.exit(0);
}
process.on('SIGINT', () => void stop('SIGINT'));
process.on('SIGTERM', () => void stop('SIGTERM'));
