/** Hooks and watchpoints on RAM ranges: those pages leave the TLB fast path and go through the hook engine. */
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { Emulator } from '../../adapter/runtime/emulator';

/**
 * mov dword [0x300000], 5 ; mov dword [0x300100], 9 ; mov eax, [0x300000] ; add eax, [0x300100] ; out 0xf4, eax
 * The guest exits with status ((value read) << 1) | 1.
 */
const GUEST = Uint8Array.of(
  0xc7,
  0x05,
  0x00,
  0x00,
  0x30,
  0x00,
  0x05,
  0x00,
  0x00,
  0x00,
  0xc7,
  0x05,
  0x00,
  0x01,
  0x30,
  0x00,
  0x09,
  0x00,
  0x00,
  0x00,
  0xa1,
  0x00,
  0x00,
  0x30,
  0x00,
  0x03,
  0x05,
  0x00,
  0x01,
  0x30,
  0x00,
  0xe7,
  0xf4,
);

function setup(hook?: string): Emulator {
  const dir = mkdtempSync(join(tmpdir(), 'mmiodbg-ram-'));
  const program = join(dir, 'guest.bin');
  writeFileSync(program, GUEST);
  const hooks: string[] = [];
  if (hook) {
    hooks.push(join(dir, 'ram.mmh'));
    writeFileSync(hooks[0], hook);
  }
  const { emulator, hookResults } = Emulator.create({ program, format: 'bin', loadAddress: 0x200000, hooks });
  for (const r of hookResults.values()) assert.ok(r.ok, JSON.stringify(r.diagnostics));
  return emulator;
}

function exitStatus(emulator: Emulator): number {
  for (;;) {
    const r = emulator.runSlice(1_000_000);
    if (r.kind === 'exited') return r.code;
    assert.ok(r.kind === 'budget' || r.kind === 'stopped', JSON.stringify(r));
  }
}

void describe('hooks on RAM', () => {
  void it('without hooks the guest reads back what it wrote', () => {
    assert.equal(exitStatus(setup()), ((5 + 9) << 1) | 1);
  });

  void it('a read hook on a RAM range changes what the guest reads; the neighbouring word is untouched', () => {
    const e = setup('on read 0x300000 len 4 {\n    value = 42\n    handled\n}\n');
    assert.equal(exitStatus(e), ((42 + 9) << 1) | 1);
  });

  void it('a write hook on RAM rewrites what reaches memory', () => {
    const e = setup('on write 0x300100 len 4 {\n    value = value + 100\n    emulate\n}\n');
    assert.equal(exitStatus(e), ((5 + 109) << 1) | 1);
    assert.deepEqual([...e.machine.phys.debugRead(0x300100, 4)], [109, 0, 0, 0]);
  });

  void it('a watchpoint on RAM stops on the accessing instruction before the access, then resumes past it', () => {
    const e = setup('on read 0x300100 len 4 {\n    value = device.read() + 1\n    handled\n}\n');
    const added = e.hooks.addWatchpoint({ target: { space: 'mmio', address: 0x300100, length: 4 }, direction: 'read' });
    assert.ok(added.ok);
    const r = e.runSlice(1_000_000);
    assert.equal(r.kind, 'stopped');
    assert.ok('cause' in r && r.cause.kind === 'watchpoint');
    assert.match(r.cause.info.description, /^read 0x300100, 4 bytes = 0x00000009 at eip 0x00200019$/);
    assert.equal(e.machine.cpu.eip, 0x200019, 'stopped on the accessing instruction');
    assert.equal(e.machine.cpu.regs[0], 5, 'the previous instruction completed, this one did not');
    assert.equal(e.hooks.listHooks()[0].hits, 0, 'the access has not happened');
    // Resuming runs the instruction once (the watchpoint does not stop it again) and goes on to the exit.
    let result = e.runSlice(1_000_000, true);
    while (result.kind === 'budget') result = e.runSlice(1_000_000);
    assert.deepEqual(result, { kind: 'exited', code: ((5 + 9 + 1) << 1) | 1 });
    assert.equal(e.hooks.listHooks()[0].hits, 1);
  });
});
