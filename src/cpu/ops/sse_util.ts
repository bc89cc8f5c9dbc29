/**
 * Shared plumbing of the SSE families: the availability checks (#UD / #NM), the scratch area the
 * kernels compute in, 128/64/32-bit operand loads and stores (alignment, page-crossing stores
 * checked before any byte is written) and the MXCSR exception epilogue (#XM).
 *
 * Scratch: one 64-byte buffer with typed views over it. Kernels read the destination copy at
 * dwords 0..3 ("A", bytes 0..15) and the source at dwords 4..7 ("B", bytes 16..31), and leave the
 * result in A; dwords 8..15 are free temporaries. Ops never re-enter, so one scratch suffices.
 */

import type { Mnemonic } from "iced-x86";
import type { Cpu, Op } from "../cpu.ts";
import { FE_PRE, FP, fpBegin } from "../fp/softfloat.ts";
import { type Insn, K_REG, RC_MM, RC_XMM } from "../insn.ts";
import { eaOf } from "../operands.ts";
import {
  CR0_EM,
  CR0_TS,
  CR4_OSFXSR,
  CR4_OSXMMEXCPT,
  RDI,
  VEC_NM,
  VEC_UD,
  VEC_XM,
} from "../regs.ts";
import { TWO32 } from "../u64.ts";

if (new Uint8Array(Uint32Array.of(1).buffer)[0] !== 1) {
  throw new Error("the SSE kernels assume a little-endian host");
}

const SB = new ArrayBuffer(64);
export const I32 = new Int32Array(SB);
export const U32 = new Uint32Array(SB);
export const I16 = new Int16Array(SB);
export const U16 = new Uint16Array(SB);
export const I8 = new Int8Array(SB);
export const U8 = new Uint8Array(SB);
/** Unsigned-saturating byte stores (paddusb & co.). */
export const C8 = new Uint8ClampedArray(SB);
export const F32 = new Float32Array(SB);
export const F64 = new Float64Array(SB);

/** Dword offset of the source operand in the scratch. */
export const B = 4;

/**
 * Builders of the SSE forms of mnemonics shared with the string instructions (movsd, cmpsd);
 * string.ts asks `sseForm` first.
 */
export const SSE_ALIAS = new Map<Mnemonic, (d: Insn) => Op>();

/** The SSE op for an instruction with an XMM operand whose mnemonic is in SSE_ALIAS. */
export function sseForm(d: Insn): Op | undefined {
  const b = SSE_ALIAS.get(d.mnemonic);
  if (b === undefined || !d.ops.some((o) => o.kind === K_REG && o.rc === RC_XMM)) return undefined;
  return b(d);
}

export type Kernel = () => void;
export type Loader = (c: Cpu) => void;

// ---- availability -------------------------------------------------------------------------------

function sseFault(c: Cpu): never {
  if ((c.cr0 & CR0_EM) !== 0 || (c.cr4 & CR4_OSFXSR) === 0) c.raise(VEC_UD);
  return c.raise(VEC_NM);
}

/** SSE instructions: #UD if CR0.EM or !CR4.OSFXSR, #NM if CR0.TS. */
export function sseCheck(c: Cpu): void {
  if ((c.cr0 & (CR0_EM | CR0_TS)) !== 0 || (c.cr4 & CR4_OSFXSR) === 0) sseFault(c);
}

// ---- operands -----------------------------------------------------------------------------------

export function isXmm(d: Insn, i: number): boolean {
  const o = d.ops[i];
  return o !== undefined && o.kind === K_REG && o.rc === RC_XMM;
}

export function isMm(d: Insn, i: number): boolean {
  const o = d.ops[i];
  return o !== undefined && o.kind === K_REG && o.rc === RC_MM;
}

/** Dword index of XMM operand `i` in `c.xmm`. */
export function xr(d: Insn, i: number): number {
  return d.ops[i]!.reg * 4;
}

