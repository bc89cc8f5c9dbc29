/**
 * softfloat.ts against an independent exact reference (BigInt rationals — fine in tests) on
 * random and edge operands, in every rounding mode with FTZ/DAZ, plus hand-picked cases for the
 * x86-specific rules (NaN selection, default NaN, exception priorities, tininess after
 * rounding, integer conversions at their boundaries).
 */

import assert from "node:assert/strict";
import {
  f32Arith,
  f32Sqrt,
  f32ToInt,
  f64Arith,
  f64Sqrt,
  f64ToF32,
  f64ToInt,
  FE_DE,
  FE_IE,
  FE_OE,
  FE_PE,
  FE_UE,
  FE_ZE,
  FP,
  fpBegin,
  i32ToF32,
  i64ToFloat,
  OP_ADD,
  OP_DIV,
  OP_MUL,
  OP_SUB,
  R64,
  RI,
} from "./softfloat.ts";

// ---- reference ----------------------------------------------------------------------------------

interface Fmt {
  P: number;
  emin: number;
  emax: number;
  ebits: number;
}
const F64: Fmt = { P: 53, emin: -1022, emax: 1023, ebits: 11 };
const F32: Fmt = { P: 24, emin: -126, emax: 127, ebits: 8 };

/** A finite value as sign, integer significand and exponent: (-1)^s · m · 2^e. */
interface Fin {
  s: boolean;
  m: bigint;
  e: number;
}

function decode(bits: bigint, f: Fmt): Fin | "nan" | "inf+" | "inf-" {
  const w = f.P + f.ebits;
  const s = (bits >> BigInt(w - 1)) & 1n;
  const ex = Number((bits >> BigInt(f.P - 1)) & ((1n << BigInt(f.ebits)) - 1n));
  const fr = bits & ((1n << BigInt(f.P - 1)) - 1n);
  const bias = (1 << (f.ebits - 1)) - 1;
  if (ex === (1 << f.ebits) - 1) return fr !== 0n ? "nan" : s ? "inf-" : "inf+";
  if (ex === 0) return { s: s === 1n, m: fr, e: 1 - bias - (f.P - 1) };
  return { s: s === 1n, m: fr | (1n << BigInt(f.P - 1)), e: ex - bias - (f.P - 1) };
}

function encode(s: boolean, m: bigint, e: number, f: Fmt): bigint {
  // m·2^e exactly representable; m < 2^P
  const w = f.P + f.ebits;
  const bias = (1 << (f.ebits - 1)) - 1;
  const sign = s ? 1n << BigInt(w - 1) : 0n;
  if (m === 0n) return sign;
  while (m < 1n << BigInt(f.P - 1) && e > f.emin - (f.P - 1)) {
    m <<= 1n;
    e--;
  }
  while (m >= 1n << BigInt(f.P)) {
    m >>= 1n;
    e++;
  }
  if (m < 1n << BigInt(f.P - 1)) return sign | m; // denormal
  const ex = BigInt(e + (f.P - 1) + bias);
  return sign | (ex << BigInt(f.P - 1)) | (m & ((1n << BigInt(f.P - 1)) - 1n));
}

function ilog2(n: bigint): number {
  return n.toString(2).length - 1;
}

/** floor(log2(num/den)) for positive num, den. */
function flog2(num: bigint, den: bigint): number {
  let e = ilog2(num) - ilog2(den);
  // adjust so that 2^e <= num/den < 2^(e+1)
  const ge = (k: number) => (k >= 0 ? num >= den << BigInt(k) : num << BigInt(-k) >= den);
  while (!ge(e)) e--;
  while (ge(e + 1)) e++;
  return e;
}

/**
 * Rounds a positive exact value given as a comparator: `cmpAt(qe)` returns [I, rem] where
 * I = floor(v / 2^qe) and rem = sign of (v/2^qe − I − 1/2) (−1, 0, 1), plus exactness.
 */
type Scaled = (qe: number) => { I: bigint; half: number; exact: boolean };

function roundScaled(
  sc: Scaled,
  e: number,
  qe: number,
  neg: boolean,
  rc: number,
): { R: bigint; exact: boolean } {
  void e;
  const { I, half, exact } = sc(qe);
  if (exact) return { R: I, exact };
  let up: boolean;
  if (rc === 0) up = half > 0 || (half === 0 && (I & 1n) === 1n);
  else if (rc === 3) up = false;
  else up = rc === 2 ? !neg : neg;
  return { R: up ? I + 1n : I, exact };
}

