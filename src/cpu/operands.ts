/**
 * Operand plumbing shared by the instruction families: effective-address closures specialised
 * per addressing form, and register access by operand size. 64-bit values travel as (lo, hi)
 * int32 pairs; functions returning a 64-bit value return the low half and leave the high half in
 * `c.tHi`.
 */

import type { Cpu } from "./cpu.ts";
import type { Insn, MemRef } from "./insn.ts";
import { FS, GS } from "./regs.ts";
import { TWO32 } from "./u64.ts";

export type EaFn = (c: Cpu) => number;

const CANON_LIMIT = 140737488355328; // 2^47

/**
 * Builds the linear-address computation for a memory operand: base + index*scale + disp, wrapped
 * to the address size, plus the segment base (FS/GS only in 64-bit mode), canonical-checked in
 * 64-bit mode (#GP(0), or #SS(0) for RSP/RBP-based addresses).
 */
export function eaFn(m: MemRef, bits: number): EaFn {
  const { base, index, scale, disp, seg } = m;
  if (m.addrSize === 8) {
    const stack = base === 4 || base === 5;
    const segBase = seg === FS || seg === GS;
    if (base === -2) {
      // RIP-relative: disp already holds the absolute target.
      if (!segBase) return () => disp;
      return (c) => c.canon(c.segBase[seg]! + disp);
    }
    let f: EaFn;
    if (base >= 0 && index < 0) {
      f = (c) => {
        const a = c.hi[base]! * TWO32 + (c.lo[base]! >>> 0) + disp;
        return a < CANON_LIMIT && a >= -CANON_LIMIT ? a : c.canon(a, stack);
      };
    } else if (base >= 0) {
      f = (c) => {
        const a = c.hi[base]! * TWO32 + (c.lo[base]! >>> 0) +
          (c.hi[index]! * TWO32 + (c.lo[index]! >>> 0)) * scale + disp;
        return a < CANON_LIMIT && a >= -CANON_LIMIT ? a : c.canon(wrap64(a), stack);
      };
    } else if (index >= 0) {
      f = (c) => {
        const a = (c.hi[index]! * TWO32 + (c.lo[index]! >>> 0)) * scale + disp;
        return a < CANON_LIMIT && a >= -CANON_LIMIT ? a : c.canon(wrap64(a));
      };
    } else {
      f = (c) => c.canon(disp);
    }
    if (!segBase) return f;
    return (c) => c.canon(c.segBase[seg]! + f(c), stack);
  }
  // 32- and 16-bit address sizes.
  const mask = m.addrSize === 4 ? 0xffffffff : 0xffff;
  let off: EaFn;
  if (base === -2) off = () => disp >>> 0;
  else if (base >= 0 && index >= 0) {
    off = (c) => ((c.lo[base]! + c.lo[index]! * scale + disp) & mask) >>> 0;
  } else if (base >= 0) off = (c) => ((c.lo[base]! + disp) & mask) >>> 0;
  else if (index >= 0) off = (c) => ((c.lo[index]! * scale + disp) & mask) >>> 0;
  else off = () => (disp & mask) >>> 0;
  if (bits === 64) {
    // 32-bit address size in 64-bit mode: zero-extended offset, FS/GS base applies.
    if (seg === FS || seg === GS) return (c) => c.canon(c.segBase[seg]! + off(c));
    return off;
  }
  // Protected/real mode: segment limit and type checks (SDM 5.3, 5.4.1).
  const size = m.size > 0 ? m.size : 1, write = m.write;
  return (c) => c.segAddr(seg, off(c), size, write);
}

/** Reduces a float sum of 64-bit quantities modulo 2^64 to the signed range. */
function wrap64(a: number): number {
  const m = 18446744073709551616;
  let r = a % m;
  if (r >= 9223372036854775808) r -= m;
  else if (r < -9223372036854775808) r += m;
  return r;
}

/** Memory-operand EA for an instruction (asserts it has one). */
export function eaOf(d: Insn): EaFn {
  if (d.mem === null) throw new Error("instruction has no memory operand");
  return eaFn(d.mem, d.bits);
}

