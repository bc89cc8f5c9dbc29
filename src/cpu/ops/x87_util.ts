/**
 * Shared plumbing of the x87 instruction families (x87.ts, x87_ctl.ts, x87_trans.ts): the
 * register stack (TOP in FSW bits 13:11, physical registers R0-R7 in cpu.fpr, one "not empty"
 * bit per physical register in cpu.ftwAbridged — the full tags are computed from the contents
 * whenever they are stored, `fullTags`), the availability checks (#NM, #MF),
 * the exception epilogue (FSW flags, C1, ES/B) and the last-instruction pointers.
 *
 * Exceptions. Every operation reports through `FX` (fp/f80.ts). `fpFinish` merges the flags into
 * FSW; when one of them is unmasked it sets ES and B, and the next waiting x87 instruction (or
 * WAIT/FWAIT, or an MMX instruction) raises #MF — with CR0.NE = 1. With CR0.NE = 0 the pending
 * exception is ignored (as if IGNNE# were asserted: this CPU has no FERR# line / IRQ 13).
 *
 * Pointers. FIP/FOP are set by every non-control instruction that executes (also when it raises an
 * unmasked exception); FDP by those with a memory operand (the operand's linear address),
 * and kept by the others, as the reference hardware does. FCS/FDS are not kept (CPUID.7:EBX[13]).
 */

import type { Cpu } from "../cpu.ts";
import {
  C_DENORMAL,
  C_INF,
  C_NORMAL,
  C_QNAN,
  C_SNAN,
  C_UNSUPPORTED,
  C_ZERO,
  FE_IE,
  FE_SF,
  fullTagWord,
  FX,
  setIndefinite,
  store80,
  Unp,
  unpack80,
  unpack80w,
} from "../fp/f80.ts";
import type { Insn } from "../insn.ts";
import { CR0_EM, CR0_NE, CR0_TS, VEC_MF, VEC_NM } from "../regs.ts";

export const SW_ES = 0x80, SW_C0 = 0x100, SW_C1 = 0x200, SW_C2 = 0x400, SW_C3 = 0x4000;
export const SW_B = 0x8000, SW_TOP = 0x3800;
/** C3 C2 C0. */
export const SW_CC = SW_C0 | SW_C2 | SW_C3;

/** Operand scratch (ops never re-enter). */
export const A = new Unp(), B = new Unp(), T = new Unp();

// ---- availability -------------------------------------------------------------------------------

/** Waiting x87 instruction: #NM if CR0.EM or CR0.TS, then #MF if an exception is pending. */
export function fpCheck(c: Cpu): void {
  const cr0 = c.cr0;
  if ((cr0 & (CR0_EM | CR0_TS)) !== 0) c.raise(VEC_NM);
  if ((c.fsw & SW_ES) !== 0 && (cr0 & CR0_NE) !== 0) c.raise(VEC_MF);
}

/** Non-waiting (FN*) control instruction: only #NM. */
export function fpCheckNoWait(c: Cpu): void {
  if ((c.cr0 & (CR0_EM | CR0_TS)) !== 0) c.raise(VEC_NM);
}

/** The 11-bit FOP of an instruction: low 3 bits of the ESC opcode byte, then the ModR/M byte. */
export function fopOf(d: Insn): number {
  const b = d.bytes;
  for (let i = 0; i < b.length - 1; i++) {
    const x = b[i]!;
    if (x >= 0xd8 && x <= 0xdf) return ((x & 7) << 8) | b[i + 1]!;
  }
  return 0;
}

// ---- the register stack -------------------------------------------------------------------------

export function topOf(c: Cpu): number {
  return (c.fsw >>> 11) & 7;
}

/** Physical register number of ST(i). */
export function phys(c: Cpu, i: number): number {
  return (((c.fsw >>> 11) + i) & 7);
}

export function isEmpty(c: Cpu, i: number): boolean {
  return ((c.ftwAbridged >>> phys(c, i)) & 1) === 0;
}

/** Marks physical register p not empty. */
export function setValid(c: Cpu, p: number): void {
  c.ftwAbridged |= 1 << p;
}

/** Unpacks ST(i) (whatever its tag) into u. */
export function getSt(c: Cpu, i: number, u: Unp): void {
  unpack80(c.fpr, phys(c, i) * 10, u);
}

/** Writes u into ST(i) (then not empty). */
export function putSt(c: Cpu, i: number, u: Unp): void {
  const p = phys(c, i);
  store80(u, c.fpr, p * 10);
  setValid(c, p);
}

/** Writes the raw 80-bit value b[off..off+9] into ST(i) (then not empty). */
export function putStRaw(c: Cpu, i: number, b: Uint8Array, off: number): void {
  const p = phys(c, i), f = c.fpr;
  for (let k = 0; k < 10; k++) f[p * 10 + k] = b[off + k]!;
  setValid(c, p);
}

/** Copies the raw 80-bit ST(src) into ST(dst) (no conversion; then not empty). */
export function copySt(c: Cpu, dst: number, src: number): void {
  const ps = phys(c, src) * 10, pd = phys(c, dst), f = c.fpr;
  for (let k = 0; k < 10; k++) f[pd * 10 + k] = f[ps + k]!;
  setValid(c, pd);
}

