import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  HpetConfigError,
  hpetPreset,
  makeHpetConfig,
  parseHpetOption,
  parseHpetSpec,
  summarizeHpetConfig,
} from '../../adapter/core/devices/hpet/config';
import { capabilitiesValue, describeHpet, timerCapabilitiesValue } from '../../adapter/core/devices/hpet/registers';
import { decodeFields, explainField, findField, findRegister } from '../../adapter/core/regs/describe';

void describe('HPET presets', () => {
  void it('R9 the ich preset: Intel, revision 1, 4 timers, 32-bit 14.318180 MHz counter, legacy capable', () => {
    const ich = hpetPreset('ich');
    assert.equal(capabilitiesValue(ich), (69_841_279n << 32n) | 0x80868301n);
    assert.equal(summarizeHpetConfig(ich), '4 comparators, 32-bit 14.318180 MHz counter');
    assert.deepEqual(makeHpetConfig(), ich, 'ich is the default');
  });

  void it('R9 the qemu preset: GCAP_ID low 0x8086a201, 3 timers, 64-bit 100 MHz counter', () => {
    const qemu = hpetPreset('qemu');
    assert.equal(capabilitiesValue(qemu), (10_000_000n << 32n) | 0x8086a201n);
    assert.equal(summarizeHpetConfig(qemu), '3 comparators, 64-bit 100.000000 MHz counter');
  });

  void it('R10 per-timer capabilities: qemu reports 0x30 with q35 routes; ich has one periodic timer and PCH routes', () => {
    assert.deepEqual(
      hpetPreset('qemu').timers.map((t) => timerCapabilitiesValue(t)),
      [0, 1, 2].map(() => (0x00000004n << 32n) | 0x30n),
    );
    assert.deepEqual(
      hpetPreset('ich').timers.map((t) => timerCapabilitiesValue(t)),
      [(0x00f00000n << 32n) | 0x10n, 0x00f00000n << 32n, 0x00f00800n << 32n, 0x00f01000n << 32n],
    );
    const wide = makeHpetConfig({ preset: 'ich', counterBits: 64 });
    assert.deepEqual(
      wide.timers.map((t) => t.comparator64),
      [true, false, false, false],
    );
    const msi = makeHpetConfig({ preset: 'qemu', fsb: true, timers: 5 });
    assert.equal(timerCapabilitiesValue(msi.timers[4]) & 0xffffn, 0x8030n);
  });

  void it('R11 custom values are validated with messages that name the option and its range', () => {
    const cases: [Parameters<typeof makeHpetConfig>[0], RegExp][] = [
      [{ timers: 0 }, /timers must be an integer from 1 to 32, got 0/],
      [{ timers: 33 }, /timers must be an integer from 1 to 32/],
      [{ timers: 2.5 }, /timers/],
      [{ counterBits: 48 }, /counter size must be 32 or 64 bits, got 48/],
      [{ periodFs: 0 }, /period must be an integer from 1 to 100000000 fs/],
      [{ periodFs: 100_000_001 }, /period/],
      [{ vendorId: 0x10000 }, /vendor must be an integer from 0 to 65535/],
      [{ revision: 0 }, /revision must be an integer from 1 to 255/],
      [{ routeCap: -1 }, /routes/],
      [{ periodic: 'none' }, /at least one timer must support periodic mode/],
    ];
    for (const [options, message] of cases) assert.throws(() => makeHpetConfig(options), message);
    assert.throws(() => makeHpetConfig({ preset: 'piix' as 'ich' }), /unknown preset 'piix' \(known: ich, qemu\)/);
  });
});

void describe('HPET option parser', () => {
  void it('R11 parses preset names, key=value lists and a preset followed by overrides', () => {
    assert.deepEqual(parseHpetSpec('qemu'), hpetPreset('qemu'));
    const custom = parseHpetSpec(
      'qemu, timers=8, counter=32, period=0x0429B17F, vendor=0x1022, rev=2, legacy=off, routes=0xf00000, fsb=on',
    );
    assert.equal(custom.timers.length, 8);
    assert.equal(custom.counterBits, 32);
    assert.equal(custom.periodFs, 69_841_279);
    assert.equal(custom.vendorId, 0x1022);
    assert.equal(custom.revision, 2);
    assert.equal(custom.legacyCapable, false);
    assert.ok(custom.timers.every((t) => t.routeCap === 0xf00000 && t.fsb && !t.comparator64));
    assert.equal(capabilitiesValue(custom) & 0xffffffffn, 0x10220702n);
    assert.equal(parseHpetSpec('timers=3').preset, 'ich');
  });

  void it('R11 parses launch-configuration objects and strings, and rejects bad input clearly', () => {
    assert.deepEqual(parseHpetOption(undefined), hpetPreset('ich'));
    assert.deepEqual(parseHpetOption('ich'), hpetPreset('ich'));
    const fromObject = parseHpetOption({ preset: 'qemu', timers: 4, periodFs: 41_666_667, legacyCapable: false });
    assert.equal(fromObject.timers.length, 4);
    assert.equal(fromObject.periodFs, 41_666_667);
    assert.equal(fromObject.legacyCapable, false);
    assert.throws(() => parseHpetSpec('timers=4,ich'), /'ich' is not key=value/);
    assert.throws(() => parseHpetSpec('qemu,speed=3'), /unknown option 'speed'/);
    assert.throws(() => parseHpetSpec('timers=four'), /timers expects a number/);
    assert.throws(() => parseHpetSpec('legacy=maybe'), /legacy expects on\/off/);
    assert.throws(() => parseHpetSpec('timers=3,timers=4'), /given twice/);
    assert.throws(() => parseHpetSpec(' , '), /empty specification/);
    assert.throws(() => parseHpetOption(42), HpetConfigError);
    assert.throws(() => parseHpetOption({ timers: true }), /timers expects a number/);
  });
});

