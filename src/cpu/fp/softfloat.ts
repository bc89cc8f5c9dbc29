/**
 * Exact IEEE 754 binary32/binary64 arithmetic with the SSE environment: the four MXCSR rounding
 * modes, DAZ and FTZ, the six exception flags, x86 NaN rules. Deterministic by construction:
 * only +, −, ×, ÷, Math.sqrt, Math.floor and integer operations on JS numbers, which IEEE 754 and
 * ECMAScript fix exactly. No allocation.
 *
 * Method. Every operation first computes its exact result as an unevaluated sum m·2^e + t where
 * m ∈ [1, 2) is a double and t is a tail known only by its sign (`ls` = −1, 0, +1) and bounded by
 * half an ulp of m at 53 bits: error-free transformations give it exactly (TwoSum for +/−,
 * Dekker's TwoProduct for ×, the exactly representable remainder a − q·b for ÷ and a − s² for
 * √). `roundPack` then rounds that to the target precision (24 or 53 bits, subnormals included)
 * in any rounding mode — the sign of the tail is all a correct directed or ties-to-even rounding
 * needs, so there is no double rounding — and detects overflow, tininess (after rounding, as
 * x86 does) and inexactness.
 *
 * NaNs never travel through JS numbers (their payloads are not preserved reliably): operands are
 * classified on their bit patterns and NaN results are built as bit patterns.
 *
 * Values: binary64 as (lo, hi) int32 halves, results in `R64[0..1]`; binary32 as int32 bits.
 * State: `FP` holds the environment (set by `fpBegin` from MXCSR) and accumulates flags.
 */

export const FE_IE = 1, FE_DE = 2, FE_ZE = 4, FE_OE = 8, FE_UE = 16, FE_PE = 32;
/** Flags raised before computing (invalid, denormal operand, divide by zero). */
export const FE_PRE = FE_IE | FE_DE | FE_ZE;
export const RC_NEAR = 0, RC_DOWN = 1, RC_UP = 2, RC_ZERO = 3;

/** Floating-point environment and accumulated exception flags of the current instruction. */
export const FP = {
  /** Rounding control (MXCSR bits 14:13). */
  rc: 0,
  /** Flush-to-zero for tiny results (MXCSR bit 15), effective only with UM masked. */
  ftz: false,
  /** Denormal operands are zero (MXCSR bit 6). */
  daz: false,
  /** Exception masks (MXCSR bits 12:7 shifted down, FE_* positions). */
  masks: 0x3f,
  /** Flags raised so far (FE_* bits). */
  flags: 0,
  /**
   * Fast path allowed: round-to-nearest with PE already set and masked, so an operation whose
   * operands and result are normal or zero needs no flag at all and the host's result is exact.
   */
  fast: false,
};

/** Loads the environment from an MXCSR value and clears the flags. */
export function fpBegin(mxcsr: number): void {
  FP.rc = (mxcsr >>> 13) & 3;
  FP.ftz = (mxcsr & 0x8000) !== 0;
  FP.daz = (mxcsr & 0x40) !== 0;
  FP.masks = (mxcsr >>> 7) & 0x3f;
  FP.flags = 0;
  FP.fast = (mxcsr & 0x7020) === 0x1020;
}

/** Result of binary64 operations: [lo, hi]. */
export const R64 = new Int32Array(2);

// ---- bit casts ----------------------------------------------------------------------------------

const F64 = new Float64Array(1);
const I64 = new Int32Array(F64.buffer);
const F32 = new Float32Array(1);
const I32 = new Int32Array(F32.buffer);

export function f64FromBits(lo: number, hi: number): number {
  I64[0] = lo;
  I64[1] = hi;
  return F64[0]!;
}

/** Writes a non-NaN double into R64. */
export function out64(x: number): void {
  F64[0] = x;
  R64[0] = I64[0]!;
  R64[1] = I64[1]!;
}

export function f32FromBits(b: number): number {
  I32[0] = b;
  return F32[0]!;
}

