/**
 * SSE/SSE2 floating point on XMM registers: add/sub/mul/div/sqrt/min/max in ps/pd/ss/sd forms,
 * cmpps/cmppd/cmpss/cmpsd (all eight predicates), comiss/comisd/ucomiss/ucomisd, the bitwise
 * and/andn/or/xor ps/pd, shufps/shufpd, unpck[lh]ps/pd, and rcpps/rcpss/rsqrtps/rsqrtss.
 * Arithmetic goes through src/cpu/fp/softfloat.ts (exact in every MXCSR mode); flags and #XM
 * through sse_util.ts `fpEnd`. Scalar forms leave the destination's other lanes untouched.
 */

import { Mnemonic } from "iced-x86";
import type { Op } from "../cpu.ts";
import { setArithFlags } from "../flags.ts";
import {
  CMP_EQ,
  CMP_GT,
  CMP_LT,
  CMP_UN,
  daz32,
  dazIsZero64,
  f32Arith,
  f32Compare,
  f32PickFirst,
  f32Sqrt,
  f64Arith,
  f64Compare,
  f64PickFirst,
  f64Sqrt,
  fastOk,
  FP,
  MIN_NORMAL32,
  MIN_NORMAL64,
  OP_ADD,
  OP_DIV,
  OP_MUL,
  OP_SUB,
  R64,
} from "../fp/softfloat.ts";
import type { Insn } from "../insn.ts";
import { FLAG_CF, FLAG_PF, FLAG_ZF, FLAGS_ARITH } from "../regs.ts";
import { define } from "./registry.ts";
import { approxRcp, approxRsqrt } from "./sse_approx.ts";
import { pand, pandn, por, punpckhdq, punpckhqdq, punpckldq, punpcklqdq, pxor } from "./sse_int.ts";
import {
  B,
  binop,
  commit,
  F32,
  F64,
  fpBeginC,
  fpBinop,
  fpEnd,
  I32,
  type Kernel,
  loader,
  SSE_ALIAS,
  sseCheck,
  xr,
} from "./sse_util.ts";

// ---- arithmetic ---------------------------------------------------------------------------------

function hostOp(op: number, x: number, y: number): number {
  return op === OP_ADD ? x + y : op === OP_SUB ? x - y : op === OP_MUL ? x * y : x / y;
}

/**
 * Packed fast path, binary32 (4 lanes) or binary64 (2 lanes): when FP.fast holds and every lane
 * has normal (or zero) operands and a normal result, the host's arithmetic is the exact answer
 * and no flag can arise (see softfloat.ts fastOk; a binary32 result is the double rounded once
 * more on its store, exact for + − × ÷, and must not overflow there). Results go to the
 * temporaries (dwords 8..11) first; nothing is committed unless all lanes qualify. Each typed
 * array is read at its own sites (`dbl` is constant per kernel), which keeps them monomorphic.
 */
export function fastPacked(op: number, dbl: boolean): boolean {
  const n = dbl ? 2 : 4, min = dbl ? MIN_NORMAL64 : MIN_NORMAL32;
  for (let i = 0; i < n; i++) {
    const x = dbl ? F64[i]! : F32[i]!, y = dbl ? F64[2 + i]! : F32[4 + i]!;
    const d = hostOp(op, x, y);
    if (!fastOk(op, Math.abs(x), Math.abs(y), Math.abs(d), min)) return false;
    if (!dbl) {
      F32[8 + i] = d;
      const r = F32[8 + i]!;
      if (r === Infinity || r === -Infinity) return false;
    } else F64[4 + i] = d;
  }
  commit();
  return true;
}

function arithPs(op: number): Kernel {
  return () => {
    if (FP.fast && fastPacked(op, false)) return;
    for (let i = 0; i < 4; i++) I32[i] = f32Arith(op, I32[i]!, I32[B + i]!);
  };
}
function arithSs(op: number): Kernel {
  return () => {
    I32[0] = f32Arith(op, I32[0]!, I32[B]!);
  };
}
function arithPd(op: number): Kernel {
  return () => {
    if (FP.fast && fastPacked(op, true)) return;
    for (let i = 0; i < 4; i += 2) {
      f64Arith(op, I32[i]!, I32[i + 1]!, I32[B + i]!, I32[B + i + 1]!);
      I32[i] = R64[0]!;
      I32[i + 1] = R64[1]!;
    }
  };
}
function arithSd(op: number): Kernel {
  return () => {
    f64Arith(op, I32[0]!, I32[1]!, I32[B]!, I32[B + 1]!);
    I32[0] = R64[0]!;
    I32[1] = R64[1]!;
  };
}

