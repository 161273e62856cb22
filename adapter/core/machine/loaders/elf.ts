import { ImageReader } from './bytes';
import { validateChunks } from './memory';
import type { ImageSymbol, LoadPlan, MachineDescription, MemoryChunk, SymbolKind } from './types';
import { LoaderError, hex32 } from './types';
import { flat32Entry } from './entry';

/* ELF32 layout: System V ABI gABI ch. 4 (ELF header, section header, symbol table) and ch. 5 (program header). */
const ELF_HEADER_SIZE = 52;
const PROGRAM_HEADER_SIZE = 32;
const SECTION_HEADER_SIZE = 40;
const SYMBOL_SIZE = 16;
const ELFCLASS32 = 1;
const ELFCLASS64 = 2;
const ELFDATA2LSB = 1;
const ET_EXEC = 2;
const ET_DYN = 3;
const EM_386 = 3;
const PT_LOAD = 1;
const SHT_SYMTAB = 2;
const STT_OBJECT = 1;
const STT_FUNC = 2;
const STT_SECTION = 3;
const STT_FILE = 4;
const SHN_UNDEF = 0;
const SHN_ABS = 0xfff1;

export interface ElfSegment {
  /** Index in the program header table. */
  readonly index: number;
  readonly fileOffset: number;
  readonly virtualAddress: number;
  readonly physicalAddress: number;
  readonly fileSize: number;
  readonly memorySize: number;
  readonly flags: number;
}

export interface Elf32Image {
  readonly entry: number;
  /** PT_LOAD segments with a non-zero memory size, in program header order. */
  readonly segments: readonly ElfSegment[];
  readonly symbols: readonly ImageSymbol[];
}

export function hasElfMagic(bytes: Uint8Array): boolean {
  return bytes.length >= 4 && bytes[0] === 0x7f && bytes[1] === 0x45 && bytes[2] === 0x4c && bytes[3] === 0x46;
}

export function parseElf32(bytes: Uint8Array): Elf32Image {
  const image = new ImageReader(bytes);
  if (!hasElfMagic(bytes)) {
    throw new LoaderError('bad-magic', 'not an ELF file: the first bytes are not 7f 45 4c 46 ("\\x7fELF")');
  }
  image.require(0, ELF_HEADER_SIZE, 'the ELF header');
  const elfClass = image.u8(4, 'e_ident[EI_CLASS]');
  if (elfClass === ELFCLASS64) {
    throw new LoaderError(
      'unsupported',
      'unsupported ELF: 64-bit (ELFCLASS64) images are not supported; build for i386',
    );
  }
  if (elfClass !== ELFCLASS32) throw new LoaderError('malformed', `malformed ELF: EI_CLASS is ${elfClass}, not 1 or 2`);
  if (image.u8(5, 'e_ident[EI_DATA]') !== ELFDATA2LSB) {
    throw new LoaderError('unsupported', 'unsupported ELF: big-endian data encoding; x86 images are little-endian');
  }
  const type = image.u16(16, 'e_type');
  if (type === ET_DYN) {
    throw new LoaderError(
      'unsupported',
      'unsupported ELF: ET_DYN (position-independent); link with -no-pie to ET_EXEC',
    );
  }
  if (type !== ET_EXEC) throw new LoaderError('unsupported', `unsupported ELF: e_type is ${type}, not ET_EXEC (2)`);
  const machine = image.u16(18, 'e_machine');
  if (machine !== EM_386) {
    throw new LoaderError('unsupported', `unsupported ELF: e_machine is ${machine}, not EM_386 (3)`);
  }
  const entry = image.u32(24, 'e_entry');
  const programHeaderOffset = image.u32(28, 'e_phoff');
  const sectionHeaderOffset = image.u32(32, 'e_shoff');
  const programHeaderSize = image.u16(42, 'e_phentsize');
  const programHeaderCount = image.u16(44, 'e_phnum');
  const sectionHeaderSize = image.u16(46, 'e_shentsize');
  const sectionHeaderCount = image.u16(48, 'e_shnum');

  if (programHeaderCount === 0) throw new LoaderError('malformed', 'malformed ELF: no program headers (e_phnum is 0)');
  if (programHeaderSize !== PROGRAM_HEADER_SIZE) {
    throw new LoaderError('malformed', `malformed ELF: e_phentsize is ${programHeaderSize}, expected 32`);
  }
  image.require(programHeaderOffset, programHeaderCount * PROGRAM_HEADER_SIZE, 'the program header table');

  const segments: ElfSegment[] = [];
  for (let index = 0; index < programHeaderCount; index++) {
    const at = programHeaderOffset + index * PROGRAM_HEADER_SIZE;
    if (image.u32(at, 'p_type') !== PT_LOAD) continue;
    const segment: ElfSegment = {
      index,
      fileOffset: image.u32(at + 4, 'p_offset'),
      virtualAddress: image.u32(at + 8, 'p_vaddr'),
      physicalAddress: image.u32(at + 12, 'p_paddr'),
      fileSize: image.u32(at + 16, 'p_filesz'),
      memorySize: image.u32(at + 20, 'p_memsz'),
      flags: image.u32(at + 24, 'p_flags'),
    };
    if (segment.fileSize > segment.memorySize) {
      throw new LoaderError(
        'malformed',
        `malformed ELF: segment ${index} has p_filesz ${segment.fileSize} larger than p_memsz ${segment.memorySize}`,
      );
    }
    image.require(segment.fileOffset, segment.fileSize, `segment ${index} (p_offset ${segment.fileOffset})`);
    if (segment.physicalAddress + segment.memorySize > 0x1_0000_0000) {
      throw new LoaderError('outside-ram', `segment ${index} wraps past 4 GiB (${hex32(segment.physicalAddress)})`);
    }
    if (segment.memorySize > 0) segments.push(segment);
  }
  if (segments.length === 0) throw new LoaderError('malformed', 'malformed ELF: no PT_LOAD segment with data');

  const symbols =
    sectionHeaderOffset !== 0 && sectionHeaderCount !== 0
      ? readSymbols(image, sectionHeaderOffset, sectionHeaderCount, sectionHeaderSize)
      : [];
  return { entry, segments, symbols };
}

