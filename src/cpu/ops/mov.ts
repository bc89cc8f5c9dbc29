/**
 * Data movement: mov (GPR/segment forms), movzx/movsx/movsxd, lea, xchg, cmovcc, setcc, bswap,
 * the sign-extension family (cbw … cqo) and movbe.
 */

import { Mnemonic } from "iced-x86";
import type { Op } from "../cpu.ts";
import { testCC } from "../flags.ts";
import { type Insn, K_IMM, K_REG, RC_CR, RC_DR, RC_SEG } from "../insn.ts";
import { buildMovCr, buildMovDr } from "./system.ts";
import { eaOf, getReg, immLo, readMem, rmwBegin, rmwEnd, setReg, writeMem } from "../operands.ts";
import { RAX, RDX, SS, VEC_UD } from "../regs.ts";
import { TWO32 } from "../u64.ts";
import { define } from "./registry.ts";

function buildMov(d: Insn): Op {
  const dst = d.ops[0]!, src = d.ops[1]!;
  const next = d.next;
  if (dst.rc === RC_CR || src.rc === RC_CR) return buildMovCr(d);
  if (dst.rc === RC_DR || src.rc === RC_DR) return buildMovDr(d);
  if (dst.kind === K_REG && dst.rc === RC_SEG) return movToSeg(d);
  if (src.kind === K_REG && src.rc === RC_SEG) {
    const s = src.reg;
    if (dst.kind === K_REG) {
      const r = dst.reg, size = dst.size;
      return (c) => {
        setReg(c, r, size === 8 ? 4 : size, c.segSel[s]!, 0); // 32/64-bit forms zero-extend
        c.rip = next;
      };
    }
    const ea = eaOf(d);
    return (c) => {
      c.write16(ea(c), c.segSel[s]!);
      c.rip = next;
    };
  }
  if (dst.kind === K_REG) {
    const rd = dst.reg, size = dst.size;
    if (src.kind === K_REG) {
      const rs = src.reg;
      if (size === 8) {
        return (c) => {
          c.lo[rd] = c.lo[rs]!;
          c.hi[rd] = c.hi[rs]!;
          c.rip = next;
        };
      }
      if (size === 4) {
        return (c) => {
          c.lo[rd] = c.lo[rs]!;
          c.hi[rd] = 0;
          c.rip = next;
        };
      }
      return (c) => {
        setReg(c, rd, size, getReg(c, rs, size), 0);
        c.rip = next;
      };
    }
    if (src.kind === K_IMM) {
      const lo = immLo(src.lo, size), hi = size === 8 ? src.hi : 0;
      if (size >= 4) {
        return (c) => {
          c.lo[rd] = lo;
          c.hi[rd] = hi;
          c.rip = next;
        };
      }
      return (c) => {
        setReg(c, rd, size, lo, 0);
        c.rip = next;
      };
    }
    const ea = eaOf(d);
    if (size === 8) {
      return (c) => {
        const lo = c.read64(ea(c));
        c.lo[rd] = lo;
        c.hi[rd] = c.tHi;
        c.rip = next;
      };
    }
    if (size === 4) {
      return (c) => {
        c.lo[rd] = c.read32(ea(c));
        c.hi[rd] = 0;
        c.rip = next;
      };
    }
    return (c) => {
      setReg(c, rd, size, readMem(c, ea(c), size), 0);
      c.rip = next;
    };
  }
  // Memory destination.
  const ea = eaOf(d);
  const size = d.mem!.size;
  if (src.kind === K_REG) {
    const rs = src.reg;
    if (size === 8) {
      return (c) => {
        c.write64(ea(c), c.lo[rs]!, c.hi[rs]!);
        c.rip = next;
      };
    }
    if (size === 4) {
      return (c) => {
        c.write32(ea(c), c.lo[rs]!);
        c.rip = next;
      };
    }
    return (c) => {
      writeMem(c, ea(c), size, getReg(c, rs, size), 0);
      c.rip = next;
    };
  }
  const lo = immLo(src.lo, size), hi = src.hi;
  return (c) => {
    writeMem(c, ea(c), size, lo, hi);
    c.rip = next;
  };
}

function movToSeg(d: Insn): Op {
  const seg = d.ops[0]!.reg, src = d.ops[1]!, next = d.next;
  if (seg === 1) return (c) => c.raise(VEC_UD); // mov cs is #UD
  const get = src.kind === K_REG
    ? ((r: number) => (c: Parameters<Op>[0]) => c.lo[r]! & 0xffff)(src.reg)
    : (() => {
      const ea = eaOf(d);
      return (c: Parameters<Op>[0]) => c.read16(ea(c));
    })();
  return (c) => {
    c.loadSeg(seg, get(c));
    if (seg === SS) {
      c.shadow = true;
      c.shadowSs = true;
      c.brk = true;
    }
    c.rip = next;
  };
}

