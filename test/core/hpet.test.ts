import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PhysicalAddressSpace } from '../../adapter/core/bus/physical';
import type { HpetOptions } from '../../adapter/core/devices/hpet/config';
import { makeHpetConfig } from '../../adapter/core/devices/hpet/config';
import { Hpet } from '../../adapter/core/devices/hpet/hpet';
import type { IrqSink, MsiSink } from '../../adapter/core/devices/interrupts';
import { findRegister } from '../../adapter/core/regs/describe';
import type { TimeSource } from '../../adapter/core/time/scheduler';
import { Scheduler } from '../../adapter/core/time/scheduler';

class ManualClock implements TimeSource {
  ns = 0;
  now(): number {
    return this.ns;
  }
}

/** Records every transition of every input line. */
class RecordingSink implements IrqSink {
  readonly transitions: string[] = [];
  private readonly levels = new Map<number, boolean>();
  setIrq(line: number, level: boolean): void {
    this.transitions.push(`${line}${level ? '+' : '-'}`);
    this.levels.set(line, level);
  }
  level(line: number): boolean {
    return this.levels.get(line) ?? false;
  }
  /** Number of low-to-high transitions of a line. */
  rises(line: number): number {
    return this.transitions.filter((t) => t === `${line}+`).length;
  }
  clear(): void {
    this.transitions.length = 0;
  }
}

class RecordingMsi implements MsiSink {
  readonly writes: [number, number][] = [];
  deliverMsi(address: number, data: number): void {
    this.writes.push([address, data]);
  }
}

// Register offsets, written out here so the tests do not depend on the model's own constants.
const GCAP = 0x000;
const CONF = 0x010;
const STA = 0x020;
const CNT = 0x0f0;
const TCONF = (n: number) => 0x100 + 0x20 * n;
const TCMP = (n: number) => 0x108 + 0x20 * n;
const TFSB = (n: number) => 0x110 + 0x20 * n;

const ENABLE = 1n;
const LEGACY = 2n;
const LEVEL = 1 << 1;
const INT_ENB = 1 << 2;
const PERIODIC = 1 << 3;
const VAL_SET = 1 << 6;
const MODE32 = 1 << 8;
const route = (input: number) => input << 9;
const FSB_EN = 1 << 14;

/** QEMU's q35 route capability (GSI 2, 8, 16-23), so routing rules can be exercised beyond input 2. */
const Q35_ROUTES = 0x00ff0104;

function setup(options: HpetOptions = { preset: 'qemu', routeCap: Q35_ROUTES }) {
  const clock = new ManualClock();
  const scheduler = new Scheduler(clock);
  const pic = new RecordingSink();
  const ioapic = new RecordingSink();
  const msi = new RecordingMsi();
  const config = makeHpetConfig(options);
  const hpet = new Hpet(config, scheduler, pic, ioapic, msi);
  const legacyChanges: boolean[] = [];
  hpet.onLegacyReplacementChange = (active) => legacyChanges.push(active);
  const r32 = (offset: number) => hpet.read(offset, 4);
  const w32 = (offset: number, value: number) => hpet.write(offset, 4, value);
  const r64 = (offset: number) => hpet.read64(offset);
  const w64 = (offset: number, value: bigint) => hpet.write64(offset, value);
  /** Moves virtual time to `ns` and lets the scheduler fire what is due. */
  const runTo = (ns: number) => {
    clock.ns = ns;
    scheduler.runDue();
  };
  /** Nanoseconds at which the counter, enabled at time `start` from 0, reaches `ticks`. */
  const nsForTicks = (ticks: number, start = 0) => start + Math.ceil((ticks * config.periodFs) / 1e6);
  const enable = (extra = 0n) => w64(CONF, ENABLE | extra);
  const register = (name: string) => {
    const r = findRegister(hpet.description, name);
    assert.ok(r, `register ${name}`);
    return r;
  };
  return {
    clock,
    scheduler,
    pic,
    ioapic,
    msi,
    config,
    hpet,
    legacyChanges,
    r32,
    w32,
    r64,
    w64,
    runTo,
    nsForTicks,
    enable,
    register,
  };
}

