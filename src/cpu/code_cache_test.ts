import assert from "node:assert/strict";
import { Asm, byte, dword } from "../guests/asm.ts";
import { eax, ebx, ecx, edx, rax } from "../guests/asm/operands.ts";
import { enterLongMode, makeCpu } from "./testing.ts";

function run(build: (a: Asm) => void, base = 0x10000) {
  const t = makeCpu(4 << 20);
  const a = new Asm({ base, bits: 64 });
  build(a);
  const img = a.assemble();
  t.mem.writeBytes(base, img.bytes);
  enterLongMode(t.cpu, 0x100000, 4 << 20);
  t.cpu.rip = base;
  t.cpu.setReg(4, 0x8000);
  for (let i = 0; i < 10000 && !t.cpu.halted && !t.cpu.shutdown; i++) t.cpu.run(1000);
  return { ...t, img };
}

Deno.test("decode cache: a rewritten instruction that already ran executes in its new form", () => {
  const { cpu, host } = run((a) => {
    const f = a.label("f");
    a.call(f).mov(ebx, eax); // first result: 1
    a.mov(byte(f, 1), 2); // patch the immediate of `mov eax, 1`
    a.call(f); // must see the new instruction
    a.hlt();
    a.bind(f).mov(eax, 1).ret();
  });
  assert.equal(cpu.halted, true);
  assert.deepEqual(host.exceptions, []);
  assert.equal(cpu.lo[3], 1);
  assert.equal(cpu.lo[0], 2);
});

Deno.test("decode cache: a store to the next instruction of the same block is seen", () => {
  const { cpu } = run((a) => {
    const next = a.label("next");
    a.mov(dword(next, 1), 0x1234); // rewrite the imm32 of the following mov
    a.bind(next).mov(eax, 7);
    a.hlt();
  });
  assert.equal(cpu.lo[0], 0x1234);
});

Deno.test("decode cache: an instruction crossing a page boundary decodes, and a write to its second page invalidates it", () => {
  const { cpu } = run((a) => {
    const done = a.label("done");
    a.space(0xffe, 0x90); // nops up to 2 bytes before the page end
    const insn = a.here("insn"); // mov eax, imm32: 5 bytes crossing into the next page
    a.mov(eax, 0x11111111);
    a.i("inc", ebx);
    a.cmp(ebx, 2).je(done);
    a.mov(byte(insn, 4), 0x22); // top byte of the immediate, in the second page
    a.jmp(insn);
    a.bind(done).hlt();
  });
  assert.equal(cpu.lo[0], 0x22111111);
  assert.equal(cpu.lo[3], 2);
});

Deno.test("decode cache: blocks are decoded once and reused", () => {
  const { cpu } = run((a) => {
    a.mov(eax, 1000);
    const loop = a.here("loop");
    a.i("dec", rax).jnz(loop).hlt();
  });
  assert.equal(cpu.lo[0], 0);
  assert.ok(cpu.code.blocksBuilt <= 4, `built ${cpu.code.blocksBuilt} blocks`);
});

Deno.test("decode cache: one write invalidates every block it overlaps, and only those", () => {
  const t = makeCpu(4 << 20);
  enterLongMode(t.cpu, 0x100000, 4 << 20);
  const starts = [0x10000, 0x10010, 0x10020, 0x10030];
  for (const s of starts) t.mem.u8.set([0x90, 0x90, 0xf4], s); // nop; nop; hlt
  const blocks = starts.map((s) => t.cpu.code.lookup(t.cpu, s, s, s));
  t.cpu.code.invalidate(0x10, 0x01, 0x20); // bytes 0x01..0x20: the first three blocks
  assert.deepEqual(blocks.map((b) => b.valid), [false, false, false, true]);
  assert.equal(t.mem.code[0x10], 1);
  t.cpu.code.invalidate(0x10, 0x31, 1); // (hlt is a block of its own)
  assert.equal(blocks[3]!.valid, false);
  assert.equal(t.mem.code[0x10], 0);
});

Deno.test("decode cache: a block runs on past a conditional branch not taken and stops at one taken", () => {
  const { cpu, img } = run((a) => {
    const loop = a.label("loop"), odd = a.label("odd");
    a.mov(ecx, 100).xor(ebx, ebx).xor(edx, edx);
    a.bind(loop).i("inc", ebx);
    a.i("test", ebx, 1).jnz(odd); // taken on odd iterations, inside the block
    a.i("inc", edx); // runs on even iterations only
    a.bind(odd).i("dec", ecx).jnz(loop);
    a.hlt();
  });
  assert.equal(cpu.lo[3], 100);
  assert.equal(cpu.lo[2], 50);
  // 3 + 50 odd iterations of 5 + 50 even ones of 6 + HLT.
  assert.equal(cpu.icount, 3 + 50 * 5 + 50 * 6 + 1);
  // One block from the loop start through the loop's jnz: the not-taken jnz did not end it.
  const loop = img.labels.get("loop")!; // identity-mapped: RIP = linear = physical
  assert.equal(cpu.code.lookup(cpu, loop, loop, loop).n, 6);
});
