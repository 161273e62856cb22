import type { PortSpace } from '../bus/ports';
import type { SmallAccessSize } from '../bus/types';
import type { DeviceDescription, FieldDescription, RegisterDescription, InspectableDevice } from '../regs/describe';
import type { InterruptAcceptor, IrqSink } from './interrupts';

const CASCADE_LINE = 2;
/** PIIX ELCR: IRQ 0, 1, 2, 8 and 13 are always edge-triggered (PIIX3 datasheet, ELCR1/ELCR2). */
const MASTER_ELCR_MASK = 0xf8;
const SLAVE_ELCR_MASK = 0xde;

/** One Intel 8259A programmable interrupt controller (8259A datasheet). */
class Pic8259 {
  irr = 0;
  isr = 0;
  imr = 0;
  /** Current level of the eight IR inputs. */
  inputLevels = 0;
  /** Edge/level control (ELCR): 1 = level-triggered. */
  elcr = 0;
  vectorBase = 0;
  /** Rotation: IR (priorityAdd) has the highest priority, IR (priorityAdd - 1) the lowest. */
  priorityAdd = 0;
  readIsr = false;
  pollPending = false;
  specialMask = false;
  autoEoi = false;
  rotateOnAutoEoi = false;
  specialFullyNested = false;
  /** 0: operational; 1-3: expecting ICW2, ICW3, ICW4. */
  initState = 0;
  needIcw4 = false;
  singleMode = false;
  icw1 = 0;
  icw3 = 0;
  icw4 = 0;

  constructor(
    readonly isMaster: boolean,
    readonly elcrMask: number,
  ) {}

  setInput(line: number, level: boolean): void {
    const bit = 1 << line;
    if (this.elcr & bit) {
      if (level) this.irr |= bit;
      else this.irr &= ~bit;
    } else if (level && !(this.inputLevels & bit)) {
      // Edge-triggered: the request latches on the rising edge and stays until acknowledged. Device models
      // drive instantaneous pulses, so the latch must survive the falling edge (as QEMU's model does).
      this.irr |= bit;
    }
    if (level) this.inputLevels |= bit;
    else this.inputLevels &= ~bit;
  }

  private priorityOf(mask: number): number {
    if (mask === 0) return 8;
    let priority = 0;
    while ((mask & (1 << ((priority + this.priorityAdd) & 7))) === 0) priority++;
    return priority;
  }

  /** The IR line the chip would present at the next INTA, or -1 (8259A datasheet, priority resolver). */
  pendingIrq(): number {
    const priority = this.priorityOf(this.irr & ~this.imr);
    if (priority === 8) return -1;
    let inService = this.isr;
    // Special mask mode: masked in-service levels do not inhibit lower priorities (OCW3 SMM).
    if (this.specialMask) inService &= ~this.imr;
    // Special fully nested mode: the master lets further requests from the slave through (ICW4 SFNM).
    if (this.specialFullyNested && this.isMaster) inService &= ~(1 << CASCADE_LINE);
    return priority < this.priorityOf(inService) ? (priority + this.priorityAdd) & 7 : -1;
  }

  acknowledgeIrq(irq: number): void {
    const bit = 1 << irq;
    if (this.autoEoi) {
      if (this.rotateOnAutoEoi) this.priorityAdd = (irq + 1) & 7;
    } else {
      this.isr |= bit;
    }
    if (!(this.elcr & bit)) this.irr &= ~bit;
  }

  /** Poll command result: bit 7 = request present, bits 2:0 = highest requesting level (OCW3 P). */
  pollRead(): number {
    const irq = this.pendingIrq();
    if (irq < 0) return 0;
    this.acknowledgeIrq(irq);
    return 0x80 | irq;
  }

  writeCommand(value: number): void {
    if (value & 0x10) {
      this.initialize(value);
    } else if (value & 0x08) {
      // OCW3
      if (value & 0x04) this.pollPending = true;
      if (value & 0x02) this.readIsr = (value & 0x01) !== 0;
      if (value & 0x40) this.specialMask = (value & 0x20) !== 0;
    } else {
      this.writeOcw2(value);
    }
  }

