// `make run`: a local subnet on the embedded default. Compiles the example Motoko canisters,
// installs them through the management canister and runs a short scenario, printing each step.

import { IDL } from '@icp-sdk/core/candid';
import { compileMotoko } from '../test/support/motoko.js';
import { CallRejected, ExecutionTest, candid, decode } from '../test/support/execution-test.js';

const t = new ExecutionTest();
const log = (what: string, detail = '') => console.log(`[round ${String(t.state.height).padStart(3)}] ${what}${detail ? ': ' + detail : ''}`);
const nat = (b: Uint8Array) => decode<bigint>([IDL.Nat], b)[0];

const counterWasm = (await compileMotoko('counter')).wasm;
const trapWasm = (await compileMotoko('trap')).wasm;
const upgradeWasm = (await compileMotoko('upgrade')).wasm;

const counter = await t.createCanister({ cycles: 10_000_000_000_000n });
log('created canister', counter.toText());
await t.install(counter, counterWasm);
log('installed counter', `${counterWasm.length} bytes, module hash ${Buffer.from(t.canister(counter).moduleHash!).toString('hex').slice(0, 16)}…`);
for (let i = 0; i < 3; i++) log('counter.inc()', String(nat(await t.update(counter, 'inc'))));
log('counter.add(39)', String(nat(await t.update(counter, 'add', candid([IDL.Nat], [39n])))));
log('counter.get() query', String(nat(t.query(counter, 'get'))));

const trap = await t.createAndInstall(trapWasm);
try {
  await t.update(trap, 'write_then_trap');
} catch (e) {
  const r = e as CallRejected;
  log('trap.write_then_trap() rejected', `${r.errorCode} ${r.message}`);
}
log('trap.read() after the trap', String(nat(t.query(trap, 'read'))));

const up = await t.createAndInstall(upgradeWasm);
await t.update(up, 'bump');
await t.update(up, 'bump');
await t.install(up, upgradeWasm, candid(), 'upgrade');
const Read = IDL.Record({ stable_count: IDL.Nat, heap_count: IDL.Nat });
const after = decode<{ stable_count: bigint; heap_count: bigint }>([Read], t.query(up, 'read'))[0];
log('upgrade kept stable memory, wiped the heap', `stable_count=${after.stable_count} heap_count=${after.heap_count}`);

for (const c of t.state.canisters()) {
  log(`canister ${c.idText}`, `balance ${c.balance} cycles, version ${c.version}, burned ${[...c.cyclesBurned].map(([k, v]) => `${k}=${v}`).join(' ')}`);
}
log('done', `${t.rounds.length} rounds, ${t.rounds.reduce((n, r) => n + r.messagesExecuted, 0)} messages, ${t.rounds.reduce((n, r) => n + r.instructions, 0n)} instructions`);
