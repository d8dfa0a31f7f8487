// Candid types of the management canister's methods we serve (interface spec, ic.did).

import { IDL } from '@icp-sdk/core/candid';

const LogVisibility = IDL.Variant({
  controllers: IDL.Null,
  public: IDL.Null,
  allowed_viewers: IDL.Vec(IDL.Principal),
});
const EnvironmentVariable = IDL.Record({ name: IDL.Text, value: IDL.Text });

export const CanisterSettings = IDL.Record({
  controllers: IDL.Opt(IDL.Vec(IDL.Principal)),
  compute_allocation: IDL.Opt(IDL.Nat),
  memory_allocation: IDL.Opt(IDL.Nat),
  freezing_threshold: IDL.Opt(IDL.Nat),
  reserved_cycles_limit: IDL.Opt(IDL.Nat),
  log_visibility: IDL.Opt(LogVisibility),
  wasm_memory_limit: IDL.Opt(IDL.Nat),
  wasm_memory_threshold: IDL.Opt(IDL.Nat),
  environment_variables: IDL.Opt(IDL.Vec(EnvironmentVariable)),
});

// Who may read a canister's status or snapshots: this replica lets only controllers do either.
const Visibility = IDL.Variant({ controllers: IDL.Null, public: IDL.Null, allowed_viewers: IDL.Vec(IDL.Principal) });

/**
 * The settings in effect, as the current management interface reports them (newer clients such
 * as icp-cli require every field). The last four are fixed on this replica and reported as they
 * behave: no minimum on incoming call cycles, the log buffer's size, controllers-only status and
 * snapshots.
 */
const DefiniteCanisterSettings = IDL.Record({
  controllers: IDL.Vec(IDL.Principal),
  compute_allocation: IDL.Nat,
  memory_allocation: IDL.Nat,
  freezing_threshold: IDL.Nat,
  reserved_cycles_limit: IDL.Nat,
  minimum_incoming_canister_call_cycles: IDL.Nat,
  log_visibility: LogVisibility,
  log_memory_limit: IDL.Nat,
  snapshot_visibility: Visibility,
  status_visibility: Visibility,
  wasm_memory_limit: IDL.Nat,
  wasm_memory_threshold: IDL.Nat,
  environment_variables: IDL.Vec(EnvironmentVariable),
});

const CanisterIdRecord = IDL.Record({ canister_id: IDL.Principal });
const CanisterIdResult = IDL.Record({ canister_id: IDL.Principal });
const ChunkHash = IDL.Record({ hash: IDL.Vec(IDL.Nat8) });
const InstallMode = IDL.Variant({
  install: IDL.Null,
  reinstall: IDL.Null,
  upgrade: IDL.Opt(IDL.Record({
    skip_pre_upgrade: IDL.Opt(IDL.Bool),
    wasm_memory_persistence: IDL.Opt(IDL.Variant({ keep: IDL.Null, replace: IDL.Null })),
  })),
});

const ChangeOrigin = IDL.Variant({
  from_user: IDL.Record({ user_id: IDL.Principal }),
  from_canister: IDL.Record({ canister_id: IDL.Principal, canister_version: IDL.Opt(IDL.Nat64) }),
});
const ChangeDetails = IDL.Variant({
  creation: IDL.Record({ controllers: IDL.Vec(IDL.Principal), environment_variables_hash: IDL.Opt(IDL.Vec(IDL.Nat8)) }),
  code_uninstall: IDL.Null,
  code_deployment: IDL.Record({
    mode: IDL.Variant({ install: IDL.Null, reinstall: IDL.Null, upgrade: IDL.Null }),
    module_hash: IDL.Vec(IDL.Nat8),
  }),
  controllers_change: IDL.Record({ controllers: IDL.Vec(IDL.Principal) }),
  load_snapshot: IDL.Record({
    canister_version: IDL.Nat64,
    snapshot_id: IDL.Vec(IDL.Nat8),
    taken_at_timestamp: IDL.Nat64,
    source: IDL.Variant({ taken_from_canister: IDL.Reserved, metadata_upload: IDL.Reserved }),
  }),
});
const Snapshot = IDL.Record({ id: IDL.Vec(IDL.Nat8), taken_at_timestamp: IDL.Nat64, total_size: IDL.Nat64 });
const Change = IDL.Record({
  timestamp_nanos: IDL.Nat64,
  canister_version: IDL.Nat64,
  origin: ChangeOrigin,
  details: ChangeDetails,
});

