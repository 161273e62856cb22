import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PhysicalAddressSpace } from '../../adapter/core/bus/physical';
import { ApicError, LAPIC_DEFAULT_BASE, LocalApic } from '../../adapter/core/devices/apic';
import { findRegister } from '../../adapter/core/regs/describe';
import type { TimeSource } from '../../adapter/core/time/scheduler';
import { Scheduler } from '../../adapter/core/time/scheduler';

class ManualClock implements TimeSource {
  ns = 0;
  now(): number {
    return this.ns;
  }
}

const REG = {
  ID: 0x20,
  VERSION: 0x30,
  TPR: 0x80,
  APR: 0x90,
  PPR: 0xa0,
  EOI: 0xb0,
  LDR: 0xd0,
  DFR: 0xe0,
  SVR: 0xf0,
  ISR: 0x100,
  TMR: 0x180,
  IRR: 0x200,
  ESR: 0x280,
  ICR_LOW: 0x300,
  ICR_HIGH: 0x310,
  LVT_TIMER: 0x320,
  LVT_LINT0: 0x350,
  LVT_LINT1: 0x360,
  LVT_ERROR: 0x370,
  TIMER_INITIAL: 0x380,
  TIMER_CURRENT: 0x390,
  TIMER_DIVIDE: 0x3e0,
};

function setup(options: { apicId?: number } = {}) {
  const clock = new ManualClock();
  const scheduler = new Scheduler(clock);
  const apic = new LocalApic({ scheduler, ...options });
  const space = new PhysicalAddressSpace(0x100000);
  apic.attach(space);
  const read = (offset: number) => space.read(apic.base + offset, 4) as number;
  const write = (offset: number, value: number) => space.write(apic.base + offset, 4, value);
  const advanceTo = (ns: number) => {
    clock.ns = ns;
    scheduler.runDue();
  };
  const bit = (bank: number, vector: number) => ((read(bank + (vector >>> 5) * 0x10) >>> (vector & 31)) & 1) === 1;
  return { clock, scheduler, apic, space, read, write, advanceTo, bit };
}

function enabled(options: { apicId?: number } = {}) {
  const t = setup(options);
  t.write(REG.SVR, 0x1ff);
  return t;
}

const msiAddress = (destination: number, logical = false) =>
  (0xfee00000 | (destination << 12) | (logical ? 4 : 0)) >>> 0;

void describe('local APIC registers', () => {
  void it('has its power-up values', () => {
    const { read, apic } = setup({ apicId: 3 });
    assert.equal(read(REG.ID), 0x03000000);
    assert.equal(read(REG.VERSION), 0x00050014);
    assert.equal(read(REG.SVR), 0xff);
    assert.equal(read(REG.DFR), 0xffffffff);
    for (const lvt of [0x320, 0x330, 0x340, 0x350, 0x360, 0x370]) assert.equal(read(lvt), 0x10000);
    assert.equal(apic.readMsrBase(), 0xfee00900n);
    assert.equal(apic.softwareEnabled, false);
  });

  void it('keeps only writable bits and ignores writes to read-only registers', () => {
    const { read, write } = enabled();
    write(REG.TPR, 0xfffffff3);
    assert.equal(read(REG.TPR), 0xf3);
    write(REG.LDR, 0x12345678);
    assert.equal(read(REG.LDR), 0x12000000);
    write(REG.DFR, 0x0);
    assert.equal(read(REG.DFR), 0x0fffffff);
    write(REG.VERSION, 0);
    assert.equal(read(REG.VERSION), 0x00050014);
    write(REG.LVT_LINT0, 0xffffffff);
    assert.equal(read(REG.LVT_LINT0), 0x1a7ff);
    write(REG.LVT_TIMER, 0xffffffff);
    assert.equal(read(REG.LVT_TIMER), 0x300ff);
  });

  void it('software disable masks every LVT entry and keeps them masked', () => {
    const { read, write } = enabled();
    write(REG.LVT_LINT0, 0x700);
    assert.equal(read(REG.LVT_LINT0), 0x700);
    write(REG.SVR, 0x0ff);
    assert.equal(read(REG.LVT_LINT0), 0x10700);
    write(REG.LVT_LINT0, 0x700);
    assert.equal(read(REG.LVT_LINT0), 0x10700);
    write(REG.SVR, 0x1ff);
    assert.equal(read(REG.LVT_LINT0), 0x10700, 'enabling again leaves the masks set');
  });

  void it('refuses sub-dword accesses and flags reserved registers in ESR', () => {
    const { space, read, write } = enabled();
    const invalidBefore = space.counters.invalidAccesses;
    assert.equal(space.read(LAPIC_DEFAULT_BASE + REG.VERSION, 1), 0xff);
    space.write(LAPIC_DEFAULT_BASE + REG.TPR, 2, 0x50);
    assert.equal(space.counters.invalidAccesses, invalidBefore + 2);
    assert.equal(read(REG.TPR), 0);
    assert.equal(read(REG.VERSION + 4), 0, 'upper bytes of a 16-byte slot read 0');
    assert.equal(read(0x040), 0, 'reserved slot reads 0');
    write(REG.ESR, 0);
    assert.equal(read(REG.ESR), ApicError.IllegalRegisterAddress);
    write(REG.ESR, 0);
    assert.equal(read(REG.ESR), 0);
  });
});

