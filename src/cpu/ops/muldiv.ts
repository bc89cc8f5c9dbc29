/**
 * Multiplication and division: mul/imul (one-, two- and three-operand forms), div/idiv with #DE
 * on a zero divisor or a quotient that does not fit. After mul/imul CF=OF report truncation;
 * SF/ZF/PF are architecturally undefined and follow the low half of the result here (AF=0).
 */

import { Mnemonic } from "iced-x86";
import type { Cpu, Op } from "../cpu.ts";
import { LF_EAGER_COF } from "../flags.ts";
import { type Insn, K_IMM, K_REG } from "../insn.ts";
import { eaOf, getReg, readMem, setReg, szIdx } from "../operands.ts";
import { FLAG_CF, FLAG_OF, RAX, RDX, VEC_DE } from "../regs.ts";
import { divU128by64, imulTrunc64, mulLo64, mulS64, mulU64, TWO32 } from "../u64.ts";
import { define } from "./registry.ts";

function mulFlags(c: Cpu, sz: number, lo: number, hi: number, overflow: boolean): void {
  c.lfOp = LF_EAGER_COF * 4 + sz;
  c.lfRes = lo;
  c.lfResHi = hi;
  c.lfAux = overflow ? FLAG_CF | FLAG_OF : 0;
}

/** Source operand reader for the one-operand forms (zero-extended; tHi for 64-bit). */
function src1(d: Insn): [(c: Cpu) => number, number] {
  const op = d.ops[0]!;
  if (op.kind === K_REG) {
    const r = op.reg, size = op.size;
    return [(c) => getReg(c, r, size), size];
  }
  const ea = eaOf(d), size = d.mem!.size;
  return [(c) => readMem(c, ea(c), size), size];
}

function buildMul1(d: Insn, signed: boolean): Op {
  const [get, size] = src1(d);
  const next = d.next, sz = szIdx(size);
  return (c) => {
    const b = get(c), bh = c.tHi;
    switch (size) {
      case 1: {
        const a = c.lo[RAX]! & 0xff;
        const p = signed ? ((a << 24) >> 24) * ((b << 24) >> 24) : a * b;
        c.lo[RAX] = (c.lo[RAX]! & ~0xffff) | (p & 0xffff);
        const ovf = signed ? p !== ((p << 24) >> 24) : (p & 0xff00) !== 0;
        mulFlags(c, sz, p & 0xff, 0, ovf);
        break;
      }
      case 2: {
        const a = c.lo[RAX]! & 0xffff;
        const p = signed ? ((a << 16) >> 16) * ((b << 16) >> 16) : a * b;
        c.lo[RAX] = (c.lo[RAX]! & ~0xffff) | (p & 0xffff);
        c.lo[RDX] = (c.lo[RDX]! & ~0xffff) | ((p >>> 16) & 0xffff);
        const ovf = signed ? p !== ((p << 16) >> 16) : (p >>> 16) !== 0;
        mulFlags(c, sz, p & 0xffff, 0, ovf);
        break;
      }
      case 4: {
        const a = c.lo[RAX]!;
        const w = c.wide;
        if (signed) mulS64(a, a >> 31, b, b >> 31, w);
        else mulU64(a, 0, b, 0, w);
        c.lo[RAX] = w[0]!;
        c.hi[RAX] = 0;
        c.lo[RDX] = w[1]!;
        c.hi[RDX] = 0;
        const ovf = signed ? w[1] !== (w[0]! >> 31) : w[1] !== 0;
        mulFlags(c, sz, w[0]!, 0, ovf);
        break;
      }
      default: {
        const w = c.wide;
        if (signed) mulS64(c.lo[RAX]!, c.hi[RAX]!, b, bh, w);
        else mulU64(c.lo[RAX]!, c.hi[RAX]!, b, bh, w);
        const l0 = w[0]!, l1 = w[1]!, h0 = w[2]!, h1 = w[3]!;
        c.lo[RAX] = l0;
        c.hi[RAX] = l1;
        c.lo[RDX] = h0;
        c.hi[RDX] = h1;
        const s = l1 >> 31;
        const ovf = signed ? (h0 !== s || h1 !== s) : (h0 | h1) !== 0;
        mulFlags(c, sz, l0, l1, ovf);
      }
    }
    c.rip = next;
  };
}

