/**
 * HvCallGetVpRegisters (0x0050) and HvCallSetVpRegisters (0x0051), rep calls (TLFS §7.10.1-2,
 * spec/vsm.md §2.5). Header: PartitionId u64, VpIndex u32, TargetVtl HV_INPUT_VTL, 3 reserved.
 * Get elements: u32 names → 16-byte values. Set elements: 32 bytes {name u32, 12 reserved,
 * value 16 bytes} (TLFS/OpenVMM); the kvm-rfc profile uses the PoC layout (names array, then
 * values array), which is identical for a count of one.
 */

import type { Vtl } from "../../core/vtl.ts";
import {
  HV_STATUS_ACCESS_DENIED,
  HV_STATUS_INVALID_PARAMETER,
  HV_STATUS_INVALID_PARTITION_ID,
  HV_STATUS_INVALID_VP_INDEX,
  HV_STATUS_INVALID_VTL_STATE,
  HV_STATUS_SUCCESS,
  HvCallGetVpRegisters,
  HvCallSetVpRegisters,
} from "../hvdef.ts";
import { defineHypercall, type HypercallContext } from "../hypercall.ts";
import type { HvVp } from "../partition.ts";
import { getRegister, type RegValue, setRegister } from "../registers.ts";
import { inputVtl, isSelfPartition, targetVp } from "./common.ts";

function header(h: HypercallContext): { vp: HvVp; vtl: Vtl } | number {
  if (!isSelfPartition(h)) return HV_STATUS_INVALID_PARTITION_ID;
  const vp = targetVp(h, h.input.getUint32(8, true));
  if (vp === undefined) return HV_STATUS_INVALID_VP_INDEX;
  const vtl = inputVtl(h.input.getUint8(12), h.callerVtl);
  if (vtl < 0 || h.input.getUint8(13) !== 0 || h.input.getUint16(14, true) !== 0) {
    return HV_STATUS_INVALID_PARAMETER;
  }
  // A VTL may address itself and lower VTLs only (KUT; OpenVMM validate_register_access).
  if (vtl > h.callerVtl) return HV_STATUS_ACCESS_DENIED;
  if (!vp.isEnabled(vtl as Vtl)) return HV_STATUS_INVALID_VTL_STATE;
  return { vp, vtl: vtl as Vtl };
}

defineHypercall({
  code: HvCallGetVpRegisters,
  name: "HvCallGetVpRegisters",
  rep: true,
  varHeader: false,
  inputHeader: 16,
  inputElement: 4,
  output: 16,
  handler(h) {
    const t = header(h);
    if (typeof t === "number") return t;
    const v: RegValue = [0, 0, 0, 0];
    for (let i = h.repStart; i < h.repCount; i++) {
      const name = h.input.getUint32(16 + i * 4, true);
      const st = getRegister(h.partition, t.vp, t.vtl, name, v);
      if (st !== HV_STATUS_SUCCESS) return st;
      for (let k = 0; k < 4; k++) h.output.setInt32(i * 16 + k * 4, v[k]!, true);
      h.repsDone = i + 1;
    }
    return HV_STATUS_SUCCESS;
  },
});

defineHypercall({
  code: HvCallSetVpRegisters,
  name: "HvCallSetVpRegisters",
  rep: true,
  varHeader: false,
  inputHeader: 16,
  inputElement: 32,
  output: 0,
  handler(h) {
    const t = header(h);
    if (typeof t === "number") return t;
    const v: RegValue = [0, 0, 0, 0];
    const poc = h.partition.config.profile === "kvm-rfc";
    for (let i = h.repStart; i < h.repCount; i++) {
      let name: number;
      if (poc) {
        name = h.input.getUint32(16 + i * 4, true);
        const valuesAt = 16 + ((h.repCount * 4 + 15) & ~15);
        for (let k = 0; k < 4; k++) v[k] = h.input.getInt32(valuesAt + i * 16 + k * 4, true);
      } else {
        const e = 16 + i * 32;
        name = h.input.getUint32(e, true);
        if (
          h.input.getUint32(e + 4, true) | h.input.getUint32(e + 8, true) |
          h.input.getUint32(e + 12, true)
        ) {
          return HV_STATUS_INVALID_PARAMETER;
        }
        for (let k = 0; k < 4; k++) v[k] = h.input.getInt32(e + 16 + k * 4, true);
      }
      const st = setRegister(h.partition, t.vp, t.vtl, name, v, h.callerVtl);
      if (st !== HV_STATUS_SUCCESS) return st;
      h.repsDone = i + 1;
    }
    return HV_STATUS_SUCCESS;
  },
});
