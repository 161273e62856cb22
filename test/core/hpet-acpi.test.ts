import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ACPI_HPET_TABLE_LENGTH, acpiChecksum, buildAcpiHpetTable } from '../../adapter/core/devices/hpet/acpi';
import { hpetPreset, makeHpetConfig } from '../../adapter/core/devices/hpet/config';

function ascii(bytes: Uint8Array, offset: number, length: number): string {
  return String.fromCharCode(...bytes.subarray(offset, offset + length));
}

void describe('ACPI HPET description table', () => {
  void it('R51 the table is 56 bytes, revision 1, and its bytes sum to 0', () => {
    for (const config of [hpetPreset('ich'), hpetPreset('qemu'), makeHpetConfig({ timers: 8, vendorId: 0x1022 })]) {
      const table = buildAcpiHpetTable(config);
      assert.equal(table.length, ACPI_HPET_TABLE_LENGTH);
      const view = new DataView(table.buffer);
      assert.equal(ascii(table, 0, 4), 'HPET');
      assert.equal(view.getUint32(4, true), 56);
      assert.equal(table[8], 1);
      assert.equal(acpiChecksum(table), 0);
      assert.notEqual(table[9], 0, 'the checksum byte does real work for these tables');
    }
  });

  void it('R51 the Event Timer Block ID is GCAP_ID[31:0] of the configuration, not a fixed value', () => {
    const id = (config: Parameters<typeof buildAcpiHpetTable>[0]) =>
      new DataView(buildAcpiHpetTable(config).buffer).getUint32(36, true);
    assert.equal(id(hpetPreset('ich')), 0x80868301);
    assert.equal(id(hpetPreset('qemu')), 0x8086a201);
    assert.equal(id(makeHpetConfig({ preset: 'qemu', timers: 8, legacyCapable: false })), 0x80862701);
  });

  void it('R51 base address GAS, HPET number, minimum tick and page protection', () => {
    const table = buildAcpiHpetTable(hpetPreset('ich'), {
      base: 0xfed01000,
      hpetNumber: 2,
      minimumTick: 0x1234,
      pageProtection: '4k',
      oemAttribute: 0x5,
      oemId: 'ACME',
      oemTableId: 'TIMERS',
      creatorId: 'TEST',
    });
    const view = new DataView(table.buffer);
    assert.deepEqual([...table.subarray(40, 44)], [0, 64, 0, 0], 'system memory, 64 bits wide, offset 0');
    assert.equal(view.getBigUint64(44, true), 0xfed01000n);
    assert.equal(table[52], 2);
    assert.equal(view.getUint16(53, true), 0x1234);
    assert.equal(table[55], 0x51);
    assert.equal(ascii(table, 10, 6), 'ACME  ');
    assert.equal(ascii(table, 16, 8), 'TIMERS  ');
    assert.equal(ascii(table, 28, 4), 'TEST');
    assert.equal(acpiChecksum(table), 0);

    const defaults = buildAcpiHpetTable(hpetPreset('ich'));
    const d = new DataView(defaults.buffer);
    assert.equal(d.getBigUint64(44, true), 0xfed00000n);
    assert.equal(defaults[52], 0);
    assert.equal(d.getUint16(53, true), 0x80);
    assert.equal(defaults[55], 0);
  });

  void it('R51 bad table options are refused with a message', () => {
    assert.throws(
      () => buildAcpiHpetTable(hpetPreset('ich'), { hpetNumber: 8 }),
      /HPET number must be an integer from 0 to 7/,
    );
    assert.throws(() => buildAcpiHpetTable(hpetPreset('ich'), { oemId: 'TOOLONGID' }), /OEM ID must be at most 6/);
    assert.throws(() => buildAcpiHpetTable(hpetPreset('ich'), { minimumTick: 0x10000 }), /minimum tick/);
  });
});
