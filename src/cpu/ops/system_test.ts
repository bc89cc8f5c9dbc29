import assert from "node:assert/strict";
import { Asm, byte, mem } from "../../guests/asm.ts";
import { eax, ecx, edx, rax } from "../../guests/asm/operands.ts";
import { type CpuHost, GPA_MMIO } from "../host.ts";
import { CR0_PE, CS, DS, SS } from "../regs.ts";
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

/** 64-bit CPU with 4 GiB identity-mapped and the LAPIC page (0xfee00000) as MMIO. */
function mmioMachine() {
  const t = makeCpu(4 << 20);
  enterLongMode(t.cpu, 0x100000, 2 ** 32);
  const reads: number[] = [];
  const host: CpuHost = t.host, ram = t.host.resolveGpa.bind(t.host);
  host.resolveGpa = (gpn) => gpn === 0xfee00 ? GPA_MMIO : ram(gpn);
  host.mmioRead = (gpa) => {
    reads.push(gpa);
    return 0;
  };
  return { ...t, reads };
}

function runBytes(t: ReturnType<typeof makeCpu>, code: number[], rax: number) {
  t.mem.u8.set([...code, 0xf4], 0x10000);
  t.cpu.rip = 0x10000;
  t.cpu.halted = false;
  t.cpu.setReg(0, rax);
  t.cpu.setReg(4, 0x8000);
  t.cpu.run(100);
}

const CLFLUSH = [0x0f, 0xae, 0x38], CLFLUSHOPT = [0x66, 0x0f, 0xae, 0x38];
const CLWB = [0x66, 0x0f, 0xae, 0x30], LOAD = [0x8a, 0x18]; // mov bl, [rax]

Deno.test("CLFLUSH/CLFLUSHOPT/CLWB of an MMIO address (LAPIC page) do no device read", () => {
  for (const op of [CLFLUSH, CLFLUSHOPT, CLWB]) {
    const t = mmioMachine();
    runBytes(t, op, 0xfee00030);
    assert.deepEqual(t.host.exceptions, []);
    assert.equal(t.cpu.halted, true);
    assert.deepEqual(t.reads, []);
  }
  const t = mmioMachine();
  runBytes(t, LOAD, 0xfee00030); // a real load does read the device
  assert.deepEqual(t.reads, [0xfee00030]);
});

Deno.test("CLFLUSH sets accessed bits exactly as a byte load does (TLB hit: none)", () => {
  for (const op of [CLFLUSH, LOAD]) {
    const t = makeCpu(4 << 20);
    enterLongMode(t.cpu, 0x100000, 4 << 20);
    const pde = 0x102000 + 8; // the 2 MiB page at 0x200000
    const accessed = () => (t.mem.dv.getUint32(pde, true) & 0x20) !== 0;
    t.mem.dv.setUint32(pde, t.mem.dv.getUint32(pde, true) & ~0x20, true);
    runBytes(t, op, 0x200040);
    assert.equal(accessed(), true);
    // Cleared without INVLPG: the cached translation is used, no walk, the bit stays clear.
    t.mem.dv.setUint32(pde, t.mem.dv.getUint32(pde, true) & ~0x20, true);
    runBytes(t, op, 0x200080);
    assert.equal(accessed(), false);
    assert.deepEqual(t.host.exceptions, []);
  }
});

Deno.test("CLFLUSH faults like a byte load: non-canonical #GP, stack-based non-canonical #SS", () => {
  const t = makeCpu(4 << 20);
  enterLongMode(t.cpu, 0x100000, 4 << 20);
  runBytes(t, CLFLUSH, 0x8000_0000_0000); // clflush [rax]
  assert.deepEqual(t.host.exceptions.slice(0, 1), [13]);
  const u = makeCpu(4 << 20);
  enterLongMode(u.cpu, 0x100000, 4 << 20);
  u.mem.u8.set([0x48, 0x89, 0xc4, 0x0f, 0xae, 0x3c, 0x24, 0xf4], 0x10000); // mov rsp, rax; clflush [rsp]
  u.cpu.rip = 0x10000;
  u.cpu.setReg(0, 0x8000_0000_0000);
  u.cpu.run(10);
  assert.equal(u.host.exceptions[0], 12);
});

Deno.test("CLFLUSH in protected mode: checked as a read of its segment (limit, not writability)", () => {
  const t = makeCpu(4 << 20);
  t.cpu.cr0 = CR0_PE | 0x10;
  t.cpu.setSegment(CS, 0x08, 0, 0xffffffff, 0xc09b);
  t.cpu.setSegment(SS, 0x10, 0, 0xffffffff, 0xc093);
  t.cpu.setSegment(DS, 0x18, 0, 0xfff, 0x4091); // read-only data, limit 0xfff
  runBytes(t, CLFLUSH, 0xfff); // clflush [eax]: within the limit, read-only is fine
  assert.deepEqual(t.host.exceptions, []);
  assert.equal(t.cpu.halted, true);
  runBytes(t, CLFLUSH, 0x1000);
  assert.deepEqual(t.host.exceptions.slice(0, 1), [13]);
});
