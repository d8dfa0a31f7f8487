// What a command prints: a human-readable text, or with --json one JSON document on stdout.
// Progress notes and errors go to stderr in both modes, so stdout stays parseable.

export interface Io {
  readonly stdout: (text: string) => void;
  readonly stderr: (text: string) => void;
}

export const processIo: Io = {
  stdout: (text) => void process.stdout.write(text),
  stderr: (text) => void process.stderr.write(text),
};

/** JSON with bigints as decimal strings and byte arrays as hex. */
export function toJsonText(value: unknown): string {
  return JSON.stringify(
    value,
    (_key, v: unknown) => {
      if (typeof v === 'bigint') return v.toString();
      if (v instanceof Uint8Array) return Buffer.from(v).toString('hex');
      return v;
    },
    2,
  );
}

export class Output {
  constructor(
    readonly json: boolean,
    private readonly io: Io,
  ) {}

  /** The command's result: `json` in --json mode, `text` (lines) otherwise. */
  result(json: unknown, text: string | readonly string[]): void {
    if (this.json) this.io.stdout(`${toJsonText(json)}\n`);
    else this.io.stdout(`${typeof text === 'string' ? text : text.join('\n')}\n`);
  }

  /** A progress note on stderr. */
  note(text: string): void {
    this.io.stderr(`${text}\n`);
  }
}