/** Bits of a non-NaN double that is exactly representable as binary32. */
export function f32Bits(x: number): number {
  F32[0] = x;
  return I32[0]!;
}

// ---- constants ----------------------------------------------------------------------------------

const P2OFF = 1100;
/** POW2[n + P2OFF] = 2^n for n in [-1100, 1100] (0 / Infinity beyond the double range). */
const POW2 = new Float64Array(2 * P2OFF + 1);
{
  let v = 1;
  for (let n = 0; n <= P2OFF; n++) {
    POW2[P2OFF + n] = v;
    v *= 2;
  }
  v = 1;
  for (let n = 0; n <= P2OFF; n++) {
    POW2[P2OFF - n] = v;
    v *= 0.5;
  }
}

export const MIN_NORMAL64 = 2.2250738585072014e-308;
export const MIN_NORMAL32 = 1.1754943508222875e-38;
const MAX64 = 1.7976931348623157e308;
const MAX32 = 3.4028234663852886e38;
const SPLIT = 134217729; // 2^27 + 1
const TWO32 = 4294967296;

export const DEFAULT_NAN32 = 0xffc00000 | 0;
export const DEFAULT_NAN64_HI = 0xfff80000 | 0;

// ---- classification -----------------------------------------------------------------------------

export function isNaN64(lo: number, hi: number): boolean {
  const h = hi & 0x7fffffff;
  return h > 0x7ff00000 || (h === 0x7ff00000 && lo !== 0);
}

export function isSNaN64(lo: number, hi: number): boolean {
  return isNaN64(lo, hi) && (hi & 0x80000) === 0;
}

export function isNaN32(b: number): boolean {
  return (b & 0x7fffffff) > 0x7f800000;
}

export function isSNaN32(b: number): boolean {
  return (b & 0x7fffffff) > 0x7f800000 && (b & 0x400000) === 0;
}

function isDenormal64(lo: number, hi: number): boolean {
  return (hi & 0x7ff00000) === 0 && ((hi & 0xfffff) | lo) !== 0;
}

function isDenormal32(b: number): boolean {
  return (b & 0x7f800000) === 0 && (b & 0x7fffff) !== 0;
}

/** Operand value (not NaN) with DAZ applied; a denormal without DAZ raises DE. */
export function in64(lo: number, hi: number): number {
  if (isDenormal64(lo, hi)) {
    if (FP.daz) return hi < 0 ? -0 : 0;
    FP.flags |= FE_DE;
  }
  I64[0] = lo;
  I64[1] = hi;
  return F64[0]!;
}

export function in32(b: number): number {
  if (isDenormal32(b)) {
    if (FP.daz) return b < 0 ? -0 : 0;
    FP.flags |= FE_DE;
  }
  I32[0] = b;
  return F32[0]!;
}

/** Operand value (not NaN) with DAZ applied but no DE (instructions that do not report DE). */
export function in64NoDe(lo: number, hi: number): number {
  if (FP.daz && isDenormal64(lo, hi)) return hi < 0 ? -0 : 0;
  I64[0] = lo;
  I64[1] = hi;
  return F64[0]!;
}

export function in32NoDe(b: number): number {
  if (FP.daz && isDenormal32(b)) return b < 0 ? -0 : 0;
  I32[0] = b;
  return F32[0]!;
}

// ---- exact-result helpers -----------------------------------------------------------------------

/** Exponent of the last `norm` argument. */
let nExp = 0;

/** x > 0 finite → m ∈ [1, 2) with x = m·2^nExp. */
function norm(x: number): number {
  F64[0] = x;
  let e = (I64[1]! >>> 20) & 0x7ff;
  if (e === 0) {
    F64[0] = x * 18446744073709551616; // 2^64
    e = ((I64[1]! >>> 20) & 0x7ff) - 64;
  }
  nExp = e - 1023;
  I64[1] = (I64[1]! & 0x800fffff) | 0x3ff00000;
  return F64[0]!;
}

