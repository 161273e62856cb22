/**
 * Differential tests: our emulator runs the test guests and must print what QEMU prints (guests/<name>/expected.txt
 * was recorded with qemu-system-i386, see guests/README.md); the benchmark guest is compared with a live QEMU run.
 * Runs are deterministic: the same guest gives the same output and the same device trace every time.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { Emulator } from '../../adapter/runtime/emulator';
import type { EmulatorConfig } from '../../adapter/runtime/emulator';
import { guestElfPath, isQemuAvailable, runInQemu } from '../support/qemu';

const ROOT = join(__dirname, '..', '..');

interface Outcome {
  serial: string;
  result: string;
  traceHash: string;
  instructions: number;
}

function run(
  config: Omit<EmulatorConfig, 'program'> & { guest: string },
  maxInstructions = 2_000_000_000,
  debugConsole?: (byte: number) => void,
): Outcome {
  let serial = '';
  const { emulator, hookResults } = Emulator.create(
    { program: guestElfPath(config.guest), traceCapacity: 1_000_000, ...config },
    { serial: (b) => (serial += String.fromCharCode(b)), ...(debugConsole ? { debugConsole } : {}) },
  );
  for (const r of hookResults.values()) assert.ok(r.ok, JSON.stringify(r.diagnostics));
  let result = 'budget';
  for (let done = 0; done < maxInstructions; done += 10_000_000) {
    const r = emulator.runSlice(10_000_000);
    if (r.kind === 'exited') result = `exited ${r.code}`;
    else if (r.kind === 'shutdown') result = `shutdown: ${r.reason}`;
    else continue;
    break;
  }
  const hash = createHash('sha256');
  for (const t of emulator.traceRecords()) {
    hash.update(`${t.time} ${t.eip} ${t.address} ${t.size} ${t.isWrite} ${String(t.before)} ${String(t.after)}\n`);
  }
  // The guests end lines with CR LF, as on a serial line; the QEMU harness turns CR LF into LF too.
  return {
    serial: serial.replace(/\r\n/g, '\n'),
    result,
    traceHash: hash.digest('hex'),
    instructions: emulator.machine.cpu.icount,
  };
}

function expected(guest: string): string {
  return readFileSync(join(ROOT, 'guests', guest, 'expected.txt'), 'utf8');
}

void describe('guests on our emulator print what they print on QEMU', () => {
  void it('hello', () => {
    const r = run({ guest: 'hello' });
    assert.equal(r.serial, expected('hello'));
    assert.equal(r.result, 'exited 1');
  });

  void it('cpu-selftest', () => {
    const r = run({ guest: 'cpu-selftest' });
    assert.equal(r.serial, expected('cpu-selftest'));
    assert.equal(r.result, 'exited 1');
  });

  void it('hpet-probe with the qemu HPET preset', () => {
    const r = run({ guest: 'hpet-probe', hpet: 'qemu' });
    assert.equal(r.serial, expected('hpet-probe'));
    assert.equal(r.result, 'exited 1');
  });

  for (const guest of ['pit-pic', 'rtc-cmos', 'uart', 'pci', 'apic'] as const) {
    void it(guest, () => {
      const r = run({ guest });
      assert.equal(r.serial, expected(guest));
      assert.equal(r.result, 'exited 1');
    });
  }

  void it('i8042-ports, and its line on the 0xE9 debug console', () => {
    let debugConsole = '';
    const r = run({ guest: 'i8042-ports' }, undefined, (b) => (debugConsole += String.fromCharCode(b)));
    assert.equal(r.serial, expected('i8042-ports'));
    assert.equal(r.result, 'exited 1');
    assert.equal(debugConsole, 'i8042-ports: hello on the debug console\n');
  });

  void it(
    'bench-cpu checksums equal a live QEMU run',
    { skip: isQemuAvailable() ? false : 'qemu-system-i386 is not installed' },
    async () => {
      const ours = run({ guest: 'bench-cpu', cmdline: 'rounds=3' });
      const qemu = await runInQemu(guestElfPath('bench-cpu'), {
        extraArgs: ['-append', 'rounds=3'],
        timeoutMs: 60_000,
      });
      assert.equal(ours.serial, qemu.serial);
      assert.match(ours.serial, /crc32 table [0-9a-f]{8}/);
    },
  );
});

void describe('the HPET demo', () => {
  void it('prints Linux-style capabilities of the default (ich) HPET', () => {
    const r = run({ guest: 'hpet-probe' });
    assert.match(r.serial, /^hpet0: 4 comparators, 32-bit 14\.318180 MHz counter$/m);
    assert.match(r.serial, /^periodic: ok$/m);
    assert.match(r.serial, /^one-shot wrap: ok$/m);
  });

  void it('with the seed hook the guest sees one comparator fewer', () => {
    const r = run({ guest: 'hpet-probe', hooks: [join(ROOT, 'examples', 'hooks', 'hpet-one-comparator-fewer.mmh')] });
    assert.match(r.serial, /^hpet0: 3 comparators, 32-bit 14\.318180 MHz counter$/m);
    assert.doesNotMatch(r.serial, /timer 3:/);
  });
});

void describe('determinism', () => {
  void it('the same guest gives the same output, instruction count and device trace', () => {
    const a = run({ guest: 'hpet-probe' });
    const b = run({ guest: 'hpet-probe' });
    assert.equal(a.serial, b.serial);
    assert.equal(a.instructions, b.instructions);
    assert.equal(a.traceHash, b.traceHash);
  });
});
