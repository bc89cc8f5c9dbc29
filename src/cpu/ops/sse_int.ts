/**
 * SSE2 integer SIMD on XMM registers: padd/psub (wrapping and saturating), pmul*, pmadd*, pavg*,
 * pmin/pmax, psadbw, pcmpeq/pcmpgt, logic, shifts (by imm8 and by xmm/m128), byte shifts,
 * punpck*, pack*, pshufd/pshufhw/pshuflw, pinsrw/pextrw, pmovmskb. Kernels compute on the
 * scratch (sse_util.ts): destination in A, source in B, result in A.
 *
 * MMX forms of the same mnemonics are handled in sse_mmx.ts (when present) through the same
 * kernels; see `KERNELS`.
 */

import { Mnemonic } from "iced-x86";
import type { Cpu, Op } from "../cpu.ts";
import { type Insn, K_IMM, K_REG } from "../insn.ts";
import { eaOf, setReg } from "../operands.ts";
import { define, udOp } from "./registry.ts";
import {
  B,
  binop,
  C8,
  commit,
  I16,
  I32,
  I8,
  isMm,
  isXmm,
  type Kernel,
  loadA,
  loader,
  sat16,
  sat8,
  satU16,
  sseCheck,
  storeA,
  U16,
  U8,
  xr,
} from "./sse_util.ts";

// ---- element-wise arithmetic ----------------------------------------------------------------------

const paddb: Kernel = () => {
  for (let i = 0; i < 16; i++) U8[i] = U8[i]! + U8[16 + i]!;
};
const paddw: Kernel = () => {
  for (let i = 0; i < 8; i++) U16[i] = U16[i]! + U16[8 + i]!;
};
const paddd: Kernel = () => {
  for (let i = 0; i < 4; i++) I32[i] = I32[i]! + I32[B + i]!;
};
const paddq: Kernel = () => {
  for (let i = 0; i < 4; i += 2) {
    const s = (I32[i]! >>> 0) + (I32[B + i]! >>> 0);
    I32[i] = s;
    I32[i + 1] = I32[i + 1]! + I32[B + i + 1]! + (s > 0xffffffff ? 1 : 0);
  }
};
const psubb: Kernel = () => {
  for (let i = 0; i < 16; i++) U8[i] = U8[i]! - U8[16 + i]!;
};
const psubw: Kernel = () => {
  for (let i = 0; i < 8; i++) U16[i] = U16[i]! - U16[8 + i]!;
};
const psubd: Kernel = () => {
  for (let i = 0; i < 4; i++) I32[i] = I32[i]! - I32[B + i]!;
};
const psubq: Kernel = () => {
  for (let i = 0; i < 4; i += 2) {
    const s = (I32[i]! >>> 0) - (I32[B + i]! >>> 0);
    I32[i] = s;
    I32[i + 1] = I32[i + 1]! - I32[B + i + 1]! - (s < 0 ? 1 : 0);
  }
};
const paddsb: Kernel = () => {
  for (let i = 0; i < 16; i++) I8[i] = sat8(I8[i]! + I8[16 + i]!);
};
const paddsw: Kernel = () => {
  for (let i = 0; i < 8; i++) I16[i] = sat16(I16[i]! + I16[8 + i]!);
};
const paddusb: Kernel = () => {
  for (let i = 0; i < 16; i++) C8[i] = U8[i]! + U8[16 + i]!;
};
const paddusw: Kernel = () => {
  for (let i = 0; i < 8; i++) U16[i] = satU16(U16[i]! + U16[8 + i]!);
};
const psubsb: Kernel = () => {
  for (let i = 0; i < 16; i++) I8[i] = sat8(I8[i]! - I8[16 + i]!);
};
const psubsw: Kernel = () => {
  for (let i = 0; i < 8; i++) I16[i] = sat16(I16[i]! - I16[8 + i]!);
};
const psubusb: Kernel = () => {
  for (let i = 0; i < 16; i++) C8[i] = U8[i]! - U8[16 + i]!;
};
const psubusw: Kernel = () => {
  for (let i = 0; i < 8; i++) U16[i] = satU16(U16[i]! - U16[8 + i]!);
};

