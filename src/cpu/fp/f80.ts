/**
 * Exact x87 extended-precision arithmetic (80-bit: sign, 15-bit exponent, 64-bit significand
 * with explicit integer bit J) in software, with the x87 environment: precision control (24, 53
 * or 64 significand bits), the four rounding modes, denormals, x87 NaN rules and the six exception
 * flags plus C1 ("rounded up"). Deterministic by construction: only integer operations and exact
 * additions/multiplications of small integers on JS numbers (every intermediate stays below
 * 2^53). No allocation.
 *
 * Method. Operands are unpacked into `Unp` (class, sign, unbiased exponent x of the J bit, and
 * the 64-bit significand as two uint32 halves, normalized so that J = 1 for every finite nonzero
 * value, denormals included). add/sub/mul/div/sqrt compute their exact result as a 96-bit
 * significand m (three uint32 words, leading bit at 95) with all lower bits OR-ed ("jammed")
 * into bit 0, which is exact enough for a correct rounding at ≤ 64 bits in every mode.
 * `roundPack` then rounds m to the precision and exponent range of the destination (extended
 * with PC 24/53/64, or binary32/binary64 for stores), detects tininess after rounding (as x86
 * does), overflow, inexactness and the round-up indicator C1, and applies the masked responses
 * (±∞ / largest finite, denormal) or, for an unmasked overflow/underflow with a register
 * destination, the x87 exponent wrap by ∓24576.
 *
 * Values in registers and memory are raw little-endian bytes (cpu.fpr); `unpack80`/`pack80`
 * convert. The x87 instruction layer (ops/x87*.ts) owns stack, tags, FSW and exception delivery;
 * everything here reports through `FX` (flags in FSW bit positions).
 */

export const FE_IE = 0x1, FE_DE = 0x2, FE_ZE = 0x4, FE_OE = 0x8, FE_UE = 0x10, FE_PE = 0x20;
/** Stack fault (FSW.SF), always together with IE. */
export const FE_SF = 0x40;
export const RC_NEAR = 0, RC_DOWN = 1, RC_UP = 2, RC_ZERO = 3;

/** Operand/result classes. DENORMAL covers pseudo-denormals (exponent 0 with J = 1). */
export const C_ZERO = 0,
  C_NORMAL = 1,
  C_DENORMAL = 2,
  C_INF = 3,
  C_QNAN = 4,
  C_SNAN = 5,
  C_UNSUPPORTED = 6;

/** Extended-format exponent range (unbiased exponent of the J bit). */
export const EXT_BIAS = 16383, EXT_EMIN = -16382, EXT_EMAX = 16383;
/** Exponent adjustment of the x87 for an unmasked overflow/underflow with a register result. */
export const WRAP = 24576;

const TWO32 = 4294967296;

/** The environment of the current instruction and the results it reports. */
export const FX = {
  /** Rounding control (FCW bits 11:10). */
  rc: 0,
  /** Exception masks (FCW bits 5:0, FE_* positions). */
  masks: 0x3f,
  /** Exception flags raised so far (FE_* bits). */
  flags: 0,
  /** C1 as set by the last rounding: 1 when the magnitude was rounded up. */
  c1: 0,
};

/** Loads the environment from a control word (precision control is passed per operation). */
export function fxBegin(fcw: number): void {
  FX.rc = (fcw >>> 10) & 3;
  FX.masks = fcw & 0x3f;
  FX.flags = 0;
  FX.c1 = 0;
}

/** Significand precision selected by FCW.PC (bits 9:8): 0 → 24, 2 → 53, 3 (and 1) → 64. */
export function pcBits(fcw: number): number {
  const pc = (fcw >>> 8) & 3;
  return pc === 0 ? 24 : pc === 2 ? 53 : 64;
}

/**
 * An unpacked value. For C_NORMAL/C_DENORMAL: (-1)^s · (h·2^32 + l) · 2^(x−63) with h ≥ 2^31.
 * For NaNs: h, l hold the raw significand (payload). For C_INF/C_ZERO only s matters.
 * C_UNSUPPORTED keeps the raw fields (e = biased exponent) for diagnostics.
 */
export class Unp {
  cls = C_ZERO;
  s = 0;
  x = 0;
  h = 0;
  l = 0;
}

/** Copies u into v. */
export function copyUnp(v: Unp, u: Unp): void {
  v.cls = u.cls;
  v.s = u.s;
  v.x = u.x;
  v.h = u.h;
  v.l = u.l;
}

/** Sets u to ±0. */
export function setZero(u: Unp, s: number): void {
  u.cls = C_ZERO;
  u.s = s;
  u.x = 0;
  u.h = 0;
  u.l = 0;
}

/** Sets u to ±∞. */
export function setInf(u: Unp, s: number): void {
  u.cls = C_INF;
  u.s = s;
  u.x = 0;
  u.h = 0x80000000;
  u.l = 0;
}

/** Sets u to the default QNaN ("real indefinite", −QNaN 0xFFFF_C000000000000000). */
export function setIndefinite(u: Unp): void {
  u.cls = C_QNAN;
  u.s = 1;
  u.x = 0;
  u.h = 0xc0000000;
  u.l = 0;
}

/** Sets u to a finite value from a normalized significand. */
export function setFinite(u: Unp, s: number, x: number, h: number, l: number): void {
  u.cls = C_NORMAL;
  u.s = s;
  u.x = x;
  u.h = h;
  u.l = l;
}

/** Normalizes the finite nonzero value in u (h:l ≠ 0) so that h ≥ 2^31. */
function normalize(u: Unp): void {
  let h = u.h, l = u.l, x = u.x;
  if (h === 0) {
    h = l;
    l = 0;
    x -= 32;
  }
  const z = Math.clz32(h);
  if (z !== 0) {
    h = ((h << z) | (l >>> (32 - z))) >>> 0;
    l = (l << z) >>> 0;
    x -= z;
  }
  u.h = h;
  u.l = l;
  u.x = x;
}

// ---- unpacking and packing ----------------------------------------------------------------------

/** Unpacks the 80-bit value at b[off..off+9]. */
export function unpack80(b: Uint8Array, off: number, u: Unp): void {
  const l = (b[off]! | (b[off + 1]! << 8) | (b[off + 2]! << 16) | (b[off + 3]! << 24)) >>> 0;
  const h = (b[off + 4]! | (b[off + 5]! << 8) | (b[off + 6]! << 16) | (b[off + 7]! << 24)) >>> 0;
  const se = b[off + 8]! | (b[off + 9]! << 8);
  unpack80w(l, h, se, u);
}

