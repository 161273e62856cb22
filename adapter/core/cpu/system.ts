/**
 * Protected-mode system operations: segment loads, far JMP/CALL/RET through code segments, call gates, task gates
 * and TSS descriptors, LLDT/LTR/LAR/LSL/VERR/VERW and the I/O permission check (SDM vol. 2 instruction
 * pseudocode; vol. 3 chapters 3, 5, 7, 19). Interrupt delivery and IRET are in system-int.ts.
 */

import type { CpuCore } from './cpu-api';
import { Flag, Seg, Vec, descriptorLimit } from './state';
import {
  type Descriptor,
  Stack,
  SysType,
  checkInnerStack,
  checkOuterStack,
  checkReturnCode,
  commitCs,
  descDpl,
  descIsCode,
  descIsConforming,
  descIsReadable,
  descIsSegment,
  descIsWritableData,
  descPresent,
  descType,
  gateOffset,
  gateParamCount,
  gateSelector,
  isNullSelector,
  loadCache,
  loadProtectedSegment,
  loadRealSegment,
  nullInaccessibleSegments,
  readDescriptor,
  selectorError,
  setAccessed,
  tssStack,
} from './system-common';
import { taskSwitch } from './system-task';

export { deliverInterrupt, interruptReturn } from './system-int';
export { taskSwitch, type TaskSource } from './system-task';

function realOrVm86(cpu: CpuCore): boolean {
  return !cpu.protectedMode || cpu.vm86;
}

/** MOV, POP, LDS, LES, LFS, LGS, LSS into ES, SS, DS, FS or GS. */
export function loadSegment(cpu: CpuCore, seg: Seg, selector: number): void {
  if (seg === Seg.CS) throw new Error('loadSegment: CS is loaded only by control transfers');
  if (realOrVm86(cpu)) loadRealSegment(cpu, seg, selector);
  else loadProtectedSegment(cpu, seg, selector, Vec.GP, 0);
  cpu.segmentChanged();
}

function realFarTransfer(cpu: CpuCore, selector: number, offset: number): void {
  loadRealSegment(cpu, Seg.CS, selector);
  cpu.eip = offset >>> 0;
  cpu.segmentChanged();
}

/** Reads and checks the descriptor of a far JMP/CALL target; #GP(0) for null, #GP(sel) beyond the table. */
function farTarget(cpu: CpuCore, selector: number): Descriptor {
  if (isNullSelector(selector)) cpu.raise(Vec.GP, 0);
  const d = readDescriptor(cpu, selector);
  if (!d) cpu.raise(Vec.GP, selectorError(selector, 0));
  return d;
}

/** Privilege and presence checks for a JMP or CALL directly to a code segment (SDM 5.8.1, 5.8.2). */
function checkDirectCode(cpu: CpuCore, selector: number, d: Descriptor): void {
  if (!descIsCode(d)) cpu.raise(Vec.GP, selectorError(selector, 0));
  const cpl = cpu.cpl;
  const bad = descIsConforming(d) ? descDpl(d) > cpl : (selector & 3) > cpl || descDpl(d) !== cpl;
  if (bad) cpu.raise(Vec.GP, selectorError(selector, 0));
  if (!descPresent(d)) cpu.raise(Vec.NP, selectorError(selector, 0));
}

/** Gate DPL checks shared by call gates, task gates and TSS descriptors used as JMP/CALL targets (SDM 5.8.4). */
function checkGateAccess(cpu: CpuCore, selector: number, d: Descriptor): void {
  const dpl = descDpl(d);
  if (dpl < cpu.cpl || dpl < (selector & 3)) cpu.raise(Vec.GP, selectorError(selector, 0));
  if (!descPresent(d)) cpu.raise(Vec.NP, selectorError(selector, 0));
}

/** The code segment named by a call gate (SDM 5.8.4, JMP and CALL pseudocode). */
function callGateTarget(cpu: CpuCore, gate: Descriptor, jump: boolean): { selector: number; d: Descriptor } {
  const selector = gateSelector(gate);
  if (isNullSelector(selector)) cpu.raise(Vec.GP, 0);
  const d = readDescriptor(cpu, selector);
  if (!d || !descIsCode(d)) cpu.raise(Vec.GP, selectorError(selector, 0));
  const dpl = descDpl(d);
  const cpl = cpu.cpl;
  const bad = jump && !descIsConforming(d) ? dpl !== cpl : dpl > cpl;
  if (bad) cpu.raise(Vec.GP, selectorError(selector, 0));
  if (!descPresent(d)) cpu.raise(Vec.NP, selectorError(selector, 0));
  return { selector, d };
}

