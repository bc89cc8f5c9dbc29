/**
 * x86 boot-time structures shared by the loaders: the flat GDT, identity page tables for long-mode
 * entries, and the entry states (32-bit protected mode, paging off; 64-bit long mode; real mode).
 *
 * GDT at LOW.GDT (0x500), limit 0x1f, 8-byte descriptors (SDM Vol. 3A §3.4.5):
 *
 *     0x00  null
 *     0x08  null
 *     0x10  code: flat 4 GiB, execute/read, DPL 0; 32-bit (D=1) or, for long-mode entries,
 *           64-bit (L=1) - Linux's __BOOT_CS
 *     0x18  data: flat 4 GiB, read/write, DPL 0, D/B=1 - Linux's __BOOT_DS
 *
 * Descriptors have the accessed bit set so the segment state matches the GDT exactly.
 *
 * Page tables at LOW.PAGE_TABLES (0x10000): PML4 (entry 0 -> PDPT), PDPT at 0x11000 (entries 0-3 ->
 * page directories at 0x12000, 0x13000, 0x14000, 0x15000), each page directory 512 2 MiB pages:
 * virtual = physical for 0 - 4 GiB, present + writable (+ PS), executable, supervisor.
 */

import type { EntryState, SegmentState } from "../boot_state.ts";
import { FLAT32_CS, FLAT32_DS } from "../boot_state.ts";
import {
  CR0_ET,
  CR0_NE,
  CR0_PE,
  CR0_PG,
  CR0_WP,
  CR4_PAE,
  EFER_LMA,
  EFER_LME,
  EFER_NXE,
} from "../../cpu/regs.ts";
import { LOW, type PlanBuilder } from "./plan.ts";

/** Flat 64-bit code segment, selector 0x10 (L=1, D=0, G=1). */
export const LONG64_CS: SegmentState = { sel: 0x10, base: 0, limit: 0xffffffff, attr: 0xa09b };

/** GDT limit: 4 descriptors. */
export const GDT_LIMIT = 4 * 8 - 1;

/** Bytes of the identity page tables: PML4, PDPT, 4 page directories. */
export const PAGE_TABLE_BYTES = 6 * 4096;

/** Encodes a segment descriptor from its hidden state (HV_X64_SEGMENT_REGISTER attributes). */
export function descriptor(s: SegmentState): [lo: number, hi: number] {
  const g = (s.attr & 0x8000) !== 0;
  const limit = g ? Math.floor(s.limit / 4096) : s.limit;
  const lo = ((s.base & 0xffff) * 0x10000 + (limit & 0xffff)) >>> 0;
  const hi = ((s.base >>> 24) << 24 | ((s.attr & 0xf0ff) << 8) | (limit & 0xf0000) |
    ((s.base >>> 16) & 0xff)) >>> 0;
  return [lo, hi];
}

/** The 32-byte GDT: null, null, code at 0x10 (32- or 64-bit), data at 0x18. */
export function gdtBytes(code: "32" | "64"): Uint8Array {
  const b = new Uint8Array(GDT_LIMIT + 1);
  const dv = new DataView(b.buffer);
  const put = (sel: number, s: SegmentState) => {
    const [lo, hi] = descriptor(s);
    dv.setUint32(sel, lo, true);
    dv.setUint32(sel + 4, hi, true);
  };
  put(0x10, code === "64" ? LONG64_CS : FLAT32_CS);
  put(0x18, FLAT32_DS);
  return b;
}

/** Identity page tables for 0 - 4 GiB built for address `at` (4 KiB-aligned). */
export function identityPageTables(at: number): Uint8Array {
  const b = new Uint8Array(PAGE_TABLE_BYTES);
  const dv = new DataView(b.buffer);
  const pdpt = at + 0x1000;
  dv.setUint32(0, pdpt | 0x3, true); // PML4[0]: present, writable
  for (let i = 0; i < 4; i++) {
    const pd = at + 0x2000 + i * 0x1000;
    dv.setUint32(0x1000 + i * 8, pd | 0x3, true); // PDPT[i]
    for (let j = 0; j < 512; j++) {
      const addr = i * 0x40000000 + j * 0x200000;
      dv.setUint32(0x2000 + i * 0x1000 + j * 8, (addr | 0x83) >>> 0, true); // P, RW, PS
    }
  }
  return b;
}