const pmullw: Kernel = () => {
  for (let i = 0; i < 8; i++) I16[i] = Math.imul(I16[i]!, I16[8 + i]!);
};
const pmulhw: Kernel = () => {
  for (let i = 0; i < 8; i++) I16[i] = (I16[i]! * I16[8 + i]!) >> 16;
};
const pmulhuw: Kernel = () => {
  for (let i = 0; i < 8; i++) U16[i] = (U16[i]! * U16[8 + i]!) >>> 16;
};
/** Unsigned 32×32 → 64 of dwords i (A) and B+i into I32[i], I32[i+1]. */
function mulU32(i: number, a: number, b: number): void {
  const a0 = a & 0xffff, a1 = a >>> 16, b0 = b & 0xffff, b1 = b >>> 16;
  const lo = a0 * b0, m1 = a1 * b0, m2 = a0 * b1, hi = a1 * b1;
  const mid = (lo >>> 16) + (m1 & 0xffff) + (m2 & 0xffff);
  I32[i] = (lo & 0xffff) | (mid << 16);
  I32[i + 1] = hi + (m1 >>> 16) + (m2 >>> 16) + (mid >>> 16);
}
const pmuludq: Kernel = () => {
  mulU32(0, I32[0]! >>> 0, I32[B]! >>> 0);
  mulU32(2, I32[2]! >>> 0, I32[B + 2]! >>> 0);
};
/** Signed 32×32 → 64 (pmuldq). */
function mulS32(i: number, a: number, b: number): void {
  const neg = (a < 0) !== (b < 0);
  mulU32(i, Math.abs(a), Math.abs(b));
  if (neg) {
    const lo = I32[i]!, hi = I32[i + 1]!;
    I32[i] = -lo;
    I32[i + 1] = lo === 0 ? -hi : ~hi;
  }
}
export const pmuldq: Kernel = () => {
  mulS32(0, I32[0]!, I32[B]!);
  mulS32(2, I32[2]!, I32[B + 2]!);
};
export const pmulld: Kernel = () => {
  for (let i = 0; i < 4; i++) I32[i] = Math.imul(I32[i]!, I32[B + i]!);
};
const pmaddwd: Kernel = () => {
  for (let i = 0; i < 4; i++) {
    I32[i] = I16[2 * i]! * I16[8 + 2 * i]! + I16[2 * i + 1]! * I16[8 + 2 * i + 1]!;
  }
};
const pavgb: Kernel = () => {
  for (let i = 0; i < 16; i++) U8[i] = (U8[i]! + U8[16 + i]! + 1) >>> 1;
};
const pavgw: Kernel = () => {
  for (let i = 0; i < 8; i++) U16[i] = (U16[i]! + U16[8 + i]! + 1) >>> 1;
};
const psadbw: Kernel = () => {
  for (let q = 0; q < 16; q += 8) {
    let s = 0;
    for (let i = q; i < q + 8; i++) s += Math.abs(U8[i]! - U8[16 + i]!);
    I32[q >> 2] = s;
    I32[(q >> 2) + 1] = 0;
  }
};

const pminub: Kernel = () => {
  for (let i = 0; i < 16; i++) if (U8[16 + i]! < U8[i]!) U8[i] = U8[16 + i]!;
};
const pmaxub: Kernel = () => {
  for (let i = 0; i < 16; i++) if (U8[16 + i]! > U8[i]!) U8[i] = U8[16 + i]!;
};
const pminsw: Kernel = () => {
  for (let i = 0; i < 8; i++) if (I16[8 + i]! < I16[i]!) I16[i] = I16[8 + i]!;
};
const pmaxsw: Kernel = () => {
  for (let i = 0; i < 8; i++) if (I16[8 + i]! > I16[i]!) I16[i] = I16[8 + i]!;
};

const pcmpeqb: Kernel = () => {
  for (let i = 0; i < 16; i++) U8[i] = U8[i] === U8[16 + i] ? 0xff : 0;
};
const pcmpeqw: Kernel = () => {
  for (let i = 0; i < 8; i++) U16[i] = U16[i] === U16[8 + i] ? 0xffff : 0;
};
const pcmpeqd: Kernel = () => {
  for (let i = 0; i < 4; i++) I32[i] = I32[i] === I32[B + i] ? -1 : 0;
};
const pcmpgtb: Kernel = () => {
  for (let i = 0; i < 16; i++) U8[i] = I8[i]! > I8[16 + i]! ? 0xff : 0;
};
const pcmpgtw: Kernel = () => {
  for (let i = 0; i < 8; i++) U16[i] = I16[i]! > I16[8 + i]! ? 0xffff : 0;
};
const pcmpgtd: Kernel = () => {
  for (let i = 0; i < 4; i++) I32[i] = I32[i]! > I32[B + i]! ? -1 : 0;
};

