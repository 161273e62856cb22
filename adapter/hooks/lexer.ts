import type { Diagnostic, Position, SourceRange } from './diagnostics';

export type TokenKind = 'ident' | 'number' | 'string' | 'punct' | 'eof';

export interface Token {
  readonly kind: TokenKind;
  /** Identifier name, punctuation text, or the raw string contents (between the quotes, escapes resolved). */
  readonly text: string;
  readonly value?: bigint;
  readonly range: SourceRange;
  /** For strings: the position of each character of `text` in the source, so interpolations can be located. */
  readonly charPositions?: readonly Position[];
}

const PUNCTUATION = [
  '<<=',
  '>>=',
  '==',
  '!=',
  '<=',
  '>=',
  '<<',
  '>>',
  '&&',
  '||',
  '+=',
  '-=',
  '*=',
  '/=',
  '%=',
  '&=',
  '|=',
  '^=',
  '..',
  '{',
  '}',
  '(',
  ')',
  '[',
  ']',
  ',',
  '.',
  ':',
  ';',
  '=',
  '<',
  '>',
  '+',
  '-',
  '*',
  '/',
  '%',
  '&',
  '|',
  '^',
  '~',
  '!',
];

const MAX_U64 = (1n << 64n) - 1n;

export function tokenize(source: string, diagnostics: Diagnostic[], origin?: readonly Position[]): Token[] {
  const tokens: Token[] = [];
  let offset = 0;
  let line = 1;
  let column = 1;

  const here = (): Position => origin?.[offset] ?? { line, column, offset };
  const advance = (count: number): void => {
    for (let i = 0; i < count; i++) {
      if (source[offset] === '\n') {
        line++;
        column = 1;
      } else {
        column++;
      }
      offset++;
    }
  };
  const error = (message: string, start: Position): void => {
    diagnostics.push({ severity: 'error', message, range: { start, end: here() } });
  };

  while (offset < source.length) {
    const c = source[offset];
    if (c === ' ' || c === '\t' || c === '\r' || c === '\n') {
      advance(1);
      continue;
    }
    if (c === '#' || (c === '/' && source[offset + 1] === '/')) {
      while (offset < source.length && source[offset] !== '\n') advance(1);
      continue;
    }
    const start = here();
    if (/[A-Za-z_]/.test(c)) {
      const match = /^[A-Za-z_][A-Za-z0-9_]*/.exec(source.slice(offset))![0];
      advance(match.length);
      tokens.push({ kind: 'ident', text: match, range: { start, end: here() } });
      continue;
    }
    if (/[0-9]/.test(c)) {
      const match = /^(0[xX][0-9A-Fa-f_]+|0[bB][01_]+|[0-9][0-9_]*)[A-Za-z0-9_]*/.exec(source.slice(offset))![0];
      advance(match.length);
      const digits = match.replace(/_/g, '');
      let value: bigint | undefined;
      try {
        value = BigInt(digits);
      } catch {
        error(`malformed number '${match}'`, start);
      }
      if (value !== undefined && value > MAX_U64) {
        error(`number ${match} does not fit in 64 bits`, start);
        value = value & MAX_U64;
      }
      tokens.push({ kind: 'number', text: match, value: value ?? 0n, range: { start, end: here() } });
      continue;
    }
    if (c === '"') {
      advance(1);
      let text = '';
      const positions: Position[] = [];
      let closed = false;
      while (offset < source.length && source[offset] !== '\n') {
        const ch = source[offset];
        if (ch === '"') {
          advance(1);
          closed = true;
          break;
        }
        positions.push(here());
        if (ch === '\\') {
          const next = source[offset + 1];
          const escaped = next === 'n' ? '\n' : next === 't' ? '\t' : next === '"' || next === '\\' ? next : undefined;
          if (escaped === undefined) {
            error(`unknown escape '\\${next ?? ''}' in string`, here());
            advance(1);
            continue;
          }
          text += escaped;
          advance(2);
          continue;
        }
        text += ch;
        advance(1);
      }
      if (!closed) error('unterminated string', start);
      positions.push(here());
      tokens.push({ kind: 'string', text, range: { start, end: here() }, charPositions: positions });
      continue;
    }
    const punct = PUNCTUATION.find((p) => source.startsWith(p, offset));
    if (punct) {
      advance(punct.length);
      tokens.push({ kind: 'punct', text: punct, range: { start, end: here() } });
      continue;
    }
    advance(1);
    error(`unexpected character '${c}'`, start);
  }
  const end = here();
  tokens.push({ kind: 'eof', text: '', range: { start: end, end } });
  return tokens;
}
