import assert from "node:assert/strict";
import {
  code32,
  type Desc,
  firstException,
  gate,
  gate64,
  gate64Int,
  LONG_GDT,
  protected32,
  runToFault,
  setGdt,
  setIdt,
  tss32,
} from "./desc_testing.ts";
import { CS, DS, ES, FS, RSP, SS, VEC_GP, VEC_NP, VEC_PF, VEC_SS, VEC_TS } from "./regs.ts";
import { enterLongMode, makeCpu, type TestMachine } from "./testing.ts";

const GDT = 0x1000, TSS = 0x3000, USER = 0x20000, KERNEL = 0x21000;
const USTACK = 0x8000, KSTACK = 0x9000;

/**
 * 32-bit protected mode at CPL 3 (CS 0x1b, SS/DS 0x23, ES 0x10), TR = 0x28 (ESP0 = KSTACK,
 * SS0 = 0x10), user code `code` at USER, kernel code `kernel` at KERNEL; GDT entries from index 6
 * (selector 0x30) are `extra`.
 */
function ring3(code: number[], kernel: number[], extra: Desc[]): TestMachine {
  const t = protected32({ gdt: GDT, tss: TSS, extra, cpl: 3, esp0: KSTACK });
  t.cpu.setSegment(ES, 0x10, 0, 0xffffffff, 0xc093);
  t.mem.u8.set(code, USER);
  t.mem.u8.set(kernel, KERNEL);
  t.cpu.rip = USER;
  t.cpu.setReg(RSP, USTACK);
  return t;
}

const u32 = (t: TestMachine, at: number) => t.mem.dv.getUint32(at, true);
/** call far sel:0 (ptr16:32). */
const callFar = (sel: number) => [0x9a, 0, 0, 0, 0, sel & 0xff, sel >> 8];
/** jmp far sel:0 (ptr16:32). */
const jmpFar = (sel: number) => [0xea, 0, 0, 0, 0, sel & 0xff, sel >> 8];

Deno.test("CALL through a 32-bit call gate to ring 0: TSS stack, parameters copied; RETF 8 back", () => {
  const t = ring3([...callFar(0x33), 0x90], [0xca, 0x08, 0x00], [gate(0x08, KERNEL, 0xc, 3, 2)]);
  t.mem.dv.setUint32(USTACK, 0x11111111, true);
  t.mem.dv.setUint32(USTACK + 4, 0x22222222, true);
  const { cpu } = t;
  cpu.run(1);
  assert.deepEqual(t.host.exceptions, []);
  assert.equal(cpu.segSel[CS], 0x08);
  assert.equal(cpu.cpl, 0);
  assert.equal(cpu.segSel[SS], 0x10);
  assert.equal(cpu.rip, KERNEL);
  const esp = KSTACK - 24;
  assert.equal(cpu.reg(RSP), esp);
  assert.deepEqual(
    [0, 4, 8, 12, 16, 20].map((o) => u32(t, esp + o)),
    [USER + 7, 0x1b, 0x11111111, 0x22222222, USTACK, 0x23],
  );
  cpu.run(1); // retf 8
  assert.deepEqual(t.host.exceptions, []);
  assert.equal(cpu.segSel[CS], 0x1b);
  assert.equal(cpu.cpl, 3);
  assert.equal(cpu.segSel[SS], 0x23);
  assert.equal(cpu.reg(RSP), USTACK + 8);
  assert.equal(cpu.rip, USER + 7);
  assert.equal(cpu.segSel[DS], 0x23); // DPL 3: kept
  assert.equal(cpu.segSel[ES], 0); // DPL 0 < CPL 3: nulled
});

Deno.test("JMP and CALL through a call gate at the same privilege (conforming target)", () => {
  const t = ring3([...jmpFar(0x33)], [0x90], [gate(0x38, KERNEL, 0xc, 3), code32(0, true)]);
  t.cpu.run(1);
  assert.deepEqual(t.host.exceptions, []);
  assert.equal(t.cpu.segSel[CS], 0x3b); // conforming: CPL stays 3
  assert.equal(t.cpu.rip, KERNEL);
  assert.equal(t.cpu.reg(RSP), USTACK);
  const c = ring3([...callFar(0x33)], [0x90], [gate(0x38, KERNEL, 0xc, 3), code32(0, true)]);
  c.cpu.run(1);
  assert.equal(c.cpu.segSel[CS], 0x3b);
  assert.equal(c.cpu.segSel[SS], 0x23);
  assert.equal(c.cpu.reg(RSP), USTACK - 8);
  assert.deepEqual([u32(c, USTACK - 8), u32(c, USTACK - 4)], [USER + 7, 0x1b]);
});

