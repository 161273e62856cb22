import type { PortSpace } from '../bus/ports';
import type { SmallAccessSize } from '../bus/types';
import type { DeviceDescription, FieldDescription, InspectableDevice, RegisterDescription } from '../regs/describe';
import type { Scheduler, Timer } from '../time/scheduler';
import type { IrqLine } from './interrupts';

/** The 8254's input clock on PCs: 14.31818 MHz / 12. */
export const PIT_FREQUENCY_HZ = 1193182;
const NS_PER_SECOND = 1e9;
/** Port 0x61 bit 4 toggles on every DRAM refresh request, one per 15.085 µs on PC/AT compatibles. */
const REFRESH_PERIOD_NS = 15085;

/** Whole PIT clock ticks since time 0 at `ns` (exact for any ns below 2^53). */
export function pitTicksAt(ns: number): number {
  const seconds = Math.floor(ns / NS_PER_SECOND);
  const rest = ns - seconds * NS_PER_SECOND;
  return seconds * PIT_FREQUENCY_HZ + Math.floor((rest * PIT_FREQUENCY_HZ) / NS_PER_SECOND);
}

/** The first nanosecond at which tick `tick` has happened. */
export function pitTickTime(tick: number): number {
  const seconds = Math.floor(tick / PIT_FREQUENCY_HZ);
  const rest = tick - seconds * PIT_FREQUENCY_HZ;
  return seconds * NS_PER_SECOND + Math.ceil((rest * NS_PER_SECOND) / PIT_FREQUENCY_HZ);
}

const toBcd = (value: number): number =>
  (value % 10) |
  ((Math.floor(value / 10) % 10) << 4) |
  ((Math.floor(value / 100) % 10) << 8) |
  ((Math.floor(value / 1000) % 10) << 12);
const fromBcd = (value: number): number =>
  (value & 0xf) + ((value >> 4) & 0xf) * 10 + ((value >> 8) & 0xf) * 100 + ((value >> 12) & 0xf) * 1000;

const enum Access {
  Latch = 0,
  LowByte = 1,
  HighByte = 2,
  Word = 3,
}

/** One 8254 counter (Intel 8254 datasheet, "Modes" and "Read Operations"). */
class PitChannel {
  mode = 3;
  access = Access.Word;
  bcd = false;
  gate: boolean;
  /** Initial count N as a number of input clocks per cycle (0 written means 65536, or 10000 in BCD). */
  initialCount = 0x10000;
  /** Count register value last written, for display. */
  countRegister = 0;
  /** The counting element holds a count and counts (modes 1 and 5 also need their gate trigger). */
  running = false;
  /** Tick at which the current count was loaded into the counting element. */
  startTick = 0;
  /** Elapsed ticks frozen while the gate is low (modes 0 and 4 suspend counting; 2 and 3 stop). */
  pausedElapsed: number | undefined;
  /** A new count written in mode 2 or 3 while counting: loaded at the end of the current cycle. */
  pendingCount: { count: number; atTick: number } | undefined;
  /** OUT while the counter is not counting: low after a mode 0 control word, high otherwise. */
  idleOut = true;
  /** Modes 1 and 5: a count was written since the control word, so a gate rising edge triggers. */
  armed = false;
  nullCount = true;
  writeHighNext = false;
  lowByteWritten = 0;
  readHighNext = false;
  latchedCount: number | undefined;
  latchedHighNext = false;
  latchedStatus: number | undefined;

  constructor(gate: boolean) {
    this.gate = gate;
  }

  private get modulus(): number {
    return this.bcd ? 10000 : 0x10000;
  }

  sync(tick: number): void {
    const pending = this.pendingCount;
    if (pending && tick >= pending.atTick) {
      this.initialCount = pending.count;
      this.startTick = pending.atTick;
      this.pendingCount = undefined;
    }
  }

  elapsed(tick: number): number {
    if (this.pausedElapsed !== undefined) return this.pausedElapsed;
    return tick - this.startTick;
  }

  output(tick: number): boolean {
    this.sync(tick);
    if (!this.running) return this.idleOut;
    const n = this.initialCount;
    const d = this.elapsed(tick);
    switch (this.mode) {
      case 0:
      case 1:
        return d >= n;
      case 2:
        if (!this.gate) return true;
        return d % n !== n - 1;
      case 3:
        if (!this.gate) return true;
        return d % n < Math.ceil(n / 2);
      default:
        return d !== n;
    }
  }

