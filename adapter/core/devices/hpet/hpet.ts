/**
 * The HPET timer block (IA-PC HPET 1.0a). The main counter is computed from virtual time; each comparator arms
 * one scheduler Timer for its next match, so nothing polls. docs/hpet.md lists the behaviour rules (R1...) and
 * the choices made where the spec is silent.
 */
import type { PhysicalAddressSpace } from '../../bus/physical';
import type { AccessRules, Region, RegionHandler, SmallAccessSize } from '../../bus/types';
import type { DeviceDescription, InspectableDevice, RegisterDescription } from '../../regs/describe';
import type { Scheduler, Timer } from '../../time/scheduler';
import type { IrqSink, MsiSink } from '../interrupts';
import type { HpetConfig, HpetTimerCapabilities } from './config';
import {
  ENABLE_CNF,
  FSB_EN_CNF,
  GCAP_ID,
  GEN_CONF,
  GINTR_STA,
  HPET_BASE,
  INT_ENB_CNF,
  INT_ROUTE_MASK,
  INT_ROUTE_SHIFT,
  INT_TYPE_CNF,
  LEG_RT_CNF,
  MAIN_CNT,
  MODE32_CNF,
  TIMER_BLOCK,
  TIMER_COMPARATOR,
  TIMER_CONF_CAP,
  TIMER_FSB_ROUTE,
  TIMER_STRIDE,
  TYPE_CNF,
  VAL_SET_CNF,
  capabilitiesValue,
  describeHpet,
  hpetRegionSize,
  timerCapabilitiesValue,
} from './registers';

/**
 * The bus passes every size and alignment through (the handler implements 1 to 8 bytes) so that the device
 * itself decides: aligned 4- and 8-byte accesses work, everything else reads 0 and is ignored (docs/hpet.md).
 */
export const HPET_ACCESS_RULES: AccessRules = {
  valid: { min: 1, max: 8, unaligned: true },
  impl: { min: 1, max: 8 },
};

const ALL_ONES_64 = 0xffffffffffffffffn;
const LOW_32 = 0xffffffffn;
const FS_PER_NS = 1_000_000n;

/** Legacy replacement route (section 2.3.7): timer 0 → 8259 IRQ0 / I/O APIC input 2, timer 1 → IRQ8 / input 8. */
const LEGACY_ROUTES: readonly (readonly OutputLine[])[] = [
  [
    { controller: 'pic', line: 0 },
    { controller: 'ioapic', line: 2 },
  ],
  [
    { controller: 'pic', line: 8 },
    { controller: 'ioapic', line: 8 },
  ],
];

interface OutputLine {
  readonly controller: 'pic' | 'ioapic';
  readonly line: number;
}

interface ComparatorState {
  readonly index: number;
  readonly caps: HpetTimerCapabilities;
  readonly capsValue: bigint;
  /** Bits of Tn_CONF_CAP software may change on this timer. */
  readonly writableMask: number;
  readonly timer: Timer;
  /** Writable configuration bits (the capability bits are added on read). */
  config: number;
  /** Tn_COMPARATOR: the match value, or in periodic mode the accumulator (next expiry). */
  comparator: bigint;
  /** The hidden periodic increment (the last value written without VAL_SET). */
  period: bigint;
  fsbRoute: bigint;
  /** Next match as an unwrapped tick count (see Hpet.unwrappedTicks), while the counter runs. */
  target: bigint | undefined;
  /** Unwrapped tick of the last match since the counter was enabled. */
  lastMatch: bigint | undefined;
  /** Lines this timer holds asserted (level mode). */
  driven: readonly OutputLine[];
}

export interface HpetStats {
  /** Guest accesses of 1 or 2 bytes, or misaligned 4- and 8-byte accesses (read as 0, writes dropped). */
  invalidAccesses: number;
  /** Guest writes to MAIN_CNT while ENABLE_CNF = 1 (dropped). */
  droppedCounterWrites: number;
  /** Interrupt events (matches) per timer, whether or not they were delivered. */
  readonly matches: number[];
}

/** A JSON-able copy of the device state; 64-bit values are hex strings. */
export interface HpetSnapshot {
  readonly version: 1;
  readonly genConf: string;
  readonly status: string;
  readonly counter: string;
  readonly timers: readonly {
    readonly config: number;
    readonly comparator: string;
    readonly period: string;
    readonly fsbRoute: string;
    /** Counter ticks since this timer's last match, when it matched since the counter was enabled. */
    readonly ticksSinceMatch: string | null;
  }[];
}

