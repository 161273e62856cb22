/** Hook files swap atomically between two guest instructions while the guest runs (no debugger stop). */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { Emulator } from '../../adapter/runtime/emulator';

const ROOT = join(__dirname, '..', '..');
const PROBE = join(ROOT, 'guests', 'hpet-probe', 'hpet-probe.elf');
const SEED = readFileSync(join(ROOT, 'examples', 'hooks', 'hpet-one-comparator-fewer.mmh'), 'utf8');

void describe('live hook swap', () => {
  void it('a hook loaded while the guest runs takes effect at its next access; a broken version keeps it active', () => {
    let serial = '';
    const { emulator } = Emulator.create({ program: PROBE }, { serial: (b) => (serial += String.fromCharCode(b)) });
    // Run in small slices until the guest is under way (its first line is out), as the debugger's run loop does.
    while (!serial.includes('looking for the HPET')) assert.equal(emulator.runSlice(1_000).kind, 'budget');
    assert.doesNotMatch(serial, /comparators/);
    const first = emulator.loadHookText('live.mmh', SEED);
    assert.ok(first.ok);
    const broken = emulator.loadHookText('live.mmh', 'on read hpet.GCAP_ID {\n    value.NO_SUCH_FIELD = 1\n}\n');
    assert.equal(broken.ok, false);
    assert.match(broken.diagnostics[0].message, /NO_SUCH_FIELD/);
    for (;;) {
      const r = emulator.runSlice(1_000_000);
      if (r.kind === 'exited') break;
      assert.equal(r.kind, 'budget');
    }
    assert.match(serial, /hpet0: 3 comparators/);
    // The probe reads GCAP_ID as two 32-bit halves; the hook covers the whole 64-bit register.
    assert.equal(emulator.hooks.listHooks()[0].hits, 2);
  });
});
