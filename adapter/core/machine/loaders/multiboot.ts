import { ImageReader, StructWriter, alignUp, cStringBytes } from './bytes';
import { elfChunks, hasElfMagic, parseElf32, physicalEntry, segmentSpan } from './elf';
import { flat32Entry } from './entry';
import { HIGH_MEMORY_START, e820MapOf, usableRanges, validateChunks } from './memory';
import type { ImageSymbol, LoadPlan, MachineDescription, MemoryChunk, ModuleInput } from './types';
import { LoaderError, hex32 } from './types';

/* Multiboot Specification 0.6.96. Section 3.1: the OS image header. */
export const MULTIBOOT_HEADER_MAGIC = 0x1badb002;
/* Section 3.2: EAX holds this value when the boot loader jumps to the OS. */
export const MULTIBOOT_BOOTLOADER_MAGIC = 0x2badb002;
export const MULTIBOOT_SEARCH_LIMIT = 8192;

export const HEADER_PAGE_ALIGN = 1 << 0;
export const HEADER_MEMORY_INFO = 1 << 1;
export const HEADER_VIDEO_MODE = 1 << 2;
export const HEADER_AOUT_KLUDGE = 1 << 16;
/** Bits 0-15 are requirements (section 3.1.2); this loader meets 0 and 1 and ignores the video request (bit 2). */
const UNSUPPORTED_REQUIRED_FLAGS = 0xfff8;

/* Section 3.3: flags of the information structure. */
export const INFO_MEMORY = 1 << 0;
export const INFO_BOOT_DEVICE = 1 << 1;
export const INFO_CMDLINE = 1 << 2;
export const INFO_MODULES = 1 << 3;
export const INFO_MEMORY_MAP = 1 << 6;
export const INFO_BOOT_LOADER_NAME = 1 << 9;

const INFO_STRUCTURE_SIZE = 88;
const MODULE_ENTRY_SIZE = 16;
const MMAP_ENTRY_SIZE = 24;
const PAGE_SIZE = 4096;
/** Conventional memory the loader may use for the information structure; kernels normally load at 1 MiB. */
export const DEFAULT_INFO_ADDRESS = 0x9000;

export interface MultibootHeader {
  readonly offset: number;
  readonly flags: number;
  /** The a.out kludge address fields (section 3.1.3), present when flag bit 16 is set. */
  readonly addresses?: {
    readonly headerAddress: number;
    readonly loadAddress: number;
    readonly loadEndAddress: number;
    readonly bssEndAddress: number;
    readonly entryAddress: number;
  };
}

export interface MultibootOptions {
  readonly commandLine?: string;
  readonly modules?: readonly ModuleInput[];
  /** BIOS drive and partitions (section 3.3, `boot_device`); the field is left out when not given. */
  readonly bootDevice?: number;
  readonly bootLoaderName?: string;
  /** Where the information structure, memory map, module list and strings go. */
  readonly infoAddress?: number;
}

/** Finds a header with a valid checksum, 4-byte aligned in the first 8192 bytes (section 3.1.1). */
export function findMultibootHeader(bytes: Uint8Array): MultibootHeader | undefined {
  const image = new ImageReader(bytes);
  const limit = Math.min(bytes.length, MULTIBOOT_SEARCH_LIMIT);
  let badChecksumAt: number | undefined;
  for (let offset = 0; offset + 12 <= limit; offset += 4) {
    if (image.u32(offset, 'multiboot magic') !== MULTIBOOT_HEADER_MAGIC) continue;
    const flags = image.u32(offset + 4, 'multiboot flags');
    const checksum = image.u32(offset + 8, 'multiboot checksum');
    if (((MULTIBOOT_HEADER_MAGIC + flags + checksum) & 0xffffffff) !== 0) {
      badChecksumAt ??= offset;
      continue;
    }
    if (!(flags & HEADER_AOUT_KLUDGE)) return { offset, flags };
    image.require(offset, 32, 'the multiboot header address fields (flag bit 16 is set)');
    return {
      offset,
      flags,
      addresses: {
        headerAddress: image.u32(offset + 12, 'header_addr'),
        loadAddress: image.u32(offset + 16, 'load_addr'),
        loadEndAddress: image.u32(offset + 20, 'load_end_addr'),
        bssEndAddress: image.u32(offset + 24, 'bss_end_addr'),
        entryAddress: image.u32(offset + 28, 'entry_addr'),
      },
    };
  }
  if (badChecksumAt !== undefined) {
    throw new LoaderError(
      'bad-checksum',
      `multiboot header at offset ${badChecksumAt} has a bad checksum: magic + flags + checksum must be 0 mod 2^32`,
    );
  }
  return undefined;
}