  private initialize(icw1: number): void {
    // ICW1: IMR and ISR cleared, IR7 lowest priority, special mask off, status read selects the IRR, and the
    // edge-sense latches reset so an edge-triggered input needs a new rising edge.
    this.icw1 = icw1;
    this.irr = this.inputLevels & this.elcr;
    this.isr = 0;
    this.imr = 0;
    this.priorityAdd = 0;
    this.readIsr = false;
    this.pollPending = false;
    this.specialMask = false;
    this.autoEoi = false;
    this.rotateOnAutoEoi = false;
    this.specialFullyNested = false;
    this.needIcw4 = (icw1 & 0x01) !== 0;
    this.singleMode = (icw1 & 0x02) !== 0;
    this.icw4 = 0;
    this.initState = 1;
  }

  private writeOcw2(value: number): void {
    const command = value >> 5;
    switch (command) {
      case 0:
      case 4:
        this.rotateOnAutoEoi = command === 4;
        break;
      case 1:
      case 5: {
        const priority = this.priorityOf(this.isr);
        if (priority === 8) break;
        const irq = (priority + this.priorityAdd) & 7;
        this.isr &= ~(1 << irq);
        if (command === 5) this.priorityAdd = (irq + 1) & 7;
        break;
      }
      case 3:
        this.isr &= ~(1 << (value & 7));
        break;
      case 6:
        this.priorityAdd = (value + 1) & 7;
        break;
      case 7:
        this.isr &= ~(1 << (value & 7));
        this.priorityAdd = (value + 1) & 7;
        break;
      default:
        break;
    }
  }

  writeData(value: number): void {
    switch (this.initState) {
      case 0:
        this.imr = value;
        break;
      case 1:
        this.vectorBase = value & 0xf8;
        this.initState = this.singleMode ? (this.needIcw4 ? 3 : 0) : 2;
        break;
      case 2:
        this.icw3 = value;
        this.initState = this.needIcw4 ? 3 : 0;
        break;
      default:
        this.icw4 = value;
        this.autoEoi = (value & 0x02) !== 0;
        this.specialFullyNested = (value & 0x10) !== 0;
        this.initState = 0;
        break;
    }
  }

  /** Command port read: poll result after an OCW3 poll command, otherwise IRR or ISR as OCW3 selected. */
  readCommand(peek: boolean): number {
    if (this.pollPending) {
      if (peek) {
        const irq = this.pendingIrq();
        return irq < 0 ? 0 : 0x80 | irq;
      }
      this.pollPending = false;
      return this.pollRead();
    }
    return this.readIsr ? this.isr : this.irr;
  }

  modeBits(): number {
    return (
      (this.autoEoi ? 0x01 : 0) |
      (this.specialFullyNested ? 0x02 : 0) |
      (this.specialMask ? 0x04 : 0) |
      (this.readIsr ? 0x08 : 0) |
      (this.pollPending ? 0x10 : 0) |
      (this.rotateOnAutoEoi ? 0x20 : 0) |
      (this.initState << 6)
    );
  }

  setModeBits(value: number): void {
    this.autoEoi = (value & 0x01) !== 0;
    this.specialFullyNested = (value & 0x02) !== 0;
    this.specialMask = (value & 0x04) !== 0;
    this.readIsr = (value & 0x08) !== 0;
    this.pollPending = (value & 0x10) !== 0;
    this.rotateOnAutoEoi = (value & 0x20) !== 0;
    this.initState = (value >> 6) & 3;
  }
}

const irFields = (what: string, access: FieldDescription['access'], first: number): FieldDescription[] =>
  Array.from({ length: 8 }, (_, i) => ({
    name: `IR${first + i}`,
    lsb: i,
    msb: i,
    access,
    doc: `${what} of IRQ ${first + i}`,
  }));

