/**
 * BMI1 (andn bextr blsi blsmsk blsr; tzcnt lives in bit.ts), BMI2 (bzhi pdep pext rorx sarx shlx
 * shrx mulx) and ADX (adcx adox). The VEX forms take their operands in iced's order:
 * andn/pdep/pext/mulx `dst, vvvv, r/m`; bextr/bzhi/sarx/shlx/shrx `dst, r/m, vvvv`;
 * blsi/blsmsk/blsr `vvvv(dst), r/m`; rorx `dst, r/m, imm8`. Operand size is 32 (W0) or 64 (W1);
 * 32-bit results zero-extend into the full register.
 *
 * Flags (SDM): andn SF ZF, CF=OF=0 · bextr ZF, CF=OF=0 · blsi SF ZF, CF = src≠0 · blsmsk SF,
 * ZF=0, CF = src=0 · blsr SF ZF, CF = src=0 · bzhi SF ZF, CF = index > size-1 — all with OF=0
 * and AF/PF undefined (here: AF=0, PF from the result). The rest leave RFLAGS alone, except adcx
 * (CF only) and adox (OF only).
 */

import { Mnemonic } from "iced-x86";
import type { Cpu, Op } from "../cpu.ts";
import { getCF, getOF, LF_EAGER_COF, LF_LOGIC, materialize } from "../flags.ts";
import { type Insn, K_IMM, K_REG } from "../insn.ts";
import { eaOf, readMem } from "../operands.ts";
import { FLAG_CF, FLAG_OF, RDX } from "../regs.ts";
import { mulU64 } from "../u64.ts";
import { define } from "./registry.ts";

type Get = (c: Cpu) => number;

/** Reader for operand `i` (register or memory): low half returned, high half in tHi (0 for 32). */
function operand(d: Insn, i: number, size: number): Get {
  const o = d.ops[i]!;
  if (o.kind === K_REG) {
    const r = o.reg;
    if (size === 8) {
      return (c) => {
        c.tHi = c.hi[r]!;
        return c.lo[r]!;
      };
    }
    return (c) => {
      c.tHi = 0;
      return c.lo[r]!;
    };
  }
  const ea = eaOf(d);
  if (size === 8) return (c) => readMem(c, ea(c), 8);
  return (c) => {
    const v = c.read32(ea(c));
    c.tHi = 0;
    return v;
  };
}

/** Records SF/ZF/PF from (lo, hi) with CF=OF=AF=0. */
function logicFlags(c: Cpu, sz: number, lo: number, hi: number): void {
  c.lfOp = LF_LOGIC * 4 + sz;
  c.lfRes = lo;
  c.lfResHi = hi;
}

/** Records SF/ZF/PF from (lo, hi), CF as given, OF=AF=0. */
function cfFlags(c: Cpu, sz: number, lo: number, hi: number, cf: boolean): void {
  c.lfOp = LF_EAGER_COF * 4 + sz;
  c.lfRes = lo;
  c.lfResHi = hi;
  c.lfAux = cf ? FLAG_CF : 0;
}

function sizeOf(d: Insn): number {
  return d.ops[0]!.size;
}

// ---- andn ---------------------------------------------------------------------------------------

function buildAndn(d: Insn): Op {
  const size = sizeOf(d), sz = size === 8 ? 3 : 2, next = d.next;
  const rd = d.ops[0]!.reg, r1 = d.ops[1]!.reg;
  const get = operand(d, 2, size);
  return (c) => {
    const b = get(c), bh = c.tHi;
    const lo = ~c.lo[r1]! & b;
    const hi = size === 8 ? ~c.hi[r1]! & bh : 0;
    c.lo[rd] = lo;
    c.hi[rd] = hi;
    logicFlags(c, sz, lo, hi);
    c.rip = next;
  };
}

// ---- bextr / bzhi -------------------------------------------------------------------------------

/** (lo, hi) >>> n for 0 <= n < 64 → lo, tHi. */
function shr64(c: Cpu, lo: number, hi: number, n: number): number {
  if (n === 0) {
    c.tHi = hi;
    return lo;
  }
  if (n < 32) {
    c.tHi = hi >>> n;
    return (lo >>> n) | (hi << (32 - n));
  }
  c.tHi = 0;
  return hi >>> (n - 32);
}

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

function sar64(c: Cpu, lo: number, hi: number, n: number): number {
  if (n === 0) {
    c.tHi = hi;
    return lo;
  }
  if (n < 32) {
    c.tHi = hi >> n;
    return (lo >>> n) | (hi << (32 - n));
  }
  c.tHi = hi >> 31;
  return hi >> (n - 32);
}

/** Keeps the low `n` bits of (lo, hi) (n >= 64 keeps everything) → lo, tHi. */
function keepLow(c: Cpu, lo: number, hi: number, n: number): number {
  if (n >= 64) {
    c.tHi = hi;
    return lo;
  }
  if (n >= 32) {
    c.tHi = n === 32 ? 0 : hi & (-1 >>> (64 - n));
    return lo;
  }
  c.tHi = 0;
  return n === 0 ? 0 : lo & (-1 >>> (32 - n));
}

