/**
 * Runs small assembled guest programs on a bare `Cpu` (RAM + port space, no devices) in real mode, flat 32-bit
 * protected mode, or protected mode with paging, and reports what happened.
 *
 * Every interrupt vector has a default handler stub that pushes an error code (0 when the vector has none) and
 * the vector number, then halts: after an exception, `trap()` reads the frame the CPU pushed.
 *
 * Protected-mode memory map (physical = linear unless a test changes the page tables):
 *   0x01000 GDT (32 entries; 0x40-0xf8 free for tests)   0x02000 IDT (256 gates)
 *   0x03000 TSS, I/O bitmap from 0x3068 to 0x5068        0x06000 default handler stubs, 16 bytes each
 *   0x09000 initial ESP (ring 0)    0x0a000 TSS.ESP0     0x0b000 user stack top (free for tests)
 *   0x10000 program (org)           0x20000 page directory, 0x21000 page table for 0-4 MiB (when paging)
 *   0x30000-0x3ffff scratch data
 * Real mode: IVT at 0, stubs at 0000:0500 + 8 * vector, program at CS:IP = 0000:1000 by default, SS:SP 0000:8000.
 */
import { PhysicalAddressSpace } from '../../adapter/core/bus/physical';
import { PortSpace } from '../../adapter/core/bus/ports';
import { Cpu, RunExit } from '../../adapter/core/cpu/cpu';
import { Cr0, Cr4, hasErrorCode } from '../../adapter/core/cpu/state';
import type { PcMachine } from '../../adapter/core/machine/pc';
import { assemble } from './asm';
import type { Assembled } from './asm';

export const GDT = 0x1000;
export const IDT = 0x2000;
export const TSS = 0x3000;
export const IOMAP = TSS + 0x68;
export const STUBS = 0x6000;
export const KSTACK = 0x9000;
export const ESP0 = 0xa000;
export const USTACK = 0xb000;
export const CODE = 0x10000;
export const PD = 0x20000;
export const PT0 = 0x21000;
export const SCRATCH = 0x30000;
export const REAL_STUBS = 0x500;

export const KCODE = 0x08;
export const KDATA = 0x10;
export const UCODE = 0x1b;
export const UDATA = 0x23;
export const TSS_SEL = 0x28;
export const CODE16 = 0x30;
export const DATA16 = 0x38;

/** nasm definitions every program can use. */
const PRELUDE = `
KCODE equ 0x08
KDATA equ 0x10
UCODE equ 0x1b
UDATA equ 0x23
TSS_SEL equ 0x28
CODE16 equ 0x30
DATA16 equ 0x38
GDT equ 0x${GDT.toString(16)}
IDT equ 0x${IDT.toString(16)}
TSS equ 0x${TSS.toString(16)}
SCRATCH equ 0x${SCRATCH.toString(16)}
USTACK equ 0x${USTACK.toString(16)}
PD equ 0x${PD.toString(16)}
PT0 equ 0x${PT0.toString(16)}
; Enters ring 3 at label %1 with IRET: user code segment, user stack at USTACK, EFLAGS %2 (default 2).
%macro ENTER_RING3 1-2 2
  push UDATA
  push USTACK
  push %2
  push UCODE
  push %1
  iret
%endmacro
`;

export interface Trap {
  vector: number;
  errorCode: number;
  eip: number;
  cs: number;
  eflags: number;
  /** Only for a privilege change (ring 3 → 0). */
  esp?: number;
  ss?: number;
}

export interface GuestOptions {
  /** 'real', 'flat' (32-bit protected mode, CPL 0), 'paging' (flat + identity paging of 0-4 MiB). */
  mode?: 'real' | 'flat' | 'paging';
  /** RAM in MiB (default 16). */
  memoryMiB?: number;
  /** Program origin (default 0x10000, real mode 0x1000). */
  org?: number;
  /** Real mode: CS for the program (default 0); the program runs at CS:org. */
  realCs?: number;
  /** Paging: set CR4.PSE (default false) and CR0.WP (default false). */
  pse?: boolean;
  wp?: boolean;
  /** Program bits (default 32 in protected mode, 16 in real mode). */
  bits?: 16 | 32;
  /** Protected mode: physical load address when it differs from org (programs for a segment with a base). */
  loadAt?: number;
  /** Run on this PC machine (its RAM, ports, devices and CPU) instead of a bare CPU. */
  machine?: PcMachine;
}

export class Guest {
  readonly phys: PhysicalAddressSpace;
  readonly ports: PortSpace;
  readonly cpu: Cpu;
  readonly program: Assembled;
  readonly mode: 'real' | 'flat' | 'paging';