export const pand: Kernel = () => {
  for (let i = 0; i < 4; i++) I32[i] = I32[i]! & I32[B + i]!;
};
export const pandn: Kernel = () => {
  for (let i = 0; i < 4; i++) I32[i] = ~I32[i]! & I32[B + i]!;
};
export const por: Kernel = () => {
  for (let i = 0; i < 4; i++) I32[i] = I32[i]! | I32[B + i]!;
};
export const pxor: Kernel = () => {
  for (let i = 0; i < 4; i++) I32[i] = I32[i]! ^ I32[B + i]!;
};

// ---- unpack / pack --------------------------------------------------------------------------------

// Temporaries live in dwords 8..11 (bytes 32..47).
const punpcklbw: Kernel = () => {
  for (let i = 0; i < 8; i++) {
    U8[32 + 2 * i] = U8[i]!;
    U8[33 + 2 * i] = U8[16 + i]!;
  }
  commit();
};
const punpckhbw: Kernel = () => {
  for (let i = 0; i < 8; i++) {
    U8[32 + 2 * i] = U8[8 + i]!;
    U8[33 + 2 * i] = U8[24 + i]!;
  }
  commit();
};
const punpcklwd: Kernel = () => {
  for (let i = 0; i < 4; i++) {
    U16[16 + 2 * i] = U16[i]!;
    U16[17 + 2 * i] = U16[8 + i]!;
  }
  commit();
};
const punpckhwd: Kernel = () => {
  for (let i = 0; i < 4; i++) {
    U16[16 + 2 * i] = U16[4 + i]!;
    U16[17 + 2 * i] = U16[12 + i]!;
  }
  commit();
};
export const punpckldq: Kernel = () => {
  I32[2] = I32[1]!;
  I32[1] = I32[B]!;
  I32[3] = I32[B + 1]!;
};
export const punpckhdq: Kernel = () => {
  I32[0] = I32[2]!;
  I32[1] = I32[B + 2]!;
  I32[2] = I32[3]!;
  I32[3] = I32[B + 3]!;
};
export const punpcklqdq: Kernel = () => {
  I32[2] = I32[B]!;
  I32[3] = I32[B + 1]!;
};
export const punpckhqdq: Kernel = () => {
  I32[0] = I32[2]!;
  I32[1] = I32[3]!;
  I32[2] = I32[B + 2]!;
  I32[3] = I32[B + 3]!;
};

const packsswb: Kernel = () => {
  for (let i = 0; i < 8; i++) {
    I8[32 + i] = sat8(I16[i]!);
    I8[40 + i] = sat8(I16[8 + i]!);
  }
  commit();
};
const packuswb: Kernel = () => {
  for (let i = 0; i < 8; i++) {
    C8[32 + i] = I16[i]!;
    C8[40 + i] = I16[8 + i]!;
  }
  commit();
};
const packssdw: Kernel = () => {
  for (let i = 0; i < 4; i++) {
    I16[16 + i] = sat16(I32[i]!);
    I16[20 + i] = sat16(I32[B + i]!);
  }
  commit();
};
export const packusdw: Kernel = () => {
  for (let i = 0; i < 4; i++) {
    U16[16 + i] = satU16(I32[i]!);
    U16[20 + i] = satU16(I32[B + i]!);
  }
  commit();
};

