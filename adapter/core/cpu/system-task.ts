/** Hardware task switching (SDM vol. 3, chapter 7). */

import type { CpuCore } from './cpu-api';
import { Cr0, EFLAGS_WRITABLE, Flag, Seg, Vec, descriptorBase, descriptorLimit } from './state';
import {
  type Descriptor,
  SysType,
  descDpl,
  descIsCode,
  descIsConforming,
  descIsSegment,
  descPresent,
  descType,
  isNullSelector,
  loadCache,
  loadProtectedSegment,
  loadRealSegment,
  readDescriptor,
  selectorError,
  setAccessed,
} from './system-common';

/** What caused the switch: it decides the busy bits, NT and the back link (SDM 7.3, table 7-2). */
export type TaskSource = 'jmp' | 'call' | 'iret' | 'int';

/** Segment selector fields in a 32-bit TSS (ES, CS, SS, DS, FS, GS) and a 16-bit TSS (ES, CS, SS, DS). */
const TSS32_SEG = 0x48;
const TSS16_SEG = 0x22;

function setBusy(cpu: CpuCore, d: Descriptor, busy: boolean): void {
  d.hi = busy ? d.hi | 0x200 : d.hi & ~0x200;
  cpu.writeSys((d.addr + 5) >>> 0, 1, (d.hi >>> 8) & 0xff);
}

/**
 * Switches to the task whose TSS descriptor `d` (read from the GDT for `selector`) the caller has already
 * checked for type, privilege and presence. `nextEip` is saved as the old task's EIP. Faults raised while
 * loading the new task's segments are raised in the context of the new task (SDM 7.3 step 12).
 */
