/**
 * Register intercepts (TLFS §15.13.4, spec/vsm.md §6): a higher VTL asks, through
 * HvX64RegisterCrInterceptControl and the mask registers, to see a lower VTL's writes to CR0,
 * CR4 and selected MSRs. The write is not performed and RIP does not move; the higher VTL gets a
 * RegisterIntercept (CRs) or MsrIntercept (MSRs) message and runs next. Only write intercepts
 * exist (OpenVMM's limit); a mask of 0 intercepts nothing (an intercept fires when
 * (old ^ new) & mask ≠ 0, as OpenVMM does).
 */

import type { Vtl } from "../core/vtl.ts";
import { RAX, RDX } from "../cpu/regs.ts";
import { readMsr } from "../cpu/msr.ts";
import { HvMessageTypeMsrIntercept, HvMessageTypeRegisterIntercept } from "./hvdef.ts";
import { deliverIntercept, interceptMessage, writeGpr } from "./intercept.ts";
import { HV_MESSAGE_OFFSET_PAYLOAD as P } from "./messages.ts";
import type { HvVp, Partition } from "./partition.ts";

const MSR_BITS: Record<number, number> = {
  0x1a0: 4, // IA32_MISC_ENABLE (with its mask)
  0xc0000082: 6, // LSTAR
  0xc0000081: 8, // STAR
  0xc0000083: 10, // CSTAR
  0x1b: 12, // APIC_BASE
  0xc0000080: 14, // EFER
  0x174: 19, // SYSENTER_CS
  0x176: 20, // SYSENTER_EIP
  0x175: 21, // SYSENTER_ESP
  0xc0000084: 22, // SFMASK
  0xc0000103: 23, // TSC_AUX
};

/** The lowest enabled VTL above the active one whose control has `bit` set, or -1. */
function owner(vp: HvVp, bit: number): number {
  for (let v = vp.activeVtl + 1; v < vp.contexts.count; v++) {
    if (vp.isEnabled(v as Vtl) && (vp.crInterceptControl[v]! >>> bit & 1)) return v;
  }
  return -1;
}

/** MOV to CR0/CR4 by the active VTL; true when intercepted (the write must not happen). */
export function crWriteIntercepted(
  p: Partition,
  vp: HvVp,
  cr: number,
  lo: number,
  hi: number,
): boolean {
  if (cr !== 0 && cr !== 4) return false;
  const o = owner(vp, cr === 0 ? 0 : 1);
  if (o < 0) return false;
  const old = cr === 0 ? vp.cpu.cr0 : vp.cpu.cr4;
  const mask = (cr === 0 ? vp.crInterceptCr0Mask : vp.crInterceptCr4Mask)[o]!;
  if (((old ^ lo) & mask) === 0) return false;
  const [m, dv] = interceptMessage(
    vp,
    HvMessageTypeRegisterIntercept,
    64,
    1,
    vp.cpu.currentInsnLength(),
  );
  m[P + 40] = 0; // IsMemoryOp
  dv.setUint32(P + 44, cr === 0 ? 0x00040000 : 0x00040003, true); // HvX64RegisterCr0 / Cr4
  dv.setInt32(P + 48, lo, true);
  dv.setInt32(P + 52, hi, true);
  deliverIntercept(p, vp, o as Vtl, m, undefined, true);
  return true;
}

/** WRMSR by the active VTL; true when intercepted. */
export function msrWriteIntercepted(
  p: Partition,
  vp: HvVp,
  msr: number,
  lo: number,
): boolean {
  const bit = MSR_BITS[msr];
  if (bit === undefined) return false;
  const o = owner(vp, bit);
  if (o < 0) return false;
  if (msr === 0x1a0) {
    const mask = vp.crInterceptMiscEnableMask[o]!;
    if (!readMsr(vp.cpu, msr)) return false;
    if (((vp.cpu.msrOut[0]! ^ lo) & mask) === 0) return false;
  }
  const [m, dv] = interceptMessage(
    vp,
    HvMessageTypeMsrIntercept,
    64,
    1,
    vp.cpu.currentInsnLength(),
  );
  dv.setUint32(P + 40, msr >>> 0, true);
  // RDX and RAX as the registers hold them (u64 fields, spec §5.4; WRMSR uses bits 31:0).
  writeGpr(dv, P + 48, vp.cpu, RDX);
  writeGpr(dv, P + 56, vp.cpu, RAX);
  deliverIntercept(p, vp, o as Vtl, m, undefined, true);
  return true;
}