/** Unpacks an 80-bit value given as significand halves and sign/exponent word. */
export function unpack80w(l: number, h: number, se: number, u: Unp): void {
  const e = se & 0x7fff;
  u.s = se >>> 15;
  u.h = h >>> 0;
  u.l = l >>> 0;
  const j = (h & 0x80000000) !== 0;
  if (e === 0) {
    if (h === 0 && l === 0) {
      u.cls = C_ZERO;
      u.x = 0;
      return;
    }
    u.cls = C_DENORMAL;
    u.x = EXT_EMIN;
    normalize(u);
    return;
  }
  if (!j) {
    u.cls = C_UNSUPPORTED; // unnormal, pseudo-infinity, pseudo-NaN
    u.x = e;
    return;
  }
  if (e === 0x7fff) {
    if ((h & 0x7fffffff) === 0 && l === 0) u.cls = C_INF;
    else u.cls = (h & 0x40000000) !== 0 ? C_QNAN : C_SNAN;
    u.x = 0;
    return;
  }
  u.cls = C_NORMAL;
  u.x = e - EXT_BIAS;
}

/** Packed result of `pack80`: significand halves (uint32) and sign/exponent word. */
export const P80 = { l: 0, h: 0, se: 0 };

/**
 * Packs u as an 80-bit value into P80. Finite values must be representable: normal (x ≥
 * EXT_EMIN), produced by roundPack for the extended range (x = EXT_EMIN with J = 0 is a denormal
 * encoding), or an unpacked denormal (normalized, x < EXT_EMIN: shifted back exactly).
 */
export function pack80(u: Unp): void {
  const s = u.s << 15;
  switch (u.cls) {
    case C_ZERO:
      P80.l = 0;
      P80.h = 0;
      P80.se = s;
      return;
    case C_INF:
      P80.l = 0;
      P80.h = 0x80000000;
      P80.se = s | 0x7fff;
      return;
    case C_QNAN:
    case C_SNAN:
      P80.l = u.l;
      P80.h = u.h;
      P80.se = s | 0x7fff;
      return;
    case C_UNSUPPORTED:
      P80.l = u.l;
      P80.h = u.h;
      P80.se = s | u.x;
      return;
  }
  if (u.x < EXT_EMIN) {
    // an unpacked (normalized) denormal: shift back to the denormal encoding (exact)
    shr96j(u.h, u.l, 0, EXT_EMIN - u.x);
    P80.l = M1;
    P80.h = M2;
    P80.se = s;
    return;
  }
  P80.l = u.l;
  P80.h = u.h;
  P80.se = (u.h & 0x80000000) !== 0 ? s | (u.x + EXT_BIAS) : s;
}

/** Writes u as 10 bytes at b[off]. */
export function store80(u: Unp, b: Uint8Array, off: number): void {
  pack80(u);
  store80w(b, off, P80.l, P80.h, P80.se);
}

/** Writes an 80-bit value given as significand halves and sign/exponent word to b[off..off+9]. */
export function store80w(b: Uint8Array, off: number, l: number, h: number, se: number): void {
  b[off] = l;
  b[off + 1] = l >>> 8;
  b[off + 2] = l >>> 16;
  b[off + 3] = l >>> 24;
  b[off + 4] = h;
  b[off + 5] = h >>> 8;
  b[off + 6] = h >>> 16;
  b[off + 7] = h >>> 24;
  b[off + 8] = se;
  b[off + 9] = se >>> 8;
}

/** Tag (0 valid, 1 zero, 2 special) of a value as the x87 computes it from its contents. */
export function tagOfBytes(b: Uint8Array, off: number): number {
  const e = (b[off + 8]! | (b[off + 9]! << 8)) & 0x7fff;
  let any = 0;
  for (let k = 0; k < 8; k++) any |= b[off + k]!;
  if (e === 0) return any === 0 ? 1 : 2;
  if (e === 0x7fff) return 2;
  return (b[off + 7]! & 0x80) !== 0 ? 0 : 2;
}

/**
 * The full tag word (2 bits per physical register: 0 valid, 1 zero, 2 special, 3 empty) as
 * FSTENV/FSAVE store it, from the abridged tags the x87 keeps (bit p set: Rp not empty; FXSAVE
 * byte 4) and the register contents (10 bytes per register in `fpr`).
 */
export function fullTagWord(abridged: number, fpr: Uint8Array): number {
  let t = 0;
  for (let p = 0; p < 8; p++) {
    t |= ((abridged >>> p) & 1 ? tagOfBytes(fpr, p * 10) : 3) << (2 * p);
  }
  return t;
}

/** The abridged tags (bit p set: Rp not empty) of a full tag word (only "empty" matters). */
export function abridgedTags(full: number): number {
  let ab = 0;
  for (let p = 0; p < 8; p++) if (((full >>> (2 * p)) & 3) !== 3) ab |= 1 << p;
  return ab;
}

/** Unpacks a binary64 (lo, hi halves). */
export function unpackF64(lo: number, hi: number, u: Unp): void {
  const e = (hi >>> 20) & 0x7ff;
  const f1 = hi & 0xfffff, f0 = lo >>> 0;
  u.s = hi >>> 31;
  // significand with J at bit 63: (1.f1:f0) << 11
  const h = ((f1 << 11) | (f0 >>> 21)) >>> 0, l = (f0 << 11) >>> 0;
  if (e === 0x7ff) {
    u.h = (h | 0x80000000) >>> 0;
    u.l = l;
    u.x = 0;
    u.cls = f1 === 0 && f0 === 0 ? C_INF : (f1 & 0x80000) !== 0 ? C_QNAN : C_SNAN;
    return;
  }
  if (e === 0) {
    if (f1 === 0 && f0 === 0) {
      setZero(u, u.s);
      return;
    }
    u.cls = C_DENORMAL;
    u.h = h;
    u.l = l;
    u.x = -1022;
    normalize(u);
    return;
  }
  u.cls = C_NORMAL;
  u.h = (h | 0x80000000) >>> 0;
  u.l = l;
  u.x = e - 1023;
}

