/**
 * x87 transcendental and "exotic" instructions: fsin fcos fsincos fptan fpatan f2xm1 fyl2x fyl2xp1
 * fscale fxtract fprem fprem1, the constants of fld1/fldz/fldpi/fldl2e/fldl2t/fldlg2/fldln2 and
 * the BCD conversions of fbld/fbstp (plain numbers). The transcendental mathematics is in
 * fp/f80_trans.ts (BigInt, exact or correctly rounded in the current rounding mode; precision
 * control does not apply).
 *
 * Out-of-range arguments: fsin/fcos/fsincos/fptan with |x| ≥ 2^63 set C2 and leave the stack
 * alone; otherwise C2 = 0. Their argument is reduced modulo π/2 with the 66-bit π of the
 * hardware (C90FDAA22168C234C), so results for large arguments match it rather than the exact
 * sine. f2xm1 outside [−1, 1] and fyl2xp1 outside |x| < 1 − √2/2 are undefined in the SDM; here
 * they compute the mathematical function anyway (fyl2xp1 with x ≤ −1: IE).
 *
 * Exception order, as measured: NaN/unsupported operands first; then (fyl2x) a negative x is
 * invalid; then denormal operands raise DE — with DE unmasked the instruction stops there
 * (nothing written, popped or pushed); then the other invalid cases, ZE, and the result's
 * PE/UE/OE. C1 is the round-up bit of the (first) result; fsincos reports that of the sine.
 * fyl2x reports PE even for exact results (log2 of a power of two), like the hardware.
 */

import { Mnemonic } from "iced-x86";
import type { Cpu, Op } from "../cpu.ts";
import {
  C_DENORMAL,
  C_INF,
  C_NORMAL,
  C_ZERO,
  copyUnp,
  deAbort,
  denormCheck,
  EXT_EMAX,
  EXT_EMIN,
  FE_DE,
  FE_IE,
  FE_PE,
  FE_ZE,
  fromInt64,
  FX,
  fxBegin,
  invalid,
  R,
  REM,
  remCore,
  remHalf,
  roundPack,
  roundToInt,
  setFinite,
  setInf,
  setZero,
  special1,
  special2,
  Unp,
} from "../fp/f80.ts";
import * as M from "../fp/f80_trans.ts";
import type { Insn } from "../insn.ts";
import { define } from "./registry.ts";
import {
  A,
  B,
  fopOf,
  fpCheck,
  fpFinish,
  getSt,
  isEmpty,
  OUT80,
  pop,
  pushOverflows,
  pushTop,
  putSt,
  setCC,
  stackOverflow,
  stackUnderflow,
  SW_C2,
  unmasked,
} from "./x87_util.ts";

M.setOut(R);

/** Bits of π used to reduce the arguments of fsin & co. (0: exact reduction). */
export const PI_REDUCTION_BITS = 66;

const R2 = new Unp();

// ---- constants --------------------------------------------------------------------------------------

/** The five irrational constants rounded in each rounding mode (computed on first use). */
const CONSTS: Unp[][] = [];
const CONST_ORDER = [
  Mnemonic.Fldpi,
  Mnemonic.Fldl2e,
  Mnemonic.Fldl2t,
  Mnemonic.Fldlg2,
  Mnemonic.Fldln2,
];

function constTable(): Unp[][] {
  if (CONSTS.length === 0) {
    const saved = [FX.rc, FX.masks, FX.flags, FX.c1];
    const vals = [M.PI, M.CONST_L2E, M.CONST_L2T, M.CONST_LG2, M.LN2];
    for (const v of vals) {
      const row: Unp[] = [];
      for (let rc = 0; rc < 4; rc++) {
        FX.rc = rc;
        FX.masks = 0x3f;
        M.toR(v, true);
        const u = new Unp();
        copyUnp(u, R);
        row.push(u);
      }
      CONSTS.push(row);
    }
    [FX.rc, FX.masks, FX.flags, FX.c1] = saved as [number, number, number, number];
  }
  return CONSTS;
}

/**
 * Loads the constant of a fld1/fldz/fldpi/... mnemonic into u: the exact value rounded to 64 bits
 * in the current rounding mode (the hardware's 66-bit constants give the same results), with no
 * exception raised and C1 = 0.
 */
