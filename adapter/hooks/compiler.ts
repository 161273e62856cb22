import type { RegisterDescription } from '../core/regs/describe';
import { decodeFields, findField, formatHex } from '../core/regs/describe';
import type { Expr, Stmt, Template } from './ast';
import { evaluateBinary, HookRuntimeError } from './checker';
import type { AccessInfoName, CheckedHook, CheckedProgram, Type } from './types';

const U64 = (1n << 64n) - 1n;

/** Loop iterations one hook run may take in total before it is stopped and disabled. */
export const DEFAULT_STEP_BUDGET = 100_000;

export const enum Ending {
  Continue = 0,
  Emulate = 1,
  Handled = 2,
}

/** Virtual-machine state a hook may read. */
export interface AccessContext {
  eip(): number;
  cpl(): number;
  /** Virtual time in nanoseconds. */
  now(): number;
  /**
   * Whether the access in progress can still be rolled back (the CPU is inside an instruction it can restart):
   * then watchpoints stop before the access; otherwise after it. Without this method, stops come after.
   */
  canStopBeforeAccess?(): boolean;
}

/** One run of a hook for one part of an access. Values are in the hook's register coordinates. */
export interface Frame {
  value: bigint;
  readonly locals: (bigint | boolean)[];
  readonly state: (bigint | boolean)[];
  readonly address: number;
  /** Byte offset of this part within the hook's register or range. */
  readonly offset: number;
  readonly size: number;
  readonly isWrite: boolean;
  readonly hits: number;
  readonly context: AccessContext;
  budget: number;
  /** The real device access for this part; `read` returns register coordinates, `write` takes them. */
  deviceRead(): bigint;
  deviceWrite(value: bigint): void;
  log(message: string): void;
  requestBreak(reason: string): void;
}

type Evaluate = (f: Frame) => bigint | boolean;
type Execute = (f: Frame) => Ending;

export interface CompiledHook {
  readonly checked: CheckedHook;
  readonly run: (f: Frame) => Ending;
}

export function compileProgram(program: CheckedProgram): CompiledHook[] {
  const compiler = new Compiler(program);
  return program.hooks.map((hook) => ({ checked: hook, run: compiler.hook(hook) }));
}

/** Compiles one checked expression (used by watchpoint conditions). */
export function compileExpression(
  program: Pick<CheckedProgram, 'types' | 'bindings' | 'declarationSlots'>,
  expr: Expr,
): (f: Frame) => bigint | boolean {
  return new Compiler(program).expression(expr);
}

class Compiler {
  constructor(private readonly program: Pick<CheckedProgram, 'types' | 'bindings' | 'declarationSlots'>) {}

  hook(hook: CheckedHook): (f: Frame) => Ending {
    const body = this.block(hook.decl.body);
    return (f) => {
      const ending = body(f);
      return ending === Ending.Continue ? Ending.Emulate : ending;
    };
  }

  private block(stmts: readonly Stmt[]): Execute {
    const compiled = stmts.map((s) => this.statement(s));
    if (compiled.length === 1) return compiled[0];
    return (f) => {
      for (let i = 0; i < compiled.length; i++) {
        const ending = compiled[i](f);
        if (ending !== Ending.Continue) return ending;
      }
      return Ending.Continue;
    };
  }

