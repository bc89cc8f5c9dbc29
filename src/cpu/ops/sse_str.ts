/**
 * SSE4.2 string compares: pcmpestri, pcmpestrm, pcmpistri, pcmpistrm (and the REX.W forms that
 * take the explicit lengths from RAX/RDX). The memory operand needs no alignment.
 *
 * imm8: [1:0] element format (unsigned bytes, unsigned words, signed bytes, signed words),
 * [3:2] aggregation (equal any, ranges, equal each, equal ordered), [5:4] polarity, [6] index of
 * the most significant set bit (…stri) or expanded byte/word mask (…strm).
 * Flags: CF = result ≠ 0, ZF = string 2 shorter than the register, SF = same for string 1,
 * OF = result bit 0, AF = PF = 0.
 */

import { Mnemonic } from "iced-x86";
import type { Cpu, Op } from "../cpu.ts";
import { setArithFlags } from "../flags.ts";
import type { Insn } from "../insn.ts";
import { FLAG_CF, FLAG_OF, FLAG_SF, FLAG_ZF, FLAGS_ARITH, RAX, RCX, RDX } from "../regs.ts";
import { define } from "./registry.ts";
import { B, I16, I32, I8, loadA, loader, sseCheck, U16, U8, xr } from "./sse_util.ts";

/** Element i of string 1 (A) or string 2 (B, `src` = true) in format `fmt`. */
function elem(fmt: number, src: boolean, i: number): number {
  switch (fmt) {
    case 0:
      return U8[(src ? 16 : 0) + i]!;
    case 1:
      return U16[(src ? 8 : 0) + i]!;
    case 2:
      return I8[(src ? 16 : 0) + i]!;
    default:
      return I16[(src ? 8 : 0) + i]!;
  }
}

/** Implicit length: index of the first zero element (or n). */
function implicitLen(fmt: number, src: boolean, n: number): number {
  for (let i = 0; i < n; i++) if (elem(fmt, src, i) === 0) return i;
  return n;
}

/** Explicit length from a register: |value| saturated to n (64-bit with REX.W). */
function explicitLen(c: Cpu, r: number, wide: boolean, n: number): number {
  const lo = c.lo[r]!;
  if (wide) {
    const hi = c.hi[r]!;
    if (hi < 0) {
      // negative: |v| >= n unless hi == -1 and -lo small
      if (hi !== -1 || lo >= 0) return n;
      const a = -lo;
      return a < n ? a : n;
    }
    if (hi !== 0 || lo < 0) return n;
    return lo < n ? lo : n;
  }
  const a = Math.abs(lo);
  return a >= n ? n : a;
}

/** The aggregation + polarity (IntRes2) for lengths la (string 1) and lb (string 2). */
function compute(imm: number, la: number, lb: number): number {
  const fmt = imm & 3, n = fmt & 1 ? 8 : 16;
  const agg = (imm >> 2) & 3, pol = (imm >> 4) & 3;
  let res = 0;
  switch (agg) {
    case 0: // equal any
      for (let i = 0; i < lb; i++) {
        const b = elem(fmt, true, i);
        for (let j = 0; j < la; j++) {
          if (elem(fmt, false, j) === b) {
            res |= 1 << i;
            break;
          }
        }
      }
      break;
    case 1: // ranges: pairs (lo, hi) of string 1
      for (let i = 0; i < lb; i++) {
        const b = elem(fmt, true, i);
        for (let j = 0; j + 1 < la; j += 2) {
          if (b >= elem(fmt, false, j) && b <= elem(fmt, false, j + 1)) {
            res |= 1 << i;
            break;
          }
        }
      }
      break;
    case 2: // equal each
      for (let i = 0; i < n; i++) {
        const va = i < la, vb = i < lb;
        const eq = va && vb ? elem(fmt, false, i) === elem(fmt, true, i) : !va && !vb;
        if (eq) res |= 1 << i;
      }
      break;
    default: // equal ordered: string 1 as a substring starting at each position of string 2
      for (let i = 0; i < n; i++) {
        let match = true;
        for (let k = 0; k < n - i && k < la; k++) {
          if (i + k >= lb || elem(fmt, false, k) !== elem(fmt, true, i + k)) {
            match = false;
            break;
          }
        }
        if (match) res |= 1 << i;
      }
  }
  const all = n === 16 ? 0xffff : 0xff;
  if (pol === 1) res = ~res & all;
  else if (pol === 3) res ^= (1 << lb) - 1;
  return res;
}

function build(d: Insn, explicit: boolean, wide: boolean, index: boolean): Op {
  const x = xr(d, 0), next = d.next, imm = d.ops[2]!.lo & 0xff;
  const ld = loader(d, 1, B, false);
  const fmt = imm & 3, n = fmt & 1 ? 8 : 16;
  const msb = (imm & 0x40) !== 0;
  return (c) => {
    sseCheck(c);
    ld(c);
    loadA(c, x);
    const X = c.xmm;
    const la = explicit ? explicitLen(c, RAX, wide, n) : implicitLen(fmt, false, n);
    const lb = explicit ? explicitLen(c, RDX, wide, n) : implicitLen(fmt, true, n);
    const res = compute(imm, la, lb);
    if (index) {
      let v = n;
      if (res !== 0) v = msb ? 31 - Math.clz32(res) : 31 - Math.clz32(res & -res);
      c.lo[RCX] = v;
      c.hi[RCX] = 0;
    } else if (!msb) {
      X[0] = res;
      X[1] = 0;
      X[2] = 0;
      X[3] = 0;
    } else {
      for (let i = 0; i < n; i++) {
        const on = (res >>> i) & 1;
        if (n === 16) U8[32 + i] = on ? 0xff : 0;
        else U16[16 + i] = on ? 0xffff : 0;
      }
      for (let k = 0; k < 4; k++) X[k] = I32[8 + k]!;
    }
    setArithFlags(
      c,
      FLAGS_ARITH,
      (res !== 0 ? FLAG_CF : 0) | (lb < n ? FLAG_ZF : 0) | (la < n ? FLAG_SF : 0) |
        (res & 1 ? FLAG_OF : 0),
    );
    c.rip = next;
  };
}

define([Mnemonic.Pcmpestri], (d) => build(d, true, false, true));
define([Mnemonic.Pcmpestri64], (d) => build(d, true, true, true));
define([Mnemonic.Pcmpestrm], (d) => build(d, true, false, false));
define([Mnemonic.Pcmpestrm64], (d) => build(d, true, true, false));
define([Mnemonic.Pcmpistri], (d) => build(d, false, false, true));
define([Mnemonic.Pcmpistrm], (d) => build(d, false, false, false));
