/**
 * Hardware task switching (SDM Vol. 3A chapter 7): far JMP/CALL to a TSS descriptor or a task
 * gate, INT n / exceptions / interrupts through a task gate in the IDT, IRET with EFLAGS.NT = 1.
 * 32-bit and 16-bit TSSes; a new task whose EFLAGS image has VM = 1 runs in virtual-8086 mode
 * (its segment registers loaded real-mode style, no descriptor checks), and an outgoing
 * virtual-8086 task is saved with VM = 1. The TSS T (debug trap) flag is ignored. In IA-32e mode
 * there are no task switches: the callers raise #GP.
 *
 * A switch first checks everything that can be checked without changing state (the new TSS
 * descriptor and limit, the old TSS limit) and reads the new TSS; then it commits (saves the old
 * task, busy bits, link, TR, CR3, registers, raw segment selectors) and takes a new far-transfer
 * snapshot, so that a fault raised while the new task's segment registers are validated is
 * delivered in the new task, as on hardware.
 */

import { type Cpu, FAULT } from "./cpu.ts";
import {
  descAttr,
  descBase,
  descDpl,
  descIsCode,
  descIsConforming,
  descIsSeg,
  descIsWritableData,
  descLimit,
  descPresent,
  descType,
  gateSelector,
  SYS_LDT,
  SYS_TASK_GATE,
} from "./descriptor.ts";
import {
  CR0_PG,
  CR0_TS,
  CS,
  DS,
  ES,
  FLAG_NT,
  FLAG_VM,
  FS,
  GS,
  SEG_ATTR_UNUSABLE,
  SS,
  VEC_GP,
  VEC_NP,
  VEC_SS,
  VEC_TS,
} from "./regs.ts";
import { loadV86Segments } from "./v86.ts";

/** What started a task switch (SDM Table 7-2: busy bit, NT and link handling differ). */
export const TASK_JMP = 0, TASK_CALL = 1, TASK_IRET = 2, TASK_INT = 3;

/** Field offsets of a 32-bit and a 16-bit TSS. */
interface TssLayout {
  readonly width: 2 | 4;
  readonly minLimit: number;
  readonly cr3: number;
  readonly eip: number;
  readonly eflags: number;
  /** EAX..EDI, in register-number order. */
  readonly gpr: number;
  /** ES, CS, SS, DS, FS, GS (FS/GS: none in a 16-bit TSS). */
  readonly segs: number;
  readonly nSegs: number;
  readonly ldt: number;
}

const TSS32: TssLayout = {
  width: 4,
  minLimit: 0x67,
  cr3: 0x1c,
  eip: 0x20,
  eflags: 0x24,
  gpr: 0x28,
  segs: 0x48,
  nSegs: 6,
  ldt: 0x60,
};
const TSS16: TssLayout = {
  width: 2,
  minLimit: 0x2b,
  cr3: -1,
  eip: 0x0e,
  eflags: 0x10,
  gpr: 0x12,
  segs: 0x22,
  nSegs: 4,
  ldt: 0x2a,
};

function layoutOf(type: number): TssLayout {
  return (type & 8) !== 0 ? TSS32 : TSS16;
}

function read(c: Cpu, lin: number, width: 2 | 4): number {
  const v = c.sysRead32(lin);
  return width === 4 ? v >>> 0 : v & 0xffff;
}

function write(c: Cpu, lin: number, width: 2 | 4, v: number): void {
  if (width === 4) c.sysWrite32(lin, v);
  else c.sysWrite32(lin, (c.sysRead32(lin) & ~0xffff) | (v & 0xffff));
}

/** Sets or clears the busy bit of the TSS descriptor `sel` in the GDT. */
function setBusy(c: Cpu, sel: number, busy: boolean): void {
  const at = c.gdtBase + (sel & ~7) + 4;
  const hi = c.sysRead32(at);
  c.sysWrite32(at, busy ? hi | 0x200 : hi & ~0x200);
}