/** Error of p = fl(a·b): a·b − p exactly (Dekker; a, b well inside the exponent range). */
function twoProdErr(a: number, b: number, p: number): number {
  let t = SPLIT * a;
  const ah = t - (t - a), al = a - ah;
  t = SPLIT * b;
  const bh = t - (t - b), bl = b - bh;
  return ((ah * bh - p) + ah * bl + al * bh) + al * bl;
}

// ---- rounding -----------------------------------------------------------------------------------

/**
 * Rounds the scaled significand M (> 0, the rounding position at 1) whose exact value is
 * M + tail (tail sign `ls`, |tail| tiny) to an integer with the current mode applied to a
 * magnitude of sign `neg`. A downward step from an exact integer returns I − 1 (roundPack keeps
 * M off binade bottoms in that case). Sets `rInexact`.
 */
let rInexact = false;
function rndInt(M: number, ls: number, neg: boolean): number {
  const I = Math.floor(M), F = M - I;
  rInexact = F !== 0 || ls !== 0;
  if (!rInexact) return I;
  const rc = FP.rc;
  if (rc === RC_NEAR) {
    return F > 0.5 || (F === 0.5 && (ls > 0 || (ls === 0 && I % 2 === 1))) ? I + 1 : I;
  }
  const away = rc === RC_UP ? !neg : rc === RC_DOWN ? neg : false;
  if (away) return F > 0 || ls > 0 ? I + 1 : I;
  return F === 0 && ls < 0 ? I - 1 : I;
}

/**
 * Rounds ±(m + tail)·2^e (m ∈ [1, 2) a double, tail of sign `ls` smaller than half an ulp of m at
 * 53 bits) to binary64 (`dbl`) or binary32 and returns the signed result as a double; raises
 * OE/UE/PE (x86 rules: tininess after rounding; unmasked OE/UE report PE only for an inexact
 * significand) and applies FTZ.
 */
export function roundPack(neg: boolean, m: number, ls: number, e: number, dbl: boolean): number {
  // A power of two with a negative tail lies in the binade below: renormalise to m = 2 there,
  // so that e is the exponent of the exact value (the rounding then works on the finer grid).
  if (m === 1 && ls < 0) {
    m = 2;
    e -= 1;
  }
  const P = dbl ? 53 : 24, emin = dbl ? -1022 : -126, emax = dbl ? 1023 : 127;
  const half = dbl ? 4503599627370496 : 8388608; // 2^(P-1)
  const qe = (e > emin ? e : emin) - (P - 1);
  const sh = e - qe;
  const M = sh >= -60 ? m * POW2[sh + P2OFF]! : 2.168404344971009e-19; // 2^-62: below half
  const R = rndInt(M, ls, neg);
  const inexact = rInexact;
  const f = FP;
  // Overflow: the rounded result (unbounded exponent) reaches 2^(emax+1).
  if (e > emax || (e === emax && R >= 2 * half)) {
    // Masked: the result is ±inf or ±max, always inexact. Unmasked: no result is delivered; PE
    // only when the significand itself was rounded (P bits, unbounded exponent).
    f.flags |= (f.masks & FE_OE) !== 0 || inexact ? FE_OE | FE_PE : FE_OE;
    const rc = f.rc;
    const inf = rc === RC_NEAR || (rc === RC_UP && !neg) || (rc === RC_DOWN && neg);
    const v = inf ? Infinity : dbl ? MAX64 : MAX32;
    return neg ? -v : v;
  }
  let v = R * POW2[qe + P2OFF]!;
  if (e < emin) {
    // Tininess after rounding: would rounding to P bits with an unbounded exponent reach 2^emin?
    let tiny = true;
    if (e === emin - 1) {
      const R2 = rndInt(m * half, ls, neg);
      if (R2 >= 2 * half) tiny = false;
    }
    if (tiny) {
      if ((f.masks & FE_UE) === 0) {
        // Unmasked: no result is delivered; UE is reported exact or not, with PE when the
        // significand (P bits, unbounded exponent) is inexact — as for the x87's scaled result.
        rndInt(m * half, ls, neg);
        f.flags |= rInexact ? FE_UE | FE_PE : FE_UE;
      } else if (f.ftz) {
        f.flags |= FE_UE | FE_PE;
        v = 0;
      } else if (inexact) f.flags |= FE_UE | FE_PE;
      return neg ? -v : v;
    }
  }
  if (inexact) f.flags |= FE_PE;
  return neg ? -v : v;
}

