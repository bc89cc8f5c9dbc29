/**
 * The x87 FPU: loads and stores (fld/fst/fstp m32/m64/m80/st, fild/fist/fistp/fisttp m16/32/64,
 * fbld/fbstp, constants), arithmetic (fadd/fsub/fsubr/fmul/fdiv/fdivr with their pop, memory and
 * integer forms, fsqrt, frndint, fchs, fabs), comparisons (fcom/fcomp/fcompp, fucom*, fcomi*,
 * fucomi*, ficom*, ftst, fxam), and fxch, ffree/ffreep, fincstp/fdecstp, fnop, fcmovcc.
 * Control/state instructions are in x87_ctl.ts, transcendentals & co. in x87_trans.ts (imported
 * here so that ops/all.ts needs one line).
 *
 * Arithmetic is fp/f80.ts (exact software extended precision). Semantics follow the SDM where it
 * is specific and the reference hardware (tools/fixturegen: AMD EPYC) where it is not; see
 * x87_util.ts for the exception model.
 */

import { Mnemonic } from "iced-x86";
import type { Cpu, Op } from "../cpu.ts";
import {
  C_INF,
  C_ZERO,
  CMP_UN,
  compare,
  deAbort,
  denormCheck,
  fadd,
  fdiv,
  FE_DE,
  FE_IE,
  FE_OE,
  FE_SF,
  FE_UE,
  FE_ZE,
  fmul,
  fromInt64,
  fsqrt,
  FX,
  fxBegin,
  isNaNc,
  pcBits,
  R,
  R64,
  RI,
  roundToInt,
  setZero,
  special1,
  store80,
  store80w,
  toF32,
  toF64,
  toInt,
  Unp,
  unpackF32,
  unpackF64,
} from "../fp/f80.ts";
import { setArithFlags, testCC } from "../flags.ts";
import type { Insn } from "../insn.ts";
import { eaOf } from "../operands.ts";
import { FLAG_AF, FLAG_CF, FLAG_OF, FLAG_PF, FLAG_SF, FLAG_ZF } from "../regs.ts";
import { define } from "./registry.ts";
import {
  A,
  B,
  copySt,
  fopOf,
  fpCheck,
  fpFinish,
  fxamCode,
  getSt,
  isEmpty,
  M80,
  OUT80,
  phys,
  pop,
  pushOverflows,
  pushTop,
  putSt,
  putStRaw,
  read80,
  read80w,
  setCC,
  setTop,
  stackOverflow,
  stackUnderflow,
  SW_C1,
  T,
  topOf,
  unmasked,
  write80,
} from "./x87_util.ts";
import { bcdToUnp, fldConst, unpToBcd } from "./x87_trans.ts";
import "./x87_ctl.ts";

/** Exceptions that prevent the result from being written when unmasked. */
const PRE = FE_IE | FE_DE | FE_ZE;

// ---- memory operand kinds -----------------------------------------------------------------------

const M_F32 = 0, M_F64 = 1, M_F80 = 2, M_I16 = 3, M_I32 = 4, M_I64 = 5, M_BCD = 6;

function memKind(d: Insn): number {
  const name = Mnemonic[d.mnemonic]!;
  const size = d.mem!.size;
  if (name === "Fbld" || name === "Fbstp") return M_BCD;
  const isInt = name.startsWith("Fi") && name !== "Fincstp";
  if (isInt) return size === 2 ? M_I16 : size === 4 ? M_I32 : M_I64;
  return size === 4 ? M_F32 : size === 8 ? M_F64 : M_F80;
}

