import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { E820Entry, LoadPlan, MemoryChunk } from '../../adapter/core/machine/loaders';
import {
  BOOT_PARAMS_ADDRESS,
  COMMAND_LINE_ADDRESS,
  LoaderError,
  MULTIBOOT_BOOTLOADER_MAGIC,
  defaultE820Map,
  detectFormat,
  loadImage,
} from '../../adapter/core/machine/loaders';

const MIB = 1024 * 1024;
const MACHINE = { ramSize: 128 * MIB };

// ---- a small ELF32 writer -----------------------------------------------------------------------------------------

interface SegmentSpec {
  paddr: number;
  vaddr?: number;
  data: Uint8Array;
  memsz?: number;
  type?: number;
}
interface SymbolSpec {
  name: string;
  value: number;
  size?: number;
  type?: number;
}
interface ElfSpec {
  entry: number;
  segments: SegmentSpec[];
  symbols?: SymbolSpec[];
  elfClass?: number;
  elfType?: number;
  machine?: number;
}

function buildElf(spec: ElfSpec): Uint8Array {
  const headerSize = 52;
  const phdrSize = 32;
  const dataStart = headerSize + spec.segments.length * phdrSize;
  const offsets: number[] = [];
  let cursor = dataStart;
  for (const segment of spec.segments) {
    offsets.push(cursor);
    cursor += segment.data.length;
  }
  const symbols = spec.symbols ?? [];
  const names: number[] = [];
  const strtab: number[] = [0];
  for (const symbol of symbols) {
    names.push(strtab.length);
    strtab.push(...new TextEncoder().encode(symbol.name), 0);
  }
  const symtabOffset = cursor;
  const symtabSize = (symbols.length + 1) * 16;
  const strtabOffset = symtabOffset + symtabSize;
  const shOffset = (strtabOffset + strtab.length + 3) & ~3;
  const total = symbols.length ? shOffset + 3 * 40 : cursor;
  const bytes = new Uint8Array(total);
  const view = new DataView(bytes.buffer);
  bytes.set([0x7f, 0x45, 0x4c, 0x46, spec.elfClass ?? 1, 1, 1]);
  view.setUint16(16, spec.elfType ?? 2, true);
  view.setUint16(18, spec.machine ?? 3, true);
  view.setUint32(20, 1, true);
  view.setUint32(24, spec.entry, true);
  view.setUint32(28, headerSize, true);
  view.setUint32(32, symbols.length ? shOffset : 0, true);
  view.setUint16(40, headerSize, true);
  view.setUint16(42, phdrSize, true);
  view.setUint16(44, spec.segments.length, true);
  view.setUint16(46, 40, true);
  view.setUint16(48, symbols.length ? 3 : 0, true);
  spec.segments.forEach((segment, index) => {
    const at = headerSize + index * phdrSize;
    view.setUint32(at, segment.type ?? 1, true);
    view.setUint32(at + 4, offsets[index], true);
    view.setUint32(at + 8, segment.vaddr ?? segment.paddr, true);
    view.setUint32(at + 12, segment.paddr, true);
    view.setUint32(at + 16, segment.data.length, true);
    view.setUint32(at + 20, segment.memsz ?? segment.data.length, true);
    view.setUint32(at + 24, 7, true);
    bytes.set(segment.data, offsets[index]);
  });
  if (symbols.length) {
    symbols.forEach((symbol, index) => {
      const at = symtabOffset + (index + 1) * 16;
      view.setUint32(at, names[index], true);
      view.setUint32(at + 4, symbol.value, true);
      view.setUint32(at + 8, symbol.size ?? 0, true);
      view.setUint8(at + 12, 0x10 | (symbol.type ?? 2));
      view.setUint16(at + 14, 1, true);
    });
    bytes.set(strtab, strtabOffset);
    const section = (index: number, type: number, offset: number, size: number, link: number): void => {
      const at = shOffset + index * 40;
      view.setUint32(at + 4, type, true);
      view.setUint32(at + 16, offset, true);
      view.setUint32(at + 20, size, true);
      view.setUint32(at + 24, link, true);
      view.setUint32(at + 36, type === 2 ? 16 : 0, true);
    };
    section(1, 2, symtabOffset, symtabSize, 2);
    section(2, 3, strtabOffset, strtab.length, 0);
  }
  return bytes;
}