  value(tick: number): number {
    this.sync(tick);
    if (!this.running) return this.countRegister;
    const n = this.initialCount;
    const d = this.elapsed(tick);
    const m = this.modulus;
    let v: number;
    switch (this.mode) {
      case 2:
        v = n - (d % n);
        break;
      case 3: {
        // Mode 3 decrements by two, twice per cycle; an odd count loads N - 1 (8254 datasheet, mode 3).
        const half = Math.ceil(n / 2);
        const phase = d % n;
        v = (n & ~1) - 2 * (phase < half ? phase : phase - half);
        break;
      }
      default:
        v = (((n - d) % m) + m) % m;
        break;
    }
    v %= m;
    return this.bcd ? toBcd(v) : v;
  }

  status(tick: number): number {
    return (
      (this.output(tick) ? 0x80 : 0) |
      (this.nullCount ? 0x40 : 0) |
      (this.access << 4) |
      (this.mode << 1) |
      (this.bcd ? 1 : 0)
    );
  }

  /** The first tick after `tick` at which OUT changes, or Infinity. */
  nextTransition(tick: number): number {
    this.sync(tick);
    const pending = this.pendingCount;
    if (!this.running || this.pausedElapsed !== undefined) return pending ? pending.atTick : Infinity;
    const n = this.initialCount;
    const d = tick - this.startTick;
    let next: number;
    switch (this.mode) {
      case 0:
      case 1:
        next = d < n ? n : Infinity;
        break;
      case 2: {
        const phase = d % n;
        next = phase === n - 1 ? d + 1 : d - phase + n - 1;
        if (n === 1) next = Infinity;
        break;
      }
      case 3: {
        const phase = d % n;
        const half = Math.ceil(n / 2);
        next = phase < half ? d - phase + half : d - phase + n;
        if (n === 1) next = Infinity;
        break;
      }
      default:
        next = d < n ? n : d === n ? n + 1 : Infinity;
        break;
    }
    const at = this.startTick + next;
    return pending && pending.atTick < at ? pending.atTick : at;
  }

  writeControl(value: number, tick: number): void {
    const access = ((value >> 4) & 3) as Access;
    if (access === Access.Latch) {
      this.latchCount(tick);
      return;
    }
    let mode = (value >> 1) & 7;
    if (mode > 5) mode -= 4;
    this.sync(tick);
    this.mode = mode;
    this.access = access;
    this.bcd = (value & 1) !== 0;
    this.running = false;
    this.pausedElapsed = undefined;
    this.pendingCount = undefined;
    this.idleOut = mode !== 0;
    this.armed = false;
    this.nullCount = true;
    this.writeHighNext = false;
    this.readHighNext = false;
    this.latchedCount = undefined;
    this.latchedStatus = undefined;
  }

  latchCount(tick: number): void {
    if (this.latchedCount !== undefined) return;
    this.latchedCount = this.value(tick);
    this.latchedHighNext = this.access === Access.HighByte;
  }

  latchStatus(tick: number): void {
    if (this.latchedStatus === undefined) this.latchedStatus = this.status(tick);
  }

  writeCount(value: number, tick: number): void {
    switch (this.access) {
      case Access.LowByte:
        this.load(value, tick);
        break;
      case Access.HighByte:
        this.load(value << 8, tick);
        break;
      default:
        if (!this.writeHighNext) {
          this.lowByteWritten = value;
          this.writeHighNext = true;
          // Mode 0: writing the first byte stops the count (8254 datasheet, mode 0).
          if (this.mode === 0 && this.running) {
            this.countRegister = this.value(tick);
            this.running = false;
            this.idleOut = false;
          }
        } else {
          this.writeHighNext = false;
          this.load(this.lowByteWritten | (value << 8), tick);
        }
        break;
    }
  }

  private load(raw: number, tick: number): void {
    this.sync(tick);
    this.countRegister = raw;
    let count = this.bcd ? fromBcd(raw) : raw;
    if (count === 0) count = this.modulus;
    this.nullCount = true;
    if ((this.mode === 2 || this.mode === 3) && this.running) {
      // The new count takes effect when the current cycle ends.
      const d = this.elapsed(tick);
      const n = this.initialCount;
      this.pendingCount = { count, atTick: this.startTick + (Math.floor(d / n) + 1) * n };
      return;
    }
    this.initialCount = count;
    if (this.mode === 1 || this.mode === 5) {
      // Hardware-triggered modes load the count on the next gate rising edge.
      this.running = false;
      this.idleOut = true;
      this.armed = true;
      return;
    }
    this.start(tick);
  }