/** Kernels of the two-operand `op xmm, xmm/m128` forms, shared with the MMX forms. */
export const KERNELS = new Map<Mnemonic, Kernel>([
  [Mnemonic.Paddb, paddb],
  [Mnemonic.Paddw, paddw],
  [Mnemonic.Paddd, paddd],
  [Mnemonic.Paddq, paddq],
  [Mnemonic.Psubb, psubb],
  [Mnemonic.Psubw, psubw],
  [Mnemonic.Psubd, psubd],
  [Mnemonic.Psubq, psubq],
  [Mnemonic.Paddsb, paddsb],
  [Mnemonic.Paddsw, paddsw],
  [Mnemonic.Paddusb, paddusb],
  [Mnemonic.Paddusw, paddusw],
  [Mnemonic.Psubsb, psubsb],
  [Mnemonic.Psubsw, psubsw],
  [Mnemonic.Psubusb, psubusb],
  [Mnemonic.Psubusw, psubusw],
  [Mnemonic.Pmullw, pmullw],
  [Mnemonic.Pmulhw, pmulhw],
  [Mnemonic.Pmulhuw, pmulhuw],
  [Mnemonic.Pmuludq, pmuludq],
  [Mnemonic.Pmaddwd, pmaddwd],
  [Mnemonic.Pavgb, pavgb],
  [Mnemonic.Pavgw, pavgw],
  [Mnemonic.Psadbw, psadbw],
  [Mnemonic.Pminub, pminub],
  [Mnemonic.Pmaxub, pmaxub],
  [Mnemonic.Pminsw, pminsw],
  [Mnemonic.Pmaxsw, pmaxsw],
  [Mnemonic.Pcmpeqb, pcmpeqb],
  [Mnemonic.Pcmpeqw, pcmpeqw],
  [Mnemonic.Pcmpeqd, pcmpeqd],
  [Mnemonic.Pcmpgtb, pcmpgtb],
  [Mnemonic.Pcmpgtw, pcmpgtw],
  [Mnemonic.Pcmpgtd, pcmpgtd],
  [Mnemonic.Pand, pand],
  [Mnemonic.Pandn, pandn],
  [Mnemonic.Por, por],
  [Mnemonic.Pxor, pxor],
  [Mnemonic.Punpcklbw, punpcklbw],
  [Mnemonic.Punpckhbw, punpckhbw],
  [Mnemonic.Punpcklwd, punpcklwd],
  [Mnemonic.Punpckhwd, punpckhwd],
  [Mnemonic.Punpckldq, punpckldq],
  [Mnemonic.Punpckhdq, punpckhdq],
  [Mnemonic.Punpcklqdq, punpcklqdq],
  [Mnemonic.Punpckhqdq, punpckhqdq],
  [Mnemonic.Packsswb, packsswb],
  [Mnemonic.Packuswb, packuswb],
  [Mnemonic.Packssdw, packssdw],
]);

/**
 * MMX forms of these mnemonics: built by sse_mmx.ts when it is loaded (it installs `build`; the
 * kernel is null for the forms that are not `mm ← k(mm, mm/m64)`), else #UD.
 */
export const mmxHook: { build: ((d: Insn, k: Kernel | null) => Op) | null } = { build: null };

/** The MMX form of `d` (kernel `k`, or null for the special forms), or #UD without sse_mmx.ts. */
export function mmxForm(d: Insn, k: Kernel | null = null): Op {
  return mmxHook.build !== null ? mmxHook.build(d, k) : udOp();
}

function buildBinop(d: Insn): Op {
  const k = KERNELS.get(d.mnemonic)!;
  if (isMm(d, 0) || isMm(d, 1)) return mmxForm(d, k);
  return binop(d, k);
}

// ---- shifts -------------------------------------------------------------------------------------

const SH_LL = 0, SH_RL = 1, SH_RA = 2;

/** Shifts the elements of A (element width w bits) by n (>= 0, may be huge). */
export function shiftA(kind: number, w: number, n: number): void {
  if (w === 16) {
    if (kind === SH_RA) {
      const k = n > 15 ? 15 : n;
      for (let i = 0; i < 8; i++) I16[i] = I16[i]! >> k;
    } else if (n > 15) {
      for (let i = 0; i < 4; i++) I32[i] = 0;
    } else if (kind === SH_LL) {
      for (let i = 0; i < 8; i++) U16[i] = U16[i]! << n;
    } else {
      for (let i = 0; i < 8; i++) U16[i] = U16[i]! >>> n;
    }
  } else if (w === 32) {
    if (kind === SH_RA) {
      const k = n > 31 ? 31 : n;
      for (let i = 0; i < 4; i++) I32[i] = I32[i]! >> k;
    } else if (n > 31) {
      for (let i = 0; i < 4; i++) I32[i] = 0;
    } else if (kind === SH_LL) {
      for (let i = 0; i < 4; i++) I32[i] = I32[i]! << n;
    } else {
      for (let i = 0; i < 4; i++) I32[i] = I32[i]! >>> n;
    }
  } else {
    // 64-bit lanes (logical only)
    for (let i = 0; i < 4; i += 2) {
      const lo = I32[i]!, hi = I32[i + 1]!;
      if (n > 63) {
        I32[i] = 0;
        I32[i + 1] = 0;
      } else if (n === 0) {
        // unchanged
      } else if (kind === SH_LL) {
        if (n < 32) {
          I32[i] = lo << n;
          I32[i + 1] = (hi << n) | (lo >>> (32 - n));
        } else {
          I32[i] = 0;
          I32[i + 1] = lo << (n - 32);
        }
      } else if (n < 32) {
        I32[i] = (lo >>> n) | (hi << (32 - n));
        I32[i + 1] = hi >>> n;
      } else {
        I32[i] = hi >>> (n - 32);
        I32[i + 1] = 0;
      }
    }
  }
}

