import { flat32Entry } from './entry';
import { validateChunks } from './memory';
import type { LoadPlan, MachineDescription } from './types';
import { LoaderError, hex32 } from './types';

/** Flat binaries load at 1 MiB, where multiboot and Linux kernels also go, clear of the real-mode areas. */
export const DEFAULT_BIN_LOAD_ADDRESS = 0x100000;

export interface FlatBinaryOptions {
  /** Physical load address; default 0x100000. */
  readonly loadAddress?: number;
  /** Physical entry address; default the load address. */
  readonly entryAddress?: number;
}

/** A raw image copied as is; the guest starts in flat 32-bit mode with all general registers zero (no stack). */
export function loadFlatBinary(
  bytes: Uint8Array,
  machine: MachineDescription,
  options: FlatBinaryOptions = {},
): LoadPlan {
  if (bytes.length === 0) throw new LoaderError('malformed', 'the flat binary is empty');
  const address = options.loadAddress ?? DEFAULT_BIN_LOAD_ADDRESS;
  const entry = options.entryAddress ?? address;
  const chunks = [{ address, bytes, label: 'flat binary' }];
  validateChunks(chunks, machine);
  if (entry < address || entry >= address + bytes.length) {
    throw new LoaderError(
      'bad-entry',
      `entry address ${hex32(entry)} is outside the loaded binary ${hex32(address)}-${hex32(address + bytes.length)}`,
    );
  }
  return {
    format: 'bin',
    chunks,
    entry: flat32Entry(entry, {}),
    symbols: [],
    description: `flat binary, ${bytes.length} bytes at ${hex32(address)}, entry ${hex32(entry)}`,
  };
}
