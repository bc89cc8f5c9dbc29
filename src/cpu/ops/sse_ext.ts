/**
 * SSE3 arithmetic (addsubps/pd, haddps/pd, hsubps/pd; SSE3's moves are in sse_mov.ts) and SSSE3
 * (pshufb, phadd/phsub w/d/sw, pmaddubsw, pmulhrsw, pabs b/w/d, psign b/w/d, palignr) on XMM
 * registers. The SSSE3 MMX forms use the same kernels through sse_int.ts's `mmxForm` (kernel
 * table `SSSE3_KERNELS`).
 */

import { Mnemonic } from "iced-x86";
import { f32Arith, f64Arith, OP_ADD, OP_SUB, R64 } from "../fp/softfloat.ts";
import { define } from "./registry.ts";
import { mmxForm } from "./sse_int.ts";
import {
  B,
  binop,
  commit,
  fpBinop,
  I16,
  I32,
  I8,
  isMm,
  type Kernel,
  sat16,
  U16,
  U8,
} from "./sse_util.ts";

// ---- SSE3 floating point --------------------------------------------------------------------------

const addsubps: Kernel = () => {
  for (let i = 0; i < 4; i++) I32[i] = f32Arith(i & 1 ? OP_ADD : OP_SUB, I32[i]!, I32[B + i]!);
};
const addsubpd: Kernel = () => {
  f64Arith(OP_SUB, I32[0]!, I32[1]!, I32[B]!, I32[B + 1]!);
  I32[0] = R64[0]!;
  I32[1] = R64[1]!;
  f64Arith(OP_ADD, I32[2]!, I32[3]!, I32[B + 2]!, I32[B + 3]!);
  I32[2] = R64[0]!;
  I32[3] = R64[1]!;
};
function hps(op: number): Kernel {
  return () => {
    const r0 = f32Arith(op, I32[0]!, I32[1]!), r1 = f32Arith(op, I32[2]!, I32[3]!);
    const r2 = f32Arith(op, I32[B]!, I32[B + 1]!), r3 = f32Arith(op, I32[B + 2]!, I32[B + 3]!);
    I32[0] = r0;
    I32[1] = r1;
    I32[2] = r2;
    I32[3] = r3;
  };
}
function hpd(op: number): Kernel {
  return () => {
    f64Arith(op, I32[0]!, I32[1]!, I32[2]!, I32[3]!);
    I32[0] = R64[0]!;
    I32[1] = R64[1]!;
    f64Arith(op, I32[B]!, I32[B + 1]!, I32[B + 2]!, I32[B + 3]!);
    I32[2] = R64[0]!;
    I32[3] = R64[1]!;
  };
}

// ---- SSSE3 --------------------------------------------------------------------------------------

const pshufb: Kernel = () => {
  for (let i = 0; i < 16; i++) {
    const s = U8[16 + i]!;
    U8[32 + i] = (s & 0x80) !== 0 ? 0 : U8[s & 15]!;
  }
  commit();
};

// Horizontal word/dword operations: pairs of A, then pairs of B.
const phaddw: Kernel = () => {
  for (let i = 0; i < 4; i++) {
    I16[16 + i] = I16[2 * i]! + I16[2 * i + 1]!;
    I16[20 + i] = I16[8 + 2 * i]! + I16[9 + 2 * i]!;
  }
  commit();
};
const phsubw: Kernel = () => {
  for (let i = 0; i < 4; i++) {
    I16[16 + i] = I16[2 * i]! - I16[2 * i + 1]!;
    I16[20 + i] = I16[8 + 2 * i]! - I16[9 + 2 * i]!;
  }
  commit();
};
const phaddsw: Kernel = () => {
  for (let i = 0; i < 4; i++) {
    I16[16 + i] = sat16(I16[2 * i]! + I16[2 * i + 1]!);
    I16[20 + i] = sat16(I16[8 + 2 * i]! + I16[9 + 2 * i]!);
  }
  commit();
};
const phsubsw: Kernel = () => {
  for (let i = 0; i < 4; i++) {
    I16[16 + i] = sat16(I16[2 * i]! - I16[2 * i + 1]!);
    I16[20 + i] = sat16(I16[8 + 2 * i]! - I16[9 + 2 * i]!);
  }
  commit();
};
const phaddd: Kernel = () => {
  const r0 = I32[0]! + I32[1]!, r1 = I32[2]! + I32[3]!;
  const r2 = I32[B]! + I32[B + 1]!, r3 = I32[B + 2]! + I32[B + 3]!;
  I32[0] = r0;
  I32[1] = r1;
  I32[2] = r2;
  I32[3] = r3;
};
const phsubd: Kernel = () => {
  const r0 = I32[0]! - I32[1]!, r1 = I32[2]! - I32[3]!;
  const r2 = I32[B]! - I32[B + 1]!, r3 = I32[B + 2]! - I32[B + 3]!;
  I32[0] = r0;
  I32[1] = r1;
  I32[2] = r2;
  I32[3] = r3;
};

