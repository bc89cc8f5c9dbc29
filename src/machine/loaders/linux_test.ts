import assert from "node:assert/strict";
import { Asm, byte, dword, mem } from "../../guests/asm.ts";
import { al, ax, ds, eax, ebx, ecx, es, esi, rax, rsi, ss } from "../../guests/asm/operands.ts";
import { ImageReader } from "./bytes.ts";
import { detectFormat } from "./detect.ts";
import { defaultE820 } from "./e820.ts";
import { LoadError } from "./errors.ts";
import {
  BP,
  bzImagePlan,
  HSI,
  loadLinuxBzImage,
  loadLinuxPvh,
  parseSetupHeader,
  XEN_ELFNOTE_PHYS32_ENTRY,
} from "./linux.ts";
import { LOW } from "./plan.ts";
import {
  buildBzImage,
  buildElf,
  checkPlanInvariants,
  elfNote,
  options,
  PlanMemory,
  runPlan,
} from "./testing.ts";

const MEM = 64 << 20;
const enc = new TextEncoder();

/**
 * A protected-mode kernel for load address `base`: 32-bit entry at offset 0 (checks ESI and
 * EBX/EDI/EBP = 0), 64-bit entry at 0x200 (checks RSI). Both check boot_params ("HdrS",
 * type_of_loader, cmdline's first byte 'c', the initrd's first byte through the identity map),
 * reload the data segments and CS from the GDT, print "OK" (or "F") on port 0xe9 and halt.
 */
function kernelCode(base: number, initrdByte: number) {
  const a = new Asm({ base, bits: 32 });
  const f32 = a.label("fail32");
  const n32 = a.label("next32");
  a.cmp(dword(esi, 0x202), 0x53726448).jne(f32);
  a.cmp(byte(esi, 0x210), 0xff).jne(f32);
  a.i("or", ebx, ebx).jnz(f32);
  a.mov(eax, dword(esi, 0x228)).cmp(byte(eax), 0x63).jne(f32);
  a.mov(ax, 0x18).mov(ds, ax).mov(es, ax).mov(ss, ax);
  a.jmpFar(0x10, n32);
  a.bind(n32).mov(al, 0x4f).out(0xe9, al).mov(al, 0x4b).out(0xe9, al).hlt();
  a.bind(f32).mov(al, 0x46).out(0xe9, al).hlt();
  a.org(base + 0x200, 0xcc);
  a.bits(64);
  const f64 = a.label("fail64");
  const n64 = a.label("next64");
  a.cmp(dword(rsi, 0x202), 0x53726448).jne(f64);
  a.cmp(byte(rsi, 0x210), 0xff).jne(f64);
  a.mov(eax, dword(rsi, 0x228)).cmp(byte(rax), 0x63).jne(f64);
  a.mov(eax, dword(rsi, 0x218)).i("movzx", ecx, byte(rax)).cmp(ecx, initrdByte).jne(f64);
  a.mov(ax, 0x18).mov(ds, ax).mov(ss, ax);
  a.push(0x10).lea(rax, mem(n64)).push(rax).i("retfq");
  a.bind(n64).mov(al, 0x4f).out(0xe9, al).mov(al, 0x4b).out(0xe9, al).hlt();
  a.bind(f64).mov(al, 0x46).out(0xe9, al).hlt();
  a.align(4096, 0x90);
  return a.assemble().bytes;
}

const initrd = { name: "initramfs.cpio.gz", bytes: new Uint8Array(10000).map((_, i) => 0x5a + i) };

function throwsLoad(f: () => unknown, re: RegExp) {
  assert.throws(f, (e: unknown) => {
    assert.ok(e instanceof LoadError, `not a LoadError: ${e}`);
    assert.match(e.message, re);
    assert.ok(!e.message.includes("\n"));
    return true;
  });
}