/**
 * Reads the TSS descriptor `sel` named by a task gate or a back link: it must be in the GDT
 * (else `vec`(sel)) and be a TSS, busy or not as `busy` says (else `vec`(sel)), and present
 * (#NP(sel)). Leaves it in (c.tLo, c.tHi).
 */
function tssDescriptor(c: Cpu, sel: number, busy: boolean, vec: number, ext: number): void {
  const err = (sel & ~3) + ext;
  if ((sel & 4) || c.readDescriptor(sel) === null) c.raise(vec, err);
  const type = descType(c.tHi);
  if (descIsSeg(c.tHi) || (type & 5) !== 1 || ((type & 2) !== 0) !== busy) c.raise(vec, err);
  if (!descPresent(c.tHi)) c.raise(VEC_NP, err);
}

/**
 * Far JMP or CALL (`source`) to the TSS descriptor or task gate `sel` (descriptor lo, hi) in
 * legacy protected mode (SDM JMP/CALL, TASK-GATE and TASK-STATE-SEGMENT). `next` is the return
 * address saved in the old TSS.
 */
export function farTask(c: Cpu, sel: number, hi: number, source: number, next: number): void {
  const err = sel & ~3, dpl = descDpl(hi);
  if (dpl < c.cpl || (sel & 3) > dpl) c.raise(VEC_GP, err);
  if (!descPresent(hi)) c.raise(VEC_NP, err);
  let tss = sel;
  if (descType(hi) === SYS_TASK_GATE) {
    tss = gateSelector(c.tLo);
    tssDescriptor(c, tss, false, VEC_GP, 0);
  }
  const rip = c.rip;
  try {
    switchTasks(c, tss, c.tLo, c.tHi, source, next, 0);
    if (c.rip > c.segLimit[CS]!) c.raise(VEC_GP, 0);
  } catch (e) {
    insnFault(c, e, rip);
  }
}

/**
 * A fault after the commit point is delivered at the new task's EIP, but it was raised by the
 * instruction at `rip`: the run loop finds the instruction's place in its block by `abortRip`.
 */
function insnFault(c: Cpu, e: unknown, rip: number): never {
  if (e === FAULT) c.abortRip = rip;
  throw e;
}

/**
 * An interrupt or exception through the task gate (lo) of a protected-mode IDT (SDM INT n,
 * TASK-GATE), after the gate's own checks. `ext` is the EXT bit of error codes, `retRip` the
 * EIP saved in the old TSS; an error code is pushed on the new task's stack.
 */
export function interruptTask(
  c: Cpu,
  lo: number,
  ext: number,
  hasErr: boolean,
  err: number,
  retRip: number,
): void {
  const tss = gateSelector(lo);
  tssDescriptor(c, tss, false, VEC_GP, ext);
  const width = layoutOf(descType(c.tHi)).width;
  const rip = c.rip;
  try {
    switchTasks(c, tss, c.tLo, c.tHi, TASK_INT, retRip, ext);
    if (hasErr) {
      if (width === 4) c.push32(err);
      else c.push16(err);
    }
    if (c.rip > c.segLimit[CS]!) c.raise(VEC_GP, ext);
  } catch (e) {
    insnFault(c, e, rip);
  }
}

/**
 * IRET with EFLAGS.NT = 1 in legacy protected mode: back to the task in the TSS back link. `next`
 * is the EIP saved in the old TSS.
 */
export function returnTask(c: Cpu, next: number): void {
  const link = c.sysRead32(c.segBase[7]!) & 0xffff;
  tssDescriptor(c, link, true, VEC_TS, 0);
  const rip = c.rip;
  try {
    switchTasks(c, link, c.tLo, c.tHi, TASK_IRET, next, 0);
    if (c.rip > c.segLimit[CS]!) c.raise(VEC_GP, 0);
  } catch (e) {
    insnFault(c, e, rip);
  }
}

/**
 * Switches from the current task to the TSS `sel` with descriptor (lo, hi) (SDM §7.3 steps
 * 3-13). `retRip` is the EIP saved in the old TSS.
 */
