/**
 * Generates the JavaScript of one translated block from decoded iced-x86 instructions.
 *
 * Conventions inside a block function:
 * - guest registers live in locals r0..r7 (loaded at entry, written back at every exit);
 * - lazy flags live in fo/fa/fb/fr (op, operands, result) and fl (the EFLAGS word), see flags.ts;
 * - values of 8/16-bit operands are zero-extended numbers, 32-bit values are int32;
 * - `k` is the index of the instruction being executed: a guest fault (a thrown GuestFault) is caught once per
 *   block, the locals are written back and EIP is set to that instruction's address. Every instruction performs
 *   all of its faulting accesses before it commits a register, so the state at a fault is the state at the start
 *   of the faulting instruction.
 * - `nx` is the EIP to continue at and `n` the number of instructions retired when the block exits.
 */
import type { Instruction } from 'iced-x86';
import { Code, FlowControl, MemorySize, MemorySizeExt, Mnemonic as M, OpKind, Register, RegisterExt } from 'iced-x86';
import { GPR } from './decoded';
import { CcOp, SIZE_INDEX } from './flags';
import { Flag } from './state';

export interface BlockMode {
  code32: boolean;
  stack32: boolean;
  protectedMode: boolean;
  vm86: boolean;
  cpl: number;
  /** Bit i set: segment i is flat (base 0, 4 GiB, read/write): no segmentation code is emitted for it. */
  flatMask: number;
  /** CR0.AM, EFLAGS.AC and CPL 3: misaligned data accesses raise #AC(0). */
  alignmentCheck: boolean;
}

export interface CompiledBlock {
  source: string;
  eips: number[];
  count: number;
  /** Instructions that the generated code hands to the interpreter. */
  helperInsns: number[];
  /**
   * The block ends in a branch its own code performs (or runs on without a block-ending instruction), not in an
   * instruction that the interpreter or a helper ends it with: such a block may be a member of a region.
   */
  inlineEnd: boolean;
}

/**
 * How a block is compiled as part of a region: its instruction indexes are offset by `kBase` in the region's
 * arrays, and `link` gives the region case of a block start EIP (undefined outside the region).
 */
export interface RegionPlacement {
  kBase: number;
  link: (eip: number) => number | undefined;
}

/** One member block compiled for a region. */
export interface RegionPart {
  body: string;
  usedRegs: number;
  writtenRegs: number;
  eips: number[];
}

type Size = 1 | 2 | 4;

/**
 * Block transitions a region makes inside one call before it returns to the block chain (which enters it again):
 * so that V8 optimizes a region as a function it calls often, rather than only on-stack in a long-running loop.
 */
const REGION_LINKS_PER_RUN = 256;

const MASK: Record<Size, number> = { 1: 0xff, 2: 0xffff, 4: -1 };
const SIGN: Record<Size, number> = { 1: 0x80, 2: 0x8000, 4: -0x80000000 };

/** SETcc and CMOVcc mnemonics (their condition is the instruction's conditionCode). */
const SETCC = new Set<number>();
const CMOVCC = new Set<number>();
for (const [name, value] of Object.entries(M)) {
  if (typeof value !== 'number') continue;
  const condition = /^(Set|Cmov)(o|no|b|ae|e|ne|be|a|s|ns|p|np|l|ge|le|g)$/.exec(name);
  if (condition) (condition[1] === 'Set' ? SETCC : CMOVCC).add(value);
}

function segIndex(reg: Register): number {
  return reg - Register.ES;
}

function hex(v: number): string {
  return '0x' + (v >>> 0).toString(16);
}

/** Which instruction endings the translator must stop a block at. */
export function endsBlock(insn: Instruction): boolean {
  if (insn.flowControl !== FlowControl.Next) return true;
  switch (insn.mnemonic) {
    case M.Mov:
      return (
        insn.op0Kind === OpKind.Register &&
        (RegisterExt.isSegmentRegister(insn.op0Register) ||
          RegisterExt.isCR(insn.op0Register) ||
          RegisterExt.isDR(insn.op0Register))
      );
    case M.Pop:
      return insn.op0Kind === OpKind.Register && RegisterExt.isSegmentRegister(insn.op0Register);
    case M.Lds:
    case M.Les:
    case M.Lfs:
    case M.Lgs:
    case M.Lss:
    case M.Lgdt:
    case M.Lidt:
    case M.Lldt:
    case M.Ltr:
    case M.Lmsw:
    case M.Clts:
    case M.Popf:
    case M.Popfd:
    case M.Sti:
    case M.Hlt:
    case M.In:
    case M.Out:
    case M.Insb:
    case M.Insw:
    case M.Insd:
    case M.Outsb:
    case M.Outsw:
    case M.Outsd:
    case M.Invlpg:
    case M.Wrmsr:
    case M.Invd:
    case M.Wbinvd:
    case M.Cpuid:
      return true;
    default:
      return false;
  }
}

/**
 * Assembles a region: member blocks compiled with compileForRegion, in one function whose loop switches on `pc`,
 * the member running. Guest registers and lazy flags stay in locals from entry to exit. After a member, the loop
 * does what the run loop's block chain does between blocks: it adds the retired instructions to icount, stops when
 * something asked to leave the chain (blockExit) or the budget is spent, and otherwise continues at the member
 * starting at the next EIP, if any. A fault anywhere rolls back to its instruction: E and KO give, for the
 * region-wide instruction index k, its EIP and its index within its block.
 */
export function assembleRegion(parts: readonly RegionPart[]): string {
  let used = 0;
  let written = 0;
  for (const part of parts) {
    used |= part.usedRegs;
    written |= part.writtenRegs;
  }
  const regs = [0, 1, 2, 3, 4, 5, 6, 7].filter((i) => used & (1 << i));
  const load = regs.map((i) => `r${i} = R[${i}]`).join(', ');
  const store = regs
    .filter((i) => written & (1 << i))
    .map((i) => `R[${i}] = r${i};`)
    .join(' ');
  const storeAll = regs.map((i) => `R[${i}] = r${i};`).join(' ');
  const loadAll = regs.map((i) => `r${i} = R[${i}];`).join(' ');
  const flagsOut = 'cpu.ccOp = fo; cpu.ccA = fa; cpu.ccB = fb; cpu.ccRes = fr; cpu.eflags = fl;';
  const flagsIn = 'fo = cpu.ccOp; fa = cpu.ccA; fb = cpu.ccB; fr = cpu.ccRes; fl = cpu.eflags;';
  const cases: string[] = [];
  const links: string[] = [];
  let kBase = 0;
  parts.forEach((part, j) => {
    const body = part.body
      .replaceAll('__SYNC_OUT__', `${storeAll} ${flagsOut}`)
      .replaceAll('__SYNC_IN__', `${loadAll} ${flagsIn}`);
    cases.push(`case ${j}: {\nk = ${kBase};\nbody: {\n${body}\n}\nbreak;\n}`);
    links.push(`case ${part.eips[0]}: pc = ${j}; continue region;`);
    kBase += part.eips.length;
  });
  return `let ${load ? load + ', ' : ''}fo = cpu.ccOp, fa = cpu.ccA, fb = cpu.ccB, fr = cpu.ccRes, fl = cpu.eflags;
let k = 0, nx = 0, n = 0, la = 0, e = 0, p = 0, sy = 0, t0 = 0, t1 = 0, t2 = 0, t3 = 0, t4 = 0, it = ${REGION_LINKS_PER_RUN};
const lim = cpu.icountLimit;
region: for (;;) {
try {
switch (pc) {
${cases.join('\n')}
}
} catch (err) { if (sy === 0) { ${store} ${flagsOut} } cpu.eip = E[k]; cpu.icount += KO[k]; h.fault(err); return; }
cpu.icount += n;
if (cpu.blockExit || cpu.icount >= lim) break region;
switch (nx) {
${links.join('\n')}
}
break region;
}
${store} ${flagsOut} cpu.eip = nx;
return pc;`;
}