Deno.test("bzImage: setup header parsed", () => {
  const image = buildBzImage({ kernel: kernelCode(0x1000000, 0x5a), kernelVersion: "6.9.9-x" });
  assert.equal(detectFormat(image), "linux-bzimage");
  const h = parseSetupHeader(new ImageReader("bz", image));
  assert.deepEqual(h, {
    setupSects: 4,
    setupBytes: 2560,
    syssize: 0x100,
    bootFlag: 0xaa55,
    headerEnd: 0x26c,
    version: 0x20f,
    kernelVersion: "6.9.9-x",
    loadflags: 1,
    code32Start: 0x100000,
    initrdAddrMax: 0x7fffffff,
    kernelAlignment: 0x200000,
    relocatableKernel: true,
    minAlignment: 21,
    xloadflags: 0x7f,
    cmdlineSize: 0x7ff,
    payloadOffset: 0x100,
    payloadLength: 0x80,
    prefAddress: 0x1000000,
    initSize: 0x200000,
    handoverOffset: 0x190,
    kernelInfoOffset: 0,
  });
});

Deno.test("bzImage 64-bit: kernel, boot_params, cmdline, initrd, e820, page tables, GDT, entry", () => {
  const kernel = kernelCode(0x1000000, 0x5a);
  const image = buildBzImage({ kernel, trailer: new Uint8Array(100).fill(0xee) });
  const opts = options("vmlinuz", image, {
    cmdline: "console=ttyS0 quiet",
    initrd,
    rsdpAddr: 0xe0000,
  });
  const { plan, layout } = bzImagePlan(opts);
  assert.equal(checkPlanInvariants(plan, MEM), null);
  assert.equal(layout.loadAddr, 0x1000000);
  assert.equal(layout.runAddr, 0x1000000);
  assert.equal(layout.reserved, 0x200000);
  assert.equal(layout.kernelBytes, kernel.length);
  assert.equal(layout.entry64, true);
  const m = new PlanMemory(plan);
  // The protected-mode kernel, without the setup sectors or the trailer.
  assert.deepEqual(
    m.write("protected-mode kernel").bytes,
    image.subarray(2560, 2560 + kernel.length),
  );
  assert.equal(m.write("protected-mode kernel").addr, 0x1000000);

  const bp = LOW.BOOT_INFO;
  assert.equal(m.write("boot_params").bytes.length, 4096);
  // The setup header is copied, except for the fields the loader writes.
  const mine = new Set<number>();
  for (
    const [off, len] of [[0x1fa, 2], [0x210, 1], [0x211, 1], [0x214, 4], [0x218, 8], [0x224, 2], [
      0x228,
      4,
    ]]
  ) {
    for (let i = 0; i < len!; i++) mine.add(off! + i);
  }
  for (let o = 0x1f1; o < 0x26c; o++) {
    if (!mine.has(o)) assert.equal(m.u8(bp + o), image[o], `boot_params byte ${o.toString(16)}`);
  }
  for (let o = 0x26c; o < 0x290; o++) assert.equal(m.u8(bp + o), 0);
  assert.equal(m.u8(bp + BP.TYPE_OF_LOADER), 0xff);
  assert.equal(m.u8(bp + BP.LOADFLAGS), 0x81);
  assert.equal(m.u16(bp + BP.HEAP_END_PTR), 0xde00);
  assert.equal(m.u16(bp + BP.VID_MODE), 0xffff);
  assert.equal(m.u32(bp + BP.CODE32_START), 0x1000000);
  assert.equal(m.u32(bp + BP.CMD_LINE_PTR), 0x9000);
  assert.equal(m.cstring(0x9000), "console=ttyS0 quiet");
  // initrd: page-aligned at the top of RAM.
  const rd = m.u32(bp + BP.RAMDISK_IMAGE);
  assert.equal(rd, Math.floor((MEM - 10000) / 4096) * 4096);
  assert.equal(m.u32(bp + BP.RAMDISK_SIZE), 10000);
  assert.deepEqual(m.bytes(rd, 10000), initrd.bytes);
  // e820
  const e820 = defaultE820(MEM);
  assert.equal(m.u8(bp + BP.E820_ENTRIES), e820.length);
  e820.forEach((e, i) => {
    const p = bp + BP.E820_TABLE + i * 20;
    assert.deepEqual([m.u64(p), m.u64(p + 8), m.u32(p + 16)], [e.addr, e.size, e.type]);
  });
  assert.equal(m.u64(bp + BP.E820_TABLE + e820.length * 20), 0);
  assert.equal(m.u16(bp + BP.EXT_MEM_K), 0xfc00);
  assert.equal(m.u32(bp + BP.ALT_MEM_K), (MEM - 0x100000) / 1024);
  assert.equal(m.u64(bp + BP.ACPI_RSDP_ADDR), 0xe0000);
  // Everything else in the zero page is zero.
  const zeroRanges = [[0, 2], [4, 0x70], [0x78, 0x1e0], [0x1e4, 0x1e8], [0x1e9, 0x1f1]];
  for (const [a, b] of zeroRanges) {
    for (let o = a!; o < b!; o++) {
      assert.equal(m.u8(bp + o), 0, `boot_params byte ${o.toString(16)}`);
    }
  }
  for (let o = BP.E820_TABLE + e820.length * 20; o < 4096; o++) assert.equal(m.u8(bp + o), 0);

  // Page tables: PML4[0] -> PDPT, PDPT[0..3] -> PDs, 2 MiB identity pages up to 4 GiB.
  const pt = LOW.PAGE_TABLES;
  assert.equal(m.u64(pt), 0x11003);
  for (let i = 1; i < 512; i++) assert.equal(m.u64(pt + i * 8), 0);
  for (let i = 0; i < 4; i++) assert.equal(m.u64(pt + 0x1000 + i * 8), 0x12003 + i * 0x1000);
  for (let i = 4; i < 512; i++) assert.equal(m.u64(pt + 0x1000 + i * 8), 0);
  for (let g = 0; g < 4; g++) {
    for (let j = 0; j < 512; j++) {
      assert.equal(m.u64(pt + 0x2000 + g * 0x1000 + j * 8), g * 2 ** 30 + j * 2 ** 21 + 0x83);
    }
  }
  // GDT: __BOOT_CS 64-bit code, __BOOT_DS data.
  assert.equal(m.u64(0x500), 0);
  assert.equal(m.u64(0x508), 0);
  assert.equal(m.u64(0x510), 0x00af9b000000ffff);
  assert.equal(m.u64(0x518), 0x00cf93000000ffff);

  assert.deepEqual(plan.entry, {
    mode: "long64",
    rip: 0x1000200,
    regs: { rsi: 0x7000, rsp: 0x7000 },
    cs: { sel: 0x10, base: 0, limit: 0xffffffff, attr: 0xa09b },
    data: { sel: 0x18, base: 0, limit: 0xffffffff, attr: 0xc093 },
    gdt: { base: 0x500, limit: 0x1f },
    cr0: 0x80000011,
    cr3: 0x10000,
    cr4: 0x20,
    efer: 0x500,
    rflags: 0x2,
  });
  assert.deepEqual(loadLinuxBzImage(opts), plan);
});

