import { strict as assert } from "node:assert";
import { Decoder, DecoderOptions, Formatter, FormatterSyntax } from "iced-x86";
import { Asm, type AsmImage, ax, mem } from "./asm.ts";
import {
  descriptorPointer,
  gateLow,
  gdt,
  idt32,
  idt64,
  pageTables4,
  PTE,
  pte,
  PTE_A,
  PTE_D,
  PTE_G,
  PTE_NX,
  PTE_P,
  PTE_PCD,
  PTE_PS,
  PTE_PWT,
  PTE_RW,
  PTE_US,
  segmentDescriptor,
  systemDescriptor64,
  tss64,
} from "./x86_structs.ts";

// ---------------------------------------------------------------------------------------------
// Helpers

function view(img: AsmImage): DataView {
  return new DataView(img.bytes.buffer, img.bytes.byteOffset, img.bytes.byteLength);
}

function q(img: AsmImage, addr: number): bigint {
  return view(img).getBigUint64(addr - img.base, true);
}

function d32(img: AsmImage, addr: number): number {
  return view(img).getUint32(addr - img.base, true);
}

function w16(img: AsmImage, addr: number): number {
  return view(img).getUint16(addr - img.base, true);
}

/** Decoded page-table entry. */
function entry(v: bigint) {
  return {
    p: (v & 1n) !== 0n,
    rw: (v & 2n) !== 0n,
    us: (v & 4n) !== 0n,
    ps: (v & 0x80n) !== 0n,
    nx: (v >> 63n) === 1n,
    addr: Number(v & 0x000f_ffff_ffff_f000n),
  };
}

/** Decoded segment descriptor (SDM Figure 3-8). */
function seg(v: bigint) {
  const limitRaw = Number((v & 0xffffn) | (((v >> 48n) & 0xfn) << 16n));
  const g = Number((v >> 55n) & 1n);
  return {
    base: Number(((v >> 16n) & 0xffffffn) | (((v >> 56n) & 0xffn) << 24n)),
    limit: g ? limitRaw * 4096 + 0xfff : limitRaw,
    type: Number((v >> 40n) & 0xfn),
    s: Number((v >> 44n) & 1n),
    dpl: Number((v >> 45n) & 3n),
    p: Number((v >> 47n) & 1n),
    avl: Number((v >> 52n) & 1n),
    l: Number((v >> 53n) & 1n),
    db: Number((v >> 54n) & 1n),
    g,
  };
}

/** Decoded gate (SDM Figures 6-2 and 6-8). */
function gate(lo: bigint, hi = 0n) {
  return {
    offset: Number((lo & 0xffffn) | (((lo >> 48n) & 0xffffn) << 16n) | ((hi & 0xffffffffn) << 32n)),
    selector: Number((lo >> 16n) & 0xffffn),
    ist: Number((lo >> 32n) & 7n),
    type: Number((lo >> 40n) & 0xfn),
    dpl: Number((lo >> 45n) & 3n),
    p: Number((lo >> 47n) & 1n),
  };
}

// ---------------------------------------------------------------------------------------------
// Page tables

Deno.test("pte flag constants match the SDM bit positions", () => {
  assert.deepEqual(
    [PTE_P, PTE_RW, PTE_US, PTE_PWT, PTE_PCD, PTE_A, PTE_D, PTE_PS, PTE_G, PTE_NX],
    [1n, 2n, 4n, 8n, 0x10n, 0x20n, 0x40n, 0x80n, 0x100n, 0x8000_0000_0000_0000n],
  );
  assert.equal(PTE.NX, PTE_NX);
  assert.equal(pte(0x20_0000, PTE_P | PTE_RW | PTE_PS), 0x20_0083n);
  assert.equal(pte(0x1234_5000n, PTE_P | PTE_NX), 0x8000_0000_1234_5001n);
  assert.throws(() => pte(0x1001, PTE_P), /not a 4 KiB-aligned/);
  assert.throws(() => pte(0x1000, 0x1000), /overlap the address bits/);
  assert.throws(() => pte(0x1000, PTE_P | PTE_PS), /not 2 MiB-aligned/);
  assert.throws(() => pte(1n << 52n, PTE_P), /52-bit/);
});

