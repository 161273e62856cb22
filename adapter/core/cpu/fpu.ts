/**
 * The x87 floating-point unit of an i686 (Intel SDM vol. 1, chapter 8; vol. 3, 2.5 and 6.15 for #NM/#MF).
 *
 * Precision: the eight data registers hold float64 values, not 80-bit double extended values. Every double is
 * exact in double extended format, so FLD/FSTP m80 round trip any double-representable value bit for bit, and
 * FSAVE images of such values are those of a real FPU. What differs from hardware:
 * - arithmetic results are rounded to double (53 bits, 11-bit exponent) whatever the precision control says;
 *   PC = single rounds results of FADD/FSUB/FMUL/FDIV/FSQRT further to 24 bits (exactly, per RC), PC = double and
 *   PC = extended both give IEEE double results, so gcc's `double` code yields the correctly rounded double;
 * - results beyond the double range become ±infinity/max or zero/denormals with OE/UE/PE set, where hardware
 *   would keep them in the wider exponent range without a flag; m80 loads outside the double range likewise;
 *   m80 loads and FILD m64 / FBLD of values wider than 53 bits are rounded per RC (no flag: hardware is exact);
 * - unsupported m80 encodings (pseudo-NaN, pseudo-infinity, unnormals) load as the QNaN indefinite, NaN
 *   payloads keep the top 52 bits of their 63-bit fraction;
 * - the rounding control is honoured exactly for FADD/FSUB/FMUL/FDIV/FSQRT, FIST/FISTP/FBSTP, FRNDINT, FSCALE,
 *   FST m32, m80 loads, FILD m64 and the constants; transcendental instructions (FSIN, FCOS, FSINCOS, FPTAN,
 *   FPATAN, F2XM1, FYL2X, FYL2XP1) use the host's libm (within 1 ulp of the exact result, round to nearest) and
 *   reduce arguments exactly rather than with the 66-bit pi of hardware; they set PE for non-trivial operands.
 */
import { Code } from 'iced-x86';
import type { CpuCore } from './cpu-api';
import { Cr0, Flag, Vec } from './state';
import {
  BCD_INDEFINITE,
  INDEFINITE,
  Rc,
  abs,
  bcdToBigInt,
  bigIntToBcd,
  decompose,
  exponentOf,
  f32BitsToF64,
  f64FromBits,
  f64Hi,
  f64Lo,
  f64ToF32Bits,
  f64ToF80,
  f80ToF64,
  isF32Denormal,
  isF64Denormal,
  isSNaN,
  isSignMinus,
  negate,
  quiet,
  roundDouble,
  roundExact,
  roundToInteger,
  scale2,
} from './fpu-format';

/** Status word bits (SDM vol. 1, 8.1.3). TOP (bits 11-13) is kept separately. */
export const enum Sw {
  IE = 1 << 0,
  DE = 1 << 1,
  ZE = 1 << 2,
  OE = 1 << 3,
  UE = 1 << 4,
  PE = 1 << 5,
  SF = 1 << 6,
  ES = 1 << 7,
  C0 = 1 << 8,
  C1 = 1 << 9,
  C2 = 1 << 10,
  TOP = 7 << 11,
  C3 = 1 << 14,
  B = 1 << 15,
}
const EXC_MASK = 0x3f;
const CC = Sw.C0 | Sw.C1 | Sw.C2 | Sw.C3;

/** Control word: exception masks 0-5, bit 6 reads as 1, PC 8-9, RC 10-11, X 12 (SDM vol. 1, 8.1.5). */
export const CW_INIT = 0x037f;
const CW_WRITABLE = 0x1f3f;

/** Tag values (SDM vol. 1, 8.1.7). */
export const enum Tag {
  Valid = 0,
  Zero = 1,
  Special = 2,
  Empty = 3,
}

const enum Kind {
  /** Checks pending exceptions, records FIP/FOP (and FDP for memory forms), clears C1. */
  Normal = 0,
  /** A waiting control instruction: checks pending exceptions, leaves the pointers alone. */
  Waiting = 1,
  /** A non-waiting control instruction (SDM vol. 1, 8.3.11): no pending-exception check. */
  NoWait = 2,
}

const enum Op {
  Wait = 1,
  Fninit,
  Fnclex,
  Fldcw,
  Fnstcw,
  Fnstsw,
  FnstswAx,
  Fldenv,
  Fnstenv,
  Frstor,
  Fnsave,
  Legacy,
  Fnop,
  FldM32,
  FldM64,
  FldM80,
  FildM16,
  FildM32,
  FildM64,
  Fbld,
  FldSti,
  FldConst,
  FstM32,
  FstM64,
  FstpM80,
  FistM16,
  FistM32,
  FistpM64,
  Fbstp,
  FstSti,
  ArithM32,
  ArithM64,
  ArithI16,
  ArithI32,
  ArithSt0Sti,
  ArithStiSt0,
  ComM32,
  ComM64,
  ComI16,
  ComI32,
  ComSti,
  Comi,
  Ftst,
  Fxam,
  Fxch,
  Fchs,
  Fabs,
  Fsqrt,
  Frndint,
  Fsin,
  Fcos,
  Fsincos,
  Fptan,
  Fpatan,
  F2xm1,
  Fyl2x,
  Fyl2xp1,
  Fscale,
  Fxtract,
  Fprem,
  Fprem1,
  Fdecstp,
  Fincstp,
  Ffree,
  Fcmov,
}

/** Arithmetic sub-operations in the order of the ModRM reg field of D8/DC/DE (SDM vol. 2, table A-8). */
const enum Ar {
  Add = 0,
  Mul = 1,
  Sub = 4,
  Subr = 5,
  Div = 6,
  Divr = 7,
}

// Per iced Code: op | sub << 8 | kind << 16 | mem << 18 | pops << 19 (pops: 0-2).
// Absent or zero: not an i686 x87 instruction.
const TABLE: number[] = [];
function def(code: number, op: number, sub = 0, kind = Kind.Normal, mem = false, pops = 0): void {
  TABLE[code] = op | (sub << 8) | (kind << 16) | (mem ? 1 << 18 : 0) | (pops << 19);
}

def(Code.Wait, Op.Wait, 0, Kind.Waiting);
def(Code.Fninit, Op.Fninit, 0, Kind.NoWait);
def(Code.Finit, Op.Fninit, 0, Kind.Waiting);
def(Code.Fnclex, Op.Fnclex, 0, Kind.NoWait);
def(Code.Fclex, Op.Fnclex, 0, Kind.Waiting);
def(Code.Fldcw_m2byte, Op.Fldcw, 0, Kind.Waiting);
def(Code.Fnstcw_m2byte, Op.Fnstcw, 0, Kind.NoWait);
def(Code.Fstcw_m2byte, Op.Fnstcw, 0, Kind.Waiting);
def(Code.Fnstsw_m2byte, Op.Fnstsw, 0, Kind.NoWait);
def(Code.Fstsw_m2byte, Op.Fnstsw, 0, Kind.Waiting);
def(Code.Fnstsw_AX, Op.FnstswAx, 0, Kind.NoWait);
def(Code.Fstsw_AX, Op.FnstswAx, 0, Kind.Waiting);
def(Code.Fldenv_m14byte, Op.Fldenv, 2, Kind.Waiting);
def(Code.Fldenv_m28byte, Op.Fldenv, 4, Kind.Waiting);
def(Code.Fnstenv_m14byte, Op.Fnstenv, 2, Kind.NoWait);
def(Code.Fstenv_m14byte, Op.Fnstenv, 2, Kind.Waiting);
def(Code.Fnstenv_m28byte, Op.Fnstenv, 4, Kind.NoWait);
def(Code.Fstenv_m28byte, Op.Fnstenv, 4, Kind.Waiting);
def(Code.Frstor_m94byte, Op.Frstor, 2, Kind.Waiting);
def(Code.Frstor_m108byte, Op.Frstor, 4, Kind.Waiting);
def(Code.Fnsave_m94byte, Op.Fnsave, 2, Kind.NoWait);
def(Code.Fsave_m94byte, Op.Fnsave, 2, Kind.Waiting);
def(Code.Fnsave_m108byte, Op.Fnsave, 4, Kind.NoWait);
def(Code.Fsave_m108byte, Op.Fnsave, 4, Kind.Waiting);
// The 8087/287 mode controls FNENI, FNDISI and FNSETPM execute as no-ops on the 387 and later.
for (const c of [Code.Fneni, Code.Fndisi, Code.Fnsetpm]) def(c, Op.Legacy, 0, Kind.NoWait);
for (const c of [Code.Feni, Code.Fdisi, Code.Fsetpm]) def(c, Op.Legacy, 0, Kind.Waiting);
def(Code.Fnop, Op.Fnop);

