import { RegionMap, isValidAccess, readAdjusted, writeAdjusted } from './regions';
import type { AccessSize, Region, RegionHandler, RegionOptions } from './types';
import { BusError, DEFAULT_MMIO_RULES } from './types';

export const PAGE_SHIFT = 12;
export const PAGE_SIZE = 1 << PAGE_SHIFT;

/** What a physical page holds; the CPU's TLB sends every non-RAM page down its slow path. */
export const enum PageKind {
  Ram = 0,
  Mmio = 1,
  Unmapped = 2,
}

/** One device access as the interceptor (hooks, watchpoints, trace) sees it. */
export interface DeviceAccess {
  readonly space: 'mmio' | 'pio';
  readonly address: number;
  readonly size: AccessSize;
  readonly isWrite: boolean;
  readonly region: Region;
  /** Offset of `address` inside the region. */
  readonly offset: number;
  /** For a write, the value the guest wrote. */
  readonly value: number | bigint;
}

/**
 * Sits between the CPU and the devices on every MMIO and port access. `perform` carries out the real device
 * access (for a write, with the value given); the interceptor decides whether and how often to call it.
 */
export interface AccessInterceptor {
  read(access: DeviceAccess, perform: () => number | bigint): number | bigint;
  write(access: DeviceAccess, perform: (value: number | bigint) => void): void;
}

/**
 * Thrown by an interceptor to stop the machine before an access is performed (a watchpoint that stops on the
 * accessing instruction). The CPU rolls the instruction back as it does for a fault and leaves its run loop;
 * interceptors throw it only while `stopBeforeAccessAllowed` is true.
 */
export class StopBeforeAccess {}

export interface BusCounters {
  unmappedReads: number;
  unmappedWrites: number;
  invalidAccesses: number;
}

/** Counts and remembers the last few accesses that hit nothing, for diagnostics. */
export function newCounters(): BusCounters {
  return { unmappedReads: 0, unmappedWrites: 0, invalidAccesses: 0 };
}

/** All-ones of a given width. */
export function allOnes(size: AccessSize): number | bigint {
  return size === 8 ? 0xffffffffffffffffn : size === 4 ? 0xffffffff : (1 << (size * 8)) - 1;
}

/**
 * The guest-physical address space: RAM in one ArrayBuffer from address 0, and MMIO regions that devices
 * register. Addresses are 32-bit.
 */
export class PhysicalAddressSpace {
  readonly ram: Uint8Array;
  readonly ramView: DataView;
  readonly ramSize: number;
  /** PageKind for each 4 KiB page of the 4 GiB space. */
  readonly pageKind = new Uint8Array(1 << (32 - PAGE_SHIFT));
  readonly counters = newCounters();
  interceptor: AccessInterceptor | undefined;
  /**
   * RAM pages whose accesses go through the interceptor (pages with hooked or watched ranges). The CPU's TLB
   * never caches these pages, so every access to them reaches `read`/`write` here.
   */
  readonly interceptedRamPages = new Uint8Array(1 << (32 - PAGE_SHIFT));
  /** RAM seen as a region, for intercepted RAM accesses (hooks split accesses through its handler). */
  readonly ramRegion: Region;
  /** Called when RAM changes outside the CPU's own store path (devices, loaders, the debugger). */
  ramWriteListener: ((address: number, length: number) => void) | undefined;
  private readonly regions = new RegionMap();

  constructor(ramBytes: number) {
    if (ramBytes % PAGE_SIZE !== 0 || ramBytes <= 0 || ramBytes > 0xe0000000) {
      throw new BusError(`RAM size must be a positive multiple of 4 KiB below 3.5 GiB, got ${ramBytes}`);
    }
    this.ramSize = ramBytes;
    this.ram = new Uint8Array(ramBytes);
    this.ramView = new DataView(this.ram.buffer);
    this.pageKind.fill(PageKind.Unmapped);
    this.pageKind.fill(PageKind.Ram, 0, ramBytes >>> PAGE_SHIFT);
    this.ramRegion = {
      start: 0,
      length: ramBytes,
      device: 'ram',
      name: 'ram',
      rules: { valid: { min: 1, max: 8, unaligned: true }, impl: { min: 1, max: 8 } },
      handler: {
        read: (offset, size) => this.readRam(offset, size) as number,
        write: (offset, size, value) => this.writeRam(offset, size, value),
        read64: (offset) => this.readRam(offset, 8) as bigint,
        write64: (offset, value) => this.writeRam(offset, 8, value),
        peek: (offset, size) => this.readRam(offset, size) as number,
      },
    };
  }

