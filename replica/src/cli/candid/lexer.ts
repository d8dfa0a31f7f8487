// Tokens of the Candid text format (Candid spec, "Lexical syntax"): identifiers and keywords,
// naturals (decimal, hex, with `_` separators), floats, text literals with escapes, symbols, and
// `//` and nested `/* */` comments.

import { CandidSyntaxError } from './errors.js';

export type Token =
  | { readonly kind: 'id'; readonly value: string; readonly at: number }
  | { readonly kind: 'nat'; readonly value: string; readonly at: number }
  | { readonly kind: 'float'; readonly value: string; readonly at: number }
  /** Text literals are byte strings: `blob "\00\ff"` may hold any bytes. */
  | { readonly kind: 'text'; readonly value: Uint8Array; readonly at: number }
  | { readonly kind: 'sym'; readonly value: string; readonly at: number }
  | { readonly kind: 'eof'; readonly at: number };

const SYMBOLS = ['->', '(', ')', '{', '}', ';', ':', ',', '=', '.', '-', '+'];

function isIdStart(c: string): boolean {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c === '_';
}

function isIdPart(c: string): boolean {
  return isIdStart(c) || (c >= '0' && c <= '9');
}

function isDigit(c: string): boolean {
  return c >= '0' && c <= '9';
}

export function tokenize(source: string): Token[] {
  const tokens: Token[] = [];
  const utf8 = new TextEncoder();
  let i = 0;
  const fail = (message: string, at = i): never => {
    throw new CandidSyntaxError(message, source, at);
  };

  while (i < source.length) {
    const c = source[i]!;
    if (c === ' ' || c === '\t' || c === '\n' || c === '\r') {
      i++;
      continue;
    }
    if (source.startsWith('//', i)) {
      while (i < source.length && source[i] !== '\n') i++;
      continue;
    }
    if (source.startsWith('/*', i)) {
      const start = i;
      let depth = 0;
      do {
        if (source.startsWith('/*', i)) {
          depth++;
          i += 2;
        } else if (source.startsWith('*/', i)) {
          depth--;
          i += 2;
        } else if (i >= source.length) {
          fail('unterminated comment', start);
        } else {
          i++;
        }
      } while (depth > 0);
      continue;
    }
    const at = i;
    if (isIdStart(c)) {
      while (i < source.length && isIdPart(source[i]!)) i++;
      tokens.push({ kind: 'id', value: source.slice(at, i), at });
      continue;
    }
    if (isDigit(c)) {
      if (source.startsWith('0x', i) || source.startsWith('0X', i)) {
        i += 2;
        while (i < source.length && /[0-9a-fA-F_]/.test(source[i]!)) i++;
        tokens.push({ kind: 'nat', value: source.slice(at, i).replace(/_/g, ''), at });
        continue;
      }
      let float = false;
      while (i < source.length && (isDigit(source[i]!) || source[i] === '_')) i++;
      if (source[i] === '.' && isDigit(source[i + 1] ?? '')) {
        float = true;
        i++;
        while (i < source.length && (isDigit(source[i]!) || source[i] === '_')) i++;
      }
      if ((source[i] === 'e' || source[i] === 'E') && /[0-9+-]/.test(source[i + 1] ?? '')) {
        float = true;
        i++;
        if (source[i] === '+' || source[i] === '-') i++;
        while (i < source.length && isDigit(source[i]!)) i++;
      }
      tokens.push({ kind: float ? 'float' : 'nat', value: source.slice(at, i).replace(/_/g, ''), at });
      continue;
    }
    if (c === '"') {
      i++;
      const bytes: number[] = [];
      for (;;) {
        if (i >= source.length) fail('unterminated text literal', at);
        const ch = source[i]!;
        if (ch === '"') {
          i++;
          break;
        }
        if (ch !== '\\') {
          const cp = source.codePointAt(i)!;
          const s = String.fromCodePoint(cp);
          bytes.push(...utf8.encode(s));
          i += s.length;
          continue;
        }
        const e = source[i + 1];
        i += 2;
        switch (e) {
          case 'n': bytes.push(0x0a); break;
          case 'r': bytes.push(0x0d); break;
          case 't': bytes.push(0x09); break;
          case '\\': bytes.push(0x5c); break;
          case '"': bytes.push(0x22); break;
          case "'": bytes.push(0x27); break;
          case 'u': {
            const m = /^\{([0-9a-fA-F_]+)\}/.exec(source.slice(i));
            if (!m) fail('expected \\u{hex} escape', i - 2);
            const cp = parseInt(m![1]!.replace(/_/g, ''), 16);
            if (cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) fail(`\\u{${m![1]}} is not a Unicode scalar value`, i - 2);
            bytes.push(...utf8.encode(String.fromCodePoint(cp)));
            i += m![0].length;
            break;
          }
          default: {
            const hex = source.slice(i - 1, i + 1);
            if (!/^[0-9a-fA-F]{2}$/.test(hex)) fail(`unknown escape \\${e ?? ''}`, i - 2);
            bytes.push(parseInt(hex, 16));
            i += 1;
          }
        }
      }
      tokens.push({ kind: 'text', value: Uint8Array.from(bytes), at });
      continue;
    }
    const sym = SYMBOLS.find((s) => source.startsWith(s, i));
    if (sym === undefined) fail(`unexpected character '${c}'`);
    i += sym!.length;
    tokens.push({ kind: 'sym', value: sym!, at });
  }
  tokens.push({ kind: 'eof', at: source.length });
  return tokens;
}

