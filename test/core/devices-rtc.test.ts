import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { IrqSink } from '../../adapter/core/devices/interrupts';
import { IrqLine } from '../../adapter/core/devices/interrupts';
import { Rtc } from '../../adapter/core/devices/rtc';
import { findRegister } from '../../adapter/core/regs/describe';
import { Bench } from './devices-support';

const MiB = 1024 * 1024;

/** IRQ8 wired to a handler that, like Linux's rtc_interrupt, reads register C on every rising edge. */
class HandlerSink implements IrqSink {
  level = false;
  edges: number[] = [];
  flagsSeen: number[] = [];
  handler: (() => number) | undefined;
  constructor(private readonly bench: Bench) {}
  setIrq(_line: number, level: boolean): void {
    if (level && !this.level) {
      this.edges.push(this.bench.now());
      this.level = level;
      if (this.handler) this.flagsSeen.push(this.handler());
      return;
    }
    this.level = level;
  }
}

function setup(options: { startTime?: number; ramBytes?: number } = {}) {
  const bench = new Bench();
  const sink = new HandlerSink(bench);
  const rtc = new Rtc(bench.ports, bench.scheduler, new IrqLine(sink, 8), { ramBytes: 64 * MiB, ...options });
  const read = (index: number) => {
    bench.outb(0x70, index);
    return bench.inb(0x71);
  };
  const write = (index: number, value: number) => {
    bench.outb(0x70, index);
    bench.outb(0x71, value);
  };
  return { bench, sink, rtc, read, write };
}

const timeBytes = (read: (i: number) => number) => [0, 2, 4, 6, 7, 8, 9, 0x32].map(read);

