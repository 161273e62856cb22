import type { PortSpace } from '../bus/ports';
import type { DeviceDescription, FieldDescription, InspectableDevice, RegisterDescription } from '../regs/describe';
import type { Scheduler, Timer } from '../time/scheduler';
import type { IrqLine } from './interrupts';

/** 1.8432 MHz crystal divided by 16: the baud rate of divisor 1. */
const BASE_BAUD = 115200;
const FIFO_SIZE = 16;
/** The FCR receive trigger levels (16550A datasheet, FCR bits 7:6). */
const TRIGGER_LEVELS = [1, 4, 8, 14];

const IER_RDA = 0x01;
const IER_THRE = 0x02;
const IER_RLS = 0x04;
const IER_MSI = 0x08;
const IIR_NONE = 0x01;
const IIR_MSI = 0x00;
const IIR_THRE = 0x02;
const IIR_RDA = 0x04;
const IIR_RLS = 0x06;
const IIR_TIMEOUT = 0x0c;
const IIR_FIFO_ENABLED = 0xc0;
const LCR_DLAB = 0x80;
const MCR_DTR = 0x01;
const MCR_RTS = 0x02;
const MCR_OUT1 = 0x04;
const MCR_OUT2 = 0x08;
const MCR_LOOP = 0x10;
const LSR_DR = 0x01;
const LSR_OE = 0x02;
const LSR_ERRORS = 0x1e;
const LSR_THRE = 0x20;
const LSR_TEMT = 0x40;
const LSR_FIFO_ERROR = 0x80;
const MSR_CTS = 0x10;
const MSR_DSR = 0x20;
const MSR_RI = 0x40;
const MSR_DCD = 0x80;
/** With nothing attached to the modem inputs, the host side reports CTS, DSR and DCD asserted (as QEMU does). */
const HOST_MODEM_LINES = MSR_CTS | MSR_DSR | MSR_DCD;

export interface UartOptions {
  /** Device short name, `com1` by default. */
  readonly name?: string;
  readonly base?: number;
  /** Called with every byte the guest transmits (not in loopback mode). */
  readonly onTransmit?: (byte: number) => void;
}

const bitField = (name: string, bit: number, doc: string, access: FieldDescription['access'] = 'RW') => ({
  name,
  lsb: bit,
  msb: bit,
  access,
  doc,
});

const byteField = (doc: string, access: FieldDescription['access']): FieldDescription[] => [
  { name: 'VALUE', lsb: 0, msb: 7, access, doc, format: 'hex' },
];

