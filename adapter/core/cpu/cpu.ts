/**
 * The i686 CPU: architectural state, memory access paths (fast TLB hits, slow path to devices), the run loop over
 * translated blocks, and exception and interrupt delivery with double- and triple-fault escalation.
 */
import type { PhysicalAddressSpace } from '../bus/physical';
import { PageKind } from '../bus/physical';
import type { PortSpace } from '../bus/ports';
import type { InterruptAcceptor } from '../devices/interrupts';
import type { CpuCore } from './cpu-api';
import { CcOp, materialize } from './flags';
import { Fpu } from './fpu';
import { Mmu, TLB_INVALID } from './mmu';
import { MsrFile } from './msr';
import type { Seg } from './state';
import {
  ARITH_FLAGS,
  Cr0,
  EFLAGS_WRITABLE,
  EXCEPTION_NAMES,
  Flag,
  GuestFault,
  SegmentCache,
  Vec,
  hasErrorCode,
} from './state';
import { checkIoPermission, deliverInterrupt } from './system';
import { Translator } from './translator';

/** Translation-mode bit: alignment checking is active, so translated code checks data alignment. */
export const ALIGNMENT_CHECK_MODE = 1 << 12;

export type InterruptKind = 'exception' | 'hardware' | 'software' | 'int3' | 'into' | 'icebp';

/** Why `run` returned. */
export const enum RunExit {
  /** The instruction budget ran out. */
  Budget = 0,
  /** HLT with nothing to do until an interrupt arrives. */
  Halted = 1,
  /** Something asked the CPU to stop after an instruction (watchpoint, hook `break`, pause, breakpoint). */
  Stopped = 2,
  /** The machine stopped for good (triple fault, shutdown, internal error): see `stopReason`. */
  Shutdown = 3,
}

/** Thrown by shutdown(): unwinds out of whatever the CPU was doing. */
export class MachineStop {
  constructor(readonly reason: string) {}
}

export class InternalError extends Error {}

export interface CpuOptions {
  /** Physical address space (RAM + MMIO). */
  phys: PhysicalAddressSpace;
  ports: PortSpace;
}

export class Cpu implements CpuCore {
  readonly regs = new Int32Array(8);
  eip = 0;
  /** EFLAGS; its six status flags are valid only while ccOp is CcOp.Eager (see flags.ts). */
  eflags = Flag.RESERVED1;
  ccOp: number = CcOp.Eager;
  ccA = 0;
  ccB = 0;
  ccRes = 0;
  readonly seg: SegmentCache[] = [0, 1, 2, 3, 4, 5].map(() => new SegmentCache());
  readonly gdtr = { base: 0, limit: 0xffff };
  readonly idtr = { base: 0, limit: 0x3ff };
  readonly ldtr = new SegmentCache();
  readonly tr = new SegmentCache();
  cr0 = Cr0.ET | Cr0.CD | Cr0.NW;
  cr2 = 0;
  cr3 = 0;
  cr4 = 0;
  /** DR0-DR7 (DR4/DR5 alias DR6/DR7 when CR4.DE is clear). */
  readonly dr = new Int32Array(8);
  cpl = 0;
  /** Instructions retired since reset. */
  icount = 0;
  /** run() returns once icount reaches this. */
  icountLimit = 0;
  halted = false;
  /** Interrupts are inhibited until after the next instruction (STI, MOV SS, POP SS). */
  interruptShadow = false;
  nmiPending = false;
  /** Set while an NMI handler runs, until IRET (SDM 6.7.1). */
  nmiBlocked = false;
  /** Set by a device access or the debugger: leave the run loop after the current instruction. */
  exitRequested = false;
  /** Ends the running block after the current instruction (device access, code write, stop request). */
  blockExit = false;
  stopReason = '';
  /** EIP of the instruction whose memory access is being performed on the slow path (for traces and hooks). */
  accessEip = 0;
  /** Instructions of the current block retired before the access in progress (for exact virtual time). */
  accessInsnInBlock = 0;
  /** True while translated code runs an instruction that can be restarted (watchpoints may stop before access). */
  stopBeforeAccessAllowed = false;
  /** Translation key bits (see modeKey()). */
  mode = 0;

