/** Interrupt and exception delivery and IRET (SDM vol. 3 chapter 6, vol. 2 INT n and IRET pseudocode). */

import type { CpuCore } from './cpu-api';
import { EFLAGS_WRITABLE, Flag, Reg, Seg, Vec, descriptorLimit } from './state';
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
  descIsSegment,
  descPresent,
  descType,
  gateOffset,
  gateSelector,
  isNullSelector,
  loadCache,
  loadRealSegment,
  nullInaccessibleSegments,
  readDescriptor,
  selectorError,
  setAccessed,
  tssStack,
} from './system-common';
import { previousTask, taskSwitch } from './system-task';

/** EFLAGS bits a real-mode IRETD loads; VM, VIF and VIP are kept (SDM IRET pseudocode, 257FD5H). */
const REAL_IRET_MASK = 0x257fd5;

export type InterruptKind = 'exception' | 'hardware' | 'software' | 'int3' | 'into' | 'icebp';

/**
 * Delivers an interrupt or exception through the IVT (real mode) or the IDT. `returnEip` is the EIP pushed
 * (the faulting instruction for faults, the next one for traps and INT n). Faults during delivery are thrown
 * as GuestFault with the EXT bit set for hardware interrupts, exceptions and INT1 (SDM 6.13).
 */
export function deliverInterrupt(
  cpu: CpuCore,
  vector: number,
  kind: InterruptKind,
  errorCode: number | undefined,
  returnEip: number,
): void {
  vector &= 0xff;
  if (!cpu.protectedMode) {
    realModeInterrupt(cpu, vector, returnEip);
    return;
  }
  const software = kind === 'software' || kind === 'int3' || kind === 'into';
  const ext = software ? 0 : 1;
  const iopl = (cpu.getEflags() & Flag.IOPL) >>> 12;
  // SDM 20.3.1.1: without VME, INT n in virtual-8086 mode is IOPL-sensitive; INT3 and INTO are not.
  if (cpu.vm86 && kind === 'software' && iopl < 3) cpu.raise(Vec.GP, 0);

  const idtError = vector * 8 + 2 + ext;
  if (vector * 8 + 7 > cpu.idtr.limit) cpu.raise(Vec.GP, idtError);
  const addr = (cpu.idtr.base + vector * 8) >>> 0;
  const gate: Descriptor = { lo: cpu.readSys(addr, 4), hi: cpu.readSys((addr + 4) >>> 0, 4), addr };
  const type = descType(gate);
  const validType =
    type === SysType.TaskGate ||
    type === SysType.IntGate16 ||
    type === SysType.TrapGate16 ||
    type === SysType.IntGate32 ||
    type === SysType.TrapGate32;
  if (descIsSegment(gate) || !validType) cpu.raise(Vec.GP, idtError);
  if (software && descDpl(gate) < cpu.cpl) cpu.raise(Vec.GP, vector * 8 + 2);
  if (!descPresent(gate)) cpu.raise(Vec.NP, idtError);

  if (type === SysType.TaskGate) {
    interruptTask(cpu, gate, errorCode, returnEip, ext);
    return;
  }

  const size: 2 | 4 = type === SysType.IntGate32 || type === SysType.TrapGate32 ? 4 : 2;
  const csSel = gateSelector(gate);
  if (isNullSelector(csSel)) cpu.raise(Vec.GP, ext);
  const cd = readDescriptor(cpu, csSel);
  if (!cd || !descIsCode(cd) || descDpl(cd) > cpu.cpl) cpu.raise(Vec.GP, selectorError(csSel, ext));
  if (!descPresent(cd)) cpu.raise(Vec.NP, selectorError(csSel, ext));
  const eip = size === 2 ? gateOffset(gate) & 0xffff : gateOffset(gate);
  const limit = descriptorLimit(cd.lo, cd.hi);
  const dpl = descDpl(cd);
  const eflags = cpu.getEflags();
  const vm86 = cpu.vm86;
  const seg = cpu.seg;
  const hasError = errorCode !== undefined;

  let cpl = cpu.cpl;
  let stack: Stack;
  let newSs: { selector: number; d: Descriptor } | undefined;
  if (!descIsConforming(cd) && dpl < cpl) {
    // SDM 6.12.1: inter-privilege-level interrupt, stack from the TSS.
    if (vm86 && dpl !== 0) cpu.raise(Vec.GP, selectorError(csSel, ext));
    const { ss, esp } = tssStack(cpu, dpl, ext);
    const ssd = checkInnerStack(cpu, ss, dpl, ext);
    stack = Stack.fromDescriptor(cpu, ssd, esp, dpl === 3, selectorError(ss, ext));
    stack.checkRoom(size * ((vm86 ? 9 : 5) + (hasError ? 1 : 0)));
    if (eip > limit) cpu.raise(Vec.GP, ext);
    if (vm86) {
      for (const s of [Seg.GS, Seg.FS, Seg.DS, Seg.ES]) stack.push(seg[s].selector, size);
    }
    stack.push(seg[Seg.SS].selector, size);
    stack.push(cpu.regs[Reg.ESP], size);
    newSs = { selector: ss, d: ssd };
    cpl = dpl;
  } else {
    if (vm86) cpu.raise(Vec.GP, selectorError(csSel, ext));
    stack = Stack.current(cpu, ext);
    stack.checkRoom(size * (3 + (hasError ? 1 : 0)));
    if (eip > limit) cpu.raise(Vec.GP, ext);
  }
  stack.push(eflags, size);
  stack.push(seg[Seg.CS].selector, size);
  stack.push(returnEip, size);
  if (hasError) stack.push(errorCode, size);
  stack.commit();

  let clear = Flag.TF | Flag.NT | Flag.RF | Flag.VM;
  if (type === SysType.IntGate16 || type === SysType.IntGate32) clear |= Flag.IF;
  cpu.setEflags(0, clear);
  if (newSs) {
    if (vm86) {
      for (const s of [Seg.ES, Seg.DS, Seg.FS, Seg.GS]) seg[s].set(0, 0, 0, 0, false);
    }
    setAccessed(cpu, newSs.d);
    loadCache(seg[Seg.SS], newSs.selector, newSs.d);
  }
  commitCs(cpu, csSel, cd, cpl);
  stack.storeEsp();
  cpu.eip = eip;
  cpu.segmentChanged();
}

