/** What every loader produces: bytes to copy into guest RAM, the CPU state at entry, symbols and a summary. */

export type ImageFormat = 'multiboot' | 'elf' | 'bin' | 'bzimage';

/** One range of guest-physical memory to fill before the guest starts. Bytes beyond a file's data (BSS) are zeros. */
export interface MemoryChunk {
  readonly address: number;
  readonly bytes: Uint8Array;
  /** What the chunk holds (`segment 0`, `multiboot info`, `module initrd.img`), for messages and the debugger. */
  readonly label: string;
}

export interface GeneralRegisters {
  eax: number;
  ebx: number;
  ecx: number;
  edx: number;
  esi: number;
  edi: number;
  ebp: number;
  esp: number;
}

/**
 * Flat 32-bit protected mode as Multiboot 0.6.96 section 3.2 and the Linux 32-bit boot protocol require:
 * CR0.PE = 1, CR0.PG = 0, A20 enabled, CS a 32-bit execute/read code segment and DS/ES/FS/GS/SS read/write data
 * segments, all with base 0 and limit 4 GiB, EFLAGS.IF = 0 and EFLAGS.VM = 0. The machine builds a GDT that holds
 * descriptors at the given selectors and loads the segment caches from it; the guest must not rely on GDTR or IDTR.
 */
export interface Flat32EntryState {
  readonly mode: 'flat32';
  readonly eip: number;
  readonly regs: Readonly<GeneralRegisters>;
  readonly eflags: number;
  readonly codeSelector: number;
  readonly dataSelector: number;
}

export type EntryState = Flat32EntryState;

export type SymbolKind = 'function' | 'object' | 'other';

export interface ImageSymbol {
  readonly name: string;
  readonly address: number;
  readonly size: number;
  readonly kind: SymbolKind;
}

export interface LoadPlan {
  readonly format: ImageFormat;
  readonly chunks: readonly MemoryChunk[];
  readonly entry: EntryState;
  /** Symbols from the ELF .symtab, sorted by address; empty for formats that carry none. */
  readonly symbols: readonly ImageSymbol[];
  /** One line for the Debug Console, e.g. `multiboot ELF, 3 segments at 0x00100000-0x0010c000, entry 0x0010000c`. */
  readonly description: string;
}

/** An entry of the BIOS E820 memory map (ACPI 6.5 section 15, Table 15.1: 1 usable, 2 reserved, 3 ACPI, 4 NVS). */
export interface E820Entry {
  readonly base: number;
  readonly length: number;
  readonly type: number;
}

export const E820_RAM = 1;
export const E820_RESERVED = 2;

export interface ModuleInput {
  readonly name: string;
  readonly bytes: Uint8Array;
  /** The module's string (multiboot `string` field); defaults to the name. */
  readonly string?: string;
}

/** The machine a loader loads into. */
export interface MachineDescription {
  /** Bytes of RAM, starting at physical address 0 (the legacy hole 0xA0000-0xFFFFF is never RAM for loading). */
  readonly ramSize: number;
  /** The map the firmware reports; omitted means the standard PC map for `ramSize` (see `defaultE820Map`). */
  readonly e820?: readonly E820Entry[];
}

export type LoaderErrorCode =
  | 'truncated'
  | 'bad-magic'
  | 'bad-checksum'
  | 'unsupported'
  | 'outside-ram'
  | 'overlap'
  | 'bad-entry'
  | 'malformed'
  | 'unknown-format'
  | 'bad-argument';

/** A refused image; `message` says exactly what is wrong and, where it helps, what to do. */
export class LoaderError extends Error {
  constructor(
    readonly code: LoaderErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'LoaderError';
  }
}

export function hex32(value: number): string {
  return '0x' + (value >>> 0).toString(16).padStart(8, '0');
}