function shiftKind(m: Mnemonic): [number, number] {
  switch (m) {
    case Mnemonic.Psllw:
      return [SH_LL, 16];
    case Mnemonic.Pslld:
      return [SH_LL, 32];
    case Mnemonic.Psllq:
      return [SH_LL, 64];
    case Mnemonic.Psrlw:
      return [SH_RL, 16];
    case Mnemonic.Psrld:
      return [SH_RL, 32];
    case Mnemonic.Psrlq:
      return [SH_RL, 64];
    case Mnemonic.Psraw:
      return [SH_RA, 16];
    default:
      return [SH_RA, 32];
  }
}

/** Count from the low 64 bits of B, saturated to 255 (all counts above the width act alike). */
export function countB(): number {
  return I32[B + 1] !== 0 || (I32[B]! >>> 0) > 255 ? 255 : I32[B]!;
}

function buildShift(d: Insn): Op {
  const [kind, w] = shiftKind(d.mnemonic);
  if (isMm(d, 0)) {
    if (d.ops[1]!.kind === K_IMM) {
      const n = d.ops[1]!.lo & 0xff;
      return mmxForm(d, () => shiftA(kind, w, n));
    }
    return mmxForm(d, () => shiftA(kind, w, countB()));
  }
  const x = xr(d, 0), next = d.next;
  if (d.ops[1]!.kind === K_IMM) {
    const n = d.ops[1]!.lo & 0xff;
    return (c) => {
      sseCheck(c);
      loadA(c, x);
      shiftA(kind, w, n);
      storeA(c, x);
      c.rip = next;
    };
  }
  return binop(d, () => shiftA(kind, w, countB()));
}

/** pslldq / psrldq: byte shifts of the whole register. */
function buildByteShift(d: Insn, left: boolean): Op {
  const x = xr(d, 0), next = d.next;
  const n = d.ops[1]!.lo & 0xff;
  return (c) => {
    sseCheck(c);
    loadA(c, x);
    for (let i = 0; i < 16; i++) {
      const k = left ? i - n : i + n;
      U8[32 + i] = k >= 0 && k < 16 ? U8[k]! : 0;
    }
    commit();
    storeA(c, x);
    c.rip = next;
  };
}

// ---- shuffles -----------------------------------------------------------------------------------

function buildPshufd(d: Insn): Op {
  const x = xr(d, 0), next = d.next;
  const ld = loader(d, 1, B, true);
  const imm = d.ops[2]!.lo;
  const s0 = B + (imm & 3), s1 = B + ((imm >> 2) & 3), s2 = B + ((imm >> 4) & 3);
  const s3 = B + ((imm >> 6) & 3);
  return (c) => {
    sseCheck(c);
    ld(c);
    const X = c.xmm;
    X[x] = I32[s0]!;
    X[x + 1] = I32[s1]!;
    X[x + 2] = I32[s2]!;
    X[x + 3] = I32[s3]!;
    c.rip = next;
  };
}

/** pshuflw (high=false) / pshufhw: shuffles the words of one half, copies the other. */
function buildPshufw(d: Insn, high: boolean): Op {
  const x = xr(d, 0), next = d.next;
  const ld = loader(d, 1, B, true);
  const imm = d.ops[2]!.lo;
  const base = 8 + (high ? 4 : 0); // word index of the shuffled half in B
  const w0 = base + (imm & 3), w1 = base + ((imm >> 2) & 3), w2 = base + ((imm >> 4) & 3);
  const w3 = base + ((imm >> 6) & 3);
  const dst = high ? 4 : 0, keep = high ? 0 : 2; // word / dword offsets in A
  return (c) => {
    sseCheck(c);
    ld(c);
    U16[dst] = U16[w0]!;
    U16[dst + 1] = U16[w1]!;
    U16[dst + 2] = U16[w2]!;
    U16[dst + 3] = U16[w3]!;
    I32[keep] = I32[B + keep]!;
    I32[keep + 1] = I32[B + keep + 1]!;
    storeA(c, x);
    c.rip = next;
  };
}

