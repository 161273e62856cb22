/**
 * Writes a cpio archive in the "newc" format that Linux unpacks as an initramfs (the kernel's
 * Documentation/driver-api/early-userspace/buffer-format.rst): per entry a 110-byte ASCII header, the name and
 * the data, each padded to 4 bytes, and a final "TRAILER!!!" entry.
 */
export interface CpioEntry {
  readonly name: string;
  /** File type and permission bits, e.g. 0o100755 for an executable, 0o040755 for a directory. */
  readonly mode: number;
  readonly data?: Uint8Array;
}

export function cpioNewc(entries: readonly CpioEntry[]): Uint8Array {
  const parts: Uint8Array[] = [];
  let size = 0;
  const push = (bytes: Uint8Array): void => {
    parts.push(bytes);
    size += bytes.length;
    const pad = (4 - (size % 4)) % 4;
    if (pad) {
      parts.push(new Uint8Array(pad));
      size += pad;
    }
  };
  const all = [...entries, { name: 'TRAILER!!!', mode: 0 }];
  all.forEach((entry, index) => {
    const data = entry.data ?? new Uint8Array(0);
    const name = new TextEncoder().encode(entry.name + '\0');
    const isDirectory = (entry.mode & 0o170000) === 0o040000;
    const fields = [
      index + 1, // inode
      entry.mode,
      0, // uid
      0, // gid
      isDirectory ? 2 : 1, // nlink
      0, // mtime
      data.length,
      0, // devmajor
      0, // devminor
      0, // rdevmajor
      0, // rdevminor
      name.length,
      0, // check
    ];
    const header = '070701' + fields.map((f) => (f >>> 0).toString(16).padStart(8, '0')).join('');
    // The header and the name are padded together, as one unit.
    const head = new Uint8Array(header.length + name.length);
    head.set(new TextEncoder().encode(header));
    head.set(name, header.length);
    push(head);
    if (data.length) push(data);
  });
  const out = new Uint8Array(size);
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.length;
  }
  return out;
}
