/**
 * The softmmu: linear → physical translation with two-level paging (4 KiB pages and 4 MiB PSE pages), TLBs
 * per access type and privilege whose entries lead straight to RAM, and the slow path for everything else
 * (misses, MMIO, pages holding translated code, hooked or watched pages).
 *
 * A TLB entry for virtual page V is `physicalPage ^ virtualPage` (both page-aligned), so the RAM offset of a
 * linear address `la` is `entry ^ la`. Entries with bit 0 set are invalid: every access to them takes the slow
 * path.
 */
import type { PhysicalAddressSpace } from '../bus/physical';
import { PageKind } from '../bus/physical';
import { Cr0, Cr4, GuestFault, PfErr, Vec } from './state';

export const TLB_INVALID = 1;
const PAGES = 1 << 20;

export const enum TlbKind {
  ReadSupervisor = 0,
  WriteSupervisor = 1,
  ReadUser = 2,
  WriteUser = 3,
}

export interface PagingRegisters {
  cr0: number;
  cr3: number;
  cr4: number;
}

export class Mmu {
  /** Indexed by TlbKind. */
  readonly tlbs: Int32Array[] = [0, 1, 2, 3].map(() => new Int32Array(PAGES).fill(TLB_INVALID));
  /** Virtual pages filled in each TLB since its last flush. */
  private readonly filled: number[][] = [[], [], [], []];
  /** Physical pages that hold translated code: writes to them take the slow path. */
  readonly codePages = new Uint8Array(PAGES);
  /** Physical pages that must never be cached (hooked or watched RAM); shared with the physical address space. */
  readonly slowPages: Uint8Array;
  /** Virtual pages that must never be cached (hardware data breakpoints, debugger linear watchpoints). */
  readonly slowLinearPages = new Set<number>();
  /** Bumped on every flush; translated-code successor caches are valid for one generation. */
  generation = 0;
  /** Bit 20 is cleared from physical addresses while the A20 gate is off. */
  a20Mask = -1;

  constructor(
    readonly phys: PhysicalAddressSpace,
    private readonly regs: PagingRegisters,
  ) {
    this.slowPages = phys.interceptedRamPages;
  }

  flushAll(): void {
    for (let k = 0; k < 4; k++) this.flushTable(k);
    this.generation++;
  }

  flushWrites(): void {
    this.flushTable(TlbKind.WriteSupervisor);
    this.flushTable(TlbKind.WriteUser);
    this.generation++;
  }

  private flushTable(kind: number): void {
    const list = this.filled[kind];
    const tlb = this.tlbs[kind];
    if (list.length > 65536) tlb.fill(TLB_INVALID);
    else for (const page of list) tlb[page] = TLB_INVALID;
    list.length = 0;
  }

  /** INVLPG: forgets one virtual page in every TLB. */
  invalidatePage(linear: number): void {
    const page = linear >>> 12;
    for (let k = 0; k < 4; k++) this.tlbs[k][page] = TLB_INVALID;
    this.generation++;
  }

  /**
   * Translates a linear address for an access, walking the page tables (setting accessed and dirty bits) and
   * raising #PF with the SDM 4.7 error code. Fills the matching TLB when the page is plain RAM.
   */
  translate(linear: number, write: boolean, user: boolean): number {
    linear >>>= 0;
    let physical: number;
    const { cr0, cr4 } = this.regs;
    if (cr0 & Cr0.PG) physical = this.walk(linear, write, user, (cr0 & Cr0.WP) !== 0, (cr4 & Cr4.PSE) !== 0);
    else physical = linear;
    physical = (physical & this.a20Mask) >>> 0;
    this.fill(linear, physical, write, user);
    return physical;
  }

