import type { DeviceDescription, FieldDescription, RegisterDescription } from '../core/regs/describe';
import { findField, findRegister } from '../core/regs/describe';
import type { DeviceDecl, Expr, HookDecl, Program, Stmt, Template } from './ast';
import type { Diagnostic, SourceRange } from './diagnostics';
import { didYouMean, hasErrors } from './diagnostics';
import { parse, parseExpression } from './parser';
import type { AccessInfoName, Binding, CheckedHook, CheckResult, StateVariable, Type } from './types';
import { ACCESS_INFO } from './types';

const INT: Type = { kind: 'int' };
const BOOL: Type = { kind: 'bool' };
const VOID: Type = { kind: 'void' };
const U64 = (1n << 64n) - 1n;

type Direction = 'read' | 'write' | 'both';

interface LocalVariable {
  readonly slot: number;
  type: Type;
  readonly readOnly: boolean;
}

interface FlowState {
  deviceRead: boolean;
  deviceWritten: boolean;
  valueChanged: boolean;
}

interface HookScope {
  readonly isCondition: boolean;
  readonly register: RegisterDescription | undefined;
  readonly scopes: Map<string, LocalVariable>[];
  direction: Direction;
  slots: number;
}

/** Parses and checks one hook file against the devices the machine describes. */
export function checkSource(source: string, knownDevices: readonly DeviceDescription[]): CheckResult {
  const parsed = parse(source);
  const checker = new Checker(knownDevices, parsed.diagnostics);
  return checker.check(parsed.program);
}

export interface CheckedCondition {
  readonly expr: Expr;
  readonly types: ReadonlyMap<Expr, Type>;
  readonly bindings: ReadonlyMap<Expr, Binding>;
  readonly declarationSlots: ReadonlyMap<Stmt, number>;
}

/**
 * Checks a watchpoint condition: a boolean expression over value (in the register's coordinates when the
 * watchpoint is on a register) and the access information.
 */
export function checkCondition(
  source: string,
  register: RegisterDescription | undefined,
): { condition: CheckedCondition | undefined; diagnostics: readonly Diagnostic[] } {
  const parsed = parseExpression(source);
  if (!parsed.expr) return { condition: undefined, diagnostics: parsed.diagnostics };
  const checker = new Checker([], parsed.diagnostics);
  const condition = checker.condition(parsed.expr, register);
  return { condition: hasErrors(parsed.diagnostics) ? undefined : condition, diagnostics: parsed.diagnostics };
}

class Checker {
  private readonly devices = new Map<string, DeviceDescription>();
  private readonly types = new Map<Expr, Type>();
  private readonly bindings = new Map<Expr, Binding>();
  private readonly declarationSlots = new Map<Stmt, number>();
  private readonly state = new Map<string, { slot: number; variable: StateVariable }>();
  private hookScope: HookScope | undefined;

  constructor(
    knownDevices: readonly DeviceDescription[],
    private readonly diagnostics: Diagnostic[],
  ) {
    for (const d of knownDevices) this.devices.set(d.name.toLowerCase(), d);
  }

  check(program: Program): CheckResult {
    const declaredDevices: DeviceDescription[] = [];
    for (const item of program.items) {
      if (item.kind !== 'device') continue;
      const device = this.declareDevice(item);
      if (device) declaredDevices.push(device);
    }
    for (const item of program.items)
      if (item.kind === 'state') this.declareState(item.name, item.nameRange, item.init);
    const hooks: CheckedHook[] = [];
    for (const item of program.items) {
      if (item.kind !== 'hook') continue;
      const hook = this.checkHook(item);
      if (hook) hooks.push(hook);
    }
    this.checkOverlaps(hooks);
    this.diagnostics.sort((a, b) => a.range.start.offset - b.range.start.offset);
    if (hasErrors(this.diagnostics)) return { program: undefined, diagnostics: this.diagnostics };
    return {
      program: {
        hooks,
        state: [...this.state.values()].map((s) => s.variable),
        declaredDevices,
        types: this.types,
        bindings: this.bindings,
        declarationSlots: this.declarationSlots,
      },
      diagnostics: this.diagnostics,
    };
  }

