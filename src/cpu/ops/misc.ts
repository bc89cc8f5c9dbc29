/** Flag manipulation and small odds and ends: clc/stc/cmc/cld/std, lahf/sahf, nop, ud2, xlat. */

import { Mnemonic } from "iced-x86";
import type { Op } from "../cpu.ts";
import { arithFlags, getCF, setArithFlags } from "../flags.ts";
import type { Insn } from "../insn.ts";
import {
  DS,
  FLAG_AF,
  FLAG_CF,
  FLAG_DF,
  FLAG_PF,
  FLAG_SF,
  FLAG_ZF,
  FS,
  GS,
  RAX,
  RBX,
  VEC_UD,
} from "../regs.ts";
import { define } from "./registry.ts";

function flagOp(d: Insn, f: (c: Parameters<Op>[0]) => void): Op {
  const next = d.next;
  return (c) => {
    f(c);
    c.rip = next;
  };
}

define([Mnemonic.Clc], (d) => flagOp(d, (c) => setArithFlags(c, FLAG_CF, 0)));
define([Mnemonic.Stc], (d) => flagOp(d, (c) => setArithFlags(c, FLAG_CF, FLAG_CF)));
define([Mnemonic.Cmc], (d) => flagOp(d, (c) => setArithFlags(c, FLAG_CF, getCF(c) ? 0 : FLAG_CF)));
define([Mnemonic.Cld], (d) => flagOp(d, (c) => void (c.eflags &= ~FLAG_DF)));
define([Mnemonic.Std], (d) => flagOp(d, (c) => void (c.eflags |= FLAG_DF)));

const SAHF_MASK = FLAG_SF | FLAG_ZF | FLAG_AF | FLAG_PF | FLAG_CF;
define([Mnemonic.Lahf], (d) =>
  flagOp(d, (c) => {
    const f = (arithFlags(c) & SAHF_MASK) | 2;
    c.lo[RAX] = (c.lo[RAX]! & ~0xff00) | (f << 8);
  }));
define(
  [Mnemonic.Sahf],
  (d) => flagOp(d, (c) => setArithFlags(c, SAHF_MASK, (c.lo[RAX]! >>> 8) & 0xff)),
);

define([Mnemonic.Nop], (d) => {
  const next = d.next;
  return (c) => {
    c.rip = next;
  };
});

define([Mnemonic.Ud0, Mnemonic.Ud1, Mnemonic.Ud2], () => (c) => c.raise(VEC_UD));

// XLAT: AL := [seg:rBX + AL] (AL zero-extended), a byte read like any memory operand: FS/GS base
// and canonical check in 64-bit mode, segment limit and type checks outside it.
define([Mnemonic.Xlatb], (d) => {
  const next = d.next, asz = d.addrSize, seg = d.mem?.seg ?? DS;
  const b64 = d.bits === 64, segBase = b64 && (seg === FS || seg === GS);
  return (c) => {
    const al = c.lo[RAX]! & 0xff;
    let lin: number;
    if (asz === 8) {
      lin = c.reg(RBX) + al;
      lin = c.canon(segBase ? c.segBase[seg]! + lin : lin);
    } else {
      const off = asz === 4 ? (c.lo[RBX]! + al) >>> 0 : (c.lo[RBX]! + al) & 0xffff;
      if (!b64) lin = c.segAddr(seg, off, 1, false);
      else lin = segBase ? c.canon(c.segBase[seg]! + off) : off;
    }
    c.lo[RAX] = (c.lo[RAX]! & ~0xff) | c.read8(lin);
    c.rip = next;
  };
});