export function fldConst(m: Mnemonic, u: Unp): void {
  switch (m) {
    case Mnemonic.Fld1:
      setFinite(u, 0, 0, 0x80000000, 0);
      return;
    case Mnemonic.Fldz:
      setZero(u, 0);
      return;
  }
  copyUnp(u, constTable()[CONST_ORDER.indexOf(m)]![FX.rc]!);
  FX.c1 = 0;
}

// ---- BCD ----------------------------------------------------------------------------------------------

const TWO32 = 4294967296, E9 = 1e9;

/** The 9-digit number in BCD nibbles first..first+8 of lo:hi:se (digits A-F weigh 10-15). */
function bcd9(lo: number, hi: number, se: number, first: number): number {
  let v = 0;
  for (let i = first + 8; i >= first; i--) {
    const w = i < 8 ? lo : i < 16 ? hi : se;
    v = v * 10 + ((w >>> (4 * (i & 7))) & 0xf);
  }
  return v;
}

/** FBLD: 18 packed BCD digits (bytes 0-8) and the sign (byte 9 bit 7) → u, exactly. */
export function bcdToUnp(lo: number, hi: number, se: number, u: Unp): void {
  // v = top·10^9 + low < 1.7·10^18 (digits up to 15), assembled exactly in 32-bit halves:
  // top = a·2^16 + b, so v = (a·10^9)·2^16 + (b·10^9 + low) with both terms below 2^53.
  const low = bcd9(lo, hi, se, 0), top = bcd9(lo, hi, se, 9);
  const a = Math.floor(top / 65536), b = top % 65536;
  const t = b * E9 + low, m = a * E9;
  const tl = t % TWO32, ml = m % 65536;
  let vl = tl + ml * 65536, vh = (t - tl) / TWO32 + (m - ml) / 65536;
  if (vl >= TWO32) {
    vl -= TWO32;
    vh += 1;
  }
  fromInt64(vl | 0, vh | 0, u);
  u.s = (se >>> 15) & 1;
}

/** FBSTP: u (ST(0)) → OUT80 as packed BCD, rounded in the current mode (IE → BCD indefinite). */
export function unpToBcd(u: Unp): void {
  OUT80.fill(0);
  if (u.cls === C_ZERO) {
    OUT80[9] = u.s ? 0x80 : 0;
    return;
  }
  if (u.cls !== C_NORMAL && u.cls !== C_DENORMAL) {
    FX.flags |= FE_IE;
    bcdIndef();
    return;
  }
  const flags = FX.flags;
  roundToInt(u);
  // |R| < 2^60 (x ≤ 59) is split as q·10^9 + r by long division of its 16-bit pieces: the high
  // word is below 2^28 < 10^9, so every partial dividend stays below 2^53 (exact).
  let q = 0, r = 0;
  const big = R.cls !== C_ZERO && R.x > 59;
  if (R.cls !== C_ZERO && !big) {
    const sh = 63 - R.x; // ≥ 4
    const vh = sh >= 32 ? 0 : R.h >>> sh;
    const vl = sh >= 32 ? R.h >>> (sh - 32) : ((R.l >>> sh) | (R.h << (32 - sh))) >>> 0;
    const d2 = vh * 65536 + (vl >>> 16), r2 = d2 % E9;
    const d3 = r2 * 65536 + (vl & 0xffff);
    q = ((d2 - r2) / E9) * 65536 + Math.floor(d3 / E9);
    r = d3 % E9;
  }
  if (big || q >= E9) {
    FX.flags = flags | FE_IE;
    FX.c1 = 0;
    bcdIndef();
    return;
  }
  let x = r;
  for (let k = 0; k < 18; k++) {
    if (k === 9) x = q;
    const d = x % 10;
    x = (x - d) / 10;
    OUT80[k >> 1] = OUT80[k >> 1]! | ((k & 1) !== 0 ? d << 4 : d);
  }
  OUT80[9] = u.s ? 0x80 : 0;
}

function bcdIndef(): void {
  OUT80.fill(0);
  OUT80[7] = 0xc0;
  OUT80[8] = 0xff;
  OUT80[9] = 0xff;
}

/** Raises DE for a denormal operand; true when DE is unmasked (the instruction then stops). */
function den(u: Unp): boolean {
  denormCheck(u);
  return deAbort();
}