void describe('HPET access widths and decode', () => {
  void it('R1 32-bit accesses at +0 and +4 reach the two halves of a register independently', () => {
    const h = setup();
    h.w32(TCMP(0), 0x11223344);
    assert.equal(h.r64(TCMP(0)), 0xffffffff11223344n);
    h.w32(TCMP(0) + 4, 0x55667788);
    assert.equal(h.r64(TCMP(0)), 0x5566778811223344n);
    assert.equal(h.r32(TCMP(0)), 0x11223344);
    assert.equal(h.r32(TCMP(0) + 4), 0x55667788);
    h.w32(TFSB(1) + 4, 0xfee00000);
    assert.equal(h.r64(TFSB(1)), 0xfee0000000000000n);
  });

  void it('R2 64-bit accesses read and write a whole register in one operation', () => {
    const h = setup();
    h.w64(CNT, 0x123456789abcdef0n);
    assert.equal(h.r64(CNT), 0x123456789abcdef0n);
    h.enable();
    h.runTo(1000);
    assert.equal(h.r64(CNT), 0x123456789abcdef0n + 100n);
    assert.equal(h.r64(GCAP), (10_000_000n << 32n) | 0x8086a201n);
  });

  void it('R3 a 64-bit comparator write with VAL_SET sets the whole accumulator; 32-bit halves consume VAL_SET', () => {
    const h = setup();
    h.w32(TCONF(0), PERIODIC | VAL_SET | INT_ENB);
    h.w64(TCMP(0), 0x0000000100000200n);
    assert.equal(h.r64(TCMP(0)), 0x0000000100000200n);
    assert.equal(h.r32(TCONF(0)) & VAL_SET, 0);

    const g = setup();
    g.w32(TCONF(0), PERIODIC | VAL_SET);
    g.w32(TCMP(0), 0x300);
    g.w32(TCMP(0) + 4, 0x7);
    assert.equal(g.r64(TCMP(0)), 0xffffffff00000300n, 'the high half went to the period, not the accumulator');
    g.w32(TCONF(0), PERIODIC | VAL_SET);
    g.w32(TCMP(0) + 4, 0x2);
    assert.equal(g.r64(TCMP(0)), 0x0000000200000300n);
  });

  void it('R4 1- and 2-byte and misaligned accesses read 0 and writes are ignored', () => {
    const h = setup();
    assert.equal(h.hpet.read(GCAP, 1), 0);
    assert.equal(h.hpet.read(GCAP + 2, 2), 0);
    assert.equal(h.hpet.read(GCAP + 2, 4), 0);
    assert.equal(h.hpet.read64(GCAP + 4), 0n);
    h.hpet.write(CONF, 1, 1);
    h.hpet.write(CONF, 2, 1);
    h.hpet.write(TCMP(0) + 2, 4, 0);
    h.hpet.write64(TCMP(0) + 4, 0n);
    assert.equal(h.r64(CONF), 0n);
    assert.equal(h.r64(TCMP(0)), 0xffffffffffffffffn);
    assert.equal(h.hpet.stats.invalidAccesses, 8);
  });

  void it('R4 through the bus: the region passes all sizes to the device, which refuses narrow ones', () => {
    const h = setup();
    const bus = new PhysicalAddressSpace(0x10000);
    h.hpet.attach(bus);
    assert.equal(bus.read(0xfed00000, 4), 0x8086a201);
    assert.equal(bus.read(0xfed00000, 8), (10_000_000n << 32n) | 0x8086a201n);
    assert.equal(bus.read(0xfed00001, 1), 0);
    assert.equal(bus.read(0xfed00004, 2), 0);
    assert.equal(bus.counters.invalidAccesses, 0);
    assert.equal(h.hpet.stats.invalidAccesses, 2);
    assert.equal(bus.debugRead(0xfed00000, 4).join(','), '1,162,134,128', 'the debugger reads the real bytes');
  });

  void it('R5 reserved offsets and reserved bits read 0 and ignore writes', () => {
    const h = setup();
    for (const offset of [0x008, 0x018, 0x028, 0x0e8, 0x0f8, 0x118, 0x138]) {
      h.w64(offset, 0xffffffffffffffffn);
      assert.equal(h.r64(offset), 0n, `offset 0x${offset.toString(16)}`);
    }
    h.w64(CONF, 0xfffffffffffffffcn);
    assert.equal(h.r64(CONF), 0n);
  });

  void it('R6 registers of timers that do not exist read 0 and ignore writes', () => {
    const h = setup();
    h.w64(TCONF(3), 0xffffn);
    h.w64(TCMP(3), 5n);
    assert.equal(h.r64(TCONF(3)), 0n);
    assert.equal(h.r64(TCMP(3)), 0n);
    assert.equal(h.r64(TCONF(23) + 8), 0n);
  });

  void it('R7 registers are little-endian: +0 holds bits 31:0', () => {
    const h = setup();
    h.w64(TFSB(0), 0xfee01000_00004041n);
    assert.equal(h.hpet.peek(TFSB(0), 1), 0x41);
    assert.equal(h.hpet.peek(TFSB(0) + 7, 1), 0xfe);
    assert.equal(h.r32(TFSB(0)), 0x00004041);
  });
});

void describe('HPET capabilities', () => {
  void it('R8 GCAP_ID ignores writes to either half and to the whole register', () => {
    const h = setup({ preset: 'ich' });
    const before = h.r64(GCAP);
    h.w32(GCAP, 0);
    h.w32(GCAP + 4, 0);
    h.w64(GCAP, 0n);
    assert.equal(h.r64(GCAP), before);
    assert.equal(before, (69_841_279n << 32n) | 0x80868301n);
  });

  void it('R12 with a 32-bit main counter MAIN_CNT[63:32] reads 0 and ignores writes, and timers are 32-bit', () => {
    const h = setup({ preset: 'ich' });
    h.w64(CNT, 0x1_2345_6789n);
    assert.equal(h.r64(CNT), 0x2345_6789n);
    h.w32(CNT + 4, 5);
    assert.equal(h.r32(CNT + 4), 0);
    for (let n = 0; n < 4; n++) {
      assert.equal(h.r32(TCONF(n)) & (1 << 5), 0, `T${n}_SIZE_CAP`);
      h.w32(TCONF(n), MODE32);
      assert.equal(h.r32(TCONF(n)) & MODE32, 0, `T${n}_32MODE_CNF is read-only 0`);
      assert.equal(h.r64(TCMP(n)), 0xffffffffn);
    }
  });

  void it('R13 without LEG_RT_CAP, LEG_RT_CNF is read-only 0', () => {
    const h = setup({ preset: 'qemu', routeCap: Q35_ROUTES, legacyCapable: false });
    assert.equal(h.r32(GCAP) & (1 << 15), 0);
    h.w64(CONF, ENABLE | LEGACY);
    assert.equal(h.r64(CONF), ENABLE);
    assert.equal(h.hpet.legacyReplacementActive, false);
    assert.deepEqual(h.legacyChanges, []);
  });
});