/** Each method: argument types and result types. */
export const METHODS = {
  create_canister: {
    args: [IDL.Record({ settings: IDL.Opt(CanisterSettings), sender_canister_version: IDL.Opt(IDL.Nat64) })],
    results: [CanisterIdResult],
  },
  provisional_create_canister_with_cycles: {
    args: [IDL.Record({
      amount: IDL.Opt(IDL.Nat),
      settings: IDL.Opt(CanisterSettings),
      specified_id: IDL.Opt(IDL.Principal),
      sender_canister_version: IDL.Opt(IDL.Nat64),
    })],
    results: [CanisterIdResult],
  },
  provisional_top_up_canister: { args: [IDL.Record({ canister_id: IDL.Principal, amount: IDL.Nat })], results: [] },
  update_settings: {
    args: [IDL.Record({ canister_id: IDL.Principal, settings: CanisterSettings, sender_canister_version: IDL.Opt(IDL.Nat64) })],
    results: [],
  },
  install_code: {
    args: [IDL.Record({
      mode: InstallMode,
      canister_id: IDL.Principal,
      wasm_module: IDL.Vec(IDL.Nat8),
      arg: IDL.Vec(IDL.Nat8),
      sender_canister_version: IDL.Opt(IDL.Nat64),
    })],
    results: [],
  },
  install_chunked_code: {
    args: [IDL.Record({
      mode: InstallMode,
      target_canister: IDL.Principal,
      store_canister: IDL.Opt(IDL.Principal),
      chunk_hashes_list: IDL.Vec(ChunkHash),
      wasm_module_hash: IDL.Vec(IDL.Nat8),
      arg: IDL.Vec(IDL.Nat8),
      sender_canister_version: IDL.Opt(IDL.Nat64),
    })],
    results: [],
  },
  uninstall_code: {
    args: [IDL.Record({ canister_id: IDL.Principal, sender_canister_version: IDL.Opt(IDL.Nat64) })],
    results: [],
  },
  upload_chunk: { args: [IDL.Record({ canister_id: IDL.Principal, chunk: IDL.Vec(IDL.Nat8) })], results: [ChunkHash] },
  clear_chunk_store: { args: [CanisterIdRecord], results: [] },
  stored_chunks: { args: [CanisterIdRecord], results: [IDL.Vec(ChunkHash)] },
  start_canister: { args: [CanisterIdRecord], results: [] },
  stop_canister: { args: [CanisterIdRecord], results: [] },
  delete_canister: { args: [CanisterIdRecord], results: [] },
  deposit_cycles: { args: [CanisterIdRecord], results: [] },
  canister_status: {
    args: [CanisterIdRecord],
    results: [IDL.Record({
      status: IDL.Variant({ running: IDL.Null, stopping: IDL.Null, stopped: IDL.Null }),
      ready_for_migration: IDL.Bool,
      version: IDL.Nat64,
      settings: DefiniteCanisterSettings,
      module_hash: IDL.Opt(IDL.Vec(IDL.Nat8)),
      memory_size: IDL.Nat,
      memory_metrics: IDL.Record({
        wasm_memory_size: IDL.Nat,
        stable_memory_size: IDL.Nat,
        global_memory_size: IDL.Nat,
        wasm_binary_size: IDL.Nat,
        custom_sections_size: IDL.Nat,
        canister_history_size: IDL.Nat,
        wasm_chunk_store_size: IDL.Nat,
        snapshots_size: IDL.Nat,
        log_memory_store_size: IDL.Nat,
      }),
      cycles: IDL.Nat,
      reserved_cycles: IDL.Nat,
      idle_cycles_burned_per_day: IDL.Nat,
      query_stats: IDL.Record({
        num_calls_total: IDL.Nat,
        num_instructions_total: IDL.Nat,
        request_payload_bytes_total: IDL.Nat,
        response_payload_bytes_total: IDL.Nat,
      }),
    })],
  },
  canister_info: {
    args: [IDL.Record({ canister_id: IDL.Principal, num_requested_changes: IDL.Opt(IDL.Nat64) })],
    results: [IDL.Record({
      total_num_changes: IDL.Nat64,
      recent_changes: IDL.Vec(Change),
      module_hash: IDL.Opt(IDL.Vec(IDL.Nat8)),
      controllers: IDL.Vec(IDL.Principal),
    })],
  },
  raw_rand: { args: [], results: [IDL.Vec(IDL.Nat8)] },
  take_canister_snapshot: {
    args: [IDL.Record({ canister_id: IDL.Principal, replace_snapshot: IDL.Opt(IDL.Vec(IDL.Nat8)) })],
    results: [Snapshot],
  },
  load_canister_snapshot: {
    args: [IDL.Record({ canister_id: IDL.Principal, snapshot_id: IDL.Vec(IDL.Nat8), sender_canister_version: IDL.Opt(IDL.Nat64) })],
    results: [],
  },
  list_canister_snapshots: { args: [CanisterIdRecord], results: [IDL.Vec(Snapshot)] },
  delete_canister_snapshot: {
    args: [IDL.Record({ canister_id: IDL.Principal, snapshot_id: IDL.Vec(IDL.Nat8) })],
    results: [],
  },
  fetch_canister_logs: {
    args: [CanisterIdRecord],
    results: [IDL.Record({
      canister_log_records: IDL.Vec(IDL.Record({ idx: IDL.Nat64, timestamp_nanos: IDL.Nat64, content: IDL.Vec(IDL.Nat8) })),
    })],
  },
} as const;

export type ManagementMethod = keyof typeof METHODS;

export function isManagementMethod(name: string): name is ManagementMethod {
  return Object.prototype.hasOwnProperty.call(METHODS, name);
}

/** Decoded arguments by argument bytes: one message's bytes are read at submission, routing and execution. */
const decoded = new WeakMap<Uint8Array, { readonly method: string; readonly value: unknown }>();

/**
 * The Candid arguments of a management call, decoded once per argument buffer (the Candid
 * decoder copies the rest of its input for every number it reads: an install's module made each
 * decode cost milliseconds). Throws the decoder's error; nothing is cached then.
 */
export function decodeManagementArgs(method: ManagementMethod, arg: Uint8Array): unknown {
  const hit = decoded.get(arg);
  if (hit !== undefined && hit.method === method) return hit.value;
  const value = IDL.decode([...METHODS[method].args], arg)[0];
  decoded.set(arg, { method, value });
  return value;
}
