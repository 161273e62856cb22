/**
 * Assembles test programs with nasm at test time (`nasm -f bin`), caching the output by content hash in the OS
 * temporary directory. Returns the bytes and the symbol table from nasm's map file.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface Assembled {
  readonly bytes: Uint8Array;
  /** Labels (including local `.x` labels as `parent.x`) and `equ` constants. */
  readonly symbols: ReadonlyMap<string, number>;
  readonly org: number;
}

export interface AsmOptions {
  readonly bits: 16 | 32;
  readonly org: number;
}

const cacheDir = join(tmpdir(), 'mmiodbg-test-asm');

/** Assembles `source` (without `bits`/`org`, which the options supply). Throws with nasm's messages on errors. */
export function assemble(source: string, options: AsmOptions): Assembled {
  const text = `bits ${options.bits}\norg 0x${options.org.toString(16)}\n[map symbols out.map]\n${source}\n`;
  const hash = createHash('sha256').update(text).digest('hex').slice(0, 32);
  const dir = join(cacheDir, hash);
  const bin = join(dir, 'out.bin');
  const map = join(dir, 'out.map');
  if (!existsSync(bin) || !existsSync(map)) {
    mkdirSync(cacheDir, { recursive: true });
    const work = `${dir}.${process.pid}.tmp`;
    mkdirSync(work, { recursive: true });
    writeFileSync(join(work, 'in.asm'), text);
    try {
      execFileSync('nasm', ['-f', 'bin', '-o', 'out.bin', 'in.asm'], { cwd: work, stdio: 'pipe' });
    } catch (e) {
      const stderr = (e as { stderr?: Buffer }).stderr?.toString() ?? String(e);
      throw new Error(`nasm failed:\n${stderr}\n--- source ---\n${numbered(text)}`);
    }
    try {
      renameSync(work, dir);
    } catch {
      // Another process won the race: its result is identical.
    }
    if (!existsSync(bin)) throw new Error(`assembler cache: ${bin} missing`);
  }
  return { bytes: new Uint8Array(readFileSync(bin)), symbols: parseMap(readFileSync(map, 'utf8')), org: options.org };
}

function numbered(text: string): string {
  return text
    .split('\n')
    .map((l, i) => `${String(i + 1).padStart(4)} ${l}`)
    .join('\n');
}

/** Reads the symbol lines of a nasm map file: "value name" (no section) and "real virtual name" (sections). */
function parseMap(text: string): Map<string, number> {
  const symbols = new Map<string, number>();
  for (const line of text.split('\n')) {
    const m = /^\s*([0-9A-Fa-f]+)\s+(?:([0-9A-Fa-f]+)\s+)?([A-Za-z_.$?@][\w.$?@#~]*)\s*$/.exec(line);
    if (!m) continue;
    symbols.set(m[3], parseInt(m[2] ?? m[1], 16));
  }
  return symbols;
}
