/**
 * Two-operand integer ALU (add/or/adc/sbb/and/sub/xor/cmp/test) and the one-operand group
 * (inc/dec/neg/not), table-driven by operation × width × operand form. `alu()` is the single
 * kernel: it computes the result and records lazy flags.
 */

import { Mnemonic } from "iced-x86";
import type { Cpu, Op } from "../cpu.ts";
import {
  getCF,
  LF_ADC,
  LF_ADD,
  LF_DEC,
  LF_INC,
  LF_LOGIC,
  LF_NEG,
  LF_SBB,
  LF_SUB,
} from "../flags.ts";
import { type Insn, K_IMM, K_MEM, K_REG } from "../insn.ts";
import { eaOf, getReg, immLo, readMem, rmwBegin, rmwEnd, setReg, szIdx } from "../operands.ts";
import { define } from "./registry.ts";

export const ADD = 0, OR = 1, ADC = 2, SBB = 3, AND = 4, SUB = 5, XOR = 6, CMP = 7, TEST = 8;

const MASK = [0xff, 0xffff, -1, -1];

/**
 * ALU kernel. Operands are (lo, hi) halves; for sizes below 64 bits only lo is used and must be
 * zero-extended to the operand size (int32 for 32-bit). Returns the result's low half (masked to
 * the size); the high half is left in c.tHi. Records lazy flags.
 */
export function alu(
  c: Cpu,
  op: number,
  sz: number,
  a: number,
  ah: number,
  b: number,
  bh: number,
): number {
  let r: number, rh = 0;
  switch (op) {
    case ADD: {
      if (sz === 3) {
        const s = (a >>> 0) + (b >>> 0);
        r = s | 0;
        rh = (ah + bh + (s > 0xffffffff ? 1 : 0)) | 0;
      } else r = (a + b) & MASK[sz]!;
      c.lfOp = LF_ADD * 4 + sz;
      break;
    }
    case ADC: {
      const cin = getCF(c) ? 1 : 0;
      if (sz === 3) {
        const s = (a >>> 0) + (b >>> 0) + cin;
        r = s | 0;
        rh = (ah + bh + (s > 0xffffffff ? 1 : 0)) | 0;
      } else r = (a + b + cin) & MASK[sz]!;
      c.lfAux = cin;
      c.lfOp = LF_ADC * 4 + sz;
      break;
    }
    case SUB:
    case CMP: {
      if (sz === 3) {
        const s = (a >>> 0) - (b >>> 0);
        r = s | 0;
        rh = (ah - bh - (s < 0 ? 1 : 0)) | 0;
      } else r = (a - b) & MASK[sz]!;
      c.lfOp = LF_SUB * 4 + sz;
      break;
    }
    case SBB: {
      const cin = getCF(c) ? 1 : 0;
      if (sz === 3) {
        const s = (a >>> 0) - (b >>> 0) - cin;
        r = s | 0;
        rh = (ah - bh - (s < 0 ? 1 : 0)) | 0;
      } else r = (a - b - cin) & MASK[sz]!;
      c.lfAux = cin;
      c.lfOp = LF_SBB * 4 + sz;
      break;
    }
    case AND:
    case TEST:
      r = a & b;
      rh = ah & bh;
      c.lfOp = LF_LOGIC * 4 + sz;
      break;
    case OR:
      r = a | b;
      rh = ah | bh;
      c.lfOp = LF_LOGIC * 4 + sz;
      break;
    default: // XOR
      r = a ^ b;
      rh = ah ^ bh;
      c.lfOp = LF_LOGIC * 4 + sz;
      break;
  }
  c.lfA = a;
  c.lfB = b;
  c.lfRes = r;
  if (sz === 3) {
    c.lfAHi = ah;
    c.lfBHi = bh;
    c.lfResHi = rh;
  }
  c.tHi = rh;
  return r;
}