export class HpetPokeError extends Error {
  override readonly name = 'HpetPokeError';
}

function hex(value: bigint): string {
  return '0x' + value.toString(16);
}

function lineKey(output: OutputLine): string {
  return `${output.controller}:${output.line}`;
}

function sameLines(a: readonly OutputLine[], b: readonly OutputLine[]): boolean {
  return a.length === b.length && a.every((x, i) => lineKey(x) === lineKey(b[i]));
}

export class Hpet implements RegionHandler, InspectableDevice {
  readonly description: DeviceDescription;
  readonly regionSize: number;
  readonly stats: HpetStats;
  /** Called when GEN_CONF.LEG_RT_CNF changes: the machine disconnects the PIT (IRQ0/input 2) and RTC (IRQ8). */
  onLegacyReplacementChange: ((active: boolean) => void) | undefined;

  private readonly capabilities: bigint;
  private readonly counterMask: bigint;
  private readonly periodFs: bigint;
  private readonly comparators: ComparatorState[];
  private readonly lineUsers = new Map<string, number>();
  private genConf = 0n;
  private status = 0n;
  /** Counter value at `timeBaseNs` (while running) or the frozen value (while halted). */
  private counterBase = 0n;
  private timeBaseNs = 0n;

  constructor(
    readonly config: HpetConfig,
    private readonly scheduler: Scheduler,
    private readonly pic: IrqSink,
    private readonly ioapic: IrqSink,
    private readonly msi: MsiSink,
    readonly base = HPET_BASE,
  ) {
    this.description = describeHpet(config, base);
    this.regionSize = hpetRegionSize(config);
    this.capabilities = capabilitiesValue(config);
    this.counterMask = config.counterBits === 64 ? ALL_ONES_64 : LOW_32;
    this.periodFs = BigInt(config.periodFs);
    this.stats = { invalidAccesses: 0, droppedCounterWrites: 0, matches: config.timers.map(() => 0) };
    this.comparators = config.timers.map((caps, index) => ({
      index,
      caps,
      capsValue: timerCapabilitiesValue(caps),
      writableMask:
        INT_TYPE_CNF |
        INT_ENB_CNF |
        VAL_SET_CNF |
        INT_ROUTE_MASK |
        (caps.periodic ? TYPE_CNF : 0) |
        (caps.comparator64 ? MODE32_CNF : 0) |
        (caps.fsb ? FSB_EN_CNF : 0),
      timer: scheduler.createTimer(`hpet.T${index}`, () => this.service(this.comparators[index])),
      config: 0,
      comparator: caps.comparator64 ? ALL_ONES_64 : LOW_32,
      period: 0n,
      fsbRoute: 0n,
      target: undefined,
      lastMatch: undefined,
      driven: [],
    }));
  }

  get enabled(): boolean {
    return (this.genConf & ENABLE_CNF) !== 0n;
  }

  /** True while GEN_CONF.LEG_RT_CNF = 1 (the PIT and RTC interrupts are then disconnected). */
  get legacyReplacementActive(): boolean {
    return (this.genConf & LEG_RT_CNF) !== 0n;
  }

  /** Registers the block's MMIO region at `base` with HPET_ACCESS_RULES. */
  attach(bus: PhysicalAddressSpace): Region {
    return bus.registerMmio(this.base, this.regionSize, this, { device: 'hpet', ...HPET_ACCESS_RULES });
  }

  /** Back to the power-on state: GEN_CONF, GINTR_STA, MAIN_CNT and configurations 0, comparators all ones. */
  reset(): void {
    const wasLegacy = this.legacyReplacementActive;
    this.genConf = 0n;
    this.status = 0n;
    this.counterBase = 0n;
    for (const t of this.comparators) {
      t.config = 0;
      t.comparator = t.caps.comparator64 ? ALL_ONES_64 : LOW_32;
      t.period = 0n;
      t.fsbRoute = 0n;
      t.target = undefined;
      t.lastMatch = undefined;
      this.scheduler.cancel(t.timer);
      this.refreshLevel(t);
    }
    if (wasLegacy) this.onLegacyReplacementChange?.(false);
  }

  // ---- RegionHandler: the guest's path --------------------------------------------------------------------

