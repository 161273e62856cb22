/**
 * The interpreter for instructions that translated code does not inline: system instructions, far control
 * transfers, I/O, multiplication and division, BCD, bit scans and the rest of the rarely hot integer set. It
 * works on the architectural state (cpu.regs, lazy flags in the Cpu), starting with cpu.eip at the instruction,
 * and leaves cpu.eip at the next instruction or the branch target. Every fault is raised before any state is
 * committed.
 */
import { Mnemonic as IcedMnemonic, OpKind as IcedOpKind, Register as IcedRegister } from 'iced-x86';
import type { Cpu } from './cpu';
import type { Decoded } from './decoded';
import { GPR } from './decoded';
import { CcOp, PARITY } from './flags';
import { cpuid } from './msr';
import { ARITH_FLAGS, Cr0, Cr4, Flag, Seg, Vec } from './state';
import {
  checkIoPermission,
  deliverInterrupt,
  farCall,
  farJump,
  farReturn,
  interruptReturn,
  lar,
  loadLdt,
  loadSegment,
  loadTaskRegister,
  lsl,
  verr,
  verw,
} from './system';

/**
 * Plain copies of iced-x86's enums: bundled, a CommonJS package's named exports are read through getters, which
 * the interpreter's switch would call for every case it compares.
 */
const M = { ...IcedMnemonic } as typeof IcedMnemonic;
const OpKind = { ...IcedOpKind } as typeof IcedOpKind;
const Register = { ...IcedRegister } as typeof IcedRegister;

type Size = 1 | 2 | 4;
const MASK = { 1: 0xff, 2: 0xffff, 4: 0xffffffff } as const;
const SIGN = { 1: 0x80, 2: 0x8000, 4: 0x80000000 } as const;

export function readReg(cpu: Cpu, reg: number): number {
  const info = GPR.get(reg);
  if (!info) throw new Error(`not a general register: ${Register[reg]}`);
  const v = cpu.regs[info.index];
  if (info.size === 4) return v;
  if (info.size === 2) return v & 0xffff;
  return info.high ? (v >> 8) & 0xff : v & 0xff;
}

export function writeReg(cpu: Cpu, reg: number, value: number): void {
  const info = GPR.get(reg);
  if (!info) throw new Error(`not a general register: ${Register[reg]}`);
  const r = cpu.regs;
  const i = info.index;
  if (info.size === 4) r[i] = value;
  else if (info.size === 2) r[i] = (r[i] & -65536) | (value & 0xffff);
  else if (info.high) r[i] = (r[i] & -65281) | ((value & 0xff) << 8);
  else r[i] = (r[i] & -256) | (value & 0xff);
}

function regSize(reg: number): Size {
  return GPR.get(reg)!.size;
}

/** Size in bytes of operand i. */
function operandSize(d: Decoded, i: number): Size {
  const kind = d.kinds[i];
  if (kind === OpKind.Register) return regSize(d.regs[i]);
  if (kind === OpKind.Memory) return d.memSize as Size;
  return d.opSize;
}

function user(cpu: Cpu): boolean {
  return cpu.cpl === 3;
}

export function readMem(cpu: Cpu, seg: number, offset: number, size: Size): number {
  const la = cpu.segCheck(seg, offset, size, false);
  return cpu.readLinear(la, size, user(cpu));
}

export function writeMem(cpu: Cpu, seg: number, offset: number, size: Size, value: number): void {
  const la = cpu.segCheck(seg, offset, size, true);
  cpu.writeLinear(la, size, value, user(cpu));
}

function readOperand(cpu: Cpu, d: Decoded, i: number, ea: number): number {
  const kind = d.kinds[i];
  if (kind === OpKind.Register) return readReg(cpu, d.regs[i]);
  if (kind === OpKind.Memory) {
    const v = readMem(cpu, d.memSeg, ea, d.memSize as Size);
    return d.memSize === 4 ? v | 0 : v;
  }
  return d.imms[i];
}

/** For read-modify-write memory operands: checks writability first, then reads. Returns the linear address. */
function beginRmw(cpu: Cpu, d: Decoded, ea: number, size: Size): number {
  const la = cpu.segCheck(d.memSeg, ea, size, true);
  cpu.probeWrite(la, size, user(cpu));
  return la;
}

function setFlags(cpu: Cpu, mask: number, bits: number): void {
  const f = cpu.getEflags();
  cpu.setStatusFlags((f & ~mask) | (bits & mask));
}

/** SF, ZF, PF of a result. */
function szp(value: number, size: Size): number {
  let f = PARITY[value & 0xff];
  if ((value & MASK[size]) === 0) f |= Flag.ZF;
  if (value & SIGN[size]) f |= Flag.SF;
  return f;
}

function push(cpu: Cpu, value: number, size: Size): void {
  const ss32 = cpu.seg[Seg.SS].big;
  const esp = cpu.regs[4];
  const next = ss32 ? (esp - size) | 0 : (esp & -65536) | ((esp - size) & 0xffff);
  writeMem(cpu, Seg.SS, ss32 ? next : next & 0xffff, size, value);
  cpu.regs[4] = next;
}

function stackRead(cpu: Cpu, offset: number, size: Size): number {
  const ss32 = cpu.seg[Seg.SS].big;
  const esp = cpu.regs[4];
  const at = ss32 ? (esp + offset) | 0 : (esp + offset) & 0xffff;
  return readMem(cpu, Seg.SS, at, size);
}

function addEsp(cpu: Cpu, delta: number): void {
  const esp = cpu.regs[4];
  cpu.regs[4] = cpu.seg[Seg.SS].big ? (esp + delta) | 0 : (esp & -65536) | ((esp + delta) & 0xffff);
}

function requireCpl0(cpu: Cpu): void {
  if (cpu.protectedMode && cpu.cpl !== 0) cpu.raise(Vec.GP, 0);
}

function requireProtected(cpu: Cpu): void {
  if (!cpu.protectedMode || cpu.vm86) cpu.raise(Vec.UD);
}

