/**
 * The bulk path of rep MOVS/STOS: a run of elements that the element-by-element path would do
 * entirely through its TLB fast paths is done with one copy or fill of host memory.
 *
 * A run qualifies when, on each side, it stays within one linear page that the data TLB already
 * maps as RAM (read for the source, write for the destination), within the segment limits
 * (outside 64-bit mode) and without wrapping the address size. Such elements cannot fault and
 * have no side effect beyond the bytes they move: the element path would read and write them
 * through `read8`/`write8` & co. without a walk. Anything else — a TLB miss, MMIO, an element
 * crossing a page, an expand-down segment, an overlap closer than one element — is left to the
 * element path, which then fills the TLB, faults at the exact element or talks to the device.
 * Writes to a page holding decoded code invalidate the overlapping blocks (`mem.touch`) and stop
 * the block after the instruction, as `writeSlow` does.
 */

import type { Cpu } from "../cpu.ts";
import { ES, FLAG_DF, FS, GS, RAX, RCX, RDI, RSI } from "../regs.ts";
import { isCanonicalNum, TWO32 } from "../u64.ts";

/**
 * Switch for tests that compare the bulk path with the element-by-element path, and the count of
 * elements it moved (so that tests can tell that it ran).
 */
export const stringBulk = { enabled: true, elements: 0 };

/** Offset register `r` at address size `asz` (signed for 8 bytes). */
export function offOf(c: Cpu, r: number, asz: number): number {
  if (asz === 8) return c.hi[r]! * TWO32 + (c.lo[r]! >>> 0);
  if (asz === 4) return c.lo[r]! >>> 0;
  return c.lo[r]! & 0xffff;
}

/** Adds `delta` (|delta| < 2^32) to register `r` at address size `asz`. */
export function advance(c: Cpu, r: number, asz: number, delta: number): void {
  if (asz === 8) {
    const lo = c.lo[r]!;
    const s = (lo >>> 0) + delta;
    c.lo[r] = s | 0;
    if (s > 0xffffffff) c.hi[r] = (c.hi[r]! + 1) | 0;
    else if (s < 0) c.hi[r] = (c.hi[r]! - 1) | 0;
  } else if (asz === 4) {
    c.lo[r] = (c.lo[r]! + delta) | 0;
    if (c.bits === 64) c.hi[r] = 0;
  } else {
    c.lo[r] = (c.lo[r]! & ~0xffff) | ((c.lo[r]! + delta) & 0xffff);
  }
}

/** rCX at address size `asz`, unsigned (approximate above 2^53, which is never < 4096). */
export function countOf(c: Cpu, asz: number): number {
  if (asz === 8) return (c.hi[RCX]! >>> 0) * TWO32 + (c.lo[RCX]! >>> 0);
  if (asz === 4) return c.lo[RCX]! >>> 0;
  return c.lo[RCX]! & 0xffff;
}

// Result of `span`: host offset of the run's first element on one side.
let spanPa = 0;

/**
 * How many elements (at most `n`) starting at offset register `r` in segment `seg` qualify for a
 * bulk run on that side; leaves the host offset of the first element in `spanPa`.
 */
function span(
  c: Cpu,
  r: number,
  seg: number,
  asz: number,
  size: number,
  down: boolean,
  write: boolean,
  n: number,
): number {
  const off = offOf(c, r, asz);
  const b64 = c.bits === 64;
  if (asz !== 8) {
    // No wrap of the offset within the run (the element path handles a wrapping element).
    const mask = asz === 4 ? 0xffffffff : 0xffff;
    if (off + size - 1 > mask) return 0;
    const fit = down ? Math.floor(off / size) + 1 : Math.floor((mask + 1 - off) / size);
    if (fit < n) n = fit;
  }
  let lin: number;
  if (b64) {
    lin = seg === FS || seg === GS ? c.segBase[seg]! + off : off;
    if (!isCanonicalNum(lin)) return 0;
  } else lin = (c.segBase[seg]! + off) >>> 0;
  const pOff = lin & 0xfff;
  if (pOff + size > 4096) return 0;
  const inPage = down ? Math.floor(pOff / size) + 1 : Math.floor((4096 - pOff) / size);
  if (inPage < n) n = inPage;
  // Outside 64-bit mode: the whole run within the segment limit (expand-up data segment).
  if (!b64 && !c.segFast(seg, down ? off + size - 1 : off + n * size - 1, write)) return 0;
  const pa = c.cachedAddr(lin, write);
  if (pa < 0) return 0;
  spanPa = pa;
  return n;
}