/** Reads a memory operand of `kind` into u (numbers, not m80/BCD). */
function loadMem(c: Cpu, lin: number, kind: number, u: Unp): void {
  switch (kind) {
    case M_F32:
      unpackF32(c.read32(lin), u);
      return;
    case M_F64: {
      const lo = c.read64(lin);
      unpackF64(lo, c.tHi, u);
      return;
    }
    case M_F80:
      read80(c, lin, u);
      return;
    case M_I16: {
      const v = (c.read16(lin) << 16) >> 16;
      fromInt64(v, v >> 31, u);
      return;
    }
    case M_I32: {
      const v = c.read32(lin);
      fromInt64(v, v >> 31, u);
      return;
    }
    case M_I64: {
      const lo = c.read64(lin);
      fromInt64(lo, c.tHi, u);
      return;
    }
  }
}

// ---- arithmetic -----------------------------------------------------------------------------------

const OP_ADD = 0, OP_SUB = 1, OP_SUBR = 2, OP_MUL = 3, OP_DIV = 4, OP_DIVR = 5;

function arith(op: number, x: Unp, y: Unp, p: number): void {
  switch (op) {
    case OP_ADD:
      fadd(x, y, false, p);
      return;
    case OP_SUB:
      fadd(x, y, true, p);
      return;
    case OP_SUBR:
      fadd(y, x, true, p);
      return;
    case OP_MUL:
      fmul(x, y, p);
      return;
    case OP_DIV:
      fdiv(x, y, p);
      return;
    default:
      fdiv(y, x, p);
  }
}

const ARITH_OF: Partial<Record<Mnemonic, [number, boolean]>> = {
  [Mnemonic.Fadd]: [OP_ADD, false],
  [Mnemonic.Faddp]: [OP_ADD, true],
  [Mnemonic.Fiadd]: [OP_ADD, false],
  [Mnemonic.Fsub]: [OP_SUB, false],
  [Mnemonic.Fsubp]: [OP_SUB, true],
  [Mnemonic.Fisub]: [OP_SUB, false],
  [Mnemonic.Fsubr]: [OP_SUBR, false],
  [Mnemonic.Fsubrp]: [OP_SUBR, true],
  [Mnemonic.Fisubr]: [OP_SUBR, false],
  [Mnemonic.Fmul]: [OP_MUL, false],
  [Mnemonic.Fmulp]: [OP_MUL, true],
  [Mnemonic.Fimul]: [OP_MUL, false],
  [Mnemonic.Fdiv]: [OP_DIV, false],
  [Mnemonic.Fdivp]: [OP_DIV, true],
  [Mnemonic.Fidiv]: [OP_DIV, false],
  [Mnemonic.Fdivr]: [OP_DIVR, false],
  [Mnemonic.Fdivrp]: [OP_DIVR, true],
  [Mnemonic.Fidivr]: [OP_DIVR, false],
};

function buildArith(d: Insn): Op {
  const [op, popAfter] = ARITH_OF[d.mnemonic]!;
  const ip = d.rip, fop = fopOf(d), next = d.next;
  if (d.mem !== null) {
    const ea = eaOf(d), kind = memKind(d);
    return (c) => {
      fpCheck(c);
      const lin = ea(c);
      loadMem(c, lin, kind, B);
      fxBegin(c.fcw);
      if (isEmpty(c, 0)) stackUnderflow(R);
      else {
        getSt(c, 0, A);
        arith(op, A, B, pcBits(c.fcw));
      }
      if (!unmasked(c, PRE)) putSt(c, 0, R);
      fpFinish(c);
      c.fip = ip;
      c.fop = fop;
      c.fdp = lin;
      c.rip = next;
    };
  }
  const di = d.ops[0]!.reg, si = d.ops.length > 1 ? d.ops[1]!.reg : 1;
  return (c) => {
    fpCheck(c);
    fxBegin(c.fcw);
    if (isEmpty(c, di) || isEmpty(c, si)) stackUnderflow(R);
    else {
      getSt(c, di, A);
      getSt(c, si, B);
      arith(op, A, B, pcBits(c.fcw));
    }
    if (!unmasked(c, PRE)) {
      putSt(c, di, R);
      if (popAfter) pop(c);
    }
    fpFinish(c);
    c.fip = ip;
    c.fop = fop;
    c.rip = next;
  };
}

