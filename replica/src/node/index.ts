// One replica process on the embedded default: a replica, its keys, certification of every
// round and the HTTP interface, behind `Node`.

export { startLocalNetwork, type LocalNetwork, type LocalNetworkOptions } from './network.js';
export { Node, DEFAULT_PORT, DEFAULT_ROUND_INTERVAL_MS, DEFAULT_MAX_PENDING_INGRESS, type NodeLogger, type NodeOptions } from './node.js';
export { XNetLink, type NodeXNetOptions } from './xnet-link.js';
export { NodeFrontend, type NodeFrontendHost } from './frontend.js';
export {
  QueryCache,
  queryCacheKey,
  DEFAULT_QUERY_CACHE_CAPACITY_BYTES,
  type QueryCacheEnv,
  type QueryCacheOptions,
  type QueryCacheStats,
} from './query-cache.js';
export { StateCertification, type CertifiedSnapshot, type StateCertificationOptions } from './certification.js';
export { CertifiedViewBuilder, requestStatusRecord, type CertifiedView } from './certified-view.js';
export { IngressTracker, isTerminal, type TrackedRequest } from './ingress.js';
export { filterManagementIngress } from './ingress-filter.js';
export { RoundLoop, type RoundLoopOptions, type RoundOutcome } from './round-loop.js';
export {
  generateNodeKeys,
  loadOrCreateNodeKeys,
  parseNodeKeys,
  rootPublicKeyDer,
  subnetIdentity,
  serializeNodeKeys,
  NodeSigningKey,
  KEYS_FILE,
  type NodeKeys,
} from './keys.js';
export { InvalidNodeKeysError, NodeError } from './errors.js';