// ---- register access by size -------------------------------------------------------------

/** Reads a GPR operand of `size` bytes (reg 16..19 = AH..BH). For size 8 the high half → tHi. */
export function getReg(c: Cpu, reg: number, size: number): number {
  switch (size) {
    case 1:
      return reg < 16 ? c.lo[reg]! & 0xff : (c.lo[reg - 16]! >> 8) & 0xff;
    case 2:
      return c.lo[reg]! & 0xffff;
    case 4:
      return c.lo[reg]!;
    default:
      c.tHi = c.hi[reg]!;
      return c.lo[reg]!;
  }
}

/** Writes a GPR operand: 8/16-bit writes merge, 32-bit writes zero-extend, 64-bit writes both. */
export function setReg(c: Cpu, reg: number, size: number, lo: number, hi: number): void {
  switch (size) {
    case 1:
      if (reg < 16) c.lo[reg] = (c.lo[reg]! & ~0xff) | (lo & 0xff);
      else c.lo[reg - 16] = (c.lo[reg - 16]! & ~0xff00) | ((lo & 0xff) << 8);
      return;
    case 2:
      c.lo[reg] = (c.lo[reg]! & ~0xffff) | (lo & 0xffff);
      return;
    case 4:
      c.lo[reg] = lo;
      c.hi[reg] = 0;
      return;
    default:
      c.lo[reg] = lo;
      c.hi[reg] = hi;
  }
}

/** Reads memory of `size` bytes at linear `lin` (8 → low half, tHi). */
export function readMem(c: Cpu, lin: number, size: number): number {
  switch (size) {
    case 1:
      return c.read8(lin);
    case 2:
      return c.read16(lin);
    case 4:
      return c.read32(lin);
    default:
      return c.read64(lin);
  }
}

export function writeMem(c: Cpu, lin: number, size: number, lo: number, hi: number): void {
  switch (size) {
    case 1:
      c.write8(lin, lo);
      return;
    case 2:
      c.write16(lin, lo);
      return;
    case 4:
      c.write32(lin, lo);
      return;
    default:
      c.write64(lin, lo, hi);
  }
}

/** Size index for the lazy-flags engine: 1→0, 2→1, 4→2, 8→3. */
export function szIdx(size: number): number {
  return size === 1 ? 0 : size === 2 ? 1 : size === 4 ? 2 : 3;
}

/** Truncates/sign-normalises an immediate's low half to `size`. */
export function immLo(lo: number, size: number): number {
  return size === 1 ? lo & 0xff : size === 2 ? lo & 0xffff : lo;
}

/**
 * Read-modify-write of a memory operand, in two steps with nothing allocated:
 * `rmwBegin` checks read and write rights for the whole operand (no side effects yet), reads it
 * (8 bytes → low half, high in tHi) and remembers where; `rmwEnd` stores the new value.
 */
export function rmwBegin(c: Cpu, lin: number, size: number): number {
  const pa = c.rmwAddr(lin, size);
  c.rmwPa = pa;
  c.rmwLin = lin;
  if (pa >= 0) {
    switch (size) {
      case 1:
        return c.u8[pa]!;
      case 2:
        return c.dv.getUint16(pa, true);
      case 4:
        c.tHi = 0;
        return c.dv.getInt32(pa, true);
      default:
        c.tHi = c.dv.getInt32(pa + 4, true);
        return c.dv.getInt32(pa, true);
    }
  }
  const v = readMem(c, lin, size);
  if (size !== 8) c.tHi = 0;
  return v;
}

export function rmwEnd(c: Cpu, size: number, lo: number, hi: number): void {
  const pa = c.rmwPa;
  if (pa >= 0) {
    switch (size) {
      case 1:
        c.u8[pa] = lo;
        return;
      case 2:
        c.dv.setUint16(pa, lo, true);
        return;
      case 4:
        c.dv.setInt32(pa, lo, true);
        return;
      default:
        c.dv.setInt32(pa, lo, true);
        c.dv.setInt32(pa + 4, hi, true);
        return;
    }
  }
  writeMem(c, c.rmwLin, size, lo, hi);
}
