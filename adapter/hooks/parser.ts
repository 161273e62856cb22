import type { FieldAccess } from '../core/regs/describe';
import type {
  AssignOperator,
  BinaryOperator,
  DeviceDecl,
  Expr,
  FieldDecl,
  HookDecl,
  HookTarget,
  Program,
  RegisterDecl,
  Stmt,
  Template,
  TopLevel,
  ValueFormat,
} from './ast';
import type { Diagnostic, SourceRange } from './diagnostics';
import { spanning } from './diagnostics';
import type { Token } from './lexer';
import { tokenize } from './lexer';

class ParseError extends Error {}

const ASSIGN_OPERATORS = new Set(['=', '+=', '-=', '*=', '/=', '%=', '&=', '|=', '^=', '<<=', '>>=']);
const ACCESS_KEYWORDS: Record<string, FieldAccess> = {
  ro: 'RO',
  rw: 'RW',
  wo: 'WO',
  w1c: 'W1C',
  w1s: 'W1S',
  rc: 'RC',
  rsvd: 'RSVD',
};
const FORMATS = new Set<ValueFormat>(['x', 'd', 'b', 'fields']);

/** Binary operators from loosest to tightest binding. Bit operators bind tighter than comparisons. */
const PRECEDENCE: readonly (readonly BinaryOperator[])[] = [
  ['||'],
  ['&&'],
  ['==', '!=', '<', '<=', '>', '>='],
  ['|'],
  ['^'],
  ['&'],
  ['<<', '>>'],
  ['+', '-'],
  ['*', '/', '%'],
];

export interface ParseResult {
  readonly program: Program;
  readonly diagnostics: Diagnostic[];
}

export function parse(source: string): ParseResult {
  const diagnostics: Diagnostic[] = [];
  const tokens = tokenize(source, diagnostics);
  const parser = new Parser(tokens, diagnostics);
  return { program: parser.program(), diagnostics };
}

/** Parses one expression (a watchpoint condition). */
export function parseExpression(source: string): { expr: Expr | undefined; diagnostics: Diagnostic[] } {
  const diagnostics: Diagnostic[] = [];
  const parser = new Parser(tokenize(source, diagnostics), diagnostics);
  try {
    const expr = parser.expression();
    if (!parser.atEof()) parser.fail(`unexpected ${describe(parser.peek())} after the expression`, parser.peek().range);
    return { expr, diagnostics };
  } catch (e) {
    if (!(e instanceof ParseError)) throw e;
    return { expr: undefined, diagnostics };
  }
}

class Parser {
  private index = 0;

  constructor(
    private readonly tokens: readonly Token[],
    private readonly diagnostics: Diagnostic[],
  ) {}

  program(): Program {
    const items: TopLevel[] = [];
    while (!this.atEof()) {
      const before = this.index;
      try {
        items.push(this.topLevel());
      } catch (e) {
        if (!(e instanceof ParseError)) throw e;
        this.recoverTopLevel(before);
      }
    }
    return { items };
  }

  private recoverTopLevel(before: number): void {
    if (this.index === before) this.index++;
    while (!this.atEof()) {
      const t = this.peek();
      if (
        t.kind === 'ident' &&
        (t.text === 'on' || t.text === 'device' || t.text === 'var') &&
        t.range.start.column === 1
      ) {
        return;
      }
      this.index++;
    }
  }

  private topLevel(): TopLevel {
    const t = this.peek();
    if (this.isWord('on')) return this.hook();
    if (this.isWord('device')) return this.device();
    if (this.isWord('var')) {
      const start = this.next();
      const name = this.expectIdent('a variable name');
      this.expectPunct('=');
      const init = this.expression();
      return { kind: 'state', name: name.text, nameRange: name.range, init, range: spanning(start.range, init.range) };
    }
    return this.fail(`expected 'on', 'device' or 'var' at top level, found ${describe(t)}`, t.range);
  }

  private hook(): HookDecl {
    const start = this.next();
    let onRead = false;
    let onWrite = false;
    do {
      const direction = this.expectIdent("'read', 'write' or 'access'");
      if (direction.text === 'read') onRead = true;
      else if (direction.text === 'write') onWrite = true;
      else if (direction.text === 'access') onRead = onWrite = true;
      else this.fail(`expected 'read', 'write' or 'access', found '${direction.text}'`, direction.range);
    } while (this.acceptPunct('|'));
    const targetStart = this.peek();
    const target = this.target();
    const targetRange = spanning(targetStart.range, this.previous().range);
    const { body, close } = this.block();
    return {
      kind: 'hook',
      onRead,
      onWrite,
      target,
      targetRange,
      body,
      endRange: close,
      range: spanning(start.range, close),
    };
  }

