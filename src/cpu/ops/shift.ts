/**
 * Shifts and rotates: shl/sal/shr/sar/rol/ror/rcl/rcr by 1, imm8 and CL, and shld/shrd.
 * Counts are masked to 5 bits (6 for 64-bit operands). A masked count of 0 changes nothing, not
 * even flags. CF and OF are computed eagerly; SF/ZF/PF stay lazy for shifts; rotates leave
 * SF/ZF/PF/AF untouched.
 */

import { Mnemonic } from "iced-x86";
import type { Cpu, Op } from "../cpu.ts";
import { getCF, LF_EAGER_COF, setArithFlags } from "../flags.ts";
import { type Insn, K_IMM, K_REG } from "../insn.ts";
import { eaOf, getReg, rmwBegin, rmwEnd, setReg, szIdx } from "../operands.ts";
import { FLAG_CF, FLAG_OF, RCX } from "../regs.ts";
import { define } from "./registry.ts";

const SHL = 0, SHR = 1, SAR = 2, ROL = 3, ROR = 4, RCL = 5, RCR = 6;

/** Bit k (0..63) of (lo, hi). */
function bit(lo: number, hi: number, k: number): number {
  return k < 32 ? (lo >>> k) & 1 : (hi >>> (k - 32)) & 1;
}

/** 64-bit logical left shift by n (0..63) → lo, tHi. */
function shl64(c: Cpu, lo: number, hi: number, n: number): number {
  if (n === 0) {
    c.tHi = hi;
    return lo;
  }
  if (n < 32) {
    c.tHi = (hi << n) | (lo >>> (32 - n));
    return lo << n;
  }
  c.tHi = lo << (n - 32);
  return 0;
}

function shr64(c: Cpu, lo: number, hi: number, n: number, arith: boolean): number {
  if (n === 0) {
    c.tHi = hi;
    return lo;
  }
  if (n < 32) {
    c.tHi = arith ? hi >> n : hi >>> n;
    return (lo >>> n) | (hi << (32 - n));
  }
  c.tHi = arith ? hi >> 31 : 0;
  return arith ? hi >> (n - 32) : hi >>> (n - 32);
}

function setShiftFlags(c: Cpu, sz: number, r: number, rh: number, cf: number, of: number): void {
  c.lfOp = LF_EAGER_COF * 4 + sz;
  c.lfRes = r;
  c.lfResHi = rh;
  c.lfAux = (cf ? FLAG_CF : 0) | (of ? FLAG_OF : 0);
}

/**
 * The shift/rotate kernel for shl..rcr. `a` is zero-extended to the operand size (int32 for 32).
 * Returns the result low half (tHi = high half). Assumes count already masked and nonzero.
 */