void describe('local APIC timer', () => {
  void it('one-shot: counts down at bus clock / divider and interrupts once at zero', () => {
    const { write, read, advanceTo, bit, apic } = enabled();
    write(REG.TIMER_DIVIDE, 0xb); // divide by 1: 10 ns per tick at 100 MHz
    write(REG.LVT_TIMER, 0x30);
    write(REG.TIMER_INITIAL, 1000);
    advanceTo(5000);
    assert.equal(read(REG.TIMER_CURRENT), 500);
    advanceTo(9999);
    assert.equal(bit(REG.IRR, 0x30), false);
    advanceTo(10000);
    assert.equal(bit(REG.IRR, 0x30), true);
    assert.equal(read(REG.TIMER_CURRENT), 0);
    assert.equal(apic.acknowledge(), 0x30);
    write(REG.EOI, 0);
    advanceTo(100000);
    assert.equal(bit(REG.IRR, 0x30), false, 'one-shot fires once');
    assert.equal(read(REG.TIMER_CURRENT), 0);
  });

  void it('periodic: interrupt rate follows scheduler time and the divider', () => {
    const { write, read, advanceTo, apic, scheduler } = enabled();
    write(REG.TIMER_DIVIDE, 0x3); // divide by 16
    write(REG.LVT_TIMER, 0x20000 | 0x40);
    write(REG.TIMER_INITIAL, 100_000); // 100000 * 16 * 10 ns = 16 ms
    assert.equal(scheduler.nextDeadline(), 16_000_000);
    let interrupts = 0;
    for (let t = 0; t <= 1_000_000_000; t += 1_000_000) {
      advanceTo(t);
      if (apic.hasDeliverableInterrupt()) {
        assert.equal(apic.acknowledge(), 0x40);
        write(REG.EOI, 0);
        interrupts++;
      }
    }
    assert.equal(interrupts, Math.floor(1_000_000_000 / 16_000_000));
    const later = 1_007_008_000;
    advanceTo(later);
    const ticksIntoPeriod = Math.floor((later % 16_000_000) / 160);
    assert.equal(read(REG.TIMER_CURRENT), 100_000 - ticksIntoPeriod);
  });

  void it('masked timer keeps counting without interrupting; writing 0 stops it', () => {
    const { write, read, advanceTo, bit, scheduler } = enabled();
    write(REG.TIMER_DIVIDE, 0xb);
    write(REG.LVT_TIMER, 0x10000 | 0x20000 | 0x31);
    write(REG.TIMER_INITIAL, 100);
    advanceTo(2500);
    assert.equal(bit(REG.IRR, 0x31), false);
    assert.equal(read(REG.TIMER_CURRENT), 100 - 50);
    write(REG.TIMER_INITIAL, 0);
    assert.equal(read(REG.TIMER_CURRENT), 0);
    assert.equal(scheduler.nextDeadline(), Infinity);
  });

  void it('changing the divider keeps the current count and changes the rate', () => {
    const { write, read, advanceTo, bit } = enabled();
    write(REG.TIMER_DIVIDE, 0xb);
    write(REG.LVT_TIMER, 0x32);
    write(REG.TIMER_INITIAL, 1000);
    advanceTo(4000); // 400 ticks elapsed, 600 left
    write(REG.TIMER_DIVIDE, 0x0); // divide by 2: 20 ns per tick
    assert.equal(read(REG.TIMER_CURRENT), 600);
    advanceTo(4000 + 600 * 20 - 1);
    assert.equal(bit(REG.IRR, 0x32), false);
    advanceTo(4000 + 600 * 20);
    assert.equal(bit(REG.IRR, 0x32), true);
  });
});

