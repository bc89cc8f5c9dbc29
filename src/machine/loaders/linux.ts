/**
 * Linux/x86 kernels.
 *
 * 1. bzImage, by the x86 boot protocol (Documentation/arch/x86/boot.rst), protocol 2.06 or later.
 *    The setup header is parsed and copied into a zeroed `struct boot_params` (the "zero page");
 *    the real-mode setup code is not run. Kernels with XLF_KERNEL_64 in xloadflags (protocol
 *    2.12+, every x86-64 kernel) are entered through the 64-bit boot protocol; others through the
 *    32-bit boot protocol.
 *
 *    Memory layout (see plan.ts for the shared low area):
 *
 *        0x00500           GDT: __BOOT_CS 0x10 (64-bit code, or 32-bit code for the 32-bit
 *                          protocol), __BOOT_DS 0x18 (flat data)
 *        0x07000-0x07fff   boot_params (RSI/ESI points here)
 *        0x09000           command line (NUL-terminated, at most min(cmdline_size, 4095) bytes)
 *        0x10000-0x15fff   identity page tables, 0 - 4 GiB in 2 MiB pages (64-bit protocol only)
 *        load address      the protected-mode kernel (the file after the (setup_sects + 1) * 512
 *                          setup bytes, syssize * 16 bytes long; a signature appended after it is
 *                          not loaded): at pref_address (protocol 2.10+) when [pref_address,
 *                          pref_address + max(init_size, kernel size)) is free RAM, otherwise at
 *                          0x100000. The decompressor then runs at max(load address aligned up to
 *                          kernel_alignment, pref_address) for a relocatable kernel (pref_address
 *                          otherwise) and needs init_size bytes there: that whole range is
 *                          reserved, so a kernel whose pref_address + init_size is not RAM fails
 *                          to load instead of failing to boot.
 *        initrd            page-aligned, as high as possible: below min(initrd_addr_max + 1,
 *                          0x38000000, memBytes), in RAM, above the kernel's reserved range
 *
 *    boot_params fields filled: the setup header (0x1f1 .. 0x202 + byte 0x201) copied from the
 *    image, then type_of_loader 0xff, loadflags |= CAN_USE_HEAP (KEEP_SEGMENTS cleared),
 *    heap_end_ptr 0xde00, vid_mode 0xffff, code32_start = load address, cmd_line_ptr,
 *    ramdisk_image/ramdisk_size, e820_entries/e820_table (0x1e8, 0x2d0), ext_mem_k (0x002,
 *    KiB above 1 MiB, at most 0xfc00), alt_mem_k (0x1e0, KiB above 1 MiB), acpi_rsdp_addr (0x070)
 *    if given. Everything else is zero.
 *
 *    64-bit entry: long mode at load address + 0x200 (startup_64), RSI = 0x7000, RSP = 0x7000,
 *    identity paging of 0 - 4 GiB, CS = 0x10, DS = ES = FS = GS = SS = 0x18, IF = 0.
 *    32-bit entry: protected mode, paging off, at the load address (code32_start), ESI = 0x7000,
 *    EBP = EDI = EBX = 0, ESP = 0x7000, CS = 0x10 (32-bit), data 0x18, IF = 0.
 *
 * 2. vmlinux by PVH: an ELF file with a XEN_ELFNOTE_PHYS32_ENTRY note (type 18, name "Xen"; the
 *    descriptor is the 32-bit physical entry, 4 or 8 bytes). PT_LOAD segments are loaded at p_paddr
 *    (bss zeroed), and a `struct hvm_start_info` (xen/include/public/arch-x86/hvm/start_info.h,
 *    version 1) is built:
 *
 *        0x07000           hvm_start_info (0x38 bytes; EBX points here)
 *        0x08000-0x08fff   memory map (24-byte hvm_memmap_table_entry from the e820 map), the
 *                          module list (one 32-byte hvm_modlist_entry: the initrd) and its name
 *        0x09000           command line (at most 4095 bytes)
 *        initrd            page-aligned, as high as possible below min(0x38000000, memBytes)
 *
 *    Entry: 32-bit protected mode, paging off, at the note's address, EBX = 0x7000, ESP = 0x7000,
 *    CS = 0x10 (32-bit), data 0x18, IF = 0.
 */

import type { LoadPlan } from "../boot_state.ts";
import { alignUp, hex, ImageReader, isPowerOfTwo, PAGE, StructWriter } from "./bytes.ts";
import { memUpperKiB } from "./e820.ts";
import { elfNotes, isElf, loadSegments, parseElf, placeSegments } from "./elf_file.ts";
import {
  BumpArea,
  cmdlineBytes,
  cstr,
  type LoadContext,
  loadContext,
  type LoadOptions,
  LOW,
  PlanBuilder,
} from "./plan.ts";
import { addGdt, addPageTables, long64Entry, prot32Entry } from "./x86.ts";

