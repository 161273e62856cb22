import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PhysicalAddressSpace } from '../../adapter/core/bus/physical';
import { buildAcpiHpetTable } from '../../adapter/core/devices/hpet/acpi';
import { hpetPreset } from '../../adapter/core/devices/hpet/config';
import type { AcpiOptions } from '../../adapter/core/machine/acpi';
import { buildAcpiTables, buildSystemTable, installAcpiTables } from '../../adapter/core/machine/acpi';
import { E820Type, buildE820Map } from '../../adapter/core/machine/e820';

/** Reads tables back out of guest memory the way an OS does: scan for the RSDP, then follow pointers. */
class GuestAcpiReader {
  constructor(private readonly space: PhysicalAddressSpace) {}

  bytes(address: number, length: number): Uint8Array {
    return this.space.debugRead(address, length);
  }
  u8(address: number): number {
    return this.bytes(address, 1)[0];
  }
  u16(address: number): number {
    return new DataView(this.bytes(address, 2).buffer).getUint16(0, true);
  }
  u32(address: number): number {
    return new DataView(this.bytes(address, 4).buffer).getUint32(0, true);
  }
  u64(address: number): bigint {
    return new DataView(this.bytes(address, 8).buffer).getBigUint64(0, true);
  }
  text(address: number, length: number): string {
    return String.fromCharCode(...this.bytes(address, length));
  }
  sum(address: number, length: number): number {
    return this.bytes(address, length).reduce((a, b) => (a + b) & 0xff, 0);
  }

  findRsdp(): number | undefined {
    for (let a = 0xe0000; a < 0x100000; a += 16) {
      if (this.text(a, 8) === 'RSD PTR ' && this.sum(a, 20) === 0) return a;
    }
    return undefined;
  }

  /** Checks the header of the table at `address` and returns its signature and length. */
  table(address: number): { signature: string; length: number; revision: number } {
    const signature = this.text(address, 4);
    const length = this.u32(address + 4);
    assert.ok(length >= 36, `${signature} length ${length}`);
    assert.equal(this.sum(address, length), 0, `${signature} checksum`);
    return { signature, length, revision: this.u8(address + 8) };
  }

  rsdtEntries(): Map<string, number> {
    const rsdp = this.findRsdp();
    assert.ok(rsdp !== undefined, 'RSDP found by scanning 0xE0000-0xFFFFF');
    assert.equal(this.u8(rsdp + 15), 0, 'ACPI 1.0 RSDP');
    const rsdt = this.u32(rsdp + 16);
    const header = this.table(rsdt);
    assert.equal(header.signature, 'RSDT');
    const found = new Map<string, number>();
    for (let at = rsdt + 36; at < rsdt + header.length; at += 4) {
      const address = this.u32(at);
      found.set(this.table(address).signature, address);
    }
    return found;
  }
}

function install(options: AcpiOptions = {}, ramSize = 0x200000) {
  const space = new PhysicalAddressSpace(ramSize);
  const tables = buildAcpiTables(options);
  installAcpiTables(space, tables);
  return { space, tables, reader: new GuestAcpiReader(space) };
}

