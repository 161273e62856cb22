/** Descriptor-table and stack primitives shared by the protected-mode system operations (SDM vol. 3, ch. 3, 5, 6, 7). */

import type { CpuCore } from './cpu-api';
import { Reg, Seg, Vec, descriptorAccess, descriptorBase, descriptorLimit, type SegmentCache } from './state';

/** A descriptor read from the GDT or LDT, with the linear address it was read from. */
export interface Descriptor {
  lo: number;
  hi: number;
  addr: number;
}

/** Error code for a selector-related fault (SDM 6.13): index and TI of the selector, plus EXT. */
export function selectorError(selector: number, ext: number): number {
  return (selector & 0xfffc) | ext;
}

export function isNullSelector(selector: number): boolean {
  return (selector & 0xfffc) === 0;
}

/** Reads the descriptor for `selector` from the GDT or (TI = 1) the LDT; undefined when beyond the table limit. */
export function readDescriptor(cpu: CpuCore, selector: number): Descriptor | undefined {
  const index = selector & 0xfff8;
  let base: number;
  let limit: number;
  if (selector & 4) {
    if (!cpu.ldtr.valid) return undefined;
    base = cpu.ldtr.base;
    limit = cpu.ldtr.limit;
  } else {
    base = cpu.gdtr.base;
    limit = cpu.gdtr.limit;
  }
  if (index + 7 > limit) return undefined;
  const addr = (base + index) >>> 0;
  return { lo: cpu.readSys(addr, 4), hi: cpu.readSys((addr + 4) >>> 0, 4), addr };
}

export const descPresent = (d: Descriptor): boolean => (d.hi & 0x8000) !== 0;
export const descDpl = (d: Descriptor): number => (d.hi >>> 13) & 3;
/** S bit: code or data segment (as opposed to a system descriptor). */
export const descIsSegment = (d: Descriptor): boolean => (d.hi & 0x1000) !== 0;
export const descType = (d: Descriptor): SysType => (d.hi >>> 8) & 0xf;
export const descIsCode = (d: Descriptor): boolean => descIsSegment(d) && (d.hi & 0x800) !== 0;
export const descIsConforming = (d: Descriptor): boolean => descIsCode(d) && (d.hi & 0x400) !== 0;
export const descIsWritableData = (d: Descriptor): boolean => (d.hi & 0x1a00) === 0x1200;
/** Data, or code with the readable bit. */
export const descIsReadable = (d: Descriptor): boolean => descIsSegment(d) && (!(d.hi & 0x800) || (d.hi & 0x200) !== 0);

/** Gate fields (SDM 5.8.3, 6.11). */
export const gateSelector = (d: Descriptor): number => d.lo >>> 16;
export const gateOffset = (d: Descriptor): number => ((d.lo & 0xffff) | (d.hi & 0xffff0000)) >>> 0;
export const gateParamCount = (d: Descriptor): number => d.hi & 0x1f;

/** System descriptor types (SDM table 3-2). */
export const enum SysType {
  Tss16Avail = 1,
  Ldt = 2,
  Tss16Busy = 3,
  CallGate16 = 4,
  TaskGate = 5,
  IntGate16 = 6,
  TrapGate16 = 7,
  Tss32Avail = 9,
  Tss32Busy = 11,
  CallGate32 = 12,
  IntGate32 = 14,
  TrapGate32 = 15,
}

/** Sets the accessed bit of a code or data segment descriptor in memory (SDM 3.4.5.1). */
export function setAccessed(cpu: CpuCore, d: Descriptor): void {
  if (d.hi & 0x100) return;
  d.hi |= 0x100;
  cpu.writeSys((d.addr + 5) >>> 0, 1, (d.hi >>> 8) & 0xff);
}

export function loadCache(cache: SegmentCache, selector: number, d: Descriptor): void {
  cache.set(selector, descriptorBase(d.lo, d.hi), descriptorLimit(d.lo, d.hi), descriptorAccess(d.hi));
}

/** Loads CS with the descriptor and makes `cpl` the current privilege level (CS.RPL = CPL). */
export function commitCs(cpu: CpuCore, selector: number, d: Descriptor, cpl: number): void {
  setAccessed(cpu, d);
  loadCache(cpu.seg[Seg.CS], (selector & 0xfffc) | cpl, d);
  cpu.setCpl(cpl);
}

/** Real-mode and virtual-8086 segment load: base = selector * 16 (SDM 20.1.1, 20.2). */
export function loadRealSegment(cpu: CpuCore, seg: Seg, selector: number): void {
  const cache = cpu.seg[seg];
  selector &= 0xffff;
  if (cpu.vm86) {
    cache.set(selector, selector << 4, 0xffff, seg === Seg.CS ? 0xfb : 0xf3);
  } else {
    cache.set(selector, selector << 4, cache.limit, cache.access);
  }
}