/** Rounds a finite nonzero double x to the format (a conversion). */
function roundValue(x: number, dbl: boolean): number {
  const neg = x < 0;
  const m = norm(neg ? -x : x);
  return roundPack(neg, m, 0, nExp, dbl);
}

// ---- arithmetic on values -----------------------------------------------------------------------

export const OP_ADD = 0, OP_SUB = 1, OP_MUL = 2, OP_DIV = 3;

/** Sign of the exact zero sum x + y (x + y == 0 exactly). */
function zeroSum(x: number, y: number): number {
  if (x === 0 && y === 0 && (1 / x < 0) === (1 / y < 0)) return x;
  return FP.rc === RC_DOWN ? -0 : 0;
}

/** Marks an invalid operation; the caller returns the default NaN. */
let invalid = false;

function addV(x: number, y: number, dbl: boolean): number {
  const xi = x === Infinity || x === -Infinity, yi = y === Infinity || y === -Infinity;
  if (xi || yi) {
    if (xi && yi && x !== y) {
      invalid = true;
      return 0;
    }
    return xi ? x : y;
  }
  let s = x + y;
  if (s === 0) return zeroSum(x, y);
  let k = 0;
  const ax = Math.abs(x), ay = Math.abs(y);
  if ((ax >= 2 ** 1021 || ay >= 2 ** 1021) && ax >= 2 ** -1021 && ay >= 2 ** -1021) {
    // Near the top of the range the sum or TwoSum's s − x may overflow: work on the halves
    // (exact at this magnitude). With a tiny other operand nothing can overflow.
    x *= 0.5;
    y *= 0.5;
    s = x + y;
    k = 1;
  }
  const bb = s - x;
  const err = (x - (s - bb)) + (y - bb);
  const neg = s < 0;
  const ls = err === 0 ? 0 : (err > 0) !== neg ? 1 : -1;
  const m = norm(neg ? -s : s);
  return roundPack(neg, m, ls, nExp + k, dbl);
}

function mulV(x: number, y: number, dbl: boolean): number {
  const neg = (x < 0 || (x === 0 && 1 / x < 0)) !== (y < 0 || (y === 0 && 1 / y < 0));
  const ax = Math.abs(x), ay = Math.abs(y);
  if (ax === Infinity || ay === Infinity) {
    if (ax === 0 || ay === 0) {
      invalid = true;
      return 0;
    }
    return neg ? -Infinity : Infinity;
  }
  if (ax === 0 || ay === 0) return neg ? -0 : 0;
  const mx = norm(ax), ex = nExp;
  const my = norm(ay), ey = nExp;
  const p = mx * my;
  const err = twoProdErr(mx, my, p);
  const m = norm(p);
  return roundPack(neg, m, err > 0 ? 1 : err < 0 ? -1 : 0, ex + ey + nExp, dbl);
}

function divV(x: number, y: number, dbl: boolean): number {
  const neg = (x < 0 || (x === 0 && 1 / x < 0)) !== (y < 0 || (y === 0 && 1 / y < 0));
  const ax = Math.abs(x), ay = Math.abs(y);
  if (ax === Infinity) {
    if (ay === Infinity) {
      invalid = true;
      return 0;
    }
    return neg ? -Infinity : Infinity;
  }
  if (ay === Infinity) return neg ? -0 : 0;
  if (ay === 0) {
    if (ax === 0) {
      invalid = true;
      return 0;
    }
    FP.flags |= FE_ZE;
    return neg ? -Infinity : Infinity;
  }
  if (ax === 0) return neg ? -0 : 0;
  const mx = norm(ax), ex = nExp;
  const my = norm(ay), ey = nExp;
  const q = mx / my;
  const ph = q * my;
  const r = (mx - ph) - twoProdErr(q, my, ph);
  const m = norm(q);
  return roundPack(neg, m, r > 0 ? 1 : r < 0 ? -1 : 0, ex - ey + nExp, dbl);
}

