/** The ACPI PM timer: a 24-bit count at 3.579545 MHz on port 0x608, which the machine's FADT points at. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AcpiPmTimer, PM_TIMER_HZ, PM_TIMER_PORT } from '../../adapter/core/devices/acpi-pm-timer';
import { PcMachine } from '../../adapter/core/machine/pc';
import { findRegister } from '../../adapter/core/regs/describe';
import { Bench } from './devices-support';

void describe('ACPI PM timer', () => {
  void it('counts 3,579,545 ticks a second, read as a 32-bit port', () => {
    const bench = new Bench();
    new AcpiPmTimer(bench.ports, bench.clock);
    assert.equal(bench.ports.read(PM_TIMER_PORT, 4), 0);
    bench.advanceBy(1_000_000); // 1 ms
    assert.equal(bench.ports.read(PM_TIMER_PORT, 4), 3579);
    bench.clock.time = 1e9;
    assert.equal(bench.ports.read(PM_TIMER_PORT, 4), PM_TIMER_HZ);
    // A tick is 279.365 ns: the count changes between 279 and 280 ns.
    bench.clock.time = 279;
    assert.equal(bench.ports.read(PM_TIMER_PORT, 4), 0);
    bench.clock.time = 280;
    assert.equal(bench.ports.read(PM_TIMER_PORT, 4), 1);
  });

  void it('wraps at 2^24 with bits 24-31 reading 0, also after an hour of guest time', () => {
    const bench = new Bench();
    new AcpiPmTimer(bench.ports, bench.clock);
    // 2^24 ticks = 4.686976 s.
    bench.clock.time = Math.ceil((0x1000000 * 1e9) / PM_TIMER_HZ);
    assert.equal(bench.ports.read(PM_TIMER_PORT, 4), 0);
    bench.clock.time = 3600e9 + 123_456;
    const expected = Number(
      (BigInt(3600) * BigInt(PM_TIMER_HZ) + BigInt(Math.floor((123_456 * PM_TIMER_HZ) / 1e9))) % 0x1000000n,
    );
    const value = bench.ports.read(PM_TIMER_PORT, 4);
    assert.equal(value, expected);
    assert.ok(value < 0x1000000);
  });

  void it('answers byte and word reads from the 32-bit register, and ignores writes', () => {
    const bench = new Bench();
    new AcpiPmTimer(bench.ports, bench.clock);
    bench.clock.time = 1e9;
    const full = bench.ports.read(PM_TIMER_PORT, 4);
    assert.equal(bench.ports.read(PM_TIMER_PORT, 1), full & 0xff);
    assert.equal(bench.ports.read(PM_TIMER_PORT + 1, 1), (full >> 8) & 0xff);
    assert.equal(bench.ports.read(PM_TIMER_PORT + 2, 2), (full >> 16) & 0xffff);
    bench.ports.write(PM_TIMER_PORT, 4, 0);
    assert.equal(bench.ports.read(PM_TIMER_PORT, 4), full);
  });

  void it('is in the PC machine, where the FADT points at it as a 24-bit timer, and in the device list', () => {
    const m = new PcMachine({ memoryMiB: 4 });
    const rsdp = findRsdp(m);
    const rsdt = m.phys.debugRead(rsdp + 16, 4);
    const rsdtAddress = new DataView(rsdt.buffer, rsdt.byteOffset).getUint32(0, true);
    const fadtAddress = new DataView(m.phys.debugRead(rsdtAddress + 36, 4).buffer).getUint32(0, true);
    const fadt = new DataView(m.phys.debugRead(fadtAddress, 244).buffer);
    assert.equal(fadt.getUint32(76, true), PM_TIMER_PORT, 'PM_TMR_BLK');
    assert.equal(fadt.getUint8(91), 4, 'PM_TMR_LEN');
    assert.equal(fadt.getUint32(112, true) & (1 << 8), 0, 'TMR_VAL_EXT clear: 24 bits');
    const device = m.devices.find((d) => d.description.name === 'pmtimer');
    assert.ok(device);
    const register = findRegister(device.description, 'PM_TMR')!;
    assert.equal(device.peekRegister(register), BigInt(m.ports.read(PM_TIMER_PORT, 4)));
  });
});

function findRsdp(m: PcMachine): number {
  for (let at = 0xe0000; at < 0x100000; at += 16) {
    if (new TextDecoder().decode(m.phys.debugRead(at, 8)) === 'RSD PTR ') return at;
  }
  throw new Error('no RSDP in the BIOS area');
}