export function switchTasks(
  c: Cpu,
  sel: number,
  lo: number,
  hi: number,
  source: number,
  retRip: number,
  ext: number,
): void {
  const err = (sel & ~3) + ext;
  const nl = layoutOf(descType(hi));
  const base = descBase(lo, hi), limit = descLimit(lo, hi);
  if (!descPresent(hi)) c.raise(VEC_NP, err);
  if (limit < nl.minLimit) c.raise(VEC_TS, err);
  const oldSel = c.segSel[7]!, oldBase = c.segBase[7]!;
  // The old TSS must hold the fields saved into it (up to GS, or DS in a 16-bit TSS).
  const ol = layoutOf(c.segAttr[7]! & 0xf);
  if (c.segLimit[7]! < ol.ldt - 1) c.raise(VEC_TS, (oldSel & ~3) + ext);

  // The new task's state, read before anything changes.
  const w = nl.width;
  const cr3 = nl.cr3 >= 0 ? c.sysRead32(base + nl.cr3) >>> 0 : -1;
  const eip = read(c, base + nl.eip, w);
  let eflags = read(c, base + nl.eflags, w);
  const gpr: number[] = [];
  for (let r = 0; r < 8; r++) gpr.push(read(c, base + nl.gpr + r * w, w));
  const segs: number[] = [];
  for (let s = 0; s < nl.nSegs; s++) segs.push(c.sysRead32(base + nl.segs + s * w) & 0xffff);
  const ldt = c.sysRead32(base + nl.ldt) & 0xffff;

  // Commit: save the outgoing task.
  const ow = ol.width;
  let oldFlags = c.getRflags();
  if (source === TASK_IRET) oldFlags &= ~FLAG_NT;
  write(c, oldBase + ol.eip, ow, retRip);
  write(c, oldBase + ol.eflags, ow, oldFlags);
  for (let r = 0; r < 8; r++) write(c, oldBase + ol.gpr + r * ow, ow, c.lo[r]!);
  for (let s = 0; s < ol.nSegs; s++) write(c, oldBase + ol.segs + s * ow, 2, c.segSel[s]!);
  if (source === TASK_JMP || source === TASK_IRET) setBusy(c, oldSel, false);
  if (source === TASK_CALL || source === TASK_INT) {
    write(c, base, 2, oldSel);
    eflags |= FLAG_NT;
  }
  if (source !== TASK_IRET) setBusy(c, sel, true);
  c.segSel[7] = sel;
  c.segBase[7] = base;
  c.segLimit[7] = limit;
  c.segAttr[7] = descAttr(hi) | 0x2;
  c.cr0 |= CR0_TS;
  if (cr3 >= 0 && (c.cr0 & CR0_PG)) {
    c.cr3 = cr3;
    c.flushTlb();
  }
  // The incoming task's registers, its selectors with unusable caches until validated.
  c.setRflags(eflags);
  for (let r = 0; r < 8; r++) {
    if (w === 4) c.lo[r] = gpr[r]! | 0;
    else c.lo[r] = (c.lo[r]! & ~0xffff) | gpr[r]!;
  }
  for (let s = 0; s < nl.nSegs; s++) {
    c.segSel[s] = segs[s]!;
    c.segAttr[s] = SEG_ATTR_UNUSABLE;
  }
  c.segSel[6] = ldt;
  c.segAttr[6] = SEG_ATTR_UNUSABLE;
  c.rip = eip;
  c.updateMode();
  c.brk = true;
  c.saveFar();

  // Validate and load LDTR, CS, SS and the data segment registers (SDM Table 7-1).
  loadLdt(c, ldt, ext);
  if (eflags & FLAG_VM) {
    loadV86Segments(c, segs); // a virtual-8086 task (only a 32-bit TSS holds VM)
    c.saveFar();
    return;
  }
  const cs = segs[CS]!, csErr = (cs & ~3) + ext;
  if ((cs & ~3) === 0 || c.readDescriptor(cs) === null) c.raise(VEC_TS, csErr);
  const cpl = cs & 3;
  let dhi = c.tHi, dpl = descDpl(dhi);
  if (!descIsCode(dhi) || (descIsConforming(dhi) ? dpl > cpl : dpl !== cpl)) {
    c.raise(VEC_TS, csErr);
  }
  if (!descPresent(dhi)) c.raise(VEC_NP, csErr);
  c.commitSeg(CS, cs, c.tLo, dhi);
  c.updateMode();
  const ss = segs[SS]!, ssErr = (ss & ~3) + ext;
  if ((ss & ~3) === 0 || c.readDescriptor(ss) === null) c.raise(VEC_TS, ssErr);
  dhi = c.tHi;
  if (!descIsWritableData(dhi) || descDpl(dhi) !== cpl || (ss & 3) !== cpl) {
    c.raise(VEC_TS, ssErr);
  }
  if (!descPresent(dhi)) c.raise(VEC_SS, ssErr);
  c.commitSeg(SS, ss, c.tLo, dhi);
  for (const s of [DS, ES, FS, GS]) {
    if (s >= nl.nSegs) continue;
    const sel = segs[s]!, serr = (sel & ~3) + ext;
    if ((sel & ~3) === 0) {
      c.setSegment(s, sel, 0, 0, SEG_ATTR_UNUSABLE);
      continue;
    }
    if (c.readDescriptor(sel) === null) c.raise(VEC_TS, serr);
    dhi = c.tHi;
    dpl = descDpl(dhi);
    // Data or readable code; data and non-conforming code need DPL >= CPL and RPL.
    if (!descIsSeg(dhi) || (descIsCode(dhi) && !(dhi & 0x200))) c.raise(VEC_TS, serr);
    if (!descIsConforming(dhi) && (dpl < cpl || dpl < (sel & 3))) c.raise(VEC_TS, serr);
    if (!descPresent(dhi)) c.raise(VEC_NP, serr);
    c.commitSeg(s, sel, c.tLo, dhi);
  }
  c.saveFar();
}

