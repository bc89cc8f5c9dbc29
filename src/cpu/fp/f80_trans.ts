/**
 * Software transcendentals for the x87 (fsin fcos fsincos fptan fpatan f2xm1 fyl2x fyl2xp1), the
 * constants of fldpi & co., and exact helpers for fprem/fprem1/fscale/fxtract/fbld/fbstp.
 *
 * Method (fixed and deterministic): arbitrary-precision binary floating point on BigInt — a value
 * is m·2^e with m a BigInt kept to WORK (200) significant bits by truncation — and plain series:
 *   sin, cos  Taylor series on the argument reduced to [−π/4, π/4] (see `reduce`);
 *   tan       sin/cos;
 *   atan      two argument halvings atan(x) = 2·atan(x / (1 + √(1 + x²))), then the Taylor series;
 *   2^x − 1   expm1(x·ln 2) by its Taylor series;
 *   log2      ln(m) = 2·atanh((m − 1)/(m + 1)) with m ∈ [√½, √2), plus the binary exponent;
 *             log2(1 + x) for fyl2xp1 as 2·atanh(x/(2 + x)) directly (no cancellation).
 * Series terms are relative (odd functions are computed as x·f(x²)), so tiny arguments keep full
 * relative precision. The constants π, ln 2, ln 10 are computed once at load time (Machin's
 * formula and atanh series) to 320 bits. Every result carries an error far below 2^−180
 * relative, then is rounded once to the 64-bit extended format in the current rounding mode: the
 * results are the correctly rounded values of the mathematical functions (except in the
 * astronomically rare case that the exact value lies within 2^−180 of a rounding boundary).
 *
 * Argument reduction of fsin/fcos/fsincos/fptan: x − k·π/2 computed exactly with a 320-bit π,
 * unless `PI_REDUCTION_BITS` selects a shorter π as some hardware uses (see ops/x87_trans.ts).
 *
 * BigInt is used freely here: these instructions are rare, and nothing here is on a hot path.
 */

import {
  C_DENORMAL,
  C_NORMAL,
  C_ZERO,
  EXT_EMAX,
  EXT_EMIN,
  FX,
  roundPack,
  setZero,
  type Unp,
} from "./f80.ts";

/** Working precision (bits) of the series. */
const WORK = 200;

/** A binary floating-point value m·2^e (m any sign; m = 0 means zero). */
export interface BF {
  m: bigint;
  e: number;
}

export function bitlen(m: bigint): number {
  if (m < 0n) m = -m;
  if (m === 0n) return 0;
  const h = m.toString(16);
  return (h.length - 1) * 4 + 32 - Math.clz32(parseInt(h[0]!, 16));
}

/** Truncates m to `bits` significant bits. */
export function norm(a: BF, bits = WORK): BF {
  const n = bitlen(a.m);
  if (n <= bits) return a;
  const sh = n - bits;
  return { m: a.m >> BigInt(sh), e: a.e + sh };
}

export function bf(m: bigint, e = 0): BF {
  return { m, e };
}

export function add(a: BF, b: BF): BF {
  if (a.m === 0n) return b;
  if (b.m === 0n) return a;
  // align on the smaller exponent, but never keep more than WORK + 64 bits below the larger value
  const top = Math.max(a.e + bitlen(a.m), b.e + bitlen(b.m));
  const floor = top - WORK - 64;
  const ea = Math.max(a.e, floor), eb = Math.max(b.e, floor);
  const am = ea > a.e ? a.m >> BigInt(ea - a.e) : a.m;
  const bm = eb > b.e ? b.m >> BigInt(eb - b.e) : b.m;
  const e = Math.min(ea, eb);
  return norm({ m: (am << BigInt(ea - e)) + (bm << BigInt(eb - e)), e });
}

export function neg(a: BF): BF {
  return { m: -a.m, e: a.e };
}

export function sub(a: BF, b: BF): BF {
  return add(a, neg(b));
}

export function mul(a: BF, b: BF): BF {
  return norm({ m: a.m * b.m, e: a.e + b.e });
}