/** A cursor over tokens with the helpers both parsers (types and values) use. */
export class TokenStream {
  #pos = 0;

  constructor(
    readonly tokens: readonly Token[],
    readonly source: string,
  ) {}

  static of(source: string): TokenStream {
    return new TokenStream(tokenize(source), source);
  }

  peek(offset = 0): Token {
    return this.tokens[Math.min(this.#pos + offset, this.tokens.length - 1)]!;
  }

  next(): Token {
    const t = this.peek();
    if (this.#pos < this.tokens.length - 1) this.#pos++;
    return t;
  }

  isSym(value: string, offset = 0): boolean {
    const t = this.peek(offset);
    return t.kind === 'sym' && t.value === value;
  }

  isId(value?: string, offset = 0): boolean {
    const t = this.peek(offset);
    return t.kind === 'id' && (value === undefined || t.value === value);
  }

  acceptSym(value: string): boolean {
    if (!this.isSym(value)) return false;
    this.next();
    return true;
  }

  acceptId(value: string): boolean {
    if (!this.isId(value)) return false;
    this.next();
    return true;
  }

  expectSym(value: string): void {
    if (!this.acceptSym(value)) this.fail(`expected '${value}'`);
  }

  expectId(value?: string): string {
    const t = this.peek();
    if (t.kind !== 'id' || (value !== undefined && t.value !== value)) this.fail(value ? `expected '${value}'` : 'expected an identifier');
    this.next();
    return (t as { value: string }).value;
  }

  /** A name: an identifier or a quoted text (Candid `<name>`). */
  expectName(): string {
    const t = this.peek();
    if (t.kind === 'id') {
      this.next();
      return t.value;
    }
    if (t.kind === 'text') {
      this.next();
      return decodeUtf8(t.value, this);
    }
    return this.fail('expected a name');
  }

  atEnd(): boolean {
    return this.peek().kind === 'eof';
  }

  fail(message: string, at = this.peek().at): never {
    const t = this.peek();
    const found = t.kind === 'eof' ? 'end of input' : `'${this.source.slice(t.at, t.at + 20).split(/\s/)[0]}'`;
    throw new CandidSyntaxError(`${message}, found ${found}`, this.source, at);
  }
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

export function decodeUtf8(bytes: Uint8Array, at?: TokenStream): string {
  try {
    return strictUtf8.decode(bytes);
  } catch {
    if (at) at.fail('text is not valid UTF-8');
    throw new CandidSyntaxError('text is not valid UTF-8', '', 0);
  }
}