Deno.test("bzImage 64-bit entry runs on the CPU: paging, GDT, RSI = boot_params", () => {
  const image = buildBzImage({ kernel: kernelCode(0x1000000, 0x5a) });
  const plan = loadLinuxBzImage(options("vmlinuz", image, { cmdline: "console=ttyS0", initrd }));
  const t = runPlan(plan, MEM);
  assert.deepEqual(t.host.exceptions, []);
  assert.equal(t.host.text(), "OK");
});

Deno.test("bzImage: at 0x100000 without a usable pref_address; decompression buffer reserved", () => {
  const mem = 16 << 20;
  const image = buildBzImage({ kernel: kernelCode(0x100000, 0x5a), prefAddress: 0 });
  const { plan, layout } = bzImagePlan(
    options("vmlinuz", image, { memBytes: mem, cmdline: "c", initrd }),
  );
  assert.equal(layout.loadAddr, 0x100000);
  assert.equal(layout.runAddr, 0x200000); // aligned up to kernel_alignment
  assert.equal(layout.reserved, 0x300000);
  assert.equal(plan.entry.rip, 0x100200);
  assert.equal(new PlanMemory(plan).u32(0x7000 + BP.CODE32_START), 0x100000);
  assert.equal(runPlan(plan, mem).host.text(), "OK");
  // pref_address + init_size beyond RAM: the kernel could not decompress itself.
  throwsLoad(
    () =>
      loadLinuxBzImage(
        options("big", buildBzImage({ kernel: kernelCode(0x100000, 0), initSize: 0x400000 }), {
          memBytes: 16 << 20,
        }),
      ),
    /^Cannot load guest big: the kernel and its decompression buffer at 0x1000000 \(init_size 0x400000\) at 0x100000-0x1400000 does not fit in guest memory \(0x1000000 bytes\)$/,
  );
});

