/**
 * Bit operations: bt/bts/btr/btc (register and memory bit-string forms), bsf/bsr, tzcnt/lzcnt,
 * popcnt.
 */

import { Mnemonic } from "iced-x86";
import type { Cpu, Op } from "../cpu.ts";
import { materialize, setArithFlags } from "../flags.ts";
import { type Insn, K_IMM, K_REG } from "../insn.ts";
import { eaOf, getReg, readMem, rmwBegin, rmwEnd, setReg } from "../operands.ts";
import { FLAG_CF, FLAG_ZF } from "../regs.ts";
import { define } from "./registry.ts";

const BT = 0, BTS = 1, BTR = 2, BTC = 3;

function applyBit(op: number, v: number, bit: number): number {
  const m = 1 << bit;
  return op === BTS ? v | m : op === BTR ? v & ~m : op === BTC ? v ^ m : v;
}

function buildBt(d: Insn, op: number): Op {
  const dst = d.ops[0]!, src = d.ops[1]!, next = d.next;
  const size = dst.kind === K_REG ? dst.size : d.mem!.size;
  const bits = size * 8;
  if (dst.kind === K_REG) {
    const r = dst.reg;
    const getOff = src.kind === K_IMM
      ? ((n: number) => () => n)(src.lo & (bits - 1))
      : ((s: number) => (c: Cpu) => c.lo[s]! & (bits - 1))(src.reg);
    return (c) => {
      const n = getOff(c);
      const lo = getReg(c, r, size), hi = size === 8 ? c.tHi : 0;
      const word = n < 32 ? lo : hi, b = n & 31;
      setArithFlags(c, FLAG_CF, ((word >>> b) & 1) ? FLAG_CF : 0);
      if (op !== BT) {
        if (n < 32) setReg(c, r, size, applyBit(op, lo, b), hi);
        else setReg(c, r, size, lo, applyBit(op, hi, b));
      }
      c.rip = next;
    };
  }
  const ea = eaOf(d);
  if (src.kind === K_IMM) {
    const n = src.lo & (bits - 1);
    return (c) => {
      const lin = ea(c);
      const byteLin = lin + (n >>> 3);
      const b = n & 7;
      if (op === BT) {
        const v = c.read8(byteLin);
        setArithFlags(c, FLAG_CF, ((v >>> b) & 1) ? FLAG_CF : 0);
      } else {
        const v = rmwBegin(c, byteLin, 1);
        setArithFlags(c, FLAG_CF, ((v >>> b) & 1) ? FLAG_CF : 0);
        rmwEnd(c, 1, applyBit(op, v, b), 0);
      }
      c.rip = next;
    };
  }
  // Register bit offset: signed, addresses the bit string beyond the operand. The access is the
  // operand-sized word containing the bit (as hardware does; it matters for faults).
  const s = src.reg;
  return (c) => {
    let off: number;
    if (size === 8) off = c.reg(s);
    else if (size === 4) off = c.lo[s]!;
    else off = (c.lo[s]! << 16) >> 16;
    const lin = ea(c);
    const wordOff = Math.floor(off / bits) * size;
    const b = off - Math.floor(off / bits) * bits;
    const wl = c.bits === 64 ? c.canon(lin + wordOff) : (lin + wordOff) >>> 0;
    if (op === BT) {
      const lo = readMem(c, wl, size), hi = c.tHi;
      const word = b < 32 ? lo : hi;
      setArithFlags(c, FLAG_CF, ((word >>> (b & 31)) & 1) ? FLAG_CF : 0);
    } else {
      const lo = rmwBegin(c, wl, size), hi = c.tHi;
      const word = b < 32 ? lo : hi;
      setArithFlags(c, FLAG_CF, ((word >>> (b & 31)) & 1) ? FLAG_CF : 0);
      if (b < 32) rmwEnd(c, size, applyBit(op, lo, b), hi);
      else rmwEnd(c, size, lo, applyBit(op, hi, b - 32));
    }
    c.rip = next;
  };
}

