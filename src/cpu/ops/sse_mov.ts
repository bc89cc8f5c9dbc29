/**
 * SSE/SSE2/SSE3 data movement on XMM registers: movd/movq (GPR, memory, XMM), movdqa/movdqu,
 * movaps/movups/movapd/movupd, lddqu, the non-temporal stores (movntdq/movntps/movntpd/movnti)
 * and movntdqa, movss/movsd (the SSE2 form of the mnemonic shared with the string instruction),
 * movlps/movhps/movlpd/movhpd/movhlps/movlhps, maskmovdqu, movmskps/movmskpd, and SSE3's
 * movddup/movshdup/movsldup. Aligned forms raise #GP(0) on a misaligned 16-byte operand before
 * touching memory. MMX forms go to sse_int.ts's `mmxForm`.
 */

import { Mnemonic } from "iced-x86";
import type { Op } from "../cpu.ts";
import { type Insn, K_MEM, K_REG, RC_GPR } from "../insn.ts";
import { eaOf, setReg } from "../operands.ts";
import { define, udOp } from "./registry.ts";
import { mmxForm } from "./sse_int.ts";
import {
  I32,
  isMm,
  isXmm,
  loadA,
  loader,
  maskedStore,
  read128,
  SSE_ALIAS,
  sseCheck,
  storeA,
  write128,
  xr,
} from "./sse_util.ts";

function isGpr(d: Insn, i: number): boolean {
  const o = d.ops[i];
  return o !== undefined && o.kind === K_REG && o.rc === RC_GPR;
}

/** movd (size 4) / movq (size 8) in all XMM forms. */
function buildMovdq(d: Insn, size: number): Op {
  if (isMm(d, 0) || isMm(d, 1)) return mmxForm(d);
  const next = d.next;
  if (isXmm(d, 0)) {
    const x = xr(d, 0);
    if (isXmm(d, 1)) {
      // movq xmm, xmm: low qword, upper zeroed
      const s = xr(d, 1);
      return (c) => {
        sseCheck(c);
        const X = c.xmm;
        X[x] = X[s]!;
        X[x + 1] = X[s + 1]!;
        X[x + 2] = 0;
        X[x + 3] = 0;
        c.rip = next;
      };
    }
    if (isGpr(d, 1)) {
      const r = d.ops[1]!.reg;
      return (c) => {
        sseCheck(c);
        const X = c.xmm;
        X[x] = c.lo[r]!;
        X[x + 1] = size === 8 ? c.hi[r]! : 0;
        X[x + 2] = 0;
        X[x + 3] = 0;
        c.rip = next;
      };
    }
    const ea = eaOf(d);
    return (c) => {
      sseCheck(c);
      const lin = ea(c);
      const lo = size === 8 ? c.read64(lin) : c.read32(lin);
      const X = c.xmm;
      X[x + 1] = size === 8 ? c.tHi : 0;
      X[x] = lo;
      X[x + 2] = 0;
      X[x + 3] = 0;
      c.rip = next;
    };
  }
  const s = xr(d, 1);
  if (isGpr(d, 0)) {
    const r = d.ops[0]!.reg;
    return (c) => {
      sseCheck(c);
      c.lo[r] = c.xmm[s]!;
      c.hi[r] = size === 8 ? c.xmm[s + 1]! : 0;
      c.rip = next;
    };
  }
  const ea = eaOf(d);
  return (c) => {
    sseCheck(c);
    const lin = ea(c);
    if (size === 8) c.write64(lin, c.xmm[s]!, c.xmm[s + 1]!);
    else c.write32(lin, c.xmm[s]!);
    c.rip = next;
  };
}

