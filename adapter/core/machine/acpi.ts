/**
 * ACPI tables for the PC machine, built as bytes for the loader to copy into guest memory.
 *
 * Choice of revisions: an ACPI 1.0 RSDP (revision 0, 20 bytes) pointing at an RSDT with 32-bit table pointers,
 * the layout QEMU's i440fx machine uses; every OS that knows ACPI accepts it (Linux, the BSDs, Windows XP and
 * later). The FADT is the ACPI 2.0 layout (revision 3, 244 bytes) with the 64-bit X_ fields mirroring the 32-bit
 * ones, so ACPICA finds no mismatch. The MADT is revision 1.
 *
 * Default placement: the RSDP at 0xF0000 and the other tables after it, all inside the BIOS area
 * 0xF0000-0xFFFFF that the E820 map reports reserved; an OS finds the RSDP by its scan of 0xE0000-0xFFFFF
 * (ACPI spec "Finding the RSDP on IA-PC Systems").
 */

import type { PhysicalAddressSpace } from '../bus/physical';

export const ACPI_DEFAULT_RSDP_ADDRESS = 0xf0000;
export const ACPI_DEFAULT_TABLES_LIMIT = 0x100000;
export const ACPI_HEADER_LENGTH = 36;
export const ACPI_RSDP_LENGTH = 20;
export const ACPI_FADT_LENGTH = 244;
export const ACPI_FACS_LENGTH = 64;

export interface AcpiIoApic {
  readonly id: number;
  readonly address: number;
  readonly gsiBase: number;
}

/** An MADT Interrupt Source Override (ACPI spec "Interrupt Source Override Structure"). */
export interface AcpiInterruptOverride {
  readonly isaIrq: number;
  readonly gsi: number;
  readonly polarity: 'conforming' | 'active-high' | 'active-low';
  readonly trigger: 'conforming' | 'edge' | 'level';
}

export interface AcpiOptions {
  /** 16-byte aligned, inside 0xE0000-0xFFFFF. */
  readonly rsdpAddress?: number;
  /** Where the other tables start (default: right after the RSDP) and the first address they may not use. */
  readonly tablesAddress?: number;
  readonly tablesLimit?: number;
  readonly localApicAddress?: number;
  readonly localApicId?: number;
  readonly ioApic?: AcpiIoApic;
  readonly interruptOverrides?: readonly AcpiInterruptOverride[];
  /** LINT input of the local APIC wired to NMI. */
  readonly nmiLint?: 0 | 1;
  readonly sciInterrupt?: number;
  /** I/O ports of the ACPI PM register blocks; 0 means absent. */
  readonly pm1aEventBlock?: number;
  readonly pm1aControlBlock?: number;
  readonly pmTimerBlock?: number;
  readonly pmTimer32Bit?: boolean;
  readonly gpe0Block?: number;
  readonly gpe0BlockLength?: number;
  /** SMI command port and the values that switch ACPI mode on and off; 0 = the machine is always in ACPI mode. */
  readonly smiCommandPort?: number;
  readonly acpiEnableValue?: number;
  readonly acpiDisableValue?: number;
  /** CMOS index of the RTC century byte; 0 = none. */
  readonly rtcCenturyIndex?: number;
  readonly has8042?: boolean;
  readonly vgaPresent?: boolean;
  /** An I/O-port reset register (FADT RESET_REG), e.g. { port: 0xcf9, value: 0x06 }. */
  readonly resetRegister?: { readonly port: number; readonly value: number };
  /** AML byte code that follows the DSDT header; empty gives an empty definition block. */
  readonly dsdtAml?: Uint8Array;
  /** Complete tables from other devices (e.g. the HPET model's "HPET" table), listed in the RSDT. */
  readonly extraTables?: readonly Uint8Array[];
  readonly oemId?: string;
  readonly oemTableId?: string;
  readonly oemRevision?: number;
  readonly creatorId?: string;
  readonly creatorRevision?: number;
}