interface Res {
  bits: bigint;
  flags: number;
}

/** Rounds ±v (v > 0, v described by e = floor(log2 v) and the scaler) into format f. */
function roundRef(
  neg: boolean,
  e: number,
  sc: Scaled,
  f: Fmt,
  rc: number,
  ftz: boolean,
): Res {
  const qe = Math.max(e, f.emin) - (f.P - 1);
  const { R, exact } = roundScaled(sc, e, qe, neg, rc);
  // overflow?
  const top = BigInt(f.P);
  let rexp = qe + ilog2(R === 0n ? 1n : R);
  if (R === 0n) rexp = -100000;
  if (rexp > f.emax) {
    const inf = rc === 0 || (rc === 2 && !neg) || (rc === 1 && neg);
    const w = f.P + f.ebits;
    const sign = neg ? 1n << BigInt(w - 1) : 0n;
    const bits = inf
      ? sign | (((1n << BigInt(f.ebits)) - 1n) << BigInt(f.P - 1))
      : sign | ((((1n << BigInt(f.ebits)) - 2n) << BigInt(f.P - 1)) | ((1n << (top - 1n)) - 1n));
    return { bits, flags: FE_OE | FE_PE };
  }
  let flags = exact ? 0 : FE_PE;
  if (e < f.emin) {
    // tininess after rounding
    const q2 = e - (f.P - 1);
    const r2 = roundScaled(sc, e, q2, neg, rc);
    const tiny = q2 + ilog2(r2.R) < f.emin;
    if (tiny) {
      if (ftz) return { bits: encode(neg, 0n, 0, f), flags: FE_UE | FE_PE };
      if (!exact) flags |= FE_UE;
    }
  }
  return { bits: encode(neg, R, qe, f), flags };
}

function refArith(
  op: number,
  a: bigint,
  b: bigint,
  f: Fmt,
  rc: number,
  ftz: boolean,
  daz: boolean,
): Res | null {
  let x = decode(a, f), y = decode(b, f);
  if (x === "nan" || y === "nan") return null; // NaN rules tested separately
  let flags = 0;
  const dz = (v: Fin | string): Fin | string => {
    if (typeof v === "string" || v.m === 0n || v.m >= 1n << BigInt(f.P - 1)) return v;
    if (daz) return { s: v.s, m: 0n, e: 0 };
    flags |= FE_DE;
    return v;
  };
  x = dz(x) as Fin;
  y = dz(y) as Fin;
  if (typeof x === "string" || typeof y === "string") return null; // infinities: tested elsewhere
  if (op === OP_SUB) y = { ...y, s: !y.s };
  let num: bigint, den: bigint, neg: boolean;
  const sx = x.s ? -1n : 1n, sy = y.s ? -1n : 1n;
  if (op === OP_ADD || op === OP_SUB) {
    const e0 = Math.min(x.e, y.e);
    const v = sx * x.m * (1n << BigInt(x.e - e0)) + sy * y.m * (1n << BigInt(y.e - e0));
    if (v === 0n) {
      const bothNeg = x.m === 0n && y.m === 0n && x.s && y.s;
      const s = x.m === 0n && y.m === 0n && x.s === y.s ? x.s : rc === 1;
      void bothNeg;
      return { bits: encode(s, 0n, 0, f), flags };
    }
    neg = v < 0n;
    num = (neg ? -v : v) * (e0 >= 0 ? 1n << BigInt(e0) : 1n);
    den = e0 >= 0 ? 1n : 1n << BigInt(-e0);
  } else if (op === OP_MUL) {
    neg = x.s !== y.s;
    const m = x.m * y.m, e0 = x.e + y.e;
    if (m === 0n) return { bits: encode(neg, 0n, 0, f), flags };
    num = m * (e0 >= 0 ? 1n << BigInt(e0) : 1n);
    den = e0 >= 0 ? 1n : 1n << BigInt(-e0);
  } else {
    neg = x.s !== y.s;
    if (y.m === 0n) return null; // zero divisor: tested elsewhere
    if (x.m === 0n) return { bits: encode(neg, 0n, 0, f), flags };
    const e0 = x.e - y.e;
    num = x.m * (e0 >= 0 ? 1n << BigInt(e0) : 1n);
    den = y.m * (e0 >= 0 ? 1n : 1n << BigInt(-e0));
  }
  const e = flog2(num, den);
  const sc: Scaled = (qe) => {
    const n2 = qe >= 0 ? num : num << BigInt(-qe);
    const d2 = qe >= 0 ? den << BigInt(qe) : den;
    const I = n2 / d2, r = n2 - I * d2;
    const c = 2n * r - d2;
    return { I, half: c > 0n ? 1 : c < 0n ? -1 : 0, exact: r === 0n };
  };
  const res = roundRef(neg, e, sc, f, rc, ftz);
  return { bits: res.bits, flags: res.flags | flags };
}

