import assert from "node:assert/strict";
import { CR4_OSFXSR, CS, DS, ES, FS, RAX, RBX, RCX, RDI, RSI, SS } from "../regs.ts";
import { enterProtected32 } from "../desc_testing.ts";
import { enterLongMode, makeCpu, runCode, type TestMachine } from "../testing.ts";

interface Fault {
  vec: number;
  err: number;
  rcx: number;
  rsi: number;
  rdi: number;
  rip: number;
}

/** Runs code at 0x8000 until HLT or the first exception, which is recorded with the registers. */
function run(t: TestMachine, code: number[], regs: Record<number, number>): Fault | null {
  const { cpu } = t;
  let fault: Fault | null = null;
  runCode(t, code, regs, (vec, err) => {
    fault = { vec, err, rcx: cpu.reg(RCX), rsi: cpu.reg(RSI), rdi: cpu.reg(RDI), rip: cpu.rip };
  });
  return fault;
}

/** 32-bit protected mode, no paging, flat 4 GiB segments (then adjusted by the test). */
function prot32(): TestMachine {
  const t = makeCpu(1 << 20);
  enterProtected32(t.cpu);
  t.cpu.flushTlbAll();
  return t;
}

Deno.test("rep movsb past the DS limit: #GP(0) at the first element outside, progress committed", () => {
  const t = prot32();
  t.cpu.setSegment(DS, 0x18, 0, 0x10ff, 0x4093); // byte granular, limit 0x10ff
  for (let i = 0; i < 0x200; i++) t.mem.u8[0x1000 + i] = i & 0xff;
  const f = run(t, [0xf3, 0xa4], { [RSI]: 0x1000, [RDI]: 0x4000, [RCX]: 0x200 });
  assert.deepEqual(f, { vec: 13, err: 0, rcx: 0x100, rsi: 0x1100, rdi: 0x4100, rip: 0x8000 });
  assert.equal(t.mem.u8[0x40ff], 0xff);
  assert.equal(t.mem.u8[0x4100], 0);
});

Deno.test("rep stosd: an element straddling the ES limit faults before any byte of it is written", () => {
  const t = prot32();
  t.cpu.setSegment(ES, 0x18, 0, 0x2001, 0x4093);
  const f = run(t, [0xf3, 0xab], { [RAX]: -1, [RDI]: 0x1ff8, [RCX]: 4 });
  assert.deepEqual(f, { vec: 13, err: 0, rcx: 2, rsi: 0, rdi: 0x2000, rip: 0x8000 });
  assert.equal(t.mem.dv.getUint32(0x1ffc, true), 0xffffffff);
  assert.equal(t.mem.u8[0x2000], 0);
});

Deno.test("string instructions check segment types: stos to a read-only ES, lods from SS limit", () => {
  const t = prot32();
  t.cpu.setSegment(ES, 0x18, 0, 0xffffffff, 0xc091); // read-only data
  assert.deepEqual(run(t, [0xaa], { [RDI]: 0x3000 }), {
    vec: 13,
    err: 0,
    rcx: 0,
    rsi: 0,
    rdi: 0x3000,
    rip: 0x8000,
  });
  const u = prot32();
  u.cpu.setSegment(SS, 0x18, 0, 0xfff, 0x4093);
  // rep lodsb with an SS override: #SS(0) once rSI passes the limit.
  const f = run(u, [0x36, 0xf3, 0xac], { [RSI]: 0xffe, [RCX]: 5 });
  assert.deepEqual(f, { vec: 12, err: 0, rcx: 3, rsi: 0x1000, rdi: 0, rip: 0x8000 });
});

Deno.test("expand-down ES: scasb below the limit faults, above it runs", () => {
  const t = prot32();
  t.cpu.setSegment(ES, 0x18, 0, 0x2fff, 0x4097); // expand-down, valid offsets 0x3000..0xffffffff
  const f = run(t, [0xfd, 0xf2, 0xae], { [RAX]: 0x55, [RDI]: 0x3001, [RCX]: 8 }); // std; repne scasb
  assert.deepEqual(f, { vec: 13, err: 0, rcx: 6, rsi: 0, rdi: 0x2fff, rip: 0x8001 });
});