/** Compiles one block. */
export class BlockCodegen {
  private out: string[] = [];
  private usedRegs = 0;
  private writtenRegs = 0;
  /** Statically known lazy-flag op (fo) at this point of the block, or -1 when unknown. */
  private knownOp = -1;
  private k = 0;
  private insn!: Instruction;
  private insns: readonly Instruction[] = [];
  private readonly eips: number[] = [];
  private readonly user: boolean;
  private ended = false;
  /** Indexes of instructions that run in the interpreter (their descriptors are kept with the block). */
  readonly helperInsns: number[] = [];
  /** The block ends with an instruction run by a helper (or always faults): see CompiledBlock.inlineEnd. */
  private helperEnded = false;
  private readonly kBase: number;

  constructor(
    private readonly mode: BlockMode,
    private readonly startEip: number,
    private readonly region?: RegionPlacement,
  ) {
    this.user = mode.cpl === 3;
    this.kBase = region?.kBase ?? 0;
  }

  // ---- registers ---------------------------------------------------------------------------------------------

  private useReg(index: number): string {
    this.usedRegs |= 1 << index;
    return 'r' + index;
  }

  private readReg(reg: Register): string {
    const info = GPR.get(reg);
    if (!info) throw new Error(`unsupported register ${Register[reg]}`);
    const r = this.useReg(info.index);
    if (info.size === 4) return r;
    if (info.size === 2) return `(${r} & 0xffff)`;
    return info.high ? `((${r} >> 8) & 0xff)` : `(${r} & 0xff)`;
  }

  private writeReg(reg: Register, value: string): void {
    const info = GPR.get(reg);
    if (!info) throw new Error(`unsupported register ${Register[reg]}`);
    this.writeRegIndex(info.index, info.size, info.high, value);
  }

  private writeRegIndex(index: number, size: Size, high: boolean, value: string): void {
    const r = this.useReg(index);
    this.writtenRegs |= 1 << index;
    if (size === 4) this.emit(`${r} = (${value}) | 0;`);
    else if (size === 2) this.emit(`${r} = (${r} & -65536) | ((${value}) & 0xffff);`);
    else if (high) this.emit(`${r} = (${r} & -65281) | (((${value}) & 0xff) << 8);`);
    else this.emit(`${r} = (${r} & -256) | ((${value}) & 0xff);`);
  }

  private emit(line: string): void {
    this.out.push(line);
  }

  // ---- memory ------------------------------------------------------------------------------------------------

  /** Effective address expression of the memory operand (offset within the segment). */
  private effectiveAddress(overrides?: Record<number, string>): string {
    const insn = this.insn;
    const parts: string[] = [];
    const base = insn.memoryBase;
    const index = insn.memoryIndex;
    const regExpr = (reg: Register): string => {
      const info = GPR.get(reg)!;
      const name = overrides?.[info.index] ?? this.useReg(info.index);
      return info.size === 2 ? `(${name} & 0xffff)` : name;
    };
    if (base !== Register.None) parts.push(regExpr(base));
    if (index !== Register.None) {
      const scale = insn.memoryIndexScale;
      parts.push(scale === 1 ? regExpr(index) : `(${regExpr(index)} << ${Math.log2(scale)})`);
    }
    const addr16 =
      (base !== Register.None && RegisterExt.size(base) === 2) ||
      (index !== Register.None && RegisterExt.size(index) === 2) ||
      (base === Register.None && index === Register.None && insn.memoryDisplSize === 2);
    const disp = Number(BigInt.asUintN(32, insn.memoryDisplacement));
    if (disp !== 0 || parts.length === 0) parts.push(addr16 ? hex(disp & 0xffff) : String(disp | 0));
    const sum = parts.join(' + ');
    return addr16 ? `((${sum}) & 0xffff)` : `((${sum}) | 0)`;
  }

  /** Emits `la = linear address` for an access of `size` bytes through segment `seg` at offset expression `ea`. */
  private linear(seg: number, ea: string, size: number, write: boolean): void {
    // A flat CS is flat for fetches and reads only: a write through CS is a #GP(0) that h.seg raises.
    if (this.mode.flatMask & (1 << seg) && !(seg === 1 && write)) this.emit(`la = ${ea};`);
    else this.emit(`la = h.seg(${seg}, ${ea}, ${size}, ${write ? 1 : 0});`);
  }

  private memLinear(size: number, write: boolean): void {
    this.linear(segIndex(this.insn.memorySegment), this.effectiveAddress(), size, write);
  }

  private tlbRead(): string {
    return this.user ? 'TRU' : 'TRS';
  }

  private tlbWrite(): string {
    return this.user ? 'TWU' : 'TWS';
  }

  private alignmentCheck(size: Size): void {
    if (this.mode.alignmentCheck && size > 1) this.emit(`if (la & ${size - 1}) h.raise(17, 0);`);
  }

  /** Emits a load of `size` bytes from linear address `la` into `target`. */
  private load(target: string, size: Size): void {
    this.alignmentCheck(size);
    const t = this.tlbRead();
    const eip = this.eips[this.k];
    if (size === 1) {
      this.emit(`e = ${t}[la >>> 12]; ${target} = (e & 1) ? h.rd(la, 1, ${eip}, ${this.k}) : ram[(e ^ la) >>> 0];`);
    } else {
      const get = size === 2 ? 'getUint16' : 'getInt32';
      this.emit(
        `e = ${t}[la >>> 12]; ${target} = ((e & 1) || (la & 4095) > ${4096 - size}) ? h.rd(la, ${size}, ${eip}, ${this.k}) : dv.${get}((e ^ la) >>> 0, true);`,
      );
    }
  }

  /** Emits a store of `value` (an already evaluated local) of `size` bytes to linear address `la`. */
  private store(value: string, size: Size): void {
    this.alignmentCheck(size);
    const t = this.tlbWrite();
    const eip = this.eips[this.k];
    if (size === 1) {
      this.emit(
        `e = ${t}[la >>> 12]; if (e & 1) h.wr(la, 1, ${value}, ${eip}, ${this.k}); else ram[(e ^ la) >>> 0] = ${value};`,
      );
    } else {
      const set = size === 2 ? 'setUint16' : 'setInt32';
      this.emit(
        `e = ${t}[la >>> 12]; if ((e & 1) || (la & 4095) > ${4096 - size}) h.wr(la, ${size}, ${value}, ${eip}, ${this.k}); else dv.${set}((e ^ la) >>> 0, ${value}, true);`,
      );
    }
  }