  private fill(linear: number, physical: number, write: boolean, user: boolean): void {
    const page = physical >>> 12;
    if (
      this.phys.pageKind[page] !== PageKind.Ram ||
      this.slowPages[page] ||
      (this.slowLinearPages.size > 0 && this.slowLinearPages.has(linear >>> 12))
    )
      return;
    if (write && this.codePages[page]) return;
    const kind = (user ? 2 : 0) + (write ? 1 : 0);
    const vpage = linear >>> 12;
    const tlb = this.tlbs[kind];
    if (tlb[vpage] === TLB_INVALID) this.filled[kind].push(vpage);
    tlb[vpage] = ((physical ^ linear) & ~0xfff) | 0;
  }

  private walk(linear: number, write: boolean, user: boolean, wp: boolean, pse: boolean): number {
    const ram = this.phys;
    const pdeAddress = ((this.regs.cr3 & 0xfffff000) | ((linear >>> 22) << 2)) >>> 0;
    const pde = Number(ram.read(pdeAddress & this.a20Mask, 4)) | 0;
    const errorBase = (write ? PfErr.W : 0) | (user ? PfErr.U : 0);
    if (!(pde & 1)) this.pageFault(linear, errorBase);
    if (pse && pde & 0x80) {
      this.checkRights(linear, pde, pde, write, user, wp, errorBase);
      const updated = pde | 0x20 | (write ? 0x40 : 0);
      if (updated !== pde) this.writeTableEntry(pdeAddress, updated);
      return ((pde & 0xffc00000) | (linear & 0x3fffff)) >>> 0;
    }
    const pteAddress = ((pde & 0xfffff000) | (((linear >>> 12) & 0x3ff) << 2)) >>> 0;
    const pte = Number(ram.read(pteAddress & this.a20Mask, 4)) | 0;
    if (!(pte & 1)) this.pageFault(linear, errorBase);
    this.checkRights(linear, pde, pte, write, user, wp, errorBase);
    if (!(pde & 0x20)) this.writeTableEntry(pdeAddress, pde | 0x20);
    const updated = pte | 0x20 | (write ? 0x40 : 0);
    if (updated !== pte) this.writeTableEntry(pteAddress, updated);
    return ((pte & 0xfffff000) | (linear & 0xfff)) >>> 0;
  }

  /** SDM 4.6: user accesses need U/S in both levels; writes need R/W in both (supervisor writes only with CR0.WP). */
  private checkRights(
    linear: number,
    pde: number,
    pte: number,
    write: boolean,
    user: boolean,
    wp: boolean,
    error: number,
  ): void {
    const rights = pde & pte;
    if (user && !(rights & 4)) this.pageFault(linear, error | PfErr.P);
    if (write && !(rights & 2) && (user || wp)) this.pageFault(linear, error | PfErr.P);
  }

  private writeTableEntry(address: number, value: number): void {
    this.phys.write(address & this.a20Mask, 4, value >>> 0);
  }

  private pageFault(linear: number, errorCode: number): never {
    throw new GuestFault(Vec.PF, errorCode, linear);
  }

  /** Translation for the debugger: no faults, no accessed/dirty updates, no TLB fill. Undefined when unmapped. */
  debugTranslate(linear: number): number | undefined {
    linear >>>= 0;
    const { cr0, cr3, cr4 } = this.regs;
    if (!(cr0 & Cr0.PG)) return (linear & this.a20Mask) >>> 0;
    const pde = Number(this.phys.read(((cr3 & 0xfffff000) | ((linear >>> 22) << 2)) >>> 0, 4)) | 0;
    if (!(pde & 1)) return undefined;
    if (cr4 & Cr4.PSE && pde & 0x80) return (((pde & 0xffc00000) | (linear & 0x3fffff)) & this.a20Mask) >>> 0;
    const pte = Number(this.phys.read(((pde & 0xfffff000) | (((linear >>> 12) & 0x3ff) << 2)) >>> 0, 4)) | 0;
    if (!(pte & 1)) return undefined;
    return (((pte & 0xfffff000) | (linear & 0xfff)) & this.a20Mask) >>> 0;
  }
}
