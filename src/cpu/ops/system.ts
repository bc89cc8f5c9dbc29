/**
 * System instructions: port I/O, HLT, CLI/STI, CPUID, RDTSC(P), RDMSR/WRMSR, control and debug
 * registers, descriptor-table registers, INVLPG, IRET, INT n, SYSCALL/SYSRET, SYSENTER/SYSEXIT,
 * SWAPGS, VMCALL, XGETBV/XSETBV, RD/WR{FS,GS}BASE and friends.
 */

import { Code, Mnemonic } from "iced-x86";
import { ABORT, type Cpu, type Op, WALK_READ } from "../cpu.ts";
import { cpuidModel } from "../cpuid.ts";
import { type Insn, K_IMM, K_REG, RC_DR, RC_SEG } from "../insn.ts";
import { readMsr, writeMsr } from "../msr.ts";
import { eaOf, setReg } from "../operands.ts";
import {
  CR0_AM,
  CR0_ET,
  CR0_PE,
  CR0_PG,
  CR0_TS,
  CR0_WP,
  CR4_FSGSBASE,
  CR4_PAE,
  CR4_PCIDE,
  CR4_PGE,
  CR4_PSE,
  CR4_SMAP,
  CR4_SMEP,
  CR4_TSD,
  CS,
  EFER_LMA,
  EFER_LME,
  EFER_SCE,
  FLAG_AC,
  FLAG_IF,
  FLAG_IOPL,
  FLAG_NT,
  FLAG_RF,
  FLAG_TF,
  FLAG_VIF,
  FLAG_VIP,
  FLAG_VM,
  FS,
  GS,
  R11,
  RAX,
  RCX,
  RDX,
  RSP,
  SS,
  VEC_BP,
  VEC_DB,
  VEC_GP,
  VEC_NP,
  VEC_OF,
  VEC_UD,
} from "../regs.ts";
import { getOF } from "../flags.ts";
import {
  checkReturnCs,
  checkReturnSs,
  loadReturnSs,
  nullOuterDataSegs,
  setPoppedSp,
} from "../gates.ts";
import { returnTask } from "../task.ts";
import { iretInV86, iretToV86 } from "../v86.ts";
import { hiOf, isCanonical, isCanonicalNum, TWO32 } from "../u64.ts";
import {
  descAttr,
  descBase,
  descIsSeg,
  descLimit,
  descPresent,
  descType,
  SYS_LDT,
  SYS_TSS16,
  SYS_TSS32,
} from "../descriptor.ts";
import { define, isolate, isolateIf } from "./registry.ts";

function requireCpl0(c: Cpu): void {
  if (c.cpl !== 0) c.raise(VEC_GP, 0);
}

// ---- port I/O -----------------------------------------------------------------------------

/** I/O permission check (SDM 19.5): CPL > IOPL (or V8086) consults the TSS bitmap. */
export function checkIo(c: Cpu, port: number, size: number): void {
  if (!(c.cr0 & CR0_PE)) return;
  const iopl = (c.eflags & FLAG_IOPL) >>> 12;
  if (!(c.eflags & FLAG_VM) && c.cpl <= iopl) return;
  const trBase = c.segBase[7]!, trLimit = c.segLimit[7]!;
  if (trLimit < 0x67) c.raise(VEC_GP, 0);
  const mapOff = c.sysRead32(trBase + 0x64) >>> 16;
  const byte = mapOff + (port >>> 3);
  if (byte + 1 > trLimit) c.raise(VEC_GP, 0);
  const bits = c.sysRead32(trBase + byte) & 0xffff;
  const mask = ((1 << size) - 1) << (port & 7);
  if (bits & mask) c.raise(VEC_GP, 0);
}

function buildIn(d: Insn): Op {
  const dst = d.ops[0]!, src = d.ops[1]!, size = dst.size as 1 | 2 | 4, next = d.next;
  const fixed = src.kind === K_IMM ? src.lo & 0xff : -1;
  return (c) => {
    const port = fixed >= 0 ? fixed : c.lo[RDX]! & 0xffff;
    checkIo(c, port, size);
    if (c.host.interceptIo?.(port, size, false, false, false)) abandon(c);
    const v = c.host.ioIn(port, size);
    setReg(c, RAX, size, v, 0);
    c.rip = next;
    c.exitReq = true;
  };
}