  constructor(source: string, options: GuestOptions = {}) {
    this.mode = options.mode ?? 'flat';
    const real = this.mode === 'real';
    if (options.machine) {
      this.phys = options.machine.phys;
      this.ports = options.machine.ports;
      this.cpu = options.machine.cpu;
    } else {
      this.phys = new PhysicalAddressSpace((options.memoryMiB ?? 16) << 20);
      this.ports = new PortSpace();
      this.cpu = new Cpu({ phys: this.phys, ports: this.ports });
    }
    const org = options.org ?? (real ? 0x1000 : CODE);
    this.program = assemble(PRELUDE + source, { bits: options.bits ?? (real ? 16 : 32), org });
    const realCs = options.realCs ?? 0;
    this.phys.debugWrite(real ? realCs * 16 + org : (options.loadAt ?? org), this.program.bytes);
    if (real) this.setupReal(org, realCs);
    else this.setupProtected(org, this.mode === 'paging', options.pse ?? false, options.wp ?? false);
  }

  /** Address of a label or constant of the program. */
  sym(name: string): number {
    const v = this.program.symbols.get(name);
    if (v === undefined) throw new Error(`no symbol ${name}`);
    return v;
  }

  private setupReal(org: number, cs: number): void {
    const cpu = this.cpu;
    for (let v = 0; v < 256; v++) {
      const stub = REAL_STUBS + v * 8;
      this.w32(v * 4, stub); // offset = stub, segment 0
      // push word 0 (if no error code) ; push word v ; hlt
      const bytes = [0x6a, 0x00, 0x68, v & 0xff, 0x00, 0xf4];
      this.phys.debugWrite(stub, Uint8Array.from(bytes));
    }
    cpu.seg[1].set(cs, cs << 4, 0xffff, 0x9b);
    for (const s of [0, 2, 3, 4, 5]) cpu.seg[s].set(0, 0, 0xffff, 0x93);
    cpu.eip = org;
    cpu.regs[4] = 0x8000;
    cpu.segmentChanged();
  }

  private setupProtected(org: number, paging: boolean, pse: boolean, wp: boolean): void {
    const cpu = this.cpu;
    this.descriptor(KCODE, 0, 0xfffff, 0x9b, 0xc);
    this.descriptor(KDATA, 0, 0xfffff, 0x93, 0xc);
    this.descriptor(UCODE, 0, 0xfffff, 0xfb, 0xc);
    this.descriptor(UDATA, 0, 0xfffff, 0xf3, 0xc);
    this.descriptor(TSS_SEL, TSS, 0x68 + 0x2000, 0x89, 0);
    this.descriptor(CODE16, 0, 0xffff, 0x9b, 0);
    this.descriptor(DATA16, 0, 0xffff, 0x93, 0);
    for (let v = 0; v < 256; v++) {
      const stub = STUBS + v * 16;
      this.gate(v, stub);
      const push = hasErrorCode(v) ? [] : [0x6a, 0x00];
      this.phys.debugWrite(stub, Uint8Array.from([...push, 0x68, v, 0, 0, 0, 0xf4]));
    }
    // TSS: ESP0/SS0 and the I/O bitmap offset (bitmap all clear = every port allowed, plus the 0xff terminator).
    this.w32(TSS + 4, ESP0);
    this.w32(TSS + 8, KDATA);
    this.w32(TSS + 0x64, 0x68 << 16);
    this.phys.debugWrite(IOMAP + 0x2000, Uint8Array.of(0xff));
    cpu.gdtr.base = GDT;
    cpu.gdtr.limit = 32 * 8 - 1;
    cpu.idtr.base = IDT;
    cpu.idtr.limit = 256 * 8 - 1;
    cpu.tr.set(TSS_SEL, TSS, 0x68 + 0x2000, 0x8b);
    this.w32(GDT + TSS_SEL + 4, this.r32(GDT + TSS_SEL + 4) | 0x200); // busy
    cpu.cr0 = Cr0.PE | Cr0.ET | Cr0.NE;
    cpu.seg[1].set(KCODE, 0, 0xffffffff, 0xc09b);
    for (const s of [0, 2, 3, 4, 5]) cpu.seg[s].set(KDATA, 0, 0xffffffff, 0xc093);
    cpu.cpl = 0;
    cpu.eip = org;
    cpu.regs[4] = KSTACK;
    if (paging) {
      this.w32(PD, PT0 | 7);
      for (let i = 0; i < 1024; i++) this.w32(PT0 + i * 4, (i << 12) | 7);
      cpu.cr3 = PD;
      cpu.cr0 |= Cr0.PG;
      if (pse) cpu.cr4 |= Cr4.PSE;
    }
    if (wp) cpu.cr0 |= Cr0.WP;
    cpu.segmentChanged();
    cpu.mmu.flushAll();
  }

  /** Writes a GDT entry: base, raw 20-bit limit, access byte (P DPL S type), flags nibble (G D/B 0 AVL). */
  descriptor(selector: number, base: number, limit: number, access: number, flags: number): void {
    const at = GDT + (selector & ~7);
    this.w32(at, ((base & 0xffff) << 16) | (limit & 0xffff));
    this.w32(
      at + 4,
      (base & 0xff000000) | ((flags & 0xf) << 20) | (limit & 0xf0000) | ((access & 0xff) << 8) | ((base >>> 16) & 0xff),
    );
  }