  condition(expr: Expr, register: RegisterDescription | undefined): CheckedCondition {
    this.hookScope = { isCondition: true, register, scopes: [new Map()], direction: 'both', slots: 0 };
    const type = this.expression(expr);
    if (type.kind !== 'bool') {
      const hint = type.kind === 'int' ? ' (compare it, e.g. value & 0x100 != 0)' : '';
      this.error(`a watchpoint condition must be a boolean, not ${typeName(type)}${hint}`, expr.range);
    }
    this.hookScope = undefined;
    return { expr, types: this.types, bindings: this.bindings, declarationSlots: this.declarationSlots };
  }

  private error(message: string, range: SourceRange): void {
    this.diagnostics.push({ severity: 'error', message, range });
  }

  private warning(message: string, range: SourceRange): void {
    this.diagnostics.push({ severity: 'warning', message, range });
  }

  private declareDevice(decl: DeviceDecl): DeviceDescription | undefined {
    if (this.devices.has(decl.name.toLowerCase())) {
      this.error(`device ${decl.name} is already described (by the machine or earlier in this file)`, decl.range);
      return undefined;
    }
    const limit = decl.space === 'pio' ? 0x10000 : 0x1_0000_0000;
    if (decl.size <= 0 || decl.base + decl.size > limit) {
      this.error(
        `device ${decl.name} does not fit in the ${decl.space === 'pio' ? 'port' : 'physical address'} space`,
        decl.range,
      );
    }
    const registers: RegisterDescription[] = [];
    for (const r of decl.registers) {
      const bytes = r.width / 8;
      if (r.offset + bytes > decl.size) {
        this.error(
          `register ${r.name} at 0x${r.offset.toString(16)} (${bytes} bytes) lies outside device ${decl.name} (size 0x${decl.size.toString(16)})`,
          r.range,
        );
      }
      if (r.offset % bytes !== 0) this.error(`register ${r.name} is not aligned to its width`, r.range);
      for (const other of registers) {
        if (other.name.toUpperCase() === r.name.toUpperCase())
          this.error(`register ${r.name} is declared twice`, r.range);
        else if (r.offset < other.offset + other.width / 8 && other.offset < r.offset + bytes) {
          this.error(`register ${r.name} overlaps register ${other.name}`, r.range);
        }
      }
      const fields: FieldDescription[] = [];
      for (const f of r.fields) {
        if (f.msb < f.lsb) this.error(`field ${f.name}: write the high bit first, [${f.lsb}:${f.msb}]`, f.range);
        const [msb, lsb] = f.msb < f.lsb ? [f.lsb, f.msb] : [f.msb, f.lsb];
        if (msb >= r.width)
          this.error(`field ${f.name} [${msb}:${lsb}] does not fit in the ${r.width}-bit register ${r.name}`, f.range);
        for (const other of fields) {
          if (other.name.toUpperCase() === f.name.toUpperCase())
            this.error(`field ${f.name} is declared twice`, f.range);
          else if (lsb <= other.msb && other.lsb <= msb)
            this.error(`field ${f.name} overlaps field ${other.name}`, f.range);
        }
        fields.push({ name: f.name, msb, lsb, access: f.access ?? r.access, doc: f.doc });
      }
      registers.push({ name: r.name, offset: r.offset, width: r.width, access: r.access, doc: r.doc, fields });
    }
    const device: DeviceDescription = {
      name: decl.name,
      title: decl.title,
      space: decl.space,
      base: decl.base,
      size: decl.size,
      registers,
    };
    this.devices.set(decl.name.toLowerCase(), device);
    return device;
  }

