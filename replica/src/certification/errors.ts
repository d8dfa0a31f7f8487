// Errors of the certification layer. These signal broken inputs or failed verification, never a
// canister's failure (those are `CanisterError`s). Each has a stable `name` and `code`.

export type CertificationErrorCode =
  | 'MALFORMED_HASH_TREE'
  | 'DUPLICATE_LABEL'
  | 'INVALID_STATE_VIEW'
  | 'INVALID_KEY_MATERIAL'
  | 'INSUFFICIENT_SHARES'
  | 'MALFORMED_CERTIFICATE'
  | 'CERTIFICATE_VERIFICATION_FAILED'
  | 'UNKNOWN_SUBNET';

export abstract class CertificationError extends Error {
  abstract override readonly name: string;
  abstract readonly code: CertificationErrorCode;
}

/** A hash tree (or its CBOR encoding) that is not of the shape the spec allows. */
export class MalformedHashTreeError extends CertificationError {
  override readonly name = 'MalformedHashTreeError';
  readonly code = 'MALFORMED_HASH_TREE';
}

/** Two children of one node carry the same label: the tree would not be well-formed. */
export class DuplicateLabelError extends CertificationError {
  override readonly name = 'DuplicateLabelError';
  readonly code = 'DUPLICATE_LABEL';
  constructor(readonly label: Uint8Array) {
    super(`duplicate label 0x${Buffer.from(label).toString('hex')} in one subtree`);
  }
}

/** A `CertifiedStateView` record that violates the spec (e.g. `replied` without a reply). */
export class InvalidStateViewError extends CertificationError {
  override readonly name = 'InvalidStateViewError';
  readonly code = 'INVALID_STATE_VIEW';
}

/** Malformed keys, shares, thresholds or points. */
export class InvalidKeyMaterialError extends CertificationError {
  override readonly name = 'InvalidKeyMaterialError';
  readonly code = 'INVALID_KEY_MATERIAL';
}

/** Fewer distinct signature shares than the threshold. */
export class InsufficientSharesError extends CertificationError {
  override readonly name = 'InsufficientSharesError';
  readonly code = 'INSUFFICIENT_SHARES';
  constructor(
    readonly available: number,
    readonly threshold: number,
  ) {
    super(`need ${threshold} distinct signature shares, have ${available}`);
  }
}

/** Certificate bytes that do not decode to the spec's CDDL. */
export class MalformedCertificateError extends CertificationError {
  override readonly name = 'MalformedCertificateError';
  readonly code = 'MALFORMED_CERTIFICATE';
}

/** A certificate that decodes but does not verify (signature, delegation, scope or time). */
export class CertificateVerificationError extends CertificationError {
  override readonly name = 'CertificateVerificationError';
  readonly code = 'CERTIFICATE_VERIFICATION_FAILED';
}

/** A delegation was requested for a subnet the root authority does not know. */
export class UnknownSubnetError extends CertificationError {
  override readonly name = 'UnknownSubnetError';
  readonly code = 'UNKNOWN_SUBNET';
}
