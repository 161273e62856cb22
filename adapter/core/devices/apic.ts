/**
 * Local APIC of one CPU in xAPIC mode (Intel SDM Vol. 3A, chapter "Advanced Programmable Interrupt Controller").
 *
 * Modelled as an integrated APIC of the Pentium 4 / Xeon family: version 0x14, six LVT entries (timer, thermal,
 * performance counter, LINT0, LINT1, error), 8-bit APIC ID, no x2APIC, no TSC-deadline timer mode, no EOI-broadcast
 * suppression. The register window is 4 KiB at the base held in the IA32_APIC_BASE MSR (0xFEE00000 after reset).
 *
 * Access rules of the MMIO window: only aligned 32-bit accesses reach the model (1-, 2- and 8-byte accesses are
 * refused by the bus: reads give all-ones, writes are dropped and both are counted as invalid accesses). A 32-bit
 * access at an offset that is not a multiple of 16 lies in the unused upper bytes of a 16-byte register slot and
 * reads 0 / ignores writes. A 32-bit access to a reserved slot reads 0, ignores writes and sets ESR bit 7
 * (illegal register address).
 *
 * The timer counts at `busFrequencyHz` divided by the divide configuration; the default bus clock is 100 MHz
 * (10 ns per tick), the value QEMU reports and Linux calibrates against.
 */

import type { PhysicalAddressSpace } from '../bus/physical';
import type { Region, RegionHandler, SmallAccessSize } from '../bus/types';
import { BusError } from '../bus/types';
import type {
  DeviceDescription,
  EnumValue,
  FieldDescription,
  InspectableDevice,
  RegisterDescription,
} from '../regs/describe';
import type { Scheduler, Timer } from '../time/scheduler';
import type { MsiSink } from './interrupts';

export const LAPIC_DEFAULT_BASE = 0xfee00000;
export const LAPIC_WINDOW_SIZE = 0x1000;
export const LAPIC_VERSION = 0x14;
export const LAPIC_MAX_LVT_ENTRY = 5;
export const LAPIC_DEFAULT_BUS_HZ = 100_000_000;

/** Delivery modes shared by LVT entries, the ICR, I/O APIC redirection entries and MSI data. */
export const DeliveryMode = {
  Fixed: 0,
  LowestPriority: 1,
  Smi: 2,
  Nmi: 4,
  Init: 5,
  StartUp: 6,
  ExtInt: 7,
} as const;
export type DeliveryMode = (typeof DeliveryMode)[keyof typeof DeliveryMode];

/** An interrupt message on the APIC bus / system bus (from the I/O APIC, an MSI or an IPI). */
export interface ApicMessage {
  readonly vector: number;
  readonly deliveryMode: number;
  readonly levelTriggered: boolean;
  /** 8-bit destination: an APIC ID (physical) or a logical destination set. 0xFF is a broadcast in both. */
  readonly destination: number;
  readonly logicalDestination: boolean;
}

/** Something that accepts interrupt messages: the local APIC, or a test double. */
export interface ApicMessageSink {
  /** Returns true when a local APIC accepted the message. */
  receiveMessage(message: ApicMessage): boolean;
}

/** IA32_APIC_BASE MSR (0x1B) bits. */
export const APIC_BASE_MSR = 0x1b;
const MSR_BSP = 1n << 8n;
const MSR_X2APIC_ENABLE = 1n << 10n;
const MSR_GLOBAL_ENABLE = 1n << 11n;
const MSR_BASE_MASK = 0xfffff000n;

const LVT_MASKED = 1 << 16;
const LVT_REMOTE_IRR = 1 << 14;
const LVT_LEVEL_TRIGGERED = 1 << 15;
const LVT_ACTIVE_LOW = 1 << 13;
const LVT_TIMER_PERIODIC = 1 << 17;
const SVR_SOFTWARE_ENABLE = 1 << 8;

/** ESR bits (SDM "Error Handling"). */
export const ApicError = {
  SendIllegalVector: 1 << 5,
  ReceiveIllegalVector: 1 << 6,
  IllegalRegisterAddress: 1 << 7,
} as const;

/** Indices of the LVT entries, in register order starting at offset 0x320. */
export const Lvt = { Timer: 0, Thermal: 1, PerfCounter: 2, Lint0: 3, Lint1: 4, Error: 5 } as const;
const LVT_WRITABLE = [0x300ff, 0x107ff, 0x107ff, 0x1a7ff, 0x1a7ff, 0x100ff];

const ICR_LOW_WRITABLE = 0xccfff;
const DCR_WRITABLE = 0xb;

const Reg = {
  ID: 0x020,
  VERSION: 0x030,
  TPR: 0x080,
  APR: 0x090,
  PPR: 0x0a0,
  EOI: 0x0b0,
  RRD: 0x0c0,
  LDR: 0x0d0,
  DFR: 0x0e0,
  SVR: 0x0f0,
  ISR: 0x100,
  TMR: 0x180,
  IRR: 0x200,
  ESR: 0x280,
  ICR_LOW: 0x300,
  ICR_HIGH: 0x310,
  LVT_TIMER: 0x320,
  LVT_ERROR: 0x370,
  TIMER_INITIAL_COUNT: 0x380,
  TIMER_CURRENT_COUNT: 0x390,
  TIMER_DIVIDE: 0x3e0,
} as const;

export interface LocalApicOptions {
  readonly scheduler: Scheduler;
  readonly apicId?: number;
  readonly busFrequencyHz?: number;
  /** The bootstrap processor flag of IA32_APIC_BASE (bit 8). */
  readonly bootstrapProcessor?: boolean;
}