/** Task gate or TSS descriptor as a JMP/CALL target: the checks of SDM 7.3 steps 2-3, then the switch. */
function jumpToTask(cpu: CpuCore, selector: number, d: Descriptor, source: 'jmp' | 'call', nextEip: number): void {
  checkGateAccess(cpu, selector, d);
  let tssSelector = selector;
  let tss = d;
  if (descType(d) === SysType.TaskGate) {
    tssSelector = gateSelector(d);
    const t = tssSelector & 4 ? undefined : readDescriptor(cpu, tssSelector);
    if (!t || descIsSegment(t) || (descType(t) !== SysType.Tss16Avail && descType(t) !== SysType.Tss32Avail)) {
      cpu.raise(Vec.GP, selectorError(tssSelector, 0));
    }
    if (!descPresent(t)) cpu.raise(Vec.NP, selectorError(tssSelector, 0));
    tss = t;
  } else if (selector & 4) {
    cpu.raise(Vec.GP, selectorError(selector, 0));
  }
  taskSwitch(cpu, tssSelector, tss, source, nextEip, 0);
}

/** JMP ptr16:16/32 and JMP m16:16/32. `offset` is already truncated to the operand size. */
export function farJump(cpu: CpuCore, selector: number, offset: number, nextEip: number): void {
  selector &= 0xffff;
  if (realOrVm86(cpu)) {
    if (offset >>> 0 > cpu.seg[Seg.CS].limit) cpu.raise(Vec.GP, 0);
    realFarTransfer(cpu, selector, offset);
    return;
  }
  const d = farTarget(cpu, selector);
  if (descIsSegment(d)) {
    checkDirectCode(cpu, selector, d);
    if (offset >>> 0 > descriptorLimit(d.lo, d.hi)) cpu.raise(Vec.GP, 0);
    commitCs(cpu, selector, d, cpu.cpl);
    cpu.eip = offset >>> 0;
    cpu.segmentChanged();
    return;
  }
  switch (descType(d)) {
    case SysType.CallGate16:
    case SysType.CallGate32: {
      checkGateAccess(cpu, selector, d);
      const target = callGateTarget(cpu, d, true);
      const eip = descType(d) === SysType.CallGate16 ? gateOffset(d) & 0xffff : gateOffset(d);
      if (eip > descriptorLimit(target.d.lo, target.d.hi)) cpu.raise(Vec.GP, 0);
      commitCs(cpu, target.selector, target.d, cpu.cpl);
      cpu.eip = eip;
      cpu.segmentChanged();
      return;
    }
    case SysType.TaskGate:
    case SysType.Tss16Avail:
    case SysType.Tss32Avail:
      jumpToTask(cpu, selector, d, 'jmp', nextEip);
      return;
    default:
      cpu.raise(Vec.GP, selectorError(selector, 0));
  }
}

/** CALL ptr16:16/32 and CALL m16:16/32; `nextEip` is the return address. */
export function farCall(cpu: CpuCore, selector: number, offset: number, operandSize: 2 | 4, nextEip: number): void {
  selector &= 0xffff;
  if (realOrVm86(cpu)) {
    const stack = Stack.current(cpu, 0);
    stack.checkRoom(operandSize * 2);
    if (offset >>> 0 > cpu.seg[Seg.CS].limit) cpu.raise(Vec.GP, 0);
    stack.push(cpu.seg[Seg.CS].selector, operandSize);
    stack.push(nextEip, operandSize);
    stack.commit();
    stack.storeEsp();
    realFarTransfer(cpu, selector, offset);
    return;
  }
  const d = farTarget(cpu, selector);
  if (descIsSegment(d)) {
    checkDirectCode(cpu, selector, d);
    const stack = Stack.current(cpu, 0);
    stack.checkRoom(operandSize * 2);
    if (offset >>> 0 > descriptorLimit(d.lo, d.hi)) cpu.raise(Vec.GP, 0);
    stack.push(cpu.seg[Seg.CS].selector, operandSize);
    stack.push(nextEip, operandSize);
    stack.commit();
    commitCs(cpu, selector, d, cpu.cpl);
    stack.storeEsp();
    cpu.eip = offset >>> 0;
    cpu.segmentChanged();
    return;
  }
  switch (descType(d)) {
    case SysType.CallGate16:
    case SysType.CallGate32:
      callThroughGate(cpu, selector, d, nextEip);
      return;
    case SysType.TaskGate:
    case SysType.Tss16Avail:
    case SysType.Tss32Avail:
      jumpToTask(cpu, selector, d, 'call', nextEip);
      return;
    default:
      cpu.raise(Vec.GP, selectorError(selector, 0));
  }
}