def(Code.Fld_m32fp, Op.FldM32, 0, Kind.Normal, true);
def(Code.Fld_m64fp, Op.FldM64, 0, Kind.Normal, true);
def(Code.Fld_m80fp, Op.FldM80, 0, Kind.Normal, true);
def(Code.Fild_m16int, Op.FildM16, 0, Kind.Normal, true);
def(Code.Fild_m32int, Op.FildM32, 0, Kind.Normal, true);
def(Code.Fild_m64int, Op.FildM64, 0, Kind.Normal, true);
def(Code.Fbld_m80bcd, Op.Fbld, 0, Kind.Normal, true);
def(Code.Fld_sti, Op.FldSti);
def(Code.Fld1, Op.FldConst, 0);
def(Code.Fldl2t, Op.FldConst, 1);
def(Code.Fldl2e, Op.FldConst, 2);
def(Code.Fldpi, Op.FldConst, 3);
def(Code.Fldlg2, Op.FldConst, 4);
def(Code.Fldln2, Op.FldConst, 5);
def(Code.Fldz, Op.FldConst, 6);

def(Code.Fst_m32fp, Op.FstM32, 0, Kind.Normal, true, 0);
def(Code.Fstp_m32fp, Op.FstM32, 0, Kind.Normal, true, 1);
def(Code.Fst_m64fp, Op.FstM64, 0, Kind.Normal, true, 0);
def(Code.Fstp_m64fp, Op.FstM64, 0, Kind.Normal, true, 1);
def(Code.Fstp_m80fp, Op.FstpM80, 0, Kind.Normal, true, 1);
def(Code.Fist_m16int, Op.FistM16, 0, Kind.Normal, true, 0);
def(Code.Fistp_m16int, Op.FistM16, 0, Kind.Normal, true, 1);
def(Code.Fist_m32int, Op.FistM32, 0, Kind.Normal, true, 0);
def(Code.Fistp_m32int, Op.FistM32, 0, Kind.Normal, true, 1);
def(Code.Fistp_m64int, Op.FistpM64, 0, Kind.Normal, true, 1);
def(Code.Fbstp_m80bcd, Op.Fbstp, 0, Kind.Normal, true, 1);
def(Code.Fst_sti, Op.FstSti, 0, Kind.Normal, false, 0);
for (const c of [Code.Fstp_sti, Code.Fstpnce_sti, Code.Fstp_sti_DFD0, Code.Fstp_sti_DFD8]) {
  def(c, Op.FstSti, 0, Kind.Normal, false, 1);
}

const arith: [Ar, number[]][] = [
  [Ar.Add, [Code.Fadd_m32fp, Code.Fadd_m64fp, Code.Fiadd_m16int, Code.Fiadd_m32int, Code.Fadd_st0_sti]],
  [Ar.Mul, [Code.Fmul_m32fp, Code.Fmul_m64fp, Code.Fimul_m16int, Code.Fimul_m32int, Code.Fmul_st0_sti]],
  [Ar.Sub, [Code.Fsub_m32fp, Code.Fsub_m64fp, Code.Fisub_m16int, Code.Fisub_m32int, Code.Fsub_st0_sti]],
  [Ar.Subr, [Code.Fsubr_m32fp, Code.Fsubr_m64fp, Code.Fisubr_m16int, Code.Fisubr_m32int, Code.Fsubr_st0_sti]],
  [Ar.Div, [Code.Fdiv_m32fp, Code.Fdiv_m64fp, Code.Fidiv_m16int, Code.Fidiv_m32int, Code.Fdiv_st0_sti]],
  [Ar.Divr, [Code.Fdivr_m32fp, Code.Fdivr_m64fp, Code.Fidivr_m16int, Code.Fidivr_m32int, Code.Fdivr_st0_sti]],
];
for (const [ar, [m32, m64, i16, i32, st0sti]] of arith) {
  def(m32, Op.ArithM32, ar, Kind.Normal, true);
  def(m64, Op.ArithM64, ar, Kind.Normal, true);
  def(i16, Op.ArithI16, ar, Kind.Normal, true);
  def(i32, Op.ArithI32, ar, Kind.Normal, true);
  def(st0sti, Op.ArithSt0Sti, ar);
}
// ST(i) := ST(i) op ST(0), with Intel's names: FSUB ST(i),ST(0) is DC E8+i (SDM vol. 2, FSUB/FSUBR).
const toSti: [Ar, number, number][] = [
  [Ar.Add, Code.Fadd_sti_st0, Code.Faddp_sti_st0],
  [Ar.Mul, Code.Fmul_sti_st0, Code.Fmulp_sti_st0],
  [Ar.Sub, Code.Fsub_sti_st0, Code.Fsubp_sti_st0],
  [Ar.Subr, Code.Fsubr_sti_st0, Code.Fsubrp_sti_st0],
  [Ar.Div, Code.Fdiv_sti_st0, Code.Fdivp_sti_st0],
  [Ar.Divr, Code.Fdivr_sti_st0, Code.Fdivrp_sti_st0],
];
for (const [ar, plain, popping] of toSti) {
  def(plain, Op.ArithStiSt0, ar, Kind.Normal, false, 0);
  def(popping, Op.ArithStiSt0, ar, Kind.Normal, false, 1);
}

// Compares: sub bit 0 = unordered (FUCOM*), pops in the pops field.
def(Code.Fcom_m32fp, Op.ComM32, 0, Kind.Normal, true, 0);
def(Code.Fcomp_m32fp, Op.ComM32, 0, Kind.Normal, true, 1);
def(Code.Fcom_m64fp, Op.ComM64, 0, Kind.Normal, true, 0);
def(Code.Fcomp_m64fp, Op.ComM64, 0, Kind.Normal, true, 1);
def(Code.Ficom_m16int, Op.ComI16, 0, Kind.Normal, true, 0);
def(Code.Ficomp_m16int, Op.ComI16, 0, Kind.Normal, true, 1);
def(Code.Ficom_m32int, Op.ComI32, 0, Kind.Normal, true, 0);
def(Code.Ficomp_m32int, Op.ComI32, 0, Kind.Normal, true, 1);
for (const c of [Code.Fcom_st0_sti, Code.Fcom_st0_sti_DCD0]) def(c, Op.ComSti, 0, Kind.Normal, false, 0);
for (const c of [Code.Fcomp_st0_sti, Code.Fcomp_st0_sti_DCD8, Code.Fcomp_st0_sti_DED0]) {
  def(c, Op.ComSti, 0, Kind.Normal, false, 1);
}
def(Code.Fcompp, Op.ComSti, 0, Kind.Normal, false, 2);
def(Code.Fucom_st0_sti, Op.ComSti, 1, Kind.Normal, false, 0);
def(Code.Fucomp_st0_sti, Op.ComSti, 1, Kind.Normal, false, 1);
def(Code.Fucompp, Op.ComSti, 1, Kind.Normal, false, 2);
def(Code.Fcomi_st0_sti, Op.Comi, 0, Kind.Normal, false, 0);
def(Code.Fcomip_st0_sti, Op.Comi, 0, Kind.Normal, false, 1);
def(Code.Fucomi_st0_sti, Op.Comi, 1, Kind.Normal, false, 0);
def(Code.Fucomip_st0_sti, Op.Comi, 1, Kind.Normal, false, 1);
def(Code.Ftst, Op.Ftst);
def(Code.Fxam, Op.Fxam);

