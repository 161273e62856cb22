/**
 * HPET register layout (IA-PC HPET 1.0a, section 2.3) and its description as data, built from a configuration
 * so the hook language and the language server can use it without a running machine.
 */
import type { DeviceDescription, EnumValue, FieldDescription, RegisterDescription } from '../../regs/describe';
import type { HpetConfig, HpetTimerCapabilities } from './config';
import { describeFrequency } from './config';

export const HPET_BASE = 0xfed00000;
/** The spec's 1 KiB register window. */
export const HPET_WINDOW_SIZE = 0x400;

export const GCAP_ID = 0x000;
export const GEN_CONF = 0x010;
export const GINTR_STA = 0x020;
export const MAIN_CNT = 0x0f0;
export const TIMER_BLOCK = 0x100;
export const TIMER_STRIDE = 0x20;
export const TIMER_CONF_CAP = 0x00;
export const TIMER_COMPARATOR = 0x08;
export const TIMER_FSB_ROUTE = 0x10;

/** GEN_CONF bits. */
export const ENABLE_CNF = 1n << 0n;
export const LEG_RT_CNF = 1n << 1n;

/** Tn_CONF_CAP bits. */
export const INT_TYPE_CNF = 1 << 1;
export const INT_ENB_CNF = 1 << 2;
export const TYPE_CNF = 1 << 3;
export const PER_INT_CAP = 1 << 4;
export const SIZE_CAP = 1 << 5;
export const VAL_SET_CNF = 1 << 6;
export const MODE32_CNF = 1 << 8;
export const INT_ROUTE_SHIFT = 9;
export const INT_ROUTE_MASK = 0x1f << INT_ROUTE_SHIFT;
export const FSB_EN_CNF = 1 << 14;
export const FSB_INT_DEL_CAP = 1 << 15;

/**
 * Size of the decoded region: the 1 KiB window, or more when timers 24..31 exist (they lie past 0x3FF, which
 * the spec's window cannot reach; this model extends the region instead of hiding them).
 */
export function hpetRegionSize(config: HpetConfig): number {
  return Math.max(HPET_WINDOW_SIZE, TIMER_BLOCK + TIMER_STRIDE * config.timers.length);
}

export function timerOffset(timer: number): number {
  return TIMER_BLOCK + TIMER_STRIDE * timer;
}

/** GCAP_ID as the configuration defines it (section 2.3.4). */
export function capabilitiesValue(config: HpetConfig): bigint {
  const low =
    config.revision |
    ((config.timers.length - 1) << 8) |
    (config.counterBits === 64 ? 1 << 13 : 0) |
    (config.legacyCapable ? 1 << 15 : 0) |
    (config.vendorId << 16);
  return (BigInt(config.periodFs) << 32n) | BigInt(low >>> 0);
}

/** Read-only capability bits of Tn_CONF_CAP (section 2.3.8). */
export function timerCapabilitiesValue(caps: HpetTimerCapabilities): bigint {
  const low = (caps.periodic ? PER_INT_CAP : 0) | (caps.comparator64 ? SIZE_CAP : 0) | (caps.fsb ? FSB_INT_DEL_CAP : 0);
  return (BigInt(caps.routeCap >>> 0) << 32n) | BigInt(low);
}

const VENDORS: readonly EnumValue[] = [
  { value: 0x8086, name: 'Intel' },
  { value: 0x1022, name: 'AMD' },
  { value: 0x1002, name: 'ATI' },
  { value: 0x10de, name: 'NVIDIA' },
];

function inputList(mask: bigint): string {
  const inputs: number[] = [];
  for (let k = 0; k < 32; k++) if ((mask >> BigInt(k)) & 1n) inputs.push(k);
  if (inputs.length === 0) return 'no I/O APIC input';
  const ranges: string[] = [];
  for (let i = 0; i < inputs.length;) {
    let j = i;
    while (j + 1 < inputs.length && inputs[j + 1] === inputs[j] + 1) j++;
    ranges.push(j - i >= 2 ? `${inputs[i]}-${inputs[j]}` : inputs.slice(i, j + 1).join(', '));
    i = j + 1;
  }
  return `inputs ${ranges.join(', ')}`;
}

function field(
  name: string,
  msb: number,
  lsb: number,
  access: FieldDescription['access'],
  doc: string,
  extra: Partial<FieldDescription> = {},
): FieldDescription {
  return { name, msb, lsb, access, doc, ...extra };
}

