import assert from "node:assert/strict";
import { RAX, RBP, RBX, RCX, RDI, RDX, RSI, RSP, SS } from "../regs.ts";
import { enterProtected32 } from "../desc_testing.ts";
import { enterLongMode, makeCpu, runCode, type TestMachine } from "../testing.ts";

/** Runs code at 0x8000 until HLT or the first exception; returns its vector (-1: none). */
function run(t: TestMachine, code: number[], regs: Record<number, number>): number {
  let vec = -1;
  runCode(t, code, regs, (v) => void (vec = v));
  return vec;
}

/** 32-bit protected mode without paging; SS replaced by the test. */
function prot32(): TestMachine {
  const t = makeCpu(1 << 20);
  enterProtected32(t.cpu);
  return t;
}

const regsOf = (t: TestMachine) => [0, 1, 2, 3, 4, 5, 6, 7].map((r) => t.cpu.reg(r));

Deno.test("ENTER whose new stack top is on a not-present page: #PF, RSP and RBP unchanged", () => {
  const t = makeCpu(32 << 20);
  enterLongMode(t.cpu, 0x1000, 16 << 20);
  t.mem.dv.setUint32(0x3000 + 3 * 8, 0, true); // 6-8 MiB not present
  t.cpu.flushTlbAll();
  const vec = run(t, [0xc8, 0x00, 0x01, 0x00], { [RSP]: 0x800010, [RBP]: 0x1234 }); // enter 0x100,0
  assert.equal(vec, 14);
  assert.equal(t.cpu.cr2, 0x7fff08);
  assert.equal(t.cpu.reg(RSP), 0x800010);
  assert.equal(t.cpu.reg(RBP), 0x1234);
  assert.equal(t.cpu.rip, 0x8000);
});

Deno.test("ENTER with nesting reads the old frame pointers through SS (base applied)", () => {
  const t = prot32();
  t.cpu.setSegment(SS, 0x18, 0x40000, 0xffff, 0x4093);
  t.mem.dv.setUint32(0x40000 + 0x7000 - 4, 0x1111, true);
  t.mem.dv.setUint32(0x40000 + 0x7000 - 8, 0x2222, true);
  // enter 0x10, 3: push ebp; push [ebp-4]; push [ebp-8]; push frame; ebp = frame; esp -= 0x10.
  assert.equal(run(t, [0xc8, 0x10, 0x00, 0x03], { [RSP]: 0x8000, [RBP]: 0x7000 }), -1);
  const at = (o: number) => t.mem.dv.getUint32(0x40000 + o, true);
  assert.deepEqual([at(0x7ffc), at(0x7ff8), at(0x7ff4), at(0x7ff0)], [
    0x7000,
    0x1111,
    0x2222,
    0x7ffc,
  ]);
  assert.equal(t.cpu.reg(RBP), 0x7ffc);
  assert.equal(t.cpu.reg(RSP), 0x7ff0 - 0x10);
});

Deno.test("ENTER faulting on a nested frame read: RSP and RBP unchanged", () => {
  const t = prot32();
  t.cpu.setSegment(SS, 0x18, 0, 0xffff, 0x4093);
  // RBP = 0x10006 is past the limit: the copy of [ebp-4] faults (#SS) after the first push.
  assert.equal(run(t, [0xc8, 0x00, 0x00, 0x02], { [RSP]: 0x8000, [RBP]: 0x10006 }), 12);
  assert.equal(t.cpu.reg(RSP), 0x8000);
  assert.equal(t.cpu.reg(RBP), 0x10006);
});

Deno.test("PUSHAD faulting on its fifth push: ESP unchanged", () => {
  const t = prot32();
  // Expand-down stack, valid offsets 0x1000..0xffffffff: pushes below 0x1000 fault.
  t.cpu.setSegment(SS, 0x18, 0, 0xfff, 0x4097);
  const before = { [RAX]: 1, [RCX]: 2, [RDX]: 3, [RBX]: 4, [RSP]: 0x1010, [RBP]: 6, [RSI]: 7 };
  assert.equal(run(t, [0x60], { ...before, [RDI]: 8 }), 12);
  assert.deepEqual(regsOf(t), [1, 2, 3, 4, 0x1010, 6, 7, 8]);
});

Deno.test("POPAD faulting on its fifth pop: no register changed", () => {
  const t = prot32();
  t.cpu.setSegment(SS, 0x18, 0, 0x1fff, 0x4093);
  for (let k = 0; k < 8; k++) t.mem.dv.setUint32(0x1ff0 + 4 * k, 0x100 + k, true);
  const before = { [RAX]: 1, [RCX]: 2, [RDX]: 3, [RBX]: 4, [RSP]: 0x1ff0, [RBP]: 6, [RSI]: 7 };
  assert.equal(run(t, [0x61], { ...before, [RDI]: 8 }), 12);
  assert.deepEqual(regsOf(t), [1, 2, 3, 4, 0x1ff0, 6, 7, 8]);
  // Within the limit it pops all eight (EDI first), skipping the stored ESP.
  t.cpu.setSegment(SS, 0x18, 0, 0xffff, 0x4093);
  assert.equal(run(t, [0x61], { [RSP]: 0x1ff0 }), -1);
  assert.deepEqual(regsOf(t), [0x107, 0x106, 0x105, 0x104, 0x2010, 0x102, 0x101, 0x100]);
});
