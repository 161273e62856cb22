import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { QEMU_BINARY, REPOSITORY_ROOT, guestElfPath, isQemuAvailable, runInQemu } from '../support/qemu';

const GUESTS = [
  'hello',
  'cpu-selftest',
  'hpet-probe',
  'pit-pic',
  'rtc-cmos',
  'uart',
  'pci',
  'apic',
  'i8042-ports',
] as const;
/** Extra QEMU arguments per guest: i8042-ports writes to port 0xE9, which QEMU's pc machine has only with -debugcon. */
const EXTRA_ARGS: Partial<Record<(typeof GUESTS)[number], readonly string[]>> = {
  'i8042-ports': ['-debugcon', 'null'],
};
const skip = isQemuAvailable() ? false : `${QEMU_BINARY} is not installed`;

function expectedTranscript(name: string): string {
  return readFileSync(join(REPOSITORY_ROOT, 'guests', name, 'expected.txt'), 'latin1');
}

void describe('test guests under QEMU (reference transcripts)', { skip }, () => {
  for (const name of GUESTS) {
    void it(`${name} prints guests/${name}/expected.txt and exits with code 0`, async () => {
      // QEMU's devices follow host time: on a loaded host a timing check in a guest can miss. A run that matches
      // the transcript once out of three proves the reference; a real difference fails all three.
      let result = await runInQemu(guestElfPath(name), { timeoutMs: 90_000, extraArgs: EXTRA_ARGS[name] ?? [] });
      for (let attempt = 1; attempt < 3 && result.serial !== expectedTranscript(name); attempt++) {
        result = await runInQemu(guestElfPath(name), { timeoutMs: 90_000, extraArgs: EXTRA_ARGS[name] ?? [] });
      }
      assert.equal(result.timedOut, false, `QEMU timed out; serial so far:\n${result.serial}`);
      assert.equal(result.serial, expectedTranscript(name));
      assert.equal(result.guestExitCode, 0, `exit status ${result.status}; stderr: ${result.stderr}`);
    });
  }

  void it('kills QEMU at the timeout and reports no exit code', async () => {
    const result = await runInQemu(guestElfPath('hello'), { timeoutMs: 1 });
    assert.equal(result.timedOut, true);
    assert.equal(result.guestExitCode, undefined);
  });
});