/** Unpacks a binary32. */
export function unpackF32(b: number, u: Unp): void {
  const e = (b >>> 23) & 0xff, f = b & 0x7fffff;
  u.s = b >>> 31;
  u.l = 0;
  const h = (f << 8) >>> 0;
  if (e === 0xff) {
    u.h = (h | 0x80000000) >>> 0;
    u.x = 0;
    u.cls = f === 0 ? C_INF : (f & 0x400000) !== 0 ? C_QNAN : C_SNAN;
    return;
  }
  if (e === 0) {
    if (f === 0) {
      setZero(u, u.s);
      return;
    }
    u.cls = C_DENORMAL;
    u.h = h;
    u.x = -126;
    normalize(u);
    return;
  }
  u.cls = C_NORMAL;
  u.h = (h | 0x80000000) >>> 0;
  u.x = e - 127;
}

/** Packed binary64 result [lo, hi] of `packF64`. */
export const R64 = new Int32Array(2);

/**
 * Packs u (a roundPack result for binary64, or a special value) as binary64 into R64. NaN
 * payloads are truncated (the quiet bit is kept as is; callers quiet SNaNs first).
 */
export function packF64(u: Unp): void {
  const s = u.s << 31;
  switch (u.cls) {
    case C_ZERO:
      R64[0] = 0;
      R64[1] = s;
      return;
    case C_INF:
      R64[0] = 0;
      R64[1] = s | 0x7ff00000;
      return;
    case C_QNAN:
    case C_SNAN:
    case C_UNSUPPORTED:
      R64[0] = (u.l >>> 11) | (u.h << 21);
      R64[1] = s | 0x7ff00000 | ((u.h >>> 11) & 0xfffff);
      return;
  }
  const e = (u.h & 0x80000000) !== 0 ? u.x + 1023 : 0;
  R64[0] = (u.l >>> 11) | (u.h << 21);
  R64[1] = s | (e << 20) | ((u.h >>> 11) & 0xfffff);
}

/** Packs u as binary32 bits (int32), like packF64. */
export function packF32(u: Unp): number {
  const s = u.s << 31;
  switch (u.cls) {
    case C_ZERO:
      return s;
    case C_INF:
      return s | 0x7f800000;
    case C_QNAN:
    case C_SNAN:
    case C_UNSUPPORTED:
      return s | 0x7f800000 | ((u.h >>> 8) & 0x7fffff);
  }
  const e = (u.h & 0x80000000) !== 0 ? u.x + 127 : 0;
  return s | (e << 23) | ((u.h >>> 8) & 0x7fffff);
}

// ---- rounding -----------------------------------------------------------------------------------

/** The result of the last operation. */
export const R = new Unp();

// 96-bit scratch of shr96j.
let M2 = 0, M1 = 0, M0 = 0;

/** (a2:a1:a0) >> d with every shifted-out bit OR-ed into bit 0; result in M2:M1:M0. */
function shr96j(a2: number, a1: number, a0: number, d: number): void {
  if (d <= 0) {
    M2 = a2;
    M1 = a1;
    M0 = a0;
    return;
  }
  if (d >= 96) {
    M2 = 0;
    M1 = 0;
    M0 = (a2 | a1 | a0) !== 0 ? 1 : 0;
    return;
  }
  let st = 0;
  while (d >= 32) {
    st |= a0;
    a0 = a1;
    a1 = a2;
    a2 = 0;
    d -= 32;
  }
  if (d > 0) {
    st |= a0 << (32 - d);
    a0 = ((a0 >>> d) | (a1 << (32 - d))) >>> 0;
    a1 = ((a1 >>> d) | (a2 << (32 - d))) >>> 0;
    a2 = a2 >>> d;
  }
  M2 = a2;
  M1 = a1;
  M0 = (a0 | (st !== 0 ? 1 : 0)) >>> 0;
}

/** Whether the current rounding mode rounds a magnitude of sign s up. */
function incr(s: number, rb: number, st: boolean, lsb: number): boolean {
  switch (FX.rc) {
    case RC_NEAR:
      return rb !== 0 && (st || lsb !== 0);
    case RC_DOWN:
      return s !== 0 && (rb !== 0 || st);
    case RC_UP:
      return s === 0 && (rb !== 0 || st);
  }
  return false;
}

/** Round bit, sticky, LSB of the 96-bit m at precision p (24, 53 or 64). */
let rRb = 0, rSt = false, rLsb = 0;
function roundBits(m2: number, m1: number, m0: number, p: number): void {
  if (p === 64) {
    rRb = m0 >>> 31;
    rSt = (m0 & 0x7fffffff) !== 0;
    rLsb = m1 & 1;
  } else if (p === 53) {
    rRb = (m1 >>> 10) & 1;
    rSt = (m1 & 0x3ff) !== 0 || m0 !== 0;
    rLsb = (m1 >>> 11) & 1;
  } else {
    rRb = (m2 >>> 7) & 1;
    rSt = (m2 & 0x7f) !== 0 || m1 !== 0 || m0 !== 0;
    rLsb = (m2 >>> 8) & 1;
  }
}

/** Whether the top p bits of m2:m1 are all ones. */
function allOnes(m2: number, m1: number, p: number): boolean {
  if (p === 64) return m2 === 0xffffffff && m1 === 0xffffffff;
  if (p === 53) return m2 === 0xffffffff && (m1 >>> 11) === 0x1fffff;
  return (m2 >>> 8) === 0xffffff;
}

/** Sets R to the largest finite value of precision p with exponent emax. */
function setMax(s: number, p: number, emax: number): void {
  R.cls = C_NORMAL;
  R.s = s;
  R.x = emax;
  R.h = p === 24 ? 0xffffff00 : 0xffffffff;
  R.l = p === 64 ? 0xffffffff : p === 53 ? 0xfffff800 : 0;
}

/**
 * Rounds (-1)^s · (m2:m1:m0) · 2^(x−95) (m ≠ 0; normalized here) to p significand bits in the
 * exponent range [emin, emax] into R, raising PE/UE/OE and setting FX.c1. `regDest`: the result
 * goes to an x87 register, so an unmasked overflow/underflow delivers the wrapped result;
 * otherwise (stores) the masked response is computed and the caller suppresses the store.
 */
