// The command line client: commands on `@icp-sdk/core` (`runCli`), and the pieces other tools
// reuse: the management canister's client interface and Candid text.

export { runCli, usage, type CliOptions } from './cli.js';
export { COMMANDS, parseCycles, parsePrincipal, type Command, type CommandContext } from './commands.js';
export { connect, explainAgentError, fetchStatus, normalizeNetwork, DEFAULT_NETWORK, type Connection, type NetworkStatus } from './connection.js';
export { CliError, UsageError, UnreachableError, EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_UNREACHABLE } from './errors.js';
export { configDir, defaultIdentityPath, identityFromPem, loadIdentity, type LoadedIdentity } from './identity.js';
export { canisterInterface, readCandidMetadata, type CanisterInterface } from './interface.js';
export {
  defaultSettings,
  managementCanister,
  managementIdlFactory,
  type CanisterSettings,
  type CanisterStatus,
  type InstallMode,
  type ManagementCanister,
} from './management.js';
export { Output, toJsonText, type Io } from './output.js';
export { moduleBytes, wasmMetadata } from './wasm-metadata.js';
export * from './candid/index.js';
