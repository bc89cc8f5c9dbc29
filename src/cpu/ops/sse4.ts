/**
 * SSE4.1 and SSE4.2 (except the string compares, in sse_str.ts): pmovsx/pmovzx, pinsrb/d/q,
 * pextrb/d/q (pextrw's m16 form is in sse_int.ts), extractps, insertps, blendps/pd, pblendw,
 * blendvps/pd and pblendvb (implicit XMM0 mask), pmin/pmax sb/sd/uw/ud, pmuldq, pmulld,
 * packusdw, pcmpeqq, pcmpgtq, ptest, roundps/pd/ss/sd, dpps/dppd, mpsadbw, phminposuw, and
 * crc32.
 */

import { Mnemonic } from "iced-x86";
import type { Cpu, Op } from "../cpu.ts";
import { setArithFlags } from "../flags.ts";
import {
  f32Arith,
  f32RoundInt,
  f64Arith,
  f64RoundInt,
  FP,
  OP_ADD,
  OP_MUL,
  R64,
} from "../fp/softfloat.ts";
import { type Insn, K_REG } from "../insn.ts";
import { eaOf, getReg, readMem } from "../operands.ts";
import { FLAG_CF, FLAG_ZF, FLAGS_ARITH } from "../regs.ts";
import { define } from "./registry.ts";
import { packusdw, pextrMem, pmuldq, pmulld } from "./sse_int.ts";
import {
  B,
  binop,
  commit,
  fpBinop,
  I16,
  I32,
  I8,
  type Kernel,
  loadA,
  loader,
  sseCheck,
  storeA,
  U16,
  U32,
  U8,
  xr,
} from "./sse_util.ts";

// ---- pmovsx / pmovzx ----------------------------------------------------------------------------

function pmovx(from: number, to: number, signed: boolean): Kernel {
  const n = 16 / to;
  return () => {
    for (let i = 0; i < n; i++) {
      let v: number;
      if (from === 1) v = signed ? I8[16 + i]! : U8[16 + i]!;
      else if (from === 2) v = signed ? I16[8 + i]! : U16[8 + i]!;
      else v = signed ? I32[B + i]! : U32[B + i]!;
      if (to === 2) I16[i] = v;
      else if (to === 4) I32[i] = v;
      else {
        I32[2 * i] = v;
        I32[2 * i + 1] = signed && v < 0 ? -1 : 0;
      }
    }
  };
}

const PMOVX: [Mnemonic, number, number, boolean][] = [
  [Mnemonic.Pmovsxbw, 1, 2, true],
  [Mnemonic.Pmovsxbd, 1, 4, true],
  [Mnemonic.Pmovsxbq, 1, 8, true],
  [Mnemonic.Pmovsxwd, 2, 4, true],
  [Mnemonic.Pmovsxwq, 2, 8, true],
  [Mnemonic.Pmovsxdq, 4, 8, true],
  [Mnemonic.Pmovzxbw, 1, 2, false],
  [Mnemonic.Pmovzxbd, 1, 4, false],
  [Mnemonic.Pmovzxbq, 1, 8, false],
  [Mnemonic.Pmovzxwd, 2, 4, false],
  [Mnemonic.Pmovzxwq, 2, 8, false],
  [Mnemonic.Pmovzxdq, 4, 8, false],
];

// ---- insert / extract ---------------------------------------------------------------------------

