/**
 * Number formats of the x87 unit (Intel SDM vol. 1, 4.2 and 4.8; 8.2 for the register format) converted to and
 * from the float64 values the emulated registers hold. All functions are pure; rounding follows the RC field of
 * the control word (SDM vol. 1, 4.8.4): 0 nearest-even, 1 down, 2 up, 3 toward zero.
 */

export const enum Rc {
  Nearest = 0,
  Down = 1,
  Up = 2,
  Chop = 3,
}

const scratch = new DataView(new ArrayBuffer(8));

export function f64FromBits(lo: number, hi: number): number {
  scratch.setUint32(0, lo >>> 0, true);
  scratch.setUint32(4, hi >>> 0, true);
  return scratch.getFloat64(0, true);
}

export function f64Hi(x: number): number {
  scratch.setFloat64(0, x, true);
  return scratch.getUint32(4, true);
}

export function f64Lo(x: number): number {
  scratch.setFloat64(0, x, true);
  return scratch.getUint32(0, true);
}

/** The real indefinite: the QNaN with the sign set and only the quiet bit in the fraction (SDM vol. 1, 4.8.3.7). */
export const INDEFINITE = f64FromBits(0, 0xfff80000);
export const MAX_DOUBLE = Number.MAX_VALUE;

export function isSignMinus(x: number): boolean {
  return (f64Hi(x) & 0x80000000) !== 0;
}

/** A NaN whose quiet bit (the fraction's top bit) is clear. */
export function isSNaN(x: number): boolean {
  return x !== x && (f64Hi(x) & 0x80000) === 0;
}

export function quiet(x: number): number {
  return f64FromBits(f64Lo(x), f64Hi(x) | 0x80000);
}

export function negate(x: number): number {
  return f64FromBits(f64Lo(x), f64Hi(x) ^ 0x80000000);
}

export function abs(x: number): number {
  return f64FromBits(f64Lo(x), f64Hi(x) & 0x7fffffff);
}

/** 2^n for -1074 <= n <= 1023, exact. */
function pow2(n: number): number {
  if (n >= -1022) return f64FromBits(0, (n + 1023) << 20);
  return n >= -1042 ? f64FromBits(0, 1 << (n + 1042)) : f64FromBits(1 << (n + 1074), 0);
}

/** x * 2^n, exact whenever the result is representable (large steps first, so no intermediate loses bits). */
export function scale2(x: number, n: number): number {
  while (n > 1023) {
    x *= pow2(1023);
    n -= 1023;
    if (!Number.isFinite(x)) return x;
  }
  while (n < -1022) {
    if (x === 0) return x;
    x *= pow2(-1022);
    n += 1022;
  }
  return x * pow2(n);
}

/** floor(log2 |x|) of a finite non-zero double, exact (denormals included). */
export function exponentOf(x: number): number {
  const hi = f64Hi(x);
  const e = (hi >>> 20) & 0x7ff;
  if (e !== 0) return e - 1023;
  const fhi = hi & 0xfffff;
  if (fhi !== 0) return -1042 + (31 - Math.clz32(fhi));
  return -1074 + (31 - Math.clz32(f64Lo(x)));
}

/** Decides whether a truncated magnitude is incremented, given the discarded part compared with one half ulp. */
export function roundsAway(rc: Rc, negative: boolean, cmpHalf: number, inexact: boolean, odd: boolean): boolean {
  if (!inexact) return false;
  switch (rc) {
    case Rc.Nearest:
      return cmpHalf > 0 || (cmpHalf === 0 && odd);
    case Rc.Down:
      return negative;
    case Rc.Up:
      return !negative;
    default:
      return false;
  }
}

/** Rounds a double to an integer-valued double per RC (FRNDINT, FIST). */
export function roundToInteger(x: number, rc: Rc): number {
  if (!Number.isFinite(x) || Math.abs(x) >= 4503599627370496) return x;
  const t = Math.trunc(x);
  const frac = Math.abs(x - t);
  const away = roundsAway(rc, x < 0, frac > 0.5 ? 1 : frac === 0.5 ? 0 : -1, frac !== 0, Math.abs(t) % 2 === 1);
  const r = away ? t + Math.sign(x) : t;
  return r === 0 ? (x < 0 || isSignMinus(x) ? -0 : 0) : r;
}

export interface Rounded {
  value: number;
  inexact: boolean;
  /** The magnitude was rounded up (C1 after an inexact result, SDM vol. 1, 8.1.3.1). */
  up: boolean;
  overflow: boolean;
  /** Tiny and inexact (the masked-underflow condition, SDM vol. 1, 4.9.1.5). */
  underflow: boolean;
}

function bitLength(m: bigint): number {
  return m.toString(2).length;
}

