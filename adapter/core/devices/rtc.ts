import type { PortSpace } from '../bus/ports';
import type { DeviceDescription, FieldDescription, InspectableDevice, RegisterDescription } from '../regs/describe';
import type { Scheduler, Timer } from '../time/scheduler';
import type { IrqLine } from './interrupts';

const NS_PER_SECOND = 1e9;
/** The time base: a 32.768 kHz crystal (MC146818A datasheet, divider select DV = 010). */
const CRYSTAL_HZ = 32768;
/** UIP is set this long before each update cycle (MC146818A: 244 µs). */
const UIP_LEAD_NS = 244_000;
/** After the divider leaves reset, the first update comes half a second later. */
const FIRST_UPDATE_DELAY_NS = 500e6;

const REG_SECONDS = 0x00;
const REG_SECONDS_ALARM = 0x01;
const REG_MINUTES = 0x02;
const REG_MINUTES_ALARM = 0x03;
const REG_HOURS = 0x04;
const REG_HOURS_ALARM = 0x05;
const REG_DAY_OF_WEEK = 0x06;
const REG_DAY_OF_MONTH = 0x07;
const REG_MONTH = 0x08;
const REG_YEAR = 0x09;
const REG_A = 0x0a;
const REG_B = 0x0b;
const REG_C = 0x0c;
const REG_D = 0x0d;
const REG_CENTURY = 0x32;

const A_UIP = 0x80;
const B_SET = 0x80;
const B_PIE = 0x40;
const B_AIE = 0x20;
const B_UIE = 0x10;
const B_BINARY = 0x04;
const B_24H = 0x02;
const C_IRQF = 0x80;
const C_PF = 0x40;
const C_AF = 0x20;
const C_UF = 0x10;
const D_VRT = 0x80;

const TIME_REGISTERS = new Set([
  REG_SECONDS,
  REG_MINUTES,
  REG_HOURS,
  REG_DAY_OF_WEEK,
  REG_DAY_OF_MONTH,
  REG_MONTH,
  REG_YEAR,
  REG_CENTURY,
]);

/** 32.768 kHz ticks since time 0 at `ns`, exact below 2^53 ns. */
function crystalTicksAt(ns: number): number {
  const seconds = Math.floor(ns / NS_PER_SECOND);
  return seconds * CRYSTAL_HZ + Math.floor(((ns - seconds * NS_PER_SECOND) * CRYSTAL_HZ) / NS_PER_SECOND);
}

function crystalTickTime(tick: number): number {
  const seconds = Math.floor(tick / CRYSTAL_HZ);
  return seconds * NS_PER_SECOND + Math.ceil(((tick - seconds * CRYSTAL_HZ) * NS_PER_SECOND) / CRYSTAL_HZ);
}

/** Periodic interrupt period in crystal ticks for rate select RS (MC146818A table 5), 0 when off. */
export function periodicTicks(rateSelect: number): number {
  if (rateSelect === 0) return 0;
  return rateSelect <= 2 ? 1 << (rateSelect + 6) : 1 << (rateSelect - 1);
}

export interface RtcOptions {
  /** Guest RAM size in bytes, for the memory-size bytes. */
  readonly ramBytes: number;
  /** Wall-clock time at virtual time 0, in ms since the Unix epoch (UTC). Default 2000-01-01 00:00:00. */
  readonly startTime?: number;
}

const DEFAULT_START_TIME = Date.UTC(2000, 0, 1, 0, 0, 0);

interface RegisterSpec {
  readonly name: string;
  readonly index: number;
  readonly doc: string;
  readonly access?: FieldDescription['access'];
  readonly fields?: readonly FieldDescription[];
}

const valueField = (doc: string, access: FieldDescription['access'] = 'RW'): FieldDescription[] => [
  { name: 'VALUE', lsb: 0, msb: 7, access, doc, format: 'hex' },
];

