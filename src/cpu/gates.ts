/**
 * Protected-mode and IA-32e far transfers (SDM Vol. 2 CALL, JMP, RET; Vol. 3A §5.8): to a code
 * segment, through a call gate (16/32-bit, 64-bit in IA-32e mode) with the stack switch and the
 * parameter copy of a call to a more privileged level, to a TSS or task gate (task.ts), and far
 * returns to the same or an outer privilege level. The callers snapshot the state (`saveFar`) and
 * roll it back on a fault, so the steps below may commit before their last check; RIP is always
 * written last (a fault reports the RIP of the instruction).
 */

import type { Cpu } from "./cpu.ts";
import {
  descAttr,
  descDpl,
  descHasLAndD,
  descIs64Code,
  descIsCode,
  descIsConforming,
  descIsSeg,
  descIsWritableData,
  descLimit,
  descPresent,
  descType,
  gateOffset,
  gateParams,
  gateSelector,
  SYS_CALL_GATE16,
  SYS_CALL_GATE32,
  SYS_CALL_GATE64,
  SYS_TASK_GATE,
  SYS_TSS16,
  SYS_TSS32,
} from "./descriptor.ts";
import { pushN } from "./ops/stack.ts";
import {
  CS,
  DS,
  ES,
  FS,
  GS,
  RSP,
  SEG_ATTR_DB,
  SEG_ATTR_UNUSABLE,
  SS,
  VEC_GP,
  VEC_NP,
  VEC_SS,
  VEC_TS,
} from "./regs.ts";
import { farTask, TASK_CALL, TASK_JMP, tssStack } from "./task.ts";
import { hiOf, isCanonicalNum, TWO32 } from "./u64.ts";

/** Pushes exactly `size` bytes (far CALL m16:32 in 64-bit mode pushes 4-byte values). */
function pushSized(c: Cpu, size: number, lo: number, hi: number): void {
  if (size === 4 && c.bits === 64) {
    const lin = c.canon(c.reg(RSP) - 4, true);
    c.write32(lin, lo);
    c.setReg(RSP, lin);
    return;
  }
  pushN(c, size, lo, hi);
}

/** Adds `n` to the stack pointer, as wide as the current stack. */
export function addSp(c: Cpu, n: number): void {
  if (n === 0) return;
  const ss = c.stackSize();
  if (ss === 8) c.setReg(RSP, c.reg(RSP) + n);
  else if (ss === 4) c.lo[RSP] = (c.lo[RSP]! + n) | 0;
  else c.lo[RSP] = (c.lo[RSP]! & ~0xffff) | ((c.lo[RSP]! + n) & 0xffff);
}

/** Loads RSP popped by a return to another stack: all 8 bytes, ESP (by SS.B) or SP. */
export function setPoppedSp(c: Cpu, size: number, lo: number, hi: number): void {
  if (size === 8) {
    c.lo[RSP] = lo;
    c.hi[RSP] = hi;
  } else if (c.segAttr[SS]! & SEG_ATTR_DB || c.bits === 64) {
    c.lo[RSP] = lo;
    if (c.longMode) c.hi[RSP] = 0;
  } else c.lo[RSP] = (c.lo[RSP]! & ~0xffff) | (lo & 0xffff);
}

/**
 * Loads CS (RPL = `cpl`) from its validated descriptor and checks the new RIP against it
 * (#GP(0)). The caller writes RIP last.
 */
function loadCs(c: Cpu, sel: number, cpl: number, lo: number, hi: number, rip: number): void {
  c.commitSeg(CS, (sel & ~3) | cpl, lo, hi);
  c.updateMode();
  c.checkFarTarget(rip);
}

/** Whether `n` bytes can be pushed below `sp` in a stack segment with descriptor (lo, hi). */
function stackRoom(sp: number, n: number, lo: number, hi: number): boolean {
  const top = (hi & 0x00400000) ? 0xffffffff : 0xffff;
  const s = sp === 0 ? top + 1 : sp;
  const limit = descLimit(lo, hi);
  if (s < n) return false;
  if (hi & 0x400) return s - n > limit && s - 1 <= top; // expand-down
  return s - 1 <= limit;
}