  readonly phys: PhysicalAddressSpace;
  readonly ports: PortSpace;
  readonly mmu: Mmu;
  readonly fpu: Fpu;
  readonly msr: MsrFile;
  readonly translator: Translator;
  interrupts: InterruptAcceptor | undefined;
  /** Observers of exceptions (the debugger's exception breakpoints); return true to stop before delivery. */
  onException: ((vector: number, errorCode: number | undefined, eip: number) => boolean) | undefined;
  /** Called for port I/O permission checks in protected mode (installed by system.ts users). */
  ioPermission: ((port: number, size: 1 | 2 | 4) => void) | undefined;
  /** Exception that stopped the CPU before delivery (for the debugger). */
  pendingException: GuestFault | undefined;
  /** Why the last run stopped before an instruction: a debugger breakpoint address (linear), if any. */
  breakpointHit: number | undefined;

  constructor(options: CpuOptions) {
    this.phys = options.phys;
    this.ports = options.ports;
    this.mmu = new Mmu(this.phys, this);
    this.fpu = new Fpu(this);
    this.msr = new MsrFile(this);
    this.translator = new Translator(this);
    this.phys.ramWriteListener = (address, length) => this.translator.invalidate(address, length);
    this.ioPermission = (port, size) => checkIoPermission(this, port, size);
    this.reset();
  }

  /** The power-on state (SDM 9.1.1), in real mode at F000:FFF0. Loaders then set their own entry state. */
  reset(): void {
    this.regs.fill(0);
    this.regs[2] = 0x00000633; // EDX holds the CPU signature after reset: family 6, model 3, stepping 3
    this.eip = 0xfff0;
    this.eflags = Flag.RESERVED1;
    this.ccOp = CcOp.Eager;
    for (const s of this.seg) s.set(0, 0, 0xffff, 0x93);
    this.seg[1].set(0xf000, 0xffff0000, 0xffff, 0x9b);
    this.gdtr.base = 0;
    this.gdtr.limit = 0xffff;
    this.idtr.base = 0;
    this.idtr.limit = 0x3ff;
    this.ldtr.set(0, 0, 0xffff, 0x82);
    this.tr.set(0, 0, 0xffff, 0x8b);
    this.cr0 = Cr0.ET | Cr0.CD | Cr0.NW;
    this.cr2 = this.cr3 = this.cr4 = 0;
    this.dr.fill(0);
    this.dr[6] = 0xffff0ff0 | 0;
    this.dr[7] = 0x400;
    this.hardwareBreakpoints = [];
    this.dataBreakpoints = [];
    this.pendingDebugTrap = 0;
    this.mmu.slowLinearPages.clear();
    this.cpl = 0;
    this.halted = false;
    this.interruptShadow = false;
    this.nmiPending = this.nmiBlocked = false;
    this.exitRequested = false;
    this.stopReason = '';
    this.pendingException = undefined;
    this.fpu.reset();
    this.msr.reset();
    this.mmu.flushAll();
    this.segmentChanged();
  }

  get protectedMode(): boolean {
    return (this.cr0 & Cr0.PE) !== 0;
  }

  get vm86(): boolean {
    return (this.eflags & Flag.VM) !== 0;
  }

  // ---- flags -------------------------------------------------------------------------------------------------

  getEflags(): number {
    return materialize(this.ccOp, this.ccA, this.ccB, this.ccRes, this.eflags) | Flag.RESERVED1;
  }

  setEflags(value: number, mask: number): void {
    const current = this.getEflags();
    const m = mask & EFLAGS_WRITABLE;
    const next = ((current & ~m) | (value & m) | Flag.RESERVED1) & ~0xffc00028;
    this.eflags = next;
    this.ccOp = CcOp.Eager;
    if ((current ^ next) & Flag.VM) {
      this.cpl = next & Flag.VM ? 3 : this.cpl;
      this.segmentChanged();
    } else if ((current ^ next) & Flag.AC) this.segmentChanged();
  }

  /** Sets only the status flags (a helper computed them eagerly). */
  setStatusFlags(flags: number): void {
    this.eflags = (this.eflags & ~ARITH_FLAGS) | (flags & ARITH_FLAGS);
    this.ccOp = CcOp.Eager;
  }

  // ---- mode --------------------------------------------------------------------------------------------------