function isqrt(n: bigint): bigint {
  if (n < 2n) return n;
  let x = 1n << BigInt(Math.ceil((ilog2(n) + 1) / 2));
  for (;;) {
    const y = (x + n / x) >> 1n;
    if (y >= x) return x;
    x = y;
  }
}

function refSqrt(a: bigint, f: Fmt, rc: number, ftz: boolean, daz: boolean): Res | null {
  const x = decode(a, f);
  if (typeof x === "string" || x.s) return null;
  let flags = 0;
  let m = x.m;
  if (m !== 0n && m < 1n << BigInt(f.P - 1)) {
    if (daz) m = 0n;
    else flags |= FE_DE;
  }
  if (m === 0n) return { bits: encode(false, 0n, 0, f), flags };
  // v = sqrt(m·2^e)
  let mm = m, ee = x.e;
  if (ee & 1) {
    mm <<= 1n;
    ee--;
  }
  // floor(log2 v) = floor(log2(mm)/2) + ee/2
  const e = Math.floor(ilog2(mm) / 2) + ee / 2;
  const sc: Scaled = (qe) => {
    // v / 2^qe = sqrt(mm · 2^(ee - 2qe))
    const k = ee - 2 * qe;
    const yNum = k >= 0 ? mm << BigInt(k) : mm, yDen = k >= 0 ? 1n : 1n << BigInt(-k);
    const I = isqrt(yNum / yDen);
    const exact = yDen === 1n ? I * I === yNum : I * I * yDen === yNum;
    const t = (2n * I + 1n) ** 2n * yDen, u = 4n * yNum;
    return { I, half: u > t ? 1 : u < t ? -1 : 0, exact };
  };
  const res = roundRef(false, e, sc, f, rc, ftz);
  return { bits: res.bits, flags: res.flags | flags };
}

// ---- operand generation -------------------------------------------------------------------------

let seed = 0x1234567;
function rnd(): number {
  seed ^= seed << 13;
  seed >>>= 0;
  seed ^= seed >>> 17;
  seed ^= seed << 5;
  seed >>>= 0;
  return seed;
}

function operand(f: Fmt): bigint {
  const w = f.P + f.ebits;
  const k = rnd() % 8;
  const frac = (BigInt(rnd()) << 32n | BigInt(rnd())) & ((1n << BigInt(f.P - 1)) - 1n);
  const sign = rnd() & 1 ? 1n << BigInt(w - 1) : 0n;
  const emax = (1 << f.ebits) - 2;
  let ex: number;
  if (k === 0) ex = 0; // denormal / zero
  else if (k === 1) ex = 1 + (rnd() % 3);
  else if (k === 2) ex = emax - (rnd() % 3);
  else if (k === 3) ex = (emax >> 1) + (rnd() % 5) - 2;
  else ex = 1 + (rnd() % emax);
  let fr = frac;
  const j = rnd() % 6;
  if (j === 0) fr = 0n;
  else if (j === 1) fr = (1n << BigInt(f.P - 1)) - 1n;
  else if (j === 2) fr = frac & ~((1n << BigInt(f.P - 4)) - 1n); // few significant bits
  return sign | (BigInt(ex) << BigInt(f.P - 1)) | fr;
}

function bitsOf64(): bigint {
  return (BigInt(R64[1]! >>> 0) << 32n) | BigInt(R64[0]! >>> 0);
}

function lohi(v: bigint): [number, number] {
  return [Number(v & 0xffffffffn) | 0, Number(v >> 32n) | 0];
}

const MODES = [0, 1, 2, 3];