  private statement(stmt: Stmt): Execute {
    switch (stmt.kind) {
      case 'var': {
        const slot = this.localSlot(stmt);
        const init = this.expression(stmt.init);
        return (f) => {
          f.locals[slot] = init(f);
          return Ending.Continue;
        };
      }
      case 'assign':
        return this.assignment(stmt);
      case 'call': {
        const call = this.expression(stmt.call);
        return (f) => {
          call(f);
          return Ending.Continue;
        };
      }
      case 'if': {
        const condition = this.expression(stmt.condition);
        const then = this.block(stmt.then);
        const otherwise = stmt.otherwise ? this.block(stmt.otherwise) : undefined;
        if (!otherwise) return (f) => (condition(f) ? then(f) : Ending.Continue);
        return (f) => (condition(f) ? then(f) : otherwise(f));
      }
      case 'for': {
        const slot = this.localSlot(stmt);
        const from = this.expression(stmt.from) as (f: Frame) => bigint;
        const to = this.expression(stmt.to) as (f: Frame) => bigint;
        const body = this.block(stmt.body);
        return (f) => {
          const end = to(f);
          for (let i = from(f); i < end; i++) {
            if (--f.budget < 0) throw new HookRuntimeError('step budget exceeded (a loop ran too long)');
            f.locals[slot] = i;
            const ending = body(f);
            if (ending !== Ending.Continue) return ending;
          }
          return Ending.Continue;
        };
      }
      case 'log': {
        const text = this.template(stmt.template);
        return (f) => {
          f.log(text(f));
          return Ending.Continue;
        };
      }
      case 'break': {
        const text = stmt.template ? this.template(stmt.template) : () => 'break in hook';
        return (f) => {
          f.requestBreak(text(f));
          return Ending.Continue;
        };
      }
      case 'end': {
        const ending = stmt.decision === 'emulate' ? Ending.Emulate : Ending.Handled;
        return () => ending;
      }
    }
  }

  private localSlot(stmt: Extract<Stmt, { kind: 'var' | 'for' }>): number {
    const slot = this.program.declarationSlots.get(stmt);
    if (slot === undefined) throw new Error(`internal: no slot for ${stmt.name}`);
    return slot;
  }

  private assignment(stmt: Extract<Stmt, { kind: 'assign' }>): Execute {
    const rhs = this.expression(stmt.value);
    const op = stmt.op === '=' ? undefined : stmt.op.slice(0, -1);
    const target = stmt.target;
    const read = this.expression(target.kind === 'member' ? target.object : target);
    const write = this.store(target.kind === 'member' ? target.object : target);
    if (target.kind === 'member') {
      const register = (this.typeOf(target.object) as { register: RegisterDescription }).register;
      const field = findField(register, target.member)!;
      const lsb = BigInt(field.lsb);
      const mask = ((1n << BigInt(field.msb - field.lsb + 1)) - 1n) << lsb;
      return (f) => {
        const whole = read(f) as bigint;
        let v = rhs(f) as bigint;
        if (op) v = evaluateBinary(op, (whole & mask) >> lsb, v) as bigint;
        write(f, (whole & ~mask) | ((v << lsb) & mask));
        return Ending.Continue;
      };
    }
    if (!op) {
      return (f) => {
        write(f, rhs(f));
        return Ending.Continue;
      };
    }
    return (f) => {
      write(f, evaluateBinary(op, read(f), rhs(f)));
      return Ending.Continue;
    };
  }

  private store(expr: Expr): (f: Frame, v: bigint | boolean) => void {
    const binding = this.program.bindings.get(expr);
    switch (binding?.kind) {
      case 'value':
        return (f, v) => {
          f.value = (v as bigint) & U64;
        };
      case 'local': {
        const slot = binding.slot;
        return (f, v) => {
          f.locals[slot] = v;
        };
      }
      case 'state': {
        const slot = binding.slot;
        return (f, v) => {
          f.state[slot] = v;
        };
      }
      default:
        throw new Error('internal: assignment to something that is not a variable');
    }
  }

  private typeOf(expr: Expr): Type {
    const type = this.program.types.get(expr);
    if (!type) throw new Error('internal: expression was not checked');
    return type;
  }

  expression(expr: Expr): Evaluate {
    switch (expr.kind) {
      case 'number':
      case 'bool': {
        const v = expr.value;
        return () => v;
      }
      case 'name':
        return this.name(expr);
      case 'member': {
        const object = this.expression(expr.object) as (f: Frame) => bigint;
        const register = (this.typeOf(expr.object) as { register: RegisterDescription }).register;
        const field = findField(register, expr.member)!;
        const lsb = BigInt(field.lsb);
        const mask = (1n << BigInt(field.msb - field.lsb + 1)) - 1n;
        return (f) => (object(f) >> lsb) & mask;
      }
      case 'unary': {
        const operand = this.expression(expr.operand);
        if (expr.op === '!') return (f) => !operand(f);
        if (expr.op === '-') return (f) => -(operand(f) as bigint) & U64;
        return (f) => ~(operand(f) as bigint) & U64;
      }
      case 'binary':
        return this.binary(expr);
      case 'call': {
        const callee = expr.callee as Extract<Expr, { kind: 'member' }>;
        if (callee.member === 'read') return (f) => f.deviceRead();
        const arg = this.expression(expr.args[0]) as (f: Frame) => bigint;
        return (f) => {
          f.deviceWrite(arg(f));
          return false;
        };
      }
    }
  }