export function taskSwitch(
  cpu: CpuCore,
  selector: number,
  d: Descriptor,
  source: TaskSource,
  nextEip: number,
  ext: number,
): void {
  const new32 = (descType(d) & 8) !== 0;
  const newBase = descriptorBase(d.lo, d.hi) >>> 0;
  if (descriptorLimit(d.lo, d.hi) < (new32 ? 0x67 : 0x2b)) cpu.raise(Vec.TS, selectorError(selector, ext));

  const tr = cpu.tr;
  const old32 = (tr.access & 8) !== 0;
  if (tr.limit < (old32 ? 0x5f : 0x29)) cpu.raise(Vec.TS, selectorError(tr.selector, ext));

  const rd = (offset: number, size: 2 | 4): number => cpu.readSys((newBase + offset) >>> 0, size);
  const regs = new Array<number>(8);
  const sels = new Array<number>(6).fill(0);
  let eip: number;
  let eflags: number;
  let cr3 = cpu.cr3;
  let ldt: number;
  if (new32) {
    cr3 = rd(0x1c, 4);
    eip = rd(0x20, 4);
    eflags = rd(0x24, 4);
    for (let i = 0; i < 8; i++) regs[i] = rd(0x28 + 4 * i, 4) | 0;
    for (let i = 0; i < 6; i++) sels[i] = rd(TSS32_SEG + 4 * i, 2);
    ldt = rd(0x60, 2);
  } else {
    // A 16-bit TSS (SDM 7.6) holds no FS, GS or upper register halves: FS and GS become null, and the upper
    // halves, which the SDM leaves undefined, read FFFFH as in Bochs.
    eip = rd(0x0e, 2);
    eflags = rd(0x10, 2);
    for (let i = 0; i < 8; i++) regs[i] = 0xffff0000 | rd(0x12 + 2 * i, 2);
    for (let i = 0; i < 4; i++) sels[i] = rd(TSS16_SEG + 2 * i, 2);
    ldt = rd(0x2a, 2);
  }
  cpu.probeWrite(tr.base, old32 ? 0x60 : 0x2a, false);
  if (source === 'call' || source === 'int') cpu.probeWrite(newBase, 2, false);

  if (source === 'jmp' || source === 'iret') {
    const oldDesc = readDescriptor(cpu, tr.selector);
    if (oldDesc) setBusy(cpu, oldDesc, false);
  }
  let oldEflags = cpu.getEflags();
  if (source === 'iret') oldEflags &= ~Flag.NT;
  const wr = (offset: number, size: 2 | 4, value: number): void =>
    cpu.writeSys((tr.base + offset) >>> 0, size, size === 2 ? value & 0xffff : value >>> 0);
  if (old32) {
    wr(0x20, 4, nextEip);
    wr(0x24, 4, oldEflags);
    for (let i = 0; i < 8; i++) wr(0x28 + 4 * i, 4, cpu.regs[i]);
    for (let i = 0; i < 6; i++) wr(TSS32_SEG + 4 * i, 2, cpu.seg[i].selector);
  } else {
    wr(0x0e, 2, nextEip);
    wr(0x10, 2, oldEflags);
    for (let i = 0; i < 8; i++) wr(0x12 + 2 * i, 2, cpu.regs[i]);
    for (let i = 0; i < 4; i++) wr(TSS16_SEG + 2 * i, 2, cpu.seg[i].selector);
  }

  if (source === 'call' || source === 'int') {
    cpu.writeSys(newBase, 2, tr.selector);
    eflags |= Flag.NT;
  }
  if (source !== 'iret') setBusy(cpu, d, true);
  loadCache(tr, selector, d);
  cpu.cr0 |= Cr0.TS;

  // From here on the state is the new task's; faults below are delivered in its context.
  if (new32 && cpu.cr0 & Cr0.PG) cpu.cr3 = cr3;
  cpu.setEflags(eflags, new32 ? EFLAGS_WRITABLE : 0xffff);
  cpu.eip = eip >>> 0;
  for (let i = 0; i < 8; i++) cpu.regs[i] = regs[i]!;
  for (let i = 0; i < 6; i++) {
    const cache = cpu.seg[i];
    cache.selector = sels[i]!;
    cache.valid = false;
  }
  cpu.ldtr.selector = ldt;
  cpu.ldtr.valid = false;

  if (new32 && eflags & Flag.VM) {
    for (let i = 0; i < 6; i++) loadRealSegment(cpu, i, sels[i]);
    cpu.setCpl(3);
    cpu.segmentChanged();
    loadTaskLdt(cpu, ldt, ext);
    return;
  }

  loadTaskLdt(cpu, ldt, ext);

  const csSel = sels[Seg.CS];
  if (isNullSelector(csSel)) cpu.raise(Vec.TS, ext);
  const cs = readDescriptor(cpu, csSel);
  const rpl = csSel & 3;
  if (!cs || !descIsCode(cs) || (descIsConforming(cs) ? descDpl(cs) > rpl : descDpl(cs) !== rpl)) {
    cpu.raise(Vec.TS, selectorError(csSel, ext));
  }
  if (!descPresent(cs)) cpu.raise(Vec.NP, selectorError(csSel, ext));
  setAccessed(cpu, cs);
  loadCache(cpu.seg[Seg.CS], csSel, cs);
  cpu.setCpl(rpl);

  loadProtectedSegment(cpu, Seg.SS, sels[Seg.SS], Vec.TS, ext);
  for (const seg of [Seg.ES, Seg.DS, Seg.FS, Seg.GS]) loadProtectedSegment(cpu, seg, sels[seg], Vec.TS, ext);
  cpu.segmentChanged();
  if (cpu.eip > cpu.seg[Seg.CS].limit) cpu.raise(Vec.GP, 0);
}

/** The LDT of a new task: #TS(selector) unless null or a present LDT descriptor in the GDT (SDM table 7-1). */
function loadTaskLdt(cpu: CpuCore, selector: number, ext: number): void {
  if (isNullSelector(selector)) {
    cpu.ldtr.set(selector, 0, 0, 0, false);
    return;
  }
  const d = selector & 4 ? undefined : readDescriptor(cpu, selector);
  if (!d || descIsSegment(d) || descType(d) !== SysType.Ldt || !descPresent(d)) {
    cpu.raise(Vec.TS, selectorError(selector, ext));
  }
  loadCache(cpu.ldtr, selector, d);
}

/** Reads the selector of the previous task from the current TSS (IRET with NT set, SDM 7.4). */
export function previousTask(cpu: CpuCore): number {
  return cpu.readSys(cpu.tr.base, 2);
}