Deno.test("softfloat: binary64 + − × ÷ √ match the exact reference (all modes, FTZ, DAZ)", () => {
  let n = 0;
  for (let iter = 0; iter < 6000; iter++) {
    const a = operand(F64), b = operand(F64);
    for (const rc of MODES) {
      const ftz = (iter & 1) === 1, daz = (iter & 2) === 2;
      const mx = 0x1f80 | (rc << 13) | (ftz ? 0x8000 : 0) | (daz ? 0x40 : 0);
      for (const op of [OP_ADD, OP_SUB, OP_MUL, OP_DIV]) {
        const want = refArith(op, a, b, F64, rc, ftz, daz);
        if (want === null) continue;
        fpBegin(mx);
        const [al, ah] = lohi(a), [bl, bh] = lohi(b);
        f64Arith(op, al, ah, bl, bh);
        const got = bitsOf64();
        const ctx = `op ${op} rc ${rc} ftz ${ftz} daz ${daz} a ${a.toString(16)} b ${
          b.toString(16)
        }`;
        assert.equal(got.toString(16), want.bits.toString(16), ctx);
        assert.equal(FP.flags, want.flags, `flags: ${ctx}`);
        n++;
      }
      const ws = refSqrt(a, F64, rc, ftz, daz);
      if (ws !== null) {
        fpBegin(mx);
        const [al, ah] = lohi(a);
        f64Sqrt(al, ah);
        assert.equal(
          bitsOf64().toString(16),
          ws.bits.toString(16),
          `sqrt ${a.toString(16)} rc ${rc}`,
        );
        assert.equal(FP.flags, ws.flags, `sqrt flags ${a.toString(16)} rc ${rc}`);
      }
    }
  }
  assert.ok(n > 50000);
});

Deno.test("softfloat: binary32 + − × ÷ √ match the exact reference (all modes, FTZ, DAZ)", () => {
  for (let iter = 0; iter < 6000; iter++) {
    const a = operand(F32), b = operand(F32);
    for (const rc of MODES) {
      const ftz = (iter & 1) === 1, daz = (iter & 2) === 2;
      const mx = 0x1f80 | (rc << 13) | (ftz ? 0x8000 : 0) | (daz ? 0x40 : 0);
      for (const op of [OP_ADD, OP_SUB, OP_MUL, OP_DIV]) {
        const want = refArith(op, a, b, F32, rc, ftz, daz);
        if (want === null) continue;
        fpBegin(mx);
        const got = BigInt(f32Arith(op, Number(a) | 0, Number(b) | 0) >>> 0);
        const ctx = `op ${op} rc ${rc} ftz ${ftz} daz ${daz} a ${a.toString(16)} b ${
          b.toString(16)
        }`;
        assert.equal(got.toString(16), want.bits.toString(16), ctx);
        assert.equal(FP.flags, want.flags, `flags: ${ctx}`);
      }
      const ws = refSqrt(a, F32, rc, ftz, daz);
      if (ws !== null) {
        fpBegin(mx);
        const got = BigInt(f32Sqrt(Number(a) | 0) >>> 0);
        assert.equal(got.toString(16), ws.bits.toString(16), `sqrt ${a.toString(16)} rc ${rc}`);
        assert.equal(FP.flags, ws.flags, `sqrt flags ${a.toString(16)}`);
      }
    }
  }
});

Deno.test("softfloat: the fast path agrees with the exact path", () => {
  // PE set and masked, round to nearest: the host result is used when operands/result are normal.
  for (let iter = 0; iter < 20000; iter++) {
    const a = operand(F64), b = operand(F64);
    const [al, ah] = lohi(a), [bl, bh] = lohi(b);
    for (const op of [OP_ADD, OP_SUB, OP_MUL, OP_DIV]) {
      fpBegin(0x1fa0);
      f64Arith(op, al, ah, bl, bh);
      const fast = bitsOf64(), ff = FP.flags;
      fpBegin(0x1f80);
      f64Arith(op, al, ah, bl, bh);
      assert.equal(fast, bitsOf64());
      assert.equal(ff & ~FE_PE, FP.flags & ~FE_PE);
      const a32 = Number(operand(F32)) | 0, b32 = Number(operand(F32)) | 0;
      fpBegin(0x1fa0);
      const r1 = f32Arith(op, a32, b32), f1 = FP.flags;
      fpBegin(0x1f80);
      assert.equal(r1, f32Arith(op, a32, b32));
      assert.equal(f1 & ~FE_PE, FP.flags & ~FE_PE);
    }
  }
});

