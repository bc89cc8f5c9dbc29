/** HvCallEnableVpVtl (0x000F; TLFS §15.15.4, spec/vsm.md §2.2). */

import type { Vtl } from "../../core/vtl.ts";
import { CR0_PE } from "../../cpu/regs.ts";
import {
  HV_STATUS_ACCESS_DENIED,
  HV_STATUS_INVALID_PARAMETER,
  HV_STATUS_INVALID_PARTITION_ID,
  HV_STATUS_INVALID_VP_INDEX,
  HV_STATUS_INVALID_VTL_STATE,
  HV_STATUS_SUCCESS,
  HV_STATUS_VTL_ALREADY_ENABLED,
  HvCallEnableVpVtl,
} from "../hvdef.ts";
import { defineHypercall } from "../hypercall.ts";
import { isSelfPartition, parseInitialContext, targetVp } from "./common.ts";

defineHypercall({
  code: HvCallEnableVpVtl,
  name: "HvCallEnableVpVtl",
  rep: false,
  varHeader: false,
  inputHeader: 240,
  inputElement: 0,
  output: 0,
  handler(h) {
    const p = h.partition;
    if (!isSelfPartition(h)) return HV_STATUS_INVALID_PARTITION_ID;
    const vp = targetVp(h, h.input.getUint32(8, true));
    if (vp === undefined) return HV_STATUS_INVALID_VP_INDEX;
    const target = h.input.getUint8(12);
    if (h.input.getUint8(13) !== 0 || h.input.getUint16(14, true) !== 0) {
      return HV_STATUS_INVALID_PARAMETER;
    }
    if (target === 0 || target > p.maxVtl) return HV_STATUS_INVALID_PARAMETER;
    if (!p.isVtlEnabled(target)) return HV_STATUS_INVALID_VTL_STATE;
    const vtl = target as Vtl;
    if (vp.isEnabled(vtl)) {
      return p.config.profile === "kvm-rfc"
        ? HV_STATUS_INVALID_PARAMETER
        : HV_STATUS_VTL_ALREADY_ENABLED;
    }
    // After the VTL's first enablement on any VP, only that VTL or higher may enable it elsewhere.
    const enabledSomewhere = p.vps.some((v) => v.isEnabled(vtl));
    if (enabledSomewhere && h.callerVtl < target) return HV_STATUS_ACCESS_DENIED;
    const ctx = parseInitialContext(h.input, 16);
    // VTLs above 0 cannot start in real mode (TLFS §15.11.3).
    if (!(ctx.cr0 & CR0_PE)) return HV_STATUS_INVALID_PARAMETER;
    vp.contexts.set(vtl, ctx);
    vp.enabledVtls |= 1 << target;
    return HV_STATUS_SUCCESS;
  },
});
