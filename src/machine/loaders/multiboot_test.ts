import assert from "node:assert/strict";
import { Asm, dword } from "../../guests/asm.ts";
import { al, ax, ds, eax, ebx, ecx, es, esi, ss } from "../../guests/asm/operands.ts";
import { detectFormat } from "./detect.ts";
import { defaultE820 } from "./e820.ts";
import { LoadError } from "./errors.ts";
import { loadMultiboot, MBI_SIZE } from "./multiboot.ts";
import { LOW } from "./plan.ts";
import {
  buildElf,
  checkPlanInvariants,
  multibootHeader,
  options,
  PlanMemory,
  runPlan,
} from "./testing.ts";

const MEM = 32 << 20;

/**
 * A 32-bit multiboot kernel at `base`: checks EAX, the boot info flags, that the bss at `bss` is
 * zero, reloads DS/ES/SS (0x18) and CS (0x10) from the GDT, uses the stack, prints "OK" (or "F")
 * on port 0xe9 and halts.
 */
export function multibootKernelCode(base: number, bss: number, header: Uint8Array) {
  const a = new Asm({ base, bits: 32 });
  const fail = a.label("fail");
  const next = a.label("next");
  a.bytes(header);
  a.here("entry");
  a.cmp(eax, 0x2badb002).jne(fail);
  a.mov(eax, dword(ebx)).cmp(eax, 0x24d).jne(fail);
  a.mov(eax, dword(bss)).i("test", eax, eax).jnz(fail);
  a.mov(ax, 0x18).mov(ds, ax).mov(es, ax).mov(ss, ax);
  a.jmpFar(0x10, next);
  a.bind(next);
  a.push(0x1234).pop(ecx).cmp(ecx, 0x1234).jne(fail);
  a.mov(esi, dword(ebx, 16)); // cmdline
  a.mov(al, "O".charCodeAt(0)).out(0xe9, al).mov(al, "K".charCodeAt(0)).out(0xe9, al).hlt();
  a.bind(fail).mov(al, "F".charCodeAt(0)).out(0xe9, al).hlt();
  return a.assemble();
}

const HDR = multibootHeader(0x3);

function elf32Kernel(header = HDR) {
  const code = multibootKernelCode(0x100000, 0x102010, header);
  const data = new TextEncoder().encode("DATA0123456789ab");
  const image = buildElf({
    cls: 32,
    entry: code.addressOf("entry"),
    segments: [
      { paddr: 0x100000, data: code.bytes },
      { paddr: 0x102000, data, memsz: 0x3000 },
    ],
  });
  return { image, code, data };
}

const initrd = { name: "initrd.img", bytes: new Uint8Array(5000).map((_, i) => i * 7) };

Deno.test("multiboot ELF32: segments, bss, multiboot_info, module, mmap, GDT and entry state", () => {
  const { image, code, data } = elf32Kernel();
  assert.equal(detectFormat(image), "multiboot");
  const opts = options("kernel.elf", image, {
    memBytes: MEM,
    cmdline: "console=ttyS0 x=1",
    initrd,
  });
  const plan = loadMultiboot(opts);
  assert.equal(checkPlanInvariants(plan, MEM), null);
  const m = new PlanMemory(plan);

  // Segments by p_paddr, bss zeroed.
  assert.deepEqual(m.bytes(0x100000, code.bytes.length), code.bytes);
  assert.deepEqual(m.bytes(0x102000, 16), data);
  assert.deepEqual(m.bytes(0x102010, 0x3000 - 16), new Uint8Array(0x3000 - 16));

  // multiboot_info at 0x7000.
  const mbi = LOW.BOOT_INFO;
  assert.equal(m.write("multiboot_info").bytes.length, MBI_SIZE);
  assert.equal(m.u32(mbi), 0x24d); // mem, cmdline, mods, mmap, boot loader name
  assert.equal(m.u32(mbi + 4), 639); // mem_lower
  assert.equal(m.u32(mbi + 8), (MEM - 0x100000) / 1024); // mem_upper
  assert.equal(m.u32(mbi + 16), 0x9000);
  assert.equal(m.cstring(m.u32(mbi + 16)), "kernel.elf console=ttyS0 x=1");
  assert.equal(m.u32(mbi + 20), 1); // mods_count
  const mod = m.u32(mbi + 24);
  assert.ok(mod >= 0x8000 && mod < 0x9000);
  const modStart = m.u32(mod), modEnd = m.u32(mod + 4);
  assert.equal(modStart, 0x105000); // first page above the kernel's bss end 0x105000
  assert.equal(modEnd, modStart + 5000);
  assert.equal(m.cstring(m.u32(mod + 8)), "initrd.img");
  assert.equal(m.u32(mod + 12), 0);
  assert.deepEqual(m.bytes(modStart, 5000), initrd.bytes);
  // mmap
  const mmapLen = m.u32(mbi + 44), mmapAddr = m.u32(mbi + 48);
  const e820 = defaultE820(MEM);
  assert.equal(mmapLen, e820.length * 24);
  e820.forEach((e, i) => {
    const p = mmapAddr + i * 24;
    assert.equal(m.u32(p), 20);
    assert.equal(m.u64(p + 4), e.addr);
    assert.equal(m.u64(p + 12), e.size);
    assert.equal(m.u32(p + 20), e.type);
  });
  assert.equal(m.cstring(m.u32(mbi + 64)), "vtlrr");
  for (const off of [12, 28, 32, 36, 40, 52, 56, 60, 68]) assert.equal(m.u32(mbi + off), 0);

  // GDT: null, null, code32, data.
  assert.equal(m.u64(0x500), 0);
  assert.equal(m.u64(0x508), 0);
  assert.equal(m.u64(0x510), 0x00cf9b000000ffff);
  assert.equal(m.u64(0x518), 0x00cf93000000ffff);

  assert.deepEqual(plan.entry, {
    mode: "prot32",
    rip: code.addressOf("entry"),
    regs: { rax: 0x2badb002, rbx: 0x7000, rsp: 0x7000 },
    cs: { sel: 0x10, base: 0, limit: 0xffffffff, attr: 0xc09b },
    data: { sel: 0x18, base: 0, limit: 0xffffffff, attr: 0xc093 },
    gdt: { base: 0x500, limit: 0x1f },
    cr0: 0x11,
    cr3: 0,
    cr4: 0,
    efer: 0,
    rflags: 0x2,
  });
});