function filled(length: number, seed: number): Uint8Array {
  return Uint8Array.from({ length }, (_, i) => (i * 7 + seed) & 0xff);
}

function multibootHeader(flags: number, kludge?: number[]): Uint8Array {
  const words = [0x1badb002, flags, (-(0x1badb002 + flags) >>> 0) & 0xffffffff, ...(kludge ?? [])];
  const bytes = new Uint8Array(words.length * 4);
  const view = new DataView(bytes.buffer);
  words.forEach((word, i) => view.setUint32(i * 4, word >>> 0, true));
  return bytes;
}

function withHeader(body: Uint8Array, header: Uint8Array, at: number): Uint8Array {
  const out = new Uint8Array(Math.max(body.length, at + header.length));
  out.set(body);
  out.set(header, at);
  return out;
}

/** Reads guest-physical memory as the plan would leave it (unloaded bytes read as 0). */
function memoryOf(plan: LoadPlan): {
  u8(a: number): number;
  u16(a: number): number;
  u32(a: number): number;
  str(a: number): string;
} {
  const find = (address: number): { chunk: MemoryChunk; offset: number } | undefined => {
    for (const chunk of plan.chunks) {
      if (address >= chunk.address && address < chunk.address + chunk.bytes.length) {
        return { chunk, offset: address - chunk.address };
      }
    }
    return undefined;
  };
  const u8 = (address: number): number => {
    const hit = find(address);
    return hit ? hit.chunk.bytes[hit.offset] : 0;
  };
  const u16 = (address: number): number => u8(address) | (u8(address + 1) << 8);
  const u32 = (address: number): number => (u16(address) | (u16(address + 2) << 16)) >>> 0;
  const str = (address: number): string => {
    let text = '';
    for (let at = address; u8(at) !== 0; at++) text += String.fromCharCode(u8(at));
    return text;
  };
  return { u8, u16, u32, str };
}

function assertRefused(run: () => unknown, code: string, message: RegExp): void {
  assert.throws(run, (error: unknown) => {
    assert.ok(error instanceof LoaderError, `expected a LoaderError, got ${String(error)}`);
    assert.equal(error.code, code, error.message);
    assert.match(error.message, message);
    return true;
  });
}

// ---- plain ELF ----------------------------------------------------------------------------------------------------

