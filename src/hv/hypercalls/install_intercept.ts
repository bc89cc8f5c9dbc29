/**
 * HvCallInstallIntercept (0x004D, simple; TLFS-md `HvCallInstallIntercept.md`,
 * `hv_intercept_type.md`, `hv_intercept_parameters.md`, `hv_intercept_access_type_mask.md`;
 * spec/vsm.md §2, §6): a higher VTL asks to intercept lower VTLs' accesses (io_intercepts.ts).
 *
 * Input, 24 bytes: PartitionId u64 @0, AccessType (HV_INTERCEPT_ACCESS_TYPE_MASK) u32 @8,
 * InterceptType (HV_INTERCEPT_TYPE) u32 @12, InterceptParameter (HV_INTERCEPT_PARAMETERS) u64
 * @16. No output.
 *
 * Rules (OpenVMM's guest-VSM handler, `hardware_cvm` `install_intercept`, unless noted):
 * - PartitionId other than HV_PARTITION_ID_SELF → HV_STATUS_ACCESS_DENIED.
 * - Caller in VTL0 → HV_STATUS_ACCESS_DENIED: only a VTL ≥ 1 intercepts, and only lower VTLs.
 * - HvInterceptTypeX64IoPort (0): the parameter's bits 15:0 are the port (the other bits belong
 *   to no field of this type and are ignored, as OpenVMM does).
 * - HvInterceptTypeX64IoPortRange (0x11): IoPortRange.Base in bits 15:0, End in bits 31:16,
 *   inclusive (TLFS-md; OpenVMM `HvInterceptParameters::io_port_range`); End < Base →
 *   HV_STATUS_INVALID_PARAMETER (this emulator's rule; OpenVMM does not implement the type).
 * - AccessType bits other than read (1) and write (2) → HV_STATUS_INVALID_PARAMETER (execute
 *   means nothing for a port). AccessType 0 removes the port's intercept; otherwise the mask
 *   replaces it.
 * - Every other type (Msr, Cpuid, Exception, …) → HV_STATUS_INVALID_PARAMETER, as in OpenVMM.
 *   Register (CR/MSR) intercepts are configured through HvX64RegisterCrInterceptControl instead.
 */

import type { Vtl } from "../../core/vtl.ts";
import {
  HV_INTERCEPT_ACCESS_MASK_READ,
  HV_INTERCEPT_ACCESS_MASK_WRITE,
  HV_STATUS_ACCESS_DENIED,
  HV_STATUS_INVALID_PARAMETER,
  HV_STATUS_SUCCESS,
  HvCallInstallIntercept,
  HvInterceptTypeX64IoPort,
  HvInterceptTypeX64IoPortRange,
} from "../hvdef.ts";
import { defineHypercall } from "../hypercall.ts";
import { isSelfPartition } from "./common.ts";

const IO_ACCESS = HV_INTERCEPT_ACCESS_MASK_READ | HV_INTERCEPT_ACCESS_MASK_WRITE;

defineHypercall({
  code: HvCallInstallIntercept,
  name: "HvCallInstallIntercept",
  rep: false,
  varHeader: false,
  inputHeader: 24,
  inputElement: 0,
  output: 0,
  handler(h) {
    if (!isSelfPartition(h)) return HV_STATUS_ACCESS_DENIED;
    if (h.callerVtl === 0) return HV_STATUS_ACCESS_DENIED;
    const mask = h.input.getUint32(8, true);
    const type = h.input.getUint32(12, true);
    const param = h.input.getUint32(16, true);
    let first: number, last: number;
    if (type === HvInterceptTypeX64IoPort) first = last = param & 0xffff;
    else if (type === HvInterceptTypeX64IoPortRange) {
      first = param & 0xffff;
      last = param >>> 16;
      if (last < first) return HV_STATUS_INVALID_PARAMETER;
    } else return HV_STATUS_INVALID_PARAMETER;
    if ((mask & ~IO_ACCESS) !== 0) return HV_STATUS_INVALID_PARAMETER;
    for (let port = first; port <= last; port++) {
      h.partition.setIoIntercept(h.callerVtl as Vtl, port, mask);
    }
    return HV_STATUS_SUCCESS;
  },
});