Deno.test("multiboot ELF32 kernel runs on the CPU and sees its boot state", () => {
  const { image } = elf32Kernel();
  const plan = loadMultiboot(options("kernel.elf", image, { memBytes: MEM, initrd }));
  const t = runPlan(plan, MEM);
  assert.deepEqual(t.host.exceptions, []);
  assert.equal(t.host.text(), "OK");
  assert.equal(t.cpu.lo[6], 0x9000); // esi = cmdline
});

Deno.test("multiboot: no initrd: mods_count 0, cmdline is the image name alone", () => {
  const plan = loadMultiboot(options("k", elf32Kernel().image, { memBytes: MEM }));
  const m = new PlanMemory(plan);
  assert.equal(m.u32(0x7000), 0x24d);
  assert.equal(m.u32(0x7000 + 20), 0);
  assert.equal(m.u32(0x7000 + 24), 0);
  assert.equal(m.cstring(0x9000), "k");
});

Deno.test("multiboot ELF64: loaded by p_paddr, entry translated from the virtual address", () => {
  const code = multibootKernelCode(0x200000, 0x201800, HDR);
  const vbase = 0xffffffff80200000n;
  const image = buildElf({
    cls: 64,
    entry: vbase + BigInt(code.addressOf("entry") - 0x200000),
    segments: [{ paddr: 0x200000, vaddr: vbase, data: code.bytes, memsz: 0x2000 }],
  });
  assert.equal(detectFormat(image), "multiboot");
  const plan = loadMultiboot(options("kvm-unit-test.elf", image, { memBytes: MEM }));
  assert.equal(plan.entry.rip, code.addressOf("entry"));
  assert.equal(plan.entry.mode, "prot32");
  const m = new PlanMemory(plan);
  assert.deepEqual(m.bytes(0x200000, code.bytes.length), code.bytes);
  assert.equal(m.u8(0x201fff), 0);
  assert.equal(runPlan(plan, MEM).host.text(), "OK");
});