// ---- moves to and from general registers ----------------------------------------------------------

/** pmovmskb r32/r64, xmm: the sign bits of the 16 bytes. */
function buildPmovmskb(d: Insn): Op {
  if (isMm(d, 1)) return mmxForm(d, null);
  const rd = d.ops[0]!.reg, x = xr(d, 1), next = d.next;
  return (c) => {
    sseCheck(c);
    const X = c.xmm;
    let m = 0;
    for (let k = 3; k >= 0; k--) {
      const v = X[x + k]!;
      m = (m << 4) | ((v >>> 7) & 1) | ((v >>> 14) & 2) | ((v >>> 21) & 4) | ((v >>> 28) & 8);
    }
    c.lo[rd] = m;
    c.hi[rd] = 0;
    c.rip = next;
  };
}

/** pextrw r32/r64, xmm, imm8 (the SSE2 0F C5 form; SSE4.1's m16 form in sse41). */
function buildPextrw(d: Insn): Op {
  if (isMm(d, 1)) return mmxForm(d, null);
  const next = d.next, imm = d.ops[2]!.lo & 7;
  const x = xr(d, 1) + (imm >> 1), sh = (imm & 1) * 16;
  if (!isXmm(d, 1)) return udOp();
  if (d.ops[0]!.kind !== K_REG) {
    // SSE4.1 pextrw m16, xmm, imm8
    return pextrMem(d, 2, (c) => (c.xmm[x]! >>> sh) & 0xffff);
  }
  const rd = d.ops[0]!.reg;
  return (c) => {
    sseCheck(c);
    setReg(c, rd, 8, (c.xmm[x]! >>> sh) & 0xffff, 0);
    c.rip = next;
  };
}

/** Stores an extracted element to memory (SSE4.1 pextr* m forms). */
export function pextrMem(
  d: Insn,
  size: number,
  get: (c: Cpu) => number,
): Op {
  const next = d.next;
  const ea = eaOf(d);
  return (c) => {
    sseCheck(c);
    const v = get(c);
    const lin = ea(c);
    if (size === 1) c.write8(lin, v);
    else if (size === 2) c.write16(lin, v);
    else c.write32(lin, v);
    c.rip = next;
  };
}

/** pinsrw xmm, r32/m16, imm8. */
function buildPinsrw(d: Insn): Op {
  if (isMm(d, 0)) return mmxForm(d, null);
  const next = d.next, imm = d.ops[2]!.lo & 7;
  const x = xr(d, 0) + (imm >> 1), sh = (imm & 1) * 16;
  const keep = ~(0xffff << sh);
  const src = d.ops[1]!;
  if (src.kind === K_REG) {
    const r = src.reg;
    return (c) => {
      sseCheck(c);
      c.xmm[x] = (c.xmm[x]! & keep) | ((c.lo[r]! & 0xffff) << sh);
      c.rip = next;
    };
  }
  const ea = eaOf(d);
  return (c) => {
    sseCheck(c);
    const v = c.read16(ea(c));
    c.xmm[x] = (c.xmm[x]! & keep) | (v << sh);
    c.rip = next;
  };
}

define([...KERNELS.keys()], buildBinop);
define([
  Mnemonic.Psllw,
  Mnemonic.Pslld,
  Mnemonic.Psllq,
  Mnemonic.Psrlw,
  Mnemonic.Psrld,
  Mnemonic.Psrlq,
  Mnemonic.Psraw,
  Mnemonic.Psrad,
], buildShift);
define([Mnemonic.Pslldq], (d) => buildByteShift(d, true));
define([Mnemonic.Psrldq], (d) => buildByteShift(d, false));
define([Mnemonic.Pshufd], buildPshufd);
define([Mnemonic.Pshuflw], (d) => buildPshufw(d, false));
define([Mnemonic.Pshufhw], (d) => buildPshufw(d, true));
define([Mnemonic.Pmovmskb], buildPmovmskb);
define([Mnemonic.Pextrw], buildPextrw);
define([Mnemonic.Pinsrw], buildPinsrw);
