import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Code } from 'iced-x86';
import type { CpuCore } from '../../adapter/core/cpu/cpu-api';
import { Fpu, Sw } from '../../adapter/core/cpu/fpu';
import { f64Hi, f64Lo } from '../../adapter/core/cpu/fpu-format';
import { Cr0, Flag, GuestFault, SegmentCache, Vec } from '../../adapter/core/cpu/state';

/** A flat-memory CPU: linear address = index into `mem`; addresses from `faultFrom` on raise #PF. */
class FakeCpu implements CpuCore {
  readonly regs = new Int32Array(8);
  eip = 0;
  readonly seg: SegmentCache[] = [];
  readonly gdtr = { base: 0, limit: 0 };
  readonly idtr = { base: 0, limit: 0 };
  readonly ldtr = new SegmentCache();
  readonly tr = new SegmentCache();
  cr0 = Cr0.PE | Cr0.ET | Cr0.NE;
  cr2 = 0;
  cr3 = 0;
  cr4 = 0;
  cpl = 0;
  protectedMode = true;
  vm86 = false;
  eflags = 0x2;
  faultFrom = 0x10000;
  readonly mem = new Uint8Array(0x10000);
  readonly view = new DataView(this.mem.buffer);
  writes = 0;

  getEflags(): number {
    return this.eflags;
  }
  setEflags(value: number, mask: number): void {
    this.eflags = (this.eflags & ~mask) | (value & mask) | 2;
  }
  setCpl(cpl: number): void {
    this.cpl = cpl;
  }
  segmentChanged(): void {}
  readSys(linear: number, size: 1 | 2 | 4): number {
    return this.readLinear(linear, size);
  }
  writeSys(linear: number, size: 1 | 2 | 4, value: number): void {
    this.writeLinear(linear, size, value);
  }
  private check(linear: number, size: number, write: boolean): void {
    if (linear + size > this.faultFrom) throw new GuestFault(Vec.PF, write ? 2 : 0, Math.max(linear, this.faultFrom));
  }
  readLinear(linear: number, size: 1 | 2 | 4): number {
    this.check(linear, size, false);
    return size === 1
      ? this.mem[linear]
      : size === 2
        ? this.view.getUint16(linear, true)
        : this.view.getUint32(linear, true);
  }
  writeLinear(linear: number, size: 1 | 2 | 4, value: number): void {
    this.check(linear, size, true);
    this.writes++;
    if (size === 1) this.mem[linear] = value;
    else if (size === 2) this.view.setUint16(linear, value, true);
    else this.view.setUint32(linear, value, true);
  }
  probeWrite(linear: number, length: number): void {
    this.check(linear, length, true);
  }
  raise(vector: number, errorCode?: number): never {
    throw new GuestFault(vector, errorCode);
  }
  shutdown(reason: string): never {
    throw new Error(reason);
  }
}

const A = 0x100; // scratch operand
const B = 0x200;

function setup() {
  const cpu = new FakeCpu();
  const fpu = new Fpu(cpu);
  fpu.reset();
  const run = (code: number, sti = 0, linear = 0, operandSize: 2 | 4 = 4, fip = 0x1000) =>
    fpu.execute(code, sti, linear, operandSize, fip, 0x08, linear, 0x10, 0x123);
  const fld = (v: number) => {
    cpu.view.setFloat64(A, v, true);
    run(Code.Fld_m64fp, 0, A);
  };
  const fstp = (): number => {
    run(Code.Fstp_m64fp, 0, B);
    return cpu.view.getFloat64(B, true);
  };
  const hi = (addr: number) => cpu.view.getUint32(addr + 4, true);
  const lo = (addr: number) => cpu.view.getUint32(addr, true);
  const sw = () => fpu.statusWord;
  const cc = () => fpu.statusWord & (Sw.C0 | Sw.C1 | Sw.C2 | Sw.C3);
  const setRc = (rc: number) => {
    cpu.view.setUint16(0x80, (fpu.controlWord & ~0xc00) | (rc << 10), true);
    run(Code.Fldcw_m2byte, 0, 0x80);
  };
  const fault = (fn: () => void): number => {
    try {
      fn();
    } catch (e) {
      if (e instanceof GuestFault) return e.vector;
      throw e;
    }
    return -1;
  };
  return { cpu, fpu, run, fld, fstp, hi, lo, sw, cc, setRc, fault };
}

const NEAREST = 0;
const DOWN = 1;
const UP = 2;
const CHOP = 3;
const INDEFINITE_HI = 0xfff80000;

void describe('x87 state', () => {
  void it('FNINIT state: control 037F, status 0, all tags empty', () => {
    const { fpu, fld, run } = setup();
    fld(1);
    run(Code.Fninit);
    assert.equal(fpu.controlWord, 0x037f);
    assert.equal(fpu.statusWord, 0);
    assert.equal(fpu.tagWord, 0xffff);
  });

  void it('tag word classes and TOP in the status word', () => {
    const { fpu, fld } = setup();
    fld(0);
    fld(Infinity);
    fld(2.5);
    assert.equal((fpu.statusWord >> 11) & 7, 5);
    // R5 = 2.5 valid (00), R6 = inf special (10), R7 = 0 zero (01), others empty.
    assert.equal(fpu.tagWord, 0x03ff | (0b00 << 10) | (0b10 << 12) | (0b01 << 14));
    assert.deepEqual(fpu.stack.slice(0, 3), [2.5, Infinity, 0]);
  });
});