for (const c of [Code.Fxch_st0_sti, Code.Fxch_st0_sti_DDC8, Code.Fxch_st0_sti_DFC8]) def(c, Op.Fxch);
def(Code.Fchs, Op.Fchs);
def(Code.Fabs, Op.Fabs);
def(Code.Fsqrt, Op.Fsqrt);
def(Code.Frndint, Op.Frndint);
def(Code.Fsin, Op.Fsin);
def(Code.Fcos, Op.Fcos);
def(Code.Fsincos, Op.Fsincos);
def(Code.Fptan, Op.Fptan);
def(Code.Fpatan, Op.Fpatan);
def(Code.F2xm1, Op.F2xm1);
def(Code.Fyl2x, Op.Fyl2x);
def(Code.Fyl2xp1, Op.Fyl2xp1);
def(Code.Fscale, Op.Fscale);
def(Code.Fxtract, Op.Fxtract);
def(Code.Fprem, Op.Fprem);
def(Code.Fprem1, Op.Fprem1);
def(Code.Fdecstp, Op.Fdecstp);
def(Code.Fincstp, Op.Fincstp);
def(Code.Ffree_sti, Op.Ffree, 0, Kind.Normal, false, 0);
def(Code.Ffreep_sti, Op.Ffree, 0, Kind.Normal, false, 1);
// FCMOVcc (P6): sub = condition, bit 3 negates (SDM vol. 2, FCMOVcc).
def(Code.Fcmovb_st0_sti, Op.Fcmov, 0);
def(Code.Fcmove_st0_sti, Op.Fcmov, 1);
def(Code.Fcmovbe_st0_sti, Op.Fcmov, 2);
def(Code.Fcmovu_st0_sti, Op.Fcmov, 3);
def(Code.Fcmovnb_st0_sti, Op.Fcmov, 8);
def(Code.Fcmovne_st0_sti, Op.Fcmov, 9);
def(Code.Fcmovnbe_st0_sti, Op.Fcmov, 10);
def(Code.Fcmovnu_st0_sti, Op.Fcmov, 11);

/**
 * 1, log2(10), log2(e), pi, log10(2), ln(2), 0 as the nearest doubles, each with the side of the exact value
 * (1: the double is below it, -1: above, 0: exact), so that RC selects the right neighbour (SDM vol. 1, 8.3.8).
 */
const CONSTANTS: [number, number][] = [
  [1, 0],
  [Math.log2(10), 1],
  [Math.LOG2E, 1],
  [Math.PI, 1],
  [Math.log10(2), -1],
  [Math.LN2, 1],
  [0, 0],
];

const TWO_63 = 9223372036854775808;
const MIN_NORMAL = 2.2250738585072014e-308;
/** Operands within 2^±450 keep the error-free transformations below exact. */
const EFT_HI = 2.9073548971824276e135;
const EFT_LO = 1 / EFT_HI;

function inEftRange(x: number): boolean {
  const a = Math.abs(x);
  return a > EFT_LO && a < EFT_HI;
}

/** The rounding error x*y - p of p = fl(x*y), exact for operands in the EFT range (Dekker's product). */
function productError(x: number, y: number, p: number): number {
  let t = 134217729 * x;
  const xh = t - (t - x);
  const xl = x - xh;
  t = 134217729 * y;
  const yh = t - (t - y);
  const yl = y - yh;
  return xh * yh - p + xh * yl + xl * yh + xl * yl;
}

/** The sign of a sum of exact terms m * 2^e. */
function exactSumSign(terms: [bigint, number][]): number {
  let lo = Infinity;
  for (const [, e] of terms) lo = Math.min(lo, e);
  let sum = 0n;
  for (const [m, e] of terms) sum += m << BigInt(e - lo);
  return sum > 0n ? 1 : sum < 0n ? -1 : 0;
}

function signed(x: number): [bigint, number] {
  const d = decompose(x);
  return [d.negative ? -d.m : d.m, d.e];
}

const enum K {
  Add,
  Mul,
  Div,
  Sqrt,
}

/** The sign of (exact result - r) for finite non-zero operands and a finite result r = fl(a op b). */
function errorSign(k: K, a: number, b: number, r: number): number {
  if (k === K.Add) {
    const bb = r - a;
    return Math.sign(a - (r - bb) + (b - bb));
  }
  if (inEftRange(a) && inEftRange(r)) {
    if (k === K.Sqrt) {
      const p = r * r;
      return Math.sign(a - p - productError(r, r, p));
    }
    if (inEftRange(b)) {
      if (k === K.Mul) return Math.sign(productError(a, b, r));
      const p = r * b;
      return Math.sign(a - p - productError(r, b, p)) * Math.sign(b);
    }
  }
  const [ma, ea] = signed(a);
  const [mr, er] = signed(r);
  if (k === K.Mul) {
    const [mb, eb] = signed(b);
    return exactSumSign([
      [ma * mb, ea + eb],
      [-mr, er],
    ]);
  }
  if (k === K.Div) {
    const [mb, eb] = signed(b);
    return (
      exactSumSign([
        [ma, ea],
        [-mr * mb, er + eb],
      ]) * Math.sign(b)
    );
  }
  return exactSumSign([
    [ma, ea],
    [-mr * mr, er + er],
  ]);
}

function nextUp(x: number): number {
  if (x === Infinity || x !== x) return x;
  if (x === 0) return 5e-324;
  let lo = f64Lo(x);
  let hi = f64Hi(x);
  if (x > 0) {
    lo = (lo + 1) >>> 0;
    if (lo === 0) hi++;
  } else {
    if (lo === 0) hi--;
    lo = (lo - 1) >>> 0;
  }
  return f64FromBits(lo, hi);
}

function nextDown(x: number): number {
  return -nextUp(-x);
}

/** The unordered/greater/less/equal result of a compare (SDM vol. 2, FCOM table). */
const enum Cmp {
  Greater = 0,
  Less = 1,
  Equal = 2,
  Unordered = 3,
}
const CMP_CC = [0, Sw.C0, Sw.C3, Sw.C0 | Sw.C2 | Sw.C3];
const CMP_EFLAGS = [0, Flag.CF, Flag.ZF, Flag.ZF | Flag.PF | Flag.CF];

/** Thrown internally to abandon an instruction after an unmasked invalid/zero-divide/denormal exception. */
const ABORT = new Error('x87 instruction abandoned');

export class Fpu {
  /** Physical registers R0-R7 (ST(i) is R((TOP + i) & 7)). */
  readonly regs = new Float64Array(8);
  /** Control word. */
  cw = CW_INIT;
  /** Status word without TOP. */
  private sw = 0;
  top = 0;
  /** Bit p set: physical register p is empty. */
  emptyMask = 0xff;
  /** Last instruction pointer, code selector, opcode (11 bits) and data pointer/selector (SDM vol. 1, 8.1.8). */
  fip = 0;
  fcs = 0;
  fop = 0;
  fdp = 0;
  fds = 0;
  /** Called instead of raising #MF while CR0.NE = 0: the machine asserts FERR# (IRQ13 on a PC). */
  onFerr: (() => void) | undefined = undefined;

  constructor(private readonly cpu: CpuCore) {}

  /** FNINIT state, also the power-on state once CR0.ET says a coprocessor is present (SDM vol. 3, 9.1.1). */
  reset(): void {
    this.cw = CW_INIT;
    this.sw = 0;
    this.top = 0;
    this.emptyMask = 0xff;
    this.fip = this.fcs = this.fop = this.fdp = this.fds = 0;
  }