// ---- x86 rules ----------------------------------------------------------------------------------

function f64op(op: number, a: bigint, b: bigint, mx = 0x1f80): [string, number] {
  fpBegin(mx);
  const [al, ah] = lohi(a), [bl, bh] = lohi(b);
  f64Arith(op, al, ah, bl, bh);
  return [bitsOf64().toString(16), FP.flags];
}

Deno.test("softfloat: NaN operands (first operand wins, SNaN quieted, default NaN)", () => {
  const qnan = 0x7ff8000000000001n, snan = 0x7ff0000000000002n, one = 0x3ff0000000000000n;
  assert.deepEqual(f64op(OP_ADD, qnan, snan), ["7ff8000000000001", FE_IE]);
  assert.deepEqual(f64op(OP_ADD, snan, qnan), ["7ff8000000000002", FE_IE]);
  assert.deepEqual(f64op(OP_MUL, one, snan), ["7ff8000000000002", FE_IE]);
  assert.deepEqual(f64op(OP_MUL, one, qnan | (1n << 63n)), ["fff8000000000001", 0]);
  const inf = 0x7ff0000000000000n;
  assert.deepEqual(f64op(OP_SUB, inf, inf), ["fff8000000000000", FE_IE]);
  assert.deepEqual(f64op(OP_MUL, 0n, inf), ["fff8000000000000", FE_IE]);
  assert.deepEqual(f64op(OP_DIV, 0n, 0n), ["fff8000000000000", FE_IE]);
  assert.deepEqual(f64op(OP_DIV, one, 0n), ["7ff0000000000000", FE_ZE]);
  // a denormal dividend with a zero divisor: ZE only; with DAZ it is 0/0
  assert.deepEqual(f64op(OP_DIV, 1n, 0n), ["7ff0000000000000", FE_ZE]);
  assert.deepEqual(f64op(OP_DIV, 1n, 0n, 0x1fc0), ["fff8000000000000", FE_IE]);
  // NaN with a denormal: no DE
  assert.deepEqual(f64op(OP_ADD, 1n, qnan), ["7ff8000000000001", 0]);
  // exact zero sums: +0, or −0 when rounding down
  assert.deepEqual(f64op(OP_SUB, one, one), ["0", 0]);
  assert.deepEqual(f64op(OP_SUB, one, one, 0x3f80), ["8000000000000000", 0]);
  fpBegin(0x1f80);
  assert.equal(f32Sqrt(0x80000001 | 0) >>> 0, 0xffc00000); // √(−denormal): IE, not DE
  assert.equal(FP.flags, FE_IE);
});

Deno.test("softfloat: overflow and underflow with the exceptions unmasked", () => {
  const big = 0x6000000000000000n; // 2^513
  assert.deepEqual(f64op(OP_MUL, big, big, 0x1f80), ["7ff0000000000000", FE_OE | FE_PE]);
  assert.deepEqual(f64op(OP_MUL, big, big, 0x1f80 & ~0x400)[1], FE_OE); // exact significand
  const tiny = 0x1000000000000000n; // 2^-767
  assert.equal(f64op(OP_MUL, tiny, tiny, 0x1f80)[1], FE_UE | FE_PE);
  assert.equal(f64op(OP_MUL, tiny, tiny, 0x1f80 & ~0x800)[1], FE_UE);
  // exact denormal: no flag when masked, UE when unmasked
  const t = 0x1fc0000000000000n; // 2^-515
  assert.equal(f64op(OP_MUL, t, t, 0x1f80)[1], 0);
  assert.equal(f64op(OP_MUL, t, t, 0x1f80 & ~0x800)[1], FE_UE);
  // FTZ flushes the exact denormal too
  assert.deepEqual(f64op(OP_MUL, t, t, 0x9f80), ["0", FE_UE | FE_PE]);
});