define([
  Mnemonic.Fadd,
  Mnemonic.Faddp,
  Mnemonic.Fiadd,
  Mnemonic.Fsub,
  Mnemonic.Fsubp,
  Mnemonic.Fisub,
  Mnemonic.Fsubr,
  Mnemonic.Fsubrp,
  Mnemonic.Fisubr,
  Mnemonic.Fmul,
  Mnemonic.Fmulp,
  Mnemonic.Fimul,
  Mnemonic.Fdiv,
  Mnemonic.Fdivp,
  Mnemonic.Fidiv,
  Mnemonic.Fdivr,
  Mnemonic.Fdivrp,
  Mnemonic.Fidivr,
], buildArith);

// ---- one-operand ST(0) operations -----------------------------------------------------------------

/**
 * An operation on ST(0) replacing it: `k` computes R from A (FX already begun). Stack underflow
 * and the pre-computation exceptions are handled here.
 */
function unaryOp(d: Insn, k: (c: Cpu) => void): Op {
  const ip = d.rip, fop = fopOf(d), next = d.next;
  return (c) => {
    fpCheck(c);
    fxBegin(c.fcw);
    if (isEmpty(c, 0)) stackUnderflow(R);
    else {
      getSt(c, 0, A);
      k(c);
    }
    if (!unmasked(c, PRE)) putSt(c, 0, R);
    fpFinish(c);
    c.fip = ip;
    c.fop = fop;
    c.rip = next;
  };
}

define([Mnemonic.Fsqrt], (d) => unaryOp(d, (c) => fsqrt(A, pcBits(c.fcw))));

define([Mnemonic.Frndint], (d) =>
  unaryOp(d, () => {
    if (special1(A)) return;
    if (A.cls === C_INF || A.cls === C_ZERO) {
      R.cls = A.cls;
      R.s = A.s;
      R.h = A.h;
      R.l = A.l;
      R.x = A.x;
      return;
    }
    denormCheck(A);
    if (!deAbort()) roundToInt(A);
  }));

/** fchs / fabs: sign-bit operations on the raw register (NaNs included, no exceptions). */
function buildSign(d: Insn, abs: boolean): Op {
  const ip = d.rip, fop = fopOf(d), next = d.next;
  return (c) => {
    fpCheck(c);
    fxBegin(c.fcw);
    if (isEmpty(c, 0)) {
      stackUnderflow(R);
      if (!unmasked(c, FE_IE)) putSt(c, 0, R);
    } else {
      const p = phys(c, 0) * 10 + 9;
      c.fpr[p] = abs ? c.fpr[p]! & 0x7f : c.fpr[p]! ^ 0x80;
    }
    fpFinish(c);
    c.fip = ip;
    c.fop = fop;
    c.rip = next;
  };
}
define([Mnemonic.Fchs], (d) => buildSign(d, false));
define([Mnemonic.Fabs], (d) => buildSign(d, true));

// ---- loads ----------------------------------------------------------------------------------------

/**
 * Pushes: `k` leaves the value to push in R (or raw bytes in OUT80 when it returns true) after
 * FX was begun. Stack overflow (ST(7) not empty) gives IE/SF/C1 and, masked, pushes the default NaN.
 */
function pushValue(c: Cpu, raw: boolean): void {
  if (pushOverflows(c)) {
    stackOverflow(R);
    if (unmasked(c, FE_IE)) return;
    pushTop(c);
    putSt(c, 0, R);
    return;
  }
  if (unmasked(c, FE_IE)) return;
  pushTop(c);
  if (raw) putStRaw(c, 0, OUT80, 0);
  else putSt(c, 0, R);
}

/** Quiets an SNaN operand (IE) into R, or copies u into R (DE for a denormal). */
function loadConvert(u: Unp): void {
  if (isNaNc(u.cls)) {
    special1(u);
    return;
  }
  denormCheck(u);
  R.cls = u.cls;
  R.s = u.s;
  R.x = u.x;
  R.h = u.h;
  R.l = u.l;
}