export function roundPack(
  s: number,
  x: number,
  m2: number,
  m1: number,
  m0: number,
  p: number,
  emin: number,
  emax: number,
  regDest: boolean,
): void {
  if (m2 === 0 && m1 === 0 && m0 === 0) {
    setZero(R, s);
    FX.c1 = 0;
    return;
  }
  while (m2 === 0) {
    m2 = m1;
    m1 = m0;
    m0 = 0;
    x -= 32;
  }
  const z = Math.clz32(m2);
  if (z !== 0) {
    m2 = ((m2 << z) | (m1 >>> (32 - z))) >>> 0;
    m1 = ((m1 << z) | (m0 >>> (32 - z))) >>> 0;
    m0 = (m0 << z) >>> 0;
    x -= z;
  }
  const masks = FX.masks;
  let flags = 0;
  let tiny = false;
  if (x < emin) {
    // Tininess after rounding: the result rounded to p bits with an unbounded exponent < 2^emin.
    tiny = true;
    if (x === emin - 1) {
      roundBits(m2, m1, m0, p);
      if (allOnes(m2, m1, p) && incr(s, rRb, rSt, rLsb)) tiny = false;
    }
  }
  if (tiny && (masks & FE_UE) === 0) {
    flags |= FE_UE;
    if (!regDest) {
      // store with UE unmasked: nothing is stored; UE alone is reported (no PE, C1 = 0)
      FX.flags |= FE_UE;
      FX.c1 = 0;
      setZero(R, s);
      return;
    }
  }
  if (tiny && regDest && (masks & FE_UE) === 0) {
    x += WRAP;
  } else if (x < emin) {
    shr96j(m2, m1, m0, emin - x);
    m2 = M2;
    m1 = M1;
    m0 = M0;
    x = emin;
  }
  roundBits(m2, m1, m0, p);
  const inexact = rRb !== 0 || rSt;
  const up = inexact && incr(s, rRb, rSt, rLsb);
  if (inexact) flags |= FE_PE;
  if (tiny && inexact) flags |= FE_UE;
  // Truncate to p bits, then add one unit in the last place if rounding up.
  if (p === 64) {
    if (up) {
      m1 += 1;
      if (m1 === TWO32) {
        m1 = 0;
        m2 += 1;
      }
    }
  } else if (p === 53) {
    m1 = (m1 & 0xfffff800) >>> 0;
    if (up) {
      m1 += 0x800;
      if (m1 >= TWO32) {
        m1 -= TWO32;
        m2 += 1;
      }
    }
  } else {
    m1 = 0;
    m2 = (m2 & 0xffffff00) >>> 0;
    if (up) m2 += 0x100;
  }
  if (m2 >= TWO32) {
    m2 = 0x80000000;
    x += 1;
  }
  FX.c1 = up ? 1 : 0;
  if (x > emax) {
    if (regDest && (masks & FE_OE) === 0) {
      x -= WRAP;
      flags |= FE_OE;
    } else if ((masks & FE_OE) === 0) {
      // store with OE unmasked: nothing is stored; OE alone is reported (no PE, C1 = 0)
      FX.flags |= FE_OE;
      FX.c1 = 0;
      setInf(R, s);
      return;
    } else {
      flags |= FE_OE | FE_PE;
      const rc = FX.rc;
      const inf = rc === RC_NEAR || (rc === RC_UP && s === 0) || (rc === RC_DOWN && s !== 0);
      FX.flags |= flags;
      if (inf) {
        setInf(R, s);
        FX.c1 = 1;
      } else {
        setMax(s, p, emax);
        FX.c1 = 0;
      }
      return;
    }
  }
  FX.flags |= flags;
  R.cls = C_NORMAL;
  R.s = s;
  R.x = x;
  R.h = m2;
  R.l = m1;
}

/**
 * Converts u to binary64 (FST m64) into R64, with the masked responses: SNaN → IE and quieted,
 * unsupported → IE and the default NaN, finite values rounded (PC does not apply). FX.flags tells
 * the caller whether an unmasked exception suppresses the store.
 */
export function toF64(u: Unp): void {
  FX.c1 = 0;
  if (convSpecial(u)) {
    packF64(R);
    return;
  }
  roundPack(u.s, u.x, u.h, u.l, 0, 53, -1022, 1023, false);
  packF64(R);
}

/** Converts u to binary32 bits (FST m32), like toF64. */
export function toF32(u: Unp): number {
  FX.c1 = 0;
  if (convSpecial(u)) return packF32(R);
  roundPack(u.s, u.x, u.h, u.l, 0, 24, -126, 127, false);
  return packF32(R);
}

/** Shared special cases of the narrowing conversions; true when R holds the result. */
function convSpecial(u: Unp): boolean {
  switch (u.cls) {
    case C_ZERO:
      setZero(R, u.s);
      return true;
    case C_INF:
      setInf(R, u.s);
      return true;
    case C_UNSUPPORTED:
      invalid();
      return true;
    case C_QNAN:
    case C_SNAN:
      quietInto(u);
      return true;
  }
  return false;
}

// ---- special operands ---------------------------------------------------------------------------

/** Whether u is a NaN (quiet or signaling). */
export function isNaNc(cls: number): boolean {
  return cls === C_QNAN || cls === C_SNAN;
}

/** Sets R to the quieted NaN u (raising IE for an SNaN). */
function quietInto(u: Unp): void {
  if (u.cls === C_SNAN) FX.flags |= FE_IE;
  R.cls = C_QNAN;
  R.s = u.s;
  R.x = 0;
  R.h = (u.h | 0x40000000) >>> 0;
  R.l = u.l;
}

/**
 * x87 NaN propagation for two operands, at least one a NaN: an SNaN raises IE; the result is the
 * QNaN operand if there is exactly one QNaN and one SNaN, otherwise the NaN with the larger
 * significand (ties: the positive one); a NaN and a number give the (quieted) NaN.
 */
export function propagateNaN(a: Unp, b: Unp): void {
  const an = isNaNc(a.cls), bn = isNaNc(b.cls);
  if (a.cls === C_SNAN || b.cls === C_SNAN) FX.flags |= FE_IE;
  let pick: Unp;
  if (an && bn) {
    if (a.cls === C_QNAN && b.cls === C_SNAN) pick = a;
    else if (a.cls === C_SNAN && b.cls === C_QNAN) pick = b;
    else {
      const ah = (a.h | 0x40000000) >>> 0, bh = (b.h | 0x40000000) >>> 0;
      if (ah !== bh) pick = ah > bh ? a : b;
      else if (a.l !== b.l) pick = a.l > b.l ? a : b;
      else pick = a.s <= b.s ? a : b;
    }
  } else pick = an ? a : b;
  R.cls = C_QNAN;
  R.s = pick.s;
  R.x = 0;
  R.h = (pick.h | 0x40000000) >>> 0;
  R.l = pick.l;
}

