// The CLI's commands. Each takes parsed arguments and a context (connection on demand, output)
// and prints one result; failures are thrown as CliError subclasses with an exit code.

import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { Certificate, lookupResultToBuffer, QueryResponseStatus, RejectError } from '@icp-sdk/core/agent';
import { IDL, PipeArrayBuffer, lebDecode } from '@icp-sdk/core/candid';
import { Principal } from '@icp-sdk/core/principal';
import { DEFAULT_WORKERS } from '../node/defaults.js';
import {
  CandidSyntaxError,
  CandidTypeError,
  encodeArgs,
  formatValues,
  parseArgTypes,
  parseDid,
  typesOfMessage,
  valuesToJson,
} from './candid/index.js';
import { explainAgentError, fetchStatus, normalizeNetwork, type Connection } from './connection.js';
import { CliError, UsageError } from './errors.js';
import type { LoadedIdentity } from './identity.js';
import { canisterInterface } from './interface.js';
import { defaultSettings, managementCanister, type InstallMode } from './management.js';
import type { Output } from './output.js';
import { moduleBytes, wasmMetadata } from './wasm-metadata.js';
import { hexOf } from '../bytes.js';

export type OptionValues = Record<string, string | boolean | string[] | undefined>;

export interface CommandContext {
  readonly out: Output;
  readonly network: string;
  /** Connects on first use (commands like `start` never do). */
  connect(): Promise<Connection>;
  /** The identity of --identity (or the default one), without connecting. */
  identity(): Promise<LoadedIdentity>;
  /** Resolves when the process is asked to stop (SIGINT/SIGTERM); for `start`. */
  readonly stopSignal: Promise<string>;
}

export interface Command {
  readonly name: string;
  readonly args: string;
  readonly summary: string;
  readonly options: Readonly<Record<string, { type: 'string' | 'boolean'; multiple?: boolean; short?: string; help: string }>>;
  readonly positionals: { readonly min: number; readonly max: number };
  run(ctx: CommandContext, positionals: string[], values: OptionValues): Promise<void>;
}

// ---- argument helpers --------------------------------------------------------------------------

export function parsePrincipal(text: string, what = 'canister id'): Principal {
  try {
    return Principal.fromText(text);
  } catch {
    throw new UsageError(`'${text}' is not a valid ${what}`, { hint: 'Canister ids look like rwlgt-iiaaa-aaaaa-aaaaa-cai.' });
  }
}

const SUFFIXES: Record<string, bigint> = { k: 1_000n, m: 1_000_000n, b: 1_000_000_000n, t: 1_000_000_000_000n };

/** `100T`, `2.5T`, `1_000_000`: a cycles amount. */
export function parseCycles(text: string): bigint {
  const m = /^(\d[\d_]*)(?:\.(\d+))?\s*([kmbt])?$/i.exec(text.trim());
  if (!m) throw new UsageError(`'${text}' is not an amount of cycles`, { hint: 'Write e.g. 100T, 2.5T or 1_000_000_000.' });
  const scale = SUFFIXES[(m[3] ?? '').toLowerCase()] ?? 1n;
  const fraction = m[2] ?? '';
  const whole = BigInt(m[1]!.replace(/_/g, '')) * scale;
  if (fraction === '') return whole;
  const denominator = 10n ** BigInt(fraction.length);
  const part = (BigInt(fraction) * scale) / denominator;
  if ((BigInt(fraction) * scale) % denominator !== 0n) throw new UsageError(`'${text}' is not a whole number of cycles`);
  return whole + part;
}

function groupDigits(n: bigint): string {
  return n.toString().replace(/\B(?=(\d{3})+(?!\d))/g, '_');
}


function candidInput<T>(fn: () => T, what: string): T {
  try {
    return fn();
  } catch (e) {
    if (e instanceof CandidSyntaxError || e instanceof CandidTypeError) throw new UsageError(`${what}: ${e.message}`, { cause: e });
    throw e;
  }
}

async function agentCall<T>(ctx: CommandContext, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    throw explainAgentError(e, ctx.network);
  }
}