Deno.test("pageTables4 with 2 MiB pages identity-maps 1 GiB", () => {
  const a = new Asm({ base: 0x10_0000 });
  a.mov(ax, 1).db(1); // misalign on purpose
  const pml4 = pageTables4(a, { identityBytes: 1 << 30, pageSize: "2M", name: "pml4" });
  const img = a.assemble();
  const p4 = img.addressOf(pml4);
  assert.equal(img.labels.get("pml4"), p4);
  assert.equal(p4 % 4096, 0);
  // PML4, one PDPT, one PD
  assert.equal(img.end - p4, 3 * 4096);
  const e4 = entry(q(img, p4));
  assert.deepEqual({ ...e4, addr: 0 }, {
    p: true,
    rw: true,
    us: false,
    ps: false,
    nx: false,
    addr: 0,
  });
  assert.equal(e4.addr, p4 + 4096);
  for (let i = 1; i < 512; i++) assert.equal(q(img, p4 + 8 * i), 0n);
  const e3 = entry(q(img, e4.addr));
  assert.equal(e3.addr, p4 + 2 * 4096);
  assert.ok(e3.p && e3.rw && !e3.ps);
  for (let i = 1; i < 512; i++) assert.equal(q(img, e4.addr + 8 * i), 0n);
  for (let i = 0; i < 512; i++) {
    const raw = q(img, e3.addr + 8 * i);
    assert.equal(raw, BigInt(i) * 0x20_0000n | 0x83n, `PDE ${i}`);
  }
});

Deno.test("pageTables4 with 4 KiB pages, user + NX flags, from a non-zero base", () => {
  const a = new Asm({ base: 0x8000 });
  const pml4 = pageTables4(a, {
    base: 0x20_0000,
    identityBytes: 0x40_0000 + 1, // rounds up to 1025 pages: two PTs plus one entry of a third
    pageSize: "4K",
    flags: PTE_P | PTE_RW | PTE_US | PTE_NX,
  });
  const img = a.assemble();
  const p4 = img.addressOf(pml4);
  // PML4 + PDPT + PD + 3 PTs
  assert.equal(img.end - p4, 6 * 4096);
  const e4 = entry(q(img, p4));
  assert.ok(e4.us && !e4.nx, "non-leaf entries get US (the leaves decide) and never NX");
  const pd = entry(q(img, e4.addr)).addr;
  // 0x200000 is PD index 1, up to index 3
  assert.equal(q(img, pd), 0n);
  const pts = [1, 2, 3].map((i) => entry(q(img, pd + 8 * i)));
  assert.ok(pts.every((e) => e.p && e.rw && e.us && !e.ps));
  assert.equal(q(img, pd + 8 * 4), 0n);
  for (let i = 0; i < 512; i++) {
    const e = entry(q(img, pts[0].addr + 8 * i));
    assert.deepEqual(e, {
      p: true,
      rw: true,
      us: true,
      ps: false,
      nx: true,
      addr: 0x20_0000 + i * 4096,
    });
  }
  assert.equal(entry(q(img, pts[2].addr)).addr, 0x60_0000);
  assert.equal(q(img, pts[2].addr + 8), 0n);
});

Deno.test("pageTables4 with 1 GiB pages and a range crossing a PML4 entry", () => {
  const a = new Asm({ base: 0 });
  const base = 2 ** 39 - 2 ** 30; // the last GiB of PML4 entry 0
  const pml4 = pageTables4(a, { base, identityBytes: 2 ** 31, pageSize: "1G", flags: PTE_P });
  const img = a.assemble();
  const p4 = img.addressOf(pml4);
  assert.equal(img.end - p4, 3 * 4096); // PML4 + 2 PDPTs
  const pdpt0 = entry(q(img, p4)).addr;
  const pdpt1 = entry(q(img, p4 + 8)).addr;
  assert.equal(pdpt1, pdpt0 + 4096);
  assert.equal(q(img, pdpt0 + 8 * 511), BigInt(base) | 0x81n);
  assert.equal(q(img, pdpt1), (1n << 39n) | 0x81n);
  assert.equal(q(img, pdpt1 + 8), 0n);
  assert.throws(
    () => pageTables4(a, { base: 0x1000, identityBytes: 1, pageSize: "2M" }),
    /aligned/,
  );
});

// ---------------------------------------------------------------------------------------------
// GDT / TSS