/** Invalid operation: IE and the default NaN in R. */
export function invalid(): void {
  FX.flags |= FE_IE;
  setIndefinite(R);
}

/**
 * Common handling of unsupported formats and NaNs for a one-operand operation. Returns true when
 * R holds the final result.
 */
export function special1(a: Unp): boolean {
  if (a.cls === C_UNSUPPORTED) {
    invalid();
    return true;
  }
  if (isNaNc(a.cls)) {
    quietInto(a);
    return true;
  }
  return false;
}

/** Like special1 for two operands. */
export function special2(a: Unp, b: Unp): boolean {
  if (a.cls === C_UNSUPPORTED || b.cls === C_UNSUPPORTED) {
    invalid();
    return true;
  }
  if (isNaNc(a.cls) || isNaNc(b.cls)) {
    propagateNaN(a, b);
    return true;
  }
  return false;
}

/** Raises DE when a finite operand is denormal. */
export function denormCheck(a: Unp): void {
  if (a.cls === C_DENORMAL) FX.flags |= FE_DE;
}

/**
 * Whether a denormal operand was reported with DE unmasked: the operation then stops before
 * computing anything (a pre-computation exception; no result, no further flags).
 */
export function deAbort(): boolean {
  return (FX.flags & FE_DE & ~FX.masks) !== 0;
}

function isFinNZ(cls: number): boolean {
  return cls === C_NORMAL || cls === C_DENORMAL;
}

// ---- add / subtract -----------------------------------------------------------------------------

/** R = a + b (b negated when `sub`), rounded to p bits (extended range). */
export function fadd(a: Unp, b: Unp, sub: boolean, p: number): void {
  if (special2(a, b)) return;
  denormCheck(a);
  denormCheck(b);
  if (deAbort()) return;
  const bs = sub ? b.s ^ 1 : b.s;
  if (a.cls === C_INF || b.cls === C_INF) {
    if (a.cls === C_INF && b.cls === C_INF && a.s !== bs) invalid();
    else setInf(R, a.cls === C_INF ? a.s : bs);
    FX.c1 = 0;
    return;
  }
  if (a.cls === C_ZERO && b.cls === C_ZERO) {
    // +0 + −0: +0, or −0 when rounding down; same signs keep the sign.
    setZero(R, a.s === bs ? a.s : FX.rc === RC_DOWN ? 1 : 0);
    FX.c1 = 0;
    return;
  }
  if (a.cls === C_ZERO) {
    roundPack(bs, b.x, b.h, b.l, 0, p, EXT_EMIN, EXT_EMAX, true);
    return;
  }
  if (b.cls === C_ZERO) {
    roundPack(a.s, a.x, a.h, a.l, 0, p, EXT_EMIN, EXT_EMAX, true);
    return;
  }
  addCore(a.s, a.x, a.h, a.l, bs, b.x, b.h, b.l, p);
}

/** Exact sum of two finite nonzero normalized values, then roundPack. */
export function addCore(
  as: number,
  ax: number,
  ah: number,
  al: number,
  bs: number,
  bx: number,
  bh: number,
  bl: number,
  p: number,
): void {
  // Order by magnitude of exponent: a gets the larger exponent.
  if (bx > ax || (bx === ax && (bh > ah || (bh === ah && bl > al)))) {
    let t = as;
    as = bs;
    bs = t;
    t = ax;
    ax = bx;
    bx = t;
    t = ah;
    ah = bh;
    bh = t;
    t = al;
    al = bl;
    bl = t;
  }
  shr96j(bh, bl, 0, ax - bx);
  const b2 = M2, b1 = M1, b0 = M0;
  let m2: number, m1: number, m0: number, x = ax;
  if (as === bs) {
    m0 = b0;
    let t = al + b1;
    m1 = t >>> 0;
    t = ah + b2 + (t >= TWO32 ? 1 : 0);
    if (t >= TWO32) {
      // carry: shift right by one, jamming
      const st = m0 & 1;
      m0 = ((m0 >>> 1) | ((m1 & 1) << 31) | st) >>> 0;
      m1 = ((m1 >>> 1) | ((t & 1) << 31)) >>> 0;
      m2 = ((t - TWO32) / 2 + 0x80000000) >>> 0;
      x += 1;
    } else m2 = t;
  } else {
    // |a| ≥ |b|: a − b ≥ 0
    let t = 0 - b0;
    m0 = t < 0 ? t + TWO32 : t;
    let borrow = t < 0 ? 1 : 0;
    t = al - b1 - borrow;
    m1 = t < 0 ? t + TWO32 : t;
    borrow = t < 0 ? 1 : 0;
    m2 = ah - b2 - borrow;
    if (m2 === 0 && m1 === 0 && m0 === 0) {
      // exact cancellation: +0, or −0 when rounding down
      setZero(R, FX.rc === RC_DOWN ? 1 : 0);
      FX.c1 = 0;
      return;
    }
  }
  roundPack(as, x, m2, m1, m0, p, EXT_EMIN, EXT_EMAX, true);
}

// ---- multiply -----------------------------------------------------------------------------------

// 128-bit product words (W3 most significant).
let W3 = 0, W2 = 0, W1 = 0, W0 = 0;

/** (ah:al) × (bh:bl) → W3:W2:W1:W0, exactly, with 16-bit limbs. */
export function mul64(ah: number, al: number, bh: number, bl: number): void {
  const a0 = al & 0xffff, a1 = al >>> 16, a2 = ah & 0xffff, a3 = ah >>> 16;
  const b0 = bl & 0xffff, b1 = bl >>> 16, b2 = bh & 0xffff, b3 = bh >>> 16;
  let t = a0 * b0;
  const r0 = t % 65536;
  t = (t - r0) / 65536 + a0 * b1 + a1 * b0;
  const r1 = t % 65536;
  t = (t - r1) / 65536 + a0 * b2 + a1 * b1 + a2 * b0;
  const r2 = t % 65536;
  t = (t - r2) / 65536 + a0 * b3 + a1 * b2 + a2 * b1 + a3 * b0;
  const r3 = t % 65536;
  t = (t - r3) / 65536 + a1 * b3 + a2 * b2 + a3 * b1;
  const r4 = t % 65536;
  t = (t - r4) / 65536 + a2 * b3 + a3 * b2;
  const r5 = t % 65536;
  t = (t - r5) / 65536 + a3 * b3;
  const r6 = t % 65536;
  const r7 = (t - r6) / 65536;
  W0 = r0 + r1 * 65536;
  W1 = r2 + r3 * 65536;
  W2 = r4 + r5 * 65536;
  W3 = r6 + r7 * 65536;
}

