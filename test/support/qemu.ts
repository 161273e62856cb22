import { spawn, spawnSync } from 'node:child_process';
import { join } from 'node:path';

export const QEMU_BINARY = 'qemu-system-i386';
export const REPOSITORY_ROOT = join(__dirname, '..', '..');

export function guestElfPath(name: string): string {
  return join(REPOSITORY_ROOT, 'guests', name, `${name}.elf`);
}

let qemuAvailable: boolean | undefined;

/** Whether qemu-system-i386 can be started (tests that need it skip otherwise). */
export function isQemuAvailable(): boolean {
  qemuAvailable ??= spawnSync(QEMU_BINARY, ['--version'], { stdio: 'ignore', timeout: 10_000 }).status === 0;
  return qemuAvailable;
}

export interface QemuRunOptions {
  readonly memoryMiB?: number;
  readonly timeoutMs?: number;
  readonly extraArgs?: readonly string[];
}

export interface QemuRunResult {
  /** Everything the guest wrote to COM1, with CR LF turned into LF. */
  readonly serial: string;
  /** QEMU's exit status; isa-debug-exit makes it (code << 1) | 1. */
  readonly status: number | null;
  /** The code the guest wrote to port 0xF4, when it exited that way. */
  readonly guestExitCode: number | undefined;
  readonly timedOut: boolean;
  readonly stderr: string;
}

/**
 * The command line for one run. Besides the standard set (TCG, `pc` machine, isa-debug-exit at 0xF4), SeaBIOS's
 * serial console is turned off (`etc/sercon-port` = 0) and the network card is left out, so that COM1 carries
 * only the guest's output and no BIOS or iPXE banner.
 */
export function qemuArguments(kernel: string, options: QemuRunOptions = {}): string[] {
  return [
    '-machine',
    'pc,accel=tcg',
    '-m',
    String(options.memoryMiB ?? 128),
    '-kernel',
    kernel,
    '-nographic',
    '-no-reboot',
    '-serial',
    'stdio',
    '-display',
    'none',
    '-monitor',
    'none',
    '-device',
    'isa-debug-exit,iobase=0xf4,iosize=0x04',
    '-fw_cfg',
    'name=etc/sercon-port,string=0',
    '-net',
    'none',
    ...(options.extraArgs ?? []),
  ];
}

/** Runs a guest kernel in QEMU until it exits, or kills QEMU after the timeout. */
export function runInQemu(kernel: string, options: QemuRunOptions = {}): Promise<QemuRunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(QEMU_BINARY, qemuArguments(kernel, options), { stdio: ['ignore', 'pipe', 'pipe'] });
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, options.timeoutMs ?? 60_000);
    child.stdout.on('data', (chunk: Buffer) => stdout.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => stderr.push(chunk));
    child.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.on('close', (status) => {
      clearTimeout(timer);
      resolve({
        serial: Buffer.concat(stdout).toString('latin1').replace(/\r\n/g, '\n'),
        status,
        guestExitCode: status !== null && status % 2 === 1 && !timedOut ? (status - 1) / 2 : undefined,
        timedOut,
        stderr: Buffer.concat(stderr).toString('utf8'),
      });
    });
  });
}