export function shiftOp(
  c: Cpu,
  op: number,
  size: number,
  a: number,
  ah: number,
  n: number,
): number {
  const bits = size * 8;
  const sz = szIdx(size);
  const mask = size === 1 ? 0xff : size === 2 ? 0xffff : -1;
  let r = 0, rh = 0, cf = 0, of = 0;
  switch (op) {
    case SHL: {
      if (size === 8) {
        r = shl64(c, a, ah, n);
        rh = c.tHi;
        cf = bit(a, ah, 64 - n);
        of = ((rh >>> 31) ^ cf) & 1;
      } else {
        // n may exceed the width for 8/16-bit operands (count masked to 5 bits only).
        if (n <= bits) cf = (a >>> (bits - n)) & 1;
        else cf = 0;
        r = n >= 32 ? 0 : (a << n) & mask;
        of = ((r >>> (bits - 1)) ^ cf) & 1;
      }
      setShiftFlags(c, sz, r, rh, cf, of);
      break;
    }
    case SHR: {
      if (size === 8) {
        r = shr64(c, a, ah, n, false);
        rh = c.tHi;
        cf = bit(a, ah, n - 1);
        of = (ah >>> 31) & 1;
      } else {
        const u = a & mask;
        cf = n <= bits ? (u >>> (n - 1)) & 1 : 0;
        r = n >= 32 ? 0 : (u >>> n) & mask;
        of = (u >>> (bits - 1)) & 1;
      }
      setShiftFlags(c, sz, r, rh, cf, of);
      break;
    }
    case SAR: {
      if (size === 8) {
        r = shr64(c, a, ah, n, true);
        rh = c.tHi;
        cf = bit(a, ah, n - 1);
      } else {
        const s = (a << (32 - bits)) >> (32 - bits); // sign-extended
        const k = n > bits ? bits : n;
        cf = k >= 32 ? (s >>> 31) & 1 : (s >> (k - 1)) & 1;
        r = (k >= 32 ? s >> 31 : s >> k) & mask;
      }
      setShiftFlags(c, sz, r, rh, cf, 0);
      break;
    }
    case ROL:
    case ROR: {
      const k = n % bits;
      if (size === 8) {
        if (op === ROL) {
          const l1 = shl64(c, a, ah, k), h1 = c.tHi;
          const l2 = shr64(c, a, ah, (64 - k) % 64, false), h2 = k === 0 ? 0 : c.tHi;
          r = k === 0 ? a : l1 | l2;
          rh = k === 0 ? ah : h1 | h2;
        } else {
          const l1 = shr64(c, a, ah, k, false), h1 = c.tHi;
          const l2 = shl64(c, a, ah, (64 - k) % 64), h2 = k === 0 ? 0 : c.tHi;
          r = k === 0 ? a : l1 | l2;
          rh = k === 0 ? ah : h1 | h2;
        }
      } else {
        const u = a & mask;
        r = k === 0
          ? u
          : op === ROL
          ? ((u << k) | (u >>> (bits - k))) & mask
          : ((u >>> k) | (u << (bits - k))) & mask;
      }
      const msb = size === 8 ? (rh >>> 31) & 1 : (r >>> (bits - 1)) & 1;
      if (op === ROL) {
        cf = r & 1;
        of = msb ^ cf;
      } else {
        cf = msb;
        const msb1 = size === 8 ? (rh >>> 30) & 1 : (r >>> (bits - 2)) & 1;
        of = msb ^ msb1;
      }
      setArithFlags(c, FLAG_CF | FLAG_OF, (cf ? FLAG_CF : 0) | (of ? FLAG_OF : 0));
      break;
    }
    default: { // RCL, RCR: rotate through CF, width bits+1
      const k = size >= 4 ? n : n % (bits + 1);
      let lo = a, hi = size === 8 ? ah : 0;
      let carry = getCF(c) ? 1 : 0;
      for (let i = 0; i < k; i++) {
        if (op === RCL) {
          const out = size === 8 ? (hi >>> 31) & 1 : (lo >>> (bits - 1)) & 1;
          if (size === 8) {
            hi = (hi << 1) | (lo >>> 31);
            lo = (lo << 1) | carry;
          } else lo = ((lo << 1) | carry) & mask;
          carry = out;
        } else {
          const out = lo & 1;
          if (size === 8) {
            lo = (lo >>> 1) | (hi << 31);
            hi = (hi >>> 1) | (carry << 31);
          } else lo = ((lo >>> 1) | (carry << (bits - 1))) & mask;
          carry = out;
        }
      }
      r = lo;
      rh = hi;
      cf = carry;
      const msb = size === 8 ? (rh >>> 31) & 1 : (r >>> (bits - 1)) & 1;
      if (op === RCL) of = msb ^ cf;
      else {
        const msb1 = size === 8 ? (rh >>> 30) & 1 : (r >>> (bits - 2)) & 1;
        of = msb ^ msb1;
      }
      setArithFlags(c, FLAG_CF | FLAG_OF, (cf ? FLAG_CF : 0) | (of ? FLAG_OF : 0));
      break;
    }
  }
  if (size === 4) r = r | 0;
  c.tHi = rh;
  return r;
}

/** Count source: imm (or implicit 1) or CL. */
function countOf(d: Insn): (c: Cpu) => number {
  const src = d.ops[1];
  const m = (d.ops[0]!.kind === K_REG ? d.ops[0]!.size : d.mem!.size) === 8 ? 0x3f : 0x1f;
  if (src === undefined) return () => 1;
  if (src.kind === K_IMM) {
    const n = src.lo & m;
    return () => n;
  }
  return (c) => c.lo[RCX]! & m;
}

function buildShift(d: Insn, op: number): Op {
  const dst = d.ops[0]!, next = d.next;
  const count = countOf(d);
  if (dst.kind === K_REG) {
    const r = dst.reg, size = dst.size;
    if (size === 8) {
      return (c) => {
        const n = count(c);
        if (n !== 0) {
          c.lo[r] = shiftOp(c, op, 8, c.lo[r]!, c.hi[r]!, n);
          c.hi[r] = c.tHi;
        }
        c.rip = next;
      };
    }
    return (c) => {
      const n = count(c);
      if (n !== 0) setReg(c, r, size, shiftOp(c, op, size, getReg(c, r, size), 0, n), 0);
      else if (size === 4) c.hi[r] = 0;
      c.rip = next;
    };
  }
  const ea = eaOf(d), size = d.mem!.size;
  return (c) => {
    const n = count(c);
    const a = rmwBegin(c, ea(c), size), ah = c.tHi;
    if (n !== 0) rmwEnd(c, size, shiftOp(c, op, size, a, ah, n), c.tHi);
    c.rip = next;
  };
}

