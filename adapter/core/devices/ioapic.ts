/**
 * I/O APIC modelled on the Intel 82093AA (datasheet 290566) as found in PC chipsets: version 0x11, 24 pins,
 * registers reached through the index register IOREGSEL (offset 0x00) and the data window IOWIN (offset 0x10).
 *
 * Pins take electrical levels; the POLARITY bit of each redirection entry says which level is active
 * (ISA interrupts on a PC are active-high). A write to IOWIN must be 32 bits wide: narrower IOWIN accesses read 0
 * and are ignored. IOREGSEL accepts any width (only its low byte counts). Unused offsets read 0.
 *
 * Indirect registers are described as `internal`, with offsets 0x1000 + 4 × index outside the 4 KiB window so no
 * direct access ever decodes to them: IOAPICID is at 0x1000, redirection entry n at 0x1040 + 8n.
 */

import type { PhysicalAddressSpace } from '../bus/physical';
import type { Region, RegionHandler, SmallAccessSize } from '../bus/types';
import type { DeviceDescription, FieldDescription, InspectableDevice, RegisterDescription } from '../regs/describe';
import type { ApicMessageSink } from './apic';
import { DeliveryMode } from './apic';
import type { IrqSink } from './interrupts';

export const IOAPIC_DEFAULT_BASE = 0xfec00000;
export const IOAPIC_WINDOW_SIZE = 0x1000;
export const IOAPIC_PINS = 24;
export const IOAPIC_VERSION_VALUE = 0x00170011;
export const IOAPIC_INDIRECT_OFFSET = 0x1000;

const IOREGSEL = 0x00;
const IOWIN = 0x10;

const Index = { ID: 0x00, VERSION: 0x01, ARBITRATION: 0x02, REDIRECTION_TABLE: 0x10 } as const;

const ENTRY_DELIVERY_STATUS = 1 << 12;
const ENTRY_ACTIVE_LOW = 1 << 13;
const ENTRY_REMOTE_IRR = 1 << 14;
const ENTRY_LEVEL_TRIGGERED = 1 << 15;
const ENTRY_MASKED = 1 << 16;
const ENTRY_LOW_WRITABLE = 0x1afff;
const ENTRY_HIGH_WRITABLE = 0xff000000;

export interface IoApicOptions {
  readonly id?: number;
  readonly base?: number;
}

export interface IoApicCounters {
  /** Edges that arrived on masked pins (lost, per the 82093AA datasheet). */
  edgesLostWhileMasked: number;
  /** Messages that no local APIC accepted. */
  undelivered: number;
}

export class IoApic implements IrqSink, InspectableDevice {
  readonly description: DeviceDescription;
  readonly handler: RegionHandler;
  readonly counters: IoApicCounters = { edgesLostWhileMasked: 0, undelivered: 0 };
  private readonly base: number;
  private select = 0;
  private id: number;
  private arbitrationId: number;
  private readonly entryLow = new Uint32Array(IOAPIC_PINS);
  private readonly entryHigh = new Uint32Array(IOAPIC_PINS);
  private readonly pinLevel: boolean[] = new Array<boolean>(IOAPIC_PINS).fill(false);

  constructor(
    private readonly target: ApicMessageSink,
    options: IoApicOptions = {},
  ) {
    this.base = options.base ?? IOAPIC_DEFAULT_BASE;
    this.id = (options.id ?? 0) & 0xf;
    this.arbitrationId = this.id;
    this.entryLow.fill(ENTRY_MASKED);
    this.description = describeIoApic(this.base);
    this.handler = {
      read: (offset, size) => this.mmioRead(offset, size),
      write: (offset, size, value) => this.mmioWrite(offset, size, value),
      peek: (offset, size) => this.mmioRead(offset, size),
    };
  }

  map(space: PhysicalAddressSpace): Region {
    return space.registerMmio(this.base, IOAPIC_WINDOW_SIZE, this.handler, {
      device: 'ioapic',
      valid: { min: 1, max: 4 },
      impl: { min: 1, max: 4 },
    });
  }

  // ---- pins ----

