import assert from "node:assert/strict";
import {
  type Desc,
  gate,
  protected32,
  runToFault,
  segDesc,
  setGdt,
  setIdt,
  tss32,
  writeTss32,
} from "./desc_testing.ts";
import {
  CR0_TS,
  CS,
  FLAG_NT,
  RAX,
  RSP,
  SS,
  VEC_DF,
  VEC_GP,
  VEC_NP,
  VEC_SS,
  VEC_TS,
} from "./regs.ts";
import type { TestMachine } from "./testing.ts";

const GDT = 0x1000, IDT = 0x4000, TSS_A = 0x3000, TSS_B = 0x3100;
const CODE = 0x20000, TASK_B = 0x22000, STACK_B = 0xa000;

/**
 * 32-bit protected mode at CPL 0 in task A (TR 0x28, busy), task B's TSS (0x30) ready to run at
 * TASK_B with ESP = STACK_B, a task gate to B at 0x38, `extra` from 0x40 on.
 */
function setup(code: number[], taskB: number[], extra: Desc[] = []): TestMachine {
  const t = protected32({
    gdt: GDT,
    tss: TSS_A,
    extra: [tss32(TSS_B), gate(0x30, 0, 5, 0), ...extra],
  });
  const { cpu, mem } = t;
  writeTss32(t, TSS_B, TASK_B, 0x2, STACK_B, [0x10, 0x08, 0x10, 0x10, 0x10, 0x10]);
  mem.u8.set(code, CODE);
  mem.u8.set(taskB, TASK_B);
  for (let r = 0; r < 8; r++) cpu.lo[r] = 0xa0 + r;
  cpu.lo[RSP] = 0x8000;
  cpu.rip = CODE;
  return t;
}

const u32 = (t: TestMachine, at: number) => t.mem.dv.getUint32(at, true);
const typeOf = (t: TestMachine, sel: number) => (u32(t, GDT + sel + 4) >>> 8) & 0xf;
const jmpFar = (sel: number) => [0xea, 0, 0, 0, 0, sel & 0xff, sel >> 8];
const callFar = (sel: number) => [0x9a, 0, 0, 0, 0, sel & 0xff, sel >> 8];

Deno.test("JMP to an available 32-bit TSS: old task saved, new task loaded, busy bits moved", () => {
  const t = setup(jmpFar(0x30), [0x90]);
  const { cpu } = t;
  cpu.run(1);
  assert.deepEqual(t.host.exceptions, []);
  assert.equal(cpu.segSel[7], 0x30);
  assert.equal(cpu.segBase[7], TSS_B);
  assert.equal(cpu.rip, TASK_B);
  assert.deepEqual([...cpu.lo.slice(0, 8)], [1, 2, 3, 4, STACK_B, 6, 7, 8]);
  assert.equal(cpu.getRflags() & FLAG_NT, 0);
  assert.equal(cpu.cr0 & CR0_TS, CR0_TS);
  // The outgoing task's dynamic fields.
  assert.equal(u32(t, TSS_A + 0x20), CODE + 7);
  assert.deepEqual(
    Array.from({ length: 8 }, (_, r) => u32(t, TSS_A + 0x28 + r * 4)),
    [0xa0, 0xa1, 0xa2, 0xa3, 0x8000, 0xa5, 0xa6, 0xa7],
  );
  assert.equal(u32(t, TSS_A + 0x4c), 0x08);
  assert.equal(u32(t, TSS_B), 0); // no back link for JMP
  assert.equal(typeOf(t, 0x28), 9);
  assert.equal(typeOf(t, 0x30), 0xb);
});

Deno.test("CALL through a task gate nests (NT, back link); IRET returns to the caller", () => {
  const t = setup(callFar(0x38), [0xcf]); // task B: iretd
  const { cpu } = t;
  cpu.run(1);
  assert.deepEqual(t.host.exceptions, []);
  assert.equal(cpu.segSel[7], 0x30);
  assert.equal(cpu.getRflags() & FLAG_NT, FLAG_NT);
  assert.equal(u32(t, TSS_B) & 0xffff, 0x28);
  assert.equal(typeOf(t, 0x28), 0xb); // the caller stays busy
  assert.equal(typeOf(t, 0x30), 0xb);
  cpu.run(1); // iretd with NT = 1
  assert.deepEqual(t.host.exceptions, []);
  assert.equal(cpu.segSel[7], 0x28);
  assert.equal(cpu.rip, CODE + 7);
  assert.equal(cpu.lo[RAX], 0xa0);
  assert.equal(cpu.lo[RSP], 0x8000);
  assert.equal(typeOf(t, 0x30), 9);
  assert.equal(typeOf(t, 0x28), 0xb);
  assert.equal(u32(t, TSS_B + 0x20), TASK_B + 1);
  assert.equal(u32(t, TSS_B + 0x24) & FLAG_NT, 0); // cleared in the saved image
});