export function setTop(c: Cpu, t: number): void {
  c.fsw = (c.fsw & ~SW_TOP) | ((t & 7) << 11);
}

/** Marks ST(0) empty and increments TOP. */
export function pop(c: Cpu): void {
  const p = phys(c, 0);
  c.ftwAbridged &= ~(1 << p);
  setTop(c, p + 1);
}

/** Decrements TOP (the caller then writes ST(0)). */
export function pushTop(c: Cpu): void {
  setTop(c, topOf(c) - 1);
}

/** Whether a push would overflow: the register below TOP is not empty. */
export function pushOverflows(c: Cpu): boolean {
  return ((c.ftwAbridged >>> ((topOf(c) - 1) & 7)) & 1) !== 0;
}

/** Stack underflow: IE and SF (C1 = 0); R = the default NaN for a masked response. */
export function stackUnderflow(u: Unp): void {
  FX.flags |= FE_IE | FE_SF;
  FX.c1 = 0;
  setIndefinite(u);
}

/** Stack overflow: IE and SF with C1 = 1; R = the default NaN for a masked response. */
export function stackOverflow(u: Unp): void {
  FX.flags |= FE_IE | FE_SF;
  FX.c1 = 1;
  setIndefinite(u);
}

/** Whether the exceptions raised so far include an unmasked one among `which`. */
export function unmasked(c: Cpu, which: number): boolean {
  return (FX.flags & which & ~c.fcw) !== 0;
}

/**
 * Ends an instruction: ORs the raised flags (and SF) into FSW, sets C1 from FX.c1 and, when an
 * unmasked exception was raised, ES and B.
 */
export function fpFinish(c: Cpu): void {
  const f = FX.flags;
  let sw = (c.fsw | (f & 0x7f)) & ~SW_C1;
  if (FX.c1 !== 0) sw |= SW_C1;
  if ((f & ~c.fcw & 0x3f) !== 0) sw |= SW_ES | SW_B;
  c.fsw = sw;
}

/** Recomputes ES and B from the exception flags and masks (FLDCW, FLDENV, FRSTOR). */
export function fpSummary(c: Cpu): void {
  if ((c.fsw & ~c.fcw & 0x3f) !== 0) c.fsw |= SW_ES | SW_B;
  else c.fsw &= ~(SW_ES | SW_B);
}

/** The full tag word as FSTENV/FSAVE store it: computed from the contents of non-empty regs. */
export function fullTags(c: Cpu): number {
  return fullTagWord(c.ftwAbridged, c.fpr);
}

/** Sets C3 C2 C0 (bits 14, 10, 8) from a 3-bit code c3c2c0. */
export function setCC(c: Cpu, c3: number, c2: number, c0: number): void {
  c.fsw = (c.fsw & ~SW_CC) | (c3 ? SW_C3 : 0) | (c2 ? SW_C2 : 0) | (c0 ? SW_C0 : 0);
}

/** Class code of FXAM (C3 C2 C0). */
export function fxamCode(c: Cpu): number {
  if (isEmpty(c, 0)) return 0b101;
  getSt(c, 0, T);
  switch (T.cls) {
    case C_UNSUPPORTED:
      return 0b000;
    case C_QNAN:
    case C_SNAN:
      return 0b001;
    case C_NORMAL:
      return 0b010;
    case C_INF:
      return 0b011;
    case C_ZERO:
      return 0b100;
    case C_DENORMAL:
      return 0b110;
  }
  return 0;
}

/** Linear address `lin + k` in the current mode (32-bit wrap outside 64-bit mode). */
export function linAdd(c: Cpu, lin: number, k: number): number {
  return c.bits === 64 ? lin + k : (lin + k) >>> 0;
}

/** Significand halves and sign/exponent word of the last `read80w`. */
export const M80 = { l: 0, h: 0, se: 0 };

/** Reads an 80-bit memory operand into M80 (the significand first, then the exponent word). */
export function read80w(c: Cpu, lin: number): void {
  const l = c.read64(lin);
  M80.h = c.tHi;
  M80.l = l;
  M80.se = c.read16(linAdd(c, lin, 8));
}

/** Reads an 80-bit memory operand into u. */
export function read80(c: Cpu, lin: number, u: Unp): void {
  read80w(c, lin);
  unpack80w(M80.l, M80.h, M80.se, u);
}

/** Writes the 10 bytes b[off..] at lin, after checking the whole range is writable. */
export function write80(c: Cpu, lin: number, b: Uint8Array, off: number): void {
  c.rmwAddr(lin, 10);
  const lo = b[off]! | (b[off + 1]! << 8) | (b[off + 2]! << 16) | (b[off + 3]! << 24);
  const hi = b[off + 4]! | (b[off + 5]! << 8) | (b[off + 6]! << 16) | (b[off + 7]! << 24);
  c.write64(lin, lo, hi);
  c.write16(linAdd(c, lin, 8), b[off + 8]! | (b[off + 9]! << 8));
}

/** 10-byte scratch for stores. */
export const OUT80 = new Uint8Array(10);