  /** Read for a read-modify-write: checks write access first; `p` keeps the RAM offset (or -1 for the slow path). */
  private loadForWrite(target: string, size: Size): void {
    this.alignmentCheck(size);
    const t = this.tlbWrite();
    const eip = this.eips[this.k];
    const get = size === 1 ? 'getUint8' : size === 2 ? 'getUint16' : 'getInt32';
    this.emit(
      `e = ${t}[la >>> 12]; if ((e & 1) || (la & 4095) > ${4096 - size}) { p = -1; ${target} = h.rdw(la, ${size}, ${eip}, ${this.k}); } else { p = (e ^ la) >>> 0; ${target} = dv.${get}(p, true); }`,
    );
  }

  private storeAfterLoad(value: string, size: Size): void {
    const eip = this.eips[this.k];
    const set = size === 1 ? 'setUint8' : size === 2 ? 'setUint16' : 'setInt32';
    this.emit(`if (p < 0) h.wr(la, ${size}, ${value}, ${eip}, ${this.k}); else dv.${set}(p, ${value}, true);`);
  }

  // ---- operands ----------------------------------------------------------------------------------------------

  private opSize(i: number): Size {
    const insn = this.insn;
    const kind = insn.opKind(i);
    if (kind === OpKind.Register) return RegisterExt.size(insn.opRegister(i)) as Size;
    if (kind === OpKind.Memory) return MemorySizeExt.size(insn.memorySize) as Size;
    throw new Error('operand has no size');
  }

  /** Expression for a non-memory source operand of the given size. */
  private immOrReg(i: number, size: Size): string {
    const insn = this.insn;
    switch (insn.opKind(i)) {
      case OpKind.Register:
        return this.readReg(insn.opRegister(i));
      case OpKind.Immediate8:
        return String(insn.immediate8);
      case OpKind.Immediate16:
        return String(insn.immediate16);
      case OpKind.Immediate32:
        return String(insn.immediate32 | 0);
      case OpKind.Immediate8to16:
        return String(insn.immediate8to16 & 0xffff);
      case OpKind.Immediate8to32:
        return String(insn.immediate8to32 | 0);
      case OpKind.Immediate8_2nd:
        return String(insn.immediate8_2nd);
      default:
        throw new Error(`unsupported operand kind ${OpKind[insn.opKind(i)]}`);
    }
    void size;
  }

  /** Loads operand i into `target` (memory reads happen here). */
  private readOperand(i: number, size: Size, target: string): void {
    if (this.insn.opKind(i) === OpKind.Memory) {
      this.memLinear(size, false);
      this.load(target, size);
    } else {
      this.emit(`${target} = ${this.immOrReg(i, size)};`);
    }
  }

  private get isMem0(): boolean {
    return this.insn.op0Kind === OpKind.Memory;
  }

  // ---- flags -------------------------------------------------------------------------------------------------

  private setLazy(op: CcOp, size: Size, a: string, b: string, res: string): void {
    const code = op + SIZE_INDEX[size];
    this.emit(`fo = ${code}; fa = ${a}; fb = ${b}; fr = ${res};`);
    this.knownOp = code;
  }

  /** Materialises EFLAGS into fl (fo becomes Eager). */
  private materialize(): void {
    if (this.knownOp === CcOp.Eager) return;
    this.emit(`if (fo !== 0) { fl = h.mat(fo, fa, fb, fr, fl); fo = 0; }`);
    this.knownOp = CcOp.Eager;
  }

  private carry(): string {
    const op = this.knownOp;
    if (op === CcOp.Eager) return '(fl & 1)';
    if (op > 0) {
      // Operands and results of 8- and 16-bit operations are kept zero-extended (see flags.ts carryOf).
      const u = (v: string): string => ((op & 3) === 2 ? `(${v} >>> 0)` : v);
      switch (op & ~3) {
        case CcOp.Logic:
          return '0';
        case CcOp.Add:
          return `(${u('fr')} < ${u('fa')} ? 1 : 0)`;
        case CcOp.Sub:
          return `(${u('fa')} < ${u('fb')} ? 1 : 0)`;
        case CcOp.Inc:
        case CcOp.Dec:
          return '(fb & 1)';
      }
    }
    return '(fo === 0 ? fl & 1 : h.cf(fo, fa, fb, fr))';
  }

  /**
   * True when the CF that INC or DEC at index k preserves is never observed: a later instruction of the block
   * overwrites CF before anything reads it, and nothing in between can fault or leave the block (which would
   * expose EFLAGS). Only register and immediate forms of a few instructions are considered.
   */
  private carryDeadAfter(k: number): boolean {
    for (let j = k + 1; j < this.insns.length; j++) {
      const insn = this.insns[j];
      for (let i = 0; i < insn.opCount; i++) {
        const kind = insn.opKind(i);
        if (kind === OpKind.Register) {
          if (!GPR.has(insn.opRegister(i))) return false;
        } else if (kind !== OpKind.Immediate8 && kind !== OpKind.Immediate16 && kind !== OpKind.Immediate32) {
          if (kind !== OpKind.Immediate8to16 && kind !== OpKind.Immediate8to32) return false;
        }
      }
      switch (insn.mnemonic) {
        case M.Add:
        case M.Sub:
        case M.And:
        case M.Or:
        case M.Xor:
        case M.Cmp:
        case M.Test:
          return true;
        case M.Inc:
        case M.Dec:
        case M.Mov:
          continue;
        default:
          return false;
      }
    }
    return false;
  }

  /** Boolean expression of condition code cc (0-15). */
  private condition(cc: number): string {
    const op = this.knownOp;
    const neg = (cc & 1) !== 0;
    const kind = cc >> 1;
    let expr: string | undefined;
    if (op > 0) {
      const size = ([1, 2, 4] as const)[op & 3];
      const base = op & ~3;
      const s = (v: string): string => (size === 4 ? v : size === 2 ? `((${v} << 16) >> 16)` : `((${v} << 24) >> 24)`);
      const u = (v: string): string => (size === 4 ? `(${v} >>> 0)` : v);
      const sign = size === 4 ? '(fr < 0)' : `((fr & ${SIGN[size]}) !== 0)`;
      if (base === CcOp.Sub) {
        expr = [
          undefined,
          `${u('fa')} < ${u('fb')}`,
          'fr === 0',
          `${u('fa')} <= ${u('fb')}`,
          sign,
          undefined,
          `${s('fa')} < ${s('fb')}`,
          `${s('fa')} <= ${s('fb')}`,
        ][kind];
      } else if (base === CcOp.Logic) {
        expr = ['false', 'false', 'fr === 0', 'fr === 0', sign, undefined, sign, `(fr === 0 || ${sign})`][kind];
      } else if (kind === 2) {
        expr = size === 4 ? 'fr === 0' : `(fr & ${MASK[size]}) === 0`;
      } else if (kind === 4) {
        expr = sign;
      }
    } else if (op === CcOp.Eager) {
      expr = [
        '(fl & 0x800) !== 0',
        '(fl & 1) !== 0',
        '(fl & 0x40) !== 0',
        '(fl & 0x41) !== 0',
        '(fl & 0x80) !== 0',
        '(fl & 4) !== 0',
        '((fl >> 7) & 1) !== ((fl >> 11) & 1)',
        '((fl & 0x40) !== 0 || ((fl >> 7) & 1) !== ((fl >> 11) & 1))',
      ][kind];
      if (expr) return neg ? `!(${expr})` : `(${expr})`;
    }
    if (expr === undefined) return `h.cond(${cc}, fo, fa, fb, fr, fl)`;
    return neg ? `!(${expr})` : `(${expr})`;
  }

