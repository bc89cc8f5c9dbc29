/**
 * The paravirtual TLB flush hypercalls (TLFS §9.4.2-9.4.5, spec/vsm.md §2.9):
 * HvCallFlushVirtualAddressSpace (0x0002), …List (0x0003, rep), …SpaceEx (0x0013, variable
 * header HV_VP_SET), …ListEx (0x0014, rep + variable header). vtlrr's TLBs are flushed whole
 * for the target VPs, which is always allowed (flushing more than asked is safe).
 *
 * TLB locks (VsmVpSecureConfigVtlN.TlbLocked, TLFS §15.5.2) and TlbFlushInhibit (§9.1.4): while
 * a target VP's TLB is locked for the caller's VTL by a higher VTL, the caller waits; its RIP stays
 * on the VMCALL and it re-executes the call once the locks of its targets are released
 * (deterministically: the VP is simply not runnable until then). Locks on VPs the flush does not
 * target do not hold it up.
 */

import type { Vtl } from "../../core/vtl.ts";
import {
  HV_STATUS_INVALID_HYPERCALL_INPUT,
  HV_STATUS_INVALID_PARAMETER,
  HV_STATUS_SUCCESS,
  HvCallFlushVirtualAddressList,
  HvCallFlushVirtualAddressListEx,
  HvCallFlushVirtualAddressSpace,
  HvCallFlushVirtualAddressSpaceEx,
} from "../hvdef.ts";
import { defineHypercall, HYPERCALL_WAIT, type HypercallContext } from "../hypercall.ts";
import type { HvVp, Partition } from "../partition.ts";
import { maskVps, parseVpSet } from "./common.ts";

const ALL_PROCESSORS = 0x1;
const KNOWN_FLAGS = 0x1 | 0x2 | 0x4 | 0x8;

/** Whether some higher VTL holds `vp`'s TLB locked for `vtl`, or it is flush-inhibited. */
export function tlbLocked(vp: HvVp, vtl: Vtl): boolean {
  if (vp.tlbFlushInhibit) return true;
  for (let m = vtl + 1; m < vp.contexts.count; m++) {
    if (vp.activeVtl === m && (vp.secureConfig[m]![vtl]! & 2)) return true;
  }
  return false;
}

/** Whether a VP other than `caller` among `targets` has its TLB locked for `vtl`. */
function targetLocked(p: Partition, caller: HvVp, vtl: Vtl, targets: readonly number[]): boolean {
  return targets.some((i) => p.vps[i] !== caller && tlbLocked(p.vps[i]!, vtl));
}

/**
 * Whether `vp`, waiting in a flush hypercall, may run again: the locks on the flush's targets
 * are gone (it then re-executes the call). Clears the wait when it is over.
 */
export function tlbWaitOver(p: Partition, vp: HvVp): boolean {
  const w = vp.waitTlb;
  if (w === null) return true;
  if (targetLocked(p, vp, w.vtl, w.targets)) return false;
  vp.waitTlb = null;
  return true;
}

function flush(h: HypercallContext, ex: boolean, list: boolean): number {
  const flags = h.input.getUint32(8, true);
  if (h.input.getUint32(12, true) !== 0 || (flags & ~KNOWN_FLAGS)) {
    return HV_STATUS_INVALID_PARAMETER;
  }
  if (list && (flags & 0x4)) return HV_STATUS_INVALID_PARAMETER; // NON_GLOBAL_MAPPINGS_ONLY
  const vps = h.partition.vps;
  let targets: number[];
  if (flags & ALL_PROCESSORS) targets = vps.map((v) => v.index);
  else if (ex) {
    const set = parseVpSet(h.input, 16, h.varHeaderQwords, vps.length);
    if (set === null) return HV_STATUS_INVALID_HYPERCALL_INPUT;
    targets = set;
  } else {
    targets = maskVps(h.input.getInt32(16, true), h.input.getInt32(20, true), vps.length);
  }
  if (targetLocked(h.partition, h.vp, h.callerVtl, targets)) {
    h.vp.waitTlb = { vtl: h.callerVtl, targets };
    return HYPERCALL_WAIT;
  }
  for (const i of targets) vps[i]!.cpu.flushTlbAll();
  if (list) h.repsDone = h.repCount;
  return HV_STATUS_SUCCESS;
}

for (
  const [code, name, ex, list] of [
    [HvCallFlushVirtualAddressSpace, "HvCallFlushVirtualAddressSpace", false, false],
    [HvCallFlushVirtualAddressList, "HvCallFlushVirtualAddressList", false, true],
    [HvCallFlushVirtualAddressSpaceEx, "HvCallFlushVirtualAddressSpaceEx", true, false],
    [HvCallFlushVirtualAddressListEx, "HvCallFlushVirtualAddressListEx", true, true],
  ] as const
) {
  defineHypercall({
    code,
    name,
    rep: list,
    varHeader: ex,
    inputHeader: ex ? 32 : 24,
    inputElement: list ? 8 : 0,
    output: 0,
    handler: (h) => flush(h, ex, list),
  });
}
