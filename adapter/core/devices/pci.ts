import type { PortSpace } from '../bus/ports';
import type { SmallAccessSize } from '../bus/types';
import type { DeviceDescription, InspectableDevice, RegisterDescription } from '../regs/describe';

export type BarKind = 'io' | 'mem32' | 'mem64';

export interface PciFunctionIdentity {
  readonly vendorId: number;
  readonly deviceId: number;
  readonly revision: number;
  /** Base class, subclass and programming interface as 0xCCSSPP. */
  readonly classCode: number;
  /** Header type byte; bit 7 marks a multi-function device. */
  readonly headerType?: number;
  readonly subsystemVendorId?: number;
  readonly subsystemId?: number;
}

const COMMAND = 0x04;
const STATUS = 0x06;
/** Command bits software may change: I/O, memory, bus master, parity error response, SERR, INTx disable. */
const COMMAND_WRITABLE = 0x0547;
/** Status bits 15:11 and 8 are write-1-to-clear error flags (PCI Local Bus 3.0, 6.2.3). */
const STATUS_W1C = 0xf900;

/**
 * One PCI function's 256-byte configuration space: bytes, a writable mask and a write-1-to-clear mask. BARs
 * follow the sizing protocol (write all-ones, read back the size mask). Subclasses extend behaviour with
 * `onConfigWrite`.
 */
export class PciFunction {
  readonly config = new Uint8Array(256);
  readonly writable = new Uint8Array(256);
  readonly writeOneToClear = new Uint8Array(256);
  /** Called after a guest write changed configuration bytes [offset, offset + size). */
  onConfigWrite: ((offset: number, size: number) => void) | undefined;

  constructor(identity: PciFunctionIdentity) {
    this.set16(0x00, identity.vendorId);
    this.set16(0x02, identity.deviceId);
    this.config[0x08] = identity.revision;
    this.config[0x09] = identity.classCode & 0xff;
    this.config[0x0a] = (identity.classCode >> 8) & 0xff;
    this.config[0x0b] = (identity.classCode >> 16) & 0xff;
    this.config[0x0e] = identity.headerType ?? 0;
    if ((this.config[0x0e] & 0x7f) === 0) {
      this.set16(0x2c, identity.subsystemVendorId ?? 0);
      this.set16(0x2e, identity.subsystemId ?? 0);
      this.writable[0x3c] = 0xff; // interrupt line
    }
    this.setWritable(COMMAND, 2, COMMAND_WRITABLE);
    this.setMask(this.writeOneToClear, STATUS, 2, STATUS_W1C);
    this.writable[0x0c] = 0xff; // cache line size
    this.writable[0x0d] = 0xff; // latency timer
  }

  /** Declares BAR `index` (0-5) decoding `size` bytes (a power of two). A 64-bit BAR also takes index + 1. */
  addBar(index: number, size: number, kind: BarKind, prefetchable = false): void {
    const offset = 0x10 + index * 4;
    const minimum = kind === 'io' ? 4 : 16;
    const span = Math.max(size, minimum);
    const typeBits = kind === 'io' ? 0x1 : (kind === 'mem64' ? 0x4 : 0) | (prefetchable ? 0x8 : 0);
    this.set32(offset, typeBits);
    const addressMask = (~(span - 1) & (kind === 'io' ? 0xfffffffc : 0xfffffff0)) >>> 0;
    this.setWritable(offset, 4, addressMask);
    if (kind === 'mem64') this.setWritable(offset + 4, 4, 0xffffffff);
  }

  /** Address programmed into a BAR (type bits removed). */
  barAddress(index: number): number {
    const raw = this.read(0x10 + index * 4, 4);
    return (raw & 1 ? raw & 0xfffffffc : raw & 0xfffffff0) >>> 0;
  }

  setWritable(offset: number, size: number, mask: number): void {
    this.setMask(this.writable, offset, size, mask);
  }

  read(offset: number, size: SmallAccessSize): number {
    let value = 0;
    for (let i = 0; i < size; i++) value |= this.config[(offset + i) & 0xff] << (i * 8);
    return value >>> 0;
  }

  write(offset: number, size: SmallAccessSize, value: number): void {
    for (let i = 0; i < size; i++) {
      const at = (offset + i) & 0xff;
      const byte = (value >>> (i * 8)) & 0xff;
      const keep = this.config[at] & ~this.writable[at] & ~(byte & this.writeOneToClear[at]);
      this.config[at] = keep | (byte & this.writable[at]);
    }
    this.onConfigWrite?.(offset, size);
  }