  /** Writes an IDT entry: a 32-bit interrupt gate (type 0xe) by default. */
  gate(vector: number, offset: number, options: { selector?: number; type?: number; dpl?: number } = {}): void {
    const at = IDT + vector * 8;
    const type = options.type ?? 0xe;
    this.w32(at, ((options.selector ?? KCODE) << 16) | (offset & 0xffff));
    this.w32(at + 4, (offset & 0xffff0000) | 0x8000 | ((options.dpl ?? 0) << 13) | (type << 8));
  }

  /** Real mode: points IVT entry `vector` at seg:off. */
  ivt(vector: number, segment: number, offset: number): void {
    this.w32(vector * 4, ((segment & 0xffff) << 16) | (offset & 0xffff));
  }

  w32(address: number, value: number): void {
    const b = new Uint8Array(4);
    new DataView(b.buffer).setUint32(0, value >>> 0, true);
    this.phys.debugWrite(address, b);
  }

  r32(address: number): number {
    return new DataView(this.phys.debugRead(address, 4).buffer).getUint32(0, true);
  }

  r16(address: number): number {
    return new DataView(this.phys.debugRead(address, 2).buffer).getUint16(0, true);
  }

  r8(address: number): number {
    return this.phys.debugRead(address, 1)[0];
  }

  /** Runs until HLT (or the budget, or a shutdown). Throws if the budget runs out. */
  run(budget = 100_000): RunExit {
    const exit = this.cpu.run(budget);
    if (exit === RunExit.Budget) throw new Error(`guest still running after ${budget} instructions`);
    return exit;
  }

  /** Runs and expects the program to stop at its own HLT (not in a handler stub, not a shutdown). */
  runToHlt(budget = 100_000): void {
    const exit = this.run(budget);
    if (exit !== RunExit.Halted) throw new Error(`expected HLT, got exit ${exit}: ${this.cpu.stopReason}`);
    const t = this.inStub();
    if (t !== undefined) {
      const f = this.trap();
      throw new Error(
        `unexpected exception ${f.vector} (error 0x${f.errorCode.toString(16)}) at eip 0x${f.eip.toString(16)}`,
      );
    }
  }

  /** The vector of the default stub the CPU halted in, if any. */
  inStub(): number | undefined {
    const ip = this.cpu.linearIp >>> 0;
    const base = this.mode === 'real' ? REAL_STUBS : STUBS;
    const size = this.mode === 'real' ? 8 : 16;
    if (ip < base || ip >= base + 256 * size) return undefined;
    return Math.floor((ip - base) / size);
  }

  /** Runs and expects to stop in a default handler stub; returns the exception frame. */
  runToTrap(budget = 100_000): Trap {
    const exit = this.run(budget);
    if (exit !== RunExit.Halted) throw new Error(`expected a trap, got exit ${exit}: ${this.cpu.stopReason}`);
    if (this.inStub() === undefined) throw new Error(`expected a trap, halted at eip 0x${this.cpu.eip.toString(16)}`);
    return this.trap();
  }

  /** The frame on the stack of a default handler stub. */
  trap(): Trap {
    const cpu = this.cpu;
    const sp = (cpu.seg[2].base + (cpu.seg[2].big ? cpu.regs[4] : cpu.regs[4] & 0xffff)) >>> 0;
    const rd = (offset: number, size: 2 | 4): number => cpu.readLinear(sp + offset, size, false) >>> 0;
    if (this.mode === 'real') {
      return { vector: rd(0, 2), errorCode: rd(2, 2), eip: rd(4, 2), cs: rd(6, 2), eflags: rd(8, 2) };
    }
    const t: Trap = { vector: rd(0, 4), errorCode: rd(4, 4), eip: rd(8, 4), cs: rd(12, 4) & 0xffff, eflags: rd(16, 4) };
    if ((t.cs & 3) !== (cpu.seg[1].selector & 3)) {
      t.esp = rd(20, 4);
      t.ss = rd(24, 4) & 0xffff;
    }
    return t;
  }

  /** EIP in the frame of the interrupt just delivered (the handler has not run yet, or is a stub). */
  trapFrameEip(): number {
    const cpu = this.cpu;
    const sp = (cpu.seg[2].base + (cpu.seg[2].big ? cpu.regs[4] : cpu.regs[4] & 0xffff)) >>> 0;
    return this.mode === 'real' ? cpu.readLinear(sp, 2, false) : cpu.readLinear(sp, 4, false) >>> 0;
  }

  reg(i: number): number {
    return this.cpu.regs[i] >>> 0;
  }

  get eax(): number {
    return this.reg(0);
  }
  get ecx(): number {
    return this.reg(1);
  }
  get edx(): number {
    return this.reg(2);
  }
  get ebx(): number {
    return this.reg(3);
  }
  get esp(): number {
    return this.reg(4);
  }
  get ebp(): number {
    return this.reg(5);
  }
  get esi(): number {
    return this.reg(6);
  }
  get edi(): number {
    return this.reg(7);
  }
}

export function guest(source: string, options: GuestOptions = {}): Guest {
  return new Guest(source, options);
}