// ---- helpers --------------------------------------------------------------------------------------------

/** Ends an instruction that already wrote its results. */
function done(c: Cpu, ip: number, fop: number, next: number): void {
  fpFinish(c);
  c.fip = ip;
  c.fop = fop;
  c.rip = next;
}

/**
 * Rounds a BF result into `out` (R unless out is another register image). `dir`: sign of the
 * neglected terms relative to |v| (see M.toR), 0 when the value cannot be near-exact.
 */
function result(v: M.BF, out: Unp, inexact = true, dir = 0): void {
  M.toR(v, inexact, dir);
  if (out !== R) copyUnp(out, R);
}

// ---- fsin fcos fsincos fptan ------------------------------------------------------------------------------

const K_SIN = 0, K_COS = 1, K_SINCOS = 2, K_TAN = 3;

function buildTrig(d: Insn, kind: number): Op {
  const ip = d.rip, fop = fopOf(d), next = d.next;
  const pushes = kind === K_SINCOS || kind === K_TAN;
  return (c) => {
    fpCheck(c);
    fxBegin(c.fcw);
    c.fsw &= ~SW_C2;
    if (isEmpty(c, 0)) {
      stackUnderflow(R);
      if (!unmasked(c, FE_IE)) {
        putSt(c, 0, R);
        if (pushes) {
          pushTop(c);
          putSt(c, 0, R);
        }
      }
      done(c, ip, fop, next);
      return;
    }
    if (pushes && pushOverflows(c)) {
      stackOverflow(R);
      if (!unmasked(c, FE_IE)) {
        putSt(c, 0, R);
        pushTop(c);
        putSt(c, 0, R);
      }
      done(c, ip, fop, next);
      return;
    }
    getSt(c, 0, A);
    // second result (cos for fsincos, 1.0 for fptan) goes to R2
    if (special1(A)) {
      copyUnp(R2, R);
    } else if (A.cls === C_INF) {
      invalid();
      copyUnp(R2, R);
    } else if (A.cls !== C_ZERO && A.x >= 63) {
      // out of range: C2 = 1, operand unchanged
      c.fsw |= SW_C2;
      done(c, ip, fop, next);
      return;
    } else if (A.cls === C_ZERO) {
      if (kind === K_COS) setFinite(R, 0, 0, 0x80000000, 0);
      else setZero(R, A.s);
      if (kind === K_SINCOS) setFinite(R2, 0, 0, 0x80000000, 0);
      if (kind === K_TAN) setFinite(R2, 0, 0, 0x80000000, 0);
    } else if (!den(A)) {
      const [r, q] = M.reduce(M.fromUnp(A), PI_REDUCTION_BITS);
      const [s0, c0] = M.sinCos(r);
      // sin/cos of x = k·π/2 + r
      const sin = q === 0 ? s0 : q === 1 ? c0 : q === 2 ? M.neg(s0) : M.neg(c0);
      const cos = q === 0 ? c0 : q === 1 ? M.neg(s0) : q === 2 ? M.neg(c0) : s0;
      // |sin| and |cos| lie below their leading terms (r, 1); |tan r| above r, |cot r| below 1/r
      if (kind === K_SIN) result(sin, R, true, -1);
      else if (kind === K_COS) result(cos, R, true, -1);
      else if (kind === K_TAN) {
        result(M.div(sin, cos), R, true, (q & 1) === 0 ? 1 : -1);
        setFinite(R2, 0, 0, 0x80000000, 0);
      } else {
        // fsincos: ST(1) = sin, ST(0) = cos
        // (C1 reports the rounding of the sine, as the reference hardware mostly does)
        result(cos, R2, true, -1);
        result(sin, R, true, -1);
      }
    }
    if (!unmasked(c, FE_IE | FE_DE)) {
      putSt(c, 0, R);
      if (pushes) {
        pushTop(c);
        putSt(c, 0, R2);
      }
    }
    done(c, ip, fop, next);
  };
}

define([Mnemonic.Fsin], (d) => buildTrig(d, K_SIN));
define([Mnemonic.Fcos], (d) => buildTrig(d, K_COS));
define([Mnemonic.Fsincos], (d) => buildTrig(d, K_SINCOS));
define([Mnemonic.Fptan], (d) => buildTrig(d, K_TAN));