void describe('ELF32 loader', () => {
  const code = filled(0x40, 1);
  const data = filled(0x10, 2);
  const image = buildElf({
    entry: 0x200010,
    segments: [
      { paddr: 0x200000, data: code },
      { paddr: 0x201000, data, memsz: 0x30 },
    ],
    symbols: [
      { name: 'main', value: 0x200010, size: 0x20, type: 2 },
      { name: 'counter', value: 0x201004, size: 4, type: 1 },
      { name: 'start', value: 0x200000, size: 0, type: 0 },
    ],
  });

  void it('loads PT_LOAD segments, zeroes the BSS part and starts at e_entry in flat 32-bit mode', () => {
    const plan = loadImage(image, MACHINE, { format: 'elf' });
    assert.equal(plan.format, 'elf');
    assert.deepEqual(
      plan.chunks.map((chunk) => [chunk.address, chunk.bytes.length]),
      [
        [0x200000, 0x40],
        [0x201000, 0x30],
      ],
    );
    assert.deepEqual(plan.chunks[0].bytes, code);
    assert.deepEqual(plan.chunks[1].bytes.subarray(0, 0x10), data);
    assert.ok(plan.chunks[1].bytes.subarray(0x10).every((byte) => byte === 0));
    assert.equal(plan.entry.mode, 'flat32');
    assert.equal(plan.entry.eip, 0x200010);
    assert.equal(plan.entry.eflags & 0x200, 0, 'IF must be clear');
    assert.match(plan.description, /ELF32 i386, 2 segments at 0x00200000-0x00201030, entry 0x00200010/);
  });

  void it('reads .symtab symbols sorted by address with their kind and size', () => {
    const plan = loadImage(image, MACHINE, { format: 'elf' });
    assert.deepEqual(plan.symbols, [
      { name: 'start', address: 0x200000, size: 0, kind: 'other' },
      { name: 'main', address: 0x200010, size: 0x20, kind: 'function' },
      { name: 'counter', address: 0x201004, size: 4, kind: 'object' },
    ]);
  });

  void it('translates a virtual entry point through its segment to the physical load address', () => {
    const higherHalf = buildElf({ entry: 0xc0100004, segments: [{ paddr: 0x100000, vaddr: 0xc0100000, data: code }] });
    const plan = loadImage(higherHalf, MACHINE, { format: 'elf' });
    assert.equal(plan.chunks[0].address, 0x100000);
    assert.equal(plan.entry.eip, 0x100004);
  });

  void it('refuses malformed images with a message that says what is wrong', () => {
    const bad = (patch: (bytes: Uint8Array, view: DataView) => void): Uint8Array => {
      const copy = image.slice();
      patch(copy, new DataView(copy.buffer));
      return copy;
    };
    assertRefused(
      () => loadImage(image.subarray(0, 30), MACHINE, { format: 'elf' }),
      'truncated',
      /the ELF header needs bytes 0\.\.51 but the file has 30 bytes/,
    );
    assertRefused(
      () =>
        loadImage(
          bad((b) => (b[1] = 0x46)),
          MACHINE,
          { format: 'elf' },
        ),
      'bad-magic',
      /not an ELF file/,
    );
    assertRefused(
      () =>
        loadImage(
          bad((b) => (b[4] = 2)),
          MACHINE,
          { format: 'elf' },
        ),
      'unsupported',
      /64-bit \(ELFCLASS64\)/,
    );
    assertRefused(
      () =>
        loadImage(
          bad((_, v) => v.setUint16(16, 3, true)),
          MACHINE,
          { format: 'elf' },
        ),
      'unsupported',
      /ET_DYN/,
    );
    assertRefused(
      () =>
        loadImage(
          bad((_, v) => v.setUint16(18, 62, true)),
          MACHINE,
          { format: 'elf' },
        ),
      'unsupported',
      /e_machine is 62, not EM_386/,
    );
    assertRefused(
      () =>
        loadImage(
          bad((_, v) => v.setUint16(44, 0, true)),
          MACHINE,
          { format: 'elf' },
        ),
      'malformed',
      /no program headers/,
    );
    assertRefused(
      () =>
        loadImage(
          bad((_, v) => v.setUint32(52 + 20, 0x20, true)),
          MACHINE,
          { format: 'elf' },
        ),
      'malformed',
      /segment 0 has p_filesz 64 larger than p_memsz 32/,
    );
    assertRefused(
      () =>
        loadImage(
          bad((_, v) => v.setUint32(52 + 4, image.length - 8, true)),
          MACHINE,
          { format: 'elf' },
        ),
      'truncated',
      /segment 0 \(p_offset \d+\) needs bytes/,
    );
    assertRefused(
      () =>
        loadImage(
          bad((_, v) => v.setUint32(52 + 4, 0x100000, true)),
          MACHINE,
          { format: 'elf' },
        ),
      'truncated',
      /segment 0/,
    );
  });

  void it('refuses segments outside RAM, in the legacy hole, overlapping each other, and an entry outside them', () => {
    const outside = buildElf({ entry: 0x7fff000, segments: [{ paddr: 0x7fff000, data: filled(0x2000, 3) }] });
    assertRefused(
      () => loadImage(outside, MACHINE, { format: 'elf' }),
      'outside-ram',
      /segment 0 \(0x07fff000-0x08001000\) lies outside RAM; usable RAM is 0x00000000-0x0009fc00, 0x00100000-0x08000000/,
    );
    const hole = buildElf({ entry: 0xb8000, segments: [{ paddr: 0xb8000, data: filled(0x10, 3) }] });
    assertRefused(
      () => loadImage(hole, MACHINE, { format: 'elf' }),
      'outside-ram',
      /segment 0 \(0x000b8000-0x000b8010\)/,
    );
    const overlapping = buildElf({
      entry: 0x100000,
      segments: [
        { paddr: 0x100000, data: filled(0x100, 1), memsz: 0x2000 },
        { paddr: 0x101000, data: filled(0x100, 2) },
      ],
    });
    assertRefused(
      () => loadImage(overlapping, MACHINE, { format: 'elf' }),
      'overlap',
      /segment 1 \(0x00101000-0x00101100\) overlaps segment 0 \(0x00100000-0x00102000\)/,
    );
    const strayEntry = buildElf({ entry: 0x300000, segments: [{ paddr: 0x100000, data: filled(0x100, 1) }] });
    assertRefused(
      () => loadImage(strayEntry, MACHINE, { format: 'elf' }),
      'bad-entry',
      /entry point 0x00300000 is outside every loaded segment \(0x00100000-0x00100100\)/,
    );
  });

  void it('honours an E820 map passed in: RAM reserved there is not loadable', () => {
    const e820: E820Entry[] = [...defaultE820Map(64 * MIB), { base: 64 * MIB, length: 64 * MIB, type: 2 }];
    const plan = loadImage(image, { ramSize: 128 * MIB, e820 }, { format: 'elf' });
    assert.equal(plan.chunks.length, 2);
    const high = buildElf({ entry: 0x5000000, segments: [{ paddr: 0x5000000, data: filled(16, 1) }] });
    assertRefused(
      () => loadImage(high, { ramSize: 128 * MIB, e820 }, { format: 'elf' }),
      'outside-ram',
      /usable RAM is .*0x04000000$/,
    );
  });
});