// ---------------------------------------------------------------------------------------------
// bzImage

/** "HdrS" at 0x202. */
export const HDRS_MAGIC = 0x53726448;
export const BOOT_FLAG = 0xaa55;
export const MIN_PROTOCOL = 0x206;

export const LOADED_HIGH = 1 << 0;
export const KEEP_SEGMENTS = 1 << 6;
export const CAN_USE_HEAP = 1 << 7;
export const XLF_KERNEL_64 = 1 << 0;
export const XLF_CAN_BE_LOADED_ABOVE_4G = 1 << 1;

/** The default kernel address and the initrd ceiling used by boot loaders (boot.rst). */
export const KERNEL_DEFAULT_ADDR = 0x100000;
export const INITRD_CEILING = 0x38000000;
/** heap_end_ptr: the end of the setup heap (0xe000) - 0x200, as in boot.rst's example. */
export const HEAP_END_PTR = 0xde00;

/** Offsets in struct boot_params (arch/x86/include/uapi/asm/bootparam.h). */
export const BP = {
  EXT_MEM_K: 0x002,
  ACPI_RSDP_ADDR: 0x070,
  ALT_MEM_K: 0x1e0,
  E820_ENTRIES: 0x1e8,
  HDR: 0x1f1,
  VID_MODE: 0x1fa,
  TYPE_OF_LOADER: 0x210,
  LOADFLAGS: 0x211,
  CODE32_START: 0x214,
  RAMDISK_IMAGE: 0x218,
  RAMDISK_SIZE: 0x21c,
  HEAP_END_PTR: 0x224,
  CMD_LINE_PTR: 0x228,
  E820_TABLE: 0x2d0,
  /** End of the setup header area (edd_mbr_sig_buffer follows). */
  HDR_LIMIT: 0x290,
  SIZE: 0x1000,
} as const;

/** The setup header of a bzImage (fields absent in the kernel's protocol version are 0). */
export interface SetupHeader {
  /** setup_sects as stored (0 means 4). */
  readonly setupSects: number;
  /** Bytes before the protected-mode kernel: (setup_sects || 4) + 1 sectors. */
  readonly setupBytes: number;
  /** syssize: protected-mode kernel size in 16-byte paragraphs. */
  readonly syssize: number;
  readonly bootFlag: number;
  /** 0x202 + the byte at 0x201: end of the header, as copied into boot_params. */
  readonly headerEnd: number;
  /** Protocol version, e.g. 0x20f. */
  readonly version: number;
  /** The kernel_version string (from the offset at 0x20e), or "". */
  readonly kernelVersion: string;
  readonly loadflags: number;
  readonly code32Start: number;
  readonly initrdAddrMax: number;
  readonly kernelAlignment: number;
  readonly relocatableKernel: boolean;
  readonly minAlignment: number;
  readonly xloadflags: number;
  readonly cmdlineSize: number;
  readonly payloadOffset: number;
  readonly payloadLength: number;
  readonly prefAddress: number;
  readonly initSize: number;
  readonly handoverOffset: number;
  readonly kernelInfoOffset: number;
}

/** Header end needed for the fields of each protocol version we read. */
function headerEndFor(version: number): number {
  if (version >= 0x20f) return 0x26c;
  if (version >= 0x20b) return 0x268;
  if (version >= 0x20a) return 0x264;
  if (version >= 0x208) return 0x250;
  return 0x23c;
}

function protocol(v: number): string {
  return `${v >> 8}.${(v & 0xff).toString().padStart(2, "0")}`;
}

