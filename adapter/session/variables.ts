/**
 * The Variables view as a tree of nodes: the "Registers" scope (CPU state, decoded) and the "Devices" scope
 * (device → register → field, read with `peekRegister`, so showing them has no side effect on the device).
 */
import type { Cpu } from '../core/cpu/cpu';
import { Cr0 } from '../core/cpu/state';
import type { SegmentCache } from '../core/cpu/state';
import type { PcMachine } from '../core/machine/pc';
import type { FieldDescription, InspectableDevice, RegisterDescription } from '../core/regs/describe';
import { explainField, formatHex, getField, setField } from '../core/regs/describe';
import { invalidArgument } from './errors';

export interface VarNode {
  readonly name: string;
  value(): string;
  readonly type?: string;
  children?(): VarNode[];
  /** Changes the value; throws a SessionError when it cannot. */
  set?(value: bigint): void;
  readonly evaluateName?: string;
  readonly memoryReference?: string;
  /** For data breakpoints: the watchpoint target this node stands for. */
  readonly dataId?: string;
  readonly readOnlyReason?: string;
}

export function hex(value: number | bigint, bits = 32): string {
  const v = typeof value === 'bigint' ? value : BigInt(value >>> 0);
  return formatHex(v & ((1n << BigInt(bits)) - 1n), bits);
}

interface BitSpec {
  readonly name: string;
  readonly lsb: number;
  readonly width?: number;
  readonly doc: string;
}

const EFLAGS_BITS: BitSpec[] = [
  { name: 'CF', lsb: 0, doc: 'carry' },
  { name: 'PF', lsb: 2, doc: 'parity' },
  { name: 'AF', lsb: 4, doc: 'auxiliary carry' },
  { name: 'ZF', lsb: 6, doc: 'zero' },
  { name: 'SF', lsb: 7, doc: 'sign' },
  { name: 'TF', lsb: 8, doc: 'trap' },
  { name: 'IF', lsb: 9, doc: 'interrupt enable' },
  { name: 'DF', lsb: 10, doc: 'direction' },
  { name: 'OF', lsb: 11, doc: 'overflow' },
  { name: 'IOPL', lsb: 12, width: 2, doc: 'I/O privilege level' },
  { name: 'NT', lsb: 14, doc: 'nested task' },
  { name: 'RF', lsb: 16, doc: 'resume' },
  { name: 'VM', lsb: 17, doc: 'virtual-8086 mode' },
  { name: 'AC', lsb: 18, doc: 'alignment check' },
  { name: 'VIF', lsb: 19, doc: 'virtual interrupt' },
  { name: 'VIP', lsb: 20, doc: 'virtual interrupt pending' },
  { name: 'ID', lsb: 21, doc: 'CPUID available' },
];

const CR0_BITS: BitSpec[] = [
  { name: 'PE', lsb: 0, doc: 'protection enable' },
  { name: 'MP', lsb: 1, doc: 'monitor coprocessor' },
  { name: 'EM', lsb: 2, doc: 'emulation' },
  { name: 'TS', lsb: 3, doc: 'task switched' },
  { name: 'ET', lsb: 4, doc: 'extension type' },
  { name: 'NE', lsb: 5, doc: 'numeric error' },
  { name: 'WP', lsb: 16, doc: 'write protect' },
  { name: 'AM', lsb: 18, doc: 'alignment mask' },
  { name: 'NW', lsb: 29, doc: 'not write-through' },
  { name: 'CD', lsb: 30, doc: 'cache disable' },
  { name: 'PG', lsb: 31, doc: 'paging' },
];

const CR3_BITS: BitSpec[] = [
  { name: 'PWT', lsb: 3, doc: 'page-level write-through' },
  { name: 'PCD', lsb: 4, doc: 'page-level cache disable' },
  { name: 'PDB', lsb: 12, width: 20, doc: 'page directory base (physical page number)' },
];

const CR4_BITS: BitSpec[] = [
  { name: 'VME', lsb: 0, doc: 'virtual-8086 mode extensions' },
  { name: 'PVI', lsb: 1, doc: 'protected-mode virtual interrupts' },
  { name: 'TSD', lsb: 2, doc: 'time stamp disable' },
  { name: 'DE', lsb: 3, doc: 'debugging extensions' },
  { name: 'PSE', lsb: 4, doc: 'page size extensions' },
  { name: 'PAE', lsb: 5, doc: 'physical address extension' },
  { name: 'MCE', lsb: 6, doc: 'machine-check enable' },
  { name: 'PGE', lsb: 7, doc: 'page global enable' },
  { name: 'PCE', lsb: 8, doc: 'performance counter enable' },
  { name: 'OSFXSR', lsb: 9, doc: 'FXSAVE/FXRSTOR support' },
];