function buildOut(d: Insn): Op {
  const dst = d.ops[0]!, src = d.ops[1]!, size = src.size as 1 | 2 | 4, next = d.next;
  const fixed = dst.kind === K_IMM ? dst.lo & 0xff : -1;
  return (c) => {
    const port = fixed >= 0 ? fixed : c.lo[RDX]! & 0xffff;
    checkIo(c, port, size);
    if (c.host.interceptIo?.(port, size, true, false, false)) abandon(c);
    const v = size === 4 ? c.lo[RAX]! >>> 0 : c.lo[RAX]! & (size === 1 ? 0xff : 0xffff);
    // RIP still points at the OUT while the device sees it (event positions name the OUT).
    c.host.ioOut(port, size, v);
    c.rip = next;
    c.exitReq = true;
  };
}

// ---- interrupts flag, halt ---------------------------------------------------------------

function cliSti(d: Insn, set: boolean): Op {
  const next = d.next;
  return (c) => {
    if ((c.cr0 & CR0_PE) && c.cpl > ((c.eflags & FLAG_IOPL) >>> 12)) c.raise(VEC_GP, 0);
    if (set) {
      if (!(c.eflags & FLAG_IF)) {
        c.eflags |= FLAG_IF;
        c.shadow = true;
      }
    } else c.eflags &= ~FLAG_IF;
    c.brk = true;
    c.rip = next;
  };
}

function buildHlt(d: Insn): Op {
  const next = d.next;
  return (c) => {
    requireCpl0(c);
    c.rip = next;
    c.halted = true;
    c.exitReq = true;
    c.host.onHalt();
  };
}

// ---- identification and time --------------------------------------------------------------

function buildCpuid(d: Insn): Op {
  const next = d.next;
  return (c) => {
    const leaf = c.lo[RAX]!, sub = c.lo[RCX]!;
    const out = c.cpuidOut;
    cpuidModel(leaf, sub, c.host.apicId(), out);
    // OSXSAVE (leaf 1 ECX bit 27) mirrors CR4.OSXSAVE.
    if ((leaf >>> 0) === 1 && (c.cr4 & 0x40000)) out[2] = out[2]! | (1 << 27);
    c.host.cpuid(leaf >>> 0, sub >>> 0, out);
    setReg(c, RAX, 4, out[0]!, 0);
    setReg(c, 3, 4, out[1]!, 0); // RBX
    setReg(c, RCX, 4, out[2]!, 0);
    setReg(c, RDX, 4, out[3]!, 0);
    c.rip = next;
  };
}

function tsc(c: Cpu): number {
  return c.host.now() + c.tscOffset;
}

function buildRdtsc(d: Insn, aux: boolean): Op {
  const next = d.next;
  return (c) => {
    if ((c.cr4 & CR4_TSD) && c.cpl !== 0) c.raise(VEC_GP, 0);
    const t = tsc(c);
    setReg(c, RAX, 4, t | 0, 0);
    setReg(c, RDX, 4, hiOf(t), 0);
    if (aux) setReg(c, RCX, 4, c.tscAux, 0);
    c.rip = next;
  };
}

function buildRdpid(d: Insn): Op {
  const r = d.ops[0]!.reg, size = d.ops[0]!.size, next = d.next;
  return (c) => {
    setReg(c, r, size, c.tscAux, 0);
    c.rip = next;
  };
}

function buildRdmsr(d: Insn): Op {
  const next = d.next;
  return (c) => {
    requireCpl0(c);
    if (!readMsr(c, c.lo[RCX]!)) c.raise(VEC_GP, 0);
    setReg(c, RAX, 4, c.msrOut[0]!, 0);
    setReg(c, RDX, 4, c.msrOut[1]!, 0);
    c.rip = next;
  };
}

/**
 * An intercepted instruction does not retire: it is abandoned (no icount, RIP unchanged) and
 * the host's deferred work (entering the owning VTL) runs once it has been unwound.
 */
export function abandon(c: Cpu): never {
  c.abortRip = c.rip;
  c.exitReq = true;
  throw ABORT;
}

function buildWrmsr(d: Insn): Op {
  const next = d.next;
  return (c) => {
    requireCpl0(c);
    const i = c.lo[RCX]! >>> 0, lo = c.lo[RAX]!, hi = c.lo[RDX]!;
    if (c.host.interceptMsrWrite?.(i, lo, hi)) abandon(c);
    if (!writeMsr(c, i, lo, hi)) c.raise(VEC_GP, 0);
    c.rip = next;
    c.exitReq = true;
  };
}

// ---- control registers --------------------------------------------------------------------

/**
 * CR4 bits that can be set: those of the features CPUID advertises (cpuid.ts). VME/PVI, DE, MCE,
 * UMIP, LA57 and PCIDE are not advertised, so setting them raises #GP(0) (SDM "MOV to CR4").
 */
const CR4_KNOWN = CR4_TSD | CR4_PSE | CR4_PAE | CR4_PGE | 0x100 | 0x200 | 0x400 | CR4_FSGSBASE |
  0x40000 | CR4_SMEP | CR4_SMAP;