Deno.test("task switch faults: busy TSS, limit < 0x67, not present, RPL > DPL, gate to busy TSS", () => {
  const cases: [string, number[], (t: TestMachine) => void, number, number][] = [
    ["busy TSS", jmpFar(0x28), () => {}, VEC_GP, 0x28],
    [
      "TSS limit 0x60",
      jmpFar(0x30),
      (t) => setGdt(t, GDT, gdtWith(t, 6, tss32(TSS_B, 0x60))),
      VEC_TS,
      0x30,
    ],
    [
      "TSS not present",
      jmpFar(0x30),
      (t) => t.mem.u8[GDT + 0x35] = t.mem.u8[GDT + 0x35]! & 0x7f,
      VEC_NP,
      0x30,
    ],
    ["RPL 3 > TSS DPL 0", jmpFar(0x33), () => {}, VEC_GP, 0x30],
    ["task gate to a busy TSS", callFar(0x40), () => {}, VEC_GP, 0x28],
    ["task gate not present", callFar(0x48), () => {}, VEC_NP, 0x48],
  ];
  for (const [what, code, patch, vec, err] of cases) {
    const t = setup(code, [0x90], [gate(0x28, 0, 5, 0), gate(0x30, 0, 5, 0, 0, false)]);
    patch(t);
    const f = runToFault(t, 1);
    assert.deepEqual(f, { vec, err, rip: CODE, cs: 0x08, ss: 0x10, cpl: 0, rsp: 0x8000 }, what);
    assert.equal(t.cpu.segSel[7], 0x28, what);
  }
});

function gdtWith(t: TestMachine, index: number, d: Desc): Desc[] {
  const n = (t.cpu.gdtLimit + 1) / 8;
  return Array.from(
    { length: n },
    (_, i) => i === index ? d : [u32(t, GDT + i * 8) | 0, u32(t, GDT + i * 8 + 4) | 0],
  );
}

Deno.test("a bad CS in the new TSS raises #TS(CS) in the new task, after the switch", () => {
  const t = setup(jmpFar(0x30), [0x90]);
  t.mem.dv.setUint32(TSS_B + 0x4c, 0x10, true); // CS = a data segment
  const f = runToFault(t, 1);
  assert.equal(f?.vec, VEC_TS);
  assert.equal(f?.err, 0x10);
  assert.equal(f?.rip, TASK_B);
  assert.equal(t.cpu.abortRip, CODE); // the JMP raised it: its place in the block
  assert.equal(t.cpu.segSel[7], 0x30);
  assert.equal(typeOf(t, 0x30), 0xb);
});

Deno.test("a kernel stack overflow double-faults into a task gate on its own stack", () => {
  // SS: 4 KiB of stack at 0x50000; ESP = 0x10 leaves room for four pushes.
  const t = setup([0x50, 0x50, 0x50, 0x50, 0x50], [0xf4], [segDesc(0x50000, 0xfff, 0x13, 0, 4)]);
  const { cpu } = t;
  cpu.setSegment(SS, 0x40, 0x50000, 0xfff, 0x4093);
  cpu.lo[RSP] = 0x10;
  setIdt(t, IDT, [[VEC_SS, gate(0x08, 0x21000, 0xe, 0)], [VEC_DF, gate(0x30, 0, 5, 0)]]);
  cpu.run(10);
  assert.deepEqual(t.host.exceptions, [VEC_SS, VEC_DF]);
  assert.equal(cpu.halted, true);
  assert.equal(cpu.segSel[7], 0x30);
  assert.equal(cpu.rip, TASK_B + 1);
  assert.equal(cpu.segSel[CS], 0x08);
  assert.equal(cpu.segSel[SS], 0x10);
  assert.equal(cpu.lo[RSP], STACK_B - 4);
  assert.equal(u32(t, STACK_B - 4), 0); // #DF's error code
  assert.equal(cpu.getRflags() & FLAG_NT, FLAG_NT);
  assert.equal(u32(t, TSS_B) & 0xffff, 0x28);
  // The overflowing task, as it was at the faulting push.
  assert.equal(u32(t, TSS_A + 0x20), CODE + 4);
  assert.equal(u32(t, TSS_A + 0x38), 0);
  assert.equal(u32(t, TSS_A + 0x50) & 0xffff, 0x40);
});

Deno.test("JMP to a 16-bit TSS: its 16-bit fields are loaded (no CR3, FS, GS)", () => {
  const TSS16 = 0x3200;
  const t = setup(jmpFar(0x40), [0x90], [segDesc(TSS16, 0x2b, 1, 0, 0)]);
  const dv = t.mem.dv;
  dv.setUint16(TSS16 + 0x0e, 0x2345, true);
  dv.setUint16(TSS16 + 0x10, 0x0002, true);
  for (let r = 0; r < 8; r++) dv.setUint16(TSS16 + 0x12 + r * 2, 0x100 + r, true);
  [0x10, 0x08, 0x10, 0x10].forEach((s, i) => dv.setUint16(TSS16 + 0x22 + i * 2, s, true));
  t.cpu.run(1);
  assert.deepEqual(t.host.exceptions, []);
  assert.equal(t.cpu.segSel[7], 0x40);
  assert.equal(t.cpu.rip, 0x2345);
  assert.equal(t.cpu.lo[RAX], 0x100);
  assert.equal(t.cpu.lo[RSP], 0x104);
  assert.equal(typeOf(t, 0x40), 3);
  assert.equal(typeOf(t, 0x28), 9);
});