/** Real-address-mode delivery through the interrupt vector table at IDTR.base (SDM 20.1.4). */
function realModeInterrupt(cpu: CpuCore, vector: number, returnEip: number): void {
  if (vector * 4 + 3 > cpu.idtr.limit) cpu.raise(Vec.GP, 0);
  const stack = Stack.current(cpu, 0);
  stack.checkRoom(6);
  const entry = (cpu.idtr.base + vector * 4) >>> 0;
  const ip = cpu.readSys(entry, 2);
  const cs = cpu.readSys((entry + 2) >>> 0, 2);
  stack.push(cpu.getEflags(), 2);
  stack.push(cpu.seg[Seg.CS].selector, 2);
  stack.push(returnEip, 2);
  stack.commit();
  stack.storeEsp();
  cpu.setEflags(0, Flag.IF | Flag.TF | Flag.AC);
  loadRealSegment(cpu, Seg.CS, cs);
  cpu.eip = ip;
  cpu.segmentChanged();
}

/** Interrupt or exception through a task gate (SDM 6.12.2): switch with nesting, then push the error code. */
function interruptTask(
  cpu: CpuCore,
  gate: Descriptor,
  errorCode: number | undefined,
  returnEip: number,
  ext: number,
): void {
  const tssSel = gateSelector(gate);
  const t = tssSel & 4 ? undefined : readDescriptor(cpu, tssSel);
  if (!t || descIsSegment(t) || (descType(t) !== SysType.Tss16Avail && descType(t) !== SysType.Tss32Avail)) {
    cpu.raise(Vec.GP, selectorError(tssSel, ext));
  }
  if (!descPresent(t)) cpu.raise(Vec.NP, selectorError(tssSel, ext));
  taskSwitch(cpu, tssSel, t, 'int', returnEip, ext);
  if (errorCode !== undefined) {
    const stack = Stack.current(cpu, ext);
    stack.push(errorCode, descType(t) & 8 ? 4 : 2);
    stack.commit();
    stack.storeEsp();
  }
}

/**
 * IRET / IRETD. `nextEip` (the instruction after IRET) is saved in the old TSS by a task return (NT set).
 */