void describe('x87 loads and stores', () => {
  void it('m32fp: loads exactly, stores rounded, keeps NaN payloads and -0', () => {
    const { cpu, run, fpu, sw } = setup();
    cpu.view.setFloat32(A, 0.1, true);
    run(Code.Fld_m32fp, 0, A);
    assert.equal(fpu.st(0), Math.fround(0.1));
    run(Code.Fstp_m32fp, 0, B);
    assert.equal(cpu.view.getUint32(B, true), 0x3dcccccd);
    assert.equal(sw() & Sw.PE, 0, 'an exact store sets no PE');
    cpu.view.setUint32(A, 0xffc01234, true);
    run(Code.Fld_m32fp, 0, A);
    run(Code.Fst_m32fp, 0, B);
    assert.equal(cpu.view.getUint32(B, true), 0xffc01234);
    cpu.view.setUint32(A, 0x80000000, true);
    run(Code.Fld_m32fp, 0, A);
    run(Code.Fstp_m32fp, 0, B);
    assert.equal(cpu.view.getUint32(B, true), 0x80000000);
  });

  void it('m32fp store: inexact rounding per RC sets PE and C1; overflow gives inf or max', () => {
    const { cpu, run, fld, setRc, sw, fpu } = setup();
    const third = 1 / 3;
    const store = (): number => {
      fld(third);
      run(Code.Fstp_m32fp, 0, B);
      return cpu.view.getUint32(B, true);
    };
    const near = store();
    assert.equal(near, 0x3eaaaaab);
    assert.ok(sw() & Sw.PE && sw() & Sw.C1, 'nearest rounded up');
    setRc(DOWN);
    assert.equal(store(), 0x3eaaaaaa);
    assert.equal(sw() & Sw.C1, 0);
    setRc(UP);
    assert.equal(store(), 0x3eaaaaab);
    setRc(CHOP);
    fld(1e300);
    run(Code.Fstp_m32fp, 0, B);
    assert.equal(cpu.view.getUint32(B, true), 0x7f7fffff, 'chop overflows to the largest float');
    assert.ok(fpu.statusWord & Sw.OE);
    setRc(NEAREST);
    fld(-1e300);
    run(Code.Fstp_m32fp, 0, B);
    assert.equal(cpu.view.getUint32(B, true), 0xff800000);
    fld(1e-50);
    run(Code.Fstp_m32fp, 0, B);
    assert.equal(cpu.view.getUint32(B, true), 0);
    assert.ok(fpu.statusWord & Sw.UE);
  });

  void it('m64fp: bit-exact round trip of normal, denormal, infinity and NaN values', () => {
    const { fld, fstp } = setup();
    for (const v of [Math.PI, -0, 5e-324, -2.2250738585072014e-308, Infinity, Number.MAX_VALUE]) {
      fld(v);
      assert.ok(Object.is(fstp(), v), String(v));
    }
  });

  void it('m64fp: loading an SNaN raises IE and loads it quieted; a denormal raises DE', () => {
    const { cpu, run, fpu, sw, hi, lo } = setup();
    cpu.view.setUint32(A, 1, true);
    cpu.view.setUint32(A + 4, 0x7ff00000, true);
    run(Code.Fld_m64fp, 0, A);
    assert.ok(sw() & Sw.IE);
    run(Code.Fstp_m64fp, 0, B);
    assert.equal(hi(B), 0x7ff80000);
    assert.equal(lo(B), 1);
    run(Code.Fnclex);
    cpu.view.setFloat64(A, 5e-324, true);
    run(Code.Fld_m64fp, 0, A);
    assert.ok(sw() & Sw.DE);
    assert.equal(fpu.st(0), 5e-324);
  });

  void it('m80fp: encodings of doubles, FLD/FSTP round trip, out-of-range values', () => {
    const { cpu, run, fld, fpu, sw } = setup();
    const m80 = (v: number) => {
      fld(v);
      run(Code.Fstp_m80fp, 0, B);
      return [cpu.view.getUint16(B + 8, true), cpu.view.getUint32(B + 4, true), cpu.view.getUint32(B, true)];
    };
    assert.deepEqual(m80(1), [0x3fff, 0x80000000, 0]);
    assert.deepEqual(m80(-2), [0xc000, 0x80000000, 0]);
    assert.deepEqual(m80(Math.PI), [0x4000, 0xc90fdaa2, 0x2168c000]);
    assert.deepEqual(m80(5e-324), [0x3bcd, 0x80000000, 0], 'double denormals are normal in extended');
    assert.deepEqual(m80(-Infinity), [0xffff, 0x80000000, 0]);
    for (const v of [Math.PI, 5e-324, -1e-310, 1e308, -0]) {
      m80(v);
      run(Code.Fld_m80fp, 0, B);
      assert.ok(Object.is(fpu.st(0), v), String(v));
      run(Code.Fstp_m64fp, 0, A);
    }
    // 2^10000: beyond double: +inf with OE and PE.
    cpu.view.setUint32(A, 0, true);
    cpu.view.setUint32(A + 4, 0x80000000, true);
    cpu.view.setUint16(A + 8, 16383 + 10000, true);
    run(Code.Fld_m80fp, 0, A);
    assert.equal(fpu.st(0), Infinity);
    assert.ok(sw() & Sw.OE && sw() & Sw.PE);
    // 1 + 2^-63 rounds to 1 (nearest) or to the next double (up).
    cpu.view.setUint32(A, 1, true);
    cpu.view.setUint16(A + 8, 16383, true);
    run(Code.Fld_m80fp, 0, A);
    assert.equal(fpu.st(0), 1);
    cpu.view.setUint16(0x80, 0x037f | (UP << 10), true);
    run(Code.Fldcw_m2byte, 0, 0x80);
    run(Code.Fld_m80fp, 0, A);
    assert.equal(fpu.st(0), 1 + 2 ** -52);
    // An unnormal loads as the indefinite.
    cpu.view.setUint32(A + 4, 0x40000000, true);
    run(Code.Fld_m80fp, 0, A);
    assert.equal(f64Hi(fpu.st(0)), INDEFINITE_HI);
  });

  void it('m16int, m32int, m64int loads and stores', () => {
    const { cpu, run, fpu } = setup();
    cpu.view.setInt16(A, -12345, true);
    run(Code.Fild_m16int, 0, A);
    cpu.view.setInt32(A, -2147483648, true);
    run(Code.Fild_m32int, 0, A);
    cpu.view.setBigInt64(A, -(2n ** 53n) - 1n, true);
    run(Code.Fild_m64int, 0, A);
    assert.equal(fpu.st(0), -(2 ** 53), 'rounded to the nearest double');
    assert.equal(fpu.st(1), -2147483648);
    assert.equal(fpu.st(2), -12345);
    cpu.view.setBigInt64(A, 0x7fffffffffff0000n, true);
    run(Code.Fild_m64int, 0, A);
    run(Code.Fistp_m64int, 0, B);
    assert.equal(cpu.view.getBigInt64(B, true), 0x7fffffffffff0000n);
    run(Code.Fistp_m64int, 0, B);
    assert.equal(cpu.view.getBigInt64(B, true), -(2n ** 53n));
    run(Code.Fistp_m32int, 0, B);
    assert.equal(cpu.view.getInt32(B, true), -2147483648);
    run(Code.Fist_m16int, 0, B);
    assert.equal(cpu.view.getInt16(B, true), -12345);
    run(Code.Fistp_m16int, 0, B);
    assert.equal(fpu.tagWord, 0xffff);
  });

  void it('FIST rounds per RC; out of range stores the integer indefinite with IE', () => {
    const { cpu, run, fld, setRc, sw } = setup();
    const fist = (v: number): number => {
      fld(v);
      run(Code.Fistp_m32int, 0, B);
      return cpu.view.getInt32(B, true);
    };
    const cases: [number, number[]][] = [
      [2.5, [2, 2, 3, 2]],
      [-2.5, [-2, -3, -2, -2]],
      [3.5, [4, 3, 4, 3]],
      [-1.2, [-1, -2, -1, -1]],
      [0.7, [1, 0, 1, 0]],
    ];
    for (const rc of [NEAREST, DOWN, UP, CHOP]) {
      setRc(rc);
      for (const [v, expected] of cases) assert.equal(fist(v), expected[rc], `${v} rc=${rc}`);
    }
    setRc(NEAREST);
    run(Code.Fnclex);
    fld(2.5);
    run(Code.Fistp_m32int, 0, B);
    assert.ok(sw() & Sw.PE);
    assert.equal(sw() & Sw.C1, 0, 'rounded down in magnitude');
    fld(40000);
    run(Code.Fistp_m16int, 0, B);
    assert.equal(cpu.view.getUint16(B, true), 0x8000);
    assert.ok(sw() & Sw.IE);
    fld(NaN);
    run(Code.Fistp_m64int, 0, B);
    assert.equal(cpu.view.getBigUint64(B, true), 0x8000000000000000n);
  });

  void it('FBLD/FBSTP packed BCD', () => {
    const { cpu, run, fpu, fld, sw } = setup();
    const bcd = [0x89, 0x67, 0x45, 0x23, 0x01, 0, 0, 0, 0, 0x80];
    cpu.mem.set(bcd, A);
    run(Code.Fbld_m80bcd, 0, A);
    assert.equal(fpu.st(0), -123456789);
    run(Code.Fbstp_m80bcd, 0, B);
    assert.deepEqual([...cpu.mem.subarray(B, B + 10)], bcd);
    fld(1e18);
    run(Code.Fbstp_m80bcd, 0, B);
    assert.deepEqual([...cpu.mem.subarray(B, B + 10)], [0, 0, 0, 0, 0, 0, 0, 0xc0, 0xff, 0xff]);
    assert.ok(sw() & Sw.IE);
  });

  void it('constants honour RC', () => {
    const { run, fpu, setRc } = setup();
    run(Code.Fldpi);
    run(Code.Fldl2e);
    run(Code.Fldlg2);
    run(Code.Fldln2);
    run(Code.Fldl2t);
    run(Code.Fld1);
    run(Code.Fldz);
    assert.deepEqual(fpu.stack.slice(0, 7), [0, 1, Math.log2(10), Math.LN2, Math.log10(2), Math.LOG2E, Math.PI]);
    run(Code.Fninit);
    setRc(UP);
    run(Code.Fldpi);
    assert.equal(fpu.st(0), 3.1415926535897936);
    setRc(DOWN);
    run(Code.Fldlg2);
    assert.ok(fpu.st(0) < Math.log10(2));
  });
});

