import assert from "node:assert/strict";
import { detectFormat, loadImage } from "./detect.ts";
import { LoadError } from "./errors.ts";
import { XEN_ELFNOTE_PHYS32_ENTRY } from "./linux.ts";
import { buildBzImage, buildElf, elfNote, multibootHeader, options } from "./testing.ts";

const seg = (data: Uint8Array) => [{ paddr: 0x100000, data }];

Deno.test("detectFormat: each format, and multiboot taking precedence over ELF", () => {
  const mb = multibootHeader(3);
  const data = new Uint8Array(64);
  assert.equal(detectFormat(buildElf({ cls: 32, entry: 0x100000, segments: seg(data) })), "elf32");
  assert.equal(detectFormat(buildElf({ cls: 64, entry: 0x100000, segments: seg(data) })), "elf64");
  const mb32 = buildElf({ cls: 32, entry: 0x100000, segments: seg(mb) });
  const mb64 = buildElf({ cls: 64, entry: 0x100000, segments: seg(mb) });
  assert.equal(detectFormat(mb32), "multiboot");
  assert.equal(detectFormat(mb64), "multiboot");
  const note = elfNote("Xen", XEN_ELFNOTE_PHYS32_ENTRY, new Uint8Array([0, 0, 0x10, 0]));
  const pvh = buildElf({
    cls: 64,
    entry: 0x100000,
    segments: [...seg(data), { type: 4, paddr: 0, data: note }],
  });
  assert.equal(detectFormat(pvh), "pvh-vmlinux");
  const otherNote = buildElf({
    cls: 64,
    entry: 0x100000,
    segments: [...seg(data), { type: 4, paddr: 0, data: elfNote("Xen", 17, new Uint8Array(4)) }],
  });
  assert.equal(detectFormat(otherNote), "elf64");
  assert.equal(detectFormat(buildBzImage({ kernel: new Uint8Array(512) })), "linux-bzimage");
  // A multiboot header after the first 8192 bytes, or misaligned, does not count.
  const late = new Uint8Array(8192 + 12);
  late.set(mb, 8192);
  assert.equal(detectFormat(late), "unknown");
  const edge = new Uint8Array(8192);
  edge.set(mb, 8180);
  assert.equal(detectFormat(edge), "multiboot");
  const odd = new Uint8Array(64);
  odd.set(mb, 2);
  assert.equal(detectFormat(odd), "unknown");
  assert.equal(detectFormat(new Uint8Array(0)), "unknown");
  assert.equal(detectFormat(new Uint8Array([0x7f, 0x45, 0x4c, 0x46])), "unknown");
});

Deno.test("loadImage dispatches by format and rejects unknown files", () => {
  const mb = buildElf({ cls: 32, entry: 0x100000, segments: seg(multibootHeader(3)) });
  assert.equal(loadImage(options("mb", mb)).entry.regs.rax, 0x2badb002);
  const e64 = buildElf({ cls: 64, entry: 0x100000, segments: seg(new Uint8Array(8)) });
  assert.equal(loadImage(options("e64", e64)).entry.mode, "long64");
  const bz = buildBzImage({ kernel: new Uint8Array(1024) });
  assert.equal(loadImage(options("bz", bz)).entry.rip, 0x1000200);
  assert.throws(
    () => loadImage(options("data.bin", new Uint8Array(100))),
    (e: unknown) =>
      e instanceof LoadError &&
      e.message ===
        "Cannot load guest data.bin: unrecognized image format (not a Linux bzImage, multiboot kernel or ELF file)",
  );
});
