// Canister logs on a running node: `fetch_canister_logs` served as a query of the management
// canister to the callers the canister's `log_visibility` admits (controllers by default, anyone
// when public, the allowed viewers and controllers otherwise), through the real agent; and what
// canisters print, written after each round through the node's pino logger.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { Actor, HttpAgent, type ActorSubclass } from '@icp-sdk/core/agent';
import { Ed25519KeyIdentity } from '@icp-sdk/core/identity';
import { IDL } from '@icp-sdk/core/candid';
import { Principal } from '@icp-sdk/core/principal';
import { pino } from 'pino';
import { Node } from '../src/node/index.js';
import { canisterIdFromIndex } from '../src/state/index.js';
import { defaultSettings, managementCanister } from '../src/cli/management.js';
import { compileMotoko } from '../../test/support/motoko.js';

const LOGGER_SOURCE = `
import Debug "mo:core/Debug";
import Runtime "mo:core/Runtime";

persistent actor Logger {
  var count : Nat = 0;

  public func log(text : Text) : async Nat {
    count += 1;
    Debug.print(text);
    count
  };

  public func boom() : async () {
    Debug.print("about to trap");
    Runtime.trap("boom");
  };

  public query func quiet() : async Nat {
    Debug.print("printed in a query");
    count
  };
};
`;

interface LogRecord {
  idx: bigint;
  timestamp_nanos: bigint;
  content: Uint8Array;
}
interface Logs {
  fetch_canister_logs(arg: { canister_id: Principal }): Promise<{ canister_log_records: LogRecord[] }>;
}
interface LoggerCanister {
  log(text: string): Promise<bigint>;
  boom(): Promise<void>;
  quiet(): Promise<bigint>;
}

/** `aaaaa-aa` with just fetch_canister_logs, a query routed to the canister it is about. */
function logsActor(agent: HttpAgent): ActorSubclass<Logs> {
  return Actor.createActor<Logs>(
    ({ IDL }) => {
      const record = IDL.Record({ idx: IDL.Nat64, timestamp_nanos: IDL.Nat64, content: IDL.Vec(IDL.Nat8) });
      return IDL.Service({
        fetch_canister_logs: IDL.Func(
          [IDL.Record({ canister_id: IDL.Principal })],
          [IDL.Record({ canister_log_records: IDL.Vec(record) })],
          ['query'],
        ),
      });
    },
    {
      agent,
      canisterId: Principal.managementCanister(),
      queryTransform: (_method, args) => ({ effectiveCanisterId: (args[0] as { canister_id: Principal }).canister_id }),
    },
  );
}

const text = (records: LogRecord[]) => records.map((r) => new TextDecoder().decode(r.content));