  get statusWord(): number {
    return (this.sw & ~Sw.TOP) | (this.top << 11);
  }

  set statusWord(v: number) {
    this.sw = v & 0xffff & ~Sw.TOP;
    this.top = (v >> 11) & 7;
  }

  get controlWord(): number {
    return this.cw;
  }

  set controlWord(v: number) {
    this.cw = (v & CW_WRITABLE) | 0x40;
    this.updateSummary();
  }

  /** The full tag word, computed from the register contents for non-empty registers. */
  get tagWord(): number {
    let tw = 0;
    for (let p = 0; p < 8; p++) tw |= this.tagOf(p) << (2 * p);
    return tw;
  }

  /** ST(i) as a double (NaN for an empty register too: check isEmpty). */
  st(i: number): number {
    return this.regs[(this.top + i) & 7];
  }

  isEmpty(i: number): boolean {
    return ((this.emptyMask >> ((this.top + i) & 7)) & 1) !== 0;
  }

  /** For the debugger: sets ST(i) and marks it valid. */
  setSt(i: number, value: number): void {
    this.put(i, value);
  }

  /** ST(0)..ST(7). */
  get stack(): number[] {
    return Array.from({ length: 8 }, (_, i) => this.st(i));
  }

  /**
   * Executes one x87 instruction (or WAIT/FWAIT); `code` is the iced-x86 Code. Raises #UD for x87 encodings an
   * i686 does not have (FISTTP, FXSAVE/FXRSTOR without FXSR, 287XL/Cyrix/3DNow! forms).
   */
  execute(
    code: number,
    sti: number,
    linear: number,
    _operandSize: 2 | 4,
    fip: number,
    fcs: number,
    fdp: number,
    fds: number,
    opcode11: number,
  ): void {
    const e = TABLE[code] ?? 0;
    if (e === 0) this.cpu.raise(Vec.UD);
    const op = (e & 0xff) as Op;
    const kind = ((e >> 16) & 3) as Kind;
    const cr0 = this.cpu.cr0;
    // SDM vol. 3, 2.5 and table 2-2: EM or TS -> #NM for ESC instructions; WAIT only when MP and TS.
    if (op === Op.Wait) {
      if ((cr0 & (Cr0.MP | Cr0.TS)) === (Cr0.MP | Cr0.TS)) this.cpu.raise(Vec.NM);
    } else if (cr0 & (Cr0.EM | Cr0.TS)) {
      this.cpu.raise(Vec.NM);
    }
    if (kind !== Kind.NoWait && this.sw & Sw.ES) {
      // SDM vol. 1, 8.7 and vol. 3, 6.15 (#MF): NE = 1 -> #MF; NE = 0 -> FERR# and the PC's IRQ13.
      if (cr0 & Cr0.NE) this.cpu.raise(Vec.MF);
      this.onFerr?.();
    }
    if (op === Op.Wait) return;
    const normal = kind === Kind.Normal;
    const [sw, oldFip, oldFcs, oldFop, oldFdp, oldFds] = [this.sw, this.fip, this.fcs, this.fop, this.fdp, this.fds];
    if (normal) {
      this.fip = fip;
      this.fcs = fcs & 0xffff;
      this.fop = opcode11 & 0x7ff;
      if (e & (1 << 18)) {
        this.fdp = fdp;
        this.fds = fds & 0xffff;
      }
      this.sw &= ~Sw.C1;
    }
    try {
      this.dispatch(op, (e >> 8) & 0xff, (e >> 19) & 3, sti & 7, linear);
    } catch (err) {
      if (err === ABORT) return;
      if (normal) {
        this.sw = sw;
        this.fip = oldFip;
        this.fcs = oldFcs;
        this.fop = oldFop;
        this.fdp = oldFdp;
        this.fds = oldFds;
      }
      throw err;
    }
  }

  // ---- state helpers ----

  private get user(): boolean {
    return this.cpu.cpl === 3;
  }

  private get rc(): Rc {
    return (this.cw >> 10) & 3;
  }

  private phys(i: number): number {
    return (this.top + i) & 7;
  }

  private get(i: number): number {
    return this.regs[(this.top + i) & 7];
  }

  private put(i: number, v: number): void {
    const p = (this.top + i) & 7;
    this.regs[p] = v;
    this.emptyMask &= ~(1 << p);
  }

  private empty(i: number): boolean {
    return ((this.emptyMask >> ((this.top + i) & 7)) & 1) !== 0;
  }

  private pop(): void {
    this.emptyMask |= 1 << this.top;
    this.top = (this.top + 1) & 7;
  }

  private push(v: number): void {
    this.top = (this.top - 1) & 7;
    this.regs[this.top] = v;
    this.emptyMask &= ~(1 << this.top);
  }

  private tagOf(p: number): Tag {
    if ((this.emptyMask >> p) & 1) return Tag.Empty;
    const v = this.regs[p];
    if (v === 0) return Tag.Zero;
    return Number.isFinite(v) ? Tag.Valid : Tag.Special;
  }

  private updateSummary(): void {
    if (this.sw & ~this.cw & EXC_MASK) this.sw |= Sw.ES | Sw.B;
    else this.sw &= ~(Sw.ES | Sw.B);
  }

  /** Records exception flags; returns true when one of them is unmasked (ES and B then set). */
  private flag(bits: number): boolean {
    this.sw |= bits;
    if (bits & ~this.cw & EXC_MASK) {
      this.sw |= Sw.ES | Sw.B;
      return true;
    }
    return false;
  }

  /** A pre-computation exception (IE, DE, ZE): an unmasked one abandons the instruction (SDM vol. 1, 8.5). */
  private pre(bits: number): void {
    if (this.flag(bits)) throw ABORT;
  }

  /** Stack underflow: IE + SF with C1 = 0 (SDM vol. 1, 8.5.1.1); masked, the caller uses the indefinite. */
  private underflow(): void {
    this.sw &= ~Sw.C1;
    this.pre(Sw.IE | Sw.SF);
  }

  /** Checks that ST(7) is free for a push; masked overflow pushes the indefinite (SDM vol. 1, 8.5.1.1). */
  private canPush(): boolean {
    if (this.empty(7)) return true;
    this.sw |= Sw.C1;
    this.pre(Sw.IE | Sw.SF);
    this.push(INDEFINITE);
    return false;
  }

  /** ST(i) for an operation, with a masked stack underflow giving the indefinite. */
  private operand(i: number): number {
    if (!this.empty(i)) return this.get(i);
    this.underflow();
    return INDEFINITE;
  }

  /** Post-computation flags for a rounded result: PE, C1 (rounded up), OE, UE (SDM vol. 1, 4.9.1.4-4.9.1.6). */
  private post(inexact: boolean, up: boolean, overflow: boolean, underflow: boolean): void {
    if (!inexact) return;
    if (up) this.sw |= Sw.C1;
    this.flag(Sw.PE | (overflow ? Sw.OE : 0) | (underflow ? Sw.UE : 0));
  }

  // ---- memory ----

  private rd(lin: number, size: 1 | 2 | 4): number {
    return this.cpu.readLinear(lin >>> 0, size, this.user);
  }

  private wr(lin: number, size: 1 | 2 | 4, v: number): void {
    this.cpu.writeLinear(lin >>> 0, size, v >>> 0, this.user);
  }

  private probe(lin: number, length: number): void {
    this.cpu.probeWrite(lin >>> 0, length, this.user);
  }

  private readF80(lin: number): { lo: number; hi: number; se: number } {
    return { lo: this.rd(lin, 4), hi: this.rd(lin + 4, 4), se: this.rd(lin + 8, 2) };
  }

  private writeF80(lin: number, x: number): void {
    const f = f64ToF80(x);
    this.wr(lin, 4, f.lo);
    this.wr(lin + 4, 4, f.hi);
    this.wr(lin + 8, 2, f.se);
  }