export interface AcpiBlob {
  readonly signature: string;
  readonly address: number;
  readonly bytes: Uint8Array;
}

export interface AcpiTables {
  readonly rsdpAddress: number;
  /** The RSDP first, then every table. */
  readonly blobs: readonly AcpiBlob[];
  /** The range the tables (without the RSDP) occupy, for the E820 map when they are placed above 1 MiB. */
  readonly tablesRegion: { readonly base: number; readonly length: number };
}

/** What QEMU's PC machines describe: the PIT's IRQ0 on pin 2, and the SCI on IRQ 9 level, active-high. */
export const PC_INTERRUPT_OVERRIDES: readonly AcpiInterruptOverride[] = [
  { isaIrq: 0, gsi: 2, polarity: 'conforming', trigger: 'conforming' },
  { isaIrq: 9, gsi: 9, polarity: 'active-high', trigger: 'level' },
];

const DEFAULTS = {
  localApicAddress: 0xfee00000,
  localApicId: 0,
  ioApic: { id: 0, address: 0xfec00000, gsiBase: 0 },
  interruptOverrides: PC_INTERRUPT_OVERRIDES,
  nmiLint: 1,
  sciInterrupt: 9,
  pm1aEventBlock: 0,
  pm1aControlBlock: 0,
  pmTimerBlock: 0,
  pmTimer32Bit: false,
  gpe0Block: 0,
  gpe0BlockLength: 0,
  smiCommandPort: 0,
  acpiEnableValue: 0,
  acpiDisableValue: 0,
  rtcCenturyIndex: 0x32,
  has8042: false,
  vgaPresent: false,
  oemId: 'MMIODB',
  oemTableId: 'MMIODBG ',
  oemRevision: 1,
  creatorId: 'MMDB',
  creatorRevision: 1,
} as const;

export function acpiByteSum(bytes: Uint8Array): number {
  let sum = 0;
  for (const b of bytes) sum = (sum + b) & 0xff;
  return sum;
}

function putAscii(bytes: Uint8Array, offset: number, length: number, text: string, what: string): void {
  if (text.length > length || !/^[\x20-\x7e]*$/.test(text)) {
    throw new RangeError(`ACPI: ${what} must be at most ${length} printable ASCII characters, got '${text}'`);
  }
  for (let i = 0; i < length; i++) bytes[offset + i] = i < text.length ? text.charCodeAt(i) : 0x20;
}

function fixChecksum(bytes: Uint8Array, checksumOffset: number, length = bytes.length): void {
  bytes[checksumOffset] = 0;
  bytes[checksumOffset] = (0x100 - acpiByteSum(bytes.subarray(0, length))) & 0xff;
}

export interface AcpiHeaderIds {
  readonly oemId?: string;
  readonly oemTableId?: string;
  readonly oemRevision?: number;
  readonly creatorId?: string;
  readonly creatorRevision?: number;
}

/** A system description table: the 36-byte header (ACPI spec "System Description Table Header"), then `body`. */
export function buildSystemTable(signature: string, revision: number, body: Uint8Array, ids: AcpiHeaderIds = {}) {
  const bytes = new Uint8Array(ACPI_HEADER_LENGTH + body.length);
  const view = new DataView(bytes.buffer);
  putAscii(bytes, 0, 4, signature, 'signature');
  if (signature.length !== 4) throw new RangeError(`ACPI: signature must have 4 characters, got '${signature}'`);
  view.setUint32(4, bytes.length, true);
  bytes[8] = revision;
  putAscii(bytes, 10, 6, ids.oemId ?? DEFAULTS.oemId, 'OEM ID');
  putAscii(bytes, 16, 8, ids.oemTableId ?? DEFAULTS.oemTableId, 'OEM table ID');
  view.setUint32(24, ids.oemRevision ?? DEFAULTS.oemRevision, true);
  putAscii(bytes, 28, 4, ids.creatorId ?? DEFAULTS.creatorId, 'creator ID');
  view.setUint32(32, ids.creatorRevision ?? DEFAULTS.creatorRevision, true);
  bytes.set(body, ACPI_HEADER_LENGTH);
  fixChecksum(bytes, 9);
  return bytes;
}