/** CALL through a call gate, with a stack switch and parameter copy to a more privileged level (SDM 5.8.5). */
function callThroughGate(cpu: CpuCore, selector: number, gate: Descriptor, nextEip: number): void {
  checkGateAccess(cpu, selector, gate);
  const target = callGateTarget(cpu, gate, false);
  const size: 2 | 4 = descType(gate) === SysType.CallGate32 ? 4 : 2;
  const eip = size === 2 ? gateOffset(gate) & 0xffff : gateOffset(gate);
  const limit = descriptorLimit(target.d.lo, target.d.hi);
  const dpl = descDpl(target.d);
  const cs = cpu.seg[Seg.CS];
  if (!descIsConforming(target.d) && dpl < cpu.cpl) {
    const { ss, esp } = tssStack(cpu, dpl, 0);
    const ssd = checkInnerStack(cpu, ss, dpl, 0);
    const count = gateParamCount(gate);
    const inner = Stack.fromDescriptor(cpu, ssd, esp, dpl === 3, selectorError(ss, 0));
    inner.checkRoom(size * (4 + count));
    if (eip > limit) cpu.raise(Vec.GP, 0);
    const outer = Stack.current(cpu, 0);
    const params: number[] = [];
    for (let i = count - 1; i >= 0; i--) params.push(outer.peek(i * size, size));
    inner.push(cpu.seg[Seg.SS].selector, size);
    inner.push(outer.sp, size);
    for (const p of params) inner.push(p, size);
    inner.push(cs.selector, size);
    inner.push(nextEip, size);
    inner.commit();
    setAccessed(cpu, ssd);
    loadCache(cpu.seg[Seg.SS], ss, ssd);
    commitCs(cpu, target.selector, target.d, dpl);
    inner.storeEsp();
  } else {
    const stack = Stack.current(cpu, 0);
    stack.checkRoom(size * 2);
    if (eip > limit) cpu.raise(Vec.GP, 0);
    stack.push(cs.selector, size);
    stack.push(nextEip, size);
    stack.commit();
    commitCs(cpu, target.selector, target.d, cpu.cpl);
    stack.storeEsp();
  }
  cpu.eip = eip;
  cpu.segmentChanged();
}

/** RETF and RETF imm16 (`popBytes`), including the return to an outer privilege level (SDM 5.8.6). */
export function farReturn(cpu: CpuCore, operandSize: 2 | 4, popBytes: number): void {
  const osz = operandSize;
  const stack = Stack.current(cpu, 0);
  const eip = stack.peek(0, osz);
  const selector = stack.peek(osz, osz) & 0xffff;
  if (realOrVm86(cpu)) {
    if (eip > cpu.seg[Seg.CS].limit) cpu.raise(Vec.GP, 0);
    stack.skip(2 * osz + popBytes);
    stack.storeEsp();
    realFarTransfer(cpu, selector, eip);
    return;
  }
  const cpl = cpu.cpl;
  const rpl = selector & 3;
  const d = checkReturnCode(cpu, selector);
  if (rpl > cpl) {
    const esp = stack.peek(2 * osz + popBytes, osz);
    const ss = stack.peek(3 * osz + popBytes, osz) & 0xffff;
    const ssd = checkOuterStack(cpu, ss, rpl);
    if (eip > descriptorLimit(d.lo, d.hi)) cpu.raise(Vec.GP, 0);
    commitCs(cpu, selector, d, rpl);
    setAccessed(cpu, ssd);
    const ssCache = cpu.seg[Seg.SS];
    loadCache(ssCache, ss, ssd);
    const outer = Stack.current(cpu, 0);
    outer.sp = ssCache.big ? esp : (outer.sp & ~0xffff) | (esp & 0xffff);
    outer.skip(popBytes);
    outer.storeEsp();
    nullInaccessibleSegments(cpu);
  } else {
    if (eip > descriptorLimit(d.lo, d.hi)) cpu.raise(Vec.GP, 0);
    commitCs(cpu, selector, d, cpl);
    stack.skip(2 * osz + popBytes);
    stack.storeEsp();
  }
  cpu.eip = eip;
  cpu.segmentChanged();
}

function requireSystemInstruction(cpu: CpuCore): void {
  if (realOrVm86(cpu)) cpu.raise(Vec.UD);
  if (cpu.cpl !== 0) cpu.raise(Vec.GP, 0);
}

/** LLDT (SDM vol. 2): a null selector leaves LDTR unusable. */
export function loadLdt(cpu: CpuCore, selector: number): void {
  requireSystemInstruction(cpu);
  selector &= 0xffff;
  if (isNullSelector(selector)) {
    cpu.ldtr.set(selector, 0, 0, 0, false);
    return;
  }
  if (selector & 4) cpu.raise(Vec.GP, selectorError(selector, 0));
  const d = readDescriptor(cpu, selector);
  if (!d || descIsSegment(d) || descType(d) !== SysType.Ldt) cpu.raise(Vec.GP, selectorError(selector, 0));
  if (!descPresent(d)) cpu.raise(Vec.NP, selectorError(selector, 0));
  loadCache(cpu.ldtr, selector, d);
}