/** Events that a single-CPU machine accepts and ignores, counted for diagnostics. */
export interface LocalApicCounters {
  initIpis: number;
  startupIpis: number;
  smis: number;
  /** Messages whose destination did not match this APIC. */
  unmatchedMessages: number;
  /** Fixed interrupts signalled while the same vector was already pending in IRR (merged). */
  mergedInterrupts: number;
  /** IA32_APIC_BASE writes that asked to move the window onto another device's region. */
  relocationConflicts: number;
}

class VectorSet {
  readonly words = new Uint32Array(8);
  has(vector: number): boolean {
    return (this.words[vector >>> 5] & (1 << (vector & 31))) !== 0;
  }
  set(vector: number): void {
    this.words[vector >>> 5] |= 1 << (vector & 31);
  }
  clear(vector: number): void {
    this.words[vector >>> 5] &= ~(1 << (vector & 31));
  }
  /** Highest vector in the set, or -1. */
  highest(): number {
    for (let i = 7; i >= 0; i--) {
      const w = this.words[i];
      if (w !== 0) return i * 32 + 31 - Math.clz32(w);
    }
    return -1;
  }
  reset(): void {
    this.words.fill(0);
  }
}

export class LocalApic implements InspectableDevice, MsiSink, ApicMessageSink {
  readonly counters: LocalApicCounters = {
    initIpis: 0,
    startupIpis: 0,
    smis: 0,
    unmatchedMessages: 0,
    mergedInterrupts: 0,
    relocationConflicts: 0,
  };
  /** Called on EOI of a level-triggered interrupt (TMR bit set): the EOI broadcast to the I/O APICs. */
  onLevelEoi: ((vector: number) => void) | undefined;
  /** Called whenever something the CPU may want to take changes (IRR, PPR, NMI, ExtINT). */
  onPendingChange: (() => void) | undefined;

  readonly handler: RegionHandler;
  private readonly scheduler: Scheduler;
  private readonly busFrequencyHz: number;
  private readonly timer: Timer;
  private space: PhysicalAddressSpace | undefined;
  private region: Region | undefined;
  private cachedDescription: DeviceDescription | undefined;

  private msrBase: bigint;
  private id: number;
  private tpr = 0;
  private ldr = 0;
  private dfr = 0xffffffff;
  private svr = 0xff;
  private readonly isr = new VectorSet();
  private readonly tmr = new VectorSet();
  private readonly irr = new VectorSet();
  private esrLatched = 0;
  private esrPending = 0;
  private icrLow = 0;
  private icrHigh = 0;
  private readonly lvt = new Uint32Array(6);
  private divideConfig = 0;
  private timerInitial = 0;
  private timerStartNs = 0;
  private timerRunning = false;
  private readonly lintLevel = [false, false];
  private nmiPending = false;
  private extIntRequested = false;

  constructor(options: LocalApicOptions) {
    this.scheduler = options.scheduler;
    this.busFrequencyHz = options.busFrequencyHz ?? LAPIC_DEFAULT_BUS_HZ;
    this.id = (options.apicId ?? 0) & 0xff;
    this.msrBase =
      BigInt(LAPIC_DEFAULT_BASE) | MSR_GLOBAL_ENABLE | (options.bootstrapProcessor === false ? 0n : MSR_BSP);
    this.timer = this.scheduler.createTimer('lapic.timer', (now) => this.timerExpired(now));
    this.resetRegisters();
    this.handler = {
      read: (offset, size) => this.mmioRead(offset, size),
      write: (offset, size, value) => this.mmioWrite(offset, size, value),
      peek: (offset, size) => this.mmioPeek(offset, size),
    };
  }

  // ---- placement and the IA32_APIC_BASE MSR ----

  /** Maps the register window into `space` at the MSR's base (while globally enabled) and follows relocations. */
  attach(space: PhysicalAddressSpace): void {
    this.space = space;
    this.remap();
  }

  get base(): number {
    return Number(this.msrBase & MSR_BASE_MASK);
  }

  get hardwareEnabled(): boolean {
    return (this.msrBase & MSR_GLOBAL_ENABLE) !== 0n;
  }

  get softwareEnabled(): boolean {
    return (this.svr & SVR_SOFTWARE_ENABLE) !== 0;
  }

  /** Hardware- and software-enabled: interrupts reach the CPU through IRR and priority arbitration. */
  get enabled(): boolean {
    return this.hardwareEnabled && this.softwareEnabled;
  }

  readMsrBase(): bigint {
    return this.msrBase;
  }

  /**
   * WRMSR to IA32_APIC_BASE. Returns false (the CPU raises #GP) for reserved bits, for the x2APIC enable bit
   * (no x2APIC here) and for a base above 4 GiB. Clearing the global enable bit returns the APIC to its
   * power-up register state (SDM "Local APIC Status and Location": prior initialisation may be lost) and removes
   * the register window from the address space.
   */
  writeMsrBase(value: bigint): boolean {
    const allowed = MSR_BASE_MASK | MSR_GLOBAL_ENABLE | MSR_BSP;
    if ((value & ~allowed) !== 0n || (value & MSR_X2APIC_ENABLE) !== 0n) return false;
    const wasEnabled = this.hardwareEnabled;
    this.msrBase = value;
    if (wasEnabled && !this.hardwareEnabled) this.resetRegisters();
    this.cachedDescription = undefined;
    this.remap();
    this.onPendingChange?.();
    return true;
  }