  private target(): HookTarget {
    const t = this.peek();
    if (this.isWord('port') || t.kind === 'number') {
      const space = this.isWord('port') ? 'pio' : 'mmio';
      if (space === 'pio') this.next();
      const address = this.expectNumber(space === 'pio' ? 'a port number' : 'an address');
      let length = space === 'pio' ? 1 : 4;
      if (this.isWord('len')) {
        this.next();
        length = this.expectNumber('a length in bytes');
      }
      const limit = space === 'pio' ? 0x10000 : 0x1_0000_0000;
      if (length <= 0 || address + length > limit) {
        this.error(
          `range 0x${address.toString(16)} len ${length} is outside the ${space === 'pio' ? 'port' : 'physical address'} space`,
          t.range,
        );
      }
      return { kind: 'range', space, address, length };
    }
    const device = this.expectIdent('a device name, an address or port');
    if (!this.acceptPunct('.')) {
      return {
        kind: 'named',
        device: device.text,
        deviceRange: device.range,
        register: undefined,
        registerRange: undefined,
      };
    }
    const register = this.expectIdent('a register name');
    return {
      kind: 'named',
      device: device.text,
      deviceRange: device.range,
      register: register.text,
      registerRange: register.range,
    };
  }

  private device(): DeviceDecl {
    const start = this.next();
    const name = this.expectIdent('a device name');
    let space: 'mmio' | 'pio' = 'mmio';
    if (this.isWord('port')) space = 'pio';
    else if (!this.isWord('at'))
      this.fail(`expected 'at ADDRESS' or 'port PORT' after the device name`, this.peek().range);
    this.next();
    const base = this.expectNumber(space === 'pio' ? 'a port number' : 'a base address');
    this.expectWord('size');
    const size = this.expectNumber('a size in bytes');
    const title = this.optionalDoc();
    this.expectPunct('{');
    const registers: RegisterDecl[] = [];
    while (!this.acceptPunct('}')) {
      if (this.atEof()) this.fail(`missing '}' to close device ${name.text}`, start.range);
      registers.push(this.register());
    }
    return {
      kind: 'device',
      name: name.text,
      space,
      base,
      size,
      title: title || name.text,
      registers,
      range: spanning(start.range, this.previous().range),
    };
  }

  private register(): RegisterDecl {
    const start = this.expectWord('register');
    const name = this.expectIdent('a register name');
    this.expectWord('at');
    const offset = this.expectNumber('a register offset');
    this.expectWord('width');
    const widthToken = this.peek();
    const width = this.expectNumber('a width in bits (8, 16, 32 or 64)');
    if (width !== 8 && width !== 16 && width !== 32 && width !== 64) {
      this.error(`register width must be 8, 16, 32 or 64 bits, not ${width}`, widthToken.range);
    }
    const access = this.optionalAccess() ?? 'RW';
    const doc = this.optionalDoc();
    const fields: FieldDecl[] = [];
    if (this.acceptPunct('{')) {
      while (!this.acceptPunct('}')) {
        if (this.atEof()) this.fail(`missing '}' to close register ${name.text}`, start.range);
        fields.push(this.field());
      }
    }
    const validWidth = width === 8 || width === 16 || width === 32 || width === 64 ? width : 32;
    return {
      name: name.text,
      offset,
      width: validWidth,
      access,
      doc,
      fields,
      range: spanning(start.range, name.range),
    };
  }

  private field(): FieldDecl {
    const start = this.expectWord('field');
    const name = this.expectIdent('a field name');
    this.expectPunct('[');
    const msb = this.expectNumber('a bit number');
    let lsb = msb;
    if (this.acceptPunct(':')) lsb = this.expectNumber('a bit number');
    this.expectPunct(']');
    const access = this.optionalAccess();
    const doc = this.optionalDoc();
    return { name: name.text, msb, lsb, access, doc, range: spanning(start.range, name.range) };
  }

  private optionalAccess(): FieldAccess | undefined {
    const t = this.peek();
    if (t.kind !== 'ident') return undefined;
    const access = ACCESS_KEYWORDS[t.text.toLowerCase()];
    if (access) this.next();
    return access;
  }

  private optionalDoc(): string {
    const t = this.peek();
    if (t.kind !== 'string') return '';
    this.next();
    return t.text;
  }

  private block(): { body: Stmt[]; close: SourceRange } {
    const open = this.expectPunct('{');
    const body: Stmt[] = [];
    for (;;) {
      if (this.acceptPunct(';')) continue;
      const t = this.peek();
      if (t.kind === 'punct' && t.text === '}') {
        this.next();
        return { body, close: t.range };
      }
      if (this.atEof()) return this.fail(`missing '}' to close the block opened here`, open.range);
      const before = this.index;
      try {
        body.push(this.statement());
      } catch (e) {
        if (!(e instanceof ParseError)) throw e;
        this.recoverStatement(before, t.range.start.line);
      }
    }
  }