/** pinsrb/pinsrd/pinsrq xmm, r/m, imm8 (element size 1, 4, 8). */
function buildPinsr(d: Insn, size: number): Op {
  const x = xr(d, 0), next = d.next;
  const n = 16 / size, idx = d.ops[2]!.lo & (n - 1);
  const src = d.ops[1]!;
  let get: (c: Cpu) => number;
  if (src.kind === K_REG) {
    const r = src.reg;
    get = (c) => {
      c.tHi = c.hi[r]!;
      return c.lo[r]!;
    };
  } else {
    const ea = eaOf(d);
    get = size === 1 ? (c) => c.read8(ea(c)) : (c) => readMem(c, ea(c), size);
  }
  return (c) => {
    sseCheck(c);
    const v = get(c), hi = c.tHi;
    const X = c.xmm;
    if (size === 1) {
      const k = x + (idx >> 2), sh = (idx & 3) * 8;
      X[k] = (X[k]! & ~(0xff << sh)) | ((v & 0xff) << sh);
    } else if (size === 4) X[x + idx] = v;
    else {
      X[x + 2 * idx] = v;
      X[x + 2 * idx + 1] = hi;
    }
    c.rip = next;
  };
}

/** pextrb/pextrd/pextrq/extractps r/m, xmm, imm8. */
function buildPextr(d: Insn, size: number): Op {
  const s = xr(d, 1), next = d.next;
  const n = 16 / size, idx = d.ops[2]!.lo & (n - 1);
  const get = size === 1
    ? (c: Cpu) => (c.xmm[s + (idx >> 2)]! >>> ((idx & 3) * 8)) & 0xff
    : size === 4
    ? (c: Cpu) => c.xmm[s + idx]!
    : (c: Cpu) => c.xmm[s + 2 * idx]!;
  const dst = d.ops[0]!;
  if (dst.kind === K_REG) {
    const r = dst.reg;
    return (c) => {
      sseCheck(c);
      c.lo[r] = get(c);
      c.hi[r] = size === 8 ? c.xmm[s + 2 * idx + 1]! : 0;
      c.rip = next;
    };
  }
  if (size === 8) {
    const ea = eaOf(d);
    return (c) => {
      sseCheck(c);
      c.write64(ea(c), c.xmm[s + 2 * idx]!, c.xmm[s + 2 * idx + 1]!);
      c.rip = next;
    };
  }
  return pextrMem(d, size, get);
}

/** insertps xmm1, xmm2/m32, imm8. */
function buildInsertps(d: Insn): Op {
  const x = xr(d, 0), next = d.next, imm = d.ops[2]!.lo;
  const fromReg = d.ops[1]!.kind === K_REG;
  const sIdx = fromReg ? (imm >> 6) & 3 : 0, dIdx = (imm >> 4) & 3, zmask = imm & 15;
  const ld = loader(d, 1, B, false);
  return (c) => {
    sseCheck(c);
    ld(c);
    const X = c.xmm;
    X[x + dIdx] = I32[B + sIdx]!;
    for (let i = 0; i < 4; i++) if (zmask & (1 << i)) X[x + i] = 0;
    c.rip = next;
  };
}

// ---- blends -------------------------------------------------------------------------------------

function blendImm(d: Insn, elem: number): Op {
  const imm = d.ops[2]!.lo;
  if (elem === 2) {
    return binop(d, () => {
      for (let i = 0; i < 8; i++) if (imm & (1 << i)) U16[i] = U16[8 + i]!;
    });
  }
  const per = elem / 4; // dwords per element
  return binop(d, () => {
    for (let i = 0; i < 4; i++) if (imm & (1 << Math.floor(i / per))) I32[i] = I32[B + i]!;
  });
}

/** blendvps/blendvpd/pblendvb: the mask is the sign bit of each element of XMM0. */
function blendVar(d: Insn, elem: number): Op {
  const x = xr(d, 0), next = d.next;
  const ld = loader(d, 1, B, true);
  return (c) => {
    sseCheck(c);
    ld(c);
    loadA(c, x);
    const X = c.xmm;
    for (let k = 0; k < 4; k++) I32[8 + k] = X[k]!; // XMM0
    if (elem === 1) {
      for (let i = 0; i < 16; i++) if (U8[32 + i]! & 0x80) U8[i] = U8[16 + i]!;
    } else if (elem === 4) {
      for (let i = 0; i < 4; i++) if (I32[8 + i]! < 0) I32[i] = I32[B + i]!;
    } else {
      for (let i = 0; i < 4; i += 2) {
        if (I32[9 + i]! < 0) {
          I32[i] = I32[B + i]!;
          I32[i + 1] = I32[B + i + 1]!;
        }
      }
    }
    storeA(c, x);
    c.rip = next;
  };
}

