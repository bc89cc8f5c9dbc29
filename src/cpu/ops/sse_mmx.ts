/**
 * MMX: the MM0–MM7 forms of the integer SIMD instructions (MMX, the SSE integer additions and
 * SSSE3), movd/movq, pshufw, pinsrw/pextrw, pmovmskb, maskmovq, movntq, movq2dq/movdq2q, emms,
 * and the MMX conversions cvtpi2ps/cvtps2pi/cvttps2pi/cvtpi2pd/cvtpd2pi/cvttpd2pi.
 *
 * MMn aliases the significand of physical x87 register Rn (cpu.fpr bytes 10n..10n+7); a write
 * sets its exponent/sign word to 0xFFFF. Every MMX instruction (but emms) makes the x87 state
 * "MMX": TOP = 0 and all tags valid; emms marks all tags empty. Checks: #UD if CR0.EM, #NM if
 * CR0.TS, #MF (vector 16) if an x87 exception is pending (FSW.ES).
 *
 * The 128-bit kernels of sse_int.ts / sse_ext.ts compute MMX results in the low half of the
 * scratch; the operands are laid out so that their low 64 bits are the MMX result (see `layout`).
 */

import { Mnemonic } from "iced-x86";
import type { Cpu, Op } from "../cpu.ts";
import { f32ToInt, f64ToInt, i32ToF32, out64, R64, RI } from "../fp/softfloat.ts";
import { type Insn, K_IMM, K_REG, RC_GPR, RC_MM } from "../insn.ts";
import { eaOf, setReg } from "../operands.ts";
import { CR0_EM, CR0_NE, CR0_TS, CR4_OSFXSR, VEC_MF, VEC_NM, VEC_UD } from "../regs.ts";
import { define, udOp } from "./registry.ts";
import { mmxHook } from "./sse_int.ts";
import {
  B,
  fpBeginC,
  fpEnd,
  I32,
  type Kernel,
  loader,
  maskedStore,
  sseCheck,
  U16,
  U8,
} from "./sse_util.ts";

// ---- state --------------------------------------------------------------------------------------

function mmxFault(c: Cpu): never {
  if ((c.cr0 & CR0_EM) !== 0) c.raise(VEC_UD);
  if ((c.cr0 & CR0_TS) !== 0) c.raise(VEC_NM);
  return c.raise(VEC_MF);
}

/** #UD if CR0.EM, #NM if CR0.TS, #MF if an x87 exception is pending (and CR0.NE). */
function mmxCheck(c: Cpu): void {
  if ((c.cr0 & (CR0_EM | CR0_TS)) !== 0 || ((c.fsw & 0x80) !== 0 && (c.cr0 & CR0_NE) !== 0)) {
    mmxFault(c);
  }
}

/** Checks and the x87 → MMX transition (TOP = 0, all tags valid). */
function mmxEnter(c: Cpu): void {
  mmxCheck(c);
  c.fsw &= ~0x3800;
  c.ftwAbridged = 0xff;
}

/** MMX instructions that also use XMM state need CR4.OSFXSR. */
function mmxXmmEnter(c: Cpu): void {
  if ((c.cr4 & CR4_OSFXSR) === 0 && (c.cr0 & CR0_EM) === 0) c.raise(VEC_UD);
  mmxEnter(c);
}

/** MMn (low, high dwords) into I32[off], I32[off+1]. */
function getMm(c: Cpu, n: number, off: number): void {
  const f = c.fpr, p = n * 10;
  I32[off] = f[p]! | (f[p + 1]! << 8) | (f[p + 2]! << 16) | (f[p + 3]! << 24);
  I32[off + 1] = f[p + 4]! | (f[p + 5]! << 8) | (f[p + 6]! << 16) | (f[p + 7]! << 24);
}