  // ---- exits -------------------------------------------------------------------------------------------------

  /**
   * Leaves the block after the current instruction, continuing at `eip` (an expression). In a region, a branch to
   * a member block goes straight to its case when the run loop would have chained to it: nothing asked the
   * block chain to stop (blockExit) and the instruction budget is not spent.
   */
  private exitTo(eip: string, retired = this.k + 1): void {
    const target = this.region && /^\d+$/.test(eip) ? this.region.link(Number(eip)) : undefined;
    if (target !== undefined) {
      this.emit(
        `cpu.icount += ${retired}; nx = ${eip}; if (cpu.blockExit || cpu.icount >= lim || --it === 0) break region; pc = ${target}; continue region;`,
      );
      return;
    }
    this.emit(`nx = ${eip}; n = ${retired}; break body;`);
  }

  private nextEip(): number {
    return this.insn.nextIP32 & (this.mode.code32 ? -1 : 0xffff);
  }

  /** After an instruction whose slow-path access may ask to end the block (device access, code write). */
  private checkBlockExit(): void {
    this.emit(`if (cpu.blockExit) { nx = ${this.nextEip()}; n = ${this.k + 1}; break body; }`);
  }

  private endWith(eip: string): void {
    this.exitTo(eip);
    this.ended = true;
  }

  /** Sync locals to the CPU object before calling a helper that reads or writes architectural state. */
  /** Writes the locals back before a helper that works on the architectural state; `sy` tells the fault handler. */
  private syncOut(): void {
    this.emit('__SYNC_OUT__ sy = 1;');
  }

  private syncIn(): void {
    this.emit('__SYNC_IN__ sy = 0;');
    this.knownOp = -1;
  }

  // ---- stack -------------------------------------------------------------------------------------------------

  private espAfter(delta: number): string {
    const r = this.useReg(4);
    return this.mode.stack32 ? `((${r} + ${delta}) | 0)` : `((${r} & -65536) | ((${r} + ${delta}) & 0xffff))`;
  }

  private stackLinear(espExpr: string, size: number, write: boolean): void {
    const offset = this.mode.stack32 ? espExpr : `(${espExpr} & 0xffff)`;
    this.linear(2, offset, size, write);
  }

  /** Pushes `value` (a local or constant); ESP is committed after the store. */
  private push(value: string, size: Size): void {
    this.emit(`t3 = ${this.espAfter(-size)};`);
    this.stackLinear('t3', size, true);
    this.store(value, size);
    this.emit(`${this.useReg(4)} = t3;`);
    this.writtenRegs |= 1 << 4;
  }

  /** Reads the top of stack into target without changing ESP; returns the expression of the new ESP. */
  private peekStack(target: string, size: Size, offset = 0): void {
    this.stackLinear(offset ? this.espAfter(offset) : this.useReg(4), size, false);
    this.load(target, size);
  }

  private commitEsp(delta: number): void {
    this.emit(`${this.useReg(4)} = ${this.espAfter(delta)};`);
    this.writtenRegs |= 1 << 4;
  }

  // ---- main ----------------------------------------------------------------------------------------------------

  compile(insns: Instruction[]): CompiledBlock {
    this.generate(insns);
    return {
      source: this.assemble(insns.length),
      eips: this.eips,
      count: this.eips.length,
      helperInsns: this.helperInsns,
      inlineEnd: !this.helperEnded,
    };
  }

  /** Compiles the block as one case of a region (see RegionPlacement and assembleRegion). */
  compileForRegion(insns: Instruction[]): RegionPart {
    this.generate(insns);
    return { body: this.out.join('\n'), usedRegs: this.usedRegs, writtenRegs: this.writtenRegs, eips: this.eips };
  }

  private generate(insns: Instruction[]): void {
    this.insns = insns;
    for (const insn of insns) this.eips.push(insn.ip32 & (this.mode.code32 ? -1 : 0xffff));
    for (let i = 0; i < insns.length; i++) {
      this.k = i;
      this.insn = insns[i]!;
      if (i > 0) this.emit(`k = ${this.kBase + i};`);
      this.emit(`// ${i}: ${hex(this.eips[i])}`);
      this.instruction();
      if (this.ended) break;
    }
    if (!this.ended) this.exitTo(String(this.nextEip()), insns.length);
  }

  private assemble(count: number): string {
    const regs = [0, 1, 2, 3, 4, 5, 6, 7].filter((i) => this.usedRegs & (1 << i));
    const written = regs.filter((i) => this.writtenRegs & (1 << i));
    const load = regs.map((i) => `r${i} = R[${i}]`).join(', ');
    const store = written.map((i) => `R[${i}] = r${i};`).join(' ');
    const storeAll = regs.map((i) => `R[${i}] = r${i};`).join(' ');
    const flagsOut = 'cpu.ccOp = fo; cpu.ccA = fa; cpu.ccB = fb; cpu.ccRes = fr; cpu.eflags = fl;';
    const flagsIn = 'fo = cpu.ccOp; fa = cpu.ccA; fb = cpu.ccB; fr = cpu.ccRes; fl = cpu.eflags;';
    const loadAll = regs.map((i) => `r${i} = R[${i}];`).join(' ');
    const body = this.out
      .join('\n')
      .replaceAll('__SYNC_OUT__', `${storeAll} ${flagsOut}`)
      .replaceAll('__SYNC_IN__', `${loadAll} ${flagsIn}`);
    const selfLoop = body.includes(`nx = ${this.startEip}; n = ${count}; break body;`);
    const decl = `let ${load ? load + ', ' : ''}fo = cpu.ccOp, fa = cpu.ccA, fb = cpu.ccB, fr = cpu.ccRes, fl = cpu.eflags;\nlet k = 0, nx = 0, n = 0, la = 0, e = 0, p = 0, sy = 0, t0 = 0, t1 = 0, t2 = 0, t3 = 0, t4 = 0;`;
    const catchPart = `catch (err) { if (sy === 0) { ${store} ${flagsOut} } cpu.eip = E[k]; cpu.icount += k; h.fault(err); return; }`;
    if (selfLoop) {
      return `${decl}
for (;;) {
try {
body: {
${body}
}
} ${catchPart}
cpu.icount += n;
if (nx !== ${this.startEip} || cpu.icount >= cpu.icountLimit || cpu.blockExit) break;
k = 0;
}
${store} ${flagsOut} cpu.eip = nx;`;
    }
    return `${decl}
try {
body: {
${body}
}
} ${catchPart}
${store} ${flagsOut} cpu.eip = nx; cpu.icount += n;`;
  }