  private start(tick: number): void {
    this.running = true;
    this.nullCount = false;
    this.startTick = tick;
    this.pendingCount = undefined;
    this.pausedElapsed = this.gate ? undefined : 0;
  }

  setGate(level: boolean, tick: number): void {
    if (level === this.gate) return;
    this.sync(tick);
    this.gate = level;
    switch (this.mode) {
      case 0:
      case 4:
        if (!this.running) break;
        if (level && this.pausedElapsed !== undefined) {
          this.startTick = tick - this.pausedElapsed;
          this.pausedElapsed = undefined;
        } else if (!level) {
          this.pausedElapsed = this.elapsed(tick);
        }
        break;
      case 1:
      case 5:
        if (level && this.armed) this.start(tick);
        break;
      default:
        if (!this.running) break;
        if (level) {
          if (this.pendingCount) this.initialCount = this.pendingCount.count;
          this.start(tick);
        } else {
          this.pausedElapsed = this.elapsed(tick);
        }
        break;
    }
  }

  read(tick: number, peek: boolean): number {
    if (this.latchedStatus !== undefined) {
      const status = this.latchedStatus;
      if (!peek) this.latchedStatus = undefined;
      return status;
    }
    if (this.latchedCount !== undefined) {
      const latched = this.latchedCount;
      const high = this.latchedHighNext;
      if (!peek) {
        if (this.access === Access.Word && !high) this.latchedHighNext = true;
        else this.latchedCount = undefined;
      }
      return high ? latched >> 8 : latched & 0xff;
    }
    const value = this.value(tick);
    const high = this.access === Access.HighByte || (this.access === Access.Word && this.readHighNext);
    if (!peek && this.access === Access.Word) this.readHighNext = !this.readHighNext;
    return high ? value >> 8 : value & 0xff;
  }
}

const CHANNEL_STATUS_FIELDS: FieldDescription[] = [
  { name: 'BCD', lsb: 0, msb: 0, access: 'RO', doc: 'Counts in BCD' },
  {
    name: 'MODE',
    lsb: 1,
    msb: 3,
    access: 'RO',
    doc: 'Counter mode',
    enum: [
      { value: 0, name: 'interrupt on terminal count' },
      { value: 1, name: 'hardware one-shot' },
      { value: 2, name: 'rate generator' },
      { value: 3, name: 'square wave' },
      { value: 4, name: 'software strobe' },
      { value: 5, name: 'hardware strobe' },
    ],
  },
  {
    name: 'RW',
    lsb: 4,
    msb: 5,
    access: 'RO',
    doc: 'Access mode',
    enum: [
      { value: 1, name: 'low byte' },
      { value: 2, name: 'high byte' },
      { value: 3, name: 'low then high byte' },
    ],
  },
  { name: 'NULL_COUNT', lsb: 6, msb: 6, access: 'RO', doc: 'A written count has not yet been loaded' },
  { name: 'OUT', lsb: 7, msb: 7, access: 'RO', doc: 'Level of the OUT pin' },
];

function channelRegisters(index: number): RegisterDescription[] {
  const key = 0x100 + index * 4;
  return [
    {
      name: `COUNTER${index}`,
      offset: index,
      width: 8,
      access: 'RW',
      doc: `Counter ${index} data port: writes the count, reads the count, a latched count or a latched status`,
      fields: [],
    },
    {
      name: `CH${index}_COUNT`,
      offset: key,
      width: 16,
      access: 'RO',
      internal: true,
      doc: `Counter ${index} counting element now`,
      fields: [{ name: 'COUNT', lsb: 0, msb: 15, access: 'RO', doc: 'Current count', format: 'dec' }],
    },
    {
      name: `CH${index}_RELOAD`,
      offset: key + 1,
      width: 16,
      access: 'RW',
      internal: true,
      doc: `Counter ${index} count register (the last count written; 0 means 65536)`,
      fields: [{ name: 'COUNT', lsb: 0, msb: 15, access: 'RW', doc: 'Initial count', format: 'dec' }],
    },
    {
      name: `CH${index}_STATUS`,
      offset: key + 2,
      width: 8,
      access: 'RO',
      internal: true,
      doc: `Counter ${index} status, as the read-back command would latch it`,
      fields: CHANNEL_STATUS_FIELDS,
    },
  ];
}