function sqrtV(x: number, dbl: boolean): number {
  if (x === 0 || x === Infinity) return x;
  if (x < 0) {
    invalid = true;
    return 0;
  }
  let m = norm(x), e = nExp;
  if (e & 1) {
    m *= 2;
    e -= 1;
  }
  const s = Math.sqrt(m);
  const ph = s * s;
  const r = (m - ph) - twoProdErr(s, s, ph);
  return roundPack(false, s, r > 0 ? 1 : r < 0 ? -1 : 0, e / 2, dbl);
}

function arithV(op: number, x: number, y: number, dbl: boolean): number {
  switch (op) {
    case OP_ADD:
      return addV(x, y, dbl);
    case OP_SUB:
      return addV(x, -y, dbl);
    case OP_MUL:
      return mulV(x, y, dbl);
    default:
      return divV(x, y, dbl);
  }
}

/**
 * Host result usable as is (fast path, see FP.fast): |x|, |y|, the magnitude of the host result
 * (for binary32: the double before its final rounding) and the format's smallest normal.
 */
export function fastOk(op: number, ax: number, ay: number, ar: number, min: number): boolean {
  // Operands normal or zero, finite.
  if (!((ax >= min || ax === 0) && ax < Infinity && (ay >= min || ay === 0) && ay < Infinity)) {
    return false;
  }
  // A result of exactly the smallest normal may come from a tiny value rounded up (UE): for
  // binary64 that is decided on the slow path. (For binary32, `ar` is the double before the
  // final rounding, which is already exact enough.)
  if (ar > min && ar < Infinity) return true;
  if (ar === min) return min === MIN_NORMAL32;
  if (ar !== 0) return false;
  // Zero result: exact for +/− of normals; for × and ÷ only when an operand is zero.
  if (op <= OP_SUB) return true;
  if (op === OP_MUL) return ax === 0 || ay === 0;
  return ax === 0 && ay !== 0;
}

// ---- binary64 operations ------------------------------------------------------------------------

function nanPair64(aLo: number, aHi: number, bLo: number, bHi: number): void {
  const an = isNaN64(aLo, aHi);
  if ((an && (aHi & 0x80000) === 0) || isSNaN64(bLo, bHi)) FP.flags |= FE_IE;
  if (an) {
    R64[0] = aLo;
    R64[1] = aHi | 0x80000;
  } else {
    R64[0] = bLo;
    R64[1] = bHi | 0x80000;
  }
}

function defaultNaN64(): void {
  FP.flags |= FE_IE;
  R64[0] = 0;
  R64[1] = DEFAULT_NAN64_HI;
}

/** a op b (add, sub, mul, div) in binary64 → R64. */
export function f64Arith(op: number, aLo: number, aHi: number, bLo: number, bHi: number): void {
  if (FP.fast) {
    I64[0] = aLo;
    I64[1] = aHi;
    const x = F64[0]!;
    I64[0] = bLo;
    I64[1] = bHi;
    const y = F64[0]!;
    const r = op === OP_ADD ? x + y : op === OP_SUB ? x - y : op === OP_MUL ? x * y : x / y;
    if (fastOk(op, Math.abs(x), Math.abs(y), Math.abs(r), MIN_NORMAL64)) {
      F64[0] = r;
      R64[0] = I64[0]!;
      R64[1] = I64[1]!;
      return;
    }
  }
  if (isNaN64(aLo, aHi) || isNaN64(bLo, bHi)) {
    nanPair64(aLo, aHi, bLo, bHi);
    return;
  }
  const f0 = FP.flags;
  const x = in64(aLo, aHi), y = in64(bLo, bHi);
  // Divide-by-zero takes priority over a denormal dividend (no DE then).
  if (op === OP_DIV && y === 0 && x !== 0) FP.flags = (FP.flags & ~FE_DE) | (f0 & FE_DE);
  invalid = false;
  const r = arithV(op, x, y, true);
  if (invalid) defaultNaN64();
  else out64(r);
}

