// Errors of the node process itself (not of canisters or requests, which are `CanisterError`s
// and HTTP interface errors).

export class NodeError extends Error {
  override readonly name: string = 'NodeError';
  readonly code: string = 'NODE_ERROR';
}

/** A keys file that cannot be used; the node refuses to start rather than replace it. */
export class InvalidNodeKeysError extends NodeError {
  override readonly name = 'InvalidNodeKeysError';
  override readonly code = 'INVALID_NODE_KEYS';
}