function setMm(c: Cpu, n: number, lo: number, hi: number): void {
  const f = c.fpr, p = n * 10;
  f[p] = lo;
  f[p + 1] = lo >>> 8;
  f[p + 2] = lo >>> 16;
  f[p + 3] = lo >>> 24;
  f[p + 4] = hi;
  f[p + 5] = hi >>> 8;
  f[p + 6] = hi >>> 16;
  f[p + 7] = hi >>> 24;
  f[p + 8] = 0xff;
  f[p + 9] = 0xff;
}

/** Loader of an mm/m64 operand into I32[off], I32[off+1]. */
function mmSrc(d: Insn, i: number, off: number): (c: Cpu) => void {
  const o = d.ops[i]!;
  if (o.kind === K_REG) {
    const n = o.reg;
    return (c) => getMm(c, n, off);
  }
  const ea = eaOf(d), size = d.mem!.size;
  if (size === 4) {
    return (c) => {
      I32[off] = c.read32(ea(c));
      I32[off + 1] = 0;
    };
  }
  return (c) => {
    I32[off] = c.read64(ea(c));
    I32[off + 1] = c.tHi;
  };
}

// ---- the generic `mm ← k(mm, mm/m64)` ------------------------------------------------------------

const L_DEFAULT = 0, L_UNPCKH = 1, L_DUP = 2;

function layout(m: Mnemonic): number {
  switch (m) {
    case Mnemonic.Punpckhbw:
    case Mnemonic.Punpckhwd:
    case Mnemonic.Punpckhdq:
      return L_UNPCKH;
    case Mnemonic.Pshufb:
      return L_DUP;
  }
  return L_DEFAULT;
}

function kernelOp(d: Insn, k: Kernel): Op {
  const dst = d.ops[0]!.reg, next = d.next;
  const lay = layout(d.mnemonic);
  const imm = d.ops[1]!.kind === K_IMM;
  const ld = imm ? null : mmSrc(d, 1, B);
  return (c) => {
    mmxEnter(c);
    if (ld !== null) ld(c);
    getMm(c, dst, 0);
    if (lay === L_DEFAULT) {
      // A = [mm1, mm2]: pack and horizontal kernels see both sources in order.
      I32[2] = I32[B]!;
      I32[3] = I32[B + 1]!;
    } else if (lay === L_UNPCKH) {
      I32[2] = I32[1]!;
      I32[B + 2] = I32[B + 1]!;
    } else {
      I32[2] = I32[0]!;
      I32[3] = I32[1]!;
    }
    k();
    setMm(c, dst, I32[0]!, I32[1]!);
    c.rip = next;
  };
}

// ---- special forms ------------------------------------------------------------------------------

function isReg(d: Insn, i: number, rc: number): boolean {
  const o = d.ops[i];
  return o !== undefined && o.kind === K_REG && o.rc === rc;
}

/** movd/movq with an MMX operand. */
function buildMov(d: Insn, size: number): Op {
  const next = d.next;
  if (isReg(d, 0, RC_MM)) {
    const n = d.ops[0]!.reg;
    if (isReg(d, 1, RC_GPR)) {
      const r = d.ops[1]!.reg;
      return (c) => {
        mmxEnter(c);
        setMm(c, n, c.lo[r]!, size === 8 ? c.hi[r]! : 0);
        c.rip = next;
      };
    }
    const ld = mmSrc(d, 1, 0);
    return (c) => {
      mmxEnter(c);
      ld(c);
      setMm(c, n, I32[0]!, I32[1]!);
      c.rip = next;
    };
  }
  const n = d.ops[1]!.reg;
  if (isReg(d, 0, RC_GPR)) {
    const r = d.ops[0]!.reg;
    return (c) => {
      mmxEnter(c);
      getMm(c, n, 0);
      c.lo[r] = I32[0]!;
      c.hi[r] = size === 8 ? I32[1]! : 0;
      c.rip = next;
    };
  }
  if (isReg(d, 0, RC_MM)) {
    const m = d.ops[0]!.reg;
    return (c) => {
      mmxEnter(c);
      getMm(c, n, 0);
      setMm(c, m, I32[0]!, I32[1]!);
      c.rip = next;
    };
  }
  const ea = eaOf(d);
  return (c) => {
    mmxEnter(c);
    getMm(c, n, 0);
    const lin = ea(c);
    if (size === 8) c.write64(lin, I32[0]!, I32[1]!);
    else c.write32(lin, I32[0]!);
    c.rip = next;
  };
}

