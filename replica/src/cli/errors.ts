// Failures of a CLI command, each with the exit code it ends the process with.

export const EXIT_OK = 0;
/** The IC refused or rejected the request (or a certificate did not verify). */
export const EXIT_FAILED = 1;
/** The command line is wrong: unknown command or option, bad Candid text, unreadable file. */
export const EXIT_USAGE = 2;
/** The replica could not be reached. */
export const EXIT_UNREACHABLE = 3;

export class CliError extends Error {
  override readonly name: string = 'CliError';
  readonly exitCode: number = EXIT_FAILED;
  /** A hint printed under the message: what to do about it. */
  readonly hint: string | undefined;

  constructor(message: string, options: { hint?: string; cause?: unknown } = {}) {
    super(message, { cause: options.cause });
    this.hint = options.hint;
  }
}

export class UsageError extends CliError {
  override readonly name = 'UsageError';
  override readonly exitCode = EXIT_USAGE;
}

export class UnreachableError extends CliError {
  override readonly name = 'UnreachableError';
  override readonly exitCode = EXIT_UNREACHABLE;
}
