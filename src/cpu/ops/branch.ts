/** Control transfer: jmp, jcc, call, ret (near and far), loop/loopcc, jcxz/jecxz/jrcxz. */

import { Code, Mnemonic } from "iced-x86";
import type { Cpu, Op } from "../cpu.ts";
import { getZF, testCC } from "../flags.ts";
import { type Insn, K_BRANCH, K_FAR, K_MEM, K_REG } from "../insn.ts";
import { eaOf } from "../operands.ts";
import { CR0_PE, CS, FLAG_VM, RCX, RSP, VEC_GP } from "../regs.ts";
import { isCanonicalNum, TWO32 } from "../u64.ts";
import { pushN } from "./stack.ts";
import { addSp, farJmpCall, farReturn } from "../gates.ts";
import { define } from "./registry.ts";

/** Operand size of a near branch: 8 in 64-bit mode, else 4 or 2 (from the target width). */
function branchSize(d: Insn): number {
  if (d.bits === 64) return 8;
  const name = Code[d.code] ?? "";
  if (/_rel16|_rm16|_r16|_m1616|Retnw|_ptr1616/.test(name)) return 2;
  if (/_rel32|_rm32|_r32|_m1632|Retnd|_ptr1632/.test(name)) return 4;
  return d.bits === 32 ? 4 : 2;
}

function badTarget(): Op {
  return (c) => c.raise(VEC_GP, 0);
}

/** Reads a near indirect target (register or memory) as a RIP number. */
function indirectTarget(d: Insn, size: number): (c: Cpu) => number {
  const src = d.ops[0]!;
  if (src.kind === K_REG) {
    const r = src.reg;
    if (size === 8) return (c) => c.hi[r]! * TWO32 + (c.lo[r]! >>> 0);
    if (size === 4) return (c) => c.lo[r]! >>> 0;
    return (c) => c.lo[r]! & 0xffff;
  }
  const ea = eaOf(d);
  if (size === 8) {
    return (c) => {
      const lo = c.read64(ea(c));
      return c.tHi * TWO32 + (lo >>> 0);
    };
  }
  if (size === 4) return (c) => c.read32(ea(c)) >>> 0;
  return (c) => c.read16(ea(c));
}

function setTarget(c: Cpu, t: number): void {
  if (c.bits === 64 && !isCanonicalNum(t)) c.raise(VEC_GP, 0);
  c.rip = t;
}

function buildJmp(d: Insn): Op {
  const op = d.ops[0]!;
  if (op.kind === K_BRANCH) {
    const t = d.target;
    if (d.bits === 64 && !isCanonicalNum(t)) return badTarget();
    return (c) => {
      c.rip = t;
    };
  }
  if (op.kind === K_FAR || (op.kind === K_MEM && /m16/.test(Code[d.code] ?? ""))) {
    return buildFarJmp(d);
  }
  const get = indirectTarget(d, branchSize(d));
  return (c) => setTarget(c, get(c));
}

function buildJcc(d: Insn): Op {
  const cc = d.cc, t = d.target, next = d.next;
  if (d.bits === 64 && !isCanonicalNum(t)) {
    return (c) => {
      if (testCC(c, cc)) c.raise(VEC_GP, 0);
      c.rip = next;
    };
  }
  // The two most common conditions get a direct test.
  if (cc === 4) return (c) => void (c.rip = getZF(c) ? t : next);
  if (cc === 5) return (c) => void (c.rip = getZF(c) ? next : t);
  return (c) => {
    c.rip = testCC(c, cc) ? t : next;
  };
}