void describe('local APIC priorities', () => {
  void it('TPR holds interrupts of its class and below', () => {
    const { apic, write, read } = enabled();
    apic.deliverMsi(msiAddress(0), 0x45);
    write(REG.TPR, 0x50);
    assert.equal(apic.hasDeliverableInterrupt(), false);
    write(REG.TPR, 0x40);
    assert.equal(apic.hasDeliverableInterrupt(), false, 'same class is held');
    assert.equal(read(REG.PPR), 0x40);
    write(REG.TPR, 0x3f);
    assert.equal(apic.hasDeliverableInterrupt(), true);
    assert.equal(apic.acknowledge(), 0x45);
  });

  void it('acknowledge moves IRR to ISR; PPR blocks lower classes until EOI; higher ones nest', () => {
    const { apic, write, read, bit } = enabled();
    apic.deliverMsi(msiAddress(0), 0x51);
    apic.deliverMsi(msiAddress(0), 0x62);
    assert.equal(apic.acknowledge(), 0x62);
    assert.equal(bit(REG.ISR, 0x62), true);
    assert.equal(bit(REG.IRR, 0x62), false);
    assert.equal(read(REG.PPR), 0x60);
    assert.equal(apic.hasDeliverableInterrupt(), false, '0x51 waits for the EOI of 0x62');
    apic.deliverMsi(msiAddress(0), 0x71);
    assert.equal(apic.acknowledge(), 0x71, 'a higher class nests');
    write(REG.EOI, 0);
    assert.equal(bit(REG.ISR, 0x71), false);
    assert.equal(bit(REG.ISR, 0x62), true);
    assert.equal(apic.hasDeliverableInterrupt(), false);
    write(REG.EOI, 0);
    assert.equal(read(REG.PPR), 0);
    assert.equal(apic.acknowledge(), 0x51);
  });

  void it('returns the spurious vector when nothing is deliverable and changes nothing', () => {
    const { apic, write, bit } = enabled();
    write(REG.SVR, 0x1e7);
    apic.deliverMsi(msiAddress(0), 0x45);
    write(REG.TPR, 0xf0);
    assert.equal(apic.acknowledge(), 0xe7);
    assert.equal(bit(REG.IRR, 0x45), true);
    assert.equal(bit(REG.ISR, 0x45), false);
  });

  void it('arbitration priority follows TPR, ISR and IRR', () => {
    const { apic, write, read } = enabled();
    write(REG.TPR, 0x32);
    assert.equal(read(REG.APR), 0x32);
    apic.deliverMsi(msiAddress(0), 0x81);
    assert.equal(read(REG.APR), 0x80);
  });

  void it('EOI of a level-triggered vector is broadcast; of an edge vector it is not', () => {
    const { apic, write, bit } = enabled();
    const broadcasts: number[] = [];
    apic.onLevelEoi = (v) => broadcasts.push(v);
    apic.deliverMsi(msiAddress(0), 0xc000 | 0x55);
    assert.equal(bit(REG.TMR, 0x55), true);
    apic.deliverMsi(msiAddress(0), 0x66);
    assert.equal(apic.acknowledge(), 0x66);
    write(REG.EOI, 0);
    assert.equal(apic.acknowledge(), 0x55);
    write(REG.EOI, 0);
    assert.deepEqual(broadcasts, [0x55]);
    assert.equal(bit(REG.TMR, 0x55), false);
  });
});

void describe('local APIC messages', () => {
  void it('accepts MSIs by physical and logical destination', () => {
    const { apic, write, bit } = enabled({ apicId: 2 });
    apic.deliverMsi(msiAddress(1), 0x41);
    assert.equal(bit(REG.IRR, 0x41), false, 'another APIC ID');
    apic.deliverMsi(msiAddress(2), 0x42);
    assert.equal(bit(REG.IRR, 0x42), true);
    apic.deliverMsi(msiAddress(0xff), 0x43);
    assert.equal(bit(REG.IRR, 0x43), true, 'broadcast');
    write(REG.LDR, 0x04000000);
    apic.deliverMsi(msiAddress(0x05, true), 0x44);
    assert.equal(bit(REG.IRR, 0x44), true, 'flat logical match');
    apic.deliverMsi(msiAddress(0x02, true), 0x46);
    assert.equal(bit(REG.IRR, 0x46), false, 'flat logical mismatch');
    apic.deliverMsi(0xfed00000, 0x47);
    assert.equal(bit(REG.IRR, 0x47), false, 'not an MSI address');
    assert.equal(apic.counters.unmatchedMessages, 3);
  });

  void it('takes NMI messages separately and counts INIT/SIPI', () => {
    const { apic, write } = enabled();
    apic.deliverMsi(msiAddress(0), 0x400);
    assert.equal(apic.takeNmi(), true);
    assert.equal(apic.takeNmi(), false);
    write(REG.ICR_LOW, 0x40000 | 0x500);
    write(REG.ICR_LOW, 0x40000 | 0x608);
    assert.equal(apic.counters.initIpis, 1);
    assert.equal(apic.counters.startupIpis, 1);
  });

  void it('sends self-IPIs and flags illegal vectors', () => {
    const { apic, write, read, bit } = enabled();
    write(REG.ICR_LOW, 0x40000 | 0x58);
    assert.equal(bit(REG.IRR, 0x58), true);
    write(REG.ICR_HIGH, 0x00000000);
    write(REG.ICR_LOW, 0x59);
    assert.equal(bit(REG.IRR, 0x59), true, 'physical destination 0 is this APIC');
    write(REG.LVT_ERROR, 0xfe);
    write(REG.ICR_LOW, 0x40000 | 0x05);
    apic.deliverMsi(msiAddress(0), 0x07);
    write(REG.ESR, 0);
    assert.equal(read(REG.ESR), ApicError.SendIllegalVector | ApicError.ReceiveIllegalVector);
    assert.equal(bit(REG.IRR, 0xfe), true, 'the error LVT interrupts');
  });
});