function buildFld(d: Insn): Op {
  const ip = d.rip, fop = fopOf(d), next = d.next;
  if (d.mem !== null) {
    const ea = eaOf(d), kind = memKind(d);
    return (c) => {
      fpCheck(c);
      const lin = ea(c);
      let raw = false;
      if (kind === M_F80) {
        read80w(c, lin);
        store80w(OUT80, 0, M80.l, M80.h, M80.se);
        raw = true;
        fxBegin(c.fcw);
      } else if (kind === M_BCD) {
        read80w(c, lin);
        fxBegin(c.fcw);
        bcdToUnp(M80.l, M80.h, M80.se, R);
      } else {
        loadMem(c, lin, kind, B);
        fxBegin(c.fcw);
        loadConvert(B);
      }
      pushValue(c, raw);
      fpFinish(c);
      c.fip = ip;
      c.fop = fop;
      c.fdp = lin;
      c.rip = next;
    };
  }
  const si = d.ops[0]!.reg;
  return (c) => {
    fpCheck(c);
    fxBegin(c.fcw);
    let raw = false;
    if (isEmpty(c, si)) stackUnderflow(R);
    else {
      const p = phys(c, si) * 10;
      for (let k = 0; k < 10; k++) OUT80[k] = c.fpr[p + k]!;
      raw = true;
    }
    pushValue(c, raw);
    fpFinish(c);
    c.fip = ip;
    c.fop = fop;
    c.rip = next;
  };
}
define([Mnemonic.Fld, Mnemonic.Fild, Mnemonic.Fbld], buildFld);

function buildConst(d: Insn): Op {
  const ip = d.rip, fop = fopOf(d), next = d.next, m = d.mnemonic;
  return (c) => {
    fpCheck(c);
    fxBegin(c.fcw);
    fldConst(m, R);
    pushValue(c, false);
    fpFinish(c);
    c.fip = ip;
    c.fop = fop;
    c.rip = next;
  };
}
define([
  Mnemonic.Fld1,
  Mnemonic.Fldz,
  Mnemonic.Fldpi,
  Mnemonic.Fldl2e,
  Mnemonic.Fldl2t,
  Mnemonic.Fldlg2,
  Mnemonic.Fldln2,
], buildConst);

// ---- stores ---------------------------------------------------------------------------------------

const POPS: Partial<Record<Mnemonic, boolean>> = {
  [Mnemonic.Fst]: false,
  [Mnemonic.Fstp]: true,
  [Mnemonic.Fstpnce]: true,
  [Mnemonic.Fist]: false,
  [Mnemonic.Fistp]: true,
  [Mnemonic.Fisttp]: true,
  [Mnemonic.Fbstp]: true,
};

const INT_INDEF_LO = [0x8000, 0x80000000 | 0, 0];

