/**
 * HvCallModifyVtlProtectionMask (0x000C, rep; TLFS §15.9, §15.15.2, spec/vsm.md §2.4, §5.1).
 * Header: PartitionId u64, MapFlags u32, TargetVtl HV_INPUT_VTL, 3 reserved; elements: GPFNs.
 * TargetVtl names the VTL that owns (sets) the mask, as OpenVMM and opentmk do; in the kvm-rfc
 * profile it names the restricted lower VTL (the PoC), and the owner is the caller.
 */

import { hexNum, toUnum } from "../../cpu/u64.ts";
import type { Vtl } from "../../core/vtl.ts";
import {
  HV_STATUS_ACCESS_DENIED,
  HV_STATUS_INVALID_PARAMETER,
  HV_STATUS_INVALID_PARTITION_ID,
  HV_STATUS_INVALID_REGISTER_VALUE,
  HV_STATUS_SUCCESS,
  HvCallModifyVtlProtectionMask,
} from "../hvdef.ts";
import { defineHypercall } from "../hypercall.ts";
import { inputVtl, isSelfPartition } from "./common.ts";
import { validMask } from "../../memory/protection.ts";

defineHypercall({
  code: HvCallModifyVtlProtectionMask,
  name: "HvCallModifyVtlProtectionMask",
  rep: true,
  varHeader: false,
  inputHeader: 16,
  inputElement: 8,
  output: 0,
  handler(h) {
    const p = h.partition;
    if (!isSelfPartition(h)) return HV_STATUS_INVALID_PARTITION_ID;
    const flags = h.input.getUint32(8, true);
    const sel = inputVtl(h.input.getUint8(12), h.callerVtl);
    if (sel < 0 || h.input.getUint8(13) !== 0 || h.input.getUint16(14, true) !== 0) {
      return HV_STATUS_INVALID_PARAMETER;
    }
    let owner: number;
    if (p.config.profile === "kvm-rfc") {
      const restricted = (h.input.getUint8(12) & 0x10) ? sel : h.callerVtl - 1;
      if (restricted < 0 || restricted >= h.callerVtl) return HV_STATUS_ACCESS_DENIED;
      owner = h.callerVtl;
    } else {
      owner = sel;
      if (owner > h.callerVtl) return HV_STATUS_ACCESS_DENIED;
      if (owner === 0) return HV_STATUS_INVALID_PARAMETER;
    }
    const ownerVtl = owner as Vtl;
    if (!p.protections.isEnabled(ownerVtl)) return HV_STATUS_ACCESS_DENIED;
    if (!validMask(flags, p.mbecEnabled(owner))) return HV_STATUS_INVALID_REGISTER_VALUE;
    let status = HV_STATUS_SUCCESS;
    let runStart = -1, runLen = 0;
    const flush = () => {
      if (runLen > 0) {
        p.emitter.emit(h.vp.index, "protection_change", {
          gpa_page: hexNum(runStart),
          pages: runLen,
          target_vtl: owner,
          mask: flags,
        });
      }
      runLen = 0;
    };
    for (let i = h.repStart; i < h.repCount; i++) {
      const lo = h.input.getUint32(16 + i * 8, true), hi = h.input.getUint32(20 + i * 8, true);
      const gpn = toUnum(lo, hi);
      if (hi !== 0 || !p.isRam(gpn)) {
        status = HV_STATUS_INVALID_PARAMETER;
        break;
      }
      p.protections.set(ownerVtl, gpn, flags);
      if (runLen > 0 && gpn === runStart + runLen) runLen++;
      else {
        flush();
        runStart = gpn;
        runLen = 1;
      }
      h.repsDone = i + 1;
    }
    flush();
    // Every VP's translations combine the masks: re-check on the next access (TLFS §15.9).
    if (h.repsDone > h.repStart) p.flushAllTlbs();
    return status;
  },
});