void describe('x87 arithmetic', () => {
  void it('register forms: ST0,STi / STi,ST0 / pop / reverse', () => {
    const { run, fld, fpu } = setup();
    const two = () => {
      run(Code.Fninit);
      fld(3); // ST1
      fld(12); // ST0
    };
    two();
    run(Code.Fsub_st0_sti, 1);
    assert.deepEqual(fpu.stack.slice(0, 2), [9, 3]);
    two();
    run(Code.Fsubr_st0_sti, 1);
    assert.equal(fpu.st(0), -9);
    two();
    run(Code.Fsub_sti_st0, 1);
    assert.deepEqual(fpu.stack.slice(0, 2), [12, -9], 'FSUB ST(1),ST(0): ST(1) - ST(0)');
    two();
    run(Code.Fsubr_sti_st0, 1);
    assert.equal(fpu.st(1), 9);
    two();
    run(Code.Fdivp_sti_st0, 1);
    assert.equal(fpu.st(0), 0.25);
    assert.equal((fpu.statusWord >> 11) & 7, 7);
    two();
    run(Code.Fdivrp_sti_st0, 1);
    assert.equal(fpu.st(0), 4);
    two();
    run(Code.Fmulp_sti_st0, 1);
    assert.equal(fpu.st(0), 36);
    two();
    run(Code.Faddp_sti_st0, 1);
    assert.equal(fpu.st(0), 15);
    two();
    run(Code.Fsubrp_sti_st0, 1);
    assert.equal(fpu.st(0), 9);
    two();
    run(Code.Fsubp_sti_st0, 1);
    assert.equal(fpu.st(0), -9);
    two();
    run(Code.Fadd_sti_st0, 1);
    run(Code.Fmul_st0_sti, 1);
    assert.deepEqual(fpu.stack.slice(0, 2), [180, 15]);
  });

  void it('memory forms: m32fp, m64fp, m16int, m32int', () => {
    const { cpu, run, fld, fpu } = setup();
    fld(10);
    cpu.view.setFloat32(A, 0.5, true);
    run(Code.Fadd_m32fp, 0, A);
    cpu.view.setFloat64(A, 4, true);
    run(Code.Fdivr_m64fp, 0, A);
    assert.equal(fpu.st(0), 4 / 10.5);
    fld(7);
    cpu.view.setInt16(A, -2, true);
    run(Code.Fimul_m16int, 0, A);
    cpu.view.setInt32(A, 100000, true);
    run(Code.Fisubr_m32int, 0, A);
    assert.equal(fpu.st(0), 100014);
    run(Code.Fidiv_m32int, 0, A);
    assert.equal(fpu.st(0), 1.00014);
    cpu.view.setFloat64(A, 0.00014, true);
    run(Code.Fsub_m64fp, 0, A);
    assert.equal(fpu.st(0), 1.00014 - 0.00014);
  });

  void it('(a*b+c)/d as gcc -m32 emits it gives the exact double result', () => {
    const { cpu, run, hi, lo } = setup();
    const [a, b, c, d] = [0.1, 3.3, 1e-3, 7.7];
    [a, b, c, d].forEach((v, k) => cpu.view.setFloat64(0x400 + 8 * k, v, true));
    run(Code.Fld_m64fp, 0, 0x400);
    run(Code.Fmul_m64fp, 0, 0x408);
    run(Code.Fadd_m64fp, 0, 0x410);
    run(Code.Fdiv_m64fp, 0, 0x418);
    run(Code.Fstp_m64fp, 0, 0x420);
    const expected = (a * b + c) / d;
    assert.equal(hi(0x420), f64Hi(expected));
    assert.equal(lo(0x420), f64Lo(expected));
  });

  void it('directed rounding of FADD/FMUL/FDIV/FSQRT, PE and C1', () => {
    const { run, fld, fpu, setRc, sw } = setup();
    const div = (rc: number) => {
      run(Code.Fninit);
      setRc(rc);
      fld(3);
      fld(1);
      run(Code.Fdiv_st0_sti, 1);
      return fpu.st(0);
    };
    const near = div(NEAREST);
    assert.equal(near, 1 / 3);
    assert.ok(sw() & Sw.PE);
    assert.equal(sw() & Sw.C1, 0, '1/3 rounds down to nearest');
    assert.equal(div(DOWN), near);
    assert.equal(div(CHOP), near);
    assert.equal(div(UP), near + 2 ** -54);
    assert.ok(sw() & Sw.C1);
    const sum = (rc: number) => {
      run(Code.Fninit);
      setRc(rc);
      fld(2 ** -60);
      fld(-1);
      run(Code.Faddp_sti_st0, 1);
      return fpu.st(0);
    };
    assert.equal(sum(NEAREST), -1);
    assert.equal(sum(DOWN), -1);
    assert.equal(sum(UP), -1 + 2 ** -53);
    assert.equal(sum(CHOP), -1 + 2 ** -53);
    run(Code.Fninit);
    setRc(UP);
    fld(2);
    run(Code.Fsqrt);
    assert.equal(fpu.st(0), 1.4142135623730951);
    setRc(DOWN);
    fld(2);
    run(Code.Fsqrt);
    assert.equal(fpu.st(0), 1.414213562373095);
    run(Code.Fnclex);
    fld(1e-200);
    fld(1e-200);
    run(Code.Fmul_st0_sti, 1);
    assert.equal(fpu.st(0), 0);
    assert.ok(sw() & Sw.UE && sw() & Sw.PE, 'a product below the double range underflows');
    fld(1e200);
    fld(1e200);
    run(Code.Fmulp_sti_st0, 1);
    assert.equal(fpu.st(0), Number.MAX_VALUE, 'RC down overflows to the largest double');
    assert.ok(sw() & Sw.OE);
  });

  void it('precision control single rounds results to 24 bits', () => {
    const { cpu, run, fld, fpu } = setup();
    cpu.view.setUint16(0x80, 0x007f, true);
    run(Code.Fldcw_m2byte, 0, 0x80);
    fld(3);
    fld(1);
    run(Code.Fdivrp_sti_st0, 1);
    assert.equal(fpu.st(0), Math.fround(1 / 3));
    fld(1e100);
    run(Code.Fmul_st0_sti, 1);
    assert.ok(Number.isFinite(fpu.st(0)), 'the exponent range stays wide');
    fld(0);
    fld(1 + 2 ** -30);
    run(Code.Faddp_sti_st0, 1);
    assert.equal(fpu.st(0), 1, 'an exact double sum is still rounded to 24 bits');
  });

  void it('divide by zero, invalid operations and NaN propagation', () => {
    const { run, fld, fpu, sw, fstp } = setup();
    fld(0);
    fld(-5);
    run(Code.Fdiv_st0_sti, 1);
    assert.equal(fpu.st(0), -Infinity);
    assert.ok(sw() & Sw.ZE);
    assert.equal(sw() & Sw.IE, 0);
    run(Code.Fninit);
    fld(0);
    fld(0);
    run(Code.Fdivp_sti_st0, 1);
    assert.ok(sw() & Sw.IE);
    assert.equal(f64Hi(fstp()), INDEFINITE_HI);
    run(Code.Fninit);
    fld(Infinity);
    fld(-Infinity);
    run(Code.Faddp_sti_st0, 1);
    assert.equal(f64Hi(fpu.st(0)), INDEFINITE_HI);
    run(Code.Fninit);
    fld(-1);
    run(Code.Fsqrt);
    assert.equal(f64Hi(fpu.st(0)), INDEFINITE_HI);
  });

  void it('FCHS, FABS, FRNDINT per RC, FSCALE, FXTRACT', () => {
    const { run, fld, fpu, setRc, sw } = setup();
    fld(-2.5);
    run(Code.Fabs);
    assert.equal(fpu.st(0), 2.5);
    run(Code.Fchs);
    assert.equal(fpu.st(0), -2.5);
    const rnd = [-2, -3, -2, -2];
    for (const rc of [NEAREST, DOWN, UP, CHOP]) {
      setRc(rc);
      fld(-2.5);
      run(Code.Frndint);
      assert.equal(fpu.st(0), rnd[rc]);
    }
    assert.ok(sw() & Sw.PE);
    setRc(NEAREST);
    run(Code.Fninit);
    fld(-3.7);
    fld(1.5);
    run(Code.Fscale);
    assert.equal(fpu.st(0), 1.5 / 8);
    run(Code.Fninit);
    fld(2000);
    fld(1);
    run(Code.Fscale);
    assert.equal(fpu.st(0), Infinity);
    assert.ok(sw() & Sw.OE);
    run(Code.Fninit);
    fld(-1074);
    fld(1);
    run(Code.Fscale);
    assert.equal(fpu.st(0), 5e-324);
    run(Code.Fninit);
    fld(-24.5);
    run(Code.Fxtract);
    assert.deepEqual(fpu.stack.slice(0, 2), [-1.53125, 4]);
    fld(0);
    run(Code.Fxtract);
    assert.deepEqual(fpu.stack.slice(0, 2), [0, -Infinity]);
    assert.ok(sw() & Sw.ZE);
  });

  void it('FPREM and FPREM1: remainders and quotient bits in C0/C3/C1, partial reduction with C2', () => {
    const { run, fld, fpu, cc } = setup();
    fld(3);
    fld(23);
    run(Code.Fprem);
    // 23 = 7*3 + 2: Q = 7 -> C0 = Q2, C3 = Q1, C1 = Q0.
    assert.equal(fpu.st(0), 2);
    assert.equal(cc(), Sw.C0 | Sw.C3 | Sw.C1);
    run(Code.Fninit);
    fld(3);
    fld(23);
    run(Code.Fprem1);
    // IEEE: 23 = 8*3 - 1.
    assert.equal(fpu.st(0), -1);
    assert.equal(cc(), 0);
    run(Code.Fninit);
    fld(-3);
    fld(-19);
    run(Code.Fprem);
    assert.equal(fpu.st(0), -1);
    assert.equal(cc(), Sw.C3 | Sw.C0, 'Q = 6');
    run(Code.Fninit);
    const [a, b] = [1.2345e300, 0.7];
    fld(b);
    fld(a);
    let rounds = 0;
    do {
      run(Code.Fprem);
      rounds++;
    } while (cc() & Sw.C2 && rounds < 100);
    assert.ok(rounds > 1, 'needed partial reductions');
    assert.equal(fpu.st(0), a % b);
  });

  void it('transcendental instructions', () => {
    const { run, fld, fpu, cc } = setup();
    const near = (x: number, y: number) => assert.ok(Math.abs(x - y) <= Math.abs(y) * 4e-16, `${x} vs ${y}`);
    fld(0.5);
    run(Code.Fsin);
    near(fpu.st(0), Math.sin(0.5));
    run(Code.Fcos);
    near(fpu.st(0), Math.cos(Math.sin(0.5)));
    run(Code.Fninit);
    fld(1);
    run(Code.Fptan);
    assert.equal(fpu.st(0), 1);
    near(fpu.st(1), Math.tan(1));
    run(Code.Fninit);
    fld(0.3);
    run(Code.Fsincos);
    near(fpu.st(0), Math.cos(0.3));
    near(fpu.st(1), Math.sin(0.3));
    run(Code.Fninit);
    fld(1); // y
    fld(-1); // x
    run(Code.Fpatan);
    near(fpu.st(0), (3 * Math.PI) / 4);
    run(Code.Fninit);
    fld(0.5);
    run(Code.F2xm1);
    near(fpu.st(0), Math.SQRT2 - 1);
    run(Code.Fninit);
    fld(3);
    fld(8);
    run(Code.Fyl2x);
    assert.equal(fpu.st(0), 9);
    run(Code.Fninit);
    fld(2);
    fld(1e-10);
    run(Code.Fyl2xp1);
    near(fpu.st(0), (2 * Math.log1p(1e-10)) / Math.LN2);
    run(Code.Fninit);
    fld(2 ** 64);
    run(Code.Fsin);
    assert.equal(fpu.st(0), 2 ** 64);
    assert.equal(cc(), Sw.C2, 'out of range: C2 set, operand unchanged');
  });
});