void describe('HPET general configuration and main counter', () => {
  void it('R14 after reset GEN_CONF, GINTR_STA and MAIN_CNT are 0 and the counter does not run', () => {
    const h = setup();
    h.runTo(1_000_000);
    assert.equal(h.r64(CONF), 0n);
    assert.equal(h.r64(STA), 0n);
    assert.equal(h.r64(CNT), 0n);
    assert.equal(h.scheduler.nextDeadline(), Infinity);
  });

  void it('R15 only GEN_CONF bits 1:0 are writable; the upper half reads 0', () => {
    const h = setup();
    h.w32(CONF + 4, 0xffffffff);
    h.w32(CONF, 0xffffffff);
    assert.equal(h.r64(CONF), 3n);
  });

  void it('R16 the counter advances one tick per period only while ENABLE_CNF = 1 and resumes from where it stopped', () => {
    const h = setup({ preset: 'ich' });
    h.runTo(5000);
    assert.equal(h.r32(CNT), 0);
    h.enable();
    h.runTo(5000 + 69_841);
    assert.equal(h.r32(CNT), 999, '69 841 ns is 999.99 ticks of 69.841279 ns');
    h.runTo(5000 + 69_842);
    assert.equal(h.r32(CNT), 1000);
    h.w64(CONF, 0n);
    h.runTo(10_000_000);
    assert.equal(h.r32(CNT), 1000);
    h.enable();
    h.runTo(10_000_000 + 6985);
    assert.equal(h.r32(CNT), 1100);
  });

  void it('R16 successive counter reads never decrease', () => {
    const h = setup({ preset: 'ich' });
    h.enable();
    let last = -1;
    for (let ns = 0; ns < 3000; ns += 7) {
      h.clock.ns = ns;
      const value = h.r32(CNT);
      assert.ok(value >= last);
      last = value;
    }
  });

  void it('R17 halting freezes the counter, stops matches and drops level lines; status stays and re-enabling re-asserts', () => {
    const h = setup();
    h.w32(TCONF(2), LEVEL | INT_ENB | route(20));
    h.w64(TCMP(2), 100n);
    h.enable();
    h.runTo(1000);
    assert.equal(h.ioapic.level(20), true);
    h.w64(CONF, 0n);
    assert.equal(h.ioapic.level(20), false);
    assert.equal(h.r64(STA), 4n);
    h.w64(TCMP(2), 150n);
    h.runTo(10_000);
    assert.equal(h.hpet.stats.matches[2], 1, 'no match while halted');
    h.enable();
    assert.equal(h.ioapic.level(20), true);
  });

  void it('R18 writes to MAIN_CNT while halted load either half or the whole counter', () => {
    const h = setup();
    h.w32(CNT, 0xdeadbeef);
    h.w32(CNT + 4, 0x1);
    assert.equal(h.r64(CNT), 0x1deadbeefn);
    h.w64(CNT, 0xfffffffffffffff0n);
    h.enable();
    h.runTo(50);
    assert.equal(h.r64(CNT), 0xfffffffffffffff5n);
  });

  void it('R19 writes to MAIN_CNT while the counter runs are dropped', () => {
    const h = setup();
    h.enable();
    h.runTo(100);
    h.w32(CNT, 0);
    h.w64(CNT, 0n);
    assert.equal(h.r64(CNT), 10n);
    assert.equal(h.hpet.stats.droppedCounterWrites, 2);
  });

  void it('R20 the counter wraps from 2^32-1 to 0 (32-bit) and from 2^64-1 to 0 (64-bit)', () => {
    const ich = setup({ preset: 'ich' });
    ich.w32(CNT, 0xfffffffe);
    ich.enable();
    ich.runTo(ich.nsForTicks(3));
    assert.equal(ich.r32(CNT), 1);
    const qemu = setup();
    qemu.w64(CNT, 0xffffffffffffffffn);
    qemu.enable();
    qemu.runTo(20);
    assert.equal(qemu.r64(CNT), 1n);
  });
});