/**
 * Does up to `count` elements of rep STOS (`size` bytes of rAX) in one fill when they qualify;
 * returns how many were done (rDI and rCX advanced), 0 when the next element must go the
 * element-by-element way.
 */
export function bulkStos(c: Cpu, size: number, asz: number, count: number): number {
  if (!stringBulk.enabled) return 0;
  const down = (c.eflags & FLAG_DF) !== 0;
  const n = span(c, RDI, ES, asz, size, down, true, count < 4096 ? count : 4096);
  if (n === 0) return 0;
  const len = n * size, lo = down ? spanPa + size - len : spanPa, u8 = c.u8;
  if (size === 1) u8.fill(c.lo[RAX]!, lo, lo + len);
  else {
    const dv = c.dv;
    if (size === 2) dv.setUint16(lo, c.lo[RAX]!, true);
    else {
      dv.setInt32(lo, c.lo[RAX]!, true);
      if (size === 8) dv.setInt32(lo + 4, c.hi[RAX]!, true);
    }
    for (let done = size; done < len; done *= 2) {
      u8.copyWithin(lo + done, lo, lo + (done < len - done ? done : len - done));
    }
  }
  written(c, lo, len);
  const delta = down ? -len : len;
  advance(c, RDI, asz, delta);
  advance(c, RCX, asz, -n);
  stringBulk.elements += n;
  return n;
}

/**
 * Does up to `count` elements of rep MOVS in one copy when they qualify (see the module
 * comment); returns how many were done, 0 when the next element must go the element-by-element
 * way. Overlapping runs produce exactly what element-by-element copying produces.
 */
export function bulkMovs(c: Cpu, seg: number, size: number, asz: number, count: number): number {
  if (!stringBulk.enabled) return 0;
  const down = (c.eflags & FLAG_DF) !== 0;
  let n = span(c, RSI, seg, asz, size, down, false, count < 4096 ? count : 4096);
  if (n === 0) return 0;
  const src = spanPa;
  n = span(c, RDI, ES, asz, size, down, true, n);
  if (n === 0) return 0;
  const len = n * size, back = down ? size - len : 0;
  const dst = spanPa + back;
  if (!moveElements(c.u8, dst, src + back, len, size, down)) return 0;
  written(c, dst, len);
  const delta = down ? -len : len;
  advance(c, RSI, asz, delta);
  advance(c, RDI, asz, delta);
  advance(c, RCX, asz, -n);
  stringBulk.elements += n;
  return n;
}

/** Marks [lo, lo+len) of host memory written: dirty, and invalidates decoded code in it. */
function written(c: Cpu, lo: number, len: number): void {
  const page = lo >>> 12;
  if (c.codeMap[page] !== 0) {
    c.mem.touch(lo, len);
    // The running block may have been rewritten: stop after this instruction.
    c.brk = true;
  } else c.mem.dirty[page] = 1;
}

/**
 * Copies `len` bytes from host offset `src` to `dst` (the lowest bytes of both runs) as `size`-byte
 * elements in ascending (`down` false) or descending order would, each element read before it
 * is written. Returns false (nothing copied) for an overlap closer than one element, where
 * elements see partly written data.
 */
export function moveElements(
  u8: Uint8Array,
  dst: number,
  src: number,
  len: number,
  size: number,
  down: boolean,
): boolean {
  const d = dst - src;
  if (d === 0) return true;
  // Elements never read what earlier elements wrote: a plain (memmove) copy.
  if ((down ? d > 0 : d < 0) || d >= len || -d >= len) {
    u8.copyWithin(dst, src, src + len);
    return true;
  }
  const gap = d < 0 ? -d : d;
  if (gap < size) return false;
  // Each element reads bytes written `gap` bytes earlier: the pattern repeats. Copy in steps of
  // `gap` bytes, each step reading only bytes already final.
  if (!down) {
    for (let k = 0; k < len; k += gap) {
      u8.copyWithin(dst + k, src + k, src + k + (gap < len - k ? gap : len - k));
    }
  } else {
    for (let top = len; top > 0;) {
      const k = gap < top ? gap : top;
      u8.copyWithin(dst + top - k, src + top - k, src + top);
      top -= k;
    }
  }
  return true;
}