function iopl(cpu: Cpu): number {
  return (cpu.eflags >> 12) & 3;
}

function portOf(cpu: Cpu, d: Decoded, i: number): number {
  return d.kinds[i] === OpKind.Register ? cpu.regs[2] & 0xffff : d.imms[i] & 0xff;
}

/** Executes one instruction in the interpreter. `ea` is the memory operand's offset within its segment. */
export function execute(cpu: Cpu, d: Decoded, ea: number): void {
  const next = d.nextEip;
  switch (d.mnemonic) {
    // ---- data movement with segment, control and debug registers ---------------------------------------------
    case M.Mov:
      movSpecial(cpu, d, ea);
      break;
    case M.Pop: {
      const sreg = d.regs[0] - Register.ES;
      const size = d.opSize;
      const selector = stackRead(cpu, 0, size) & 0xffff;
      loadSegment(cpu, sreg, selector);
      addEsp(cpu, size);
      if (sreg === Seg.SS) cpu.interruptShadow = true;
      break;
    }
    case M.Lds:
    case M.Les:
    case M.Lfs:
    case M.Lgs:
    case M.Lss: {
      const size = regSize(d.regs[0]);
      const offset = readMem(cpu, d.memSeg, ea, size);
      const selector = readMem(cpu, d.memSeg, (ea + size) | 0, 2);
      const sreg = { [M.Lds]: Seg.DS, [M.Les]: Seg.ES, [M.Lfs]: Seg.FS, [M.Lgs]: Seg.GS, [M.Lss]: Seg.SS }[d.mnemonic];
      loadSegment(cpu, sreg, selector);
      writeReg(cpu, d.regs[0], offset);
      if (sreg === Seg.SS) cpu.interruptShadow = true;
      break;
    }

    // ---- multiplication and division -----------------------------------------------------------------------
    case M.Mul:
    case M.Imul:
      multiply(cpu, d, ea, d.mnemonic === M.Imul);
      break;
    case M.Div:
    case M.Idiv:
      divide(cpu, d, ea, d.mnemonic === M.Idiv);
      break;

    // ---- bit operations --------------------------------------------------------------------------------------
    case M.Bt:
    case M.Bts:
    case M.Btr:
    case M.Btc:
      bitTest(cpu, d, ea);
      break;
    // Without BMI1/LZCNT (not reported by CPUID), F3 0F BC/BD execute as BSF/BSR: the REP prefix is ignored.
    // Linux relies on it (TZCNT encodings in __ffs).
    case M.Tzcnt:
    case M.Lzcnt:
    case M.Bsf:
    case M.Bsr: {
      const size = operandSize(d, 0);
      const src = readOperand(cpu, d, 1, ea) & MASK[size];
      if (src === 0) {
        // Destination unchanged (as AMD documents and Intel parts do); ZF=1.
        setFlags(cpu, ARITH_FLAGS, Flag.ZF | Flag.PF);
      } else {
        const forward = d.mnemonic === M.Bsf || d.mnemonic === M.Tzcnt;
        const bit = forward ? 31 - Math.clz32(src & -src) : 31 - Math.clz32(src);
        writeReg(cpu, d.regs[0], bit);
        setFlags(cpu, ARITH_FLAGS, PARITY[bit]);
      }
      break;
    }
    case M.Shld:
    case M.Shrd:
      doubleShift(cpu, d, ea);
      break;
    case M.Xadd: {
      const size = operandSize(d, 0);
      const src = readReg(cpu, d.regs[1]);
      let dst: number;
      let la = 0;
      if (d.kinds[0] === OpKind.Memory) {
        la = beginRmw(cpu, d, ea, size);
        dst = cpu.readLinear(la, size, user(cpu));
      } else dst = readReg(cpu, d.regs[0]);
      const sum = size === 4 ? (dst + src) | 0 : (dst + src) & MASK[size];
      if (d.kinds[0] === OpKind.Memory) cpu.writeLinear(la, size, sum, user(cpu));
      writeReg(cpu, d.regs[1], dst);
      if (d.kinds[0] !== OpKind.Memory) writeReg(cpu, d.regs[0], sum);
      setLazy(cpu, CcOp.Add, size, dst, src, sum);
      break;
    }
    case M.Cmpxchg: {
      const size = operandSize(d, 0);
      const acc = size === 4 ? cpu.regs[0] : cpu.regs[0] & MASK[size];
      const src = readReg(cpu, d.regs[1]);
      let dst: number;
      let la = 0;
      const mem = d.kinds[0] === OpKind.Memory;
      if (mem) {
        la = beginRmw(cpu, d, ea, size);
        dst = cpu.readLinear(la, size, user(cpu));
        if (size === 4) dst |= 0;
      } else dst = readReg(cpu, d.regs[0]);
      const diff = size === 4 ? (acc - dst) | 0 : (acc - dst) & MASK[size];
      if (acc === dst) {
        if (mem) cpu.writeLinear(la, size, src, user(cpu));
        else writeReg(cpu, d.regs[0], src);
      } else {
        // The destination is written back with its own value on a failed compare (SDM CMPXCHG).
        if (mem) cpu.writeLinear(la, size, dst, user(cpu));
        writeReg(cpu, size === 1 ? Register.AL : size === 2 ? Register.AX : Register.EAX, dst);
      }
      setLazy(cpu, CcOp.Sub, size, acc, dst, diff);
      break;
    }
    case M.Cmpxchg8b: {
      if (d.kinds[0] !== OpKind.Memory) cpu.raise(Vec.UD);
      const la = beginRmw(cpu, d, ea, 4);
      const la2 = cpu.segCheck(d.memSeg, (ea + 4) | 0, 4, true);
      cpu.probeWrite(la2, 4, user(cpu));
      const lo = cpu.readLinear(la, 4, user(cpu)) | 0;
      const hi = cpu.readLinear(la2, 4, user(cpu)) | 0;
      const r = cpu.regs;
      if (lo === r[0] && hi === r[2]) {
        cpu.writeLinear(la, 4, r[3], user(cpu));
        cpu.writeLinear(la2, 4, r[1], user(cpu));
        setFlags(cpu, Flag.ZF, Flag.ZF);
      } else {
        cpu.writeLinear(la, 4, lo, user(cpu));
        cpu.writeLinear(la2, 4, hi, user(cpu));
        r[0] = lo;
        r[2] = hi;
        setFlags(cpu, Flag.ZF, 0);
      }
      break;
    }

    // ---- BCD -------------------------------------------------------------------------------------------------
    case M.Daa:
    case M.Das:
      decimalAdjust(cpu, d.mnemonic === M.Das);
      break;
    case M.Aaa:
    case M.Aas:
      asciiAdjust(cpu, d.mnemonic === M.Aas);
      break;
    case M.Aam: {
      const base = d.imms[0] & 0xff;
      if (base === 0) cpu.raise(Vec.DE);
      const al = cpu.regs[0] & 0xff;
      const res = ((Math.floor(al / base) & 0xff) << 8) | (al % base);
      writeReg(cpu, Register.AX, res);
      setFlags(cpu, ARITH_FLAGS, szp(res & 0xff, 1));
      break;
    }
    case M.Aad: {
      const base = d.imms[0] & 0xff;
      const ax = cpu.regs[0];
      const al = ((ax & 0xff) + ((ax >> 8) & 0xff) * base) & 0xff;
      const orig = ax & 0xff;
      const addend = (((ax >> 8) & 0xff) * base) & 0xff;
      writeReg(cpu, Register.AX, al);
      // Flags as an 8-bit ADD of AL and AH*imm8 on the parts that implement them (undefined by the SDM).
      setLazy(cpu, CcOp.Add, 1, orig, addend, al);
      break;
    }
    case M.Salc:
      writeReg(cpu, Register.AL, cpu.getEflags() & Flag.CF ? 0xff : 0);
      break;

    // ---- flags and stack -----------------------------------------------------------------------------------
    case M.Lahf:
      writeReg(cpu, Register.AH, (cpu.getEflags() & 0xd5) | 2);
      break;
    case M.Sahf:
      setFlags(cpu, Flag.SF | Flag.ZF | Flag.AF | Flag.PF | Flag.CF, (cpu.regs[0] >> 8) & 0xd5);
      break;
    case M.Pushf:
    case M.Pushfd: {
      if (cpu.vm86 && iopl(cpu) < 3) cpu.raise(Vec.GP, 0);
      const size: Size = d.mnemonic === M.Pushfd ? 4 : 2;
      // VM and RF are pushed as 0 (SDM PUSHF).
      push(cpu, cpu.getEflags() & (size === 4 ? 0x00fcffff : 0xffff), size);
      break;
    }
    case M.Popf:
    case M.Popfd:
      popFlags(cpu, d.mnemonic === M.Popfd ? 4 : 2);
      break;
    case M.Pusha:
    case M.Pushad: {
      const size: Size = d.mnemonic === M.Pushad ? 4 : 2;
      const r = cpu.regs;
      const ss32 = cpu.seg[Seg.SS].big;
      const esp = r[4];
      const values = [r[0], r[1], r[2], r[3], esp, r[5], r[6], r[7]];
      for (let i = 0; i < 8; i++) {
        const at = ss32 ? (esp - size * (i + 1)) | 0 : (esp - size * (i + 1)) & 0xffff;
        const la = cpu.segCheck(Seg.SS, at, size, true);
        cpu.probeWrite(la, size, user(cpu));
      }
      for (const v of values) push(cpu, size === 2 ? v & 0xffff : v, size);
      break;
    }
    case M.Popa:
    case M.Popad: {
      const size: Size = d.mnemonic === M.Popad ? 4 : 2;
      const values: number[] = [];
      for (let i = 0; i < 8; i++) values.push(stackRead(cpu, i * size, size));
      const order = [7, 6, 5, 4, 3, 2, 1, 0];
      for (let i = 0; i < 8; i++) {
        const reg = order[i];
        if (reg === 4) continue; // the saved ESP is discarded
        const v = values[i];
        cpu.regs[reg] = size === 4 ? v : (cpu.regs[reg] & -65536) | (v & 0xffff);
      }
      addEsp(cpu, 8 * size);
      break;
    }
    case M.Enter:
      enter(cpu, d);
      break;
    case M.Xlatb: {
      const base = d.addr32 ? cpu.regs[3] : cpu.regs[3] & 0xffff;
      const offset = d.addr32 ? (base + (cpu.regs[0] & 0xff)) | 0 : (base + (cpu.regs[0] & 0xff)) & 0xffff;
      writeReg(cpu, Register.AL, readMem(cpu, d.memSeg < 0 ? Seg.DS : d.memSeg, offset, 1));
      break;
    }
    case M.Bound: {
      const size = regSize(d.regs[0]);
      const index = readReg(cpu, d.regs[0]);
      const lower = readMem(cpu, d.memSeg, ea, size);
      const upper = readMem(cpu, d.memSeg, (ea + size) | 0, size);
      const sx = (v: number): number => (size === 2 ? (v << 16) >> 16 : v | 0);
      if (sx(index) < sx(lower) || sx(index) > sx(upper)) cpu.raise(Vec.BR);
      break;
    }

    // ---- control transfer ----------------------------------------------------------------------------------
    case M.Int:
      if (cpu.vm86 && iopl(cpu) < 3) cpu.raise(Vec.GP, 0);
      deliverInterrupt(cpu, d.imms[0] & 0xff, 'software', undefined, next);
      return;
    case M.Int3:
      deliverInterrupt(cpu, Vec.BP, 'int3', undefined, next);
      return;
    case M.Int1:
      deliverInterrupt(cpu, Vec.DB, 'icebp', undefined, next);
      return;
    case M.Into:
      if (cpu.getEflags() & Flag.OF) {
        deliverInterrupt(cpu, Vec.OF, 'into', undefined, next);
        return;
      }
      break;
    case M.Iret:
    case M.Iretd:
      if (cpu.vm86 && iopl(cpu) < 3) cpu.raise(Vec.GP, 0);
      interruptReturn(cpu, d.mnemonic === M.Iretd ? 4 : 2);
      cpu.nmiBlocked = false;
      return;
    case M.Jmp: {
      let selector = d.farSelector;
      let offset = d.farOffset;
      if (d.kinds[0] === OpKind.Memory) {
        const size = d.opSize;
        offset = readMem(cpu, d.memSeg, ea, size);
        selector = readMem(cpu, d.memSeg, (ea + size) | 0, 2);
      }
      farJump(cpu, selector, offset, next);
      return;
    }
    case M.Call: {
      let selector = d.farSelector;
      let offset = d.farOffset;
      if (d.kinds[0] === OpKind.Memory) {
        const size = d.opSize;
        offset = readMem(cpu, d.memSeg, ea, size);
        selector = readMem(cpu, d.memSeg, (ea + size) | 0, 2);
      }
      farCall(cpu, selector, offset, d.opSize, next);
      return;
    }
    case M.Retf:
      farReturn(cpu, d.opSize, d.opCount > 0 ? d.imms[0] & 0xffff : 0);
      return;
    case M.Hlt:
      requireCpl0(cpu);
      cpu.halted = true;
      break;
    case M.Ud0:
    case M.Ud1:
    case M.Ud2:
      cpu.raise(Vec.UD);
      break;

    // ---- I/O -------------------------------------------------------------------------------------------------
    case M.In: {
      const size = regSize(d.regs[0]);
      const v = cpu.portRead(portOf(cpu, d, 1), size);
      writeReg(cpu, d.regs[0], v);
      cpu.blockExit = true;
      break;
    }
    case M.Out: {
      const size = regSize(d.regs[1]);
      cpu.portWrite(portOf(cpu, d, 0), size, readReg(cpu, d.regs[1]));
      cpu.blockExit = true;
      break;
    }
    case M.Cli:
    case M.Sti: {
      if (cpu.protectedMode && (cpu.vm86 ? iopl(cpu) < 3 : cpu.cpl > iopl(cpu))) cpu.raise(Vec.GP, 0);
      if (d.mnemonic === M.Cli) cpu.eflags &= ~Flag.IF;
      else {
        if (!(cpu.eflags & Flag.IF)) cpu.interruptShadow = true;
        cpu.eflags |= Flag.IF;
      }
      break;
    }

    // ---- system ----------------------------------------------------------------------------------------------
    case M.Lgdt:
    case M.Lidt: {
      requireCpl0(cpu);
      if (cpu.vm86) cpu.raise(Vec.GP, 0);
      const limit = readMem(cpu, d.memSeg, ea, 2);
      let base = readMem(cpu, d.memSeg, (ea + 2) | 0, 4);
      if (d.opSize === 2) base &= 0xffffff;
      const table = d.mnemonic === M.Lgdt ? cpu.gdtr : cpu.idtr;
      table.base = base | 0;
      table.limit = limit;
      break;
    }
    case M.Sgdt:
    case M.Sidt: {
      const table = d.mnemonic === M.Sgdt ? cpu.gdtr : cpu.idtr;
      const la = cpu.segCheck(d.memSeg, ea, 2, true);
      const la2 = cpu.segCheck(d.memSeg, (ea + 2) | 0, 4, true);
      cpu.probeWrite(la, 6, user(cpu));
      cpu.writeLinear(la, 2, table.limit, user(cpu));
      // With a 16-bit operand size the high byte of the stored base is 0 on P6-family processors.
      cpu.writeLinear(la2, 4, d.opSize === 2 ? table.base & 0xffffff : table.base, user(cpu));
      break;
    }
    case M.Lldt:
      requireProtected(cpu);
      requireCpl0(cpu);
      loadLdt(cpu, readOperand(cpu, d, 0, ea) & 0xffff);
      break;
    case M.Ltr:
      requireProtected(cpu);
      requireCpl0(cpu);
      loadTaskRegister(cpu, readOperand(cpu, d, 0, ea) & 0xffff);
      break;
    case M.Sldt:
    case M.Str: {
      requireProtected(cpu);
      const selector = (d.mnemonic === M.Sldt ? cpu.ldtr : cpu.tr).selector;
      if (d.kinds[0] === OpKind.Memory) writeMem(cpu, d.memSeg, ea, 2, selector);
      else writeReg(cpu, d.regs[0], selector);
      break;
    }
    case M.Smsw:
      if (d.kinds[0] === OpKind.Memory) writeMem(cpu, d.memSeg, ea, 2, cpu.cr0 & 0xffff);
      else writeReg(cpu, d.regs[0], regSize(d.regs[0]) === 4 ? cpu.cr0 : cpu.cr0 & 0xffff);
      break;
    case M.Lmsw: {
      requireCpl0(cpu);
      const v = readOperand(cpu, d, 0, ea);
      // LMSW loads PE, MP, EM, TS and cannot clear PE (SDM LMSW).
      writeCr0(cpu, (cpu.cr0 & ~0xe) | (v & 0xf) | (cpu.cr0 & 1));
      break;
    }
    case M.Clts:
      requireCpl0(cpu);
      cpu.cr0 &= ~Cr0.TS;
      break;
    case M.Invd:
    case M.Wbinvd:
      requireCpl0(cpu);
      break;
    case M.Invlpg:
      requireCpl0(cpu);
      cpu.mmu.invalidatePage(cpu.segBase(d.memSeg) + ea);
      cpu.translator.flushSuccessors();
      break;
    case M.Rdmsr: {
      requireCpl0(cpu);
      const v = cpu.msr.read(cpu.regs[1]);
      cpu.regs[0] = Number(v & 0xffffffffn) | 0;
      cpu.regs[2] = Number(v >> 32n) | 0;
      break;
    }
    case M.Wrmsr:
      requireCpl0(cpu);
      cpu.msr.write(cpu.regs[1], (BigInt(cpu.regs[2] >>> 0) << 32n) | BigInt(cpu.regs[0] >>> 0));
      break;
    case M.Rdtsc: {
      if (cpu.cr4 & Cr4.TSD && cpu.cpl !== 0 && cpu.protectedMode) cpu.raise(Vec.GP, 0);
      cpu.msr.readTscHalves();
      cpu.regs[0] = cpu.msr.tscLow;
      cpu.regs[2] = cpu.msr.tscHigh;
      break;
    }
    case M.Rdpmc: {
      const index = cpu.regs[1];
      if (index >>> 0 > 1 || (!(cpu.cr4 & Cr4.PCE) && cpu.cpl !== 0 && cpu.protectedMode)) cpu.raise(Vec.GP, 0);
      cpu.regs[0] = 0;
      cpu.regs[2] = 0;
      break;
    }
    case M.Cpuid: {
      const [a, b, c, dd] = cpuid(cpu.regs[0], cpu.regs[1]);
      cpu.regs[0] = a;
      cpu.regs[3] = b;
      cpu.regs[1] = c;
      cpu.regs[2] = dd;
      break;
    }
    case M.Lar:
    case M.Lsl: {
      requireProtected(cpu);
      const selector = readOperand(cpu, d, 1, ea) & 0xffff;
      const v = d.mnemonic === M.Lar ? lar(cpu, selector) : lsl(cpu, selector);
      if (v === undefined) setFlags(cpu, Flag.ZF, 0);
      else {
        writeReg(cpu, d.regs[0], v);
        setFlags(cpu, Flag.ZF, Flag.ZF);
      }
      break;
    }
    case M.Verr:
    case M.Verw: {
      requireProtected(cpu);
      const selector = readOperand(cpu, d, 0, ea) & 0xffff;
      const ok = d.mnemonic === M.Verr ? verr(cpu, selector) : verw(cpu, selector);
      setFlags(cpu, Flag.ZF, ok ? Flag.ZF : 0);
      break;
    }
    case M.Arpl: {
      requireProtected(cpu);
      let la = 0;
      let dst: number;
      if (d.kinds[0] === OpKind.Memory) {
        la = beginRmw(cpu, d, ea, 2);
        dst = cpu.readLinear(la, 2, user(cpu));
      } else dst = readReg(cpu, d.regs[0]);
      const src = readReg(cpu, d.regs[1]);
      if ((dst & 3) < (src & 3)) {
        const v = (dst & ~3) | (src & 3);
        if (d.kinds[0] === OpKind.Memory) cpu.writeLinear(la, 2, v, user(cpu));
        else writeReg(cpu, d.regs[0], v);
        setFlags(cpu, Flag.ZF, Flag.ZF);
      } else setFlags(cpu, Flag.ZF, 0);
      break;
    }
    case M.Sysenter:
      sysenter(cpu);
      return;
    case M.Sysexit:
      sysexit(cpu);
      return;
    case M.Wait:
      cpu.fpu.execute(d.code, 0, 0, d.opSize, d.eip, cpu.seg[Seg.CS].selector, 0, 0, 0);
      break;
    default:
      if (isX87(d)) {
        x87(cpu, d, ea);
        break;
      }
      cpu.raise(Vec.UD);
  }
  cpu.eip = next;
}

