import type { PortSpace } from '../bus/ports';
import type { DeviceDescription, InspectableDevice, RegisterDescription } from '../regs/describe';

const byteRegister = (name: string, doc: string, access: 'RW' | 'WO' = 'RW'): RegisterDescription => ({
  name,
  offset: 0,
  width: 8,
  access,
  doc,
  fields: [{ name: 'VALUE', lsb: 0, msb: 7, access, doc, format: 'hex' }],
});

export const SYSCTL_DESCRIPTION: DeviceDescription = {
  name: 'sysctl',
  title: 'System control port A (port 0x92)',
  space: 'pio',
  base: 0x92,
  size: 1,
  registers: [
    {
      name: 'PORT_A',
      offset: 0,
      width: 8,
      access: 'RW',
      doc: 'System control port A',
      fields: [
        { name: 'RESET', lsb: 0, msb: 0, access: 'RW', doc: 'Writing 1 pulses the CPU reset (fast init); reads 0' },
        { name: 'A20', lsb: 1, msb: 1, access: 'RW', doc: 'Fast A20 gate' },
      ],
    },
  ],
};

export interface SystemControlOptions {
  readonly onReset?: () => void;
  readonly onA20?: (enabled: boolean) => void;
  /** Bit 1 set at start: firmware that enabled A20 through this port (SeaBIOS does) leaves it reading 0x02. */
  readonly a20InitiallyEnabled?: boolean;
}

/** Port 0x92: fast A20 (bit 1) and fast reset (bit 0). */
export class SystemControlPort implements InspectableDevice {
  readonly description = SYSCTL_DESCRIPTION;
  private value = 0;

  constructor(
    ports: PortSpace,
    private readonly options: SystemControlOptions = {},
  ) {
    if (options.a20InitiallyEnabled) this.value = 0x02;
    ports.register(
      0x92,
      1,
      { read: () => this.value, write: (_o, _s, v) => this.write(v), peek: () => this.value },
      { device: 'sysctl', valid: { min: 1, max: 1 }, impl: { min: 1, max: 1 } },
    );
  }

  get a20Enabled(): boolean {
    return (this.value & 0x02) !== 0;
  }

  peekRegister(_register: RegisterDescription): bigint {
    return BigInt(this.value);
  }

  pokeRegister(_register: RegisterDescription, value: bigint, path: 'guest' | 'debugger'): void {
    const v = Number(BigInt.asUintN(8, value));
    if (path === 'guest') this.write(v);
    else this.value = v & ~1;
  }

  private write(value: number): void {
    const a20Before = this.a20Enabled;
    // Bit 0 is a pulse and reads back 0.
    this.value = value & ~1;
    if (this.a20Enabled !== a20Before) this.options.onA20?.(this.a20Enabled);
    if (value & 1) this.options.onReset?.();
  }
}

export const POST_DESCRIPTION: DeviceDescription = {
  name: 'post',
  title: 'POST code port (port 0x80)',
  space: 'pio',
  base: 0x80,
  size: 1,
  registers: [byteRegister('CODE', 'Last POST code written; every code is recorded in order')],
};

/** Port 0x80: firmware progress codes, kept in order; reading returns the last one. */
export class PostCodePort implements InspectableDevice {
  readonly description = POST_DESCRIPTION;
  readonly codes: number[] = [];
  /** Called with each code as it is written. */
  onCode: ((code: number) => void) | undefined;
  private last = 0;

  constructor(
    ports: PortSpace,
    private readonly maxRecorded = 4096,
  ) {
    ports.register(
      0x80,
      1,
      { read: () => this.last, write: (_o, _s, v) => this.record(v), peek: () => this.last },
      { device: 'post', valid: { min: 1, max: 4, unaligned: true }, impl: { min: 1, max: 1 } },
    );
  }

  peekRegister(_register: RegisterDescription): bigint {
    return BigInt(this.last);
  }

