// Errors of the Candid text tools: text that does not parse, and values that do not fit the
// type they are checked against.

export class CandidSyntaxError extends Error {
  override readonly name = 'CandidSyntaxError';
  readonly code = 'CANDID_SYNTAX';
  readonly line: number;
  readonly column: number;

  constructor(message: string, source: string, at: number) {
    const before = source.slice(0, at);
    const line = before.split('\n').length;
    const column = at - before.lastIndexOf('\n');
    super(source.includes('\n') ? `${message} (line ${line}, column ${column})` : `${message} (at column ${column})`);
    this.line = line;
    this.column = column;
  }
}

export class CandidTypeError extends Error {
  override readonly name = 'CandidTypeError';
  readonly code = 'CANDID_TYPE';
}