Deno.test("16-bit call gate: 16-bit pushes and parameters", () => {
  const t = ring3([...callFar(0x33)], [0x90], [gate(0x08, KERNEL, 4, 3, 1)]);
  t.mem.dv.setUint16(USTACK, 0xabcd, true);
  t.cpu.run(1);
  assert.deepEqual(t.host.exceptions, []);
  const sp = KSTACK - 10;
  assert.equal(t.cpu.reg(RSP), sp);
  assert.deepEqual(
    [0, 2, 4, 6, 8].map((o) => t.mem.dv.getUint16(sp + o, true)),
    [USER + 7 & 0xffff, 0x1b, 0xabcd, USTACK, 0x23],
  );
});

Deno.test("call gate faults: gate DPL < CPL, not present, JMP to inner level, bad TSS stack", () => {
  const cases: [string, number[], Desc[], number, number][] = [
    ["gate DPL 0 < CPL 3", callFar(0x33), [gate(0x08, KERNEL, 0xc, 0)], VEC_GP, 0x30],
    ["RPL 3 > gate DPL 2", callFar(0x33), [gate(0x08, KERNEL, 0xc, 2)], VEC_GP, 0x30],
    ["not present", callFar(0x33), [gate(0x08, KERNEL, 0xc, 3, 0, false)], VEC_NP, 0x30],
    ["JMP to a more privileged level", jmpFar(0x33), [gate(0x08, KERNEL, 0xc, 3)], VEC_GP, 0x08],
    ["null target", callFar(0x33), [gate(0, KERNEL, 0xc, 3)], VEC_GP, 0],
    ["target is data", callFar(0x33), [gate(0x10, KERNEL, 0xc, 3)], VEC_GP, 0x10],
    [
      "target not present",
      callFar(0x33),
      [gate(0x38, KERNEL, 0xc, 3), [code32(0)[0], code32(0)[1] & ~0x8000]],
      VEC_NP,
      0x38,
    ],
    ["reserved system type", callFar(0x33), [gate(0x08, KERNEL, 0xd, 3)], VEC_GP, 0x30],
  ];
  for (const [what, code, extra, vec, err] of cases) {
    const t = ring3(code, [0x90], extra);
    const f = runToFault(t, 1);
    assert.deepEqual(
      f,
      { vec, err, rip: USER, cs: 0x1b, ss: 0x23, cpl: 3, rsp: USTACK },
      what,
    );
  }
  // The inner stack's SS in the TSS is not a DPL-0 writable data segment: #TS(SS).
  const t = ring3(callFar(0x33), [0x90], [gate(0x08, KERNEL, 0xc, 3)]);
  t.mem.dv.setUint32(TSS + 8, 0x23, true);
  assert.deepEqual(runToFault(t, 1), {
    vec: VEC_TS,
    err: 0x20,
    rip: USER,
    cs: 0x1b,
    ss: 0x23,
    cpl: 3,
    rsp: USTACK,
  });
});

/** Long mode at CPL 3 (CS 0x1b, SS 0x23), TR 0x28 (64-bit TSS with RSP0 = KSTACK). */
function long3(code: number[], kernel: number[], extra: Desc[]): TestMachine {
  const t = makeCpu(4 << 20);
  enterLongMode(t.cpu, 0x100000, 4 << 20);
  for (const e of [0x100000, 0x101000, 0x102000, 0x102008]) t.mem.u8[e]! |= 4; // user pages
  setGdt(t, GDT, [
    ...LONG_GDT,
    tss32(TSS, 0x67, 0, true), // the 64-bit TSS: same low half, type 0xb
    [0, 0],
    ...extra,
  ]);
  const { cpu } = t;
  cpu.setSegment(CS, 0x1b, 0, 0xffffffff, 0xa0fb);
  for (const s of [SS, DS, ES, FS]) cpu.setSegment(s, 0x23, 0, 0xffffffff, 0xc0f3);
  cpu.updateMode();
  cpu.setSegment(7, 0x28, TSS, 0x67, 0x8b);
  t.mem.dv.setUint32(TSS + 4, KSTACK, true);
  t.mem.u8.set(code, USER);
  t.mem.u8.set(kernel, KERNEL);
  cpu.rip = USER;
  cpu.setReg(RSP, USTACK);
  cpu.setReg(0, 0x7000); // far pointer for `call far [rax]`
  return t;
}

const CALL_FAR_RAX = [0xff, 0x18]; // call far dword [rax] (m16:32)

Deno.test("64-bit call gate from ring 3 to ring 0: RSP0, null SS with RPL 0, RETFQ back", () => {
  const t = long3(CALL_FAR_RAX, [0x48, 0xcb], gate64(0x08, KERNEL, 3));
  t.mem.dv.setUint16(0x7004, 0x3b, true);
  const { cpu } = t;
  cpu.run(1);
  assert.deepEqual(t.host.exceptions, []);
  assert.equal(cpu.segSel[CS], 0x08);
  assert.equal(cpu.bits, 64);
  assert.equal(cpu.segSel[SS], 0);
  assert.equal(cpu.rip, KERNEL);
  const rsp = KSTACK - 32;
  assert.equal(cpu.reg(RSP), rsp);
  assert.deepEqual(
    [0, 8, 16, 24].map((o) => u32(t, rsp + o)),
    [USER + 2, 0x1b, USTACK, 0x23],
  );
  cpu.run(1); // retfq
  assert.deepEqual(t.host.exceptions, []);
  assert.equal(cpu.segSel[CS], 0x1b);
  assert.equal(cpu.segSel[SS], 0x23);
  assert.equal(cpu.reg(RSP), USTACK);
  assert.equal(cpu.rip, USER + 2);
});

