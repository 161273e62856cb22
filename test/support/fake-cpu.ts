/**
 * A minimal CpuCore for testing the system helpers: flat memory (linear = physical), real SegmentCache objects,
 * a plain EFLAGS word, and optional supervisor-only pages to exercise the user flag of linear accesses.
 */

import type { CpuCore } from '../../adapter/core/cpu/cpu-api';
import {
  Cr0,
  EFLAGS_WRITABLE,
  Flag,
  GuestFault,
  PfErr,
  SegmentCache,
  Vec,
  type TableRegister,
} from '../../adapter/core/cpu/state';

export class FakeCpu implements CpuCore {
  readonly mem: Uint8Array;
  private readonly view: DataView;
  readonly regs = new Int32Array(8);
  eip = 0;
  readonly seg: SegmentCache[] = [0, 1, 2, 3, 4, 5].map(() => new SegmentCache());
  readonly gdtr: TableRegister = { base: 0, limit: 0xffff };
  readonly idtr: TableRegister = { base: 0, limit: 0x3ff };
  readonly ldtr = new SegmentCache();
  readonly tr = new SegmentCache();
  cr0 = 0;
  cr2 = 0;
  cr3 = 0;
  cr4 = 0;
  eflags = Flag.RESERVED1;
  private currentCpl = 0;
  segmentChanges = 0;
  /** Page numbers (linear >>> 12) that user-mode accesses may not touch. */
  readonly supervisorPages = new Set<number>();
  /** Every linear write, in order: [address, size, value, user]. */
  readonly writes: [number, number, number, boolean][] = [];

  constructor(size = 0x100000) {
    this.mem = new Uint8Array(size);
    this.view = new DataView(this.mem.buffer);
    this.seg[1].set(0, 0, 0xffff, 0x9b);
    this.ldtr.set(0, 0, 0, 0, false);
    this.tr.set(0, 0, 0xffff, 0x8b);
  }

  get cpl(): number {
    return this.currentCpl;
  }
  get protectedMode(): boolean {
    return (this.cr0 & Cr0.PE) !== 0;
  }
  get vm86(): boolean {
    return (this.eflags & Flag.VM) !== 0;
  }

  getEflags(): number {
    return this.eflags | Flag.RESERVED1;
  }
  setEflags(value: number, mask: number): void {
    const m = mask & EFLAGS_WRITABLE;
    const before = this.eflags;
    this.eflags = ((this.eflags & ~m) | (value & m) | Flag.RESERVED1) >>> 0;
    if ((before ^ this.eflags) & Flag.VM && this.eflags & Flag.VM) this.currentCpl = 3;
  }
  setCpl(cpl: number): void {
    this.currentCpl = cpl & 3;
  }
  segmentChanged(): void {
    this.segmentChanges++;
  }

  private check(linear: number, size: number): void {
    if (linear < 0 || linear + size > this.mem.length) throw new Error(`fake cpu: access outside memory at ${linear}`);
  }
  private read(linear: number, size: 1 | 2 | 4): number {
    this.check(linear, size);
    if (size === 1) return this.view.getUint8(linear);
    if (size === 2) return this.view.getUint16(linear, true);
    return this.view.getUint32(linear, true);
  }
  private write(linear: number, size: 1 | 2 | 4, value: number): void {
    this.check(linear, size);
    if (size === 1) this.view.setUint8(linear, value & 0xff);
    else if (size === 2) this.view.setUint16(linear, value & 0xffff, true);
    else this.view.setUint32(linear, value >>> 0, true);
  }
  private userCheck(linear: number, length: number, user: boolean, write: boolean): void {
    if (!user) return;
    for (let page = linear >>> 12; page <= (linear + length - 1) >>> 12; page++) {
      if (this.supervisorPages.has(page)) {
         
        throw new GuestFault(Vec.PF, PfErr.P | PfErr.U | (write ? PfErr.W : 0), linear);
      }
    }
  }

