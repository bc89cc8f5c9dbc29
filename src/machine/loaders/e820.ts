/**
 * The guest physical memory map handed to the guest (BIOS INT 15h E820 style) and RAM queries the
 * loaders use to place things.
 *
 * `defaultE820(memBytes)`, for guests of at most 3 GiB (memory above 3 GiB is not supported; the
 * 3-4 GiB hole is left for MMIO):
 *
 *     0x00000000 - 0x0009fc00   RAM       conventional memory (the loaders' boot structures live
 *                                         at 0x500 - 0x16000, see plan.ts)
 *     0x0009fc00 - 0x000a0000   reserved  EBDA
 *     0x000e0000 - 0x00100000   reserved  BIOS area (ACPI tables at 0xe0000 - 0xfffff)
 *     0x00100000 - memBytes     RAM       (absent if memBytes is 1 MiB)
 *
 * 0xa0000 - 0xe0000 (VGA window, option ROMs) is a hole: not listed.
 */

import { hex, MiB } from "./bytes.ts";
import { LoadError } from "./errors.ts";

/** Type 1 RAM, 2 reserved, 3 ACPI reclaimable, 4 ACPI NVS. */
export type E820Type = 1 | 2 | 3 | 4;

export interface E820Entry {
  readonly addr: number;
  readonly size: number;
  readonly type: E820Type;
}

export const E820_RAM = 1;
export const E820_RESERVED = 2;
export const E820_ACPI = 3;
export const E820_NVS = 4;

/** Largest supported guest memory: 3 GiB (no RAM is placed above 0xc0000000). */
export const MAX_MEM_BYTES = 0xc0000000;
/** At most this many entries (the Linux zero page holds 128). */
export const MAX_E820_ENTRIES = 128;

/** The default map for `memBytes` of RAM (an integer between 1 MiB and 3 GiB). */
export function defaultE820(memBytes: number): E820Entry[] {
  if (!Number.isSafeInteger(memBytes) || memBytes < MiB || memBytes > MAX_MEM_BYTES) {
    throw new Error(`defaultE820: memBytes ${memBytes} is not an integer between 1 MiB and 3 GiB`);
  }
  const map: E820Entry[] = [
    { addr: 0, size: 0x9fc00, type: 1 },
    { addr: 0x9fc00, size: 0x400, type: 2 },
    { addr: 0xe0000, size: 0x20000, type: 2 },
  ];
  if (memBytes > MiB) map.push({ addr: MiB, size: memBytes - MiB, type: 1 });
  return map;
}

/** A half-open range [start, end). */
export interface Span {
  readonly start: number;
  readonly end: number;
}

/**
 * Checks a memory map: at most 128 entries, integer addresses and positive sizes below 2^52,
 * types 1-4, no two entries overlapping, RAM entries inside the first `memBytes` bytes.
 */
export function validateE820(name: string, e820: readonly E820Entry[], memBytes: number): void {
  if (!Array.isArray(e820)) throw new LoadError(name, "the e820 memory map is not an array");
  if (e820.length === 0) throw new LoadError(name, "the e820 memory map is empty");
  if (e820.length > MAX_E820_ENTRIES) {
    throw new LoadError(
      name,
      `the e820 memory map has ${e820.length} entries (at most ${MAX_E820_ENTRIES} are supported)`,
    );
  }
  e820.forEach((e, i) => {
    const ok = e !== null && typeof e === "object" && Number.isSafeInteger(e.addr) &&
      Number.isSafeInteger(e.size) && e.addr >= 0 && e.size > 0 && e.addr + e.size <= 2 ** 52;
    if (!ok) {
      throw new LoadError(name, `e820 entry ${i} does not have an integer address and size`);
    }
    if (e.type !== 1 && e.type !== 2 && e.type !== 3 && e.type !== 4) {
      throw new LoadError(name, `e820 entry ${i} has type ${String(e.type)} (expected 1-4)`);
    }
    if (e.type === E820_RAM && e.addr + e.size > memBytes) {
      throw new LoadError(
        name,
        `e820 entry ${i} (RAM ${hex(e.addr)}-${hex(e.addr + e.size)}) extends past the end of ` +
          `guest memory (${hex(memBytes)})`,
      );
    }
  });
  for (let i = 0; i < e820.length; i++) {
    for (let j = i + 1; j < e820.length; j++) {
      const a = e820[i]!, b = e820[j]!;
      if (a.addr < b.addr + b.size && b.addr < a.addr + a.size) {
        throw new LoadError(name, `e820 entries ${i} and ${j} overlap`);
      }
    }
  }
}

/** The RAM of a (valid) map as sorted, merged spans. */
export function ramSpans(e820: readonly E820Entry[]): Span[] {
  const ram = e820.filter((e) => e.type === E820_RAM).map((e) => ({
    start: e.addr,
    end: e.addr + e.size,
  })).sort((a, b) => a.start - b.start);
  const out: { start: number; end: number }[] = [];
  for (const r of ram) {
    const last = out[out.length - 1];
    if (last && r.start <= last.end) last.end = Math.max(last.end, r.end);
    else out.push({ ...r });
  }
  return out;
}

/** Whether [addr, addr + size) lies entirely in RAM. */
export function inRam(spans: readonly Span[], addr: number, size: number): boolean {
  return spans.some((s) => addr >= s.start && addr + size <= s.end);
}

/** KiB of RAM from address 0 (at most 640), as multiboot's mem_lower. */
export function memLowerKiB(spans: readonly Span[]): number {
  const s = spans.find((s) => s.start === 0);
  return s ? Math.floor(Math.min(s.end, 0xa0000) / 1024) : 0;
}

/** KiB of contiguous RAM from 1 MiB, as multiboot's mem_upper. */
export function memUpperKiB(spans: readonly Span[]): number {
  const s = spans.find((s) => s.start <= MiB && s.end > MiB);
  return s ? Math.floor((s.end - MiB) / 1024) : 0;
}