Deno.test("bzImage without XLF_KERNEL_64: 32-bit boot protocol at the load address", () => {
  const image = buildBzImage({
    kernel: kernelCode(0x1000000, 0x5a),
    xloadflags: 0,
    version: 0x20a,
  });
  const { plan, layout } = bzImagePlan(options("vmlinuz32", image, { cmdline: "c" }));
  assert.equal(layout.entry64, false);
  assert.deepEqual(plan.entry, {
    mode: "prot32",
    rip: 0x1000000,
    regs: { rsi: 0x7000, rsp: 0x7000, rbp: 0, rdi: 0, rbx: 0 },
    cs: { sel: 0x10, base: 0, limit: 0xffffffff, attr: 0xc09b },
    data: { sel: 0x18, base: 0, limit: 0xffffffff, attr: 0xc093 },
    gdt: { base: 0x500, limit: 0x1f },
    cr0: 0x11,
    cr3: 0,
    cr4: 0,
    efer: 0,
    rflags: 0x2,
  });
  assert.ok(!plan.writes.some((w) => w.what === "identity page tables"));
  assert.equal(new PlanMemory(plan).u64(0x510), 0x00cf9b000000ffff);
  assert.equal(runPlan(plan, MEM).host.text(), "OK");
});

Deno.test("bzImage: initrd respects initrd_addr_max and the 0x38000000 ceiling", () => {
  const kernel = kernelCode(0x1000000, 0);
  const low = buildBzImage({ kernel, initrdAddrMax: 0x1ffffff });
  const m1 = new PlanMemory(loadLinuxBzImage(options("v", low, { initrd })));
  const at1 = m1.u32(0x7000 + BP.RAMDISK_IMAGE);
  assert.equal(at1, Math.floor((0x2000000 - 10000) / 4096) * 4096);
  const big = 1 << 30;
  const m2 = new PlanMemory(
    loadLinuxBzImage(options("v", buildBzImage({ kernel }), { memBytes: big, initrd })),
  );
  assert.equal(m2.u32(0x7000 + BP.RAMDISK_IMAGE), Math.floor((0x38000000 - 10000) / 4096) * 4096);
});