describe('canister logs', () => {
  let node: Node;
  let lines: Record<string, unknown>[];
  let controller: HttpAgent;
  let stranger: HttpAgent;
  let viewer: HttpAgent;
  let canisterId: Principal;
  let canister: ActorSubclass<LoggerCanister>;

  before(async () => {
    lines = [];
    const sink = new Writable({
      write(chunk: Buffer, _encoding, done) {
        for (const line of chunk.toString('utf8').split('\n')) if (line.trim()) lines.push(JSON.parse(line) as Record<string, unknown>);
        done();
      },
    });
    node = await Node.start({ port: 0, roundIntervalMs: 20, logger: pino({ level: 'debug' }, sink) });
    controller = await HttpAgent.create({ host: node.url, shouldFetchRootKey: true });
    stranger = await HttpAgent.create({ host: node.url, shouldFetchRootKey: true, identity: Ed25519KeyIdentity.generate() });
    viewer = await HttpAgent.create({ host: node.url, shouldFetchRootKey: true, identity: Ed25519KeyIdentity.generate() });
    const mgmt = managementCanister(controller);
    ({ canister_id: canisterId } = await mgmt.provisional_create_canister_with_cycles({
      amount: [10_000_000_000_000n], settings: [], specified_id: [], sender_canister_version: [],
    }));
    const { wasm } = await compileMotoko('logger', LOGGER_SOURCE);
    await mgmt.install_code({
      mode: { install: null }, canister_id: canisterId, wasm_module: wasm, arg: new Uint8Array(IDL.encode([], [])), sender_canister_version: [],
    });
    canister = Actor.createActor<LoggerCanister>(
      ({ IDL }) => IDL.Service({
        log: IDL.Func([IDL.Text], [IDL.Nat], []),
        boom: IDL.Func([], [], []),
        quiet: IDL.Func([], [IDL.Nat], ['query']),
      }),
      { agent: controller, canisterId },
    );
  });

  after(async () => {
    await node?.close();
  });

  it('a controller fetches what the canister printed and its traps, in order', async () => {
    assert.equal(await canister.log('hello'), 1n);
    assert.equal(await canister.log('world'), 2n);
    await assert.rejects(canister.boom());
    assert.equal(await canister.quiet(), 2n);

    const { canister_log_records: records } = await logsActor(controller).fetch_canister_logs({ canister_id: canisterId });
    const texts = text(records);
    assert.deepEqual(texts.slice(0, 3), ['hello', 'world', 'about to trap']);
    assert.equal(texts.length, 4);
    assert.match(texts[3]!, /^\[TRAP\]: .*boom/);
    assert.ok(!texts.includes('printed in a query'), 'non-replicated queries are not logged');
    assert.deepEqual(records.map((r) => r.idx), records.map((_, i) => records[0]!.idx + BigInt(i)), 'consecutive indices');
    for (let i = 1; i < records.length; i++) assert.ok(records[i]!.timestamp_nanos >= records[i - 1]!.timestamp_nanos);
    assert.ok(records[0]!.timestamp_nanos > 1_600_000_000_000_000_000n, 'timestamps are batch times (ns since 1970)');
  });

  it('others get IC0406 while the logs are visible to controllers only', async () => {
    const who = (await stranger.getPrincipal()).toText();
    await assert.rejects(logsActor(stranger).fetch_canister_logs({ canister_id: canisterId }), (e: Error) => {
      assert.match(e.message, new RegExp(`Caller ${who} is not allowed to query ic00 method fetch_canister_logs`));
      assert.match(e.message, /IC0406/);
      return true;
    });
  });

  it('allowed viewers and controllers read the logs, nobody else', async () => {
    const mgmt = managementCanister(controller);
    await mgmt.update_settings({
      canister_id: canisterId,
      settings: defaultSettings({ log_visibility: [{ allowed_viewers: [await viewer.getPrincipal()] }] }),
      sender_canister_version: [],
    });
    assert.ok((await logsActor(viewer).fetch_canister_logs({ canister_id: canisterId })).canister_log_records.length >= 4);
    assert.ok((await logsActor(controller).fetch_canister_logs({ canister_id: canisterId })).canister_log_records.length >= 4);
    await assert.rejects(logsActor(stranger).fetch_canister_logs({ canister_id: canisterId }), /is not allowed to query ic00 method fetch_canister_logs/);

    await mgmt.update_settings({
      canister_id: canisterId, settings: defaultSettings({ log_visibility: [{ public: null }] }), sender_canister_version: [],
    });
    const { canister_log_records: records } = await logsActor(stranger).fetch_canister_logs({ canister_id: canisterId });
    assert.deepEqual(text(records).slice(0, 3), ['hello', 'world', 'about to trap']);
  });

  it('is a query only: the management canister refuses it as an update call', async () => {
    const asUpdate = Actor.createActor<Logs>(
      ({ IDL }) => IDL.Service({
        fetch_canister_logs: IDL.Func([IDL.Record({ canister_id: IDL.Principal })], [IDL.Record({ canister_log_records: IDL.Vec(IDL.Reserved) })], []),
      }),
      {
        agent: controller,
        canisterId: Principal.managementCanister(),
        callTransform: (_method, args) => ({ effectiveCanisterId: (args[0] as { canister_id: Principal }).canister_id }),
      },
    );
    await assert.rejects(asUpdate.fetch_canister_logs({ canister_id: canisterId }), /only be called as a query|Only canisters can call ic00 method fetch_canister_logs/);
  });

  it('an unknown canister is not found; another canister in the URL is refused', async () => {
    const missing = canisterIdFromIndex(0xffff0n);
    await assert.rejects(logsActor(controller).fetch_canister_logs({ canister_id: missing }), new RegExp(`IC0301[\\s\\S]*Canister ${missing.toText()} not found|Canister ${missing.toText()} not found[\\s\\S]*IC0301`));
    const mismatched = Actor.createActor<Logs>(
      ({ IDL }) => IDL.Service({
        fetch_canister_logs: IDL.Func([IDL.Record({ canister_id: IDL.Principal })], [IDL.Record({ canister_log_records: IDL.Vec(IDL.Reserved) })], ['query']),
      }),
      {
        // A 400 is final: no retries. Without node signature checks the agent does not look up
        // aaaaa-aa in the root subnet's canister ranges first, so the replica's answer surfaces.
        agent: await HttpAgent.create({ host: node.url, shouldFetchRootKey: true, retryTimes: 0, verifyQuerySignatures: false }),
        canisterId: Principal.managementCanister(),
        effectiveCanisterId: Principal.managementCanister(),
      },
    );
    await assert.rejects(mismatched.fetch_canister_logs({ canister_id: canisterId }), /does not match effective canister id/);
  });

  it('writes each new record once, after its round, as a structured pino record', async () => {
    await canister.log('structured');
    await node.round();
    const id = canisterId.toText();
    const ours = lines.filter((l) => l.component === 'canister' && l.canister_id === id);
    const msgs = ours.map((l) => l.msg);
    assert.deepEqual(msgs.slice(0, 3), ['hello', 'world', 'about to trap']);
    assert.match(String(msgs[3]), /^\[TRAP\]: .*boom/);
    assert.equal(msgs[4], 'structured');
    assert.equal(msgs.length, 5, 'every record exactly once');
    assert.deepEqual(ours.map((l) => l.idx), [0, 1, 2, 3, 4]);
    for (const l of ours) {
      assert.equal(typeof l.round, 'number');
      assert.ok((l.round as number) > 0);
      assert.equal(l.level, 30, 'info');
    }
    // A record's round is the round whose execution printed it: the ones of one call share it.
    const rounds = ours.map((l) => l.round as number);
    for (let i = 1; i < rounds.length; i++) assert.ok(rounds[i]! >= rounds[i - 1]!);
    assert.ok(!msgs.includes('printed in a query'));
  });
});
