import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { E820Entry } from '../../adapter/core/machine/e820';
import {
  BOOT_PARAMS_E820_ENTRIES_OFFSET,
  BOOT_PARAMS_E820_TABLE_OFFSET,
  E820Type,
  buildE820Map,
  encodeLinuxE820,
  encodeMultibootMmap,
  multibootMemoryInfo,
  writeLinuxE820,
} from '../../adapter/core/machine/e820';

const MiB = 0x100000;

/** The type that covers `address`, or undefined; fails if two entries cover it. */
function typeAt(map: readonly E820Entry[], address: number): number | undefined {
  const covering = map.filter((e) => address >= e.base && address < e.base + e.length);
  assert.ok(covering.length <= 1, `0x${address.toString(16)} covered twice`);
  return covering[0]?.type;
}

void describe('E820 map', () => {
  for (const ramSize of [MiB, 2 * MiB, 128 * MiB, 0xe0000000]) {
    void it(`covers RAM of ${ramSize / MiB} MiB: usable low and high memory, EBDA and BIOS area reserved`, () => {
      const map = buildE820Map(ramSize);
      for (let i = 1; i < map.length; i++) {
        assert.ok(map[i - 1].base + map[i - 1].length <= map[i].base, 'sorted, no overlap');
      }
      const probes: Array<[number, number | undefined]> = [
        [0, E820Type.Usable],
        [0x9fbff, E820Type.Usable],
        [0x9fc00, E820Type.Reserved],
        [0x9ffff, E820Type.Reserved],
        [0xa0000, undefined],
        [0xeffff, undefined],
        [0xf0000, E820Type.Reserved],
        [0xfffff, E820Type.Reserved],
        [ramSize, undefined],
        [0xfec00000, E820Type.Reserved],
        [0xfed00000, E820Type.Reserved],
        [0xfee00fff, E820Type.Reserved],
        [0xfee01000, undefined],
      ];
      if (ramSize > MiB) probes.push([MiB, E820Type.Usable], [ramSize - 1, E820Type.Usable]);
      for (const [address, type] of probes) assert.equal(typeAt(map, address), type, `0x${address.toString(16)}`);
      const usable = map.filter((e) => e.type === E820Type.Usable).reduce((n, e) => n + e.length, 0);
      assert.equal(usable, 0x9fc00 + (ramSize - MiB));
    });
  }

  void it('refuses RAM below 1 MiB and device windows inside RAM', () => {
    assert.throws(() => buildE820Map(0x80000), /at least 1 MiB/);
    assert.throws(() => buildE820Map(4 * MiB, { deviceWindows: [{ base: 2 * MiB, length: 0x1000 }] }), /overlaps RAM/);
    assert.equal(buildE820Map(4 * MiB, { deviceWindows: [] }).length, 4);
  });

  void it('carves an ACPI area out of high memory', () => {
    const map = buildE820Map(16 * MiB, { acpiTables: { base: 15 * MiB, length: 0x2000 } });
    assert.equal(typeAt(map, 15 * MiB - 1), E820Type.Usable);
    assert.equal(typeAt(map, 15 * MiB), E820Type.AcpiReclaimable);
    assert.equal(typeAt(map, 15 * MiB + 0x1fff), E820Type.AcpiReclaimable);
    assert.equal(typeAt(map, 15 * MiB + 0x2000), E820Type.Usable);
    assert.throws(() => buildE820Map(16 * MiB, { acpiTables: { base: 16 * MiB - 0x1000, length: 0x2000 } }), /beyond/);
  });
});

void describe('E820 encodings', () => {
  const map = buildE820Map(64 * MiB);

  void it('multiboot mmap: 24-byte entries whose size field excludes itself', () => {
    const bytes = encodeMultibootMmap(map);
    const view = new DataView(bytes.buffer);
    const decoded: E820Entry[] = [];
    for (let at = 0; at < bytes.length; at += view.getUint32(at, true) + 4) {
      assert.equal(view.getUint32(at, true), 20);
      decoded.push({
        base: Number(view.getBigUint64(at + 4, true)),
        length: Number(view.getBigUint64(at + 12, true)),
        type: view.getUint32(at + 20, true),
      });
    }
    assert.deepEqual(decoded, map);
    assert.deepEqual(multibootMemoryInfo(map), { memLowerKiB: 639, memUpperKiB: 63 * 1024 });
  });

  void it('Linux boot_params: 20-byte entries at 0x2d0, count at 0x1e8', () => {
    const bytes = encodeLinuxE820(map);
    assert.equal(bytes.length, map.length * 20);
    const zeroPage = new Uint8Array(4096);
    writeLinuxE820(zeroPage, map);
    assert.equal(zeroPage[BOOT_PARAMS_E820_ENTRIES_OFFSET], map.length);
    const view = new DataView(zeroPage.buffer);
    map.forEach((entry, i) => {
      const at = BOOT_PARAMS_E820_TABLE_OFFSET + i * 20;
      assert.equal(Number(view.getBigUint64(at, true)), entry.base);
      assert.equal(Number(view.getBigUint64(at + 8, true)), entry.length);
      assert.equal(view.getUint32(at + 16, true), entry.type);
    });
    assert.throws(() => encodeLinuxE820(new Array<E820Entry>(129).fill(map[0])), /at most 128/);
  });
});