/** R = a × b rounded to p bits. */
export function fmul(a: Unp, b: Unp, p: number): void {
  if (special2(a, b)) return;
  const s = a.s ^ b.s;
  if (a.cls === C_INF || b.cls === C_INF) {
    if (a.cls === C_ZERO || b.cls === C_ZERO) {
      invalid();
      return;
    }
    denormCheck(a);
    denormCheck(b);
    setInf(R, s);
    FX.c1 = 0;
    return;
  }
  denormCheck(a);
  denormCheck(b);
  if (deAbort()) return;
  if (a.cls === C_ZERO || b.cls === C_ZERO) {
    setZero(R, s);
    FX.c1 = 0;
    return;
  }
  mulCore(s, a.x + b.x, a.h, a.l, b.h, b.l, p);
}

/** Exact product of two normalized significands with exponent sum x, then roundPack. */
export function mulCore(
  s: number,
  x: number,
  ah: number,
  al: number,
  bh: number,
  bl: number,
  p: number,
): void {
  mul64(ah, al, bh, bl);
  // product in [2^126, 2^128): value = W · 2^(x − 126); keep the top 96 bits, jam the rest.
  const m0 = (W1 | (W0 !== 0 ? 1 : 0)) >>> 0;
  roundPack(s, x + 1, W3, W2, m0, p, EXT_EMIN, EXT_EMAX, true);
}

// ---- divide -------------------------------------------------------------------------------------

/** R = a ÷ b rounded to p bits. */
export function fdiv(a: Unp, b: Unp, p: number): void {
  if (special2(a, b)) return;
  const s = a.s ^ b.s;
  if (a.cls === C_INF) {
    if (b.cls === C_INF) {
      invalid();
      return;
    }
    denormCheck(b);
    setInf(R, s);
    FX.c1 = 0;
    return;
  }
  if (b.cls === C_INF) {
    denormCheck(a);
    setZero(R, s);
    FX.c1 = 0;
    return;
  }
  if (b.cls === C_ZERO) {
    if (a.cls === C_ZERO) {
      invalid();
      return;
    }
    denormCheck(a);
    FX.flags |= FE_ZE;
    setInf(R, s);
    FX.c1 = 0;
    return;
  }
  denormCheck(a);
  denormCheck(b);
  if (deAbort()) return;
  if (a.cls === C_ZERO) {
    setZero(R, s);
    FX.c1 = 0;
    return;
  }
  divCore(s, a.x - b.x, a.h, a.l, b.h, b.l, p);
}

/**
 * (ah:al) / (bh:bl) for normalized significands with exponent difference x: 68 quotient bits by
 * restoring division, the remainder jammed into bit 0, then roundPack.
 */
export function divCore(
  s: number,
  x: number,
  ah: number,
  al: number,
  bh: number,
  bl: number,
  p: number,
): void {
  // remainder r = rh·2^32 + rl (rh < 2^33), divisor d = bh·2^32 + bl. The first quotient bit
  // is 1 at position 95: compare a itself when a ≥ b, else 2a (the quotient is then below 1).
  let rh = ah, rl = al;
  if (ah < bh || (ah === bh && al < bl)) {
    x -= 1;
    rl *= 2;
    rh = rh * 2;
    if (rl >= TWO32) {
      rl -= TWO32;
      rh += 1;
    }
  }
  // 68 quotient bits (64 + round + 3 more) and the remainder as sticky suffice at any precision
  let q2 = 0, q1 = 0, q0 = 0;
  for (let i = 0; i < 68; i++) {
    let bit = 0;
    if (rh > bh || (rh === bh && rl >= bl)) {
      rl -= bl;
      rh -= bh;
      if (rl < 0) {
        rl += TWO32;
        rh -= 1;
      }
      bit = 1;
    }
    if (i < 32) q2 = q2 * 2 + bit;
    else if (i < 64) q1 = q1 * 2 + bit;
    else q0 = q0 * 2 + bit;
    rl *= 2;
    rh = rh * 2;
    if (rl >= TWO32) {
      rl -= TWO32;
      rh += 1;
    }
  }
  q0 = (q0 << 28) >>> 0;
  if (rh !== 0 || rl !== 0) q0 = (q0 | 1) >>> 0;
  roundPack(s, x, q2, q1, q0, p, EXT_EMIN, EXT_EMAX, true);
}

// ---- square root --------------------------------------------------------------------------------

/** R = √a rounded to p bits. */
export function fsqrt(a: Unp, p: number): void {
  if (special1(a)) return;
  if (a.cls === C_ZERO) {
    setZero(R, a.s);
    FX.c1 = 0;
    return;
  }
  if (a.s !== 0) {
    invalid();
    return;
  }
  if (a.cls === C_INF) {
    setInf(R, 0);
    FX.c1 = 0;
    return;
  }
  denormCheck(a);
  if (deAbort()) return;
  sqrtCore(a.x, a.h, a.l, p);
}

/**
 * √((h:l) · 2^(x−63)) for a normalized significand: digit-by-digit binary square root of
 * A · 2^68 (A = h:l or 2·(h:l) so that the exponent is even), 66-67 root bits, the remainder
 * jammed, then roundPack.
 */