  private instruction(): void {
    const insn = this.insn;
    // iced stops decoding at 15 bytes: an instruction longer than that is #GP(0), not #UD (SDM 2.3.11).
    if (insn.isInvalid || insn.code === Code.INVALID) return this.raise(insn.length >= 15 ? 13 : 6);
    if (insn.hasLockPrefix) this.checkLock();
    const m = insn.mnemonic;
    if (insn.isJccShortOrNear) return this.jcc();
    if (SETCC.has(m)) return this.setcc();
    if (CMOVCC.has(m)) return this.cmovcc();
    switch (m) {
      case M.Nop:
      case M.Pause:
      // 0F 18-0F 1F are hint NOPs on P6-family processors; CET's ENDBR32 lives there.
      case M.Reservednop:
      case M.Endbr32:
      case M.Endbr64:
      case M.Prefetchnta:
      case M.Prefetcht0:
      case M.Prefetcht1:
      case M.Prefetcht2:
        return;
      case M.Rdtsc:
        return this.rdtsc();
      case M.Mov:
        return this.mov();
      case M.Movzx:
      case M.Movsx:
        return this.movExtend(m === M.Movsx);
      case M.Lea:
        return this.writeReg(insn.op0Register, this.effectiveAddress());
      case M.Add:
        return this.alu(CcOp.Add);
      case M.Or:
        return this.alu(CcOp.Logic, '|');
      case M.Adc:
        return this.alu(CcOp.Adc);
      case M.Sbb:
        return this.alu(CcOp.Sbb);
      case M.And:
        return this.alu(CcOp.Logic, '&');
      case M.Sub:
        return this.alu(CcOp.Sub);
      case M.Xor:
        return this.alu(CcOp.Logic, '^');
      case M.Cmp:
        return this.alu(CcOp.Sub, undefined, false);
      case M.Test:
        return this.alu(CcOp.Logic, '&', false);
      case M.Inc:
      case M.Dec:
        return this.incDec(m === M.Inc);
      case M.Neg:
        return this.unary('neg');
      case M.Not:
        return this.unary('not');
      case M.Push:
        return this.pushInsn();
      case M.Pop:
        return this.popInsn();
      case M.Jmp:
        return this.jmp();
      case M.Call:
        return this.call();
      case M.Ret:
        return this.ret();
      case M.Jcxz:
      case M.Jecxz:
      case M.Loop:
      case M.Loope:
      case M.Loopne:
        return this.loop();
      case M.Shl:
      case M.Sal:
      case M.Shr:
      case M.Sar:
        return this.shift();
      case M.Rol:
      case M.Ror:
      case M.Rcl:
      case M.Rcr:
        return this.rotate();
      case M.Xchg:
        return this.xchg();
      case M.Cdq:
        this.writeRegIndex(2, 4, false, `${this.useReg(0)} >> 31`);
        return;
      case M.Cwd:
        this.writeRegIndex(2, 2, false, `(${this.useReg(0)} << 16) >> 31`);
        return;
      case M.Cwde:
        this.writeRegIndex(0, 4, false, `(${this.useReg(0)} << 16) >> 16`);
        return;
      case M.Cbw:
        this.writeRegIndex(0, 2, false, `(${this.useReg(0)} << 24) >> 24`);
        return;
      case M.Imul:
        return this.imul();
      case M.Clc:
      case M.Stc:
      case M.Cmc:
        this.materialize();
        this.emit(m === M.Clc ? 'fl &= -2;' : m === M.Stc ? 'fl |= 1;' : 'fl ^= 1;');
        return;
      case M.Cld:
        this.emit(`fl &= ${~Flag.DF};`);
        return;
      case M.Std:
        this.emit(`fl |= ${Flag.DF};`);
        return;
      case M.Movsb:
      case M.Movsw:
      case M.Movsd:
      case M.Stosb:
      case M.Stosw:
      case M.Stosd:
      case M.Lodsb:
      case M.Lodsw:
      case M.Lodsd:
      case M.Cmpsb:
      case M.Cmpsw:
      case M.Cmpsd:
      case M.Scasb:
      case M.Scasw:
      case M.Scasd:
      case M.Insb:
      case M.Insw:
      case M.Insd:
      case M.Outsb:
      case M.Outsw:
      case M.Outsd:
        return this.stringOp();
      case M.Bswap:
        return this.writeReg(insn.op0Register, `h.bswap(${this.readReg(insn.op0Register)})`);
      case M.Leave:
        return this.leave();
      case M.Hlt:
        return this.helperEnd('hlt');
      default:
        return this.viaHelper();
    }
  }

  private checkLock(): void {
    // LOCK is valid only on read-modify-write forms with a memory destination (SDM vol. 2, LOCK); iced-x86
    // already reports other combinations as invalid.
  }

  private raise(vector: number): void {
    this.emit(`h.raise(${vector});`);
    this.ended = true;
    this.helperEnded = true;
  }

  // ---- instruction groups ------------------------------------------------------------------------------------

  private mov(): void {
    const insn = this.insn;
    const k0 = insn.op0Kind;
    const k1 = insn.op1Kind;
    if (
      k0 === OpKind.Register &&
      (RegisterExt.isSegmentRegister(insn.op0Register) ||
        RegisterExt.isCR(insn.op0Register) ||
        RegisterExt.isDR(insn.op0Register))
    )
      return this.viaHelper();
    if (
      k1 === OpKind.Register &&
      (RegisterExt.isSegmentRegister(insn.op1Register) ||
        RegisterExt.isCR(insn.op1Register) ||
        RegisterExt.isDR(insn.op1Register) ||
        RegisterExt.isTR(insn.op1Register))
    )
      return this.viaHelper();
    if (k0 === OpKind.Register && RegisterExt.isTR(insn.op0Register)) return this.viaHelper();
    const size = this.opSize(k0 === OpKind.Memory ? 0 : 0);
    if (k0 === OpKind.Memory) {
      this.emit(`t0 = ${this.immOrReg(1, size)};`);
      this.memLinear(size, true);
      this.store('t0', size);
      this.checkBlockExit();
    } else if (k1 === OpKind.Memory) {
      this.readOperand(1, size, 't0');
      this.writeReg(insn.op0Register, 't0');
      this.checkBlockExit();
    } else {
      this.writeReg(insn.op0Register, this.immOrReg(1, size));
    }
  }

  private movExtend(signed: boolean): void {
    const insn = this.insn;
    const srcSize = this.opSize(1);
    this.readOperand(1, srcSize, 't0');
    const shift = 32 - srcSize * 8;
    this.writeReg(insn.op0Register, signed ? `(t0 << ${shift}) >> ${shift}` : 't0');
    if (insn.op1Kind === OpKind.Memory) this.checkBlockExit();
  }