const CMOS_REGISTERS: RegisterSpec[] = [
  { name: 'SECONDS', index: REG_SECONDS, doc: 'Seconds (BCD or binary per register B)' },
  { name: 'SECONDS_ALARM', index: REG_SECONDS_ALARM, doc: 'Seconds alarm (0xC0-0xFF: any)' },
  { name: 'MINUTES', index: REG_MINUTES, doc: 'Minutes' },
  { name: 'MINUTES_ALARM', index: REG_MINUTES_ALARM, doc: 'Minutes alarm (0xC0-0xFF: any)' },
  { name: 'HOURS', index: REG_HOURS, doc: 'Hours; in 12-hour mode bit 7 means PM' },
  { name: 'HOURS_ALARM', index: REG_HOURS_ALARM, doc: 'Hours alarm (0xC0-0xFF: any)' },
  { name: 'DAY_OF_WEEK', index: REG_DAY_OF_WEEK, doc: 'Day of week, 1 = Sunday' },
  { name: 'DAY_OF_MONTH', index: REG_DAY_OF_MONTH, doc: 'Day of month' },
  { name: 'MONTH', index: REG_MONTH, doc: 'Month' },
  { name: 'YEAR', index: REG_YEAR, doc: 'Year within the century' },
  {
    name: 'REG_A',
    index: REG_A,
    doc: 'Register A: update in progress, divider, periodic rate',
    fields: [
      {
        name: 'RS',
        lsb: 0,
        msb: 3,
        access: 'RW',
        doc: 'Periodic interrupt rate select',
        explain: (v) => {
          const ticks = periodicTicks(Number(v));
          return ticks === 0 ? 'off' : `${CRYSTAL_HZ / ticks} Hz`;
        },
      },
      {
        name: 'DV',
        lsb: 4,
        msb: 6,
        access: 'RW',
        doc: 'Divider select',
        enum: [
          { value: 2, name: '32.768 kHz time base' },
          { value: 6, name: 'divider reset' },
          { value: 7, name: 'divider reset' },
        ],
      },
      { name: 'UIP', lsb: 7, msb: 7, access: 'RO', doc: 'Update in progress (set 244 µs before each update)' },
    ],
  },
  {
    name: 'REG_B',
    index: REG_B,
    doc: 'Register B: update inhibit, interrupt enables, data mode',
    fields: [
      { name: 'DSE', lsb: 0, msb: 0, access: 'RW', doc: 'Daylight saving enable (not acted on)' },
      { name: 'HOUR_24', lsb: 1, msb: 1, access: 'RW', doc: '24-hour mode' },
      { name: 'DM', lsb: 2, msb: 2, access: 'RW', doc: 'Data mode: 1 = binary, 0 = BCD' },
      { name: 'SQWE', lsb: 3, msb: 3, access: 'RW', doc: 'Square-wave output enable' },
      { name: 'UIE', lsb: 4, msb: 4, access: 'RW', doc: 'Update-ended interrupt enable' },
      { name: 'AIE', lsb: 5, msb: 5, access: 'RW', doc: 'Alarm interrupt enable' },
      { name: 'PIE', lsb: 6, msb: 6, access: 'RW', doc: 'Periodic interrupt enable' },
      { name: 'SET', lsb: 7, msb: 7, access: 'RW', doc: 'Halt updates so software can set the time' },
    ],
  },
  {
    name: 'REG_C',
    index: REG_C,
    access: 'RC',
    doc: 'Register C: interrupt flags, cleared by reading',
    fields: [
      { name: 'UF', lsb: 4, msb: 4, access: 'RC', doc: 'Update ended' },
      { name: 'AF', lsb: 5, msb: 5, access: 'RC', doc: 'Alarm' },
      { name: 'PF', lsb: 6, msb: 6, access: 'RC', doc: 'Periodic' },
      { name: 'IRQF', lsb: 7, msb: 7, access: 'RC', doc: 'An enabled flag is set: IRQ8 asserted' },
    ],
  },
  {
    name: 'REG_D',
    index: REG_D,
    access: 'RO',
    doc: 'Register D: valid RAM and time',
    fields: [{ name: 'VRT', lsb: 7, msb: 7, access: 'RO', doc: 'Battery good' }],
  },
  { name: 'BASE_MEM_LO', index: 0x15, doc: 'Base memory in KiB, low byte' },
  { name: 'BASE_MEM_HI', index: 0x16, doc: 'Base memory in KiB, high byte' },
  { name: 'EXT_MEM_LO', index: 0x17, doc: 'KiB of memory above 1 MiB (max 65535), low byte' },
  { name: 'EXT_MEM_HI', index: 0x18, doc: 'KiB of memory above 1 MiB, high byte' },
  { name: 'CHECKSUM_HI', index: 0x2e, doc: 'Checksum of bytes 0x10-0x2D, high byte' },
  { name: 'CHECKSUM_LO', index: 0x2f, doc: 'Checksum of bytes 0x10-0x2D, low byte' },
  { name: 'EXT_MEM2_LO', index: 0x30, doc: 'KiB of memory above 1 MiB (copy), low byte' },
  { name: 'EXT_MEM2_HI', index: 0x31, doc: 'KiB of memory above 1 MiB (copy), high byte' },
  { name: 'CENTURY', index: REG_CENTURY, doc: 'Century (same data mode as the time)' },
  { name: 'HIGH_MEM_LO', index: 0x34, doc: '64 KiB blocks of memory above 16 MiB, low byte' },
  { name: 'HIGH_MEM_HI', index: 0x35, doc: '64 KiB blocks of memory above 16 MiB, high byte' },
];