Deno.test("bzImage: invalid images are LoadErrors naming the file", () => {
  const kernel = kernelCode(0x1000000, 0);
  throwsLoad(
    () => loadLinuxBzImage(options("old", buildBzImage({ kernel, version: 0x205 }))),
    /^Cannot load guest old: Linux boot protocol 2\.05 is too old \(2\.06 or later needed\)$/,
  );
  throwsLoad(
    () => loadLinuxBzImage(options("z", buildBzImage({ kernel, loadflags: 0 }))),
    /LOADED_HIGH is clear/,
  );
  const img = buildBzImage({ kernel });
  throwsLoad(
    () => loadLinuxBzImage(options("trunc", img.subarray(0, img.length - 1))),
    /^Cannot load guest trunc: the protected-mode kernel \(2560 setup bytes \+ syssize 0x100 \* 16\) extends past the end of the file \(offset 0xa00 \+ 0x1000 > 0x19ff\)$/,
  );
  throwsLoad(
    () =>
      loadLinuxBzImage(
        options("v", buildBzImage({ kernel, cmdlineSize: 10 }), { cmdline: "console=ttyS0" }),
      ),
    /the command line is 13 bytes long \(at most 10 are supported\)/,
  );
  throwsLoad(
    () =>
      loadLinuxBzImage(
        options("v", img, { initrd: { name: "huge.img", bytes: new Uint8Array(63 << 20) } }),
      ),
    /initrd huge\.img \(66060288 bytes\) does not fit in RAM between the kernel \(ending at 0x1200000\) and 0x4000000/,
  );
  const badFlag = img.slice();
  badFlag[0x1fe] = 0;
  throwsLoad(
    () => loadLinuxBzImage(options("v", badFlag)),
    /boot_flag at 0x1fe is 0xaa00, not 0xaa55/,
  );
  const shortHdr = img.slice();
  shortHdr[0x201] = 0x50;
  throwsLoad(
    () => loadLinuxBzImage(options("v", shortHdr)),
    /setup header ends at 0x252 but protocol 2\.15 has fields up to 0x26c/,
  );
  throwsLoad(() => loadLinuxBzImage(options("tiny", img.subarray(0, 0x100))), /too short/);
  throwsLoad(
    () =>
      loadLinuxBzImage(
        options(
          "elf",
          buildElf({
            cls: 64,
            entry: 0x100000,
            segments: [{ paddr: 0x100000, data: new Uint8Array(0x300) }],
          }),
        ),
      ),
    /no "HdrS" signature/,
  );
});

// ---------------------------------------------------------------------------------------------
// PVH

/** A vmlinux-style ELF64: text at 16 MiB (virtual 0xffffffff81000000), bss, PVH note. */
function pvhKernel(noteDescBytes: 4 | 8 = 8) {
  const base = 0x1000000;
  const a = new Asm({ base, bits: 32 });
  const fail = a.label("fail");
  const next = a.label("next");
  a.here("pvh_start");
  a.cmp(dword(ebx), 0x336ec578).jne(fail);
  a.mov(eax, dword(ebx, 0x18)).cmp(byte(eax), 0x63).jne(fail); // cmdline "c..."
  a.mov(ax, 0x18).mov(ds, ax).mov(ss, ax);
  a.jmpFar(0x10, next);
  a.bind(next).mov(al, 0x4f).out(0xe9, al).mov(al, 0x4b).out(0xe9, al).hlt();
  a.bind(fail).mov(al, 0x46).out(0xe9, al).hlt();
  const code = a.assemble();
  const entry = code.addressOf("pvh_start");
  const desc = new Uint8Array(noteDescBytes);
  new DataView(desc.buffer).setUint32(0, entry, true);
  const notes = new Uint8Array([
    ...elfNote("GNU", 3, new Uint8Array(20).fill(0xab)),
    ...elfNote("Xen", 6, enc.encode("linux\0")),
    ...elfNote("Xen", XEN_ELFNOTE_PHYS32_ENTRY, desc),
  ]);
  const image = buildElf({
    cls: 64,
    entry: 0xffffffff81000000n,
    segments: [
      { paddr: base, vaddr: 0xffffffff81000000n, data: code.bytes, memsz: 0x3000, align: 0x200000 },
      { type: 4, paddr: 0, vaddr: 0, data: notes, align: 4 },
      { paddr: 0x1200000, vaddr: 0n, data: new Uint8Array(64).fill(7), align: 0x1000 },
    ],
  });
  return { image, entry, code };
}