  private declareState(name: string, nameRange: SourceRange, init: Expr): void {
    if (this.state.has(name)) {
      this.error(`state variable ${name} is declared twice`, nameRange);
      return;
    }
    if (this.isReservedName(name, nameRange)) return;
    const errorsBefore = this.diagnostics.length;
    const type = this.expression(init);
    const initial = this.constantValue(init);
    if (initial === undefined && this.diagnostics.length === errorsBefore) {
      this.error(`the initial value of state variable ${name} must be a constant`, init.range);
    }
    if (initial === undefined) {
      return;
    }
    this.state.set(name, {
      slot: this.state.size,
      variable: { name, type: type.kind === 'bool' ? BOOL : INT, initial },
    });
  }

  private isReservedName(name: string, range: SourceRange): boolean {
    if (name === 'value' || name === 'device' || name in ACCESS_INFO) {
      this.error(`${name} is a built-in name and cannot be declared`, range);
      return true;
    }
    return false;
  }

  private resolveTarget(decl: HookDecl):
    | {
        space: 'mmio' | 'pio';
        start: number;
        length: number;
        device?: DeviceDescription;
        register?: RegisterDescription;
      }
    | undefined {
    const target = decl.target;
    if (target.kind === 'range') return { space: target.space, start: target.address, length: target.length };
    const device = this.devices.get(target.device.toLowerCase());
    if (!device) {
      const names = [...this.devices.values()].map((d) => d.name);
      this.error(`unknown device '${target.device}'${didYouMean(target.device, names)}`, target.deviceRange);
      return undefined;
    }
    if (target.register === undefined) return { space: device.space, start: device.base, length: device.size, device };
    const register = findRegister(device, target.register);
    if (!register) {
      const names = device.registers.map((r) => r.name);
      this.error(
        `device ${device.name} has no register '${target.register}'${didYouMean(target.register, names)}`,
        target.registerRange!,
      );
      return undefined;
    }
    return { space: device.space, start: device.base + register.offset, length: register.width / 8, device, register };
  }

  private checkHook(decl: HookDecl): CheckedHook | undefined {
    const target = this.resolveTarget(decl);
    const direction: Direction = decl.onRead && decl.onWrite ? 'both' : decl.onRead ? 'read' : 'write';
    if (target?.register && decl.onWrite && !decl.onRead && target.register.access === 'RO') {
      this.warning(
        `${target.device!.name}.${target.register.name} is read-only: the device ignores writes to it`,
        decl.targetRange,
      );
    }
    const scope: HookScope = {
      isCondition: false,
      register: target?.register,
      scopes: [new Map()],
      direction,
      slots: 0,
    };
    this.hookScope = scope;
    const flow: FlowState = { deviceRead: false, deviceWritten: false, valueChanged: false };
    const ends = this.block(decl.body, flow);
    if (!ends) this.checkEmulate(flow, decl.endRange, true);
    this.hookScope = undefined;
    if (!target) return undefined;
    const directionText = direction === 'both' ? 'access' : direction;
    const targetText =
      decl.target.kind === 'named'
        ? target.register
          ? `${target.device!.name}.${target.register.name}`
          : target.device!.name
        : `${decl.target.space === 'pio' ? 'port ' : ''}0x${decl.target.address.toString(16)}${decl.target.length !== (decl.target.space === 'pio' ? 1 : 4) ? ` len ${decl.target.length}` : ''}`;
    return {
      decl,
      name: `${directionText} ${targetText}`,
      space: target.space,
      start: target.start,
      length: target.length,
      device: target.device,
      register: target.register,
      localCount: scope.slots,
    };
  }

  private checkOverlaps(hooks: readonly CheckedHook[]): void {
    for (let i = 0; i < hooks.length; i++) {
      for (let j = 0; j < i; j++) {
        const a = hooks[i];
        const b = hooks[j];
        const sameDirection = (a.decl.onRead && b.decl.onRead) || (a.decl.onWrite && b.decl.onWrite);
        if (a.space === b.space && sameDirection && a.start < b.start + b.length && b.start < a.start + a.length) {
          this.error(
            `this hook overlaps the hook '${b.name}' on line ${b.decl.range.start.line}: a byte can have only one ${a.decl.onRead && b.decl.onRead ? 'read' : 'write'} hook per file`,
            a.decl.targetRange,
          );
        }
      }
    }
  }