  setCpl(cpl: number): void {
    this.cpl = cpl & 3;
    this.segmentChanged();
  }

  /**
   * Recomputes the translation mode key: code and stack size, PE, CPL, VM, and which of the six segments are
   * "flat" (base 0, 4 GiB limit, usable for reads and writes), for which translated code skips segmentation.
   */
  segmentChanged(): void {
    let key = 0;
    const s = this.seg;
    if (s[1].big && this.protectedMode && !this.vm86) key |= 1;
    if (s[2].big && this.protectedMode && !this.vm86) key |= 2;
    if (this.protectedMode) key |= 4;
    key |= this.cpl << 3;
    if (this.vm86) key |= 32;
    // Alignment checking: CR0.AM, EFLAGS.AC and CPL 3 (SDM 6.15, #AC).
    if (this.cr0 & Cr0.AM && this.eflags & Flag.AC && this.cpl === 3) key |= ALIGNMENT_CHECK_MODE;
    if (this.protectedMode && !this.vm86) {
      for (let i = 0; i < 6; i++) {
        const c = s[i];
        const flatRange = c.valid && c.base === 0 && c.limit === 0xffffffff && c.present;
        const usable = i === 1 ? true : (c.access & 0x1a) === 0x12; // data, writable, expand-up
        if (flatRange && usable) key |= 64 << i;
      }
    }
    this.mode = key;
  }

  // ---- memory: helpers' path ---------------------------------------------------------------------------------

  readLinear(linear: number, size: 1 | 2 | 4, user: boolean): number {
    linear |= 0;
    if (this.mode & ALIGNMENT_CHECK_MODE && user && linear & (size - 1)) throw new GuestFault(Vec.AC, 0);
    const entry = this.mmu.tlbs[user ? 2 : 0][linear >>> 12];
    if ((entry & TLB_INVALID) === 0 && (linear & 0xfff) <= 0x1000 - size) {
      const p = (entry ^ linear) >>> 0;
      const ram = this.phys.ramView;
      return size === 4 ? ram.getUint32(p, true) : size === 2 ? ram.getUint16(p, true) : this.phys.ram[p];
    }
    return this.readSlow(linear, size, user);
  }

  writeLinear(linear: number, size: 1 | 2 | 4, value: number, user: boolean): void {
    linear |= 0;
    if (this.mode & ALIGNMENT_CHECK_MODE && user && linear & (size - 1)) throw new GuestFault(Vec.AC, 0);
    const entry = this.mmu.tlbs[user ? 3 : 1][linear >>> 12];
    if ((entry & TLB_INVALID) === 0 && (linear & 0xfff) <= 0x1000 - size) {
      const p = (entry ^ linear) >>> 0;
      const ram = this.phys.ramView;
      if (size === 4) ram.setUint32(p, value >>> 0, true);
      else if (size === 2) ram.setUint16(p, value & 0xffff, true);
      else this.phys.ram[p] = value;
      return;
    }
    this.writeSlow(linear, size, value, user);
  }

  readSys(linear: number, size: 1 | 2 | 4): number {
    return this.readLinear(linear, size, false);
  }

  writeSys(linear: number, size: 1 | 2 | 4, value: number): void {
    this.writeLinear(linear, size, value, false);
  }

  probeWrite(linear: number, length: number, user: boolean): void {
    const first = linear >>> 12;
    const last = ((linear + length - 1) >>> 0) >>> 12;
    this.mmu.translate(linear, true, user);
    if (last !== first) this.mmu.translate((last << 12) >>> 0, true, user);
  }

  /** The slow read path: TLB miss, MMIO, page-crossing. Page faults are raised before any device is touched. */
  readSlow(linear: number, size: number, user: boolean): number {
    linear >>>= 0;
    if (this.dataBreakpoints.length > 0) this.matchDataBreakpoints(linear, size, false);
    const offset = linear & 0xfff;
    if (offset + size > 0x1000) {
      const firstLength = 0x1000 - offset;
      const p1 = this.mmu.translate(linear, false, user);
      const p2 = this.mmu.translate((linear + firstLength) >>> 0, false, user);
      let value = 0;
      for (let i = 0; i < size; i++) {
        const p = i < firstLength ? p1 + i : p2 + (i - firstLength);
        value |= this.physRead(p >>> 0, 1) << (8 * i);
      }
      return value >>> 0;
    }
    return this.physRead(this.mmu.translate(linear, false, user), size);
  }