  private aluResult(op: CcOp, logic: string | undefined, size: Size, a: string, b: string, carry = 't4'): string {
    const wrap = (v: string): string => (size === 4 ? `(${v}) | 0` : `(${v}) & ${MASK[size]}`);
    switch (op) {
      case CcOp.Add:
        return wrap(`${a} + ${b}`);
      case CcOp.Sub:
        return wrap(`${a} - ${b}`);
      case CcOp.Adc:
        return wrap(`${a} + ${b} + ${carry}`);
      case CcOp.Sbb:
        return wrap(`${a} - ${b} - ${carry}`);
      default:
        return size === 4 ? `${a} ${logic} ${b}` : `(${a} ${logic} ${b}) & ${MASK[size]}`;
    }
  }

  private alu(op: CcOp, logic?: string, writeBack = true): void {
    const insn = this.insn;
    const size = this.opSize(0);
    this.readOperand(1, size, 't1');
    const carryIn = op === CcOp.Adc || op === CcOp.Sbb;
    if (this.isMem0) {
      this.memLinear(size, writeBack);
      if (writeBack) this.loadForWrite('t0', size);
      else this.load('t0', size);
      if (carryIn) this.emit(`t4 = ${this.carry()};`);
      this.emit(`t2 = ${this.aluResult(op, logic, size, 't0', 't1')};`);
      if (writeBack) this.storeAfterLoad('t2', size);
      this.setLazy(op, size, 't0', 't1', 't2');
      this.checkBlockExit();
      return;
    }
    this.emit(`t0 = ${this.readReg(insn.op0Register)};`);
    if (carryIn) this.emit(`t4 = ${this.carry()};`);
    const xorSelf =
      (logic === '^' || op === CcOp.Sub) && insn.op1Kind === OpKind.Register && insn.op1Register === insn.op0Register;
    this.emit(`t2 = ${xorSelf ? '0' : this.aluResult(op, logic, size, 't0', 't1')};`);
    if (writeBack) this.writeReg(insn.op0Register, 't2');
    this.setLazy(op, size, 't0', 't1', 't2');
    if (insn.op1Kind === OpKind.Memory) this.checkBlockExit();
  }

  private incDec(inc: boolean): void {
    const insn = this.insn;
    const size = this.opSize(0);
    const wrap = (v: string): string => (size === 4 ? `(${v}) | 0` : `(${v}) & ${MASK[size]}`);
    this.emit(`t4 = ${this.carryDeadAfter(this.k) ? '0' : this.carry()};`);
    if (this.isMem0) {
      this.memLinear(size, true);
      this.loadForWrite('t0', size);
      this.emit(`t2 = ${wrap(`t0 ${inc ? '+' : '-'} 1`)};`);
      this.storeAfterLoad('t2', size);
      this.setLazy(inc ? CcOp.Inc : CcOp.Dec, size, 't0', 't4', 't2');
      this.checkBlockExit();
      return;
    }
    this.emit(`t0 = ${this.readReg(insn.op0Register)};`);
    this.emit(`t2 = ${wrap(`t0 ${inc ? '+' : '-'} 1`)};`);
    this.writeReg(insn.op0Register, 't2');
    this.setLazy(inc ? CcOp.Inc : CcOp.Dec, size, 't0', 't4', 't2');
  }

  private unary(kind: 'neg' | 'not'): void {
    const insn = this.insn;
    const size = this.opSize(0);
    const result =
      kind === 'neg'
        ? size === 4
          ? '(-t0) | 0'
          : `(-t0) & ${MASK[size]}`
        : size === 4
          ? '~t0'
          : `(~t0) & ${MASK[size]}`;
    if (this.isMem0) {
      this.memLinear(size, true);
      this.loadForWrite('t0', size);
      this.emit(`t2 = ${result};`);
      this.storeAfterLoad('t2', size);
      if (kind === 'neg') this.setLazy(CcOp.Sub, size, '0', 't0', 't2');
      this.checkBlockExit();
      return;
    }
    this.emit(`t0 = ${this.readReg(insn.op0Register)};`);
    this.emit(`t2 = ${result};`);
    this.writeReg(insn.op0Register, 't2');
    if (kind === 'neg') this.setLazy(CcOp.Sub, size, '0', 't0', 't2');
  }

  private pushInsn(): void {
    const insn = this.insn;
    const k0 = insn.op0Kind;
    if (k0 === OpKind.Register && RegisterExt.isSegmentRegister(insn.op0Register)) {
      const size = (
        insn.code === Code.Pushd_ES ||
        insn.code === Code.Pushd_CS ||
        insn.code === Code.Pushd_SS ||
        insn.code === Code.Pushd_DS ||
        insn.code === Code.Pushd_FS ||
        insn.code === Code.Pushd_GS
          ? 4
          : 2
      ) as Size;
      this.emit(`t0 = cpu.seg[${segIndex(insn.op0Register)}].selector;`);
      // A 32-bit push of a segment register writes only the low 16 bits on P6-family processors (SDM PUSH).
      if (size === 4) {
        this.emit(`t3 = ${this.espAfter(-4)};`);
        this.stackLinear('t3', 4, true);
        this.store('t0', 2);
        this.emit(`${this.useReg(4)} = t3;`);
        this.writtenRegs |= 1 << 4;
      } else this.push('t0', 2);
      return;
    }
    const size: Size =
      k0 === OpKind.Register || k0 === OpKind.Memory
        ? this.opSize(0)
        : insn.code === Code.Pushw_imm8 || insn.code === Code.Push_imm16
          ? 2
          : 4;
    if (k0 === OpKind.Memory) {
      this.memLinear(size, false);
      this.load('t0', size);
    } else {
      this.emit(`t0 = ${this.immOrReg(0, size)};`);
    }
    this.push('t0', size);
    this.checkBlockExit();
  }

  private popInsn(): void {
    const insn = this.insn;
    if (insn.op0Kind === OpKind.Register && RegisterExt.isSegmentRegister(insn.op0Register)) return this.viaHelper();
    const size = this.opSize(0);
    this.peekStack('t0', size);
    if (insn.op0Kind === OpKind.Memory) {
      // The destination address is computed with ESP already incremented (SDM POP).
      this.emit(`t1 = ${this.espAfter(size)};`);
      this.linear(segIndex(insn.memorySegment), this.effectiveAddress({ 4: 't1' }), size, true);
      this.store('t0', size);
      this.commitEsp(size);
      this.checkBlockExit();
      return;
    }
    this.commitEsp(size);
    this.writeReg(insn.op0Register, 't0');
  }

  private branchTarget(): number {
    const insn = this.insn;
    return insn.op0Kind === OpKind.NearBranch16
      ? insn.nearBranch16
      : insn.nearBranch32 & (this.mode.code32 ? -1 : 0xffff);
  }

  /** CS limit check for a near branch target (SDM JMP: #GP(0) when the target is outside the CS limit). */
  private checkTarget(target: string): void {
    if (this.mode.flatMask & 2) return;
    this.emit(`h.checkCsLimit(${target});`);
  }