Deno.test("softfloat: tininess is detected after rounding", () => {
  // (1 - 2^-52) × (1 + 2^-52)·2^-1022 = 2^-1022 - 2^-1126: rounds to 2^-1022 at 53 bits with an
  // unbounded exponent, so it is not tiny in round-to-nearest (PE only)…
  const a = lohi(0x3feffffffffffffen), b = lohi(0x0010000000000001n);
  fpBegin(0x1f80);
  f64Arith(OP_MUL, a[0], a[1], b[0], b[1]);
  assert.equal(bitsOf64().toString(16), "10000000000000");
  assert.equal(FP.flags, FE_PE);
  // …but toward zero it stays below 2^-1022: tiny and inexact.
  fpBegin(0x7f80);
  f64Arith(OP_MUL, a[0], a[1], b[0], b[1]);
  assert.equal(bitsOf64().toString(16), "fffffffffffff");
  assert.equal(FP.flags, FE_UE | FE_PE);
});

Deno.test("softfloat: conversions at the integer boundaries", () => {
  const cvt64 = (
    x: number,
    bits64: boolean,
    trunc: boolean,
    mx = 0x1f80,
  ): [number, number, number] => {
    const b = new DataView(new ArrayBuffer(8));
    b.setFloat64(0, x, true);
    fpBegin(mx);
    f64ToInt(b.getInt32(0, true), b.getInt32(4, true), bits64, trunc);
    return [RI[0]!, RI[1]!, FP.flags];
  };
  assert.deepEqual(cvt64(2147483647.4, false, false), [2147483647, 0, FE_PE]);
  assert.deepEqual(cvt64(2147483647.5, false, false), [0x80000000 | 0, 0, FE_IE]);
  assert.deepEqual(cvt64(2147483647.5, false, true), [2147483647, 0, FE_PE]);
  assert.deepEqual(cvt64(-2147483648.9, false, true), [-2147483648, 0, FE_PE]);
  assert.deepEqual(cvt64(-2147483649, false, true), [0x80000000 | 0, 0, FE_IE]);
  assert.deepEqual(cvt64(2.5, false, false), [2, 0, FE_PE]);
  assert.deepEqual(cvt64(3.5, false, false), [4, 0, FE_PE]);
  assert.deepEqual(cvt64(-2.5, false, false, 0x3f80), [-3, 0, FE_PE]); // round down
  assert.deepEqual(cvt64(2 ** 63, true, true), [0, 0x80000000 | 0, FE_IE]);
  assert.deepEqual(cvt64(-(2 ** 63), true, true), [0, 0x80000000 | 0, 0]);
  assert.deepEqual(cvt64(2 ** 62 + 2 ** 40, true, false), [0, 0x40000100, 0]);
  assert.deepEqual(cvt64(NaN, true, false), [0, 0x80000000 | 0, FE_IE]);
  fpBegin(0x1f80);
  f32ToInt(0x4f000000, false, true); // 2^31
  assert.deepEqual([RI[0], FP.flags], [0x80000000 | 0, FE_IE]);
});

Deno.test("softfloat: integer → float without double rounding", () => {
  // 2^62 + 2^38 + 1: nearest binary32 is 2^62 + 2^39 (rounding the double 2^62 + 2^38 to even
  // would give 2^62).
  fpBegin(0x1f80);
  const v = i64ToFloat(1, 0x40000040, false);
  assert.equal(v, 2 ** 62 + 2 ** 39);
  assert.equal(FP.flags, FE_PE);
  fpBegin(0x1f80);
  assert.equal(i64ToFloat(-1, -1, true), -1);
  assert.equal(FP.flags, 0);
  fpBegin(0x3f80); // round down
  assert.equal(i32ToF32(0x7fffffff) >>> 0, 0x4effffff);
  fpBegin(0x1f80);
  assert.equal(i32ToF32(0x7fffffff) >>> 0, 0x4f000000);
  // binary64 → binary32: a double just above a binary32 tie must round up
  fpBegin(0x1f80);
  const r = f64ToF32(0x10000001, 0x3ff00000); // 1 + 2^-24 + 2^-52
  assert.equal(r >>> 0, 0x3f800001);
});

/** Scaler for a dyadic value m·2^e (m > 0). */
function dyadic(m: bigint, e: number): { e: number; sc: Scaled } {
  return {
    e: ilog2(m) + e,
    sc: (qe) => {
      const k = e - qe;
      if (k >= 0) return { I: m << BigInt(k), half: -1, exact: true };
      const d = 1n << BigInt(-k);
      const I = m / d, r = m - I * d, c = 2n * r - d;
      return { I, half: c > 0n ? 1 : c < 0n ? -1 : 0, exact: r === 0n };
    },
  };
}