  writeSlow(linear: number, size: number, value: number, user: boolean): void {
    linear >>>= 0;
    if (this.dataBreakpoints.length > 0) this.matchDataBreakpoints(linear, size, true);
    const offset = linear & 0xfff;
    if (offset + size > 0x1000) {
      const firstLength = 0x1000 - offset;
      const p1 = this.mmu.translate(linear, true, user);
      const p2 = this.mmu.translate((linear + firstLength) >>> 0, true, user);
      for (let i = 0; i < size; i++) {
        const p = i < firstLength ? p1 + i : p2 + (i - firstLength);
        this.physWrite(p >>> 0, 1, (value >>> (8 * i)) & 0xff);
      }
      return;
    }
    this.physWrite(this.mmu.translate(linear, true, user), size, value);
  }

  physRead(physical: number, size: number): number {
    if (this.phys.pageKind[physical >>> 12] === PageKind.Ram && !this.mmu.slowPages[physical >>> 12]) {
      const v = this.phys.ramView;
      return size === 4
        ? v.getUint32(physical, true)
        : size === 2
          ? v.getUint16(physical, true)
          : this.phys.ram[physical];
    }
    this.blockExit = true;
    return Number(this.phys.read(physical, size as 1 | 2 | 4));
  }

  physWrite(physical: number, size: number, value: number): void {
    const page = physical >>> 12;
    if (this.phys.pageKind[page] === PageKind.Ram && !this.mmu.slowPages[page]) {
      const v = this.phys.ramView;
      if (size === 4) v.setUint32(physical, value >>> 0, true);
      else if (size === 2) v.setUint16(physical, value & 0xffff, true);
      else this.phys.ram[physical] = value;
      if (this.mmu.codePages[page]) this.translator.invalidate(physical, size);
      return;
    }
    this.blockExit = true;
    this.phys.write(physical, size as 1 | 2 | 4, value >>> 0);
  }

  // ---- ports -------------------------------------------------------------------------------------------------

  // ---- segmentation --------------------------------------------------------------------------------------------

  segBase(seg: number): number {
    return this.seg[seg].base;
  }

  /**
   * Checks an access of `size` bytes at `offset` through segment `seg` and returns the linear address
   * (SDM 5.3 limit checking, 5.4 type checking). #SS(0) for SS, #GP(0) otherwise.
   */
  segCheck(seg: number, offset: number, size: number, write: boolean): number {
    const s = this.seg[seg];
    const vector = seg === 2 ? Vec.SS : Vec.GP;
    offset >>>= 0;
    const last = offset + size - 1;
    if (!this.protectedMode || this.vm86) {
      if (last > s.limit) throw new GuestFault(vector, 0);
      return (s.base + offset) | 0;
    }
    if (!s.valid) throw new GuestFault(vector, 0);
    const type = s.access & 0x1f;
    if (type & 0x08) {
      // Code segment: never writable through a data access; readable only with the R bit.
      if (write || !(type & 2)) throw new GuestFault(vector, 0);
    } else if (write && !(type & 2)) throw new GuestFault(vector, 0);
    if (!(type & 0x08) && type & 0x04) {
      // Expand-down: valid offsets are limit+1 .. 0xFFFF or 0xFFFFFFFF (B bit).
      const upper = s.big ? 0xffffffff : 0xffff;
      if (offset <= s.limit || last > upper) throw new GuestFault(vector, 0);
    } else if (last > s.limit) throw new GuestFault(vector, 0);
    return (s.base + offset) | 0;
  }

  /** DR7 or DR0-3 changed: recompute where translated blocks must stop for instruction breakpoints. */
  debugRegistersChanged(): void {
    this.updateBreakpoints();
  }

  /** Linear addresses where execution stops for the debugger (in addition to DR0-DR3 instruction breakpoints). */
  readonly debuggerBreakpoints = new Set<number>();

  /** Enabled DR0-DR3 instruction breakpoints (R/W = 00): register index and linear address. */
  hardwareBreakpoints: { index: number; linear: number }[] = [];

