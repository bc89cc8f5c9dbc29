/**
 * Architectural MSRs the CPU keeps itself. Anything else goes to the host (synthetic Hyper-V
 * MSRs, x2APIC, APIC base); an MSR nobody knows raises #GP.
 */

import type { Cpu } from "./cpu.ts";
import { CR0_PG, EFER_LMA, EFER_LME, EFER_NXE, EFER_SCE, FS, GS } from "./regs.ts";
import { hiOf, isCanonical, TWO32 } from "./u64.ts";

export const MSR_TSC = 0x10;
export const MSR_APIC_BASE = 0x1b;
export const MSR_MTRRCAP = 0xfe;
/** IA32_PLATFORM_ID (read-only) and IA32_BIOS_SIGN_ID (microcode revision in bits 63:32). */
export const MSR_PLATFORM_ID = 0x17;
export const MSR_BIOS_SIGN_ID = 0x8b;
export const MSR_SYSENTER_CS = 0x174;
export const MSR_SYSENTER_ESP = 0x175;
export const MSR_SYSENTER_EIP = 0x176;
export const MSR_MCG_CAP = 0x179;
export const MSR_MCG_STATUS = 0x17a;
export const MSR_MISC_ENABLE = 0x1a0;
export const MSR_PAT = 0x277;
export const MSR_MTRR_DEF_TYPE = 0x2ff;
export const MSR_EFER = 0xc0000080;
export const MSR_STAR = 0xc0000081;
export const MSR_LSTAR = 0xc0000082;
export const MSR_CSTAR = 0xc0000083;
export const MSR_SFMASK = 0xc0000084;
export const MSR_FS_BASE = 0xc0000100;
export const MSR_GS_BASE = 0xc0000101;
export const MSR_KERNEL_GS_BASE = 0xc0000102;
export const MSR_TSC_AUX = 0xc0000103;

function isMtrr(i: number): boolean {
  return (i >= 0x200 && i <= 0x21f) || i === 0x250 || i === 0x258 || i === 0x259 ||
    (i >= 0x268 && i <= 0x26f) || i === MSR_MTRR_DEF_TYPE;
}

/** Stores a 64-bit value given as a number in `o` (low half, high half). */
function put64(o: Int32Array, n: number): void {
  o[0] = n | 0;
  o[1] = hiOf(n);
}

/** Reads MSR `i` into c.msrOut; false → #GP. */
export function readMsr(c: Cpu, i: number): boolean {
  const o = c.msrOut;
  switch (i >>> 0) {
    case MSR_TSC:
      put64(o, c.host.now() + c.tscOffset);
      return true;
    case MSR_EFER:
      put64(o, c.efer);
      return true;
    case MSR_STAR:
      o[0] = c.starLo;
      o[1] = c.star;
      return true;
    case MSR_LSTAR:
      put64(o, c.lstar);
      return true;
    case MSR_CSTAR:
      put64(o, c.cstar);
      return true;
    case MSR_SFMASK:
      put64(o, c.sfmask);
      return true;
    case MSR_FS_BASE:
      put64(o, c.segBase[FS]!);
      return true;
    case MSR_GS_BASE:
      put64(o, c.segBase[GS]!);
      return true;
    case MSR_KERNEL_GS_BASE:
      put64(o, c.kernelGsBase);
      return true;
    case MSR_TSC_AUX:
      put64(o, c.tscAux);
      return true;
    case MSR_SYSENTER_CS:
      put64(o, c.sysenterCs);
      return true;
    case MSR_SYSENTER_ESP:
      put64(o, c.sysenterEsp);
      return true;
    case MSR_SYSENTER_EIP:
      put64(o, c.sysenterEip);
      return true;
    case MSR_PAT:
      o[0] = c.patLo;
      o[1] = c.patHi;
      return true;
    case MSR_MISC_ENABLE:
      put64(o, c.miscEnable);
      return true;
    case MSR_MTRRCAP:
      put64(o, 0x508); // 8 variable ranges, fixed ranges, write-combining
      return true;
    case MSR_MCG_CAP:
    case MSR_MCG_STATUS:
    case MSR_PLATFORM_ID:
    case MSR_BIOS_SIGN_ID: // microcode revision 0, as in most virtual machines
      put64(o, 0);
      return true;
  }
  if (isMtrr(i)) {
    const v = c.mtrr.get(i);
    o[0] = v ? v[0] : 0;
    o[1] = v ? v[1] : 0;
    return true;
  }
  return c.host.rdmsr(i >>> 0, o);
}

/** Writes MSR `i`; false → #GP. */
export function writeMsr(c: Cpu, i: number, lo: number, hi: number): boolean {
  switch (i >>> 0) {
    case MSR_TSC:
      c.tscOffset = (hi >>> 0) * TWO32 + (lo >>> 0) - c.host.now();
      c.host.tscWritten?.();
      return true;
    case MSR_EFER: {
      const allowed = EFER_SCE | EFER_LME | EFER_NXE | EFER_LMA;
      if (hi !== 0 || (lo & ~allowed)) return false;
      // LME cannot change while paging is on; LMA is read-only.
      if ((c.cr0 & CR0_PG) && ((lo ^ c.efer) & EFER_LME)) return false;
      c.efer = (lo & ~EFER_LMA) | (c.efer & EFER_LMA);
      c.flushTlb();
      c.updateMode();
      return true;
    }
    case MSR_STAR:
      c.starLo = lo;
      c.star = hi;
      return true;
    case MSR_LSTAR:
    case MSR_CSTAR:
    case MSR_FS_BASE:
    case MSR_GS_BASE:
    case MSR_KERNEL_GS_BASE: {
      if (!isCanonical(hi)) return false;
      const v = hi * TWO32 + (lo >>> 0);
      if (i === MSR_LSTAR) c.lstar = v;
      else if (i === MSR_CSTAR) c.cstar = v;
      else if (i === MSR_FS_BASE) c.segBase[FS] = v;
      else if (i === MSR_GS_BASE) c.segBase[GS] = v;
      else c.kernelGsBase = v;
      return true;
    }
    case MSR_SFMASK:
      c.sfmask = lo >>> 0;
      return true;
    case MSR_TSC_AUX:
      if (hi !== 0) return false; // bits 63:32 are reserved
      c.tscAux = lo >>> 0;
      return true;
    case MSR_SYSENTER_CS:
      c.sysenterCs = lo & 0xffff;
      return true;
    case MSR_SYSENTER_ESP:
    case MSR_SYSENTER_EIP: {
      if (!isCanonical(hi)) return false;
      const v = hi * TWO32 + (lo >>> 0);
      if (i === MSR_SYSENTER_ESP) c.sysenterEsp = v;
      else c.sysenterEip = v;
      return true;
    }
    case MSR_PAT: {
      // Each byte must be a valid memory type (0, 1, 4, 5, 6, 7).
      for (let k = 0; k < 8; k++) {
        const t = (k < 4 ? lo >>> (8 * k) : hi >>> (8 * (k - 4))) & 0xff;
        if (t === 2 || t === 3 || t > 7) return false;
      }
      c.patLo = lo;
      c.patHi = hi;
      return true;
    }
    case MSR_MISC_ENABLE:
      c.miscEnable = lo >>> 0;
      return true;
    case MSR_MCG_STATUS:
      return lo === 0 && hi === 0;
    case MSR_BIOS_SIGN_ID: // "load the revision into the MSR" (before CPUID leaf 1): no effect
      return true;
  }
  if (isMtrr(i)) {
    c.mtrr.set(i, [lo, hi]);
    return true;
  }
  return c.host.wrmsr(i >>> 0, lo, hi);
}