  /** Checks the statements of a block; returns true when every path through it ends the hook. */
  private block(stmts: readonly Stmt[], flow: FlowState): boolean {
    const scope = this.hookScope!;
    scope.scopes.push(new Map());
    let ended = false;
    for (const stmt of stmts) {
      if (ended) {
        this.error(
          'unreachable code: the hook has already ended (emulate/handled) on every path before this',
          stmt.range,
        );
        break;
      }
      ended = this.statement(stmt, flow);
    }
    scope.scopes.pop();
    return ended;
  }

  private checkEmulate(flow: FlowState, range: SourceRange, implicit: boolean): void {
    const scope = this.hookScope!;
    const how = implicit ? 'the hook ends without emulate/handled, which means emulate' : 'emulate';
    if (scope.direction === 'read' && flow.deviceRead) {
      this.warning(
        `${how}: the device is read a second time and that value goes to the guest; end with 'handled' to return value`,
        range,
      );
    } else if (scope.direction === 'read' && flow.valueChanged) {
      this.warning(
        `${how}: on a read the guest gets the device's value and changes to value are lost; end with 'handled'`,
        range,
      );
    } else if (scope.direction === 'write' && flow.deviceWritten) {
      this.warning(
        `${how}: value is written to the device a second time after device.write(); end with 'handled'`,
        range,
      );
    }
  }

  private statement(stmt: Stmt, flow: FlowState): boolean {
    const scope = this.hookScope!;
    switch (stmt.kind) {
      case 'var': {
        const type = this.expression(stmt.init, flow);
        if (type.kind === 'void') this.error('device.write() has no value', stmt.init.range);
        this.declareLocal(stmt, type, false);
        return false;
      }
      case 'assign':
        this.assignment(stmt, flow);
        return false;
      case 'call':
        this.expression(stmt.call, flow);
        return false;
      case 'if': {
        const narrowed = this.narrowing(stmt.condition);
        this.expectType(stmt.condition, BOOL, 'an if condition', flow);
        const saved = scope.direction;
        const thenFlow = { ...flow };
        if (narrowed && saved === 'both') scope.direction = narrowed;
        const thenEnds = this.block(stmt.then, thenFlow);
        scope.direction = saved;
        const elseFlow = { ...flow };
        let elseEnds = false;
        if (stmt.otherwise) {
          if (narrowed && saved === 'both') scope.direction = narrowed === 'read' ? 'write' : 'read';
          elseEnds = this.block(stmt.otherwise, elseFlow);
          scope.direction = saved;
        }
        flow.deviceRead = (!thenEnds && thenFlow.deviceRead) || (!elseEnds && elseFlow.deviceRead);
        flow.deviceWritten = (!thenEnds && thenFlow.deviceWritten) || (!elseEnds && elseFlow.deviceWritten);
        flow.valueChanged = (!thenEnds && thenFlow.valueChanged) || (!elseEnds && elseFlow.valueChanged);
        return thenEnds && elseEnds;
      }
      case 'for': {
        this.expectType(stmt.from, INT, 'a loop bound', flow);
        this.expectType(stmt.to, INT, 'a loop bound', flow);
        scope.scopes.push(new Map());
        this.declareLocal(stmt, INT, true);
        const bodyFlow = { ...flow };
        this.block(stmt.body, bodyFlow);
        scope.scopes.pop();
        flow.deviceRead ||= bodyFlow.deviceRead;
        flow.deviceWritten ||= bodyFlow.deviceWritten;
        flow.valueChanged ||= bodyFlow.valueChanged;
        return false;
      }
      case 'log':
        this.template(stmt.template, flow);
        return false;
      case 'break':
        if (stmt.template) this.template(stmt.template, flow);
        return false;
      case 'end':
        if (stmt.decision === 'emulate') this.checkEmulate(flow, stmt.range, false);
        return true;
    }
  }