void describe('HPET legacy replacement', () => {
  void it('R21 LEG_RT_CNF sends timer 0 to IRQ0 and input 2, timer 1 to IRQ8 and input 8, ignoring their routes', () => {
    const h = setup();
    h.w32(TCONF(0), INT_ENB | route(16));
    h.w32(TCONF(1), INT_ENB | route(17));
    h.w32(TCONF(2), INT_ENB | route(18));
    h.w64(TCMP(0), 10n);
    h.w64(TCMP(1), 20n);
    h.w64(TCMP(2), 30n);
    h.enable(LEGACY);
    assert.equal(h.hpet.legacyReplacementActive, true);
    assert.deepEqual(h.legacyChanges, [true]);
    h.runTo(1000);
    assert.deepEqual(h.pic.transitions, ['0+', '0-', '8+', '8-']);
    assert.deepEqual(h.ioapic.transitions, ['2+', '2-', '8+', '8-', '18+', '18-']);
    h.w64(CONF, ENABLE);
    assert.deepEqual(h.legacyChanges, [true, false]);
  });

  void it('R21 the legacy route wins over FSB delivery and keeps the level type', () => {
    const h = setup({ preset: 'qemu', routeCap: Q35_ROUTES, fsb: true });
    h.w64(TFSB(0), 0xfee00000_00000030n);
    h.w32(TCONF(0), INT_ENB | LEVEL | FSB_EN);
    h.w64(TCMP(0), 10n);
    h.enable(LEGACY);
    h.runTo(200);
    assert.deepEqual(h.msi.writes, []);
    assert.equal(h.ioapic.level(2), true);
    assert.equal(h.pic.level(0), true);
    h.w64(CONF, ENABLE);
    assert.equal(h.ioapic.level(2), false, 'leaving legacy mode moves the held line to the FSB route');
  });
});

void describe('HPET interrupt status', () => {
  void it('R22 a level event sets the status bit even with INT_ENB = 0; the line needs INT_ENB and ENABLE_CNF', () => {
    const h = setup();
    h.w32(TCONF(1), LEVEL | route(16));
    h.w64(TCMP(1), 5n);
    h.enable();
    h.runTo(100);
    assert.equal(h.r64(STA), 2n);
    assert.deepEqual(h.ioapic.transitions, []);
  });

  void it('R23 writing 1 to a status bit clears it and releases the line; writing 0 does nothing', () => {
    const h = setup();
    h.w32(TCONF(1), LEVEL | INT_ENB | route(16));
    h.w64(TCMP(1), 5n);
    h.enable();
    h.runTo(100);
    assert.equal(h.ioapic.level(16), true);
    h.w64(STA, 0n);
    h.w32(STA, 1);
    assert.equal(h.r64(STA), 2n);
    assert.equal(h.ioapic.level(16), true);
    h.w32(STA, 2);
    assert.equal(h.r64(STA), 0n);
    assert.equal(h.ioapic.level(16), false);
  });

  void it('R24 an event while the status bit is set keeps the line asserted without a new edge', () => {
    const h = setup();
    h.w32(TCONF(0), LEVEL | INT_ENB | PERIODIC | VAL_SET | route(20));
    h.w64(TCMP(0), 10n);
    h.enable();
    h.runTo(100);
    h.runTo(200);
    h.runTo(300);
    assert.equal(h.hpet.stats.matches[0], 3);
    assert.equal(h.ioapic.rises(20), 1);
    assert.equal(h.ioapic.level(20), true);
  });

  void it('R25 edge-triggered timers never set their status bit, and writing it has no effect', () => {
    const h = setup();
    h.w32(TCONF(0), INT_ENB | route(20));
    h.w64(TCMP(0), 10n);
    h.enable();
    h.runTo(1000);
    assert.equal(h.ioapic.rises(20), 1);
    assert.equal(h.r64(STA), 0n);
    h.w64(STA, 1n);
    assert.equal(h.r64(STA), 0n);
  });

  void it('R26 switching a level timer with a pending status to edge clears the status and lowers the line', () => {
    const h = setup();
    h.w32(TCONF(0), LEVEL | INT_ENB | route(20));
    h.w64(TCMP(0), 10n);
    h.enable();
    h.runTo(1000);
    assert.equal(h.ioapic.level(20), true);
    h.w32(TCONF(0), INT_ENB | route(20));
    assert.equal(h.r64(STA), 0n);
    assert.equal(h.ioapic.level(20), false);
  });

  void it('R27 setting INT_ENB with a pending level status asserts the line; clearing it releases the line', () => {
    const h = setup();
    h.w32(TCONF(0), LEVEL | route(20));
    h.w64(TCMP(0), 10n);
    h.enable();
    h.runTo(1000);
    assert.equal(h.ioapic.level(20), false);
    h.w32(TCONF(0), LEVEL | INT_ENB | route(20));
    assert.equal(h.ioapic.level(20), true);
    h.w32(TCONF(0), LEVEL | route(20));
    assert.equal(h.ioapic.level(20), false);
    assert.equal(h.r64(STA), 1n, 'the status stays until software clears it');
  });
});