void describe('x87 compares', () => {
  void it('FCOM/FCOMP/FCOMPP/FICOM/FTST condition codes', () => {
    const { cpu, run, fld, cc, fpu, sw } = setup();
    const com = (a: number, m: number): number => {
      run(Code.Fninit);
      fld(a);
      cpu.view.setFloat64(A, m, true);
      run(Code.Fcom_m64fp, 0, A);
      return cc();
    };
    assert.equal(com(2, 1), 0);
    assert.equal(com(1, 2), Sw.C0);
    assert.equal(com(-0, 0), Sw.C3);
    assert.equal(com(NaN, 0), Sw.C0 | Sw.C2 | Sw.C3);
    assert.ok(sw() & Sw.IE, 'FCOM raises IE on a QNaN');
    run(Code.Fninit);
    fld(NaN);
    fld(1);
    run(Code.Fucom_st0_sti, 1);
    assert.equal(cc(), Sw.C0 | Sw.C2 | Sw.C3);
    assert.equal(sw() & Sw.IE, 0, 'FUCOM does not on a QNaN');
    run(Code.Fninit);
    fld(5);
    fld(4);
    run(Code.Fcompp);
    assert.equal(cc(), Sw.C0);
    assert.equal(fpu.tagWord, 0xffff);
    fld(7);
    cpu.view.setInt16(A, 7, true);
    run(Code.Ficomp_m16int, 0, A);
    assert.equal(cc(), Sw.C3);
    assert.equal(fpu.tagWord, 0xffff);
    fld(-1e-300);
    run(Code.Ftst);
    assert.equal(cc(), Sw.C0);
    cpu.view.setFloat32(A, -2, true);
    run(Code.Fcomp_m32fp, 0, A);
    assert.equal(cc(), 0);
  });

  void it('FCOMI/FUCOMI/FCOMIP/FUCOMIP set ZF/PF/CF and clear OF/SF/AF', () => {
    const { cpu, run, fld, fpu } = setup();
    const comi = (a: number, b: number, code = Code.Fcomi_st0_sti): number => {
      run(Code.Fninit);
      fld(b);
      fld(a);
      cpu.eflags = 0x2 | Flag.OF | Flag.SF | Flag.AF;
      run(code, 1);
      return cpu.eflags & ~2;
    };
    assert.equal(comi(2, 1), 0);
    assert.equal(comi(1, 2), Flag.CF);
    assert.equal(comi(3, 3), Flag.ZF);
    assert.equal(comi(NaN, 3, Code.Fucomi_st0_sti), Flag.ZF | Flag.PF | Flag.CF);
    assert.equal(comi(1, 2, Code.Fucomip_st0_sti), Flag.CF);
    assert.equal(fpu.st(0), 2);
    comi(1, 2, Code.Fcomip_st0_sti);
    assert.equal((fpu.statusWord >> 11) & 7, 7);
  });

  void it('FXAM classes and sign', () => {
    const { run, fld, cc } = setup();
    run(Code.Fxam);
    assert.equal(cc() & ~Sw.C1, Sw.C3 | Sw.C0, 'empty');
    const cases: [number, number][] = [
      [1.5, Sw.C2],
      [-1.5, Sw.C2 | Sw.C1],
      [5e-324, Sw.C2],
      [0, Sw.C3],
      [-0, Sw.C3 | Sw.C1],
      [Infinity, Sw.C2 | Sw.C0],
      [-Infinity, Sw.C2 | Sw.C0 | Sw.C1],
      [NaN, Sw.C0],
    ];
    for (const [v, expected] of cases) {
      fld(v);
      run(Code.Fxam);
      assert.equal(cc(), expected, String(v));
      run(Code.Ffreep_sti, 0);
    }
  });

  void it('FCMOVcc, FXCH, FFREE, FDECSTP/FINCSTP', () => {
    const { cpu, run, fld, fpu } = setup();
    fld(1);
    fld(2);
    cpu.eflags = 2 | Flag.CF;
    run(Code.Fcmovnb_st0_sti, 1);
    assert.equal(fpu.st(0), 2);
    run(Code.Fcmovb_st0_sti, 1);
    assert.equal(fpu.st(0), 1);
    fld(3);
    cpu.eflags = 2 | Flag.PF;
    run(Code.Fcmovu_st0_sti, 2);
    assert.equal(fpu.st(0), 1);
    fld(9);
    run(Code.Fxch_st0_sti, 2);
    assert.deepEqual(fpu.stack.slice(0, 3), [1, 1, 9]);
    run(Code.Fincstp);
    assert.equal(fpu.st(0), 1);
    assert.equal(fpu.isEmpty(7), false, 'FINCSTP does not free');
    run(Code.Fdecstp);
    run(Code.Ffree_sti, 1);
    assert.equal(fpu.isEmpty(1), true);
    assert.equal(fpu.isEmpty(0), false);
  });
});