Deno.test("segmentDescriptor and systemDescriptor64 encode the SDM layout", () => {
  assert.equal(
    segmentDescriptor({ base: 0, limit: 0xffffffff, type: 0xa, s: true, l: true }),
    0x00af_9a00_0000_ffffn,
  );
  assert.equal(
    segmentDescriptor({ base: 0x12345678, limit: 0xabcde, type: 2, s: true, dpl: 3, avl: true }),
    0x121a_f234_5678_bcden,
  );
  assert.throws(() => segmentDescriptor({ base: 0, limit: 0x100000, type: 2, s: true }), /fff/);
  const [lo, hi] = systemDescriptor64(0xffff_8000_1234_5678n, 103);
  assert.deepEqual(seg(lo), {
    base: 0x1234_5678,
    limit: 103,
    type: 9,
    s: 0,
    dpl: 0,
    p: 1,
    avl: 0,
    l: 0,
    db: 0,
    g: 0,
  });
  assert.equal(hi, 0xffff_8000n);
});

Deno.test("gdt emits code/data/TSS descriptors, selectors and a 64-bit pointer", () => {
  const a = new Asm({ base: 0x5000 });
  a.db(0xcc); // misalign on purpose
  const t = tss64(a, { rsp0: 0x9_0000 });
  const g = gdt(a, [
    { type: "null" },
    { type: "code64" },
    { type: "data" },
    { type: "code32" },
    { type: "code16" },
    { type: "data16", base: 0x1_0000 },
    { type: "code64", dpl: 3 },
    { type: "data", dpl: 3, accessed: true },
    { type: "tss64", base: t.label },
    { type: "raw", value: 0x1122_3344_5566_7788n },
  ]);
  a.lgdt(mem(g.pointer)).mov(ax, g.selectors[8]).ltr(ax);
  const img = a.assemble();
  const base = img.addressOf(g.table);
  assert.equal(base % 8, 0);
  assert.deepEqual(g.selectors, [0, 8, 16, 24, 32, 40, 48, 56, 64, 80]);
  assert.equal(g.limit, 87);
  const at = (i: number) => q(img, base + g.selectors[i]);
  assert.equal(at(0), 0n);
  assert.equal(at(1), 0x00af_9a00_0000_ffffn); // 64-bit code: L=1, D=0, G=1, P=1, type=0xA
  assert.equal(at(2), 0x00cf_9200_0000_ffffn); // flat data: B=1, G=1, type=2 (RW)
  assert.equal(at(3), 0x00cf_9a00_0000_ffffn); // 32-bit code: D=1, G=1
  assert.equal(at(4), 0x0000_9a00_0000_ffffn); // 16-bit code: D=0, G=0, limit 0xffff
  assert.deepEqual(seg(at(5)), {
    base: 0x1_0000,
    limit: 0xffff,
    type: 2,
    s: 1,
    dpl: 0,
    p: 1,
    avl: 0,
    l: 0,
    db: 0,
    g: 0,
  });
  assert.equal(seg(at(6)).dpl, 3);
  assert.equal(seg(at(6)).l, 1);
  assert.equal(at(7), 0x00cf_f300_0000_ffffn);
  const tssAddr = img.addressOf(t.label);
  assert.deepEqual(seg(at(8)), {
    base: tssAddr,
    limit: 103,
    type: 9,
    s: 0,
    dpl: 0,
    p: 1,
    avl: 0,
    l: 0,
    db: 0,
    g: 0,
  });
  assert.equal(q(img, base + 72), 0n); // base 63:32
  assert.equal(at(9), 0x1122_3344_5566_7788n);
  // pseudo-descriptor: dw limit; dq base
  const p = img.addressOf(g.pointer);
  assert.equal(w16(img, p), 87);
  assert.equal(q(img, p + 2), BigInt(base));
  // the code that uses it
  const fmt = new Formatter(FormatterSyntax.Intel);
  fmt.hexPrefix = "0x";
  fmt.hexSuffix = "";
  fmt.uppercaseHex = false;
  fmt.spaceAfterOperandSeparator = true;
  const codeAt = p + 10;
  const dec = new Decoder(64, img.bytes.subarray(codeAt - img.base), DecoderOptions.None);
  dec.ip = BigInt(codeAt);
  const texts: string[] = [];
  while (dec.canDecode) texts.push(fmt.format(dec.decode()));
  assert.deepEqual(texts, [`lgdt [0x${p.toString(16)}]`, "mov ax, 0x40", "ltr ax"]);
});