/** Escape opcodes D8-DF (SDM vol. 2, x87 instructions). */
function isX87(d: Decoded): boolean {
  const opcode = d.bytes[d.opcodeOffset];
  return opcode >= 0xd8 && opcode <= 0xdf;
}

function x87(cpu: Cpu, d: Decoded, ea: number): void {
  const b = d.bytes;
  const i = d.opcodeOffset;
  const opcode11 = ((b[i] & 7) << 8) | (b[i + 1] ?? 0);
  let sti = 0;
  for (let k = 0; k < d.opCount; k++) {
    const r = d.regs[k];
    if (r >= Register.ST0 && r <= Register.ST7 && r !== Register.ST0) sti = r - Register.ST0;
  }
  const hasMem = d.kinds.includes(OpKind.Memory);
  let linear = 0;
  if (hasMem) linear = cpu.segBase(d.memSeg) + ea;
  cpu.fpu.execute(
    d.code,
    sti,
    linear,
    d.opSize,
    d.eip,
    cpu.seg[Seg.CS].selector,
    hasMem ? ea : 0,
    hasMem ? cpu.seg[d.memSeg].selector : 0,
    opcode11,
  );
}

function setLazy(cpu: Cpu, op: CcOp, size: Size, a: number, b: number, res: number): void {
  cpu.eflags = cpu.getEflags();
  cpu.ccOp = op + (size === 1 ? 0 : size === 2 ? 1 : 2);
  cpu.ccA = a;
  cpu.ccB = b;
  cpu.ccRes = res;
}