  private remap(): void {
    const space = this.space;
    if (!space) return;
    if (this.region) {
      if (this.hardwareEnabled && this.region.start === this.base) return;
      space.unregisterMmio(this.region);
      this.region = undefined;
    }
    if (!this.hardwareEnabled) return;
    try {
      this.region = space.registerMmio(this.base, LAPIC_WINDOW_SIZE, this.handler, {
        device: 'lapic',
        valid: { min: 4, max: 4 },
        impl: { min: 4, max: 4 },
      });
    } catch (error) {
      if (!(error instanceof BusError)) throw error;
      this.counters.relocationConflicts++;
    }
  }

  /** Power-up register state (SDM "Local APIC State After Power-Up or Reset"); ID and MSR are kept. */
  resetRegisters(): void {
    this.tpr = 0;
    this.ldr = 0;
    this.dfr = 0xffffffff;
    this.svr = 0xff;
    this.isr.reset();
    this.tmr.reset();
    this.irr.reset();
    this.esrLatched = 0;
    this.esrPending = 0;
    this.icrLow = 0;
    this.icrHigh = 0;
    this.lvt.fill(LVT_MASKED);
    this.divideConfig = 0;
    this.timerInitial = 0;
    this.timerRunning = false;
    this.scheduler.cancel(this.timer);
    this.nmiPending = false;
    this.extIntRequested = false;
  }

  // ---- what the interrupt router asks ----

  /** Highest-priority vector in IRR that PPR lets through, or -1. */
  deliverableVector(): number {
    if (!this.enabled) return -1;
    const vector = this.irr.highest();
    if (vector < 0) return -1;
    return (vector & 0xf0) > (this.processorPriority() & 0xf0) ? vector : -1;
  }

  hasDeliverableInterrupt(): boolean {
    return this.deliverableVector() >= 0;
  }

  /**
   * The INTA cycle for an APIC interrupt: moves the highest deliverable vector from IRR to ISR and returns it.
   * With nothing deliverable (raised TPR between INTR and INTA) it returns the spurious vector and changes
   * nothing (SDM "Spurious Interrupt").
   */
  acknowledge(): number {
    const vector = this.deliverableVector();
    if (vector < 0) return this.svr & 0xff;
    this.irr.clear(vector);
    this.isr.set(vector);
    this.notify();
    return vector;
  }

  /** True when LVT LINT0 passes the 8259's INTR through as ExtINT, or an ExtINT message is waiting. */
  wantsExtInt(): boolean {
    if (!this.enabled) return false;
    if (this.extIntRequested) return true;
    const lint0 = this.lvt[Lvt.Lint0];
    return (lint0 & LVT_MASKED) === 0 && ((lint0 >>> 8) & 7) === DeliveryMode.ExtInt;
  }

  /** The CPU has run the INTA cycle against the 8259 for an ExtINT interrupt. */
  extIntAcknowledged(): void {
    this.extIntRequested = false;
  }

  /** Takes a pending NMI (LVT LINT1/NMI, NMI IPI, NMI message). */
  takeNmi(): boolean {
    const pending = this.nmiPending;
    this.nmiPending = false;
    return pending;
  }

  get hasPendingNmi(): boolean {
    return this.nmiPending;
  }

  /** Drives the LINT0 (pin 0) or LINT1 (pin 1) input; the electrical level, polarity applies as programmed. */
  setLint(pin: 0 | 1, level: boolean): void {
    const previous = this.lintLevel[pin];
    this.lintLevel[pin] = level;
    const entry = this.lvt[pin === 0 ? Lvt.Lint0 : Lvt.Lint1];
    const activeLow = (entry & LVT_ACTIVE_LOW) !== 0;
    const asserted = level !== activeLow;
    const wasAsserted = previous !== activeLow;
    const mode = (entry >>> 8) & 7;
    // SDM "Local Vector Table": LINT1 supports edge only; ExtINT is level-sensitive and handled by the router.
    const levelTriggered = pin === 0 && mode === DeliveryMode.Fixed && (entry & LVT_LEVEL_TRIGGERED) !== 0;
    if (mode === DeliveryMode.ExtInt) {
      this.notify();
      return;
    }
    if (!this.hardwareEnabled) return;
    if (levelTriggered) {
      if (asserted) this.lintLevelAsserted(pin);
      return;
    }
    if (asserted && !wasAsserted) this.signalLvt(pin === 0 ? Lvt.Lint0 : Lvt.Lint1);
  }

  private lintLevelAsserted(pin: 0 | 1): void {
    const index = pin === 0 ? Lvt.Lint0 : Lvt.Lint1;
    const entry = this.lvt[index];
    if ((entry & (LVT_MASKED | LVT_REMOTE_IRR)) !== 0) return;
    if (this.acceptFixed(entry & 0xff, true)) this.lvt[index] = entry | LVT_REMOTE_IRR;
  }

  // ---- incoming messages ----

  receiveMessage(message: ApicMessage): boolean {
    if (!this.hardwareEnabled) return false;
    if (!this.matchesDestination(message.destination, message.logicalDestination)) {
      this.counters.unmatchedMessages++;
      return false;
    }
    return this.acceptByMode(message.deliveryMode, message.vector, message.levelTriggered);
  }