// ---- f2xm1 ---------------------------------------------------------------------------------------------

define([Mnemonic.F2xm1], (d) => {
  const ip = d.rip, fop = fopOf(d), next = d.next;
  return (c) => {
    fpCheck(c);
    fxBegin(c.fcw);
    if (isEmpty(c, 0)) stackUnderflow(R);
    else {
      getSt(c, 0, A);
      if (special1(A)) { /* NaN */ }
      else if (A.cls === C_INF) {
        if (A.s) setFinite(R, 1, 0, 0x80000000, 0); // 2^−∞ − 1 = −1
        else setInf(R, 0);
      } else if (A.cls === C_ZERO) setZero(R, A.s);
      else if (!den(A)) result(M.exp2m1(M.fromUnp(A)), R);
    }
    if (!unmasked(c, FE_IE | FE_DE)) putSt(c, 0, R);
    done(c, ip, fop, next);
  };
});

// ---- two-operand ops that pop: fpatan fyl2x fyl2xp1 -----------------------------------------------------

/** ST(1) ← f(ST(1), ST(0)), pop. `k` computes R from A = ST(0), B = ST(1). */
function buildPop2(d: Insn, k: () => void): Op {
  const ip = d.rip, fop = fopOf(d), next = d.next;
  return (c) => {
    fpCheck(c);
    fxBegin(c.fcw);
    if (isEmpty(c, 0) || isEmpty(c, 1)) stackUnderflow(R);
    else {
      getSt(c, 0, A);
      getSt(c, 1, B);
      k();
    }
    if (!unmasked(c, FE_IE | FE_DE | FE_ZE)) {
      putSt(c, 1, R);
      pop(c);
    }
    done(c, ip, fop, next);
  };
}

const PI_BF = M.PI;

/** atan2(y = B, x = A) with the x87 special cases. */
function fpatan(): void {
  if (special2(B, A)) return;
  const y = B, x = A;
  if (den(x) || den(y)) return;
  const ys = y.s, xs = x.s;
  if (y.cls === C_ZERO) {
    // ±0 / x: ±0 for x ≥ +0, ±π for x ≤ −0
    if (xs === 0) setZero(R, ys);
    else {
      if (den(x)) return;
      result(ys ? M.neg(PI_BF) : PI_BF, R);
    }
    return;
  }
  if (y.cls === C_INF) {
    let v: M.BF;
    if (x.cls === C_INF) v = xs ? M.shl(M.mul(PI_BF, M.bf(3n)), -2) : M.shl(PI_BF, -2);
    else {
      if (den(x)) return;
      v = M.shl(PI_BF, -1);
    }
    result(ys ? M.neg(v) : v, R);
    return;
  }
  if (den(y)) return;
  if (x.cls === C_INF) {
    if (xs === 0) setZero(R, ys);
    else result(ys ? M.neg(PI_BF) : PI_BF, R);
    return;
  }
  if (x.cls === C_ZERO) {
    const v = M.shl(PI_BF, -1);
    result(ys ? M.neg(v) : v, R);
    return;
  }
  if (den(x)) return;
  const fy = M.fromUnp(y), fx = M.fromUnp(x);
  let v = M.atan(M.div(fy, fx));
  if (xs !== 0) v = ys ? M.sub(v, PI_BF) : M.add(v, PI_BF);
  // |atan z| lies below z
  result(v, R, true, xs !== 0 ? 0 : -1);
}