export function writeCr0(cpu: Cpu, value: number): void {
  value |= Cr0.ET;
  if (value & Cr0.PG && !(value & Cr0.PE)) cpu.raise(Vec.GP, 0);
  if (value & Cr0.NW && !(value & Cr0.CD)) cpu.raise(Vec.GP, 0);
  const changed = cpu.cr0 ^ value;
  cpu.cr0 = value | 0;
  if (changed & (Cr0.PG | Cr0.WP | Cr0.PE)) {
    cpu.mmu.flushAll();
    cpu.translator.flushSuccessors();
  }
  if (changed & Cr0.PE) {
    if (!(value & Cr0.PE)) cpu.cpl = 0;
    cpu.segmentChanged();
  } else if (changed & Cr0.AM) cpu.segmentChanged();
}

function movSpecial(cpu: Cpu, d: Decoded, ea: number): void {
  const dst = d.regs[0];
  const src = d.regs[1] ?? Register.None;
  const isSeg = (r: number): boolean => r >= Register.ES && r <= Register.GS;
  const isCr = (r: number): boolean => r >= Register.CR0 && r <= Register.CR15;
  const isDr = (r: number): boolean => r >= Register.DR0 && r <= Register.DR15;
  if (d.kinds[0] === OpKind.Register && isSeg(dst)) {
    const sreg = dst - Register.ES;
    if (sreg === Seg.CS) cpu.raise(Vec.UD);
    const selector = readOperand(cpu, d, 1, ea) & 0xffff;
    loadSegment(cpu, sreg, selector);
    if (sreg === Seg.SS) cpu.interruptShadow = true;
    return;
  }
  if (d.kinds[1] === OpKind.Register && isSeg(src)) {
    const selector = cpu.seg[src - Register.ES].selector;
    if (d.kinds[0] === OpKind.Memory) writeMem(cpu, d.memSeg, ea, 2, selector);
    else writeReg(cpu, dst, selector);
    return;
  }
  if (isCr(dst) || isCr(src)) {
    if (cpu.vm86) cpu.raise(Vec.GP, 0);
    requireCpl0(cpu);
    if (isCr(src)) {
      const n = src - Register.CR0;
      const v = n === 0 ? cpu.cr0 : n === 2 ? cpu.cr2 : n === 3 ? cpu.cr3 : n === 4 ? cpu.cr4 : cpu.raise(Vec.UD);
      writeReg(cpu, dst, v);
      return;
    }
    const n = dst - Register.CR0;
    const v = readReg(cpu, src);
    if (n === 0) writeCr0(cpu, v);
    else if (n === 2) cpu.cr2 = v;
    else if (n === 3) {
      cpu.cr3 = v & ~0xfe7;
      cpu.mmu.flushAll();
      cpu.translator.flushSuccessors();
    } else if (n === 4) {
      const supported = Cr4.PSE | Cr4.PGE | Cr4.TSD | Cr4.DE | Cr4.PCE;
      if (v & ~supported) cpu.raise(Vec.GP, 0);
      cpu.cr4 = v;
      cpu.mmu.flushAll();
      cpu.translator.flushSuccessors();
    } else cpu.raise(Vec.UD);
    return;
  }
  if (isDr(dst) || isDr(src)) {
    if (cpu.vm86) cpu.raise(Vec.GP, 0);
    requireCpl0(cpu);
    let n = isDr(src) ? src - Register.DR0 : dst - Register.DR0;
    if (n === 4 || n === 5) {
      if (cpu.cr4 & Cr4.DE) cpu.raise(Vec.UD);
      n += 2;
    }
    if (cpu.dr[7] & 0x2000) {
      // DR7.GD: any debug-register access raises #DB with DR6.BD (SDM 17.2.4).
      cpu.dr[7] = cpu.dr[7] & ~0x2000;
      cpu.dr[6] = cpu.dr[6] | 0x2000;
      cpu.raise(Vec.DB);
    }
    if (isDr(src)) writeReg(cpu, dst, cpu.dr[n]);
    else {
      const v = readReg(cpu, src);
      cpu.dr[n] = n === 6 ? (v & 0xe00f) | 0xffff0ff0 : n === 7 ? (v & 0xffff2bff) | 0x400 : v;
      if (n === 7 || n < 4) cpu.translator.debugRegistersChanged();
    }
    return;
  }
  cpu.raise(Vec.UD);
}