// ---- integer min/max, compares ------------------------------------------------------------------

const pminsb: Kernel = () => {
  for (let i = 0; i < 16; i++) if (I8[16 + i]! < I8[i]!) I8[i] = I8[16 + i]!;
};
const pmaxsb: Kernel = () => {
  for (let i = 0; i < 16; i++) if (I8[16 + i]! > I8[i]!) I8[i] = I8[16 + i]!;
};
const pminuw: Kernel = () => {
  for (let i = 0; i < 8; i++) if (U16[8 + i]! < U16[i]!) U16[i] = U16[8 + i]!;
};
const pmaxuw: Kernel = () => {
  for (let i = 0; i < 8; i++) if (U16[8 + i]! > U16[i]!) U16[i] = U16[8 + i]!;
};
const pminsd: Kernel = () => {
  for (let i = 0; i < 4; i++) if (I32[B + i]! < I32[i]!) I32[i] = I32[B + i]!;
};
const pmaxsd: Kernel = () => {
  for (let i = 0; i < 4; i++) if (I32[B + i]! > I32[i]!) I32[i] = I32[B + i]!;
};
const pminud: Kernel = () => {
  for (let i = 0; i < 4; i++) if (U32[B + i]! < U32[i]!) U32[i] = U32[B + i]!;
};
const pmaxud: Kernel = () => {
  for (let i = 0; i < 4; i++) if (U32[B + i]! > U32[i]!) U32[i] = U32[B + i]!;
};
const pcmpeqq: Kernel = () => {
  for (let i = 0; i < 4; i += 2) {
    const v = I32[i] === I32[B + i] && I32[i + 1] === I32[B + i + 1] ? -1 : 0;
    I32[i] = v;
    I32[i + 1] = v;
  }
};
const pcmpgtq: Kernel = () => {
  for (let i = 0; i < 4; i += 2) {
    const ah = I32[i + 1]!, bh = I32[B + i + 1]!;
    const gt = ah > bh || (ah === bh && U32[i]! > U32[B + i]!);
    const v = gt ? -1 : 0;
    I32[i] = v;
    I32[i + 1] = v;
  }
};

/** mpsadbw: eight sums of absolute differences of 4-byte blocks. */
function mpsadbw(imm: number): Kernel {
  const so = (imm & 3) * 4, dof = ((imm >> 2) & 1) * 4;
  return () => {
    for (let i = 0; i < 8; i++) {
      let s = 0;
      for (let j = 0; j < 4; j++) s += Math.abs(U8[dof + i + j]! - U8[16 + so + j]!);
      U16[16 + i] = s;
    }
    commit();
  };
}

const phminposuw: Kernel = () => {
  let m = U16[8]!, idx = 0;
  for (let i = 1; i < 8; i++) {
    if (U16[8 + i]! < m) {
      m = U16[8 + i]!;
      idx = i;
    }
  }
  I32[0] = m | (idx << 16);
  I32[1] = 0;
  I32[2] = 0;
  I32[3] = 0;
};

/** ptest: ZF = (A & B) == 0, CF = (~A & B) == 0; the other arithmetic flags cleared. */
function buildPtest(d: Insn): Op {
  const x = xr(d, 0), next = d.next;
  const ld = loader(d, 1, B, true);
  return (c) => {
    sseCheck(c);
    ld(c);
    const X = c.xmm;
    let and = 0, andn = 0;
    for (let k = 0; k < 4; k++) {
      and |= X[x + k]! & I32[B + k]!;
      andn |= ~X[x + k]! & I32[B + k]!;
    }
    setArithFlags(c, FLAGS_ARITH, (and === 0 ? FLAG_ZF : 0) | (andn === 0 ? FLAG_CF : 0));
    c.rip = next;
  };
}