  /**
   * An MSI: a 32-bit write to 0xFEExxxxx. Address bits 19:12 are the destination ID and bit 2 the destination
   * mode; data bits 7:0 are the vector, 10:8 the delivery mode, 14 the level and 15 the trigger mode
   * (SDM "Message Signalled Interrupts").
   */
  deliverMsi(address: number, data: number): void {
    if (address >>> 20 !== 0xfee) {
      this.counters.unmatchedMessages++;
      return;
    }
    const levelTriggered = (data & (1 << 15)) !== 0;
    if (levelTriggered && (data & (1 << 14)) === 0) return;
    this.receiveMessage({
      vector: data & 0xff,
      deliveryMode: (data >>> 8) & 7,
      levelTriggered,
      destination: (address >>> 12) & 0xff,
      logicalDestination: (address & (1 << 2)) !== 0,
    });
  }

  matchesDestination(destination: number, logical: boolean): boolean {
    if (destination === 0xff) return true;
    if (!logical) return destination === this.id;
    const logicalId = this.ldr >>> 24;
    if (this.dfr >>> 28 === 0xf) return (logicalId & destination) !== 0;
    const cluster = destination >>> 4;
    return (cluster === 0xf || cluster === logicalId >>> 4) && (destination & logicalId & 0xf) !== 0;
  }

  private acceptByMode(mode: number, vector: number, levelTriggered: boolean): boolean {
    switch (mode) {
      case DeliveryMode.Fixed:
      case DeliveryMode.LowestPriority:
        return this.acceptFixed(vector, levelTriggered);
      case DeliveryMode.Nmi:
        this.nmiPending = true;
        this.notify();
        return true;
      case DeliveryMode.ExtInt:
        this.extIntRequested = true;
        this.notify();
        return true;
      case DeliveryMode.Smi:
        this.counters.smis++;
        return true;
      case DeliveryMode.Init:
        this.counters.initIpis++;
        return true;
      case DeliveryMode.StartUp:
        this.counters.startupIpis++;
        return true;
      default:
        return false;
    }
  }

  /** Sets IRR (and TMR per the trigger mode, SDM "Interrupt Acceptance for Fixed Interrupts"). */
  private acceptFixed(vector: number, levelTriggered: boolean): boolean {
    vector &= 0xff;
    if (vector < 16) {
      this.raiseError(ApicError.ReceiveIllegalVector);
      return false;
    }
    if (this.irr.has(vector)) this.counters.mergedInterrupts++;
    this.irr.set(vector);
    if (levelTriggered) this.tmr.set(vector);
    else this.tmr.clear(vector);
    this.notify();
    return true;
  }

  /** An interrupt from a local source through its LVT entry (masked entries deliver nothing). */
  private signalLvt(index: number): void {
    const entry = this.lvt[index];
    if ((entry & LVT_MASKED) !== 0 || !this.hardwareEnabled) return;
    const hasDeliveryMode = index !== Lvt.Timer && index !== Lvt.Error;
    const mode = hasDeliveryMode ? (entry >>> 8) & 7 : DeliveryMode.Fixed;
    this.acceptByMode(mode, entry & 0xff, false);
  }

  private raiseError(bits: number): void {
    const fresh = bits & ~this.esrPending;
    this.esrPending |= bits;
    if (fresh !== 0) this.signalLvt(Lvt.Error);
  }

  private notify(): void {
    this.onPendingChange?.();
  }

  // ---- priorities (SDM "Task and Processor Priorities") ----

  processorPriority(): number {
    const isrv = Math.max(this.isr.highest(), 0);
    return this.tpr >>> 4 >= isrv >>> 4 ? this.tpr : isrv & 0xf0;
  }

  arbitrationPriority(): number {
    const isrClass = Math.max(this.isr.highest(), 0) >>> 4;
    const irrClass = Math.max(this.irr.highest(), 0) >>> 4;
    const tprClass = this.tpr >>> 4;
    if (tprClass >= irrClass && tprClass > isrClass) return this.tpr;
    return Math.max(tprClass, isrClass, irrClass) << 4;
  }

  private endOfInterrupt(): void {
    const vector = this.isr.highest();
    if (vector < 0) return;
    this.isr.clear(vector);
    if (this.tmr.has(vector)) {
      this.tmr.clear(vector);
      for (const index of [Lvt.Lint0, Lvt.Lint1]) {
        const entry = this.lvt[index];
        if ((entry & LVT_REMOTE_IRR) !== 0 && (entry & 0xff) === vector) this.lvt[index] = entry & ~LVT_REMOTE_IRR;
      }
      this.onLevelEoi?.(vector);
      if (this.lintLevel[0]) this.setLint(0, true);
    }
    this.notify();
  }

  // ---- timer ----

  private get timerTickNs(): number {
    const code = ((this.divideConfig & 8) >>> 1) | (this.divideConfig & 3);
    const divisor = 1 << ((code + 1) & 7);
    return (1e9 / this.busFrequencyHz) * divisor;
  }

  private get timerPeriodic(): boolean {
    return (this.lvt[Lvt.Timer] & LVT_TIMER_PERIODIC) !== 0;
  }

  /** The current-count register as a function of scheduler time. */
  timerCurrentCount(now = this.scheduler.now()): number {
    if (!this.timerRunning || this.timerInitial === 0) return 0;
    const elapsed = Math.floor((now - this.timerStartNs) / this.timerTickNs);
    if (this.timerPeriodic) return this.timerInitial - (elapsed % this.timerInitial);
    return Math.max(0, this.timerInitial - elapsed);
  }

  private startTimer(now: number, initial: number): void {
    this.timerInitial = initial >>> 0;
    this.timerStartNs = now;
    this.timerRunning = this.timerInitial !== 0;
    this.armTimer(now);
  }

