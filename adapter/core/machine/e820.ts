/**
 * The BIOS memory map (INT 15h, AX=E820h) of the PC machine, and its encodings for the multiboot information
 * structure and for Linux's boot_params.
 *
 * Layout for a RAM size R (R ≥ 1 MiB):
 *   0x00000000-0x0009FBFF  usable        conventional memory
 *   0x0009FC00-0x0009FFFF  reserved      extended BIOS data area (1 KiB)
 *   0x000A0000-0x000EFFFF  (not listed)  VGA window and option ROMs: a hole, as on real PCs
 *   0x000F0000-0x000FFFFF  reserved      BIOS area; holds the ACPI RSDP and tables by default
 *   0x00100000-R           usable        extended memory, except an ACPI table area placed there (type 3)
 *   0xFEC00000 +4 KiB      reserved      I/O APIC window      } listed by default so that an OS does not put
 *   0xFED00000 +4 KiB      reserved      HPET window          } PCI BARs there; `deviceWindows` replaces the
 *   0xFEE00000 +4 KiB      reserved      local APIC window    } list (an empty list leaves them out)
 */

export const E820Type = {
  Usable: 1,
  Reserved: 2,
  AcpiReclaimable: 3,
  AcpiNvs: 4,
  Unusable: 5,
} as const;

export interface E820Entry {
  readonly base: number;
  readonly length: number;
  readonly type: number;
}

export const EBDA_START = 0x9fc00;
export const VGA_HOLE_START = 0xa0000;
export const BIOS_AREA_START = 0xf0000;
export const HIGH_MEMORY_START = 0x100000;

export const PC_DEVICE_WINDOWS: readonly { readonly base: number; readonly length: number }[] = [
  { base: 0xfec00000, length: 0x1000 },
  { base: 0xfed00000, length: 0x1000 },
  { base: 0xfee00000, length: 0x1000 },
];

export interface E820Options {
  /** ACPI tables placed in RAM above 1 MiB (AcpiTables.tablesRegion); tables below 1 MiB need nothing. */
  readonly acpiTables?: { readonly base: number; readonly length: number };
  readonly deviceWindows?: readonly { readonly base: number; readonly length: number }[];
}

export function buildE820Map(ramSize: number, options: E820Options = {}): E820Entry[] {
  if (!Number.isInteger(ramSize) || ramSize < HIGH_MEMORY_START) {
    throw new RangeError(`E820: RAM size must be at least 1 MiB, got ${ramSize}`);
  }
  const entries: E820Entry[] = [
    { base: 0, length: EBDA_START, type: E820Type.Usable },
    { base: EBDA_START, length: VGA_HOLE_START - EBDA_START, type: E820Type.Reserved },
    { base: BIOS_AREA_START, length: HIGH_MEMORY_START - BIOS_AREA_START, type: E820Type.Reserved },
  ];
  const acpi = options.acpiTables;
  if (acpi && acpi.base >= HIGH_MEMORY_START && acpi.length > 0) {
    if (acpi.base + acpi.length > ramSize) throw new RangeError('E820: the ACPI table area lies beyond the end of RAM');
    entries.push({ base: HIGH_MEMORY_START, length: acpi.base - HIGH_MEMORY_START, type: E820Type.Usable });
    entries.push({ base: acpi.base, length: acpi.length, type: E820Type.AcpiReclaimable });
    entries.push({ base: acpi.base + acpi.length, length: ramSize - acpi.base - acpi.length, type: E820Type.Usable });
  } else {
    entries.push({ base: HIGH_MEMORY_START, length: ramSize - HIGH_MEMORY_START, type: E820Type.Usable });
  }
  for (const window of options.deviceWindows ?? PC_DEVICE_WINDOWS) {
    if (window.base < ramSize) throw new RangeError(`E820: device window 0x${window.base.toString(16)} overlaps RAM`);
    entries.push({ base: window.base, length: window.length, type: E820Type.Reserved });
  }
  const map = entries.filter((e) => e.length > 0).sort((a, b) => a.base - b.base);
  for (let i = 1; i < map.length; i++) {
    const previous = map[i - 1];
    if (previous.base + previous.length > map[i].base) {
      throw new RangeError(
        `E820: entries at 0x${previous.base.toString(16)} and 0x${map[i].base.toString(16)} overlap`,
      );
    }
  }
  return map;
}

/** Multiboot 1 mmap entries: a 32-bit size (20, not counting itself), 64-bit base, 64-bit length, 32-bit type. */
export const MULTIBOOT_MMAP_ENTRY_SIZE = 24;

export function encodeMultibootMmap(entries: readonly E820Entry[]): Uint8Array {
  const bytes = new Uint8Array(entries.length * MULTIBOOT_MMAP_ENTRY_SIZE);
  const view = new DataView(bytes.buffer);
  entries.forEach((e, i) => {
    const at = i * MULTIBOOT_MMAP_ENTRY_SIZE;
    view.setUint32(at, MULTIBOOT_MMAP_ENTRY_SIZE - 4, true);
    view.setBigUint64(at + 4, BigInt(e.base), true);
    view.setBigUint64(at + 12, BigInt(e.length), true);
    view.setUint32(at + 20, e.type, true);
  });
  return bytes;
}

/** Multiboot mem_lower / mem_upper in KiB: conventional memory, and contiguous RAM from 1 MiB to the first hole. */
export function multibootMemoryInfo(entries: readonly E820Entry[]): { memLowerKiB: number; memUpperKiB: number } {
  const usable = entries.filter((e) => e.type === E820Type.Usable);
  const low = usable.find((e) => e.base === 0);
  let upperEnd = HIGH_MEMORY_START;
  for (const e of usable) if (e.base === upperEnd) upperEnd += e.length;
  return {
    memLowerKiB: Math.floor((low?.length ?? 0) / 1024),
    memUpperKiB: Math.floor((upperEnd - HIGH_MEMORY_START) / 1024),
  };
}

/** Linux boot_params (Documentation/arch/x86/zero-page.rst): e820_entries count and e820_table[128] of 20 bytes. */
export const BOOT_PARAMS_E820_ENTRIES_OFFSET = 0x1e8;
export const BOOT_PARAMS_E820_TABLE_OFFSET = 0x2d0;
export const BOOT_PARAMS_E820_MAX_ENTRIES = 128;
export const LINUX_E820_ENTRY_SIZE = 20;

export function encodeLinuxE820(entries: readonly E820Entry[]): Uint8Array {
  if (entries.length > BOOT_PARAMS_E820_MAX_ENTRIES) {
    throw new RangeError(`E820: boot_params holds at most ${BOOT_PARAMS_E820_MAX_ENTRIES} entries`);
  }
  const bytes = new Uint8Array(entries.length * LINUX_E820_ENTRY_SIZE);
  const view = new DataView(bytes.buffer);
  entries.forEach((e, i) => {
    const at = i * LINUX_E820_ENTRY_SIZE;
    view.setBigUint64(at, BigInt(e.base), true);
    view.setBigUint64(at + 8, BigInt(e.length), true);
    view.setUint32(at + 16, e.type, true);
  });
  return bytes;
}

/** Writes the count and the table into a boot_params page (the "zero page"). */
export function writeLinuxE820(bootParams: Uint8Array, entries: readonly E820Entry[]): void {
  bootParams[BOOT_PARAMS_E820_ENTRIES_OFFSET] = entries.length;
  bootParams.set(encodeLinuxE820(entries), BOOT_PARAMS_E820_TABLE_OFFSET);
}