void describe('HPET timer configuration', () => {
  void it('R28 read-only and reserved bits of Tn_CONF_CAP ignore writes; capability bits stay', () => {
    const h = setup();
    const caps = h.r64(TCONF(0));
    assert.equal(caps, (0x00ff0104n << 32n) | 0x30n);
    h.w64(TCONF(0), 0n);
    assert.equal(h.r64(TCONF(0)), caps);
    h.w32(TCONF(0) + 4, 0);
    assert.equal(h.r64(TCONF(0)), caps);
    h.w32(TCONF(0), 0x134);
    assert.equal(h.r32(TCONF(0)), 0x134, 'Windows rewrites 0x134 including capability bits');
    h.w32(TCONF(0), 0xffff80b1);
    assert.equal(h.r32(TCONF(0)), 0x30);
  });

  void it('R29 Tn_TYPE_CNF is read-only 0 on timers without periodic capability', () => {
    const h = setup({ preset: 'ich' });
    h.w32(TCONF(1), PERIODIC | INT_ENB);
    assert.equal(h.r32(TCONF(1)), INT_ENB);
    h.w32(TCONF(0), PERIODIC);
    assert.equal(h.r32(TCONF(0)) & PERIODIC, PERIODIC);
  });

  void it('R30 32MODE on a 64-bit timer clears the comparator upper half and compares only counter bits 31:0', () => {
    const h = setup();
    h.w64(TCMP(0), 0x5_0000_0010n);
    h.w32(TCONF(0), MODE32 | INT_ENB | route(20));
    assert.equal(h.r64(TCMP(0)), 0x10n);
    h.w32(TCMP(0) + 4, 7);
    assert.equal(h.r64(TCMP(0)), 0x10n, 'the upper half ignores writes in 32-bit mode');
    h.w64(CNT, 0x3_0000_0000n);
    h.enable();
    h.runTo(h.nsForTicks(0x10) - 1);
    assert.equal(h.ioapic.rises(20), 0);
    h.runTo(h.nsForTicks(0x10));
    assert.equal(h.ioapic.rises(20), 1);
    h.w32(TCONF(0), INT_ENB | route(20));
    assert.equal(h.r64(TCMP(0)), 0x10n, 'the upper half stays 0 when switched back');
  });

  void it('R31 only routes allowed by Tn_INT_ROUTE_CAP are stored; others keep the previous route', () => {
    const h = setup();
    h.w32(TCONF(0), route(8));
    assert.equal((h.r32(TCONF(0)) >> 9) & 0x1f, 8);
    h.w32(TCONF(0), route(5) | INT_ENB);
    assert.equal((h.r32(TCONF(0)) >> 9) & 0x1f, 8);
    assert.equal(h.r32(TCONF(0)) & INT_ENB, INT_ENB, 'the other bits of the write still apply');
    h.w32(TCONF(0), route(23));
    assert.equal((h.r32(TCONF(0)) >> 9) & 0x1f, 23);
  });

  void it('R32 Tn_FSB_EN_CNF is writable only on FSB-capable timers', () => {
    const plain = setup();
    plain.w32(TCONF(0), FSB_EN);
    assert.equal(plain.r32(TCONF(0)) & FSB_EN, 0);
    const capable = setup({ preset: 'qemu', routeCap: Q35_ROUTES, fsb: true });
    assert.equal(capable.r32(TCONF(0)), 0x8030);
    capable.w32(TCONF(0), FSB_EN);
    assert.equal(capable.r32(TCONF(0)) & FSB_EN, FSB_EN);
  });

  void it('R33 Tn_VAL_SET_CNF reads back until the next comparator write, which clears it', () => {
    const h = setup();
    h.w32(TCONF(0), PERIODIC | VAL_SET);
    assert.equal(h.r32(TCONF(0)) & VAL_SET, VAL_SET);
    h.w32(TCMP(0), 100);
    assert.equal(h.r32(TCONF(0)) & VAL_SET, 0);
  });
});

void describe('HPET one-shot comparators', () => {
  void it('R34 comparators reset to all ones of their width', () => {
    const qemu = setup();
    assert.equal(qemu.r64(TCMP(0)), 0xffffffffffffffffn);
    const ich = setup({ preset: 'ich', counterBits: 64 });
    assert.equal(ich.r64(TCMP(0)), 0xffffffffffffffffn);
    assert.equal(ich.r64(TCMP(1)), 0xffffffffn);
  });

  void it('R35 a one-shot timer fires when the counter equals the comparator, once, and the comparator stays', () => {
    const h = setup();
    h.w32(TCONF(0), INT_ENB | route(20));
    h.w64(TCMP(0), 1000n);
    h.enable();
    assert.equal(h.scheduler.nextDeadline(), 10_000, 'one deadline, at the first ns the counter reaches 1000');
    h.runTo(9_999);
    assert.equal(h.ioapic.rises(20), 0);
    h.runTo(10_000);
    assert.equal(h.ioapic.rises(20), 1);
    assert.equal(h.r64(TCMP(0)), 1000n);
    h.runTo(100_000_000);
    assert.equal(h.ioapic.rises(20), 1);
    assert.equal(h.scheduler.nextDeadline(), Infinity);
  });

  void it('R35 deadlines at 14.318 MHz never fire before the counter reaches the comparator', () => {
    const h = setup({ preset: 'ich' });
    h.w32(TCONF(2), INT_ENB | route(20));
    h.enable();
    for (const ticks of [1, 7, 1000, 123_457]) {
      const start = h.r32(CNT);
      h.w32(TCMP(2), start + ticks);
      const deadline = h.scheduler.nextDeadline();
      h.runTo(deadline - 1);
      assert.ok(h.r32(CNT) < start + ticks);
      const before = h.ioapic.rises(20);
      h.runTo(deadline);
      assert.equal(h.r32(CNT), start + ticks);
      assert.equal(h.ioapic.rises(20), before + 1);
    }
  });

  void it('R36 a comparator already behind the counter fires only when the counter comes round again', () => {
    const h = setup({ preset: 'ich' });
    h.w32(TCONF(2), INT_ENB | route(20));
    h.enable();
    h.runTo(h.nsForTicks(1000));
    h.w32(TCMP(2), 500);
    h.runTo(h.nsForTicks(2000));
    assert.equal(h.ioapic.rises(20), 0);
    const timer2 = h.scheduler.list().find((t) => t.name === 'hpet.T2');
    assert.equal(timer2?.deadline, Number((BigInt(2 ** 32 + 500) * 69_841_279n + 999_999n) / 1_000_000n));
  });

  void it('R37 a 32-bit one-shot timer fires again every 2^32 ticks', () => {
    const h = setup();
    h.w32(TCONF(1), INT_ENB | MODE32 | route(16));
    h.w32(TCMP(1), 100);
    h.enable();
    h.runTo(1000);
    assert.equal(h.ioapic.rises(16), 1);
    const again = (2 ** 32 + 100) * 10;
    assert.equal(h.scheduler.nextDeadline(), again);
    h.runTo(again);
    assert.equal(h.ioapic.rises(16), 2);
  });

  void it('R38 with a 32-bit counter a comparator past the wrap fires after the counter wraps', () => {
    const h = setup({ preset: 'ich' });
    h.w32(TCONF(3), INT_ENB | route(12));
    h.w32(TCMP(3), 0x10);
    h.w32(CNT, 0xfffffff0);
    h.enable();
    h.runTo(h.nsForTicks(0x1f));
    assert.equal(h.ioapic.rises(12), 0);
    assert.equal(h.r32(CNT), 0xf);
    h.runTo(h.nsForTicks(0x20));
    assert.equal(h.ioapic.rises(12), 1);
    assert.equal(h.pic.rises(12), 1, 'inputs below 16 also reach the 8259');
  });
});