function buildBextr(d: Insn): Op {
  const size = sizeOf(d), sz = size === 8 ? 3 : 2, bits = size * 8, next = d.next;
  const rd = d.ops[0]!.reg, rc = d.ops[2]!.reg;
  const get = operand(d, 1, size);
  return (c) => {
    const a = get(c), ah = c.tHi;
    const ctl = c.lo[rc]!;
    const start = ctl & 0xff, len = (ctl >>> 8) & 0xff;
    let lo = 0, hi = 0;
    if (start < bits) {
      const s = shr64(c, a, ah, start), sh = c.tHi;
      lo = keepLow(c, s, sh, len);
      hi = c.tHi;
    }
    c.lo[rd] = lo;
    c.hi[rd] = hi;
    logicFlags(c, sz, lo, hi);
    c.rip = next;
  };
}

function buildBzhi(d: Insn): Op {
  const size = sizeOf(d), sz = size === 8 ? 3 : 2, bits = size * 8, next = d.next;
  const rd = d.ops[0]!.reg, rc = d.ops[2]!.reg;
  const get = operand(d, 1, size);
  return (c) => {
    const a = get(c), ah = c.tHi;
    const n = c.lo[rc]! & 0xff;
    const lo = keepLow(c, a, ah, n), hi = c.tHi;
    c.lo[rd] = lo;
    c.hi[rd] = hi;
    cfFlags(c, sz, lo, hi, n > bits - 1);
    c.rip = next;
  };
}

// ---- blsi / blsmsk / blsr -----------------------------------------------------------------------

const BLSI = 0, BLSMSK = 1, BLSR = 2;

function buildBls(d: Insn, kind: number): Op {
  const size = sizeOf(d), sz = size === 8 ? 3 : 2, next = d.next;
  const rd = d.ops[0]!.reg;
  const get = operand(d, 1, size);
  return (c) => {
    const a = get(c), ah = c.tHi;
    // a - 1 as (ml, mh)
    const ml = (a - 1) | 0;
    const mh = size === 8 ? (a === 0 ? (ah - 1) | 0 : ah) : 0;
    const zero = (a | ah) === 0;
    let lo: number, hi: number;
    if (kind === BLSI) {
      // a & -a
      lo = a & -a;
      hi = size === 8 ? ah & (a === 0 ? -ah : ~ah) : 0;
    } else if (kind === BLSMSK) {
      lo = a ^ ml;
      hi = size === 8 ? ah ^ mh : 0;
    } else {
      lo = a & ml;
      hi = size === 8 ? ah & mh : 0;
    }
    c.lo[rd] = lo;
    c.hi[rd] = hi;
    cfFlags(c, sz, lo, hi, kind === BLSI ? !zero : zero);
    c.rip = next;
  };
}

// ---- pdep / pext --------------------------------------------------------------------------------

/** pdep: deposits the low source bits at the mask's set bits; pext: gathers them. */
function buildPdepPext(d: Insn, dep: boolean): Op {
  const size = sizeOf(d), next = d.next;
  const rd = d.ops[0]!.reg, rs = d.ops[1]!.reg;
  const get = operand(d, 2, size);
  return (c) => {
    let ml = get(c), mh = c.tHi;
    const sl = c.lo[rs]!, sh = size === 8 ? c.hi[rs]! : 0;
    let lo = 0, hi = 0;
    if (dep) {
      // Walk the mask's set bits, low to high, consuming source bits.
      let k = 0; // source bit index
      while (ml !== 0) {
        const b = ml & -ml;
        if ((k < 32 ? (sl >>> k) : (sh >>> (k - 32))) & 1) lo |= b;
        ml ^= b;
        k++;
      }
      while (mh !== 0) {
        const b = mh & -mh;
        if ((k < 32 ? (sl >>> k) : (sh >>> (k - 32))) & 1) hi |= b;
        mh ^= b;
        k++;
      }
    } else {
      let k = 0; // destination bit index
      while (ml !== 0) {
        const b = ml & -ml;
        if (sl & b) {
          if (k < 32) lo |= 1 << k;
          else hi |= 1 << (k - 32);
        }
        ml ^= b;
        k++;
      }
      while (mh !== 0) {
        const b = mh & -mh;
        if (sh & b) {
          if (k < 32) lo |= 1 << k;
          else hi |= 1 << (k - 32);
        }
        mh ^= b;
        k++;
      }
    }
    c.lo[rd] = lo;
    c.hi[rd] = hi;
    c.rip = next;
  };
}

// ---- rorx / sarx / shlx / shrx ------------------------------------------------------------------

