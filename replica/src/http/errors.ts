// Errors of the HTTPS interface front end. Each one is answered with an HTTP status and a
// plain-text body that names the problem (interface spec, "HTTPS Interface": 4xx for client
// errors, 5xx when the server cannot serve the request now). Rejections decided by the
// execution side travel as `CanisterError` (replica/src/errors.ts) instead: those are reject
// responses with IC reject and error codes, not HTTP errors.

/** Base class: an HTTP-level refusal with a stable machine-readable `code`. */
export abstract class HttpInterfaceError extends Error {
  abstract override readonly name: string;
  abstract readonly status: number;
  abstract readonly code: string;
}

/** 400: the body is not well-formed CBOR (RFC 8949) or uses a form the IC does not accept. */
export class CborDecodeError extends HttpInterfaceError {
  override readonly name = 'CborDecodeError';
  readonly status = 400;
  readonly code = 'cbor_decode';
  constructor(
    readonly reason: string,
    readonly offset: number,
    /** Where in the value the problem is, e.g. `content.paths[0]`; empty at the top level. */
    readonly field: string,
  ) {
    super(`Could not parse body as CBOR${field ? ` (at ${field})` : ''}, byte ${offset}: ${reason}`);
  }
}

/** 400: the CBOR value does not have the shape of requests.cddl; `field` names the bad field. */
export class MalformedRequestError extends HttpInterfaceError {
  override readonly name = 'MalformedRequestError';
  readonly status = 400;
  readonly code = 'malformed_request';
  constructor(
    readonly field: string,
    problem: string,
  ) {
    super(`Malformed request: ${field ? `${field}: ` : ''}${problem}`);
  }
}

/** 400: the IC only accepts `Content-Type: application/cbor` on the POST endpoints. */
export class UnsupportedContentTypeError extends HttpInterfaceError {
  override readonly name = 'UnsupportedContentTypeError';
  readonly status = 400;
  readonly code = 'unsupported_content_type';
  constructor(readonly contentType: string | undefined) {
    super(`Unexpected content-type ${contentType === undefined ? '(none)' : `'${contentType}'`}, expected application/cbor.`);
  }
}

/** 413: body or message larger than the subnet accepts (max_ingress_bytes_per_message). */
export class RequestTooLargeError extends HttpInterfaceError {
  override readonly name = 'RequestTooLargeError';
  readonly status = 413;
  readonly code = 'request_too_large';
  constructor(message: string) {
    super(message);
  }
}

/**
 * 400: `ingress_expiry` outside [now, now + MAX_INGRESS_TTL + drift]. The message starts with
 * "Invalid request expiry: " as the IC's does: agent-js looks for that text to resync its clock
 * and retry.
 */
export class IngressExpiryError extends HttpInterfaceError {
  override readonly name = 'IngressExpiryError';
  readonly status = 400;
  readonly code = 'invalid_ingress_expiry';
  constructor(detail: string) {
    super(`Invalid request expiry: ${detail}`);
  }
}

/** 400: a signed request whose `sender` is not the self-authenticating id of `sender_pubkey`. */
export class SenderMismatchError extends HttpInterfaceError {
  override readonly name = 'SenderMismatchError';
  readonly status = 400;
  readonly code = 'sender_mismatch';
  constructor(sender: string, publicKeyHex: string) {
    super(`The user id '${sender}' does not match the public key '${publicKeyHex}'`);
  }
}

/** 400: a non-anonymous sender without `sender_pubkey`/`sender_sig` (spec, "Authentication"). */
export class MissingSignatureError extends HttpInterfaceError {
  override readonly name = 'MissingSignatureError';
  readonly status = 400;
  readonly code = 'missing_signature';
  constructor(sender: string) {
    super(`Missing signature from user: ${sender}`);
  }
}

/** 400: the anonymous sender must not carry `sender_pubkey`, `sender_sig` or `sender_delegation`. */
export class AnonymousSignatureError extends HttpInterfaceError {
  override readonly name = 'AnonymousSignatureError';
  readonly status = 400;
  readonly code = 'anonymous_signature';
  constructor() {
    super('Signature is not allowed for the anonymous user.');
  }
}

/** 400: a public key that is not a valid DER SubjectPublicKeyInfo of a supported scheme. */
export class InvalidPublicKeyError extends HttpInterfaceError {
  override readonly name = 'InvalidPublicKeyError';
  readonly status = 400;
  readonly code = 'invalid_public_key';
  constructor(detail: string) {
    super(`Invalid public key: ${detail}`);
  }
}

/** 400: a signature feature of the spec this replica does not offer yet (`sender_info`). */
export class UnsupportedSignatureSchemeError extends HttpInterfaceError {
  override readonly name = 'UnsupportedSignatureSchemeError';
  readonly status = 400;
  readonly code = 'unsupported_signature_scheme';
  constructor(detail: string) {
    super(`Unsupported signature scheme: ${detail}`);
  }
}

