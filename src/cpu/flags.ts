/**
 * Lazy arithmetic flags. ALU instructions do not compute RFLAGS; they record the operation, its
 * operand size, operands and result in the CPU state (`lfOp`, `lfA`, `lfB`, `lfRes` and the `…Hi`
 * halves for 64-bit operations). A flag is derived only when something reads it (jcc, setcc,
 * pushf, interrupt delivery …). `lfOp` = kind * 4 + size index (0: 8-bit, 1: 16, 2: 32, 3: 64).
 *
 * Kinds whose carry/overflow are awkward to derive from operands (shifts, rotates, multiplies)
 * compute CF/OF/AF eagerly into `lfAux` (RFLAGS bit positions) and keep SF/ZF/PF lazy.
 */

import { FLAG_AF, FLAG_CF, FLAG_OF, FLAG_PF, FLAG_SF, FLAG_ZF, FLAGS_ARITH } from "./regs.ts";

/** The fields of the CPU state the flags engine uses. */
export interface LazyFlagsState {
  /** RFLAGS; the arithmetic bits are valid only when lfOp === LF_NONE. */
  eflags: number;
  lfOp: number;
  lfA: number;
  lfB: number;
  lfRes: number;
  lfAHi: number;
  lfBHi: number;
  lfResHi: number;
  lfAux: number;
}

export const LF_NONE = 0;
export const LF_ADD = 1;
export const LF_ADC = 2;
export const LF_SUB = 3;
export const LF_SBB = 4;
export const LF_LOGIC = 5;
export const LF_INC = 6;
export const LF_DEC = 7;
export const LF_NEG = 8;
/** CF, OF and AF in lfAux; SF, ZF, PF from the result. */
export const LF_EAGER_COF = 9;

export const SZ8 = 0, SZ16 = 1, SZ32 = 2, SZ64 = 3;

const MASK = [0xff, 0xffff, -1, -1];
const SIGN = [0x80, 0x8000, 0x80000000 | 0, 0x80000000 | 0];

/** Parity table: 1 where the byte has an even number of set bits (PF=1). */
export const PARITY = new Uint8Array(256);
for (let i = 0; i < 256; i++) {
  let b = i, p = 1;
  while (b) {
    p ^= b & 1;
    b >>= 1;
  }
  PARITY[i] = p;
}

/** Unsigned a < b for the operands recorded at size index sz (a/b low halves, ah/bh high). */
function ultSized(sz: number, a: number, ah: number, b: number, bh: number): boolean {
  if (sz === SZ64) {
    const x = ah >>> 0, y = bh >>> 0;
    return x < y || (x === y && (a >>> 0) < (b >>> 0));
  }
  const m = MASK[sz]!;
  return ((a & m) >>> 0) < ((b & m) >>> 0);
}

function eqSized(sz: number, a: number, ah: number, b: number, bh: number): boolean {
  if (sz === SZ64) return a === b && ah === bh;
  const m = MASK[sz]!;
  return (a & m) === (b & m);
}

export function getCF(s: LazyFlagsState): boolean {
  const op = s.lfOp;
  const kind = op >> 2, sz = op & 3;
  switch (kind) {
    case LF_NONE:
      return (s.eflags & FLAG_CF) !== 0;
    case LF_ADD:
      return ultSized(sz, s.lfRes, s.lfResHi, s.lfA, s.lfAHi);
    case LF_ADC:
      return (s.lfAux & FLAG_CF)
        ? !ultSized(sz, s.lfA, s.lfAHi, s.lfRes, s.lfResHi) // res <= a
        : ultSized(sz, s.lfRes, s.lfResHi, s.lfA, s.lfAHi);
    case LF_SUB:
      return ultSized(sz, s.lfA, s.lfAHi, s.lfB, s.lfBHi);
    case LF_SBB:
      return ultSized(sz, s.lfA, s.lfAHi, s.lfB, s.lfBHi) ||
        ((s.lfAux & FLAG_CF) !== 0 && eqSized(sz, s.lfA, s.lfAHi, s.lfB, s.lfBHi));
    case LF_LOGIC:
      return false;
    case LF_INC:
    case LF_DEC:
    case LF_EAGER_COF:
      return (s.lfAux & FLAG_CF) !== 0;
    case LF_NEG:
      return !isZero(s, sz);
  }
  return false;
}

function isZero(s: LazyFlagsState, sz: number): boolean {
  if (sz === SZ64) return (s.lfRes | s.lfResHi) === 0;
  return (s.lfRes & MASK[sz]!) === 0;
}

export function getZF(s: LazyFlagsState): boolean {
  const op = s.lfOp;
  if (op === LF_NONE) return (s.eflags & FLAG_ZF) !== 0;
  return isZero(s, op & 3);
}