const DR7_BITS: BitSpec[] = [
  ...[0, 1, 2, 3].flatMap((i) => [
    { name: `L${i}`, lsb: i * 2, doc: `local enable DR${i}` },
    { name: `G${i}`, lsb: i * 2 + 1, doc: `global enable DR${i}` },
  ]),
  { name: 'GD', lsb: 13, doc: 'general detect' },
  ...[0, 1, 2, 3].flatMap((i) => [
    { name: `RW${i}`, lsb: 16 + i * 4, width: 2, doc: `DR${i} condition: 0 execute, 1 write, 2 I/O, 3 read/write` },
    { name: `LEN${i}`, lsb: 18 + i * 4, width: 2, doc: `DR${i} length: 0 1 byte, 1 2 bytes, 3 4 bytes` },
  ]),
];

function bitNodes(specs: readonly BitSpec[], get: () => number, set: (v: number) => void, prefix: string): VarNode[] {
  return specs.map((b) => {
    const width = b.width ?? 1;
    const mask = ((1 << width) - 1) << b.lsb;
    return {
      name: b.name,
      type: b.doc,
      evaluateName: `${prefix}.${b.name}`,
      value: () => {
        const v = (get() & mask) >>> b.lsb;
        return width === 1 ? String(v) : width > 4 ? hex(v, width) : String(v);
      },
      set: (value: bigint) => {
        const v = Number(value & BigInt((1 << width) - 1));
        set((get() & ~mask) | ((v << b.lsb) & mask));
      },
    };
  });
}

function summary(specs: readonly BitSpec[], value: number): string {
  const set = specs.filter((b) => (b.width ?? 1) === 1 && (value >>> b.lsb) & 1).map((b) => b.name);
  return set.join(' ');
}

// SDM vol. 3, 3.4.5.1: segment descriptor types.
const DATA_TYPES = ['RO', 'RO,A', 'RW', 'RW,A', 'RO,down', 'RO,down,A', 'RW,down', 'RW,down,A'];
const CODE_TYPES = ['XO', 'XO,A', 'XR', 'XR,A', 'XO,conf', 'XO,conf,A', 'XR,conf', 'XR,conf,A'];
const SYSTEM_TYPES: Record<number, string> = {
  1: '16-bit TSS (available)',
  2: 'LDT',
  3: '16-bit TSS (busy)',
  4: '16-bit call gate',
  5: 'task gate',
  6: '16-bit interrupt gate',
  7: '16-bit trap gate',
  9: '32-bit TSS (available)',
  11: '32-bit TSS (busy)',
  12: '32-bit call gate',
  14: '32-bit interrupt gate',
  15: '32-bit trap gate',
};

export function describeAccess(access: number): string {
  const type = access & 0xf;
  const s = (access >> 4) & 1;
  const kind = s
    ? type & 8
      ? `code ${CODE_TYPES[type & 7]}`
      : `data ${DATA_TYPES[type & 7]}`
    : (SYSTEM_TYPES[type] ?? `system type ${type}`);
  const parts = [kind, `DPL=${(access >> 5) & 3}`, access & 0x80 ? 'P' : 'not present'];
  if (s) parts.push(access & 0x4000 ? '32-bit' : '16-bit');
  if (access & 0x8000) parts.push('G=4K');
  return parts.join(', ');
}

function segmentNode(name: string, cache: SegmentCache, prefix: string): VarNode {
  return {
    name,
    value: () => `${hex(cache.selector, 16)} (base ${hex(cache.base)}, limit ${hex(cache.limit)})`,
    evaluateName: prefix,
    readOnlyReason: 'segment registers are loaded by the guest; change them with guest code',
    children: () => [
      { name: 'selector', value: () => hex(cache.selector, 16) },
      { name: 'index', value: () => String(cache.selector >> 3), type: 'descriptor table index' },
      { name: 'TI', value: () => (cache.selector & 4 ? '1 (LDT)' : '0 (GDT)') },
      { name: 'RPL', value: () => String(cache.selector & 3) },
      { name: 'base', value: () => hex(cache.base), memoryReference: hex(cache.base) },
      { name: 'limit', value: () => hex(cache.limit) },
      { name: 'access', value: () => `${hex(cache.access, 16)} (${describeAccess(cache.access)})` },
      { name: 'valid', value: () => (cache.valid ? 'yes' : 'no (null selector)') },
    ],
  };
}