  /** `if read`, `if write`, `if !read`, `if !write` tell which direction the branch runs for. */
  private narrowing(condition: Expr): 'read' | 'write' | undefined {
    if (
      condition.kind === 'name' &&
      (condition.name === 'read' || condition.name === 'write') &&
      !this.lookupLocal(condition.name)
    ) {
      return condition.name;
    }
    if (condition.kind === 'unary' && condition.op === '!') {
      const inner = this.narrowing(condition.operand);
      return inner === undefined ? undefined : inner === 'read' ? 'write' : 'read';
    }
    return undefined;
  }

  private template(template: Template, flow: FlowState): void {
    for (const part of template.parts) {
      if (typeof part === 'string') continue;
      const type = this.expression(part.expr, flow);
      if (type.kind === 'void') this.error('device.write() has no value to show', part.expr.range);
      if (part.format === 'fields' && !(type.kind === 'int' && type.register)) {
        this.error(`':fields' needs a register value (value in a register hook, or device.read())`, part.expr.range);
      }
    }
  }

  private declareLocal(stmt: Extract<Stmt, { kind: 'var' | 'for' }>, type: Type, readOnly: boolean): void {
    const scope = this.hookScope!;
    const name = stmt.name;
    const range = stmt.nameRange;
    if (this.isReservedName(name, range)) return;
    if (this.state.has(name)) {
      this.error(`${name} is already a state variable; choose another name for the local variable`, range);
      return;
    }
    if (this.lookupLocal(name)) {
      this.error(`variable ${name} is already declared in this hook`, range);
      return;
    }
    const slot = scope.slots++;
    this.declarationSlots.set(stmt, slot);
    scope.scopes[scope.scopes.length - 1].set(name, { slot, type, readOnly });
  }

  private lookupLocal(name: string): LocalVariable | undefined {
    const scopes = this.hookScope?.scopes ?? [];
    for (let i = scopes.length - 1; i >= 0; i--) {
      const found = scopes[i].get(name);
      if (found) return found;
    }
    return undefined;
  }

  private assignment(stmt: Extract<Stmt, { kind: 'assign' }>, flow: FlowState): void {
    const valueType = this.expression(stmt.value, flow);
    if (valueType.kind === 'void') {
      this.error('device.write() has no value', stmt.value.range);
      return;
    }
    const target = stmt.target;
    const compound = stmt.op !== '=';
    if (compound && valueType.kind !== 'int')
      this.error(`'${stmt.op}' needs an integer, not ${typeName(valueType)}`, stmt.value.range);
    if (target.kind === 'name') {
      const binding = this.bindName(target, 'assign');
      if (!binding) return;
      const targetType = this.types.get(target)!;
      if (compound && targetType.kind !== 'int') this.error(`'${stmt.op}' needs an integer variable`, target.range);
      if (binding.kind === 'value') {
        flow.valueChanged = true;
        if (valueType.kind !== 'int')
          this.error(`value is an integer; cannot assign ${typeName(valueType)}`, stmt.value.range);
      } else if (binding.kind === 'local' || binding.kind === 'state') {
        if (targetType.kind !== valueType.kind) {
          this.error(
            `${target.name} is ${typeName(targetType)}; cannot assign ${typeName(valueType)}`,
            stmt.value.range,
          );
        }
      }
      return;
    }
    if (target.kind === 'member') {
      if (valueType.kind !== 'int')
        this.error(`a field is an integer; cannot assign ${typeName(valueType)}`, stmt.value.range);
      const objectType = this.expression(target.object, flow);
      if (target.object.kind !== 'name') {
        this.error('only fields of a variable or of value can be assigned', target.range);
        return;
      }
      const binding = this.bindings.get(target.object);
      if (binding?.kind === 'access') {
        this.error(`${target.object.name} is access information and is read-only`, target.object.range);
        return;
      }
      const field = this.fieldOf(target, objectType);
      if (!field) return;
      if (binding?.kind === 'value') {
        flow.valueChanged = true;
        const scope = this.hookScope!;
        if (scope.direction === 'write' && (field.access === 'RO' || field.access === 'RSVD')) {
          this.error(
            `field ${field.name} of ${scope.register!.name} is ${field.access === 'RO' ? 'read-only' : 'reserved'}: the device ignores writes to it`,
            target.memberRange,
          );
        }
      }
      if (binding?.kind === 'local') {
        const local = this.lookupLocal(target.object.name);
        if (local?.readOnly)
          this.error(`${target.object.name} is a loop variable and is read-only`, target.object.range);
      }
      const constant = this.constantValue(stmt.value);
      const bits = field.msb - field.lsb + 1;
      if (!compound && constant !== undefined && typeof constant === 'bigint' && constant >> BigInt(bits) !== 0n) {
        this.warning(
          `0x${constant.toString(16)} does not fit in the ${bits}-bit field ${field.name}; only the low ${bits} bits are kept`,
          stmt.value.range,
        );
      }
      return;
    }
    this.error('only variables, value and fields can be assigned', target.range);
  }

