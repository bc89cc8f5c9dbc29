/**
 * EOI assist (TLFS `virtual-interrupts.md` "EOI Assist", spec/vsm.md §7.4).
 *
 * The first dword of a VTL's VP assist page is the "EOI Assist" field: bit 0 "No EOI required",
 * bits 31:1 RsvdZ. When the hypervisor delivers an interrupt that is edge-triggered while no
 * lower-priority interrupt is pending, it sets the bit; the guest then performs the EOI by
 * atomically clearing the bit (`btr [assist], 0`) and writes HV_X64_MSR_EOI only if the bit was
 * already clear. The hypervisor completes such an EOI lazily, "at a later instant ... depending
 * on the current value of the NoEoiRequired bit".
 *
 * vtlrr, per (VP, VTL) with an enabled VP assist page:
 * - On every interrupt acknowledged from the local APIC (`eoiAssistAck`) the bit is rewritten:
 *   1 when the vector needs an EOI (not auto-EOI), is edge-triggered, and nothing else waits in
 *   the IRR (so no lower-priority interrupt is pending, and the vector is the highest in service:
 *   nested interrupts only get it for the innermost one, as the TLFS describes); 0 otherwise.
 *   The vector is remembered as "lazily pending".
 * - `eoiAssistSync` settles a lazily pending vector v, before the APIC state can be observed or
 *   changed: before acknowledging an interrupt, before APIC register and HV_X64_MSR_EOI/ICR/TPR
 *   accesses, and after every APIC state change (new requests included). Then, in this order:
 *   1. v is no longer in service (the guest did a conventional EOI, which the TLFS allows at any
 *      time): forget v, clear the bit if it is still set;
 *   2. the guest cleared the bit: that was the EOI of v — perform it now (ISR, SynIC rescan);
 *   3. another interrupt was requested (IRR not empty) while the bit is still set: clear it, so
 *      the guest's EOI of v goes to the APIC ("If, at a later time, a lower priority interrupt is
 *      requested, the hypervisor clears the 'No EOI required' such that a subsequent EOI causes an
 *      intercept"; done for higher-priority requests too, which would nest on top of v).
 * - Before the VP assist page is disabled or moved (`eoiAssistDetach`) the pending EOI is settled
 *   and, if the guest has not made it yet, the bit is cleared: that EOI must be a conventional one.
 * Nothing here is recorded as an event; the bit and the APIC state are part of the state hash.
 */

import type { Vtl } from "../core/vtl.ts";
import type { HvVp, Partition } from "./partition.ts";

/** "No EOI required" (bit 0 of the EOI Assist field at VP assist page offset 0). */
export const HV_EOI_ASSIST_NO_EOI_REQUIRED = 1;

function inVec(arr: Uint32Array, v: number): boolean {
  return ((arr[v >>> 5]! >>> (v & 31)) & 1) !== 0;
}

function irrEmpty(irr: Uint32Array): boolean {
  for (let i = 0; i < 8; i++) if (irr[i] !== 0) return false;
  return true;
}

/**
 * Settles (vp, vtl)'s lazily pending EOI, if any (see the module comment). Safe to call at any
 * time, including from inside the APIC's change notification.
 */
export function eoiAssistSync(p: Partition, vp: HvVp, vtl: Vtl): void {
  const v = vp.eoiAssistVector[vtl]!;
  if (v < 0) return;
  const lapic = vp.lapics.get(vtl);
  const off = p.assistOffset(vp, vtl, 0);
  const bit = off >= 0 ? p.mem.read32(off) & HV_EOI_ASSIST_NO_EOI_REQUIRED : 0;
  if (!inVec(lapic.isr, v)) {
    vp.eoiAssistVector[vtl] = -1;
    if (bit) p.mem.write32(off, p.mem.read32(off) & ~HV_EOI_ASSIST_NO_EOI_REQUIRED);
    return;
  }
  if (off < 0) {
    vp.eoiAssistVector[vtl] = -1; // defensive: eoiAssistDetach runs before the page goes away
    return;
  }
  if (bit === 0) {
    // The guest's EOI.
    vp.eoiAssistVector[vtl] = -1;
    lapic.eoiVector(v);
    return;
  }
  if (!irrEmpty(lapic.irr)) {
    vp.eoiAssistVector[vtl] = -1;
    p.mem.write32(off, p.mem.read32(off) & ~HV_EOI_ASSIST_NO_EOI_REQUIRED);
  }
}

/**
 * (vp, vtl)'s VP assist page is about to be disabled or moved: an EOI already made through the
 * bit is performed; one not made yet must be a conventional EOI (the bit is cleared).
 */
export function eoiAssistDetach(p: Partition, vp: HvVp, vtl: Vtl): void {
  eoiAssistSync(p, vp, vtl);
  if (vp.eoiAssistVector[vtl]! < 0) return;
  vp.eoiAssistVector[vtl] = -1;
  const off = p.assistOffset(vp, vtl, 0);
  if (off >= 0) p.mem.write32(off, p.mem.read32(off) & ~HV_EOI_ASSIST_NO_EOI_REQUIRED);
}

/**
 * Vector `v` was just acknowledged from (vp, vtl)'s local APIC (moved from the IRR to the ISR,
 * or delivered as auto-EOI): sets or clears "No EOI required" (module comment).
 */
export function eoiAssistAck(p: Partition, vp: HvVp, vtl: Vtl, v: number): void {
  const off = p.assistOffset(vp, vtl, 0);
  if (off < 0) {
    vp.eoiAssistVector[vtl] = -1;
    return;
  }
  const lapic = vp.lapics.get(vtl);
  const qualifies = lapic.autoEoi[v] === 0 && !inVec(lapic.tmr, v) && inVec(lapic.isr, v) &&
    irrEmpty(lapic.irr);
  const old = p.mem.read32(off);
  const next = qualifies
    ? old | HV_EOI_ASSIST_NO_EOI_REQUIRED
    : old & ~HV_EOI_ASSIST_NO_EOI_REQUIRED;
  if (next !== old) p.mem.write32(off, next);
  vp.eoiAssistVector[vtl] = qualifies ? v : -1;
}
