/**
 * Hypervisor CPUID leaves 0x40000000-0x4000000A (TLFS §2.4, spec/vsm.md §7.5). Rule: advertise
 * exactly what is implemented. Also sets CPUID.1:ECX.31 (hypervisor present).
 */

import type { Partition } from "./partition.ts";
import {
  HV_ACCESS_PARTITION_REFERENCE_TSC,
  HV_POST_MESSAGES,
  HV_SIGNAL_EVENTS,
  HV_X64_HYPERCALL_XMM_INPUT_AVAILABLE,
  HV_X64_HYPERCALL_XMM_OUTPUT_AVAILABLE,
} from "./hvdef.ts";

const MAX_LEAF = 0x4000000a;

// 0x40000003 EAX: partition privileges (low half).
const PRIV_EAX = (1 << 0) | // AccessVpRunTimeReg: HV_X64_MSR_VP_RUNTIME (msrs.ts)
  (1 << 1) | // AccessPartitionReferenceCounter: HV_X64_MSR_TIME_REF_COUNT
  (1 << 2) | // AccessSynicRegs: SCONTROL … SINT15 (synic.ts)
  (1 << 3) | // AccessSyntheticTimerRegs: STIMER0-3 (stimer.ts)
  (1 << 4) | // AccessIntrCtrlRegs: EOI/ICR/TPR MSRs, VP assist page
  (1 << 5) | // AccessHypercallMsrs: GUEST_OS_ID, HYPERCALL
  (1 << 6) | // AccessVpIndex
  (1 << 7) | // AccessResetReg: HV_X64_MSR_RESET (msrs.ts)
  HV_ACCESS_PARTITION_REFERENCE_TSC | // bit 9: HV_X64_MSR_REFERENCE_TSC (reference_tsc.ts)
  (1 << 11); // AccessFrequencyRegs: TSC/APIC frequency MSRs
// 0x40000003 EBX: partition privileges (high half).
const PRIV_EBX = HV_POST_MESSAGES | // bit 4: HvCallPostMessage (hypercalls/post_message.ts)
  HV_SIGNAL_EVENTS | // bit 5: HvCallSignalEvent (hypercalls/signal_event.ts)
  (1 << 16) | // AccessVsm
  (1 << 17) | // AccessVpRegisters
  (1 << 21); // StartVirtualProcessor: HvCallStartVirtualProcessor (TLFS §7.10.3)
// 0x40000004 EAX: recommendations for the implemented enlightenments (spec §7.5).
const RECOMMEND_EAX = (1 << 2) | // remote TLB flush by hypercall (HvCallFlushVirtualAddress*)
  (1 << 10) | // HvCallSendSyntheticClusterIpi
  (1 << 11); // the …Ex calls with HV_VP_SET processor masks

// 0x40000003 EDX: features.
const FEATURES_EDX = HV_X64_HYPERCALL_XMM_INPUT_AVAILABLE | // bit 4 (hypercall.ts)
  HV_X64_HYPERCALL_XMM_OUTPUT_AVAILABLE | // bit 15 (hypercall.ts)
  (1 << 19); // direct-mode synthetic timers

/**
 * CPUID 0x40000003 EDX as advertised to the partition; the hypercall ABI consults it for XMM fast
 * input/output (using an unadvertised one raises #UD, TLFS §3.7).
 */
export function hvFeaturesEdx(_p: Partition): number {
  return FEATURES_EDX;
}

export function hvCpuid(p: Partition, leaf: number, _sub: number, out: Int32Array): void {
  if (leaf === 1) {
    out[2] = out[2]! | (1 << 31);
    return;
  }
  if (leaf < 0x40000000 || leaf > 0x400000ff) return;
  out.fill(0);
  switch (leaf) {
    case 0x40000000:
      out[0] = MAX_LEAF;
      out[1] = 0x7263694d; // "Micr"
      out[2] = 0x666f736f; // "osof"
      out[3] = 0x76482074; // "t Hv"
      return;
    case 0x40000001:
      out[0] = 0x31237648; // "Hv#1"
      return;
    case 0x40000002:
      out[0] = 0x00003839; // build 14393
      out[1] = 0x000a0000; // 10.0
      return;
    case 0x40000003:
      out[0] = PRIV_EAX;
      out[1] = PRIV_EBX;
      out[3] = hvFeaturesEdx(p);
      return;
    case 0x40000004:
      out[0] = RECOMMEND_EAX;
      out[1] = -1; // spinlock retries: never notify
      return;
    case 0x40000005:
      out[0] = p.vps.length;
      out[1] = p.vps.length;
      return;
  }
}
