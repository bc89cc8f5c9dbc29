/** Stack instructions: push/pop (GPR, memory, immediate, segment), pushf/popf, enter/leave, pusha/popa. */

import { Code, Mnemonic } from "iced-x86";
import { type Cpu, type Op, WALK_WRITE } from "../cpu.ts";
import { type Insn, K_IMM, K_REG, RC_SEG } from "../insn.ts";
import { eaOf, getReg, readMem, setReg, writeMem } from "../operands.ts";
import {
  FLAG_AC,
  FLAG_AF,
  FLAG_CF,
  FLAG_DF,
  FLAG_ID,
  FLAG_IF,
  FLAG_IOPL,
  FLAG_NT,
  FLAG_OF,
  FLAG_PF,
  FLAG_SF,
  FLAG_TF,
  FLAG_VIF,
  FLAG_VIP,
  FLAG_VM,
  FLAG_ZF,
  RBP,
  RSP,
  SS,
  VEC_GP,
} from "../regs.ts";
import { TWO32 } from "../u64.ts";
import { define } from "./registry.ts";

/** Pushes a value of `size` bytes (2, 4 or 8). */
export function pushN(c: Cpu, size: number, lo: number, hi: number): void {
  if (size === 8) c.push64(lo, hi);
  else if (size === 4) c.push32(lo);
  else c.push16(lo);
}

function buildPush(d: Insn): Op {
  const size = -d.spInc, src = d.ops[0]!, next = d.next;
  if (src.kind === K_REG && src.rc === RC_SEG) {
    const s = src.reg;
    return (c) => {
      pushN(c, size, c.segSel[s]!, 0);
      c.rip = next;
    };
  }
  if (src.kind === K_REG) {
    const r = src.reg;
    if (size === 8) {
      return (c) => {
        c.push64(c.lo[r]!, c.hi[r]!);
        c.rip = next;
      };
    }
    return (c) => {
      pushN(c, size, getReg(c, r, size), 0);
      c.rip = next;
    };
  }
  if (src.kind === K_IMM) {
    const lo = src.lo, hi = src.size === 8 || size === 8 ? (src.size === 8 ? src.hi : lo >> 31) : 0;
    return (c) => {
      pushN(c, size, lo, hi);
      c.rip = next;
    };
  }
  const ea = eaOf(d);
  return (c) => {
    const lo = readMem(c, ea(c), size);
    pushN(c, size, lo, c.tHi);
    c.rip = next;
  };
}

function buildPop(d: Insn): Op {
  const size = d.spInc, dst = d.ops[0]!, next = d.next;
  if (dst.kind === K_REG && dst.rc === RC_SEG) {
    const s = dst.reg;
    return (c) => {
      // Load first (may fault), then commit RSP.
      const save = c.lo[RSP]!, saveHi = c.hi[RSP]!;
      const v = c.popN(size) & 0xffff;
      try {
        c.loadSeg(s, v);
      } catch (e) {
        c.lo[RSP] = save;
        c.hi[RSP] = saveHi;
        throw e;
      }
      if (s === SS) {
        c.shadow = true;
        c.shadowSs = true;
        c.brk = true;
      }
      c.rip = next;
    };
  }
  if (dst.kind === K_REG) {
    const r = dst.reg;
    if (size === 8) {
      return (c) => {
        const lo = c.pop64();
        c.lo[r] = lo;
        c.hi[r] = c.tHi;
        c.rip = next;
      };
    }
    return (c) => {
      const v = c.popN(size);
      setReg(c, r, size, v, 0);
      c.rip = next;
    };
  }
  // pop to memory: the address is computed with the incremented RSP (SDM).
  const ea = eaOf(d);
  return (c) => {
    const save = c.lo[RSP]!, saveHi = c.hi[RSP]!;
    const v = c.popN(size), vh = c.tHi;
    try {
      writeMem(c, ea(c), size, v, vh);
    } catch (e) {
      c.lo[RSP] = save;
      c.hi[RSP] = saveHi;
      throw e;
    }
    c.rip = next;
  };
}

function buildPushf(d: Insn): Op {
  const size = -d.spInc, next = d.next;
  return (c) => {
    if ((c.eflags & FLAG_VM) && ((c.eflags & FLAG_IOPL) >>> 12) < 3) c.raise(VEC_GP, 0);
    const f = c.getRflags() & ~(FLAG_VM | 0x10000); // VM and RF read as 0
    pushN(c, size, size === 2 ? f & 0xffff : f, 0);
    c.rip = next;
  };
}

const POPF_ALWAYS = FLAG_CF | FLAG_PF | FLAG_AF | FLAG_ZF | FLAG_SF | FLAG_TF | FLAG_DF | FLAG_OF |
  FLAG_NT | FLAG_AC | FLAG_ID;

function buildPopf(d: Insn): Op {
  const size = d.spInc, next = d.next;
  return (c) => {
    if ((c.eflags & FLAG_VM) && ((c.eflags & FLAG_IOPL) >>> 12) < 3) c.raise(VEC_GP, 0);
    const v = c.popN(size);
    let mask = POPF_ALWAYS;
    const iopl = (c.eflags & FLAG_IOPL) >>> 12;
    if (c.cpl === 0) mask |= FLAG_IOPL | FLAG_IF;
    else if (c.cpl <= iopl) mask |= FLAG_IF;
    if (size === 2) mask &= 0xffff;
    const cur = c.getRflags();
    c.setRflags(
      ((cur & ~mask) | (v & mask)) & ~(FLAG_VIP | FLAG_VIF | FLAG_VM) |
        (cur & (FLAG_VIP | FLAG_VIF | FLAG_VM)),
    );
    c.brk = true;
    c.rip = next;
  };
}