/** Parses and checks the setup header of a bzImage. */
export function parseSetupHeader(f: ImageReader): SetupHeader {
  if (!f.has(0x202, 4)) {
    f.fail(`file is too short (${f.length} bytes) for a Linux setup header`);
  }
  if (f.u32(0x202, "setup header signature") !== HDRS_MAGIC) {
    f.fail('not a Linux bzImage: no "HdrS" signature at 0x202');
  }
  const version = f.u16(0x206, "boot protocol version");
  if (version < MIN_PROTOCOL) {
    f.fail(
      `Linux boot protocol ${protocol(version)} is too old (${
        protocol(MIN_PROTOCOL)
      } or later needed)`,
    );
  }
  const bootFlag = f.u16(0x1fe, "boot_flag");
  if (bootFlag !== BOOT_FLAG) f.fail(`boot_flag at 0x1fe is ${hex(bootFlag)}, not 0xaa55`);
  const headerEnd = 0x202 + f.u8(0x201, "setup header length");
  const needEnd = headerEndFor(version);
  if (headerEnd < needEnd) {
    f.fail(
      `setup header ends at ${hex(headerEnd)} but protocol ${protocol(version)} has fields up to ${
        hex(needEnd)
      }`,
    );
  }
  if (headerEnd > BP.HDR_LIMIT) {
    f.fail(`setup header ends at ${hex(headerEnd)}, past boot_params' header area (0x290)`);
  }
  f.need(0, headerEnd, "the setup header");
  const setupSects = f.u8(0x1f1, "setup_sects");
  const kvOff = f.u16(0x20e, "kernel_version");
  const kernelVersion = kvOff === 0 ? "" : f.cstring(0x200 + kvOff, 256) ?? "";
  const at = (v: number, read: () => number) => (version >= v ? read() : 0);
  return {
    setupSects,
    setupBytes: ((setupSects === 0 ? 4 : setupSects) + 1) * 512,
    syssize: f.u32(0x1f4, "syssize"),
    bootFlag,
    headerEnd,
    version,
    kernelVersion,
    loadflags: f.u8(0x211, "loadflags"),
    code32Start: f.u32(0x214, "code32_start"),
    initrdAddrMax: f.u32(0x22c, "initrd_addr_max"),
    kernelAlignment: f.u32(0x230, "kernel_alignment"),
    relocatableKernel: f.u8(0x234, "relocatable_kernel") !== 0,
    minAlignment: at(0x20a, () => f.u8(0x235, "min_alignment")),
    xloadflags: at(0x20c, () => f.u16(0x236, "xloadflags")),
    cmdlineSize: f.u32(0x238, "cmdline_size"),
    payloadOffset: at(0x208, () => f.u32(0x248, "payload_offset")),
    payloadLength: at(0x208, () => f.u32(0x24c, "payload_length")),
    prefAddress: at(0x20a, () => f.u64(0x258, "pref_address")),
    initSize: at(0x20a, () => f.u32(0x260, "init_size")),
    handoverOffset: at(0x20b, () => f.u32(0x264, "handover_offset")),
    kernelInfoOffset: at(0x20f, () => f.u32(0x268, "kernel_info_offset")),
  };
}

/** Where the kernel goes and how it is entered. */
export interface BzImageLayout {
  readonly header: SetupHeader;
  /** Physical load address of the protected-mode kernel. */
  readonly loadAddr: number;
  /** Where the kernel's decompressor runs (the load address, unless it moves itself). */
  readonly runAddr: number;
  /**
   * Bytes reserved from loadAddr: up to the end of the image or of the init_size buffer at
   * runAddr, whichever is higher. The initrd goes above.
   */
  readonly reserved: number;
  /** Protected-mode kernel size: syssize * 16. */
  readonly kernelBytes: number;
  readonly entry64: boolean;
}

function writeE820(ctx: LoadContext, w: StructWriter, at: number): void {
  ctx.e820.forEach((e, i) => {
    w.u64(at + i * 20, e.addr).u64(at + i * 20 + 8, e.size).u32(at + i * 20 + 16, e.type);
  });
}

/** Loads a Linux bzImage (see the module comment). */
export function loadLinuxBzImage(opts: LoadOptions): LoadPlan {
  return bzImagePlan(opts).plan;
}