const MODE_FIELDS: FieldDescription[] = [
  { name: 'AEOI', lsb: 0, msb: 0, access: 'RW', doc: 'Automatic end of interrupt (ICW4 bit 1)' },
  { name: 'SFNM', lsb: 1, msb: 1, access: 'RW', doc: 'Special fully nested mode (ICW4 bit 4)' },
  { name: 'SMM', lsb: 2, msb: 2, access: 'RW', doc: 'Special mask mode (OCW3)' },
  { name: 'RIS', lsb: 3, msb: 3, access: 'RW', doc: 'Command port reads ISR (1) or IRR (0) (OCW3)' },
  { name: 'POLL', lsb: 4, msb: 4, access: 'RW', doc: 'Poll command pending: next command port read is a poll' },
  { name: 'ROTATE_AEOI', lsb: 5, msb: 5, access: 'RW', doc: 'Rotate priorities on automatic EOI (OCW2)' },
  {
    name: 'INIT_STATE',
    lsb: 6,
    msb: 7,
    access: 'RW',
    doc: 'Initialization sequence position',
    enum: [
      { value: 0, name: 'ready' },
      { value: 1, name: 'expecting ICW2' },
      { value: 2, name: 'expecting ICW3' },
      { value: 3, name: 'expecting ICW4' },
    ],
  },
];

function chipRegisters(
  prefix: 'MASTER' | 'SLAVE',
  portOffset: number,
  key: number,
  first: number,
): RegisterDescription[] {
  const chip = prefix === 'MASTER' ? 'master' : 'slave';
  return [
    {
      name: `${prefix}_COMMAND`,
      offset: portOffset,
      width: 8,
      access: 'RW',
      doc: `${chip} command port: writes ICW1/OCW2/OCW3; reads IRR, ISR or the poll byte as OCW3 selected`,
      fields: [],
    },
    {
      name: `${prefix}_DATA`,
      offset: portOffset + 1,
      width: 8,
      access: 'RW',
      doc: `${chip} data port: ICW2-ICW4 during initialization, otherwise the interrupt mask (OCW1)`,
      fields: irFields('Mask', 'RW', first),
    },
    {
      name: `${prefix}_IRR`,
      offset: key,
      width: 8,
      access: 'RO',
      internal: true,
      doc: `${chip} interrupt request register`,
      fields: irFields('Request', 'RO', first),
    },
    {
      name: `${prefix}_ISR`,
      offset: key + 1,
      width: 8,
      access: 'RO',
      internal: true,
      doc: `${chip} in-service register`,
      fields: irFields('In service', 'RO', first),
    },
    {
      name: `${prefix}_IMR`,
      offset: key + 2,
      width: 8,
      access: 'RW',
      internal: true,
      doc: `${chip} interrupt mask register`,
      fields: irFields('Mask', 'RW', first),
    },
    {
      name: `${prefix}_VECTOR_BASE`,
      offset: key + 3,
      width: 8,
      access: 'RW',
      internal: true,
      doc: `${chip} vector of IR0 (ICW2, bits 7:3)`,
      fields: [{ name: 'T', lsb: 3, msb: 7, access: 'RW', doc: 'Vector bits 7:3', format: 'hex' }],
    },
    {
      name: `${prefix}_MODE`,
      offset: key + 4,
      width: 8,
      access: 'RW',
      internal: true,
      doc: `${chip} operating mode from ICW4 and OCW3`,
      fields: MODE_FIELDS,
    },
    {
      name: `${prefix}_LOWEST_PRIORITY`,
      offset: key + 5,
      width: 8,
      access: 'RW',
      internal: true,
      doc: `${chip} IR level with the lowest priority (7 after initialization; changed by rotation)`,
      fields: [{ name: 'LEVEL', lsb: 0, msb: 2, access: 'RW', doc: 'Lowest-priority IR level', format: 'dec' }],
    },
    {
      name: `${prefix}_INPUTS`,
      offset: key + 6,
      width: 8,
      access: 'RO',
      internal: true,
      doc: `${chip} current level of the IR input lines`,
      fields: irFields('Input level', 'RO', first),
    },
  ];
}