/**
 * Rounds the exact value (-1)^negative * m * 2^e to a binary format with `precision` significand bits, minimum
 * normal exponent `emin` and maximum exponent `emax` (denormals below emin), then returns it as a double. The
 * format must be a subset of double (precision <= 53, emin >= -1022, emax <= 1023).
 */
export function roundExact(
  negative: boolean,
  m: bigint,
  e: number,
  rc: Rc,
  precision = 53,
  emin = -1022,
  emax = 1023,
): Rounded {
  const zero = negative ? -0 : 0;
  if (m === 0n) return { value: zero, inexact: false, up: false, overflow: false, underflow: false };
  const n = bitLength(m);
  const top = e + n - 1;
  const lsb = Math.max(top, emin) - (precision - 1);
  let q = m;
  let inexact = false;
  let up = false;
  if (lsb > e) {
    const shift = BigInt(lsb - e);
    q = m >> shift;
    const rem = m - (q << shift);
    inexact = rem !== 0n;
    const half = 1n << (shift - 1n);
    const cmp = rem > half ? 1 : rem === half ? 0 : -1;
    if (roundsAway(rc, negative, cmp, inexact, (q & 1n) === 1n)) {
      q += 1n;
      up = true;
    }
  } else {
    q = m << BigInt(e - lsb);
  }
  const tiny = top < emin;
  const magnitude = Number(q);
  const resultTop = magnitude === 0 ? -Infinity : lsb + bitLength(q) - 1;
  if (resultTop > emax) {
    const toInf = rc === Rc.Nearest || (rc === Rc.Up && !negative) || (rc === Rc.Down && negative);
    const max = scale2(2 - pow2(1 - precision), emax);
    const v = toInf ? Infinity : max;
    return { value: negative ? -v : v, inexact: true, up: toInf, overflow: true, underflow: false };
  }
  const v = scale2(magnitude, lsb);
  return { value: negative ? -v : v, inexact, up, overflow: false, underflow: tiny && inexact };
}

/** Splits a finite double into sign, integer significand and exponent: |x| = m * 2^e. */
export function decompose(x: number): { negative: boolean; m: bigint; e: number } {
  const hi = f64Hi(x);
  const lo = f64Lo(x);
  const be = (hi >>> 20) & 0x7ff;
  let m = (BigInt(hi & 0xfffff) << 32n) | BigInt(lo);
  if (be !== 0) m |= 1n << 52n;
  return { negative: (hi & 0x80000000) !== 0, m, e: (be === 0 ? 1 : be) - 1075 };
}

/** Rounds a finite double to a narrower binary format (m32 stores, precision control). */
export function roundDouble(x: number, rc: Rc, precision: number, emin: number, emax: number): Rounded {
  if (rc === Rc.Nearest && precision === 24 && emin === -126) {
    const f = Math.fround(x);
    const af = Math.abs(f);
    if (af >= 1.1754943508222875e-38 && af !== Infinity) {
      return { value: f, inexact: f !== x, up: af > Math.abs(x), overflow: false, underflow: false };
    }
  }
  const d = decompose(x);
  return roundExact(d.negative, d.m, d.e, rc, precision, emin, emax);
}

// ---- m32fp (SDM vol. 1, 4.2.2) ----

/** Loads single-precision bits; NaNs keep their payload and their signalling state. */
export function f32BitsToF64(b: number): number {
  const exp = (b >>> 23) & 0xff;
  const frac = b & 0x7fffff;
  if (exp === 0xff && frac !== 0) {
    return f64FromBits((frac & 7) << 29, (b & 0x80000000) | 0x7ff00000 | (frac >>> 3));
  }
  scratch.setUint32(0, b >>> 0, true);
  return scratch.getFloat32(0, true);
}

/** The single-precision bits of a double already rounded to single (NaN payloads truncated). */
export function f64ToF32Bits(x: number): number {
  if (x !== x) {
    const hi = f64Hi(x);
    const frac = ((hi & 0xfffff) << 3) | (f64Lo(x) >>> 29);
    return ((hi & 0x80000000) | 0x7f800000 | (frac === 0 ? 1 : frac)) >>> 0;
  }
  scratch.setFloat32(0, x, true);
  return scratch.getUint32(0, true);
}

export function isF32Denormal(b: number): boolean {
  return (b & 0x7f800000) === 0 && (b & 0x7fffff) !== 0;
}

export function isF64Denormal(lo: number, hi: number): boolean {
  return (hi & 0x7ff00000) === 0 && ((hi & 0xfffff) | lo) !== 0;
}

// ---- m80fp, double extended precision (SDM vol. 1, 4.2.2 and table 4-3) ----