/**
 * The checks of a far JMP/CALL to a code segment (SDM JMP/CALL, "conforming"/"nonconforming
 * code segment").
 */
function checkCodeTarget(c: Cpu, sel: number, hi: number): void {
  const err = sel & ~3, dpl = descDpl(hi);
  if (!descIsCode(hi)) c.raise(VEC_GP, err);
  if (descIsConforming(hi) ? dpl > c.cpl : (sel & 3) > c.cpl || dpl !== c.cpl) {
    c.raise(VEC_GP, err);
  }
  if (!descPresent(hi)) c.raise(VEC_NP, err);
  if (c.longMode && descHasLAndD(hi)) c.raise(VEC_GP, err);
}

/**
 * Far JMP (`call` false) or CALL in protected mode or IA-32e mode to `sel:off`. `size` is the
 * operand size of a far CALL's pushes; `next` is the return address (for a task switch, the EIP
 * saved in the old TSS).
 */
export function farJmpCall(
  c: Cpu,
  sel: number,
  off: number,
  call: boolean,
  size: number,
  next: number,
): void {
  if ((sel & ~3) === 0) c.raise(VEC_GP, 0);
  if (c.readDescriptor(sel) === null) c.raise(VEC_GP, sel & ~3);
  const lo = c.tLo, hi = c.tHi;
  if (descIsSeg(hi)) {
    checkCodeTarget(c, sel, hi);
    const oldCs = c.segSel[CS]!;
    loadCs(c, sel, c.cpl, lo, hi, off);
    if (call) {
      pushSized(c, size, oldCs, 0);
      pushSized(c, size, next | 0, hiOf(next));
    }
    c.rip = off;
    return;
  }
  const type = descType(hi);
  if (c.longMode) {
    if (type !== SYS_CALL_GATE64) c.raise(VEC_GP, sel & ~3);
    callGate(c, sel, lo, hi, call, next);
    return;
  }
  switch (type) {
    case SYS_CALL_GATE32:
    case SYS_CALL_GATE16:
      callGate(c, sel, lo, hi, call, next);
      return;
    case SYS_TASK_GATE:
    case SYS_TSS32:
    case SYS_TSS16:
      farTask(c, sel, hi, call ? TASK_CALL : TASK_JMP, next);
      return;
  }
  c.raise(VEC_GP, sel & ~3);
}

/** Far JMP/CALL through the call gate `sel` (descriptor lo, hi). */
function callGate(c: Cpu, sel: number, lo: number, hi: number, call: boolean, next: number): void {
  const gerr = sel & ~3, gdpl = descDpl(hi), long = c.longMode;
  let upper = 0;
  if (long) {
    // The 16-byte form: offset bits 63:32, then a zero type, in the next 8 bytes.
    const up = c.readDescriptor(sel + 8);
    if (up === null) c.raise(VEC_GP, gerr);
    upper = up;
  }
  const upperType = (c.tHi >>> 8) & 0x1f;
  if (gdpl < c.cpl || (sel & 3) > gdpl) c.raise(VEC_GP, gerr);
  if (!descPresent(hi)) c.raise(VEC_NP, gerr);
  if (long && upperType !== 0) c.raise(VEC_GP, gerr);
  const size = long ? 8 : descType(hi) === SYS_CALL_GATE32 ? 4 : 2;
  let off = gateOffset(lo, hi);
  if (size === 2) off &= 0xffff;
  else if (size === 8) off = upper * TWO32 + off;
  const csel = gateSelector(lo);
  if ((csel & ~3) === 0) c.raise(VEC_GP, 0);
  if (c.readDescriptor(csel) === null) c.raise(VEC_GP, csel & ~3);
  const clo = c.tLo, chi = c.tHi, cerr = csel & ~3, cdpl = descDpl(chi);
  const conforming = descIsConforming(chi);
  if (!descIsCode(chi) || cdpl > c.cpl) c.raise(VEC_GP, cerr);
  if (!call && !conforming && cdpl !== c.cpl) c.raise(VEC_GP, cerr);
  if (long && !descIs64Code(chi)) c.raise(VEC_GP, cerr);
  if (!descPresent(chi)) c.raise(VEC_NP, cerr);
  if (call && !conforming && cdpl < c.cpl) {
    callInner(c, csel, clo, chi, off, size, gateParams(hi), next);
    return;
  }
  const oldCs = c.segSel[CS]!;
  if (call && size === 8 && !isCanonicalNum(c.reg(RSP) - 16)) c.raise(VEC_SS, 0);
  loadCs(c, csel, c.cpl, clo, chi, off);
  if (call) {
    pushSized(c, size, oldCs, 0);
    pushSized(c, size, next | 0, hiOf(next));
  }
  c.rip = off;
}