// ---- commands ----------------------------------------------------------------------------------

const start: Command = {
  name: 'start',
  args: '',
  summary: 'run a local replica in the foreground (until Ctrl-C)',
  options: {
    port: { type: 'string', help: 'HTTP port (default 4943; 0 picks a free one); with --subnets n, subnet i gets port + i' },
    subnets: { type: 'string', help: 'subnets in this process, calling each other over certified streams (default 1)' },
    host: { type: 'string', help: 'interface to listen on (default 127.0.0.1)' },
    'data-dir': { type: 'string', help: 'keep the keys here so the root key survives restarts' },
    'round-interval': { type: 'string', help: 'pause between idle rounds in ms (default 200)' },
    workers: { type: 'string', help: `worker threads executing canisters (default ${DEFAULT_WORKERS}, one per core; 0: the main thread)` },
  },
  positionals: { min: 0, max: 0 },
  async run(ctx, _positionals, values) {
    const { Node, startLocalNetwork } = await import('../node/index.js');
    const number = (name: string, fallback: number) => {
      const v = values[name];
      if (v === undefined) return fallback;
      const n = Number(v);
      if (!Number.isInteger(n) || n < 0) throw new UsageError(`--${name} must be a non-negative integer`);
      return n;
    };
    let port = number('port', NaN);
    if (Number.isNaN(port)) port = Number(new URL(ctx.network).port || 4943);
    const subnets = number('subnets', 1);
    if (subnets < 1) throw new UsageError('--subnets must be at least 1');
    if (subnets > 1 && typeof values['data-dir'] === 'string') throw new UsageError('--data-dir keeps one subnet: it cannot be used with --subnets');
    const options = {
      ...(typeof values.host === 'string' ? { host: values.host } : {}),
      roundIntervalMs: number('round-interval', 200),
      replica: { workers: number('workers', DEFAULT_WORKERS) },
    };
    const nodes = await (subnets === 1
      ? Node.start({ ...options, port, ...(typeof values['data-dir'] === 'string' ? { dataDir: values['data-dir'] } : {}) }).then((n) => [n])
      : startLocalNetwork({ subnets, node: { ...options, port } }).then((network) => network.nodes)
    ).catch((e: NodeJS.ErrnoException) => {
      if (e.code === 'EADDRINUSE') throw new UsageError(`port ${port} is in use`, { hint: 'Pass --port 0 for a free port, or stop the other replica.' });
      throw e;
    });
    const rootKey = hexOf(nodes[0]!.rootKey);
    const [first, ...others] = nodes.map((n) => ({ url: n.url, subnet: n.subnetId.toText() }));
    ctx.out.result({ ...first!, root_key: rootKey, ...(others.length > 0 ? { subnets: [first, ...others] } : {}) }, [
      `url: ${first!.url}`,
      `root_key: ${rootKey}`,
      `subnet: ${first!.subnet}`,
      ...others.flatMap((o) => [`url: ${o.url}`, `subnet: ${o.subnet}`]),
    ]);
    ctx.out.note(`${nodes.length === 1 ? 'Replica' : `${nodes.length} subnets`} running. Use it with: icpk --network ${first!.url} create   (Ctrl-C stops it)`);
    const signal = await ctx.stopSignal;
    ctx.out.note(`${signal}: stopping`);
    await Promise.all(nodes.map((n) => n.close()));
  },
};

const ping: Command = {
  name: 'ping',
  args: '',
  summary: "show the replica's status and root key",
  options: {},
  positionals: { min: 0, max: 0 },
  async run(ctx) {
    const network = normalizeNetwork(ctx.network);
    const s = await fetchStatus(network);
    ctx.out.result(
      { network, health: s.health, certified_height: s.certifiedHeight, root_key: hexOf(s.rootKey), ic_api_version: s.apiVersion, impl_version: s.implVersion },
      [
        `network:          ${network}`,
        `health:           ${s.health ?? 'unknown'}`,
        `certified height: ${s.certifiedHeight ?? 'unknown'}`,
        `root key:         ${hexOf(s.rootKey)}`,
        `api version:      ${s.apiVersion ?? 'unknown'}`,
      ],
    );
  },
};