function buildCall(d: Insn): Op {
  const op = d.ops[0]!, next = d.next, size = branchSize(d);
  if (op.kind === K_FAR || (op.kind === K_MEM && /m16/.test(Code[d.code] ?? ""))) {
    return buildFarCall(d);
  }
  const nlo = next | 0, nhi = Math.floor(next / TWO32) | 0;
  if (op.kind === K_BRANCH) {
    const t = d.target;
    if (d.bits === 64 && !isCanonicalNum(t)) return badTarget();
    if (size === 8) {
      return (c) => {
        c.push64(nlo, nhi);
        c.rip = t;
      };
    }
    return (c) => {
      pushN(c, size, size === 2 ? nlo & 0xffff : nlo, 0);
      c.rip = t;
    };
  }
  const get = indirectTarget(d, size);
  return (c) => {
    const t = get(c);
    if (c.bits === 64 && !isCanonicalNum(t)) c.raise(VEC_GP, 0);
    pushN(c, size, size === 2 ? nlo & 0xffff : nlo, nhi);
    c.rip = t;
  };
}

function buildRet(d: Insn): Op {
  const size = branchSize(d);
  const imm = d.ops.length > 0 ? d.ops[0]!.lo & 0xffff : 0;
  if (size === 8) {
    return (c) => {
      const rsp = c.hi[RSP]! * TWO32 + (c.lo[RSP]! >>> 0);
      const lo = c.read64(rsp);
      const t = c.tHi * TWO32 + (lo >>> 0);
      if (!isCanonicalNum(t)) c.raise(VEC_GP, 0);
      const n = rsp + 8 + imm;
      c.lo[RSP] = n | 0;
      c.hi[RSP] = Math.floor(n / TWO32) | 0;
      c.rip = t;
    };
  }
  return (c) => {
    const t = c.popN(size);
    const ss = c.stackSize();
    if (ss === 4) c.lo[RSP] = (c.lo[RSP]! + imm) | 0;
    else c.lo[RSP] = (c.lo[RSP]! & ~0xffff) | ((c.lo[RSP]! + imm) & 0xffff);
    c.rip = size === 4 ? t >>> 0 : t & 0xffff;
  };
}

/** Reads the counter register (address-size wide) for jcxz. */
function counter(asz: number): (c: Cpu) => number {
  if (asz === 8) return (c) => c.hi[RCX]! * TWO32 + (c.lo[RCX]! >>> 0);
  if (asz === 4) return (c) => c.lo[RCX]! >>> 0;
  return (c) => c.lo[RCX]! & 0xffff;
}

/** Decrements the counter (address-size wide) and returns whether it is now nonzero. */
function decCounter(c: Cpu, asz: number): boolean {
  if (asz === 8) {
    const lo = c.lo[RCX]!;
    const nlo = (lo - 1) | 0;
    c.lo[RCX] = nlo;
    if (lo === 0) c.hi[RCX] = (c.hi[RCX]! - 1) | 0;
    return (nlo | c.hi[RCX]!) !== 0;
  }
  if (asz === 4) {
    const n = (c.lo[RCX]! - 1) | 0;
    c.lo[RCX] = n;
    c.hi[RCX] = c.bits === 64 ? 0 : c.hi[RCX]!;
    return n !== 0;
  }
  const n = (c.lo[RCX]! - 1) & 0xffff;
  c.lo[RCX] = (c.lo[RCX]! & ~0xffff) | n;
  return n !== 0;
}

function buildLoop(d: Insn, kind: number): Op {
  const t = d.target, next = d.next, asz = d.addrSize;
  return (c) => {
    const nz = decCounter(c, asz);
    let take = nz;
    if (kind === 1) take = nz && getZF(c);
    else if (kind === 2) take = nz && !getZF(c);
    c.rip = take ? t : next;
  };
}

function buildJcxz(d: Insn): Op {
  const t = d.target, next = d.next, asz = d.addrSize;
  const get = counter(asz);
  return (c) => {
    c.rip = get(c) === 0 ? t : next;
  };
}

// ---- far transfers ------------------------------------------------------------------------