export interface F80 {
  /** Significand bits 0-31. */
  lo: number;
  /** Significand bits 32-63 (bit 63 is the explicit integer bit). */
  hi: number;
  /** Sign (bit 15) and biased exponent (bits 0-14). */
  se: number;
}

/** Every double is exactly representable in double extended precision. */
export function f64ToF80(x: number): F80 {
  const hi = f64Hi(x);
  const lo = f64Lo(x);
  const sign = (hi >>> 16) & 0x8000;
  const be = (hi >>> 20) & 0x7ff;
  const fhi = hi & 0xfffff;
  if (be === 0x7ff) {
    // Infinity or NaN: the fraction moves up 11 bits under the integer bit.
    return { se: sign | 0x7fff, hi: (0x80000000 | (fhi << 11) | (lo >>> 21)) >>> 0, lo: (lo << 11) >>> 0 };
  }
  if (be === 0) {
    if ((fhi | lo) === 0) return { se: sign, hi: 0, lo: 0 };
    const d = decompose(x);
    const shift = 63n - BigInt(bitLength(d.m) - 1);
    const m = d.m << shift;
    const exp = exponentOf(x) + 16383;
    return { se: sign | exp, hi: Number(m >> 32n) >>> 0, lo: Number(m & 0xffffffffn) >>> 0 };
  }
  return {
    se: sign | (be - 1023 + 16383),
    hi: (0x80000000 | (fhi << 11) | (lo >>> 21)) >>> 0,
    lo: (lo << 11) >>> 0,
  };
}

export interface F80Loaded {
  value: number;
  /** An unsupported encoding (pseudo-NaN, pseudo-infinity, unnormal; SDM vol. 1, 8.2.2) was replaced. */
  unsupported: boolean;
  inexact: boolean;
  overflow: boolean;
  underflow: boolean;
}

/**
 * Converts double extended bits to the nearest double per RC. Values beyond the double range become infinity
 * (or the largest double, per RC) or zero/denormal, reported as overflow/underflow; NaN payloads keep their top
 * 52 fraction bits.
 */
export function f80ToF64(f: F80, rc: Rc): F80Loaded {
  const negative = (f.se & 0x8000) !== 0;
  const exp = f.se & 0x7fff;
  const integerBit = (f.hi & 0x80000000) !== 0;
  const plain = { unsupported: false, inexact: false, overflow: false, underflow: false };
  if (exp === 0x7fff) {
    if (!integerBit) return { ...plain, value: INDEFINITE, unsupported: true };
    const fracHi = f.hi & 0x7fffffff;
    if ((fracHi | f.lo) === 0) return { ...plain, value: negative ? -Infinity : Infinity };
    const dfhi = fracHi >>> 11;
    let dlo = ((fracHi << 21) | (f.lo >>> 11)) >>> 0;
    if ((dfhi | dlo) === 0) dlo = 1;
    return { ...plain, value: f64FromBits(dlo, (negative ? 0x80000000 : 0) | 0x7ff00000 | dfhi) };
  }
  const m = (BigInt(f.hi >>> 0) << 32n) | BigInt(f.lo >>> 0);
  if (exp !== 0 && !integerBit) return { ...plain, value: INDEFINITE, unsupported: true };
  // Denormals and pseudo-denormals have the exponent of the smallest normal (SDM vol. 1, 8.2.2).
  const e = (exp === 0 ? 1 : exp) - 16383 - 63;
  const r = roundExact(negative, m, e, rc);
  return { ...plain, value: r.value, inexact: r.inexact, overflow: r.overflow, underflow: r.underflow };
}

// ---- m80bcd, packed BCD integers (SDM vol. 1, 4.7) ----

/** Decodes 18 BCD digits and the sign byte; invalid digits are taken at their binary value. */
export function bcdToBigInt(bytes: Uint8Array): bigint {
  let v = 0n;
  for (let i = 8; i >= 0; i--) {
    v = v * 100n + BigInt((bytes[i] >> 4) * 10 + (bytes[i] & 15));
  }
  return bytes[9] & 0x80 ? -v : v;
}

export function bigIntToBcd(v: bigint, negative: boolean): Uint8Array {
  const out = new Uint8Array(10);
  let a = v < 0n ? -v : v;
  for (let i = 0; i < 9; i++) {
    const two = Number(a % 100n);
    a /= 100n;
    out[i] = (Math.trunc(two / 10) << 4) | (two % 10);
  }
  out[9] = negative ? 0x80 : 0;
  return out;
}

/** The packed BCD indefinite stored by a masked invalid FBSTP (SDM vol. 1, table 4-4). */
export const BCD_INDEFINITE = Uint8Array.of(0, 0, 0, 0, 0, 0, 0, 0xc0, 0xff, 0xff);