const whoami: Command = {
  name: 'whoami',
  args: '',
  summary: 'print the principal of the identity in use',
  options: {},
  positionals: { min: 0, max: 0 },
  async run(ctx) {
    const identity = await ctx.identity();
    const principal = identity.identity.getPrincipal().toText();
    if (identity.created) ctx.out.note(`Created a new identity in ${identity.source}`);
    ctx.out.result({ principal, identity: identity.source }, principal);
  },
};

const create: Command = {
  name: 'create',
  args: '',
  summary: 'create an empty canister you control (provisional_create_canister_with_cycles)',
  options: {
    cycles: { type: 'string', help: 'cycles to give it (default 100T)' },
    controller: { type: 'string', multiple: true, help: 'a controller (repeatable; default: you)' },
  },
  positionals: { min: 0, max: 0 },
  async run(ctx, _p, values) {
    const cycles = parseCycles(typeof values.cycles === 'string' ? values.cycles : '100T');
    const controllers = Array.isArray(values.controller) ? values.controller.map((c) => parsePrincipal(c, 'controller principal')) : undefined;
    const conn = await ctx.connect();
    const ic = managementCanister(conn.agent);
    const { canister_id } = await agentCall(ctx, () =>
      ic.provisional_create_canister_with_cycles({
        amount: [cycles],
        settings: controllers ? [defaultSettings({ controllers: [controllers] })] : [],
        specified_id: [],
        sender_canister_version: [],
      }),
    );
    ctx.out.note(`Created canister ${canister_id.toText()} with ${groupDigits(cycles)} cycles`);
    ctx.out.result({ canister_id: canister_id.toText(), cycles }, canister_id.toText());
  },
};

/** Modules up to this size go in one install_code call (the ingress limit is 2 MiB). */
const SINGLE_MESSAGE_WASM_BYTES = 1_900_000;
const CHUNK_BYTES = 1024 * 1024;

function installMode(text: string): InstallMode {
  switch (text) {
    case 'install':
      return { install: null };
    case 'reinstall':
      return { reinstall: null };
    case 'upgrade':
      return { upgrade: [] };
    default:
      throw new UsageError(`--mode must be install, reinstall or upgrade, not '${text}'`);
  }
}

/** Init argument types from the module: `candid:args`, else the service's class arguments. */
function initArgTypes(metadata: Map<string, string>): IDL.Type[] | undefined {
  const args = metadata.get('candid:args');
  if (args !== undefined) return candidInput(() => parseArgTypes(args), 'candid:args metadata of the module');
  const service = metadata.get('candid:service');
  if (service !== undefined) return candidInput(() => parseDid(service).init ?? [], 'candid:service metadata of the module');
  return undefined;
}