/** MOV to CRn with all architectural checks. Returns normally or raises. */
export function writeCr(c: Cpu, cr: number, lo: number, hi: number): void {
  switch (cr) {
    case 0: {
      if (hi !== 0) c.raise(VEC_GP, 0);
      let v = (lo | CR0_ET) >>> 0;
      if ((v & CR0_PG) && !(v & CR0_PE)) c.raise(VEC_GP, 0);
      if ((v & 0x40000000) === 0 && (v & 0x20000000)) c.raise(VEC_GP, 0); // NW without CD
      const old = c.cr0;
      if ((v & CR0_PG) && !(old & CR0_PG) && (c.efer & EFER_LME)) {
        if (!(c.cr4 & CR4_PAE)) c.raise(VEC_GP, 0);
        c.efer |= EFER_LMA;
      }
      if (!(v & CR0_PG) && (old & CR0_PG) && (c.efer & EFER_LMA)) {
        if (c.bits === 64) c.raise(VEC_GP, 0);
        c.efer &= ~EFER_LMA;
      }
      v = v | 0;
      c.cr0 = v;
      if ((old ^ v) & (CR0_PG | CR0_PE | CR0_WP | CR0_AM)) c.flushTlb();
      c.updateMode();
      return;
    }
    case 2:
      c.cr2 = hi * TWO32 + (lo >>> 0);
      return;
    case 3: {
      const pcide = (c.cr4 & CR4_PCIDE) !== 0;
      const v = (hi & 0x7fffffff) * TWO32 + (lo >>> 0);
      c.cr3 = pcide ? v : v;
      c.flushTlb();
      return;
    }
    case 4: {
      if (hi !== 0 || (lo & ~CR4_KNOWN)) c.raise(VEC_GP, 0);
      if ((c.efer & EFER_LMA) && !(lo & CR4_PAE)) c.raise(VEC_GP, 0);
      const old = c.cr4;
      c.cr4 = lo;
      if ((old ^ lo) & (CR4_PGE | CR4_PAE | CR4_PSE | CR4_SMEP | CR4_SMAP)) c.flushTlb();
      return;
    }
    case 8:
      if (hi !== 0 || (lo & ~0xf)) c.raise(VEC_GP, 0);
      c.host.writeCr8(lo & 0xf);
      c.brk = true;
      return;
  }
  c.raise(VEC_UD);
}

export function readCr(c: Cpu, cr: number): number {
  switch (cr) {
    case 0:
      return c.cr0 >>> 0;
    case 2:
      return c.cr2;
    case 3:
      return c.cr3;
    case 4:
      return c.cr4;
    case 8:
      return c.host.readCr8();
  }
  return c.raise(VEC_UD);
}

export function buildMovCr(d: Insn): Op {
  const dst = d.ops[0]!, src = d.ops[1]!, next = d.next;
  const toCr = dst.rc === 2;
  const cr = toCr ? dst.reg : src.reg;
  if (![0, 2, 3, 4, 8].includes(cr)) return (c) => c.raise(VEC_UD);
  if (toCr) {
    const r = src.reg;
    return (c) => {
      requireCpl0(c);
      const lo = c.lo[r]!, hi = c.bits === 64 ? c.hi[r]! : 0;
      if (c.host.interceptCrWrite?.(cr, lo, hi)) abandon(c);
      writeCr(c, cr, lo, hi);
      c.rip = next;
      c.exitReq = true;
    };
  }
  const r = dst.reg;
  return (c) => {
    requireCpl0(c);
    const v = readCr(c, cr);
    if (c.bits === 64) setReg(c, r, 8, v | 0, hiOf(v));
    else setReg(c, r, 4, v | 0, 0);
    c.rip = next;
  };
}

export function buildMovDr(d: Insn): Op {
  const dst = d.ops[0]!, src = d.ops[1]!, next = d.next;
  const toDr = dst.rc === 3;
  let dr = toDr ? dst.reg : src.reg;
  return (c) => {
    requireCpl0(c);
    if (dr === 4 || dr === 5) dr += 2; // aliases of DR6/DR7 when CR4.DE = 0
    if (dr > 7) c.raise(VEC_UD);
    if (toDr) {
      const r = src.reg;
      c.dr[dr] = c.bits === 64 ? c.reg(r) : c.lo[r]! >>> 0;
    } else {
      const v = c.dr[dr]!;
      if (c.bits === 64) setReg(c, dst.reg, 8, v | 0, hiOf(v));
      else setReg(c, dst.reg, 4, v | 0, 0);
    }
    c.rip = next;
  };
}

function buildClts(d: Insn): Op {
  return (c) => {
    requireCpl0(c);
    c.cr0 &= ~CR0_TS;
    c.rip = d.next;
  };
}

