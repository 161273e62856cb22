import type { AccessInterceptor } from './physical';
import { allOnes, newCounters } from './physical';
import { RegionMap, isValidAccess, readAdjusted, writeAdjusted } from './regions';
import type { Region, RegionHandler, RegionOptions, SmallAccessSize } from './types';
import { DEFAULT_PIO_RULES } from './types';

/** The 64 KiB x86 I/O port space. Unclaimed ports read as all-ones and ignore writes. */
export class PortSpace {
  readonly counters = newCounters();
  interceptor: AccessInterceptor | undefined;
  private readonly regions = new RegionMap();
  /** Fast lookup: region index + 1 for each port, 0 when unclaimed. */
  private readonly owner = new Uint16Array(0x10000);
  private table: Region[] = [];

  register(start: number, length: number, handler: RegionHandler, options: RegionOptions): Region {
    const region = this.regions.add(start, length, handler, options, DEFAULT_PIO_RULES);
    this.rebuild();
    return region;
  }

  unregister(region: Region): void {
    this.regions.remove(region);
    this.rebuild();
  }

  regionsList(): readonly Region[] {
    return this.regions.all();
  }

  find(port: number): Region | undefined {
    const i = this.owner[port & 0xffff];
    return i === 0 ? undefined : this.table[i - 1];
  }

  private rebuild(): void {
    this.table = [...this.regions.all()];
    this.owner.fill(0);
    this.table.forEach((r, i) => this.owner.fill(i + 1, r.start, Math.min(0x10000, r.start + r.length)));
  }

  read(port: number, size: SmallAccessSize): number {
    port &= 0xffff;
    const region = this.find(port);
    if (!region || port + size > region.start + region.length) {
      if (!region) {
        this.counters.unmappedReads++;
        return allOnes(size) as number;
      }
      let v = 0;
      for (let i = 0; i < size; i++) v |= this.read((port + i) & 0xffff, 1) << (i * 8);
      return v >>> 0;
    }
    const offset = port - region.start;
    if (!isValidAccess(region, offset, size)) {
      this.counters.invalidAccesses++;
      return allOnes(size) as number;
    }
    const interceptor = this.interceptor;
    if (!interceptor) return readAdjusted(region, offset, size) as number;
    return Number(
      interceptor.read({ space: 'pio', address: port, size, isWrite: false, region, offset, value: 0 }, () =>
        readAdjusted(region, offset, size),
      ),
    );
  }

  write(port: number, size: SmallAccessSize, value: number): void {
    port &= 0xffff;
    const region = this.find(port);
    if (!region || port + size > region.start + region.length) {
      if (!region) {
        this.counters.unmappedWrites++;
        return;
      }
      for (let i = 0; i < size; i++) this.write((port + i) & 0xffff, 1, (value >>> (i * 8)) & 0xff);
      return;
    }
    const offset = port - region.start;
    if (!isValidAccess(region, offset, size)) {
      this.counters.invalidAccesses++;
      return;
    }
    const interceptor = this.interceptor;
    if (!interceptor) {
      writeAdjusted(region, offset, size, value);
      return;
    }
    interceptor.write({ space: 'pio', address: port, size, isWrite: true, region, offset, value }, (v) =>
      writeAdjusted(region, offset, size, v),
    );
  }
}