const PIC_BASE = 0x20;
const SLAVE_PORT = 0xa0;
const ELCR_PORT = 0x4d0;

export const PIC_DESCRIPTION: DeviceDescription = {
  name: 'pic',
  title: 'Two cascaded Intel 8259A interrupt controllers with the PIIX ELCR',
  space: 'pio',
  base: PIC_BASE,
  size: ELCR_PORT + 2 - PIC_BASE,
  doc:
    'Decodes ports 0x20-0x21 (master), 0xA0-0xA1 (slave, cascaded on master IR2) and 0x4D0-0x4D1 (ELCR). ' +
    'Registers marked internal expose state reached through the command sequences.',
  registers: [
    ...chipRegisters('MASTER', 0, 0x1000, 0),
    ...chipRegisters('SLAVE', SLAVE_PORT - PIC_BASE, 0x1010, 8),
    {
      name: 'ELCR1',
      offset: ELCR_PORT - PIC_BASE,
      width: 8,
      access: 'RW',
      doc: 'Edge/level control for IRQ 0-7 (1 = level); IRQ 0-2 are always edge',
      fields: irFields('Level-triggered', 'RW', 0),
    },
    {
      name: 'ELCR2',
      offset: ELCR_PORT + 1 - PIC_BASE,
      width: 8,
      access: 'RW',
      doc: 'Edge/level control for IRQ 8-15 (1 = level); IRQ 8 and 13 are always edge',
      fields: irFields('Level-triggered', 'RW', 8),
    },
  ],
};

const BYTE_PORT_RULES = { valid: { min: 1, max: 4, unaligned: true }, impl: { min: 1, max: 1 } } as const;

/**
 * The PC's pair of 8259A PICs. Inputs arrive through `setIrq` (lines 0-15); the master's INTR output is
 * reported through `onIntrChange` and consumed with `hasInterrupt()`/`acknowledge()` (the INTA cycle).
 */
export class Pic implements IrqSink, InterruptAcceptor, InspectableDevice {
  readonly description = PIC_DESCRIPTION;
  onIntrChange: ((level: boolean) => void) | undefined;
  private readonly master = new Pic8259(true, MASTER_ELCR_MASK);
  private readonly slave = new Pic8259(false, SLAVE_ELCR_MASK);
  private intr = false;

  constructor(ports: PortSpace) {
    ports.register(0x20, 2, this.chipHandler(this.master), { device: 'pic', name: 'master', ...BYTE_PORT_RULES });
    ports.register(SLAVE_PORT, 2, this.chipHandler(this.slave), { device: 'pic', name: 'slave', ...BYTE_PORT_RULES });
    ports.register(
      ELCR_PORT,
      2,
      {
        read: (offset) => this.chip(offset).elcr,
        write: (offset, _size, value) => this.writeElcr(offset, value),
        peek: (offset) => this.chip(offset).elcr,
      },
      { device: 'pic', name: 'elcr', ...BYTE_PORT_RULES },
    );
  }

  setIrq(line: number, level: boolean): void {
    if (line < 0 || line > 15) return;
    this.chip(line >> 3).setInput(line & 7, level);
    this.update();
  }

  hasInterrupt(): boolean {
    return this.intr;
  }

  /** The INTA cycle: returns the vector and moves the request into service; vector base + 7 when spurious. */
  acknowledge(): number {
    const { master, slave } = this;
    const irq = master.pendingIrq();
    let vector: number;
    if (irq < 0) {
      // Spurious: the request went away (or was masked) before INTA; IR7 is returned with no ISR bit set.
      vector = master.vectorBase + 7;
    } else {
      master.acknowledgeIrq(irq);
      if (irq === CASCADE_LINE) {
        const slaveIrq = slave.pendingIrq();
        if (slaveIrq < 0) {
          vector = slave.vectorBase + 7;
        } else {
          slave.acknowledgeIrq(slaveIrq);
          vector = slave.vectorBase + slaveIrq;
        }
      } else {
        vector = master.vectorBase + irq;
      }
    }
    this.update();
    return vector;
  }