/** Reads a far pointer operand: returns offset, selector in c.tHi. */
function farPointer(d: Insn): (c: Cpu) => number {
  const op = d.ops[0]!;
  if (op.kind === K_FAR) {
    const sel = d.farSel, off = d.farOff;
    return (c) => {
      c.tHi = sel;
      return off;
    };
  }
  const name = Code[d.code] ?? "";
  const offSize = /m1664/.test(name) ? 8 : /m1632/.test(name) ? 4 : 2;
  const ea = eaOf(d);
  return (c) => {
    const lin = ea(c);
    let off: number;
    if (offSize === 8) {
      const lo = c.read64(lin);
      off = c.tHi * TWO32 + (lo >>> 0);
    } else off = offSize === 4 ? c.read32(lin) >>> 0 : c.read16(lin);
    c.tHi = c.read16(lin + offSize);
    return off;
  };
}

/** Whether far transfers use descriptors (protected or IA-32e mode, not virtual-8086). */
function protectedMode(c: Cpu): boolean {
  return (c.cr0 & CR0_PE) !== 0 && (c.eflags & FLAG_VM) === 0;
}

/** A far transfer in real or virtual-8086 mode: CS is loaded as a paragraph number. */
function realTransfer(c: Cpu, sel: number, off: number): void {
  c.loadSegReal(CS, sel);
  c.checkFarTarget(off);
  c.rip = off;
  c.updateMode();
}

function buildFarJmp(d: Insn): Op {
  const ptr = farPointer(d), next = d.next;
  return (c) => {
    const off = ptr(c);
    const sel = c.tHi;
    c.saveFar();
    try {
      if (protectedMode(c)) farJmpCall(c, sel, off, false, 0, next);
      else realTransfer(c, sel, off);
    } catch (e) {
      c.undoFar(e);
    }
    c.brk = true;
  };
}

function buildFarCall(d: Insn): Op {
  const ptr = farPointer(d), next = d.next;
  const name = Code[d.code] ?? "";
  const size = /1664|64/.test(name) && d.bits === 64 ? 8 : /1632|ptr1632/.test(name) ? 4 : 2;
  return (c) => {
    const off = ptr(c);
    const sel = c.tHi;
    c.saveFar();
    try {
      if (protectedMode(c)) farJmpCall(c, sel, off, true, size, next);
      else {
        pushN(c, size, c.segSel[CS]!, 0);
        pushN(c, size, next, 0);
        realTransfer(c, sel, off);
      }
    } catch (e) {
      c.undoFar(e);
    }
    c.brk = true;
  };
}

function buildRetf(d: Insn): Op {
  const name = Code[d.code] ?? "";
  const size = /Retfq/.test(name) ? 8 : /Retfd/.test(name) ? 4 : 2;
  const imm = d.ops.length > 0 ? d.ops[0]!.lo & 0xffff : 0;
  return (c) => {
    c.saveFar();
    try {
      if (protectedMode(c)) farReturn(c, size, imm);
      else {
        const off = size === 4 ? c.popN(4) >>> 0 : c.popN(2);
        const sel = c.popN(size) & 0xffff;
        realTransfer(c, sel, off);
        addSp(c, imm);
      }
    } catch (e) {
      c.undoFar(e);
    }
    c.brk = true;
  };
}

define([Mnemonic.Jmp], buildJmp);
define([
  Mnemonic.Jo,
  Mnemonic.Jno,
  Mnemonic.Jb,
  Mnemonic.Jae,
  Mnemonic.Je,
  Mnemonic.Jne,
  Mnemonic.Jbe,
  Mnemonic.Ja,
  Mnemonic.Js,
  Mnemonic.Jns,
  Mnemonic.Jp,
  Mnemonic.Jnp,
  Mnemonic.Jl,
  Mnemonic.Jge,
  Mnemonic.Jle,
  Mnemonic.Jg,
], buildJcc);
define([Mnemonic.Call], buildCall);
define([Mnemonic.Ret], buildRet);
define([Mnemonic.Retf], buildRetf);
define([Mnemonic.Loop], (d) => buildLoop(d, 0));
define([Mnemonic.Loope], (d) => buildLoop(d, 1));
define([Mnemonic.Loopne], (d) => buildLoop(d, 2));
define([Mnemonic.Jcxz, Mnemonic.Jecxz, Mnemonic.Jrcxz], buildJcxz);