function multiply(cpu: Cpu, d: Decoded, ea: number, signed: boolean): void {
  const size = operandSize(d, 0);
  const src = readOperand(cpu, d, 0, ea);
  const r = cpu.regs;
  let overflow: boolean;
  let low: number;
  if (size === 1) {
    const a = r[0] & 0xff;
    const p = signed ? ((a << 24) >> 24) * ((src << 24) >> 24) : a * (src & 0xff);
    writeReg(cpu, Register.AX, p);
    overflow = signed ? p !== (p << 24) >> 24 : (p & 0xff00) !== 0;
    low = p & 0xff;
  } else if (size === 2) {
    const a = r[0] & 0xffff;
    const p = signed ? ((a << 16) >> 16) * ((src << 16) >> 16) : a * (src & 0xffff);
    writeReg(cpu, Register.AX, p);
    writeReg(cpu, Register.DX, p >> 16);
    overflow = signed ? p !== (p << 16) >> 16 : (p & 0xffff0000) !== 0;
    low = p & 0xffff;
  } else {
    const a = r[0];
    // 32 x 32 -> 64 bits in doubles: the multiplier is split in 16-bit halves so every product stays exact.
    const ua = a >>> 0;
    const ub = src >>> 0;
    const byLow = ua * (ub & 0xffff);
    const byHigh = ua * (ub >>> 16);
    const middle = byLow + (byHigh % 0x10000) * 0x10000;
    const lo = middle % 0x100000000 | 0;
    let hi = (Math.floor(byHigh / 0x10000) + Math.floor(middle / 0x100000000)) | 0;
    // Signed: subtract the other operand from the high half for each negative operand (two's complement).
    if (signed) hi = (hi - (a < 0 ? ub : 0) - ((src | 0) < 0 ? ua : 0)) | 0;
    r[0] = lo;
    r[2] = hi;
    overflow = signed ? hi !== lo >> 31 : hi !== 0;
    low = lo;
  }
  setFlags(cpu, ARITH_FLAGS, (overflow ? Flag.CF | Flag.OF : 0) | szp(low, size));
}

