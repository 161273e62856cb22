import type { RegisterDescription } from '../core/regs/describe';
import { findRegister } from '../core/regs/describe';
import { checkCondition } from './checker';
import type { AccessContext, Frame } from './compiler';
import { compileExpression } from './compiler';
import type { Diagnostic } from './diagnostics';
import { didYouMean } from './diagnostics';
import type { DeviceDirectory } from './names';

export type WatchDirection = 'read' | 'write' | 'access';

export type WatchTarget =
  /** `hpet.GCAP_ID` or a whole device, `hpet`. */
  { readonly name: string } | { readonly space: 'mmio' | 'pio'; readonly address: number; readonly length: number };

export interface WatchpointSpec {
  readonly target: WatchTarget;
  readonly direction: WatchDirection;
  /** A boolean expression in the hook language, e.g. `value & 0x100 != 0` or `value.ENABLE_CNF == 1`. */
  readonly condition?: string;
}

export interface Watchpoint {
  readonly id: number;
  readonly spec: WatchpointSpec;
  readonly space: 'mmio' | 'pio';
  readonly start: number;
  readonly length: number;
  readonly onRead: boolean;
  readonly onWrite: boolean;
  /** `hpet.GCAP_ID`, `hpet`, `0xfed00000 len 4`. */
  readonly label: string;
  readonly register: RegisterDescription | undefined;
  enabled: boolean;
  hits: number;
  readonly condition: ((f: Frame) => bigint | boolean) | undefined;
}

export type WatchpointResult =
  { readonly ok: true; readonly id: number } | { readonly ok: false; readonly diagnostics: readonly Diagnostic[] };

const NO_RANGE = { start: { line: 1, column: 1, offset: 0 }, end: { line: 1, column: 1, offset: 0 } };

/** Resolves a watchpoint spec against the known devices and compiles its condition. */
export function createWatchpoint(
  id: number,
  spec: WatchpointSpec,
  directory: DeviceDirectory,
): Watchpoint | readonly Diagnostic[] {
  let space: 'mmio' | 'pio';
  let start: number;
  let length: number;
  let label: string;
  let register: RegisterDescription | undefined;
  const target = spec.target;
  if ('name' in target) {
    const [deviceName = '', registerName] = target.name.split('.');
    const device = directory.byDeviceName(deviceName);
    if (!device) {
      const names = directory.all().map((d) => d.name);
      return [
        {
          severity: 'error',
          message: `unknown device '${deviceName}'${didYouMean(deviceName, names)}`,
          range: NO_RANGE,
        },
      ];
    }
    space = device.space;
    if (registerName === undefined) {
      start = device.base;
      length = device.size;
      label = device.name;
    } else {
      register = findRegister(device, registerName);
      if (!register) {
        const names = device.registers.map((r) => r.name);
        const message = `device ${device.name} has no register '${registerName}'${didYouMean(registerName, names)}`;
        return [{ severity: 'error', message, range: NO_RANGE }];
      }
      start = device.base + register.offset;
      length = register.width / 8;
      label = `${device.name}.${register.name}`;
    }
  } else {
    space = target.space;
    start = target.address >>> 0;
    length = target.length;
    label = `${space === 'pio' ? 'port ' : ''}0x${start.toString(16)} len ${length}`;
    if (length <= 0)
      return [{ severity: 'error', message: 'a watched range needs a positive length', range: NO_RANGE }];
  }
  let condition: Watchpoint['condition'];
  if (spec.condition !== undefined && spec.condition.trim() !== '') {
    const checked = checkCondition(spec.condition, register);
    if (!checked.condition) return checked.diagnostics;
    condition = compileExpression(checked.condition, checked.condition.expr);
  }
  return {
    id,
    spec,
    space,
    start,
    length,
    onRead: spec.direction !== 'write',
    onWrite: spec.direction !== 'read',
    label,
    register,
    enabled: true,
    hits: 0,
    condition,
  };
}

/** The frame a condition is evaluated in; value is in the watched register's coordinates. */
export class ConditionFrame implements Frame {
  readonly locals: (bigint | boolean)[] = [];
  readonly state: (bigint | boolean)[] = [];
  budget = 0;

  constructor(
    public value: bigint,
    readonly address: number,
    readonly offset: number,
    readonly size: number,
    readonly isWrite: boolean,
    readonly hits: number,
    readonly context: AccessContext,
  ) {}

  deviceRead(): bigint {
    throw new Error('a watchpoint condition cannot access the device');
  }

  deviceWrite(): void {
    throw new Error('a watchpoint condition cannot access the device');
  }

  log(): void {}

  requestBreak(): void {}
}