  private readI64(lin: number): bigint {
    const lo = this.rd(lin, 4);
    const hi = this.rd(lin + 4, 4);
    return BigInt.asIntN(64, (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0));
  }

  /** An m32fp operand: SNaN and denormal checks belong to the operation using it. */
  private readM32(lin: number): number {
    const b = this.rd(lin, 4);
    if (isF32Denormal(b)) this.pre(Sw.DE);
    return f32BitsToF64(b);
  }

  private readM64(lin: number): number {
    const lo = this.rd(lin, 4);
    const hi = this.rd(lin + 4, 4);
    if (isF64Denormal(lo, hi)) this.pre(Sw.DE);
    return f64FromBits(lo, hi);
  }

  // ---- dispatch ----

  private dispatch(op: Op, sub: number, pops: number, i: number, lin: number): void {
    switch (op) {
      case Op.Fninit:
        this.reset();
        return;
      case Op.Fnclex:
        this.sw &= ~(EXC_MASK | Sw.SF | Sw.ES | Sw.B);
        return;
      case Op.Fldcw:
        this.controlWord = this.rd(lin, 2);
        return;
      case Op.Fnstcw:
        this.wr(lin, 2, this.cw);
        return;
      case Op.Fnstsw:
        this.wr(lin, 2, this.statusWord);
        return;
      case Op.FnstswAx:
        this.cpu.regs[0] = (this.cpu.regs[0] & ~0xffff) | this.statusWord;
        return;
      case Op.Fldenv:
        this.loadEnv(lin, sub as 2 | 4);
        return;
      case Op.Fnstenv:
        this.probe(lin, sub === 4 ? 28 : 14);
        this.storeEnv(lin, sub as 2 | 4);
        this.cw |= EXC_MASK;
        this.sw &= ~(Sw.ES | Sw.B);
        return;
      case Op.Frstor:
        this.frstor(lin, sub as 2 | 4);
        return;
      case Op.Fnsave:
        this.fnsave(lin, sub as 2 | 4);
        return;
      case Op.Legacy:
      case Op.Fnop:
        return;
      case Op.FldM32: {
        const v = this.readM32(lin);
        if (this.canPush()) this.push(this.loadChecked(v));
        return;
      }
      case Op.FldM64: {
        const v = this.readM64(lin);
        if (this.canPush()) this.push(this.loadChecked(v));
        return;
      }
      case Op.FldM80: {
        const f = f80ToF64(this.readF80(lin), this.rc);
        if (!this.canPush()) return;
        this.push(f.value);
        if (f.overflow || f.underflow) this.post(true, false, f.overflow, f.underflow);
        return;
      }
      case Op.FildM16: {
        const v = (this.rd(lin, 2) << 16) >> 16;
        if (this.canPush()) this.push(v);
        return;
      }
      case Op.FildM32: {
        const v = this.rd(lin, 4) | 0;
        if (this.canPush()) this.push(v);
        return;
      }
      case Op.FildM64: {
        const v = this.readI64(lin);
        if (this.canPush()) this.push(roundExact(v < 0n, v < 0n ? -v : v, 0, this.rc).value);
        return;
      }
      case Op.Fbld: {
        const bytes = new Uint8Array(10);
        for (let k = 0; k < 10; k++) bytes[k] = this.rd(lin + k, 1);
        const v = bcdToBigInt(bytes);
        if (!this.canPush()) return;
        const r = roundExact(v < 0n, v < 0n ? -v : v, 0, this.rc).value;
        this.push(r === 0 && bytes[9] & 0x80 ? -0 : r);
        return;
      }
      case Op.FldSti: {
        const v = this.empty(i) ? undefined : this.get(i);
        if (!this.canPush()) return;
        if (v === undefined) this.underflow();
        this.push(v ?? INDEFINITE);
        return;
      }
      case Op.FldConst: {
        const [value, side] = CONSTANTS[sub];
        if (!this.canPush()) return;
        const rc = this.rc;
        if (side > 0 && rc === Rc.Up) this.push(nextUp(value));
        else if (side < 0 && (rc === Rc.Down || rc === Rc.Chop)) this.push(nextDown(value));
        else this.push(value);
        return;
      }
      case Op.FstM32:
        this.storeM32(lin, pops);
        return;
      case Op.FstM64:
        this.storeM64(lin, pops);
        return;
      case Op.FstpM80: {
        let v = INDEFINITE;
        if (this.empty(0)) this.underflow();
        else v = this.get(0);
        this.probe(lin, 10);
        this.writeF80(lin, v);
        this.pop();
        return;
      }
      case Op.FistM16:
        this.storeInt(lin, 2, pops);
        return;
      case Op.FistM32:
        this.storeInt(lin, 4, pops);
        return;
      case Op.FistpM64:
        this.storeInt(lin, 8, pops);
        return;
      case Op.Fbstp:
        this.fbstp(lin);
        return;
      case Op.FstSti: {
        const v = this.operand(0);
        this.put(i, v);
        if (pops) this.pop();
        return;
      }
      case Op.ArithM32:
        return this.arithMem(sub, this.readM32(lin));
      case Op.ArithM64:
        return this.arithMem(sub, this.readM64(lin));
      case Op.ArithI16:
        return this.arithMem(sub, (this.rd(lin, 2) << 16) >> 16);
      case Op.ArithI32:
        return this.arithMem(sub, this.rd(lin, 4) | 0);
      case Op.ArithSt0Sti: {
        const a = this.empty(0) || this.empty(i) ? this.underflowPair() : this.get(0);
        const r = this.arith(sub, a, this.empty(i) ? INDEFINITE : this.get(i));
        this.put(0, r);
        return;
      }
      case Op.ArithStiSt0: {
        const b = this.empty(0) || this.empty(i) ? this.underflowPair() : this.get(0);
        const r = this.arith(sub, this.empty(i) ? INDEFINITE : this.get(i), b);
        this.put(i, r);
        if (pops) this.pop();
        return;
      }
      case Op.ComM32:
        return this.compareMem(this.readM32(lin), pops);
      case Op.ComM64:
        return this.compareMem(this.readM64(lin), pops);
      case Op.ComI16:
        return this.compareMem((this.rd(lin, 2) << 16) >> 16, pops);
      case Op.ComI32:
        return this.compareMem(this.rd(lin, 4) | 0, pops);
      case Op.ComSti: {
        const j = pops === 2 ? 1 : i;
        const c = this.compareRegs(j, sub === 1);
        this.setCc(c);
        for (let k = 0; k < pops; k++) this.pop();
        return;
      }
      case Op.Comi: {
        const c = this.compareRegs(i, sub === 1);
        this.cpu.setEflags(CMP_EFLAGS[c], Flag.ZF | Flag.PF | Flag.CF | Flag.OF | Flag.SF | Flag.AF);
        if (pops) this.pop();
        return;
      }
      case Op.Ftst: {
        const a = this.empty(0) ? NaN : this.get(0);
        if (this.empty(0)) this.underflow();
        this.setCc(a !== a ? this.unorderedCompare(a, 0, false) : this.order(a, 0));
        return;
      }
      case Op.Fxam:
        this.fxam();
        return;
      case Op.Fxch: {
        let a = this.get(0);
        let b = this.get(i);
        if (this.empty(0) || this.empty(i)) {
          this.underflow();
          if (this.empty(0)) a = INDEFINITE;
          if (this.empty(i)) b = INDEFINITE;
        }
        this.put(0, b);
        this.put(i, a);
        return;
      }
      case Op.Fchs:
        this.put(0, negate(this.operand(0)));
        return;
      case Op.Fabs:
        this.put(0, abs(this.operand(0)));
        return;
      case Op.Fsqrt: {
        const a = this.operand(0);
        this.put(0, this.unaryResult(a) ?? this.rounded(K.Sqrt, a, 0, Math.sqrt(a)));
        return;
      }
      case Op.Frndint: {
        const a = this.operand(0);
        const nan = this.unaryResult(a);
        if (nan !== undefined) return this.put(0, nan);
        const r = roundToInteger(a, this.rc);
        this.post(r !== a, Math.abs(r) > Math.abs(a), false, false);
        this.put(0, r);
        return;
      }
      case Op.Fsin:
      case Op.Fcos:
      case Op.Fsincos:
      case Op.Fptan:
        this.trig(op);
        return;
      case Op.Fpatan:
        return this.binaryPop((y, x) => Math.atan2(y, x));
      case Op.Fyl2x:
        return this.fyl2x(false);
      case Op.Fyl2xp1:
        return this.fyl2x(true);
      case Op.F2xm1: {
        const a = this.operand(0);
        const nan = this.unaryResult(a);
        if (nan !== undefined) return this.put(0, nan);
        // Defined for -1 <= x <= +1 (SDM vol. 2, F2XM1); outside that range the result is undefined.
        const r = a === -Infinity ? -1 : Math.expm1(a * Math.LN2);
        if (a !== 0 && Number.isFinite(a)) this.post(true, false, false, false);
        this.put(0, a === 0 ? a : r);
        return;
      }
      case Op.Fscale:
        this.fscale();
        return;
      case Op.Fxtract:
        this.fxtract();
        return;
      case Op.Fprem:
        this.fprem(false);
        return;
      case Op.Fprem1:
        this.fprem(true);
        return;
      case Op.Fdecstp:
        this.top = (this.top - 1) & 7;
        return;
      case Op.Fincstp:
        this.top = (this.top + 1) & 7;
        return;
      case Op.Ffree:
        this.emptyMask |= 1 << this.phys(i);
        if (pops) this.pop();
        return;
      case Op.Fcmov:
        this.fcmov(sub, i);
        return;
    }
  }

