/** HvCallEnablePartitionVtl (0x000D; TLFS §15.15.3, spec/vsm.md §2.1). */

import type { Vtl } from "../../core/vtl.ts";
import {
  HV_STATUS_ACCESS_DENIED,
  HV_STATUS_INVALID_PARAMETER,
  HV_STATUS_INVALID_PARTITION_ID,
  HV_STATUS_INVALID_VTL_STATE,
  HV_STATUS_SUCCESS,
  HvCallEnablePartitionVtl,
} from "../hvdef.ts";
import { defineHypercall } from "../hypercall.ts";
import { isSelfPartition } from "./common.ts";

defineHypercall({
  code: HvCallEnablePartitionVtl,
  name: "HvCallEnablePartitionVtl",
  rep: false,
  varHeader: false,
  inputHeader: 16,
  inputElement: 0,
  output: 0,
  handler(h) {
    const p = h.partition;
    if (!isSelfPartition(h)) return HV_STATUS_INVALID_PARTITION_ID;
    const target = h.input.getUint8(8);
    const flags = h.input.getUint8(9);
    // TargetVtl is a plain HV_VTL: VTL0 or beyond MaximumVtl is invalid (KUT).
    if (target === 0 || target > p.maxVtl) return HV_STATUS_INVALID_PARAMETER;
    // Flags: bit 0 EnableMbec (every VTL is in VsmCapabilities.MbecVtlMask); the supervisor
    // shadow stack and HVPT flags are not supported; reserved bytes must be zero.
    if (
      (flags & ~1) !== 0 || h.input.getUint16(10, true) !== 0 || h.input.getUint32(12, true) !== 0
    ) {
      return HV_STATUS_INVALID_PARAMETER;
    }
    if (p.isVtlEnabled(target)) {
      // OpenVMM returns INVALID_VTL_STATE; the KVM RFC PoC INVALID_PARAMETER (spec §10.10).
      return p.config.profile === "kvm-rfc"
        ? HV_STATUS_INVALID_PARAMETER
        : HV_STATUS_INVALID_VTL_STATE;
    }
    // A VTL may enable lower VTLs, or a higher one only if it is the highest enabled VTL below it.
    const caller = h.callerVtl;
    if (target > caller) {
      let highestBelow = 0;
      for (let v = 0; v < target; v++) if (p.isVtlEnabled(v)) highestBelow = v;
      if (highestBelow !== caller) return HV_STATUS_ACCESS_DENIED;
    }
    p.enabledVtls |= 1 << target;
    if (flags & 1) {
      // Every VP's VsmVpSecureConfigVtlN held by the target now reads MbecEnabled (registers.ts).
      p.mbecEnabledVtls |= 1 << target;
      p.flushAllTlbs();
    }
    void (target as Vtl);
    return HV_STATUS_SUCCESS;
  },
});