export const PIT_DESCRIPTION: DeviceDescription = {
  name: 'pit',
  title: 'Intel 8254 programmable interval timer with port 0x61 (NMI status and control)',
  space: 'pio',
  base: 0x40,
  size: 0x22,
  doc: 'Decodes ports 0x40-0x43 and 0x61 (offset 0x21). Channel 0 drives IRQ0, channel 2 the speaker gate.',
  registers: [
    ...[0, 1, 2].flatMap(channelRegisters),
    {
      name: 'CONTROL',
      offset: 3,
      width: 8,
      access: 'WO',
      doc: 'Control word: counter select, access mode, mode, BCD; counter select 3 is the read-back command',
      fields: [
        { name: 'BCD', lsb: 0, msb: 0, access: 'WO', doc: 'Count in BCD' },
        { name: 'MODE', lsb: 1, msb: 3, access: 'WO', doc: 'Counter mode (6 and 7 mean 2 and 3)' },
        { name: 'RW', lsb: 4, msb: 5, access: 'WO', doc: '0 latches the count; 1 low, 2 high, 3 both bytes' },
        { name: 'SC', lsb: 6, msb: 7, access: 'WO', doc: 'Counter select; 3 = read-back' },
      ],
    },
    {
      name: 'PORT_B',
      offset: 0x21,
      width: 8,
      access: 'RW',
      doc: 'Port 0x61: speaker gate and data, refresh toggle, counter 2 output',
      fields: [
        { name: 'TIM2_GATE', lsb: 0, msb: 0, access: 'RW', doc: 'Gate of counter 2' },
        { name: 'SPKR_DATA', lsb: 1, msb: 1, access: 'RW', doc: 'Speaker data enable' },
        { name: 'PCK_EN', lsb: 2, msb: 2, access: 'RW', doc: 'Parity check disable (stored only)' },
        { name: 'IOCHK_EN', lsb: 3, msb: 3, access: 'RW', doc: 'I/O channel check disable (stored only)' },
        { name: 'REF_TOGGLE', lsb: 4, msb: 4, access: 'RO', doc: 'Toggles on each refresh request (15.085 µs)' },
        { name: 'TIM2_OUT', lsb: 5, msb: 5, access: 'RO', doc: 'Output of counter 2' },
        { name: 'IOCHK_STS', lsb: 6, msb: 6, access: 'RO', doc: 'I/O channel check NMI source' },
        { name: 'SERR_STS', lsb: 7, msb: 7, access: 'RO', doc: 'System error NMI source' },
      ],
    },
  ],
};

/**
 * The 8254 PIT at 0x40-0x43 plus port 0x61. Counts are computed from scheduler time; only channel 0's OUT
 * transitions are scheduled, because they drive IRQ0.
 */
export class Pit implements InspectableDevice {
  readonly description = PIT_DESCRIPTION;
  private readonly channels = [new PitChannel(true), new PitChannel(true), new PitChannel(false)];
  /** Port 0x61 bits 1-3 as last written. */
  private portBLatch = 0;
  private irqGatedByHpet = false;
  private readonly irqTimer: Timer;

  constructor(
    ports: PortSpace,
    private readonly scheduler: Scheduler,
    private readonly irq0: IrqLine,
  ) {
    this.irqTimer = scheduler.createTimer('pit.irq0', () => this.updateIrq());
    const rules = { valid: { min: 1, max: 4, unaligned: true }, impl: { min: 1, max: 1 } } as const;
    ports.register(
      0x40,
      4,
      {
        read: (offset) => this.readPort(offset, false),
        write: (offset, _size: SmallAccessSize, value) => this.writePort(offset, value),
        peek: (offset) => this.readPort(offset, true),
      },
      { device: 'pit', name: 'counters', ...rules },
    );
    ports.register(
      0x61,
      1,
      { read: () => this.portB(), write: (_offset, _size, value) => this.writePortB(value), peek: () => this.portB() },
      { device: 'pit', name: 'port-b', ...rules },
    );
    // Power-on state as QEMU sets it: every counter in mode 3 with count 65536; channel 0 therefore ticks
    // IRQ0 at 18.2 Hz, as after a PC BIOS.
    for (const channel of this.channels) {
      channel.writeControl(0x36, 0);
      channel.writeCount(0, 0);
      channel.writeCount(0, 0);
    }
    this.updateIrq();
  }