export function div(a: BF, b: BF): BF {
  const sh = WORK + bitlen(b.m) - bitlen(a.m) + 2;
  const n = sh > 0 ? a.m << BigInt(sh) : a.m >> BigInt(-sh);
  return norm({ m: n / b.m, e: a.e - sh - b.e });
}

/** Multiplies by a small integer / divides by one (exact enough: WORK bits). */
export function divInt(a: BF, k: number): BF {
  return div(a, bf(BigInt(k)));
}

export function shl(a: BF, k: number): BF {
  return { m: a.m, e: a.e + k };
}

export function sqrt(a: BF): BF {
  // a > 0
  let m = a.m, e = a.e;
  const want = 2 * WORK + 4;
  const sh = want - bitlen(m);
  let s = sh > 0 ? sh : 0;
  if ((e - s) % 2 !== 0) s += 1;
  m <<= BigInt(s);
  e -= s;
  return norm({ m: isqrt(m), e: e / 2 });
}

function isqrt(n: bigint): bigint {
  if (n < 2n) return n;
  let x = 1n << BigInt(Math.ceil(bitlen(n) / 2));
  for (;;) {
    const y = (x + n / x) >> 1n;
    if (y >= x) return x;
    x = y;
  }
}

/** Sign of a value: −1, 0, 1. */
export function sgn(a: BF): number {
  return a.m === 0n ? 0 : a.m > 0n ? 1 : -1;
}

/** Compares |a| and |b|. */
export function cmpAbs(a: BF, b: BF): number {
  const am = a.m < 0n ? -a.m : a.m, bm = b.m < 0n ? -b.m : b.m;
  if (am === 0n || bm === 0n) return am === bm ? 0 : am === 0n ? -1 : 1;
  const ta = a.e + bitlen(am), tb = b.e + bitlen(bm);
  if (ta !== tb) return ta > tb ? 1 : -1;
  const e = Math.min(a.e, b.e);
  const x = am << BigInt(a.e - e), y = bm << BigInt(b.e - e);
  return x === y ? 0 : x > y ? 1 : -1;
}

/** Converts a finite unpacked value to BF (exact). */
export function fromUnp(u: Unp): BF {
  if (u.cls === C_ZERO) return bf(0n);
  const m = (BigInt(u.h) << 32n) | BigInt(u.l);
  return { m: u.s ? -m : m, e: u.x - 63 };
}

/**
 * Rounds v to the 64-bit extended format (current rounding mode, register destination) into R,
 * via roundPack (PE, UE/OE, C1). `inexact`: v approximates an irrational (or at least inexact)
 * value to about WORK bits; the true value is then taken to lie just above |v| — or, with
 * `dir` = −1 / +1, just below / above |v| by 2^−190 relative, which decides the rounding when
 * the true value is extremely close to a representable number (tiny arguments: sin x ≈ x and
 * the like), where the caller knows the sign of the neglected terms.
 */
export function toR(v: BF, inexact: boolean, dir = 0): void {
  if (v.m === 0n) {
    setZero(Rout, 0);
    FX.c1 = 0;
    return;
  }
  const s = v.m < 0n ? 1 : 0;
  let m = s ? -v.m : v.m;
  let e = v.e;
  if (inexact && dir !== 0) {
    m = (m << 190n) + (dir > 0 ? m : -m);
    e -= 190;
  }
  const n = bitlen(m);
  // 96 significant bits + sticky
  let sticky = inexact;
  if (n > 96) {
    const sh = n - 96;
    if ((m & ((1n << BigInt(sh)) - 1n)) !== 0n) sticky = true;
    m >>= BigInt(sh);
    e += sh;
  } else if (n < 96) {
    m <<= BigInt(96 - n);
    e -= 96 - n;
  }
  const m2 = Number(m >> 64n), m1 = Number((m >> 32n) & 0xffffffffn);
  const m0 = Number(m & 0xffffffffn) | (sticky ? 1 : 0);
  // value = m·2^e with the leading bit at 95: unbiased exponent e + 95
  roundPack(s, e + 95, m2, m1, m0 >>> 0, 64, EXT_EMIN, EXT_EMAX, true);
}

/** Where toR's result goes (set to f80's R by the caller module). */
let Rout: Unp;
export function setOut(u: Unp): void {
  Rout = u;
}