const CMOS_KEY = 0x100;

export const RTC_DESCRIPTION: DeviceDescription = {
  name: 'rtc',
  title: 'Motorola MC146818A real-time clock and CMOS RAM',
  space: 'pio',
  base: 0x70,
  size: 2,
  doc: 'Index port 0x70 (bit 7 masks NMI), data port 0x71. CMOS bytes appear as internal registers at 0x100 + index.',
  registers: [
    {
      name: 'INDEX',
      offset: 0,
      width: 8,
      access: 'WO',
      doc: 'CMOS index and NMI mask',
      fields: [
        { name: 'INDEX', lsb: 0, msb: 6, access: 'WO', doc: 'CMOS byte selected for port 0x71', format: 'hex' },
        { name: 'NMI_DISABLE', lsb: 7, msb: 7, access: 'WO', doc: 'Masks NMI while set' },
      ],
    },
    { name: 'DATA', offset: 1, width: 8, access: 'RW', doc: 'The selected CMOS byte', fields: valueField('CMOS byte') },
    ...CMOS_REGISTERS.map((spec): RegisterDescription => ({
      name: spec.name,
      offset: CMOS_KEY + spec.index,
      width: 8,
      access: spec.access ?? 'RW',
      internal: true,
      doc: spec.doc,
      fields: spec.fields ?? valueField(spec.doc, spec.access ?? 'RW'),
    })),
  ],
};

/**
 * The CMOS RTC at 0x70/0x71 on IRQ8. Time advances with virtual time from `startTime`; update, alarm and
 * periodic flags are derived from the scheduler's clock when read, and a timer is armed only while an enabled
 * interrupt could fire.
 */
export class Rtc implements InspectableDevice {
  readonly description = RTC_DESCRIPTION;
  private readonly cmos = new Uint8Array(128);
  private index = 0;
  private nmiDisabled = false;
  /** Update cycles and periodic interrupts happen at `phaseOriginNs` + multiples of their period. */
  private phaseOriginNs = 0;
  /** While the clock counts: seconds since the Unix epoch at `baseNs`, an update boundary. */
  private baseEpoch: number;
  private baseNs = 0;
  /** Time at which the flags in register C were last brought up to date. */
  private flagsSyncedNs = 0;
  private irqGatedByHpet = false;
  private readonly irqTimer: Timer;