function buildPshufw(d: Insn): Op {
  const dst = d.ops[0]!.reg, next = d.next, imm = d.ops[2]!.lo;
  const ld = mmSrc(d, 1, B);
  return (c) => {
    mmxEnter(c);
    ld(c);
    for (let i = 0; i < 4; i++) U16[i] = U16[8 + ((imm >> (2 * i)) & 3)]!;
    setMm(c, dst, I32[0]!, I32[1]!);
    c.rip = next;
  };
}

function buildPmovmskb(d: Insn): Op {
  const rd = d.ops[0]!.reg, n = d.ops[1]!.reg, next = d.next;
  return (c) => {
    mmxEnter(c);
    getMm(c, n, 0);
    let m = 0;
    for (let i = 0; i < 8; i++) m |= (U8[i]! >>> 7) << i;
    c.lo[rd] = m;
    c.hi[rd] = 0;
    c.rip = next;
  };
}

function buildPextrw(d: Insn): Op {
  const rd = d.ops[0]!.reg, n = d.ops[1]!.reg, next = d.next, imm = d.ops[2]!.lo & 3;
  return (c) => {
    mmxEnter(c);
    getMm(c, n, 0);
    setReg(c, rd, 8, U16[imm]!, 0);
    c.rip = next;
  };
}

function buildPinsrw(d: Insn): Op {
  const n = d.ops[0]!.reg, next = d.next, imm = d.ops[2]!.lo & 3;
  const src = d.ops[1]!;
  const get = src.kind === K_REG
    ? ((r: number) => (c: Cpu) => c.lo[r]! & 0xffff)(src.reg)
    : ((ea: (c: Cpu) => number) => (c: Cpu) => c.read16(ea(c)))(eaOf(d));
  return (c) => {
    mmxEnter(c);
    const v = get(c);
    getMm(c, n, 0);
    U16[imm] = v;
    setMm(c, n, I32[0]!, I32[1]!);
    c.rip = next;
  };
}

function buildMaskmovq(d: Insn): Op {
  const x = d.ops[1]!.reg, m = d.ops[2]!.reg, next = d.next, asz = d.addrSize;
  const seg = d.strSeg;
  return (c) => {
    mmxEnter(c);
    getMm(c, x, 0);
    getMm(c, m, B);
    maskedStore(c, seg, asz, 8);
    c.rip = next;
  };
}

function buildMovq2dq(d: Insn): Op {
  const x = d.ops[0]!.reg * 4, n = d.ops[1]!.reg, next = d.next;
  return (c) => {
    mmxXmmEnter(c);
    getMm(c, n, 0);
    const X = c.xmm;
    X[x] = I32[0]!;
    X[x + 1] = I32[1]!;
    X[x + 2] = 0;
    X[x + 3] = 0;
    c.rip = next;
  };
}

function buildMovdq2q(d: Insn): Op {
  const n = d.ops[0]!.reg, x = d.ops[1]!.reg * 4, next = d.next;
  return (c) => {
    mmxXmmEnter(c);
    setMm(c, n, c.xmm[x]!, c.xmm[x + 1]!);
    c.rip = next;
  };
}

// ---- conversions ----------------------------------------------------------------------------------

