import type { PortSpace } from '../bus/ports';
import type { DeviceDescription, InspectableDevice, RegisterDescription } from '../regs/describe';
import type { IrqLine } from './interrupts';

const STATUS_OBF = 0x01;
const STATUS_SYS = 0x04;
const STATUS_CMD = 0x08;
const STATUS_UNLOCKED = 0x10;
const STATUS_AUX_OBF = 0x20;
const STATUS_TIMEOUT = 0x40;

const CCB_KBD_INT = 0x01;
const CCB_AUX_INT = 0x02;
const CCB_SYS = 0x04;
const CCB_KBD_DISABLED = 0x10;
const CCB_AUX_DISABLED = 0x20;
const CCB_TRANSLATE = 0x40;

const OUT_RESET = 0x01;
const OUT_A20 = 0x02;
/** Output port lines with no function here, read as 1 (keyboard clock/data, undefined bits). */
const OUT_ONES = 0xcc;

const KBD_ACK = 0xfa;

export interface I8042Options {
  /** Pulse on the CPU reset line (command 0xFE, or bit 0 of the output port written as 0). */
  readonly onReset?: () => void;
  /** The A20 gate, driven by bit 1 of the output port. */
  readonly onA20?: (enabled: boolean) => void;
}

export const I8042_DESCRIPTION: DeviceDescription = {
  name: 'i8042',
  title: 'Intel 8042 keyboard controller',
  space: 'pio',
  base: 0x60,
  size: 5,
  doc: 'Data port 0x60, status/command port 0x64. The command byte and output port are internal registers.',
  registers: [
    {
      name: 'DATA',
      offset: 0,
      width: 8,
      access: 'RW',
      doc: 'Output buffer (reading takes the byte) / input buffer for the keyboard or a command parameter',
      fields: [{ name: 'VALUE', lsb: 0, msb: 7, access: 'RW', doc: 'Data byte', format: 'hex' }],
    },
    {
      name: 'STATUS',
      offset: 4,
      width: 8,
      access: 'RO',
      doc: 'Status register (read) / command register (write)',
      fields: [
        { name: 'OBF', lsb: 0, msb: 0, access: 'RO', doc: 'Output buffer full' },
        { name: 'IBF', lsb: 1, msb: 1, access: 'RO', doc: 'Input buffer full (always 0: commands complete at once)' },
        { name: 'SYS', lsb: 2, msb: 2, access: 'RO', doc: 'System flag from the command byte' },
        { name: 'CMD_DATA', lsb: 3, msb: 3, access: 'RO', doc: 'Last write was to the command port' },
        { name: 'UNLOCKED', lsb: 4, msb: 4, access: 'RO', doc: 'Keyboard not inhibited' },
        { name: 'AUX_OBF', lsb: 5, msb: 5, access: 'RO', doc: 'Output buffer holds auxiliary-device data' },
        { name: 'TIMEOUT', lsb: 6, msb: 6, access: 'RO', doc: 'The device did not answer' },
        { name: 'PARITY', lsb: 7, msb: 7, access: 'RO', doc: 'Parity error' },
      ],
    },
    {
      name: 'COMMAND_BYTE',
      offset: 0x100,
      width: 8,
      access: 'RW',
      internal: true,
      doc: 'Controller command byte (read with 0x20, written with 0x60)',
      fields: [
        { name: 'KBD_INT', lsb: 0, msb: 0, access: 'RW', doc: 'IRQ1 on keyboard data' },
        { name: 'AUX_INT', lsb: 1, msb: 1, access: 'RW', doc: 'IRQ12 on auxiliary data' },
        { name: 'SYS', lsb: 2, msb: 2, access: 'RW', doc: 'System flag (POST passed)' },
        { name: 'KBD_DISABLE', lsb: 4, msb: 4, access: 'RW', doc: 'Keyboard clock disabled' },
        { name: 'AUX_DISABLE', lsb: 5, msb: 5, access: 'RW', doc: 'Auxiliary clock disabled' },
        { name: 'XLATE', lsb: 6, msb: 6, access: 'RW', doc: 'Scan code set 1 translation' },
      ],
    },
    {
      name: 'OUTPUT_PORT',
      offset: 0x101,
      width: 8,
      access: 'RW',
      internal: true,
      doc: 'Controller output port (read with 0xD0, written with 0xD1)',
      fields: [
        { name: 'RESET', lsb: 0, msb: 0, access: 'RW', doc: 'CPU reset line (0 asserts reset)' },
        { name: 'A20', lsb: 1, msb: 1, access: 'RW', doc: 'A20 gate' },
        { name: 'KBD_OBF', lsb: 4, msb: 4, access: 'RO', doc: 'Keyboard output buffer full (IRQ1)' },
        { name: 'AUX_OBF', lsb: 5, msb: 5, access: 'RO', doc: 'Auxiliary output buffer full (IRQ12)' },
      ],
    },
  ],
};