  constructor(
    ports: PortSpace,
    private readonly scheduler: Scheduler,
    private readonly irq8: IrqLine,
    options: RtcOptions,
  ) {
    this.baseEpoch = Math.floor((options.startTime ?? DEFAULT_START_TIME) / 1000);
    this.irqTimer = scheduler.createTimer('rtc.irq8', () => this.sync());
    this.cmos[REG_A] = 0x26;
    this.cmos[REG_B] = B_24H;
    this.cmos[REG_D] = D_VRT;
    this.setMemorySize(options.ramBytes);
    this.phaseOriginNs = scheduler.now();
    this.baseNs = this.phaseOriginNs;
    this.flagsSyncedNs = this.phaseOriginNs;
    this.storeTime(this.baseEpoch);
    ports.register(
      0x70,
      2,
      {
        read: (offset) => (offset === 0 ? 0xff : this.readRegister(this.index, false)),
        write: (offset, _size, value) => {
          if (offset === 0) {
            this.index = value & 0x7f;
            this.nmiDisabled = (value & 0x80) !== 0;
          } else {
            this.writeRegister(this.index, value);
          }
        },
        peek: (offset) => (offset === 0 ? 0xff : this.readRegister(this.index, true)),
      },
      { device: 'rtc', valid: { min: 1, max: 4, unaligned: true }, impl: { min: 1, max: 1 } },
    );
  }

  /** Port 0x70 bit 7 as last written: NMIs are masked while true. */
  get nmiMasked(): boolean {
    return this.nmiDisabled;
  }

  /** HPET LegacyReplacement (GEN_CONF.LEG_RT_CNF) disconnects the RTC from IRQ8 while active. */
  setHpetLegacyReplacement(active: boolean): void {
    this.irqGatedByHpet = active;
    this.sync();
  }

  /** The clock's current time in ms since the Unix epoch (whole seconds). */
  currentTime(): number {
    return this.epochNow(this.scheduler.now()) * 1000;
  }

  peekRegister(register: RegisterDescription): bigint {
    if (register.name === 'INDEX') return BigInt(this.index | (this.nmiDisabled ? 0x80 : 0));
    const index = register.name === 'DATA' ? this.index : register.offset - CMOS_KEY;
    return BigInt(this.readRegister(index, true));
  }

  pokeRegister(register: RegisterDescription, value: bigint, path: 'guest' | 'debugger'): void {
    const v = Number(BigInt.asUintN(8, value));
    if (register.name === 'INDEX') {
      this.index = v & 0x7f;
      this.nmiDisabled = (v & 0x80) !== 0;
      return;
    }
    const index = register.name === 'DATA' ? this.index : register.offset - CMOS_KEY;
    if (path === 'debugger' && (index === REG_C || index === REG_D)) {
      this.sync();
      this.cmos[index] = index === REG_C ? v & 0x70 : v;
      this.sync();
      return;
    }
    this.writeRegister(index, v);
  }

  private setMemorySize(ramBytes: number): void {
    const KiB = 1024;
    const MiB = 1024 * KiB;
    const put16 = (index: number, value: number) => {
      this.cmos[index] = value & 0xff;
      this.cmos[index + 1] = value >> 8;
    };
    put16(0x15, 640);
    const extended = Math.min(0xffff, Math.max(0, Math.floor((ramBytes - MiB) / KiB)));
    put16(0x17, extended);
    put16(0x30, extended);
    put16(0x34, Math.min(0xffff, Math.max(0, Math.floor((ramBytes - 16 * MiB) / (64 * KiB)))));
    let checksum = 0;
    for (let i = 0x10; i <= 0x2d; i++) checksum += this.cmos[i];
    this.cmos[0x2e] = (checksum >> 8) & 0xff;
    this.cmos[0x2f] = checksum & 0xff;
  }

  private get dividerRunning(): boolean {
    // QEMU treats DV 000-010 as running; 11x holds the divider in reset.
    return (this.cmos[REG_A] & 0x70) <= 0x20;
  }

  private get counting(): boolean {
    return this.dividerRunning && (this.cmos[REG_B] & B_SET) === 0;
  }

  private epochNow(now: number): number {
    if (!this.counting) return this.decodeTime();
    return this.baseEpoch + Math.floor((now - this.baseNs) / NS_PER_SECOND);
  }

  /** Start of the update cycle at or before `now`. */
  private lastUpdateBoundary(now: number): number {
    return this.phaseOriginNs + Math.floor((now - this.phaseOriginNs) / NS_PER_SECOND) * NS_PER_SECOND;
  }