export function loadMultiboot(
  bytes: Uint8Array,
  machine: MachineDescription,
  options: MultibootOptions = {},
): LoadPlan {
  const header = findMultibootHeader(bytes);
  if (!header) {
    throw new LoaderError(
      'bad-magic',
      `no multiboot header: magic 0x1badb002 not found 4-byte aligned in the first ${MULTIBOOT_SEARCH_LIMIT} bytes`,
    );
  }
  const unsupported = header.flags & UNSUPPORTED_REQUIRED_FLAGS;
  if (unsupported) {
    throw new LoaderError(
      'unsupported',
      `multiboot header requires features this loader does not provide (flag bits ${hex32(unsupported)})`,
    );
  }

  const kernel = header.addresses ? loadAoutKludge(bytes, header) : loadMultibootElf(bytes);
  const modules = placeModules(options.modules ?? [], kernel.chunks);
  const infoAddress = options.infoAddress ?? DEFAULT_INFO_ADDRESS;
  const info = buildInfo(machine, options, modules, infoAddress);
  const chunks = [...kernel.chunks, ...modules.map((module) => module.chunk), info];
  validateChunks(chunks, machine);
  const kind = header.addresses ? 'a.out kludge' : 'ELF';
  const moduleText = modules.length ? `, ${modules.length} module${modules.length === 1 ? '' : 's'}` : '';
  return {
    format: 'multiboot',
    chunks,
    entry: flat32Entry(kernel.entry, { eax: MULTIBOOT_BOOTLOADER_MAGIC, ebx: infoAddress }),
    symbols: kernel.symbols,
    description:
      `multiboot ${kind}, ${segmentSpan(kernel.chunks)}, entry ${hex32(kernel.entry)}${moduleText}, ` +
      `info at ${hex32(infoAddress)}`,
  };
}

interface LoadedKernel {
  readonly chunks: MemoryChunk[];
  readonly entry: number;
  readonly symbols: readonly ImageSymbol[];
}

function loadMultibootElf(bytes: Uint8Array): LoadedKernel {
  if (!hasElfMagic(bytes)) {
    throw new LoaderError(
      'malformed',
      'multiboot header without the a.out kludge (flag bit 16) needs an ELF image, but the file is not ELF',
    );
  }
  const elf = parseElf32(bytes);
  return { chunks: elfChunks(bytes, elf), entry: physicalEntry(elf), symbols: elf.symbols };
}

/** Section 3.1.3: the header's address fields say which part of the file goes where. */
function loadAoutKludge(bytes: Uint8Array, header: MultibootHeader): LoadedKernel {
  const fields = header.addresses!;
  if (fields.loadAddress > fields.headerAddress) {
    throw new LoaderError(
      'malformed',
      `multiboot load_addr ${hex32(fields.loadAddress)} is above header_addr ${hex32(fields.headerAddress)}`,
    );
  }
  const fileStart = header.offset - (fields.headerAddress - fields.loadAddress);
  if (fileStart < 0) {
    throw new LoaderError(
      'malformed',
      `multiboot header_addr - load_addr (${fields.headerAddress - fields.loadAddress}) exceeds the header's file ` +
        `offset ${header.offset}`,
    );
  }
  const loadEnd = fields.loadEndAddress === 0 ? fields.loadAddress + (bytes.length - fileStart) : fields.loadEndAddress;
  if (loadEnd <= fields.loadAddress) {
    throw new LoaderError(
      'malformed',
      `multiboot load_end_addr ${hex32(loadEnd)} is not above load_addr ${hex32(fields.loadAddress)}`,
    );
  }
  const fileSize = loadEnd - fields.loadAddress;
  new ImageReader(bytes).require(fileStart, fileSize, 'the multiboot text and data (load_addr to load_end_addr)');
  const bssEnd = fields.bssEndAddress === 0 ? loadEnd : fields.bssEndAddress;
  if (bssEnd < loadEnd) {
    throw new LoaderError(
      'malformed',
      `multiboot bss_end_addr ${hex32(bssEnd)} is below load_end_addr ${hex32(loadEnd)}`,
    );
  }
  if (fields.entryAddress < fields.loadAddress || fields.entryAddress >= loadEnd) {
    throw new LoaderError(
      'bad-entry',
      `multiboot entry_addr ${hex32(fields.entryAddress)} is outside the loaded image ` +
        `${hex32(fields.loadAddress)}-${hex32(loadEnd)}`,
    );
  }
  const data = new Uint8Array(bssEnd - fields.loadAddress);
  data.set(bytes.subarray(fileStart, fileStart + fileSize));
  let symbols: readonly ImageSymbol[] = [];
  if (hasElfMagic(bytes)) {
    try {
      symbols = parseElf32(bytes).symbols;
    } catch (error) {
      if (!(error instanceof LoaderError)) throw error;
    }
  }
  return {
    chunks: [{ address: fields.loadAddress, bytes: data, label: 'a.out kludge image' }],
    entry: fields.entryAddress,
    symbols,
  };
}