/** Where the next data-port write goes. */
type PendingWrite = 'keyboard' | 'command-byte' | 'output-port' | 'kbd-buffer' | 'aux-buffer' | 'aux-device' | 'ram';

/**
 * An 8042 keyboard controller with a minimal PS/2 keyboard that answers the commands a kernel probes with (reset,
 * identify, LEDs, scan code set, enable). There is no auxiliary device: commands sent to it time out, as on a
 * PC with no mouse.
 */
export class I8042 implements InspectableDevice {
  readonly description = I8042_DESCRIPTION;
  private commandByte = CCB_TRANSLATE | CCB_SYS | CCB_KBD_INT;
  private outputPort = OUT_RESET | OUT_A20;
  private status = STATUS_UNLOCKED;
  private outputBuffer = 0;
  private readonly keyboardQueue: number[] = [];
  private readonly controllerRam = new Uint8Array(32);
  private pending: PendingWrite = 'keyboard';
  private ramIndex = 0;
  /** A keyboard command waiting for its parameter byte. */
  private keyboardParameterFor: number | undefined;

  constructor(
    ports: PortSpace,
    private readonly irq1: IrqLine,
    private readonly irq12: IrqLine,
    private readonly options: I8042Options = {},
  ) {
    const rules = { valid: { min: 1, max: 1 }, impl: { min: 1, max: 1 } } as const;
    ports.register(
      0x60,
      1,
      { read: () => this.readData(), write: (_o, _s, v) => this.writeData(v), peek: () => this.outputBuffer },
      { device: 'i8042', name: 'data', ...rules },
    );
    ports.register(
      0x64,
      1,
      { read: () => this.statusByte(), write: (_o, _s, v) => this.writeCommand(v), peek: () => this.statusByte() },
      { device: 'i8042', name: 'command', ...rules },
    );
  }

  /** Bit 1 of the output port. */
  get a20Enabled(): boolean {
    return (this.outputPort & OUT_A20) !== 0;
  }

  peekRegister(register: RegisterDescription): bigint {
    switch (register.name) {
      case 'DATA':
        return BigInt(this.outputBuffer);
      case 'STATUS':
        return BigInt(this.statusByte());
      case 'COMMAND_BYTE':
        return BigInt(this.commandByte);
      default:
        return BigInt(this.outputPortValue());
    }
  }

  pokeRegister(register: RegisterDescription, value: bigint, path: 'guest' | 'debugger'): void {
    const v = Number(BigInt.asUintN(8, value));
    switch (register.name) {
      case 'DATA':
        if (path === 'guest') this.writeData(v);
        else this.outputBuffer = v;
        break;
      case 'STATUS':
        if (path === 'guest') this.writeCommand(v);
        break;
      case 'COMMAND_BYTE':
        this.setCommandByte(v);
        break;
      default:
        if (path === 'guest') this.writeOutputPort(v);
        else this.outputPort = v & (OUT_RESET | OUT_A20);
        break;
    }
  }

  private statusByte(): number {
    return (this.status & ~STATUS_SYS) | (this.commandByte & CCB_SYS ? STATUS_SYS : 0);
  }

  private outputPortValue(): number {
    const full = this.status & STATUS_OBF;
    const aux = this.status & STATUS_AUX_OBF;
    return this.outputPort | OUT_ONES | (full && !aux ? 0x10 : 0) | (full && aux ? 0x20 : 0);
  }

  private readData(): number {
    const value = this.outputBuffer;
    this.status &= ~(STATUS_OBF | STATUS_AUX_OBF | STATUS_TIMEOUT);
    this.refill();
    this.updateIrqs();
    return value;
  }

  private writeData(value: number): void {
    this.status &= ~STATUS_CMD;
    const target = this.pending;
    this.pending = 'keyboard';
    switch (target) {
      case 'command-byte':
        this.setCommandByte(value);
        break;
      case 'output-port':
        this.writeOutputPort(value);
        break;
      case 'kbd-buffer':
        this.emitController(value, false);
        break;
      case 'aux-buffer':
        this.emitController(value, true);
        break;
      case 'aux-device':
        // No auxiliary device: the controller reports a timeout with 0xFE, which PS/2 drivers treat as absent.
        this.emitController(0xfe, true, STATUS_TIMEOUT);
        break;
      case 'ram':
        this.controllerRam[this.ramIndex] = value;
        break;
      default:
        this.keyboardCommand(value);
        break;
    }
  }

