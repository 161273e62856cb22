import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PciFunction, PciHost } from '../../adapter/core/devices/pci';
import { Bench } from './devices-support';

function setup() {
  const bench = new Bench();
  const resets: number[] = [];
  const pci = new PciHost(bench.ports, { onReset: () => resets.push(bench.now()) });
  const address = (device: number, fn: number, offset: number, bus = 0) =>
    (0x80000000 | (bus << 16) | (device << 11) | (fn << 8) | (offset & 0xfc)) >>> 0;
  const read = (device: number, fn: number, offset: number, size: 1 | 2 | 4 = 4, bus = 0) => {
    bench.ports.write(0xcf8, 4, address(device, fn, offset, bus));
    return bench.ports.read(0xcfc + (offset & 3), size);
  };
  const write = (device: number, fn: number, offset: number, value: number, size: 1 | 2 | 4 = 4) => {
    bench.ports.write(0xcf8, 4, address(device, fn, offset));
    bench.ports.write(0xcfc + (offset & 3), size, value);
  };
  return { bench, pci, read, write, resets };
}

void describe('PCI configuration mechanism #1', () => {
  void it('passes the Linux type 1 probe: CONFIG_ADDRESS reads back what was written', () => {
    const { bench } = setup();
    bench.outb(0xcfb, 0x01);
    bench.ports.write(0xcf8, 4, 0x80000000);
    assert.equal(bench.ports.read(0xcf8, 4), 0x80000000);
    bench.ports.write(0xcf8, 4, 0xffffffff);
    assert.equal(bench.ports.read(0xcf8, 4), 0x80fffffc);
  });

  void it('shows the 440FX host bridge and the PIIX3 ISA bridge with their IDs and classes', () => {
    const { read } = setup();
    assert.equal(read(0, 0, 0), 0x12378086);
    assert.equal(read(0, 0, 0x08) >>> 8, 0x060000);
    assert.equal(read(1, 0, 0), 0x70008086);
    assert.equal(read(1, 0, 0x08) >>> 8, 0x060100);
    assert.equal(read(1, 0, 0x0e, 1), 0x80);
    assert.equal(read(1, 0, 0x02, 2), 0x7000);
    assert.equal(read(1, 0, 0x03, 1), 0x70);
    assert.equal(read(1, 0, 0x60), 0x80808080);
  });

  void it('reads all-ones for absent functions, other buses and with the enable bit clear', () => {
    const { bench, read } = setup();
    assert.equal(read(2, 0, 0), 0xffffffff);
    assert.equal(read(1, 1, 0), 0xffffffff);
    assert.equal(read(0, 0, 0, 4, 1), 0xffffffff);
    assert.equal(read(5, 0, 0, 2), 0xffff);
    bench.ports.write(0xcf8, 4, 0x00000000);
    assert.equal(bench.ports.read(0xcfc, 4), 0xffffffff);
  });

  void it('honours read-only bits and write-1-to-clear status bits', () => {
    const { read, write, pci } = setup();
    write(0, 0, 0, 0);
    assert.equal(read(0, 0, 0), 0x12378086, 'IDs are read-only');
    write(1, 0, 0x60, 0x0b, 1);
    assert.equal(read(1, 0, 0x60, 1), 0x0b);
    pci.hostBridge.config[0x07] |= 0x20; // received master abort
    write(0, 0, 0x04, 0x2000_0000 | 0x0004);
    assert.equal(read(0, 0, 0x06, 2) & 0x2000, 0);
    assert.equal(read(0, 0, 0x04, 2) & 0x0004, 0x0004);
  });

  void it('sizes BARs of added functions with the all-ones protocol', () => {
    const { pci, read, write } = setup();
    const fn = new PciFunction({ vendorId: 0x1234, deviceId: 0x1111, revision: 2, classCode: 0x030000 });
    fn.addBar(0, 16 * 1024 * 1024, 'mem32', true);
    fn.addBar(1, 32, 'io');
    fn.addBar(2, 0x1000, 'mem64');
    pci.attach(3, 0, fn);
    write(3, 0, 0x10, 0xffffffff);
    assert.equal(read(3, 0, 0x10), 0xff000008);
    write(3, 0, 0x14, 0xffffffff);
    assert.equal(read(3, 0, 0x14), 0xffffffe1);
    write(3, 0, 0x18, 0xffffffff);
    write(3, 0, 0x1c, 0xffffffff);
    assert.equal(read(3, 0, 0x18), 0xfffff004);
    assert.equal(read(3, 0, 0x1c), 0xffffffff);
    write(3, 0, 0x10, 0xe0000000);
    assert.equal(fn.barAddress(0), 0xe0000000);
    assert.throws(() => pci.attach(3, 0, fn));
  });

  void it('resets through the PIIX3 reset control register at 0xCF9', () => {
    const { bench, resets } = setup();
    bench.outb(0xcf9, 0x02);
    assert.equal(resets.length, 0);
    bench.outb(0xcf9, 0x06);
    assert.equal(resets.length, 1);
    assert.equal(bench.inb(0xcf9), 0x02);
  });
});