// ---- descriptor tables ----------------------------------------------------------------------

function buildLgdtLidt(d: Insn, idt: boolean): Op {
  const ea = eaOf(d), next = d.next;
  return (c) => {
    requireCpl0(c);
    const lin = ea(c);
    const limit = c.read16(lin);
    let base: number;
    if (c.bits === 64) {
      const lo = c.read64(lin + 2);
      base = c.tHi * TWO32 + (lo >>> 0);
    } else {
      base = c.read32(lin + 2) >>> 0;
      if (d.code === Code.Lgdt_m1632_16 || d.code === Code.Lidt_m1632_16) base &= 0xffffff;
    }
    if (idt) {
      c.idtBase = base;
      c.idtLimit = limit;
    } else {
      c.gdtBase = base;
      c.gdtLimit = limit;
    }
    c.rip = next;
  };
}

function buildSgdtSidt(d: Insn, idt: boolean): Op {
  const ea = eaOf(d), next = d.next;
  return (c) => {
    if ((c.cr4 & 0x800) && c.cpl > 0) c.raise(VEC_GP, 0); // UMIP
    const lin = ea(c);
    const base = idt ? c.idtBase : c.gdtBase;
    const limit = idt ? c.idtLimit : c.gdtLimit;
    c.probe(lin, c.bits === 64 ? 10 : 6, 1);
    c.write16(lin, limit);
    if (c.bits === 64) c.write64(lin + 2, base | 0, hiOf(base));
    else c.write32(lin + 2, base | 0);
    c.rip = next;
  };
}

function selSource(d: Insn): (c: Cpu) => number {
  const src = d.ops[0]!;
  if (src.kind === K_REG) {
    const r = src.reg;
    return (c) => c.lo[r]! & 0xffff;
  }
  const ea = eaOf(d);
  return (c) => c.read16(ea(c));
}

function buildLtrLldt(d: Insn, tr: boolean): Op {
  const get = selSource(d), next = d.next;
  return (c) => {
    if (!(c.cr0 & CR0_PE) || (c.eflags & FLAG_VM)) c.raise(VEC_UD);
    requireCpl0(c);
    const sel = get(c);
    const seg = tr ? 7 : 6;
    if ((sel & ~3) === 0) {
      if (tr) c.raise(VEC_GP, 0);
      c.segSel[6] = sel;
      c.segBase[6] = 0;
      c.segLimit[6] = 0;
      c.segAttr[6] = 0x10000;
      c.rip = next;
      return;
    }
    const err = sel & ~3;
    if ((sel & 4) || c.readDescriptor(sel) === null) c.raise(VEC_GP, err);
    const lo = c.tLo, hi = c.tHi;
    const type = descType(hi);
    // An available TSS (a 16-bit one only outside IA-32e mode) or an LDT.
    const ok = tr ? type === SYS_TSS32 || (type === SYS_TSS16 && !c.longMode) : type === SYS_LDT;
    if (descIsSeg(hi) || !ok) c.raise(VEC_GP, err);
    if (!descPresent(hi)) c.raise(VEC_NP, err);
    let base = descBase(lo, hi);
    if (c.longMode) {
      // The 16-byte form: base bits 63:32 in the next 8 bytes.
      const upper = c.readDescriptor(sel + 8);
      if (upper === null) return c.raise(VEC_GP, err);
      base = upper * TWO32 + base;
      if (!isCanonicalNum(base)) c.raise(VEC_GP, err);
    }
    c.segSel[seg] = sel;
    c.segBase[seg] = base;
    c.segLimit[seg] = descLimit(lo, hi);
    c.segAttr[seg] = descAttr(hi);
    if (tr) {
      // Mark the TSS busy.
      c.sysWrite32(c.gdtBase + (sel & ~7) + 4, hi | 0x200);
      c.segAttr[seg] |= 0x2;
    }
    c.rip = next;
  };
}

function buildStrSldt(d: Insn, tr: boolean): Op {
  const dst = d.ops[0]!, next = d.next;
  const seg = tr ? 7 : 6;
  if (dst.kind === K_REG) {
    const r = dst.reg, size = dst.size;
    return (c) => {
      if (!(c.cr0 & CR0_PE) || (c.eflags & FLAG_VM)) c.raise(VEC_UD);
      setReg(c, r, size, c.segSel[seg]!, 0);
      c.rip = next;
    };
  }
  const ea = eaOf(d);
  return (c) => {
    if (!(c.cr0 & CR0_PE) || (c.eflags & FLAG_VM)) c.raise(VEC_UD);
    c.write16(ea(c), c.segSel[seg]!);
    c.rip = next;
  };
}

