/**
 * Common input of the loaders, the fixed low-memory layout they share, and `PlanBuilder`, which
 * collects a `LoadPlan`'s memory writes while checking that each lies in RAM and overlaps no other.
 *
 * Low memory used by the loaders (all inside the conventional-memory RAM entry 0 - 0x9fc00; the
 * first 0x500 bytes, real-mode IVT and BIOS data area, are left alone):
 *
 *     0x00500 - 0x0051f   GDT: null, null, code 0x10, data 0x18 (see x86.ts)
 *     0x01000 - 0x06fff   free; the initial stack grows down from 0x7000 (ESP/RSP = 0x7000)
 *     0x07000 - 0x07fff   boot information: multiboot_info, Linux boot_params (zero page) or
 *                         PVH hvm_start_info
 *     0x08000 - 0x08fff   boot information, continued: memory map, module list, strings
 *     0x09000 - 0x09fff   kernel command line (NUL-terminated, at most 4095 bytes)
 *     0x10000 - 0x15fff   identity page tables for long-mode entries: PML4 0x10000, PDPT 0x11000,
 *                         page directories 0x12000 - 0x15fff (2 MiB pages, 0 - 4 GiB)
 *
 * Images must not overlap 0x500 - 0x16000; kernels normally load at 1 MiB or above.
 */

import type { LoadPlan, MemoryWrite } from "../boot_state.ts";
import { hex, ImageReader, MiB } from "./bytes.ts";
import { type E820Entry, inRam, MAX_MEM_BYTES, ramSpans, type Span, validateE820 } from "./e820.ts";
import { LoadError } from "./errors.ts";

export interface LoadOptions {
  /** The image's file name, used in error messages (and as argv[0] of a multiboot cmdline). */
  name: string;
  image: Uint8Array;
  /** Guest RAM size in bytes (at most 3 GiB). */
  memBytes: number;
  /** Kernel command line. */
  cmdline: string;
  /** An initial ramdisk / boot module. */
  initrd?: { name: string; bytes: Uint8Array };
  /** Number of virtual processors (not used by the loaders; ACPI tables are built elsewhere). */
  vps: number;
  /** The memory map given to the guest (see `defaultE820`). */
  e820: E820Entry[];
  /** Physical address of the ACPI RSDP, passed to Linux (boot_params, PVH start info) if set. */
  rsdpAddr?: number;
}

/** Fixed low-memory addresses (see the table above). */
export const LOW = {
  /** The GDT (4 descriptors, limit 0x1f). */
  GDT: 0x500,
  /** Initial ESP/RSP; the stack grows down into 0x1000 - 0x6fff. */
  STACK_TOP: 0x7000,
  /** multiboot_info / boot_params / hvm_start_info. */
  BOOT_INFO: 0x7000,
  /** Memory map, module list and strings belonging to the boot information (one page). */
  BOOT_EXTRA: 0x8000,
  BOOT_EXTRA_END: 0x9000,
  /** The command line (one page: at most 4095 bytes and the NUL). */
  CMDLINE: 0x9000,
  CMDLINE_MAX: 4095,
  /** PML4; PDPT at +0x1000; page directories at +0x2000 .. +0x5fff. */
  PAGE_TABLES: 0x10000,
  /** Start and end of the area reserved for the loaders' structures. */
  AREA_START: 0x500,
  AREA_END: 0x16000,
} as const;

/** Validated load options. */
export interface LoadContext {
  readonly name: string;
  readonly file: ImageReader;
  readonly memBytes: number;
  readonly ram: readonly Span[];
  readonly e820: readonly E820Entry[];
  readonly cmdline: string;
  readonly initrd?: { readonly name: string; readonly bytes: Uint8Array };
  readonly rsdpAddr: number;
}

const enc = new TextEncoder();