/** Little-endian byte writer for table bodies. */
class Writer {
  private readonly parts: number[] = [];
  u8(v: number): this {
    this.parts.push(v & 0xff);
    return this;
  }
  u16(v: number): this {
    return this.u8(v).u8(v >>> 8);
  }
  u32(v: number): this {
    return this.u16(v & 0xffff).u16(v >>> 16);
  }
  u64(v: number): this {
    return this.u32(v >>> 0).u32(Math.floor(v / 0x100000000));
  }
  /** Generic Address Structure (ACPI spec "Generic Address Structure"); all zero when absent. */
  ioGas(port: number, bits: number, accessSize: number): this {
    if (port === 0) return this.u32(0).u64(0);
    return this.u8(1).u8(bits).u8(0).u8(accessSize).u64(port);
  }
  get length(): number {
    return this.parts.length;
  }
  bytes(): Uint8Array {
    return Uint8Array.from(this.parts);
  }
}

const POLARITY_CODES = { conforming: 0, 'active-high': 1, 'active-low': 3 } as const;
const TRIGGER_CODES = { conforming: 0, edge: 1, level: 3 } as const;

/** FADT flags (ACPI spec "Fixed ACPI Description Table Fixed Feature Flags"). */
const FadtFlag = {
  WBINVD: 1 << 0,
  PROC_C1: 1 << 2,
  PWR_BUTTON: 1 << 4,
  SLP_BUTTON: 1 << 5,
  TMR_VAL_EXT: 1 << 8,
  RESET_REG_SUP: 1 << 10,
};
/** IA-PC boot architecture flags. */
const BootArch = { LEGACY_DEVICES: 1 << 0, I8042: 1 << 1, VGA_NOT_PRESENT: 1 << 2 };

type Resolved = Required<
  Omit<AcpiOptions, 'rsdpAddress' | 'tablesAddress' | 'tablesLimit' | 'resetRegister' | 'dsdtAml' | 'extraTables'>
> &
  Pick<AcpiOptions, 'resetRegister'>;

function buildMadt(o: Resolved): Uint8Array {
  const w = new Writer().u32(o.localApicAddress).u32(1); // flags: PCAT_COMPAT, dual 8259s present
  w.u8(0).u8(8).u8(0).u8(o.localApicId).u32(1); // Processor Local APIC, UID 0, enabled
  w.u8(1).u8(12).u8(o.ioApic.id).u8(0).u32(o.ioApic.address).u32(o.ioApic.gsiBase);
  for (const override of o.interruptOverrides) {
    const flags = POLARITY_CODES[override.polarity] | (TRIGGER_CODES[override.trigger] << 2);
    w.u8(2).u8(10).u8(0).u8(override.isaIrq).u32(override.gsi).u16(flags);
  }
  w.u8(4).u8(6).u8(0xff).u16(0).u8(o.nmiLint); // Local APIC NMI for all processors, conforming flags
  return buildSystemTable('APIC', 1, w.bytes(), o);
}