function reserved(msb: number, lsb: number): FieldDescription {
  return field(`RSVD_${msb}_${lsb}`, msb, lsb, 'RSVD', 'Reserved: reads 0, writes ignored.');
}

function describeTimer(config: HpetConfig, n: number): RegisterDescription[] {
  const caps = config.timers[n];
  const base = timerOffset(n);
  const t = `T${n}`;
  const wide = caps.comparator64;
  const confFields: FieldDescription[] = [
    reserved(0, 0),
    field(`${t}_INT_TYPE_CNF`, 1, 1, 'RW', 'Interrupt type.', {
      enum: [
        { value: 0, name: 'edge', doc: 'one edge per event; status bit not used' },
        { value: 1, name: 'level', doc: 'line held until the GINTR_STA bit is cleared' },
      ],
    }),
    field(`${t}_INT_ENB_CNF`, 2, 2, 'RW', 'Interrupt enable; when 0 the timer still matches and sets level status.', {
      format: 'bool',
    }),
    field(`${t}_TYPE_CNF`, 3, 3, caps.periodic ? 'RW' : 'RO', 'Timer mode (read-only 0 without Tn_PER_INT_CAP).', {
      enum: [
        { value: 0, name: 'one-shot' },
        { value: 1, name: 'periodic' },
      ],
    }),
    field(`${t}_PER_INT_CAP`, 4, 4, 'RO', 'Periodic mode supported.', { format: 'bool' }),
    field(`${t}_SIZE_CAP`, 5, 5, 'RO', 'Comparator width.', {
      enum: [
        { value: 0, name: '32-bit' },
        { value: 1, name: '64-bit' },
      ],
    }),
    field(`${t}_VAL_SET_CNF`, 6, 6, 'RW', 'Periodic: the next comparator write sets the accumulator; clears itself.', {
      format: 'bool',
    }),
    reserved(7, 7),
    field(
      `${t}_32MODE_CNF`,
      8,
      8,
      wide ? 'RW' : 'RO',
      'Force a 64-bit timer to 32-bit mode (read-only 0 on 32-bit timers).',
      {
        format: 'bool',
      },
    ),
    field(
      `${t}_INT_ROUTE_CNF`,
      13,
      9,
      'RW',
      'I/O APIC input for the interrupt; only inputs in Tn_INT_ROUTE_CAP are accepted.',
      {
        format: 'dec',
        explain: (v) => `I/O APIC input ${v}${v < 16n ? `, 8259 IRQ ${v}` : ''}`,
      },
    ),
    field(
      `${t}_FSB_EN_CNF`,
      14,
      14,
      caps.fsb ? 'RW' : 'RO',
      'Deliver by FSB message (Tn_FSB_ROUTE) instead of a pin.',
      {
        format: 'bool',
      },
    ),
    field(`${t}_FSB_INT_DEL_CAP`, 15, 15, 'RO', 'FSB delivery supported.', { format: 'bool' }),
    reserved(31, 16),
    field(`${t}_INT_ROUTE_CAP`, 63, 32, 'RO', 'Bit k set: I/O APIC input k is a legal Tn_INT_ROUTE_CNF.', {
      format: 'hex',
      explain: inputList,
    }),
  ];
  const comparatorFields: FieldDescription[] = wide
    ? [field(`${t}_COMPARATOR`, 63, 0, 'RW', 'Match value (periodic: the next expiry).', { format: 'hex' })]
    : [
        field(`${t}_COMPARATOR`, 31, 0, 'RW', 'Match value (periodic: the next expiry).', { format: 'hex' }),
        reserved(63, 32),
      ];
  return [
    {
      name: `${t}_CONF_CAP`,
      offset: base + TIMER_CONF_CAP,
      width: 64,
      access: 'RW',
      doc: `Timer ${n} configuration and capabilities.`,
      fields: confFields,
      reset: timerCapabilitiesValue(caps),
    },
    {
      name: `${t}_COMPARATOR`,
      offset: base + TIMER_COMPARATOR,
      width: 64,
      access: 'RW',
      doc: `Timer ${n} comparator value (${wide ? '64' : '32'}-bit).`,
      fields: comparatorFields,
      reset: wide ? 0xffffffffffffffffn : 0xffffffffn,
    },
    {
      name: `${t}_FSB_ROUTE`,
      offset: base + TIMER_FSB_ROUTE,
      width: 64,
      access: 'RW',
      doc: `Timer ${n} FSB interrupt route: one 32-bit write of the value to the address per event.`,
      fields: [
        field(`${t}_FSB_INT_VAL`, 31, 0, 'RW', 'Data written by the FSB interrupt (MSI data).', { format: 'hex' }),
        field(`${t}_FSB_INT_ADDR`, 63, 32, 'RW', 'Address of the FSB interrupt write (MSI address).', {
          format: 'hex',
        }),
      ],
      reset: 0n,
    },
  ];
}

