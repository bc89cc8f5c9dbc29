/**
 * HvCallStartVirtualProcessor (0x0099; TLFS §7.10.3, spec/vsm.md §2.7): starts a VP that has
 * not run yet, in the given VTL, with an initial context (same input layout as HvCallEnableVpVtl).
 * The only way to start a VP in a VTL above 0. A higher VTL's DenyLowerVtlStartup refuses lower
 * callers.
 */

import type { Vtl } from "../../core/vtl.ts";
import { loadContext } from "../../cpu/context.ts";
import { CR0_PE } from "../../cpu/regs.ts";
import {
  HV_STATUS_ACCESS_DENIED,
  HV_STATUS_INVALID_PARAMETER,
  HV_STATUS_INVALID_PARTITION_ID,
  HV_STATUS_INVALID_VP_INDEX,
  HV_STATUS_INVALID_VP_STATE,
  HV_STATUS_INVALID_VTL_STATE,
  HV_STATUS_SUCCESS,
  HvCallStartVirtualProcessor,
} from "../hvdef.ts";
import { defineHypercall } from "../hypercall.ts";
import { isSelfPartition, parseInitialContext, targetVp } from "./common.ts";

defineHypercall({
  code: HvCallStartVirtualProcessor,
  name: "HvCallStartVirtualProcessor",
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
    if (h.input.getUint8(13) !== 0 || h.input.getUint16(14, true) !== 0 || target > p.maxVtl) {
      return HV_STATUS_INVALID_PARAMETER;
    }
    if (target > h.callerVtl) return HV_STATUS_ACCESS_DENIED;
    const vtl = target as Vtl;
    if (!p.isVtlEnabled(vtl) || (vtl > 0 && !vp.isEnabled(vtl))) return HV_STATUS_INVALID_VTL_STATE;
    // DenyLowerVtlStartup (VsmPartitionConfig bit 6) of any VTL above the caller.
    for (let v = h.callerVtl + 1; v < p.vtlCount; v++) {
      if (p.vsmConfig.get(v as Vtl) & 0x40) return HV_STATUS_ACCESS_DENIED;
    }
    if (vp.started) return HV_STATUS_INVALID_VP_STATE;
    const ctx = parseInitialContext(h.input, 16);
    if (vtl > 0 && !(ctx.cr0 & CR0_PE)) return HV_STATUS_INVALID_PARAMETER;
    vp.contexts.set(vtl, ctx);
    vp.activeVtl = vtl;
    loadContext(vp.cpu, ctx, vtl);
    vp.cpu.intrPending = true;
    vp.started = true;
    p.emitter.emit(vp.index, "vp_start", {
      target_vp: vp.index,
      target_vtl: vtl,
      how: "start_virtual_processor",
    });
    return HV_STATUS_SUCCESS;
  },
});
