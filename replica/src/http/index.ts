// The IC HTTPS interface front end (interface spec, "HTTPS Interface"): envelope decoding,
// request ids, authentication, read_state path rules and the node:http server.

export {
  createHttpServer,
  IC_API_VERSION,
  DEFAULT_MAX_INGRESS_BYTES_PER_MESSAGE,
  DEFAULT_ENVELOPE_ALLOWANCE_BYTES,
  DEFAULT_SYNC_CALL_TIMEOUT_MS,
  type ReplicaHttpServer,
} from './server.js';
export {
  decodeEnvelope,
  MAX_NONCE_BYTES,
  MAX_PATH_LABELS,
  MAX_PRINCIPAL_BYTES,
  MAX_READ_STATE_PATHS,
  type CallContent,
  type ContentOf,
  type Delegation,
  type DelegationPermissions,
  type Envelope,
  type QueryContent,
  type ReadStateContent,
  type RequestContent,
  type RequestType,
  type SignedDelegation,
} from './envelope.js';
export {
  hashOfMap,
  hashValue,
  requestIdOf,
  encodeUleb128,
  encodeSleb128,
  requestSignaturePayload,
  delegationSignaturePayload,
  responseSignaturePayload,
  IC_REQUEST_DOMAIN_SEPARATOR,
  IC_REQUEST_AUTH_DELEGATION_DOMAIN_SEPARATOR,
  IC_RESPONSE_DOMAIN_SEPARATOR,
  type Hashable,
} from './request-id.js';
export {
  authenticate,
  authenticateWith,
  verifyHere,
  checkIngressExpiry,
  checkTargetAllowed,
  isAnonymous,
  selfAuthenticatingId,
  MAX_DELEGATIONS,
  MAX_TARGETS_PER_DELEGATION,
  MAX_INGRESS_TTL_MS,
  PERMITTED_DRIFT_MS,
  type AuthenticatedScope,
  type AuthenticationOptions,
  type SignatureCheck,
  type SignatureVerifier,
} from './auth.js';
export { SignaturePool, type SignaturePoolOptions } from './signature-pool.js';
export { parseUserPublicKey, verifySignature, type UserPublicKey } from './public-key.js';
export { authorizeReadStatePaths, formatPath, type ReadStateEndpoint, type PathAuthorizationContext } from './read-state-paths.js';
export { decodeCbor, encodeCbor, SELF_DESCRIBED_TAG } from './cbor.js';
export { readBoundedBody, ClientGoneError } from './body.js';
export * from './errors.js';
export type * from './types.js';
