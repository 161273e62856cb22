/**
 * The ACPI power-management timer (ACPI 6.5 section 4.8.3.3, "Power Management Timer"; PIIX4 datasheet PMTMR):
 * a free-running counter at 3.579545 MHz, read through a 32-bit I/O port. This one is 24 bits wide (the FADT
 * leaves TMR_VAL_EXT clear) and reads 0 in bits 24-31. Writes are ignored. It sits where QEMU's and SeaBIOS's
 * i440FX machine puts it, PMBASE 0x600 + 8, and the FADT's PM_TMR_BLK points at it; the timer's status bit
 * and SCI are not modelled (nothing enables them before an ACPI OS installs its SCI handler, and Linux only
 * reads the counter).
 */
import type { PortSpace } from '../bus/ports';
import type { DeviceDescription, InspectableDevice, RegisterDescription } from '../regs/describe';
import type { TimeSource } from '../time/scheduler';

export const PM_TIMER_PORT = 0x608;
export const PM_TIMER_HZ = 3_579_545;
const PM_TIMER_MASK = 0xffffff;

export const PM_TIMER_DESCRIPTION: DeviceDescription = {
  name: 'pmtimer',
  title: 'ACPI PM timer (port 0x608)',
  space: 'pio',
  base: PM_TIMER_PORT,
  size: 4,
  registers: [
    {
      name: 'PM_TMR',
      offset: 0,
      width: 32,
      access: 'RO',
      doc: 'Power-management timer: counts at 3.579545 MHz and wraps at 2^24',
      fields: [{ name: 'TMR_VAL', lsb: 0, msb: 23, access: 'RO', doc: 'Running count', format: 'hex' }],
    },
  ],
};

export class AcpiPmTimer implements InspectableDevice {
  readonly description = PM_TIMER_DESCRIPTION;

  constructor(
    ports: PortSpace,
    private readonly clock: TimeSource,
  ) {
    ports.register(
      PM_TIMER_PORT,
      4,
      { read: () => this.count(), write: () => undefined, peek: () => this.count() },
      { device: 'pmtimer', valid: { min: 1, max: 4 }, impl: { min: 4, max: 4 } },
    );
  }

  /** The counter now: ticks of 1/3.579545 MHz since the machine started, modulo 2^24. */
  count(): number {
    const ns = this.clock.now();
    // Whole seconds and the rest apart, so that the products stay exact in double arithmetic.
    const seconds = Math.floor(ns / 1e9);
    const ticks = (seconds % 0x1000000) * PM_TIMER_HZ + Math.floor(((ns - seconds * 1e9) * PM_TIMER_HZ) / 1e9);
    return ticks % (PM_TIMER_MASK + 1);
  }

  peekRegister(_register: RegisterDescription): bigint {
    return BigInt(this.count());
  }

  pokeRegister(): void {
    // Read-only: the count follows the machine's clock.
  }
}