interface PlacedModule {
  readonly chunk: MemoryChunk;
  readonly string: string;
}

/** Modules go one after another from the first page above the kernel, each page-aligned (header flag bit 0). */
function placeModules(modules: readonly ModuleInput[], kernelChunks: readonly MemoryChunk[]): PlacedModule[] {
  let next = alignUp(Math.max(...kernelChunks.map((chunk) => chunk.address + chunk.bytes.length)), PAGE_SIZE);
  return modules.map((module) => {
    const chunk = { address: next, bytes: module.bytes, label: `module ${module.name}` };
    next = alignUp(next + Math.max(module.bytes.length, 1), PAGE_SIZE);
    return { chunk, string: module.string ?? module.name };
  });
}

/** mem_lower: KiB of RAM from address 0 (at most 640); mem_upper: KiB of contiguous RAM from 1 MiB (section 3.3). */
export function multibootMemorySizes(machine: MachineDescription): { lower: number; upper: number } {
  const ranges = usableRanges(machine);
  const low = ranges.find((range) => range.start === 0);
  const high = ranges.find((range) => range.start <= HIGH_MEMORY_START && range.end > HIGH_MEMORY_START);
  return {
    lower: low ? Math.floor(Math.min(low.end, 0xa0000) / 1024) : 0,
    upper: high ? Math.floor((high.end - HIGH_MEMORY_START) / 1024) : 0,
  };
}

function buildInfo(
  machine: MachineDescription,
  options: MultibootOptions,
  modules: readonly PlacedModule[],
  infoAddress: number,
): MemoryChunk {
  const map = e820MapOf(machine);
  const strings: Uint8Array[] = [];
  const mmapOffset = INFO_STRUCTURE_SIZE;
  const modulesOffset = mmapOffset + map.length * MMAP_ENTRY_SIZE;
  let stringOffset = modulesOffset + modules.length * MODULE_ENTRY_SIZE;
  const addString = (text: string): number => {
    const encoded = cStringBytes(text);
    const address = infoAddress + stringOffset;
    strings.push(encoded);
    stringOffset += encoded.length;
    return address;
  };
  const moduleStrings = modules.map((module) => addString(module.string));
  const commandLine = options.commandLine !== undefined ? addString(options.commandLine) : 0;
  const loaderName = addString(options.bootLoaderName ?? 'mmiodbg');

  const info = new StructWriter(alignUp(stringOffset, 4));
  let flags = INFO_MEMORY | INFO_MODULES | INFO_MEMORY_MAP | INFO_BOOT_LOADER_NAME;
  const memory = multibootMemorySizes(machine);
  info.u32(4, memory.lower);
  info.u32(8, memory.upper);
  if (options.bootDevice !== undefined) {
    flags |= INFO_BOOT_DEVICE;
    info.u32(12, options.bootDevice);
  }
  if (options.commandLine !== undefined) {
    flags |= INFO_CMDLINE;
    info.u32(16, commandLine);
  }
  info.u32(20, modules.length);
  info.u32(24, modules.length ? infoAddress + modulesOffset : 0);
  info.u32(44, map.length * MMAP_ENTRY_SIZE);
  info.u32(48, infoAddress + mmapOffset);
  info.u32(64, loaderName);
  info.u32(0, flags);
  map.forEach((entry, index) => {
    const at = mmapOffset + index * MMAP_ENTRY_SIZE;
    info.u32(at, MMAP_ENTRY_SIZE - 4);
    info.u64(at + 4, entry.base);
    info.u64(at + 12, entry.length);
    info.u32(at + 20, entry.type);
  });
  modules.forEach((module, index) => {
    const at = modulesOffset + index * MODULE_ENTRY_SIZE;
    info.u32(at, module.chunk.address);
    info.u32(at + 4, module.chunk.address + module.chunk.bytes.length);
    info.u32(at + 8, moduleStrings[index]);
  });
  let at = modulesOffset + modules.length * MODULE_ENTRY_SIZE;
  for (const text of strings) {
    info.set(at, text);
    at += text.length;
  }
  return { address: infoAddress, bytes: info.bytes, label: 'multiboot info' };
}