const pmaddubsw: Kernel = () => {
  for (let i = 0; i < 8; i++) {
    I16[i] = sat16(U8[2 * i]! * I8[16 + 2 * i]! + U8[2 * i + 1]! * I8[17 + 2 * i]!);
  }
};
const pmulhrsw: Kernel = () => {
  for (let i = 0; i < 8; i++) I16[i] = (((I16[i]! * I16[8 + i]!) >> 14) + 1) >> 1;
};
const pabsb: Kernel = () => {
  for (let i = 0; i < 16; i++) U8[i] = Math.abs(I8[16 + i]!);
};
const pabsw: Kernel = () => {
  for (let i = 0; i < 8; i++) U16[i] = Math.abs(I16[8 + i]!);
};
const pabsd: Kernel = () => {
  for (let i = 0; i < 4; i++) {
    const v = I32[B + i]!;
    I32[i] = v < 0 ? -v : v;
  }
};
const psignb: Kernel = () => {
  for (let i = 0; i < 16; i++) {
    const s = I8[16 + i]!;
    I8[i] = s < 0 ? -I8[i]! : s === 0 ? 0 : I8[i]!;
  }
};
const psignw: Kernel = () => {
  for (let i = 0; i < 8; i++) {
    const s = I16[8 + i]!;
    I16[i] = s < 0 ? -I16[i]! : s === 0 ? 0 : I16[i]!;
  }
};
const psignd: Kernel = () => {
  for (let i = 0; i < 4; i++) {
    const s = I32[B + i]!;
    I32[i] = s < 0 ? -I32[i]! : s === 0 ? 0 : I32[i]!;
  }
};

/** palignr: (A:B) >> 8·n bytes, low 16 bytes; `width` 16 (XMM) or 8 (MMX, in the low halves). */
export function palignr(n: number, width: number): Kernel {
  return () => {
    // composite bytes: B[0..width) then A[0..width)
    for (let i = 0; i < width; i++) {
      const k = i + n;
      U8[32 + i] = k < width ? U8[16 + k]! : k < 2 * width ? U8[k - width]! : 0;
    }
    commit();
  };
}

/** Kernels of the SSSE3 two-operand forms (MMX forms use them too). */
export const SSSE3_KERNELS = new Map<Mnemonic, Kernel>([
  [Mnemonic.Pshufb, pshufb],
  [Mnemonic.Phaddw, phaddw],
  [Mnemonic.Phaddd, phaddd],
  [Mnemonic.Phaddsw, phaddsw],
  [Mnemonic.Phsubw, phsubw],
  [Mnemonic.Phsubd, phsubd],
  [Mnemonic.Phsubsw, phsubsw],
  [Mnemonic.Pmaddubsw, pmaddubsw],
  [Mnemonic.Pmulhrsw, pmulhrsw],
  [Mnemonic.Pabsb, pabsb],
  [Mnemonic.Pabsw, pabsw],
  [Mnemonic.Pabsd, pabsd],
  [Mnemonic.Psignb, psignb],
  [Mnemonic.Psignw, psignw],
  [Mnemonic.Psignd, psignd],
]);

define([...SSSE3_KERNELS.keys()], (d) => {
  const k = SSSE3_KERNELS.get(d.mnemonic)!;
  return isMm(d, 0) ? mmxForm(d, k) : binop(d, k);
});
define([Mnemonic.Palignr], (d) => {
  const n = d.ops[2]!.lo & 0xff;
  return isMm(d, 0) ? mmxForm(d, palignr(n, 8)) : binop(d, palignr(n, 16));
});
define([Mnemonic.Addsubps], (d) => fpBinop(d, addsubps));
define([Mnemonic.Addsubpd], (d) => fpBinop(d, addsubpd));
{
  const haddps = hps(OP_ADD), hsubps = hps(OP_SUB), haddpd = hpd(OP_ADD), hsubpd = hpd(OP_SUB);
  define([Mnemonic.Haddps], (d) => fpBinop(d, haddps));
  define([Mnemonic.Hsubps], (d) => fpBinop(d, hsubps));
  define([Mnemonic.Haddpd], (d) => fpBinop(d, haddpd));
  define([Mnemonic.Hsubpd], (d) => fpBinop(d, hsubpd));
}