function divide(cpu: Cpu, d: Decoded, ea: number, signed: boolean): void {
  const size = operandSize(d, 0);
  const divisor = readOperand(cpu, d, 0, ea);
  const r = cpu.regs;
  if ((divisor & MASK[size]) === 0) cpu.raise(Vec.DE);
  if (size === 1) {
    const n = r[0] & 0xffff;
    let q: number;
    let rem: number;
    if (signed) {
      const nn = (n << 16) >> 16;
      const dd = (divisor << 24) >> 24;
      q = Math.trunc(nn / dd);
      rem = nn % dd;
      if (q > 127 || q < -128) cpu.raise(Vec.DE);
    } else {
      q = Math.floor(n / (divisor & 0xff));
      rem = n % (divisor & 0xff);
      if (q > 0xff) cpu.raise(Vec.DE);
    }
    writeReg(cpu, Register.AX, ((rem & 0xff) << 8) | (q & 0xff));
  } else if (size === 2) {
    const n = ((r[2] & 0xffff) << 16) | (r[0] & 0xffff);
    let q: number;
    let rem: number;
    if (signed) {
      const dd = (divisor << 16) >> 16;
      q = Math.trunc(n / dd);
      rem = n % dd;
      if (q > 32767 || q < -32768) cpu.raise(Vec.DE);
    } else {
      const un = n >>> 0;
      q = Math.floor(un / (divisor & 0xffff));
      rem = un % (divisor & 0xffff);
      if (q > 0xffff) cpu.raise(Vec.DE);
    }
    writeReg(cpu, Register.AX, q);
    writeReg(cpu, Register.DX, rem);
  } else if (signed) {
    const n = (BigInt(r[2] | 0) << 32n) | BigInt(r[0] >>> 0);
    const dd = BigInt(divisor | 0);
    const q = n / dd;
    if (q > 0x7fffffffn || q < -0x80000000n) cpu.raise(Vec.DE);
    r[0] = Number(q);
    r[2] = Number(n % dd);
  } else if (r[2] === 0) {
    const n = r[0] >>> 0;
    const dd = divisor >>> 0;
    r[0] = Math.floor(n / dd) | 0;
    r[2] = (n % dd) | 0;
  } else {
    const n = (BigInt(r[2] >>> 0) << 32n) | BigInt(r[0] >>> 0);
    const dd = BigInt(divisor >>> 0);
    const q = n / dd;
    if (q > 0xffffffffn) cpu.raise(Vec.DE);
    r[0] = Number(q) | 0;
    r[2] = Number(n % dd) | 0;
  }
}