Deno.test("PVH vmlinux: segments, hvm_start_info, memmap, module, cmdline, entry", () => {
  const { image, entry, code } = pvhKernel();
  assert.equal(detectFormat(image), "pvh-vmlinux");
  const opts = options("vmlinux", image, { cmdline: "console=hvc0", initrd });
  const plan = loadLinuxPvh(opts);
  assert.equal(checkPlanInvariants(plan, MEM), null);
  const m = new PlanMemory(plan);
  assert.deepEqual(m.bytes(0x1000000, code.bytes.length), code.bytes);
  assert.ok(
    m.bytes(0x1000000 + code.bytes.length, 0x3000 - code.bytes.length).every((x) => x === 0),
  );
  assert.deepEqual(m.bytes(0x1200000, 64), new Uint8Array(64).fill(7));

  const si = LOW.BOOT_INFO;
  assert.equal(m.write("hvm_start_info").bytes.length, 0x38);
  assert.equal(m.u32(si + HSI.MAGIC), 0x336ec578);
  assert.equal(m.u32(si + HSI.VERSION), 1);
  assert.equal(m.u32(si + HSI.FLAGS), 0);
  assert.equal(m.u32(si + HSI.NR_MODULES), 1);
  assert.equal(m.u64(si + HSI.CMDLINE_PADDR), 0x9000);
  assert.equal(m.cstring(0x9000), "console=hvc0");
  assert.equal(m.u64(si + HSI.RSDP_PADDR), 0);
  const e820 = defaultE820(MEM);
  assert.equal(m.u32(si + HSI.MEMMAP_ENTRIES), e820.length);
  assert.equal(m.u32(si + 0x34), 0);
  const mm = m.u64(si + HSI.MEMMAP_PADDR);
  assert.equal(mm, 0x8000);
  e820.forEach((e, i) => {
    const p = mm + i * 24;
    assert.deepEqual([m.u64(p), m.u64(p + 8), m.u32(p + 16), m.u32(p + 20)], [
      e.addr,
      e.size,
      e.type,
      0,
    ]);
  });
  const ml = m.u64(si + HSI.MODLIST_PADDR);
  assert.ok(ml > 0x8000 && ml < 0x9000 && ml % 8 === 0);
  const rd = m.u64(ml);
  assert.equal(rd, Math.floor((MEM - 10000) / 4096) * 4096);
  assert.equal(m.u64(ml + 8), 10000);
  assert.equal(m.cstring(m.u64(ml + 16)), "initramfs.cpio.gz");
  assert.equal(m.u64(ml + 24), 0);
  assert.deepEqual(m.bytes(rd, 10000), initrd.bytes);

  assert.deepEqual(plan.entry, {
    mode: "prot32",
    rip: entry,
    regs: { rbx: 0x7000, rsp: 0x7000 },
    cs: { sel: 0x10, base: 0, limit: 0xffffffff, attr: 0xc09b },
    data: { sel: 0x18, base: 0, limit: 0xffffffff, attr: 0xc093 },
    gdt: { base: 0x500, limit: 0x1f },
    cr0: 0x11,
    cr3: 0,
    cr4: 0,
    efer: 0,
    rflags: 0x2,
  });
  assert.equal(
    new PlanMemory(loadLinuxPvh({ ...opts, rsdpAddr: 0xe0000 })).u64(si + HSI.RSDP_PADDR),
    0xe0000,
  );
});

Deno.test("PVH vmlinux runs on the CPU (4-byte entry note, no initrd)", () => {
  const { image } = pvhKernel(4);
  const plan = loadLinuxPvh(options("vmlinux", image, { cmdline: "console=hvc0" }));
  const m = new PlanMemory(plan);
  assert.equal(m.u32(0x7000 + HSI.NR_MODULES), 0);
  assert.equal(m.u64(0x7000 + HSI.MODLIST_PADDR), 0);
  const t = runPlan(plan, MEM);
  assert.deepEqual(t.host.exceptions, []);
  assert.equal(t.host.text(), "OK");
});

