/** Architectural constants and the small value types of the CPU (Intel SDM vol. 3). */

export const enum Reg {
  EAX = 0,
  ECX = 1,
  EDX = 2,
  EBX = 3,
  ESP = 4,
  EBP = 5,
  ESI = 6,
  EDI = 7,
}

/** Segment registers in encoding order (the sreg field of ModRM). */
export const enum Seg {
  ES = 0,
  CS = 1,
  SS = 2,
  DS = 3,
  FS = 4,
  GS = 5,
}
export const SEG_NAMES = ['es', 'cs', 'ss', 'ds', 'fs', 'gs'] as const;
export const REG_NAMES = ['eax', 'ecx', 'edx', 'ebx', 'esp', 'ebp', 'esi', 'edi'] as const;

export const enum Flag {
  CF = 1 << 0,
  /** Bit 1 always reads as 1. */
  RESERVED1 = 1 << 1,
  PF = 1 << 2,
  AF = 1 << 4,
  ZF = 1 << 6,
  SF = 1 << 7,
  TF = 1 << 8,
  IF = 1 << 9,
  DF = 1 << 10,
  OF = 1 << 11,
  IOPL = 3 << 12,
  NT = 1 << 14,
  RF = 1 << 16,
  VM = 1 << 17,
  AC = 1 << 18,
  VIF = 1 << 19,
  VIP = 1 << 20,
  ID = 1 << 21,
}
/** The six status flags computed by arithmetic. */
export const ARITH_FLAGS = Flag.CF | Flag.PF | Flag.AF | Flag.ZF | Flag.SF | Flag.OF;
/** Bits of EFLAGS that exist on an i686 (with CPUID, so ID is writable). */
export const EFLAGS_WRITABLE =
  ARITH_FLAGS |
  Flag.TF |
  Flag.IF |
  Flag.DF |
  Flag.IOPL |
  Flag.NT |
  Flag.RF |
  Flag.VM |
  Flag.AC |
  Flag.VIF |
  Flag.VIP |
  Flag.ID;

export const enum Cr0 {
  PE = 1 << 0,
  MP = 1 << 1,
  EM = 1 << 2,
  TS = 1 << 3,
  ET = 1 << 4,
  NE = 1 << 5,
  WP = 1 << 16,
  AM = 1 << 18,
  NW = 1 << 29,
  CD = 1 << 30,
  PG = 1 << 31,
}

export const enum Cr4 {
  VME = 1 << 0,
  PVI = 1 << 1,
  TSD = 1 << 2,
  DE = 1 << 3,
  PSE = 1 << 4,
  PAE = 1 << 5,
  MCE = 1 << 6,
  PGE = 1 << 7,
  PCE = 1 << 8,
  OSFXSR = 1 << 9,
}

/** Exception vectors. */
export const enum Vec {
  DE = 0,
  DB = 1,
  NMI = 2,
  BP = 3,
  OF = 4,
  BR = 5,
  UD = 6,
  NM = 7,
  DF = 8,
  TS = 10,
  NP = 11,
  SS = 12,
  GP = 13,
  PF = 14,
  MF = 16,
  AC = 17,
  MC = 18,
}

export const EXCEPTION_NAMES: Record<number, string> = {
  0: '#DE divide error',
  1: '#DB debug',
  2: 'NMI',
  3: '#BP breakpoint',
  4: '#OF overflow',
  5: '#BR bound range exceeded',
  6: '#UD invalid opcode',
  7: '#NM device not available',
  8: '#DF double fault',
  10: '#TS invalid TSS',
  11: '#NP segment not present',
  12: '#SS stack fault',
  13: '#GP general protection',
  14: '#PF page fault',
  16: '#MF x87 floating-point error',
  17: '#AC alignment check',
  18: '#MC machine check',
};

/** Exceptions that push an error code (SDM 6.13). */
export function hasErrorCode(vector: number): boolean {
  return vector === 8 || (vector >= 10 && vector <= 14) || vector === 17;
}

/**
 * A guest exception raised inside the core. Thrown by memory and system helpers and caught at the
 * instruction boundary, where the architectural state is that of the start of the faulting instruction.
 */
export class GuestFault {
  constructor(
    readonly vector: number,
    readonly errorCode: number | undefined = undefined,
    /** For #PF: the linear address (CR2). */
    readonly address = 0,
  ) {}
}

/** Page-fault error code bits (SDM 4.7). */
export const enum PfErr {
  P = 1,
  W = 2,
  U = 4,
  RSVD = 8,
  I = 16,
}

/** A segment register with its hidden descriptor cache. */
export class SegmentCache {
  selector = 0;
  base = 0;
  /** Effective limit in bytes (granularity applied): the highest valid offset for expand-up segments. */
  limit = 0xffff;
  /**
   * Access rights as in descriptor bytes 5-6 (bits 8-23 of the descriptor's high dword, shifted down by 8):
   * type (0-3), S (4), DPL (5-6), P (7), AVL (12), L (13), D/B (14), G (15).
   */
  access = 0x93;
  /** False for a null selector loaded in protected mode: any access through it raises #GP(0). */
  valid = true;

  get dpl(): number {
    return (this.access >> 5) & 3;
  }
  get present(): boolean {
    return (this.access & 0x80) !== 0;
  }
  /** The D/B bit: 32-bit code or stack. */
  get big(): boolean {
    return (this.access & 0x4000) !== 0;
  }
  get type(): number {
    return this.access & 0xf;
  }
  get isCode(): boolean {
    return (this.access & 0x18) === 0x18;
  }

  set(selector: number, base: number, limit: number, access: number, valid = true): void {
    this.selector = selector & 0xffff;
    this.base = base | 0;
    this.limit = limit >>> 0;
    this.access = access;
    this.valid = valid;
  }

  copyFrom(other: SegmentCache): void {
    this.set(other.selector, other.base, other.limit, other.access, other.valid);
  }
}

/** A descriptor table register (GDTR, IDTR). */
export interface TableRegister {
  base: number;
  limit: number;
}

/** Decodes the 8 bytes of a segment descriptor (low dword, high dword). */
export function descriptorBase(lo: number, hi: number): number {
  return (lo >>> 16) | ((hi & 0xff) << 16) | (hi & 0xff000000) | 0;
}

export function descriptorLimit(lo: number, hi: number): number {
  const raw = (lo & 0xffff) | (hi & 0xf0000);
  return hi & 0x800000 ? ((raw << 12) | 0xfff) >>> 0 : raw;
}

export function descriptorAccess(hi: number): number {
  return (hi >>> 8) & 0xf0ff;
}
