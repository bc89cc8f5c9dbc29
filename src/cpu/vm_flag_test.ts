/**
 * RFLAGS.VM where it has no meaning: state loaded from outside the CPU (a Hyper-V register write,
 * an initial VP context, a VTL switch) may set VM in IA-32e mode or with CR0.PE = 0. The CPU
 * clears it and runs in the mode CR0 and EFER select (see `Cpu.updateMode`); and real mode's own
 * IRETD cannot set it.
 */

import assert from "node:assert/strict";
import { CpuContext, loadContext, saveContext } from "./context.ts";
import { CR0_PE, FLAG_IF, FLAG_VIF, FLAG_VIP, FLAG_VM, RAX, RSP } from "./regs.ts";
import { enterLongMode, makeCpu, type TestMachine } from "./testing.ts";

const CODE = 0x100000;

/** Runs until HLT (at most `n` instructions; MOV CR0 ends a run slice). */
function runToHlt(t: TestMachine, n = 10): void {
  for (let i = 0; i < n && !t.cpu.halted && !t.cpu.shutdown; i++) t.cpu.run(1);
}

Deno.test("VM = 1 loaded in IA-32e mode is cleared: 64-bit code keeps running at CPL 0", () => {
  const t = makeCpu(4 << 20);
  enterLongMode(t.cpu);
  const ctx = new CpuContext();
  saveContext(t.cpu, ctx);
  ctx.rflags |= FLAG_VM;
  ctx.rip = CODE;
  // mov rax, 0x123456789; hlt (supervisor pages: a CPL 3 fetch would #PF and triple-fault)
  t.mem.u8.set([0x48, 0xb8, 0x89, 0x67, 0x45, 0x23, 0x01, 0, 0, 0, 0xf4], CODE);
  loadContext(t.cpu, ctx, 0);
  assert.equal(t.cpu.eflags & FLAG_VM, 0);
  assert.equal(t.cpu.bits, 64);
  assert.equal(t.cpu.cpl, 0);
  runToHlt(t);
  assert.deepEqual(t.host.exceptions, []);
  assert.equal(t.host.shutdownReason, null);
  assert.equal(t.cpu.halted, true);
  assert.equal(t.cpu.reg(RAX), 0x123456789);
});

Deno.test("VM = 1 loaded with CR0.PE = 0 is cleared: setting PE later does not enter V86", () => {
  const t = makeCpu(4 << 20);
  const ctx = CpuContext.reset();
  ctx.rflags = FLAG_VM | 2;
  ctx.segSel[1] = 0;
  ctx.segBase[1] = 0;
  ctx.rip = 0x1000;
  // mov eax, cr0; or al, 1; mov cr0, eax; hlt
  t.mem.u8.set([0x0f, 0x20, 0xc0, 0x0c, 0x01, 0x0f, 0x22, 0xc0, 0xf4], 0x1000);
  loadContext(t.cpu, ctx, 0);
  assert.equal(t.cpu.eflags & FLAG_VM, 0);
  runToHlt(t);
  assert.deepEqual(t.host.exceptions, []);
  assert.equal(t.cpu.cr0 & CR0_PE, CR0_PE);
  assert.equal(t.cpu.cpl, 0);
  assert.equal(t.cpu.halted, true);
});

Deno.test("IRETD in real mode keeps VM, VIF and VIP (SDM IRET, REAL-ADDRESS-MODE)", () => {
  const t = makeCpu(4 << 20);
  const { cpu, mem } = t;
  cpu.reset();
  cpu.setSegment(1, 0, 0, 0xffff, 0x9b);
  cpu.rip = 0x1000;
  cpu.lo[RSP] = 0x2000;
  // iretd to 0000:1100 with VM, VIF, VIP and IF in the image; mov eax, cr0; or al, 1; mov cr0, eax
  mem.u8.set([0x66, 0xcf], 0x1000);
  mem.u8.set([0x0f, 0x20, 0xc0, 0x0c, 0x01, 0x0f, 0x22, 0xc0, 0xf4], 0x1100);
  [0x1100, 0, FLAG_VM | FLAG_VIF | FLAG_VIP | FLAG_IF | 2].forEach((v, i) =>
    mem.dv.setUint32(0x2000 + i * 4, v, true)
  );
  cpu.run(1);
  assert.equal(cpu.rip, 0x1100);
  assert.equal(cpu.getRflags(), FLAG_IF | 2);
  runToHlt(t);
  assert.deepEqual(t.host.exceptions, []);
  assert.equal(cpu.cpl, 0);
  assert.equal(cpu.halted, true);
});