  read(offset: number, size: SmallAccessSize): number {
    if (size !== 4 || (offset & 3) !== 0) {
      this.stats.invalidAccesses++;
      return 0;
    }
    this.catchUp();
    const value = this.registerValue(offset & ~7);
    return Number((offset & 4 ? value >> 32n : value) & LOW_32);
  }

  write(offset: number, size: SmallAccessSize, value: number): void {
    if (size !== 4 || (offset & 3) !== 0) {
      this.stats.invalidAccesses++;
      return;
    }
    this.catchUp();
    const shift = offset & 4 ? 32n : 0n;
    this.writeRegister(offset & ~7, BigInt(value >>> 0) << shift, LOW_32 << shift);
  }

  read64(offset: number): bigint {
    if ((offset & 7) !== 0) {
      this.stats.invalidAccesses++;
      return 0n;
    }
    this.catchUp();
    return this.registerValue(offset);
  }

  write64(offset: number, value: bigint): void {
    if ((offset & 7) !== 0) {
      this.stats.invalidAccesses++;
      return;
    }
    this.catchUp();
    this.writeRegister(offset, BigInt.asUintN(64, value), ALL_ONES_64);
  }

  /** The debugger's view of any bytes of the block, with no side effects. */
  peek(offset: number, size: SmallAccessSize): number {
    let value = 0;
    for (let i = size - 1; i >= 0; i--) {
      const byteOffset = offset + i;
      const register = this.registerValue(byteOffset & ~7);
      value = value * 256 + Number((register >> BigInt((byteOffset & 7) * 8)) & 0xffn);
    }
    return value;
  }

  // ---- InspectableDevice -------------------------------------------------------------------------------

  peekRegister(register: RegisterDescription): bigint {
    return this.registerValue(register.offset);
  }

  /**
   * `guest` is a 64-bit guest write. `debugger` sets the stored state: MAIN_CNT takes the value even while
   * running (no matches are delivered for skipped ticks), Tn_COMPARATOR sets the comparator/accumulator only
   * (not the period, VAL_SET untouched), Tn_CONF_CAP sets the writable bits as given (no route validation, no
   * status clearing), GINTR_STA sets the status of level timers; the next matches and level lines follow.
   */
  pokeRegister(register: RegisterDescription, value: bigint, path: 'guest' | 'debugger'): void {
    const v = BigInt.asUintN(64, value);
    if (path === 'guest') {
      this.write64(register.offset, v);
      return;
    }
    this.catchUp();
    const offset = register.offset;
    if (offset === GCAP_ID) {
      throw new HpetPokeError('GCAP_ID is fixed by the HPET configuration; use a hook to change what the guest reads');
    }
    if (offset === GEN_CONF || (offset === MAIN_CNT && !this.enabled)) {
      this.writeRegister(offset, v, ALL_ONES_64);
      return;
    }
    if (offset === GINTR_STA) {
      this.status = v & this.levelTimerBits();
      for (const t of this.comparators) this.refreshLevel(t);
      return;
    }
    if (offset === MAIN_CNT) {
      this.counterBase = v & this.counterMask;
      this.timeBaseNs = this.nowNs();
      for (const t of this.comparators) {
        t.lastMatch = undefined;
        this.reschedule(t);
      }
      return;
    }
    const t = this.timerAt(offset);
    if (!t) throw new HpetPokeError(`no HPET register at offset 0x${offset.toString(16)}`);
    switch (offset - this.timerOffset(t)) {
      case TIMER_CONF_CAP:
        this.setTimerConfig(t, Number(v & LOW_32) & t.writableMask);
        break;
      case TIMER_COMPARATOR:
        t.comparator = v & this.comparatorMask(t);
        this.reschedule(t);
        break;
      case TIMER_FSB_ROUTE:
        t.fsbRoute = v;
        break;
    }
  }

  // ---- Save and restore -----------------------------------------------------------------------------------

  save(): HpetSnapshot {
    this.catchUp();
    const now = this.unwrappedTicks();
    return {
      version: 1,
      genConf: hex(this.genConf),
      status: hex(this.status),
      counter: hex(now & this.counterMask),
      timers: this.comparators.map((t) => ({
        config: t.config,
        comparator: hex(t.comparator),
        period: hex(t.period),
        fsbRoute: hex(t.fsbRoute),
        ticksSinceMatch: t.lastMatch === undefined ? null : hex(now - t.lastMatch),
      })),
    };
  }