Deno.test("PVH: invalid notes and images are LoadErrors", () => {
  const { image } = pvhKernel();
  const plain = buildElf({
    cls: 64,
    entry: 0x100000,
    segments: [{ paddr: 0x100000, data: new Uint8Array(16) }],
  });
  throwsLoad(
    () => loadLinuxPvh(options("plain", plain)),
    /^Cannot load guest plain: no PVH entry note/,
  );
  // Entry moved outside the segments: patch the descriptor (last 8 bytes of the note segment).
  const i = image.findLastIndex((_, j) =>
    image[j] === 0x58 && image[j + 1] === 0x65 && image[j + 2] === 0x6e && image[j + 4] === 0
  );
  const moved = image.slice();
  new DataView(moved.buffer).setUint32(i + 4, 0x3000000, true);
  throwsLoad(
    () => loadLinuxPvh(options("moved", moved)),
    /PVH entry point 0x3000000 is not inside a loadable segment/,
  );
  new DataView(moved.buffer).setUint32(i + 8, 1, true);
  throwsLoad(() => loadLinuxPvh(options("high", moved)), /entry point above 4 GiB/);
  throwsLoad(
    () => loadLinuxPvh(options("small", image, { memBytes: 16 << 20 })),
    /kernel segment \(program header 0\) at 0x1000000-0x1003000 does not fit in guest memory/,
  );
});

// ---------------------------------------------------------------------------------------------
// The real Debian kernel fetched by tools/linux/fetch.sh (skipped if absent).

const CACHE = new URL("../../../cache/linux/", import.meta.url);
function readCache(name: string): Uint8Array | null {
  try {
    return Deno.readFileSync(new URL(name, CACHE));
  } catch {
    return null;
  }
}
const realKernel = (() => {
  try {
    return Deno.statSync(new URL("vmlinuz", CACHE)).isFile;
  } catch {
    return false;
  }
})();

Deno.test({
  name: "real Debian vmlinuz (cache/linux, from tools/linux/fetch.sh): header and 64-bit plan",
  ignore: !realKernel,
  fn() {
    const image = readCache("vmlinuz")!;
    const rd = readCache("initramfs.cpio.gz");
    assert.equal(detectFormat(image), "linux-bzimage");
    const h = parseSetupHeader(new ImageReader("vmlinuz", image));
    assert.ok(h.version >= 0x20c, `protocol ${h.version.toString(16)}`);
    assert.ok(h.xloadflags & 1, "XLF_KERNEL_64");
    assert.ok(h.loadflags & 1, "LOADED_HIGH");
    assert.ok(h.relocatableKernel);
    assert.match(h.kernelVersion, /^\d+\.\d+\.\d+/);
    assert.ok(h.setupBytes + h.syssize * 16 <= image.length);
    assert.ok(h.initSize > h.syssize * 16);
    const mem = 512 << 20;
    const initrd = rd ? { name: "initramfs.cpio.gz", bytes: rd } : undefined;
    const { plan, layout } = bzImagePlan(
      options("vmlinuz", image, {
        memBytes: mem,
        cmdline: "console=ttyS0 earlyprintk=serial",
        initrd,
      }),
    );
    assert.equal(checkPlanInvariants(plan, mem), null);
    assert.equal(layout.loadAddr, h.prefAddress);
    assert.equal(plan.entry.mode, "long64");
    assert.equal(plan.entry.rip, h.prefAddress + 0x200);
    const m = new PlanMemory(plan);
    assert.equal(m.u32(0x7000 + 0x202), 0x53726448);
    assert.equal(m.u16(0x7000 + 0x206), h.version);
    assert.equal(m.cstring(m.u32(0x7000 + BP.CMD_LINE_PTR)), "console=ttyS0 earlyprintk=serial");
    if (rd) {
      const at = m.u32(0x7000 + BP.RAMDISK_IMAGE);
      assert.ok(
        at >= layout.loadAddr + layout.reserved && at + rd.length <= mem && at % 4096 === 0,
      );
      assert.equal(m.u32(0x7000 + BP.RAMDISK_SIZE), rd.length);
    }
  },
});
