/**
 * Linux boot figure: Debian's i386 kernel (scripts/linux-setup.sh puts it in .cache/linux/) with the linux-init
 * initramfs, from machine creation to /init's isa-debug-exit, on our emulator and on QEMU's TCG.
 * QEMU's devices follow the host clock, so its time includes the kernel's real-time waits; ours is virtual time
 * and the kernel's delay loops are executed instructions.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Emulator } from '../adapter/runtime/emulator';
import { linuxInitramfs } from '../test/support/linux';
import { qemuArguments } from '../test/support/qemu';

export interface LinuxBootFigures {
  readonly kernel: string;
  readonly ours: { seconds: number; instructions: number; toHpetLineSeconds: number; status: string };
  readonly qemu: { seconds: number; status: string } | undefined;
}

export async function benchLinuxBoot(root: string, kernel: string, withQemu: boolean): Promise<LinuxBootFigures> {
  const work = mkdtempSync(join(tmpdir(), 'mmiodbg-bench-linux-'));
  try {
    const initrd = join(work, 'initrd.cpio');
    writeFileSync(initrd, linuxInitramfs(root));
    let serial = '';
    let hpetLineMs = 0;
    const t0 = performance.now();
    const { emulator } = Emulator.create(
      { program: kernel, initrd, cmdline: 'console=ttyS0', traceCapacity: 0 },
      {
        serial: (b) => {
          serial += String.fromCharCode(b);
          if (b === 10 && !hpetLineMs && serial.includes('hpet0: ')) hpetLineMs = performance.now() - t0;
        },
      },
    );
    let status = 'timed out';
    while (performance.now() - t0 < 900_000) {
      const r = emulator.runSlice(50_000_000);
      if (r.kind === 'exited') status = `exit ${r.code}`;
      else if (r.kind === 'shutdown') status = `shutdown: ${r.reason.split('\n')[0]}`;
      else continue;
      break;
    }
    const ours = {
      seconds: (performance.now() - t0) / 1000,
      instructions: emulator.machine.cpu.icount,
      toHpetLineSeconds: hpetLineMs / 1000,
      status,
    };
    const qemu = withQemu ? await qemuBoot(kernel, initrd) : undefined;
    return { kernel, ours, qemu };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

function qemuBoot(kernel: string, initrd: string): Promise<{ seconds: number; status: string }> {
  const args = qemuArguments(kernel, { extraArgs: ['-initrd', initrd, '-append', 'console=ttyS0'] });
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn('qemu-system-i386', args, { stdio: ['ignore', 'ignore', 'ignore'] });
    const timer = setTimeout(() => child.kill('SIGKILL'), 300_000);
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      resolve({ seconds: (performance.now() - t0) / 1000, status: signal ? `killed (${signal})` : `exit ${code}` });
    });
  });
}