// ---- floating point -----------------------------------------------------------------------------

/** round*: imm8[1:0] mode unless imm8[2] (use MXCSR.RC); imm8[3] suppresses PE. */
function roundKernel(imm: number, dbl: boolean, lanes: number): Kernel {
  const fixed = (imm & 4) === 0, mode = imm & 3, quiet = (imm & 8) !== 0;
  return () => {
    const rc = fixed ? mode : FP.rc;
    if (dbl) {
      for (let i = 0; i < 2 * lanes; i += 2) {
        f64RoundInt(I32[B + i]!, I32[B + i + 1]!, rc, quiet);
        I32[i] = R64[0]!;
        I32[i + 1] = R64[1]!;
      }
    } else {
      for (let i = 0; i < lanes; i++) I32[i] = f32RoundInt(I32[B + i]!, rc, quiet);
    }
  };
}

/** dpps: masked products summed as (p0 + p1) + (p2 + p3), broadcast under the low mask. */
function dpps(imm: number): Kernel {
  return () => {
    const p0 = imm & 16 ? f32Arith(OP_MUL, I32[0]!, I32[B]!) : 0;
    const p1 = imm & 32 ? f32Arith(OP_MUL, I32[1]!, I32[B + 1]!) : 0;
    const p2 = imm & 64 ? f32Arith(OP_MUL, I32[2]!, I32[B + 2]!) : 0;
    const p3 = imm & 128 ? f32Arith(OP_MUL, I32[3]!, I32[B + 3]!) : 0;
    const s = f32Arith(OP_ADD, f32Arith(OP_ADD, p0, p1), f32Arith(OP_ADD, p2, p3));
    for (let i = 0; i < 4; i++) I32[i] = imm & (1 << i) ? s : 0;
  };
}
function dppd(imm: number): Kernel {
  return () => {
    let l0 = 0, h0 = 0, l1 = 0, h1 = 0;
    if (imm & 16) {
      f64Arith(OP_MUL, I32[0]!, I32[1]!, I32[B]!, I32[B + 1]!);
      l0 = R64[0]!;
      h0 = R64[1]!;
    }
    if (imm & 32) {
      f64Arith(OP_MUL, I32[2]!, I32[3]!, I32[B + 2]!, I32[B + 3]!);
      l1 = R64[0]!;
      h1 = R64[1]!;
    }
    f64Arith(OP_ADD, l0, h0, l1, h1);
    const rl = R64[0]!, rh = R64[1]!;
    I32[0] = imm & 1 ? rl : 0;
    I32[1] = imm & 1 ? rh : 0;
    I32[2] = imm & 2 ? rl : 0;
    I32[3] = imm & 2 ? rh : 0;
  };
}

// ---- crc32 --------------------------------------------------------------------------------------

/** CRC-32C (Castagnoli), reflected polynomial 0x82F63B78, one table per byte. */
const CRC = new Int32Array(256);
for (let i = 0; i < 256; i++) {
  let v = i;
  for (let k = 0; k < 8; k++) v = v & 1 ? (v >>> 1) ^ 0x82f63b78 : v >>> 1;
  CRC[i] = v;
}

function crcBytes(crc: number, v: number, n: number): number {
  for (let k = 0; k < n; k++) {
    crc = (crc >>> 8) ^ CRC[(crc ^ v) & 0xff]!;
    v >>>= 8;
  }
  return crc;
}