export function f64Sqrt(lo: number, hi: number): void {
  if (isNaN64(lo, hi)) {
    if ((hi & 0x80000) === 0) FP.flags |= FE_IE;
    R64[0] = lo;
    R64[1] = hi | 0x80000;
    return;
  }
  if (FP.fast) {
    const x = f64FromBits(lo, hi);
    if ((x >= MIN_NORMAL64 && x < Infinity) || x === 0) {
      out64(Math.sqrt(x));
      return;
    }
  }
  // The square root of a negative denormal is invalid, which takes priority over DE.
  if (hi < 0 && isDenormal64(lo, hi) && !FP.daz) {
    defaultNaN64();
    return;
  }
  const x = in64(lo, hi);
  invalid = false;
  const r = sqrtV(x, true);
  if (invalid) defaultNaN64();
  else out64(r);
}

// ---- binary32 operations ------------------------------------------------------------------------

function nanPair32(a: number, b: number): number {
  const an = isNaN32(a);
  if ((an && (a & 0x400000) === 0) || isSNaN32(b)) FP.flags |= FE_IE;
  return (an ? a : b) | 0x400000;
}

/** a op b in binary32 (bits in, bits out). */
export function f32Arith(op: number, a: number, b: number): number {
  if (FP.fast) {
    I32[0] = a;
    const x = F32[0]!;
    I32[0] = b;
    const y = F32[0]!;
    // The double result is rounded once more to binary32: exact for + − × ÷ (53 ≥ 2·24 + 2).
    // Tininess is judged on the double (a value just below 2^-126 may round up to it).
    const d = op === OP_ADD ? x + y : op === OP_SUB ? x - y : op === OP_MUL ? x * y : x / y;
    F32[0] = d;
    const r = F32[0]!;
    if (
      r !== Infinity && r !== -Infinity &&
      fastOk(op, Math.abs(x), Math.abs(y), Math.abs(d), MIN_NORMAL32)
    ) {
      return I32[0]!;
    }
  }
  if (isNaN32(a) || isNaN32(b)) return nanPair32(a, b);
  const f0 = FP.flags;
  const x = in32(a), y = in32(b);
  if (op === OP_DIV && y === 0 && x !== 0) FP.flags = (FP.flags & ~FE_DE) | (f0 & FE_DE);
  invalid = false;
  const r = arithV(op, x, y, false);
  if (invalid) {
    FP.flags |= FE_IE;
    return DEFAULT_NAN32;
  }
  return f32Bits(r);
}

export function f32Sqrt(b: number): number {
  if (isNaN32(b)) {
    if ((b & 0x400000) === 0) FP.flags |= FE_IE;
    return b | 0x400000;
  }
  if (FP.fast) {
    const x = f32FromBits(b);
    if ((x >= MIN_NORMAL32 && x < Infinity) || x === 0) return f32Bits(Math.sqrt(x));
  }
  if (b < 0 && isDenormal32(b) && !FP.daz) {
    FP.flags |= FE_IE;
    return DEFAULT_NAN32;
  }
  const x = in32(b);
  invalid = false;
  const r = sqrtV(x, false);
  if (invalid) {
    FP.flags |= FE_IE;
    return DEFAULT_NAN32;
  }
  return f32Bits(r);
}

// ---- comparisons, min/max -----------------------------------------------------------------------

export const CMP_LT = 0, CMP_EQ = 1, CMP_GT = 2, CMP_UN = 3;

