/**
 * HvCallInstallIntercept input validation and effect (install_intercept.ts; OpenVMM's rules,
 * TLFS-md hv_intercept_type / hv_intercept_parameters / hv_intercept_access_type_mask).
 */

import assert from "node:assert/strict";
import { Vtl0, Vtl1 } from "../../core/vtl.ts";
import { ioInterceptOwner } from "../io_intercepts.ts";
import {
  HV_STATUS_ACCESS_DENIED,
  HV_STATUS_INVALID_PARAMETER,
  HV_STATUS_SUCCESS,
  HvCallInstallIntercept,
} from "../hvdef.ts";
import { call, hvMachine } from "./testing.ts";

/** The 24-byte input: PartitionId, AccessType, InterceptType, InterceptParameter. */
function input(mask: number, type: number, param: number, partition = -1n): Uint8Array {
  const b = new Uint8Array(24), dv = new DataView(b.buffer);
  dv.setBigInt64(0, partition, true);
  dv.setUint32(8, mask, true);
  dv.setUint32(12, type, true);
  dv.setUint32(16, param, true);
  return b;
}

const install = (m: ReturnType<typeof hvMachine>, vtl: 0 | 1, b: Uint8Array) =>
  call(m, 0, vtl === 0 ? Vtl0 : Vtl1, HvCallInstallIntercept, b);

Deno.test("InstallIntercept: VTL0 and other partitions are refused with ACCESS_DENIED", () => {
  const m = hvMachine();
  assert.equal(install(m, 0, input(1, 0, 0x80)), HV_STATUS_ACCESS_DENIED);
  assert.equal(install(m, 1, input(1, 0, 0x80, 0n)), HV_STATUS_ACCESS_DENIED);
  assert.equal(install(m, 1, input(1, 0, 0x80, 5n)), HV_STATUS_ACCESS_DENIED);
  assert.equal(m.partition.ioInterceptCount, 0);
});

Deno.test("InstallIntercept: unsupported types, access bits and ranges -> INVALID_PARAMETER", () => {
  const m = hvMachine();
  // Msr, Cpuid, Exception, Hypercall, ApicEoi, Register.
  for (const type of [1, 2, 3, 8, 0xe, 0x12]) {
    assert.equal(install(m, 1, input(1, type, 0x80)), HV_STATUS_INVALID_PARAMETER, `type ${type}`);
  }
  // Execute (4) and undefined bits on a port.
  for (const mask of [4, 5, 8, 0x80000001]) {
    assert.equal(install(m, 1, input(mask, 0, 0x80)), HV_STATUS_INVALID_PARAMETER, `${mask}`);
    assert.equal(install(m, 1, input(mask, 0x11, 0x810080)), HV_STATUS_INVALID_PARAMETER);
  }
  // IoPortRange with End < Base.
  assert.equal(install(m, 1, input(1, 0x11, 0x007f0080)), HV_STATUS_INVALID_PARAMETER);
  assert.equal(m.partition.ioInterceptCount, 0);
});

Deno.test("InstallIntercept: an I/O port by access type, replaced and removed (mask 0)", () => {
  const m = hvMachine();
  const hv = m.vps[0]!.hv, p = m.partition;
  // Bits 63:16 of the parameter are not part of IoPort.
  assert.equal(install(m, 1, input(1, 0, 0xabcd0080)), HV_STATUS_SUCCESS);
  hv.activeVtl = Vtl0;
  assert.equal(ioInterceptOwner(p, hv, 0x80, false), 1);
  assert.equal(ioInterceptOwner(p, hv, 0x80, true), -1);
  assert.equal(ioInterceptOwner(p, hv, 0x81, false), -1);
  assert.equal(install(m, 1, input(2, 0, 0x80)), HV_STATUS_SUCCESS);
  hv.activeVtl = Vtl0;
  assert.equal(ioInterceptOwner(p, hv, 0x80, false), -1);
  assert.equal(ioInterceptOwner(p, hv, 0x80, true), 1);
  // Only lower VTLs are intercepted, and only where the owner is enabled on the VP.
  hv.activeVtl = Vtl1;
  assert.equal(ioInterceptOwner(p, hv, 0x80, true), -1);
  hv.activeVtl = Vtl0;
  hv.enabledVtls = 1;
  assert.equal(ioInterceptOwner(p, hv, 0x80, true), -1);
  hv.enabledVtls = 3;
  assert.equal(install(m, 1, input(0, 0, 0x80)), HV_STATUS_SUCCESS);
  assert.equal(p.ioInterceptCount, 0);
});

Deno.test("InstallIntercept: IoPortRange covers Base..End inclusive", () => {
  const m = hvMachine();
  const hv = m.vps[1]!.hv, p = m.partition;
  assert.equal(install(m, 1, input(3, 0x11, 0x00720070)), HV_STATUS_SUCCESS);
  assert.equal(p.ioInterceptCount, 3);
  const owners = [0x6f, 0x70, 0x71, 0x72, 0x73].map((port) => ioInterceptOwner(p, hv, port, true));
  assert.deepEqual(owners, [-1, 1, 1, 1, -1]);
  assert.equal(install(m, 1, input(0, 0x11, 0x00710071)), HV_STATUS_SUCCESS);
  assert.equal(p.ioInterceptCount, 2);
  // The partition state hash sees them (and nothing is added while none is installed).
  assert.deepEqual(p.stateWords().slice(-6), [1, 0x70, 3, 1, 0x72, 3]);
});
