/**
 * Plain ELF kernels (no multiboot header, no PVH note): PT_LOAD segments are loaded at p_paddr
 * (bss zeroed) and the kernel is entered at e_entry (translated to a physical address through the
 * segment containing it, as for multiboot).
 *
 * ELF64: 64-bit long mode, identity paging of 0 - 4 GiB (page tables at 0x10000, see x86.ts), GDT
 * at 0x500 with 64-bit code 0x10 and data 0x18, RSP = 0x7000, IF = 0.
 * ELF32: 32-bit protected mode, paging off, GDT at 0x500 with 32-bit code 0x10 and data 0x18,
 * ESP = 0x7000, IF = 0.
 *
 * There is no boot information: the command line is not passed, and an initrd is an error.
 * Segments must not overlap the loaders' low area 0x500 - 0x16000 (plan.ts).
 */

import type { LoadPlan } from "../boot_state.ts";
import { loadSegments, parseElf, physicalEntry, placeSegments } from "./elf_file.ts";
import { loadContext, type LoadOptions, LOW, PlanBuilder } from "./plan.ts";
import { addGdt, addPageTables, long64Entry, prot32Entry } from "./x86.ts";

/** Loads a plain ELF32 or ELF64 kernel. */
export function loadElf(opts: LoadOptions): LoadPlan {
  const ctx = loadContext(opts);
  const f = ctx.file;
  const elf = parseElf(f);
  if (ctx.initrd) {
    f.fail(`a plain ELF kernel cannot be given an initrd (${ctx.initrd.name})`);
  }
  const segs = loadSegments(f, elf);
  const entry = physicalEntry(f, elf, segs);
  const b = new PlanBuilder(ctx);
  b.reserveLowArea();
  placeSegments(b, f, segs, "kernel segment");
  if (elf.cls === 64) {
    addGdt(b, "64");
    addPageTables(b);
    return b.plan(long64Entry(entry, { rsp: LOW.STACK_TOP }));
  }
  addGdt(b, "32");
  return b.plan(prot32Entry(entry, { rsp: LOW.STACK_TOP }));
}