  /** Vector base programmed by ICW2 (bits 7:3) of the master (0) or slave (1). */
  vectorBase(chip: 0 | 1): number {
    return this.chip(chip).vectorBase;
  }

  peekRegister(register: RegisterDescription): bigint {
    return BigInt(this.peekByName(register.name));
  }

  pokeRegister(register: RegisterDescription, value: bigint, path: 'guest' | 'debugger'): void {
    const v = Number(BigInt.asUintN(8, value));
    const [prefix, ...rest] = register.name.split('_');
    const what = rest.join('_');
    if (prefix === 'ELCR1' || prefix === 'ELCR2') {
      this.writeElcr(prefix === 'ELCR1' ? 0 : 1, v);
      return;
    }
    const chip = prefix === 'MASTER' ? this.master : this.slave;
    if (path === 'guest' && (what === 'COMMAND' || what === 'DATA' || what === 'IMR')) {
      if (what === 'COMMAND') chip.writeCommand(v);
      else if (what === 'DATA' || chip.initState === 0) chip.writeData(v);
      this.update();
      return;
    }
    switch (what) {
      case 'DATA':
      case 'IMR':
        chip.imr = v;
        break;
      case 'IRR':
        chip.irr = v;
        break;
      case 'ISR':
        chip.isr = v;
        break;
      case 'VECTOR_BASE':
        chip.vectorBase = v & 0xf8;
        break;
      case 'MODE':
        chip.setModeBits(v);
        break;
      case 'LOWEST_PRIORITY':
        chip.priorityAdd = (v + 1) & 7;
        break;
      default:
        return;
    }
    this.update();
  }

  private peekByName(name: string): number {
    if (name === 'ELCR1') return this.master.elcr;
    if (name === 'ELCR2') return this.slave.elcr;
    const chip = name.startsWith('MASTER_') ? this.master : this.slave;
    switch (name.slice(name.indexOf('_') + 1)) {
      case 'COMMAND':
        return chip.readCommand(true);
      case 'DATA':
      case 'IMR':
        return chip.imr;
      case 'IRR':
        return chip.irr;
      case 'ISR':
        return chip.isr;
      case 'VECTOR_BASE':
        return chip.vectorBase;
      case 'MODE':
        return chip.modeBits();
      case 'LOWEST_PRIORITY':
        return (chip.priorityAdd + 7) & 7;
      case 'INPUTS':
        return chip.inputLevels;
      default:
        return 0;
    }
  }

  private chip(index: number): Pic8259 {
    return index === 0 ? this.master : this.slave;
  }

  private chipHandler(chip: Pic8259) {
    return {
      read: (offset: number): number => {
        if (offset === 1) return chip.imr;
        const value = chip.readCommand(false);
        this.update();
        return value;
      },
      write: (offset: number, _size: SmallAccessSize, value: number): void => {
        if (offset === 0) chip.writeCommand(value);
        else chip.writeData(value);
        this.update();
      },
      peek: (offset: number): number => (offset === 1 ? chip.imr : chip.readCommand(true)),
    };
  }

  private writeElcr(index: number, value: number): void {
    const chip = this.chip(index);
    chip.elcr = value & chip.elcrMask;
    // Inputs switched to level now follow their line; edge inputs keep their latched requests.
    chip.irr = (chip.irr & ~chip.elcr) | (chip.inputLevels & chip.elcr);
    this.update();
  }

  private update(): void {
    // The slave's INT output drives master IR2 directly: the request there exists only while the slave has one.
    const cascadeBit = 1 << CASCADE_LINE;
    if (this.slave.pendingIrq() >= 0) {
      this.master.inputLevels |= cascadeBit;
      this.master.irr |= cascadeBit;
    } else {
      this.master.inputLevels &= ~cascadeBit;
      this.master.irr &= ~cascadeBit;
    }
    const intr = this.master.pendingIrq() >= 0;
    if (intr !== this.intr) {
      this.intr = intr;
      this.onIntrChange?.(intr);
    }
  }
}