/** imul r, r/m [, imm]: truncated signed product. */
function buildImulN(d: Insn): Op {
  const dst = d.ops[0]!, next = d.next, size = dst.size, sz = szIdx(size);
  const rd = dst.reg;
  // Operands: (dst, src) or (dst, src, imm).
  let getA: (c: Cpu) => number, getB: (c: Cpu) => number;
  const srcOp = d.ops[1]!;
  const readSrc = srcOp.kind === K_REG
    ? ((r: number) => (c: Cpu) => getReg(c, r, size))(srcOp.reg)
    : ((ea: (c: Cpu) => number) => (c: Cpu) => readMem(c, ea(c), size))(eaOf(d));
  if (d.ops.length === 3 && d.ops[2]!.kind === K_IMM) {
    const lo = d.ops[2]!.lo, hi = d.ops[2]!.hi;
    getA = readSrc;
    getB = (c) => {
      c.tHi = hi;
      return lo;
    };
  } else {
    getA = (c) => getReg(c, rd, size);
    getB = readSrc;
  }
  return (c) => {
    const a = getA(c), ah = c.tHi;
    const b = getB(c), bh = c.tHi;
    switch (size) {
      case 2: {
        const p = ((a << 16) >> 16) * ((b << 16) >> 16);
        setReg(c, rd, 2, p & 0xffff, 0);
        mulFlags(c, sz, p & 0xffff, 0, p !== ((p << 16) >> 16));
        break;
      }
      case 4: {
        const r = Math.imul(a, b);
        const exact = (a | 0) * (b | 0);
        c.lo[rd] = r;
        c.hi[rd] = 0;
        mulFlags(c, sz, r, 0, exact !== r);
        break;
      }
      default: {
        const w = c.wide;
        const ovf = imulTrunc64(a, ah, b, bh, w);
        const l0 = w[0]!, l1 = w[1]!;
        c.lo[rd] = l0;
        c.hi[rd] = l1;
        mulFlags(c, sz, l0, l1, ovf);
      }
    }
    c.rip = next;
  };
}