function buildBinary(d: Insn, op: number): Op {
  const dst = d.ops[0]!, src = d.ops[1]!;
  const size = dst.kind === K_REG ? dst.size : d.mem!.size;
  const sz = szIdx(size);
  const next = d.next;
  const writes = op !== CMP && op !== TEST;
  if (dst.kind === K_REG) {
    const rd = dst.reg;
    if (src.kind === K_REG) {
      const rs = src.reg;
      if (size === 4) {
        return writes
          ? (c) => {
            c.lo[rd] = alu(c, op, 2, c.lo[rd]!, 0, c.lo[rs]!, 0);
            c.hi[rd] = 0;
            c.rip = next;
          }
          : (c) => {
            alu(c, op, 2, c.lo[rd]!, 0, c.lo[rs]!, 0);
            c.rip = next;
          };
      }
      if (size === 8) {
        return writes
          ? (c) => {
            c.lo[rd] = alu(c, op, 3, c.lo[rd]!, c.hi[rd]!, c.lo[rs]!, c.hi[rs]!);
            c.hi[rd] = c.tHi;
            c.rip = next;
          }
          : (c) => {
            alu(c, op, 3, c.lo[rd]!, c.hi[rd]!, c.lo[rs]!, c.hi[rs]!);
            c.rip = next;
          };
      }
      return (c) => {
        const r = alu(c, op, sz, getReg(c, rd, size), 0, getReg(c, rs, size), 0);
        if (writes) setReg(c, rd, size, r, 0);
        c.rip = next;
      };
    }
    if (src.kind === K_IMM) {
      const b = immLo(src.lo, size), bh = src.hi;
      if (size === 4) {
        return writes
          ? (c) => {
            c.lo[rd] = alu(c, op, 2, c.lo[rd]!, 0, b, 0);
            c.hi[rd] = 0;
            c.rip = next;
          }
          : (c) => {
            alu(c, op, 2, c.lo[rd]!, 0, b, 0);
            c.rip = next;
          };
      }
      if (size === 8) {
        return writes
          ? (c) => {
            c.lo[rd] = alu(c, op, 3, c.lo[rd]!, c.hi[rd]!, b, bh);
            c.hi[rd] = c.tHi;
            c.rip = next;
          }
          : (c) => {
            alu(c, op, 3, c.lo[rd]!, c.hi[rd]!, b, bh);
            c.rip = next;
          };
      }
      return (c) => {
        const r = alu(c, op, sz, getReg(c, rd, size), 0, b, 0);
        if (writes) setReg(c, rd, size, r, 0);
        c.rip = next;
      };
    }
    // reg, mem
    const ea = eaOf(d);
    if (size === 4) {
      return (c) => {
        const b = c.read32(ea(c));
        const r = alu(c, op, 2, c.lo[rd]!, 0, b, 0);
        if (writes) {
          c.lo[rd] = r;
          c.hi[rd] = 0;
        }
        c.rip = next;
      };
    }
    if (size === 8) {
      return (c) => {
        const b = c.read64(ea(c));
        const r = alu(c, op, 3, c.lo[rd]!, c.hi[rd]!, b, c.tHi);
        if (writes) {
          c.lo[rd] = r;
          c.hi[rd] = c.tHi;
        }
        c.rip = next;
      };
    }
    return (c) => {
      const b = readMem(c, ea(c), size);
      const r = alu(c, op, sz, getReg(c, rd, size), 0, b, 0);
      if (writes) setReg(c, rd, size, r, 0);
      c.rip = next;
    };
  }
  // Memory destination.
  const ea = eaOf(d);
  let getB: (c: Cpu) => number;
  if (src.kind === K_REG) {
    const rs = src.reg;
    getB = (c) => getReg(c, rs, size);
  } else {
    const b = immLo(src.lo, size), bh = src.hi;
    getB = (c) => {
      c.tHi = bh;
      return b;
    };
  }
  if (!writes) {
    return (c) => {
      const lin = ea(c);
      const a = readMem(c, lin, size);
      const ah = c.tHi;
      const b = getB(c);
      alu(c, op, sz, a, ah, b, c.tHi);
      c.rip = next;
    };
  }
  return (c) => {
    const a = rmwBegin(c, ea(c), size);
    const ah = c.tHi;
    const b = getB(c);
    rmwEnd(c, size, alu(c, op, sz, a, ah, b, c.tHi), c.tHi);
    c.rip = next;
  };
}