function buildInvlpg(d: Insn): Op {
  const ea = eaOf(d), next = d.next;
  return (c) => {
    requireCpl0(c);
    c.flushTlbPage(ea(c));
    c.rip = next;
  };
}

function buildInvpcid(d: Insn): Op {
  const next = d.next, r = d.ops[0]!.reg, ea = eaOf(d);
  return (c) => {
    requireCpl0(c);
    const type = c.bits === 64 ? c.reg(r) : c.lo[r]! >>> 0;
    const lin = ea(c);
    c.read64(lin);
    c.read64(lin + 8);
    if (type > 3) c.raise(VEC_GP, 0);
    c.flushTlb();
    c.rip = next;
  };
}

// ---- interrupts ------------------------------------------------------------------------------

function buildInt(d: Insn, vec: number): Op {
  const next = d.next;
  const v = vec >= 0 ? vec : d.ops[0]!.lo & 0xff;
  return (c) => {
    if (vec === VEC_OF && !getOF(c)) {
      c.rip = next;
      return;
    }
    if (vec === VEC_OF && c.bits === 64) c.raise(VEC_UD);
    // INT n (not INT3, INTO or INT1) is IOPL-sensitive in virtual-8086 mode.
    if (vec < 0 && (c.eflags & FLAG_VM) && (c.eflags & FLAG_IOPL) !== FLAG_IOPL) c.raise(VEC_GP, 0);
    if (vec === VEC_DB) c.icebp(next);
    else c.softwareInterrupt(v, next);
    c.brk = true;
  };
}

function buildIret(d: Insn): Op {
  const size = d.code === Code.Iretq ? 8 : d.code === Code.Iretd ? 4 : 2;
  return (c) => {
    if (c.nmiBlocked) c.iretUnblocksNmi();
    if (!(c.cr0 & CR0_PE)) {
      const ip = c.popN(size), cs = c.popN(size) & 0xffff, fl = c.popN(size);
      c.loadSegReal(CS, cs);
      c.rip = size === 4 ? ip >>> 0 : ip & 0xffff;
      // IRETD keeps VM, VIF and VIP (SDM IRET, REAL-ADDRESS-MODE): real mode cannot set VM.
      const keep = size === 2 ? 0xffff0000 : FLAG_VM | FLAG_VIF | FLAG_VIP;
      c.setRflags((c.getRflags() & keep) | (fl & ~keep));
      c.updateMode();
      c.brk = true;
      return;
    }
    if (c.eflags & FLAG_VM) {
      c.saveFar();
      try {
        iretInV86(c, size);
      } catch (e) {
        c.undoFar(e);
      }
      c.brk = true;
      return;
    }
    if (c.eflags & FLAG_NT) {
      // Return to the task in the back link; IA-32e mode has no task switches.
      if (c.longMode) c.raise(VEC_GP, 0);
      c.saveFar();
      try {
        returnTask(c, d.next);
      } catch (e) {
        c.undoFar(e);
      }
      return;
    }
    c.saveFar();
    try {
      const ipLo = c.popN(size), ipHi = c.tHi;
      const cs = c.popN(size) & 0xffff;
      const fl = c.popN(size);
      const rip = size === 8
        ? ipHi * TWO32 + (ipLo >>> 0)
        : size === 4
        ? ipLo >>> 0
        : ipLo & 0xffff;
      if (size === 4 && (fl & FLAG_VM) && c.cpl === 0 && !c.longMode) {
        iretToV86(c, rip, cs, fl);
        c.brk = true;
        return;
      }
      checkReturnCs(c, cs);
      const csLo = c.tLo, csHi = c.tHi;
      const newCpl = cs & 3, oldCpl = c.cpl;
      // To an outer level, and always in 64-bit mode, SS:RSP are popped too.
      const popStack = newCpl > oldCpl || c.bits === 64;
      let spLo = 0, spHi = 0, ss = 0, ssNull = false, ssLo = 0, ssHi = 0;
      if (popStack) {
        spLo = c.popN(size);
        spHi = c.tHi;
        ss = c.popN(size) & 0xffff;
        ssNull = checkReturnSs(c, ss, newCpl, csHi);
        ssLo = c.tLo;
        ssHi = c.tHi;
      }
      c.commitSeg(CS, cs, csLo, csHi);
      c.updateMode();
      c.checkFarTarget(rip);
      // Flags: IOPL, VIF and VIP only at CPL 0, IF only if CPL <= IOPL; never VM (IA-32e mode
      // ignores it, a legacy return to virtual-8086 mode is handled above).
      let mask = 0x257fd5 | FLAG_TF | FLAG_NT | FLAG_AC | FLAG_RF | 0x200000;
      if (oldCpl === 0) mask |= FLAG_IOPL | FLAG_IF | FLAG_VIF | FLAG_VIP;
      else if (oldCpl <= ((c.eflags & FLAG_IOPL) >>> 12)) mask |= FLAG_IF;
      if (size === 2) mask &= 0xffff;
      const cur = c.getRflags();
      c.setRflags((cur & ~mask) | (fl & mask));
      if (popStack) {
        loadReturnSs(c, ss, ssNull, ssLo, ssHi);
        setPoppedSp(c, size, spLo, spHi);
      }
      if (newCpl > oldCpl) nullOuterDataSegs(c, newCpl);
      c.rip = rip;
      c.updateMode();
    } catch (e) {
      c.undoFar(e);
    }
    c.brk = true;
  };
}

