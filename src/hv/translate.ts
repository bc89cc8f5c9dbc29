/**
 * Guest virtual → guest physical translation on behalf of a hypercall (HvCallTranslateVirtualAddress
 * and …Ex, TLFS §9.4.6, spec/vsm.md §2.6): walks the paging structures of a VP's VTL context
 * without touching the CPU's TLB, checking the requested access, and reporting the TLFS result
 * codes. Page-table reads go through the target VTL's view of memory, so a walk through pages a
 * higher VTL protected against that VTL fails with a GPA result code.
 */

import type { Vtl } from "../core/vtl.ts";
import type { CpuContext } from "../cpu/context.ts";
import { RIGHT_R, RIGHT_W } from "../cpu/host.ts";
import {
  CR0_PG,
  CR0_WP,
  CR4_PAE,
  CR4_PSE,
  CR4_SMAP,
  CR4_SMEP,
  EFER_LMA,
  EFER_NXE,
} from "../cpu/regs.ts";
import { PAGE_SIZE } from "../memory/guest_memory.ts";
import type { HvVp, Partition } from "./partition.ts";

export const HV_TRANSLATE_GVA_SUCCESS = 0;
export const HV_TRANSLATE_GVA_PAGE_NOT_PRESENT = 1;
export const HV_TRANSLATE_GVA_PRIVILEGE_VIOLATION = 2;
export const HV_TRANSLATE_GVA_INVALID_PAGE_TABLE_FLAGS = 3;
export const HV_TRANSLATE_GVA_GPA_UNMAPPED = 4;
export const HV_TRANSLATE_GVA_GPA_NO_READ_ACCESS = 5;
export const HV_TRANSLATE_GVA_GPA_NO_WRITE_ACCESS = 6;

/** HV_TRANSLATE_GVA_CONTROL_FLAGS bits. */
export const VALIDATE_READ = 1 << 0;
export const VALIDATE_WRITE = 1 << 1;
export const VALIDATE_EXECUTE = 1 << 2;
export const PRIVILEGE_EXEMPT = 1 << 3;
export const SET_PAGE_TABLE_BITS = 1 << 4;
export const TLB_FLUSH_INHIBIT = 1 << 5;
export const SUPERVISOR_ACCESS = 1 << 6;
export const USER_ACCESS = 1 << 7;
export const ENFORCE_SMAP = 1 << 8;
export const OVERRIDE_SMAP = 1 << 9;

export interface TranslateResult {
  readonly code: number;
  /** GPA page (for GPA failures: the offending page). */
  readonly gpaPage: number;
  /** 1 when the result page is an overlay page. */
  readonly overlay: boolean;
}

/**
 * Translates page `gvaPage` for (vp, vtl) using the VTL's paging context `ctx` (its CR0/CR3/CR4/
 * EFER and CPL from CS). `flags` are the low bits of the control flags.
 */