/** The segment-limit check of a stack access of `size` bytes at `offset` (expand-up or expand-down, SDM 5.3). */
export function stackAccessOk(limit: number, access: number, offset: number, size: number): boolean {
  const top = access & 0x4000 ? 0xffffffff : 0xffff;
  const last = offset + size - 1;
  if (last > top) return false;
  if ((access & 0x1c) === 0x14) return offset > limit;
  return last <= limit;
}

/**
 * A stack described by a segment (possibly not yet loaded into SS) and a stack pointer. Pushes are checked
 * against the segment limit and collected; `commit` writes them, so that a limit fault leaves memory untouched
 * and a page fault leaves the registers untouched.
 */
export class Stack {
  /** The full ESP value (the upper half is kept for a 16-bit stack). */
  sp: number;
  private readonly mask: number;
  private readonly pending: number[] = [];

  constructor(
    private readonly cpu: CpuCore,
    private readonly base: number,
    private readonly limit: number,
    private readonly access: number,
    esp: number,
    private readonly user: boolean,
    /** Error code of the #SS raised on a limit violation. */
    private readonly faultCode: number,
  ) {
    this.sp = esp | 0;
    this.mask = access & 0x4000 ? -1 : 0xffff;
  }

  static current(cpu: CpuCore, faultCode = 0): Stack {
    const ss = cpu.seg[Seg.SS];
    return new Stack(cpu, ss.base, ss.limit, ss.access, cpu.regs[Reg.ESP], cpu.cpl === 3, faultCode);
  }

  static fromDescriptor(cpu: CpuCore, d: Descriptor, esp: number, user: boolean, faultCode: number): Stack {
    return new Stack(
      cpu,
      descriptorBase(d.lo, d.hi),
      descriptorLimit(d.lo, d.hi),
      descriptorAccess(d.hi),
      esp,
      user,
      faultCode,
    );
  }

  get offset(): number {
    return (this.sp & this.mask) >>> 0;
  }

  private advance(delta: number): void {
    this.sp = (this.sp & ~this.mask) | ((this.sp + delta) & this.mask);
  }

  private check(offset: number, size: number): void {
    if (!stackAccessOk(this.limit, this.access, offset, size)) this.cpu.raise(Vec.SS, this.faultCode);
  }

  /** Checks that `bytes` bytes below the stack pointer can be pushed (SDM "stack does not have room"). */
  checkRoom(bytes: number): void {
    const offset = ((this.sp - bytes) & this.mask) >>> 0;
    this.check(offset, bytes);
  }

  push(value: number, size: 2 | 4): void {
    this.advance(-size);
    const offset = this.offset;
    this.check(offset, size);
    this.pending.push(offset, size, size === 2 ? value & 0xffff : value >>> 0);
  }

  commit(): void {
    const p = this.pending;
    for (let i = 0; i < p.length; i += 3) {
      this.cpu.writeLinear((this.base + p[i]) >>> 0, p[i + 1] as 2 | 4, p[i + 2], this.user);
    }
    p.length = 0;
  }

  /** Reads `size` bytes at `skip` bytes above the stack pointer without popping. */
  peek(skip: number, size: 2 | 4): number {
    const offset = ((this.sp + skip) & this.mask) >>> 0;
    this.check(offset, size);
    return this.cpu.readLinear((this.base + offset) >>> 0, size, this.user);
  }

  pop(size: 2 | 4): number {
    const value = this.peek(0, size);
    this.advance(size);
    return value;
  }

  skip(bytes: number): void {
    this.advance(bytes);
  }

  /** Writes the stack pointer back to ESP (SP only for a 16-bit stack). */
  storeEsp(): void {
    this.cpu.regs[Reg.ESP] = this.sp;
  }
}

/**
 * After a return to an outer privilege level: a data segment register (or one holding non-conforming code)
 * whose DPL is below the new CPL is loaded with the null selector (SDM RET and IRET pseudocode, 5.8.6).
 */
export function nullInaccessibleSegments(cpu: CpuCore): void {
  for (const seg of [Seg.ES, Seg.DS, Seg.FS, Seg.GS]) {
    const cache = cpu.seg[seg];
    const conformingCode = (cache.access & 0x1c) === 0x1c;
    if (!cache.valid || (!conformingCode && cache.dpl < cpu.cpl)) {
      cache.selector = 0;
      cache.valid = false;
    }
  }
}