  /** HPET LegacyReplacement (GEN_CONF.LEG_RT_CNF) disconnects channel 0 from IRQ0 while active. */
  setHpetLegacyReplacement(active: boolean): void {
    this.irqGatedByHpet = active;
    this.updateIrq();
  }

  /** OUT of a counter now. */
  output(channel: 0 | 1 | 2): boolean {
    return this.channels[channel].output(this.tick());
  }

  peekRegister(register: RegisterDescription): bigint {
    const tick = this.tick();
    const name = register.name;
    if (name === 'CONTROL') return 0n;
    if (name === 'PORT_B') return BigInt(this.portB());
    const channel = this.channels[Number(name.match(/\d/)?.[0] ?? 0)];
    if (name.startsWith('COUNTER')) return BigInt(channel.read(tick, true));
    if (name.endsWith('_COUNT')) return BigInt(channel.value(tick));
    if (name.endsWith('_RELOAD')) return BigInt(channel.countRegister);
    return BigInt(channel.status(tick));
  }

  /** Every register here is a command, a count or a gate, so the debugger path is the guest path. */
  pokeRegister(register: RegisterDescription, value: bigint, _path: 'guest' | 'debugger'): void {
    const v = Number(BigInt.asUintN(16, value));
    const name = register.name;
    if (register.internal && name.endsWith('_RELOAD')) {
      // Loading a count the way a guest would: through the access mode the counter is programmed for.
      const index = Number(name[2]);
      const channel = this.channels[index];
      if (channel.access === Access.Word) {
        this.writePort(index, v & 0xff);
        this.writePort(index, v >> 8);
      } else {
        this.writePort(index, channel.access === Access.HighByte ? v >> 8 : v & 0xff);
      }
      return;
    }
    if (!register.internal) this.writePort(register.offset, v & 0xff);
  }

  private tick(): number {
    return pitTicksAt(this.scheduler.now());
  }

  private readPort(offset: number, peek: boolean): number {
    if (offset === 0x21) return this.portB();
    if (offset === 3) return 0xff;
    return this.channels[offset].read(this.tick(), peek);
  }

  private writePort(offset: number, value: number): void {
    if (offset === 0x21) {
      this.writePortB(value);
      return;
    }
    const tick = this.tick();
    if (offset === 3) {
      const select = value >> 6;
      if (select === 3) {
        // Read-back command: bit 5 = 0 latches counts, bit 4 = 0 latches status, bits 3:1 select counters.
        for (let i = 0; i < 3; i++) {
          if (!(value & (2 << i))) continue;
          const channel = this.channels[i];
          if (!(value & 0x20)) channel.latchCount(tick);
          if (!(value & 0x10)) channel.latchStatus(tick);
        }
        return;
      }
      this.channels[select].writeControl(value, tick);
      if (select === 0) this.updateIrq();
      return;
    }
    this.channels[offset].writeCount(value, tick);
    if (offset === 0) this.updateIrq();
  }

  private portB(): number {
    const now = this.scheduler.now();
    const refresh = Math.floor(now / REFRESH_PERIOD_NS) & 1;
    const channel2 = this.channels[2];
    return (channel2.gate ? 1 : 0) | this.portBLatch | (refresh << 4) | (channel2.output(pitTicksAt(now)) ? 0x20 : 0);
  }

  private writePortB(value: number): void {
    this.portBLatch = value & 0x0e;
    this.channels[2].setGate((value & 1) !== 0, this.tick());
  }

  private updateIrq(): void {
    const tick = this.tick();
    const channel = this.channels[0];
    const level = channel.output(tick) && !this.irqGatedByHpet;
    if (level !== this.irq0.high) this.irq0.set(level);
    const next = this.irqGatedByHpet ? Infinity : channel.nextTransition(tick);
    if (next === Infinity) this.scheduler.cancel(this.irqTimer);
    else this.scheduler.arm(this.irqTimer, pitTickTime(next));
  }
}