/** The HPET's registers and fields for a configuration; the device's short name is `hpet`. */
export function describeHpet(config: HpetConfig, base = HPET_BASE): DeviceDescription {
  const timerCount = config.timers.length;
  const statusFields: FieldDescription[] = [];
  for (let n = 0; n < timerCount; n++) {
    statusFields.push(
      field(`T${n}_INT_STS`, n, n, 'W1C', `Timer ${n} level interrupt active; write 1 to clear (edge mode: reads 0).`, {
        format: 'bool',
      }),
    );
  }
  if (timerCount < 64) statusFields.push(reserved(63, timerCount));
  const registers: RegisterDescription[] = [
    {
      name: 'GCAP_ID',
      offset: GCAP_ID,
      width: 64,
      access: 'RO',
      doc: 'General capabilities and ID.',
      reset: capabilitiesValue(config),
      fields: [
        field('REV_ID', 7, 0, 'RO', 'Revision of the HPET function (non-zero).', { format: 'dec' }),
        field('NUM_TIM_CAP', 12, 8, 'RO', 'Index of the last timer (number of timers minus one).', {
          format: 'dec',
          explain: (v) => `${v + 1n} timers`,
        }),
        field('COUNT_SIZE_CAP', 13, 13, 'RO', 'Main counter width.', {
          enum: [
            { value: 0, name: '32-bit' },
            { value: 1, name: '64-bit' },
          ],
        }),
        reserved(14, 14),
        field('LEG_RT_CAP', 15, 15, 'RO', 'LegacyReplacement route supported.', { format: 'bool' }),
        field('VENDOR_ID', 31, 16, 'RO', 'PCI vendor ID of the HPET vendor.', { format: 'hex', enum: VENDORS }),
        field('COUNTER_CLK_PERIOD', 63, 32, 'RO', 'Main counter tick period in femtoseconds.', {
          format: 'dec',
          explain: (v) => (v === 0n ? 'invalid' : describeFrequency(Number(v))),
        }),
      ],
    },
    {
      name: 'GEN_CONF',
      offset: GEN_CONF,
      width: 64,
      access: 'RW',
      doc: 'General configuration.',
      reset: 0n,
      fields: [
        field('ENABLE_CNF', 0, 0, 'RW', 'Main counter runs and timers may interrupt.', {
          enum: [
            { value: 0, name: 'halted', doc: 'counter halted, no interrupts' },
            { value: 1, name: 'running' },
          ],
        }),
        field(
          'LEG_RT_CNF',
          1,
          1,
          config.legacyCapable ? 'RW' : 'RO',
          'LegacyReplacement route: timer 0 → IRQ0/input 2, timer 1 → IRQ8/input 8.',
          {
            format: 'bool',
          },
        ),
        reserved(63, 2),
      ],
    },
    {
      name: 'GINTR_STA',
      offset: GINTR_STA,
      width: 64,
      access: 'W1C',
      doc: 'General interrupt status: one bit per level-triggered timer.',
      reset: 0n,
      fields: statusFields,
    },
    {
      name: 'MAIN_CNT',
      offset: MAIN_CNT,
      width: 64,
      access: 'RW',
      doc: `Main counter value (${config.counterBits}-bit); write only while halted.`,
      reset: 0n,
      fields:
        config.counterBits === 64
          ? [field('MAIN_CNT', 63, 0, 'RW', 'Counter value.', { format: 'hex' })]
          : [field('MAIN_CNT', 31, 0, 'RW', 'Counter value.', { format: 'hex' }), reserved(63, 32)],
    },
  ];
  for (let n = 0; n < timerCount; n++) registers.push(...describeTimer(config, n));
  return {
    name: 'hpet',
    title: 'High Precision Event Timer',
    space: 'mmio',
    base,
    size: hpetRegionSize(config),
    registers,
    doc: 'IA-PC HPET 1.0a timer block: a main counter and comparators with legacy, I/O APIC and FSB delivery.',
  };
}