  // ---- loads and stores ----

  /** A value from m32fp/m64fp: an SNaN raises IE and loads quieted (SDM vol. 2, FLD). */
  private loadChecked(v: number): number {
    if (isSNaN(v)) {
      this.pre(Sw.IE);
      return quiet(v);
    }
    return v;
  }

  /** The value a store of ST(0) writes, or undefined for an unmasked underflow (nothing stored). */
  private storeSource(): number {
    if (!this.empty(0)) return this.get(0);
    this.underflow();
    return INDEFINITE;
  }

  private storeM32(lin: number, pops: number): void {
    const v = this.storeSource();
    let bits: number;
    if (v !== v) {
      if (isSNaN(v)) this.pre(Sw.IE);
      bits = f64ToF32Bits(quiet(v));
    } else if (!Number.isFinite(v) || v === 0) {
      bits = f64ToF32Bits(v);
    } else {
      const r = roundDouble(v, this.rc, 24, -126, 127);
      if (this.storeRangeUnmasked(r.overflow, r.underflow)) return;
      this.post(r.inexact, r.up, r.overflow, r.underflow);
      bits = f64ToF32Bits(r.value);
    }
    this.wr(lin, 4, bits);
    if (pops) this.pop();
  }

  /** Unmasked OE/UE on a store to memory: flag it, store nothing, do not pop (SDM vol. 1, 4.9.1.4/4.9.1.5). */
  private storeRangeUnmasked(overflow: boolean, underflow: boolean): boolean {
    const bits = (overflow ? Sw.OE : 0) | (underflow ? Sw.UE : 0);
    if (bits && bits & ~this.cw) {
      this.flag(bits | Sw.PE);
      return true;
    }
    return false;
  }

  private storeM64(lin: number, pops: number): void {
    let v = this.storeSource();
    if (isSNaN(v)) {
      this.pre(Sw.IE);
      v = quiet(v);
    }
    this.probe(lin, 8);
    this.wr(lin, 4, f64Lo(v));
    this.wr(lin + 4, 4, f64Hi(v));
    if (pops) this.pop();
  }

  /** FIST/FISTP: rounds per RC; NaN, infinity or out of range is IE with the integer indefinite (SDM vol. 2). */
  private storeInt(lin: number, size: 2 | 4 | 8, pops: number): void {
    const v = this.storeSource();
    const r = roundToInteger(v, this.rc);
    const limit = size === 2 ? 32768 : size === 4 ? 2147483648 : TWO_63;
    let big: bigint;
    if (r !== r || r < -limit || r >= limit) {
      this.pre(Sw.IE);
      big = size === 2 ? 0x8000n : size === 4 ? 0x80000000n : 0x8000000000000000n;
    } else {
      this.post(r !== v, Math.abs(r) > Math.abs(v), false, false);
      big = BigInt.asUintN(size * 8, BigInt(r));
    }
    if (size === 8) {
      this.probe(lin, 8);
      this.wr(lin, 4, Number(big & 0xffffffffn));
      this.wr(lin + 4, 4, Number(big >> 32n));
    } else {
      this.wr(lin, size, Number(big));
    }
    if (pops) this.pop();
  }

  private fbstp(lin: number): void {
    const v = this.storeSource();
    const r = roundToInteger(v, this.rc);
    let bytes: Uint8Array;
    if (r !== r || Math.abs(r) >= 1e18) {
      this.pre(Sw.IE);
      bytes = BCD_INDEFINITE;
    } else {
      this.post(r !== v, Math.abs(r) > Math.abs(v), false, false);
      bytes = bigIntToBcd(BigInt(r), isSignMinus(r));
    }
    this.probe(lin, 10);
    for (let k = 0; k < 10; k++) this.wr(lin + k, 1, bytes[k]);
    this.pop();
  }

  // ---- arithmetic ----

  /** Masked stack underflow for a two-register operation: both operands become the indefinite. */
  private underflowPair(): number {
    this.underflow();
    return INDEFINITE;
  }

  private arithMem(ar: Ar, m: number): void {
    const a = this.operand(0);
    this.put(0, this.arith(ar, a, m));
  }

  /** dest op src for FADD/FSUB/FSUBR/FMUL/FDIV/FDIVR; the reverse forms swap the operands. */
  private arith(ar: Ar, dst: number, src: number): number {
    let a = dst;
    let b = src;
    if (ar === Ar.Subr || ar === Ar.Divr) {
      a = src;
      b = dst;
    }
    if (a !== a || b !== b) return this.nanResult(a, b);
    switch (ar) {
      case Ar.Add:
        return this.rounded(K.Add, a, b, a + b);
      case Ar.Sub:
      case Ar.Subr:
        return this.rounded(K.Add, a, -b, a - b);
      case Ar.Mul:
        return this.rounded(K.Mul, a, b, a * b);
      default:
        if (b === 0 && a !== 0 && Number.isFinite(a)) {
          this.pre(Sw.ZE);
          return isSignMinus(a) !== isSignMinus(b) ? -Infinity : Infinity;
        }
        return this.rounded(K.Div, a, b, a / b);
    }
  }

  /** The NaN an operation on NaN operands returns (SDM vol. 1, table 4-7); an SNaN raises IE. */
  private nanResult(a: number, b: number): number {
    if (isSNaN(a) || isSNaN(b)) this.pre(Sw.IE);
    if (a === a) return quiet(b);
    if (b === b) return quiet(a);
    const qa = a !== a && !isSNaN(a);
    const qb = b !== b && !isSNaN(b);
    if (qa !== qb) return qa ? a : b;
    const ma = (f64Hi(a) & 0x7ffff) * 4294967296 + f64Lo(a);
    const mb = (f64Hi(b) & 0x7ffff) * 4294967296 + f64Lo(b);
    return quiet(mb > ma ? b : a);
  }

