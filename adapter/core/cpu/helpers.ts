/**
 * Functions that translated code calls (`h.*`): the memory slow path, segmentation checks, flag helpers, and the
 * entry points into the interpreter and the string-instruction engine.
 */
import { StopBeforeAccess } from '../bus/physical';
import type { Cpu } from './cpu';
import type { Decoded } from './decoded';
import { carryOf, condition, materialize } from './flags';
import { execute } from './interp';
import { runString } from './strings';
import { Flag, GuestFault, Vec } from './state';

export class BlockHelpers {
  /** Second result of helpers that return a value and new flags. */
  flagsOut = 0;

  constructor(private readonly cpu: Cpu) {}

  // The slow paths and the interpreter set accessInsnInBlock for the duration of the access only, so that nothing
  // after them in the block (or in the next block of a region) sees a stale position.

  rd(la: number, size: number, eip: number, k: number): number {
    const cpu = this.cpu;
    cpu.accessEip = eip;
    cpu.accessInsnInBlock = k;
    const v = cpu.readSlow(la, size, cpu.cpl === 3);
    cpu.accessInsnInBlock = 0;
    return size === 4 ? v | 0 : v;
  }

  /** Read with write intent (read-modify-write): write permission is checked before the read. */
  rdw(la: number, size: number, eip: number, k: number): number {
    const cpu = this.cpu;
    cpu.accessEip = eip;
    cpu.accessInsnInBlock = k;
    cpu.probeWrite(la, size, cpu.cpl === 3);
    const v = cpu.readSlow(la, size, cpu.cpl === 3);
    cpu.accessInsnInBlock = 0;
    return size === 4 ? v | 0 : v;
  }

  wr(la: number, size: number, value: number, eip: number, k: number): void {
    const cpu = this.cpu;
    cpu.accessEip = eip;
    cpu.accessInsnInBlock = k;
    cpu.writeSlow(la, size, value, cpu.cpl === 3);
    cpu.accessInsnInBlock = 0;
  }

  seg(seg: number, offset: number, size: number, write: number): number {
    return this.cpu.segCheck(seg, offset, size, write !== 0);
  }

  checkCsLimit(target: number): void {
    const cs = this.cpu.seg[1];
    if (target >>> 0 > cs.limit) throw new GuestFault(Vec.GP, 0);
  }

  mat(op: number, a: number, b: number, res: number, fl: number): number {
    return materialize(op, a, b, res, fl);
  }

  cond(cc: number, op: number, a: number, b: number, res: number, fl: number): boolean {
    return condition(cc, op, a, b, res, fl);
  }

  /** RDTSC at instruction k of the block (the clock counts the block's instructions before it); returns EAX. */
  rdtsc(k: number): number {
    const cpu = this.cpu;
    cpu.accessInsnInBlock = k;
    cpu.msr.readTscHalves();
    cpu.accessInsnInBlock = 0;
    return cpu.msr.tscLow;
  }

  cf(op: number, a: number, b: number, res: number): number {
    return carryOf(op, a, b, res);
  }

  /** ROL (0), ROR (1), RCL (2), RCR (3) with eager flags (CF, OF; others unchanged). */
  rotate(kind: number, size: number, value: number, rawCount: number, fl: number): number {
    const bits = size * 8;
    const mask = size === 4 ? 0xffffffff : size === 2 ? 0xffff : 0xff;
    const sign = size === 4 ? 0x80000000 : size === 2 ? 0x8000 : 0x80;
    let v = value >>> 0;
    const count = rawCount & 31;
    this.flagsOut = fl;
    if (count === 0) return size === 4 ? v | 0 : v;
    let cf = fl & 1;
    let result: number;
    if (kind === 0 || kind === 1) {
      const c = count % bits;
      if (kind === 0) {
        result = c === 0 ? v : ((v << c) | (v >>> (bits - c))) & mask;
        cf = result & 1;
        const of = ((result & sign) !== 0) !== (cf !== 0);
        this.flagsOut = (fl & ~(Flag.CF | Flag.OF)) | cf | (of ? Flag.OF : 0);
      } else {
        result = c === 0 ? v : ((v >>> c) | (v << (bits - c))) & mask;
        cf = (result & sign) !== 0 ? 1 : 0;
        const of = ((result & sign) !== 0) !== ((result & (sign >>> 1)) !== 0);
        this.flagsOut = (fl & ~(Flag.CF | Flag.OF)) | cf | (of ? Flag.OF : 0);
      }
    } else {
      const c = count % (bits + 1);
      result = v;
      for (let i = 0; i < c; i++) {
        if (kind === 2) {
          const out = (result & sign) !== 0 ? 1 : 0;
          result = ((result << 1) | cf) & mask;
          cf = out;
        } else {
          const out = result & 1;
          result = (result >>> 1) | (cf ? sign : 0);
          cf = out;
        }
      }
      result >>>= 0;
      let of: boolean;
      if (kind === 2) of = ((result & sign) !== 0) !== (cf !== 0);
      else of = ((result & sign) !== 0) !== ((result & (sign >>> 1)) !== 0);
      this.flagsOut = (fl & ~(Flag.CF | Flag.OF)) | cf | (of ? Flag.OF : 0);
    }
    v = result;
    return size === 4 ? v | 0 : v;
  }

  /** Two- and three-operand IMUL: the truncated product; CF = OF = the product did not fit. */
  bswap(v: number): number {
    return (v << 24) | ((v & 0xff00) << 8) | ((v >>> 8) & 0xff00) | (v >>> 24) | 0;
  }

  /** Runs a string instruction; returns -1 to continue the block, or the number of instructions retired (0/1). */
  string(code: number, seg: number, addr32: number, rep: number, nextEip: number): number {
    return runString(this.cpu, code, seg, addr32 !== 0, rep, nextEip);
  }

  /** Runs instruction k of the block in the interpreter; devices and the TSC see the k instructions before it. */
  exec(d: Decoded, ea: number, k: number): void {
    this.cpu.accessInsnInBlock = k;
    this.cpu.accessEip = this.cpu.eip;
    execute(this.cpu, d, ea);
    this.cpu.accessInsnInBlock = 0;
  }

  hlt(nextEip: number): void {
    const cpu = this.cpu;
    if (cpu.protectedMode && cpu.cpl !== 0) throw new GuestFault(Vec.GP, 0);
    cpu.halted = true;
    cpu.eip = nextEip;
  }

  raise(vector: number, errorCode?: number): never {
    throw new GuestFault(vector, errorCode);
  }

  /** Called by a block's fault handler with the state rolled back to the faulting instruction. */
  fault(err: unknown): void {
    if (err instanceof GuestFault) this.cpu.deliverException(err);
    else if (err instanceof StopBeforeAccess) {
      // A watchpoint stopped the instruction before its access: the state is that of its start.
      this.cpu.exitRequested = true;
      this.cpu.blockExit = true;
    } else throw err;
  }
}