void describe('HPET periodic comparators', () => {
  void it('R39 a periodic timer fires at every period and Tn_COMPARATOR reads the next expiry', () => {
    const h = setup();
    h.w32(TCONF(0), PERIODIC | VAL_SET | INT_ENB | route(20));
    h.w64(TCMP(0), 0x123n);
    h.enable();
    for (const expiry of [0x123, 0x246, 0x369]) {
      h.runTo(expiry * 10 - 1);
      assert.equal(h.r64(TCMP(0)), BigInt(expiry));
      h.runTo(expiry * 10);
      assert.equal(h.r64(TCMP(0)), BigInt(expiry + 0x123));
    }
    assert.equal(h.ioapic.rises(20), 3);
  });

  void it('R40 a VAL_SET write sets accumulator and period; a plain write sets only the period', () => {
    const h = setup();
    h.w32(TCONF(0), PERIODIC | VAL_SET | INT_ENB | route(20));
    h.w64(TCMP(0), 1000n);
    h.w64(TCMP(0), 100n);
    assert.equal(h.r64(TCMP(0)), 1000n);
    h.enable();
    h.runTo(10_000);
    assert.equal(h.r64(TCMP(0)), 1100n);
    h.runTo(11_000);
    assert.equal(h.r64(TCMP(0)), 1200n);
    assert.equal(h.ioapic.rises(20), 2);
    h.w32(TCONF(1), PERIODIC | VAL_SET | INT_ENB | route(21));
    h.w64(TCMP(1), 2000n);
    h.runTo(20_000);
    assert.equal(h.r64(TCMP(1)), 4000n, 'a single VAL_SET write also set the period');
  });

  void it('R41 the accumulator of a 32-bit periodic timer wraps at 2^32', () => {
    const h = setup({ preset: 'ich' });
    h.w32(TCONF(0), PERIODIC | VAL_SET | INT_ENB | route(20));
    h.w32(TCMP(0), 0xffff0000);
    h.w32(TCMP(0), 0x00020000);
    h.w32(CNT, 0xfffe0000);
    h.enable();
    h.runTo(h.nsForTicks(0x10000));
    assert.equal(h.r32(TCMP(0)), 0x00010000);
    h.runTo(h.nsForTicks(0x30000));
    assert.equal(h.r32(TCMP(0)), 0x00030000);
    assert.equal(h.ioapic.rises(20), 2);
  });

  void it('R42 matches missed because the scheduler ran late are delivered as one event', () => {
    const h = setup();
    h.w32(TCONF(0), PERIODIC | VAL_SET | INT_ENB | route(20));
    h.w64(TCMP(0), 100n);
    h.enable();
    h.runTo(5_500);
    assert.equal(h.ioapic.rises(20), 1);
    assert.equal(h.r64(TCMP(0)), 600n);
    assert.equal(h.scheduler.nextDeadline(), 6_000);
  });

  void it('R43 with INT_ENB = 0 a periodic timer keeps advancing without delivering', () => {
    const h = setup();
    h.w32(TCONF(0), PERIODIC | VAL_SET | route(20));
    h.w64(TCMP(0), 100n);
    h.enable();
    h.runTo(1000);
    h.runTo(2000);
    assert.equal(h.r64(TCMP(0)), 300n);
    assert.equal(h.hpet.stats.matches[0], 2);
    assert.deepEqual(h.ioapic.transitions, []);
  });
});