void describe('x87 stack faults and exceptions', () => {
  void it('stack overflow: IE + SF + C1, the indefinite in ST(0)', () => {
    const { run, fld, fpu, sw } = setup();
    for (let k = 0; k < 8; k++) fld(k);
    assert.equal(sw() & Sw.IE, 0);
    fld(100);
    assert.ok(sw() & Sw.IE && sw() & Sw.SF && sw() & Sw.C1);
    assert.equal(f64Hi(fpu.st(0)), INDEFINITE_HI);
    run(Code.Fld1);
    assert.equal(sw() & Sw.C1 && 1, 1);
  });

  void it('stack underflow: IE + SF, C1 = 0, masked result is the indefinite', () => {
    const { run, fld, fpu, sw } = setup();
    fld(1);
    run(Code.Fadd_st0_sti, 3);
    assert.ok(sw() & Sw.IE && sw() & Sw.SF);
    assert.equal(sw() & Sw.C1, 0);
    assert.equal(f64Hi(fpu.st(0)), INDEFINITE_HI);
  });

  void it('unmasked invalid: no change, ES set, #MF at the next FP instruction when NE = 1', () => {
    const { cpu, run, fld, fpu, sw, fault } = setup();
    cpu.view.setUint16(0x80, 0x037e, true);
    run(Code.Fldcw_m2byte, 0, 0x80);
    fld(1);
    run(Code.Fadd_st0_sti, 3, 0, 4, 0x2000);
    assert.equal(fpu.st(0), 1, 'destination unchanged');
    assert.ok(sw() & Sw.ES && sw() & Sw.B);
    assert.equal(
      fault(() => run(Code.Fld1, 0, 0, 4, 0x3000)),
      Vec.MF,
    );
    assert.equal(fpu.fip, 0x2000, 'pointers still describe the faulting instruction');
    assert.equal(
      fault(() => run(Code.Wait)),
      Vec.MF,
    );
    // Non-waiting control instructions do not check.
    run(Code.Fnstsw_AX);
    run(Code.Fnstenv_m28byte, 0, B);
    assert.equal(sw() & Sw.ES, 0, 'FNSTENV masks all exceptions');
    assert.equal(fpu.controlWord & 0x3f, 0x3f);
    run(Code.Fldenv_m28byte, 0, B);
    assert.ok(sw() & Sw.ES, 'FLDENV restores the unmasked pending exception');
    assert.equal(
      fault(() => run(Code.Fstsw_AX)),
      Vec.MF,
      'the waiting form checks',
    );
    run(Code.Fnclex);
    run(Code.Fld1);
    assert.equal(fpu.st(0), 1);
  });

  void it('FLDCW unmasking a pending exception makes the next FP instruction fault', () => {
    const { cpu, run, fld, fault } = setup();
    fld(0);
    fld(1);
    run(Code.Fdiv_st0_sti, 1);
    cpu.view.setUint16(0x80, 0x037b, true);
    run(Code.Fldcw_m2byte, 0, 0x80);
    assert.equal(
      fault(() => run(Code.Fld1)),
      Vec.MF,
    );
  });

  void it('NE = 0: FERR# callback instead of #MF, and the instruction runs', () => {
    const { cpu, run, fld, fpu } = setup();
    let ferr = 0;
    fpu.onFerr = () => ferr++;
    cpu.cr0 &= ~Cr0.NE;
    cpu.view.setUint16(0x80, 0x037b, true);
    run(Code.Fldcw_m2byte, 0, 0x80);
    fld(0);
    fld(1);
    run(Code.Fdiv_st0_sti, 1);
    assert.equal(ferr, 0);
    run(Code.Fld1);
    assert.equal(ferr, 1);
    assert.equal(fpu.st(0), 1);
  });

  void it('#NM: EM or TS for ESC instructions; WAIT only with MP and TS', () => {
    const { cpu, run, fault, fpu } = setup();
    cpu.cr0 |= Cr0.EM;
    assert.equal(
      fault(() => run(Code.Fld1)),
      Vec.NM,
    );
    assert.equal(
      fault(() => run(Code.Fninit)),
      Vec.NM,
    );
    assert.equal(
      fault(() => run(Code.Wait)),
      -1,
      'WAIT ignores EM',
    );
    cpu.cr0 = (cpu.cr0 & ~Cr0.EM) | Cr0.TS;
    assert.equal(
      fault(() => run(Code.Fnstsw_AX)),
      Vec.NM,
    );
    assert.equal(
      fault(() => run(Code.Wait)),
      -1,
      'TS without MP',
    );
    cpu.cr0 |= Cr0.MP;
    assert.equal(
      fault(() => run(Code.Wait)),
      Vec.NM,
    );
    cpu.cr0 &= ~Cr0.TS;
    run(Code.Fld1);
    assert.equal(fpu.st(0), 1);
  });

  void it('#UD for x87 encodings an i686 lacks', () => {
    const { run, fault } = setup();
    assert.equal(
      fault(() => run(Code.Fisttp_m32int, 0, A)),
      Vec.UD,
    );
    assert.equal(
      fault(() => run(Code.Fxsave_m512byte, 0, A)),
      Vec.UD,
    );
    assert.equal(
      fault(() => run(Code.Frstpm)),
      Vec.UD,
    );
  });

  void it('a faulting store writes nothing and leaves the stack and pointers unchanged', () => {
    const { cpu, run, fld, fpu, fault } = setup();
    cpu.faultFrom = 0x1004;
    fld(1.5);
    const before = fpu.fip;
    cpu.writes = 0;
    assert.equal(
      fault(() => run(Code.Fstp_m64fp, 0, 0x1000, 4, 0x5555)),
      Vec.PF,
    );
    assert.equal(cpu.writes, 0);
    assert.equal(fpu.st(0), 1.5);
    assert.equal(fpu.isEmpty(0), false);
    assert.equal(fpu.fip, before);
    assert.equal(
      fault(() => run(Code.Fnsave_m108byte, 0, 0xfc0)),
      Vec.PF,
    );
    assert.equal(cpu.writes, 0);
    assert.equal(fpu.st(0), 1.5);
  });
});