const install: Command = {
  name: 'install',
  args: '<canister> <wasm>',
  summary: 'install (or --mode upgrade/reinstall) a Wasm module, optionally .wasm.gz',
  options: {
    mode: { type: 'string', help: 'install (default), reinstall or upgrade' },
    arg: { type: 'string', help: 'init/upgrade argument in Candid text, e.g. \'(42, "x")\'' },
  },
  positionals: { min: 2, max: 2 },
  async run(ctx, [canister, wasmPath], values) {
    const canisterId = parsePrincipal(canister!);
    const mode = installMode(typeof values.mode === 'string' ? values.mode : 'install');
    let file: Uint8Array;
    try {
      file = new Uint8Array(await readFile(wasmPath!));
    } catch (e) {
      throw new UsageError(`cannot read ${wasmPath}: ${(e as Error).message}`);
    }
    const types = initArgTypes(wasmMetadata(file));
    const argText = typeof values.arg === 'string' ? values.arg : '';
    const arg = candidInput(() => encodeArgs(argText, types).bytes, argText === '' ? 'the module expects init arguments (pass --arg)' : '--arg');
    const conn = await ctx.connect();
    const ic = managementCanister(conn.agent);
    if (file.length <= SINGLE_MESSAGE_WASM_BYTES) {
      await agentCall(ctx, () => ic.install_code({ mode, canister_id: canisterId, wasm_module: file, arg, sender_canister_version: [] }));
    } else {
      // Too big for one message: upload chunks to the canister's chunk store, install from there.
      await agentCall(ctx, () => ic.clear_chunk_store({ canister_id: canisterId }));
      const hashes: { hash: Uint8Array }[] = [];
      for (let at = 0; at < file.length; at += CHUNK_BYTES) {
        ctx.out.note(`Uploading chunk ${hashes.length + 1} of ${Math.ceil(file.length / CHUNK_BYTES)}`);
        hashes.push(await agentCall(ctx, () => ic.upload_chunk({ canister_id: canisterId, chunk: file.subarray(at, at + CHUNK_BYTES) })));
      }
      await agentCall(ctx, () =>
        ic.install_chunked_code({
          mode,
          target_canister: canisterId,
          store_canister: [],
          chunk_hashes_list: hashes,
          wasm_module_hash: new Uint8Array(createHash('sha256').update(file).digest()),
          arg,
          sender_canister_version: [],
        }),
      );
    }
    const moduleHash = createHash('sha256').update(moduleBytes(file)).digest('hex');
    const modeName = Object.keys(mode)[0]!;
    ctx.out.result(
      { canister_id: canisterId.toText(), mode: modeName, module_hash: moduleHash, bytes: file.length },
      `${modeName === 'install' ? 'Installed' : modeName === 'upgrade' ? 'Upgraded' : 'Reinstalled'} ${wasmPath} (${file.length} bytes, module hash ${moduleHash}) on ${canisterId.toText()}`,
    );
  },
};

const call: Command = {
  name: 'call',
  args: '<canister> <method> [candid args]',
  summary: "call a method; args and reply typed by the canister's Candid interface",
  options: {
    query: { type: 'boolean', help: 'send as a query (default: what the interface says)' },
    update: { type: 'boolean', help: 'send as an update even if the interface says query' },
    candid: { type: 'string', help: '.did file to use instead of the candid:service metadata' },
    'raw-arg': { type: 'string', help: 'the argument as hex bytes instead of Candid text' },
    raw: { type: 'boolean', help: 'print the reply as hex bytes' },
  },
  positionals: { min: 2, max: Infinity },
  async run(ctx, [canister, method, ...rest], values) {
    const canisterId = parsePrincipal(canister!);
    if (values.query && values.update) throw new UsageError('--query and --update exclude each other');
    const conn = await ctx.connect();
    const lookup = await agentCall(ctx, () => canisterInterface(conn.agent, canisterId, typeof values.candid === 'string' ? values.candid : undefined));
    let func: IDL.FuncClass | undefined;
    if ('found' in lookup) {
      func = lookup.found.methods.get(method!);
      if (func === undefined) {
        throw new UsageError(`${canisterId.toText()} has no method '${method}'`, {
          hint: `Its methods (${lookup.found.source}): ${[...lookup.found.methods.keys()].join(', ')}`,
        });
      }
    } else if (!values.raw) {
      ctx.out.note(`note: no Candid interface for ${canisterId.toText()} (${lookup.missing}); argument types are inferred and reply fields shown by id. Pass --candid <file.did> for names.`);
    }
    let arg: Uint8Array;
    if (typeof values['raw-arg'] === 'string') {
      if (!/^([0-9a-f]{2})*$/i.test(values['raw-arg'])) throw new UsageError('--raw-arg must be hex bytes');
      arg = new Uint8Array(Buffer.from(values['raw-arg'], 'hex'));
    } else {
      const text = rest.join(' ');
      arg = candidInput(() => encodeArgs(text, func?.argTypes).bytes, 'arguments');
    }
    const annotated = func?.annotations.some((a) => a === 'query' || a === 'composite_query') ?? false;
    const isQuery = values.query === true || (values.update !== true && annotated);
    let reply: Uint8Array;
    if (isQuery) {
      const r = await agentCall(ctx, () => conn.agent.query(canisterId, { methodName: method!, arg }));
      if (r.status === QueryResponseStatus.Rejected) {
        throw new CliError(`rejected (reject code ${r.reject_code}${r.error_code ? `, ${r.error_code}` : ''}): ${r.reject_message}`);
      }
      reply = r.reply.arg;
    } else {
      reply = (await agentCall(ctx, () => conn.agent.update(canisterId, { methodName: method!, arg }))).reply;
    }
    if (values.raw) {
      ctx.out.result({ reply: hexOf(reply) }, hexOf(reply));
      return;
    }
    const types = func?.retTypes ?? candidInput(() => typesOfMessage(reply), 'reply');
    const decoded = IDL.decode(types, reply);
    ctx.out.result({ reply: valuesToJson(types, decoded) }, formatValues(types, decoded));
  },
};

