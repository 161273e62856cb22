/**
 * Runs instruction test vectors recorded on real silicon (see the vectors README): load the initial state,
 * execute exactly one instruction, compare with the final state.
 */
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { PhysicalAddressSpace } from '../bus/physical';
import { PortSpace } from '../bus/ports';
import { Cpu, RunExit } from '../cpu/cpu';
import { Cr0, Flag } from '../cpu/state';

type RegName = 'eax' | 'ebx' | 'ecx' | 'edx' | 'esi' | 'edi' | 'ebp' | 'esp' | 'eip' | 'eflags';

export interface Vector {
  name: string;
  form: string;
  bytes: number[];
  initial: { regs: Record<RegName, number>; sregs: Record<string, number>; ram: [number, number][] };
  final: { regs: Record<RegName, number>; ram: [number, number][] };
  exception: null | { vector: number; error_code?: number };
  flags_undefined_mask: number;
  undefined_regs: string[];
  undefined_ram: number[];
}

export interface VectorResult {
  name: string;
  form: string;
  ok: boolean;
  problems: string[];
}

const REG_INDEX: Record<string, number> = { eax: 0, ecx: 1, edx: 2, ebx: 3, esp: 4, ebp: 5, esi: 6, edi: 7 };

/** Linear regions of the vectors and where they live in our small physical RAM. */
const REGIONS = [
  { linear: 0x10000000, size: 0x2000, physical: 0x100000 },
  { linear: 0x20000000, size: 0x2000, physical: 0x102000 },
  { linear: 0x30000000, size: 0x12000, physical: 0x104000 },
];
const PAGE_DIRECTORY = 0x1000;
const PAGE_TABLES = 0x2000;

/** A CPU in flat 32-bit protected mode at CPL 3 with paging mapping the three vector regions. */
export class VectorMachine {
  readonly phys = new PhysicalAddressSpace(2 * 1024 * 1024);
  readonly cpu = new Cpu({ phys: this.phys, ports: new PortSpace() });
  private exception: { vector: number; errorCode: number | undefined } | undefined;

  constructor() {
    const view = this.phys.ramView;
    let table = 0;
    for (const region of REGIONS) {
      const pdeIndex = region.linear >>> 22;
      const pt = PAGE_TABLES + table++ * 0x1000;
      view.setUint32(PAGE_DIRECTORY + pdeIndex * 4, pt | 7, true);
      for (let off = 0; off < region.size; off += 0x1000) {
        const pteIndex = ((region.linear + off) >>> 12) & 0x3ff;
        view.setUint32(pt + pteIndex * 4, (region.physical + off) | 7, true);
      }
    }
    this.cpu.onException = (vector, errorCode) => {
      this.exception = { vector, errorCode };
      return true;
    };
  }

  private raised(): { vector: number; errorCode: number | undefined } | undefined {
    return this.exception;
  }

  private clearRegions(): void {
    for (const r of REGIONS) this.phys.debugWrite(r.physical, new Uint8Array(r.size));
  }