  /** Rounds r = fl(a op b) per RC and PC, setting IE for invalid operations and PE/C1/OE/UE. */
  private rounded(k: K, a: number, b: number, r: number): number {
    if (r !== r) {
      this.pre(Sw.IE);
      return INDEFINITE;
    }
    const finiteOperands = Number.isFinite(a) && Number.isFinite(b);
    if (!Number.isFinite(r)) {
      if (finiteOperands) return this.overflowResult(r < 0);
      return r;
    }
    if (!finiteOperands) return r;
    const s = a === 0 || (k !== K.Add && k !== K.Sqrt && b === 0) ? 0 : errorSign(k, a, b, r);
    const rc = this.rc;
    let v = r;
    if (s !== 0) {
      if (rc === Rc.Down || (rc === Rc.Chop && v > 0)) {
        if (s < 0) v = nextDown(v);
      }
      if (rc === Rc.Up || (rc === Rc.Chop && v < 0)) {
        if (s > 0) v = nextUp(v);
      }
      if (!Number.isFinite(v)) return this.overflowResult(v < 0);
    }
    // Side of the exact value relative to v: moved past it when adjusted.
    const d = v === r ? s : -s;
    if ((this.cw & 0x300) === 0 && v !== 0) {
      const p = roundDouble(v, rc, 24, -1022, 1023);
      if (p.value !== v) {
        this.post(true, p.up, p.overflow, p.underflow);
        return p.value;
      }
    }
    if (d !== 0) this.post(true, (v > 0 && d < 0) || (v < 0 && d > 0), false, Math.abs(v) < MIN_NORMAL);
    return v;
  }

  /** Results beyond the double range: OE + PE, infinity or the largest double per RC (SDM vol. 1, 4.9.1.4). */
  private overflowResult(negative: boolean): number {
    const rc = this.rc;
    const toInf = rc === Rc.Nearest || (rc === Rc.Up && !negative) || (rc === Rc.Down && negative);
    this.post(true, toInf, true, false);
    const v = toInf ? Infinity : Number.MAX_VALUE;
    return negative ? -v : v;
  }

  /** For one-operand operations: the NaN result for a NaN operand, undefined otherwise. */
  private unaryResult(a: number): number | undefined {
    if (a === a) return undefined;
    if (isSNaN(a)) this.pre(Sw.IE);
    return quiet(a);
  }

  /** A libm result: NaN from non-NaN operands is an invalid operation; finite non-trivial results set PE. */
  private transcendental(r: number, exact: boolean): number {
    if (r !== r) {
      this.pre(Sw.IE);
      return INDEFINITE;
    }
    if (!exact) this.post(true, false, false, false);
    return r;
  }

  /** ST(1) := f(ST(1), ST(0)), then pop (FPATAN). */
  private binaryPop(f: (y: number, x: number) => number): void {
    const [x, y] = this.twoOperands();
    let r: number;
    if (x !== x || y !== y) r = this.nanResult(y, x);
    else {
      const v = f(y, x);
      r = this.transcendental(v, v === 0);
    }
    this.put(1, r);
    this.pop();
  }

  /** ST(0), ST(1), with a masked underflow giving indefinites. */
  private twoOperands(): [number, number] {
    if (this.empty(0) || this.empty(1)) {
      this.underflow();
      return [this.empty(0) ? INDEFINITE : this.get(0), this.empty(1) ? INDEFINITE : this.get(1)];
    }
    return [this.get(0), this.get(1)];
  }

  private fyl2x(plusOne: boolean): void {
    const [x, y] = this.twoOperands();
    let r: number;
    if (x !== x || y !== y) {
      r = this.nanResult(y, x);
    } else if (!plusOne && x === 0 && y !== 0 && Number.isFinite(y)) {
      // log2(±0) with a finite non-zero multiplier is a zero divide (SDM vol. 2, FYL2X).
      this.pre(Sw.ZE);
      r = isSignMinus(y) ? Infinity : -Infinity;
    } else {
      const l = plusOne ? Math.log1p(x) / Math.LN2 : Math.log2(x);
      r = this.transcendental(y * l, (plusOne ? x === 0 : x === 1) || y === 0);
    }
    this.put(1, r);
    this.pop();
  }

  /** FSIN/FCOS/FSINCOS/FPTAN: |x| >= 2^63 sets C2 and leaves the stack alone (SDM vol. 2, FSIN). */
  private trig(op: Op): void {
    this.sw &= ~Sw.C2;
    const a = this.operand(0);
    const pushes = op === Op.Fsincos || op === Op.Fptan;
    if (Number.isFinite(a) && Math.abs(a) >= TWO_63) {
      this.sw |= Sw.C2;
      return;
    }
    if (pushes && !this.empty(7)) {
      this.sw |= Sw.C1;
      this.pre(Sw.IE | Sw.SF);
      // Masked overflow: the indefinite in both places (SDM vol. 1, 8.5.1.1).
      this.put(0, INDEFINITE);
      this.push(INDEFINITE);
      return;
    }
    const nan = this.unaryResult(a);
    const exact = a === 0;
    if (op === Op.Fsin) {
      this.put(0, nan ?? this.transcendental(Math.sin(a), exact));
    } else if (op === Op.Fcos) {
      this.put(0, nan ?? this.transcendental(Math.cos(a), exact));
    } else if (op === Op.Fsincos) {
      const s = nan ?? this.transcendental(Math.sin(a), exact);
      const c = nan ?? this.transcendental(Math.cos(a), exact);
      this.put(0, s);
      this.push(c);
    } else {
      this.put(0, nan ?? this.transcendental(Math.tan(a), exact));
      this.push(nan ?? 1);
    }
  }

  /** ST(0) * 2^trunc(ST(1)) (SDM vol. 2, FSCALE). */
  private fscale(): void {
    const [a, b] = this.twoOperands();
    if (a !== a || b !== b) return this.put(0, this.nanResult(a, b));
    if ((a === 0 && b === Infinity) || (!Number.isFinite(a) && b === -Infinity)) {
      this.pre(Sw.IE);
      return this.put(0, INDEFINITE);
    }
    if (!Number.isFinite(b)) return this.put(0, b > 0 ? a * Infinity : a * 0);
    if (a === 0 || !Number.isFinite(a)) return this.put(0, a);
    const n = Math.trunc(Math.max(-100000, Math.min(100000, b)));
    const d = decompose(a);
    const r = roundExact(d.negative, d.m, d.e + n, this.rc);
    this.post(r.inexact, r.up, r.overflow, r.underflow);
    this.put(0, r.value);
  }

  /** Exponent to ST(1), significand to ST(0) (SDM vol. 2, FXTRACT). */
  private fxtract(): void {
    const a = this.operand(0);
    if (!this.empty(7)) {
      this.sw |= Sw.C1;
      this.pre(Sw.IE | Sw.SF);
      this.put(0, INDEFINITE);
      this.push(INDEFINITE);
      return;
    }
    if (a !== a) {
      const q = this.unaryResult(a) ?? a;
      this.put(0, q);
      this.push(q);
    } else if (a === 0) {
      this.pre(Sw.ZE);
      this.put(0, -Infinity);
      this.push(a);
    } else if (!Number.isFinite(a)) {
      this.put(0, Infinity);
      this.push(a);
    } else {
      const e = exponentOf(a);
      this.put(0, e);
      this.push(scale2(a, -e));
    }
  }