  private encode(value: number): number {
    return this.cmos[REG_B] & B_BINARY ? value : (Math.floor(value / 10) << 4) | (value % 10);
  }

  private decode(value: number): number {
    return this.cmos[REG_B] & B_BINARY ? value : (value >> 4) * 10 + (value & 0xf);
  }

  private encodeHours(hours: number): number {
    if (this.cmos[REG_B] & B_24H) return this.encode(hours);
    const twelve = hours % 12 === 0 ? 12 : hours % 12;
    return this.encode(twelve) | (hours >= 12 ? 0x80 : 0);
  }

  private decodeHours(value: number): number {
    if (this.cmos[REG_B] & B_24H) return this.decode(value);
    const twelve = this.decode(value & 0x7f) % 12;
    return twelve + (value & 0x80 ? 12 : 0);
  }

  private storeTime(epoch: number): void {
    const date = new Date(epoch * 1000);
    const year = date.getUTCFullYear();
    this.cmos[REG_SECONDS] = this.encode(date.getUTCSeconds());
    this.cmos[REG_MINUTES] = this.encode(date.getUTCMinutes());
    this.cmos[REG_HOURS] = this.encodeHours(date.getUTCHours());
    this.cmos[REG_DAY_OF_WEEK] = this.encode(date.getUTCDay() + 1);
    this.cmos[REG_DAY_OF_MONTH] = this.encode(date.getUTCDate());
    this.cmos[REG_MONTH] = this.encode(date.getUTCMonth() + 1);
    this.cmos[REG_YEAR] = this.encode(year % 100);
    this.cmos[REG_CENTURY] = this.encode(Math.floor(year / 100));
  }

  private decodeTime(): number {
    const c = this.cmos;
    const year = this.decode(c[REG_CENTURY]) * 100 + this.decode(c[REG_YEAR]);
    const ms = Date.UTC(
      year,
      this.decode(c[REG_MONTH]) - 1,
      this.decode(c[REG_DAY_OF_MONTH]),
      this.decodeHours(c[REG_HOURS]),
      this.decode(c[REG_MINUTES]),
      this.decode(c[REG_SECONDS]),
    );
    return Number.isFinite(ms) ? Math.floor(ms / 1000) : this.baseEpoch;
  }

  private alarmMatches(): boolean {
    const c = this.cmos;
    const matches = (alarm: number, value: number) => alarm >= 0xc0 || alarm === value;
    return (
      matches(c[REG_SECONDS_ALARM], c[REG_SECONDS]) &&
      matches(c[REG_MINUTES_ALARM], c[REG_MINUTES]) &&
      matches(c[REG_HOURS_ALARM], c[REG_HOURS])
    );
  }

  /** Register C as it stands at `now`, without changing anything. */
  private flagsAt(now: number): number {
    let flags = this.cmos[REG_C] & 0x70;
    const from = this.flagsSyncedNs;
    if (now <= from) return this.withIrqf(flags);
    const rate = periodicTicks(this.cmos[REG_A] & 0x0f);
    if (rate !== 0 && this.dividerRunning) {
      const origin = crystalTicksAt(this.phaseOriginNs);
      const before = Math.floor((crystalTicksAt(from) - origin) / rate);
      if (Math.floor((crystalTicksAt(now) - origin) / rate) > before) flags |= C_PF;
    }
    if (this.counting) {
      const firstUpdate = this.lastUpdateBoundary(from) + NS_PER_SECOND;
      if (firstUpdate <= now) {
        flags |= C_UF;
        if (!(flags & C_AF)) flags |= this.alarmBetween(firstUpdate, now) ? C_AF : 0;
      }
    }
    return this.withIrqf(flags);
  }

  private alarmBetween(firstUpdate: number, now: number): boolean {
    const saved = this.cmos.slice(0, 10);
    const savedCentury = this.cmos[REG_CENTURY];
    const lastUpdate = this.lastUpdateBoundary(now);
    const updates = Math.min(86400, Math.round((lastUpdate - firstUpdate) / NS_PER_SECOND) + 1);
    const firstEpoch = this.baseEpoch + Math.round((firstUpdate - this.baseNs) / NS_PER_SECOND);
    let found = false;
    for (let i = 0; i < updates && !found; i++) {
      this.storeTime(firstEpoch + i);
      found = this.alarmMatches();
    }
    this.cmos.set(saved, 0);
    this.cmos[REG_CENTURY] = savedCentury;
    return found;
  }