/**
 * CALL through a call gate to a more privileged non-conforming segment (SDM CALL,
 * MORE-PRIVILEGE): the inner stack from the TSS, the caller's SS:ESP, `params` parameters copied
 * from the caller's stack (not for 64-bit gates) and CS:EIP pushed there.
 */
function callInner(
  c: Cpu,
  csel: number,
  clo: number,
  chi: number,
  off: number,
  size: number,
  params: number,
  next: number,
): void {
  const dpl = descDpl(chi);
  const tss = c.segBase[7]!, tssLimit = c.segLimit[7]!, trErr = c.segSel[7]! & ~3;
  const oldCs = c.segSel[CS]!, oldSs = c.segSel[SS]!;
  if (size === 8) {
    const at = dpl * 8 + 4;
    if (at + 7 > tssLimit) c.raise(VEC_TS, trErr);
    const lo = c.sysRead64(tss + at);
    const rsp = c.tHi * TWO32 + (lo >>> 0);
    if (!isCanonicalNum(rsp - 32) || !isCanonicalNum(rsp)) c.raise(VEC_SS, 0);
    const oldRsp = c.reg(RSP);
    loadCs(c, csel, dpl, clo, chi, off);
    c.setSegment(SS, dpl, 0, 0xffffffff, SEG_ATTR_UNUSABLE);
    c.setReg(RSP, rsp);
    c.push64(oldSs, 0);
    c.push64(oldRsp | 0, hiOf(oldRsp));
    c.push64(oldCs, 0);
    c.push64(next | 0, hiOf(next));
    c.rip = off;
    return;
  }
  // The inner SS:ESP from a 32-bit TSS (or SS:SP from a 16-bit one).
  let sp = tssStack(c, dpl, 0);
  const ss = c.tHi;
  const ssErr = ss & ~3;
  if (ssErr === 0) c.raise(VEC_TS, 0);
  if (c.readDescriptor(ss) === null) c.raise(VEC_TS, ssErr);
  const slo = c.tLo, shi = c.tHi;
  if ((ss & 3) !== dpl || descDpl(shi) !== dpl || !descIsWritableData(shi)) {
    c.raise(VEC_TS, ssErr);
  }
  if (!descPresent(shi)) c.raise(VEC_SS, ssErr);
  if (!(shi & 0x00400000)) sp &= 0xffff;
  if (!stackRoom(sp, (params + 4) * size, slo, shi)) c.raise(VEC_SS, ssErr);
  // The parameters, read from the caller's stack before it is switched.
  const oldSp = c.stackSize() === 4 ? c.lo[RSP]! >>> 0 : c.lo[RSP]! & 0xffff;
  const copied: number[] = [];
  for (let i = 0; i < params; i++) {
    const at = c.stackSize() === 4 ? (oldSp + i * size) >>> 0 : (oldSp + i * size) & 0xffff;
    const lin = c.segAddr(SS, at, size, false);
    copied.push(size === 4 ? c.read32(lin) : c.read16(lin));
  }
  loadCs(c, csel, dpl, clo, chi, off);
  c.commitSeg(SS, ss, slo, shi);
  if (descAttr(shi) & SEG_ATTR_DB) c.lo[RSP] = sp | 0;
  else c.lo[RSP] = (c.lo[RSP]! & ~0xffff) | sp;
  pushN(c, size, oldSs, 0);
  pushN(c, size, oldSp, 0);
  for (let i = params - 1; i >= 0; i--) pushN(c, size, copied[i]!, 0);
  pushN(c, size, oldCs, 0);
  pushN(c, size, next, 0);
  c.rip = off;
}

/**
 * The checks of the code segment a far RET or IRET returns to (SDM RET, IRET): leaves its
 * descriptor in (c.tLo, c.tHi).
 */
