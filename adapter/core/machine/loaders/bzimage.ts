import { ImageReader, StructWriter, alignUp, cStringBytes } from './bytes';
import { flat32Entry } from './entry';
import {
  HIGH_MEMORY_START,
  describeRanges,
  e820MapOf,
  highestPageBelow,
  isInUsableRam,
  usableRanges,
  validateChunks,
} from './memory';
import { multibootMemorySizes } from './multiboot';
import type { LoadPlan, MachineDescription, MemoryChunk } from './types';
import { LoaderError, hex32 } from './types';

/*
 * Linux x86 boot protocol, Documentation/arch/x86/boot.rst: "The Real-Mode Kernel Header" (field offsets into the
 * file, which are also the offsets of struct setup_header inside struct boot_params, the zero page) and
 * "32-bit Boot Protocol" (what a loader that skips the real-mode setup code must fill in).
 */
const SETUP_SECTS = 0x1f1;
const SYSSIZE = 0x1f4;
const BOOT_FLAG = 0x1fe;
const JUMP_OFFSET_BYTE = 0x201;
const HEADER = 0x202;
const VERSION = 0x206;
const TYPE_OF_LOADER = 0x210;
const LOADFLAGS = 0x211;
const CODE32_START = 0x214;
const RAMDISK_IMAGE = 0x218;
const RAMDISK_SIZE = 0x21c;
const HEAP_END_PTR = 0x224;
const CMD_LINE_PTR = 0x228;
const INITRD_ADDR_MAX = 0x22c;
const KERNEL_ALIGNMENT = 0x230;
const RELOCATABLE_KERNEL = 0x234;
const CMDLINE_SIZE = 0x238;
const PREF_ADDRESS = 0x258;
const INIT_SIZE = 0x260;
/** struct boot_params places edd_mbr_sig_buffer at 0x290, so the setup header never reaches past it. */
const SETUP_HEADER_LIMIT = 0x290;

/* struct boot_params (Documentation/arch/x86/zero-page.rst). */
const ZERO_PAGE_SIZE = 4096;
const ALT_MEM_K = 0x1e0;
const E820_ENTRIES = 0x1e8;
const E820_TABLE = 0x2d0;
const E820_TABLE_MAX_ENTRIES = 128;
const E820_ENTRY_SIZE = 20;

const HDRS_MAGIC = 0x53726448;
const BOOT_FLAG_MAGIC = 0xaa55;
const LOADFLAG_LOADED_HIGH = 0x01;
const LOADFLAG_CAN_USE_HEAP = 0x80;
const TYPE_OF_LOADER_UNDEFINED = 0xff;
const DEFAULT_INITRD_ADDR_MAX = 0x37ffffff;
const DEFAULT_CMDLINE_SIZE = 255;
const LINUX_LOAD_ADDRESS = HIGH_MEMORY_START;
/** 32-bit boot protocol: CS must be __BOOT_CS (0x10) and DS/ES/SS __BOOT_DS (0x18). */
const BOOT_CS = 0x10;
const BOOT_DS = 0x18;

export const BOOT_PARAMS_ADDRESS = 0x10000;
export const COMMAND_LINE_ADDRESS = 0x20000;

export interface BzImageOptions {
  readonly commandLine?: string;
  readonly initrd?: { readonly name: string; readonly bytes: Uint8Array };
}

export function hasBzImageMagic(bytes: Uint8Array): boolean {
  return bytes.length >= HEADER + 4 && new ImageReader(bytes).u32(HEADER, 'setup header magic') === HDRS_MAGIC;
}

function protocolText(version: number): string {
  return `${version >> 8}.${(version & 0xff).toString().padStart(2, '0')}`;
}