/** Source reader for movzx/movsx-like ops: returns the zero-extended source. */
function srcReader(d: Insn, size: number): (c: Parameters<Op>[0]) => number {
  const src = d.ops[1]!;
  if (src.kind === K_REG) {
    const r = src.reg;
    return (c) => getReg(c, r, size);
  }
  const ea = eaOf(d);
  return (c) => readMem(c, ea(c), size);
}

function buildMovx(d: Insn, signed: boolean): Op {
  const dst = d.ops[0]!, next = d.next;
  const ssize = d.ops[1]!.kind === K_REG ? d.ops[1]!.size : d.mem!.size;
  const get = srcReader(d, ssize);
  const rd = dst.reg, dsize = dst.size;
  const shift = 32 - ssize * 8;
  return (c) => {
    let v = get(c);
    if (signed && shift > 0) v = (v << shift) >> shift;
    else if (signed) v = v | 0;
    const hi = signed ? v >> 31 : 0;
    setReg(c, rd, dsize, v, hi);
    c.rip = next;
  };
}

function buildLea(d: Insn): Op {
  const m = d.mem!, rd = d.ops[0]!.reg, size = d.ops[0]!.size, next = d.next;
  const { base, index, scale, disp } = m;
  if (m.addrSize === 8) {
    const sh = scale === 8 ? 3 : scale === 4 ? 2 : scale === 2 ? 1 : 0;
    const dlo = disp | 0, dhi = Math.floor(disp / TWO32) | 0;
    return (c) => {
      let lo: number, hi: number;
      if (base === -2) {
        lo = dlo;
        hi = dhi;
      } else {
        // Exact 64-bit sum via 32-bit halves.
        let blo = 0, bhi = 0;
        if (base >= 0) {
          blo = c.lo[base]!;
          bhi = c.hi[base]!;
        }
        let ilo = 0, ihi = 0;
        if (index >= 0) {
          ilo = c.lo[index]!;
          ihi = c.hi[index]!;
          if (sh) {
            ihi = (ihi << sh) | (ilo >>> (32 - sh));
            ilo = ilo << sh;
          }
        }
        let s = (blo >>> 0) + (ilo >>> 0);
        let carry = s > 0xffffffff ? 1 : 0;
        hi = (bhi + ihi + carry) | 0;
        s = (s >>> 0) + (dlo >>> 0);
        carry = s > 0xffffffff ? 1 : 0;
        lo = s | 0;
        hi = (hi + dhi + carry) | 0;
      }
      setReg(c, rd, size, lo, hi);
      c.rip = next;
    };
  }
  const mask = m.addrSize === 4 ? -1 : 0xffff;
  return (c) => {
    let a = disp;
    if (base >= 0) a += c.lo[base]!;
    if (index >= 0) a += c.lo[index]! * scale;
    if (base === -2) a = disp;
    setReg(c, rd, size, a & mask, 0);
    c.rip = next;
  };
}

function buildXchg(d: Insn): Op {
  const a = d.ops[0]!, b = d.ops[1]!, next = d.next;
  if (a.kind === K_REG && b.kind === K_REG) {
    const ra = a.reg, rb = b.reg, size = a.size;
    return (c) => {
      const va = getReg(c, ra, size), vah = c.tHi;
      const vb = getReg(c, rb, size), vbh = c.tHi;
      setReg(c, ra, size, vb, vbh);
      setReg(c, rb, size, va, vah);
      c.rip = next;
    };
  }
  const reg = a.kind === K_REG ? a : b;
  const ea = eaOf(d), size = reg.size, r = reg.reg;
  return (c) => {
    const m = rmwBegin(c, ea(c), size), mh = c.tHi;
    const v = getReg(c, r, size), vh = c.tHi;
    rmwEnd(c, size, v, vh);
    setReg(c, r, size, m, mh);
    c.rip = next;
  };
}

function buildCmov(d: Insn): Op {
  const cc = d.cc, rd = d.ops[0]!.reg, size = d.ops[0]!.size, next = d.next;
  const get = srcReader(d, size);
  return (c) => {
    const v = get(c), vh = c.tHi; // memory source is read (and may fault) regardless
    if (testCC(c, cc)) setReg(c, rd, size, v, vh);
    else if (size === 4) c.hi[rd] = 0;
    c.rip = next;
  };
}

function buildSetcc(d: Insn): Op {
  const cc = d.cc, dst = d.ops[0]!, next = d.next;
  if (dst.kind === K_REG) {
    const r = dst.reg;
    return (c) => {
      setReg(c, r, 1, testCC(c, cc) ? 1 : 0, 0);
      c.rip = next;
    };
  }
  const ea = eaOf(d);
  return (c) => {
    c.write8(ea(c), testCC(c, cc) ? 1 : 0);
    c.rip = next;
  };
}

function bswap32(v: number): number {
  return ((v << 24) | ((v & 0xff00) << 8) | ((v >>> 8) & 0xff00) | (v >>> 24)) | 0;
}