  run(v: Vector): VectorResult {
    const cpu = this.cpu;
    const problems: string[] = [];
    this.clearRegions();
    cpu.reset();
    cpu.cr3 = PAGE_DIRECTORY;
    cpu.cr0 = Cr0.PE | Cr0.PG | Cr0.ET | Cr0.NE;
    const sregs = v.initial.sregs;
    const flatCode = 0xc0fb; // present, DPL 3, code read/execute, 32-bit, 4 KiB granularity
    const flatData = 0xc0f3;
    cpu.seg[1].set(sregs.cs ?? 0x23, 0, 0xffffffff, flatCode);
    for (const [i, name] of [
      [0, 'es'],
      [2, 'ss'],
      [3, 'ds'],
      [4, 'fs'],
      [5, 'gs'],
    ] as const) {
      cpu.seg[i].set(sregs[name] ?? 0x2b, 0, 0xffffffff, flatData);
    }
    cpu.cpl = 3;
    cpu.segmentChanged();
    cpu.mmu.flushAll();
    const r = v.initial.regs;
    for (const [name, index] of Object.entries(REG_INDEX)) cpu.regs[index] = r[name as RegName] | 0;
    cpu.eip = r.eip | 0;
    cpu.setEflags(r.eflags, 0xffffffff);
    for (const [address, byte] of v.initial.ram) this.writeLinear(address, byte);
    this.exception = undefined;
    const exit = cpu.step();
    const raised = this.raised();
    if (exit === RunExit.Shutdown) problems.push(`machine stopped: ${cpu.stopReason.split('\n')[0]}`);

    if (v.exception) {
      if (!raised) problems.push(`expected exception ${v.exception.vector}, none raised`);
      else if (raised.vector !== v.exception.vector) {
        problems.push(`expected exception ${v.exception.vector}, got ${raised.vector}`);
      }
    } else if (raised) {
      problems.push(`unexpected exception ${raised.vector} (error code ${raised.errorCode ?? '-'})`);
    }
    const f = v.final.regs;
    for (const [name, index] of Object.entries(REG_INDEX)) {
      if (v.undefined_regs.includes(name)) continue;
      const ours = cpu.regs[index] >>> 0;
      if (ours !== f[name as RegName] >>> 0)
        problems.push(`${name} = ${hex(ours)}, expected ${hex(f[name as RegName])}`);
    }
    if (cpu.eip >>> 0 !== f.eip >>> 0) problems.push(`eip = ${hex(cpu.eip)}, expected ${hex(f.eip)}`);
    const flags = (cpu.getEflags() & ~Flag.RF) >>> 0;
    if (((flags ^ f.eflags) & ~v.flags_undefined_mask) >>> 0 !== 0) {
      problems.push(
        `eflags = ${hex(flags)}, expected ${hex(f.eflags)} (differs in ${hex((flags ^ f.eflags) & ~v.flags_undefined_mask)})`,
      );
    }
    const expected = new Map<number, number>(v.initial.ram);
    for (const [address, byte] of v.final.ram) expected.set(address, byte);
    for (const [address, byte] of expected) {
      if (v.undefined_ram.includes(address)) continue;
      const ours = this.readLinear(address);
      if (ours !== byte) problems.push(`[${hex(address)}] = ${hex(ours)}, expected ${hex(byte)}`);
    }
    return { name: v.name, form: v.form, ok: problems.length === 0, problems };
  }

  private physicalOf(linear: number): number {
    for (const region of REGIONS) {
      if (linear >= region.linear && linear < region.linear + region.size)
        return region.physical + (linear - region.linear);
    }
    throw new Error(`vector address ${hex(linear)} is outside the vector regions`);
  }

  private writeLinear(linear: number, byte: number): void {
    this.phys.debugWrite(this.physicalOf(linear), Uint8Array.of(byte));
  }

  private readLinear(linear: number): number {
    return this.phys.debugRead(this.physicalOf(linear), 1)[0];
  }
}

function hex(v: number): string {
  return '0x' + (v >>> 0).toString(16);
}

export function loadVectors(file: string): Vector[] {
  const raw = readFileSync(file);
  const text = file.endsWith('.gz') ? gunzipSync(raw).toString('utf8') : raw.toString('utf8');
  return JSON.parse(text) as Vector[];
}

/** Expands directories into their vector files (*.json.gz, *.json except index.json). */
export function vectorFiles(paths: string[]): string[] {
  const out: string[] = [];
  for (const p of paths) {
    if (statSync(p).isDirectory()) {
      for (const name of readdirSync(p).sort()) {
        if ((name.endsWith('.json.gz') || name.endsWith('.json')) && name !== 'index.json') out.push(join(p, name));
      }
    } else out.push(p);
  }
  return out;
}

export interface GroupSummary {
  group: string;
  passed: number;
  failed: number;
  failures: VectorResult[];
}

export function runVectorFile(machine: VectorMachine, file: string): GroupSummary {
  const group = file.replace(/^.*\//, '').replace(/\.json(\.gz)?$/, '');
  const summary: GroupSummary = { group, passed: 0, failed: 0, failures: [] };
  for (const v of loadVectors(file)) {
    const result = machine.run(v);
    if (result.ok) summary.passed++;
    else {
      summary.failed++;
      summary.failures.push(result);
    }
  }
  return summary;
}
