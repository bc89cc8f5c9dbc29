/**
 * NMIs per VTL. The NMI latch and NMI blocking are part of each VTL's private CPU context
 * (src/cpu/context.ts): an NMI for the active VTL goes to the CPU's NMI input, one for another
 * VTL is latched in its saved context. An NMI pending for a VTL above the active one preempts it
 * like an interrupt (TLFS §15.12.2, hv/vsm.ts checkPreemption), whatever the active VTL's
 * RFLAGS.IF. An NMI for a lower VTL waits until that VTL runs (it does not raise VINA, which
 * names an APIC vector).
 */

import type { Vtl } from "../core/vtl.ts";
import type { HvVp } from "./partition.ts";

/** The `interrupt` event source of a delivered NMI (vector 2; traces/README.md). */
export const NMI_SOURCE = "nmi";

/** An NMI arrives for (vp, vtl): from a local APIC (ICR, LINT) or HvCallAssertVirtualInterrupt. */
export function assertNmi(vp: HvVp, vtl: Vtl): void {
  const cpu = vp.cpu;
  if (vtl === vp.activeVtl) {
    cpu.raiseNmi();
    return;
  }
  vp.contexts.get(vtl).nmiPending = true;
  if (vtl > vp.activeVtl) {
    // A higher VTL may preempt: let the machine look at it after this instruction.
    vp.preemptCheck = true;
    cpu.brk = true;
    cpu.exitReq = true;
  }
}

/** Whether VTL `vtl` of the VP has an NMI it would take now (latched and not blocked). */
export function nmiDeliverable(vp: HvVp, vtl: Vtl): boolean {
  const c = vtl === vp.activeVtl ? vp.cpu : vp.contexts.get(vtl);
  return c.nmiPending && !c.nmiBlocked;
}
