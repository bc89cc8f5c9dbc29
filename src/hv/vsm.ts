/**
 * VTL transitions (TLFS §15.6-§15.8, §15.12; spec/vsm.md §4.4): VTL call, VTL return (normal and
 * fast), interrupt preemption by a higher VTL. Private state is swapped as a whole CpuContext;
 * shared registers stay in the CPU. Every switch is a `vtl_switch` event.
 */

import { hexNum } from "../cpu/u64.ts";
import type { Vtl } from "../core/vtl.ts";
import { loadContext, saveContext } from "../cpu/context.ts";
import { CS, RAX, RCX, SEG_ATTR_L, VEC_NMI, VEC_UD } from "../cpu/regs.ts";
import {
  HvVtlEntryReasonInterrupt,
  HvVtlEntryReasonVtlCall,
  VP_ASSIST_ENTRY_REASON,
  VP_ASSIST_VINA_STATUS,
  VP_ASSIST_VTL_RETURN_RAX,
  VP_ASSIST_VTL_RETURN_RCX,
} from "./hvdef.ts";
import type { HvVp, Partition } from "./partition.ts";
import { nmiDeliverable } from "./nmi.ts";

export type SwitchReason = "call" | "return" | "fast_return" | "interrupt" | "intercept";

/** Whether delivering `vector` in `vtl` is the interrupt that preempted a lower VTL (consumed). */
export function takePreempted(vp: HvVp, vtl: Vtl, vector: number): boolean {
  const e = vp.preemptedBy;
  if (e === null || e.vtl !== vtl || e.vector !== vector) return false;
  vp.preemptedBy = null;
  return true;
}

/** Swaps the VP's private state from its active VTL to `to` and records the event. */
export function switchVtl(
  p: Partition,
  vp: HvVp,
  to: Vtl,
  reason: SwitchReason,
  eventRip: number,
): void {
  const cpu = vp.cpu;
  const from = vp.activeVtl;
  vp.preemptedBy = null;
  // The event is positioned at the instruction in the VTL being left.
  p.emitter.emit(vp.index, "vtl_switch", {
    from,
    to,
    reason,
    rip_before: hexNum(cpu.rip),
    rip_after: hexNum(vp.contexts.get(to).rip),
  }, eventRip);
  saveContext(cpu, vp.contexts.get(from));
  // A halted VTL that is preempted resumes after its HLT when it next runs.
  if (reason === "interrupt") vp.contexts.get(from).halted = false;
  loadContext(cpu, vp.contexts.get(to), to);
  vp.activeVtl = to;
  cpu.intrPending = true; // re-evaluate against the new VTL's APIC
  cpu.exitReq = true;
  cpu.brk = true;
  // Entering a higher VTL: lower VTLs' pending interrupts may raise VINA at once.
  for (let v = 0; v < to; v++) checkVina(p, vp, v as Vtl);
  // An exception a higher VTL injected with HvRegisterPendingEvent0 is delivered on entry.
  const pe = vp.pendingEvent[to];
  if (pe !== null && pe !== undefined) {
    vp.pendingEvent[to] = null;
    if (pe.vector === 14) cpu.cr2 = pe.param;
    cpu.deliverException(pe.vector, pe.hasErr, pe.err);
  }
}

/** Writes the entry reason into VTL `vtl`'s VP assist page, if enabled (spec §4.3). */
function setEntryReason(p: Partition, vp: HvVp, vtl: Vtl, reason: number): void {
  const off = p.assistOffset(vp, vtl, VP_ASSIST_ENTRY_REASON);
  if (off >= 0) p.mem.write32(off, reason);
}

/** HvCallVtlCall (TLFS §15.6.1): switch to the next higher enabled VTL. */
export function vtlCall(p: Partition, vp: HvVp, rip: number): void {
  const cpu = vp.cpu;
  const x64 = cpu.longMode && (cpu.segAttr[CS]! & SEG_ATTR_L) !== 0;
  // The code page moved the caller's control word to RAX (ECX for 32-bit); RCX now holds the
  // call code, which must be exactly 0x11 with no other bits, and the control word must be 0.
  const ctlLo = x64 ? cpu.lo[RCX]! : cpu.lo[RAX]!;
  const ctlHi = x64 ? cpu.hi[RCX]! : 0;
  const word = x64 ? (cpu.lo[RAX]! | cpu.hi[RAX]!) : cpu.lo[RCX]!;
  const target = vp.nextHigher();
  if (ctlLo !== 0x11 || ctlHi !== 0 || word !== 0 || target < 0) {
    cpu.rip = rip;
    cpu.raise(VEC_UD);
  }
  switchVtl(p, vp, target as Vtl, "call", rip);
  setEntryReason(p, vp, target as Vtl, HvVtlEntryReasonVtlCall);
}

