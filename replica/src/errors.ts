// Reject codes and error codes as the Internet Computer reports them to canisters and clients.
// Interface spec, "Reject codes"; error codes follow the replica's `ErrorCode` (IC0xxx).

export enum RejectCode {
  SysFatal = 1,
  SysTransient = 2,
  DestinationInvalid = 3,
  CanisterReject = 4,
  CanisterError = 5,
  SysUnknown = 6,
}

export enum ErrorCode {
  SubnetOversubscribed = 101,
  MaxNumberOfCanistersReached = 102,
  CanisterQueueFull = 201,
  IngressMessageTimeout = 202,
  CanisterQueueNotEmpty = 203,
  IngressHistoryFull = 204,
  CanisterIdAlreadyExists = 205,
  StopCanisterRequestTimeout = 206,
  CanisterOutOfCycles = 207,
  CertifiedStateUnavailable = 208,
  CanisterInstallCodeRateLimited = 209,
  CanisterHeapDeltaRateLimited = 210,
  CanisterNotFound = 301,
  CanisterSnapshotNotFound = 305,
  InsufficientMemoryAllocation = 402,
  InsufficientCyclesForCreateCanister = 403,
  SubnetNotFound = 404,
  CanisterNotHostedBySubnet = 405,
  CanisterRejectedMessage = 406,
  UnknownManagementMessage = 407,
  InvalidManagementPayload = 408,
  CanisterTrapped = 502,
  CanisterCalledTrap = 503,
  CanisterContractViolation = 504,
  CanisterInvalidWasm = 505,
  CanisterDidNotReply = 506,
  CanisterOutOfMemory = 507,
  CanisterStopped = 508,
  CanisterStopping = 509,
  CanisterNotStopped = 510,
  CanisterStoppingCancelled = 511,
  CanisterInvalidController = 512,
  CanisterFunctionNotFound = 513,
  CanisterNonEmpty = 514,
  QueryCallGraphLoopDetected = 517,
  InsufficientCyclesInCall = 520,
  CanisterWasmEngineError = 521,
  CanisterInstructionLimitExceeded = 522,
  CanisterMemoryAccessLimitExceeded = 524,
  QueryCallGraphTooDeep = 525,
  QueryCallGraphTotalInstructionLimitExceeded = 526,
  CompositeQueryCalledInReplicatedMode = 527,
  QueryTimeLimitExceeded = 528,
  QueryCallGraphInternal = 529,
  InsufficientCyclesInComputeAllocation = 530,
  InsufficientCyclesInMemoryAllocation = 531,
  InsufficientCyclesInMemoryGrow = 532,
  ReservedCyclesLimitExceededInMemoryAllocation = 533,
  ReservedCyclesLimitExceededInMemoryGrow = 534,
  InsufficientCyclesInMessageMemoryGrow = 535,
  CanisterMethodNotFound = 536,
  CanisterWasmModuleNotFound = 537,
  CanisterAlreadyInstalled = 538,
  CanisterWasmMemoryLimitExceeded = 539,
  ReservedCyclesLimitIsTooLow = 540,
  DeadlineExpired = 601,
  ResponseDropped = 602,
}

/** The reject code implied by an error code's hundreds digit, as in the replica. */
export function rejectCodeOf(code: ErrorCode): RejectCode {
  return Math.floor(code / 100) as RejectCode;
}

/** "IC0503" etc., the form clients print. */
export function formatErrorCode(code: ErrorCode): string {
  return `IC${String(code).padStart(4, '0')}`;
}

/**
 * A failure of a canister or of a user's request: a value, reported to the caller with an
 * IC reject code and error code. Never used for broken invariants of the replica itself.
 */
export class CanisterError extends Error {
  override readonly name = 'CanisterError';
  constructor(
    readonly code: ErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
  get rejectCode(): RejectCode {
    return rejectCodeOf(this.code);
  }
  get errorCode(): string {
    return formatErrorCode(this.code);
  }
}