// ---- constants --------------------------------------------------------------------------------------

const CBITS = 320;

/** atan(1/k) · 2^CBITS for integer k > 1 (series). */
function atanInv(k: bigint): bigint {
  const one = 1n << BigInt(CBITS + 16);
  let term = one / k, sum = term, n = 1n, sign = -1n;
  const k2 = k * k;
  while (term !== 0n) {
    term /= k2;
    n += 2n;
    sum += sign * (term / n);
    sign = -sign;
  }
  return sum >> 16n;
}

/** atanh(1/k) · 2^CBITS. */
function atanhInv(k: bigint): bigint {
  const one = 1n << BigInt(CBITS + 16);
  let term = one / k, sum = term, n = 1n;
  const k2 = k * k;
  while (term !== 0n) {
    term /= k2;
    n += 2n;
    sum += term / n;
  }
  return sum >> 16n;
}

const PI_FIX = 16n * atanInv(5n) - 4n * atanInv(239n);
const LN2_FIX = 2n * atanhInv(3n);
const LN10_FIX = 3n * LN2_FIX + 2n * atanhInv(9n);

export const PI: BF = norm({ m: PI_FIX, e: -CBITS }, CBITS);
export const LN2: BF = norm({ m: LN2_FIX, e: -CBITS }, CBITS);

/** Exact constant values for fldpi & co. (full CBITS precision). */
export const CONST_L2E: BF = norm({ m: (1n << BigInt(2 * CBITS)) / LN2_FIX, e: -CBITS }, CBITS);
export const CONST_L2T: BF = norm({ m: (LN10_FIX << BigInt(CBITS)) / LN2_FIX, e: -CBITS }, CBITS);
export const CONST_LG2: BF = norm({ m: (LN2_FIX << BigInt(CBITS)) / LN10_FIX, e: -CBITS }, CBITS);

// ---- elementary functions on BF ----------------------------------------------------------------------

const EPS_BITS = WORK + 8;

/** Whether the term t is negligible relative to the sum s. */
function negligible(t: BF, s: BF): boolean {
  if (t.m === 0n) return true;
  return t.e + bitlen(t.m) < s.e + bitlen(s.m) - EPS_BITS;
}

/** sin(r) and cos(r) for |r| ≤ ~0.8. */
export function sinCos(r: BF): [BF, BF] {
  if (r.m === 0n) return [bf(0n), bf(1n)];
  const r2 = mul(r, r);
  // sin r = r·(1 − r²/3! + r⁴/5! …)
  let t = bf(1n), s = bf(1n);
  for (let k = 1; k < 200; k++) {
    t = neg(divInt(mul(t, r2), (2 * k) * (2 * k + 1)));
    s = add(s, t);
    if (negligible(t, s)) break;
  }
  const sin = mul(r, s);
  t = bf(1n);
  let c = bf(1n);
  for (let k = 1; k < 200; k++) {
    t = neg(divInt(mul(t, r2), (2 * k - 1) * (2 * k)));
    c = add(c, t);
    if (negligible(t, c)) break;
  }
  return [sin, c];
}

/**
 * Reduces x (|x| < 2^63) modulo π/2 using π rounded to `piBits` bits (0: the full CBITS value):
 * returns [r, k mod 4] with x = k·π/2 + r, |r| ≤ π/4 (with respect to the π used).
 */
export function reduce(x: BF, piBits: number): [BF, number] {
  const pi = piBits > 0 ? norm(PI, piBits) : PI;
  const half = shl(pi, -1);
  // k = round(x / (π/2)) exactly: x and π/2 are dyadic, do it in integers
  const e = Math.min(x.e, half.e);
  const X = x.m << BigInt(x.e - e), H = half.m << BigInt(half.e - e);
  let k = X / H; // toward zero
  let rem = X - k * H;
  // to nearest
  const twice = rem * 2n;
  if (twice > H) {
    k += 1n;
    rem -= H;
  } else if (twice < -H) {
    k -= 1n;
    rem += H;
  }
  const q = Number(((k % 4n) + 4n) % 4n);
  return [norm({ m: rem, e }), q];
}

