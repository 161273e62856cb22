import type { DeviceDescription, RegisterDescription } from '../core/regs/describe';

export interface Located {
  readonly device: DeviceDescription | undefined;
  readonly register: RegisterDescription | undefined;
  /** Address of the register's first byte when `register` is set. */
  readonly registerAddress: number;
}

const NOWHERE: Located = { device: undefined, register: undefined, registerAddress: 0 };

/** Finds the device and register at an address; results are cached per address. */
export class DeviceDirectory {
  private readonly byName = new Map<string, DeviceDescription>();
  private readonly cache = new Map<number, Located>();

  constructor(devices: readonly DeviceDescription[] = []) {
    this.replace(devices);
  }

  replace(devices: readonly DeviceDescription[]): void {
    this.byName.clear();
    this.cache.clear();
    for (const d of devices) this.byName.set(d.name.toLowerCase(), d);
  }

  all(): DeviceDescription[] {
    return [...this.byName.values()];
  }

  byDeviceName(name: string): DeviceDescription | undefined {
    return this.byName.get(name.toLowerCase());
  }

  locate(space: 'mmio' | 'pio', address: number): Located {
    const key = space === 'pio' ? -1 - address : address;
    let found = this.cache.get(key);
    if (found) return found;
    found = NOWHERE;
    // A device's span may enclose another's ports (the PIC's ELCR at 0x4D0 puts COM1 inside its span):
    // a device with a register at the address wins over one that merely spans it.
    for (const device of this.byName.values()) {
      if (device.space !== space || address < device.base || address >= device.base + device.size) continue;
      const offset = address - device.base;
      const register = device.registers.find(
        (r) => !r.internal && offset >= r.offset && offset < r.offset + r.width / 8,
      );
      if (register) {
        found = { device, register, registerAddress: device.base + register.offset };
        break;
      }
      if (found === NOWHERE) found = { device, register: undefined, registerAddress: 0 };
    }
    this.cache.set(key, found);
    return found;
  }

  /** `hpet.GCAP_ID`, `hpet+0x18`, `port 0x3f8`, `0xfee00000`. */
  describeAddress(space: 'mmio' | 'pio', address: number): string {
    const { device, register } = this.locate(space, address);
    if (register) return `${device!.name}.${register.name}`;
    if (device) return `${device.name}+0x${(address - device.base).toString(16)}`;
    return `${space === 'pio' ? 'port ' : ''}0x${address.toString(16)}`;
  }
}