// ---- fast system calls ---------------------------------------------------------------------

function buildSyscall(d: Insn): Op {
  const next = d.next;
  return (c) => {
    // Intel: SYSCALL is invalid outside 64-bit mode (compatibility mode included).
    if (!(c.efer & EFER_SCE) || c.bits !== 64) c.raise(VEC_UD);
    const sel = c.star & 0xffff;
    c.setReg(RCX, next);
    const fl = c.getRflags();
    c.lo[R11] = fl & ~0x10000;
    c.hi[R11] = 0;
    c.setSegment(CS, sel & 0xfffc, 0, 0xffffffff, 0xa09b);
    c.setSegment(SS, (sel + 8) & 0xfffc, 0, 0xffffffff, 0xc093);
    c.setRflags(fl & ~c.sfmask & ~0x10000);
    c.rip = c.lstar;
    c.updateMode();
    c.brk = true;
  };
}

function buildSysret(d: Insn): Op {
  const to64 = d.code === Code.Sysretq;
  return (c) => {
    if (!(c.efer & EFER_SCE) || c.bits !== 64) c.raise(VEC_UD);
    requireCpl0(c);
    const base = c.star >>> 16;
    let rip: number;
    if (to64) {
      rip = c.reg(RCX);
      if (!isCanonical(c.hi[RCX]!)) c.raise(VEC_GP, 0);
      c.setSegment(CS, ((base + 16) & 0xfffc) | 3, 0, 0xffffffff, 0xa0fb);
    } else {
      rip = c.lo[RCX]! >>> 0;
      c.setSegment(CS, (base & 0xfffc) | 3, 0, 0xffffffff, 0xc0fb);
    }
    c.setSegment(SS, ((base + 8) & 0xfffc) | 3, 0, 0xffffffff, 0xc0f3);
    c.setRflags((c.lo[R11]! & 0x3c7fd7) | 2);
    c.rip = rip;
    c.updateMode();
    c.brk = true;
  };
}

function buildSysenter(d: Insn): Op {
  void d;
  return (c) => {
    if (!(c.cr0 & CR0_PE) || (c.sysenterCs & 0xfffc) === 0) c.raise(VEC_GP, 0);
    const cs = c.sysenterCs & 0xfffc;
    c.eflags &= ~(FLAG_VM | FLAG_IF | FLAG_RF);
    if (c.longMode) {
      c.setSegment(CS, cs, 0, 0xffffffff, 0xa09b);
      c.setReg(RSP, c.sysenterEsp);
      c.rip = c.sysenterEip;
    } else {
      c.setSegment(CS, cs, 0, 0xffffffff, 0xc09b);
      c.lo[RSP] = c.sysenterEsp | 0;
      c.rip = c.sysenterEip >>> 0;
    }
    c.setSegment(SS, cs + 8, 0, 0xffffffff, 0xc093);
    c.updateMode();
    c.brk = true;
  };
}

function buildSysexit(d: Insn): Op {
  const to64 = d.code === Code.Sysexitq;
  return (c) => {
    if (!(c.cr0 & CR0_PE) || (c.sysenterCs & 0xfffc) === 0) c.raise(VEC_GP, 0);
    requireCpl0(c);
    const cs = c.sysenterCs & 0xfffc;
    if (to64) {
      if (!isCanonical(c.hi[RCX]!) || !isCanonical(c.hi[RDX]!)) c.raise(VEC_GP, 0);
      c.setSegment(CS, (cs + 32) | 3, 0, 0xffffffff, 0xa0fb);
      c.setSegment(SS, (cs + 40) | 3, 0, 0xffffffff, 0xc0f3);
      c.setReg(RSP, c.reg(RCX));
      c.rip = c.reg(RDX);
    } else {
      c.setSegment(CS, (cs + 16) | 3, 0, 0xffffffff, 0xc0fb);
      c.setSegment(SS, (cs + 24) | 3, 0, 0xffffffff, 0xc0f3);
      c.lo[RSP] = c.lo[RCX]!;
      if (c.longMode) c.hi[RSP] = 0;
      c.rip = c.lo[RDX]! >>> 0;
    }
    c.updateMode();
    c.brk = true;
  };
}