/** 400: `sender_sig` (or a delegation's signature) does not verify. */
export class InvalidSignatureError extends HttpInterfaceError {
  override readonly name = 'InvalidSignatureError';
  readonly status = 400;
  readonly code = 'invalid_signature';
  constructor(detail: string) {
    super(`Invalid signature: ${detail}`);
  }
}

/** 400: `sender_info` whose signer or canister signature does not check out (the IC's InvalidSenderInfo). */
export class InvalidSenderInfoError extends HttpInterfaceError {
  override readonly name = 'InvalidSenderInfoError';
  readonly status = 400;
  readonly code = 'invalid_sender_info';
  constructor(detail: string) {
    super(`Invalid sender_info: ${detail}`);
  }
}

/** 400: a delegation chain that is too long, cyclic, badly signed or has too many targets. */
export class InvalidDelegationError extends HttpInterfaceError {
  override readonly name = 'InvalidDelegationError';
  readonly status = 400;
  readonly code = 'invalid_delegation';
  constructor(detail: string) {
    super(`Invalid delegation: ${detail}`);
  }
}

/** 400: a delegation of the chain has expired. */
export class DelegationExpiredError extends HttpInterfaceError {
  override readonly name = 'DelegationExpiredError';
  readonly status = 400;
  readonly code = 'delegation_expired';
  constructor(detail: string) {
    super(`Invalid delegation expiry: ${detail}`);
  }
}

/** 400: the called canister is not in the intersection of the delegations' `targets`. */
export class DelegationTargetError extends HttpInterfaceError {
  override readonly name = 'DelegationTargetError';
  readonly status = 400;
  readonly code = 'canister_not_in_delegation_targets';
  constructor(canister: string) {
    super(`Canister '${canister}' is not one of the delegation targets.`);
  }
}

/** 400: an update call authenticated through a delegation restricted to `permissions = "queries"`. */
export class UpdateNotPermittedError extends HttpInterfaceError {
  override readonly name = 'UpdateNotPermittedError';
  readonly status = 400;
  readonly code = 'update_not_permitted';
  constructor() {
    super('Update calls are not permitted by the sender delegation (permissions = "queries").');
  }
}

/** 400: `canister_id` and the effective canister id of the URL disagree (spec, "Effective canister id"). */
export class EffectiveIdMismatchError extends HttpInterfaceError {
  override readonly name = 'EffectiveIdMismatchError';
  readonly status = 400;
  readonly code = 'effective_id_mismatch';
  constructor(message: string) {
    super(message);
  }
}

/** 403: a read_state path the sender may not read at this endpoint. */
export class ForbiddenPathError extends HttpInterfaceError {
  override readonly name = 'ForbiddenPathError';
  readonly status = 403;
  readonly code = 'forbidden_path';
  constructor(message: string) {
    super(message);
  }
}

/** 404: a read_state path that is not one of the state tree paths the spec lets users request. */
export class InvalidPathError extends HttpInterfaceError {
  override readonly name = 'InvalidPathError';
  readonly status = 404;
  readonly code = 'invalid_path';
  constructor(path: string) {
    super(`Invalid path requested: ${path}`);
  }
}

/** 404: the effective canister id or subnet id of the URL is not served by this replica. */
export class NotHostedError extends HttpInterfaceError {
  override readonly name = 'NotHostedError';
  readonly status = 404;
  readonly code = 'not_hosted';
  constructor(message: string) {
    super(message);
  }
}

/** 404: no endpoint at this URL. */
export class NoSuchEndpointError extends HttpInterfaceError {
  override readonly name = 'NoSuchEndpointError';
  readonly status = 404;
  readonly code = 'no_such_endpoint';
  constructor(method: string, path: string) {
    super(`No endpoint for ${method} ${path}.`);
  }
}

/** 405: the endpoint exists but not for this HTTP method. */
export class MethodNotAllowedError extends HttpInterfaceError {
  override readonly name = 'MethodNotAllowedError';
  readonly status = 405;
  readonly code = 'method_not_allowed';
  constructor(
    method: string,
    path: string,
    readonly allowed: string,
  ) {
    super(`${method} is not allowed on ${path}; use ${allowed}.`);
  }
}

/** 503: the replica does not certify state yet (health 'starting') or the certified state is unavailable. */
export class ReplicaNotReadyError extends HttpInterfaceError {
  override readonly name = 'ReplicaNotReadyError';
  readonly status = 503;
  readonly code = 'replica_not_ready';
  constructor(message = 'Replica is not healthy yet (starting). Check /api/v2/status for more information.') {
    super(message);
  }
}

/**
 * 429: too many requests in flight, or the frontend's ingress queue is full. The frontend may
 * throw this from `submitCall`/`query`/`readState` to shed load.
 */
export class ReplicaOverloadedError extends HttpInterfaceError {
  override readonly name = 'ReplicaOverloadedError';
  readonly status = 429;
  readonly code = 'overloaded';
  constructor(message = 'The service is overloaded, try again later.') {
    super(message);
  }
}