/** Reads SS:ESP for privilege level `dpl` from the current TSS (SDM 7.2.1, 7.6); #TS(TR) when beyond its limit. */
export function tssStack(cpu: CpuCore, dpl: number, ext: number): { ss: number; esp: number } {
  const tr = cpu.tr;
  const is32 = (tr.access & 0x8) !== 0;
  if (is32) {
    const offset = dpl * 8 + 4;
    if (offset + 5 > tr.limit) cpu.raise(Vec.TS, selectorError(tr.selector, ext));
    return {
      esp: cpu.readSys((tr.base + offset) >>> 0, 4),
      ss: cpu.readSys((tr.base + offset + 4) >>> 0, 2),
    };
  }
  const offset = dpl * 4 + 2;
  if (offset + 3 > tr.limit) cpu.raise(Vec.TS, selectorError(tr.selector, ext));
  return {
    esp: cpu.readSys((tr.base + offset) >>> 0, 2),
    ss: cpu.readSys((tr.base + offset + 2) >>> 0, 2),
  };
}

/**
 * Checks the stack segment named by the TSS for a switch to privilege level `dpl` (SDM CALL and INT pseudocode):
 * #TS for a null, out-of-table, mismatched or non-writable selector, #SS when not present.
 */
export function checkInnerStack(cpu: CpuCore, ss: number, dpl: number, ext: number): Descriptor {
  if (isNullSelector(ss)) cpu.raise(Vec.TS, ext);
  const d = readDescriptor(cpu, ss);
  if (!d || (ss & 3) !== dpl || descDpl(d) !== dpl || !descIsWritableData(d)) {
    cpu.raise(Vec.TS, selectorError(ss, ext));
  }
  if (!descPresent(d)) cpu.raise(Vec.SS, selectorError(ss, ext));
  return d;
}

/**
 * Checks the SS selector popped by a return to an outer privilege level `rpl` (SDM RET and IRET pseudocode).
 */
export function checkOuterStack(cpu: CpuCore, ss: number, rpl: number): Descriptor {
  if (isNullSelector(ss)) cpu.raise(Vec.GP, 0);
  const d = readDescriptor(cpu, ss);
  if (!d || (ss & 3) !== rpl || !descIsWritableData(d) || descDpl(d) !== rpl) {
    cpu.raise(Vec.GP, selectorError(ss, 0));
  }
  if (!descPresent(d)) cpu.raise(Vec.SS, selectorError(ss, 0));
  return d;
}

/**
 * A protected-mode load of ES, SS, DS, FS or GS with the checks of the MOV/POP pseudocode (SDM 5.5, 5.6).
 * `vec` is #GP for instructions and #TS while loading the state of a new task (SDM 7.3 step 12, table 7-1).
 */
export function loadProtectedSegment(cpu: CpuCore, seg: Seg, selector: number, vec: Vec, ext: number): void {
  const cache = cpu.seg[seg];
  selector &= 0xffff;
  const cpl = cpu.cpl;
  if (seg === Seg.SS) {
    if (isNullSelector(selector)) cpu.raise(vec, ext);
    const d = readDescriptor(cpu, selector);
    if (!d || (selector & 3) !== cpl || !descIsWritableData(d) || descDpl(d) !== cpl) {
      cpu.raise(vec, selectorError(selector, ext));
    }
    if (!descPresent(d)) cpu.raise(Vec.SS, selectorError(selector, ext));
    setAccessed(cpu, d);
    loadCache(cache, selector, d);
    return;
  }
  if (isNullSelector(selector)) {
    cache.selector = selector;
    cache.valid = false;
    return;
  }
  const d = readDescriptor(cpu, selector);
  if (!d || !descIsReadable(d) || (!descIsConforming(d) && Math.max(cpl, selector & 3) > descDpl(d))) {
    cpu.raise(vec, selectorError(selector, ext));
  }
  if (!descPresent(d)) cpu.raise(Vec.NP, selectorError(selector, ext));
  setAccessed(cpu, d);
  loadCache(cache, selector, d);
}

/** The return CS checks shared by RET and IRET (SDM RET pseudocode, PROTECTED-MODE-RETURN). */
export function checkReturnCode(cpu: CpuCore, selector: number): Descriptor {
  if (isNullSelector(selector)) cpu.raise(Vec.GP, 0);
  const d = readDescriptor(cpu, selector);
  if (!d || !descIsCode(d)) cpu.raise(Vec.GP, selectorError(selector, 0));
  const rpl = selector & 3;
  const dpl = descDpl(d);
  if (rpl < cpu.cpl || (descIsConforming(d) ? dpl > rpl : dpl !== rpl)) {
    cpu.raise(Vec.GP, selectorError(selector, 0));
  }
  if (!descPresent(d)) cpu.raise(Vec.NP, selectorError(selector, 0));
  return d;
}
