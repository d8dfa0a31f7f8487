// The management canister as a client sees it: the part of the interface specification's ic.did
// that the CLI, the demo and the end-to-end tests use, written from the spec (not from the
// replica's own tables, so a mistake there shows up as a client failure).
//
// Replies are declared with only the fields read here: Candid record subtyping lets the reply
// carry more.

import { Actor, type ActorSubclass, type Agent } from '@icp-sdk/core/agent';
import { IDL } from '@icp-sdk/core/candid';
import { Principal } from '@icp-sdk/core/principal';

export interface CanisterSettings {
  controllers: [] | [Principal[]];
  compute_allocation: [] | [bigint];
  memory_allocation: [] | [bigint];
  freezing_threshold: [] | [bigint];
  reserved_cycles_limit: [] | [bigint];
  log_visibility: [] | [{ controllers: null } | { public: null } | { allowed_viewers: Principal[] }];
  wasm_memory_limit: [] | [bigint];
  wasm_memory_threshold: [] | [bigint];
  environment_variables: [] | [{ name: string; value: string }[]];
}

export type InstallMode =
  | { install: null }
  | { reinstall: null }
  | { upgrade: [] | [{ skip_pre_upgrade: [] | [boolean]; wasm_memory_persistence: [] | [{ keep: null } | { replace: null }] }] };

export interface CanisterStatus {
  status: { running: null } | { stopping: null } | { stopped: null };
  settings: { controllers: Principal[]; compute_allocation: bigint; memory_allocation: bigint; freezing_threshold: bigint };
  module_hash: [] | [Uint8Array];
  memory_size: bigint;
  cycles: bigint;
  reserved_cycles: bigint;
  idle_cycles_burned_per_day: bigint;
}

export interface ManagementCanister {
  provisional_create_canister_with_cycles(arg: {
    amount: [] | [bigint];
    settings: [] | [CanisterSettings];
    specified_id: [] | [Principal];
    sender_canister_version: [] | [bigint];
  }): Promise<{ canister_id: Principal }>;
  provisional_top_up_canister(arg: { canister_id: Principal; amount: bigint }): Promise<void>;
  install_code(arg: {
    mode: InstallMode;
    canister_id: Principal;
    wasm_module: Uint8Array;
    arg: Uint8Array;
    sender_canister_version: [] | [bigint];
  }): Promise<void>;
  upload_chunk(arg: { canister_id: Principal; chunk: Uint8Array }): Promise<{ hash: Uint8Array }>;
  install_chunked_code(arg: {
    mode: InstallMode;
    target_canister: Principal;
    store_canister: [] | [Principal];
    chunk_hashes_list: { hash: Uint8Array }[];
    wasm_module_hash: Uint8Array;
    arg: Uint8Array;
    sender_canister_version: [] | [bigint];
  }): Promise<void>;
  clear_chunk_store(arg: { canister_id: Principal }): Promise<void>;
  uninstall_code(arg: { canister_id: Principal; sender_canister_version: [] | [bigint] }): Promise<void>;
  update_settings(arg: { canister_id: Principal; settings: CanisterSettings; sender_canister_version: [] | [bigint] }): Promise<void>;
  canister_status(arg: { canister_id: Principal }): Promise<CanisterStatus>;
  start_canister(arg: { canister_id: Principal }): Promise<void>;
  stop_canister(arg: { canister_id: Principal }): Promise<void>;
  delete_canister(arg: { canister_id: Principal }): Promise<void>;
}