function buildCrc32(d: Insn): Op {
  const rd = d.ops[0]!.reg, next = d.next;
  const src = d.ops[1]!;
  const size = src.kind === K_REG ? src.size : d.mem!.size;
  const get = src.kind === K_REG
    ? ((r: number) => (c: Cpu) => getReg(c, r, size))(src.reg)
    : ((ea: (c: Cpu) => number) => (c: Cpu) => readMem(c, ea(c), size))(eaOf(d));
  return (c) => {
    const lo = get(c), hi = c.tHi;
    let crc = c.lo[rd]!;
    if (size === 8) crc = crcBytes(crcBytes(crc, lo, 4), hi, 4);
    else crc = crcBytes(crc, lo, size);
    c.lo[rd] = crc;
    c.hi[rd] = 0;
    c.rip = next;
  };
}

// ---- registration -------------------------------------------------------------------------------

for (const [m, from, to, signed] of PMOVX) {
  const k = pmovx(from, to, signed);
  define([m], (d) => binop(d, k));
}
define([Mnemonic.Pinsrb], (d) => buildPinsr(d, 1));
define([Mnemonic.Pinsrd], (d) => buildPinsr(d, 4));
define([Mnemonic.Pinsrq], (d) => buildPinsr(d, 8));
define([Mnemonic.Pextrb], (d) => buildPextr(d, 1));
define([Mnemonic.Pextrd, Mnemonic.Extractps], (d) => buildPextr(d, 4));
define([Mnemonic.Pextrq], (d) => buildPextr(d, 8));
define([Mnemonic.Insertps], buildInsertps);
define([Mnemonic.Blendps], (d) => blendImm(d, 4));
define([Mnemonic.Blendpd], (d) => blendImm(d, 8));
define([Mnemonic.Pblendw], (d) => blendImm(d, 2));
define([Mnemonic.Blendvps], (d) => blendVar(d, 4));
define([Mnemonic.Blendvpd], (d) => blendVar(d, 8));
define([Mnemonic.Pblendvb], (d) => blendVar(d, 1));
define([Mnemonic.Pminsb], (d) => binop(d, pminsb));
define([Mnemonic.Pmaxsb], (d) => binop(d, pmaxsb));
define([Mnemonic.Pminuw], (d) => binop(d, pminuw));
define([Mnemonic.Pmaxuw], (d) => binop(d, pmaxuw));
define([Mnemonic.Pminsd], (d) => binop(d, pminsd));
define([Mnemonic.Pmaxsd], (d) => binop(d, pmaxsd));
define([Mnemonic.Pminud], (d) => binop(d, pminud));
define([Mnemonic.Pmaxud], (d) => binop(d, pmaxud));
define([Mnemonic.Pmuldq], (d) => binop(d, pmuldq));
define([Mnemonic.Pmulld], (d) => binop(d, pmulld));
define([Mnemonic.Packusdw], (d) => binop(d, packusdw));
define([Mnemonic.Pcmpeqq], (d) => binop(d, pcmpeqq));
define([Mnemonic.Pcmpgtq], (d) => binop(d, pcmpgtq));
define([Mnemonic.Mpsadbw], (d) => binop(d, mpsadbw(d.ops[2]!.lo)));
define([Mnemonic.Phminposuw], (d) => binop(d, phminposuw));
define([Mnemonic.Ptest], buildPtest);
define([Mnemonic.Roundps], (d) => fpBinop(d, roundKernel(d.ops[2]!.lo, false, 4)));
define([Mnemonic.Roundss], (d) => fpBinop(d, roundKernel(d.ops[2]!.lo, false, 1)));
define([Mnemonic.Roundpd], (d) => fpBinop(d, roundKernel(d.ops[2]!.lo, true, 2)));
define([Mnemonic.Roundsd], (d) => fpBinop(d, roundKernel(d.ops[2]!.lo, true, 1)));
define([Mnemonic.Dpps], (d) => fpBinop(d, dpps(d.ops[2]!.lo)));
define([Mnemonic.Dppd], (d) => fpBinop(d, dppd(d.ops[2]!.lo)));
define([Mnemonic.Crc32], buildCrc32);