void describe('x87 environment', () => {
  void it('FNSTSW AX writes only AX', () => {
    const { cpu, run, fld } = setup();
    cpu.regs[0] = 0x12340000 | 0;
    fld(1);
    fld(2);
    run(Code.Fcom_st0_sti, 1);
    run(Code.Fnstsw_AX);
    assert.equal(cpu.regs[0] >>> 16, 0x1234);
    assert.equal(cpu.regs[0] & 0xffff, 6 << 11);
    cpu.view.setUint16(B, 0, true);
    run(Code.Fnstsw_m2byte, 0, B);
    run(Code.Fnstcw_m2byte, 0, B + 2);
    assert.equal(cpu.view.getUint16(B, true), 6 << 11);
    assert.equal(cpu.view.getUint16(B + 2, true), 0x037f);
  });

  void it('FSTENV 32-bit protected layout and FLDENV round trip', () => {
    const { cpu, run, fld, fpu } = setup();
    fld(0);
    cpu.view.setFloat64(A, 2, true);
    fpu.execute(Code.Fmul_m64fp, 0, A, 4, 0x00401234, 0x1b, 0x00803000, 0x23, 0x4c9);
    const sw = fpu.statusWord;
    run(Code.Fnstenv_m28byte, 0, B);
    const d = (k: number) => cpu.view.getUint32(B + 4 * k, true);
    assert.equal(d(0), 0xffff037f);
    assert.equal(d(1), (0xffff0000 | sw) >>> 0);
    assert.equal(d(2), 0xffff7fff, 'R7 zero (01), others empty (11)');
    assert.equal(d(3), 0x00401234);
    assert.equal(d(4), (0x4c9 << 16) | 0x1b);
    assert.equal(d(5), 0x00803000);
    assert.equal(d(6), 0xffff0023);
    run(Code.Fninit);
    run(Code.Fldenv_m28byte, 0, B);
    assert.equal(fpu.statusWord, sw);
    assert.equal(fpu.controlWord, 0x037f);
    assert.equal(fpu.fip, 0x00401234);
    assert.equal(fpu.fop, 0x4c9);
    assert.equal(fpu.fds, 0x23);
    assert.equal(fpu.isEmpty(0), false);
    assert.equal(fpu.st(0), 0);
  });

  void it('FSTENV 16-bit protected and real-mode layouts', () => {
    const { cpu, run, fpu } = setup();
    fpu.execute(Code.Fld1, 0, 0, 2, 0x1234, 0x0010, 0, 0, 0x1e8);
    run(Code.Fnstenv_m14byte, 0, B, 2);
    const w = (k: number) => cpu.view.getUint16(B + 2 * k, true);
    assert.deepEqual([w(0), w(2), w(3), w(4)], [0x037f, 0x3fff, 0x1234, 0x0010]);
    cpu.protectedMode = false;
    run(Code.Fninit);
    fpu.execute(Code.Fld1, 0, 0, 2, 0x1234, 0xf000, 0, 0, 0x1e8);
    run(Code.Fnstenv_m14byte, 0, B, 2);
    // Linear FIP = F000:1234 = 0xF1234: bits 0-15 at +6, bits 16-19 in 12-15 at +8 with the opcode.
    assert.deepEqual([w(3), w(4)], [0x1234, 0xf000 | 0x1e8]);
    run(Code.Fnstenv_m28byte, 0, A, 4);
    assert.equal(cpu.view.getUint32(A + 12, true), 0xffff1234);
    assert.equal(cpu.view.getUint32(A + 16, true), (0x000f << 12) | 0x1e8);
    run(Code.Fninit);
    run(Code.Fldenv_m14byte, 0, B, 2);
    assert.equal(fpu.fip, 0xf1234);
    assert.equal(fpu.fop, 0x1e8);
  });

  void it('FSAVE/FRSTOR round trip in 32- and 16-bit layouts; FNSAVE reinitialises', () => {
    for (const [code, restore, size, base] of [
      [Code.Fnsave_m108byte, Code.Frstor_m108byte, 4, 28],
      [Code.Fsave_m94byte, Code.Frstor_m94byte, 2, 14],
    ] as const) {
      const { cpu, run, fld, fpu } = setup();
      const values = [Math.PI, -0, Infinity, 5e-324, -1e300];
      for (const v of values) fld(v);
      cpu.view.setUint16(0x80, 0x0e7f, true);
      run(Code.Fldcw_m2byte, 0, 0x80);
      const sw = fpu.statusWord;
      const tw = fpu.tagWord;
      run(code, 0, B, size);
      assert.equal(fpu.tagWord, 0xffff);
      assert.equal(fpu.controlWord, 0x037f);
      // ST(0) image = -1e300 as 80 bits.
      assert.equal(cpu.view.getUint16(B + base + 8, true) & 0x8000, 0x8000);
      run(restore, 0, B, size);
      assert.equal(fpu.statusWord, sw);
      assert.equal(fpu.tagWord, tw);
      assert.equal(fpu.controlWord, 0x0e7f);
      values.reverse().forEach((v, k) => assert.ok(Object.is(fpu.st(k), v), `${size}: ST(${k})`));
    }
  });
});