export function translateGva(
  p: Partition,
  vp: HvVp,
  vtl: Vtl,
  ctx: CpuContext,
  gvaPage: number,
  flags: number,
): TranslateResult {
  const lin = gvaPage * PAGE_SIZE;
  const cpl = ctx.segSel[1]! & 3;
  const user = (flags & USER_ACCESS) !== 0
    ? true
    : (flags & SUPERVISOR_ACCESS) !== 0
    ? false
    : cpl === 3;
  const exempt = (flags & PRIVILEGE_EXEMPT) !== 0;
  const setBits = (flags & SET_PAGE_TABLE_BITS) !== 0;
  const fail = (code: number, gpaPage = 0): TranslateResult => ({ code, gpaPage, overlay: false });

  let gpa: number;
  let userOk = true, writeOk = true, nx = false;
  if (!(ctx.cr0 & CR0_PG)) {
    gpa = (ctx.efer & EFER_LMA) ? lin : lin % 4294967296;
  } else {
    const entries: { addr: number; lo: number; hi: number }[] = [];
    const read = (gpaAddr: number): [number, number] | TranslateResult => {
      const gpn = Math.floor(gpaAddr / PAGE_SIZE);
      const r = p.resolveGpa(vp, vtl, gpn);
      if (r < 0) return fail(HV_TRANSLATE_GVA_GPA_UNMAPPED, gpn);
      if ((r & RIGHT_R) === 0) return fail(HV_TRANSLATE_GVA_GPA_NO_READ_ACCESS, gpn);
      const off = (r >>> 5) * PAGE_SIZE + (gpaAddr % PAGE_SIZE);
      return [p.mem.dv.getInt32(off, true), p.mem.dv.getInt32(off + 4, true)];
    };
    const nxe = (ctx.efer & EFER_NXE) !== 0;
    let table: number;
    let levels: number[];
    let entrySize = 8;
    if (ctx.efer & EFER_LMA) {
      table = Math.floor(ctx.cr3 / 4096) * 4096;
      levels = [39, 30, 21, 12];
    } else if (ctx.cr4 & CR4_PAE) {
      const pdpte = read(((ctx.cr3 >>> 0) & ~0x1f) + ((lin >>> 30) & 3) * 8);
      if (!Array.isArray(pdpte)) return pdpte;
      if (!(pdpte[0] & 1)) return fail(HV_TRANSLATE_GVA_PAGE_NOT_PRESENT);
      table = (pdpte[1] & 0xfffff) * 4294967296 + ((pdpte[0] & ~0xfff) >>> 0);
      levels = [21, 12];
    } else {
      table = (ctx.cr3 >>> 0) & ~0xfff;
      levels = [22, 12];
      entrySize = 4;
    }
    let leaf: { addr: number; lo: number; hi: number; shift: number } | null = null;
    for (let li = 0; li < levels.length; li++) {
      const shift = levels[li]!;
      const width = entrySize === 4 ? 1024 : 512;
      const idx = Math.floor(lin / 2 ** shift) % width;
      const addr = table + idx * entrySize;
      const e = read(addr);
      if (!Array.isArray(e)) return e;
      const lo = e[0], hi = entrySize === 4 ? 0 : e[1];
      if (!(lo & 1)) return fail(HV_TRANSLATE_GVA_PAGE_NOT_PRESENT);
      if (entrySize === 8 && ((hi & 0x000fff00) || (!nxe && hi < 0))) {
        return fail(HV_TRANSLATE_GVA_INVALID_PAGE_TABLE_FLAGS);
      }
      if (!(lo & 2)) writeOk = false;
      if (!(lo & 4)) userOk = false;
      if (entrySize === 8 && hi < 0) nx = true;
      entries.push({ addr, lo, hi });
      const base = entrySize === 4
        ? (lo & ~0xfff) >>> 0
        : (hi & 0xfffff) * 4294967296 + ((lo & ~0xfff) >>> 0);
      const large = (lo & 0x80) !== 0 && shift !== 12 && shift !== 39 &&
        (entrySize === 8 || (ctx.cr4 & CR4_PSE) !== 0);
      if (shift === 12 || large) {
        leaf = { addr, lo, hi, shift };
        const size = 2 ** shift;
        const pageBase = entrySize === 4 && large
          ? ((lo >>> 13) & 0xff) * 4294967296 + ((lo & 0xffc00000) >>> 0)
          : base - (base % size);
        gpa = pageBase + (lin % size);
        break;
      }
      table = base;
    }
    if (leaf === null) return fail(HV_TRANSLATE_GVA_PAGE_NOT_PRESENT);
    // Access checks (unless privilege-exempt).
    if (!exempt) {
      if (user && !userOk) return fail(HV_TRANSLATE_GVA_PRIVILEGE_VIOLATION);
      if ((flags & VALIDATE_WRITE) && !writeOk && (user || (ctx.cr0 & CR0_WP))) {
        return fail(HV_TRANSLATE_GVA_PRIVILEGE_VIOLATION);
      }
      if (flags & VALIDATE_EXECUTE) {
        if (nx) return fail(HV_TRANSLATE_GVA_PRIVILEGE_VIOLATION);
        if (!user && userOk && (ctx.cr4 & CR4_SMEP)) {
          return fail(HV_TRANSLATE_GVA_PRIVILEGE_VIOLATION);
        }
      }
      const smap = (ctx.cr4 & CR4_SMAP) !== 0 && !(flags & OVERRIDE_SMAP) &&
        ((flags & ENFORCE_SMAP) !== 0 || (ctx.rflags & 0x40000) === 0);
      if (!user && userOk && smap && (flags & (VALIDATE_READ | VALIDATE_WRITE))) {
        return fail(HV_TRANSLATE_GVA_PRIVILEGE_VIOLATION);
      }
    }
    // SetPageTableBits: accessed on every level, dirty on the leaf for a write.
    if (setBits) {
      for (const e of entries) {
        const want = e === entries[entries.length - 1] && (flags & VALIDATE_WRITE) ? 0x60 : 0x20;
        if ((e.lo & want) === want) continue;
        const gpn = Math.floor(e.addr / PAGE_SIZE);
        const r = p.resolveGpa(vp, vtl, gpn);
        if (r < 0) return fail(HV_TRANSLATE_GVA_GPA_UNMAPPED, gpn);
        if ((r & RIGHT_W) === 0) return fail(HV_TRANSLATE_GVA_GPA_NO_WRITE_ACCESS, gpn);
        const off = (r >>> 5) * PAGE_SIZE + (e.addr % PAGE_SIZE);
        p.mem.write32(off, (p.mem.dv.getInt32(off, true) | want) >>> 0);
      }
    }
  }
  const gpn = Math.floor(gpa! / PAGE_SIZE);
  const r = p.resolveGpa(vp, vtl, gpn);
  if (r === -2) return fail(HV_TRANSLATE_GVA_GPA_UNMAPPED, gpn);
  if (r >= 0) {
    if ((flags & (VALIDATE_READ | VALIDATE_EXECUTE)) && (r & RIGHT_R) === 0) {
      return fail(HV_TRANSLATE_GVA_GPA_NO_READ_ACCESS, gpn);
    }
    if ((flags & VALIDATE_WRITE) && (r & RIGHT_W) === 0) {
      return fail(HV_TRANSLATE_GVA_GPA_NO_WRITE_ACCESS, gpn);
    }
  }
  const overlay = vp.overlays.get(vtl).has(gpn);
  return { code: HV_TRANSLATE_GVA_SUCCESS, gpaPage: gpn, overlay };
}