  private jmp(): void {
    const insn = this.insn;
    const k0 = insn.op0Kind;
    if (k0 === OpKind.NearBranch16 || k0 === OpKind.NearBranch32) {
      const target = this.branchTarget();
      this.checkTarget(String(target));
      // The translator continued the block at the target: the next instruction compiled is the one jumped to.
      if (this.k + 1 < this.eips.length && this.eips[this.k + 1] === target) return;
      return this.endWith(String(target));
    }
    if (k0 === OpKind.Register || k0 === OpKind.Memory) {
      if (insn.isJmpFarIndirect) return this.viaHelper();
      const size = this.opSize(0);
      this.readOperand(0, size, 't0');
      this.checkTarget('t0');
      return this.endWith(size === 2 ? 't0 & 0xffff' : 't0');
    }
    return this.viaHelper();
  }

  private jcc(): void {
    const target = this.branchTarget();
    this.emit(`if (${this.condition(this.insn.conditionCode - 1)}) {`);
    this.checkTarget(String(target));
    this.exitTo(String(target));
    this.emit('}');
    this.endWith(String(this.nextEip()));
  }

  private loop(): void {
    const insn = this.insn;
    const target = this.branchTarget();
    const addr32 = insn.op0Kind === OpKind.NearBranch32 ? this.addressSize32() : this.addressSize32();
    const cx = this.useReg(1);
    const m = insn.mnemonic;
    if (m === M.Jcxz || m === M.Jecxz) {
      this.emit(`t0 = ${m === M.Jecxz ? cx : `(${cx} & 0xffff)`};`);
      this.emit(`if (t0 === 0) {`);
    } else {
      this.emit(`t0 = ${addr32 ? `(${cx} - 1) | 0` : `(${cx} & -65536) | ((${cx} - 1) & 0xffff)`};`);
      this.emit(`${cx} = t0;`);
      this.writtenRegs |= 1 << 1;
      const zero = addr32 ? 't0 === 0' : '(t0 & 0xffff) === 0';
      const cond =
        m === M.Loop
          ? `!(${zero})`
          : m === M.Loope
            ? `!(${zero}) && ${this.condition(4)}`
            : `!(${zero}) && ${this.condition(5)}`;
      this.emit(`if (${cond}) {`);
    }
    this.checkTarget(String(target));
    this.exitTo(String(target));
    this.emit('}');
    this.endWith(String(this.nextEip()));
  }

  private addressSize32(): boolean {
    // LOOP/JCXZ use the address size (ECX vs CX); iced-x86 tells it through the Code.
    const c = this.insn.code;
    return [
      Code.Loop_rel8_32_ECX,
      Code.Loop_rel8_16_ECX,
      Code.Loope_rel8_32_ECX,
      Code.Loope_rel8_16_ECX,
      Code.Loopne_rel8_32_ECX,
      Code.Loopne_rel8_16_ECX,
      Code.Jecxz_rel8_32,
      Code.Jecxz_rel8_16,
    ].includes(c);
  }

  private call(): void {
    const insn = this.insn;
    const k0 = insn.op0Kind;
    if (k0 === OpKind.NearBranch16 || k0 === OpKind.NearBranch32) {
      const size: Size = k0 === OpKind.NearBranch32 ? 4 : 2;
      const target = this.branchTarget();
      this.checkTarget(String(target));
      this.emit(`t0 = ${this.nextEip()};`);
      this.push('t0', size);
      return this.endWith(String(target));
    }
    if ((k0 === OpKind.Register || k0 === OpKind.Memory) && !insn.isCallFarIndirect) {
      const size = this.opSize(0);
      this.readOperand(0, size, 't1');
      if (size === 2) this.emit('t1 &= 0xffff;');
      this.checkTarget('t1');
      this.emit(`t0 = ${this.nextEip()};`);
      this.push('t0', size);
      return this.endWith('t1');
    }
    return this.viaHelper();
  }

  private ret(): void {
    const insn = this.insn;
    const size: Size = insn.code === Code.Retnd || insn.code === Code.Retnd_imm16 ? 4 : 2;
    const extra = insn.op0Kind === OpKind.Immediate16 ? insn.immediate16 : 0;
    this.peekStack('t0', size);
    if (size === 2) this.emit('t0 &= 0xffff;');
    this.checkTarget('t0');
    this.commitEsp(size + extra);
    this.endWith('t0');
  }

  private setcc(): void {
    const cc = this.insn.conditionCode - 1;
    this.emit(`t0 = ${this.condition(cc)} ? 1 : 0;`);
    if (this.isMem0) {
      this.memLinear(1, true);
      this.store('t0', 1);
      this.checkBlockExit();
    } else this.writeReg(this.insn.op0Register, 't0');
  }

  private cmovcc(): void {
    const insn = this.insn;
    const size = this.opSize(0);
    // The source is read (and may fault) whether or not the condition holds (SDM CMOVcc).
    this.readOperand(1, size, 't0');
    this.emit(`if (${this.condition(insn.conditionCode - 1)}) {`);
    this.writeReg(insn.op0Register, 't0');
    this.emit('}');
    // A 32-bit CMOV with a false condition still clears nothing on a 32-bit CPU: the register is unchanged.
    if (insn.op1Kind === OpKind.Memory) this.checkBlockExit();
  }

  private shiftCount(): string {
    const insn = this.insn;
    if (insn.op1Kind === OpKind.Register) return `(${this.readReg(Register.CL)} & 31)`;
    if (insn.op1Kind === OpKind.Immediate8) return String(insn.immediate8 & 31);
    return '1';
  }

  private shift(): void {
    const insn = this.insn;
    const size = this.opSize(0);
    const m = insn.mnemonic;
    const count = this.shiftCount();
    const constCount = /^\d+$/.test(count) ? Number(count) : -1;
    if (constCount === 0) {
      // A zero count leaves flags and operand alone, but a memory operand is still accessed.
      if (this.isMem0) {
        this.memLinear(size, true);
        this.loadForWrite('t0', size);
        this.checkBlockExit();
      }
      return;
    }
    if (this.isMem0) {
      this.memLinear(size, true);
      this.loadForWrite('t0', size);
    } else this.emit(`t0 = ${this.readReg(insn.op0Register)};`);
    this.emit(`t1 = ${count};`);
    const kind = m === M.Shr ? 1 : m === M.Sar ? 2 : 0;
    const bits = size * 8;
    const signExt = size === 4 ? 't0' : `((t0 << ${32 - bits}) >> ${32 - bits})`;
    let result: string;
    if (kind === 0) result = size === 4 ? '(t0 << t1)' : `(t0 << t1) & ${MASK[size]}`;
    else if (kind === 1) result = size === 4 ? '(t0 >>> t1) | 0' : `(t0 >>> t1) & ${MASK[size]}`;
    else result = size === 4 ? '(t0 >> t1)' : `(${signExt} >> t1) & ${MASK[size]}`;
    if (constCount < 0) this.emit('if (t1 !== 0) {');
    this.emit(`t2 = ${result};`);
    if (this.isMem0) this.storeAfterLoad('t2', size);
    else this.writeReg(insn.op0Register, 't2');
    // Lazy flags: a zero CL count leaves the previous flag state (lazy or not) untouched.
    this.setLazy(([CcOp.Shl, CcOp.Shr, CcOp.Sar] as const)[kind], size, 't0', 't1', 't2');
    if (constCount < 0) {
      this.emit('}');
      if (this.isMem0) this.emit(`else if (p < 0) h.wr(la, ${size}, t0, ${this.eips[this.k]}, ${this.k});`);
      this.knownOp = -1;
    }
    if (this.isMem0) this.checkBlockExit();
  }