/** y·log2(x) (fyl2x) with the special cases; B = y = ST(1), A = x = ST(0). */
function fyl2x(): void {
  if (special2(A, B)) return;
  const x = A, y = B;
  // a negative x is invalid before anything else (even a denormal operand)
  if (x.s !== 0 && x.cls !== C_ZERO) {
    invalid();
    return;
  }
  if (den(x) || den(y)) return;
  if (x.cls === C_ZERO) {
    if (y.cls === C_ZERO) {
      invalid();
      return;
    }
    if (den(y)) return;
    if (y.cls !== C_INF) FX.flags |= FE_ZE;
    setInf(R, y.s ^ 1);
    return;
  }
  if (x.cls === C_INF) {
    if (y.cls === C_ZERO) {
      invalid();
      return;
    }
    if (den(y)) return;
    setInf(R, y.s);
    return;
  }
  if (den(x)) return;
  const fx = M.fromUnp(x);
  const isOne = x.x === 0 && x.h === 0x80000000 && x.l === 0;
  if (y.cls === C_INF) {
    if (isOne) {
      invalid();
      return;
    }
    setInf(R, y.s ^ (x.x < 0 ? 1 : 0));
    return;
  }
  if (isOne) {
    if (den(y)) return;
    setZero(R, y.s);
    return;
  }
  if (y.cls === C_ZERO) {
    setZero(R, y.s ^ (x.x < 0 ? 1 : 0));
    return;
  }
  if (den(y)) return;
  const [k, frac] = M.log2Parts(fx);
  const lg = M.add(M.bf(BigInt(k)), frac);
  // exact when x is a power of two (the hardware reports PE anyway)
  result(M.mul(M.fromUnp(y), lg), R, frac.m !== 0n);
  FX.flags |= FE_PE;
}

/** y·log2(x + 1) (fyl2xp1). */
function fyl2xp1(): void {
  if (special2(A, B)) return;
  const x = A, y = B;
  // denormal operands are reported before the other checks (and stop with DE unmasked)
  if (den(x) || den(y)) return;
  if (x.cls === C_INF) {
    if (x.s !== 0 || y.cls === C_ZERO) {
      invalid();
      return;
    }
    setInf(R, y.s);
    return;
  }
  if (x.cls === C_ZERO) {
    if (y.cls === C_INF) {
      invalid();
      return;
    }
    if (den(y)) return;
    setZero(R, y.s ^ x.s);
    return;
  }
  if (den(x)) return;
  const fx = M.fromUnp(x);
  if (x.s !== 0 && M.cmpAbs(fx, M.bf(1n)) >= 0) {
    invalid();
    return;
  }
  if (y.cls === C_INF) {
    setInf(R, y.s ^ x.s);
    return;
  }
  if (y.cls === C_ZERO) {
    setZero(R, y.s ^ x.s);
    return;
  }
  if (den(y)) return;
  result(M.mul(M.fromUnp(y), M.log2p1(fx)), R);
}

define([Mnemonic.Fpatan], (d) => buildPop2(d, fpatan));
define([Mnemonic.Fyl2x], (d) => buildPop2(d, fyl2x));
define([Mnemonic.Fyl2xp1], (d) => buildPop2(d, fyl2xp1));

// ---- fscale --------------------------------------------------------------------------------------------

function fscale(): void {
  if (special2(A, B)) return;
  const x = A, n = B;
  if (den(x) || den(n)) return;
  if (n.cls === C_INF) {
    if (n.s === 0) {
      if (x.cls === C_ZERO) invalid();
      else {
        if (den(x)) return;
        setInf(R, x.s);
      }
    } else {
      if (x.cls === C_INF) invalid();
      else {
        if (den(x)) return;
        setZero(R, x.s);
      }
    }
    return;
  }
  if (den(x)) return;
  if (den(n)) return;
  if (x.cls === C_ZERO || x.cls === C_INF) {
    copyUnp(R, x);
    return;
  }
  // trunc(ST1), clamped far outside the exponent range
  let k = 0;
  if (n.cls !== C_ZERO && n.x >= 0) {
    if (n.x >= 20) k = 1 << 20;
    else k = Math.floor(n.h / 2 ** (31 - n.x));
    if (n.s) k = -k;
  }
  roundPack(x.s, x.x + k, x.h, x.l, 0, 64, EXT_EMIN, EXT_EMAX, true);
  if (R.x + 16383 >= 0x7fff || R.x + 16383 < -63) {
    // an unmasked overflow/underflow whose wrapped exponent is still out of range
    if (R.x > 0) setInf(R, x.s);
    else setZero(R, x.s);
  }
}

define([Mnemonic.Fscale], (d) => {
  const ip = d.rip, fop = fopOf(d), next = d.next;
  return (c) => {
    fpCheck(c);
    fxBegin(c.fcw);
    if (isEmpty(c, 0) || isEmpty(c, 1)) stackUnderflow(R);
    else {
      getSt(c, 0, A);
      getSt(c, 1, B);
      fscale();
    }
    if (!unmasked(c, FE_IE | FE_DE)) putSt(c, 0, R);
    done(c, ip, fop, next);
  };
});