const status: Command = {
  name: 'status',
  args: '<canister>',
  summary: 'status, controllers, module hash, cycles and memory of a canister',
  options: {},
  positionals: { min: 1, max: 1 },
  async run(ctx, [canister]) {
    const canisterId = parsePrincipal(canister!);
    const conn = await ctx.connect();
    const s = await agentCall(ctx, () => managementCanister(conn.agent).canister_status({ canister_id: canisterId }));
    const state = Object.keys(s.status)[0]!;
    const moduleHash = s.module_hash[0] ? hexOf(s.module_hash[0]) : null;
    const controllers = s.settings.controllers.map((p) => p.toText());
    ctx.out.result(
      {
        canister_id: canisterId.toText(),
        status: state,
        controllers,
        module_hash: moduleHash,
        cycles: s.cycles,
        reserved_cycles: s.reserved_cycles,
        memory_size: s.memory_size,
        freezing_threshold: s.settings.freezing_threshold,
        idle_cycles_burned_per_day: s.idle_cycles_burned_per_day,
      },
      [
        `canister:           ${canisterId.toText()}`,
        `status:             ${state}`,
        `controllers:        ${controllers.join(', ')}`,
        `module hash:        ${moduleHash ?? 'none (empty canister)'}`,
        `cycles:             ${groupDigits(s.cycles)}`,
        `memory:             ${groupDigits(s.memory_size)} bytes`,
        `freezing threshold: ${groupDigits(s.settings.freezing_threshold)} s`,
        `idle burn:          ${groupDigits(s.idle_cycles_burned_per_day)} cycles/day`,
      ],
    );
  },
};

const remove: Command = {
  name: 'delete',
  args: '<canister>',
  summary: 'stop and delete a canister (its remaining cycles are lost)',
  options: {},
  positionals: { min: 1, max: 1 },
  async run(ctx, [canister]) {
    const canisterId = parsePrincipal(canister!);
    const conn = await ctx.connect();
    const ic = managementCanister(conn.agent);
    ctx.out.note(`Stopping ${canisterId.toText()}`);
    await agentCall(ctx, () => ic.stop_canister({ canister_id: canisterId }));
    await agentCall(ctx, () => ic.delete_canister({ canister_id: canisterId }));
    ctx.out.result({ canister_id: canisterId.toText(), deleted: true }, `Deleted ${canisterId.toText()}`);
  },
};