Deno.test("multiboot a.out kludge: flat image placed by the header's address fields", () => {
  // File: 0x40 bytes of padding, the header at 0x40, code after it; loaded at 0x300000.
  const load = 0x300000;
  const fields = {
    headerAddr: load + 0x40,
    loadAddr: load,
    loadEndAddr: 0,
    bssEndAddr: load + 0x4000,
    entryAddr: 0, // patched below
  };
  const build = (entryAddr: number) => {
    const header = multibootHeader(0x10003, { ...fields, entryAddr });
    const a = new Asm({ base: load, bits: 32 });
    a.space(0x40, 0x90);
    const code = multibootKernelCode(load + 0x40, load + 0x3ff0, header);
    a.bytes(code.bytes);
    return { image: a.assemble().bytes, entry: code.addressOf("entry") };
  };
  const { entry } = build(0);
  const { image } = build(entry);
  assert.equal(detectFormat(image), "multiboot");
  const plan = loadMultiboot(options("flat.bin", image, { memBytes: MEM, initrd }));
  const m = new PlanMemory(plan);
  const k = m.write("the kernel image");
  assert.equal(k.addr, load);
  assert.equal(k.bytes.length, 0x4000);
  assert.deepEqual(k.bytes.subarray(0, image.length), image);
  assert.ok(k.bytes.subarray(image.length).every((x) => x === 0));
  assert.equal(plan.entry.rip, entry);
  assert.equal(m.u32(m.u32(0x7000 + 24)), load + 0x4000); // module after the bss
  assert.equal(runPlan(plan, MEM).host.text(), "OK");

  // load_end_addr limits what is loaded.
  const hdr2 = multibootHeader(0x10000, {
    ...fields,
    loadEndAddr: load + 0x60,
    entryAddr: load + 0x50,
  });
  const img2 = new Uint8Array(0x100).fill(0xcc);
  img2.set(hdr2, 0x40);
  const p2 = loadMultiboot(options("flat2.bin", img2, { memBytes: MEM }));
  const k2 = new PlanMemory(p2).write("the kernel image");
  assert.deepEqual(k2.bytes.subarray(0, 0x60), img2.subarray(0, 0x60));
  assert.ok(k2.bytes.subarray(0x60).every((x) => x === 0));
});

function throwsLoad(f: () => unknown, re: RegExp) {
  assert.throws(f, (e: unknown) => {
    assert.ok(e instanceof LoadError, `not a LoadError: ${e}`);
    assert.match(e.message, re);
    assert.ok(!e.message.includes("\n"));
    return true;
  });
}

Deno.test("multiboot: invalid images and options are LoadErrors naming the file", () => {
  const { image } = elf32Kernel();
  throwsLoad(
    () => loadMultiboot(options("video.elf", elf32Kernel(multibootHeader(0x7)).image)),
    /^Cannot load guest video\.elf: the multiboot header requires video mode information/,
  );
  throwsLoad(
    () => loadMultiboot(options("unk.elf", elf32Kernel(multibootHeader(0x20)).image)),
    /unknown features \(flags bits 0x20\)/,
  );
  const badHdr = multibootHeader(3);
  badHdr[8]! ^= 1; // checksum
  const bad = elf32Kernel(badHdr).image;
  assert.equal(detectFormat(bad), "elf32");
  throwsLoad(() => loadMultiboot(options("bad.elf", bad)), /bad\.elf: no multiboot header/);
  throwsLoad(() => loadMultiboot(options("none.bin", new Uint8Array(64))), /no multiboot header/);
  throwsLoad(
    () =>
      loadMultiboot(
        options("small.elf", image, {
          memBytes: 2 << 20,
          initrd: { name: "big", bytes: new Uint8Array(4 << 20) },
        }),
      ),
    /module big \(4194304 bytes\) does not fit in RAM above the kernel/,
  );
  throwsLoad(
    () => loadMultiboot(options("k.elf", image, { cmdline: "x".repeat(5000) })),
    /the command line is 5006 bytes long \(at most 4095/,
  );
  throwsLoad(
    () => loadMultiboot(options("k.elf", image, { memBytes: 3 << 20 | 1 })),
    /guest memory size/,
  );
  // A flat image over the loader's structures.
  const low = new Uint8Array(0x100);
  low.set(
    multibootHeader(0x10000, {
      headerAddr: 0x8000,
      loadAddr: 0x8000,
      loadEndAddr: 0,
      bssEndAddr: 0,
      entryAddr: 0x8010,
    }),
  );
  throwsLoad(
    () => loadMultiboot(options("low.bin", low)),
    /the kernel image at 0x8000-0x8100 overlaps the loader's boot structures at 0x500-0x16000/,
  );
  // Entry outside the image.
  const out = new Uint8Array(0x100);
  out.set(
    multibootHeader(0x10000, {
      headerAddr: 0x200000,
      loadAddr: 0x200000,
      loadEndAddr: 0,
      bssEndAddr: 0,
      entryAddr: 0x300000,
    }),
  );
  throwsLoad(() => loadMultiboot(options("out.bin", out)), /entry_addr 0x300000 is outside/);
  // Not ELF and no address fields.
  const raw = new Uint8Array(0x100);
  raw.set(multibootHeader(0), 0x10);
  throwsLoad(() => loadMultiboot(options("raw.bin", raw)), /is not ELF and its multiboot header/);
  // A segment in the 640K-1M hole.
  const hole = buildElf({ cls: 32, entry: 0xa0000, segments: [{ paddr: 0xa0000, data: HDR }] });
  throwsLoad(() => loadMultiboot(options("hole.elf", hole)), /is not in RAM/);
});
