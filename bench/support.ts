// Set-up shared by the benchmarks that run real canisters on a replica in process.

import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync, readdirSync } from 'node:fs';
import { IDL } from '@icp-sdk/core/candid';
import { Principal } from '@icp-sdk/core/principal';
import { MANAGEMENT_METHODS } from '../replica/src/index.js';
import { candid, type ExecutionTest } from '../test/support/execution-test.js';

const encode = (method: keyof typeof MANAGEMENT_METHODS, arg: Record<string, unknown>) =>
  new Uint8Array(IDL.encode([...MANAGEMENT_METHODS[method].args], [arg]));

/** Creates and installs `n` canisters running `wasm` with a few blocks of management calls. */
export async function installMany(t: ExecutionTest, wasm: Uint8Array, n: number): Promise<Principal[]> {
  const creates: string[] = [];
  for (let i = 0; i < n; i++) {
    creates.push(await t.submit(Principal.managementCanister(), 'provisional_create_canister_with_cycles',
      encode('provisional_create_canister_with_cycles', { amount: [100_000_000_000_000n], settings: [], specified_id: [], sender_canister_version: [] })));
  }
  const ids: Principal[] = [];
  for (const id of creates) {
    const s = await t.awaitStatus(id);
    if (s.status !== 'replied') throw new Error(`create failed: ${JSON.stringify(s)}`);
    ids.push((IDL.decode([...MANAGEMENT_METHODS.provisional_create_canister_with_cycles.results], s.reply)[0] as unknown as { canister_id: Principal }).canister_id);
  }
  const installs: string[] = [];
  for (const canister of ids) {
    installs.push(await t.submit(Principal.managementCanister(), 'install_code', encode('install_code', {
      mode: { install: null }, canister_id: canister, wasm_module: wasm, arg: candid(), sender_canister_version: [],
    })));
  }
  for (const id of installs) if ((await t.awaitStatus(id, 1000)).status !== 'replied') throw new Error('install failed');
  return ids;
}

export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

/** The `p`-th percentile (nearest rank) of `xs`; NaN when there are none. */
export function percentile(xs: readonly number[], p: number): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
}

/** The Candid argument `(n : nat)`. */
export const candidNat = (n: number): Uint8Array => new Uint8Array(IDL.encode([IDL.Nat], [BigInt(n)]));

/**
 * A thread's time on a core and its time waiting for one (runnable, not running), in µs (Linux's
 * schedstat, nanosecond precision), or NaN where that is not available: CPU time, not wall time,
 * so other threads on the same cores do not count. The main thread by default.
 */
export function threadSchedule(tid: string | number = process.pid): { readonly run: number; readonly wait: number } {
  try {
    const [run, wait] = readFileSync(`/proc/self/task/${tid}/schedstat`, 'utf8').split(' ').map(Number);
    return { run: run! / 1000, wait: wait! / 1000 };
  } catch {
    return { run: NaN, wait: NaN };
  }
}

/** The process's thread ids (Linux), none where that is not available. */
export function threadIds(): string[] {
  try {
    return readdirSync('/proc/self/task');
  } catch {
    return [];
  }
}

/**
 * Runs `script` (a bench, under tsx) in a fresh process with `args` and returns what it printed
 * last, parsed as JSON: one sample of a bench that measures each configuration in a process of
 * its own. `prefix` runs it under another command (e.g. `taskset -c 0`).
 */
export async function sampleInChild<T>(script: string, args: readonly string[], prefix: readonly string[] = []): Promise<T> {
  const command = [...prefix, process.execPath, '--import', 'tsx', script, ...args];
  const child = spawn(command[0]!, command.slice(1), { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  const [code] = await once(child, 'exit') as [number];
  if (code !== 0) throw new Error(`${command.join(' ')} exited with ${code}`);
  return JSON.parse(out.trim().split('\n').pop()!) as T;
}