function buildSwapgs(d: Insn): Op {
  const next = d.next;
  return (c) => {
    if (c.bits !== 64) c.raise(VEC_UD);
    requireCpl0(c);
    const t = c.segBase[GS]!;
    c.segBase[GS] = c.kernelGsBase;
    c.kernelGsBase = t;
    c.rip = next;
  };
}

function buildRdWrBase(d: Insn, seg: number, write: boolean): Op {
  const r = d.ops[0]!.reg, size = d.ops[0]!.size, next = d.next;
  return (c) => {
    if (c.bits !== 64 || !(c.cr4 & CR4_FSGSBASE)) c.raise(VEC_UD);
    if (write) {
      const v = size === 8 ? c.reg(r) : c.lo[r]! >>> 0;
      if (size === 8 && !isCanonical(c.hi[r]!)) c.raise(VEC_GP, 0);
      c.segBase[seg] = v;
    } else {
      const v = c.segBase[seg]!;
      setReg(c, r, size, v | 0, hiOf(v));
    }
    c.rip = next;
  };
}

// ---- hypercalls -------------------------------------------------------------------------------

function buildVmcall(d: Insn): Op {
  const next = d.next;
  return (c) => {
    // TLFS §3.5: hypercalls are legal only in protected mode at CPL 0.
    if (!(c.cr0 & CR0_PE) || c.cpl !== 0 || (c.eflags & FLAG_VM)) c.raise(VEC_UD);
    c.rip = next;
    c.host.hypercall();
    c.exitReq = true;
  };
}

// ---- extended state control ------------------------------------------------------------------

function buildXgetbv(d: Insn): Op {
  const next = d.next;
  return (c) => {
    if (!(c.cr4 & 0x40000)) c.raise(VEC_UD);
    if (c.lo[RCX] !== 0) c.raise(VEC_GP, 0);
    setReg(c, RAX, 4, c.xcr0, 0);
    setReg(c, RDX, 4, 0, 0);
    c.rip = next;
  };
}

function buildXsetbv(d: Insn): Op {
  const next = d.next;
  return (c) => {
    if (!(c.cr4 & 0x40000)) c.raise(VEC_UD);
    requireCpl0(c);
    // Only x87 (bit 0) and SSE (bit 1) state components exist.
    const v = c.lo[RAX]!;
    if (c.lo[RCX] !== 0 || c.lo[RDX] !== 0 || !(v & 1) || (v & ~3)) c.raise(VEC_GP, 0);
    c.xcr0 = v;
    c.rip = next;
  };
}

// ---- no-ops for caches and ordering ----------------------------------------------------------

function nop(d: Insn): Op {
  const next = d.next;
  return (c) => {
    c.rip = next;
  };
}

function privNop(d: Insn): Op {
  const next = d.next;
  return (c) => {
    requireCpl0(c);
    c.rip = next;
  };
}

/**
 * CLFLUSH, CLFLUSHOPT, CLWB: checked like a byte load (segment, canonical form, paging and VTL
 * rights; the translation cached and accessed bits set exactly as a read would) but nothing is
 * read, so a device behind the address sees no access.
 */
function cacheLineOp(d: Insn): Op {
  const ea = eaOf(d), next = d.next;
  return (c) => {
    const lin = ea(c);
    if (c.cachedAddr(lin, false) < 0) c.translate(lin, WALK_READ, true);
    c.rip = next;
  };
}

function stacClac(d: Insn, set: boolean): Op {
  const next = d.next;
  return (c) => {
    if (!(c.cr4 & CR4_SMAP) || c.cpl !== 0) c.raise(VEC_UD);
    const f = c.getRflags();
    c.setRflags(set ? f | FLAG_AC : f & ~FLAG_AC);
    c.rip = next;
  };
}