export function sqrtCore(x: number, h: number, l: number, p: number): void {
  let t = x - 63;
  // A = aH·2^32 + aL (aH < 2^33)
  let aH = h, aL = l;
  if ((t & 1) !== 0) {
    aL *= 2;
    aH = aH * 2 + (aL >= TWO32 ? 1 : 0);
    if (aL >= TWO32) aL -= TWO32;
    t -= 1;
  }
  // N = A·2^68 taken two bits at a time from the top: A's bit 64, then aH's 32 low bits, then
  // aL, then zeros (67 pairs; A has at most 65 bits)
  const a64 = aH >= TWO32 ? 1 : 0, a32 = aH >>> 0;
  // root q and remainder r as (hi, lo) with lo a uint32 and hi < 2^37 (plain numbers)
  let qH = 0, qL = 0, rH = 0, rL = 0;
  for (let k = 0; k < 67; k++) {
    const lo = 64 - 2 * k;
    const pair = lo === 64
      ? a64
      : lo >= 32
      ? (a32 >>> (lo - 32)) & 3
      : lo >= 0
      ? (aL >>> lo) & 3
      : 0;
    // r = 4r + pair; trial t = 4q + 1
    rH = rH * 4 + (rL >>> 30);
    rL = ((rL << 2) | pair) >>> 0;
    const tH = qH * 4 + (qL >>> 30), tL = ((qL << 2) | 1) >>> 0;
    qH = qH * 2 + (qL >>> 31);
    qL = (qL << 1) >>> 0;
    if (rH > tH || (rH === tH && rL >= tL)) {
      if (rL >= tL) {
        rL -= tL;
        rH -= tH;
      } else {
        rL = rL + 4294967296 - tL;
        rH -= tH + 1;
      }
      qL = (qL | 1) >>> 0;
    }
  }
  // root q ∈ [2^65.5, 2^66.5): leading bit 65 or 66 (qH < 2^35); value = q · 2^((t − 68)/2)
  const lead = qH >= 17179869184 ? 66 : 65;
  const sh = 95 - lead; // 29 or 30
  // m = q << sh as three words
  const m0 = ((qL << sh) >>> 0) | (rH !== 0 || rL !== 0 ? 1 : 0);
  const m1 = ((qL >>> (32 - sh)) | (qH << sh)) >>> 0;
  const m2 = Math.floor(qH / 2 ** (32 - sh));
  roundPack(0, lead + (t - 68) / 2, m2, m1, m0 >>> 0, p, EXT_EMIN, EXT_EMAX, true);
}

// ---- partial remainder (fprem / fprem1) -------------------------------------------------------------

/** Low three bits of the quotient of the last `remCore` (C0 C3 C1 of fprem). */
export const REM = { q: 0 };

/** (hi, lo) − (bh, bl) for uint32 halves; the difference must not be negative. */
let DH = 0, DL = 0;
function sub64(ah: number, al: number, bh: number, bl: number): void {
  DL = al - bl;
  DH = ah - bh;
  if (DL < 0) {
    DL += TWO32;
    DH -= 1;
  }
}

/**
 * The remainder of a = (ah:al)·2^(k + rx − 63) (sign s) by b = (bh:bl)·2^(rx − 63), both
 * significands normalized, k ≥ 0: Q = ⌊a/b⌋ (to nearest, ties to even, when `ieee`) by restoring
 * division over k + 1 quotient bits; R = a − Q·b exactly into R (rounded only if denormal), the low
 * three bits of Q in REM.q. A zero remainder has the sign of a.
 */
export function remCore(
  s: number,
  ah: number,
  al: number,
  bh: number,
  bl: number,
  k: number,
  ieee: boolean,
  rx: number,
): void {
  let rh = ah, rl = al, q = 0;
  for (let i = 0; i <= k; i++) {
    let bit = 0;
    if (rh > bh || (rh === bh && rl >= bl)) {
      sub64(rh, rl, bh, bl);
      rh = DH;
      rl = DL;
      bit = 1;
    }
    q = ((q << 1) | bit) & 7;
    if (i < k) {
      rl *= 2;
      rh *= 2;
      if (rl >= TWO32) {
        rl -= TWO32;
        rh += 1;
      }
    }
  }
  let rs = s;
  if (ieee && (rh !== 0 || rl !== 0)) {
    // 2r against b: above half, or exactly half with Q odd, rounds Q up
    let th = rh * 2, tl = rl * 2;
    if (tl >= TWO32) {
      tl -= TWO32;
      th += 1;
    }
    if (th > bh || (th === bh && (tl > bl || (tl === bl && (q & 1) !== 0)))) {
      q = (q + 1) & 7;
      sub64(bh, bl, rh, rl);
      rh = DH;
      rl = DL;
      rs ^= 1;
    }
  }
  REM.q = q;
  if (rh === 0 && rl === 0) {
    setZero(R, s);
    FX.c1 = 0;
    return;
  }
  roundPack(rs, rx, rh, rl, 0, 64, EXT_EMIN, EXT_EMAX, true);
}

/**
 * fprem1 with |a| < |b| and exponents one apart (a = (ah:al)·2^(ax−63), b one binade up): the
 * quotient rounds to 1 when |a| > |b|/2, i.e. (ah:al) > (bh:bl); R = a − b then.
 */
export function remHalf(
  s: number,
  ax: number,
  ah: number,
  al: number,
  bh: number,
  bl: number,
): void {
  // |b| − |a| = (2·bm − am)·2^(ax−63) = (bm − (am − bm))·2^(ax−63)
  sub64(ah, al, bh, bl);
  sub64(bh, bl, DH, DL);
  REM.q = 1;
  roundPack(s ^ 1, ax, DH, DL, 0, 64, EXT_EMIN, EXT_EMAX, true);
}

// ---- integers -----------------------------------------------------------------------------------

/** Sets u to the exact value of the signed 64-bit integer (lo, hi int32 halves). */
export function fromInt64(lo: number, hi: number, u: Unp): void {
  let h = hi >>> 0, l = lo >>> 0, s = 0;
  if (hi < 0) {
    s = 1;
    // two's complement negate
    l = (TWO32 - l) % TWO32;
    h = (TWO32 - h - (lo !== 0 ? 1 : 0)) % TWO32;
  }
  if (h === 0 && l === 0) {
    setZero(u, 0);
    return;
  }
  u.cls = C_NORMAL;
  u.s = s;
  u.x = 63;
  u.h = h;
  u.l = l;
  normalize(u);
}

/** Integer result of `toInt`: [lo, hi] two's complement. */
export const RI = new Int32Array(2);

/**
 * Converts u to a signed integer of `bits` (16, 32, 64) with the current rounding mode (or
 * truncation): RI = result; on NaN/∞/unsupported/out of range raises IE and returns the integer
 * indefinite (the most negative value); PE when inexact; FX.c1 = rounded up.
 */