  setIrq(pin: number, level: boolean): void {
    if (pin < 0 || pin >= IOAPIC_PINS) return;
    const wasAsserted = this.asserted(pin);
    this.pinLevel[pin] = level;
    const isAsserted = this.asserted(pin);
    if (this.levelTriggered(pin)) {
      if (isAsserted) this.serviceLevel(pin);
      return;
    }
    if (isAsserted && !wasAsserted) this.serviceEdge(pin);
  }

  /** The EOI broadcast of the local APIC: clears remote IRR of level entries with this vector. */
  endOfInterrupt(vector: number): void {
    for (let pin = 0; pin < IOAPIC_PINS; pin++) {
      const low = this.entryLow[pin];
      if ((low & 0xff) !== vector || (low & ENTRY_REMOTE_IRR) === 0) continue;
      this.entryLow[pin] = low & ~ENTRY_REMOTE_IRR;
      if (this.levelTriggered(pin) && this.asserted(pin)) this.serviceLevel(pin);
    }
  }

  /** Whether a pin's input is active after polarity. */
  asserted(pin: number): boolean {
    return this.pinLevel[pin] !== ((this.entryLow[pin] & ENTRY_ACTIVE_LOW) !== 0);
  }

  private levelTriggered(pin: number): boolean {
    const low = this.entryLow[pin];
    const mode = (low >>> 8) & 7;
    // 82093AA: SMI, NMI, INIT and ExtINT are always edge-sensitive.
    return (low & ENTRY_LEVEL_TRIGGERED) !== 0 && (mode === DeliveryMode.Fixed || mode === DeliveryMode.LowestPriority);
  }

  private serviceEdge(pin: number): void {
    if ((this.entryLow[pin] & ENTRY_MASKED) !== 0) {
      this.counters.edgesLostWhileMasked++;
      return;
    }
    this.send(pin);
  }

  private serviceLevel(pin: number): void {
    const low = this.entryLow[pin];
    if ((low & (ENTRY_MASKED | ENTRY_REMOTE_IRR)) !== 0) return;
    if (this.send(pin)) this.entryLow[pin] = this.entryLow[pin] | ENTRY_REMOTE_IRR;
  }

  private send(pin: number): boolean {
    const low = this.entryLow[pin];
    const accepted = this.target.receiveMessage({
      vector: low & 0xff,
      deliveryMode: (low >>> 8) & 7,
      levelTriggered: this.levelTriggered(pin),
      destination: this.entryHigh[pin] >>> 24,
      logicalDestination: (low & (1 << 11)) !== 0,
    });
    if (!accepted) this.counters.undelivered++;
    return accepted;
  }

  // ---- registers ----

  private mmioRead(offset: number, size: SmallAccessSize): number {
    if (offset === IOREGSEL) return this.select;
    if (offset === IOWIN && size === 4) return this.readIndirect(this.select);
    return 0;
  }

  private mmioWrite(offset: number, size: SmallAccessSize, value: number): void {
    if (offset === IOREGSEL) this.select = value & 0xff;
    else if (offset === IOWIN && size === 4) this.writeIndirect(this.select, value >>> 0);
  }

  readIndirect(index: number): number {
    switch (index) {
      case Index.ID:
        return (this.id << 24) >>> 0;
      case Index.VERSION:
        return IOAPIC_VERSION_VALUE;
      case Index.ARBITRATION:
        return (this.arbitrationId << 24) >>> 0;
    }
    const entry = index - Index.REDIRECTION_TABLE;
    if (entry < 0 || entry >= IOAPIC_PINS * 2) return 0;
    return (entry & 1) === 0 ? this.entryLow[entry >>> 1] : this.entryHigh[entry >>> 1];
  }