function buildStore(d: Insn): Op {
  const popAfter = POPS[d.mnemonic]!;
  const ip = d.rip, fop = fopOf(d), next = d.next;
  if (d.mem === null) {
    const di = d.ops[0]!.reg;
    if (d.mnemonic === Mnemonic.Fstpnce) {
      // D9 D8+i: FSTP without the empty check (an empty ST(0) is just popped)
      return (c) => {
        fpCheck(c);
        if (!isEmpty(c, 0)) copySt(c, di, 0);
        pop(c);
        c.fsw &= ~SW_C1;
        c.fip = ip;
        c.fop = fop;
        c.rip = next;
      };
    }
    return (c) => {
      fpCheck(c);
      fxBegin(c.fcw);
      if (isEmpty(c, 0)) {
        stackUnderflow(R);
        if (!unmasked(c, FE_IE)) {
          putSt(c, di, R);
          if (popAfter) pop(c);
        }
      } else {
        copySt(c, di, 0);
        if (popAfter) pop(c);
      }
      fpFinish(c);
      c.fip = ip;
      c.fop = fop;
      c.rip = next;
    };
  }
  const ea = eaOf(d), kind = memKind(d);
  const trunc = d.mnemonic === Mnemonic.Fisttp;
  return (c) => {
    fpCheck(c);
    const lin = ea(c);
    fxBegin(c.fcw);
    const empty = isEmpty(c, 0);
    if (empty) stackUnderflow(A);
    else getSt(c, 0, A);
    // compute the memory image, then store (a fault leaves the state untouched)
    let lo = 0, hi = 0;
    switch (kind) {
      case M_F32:
        lo = toF32(A);
        break;
      case M_F64:
        toF64(A);
        lo = R64[0]!;
        hi = R64[1]!;
        break;
      case M_F80:
        if (empty) store80(A, OUT80, 0); // the default NaN
        else {
          const p = phys(c, 0) * 10;
          for (let k = 0; k < 10; k++) OUT80[k] = c.fpr[p + k]!;
        }
        break;
      case M_BCD:
        unpToBcd(A); // an empty ST(0) (the default NaN by now) stores the BCD indefinite
        break;
      default: {
        const bits = kind === M_I16 ? 16 : kind === M_I32 ? 32 : 64;
        if (empty) {
          FX.flags |= FE_IE;
          lo = INT_INDEF_LO[kind - M_I16]!;
          hi = kind === M_I64 ? 0x80000000 | 0 : 0;
        } else {
          toInt(A, bits, trunc);
          lo = RI[0]!;
          hi = RI[1]!;
        }
      }
    }
    if (!unmasked(c, FE_IE | FE_OE | FE_UE)) {
      switch (kind) {
        case M_F32:
        case M_I32:
          c.write32(lin, lo);
          break;
        case M_F64:
        case M_I64:
          c.write64(lin, lo, hi);
          break;
        case M_I16:
          c.write16(lin, lo);
          break;
        default:
          write80(c, lin, OUT80, 0);
      }
      if (popAfter) pop(c);
    }
    fpFinish(c);
    c.fip = ip;
    c.fop = fop;
    c.fdp = lin;
    c.rip = next;
  };
}

define([
  Mnemonic.Fst,
  Mnemonic.Fstp,
  Mnemonic.Fstpnce,
  Mnemonic.Fist,
  Mnemonic.Fistp,
  Mnemonic.Fisttp,
  Mnemonic.Fbstp,
], buildStore);

// ---- comparisons ----------------------------------------------------------------------------------

interface CmpSpec {
  unordered: boolean;
  pops: number;
  eflags: boolean;
}

const CMP_OF: Partial<Record<Mnemonic, CmpSpec>> = {
  [Mnemonic.Fcom]: { unordered: false, pops: 0, eflags: false },
  [Mnemonic.Fcomp]: { unordered: false, pops: 1, eflags: false },
  [Mnemonic.Fcompp]: { unordered: false, pops: 2, eflags: false },
  [Mnemonic.Fucom]: { unordered: true, pops: 0, eflags: false },
  [Mnemonic.Fucomp]: { unordered: true, pops: 1, eflags: false },
  [Mnemonic.Fucompp]: { unordered: true, pops: 2, eflags: false },
  [Mnemonic.Ficom]: { unordered: false, pops: 0, eflags: false },
  [Mnemonic.Ficomp]: { unordered: false, pops: 1, eflags: false },
  [Mnemonic.Fcomi]: { unordered: false, pops: 0, eflags: true },
  [Mnemonic.Fcomip]: { unordered: false, pops: 1, eflags: true },
  [Mnemonic.Fucomi]: { unordered: true, pops: 0, eflags: true },
  [Mnemonic.Fucomip]: { unordered: true, pops: 1, eflags: true },
  [Mnemonic.Ftst]: { unordered: false, pops: 0, eflags: false },
};

