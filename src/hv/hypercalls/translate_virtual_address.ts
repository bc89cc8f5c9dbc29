/**
 * HvCallTranslateVirtualAddress (0x0052) and HvCallTranslateVirtualAddressEx (0x00AC)
 * (TLFS §9.4.6, spec/vsm.md §2.6). Input: PartitionId u64, VpIndex u32, reserved u32,
 * ControlFlags u64 (63:56 HV_INPUT_VTL: whose paging context), GvaPage u64. Output 16 bytes
 * (Result u64: ResultCode 31:0, CacheType 39:32, OverlayPage 40; GpaPage u64) or, for …Ex, the
 * 64-byte OpenVMM layout (Result @0, PendingEvent @16, GpaPage @48).
 */

import type { Vtl } from "../../core/vtl.ts";
import { getI64, setU64 } from "../../cpu/u64.ts";
import {
  HV_STATUS_ACCESS_DENIED,
  HV_STATUS_INVALID_PARAMETER,
  HV_STATUS_INVALID_PARTITION_ID,
  HV_STATUS_INVALID_VP_INDEX,
  HV_STATUS_INVALID_VTL_STATE,
  HV_STATUS_SUCCESS,
  HvCallTranslateVirtualAddress,
  HvCallTranslateVirtualAddressEx,
} from "../hvdef.ts";
import { defineHypercall, type HypercallContext } from "../hypercall.ts";
import { contextOf } from "../registers.ts";
import { TLB_FLUSH_INHIBIT, translateGva } from "../translate.ts";
import { inputVtl, isSelfPartition, targetVp } from "./common.ts";

function handler(ex: boolean) {
  return (h: HypercallContext): number => {
    if (!isSelfPartition(h)) return HV_STATUS_INVALID_PARTITION_ID;
    const vp = targetVp(h, h.input.getUint32(8, true));
    if (vp === undefined) return HV_STATUS_INVALID_VP_INDEX;
    const flagsLo = h.input.getUint32(16, true), flagsHi = h.input.getUint32(20, true);
    const vtl = inputVtl(flagsHi >>> 24, h.callerVtl);
    // Defined flag bits: 10:0 and the input VTL; the rest is reserved.
    if (vtl < 0 || (flagsLo & ~0x7ff) || (flagsHi & 0x00ffffff)) return HV_STATUS_INVALID_PARAMETER;
    // A VTL may translate with its own or a lower VTL's context only.
    if (vtl > h.callerVtl) return HV_STATUS_ACCESS_DENIED;
    if (!vp.isEnabled(vtl as Vtl)) return HV_STATUS_INVALID_VTL_STATE;
    const gvaPage = getI64(h.input, 24);
    const r = translateGva(
      h.partition,
      vp,
      vtl as Vtl,
      contextOf(vp, vtl as Vtl),
      gvaPage,
      flagsLo,
    );
    const o = h.output;
    o.setUint32(0, r.code, true);
    o.setUint32(4, (r.code === 0 ? 6 : 0) | (r.overlay ? 0x100 : 0), true); // WB; OverlayPage
    const gpaOff = ex ? 48 : 8;
    setU64(o, gpaOff, r.gpaPage);
    if (r.code === 0 && (flagsLo & TLB_FLUSH_INHIBIT)) vp.tlbFlushInhibit = true;
    return HV_STATUS_SUCCESS;
  };
}

defineHypercall({
  code: HvCallTranslateVirtualAddress,
  name: "HvCallTranslateVirtualAddress",
  rep: false,
  varHeader: false,
  inputHeader: 32,
  inputElement: 0,
  output: 16,
  handler: handler(false),
});

defineHypercall({
  code: HvCallTranslateVirtualAddressEx,
  name: "HvCallTranslateVirtualAddressEx",
  rep: false,
  varHeader: false,
  inputHeader: 32,
  inputElement: 0,
  output: 64,
  handler: handler(true),
});