  private bindName(expr: Extract<Expr, { kind: 'name' }>, use: 'read' | 'assign'): Binding | undefined {
    const name = expr.name;
    const local = this.lookupLocal(name);
    let binding: Binding | undefined;
    let type: Type = INT;
    if (local) {
      if (use === 'assign' && local.readOnly) {
        this.error(`${name} is a loop variable and is read-only`, expr.range);
        return undefined;
      }
      binding = { kind: 'local', slot: local.slot };
      type = local.type;
    } else if (this.state.has(name)) {
      const s = this.state.get(name)!;
      binding = { kind: 'state', slot: s.slot };
      type = s.variable.type;
    } else if (name === 'value' && this.hookScope) {
      binding = { kind: 'value' };
      type = this.hookScope.register ? { kind: 'int', register: this.hookScope.register } : INT;
    } else if (name in ACCESS_INFO && this.hookScope) {
      if (use === 'assign') {
        this.error(`${name} is access information and is read-only`, expr.range);
        return undefined;
      }
      const info = ACCESS_INFO[name as AccessInfoName];
      binding = { kind: 'access', name: name as AccessInfoName };
      type = info.type === 'bool' ? BOOL : INT;
    } else if (name === 'device' && this.hookScope) {
      this.error(`device is used as device.read() or device.write(v)`, expr.range);
      return undefined;
    } else if (this.devices.has(name.toLowerCase())) {
      this.error(
        `${name} is a device; device names are only used as hook targets (on read ${name}.REGISTER)`,
        expr.range,
      );
      return undefined;
    } else {
      const candidates = [...this.state.keys()];
      if (this.hookScope) {
        candidates.push('value', ...Object.keys(ACCESS_INFO));
        for (const s of this.hookScope.scopes) candidates.push(...s.keys());
      }
      this.error(`unknown name '${name}'${didYouMean(name, candidates)}`, expr.range);
      return undefined;
    }
    this.bindings.set(expr, binding);
    this.types.set(expr, type);
    return binding;
  }

  private expectType(expr: Expr, expected: Type, what: string, flow?: FlowState): void {
    const type = this.expression(expr, flow);
    if (type.kind !== expected.kind) {
      const hint = expected.kind === 'bool' && type.kind === 'int' ? ' (compare it, e.g. x != 0)' : '';
      this.error(`${what} must be ${typeName(expected)}, not ${typeName(type)}${hint}`, expr.range);
    }
  }