export function checkReturnCs(c: Cpu, sel: number): void {
  const err = sel & ~3, rpl = sel & 3;
  if (err === 0) c.raise(VEC_GP, 0);
  if (c.readDescriptor(sel) === null) c.raise(VEC_GP, err);
  const hi = c.tHi, dpl = descDpl(hi);
  if (!descIsCode(hi) || rpl < c.cpl) c.raise(VEC_GP, err);
  if (descIsConforming(hi) ? dpl > rpl : dpl !== rpl) c.raise(VEC_GP, err);
  if (!descPresent(hi)) c.raise(VEC_NP, err);
  if (c.longMode && descHasLAndD(hi)) c.raise(VEC_GP, err);
}

/**
 * The checks of the stack segment a far RET or IRET to privilege `rpl` pops (SDM RET, IRET): a
 * null SS only when returning to 64-bit code at CPL < 3. Returns whether it is null; a
 * non-null descriptor is left in (c.tLo, c.tHi).
 */
export function checkReturnSs(c: Cpu, ss: number, rpl: number, csHi: number): boolean {
  const err = ss & ~3;
  if (err === 0) {
    if (!c.longMode || !descIs64Code(csHi) || rpl === 3) c.raise(VEC_GP, 0);
    return true;
  }
  if (c.readDescriptor(ss) === null) c.raise(VEC_GP, err);
  const hi = c.tHi;
  if ((ss & 3) !== rpl || !descIsWritableData(hi) || descDpl(hi) !== rpl) c.raise(VEC_GP, err);
  if (!descPresent(hi)) c.raise(VEC_SS, err);
  return false;
}

/** Loads SS after `checkReturnSs` (null: an unusable SS with RPL = CPL). */
export function loadReturnSs(c: Cpu, ss: number, isNull: boolean, lo: number, hi: number): void {
  if (isNull) c.setSegment(SS, ss, 0, 0xffffffff, SEG_ATTR_UNUSABLE);
  else c.commitSeg(SS, ss, lo, hi);
}

/**
 * After a return to outer privilege `cpl`: ES, DS, FS and GS holding a data or non-conforming
 * code segment with DPL < CPL become null (SDM RET, IRET). FS/GS keep their base in IA-32e mode.
 */
export function nullOuterDataSegs(c: Cpu, cpl: number): void {
  for (const s of [ES, DS, FS, GS]) {
    const a = c.segAttr[s]!;
    const dpl = (a >>> 5) & 3;
    const conformingCode = (a & 0x1c) === 0x1c;
    if (!(a & SEG_ATTR_UNUSABLE) && dpl < cpl && !conformingCode) {
      c.segSel[s] = 0;
      c.segAttr[s] = SEG_ATTR_UNUSABLE;
      if (!c.longMode || s < FS) c.segBase[s] = 0;
    }
  }
}

/** Far RET (`size`-byte pops, `imm` bytes of parameters) in protected or IA-32e mode. */
export function farReturn(c: Cpu, size: number, imm: number): void {
  const offLo = c.popN(size), offHi = c.tHi;
  const sel = c.popN(size) & 0xffff;
  const off = size === 8 ? offHi * TWO32 + (offLo >>> 0) : size === 4 ? offLo >>> 0 : offLo;
  checkReturnCs(c, sel);
  const lo = c.tLo, hi = c.tHi, rpl = sel & 3;
  if (rpl === c.cpl) {
    loadCs(c, sel, rpl, lo, hi, off);
    addSp(c, imm);
    c.rip = off;
    return;
  }
  // To an outer privilege level: release the parameters, then pop the outer SS:ESP.
  addSp(c, imm);
  const spLo = c.popN(size), spHi = c.tHi;
  const ss = c.popN(size) & 0xffff;
  const isNull = checkReturnSs(c, ss, rpl, hi);
  const slo = c.tLo, shi = c.tHi;
  loadCs(c, sel, rpl, lo, hi, off);
  loadReturnSs(c, ss, isNull, slo, shi);
  setPoppedSp(c, size, spLo, spHi);
  addSp(c, imm);
  nullOuterDataSegs(c, rpl);
  c.rip = off;
}
