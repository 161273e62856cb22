/** The Linux boot fixtures shared by the Linux test and the benchmark. */
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { cpioNewc } from './cpio';

/** Debian's i386 686 kernel that scripts/linux-setup.sh puts in .cache/linux/, or undefined. */
export function findLinuxKernel(root: string): string | undefined {
  const dir = join(root, '.cache', 'linux');
  if (!existsSync(dir)) return undefined;
  const name = readdirSync(dir).find((n) => /^vmlinuz-.*-686$/.test(n));
  return name ? join(dir, name) : undefined;
}

/** An initramfs whose /init is guests/linux-init, with the /sys and /proc it mounts on. */
export function linuxInitramfs(root: string): Uint8Array {
  return cpioNewc([
    { name: 'sys', mode: 0o040755 },
    { name: 'proc', mode: 0o040755 },
    { name: 'init', mode: 0o100755, data: readFileSync(join(root, 'guests', 'linux-init', 'linux-init.elf')) },
  ]);
}