/**
 * The stack for privilege level `dpl` (0-2) from the TSS in TR, for a call gate or an interrupt to
 * an inner level (SDM CALL, INT n "INTER-PRIVILEGE-LEVEL-INTERRUPT"): ESPn at 4 + 8n and SSn at
 * 8 + 8n in a 32-bit TSS; SPn at 2 + 4n and SSn at 4 + 4n in a 16-bit one (zero-extended).
 * #TS(TR selector + `ext`) when the fields lie beyond the TSS limit. Returns the stack pointer and
 * leaves the SS selector in `c.tHi`.
 */
export function tssStack(c: Cpu, dpl: number, ext: number): number {
  const base = c.segBase[7]!, limit = c.segLimit[7]!, err = (c.segSel[7]! & ~3) + ext;
  if (c.segAttr[7]! & 8) {
    const at = 4 + dpl * 8;
    if (at + 5 > limit) c.raise(VEC_TS, err);
    const sp = c.sysRead32(base + at) >>> 0;
    c.tHi = c.sysRead32(base + at + 4) & 0xffff;
    return sp;
  }
  const at = 2 + dpl * 4;
  if (at + 3 > limit) c.raise(VEC_TS, err);
  const v = c.sysRead32(base + at);
  c.tHi = v >>> 16;
  return v & 0xffff;
}

/** Loads LDTR from a new task's TSS: any fault is #TS(LDT selector). */
function loadLdt(c: Cpu, sel: number, ext: number): void {
  if ((sel & ~3) === 0) {
    c.setSegment(6, sel, 0, 0, SEG_ATTR_UNUSABLE);
    return;
  }
  const err = (sel & ~3) + ext;
  if ((sel & 4) || c.readDescriptor(sel) === null) c.raise(VEC_TS, err);
  const lo = c.tLo, hi = c.tHi;
  if (descIsSeg(hi) || descType(hi) !== SYS_LDT || !descPresent(hi)) c.raise(VEC_TS, err);
  c.setSegment(6, sel, descBase(lo, hi), descLimit(lo, hi), descAttr(hi));
}
