/**
 * HvCallSendSyntheticClusterIpi (0x000B) and …Ex (0x0015, HV_VP_SET in the variable header)
 * (TLFS §10.5.2-10.5.3, spec/vsm.md §2.10): a fixed interrupt to a set of VPs, in a target VTL's
 * local APIC. A VTL may target itself or a lower VTL, never a higher one (spec: deny).
 */

import type { Vtl } from "../../core/vtl.ts";
import {
  HV_STATUS_ACCESS_DENIED,
  HV_STATUS_INVALID_HYPERCALL_INPUT,
  HV_STATUS_INVALID_PARAMETER,
  HV_STATUS_INVALID_VTL_STATE,
  HV_STATUS_SUCCESS,
  HvCallSendSyntheticClusterIpi,
  HvCallSendSyntheticClusterIpiEx,
} from "../hvdef.ts";
import { defineHypercall, type HypercallContext } from "../hypercall.ts";
import { inputVtl, maskVps, parseVpSet } from "./common.ts";

function send(h: HypercallContext, ex: boolean): number {
  const vector = h.input.getUint32(0, true);
  if (vector < 0x10 || vector > 0xff) return HV_STATUS_INVALID_PARAMETER;
  const vtl = inputVtl(h.input.getUint8(4), h.callerVtl);
  if (vtl < 0 || h.input.getUint8(5) !== 0 || h.input.getUint16(6, true) !== 0) {
    return HV_STATUS_INVALID_PARAMETER;
  }
  if (vtl > h.callerVtl) return HV_STATUS_ACCESS_DENIED;
  const vps = h.partition.vps;
  const targets = ex
    ? parseVpSet(h.input, 8, h.varHeaderQwords, vps.length)
    : maskVps(h.input.getInt32(8, true), h.input.getInt32(12, true), vps.length);
  if (targets === null) return HV_STATUS_INVALID_HYPERCALL_INPUT;
  for (const i of targets) if (!vps[i]!.isEnabled(vtl as Vtl)) return HV_STATUS_INVALID_VTL_STATE;
  for (const i of targets) vps[i]!.lapics.get(vtl as Vtl).accept(vector, false, "ipi");
  return HV_STATUS_SUCCESS;
}

defineHypercall({
  code: HvCallSendSyntheticClusterIpi,
  name: "HvCallSendSyntheticClusterIpi",
  rep: false,
  varHeader: false,
  inputHeader: 16,
  inputElement: 0,
  output: 0,
  handler: (h) => send(h, false),
});

defineHypercall({
  code: HvCallSendSyntheticClusterIpiEx,
  name: "HvCallSendSyntheticClusterIpiEx",
  rep: false,
  varHeader: true,
  inputHeader: 24,
  inputElement: 0,
  output: 0,
  handler: (h) => send(h, true),
});
