/**
 * A flat binary: file offset 0 at guest physical `load`, entered in 64-bit long mode at `entry`
 * with the shared identity page tables and GDT (x86.ts; CS 0x10, data 0x18), RSP = 0x7000,
 * EFER.NXE, CR0.WP and CR0.NE set. The image may not overlap the loaders' low area
 * (0x500 - 0x16000) and must lie in e820 RAM.
 */

import type { LoadPlan } from "../boot_state.ts";
import { hex } from "./bytes.ts";
import { loadContext, type LoadOptions, LOW, PlanBuilder } from "./plan.ts";
import { addGdt, addPageTables, native64Entry } from "./x86.ts";

export function loadFlat(opts: LoadOptions, load: number, entry: number): LoadPlan {
  const ctx = loadContext(opts);
  const b = new PlanBuilder(ctx);
  b.reserveLowArea();
  b.write("the image", load, ctx.file.bytes);
  if (!Number.isSafeInteger(entry) || entry < load || entry >= load + ctx.file.length) {
    ctx.file.fail(`entry ${hex(entry)} is outside the image at ${hex(load)}`);
  }
  addGdt(b, "64");
  addPageTables(b);
  return b.plan(native64Entry(entry, { rsp: LOW.STACK_TOP }));
}
