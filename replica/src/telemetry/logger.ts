// Structured logs: pino JSON lines, one child logger per component with its own level
// (`ICPK_LOG=info,scheduler=debug`), the active span's trace and span ids on every line, and
// canister `debug_print` output as records of the `canister` component.

import { context, isSpanContextValid, trace } from '@opentelemetry/api';
import { pino, type DestinationStream, type Level, type Logger } from 'pino';
import { LOG_FIELD } from './attributes.js';
import type { Textual } from './tracing.js';

export type { Logger } from 'pino';

export type LogLevel = Level | 'silent';
const LEVELS: readonly LogLevel[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

export interface LogLevels {
  readonly default: LogLevel;
  readonly components: ReadonlyMap<string, LogLevel>;
}

/**
 * Parses `info,scheduler=debug,canister=warn`: an optional default level, then component=level
 * pairs. `off` means `silent`. A bad level is a configuration error and throws.
 */
export function parseLogLevels(spec: string | undefined, fallback: LogLevel = 'info'): LogLevels {
  let def = fallback;
  const components = new Map<string, LogLevel>();
  for (const part of (spec ?? '').split(',')) {
    const item = part.trim();
    if (item === '') continue;
    const eq = item.indexOf('=');
    if (eq < 0) {
      def = level(item, spec!);
    } else {
      const name = item.slice(0, eq).trim();
      if (name === '') throw new Error(`log level spec "${spec}": missing component name before "="`);
      components.set(name, level(item.slice(eq + 1), spec!));
    }
  }
  return { default: def, components };
}

function level(s: string, spec: string): LogLevel {
  const l = s.trim().toLowerCase();
  const normalised = (l === 'off' ? 'silent' : l) as LogLevel;
  if (!LEVELS.includes(normalised)) {
    throw new Error(`log level spec "${spec}": unknown level "${s.trim()}" (use ${LEVELS.join(', ')} or off)`);
  }
  return normalised;
}

export interface LoggerOptions {
  /** Levels as in `ICPK_LOG`, e.g. `info,scheduler=debug`; or parsed. Default `info`. */
  readonly levels?: string | LogLevels;
  /** Fields on every line, e.g. `{ subnet_id, replica }`. */
  readonly base?: Record<string, unknown>;
  /** Where lines go (default: stdout). */
  readonly destination?: DestinationStream;
}

/** What a line may say about where it comes from; see `withContext`. */
export interface LogContext {
  readonly round?: bigint | number;
  readonly canisterId?: string | Textual;
}

/** The replica's loggers: a root, per-component children, and canister output. */
export class ReplicaLogger {
  readonly root: Logger;
  private readonly levels: LogLevels;
  private readonly children = new Map<string, Logger>();

  constructor(options: LoggerOptions = {}) {
    this.levels = typeof options.levels === 'string' || options.levels === undefined
      ? parseLogLevels(options.levels)
      : options.levels;
    const config = {
      level: this.levels.default,
      base: options.base ?? null,
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label: string) => ({ level: label }) },
      mixin: traceFields,
    };
    // Default: pino's synchronous stdout, so the last lines before a crash are not lost.
    this.root = options.destination ? pino(config, options.destination) : pino(config);
  }

  /** The logger of a component (`scheduler`, `execution`, `http`, `xnet`, ...), at its configured level. */
  component(name: string): Logger {
    let log = this.children.get(name);
    if (!log) {
      log = this.root.child({ [LOG_FIELD.component]: name }, { level: this.levels.components.get(name) ?? this.levels.default });
      this.children.set(name, log);
    }
    return log;
  }

  /** A canister's `debug_print` line as a structured record of the `canister` component. */
  debugPrint(canisterId: string | Textual, message: string | Uint8Array, ctx: { readonly round?: bigint | number } = {}): void {
    const log = this.component('canister');
    if (!log.isLevelEnabled('info')) return;
    const fields: Record<string, unknown> = { [LOG_FIELD.canisterId]: text(canisterId) };
    if (ctx.round !== undefined) fields[LOG_FIELD.round] = Number(ctx.round);
    log.info(fields, typeof message === 'string' ? message : lossyUtf8.decode(message));
  }

  /** Flushes buffered lines (before exit). */
  flush(): Promise<void> {
    return new Promise((resolve) => this.root.flush(() => resolve()));
  }
}

export function createLogger(options: LoggerOptions = {}): ReplicaLogger {
  return new ReplicaLogger(options);
}

/** A child logger whose lines carry `round` and/or `canister_id`. */
export function withContext(log: Logger, ctx: LogContext): Logger {
  const fields: Record<string, unknown> = {};
  if (ctx.round !== undefined) fields[LOG_FIELD.round] = Number(ctx.round);
  if (ctx.canisterId !== undefined) fields[LOG_FIELD.canisterId] = text(ctx.canisterId);
  return log.child(fields);
}

/** pino mixin: the active span's ids (pino merges into the returned object, so it must be fresh). */
function traceFields(): Record<string, unknown> {
  const sc = trace.getSpanContext(context.active());
  if (!sc || !isSpanContextValid(sc)) return {};
  return {
    [LOG_FIELD.traceId]: sc.traceId,
    [LOG_FIELD.spanId]: sc.spanId,
    [LOG_FIELD.traceFlags]: sc.traceFlags.toString(16).padStart(2, '0'),
  };
}

const lossyUtf8 = new TextDecoder('utf-8', { fatal: false });

function text(x: string | Textual): string {
  return typeof x === 'string' ? x : x.toText();
}