// ---- multiboot ----------------------------------------------------------------------------------------------------

void describe('multiboot loader', () => {
  const kernelCode = withHeader(filled(0x200, 5), multibootHeader(0x3), 0x40);
  const kernel = buildElf({
    entry: 0x100080,
    segments: [
      { paddr: 0x100000, data: kernelCode },
      { paddr: 0x102000, data: filled(0x20, 6), memsz: 0x1800 },
    ],
    symbols: [{ name: 'kernel_main', value: 0x100080, size: 0x40 }],
  });

  void it('finds the header inside an ELF kernel and fills the information structure (spec 0.6.96 section 3.3)', () => {
    const initrd = filled(0x1234, 9);
    const plan = loadImage(kernel, MACHINE, {
      commandLine: 'console=ttyS0 quiet',
      modules: [
        { name: 'initrd.img', bytes: initrd, string: 'initrd.img rw' },
        { name: 'extra.bin', bytes: filled(10, 4) },
      ],
      bootDevice: 0x80ffffff,
    });
    assert.equal(plan.format, 'multiboot');
    assert.equal(plan.entry.eip, 0x100080);
    assert.equal(plan.entry.regs.eax, MULTIBOOT_BOOTLOADER_MAGIC);
    assert.deepEqual(
      plan.symbols.map((symbol) => symbol.name),
      ['kernel_main'],
    );
    const memory = memoryOf(plan);
    const info = plan.entry.regs.ebx;
    const flags = memory.u32(info);
    assert.equal(flags, (1 << 0) | (1 << 1) | (1 << 2) | (1 << 3) | (1 << 6) | (1 << 9));
    assert.equal(memory.u32(info + 4), 639, 'mem_lower: 0x9fc00 bytes of conventional memory');
    assert.equal(memory.u32(info + 8), 127 * 1024, 'mem_upper: RAM above 1 MiB in KiB');
    assert.equal(memory.u32(info + 12), 0x80ffffff);
    assert.equal(memory.str(memory.u32(info + 16)), 'console=ttyS0 quiet');
    assert.equal(memory.str(memory.u32(info + 64)), 'mmiodbg');

    assert.equal(memory.u32(info + 20), 2);
    const modules = memory.u32(info + 24);
    const firstStart = memory.u32(modules);
    assert.equal(firstStart % 4096, 0, 'modules are page-aligned');
    assert.ok(firstStart >= 0x102000 + 0x1800, 'modules lie above the kernel and its BSS');
    assert.equal(memory.u32(modules + 4), firstStart + initrd.length);
    assert.equal(memory.str(memory.u32(modules + 8)), 'initrd.img rw');
    assert.equal(memory.u8(firstStart + 0x100), initrd[0x100]);
    const secondStart = memory.u32(modules + 16);
    assert.equal(secondStart, firstStart + 0x2000);
    assert.equal(memory.str(memory.u32(modules + 24)), 'extra.bin');

    const map = defaultE820Map(128 * MIB);
    assert.equal(memory.u32(info + 44), map.length * 24);
    const mmap = memory.u32(info + 48);
    map.forEach((entry, index) => {
      const at = mmap + index * 24;
      assert.equal(memory.u32(at), 20);
      assert.equal(memory.u32(at + 4), entry.base);
      assert.equal(memory.u32(at + 12), entry.length);
      assert.equal(memory.u32(at + 20), entry.type);
    });
    assert.match(plan.description, /multiboot ELF, 2 segments at 0x00100000-0x00103800, entry 0x00100080, 2 modules/);
  });

  void it('loads an a.out-kludge image from the header address fields (section 3.1.3)', () => {
    const loadAddr = 0x200000;
    const headerAt = 0x20;
    const header = multibootHeader(0x10003, [
      loadAddr + headerAt,
      loadAddr,
      loadAddr + 0x300,
      loadAddr + 0x1000,
      loadAddr + 0x100,
    ]);
    const file = withHeader(filled(0x400, 8), header, headerAt);
    const plan = loadImage(file, MACHINE, { modules: [] });
    assert.equal(plan.chunks[0].address, loadAddr);
    assert.equal(plan.chunks[0].bytes.length, 0x1000);
    assert.deepEqual(plan.chunks[0].bytes.subarray(0, 0x300), file.subarray(0, 0x300));
    assert.ok(
      plan.chunks[0].bytes.subarray(0x300).every((byte) => byte === 0),
      'BSS up to bss_end_addr is zero',
    );
    assert.equal(plan.entry.eip, loadAddr + 0x100);
    assert.match(plan.description, /multiboot a\.out kludge/);
  });

  void it('uses the E820 map it is given for mmap and mem_upper', () => {
    const e820: E820Entry[] = [
      { base: 0, length: 0x9f000, type: 1 },
      { base: 0x100000, length: 31 * MIB, type: 1 },
      { base: 32 * MIB, length: 0x10000, type: 3 },
    ];
    const plan = loadImage(kernel, { ramSize: 64 * MIB, e820 });
    const memory = memoryOf(plan);
    const info = plan.entry.regs.ebx;
    assert.equal(memory.u32(info + 4), 0x9f000 / 1024);
    assert.equal(memory.u32(info + 8), 31 * 1024);
    assert.equal(memory.u32(info + 44), 3 * 24);
    assert.equal(memory.u32(memory.u32(info + 48) + 2 * 24 + 20), 3);
  });

  void it('refuses bad headers and a.out fields with specific messages', () => {
    const badChecksum = kernel.slice();
    new DataView(badChecksum.buffer).setUint32(52 + 2 * 32 + 0x40 + 8, 0, true);
    assertRefused(
      () => loadImage(badChecksum, MACHINE, { format: 'multiboot' }),
      'bad-checksum',
      /multiboot header at offset \d+ has a bad checksum/,
    );
    const wantsMore = buildElf({
      entry: 0x100000,
      segments: [{ paddr: 0x100000, data: withHeader(filled(64, 1), multibootHeader(0x8), 0) }],
    });
    assertRefused(
      () => loadImage(wantsMore, MACHINE),
      'unsupported',
      /requires features this loader does not provide \(flag bits 0x00000008\)/,
    );
    const notElf = withHeader(filled(0x100, 1), multibootHeader(0x3), 0);
    assertRefused(
      () => loadImage(notElf, MACHINE),
      'malformed',
      /without the a\.out kludge \(flag bit 16\) needs an ELF image/,
    );
    const kludge = (fields: number[]): Uint8Array =>
      withHeader(filled(0x400, 8), multibootHeader(0x10000, fields), 0x20);
    assertRefused(
      () => loadImage(kludge([0x200020, 0x200000, 0x200300, 0, 0x200400]), MACHINE),
      'bad-entry',
      /entry_addr 0x00200400 is outside the loaded image 0x00200000-0x00200300/,
    );
    assertRefused(
      () => loadImage(kludge([0x200020, 0x200040, 0x200300, 0, 0x200100]), MACHINE),
      'malformed',
      /load_addr 0x00200040 is above header_addr 0x00200020/,
    );
    assertRefused(
      () => loadImage(kludge([0x200020, 0x200000, 0x200300, 0x200100, 0x200100]), MACHINE),
      'malformed',
      /bss_end_addr 0x00200100 is below load_end_addr 0x00200300/,
    );
    assertRefused(
      () => loadImage(kludge([0x200020, 0x200000, 0x201000, 0, 0x200100]), MACHINE),
      'truncated',
      /the multiboot text and data/,
    );
    assertRefused(() => loadImage(multibootHeader(0x10000), MACHINE), 'truncated', /address fields/);
  });

  void it('does not look for the header past the first 8 KiB', () => {
    const late = withHeader(filled(0x3000, 1), multibootHeader(0x10003, [0, 0, 0, 0, 0]), 8192);
    assertRefused(() => detectFormat(late), 'unknown-format', /--format bin/);
    assertRefused(
      () => loadImage(late, MACHINE, { format: 'multiboot' }),
      'bad-magic',
      /not found 4-byte aligned in the first 8192 bytes/,
    );
  });

  void it('places a module that does not fit in RAM: refused', () => {
    assertRefused(
      () => loadImage(kernel, { ramSize: 2 * MIB }, { modules: [{ name: 'big.img', bytes: new Uint8Array(2 * MIB) }] }),
      'outside-ram',
      /module big\.img \(0x00104000-0x00304000\) lies outside RAM/,
    );
  });
});

