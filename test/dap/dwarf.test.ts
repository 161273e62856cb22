import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { LineTable, elfSections } from '../../adapter/session/dwarf';
import { HELLO, guestElfPath } from './support';

void describe('DWARF .debug_line reader', () => {
  const hello = LineTable.fromElf(readFileSync(HELLO));

  void it('reads the DWARF 5 line programs of hello.elf', () => {
    assert.ok(hello);
    assert.ok(hello.files.includes('guests/hello/hello.c'));
    assert.ok(hello.files.includes('guests/runtime/runtime.c'));
  });

  void it('maps addresses to lines as readelf --debug-dump=decodedline does', () => {
    assert.deepEqual(hello?.lookup(0x00101680), {
      file: 'guests/hello/hello.c',
      line: 32,
      column: 5,
      atRowStart: true,
      isStmt: true,
    });
    assert.equal(hello?.lookup(0x0010168f)?.line, 33);
    assert.equal(hello?.lookup(0x0010169b)?.line, 34);
    assert.equal(hello?.lookup(0x0010169c)?.atRowStart, false);
    assert.equal(hello?.lookup(0x00100010), undefined, 'the assembly entry has no line information');
  });

  void it('maps source lines to statement addresses, moving to the next line with code', () => {
    const files = hello?.filesMatching('/somewhere/guests/hello/hello.c') ?? [];
    assert.equal(files.length, 1);
    assert.deepEqual(hello?.addressesForLine(files, 34), { line: 34, addresses: [0x0010169b] });
    assert.equal(hello?.addressesForLine(files, 1)?.line, 5, 'line 5 opens crc32');
  });

  void it('finds the section headers, and no line table in an image without them', () => {
    const sections = elfSections(readFileSync(guestElfPath('cpu-selftest')));
    assert.ok(sections.has('.debug_line'));
    assert.ok(sections.has('.symtab'));
    assert.equal(LineTable.fromElf(new Uint8Array([0xeb, 0xfe])), undefined);
  });
});