  private fieldOf(expr: Extract<Expr, { kind: 'member' }>, objectType: Type): FieldDescription | undefined {
    if (objectType.kind !== 'int' || !objectType.register) {
      const what = expr.object.kind === 'name' ? expr.object.name : 'this expression';
      const why =
        expr.object.kind === 'name' && expr.object.name === 'value'
          ? ": this hook's target is not a register"
          : ' (it is not a register value)';
      this.error(`${what} has no fields${why}`, expr.memberRange);
      return undefined;
    }
    const field = findField(objectType.register, expr.member);
    if (!field) {
      const names = objectType.register.fields.map((f) => f.name);
      this.error(
        `register ${objectType.register.name} has no field '${expr.member}'${didYouMean(expr.member, names)}`,
        expr.memberRange,
      );
    }
    return field;
  }

  private expression(expr: Expr, flow?: FlowState): Type {
    const type = this.typeOf(expr, flow);
    this.types.set(expr, type);
    return type;
  }

  private typeOf(expr: Expr, flow?: FlowState): Type {
    switch (expr.kind) {
      case 'number':
        return INT;
      case 'bool':
        return BOOL;
      case 'name':
        this.bindName(expr, 'read');
        return this.types.get(expr) ?? INT;
      case 'member': {
        if (expr.object.kind === 'name' && expr.object.name === 'device' && !this.lookupLocal('device')) {
          this.error(
            `device.${expr.member} must be called: device.${expr.member}(${expr.member === 'write' ? 'v' : ''})`,
            expr.range,
          );
          return INT;
        }
        const objectType = this.expression(expr.object, flow);
        this.fieldOf(expr, objectType);
        return INT;
      }
      case 'unary': {
        const expected = expr.op === '!' ? BOOL : INT;
        this.expectType(expr.operand, expected, `the operand of '${expr.op}'`, flow);
        return expected;
      }
      case 'binary':
        return this.binary(expr, flow);
      case 'call':
        return this.call(expr, flow);
    }
  }

  private binary(expr: Extract<Expr, { kind: 'binary' }>, flow?: FlowState): Type {
    const { op } = expr;
    if (op === '&&' || op === '||') {
      this.expectType(expr.left, BOOL, `the left side of '${op}'`, flow);
      this.expectType(expr.right, BOOL, `the right side of '${op}'`, flow);
      return BOOL;
    }
    if (op === '==' || op === '!=') {
      const left = this.expression(expr.left, flow);
      const right = this.expression(expr.right, flow);
      if (left.kind !== right.kind || left.kind === 'void') {
        this.error(`cannot compare ${typeName(left)} with ${typeName(right)}`, expr.range);
      }
      return BOOL;
    }
    this.expectType(expr.left, INT, `the left side of '${op}'`, flow);
    this.expectType(expr.right, INT, `the right side of '${op}'`, flow);
    if (op === '/' || op === '%') {
      if (this.constantValue(expr.right) === 0n) this.error('division by zero', expr.right.range);
    }
    if (op === '<<' || op === '>>') {
      const amount = this.constantValue(expr.right);
      if (typeof amount === 'bigint' && amount >= 64n)
        this.warning(`shifting a 64-bit value by ${amount} always gives 0`, expr.right.range);
    }
    return op === '<' || op === '<=' || op === '>' || op === '>=' ? BOOL : INT;
  }