// ---- the real guests ----------------------------------------------------------------------------------------------

void describe('committed test guests', () => {
  for (const name of ['hello', 'cpu-selftest', 'hpet-probe']) {
    void it(`${name}.elf loads as multiboot with its symbols, entry at _start`, () => {
      const bytes = readFileSync(join(__dirname, '..', '..', 'guests', name, `${name}.elf`));
      assert.equal(detectFormat(bytes), 'multiboot');
      const plan = loadImage(bytes, MACHINE);
      const symbol = (wanted: string): number | undefined => plan.symbols.find((s) => s.name === wanted)?.address;
      assert.equal(plan.entry.eip, symbol('_start'));
      assert.equal(plan.entry.regs.eax, 0x2badb002);
      for (const wanted of ['guest_start', 'printf', 'exit', 'trap_dispatch']) {
        assert.ok(symbol(wanted) !== undefined, `symbol ${wanted}`);
      }
      assert.equal(plan.symbols.find((s) => s.name === 'guest_start')?.kind, 'function');
      assert.ok(plan.chunks.every((chunk) => chunk.address >= 0x9000));
      // The header's first word sits in the first segment, 4-byte aligned.
      const first = plan.chunks[0];
      assert.equal(new DataView(first.bytes.buffer, first.bytes.byteOffset).getUint32(0, true), 0x1badb002);
    });
  }
});