  writeIndirect(index: number, value: number): void {
    if (index === Index.ID) {
      // 82093AA: writing IOAPICID also loads the arbitration ID.
      this.id = (value >>> 24) & 0xf;
      this.arbitrationId = this.id;
      return;
    }
    const entry = index - Index.REDIRECTION_TABLE;
    if (entry < 0 || entry >= IOAPIC_PINS * 2) return;
    const pin = entry >>> 1;
    if ((entry & 1) === 1) {
      this.entryHigh[pin] = (value & ENTRY_HIGH_WRITABLE) >>> 0;
      return;
    }
    const wasAsserted = this.asserted(pin);
    const readOnly = this.entryLow[pin] & (ENTRY_REMOTE_IRR | ENTRY_DELIVERY_STATUS);
    this.entryLow[pin] = (value & ENTRY_LOW_WRITABLE) | readOnly;
    // Remote IRR means nothing for an edge entry. Linux clears a stuck remote IRR on I/O APICs without an EOI
    // register by switching the pin to edge and back; QEMU clears it likewise.
    if (!this.levelTriggered(pin)) this.entryLow[pin] = this.entryLow[pin] & ~ENTRY_REMOTE_IRR;
    if (this.levelTriggered(pin)) {
      if (this.asserted(pin)) this.serviceLevel(pin);
    } else if (this.asserted(pin) && !wasAsserted) {
      this.serviceEdge(pin);
    }
  }

  // ---- inspection ----

  peekRegister(register: RegisterDescription): bigint {
    const index = indirectIndex(register);
    if (index === undefined) return BigInt(this.mmioRead(register.offset, 4));
    if (register.width === 64) {
      return (BigInt(this.readIndirect(index + 1)) << 32n) | BigInt(this.readIndirect(index));
    }
    return BigInt(this.readIndirect(index));
  }

  pokeRegister(register: RegisterDescription, value: bigint, path: 'guest' | 'debugger'): void {
    const index = indirectIndex(register);
    const low = Number(BigInt.asUintN(32, value));
    const high = Number(BigInt.asUintN(32, value >> 32n));
    if (index === undefined) {
      this.mmioWrite(register.offset, 4, low);
      return;
    }
    if (path === 'guest') {
      if (register.width === 64) this.writeIndirect(index + 1, high);
      this.writeIndirect(index, low);
      return;
    }
    if (index === Index.ID) {
      this.id = (low >>> 24) & 0xf;
    } else if (index === Index.ARBITRATION) {
      this.arbitrationId = (low >>> 24) & 0xf;
    } else if (index >= Index.REDIRECTION_TABLE) {
      const pin = (index - Index.REDIRECTION_TABLE) >>> 1;
      this.entryLow[pin] = low & (ENTRY_LOW_WRITABLE | ENTRY_REMOTE_IRR | ENTRY_DELIVERY_STATUS);
      this.entryHigh[pin] = (high & ENTRY_HIGH_WRITABLE) >>> 0;
    }
  }

  /** The indirect register that IOREGSEL currently selects, for traces of IOWIN accesses. */
  selectedRegister(): RegisterDescription | undefined {
    const index = this.select >= Index.REDIRECTION_TABLE ? this.select & ~1 : this.select;
    return this.description.registers.find((r) => indirectIndex(r) === index);
  }
}

function indirectIndex(register: RegisterDescription): number | undefined {
  return register.offset >= IOAPIC_INDIRECT_OFFSET ? (register.offset - IOAPIC_INDIRECT_OFFSET) >>> 2 : undefined;
}

function field(
  name: string,
  msb: number,
  lsb: number,
  access: FieldDescription['access'],
  doc: string,
  extra: Partial<FieldDescription> = {},
): FieldDescription {
  return { name, lsb, msb, access, doc, ...extra };
}