  private armTimer(now: number): void {
    if (!this.timerRunning) {
      this.scheduler.cancel(this.timer);
      return;
    }
    const periodNs = this.timerInitial * this.timerTickNs;
    const elapsedPeriods = Math.floor((now - this.timerStartNs) / periodNs);
    if (!this.timerPeriodic) {
      if (elapsedPeriods >= 1) {
        this.timerRunning = false;
        this.scheduler.cancel(this.timer);
      } else {
        this.scheduler.arm(this.timer, this.timerStartNs + periodNs);
      }
      return;
    }
    this.scheduler.arm(this.timer, this.timerStartNs + (elapsedPeriods + 1) * periodNs);
  }

  /** Keeps the current count across a change of divider or mode. */
  private rebaseTimer(change: () => void): void {
    const now = this.scheduler.now();
    const countBefore = this.timerCurrentCount(now);
    change();
    if (!this.timerRunning) return;
    const count = Math.min(countBefore, this.timerInitial);
    if (count === 0) {
      this.timerRunning = false;
      this.scheduler.cancel(this.timer);
      return;
    }
    this.timerStartNs = now - (this.timerInitial - count) * this.timerTickNs;
    this.armTimer(now);
  }

  private timerExpired(now: number): void {
    if (!this.timerRunning) return;
    if (!this.timerPeriodic) this.timerRunning = false;
    this.signalLvt(Lvt.Timer);
    this.armTimer(now);
  }

  // ---- registers ----

  private mmioRead(offset: number, _size: SmallAccessSize): number {
    const value = this.readRegister(offset);
    if (value === undefined) {
      this.raiseError(ApicError.IllegalRegisterAddress);
      return 0;
    }
    return value;
  }

  private mmioPeek(offset: number, size: SmallAccessSize): number {
    const aligned = offset & ~3;
    const value = this.readRegister(aligned) ?? 0;
    const shift = (offset - aligned) * 8;
    return size === 4 ? value : (value >>> shift) & ((1 << (size * 8)) - 1);
  }

  /** A register's value with no side effect; undefined for reserved slots. */
  private readRegister(offset: number): number | undefined {
    if ((offset & 0xf) !== 0) return 0;
    if (offset >= Reg.ISR && offset < Reg.ISR + 0x80) return this.isr.words[(offset - Reg.ISR) >>> 4];
    if (offset >= Reg.TMR && offset < Reg.TMR + 0x80) return this.tmr.words[(offset - Reg.TMR) >>> 4];
    if (offset >= Reg.IRR && offset < Reg.IRR + 0x80) return this.irr.words[(offset - Reg.IRR) >>> 4];
    if (offset >= Reg.LVT_TIMER && offset <= Reg.LVT_ERROR) return this.lvt[(offset - Reg.LVT_TIMER) >>> 4];
    switch (offset) {
      case Reg.ID:
        return (this.id << 24) >>> 0;
      case Reg.VERSION:
        return LAPIC_VERSION | (LAPIC_MAX_LVT_ENTRY << 16);
      case Reg.TPR:
        return this.tpr;
      case Reg.APR:
        return this.arbitrationPriority();
      case Reg.PPR:
        return this.processorPriority();
      case Reg.EOI:
      case Reg.RRD:
        return 0;
      case Reg.LDR:
        return this.ldr;
      case Reg.DFR:
        return this.dfr;
      case Reg.SVR:
        return this.svr;
      case Reg.ESR:
        return this.esrLatched;
      case Reg.ICR_LOW:
        return this.icrLow;
      case Reg.ICR_HIGH:
        return this.icrHigh;
      case Reg.TIMER_INITIAL_COUNT:
        return this.timerInitial;
      case Reg.TIMER_CURRENT_COUNT:
        return this.timerCurrentCount();
      case Reg.TIMER_DIVIDE:
        return this.divideConfig;
      default:
        return undefined;
    }
  }

  private mmioWrite(offset: number, _size: SmallAccessSize, value: number): void {
    if ((offset & 0xf) !== 0) return;
    if (!this.writeRegister(offset, value >>> 0)) this.raiseError(ApicError.IllegalRegisterAddress);
  }

  /** A guest write with its side effects; false for reserved slots. Read-only registers ignore writes. */
  private writeRegister(offset: number, value: number): boolean {
    if (offset >= Reg.ISR && offset < Reg.IRR + 0x80) return true;
    if (offset >= Reg.LVT_TIMER && offset <= Reg.LVT_ERROR) {
      this.writeLvt((offset - Reg.LVT_TIMER) >>> 4, value);
      return true;
    }
    switch (offset) {
      case Reg.ID:
        this.id = value >>> 24;
        this.cachedDescription = undefined;
        return true;
      case Reg.TPR:
        this.tpr = value & 0xff;
        this.notify();
        return true;
      case Reg.EOI:
        this.endOfInterrupt();
        return true;
      case Reg.LDR:
        this.ldr = (value & 0xff000000) >>> 0;
        return true;
      case Reg.DFR:
        this.dfr = (value | 0x0fffffff) >>> 0;
        return true;
      case Reg.SVR:
        this.writeSvr(value);
        return true;
      case Reg.ESR:
        // SDM "Error Handling": a write loads ESR with the errors found since the last write and clears them.
        this.esrLatched = this.esrPending;
        this.esrPending = 0;
        return true;
      case Reg.ICR_LOW:
        this.icrLow = value & ICR_LOW_WRITABLE;
        this.sendIpi();
        return true;
      case Reg.ICR_HIGH:
        this.icrHigh = (value & 0xff000000) >>> 0;
        return true;
      case Reg.TIMER_INITIAL_COUNT:
        this.startTimer(this.scheduler.now(), value);
        return true;
      case Reg.TIMER_DIVIDE:
        this.rebaseTimer(() => (this.divideConfig = value & DCR_WRITABLE));
        return true;
      case Reg.VERSION:
      case Reg.APR:
      case Reg.PPR:
      case Reg.RRD:
      case Reg.TIMER_CURRENT_COUNT:
        return true;
      default:
        return false;
    }
  }