  private rotate(): void {
    const insn = this.insn;
    const size = this.opSize(0);
    const m = insn.mnemonic;
    const kind = m === M.Rol ? 0 : m === M.Ror ? 1 : m === M.Rcl ? 2 : 3;
    if (this.isMem0) {
      this.memLinear(size, true);
      this.loadForWrite('t0', size);
    } else this.emit(`t0 = ${this.readReg(insn.op0Register)};`);
    this.materialize();
    this.emit(`t2 = h.rotate(${kind}, ${size}, t0, ${this.shiftCount()}, fl); fl = h.flagsOut;`);
    if (this.isMem0) {
      this.storeAfterLoad('t2', size);
      this.checkBlockExit();
    } else this.writeReg(insn.op0Register, 't2');
  }

  private xchg(): void {
    const insn = this.insn;
    const size = this.opSize(0);
    if (insn.op0Kind === OpKind.Memory || insn.op1Kind === OpKind.Memory) {
      const regOp = insn.op0Kind === OpKind.Memory ? 1 : 0;
      const reg = insn.opRegister(regOp);
      this.memLinear(size, true);
      this.loadForWrite('t0', size);
      this.emit(`t1 = ${this.readReg(reg)};`);
      this.storeAfterLoad('t1', size);
      this.writeReg(reg, 't0');
      this.checkBlockExit();
      return;
    }
    this.emit(`t0 = ${this.readReg(insn.op0Register)}; t1 = ${this.readReg(insn.op1Register)};`);
    this.writeReg(insn.op0Register, 't1');
    this.writeReg(insn.op1Register, 't0');
  }

  private imul(): void {
    const insn = this.insn;
    if (insn.opCount === 1) return this.viaHelper();
    const size = this.opSize(0);
    this.readOperand(1, size, 't0');
    const b = insn.opCount === 3 ? this.immOrReg(2, size) : this.readReg(insn.op0Register);
    this.emit(`t1 = ${b};`);
    if (size === 4) {
      // The double product is exact below 2^53; above, it cannot equal an int32, which is the overflow case too.
      this.emit('t2 = Math.imul(t0, t1); t3 = (t0 | 0) * (t1 | 0) !== t2 ? 1 : 0;');
    } else {
      this.emit(
        't3 = ((t0 << 16) >> 16) * ((t1 << 16) >> 16); t2 = t3 & 0xffff; t3 = t3 !== (t3 << 16) >> 16 ? 1 : 0;',
      );
    }
    this.setLazy(CcOp.Mul, size, 't3', '0', 't2');
    this.writeReg(insn.op0Register, 't2');
    if (insn.op1Kind === OpKind.Memory) this.checkBlockExit();
  }

  private leave(): void {
    const size: Size = this.insn.code === Code.Leaved ? 4 : 2;
    const ebp = this.useReg(5);
    // ESP := EBP (or SP := BP), then pop EBP.
    this.emit(`t1 = ${this.mode.stack32 ? ebp : `(${this.useReg(4)} & -65536) | (${ebp} & 0xffff)`};`);
    this.stackLinear('t1', size, false);
    this.load('t0', size);
    this.emit(
      `${this.useReg(4)} = ${this.mode.stack32 ? `(t1 + ${size}) | 0` : `(t1 & -65536) | ((t1 + ${size}) & 0xffff)`};`,
    );
    this.writtenRegs |= 1 << 4;
    this.writeRegIndex(5, size, false, 't0');
  }

  private stringOp(): void {
    const insn = this.insn;
    // String instructions run in a helper over the CPU state: REP loops, DF, segment override, address size.
    this.syncOut();
    this.emit(`cpu.eip = ${this.eips[this.k]};`);
    this.emit(
      `t0 = h.string(${insn.code}, ${segIndex(insn.memorySegment === Register.None ? Register.DS : insn.memorySegment)}, ${this.stringAddress32() ? 1 : 0}, ${insn.hasRepePrefix ? 1 : insn.hasRepnePrefix ? 2 : 0}, ${this.nextEip()});`,
    );
    this.syncIn();
    this.emit(`if (t0 >= 0) { nx = cpu.eip; n = ${this.k} + t0; break body; }`);
    if (endsBlock(insn)) this.helperEnded = true;
  }

  private stringAddress32(): boolean {
    const insn = this.insn;
    for (let i = 0; i < insn.opCount; i++) {
      const kind = insn.opKind(i);
      if (kind === OpKind.MemorySegESI || kind === OpKind.MemorySegSI) return kind === OpKind.MemorySegESI;
      if (kind === OpKind.MemoryESEDI || kind === OpKind.MemoryESDI) return kind === OpKind.MemoryESEDI;
    }
    return this.mode.code32;
  }

  private helperEnd(name: string): void {
    this.syncOut();
    this.emit(`cpu.eip = ${this.eips[this.k]};`);
    this.emit(`h.${name}(${this.nextEip()});`);
    this.syncIn();
    this.endWith('cpu.eip');
    this.helperEnded = true;
  }

  /** RDTSC inline where CR4.TSD cannot fault it (CPL 0 or real mode); elsewhere the interpreter checks TSD. */
  private rdtsc(): void {
    if (this.mode.protectedMode && this.mode.cpl !== 0) return this.viaHelper();
    this.emit(`t0 = h.rdtsc(${this.k});`);
    this.writeReg(Register.EAX, 't0');
    this.writeReg(Register.EDX, 'cpu.msr.tscHigh');
  }

  /**
   * Instructions without inline code run in the interpreter (`h.exec`) over the architectural state: EIP is that
   * of the instruction, and the interpreter leaves EIP at the next instruction or the branch target.
   */
  private viaHelper(): void {
    const insn = this.insn;
    const hasMem = insn.opCount > 0 && [0, 1, 2].some((i) => i < insn.opCount && insn.opKind(i) === OpKind.Memory);
    if (hasMem) this.emit(`t0 = ${this.effectiveAddress()};`);
    this.syncOut();
    this.emit(`cpu.eip = ${this.eips[this.k]};`);
    this.emit(`h.exec(D[${this.kBase + this.k}], ${hasMem ? 't0' : '0'}, ${this.k});`);
    this.helperInsns.push(this.k);
    this.syncIn();
    if (endsBlock(insn)) {
      this.endWith('cpu.eip');
      this.helperEnded = true;
      return;
    }
    this.emit(`if (cpu.blockExit || cpu.eip !== ${this.nextEip()}) { nx = cpu.eip; n = ${this.k + 1}; break body; }`);
  }
}

export { MemorySize };
