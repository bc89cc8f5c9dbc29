import assert from "node:assert/strict";
import { Asm, byte, mem } from "../../guests/asm.ts";
import { eax, ecx, edx, rax } from "../../guests/asm/operands.ts";
import { enterLongMode, makeCpu } from "../testing.ts";

function run(build: (a: Asm) => void, base = 0x10000) {
  const t = makeCpu(4 << 20);
  const a = new Asm({ base, bits: 64 });
  build(a);
  t.mem.writeBytes(base, a.assemble().bytes);
  enterLongMode(t.cpu, 0x100000, 4 << 20);
  t.cpu.rip = base;
  t.cpu.setReg(4, 0x8000);
  for (let i = 0; i < 100 && !t.cpu.halted && !t.cpu.shutdown; i++) t.cpu.run(1000);
  return t;
}

Deno.test("PREFETCHh never faults: unmapped and non-canonical addresses are hints (SDM PREFETCHh)", () => {
  const { cpu, host } = run((a) => {
    a.mov(rax, 0x7fff_0000_0000); // canonical, not mapped
    for (const m of ["prefetcht0", "prefetcht1", "prefetcht2", "prefetchnta", "prefetchw"]) {
      a.i(m, byte(mem(rax, 0x70)));
    }
    a.mov(rax, 0x8000_0000_0000_0000n); // non-canonical
    a.i("prefetcht0", byte(mem(rax, 0)));
    a.hlt();
  });
  assert.deepEqual(host.exceptions, []);
  assert.equal(cpu.halted, true);
});

Deno.test("CLFLUSH of an unmapped address faults like a byte load", () => {
  const { host } = run((a) => {
    a.mov(rax, 0x7fff_0000_0000);
    a.i("clflush", byte(mem(rax, 0)));
    a.hlt();
  });
  assert.equal(host.exceptions[0], 14);
});

Deno.test("IA32_BIOS_SIGN_ID (0x8b): writable, reads microcode revision 0", () => {
  const { cpu, host } = run((a) => {
    a.mov(ecx, 0x8b).xor(eax, eax).xor(edx, edx).i("wrmsr");
    a.mov(eax, -1).mov(edx, -1).i("rdmsr");
    a.hlt();
  });
  assert.deepEqual(host.exceptions, []);
  assert.equal(cpu.lo[0], 0);
  assert.equal(cpu.lo[2], 0);
});