/** Full 128-bit moves: register, load, store. */
function buildMov128(d: Insn, align: boolean): Op {
  const next = d.next;
  if (isXmm(d, 0)) {
    const x = xr(d, 0);
    if (isXmm(d, 1)) {
      const s = xr(d, 1);
      return (c) => {
        sseCheck(c);
        const X = c.xmm;
        X[x] = X[s]!;
        X[x + 1] = X[s + 1]!;
        X[x + 2] = X[s + 2]!;
        X[x + 3] = X[s + 3]!;
        c.rip = next;
      };
    }
    const ea = eaOf(d);
    return (c) => {
      sseCheck(c);
      read128(c, ea(c), 0, align);
      storeA(c, x);
      c.rip = next;
    };
  }
  const s = xr(d, 1), ea = eaOf(d);
  return (c) => {
    sseCheck(c);
    loadA(c, s);
    write128(c, ea(c), 0, align);
    c.rip = next;
  };
}

/** movss (dwords = 1) / movsd (dwords = 2): register form merges, load zeroes the rest. */
function buildMovScalar(d: Insn, dwords: number): Op {
  const next = d.next;
  if (isXmm(d, 0)) {
    const x = xr(d, 0);
    if (isXmm(d, 1)) {
      const s = xr(d, 1);
      return (c) => {
        sseCheck(c);
        const X = c.xmm;
        X[x] = X[s]!;
        if (dwords === 2) X[x + 1] = X[s + 1]!;
        c.rip = next;
      };
    }
    const ea = eaOf(d);
    return (c) => {
      sseCheck(c);
      const lin = ea(c);
      const X = c.xmm;
      if (dwords === 2) {
        X[x] = c.read64(lin);
        X[x + 1] = c.tHi;
      } else {
        X[x] = c.read32(lin);
        X[x + 1] = 0;
      }
      X[x + 2] = 0;
      X[x + 3] = 0;
      c.rip = next;
    };
  }
  const s = xr(d, 1), ea = eaOf(d);
  return (c) => {
    sseCheck(c);
    const lin = ea(c);
    if (dwords === 2) c.write64(lin, c.xmm[s]!, c.xmm[s + 1]!);
    else c.write32(lin, c.xmm[s]!);
    c.rip = next;
  };
}

/**
 * Half moves: movlps/movlpd (low qword) and movhps/movhpd (high qword) between XMM and m64;
 * movhlps / movlhps register forms (same mnemonics' reg-reg encodings are separate mnemonics).
 */
function buildMovHalf(d: Insn, high: boolean): Op {
  const next = d.next, h = high ? 2 : 0;
  if (isXmm(d, 0)) {
    const x = xr(d, 0) + h;
    if (d.ops[1]!.kind !== K_MEM) return udOp();
    const ea = eaOf(d);
    return (c) => {
      sseCheck(c);
      const lo = c.read64(ea(c));
      c.xmm[x + 1] = c.tHi;
      c.xmm[x] = lo;
      c.rip = next;
    };
  }
  const s = xr(d, 1) + h, ea = eaOf(d);
  return (c) => {
    sseCheck(c);
    c.write64(ea(c), c.xmm[s]!, c.xmm[s + 1]!);
    c.rip = next;
  };
}

/** movhlps xmm1, xmm2: low qword ← high qword of xmm2; movlhps: high ← low. */
function buildMovHl(d: Insn, toLow: boolean): Op {
  const x = xr(d, 0) + (toLow ? 0 : 2), s = xr(d, 1) + (toLow ? 2 : 0), next = d.next;
  return (c) => {
    sseCheck(c);
    const X = c.xmm;
    X[x] = X[s]!;
    X[x + 1] = X[s + 1]!;
    c.rip = next;
  };
}

/** movnti m32/m64, r32/r64 (no SSE state involved). */
function buildMovnti(d: Insn): Op {
  const r = d.ops[1]!.reg, size = d.ops[1]!.size, ea = eaOf(d), next = d.next;
  return (c) => {
    const lin = ea(c);
    if (size === 8) c.write64(lin, c.lo[r]!, c.hi[r]!);
    else c.write32(lin, c.lo[r]!);
    c.rip = next;
  };
}

