/**
 * Source line information from an ELF32 image: the section headers (System V ABI, ELF32 `Elf32_Shdr`) and a
 * reader for the DWARF `.debug_line` program, versions 2 to 5 (DWARF 5 section 6.2).
 */

export interface LineRow {
  readonly address: number;
  /** Index into `LineTable.files`. */
  readonly file: number;
  readonly line: number;
  readonly column: number;
  readonly isStmt: boolean;
}

/** One contiguous address range of rows (a DWARF sequence); `end` is the address of its end_sequence row. */
interface Sequence {
  readonly rows: LineRow[];
  readonly start: number;
  readonly end: number;
}

export interface SourceLocation {
  /** The file as the compiler named it, joined with its directory (may be relative to the compilation directory). */
  readonly file: string;
  readonly line: number;
  readonly column: number;
  /** True when `address` is the first address of this row (a statement boundary). */
  readonly atRowStart: boolean;
  readonly isStmt: boolean;
}

export class DwarfError extends Error {
  override readonly name = 'DwarfError';
}

interface Section {
  readonly name: string;
  readonly offset: number;
  readonly size: number;
}

/** Section headers of an ELF32 little-endian file, by name. Returns an empty map for anything else. */
export function elfSections(image: Uint8Array): Map<string, Uint8Array> {
  const out = new Map<string, Uint8Array>();
  if (image.length < 52 || image[0] !== 0x7f || image[1] !== 0x45 || image[2] !== 0x4c || image[3] !== 0x46) return out;
  if (image[4] !== 1 || image[5] !== 1) return out;
  const view = new DataView(image.buffer, image.byteOffset, image.byteLength);
  const shoff = view.getUint32(32, true);
  const shentsize = view.getUint16(46, true);
  const shnum = view.getUint16(48, true);
  const shstrndx = view.getUint16(50, true);
  if (shoff === 0 || shentsize < 40 || shoff + shnum * shentsize > image.length || shstrndx >= shnum) return out;
  const header = (i: number): { name: number; type: number; offset: number; size: number } => {
    const at = shoff + i * shentsize;
    return {
      name: view.getUint32(at, true),
      type: view.getUint32(at + 4, true),
      offset: view.getUint32(at + 16, true),
      size: view.getUint32(at + 20, true),
    };
  };
  const names = header(shstrndx);
  const sections: Section[] = [];
  for (let i = 1; i < shnum; i++) {
    const h = header(i);
    // SHT_NOBITS (8) has no bytes in the file.
    if (h.type === 8 || h.offset + h.size > image.length) continue;
    sections.push({
      name: cString(image, names.offset + h.name, names.offset + names.size),
      offset: h.offset,
      size: h.size,
    });
  }
  for (const s of sections) out.set(s.name, image.subarray(s.offset, s.offset + s.size));
  return out;
}

function cString(bytes: Uint8Array, start: number, limit = bytes.length): string {
  let end = start;
  while (end < limit && bytes[end] !== 0) end++;
  return new TextDecoder().decode(bytes.subarray(start, end));
}

class Reader {
  private readonly view: DataView;
  constructor(
    readonly bytes: Uint8Array,
    public pos = 0,
  ) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }
  need(n: number): void {
    if (this.pos + n > this.bytes.length) throw new DwarfError(`.debug_line ends early at offset ${this.pos}`);
  }
  u8(): number {
    this.need(1);
    return this.bytes[this.pos++];
  }
  i8(): number {
    this.need(1);
    return this.view.getInt8(this.pos++);
  }
  u16(): number {
    this.need(2);
    const v = this.view.getUint16(this.pos, true);
    this.pos += 2;
    return v;
  }
  u32(): number {
    this.need(4);
    const v = this.view.getUint32(this.pos, true);
    this.pos += 4;
    return v;
  }
  u64(): number {
    const lo = this.u32();
    const hi = this.u32();
    return hi * 2 ** 32 + lo;
  }
  uN(n: number): number {
    if (n === 1) return this.u8();
    if (n === 2) return this.u16();
    if (n === 4) return this.u32();
    if (n === 8) return this.u64();
    throw new DwarfError(`unsupported address size ${n}`);
  }
  uleb(): number {
    let result = 0;
    let shift = 0;
    for (;;) {
      const b = this.u8();
      if (shift < 49) result += (b & 0x7f) * 2 ** shift;
      shift += 7;
      if (!(b & 0x80)) return result;
    }
  }
  sleb(): number {
    let result = 0;
    let shift = 0;
    let b: number;
    do {
      b = this.u8();
      if (shift < 49) result += (b & 0x7f) * 2 ** shift;
      shift += 7;
    } while (b & 0x80);
    if (b & 0x40 && shift < 53) result -= 2 ** shift;
    return result;
  }
  cstr(): string {
    const start = this.pos;
    while (this.pos < this.bytes.length && this.bytes[this.pos] !== 0) this.pos++;
    if (this.pos >= this.bytes.length) throw new DwarfError('unterminated string in .debug_line');
    const s = new TextDecoder().decode(this.bytes.subarray(start, this.pos));
    this.pos++;
    return s;
  }
  skip(n: number): void {
    this.need(n);
    this.pos += n;
  }
}