export function loadBzImage(bytes: Uint8Array, machine: MachineDescription, options: BzImageOptions = {}): LoadPlan {
  const image = new ImageReader(bytes);
  image.require(0, VERSION + 2, 'the Linux setup header');
  if (image.u32(HEADER, 'header') !== HDRS_MAGIC) {
    throw new LoaderError('bad-magic', 'not a Linux bzImage: no "HdrS" magic at offset 0x202 of the setup header');
  }
  const bootFlag = image.u16(BOOT_FLAG, 'boot_flag');
  if (bootFlag !== BOOT_FLAG_MAGIC) {
    throw new LoaderError(
      'bad-magic',
      `not a Linux bzImage: boot_flag at 0x1fe is 0x${bootFlag.toString(16)}, not 0xaa55`,
    );
  }
  const version = image.u16(VERSION, 'version');
  if (version < 0x202) {
    throw new LoaderError(
      'unsupported',
      `Linux boot protocol ${protocolText(version)} is too old: the 32-bit boot protocol needs 2.02 or newer`,
    );
  }
  const headerEnd = Math.min(HEADER + image.u8(JUMP_OFFSET_BYTE, 'jump offset'), SETUP_HEADER_LIMIT);
  image.require(SETUP_SECTS, headerEnd - SETUP_SECTS, `the setup header (protocol ${protocolText(version)})`);
  const loadflags = image.u8(LOADFLAGS, 'loadflags');
  if (!(loadflags & LOADFLAG_LOADED_HIGH)) {
    throw new LoaderError(
      'unsupported',
      'zImage kernels (loadflags.LOADED_HIGH clear) are not supported; use a bzImage',
    );
  }

  const setupSectors = image.u8(SETUP_SECTS, 'setup_sects') || 4;
  const kernelOffset = (setupSectors + 1) * 512;
  if (kernelOffset >= bytes.length) {
    throw new LoaderError(
      'truncated',
      `truncated bzImage: setup_sects says the protected-mode kernel starts at byte ${kernelOffset} but the file has ` +
        `${bytes.length} bytes`,
    );
  }
  const kernel = bytes.subarray(kernelOffset);
  const declaredSize = image.u32(SYSSIZE, 'syssize') * 16;
  if (version >= 0x204 && declaredSize > kernel.length) {
    throw new LoaderError(
      'truncated',
      `truncated bzImage: syssize says the protected-mode kernel is ${declaredSize} bytes but only ${kernel.length} follow`,
    );
  }

  const relocatable = version >= 0x205 && image.u8(RELOCATABLE_KERNEL, 'relocatable_kernel') !== 0;
  const initSize = version >= 0x20a ? Math.max(image.u32(INIT_SIZE, 'init_size'), kernel.length) : kernel.length;
  let loadAddress = LINUX_LOAD_ADDRESS;
  if (relocatable && version >= 0x20a) {
    const preferred = Number(image.u64(PREF_ADDRESS, 'pref_address'));
    if (preferred >= LINUX_LOAD_ADDRESS && isInUsableRam(machine, preferred, preferred + initSize)) {
      loadAddress = preferred;
    } else {
      loadAddress = alignUp(LINUX_LOAD_ADDRESS, image.u32(KERNEL_ALIGNMENT, 'kernel_alignment') || 1);
    }
  }
  if (!isInUsableRam(machine, loadAddress, loadAddress + initSize)) {
    throw new LoaderError(
      'outside-ram',
      `the kernel needs ${initSize} bytes at ${hex32(loadAddress)} (init_size) but usable RAM is ` +
        describeRanges(usableRanges(machine)),
    );
  }

  const commandLine = options.commandLine ?? '';
  const commandLineLimit = version >= 0x206 ? image.u32(CMDLINE_SIZE, 'cmdline_size') : DEFAULT_CMDLINE_SIZE;
  if (commandLine.length > commandLineLimit) {
    throw new LoaderError(
      'bad-argument',
      `the command line is ${commandLine.length} bytes but the kernel accepts at most ${commandLineLimit} (cmdline_size)`,
    );
  }

  const bootParams = new StructWriter(ZERO_PAGE_SIZE);
  bootParams.set(SETUP_SECTS, bytes.subarray(SETUP_SECTS, headerEnd));
  bootParams.u8(TYPE_OF_LOADER, TYPE_OF_LOADER_UNDEFINED);
  bootParams.u8(LOADFLAGS, loadflags | LOADFLAG_CAN_USE_HEAP);
  bootParams.u32(CODE32_START, loadAddress);
  bootParams.u16(HEAP_END_PTR, COMMAND_LINE_ADDRESS - BOOT_PARAMS_ADDRESS - 0x200);
  bootParams.u32(CMD_LINE_PTR, COMMAND_LINE_ADDRESS);
  bootParams.u32(ALT_MEM_K, multibootMemorySizes(machine).upper);

  const map = e820MapOf(machine);
  if (map.length > E820_TABLE_MAX_ENTRIES) {
    throw new LoaderError('bad-argument', `the E820 map has ${map.length} entries; the zero page holds at most 128`);
  }
  bootParams.u8(E820_ENTRIES, map.length);
  map.forEach((entry, index) => {
    const at = E820_TABLE + index * E820_ENTRY_SIZE;
    bootParams.u64(at, entry.base);
    bootParams.u64(at + 8, entry.length);
    bootParams.u32(at + 16, entry.type);
  });

  const chunks: MemoryChunk[] = [
    { address: loadAddress, bytes: kernel, label: 'protected-mode kernel' },
    { address: BOOT_PARAMS_ADDRESS, bytes: bootParams.bytes, label: 'boot_params' },
    { address: COMMAND_LINE_ADDRESS, bytes: cStringBytes(commandLine), label: 'command line' },
  ];

  let initrdText = '';
  if (options.initrd) {
    const initrdMax = version >= 0x203 ? image.u32(INITRD_ADDR_MAX, 'initrd_addr_max') : DEFAULT_INITRD_ADDR_MAX;
    const size = options.initrd.bytes.length;
    const kernelEnd = loadAddress + initSize;
    const address = highestPageBelow(machine, size, kernelEnd, initrdMax + 1);
    if (address === undefined) {
      throw new LoaderError(
        'outside-ram',
        `initrd ${options.initrd.name} (${size} bytes) does not fit in RAM between the kernel end ${hex32(kernelEnd)} ` +
          `and initrd_addr_max ${hex32(initrdMax)}`,
      );
    }
    bootParams.u32(RAMDISK_IMAGE, address);
    bootParams.u32(RAMDISK_SIZE, size);
    chunks.push({ address, bytes: options.initrd.bytes, label: `initrd ${options.initrd.name}` });
    initrdText = `, initrd ${size} bytes at ${hex32(address)}`;
  }
  validateChunks(chunks, machine);

  return {
    format: 'bzimage',
    chunks,
    entry: flat32Entry(loadAddress, { esi: BOOT_PARAMS_ADDRESS }, { code: BOOT_CS, data: BOOT_DS }),
    symbols: [],
    description:
      `Linux bzImage, boot protocol ${protocolText(version)}, kernel ${kernel.length} bytes at ${hex32(loadAddress)}` +
      `${initrdText}, command line "${commandLine}"`,
  };
}