Deno.test("cmpsw, movsd and outsb check both operands' segments", () => {
  const t = prot32();
  t.cpu.setSegment(ES, 0x18, 0, 0x1fff, 0x4093);
  assert.equal(run(t, [0xa7], { [RSI]: 0x1000, [RDI]: 0x1fff })?.vec, 13); // cmpsw
  const u = prot32();
  u.cpu.setSegment(FS, 0x18, 0, 0x0fff, 0x4093);
  const f = run(u, [0x64, 0xa5], { [RSI]: 0x0ffe, [RDI]: 0x2000 }); // movsd fs:[esi]
  assert.equal(f?.vec, 13);
  assert.equal(u.mem.u8[0x2000], 0);
  const w = prot32();
  w.cpu.setSegment(DS, 0x18, 0, 0x0fff, 0x4093);
  assert.equal(run(w, [0x6e], { [RSI]: 0x1000 })?.vec, 13); // outsb
  assert.deepEqual(w.host.out, []);
});

Deno.test("real mode: movsw at SI=0xffff crosses the 64 KiB limit (#GP), 16-bit address size", () => {
  const t = makeCpu(1 << 20);
  t.cpu.setSegment(CS, 0, 0, 0xffff, 0x9b);
  t.cpu.updateMode();
  t.mem.u8.set([0xa5, 0xf4], 0x8000); // movsw
  const f = run(t, [0xa5], { [RSI]: 0xffff, [RDI]: 0x100 });
  assert.equal(f?.vec, 13);
  assert.equal(f?.rsi, 0xffff);
  // A whole-word element at 0xfffe is fine and SI wraps to 0.
  const u = makeCpu(1 << 20);
  u.cpu.setSegment(CS, 0, 0, 0xffff, 0x9b);
  u.cpu.updateMode();
  u.mem.dv.setUint16(0xfffe, 0xbeef, true);
  assert.equal(run(u, [0xa5], { [RSI]: 0xfffe, [RDI]: 0x100 }), null);
  assert.equal(u.mem.dv.getUint16(0x100, true), 0xbeef);
  assert.equal(u.cpu.reg(RSI), 0);
});

Deno.test("xlat checks the DS limit outside 64-bit mode", () => {
  const t = prot32();
  t.cpu.setSegment(DS, 0x18, 0, 0x10ff, 0x4093);
  t.mem.u8[0x10ff] = 0x77;
  assert.equal(run(t, [0xd7], { [RBX]: 0x1000, [RAX]: 0xff }), null);
  assert.equal(t.cpu.lo[RAX]! & 0xff, 0x77);
  assert.equal(run(t, [0xd7], { [RBX]: 0x1001, [RAX]: 0xff })?.vec, 13);
});

Deno.test("xlat in 64-bit mode: FS base applies, non-canonical addresses #GP", () => {
  const t = makeCpu(4 << 20);
  enterLongMode(t.cpu, 0x100000, 4 << 20);
  t.cpu.segBase[FS] = 0x2000;
  t.mem.u8[0x3005] = 0x42;
  assert.equal(run(t, [0x64, 0x48, 0xd7], { [RBX]: 0x1000, [RAX]: 5 }), null); // fs: xlat
  assert.equal(t.cpu.lo[RAX]! & 0xff, 0x42);
  const f = run(t, [0x48, 0xd7], { [RBX]: 0x8000_0000_0000, [RAX]: 0 });
  assert.equal(f?.vec, 13);
});

Deno.test("MASKMOVDQU past the DS limit: #GP(0), nothing stored (implicit DS:rDI like the string instructions)", () => {
  const t = prot32();
  t.cpu.cr4 |= CR4_OSFXSR;
  t.cpu.setSegment(DS, 0x18, 0, 0x10ff, 0x4093);
  t.cpu.xmm.fill(0x41414141, 0, 4); // xmm0: data
  t.cpu.xmm.fill(-1, 4, 8); // xmm1: every mask byte set
  const code = [0x66, 0x0f, 0xf7, 0xc1]; // maskmovdqu xmm0, xmm1
  assert.deepEqual(run(t, code, { [RDI]: 0x10f8 }), {
    vec: 13,
    err: 0,
    rcx: 0,
    rsi: 0,
    rdi: 0x10f8,
    rip: 0x8000,
  });
  assert.equal(t.mem.u8[0x10f8], 0);
  assert.equal(run(t, code, { [RDI]: 0x10f0 }), null); // the last byte at the limit
  assert.equal(t.mem.u8[0x10ff], 0x41);
});
