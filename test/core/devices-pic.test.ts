import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Pic } from '../../adapter/core/devices/pic';
import { findRegister } from '../../adapter/core/regs/describe';
import { Bench } from './devices-support';

/** The ICW sequence Linux and our guest runtime use: vectors 0x20 and 0x28, cascade on IR2, 8086 mode. */
function initialize(bench: Bench, icw4 = 0x01): void {
  bench.outb(0x20, 0x11);
  bench.outb(0xa0, 0x11);
  bench.outb(0x21, 0x20);
  bench.outb(0xa1, 0x28);
  bench.outb(0x21, 0x04);
  bench.outb(0xa1, 0x02);
  bench.outb(0x21, icw4);
  bench.outb(0xa1, icw4);
  bench.outb(0x21, 0x00);
  bench.outb(0xa1, 0x00);
}

function setup(icw4 = 0x01) {
  const bench = new Bench();
  const pic = new Pic(bench.ports);
  const intr: boolean[] = [];
  pic.onIntrChange = (level) => intr.push(level);
  initialize(bench, icw4);
  return { bench, pic, intr };
}

const reg = (pic: Pic, name: string) => {
  const r = findRegister(pic.description, name);
  assert.ok(r, name);
  return r;
};

void describe('8259A PIC pair', () => {
  void it('delivers vectors at the offsets programmed by ICW2, through the cascade for IRQ 8-15', () => {
    const { pic, intr } = setup();
    assert.equal(pic.hasInterrupt(), false);
    pic.setIrq(1, true);
    pic.setIrq(1, false);
    assert.equal(pic.hasInterrupt(), true);
    assert.deepEqual(intr, [true]);
    assert.equal(pic.acknowledge(), 0x21);
    assert.equal(pic.hasInterrupt(), false);
    pic.setIrq(12, true);
    pic.setIrq(12, false);
    // IRQ 12 is blocked only by master ISR bit 1, which has higher priority than IR2.
    assert.equal(pic.hasInterrupt(), false);
    pic.setIrq(0, false);
  });

  void it('resolves priority, nests higher levels and honours non-specific and specific EOI', () => {
    const { bench, pic } = setup();
    pic.setIrq(3, true);
    pic.setIrq(3, false);
    assert.equal(pic.acknowledge(), 0x23);
    pic.setIrq(5, true);
    pic.setIrq(5, false);
    assert.equal(pic.hasInterrupt(), false, 'IRQ5 waits while IRQ3 is in service');
    pic.setIrq(1, true);
    pic.setIrq(1, false);
    assert.equal(pic.hasInterrupt(), true, 'IRQ1 nests above IRQ3');
    assert.equal(pic.acknowledge(), 0x21);
    bench.outb(0x20, 0x0b); // OCW3: read ISR
    assert.equal(bench.inb(0x20), 0b1010);
    bench.outb(0x20, 0x20); // non-specific EOI ends IRQ1, the highest in service
    assert.equal(bench.inb(0x20), 0b1000);
    assert.equal(pic.hasInterrupt(), false);
    bench.outb(0x20, 0x63); // specific EOI for IRQ3
    assert.equal(bench.inb(0x20), 0);
    assert.equal(pic.acknowledge(), 0x25);
    bench.outb(0x20, 0x0a); // OCW3: read IRR
    assert.equal(bench.inb(0x20), 0);
  });

  void it('slave interrupts put IR2 in service on the master and need EOI on both', () => {
    const { bench, pic } = setup();
    pic.setIrq(8, true);
    pic.setIrq(8, false);
    assert.equal(pic.acknowledge(), 0x28);
    bench.outb(0x20, 0x0b);
    bench.outb(0xa0, 0x0b);
    assert.equal(bench.inb(0x20), 0x04);
    assert.equal(bench.inb(0xa0), 0x01);
    pic.setIrq(9, true);
    pic.setIrq(9, false);
    assert.equal(pic.hasInterrupt(), false);
    bench.outb(0xa0, 0x20);
    assert.equal(pic.hasInterrupt(), false, 'master IR2 still in service');
    bench.outb(0x20, 0x20);
    assert.equal(pic.acknowledge(), 0x29);
  });

  void it('masks lines with OCW1 and reads the mask back', () => {
    const { bench, pic } = setup();
    bench.outb(0x21, 0xfb);
    assert.equal(bench.inb(0x21), 0xfb);
    pic.setIrq(0, true);
    pic.setIrq(0, false);
    assert.equal(pic.hasInterrupt(), false);
    bench.outb(0x21, 0xfa);
    assert.equal(pic.acknowledge(), 0x20);
  });

  void it('returns spurious IRQ 7 when a level request goes away before INTA, and spurious 15 from the slave', () => {
    const { bench, pic, intr } = setup();
    bench.outb(0x4d0, 0x20); // IRQ 5 level-triggered
    pic.setIrq(5, true);
    assert.equal(pic.hasInterrupt(), true);
    pic.setIrq(5, false);
    assert.equal(pic.hasInterrupt(), false);
    assert.deepEqual(intr, [true, false]);
    assert.equal(pic.acknowledge(), 0x27);
    bench.outb(0x20, 0x0b);
    assert.equal(bench.inb(0x20), 0, 'a spurious IRQ 7 sets no ISR bit');

    // A masked line after INTR was raised: the master sees its request vanish.
    pic.setIrq(4, true);
    pic.setIrq(4, false);
    bench.outb(0x21, 0x10);
    assert.equal(pic.acknowledge(), 0x27);

    bench.outb(0x4d1, 0x08); // IRQ 11 level
    pic.setIrq(11, true);
    bench.outb(0xa1, 0x08);
    assert.equal(pic.acknowledge(), 0x27, 'the cascade request vanished with the slave mask');
  });

  void it('keeps level-triggered requests pending until the line drops and ignores ELCR bits for IRQ 0-2, 8 and 13', () => {
    const { bench, pic } = setup();
    bench.outb(0x4d0, 0xff);
    bench.outb(0x4d1, 0xff);
    assert.equal(bench.inb(0x4d0), 0xf8);
    assert.equal(bench.inb(0x4d1), 0xde);
    pic.setIrq(10, true);
    assert.equal(pic.acknowledge(), 0x2a);
    bench.outb(0xa0, 0x20);
    bench.outb(0x20, 0x20);
    assert.equal(pic.hasInterrupt(), true, 'still asserted after EOI');
    assert.equal(pic.acknowledge(), 0x2a);
    pic.setIrq(10, false);
    bench.outb(0xa0, 0x20);
    bench.outb(0x20, 0x20);
    assert.equal(pic.hasInterrupt(), false);

    // Edge: a line held high raises one request only.
    pic.setIrq(6, true);
    bench.outb(0x4d0, 0x00);
    assert.equal(pic.acknowledge(), 0x26);
    bench.outb(0x20, 0x20);
    pic.setIrq(6, true);
    assert.equal(pic.hasInterrupt(), false);
  });

  void it('acknowledges automatically in AEOI mode and rotates priorities', () => {
    const { bench, pic } = setup(0x03);
    pic.setIrq(4, true);
    pic.setIrq(4, false);
    assert.equal(pic.acknowledge(), 0x24);
    bench.outb(0x20, 0x0b);
    assert.equal(bench.inb(0x20), 0, 'no ISR bit in AEOI mode');

    const normal = setup();
    normal.bench.outb(0x20, 0xc4); // set priority: IR4 lowest, IR5 highest
    assert.equal(normal.pic.peekRegister(reg(normal.pic, 'MASTER_LOWEST_PRIORITY')), 4n);
    for (const line of [1, 6]) {
      normal.pic.setIrq(line, true);
      normal.pic.setIrq(line, false);
    }
    assert.equal(normal.pic.acknowledge(), 0x26);
    normal.bench.outb(0x20, 0xa0); // rotate on non-specific EOI: IR6 becomes lowest
    assert.equal(normal.pic.peekRegister(reg(normal.pic, 'MASTER_LOWEST_PRIORITY')), 6n);
    assert.equal(normal.pic.acknowledge(), 0x21);
  });

  void it('lets masked in-service levels be bypassed in special mask mode', () => {
    const { bench, pic } = setup();
    pic.setIrq(1, true);
    pic.setIrq(1, false);
    assert.equal(pic.acknowledge(), 0x21);
    pic.setIrq(5, true);
    pic.setIrq(5, false);
    assert.equal(pic.hasInterrupt(), false);
    bench.outb(0x21, 0x02);
    bench.outb(0x20, 0x68); // OCW3: set special mask
    assert.equal(pic.hasInterrupt(), true);
    assert.equal(pic.acknowledge(), 0x25);
  });

  void it('answers the poll command with the highest request and acknowledges it', () => {
    const { bench, pic } = setup();
    pic.setIrq(3, true);
    pic.setIrq(3, false);
    bench.outb(0x20, 0x0c);
    assert.equal(pic.peekRegister(reg(pic, 'MASTER_COMMAND')), 0x83n, 'peek does not consume the poll');
    assert.equal(bench.inb(0x20), 0x83);
    assert.equal(pic.hasInterrupt(), false);
    bench.outb(0x20, 0x0b);
    assert.equal(bench.inb(0x20), 0x08);
    bench.outb(0x20, 0x0c);
    assert.equal(bench.inb(0x20), 0x00);
  });

  void it('ICW1 clears the mask and the in-service bits; edge requests need a new rising edge', () => {
    const { bench, pic } = setup();
    pic.setIrq(3, true);
    assert.equal(pic.acknowledge(), 0x23);
    bench.outb(0x21, 0xff);
    initialize(bench);
    assert.equal(bench.inb(0x21), 0);
    assert.equal(pic.peekRegister(reg(pic, 'MASTER_ISR')), 0n);
    assert.equal(pic.hasInterrupt(), false);
    pic.setIrq(3, false);
    pic.setIrq(3, true);
    assert.equal(pic.acknowledge(), 0x23);
  });

  void it('shows internal state without side effects and lets the debugger change it', () => {
    const { pic } = setup();
    pic.setIrq(14, true);
    pic.setIrq(14, false);
    assert.equal(pic.peekRegister(reg(pic, 'SLAVE_IRR')), 0x40n);
    assert.equal(pic.peekRegister(reg(pic, 'MASTER_IRR')), 0x04n);
    assert.equal(pic.peekRegister(reg(pic, 'SLAVE_VECTOR_BASE')), 0x28n);
    assert.equal(pic.peekRegister(reg(pic, 'SLAVE_IRR')), 0x40n);
    pic.pokeRegister(reg(pic, 'SLAVE_IMR'), 0x40n, 'debugger');
    assert.equal(pic.hasInterrupt(), false);
    pic.pokeRegister(reg(pic, 'SLAVE_DATA'), 0x00n, 'guest');
    assert.equal(pic.acknowledge(), 0x2e);
    assert.ok(pic.description.registers.filter((r) => r.internal).length >= 14);
  });
});