void describe('MC146818 CMOS RTC', () => {
  void it('starts at 2000-01-01 00:00:00 in BCD 24-hour mode by default', () => {
    const { read } = setup();
    // Saturday is day 7 (1 = Sunday).
    assert.deepEqual(timeBytes(read), [0, 0, 0, 7, 1, 1, 0, 0x20]);
    assert.equal(read(0x0a), 0x26);
    assert.equal(read(0x0b), 0x02);
    assert.equal(read(0x0d), 0x80);
  });

  void it('advances with virtual time across minute, hour, day and year', () => {
    const { bench, read } = setup({ startTime: Date.UTC(2099, 11, 31, 23, 59, 58) });
    assert.deepEqual(timeBytes(read), [0x58, 0x59, 0x23, 5, 0x31, 0x12, 0x99, 0x20]);
    bench.advanceTo(1.9e9);
    assert.equal(read(0), 0x59);
    bench.advanceTo(2e9);
    // 2100-01-01 is a Friday.
    assert.deepEqual(timeBytes(read), [0, 0, 0, 6, 1, 1, 0, 0x21]);
  });

  void it('encodes binary and 12-hour modes per register B', () => {
    const { bench, read, write } = setup({ startTime: Date.UTC(2024, 1, 29, 13, 59, 58) });
    write(0x0b, 0x04); // binary, 12-hour
    assert.equal(read(4), 0x81, '1 PM');
    assert.equal(read(0), 58);
    assert.equal(read(9), 24);
    bench.advanceTo(2e9);
    assert.equal(read(4), 0x82);
    assert.equal(read(2), 0);
    write(0x0b, 0x06);
    assert.equal(read(4), 14);
  });

  void it('holds the time while SET is on and counts on from what the guest wrote', () => {
    const { bench, read, write } = setup();
    bench.advanceTo(3.2e9);
    write(0x0b, 0x82);
    write(0x00, 0x30);
    write(0x02, 0x45);
    write(0x04, 0x12);
    bench.advanceTo(10e9);
    assert.equal(read(0), 0x30);
    write(0x0b, 0x02);
    bench.advanceTo(10.85e9);
    assert.equal(read(0), 0x30, 'the update cycle keeps its phase');
    bench.advanceTo(11e9);
    assert.equal(read(0), 0x31);
    assert.equal(read(2), 0x45);
    assert.equal(read(4), 0x12);
  });

  void it('sets UIP during the 244 µs before each update', () => {
    const { bench, read } = setup();
    bench.advanceTo(0.5e9);
    assert.equal(read(0x0a) & 0x80, 0);
    bench.advanceTo(1e9 - 200_000);
    assert.equal(read(0x0a) & 0x80, 0x80);
    assert.equal(read(0), 0);
    bench.advanceTo(1e9);
    assert.equal(read(0x0a) & 0x80, 0);
    assert.equal(read(0), 1);
  });

  void it('raises IRQ8 at the periodic rate, once register C is read each time', () => {
    const { bench, sink, read, write } = setup();
    sink.handler = () => read(0x0c);
    write(0x0a, 0x26); // 1024 Hz
    write(0x0b, 0x42); // PIE
    bench.advanceTo(1e9);
    assert.equal(sink.edges.length, 1024);
    assert.ok(sink.flagsSeen.every((f) => (f & 0xc0) === 0xc0));
    assert.ok(Math.abs(sink.edges[1] - sink.edges[0] - 976_562.5) <= 0.5);

    write(0x0a, 0x2f); // 2 Hz
    const before = sink.edges.length;
    bench.advanceTo(3e9);
    assert.equal(sink.edges.length - before, 4);
  });

  void it('keeps IRQ8 asserted until register C is read, and reading C clears it', () => {
    const { bench, sink, rtc, read, write } = setup();
    write(0x0b, 0x12); // UIE
    bench.advanceTo(3.5e9);
    assert.equal(sink.edges.length, 1);
    assert.equal(sink.level, true);
    const c = findRegister(rtc.description, 'REG_C')!;
    assert.equal(rtc.peekRegister(c), 0xd0n, 'peek shows IRQF, PF and UF without clearing');
    assert.equal(sink.level, true);
    assert.equal(read(0x0c), 0xd0);
    assert.equal(sink.level, false);
    assert.equal(read(0x0c), 0);
    bench.advanceTo(4e9);
    assert.equal(sink.edges.length, 2);
  });

  void it('sets flags without enables but raises no interrupt', () => {
    const { bench, sink, read } = setup();
    bench.advanceTo(1.5e9);
    assert.equal(read(0x0c), 0x50);
    assert.equal(read(0x0c), 0x00);
    assert.equal(sink.edges.length, 0);
    assert.equal(bench.scheduler.nextDeadline(), Infinity, 'no timer while nothing is enabled');
  });

  void it('fires the alarm when seconds, minutes and hours match, with 0xC0 as a wildcard', () => {
    const { bench, sink, read, write } = setup();
    sink.handler = () => read(0x0c);
    write(0x01, 0x05);
    write(0x03, 0xc0);
    write(0x05, 0xff);
    write(0x0b, 0x22); // AIE
    bench.advanceTo(4.9e9);
    assert.equal(sink.edges.length, 0);
    bench.advanceTo(5e9);
    assert.deepEqual(sink.edges, [5e9]);
    assert.equal(sink.flagsSeen[0] & 0xa0, 0xa0);
    bench.advanceTo(65e9);
    assert.deepEqual(sink.edges, [5e9, 65e9]);
  });

  void it('holds time while the divider is in reset and updates 500 ms after it restarts', () => {
    const { bench, read, write } = setup();
    write(0x0a, 0x66);
    bench.advanceTo(5e9);
    assert.equal(read(0), 0);
    write(0x0a, 0x26);
    bench.advanceTo(5.49e9);
    assert.equal(read(0), 0);
    bench.advanceTo(5.5e9);
    assert.equal(read(0), 1);
  });

  void it('reports memory sizes, the checksum and the century', () => {
    const small = setup({ ramBytes: 8 * MiB });
    assert.equal(small.read(0x15) | (small.read(0x16) << 8), 640);
    assert.equal(small.read(0x17) | (small.read(0x18) << 8), 7 * 1024);
    assert.equal(small.read(0x30) | (small.read(0x31) << 8), 7 * 1024);
    assert.equal(small.read(0x34) | (small.read(0x35) << 8), 0);
    let sum = 0;
    for (let i = 0x10; i <= 0x2d; i++) sum += small.read(i);
    assert.equal((small.read(0x2e) << 8) | small.read(0x2f), sum);
    const big = setup({ ramBytes: 512 * MiB });
    assert.equal(big.read(0x17) | (big.read(0x18) << 8), 0xffff);
    assert.equal(big.read(0x34) | (big.read(0x35) << 8), (512 - 16) * 16);
    assert.equal(big.read(0x32), 0x20);
  });

  void it('records the NMI mask from bit 7 of the index port', () => {
    const { bench, rtc, read } = setup();
    assert.equal(rtc.nmiMasked, false);
    bench.outb(0x70, 0x8d);
    assert.equal(rtc.nmiMasked, true);
    assert.equal(bench.inb(0x71), 0x80, 'index 0x0D selected');
    read(0x0d);
    assert.equal(rtc.nmiMasked, false);
  });

  void it('stops driving IRQ8 while HPET legacy replacement is active', () => {
    const { bench, sink, rtc, read, write } = setup();
    sink.handler = () => read(0x0c);
    rtc.setHpetLegacyReplacement(true);
    write(0x0b, 0x42);
    bench.advanceTo(0.1e9);
    assert.equal(sink.edges.length, 0);
    rtc.setHpetLegacyReplacement(false);
    assert.equal(sink.edges.length, 1, 'reconnecting re-drives the pending IRQF');
  });
});