/** Validates the options common to all loaders. */
export function loadContext(opts: LoadOptions): LoadContext {
  const o = (opts ?? {}) as Partial<LoadOptions>;
  const name = typeof o.name === "string" && o.name !== "" ? o.name : "(unnamed image)";
  const fail = (p: string): never => {
    throw new LoadError(name, p);
  };
  if (!(o.image instanceof Uint8Array)) fail("the image is not a byte array");
  const memBytes = o.memBytes as number;
  if (
    !Number.isSafeInteger(memBytes) || memBytes < 2 * MiB || memBytes > MAX_MEM_BYTES ||
    memBytes % 4096 !== 0
  ) {
    fail(`guest memory size ${String(memBytes)} is not a multiple of 4 KiB from 2 MiB to 3 GiB`);
  }
  const cmdline = typeof o.cmdline === "string"
    ? o.cmdline
    : fail("the command line is not a string");
  if (cmdline.includes("\0")) fail("the command line contains a NUL character");
  if (o.initrd !== undefined) {
    const r = o.initrd;
    if (r === null || typeof r !== "object" || !(r.bytes instanceof Uint8Array)) {
      fail("the initrd is not a byte array");
    }
    if (typeof r.name !== "string") fail("the initrd has no name");
    if (r.bytes.length === 0) fail(`initrd ${r.name} is empty`);
  }
  const rsdp = o.rsdpAddr ?? 0;
  if (!Number.isSafeInteger(rsdp) || rsdp < 0 || rsdp >= 2 ** 32) {
    fail(`ACPI RSDP address ${String(rsdp)} is not below 4 GiB`);
  }
  validateE820(name, o.e820 as E820Entry[], memBytes);
  const e820 = o.e820!;
  return {
    name,
    file: new ImageReader(name, o.image!),
    memBytes,
    ram: ramSpans(e820),
    e820,
    cmdline,
    initrd: o.initrd,
    rsdpAddr: rsdp,
  };
}

/** The command line as NUL-terminated bytes, at most `max` bytes before the NUL. */
export function cmdlineBytes(ctx: LoadContext, cmdline: string, max: number): Uint8Array {
  const b = enc.encode(cmdline);
  if (b.includes(0)) throw new LoadError(ctx.name, "the command line contains a NUL character");
  if (b.length > max) {
    throw new LoadError(
      ctx.name,
      `the command line is ${b.length} bytes long (at most ${max} are supported)`,
    );
  }
  const out = new Uint8Array(b.length + 1);
  out.set(b);
  return out;
}

/** A NUL-terminated ASCII/UTF-8 string. */
export function cstr(s: string): Uint8Array {
  const b = enc.encode(s);
  const out = new Uint8Array(b.length + 1);
  out.set(b.map((c) => (c === 0 ? 0x3f : c)));
  return out;
}

interface Placed {
  readonly addr: number;
  readonly end: number;
  readonly what: string;
}

/** Collects memory writes; each must lie in RAM and overlap no other write or reservation. */
export class PlanBuilder {
  readonly writes: MemoryWrite[] = [];
  private readonly placed: Placed[] = [];

  constructor(readonly ctx: LoadContext) {}

  private fail(p: string): never {
    throw new LoadError(this.ctx.name, p);
  }

  /** Checks that [addr, addr + size) is RAM and free, and records it as taken by `what`. */
  reserve(what: string, addr: number, size: number): void {
    if (!Number.isSafeInteger(addr) || !Number.isSafeInteger(size) || addr < 0 || size < 0) {
      this.fail(`${what} has an invalid address or size`);
    }
    const end = addr + size;
    if (end > this.ctx.memBytes) {
      this.fail(
        `${what} at ${hex(addr)}-${hex(end)} does not fit in guest memory (${
          hex(this.ctx.memBytes)
        } bytes)`,
      );
    }
    if (size > 0 && !inRam(this.ctx.ram, addr, size)) {
      this.fail(`${what} at ${hex(addr)}-${hex(end)} is not in RAM (see the e820 map)`);
    }
    if (size === 0) return;
    for (const p of this.placed) {
      if (addr < p.end && p.addr < end) {
        this.fail(
          `${what} at ${hex(addr)}-${hex(end)} overlaps ${p.what} at ${hex(p.addr)}-${hex(p.end)}`,
        );
      }
    }
    this.placed.push({ addr, end, what });
  }