  /** Enabled DR0-DR3 data breakpoints (R/W = 01 write, 11 read/write): linear ranges [start, end). */
  dataBreakpoints: { index: number; start: number; end: number; writeOnly: boolean }[] = [];
  /** DR6 bits of debug traps raised by the current instruction, delivered once it completes. */
  pendingDebugTrap = 0;

  updateBreakpoints(): void {
    // The run loop checks instruction breakpoints between blocks: leave a chain of blocks to pick them up.
    this.blockExit = true;
    this.hardwareBreakpoints = this.hardwareInstructionBreakpoints();
    this.dataBreakpoints = [];
    this.mmu.slowLinearPages.clear();
    const dr7 = this.dr[7];
    for (let i = 0; i < 4; i++) {
      const rw = (dr7 >>> (16 + i * 4)) & 3;
      if (!((dr7 >> (i * 2)) & 3) || (rw !== 1 && rw !== 3)) continue;
      // LEN 00/01/11 = 1/2/4 bytes; the address is aligned down to the length (SDM 17.2.5).
      const len = [1, 2, 8, 4][(dr7 >>> (18 + i * 4)) & 3];
      const start = (this.dr[i] & ~(len - 1)) >>> 0;
      this.dataBreakpoints.push({ index: i, start, end: start + len, writeOnly: rw === 1 });
      this.mmu.slowLinearPages.add(start >>> 12);
      this.mmu.slowLinearPages.add((start + len - 1) >>> 12);
    }
    this.mmu.flushAll();
    const all = new Set<number>(this.debuggerBreakpoints);
    for (const b of this.hardwareBreakpoints) all.add(b.linear);
    this.translator.setBreakpoints(all);
  }

  /** Replaces the debugger's instruction breakpoints (linear addresses). */
  setDebuggerBreakpoints(linears: Iterable<number>): void {
    this.debuggerBreakpoints.clear();
    for (const a of linears) this.debuggerBreakpoints.add(a | 0);
    this.updateBreakpoints();
  }

  /**
   * An instruction breakpoint in DR0-DR3 matching CS:EIP raises a #DB fault before the instruction, unless
   * EFLAGS.RF is set (SDM 17.3.1.1). Returns true when the #DB was delivered.
   */
  private checkHardwareBreakpoint(): boolean {
    if (this.eflags & Flag.RF) {
      this.eflags &= ~Flag.RF;
      return false;
    }
    const ip = this.linearIp;
    let hits = 0;
    for (const b of this.hardwareBreakpoints) if (b.linear === ip) hits |= 1 << b.index;
    if (!hits) return false;
    this.dr[6] = (this.dr[6] & ~0xf) | hits;
    this.deliverException(new GuestFault(Vec.DB));
    return true;
  }

  /** A data access overlapping a DR0-DR3 range arms a #DB trap for after the instruction (SDM 17.3.1.2). */
  private matchDataBreakpoints(linear: number, size: number, write: boolean): void {
    for (const b of this.dataBreakpoints) {
      if ((b.writeOnly && !write) || linear >= b.end || linear + size <= b.start) continue;
      this.pendingDebugTrap |= 1 << b.index;
      this.blockExit = true;
    }
  }

  /** Delivers the #DB trap armed by data breakpoints or single-stepping, with EIP at the next instruction. */
  private deliverDebugTrap(): void {
    const bits = this.pendingDebugTrap;
    this.pendingDebugTrap = 0;
    this.dr[6] = (this.dr[6] & ~0x400f) | bits;
    this.deliverException(new GuestFault(Vec.DB));
  }

  /** Runs one instruction with EFLAGS.TF set: a single-step #DB trap follows it (DR6.BS, SDM 17.3.1.4). */
  private singleStepTrap(): void {
    const before = this.icount;
    this.translator.executeOne();
    if (this.icount !== before) this.pendingDebugTrap |= 0x4000;
  }

  /** DR0-DR3 entries enabled in DR7 with R/W = 00 (instruction execution). */
  hardwareInstructionBreakpoints(): { index: number; linear: number }[] {
    const dr7 = this.dr[7];
    const out: { index: number; linear: number }[] = [];
    for (let i = 0; i < 4; i++) {
      const enabled = (dr7 >> (i * 2)) & 3;
      const rw = (dr7 >>> (16 + i * 4)) & 3;
      if (enabled && rw === 0) out.push({ index: i, linear: this.dr[i] | 0 });
    }
    return out;
  }