function buildBswap(d: Insn): Op {
  const r = d.ops[0]!.reg, size = d.ops[0]!.size, next = d.next;
  if (size === 8) {
    return (c) => {
      const lo = c.lo[r]!, hi = c.hi[r]!;
      c.lo[r] = bswap32(hi);
      c.hi[r] = bswap32(lo);
      c.rip = next;
    };
  }
  if (size === 2) {
    // BSWAP with a 16-bit operand is undefined; Intel and AMD produce 0 in the low word.
    return (c) => {
      c.lo[r] = c.lo[r]! & ~0xffff;
      c.rip = next;
    };
  }
  return (c) => {
    c.lo[r] = bswap32(c.lo[r]!);
    c.hi[r] = 0;
    c.rip = next;
  };
}

function buildMovbe(d: Insn): Op {
  const dst = d.ops[0]!, next = d.next;
  const swap = (v: number, size: number) =>
    size === 2 ? ((v & 0xff) << 8) | ((v >>> 8) & 0xff) : bswap32(v);
  const ea = eaOf(d);
  if (dst.kind === K_REG) {
    const r = dst.reg, size = dst.size;
    return (c) => {
      const lo = readMem(c, ea(c), size), hi = c.tHi;
      if (size === 8) setReg(c, r, 8, bswap32(hi), bswap32(lo));
      else setReg(c, r, size, swap(lo, size), 0);
      c.rip = next;
    };
  }
  const r = d.ops[1]!.reg, size = d.ops[1]!.size;
  return (c) => {
    const lo = getReg(c, r, size), hi = c.tHi;
    if (size === 8) writeMem(c, ea(c), 8, bswap32(hi), bswap32(lo));
    else writeMem(c, ea(c), size, swap(lo, size), 0);
    c.rip = next;
  };
}

define([Mnemonic.Mov], buildMov);
define([Mnemonic.Movzx], (d) => buildMovx(d, false));
define([Mnemonic.Movsx, Mnemonic.Movsxd], (d) => buildMovx(d, true));
define([Mnemonic.Lea], buildLea);
define([Mnemonic.Xchg], buildXchg);
define([
  Mnemonic.Setb,
  Mnemonic.Setae,
  Mnemonic.Sete,
  Mnemonic.Setne,
  Mnemonic.Setbe,
  Mnemonic.Seta,
  Mnemonic.Sets,
  Mnemonic.Setns,
  Mnemonic.Setp,
  Mnemonic.Setnp,
  Mnemonic.Setl,
  Mnemonic.Setge,
  Mnemonic.Setle,
  Mnemonic.Setg,
  Mnemonic.Seto,
  Mnemonic.Setno,
], buildSetcc);
define([
  Mnemonic.Cmovb,
  Mnemonic.Cmovae,
  Mnemonic.Cmove,
  Mnemonic.Cmovne,
  Mnemonic.Cmovbe,
  Mnemonic.Cmova,
  Mnemonic.Cmovs,
  Mnemonic.Cmovns,
  Mnemonic.Cmovp,
  Mnemonic.Cmovnp,
  Mnemonic.Cmovl,
  Mnemonic.Cmovge,
  Mnemonic.Cmovle,
  Mnemonic.Cmovg,
  Mnemonic.Cmovo,
  Mnemonic.Cmovno,
], buildCmov);
define([Mnemonic.Bswap], buildBswap);
define([Mnemonic.Movbe], buildMovbe);

// cbw/cwde/cdqe: sign-extend the accumulator in place.
define([Mnemonic.Cbw], (d) => (c) => {
  c.lo[RAX] = (c.lo[RAX]! & ~0xffff) | (((c.lo[RAX]! << 24) >> 24) & 0xffff);
  c.rip = d.next;
});
define([Mnemonic.Cwde], (d) => (c) => {
  c.lo[RAX] = (c.lo[RAX]! << 16) >> 16;
  c.hi[RAX] = 0;
  c.rip = d.next;
});
define([Mnemonic.Cdqe], (d) => (c) => {
  c.hi[RAX] = c.lo[RAX]! >> 31;
  c.rip = d.next;
});
// cwd/cdq/cqo: sign of the accumulator into rDX.
define([Mnemonic.Cwd], (d) => (c) => {
  c.lo[RDX] = (c.lo[RDX]! & ~0xffff) | (((c.lo[RAX]! << 16) >> 31) & 0xffff);
  c.rip = d.next;
});
define([Mnemonic.Cdq], (d) => (c) => {
  c.lo[RDX] = c.lo[RAX]! >> 31;
  c.hi[RDX] = 0;
  c.rip = d.next;
});
define([Mnemonic.Cqo], (d) => (c) => {
  const s = c.hi[RAX]! >> 31;
  c.lo[RDX] = s;
  c.hi[RDX] = s;
  c.rip = d.next;
});
