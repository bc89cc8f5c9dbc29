/**
 * Multiboot (version 0.6.96, "Multiboot Specification") kernels: ELF32 and ELF64 images loaded by
 * their PT_LOAD segments' physical addresses, and flat images described by the header's address
 * fields (flags bit 16, the "a.out kludge").
 *
 * Memory layout (see plan.ts):
 *
 *     0x00500           GDT: code32 0x10, data 0x18 (x86.ts)
 *     0x07000           multiboot_info (0x80 bytes, EBX points here); ESP = 0x7000 (the stack
 *                       grows down; the spec leaves ESP undefined)
 *     0x08000-0x08fff   memory map (24-byte entries from the e820 map), module list, the
 *                       boot loader name "vtlrr" and the module's name
 *     0x09000-0x09fff   command line: "<image name> <cmdline>" (or just the name when the command
 *                       line is empty), as QEMU passes it - kvm-unit-tests read argv[0] from it
 *     image             where its segments / address fields say (must not overlap 0x500-0x16000)
 *     module 0          the initrd, at the first page-aligned RAM address above the kernel's
 *                       highest address (bss included)
 *
 * multiboot_info flags set: 0 (mem_lower/mem_upper), 2 (cmdline), 3 (mods; mods_count 0 and
 * mods_addr 0 without an initrd), 6 (mmap), 9 (boot_loader_name).
 *
 * Entry (spec §3.2): 32-bit protected mode, paging off, CS = 0x10 flat code, DS = ES = FS = GS =
 * SS = 0x18 flat data, EAX = 0x2BADB002, EBX = 0x7000, EFLAGS = 0x2 (IF = 0, VM = 0), ESP = 0x7000.
 */

import type { LoadPlan } from "../boot_state.ts";
import { hex, PAGE, StructWriter } from "./bytes.ts";
import { memLowerKiB, memUpperKiB } from "./e820.ts";
import { isElf, loadSegments, parseElf, physicalEntry, placeSegments } from "./elf_file.ts";
import {
  BumpArea,
  cmdlineBytes,
  cstr,
  loadContext,
  type LoadOptions,
  LOW,
  PlanBuilder,
} from "./plan.ts";
import { addGdt, prot32Entry } from "./x86.ts";

export const MULTIBOOT_HEADER_MAGIC = 0x1badb002;
export const MULTIBOOT_BOOTLOADER_MAGIC = 0x2badb002;
/** The header must lie entirely in the first 8192 bytes, 4-byte aligned. */
export const MULTIBOOT_SEARCH = 8192;

/** Header flags. */
export const MB_PAGE_ALIGN = 1 << 0;
export const MB_MEMORY_INFO = 1 << 1;
export const MB_VIDEO_MODE = 1 << 2;
export const MB_AOUT_KLUDGE = 1 << 16;

/** multiboot_info flags. */
export const MBI_MEMORY = 1 << 0;
export const MBI_CMDLINE = 1 << 2;
export const MBI_MODS = 1 << 3;
export const MBI_MMAP = 1 << 6;
export const MBI_BOOT_LOADER_NAME = 1 << 9;

/** Size of the multiboot_info structure written (all fields through the framebuffer info). */
export const MBI_SIZE = 0x80;
export const BOOT_LOADER_NAME = "vtlrr";

/**
 * Offset of the first valid multiboot header (magic, flags, checksum summing to 0 mod 2^32,
 * 4-byte aligned, within the first 8192 bytes), or -1.
 */
export function findMultibootHeader(image: Uint8Array): number {
  const dv = new DataView(image.buffer, image.byteOffset, image.byteLength);
  const end = Math.min(image.length, MULTIBOOT_SEARCH);
  for (let o = 0; o + 12 <= end; o += 4) {
    if (dv.getUint32(o, true) !== MULTIBOOT_HEADER_MAGIC) continue;
    const flags = dv.getUint32(o + 4, true);
    const sum = dv.getUint32(o + 8, true);
    if (((MULTIBOOT_HEADER_MAGIC + flags + sum) >>> 0) === 0) return o;
  }
  return -1;
}