function unary(c: Cpu, op: number, sz: number, a: number, ah: number): number {
  let r: number, rh = 0;
  const m = MASK[sz]!;
  switch (op) {
    case 0: // inc
      c.lfAux = getCF(c) ? 1 : 0;
      if (sz === 3) {
        r = (a + 1) | 0;
        rh = r === 0 ? (ah + 1) | 0 : ah;
      } else r = (a + 1) & m;
      c.lfOp = LF_INC * 4 + sz;
      c.lfA = a;
      c.lfB = 1;
      break;
    case 1: // dec
      c.lfAux = getCF(c) ? 1 : 0;
      if (sz === 3) {
        r = (a - 1) | 0;
        rh = a === 0 ? (ah - 1) | 0 : ah;
      } else r = (a - 1) & m;
      c.lfOp = LF_DEC * 4 + sz;
      c.lfA = a;
      c.lfB = 1;
      break;
    case 2: // neg
      if (sz === 3) {
        r = (-a) | 0;
        rh = (~ah + (a === 0 ? 1 : 0)) | 0;
      } else r = (-a) & m;
      c.lfOp = LF_NEG * 4 + sz;
      c.lfA = 0;
      c.lfB = a;
      break;
    default: // not: no flags
      c.tHi = ~ah;
      return sz === 3 || sz === 2 ? ~a : ~a & m;
  }
  c.lfRes = r;
  if (sz === 3) {
    c.lfResHi = rh;
    c.lfAHi = op === 2 ? 0 : ah;
    c.lfBHi = op === 2 ? ah : 0;
  }
  c.tHi = rh;
  return r;
}

function buildUnary(d: Insn, op: number): Op {
  const dst = d.ops[0]!;
  const next = d.next;
  if (dst.kind === K_REG) {
    const r = dst.reg, size = dst.size, sz = szIdx(size);
    if (size === 4) {
      return (c) => {
        c.lo[r] = unary(c, op, 2, c.lo[r]!, 0);
        c.hi[r] = 0;
        c.rip = next;
      };
    }
    if (size === 8) {
      return (c) => {
        c.lo[r] = unary(c, op, 3, c.lo[r]!, c.hi[r]!);
        c.hi[r] = c.tHi;
        c.rip = next;
      };
    }
    return (c) => {
      setReg(c, r, size, unary(c, op, sz, getReg(c, r, size), 0), 0);
      c.rip = next;
    };
  }
  if (dst.kind !== K_MEM) throw new Error("bad unary operand");
  const ea = eaOf(d);
  const size = d.mem!.size, sz = szIdx(size);
  return (c) => {
    const a = rmwBegin(c, ea(c), size);
    rmwEnd(c, size, unary(c, op, sz, a, size === 8 ? c.tHi : 0), c.tHi);
    c.rip = next;
  };
}

const BINARY: [Mnemonic, number][] = [
  [Mnemonic.Add, ADD],
  [Mnemonic.Or, OR],
  [Mnemonic.Adc, ADC],
  [Mnemonic.Sbb, SBB],
  [Mnemonic.And, AND],
  [Mnemonic.Sub, SUB],
  [Mnemonic.Xor, XOR],
  [Mnemonic.Cmp, CMP],
  [Mnemonic.Test, TEST],
];
for (const [m, op] of BINARY) define([m], (d) => buildBinary(d, op));
define([Mnemonic.Inc], (d) => buildUnary(d, 0));
define([Mnemonic.Dec], (d) => buildUnary(d, 1));
define([Mnemonic.Neg], (d) => buildUnary(d, 2));
define([Mnemonic.Not], (d) => buildUnary(d, 3));
