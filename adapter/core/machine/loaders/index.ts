import { loadFlatBinary } from './bin';
import type { FlatBinaryOptions } from './bin';
import { hasBzImageMagic, loadBzImage } from './bzimage';
import { hasElfMagic, loadElf } from './elf';
import { findMultibootHeader, loadMultiboot } from './multiboot';
import type { ImageFormat, LoadPlan, MachineDescription, ModuleInput } from './types';
import { LoaderError } from './types';

export * from './types';
export { defaultE820Map } from './memory';
export { MULTIBOOT_BOOTLOADER_MAGIC, findMultibootHeader } from './multiboot';
export { BOOT_PARAMS_ADDRESS, COMMAND_LINE_ADDRESS } from './bzimage';
export { DEFAULT_BIN_LOAD_ADDRESS } from './bin';
export { parseElf32 } from './elf';

export interface LoadImageOptions extends FlatBinaryOptions {
  readonly format?: ImageFormat | 'auto';
  readonly commandLine?: string;
  /** Multiboot modules; for a bzImage the first module is the initrd. */
  readonly modules?: readonly ModuleInput[];
  readonly bootDevice?: number;
}

/** Multiboot header first (a multiboot kernel is often also an ELF), then the bzImage magic, then ELF. */
export function detectFormat(bytes: Uint8Array): ImageFormat {
  if (findMultibootHeader(bytes)) return 'multiboot';
  if (hasBzImageMagic(bytes)) return 'bzimage';
  if (hasElfMagic(bytes)) return 'elf';
  throw new LoaderError(
    'unknown-format',
    'unknown image format: no multiboot header, no Linux "HdrS" header and no ELF magic; ' +
      'for a raw binary pass --format bin (with --load-address and --entry if not 0x100000)',
  );
}

export function loadImage(bytes: Uint8Array, machine: MachineDescription, options: LoadImageOptions = {}): LoadPlan {
  const format = !options.format || options.format === 'auto' ? detectFormat(bytes) : options.format;
  const modules = options.modules ?? [];
  if (format !== 'multiboot' && format !== 'bzimage' && modules.length > 0) {
    throw new LoaderError('bad-argument', `modules need a multiboot or bzImage kernel, not a ${format} image`);
  }
  switch (format) {
    case 'multiboot':
      return loadMultiboot(bytes, machine, {
        modules,
        ...(options.commandLine !== undefined ? { commandLine: options.commandLine } : {}),
        ...(options.bootDevice !== undefined ? { bootDevice: options.bootDevice } : {}),
      });
    case 'bzimage': {
      if (modules.length > 1) {
        throw new LoaderError('bad-argument', `a bzImage takes one initrd, not ${modules.length} modules`);
      }
      return loadBzImage(bytes, machine, {
        ...(options.commandLine !== undefined ? { commandLine: options.commandLine } : {}),
        ...(modules[0] ? { initrd: modules[0] } : {}),
      });
    }
    case 'elf':
      return loadElf(bytes, machine);
    case 'bin':
      return loadFlatBinary(bytes, machine, options);
  }
}