function bitTest(cpu: Cpu, d: Decoded, ea: number): void {
  const size = operandSize(d, 0) as 2 | 4;
  const bits = size * 8;
  const m = d.mnemonic;
  const immediate = d.kinds[1] !== OpKind.Register;
  const raw = readOperand(cpu, d, 1, ea);
  let value: number;
  let bit: number;
  let la = 0;
  const mem = d.kinds[0] === OpKind.Memory;
  if (mem) {
    // With a register bit offset the operand is a bit string: the offset selects a word at any distance (signed).
    let offset = ea;
    if (immediate) bit = raw & (bits - 1);
    else {
      const signedOffset = size === 4 ? raw | 0 : (raw << 16) >> 16;
      const word = Math.floor(signedOffset / bits);
      offset = d.addr32 ? (ea + word * size) | 0 : (ea + word * size) & 0xffff;
      bit = signedOffset - word * bits;
    }
    if (m === M.Bt) {
      value = readMem(cpu, d.memSeg, offset, size);
    } else {
      la = cpu.segCheck(d.memSeg, offset, size, true);
      cpu.probeWrite(la, size, user(cpu));
      value = cpu.readLinear(la, size, user(cpu));
    }
  } else {
    bit = raw & (bits - 1);
    value = readReg(cpu, d.regs[0]);
  }
  const carry = (value >>> bit) & 1;
  let result = value;
  if (m === M.Bts) result = value | (1 << bit);
  else if (m === M.Btr) result = value & ~(1 << bit);
  else if (m === M.Btc) result = value ^ (1 << bit);
  if (m !== M.Bt) {
    if (mem) cpu.writeLinear(la, size, result, user(cpu));
    else writeReg(cpu, d.regs[0], result);
  }
  setFlags(cpu, Flag.CF, carry);
}

function doubleShift(cpu: Cpu, d: Decoded, ea: number): void {
  const size = operandSize(d, 0) as 2 | 4;
  const count = (d.kinds[2] === OpKind.Register ? cpu.regs[1] : d.imms[2]) & 31;
  const mem = d.kinds[0] === OpKind.Memory;
  let la = 0;
  let dst: number;
  if (mem) {
    la = beginRmw(cpu, d, ea, size);
    dst = cpu.readLinear(la, size, user(cpu));
  } else dst = readReg(cpu, d.regs[0]);
  if (count === 0) return;
  const src = readReg(cpu, d.regs[1]);
  const left = d.mnemonic === M.Shld;
  let result: number;
  let carry: number;
  if (size === 4) {
    const a = dst >>> 0;
    const b = src >>> 0;
    if (left) {
      result = ((a << count) | (b >>> (32 - count))) >>> 0;
      carry = (a >>> (32 - count)) & 1;
    } else {
      result = ((a >>> count) | (b << (32 - count))) >>> 0;
      carry = (a >>> (count - 1)) & 1;
    }
  } else {
    // 16-bit forms with counts above 16 shift through the 48-bit concatenation as Intel parts do (undefined in the SDM).
    const a = dst & 0xffff;
    const b = src & 0xffff;
    if (left) {
      const wide = BigInt(a) * 0x100000000n + BigInt(b) * 0x10000n + BigInt(a);
      result = Number((wide << BigInt(count)) >> 32n) & 0xffff;
      carry = Number((wide >> BigInt(48 - count)) & 1n);
    } else {
      const wide = BigInt(a) | (BigInt(b) << 16n) | (BigInt(a) << 32n);
      result = Number((wide >> BigInt(count)) & 0xffffn);
      carry = Number((wide >> BigInt(count - 1)) & 1n);
    }
  }
  if (mem) cpu.writeLinear(la, size, result, user(cpu));
  else writeReg(cpu, d.regs[0], result);
  const sign = SIGN[size];
  let f = szp(result, size) | carry;
  // OF is defined for a count of 1: set when the sign changed.
  if (((result ^ dst) & sign) !== 0) f |= Flag.OF;
  setFlags(cpu, ARITH_FLAGS, f);
}