  set16(offset: number, value: number): void {
    this.config[offset] = value & 0xff;
    this.config[offset + 1] = (value >> 8) & 0xff;
  }

  set32(offset: number, value: number): void {
    this.set16(offset, value & 0xffff);
    this.set16(offset + 2, value >>> 16);
  }

  private setMask(mask: Uint8Array, offset: number, size: number, bits: number): void {
    for (let i = 0; i < size; i++) mask[offset + i] = (bits >>> (i * 8)) & 0xff;
  }
}

/** Intel 82441FX PMC (440FX host bridge), 00:00.0. */
export function createI440fxHostBridge(): PciFunction {
  const bridge = new PciFunction({ vendorId: 0x8086, deviceId: 0x1237, revision: 0x02, classCode: 0x060000 });
  bridge.set16(COMMAND, 0x0006);
  bridge.set16(STATUS, 0x0280);
  // PAM0-PAM6 (0x59-0x5F) and SMRAM (0x72) are writable; this machine's BIOS area is plain RAM.
  for (let offset = 0x59; offset <= 0x5f; offset++) bridge.writable[offset] = 0xff;
  bridge.config[0x72] = 0x02;
  bridge.writable[0x72] = 0x78;
  return bridge;
}

/** Intel 82371SB PIIX3 PCI-to-ISA bridge, 00:01.0 (multi-function, as with its IDE and USB functions). */
export function createPiix3IsaBridge(): PciFunction {
  const isa = new PciFunction({
    vendorId: 0x8086,
    deviceId: 0x7000,
    revision: 0x00,
    classCode: 0x060100,
    headerType: 0x80,
  });
  isa.writable[0x3c] = 0;
  isa.set16(COMMAND, 0x0007);
  isa.set16(STATUS, 0x0200);
  // PIRQA-D route control (0x60-0x63): bit 7 set = not routed (PIIX3 datasheet, PIRQRC reset value 0x80).
  for (let offset = 0x60; offset <= 0x63; offset++) {
    isa.config[offset] = 0x80;
    isa.writable[offset] = 0x8f;
  }
  isa.config[0x69] = 0x02; // top of memory
  isa.writable[0x69] = 0xfe;
  isa.config[0x4c] = 0x4d; // ISA I/O recovery timer
  isa.writable[0x4c] = 0xff;
  isa.config[0x4e] = 0x03; // X-bus chip select
  isa.writable[0x4e] = 0xff;
  isa.config[0x6a] = 0x00;
  isa.writable[0x6a] = 0xd7;
  return isa;
}

export const PCI_DESCRIPTION: DeviceDescription = {
  name: 'pci',
  title: 'PCI configuration mechanism #1 (bus 0)',
  space: 'pio',
  base: 0xcf8,
  size: 8,
  doc: 'CONFIG_ADDRESS at 0xCF8 (32-bit accesses only), CONFIG_DATA at 0xCFC-0xCFF (any width, any byte).',
  registers: [
    {
      name: 'CONFIG_ADDRESS',
      offset: 0,
      width: 32,
      access: 'RW',
      doc: 'Selects the configuration register that CONFIG_DATA reaches',
      fields: [
        { name: 'REGISTER', lsb: 2, msb: 7, access: 'RW', doc: 'Dword index in configuration space', format: 'hex' },
        { name: 'FUNCTION', lsb: 8, msb: 10, access: 'RW', doc: 'Function number', format: 'dec' },
        { name: 'DEVICE', lsb: 11, msb: 15, access: 'RW', doc: 'Device number', format: 'dec' },
        { name: 'BUS', lsb: 16, msb: 23, access: 'RW', doc: 'Bus number', format: 'dec' },
        { name: 'ENABLE', lsb: 31, msb: 31, access: 'RW', doc: 'Configuration cycles enabled' },
      ],
    },
    {
      name: 'RESET_CONTROL',
      offset: 1,
      width: 8,
      access: 'RW',
      doc: 'PIIX3 reset control register at 0xCF9 (byte accesses only)',
      fields: [
        { name: 'SYS_RST', lsb: 1, msb: 1, access: 'RW', doc: 'Hard reset when RST_CPU is set' },
        { name: 'RST_CPU', lsb: 2, msb: 2, access: 'RW', doc: 'Writing 1 starts the reset' },
      ],
    },
    {
      name: 'CONFIG_DATA',
      offset: 4,
      width: 32,
      access: 'RW',
      doc: 'The configuration dword CONFIG_ADDRESS selects (all-ones when nothing answers)',
      fields: [{ name: 'VALUE', lsb: 0, msb: 31, access: 'RW', doc: 'Configuration data', format: 'hex' }],
    },
  ],
};