Deno.test("64-bit call gate faults: upper type, 32-bit target, task gates (#GP in IA-32e mode)", () => {
  const cases: [string, Desc[], number, number][] = [
    ["upper type field not 0", gate64(0x08, KERNEL, 3, true, 0xc00), VEC_GP, 0x38],
    ["target not 64-bit code", [...gate64(0x48, KERNEL, 3), code32(0)], VEC_GP, 0x48],
    ["gate DPL 0 < CPL 3", gate64(0x08, KERNEL, 0), VEC_GP, 0x38],
    ["not present", gate64(0x08, KERNEL, 3, false), VEC_NP, 0x38],
    ["task gate", [gate(0x28, 0, 5, 3), [0, 0]], VEC_GP, 0x38],
    ["legacy 32-bit TSS", [tss32(TSS, 0x67, 3), [0, 0]], VEC_GP, 0x38],
  ];
  for (const [what, extra, vec, err] of cases) {
    const t = long3(CALL_FAR_RAX, [0x90], extra);
    t.mem.dv.setUint16(0x7004, 0x3b, true);
    const f = runToFault(t, 1);
    assert.deepEqual(f, { vec, err, rip: USER, cs: 0x1b, ss: 0x23, cpl: 3, rsp: USTACK }, what);
  }
});

const IDT = 0x4000, INT_41 = [0xcd, 0x41];

Deno.test("64-bit interrupt gate with a non-canonical offset raises #GP(EXT)", () => {
  for (const cpl of [0, 3]) {
    for (const ext of [0, 1]) {
      const t = long3(INT_41, [0x90], []);
      if (cpl === 0) {
        t.cpu.setSegment(CS, 0x08, 0, 0xffffffff, 0xa09b);
        t.cpu.setSegment(SS, 0x10, 0, 0xffffffff, 0xc093);
        t.cpu.updateMode();
      }
      setIdt(t, IDT, [[0x41, gate64Int(0x08, 0x8000_0000_0000 + KERNEL, 0xe, 3)]]);
      const act = ext ? () => t.cpu.deliverInterrupt(0x41) : () => t.cpu.run(1);
      assert.deepEqual(firstException(t, act), [VEC_GP, ext], `CPL ${cpl}`);
      assert.equal(t.cpu.rip, USER);
      assert.equal(t.cpu.cpl, cpl);
      assert.equal(t.cpu.reg(RSP), USTACK);
    }
  }
});

Deno.test("64-bit interrupt gate with a non-canonical new RSP (RSP0, IST or current) raises #SS(EXT)", () => {
  const bad = 0x8000_0000_0000;
  const cases: [string, number, (t: TestMachine) => void][] = [
    ["RSP0", 0, (t) => t.mem.dv.setUint32(TSS + 8, 0x8000, true)],
    ["IST1", 1, (t) => t.mem.dv.setUint32(TSS + 0x28, 0x8000, true)],
    ["current RSP, CPL 0", 0, (t) => {
      t.cpu.setSegment(CS, 0x08, 0, 0xffffffff, 0xa09b);
      t.cpu.updateMode();
      t.cpu.setReg(RSP, bad);
    }],
  ];
  for (const [what, ist, spoil] of cases) {
    for (const ext of [0, 1]) {
      const t = long3(INT_41, [0x90], []);
      t.mem.dv.setUint32(TSS + 0x24, KSTACK, true); // IST1
      setIdt(t, IDT, [[0x41, gate64Int(0x08, KERNEL, 0xe, 3, ist)]]);
      spoil(t);
      const act = ext ? () => t.cpu.deliverInterrupt(0x41) : () => t.cpu.run(1);
      assert.deepEqual(firstException(t, act), [VEC_SS, ext], what);
      assert.equal(t.cpu.rip, USER, what);
    }
  }
});

Deno.test("64-bit delivery: a not-present page on the new stack is a #PF", () => {
  const t = long3(INT_41, [0x90], []);
  setIdt(t, IDT, [[0x41, gate64Int(0x08, KERNEL, 0xe, 3)]]);
  t.mem.dv.setUint32(TSS + 4, 0x500000, true); // beyond the 4 MiB mapped
  assert.deepEqual(firstException(t, () => t.cpu.run(1)), [VEC_PF, 2]);
  assert.equal(t.cpu.cr2, 0x500000 - 40);
});