/** atan(x) for any finite x (result in (−π/2, π/2)). */
export function atan(x: BF): BF {
  if (x.m === 0n) return x;
  let negate = false;
  if (x.m < 0n) {
    negate = true;
    x = neg(x);
  }
  let inv = false;
  if (cmpAbs(x, bf(1n)) > 0) {
    inv = true;
    x = div(bf(1n), x);
  }
  // two halvings: |x| ≤ tan(π/16)
  for (let i = 0; i < 2; i++) x = div(x, add(bf(1n), sqrt(add(bf(1n), mul(x, x)))));
  const x2 = mul(x, x);
  let t = bf(1n), s = bf(1n), p = bf(1n);
  for (let k = 1; k < 400; k++) {
    p = neg(mul(p, x2));
    t = divInt(p, 2 * k + 1);
    s = add(s, t);
    if (negligible(t, s)) break;
  }
  let r = shl(mul(x, s), 2);
  if (inv) r = sub(shl(PI, -1), r);
  return negate ? neg(r) : r;
}

/** 2^x − 1 for |x| ≤ ~1. */
export function exp2m1(x: BF): BF {
  if (x.m === 0n) return x;
  const y = mul(x, LN2);
  // expm1(y) = y·(1 + y/2! + y²/3! …)
  let t = bf(1n), s = bf(1n);
  for (let k = 2; k < 400; k++) {
    t = divInt(mul(t, y), k);
    s = add(s, t);
    if (negligible(t, s)) break;
  }
  return mul(y, s);
}

/** 2·atanh(t) = ln((1 + t)/(1 − t)) for |t| ≤ ~0.2, as t·(2 + 2t²/3 + …). */
function atanh2(t: BF): BF {
  if (t.m === 0n) return t;
  const t2 = mul(t, t);
  let p = bf(1n), s = bf(1n);
  for (let k = 1; k < 400; k++) {
    p = mul(p, t2);
    const term = divInt(p, 2 * k + 1);
    s = add(s, term);
    if (negligible(term, s)) break;
  }
  return shl(mul(t, s), 1);
}

/** log2(x) = k + f for x > 0: returns [k, f] with f = 0 exactly when x is a power of two. */
export function log2Parts(x: BF): [number, BF] {
  const n = bitlen(x.m);
  let k = x.e + n;
  let m: BF = { m: x.m, e: -n };
  const SQRT_HALF = { m: 0xb504f333f9de6484597d89b3754abe9fn, e: -128 };
  if (cmpAbs(m, SQRT_HALF) < 0) {
    m = shl(m, 1);
    k -= 1;
  }
  const t = div(sub(m, bf(1n)), add(m, bf(1n)));
  return [k, t.m === 0n ? t : div(atanh2(t), LN2)];
}

/** ln(x) for x > 0. */
export function ln(x: BF): BF {
  // x = m·2^k with m ∈ [√½, √2)
  const n = bitlen(x.m);
  let k = x.e + n; // x ∈ [2^(k−1), 2^k)
  let m: BF = { m: x.m, e: -n }; // ∈ [1/2, 1)
  // √½ ≈ 0.7071: if m < √½ use 2m... keep m ∈ [√½, √2)
  const SQRT_HALF = { m: 0xb504f333f9de6484597d89b3754abe9fn, e: -128 };
  if (cmpAbs(m, SQRT_HALF) < 0) {
    m = shl(m, 1);
    k -= 1;
  }
  const t = div(sub(m, bf(1n)), add(m, bf(1n)));
  const lnm = atanh2(t);
  return add(mul(bf(BigInt(k)), LN2), lnm);
}

/** log2(x) for x > 0. */
export function log2(x: BF): BF {
  const [k, f] = log2Parts(x);
  return add(bf(BigInt(k)), f);
}

/** log2(1 + x) for x > −1, accurate for tiny x. */
export function log2p1(x: BF): BF {
  const t = div(x, add(bf(2n), x));
  if (cmpAbs(t, bf(1n, -2)) <= 0) return div(atanh2(t), LN2);
  return log2(add(bf(1n), x));
}

export { C_DENORMAL, C_NORMAL };