export function toInt(u: Unp, bits: number, trunc: boolean): void {
  FX.c1 = 0;
  const cls = u.cls;
  if (cls === C_ZERO) {
    RI[0] = 0;
    RI[1] = 0;
    return;
  }
  if (cls !== C_NORMAL && cls !== C_DENORMAL) {
    if (cls === C_UNSUPPORTED || isNaNc(cls) || cls === C_INF) {
      intIndefinite(bits);
      return;
    }
  }
  const s = u.s;
  // magnitude (h:l)·2^(x−63): integer part and round bits
  let ih = 0, il = 0, rb = 0, st = false;
  const x = u.x;
  if (x >= 64) {
    intIndefinite(bits);
    return;
  }
  if (x >= 63) {
    ih = u.h;
    il = u.l;
  } else if (x < -1) {
    st = true;
  } else if (x === -1) {
    rb = 1;
    st = (u.h & 0x7fffffff) !== 0 || u.l !== 0;
  } else {
    const d = 63 - x; // 1..63
    shr96j(u.h, u.l, 0, d);
    ih = M2;
    il = M1;
    rb = M0 >>> 31;
    st = (M0 & 0x7fffffff) !== 0;
  }
  const inexact = rb !== 0 || st;
  let up = false;
  if (inexact) {
    up = trunc ? false : incr(s, rb, st, il & 1);
    if (up) {
      il += 1;
      if (il === TWO32) {
        il = 0;
        ih += 1;
      }
    }
  }
  // range check on the magnitude: ≤ 2^(bits−1) − 1, or = 2^(bits−1) when negative
  let over: boolean;
  if (bits === 64) {
    over = ih > 0x80000000 || (ih === 0x80000000 && (il !== 0 || s === 0)) || ih >= TWO32;
  } else {
    const lim = bits === 32 ? 0x80000000 : 0x8000;
    over = ih !== 0 || il > lim || (il === lim && s === 0);
  }
  if (over) {
    intIndefinite(bits);
    return;
  }
  if (inexact) FX.flags |= FE_PE;
  FX.c1 = up ? 1 : 0;
  if (s !== 0) {
    const nl = (TWO32 - il) % TWO32;
    const nh = (TWO32 - ih - (il !== 0 ? 1 : 0)) % TWO32;
    il = nl;
    ih = nh;
  }
  RI[0] = il | 0;
  RI[1] = ih | 0;
}

function intIndefinite(bits: number): void {
  FX.flags |= FE_IE;
  FX.c1 = 0;
  if (bits === 64) {
    RI[0] = 0;
    RI[1] = 0x80000000 | 0;
  } else {
    RI[0] = bits === 32 ? 0x80000000 | 0 : 0x8000;
    RI[1] = 0;
  }
}

/**
 * Rounds the finite value u to an integral value with the current rounding mode (FRNDINT) into R:
 * PE when inexact, C1 = rounded up. Results keep the sign (−0.3 → −0).
 */
export function roundToInt(u: Unp): void {
  FX.c1 = 0;
  const x = u.x, s = u.s;
  if (x >= 63) {
    copyUnp(R, u);
    R.cls = C_NORMAL;
    return;
  }
  let ih = 0, il = 0, rb = 0, st = false;
  if (x < -1) st = true;
  else if (x === -1) {
    rb = 1;
    st = (u.h & 0x7fffffff) !== 0 || u.l !== 0;
  } else {
    shr96j(u.h, u.l, 0, 63 - x);
    ih = M2;
    il = M1;
    rb = M0 >>> 31;
    st = (M0 & 0x7fffffff) !== 0;
  }
  const inexact = rb !== 0 || st;
  let up = false;
  if (inexact) {
    FX.flags |= FE_PE;
    up = incr(s, rb, st, il & 1);
    if (up) {
      il += 1;
      if (il === TWO32) {
        il = 0;
        ih += 1;
      }
    }
  }
  FX.c1 = up ? 1 : 0;
  if (ih === 0 && il === 0) {
    setZero(R, s);
    return;
  }
  R.cls = C_NORMAL;
  R.s = s;
  R.x = 63;
  R.h = ih;
  R.l = il;
  normalize(R);
}

// ---- comparison ---------------------------------------------------------------------------------

export const CMP_GT = 0, CMP_LT = 1, CMP_EQ = 2, CMP_UN = 3;

/**
 * Compares two operands: CMP_* result. Unordered when either is a NaN or unsupported; IE for an
 * SNaN or unsupported operand, or for any NaN when `signaling` (FCOM); DE for denormals when the
 * comparison is ordered... (raised for any denormal operand that is not accompanied by a NaN).
 */
export function compare(a: Unp, b: Unp, signaling: boolean): number {
  const ac = a.cls, bc = b.cls;
  if (ac === C_UNSUPPORTED || bc === C_UNSUPPORTED) {
    FX.flags |= FE_IE;
    return CMP_UN;
  }
  if (isNaNc(ac) || isNaNc(bc)) {
    if (signaling || ac === C_SNAN || bc === C_SNAN) FX.flags |= FE_IE;
    return CMP_UN;
  }
  denormCheck(a);
  denormCheck(b);
  if (ac === C_ZERO && bc === C_ZERO) return CMP_EQ;
  // order as sign-magnitude
  const ka = ac === C_ZERO ? 0 : 1, kb = bc === C_ZERO ? 0 : 1;
  const sa = ka === 0 ? 0 : a.s === 0 ? 1 : -1;
  const sb = kb === 0 ? 0 : b.s === 0 ? 1 : -1;
  if (sa !== sb) return sa > sb ? CMP_GT : CMP_LT;
  // same nonzero sign: compare magnitudes
  const c = cmpMag(a, b);
  if (c === 0) return CMP_EQ;
  return (c > 0) === (sa > 0) ? CMP_GT : CMP_LT;
}

/** Compares |a| and |b| for nonzero non-NaN operands: −1, 0, 1. */
export function cmpMag(a: Unp, b: Unp): number {
  const ai = a.cls === C_INF, bi = b.cls === C_INF;
  if (ai || bi) return ai && bi ? 0 : ai ? 1 : -1;
  if (a.x !== b.x) return a.x > b.x ? 1 : -1;
  if (a.h !== b.h) return a.h > b.h ? 1 : -1;
  if (a.l !== b.l) return a.l > b.l ? 1 : -1;
  return 0;
}

export { isFinNZ };