  restore(snapshot: HpetSnapshot): void {
    if (snapshot.version !== 1 || snapshot.timers.length !== this.comparators.length) {
      throw new HpetPokeError(
        `HPET snapshot does not fit this configuration (${snapshot.timers.length} timers, expected ${this.comparators.length})`,
      );
    }
    const wasLegacy = this.legacyReplacementActive;
    this.genConf = BigInt(snapshot.genConf) & this.genConfWritableMask();
    this.status = BigInt(snapshot.status);
    this.counterBase = BigInt(snapshot.counter) & this.counterMask;
    this.timeBaseNs = this.nowNs();
    snapshot.timers.forEach((saved, i) => {
      const t = this.comparators[i];
      t.config = saved.config & t.writableMask;
      t.comparator = BigInt(saved.comparator) & this.comparatorMask(t);
      t.period = BigInt(saved.period) & this.comparatorMask(t);
      t.fsbRoute = BigInt(saved.fsbRoute);
      t.lastMatch = saved.ticksSinceMatch === null ? undefined : this.counterBase - BigInt(saved.ticksSinceMatch);
    });
    this.status &= this.levelTimerBits();
    for (const t of this.comparators) {
      this.reschedule(t);
      this.refreshLevel(t);
    }
    if (wasLegacy !== this.legacyReplacementActive) this.onLegacyReplacementChange?.(this.legacyReplacementActive);
  }

  // ---- Registers ------------------------------------------------------------------------------------------

  private registerValue(offset: number): bigint {
    switch (offset) {
      case GCAP_ID:
        return this.capabilities;
      case GEN_CONF:
        return this.genConf;
      case GINTR_STA:
        return this.status;
      case MAIN_CNT:
        return this.unwrappedTicks() & this.counterMask;
    }
    const t = this.timerAt(offset);
    if (!t) return 0n;
    switch (offset - this.timerOffset(t)) {
      case TIMER_CONF_CAP:
        return t.capsValue | BigInt(t.config);
      case TIMER_COMPARATOR:
        return t.comparator;
      case TIMER_FSB_ROUTE:
        return t.fsbRoute;
      default:
        return 0n;
    }
  }

  /** Applies the bits of `value` selected by `mask` (one 32-bit half or the whole register) as one write. */
  private writeRegister(offset: number, value: bigint, mask: bigint): void {
    switch (offset) {
      case GCAP_ID:
        return;
      case GEN_CONF:
        this.setGeneralConfig((this.genConf & ~mask) | (value & mask));
        return;
      case GINTR_STA:
        this.clearStatus(value & mask);
        return;
      case MAIN_CNT:
        if (this.enabled) {
          this.stats.droppedCounterWrites++;
          return;
        }
        this.counterBase = ((this.counterBase & ~mask) | (value & mask)) & this.counterMask;
        return;
    }
    const t = this.timerAt(offset);
    if (!t) return;
    switch (offset - this.timerOffset(t)) {
      case TIMER_CONF_CAP:
        if ((mask & LOW_32) !== 0n) this.writeTimerConfig(t, Number(value & LOW_32));
        return;
      case TIMER_COMPARATOR:
        this.writeComparator(t, value, mask);
        return;
      case TIMER_FSB_ROUTE:
        t.fsbRoute = (t.fsbRoute & ~mask) | (value & mask);
        return;
    }
  }

  private genConfWritableMask(): bigint {
    return ENABLE_CNF | (this.config.legacyCapable ? LEG_RT_CNF : 0n);
  }

  private setGeneralConfig(requested: bigint): void {
    const next = requested & this.genConfWritableMask();
    const old = this.genConf;
    const wasLegacy = this.legacyReplacementActive;
    if (!(old & ENABLE_CNF) && next & ENABLE_CNF) {
      this.timeBaseNs = this.nowNs();
      this.genConf = next;
      for (const t of this.comparators) {
        t.lastMatch = undefined;
        this.reschedule(t);
      }
    } else if (old & ENABLE_CNF && !(next & ENABLE_CNF)) {
      this.counterBase = this.unwrappedTicks() & this.counterMask;
      this.genConf = next;
      for (const t of this.comparators) this.reschedule(t);
    } else {
      this.genConf = next;
    }
    for (const t of this.comparators) this.refreshLevel(t);
    if (wasLegacy !== this.legacyReplacementActive) this.onLegacyReplacementChange?.(this.legacyReplacementActive);
  }