/** maskmovdqu xmm1, xmm2: stores the bytes of xmm1 whose mask byte (xmm2) has bit 7 to [rDI]. */
function buildMaskmov(d: Insn): Op {
  // Operands: [rDI] (implicit), data, mask.
  if (isMm(d, 1)) return mmxForm(d);
  const x = xr(d, 1), m = xr(d, 2), next = d.next, asz = d.addrSize;
  const seg = d.strSeg;
  return (c) => {
    sseCheck(c);
    const X = c.xmm;
    for (let k = 0; k < 4; k++) {
      I32[k] = X[x + k]!;
      I32[4 + k] = X[m + k]!;
    }
    maskedStore(c, seg, asz, 16);
    c.rip = next;
  };
}

/** movmskps (4 sign bits) / movmskpd (2). */
function buildMovmsk(d: Insn, pd: boolean): Op {
  const rd = d.ops[0]!.reg, s = xr(d, 1), next = d.next;
  return (c) => {
    sseCheck(c);
    const X = c.xmm;
    const m = pd
      ? ((X[s + 1]! >>> 31) | ((X[s + 3]! >>> 31) << 1))
      : ((X[s]! >>> 31) | ((X[s + 1]! >>> 31) << 1) | ((X[s + 2]! >>> 31) << 2) |
        ((X[s + 3]! >>> 31) << 3));
    setReg(c, rd, 8, m, 0);
    c.rip = next;
  };
}

/** SSE3 movddup / movshdup / movsldup (kind 0, 1, 2). */
function buildDup(d: Insn, kind: number): Op {
  const x = xr(d, 0), next = d.next;
  const ld = loader(d, 1, 4, kind !== 0);
  return (c) => {
    sseCheck(c);
    ld(c);
    const X = c.xmm;
    if (kind === 0) {
      X[x] = I32[4]!;
      X[x + 1] = I32[5]!;
      X[x + 2] = I32[4]!;
      X[x + 3] = I32[5]!;
    } else {
      const o = kind === 1 ? 5 : 4;
      X[x] = I32[o]!;
      X[x + 1] = I32[o]!;
      X[x + 2] = I32[o + 2]!;
      X[x + 3] = I32[o + 2]!;
    }
    c.rip = next;
  };
}

define([Mnemonic.Movd], (d) => buildMovdq(d, 4));
define([Mnemonic.Movq], (d) => buildMovdq(d, 8));
define([Mnemonic.Movdqa, Mnemonic.Movaps, Mnemonic.Movapd], (d) => buildMov128(d, true));
define([Mnemonic.Movntdq, Mnemonic.Movntps, Mnemonic.Movntpd], (d) => buildMov128(d, true));
define([Mnemonic.Movntdqa], (d) => buildMov128(d, true));
define(
  [Mnemonic.Movdqu, Mnemonic.Movups, Mnemonic.Movupd, Mnemonic.Lddqu],
  (d) => buildMov128(d, false),
);
define([Mnemonic.Movss], (d) => buildMovScalar(d, 1));
SSE_ALIAS.set(Mnemonic.Movsd, (d) => buildMovScalar(d, 2));
define([Mnemonic.Movlps, Mnemonic.Movlpd], (d) => buildMovHalf(d, false));
define([Mnemonic.Movhps, Mnemonic.Movhpd], (d) => buildMovHalf(d, true));
define([Mnemonic.Movhlps], (d) => buildMovHl(d, true));
define([Mnemonic.Movlhps], (d) => buildMovHl(d, false));
define([Mnemonic.Movnti], buildMovnti);
define([Mnemonic.Maskmovdqu], buildMaskmov);
define([Mnemonic.Movmskps], (d) => buildMovmsk(d, false));
define([Mnemonic.Movmskpd], (d) => buildMovmsk(d, true));
define([Mnemonic.Movddup], (d) => buildDup(d, 0));
define([Mnemonic.Movshdup], (d) => buildDup(d, 1));
define([Mnemonic.Movsldup], (d) => buildDup(d, 2));