// ---- bzImage ------------------------------------------------------------------------------------------------------

interface BzSpec {
  version?: number;
  setupSects?: number;
  kernel?: Uint8Array;
  loadflags?: number;
  relocatable?: boolean;
  prefAddress?: number;
  initSize?: number;
  initrdAddrMax?: number;
  cmdlineSize?: number;
}

function buildBzImage(spec: BzSpec = {}): Uint8Array {
  const setupSects = spec.setupSects ?? 4;
  const kernel = spec.kernel ?? filled(0x3000, 11);
  const bytes = new Uint8Array((setupSects + 1) * 512 + kernel.length);
  const view = new DataView(bytes.buffer);
  bytes[0x1f1] = spec.setupSects ?? 4;
  view.setUint32(0x1f4, kernel.length / 16, true);
  view.setUint16(0x1fe, 0xaa55, true);
  bytes[0x200] = 0xeb;
  bytes[0x201] = 0x6a; // the setup header runs to 0x202 + 0x6a = 0x26c (protocol 2.15)
  view.setUint32(0x202, 0x53726448, true);
  view.setUint16(0x206, spec.version ?? 0x20f, true);
  bytes[0x211] = spec.loadflags ?? 0x01;
  view.setUint32(0x214, 0x100000, true);
  view.setUint32(0x22c, spec.initrdAddrMax ?? 0x7fffffff, true);
  view.setUint32(0x230, 0x200000, true);
  bytes[0x234] = spec.relocatable ? 1 : 0;
  view.setUint32(0x238, spec.cmdlineSize ?? 2047, true);
  view.setBigUint64(0x258, BigInt(spec.prefAddress ?? 0x1000000), true);
  view.setUint32(0x260, spec.initSize ?? 0x10000, true);
  bytes.set(kernel, (setupSects + 1) * 512);
  return bytes;
}