function describeUart(name: string, base: number): DeviceDescription {
  const register = (
    registerName: string,
    offset: number,
    access: FieldDescription['access'],
    doc: string,
    fields: readonly FieldDescription[],
    internal = false,
  ): RegisterDescription => ({ name: registerName, offset, width: 8, access, doc, fields, internal });
  return {
    name,
    title: 'National Semiconductor 16550A UART',
    space: 'pio',
    base,
    size: 8,
    doc: 'Offsets 0 and 1 are the divisor latch while LCR.DLAB is set. Internal registers show FIFO state.',
    registers: [
      register('RBR', 0, 'RO', 'Receive buffer (reading pops the RX FIFO)', byteField('Received byte', 'RO')),
      register('THR', 0, 'WO', 'Transmit holding register', byteField('Byte to send', 'WO')),
      register('DLL', 0, 'RW', 'Divisor latch low byte (DLAB = 1)', byteField('Divisor bits 7:0', 'RW')),
      register('IER', 1, 'RW', 'Interrupt enable', [
        bitField('ERBFI', 0, 'Received data available and character timeout'),
        bitField('ETBEI', 1, 'Transmit holding register empty'),
        bitField('ELSI', 2, 'Receiver line status'),
        bitField('EDSSI', 3, 'Modem status'),
      ]),
      register('DLM', 1, 'RW', 'Divisor latch high byte (DLAB = 1)', byteField('Divisor bits 15:8', 'RW')),
      register('IIR', 2, 'RO', 'Interrupt identification (reading it clears a THRE interrupt)', [
        bitField('NO_INT', 0, 'No interrupt pending', 'RO'),
        {
          name: 'ID',
          lsb: 1,
          msb: 3,
          access: 'RO',
          doc: 'Highest-priority pending interrupt',
          enum: [
            { value: 0, name: 'modem status' },
            { value: 1, name: 'THR empty' },
            { value: 2, name: 'received data available' },
            { value: 3, name: 'receiver line status' },
            { value: 6, name: 'character timeout' },
          ],
        },
        { name: 'FIFOS', lsb: 6, msb: 7, access: 'RO', doc: '3 when the FIFOs are enabled' },
      ]),
      register('FCR', 2, 'WO', 'FIFO control', [
        bitField('FIFO_EN', 0, 'Enable FIFOs', 'WO'),
        bitField('RX_RESET', 1, 'Clear the receive FIFO', 'WO'),
        bitField('TX_RESET', 2, 'Clear the transmit FIFO', 'WO'),
        bitField('DMA_MODE', 3, 'DMA mode select', 'WO'),
        {
          name: 'RX_TRIGGER',
          lsb: 6,
          msb: 7,
          access: 'WO',
          doc: 'Receive interrupt trigger level',
          enum: TRIGGER_LEVELS.map((level, value) => ({ value, name: `${level} bytes` })),
        },
      ]),
      register('LCR', 3, 'RW', 'Line control', [
        { name: 'WLS', lsb: 0, msb: 1, access: 'RW', doc: 'Word length', explain: (v) => `${Number(v) + 5} bits` },
        bitField('STB', 2, 'Two stop bits (1.5 with 5-bit words)'),
        bitField('PEN', 3, 'Parity enable'),
        bitField('EPS', 4, 'Even parity'),
        bitField('STICK', 5, 'Stick parity'),
        bitField('BREAK', 6, 'Set break'),
        bitField('DLAB', 7, 'Divisor latch access'),
      ]),
      register('MCR', 4, 'RW', 'Modem control (OUT2 gates the IRQ on PCs)', [
        bitField('DTR', 0, 'Data terminal ready'),
        bitField('RTS', 1, 'Request to send'),
        bitField('OUT1', 2, 'Output 1'),
        bitField('OUT2', 3, 'Output 2: enables the interrupt line on PCs'),
        bitField('LOOP', 4, 'Loopback'),
      ]),
      register('LSR', 5, 'RO', 'Line status (reading clears the error bits)', [
        bitField('DR', 0, 'Data ready', 'RO'),
        bitField('OE', 1, 'Overrun error', 'RC'),
        bitField('PE', 2, 'Parity error', 'RC'),
        bitField('FE', 3, 'Framing error', 'RC'),
        bitField('BI', 4, 'Break interrupt', 'RC'),
        bitField('THRE', 5, 'Transmit holding register empty', 'RO'),
        bitField('TEMT', 6, 'Transmitter empty', 'RO'),
        bitField('FIFO_ERR', 7, 'Error in the receive FIFO', 'RC'),
      ]),
      register('MSR', 6, 'RO', 'Modem status (reading clears the delta bits)', [
        bitField('DCTS', 0, 'CTS changed', 'RC'),
        bitField('DDSR', 1, 'DSR changed', 'RC'),
        bitField('TERI', 2, 'RI went inactive', 'RC'),
        bitField('DDCD', 3, 'DCD changed', 'RC'),
        bitField('CTS', 4, 'Clear to send', 'RO'),
        bitField('DSR', 5, 'Data set ready', 'RO'),
        bitField('RI', 6, 'Ring indicator', 'RO'),
        bitField('DCD', 7, 'Data carrier detect', 'RO'),
      ]),
      register('SCR', 7, 'RW', 'Scratch register', byteField('Scratch byte', 'RW')),
      register(
        'RX_LEVEL',
        0x100,
        'RO',
        'Bytes in the receive FIFO (or holding register)',
        [{ name: 'COUNT', lsb: 0, msb: 7, access: 'RO', doc: 'Bytes waiting', format: 'dec' }],
        true,
      ),
      register(
        'FIFO_CONTROL',
        0x101,
        'RW',
        'FIFO control as last written (FCR is write-only)',
        [
          bitField('FIFO_EN', 0, 'FIFOs enabled'),
          { name: 'RX_TRIGGER', lsb: 6, msb: 7, access: 'RW', doc: 'Receive trigger level select' },
        ],
        true,
      ),
    ],
  };
}

/**
 * A 16550A UART. Transmission is instant (THR empties as soon as it is written); received bytes enter the
 * RX FIFO at the line rate set by the divisor and LCR, and wait while the FIFO is full, so a guest is never
 * flooded and no host byte is lost.
 */