/** Adds the GDT at LOW.GDT (inside the reserved low area). */
export function addGdt(b: PlanBuilder, code: "32" | "64"): void {
  b.writeReserved("GDT", LOW.GDT, gdtBytes(code));
}

/** Adds the identity page tables at LOW.PAGE_TABLES (inside the reserved low area). */
export function addPageTables(b: PlanBuilder): number {
  b.writeReserved("identity page tables", LOW.PAGE_TABLES, identityPageTables(LOW.PAGE_TABLES));
  return LOW.PAGE_TABLES;
}

/** 32-bit protected mode, paging off, CS 0x10 / data 0x18 flat, IF=0, GDT at LOW.GDT. */
export function prot32Entry(rip: number, regs: Record<string, number>): EntryState {
  return {
    mode: "prot32",
    rip,
    regs,
    cs: FLAT32_CS,
    data: FLAT32_DS,
    gdt: { base: LOW.GDT, limit: GDT_LIMIT },
    cr0: CR0_PE | CR0_ET,
    cr3: 0,
    cr4: 0,
    efer: 0,
    rflags: 0x2,
  };
}

/** Where a long-mode entry's GDT, code and data segments and page tables are. */
export interface LongModeTables {
  readonly gdt: { readonly base: number; readonly limit: number };
  readonly cs: SegmentState;
  readonly data: SegmentState;
  readonly cr3: number;
}

/** The loaders' own: GDT at LOW.GDT (CS 0x10, data 0x18), identity page tables at LOW.PAGE_TABLES. */
export const LOADER_TABLES: LongModeTables = {
  gdt: { base: LOW.GDT, limit: GDT_LIMIT },
  cs: LONG64_CS,
  data: FLAT32_DS,
  cr3: LOW.PAGE_TABLES,
};

/** 64-bit long mode, IF=0: CR0.PE|ET|PG, CR4.PAE, EFER.LME|LMA, with `tables`. */
export function long64Entry(
  rip: number,
  regs: Record<string, number>,
  tables: LongModeTables = LOADER_TABLES,
): EntryState {
  return {
    mode: "long64",
    rip,
    regs,
    cs: tables.cs,
    data: tables.data,
    gdt: tables.gdt,
    cr0: (CR0_PE | CR0_ET | CR0_PG) >>> 0,
    cr3: tables.cr3,
    cr4: CR4_PAE,
    efer: EFER_LME | EFER_LMA,
    rflags: 0x2,
  };
}

/**
 * `long64Entry` with CR0.NE, CR0.WP and EFER.NXE also set: the entry of an image that follows no
 * boot protocol (a flat binary, a built-in guest), as a 64-bit firmware would leave the CPU.
 */
export function native64Entry(
  rip: number,
  regs: Record<string, number>,
  tables: LongModeTables = LOADER_TABLES,
): EntryState {
  const e = long64Entry(rip, regs, tables);
  return { ...e, cr0: (e.cr0! | CR0_NE | CR0_WP) >>> 0, efer: e.efer! | EFER_NXE };
}

/**
 * Real mode, IF=0: CS = DS = ES = FS = GS = `seg` (base seg × 16, 64 KiB limits) at IP `ip`,
 * stack SS:SP = 0:`sp`.
 */
export function realEntry(seg: number, ip: number, sp: number): EntryState {
  const data = { sel: seg, base: seg * 16, limit: 0xffff, attr: 0x93 };
  return {
    mode: "real",
    rip: ip,
    regs: { rsp: sp },
    cs: { ...data, attr: 0x9b },
    data,
    ss: { sel: 0, base: 0, limit: 0xffff, attr: 0x93 },
  };
}