void describe('Linux bzImage loader (32-bit boot protocol)', () => {
  void it('loads the protected-mode kernel at 1 MiB and fills boot_params', () => {
    const kernel = filled(0x3000, 12);
    const image = buildBzImage({ kernel });
    const initrd = filled(0x2345, 13);
    const plan = loadImage(image, MACHINE, {
      commandLine: 'console=ttyS0 earlyprintk=serial',
      modules: [{ name: 'initrd', bytes: initrd }],
    });
    assert.equal(plan.format, 'bzimage');
    assert.equal(plan.entry.eip, 0x100000);
    assert.equal(plan.entry.regs.esi, BOOT_PARAMS_ADDRESS);
    assert.equal(plan.entry.regs.ebx, 0);
    assert.equal(plan.entry.codeSelector, 0x10);
    assert.equal(plan.entry.dataSelector, 0x18);
    const memory = memoryOf(plan);
    assert.equal(memory.u8(0x100000 + 0x123), kernel[0x123]);
    const zp = BOOT_PARAMS_ADDRESS;
    assert.equal(memory.u32(zp + 0x202), 0x53726448, 'setup header copied');
    assert.equal(memory.u16(zp + 0x206), 0x20f);
    assert.equal(memory.u8(zp + 0x1f1), 4);
    assert.equal(memory.u8(zp + 0x210), 0xff, 'type_of_loader');
    assert.equal(memory.u8(zp + 0x211) & 0x81, 0x81, 'LOADED_HIGH kept, CAN_USE_HEAP set');
    assert.equal(memory.u16(zp + 0x224), COMMAND_LINE_ADDRESS - BOOT_PARAMS_ADDRESS - 0x200);
    assert.equal(memory.u32(zp + 0x228), COMMAND_LINE_ADDRESS);
    assert.equal(memory.str(COMMAND_LINE_ADDRESS), 'console=ttyS0 earlyprintk=serial');
    const ramdisk = memory.u32(zp + 0x218);
    assert.equal(memory.u32(zp + 0x21c), initrd.length);
    assert.equal(ramdisk % 4096, 0);
    assert.ok(ramdisk + initrd.length <= 128 * MIB && ramdisk >= 128 * MIB - 0x4000, 'initrd at the top of RAM');
    assert.equal(memory.u8(ramdisk + 7), initrd[7]);
    const map = defaultE820Map(128 * MIB);
    assert.equal(memory.u8(zp + 0x1e8), map.length);
    map.forEach((entry, index) => {
      assert.equal(memory.u32(zp + 0x2d0 + index * 20), entry.base);
      assert.equal(memory.u32(zp + 0x2d0 + index * 20 + 8), entry.length);
      assert.equal(memory.u32(zp + 0x2d0 + index * 20 + 16), entry.type);
    });
    assert.equal(memory.u32(zp + 0x1e0), 127 * 1024, 'alt_mem_k');
    assert.match(
      plan.description,
      /Linux bzImage, boot protocol 2\.15, kernel 12288 bytes at 0x00100000, initrd 9029 bytes/,
    );
  });

  void it('puts the initrd below initrd_addr_max', () => {
    const plan = loadImage(
      buildBzImage({ initrdAddrMax: 0x37ffffff }),
      { ramSize: 1024 * MIB },
      { modules: [{ name: 'i', bytes: filled(0x1000, 1) }] },
    );
    const ramdisk = memoryOf(plan).u32(BOOT_PARAMS_ADDRESS + 0x218);
    assert.equal(ramdisk, 0x37fff000);
  });

  void it('loads a relocatable kernel at pref_address when it fits, else at 1 MiB rounded up to kernel_alignment', () => {
    const relocatable = buildBzImage({ relocatable: true, prefAddress: 0x1000000, initSize: 0x800000 });
    assert.equal(loadImage(relocatable, MACHINE).entry.eip, 0x1000000);
    assert.equal(loadImage(relocatable, { ramSize: 16 * MIB }).entry.eip, 0x200000);
  });

  void it('refuses what the 32-bit protocol cannot boot, saying why', () => {
    assertRefused(
      () => loadImage(buildBzImage({ version: 0x201 }), MACHINE, { format: 'bzimage' }),
      'unsupported',
      /boot protocol 2\.01 is too old: the 32-bit boot protocol needs 2\.02 or newer/,
    );
    assertRefused(() => loadImage(buildBzImage({ loadflags: 0 }), MACHINE), 'unsupported', /zImage/);
    const noMagic = buildBzImage();
    noMagic[0x203] = 0;
    assertRefused(
      () => loadImage(noMagic, MACHINE, { format: 'bzimage' }),
      'bad-magic',
      /no "HdrS" magic at offset 0x202/,
    );
    const truncated = buildBzImage().subarray(0, 5 * 512 + 0x100);
    assertRefused(
      () => loadImage(truncated, MACHINE),
      'truncated',
      /syssize says the protected-mode kernel is 12288 bytes but only 256 follow/,
    );
    assertRefused(
      () => loadImage(buildBzImage().subarray(0, 0x300), MACHINE),
      'truncated',
      /setup_sects says the protected-mode kernel starts at byte 2560/,
    );
    assertRefused(
      () => loadImage(buildBzImage({ cmdlineSize: 8 }), MACHINE, { commandLine: 'console=ttyS0' }),
      'bad-argument',
      /command line is 13 bytes but the kernel accepts at most 8/,
    );
    assertRefused(
      () =>
        loadImage(buildBzImage({ initrdAddrMax: 0x1fffff }), MACHINE, {
          modules: [{ name: 'big', bytes: new Uint8Array(0x200000) }],
        }),
      'outside-ram',
      /initrd big \(2097152 bytes\) does not fit in RAM between the kernel end 0x00110000 and initrd_addr_max 0x001fffff/,
    );
    assertRefused(
      () => loadImage(buildBzImage({ initSize: 0x10000000 }), MACHINE),
      'outside-ram',
      /the kernel needs 268435456 bytes at 0x00100000 \(init_size\)/,
    );
  });
});

