/**
 * SSE/SSE2 conversions between integers, binary32 and binary64 on XMM registers:
 * cvtsi2ss/cvtsi2sd (r/m32, r/m64), cvt[t]ss2si / cvt[t]sd2si (to r32, r64), cvtss2sd,
 * cvtsd2ss, cvtps2pd, cvtpd2ps, cvtdq2ps, cvt[t]ps2dq, cvtdq2pd, cvt[t]pd2dq. Rounding follows
 * MXCSR.RC (the cvtt forms truncate); NaN or out-of-range results to integers give the integer
 * indefinite (0x80000000 / 0x8000000000000000) with IE. The MMX forms (cvtpi2ps & co.) go to
 * sse_int.ts's `mmxForm`.
 */

import { Mnemonic } from "iced-x86";
import type { Op } from "../cpu.ts";
import {
  f32Bits,
  f32ToF64,
  f32ToInt,
  f64ToF32,
  f64ToInt,
  i32ToF32,
  i64ToFloat,
  out64,
  R64,
  RI,
} from "../fp/softfloat.ts";
import { type Insn, K_REG } from "../insn.ts";
import { eaOf } from "../operands.ts";
import { define } from "./registry.ts";
import { mmxForm } from "./sse_int.ts";
import {
  B,
  fpBeginC,
  fpBinop,
  fpEnd,
  I32,
  isMm,
  type Kernel,
  loader,
  sseCheck,
  xr,
} from "./sse_util.ts";

/** cvtsi2ss / cvtsi2sd xmm, r/m32|64. */
function buildCvtsi2f(d: Insn, dbl: boolean): Op {
  const x = xr(d, 0), next = d.next;
  const src = d.ops[1]!;
  const size = src.kind === K_REG ? src.size : d.mem!.size;
  let get: (c: Parameters<Op>[0]) => number;
  if (src.kind === K_REG) {
    const r = src.reg;
    get = size === 8
      ? (c) => {
        c.tHi = c.hi[r]!;
        return c.lo[r]!;
      }
      : (c) => c.lo[r]!;
  } else {
    const ea = eaOf(d);
    get = size === 8 ? (c) => c.read64(ea(c)) : (c) => c.read32(ea(c));
  }
  return (c) => {
    sseCheck(c);
    const lo = get(c), hi = c.tHi;
    fpBeginC(c);
    let r0: number, r1 = 0;
    if (size === 8) {
      const v = i64ToFloat(lo, hi, dbl);
      if (dbl) {
        out64(v);
        r0 = R64[0]!;
        r1 = R64[1]!;
      } else r0 = f32Bits(v);
    } else if (dbl) {
      out64(lo);
      r0 = R64[0]!;
      r1 = R64[1]!;
    } else r0 = i32ToF32(lo);
    fpEnd(c);
    c.xmm[x] = r0;
    if (dbl) c.xmm[x + 1] = r1;
    c.rip = next;
  };
}

/** cvt[t]ss2si / cvt[t]sd2si r32|64, xmm/m32|64. */
function buildCvtf2si(d: Insn, dbl: boolean, trunc: boolean): Op {
  const rd = d.ops[0]!.reg, bits64 = d.ops[0]!.size === 8, next = d.next;
  const ld = loader(d, 1, B, false);
  return (c) => {
    sseCheck(c);
    ld(c);
    fpBeginC(c);
    if (dbl) f64ToInt(I32[B]!, I32[B + 1]!, bits64, trunc);
    else f32ToInt(I32[B]!, bits64, trunc);
    fpEnd(c);
    c.lo[rd] = RI[0]!;
    c.hi[rd] = RI[1]!;
    c.rip = next;
  };
}

const cvtss2sd: Kernel = () => {
  f32ToF64(I32[B]!);
  I32[0] = R64[0]!;
  I32[1] = R64[1]!;
};
const cvtsd2ss: Kernel = () => {
  I32[0] = f64ToF32(I32[B]!, I32[B + 1]!);
};
const cvtps2pd: Kernel = () => {
  const b1 = I32[B + 1]!;
  f32ToF64(I32[B]!);
  I32[0] = R64[0]!;
  I32[1] = R64[1]!;
  f32ToF64(b1);
  I32[2] = R64[0]!;
  I32[3] = R64[1]!;
};
const cvtpd2ps: Kernel = () => {
  I32[0] = f64ToF32(I32[B]!, I32[B + 1]!);
  I32[1] = f64ToF32(I32[B + 2]!, I32[B + 3]!);
  I32[2] = 0;
  I32[3] = 0;
};
const cvtdq2ps: Kernel = () => {
  for (let i = 0; i < 4; i++) I32[i] = i32ToF32(I32[B + i]!);
};
function cvtps2dq(trunc: boolean): Kernel {
  return () => {
    for (let i = 0; i < 4; i++) {
      f32ToInt(I32[B + i]!, false, trunc);
      I32[i] = RI[0]!;
    }
  };
}
const cvtdq2pd: Kernel = () => {
  const b1 = I32[B + 1]!;
  out64(I32[B]!);
  I32[0] = R64[0]!;
  I32[1] = R64[1]!;
  out64(b1);
  I32[2] = R64[0]!;
  I32[3] = R64[1]!;
};
function cvtpd2dq(trunc: boolean): Kernel {
  return () => {
    f64ToInt(I32[B]!, I32[B + 1]!, false, trunc);
    I32[0] = RI[0]!;
    f64ToInt(I32[B + 2]!, I32[B + 3]!, false, trunc);
    I32[1] = RI[0]!;
    I32[2] = 0;
    I32[3] = 0;
  };
}

function fp(k: Kernel): (d: Insn) => Op {
  return (d) => (isMm(d, 0) || isMm(d, 1) ? mmxForm(d) : fpBinop(d, k));
}

define([Mnemonic.Cvtsi2ss], (d) => buildCvtsi2f(d, false));
define([Mnemonic.Cvtsi2sd], (d) => buildCvtsi2f(d, true));
define([Mnemonic.Cvtss2si], (d) => buildCvtf2si(d, false, false));
define([Mnemonic.Cvttss2si], (d) => buildCvtf2si(d, false, true));
define([Mnemonic.Cvtsd2si], (d) => buildCvtf2si(d, true, false));
define([Mnemonic.Cvttsd2si], (d) => buildCvtf2si(d, true, true));
define([Mnemonic.Cvtss2sd], fp(cvtss2sd));
define([Mnemonic.Cvtsd2ss], fp(cvtsd2ss));
define([Mnemonic.Cvtps2pd], fp(cvtps2pd));
define([Mnemonic.Cvtpd2ps], fp(cvtpd2ps));
define([Mnemonic.Cvtdq2ps], fp(cvtdq2ps));
define([Mnemonic.Cvtps2dq], fp(cvtps2dq(false)));
define([Mnemonic.Cvttps2dq], fp(cvtps2dq(true)));
define([Mnemonic.Cvtdq2pd], fp(cvtdq2pd));
define([Mnemonic.Cvtpd2dq], fp(cvtpd2dq(false)));
define([Mnemonic.Cvttpd2dq], fp(cvtpd2dq(true)));
define([
  Mnemonic.Cvtpi2ps,
  Mnemonic.Cvtps2pi,
  Mnemonic.Cvttps2pi,
  Mnemonic.Cvtpi2pd,
  Mnemonic.Cvtpd2pi,
  Mnemonic.Cvttpd2pi,
], (d) => mmxForm(d));
