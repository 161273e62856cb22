import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { I8042 } from '../../adapter/core/devices/i8042';
import { IrqLine } from '../../adapter/core/devices/interrupts';
import { findRegister } from '../../adapter/core/regs/describe';
import { Bench, RecordingIrqSink } from './devices-support';

function setup() {
  const bench = new Bench();
  const sink = new RecordingIrqSink(bench.clock);
  const events: string[] = [];
  const kbc = new I8042(bench.ports, new IrqLine(sink, 1), new IrqLine(sink, 12), {
    onReset: () => events.push('reset'),
    onA20: (on) => events.push(`a20 ${on}`),
  });
  const command = (c: number) => bench.outb(0x64, c);
  const readData = () => {
    assert.equal(bench.inb(0x64) & 1, 1, 'output buffer full');
    return bench.inb(0x60);
  };
  return { bench, sink, kbc, events, command, readData };
}

void describe('i8042 keyboard controller', () => {
  void it('passes the self-test with 0x55 and the interface tests with 0x00', () => {
    const { bench, command, readData } = setup();
    command(0xaa);
    assert.equal(readData(), 0x55);
    assert.equal(bench.inb(0x64) & 0x05, 0x04, 'system flag set, buffer empty');
    command(0xab);
    assert.equal(readData(), 0x00);
    command(0xa9);
    assert.equal(readData(), 0x00);
  });

  void it('reads and writes the command byte, which gates IRQ1 and the keyboard', () => {
    const { bench, sink, kbc, command, readData } = setup();
    command(0x20);
    assert.equal(readData(), 0x45);
    command(0x60);
    bench.outb(0x60, 0x44);
    assert.equal(kbc.peekRegister(findRegister(kbc.description, 'COMMAND_BYTE')!), 0x44n);
    bench.outb(0x60, 0xf4); // enable scanning: the keyboard ACKs
    assert.equal(sink.level(1), false, 'IRQ1 disabled in the command byte');
    assert.equal(readData(), 0xfa);
    command(0x60);
    bench.outb(0x60, 0x45);
    command(0xad);
    bench.outb(0x60, 0xf2);
    assert.equal(bench.inb(0x64) & 1, 0, 'keyboard disabled: its bytes wait');
    command(0xae);
    assert.equal(sink.level(1), true);
    assert.equal(readData(), 0xfa);
    assert.equal(readData(), 0xab);
    assert.equal(readData(), 0x83);
    assert.equal(sink.level(1), false);
  });

  void it('answers a keyboard reset and LED commands', () => {
    const { bench, readData } = setup();
    bench.outb(0x60, 0xff);
    assert.equal(readData(), 0xfa);
    assert.equal(readData(), 0xaa);
    bench.outb(0x60, 0xed);
    assert.equal(readData(), 0xfa);
    bench.outb(0x60, 0x07);
    assert.equal(readData(), 0xfa);
    assert.equal(bench.inb(0x64) & 1, 0);
  });

  void it('drives A20 through the output port and resets through 0xFE', () => {
    const { bench, kbc, events, command, readData } = setup();
    command(0xd0);
    assert.equal(readData() & 0x03, 0x03);
    command(0xd1);
    bench.outb(0x60, 0xdd);
    assert.equal(kbc.a20Enabled, false);
    command(0xd1);
    bench.outb(0x60, 0xdf);
    assert.equal(kbc.a20Enabled, true);
    assert.deepEqual(events, ['a20 false', 'a20 true']);
    command(0xff);
    assert.deepEqual(events, ['a20 false', 'a20 true'], '0xFF pulses nothing');
    command(0xfe);
    assert.deepEqual(events, ['a20 false', 'a20 true', 'reset']);
  });

  void it('echoes 0xD3 as auxiliary data on IRQ12 and times out commands to the absent mouse', () => {
    const { bench, sink, command } = setup();
    command(0x60);
    bench.outb(0x60, 0x47);
    command(0xd3);
    bench.outb(0x60, 0x5a);
    assert.equal(bench.inb(0x64) & 0x21, 0x21);
    assert.equal(sink.level(12), true);
    assert.equal(bench.inb(0x60), 0x5a);
    assert.equal(sink.level(12), false);
    command(0xd4);
    bench.outb(0x60, 0xf2);
    assert.equal(bench.inb(0x64) & 0x61, 0x61, 'timeout with auxiliary data');
    assert.equal(bench.inb(0x60), 0xfe);
  });
});
