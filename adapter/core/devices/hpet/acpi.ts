/**
 * The ACPI "HPET" description table (IA-PC HPET 1.0a section 3.2.4; layout as in ACPICA's acpi_table_hpet):
 * a 36-byte standard header, then the Event Timer Block ID, the base address as a Generic Address Structure,
 * the HPET number, the minimum periodic tick and the page protection byte. 56 bytes in all.
 */
import type { HpetConfig } from './config';
import { HPET_BASE, capabilitiesValue } from './registers';

export const ACPI_HPET_TABLE_LENGTH = 56;

export type HpetPageProtection = 'none' | '4k' | '64k';

export interface AcpiHpetTableOptions {
  readonly base?: number;
  /** Sequence number of this timer block (0-7). */
  readonly hpetNumber?: number;
  /** Smallest periodic interval, in counter ticks, the OS should program without losing interrupts. */
  readonly minimumTick?: number;
  /** Whether nothing else shares the block's 4 KiB or 64 KiB page. */
  readonly pageProtection?: HpetPageProtection;
  /** Bits 7:4 of the page protection byte. */
  readonly oemAttribute?: number;
  readonly oemId?: string;
  readonly oemTableId?: string;
  readonly oemRevision?: number;
  readonly creatorId?: string;
  readonly creatorRevision?: number;
}

/** Values used unless the caller gives others. 0x80 ticks is coreboot's minimum tick for Intel southbridges. */
export const ACPI_HPET_DEFAULTS = {
  base: HPET_BASE,
  hpetNumber: 0,
  minimumTick: 0x80,
  pageProtection: 'none',
  oemAttribute: 0,
  oemId: 'MMIODB',
  oemTableId: 'MMIODBG ',
  oemRevision: 1,
  creatorId: 'MMDB',
  creatorRevision: 1,
} as const satisfies Required<AcpiHpetTableOptions>;

const PAGE_PROTECTION_CODES: Record<HpetPageProtection, number> = { none: 0, '4k': 1, '64k': 2 };

/** ACPI Generic Address Structure address space ID for system memory. */
const GAS_SYSTEM_MEMORY = 0;

function putAscii(bytes: Uint8Array, offset: number, length: number, text: string, what: string): void {
  if (text.length > length || !/^[\x20-\x7e]*$/.test(text)) {
    throw new RangeError(
      `ACPI HPET table: ${what} must be at most ${length} printable ASCII characters, got '${text}'`,
    );
  }
  for (let i = 0; i < length; i++) bytes[offset + i] = i < text.length ? text.charCodeAt(i) : 0x20;
}

function requireRange(what: string, value: number, max: number): number {
  if (!Number.isInteger(value) || value < 0 || value > max) {
    throw new RangeError(`ACPI HPET table: ${what} must be an integer from 0 to ${max}, got ${value}`);
  }
  return value;
}

/** Sum of all bytes modulo 256; a valid ACPI table sums to 0. */
export function acpiChecksum(bytes: Uint8Array): number {
  let sum = 0;
  for (const b of bytes) sum = (sum + b) & 0xff;
  return sum;
}

/** The table's bytes; the Event Timer Block ID is GCAP_ID bits 31:0 of the configuration. */
export function buildAcpiHpetTable(config: HpetConfig, options: AcpiHpetTableOptions = {}): Uint8Array {
  const o = { ...ACPI_HPET_DEFAULTS, ...options };
  const bytes = new Uint8Array(ACPI_HPET_TABLE_LENGTH);
  const view = new DataView(bytes.buffer);
  putAscii(bytes, 0, 4, 'HPET', 'signature');
  view.setUint32(4, ACPI_HPET_TABLE_LENGTH, true);
  bytes[8] = 1;
  putAscii(bytes, 10, 6, o.oemId, 'OEM ID');
  putAscii(bytes, 16, 8, o.oemTableId, 'OEM table ID');
  view.setUint32(24, requireRange('OEM revision', o.oemRevision, 0xffffffff), true);
  putAscii(bytes, 28, 4, o.creatorId, 'creator ID');
  view.setUint32(32, requireRange('creator revision', o.creatorRevision, 0xffffffff), true);

  view.setUint32(36, Number(capabilitiesValue(config) & 0xffffffffn), true);
  bytes[40] = GAS_SYSTEM_MEMORY;
  bytes[41] = 64;
  bytes[42] = 0;
  bytes[43] = 0;
  view.setBigUint64(44, BigInt(requireRange('base address', o.base, Number.MAX_SAFE_INTEGER)), true);
  bytes[52] = requireRange('HPET number', o.hpetNumber, 7);
  view.setUint16(53, requireRange('minimum tick', o.minimumTick, 0xffff), true);
  const protection = PAGE_PROTECTION_CODES[o.pageProtection] as number | undefined;
  if (protection === undefined) throw new RangeError(`ACPI HPET table: page protection must be none, 4k or 64k`);
  bytes[55] = protection | (requireRange('OEM attribute', o.oemAttribute, 0xf) << 4);

  bytes[9] = (0x100 - acpiChecksum(bytes)) & 0xff;
  return bytes;
}
