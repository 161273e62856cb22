import type { AccessRules, AccessSize, Region, RegionHandler, RegionOptions, SmallAccessSize } from './types';
import { BusError } from './types';

/** A sorted set of non-overlapping regions with lookup by address. */
export class RegionMap {
  private regions: Region[] = [];

  add(start: number, length: number, handler: RegionHandler, options: RegionOptions, defaults: AccessRules): Region {
    if (length <= 0) throw new BusError(`region ${options.device}: length must be positive`);
    const end = start + length;
    for (const r of this.regions) {
      if (start < r.start + r.length && r.start < end) {
        throw new BusError(
          `region ${options.device}${options.name ? '.' + options.name : ''} at 0x${start.toString(16)} overlaps ` +
            `${r.device}.${r.name} at 0x${r.start.toString(16)}-0x${(r.start + r.length - 1).toString(16)}`,
        );
      }
    }
    const region: Region = {
      start,
      length,
      device: options.device,
      name: options.name ?? options.device,
      rules: { valid: options.valid ?? defaults.valid, impl: options.impl ?? defaults.impl },
      handler,
    };
    this.regions.push(region);
    this.regions.sort((a, b) => a.start - b.start);
    return region;
  }

  remove(region: Region): void {
    this.regions = this.regions.filter((r) => r !== region);
  }

  find(address: number): Region | undefined {
    const list = this.regions;
    let lo = 0;
    let hi = list.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const r = list[mid];
      if (address < r.start) hi = mid - 1;
      else if (address >= r.start + r.length) lo = mid + 1;
      else return r;
    }
    return undefined;
  }

  all(): readonly Region[] {
    return this.regions;
  }
}

const MASKS = [0, 0xff, 0xffff, 0xffffff, 0xffffffff];

/**
 * Performs an access of `size` bytes at `offset` through a handler that implements only impl.min..impl.max,
 * splitting wide accesses into little-endian pieces and widening narrow ones (the extra bytes of a widened
 * write are zero, as QEMU does).
 */
export function readAdjusted(region: Region, offset: number, size: AccessSize): bigint | number {
  const { min, max } = region.rules.impl;
  const h = region.handler;
  if (size === 8) {
    if (max === 8 && h.read64) return h.read64(offset);
    const lo = readAdjusted(region, offset, 4) as number;
    const hi = readAdjusted(region, offset + 4, 4) as number;
    return (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0);
  }
  if (size < min) {
    const wide = Math.min(min, 4) as SmallAccessSize;
    const aligned = offset & ~(wide - 1);
    const shift = (offset - aligned) * 8;
    return ((h.read(aligned, wide) >>> shift) & MASKS[size]) >>> 0;
  }
  if (size > max) {
    let value = 0;
    for (let i = 0; i < size; i += max) {
      value |= (h.read(offset + i, max as SmallAccessSize) & MASKS[max]) << (i * 8);
    }
    return value >>> 0;
  }
  return h.read(offset, size) >>> 0;
}

export function writeAdjusted(region: Region, offset: number, size: AccessSize, value: number | bigint): void {
  const { min, max } = region.rules.impl;
  const h = region.handler;
  if (size === 8) {
    const v = BigInt.asUintN(64, BigInt(value));
    if (max === 8 && h.write64) return h.write64(offset, v);
    writeAdjusted(region, offset, 4, Number(v & 0xffffffffn));
    writeAdjusted(region, offset + 4, 4, Number(v >> 32n));
    return;
  }
  const v = Number(value) >>> 0;
  if (size < min) {
    const wide = Math.min(min, 4) as SmallAccessSize;
    const aligned = offset & ~(wide - 1);
    const shift = (offset - aligned) * 8;
    h.write(aligned, wide, ((v & MASKS[size]) << shift) >>> 0);
    return;
  }
  if (size > max) {
    for (let i = 0; i < size; i += max) h.write(offset + i, max as SmallAccessSize, (v >>> (i * 8)) & MASKS[max]);
    return;
  }
  h.write(offset, size, v & MASKS[size]);
}

export function isValidAccess(region: Region, offset: number, size: AccessSize): boolean {
  const { min, max, unaligned } = region.rules.valid;
  if (size < min || size > max) return false;
  if (!unaligned && (offset & (size - 1)) !== 0) return false;
  return offset + size <= region.length;
}
