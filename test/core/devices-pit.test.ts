import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { IrqLine } from '../../adapter/core/devices/interrupts';
import { PIT_FREQUENCY_HZ, Pit, pitTickTime, pitTicksAt } from '../../adapter/core/devices/pit';
import { findRegister } from '../../adapter/core/regs/describe';
import { Bench, RecordingIrqSink } from './devices-support';

function setup() {
  const bench = new Bench();
  const sink = new RecordingIrqSink(bench.clock);
  const pit = new Pit(bench.ports, bench.scheduler, new IrqLine(sink, 0));
  return { bench, sink, pit };
}

function program(bench: Bench, control: number, count: number): void {
  bench.outb(0x43, control);
  const port = 0x40 + (control >> 6);
  bench.outb(port, count & 0xff);
  bench.outb(port, count >> 8);
}

const edgesAfter = (sink: RecordingIrqSink, from: number) => sink.risingEdges(0).filter((t) => t > from);

void describe('8254 PIT', () => {
  void it('converts between nanoseconds and input clock ticks exactly', () => {
    assert.equal(pitTicksAt(1e9), PIT_FREQUENCY_HZ);
    assert.equal(pitTicksAt(1e9 - 1), PIT_FREQUENCY_HZ - 1);
    assert.equal(pitTickTime(PIT_FREQUENCY_HZ), 1e9);
    for (const tick of [1, 2, 1193, 99999, 5e12]) {
      assert.equal(pitTicksAt(pitTickTime(tick)), tick);
      assert.equal(pitTicksAt(pitTickTime(tick) - 1), tick - 1);
    }
  });

  void it('ticks IRQ0 at 18.2 Hz from power-on, as after a BIOS', () => {
    const { bench, sink } = setup();
    bench.advanceTo(1e9);
    assert.equal(edgesAfter(sink, 0).length, Math.floor(PIT_FREQUENCY_HZ / 65536));
  });

  void it('raises IRQ0 periodically in mode 2 at the programmed rate', () => {
    const { bench, sink } = setup();
    bench.advanceTo(1000);
    program(bench, 0x34, 1193);
    const start = bench.now();
    bench.advanceBy(100e6);
    const edges = edgesAfter(sink, start);
    assert.equal(edges.length, 100);
    const startTick = pitTicksAt(start);
    edges.forEach((t, i) => assert.equal(t, pitTickTime(startTick + (i + 1) * 1193)));
    // OUT is low for exactly one input clock before each reload.
    const falls = sink.events.filter((e) => !e.level && e.time > start).map((e) => e.time);
    assert.equal(falls[0], pitTickTime(startTick + 1192));
  });

  void it('produces a square wave in mode 3 with half the count high', () => {
    const { bench, sink } = setup();
    bench.advanceTo(5000);
    program(bench, 0x36, 11932);
    const start = bench.now();
    const startTick = pitTicksAt(start);
    bench.advanceBy(1e9);
    const edges = edgesAfter(sink, start);
    assert.equal(edges.length, Math.floor(PIT_FREQUENCY_HZ / 11932));
    assert.equal(edges[0], pitTickTime(startTick + 11932));
    const falls = sink.events.filter((e) => !e.level && e.time > start).map((e) => e.time);
    assert.equal(falls[0], pitTickTime(startTick + 5966));
  });

  void it('raises IRQ0 once in mode 0 when the count expires', () => {
    const { bench, sink, pit } = setup();
    bench.advanceTo(777);
    program(bench, 0x30, 1000);
    const start = bench.now();
    assert.equal(pit.output(0), false);
    bench.advanceBy(100e6);
    const edges = edgesAfter(sink, start);
    assert.deepEqual(edges, [pitTickTime(pitTicksAt(start) + 1000)]);
    assert.equal(pit.output(0), true);
    assert.equal(bench.scheduler.list().find((t) => t.name === 'pit.irq0')?.armed, false);
  });

  void it('counts down, and the latch command freezes the count until both bytes are read', () => {
    const { bench } = setup();
    program(bench, 0x34, 50000);
    const readCount = () => bench.inb(0x40) | (bench.inb(0x40) << 8);
    const start = pitTicksAt(bench.now());
    bench.advanceBy(pitTickTime(1000));
    const live = readCount();
    assert.equal(live, 50000 - (pitTicksAt(bench.now()) - start));
    bench.outb(0x43, 0x00);
    const latchedAt = 50000 - (pitTicksAt(bench.now()) - start);
    bench.advanceBy(1e6);
    bench.outb(0x43, 0x00); // a second latch before reading is ignored
    assert.equal(readCount(), latchedAt);
    assert.ok(readCount() < latchedAt - 1000, 'after reading, the count is live again');
  });

  void it('answers the read-back command with status then count', () => {
    const { bench } = setup();
    bench.outb(0x43, 0xb0); // counter 2, low/high, mode 0, binary
    const beforeCount = bench.ports.read(0x43, 1);
    assert.equal(beforeCount, 0xff);
    bench.outb(0x43, 0xe8); // read-back: count and status of counter 2
    assert.equal(bench.inb(0x42), 0x70, 'OUT low, null count, low/high, mode 0');
    bench.outb(0x42, 0x34);
    bench.outb(0x42, 0x12);
    bench.outb(0x61, 0x01);
    bench.outb(0x43, 0xe8);
    assert.equal(bench.inb(0x42), 0x30, 'count loaded: null count clear');
    assert.equal(bench.inb(0x42) | (bench.inb(0x42) << 8), 0x1234);
    bench.outb(0x43, 0xd8); // count only, latched now and held while time passes
    bench.advanceBy(pitTickTime(0x1000));
    assert.equal(bench.inb(0x42) | (bench.inb(0x42) << 8), 0x1234);
    assert.equal(bench.inb(0x42) | (bench.inb(0x42) << 8), 0x1234 - pitTicksAt(bench.now()));
  });

  void it('gates counter 2 with port 0x61 bit 0 and shows its OUT in bit 5, as TSC calibration needs', () => {
    const { bench, pit } = setup();
    bench.outb(0x61, 0x00);
    bench.outb(0x43, 0xb0);
    bench.outb(0x42, 0xff);
    bench.outb(0x42, 0xff);
    bench.advanceBy(100e6);
    assert.equal(bench.inb(0x61) & 0x20, 0, 'gate low: counting suspended');
    assert.equal(pit.peekRegister(findRegister(pit.description, 'CH2_COUNT')!), 0xffffn);
    const gateOn = bench.now();
    bench.outb(0x61, 0x01);
    bench.advanceTo(gateOn + pitTickTime(0xfffe));
    assert.equal(bench.inb(0x61) & 0x20, 0);
    bench.advanceTo(gateOn + pitTickTime(0xffff) + 1);
    assert.equal(bench.inb(0x61) & 0x21, 0x21);
    assert.equal(bench.inb(0x61) & 0x0e, 0);
    bench.outb(0x61, 0x03);
    assert.equal(bench.inb(0x61) & 0x03, 0x03);
  });

  void it('toggles the refresh bit of port 0x61 every 15.085 µs', () => {
    const { bench } = setup();
    const seen = new Set<number>();
    for (let t = 0; t < 60000; t += 15085) {
      bench.advanceTo(t + 10);
      seen.add(bench.inb(0x61) & 0x10);
    }
    assert.deepEqual([...seen].sort(), [0, 0x10]);
    bench.advanceTo(15085 * 10 + 1);
    const a = bench.inb(0x61) & 0x10;
    bench.advanceTo(15085 * 11 + 1);
    assert.notEqual(bench.inb(0x61) & 0x10, a);
  });

  void it('retriggers mode 1 on a gate rising edge', () => {
    const { bench, pit } = setup();
    bench.outb(0x61, 0x00);
    program(bench, 0xb2, 100);
    assert.equal(pit.output(2), true);
    bench.advanceBy(1e6);
    assert.equal(pit.output(2), true, 'waiting for the trigger');
    bench.outb(0x61, 0x01);
    assert.equal(pit.output(2), false);
    bench.advanceBy(pitTickTime(101));
    assert.equal(pit.output(2), true);
    bench.outb(0x61, 0x00);
    bench.outb(0x61, 0x01);
    assert.equal(pit.output(2), false, 'retriggered');
  });

  void it('counts in BCD', () => {
    const { bench } = setup();
    bench.outb(0x43, 0x31); // counter 0, low/high, mode 0, BCD
    bench.outb(0x40, 0x00);
    bench.outb(0x40, 0x10); // 1000 decimal
    const start = pitTicksAt(bench.now());
    bench.advanceBy(pitTickTime(10));
    bench.outb(0x43, 0x00);
    const elapsed = pitTicksAt(bench.now()) - start;
    const bcd = bench.inb(0x40) | (bench.inb(0x40) << 8);
    assert.equal(bcd.toString(16), String(1000 - elapsed));
  });

  void it('applies a new mode 2 count at the end of the current cycle', () => {
    const { bench, sink } = setup();
    program(bench, 0x34, 10000);
    const startTick = pitTicksAt(bench.now());
    bench.advanceBy(pitTickTime(5000));
    bench.outb(0x40, 2000 & 0xff);
    bench.outb(0x40, 2000 >> 8);
    bench.advanceBy(pitTickTime(10000));
    const edges = edgesAfter(sink, pitTickTime(startTick));
    assert.deepEqual(
      edges.slice(0, 3),
      [10000, 12000, 14000].map((n) => pitTickTime(startTick + n)),
    );
  });

  void it('stops driving IRQ0 while HPET legacy replacement is active', () => {
    const { bench, sink, pit } = setup();
    program(bench, 0x34, 1193);
    pit.setHpetLegacyReplacement(true);
    const from = bench.now();
    bench.advanceBy(10e6);
    assert.equal(edgesAfter(sink, from).length, 0);
    pit.setHpetLegacyReplacement(false);
    bench.advanceBy(10e6);
    assert.ok(edgesAfter(sink, from).length >= 9);
  });
});