/** Linear address of the second 8 bytes of a 16-byte access at `lin`. */
export function lin8(c: Cpu, lin: number): number {
  return c.bits === 64 ? c.canon(lin + 8) : (lin + 8) >>> 0;
}

/** Reads 16 bytes at `lin` into I32[off..off+3]; #GP(0) first when `align` and misaligned. */
export function read128(c: Cpu, lin: number, off: number, align: boolean): void {
  if (align && (lin & 15) !== 0) c.gp0();
  I32[off] = c.read64(lin);
  I32[off + 1] = c.tHi;
  const l2 = lin8(c, lin);
  I32[off + 2] = c.read64(l2);
  I32[off + 3] = c.tHi;
}

/** Writes I32[off..off+3] to 16 bytes at `lin`; both pages are checked before any byte. */
export function write128(c: Cpu, lin: number, off: number, align: boolean): void {
  if (align && (lin & 15) !== 0) c.gp0();
  const pa = c.rmwAddr(lin, 16);
  if (pa >= 0) {
    const dv = c.dv;
    dv.setInt32(pa, I32[off]!, true);
    dv.setInt32(pa + 4, I32[off + 1]!, true);
    dv.setInt32(pa + 8, I32[off + 2]!, true);
    dv.setInt32(pa + 12, I32[off + 3]!, true);
    return;
  }
  c.write64(lin, I32[off]!, I32[off + 1]!);
  c.write64(lin8(c, lin), I32[off + 2]!, I32[off + 3]!);
}

/**
 * Loader of operand `i` into I32[off..]: an XMM register (16 bytes) or memory of the operand's
 * size (16: aligned when `align`; 8, 4, 2 or 1 bytes: zero-extended into the 16).
 */
export function loader(d: Insn, i: number, off: number, align: boolean): Loader {
  const o = d.ops[i]!;
  if (o.kind === K_REG) {
    if (o.rc !== RC_XMM) throw new Error("loader: expected an XMM register");
    const x = o.reg * 4;
    return (c) => {
      const X = c.xmm;
      I32[off] = X[x]!;
      I32[off + 1] = X[x + 1]!;
      I32[off + 2] = X[x + 2]!;
      I32[off + 3] = X[x + 3]!;
    };
  }
  const ea = eaOf(d), size = d.mem!.size;
  switch (size) {
    case 16:
      return (c) => read128(c, ea(c), off, align);
    case 8:
      return (c) => {
        I32[off] = c.read64(ea(c));
        I32[off + 1] = c.tHi;
        I32[off + 2] = 0;
        I32[off + 3] = 0;
      };
    case 4:
      return (c) => {
        I32[off] = c.read32(ea(c));
        I32[off + 1] = 0;
        I32[off + 2] = 0;
        I32[off + 3] = 0;
      };
    case 2:
      return (c) => {
        I32[off] = c.read16(ea(c));
        I32[off + 1] = 0;
        I32[off + 2] = 0;
        I32[off + 3] = 0;
      };
    case 1:
      return (c) => {
        I32[off] = c.read8(ea(c));
        I32[off + 1] = 0;
        I32[off + 2] = 0;
        I32[off + 3] = 0;
      };
  }
  throw new Error(`loader: unsupported memory size ${size}`);
}

/** Copies the temporaries (dwords 8..11), where a kernel assembled its result, into A. */
export function commit(): void {
  I32[0] = I32[8]!;
  I32[1] = I32[9]!;
  I32[2] = I32[10]!;
  I32[3] = I32[11]!;
}

/** Signed/unsigned saturation of an exact integer to 8 or 16 bits (pack*, padds*, phadds*). */
export function sat8(v: number): number {
  return v > 127 ? 127 : v < -128 ? -128 : v;
}
export function sat16(v: number): number {
  return v > 32767 ? 32767 : v < -32768 ? -32768 : v;
}
export function satU16(v: number): number {
  return v > 65535 ? 65535 : v < 0 ? 0 : v;
}

