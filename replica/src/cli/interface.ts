// A canister's Candid interface, so arguments can be typed and replies shown with their field
// names: from a .did file given on the command line, else from the canister's `candid:service`
// metadata, read through read_state (certified; private sections only for controllers).

import { readFile } from 'node:fs/promises';
import { AgentError, HttpErrorCode, lookupResultToBuffer, type HttpAgent } from '@icp-sdk/core/agent';
import type { IDL } from '@icp-sdk/core/candid';
import type { Principal } from '@icp-sdk/core/principal';
import { methodsOf, parseDid, type ServiceDescription } from './candid/index.js';
import { UsageError } from './errors.js';

export interface CanisterInterface {
  /** Where it came from: a file path or `candid:service metadata`. */
  readonly source: string;
  readonly description: ServiceDescription;
  readonly methods: ReadonlyMap<string, IDL.FuncClass>;
}

const utf8 = (s: string) => new TextEncoder().encode(s);

export type InterfaceLookup =
  | { readonly found: CanisterInterface }
  | { readonly missing: string };

/** The `candid:service` metadata of a canister; `missing` says why there is none. */
export async function readCandidMetadata(agent: HttpAgent, canisterId: Principal): Promise<{ text: string } | { missing: string }> {
  const path = [utf8('canister'), canisterId.toUint8Array(), utf8('metadata'), utf8('candid:service')];
  try {
    const { verifiedCertificate } = await agent.readState({ canisterId }, { paths: [path] });
    const value = lookupResultToBuffer(verifiedCertificate.lookup_path(path));
    if (value === undefined) return { missing: 'the canister has no candid:service metadata' };
    return { text: new TextDecoder().decode(value) };
  } catch (e) {
    if (e instanceof AgentError && e.code instanceof HttpErrorCode && e.code.status === 403) {
      return { missing: 'its candid:service metadata is private and you are not a controller' };
    }
    throw e;
  }
}

function describe(text: string, source: string): CanisterInterface {
  const description = parseDid(text);
  if (!description.service) throw new UsageError(`${source} describes no service`);
  return { source, description, methods: methodsOf(description.service) };
}

export async function canisterInterface(agent: HttpAgent, canisterId: Principal, candidFile?: string): Promise<InterfaceLookup> {
  if (candidFile !== undefined) {
    let text: string;
    try {
      text = await readFile(candidFile, 'utf8');
    } catch (e) {
      throw new UsageError(`cannot read ${candidFile}: ${(e as Error).message}`);
    }
    return { found: describe(text, candidFile) };
  }
  const metadata = await readCandidMetadata(agent, canisterId);
  if ('missing' in metadata) return metadata;
  return { found: describe(metadata.text, 'candid:service metadata') };
}
