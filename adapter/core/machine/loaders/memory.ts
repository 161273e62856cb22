import type { E820Entry, MachineDescription, MemoryChunk } from './types';
import { E820_RAM, E820_RESERVED, LoaderError, hex32 } from './types';

/** Start of the extended BIOS data area in the standard PC map; RAM below it is conventional memory. */
export const EBDA_START = 0x9fc00;
/** Start of high memory: 0xA0000-0xFFFFF holds video memory and ROMs on a PC. */
export const HIGH_MEMORY_START = 0x100000;
const BIOS_ROM_START = 0xf0000;
const PAGE_SIZE = 4096;

/** The standard PC map for a RAM size: conventional memory, EBDA, BIOS ROM, extended memory. */
export function defaultE820Map(ramSize: number): E820Entry[] {
  if (ramSize <= HIGH_MEMORY_START) {
    throw new LoaderError('bad-argument', `RAM size ${hex32(ramSize)} is too small: at least 1 MiB + 1 byte is needed`);
  }
  return [
    { base: 0, length: EBDA_START, type: E820_RAM },
    { base: EBDA_START, length: 0xa0000 - EBDA_START, type: E820_RESERVED },
    { base: BIOS_ROM_START, length: HIGH_MEMORY_START - BIOS_ROM_START, type: E820_RESERVED },
    { base: HIGH_MEMORY_START, length: ramSize - HIGH_MEMORY_START, type: E820_RAM },
  ];
}

export function e820MapOf(machine: MachineDescription): readonly E820Entry[] {
  return machine.e820 ?? defaultE820Map(machine.ramSize);
}

/** Usable RAM ranges [start, end), sorted and merged, clipped to the RAM size. */
export function usableRanges(machine: MachineDescription): Array<{ start: number; end: number }> {
  const ranges = e820MapOf(machine)
    .filter((entry) => entry.type === E820_RAM)
    .map((entry) => ({ start: entry.base, end: Math.min(entry.base + entry.length, machine.ramSize) }))
    .filter((range) => range.end > range.start)
    .sort((a, b) => a.start - b.start);
  const merged: Array<{ start: number; end: number }> = [];
  for (const range of ranges) {
    const last = merged[merged.length - 1];
    if (last && range.start <= last.end) last.end = Math.max(last.end, range.end);
    else merged.push({ ...range });
  }
  return merged;
}

export function describeRanges(ranges: ReadonlyArray<{ start: number; end: number }>): string {
  return ranges.map((range) => `${hex32(range.start)}-${hex32(range.end)}`).join(', ');
}

export function isInUsableRam(machine: MachineDescription, start: number, end: number): boolean {
  return usableRanges(machine).some((range) => start >= range.start && end <= range.end);
}

/**
 * Checks that every chunk lies inside usable RAM and that no two chunks overlap; the error names both
 * chunks' labels and ranges.
 */
export function validateChunks(chunks: readonly MemoryChunk[], machine: MachineDescription): void {
  const ranges = usableRanges(machine);
  for (const chunk of chunks) {
    const end = chunk.address + chunk.bytes.length;
    if (!ranges.some((range) => chunk.address >= range.start && end <= range.end)) {
      throw new LoaderError(
        'outside-ram',
        `${chunk.label} (${hex32(chunk.address)}-${hex32(end)}) lies outside RAM; usable RAM is ${describeRanges(ranges)}`,
      );
    }
  }
  const sorted = [...chunks].filter((chunk) => chunk.bytes.length > 0).sort((a, b) => a.address - b.address);
  for (let i = 1; i < sorted.length; i++) {
    const previous = sorted[i - 1];
    const current = sorted[i];
    if (current.address < previous.address + previous.bytes.length) {
      throw new LoaderError(
        'overlap',
        `${current.label} (${hex32(current.address)}-${hex32(current.address + current.bytes.length)}) overlaps ` +
          `${previous.label} (${hex32(previous.address)}-${hex32(previous.address + previous.bytes.length)})`,
      );
    }
  }
}

/** The highest page-aligned address where `size` bytes fit in usable RAM, at or above `floor` and below `limit`. */
export function highestPageBelow(
  machine: MachineDescription,
  size: number,
  floor: number,
  limit: number,
): number | undefined {
  for (const range of usableRanges(machine).reverse()) {
    const start = Math.floor((Math.min(range.end, limit) - size) / PAGE_SIZE) * PAGE_SIZE;
    if (start >= range.start && start >= floor) return start;
  }
  return undefined;
}
