/**
 * String instructions (MOVS, STOS, LODS, CMPS, SCAS, INS, OUTS) with REP/REPE/REPNE, the direction flag,
 * segment overrides on the source and 16- or 32-bit addressing. Registers are committed after every iteration,
 * so a fault in the middle of a REP leaves a restartable state (SDM 7.3.9.1).
 */
import { Code } from 'iced-x86';
import type { Cpu } from './cpu';
import { CcOp } from './flags';
import { Flag, Seg } from './state';

type Kind = 'movs' | 'stos' | 'lods' | 'cmps' | 'scas' | 'ins' | 'outs';
interface StringForm {
  kind: Kind;
  size: 1 | 2 | 4;
}

const FORMS = new Map<number, StringForm>();
for (const name of Object.keys(Code)) {
  const m = /^(Movs|Stos|Lods|Cmps|Scas|Ins|Outs)([bwd])_/.exec(name);
  if (!m) continue;
  const code = Code[name as keyof typeof Code] as number;
  FORMS.set(code, { kind: m[1].toLowerCase() as Kind, size: m[2] === 'b' ? 1 : m[2] === 'w' ? 2 : 4 });
}

/** Iterations done in one go before giving interrupts and the debugger a chance. */
const MAX_ITERATIONS = 4096;

export function runString(cpu: Cpu, code: number, seg: number, addr32: boolean, rep: number, nextEip: number): number {
  const form = FORMS.get(code);
  if (!form) throw new Error(`not a string instruction: ${Code[code]}`);
  const { kind, size } = form;
  const r = cpu.regs;
  const user = cpu.cpl === 3;
  const step = cpu.eflags & Flag.DF ? -size : size;
  const wrap = (v: number): number => (addr32 ? v | 0 : v & 0xffff);
  const setIndex = (i: number, v: number): void => {
    r[i] = addr32 ? v | 0 : (r[i] & -65536) | (v & 0xffff);
  };
  const counted = rep !== 0;
  const conditional = counted && (kind === 'cmps' || kind === 'scas');
  const io = kind === 'ins' || kind === 'outs';
  let iterations = 0;
  for (;;) {
    if (counted) {
      const count = addr32 ? r[1] : r[1] & 0xffff;
      if (count === 0) {
        cpu.eip = nextEip;
        return io ? 1 : -1;
      }
      if (iterations >= MAX_ITERATIONS) return 0;
    }
    const si = wrap(r[6]);
    const di = wrap(r[7]);
    switch (kind) {
      case 'movs': {
        const v = cpu.readLinear(cpu.segCheck(seg, si, size, false), size, user);
        cpu.writeLinear(cpu.segCheck(Seg.ES, di, size, true), size, v, user);
        setIndex(6, si + step);
        setIndex(7, di + step);
        break;
      }
      case 'stos': {
        const v = r[0] & (size === 4 ? -1 : size === 2 ? 0xffff : 0xff);
        cpu.writeLinear(cpu.segCheck(Seg.ES, di, size, true), size, v, user);
        setIndex(7, di + step);
        break;
      }
      case 'lods': {
        const v = cpu.readLinear(cpu.segCheck(seg, si, size, false), size, user);
        if (size === 4) r[0] = v;
        else if (size === 2) r[0] = (r[0] & -65536) | v;
        else r[0] = (r[0] & -256) | v;
        setIndex(6, si + step);
        break;
      }
      case 'cmps': {
        const a = cpu.readLinear(cpu.segCheck(seg, si, size, false), size, user);
        const b = cpu.readLinear(cpu.segCheck(Seg.ES, di, size, false), size, user);
        setCompare(cpu, size, a, b);
        setIndex(6, si + step);
        setIndex(7, di + step);
        break;
      }
      case 'scas': {
        const a = r[0] & (size === 4 ? -1 : size === 2 ? 0xffff : 0xff);
        const b = cpu.readLinear(cpu.segCheck(Seg.ES, di, size, false), size, user);
        setCompare(cpu, size, a, b);
        setIndex(7, di + step);
        break;
      }
      case 'ins': {
        const port = r[2] & 0xffff;
        const la = cpu.segCheck(Seg.ES, di, size, true);
        cpu.probeWrite(la, size, user);
        const v = cpu.portRead(port, size);
        cpu.writeLinear(la, size, v, user);
        setIndex(7, di + step);
        break;
      }
      case 'outs': {
        const v = cpu.readLinear(cpu.segCheck(seg, si, size, false), size, user);
        cpu.portWrite(r[2] & 0xffff, size, v);
        setIndex(6, si + step);
        break;
      }
    }
    iterations++;
    if (!counted) {
      cpu.eip = nextEip;
      return cpu.blockExit || io ? 1 : -1;
    }
    const remaining = addr32 ? (r[1] - 1) | 0 : (r[1] - 1) & 0xffff;
    r[1] = addr32 ? remaining : (r[1] & -65536) | remaining;
    if (conditional) {
      const zf = cpu.ccRes === 0;
      if ((rep === 1 && !zf) || (rep === 2 && zf)) {
        cpu.eip = nextEip;
        return cpu.blockExit ? 1 : -1;
      }
    }
    if (remaining === 0) {
      cpu.eip = nextEip;
      return cpu.blockExit || io ? 1 : -1;
    }
    if (cpu.blockExit) return 0;
  }
}

function setCompare(cpu: Cpu, size: 1 | 2 | 4, a: number, b: number): void {
  const res = size === 4 ? (a - b) | 0 : (a - b) & (size === 2 ? 0xffff : 0xff);
  if (cpu.ccOp === CcOp.Eager) {
    // keep eflags
  } else cpu.eflags = cpu.getEflags();
  cpu.ccOp = CcOp.Sub + (size === 1 ? 0 : size === 2 ? 1 : 2);
  cpu.ccA = size === 4 ? a | 0 : a;
  cpu.ccB = size === 4 ? b | 0 : b;
  cpu.ccRes = res;
}