/**
 * Compares a and b (binary64). `signaling`: any NaN raises IE (comisd, cmp LT/LE/…); otherwise
 * only SNaNs do. Denormal operands raise DE (or are zero with DAZ).
 */
export function f64Compare(
  aLo: number,
  aHi: number,
  bLo: number,
  bHi: number,
  signaling: boolean,
): number {
  const an = isNaN64(aLo, aHi), bn = isNaN64(bLo, bHi);
  if (an || bn) {
    if (signaling || (an && (aHi & 0x80000) === 0) || (bn && (bHi & 0x80000) === 0)) {
      FP.flags |= FE_IE;
    }
    return CMP_UN;
  }
  const x = in64(aLo, aHi), y = in64(bLo, bHi);
  return x < y ? CMP_LT : x > y ? CMP_GT : CMP_EQ;
}

export function f32Compare(a: number, b: number, signaling: boolean): number {
  const an = isNaN32(a), bn = isNaN32(b);
  if (an || bn) {
    if (signaling || (an && (a & 0x400000) === 0) || (bn && (b & 0x400000) === 0)) {
      FP.flags |= FE_IE;
    }
    return CMP_UN;
  }
  const x = in32(a), y = in32(b);
  return x < y ? CMP_LT : x > y ? CMP_GT : CMP_EQ;
}

// ---- conversions --------------------------------------------------------------------------------

/** binary32 → binary64 (exact; SNaN quieted with IE; DE / DAZ for denormals) → R64. */
export function f32ToF64(b: number): void {
  if (isNaN32(b)) {
    if ((b & 0x400000) === 0) FP.flags |= FE_IE;
    R64[0] = b << 29;
    R64[1] = (b & 0x80000000) | 0x7ff80000 | ((b & 0x7fffff) >>> 3);
    return;
  }
  out64(in32(b));
}

/** binary64 → binary32 with rounding. */
export function f64ToF32(lo: number, hi: number): number {
  if (isNaN64(lo, hi)) {
    if ((hi & 0x80000) === 0) FP.flags |= FE_IE;
    return (hi & 0x80000000) | 0x7fc00000 | ((hi & 0x7ffff) << 3) | (lo >>> 29);
  }
  const x = in64(lo, hi);
  if (x === 0 || x === Infinity || x === -Infinity) return f32Bits(x);
  return f32Bits(roundValue(x, false));
}

/** Signed 32-bit integer → binary32 (rounded). */
export function i32ToF32(v: number): number {
  if (v === 0) return 0;
  return f32Bits(roundValue(v, false));
}

/** Signed 64-bit integer (lo, hi) → binary64 (dbl) or binary32, as a double value. */
export function i64ToFloat(lo: number, hi: number, dbl: boolean): number {
  const a = hi * TWO32, b = lo >>> 0;
  const s = a + b;
  if (s === 0) return 0;
  const bb = s - a;
  const err = (a - (s - bb)) + (b - bb);
  const neg = s < 0;
  const ls = err === 0 ? 0 : (err > 0) !== neg ? 1 : -1;
  const m = norm(neg ? -s : s);
  return roundPack(neg, m, ls, nExp, dbl);
}

/** Low / high half of the last float → integer conversion. */
export const RI = new Int32Array(2);

/** Rounds x (finite) to an integer-valued double with rounding mode rc. */
function roundToInt(x: number, rc: number): number {
  const f = Math.floor(x);
  if (f === x) return x;
  switch (rc) {
    case RC_NEAR: {
      const d = x - f;
      return d > 0.5 ? f + 1 : d < 0.5 ? f : f % 2 === 0 ? f : f + 1;
    }
    case RC_DOWN:
      return f;
    case RC_UP:
      return f + 1;
    default:
      return x < 0 ? f + 1 : f;
  }
}

/**
 * Float value → signed integer of 32 or 64 bits into RI (lo, hi); NaN/out of range gives the
 * integer indefinite with IE; inexact gives PE. `trunc` rounds toward zero (cvtt*).
 */