Deno.test("gdt with a 32-bit pointer and a 32-bit TSS", () => {
  const a = new Asm({ base: 0x7c00, bits: 16 });
  const tss = a.label("tss");
  const g = gdt(a, [{ type: "null" }, { type: "code32" }, {
    type: "tss32",
    base: tss,
    limit: 0x67,
  }]);
  a.bind(tss).space(0x68);
  const img = a.assemble();
  const p = img.addressOf(g.pointer);
  assert.equal(img.addressOf(tss) - p, 6, "dw limit; dd base");
  assert.equal(w16(img, p), 23);
  assert.equal(d32(img, p + 2), img.addressOf(g.table));
  const t = seg(q(img, img.addressOf(g.table) + 16));
  assert.equal(t.base, img.addressOf(tss));
  assert.equal(t.type, 9);
  assert.equal(t.s, 0);
  assert.equal(t.limit, 0x67);
  // an explicit pointer for an existing table
  const b = new Asm({ base: 0 });
  const tbl = b.here();
  b.dq(0n, 1n);
  const ptr = descriptorPointer(b, tbl, 15, 32);
  const img2 = b.assemble();
  assert.equal(w16(img2, img2.addressOf(ptr)), 15);
  assert.equal(d32(img2, img2.addressOf(ptr) + 2), 0);
  assert.equal(img2.end - img2.addressOf(ptr), 6);
});

Deno.test("tss64 places RSP0-2, IST1-7 and the I/O map base at the SDM offsets", () => {
  const a = new Asm({ base: 0x2000 });
  a.db(1);
  const stack = a.label("stack");
  const t = tss64(a, {
    rsp0: stack,
    rsp2: 0x3000,
    ist: [0x1_0000_0000n, () => 0x5000],
    name: "tss",
  });
  a.bind(stack);
  const img = a.assemble();
  const ts = img.addressOf(t.label);
  assert.equal(ts % 16, 0);
  assert.equal(img.labels.get("tss"), ts);
  assert.equal(img.addressOf(stack) - ts, 104);
  assert.equal(t.limit, 103);
  assert.equal(d32(img, ts), 0);
  assert.equal(q(img, ts + 4), BigInt(img.addressOf(stack)));
  assert.equal(q(img, ts + 12), 0n);
  assert.equal(q(img, ts + 20), 0x3000n);
  assert.equal(q(img, ts + 28), 0n);
  assert.equal(q(img, ts + 36), 0x1_0000_0000n);
  assert.equal(q(img, ts + 44), 0x5000n);
  for (let i = 2; i < 7; i++) assert.equal(q(img, ts + 36 + 8 * i), 0n);
  assert.equal(q(img, ts + 92), 0n);
  assert.equal(w16(img, ts + 100), 0);
  assert.equal(w16(img, ts + 102), 104);
});

// ---------------------------------------------------------------------------------------------
// IDT