// ---- fxtract --------------------------------------------------------------------------------------------

define([Mnemonic.Fxtract], (d) => {
  const ip = d.rip, fop = fopOf(d), next = d.next;
  return (c) => {
    fpCheck(c);
    fxBegin(c.fcw);
    if (isEmpty(c, 0)) {
      stackUnderflow(R);
      copyUnp(R2, R);
    } else if (pushOverflows(c)) {
      stackOverflow(R);
      copyUnp(R2, R);
    } else {
      getSt(c, 0, A);
      if (special1(A)) copyUnp(R2, R);
      else if (A.cls === C_ZERO) {
        FX.flags |= FE_ZE;
        setInf(R2, 1); // exponent −∞
        setZero(R, A.s);
      } else if (A.cls === C_INF) {
        setInf(R2, 0);
        setInf(R, A.s);
      } else if (!den(A)) {
        // exponent as a value (exact), significand with exponent 0
        const e = A.x;
        if (e === 0) setZero(R2, 0);
        else {
          const m = Math.abs(e);
          const z = Math.clz32(m);
          setFinite(R2, e < 0 ? 1 : 0, 31 - z, (m << z) >>> 0, 0);
        }
        setFinite(R, A.s, 0, A.h, A.l);
      }
    }
    if (!unmasked(c, FE_IE | FE_DE | FE_ZE)) {
      putSt(c, 0, R2);
      pushTop(c);
      putSt(c, 0, R);
    }
    done(c, ip, fop, next);
  };
});

// ---- fprem fprem1 ----------------------------------------------------------------------------------------

/**
 * A partial remainder step (exponent difference D ≥ 64) reduces the exponent by a multiple of 32,
 * leaving N = 32 + (D − 32) mod 32 ∈ [32, 63] quotient bits, as the reference hardware does.
 */
function partialN(D: number): number {
  return 32 + ((D - 32) % 32);
}

function buildFprem(d: Insn, ieee: boolean): Op {
  const ip = d.rip, fop = fopOf(d), next = d.next;
  return (c) => {
    fpCheck(c);
    fxBegin(c.fcw);
    let q = -1; // quotient bits for C0 C3 C1 (−1: not a complete remainder)
    let partial = false;
    if (isEmpty(c, 0) || isEmpty(c, 1)) stackUnderflow(R);
    else {
      getSt(c, 0, A);
      getSt(c, 1, B);
      if (special2(A, B)) { /* NaN or invalid */ }
      else if (A.cls === C_INF || B.cls === C_ZERO) invalid();
      else if (A.cls === C_ZERO) {
        denormCheck(B);
        copyUnp(R, A);
        q = 0;
      } else if (B.cls === C_INF) {
        denormCheck(A);
        copyUnp(R, A);
        q = 0;
      } else if (den(A) || den(B)) {
        // DE unmasked: nothing is computed
      } else {
        const D = A.x - B.x;
        if (D >= 64) {
          // partial: reduce the exponent by a multiple of 32, N quotient bits
          partial = true;
          const n = partialN(D);
          remCore(A.s, A.h, A.l, B.h, B.l, n, false, B.x + D - n);
        } else if (D >= 0) {
          remCore(A.s, A.h, A.l, B.h, B.l, D, ieee, B.x);
          q = REM.q;
        } else if (ieee && D === -1 && (A.h > B.h || (A.h === B.h && A.l > B.l))) {
          remHalf(A.s, A.x, A.h, A.l, B.h, B.l);
          q = 1;
        } else {
          // |a| < |b| (or not above half of it): the remainder is a itself
          copyUnp(R, A);
          q = 0;
        }
      }
    }
    c.fsw &= ~SW_C2;
    if (!unmasked(c, FE_IE | FE_DE)) {
      putSt(c, 0, R);
      if (q >= 0) {
        // C0 = Q2, C3 = Q1, C1 = Q0
        setCC(c, q & 2, 0, q & 4);
        FX.c1 = q & 1;
      } else if (partial) setCC(c, 0, 1, 0);
    }
    done(c, ip, fop, next);
  };
}

define([Mnemonic.Fprem], (d) => buildFprem(d, false));
define([Mnemonic.Fprem1], (d) => buildFprem(d, true));
