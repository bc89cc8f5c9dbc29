/**
 * Compare-exchange and exchange-add: cmpxchg, cmpxchg8b, cmpxchg16b, xadd. vtlrr runs one VP at a
 * time, so every instruction is atomic; the LOCK prefix is accepted and changes nothing.
 */

import { Mnemonic } from "iced-x86";
import type { Op } from "../cpu.ts";
import { materialize } from "../flags.ts";
import { type Insn, K_REG } from "../insn.ts";
import { eaOf, getReg, rmwBegin, rmwEnd, setReg, szIdx } from "../operands.ts";
import { FLAG_ZF, RAX, RBX, RCX, RDX, VEC_GP } from "../regs.ts";
import { ADD, alu, CMP } from "./alu.ts";
import { define } from "./registry.ts";

function buildCmpxchg(d: Insn): Op {
  const dst = d.ops[0]!, src = d.ops[1]!, next = d.next;
  const size = dst.kind === K_REG ? dst.size : d.mem!.size, sz = szIdx(size);
  const s = src.reg;
  if (dst.kind === K_REG) {
    const r = dst.reg;
    return (c) => {
      const a = getReg(c, RAX, size), ah = c.tHi;
      const v = getReg(c, r, size), vh = c.tHi;
      alu(c, CMP, sz, a, size === 8 ? ah : 0, v, size === 8 ? vh : 0);
      const eq = size === 8 ? a === v && ah === vh : a === v;
      if (eq) setReg(c, r, size, getReg(c, s, size), c.tHi);
      else setReg(c, RAX, size, v, vh);
      c.rip = next;
    };
  }
  const ea = eaOf(d);
  return (c) => {
    // The destination is always written (with its old value on failure), as on hardware.
    const v = rmwBegin(c, ea(c), size), vh = c.tHi;
    const a = getReg(c, RAX, size), ah = c.tHi;
    alu(c, CMP, sz, a, size === 8 ? ah : 0, v, size === 8 ? vh : 0);
    const eq = size === 8 ? a === v && ah === vh : a === v;
    if (eq) {
      const n = getReg(c, s, size);
      rmwEnd(c, size, n, c.tHi);
    } else {
      rmwEnd(c, size, v, vh);
      setReg(c, RAX, size, v, vh);
    }
    c.rip = next;
  };
}

function buildXadd(d: Insn): Op {
  const dst = d.ops[0]!, src = d.ops[1]!, next = d.next;
  const size = dst.kind === K_REG ? dst.size : d.mem!.size, sz = szIdx(size);
  const s = src.reg;
  if (dst.kind === K_REG) {
    const r = dst.reg;
    return (c) => {
      const a = getReg(c, r, size), ah = c.tHi;
      const b = getReg(c, s, size), bh = c.tHi;
      const sum = alu(c, ADD, sz, a, ah, b, bh), sh = c.tHi;
      setReg(c, s, size, a, ah);
      setReg(c, r, size, sum, sh);
      c.rip = next;
    };
  }
  const ea = eaOf(d);
  return (c) => {
    const a = rmwBegin(c, ea(c), size), ah = c.tHi;
    const b = getReg(c, s, size), bh = c.tHi;
    const sum = alu(c, ADD, sz, a, ah, b, bh), sh = c.tHi;
    rmwEnd(c, size, sum, sh);
    setReg(c, s, size, a, ah);
    c.rip = next;
  };
}

function buildCmpxchgNb(d: Insn, wide: boolean): Op {
  const ea = eaOf(d), next = d.next;
  return (c) => {
    const lin = ea(c);
    if (wide && (lin % 16) !== 0) c.raise(VEC_GP, 0);
    // Read-modify-write of 8 (two dwords) or 16 (two qwords) bytes.
    const half = wide ? 8 : 4;
    c.probe(lin, half * 2, 1);
    let eq: boolean;
    materialize(c);
    if (!wide) {
      const m0 = c.read32(lin), m1 = c.read32(lin + 4);
      eq = m0 === c.lo[RAX] && m1 === c.lo[RDX];
      if (eq) {
        c.write32(lin, c.lo[RBX]!);
        c.write32(lin + 4, c.lo[RCX]!);
      } else {
        c.write32(lin, m0);
        c.write32(lin + 4, m1);
        setReg(c, RAX, 4, m0, 0);
        setReg(c, RDX, 4, m1, 0);
      }
    } else {
      const l0 = c.read64(lin), h0 = c.tHi;
      const l1 = c.read64(lin + 8), h1 = c.tHi;
      eq = l0 === c.lo[RAX] && h0 === c.hi[RAX] && l1 === c.lo[RDX] && h1 === c.hi[RDX];
      if (eq) {
        c.write64(lin, c.lo[RBX]!, c.hi[RBX]!);
        c.write64(lin + 8, c.lo[RCX]!, c.hi[RCX]!);
      } else {
        c.write64(lin, l0, h0);
        c.write64(lin + 8, l1, h1);
        setReg(c, RAX, 8, l0, h0);
        setReg(c, RDX, 8, l1, h1);
      }
    }
    c.eflags = eq ? c.eflags | FLAG_ZF : c.eflags & ~FLAG_ZF;
    c.rip = next;
  };
}

define([Mnemonic.Cmpxchg], buildCmpxchg);
define([Mnemonic.Xadd], buildXadd);
define([Mnemonic.Cmpxchg8b], (d) => buildCmpxchgNb(d, false));
define([Mnemonic.Cmpxchg16b], (d) => buildCmpxchgNb(d, true));