void describe('local APIC placement', () => {
  void it('moves with IA32_APIC_BASE and disappears when globally disabled', () => {
    const { apic, space } = enabled();
    assert.equal(apic.writeMsrBase(0xfed40000n | 0x900n), true);
    assert.equal(space.read(0xfed40030, 4), 0x00050014);
    assert.equal(space.read(0xfee00030, 4), 0xffffffff);
    assert.equal(apic.description.base, 0xfed40000);
    assert.equal(apic.writeMsrBase(0xfed40000n | 0x100n), true);
    assert.equal(space.read(0xfed40030, 4), 0xffffffff);
    assert.equal(apic.softwareEnabled, false, 'global disable returns registers to power-up state');
    assert.equal(apic.writeMsrBase(0xfee00000n | 0xd00n), false, 'x2APIC is refused');
    assert.equal(apic.writeMsrBase(0x1_fee00000n | 0x900n), false, 'base above 4 GiB is refused');
  });
});

void describe('local APIC inspection', () => {
  void it('peeking every register has no side effect; a guest poke of EOI retires the vector', () => {
    const { apic, bit, read, write } = enabled();
    apic.deliverMsi(msiAddress(0), 0xc000 | 0x61);
    apic.acknowledge();
    let broadcasts = 0;
    apic.onLevelEoi = () => broadcasts++;
    write(REG.ESR, 0);
    const snapshot = () => apic.description.registers.map((r) => apic.peekRegister(r));
    const first = snapshot();
    assert.deepEqual(snapshot(), first);
    assert.equal(bit(REG.ISR, 0x61), true);
    assert.equal(read(REG.ESR), 0);
    assert.equal(broadcasts, 0);
    apic.pokeRegister(findRegister(apic.description, 'EOI')!, 0n, 'debugger');
    assert.equal(bit(REG.ISR, 0x61), true, 'a debugger write of EOI does nothing');
    apic.pokeRegister(findRegister(apic.description, 'EOI')!, 0n, 'guest');
    assert.equal(bit(REG.ISR, 0x61), false);
    assert.equal(broadcasts, 1);
  });

  void it('describes every register at a unique 16-byte-aligned offset; peek matches MMIO reads', () => {
    const { apic, read, write } = enabled({ apicId: 5 });
    write(REG.TPR, 0x21);
    const offsets = new Set<number>();
    for (const r of apic.description.registers) {
      assert.equal(r.offset % 16, 0, r.name);
      assert.ok(!offsets.has(r.offset), r.name);
      offsets.add(r.offset);
      if (r.name !== 'ESR') assert.equal(apic.peekRegister(r), BigInt(read(r.offset)), r.name);
    }
    assert.equal(apic.description.registers.length, 3 * 8 + 22);
  });

  void it('a debugger poke of the current count moves the timer deadline', () => {
    const { apic, write, read, scheduler } = enabled();
    write(REG.TIMER_DIVIDE, 0xb);
    write(REG.LVT_TIMER, 0x30);
    write(REG.TIMER_INITIAL, 1000);
    apic.pokeRegister(findRegister(apic.description, 'TIMER_CURRENT_COUNT')!, 10n, 'debugger');
    assert.equal(read(REG.TIMER_CURRENT), 10);
    assert.equal(scheduler.nextDeadline(), 100);
  });
});