const CC_OF = [0b000, 0b001, 0b100, 0b111]; // GT LT EQ UN → C3 C2 C0
const EF_OF = [0, FLAG_CF, FLAG_ZF, FLAG_ZF | FLAG_PF | FLAG_CF];
const EF_MASK = FLAG_CF | FLAG_PF | FLAG_AF | FLAG_ZF | FLAG_SF | FLAG_OF;

function setCompare(c: Cpu, res: number, eflags: boolean): void {
  if (eflags) setArithFlags(c, EF_MASK, EF_OF[res]!);
  else {
    const k = CC_OF[res]!;
    setCC(c, k & 4, k & 2, k & 1);
  }
}

/**
 * Condition codes (or ZF PF CF), pops and FSW of a comparison. With an unmasked IE (a NaN, an
 * unsupported operand or a stack underflow) or DE the result is still reported but nothing is
 * popped. FCOM & co. clear C1; FCOMI & co. leave it alone.
 */
function endCompare(c: Cpu, res: number, eflags: boolean, pops: number): void {
  setCompare(c, res, eflags);
  if (!unmasked(c, FE_IE | FE_DE)) { for (let k = 0; k < pops; k++) pop(c); }
  FX.c1 = eflags && (FX.flags & FE_SF) === 0 ? (c.fsw >>> 9) & 1 : 0;
  fpFinish(c);
}

function buildCompare(d: Insn): Op {
  const { unordered, pops, eflags } = CMP_OF[d.mnemonic]!;
  const ip = d.rip, fop = fopOf(d), next = d.next;
  const tst = d.mnemonic === Mnemonic.Ftst;
  if (d.mem !== null) {
    const ea = eaOf(d), kind = memKind(d);
    return (c) => {
      fpCheck(c);
      const lin = ea(c);
      loadMem(c, lin, kind, B);
      fxBegin(c.fcw);
      let res: number;
      if (isEmpty(c, 0)) {
        stackUnderflow(T);
        res = CMP_UN;
      } else {
        getSt(c, 0, A);
        res = compare(A, B, !unordered);
      }
      endCompare(c, res, eflags, pops);
      c.fip = ip;
      c.fop = fop;
      c.fdp = lin;
      c.rip = next;
    };
  }
  const si = tst ? -1 : d.ops.length > 1 ? d.ops[1]!.reg : 1;
  return (c) => {
    fpCheck(c);
    fxBegin(c.fcw);
    let res: number;
    if (isEmpty(c, 0) || (si >= 0 && isEmpty(c, si))) {
      stackUnderflow(T);
      res = CMP_UN;
    } else {
      getSt(c, 0, A);
      if (si >= 0) getSt(c, si, B);
      else setZero(B, 0);
      res = compare(A, B, !unordered);
    }
    endCompare(c, res, eflags, pops);
    c.fip = ip;
    c.fop = fop;
    c.rip = next;
  };
}

define(Object.keys(CMP_OF).map(Number) as Mnemonic[], buildCompare);

define([Mnemonic.Fxam], (d) => {
  const ip = d.rip, fop = fopOf(d), next = d.next;
  return (c) => {
    fpCheck(c);
    const k = fxamCode(c);
    setCC(c, k & 4, k & 2, k & 1);
    const sign = c.fpr[phys(c, 0) * 10 + 9]! & 0x80;
    c.fsw = sign !== 0 ? c.fsw | SW_C1 : c.fsw & ~SW_C1;
    c.fip = ip;
    c.fop = fop;
    c.rip = next;
  };
});

// ---- register management ------------------------------------------------------------------------