  pokeRegister(_register: RegisterDescription, value: bigint, path: 'guest' | 'debugger'): void {
    const v = Number(BigInt.asUintN(8, value));
    if (path === 'guest') this.record(v);
    else this.last = v;
  }

  private record(code: number): void {
    this.last = code;
    this.codes.push(code);
    if (this.codes.length > this.maxRecorded) this.codes.shift();
    this.onCode?.(code);
  }
}

export const DEBUGCON_DESCRIPTION: DeviceDescription = {
  name: 'debugcon',
  title: 'Bochs/QEMU debug console (port 0xE9)',
  space: 'pio',
  base: 0xe9,
  size: 1,
  registers: [byteRegister('OUT', 'Byte to print; reads return 0xE9 so guests can detect the port', 'WO')],
};

/** Port 0xE9: each byte written goes to the host; reads return 0xE9 as in Bochs and QEMU. */
export class DebugConsole implements InspectableDevice {
  readonly description = DEBUGCON_DESCRIPTION;
  onDebugOutput: ((byte: number) => void) | undefined;

  constructor(ports: PortSpace, onDebugOutput?: (byte: number) => void) {
    this.onDebugOutput = onDebugOutput;
    ports.register(
      0xe9,
      1,
      { read: () => 0xe9, write: (_o, _s, v) => this.onDebugOutput?.(v), peek: () => 0xe9 },
      { device: 'debugcon', valid: { min: 1, max: 4, unaligned: true }, impl: { min: 1, max: 1 } },
    );
  }

  peekRegister(_register: RegisterDescription): bigint {
    return 0xe9n;
  }

  pokeRegister(_register: RegisterDescription, value: bigint, _path: 'guest' | 'debugger'): void {
    this.onDebugOutput?.(Number(BigInt.asUintN(8, value)));
  }
}

export const DEBUGEXIT_DESCRIPTION: DeviceDescription = {
  name: 'debugexit',
  title: 'isa-debug-exit (ports 0xF4-0xF7)',
  space: 'pio',
  base: 0xf4,
  size: 4,
  registers: [
    {
      name: 'EXIT',
      offset: 0,
      width: 32,
      access: 'WO',
      doc: 'Writing v ends the run with exit status (v << 1) | 1',
      fields: [{ name: 'VALUE', lsb: 0, msb: 31, access: 'WO', doc: 'Exit value', format: 'hex' }],
    },
  ],
};

/**
 * QEMU's `isa-debug-exit,iobase=0xf4,iosize=0x04`: a write of v (of any width) requests exit with status
 * (v << 1) | 1; reads return 0.
 */
export class DebugExitPort implements InspectableDevice {
  readonly description = DEBUGEXIT_DESCRIPTION;
  onExit: ((status: number) => void) | undefined;
  private lastValue = 0;

  constructor(ports: PortSpace, onExit?: (status: number) => void) {
    this.onExit = onExit;
    ports.register(
      0xf4,
      4,
      { read: () => 0, write: (_o, _s, v) => this.exit(v), peek: () => 0 },
      { device: 'debugexit', valid: { min: 1, max: 4, unaligned: true }, impl: { min: 1, max: 4 } },
    );
  }

  /** Status requested by the last write, or undefined. */
  exitStatus: number | undefined;

  peekRegister(_register: RegisterDescription): bigint {
    return BigInt(this.lastValue);
  }

  pokeRegister(_register: RegisterDescription, value: bigint, path: 'guest' | 'debugger'): void {
    const v = Number(BigInt.asUintN(32, value));
    if (path === 'guest') this.exit(v);
    else this.lastValue = v;
  }

  private exit(value: number): void {
    this.lastValue = value >>> 0;
    // QEMU computes the status in a 32-bit int: (v << 1) | 1, then exit() keeps the low 8 bits on POSIX.
    const status = ((value << 1) | 1) >>> 0;
    this.exitStatus = status;
    this.onExit?.(status);
  }
}