  /** Skips to the next line (or closing brace) after a statement that did not parse. */
  private recoverStatement(before: number, line: number): void {
    if (this.index === before) this.index++;
    while (!this.atEof()) {
      const t = this.peek();
      if (t.range.start.line > line || (t.kind === 'punct' && t.text === '}')) return;
      this.index++;
    }
  }

  private statement(): Stmt {
    const t = this.peek();
    if (t.kind === 'ident') {
      switch (t.text) {
        case 'var': {
          this.next();
          const name = this.expectIdent('a variable name');
          this.expectPunct('=');
          const init = this.expression();
          return { kind: 'var', name: name.text, nameRange: name.range, init, range: spanning(t.range, init.range) };
        }
        case 'if':
          return this.ifStatement();
        case 'for': {
          this.next();
          const name = this.expectIdent('a loop variable name');
          this.expectWord('in');
          const from = this.expression();
          this.expectPunct('..');
          const to = this.expression();
          const { body, close } = this.block();
          return {
            kind: 'for',
            name: name.text,
            nameRange: name.range,
            from,
            to,
            body,
            range: spanning(t.range, close),
          };
        }
        case 'log': {
          this.next();
          const template = this.template();
          return { kind: 'log', template, range: spanning(t.range, template.range) };
        }
        case 'break': {
          this.next();
          const next = this.peek();
          const template = next.kind === 'string' ? this.template() : undefined;
          return { kind: 'break', template, range: template ? spanning(t.range, template.range) : t.range };
        }
        case 'emulate':
        case 'handled':
          this.next();
          return { kind: 'end', decision: t.text, range: t.range };
        case 'else':
          return this.fail(`'else' without a matching 'if'`, t.range);
      }
    }
    const target = this.postfix();
    const op = this.peek();
    if (op.kind === 'punct' && ASSIGN_OPERATORS.has(op.text)) {
      this.next();
      const value = this.expression();
      return {
        kind: 'assign',
        target,
        op: op.text as AssignOperator,
        value,
        range: spanning(target.range, value.range),
      };
    }
    if (target.kind === 'call') return { kind: 'call', call: target, range: target.range };
    return this.fail(
      `expected a statement (assignment, call, if, for, var, log, break, emulate or handled)`,
      target.range,
    );
  }

  private ifStatement(): Stmt {
    const start = this.next();
    const condition = this.expression();
    const { body: then, close } = this.block();
    let otherwise: Stmt[] | undefined;
    let end = close;
    if (this.isWord('else')) {
      this.next();
      if (this.isWord('if')) {
        const nested = this.ifStatement();
        otherwise = [nested];
        end = nested.range;
      } else {
        const block = this.block();
        otherwise = block.body;
        end = block.close;
      }
    }
    return { kind: 'if', condition, then, otherwise, range: spanning(start.range, end) };
  }

  private template(): Template {
    const token = this.next();
    if (token.kind !== 'string') return this.fail(`expected a string, found ${describe(token)}`, token.range);
    const text = token.text;
    const positions = token.charPositions!;
    const parts: Template['parts'][number][] = [];
    let literal = '';
    for (let i = 0; i < text.length; i++) {
      const ch = text[i];
      if (ch === '}' && text[i + 1] === '}') {
        literal += '}';
        i++;
        continue;
      }
      if (ch !== '{') {
        literal += ch;
        continue;
      }
      if (text[i + 1] === '{') {
        literal += '{';
        i++;
        continue;
      }
      const close = text.indexOf('}', i);
      if (close < 0) {
        this.error(`missing '}' in string interpolation`, { start: positions[i], end: token.range.end });
        break;
      }
      if (literal) parts.push(literal);
      literal = '';
      const inner = text.slice(i + 1, close);
      const colon = inner.indexOf(':');
      const exprText = colon < 0 ? inner : inner.slice(0, colon);
      let format: ValueFormat = 'default';
      if (colon >= 0) {
        const name = inner.slice(colon + 1).trim();
        if (FORMATS.has(name as ValueFormat)) format = name as ValueFormat;
        else {
          this.error(`unknown format '${name}' (use x, d, b or fields)`, {
            start: positions[i + 1 + colon],
            end: positions[close],
          });
        }
      }
      const innerTokens = tokenize(exprText, this.diagnostics, positions.slice(i + 1, i + 1 + exprText.length + 1));
      const sub = new Parser(innerTokens, this.diagnostics);
      try {
        if (sub.atEof()) sub.fail('empty interpolation {} in string', { start: positions[i], end: positions[close] });
        const expr = sub.expression();
        if (!sub.atEof()) sub.fail(`unexpected ${describe(sub.peek())} in interpolation`, sub.peek().range);
        parts.push({ expr, format });
      } catch (e) {
        if (!(e instanceof ParseError)) throw e;
      }
      i = close;
    }
    if (literal) parts.push(literal);
    return { parts, range: token.range };
  }