/** shld/shrd: dst, src, count. */
function doubleShift(
  c: Cpu,
  left: boolean,
  size: number,
  a: number,
  ah: number,
  b: number,
  bh: number,
  n: number,
): number {
  const bits = size * 8;
  let r: number, rh = 0, cf: number;
  if (size === 8) {
    if (left) {
      r = shl64(c, a, ah, n);
      rh = c.tHi;
      const l2 = shr64(c, b, bh, 64 - n, false);
      r |= l2;
      rh |= c.tHi;
      cf = bit(a, ah, 64 - n);
    } else {
      r = shr64(c, a, ah, n, false);
      rh = c.tHi;
      const l2 = shl64(c, b, bh, 64 - n);
      r |= l2;
      rh |= c.tHi;
      cf = bit(a, ah, n - 1);
    }
  } else if (size === 4) {
    if (left) {
      r = (a << n) | (n === 0 ? 0 : b >>> (32 - n));
      cf = (a >>> (32 - n)) & 1;
    } else {
      r = (a >>> n) | (b << (32 - n));
      cf = (a >>> (n - 1)) & 1;
    }
    r |= 0;
  } else {
    // 16-bit: counts above 16 are undefined; model as a 32-bit concatenation shift (Intel).
    const cat = left ? ((a & 0xffff) << 16) | (b & 0xffff) : ((b & 0xffff) << 16) | (a & 0xffff);
    if (left) {
      const v = n < 32 ? cat << n : 0;
      r = (v >>> 16) & 0xffff;
      cf = n <= 32 ? (cat >>> (32 - n)) & 1 : 0;
      if (n > 16) r = ((((b & 0xffff) << 16) | (a & 0xffff)) << (n - 16) >>> 16) & 0xffff;
    } else {
      r = (n < 32 ? cat >>> n : 0) & 0xffff;
      cf = (cat >>> (n - 1)) & 1;
    }
  }
  const msbNew = size === 8 ? (rh >>> 31) & 1 : (r >>> (bits - 1)) & 1;
  const msbOld = size === 8 ? (ah >>> 31) & 1 : (a >>> (bits - 1)) & 1;
  c.lfOp = LF_EAGER_COF * 4 + szIdx(size);
  c.lfRes = r;
  c.lfResHi = rh;
  c.lfAux = (cf ? FLAG_CF : 0) | ((msbNew ^ msbOld) ? FLAG_OF : 0);
  c.tHi = rh;
  return r;
}

function buildDouble(d: Insn, left: boolean): Op {
  const dst = d.ops[0]!, src = d.ops[1]!, cnt = d.ops[2]!, next = d.next;
  const size = dst.kind === K_REG ? dst.size : d.mem!.size;
  const m = size === 8 ? 0x3f : 0x1f;
  const count = cnt.kind === K_IMM
    ? ((n: number) => () => n)(cnt.lo & m)
    : (c: Cpu) => c.lo[RCX]! & m;
  const rs = src.reg;
  if (dst.kind === K_REG) {
    const r = dst.reg;
    return (c) => {
      const n = count(c);
      if (n !== 0) {
        const a = getReg(c, r, size), ah = c.tHi;
        const b = getReg(c, rs, size), bh = c.tHi;
        setReg(
          c,
          r,
          size,
          doubleShift(c, left, size, a, size === 8 ? ah : 0, b, size === 8 ? bh : 0, n),
          c.tHi,
        );
      } else if (size === 4) c.hi[r] = 0;
      c.rip = next;
    };
  }
  const ea = eaOf(d);
  return (c) => {
    const n = count(c);
    const a = rmwBegin(c, ea(c), size), ah = c.tHi;
    if (n !== 0) {
      const b = getReg(c, rs, size), bh = c.tHi;
      rmwEnd(c, size, doubleShift(c, left, size, a, ah, b, size === 8 ? bh : 0, n), c.tHi);
    }
    c.rip = next;
  };
}

define([Mnemonic.Shl, Mnemonic.Sal], (d) => buildShift(d, SHL));
define([Mnemonic.Shr], (d) => buildShift(d, SHR));
define([Mnemonic.Sar], (d) => buildShift(d, SAR));
define([Mnemonic.Rol], (d) => buildShift(d, ROL));
define([Mnemonic.Ror], (d) => buildShift(d, ROR));
define([Mnemonic.Rcl], (d) => buildShift(d, RCL));
define([Mnemonic.Rcr], (d) => buildShift(d, RCR));
define([Mnemonic.Shld], (d) => buildDouble(d, true));
define([Mnemonic.Shrd], (d) => buildDouble(d, false));