export function getSF(s: LazyFlagsState): boolean {
  const op = s.lfOp;
  if (op === LF_NONE) return (s.eflags & FLAG_SF) !== 0;
  const sz = op & 3;
  if (sz === SZ64) return s.lfResHi < 0;
  return (s.lfRes & SIGN[sz]!) !== 0;
}

export function getPF(s: LazyFlagsState): boolean {
  if (s.lfOp === LF_NONE) return (s.eflags & FLAG_PF) !== 0;
  return PARITY[s.lfRes & 0xff] === 1;
}

export function getAF(s: LazyFlagsState): boolean {
  const kind = s.lfOp >> 2;
  switch (kind) {
    case LF_NONE:
      return (s.eflags & FLAG_AF) !== 0;
    case LF_ADD:
    case LF_ADC:
    case LF_SUB:
    case LF_SBB:
    case LF_NEG:
    case LF_INC:
    case LF_DEC:
      return ((s.lfA ^ s.lfB ^ s.lfRes) & 0x10) !== 0;
    case LF_LOGIC:
      return false;
    case LF_EAGER_COF:
      return (s.lfAux & FLAG_AF) !== 0;
  }
  return false;
}

export function getOF(s: LazyFlagsState): boolean {
  const op = s.lfOp;
  const kind = op >> 2, sz = op & 3;
  const sign = SIGN[sz]!;
  const hi = sz === SZ64;
  switch (kind) {
    case LF_NONE:
      return (s.eflags & FLAG_OF) !== 0;
    case LF_ADD:
    case LF_ADC: {
      const a = hi ? s.lfAHi : s.lfA, b = hi ? s.lfBHi : s.lfB, r = hi ? s.lfResHi : s.lfRes;
      return ((a ^ r) & (b ^ r) & sign) !== 0;
    }
    case LF_SUB:
    case LF_SBB: {
      const a = hi ? s.lfAHi : s.lfA, b = hi ? s.lfBHi : s.lfB, r = hi ? s.lfResHi : s.lfRes;
      return ((a ^ b) & (a ^ r) & sign) !== 0;
    }
    case LF_LOGIC:
      return false;
    case LF_INC:
      // Result is the most negative value.
      return hi
        ? (s.lfResHi === (0x80000000 | 0) && s.lfRes === 0)
        : (s.lfRes & MASK[sz]!) === (sign & MASK[sz]!);
    case LF_DEC:
      // Result is the most positive value.
      return hi
        ? (s.lfResHi === 0x7fffffff && s.lfRes === -1)
        : (s.lfRes & MASK[sz]!) === ((sign - 1) & MASK[sz]!);
    case LF_NEG:
      return hi
        ? (s.lfResHi === (0x80000000 | 0) && s.lfRes === 0)
        : (s.lfRes & MASK[sz]!) === (sign & MASK[sz]!);
    case LF_EAGER_COF:
      return (s.lfAux & FLAG_OF) !== 0;
  }
  return false;
}

/** The six arithmetic flags as RFLAGS bits. */
export function arithFlags(s: LazyFlagsState): number {
  if (s.lfOp === LF_NONE) return s.eflags & FLAGS_ARITH;
  return (getCF(s) ? FLAG_CF : 0) | (getPF(s) ? FLAG_PF : 0) | (getAF(s) ? FLAG_AF : 0) |
    (getZF(s) ? FLAG_ZF : 0) | (getSF(s) ? FLAG_SF : 0) | (getOF(s) ? FLAG_OF : 0);
}

/** Folds the lazy state into eflags (lfOp becomes LF_NONE). */
export function materialize(s: LazyFlagsState): void {
  if (s.lfOp === LF_NONE) return;
  s.eflags = (s.eflags & ~FLAGS_ARITH) | arithFlags(s);
  s.lfOp = LF_NONE;
}

/** Sets some arithmetic flags explicitly (bits in `mask` take their values from `bits`). */
export function setArithFlags(s: LazyFlagsState, mask: number, bits: number): void {
  materialize(s);
  s.eflags = (s.eflags & ~mask) | (bits & mask);
}

/** Evaluates condition code cc (0..15, the low nibble of Jcc/SETcc/CMOVcc opcodes). */
export function testCC(s: LazyFlagsState, cc: number): boolean {
  let r: boolean;
  switch (cc >> 1) {
    case 0:
      r = getOF(s);
      break;
    case 1:
      r = getCF(s);
      break;
    case 2:
      r = getZF(s);
      break;
    case 3:
      r = getCF(s) || getZF(s);
      break;
    case 4:
      r = getSF(s);
      break;
    case 5:
      r = getPF(s);
      break;
    case 6:
      r = getSF(s) !== getOF(s);
      break;
    default:
      r = getZF(s) || getSF(s) !== getOF(s);
      break;
  }
  return (cc & 1) ? !r : r;
}