/** `loadLinuxBzImage` with the chosen layout (for tests and diagnostics). */
export function bzImagePlan(opts: LoadOptions): { plan: LoadPlan; layout: BzImageLayout } {
  const ctx = loadContext(opts);
  const f = ctx.file;
  const h = parseSetupHeader(f);
  if ((h.loadflags & LOADED_HIGH) === 0) {
    f.fail("loadflags LOADED_HIGH is clear: a zImage (loaded at 0x10000) is not supported");
  }
  if (h.syssize === 0) f.fail("syssize is 0: no protected-mode kernel");
  const kernelBytes = h.syssize * 16;
  f.need(
    h.setupBytes,
    kernelBytes,
    `the protected-mode kernel (${h.setupBytes} setup bytes + syssize ${hex(h.syssize)} * 16)`,
  );
  const b = new PlanBuilder(ctx);
  b.reserveLowArea();

  // Where the image goes, and where its decompressor will work: a relocatable kernel moves itself
  // to max(load address aligned up to kernel_alignment, LOAD_PHYSICAL_ADDR = pref_address) and
  // needs init_size bytes there (arch/x86/boot/compressed/head_64.S); others to pref_address.
  const pref = h.prefAddress;
  const loadAddr = pref >= KERNEL_DEFAULT_ADDR && pref % PAGE === 0 &&
      b.isFree(pref, Math.max(h.initSize, kernelBytes))
    ? pref
    : KERNEL_DEFAULT_ADDR;
  if (h.relocatableKernel && !(isPowerOfTwo(h.kernelAlignment) && h.kernelAlignment >= PAGE)) {
    f.fail(`kernel_alignment ${hex(h.kernelAlignment)} is not a power of two of at least 4 KiB`);
  }
  const runAddr = h.relocatableKernel
    ? Math.max(alignUp(loadAddr, h.kernelAlignment), pref)
    : Math.max(pref, loadAddr);
  const end = Math.max(loadAddr + kernelBytes, runAddr + h.initSize);
  const reserved = end - loadAddr;
  b.reserve(
    runAddr === loadAddr
      ? `the kernel (init_size ${hex(h.initSize)})`
      : `the kernel and its decompression buffer at ${hex(runAddr)} (init_size ${hex(h.initSize)})`,
    loadAddr,
    reserved,
  );
  b.writeReserved(
    "protected-mode kernel",
    loadAddr,
    f.bytes.subarray(h.setupBytes, h.setupBytes + kernelBytes),
  );
  const entry64 = (h.xloadflags & XLF_KERNEL_64) !== 0;

  const bp = new StructWriter(BP.SIZE);
  bp.set(BP.HDR, f.bytes.subarray(BP.HDR, h.headerEnd));
  bp.u8(BP.TYPE_OF_LOADER, 0xff);
  bp.u8(BP.LOADFLAGS, (h.loadflags | CAN_USE_HEAP) & ~KEEP_SEGMENTS);
  bp.u16(BP.HEAP_END_PTR, HEAP_END_PTR);
  bp.u16(BP.VID_MODE, 0xffff);
  bp.u32(BP.CODE32_START, loadAddr);

  const maxCmdline = Math.min(h.cmdlineSize, LOW.CMDLINE_MAX);
  b.writeReserved("command line", LOW.CMDLINE, cmdlineBytes(ctx, ctx.cmdline, maxCmdline));
  bp.u32(BP.CMD_LINE_PTR, LOW.CMDLINE);

  if (ctx.initrd) {
    const r = ctx.initrd;
    const limit = Math.min(h.initrdAddrMax + 1, INITRD_CEILING);
    const at = b.highestFree(r.bytes.length, loadAddr + reserved, limit, PAGE);
    if (at < 0) {
      f.fail(
        `initrd ${r.name} (${r.bytes.length} bytes) does not fit in RAM between the kernel (ending at ${
          hex(loadAddr + reserved)
        }) and ${hex(Math.min(limit, ctx.memBytes))}`,
      );
    }
    b.write(`initrd ${r.name}`, at, r.bytes);
    bp.u32(BP.RAMDISK_IMAGE, at).u32(BP.RAMDISK_SIZE, r.bytes.length);
  }

  bp.u8(BP.E820_ENTRIES, ctx.e820.length);
  writeE820(ctx, bp, BP.E820_TABLE);
  const upper = memUpperKiB(ctx.ram);
  bp.u16(BP.EXT_MEM_K, Math.min(upper, 0xfc00)).u32(BP.ALT_MEM_K, upper);
  if (ctx.rsdpAddr) bp.u64(BP.ACPI_RSDP_ADDR, ctx.rsdpAddr);
  b.writeReserved("boot_params", LOW.BOOT_INFO, bp.bytes);

  let entry;
  if (entry64) {
    addGdt(b, "64");
    addPageTables(b);
    entry = long64Entry(loadAddr + 0x200, { rsi: LOW.BOOT_INFO, rsp: LOW.STACK_TOP });
  } else {
    addGdt(b, "32");
    entry = prot32Entry(loadAddr, {
      rsi: LOW.BOOT_INFO,
      rsp: LOW.STACK_TOP,
      rbp: 0,
      rdi: 0,
      rbx: 0,
    });
  }
  return {
    plan: b.plan(entry),
    layout: { header: h, loadAddr, runAddr, reserved, kernelBytes, entry64 },
  };
}

// ---------------------------------------------------------------------------------------------
// PVH

export const XEN_ELFNOTE_PHYS32_ENTRY = 18;
export const HVM_START_MAGIC = 0x336ec578;
export const HVM_START_INFO_SIZE = 0x38;

