import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DebugConsole, DebugExitPort, PostCodePort, SystemControlPort } from '../../adapter/core/devices/misc-ports';
import { PcMachine } from '../../adapter/core/machine/pc';
import { Bench } from './devices-support';

void describe('miscellaneous ports', () => {
  void it('port 0x92 drives fast A20 and pulses reset, bit 0 reading back 0', () => {
    const bench = new Bench();
    const events: string[] = [];
    const port = new SystemControlPort(bench.ports, {
      onA20: (on) => events.push(`a20 ${on}`),
      onReset: () => events.push('reset'),
    });
    bench.outb(0x92, 0x02);
    assert.equal(port.a20Enabled, true);
    assert.equal(bench.inb(0x92), 0x02);
    bench.outb(0x92, bench.inb(0x92) | 0x01);
    assert.deepEqual(events, ['a20 true', 'reset']);
    assert.equal(bench.inb(0x92), 0x02);
  });

  void it('the PC masks A20 only while both the i8042 gate and the port 0x92 gate are off', () => {
    const machine = new PcMachine({ memoryMiB: 4 });
    const ports = machine.ports;
    const a20 = () => machine.cpu.mmu.a20Mask === -1;
    const writeOutputPort = (value: number) => {
      ports.write(0x64, 1, 0xd1);
      ports.write(0x60, 1, value);
    };
    assert.equal(ports.read(0x92, 1), 0x02, 'firmware left A20 on through port 0x92');
    assert.equal(a20(), true);
    ports.write(0x92, 1, 0x00);
    assert.equal(a20(), true, 'the i8042 output port still enables it');
    writeOutputPort(0xdd);
    assert.equal(a20(), false, 'both gates off');
    ports.write(0x92, 1, 0x02);
    assert.equal(a20(), true);
    ports.write(0x92, 1, 0x00);
    assert.equal(a20(), false);
    writeOutputPort(0xdf);
    assert.equal(a20(), true);
  });

  void it('port 0x80 records POST codes in order and reads back the last', () => {
    const bench = new Bench();
    const post = new PostCodePort(bench.ports);
    for (const code of [0x10, 0x22, 0x7f]) bench.outb(0x80, code);
    assert.deepEqual(post.codes, [0x10, 0x22, 0x7f]);
    assert.equal(bench.inb(0x80), 0x7f);
  });

  void it('port 0xE9 prints bytes and reads as 0xE9', () => {
    const bench = new Bench();
    const out: number[] = [];
    new DebugConsole(bench.ports, (b) => out.push(b));
    for (const c of 'ok') bench.outb(0xe9, c.charCodeAt(0));
    assert.equal(String.fromCharCode(...out), 'ok');
    assert.equal(bench.inb(0xe9), 0xe9);
  });

  void it('port 0xF4 requests exit with status (v << 1) | 1 for any access width', () => {
    const bench = new Bench();
    const statuses: number[] = [];
    const exit = new DebugExitPort(bench.ports, (s) => statuses.push(s));
    bench.outb(0xf4, 0);
    bench.outb(0xf4, 0x10);
    bench.ports.write(0xf4, 4, 0x31);
    bench.ports.write(0xf6, 2, 0x01);
    assert.deepEqual(statuses, [1, 0x21, 0x63, 3]);
    assert.equal(exit.exitStatus, 3);
    assert.equal(bench.inb(0xf4), 0);
  });
});