const cycles: Command = {
  name: 'cycles',
  args: '<canister>',
  summary: 'show the cycles balance; --add tops it up (provisional_top_up_canister)',
  options: { add: { type: 'string', help: 'cycles to add, e.g. 10T' } },
  positionals: { min: 1, max: 1 },
  async run(ctx, [canister], values) {
    const canisterId = parsePrincipal(canister!);
    const added = typeof values.add === 'string' ? parseCycles(values.add) : undefined;
    const conn = await ctx.connect();
    const ic = managementCanister(conn.agent);
    if (added !== undefined) await agentCall(ctx, () => ic.provisional_top_up_canister({ canister_id: canisterId, amount: added }));
    let balance: bigint | undefined;
    try {
      balance = (await ic.canister_status({ canister_id: canisterId })).cycles;
    } catch (e) {
      // Only controllers see the balance; a top-up by anyone else still succeeded.
      if (!(added !== undefined && e instanceof RejectError)) throw explainAgentError(e, ctx.network);
    }
    const lines = [];
    if (added !== undefined) lines.push(`added ${groupDigits(added)} cycles to ${canisterId.toText()}`);
    if (balance !== undefined) lines.push(`${groupDigits(balance)} cycles`);
    ctx.out.result({ canister_id: canisterId.toText(), ...(added !== undefined ? { added } : {}), ...(balance !== undefined ? { cycles: balance } : {}) }, lines);
  },
};

function unwrapRec(type: IDL.Type): IDL.Type {
  let t = type;
  while (t instanceof IDL.RecClass) t = t.getType()!;
  return t;
}

function isQueryFunc(f: IDL.FuncClass): boolean {
  return f.annotations.includes('query') || f.annotations.includes('composite_query');
}

/** A reply with a `certificate` field, or an `opt blob`: where canisters put their data certificate. */
function returnsCertificate(f: IDL.FuncClass): boolean {
  return f.retTypes.some((r) => {
    let t = unwrapRec(r);
    if (t instanceof IDL.OptClass) t = unwrapRec(t._type);
    return (t instanceof IDL.RecordClass && t._fields.some(([k]) => k === 'certificate')) || isBlobType(t);
  });
}

function isBlobType(type: IDL.Type): boolean {
  const t = unwrapRec(type);
  return t instanceof IDL.VecClass && unwrapRec(t._type) instanceof IDL.FixedNatClass && (unwrapRec(t._type) as IDL.FixedNatClass)._bits === 8;
}

/** Finds certificate bytes in a decoded reply: a `certificate` field (blob or opt blob), or the value itself. */
function findCertificate(type: IDL.Type, value: unknown, name?: string): Uint8Array | undefined {
  const t = unwrapRec(type);
  if (t instanceof IDL.OptClass) {
    const v = value as [] | [unknown];
    return v.length === 0 ? undefined : findCertificate(t._type, v[0], name);
  }
  if (isBlobType(t) && (name === undefined || name === 'certificate')) return Uint8Array.from(value as ArrayLike<number>);
  if (t instanceof IDL.RecordClass && !(t instanceof IDL.TupleClass)) {
    const entry = t._fields.find(([k]) => k === 'certificate');
    if (entry) return findCertificate(entry[1], (value as Record<string, unknown>)[entry[0]], 'certificate');
  }
  return undefined;
}

/** Blob fields of a decoded reply, by name, to show which one the certificate covers. */
function blobFields(type: IDL.Type, value: unknown, prefix = ''): [string, Uint8Array][] {
  const t = unwrapRec(type);
  if (isBlobType(t)) return [[prefix || 'reply', Uint8Array.from(value as ArrayLike<number>)]];
  if (t instanceof IDL.RecordClass && !(t instanceof IDL.TupleClass)) {
    return t._fields.flatMap(([k, ft]) => blobFields(ft, (value as Record<string, unknown>)[k], prefix ? `${prefix}.${k}` : k));
  }
  return [];
}