export const managementIdlFactory: IDL.InterfaceFactory = ({ IDL }) => {
  const canisterId = IDL.Record({ canister_id: IDL.Principal });
  const chunkHash = IDL.Record({ hash: IDL.Vec(IDL.Nat8) });
  const logVisibility = IDL.Variant({ controllers: IDL.Null, public: IDL.Null, allowed_viewers: IDL.Vec(IDL.Principal) });
  const settings = IDL.Record({
    controllers: IDL.Opt(IDL.Vec(IDL.Principal)),
    compute_allocation: IDL.Opt(IDL.Nat),
    memory_allocation: IDL.Opt(IDL.Nat),
    freezing_threshold: IDL.Opt(IDL.Nat),
    reserved_cycles_limit: IDL.Opt(IDL.Nat),
    log_visibility: IDL.Opt(logVisibility),
    wasm_memory_limit: IDL.Opt(IDL.Nat),
    wasm_memory_threshold: IDL.Opt(IDL.Nat),
    environment_variables: IDL.Opt(IDL.Vec(IDL.Record({ name: IDL.Text, value: IDL.Text }))),
  });
  const mode = IDL.Variant({
    install: IDL.Null,
    reinstall: IDL.Null,
    upgrade: IDL.Opt(
      IDL.Record({
        skip_pre_upgrade: IDL.Opt(IDL.Bool),
        wasm_memory_persistence: IDL.Opt(IDL.Variant({ keep: IDL.Null, replace: IDL.Null })),
      }),
    ),
  });
  const status = IDL.Record({
    status: IDL.Variant({ running: IDL.Null, stopping: IDL.Null, stopped: IDL.Null }),
    settings: IDL.Record({
      controllers: IDL.Vec(IDL.Principal),
      compute_allocation: IDL.Nat,
      memory_allocation: IDL.Nat,
      freezing_threshold: IDL.Nat,
    }),
    module_hash: IDL.Opt(IDL.Vec(IDL.Nat8)),
    memory_size: IDL.Nat,
    cycles: IDL.Nat,
    reserved_cycles: IDL.Nat,
    idle_cycles_burned_per_day: IDL.Nat,
  });
  return IDL.Service({
    provisional_create_canister_with_cycles: IDL.Func(
      [
        IDL.Record({
          amount: IDL.Opt(IDL.Nat),
          settings: IDL.Opt(settings),
          specified_id: IDL.Opt(IDL.Principal),
          sender_canister_version: IDL.Opt(IDL.Nat64),
        }),
      ],
      [canisterId],
      [],
    ),
    provisional_top_up_canister: IDL.Func([IDL.Record({ canister_id: IDL.Principal, amount: IDL.Nat })], [], []),
    install_code: IDL.Func(
      [
        IDL.Record({
          mode,
          canister_id: IDL.Principal,
          wasm_module: IDL.Vec(IDL.Nat8),
          arg: IDL.Vec(IDL.Nat8),
          sender_canister_version: IDL.Opt(IDL.Nat64),
        }),
      ],
      [],
      [],
    ),
    upload_chunk: IDL.Func([IDL.Record({ canister_id: IDL.Principal, chunk: IDL.Vec(IDL.Nat8) })], [chunkHash], []),
    install_chunked_code: IDL.Func(
      [
        IDL.Record({
          mode,
          target_canister: IDL.Principal,
          store_canister: IDL.Opt(IDL.Principal),
          chunk_hashes_list: IDL.Vec(chunkHash),
          wasm_module_hash: IDL.Vec(IDL.Nat8),
          arg: IDL.Vec(IDL.Nat8),
          sender_canister_version: IDL.Opt(IDL.Nat64),
        }),
      ],
      [],
      [],
    ),
    clear_chunk_store: IDL.Func([canisterId], [], []),
    uninstall_code: IDL.Func([IDL.Record({ canister_id: IDL.Principal, sender_canister_version: IDL.Opt(IDL.Nat64) })], [], []),
    update_settings: IDL.Func(
      [IDL.Record({ canister_id: IDL.Principal, settings, sender_canister_version: IDL.Opt(IDL.Nat64) })],
      [],
      [],
    ),
    canister_status: IDL.Func([canisterId], [status], []),
    start_canister: IDL.Func([canisterId], [], []),
    stop_canister: IDL.Func([canisterId], [], []),
    delete_canister: IDL.Func([canisterId], [], []),
  });
};

/** Settings with every field left to the default. */
export function defaultSettings(overrides: Partial<CanisterSettings> = {}): CanisterSettings {
  return {
    controllers: [],
    compute_allocation: [],
    memory_allocation: [],
    freezing_threshold: [],
    reserved_cycles_limit: [],
    log_visibility: [],
    wasm_memory_limit: [],
    wasm_memory_threshold: [],
    environment_variables: [],
    ...overrides,
  };
}

/**
 * The spec, "Effective canister id": a management call is routed by the canister it is about;
 * creations name no canister and go to `aaaaa-aa`, which the local replica hosts.
 */
function effectiveCanisterId(args: unknown[]): { effectiveCanisterId: Principal } {
  const first = args[0] as { canister_id?: unknown; target_canister?: unknown } | undefined;
  if (first && first.canister_id instanceof Principal) return { effectiveCanisterId: first.canister_id };
  if (first && first.target_canister instanceof Principal) return { effectiveCanisterId: first.target_canister };
  return { effectiveCanisterId: Principal.managementCanister() };
}

export function managementCanister(agent: Agent): ActorSubclass<ManagementCanister> {
  return Actor.createActor<ManagementCanister>(managementIdlFactory, {
    agent,
    canisterId: Principal.managementCanister(),
    callTransform: (_method, args) => effectiveCanisterId(args),
    queryTransform: (_method, args) => effectiveCanisterId(args),
  });
}