const GP_NAMES = ['eax', 'ecx', 'edx', 'ebx', 'esp', 'ebp', 'esi', 'edi'];
const SEG_NAMES = ['es', 'cs', 'ss', 'ds', 'fs', 'gs'];

/** A CPU register by name, for evaluate and setVariable; undefined when the name is not a register. */
export interface CpuRegisterAccess {
  readonly bits: number;
  get(): bigint;
  set?(value: bigint): void;
}

export function cpuRegister(cpu: Cpu, rawName: string): CpuRegisterAccess | undefined {
  const name = rawName.toLowerCase();
  const gp = GP_NAMES.indexOf(name);
  if (gp >= 0) {
    return {
      bits: 32,
      get: () => BigInt(cpu.regs[gp] >>> 0),
      set: (v) => {
        cpu.regs[gp] = Number(v & 0xffffffffn) | 0;
      },
    };
  }
  const gp16 = GP_NAMES.indexOf('e' + name);
  if (name.length === 2 && gp16 >= 0) {
    return {
      bits: 16,
      get: () => BigInt(cpu.regs[gp16] & 0xffff),
      set: (v) => {
        cpu.regs[gp16] = (cpu.regs[gp16] & ~0xffff) | Number(v & 0xffffn);
      },
    };
  }
  const byteRegs = ['al', 'cl', 'dl', 'bl', 'ah', 'ch', 'dh', 'bh'];
  const b = byteRegs.indexOf(name);
  if (b >= 0) {
    const shift = b >= 4 ? 8 : 0;
    const r = b & 3;
    return {
      bits: 8,
      get: () => BigInt((cpu.regs[r] >>> shift) & 0xff),
      set: (v) => {
        cpu.regs[r] = (cpu.regs[r] & ~(0xff << shift)) | (Number(v & 0xffn) << shift);
      },
    };
  }
  const seg = SEG_NAMES.indexOf(name);
  if (seg >= 0) return { bits: 16, get: () => BigInt(cpu.seg[seg].selector) };
  switch (name) {
    case 'eip':
      return {
        bits: 32,
        get: () => BigInt(cpu.eip >>> 0),
        set: (v) => {
          cpu.eip = Number(v & 0xffffffffn) | 0;
        },
      };
    case 'eflags':
      return {
        bits: 32,
        get: () => BigInt(cpu.getEflags() >>> 0),
        set: (v) => cpu.setEflags(Number(v & 0xffffffffn), 0xffffffff),
      };
    case 'cr0':
      return { bits: 32, get: () => BigInt(cpu.cr0 >>> 0), set: (v) => writeCr0(cpu, Number(v & 0xffffffffn)) };
    case 'cr2':
      return {
        bits: 32,
        get: () => BigInt(cpu.cr2 >>> 0),
        set: (v) => {
          cpu.cr2 = Number(v & 0xffffffffn) | 0;
        },
      };
    case 'cr3':
      return {
        bits: 32,
        get: () => BigInt(cpu.cr3 >>> 0),
        set: (v) => {
          cpu.cr3 = Number(v & 0xfffff018n) | 0;
          pagingChanged(cpu);
        },
      };
    case 'cr4':
      return {
        bits: 32,
        get: () => BigInt(cpu.cr4 >>> 0),
        set: (v) => {
          cpu.cr4 = Number(v & 0x3ffn) | 0;
          pagingChanged(cpu);
        },
      };
  }
  const dr = /^dr([0-7])$/.exec(name);
  if (dr) {
    const i = Number(dr[1]);
    return {
      bits: 32,
      get: () => BigInt(cpu.dr[i] >>> 0),
      set: (v) => {
        cpu.dr[i] = Number(v & 0xffffffffn) | 0;
        cpu.debugRegistersChanged();
      },
    };
  }
  return undefined;
}

function pagingChanged(cpu: Cpu): void {
  cpu.mmu.flushAll();
  cpu.translator.flushSuccessors();
}