void describe('HPET register descriptions', () => {
  void it('R8 describes GCAP_ID fields and explains NUM_TIM_CAP as the timer count', () => {
    const device = describeHpet(hpetPreset('ich'));
    assert.equal(device.name, 'hpet');
    assert.equal(device.base, 0xfed00000);
    assert.equal(device.size, 0x400);
    const gcap = findRegister(device, 'GCAP_ID')!;
    assert.equal(gcap.access, 'RO');
    assert.equal(
      decodeFields(gcap, gcap.reset!),
      'REV_ID=1, NUM_TIM_CAP=3 (4 timers), COUNT_SIZE_CAP=0 (32-bit), LEG_RT_CAP=1, VENDOR_ID=0x8086 (Intel), ' +
        'COUNTER_CLK_PERIOD=69841279 (14.318180 MHz)',
    );
    const numTimers = findField(gcap, 'NUM_TIM_CAP')!;
    assert.equal(explainField(numTimers, 2n), '3 timers');
  });

  void it('R10 describes one set of timer registers per timer, named after the timer, at the spec offsets', () => {
    const device = describeHpet(makeHpetConfig({ preset: 'qemu', timers: 5, routeCap: 0x00ff0104 }));
    const names = device.registers.map((r) => `${r.name}@${r.offset.toString(16)}`);
    assert.deepEqual(names.slice(0, 4), ['GCAP_ID@0', 'GEN_CONF@10', 'GINTR_STA@20', 'MAIN_CNT@f0']);
    assert.deepEqual(names.slice(-3), ['T4_CONF_CAP@180', 'T4_COMPARATOR@188', 'T4_FSB_ROUTE@190']);
    assert.equal(device.registers.length, 4 + 5 * 3);
    const conf = findRegister(device, 'T4_CONF_CAP')!;
    const fieldNames = conf.fields.filter((f) => f.access !== 'RSVD').map((f) => f.name);
    assert.deepEqual(fieldNames, [
      'T4_INT_TYPE_CNF',
      'T4_INT_ENB_CNF',
      'T4_TYPE_CNF',
      'T4_PER_INT_CAP',
      'T4_SIZE_CAP',
      'T4_VAL_SET_CNF',
      'T4_32MODE_CNF',
      'T4_INT_ROUTE_CNF',
      'T4_FSB_EN_CNF',
      'T4_FSB_INT_DEL_CAP',
      'T4_INT_ROUTE_CAP',
    ]);
    assert.equal(
      decodeFields(conf, conf.reset! | 0x2806n),
      'T4_INT_TYPE_CNF=1 (level), T4_INT_ENB_CNF=1, T4_TYPE_CNF=0 (one-shot), T4_PER_INT_CAP=1, T4_SIZE_CAP=1 (64-bit), ' +
        'T4_VAL_SET_CNF=0, T4_32MODE_CNF=0, T4_INT_ROUTE_CNF=20 (I/O APIC input 20), T4_FSB_EN_CNF=0, ' +
        'T4_FSB_INT_DEL_CAP=0, T4_INT_ROUTE_CAP=0xff0104 (inputs 2, 8, 16-23)',
    );
  });

  void it('R28 access types follow the capabilities: gated bits are RO, status bits W1C, reserved bits RSVD', () => {
    const ich = describeHpet(makeHpetConfig({ preset: 'ich', legacyCapable: false }));
    const access = (register: string, field: string) => findField(findRegister(ich, register)!, field)!.access;
    assert.equal(access('T0_CONF_CAP', 'T0_TYPE_CNF'), 'RW');
    assert.equal(access('T1_CONF_CAP', 'T1_TYPE_CNF'), 'RO');
    assert.equal(access('T0_CONF_CAP', 'T0_32MODE_CNF'), 'RO');
    assert.equal(access('T0_CONF_CAP', 'T0_FSB_EN_CNF'), 'RO');
    assert.equal(access('GEN_CONF', 'LEG_RT_CNF'), 'RO');
    assert.equal(access('GINTR_STA', 'T3_INT_STS'), 'W1C');
    assert.equal(access('GINTR_STA', 'RSVD_63_4'), 'RSVD');
    assert.equal(access('MAIN_CNT', 'RSVD_63_32'), 'RSVD');
    assert.equal(findRegister(ich, 'T2_COMPARATOR')!.reset, 0xffffffffn);
    for (const register of ich.registers) {
      assert.ok(register.doc.length > 0);
      for (const field of register.fields) assert.ok(field.doc.length > 0, `${register.name}.${field.name}`);
      const covered = register.fields.reduce((bits, f) => bits + (f.msb - f.lsb + 1), 0);
      assert.equal(covered, 64, `${register.name} fields cover all 64 bits`);
    }
  });

  void it('R6 timers past the 1 KiB window extend the region (0x100 + 0x20 per timer)', () => {
    assert.equal(describeHpet(makeHpetConfig({ timers: 24 })).size, 0x400);
    assert.equal(describeHpet(makeHpetConfig({ timers: 32 })).size, 0x500);
  });
});