export class Uart implements InspectableDevice {
  readonly description: DeviceDescription;
  onTransmit: ((byte: number) => void) | undefined;
  private readonly rxFifo: number[] = [];
  private readonly hostQueue: number[] = [];
  private ier = 0;
  private lcr = 0;
  private mcr = 0;
  private lsr = LSR_THRE | LSR_TEMT;
  private msrDeltas = 0;
  private modemLines = HOST_MODEM_LINES;
  private scr = 0;
  /** Divisor 1 (115200 baud) until the guest programs one. */
  private divisor = 1;
  private fcr = 0;
  private thrInterruptPending = false;
  private timeoutPending = false;
  private lastRxActivityNs = 0;
  private readonly rxTimer: Timer;
  private readonly timeoutTimer: Timer;

  constructor(
    ports: PortSpace,
    private readonly scheduler: Scheduler,
    private readonly irq: IrqLine,
    options: UartOptions = {},
  ) {
    const name = options.name ?? 'com1';
    const base = options.base ?? 0x3f8;
    this.description = describeUart(name, base);
    this.onTransmit = options.onTransmit;
    this.rxTimer = scheduler.createTimer(`${name}.rx`, () => this.deliverHostByte());
    this.timeoutTimer = scheduler.createTimer(`${name}.timeout`, () => this.checkTimeout());
    ports.register(
      base,
      8,
      {
        read: (offset) => this.read(offset),
        write: (offset, _size, value) => this.write(offset, value),
        peek: (offset) => this.peek(offset),
      },
      { device: name, valid: { min: 1, max: 4, unaligned: true }, impl: { min: 1, max: 1 } },
    );
  }

  /** Bytes from the host (a terminal): they arrive one character time apart. */
  receive(bytes: Iterable<number>): void {
    for (const b of bytes) this.hostQueue.push(b & 0xff);
    this.scheduleHostDelivery();
  }

  /** Host bytes not yet moved into the receive FIFO. */
  get pendingHostBytes(): number {
    return this.hostQueue.length;
  }

  /** Nanoseconds one character takes on the line at the current divisor and frame format. */
  characterTimeNs(): number {
    const dataBits = 5 + (this.lcr & 3);
    const parityBits = this.lcr & 0x08 ? 1 : 0;
    const stopBits = this.lcr & 0x04 ? (dataBits === 5 ? 1.5 : 2) : 1;
    const bits = 1 + dataBits + parityBits + stopBits;
    return Math.round((bits * this.divisor * 1e9) / BASE_BAUD);
  }

  peekRegister(register: RegisterDescription): bigint {
    switch (register.name) {
      case 'THR':
      case 'FCR':
        return 0n;
      case 'DLL':
        return BigInt(this.divisor & 0xff);
      case 'DLM':
        return BigInt((this.divisor >> 8) & 0xff);
      case 'RBR':
        return BigInt(this.rxFifo[0] ?? 0);
      case 'IER':
        return BigInt(this.ier);
      case 'RX_LEVEL':
        return BigInt(this.rxFifo.length);
      case 'FIFO_CONTROL':
        return BigInt(this.fcr);
      default:
        return BigInt(this.peek(register.offset));
    }
  }

  pokeRegister(register: RegisterDescription, value: bigint, path: 'guest' | 'debugger'): void {
    const v = Number(BigInt.asUintN(8, value));
    const name = register.name;
    if (name === 'DLL' || name === 'DLM') {
      this.divisor = name === 'DLL' ? (this.divisor & 0xff00) | v : (this.divisor & 0xff) | (v << 8);
      if (this.divisor === 0) this.divisor = 0x10000;
      return;
    }
    if (path === 'guest') {
      if (name === 'RX_LEVEL') return;
      if (name === 'FIFO_CONTROL') this.writeFcr(v);
      else if (name === 'IER') this.writeIer(v);
      else this.write(register.offset, v);
      this.updateIrq();
      return;
    }
    switch (name) {
      case 'RBR':
        if (this.rxFifo.length > 0) this.rxFifo[0] = v;
        else this.pushReceived(v);
        break;
      case 'IER':
        this.ier = v & 0x0f;
        break;
      case 'LCR':
        this.lcr = v;
        break;
      case 'MCR':
        this.setMcr(v);
        break;
      case 'LSR':
        this.lsr = (this.lsr & ~(LSR_ERRORS | LSR_FIFO_ERROR)) | (v & (LSR_ERRORS | LSR_FIFO_ERROR));
        break;
      case 'SCR':
        this.scr = v;
        break;
      case 'FIFO_CONTROL':
        this.fcr = v & 0xc9;
        break;
      case 'THR':
      case 'FCR':
        this.write(register.offset, v);
        break;
      default:
        break;
    }
    this.updateIrq();
  }