function buildRorx(d: Insn): Op {
  const size = sizeOf(d), next = d.next;
  const rd = d.ops[0]!.reg;
  const get = operand(d, 1, size);
  const imm = d.ops[2]!;
  if (imm.kind !== K_IMM) throw new Error("rorx: expected an immediate");
  const n = imm.lo & (size * 8 - 1);
  if (size === 4) {
    return (c) => {
      const a = get(c);
      c.lo[rd] = n === 0 ? a : (a >>> n) | (a << (32 - n));
      c.hi[rd] = 0;
      c.rip = next;
    };
  }
  return (c) => {
    let a = get(c), ah = c.tHi;
    let k = n;
    if (k >= 32) {
      const t = a;
      a = ah;
      ah = t;
      k -= 32;
    }
    if (k === 0) {
      c.lo[rd] = a;
      c.hi[rd] = ah;
    } else {
      c.lo[rd] = (a >>> k) | (ah << (32 - k));
      c.hi[rd] = (ah >>> k) | (a << (32 - k));
    }
    c.rip = next;
  };
}

const SHLX = 0, SHRX = 1, SARX = 2;

function buildShiftx(d: Insn, kind: number): Op {
  const size = sizeOf(d), next = d.next, m = size * 8 - 1;
  const rd = d.ops[0]!.reg, rc = d.ops[2]!.reg;
  const get = operand(d, 1, size);
  if (size === 4) {
    return (c) => {
      const a = get(c);
      const n = c.lo[rc]! & m;
      c.lo[rd] = kind === SHLX ? a << n : kind === SHRX ? a >>> n : a >> n;
      c.hi[rd] = 0;
      c.rip = next;
    };
  }
  return (c) => {
    const a = get(c), ah = c.tHi;
    const n = c.lo[rc]! & m;
    const lo = kind === SHLX
      ? shl64(c, a, ah, n)
      : kind === SHRX
      ? shr64(c, a, ah, n)
      : sar64(c, a, ah, n);
    c.lo[rd] = lo;
    c.hi[rd] = c.tHi;
    c.rip = next;
  };
}

// ---- mulx ---------------------------------------------------------------------------------------

function buildMulx(d: Insn): Op {
  const size = sizeOf(d), next = d.next;
  const rHi = d.ops[0]!.reg, rLo = d.ops[1]!.reg;
  const get = operand(d, 2, size);
  return (c) => {
    const b = get(c), bh = c.tHi;
    const w = c.wide;
    if (size === 4) mulU64(c.lo[RDX]!, 0, b, 0, w);
    else mulU64(c.lo[RDX]!, c.hi[RDX]!, b, bh, w);
    // The low half is written first: with identical destinations the high half wins.
    if (size === 4) {
      c.lo[rLo] = w[0]!;
      c.hi[rLo] = 0;
      c.lo[rHi] = w[1]!;
      c.hi[rHi] = 0;
    } else {
      const l0 = w[0]!, l1 = w[1]!, h0 = w[2]!, h1 = w[3]!;
      c.lo[rLo] = l0;
      c.hi[rLo] = l1;
      c.lo[rHi] = h0;
      c.hi[rHi] = h1;
    }
    c.rip = next;
  };
}

// ---- adcx / adox --------------------------------------------------------------------------------

function buildAdx(d: Insn, ox: boolean): Op {
  const size = sizeOf(d), next = d.next;
  const rd = d.ops[0]!.reg;
  const get = operand(d, 1, size);
  const flag = ox ? FLAG_OF : FLAG_CF;
  return (c) => {
    const b = get(c), bh = c.tHi;
    const cin = (ox ? getOF(c) : getCF(c)) ? 1 : 0;
    const s = (c.lo[rd]! >>> 0) + (b >>> 0) + cin;
    let cout: boolean;
    if (size === 4) {
      c.lo[rd] = s | 0;
      c.hi[rd] = 0;
      cout = s > 0xffffffff;
    } else {
      const t = (c.hi[rd]! >>> 0) + (bh >>> 0) + (s > 0xffffffff ? 1 : 0);
      c.lo[rd] = s | 0;
      c.hi[rd] = t | 0;
      cout = t > 0xffffffff;
    }
    materialize(c);
    c.eflags = (c.eflags & ~flag) | (cout ? flag : 0);
    c.rip = next;
  };
}

define([Mnemonic.Andn], buildAndn);
define([Mnemonic.Bextr], buildBextr);
define([Mnemonic.Bzhi], buildBzhi);
define([Mnemonic.Blsi], (d) => buildBls(d, BLSI));
define([Mnemonic.Blsmsk], (d) => buildBls(d, BLSMSK));
define([Mnemonic.Blsr], (d) => buildBls(d, BLSR));
define([Mnemonic.Pdep], (d) => buildPdepPext(d, true));
define([Mnemonic.Pext], (d) => buildPdepPext(d, false));
define([Mnemonic.Rorx], buildRorx);
define([Mnemonic.Shlx], (d) => buildShiftx(d, SHLX));
define([Mnemonic.Shrx], (d) => buildShiftx(d, SHRX));
define([Mnemonic.Sarx], (d) => buildShiftx(d, SARX));
define([Mnemonic.Mulx], buildMulx);
define([Mnemonic.Adcx], (d) => buildAdx(d, false));
define([Mnemonic.Adox], (d) => buildAdx(d, true));