  private writeSvr(value: number): void {
    this.svr = value & 0x3ff;
    // SDM "Local APIC State After It Has Been Software Disabled": every LVT mask bit is set.
    if (!this.softwareEnabled) for (let i = 0; i < this.lvt.length; i++) this.lvt[i] |= LVT_MASKED;
    this.notify();
  }

  private writeLvt(index: number, value: number): void {
    const readOnly = this.lvt[index] & ~LVT_WRITABLE[index];
    let entry = (value & LVT_WRITABLE[index]) | readOnly;
    if (!this.softwareEnabled) entry |= LVT_MASKED;
    if (index === Lvt.Timer) this.rebaseTimer(() => (this.lvt[index] = entry));
    else this.lvt[index] = entry;
    if (index === Lvt.Lint0 || index === Lvt.Lint1) this.notify();
  }

  private sendIpi(): void {
    const vector = this.icrLow & 0xff;
    const mode = (this.icrLow >>> 8) & 7;
    const shorthand = (this.icrLow >>> 18) & 3;
    const levelTriggered = (this.icrLow & LVT_LEVEL_TRIGGERED) !== 0;
    const assert = (this.icrLow & (1 << 14)) !== 0;
    if ((mode === DeliveryMode.Fixed || mode === DeliveryMode.LowestPriority) && vector < 16) {
      this.raiseError(ApicError.SendIllegalVector);
      return;
    }
    // An INIT level de-assert (level-triggered, level 0) only resets arbitration IDs.
    if (mode === DeliveryMode.Init && levelTriggered && !assert) return;
    const toSelf =
      shorthand === 1 ||
      shorthand === 2 ||
      (shorthand === 0 && this.matchesDestination(this.icrHigh >>> 24, (this.icrLow & (1 << 11)) !== 0));
    if (!toSelf) return;
    this.acceptByMode(mode, vector, false);
  }

  // ---- description and inspection ----

  get description(): DeviceDescription {
    this.cachedDescription ??= describeLocalApic(this.base);
    return this.cachedDescription;
  }

  peekRegister(register: RegisterDescription): bigint {
    return BigInt(this.readRegister(register.offset) ?? 0);
  }

  pokeRegister(register: RegisterDescription, value: bigint, path: 'guest' | 'debugger'): void {
    const v = Number(BigInt.asUintN(32, value));
    if (path === 'guest') {
      this.mmioWrite(register.offset, 4, v);
      return;
    }
    const offset = register.offset;
    const vectorSet =
      offset >= Reg.ISR && offset < Reg.ISR + 0x80
        ? this.isr
        : offset >= Reg.TMR && offset < Reg.TMR + 0x80
          ? this.tmr
          : offset >= Reg.IRR && offset < Reg.IRR + 0x80
            ? this.irr
            : undefined;
    if (vectorSet) {
      vectorSet.words[(offset & 0x70) >>> 4] = v;
      this.notify();
      return;
    }
    if (offset >= Reg.LVT_TIMER && offset <= Reg.LVT_ERROR) {
      const index = (offset - Reg.LVT_TIMER) >>> 4;
      if (index === Lvt.Timer) this.rebaseTimer(() => (this.lvt[index] = v));
      else this.lvt[index] = v;
      this.notify();
      return;
    }
    switch (offset) {
      case Reg.SVR:
        this.svr = v & 0x3ff;
        this.notify();
        return;
      case Reg.ESR:
        this.esrLatched = v;
        return;
      case Reg.ICR_LOW:
        this.icrLow = v & ICR_LOW_WRITABLE;
        return;
      case Reg.TIMER_INITIAL_COUNT:
        this.rebaseTimer(() => (this.timerInitial = v));
        return;
      case Reg.TIMER_CURRENT_COUNT:
        this.setCurrentCount(v);
        return;
      case Reg.EOI:
      case Reg.VERSION:
      case Reg.APR:
      case Reg.PPR:
      case Reg.RRD:
        return;
      default:
        this.writeRegister(offset, v);
    }
  }

  private setCurrentCount(count: number): void {
    const now = this.scheduler.now();
    const clamped = Math.min(count, this.timerInitial);
    this.timerRunning = clamped > 0;
    this.timerStartNs = now - (this.timerInitial - clamped) * this.timerTickNs;
    this.armTimer(now);
  }

  /** Register state that is not visible through registers: the timer and input latches. */
  get internalState(): { timerRunning: boolean; nmiPending: boolean; extIntRequested: boolean; lint: boolean[] } {
    return {
      timerRunning: this.timerRunning,
      nmiPending: this.nmiPending,
      extIntRequested: this.extIntRequested,
      lint: [...this.lintLevel],
    };
  }
}

// ---- register descriptions ----