function srcOf(d: Insn): [(c: Cpu) => number, number] {
  const src = d.ops[1]!;
  if (src.kind === K_REG) {
    const r = src.reg, size = src.size;
    return [(c) => getReg(c, r, size), size];
  }
  const ea = eaOf(d), size = d.mem!.size;
  return [(c) => readMem(c, ea(c), size), size];
}

function clz32(v: number): number {
  return Math.clz32(v);
}

function ctz32(v: number): number {
  return v === 0 ? 32 : 31 - Math.clz32(v & -v);
}

function popcnt32(v: number): number {
  v = v - ((v >>> 1) & 0x55555555);
  v = (v & 0x33333333) + ((v >>> 2) & 0x33333333);
  return (Math.imul((v + (v >>> 4)) & 0x0f0f0f0f, 0x01010101) >>> 24);
}

/** Count of trailing zeros over (lo, hi) limited to `bits`. */
function ctz(lo: number, hi: number, bits: number): number {
  if (bits === 64) return lo !== 0 ? ctz32(lo) : hi !== 0 ? 32 + ctz32(hi) : 64;
  const v = bits === 16 ? lo & 0xffff : lo;
  const n = ctz32(v);
  return n > bits ? bits : n;
}

function clz(lo: number, hi: number, bits: number): number {
  if (bits === 64) return hi !== 0 ? clz32(hi) : 32 + clz32(lo);
  if (bits === 16) return clz32(lo & 0xffff) - 16;
  return clz32(lo);
}

function buildScan(d: Insn, kind: number): Op {
  // kind: 0 bsf, 1 bsr, 2 tzcnt, 3 lzcnt, 4 popcnt
  const [get, size] = srcOf(d);
  const rd = d.ops[0]!.reg, next = d.next, bits = size * 8;
  return (c) => {
    const lo = get(c), hi = size === 8 ? c.tHi : 0;
    const zero = bits === 16 ? (lo & 0xffff) === 0 : (lo | hi) === 0;
    switch (kind) {
      case 0:
      case 1: {
        // BSF/BSR: ZF = (source == 0); destination unchanged for a zero source (as on Intel
        // and AMD hardware; architecturally undefined). CF/OF/SF/AF/PF undefined: cleared.
        materialize(c);
        c.eflags = (c.eflags & ~0x8d5) | (zero ? FLAG_ZF : 0);
        if (!zero) {
          const n = kind === 0 ? ctz(lo, hi, bits) : bits - 1 - clz(lo, hi, bits);
          setReg(c, rd, size, n, 0);
        }
        break;
      }
      case 2:
      case 3: {
        const n = kind === 2 ? ctz(lo, hi, bits) : clz(lo, hi, bits);
        setReg(c, rd, size, n, 0);
        materialize(c);
        c.eflags = (c.eflags & ~(FLAG_CF | FLAG_ZF)) | (zero ? FLAG_CF : 0) |
          (n === 0 ? FLAG_ZF : 0);
        break;
      }
      default: {
        const n = bits === 16
          ? popcnt32(lo & 0xffff)
          : popcnt32(lo) + (size === 8 ? popcnt32(hi) : 0);
        setReg(c, rd, size, n, 0);
        materialize(c);
        c.eflags = (c.eflags & ~0x8d5) | (n === 0 ? FLAG_ZF : 0);
      }
    }
    c.rip = next;
  };
}

define([Mnemonic.Bt], (d) => buildBt(d, BT));
define([Mnemonic.Bts], (d) => buildBt(d, BTS));
define([Mnemonic.Btr], (d) => buildBt(d, BTR));
define([Mnemonic.Btc], (d) => buildBt(d, BTC));
define([Mnemonic.Bsf], (d) => buildScan(d, 0));
define([Mnemonic.Bsr], (d) => buildScan(d, 1));
define([Mnemonic.Tzcnt], (d) => buildScan(d, 2));
define([Mnemonic.Lzcnt], (d) => buildScan(d, 3));
define([Mnemonic.Popcnt], (d) => buildScan(d, 4));