  portRead(port: number, size: 1 | 2 | 4): number {
    this.accessEip = this.eip;
    if (this.protectedMode && (this.cpl > ((this.eflags >> 12) & 3) || this.vm86)) this.ioPermission?.(port, size);
    return this.ports.read(port, size);
  }

  portWrite(port: number, size: 1 | 2 | 4, value: number): void {
    this.accessEip = this.eip;
    if (this.protectedMode && (this.cpl > ((this.eflags >> 12) & 3) || this.vm86)) this.ioPermission?.(port, size);
    this.ports.write(port, size, value);
  }

  // ---- faults ------------------------------------------------------------------------------------------------

  raise(vector: number, errorCode?: number): never {
    throw new GuestFault(vector, errorCode);
  }

  shutdown(reason: string): never {
    throw new MachineStop(reason);
  }

  /** Exception classes for double-fault escalation (SDM table 6-5). */
  private static faultClass(vector: number): 'benign' | 'contributory' | 'pagefault' {
    if (vector === Vec.PF) return 'pagefault';
    if (vector === 0 || (vector >= 10 && vector <= 13)) return 'contributory';
    return 'benign';
  }

  /**
   * Delivers an exception raised by the instruction at `this.eip` (state already rolled back to its start for
   * faults). Escalates to #DF and to a triple fault (machine stop) as the SDM requires.
   */
  deliverException(fault: GuestFault): void {
    this.stopBeforeAccessAllowed = false;
    if (fault.vector === Vec.PF) this.cr2 = fault.address | 0;
    if (this.onException?.(fault.vector, fault.errorCode, this.eip)) {
      this.pendingException = fault;
      this.exitRequested = true;
      return;
    }
    let current = fault;
    for (let depth = 0; ; depth++) {
      try {
        const code = hasErrorCode(current.vector) ? (current.errorCode ?? 0) : undefined;
        deliverInterrupt(this, current.vector, 'exception', code, this.eip);
        this.halted = false;
        return;
      } catch (e) {
        if (!(e instanceof GuestFault)) throw e;
        if (e.vector === Vec.PF) this.cr2 = e.address | 0;
        const first = Cpu.faultClass(current.vector);
        const second = Cpu.faultClass(e.vector);
        if (current.vector === Vec.DF || depth >= 2) {
          this.shutdown(
            `triple fault: ${EXCEPTION_NAMES[e.vector] ?? 'exception ' + e.vector} while delivering ` +
              `${EXCEPTION_NAMES[current.vector] ?? 'exception ' + current.vector} at eip 0x${hex32(this.eip)}`,
          );
        }
        const double =
          (first === 'contributory' && second === 'contributory') ||
          (first === 'pagefault' && (second === 'contributory' || second === 'pagefault'));
        current = double ? new GuestFault(Vec.DF, 0) : e;
      }
    }
  }

  /** Delivers a maskable or non-maskable external interrupt at an instruction boundary. */
  deliverExternal(vector: number): void {
    this.stopBeforeAccessAllowed = false;
    this.halted = false;
    try {
      deliverInterrupt(this, vector, 'hardware', undefined, this.eip);
    } catch (e) {
      if (!(e instanceof GuestFault)) throw e;
      this.deliverException(e);
    }
  }

  /** Checks for a deliverable NMI or maskable interrupt and delivers it. Returns true when one was taken. */
  checkInterrupts(): boolean {
    if (this.interruptShadow) return false;
    if (this.nmiPending && !this.nmiBlocked) {
      this.nmiPending = false;
      this.nmiBlocked = true;
      this.deliverExternal(Vec.NMI);
      return true;
    }
    const intr = this.interrupts;
    if (intr && this.eflags & Flag.IF && intr.hasInterrupt()) {
      this.deliverExternal(intr.acknowledge() & 0xff);
      return true;
    }
    return false;
  }

  // ---- execution ---------------------------------------------------------------------------------------------

