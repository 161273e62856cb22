/**
 * Expressions for the watch, repl and hover contexts: numbers (hex, decimal), CPU registers (`eax`, `eflags.ZF`),
 * device registers and fields (`hpet.GCAP_ID`, `hpet.GCAP_ID.NUM_TIM_CAP`), memory (`[0xfed00000]` reads a dword,
 * `byte [..]`, `word [..]`, `dword [..]`, `phys [..]` for a physical address) and the C operators
 * + - * / % & | ^ << >> ~ with parentheses. Memory is read on the debugger's path: no device side effects.
 */
import { invalidArgument } from './errors';

export interface EvalValue {
  readonly value: bigint;
  readonly bits: number;
  /** `hpet.GCAP_ID` when the expression is exactly a device register (its fields can be shown). */
  readonly register?: string;
}

export interface EvalEnvironment {
  /** A CPU register or one of its named bits (`eflags.ZF`, `cr0.PG`). */
  cpuRegister(name: string): EvalValue | undefined;
  /** `device.REGISTER` or `device.REGISTER.FIELD`, peeked. */
  deviceName(path: string): EvalValue | undefined;
  readMemory(address: number, size: 1 | 2 | 4, physical: boolean): bigint | undefined;
}

type Token = { kind: 'num'; value: bigint } | { kind: 'name'; text: string } | { kind: 'op'; text: string };

const OPERATORS = ['<<', '>>', '+', '-', '*', '/', '%', '&', '|', '^', '~', '(', ')', '[', ']'];

function tokenize(text: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  while (i < text.length) {
    const c = text[i];
    if (/\s/.test(c)) {
      i++;
      continue;
    }
    const num = /^(0x[0-9a-f_]+|0b[01_]+|[0-9][0-9_]*)/i.exec(text.slice(i));
    if (num) {
      out.push({ kind: 'num', value: BigInt(num[1].replace(/_/g, '')) });
      i += num[1].length;
      continue;
    }
    const name = /^[a-z_$][\w$]*(\.[a-z_$][\w$]*)*/i.exec(text.slice(i));
    if (name) {
      out.push({ kind: 'name', text: name[0] });
      i += name[0].length;
      continue;
    }
    const op = OPERATORS.find((o) => text.startsWith(o, i));
    if (!op) throw invalidArgument(`unexpected "${c}" at column ${i + 1} in "${text}"`);
    out.push({ kind: 'op', text: op });
    i += op.length;
  }
  return out;
}

const U64 = (1n << 64n) - 1n;
const BINARY: { ops: string[] }[] = [
  { ops: ['|'] },
  { ops: ['^'] },
  { ops: ['&'] },
  { ops: ['<<', '>>'] },
  { ops: ['+', '-'] },
  { ops: ['*', '/', '%'] },
];

class Parser {
  private pos = 0;
  constructor(
    private readonly tokens: Token[],
    private readonly env: EvalEnvironment,
    private readonly source: string,
  ) {}

  parse(): EvalValue {
    if (this.tokens.length === 0) throw invalidArgument('empty expression');
    const v = this.binary(0);
    if (this.pos < this.tokens.length)
      throw invalidArgument(`unexpected ${this.describe(this.tokens[this.pos])} in "${this.source}"`);
    return v;
  }

  private describe(t: Token): string {
    return t.kind === 'num' ? `number ${t.value}` : `"${t.text}"`;
  }

  private peekOp(): string | undefined {
    const t = this.tokens[this.pos];
    return t?.kind === 'op' ? t.text : undefined;
  }

  private expect(op: string): void {
    if (this.peekOp() !== op) throw invalidArgument(`expected "${op}" in "${this.source}"`);
    this.pos++;
  }

  private binary(level: number): EvalValue {
    if (level >= BINARY.length) return this.unary();
    let left = this.binary(level + 1);
    for (;;) {
      const op = this.peekOp();
      if (op === undefined || !BINARY[level].ops.includes(op)) return left;
      this.pos++;
      const right = this.binary(level + 1);
      left = { value: apply(op, left.value, right.value), bits: Math.max(left.bits, right.bits) };
    }
  }

  private unary(): EvalValue {
    const op = this.peekOp();
    if (op === '~' || op === '-' || op === '+') {
      this.pos++;
      const v = this.unary();
      const mask = (1n << BigInt(v.bits)) - 1n;
      const value = op === '~' ? ~v.value & mask : op === '-' ? -v.value & mask : v.value;
      return { value, bits: v.bits };
    }
    return this.primary();
  }

  private memory(size: 1 | 2 | 4, physical: boolean): EvalValue {
    this.expect('[');
    const address = this.binary(0);
    this.expect(']');
    if (address.value > 0xffffffffn) throw invalidArgument(`address 0x${address.value.toString(16)} is beyond 4 GiB`);
    const value = this.env.readMemory(Number(address.value), size, physical);
    if (value === undefined) {
      throw invalidArgument(
        `${physical ? 'physical' : 'linear'} address 0x${address.value.toString(16)} is not mapped`,
      );
    }
    return { value, bits: size * 8 };
  }

  private primary(): EvalValue {
    const t = this.tokens[this.pos];
    if (!t) throw invalidArgument(`"${this.source}" ends too early`);
    if (t.kind === 'num') {
      this.pos++;
      return { value: t.value & U64, bits: t.value > 0xffffffffn ? 64 : 32 };
    }
    if (t.kind === 'op') {
      if (t.text === '(') {
        this.pos++;
        const v = this.binary(0);
        this.expect(')');
        return v;
      }
      if (t.text === '[') return this.memory(4, false);
      throw invalidArgument(`unexpected "${t.text}" in "${this.source}"`);
    }
    this.pos++;
    const lower = t.text.toLowerCase();
    const sizes: Record<string, 1 | 2 | 4> = { byte: 1, word: 2, dword: 4 };
    const size = sizes[lower];
    if (size !== undefined || lower === 'phys') {
      let physical = lower === 'phys';
      let width = size ?? 4;
      const next = this.tokens[this.pos];
      if (size !== undefined && next?.kind === 'name' && next.text.toLowerCase() === 'phys') {
        physical = true;
        this.pos++;
      } else if (lower === 'phys' && next?.kind === 'name' && sizes[next.text.toLowerCase()] !== undefined) {
        width = sizes[next.text.toLowerCase()];
        this.pos++;
      }
      return this.memory(width, physical);
    }
    const value = this.env.cpuRegister(t.text) ?? this.env.deviceName(t.text);
    if (!value)
      throw invalidArgument(
        `unknown name "${t.text}": use a register (eax), a device register (hpet.GCAP_ID) or [address]`,
      );
    return value;
  }
}

function apply(op: string, a: bigint, b: bigint): bigint {
  switch (op) {
    case '+':
      return (a + b) & U64;
    case '-':
      return (a - b) & U64;
    case '*':
      return (a * b) & U64;
    case '/':
    case '%':
      if (b === 0n) throw invalidArgument('division by zero');
      return op === '/' ? a / b : a % b;
    case '&':
      return a & b;
    case '|':
      return a | b;
    case '^':
      return a ^ b;
    case '<<':
      return b >= 64n ? 0n : (a << b) & U64;
    case '>>':
      return b >= 64n ? 0n : a >> b;
    default:
      throw invalidArgument(`unknown operator ${op}`);
  }
}

export function evaluateExpression(text: string, env: EvalEnvironment): EvalValue {
  return new Parser(tokenize(text), env, text.trim()).parse();
}