  readSys(linear: number, size: 1 | 2 | 4): number {
    return this.read(linear, size);
  }
  writeSys(linear: number, size: 1 | 2 | 4, value: number): void {
    this.write(linear, size, value);
  }
  readLinear(linear: number, size: 1 | 2 | 4, user: boolean): number {
    this.userCheck(linear, size, user, false);
    return this.read(linear, size);
  }
  writeLinear(linear: number, size: 1 | 2 | 4, value: number, user: boolean): void {
    this.userCheck(linear, size, user, true);
    this.writes.push([linear, size, value, user]);
    this.write(linear, size, value);
  }
  probeWrite(linear: number, length: number, user: boolean): void {
    this.userCheck(linear, length, user, true);
    this.check(linear, length);
  }

  raise(vector: number, errorCode?: number): never {
     
    throw new GuestFault(vector, errorCode);
  }
  shutdown(reason: string): never {
    throw new Error(`shutdown: ${reason}`);
  }

  // ---- test conveniences -------------------------------------------------------------------------------------

  r8(a: number): number {
    return this.read(a, 1);
  }
  r16(a: number): number {
    return this.read(a, 2);
  }
  r32(a: number): number {
    return this.read(a, 4);
  }
  w16(a: number, v: number): void {
    this.write(a, 2, v);
  }
  w32(a: number, v: number): void {
    this.write(a, 4, v);
  }
}

/** Descriptor-building helpers: each returns [low dword, high dword]. */
export interface SegmentSpec {
  base?: number;
  /** The raw 20-bit limit field. */
  limit?: number;
  /** Type field (bits 0-3 of the access byte): e.g. 0xb execute/read accessed code, 0x3 read/write data. */
  type: number;
  /** S bit: 1 for code/data (default), 0 for system descriptors. */
  s?: 0 | 1;
  dpl?: number;
  present?: boolean;
  /** D/B bit (default 1). */
  big?: boolean;
  /** G bit (default 1 when the limit is 0xfffff). */
  granular?: boolean;
}

export function segment(spec: SegmentSpec): [number, number] {
  const base = spec.base ?? 0;
  const limit = spec.limit ?? 0xfffff;
  const s = spec.s ?? 1;
  const dpl = spec.dpl ?? 0;
  const p = spec.present ?? true;
  const big = spec.big ?? true;
  const g = spec.granular ?? limit === 0xfffff;
  const lo = ((base & 0xffff) << 16) | (limit & 0xffff);
  const hi =
    ((base >>> 16) & 0xff) |
    ((spec.type & 0xf) << 8) |
    (s << 12) |
    ((dpl & 3) << 13) |
    (p ? 0x8000 : 0) |
    (limit & 0xf0000) |
    (big ? 0x400000 : 0) |
    (g ? 0x800000 : 0) |
    (base & 0xff000000);
  return [lo >>> 0, hi >>> 0];
}

/** A system descriptor such as a TSS (type 9) or LDT (type 2) with a byte-granular limit. */
export function system(type: number, base: number, limit: number, dpl = 0, present = true): [number, number] {
  return segment({ type, s: 0, base, limit, dpl, present, big: false, granular: false });
}

export interface GateSpec {
  /** 4/12 call gate, 5 task gate, 6/14 interrupt gate, 7/15 trap gate. */
  type: number;
  selector: number;
  offset?: number;
  dpl?: number;
  present?: boolean;
  params?: number;
}

export function gate(spec: GateSpec): [number, number] {
  const offset = spec.offset ?? 0;
  const lo = ((spec.selector & 0xffff) << 16) | (offset & 0xffff);
  const hi =
    (offset & 0xffff0000) |
    ((spec.present ?? true) ? 0x8000 : 0) |
    (((spec.dpl ?? 0) & 3) << 13) |
    ((spec.type & 0xf) << 8) |
    ((spec.params ?? 0) & 0x1f);
  return [lo >>> 0, hi >>> 0];
}

/** Writes a descriptor at `table + index * 8`. */
export function putDescriptor(cpu: FakeCpu, table: number, index: number, d: [number, number]): void {
  cpu.w32(table + index * 8, d[0]);
  cpu.w32(table + index * 8 + 4, d[1]);
}