  expression(level = 0): Expr {
    if (level === PRECEDENCE.length) return this.unary();
    const operators = PRECEDENCE[level];
    let left = this.expression(level + 1);
    for (;;) {
      const t = this.peek();
      if (t.kind !== 'punct' || !operators.includes(t.text as BinaryOperator)) return left;
      this.next();
      const right = this.expression(level + 1);
      left = { kind: 'binary', op: t.text as BinaryOperator, left, right, range: spanning(left.range, right.range) };
      if (level === 2) {
        const after = this.peek();
        if (after.kind === 'punct' && operators.includes(after.text as BinaryOperator)) {
          this.fail(`comparisons cannot be chained; use && between them`, after.range);
        }
      }
    }
  }

  private unary(): Expr {
    const t = this.peek();
    if (t.kind === 'punct' && (t.text === '-' || t.text === '~' || t.text === '!')) {
      this.next();
      const operand = this.unary();
      return { kind: 'unary', op: t.text, operand, range: spanning(t.range, operand.range) };
    }
    return this.postfix();
  }

  private postfix(): Expr {
    let expr = this.primary();
    for (;;) {
      if (this.acceptPunct('.')) {
        const member = this.expectIdent('a field or method name');
        expr = {
          kind: 'member',
          object: expr,
          member: member.text,
          memberRange: member.range,
          range: spanning(expr.range, member.range),
        };
        continue;
      }
      const t = this.peek();
      if (t.kind === 'punct' && t.text === '(') {
        this.next();
        const args: Expr[] = [];
        if (!this.acceptPunct(')')) {
          do args.push(this.expression());
          while (this.acceptPunct(','));
          this.expectPunct(')');
        }
        expr = { kind: 'call', callee: expr, args, range: spanning(expr.range, this.previous().range) };
        continue;
      }
      return expr;
    }
  }

  private primary(): Expr {
    const t = this.next();
    if (t.kind === 'number') return { kind: 'number', value: t.value!, range: t.range };
    if (t.kind === 'ident') {
      if (t.text === 'true' || t.text === 'false') return { kind: 'bool', value: t.text === 'true', range: t.range };
      return { kind: 'name', name: t.text, range: t.range };
    }
    if (t.kind === 'punct' && t.text === '(') {
      const inner = this.expression();
      this.expectPunct(')');
      return inner;
    }
    return this.fail(`expected an expression, found ${describe(t)}`, t.range);
  }

  peek(): Token {
    return this.tokens[this.index];
  }

  private previous(): Token {
    return this.tokens[Math.max(0, this.index - 1)];
  }

  private next(): Token {
    const t = this.tokens[this.index];
    if (t.kind !== 'eof') this.index++;
    return t;
  }

  atEof(): boolean {
    return this.peek().kind === 'eof';
  }

  private isWord(word: string): boolean {
    const t = this.peek();
    return t.kind === 'ident' && t.text === word;
  }

  private acceptPunct(text: string): boolean {
    const t = this.peek();
    if (t.kind === 'punct' && t.text === text) {
      this.index++;
      return true;
    }
    return false;
  }

  private expectPunct(text: string): Token {
    const t = this.peek();
    if (t.kind === 'punct' && t.text === text) return this.next();
    return this.fail(`expected '${text}', found ${describe(t)}`, t.range);
  }

  private expectWord(word: string): Token {
    if (this.isWord(word)) return this.next();
    const t = this.peek();
    return this.fail(`expected '${word}', found ${describe(t)}`, t.range);
  }

  private expectIdent(what: string): Token {
    const t = this.peek();
    if (t.kind === 'ident') return this.next();
    return this.fail(`expected ${what}, found ${describe(t)}`, t.range);
  }

  private expectNumber(what: string): number {
    const t = this.peek();
    if (t.kind !== 'number') return this.fail(`expected ${what}, found ${describe(t)}`, t.range);
    this.next();
    if (t.value! > 0xffff_ffffn) this.error(`${t.text} is too large here (at most 0xffffffff)`, t.range);
    return Number(t.value! & 0xffff_ffffn);
  }

  private error(message: string, range: SourceRange): void {
    this.diagnostics.push({ severity: 'error', message, range });
  }

  fail(message: string, range: SourceRange): never {
    this.error(message, range);
    throw new ParseError(message);
  }
}

function describe(t: Token): string {
  switch (t.kind) {
    case 'eof':
      return 'the end of the file';
    case 'string':
      return 'a string';
    case 'number':
      return `number ${t.text}`;
    default:
      return `'${t.text}'`;
  }
}