/** HvCallVtlReturn (TLFS §15.7.1): switch to the next lower enabled VTL. */
export function vtlReturn(p: Partition, vp: HvVp, rip: number): void {
  const cpu = vp.cpu;
  const x64 = cpu.longMode && (cpu.segAttr[CS]! & SEG_ATTR_L) !== 0;
  const ctlLo = x64 ? cpu.lo[RCX]! : cpu.lo[RAX]!;
  const ctlHi = x64 ? cpu.hi[RCX]! : 0;
  const wordLo = x64 ? cpu.lo[RAX]! : cpu.lo[RCX]!;
  const wordHi = x64 ? cpu.hi[RAX]! : 0;
  const target = vp.nextLower();
  // Control word: bit 0 FastReturn, bits 63:1 reserved.
  if (ctlLo !== 0x12 || ctlHi !== 0 || (wordLo & ~1) !== 0 || wordHi !== 0 || target < 0) {
    cpu.rip = rip;
    cpu.raise(VEC_UD);
  }
  const from = vp.activeVtl;
  const fast = (wordLo & 1) !== 0;
  // VINA AutoReset clears VinaAsserted when the VTL returns (OpenVMM; the TLFS says on the
  // next entry — README, conflicts table).
  if ((vp.vina.get(from) & (1 << 9)) !== 0) {
    const s = p.assistOffset(vp, from, VP_ASSIST_VINA_STATUS);
    if (s >= 0) p.mem.write8(s, p.mem.read8(s) & ~1);
  }
  // Returning releases the TLB locks the returning VTL holds on this VP, and flush inhibition.
  for (let n = 0; n < from; n++) vp.secureConfig[from]![n]! &= ~2;
  vp.tlbFlushInhibit = false;
  // Values to restore come from the returning VTL's assist page (spec §4.4 step 5).
  let rax: [number, number] | null = null, rcx: [number, number] | null = null;
  if (!fast) {
    const a = p.assistOffset(vp, from, VP_ASSIST_VTL_RETURN_RAX);
    const c = p.assistOffset(vp, from, VP_ASSIST_VTL_RETURN_RCX);
    if (a >= 0) rax = [p.mem.dv.getInt32(a, true), p.mem.dv.getInt32(a + 4, true)];
    if (c >= 0) rcx = [p.mem.dv.getInt32(c, true), p.mem.dv.getInt32(c + 4, true)];
  }
  switchVtl(p, vp, target as Vtl, fast ? "fast_return" : "return", rip);
  if (rax !== null) {
    cpu.lo[RAX] = rax[0];
    cpu.hi[RAX] = rax[1];
  }
  if (rcx !== null) {
    cpu.lo[RCX] = rcx[0];
    cpu.hi[RCX] = rcx[1];
  }
  // Interrupts pending for a higher VTL re-enter it at once (spec §4.4 step 6).
  vp.preemptCheck = true;
}

/**
 * Cross-VTL interrupt preemption (TLFS §15.12.2): if a VTL above the active one has a
 * deliverable NMI or interrupt in its APIC — regardless of the active VTL's RFLAGS.IF — switch to the
 * highest such VTL with entry reason Interrupt. Returns true if it switched.
 */
export function checkPreemption(p: Partition, vp: HvVp): boolean {
  vp.preemptCheck = false;
  for (let v = vp.contexts.count - 1; v > vp.activeVtl; v--) {
    const vtl = v as Vtl;
    if (!vp.isEnabled(vtl)) continue;
    // An NMI comes before any APIC vector (SDM §6.9).
    const vector = nmiDeliverable(vp, vtl) ? VEC_NMI : vp.lapics.get(vtl).deliverable();
    if (vector >= 0) {
      switchVtl(p, vp, vtl, "interrupt", vp.cpu.rip);
      setEntryReason(p, vp, vtl, HvVtlEntryReasonInterrupt);
      vp.preemptedBy = { vtl, vector };
      return true;
    }
  }
  return false;
}

/**
 * VINA (TLFS §15.12.4, spec/vsm.md §4.5): while a higher VTL runs and a lower VTL on the same VP
 * gets an interrupt ready for delivery, the higher VTL receives HvRegisterVsmVina.Vector (once,
 * until VinaAsserted is cleared in its VP assist page).
 */
export function checkVina(p: Partition, vp: HvVp, lower: Vtl): void {
  const m = vp.activeVtl;
  if (p.config.profile === "kvm-rfc") return; // the RFC accepts VsmVina but does nothing
  if (lower >= m) return;
  const cfg = vp.vina.get(m);
  if ((cfg & 0x100) === 0 || vp.lapics.get(lower).deliverable() < 0) return;
  const off = p.assistOffset(vp, m, VP_ASSIST_VINA_STATUS);
  if (off < 0 || (p.mem.read8(off) & 1) !== 0) return;
  p.mem.write8(off, p.mem.read8(off) | 1);
  vp.lapics.get(m).accept(cfg & 0xff, false, "vina", (cfg & 0x400) !== 0);
}