const cert: Command = {
  name: 'cert',
  args: '<canister>',
  summary: "fetch the canister's certified data through its certificate query and verify it",
  options: {
    method: { type: 'string', help: 'the query returning the data certificate (default: found in the interface)' },
    candid: { type: 'string', help: '.did file to use instead of the candid:service metadata' },
  },
  positionals: { min: 1, max: 1 },
  async run(ctx, [canister], values) {
    const canisterId = parsePrincipal(canister!);
    const conn = await ctx.connect();
    const lookup = await agentCall(ctx, () => canisterInterface(conn.agent, canisterId, typeof values.candid === 'string' ? values.candid : undefined));
    if (!('found' in lookup)) {
      throw new UsageError(`cannot find the certificate query of ${canisterId.toText()}: ${lookup.missing}`, {
        hint: 'Pass --candid <file.did> (and --method <query>).',
      });
    }
    // certified_data is not readable through read_state (interface spec): the canister serves it
    // with the certificate from `ic0.data_certificate_copy` in a query.
    const candidates = [...lookup.found.methods].filter(([name, f]) =>
      values.method !== undefined ? name === values.method : isQueryFunc(f) && returnsCertificate(f),
    );
    if (values.method !== undefined && candidates.length === 0) {
      throw new UsageError(`${canisterId.toText()} has no method '${String(values.method)}'`);
    }
    let chosen: { name: string; certificate: Uint8Array; types: IDL.Type[]; values: unknown[] } | undefined;
    for (const [name, func] of candidates) {
      if (!func.argTypes.every((a) => a instanceof IDL.OptClass)) continue; // arguments we could not make up
      const arg = new Uint8Array(IDL.encode(func.argTypes, func.argTypes.map(() => [])));
      const r = await agentCall(ctx, () => conn.agent.query(canisterId, { methodName: name, arg }));
      if (r.status === QueryResponseStatus.Rejected) throw new CliError(`${name} rejected (${r.error_code}): ${r.reject_message}`);
      const decoded = IDL.decode(func.retTypes, r.reply.arg);
      const certificate = func.retTypes.map((t, i) => findCertificate(t, decoded[i])).find((c) => c !== undefined);
      if (certificate !== undefined) {
        chosen = { name, certificate, types: func.retTypes, values: decoded };
        break;
      }
      if (values.method !== undefined) throw new CliError(`${name} returned no certificate: has the canister set certified data yet?`);
    }
    if (chosen === undefined) {
      throw new UsageError(`found no query of ${canisterId.toText()} that returns a data certificate`, {
        hint: 'Pass --method <query> naming a query whose reply holds the certificate (a `certificate` field, or an opt blob).',
      });
    }
    let certificate: Certificate;
    try {
      certificate = await Certificate.create({ certificate: chosen.certificate, rootKey: conn.rootKey, principal: { canisterId } });
    } catch (e) {
      throw new CliError(`the certificate returned by ${chosen.name} does NOT verify: ${(e as Error).message}`, { cause: e });
    }
    const certifiedData = lookupResultToBuffer(certificate.lookup_path(['canister', canisterId.toUint8Array(), 'certified_data']));
    if (certifiedData === undefined) throw new CliError(`the certificate does not cover ${canisterId.toText()}'s certified data`);
    const timeNs = lebDecode(new PipeArrayBuffer(lookupResultToBuffer(certificate.lookup_path(['time'])) ?? new Uint8Array()));
    const delegation = certificate.cert.delegation;
    const subnet = delegation ? Principal.fromUint8Array(delegation.subnet_id).toText() : Principal.selfAuthenticating(conn.rootKey).toText();
    const matching = chosen.types.flatMap((t, i) => blobFields(t, chosen.values[i])).filter(([k, b]) => k !== 'certificate' && hexOf(b) === hexOf(certifiedData)).map(([k]) => k);
    const time = new Date(Number(timeNs / 1_000_000n)).toISOString(); // wall-clock-ok: display only
    ctx.out.result(
      {
        canister_id: canisterId.toText(),
        verified: true,
        certified_data: hexOf(certifiedData),
        time,
        subnet,
        method: chosen.name,
        matching_fields: matching,
      },
      [
        `certificate of ${canisterId.toText()} verified (${chosen.name}): BLS signature by subnet ${subnet}${delegation ? ', delegated by the root key' : ''}, canister in its ranges`,
        `certified_data: ${hexOf(certifiedData) || '(empty)'}`,
        `time:           ${time}`,
        ...(matching.length > 0 ? [`matches reply field${matching.length > 1 ? 's' : ''}: ${matching.join(', ')}`] : []),
      ],
    );
  },
};

export const COMMANDS: readonly Command[] = [start, ping, whoami, create, install, call, status, remove, cycles, cert];