// ---- flat binaries and detection ----------------------------------------------------------------------------------

void describe('flat binary and format detection', () => {
  void it('loads a flat binary at 1 MiB by default, entry at its first byte, or where told', () => {
    const bytes = filled(0x80, 3);
    const plan = loadImage(bytes, MACHINE, { format: 'bin' });
    assert.equal(plan.chunks[0].address, 0x100000);
    assert.equal(plan.entry.eip, 0x100000);
    assert.deepEqual(plan.entry.regs, { eax: 0, ebx: 0, ecx: 0, edx: 0, esi: 0, edi: 0, ebp: 0, esp: 0 });
    const placed = loadImage(bytes, MACHINE, { format: 'bin', loadAddress: 0x7c00, entryAddress: 0x7c10 });
    assert.equal(placed.chunks[0].address, 0x7c00);
    assert.equal(placed.entry.eip, 0x7c10);
    assertRefused(
      () => loadImage(bytes, MACHINE, { format: 'bin', entryAddress: 0x200000 }),
      'bad-entry',
      /entry address 0x00200000 is outside the loaded binary 0x00100000-0x00100080/,
    );
    assertRefused(() => loadImage(new Uint8Array(0), MACHINE, { format: 'bin' }), 'malformed', /empty/);
  });

  void it('detects multiboot before ELF, bzImage by its magic, and refuses anything else', () => {
    assert.equal(
      detectFormat(buildElf({ entry: 0x100000, segments: [{ paddr: 0x100000, data: filled(16, 1) }] })),
      'elf',
    );
    assert.equal(detectFormat(buildBzImage()), 'bzimage');
    assert.equal(detectFormat(withHeader(filled(64, 1), multibootHeader(0x10003, [0, 0, 0, 0, 0]), 8)), 'multiboot');
    assertRefused(
      () => loadImage(filled(4096, 1), MACHINE),
      'unknown-format',
      /unknown image format.*pass --format bin/,
    );
    assertRefused(
      () => loadImage(filled(64, 1), MACHINE, { format: 'bin', modules: [{ name: 'm', bytes: filled(1, 1) }] }),
      'bad-argument',
      /modules need a multiboot or bzImage kernel/,
    );
  });
});