function readSymbols(image: ImageReader, tableOffset: number, count: number, entrySize: number): ImageSymbol[] {
  if (entrySize !== SECTION_HEADER_SIZE) {
    throw new LoaderError('malformed', `malformed ELF: e_shentsize is ${entrySize}, expected 40`);
  }
  image.require(tableOffset, count * SECTION_HEADER_SIZE, 'the section header table');
  const symbols: ImageSymbol[] = [];
  for (let index = 0; index < count; index++) {
    const at = tableOffset + index * SECTION_HEADER_SIZE;
    if (image.u32(at + 4, 'sh_type') !== SHT_SYMTAB) continue;
    const offset = image.u32(at + 16, 'sh_offset');
    const size = image.u32(at + 20, 'sh_size');
    const link = image.u32(at + 24, 'sh_link');
    if (link >= count) {
      throw new LoaderError('malformed', `malformed ELF: .symtab links to section ${link} but there are ${count}`);
    }
    const stringsAt = tableOffset + link * SECTION_HEADER_SIZE;
    const stringsOffset = image.u32(stringsAt + 16, 'sh_offset');
    const stringsSize = image.u32(stringsAt + 20, 'sh_size');
    image.require(offset, size, 'the symbol table');
    image.require(stringsOffset, stringsSize, 'the symbol string table');
    for (let symbolAt = offset; symbolAt + SYMBOL_SIZE <= offset + size; symbolAt += SYMBOL_SIZE) {
      const nameOffset = image.u32(symbolAt, 'st_name');
      const type = image.u8(symbolAt + 12, 'st_info') & 0xf;
      const sectionIndex = image.u16(symbolAt + 14, 'st_shndx');
      if (nameOffset === 0 || sectionIndex === SHN_UNDEF || type === STT_SECTION || type === STT_FILE) continue;
      if (sectionIndex === SHN_ABS && type !== STT_FUNC && type !== STT_OBJECT) continue;
      if (nameOffset >= stringsSize) {
        throw new LoaderError(
          'malformed',
          `malformed ELF: a symbol name offset ${nameOffset} is past the string table`,
        );
      }
      symbols.push({
        name: image.cString(stringsOffset + nameOffset, stringsSize - nameOffset),
        address: image.u32(symbolAt + 4, 'st_value'),
        size: image.u32(symbolAt + 8, 'st_size'),
        kind: symbolKind(type),
      });
    }
  }
  return symbols.sort((a, b) => a.address - b.address || a.name.localeCompare(b.name));
}

function symbolKind(type: number): SymbolKind {
  if (type === STT_FUNC) return 'function';
  if (type === STT_OBJECT) return 'object';
  return 'other';
}

/** Each segment's file bytes followed by zeros up to p_memsz, at its physical address (p_paddr). */
export function elfChunks(bytes: Uint8Array, elf: Elf32Image): MemoryChunk[] {
  return elf.segments.map((segment) => {
    const data = new Uint8Array(segment.memorySize);
    data.set(bytes.subarray(segment.fileOffset, segment.fileOffset + segment.fileSize));
    return { address: segment.physicalAddress, bytes: data, label: `segment ${segment.index}` };
  });
}

/**
 * The physical entry address: e_entry is a virtual address, so it is translated through the segment that holds
 * it (GRUB does the same for images linked at a higher virtual address than they load at).
 */
export function physicalEntry(elf: Elf32Image): number {
  const segment = elf.segments.find(
    (candidate) => elf.entry >= candidate.virtualAddress && elf.entry < candidate.virtualAddress + candidate.fileSize,
  );
  if (!segment) {
    throw new LoaderError(
      'bad-entry',
      `entry point ${hex32(elf.entry)} is outside every loaded segment (${elf.segments
        .map((s) => `${hex32(s.virtualAddress)}-${hex32(s.virtualAddress + s.fileSize)}`)
        .join(', ')})`,
    );
  }
  return segment.physicalAddress + (elf.entry - segment.virtualAddress);
}

export function segmentSpan(chunks: readonly MemoryChunk[]): string {
  const start = Math.min(...chunks.map((chunk) => chunk.address));
  const end = Math.max(...chunks.map((chunk) => chunk.address + chunk.bytes.length));
  return `${chunks.length} segment${chunks.length === 1 ? '' : 's'} at ${hex32(start)}-${hex32(end)}`;
}

/** A plain ELF32 executable: PT_LOAD segments, entry point, no boot information; general registers are zero. */
export function loadElf(bytes: Uint8Array, machine: MachineDescription): LoadPlan {
  const elf = parseElf32(bytes);
  const chunks = elfChunks(bytes, elf);
  validateChunks(chunks, machine);
  const eip = physicalEntry(elf);
  return {
    format: 'elf',
    chunks,
    entry: flat32Entry(eip, {}),
    symbols: elf.symbols,
    description: `ELF32 i386, ${segmentSpan(chunks)}, entry ${hex32(eip)}, ${elf.symbols.length} symbols`,
  };
}
