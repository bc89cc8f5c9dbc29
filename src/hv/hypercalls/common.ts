/** Input parsing shared by hypercall definitions. */

import type { Vtl } from "../../core/vtl.ts";
import { CpuContext } from "../../cpu/context.ts";
import { getI64 } from "../../cpu/u64.ts";
import { HV_VP_INDEX_SELF } from "../hvdef.ts";
import type { HypercallContext } from "../hypercall.ts";
import type { HvVp } from "../partition.ts";

/** True when the u64 at `off` is HV_PARTITION_ID_SELF. */
export function isSelfPartition(h: HypercallContext, off = 0): boolean {
  return h.input.getInt32(off, true) === -1 && h.input.getInt32(off + 4, true) === -1;
}

/**
 * Parses an HV_INPUT_VTL byte (spec §1.6): bits 3:0 TargetVtl, bit 4 UseTargetVtl, 7:5 RsvdZ.
 * Returns the VTL meant (the caller's when UseTargetVtl is clear), or -1 for reserved bits.
 */
export function inputVtl(b: number, caller: Vtl): number {
  if (b & 0xe0) return -1;
  return (b & 0x10) ? b & 0xf : caller;
}

/** Resolves a VP index (HV_VP_INDEX_SELF allowed). */
export function targetVp(h: HypercallContext, index: number): HvVp | undefined {
  if ((index >>> 0) === HV_VP_INDEX_SELF) return h.vp;
  return h.partition.vp(index >>> 0);
}

/**
 * Parses HV_INITIAL_VP_CONTEXT (x64, 224 bytes; spec §2.2) at `off` into a CpuContext.
 * Segment registers: Base u64 @0, Limit u32 @8, Selector u16 @12, Attributes u16 @14.
 */
export function parseInitialContext(dv: DataView, off: number): CpuContext {
  const c = CpuContext.reset();
  c.rip = getI64(dv, off + 0);
  c.rspLo = dv.getInt32(off + 8, true);
  c.rspHi = dv.getInt32(off + 12, true);
  c.rflags = (dv.getInt32(off + 16, true) & 0x3f7fd7) | 2;
  // Order in the structure: Cs Ds Es Fs Gs Ss Tr Ldtr; ours: ES CS SS DS FS GS LDTR TR.
  const order = [1, 3, 0, 4, 5, 2, 7, 6];
  for (let i = 0; i < 8; i++) {
    const s = order[i]!, o = off + 24 + i * 16;
    c.segBase[s] = getI64(dv, o);
    c.segLimit[s] = dv.getUint32(o + 8, true);
    c.segSel[s] = dv.getUint16(o + 12, true);
    c.segAttr[s] = dv.getUint16(o + 14, true);
  }
  c.idtLimit = dv.getUint16(off + 152 + 6, true);
  c.idtBase = getI64(dv, off + 152 + 8);
  c.gdtLimit = dv.getUint16(off + 168 + 6, true);
  c.gdtBase = getI64(dv, off + 168 + 8);
  c.efer = dv.getInt32(off + 184, true);
  c.cr0 = dv.getInt32(off + 192, true);
  c.cr3 = getI64(dv, off + 200);
  c.cr4 = dv.getInt32(off + 208, true);
  c.patLo = dv.getInt32(off + 216, true);
  c.patHi = dv.getInt32(off + 220, true);
  return c;
}

/**
 * Parses an HV_VP_SET at `off` (Format u64, ValidBanksMask u64, then one u64 bank per set bit of
 * the mask, spec §2.9) into VP indexes below `vpCount`. Format 1 = all VPs. Returns null when
 * malformed (unknown format, or the bank count does not match `bankQwords`).
 */
export function parseVpSet(
  dv: DataView,
  off: number,
  bankQwords: number,
  vpCount: number,
): number[] | null {
  const formatLo = dv.getUint32(off, true), formatHi = dv.getUint32(off + 4, true);
  if (formatHi !== 0) return null;
  if (formatLo === 1) return Array.from({ length: vpCount }, (_, i) => i);
  if (formatLo !== 0) return null;
  const maskLo = dv.getUint32(off + 8, true), maskHi = dv.getUint32(off + 12, true);
  const banks: number[] = [];
  for (let b = 0; b < 64; b++) if ((b < 32 ? maskLo >>> b : maskHi >>> (b - 32)) & 1) banks.push(b);
  if (banks.length !== bankQwords) return null;
  const out: number[] = [];
  banks.forEach((bank, k) => {
    const lo = dv.getUint32(off + 16 + k * 8, true), hi = dv.getUint32(off + 20 + k * 8, true);
    for (let i = 0; i < 64; i++) {
      if ((i < 32 ? lo >>> i : hi >>> (i - 32)) & 1) {
        const vp = bank * 64 + i;
        if (vp < vpCount) out.push(vp);
      }
    }
  });
  return out;
}

/** VP indexes named by a 64-bit processor mask. */
export function maskVps(lo: number, hi: number, vpCount: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < Math.min(64, vpCount); i++) {
    if ((i < 32 ? lo >>> i : hi >>> (i - 32)) & 1) out.push(i);
  }
  return out;
}