/** LTR (SDM vol. 2): loads an available TSS and marks it busy in the GDT. */
export function loadTaskRegister(cpu: CpuCore, selector: number): void {
  requireSystemInstruction(cpu);
  selector &= 0xffff;
  if (isNullSelector(selector)) cpu.raise(Vec.GP, 0);
  if (selector & 4) cpu.raise(Vec.GP, selectorError(selector, 0));
  const d = readDescriptor(cpu, selector);
  if (!d || descIsSegment(d) || (descType(d) !== SysType.Tss16Avail && descType(d) !== SysType.Tss32Avail)) {
    cpu.raise(Vec.GP, selectorError(selector, 0));
  }
  if (!descPresent(d)) cpu.raise(Vec.NP, selectorError(selector, 0));
  d.hi |= 0x200;
  cpu.writeSys((d.addr + 5) >>> 0, 1, (d.hi >>> 8) & 0xff);
  loadCache(cpu.tr, selector, d);
}

/** Visibility rule of LAR, LSL, VERR, VERW: conforming code is always visible, else max(CPL, RPL) <= DPL. */
function visible(cpu: CpuCore, selector: number, d: Descriptor): boolean {
  return descIsConforming(d) || Math.max(cpu.cpl, selector & 3) <= descDpl(d);
}

function inspect(cpu: CpuCore, selector: number): Descriptor | undefined {
  if (realOrVm86(cpu)) cpu.raise(Vec.UD);
  if (isNullSelector(selector)) return undefined;
  return readDescriptor(cpu, selector & 0xffff);
}

const LAR_SYSTEM_TYPES = new Set<number>([1, 2, 3, 4, 5, 9, 11, 12]);
const LSL_SYSTEM_TYPES = new Set<number>([1, 2, 3, 9, 11]);

/** LAR: the access rights dword (descriptor high dword masked with 00F0FF00H), or undefined for ZF = 0. */
export function lar(cpu: CpuCore, selector: number): number | undefined {
  const d = inspect(cpu, selector);
  if (!d || (!descIsSegment(d) && !LAR_SYSTEM_TYPES.has(descType(d))) || !visible(cpu, selector, d)) return undefined;
  return d.hi & 0x00f0ff00;
}

/** LSL: the byte-granular segment limit, or undefined for ZF = 0. */
export function lsl(cpu: CpuCore, selector: number): number | undefined {
  const d = inspect(cpu, selector);
  if (!d || (!descIsSegment(d) && !LSL_SYSTEM_TYPES.has(descType(d))) || !visible(cpu, selector, d)) return undefined;
  return descriptorLimit(d.lo, d.hi);
}

/** VERR: a readable segment visible at CPL and RPL (ZF = 1 when true). */
export function verr(cpu: CpuCore, selector: number): boolean {
  const d = inspect(cpu, selector);
  return !!d && descIsReadable(d) && visible(cpu, selector, d);
}

/** VERW: a writable data segment visible at CPL and RPL (ZF = 1 when true). */
export function verw(cpu: CpuCore, selector: number): boolean {
  const d = inspect(cpu, selector);
  return !!d && descIsWritableData(d) && visible(cpu, selector, d);
}

/**
 * IN, OUT, INS, OUTS permission (SDM 19.5, 19.5.2): with CPL > IOPL or in virtual-8086 mode, every bit of the
 * access in the I/O permission bitmap of the current 32-bit TSS must be clear. The processor always reads two
 * bytes of the bitmap, so both must lie within the TSS limit.
 */
export function checkIoPermission(cpu: CpuCore, port: number, size: 1 | 2 | 4): void {
  if (!cpu.protectedMode) return;
  const iopl = (cpu.getEflags() & Flag.IOPL) >>> 12;
  if (!cpu.vm86 && cpu.cpl <= iopl) return;
  const tr = cpu.tr;
  if (!tr.valid || (tr.access & 0x1d) !== 0x09 || tr.limit < 0x67) cpu.raise(Vec.GP, 0);
  const offset = cpu.readSys((tr.base + 0x66) >>> 0, 2) + ((port & 0xffff) >>> 3);
  if (offset + 1 > tr.limit) cpu.raise(Vec.GP, 0);
  const bits = cpu.readSys((tr.base + offset) >>> 0, 2);
  const mask = ((1 << size) - 1) << (port & 7);
  if (bits & mask) cpu.raise(Vec.GP, 0);
}
