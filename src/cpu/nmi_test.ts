/**
 * The NMI input (SDM §6.7.1, §6.8.3): delivered through vector 2 whatever RFLAGS.IF says, blocked
 * from delivery until the next IRET with one NMI latched meanwhile, held by the MOV SS shadow but
 * not by STI's, waking HLT, and carried by saved CPU contexts. Real mode, IVT at 0.
 */

import assert from "node:assert/strict";
import { makeCpu, type TestMachine } from "./testing.ts";
import { CpuContext, loadContext, saveContext } from "./context.ts";
import { CS, RBX, RCX, RDX, RSP, SS } from "./regs.ts";

const MAIN = 0x8000, HANDLER = 0x9000;
const CLI = 0xfa, STI = 0xfb, NOP = 0x90, HLT = 0xf4, IRET = 0xcf;
const INC_BX = 0x43, INC_CX = 0x41, INC_DX = 0x42;
const MOV_SS_AX = [0x8e, 0xd0];
/** Handler: inc bx; nop; nop; iret. */
const HANDLER_CODE = [INC_BX, NOP, NOP, IRET];

function setup(main: number[]): TestMachine & { nmis: number[] } {
  const t = makeCpu(1 << 20);
  const { cpu, mem } = t;
  const nmis: number[] = [];
  t.host.onInterrupt = (v: number) => void nmis.push(v);
  mem.dv.setUint16(2 * 4, HANDLER, true);
  mem.dv.setUint16(2 * 4 + 2, 0, true);
  mem.u8.set(HANDLER_CODE, HANDLER);
  mem.u8.set(main, MAIN);
  cpu.loadSegReal(CS, 0);
  cpu.loadSegReal(SS, 0);
  cpu.setReg(RSP, 0x7000);
  cpu.setReg(RDX, 0);
  cpu.rip = MAIN;
  cpu.updateMode();
  return { ...t, nmis };
}

Deno.test("NMI: delivered through vector 2 with RFLAGS.IF = 0", () => {
  const t = setup([CLI, NOP, NOP, NOP, HLT]);
  const { cpu } = t;
  cpu.run(1); // cli
  assert.equal(cpu.eflags & 0x200, 0);
  cpu.raiseNmi();
  cpu.run(1); // delivery, then the handler's first instruction
  assert.deepEqual(t.nmis, [2]);
  assert.equal(cpu.lo[RBX]! & 0xffff, 1);
  assert.equal(cpu.rip, HANDLER + 1);
  assert.ok(cpu.nmiBlocked && !cpu.nmiPending);
  cpu.run(3); // nop, nop, iret
  assert.equal(cpu.rip, MAIN + 1);
  assert.ok(!cpu.nmiBlocked);
});

Deno.test("NMI: blocked until IRET, one more latched and delivered after it", () => {
  const t = setup([CLI, NOP, NOP, NOP, NOP, HLT]);
  const { cpu } = t;
  cpu.run(1);
  cpu.raiseNmi();
  cpu.run(1); // in the handler: inc bx
  cpu.raiseNmi();
  cpu.raiseNmi(); // a third one while one is latched is lost
  cpu.run(2); // nop, nop: still blocked
  assert.equal(cpu.lo[RBX]! & 0xffff, 1);
  assert.equal(cpu.rip, HANDLER + 3);
  assert.ok(cpu.nmiPending && cpu.nmiBlocked);
  cpu.run(1); // iret unblocks; the latched NMI comes before the next instruction
  assert.equal(cpu.rip, MAIN + 1);
  cpu.run(1);
  assert.deepEqual(t.nmis, [2, 2]);
  assert.equal(cpu.lo[RBX]! & 0xffff, 2);
  cpu.run(10);
  assert.ok(cpu.halted);
  assert.deepEqual(t.nmis, [2, 2], "the third NMI was not latched");
  assert.equal(cpu.lo[RBX]! & 0xffff, 2);
});

Deno.test("NMI: wakes HLT, and the handler returns after it", () => {
  const t = setup([CLI, HLT, INC_CX, HLT]);
  const { cpu } = t;
  cpu.run(100);
  assert.ok(cpu.halted);
  assert.equal(cpu.rip, MAIN + 2);
  cpu.raiseNmi();
  cpu.run(100);
  assert.deepEqual(t.nmis, [2]);
  assert.equal(cpu.lo[RBX]! & 0xffff, 1);
  assert.equal(cpu.lo[RCX]! & 0xffff, 1);
  assert.ok(cpu.halted);
  assert.equal(cpu.rip, MAIN + 4);
});

Deno.test("NMI: held by the MOV SS shadow for one instruction", () => {
  const t = setup([...MOV_SS_AX, INC_DX, NOP, HLT]);
  const { cpu } = t;
  cpu.run(1); // mov ss, ax
  cpu.raiseNmi();
  cpu.run(1); // inc dx executes first
  assert.equal(cpu.lo[RDX]! & 0xffff, 1);
  assert.deepEqual(t.nmis, []);
  cpu.run(1);
  assert.deepEqual(t.nmis, [2]);
  assert.equal(cpu.rip, HANDLER + 1);
});

Deno.test("NMI: not held by the STI shadow", () => {
  const t = setup([CLI, STI, INC_DX, NOP, HLT]);
  const { cpu } = t;
  cpu.run(2); // cli, sti (shadow)
  assert.ok(cpu.shadow);
  cpu.raiseNmi();
  cpu.run(1);
  assert.deepEqual(t.nmis, [2]);
  assert.equal(cpu.lo[RDX]! & 0xffff, 0);
  assert.equal(cpu.rip, HANDLER + 1);
});

Deno.test("NMI: pending and blocked state travel with a saved context", () => {
  const t = setup([CLI, NOP, HLT]);
  const { cpu } = t;
  cpu.nmiPending = true;
  cpu.nmiBlocked = true;
  const ctx = new CpuContext();
  saveContext(cpu, ctx);
  assert.ok(ctx.nmiPending && ctx.nmiBlocked);
  loadContext(cpu, CpuContext.reset(), 0);
  assert.ok(!cpu.nmiPending && !cpu.nmiBlocked);
  loadContext(cpu, ctx, 0);
  assert.ok(cpu.nmiPending && cpu.nmiBlocked);
});