Deno.test("idt64 emits 16-byte gates with offset, selector, IST, type, DPL and P", () => {
  const a = new Asm({ base: 0xffff_f000 });
  const de = a.here("de");
  a.hlt();
  const pf = a.here("pf");
  a.hlt();
  const idt = idt64(a, [
    { vector: 0, handler: de, selector: 0x08, type: "interrupt" },
    { vector: 14, handler: pf, selector: 0x08, type: "interrupt", ist: 2 },
    { vector: 0x80, handler: 0xffff_ffff_8000_1234n, selector: 0x33, type: "trap", dpl: 3 },
  ]);
  a.lidt(mem(idt.pointer));
  const img = a.assemble();
  const t = img.addressOf(idt.table);
  assert.equal(t % 16, 0);
  assert.equal(idt.limit, 0x81 * 16 - 1);
  const g = (v: number) => gate(q(img, t + 16 * v), q(img, t + 16 * v + 8));
  assert.deepEqual(g(0), {
    offset: img.addressOf(de),
    selector: 8,
    ist: 0,
    type: 0xe,
    dpl: 0,
    p: 1,
  });
  assert.deepEqual(g(14), {
    offset: img.addressOf(pf),
    selector: 8,
    ist: 2,
    type: 0xe,
    dpl: 0,
    p: 1,
  });
  const g80 = g(0x80);
  assert.equal(q(img, t + 16 * 0x80 + 8), 0xffff_ffffn);
  assert.equal(q(img, t + 16 * 0x80) & 0xffffn, 0x1234n);
  assert.equal(q(img, t + 16 * 0x80) >> 48n, 0x8000n);
  assert.deepEqual({ ...g80, offset: 0 }, {
    offset: 0,
    selector: 0x33,
    ist: 0,
    type: 0xf,
    dpl: 3,
    p: 1,
  });
  // unused vectors are all-zero (not present)
  assert.equal(q(img, t + 16), 0n);
  assert.equal(q(img, t + 24), 0n);
  // pointer
  const p = img.addressOf(idt.pointer);
  assert.equal(w16(img, p), 0x81 * 16 - 1);
  assert.equal(q(img, p + 2), BigInt(t));
  // bad input
  assert.throws(
    () => idt64(a, [{ vector: 256, handler: 0, selector: 8, type: "trap" }]),
    /0\.\.255/,
  );
  assert.throws(
    () => idt64(a, [{ vector: 1, handler: 0, selector: 8, type: "trap", ist: 8 }]),
    /IST index/,
  );
  assert.throws(
    () =>
      idt64(a, [
        { vector: 1, handler: 0, selector: 8, type: "trap" },
        { vector: 1, handler: 0, selector: 8, type: "trap" },
      ]),
    /given twice/,
  );
});

Deno.test("idt32 emits 8-byte gates and a 6-byte pointer", () => {
  const a = new Asm({ base: 0x1_0000, bits: 32 });
  const h = a.here("h");
  a.i("iretd");
  const idt = idt32(a, [
    { vector: 3, handler: h, selector: 0x08, type: "trap", dpl: 3 },
    { vector: 8, selector: 0x28, type: "task" },
    { vector: 0x20, handler: h, selector: 0x08, type: "interrupt" },
  ], { count: 48 });
  a.lidt(mem(idt.pointer));
  const img = a.assemble();
  const t = img.addressOf(idt.table);
  assert.equal(idt.limit, 48 * 8 - 1);
  assert.deepEqual(gate(q(img, t + 3 * 8)), {
    offset: img.addressOf(h),
    selector: 8,
    ist: 0,
    type: 0xf,
    dpl: 3,
    p: 1,
  });
  assert.deepEqual(gate(q(img, t + 8 * 8)), {
    offset: 0,
    selector: 0x28,
    ist: 0,
    type: 5,
    dpl: 0,
    p: 1,
  });
  assert.deepEqual(gate(q(img, t + 0x20 * 8)), {
    offset: img.addressOf(h),
    selector: 8,
    ist: 0,
    type: 0xe,
    dpl: 0,
    p: 1,
  });
  assert.equal(q(img, t + 0x21 * 8), 0n);
  const p = img.addressOf(idt.pointer);
  assert.equal(w16(img, p), 48 * 8 - 1);
  assert.equal(d32(img, p + 2), t);
  assert.equal(gateLow(0x1234_5678n, 0x10, "interrupt"), 0x1234_8e00_0010_5678n);
});

Deno.test("idt32 emits 16-bit interrupt and trap gates (types 6, 7) with 16-bit offsets", () => {
  const a = new Asm({ base: 0x1_0000, bits: 32 });
  const idt = idt32(a, [
    { vector: 0, handler: 0x1234, selector: 0x08, type: "interrupt16" },
    { vector: 1, handler: 0xfffe, selector: 0x10, type: "trap16", dpl: 3 },
  ]);
  const img = a.assemble();
  const t = img.addressOf(idt.table);
  assert.deepEqual(gate(q(img, t)), { offset: 0x1234, selector: 8, ist: 0, type: 6, dpl: 0, p: 1 });
  assert.deepEqual(gate(q(img, t + 8)), {
    offset: 0xfffe,
    selector: 0x10,
    ist: 0,
    type: 7,
    dpl: 3,
    p: 1,
  });
  const b = new Asm({ base: 0x1_0000, bits: 32 });
  const h = b.label("h");
  idt32(b, [{ vector: 0, handler: h, selector: 0x08, type: "interrupt16" }]);
  b.bind(h).i("iretd");
  assert.throws(() => b.assemble(), /offset 0x10[0-9a-f]* too large/);
});