function toInt(x: number, nan: boolean, bits64: boolean, trunc: boolean): void {
  if (!nan) {
    const r = roundToInt(x, trunc ? RC_ZERO : FP.rc);
    const ok = bits64
      ? r >= -9223372036854775808 && r < 9223372036854775808
      : r >= -2147483648 && r <= 2147483647;
    if (ok) {
      if (r !== x) FP.flags |= FE_PE;
      if (bits64) {
        const h = Math.floor(r / TWO32);
        RI[0] = (r - h * TWO32) | 0;
        RI[1] = h | 0;
      } else {
        RI[0] = r | 0;
        RI[1] = 0;
      }
      return;
    }
  }
  FP.flags |= FE_IE;
  RI[0] = bits64 ? 0 : 0x80000000 | 0;
  RI[1] = bits64 ? 0x80000000 | 0 : 0;
}

export function f64ToInt(lo: number, hi: number, bits64: boolean, trunc: boolean): void {
  const nan = isNaN64(lo, hi);
  toInt(nan ? 0 : in64NoDe(lo, hi), nan, bits64, trunc);
}

export function f32ToInt(b: number, bits64: boolean, trunc: boolean): void {
  const nan = isNaN32(b);
  toInt(nan ? 0 : in32NoDe(b), nan, bits64, trunc);
}

/**
 * Rounds a binary64 value to an integral value with mode rc (roundsd: no DE, DAZ applies; PE
 * unless `noPE`) → R64.
 */
export function f64RoundInt(lo: number, hi: number, rc: number, noPE: boolean): void {
  if (isNaN64(lo, hi)) {
    if ((hi & 0x80000) === 0) FP.flags |= FE_IE;
    R64[0] = lo;
    R64[1] = hi | 0x80000;
    return;
  }
  const x = in64NoDe(lo, hi);
  if (x === 0 || x === Infinity || x === -Infinity) {
    out64(x);
    return;
  }
  const r = roundToInt(x, rc);
  if (r !== x && !noPE) FP.flags |= FE_PE;
  out64(r === 0 ? (x < 0 ? -0 : 0) : r);
}

export function f32RoundInt(b: number, rc: number, noPE: boolean): number {
  if (isNaN32(b)) {
    if ((b & 0x400000) === 0) FP.flags |= FE_IE;
    return b | 0x400000;
  }
  const x = in32NoDe(b);
  if (x === 0 || x === Infinity || x === -Infinity) return f32Bits(x);
  const r = roundToInt(x, rc);
  if (r !== x && !noPE) FP.flags |= FE_PE;
  return f32Bits(r === 0 ? (x < 0 ? -0 : 0) : r);
}

/**
 * minps/maxps and friends: true when the result is the first operand. Any NaN (quiet or
 * signaling) raises IE and selects the second operand, as do equal values (±0 included).
 */
export function f32PickFirst(a: number, b: number, max: boolean): boolean {
  if (isNaN32(a) || isNaN32(b)) {
    FP.flags |= FE_IE;
    return false;
  }
  const x = in32(a), y = in32(b);
  return max ? x > y : x < y;
}

export function f64PickFirst(aLo: number, aHi: number, bLo: number, bHi: number, max: boolean) {
  if (isNaN64(aLo, aHi) || isNaN64(bLo, bHi)) {
    FP.flags |= FE_IE;
    return false;
  }
  const x = in64(aLo, aHi), y = in64(bLo, bHi);
  return max ? x > y : x < y;
}

/** The operand as an instruction sees it: a denormal is ±0 under DAZ (min/max results). */
export function daz32(b: number): number {
  return FP.daz && isDenormal32(b) ? b & (0x80000000 | 0) : b;
}

/** High half of a binary64 operand under DAZ; the low half is 0 when this changed it. */
export function dazIsZero64(lo: number, hi: number): boolean {
  return FP.daz && isDenormal64(lo, hi);
}