  /**
   * FPREM (truncated quotient) and FPREM1 (IEEE remainder): C0, C3, C1 = quotient bits 2, 1, 0; an exponent
   * difference of 64 or more gives a partial remainder with C2 = 1 (SDM vol. 2, FPREM/FPREM1).
   */
  private fprem(ieee: boolean): void {
    const [a, b] = this.twoOperands();
    this.sw &= ~(Sw.C0 | Sw.C1 | Sw.C2 | Sw.C3);
    if (a !== a || b !== b) return this.put(0, this.nanResult(a, b));
    if (!Number.isFinite(a) || b === 0) {
      this.pre(Sw.IE);
      return this.put(0, INDEFINITE);
    }
    if (a === 0 || !Number.isFinite(b)) return this.put(0, a);
    const diff = exponentOf(a) - exponentOf(b);
    if (diff >= 64) {
      // Partial reduction by a chopped quotient of N bits, 32 <= N <= 63 (N chosen as diff mod 32 + 32).
      const n = (diff & 31) | 32;
      const m = scale2(Math.abs(b), diff - n);
      this.sw |= Sw.C2;
      return this.put(0, a % m);
    }
    let r = a % b;
    const ab = Math.abs(b);
    let q: number;
    const b8 = ab * 8;
    if (Number.isFinite(b8)) q = Math.round((Math.abs(a % b8) - Math.abs(r)) / ab);
    else q = Math.round((Math.abs(a) - Math.abs(r)) / ab);
    if (ieee) {
      const twice = Math.abs(r) * 2;
      if (twice > ab || (twice === ab && q & 1)) {
        r = r > 0 ? r - ab : r + ab;
        q++;
      }
    }
    if (r === 0) r = isSignMinus(a) ? -0 : 0;
    if (q & 4) this.sw |= Sw.C0;
    if (q & 2) this.sw |= Sw.C3;
    if (q & 1) this.sw |= Sw.C1;
    this.put(0, r);
  }

  private fcmov(cond: number, i: number): void {
    if (this.empty(0) || this.empty(i)) {
      this.underflow();
      this.put(0, INDEFINITE);
      return;
    }
    const f = this.cpu.getEflags();
    let t: boolean;
    switch (cond & 3) {
      case 0:
        t = (f & Flag.CF) !== 0;
        break;
      case 1:
        t = (f & Flag.ZF) !== 0;
        break;
      case 2:
        t = (f & (Flag.CF | Flag.ZF)) !== 0;
        break;
      default:
        t = (f & Flag.PF) !== 0;
    }
    if (cond & 8) t = !t;
    if (t) this.put(0, this.get(i));
  }

  // ---- compares ----

  private order(a: number, b: number): Cmp {
    return a > b ? Cmp.Greater : a < b ? Cmp.Less : Cmp.Equal;
  }

  /** A compare with a NaN: IE for any NaN in FCOM, only for an SNaN in FUCOM (SDM vol. 2, FCOM/FUCOM). */
  private unorderedCompare(a: number, b: number, unordered: boolean): Cmp {
    if (!unordered || isSNaN(a) || isSNaN(b)) this.pre(Sw.IE);
    return Cmp.Unordered;
  }

  private compareRegs(j: number, unordered: boolean): Cmp {
    if (this.empty(0) || this.empty(j)) {
      this.underflow();
      return Cmp.Unordered;
    }
    const a = this.get(0);
    const b = this.get(j);
    return a !== a || b !== b ? this.unorderedCompare(a, b, unordered) : this.order(a, b);
  }

  private compareMem(m: number, pops: number): void {
    let c: Cmp;
    if (this.empty(0)) {
      this.underflow();
      c = Cmp.Unordered;
    } else {
      const a = this.get(0);
      c = a !== a || m !== m ? this.unorderedCompare(a, m, false) : this.order(a, m);
    }
    this.setCc(c);
    if (pops) this.pop();
  }

  private setCc(c: Cmp): void {
    this.sw = (this.sw & ~(Sw.C0 | Sw.C1 | Sw.C2 | Sw.C3)) | CMP_CC[c];
  }

  /** C3 C2 C0 = class, C1 = sign (SDM vol. 2, FXAM): double denormals are normal numbers in extended format. */
  private fxam(): void {
    const v = this.get(0);
    let cc: number;
    if (this.empty(0)) cc = Sw.C3 | Sw.C0;
    else if (v !== v) cc = Sw.C0;
    else if (!Number.isFinite(v)) cc = Sw.C2 | Sw.C0;
    else if (v === 0) cc = Sw.C3;
    else cc = Sw.C2;
    if (isSignMinus(v)) cc |= Sw.C1;
    this.sw = (this.sw & ~CC) | cc;
  }

  // ---- environment ----

  private get realFormat(): boolean {
    return !this.cpu.protectedMode || this.cpu.vm86;
  }

  /** FSTENV layouts: SDM vol. 1, figures 8-9 to 8-12. Reserved halves of the 32-bit layout read as ones. */
  private storeEnv(lin: number, size: 2 | 4): void {
    const cw = this.cw;
    const sw = this.statusWord;
    const tw = this.tagWord;
    const fields: number[] = [cw, sw, tw];
    if (!this.realFormat) {
      if (size === 4) fields.push(this.fip, this.fcs | (this.fop << 16), this.fdp, 0xffff0000 | this.fds);
      else fields.push(this.fip & 0xffff, this.fcs, this.fdp & 0xffff, this.fds);
    } else {
      const ip = ((this.fcs << 4) + this.fip) >>> 0;
      const dp = ((this.fds << 4) + this.fdp) >>> 0;
      if (size === 4) {
        fields.push(0xffff0000 | (ip & 0xffff), ((ip & 0xffff0000) >>> 4) | this.fop);
        fields.push(0xffff0000 | (dp & 0xffff), (dp & 0xffff0000) >>> 4);
      } else {
        fields.push(ip & 0xffff, ((ip & 0xf0000) >>> 4) | this.fop, dp & 0xffff, (dp & 0xf0000) >>> 4);
      }
    }
    for (let k = 0; k < 7; k++) {
      const v = k < 3 && size === 4 ? 0xffff0000 | fields[k] : fields[k];
      this.wr(lin + k * size, size, v);
    }
  }

  /** Reads an environment image; returns a function committing it, so a fault leaves the state unchanged. */
  private readEnv(lin: number, size: 2 | 4): () => void {
    const f: number[] = [];
    for (let k = 0; k < 7; k++) f.push(this.rd(lin + k * size, size));
    return () => {
      this.cw = (f[0] & CW_WRITABLE) | 0x40;
      this.statusWord = f[1] & 0xffff;
      const tw = f[2] & 0xffff;
      let empty = 0;
      for (let p = 0; p < 8; p++) if (((tw >> (2 * p)) & 3) === (Tag.Empty as number)) empty |= 1 << p;
      this.emptyMask = empty;
      if (!this.realFormat) {
        this.fip = size === 4 ? f[3] : f[3] & 0xffff;
        this.fcs = f[4] & 0xffff;
        this.fop = size === 4 ? (f[4] >>> 16) & 0x7ff : 0;
        this.fdp = size === 4 ? f[5] : f[5] & 0xffff;
        this.fds = f[6] & 0xffff;
      } else {
        const hiShift = size === 4 ? 0x0ffff000 : 0xf000;
        this.fip = (((f[4] & hiShift) << 4) | (f[3] & 0xffff)) >>> 0;
        this.fop = f[4] & 0x7ff;
        this.fdp = (((f[6] & hiShift) << 4) | (f[5] & 0xffff)) >>> 0;
        this.fcs = this.fds = 0;
      }
      this.updateSummary();
    };
  }

  private loadEnv(lin: number, size: 2 | 4): void {
    this.readEnv(lin, size)();
  }

  private frstor(lin: number, size: 2 | 4): void {
    const commit = this.readEnv(lin, size);
    const base = lin + (size === 4 ? 28 : 14);
    const images = [];
    for (let k = 0; k < 8; k++) images.push(this.readF80(base + k * 10));
    commit();
    for (let k = 0; k < 8; k++) this.regs[this.phys(k)] = f80ToF64(images[k], Rc.Nearest).value;
  }

  private fnsave(lin: number, size: 2 | 4): void {
    const base = lin + (size === 4 ? 28 : 14);
    this.probe(lin, base - lin + 80);
    this.storeEnv(lin, size);
    for (let k = 0; k < 8; k++) this.writeF80(base + k * 10, this.get(k));
    this.reset();
  }
}
