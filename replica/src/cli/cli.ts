// The command line: global options, command dispatch, help, and errors turned into messages and
// exit codes. `runCli` is the whole program minus `process`, so it can run in process too.

import { parseArgs } from 'node:util';
import { COMMANDS, type Command, type CommandContext, type OptionValues } from './commands.js';
import { connect, DEFAULT_NETWORK, explainAgentError, type Connection } from './connection.js';
import { CliError, EXIT_FAILED, EXIT_OK, EXIT_USAGE, UsageError } from './errors.js';
import { loadIdentity } from './identity.js';
import { Output, processIo, type Io } from './output.js';

const GLOBAL_OPTIONS = {
  network: { type: 'string', short: 'n', help: `replica URL (default $ICPK_NETWORK or ${DEFAULT_NETWORK})` },
  identity: { type: 'string', short: 'i', help: 'PEM key file, or `anonymous` (default $ICPK_IDENTITY or <config>/identity.pem)' },
  'root-key': { type: 'string', help: 'trust this DER root key (hex) instead of fetching it from the replica' },
  json: { type: 'boolean', help: 'print the result as JSON' },
  help: { type: 'boolean', short: 'h', help: 'show help' },
} as const;

function optionLines(options: Command['options'] | typeof GLOBAL_OPTIONS): string[] {
  return Object.entries(options).map(([name, o]) => {
    const flag = `${'short' in o && o.short ? `-${o.short}, ` : '    '}--${name}${o.type === 'string' ? ' <value>' : ''}`;
    return `  ${flag.padEnd(28)} ${o.help}`;
  });
}

export function usage(command?: Command): string {
  if (command) {
    return [
      `Usage: icpk ${command.name}${command.args ? ` ${command.args}` : ''} [options]`,
      '',
      `${command.summary[0]!.toUpperCase()}${command.summary.slice(1)}.`,
      ...(Object.keys(command.options).length > 0 ? ['', 'Options:', ...optionLines(command.options)] : []),
      '',
      'Global options:',
      ...optionLines(GLOBAL_OPTIONS),
    ].join('\n');
  }
  return [
    'Usage: icpk <command> [options]',
    '',
    'A command line client for Internet Computer replicas (the local one, or any IC HTTP endpoint).',
    '',
    'Commands:',
    ...COMMANDS.map((c) => `  ${`${c.name} ${c.args}`.padEnd(40)} ${c.summary}`),
    '',
    'Global options:',
    ...optionLines(GLOBAL_OPTIONS),
    '',
    'Examples:',
    '  icpk start --port 4943 &',
    '  id=$(icpk create)',
    '  icpk install $id counter.wasm',
    "  icpk call $id add '(41)'",
    '  icpk call $id get --json',
    '',
    'Exit codes: 0 ok, 1 rejected or failed, 2 usage error, 3 replica unreachable.',
  ].join('\n');
}

type ParseOptions = Record<string, { type: 'string' | 'boolean'; multiple?: boolean; short?: string }>;

function parseOptions(specs: Record<string, { type: 'string' | 'boolean'; multiple?: boolean; short?: string }>): ParseOptions {
  const out: ParseOptions = {};
  for (const [name, o] of Object.entries(specs)) {
    out[name] = { type: o.type, ...(o.multiple ? { multiple: true } : {}), ...(o.short ? { short: o.short } : {}) };
  }
  return out;
}

export interface CliOptions {
  readonly io?: Io;
  readonly env?: NodeJS.ProcessEnv;
  /** Resolves when the process should stop (signals); `start` waits for it. */
  readonly stopSignal?: Promise<string>;
}

/** Runs one command line; returns the exit code. */
export async function runCli(argv: readonly string[], options: CliOptions = {}): Promise<number> {
  const io = options.io ?? processIo;
  const env = options.env ?? process.env;
  let json = argv.includes('--json');
  const out = () => new Output(json, io);
  try {
    // First pass: find the command among the global options.
    const first = parseArgs({ args: [...argv], options: parseOptions(GLOBAL_OPTIONS), allowPositionals: true, strict: false });
    const name = first.positionals[0];
    if (name === undefined || name === 'help') {
      const topic = COMMANDS.find((c) => c.name === first.positionals[1]);
      io.stdout(`${usage(topic)}\n`);
      return name === undefined && !first.values.help ? EXIT_USAGE : EXIT_OK;
    }
    const command = COMMANDS.find((c) => c.name === name);
    if (!command) throw new UsageError(`unknown command '${name}'`, { hint: `Commands: ${COMMANDS.map((c) => c.name).join(', ')}. See icpk --help.` });

    let parsed;
    try {
      parsed = parseArgs({
        args: [...argv],
        options: { ...parseOptions(GLOBAL_OPTIONS), ...parseOptions(command.options) },
        allowPositionals: true,
        strict: true,
      });
    } catch (e) {
      throw new UsageError((e as Error).message, { hint: `See icpk ${command.name} --help.` });
    }
    const values = parsed.values as OptionValues;
    json = values.json === true;
    if (values.help) {
      io.stdout(`${usage(command)}\n`);
      return EXIT_OK;
    }
    const positionals = parsed.positionals.slice(1);
    if (positionals.length < command.positionals.min || positionals.length > command.positionals.max) {
      throw new UsageError(`usage: icpk ${command.name} ${command.args}`.trimEnd(), { hint: `See icpk ${command.name} --help.` });
    }
    const network = typeof values.network === 'string' ? values.network : (env.ICPK_NETWORK ?? DEFAULT_NETWORK);
    let connection: Promise<Connection> | undefined;
    const ctx: CommandContext = {
      out: out(),
      network,
      connect: () =>
        (connection ??= connect({
          network,
          ...(typeof values.identity === 'string' ? { identity: values.identity } : {}),
          ...(typeof values['root-key'] === 'string' ? { rootKey: values['root-key'] } : {}),
          env,
        })),
      identity: () => loadIdentity(typeof values.identity === 'string' ? values.identity : undefined, env),
      stopSignal: options.stopSignal ?? new Promise<string>(() => {}),
    };
    await command.run(ctx, positionals, values);
    return EXIT_OK;
  } catch (raw) {
    const e = explainAgentError(raw);
    if (e instanceof CliError) {
      io.stderr(`error: ${e.message}\n${e.hint ? `${e.hint}\n` : ''}`);
      if (json) io.stdout(`${JSON.stringify({ error: e.message, exit_code: e.exitCode })}\n`);
      return e.exitCode;
    }
    io.stderr(`error: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    return EXIT_FAILED;
  }
}
