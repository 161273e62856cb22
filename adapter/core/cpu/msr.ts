/**
 * Model-specific registers, CPUID and the time-stamp counter of an i686-class processor (a Pentium II-like
 * family 6 part without SSE): what a kernel probes and touches.
 */
import { Vec } from './state';

export interface MsrHost {
  raise(vector: number, errorCode?: number): never;
}

export const enum Msr {
  TSC = 0x10,
  PLATFORM_ID = 0x17,
  APIC_BASE = 0x1b,
  BIOS_SIGN_ID = 0x8b,
  MTRRCAP = 0xfe,
  SYSENTER_CS = 0x174,
  SYSENTER_ESP = 0x175,
  SYSENTER_EIP = 0x176,
  MCG_CAP = 0x179,
  MISC_ENABLE = 0x1a0,
  MTRR_DEF_TYPE = 0x2ff,
}

/** CPUID.1:EDX feature bits we implement (SDM vol. 2, CPUID). */
export const CPUID_FEATURES =
  (1 << 0) | // FPU
  (1 << 3) | // PSE
  (1 << 4) | // TSC
  (1 << 5) | // MSR
  (1 << 8) | // CX8
  (1 << 9) | // APIC
  (1 << 11) | // SEP (SYSENTER/SYSEXIT)
  (1 << 12) | // MTRR
  (1 << 13) | // PGE
  (1 << 15); // CMOV

export const CPUID_SIGNATURE = 0x00000633;
const BRAND = 'mmiodbg virtual i686 CPU';

export class MsrFile {
  /** TSC = timeNs() * tscPerNs + tscOffset. */
  private tscOffset = 0n;
  /** tscOffset as a number while it is a safe integer (unless the guest writes a huge TSC), for BigInt-free reads. */
  private tscOffsetNumber: number | undefined = 0;
  tscPerNs = 1;
  /** The halves of the TSC read by the last readTscHalves(). */
  tscLow = 0;
  tscHigh = 0;
  /** Virtual time source in ns; the machine replaces it with the scheduler's clock. */
  timeNs: () => number = () => 0;
  sysenterCs = 0;
  sysenterEsp = 0;
  sysenterEip = 0;
  /** The local APIC's base MSR, delegated to the APIC model when one is attached. */
  apicBase: { read(): bigint; write(value: bigint): void } | undefined;
  private readonly plain = new Map<number, bigint>();

  constructor(private readonly host: MsrHost) {}

  reset(): void {
    this.setTscOffset(0n);
    this.sysenterCs = this.sysenterEsp = this.sysenterEip = 0;
    this.plain.clear();
    this.plain.set(Msr.MTRRCAP, 0x508n); // 8 variable ranges, fixed ranges, write-combining
    this.plain.set(Msr.MTRR_DEF_TYPE, 0n);
    this.plain.set(Msr.MISC_ENABLE, 1n);
    this.plain.set(Msr.PLATFORM_ID, 0n);
    this.plain.set(Msr.BIOS_SIGN_ID, 0n);
    this.plain.set(Msr.MCG_CAP, 0n);
    for (let i = 0; i < 16; i++) this.plain.set(0x200 + i, 0n); // variable-range MTRR base/mask pairs
    for (const fixed of [0x250, 0x258, 0x259, 0x268, 0x269, 0x26a, 0x26b, 0x26c, 0x26d, 0x26e, 0x26f]) {
      this.plain.set(fixed, 0n);
    }
  }

  private setTscOffset(offset: bigint): void {
    this.tscOffset = offset;
    const n = Number(offset);
    this.tscOffsetNumber = Number.isSafeInteger(n) ? n : undefined;
  }