/** cvtpi2ps / cvtpi2pd xmm, mm/m64. */
function buildCvtpi2(d: Insn, dbl: boolean): Op {
  const x = d.ops[0]!.reg * 4, next = d.next;
  const fromMm = isReg(d, 1, RC_MM);
  const ld = mmSrc(d, 1, B);
  return (c) => {
    if (fromMm) mmxXmmEnter(c);
    else sseCheck(c);
    ld(c);
    const X = c.xmm;
    if (dbl) {
      const b1 = I32[B + 1]!;
      out64(I32[B]!);
      X[x] = R64[0]!;
      X[x + 1] = R64[1]!;
      out64(b1);
      X[x + 2] = R64[0]!;
      X[x + 3] = R64[1]!;
    } else {
      fpBeginC(c);
      const r0 = i32ToF32(I32[B]!), r1 = i32ToF32(I32[B + 1]!);
      fpEnd(c);
      X[x] = r0;
      X[x + 1] = r1;
    }
    c.rip = next;
  };
}

/** cvt[t]ps2pi mm, xmm/m64 and cvt[t]pd2pi mm, xmm/m128. */
function buildCvt2pi(d: Insn, dbl: boolean, trunc: boolean): Op {
  const n = d.ops[0]!.reg, next = d.next;
  const ld = loader(d, 1, B, true); // xmm, m64 (ps) or aligned m128 (pd)
  return (c) => {
    mmxXmmEnter(c);
    ld(c);
    fpBeginC(c);
    let r0: number, r1: number;
    if (dbl) {
      f64ToInt(I32[B]!, I32[B + 1]!, false, trunc);
      r0 = RI[0]!;
      f64ToInt(I32[B + 2]!, I32[B + 3]!, false, trunc);
      r1 = RI[0]!;
    } else {
      f32ToInt(I32[B]!, false, trunc);
      r0 = RI[0]!;
      f32ToInt(I32[B + 1]!, false, trunc);
      r1 = RI[0]!;
    }
    fpEnd(c);
    setMm(c, n, r0, r1);
    c.rip = next;
  };
}

function buildEmms(d: Insn): Op {
  const next = d.next;
  return (c) => {
    mmxCheck(c);
    c.ftwAbridged = 0;
    c.rip = next;
  };
}

// ---- dispatch -----------------------------------------------------------------------------------

function build(d: Insn, k: Kernel | null): Op {
  switch (d.mnemonic) {
    case Mnemonic.Movd:
      return buildMov(d, 4);
    case Mnemonic.Movq:
      return buildMov(d, 8);
    case Mnemonic.Movntq:
      return buildMov(d, 8);
    case Mnemonic.Pshufw:
      return buildPshufw(d);
    case Mnemonic.Pmovmskb:
      return buildPmovmskb(d);
    case Mnemonic.Pextrw:
      return buildPextrw(d);
    case Mnemonic.Pinsrw:
      return buildPinsrw(d);
    case Mnemonic.Maskmovq:
      return buildMaskmovq(d);
    case Mnemonic.Movq2dq:
      return buildMovq2dq(d);
    case Mnemonic.Movdq2q:
      return buildMovdq2q(d);
    case Mnemonic.Emms:
      return buildEmms(d);
    case Mnemonic.Cvtpi2ps:
      return buildCvtpi2(d, false);
    case Mnemonic.Cvtpi2pd:
      return buildCvtpi2(d, true);
    case Mnemonic.Cvtps2pi:
      return buildCvt2pi(d, false, false);
    case Mnemonic.Cvttps2pi:
      return buildCvt2pi(d, false, true);
    case Mnemonic.Cvtpd2pi:
      return buildCvt2pi(d, true, false);
    case Mnemonic.Cvttpd2pi:
      return buildCvt2pi(d, true, true);
  }
  return k !== null ? kernelOp(d, k) : udOp();
}

mmxHook.build = build;
define([
  Mnemonic.Movntq,
  Mnemonic.Pshufw,
  Mnemonic.Maskmovq,
  Mnemonic.Movq2dq,
  Mnemonic.Movdq2q,
  Mnemonic.Emms,
], (d) => build(d, null));
