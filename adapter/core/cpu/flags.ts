/**
 * Lazy status flags. Arithmetic instructions record what they did (operation, operands, result) instead of
 * computing EFLAGS; a flag is computed only when something reads it. `CcOp.Eager` means the status flags are
 * in the eflags word itself.
 *
 * Operands and results are kept masked to the operation size for 8- and 16-bit operations and as int32 for
 * 32-bit ones. The size is the low two bits of the op (0 = byte, 1 = word, 2 = dword).
 */
import { ARITH_FLAGS, Flag } from './state';

export const enum CcOp {
  Eager = 0,
  Add = 4,
  Adc = 8,
  Sub = 12,
  Sbb = 16,
  Logic = 20,
  /** b = the CF before the INC (INC and DEC preserve CF). */
  Inc = 24,
  Dec = 28,
  /** SHL, SHR, SAR by a non-zero masked count: a = the value shifted, b = the count, res = the result. */
  Shl = 32,
  Shr = 36,
  Sar = 40,
  /** IMUL r, r/m(, imm): a = 1 when the product did not fit (CF = OF = a), res = the truncated product. */
  Mul = 44,
}

export const SIZE_INDEX: Record<1 | 2 | 4, number> = { 1: 0, 2: 1, 4: 2 };
const MASK = [0xff, 0xffff, 0xffffffff];
const SIGN = [0x80, 0x8000, 0x80000000];

export const PARITY = new Uint8Array(256);
for (let i = 0; i < 256; i++) {
  let bits = 0;
  for (let v = i; v; v >>= 1) bits += v & 1;
  PARITY[i] = bits % 2 === 0 ? Flag.PF : 0;
}

export function carryOf(op: number, a: number, b: number, res: number): number {
  const m = MASK[op & 3];
  const ua = (a & m) >>> 0;
  const ub = (b & m) >>> 0;
  const ur = (res & m) >>> 0;
  switch (op & ~3) {
    case CcOp.Add:
      return ur < ua ? 1 : 0;
    case CcOp.Adc:
      return ((ur - ua - ub) & m) !== 0 ? (ur <= ua ? 1 : 0) : ur < ua ? 1 : 0;
    case CcOp.Sub:
      return ua < ub ? 1 : 0;
    case CcOp.Sbb:
      return ((ua - ub - ur) & m) !== 0 ? (ua <= ub ? 1 : 0) : ua < ub ? 1 : 0;
    case CcOp.Inc:
    case CcOp.Dec:
      return b & 1;
    case CcOp.Shl: {
      // Counts are masked to 5 bits, so only 8- and 16-bit operands can be shifted past their width (CF = 0).
      const bits = (op & 3) === 0 ? 8 : (op & 3) === 1 ? 16 : 32;
      return b <= bits ? (ua >>> (bits - b)) & 1 : 0;
    }
    case CcOp.Shr: {
      const bits = (op & 3) === 0 ? 8 : (op & 3) === 1 ? 16 : 32;
      return b <= bits ? (ua >>> (b - 1)) & 1 : 0;
    }
    case CcOp.Sar: {
      const sx = (op & 3) === 2 ? a | 0 : (op & 3) === 1 ? (a << 16) >> 16 : (a << 24) >> 24;
      return (sx >> (b - 1)) & 1;
    }
    case CcOp.Mul:
      return a & 1;
    default:
      return 0;
  }
}

function overflowOf(op: number, a: number, b: number, res: number): boolean {
  const m = MASK[op & 3];
  const s = SIGN[op & 3];
  switch (op & ~3) {
    case CcOp.Add:
    case CcOp.Adc:
      return ((a ^ res) & (b ^ res) & s) !== 0;
    case CcOp.Sub:
    case CcOp.Sbb:
      return ((a ^ b) & (a ^ res) & s) !== 0;
    case CcOp.Inc:
      return (res & m) >>> 0 === s;
    case CcOp.Dec:
      return (res & m) >>> 0 === s - 1;
    // OF is defined for a count of 1; larger counts follow Intel parts (as computed for the last step).
    case CcOp.Shl:
      return ((res & s) !== 0) !== (carryOf(op, a, b, res) !== 0);
    case CcOp.Shr:
      return b === 1 && (a & s) !== 0;
    case CcOp.Mul:
      return (a & 1) !== 0;
    default:
      return false;
  }
}

function auxOf(op: number, a: number, b: number, res: number): boolean {
  switch (op & ~3) {
    case CcOp.Add:
    case CcOp.Adc:
    case CcOp.Sub:
    case CcOp.Sbb:
      return ((a ^ b ^ res) & 0x10) !== 0;
    case CcOp.Inc:
      return (res & 0xf) === 0;
    case CcOp.Dec:
      return (res & 0xf) === 0xf;
    default:
      return false;
  }
}

/** The full EFLAGS word: `eflags` with its six status flags replaced by those the lazy state describes. */
export function materialize(op: number, a: number, b: number, res: number, eflags: number): number {
  if (op === CcOp.Eager) return eflags;
  const m = MASK[op & 3];
  let f = eflags & ~ARITH_FLAGS;
  if (carryOf(op, a, b, res)) f |= Flag.CF;
  f |= PARITY[res & 0xff];
  if (auxOf(op, a, b, res)) f |= Flag.AF;
  if ((res & m) === 0) f |= Flag.ZF;
  if (res & SIGN[op & 3]) f |= Flag.SF;
  if (overflowOf(op, a, b, res)) f |= Flag.OF;
  return f;
}

/** Evaluates condition code `cc` (the low nibble of Jcc/SETcc/CMOVcc opcodes) on lazy flag state. */
export function condition(cc: number, op: number, a: number, b: number, res: number, eflags: number): boolean {
  const f = materialize(op, a, b, res, eflags);
  let r: boolean;
  switch (cc >> 1) {
    case 0:
      r = (f & Flag.OF) !== 0;
      break;
    case 1:
      r = (f & Flag.CF) !== 0;
      break;
    case 2:
      r = (f & Flag.ZF) !== 0;
      break;
    case 3:
      r = (f & (Flag.CF | Flag.ZF)) !== 0;
      break;
    case 4:
      r = (f & Flag.SF) !== 0;
      break;
    case 5:
      r = (f & Flag.PF) !== 0;
      break;
    case 6:
      r = ((f & Flag.SF) !== 0) !== ((f & Flag.OF) !== 0);
      break;
    default:
      r = (f & Flag.ZF) !== 0 || ((f & Flag.SF) !== 0) !== ((f & Flag.OF) !== 0);
      break;
  }
  return cc & 1 ? !r : r;
}
