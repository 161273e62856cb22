import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { IrqLine } from '../../adapter/core/devices/interrupts';
import { Uart } from '../../adapter/core/devices/uart';
import { findRegister } from '../../adapter/core/regs/describe';
import { Bench, RecordingIrqSink } from './devices-support';

const COM1 = 0x3f8;
const [RBR, IER, IIR, LCR, MCR, LSR, MSR, SCR] = [0, 1, 2, 3, 4, 5, 6, 7].map((o) => COM1 + o) as [
  number,
  number,
  number,
  number,
  number,
  number,
  number,
  number,
];

function setup() {
  const bench = new Bench();
  const sink = new RecordingIrqSink(bench.clock);
  const sent: number[] = [];
  const uart = new Uart(bench.ports, bench.scheduler, new IrqLine(sink, 4), { onTransmit: (b) => sent.push(b) });
  const irq = () => sink.level(4);
  return { bench, sink, uart, sent, irq };
}

void describe('16550A UART', () => {
  void it('transmits THR bytes to the host and keeps THRE and TEMT set', () => {
    const { bench, sent } = setup();
    assert.equal(bench.inb(LSR), 0x60);
    for (const c of 'Hi\n') bench.outb(COM1, c.charCodeAt(0));
    assert.equal(String.fromCharCode(...sent), 'Hi\n');
    assert.equal(bench.inb(LSR) & 0x60, 0x60);
    assert.equal(bench.inb(IIR), 0x01);
  });

  void it('follows the THRE interrupt rules: raised when THR empties, cleared by an IIR read or a THR write', () => {
    const { bench, irq } = setup();
    bench.outb(MCR, 0x08); // OUT2
    bench.outb(IER, 0x02);
    assert.equal(irq(), true, 'enabling ETBEI with THR empty raises it');
    assert.equal(bench.inb(IIR), 0x02);
    assert.equal(irq(), false);
    assert.equal(bench.inb(IIR), 0x01, 'the IIR read cleared it');
    bench.outb(COM1, 0x41);
    assert.equal(irq(), true, 'THR emptied again after the write');
    bench.outb(IER, 0x00);
    assert.equal(irq(), false);
    bench.outb(IER, 0x02);
    assert.equal(bench.inb(IIR), 0x02, 're-enabling re-raises, as Linux probes');
  });

  void it('gates the IRQ with MCR.OUT2', () => {
    const { bench, irq } = setup();
    bench.outb(IER, 0x02);
    assert.equal(bench.ports.read(IIR, 1) & 0x0f, 0x02, 'pending inside the UART');
    bench.outb(IER, 0x00);
    bench.outb(IER, 0x02);
    assert.equal(irq(), false);
    bench.outb(MCR, 0x08);
    assert.equal(irq(), true);
    bench.outb(MCR, 0x00);
    assert.equal(irq(), false);
  });

  void it('loops transmitted bytes and modem outputs back in loopback mode', () => {
    const { bench, sent, irq } = setup();
    bench.outb(MCR, 0x10);
    bench.inb(MSR);
    bench.outb(COM1, 0x5a);
    assert.deepEqual(sent, []);
    assert.equal(bench.inb(LSR) & 0x01, 0x01);
    assert.equal(bench.inb(RBR), 0x5a);
    assert.equal(bench.inb(LSR) & 0x01, 0);
    bench.outb(MCR, 0x1f);
    assert.equal(bench.inb(MSR), 0xf0 | 0x0b, 'CTS, DSR, RI, DCD with delta bits');
    assert.equal(bench.inb(MSR), 0xf0);
    bench.outb(MCR, 0x1b);
    assert.equal(bench.inb(MSR), 0xb4, 'trailing edge of RI');
    bench.outb(IER, 0x01);
    bench.outb(COM1, 0x01);
    assert.equal(bench.inb(IIR), 0x04);
    assert.equal(irq(), false, 'loopback disconnects the IRQ');
  });

  void it('keeps the full FIFO and drops the newer byte on a FIFO overrun', () => {
    const { bench } = setup();
    bench.outb(COM1 + 2, 0x01); // FCR: FIFOs on
    bench.outb(MCR, 0x10);
    for (let i = 0; i < 17; i++) bench.outb(COM1, i);
    assert.equal(bench.inb(LSR) & 0x83, 0x03, 'DR and OE; bit 7 is only for parity, framing and break errors');
    const received: number[] = [];
    while (bench.inb(LSR) & 0x01) received.push(bench.inb(RBR));
    assert.deepEqual(received, [...Array(16).keys()]);
  });

  void it('reports overrun when a byte arrives with the holding register full', () => {
    const { bench } = setup();
    bench.outb(MCR, 0x10);
    bench.outb(COM1, 1);
    bench.outb(COM1, 2);
    assert.equal(bench.inb(LSR) & 0x03, 0x03);
    assert.equal(bench.inb(LSR) & 0x02, 0, 'reading LSR clears OE');
    assert.equal(bench.inb(RBR), 2, 'without FIFOs the newer byte replaces the unread one');
    bench.outb(IER, 0x05);
    bench.outb(COM1, 3);
    bench.outb(COM1, 4);
    assert.equal(bench.inb(IIR), 0x06, 'receiver line status interrupt');
    bench.inb(LSR);
    assert.equal(bench.inb(IIR), 0x04);
  });

  void it('programs the divisor latch and receives host bytes at the line rate', () => {
    const { bench, uart } = setup();
    bench.outb(LCR, 0x83);
    bench.outb(COM1, 12);
    bench.outb(COM1 + 1, 0);
    assert.equal(bench.inb(COM1), 12);
    assert.equal(bench.inb(COM1 + 1), 0);
    bench.outb(LCR, 0x03);
    const charNs = uart.characterTimeNs();
    assert.equal(charNs, Math.round((10 * 12 * 1e9) / 115200));
    uart.receive([0x61, 0x62]);
    bench.advanceBy(charNs - 1);
    assert.equal(bench.inb(LSR) & 1, 0);
    bench.advanceBy(1);
    assert.equal(bench.inb(LSR) & 1, 1);
    assert.equal(bench.inb(RBR), 0x61);
    bench.advanceBy(charNs);
    assert.equal(bench.inb(RBR), 0x62);
    assert.equal(bench.inb(LSR) & 1, 0);
  });

  void it('raises the receive interrupt at the FIFO trigger level, then the character timeout', () => {
    const { bench, uart, irq } = setup();
    bench.outb(COM1 + 2, 0x47); // FIFO on, clear, trigger 4
    bench.outb(MCR, 0x08);
    bench.outb(IER, 0x01);
    assert.equal(bench.inb(IIR), 0xc1);
    const charNs = uart.characterTimeNs();
    uart.receive([1, 2, 3, 4, 5]);
    bench.advanceBy(3 * charNs);
    assert.equal(bench.inb(IIR), 0xc1, 'three bytes: below the trigger');
    assert.equal(irq(), false);
    bench.advanceBy(charNs);
    assert.equal(bench.inb(IIR), 0xc4);
    assert.equal(irq(), true);
    assert.equal(bench.inb(RBR), 1);
    assert.equal(bench.inb(IIR), 0xc1);
    bench.advanceBy(charNs);
    assert.equal(bench.inb(IIR), 0xc4, 'fifth byte: four again');
    bench.inb(RBR);
    const lastRead = bench.now();
    bench.advanceTo(lastRead + 4 * charNs - 1);
    assert.equal(bench.inb(IIR), 0xc1);
    bench.advanceTo(lastRead + 4 * charNs);
    assert.equal(bench.inb(IIR), 0xcc, 'character timeout with bytes below the trigger');
    assert.equal(irq(), true);
    assert.equal(bench.inb(RBR), 3);
    assert.equal(bench.inb(IIR), 0xc1, 'reading RBR clears the timeout');
    assert.equal(bench.inb(RBR), 4);
    assert.equal(bench.inb(RBR), 5);
    bench.advanceBy(10 * charNs);
    assert.equal(bench.inb(IIR), 0xc1, 'no timeout with an empty FIFO');
  });

  void it('holds host bytes while the FIFO is full instead of overrunning', () => {
    const { bench, uart } = setup();
    bench.outb(COM1 + 2, 0x01);
    const data = Array.from({ length: 40 }, (_, i) => i);
    uart.receive(data);
    bench.advanceBy(100 * uart.characterTimeNs());
    assert.equal(uart.pendingHostBytes, 24);
    assert.equal(bench.inb(LSR) & 0x02, 0);
    const got: number[] = [];
    for (let i = 0; i < 40; i++) {
      while (!(bench.inb(LSR) & 1)) bench.advanceBy(uart.characterTimeNs());
      got.push(bench.inb(RBR));
    }
    assert.deepEqual(got, data);
  });

  void it('clears the receive FIFO through FCR and keeps the scratch register', () => {
    const { bench, uart } = setup();
    bench.outb(COM1 + 2, 0x01);
    uart.receive([9, 9, 9]);
    bench.advanceBy(3 * uart.characterTimeNs());
    assert.equal(uart.peekRegister(findRegister(uart.description, 'RX_LEVEL')!), 3n);
    bench.outb(COM1 + 2, 0x03);
    assert.equal(bench.inb(LSR) & 1, 0);
    bench.outb(SCR, 0xa5);
    assert.equal(bench.inb(SCR), 0xa5);
  });

  void it('peeks RBR and IIR without popping the FIFO or clearing the interrupt', () => {
    const { bench, uart } = setup();
    bench.outb(MCR, 0x18);
    bench.outb(COM1, 0x77);
    bench.outb(IER, 0x03);
    const rbr = findRegister(uart.description, 'RBR')!;
    const iir = findRegister(uart.description, 'IIR')!;
    assert.equal(uart.peekRegister(rbr), 0x77n);
    assert.equal(uart.peekRegister(rbr), 0x77n);
    assert.equal(uart.peekRegister(iir), 0x04n);
    assert.equal(bench.ports.find(COM1)?.handler.peek?.(0, 1), 0x77);
    assert.equal(bench.inb(RBR), 0x77);
    assert.equal(uart.peekRegister(iir), 0x02n);
    assert.equal(uart.peekRegister(iir), 0x02n);
    assert.equal(bench.inb(IIR), 0x02);
    assert.equal(bench.inb(IIR), 0x01);
  });
});