  private name(expr: Extract<Expr, { kind: 'name' }>): Evaluate {
    const binding = this.program.bindings.get(expr);
    switch (binding?.kind) {
      case 'value':
        return (f) => f.value;
      case 'local': {
        const slot = binding.slot;
        return (f) => f.locals[slot];
      }
      case 'state': {
        const slot = binding.slot;
        return (f) => f.state[slot];
      }
      case 'access':
        return accessInfo(binding.name);
      default:
        throw new Error(`internal: unresolved name ${expr.name}`);
    }
  }

  private binary(expr: Extract<Expr, { kind: 'binary' }>): Evaluate {
    const left = this.expression(expr.left);
    const right = this.expression(expr.right);
    switch (expr.op) {
      case '&&':
        return (f) => (left(f) as boolean) && right(f);
      case '||':
        return (f) => left(f) || right(f);
      case '&':
        return (f) => (left(f) as bigint) & (right(f) as bigint);
      case '|':
        return (f) => (left(f) as bigint) | (right(f) as bigint);
      case '^':
        return (f) => (left(f) as bigint) ^ (right(f) as bigint);
      case '+':
        return (f) => ((left(f) as bigint) + (right(f) as bigint)) & U64;
      case '-':
        return (f) => ((left(f) as bigint) - (right(f) as bigint)) & U64;
      case '==':
        return (f) => left(f) === right(f);
      case '!=':
        return (f) => left(f) !== right(f);
      case '<':
        return (f) => left(f) < right(f);
      case '>':
        return (f) => left(f) > right(f);
      default: {
        const op = expr.op;
        return (f) => evaluateBinary(op, left(f), right(f));
      }
    }
  }

  private template(template: Template): (f: Frame) => string {
    const parts = template.parts.map((part): ((f: Frame) => string) => {
      if (typeof part === 'string') return () => part;
      const value = this.expression(part.expr);
      const type = this.typeOf(part.expr);
      const binding = this.program.bindings.get(part.expr);
      const register = type.kind === 'int' ? type.register : undefined;
      let format = part.format;
      if (format === 'default') {
        const hexByNature =
          register !== undefined ||
          binding?.kind === 'value' ||
          (binding?.kind === 'access' &&
            (binding.name === 'address' || binding.name === 'eip' || binding.name === 'offset'));
        format = hexByNature ? 'x' : 'd';
      }
      switch (format) {
        case 'fields':
          return (f) =>
            `${formatHex(value(f) as bigint, register!.width)} (${decodeFields(register!, value(f) as bigint)})`;
        case 'x':
          if (register) return (f) => formatHex(value(f) as bigint, register.width);
          return (f) => (typeof value(f) === 'boolean' ? String(value(f)) : '0x' + (value(f) as bigint).toString(16));
        case 'b':
          return (f) => (typeof value(f) === 'boolean' ? String(value(f)) : '0b' + (value(f) as bigint).toString(2));
        default:
          return (f) => String(value(f));
      }
    });
    return (f) => {
      let text = '';
      for (const part of parts) text += part(f);
      return text;
    };
  }
}

function accessInfo(name: AccessInfoName): Evaluate {
  switch (name) {
    case 'address':
      return (f) => BigInt(f.address);
    case 'offset':
      return (f) => BigInt(f.offset);
    case 'size':
      return (f) => BigInt(f.size);
    case 'width':
      return (f) => BigInt(f.size * 8);
    case 'write':
      return (f) => f.isWrite;
    case 'read':
      return (f) => !f.isWrite;
    case 'eip':
      return (f) => BigInt(f.context.eip() >>> 0);
    case 'cpl':
      return (f) => BigInt(f.context.cpl());
    case 'time':
      return (f) => BigInt(Math.max(0, Math.floor(f.context.now())));
    case 'hits':
      return (f) => BigInt(f.hits);
  }
}