// DWARF 5 section 7.5.6 (forms) and 7.22 (line number header entry formats).
const DW_LNCT_path = 1;
const DW_LNCT_directory_index = 2;
const DW_FORM = {
  block: 0x09,
  block1: 0x0a,
  block2: 0x03,
  block4: 0x04,
  data1: 0x0b,
  data2: 0x05,
  data4: 0x06,
  data8: 0x07,
  data16: 0x1e,
  string: 0x08,
  strp: 0x0e,
  line_strp: 0x1f,
  udata: 0x0f,
  sdata: 0x0d,
  strx: 0x1a,
  strx1: 0x25,
  strx2: 0x26,
  strx3: 0x27,
  strx4: 0x28,
} as const;

interface Strings {
  readonly str: Uint8Array | undefined;
  readonly lineStr: Uint8Array | undefined;
}

function readForm(r: Reader, form: number, offsetSize: number, strings: Strings): string | number {
  switch (form) {
    case DW_FORM.string:
      return r.cstr();
    case DW_FORM.strp:
    case DW_FORM.line_strp: {
      const offset = r.uN(offsetSize);
      const table = form === DW_FORM.strp ? strings.str : strings.lineStr;
      if (!table || offset >= table.length) throw new DwarfError('string offset outside its section');
      return cString(table, offset);
    }
    case DW_FORM.udata:
      return r.uleb();
    case DW_FORM.sdata:
      return r.sleb();
    case DW_FORM.data1:
    case DW_FORM.strx1:
      return r.u8();
    case DW_FORM.data2:
    case DW_FORM.strx2:
      return r.u16();
    case DW_FORM.strx3:
      r.skip(3);
      return 0;
    case DW_FORM.data4:
    case DW_FORM.strx4:
      return r.u32();
    case DW_FORM.data8:
      return r.u64();
    case DW_FORM.data16:
      r.skip(16);
      return 0;
    case DW_FORM.strx:
      return r.uleb();
    case DW_FORM.block:
      r.skip(r.uleb());
      return 0;
    case DW_FORM.block1:
      r.skip(r.u8());
      return 0;
    case DW_FORM.block2:
      r.skip(r.u16());
      return 0;
    case DW_FORM.block4:
      r.skip(r.u32());
      return 0;
    default:
      throw new DwarfError(`unsupported form 0x${form.toString(16)} in a line table header`);
  }
}

function joinPath(dir: string, name: string): string {
  if (name.startsWith('/') || dir === '' || dir === '.') return name;
  return dir.endsWith('/') ? dir + name : `${dir}/${name}`;
}

/** The rows of all line programs of an image, with lookups both ways. */
export class LineTable {
  readonly files: string[] = [];
  private readonly fileIndex = new Map<string, number>();
  private readonly sequences: Sequence[] = [];

  /** Parses `.debug_line` (with `.debug_str` / `.debug_line_str` for DWARF 5 string forms). */
  static fromElf(image: Uint8Array): LineTable | undefined {
    const sections = elfSections(image);
    const lines = sections.get('.debug_line');
    if (!lines || lines.length === 0) return undefined;
    const table = new LineTable();
    table.parse(lines, { str: sections.get('.debug_str'), lineStr: sections.get('.debug_line_str') });
    table.sequences.sort((a, b) => a.start - b.start);
    return table;
  }