  /** Reads the TSC into tscLow/tscHigh, in plain number arithmetic when no 64-bit wrap-around is involved. */
  readTscHalves(): void {
    if (this.tscOffsetNumber !== undefined) {
      const value = Math.floor(this.timeNs() * this.tscPerNs) + this.tscOffsetNumber;
      if (value >= 0 && value <= Number.MAX_SAFE_INTEGER) {
        this.tscLow = (value % 0x100000000) | 0;
        this.tscHigh = Math.floor(value / 0x100000000) | 0;
        return;
      }
    }
    const t = this.tsc();
    this.tscLow = Number(t & 0xffffffffn) | 0;
    this.tscHigh = Number(t >> 32n) | 0;
  }

  tsc(): bigint {
    return BigInt.asUintN(64, BigInt(Math.floor(this.timeNs() * this.tscPerNs)) + this.tscOffset);
  }

  read(index: number): bigint {
    switch (index >>> 0) {
      case Msr.TSC:
        return this.tsc();
      case Msr.APIC_BASE:
        if (this.apicBase) return this.apicBase.read();
        break;
      case Msr.SYSENTER_CS:
        return BigInt(this.sysenterCs >>> 0);
      case Msr.SYSENTER_ESP:
        return BigInt(this.sysenterEsp >>> 0);
      case Msr.SYSENTER_EIP:
        return BigInt(this.sysenterEip >>> 0);
      default: {
        const v = this.plain.get(index >>> 0);
        if (v !== undefined) return v;
      }
    }
    return this.host.raise(Vec.GP, 0);
  }

  write(index: number, value: bigint): void {
    switch (index >>> 0) {
      case Msr.TSC:
        this.setTscOffset(value - (this.tsc() - this.tscOffset));
        return;
      case Msr.APIC_BASE:
        if (this.apicBase) return this.apicBase.write(value);
        break;
      case Msr.SYSENTER_CS:
        this.sysenterCs = Number(value & 0xffffn);
        return;
      case Msr.SYSENTER_ESP:
        this.sysenterEsp = Number(value & 0xffffffffn) | 0;
        return;
      case Msr.SYSENTER_EIP:
        this.sysenterEip = Number(value & 0xffffffffn) | 0;
        return;
      case Msr.MTRRCAP:
      case Msr.PLATFORM_ID:
        return this.host.raise(Vec.GP, 0);
      default:
        if (this.plain.has(index >>> 0)) {
          this.plain.set(index >>> 0, BigInt.asUintN(64, value));
          return;
        }
    }
    this.host.raise(Vec.GP, 0);
  }
}

function dwordsOf(text: string): number[] {
  const bytes = new TextEncoder().encode(text.padEnd(48, '\0'));
  const out: number[] = [];
  for (let i = 0; i < bytes.length; i += 4)
    out.push(bytes[i] | (bytes[i + 1] << 8) | (bytes[i + 2] << 16) | (bytes[i + 3] << 24));
  return out;
}

/** CPUID results [EAX, EBX, ECX, EDX] for a leaf. */
export function cpuid(leaf: number, _subleaf: number): [number, number, number, number] {
  leaf >>>= 0;
  switch (leaf) {
    case 0:
      // "GenuineIntel" in EBX, EDX, ECX
      return [2, 0x756e6547, 0x6c65746e, 0x49656e69];
    case 1:
      return [CPUID_SIGNATURE, 0, 0, CPUID_FEATURES];
    case 2:
      // One iteration; descriptors 0x43 (512 KiB L2), 0x08/0x0c (L1 caches), 0x03/0x01 (TLBs)
      return [0x03020101, 0, 0, 0x0c040843];
    case 0x80000000:
      return [0x80000004, 0, 0, 0];
    case 0x80000001:
      return [0, 0, 0, 0];
    case 0x80000002:
    case 0x80000003:
    case 0x80000004: {
      const d = dwordsOf(BRAND);
      const base = (leaf - 0x80000002) * 4;
      return [d[base], d[base + 1], d[base + 2], d[base + 3]];
    }
    default:
      // Leaves above the maximum return the highest basic leaf's data on Intel parts
      return leaf < 0x80000000 ? [0x03020101, 0, 0, 0x0c040843] : [0, 0, 0, 0];
  }
}