export function interruptReturn(cpu: CpuCore, operandSize: 2 | 4, nextEip = cpu.eip): void {
  const osz = operandSize;
  if (!cpu.protectedMode) {
    realModeReturn(cpu, osz, REAL_IRET_MASK);
    return;
  }
  const eflags = cpu.getEflags();
  if (cpu.vm86) {
    // SDM 20.2.7: without VME, IRET in virtual-8086 mode is IOPL-sensitive and cannot change IOPL or VM.
    if ((eflags & Flag.IOPL) >>> 12 !== 3) cpu.raise(Vec.GP, 0);
    realModeReturn(cpu, osz, REAL_IRET_MASK & ~Flag.IOPL);
    return;
  }
  if (eflags & Flag.NT) {
    taskReturn(cpu, nextEip);
    return;
  }
  const stack = Stack.current(cpu, 0);
  const eip = stack.peek(0, osz);
  const selector = stack.peek(osz, osz) & 0xffff;
  const newFlags = stack.peek(2 * osz, osz);
  const cpl = cpu.cpl;
  if (osz === 4 && newFlags & Flag.VM && cpl === 0) {
    returnToVm86(cpu, stack, eip, selector, newFlags);
    return;
  }
  const d = checkReturnCode(cpu, selector);
  const rpl = selector & 3;
  let mask = Flag.CF | Flag.PF | Flag.AF | Flag.ZF | Flag.SF | Flag.TF | Flag.DF | Flag.OF | Flag.NT;
  if (osz === 4) mask |= Flag.RF | Flag.AC | Flag.ID;
  if (cpl <= (eflags & Flag.IOPL) >>> 12) mask |= Flag.IF;
  if (cpl === 0) mask |= Flag.IOPL | (osz === 4 ? Flag.VIF | Flag.VIP : 0);

  if (rpl > cpl) {
    const esp = stack.peek(3 * osz, osz);
    const ss = stack.peek(4 * osz, osz) & 0xffff;
    const ssd = checkOuterStack(cpu, ss, rpl);
    if (eip > descriptorLimit(d.lo, d.hi)) cpu.raise(Vec.GP, 0);
    cpu.setEflags(newFlags, mask);
    commitCs(cpu, selector, d, rpl);
    setAccessed(cpu, ssd);
    const ssCache = cpu.seg[Seg.SS];
    loadCache(ssCache, ss, ssd);
    cpu.regs[Reg.ESP] = ssCache.big ? esp : (cpu.regs[Reg.ESP] & ~0xffff) | (esp & 0xffff);
    nullInaccessibleSegments(cpu);
  } else {
    if (eip > descriptorLimit(d.lo, d.hi)) cpu.raise(Vec.GP, 0);
    cpu.setEflags(newFlags, mask);
    commitCs(cpu, selector, d, cpl);
    stack.skip(3 * osz);
    stack.storeEsp();
  }
  cpu.eip = eip;
  cpu.segmentChanged();
}

function realModeReturn(cpu: CpuCore, osz: 2 | 4, mask: number): void {
  const stack = Stack.current(cpu, 0);
  const eip = stack.pop(osz);
  const cs = stack.pop(osz) & 0xffff;
  const flags = stack.pop(osz);
  if (eip > cpu.seg[Seg.CS].limit) cpu.raise(Vec.GP, 0);
  stack.storeEsp();
  cpu.setEflags(flags, osz === 4 ? mask : mask & 0xffff);
  loadRealSegment(cpu, Seg.CS, cs);
  cpu.eip = eip;
  cpu.segmentChanged();
}

/** IRETD from CPL 0 with VM set in the popped EFLAGS (SDM IRET pseudocode, RETURN-TO-VIRTUAL-8086-MODE). */
function returnToVm86(cpu: CpuCore, stack: Stack, eip: number, cs: number, flags: number): void {
  const esp = stack.peek(12, 4);
  const ss = stack.peek(16, 4);
  const es = stack.peek(20, 4);
  const ds = stack.peek(24, 4);
  const fs = stack.peek(28, 4);
  const gs = stack.peek(32, 4);
  cpu.setEflags(flags, EFLAGS_WRITABLE);
  const load = [es, cs, ss, ds, fs, gs];
  for (let i = 0; i < 6; i++) loadRealSegment(cpu, i, load[i] & 0xffff);
  cpu.regs[Reg.ESP] = esp;
  cpu.eip = eip & 0xffff;
  cpu.setCpl(3);
  cpu.segmentChanged();
}

/** IRET with NT set: return to the task in the back link of the current TSS (SDM 7.4, IRET TASK-RETURN). */
function taskReturn(cpu: CpuCore, nextEip: number): void {
  const selector = previousTask(cpu);
  const d = selector & 4 ? undefined : readDescriptor(cpu, selector);
  if (!d || descIsSegment(d) || (descType(d) !== SysType.Tss16Busy && descType(d) !== SysType.Tss32Busy)) {
    cpu.raise(Vec.TS, selectorError(selector, 0));
  }
  if (!descPresent(d)) cpu.raise(Vec.NP, selectorError(selector, 0));
  taskSwitch(cpu, selector, d, 'iret', nextEip, 0);
}