const deliveryModeEnum: readonly EnumValue[] = [
  { value: 0, name: 'Fixed' },
  { value: 1, name: 'LowestPriority' },
  { value: 2, name: 'SMI' },
  { value: 4, name: 'NMI' },
  { value: 5, name: 'INIT' },
  { value: 6, name: 'StartUp' },
  { value: 7, name: 'ExtINT' },
];

function field(
  name: string,
  msb: number,
  lsb: number,
  access: FieldDescription['access'],
  doc: string,
  extra: Partial<FieldDescription> = {},
): FieldDescription {
  return { name, lsb, msb, access, doc, ...extra };
}

const vectorField = (access: FieldDescription['access'] = 'RW') =>
  field('VECTOR', 7, 0, access, 'Interrupt vector', { format: 'hex' });
const statusField = field('DELIVERY_STATUS', 12, 12, 'RO', '1 = send pending', {
  enum: [
    { value: 0, name: 'Idle' },
    { value: 1, name: 'SendPending' },
  ],
});
const maskField = field('MASK', 16, 16, 'RW', '1 = masked', {
  enum: [
    { value: 0, name: 'NotMasked' },
    { value: 1, name: 'Masked' },
  ],
});
const deliveryModeField = field('DELIVERY_MODE', 10, 8, 'RW', 'How the interrupt is delivered', {
  enum: deliveryModeEnum,
});

function lintFields(): FieldDescription[] {
  return [
    vectorField(),
    deliveryModeField,
    statusField,
    field('POLARITY', 13, 13, 'RW', 'Input pin polarity', {
      enum: [
        { value: 0, name: 'ActiveHigh' },
        { value: 1, name: 'ActiveLow' },
      ],
    }),
    field('REMOTE_IRR', 14, 14, 'RO', 'Level-triggered fixed interrupt accepted, cleared by EOI'),
    field('TRIGGER_MODE', 15, 15, 'RW', 'Trigger mode (fixed delivery only)', {
      enum: [
        { value: 0, name: 'Edge' },
        { value: 1, name: 'Level' },
      ],
    }),
    maskField,
  ];
}

function reg(
  name: string,
  offset: number,
  access: RegisterDescription['access'],
  doc: string,
  fields: FieldDescription[],
  reset?: bigint,
): RegisterDescription {
  return reset === undefined
    ? { name, offset, width: 32, access, doc, fields }
    : { name, offset, width: 32, access, doc, fields, reset };
}

function vectorBankRegisters(prefix: string, base: number, doc: string): RegisterDescription[] {
  return Array.from({ length: 8 }, (_, i) =>
    reg(
      `${prefix}${i}`,
      base + i * 0x10,
      'RO',
      `${doc}, vectors ${i * 32}-${i * 32 + 31}`,
      [field('BITS', 31, 0, 'RO', `Bit n = vector ${i * 32} + n`, { format: 'hex' })],
      0n,
    ),
  );
}