/** Loads a multiboot kernel. */
export function loadMultiboot(opts: LoadOptions): LoadPlan {
  const ctx = loadContext(opts);
  const f = ctx.file;
  const off = findMultibootHeader(f.bytes);
  if (off < 0) {
    f.fail(
      `no multiboot header (magic 0x1badb002 with a valid checksum) in the first ${MULTIBOOT_SEARCH} bytes`,
    );
  }
  const flags = f.u32(off + 4, "multiboot header flags");
  if (flags & MB_VIDEO_MODE) {
    f.fail("the multiboot header requires video mode information (flags bit 2), not supported");
  }
  const unknown = flags & 0xfff8;
  if (unknown) {
    f.fail(`the multiboot header requires unknown features (flags bits ${hex(unknown)})`);
  }

  const b = new PlanBuilder(ctx);
  b.reserveLowArea();
  let entry: number;
  let kernelEnd = 0;
  if (flags & MB_AOUT_KLUDGE) {
    f.need(off, 32, "multiboot header address fields");
    const headerAddr = f.u32(off + 12, "header_addr");
    const loadAddr = f.u32(off + 16, "load_addr");
    const loadEndAddr = f.u32(off + 20, "load_end_addr");
    const bssEndAddr = f.u32(off + 24, "bss_end_addr");
    const entryAddr = f.u32(off + 28, "entry_addr");
    if (loadAddr > headerAddr) {
      f.fail(`multiboot load_addr ${hex(loadAddr)} is above header_addr ${hex(headerAddr)}`);
    }
    const fileStart = off - (headerAddr - loadAddr);
    if (fileStart < 0) {
      f.fail(
        `multiboot load_addr ${hex(loadAddr)} lies ${
          hex(-fileStart)
        } bytes before the start of the file`,
      );
    }
    const loadEnd = loadEndAddr === 0 ? loadAddr + (f.length - fileStart) : loadEndAddr;
    if (loadEnd <= loadAddr) {
      f.fail(`multiboot load_end_addr ${hex(loadEnd)} is not above load_addr ${hex(loadAddr)}`);
    }
    const fileLen = loadEnd - loadAddr;
    f.need(fileStart, fileLen, "the multiboot load range (load_addr to load_end_addr)");
    const bssEnd = bssEndAddr === 0 ? loadEnd : bssEndAddr;
    if (bssEnd < loadEnd) {
      f.fail(`multiboot bss_end_addr ${hex(bssEnd)} is below load_end_addr ${hex(loadEnd)}`);
    }
    if (entryAddr < loadAddr || entryAddr >= loadEnd) {
      f.fail(
        `multiboot entry_addr ${hex(entryAddr)} is outside the loaded image ${hex(loadAddr)}-${
          hex(loadEnd)
        }`,
      );
    }
    b.writeSized("the kernel image", loadAddr, bssEnd - loadAddr, (buf) => {
      buf.set(f.bytes.subarray(fileStart, fileStart + fileLen));
    });
    entry = entryAddr;
    kernelEnd = bssEnd;
  } else {
    if (!isElf(f.bytes)) {
      f.fail(
        "the image is not ELF and its multiboot header does not give load addresses (flags bit 16)",
      );
    }
    const elf = parseElf(f);
    const segs = loadSegments(f, elf);
    kernelEnd = placeSegments(b, f, segs, "kernel segment");
    entry = physicalEntry(f, elf, segs);
  }

  // multiboot_info and what it points to.
  const info = new StructWriter(MBI_SIZE);
  const mbiFlags = MBI_MEMORY | MBI_CMDLINE | MBI_MODS | MBI_MMAP | MBI_BOOT_LOADER_NAME;
  info.u32(4, memLowerKiB(ctx.ram)).u32(8, memUpperKiB(ctx.ram));

  const cmdline = ctx.cmdline === "" ? ctx.name : `${ctx.name} ${ctx.cmdline}`;
  b.writeReserved("command line", LOW.CMDLINE, cmdlineBytes(ctx, cmdline, LOW.CMDLINE_MAX));
  info.u32(16, LOW.CMDLINE);

  const extra = new BumpArea(b, LOW.BOOT_EXTRA, LOW.BOOT_EXTRA_END);
  const mmap = new StructWriter(ctx.e820.length * 24);
  ctx.e820.forEach((e, i) => {
    mmap.u32(i * 24, 20).u64(i * 24 + 4, e.addr).u64(i * 24 + 12, e.size).u32(i * 24 + 20, e.type);
  });
  const mmapAddr = extra.put("multiboot memory map", mmap.bytes);
  info.u32(44, mmap.bytes.length).u32(48, mmapAddr);
  info.u32(64, extra.put("boot loader name", cstr(BOOT_LOADER_NAME), 1));

  if (ctx.initrd) {
    const r = ctx.initrd;
    const at = b.lowestFree(r.bytes.length, Math.max(kernelEnd, LOW.AREA_END), PAGE);
    if (at < 0) {
      f.fail(
        `module ${r.name} (${r.bytes.length} bytes) does not fit in RAM above the kernel (which ends at ${
          hex(kernelEnd)
        })`,
      );
    }
    b.write(`module ${r.name}`, at, r.bytes);
    const nameAddr = extra.put("module name", cstr(r.name), 1);
    const mod = new StructWriter(16).u32(0, at).u32(4, at + r.bytes.length).u32(8, nameAddr);
    const modsAddr = extra.put("module list", mod.bytes);
    info.u32(20, 1).u32(24, modsAddr);
  }
  info.u32(0, mbiFlags);
  b.writeReserved("multiboot_info", LOW.BOOT_INFO, info.bytes);
  addGdt(b, "32");
  return b.plan(
    prot32Entry(entry, { rax: MULTIBOOT_BOOTLOADER_MAGIC, rbx: LOW.BOOT_INFO, rsp: LOW.STACK_TOP }),
  );
}
