// Certification: hash trees, the system state tree, threshold BLS, certificates and
// delegations (interface spec "Certification" and "The system state tree").
//
// Typical wiring (one subnet, root key held locally):
//
//   const root = new RootAuthority({ signer: new SecretKeySigner(rootSecret), subnets, time });
//   const certifier = new SubnetCertifier({ subnetId, signer, delegation: root });
//   // every round:
//   const state = certifier.certifyState(buildStateTree(view, cache));
//   // every read_state / sync call response:
//   const certificate = certifier.certificate(state, paths, { kind: 'tree', canisterId });
//
// `signer` is a `SecretKeySigner` for a single replica (1-of-1), a `LocalThresholdSigner`
// when all shares are local, or a distributed signer built on signShare/verifyShare/combine.
// Agents trust `root.publicKeyDer` (what `/api/v2/status` reports as `root_key`).

export type {
  ApiBoundaryNodeRecord,
  CanisterCertifiedState,
  CanisterMetadataSection,
  CanisterRange,
  CertificateDelegation,
  CertificateTarget,
  CertifiedState,
  CertifiedStateView,
  DealtKeys,
  DecodedCertificate,
  DelegationFormat,
  DelegationSource,
  EmptyNode,
  ForkNode,
  HashTree,
  KeyShare,
  Label,
  LabeledNode,
  LabeledTreeInput,
  LeafNode,
  LookupResult,
  NodePublicKeyRecord,
  Path,
  PrunedNode,
  RandomSource,
  RequestStatusKind,
  RequestStatusRecord,
  SignatureShare,
  StreamCertifiedState,
  StreamMessageRecord,
  SubnetCertifiedState,
  SubnetMetrics,
  SubnetType,
  SubtreeLookupResult,
  ThresholdSigner,
} from './types.js';

export {
  CertificateVerificationError,
  CertificationError,
  type CertificationErrorCode,
  DuplicateLabelError,
  InsufficientSharesError,
  InvalidKeyMaterialError,
  InvalidStateViewError,
  MalformedCertificateError,
  MalformedHashTreeError,
  UnknownSubnetError,
} from './errors.js';

export {
  buildLabeledTree,
  compareBytes,
  decodeHashTree,
  digest,
  domainSeparator,
  empty,
  encodeHashTree,
  equalBytes,
  findLabel,
  flattenForks,
  fork,
  type ForkMemo,
  forest,
  forestOfLabeled,
  hashTreeFromCbor,
  type HashTreeCbor,
  hashTreeToCbor,
  labelBytes,
  labeled,
  leaf,
  lookupPath,
  lookupSubtree,
  pairForks,
  pruned,
  reconstruct,
  wellFormed,
} from './hash-tree.js';

export { witness } from './witness.js';

export { decodeNat, encodeCanisterRanges, encodeControllers, encodeNat, encodeSubnetMetrics, encodeText } from './encoding.js';

export {
  buildStateTree,
  canisterRangeShards,
  decodeStreamHeader,
  encodeStreamHeader,
  streamIndexLabel,
  EMPTY_RANGES_LABEL,
  MAX_RANGES_PER_SHARD,
  StateTreeCache,
} from './state-tree.js';

export {
  BLS_DER_PREFIX,
  BLS_SIGNATURE_DST,
  certificationThreshold,
  checkKeyShare,
  combine,
  combinePublicShares,
  dealKeys,
  faultTolerance,
  generateKey,
  hashToG1,
  PUBLIC_KEY_LENGTH,
  publicKeyFromDer,
  publicKeyOf,
  publicKeyToDer,
  randomnessThreshold,
  SECRET_LENGTH,
  selfAuthenticatingPrincipal,
  sign,
  SIGNATURE_LENGTH,
  signHashed,
  signShare,
  verify,
  verifyShare,
} from './bls.js';

export { LocalThresholdSigner, SecretKeySigner } from './signer.js';

export {
  type CertificateSigning,
  createCertificate,
  type CreateCertificateOptions,
  decodeCertificate,
  encodeCertificate,
  RootAuthority,
  STATE_ROOT_DOMAIN,
  stateRootMessage,
  SubnetCertifier,
  verifyCertificate,
  type VerifyCertificateOptions,
} from './certificate.js';