function buildFadt(o: Resolved, facsAddress: number, dsdtAddress: number): Uint8Array {
  let flags = FadtFlag.WBINVD | FadtFlag.PROC_C1 | FadtFlag.PWR_BUTTON | FadtFlag.SLP_BUTTON;
  if (o.pmTimer32Bit) flags |= FadtFlag.TMR_VAL_EXT;
  if (o.resetRegister) flags |= FadtFlag.RESET_REG_SUP;
  let bootArch = BootArch.LEGACY_DEVICES;
  if (o.has8042) bootArch |= BootArch.I8042;
  if (!o.vgaPresent) bootArch |= BootArch.VGA_NOT_PRESENT;
  const pm1EventLength = o.pm1aEventBlock ? 4 : 0;
  const pm1ControlLength = o.pm1aControlBlock ? 2 : 0;
  const pmTimerLength = o.pmTimerBlock ? 4 : 0;
  const gpe0Length = o.gpe0Block ? o.gpe0BlockLength : 0;
  const w = new Writer()
    .u32(facsAddress)
    .u32(dsdtAddress)
    .u8(0) // reserved (INT_MODEL in ACPI 1.0)
    .u8(0) // preferred PM profile: unspecified
    .u16(o.sciInterrupt)
    .u32(o.smiCommandPort)
    .u8(o.acpiEnableValue)
    .u8(o.acpiDisableValue)
    .u8(0) // S4BIOS_REQ
    .u8(0) // PSTATE_CNT
    .u32(o.pm1aEventBlock)
    .u32(0)
    .u32(o.pm1aControlBlock)
    .u32(0)
    .u32(0) // PM2_CNT_BLK
    .u32(o.pmTimerBlock)
    .u32(o.gpe0Block)
    .u32(0) // GPE1_BLK
    .u8(pm1EventLength)
    .u8(pm1ControlLength)
    .u8(0)
    .u8(pmTimerLength)
    .u8(gpe0Length)
    .u8(0)
    .u8(0) // GPE1_BASE
    .u8(0) // CST_CNT
    .u16(101) // P_LVL2_LAT > 100: C2 not supported
    .u16(1001) // P_LVL3_LAT > 1000: C3 not supported
    .u16(0)
    .u16(0)
    .u8(0)
    .u8(0)
    .u8(0) // DAY_ALRM
    .u8(0) // MON_ALRM
    .u8(o.rtcCenturyIndex)
    .u16(bootArch)
    .u8(0)
    .u32(flags);
  if (o.resetRegister) w.ioGas(o.resetRegister.port, 8, 1).u8(o.resetRegister.value);
  else w.ioGas(0, 0, 0).u8(0);
  w.u8(0).u16(0); // reserved
  w.u64(0); // X_FIRMWARE_CTRL: the 32-bit FIRMWARE_CTRL is used
  w.u64(dsdtAddress);
  w.ioGas(o.pm1aEventBlock, pm1EventLength * 8, 2);
  w.ioGas(0, 0, 0);
  w.ioGas(o.pm1aControlBlock, pm1ControlLength * 8, 2);
  w.ioGas(0, 0, 0);
  w.ioGas(0, 0, 0);
  w.ioGas(o.pmTimerBlock, pmTimerLength * 8, 3);
  w.ioGas(o.gpe0Block, gpe0Length * 8, 1);
  w.ioGas(0, 0, 0);
  const table = buildSystemTable('FACP', 3, w.bytes(), o);
  if (table.length !== ACPI_FADT_LENGTH) throw new Error(`FADT layout error: ${table.length} bytes`);
  return table;
}

/** Firmware ACPI Control Structure: no header checksum, 64-byte aligned (ACPI spec "FACS"). */
function buildFacs(): Uint8Array {
  const bytes = new Uint8Array(ACPI_FACS_LENGTH);
  putAscii(bytes, 0, 4, 'FACS', 'signature');
  new DataView(bytes.buffer).setUint32(4, ACPI_FACS_LENGTH, true);
  bytes[32] = 1; // version
  return bytes;
}

function checkSuppliedTable(table: Uint8Array): string {
  if (table.length < ACPI_HEADER_LENGTH)
    throw new RangeError(`ACPI: extra table of ${table.length} bytes is too short`);
  const signature = String.fromCharCode(...table.subarray(0, 4));
  const declared = new DataView(table.buffer, table.byteOffset, table.byteLength).getUint32(4, true);
  if (declared !== table.length) {
    throw new RangeError(`ACPI: table ${signature} declares ${declared} bytes but has ${table.length}`);
  }
  if (acpiByteSum(table) !== 0) throw new RangeError(`ACPI: table ${signature} has a bad checksum`);
  return signature;
}