void describe('HPET delivery', () => {
  void it('R44 an edge timer pulses its I/O APIC input once per event; inputs from 16 up do not reach the 8259', () => {
    const h = setup();
    h.w32(TCONF(2), INT_ENB | PERIODIC | VAL_SET | route(19));
    h.w64(TCMP(2), 50n);
    h.enable();
    h.runTo(500);
    h.runTo(1000);
    assert.deepEqual(h.ioapic.transitions, ['19+', '19-', '19+', '19-']);
    assert.deepEqual(h.pic.transitions, []);
  });

  void it('R45 FSB delivery writes Tn_FSB_INT_VAL to Tn_FSB_INT_ADDR once per event instead of a pin', () => {
    const h = setup({ preset: 'qemu', routeCap: Q35_ROUTES, fsb: true });
    h.w32(TFSB(2), 0x4041);
    h.w32(TFSB(2) + 4, 0xfee01000);
    h.w32(TCONF(2), INT_ENB | FSB_EN | PERIODIC | VAL_SET | route(20));
    h.w64(TCMP(2), 10n);
    h.enable();
    h.runTo(100);
    h.runTo(200);
    assert.deepEqual(h.msi.writes, [
      [0xfee01000, 0x4041],
      [0xfee01000, 0x4041],
    ]);
    assert.deepEqual(h.ioapic.transitions, []);
    assert.deepEqual(h.pic.transitions, []);
  });

  void it('R46 nothing is delivered while ENABLE_CNF = 0 or INT_ENB = 0, however often the comparator is written', () => {
    const h = setup();
    h.w32(TCONF(1), route(16));
    h.w32(TCONF(2), INT_ENB | route(17));
    h.w64(TCMP(2), 5n);
    h.runTo(1000);
    assert.deepEqual(h.ioapic.transitions, [], 'halted: timer 2 does not fire');
    h.enable();
    for (let i = 0; i < 100; i++) {
      const now = h.r64(CNT);
      h.w64(TCMP(1), now + 2n);
      h.runTo(h.clock.ns + 30);
    }
    assert.equal(h.hpet.stats.matches[1], 100);
    assert.deepEqual(h.ioapic.transitions, ['17+', '17-'], 'only timer 2, once enabled');
    assert.deepEqual(h.pic.transitions, []);
  });

  void it('R46 two level timers sharing an input hold it until both are cleared', () => {
    const h = setup();
    h.w32(TCONF(1), LEVEL | INT_ENB | route(20));
    h.w32(TCONF(2), LEVEL | INT_ENB | route(20));
    h.w64(TCMP(1), 5n);
    h.w64(TCMP(2), 6n);
    h.enable();
    h.runTo(100);
    assert.deepEqual(h.ioapic.transitions, ['20+']);
    h.w32(STA, 2);
    assert.equal(h.ioapic.level(20), true);
    h.w32(STA, 4);
    assert.equal(h.ioapic.level(20), false);
  });
});