export function describeLocalApic(base = LAPIC_DEFAULT_BASE): DeviceDescription {
  const priority = (name: string) => [
    field(`${name}_SUBCLASS`, 3, 0, 'RO', 'Priority sub-class'),
    field(`${name}_CLASS`, 7, 4, 'RO', 'Priority class (vector bits 7:4)'),
  ];
  return {
    name: 'lapic',
    title: 'Local APIC (xAPIC)',
    space: 'mmio',
    base,
    size: LAPIC_WINDOW_SIZE,
    doc: 'Integrated local APIC, version 0x14. Only aligned 32-bit accesses; registers sit at 16-byte strides.',
    registers: [
      reg('ID', Reg.ID, 'RW', 'Local APIC ID', [field('APIC_ID', 31, 24, 'RW', 'APIC ID')]),
      reg('VERSION', Reg.VERSION, 'RO', 'Local APIC version', [
        field('VERSION', 7, 0, 'RO', 'Version (0x1X = integrated APIC)', { format: 'hex' }),
        field('MAX_LVT', 23, 16, 'RO', 'Number of LVT entries minus one', { explain: (v) => `${v + 1n} LVT entries` }),
        field('EOI_SUPPRESS_CAP', 24, 24, 'RO', 'EOI-broadcast suppression supported'),
      ]),
      reg('TPR', Reg.TPR, 'RW', 'Task priority', [
        field('TP_SUBCLASS', 3, 0, 'RW', 'Task priority sub-class'),
        field('TP_CLASS', 7, 4, 'RW', 'Task priority class: vectors of this class and below are held'),
      ]),
      reg('APR', Reg.APR, 'RO', 'Arbitration priority', priority('AP')),
      reg('PPR', Reg.PPR, 'RO', 'Processor priority = max(TPR, class of highest ISR vector)', priority('PP')),
      reg('EOI', Reg.EOI, 'WO', 'End of interrupt: a write retires the highest ISR vector', [
        field('EOI', 31, 0, 'WO', 'Any value'),
      ]),
      reg('RRD', Reg.RRD, 'RO', 'Remote read (not supported, reads 0)', [field('VALUE', 31, 0, 'RO', 'Remote data')]),
      reg('LDR', Reg.LDR, 'RW', 'Logical destination', [
        field('LOGICAL_ID', 31, 24, 'RW', 'Logical APIC ID', { format: 'hex' }),
      ]),
      reg(
        'DFR',
        Reg.DFR,
        'RW',
        'Destination format',
        [
          field('MODEL', 31, 28, 'RW', 'Logical destination model', {
            enum: [
              { value: 0, name: 'Cluster' },
              { value: 15, name: 'Flat' },
            ],
          }),
        ],
        0xffffffffn,
      ),
      reg(
        'SVR',
        Reg.SVR,
        'RW',
        'Spurious interrupt vector',
        [
          field('SPURIOUS_VECTOR', 7, 0, 'RW', 'Vector returned for a spurious INTA', { format: 'hex' }),
          field('APIC_ENABLE', 8, 8, 'RW', 'APIC software enable', {
            enum: [
              { value: 0, name: 'SoftwareDisabled' },
              { value: 1, name: 'SoftwareEnabled' },
            ],
          }),
          field('FOCUS_CHECK_DISABLE', 9, 9, 'RW', 'Focus processor checking disabled'),
        ],
        0xffn,
      ),
      ...vectorBankRegisters('ISR', Reg.ISR, 'In-service'),
      ...vectorBankRegisters('TMR', Reg.TMR, 'Trigger mode (1 = level)'),
      ...vectorBankRegisters('IRR', Reg.IRR, 'Interrupt request'),
      reg('ESR', Reg.ESR, 'RW', 'Error status; write to latch errors found since the last write', [
        field('SEND_CHECKSUM', 0, 0, 'RO', 'Send checksum error (P6 only)'),
        field('RECEIVE_CHECKSUM', 1, 1, 'RO', 'Receive checksum error (P6 only)'),
        field('SEND_ACCEPT', 2, 2, 'RO', 'Send accept error (P6 only)'),
        field('RECEIVE_ACCEPT', 3, 3, 'RO', 'Receive accept error (P6 only)'),
        field('REDIRECTABLE_IPI', 4, 4, 'RO', 'Lowest-priority IPI not supported'),
        field('SEND_ILLEGAL_VECTOR', 5, 5, 'RO', 'Sent a vector below 16'),
        field('RECEIVE_ILLEGAL_VECTOR', 6, 6, 'RO', 'Received a vector below 16'),
        field('ILLEGAL_REGISTER', 7, 7, 'RO', 'Accessed a reserved register'),
      ]),
      reg('ICR_LOW', Reg.ICR_LOW, 'RW', 'Interrupt command, low half; a write sends the IPI', [
        vectorField(),
        deliveryModeField,
        field('DEST_MODE', 11, 11, 'RW', 'Destination mode', {
          enum: [
            { value: 0, name: 'Physical' },
            { value: 1, name: 'Logical' },
          ],
        }),
        statusField,
        field('LEVEL', 14, 14, 'RW', 'Level (0 = de-assert, for INIT level de-assert)'),
        field('TRIGGER_MODE', 15, 15, 'RW', 'Trigger mode', {
          enum: [
            { value: 0, name: 'Edge' },
            { value: 1, name: 'Level' },
          ],
        }),
        field('SHORTHAND', 19, 18, 'RW', 'Destination shorthand', {
          enum: [
            { value: 0, name: 'NoShorthand' },
            { value: 1, name: 'Self' },
            { value: 2, name: 'AllIncludingSelf' },
            { value: 3, name: 'AllExcludingSelf' },
          ],
        }),
      ]),
      reg('ICR_HIGH', Reg.ICR_HIGH, 'RW', 'Interrupt command, high half', [
        field('DESTINATION', 31, 24, 'RW', 'Destination APIC ID or logical set', { format: 'hex' }),
      ]),
      reg(
        'LVT_TIMER',
        Reg.LVT_TIMER,
        'RW',
        'LVT timer',
        [
          vectorField(),
          statusField,
          maskField,
          field('TIMER_MODE', 18, 17, 'RW', 'Timer mode (TSC-deadline is not supported)', {
            enum: [
              { value: 0, name: 'OneShot' },
              { value: 1, name: 'Periodic' },
            ],
          }),
        ],
        0x10000n,
      ),
      reg(
        'LVT_THERMAL',
        0x330,
        'RW',
        'LVT thermal sensor (never signalled)',
        [vectorField(), deliveryModeField, statusField, maskField],
        0x10000n,
      ),
      reg(
        'LVT_PMC',
        0x340,
        'RW',
        'LVT performance counter (never signalled)',
        [vectorField(), deliveryModeField, statusField, maskField],
        0x10000n,
      ),
      reg('LVT_LINT0', 0x350, 'RW', 'LVT LINT0 (8259 INTR on a PC)', lintFields(), 0x10000n),
      reg('LVT_LINT1', 0x360, 'RW', 'LVT LINT1 (NMI on a PC)', lintFields(), 0x10000n),
      reg('LVT_ERROR', Reg.LVT_ERROR, 'RW', 'LVT error', [vectorField(), statusField, maskField], 0x10000n),
      reg('TIMER_INITIAL_COUNT', Reg.TIMER_INITIAL_COUNT, 'RW', 'Timer initial count; a write starts the timer', [
        field('COUNT', 31, 0, 'RW', 'Initial count (0 stops the timer)', { format: 'dec' }),
      ]),
      reg('TIMER_CURRENT_COUNT', Reg.TIMER_CURRENT_COUNT, 'RO', 'Timer current count', [
        field('COUNT', 31, 0, 'RO', 'Current count', { format: 'dec' }),
      ]),
      reg('TIMER_DIVIDE', Reg.TIMER_DIVIDE, 'RW', 'Timer divide configuration', [
        field('DIVIDE_LOW', 1, 0, 'RW', 'Divide value bits 1:0'),
        field('DIVIDE_HIGH', 3, 3, 'RW', 'Divide value bit 2'),
      ]),
    ],
  };
}
