/**
 * HvCallAssertVirtualInterrupt (0x0094, simple; TLFS-md `HvCallAssertVirtualInterrupt.md`,
 * `hv_interrupt_control.md`, `hv_interrupt_type.md`; spec/vsm.md §2, §4.6): a VTL raises an
 * interrupt in a lower VTL's local APICs, addressed like an MSI.
 *
 * Input, 32 bytes: TargetPartition u64 @0, InterruptControl (HV_X64_INTERRUPT_CONTROL) u64 @8 —
 * InterruptType u32 in bits 31:0, LevelTriggered bit 32, LogicalDestinationMode bit 33, bits 63:34
 * reserved —, DestinationAddress u64 @16 (an APIC ID, or a logical destination), RequestedVector
 * u32 @24, TargetVtl (HV_VTL) u8 @28, ReservedZ0 u8 @29, ReservedZ1 u16 @30. No output.
 *
 * Rules, in order (OpenVMM's guest-VSM handler, `hardware_cvm` `assert_virtual_interrupt`, and
 * its hv1_hypercall input parsing, unless noted):
 * - TargetVtl above 2 (not a VTL) → HV_STATUS_INVALID_PARAMETER; above the caller's VTL →
 *   HV_STATUS_ACCESS_DENIED.
 * - TargetPartition other than HV_PARTITION_ID_SELF, or TargetVtl equal to the caller's VTL →
 *   HV_STATUS_ACCESS_DENIED: the call asserts interrupts in *lower* VTLs (a VTL interrupts
 *   itself with a self-IPI).
 * - Reserved bytes, or InterruptControl bits 63:34, nonzero → HV_STATUS_INVALID_PARAMETER (TLFS:
 *   ReservedZ / Reserved; OpenVMM does not look).
 * - InterruptType other than Fixed (0), LowestPriority (1) or Nmi (4) →
 *   HV_STATUS_INVALID_PARAMETER: there is no INIT, SIPI, SMI or ExtINT delivery for this path.
 *   (OpenVMM's CVM accepts Fixed and NMI; its WHP backend Fixed, LowestPriority, NMI, INIT and
 *   SIPI.)
 * - For Fixed and LowestPriority, RequestedVector above 0xFF (OpenVMM) or below 0x10 (illegal
 *   APIC vectors; the range the TLFS gives the other interrupt-sending hypercalls) →
 *   HV_STATUS_INVALID_PARAMETER. For Nmi the vector and LevelTriggered are ignored, as the local
 *   APIC ignores the vector of delivery mode NMI (SDM 11.6.1).
 * - DestinationAddress above 32 bits → HV_STATUS_INVALID_PARAMETER (OpenVMM).
 *
 * Delivery: to TargetVtl's local APIC of every VP on which that VTL is enabled and whose APIC the
 * destination names — physical mode: the APIC ID, or the broadcast ID (0xFF in xAPIC mode,
 * 0xFFFFFFFF in x2APIC mode); logical mode: the APIC's LDR/DFR (SDM 11.6.2.2). Fixed goes to each
 * of them; LowestPriority to the one with the lowest processor priority (ties: the lowest VP
 * index, as for IPIs and the IOAPIC). The interrupt then behaves like any other for that APIC
 * (cross-VTL preemption, VINA, TLFS §15.12) and its `interrupt` event names the source
 * `assert_virtual_interrupt`. Nmi goes to the NMI input of each of them for TargetVtl (hv/nmi.ts):
 * vector 2 whatever RFLAGS.IF, its event's source `nmi`. Matching no APIC is not an error (like an
 * MSI to no one).
 */

import type { Vtl } from "../../core/vtl.ts";
import type { Lapic } from "../../devices/lapic.ts";
import { logicalMatch, lowestPriority, physicalMatch } from "../../devices/lapic.ts";
import {
  HV_INTERRUPT_CONTROL_LEVEL_TRIGGERED,
  HV_INTERRUPT_CONTROL_LOGICAL_DESTINATION_MODE,
  HV_STATUS_ACCESS_DENIED,
  HV_STATUS_INVALID_PARAMETER,
  HV_STATUS_SUCCESS,
  HvCallAssertVirtualInterrupt,
  HvX64InterruptTypeFixed,
  HvX64InterruptTypeLowestPriority,
  HvX64InterruptTypeNmi,
} from "../hvdef.ts";
import { defineHypercall } from "../hypercall.ts";
import { isSelfPartition } from "./common.ts";

/** The `interrupt` event source of interrupts asserted by this call (traces/README.md). */
export const ASSERT_VIRTUAL_INTERRUPT_SOURCE = "assert_virtual_interrupt";

defineHypercall({
  code: HvCallAssertVirtualInterrupt,
  name: "HvCallAssertVirtualInterrupt",
  rep: false,
  varHeader: false,
  inputHeader: 32,
  inputElement: 0,
  output: 0,
  handler(h) {
    const inp = h.input;
    const target = inp.getUint8(28);
    if (target > 2) return HV_STATUS_INVALID_PARAMETER;
    if (target > h.callerVtl) return HV_STATUS_ACCESS_DENIED;
    if (!isSelfPartition(h) || target === h.callerVtl) return HV_STATUS_ACCESS_DENIED;
    const type = inp.getUint32(8, true), flags = inp.getUint32(12, true);
    if (inp.getUint8(29) !== 0 || inp.getUint16(30, true) !== 0 || (flags & ~3) !== 0) {
      return HV_STATUS_INVALID_PARAMETER;
    }
    const nmi = type === HvX64InterruptTypeNmi;
    if (type !== HvX64InterruptTypeFixed && type !== HvX64InterruptTypeLowestPriority && !nmi) {
      return HV_STATUS_INVALID_PARAMETER;
    }
    const vector = inp.getUint32(24, true);
    if (!nmi && (vector < 0x10 || vector > 0xff)) return HV_STATUS_INVALID_PARAMETER;
    if (inp.getUint32(20, true) !== 0) return HV_STATUS_INVALID_PARAMETER;
    const dest = inp.getUint32(16, true);
    const level = (flags & HV_INTERRUPT_CONTROL_LEVEL_TRIGGERED) !== 0;
    const logical = (flags & HV_INTERRUPT_CONTROL_LOGICAL_DESTINATION_MODE) !== 0;
    const vtl = target as Vtl;
    const hits: Lapic[] = [];
    for (const vp of h.partition.vps) {
      if (!vp.isEnabled(vtl)) continue;
      const l = vp.lapics.get(vtl);
      const match = logical ? logicalMatch(l, dest, l.x2apic) : physicalMatch(l, dest, l.x2apic);
      if (match) hits.push(l);
    }
    const targets = type === HvX64InterruptTypeLowestPriority && hits.length > 1
      ? [lowestPriority(hits)!]
      : hits;
    if (nmi) { for (const l of targets) l.acceptNmi(); }
    else for (const l of targets) l.accept(vector, level, ASSERT_VIRTUAL_INTERRUPT_SOURCE);
    return HV_STATUS_SUCCESS;
  },
});