  private intercepts(address: number): boolean {
    return this.interceptor !== undefined && this.interceptedRamPages[address >>> PAGE_SHIFT] !== 0;
  }

  /** Registers an MMIO region; regions may not overlap each other. RAM under them is hidden. */
  registerMmio(start: number, length: number, handler: RegionHandler, options: RegionOptions): Region {
    const region = this.regions.add(start, length, handler, options, DEFAULT_MMIO_RULES);
    for (let p = start >>> PAGE_SHIFT; p <= (start + length - 1) >>> PAGE_SHIFT; p++) this.pageKind[p] = PageKind.Mmio;
    return region;
  }

  unregisterMmio(region: Region): void {
    this.regions.remove(region);
    for (let p = region.start >>> PAGE_SHIFT; p <= (region.start + region.length - 1) >>> PAGE_SHIFT; p++) {
      const base = p << PAGE_SHIFT;
      const stillMmio = this.regions.all().some((r) => r.start < base + PAGE_SIZE && base < r.start + r.length);
      this.pageKind[p] = stillMmio ? PageKind.Mmio : base >>> 0 < this.ramSize ? PageKind.Ram : PageKind.Unmapped;
    }
  }

  findRegion(address: number): Region | undefined {
    return this.regions.find(address >>> 0);
  }

  mmioRegions(): readonly Region[] {
    return this.regions.all();
  }

  /**
   * A CPU read that is not plain RAM (the TLB's slow path). Accesses that straddle a region boundary are split
   * into bytes. Returns an unsigned number for 1-4 bytes and a bigint for 8.
   */
  read(address: number, size: AccessSize): number | bigint {
    address >>>= 0;
    const kind = this.pageKind[address >>> PAGE_SHIFT];
    if (kind === PageKind.Ram && (address + size - 1) >>> PAGE_SHIFT === address >>> PAGE_SHIFT) {
      return this.intercepts(address) ? this.readRegion(this.ramRegion, address, size) : this.readRam(address, size);
    }
    const region = this.regions.find(address);
    if (region && address + size <= region.start + region.length) return this.readRegion(region, address, size);
    return this.readBytewise(address, size);
  }

  write(address: number, size: AccessSize, value: number | bigint): void {
    address >>>= 0;
    const kind = this.pageKind[address >>> PAGE_SHIFT];
    if (kind === PageKind.Ram && (address + size - 1) >>> PAGE_SHIFT === address >>> PAGE_SHIFT) {
      if (this.intercepts(address)) this.writeRegion(this.ramRegion, address, size, value);
      else this.writeRam(address, size, value);
      return;
    }
    const region = this.regions.find(address);
    if (region && address + size <= region.start + region.length) {
      this.writeRegion(region, address, size, value);
      return;
    }
    this.writeBytewise(address, size, value);
  }

  private readBytewise(address: number, size: AccessSize): number | bigint {
    let value = 0n;
    for (let i = size - 1; i >= 0; i--) value = (value << 8n) | BigInt(this.readByte((address + i) >>> 0));
    return size === 8 ? value : Number(value);
  }

  private readByte(address: number): number {
    const kind = this.pageKind[address >>> PAGE_SHIFT];
    if (kind === PageKind.Ram) {
      return this.intercepts(address) ? (this.readRegion(this.ramRegion, address, 1) as number) : this.ram[address];
    }
    const region = this.regions.find(address);
    if (region) return this.readRegion(region, address, 1) as number;
    this.counters.unmappedReads++;
    return 0xff;
  }

