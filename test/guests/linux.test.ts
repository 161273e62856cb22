/**
 * A real Linux kernel on our PC machine: Debian's i386 "686" kernel (fetched by scripts/linux-setup.sh into
 * .cache/linux/) boots through the bzImage loader, its own decompressor, ACPI, the APIC or the 8259s, the HPET
 * and the serial console, to a user-space /init from an initramfs (guests/linux-init). Both runs go through the
 * `mmiodbg run` command line, as a user would start them.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { findLinuxKernel, linuxInitramfs } from '../support/linux';
import { isQemuAvailable, runInQemu } from '../support/qemu';

const ROOT = join(__dirname, '..', '..');
const CLI = join(ROOT, 'bin', 'mmiodbg.js');
const kernel = findLinuxKernel(ROOT);
// CI runs scripts/linux-setup.sh, so a missing kernel there is a set-up failure, not a reason to skip.
const skip = kernel || process.env.CI ? false : 'no kernel in .cache/linux (run scripts/linux-setup.sh)';

interface CliRun {
  readonly stdout: string;
  readonly stderr: string;
  readonly status: number | null;
  /** True when the run was ended by `until` matching, not by the guest. */
  readonly stoppedAtMatch: boolean;
}

/** Runs `mmiodbg run ...`; with `until`, ends the run as soon as the serial output matches it. */
function runCli(args: string[], until?: RegExp, timeoutMs = 900_000): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, 'run', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let stoppedAtMatch = false;
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.stdout.setEncoding('utf8');
    child.stderr.setEncoding('utf8');
    child.stdout.on('data', (text: string) => {
      stdout += text;
      if (until && !stoppedAtMatch && until.test(stdout)) {
        stoppedAtMatch = true;
        child.kill('SIGTERM');
      }
    });
    child.stderr.on('data', (text: string) => (stderr += text));
    child.on('error', reject);
    child.on('close', (status) => {
      clearTimeout(timer);
      resolve({ stdout, stderr, status, stoppedAtMatch });
    });
  });
}

function userSpaceLines(serial: string): string[] {
  return serial
    .replace(/\r\n/g, '\n')
    .split('\n')
    .filter((line) => line.startsWith('linux-init:'))
    .map((line) => line.trimEnd());
}

void describe('Linux (Debian i386 686 kernel)', { skip }, () => {
  const work = mkdtempSync(join(tmpdir(), 'mmiodbg-linux-'));
  after(() => rmSync(work, { recursive: true, force: true }));
  const initrd = join(work, 'initrd.cpio');
  writeFileSync(initrd, linuxInitramfs(ROOT));

  void it(
    'boots with the APIC and an initramfs to user space, which prints what it prints under QEMU',
    { timeout: 1_200_000 },
    async () => {
      assert.ok(kernel, 'scripts/linux-setup.sh did not fetch a kernel into .cache/linux');
      const ours = await runCli([
        kernel,
        '--initrd',
        initrd,
        '--append',
        'console=ttyS0',
        '--timeout',
        '900',
        '--stats',
      ]);
      const context = `stdout:\n${ours.stdout.slice(-3000)}\nstderr:\n${ours.stderr}`;
      // /init ends the run with isa-debug-exit: (0x10 << 1) | 1.
      assert.equal(ours.status, 33, context);
      assert.match(ours.stdout, /Linux version 6\.\d+\.\d+-\d+-686/, context);
      assert.match(ours.stdout, /IOAPIC\[0\]: apic_id \d+, version \d+, address 0xfec00000, GSI 0-23/, context);
      assert.match(ours.stdout, /hpet0: 4 comparators, 32-bit 14\.318180 MHz counter/, context);
      assert.match(ours.stdout, /Run \/init as init process/, context);
      const lines = userSpaceLines(ours.stdout);
      assert.ok(lines.includes('linux-init: hello from user space'), context);
      assert.ok(lines.includes('linux-init: done'), context);
      assert.ok(
        lines.some((l) => /^linux-init: available clocksources: .*\bhpet\b/.test(l)),
        `the HPET is a clocksource in user space's view\n${context}`,
      );
      if (!isQemuAvailable()) return;
      const qemu = await runInQemu(kernel, {
        timeoutMs: 240_000,
        extraArgs: ['-initrd', initrd, '-append', 'console=ttyS0'],
      });
      assert.equal(qemu.guestExitCode, 0x10, `QEMU:\n${qemu.serial.slice(-3000)}\n${qemu.stderr}`);
      // Ours is deterministic and registers all three. QEMU's devices follow the host clock, and on a loaded host
      // the kernel's rate check can reject its PM timer, so QEMU's list only has to be a subset of ours.
      const available = /^linux-init: available clocksources: /;
      assert.ok(lines.includes('linux-init: available clocksources: tsc hpet acpi_pm'), context);
      const qemuLines = userSpaceLines(qemu.serial);
      assert.deepEqual(
        lines.filter((l) => !available.test(l)),
        qemuLines.filter((l) => !available.test(l)),
      );
      const qemuClocksources = (qemuLines.find((l) => available.test(l)) ?? '').replace(available, '').split(' ');
      for (const name of qemuClocksources)
        assert.ok(
          lines.some((l) => available.test(l) && l.includes(name)),
          name,
        );
    },
  );

  void it(
    'boots with noapic through the 8259s, and the seed hook hides one HPET comparator from the driver',
    { timeout: 900_000 },
    async () => {
      assert.ok(kernel, 'scripts/linux-setup.sh did not fetch a kernel into .cache/linux');
      const hook = join(ROOT, 'examples', 'hooks', 'hpet-one-comparator-fewer.mmh');
      const hpetLine = /hpet0: \d+ comparators, [^\n]*\n/;
      const run = await runCli(
        [kernel, '--append', 'console=ttyS0 noapic', '--hook', hook, '--timeout', '600'],
        hpetLine,
      );
      const context = `stdout:\n${run.stdout.slice(-3000)}\nstderr:\n${run.stderr}`;
      assert.ok(run.stoppedAtMatch, `the kernel never printed its hpet0 line\n${context}`);
      assert.match(run.stdout, /Skipping IOAPIC probe due to 'noapic' option/, context);
      assert.match(run.stdout, /hpet0: 3 comparators, 32-bit 14\.318180 MHz counter/, context);
    },
  );
});