const sqrtps: Kernel = () => {
  for (let i = 0; i < 4; i++) I32[i] = f32Sqrt(I32[B + i]!);
};
const sqrtss: Kernel = () => {
  I32[0] = f32Sqrt(I32[B]!);
};
const sqrtpd: Kernel = () => {
  for (let i = 0; i < 4; i += 2) {
    f64Sqrt(I32[B + i]!, I32[B + i + 1]!);
    I32[i] = R64[0]!;
    I32[i + 1] = R64[1]!;
  }
};
const sqrtsd: Kernel = () => {
  f64Sqrt(I32[B]!, I32[B + 1]!);
  I32[0] = R64[0]!;
  I32[1] = R64[1]!;
};

// The selected operand is returned as the instruction saw it: a denormal becomes ±0 under DAZ.
function minmaxPs(max: boolean, lanes: number): Kernel {
  return () => {
    for (let i = 0; i < lanes; i++) {
      I32[i] = daz32(f32PickFirst(I32[i]!, I32[B + i]!, max) ? I32[i]! : I32[B + i]!);
    }
  };
}
function minmaxPd(max: boolean, lanes: number): Kernel {
  return () => {
    for (let i = 0; i < 2 * lanes; i += 2) {
      if (!f64PickFirst(I32[i]!, I32[i + 1]!, I32[B + i]!, I32[B + i + 1]!, max)) {
        I32[i] = I32[B + i]!;
        I32[i + 1] = I32[B + i + 1]!;
      }
      if (dazIsZero64(I32[i]!, I32[i + 1]!)) {
        I32[i] = 0;
        I32[i + 1] &= 0x80000000 | 0;
      }
    }
  };
}

// ---- compares -----------------------------------------------------------------------------------

/** Whether predicate p (0..7: EQ LT LE UNORD NEQ NLT NLE ORD) holds for compare result r. */
function predicate(p: number, r: number): boolean {
  switch (p) {
    case 0:
      return r === CMP_EQ;
    case 1:
      return r === CMP_LT;
    case 2:
      return r === CMP_LT || r === CMP_EQ;
    case 3:
      return r === CMP_UN;
    case 4:
      return r !== CMP_EQ;
    case 5:
      return r !== CMP_LT;
    case 6:
      return r === CMP_GT || r === CMP_UN;
    default:
      return r !== CMP_UN;
  }
}

function cmpKernel(p: number, dbl: boolean, lanes: number): Kernel {
  const sig = p === 1 || p === 2 || p === 5 || p === 6;
  if (dbl) {
    return () => {
      for (let i = 0; i < 2 * lanes; i += 2) {
        const r = f64Compare(I32[i]!, I32[i + 1]!, I32[B + i]!, I32[B + i + 1]!, sig);
        const v = predicate(p, r) ? -1 : 0;
        I32[i] = v;
        I32[i + 1] = v;
      }
    };
  }
  return () => {
    for (let i = 0; i < lanes; i++) {
      I32[i] = predicate(p, f32Compare(I32[i]!, I32[B + i]!, sig)) ? -1 : 0;
    }
  };
}

function buildCmp(d: Insn, dbl: boolean, packed: boolean): Op {
  const p = d.ops[2]!.lo & 7;
  return fpBinop(d, cmpKernel(p, dbl, packed ? (dbl ? 2 : 4) : 1));
}

/** comiss/comisd (signaling) and ucomiss/ucomisd: ZF PF CF, OF SF AF cleared. */
function buildComi(d: Insn, dbl: boolean, signaling: boolean): Op {
  const x = xr(d, 0), next = d.next;
  const ld = loader(d, 1, B, false);
  return (c) => {
    sseCheck(c);
    ld(c);
    fpBeginC(c);
    const X = c.xmm;
    const r = dbl
      ? f64Compare(X[x]!, X[x + 1]!, I32[B]!, I32[B + 1]!, signaling)
      : f32Compare(X[x]!, I32[B]!, signaling);
    fpEnd(c);
    const f = r === CMP_UN
      ? FLAG_ZF | FLAG_PF | FLAG_CF
      : r === CMP_LT
      ? FLAG_CF
      : r === CMP_EQ
      ? FLAG_ZF
      : 0;
    setArithFlags(c, FLAGS_ARITH, f);
    c.rip = next;
  };
}

// ---- bitwise, shuffles, unpacks -----------------------------------------------------------------

function buildShufps(d: Insn): Op {
  const imm = d.ops[2]!.lo;
  const a0 = imm & 3, a1 = (imm >> 2) & 3, b0 = B + ((imm >> 4) & 3), b1 = B + ((imm >> 6) & 3);
  return binop(d, () => {
    const v0 = I32[a0]!, v1 = I32[a1]!;
    I32[0] = v0;
    I32[1] = v1;
    I32[2] = I32[b0]!;
    I32[3] = I32[b1]!;
  });
}

function buildShufpd(d: Insn): Op {
  const imm = d.ops[2]!.lo;
  const a = (imm & 1) * 2, b = B + ((imm >> 1) & 1) * 2;
  return binop(d, () => {
    const v0 = I32[a]!, v1 = I32[a + 1]!;
    I32[0] = v0;
    I32[1] = v1;
    I32[2] = I32[b]!;
    I32[3] = I32[b + 1]!;
  });
}