const redirectionFields: readonly FieldDescription[] = [
  field('VECTOR', 7, 0, 'RW', 'Interrupt vector', { format: 'hex' }),
  field('DELIVERY_MODE', 10, 8, 'RW', 'Delivery mode', {
    enum: [
      { value: 0, name: 'Fixed' },
      { value: 1, name: 'LowestPriority' },
      { value: 2, name: 'SMI' },
      { value: 4, name: 'NMI' },
      { value: 5, name: 'INIT' },
      { value: 7, name: 'ExtINT' },
    ],
  }),
  field('DEST_MODE', 11, 11, 'RW', 'Destination mode', {
    enum: [
      { value: 0, name: 'Physical' },
      { value: 1, name: 'Logical' },
    ],
  }),
  field('DELIVERY_STATUS', 12, 12, 'RO', '1 = send pending'),
  field('POLARITY', 13, 13, 'RW', 'Input pin polarity', {
    enum: [
      { value: 0, name: 'ActiveHigh' },
      { value: 1, name: 'ActiveLow' },
    ],
  }),
  field('REMOTE_IRR', 14, 14, 'RO', 'Level interrupt accepted by a local APIC, cleared by its EOI'),
  field('TRIGGER_MODE', 15, 15, 'RW', 'Trigger mode', {
    enum: [
      { value: 0, name: 'Edge' },
      { value: 1, name: 'Level' },
    ],
  }),
  field('MASK', 16, 16, 'RW', '1 = masked', {
    enum: [
      { value: 0, name: 'NotMasked' },
      { value: 1, name: 'Masked' },
    ],
  }),
  field('DESTINATION', 63, 56, 'RW', 'APIC ID (physical) or logical destination set', { format: 'hex' }),
];

export function describeIoApic(base = IOAPIC_DEFAULT_BASE): DeviceDescription {
  const indirect = (index: number) => IOAPIC_INDIRECT_OFFSET + index * 4;
  const registers: RegisterDescription[] = [
    {
      name: 'IOREGSEL',
      offset: IOREGSEL,
      width: 32,
      access: 'RW',
      doc: 'Index of the register that IOWIN reaches',
      fields: [field('INDEX', 7, 0, 'RW', 'Register index', { format: 'hex' })],
      reset: 0n,
    },
    {
      name: 'IOWIN',
      offset: IOWIN,
      width: 32,
      access: 'RW',
      doc: 'Data window onto the register selected by IOREGSEL (32-bit accesses only)',
      fields: [field('DATA', 31, 0, 'RW', 'Selected register', { format: 'hex' })],
    },
    {
      name: 'IOAPICID',
      internal: true,
      offset: indirect(Index.ID),
      width: 32,
      access: 'RW',
      doc: 'I/O APIC ID (index 0x00)',
      fields: [field('ID', 27, 24, 'RW', 'I/O APIC ID')],
    },
    {
      name: 'IOAPICVER',
      internal: true,
      offset: indirect(Index.VERSION),
      width: 32,
      access: 'RO',
      doc: 'I/O APIC version (index 0x01)',
      fields: [
        field('VERSION', 7, 0, 'RO', 'Version', { format: 'hex' }),
        field('MAX_REDIRECTION_ENTRY', 23, 16, 'RO', 'Number of pins minus one', {
          explain: (v) => `${v + 1n} pins`,
        }),
      ],
      reset: BigInt(IOAPIC_VERSION_VALUE),
    },
    {
      name: 'IOAPICARB',
      internal: true,
      offset: indirect(Index.ARBITRATION),
      width: 32,
      access: 'RO',
      doc: 'Bus arbitration ID (index 0x02), loaded from IOAPICID when that is written',
      fields: [field('ARBITRATION_ID', 27, 24, 'RO', 'Arbitration ID')],
    },
  ];
  for (let pin = 0; pin < IOAPIC_PINS; pin++) {
    const index = Index.REDIRECTION_TABLE + pin * 2;
    registers.push({
      name: `REDIR${pin}`,
      internal: true,
      offset: indirect(index),
      width: 64,
      access: 'RW',
      doc: `Redirection entry for pin ${pin} (indexes 0x${index.toString(16)}/0x${(index + 1).toString(16)})`,
      fields: redirectionFields,
      reset: BigInt(ENTRY_MASKED),
    });
  }
  return {
    name: 'ioapic',
    title: 'I/O APIC (82093AA-style, 24 pins)',
    space: 'mmio',
    base,
    size: IOAPIC_WINDOW_SIZE,
    doc: 'Registers at offset 0x1000 and above are indirect: offset = 0x1000 + 4 × IOREGSEL index.',
    registers,
  };
}