/** Offsets in struct hvm_start_info. */
export const HSI = {
  MAGIC: 0x00,
  VERSION: 0x04,
  FLAGS: 0x08,
  NR_MODULES: 0x0c,
  MODLIST_PADDR: 0x10,
  CMDLINE_PADDR: 0x18,
  RSDP_PADDR: 0x20,
  MEMMAP_PADDR: 0x28,
  MEMMAP_ENTRIES: 0x30,
} as const;

/**
 * The PVH entry point of an ELF file (its XEN_ELFNOTE_PHYS32_ENTRY note), or null if it has no
 * such note. Fails (LoadError) if the ELF file or the note is malformed.
 */
export function pvhEntry(f: ImageReader): number | null {
  const elf = parseElf(f);
  for (const n of elfNotes(f, elf)) {
    if (n.name !== "Xen" || n.type !== XEN_ELFNOTE_PHYS32_ENTRY) continue;
    const dv = new DataView(n.desc.buffer, n.desc.byteOffset, n.desc.byteLength);
    if (n.desc.length === 4) return dv.getUint32(0, true);
    if (n.desc.length === 8) {
      if (dv.getUint32(4, true) !== 0) {
        f.fail(`PVH entry note gives an entry point above 4 GiB`);
      }
      return dv.getUint32(0, true);
    }
    f.fail(`PVH entry note has a ${n.desc.length}-byte descriptor (expected 4 or 8)`);
  }
  return null;
}

/** Whether `image` is an ELF file with a PVH entry note (never throws). */
export function hasPvhNote(image: Uint8Array): boolean {
  if (!isElf(image)) return false;
  try {
    return pvhEntry(new ImageReader("", image)) !== null;
  } catch {
    return false;
  }
}

/** Loads a vmlinux (ELF) through its PVH entry point (see the module comment). */
export function loadLinuxPvh(opts: LoadOptions): LoadPlan {
  const ctx = loadContext(opts);
  const f = ctx.file;
  const entry = pvhEntry(f) ??
    f.fail('no PVH entry note (XEN_ELFNOTE_PHYS32_ENTRY, type 18, name "Xen")');
  const elf = parseElf(f);
  const segs = loadSegments(f, elf);
  if (!segs.some((s) => entry >= s.paddr && entry < s.paddr + s.memsz)) {
    f.fail(`PVH entry point ${hex(entry)} is not inside a loadable segment`);
  }
  const b = new PlanBuilder(ctx);
  b.reserveLowArea();
  const kernelEnd = placeSegments(b, f, segs, "kernel segment");

  const si = new StructWriter(HVM_START_INFO_SIZE);
  si.u32(HSI.MAGIC, HVM_START_MAGIC).u32(HSI.VERSION, 1).u32(HSI.FLAGS, 0);
  b.writeReserved("command line", LOW.CMDLINE, cmdlineBytes(ctx, ctx.cmdline, LOW.CMDLINE_MAX));
  si.u64(HSI.CMDLINE_PADDR, LOW.CMDLINE);
  si.u64(HSI.RSDP_PADDR, ctx.rsdpAddr);

  const extra = new BumpArea(b, LOW.BOOT_EXTRA, LOW.BOOT_EXTRA_END);
  const mm = new StructWriter(ctx.e820.length * 24);
  ctx.e820.forEach((e, i) =>
    mm.u64(i * 24, e.addr).u64(i * 24 + 8, e.size).u32(i * 24 + 16, e.type)
  );
  si.u64(HSI.MEMMAP_PADDR, extra.put("PVH memory map", mm.bytes));
  si.u32(HSI.MEMMAP_ENTRIES, ctx.e820.length);

  if (ctx.initrd) {
    const r = ctx.initrd;
    const at = b.highestFree(r.bytes.length, kernelEnd, INITRD_CEILING, PAGE);
    if (at < 0) {
      f.fail(
        `initrd ${r.name} (${r.bytes.length} bytes) does not fit in RAM between the kernel (ending at ${
          hex(kernelEnd)
        }) and ${hex(Math.min(INITRD_CEILING, ctx.memBytes))}`,
      );
    }
    b.write(`initrd ${r.name}`, at, r.bytes);
    const nameAddr = extra.put("initrd name", cstr(r.name), 1);
    const mod = new StructWriter(32).u64(0, at).u64(8, r.bytes.length).u64(16, nameAddr);
    si.u32(HSI.NR_MODULES, 1).u64(HSI.MODLIST_PADDR, extra.put("PVH module list", mod.bytes));
  }
  b.writeReserved("hvm_start_info", LOW.BOOT_INFO, si.bytes);
  addGdt(b, "32");
  return b.plan(prot32Entry(entry, { rbx: LOW.BOOT_INFO, rsp: LOW.STACK_TOP }));
}