  /**
   * Runs translated code until `icountLimit` is reached, the CPU halts, or something requests a stop. Guest
   * faults are delivered here; a host exception inside the core stops the machine with a state dump.
   */
  run(instructions: number, ignoreBreakpointAtStart = false): RunExit {
    this.icountLimit = this.icount + instructions;
    this.exitRequested = false;
    this.breakpointHit = undefined;
    let first = ignoreBreakpointAtStart;
    try {
      while (this.icount < this.icountLimit) {
        if (this.halted) {
          if (!this.checkInterrupts()) return RunExit.Halted;
          continue;
        }
        if (this.eflags & Flag.IF || this.nmiPending) {
          if (this.checkInterrupts()) {
            if (this.exitRequested) return RunExit.Stopped;
            continue;
          }
        }
        if (this.debuggerBreakpoints.size > 0 && this.debuggerBreakpoints.has(this.linearIp) && !first) {
          this.breakpointHit = this.linearIp;
          return RunExit.Stopped;
        }
        if (this.hardwareBreakpoints.length > 0 && this.checkHardwareBreakpoint()) continue;
        first = false;
        if (this.eflags & Flag.TF) {
          this.interruptShadow = false;
          this.singleStepTrap();
        } else if (this.interruptShadow) {
          // STI / MOV SS / POP SS inhibit interrupts for exactly one instruction: run it alone, so that a pending
          // interrupt is taken right after it rather than after a whole block.
          this.interruptShadow = false;
          this.translator.executeOne();
        } else if (this.debuggerBreakpoints.size === 0 && this.hardwareBreakpoints.length === 0) {
          this.translator.executeChain();
        } else this.translator.execute();
        if (this.pendingDebugTrap) this.deliverDebugTrap();
        if (this.exitRequested) return RunExit.Stopped;
      }
      return RunExit.Budget;
    } catch (e) {
      return this.handleHostException(e);
    }
  }

  /** Executes exactly one instruction (or delivers one pending interrupt), for stepping and precise stops. */
  step(): RunExit {
    this.exitRequested = false;
    this.icountLimit = this.icount + 1;
    try {
      if (this.halted) {
        return this.checkInterrupts() ? RunExit.Budget : RunExit.Halted;
      }
      if (this.checkInterrupts()) return RunExit.Budget;
      if (this.hardwareBreakpoints.length > 0 && this.checkHardwareBreakpoint()) return RunExit.Budget;
      this.interruptShadow = false;
      if (this.eflags & Flag.TF) this.singleStepTrap();
      else this.translator.executeOne();
      if (this.pendingDebugTrap) this.deliverDebugTrap();
      return this.exitRequested ? RunExit.Stopped : RunExit.Budget;
    } catch (e) {
      return this.handleHostException(e);
    }
  }

  private handleHostException(e: unknown): RunExit {
    if (e instanceof MachineStop) {
      this.stopReason = e.reason;
      return RunExit.Shutdown;
    }
    const message = e instanceof Error ? `${e.message}\n${e.stack ?? ''}` : String(e);
    this.stopReason = `internal emulator error at eip 0x${hex32(this.eip)}: ${message}\n${this.dumpState()}`;
    return RunExit.Shutdown;
  }

  /** Register dump for error messages. */
  dumpState(): string {
    const r = this.regs;
    const names = ['eax', 'ecx', 'edx', 'ebx', 'esp', 'ebp', 'esi', 'edi'];
    const gp = names.map((n, i) => `${n}=${hex32(r[i])}`).join(' ');
    const segs = ['es', 'cs', 'ss', 'ds', 'fs', 'gs']
      .map((n, i) => `${n}=${this.seg[i].selector.toString(16).padStart(4, '0')}(base ${hex32(this.seg[i].base)})`)
      .join(' ');
    return (
      `${gp}\neip=${hex32(this.eip)} eflags=${hex32(this.getEflags())} cpl=${this.cpl}\n${segs}\n` +
      `cr0=${hex32(this.cr0)} cr2=${hex32(this.cr2)} cr3=${hex32(this.cr3)} cr4=${hex32(this.cr4)}`
    );
  }

  /** Linear address of CS:EIP. */
  get linearIp(): number {
    return (this.seg[1].base + this.eip) | 0;
  }

  segment(s: Seg): SegmentCache {
    return this.seg[s];
  }
}

export function hex32(v: number): string {
  return (v >>> 0).toString(16).padStart(8, '0');
}
