// The identity the CLI signs with: a PEM file (Ed25519 or secp256k1, PKCS#8 or SEC1 — the
// formats `dfx identity export` writes), `anonymous`, or a default Ed25519 key generated on
// first use under the config directory.

import { createPrivateKey, generateKeyPairSync } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { AnonymousIdentity, type Identity } from '@icp-sdk/core/agent';
import { Ed25519KeyIdentity } from '@icp-sdk/core/identity';
import { Secp256k1KeyIdentity } from '@icp-sdk/core/identity/secp256k1';
import { UsageError } from './errors.js';

/** `$ICPK_CONFIG_DIR`, else `$XDG_CONFIG_HOME/icpk`, else `~/.config/icpk`. */
export function configDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.ICPK_CONFIG_DIR) return env.ICPK_CONFIG_DIR;
  return join(env.XDG_CONFIG_HOME || join(homedir(), '.config'), 'icpk');
}

export function defaultIdentityPath(env: NodeJS.ProcessEnv = process.env): string {
  return join(configDir(env), 'identity.pem');
}

/** An identity from PEM text: the key type is read from the key itself. */
export function identityFromPem(pem: string, source = 'PEM'): Ed25519KeyIdentity | Secp256k1KeyIdentity {
  let key;
  try {
    key = createPrivateKey({ key: pem, format: 'pem' });
  } catch (cause) {
    throw new UsageError(`${source} is not a private key in PEM format`, { cause });
  }
  const jwk = key.export({ format: 'jwk' });
  const secret = jwk.d ? new Uint8Array(Buffer.from(jwk.d, 'base64url')) : undefined;
  if (key.asymmetricKeyType === 'ed25519' && secret) return Ed25519KeyIdentity.fromSecretKey(secret);
  if (key.asymmetricKeyType === 'ec' && jwk.crv === 'secp256k1' && secret) return Secp256k1KeyIdentity.generate(secret);
  throw new UsageError(
    `${source} holds a ${key.asymmetricKeyType}${jwk.crv ? ` (${jwk.crv})` : ''} key; identities are Ed25519 or secp256k1 keys`,
  );
}

export interface LoadedIdentity {
  readonly identity: Identity;
  /** Where it came from, for messages. */
  readonly source: string;
  /** A default identity was created just now. */
  readonly created: boolean;
}

/**
 * `spec`: a PEM path, `anonymous`, or undefined for the default identity (created, mode 0600,
 * if it does not exist yet).
 */
export async function loadIdentity(spec: string | undefined, env: NodeJS.ProcessEnv = process.env): Promise<LoadedIdentity> {
  if (spec === 'anonymous') return { identity: new AnonymousIdentity(), source: 'anonymous', created: false };
  const path = spec ?? env.ICPK_IDENTITY ?? defaultIdentityPath(env);
  let pem: string | undefined;
  try {
    pem = await readFile(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT' || spec !== undefined || env.ICPK_IDENTITY) {
      throw new UsageError(`cannot read identity ${path}: ${(e as Error).message}`);
    }
  }
  if (pem !== undefined) return { identity: identityFromPem(pem, path), source: path, created: false };
  const { privateKey } = generateKeyPairSync('ed25519');
  const text = privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  await writeFile(path, text, { mode: 0o600, flag: 'wx' }).catch(async (e: NodeJS.ErrnoException) => {
    // Another process created it first: use that one.
    if (e.code !== 'EEXIST') throw e;
  });
  return { identity: identityFromPem(await readFile(path, 'utf8'), path), source: path, created: true };
}