  private writeBytewise(address: number, size: AccessSize, value: number | bigint): void {
    let v = BigInt.asUintN(64, BigInt(value));
    for (let i = 0; i < size; i++, v >>= 8n) {
      const a = (address + i) >>> 0;
      const byte = Number(v & 0xffn);
      const kind = this.pageKind[a >>> PAGE_SHIFT];
      if (kind === PageKind.Ram) {
        if (this.intercepts(a)) this.writeRegion(this.ramRegion, a, 1, byte);
        else {
          this.ram[a] = byte;
          this.ramWriteListener?.(a, 1);
        }
        continue;
      }
      const region = this.regions.find(a);
      if (region) this.writeRegion(region, a, 1, byte);
      else this.counters.unmappedWrites++;
    }
  }

  private readRegion(region: Region, address: number, size: AccessSize): number | bigint {
    const offset = address - region.start;
    if (!isValidAccess(region, offset, size)) {
      this.counters.invalidAccesses++;
      return allOnes(size);
    }
    const interceptor = this.interceptor;
    if (!interceptor) return readAdjusted(region, offset, size);
    return interceptor.read({ space: 'mmio', address, size, isWrite: false, region, offset, value: 0 }, () =>
      readAdjusted(region, offset, size),
    );
  }

  private writeRegion(region: Region, address: number, size: AccessSize, value: number | bigint): void {
    const offset = address - region.start;
    if (!isValidAccess(region, offset, size)) {
      this.counters.invalidAccesses++;
      return;
    }
    const interceptor = this.interceptor;
    if (!interceptor) {
      writeAdjusted(region, offset, size, value);
      return;
    }
    interceptor.write({ space: 'mmio', address, size, isWrite: true, region, offset, value }, (v) =>
      writeAdjusted(region, offset, size, v),
    );
  }

  private readRam(address: number, size: AccessSize): number | bigint {
    const v = this.ramView;
    switch (size) {
      case 1:
        return this.ram[address];
      case 2:
        return v.getUint16(address, true);
      case 4:
        return v.getUint32(address, true);
      case 8:
        return v.getBigUint64(address, true);
    }
  }

  private writeRam(address: number, size: AccessSize, value: number | bigint): void {
    const v = this.ramView;
    switch (size) {
      case 1:
        this.ram[address] = Number(value);
        break;
      case 2:
        v.setUint16(address, Number(value) & 0xffff, true);
        break;
      case 4:
        v.setUint32(address, Number(value) >>> 0, true);
        break;
      case 8:
        v.setBigUint64(address, BigInt.asUintN(64, BigInt(value)), true);
        break;
    }
    this.ramWriteListener?.(address, size);
  }

  /**
   * The debugger's and loaders' path: copies bytes out of guest-physical memory with no device side effects.
   * MMIO reads through the region's `peek` when it has one; anything else reads as 0xff.
   */
  debugRead(address: number, length: number): Uint8Array {
    const out = new Uint8Array(length);
    for (let i = 0; i < length;) {
      const a = (address + i) >>> 0;
      if (this.pageKind[a >>> PAGE_SHIFT] === PageKind.Ram) {
        const n = Math.min(length - i, PAGE_SIZE - (a & (PAGE_SIZE - 1)));
        out.set(this.ram.subarray(a, a + n), i);
        i += n;
        continue;
      }
      const region = this.regions.find(a);
      out[i] = region?.handler.peek ? region.handler.peek(a - region.start, 1) & 0xff : 0xff;
      i++;
    }
    return out;
  }

  /**
   * Writes bytes into guest RAM without touching devices; returns how many bytes landed in RAM (MMIO and
   * unmapped bytes are skipped). Translated code over the written range is invalidated.
   */
  debugWrite(address: number, bytes: Uint8Array): number {
    let written = 0;
    for (let i = 0; i < bytes.length;) {
      const a = (address + i) >>> 0;
      const n = Math.min(bytes.length - i, PAGE_SIZE - (a & (PAGE_SIZE - 1)));
      if (this.pageKind[a >>> PAGE_SHIFT] === PageKind.Ram) {
        this.ram.set(bytes.subarray(i, i + n), a);
        this.ramWriteListener?.(a, n);
        written += n;
      }
      i += n;
    }
    return written;
  }
}