  get isEmpty(): boolean {
    return this.sequences.length === 0;
  }

  private intern(path: string): number {
    let i = this.fileIndex.get(path);
    if (i === undefined) {
      i = this.files.length;
      this.files.push(path);
      this.fileIndex.set(path, i);
    }
    return i;
  }

  private parse(section: Uint8Array, strings: Strings): void {
    const r = new Reader(section);
    while (r.pos < section.length) {
      let unitLength = r.u32();
      let offsetSize = 4;
      if (unitLength === 0xffffffff) {
        unitLength = r.u64();
        offsetSize = 8;
      }
      const unitEnd = r.pos + unitLength;
      if (unitEnd > section.length) throw new DwarfError('a line program runs past the end of .debug_line');
      this.parseUnit(new Reader(section.subarray(0, unitEnd), r.pos), offsetSize, strings);
      r.pos = unitEnd;
    }
  }

  private parseUnit(r: Reader, offsetSize: number, strings: Strings): void {
    const version = r.u16();
    if (version < 2 || version > 5) throw new DwarfError(`DWARF line table version ${version} is not supported`);
    if (version >= 5) r.skip(2); // address_size, segment_selector_size
    const headerLength = r.uN(offsetSize);
    const programStart = r.pos + headerLength;
    const minInstLength = r.u8();
    if (version >= 4) r.u8(); // maximum_operations_per_instruction: 1 on x86
    const defaultIsStmt = r.u8() !== 0;
    const lineBase = r.i8();
    const lineRange = r.u8();
    const opcodeBase = r.u8();
    if (lineRange === 0) throw new DwarfError('line_range is 0');
    const opcodeLengths = [0];
    for (let i = 1; i < opcodeBase; i++) opcodeLengths.push(r.u8());

    const files: number[] = [];
    if (version >= 5) {
      const dirs = this.entryTable(r, offsetSize, strings).map((e) => e.path);
      for (const e of this.entryTable(r, offsetSize, strings)) {
        files.push(this.intern(joinPath(dirs[e.dir] ?? '', e.path)));
      }
    } else {
      const dirs = [''];
      for (let s = r.cstr(); s !== ''; s = r.cstr()) dirs.push(s);
      // DWARF 2-4 number files from 1; slot 0 is unused.
      files.push(-1);
      for (let s = r.cstr(); s !== ''; s = r.cstr()) {
        const dir = r.uleb();
        r.uleb();
        r.uleb();
        files.push(this.intern(joinPath(dirs[dir] ?? '', s)));
      }
    }
    r.pos = programStart;

    let address = 0;
    let file = 1;
    let line = 1;
    let column = 0;
    let isStmt = defaultIsStmt;
    let rows: LineRow[] = [];
    const emit = (): void => {
      rows.push({ address, file: files[file] ?? -1, line, column, isStmt });
    };
    const end = r.bytes.length;
    while (r.pos < end) {
      const op = r.u8();
      if (op >= opcodeBase) {
        const adjusted = op - opcodeBase;
        address += Math.floor(adjusted / lineRange) * minInstLength;
        line += lineBase + (adjusted % lineRange);
        emit();
        continue;
      }
      switch (op) {
        case 0: {
          const length = r.uleb();
          const next = r.pos + length;
          const sub = length > 0 ? r.u8() : 0;
          if (sub === 1) {
            if (rows.length > 0) this.sequences.push({ rows, start: rows[0].address, end: address });
            rows = [];
            address = 0;
            file = 1;
            line = 1;
            column = 0;
            isStmt = defaultIsStmt;
          } else if (sub === 2) {
            address = r.uN(length - 1);
          } else if (sub === 3) {
            files.push(this.intern(r.cstr()));
          }
          r.pos = next;
          break;
        }
        case 1:
          emit();
          break;
        case 2:
          address += r.uleb() * minInstLength;
          break;
        case 3:
          line += r.sleb();
          break;
        case 4:
          file = r.uleb();
          break;
        case 5:
          column = r.uleb();
          break;
        case 6:
          isStmt = !isStmt;
          break;
        case 8:
          address += Math.floor((255 - opcodeBase) / lineRange) * minInstLength;
          break;
        case 9:
          address += r.u16();
          break;
        case 7:
        case 10:
        case 11:
          break;
        default:
          for (let i = 0; i < (opcodeLengths[op] ?? 0); i++) r.uleb();
      }
    }
  }

