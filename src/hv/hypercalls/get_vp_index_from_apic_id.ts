/**
 * HvCallGetVpIndexFromApicId (0x009A, rep; TLFS §7.10.4, spec/vsm.md §2.8). Header: PartitionId
 * u64, TargetVtl HV_INPUT_VTL @8, 7 reserved. Elements: packed u32 APIC IDs in, u32 VP indexes
 * out (Linux and OpenVMM; the TLFS's 8-byte elements agree for a count of one). Every VTL of a
 * VP shows the same APIC ID, the VP index.
 */

import {
  HV_STATUS_ACCESS_DENIED,
  HV_STATUS_INVALID_PARAMETER,
  HV_STATUS_INVALID_PARTITION_ID,
  HV_STATUS_SUCCESS,
  HvCallGetVpIndexFromApicId,
} from "../hvdef.ts";
import { defineHypercall } from "../hypercall.ts";
import { inputVtl, isSelfPartition } from "./common.ts";

defineHypercall({
  code: HvCallGetVpIndexFromApicId,
  name: "HvCallGetVpIndexFromApicId",
  rep: true,
  varHeader: false,
  inputHeader: 16,
  inputElement: 4,
  output: 4,
  handler(h) {
    if (!isSelfPartition(h)) return HV_STATUS_INVALID_PARTITION_ID;
    const vtl = inputVtl(h.input.getUint8(8), h.callerVtl);
    if (vtl < 0) return HV_STATUS_INVALID_PARAMETER;
    for (let i = 9; i < 16; i++) if (h.input.getUint8(i) !== 0) return HV_STATUS_INVALID_PARAMETER;
    if (vtl > h.callerVtl) return HV_STATUS_ACCESS_DENIED;
    for (let i = h.repStart; i < h.repCount; i++) {
      const apicId = h.input.getUint32(16 + i * 4, true);
      const vp = h.partition.vps.find((v) => v.lapics.get(0 as never).id === apicId);
      if (vp === undefined) return HV_STATUS_INVALID_PARAMETER;
      h.output.setUint32(i * 4, vp.index, true);
      h.repsDone = i + 1;
    }
    return HV_STATUS_SUCCESS;
  },
});