function buildLeave(d: Insn): Op {
  const next = d.next;
  const opSize = d.code === Code.Leavew ? 2 : d.code === Code.Leaved ? 4 : 8;
  return (c) => {
    const ss = c.stackSize();
    const saveLo = c.lo[RSP]!, saveHi = c.hi[RSP]!;
    // RSP := RBP (stack-address size), then pop RBP.
    if (ss === 8) {
      c.lo[RSP] = c.lo[RBP]!;
      c.hi[RSP] = c.hi[RBP]!;
    } else if (ss === 4) c.lo[RSP] = c.lo[RBP]!;
    else c.lo[RSP] = (c.lo[RSP]! & ~0xffff) | (c.lo[RBP]! & 0xffff);
    try {
      const v = c.popN(opSize);
      setReg(c, RBP, opSize, v, c.tHi);
    } catch (e) {
      c.lo[RSP] = saveLo;
      c.hi[RSP] = saveHi;
      throw e;
    }
    c.rip = next;
  };
}

/**
 * ENTER alloc, level (SDM pseudocode): push rBP, copy `level - 1` frame pointers from the old
 * frame (SS:[rBP - i*size] at the stack-address size), push the frame pointer, then rBP := frame,
 * rSP -= alloc, and check that a write at the new stack top would succeed. All or nothing: a
 * fault anywhere leaves rSP and rBP as they were.
 */
function buildEnter(d: Insn): Op {
  const alloc = d.ops[0]!.lo & 0xffff, level = d.ops[1]!.lo & 31, next = d.next;
  const size = d.code === Code.Enterw_imm16_imm8 ? 2 : d.code === Code.Enterd_imm16_imm8 ? 4 : 8;
  return (c) => {
    const ss = c.stackSize();
    const spLo = c.lo[RSP]!, spHi = c.hi[RSP]!, bpLo = c.lo[RBP]!, bpHi = c.hi[RBP]!;
    try {
      pushN(c, size, bpLo, bpHi);
      const frameLo = c.lo[RSP]!, frameHi = c.hi[RSP]!;
      if (level > 0) {
        for (let i = 1; i < level; i++) {
          const v = readMem(c, frameSlot(c, ss, bpLo, bpHi, i * size, size), size);
          pushN(c, size, v, c.tHi);
        }
        pushN(c, size, frameLo, frameHi);
      }
      if (ss === 8) {
        c.lo[RBP] = frameLo;
        c.hi[RBP] = frameHi;
        const nsp = c.reg(RSP) - alloc;
        if (alloc > 0) c.probe(c.canon(nsp, true), 1, WALK_WRITE);
        c.setReg(RSP, nsp);
      } else {
        const mask = size === 4 ? -1 : 0xffff;
        const nsp = (c.lo[RSP]! & ~mask) | ((c.lo[RSP]! - alloc) & mask);
        if (alloc > 0) {
          c.probe(c.segAddr(SS, ss === 4 ? nsp >>> 0 : nsp & 0xffff, 1, true), 1, WALK_WRITE);
        }
        c.lo[RBP] = (bpLo & ~mask) | (frameLo & mask);
        c.lo[RSP] = nsp;
      }
    } catch (e) {
      c.lo[RSP] = spLo;
      c.hi[RSP] = spHi;
      c.lo[RBP] = bpLo;
      c.hi[RBP] = bpHi;
      throw e;
    }
    c.rip = next;
  };
}

/** Linear address of SS:[rBP - delta] at stack-address size `ss` (ENTER's nested frames). */
function frameSlot(c: Cpu, ss: number, bpLo: number, bpHi: number, delta: number, size: number) {
  if (ss === 8) return c.canon(bpHi * TWO32 + (bpLo >>> 0) - delta, true);
  const off = ss === 4 ? (bpLo - delta) >>> 0 : (bpLo - delta) & 0xffff;
  return c.segAddr(SS, off, size, false);
}

/** PUSHA/PUSHAD: all eight pushes or none (a fault leaves rSP unchanged). */
function buildPusha(d: Insn): Op {
  const size = d.spInc === -32 ? 4 : 2, next = d.next;
  return (c) => {
    const sp = c.lo[RSP]!;
    try {
      for (let r = 0; r < 8; r++) pushN(c, size, r === RSP ? sp : getReg(c, r, size), 0);
    } catch (e) {
      c.lo[RSP] = sp;
      throw e;
    }
    c.rip = next;
  };
}

const popaValues = new Int32Array(8);

/** POPA/POPAD: all eight values are read before any register changes (the stored SP is skipped). */
function buildPopa(d: Insn): Op {
  const size = d.spInc === 32 ? 4 : 2, next = d.next;
  return (c) => {
    const sp = c.lo[RSP]!;
    try {
      for (let r = 7; r >= 0; r--) popaValues[r] = c.popN(size);
    } catch (e) {
      c.lo[RSP] = sp;
      throw e;
    }
    for (let r = 0; r < 8; r++) if (r !== RSP) setReg(c, r, size, popaValues[r]!, 0);
    c.rip = next;
  };
}

define([Mnemonic.Push], buildPush);
define([Mnemonic.Pop], buildPop);
define([Mnemonic.Pushf, Mnemonic.Pushfd, Mnemonic.Pushfq], buildPushf);
define([Mnemonic.Popf, Mnemonic.Popfd, Mnemonic.Popfq], buildPopf);
define([Mnemonic.Leave], buildLeave);
define([Mnemonic.Enter], buildEnter);
define([Mnemonic.Pusha, Mnemonic.Pushad], buildPusha);
define([Mnemonic.Popa, Mnemonic.Popad], buildPopa);
