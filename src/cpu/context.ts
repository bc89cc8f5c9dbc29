/**
 * A processor execution context: everything except the general-purpose registers (other than
 * RSP), CR2, DR0-DR3 and the FPU/SSE state. Hyper-V keeps exactly this set private per VTL
 * (TLFS §15.11, spec/vsm.md §4.2); src/hv swaps contexts on VTL switches. The CPU itself
 * attaches no meaning to VTLs.
 */

import type { Cpu } from "./cpu.ts";
import { LF_NONE } from "./flags.ts";
import { RSP } from "./regs.ts";

export class CpuContext {
  rip = 0;
  rspLo = 0;
  rspHi = 0;
  rflags = 2;
  cr0 = 0x60000010;
  cr3 = 0;
  cr4 = 0;
  efer = 0;
  readonly segSel = new Int32Array(8);
  readonly segBase = new Float64Array(8);
  readonly segLimit = new Float64Array(8);
  readonly segAttr = new Int32Array(8);
  gdtBase = 0;
  gdtLimit = 0xffff;
  idtBase = 0;
  idtLimit = 0xffff;
  dr7 = 0x400;
  star = 0;
  starLo = 0;
  lstar = 0;
  cstar = 0;
  sfmask = 0;
  kernelGsBase = 0;
  tscAux = 0;
  patLo = 0x00070406;
  patHi = 0x00070406;
  sysenterCs = 0;
  sysenterEsp = 0;
  sysenterEip = 0;
  tscOffset = 0;
  halted = false;
  shadow = false;
  shadowSs = false;
  /** NMI latched for this context, and NMI blocking (until IRET): private per VTL. */
  nmiPending = false;
  nmiBlocked = false;

  /** A context in the CPU's power-on state. */
  static reset(): CpuContext {
    const c = new CpuContext();
    for (let s = 0; s < 6; s++) {
      c.segLimit[s] = 0xffff;
      c.segAttr[s] = 0x93;
    }
    c.segSel[1] = 0xf000;
    c.segBase[1] = 0xffff0000;
    c.segAttr[1] = 0x9b;
    c.segAttr[6] = 0x82;
    c.segLimit[6] = 0xffff;
    c.segAttr[7] = 0x8b;
    c.segLimit[7] = 0xffff;
    c.rip = 0xfff0;
    return c;
  }
}

/** Copies the CPU's current context into `ctx`. */
export function saveContext(cpu: Cpu, ctx: CpuContext): void {
  ctx.rip = cpu.rip;
  ctx.rspLo = cpu.lo[RSP]!;
  ctx.rspHi = cpu.hi[RSP]!;
  ctx.rflags = cpu.getRflags();
  ctx.cr0 = cpu.cr0;
  ctx.cr3 = cpu.cr3;
  ctx.cr4 = cpu.cr4;
  ctx.efer = cpu.efer;
  ctx.segSel.set(cpu.segSel);
  ctx.segBase.set(cpu.segBase);
  ctx.segLimit.set(cpu.segLimit);
  ctx.segAttr.set(cpu.segAttr);
  ctx.gdtBase = cpu.gdtBase;
  ctx.gdtLimit = cpu.gdtLimit;
  ctx.idtBase = cpu.idtBase;
  ctx.idtLimit = cpu.idtLimit;
  ctx.dr7 = cpu.dr[7]!;
  ctx.star = cpu.star;
  ctx.starLo = cpu.starLo;
  ctx.lstar = cpu.lstar;
  ctx.cstar = cpu.cstar;
  ctx.sfmask = cpu.sfmask;
  ctx.kernelGsBase = cpu.kernelGsBase;
  ctx.tscAux = cpu.tscAux;
  ctx.patLo = cpu.patLo;
  ctx.patHi = cpu.patHi;
  ctx.sysenterCs = cpu.sysenterCs;
  ctx.sysenterEsp = cpu.sysenterEsp;
  ctx.sysenterEip = cpu.sysenterEip;
  ctx.tscOffset = cpu.tscOffset;
  ctx.halted = cpu.halted;
  ctx.shadow = cpu.shadow;
  ctx.shadowSs = cpu.shadowSs;
  ctx.nmiPending = cpu.nmiPending;
  ctx.nmiBlocked = cpu.nmiBlocked;
}

/** Loads `ctx` into the CPU and selects TLB context `tlbContext`. */
export function loadContext(cpu: Cpu, ctx: CpuContext, tlbContext: number): void {
  cpu.rip = ctx.rip;
  cpu.lo[RSP] = ctx.rspLo;
  cpu.hi[RSP] = ctx.rspHi;
  cpu.eflags = (ctx.rflags & 0x3f7fd7) | 2;
  cpu.lfOp = LF_NONE;
  cpu.cr0 = ctx.cr0;
  cpu.cr3 = ctx.cr3;
  cpu.cr4 = ctx.cr4;
  cpu.efer = ctx.efer;
  cpu.segSel.set(ctx.segSel);
  cpu.segBase.set(ctx.segBase);
  cpu.segLimit.set(ctx.segLimit);
  cpu.segAttr.set(ctx.segAttr);
  cpu.gdtBase = ctx.gdtBase;
  cpu.gdtLimit = ctx.gdtLimit;
  cpu.idtBase = ctx.idtBase;
  cpu.idtLimit = ctx.idtLimit;
  cpu.dr[7] = ctx.dr7;
  cpu.star = ctx.star;
  cpu.starLo = ctx.starLo;
  cpu.lstar = ctx.lstar;
  cpu.cstar = ctx.cstar;
  cpu.sfmask = ctx.sfmask;
  cpu.kernelGsBase = ctx.kernelGsBase;
  cpu.tscAux = ctx.tscAux;
  cpu.patLo = ctx.patLo;
  cpu.patHi = ctx.patHi;
  cpu.sysenterCs = ctx.sysenterCs;
  cpu.sysenterEsp = ctx.sysenterEsp;
  cpu.sysenterEip = ctx.sysenterEip;
  cpu.tscOffset = ctx.tscOffset;
  cpu.halted = ctx.halted;
  cpu.shadow = ctx.shadow;
  cpu.shadowSs = ctx.shadowSs;
  cpu.nmiPending = ctx.nmiPending;
  cpu.nmiBlocked = ctx.nmiBlocked;
  cpu.setContext(tlbContext);
  cpu.updateMode();
}
