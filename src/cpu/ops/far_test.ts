import assert from "node:assert/strict";
import {
  code64,
  type Desc,
  type FaultState,
  LONG_GDT,
  runToFault,
  setGdt,
} from "../desc_testing.ts";
import { CS, RSP, VEC_GP } from "../regs.ts";
import { enterLongMode, makeCpu, type TestMachine } from "../testing.ts";

const GDT = 0x10000, CODE = 0x200000, STACK = 0x300000;

/** Long mode at CPL 0 (CS 0x08), user code 0x1b and data 0x23, `extra` from index 5 on. */
function long64(code: number[], extra: Desc[] = []): TestMachine {
  const t = makeCpu(32 << 20);
  enterLongMode(t.cpu, 0x1000, 16 << 20);
  setGdt(t, GDT, [...LONG_GDT, ...extra]);
  t.mem.u8.set(code, CODE);
  t.cpu.rip = CODE;
  t.cpu.setReg(RSP, STACK);
  return t;
}

/** The fault state of an instruction at CODE that faulted with nothing changed, at CPL 0. */
const atStart = (vec: number, err: number): FaultState => ({
  vec,
  err,
  rip: CODE,
  cs: 0x08,
  ss: 0x10,
  cpl: 0,
  rsp: STACK,
});

function qwords(t: TestMachine, at: number, vals: number[]): void {
  vals.forEach((v, i) => {
    t.mem.dv.setUint32(at + i * 8, v % 0x100000000, true);
    t.mem.dv.setUint32(at + i * 8 + 4, Math.floor(v / 0x100000000), true);
  });
}

Deno.test("IRETQ to CPL 3 with a non-canonical RIP: #GP(0) from CPL 0, CS and RSP unchanged", () => {
  const t = long64([0x48, 0xcf]);
  qwords(t, STACK, [0x8000_0000_0000, 0x1b, 0x202, 0x400000, 0x23]);
  const f = runToFault(t);
  assert.deepEqual(f, atStart(VEC_GP, 0));
  assert.equal(t.cpu.getRflags() & 0x200, 0);
});

Deno.test("RETFQ to CPL 3 with a bad SS selector: #GP(SS) with CS, CPL and RSP unchanged", () => {
  const t = long64([0x48, 0xcb]);
  qwords(t, STACK, [0x401000, 0x1b, 0x400000, 0x33]); // SS index 6: beyond the GDT
  const f = runToFault(t);
  assert.deepEqual(f, atStart(VEC_GP, 0x30));
});

Deno.test("far CALL m16:64 to a non-canonical offset: #GP(0), nothing pushed, CS unchanged", () => {
  const t = long64([0x48, 0xff, 0x18], [code64(0)]); // call far qword [rax]; 0x28 = code64
  const ptr = 0x310000;
  qwords(t, ptr, [0x8000_0000_0000]);
  t.mem.dv.setUint16(ptr + 8, 0x28, true);
  t.cpu.setReg(0, ptr);
  const f = runToFault(t);
  assert.deepEqual(f, atStart(VEC_GP, 0));
  assert.equal(t.cpu.segSel[CS], 0x08);
});

Deno.test("far CALL m16:32 in 64-bit mode pushes 4-byte CS and EIP; RETF pops them", () => {
  const t = long64([0xff, 0x18, 0x90], [code64(0)]); // call far dword [rax]; 0x28 = code64
  const target = 0x210000;
  t.mem.u8[target] = 0xcb; // retf (32-bit operand size)
  const ptr = 0x310000;
  t.mem.dv.setUint32(ptr, target, true);
  t.mem.dv.setUint16(ptr + 4, 0x28, true);
  t.cpu.setReg(0, ptr);
  t.cpu.run(1);
  assert.deepEqual(t.host.exceptions, []);
  assert.equal(t.cpu.segSel[CS], 0x28);
  assert.equal(t.cpu.reg(RSP), STACK - 8);
  assert.deepEqual(
    [t.mem.dv.getUint32(STACK - 8, true), t.mem.dv.getUint32(STACK - 4, true)],
    [CODE + 2, 0x08],
  );
  t.cpu.run(1);
  assert.deepEqual(t.host.exceptions, []);
  assert.equal(t.cpu.segSel[CS], 0x08);
  assert.equal(t.cpu.rip, CODE + 2);
  assert.equal(t.cpu.reg(RSP), STACK);
});
