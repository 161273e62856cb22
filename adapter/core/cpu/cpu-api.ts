import type { SegmentCache, TableRegister } from './state';

/**
 * What the CPU's system-level helpers (segmentation and control transfers, interrupt delivery, the x87 unit)
 * need from the CPU. The Cpu class implements it; helpers take it as their first argument.
 *
 * Memory accessors take linear addresses and throw GuestFault (#PF with CR2, #AC...) on failure; all
 * segmentation checks are the caller's business. Sizes are 1, 2 or 4 bytes; values are unsigned.
 */
export interface CpuCore {
  /** EAX, ECX, EDX, EBX, ESP, EBP, ESI, EDI (Reg order). */
  readonly regs: Int32Array;
  eip: number;
  /** ES, CS, SS, DS, FS, GS (Seg order). After changing a cache directly, call segmentChanged(). */
  readonly seg: readonly SegmentCache[];
  readonly gdtr: TableRegister;
  readonly idtr: TableRegister;
  readonly ldtr: SegmentCache;
  readonly tr: SegmentCache;
  cr0: number;
  cr2: number;
  cr3: number;
  cr4: number;
  /** Current privilege level (CS.RPL in protected mode, 0 in real mode, 3 in virtual-8086 mode). */
  readonly cpl: number;
  /** CR0.PE */
  readonly protectedMode: boolean;
  /** EFLAGS.VM */
  readonly vm86: boolean;

  /** EFLAGS with the lazily computed status flags materialised. */
  getEflags(): number;
  /** Replaces the bits of EFLAGS selected by `mask` (bit 1 stays set; reserved bits stay clear). */
  setEflags(value: number, mask: number): void;
  /** Sets the CPL and everything that depends on it (TLB selection, translated-code mode). */
  setCpl(cpl: number): void;
  /** Must be called after a segment cache, CR0 or EFLAGS.VM changed outside the CPU's own paths. */
  segmentChanged(): void;

  /** Supervisor-privilege linear accesses (descriptor tables, TSS, IDT): SDM 5.5 implicit supervisor accesses. */
  readSys(linear: number, size: 1 | 2 | 4): number;
  writeSys(linear: number, size: 1 | 2 | 4, value: number): void;
  /** Linear accesses with the given privilege (`user` = CPL 3 page checks). */
  readLinear(linear: number, size: 1 | 2 | 4, user: boolean): number;
  writeLinear(linear: number, size: 1 | 2 | 4, value: number, user: boolean): void;
  /** Checks that `length` bytes from `linear` are writable (raising #PF as a write would) without writing. */
  probeWrite(linear: number, length: number, user: boolean): void;

  /** Throws a GuestFault for `vector`; never returns. */
  raise(vector: number, errorCode?: number): never;
  /** Stops the machine with a reason (triple fault, shutdown); used when the architecture says so. */
  shutdown(reason: string): never;
}