  private get fifoEnabled(): boolean {
    return (this.fcr & 0x01) !== 0;
  }

  private get rxCapacity(): number {
    return this.fifoEnabled ? FIFO_SIZE : 1;
  }

  private get dlab(): boolean {
    return (this.lcr & LCR_DLAB) !== 0;
  }

  private lineStatus(): number {
    let lsr = this.lsr & ~LSR_DR;
    if (this.rxFifo.length > 0) lsr |= LSR_DR;
    return lsr;
  }

  private modemStatus(): number {
    return this.modemLines | this.msrDeltas;
  }

  /** Interrupt identification in priority order (16550A datasheet, table "Interrupt Control Functions"). */
  private identify(): number {
    const fifoBits = this.fifoEnabled ? IIR_FIFO_ENABLED : 0;
    if (this.ier & IER_RLS && this.lsr & LSR_ERRORS) return IIR_RLS | fifoBits;
    if (this.ier & IER_RDA) {
      if (this.timeoutPending) return IIR_TIMEOUT | fifoBits;
      const level = this.rxFifo.length;
      const trigger = this.fifoEnabled ? TRIGGER_LEVELS[this.fcr >> 6] : 1;
      if (level >= trigger) return IIR_RDA | fifoBits;
    }
    if (this.ier & IER_THRE && this.thrInterruptPending) return IIR_THRE | fifoBits;
    if (this.ier & IER_MSI && this.msrDeltas) return IIR_MSI | fifoBits;
    return IIR_NONE | fifoBits;
  }

  private peek(offset: number): number {
    switch (offset) {
      case 0:
        return this.dlab ? this.divisor & 0xff : (this.rxFifo[0] ?? 0);
      case 1:
        return this.dlab ? (this.divisor >> 8) & 0xff : this.ier;
      case 2:
        return this.identify();
      case 3:
        return this.lcr;
      case 4:
        return this.mcr;
      case 5:
        return this.lineStatus();
      case 6:
        return this.modemStatus();
      default:
        return this.scr;
    }
  }

  private read(offset: number): number {
    const value = this.peek(offset);
    switch (offset) {
      case 0:
        if (!this.dlab) this.popReceived();
        break;
      case 2:
        if ((value & 0x0f) === IIR_THRE) this.thrInterruptPending = false;
        break;
      case 5:
        this.lsr &= ~(LSR_ERRORS | LSR_FIFO_ERROR);
        break;
      case 6:
        this.msrDeltas = 0;
        break;
      default:
        return value;
    }
    this.updateIrq();
    return value;
  }

  private write(offset: number, value: number): void {
    switch (offset) {
      case 0:
        if (this.dlab) this.divisor = (this.divisor & 0xff00) | value || 0x10000;
        else this.transmit(value);
        break;
      case 1:
        if (this.dlab) this.divisor = (this.divisor & 0xff) | (value << 8) || 0x10000;
        else this.writeIer(value);
        break;
      case 2:
        this.writeFcr(value);
        break;
      case 3:
        this.lcr = value;
        break;
      case 4:
        this.setMcr(value);
        break;
      case 7:
        this.scr = value;
        break;
      default:
        break;
    }
    this.updateIrq();
  }

  private writeIer(value: number): void {
    const changed = (this.ier ^ value) & IER_THRE;
    this.ier = value & 0x0f;
    // Enabling the THRE interrupt while THR is empty raises it at once (what Linux's THRE test checks).
    if (changed) this.thrInterruptPending = (value & IER_THRE) !== 0 && (this.lsr & LSR_THRE) !== 0;
  }

  private writeFcr(value: number): void {
    if ((value ^ this.fcr) & 0x01) {
      this.rxFifo.length = 0;
      this.timeoutPending = false;
    }
    if (!(value & 0x01)) {
      this.fcr = 0;
    } else {
      if (value & 0x02) {
        this.rxFifo.length = 0;
        this.timeoutPending = false;
        this.lsr &= ~LSR_FIFO_ERROR;
      }
      this.fcr = value & 0xc9;
    }
    this.scheduleHostDelivery();
  }