// ---- approximations -----------------------------------------------------------------------------

const rcpps: Kernel = () => {
  for (let i = 0; i < 4; i++) I32[i] = approxRcp(I32[B + i]!);
};
const rcpss: Kernel = () => {
  I32[0] = approxRcp(I32[B]!);
};
const rsqrtps: Kernel = () => {
  for (let i = 0; i < 4; i++) I32[i] = approxRsqrt(I32[B + i]!);
};
const rsqrtss: Kernel = () => {
  I32[0] = approxRsqrt(I32[B]!);
};

// ---- registration -------------------------------------------------------------------------------

const ARITH: [Mnemonic, Mnemonic, Mnemonic, Mnemonic, number][] = [
  [Mnemonic.Addps, Mnemonic.Addss, Mnemonic.Addpd, Mnemonic.Addsd, OP_ADD],
  [Mnemonic.Subps, Mnemonic.Subss, Mnemonic.Subpd, Mnemonic.Subsd, OP_SUB],
  [Mnemonic.Mulps, Mnemonic.Mulss, Mnemonic.Mulpd, Mnemonic.Mulsd, OP_MUL],
  [Mnemonic.Divps, Mnemonic.Divss, Mnemonic.Divpd, Mnemonic.Divsd, OP_DIV],
];
for (const [ps, ss, pd, sd, op] of ARITH) {
  const kps = arithPs(op), kss = arithSs(op), kpd = arithPd(op), ksd = arithSd(op);
  define([ps], (d) => fpBinop(d, kps));
  define([ss], (d) => fpBinop(d, kss));
  define([pd], (d) => fpBinop(d, kpd));
  define([sd], (d) => fpBinop(d, ksd));
}
define([Mnemonic.Sqrtps], (d) => fpBinop(d, sqrtps));
define([Mnemonic.Sqrtss], (d) => fpBinop(d, sqrtss));
define([Mnemonic.Sqrtpd], (d) => fpBinop(d, sqrtpd));
define([Mnemonic.Sqrtsd], (d) => fpBinop(d, sqrtsd));
{
  const minps = minmaxPs(false, 4), maxps = minmaxPs(true, 4);
  const minss = minmaxPs(false, 1), maxss = minmaxPs(true, 1);
  const minpd = minmaxPd(false, 2), maxpd = minmaxPd(true, 2);
  const minsd = minmaxPd(false, 1), maxsd = minmaxPd(true, 1);
  define([Mnemonic.Minps], (d) => fpBinop(d, minps));
  define([Mnemonic.Maxps], (d) => fpBinop(d, maxps));
  define([Mnemonic.Minss], (d) => fpBinop(d, minss));
  define([Mnemonic.Maxss], (d) => fpBinop(d, maxss));
  define([Mnemonic.Minpd], (d) => fpBinop(d, minpd));
  define([Mnemonic.Maxpd], (d) => fpBinop(d, maxpd));
  define([Mnemonic.Minsd], (d) => fpBinop(d, minsd));
  define([Mnemonic.Maxsd], (d) => fpBinop(d, maxsd));
}
define([Mnemonic.Cmpps], (d) => buildCmp(d, false, true));
define([Mnemonic.Cmpss], (d) => buildCmp(d, false, false));
define([Mnemonic.Cmppd], (d) => buildCmp(d, true, true));
SSE_ALIAS.set(Mnemonic.Cmpsd, (d) => buildCmp(d, true, false));
define([Mnemonic.Comiss], (d) => buildComi(d, false, true));
define([Mnemonic.Ucomiss], (d) => buildComi(d, false, false));
define([Mnemonic.Comisd], (d) => buildComi(d, true, true));
define([Mnemonic.Ucomisd], (d) => buildComi(d, true, false));
// The bitwise and unpack forms are the integer kernels under other names.
define([Mnemonic.Andps, Mnemonic.Andpd], (d) => binop(d, pand));
define([Mnemonic.Andnps, Mnemonic.Andnpd], (d) => binop(d, pandn));
define([Mnemonic.Orps, Mnemonic.Orpd], (d) => binop(d, por));
define([Mnemonic.Xorps, Mnemonic.Xorpd], (d) => binop(d, pxor));
define([Mnemonic.Shufps], buildShufps);
define([Mnemonic.Shufpd], buildShufpd);
define([Mnemonic.Unpcklps], (d) => binop(d, punpckldq));
define([Mnemonic.Unpckhps], (d) => binop(d, punpckhdq));
define([Mnemonic.Unpcklpd], (d) => binop(d, punpcklqdq));
define([Mnemonic.Unpckhpd], (d) => binop(d, punpckhqdq));
define([Mnemonic.Rcpps], (d) => binop(d, rcpps));
define([Mnemonic.Rcpss], (d) => binop(d, rcpss));
define([Mnemonic.Rsqrtps], (d) => binop(d, rsqrtps));
define([Mnemonic.Rsqrtss], (d) => binop(d, rsqrtss));