  private clearStatus(bits: bigint): void {
    const cleared = bits & this.status;
    if (cleared === 0n) return;
    this.status &= ~cleared;
    for (const t of this.comparators) if ((cleared >> BigInt(t.index)) & 1n) this.refreshLevel(t);
  }

  private writeTimerConfig(t: ComparatorState, written: number): void {
    let next = written & t.writableMask;
    const route = (next & INT_ROUTE_MASK) >>> INT_ROUTE_SHIFT;
    if (!((t.caps.routeCap >>> route) & 1)) next = (next & ~INT_ROUTE_MASK) | (t.config & INT_ROUTE_MASK);
    this.setTimerConfig(t, next);
  }

  private setTimerConfig(t: ComparatorState, next: number): void {
    if (!(t.config & MODE32_CNF) && next & MODE32_CNF) {
      t.comparator &= LOW_32;
      t.period &= LOW_32;
    }
    t.config = next;
    if (!(next & INT_TYPE_CNF)) this.status &= ~(1n << BigInt(t.index));
    this.reschedule(t);
    this.refreshLevel(t);
  }

  private writeComparator(t: ComparatorState, value: bigint, mask: bigint): void {
    const effective = mask & this.comparatorMask(t);
    if (effective === 0n) return;
    const periodic = (t.config & TYPE_CNF) !== 0;
    const valueSet = (t.config & VAL_SET_CNF) !== 0;
    if (!periodic || valueSet) t.comparator = (t.comparator & ~effective) | (value & effective);
    if (periodic) t.period = (t.period & ~effective) | (value & effective);
    t.config &= ~VAL_SET_CNF;
    this.reschedule(t);
  }

  // ---- Time -----------------------------------------------------------------------------------------------

  private nowNs(): bigint {
    return BigInt(Math.floor(this.scheduler.now()));
  }

  /**
   * The counter without wrapping: counterBase plus the ticks elapsed since the counter was enabled. The visible
   * MAIN_CNT is this value modulo 2^32 or 2^64; comparator matches are computed in this space.
   */
  private unwrappedTicks(): bigint {
    if (!this.enabled) return this.counterBase;
    const elapsed = this.nowNs() - this.timeBaseNs;
    return this.counterBase + (elapsed > 0n ? (elapsed * FS_PER_NS) / this.periodFs : 0n);
  }

  /** First virtual time (ns) at which the counter has reached `ticks`, or Infinity beyond 2^53 ns. */
  private deadlineFor(ticks: bigint): number {
    const fs = (ticks - this.counterBase) * this.periodFs;
    const ns = this.timeBaseNs + (fs + FS_PER_NS - 1n) / FS_PER_NS;
    return ns > BigInt(Number.MAX_SAFE_INTEGER) ? Infinity : Number(ns);
  }

  private matchBits(t: ComparatorState): bigint {
    return t.caps.comparator64 && !(t.config & MODE32_CNF) ? 64n : 32n;
  }

  private comparatorMask(t: ComparatorState): bigint {
    return (1n << this.matchBits(t)) - 1n;
  }

  /** Computes the next match (equality of the counter's low 32 or all 64 bits with the comparator) and arms. */
  private reschedule(t: ComparatorState): void {
    if (!this.enabled) {
      t.target = undefined;
      this.scheduler.cancel(t.timer);
      return;
    }
    const now = this.unwrappedTicks();
    const from = t.lastMatch !== undefined && t.lastMatch >= now ? t.lastMatch + 1n : now;
    const modulus = 1n << this.matchBits(t);
    const distance = (((t.comparator - from) % modulus) + modulus) % modulus;
    t.target = from + distance;
    this.arm(t);
  }

  private arm(t: ComparatorState): void {
    const deadline = t.target === undefined ? Infinity : this.deadlineFor(t.target);
    if (deadline === Infinity) this.scheduler.cancel(t.timer);
    else this.scheduler.arm(t.timer, deadline);
  }

  /** Processes every match that is due by now (the scheduler may run late, and guest accesses come first). */
  private catchUp(): void {
    if (!this.enabled) return;
    const now = this.scheduler.now();
    for (const t of this.comparators) if (t.timer.deadline <= now) this.service(t);
  }

