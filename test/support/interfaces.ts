// Candid interfaces of the Motoko test canisters the agent tests call through actors.

import type { IDL } from '@icp-sdk/core/candid';
import type { Principal } from '@icp-sdk/core/principal';

/** test/canisters/certified.mo */
export interface Certified {
  set(value: Uint8Array): Promise<void>;
  get(): Promise<{ data: Uint8Array; certificate: [] | [Uint8Array] }>;
}
export const certifiedIdl: IDL.InterfaceFactory = ({ IDL }) =>
  IDL.Service({
    set: IDL.Func([IDL.Vec(IDL.Nat8)], [], []),
    get: IDL.Func([], [IDL.Record({ data: IDL.Vec(IDL.Nat8), certificate: IDL.Opt(IDL.Vec(IDL.Nat8)) })], ['query']),
  });

/** test/canisters/whoami.mo */
export interface Whoami {
  whoami(): Promise<Principal>;
  whoami_query(): Promise<Principal>;
}
export const whoamiIdl: IDL.InterfaceFactory = ({ IDL }) =>
  IDL.Service({ whoami: IDL.Func([], [IDL.Principal], []), whoami_query: IDL.Func([], [IDL.Principal], ['query']) });