function buildDiv(d: Insn, signed: boolean): Op {
  const [get, size] = src1(d);
  const next = d.next;
  return (c) => {
    const b = get(c), bh = c.tHi;
    switch (size) {
      case 1: {
        const n = c.lo[RAX]! & 0xffff;
        if (!signed) {
          if (b === 0) c.raise(VEC_DE);
          const q = Math.floor(n / b);
          if (q > 0xff) c.raise(VEC_DE);
          c.lo[RAX] = (c.lo[RAX]! & ~0xffff) | ((n - q * b) << 8) | q;
        } else {
          const sn = (n << 16) >> 16, sb = (b << 24) >> 24;
          if (sb === 0) c.raise(VEC_DE);
          const q = Math.trunc(sn / sb);
          if (q > 127 || q < -128) c.raise(VEC_DE);
          const r = sn - q * sb;
          c.lo[RAX] = (c.lo[RAX]! & ~0xffff) | ((r & 0xff) << 8) | (q & 0xff);
        }
        break;
      }
      case 2: {
        const n = ((c.lo[RDX]! & 0xffff) << 16 | (c.lo[RAX]! & 0xffff)) >>> 0;
        let q: number, r: number;
        if (!signed) {
          if (b === 0) c.raise(VEC_DE);
          q = Math.floor(n / b);
          if (q > 0xffff) c.raise(VEC_DE);
          r = n - q * b;
        } else {
          const sn = n | 0, sb = (b << 16) >> 16;
          if (sb === 0) c.raise(VEC_DE);
          q = Math.trunc(sn / sb);
          if (q > 32767 || q < -32768) c.raise(VEC_DE);
          r = sn - q * sb;
        }
        c.lo[RAX] = (c.lo[RAX]! & ~0xffff) | (q & 0xffff);
        c.lo[RDX] = (c.lo[RDX]! & ~0xffff) | (r & 0xffff);
        break;
      }
      case 4: {
        const lo = c.lo[RAX]!, hi = c.lo[RDX]!;
        if (b === 0) c.raise(VEC_DE);
        let q: number, r: number;
        if (!signed) {
          const bu = b >>> 0;
          if ((hi >>> 0) >= bu) c.raise(VEC_DE);
          if (hi === 0) {
            q = Math.floor((lo >>> 0) / bu);
            r = (lo >>> 0) - q * bu;
          } else {
            const w = c.wide;
            divU128by64(lo, hi, 0, 0, b, 0, w);
            q = w[0]!;
            r = w[2]!;
          }
        } else {
          // Signed 64/32: work on magnitudes.
          const neg = hi < 0;
          let nlo = lo, nhi = hi;
          if (neg) {
            nlo = (-lo) | 0;
            nhi = (~hi + (lo === 0 ? 1 : 0)) | 0;
          }
          const sb = b | 0, db = Math.abs(sb);
          const w = c.wide;
          if (!divU128by64(nlo, nhi, 0, 0, db, 0, w) || w[1] !== 0) c.raise(VEC_DE);
          const qm = w[0]! >>> 0, rm = w[2]! >>> 0;
          const qneg = neg !== (sb < 0);
          if (qneg ? qm > 0x80000000 : qm > 0x7fffffff) c.raise(VEC_DE);
          q = qneg ? -qm : qm;
          r = neg ? -rm : rm;
        }
        c.lo[RAX] = q | 0;
        c.hi[RAX] = 0;
        c.lo[RDX] = r | 0;
        c.hi[RDX] = 0;
        break;
      }
      default: {
        const w = c.wide;
        let n0 = c.lo[RAX]!, n1 = c.hi[RAX]!, n2 = c.lo[RDX]!, n3 = c.hi[RDX]!;
        let dl = b, dh = bh;
        if ((dl | dh) === 0) c.raise(VEC_DE);
        // Fast path: a dividend that is RAX alone (RDX zero, or RAX's sign extension for IDIV)
        // and a divisor, both of magnitude at most 2^53: exact in doubles, and the quotient
        // cannot overflow. r = n % d and q = (n - r) / d are exact (truncating, remainder with
        // the dividend's sign, as IDIV).
        if (
          signed
            ? n2 === n1 >> 31 && n3 === n2 && n1 >= -0x200000 && n1 < 0x200000 &&
              dh >= -0x200000 && dh < 0x200000
            : (n2 | n3) === 0 && (n1 >>> 0) < 0x200000 && (dh >>> 0) < 0x200000
        ) {
          const n = signed ? n1 * TWO32 + (n0 >>> 0) : (n1 >>> 0) * TWO32 + (n0 >>> 0);
          const dv = signed ? dh * TWO32 + (dl >>> 0) : (dh >>> 0) * TWO32 + (dl >>> 0);
          const r = n % dv, q = (n - r) / dv;
          c.lo[RAX] = q | 0;
          c.hi[RAX] = Math.floor(q / TWO32);
          c.lo[RDX] = r | 0;
          c.hi[RDX] = Math.floor(r / TWO32);
          break;
        }
        if (!signed) {
          if (!divU128by64(n0, n1, n2, n3, dl, dh, w)) c.raise(VEC_DE);
          c.lo[RAX] = w[0]!;
          c.hi[RAX] = w[1]!;
          c.lo[RDX] = w[2]!;
          c.hi[RDX] = w[3]!;
          break;
        }
        const neg = n3 < 0, dneg = dh < 0;
        if (neg) {
          // 128-bit negate: invert, add 1 (the carry goes up while a word wraps to 0).
          n0 = (~n0 + 1) | 0;
          n1 = ~n1;
          n2 = ~n2;
          n3 = ~n3;
          if (n0 === 0) {
            n1 = (n1 + 1) | 0;
            if (n1 === 0) {
              n2 = (n2 + 1) | 0;
              if (n2 === 0) n3 = (n3 + 1) | 0;
            }
          }
        }
        if (dneg) {
          dl = (-b) | 0;
          dh = (~bh + (b === 0 ? 1 : 0)) | 0;
        }
        if (!divU128by64(n0, n1, n2, n3, dl, dh, w)) c.raise(VEC_DE);
        let ql = w[0]!, qh = w[1]!;
        let rl = w[2]!, rh = w[3]!;
        const qneg = neg !== dneg;
        // Quotient magnitude limits: 2^63 (negative) or 2^63-1 (positive).
        const qmag = (qh >>> 0) * TWO32 + (ql >>> 0);
        if (qneg ? qmag > 9223372036854775808 : (qh < 0)) c.raise(VEC_DE);
        if (qneg && (qh >>> 0) > 0x80000000) c.raise(VEC_DE);
        if (qneg && (qh >>> 0) === 0x80000000 && ql !== 0) c.raise(VEC_DE);
        if (qneg) {
          const nl = (-ql) | 0;
          qh = (~qh + (ql === 0 ? 1 : 0)) | 0;
          ql = nl;
        }
        if (neg) {
          const nl = (-rl) | 0;
          rh = (~rh + (rl === 0 ? 1 : 0)) | 0;
          rl = nl;
        }
        c.lo[RAX] = ql;
        c.hi[RAX] = qh;
        c.lo[RDX] = rl;
        c.hi[RDX] = rh;
      }
    }
    c.rip = next;
  };
}

define([Mnemonic.Mul], (d) => buildMul1(d, false));
define([Mnemonic.Imul], (d) => d.ops.length === 1 ? buildMul1(d, true) : buildImulN(d));
define([Mnemonic.Div], (d) => buildDiv(d, false));
define([Mnemonic.Idiv], (d) => buildDiv(d, true));

export { mulLo64 };