define([Mnemonic.Fxch], (d) => {
  const si = d.ops.length > 1 ? d.ops[1]!.reg : 1;
  const ip = d.rip, fop = fopOf(d), next = d.next;
  return (c) => {
    fpCheck(c);
    fxBegin(c.fcw);
    const e0 = isEmpty(c, 0), ei = isEmpty(c, si);
    if (e0 || ei) {
      stackUnderflow(R);
      if (unmasked(c, FE_IE)) {
        fpFinish(c);
        c.fip = ip;
        c.fop = fop;
        c.rip = next;
        return;
      }
      if (e0) putSt(c, 0, R);
      if (ei) putSt(c, si, R);
    }
    const p0 = phys(c, 0) * 10, pi = phys(c, si) * 10;
    const f = c.fpr;
    for (let k = 0; k < 10; k++) {
      const t = f[p0 + k]!;
      f[p0 + k] = f[pi + k]!;
      f[pi + k] = t;
    }
    const q0 = phys(c, 0), qi = phys(c, si), ab = c.ftwAbridged;
    const t0 = (ab >>> q0) & 1, ti = (ab >>> qi) & 1;
    c.ftwAbridged = (ab & ~((1 << q0) | (1 << qi))) | (ti << q0) | (t0 << qi);
    FX.c1 = 0;
    fpFinish(c);
    c.fip = ip;
    c.fop = fop;
    c.rip = next;
  };
});

function buildFree(d: Insn, popAfter: boolean): Op {
  const ri = d.ops[0]!.reg, ip = d.rip, fop = fopOf(d), next = d.next;
  return (c) => {
    fpCheck(c);
    c.ftwAbridged &= ~(1 << phys(c, ri));
    c.fsw &= ~SW_C1;
    if (popAfter) pop(c);
    c.fip = ip;
    c.fop = fop;
    c.rip = next;
  };
}
define([Mnemonic.Ffree], (d) => buildFree(d, false));
define([Mnemonic.Ffreep], (d) => buildFree(d, true));

function buildIncDec(d: Insn, inc: boolean): Op {
  const ip = d.rip, fop = fopOf(d), next = d.next;
  return (c) => {
    fpCheck(c);
    setTop(c, topOf(c) + (inc ? 1 : -1));
    c.fsw &= ~SW_C1;
    c.fip = ip;
    c.fop = fop;
    c.rip = next;
  };
}
define([Mnemonic.Fincstp], (d) => buildIncDec(d, true));
define([Mnemonic.Fdecstp], (d) => buildIncDec(d, false));

define([Mnemonic.Fnop], (d) => {
  const ip = d.rip, fop = fopOf(d), next = d.next;
  return (c) => {
    fpCheck(c);
    c.fip = ip;
    c.fop = fop;
    c.rip = next;
  };
});

/** x86 condition codes of the fcmovcc forms (B E BE U and their negations). */
const FCMOV_CC: Partial<Record<Mnemonic, number>> = {
  [Mnemonic.Fcmovb]: 2,
  [Mnemonic.Fcmovnb]: 3,
  [Mnemonic.Fcmove]: 4,
  [Mnemonic.Fcmovne]: 5,
  [Mnemonic.Fcmovbe]: 6,
  [Mnemonic.Fcmovnbe]: 7,
  [Mnemonic.Fcmovu]: 10,
  [Mnemonic.Fcmovnu]: 11,
};

function buildFcmov(d: Insn): Op {
  const cc = FCMOV_CC[d.mnemonic]!, si = d.ops[1]!.reg;
  const ip = d.rip, fop = fopOf(d), next = d.next;
  return (c) => {
    fpCheck(c);
    fxBegin(c.fcw);
    FX.c1 = (c.fsw >>> 9) & 1;
    if (isEmpty(c, 0) || isEmpty(c, si)) {
      stackUnderflow(R);
      if (!unmasked(c, FE_IE)) putSt(c, 0, R);
    } else if (testCC(c, cc)) copySt(c, 0, si);
    fpFinish(c);
    c.fip = ip;
    c.fop = fop;
    c.rip = next;
  };
}
define(Object.keys(FCMOV_CC).map(Number) as Mnemonic[], buildFcmov);