Deno.test("softfloat: conversions match the exact reference (all modes)", () => {
  for (let iter = 0; iter < 20000; iter++) {
    const rc = iter & 3, ftz = (iter & 4) !== 0;
    const mx = 0x1f80 | (rc << 13) | (ftz ? 0x8000 : 0);
    // binary64 → binary32
    const a = operand(F64);
    const x = decode(a, F64);
    if (typeof x !== "string") {
      let want: Res;
      if (x.m === 0n) want = { bits: x.s ? 0x80000000n : 0n, flags: 0 };
      else {
        const { e, sc } = dyadic(x.m, x.e);
        want = roundRef(x.s, e, sc, F32, rc, ftz);
        if (x.m < 1n << 52n) want.flags |= FE_DE;
      }
      fpBegin(mx);
      const [al, ah] = lohi(a);
      const got = BigInt(f64ToF32(al, ah) >>> 0);
      assert.equal(got.toString(16), want.bits.toString(16), `cvtsd2ss ${a.toString(16)} rc ${rc}`);
      assert.equal(FP.flags, want.flags, `cvtsd2ss flags ${a.toString(16)} rc ${rc}`);
      // binary64 → int64 / int32 (cvtsd2si, cvttsd2si)
      for (const bits64 of [false, true]) {
        for (const trunc of [false, true]) {
          fpBegin(mx);
          f64ToInt(al, ah, bits64, trunc);
          const got2 = (BigInt(RI[1]!) << 32n) | BigInt(RI[0]! >>> 0);
          // reference: round m·2^e to an integer
          const mode = trunc ? 3 : rc;
          let v: bigint, exact: boolean;
          if (x.e >= 0) {
            v = x.m << BigInt(x.e);
            exact = true;
          } else {
            const d = 1n << BigInt(-x.e);
            const I = x.m / d, r = x.m - I * d, c = 2n * r - d;
            exact = r === 0n;
            const up = exact
              ? false
              : mode === 0
              ? c > 0n || (c === 0n && (I & 1n) === 1n)
              : mode === 3
              ? false
              : mode === 2
              ? !x.s
              : x.s;
            v = up ? I + 1n : I;
          }
          if (x.s) v = -v;
          const lim = bits64 ? 1n << 63n : 1n << 31n;
          let wantV: bigint, wf: number;
          if (v < -lim || v >= lim) {
            wantV = bits64 ? -(1n << 63n) : -(1n << 31n);
            wf = FE_IE;
          } else {
            wantV = v;
            wf = exact ? 0 : FE_PE;
          }
          if (!bits64) wantV = BigInt.asIntN(32, wantV);
          assert.equal(
            bits64 ? got2 : BigInt(RI[0]!),
            wantV,
            `cvt${trunc ? "t" : ""}sd2si${bits64 ? "64" : ""} ${a.toString(16)} rc ${rc}`,
          );
          assert.equal(FP.flags, wf, `cvtsd2si flags ${a.toString(16)}`);
        }
      }
    }
    // int64 → binary64 / binary32
    const iv = BigInt.asIntN(64, (BigInt(rnd()) << 32n) | BigInt(rnd())) >>
      BigInt(rnd() % 64);
    for (const dbl of [true, false]) {
      const f = dbl ? F64 : F32;
      let want: bigint, wflags = 0;
      if (iv === 0n) want = 0n;
      else {
        const neg = iv < 0n;
        const { e, sc } = dyadic(neg ? -iv : iv, 0);
        const r = roundRef(neg, e, sc, f, rc, false);
        want = r.bits;
        wflags = r.flags;
      }
      fpBegin(0x1f80 | (rc << 13));
      const [lo, hi] = lohi(BigInt.asUintN(64, iv));
      const v = i64ToFloat(lo, hi, dbl);
      const bv = new DataView(new ArrayBuffer(8));
      let got: bigint;
      if (dbl) {
        bv.setFloat64(0, v);
        got = bv.getBigUint64(0);
      } else {
        bv.setFloat32(0, v);
        got = BigInt(bv.getUint32(0));
      }
      assert.equal(got.toString(16), want.toString(16), `cvtsi2s${dbl ? "d" : "s"} ${iv} rc ${rc}`);
      assert.equal(FP.flags, wflags);
    }
  }
});