export interface PciHostOptions {
  /** Write of 1 to bit 2 of the reset control register at 0xCF9. */
  readonly onReset?: () => void;
}

/** The configuration access ports and bus 0, with the 440FX host bridge and the PIIX3 ISA bridge present. */
export class PciHost implements InspectableDevice {
  readonly description = PCI_DESCRIPTION;
  readonly hostBridge = createI440fxHostBridge();
  readonly isaBridge = createPiix3IsaBridge();
  private readonly functions = new Map<number, PciFunction>();
  private address = 0;
  private resetControl = 0;

  constructor(
    ports: PortSpace,
    private readonly options: PciHostOptions = {},
  ) {
    this.attach(0, 0, this.hostBridge);
    this.attach(1, 0, this.isaBridge);
    ports.register(
      0xcf8,
      8,
      {
        read: (offset, size) => this.read(offset, size),
        write: (offset, size, value) => this.write(offset, size, value),
        peek: (offset, size) => this.peek(offset, size),
      },
      { device: 'pci', valid: { min: 1, max: 4 }, impl: { min: 1, max: 4 } },
    );
  }

  /** Places a function at 00:device.function. */
  attach(device: number, fn: number, pciFunction: PciFunction): void {
    const key = (device << 3) | fn;
    if (this.functions.has(key)) throw new Error(`PCI 00:${device.toString(16)}.${fn} is already in use`);
    this.functions.set(key, pciFunction);
  }

  /** The function at bus 0, or undefined. */
  find(device: number, fn: number): PciFunction | undefined {
    return this.functions.get((device << 3) | fn);
  }

  peekRegister(register: RegisterDescription): bigint {
    return BigInt(this.peek(register.offset, register.width === 8 ? 1 : 4));
  }

  pokeRegister(register: RegisterDescription, value: bigint, _path: 'guest' | 'debugger'): void {
    const v = Number(BigInt.asUintN(register.width, value));
    if (register.name === 'RESET_CONTROL') this.resetControl = v & 0x0e;
    else this.write(register.offset, register.width === 8 ? 1 : 4, v);
  }

  private selected(): PciFunction | undefined {
    if (!(this.address & 0x80000000)) return undefined;
    if ((this.address >>> 16) & 0xff) return undefined;
    return this.functions.get((this.address >>> 8) & 0xff);
  }

  private peek(offset: number, size: SmallAccessSize): number {
    if (offset < 4) {
      if (offset === 0 && size === 4) return this.address;
      if (offset === 1 && size === 1) return this.resetControl;
      return size === 4 ? 0xffffffff : (1 << (size * 8)) - 1;
    }
    const target = this.selected();
    if (!target) return size === 4 ? 0xffffffff : (1 << (size * 8)) - 1;
    return target.read((this.address & 0xfc) + (offset - 4), size);
  }

  private read(offset: number, size: SmallAccessSize): number {
    return this.peek(offset, size);
  }

  private write(offset: number, size: SmallAccessSize, value: number): void {
    if (offset < 4) {
      // Only dword accesses reach CONFIG_ADDRESS; bits 30:24 and 1:0 are reserved and read as 0.
      if (offset === 0 && size === 4) this.address = (value & 0x80fffffc) >>> 0;
      else if (offset === 1 && size === 1) this.writeResetControl(value);
      return;
    }
    this.selected()?.write((this.address & 0xfc) + (offset - 4), size, value);
  }

  private writeResetControl(value: number): void {
    // PIIX3 RC register: bit 2 going to 1 starts a reset (bit 1 chooses hard reset, same here).
    const start = (value & 0x04) !== 0 && (this.resetControl & 0x04) === 0;
    this.resetControl = value & 0x0e;
    if (start) {
      this.resetControl &= ~0x04;
      this.options.onReset?.();
    }
  }
}