/** Copies XMM register dword index `x` into scratch A. */
export function loadA(c: Cpu, x: number): void {
  const X = c.xmm;
  I32[0] = X[x]!;
  I32[1] = X[x + 1]!;
  I32[2] = X[x + 2]!;
  I32[3] = X[x + 3]!;
}

/** Copies scratch A into XMM register dword index `x`. */
export function storeA(c: Cpu, x: number): void {
  const X = c.xmm;
  X[x] = I32[0]!;
  X[x + 1] = I32[1]!;
  X[x + 2] = I32[2]!;
  X[x + 3] = I32[3]!;
}

/**
 * The common shape `xmm1 ← k(xmm1, xmm2/m128)`: A = destination, B = source (aligned m128 unless
 * `align` is false; smaller memory operands as their size), kernel, A written back.
 */
export function binop(d: Insn, k: Kernel, align = true): Op {
  const x = xr(d, 0), next = d.next;
  const ld = loader(d, 1, B, align);
  return (c) => {
    sseCheck(c);
    ld(c);
    loadA(c, x);
    k();
    storeA(c, x);
    c.rip = next;
  };
}

/** Like `binop` with a floating-point kernel: MXCSR environment, flags and #XM. */
export function fpBinop(d: Insn, k: Kernel, align = true): Op {
  const x = xr(d, 0), next = d.next;
  const ld = loader(d, 1, B, align);
  return (c) => {
    sseCheck(c);
    ld(c);
    loadA(c, x);
    fpBeginC(c);
    k();
    fpEnd(c);
    storeA(c, x);
    c.rip = next;
  };
}

// ---- MXCSR exceptions ---------------------------------------------------------------------------

/** Loads the FP environment from c.mxcsr (see softfloat.ts fpBegin). */
export function fpBeginC(c: Cpu): void {
  fpBegin(c.mxcsr);
}

/**
 * Commits the flags raised by the instruction. An unmasked exception raises #XM (#UD when
 * CR4.OSXMMEXCPT is clear) before any result is written: with an unmasked invalid, denormal or
 * divide-by-zero only those (pre-computation) flags are recorded; otherwise all of them.
 */
export function fpEnd(c: Cpu): void {
  const f = FP.flags;
  if (f === 0) return;
  const un = f & ~FP.masks;
  if (un !== 0) {
    c.mxcsr |= (un & FE_PRE) !== 0 ? f & FE_PRE : f;
    c.raise((c.cr4 & CR4_OSXMMEXCPT) !== 0 ? VEC_XM : VEC_UD);
  }
  c.mxcsr |= f;
}

/**
 * MASKMOVQ / MASKMOVDQU: stores the bytes of U8[0..n) whose mask byte U8[16+i] has bit 7 set to
 * [seg:rDI]. The whole n-byte range is checked (canonical in 64-bit mode, writable) before any
 * byte is stored, so a fault leaves memory unchanged; an all-zero mask touches nothing.
 */
export function maskedStore(c: Cpu, seg: number, asz: number, n: number): void {
  let any = false;
  for (let i = 0; i < n; i++) if (U8[16 + i]! & 0x80) any = true;
  if (!any) return;
  let base: number;
  if (asz === 8) {
    base = c.hi[RDI]! * TWO32 + (c.lo[RDI]! >>> 0);
    if (seg === 4 || seg === 5) base += c.segBase[seg]!; // FS/GS bases apply in 64-bit mode
    c.canon(base);
    c.canon(base + n - 1);
  } else {
    const off = asz === 4 ? c.lo[RDI]! >>> 0 : c.lo[RDI]! & 0xffff;
    // Outside 64-bit mode the segment's limit and type apply, as for the string instructions.
    base = c.bits === 64 ? c.segLin(seg, off) : c.segAddr(seg, off, n, true);
  }
  c.rmwAddr(base, n);
  for (let i = 0; i < n; i++) {
    if (U8[16 + i]! & 0x80) c.write8(c.bits === 64 ? base + i : (base + i) >>> 0, U8[i]!);
  }
}