  private call(expr: Extract<Expr, { kind: 'call' }>, flow?: FlowState): Type {
    const callee = expr.callee;
    if (callee.kind !== 'member' || callee.object.kind !== 'name' || callee.object.name !== 'device') {
      this.error('only device.read() and device.write(v) can be called', callee.range);
      return VOID;
    }
    const scope = this.hookScope;
    if (!scope) {
      this.error(`device.${callee.member}() can only be used inside a hook`, expr.range);
      return VOID;
    }
    for (const arg of expr.args) this.expression(arg, flow);
    if (scope.isCondition) {
      this.error('a watchpoint condition cannot access the device', expr.range);
      return callee.member === 'read' ? INT : VOID;
    }
    if (callee.member === 'read') {
      if (expr.args.length !== 0) this.error('device.read() takes no arguments', expr.range);
      if (scope.direction === 'write') {
        this.error(
          'device.read() is not available in a write hook: value already holds what the guest wrote; use device.write(v) to send a value',
          expr.range,
        );
      } else if (scope.direction === 'both') {
        this.error(
          "device.read() needs a read access, but this hook also runs on writes: use it inside 'if read { ... }'",
          expr.range,
        );
      }
      if (flow) flow.deviceRead = true;
      return scope.register ? { kind: 'int', register: scope.register } : INT;
    }
    if (callee.member === 'write') {
      if (expr.args.length !== 1) this.error('device.write(v) takes exactly one argument', expr.range);
      else if (this.types.get(expr.args[0])?.kind !== 'int')
        this.error('device.write(v) needs an integer', expr.args[0].range);
      if (scope.direction === 'read') {
        this.error(
          'device.write(v) is not available in a read hook: set value and end with handled to change what the guest reads',
          expr.range,
        );
      } else if (scope.direction === 'both') {
        this.error(
          "device.write(v) needs a write access, but this hook also runs on reads: use it inside 'if write { ... }'",
          expr.range,
        );
      }
      if (flow) flow.deviceWritten = true;
      return VOID;
    }
    this.error(
      `device has no method '${callee.member}'${didYouMean(callee.member, ['read', 'write'])}`,
      callee.memberRange,
    );
    return VOID;
  }

  /** The value of an expression made only of literals and operators, or undefined. */
  private constantValue(expr: Expr): bigint | boolean | undefined {
    switch (expr.kind) {
      case 'number':
        return expr.value;
      case 'bool':
        return expr.value;
      case 'unary': {
        const v = this.constantValue(expr.operand);
        if (v === undefined) return undefined;
        if (expr.op === '!') return typeof v === 'boolean' ? !v : undefined;
        if (typeof v !== 'bigint') return undefined;
        return expr.op === '-' ? -v & U64 : ~v & U64;
      }
      case 'binary': {
        const l = this.constantValue(expr.left);
        const r = this.constantValue(expr.right);
        if (l === undefined || r === undefined) return undefined;
        try {
          return evaluateBinary(expr.op, l, r);
        } catch {
          return undefined;
        }
      }
      default:
        return undefined;
    }
  }
}

export class HookRuntimeError extends Error {}

/** The meaning of every binary operator on 64-bit unsigned values; shared by the checker and the compiler. */
export function evaluateBinary(op: string, l: bigint | boolean, r: bigint | boolean): bigint | boolean {
  if (typeof l === 'boolean' || typeof r === 'boolean') {
    switch (op) {
      case '&&':
        return (l as boolean) && r;
      case '||':
        return l || r;
      case '==':
        return l === r;
      case '!=':
        return l !== r;
    }
    throw new HookRuntimeError(`bad operands for ${op}`);
  }
  switch (op) {
    case '+':
      return (l + r) & U64;
    case '-':
      return (l - r) & U64;
    case '*':
      return (l * r) & U64;
    case '/':
      if (r === 0n) throw new HookRuntimeError('division by zero');
      return l / r;
    case '%':
      if (r === 0n) throw new HookRuntimeError('division by zero');
      return l % r;
    case '<<':
      return r >= 64n ? 0n : (l << r) & U64;
    case '>>':
      return r >= 64n ? 0n : l >> r;
    case '&':
      return l & r;
    case '|':
      return l | r;
    case '^':
      return l ^ r;
    case '==':
      return l === r;
    case '!=':
      return l !== r;
    case '<':
      return l < r;
    case '<=':
      return l <= r;
    case '>':
      return l > r;
    case '>=':
      return l >= r;
  }
  throw new HookRuntimeError(`bad operands for ${op}`);
}

export function typeName(type: Type): string {
  if (type.kind === 'int') return type.register ? `a ${type.register.name} value` : 'an integer';
  return type.kind === 'bool' ? 'a boolean' : 'nothing (void)';
}