  private service(t: ComparatorState): void {
    if (!this.enabled || t.target === undefined) return;
    const now = this.unwrappedTicks();
    const target = t.target;
    if (target > now) {
      this.arm(t);
      return;
    }
    this.match(t, target);
    const modulus = 1n << this.matchBits(t);
    if (t.config & TYPE_CNF && t.period !== 0n) {
      // Periodic (section 2.3.9.2.2): the accumulator grows by the period at each match; matches missed
      // because the scheduler ran late are coalesced into the one just delivered.
      const steps = (now - target) / t.period + 1n;
      t.comparator = (t.comparator + steps * t.period) & (modulus - 1n);
      t.target = target + steps * t.period;
    } else {
      t.target = target + ((now - target) / modulus + 1n) * modulus;
    }
    this.arm(t);
  }

  // ---- Interrupts -----------------------------------------------------------------------------------------

  private match(t: ComparatorState, tick: bigint): void {
    t.lastMatch = tick;
    this.stats.matches[t.index]++;
    const level = (t.config & INT_TYPE_CNF) !== 0;
    if (level) this.status |= 1n << BigInt(t.index);
    if (t.config & INT_ENB_CNF) {
      const routed = this.routeOf(t);
      if (routed === 'fsb') this.msi.deliverMsi(Number(t.fsbRoute >> 32n), Number(t.fsbRoute & LOW_32));
      else if (!level) for (const output of routed) this.pulse(output);
    }
    this.refreshLevel(t);
  }

  /** Route selection (section 2.3.7, 2.3.8): legacy replacement first, then FSB, then Tn_INT_ROUTE_CNF. */
  private routeOf(t: ComparatorState): readonly OutputLine[] | 'fsb' {
    if (this.legacyReplacementActive && t.index < 2) return LEGACY_ROUTES[t.index];
    if (t.config & FSB_EN_CNF) return 'fsb';
    const route = (t.config & INT_ROUTE_MASK) >>> INT_ROUTE_SHIFT;
    return route < 16
      ? [
          { controller: 'pic', line: route },
          { controller: 'ioapic', line: route },
        ]
      : [{ controller: 'ioapic', line: route }];
  }

  /** A level line is asserted while the status bit is set, the timer is enabled and the counter runs. */
  private refreshLevel(t: ComparatorState): void {
    const asserted =
      this.enabled &&
      (t.config & INT_TYPE_CNF) !== 0 &&
      (t.config & INT_ENB_CNF) !== 0 &&
      ((this.status >> BigInt(t.index)) & 1n) === 1n;
    const routed = asserted ? this.routeOf(t) : [];
    const wanted = routed === 'fsb' ? [] : routed;
    if (sameLines(wanted, t.driven)) return;
    const previous = t.driven;
    t.driven = wanted;
    for (const output of previous) this.release(output);
    for (const output of wanted) this.hold(output);
  }

  private sink(output: OutputLine): IrqSink {
    return output.controller === 'pic' ? this.pic : this.ioapic;
  }

  private hold(output: OutputLine): void {
    const key = lineKey(output);
    const users = this.lineUsers.get(key) ?? 0;
    this.lineUsers.set(key, users + 1);
    if (users === 0) this.sink(output).setIrq(output.line, true);
  }

  private release(output: OutputLine): void {
    const key = lineKey(output);
    const users = this.lineUsers.get(key) ?? 0;
    if (users <= 1) {
      this.lineUsers.delete(key);
      this.sink(output).setIrq(output.line, false);
    } else {
      this.lineUsers.set(key, users - 1);
    }
  }

  /** One edge; a line another timer holds asserted (shared level input) produces no new edge. */
  private pulse(output: OutputLine): void {
    if (this.lineUsers.has(lineKey(output))) return;
    const sink = this.sink(output);
    sink.setIrq(output.line, true);
    sink.setIrq(output.line, false);
  }

  private levelTimerBits(): bigint {
    let bits = 0n;
    for (const t of this.comparators) if (t.config & INT_TYPE_CNF) bits |= 1n << BigInt(t.index);
    return bits;
  }

  private timerOffset(t: ComparatorState): number {
    return TIMER_BLOCK + TIMER_STRIDE * t.index;
  }

  private timerAt(offset: number): ComparatorState | undefined {
    if (offset < TIMER_BLOCK) return undefined;
    return this.comparators[Math.floor((offset - TIMER_BLOCK) / TIMER_STRIDE)];
  }
}
