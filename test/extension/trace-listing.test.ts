import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { listingText } from '../../src/trace/listing';

const INSTRUCTIONS = [
  {
    address: '0x0010192f',
    instructionBytes: 'a1 94 9c 10 00',
    instruction: 'mov eax,[00109C94h]',
    symbol: 'guest_start+0x1df',
  },
  { address: '0x00101934', instructionBytes: '8b 18', instruction: 'mov ebx,[eax]', symbol: 'guest_start+0x1e4' },
  { address: '0x00101936', instructionBytes: '8b 70 04', instruction: 'mov esi,[eax+4]', symbol: 'guest_start+0x1e6' },
];

void describe('disassembly listing of a trace row', () => {
  void it('marks the row EIP and the stopped instruction, and says which is which', () => {
    const { text, line } = listingText(0x101934, INSTRUCTIONS, { seq: 4711, current: 0x101936 });
    const lines = text.trimEnd().split('\n');
    assert.equal(lines[0], '; EIP 0x00101934 of MMIO trace record #4711 (=>); the guest is stopped at 0x00101936 (->)');
    assert.equal(line, 2);
    assert.match(lines[line], /^=> 0x00101934  8b 18\s+<guest_start\+0x1e4> mov ebx,\[eax\]$/);
    assert.match(lines[3], /^-> 0x00101936 /);
    assert.match(lines[1], /^ {3}0x0010192f /);
  });

  void it('has no line for an EIP outside the listing and no stop note without a stop', () => {
    const { text, line } = listingText(0x200000, INSTRUCTIONS);
    assert.equal(line, -1);
    assert.equal(text.split('\n')[0], '; EIP 0x00200000 of the MMIO trace (=>)');
    assert.ok(!text.includes('=> 0x'));
  });
});