function writeCr0(cpu: Cpu, value: number): void {
  value |= Cr0.ET;
  if (value & Cr0.PG && !(value & Cr0.PE)) throw invalidArgument('CR0.PG needs CR0.PE');
  const changed = cpu.cr0 ^ value;
  cpu.cr0 = value | 0;
  if (changed & (Cr0.PG | Cr0.WP | Cr0.PE)) pagingChanged(cpu);
  if (changed & Cr0.PE) {
    if (!(value & Cr0.PE)) cpu.cpl = 0;
    cpu.segmentChanged();
  }
}

function registerNode(
  cpu: Cpu,
  name: string,
  label = name.toUpperCase(),
  bits?: readonly BitSpec[],
  extra?: (v: number) => string,
): VarNode {
  const access = cpuRegister(cpu, name);
  if (!access) throw new Error(`internal: no CPU register ${name}`);
  const get = (): number => Number(access.get());
  const set = access.set;
  return {
    name: label,
    evaluateName: name,
    value: () => {
      const v = get();
      const parts = [hex(v, access.bits)];
      if (bits) parts.push(`[${summary(bits, v)}]`);
      const more = extra?.(v);
      if (more) parts.push(more);
      return parts.join(' ');
    },
    ...(set ? { set } : {}),
    ...(bits && set ? { children: () => bitNodes(bits, get, (v) => set(BigInt(v >>> 0)), name) } : {}),
  };
}

function fpuNodes(cpu: Cpu): VarNode[] {
  const fpu = cpu.fpu;
  const tags = ['valid', 'zero', 'special', 'empty'];
  const nodes: VarNode[] = [];
  for (let i = 0; i < 8; i++) {
    nodes.push({
      name: `ST${i}`,
      evaluateName: `st${i}`,
      value: () => (fpu.isEmpty(i) ? 'empty' : String(fpu.st(i))),
      set: (v) => fpu.setSt(i, Number(v)),
    });
  }
  nodes.push(
    {
      name: 'FCW',
      value: () => {
        const cw = fpu.controlWord;
        const pc = ['single', 'reserved', 'double', 'extended'][(cw >> 8) & 3];
        const rc = ['nearest', 'down', 'up', 'toward zero'][(cw >> 10) & 3];
        return `${hex(cw, 16)} (masks ${hex(cw & 0x3f, 8)}, precision ${pc}, rounding ${rc})`;
      },
      set: (v) => {
        fpu.controlWord = Number(v & 0xffffn);
      },
    },
    {
      name: 'FSW',
      value: () => {
        const sw = fpu.statusWord;
        const flags = ['IE', 'DE', 'ZE', 'OE', 'UE', 'PE', 'SF', 'ES'].filter((_, b) => (sw >> b) & 1);
        const cc = [8, 9, 10, 14].map((b, k) => ((sw >> b) & 1 ? `C${k}` : '')).filter((s) => s);
        return `${hex(sw, 16)} (TOP=${(sw >> 11) & 7}${flags.length ? ' ' + flags.join(' ') : ''}${cc.length ? ' ' + cc.join(' ') : ''})`;
      },
    },
    {
      name: 'FTW',
      value: () => {
        const tw = fpu.tagWord;
        const list = [0, 1, 2, 3, 4, 5, 6, 7].map((p) => `R${p}=${tags[(tw >> (2 * p)) & 3]}`);
        return `${hex(tw, 16)} (${list.join(', ')})`;
      },
    },
  );
  return nodes;
}

