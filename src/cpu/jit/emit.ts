/**
 * Source-emitting helpers for snippet generators: register access by size, effective addresses,
 * memory access. Expressions assume the block prelude locals `lo`, `hi` (register halves) and
 * `c` (the Cpu).
 */

import type { MemRef } from "../insn.ts";

/** A JS literal for a RIP / address number (may be negative: canonical signed). */
export function ripLiteral(n: number): string {
  return Object.is(n, -0) ? "0" : String(n);
}

export function int(n: number): string {
  return String(n | 0);
}

/** Expression reading a GPR operand of `size` (zero-extended; 8-byte: low half). */
export function regRead(reg: number, size: number): string {
  switch (size) {
    case 1:
      return reg < 16 ? `(lo[${reg}] & 0xff)` : `((lo[${reg - 16}] >> 8) & 0xff)`;
    case 2:
      return `(lo[${reg}] & 0xffff)`;
    default:
      return `lo[${reg}]`;
  }
}

/** Statement writing `v` (low) / `vh` (high) to a GPR operand of `size`. */
export function regWrite(reg: number, size: number, v: string, vh = "0"): string {
  switch (size) {
    case 1:
      return reg < 16
        ? `lo[${reg}] = (lo[${reg}] & ~0xff) | (${v} & 0xff);`
        : `lo[${reg - 16}] = (lo[${reg - 16}] & ~0xff00) | ((${v} & 0xff) << 8);`;
    case 2:
      return `lo[${reg}] = (lo[${reg}] & ~0xffff) | (${v} & 0xffff);`;
    case 4:
      return `lo[${reg}] = ${v}; hi[${reg}] = 0;`;
    default:
      return `lo[${reg}] = ${v}; hi[${reg}] = ${vh};`;
  }
}

const CANON = 140737488355328;

/**
 * Statements computing the linear address of `m` into local `lin` (64-bit mode and the flat
 * segments of 32-bit code). Returns null for forms the JIT leaves to the interpreter.
 */
export function eaCode(m: MemRef, bits: number): string | null {
  const { base, index, scale, disp, seg } = m;
  if (m.addrSize === 8) {
    if (seg === 4 || seg === 5) return null; // FS/GS bases: interpreter
    if (base === -2) return `lin = ${ripLiteral(disp)};`;
    let e = "";
    if (base >= 0) e += `hi[${base}] * 4294967296 + (lo[${base}] >>> 0)`;
    if (index >= 0) {
      e += (e ? " + " : "") + `(hi[${index}] * 4294967296 + (lo[${index}] >>> 0)) * ${scale}`;
    }
    if (disp !== 0 || e === "") e += (e ? " + " : "") + ripLiteral(disp);
    const stack = base === 4 || base === 5;
    return `lin = ${e}; if (!(lin < ${CANON} && lin >= -${CANON})) lin = c.canon(lin, ${stack});`;
  }
  if (m.addrSize !== 4 || bits === 64) return null;
  // 32-bit addressing in 32-bit code: only with a zero segment base is it this simple.
  return null;
}

/** Expression reading `size` bytes at `lin` (8: low half, high in c.tHi). */
export function memRead(size: number): string {
  switch (size) {
    case 1:
      return "c.read8(lin)";
    case 2:
      return "c.read16(lin)";
    case 4:
      return "c.read32(lin)";
    default:
      return "c.read64(lin)";
  }
}

/** Statement writing `v`/`vh` of `size` bytes at `lin`. */
export function memWrite(size: number, v: string, vh = "0"): string {
  switch (size) {
    case 1:
      return `c.write8(lin, ${v});`;
    case 2:
      return `c.write16(lin, ${v});`;
    case 4:
      return `c.write32(lin, ${v});`;
    default:
      return `c.write64(lin, ${v}, ${vh});`;
  }
}