const alignUp = (value: number, alignment: number) => Math.ceil(value / alignment) * alignment;

export function buildAcpiTables(options: AcpiOptions = {}): AcpiTables {
  const o: Resolved = { ...DEFAULTS, ...options };
  const rsdpAddress = options.rsdpAddress ?? ACPI_DEFAULT_RSDP_ADDRESS;
  if (rsdpAddress % 16 !== 0 || rsdpAddress < 0xe0000 || rsdpAddress + ACPI_RSDP_LENGTH > 0x100000) {
    throw new RangeError(
      `ACPI: the RSDP must be 16-byte aligned inside 0xE0000-0xFFFFF, got 0x${rsdpAddress.toString(16)}`,
    );
  }
  const start = alignUp(options.tablesAddress ?? rsdpAddress + ACPI_RSDP_LENGTH, 64);
  const limit = options.tablesLimit ?? (start < ACPI_DEFAULT_TABLES_LIMIT ? ACPI_DEFAULT_TABLES_LIMIT : 0x100000000);
  const extraSignatures = (options.extraTables ?? []).map(checkSuppliedTable);

  const blobs: AcpiBlob[] = [];
  let cursor = start;
  const place = (signature: string, bytes: Uint8Array, alignment = 16): number => {
    const address = alignUp(cursor, alignment);
    if (address + bytes.length > limit) {
      throw new RangeError(`ACPI: tables do not fit below 0x${limit.toString(16)} (at ${signature})`);
    }
    const overlapsRsdp = address < rsdpAddress + ACPI_RSDP_LENGTH && rsdpAddress < address + bytes.length;
    if (overlapsRsdp) throw new RangeError(`ACPI: table ${signature} would overlap the RSDP`);
    blobs.push({ signature, address, bytes });
    cursor = address + bytes.length;
    return address;
  };

  const facsAddress = place('FACS', buildFacs(), 64);
  const dsdtAddress = place('DSDT', buildSystemTable('DSDT', 2, options.dsdtAml ?? new Uint8Array(0), o));
  const listed = [place('FACP', buildFadt(o, facsAddress, dsdtAddress)), place('APIC', buildMadt(o))];
  (options.extraTables ?? []).forEach((table, i) => listed.push(place(extraSignatures[i], table)));
  const rsdtBody = new Writer();
  for (const address of listed) rsdtBody.u32(address);
  const rsdtAddress = place('RSDT', buildSystemTable('RSDT', 1, rsdtBody.bytes(), o));

  const rsdp = new Uint8Array(ACPI_RSDP_LENGTH);
  putAscii(rsdp, 0, 8, 'RSD PTR ', 'RSDP signature');
  putAscii(rsdp, 9, 6, o.oemId, 'OEM ID');
  rsdp[15] = 0; // revision 0: ACPI 1.0
  new DataView(rsdp.buffer).setUint32(16, rsdtAddress, true);
  fixChecksum(rsdp, 8);

  return {
    rsdpAddress,
    blobs: [{ signature: 'RSD PTR ', address: rsdpAddress, bytes: rsdp }, ...blobs],
    tablesRegion: { base: start, length: alignUp(cursor, 16) - start },
  };
}

/** Copies the tables into guest RAM through the debugger path (no device side effects). */
export function installAcpiTables(space: PhysicalAddressSpace, tables: AcpiTables): void {
  for (const blob of tables.blobs) {
    const written = space.debugWrite(blob.address, blob.bytes);
    if (written !== blob.bytes.length) {
      throw new RangeError(`ACPI: ${blob.signature} at 0x${blob.address.toString(16)} is not entirely in RAM`);
    }
  }
}