export function registersScope(cpu: Cpu, symbolize: (address: number) => string | undefined): VarNode[] {
  const nodes: VarNode[] = GP_NAMES.map((n) => registerNode(cpu, n));
  nodes.push(
    registerNode(cpu, 'eip', 'EIP', undefined, (v) => {
      const s = symbolize((cpu.seg[1].base + v) | 0);
      return s ? `<${s}>` : '';
    }),
  );
  nodes.push(registerNode(cpu, 'eflags', 'EFLAGS', EFLAGS_BITS, (v) => `IOPL=${(v >> 12) & 3}`));
  SEG_NAMES.forEach((n, i) => nodes.push(segmentNode(n.toUpperCase(), cpu.seg[i], n)));
  nodes.push(registerNode(cpu, 'cr0', 'CR0', CR0_BITS));
  nodes.push(registerNode(cpu, 'cr2', 'CR2'));
  nodes.push(registerNode(cpu, 'cr3', 'CR3', CR3_BITS));
  nodes.push(registerNode(cpu, 'cr4', 'CR4', CR4_BITS));
  for (let i = 0; i < 8; i++) {
    if (i === 4 || i === 5) continue;
    nodes.push(registerNode(cpu, `dr${i}`, `DR${i}`, i === 7 ? DR7_BITS : undefined));
  }
  for (const [label, table] of [
    ['GDTR', cpu.gdtr],
    ['IDTR', cpu.idtr],
  ] as const) {
    nodes.push({
      name: label,
      value: () => `base ${hex(table.base)}, limit ${hex(table.limit, 16)}`,
      memoryReference: hex(table.base),
      children: () => [
        { name: 'base', value: () => hex(table.base), memoryReference: hex(table.base) },
        { name: 'limit', value: () => hex(table.limit, 16) },
      ],
    });
  }
  nodes.push(segmentNode('LDTR', cpu.ldtr, 'ldtr'), segmentNode('TR', cpu.tr, 'tr'));
  nodes.push({ name: 'CPL', value: () => String(cpu.cpl) });
  nodes.push({ name: 'x87', value: () => `TOP=${cpu.fpu.top}`, children: () => fpuNodes(cpu) });
  return nodes;
}

// ---- devices ----------------------------------------------------------------------------------------------------

export function fieldText(field: FieldDescription, value: bigint): string {
  const v = getField(value, field);
  const shown = field.format === 'dec' || field.msb === field.lsb ? v.toString() : '0x' + v.toString(16);
  const meaning = explainField(field, v);
  return meaning === undefined ? shown : `${shown} (${meaning})`;
}

export function registerDataId(device: InspectableDevice, register: RegisterDescription): string | undefined {
  return register.internal ? undefined : `${device.description.name}.${register.name}`;
}

export function deviceRegisterNode(device: InspectableDevice, register: RegisterDescription): VarNode {
  const d = device.description;
  const peek = (): bigint => device.peekRegister(register);
  const at = d.base + register.offset;
  const where = register.internal ? 'internal' : d.space === 'pio' ? `port ${hex(at, 16)}` : hex(at);
  const dataId = registerDataId(device, register);
  const registerReadOnly = register.access === 'RO' || register.access === 'RSVD';
  return {
    name: register.name,
    type: `${register.access} ${register.width}-bit ${where}: ${register.doc}`,
    evaluateName: `${d.name}.${register.name}`,
    value: () => hex(peek(), register.width),
    ...(dataId !== undefined ? { dataId } : {}),
    ...(d.space === 'mmio' && !register.internal ? { memoryReference: `phys:${hex(at)}` } : {}),
    ...(registerReadOnly
      ? { readOnlyReason: `${d.name}.${register.name} is read-only (${register.access})` }
      : { set: (v: bigint) => device.pokeRegister(register, v & ((1n << BigInt(register.width)) - 1n), 'debugger') }),
    children: () => register.fields.map((f) => fieldNode(device, register, f)),
  };
}

function fieldNode(device: InspectableDevice, register: RegisterDescription, field: FieldDescription): VarNode {
  const d = device.description;
  const bits = field.msb === field.lsb ? `bit ${field.lsb}` : `bits ${field.msb}:${field.lsb}`;
  const writable = field.access !== 'RO' && field.access !== 'RSVD';
  return {
    name: field.name,
    type: `${field.access} ${bits}: ${field.doc}`,
    evaluateName: `${d.name}.${register.name}.${field.name}`,
    value: () => fieldText(field, device.peekRegister(register)),
    ...(writable
      ? {
          set: (v: bigint) => {
            const max = (1n << BigInt(field.msb - field.lsb + 1)) - 1n;
            if (v < 0n || v > max) throw invalidArgument(`${field.name} holds 0 to ${max}, not ${v}`);
            device.pokeRegister(register, setField(device.peekRegister(register), field, v), 'debugger');
          },
        }
      : { readOnlyReason: `${d.name}.${register.name}.${field.name} is read-only (${field.access})` }),
  };
}

export function devicesScope(machine: PcMachine): VarNode[] {
  return machine.devices.map((device) => {
    const d = device.description;
    const where =
      d.space === 'pio' ? `ports ${hex(d.base, 16)}-${hex(d.base + d.size - 1, 16)}` : `MMIO ${hex(d.base)}`;
    return {
      name: d.name,
      type: d.title,
      value: () => `${d.title}, ${where}`,
      children: () => d.registers.map((r) => deviceRegisterNode(device, r)),
    };
  });
}