  private writeCommand(command: number): void {
    this.status |= STATUS_CMD;
    if (command >= 0x20 && command <= 0x3f) {
      this.emitController(command === 0x20 ? this.commandByte : this.controllerRam[command - 0x20], false);
      return;
    }
    if (command >= 0x60 && command <= 0x7f) {
      this.pending = command === 0x60 ? 'command-byte' : 'ram';
      this.ramIndex = command - 0x60;
      return;
    }
    if (command >= 0xf0) {
      // Pulse output port lines: bits 3:0 of the command low select the lines; line 0 is CPU reset.
      if (!(command & 0x01)) this.options.onReset?.();
      return;
    }
    switch (command) {
      case 0xa7:
        this.setCommandByte(this.commandByte | CCB_AUX_DISABLED);
        break;
      case 0xa8:
        this.setCommandByte(this.commandByte & ~CCB_AUX_DISABLED);
        break;
      case 0xa9: // auxiliary interface test: 0 = no error
      case 0xab: // keyboard interface test
        this.emitController(0x00, false);
        break;
      case 0xaa:
        // Self-test passes with 0x55 and sets the system flag.
        this.setCommandByte(this.commandByte | CCB_SYS);
        this.emitController(0x55, false);
        break;
      case 0xad:
        this.setCommandByte(this.commandByte | CCB_KBD_DISABLED);
        break;
      case 0xae:
        this.setCommandByte(this.commandByte & ~CCB_KBD_DISABLED);
        break;
      case 0xc0:
        this.emitController(0xff, false);
        break;
      case 0xd0:
        this.emitController(this.outputPortValue(), false);
        break;
      case 0xd1:
        this.pending = 'output-port';
        break;
      case 0xd2:
        this.pending = 'kbd-buffer';
        break;
      case 0xd3:
        this.pending = 'aux-buffer';
        break;
      case 0xd4:
        this.pending = 'aux-device';
        break;
      case 0xdd:
        this.writeOutputPort(this.outputPort & ~OUT_A20);
        break;
      case 0xdf:
        this.writeOutputPort(this.outputPort | OUT_A20);
        break;
      default:
        break;
    }
  }

  private setCommandByte(value: number): void {
    this.commandByte = value;
    if (!(value & CCB_KBD_DISABLED)) this.refill();
    this.updateIrqs();
  }

  private writeOutputPort(value: number): void {
    const a20Before = this.a20Enabled;
    this.outputPort = value & (OUT_RESET | OUT_A20);
    if (this.a20Enabled !== a20Before) this.options.onA20?.(this.a20Enabled);
    if (!(value & OUT_RESET)) {
      this.outputPort |= OUT_RESET;
      this.options.onReset?.();
    }
  }

  /** The PS/2 keyboard: every command is acknowledged; some answer more (identify, reset, echo). */
  private keyboardCommand(value: number): void {
    const parameterFor = this.keyboardParameterFor;
    if (parameterFor !== undefined) {
      this.keyboardParameterFor = undefined;
      this.keyboardQueue.push(KBD_ACK);
      if (parameterFor === 0xf0 && value === 0) this.keyboardQueue.push(KBD_ACK, 0x02);
      this.refill();
      return;
    }
    switch (value) {
      case 0xee:
        this.keyboardQueue.push(0xee);
        break;
      case 0xf2:
        this.keyboardQueue.push(KBD_ACK, 0xab, 0x83);
        break;
      case 0xff:
        this.keyboardQueue.length = 0;
        this.keyboardQueue.push(KBD_ACK, 0xaa);
        break;
      case 0xed:
      case 0xf0:
      case 0xf3:
        this.keyboardParameterFor = value;
        this.keyboardQueue.push(KBD_ACK);
        break;
      default:
        this.keyboardQueue.push(KBD_ACK);
        break;
    }
    this.refill();
  }

  /** A byte the controller itself places in the output buffer (command replies, 0xD2/0xD3 echoes). */
  private emitController(value: number, aux: boolean, extraStatus = 0): void {
    this.outputBuffer = value;
    this.status =
      (this.status & ~(STATUS_AUX_OBF | STATUS_TIMEOUT)) | STATUS_OBF | (aux ? STATUS_AUX_OBF : 0) | extraStatus;
    this.updateIrqs();
  }

  private refill(): void {
    if (this.status & STATUS_OBF || this.commandByte & CCB_KBD_DISABLED) return;
    const next = this.keyboardQueue.shift();
    if (next === undefined) return;
    this.emitController(next, false);
  }

  private updateIrqs(): void {
    const full = (this.status & STATUS_OBF) !== 0;
    const aux = (this.status & STATUS_AUX_OBF) !== 0;
    const kbdLevel = full && !aux && (this.commandByte & CCB_KBD_INT) !== 0;
    const auxLevel = full && aux && (this.commandByte & CCB_AUX_INT) !== 0;
    if (kbdLevel !== this.irq1.high) this.irq1.set(kbdLevel);
    if (auxLevel !== this.irq12.high) this.irq12.set(auxLevel);
  }
}