  private setMcr(value: number): void {
    this.mcr = value & 0x1f;
    let lines = HOST_MODEM_LINES;
    if (this.mcr & MCR_LOOP) {
      // Loopback wires the modem outputs to the inputs: RTS→CTS, DTR→DSR, OUT1→RI, OUT2→DCD.
      lines =
        (this.mcr & MCR_RTS ? MSR_CTS : 0) |
        (this.mcr & MCR_DTR ? MSR_DSR : 0) |
        (this.mcr & MCR_OUT1 ? MSR_RI : 0) |
        (this.mcr & MCR_OUT2 ? MSR_DCD : 0);
    }
    const changed = lines ^ this.modemLines;
    if (changed & MSR_CTS) this.msrDeltas |= 0x01;
    if (changed & MSR_DSR) this.msrDeltas |= 0x02;
    if (changed & MSR_RI && !(lines & MSR_RI)) this.msrDeltas |= 0x04;
    if (changed & MSR_DCD) this.msrDeltas |= 0x08;
    this.modemLines = lines;
    this.scheduleHostDelivery();
  }

  private transmit(byte: number): void {
    this.thrInterruptPending = false;
    if (this.mcr & MCR_LOOP) this.pushReceived(byte);
    else this.onTransmit?.(byte);
    // The byte leaves at once: THR and the shift register are empty again.
    this.lsr |= LSR_THRE | LSR_TEMT;
    this.thrInterruptPending = true;
  }

  private pushReceived(byte: number): void {
    if (this.rxFifo.length >= this.rxCapacity) {
      // Overrun (16550A datasheet, LSR bit 1): without FIFOs the new character replaces the unread one in RBR
      // ("thereby destroying the previous character"); with FIFOs the character in the shift register is
      // overwritten and the full FIFO keeps what it has. LSR bit 7 counts only parity, framing and break
      // errors in the FIFO, not overruns.
      this.lsr |= LSR_OE;
      if (!this.fifoEnabled) this.rxFifo[0] = byte;
      return;
    }
    this.rxFifo.push(byte);
    this.noteRxActivity();
  }

  private popReceived(): void {
    if (this.rxFifo.length === 0) return;
    this.rxFifo.shift();
    this.timeoutPending = false;
    this.noteRxActivity();
    this.scheduleHostDelivery();
  }

  private noteRxActivity(): void {
    this.lastRxActivityNs = this.scheduler.now();
    if (this.fifoEnabled && this.rxFifo.length > 0) {
      // Character timeout: data waiting and nothing received or read for four character times.
      this.scheduler.arm(this.timeoutTimer, this.lastRxActivityNs + 4 * this.characterTimeNs());
    } else {
      this.scheduler.cancel(this.timeoutTimer);
    }
  }

  private checkTimeout(): void {
    if (!this.fifoEnabled || this.rxFifo.length === 0) return;
    const deadline = this.lastRxActivityNs + 4 * this.characterTimeNs();
    if (this.scheduler.now() < deadline) {
      this.scheduler.arm(this.timeoutTimer, deadline);
      return;
    }
    this.timeoutPending = true;
    this.updateIrq();
  }

  private scheduleHostDelivery(): void {
    const canAccept = this.hostQueue.length > 0 && !(this.mcr & MCR_LOOP) && this.rxFifo.length < this.rxCapacity;
    if (!canAccept) {
      this.scheduler.cancel(this.rxTimer);
      return;
    }
    if (!this.rxTimer.armed) this.scheduler.arm(this.rxTimer, this.scheduler.now() + this.characterTimeNs());
  }

  private deliverHostByte(): void {
    if (this.hostQueue.length > 0 && !(this.mcr & MCR_LOOP) && this.rxFifo.length < this.rxCapacity) {
      this.pushReceived(this.hostQueue.shift()!);
      this.updateIrq();
    }
    this.scheduleHostDelivery();
  }

  private updateIrq(): void {
    const pending = (this.identify() & IIR_NONE) === 0;
    // On PCs OUT2 enables the IRQ driver; loopback forces OUT2 inactive, which disconnects the IRQ.
    const level = pending && (this.mcr & (MCR_OUT2 | MCR_LOOP)) === MCR_OUT2;
    if (level !== this.irq.high) this.irq.set(level);
  }
}