define([Mnemonic.In], buildIn);
define([Mnemonic.Out], buildOut);
define([Mnemonic.Cli], (d) => cliSti(d, false));
define([Mnemonic.Sti], (d) => cliSti(d, true));
define([Mnemonic.Hlt], buildHlt);
define([Mnemonic.Cpuid], buildCpuid);
define([Mnemonic.Rdtsc], (d) => buildRdtsc(d, false));
define([Mnemonic.Rdtscp], (d) => buildRdtsc(d, true));
define([Mnemonic.Rdpid], buildRdpid);
define([Mnemonic.Rdmsr], buildRdmsr);
define([Mnemonic.Wrmsr], buildWrmsr);
define([Mnemonic.Clts], buildClts);
define([Mnemonic.Lgdt], (d) => buildLgdtLidt(d, false));
define([Mnemonic.Lidt], (d) => buildLgdtLidt(d, true));
define([Mnemonic.Sgdt], (d) => buildSgdtSidt(d, false));
define([Mnemonic.Sidt], (d) => buildSgdtSidt(d, true));
define([Mnemonic.Ltr], (d) => buildLtrLldt(d, true));
define([Mnemonic.Lldt], (d) => buildLtrLldt(d, false));
define([Mnemonic.Str], (d) => buildStrSldt(d, true));
define([Mnemonic.Sldt], (d) => buildStrSldt(d, false));
define([Mnemonic.Invlpg], buildInvlpg);
define([Mnemonic.Invpcid], buildInvpcid);
define([Mnemonic.Int], (d) => buildInt(d, -1));
define([Mnemonic.Int3], (d) => buildInt(d, VEC_BP));
define([Mnemonic.Into], (d) => buildInt(d, VEC_OF));
define([Mnemonic.Int1], (d) => buildInt(d, VEC_DB));
define([Mnemonic.Iret, Mnemonic.Iretd, Mnemonic.Iretq], buildIret);
define([Mnemonic.Syscall], buildSyscall);
define([Mnemonic.Sysret, Mnemonic.Sysretq], buildSysret);
define([Mnemonic.Sysenter], buildSysenter);
define([Mnemonic.Sysexit, Mnemonic.Sysexitq], buildSysexit);
define([Mnemonic.Swapgs], buildSwapgs);
define([Mnemonic.Rdfsbase], (d) => buildRdWrBase(d, FS, false));
define([Mnemonic.Rdgsbase], (d) => buildRdWrBase(d, GS, false));
define([Mnemonic.Wrfsbase], (d) => buildRdWrBase(d, FS, true));
define([Mnemonic.Wrgsbase], (d) => buildRdWrBase(d, GS, true));
define([Mnemonic.Vmcall, Mnemonic.Vmmcall], buildVmcall);
define([Mnemonic.Xgetbv], buildXgetbv);
define([Mnemonic.Xsetbv], buildXsetbv);
define([Mnemonic.Wbinvd, Mnemonic.Invd], privNop);
define([
  Mnemonic.Lfence,
  Mnemonic.Mfence,
  Mnemonic.Sfence,
  Mnemonic.Pause,
  Mnemonic.Endbr64,
  Mnemonic.Endbr32,
], nop);
define([Mnemonic.Clflush, Mnemonic.Clflushopt, Mnemonic.Clwb], cacheLineOp);
// Prefetches are hints: they never fault and have no architectural effect (SDM PREFETCHh:
// "does not affect program behavior"), whatever the address (Linux prefetches NULL + offset).
define([
  Mnemonic.Prefetchnta,
  Mnemonic.Prefetcht0,
  Mnemonic.Prefetcht1,
  Mnemonic.Prefetcht2,
  Mnemonic.Prefetchw,
  Mnemonic.Prefetchwt1,
  Mnemonic.Prefetch,
], nop);
define([Mnemonic.Stac], (d) => stacClac(d, true));
define([Mnemonic.Clac], (d) => stacClac(d, false));

// Instructions that read the clock or talk to the machine run alone in their block.
isolate(
  Mnemonic.In,
  Mnemonic.Out,
  Mnemonic.Insb,
  Mnemonic.Insw,
  Mnemonic.Insd,
  Mnemonic.Outsb,
  Mnemonic.Outsw,
  Mnemonic.Outsd,
  Mnemonic.Hlt,
  Mnemonic.Cli,
  Mnemonic.Sti,
  Mnemonic.Cpuid,
  Mnemonic.Rdtsc,
  Mnemonic.Rdtscp,
  Mnemonic.Rdmsr,
  Mnemonic.Wrmsr,
  Mnemonic.Vmcall,
  Mnemonic.Vmmcall,
  Mnemonic.Lgdt,
  Mnemonic.Lidt,
  Mnemonic.Ltr,
  Mnemonic.Lldt,
  Mnemonic.Invlpg,
  Mnemonic.Invpcid,
  Mnemonic.Popf,
  Mnemonic.Popfd,
  Mnemonic.Popfq,
  Mnemonic.Xsetbv,
  Mnemonic.Swapgs,
  Mnemonic.Clts,
  Mnemonic.Stac,
  Mnemonic.Clac,
);

// MOV to/from control, debug and segment registers changes modes or reads machine state.
isolateIf(
  Mnemonic.Mov,
  (d) => d.ops.some((o) => o.kind === K_REG && o.rc >= RC_SEG && o.rc <= RC_DR),
);