function decimalAdjust(cpu: Cpu, subtract: boolean): void {
  const f = cpu.getEflags();
  const oldAl = cpu.regs[0] & 0xff;
  const oldCf = f & Flag.CF;
  let al = oldAl;
  let cf = 0;
  let af = 0;
  if ((al & 0xf) > 9 || f & Flag.AF) {
    al = subtract ? al - 6 : al + 6;
    cf = oldCf | (subtract ? (oldAl < 6 ? 1 : 0) : al > 0xff ? 1 : 0);
    af = Flag.AF;
  }
  if (oldAl > 0x99 || oldCf) {
    al = subtract ? al - 0x60 : al + 0x60;
    cf = 1;
  } else if (!subtract) cf = 0;
  al &= 0xff;
  writeReg(cpu, Register.AL, al);
  // OF is undefined; compute it as an 8-bit add/sub of the adjustment, as Intel parts do.
  setFlags(cpu, ARITH_FLAGS, szp(al, 1) | cf | af);
}

function asciiAdjust(cpu: Cpu, subtract: boolean): void {
  const f = cpu.getEflags();
  let ax = cpu.regs[0] & 0xffff;
  let flags = 0;
  if ((ax & 0xf) > 9 || f & Flag.AF) {
    if (subtract) {
      // AX - 6 borrows into AH on the parts the vectors come from, then AH is decremented.
      ax = (ax - 6) & 0xffff;
      ax = ((((ax >> 8) - 1) & 0xff) << 8) | (ax & 0xff);
    } else ax = (ax + 0x106) & 0xffff;
    flags = Flag.AF | Flag.CF;
  }
  ax &= 0xff0f;
  writeReg(cpu, Register.AX, ax);
  setFlags(cpu, ARITH_FLAGS, flags | szp(ax & 0xff, 1));
}

function popFlags(cpu: Cpu, size: Size): void {
  if (cpu.vm86 && iopl(cpu) < 3) cpu.raise(Vec.GP, 0);
  const value = stackRead(cpu, 0, size);
  let mask = ARITH_FLAGS | Flag.TF | Flag.DF | Flag.NT;
  if (size === 4) mask |= Flag.AC | Flag.ID;
  if (!cpu.protectedMode || cpu.cpl === 0) mask |= Flag.IOPL | Flag.IF;
  else if (cpu.cpl <= iopl(cpu)) mask |= Flag.IF;
  if (cpu.vm86) mask = (mask | Flag.IF) & ~Flag.IOPL;
  if (size === 2) mask &= 0xffff;
  addEsp(cpu, size);
  const wasIf = cpu.eflags & Flag.IF;
  cpu.setEflags(value, mask);
  // RF is cleared by POPF; VM, VIF and VIP keep their values (SDM POPF).
  cpu.eflags &= ~Flag.RF;
  if (!wasIf && cpu.eflags & Flag.IF) cpu.interruptShadow = false;
}

function enter(cpu: Cpu, d: Decoded): void {
  const size = d.opSize;
  const frameSize = d.imms[0] & 0xffff;
  const level = d.imms[1] & 31;
  const r = cpu.regs;
  const ss32 = cpu.seg[Seg.SS].big;
  const wrap = (v: number): number => (ss32 ? v | 0 : v & 0xffff);
  let esp = r[4];
  let ebp = r[5];
  const writes: [number, number][] = [];
  esp = wrap(esp - size);
  writes.push([esp, ebp]);
  const frameTemp = esp;
  if (level > 0) {
    for (let i = 1; i < level; i++) {
      ebp = wrap(ebp - size);
      const v = readMem(cpu, Seg.SS, ebp, size);
      esp = wrap(esp - size);
      writes.push([esp, v]);
    }
    esp = wrap(esp - size);
    writes.push([esp, frameTemp]);
  }
  const finalEsp = wrap(esp - frameSize);
  // The whole frame must be writable before anything is stored (SDM ENTER: #SS/#PF leave state unchanged).
  for (const [at] of writes) cpu.probeWrite(cpu.segCheck(Seg.SS, at, size, true), size, user(cpu));
  if (frameSize) cpu.segCheck(Seg.SS, finalEsp, 1, true);
  for (const [at, v] of writes) writeMem(cpu, Seg.SS, at, size, v);
  const keep = (old: number, v: number): number => (ss32 ? v : (old & -65536) | (v & 0xffff));
  r[5] = size === 4 ? frameTemp | 0 : (r[5] & -65536) | (frameTemp & 0xffff);
  r[4] = keep(r[4], ss32 ? finalEsp : finalEsp & 0xffff);
}

function sysenter(cpu: Cpu): void {
  const cs = cpu.msr.sysenterCs & 0xfffc;
  if (!cpu.protectedMode || cs === 0) cpu.raise(Vec.GP, 0);
  cpu.eflags &= ~(Flag.VM | Flag.IF | Flag.RF);
  cpu.seg[Seg.CS].set(cs, 0, 0xffffffff, 0xc09b);
  cpu.seg[Seg.SS].set((cs + 8) & 0xffff, 0, 0xffffffff, 0xc093);
  cpu.cpl = 0;
  cpu.regs[4] = cpu.msr.sysenterEsp;
  cpu.eip = cpu.msr.sysenterEip;
  cpu.segmentChanged();
}

function sysexit(cpu: Cpu): void {
  const cs = cpu.msr.sysenterCs & 0xfffc;
  if (!cpu.protectedMode || cs === 0 || cpu.cpl !== 0) cpu.raise(Vec.GP, 0);
  cpu.seg[Seg.CS].set(((cs + 16) | 3) & 0xffff, 0, 0xffffffff, 0xc0fb);
  cpu.seg[Seg.SS].set(((cs + 24) | 3) & 0xffff, 0, 0xffffffff, 0xc0f3);
  cpu.cpl = 3;
  cpu.regs[4] = cpu.regs[1]!;
  cpu.eip = cpu.regs[2]!;
  cpu.segmentChanged();
}

export { checkIoPermission };