  private entryTable(r: Reader, offsetSize: number, strings: Strings): { path: string; dir: number }[] {
    const formatCount = r.u8();
    const format: [number, number][] = [];
    for (let i = 0; i < formatCount; i++) format.push([r.uleb(), r.uleb()]);
    const count = r.uleb();
    const out: { path: string; dir: number }[] = [];
    for (let i = 0; i < count; i++) {
      let path = '';
      let dir = 0;
      for (const [content, form] of format) {
        const v = readForm(r, form, offsetSize, strings);
        if (content === DW_LNCT_path) path = String(v);
        else if (content === DW_LNCT_directory_index) dir = Number(v);
      }
      out.push({ path, dir });
    }
    return out;
  }

  /** The row covering `address`, if any sequence covers it. */
  lookup(address: number): SourceLocation | undefined {
    address >>>= 0;
    const seqs = this.sequences;
    let lo = 0;
    let hi = seqs.length - 1;
    let found: Sequence | undefined;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (seqs[mid].start <= address) {
        found = seqs[mid];
        lo = mid + 1;
      } else hi = mid - 1;
    }
    // Sequences may nest in odd images; fall back to a scan when the nearest start does not cover the address.
    if (!found || address >= found.end) found = seqs.find((s) => s.start <= address && address < s.end);
    if (!found) return undefined;
    const rows = found.rows;
    let best = -1;
    lo = 0;
    hi = rows.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (rows[mid].address <= address) {
        best = mid;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    if (best < 0) return undefined;
    // Several rows can share an address: the last statement row among them names the line (as debuggers show it).
    let chosen = rows[best];
    let isStmt = false;
    for (let i = best; i >= 0 && rows[i].address === chosen.address; i--) {
      if (rows[i].isStmt) {
        if (!isStmt) chosen = rows[i];
        isStmt = true;
        break;
      }
    }
    const file = this.files[chosen.file];
    if (file === undefined) return undefined;
    return { file, line: chosen.line, column: chosen.column, atRowStart: chosen.address === address, isStmt };
  }

  /** Indexes of files that name the same source as `path` (matched by trailing path components). */
  filesMatching(path: string): number[] {
    const want = path
      .replace(/\\/g, '/')
      .split('/')
      .filter((p) => p !== '' && p !== '.');
    const out: number[] = [];
    let bestScore = 0;
    this.files.forEach((f, i) => {
      const have = f
        .replace(/\\/g, '/')
        .split('/')
        .filter((p) => p !== '' && p !== '.');
      let score = 0;
      while (
        score < have.length &&
        score < want.length &&
        have[have.length - 1 - score] === want[want.length - 1 - score]
      ) {
        score++;
      }
      if (score === 0) return;
      if (score > bestScore) {
        bestScore = score;
        out.length = 0;
      }
      if (score === bestScore) out.push(i);
    });
    return out;
  }

  /**
   * Statement addresses of a source line: the first address of each run of rows of that line. When the line has
   * no code, the next line that has code within `search` lines is used. Returns the line actually used.
   */
  addressesForLine(
    files: readonly number[],
    line: number,
    search = 20,
  ): { line: number; addresses: number[] } | undefined {
    const fileSet = new Set(files);
    for (let candidate = line; candidate <= line + search; candidate++) {
      const addresses: number[] = [];
      for (const seq of this.sequences) {
        let previousMatched = false;
        for (const row of seq.rows) {
          const matches = fileSet.has(row.file) && row.line === candidate && row.isStmt;
          if (matches && !previousMatched && row.address < seq.end) addresses.push(row.address);
          if (row.address !== seq.end) previousMatched = fileSet.has(row.file) && row.line === candidate;
        }
      }
      if (addresses.length > 0) return { line: candidate, addresses: [...new Set(addresses)].sort((a, b) => a - b) };
    }
    return undefined;
  }
}