  /** Whether [addr, addr + size) is RAM and free. */
  isFree(addr: number, size: number): boolean {
    const end = addr + size;
    return end <= this.ctx.memBytes && inRam(this.ctx.ram, addr, size) &&
      this.placed.every((p) => end <= p.addr || addr >= p.end);
  }

  /** Reserves and writes `bytes` at `addr`. */
  write(what: string, addr: number, bytes: Uint8Array): void {
    this.reserve(what, addr, bytes.length);
    this.writes.push({ addr, bytes, what });
  }

  /** Reserves the loaders' low-memory area (0x500 - 0x16000) so images cannot overlap it. */
  reserveLowArea(): void {
    this.reserve("the loader's boot structures", LOW.AREA_START, LOW.AREA_END - LOW.AREA_START);
  }

  /**
   * Reserves `size` bytes at `addr`, then writes a zeroed buffer of that size that `fill` may
   * fill (the size is checked against guest memory before anything is allocated).
   */
  writeSized(what: string, addr: number, size: number, fill: (b: Uint8Array) => void): void {
    this.reserve(what, addr, size);
    const bytes = new Uint8Array(size);
    fill(bytes);
    this.writes.push({ addr, bytes, what });
  }

  /** Records a write inside an already reserved range (no checks). */
  writeReserved(what: string, addr: number, bytes: Uint8Array): void {
    this.writes.push({ addr, bytes, what });
  }

  /**
   * The highest `align`-aligned address at which `size` bytes fit in RAM and are free, between
   * `min` (inclusive) and `limit` (exclusive end), or -1.
   */
  highestFree(size: number, min: number, limit: number, align: number): number {
    const spans = [...this.ctx.ram].sort((a, b) => b.start - a.start);
    for (const s of spans) {
      let top = Math.min(s.end, limit, this.ctx.memBytes);
      for (;;) {
        const addr = Math.floor((top - size) / align) * align;
        if (addr < s.start || addr < min) break;
        const clash = this.placed.find((p) => addr < p.end && p.addr < addr + size);
        if (!clash) return addr;
        top = clash.addr;
      }
    }
    return -1;
  }

  /** The lowest `align`-aligned free RAM address >= `min` where `size` bytes fit, or -1. */
  lowestFree(size: number, min: number, align: number): number {
    const spans = [...this.ctx.ram].sort((a, b) => a.start - b.start);
    for (const s of spans) {
      let addr = Math.ceil(Math.max(s.start, min) / align) * align;
      while (addr + size <= Math.min(s.end, this.ctx.memBytes)) {
        const clash = this.placed.find((p) => addr < p.end && p.addr < addr + size);
        if (!clash) return addr;
        addr = Math.ceil(clash.end / align) * align;
      }
    }
    return -1;
  }

  plan(entry: LoadPlan["entry"]): LoadPlan {
    return { writes: this.writes, entry };
  }
}

/** Allocates consecutive pieces of a fixed low-memory area (LOW.BOOT_EXTRA) for boot data. */
export class BumpArea {
  private pos: number;
  constructor(
    private readonly b: PlanBuilder,
    readonly start: number,
    readonly end: number,
  ) {
    this.pos = start;
  }

  /** Writes `bytes` at the next `align`-aligned address of the area and returns that address. */
  put(what: string, bytes: Uint8Array, align = 8): number {
    const addr = Math.ceil(this.pos / align) * align;
    if (addr + bytes.length > this.end) {
      throw new LoadError(
        this.b.ctx.name,
        `${what} does not fit in the boot information area ${hex(this.start)}-${hex(this.end)} (${
          this.pos - this.start
        } bytes used, ${bytes.length} more needed)`,
      );
    }
    this.b.writeReserved(what, addr, bytes);
    this.pos = addr + bytes.length;
    return addr;
  }
}