  private withIrqf(flags: number): number {
    return flags & this.cmos[REG_B] & 0x70 ? flags | C_IRQF : flags;
  }

  /** Brings the flags up to date, drives IRQ8 and arms the timer for the next enabled interrupt. */
  private sync(): void {
    const now = this.scheduler.now();
    this.cmos[REG_C] = this.flagsAt(now);
    this.flagsSyncedNs = now;
    const irqf = (this.cmos[REG_C] & C_IRQF) !== 0;
    const enables = this.cmos[REG_B];
    let next = Infinity;
    if (!irqf) {
      const rate = periodicTicks(this.cmos[REG_A] & 0x0f);
      if (enables & B_PIE && rate !== 0 && this.dividerRunning) {
        const origin = crystalTicksAt(this.phaseOriginNs);
        const k = Math.floor((crystalTicksAt(now) - origin) / rate) + 1;
        next = crystalTickTime(origin + k * rate);
      }
      if (enables & (B_UIE | B_AIE) && this.counting) {
        next = Math.min(next, this.lastUpdateBoundary(now) + NS_PER_SECOND);
      }
    }
    if (next === Infinity) this.scheduler.cancel(this.irqTimer);
    else this.scheduler.arm(this.irqTimer, next);
    const level = irqf && !this.irqGatedByHpet;
    if (level !== this.irq8.high) this.irq8.set(level);
  }

  private readRegister(index: number, peek: boolean): number {
    const now = this.scheduler.now();
    if (TIME_REGISTERS.has(index) && this.counting) this.storeTime(this.epochNow(now));
    switch (index) {
      case REG_A: {
        const sincePhase = (now - this.phaseOriginNs) % NS_PER_SECOND;
        const uip = this.counting && sincePhase >= NS_PER_SECOND - UIP_LEAD_NS;
        return (this.cmos[REG_A] & 0x7f) | (uip ? A_UIP : 0);
      }
      case REG_C: {
        if (peek) return this.flagsAt(now);
        this.sync();
        const flags = this.cmos[REG_C];
        this.cmos[REG_C] = 0;
        this.sync();
        return flags;
      }
      default:
        return this.cmos[index & 0x7f];
    }
  }

  private writeRegister(index: number, value: number): void {
    const now = this.scheduler.now();
    this.sync();
    if (TIME_REGISTERS.has(index)) {
      if (this.counting) {
        this.storeTime(this.epochNow(now));
        this.cmos[index] = value;
        this.baseEpoch = this.decodeTime();
        this.baseNs = this.lastUpdateBoundary(now);
        return;
      }
      this.cmos[index] = value;
      return;
    }
    switch (index) {
      case REG_A: {
        const wasRunning = this.dividerRunning;
        const wasCounting = this.counting;
        if (wasCounting) this.storeTime(this.epochNow(now));
        this.cmos[REG_A] = value & 0x7f;
        if (!wasRunning && this.dividerRunning) this.phaseOriginNs = now + FIRST_UPDATE_DELAY_NS - NS_PER_SECOND;
        this.resumeIfCounting(wasCounting, now);
        break;
      }
      case REG_B: {
        const wasCounting = this.counting;
        if (wasCounting) this.storeTime(this.epochNow(now));
        // Setting SET also clears UIE (MC146818A, register B bit 7).
        this.cmos[REG_B] = value & B_SET ? value & ~B_UIE : value;
        this.resumeIfCounting(wasCounting, now);
        break;
      }
      case REG_C:
      case REG_D:
        break;
      default:
        this.cmos[index & 0x7f] = value;
        break;
    }
    this.sync();
  }

  private resumeIfCounting(wasCounting: boolean, now: number): void {
    if (this.counting && !wasCounting) {
      this.baseEpoch = this.decodeTime();
      this.baseNs = this.lastUpdateBoundary(now);
    }
  }
}