void describe('HPET reset, inspection and state', () => {
  void it('R47 reset returns to the power-on state, lowers held lines and leaves legacy mode', () => {
    const h = setup();
    h.w32(TCONF(0), LEVEL | INT_ENB | route(20));
    h.w64(TCMP(0), 5n);
    h.w64(TFSB(0), 0x1234n);
    h.enable(LEGACY);
    h.runTo(100);
    assert.equal(h.ioapic.level(2), true);
    h.hpet.reset();
    assert.equal(h.ioapic.level(2), false);
    assert.equal(h.pic.level(0), false);
    assert.deepEqual(h.legacyChanges, [true, false]);
    for (const [offset, value] of [
      [CONF, 0n],
      [STA, 0n],
      [CNT, 0n],
      [TCONF(0), (0x00ff0104n << 32n) | 0x30n],
      [TCMP(0), 0xffffffffffffffffn],
      [TFSB(0), 0n],
    ] as const) {
      assert.equal(h.r64(offset), value, `offset 0x${offset.toString(16)}`);
    }
    assert.equal(h.scheduler.nextDeadline(), Infinity);
  });

  void it('R48 peeking registers has no side effects, even when a match is due', () => {
    const h = setup();
    h.w32(TCONF(0), LEVEL | INT_ENB | PERIODIC | VAL_SET | route(20));
    h.w64(TCMP(0), 10n);
    h.enable();
    h.clock.ns = 150;
    const before = h.ioapic.transitions.length;
    for (const r of h.hpet.description.registers) h.hpet.peekRegister(r);
    for (let offset = 0; offset < 0x400; offset += 4) h.hpet.peek(offset, 4);
    assert.equal(h.ioapic.transitions.length, before);
    assert.equal(h.hpet.peekRegister(h.register('GINTR_STA')), 0n);
    assert.equal(h.hpet.peekRegister(h.register('T0_COMPARATOR')), 10n);
    assert.equal(h.hpet.peekRegister(h.register('MAIN_CNT')), 15n, 'the counter is live');
    assert.equal(h.r64(STA), 1n, 'a guest read catches up with the due match');
    assert.equal(h.hpet.peekRegister(h.register('T0_COMPARATOR')), 20n);
  });

  void it('R49 a debugger poke sets state directly; a guest poke goes through the guest write path', () => {
    const h = setup();
    h.w32(TCONF(0), PERIODIC | VAL_SET | INT_ENB | route(20));
    h.w64(TCMP(0), 100n);
    h.enable();
    h.runTo(500);
    h.hpet.pokeRegister(h.register('MAIN_CNT'), 0x1000n, 'guest');
    assert.equal(h.r64(CNT), 50n, 'a guest write while running is dropped');
    h.hpet.pokeRegister(h.register('MAIN_CNT'), 0x1000n, 'debugger');
    assert.equal(h.r64(CNT), 0x1000n, 'the debugger sets the counter while it runs');
    h.hpet.pokeRegister(h.register('T0_COMPARATOR'), 0x1010n, 'debugger');
    assert.equal(h.r64(TCMP(0)), 0x1010n);
    h.runTo(h.clock.ns + 159);
    assert.equal(h.ioapic.rises(20), 0);
    h.runTo(h.clock.ns + 1);
    assert.equal(h.ioapic.rises(20), 1);
    assert.equal(h.r64(TCMP(0)), 0x1010n + 100n, 'the period was not touched by the debugger');
    h.hpet.pokeRegister(h.register('T0_CONF_CAP'), BigInt(LEVEL | INT_ENB | route(5)), 'debugger');
    assert.equal(h.r32(TCONF(0)), 0x30 | LEVEL | INT_ENB | route(5), 'no route validation for the debugger');
    h.hpet.pokeRegister(h.register('GINTR_STA'), 1n, 'debugger');
    assert.equal(h.ioapic.level(5), true);
    assert.equal(h.pic.level(5), true);
    assert.throws(() => h.hpet.pokeRegister(h.register('GCAP_ID'), 0n, 'debugger'), /GCAP_ID/);
  });

  void it('R50 save and restore carry the whole state, and the restored device keeps counting and matching', () => {
    const a = setup();
    a.w32(TCONF(0), PERIODIC | VAL_SET | INT_ENB | LEVEL | route(20));
    a.w64(TCMP(0), 100n);
    a.w64(TFSB(1), 0xfee00000_00000041n);
    a.enable(LEGACY);
    a.runTo(1_500);
    const snapshot = a.hpet.save();
    const copy = JSON.parse(JSON.stringify(snapshot));
    const b = setup();
    b.clock.ns = 77_000;
    b.hpet.restore(copy);
    for (const offset of [CONF, STA, CNT, TCONF(0), TCMP(0), TFSB(1)]) assert.equal(b.r64(offset), a.r64(offset));
    assert.equal(b.hpet.legacyReplacementActive, true);
    assert.equal(b.ioapic.level(2), true, 'a pending level status is driven again');
    b.w32(STA, 1);
    b.runTo(77_000 + 500);
    assert.equal(b.r64(STA), 1n);
    assert.equal(b.r64(TCMP(0)), 300n);
  });
});

void describe('HPET as Linux drives it', () => {
  void it('R52 the hpet_enable sequence with 32-bit accesses gives a 1000 Hz periodic tick on IRQ0 and input 2', () => {
    const h = setup({ preset: 'ich' });
    assert.notEqual(h.r32(CONF), 0xffffffff);
    const periodFs = h.r32(GCAP + 4);
    assert.equal(periodFs, 69_841_279);
    const channels = ((h.r32(GCAP) >> 8) & 0x1f) + 1;
    assert.equal(channels, 4);
    h.w32(CONF, h.r32(CONF) & ~3);
    const knownBits = PERIODIC | (1 << 4) | (1 << 5) | MODE32 | (0x1f << 9) | FSB_EN | (1 << 15);
    for (let n = 0; n < channels; n++) {
      const cfg = h.r32(TCONF(n)) & ~(INT_ENB | LEVEL | FSB_EN);
      h.w32(TCONF(n), cfg);
      assert.equal(h.r32(TCONF(n)) & ~knownBits, 0, `channel ${n} has no unknown bits`);
    }
    h.w32(CONF, h.r32(CONF) & ~1);
    h.w32(CNT, 0);
    h.w32(CNT + 4, 0);
    h.w32(CONF, h.r32(CONF) | 1);
    const start = h.r32(CNT);
    h.clock.ns += 1000;
    assert.notEqual(h.r32(CNT), start, 'the counter counts');
    h.w32(CONF, h.r32(CONF) | 2);
    assert.deepEqual(h.legacyChanges, [true]);

    const hz = Math.floor(1e15 / periodFs);
    const delta = Math.floor(hz / 1000);
    h.w32(CONF, h.r32(CONF) & ~1);
    const now = h.r32(CNT);
    h.w32(TCONF(0), h.r32(TCONF(0)) | INT_ENB | PERIODIC | VAL_SET | MODE32);
    h.w32(TCMP(0), now + delta);
    h.w32(TCMP(0), delta);
    h.w32(CONF, h.r32(CONF) | 1);
    const enabledAt = h.clock.ns;
    for (let ms = 1; ms <= 10; ms++) h.runTo(enabledAt + ms * 1_000_000 + 1000);
    assert.equal(h.ioapic.rises(2), 10);
    assert.equal(h.pic.rises(0), 10);
    assert.equal(h.r32(TCMP(0)), now + 11 * delta);
  });
});