void describe('ACPI tables', () => {
  void it('parse back from guest memory: RSDP, RSDT, FADT, FACS, DSDT, MADT and a device table', () => {
    const hpet = buildAcpiHpetTable(hpetPreset('qemu'));
    const { reader } = install({ extraTables: [hpet] });
    const entries = reader.rsdtEntries();
    assert.deepEqual([...entries.keys()], ['FACP', 'APIC', 'HPET']);

    const fadt = entries.get('FACP')!;
    assert.deepEqual(reader.table(fadt), { signature: 'FACP', length: 244, revision: 3 });
    const facs = reader.u32(fadt + 36);
    assert.equal(facs % 64, 0, 'FACS is 64-byte aligned');
    assert.equal(reader.text(facs, 4), 'FACS');
    assert.equal(reader.u32(facs + 4), 64);
    const dsdt = reader.u32(fadt + 40);
    assert.deepEqual(reader.table(dsdt), { signature: 'DSDT', length: 36, revision: 2 });
    assert.equal(reader.u64(fadt + 140), BigInt(dsdt), 'X_DSDT mirrors DSDT');
    assert.equal(reader.u16(fadt + 46), 9, 'SCI interrupt');
    assert.equal(reader.u32(fadt + 76), 0, 'no PM timer block unless asked for');
    assert.equal(reader.u8(fadt + 108), 0x32, 'RTC century index');
    const flags = reader.u32(fadt + 112);
    assert.equal(flags & 0b101, 0b101, 'WBINVD and PROC_C1');
    assert.equal(flags & (1 << 8), 0, 'no 32-bit PM timer claimed');

    assert.equal(reader.text(entries.get('HPET')!, 56), String.fromCharCode(...hpet));
  });

  void it('MADT: local APIC, I/O APIC, IRQ0 and IRQ9 overrides, LINT1 NMI', () => {
    const { reader } = install();
    const madt = reader.rsdtEntries().get('APIC')!;
    const { length } = reader.table(madt);
    assert.equal(reader.u32(madt + 36), 0xfee00000);
    assert.equal(reader.u32(madt + 40), 1, 'PCAT_COMPAT');
    const structures: string[] = [];
    let at = madt + 44;
    while (at < madt + length) {
      const type = reader.u8(at);
      const size = reader.u8(at + 1);
      assert.ok(size >= 2);
      switch (type) {
        case 0:
          structures.push(`lapic uid=${reader.u8(at + 2)} id=${reader.u8(at + 3)} flags=${reader.u32(at + 4)}`);
          break;
        case 1:
          structures.push(
            `ioapic id=${reader.u8(at + 2)} addr=0x${reader.u32(at + 4).toString(16)} gsi=${reader.u32(at + 8)}`,
          );
          break;
        case 2:
          structures.push(
            `override bus=${reader.u8(at + 2)} irq=${reader.u8(at + 3)} gsi=${reader.u32(at + 4)} flags=0x${reader.u16(at + 8).toString(16)}`,
          );
          break;
        case 4:
          structures.push(
            `nmi uid=0x${reader.u8(at + 2).toString(16)} flags=${reader.u16(at + 3)} lint=${reader.u8(at + 5)}`,
          );
          break;
        default:
          structures.push(`type ${type}`);
      }
      at += size;
    }
    assert.equal(at, madt + length, 'structures fill the table exactly');
    assert.deepEqual(structures, [
      'lapic uid=0 id=0 flags=1',
      'ioapic id=0 addr=0xfec00000 gsi=0',
      'override bus=0 irq=0 gsi=2 flags=0x0',
      'override bus=0 irq=9 gsi=9 flags=0xd',
      'nmi uid=0xff flags=0 lint=1',
    ]);
  });

  void it('describes PM register blocks in both the 32-bit and the generic-address fields', () => {
    const { reader } = install({
      pm1aEventBlock: 0x600,
      pm1aControlBlock: 0x604,
      pmTimerBlock: 0x608,
      pmTimer32Bit: true,
      resetRegister: { port: 0xcf9, value: 0x06 },
      dsdtAml: Uint8Array.from([0x08, 0x5f, 0x53, 0x35, 0x5f, 0x12, 0x04, 0x02, 0x00, 0x00]),
    });
    const fadt = reader.rsdtEntries().get('FACP')!;
    assert.equal(reader.u32(fadt + 56), 0x600);
    assert.equal(reader.u32(fadt + 64), 0x604);
    assert.equal(reader.u32(fadt + 76), 0x608);
    assert.deepEqual([reader.u8(fadt + 88), reader.u8(fadt + 89), reader.u8(fadt + 91)], [4, 2, 4]);
    assert.equal(reader.u32(fadt + 112) & ((1 << 8) | (1 << 10)), (1 << 8) | (1 << 10));
    assert.deepEqual(
      [reader.u8(fadt + 116), reader.u8(fadt + 117), reader.u64(fadt + 120), reader.u8(fadt + 128)],
      [1, 8, 0xcf9n, 6],
    );
    assert.deepEqual(
      [reader.u8(fadt + 208), reader.u8(fadt + 209), reader.u64(fadt + 212)],
      [1, 32, 0x608n],
      'X_PM_TMR_BLK',
    );
    assert.equal(reader.u64(fadt + 148 + 4), 0x600n, 'X_PM1a_EVT_BLK');
    const dsdt = reader.u32(fadt + 40);
    assert.equal(reader.table(dsdt).length, 46);
    assert.equal(reader.text(dsdt + 37, 4), '_S5_');
  });

  void it('places every blob without overlap inside the reported region', () => {
    const { tables } = install({ extraTables: [buildSystemTable('SSDT', 2, new Uint8Array(100))] });
    const sorted = [...tables.blobs].sort((a, b) => a.address - b.address);
    for (let i = 1; i < sorted.length; i++) {
      assert.ok(sorted[i - 1].address + sorted[i - 1].bytes.length <= sorted[i].address, sorted[i].signature);
    }
    const { base, length } = tables.tablesRegion;
    for (const blob of tables.blobs.slice(1)) {
      assert.ok(blob.address >= base && blob.address + blob.bytes.length <= base + length, blob.signature);
      assert.equal(blob.address % 16, 0, blob.signature);
    }
    assert.equal(tables.rsdpAddress, 0xf0000);
  });

  void it('tables placed above 1 MiB are reported as ACPI memory in the E820 map', () => {
    const ramSize = 0x400000;
    const { reader, tables } = install({ tablesAddress: 0x3f0000, tablesLimit: ramSize }, ramSize);
    assert.ok(reader.rsdtEntries().has('APIC'));
    const map = buildE820Map(ramSize, { acpiTables: tables.tablesRegion });
    const acpi = map.filter((e) => e.type === E820Type.AcpiReclaimable);
    assert.deepEqual(acpi, [{ base: 0x3f0000, length: tables.tablesRegion.length, type: E820Type.AcpiReclaimable }]);
  });

  void it('refuses bad placements and malformed supplied tables', () => {
    assert.throws(() => buildAcpiTables({ rsdpAddress: 0xf0008 }), /16-byte aligned/);
    assert.throws(() => buildAcpiTables({ rsdpAddress: 0xd0000 }), /0xE0000-0xFFFFF/);
    assert.throws(() => buildAcpiTables({ rsdpAddress: 0xffff0 }), /inside 0xE0000-0xFFFFF/);
    assert.throws(() => buildAcpiTables({ tablesLimit: 0xf0100 }), /do not fit/);
    const corrupt = buildSystemTable('SSDT', 2, new Uint8Array(4));
    corrupt[39] = 1;
    assert.throws(() => buildAcpiTables({ extraTables: [corrupt] }), /checksum/);
    assert.throws(() => buildAcpiTables({ extraTables: [corrupt.subarray(0, 38)] }), /declares 40 bytes/);
    assert.throws(() => buildSystemTable('TOOLONG', 1, new Uint8Array(0)), /signature/);
  });
});
