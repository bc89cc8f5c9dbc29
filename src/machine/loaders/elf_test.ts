import assert from "node:assert/strict";
import { Asm, byte, dword, mem } from "../../guests/asm.ts";
import { al, ax, ds, eax, rax, ss } from "../../guests/asm/operands.ts";
import { detectFormat } from "./detect.ts";
import { loadElf } from "./elf.ts";
import { LoadError } from "./errors.ts";
import { buildElf, checkPlanInvariants, options, PlanMemory, runPlan } from "./testing.ts";

const MEM = 64 << 20;

/** 64-bit code: checks the bss, reads high memory through the identity map, reloads CS/DS/SS. */
function code64(base: number, bss: number) {
  const a = new Asm({ base, bits: 64 });
  const fail = a.label("fail");
  const next = a.label("next");
  a.here("entry");
  a.cmp(dword(bss), 0).jne(fail);
  a.mov(byte(MEM - 1), 0x5a).cmp(byte(MEM - 1), 0x5a).jne(fail); // last byte of RAM
  a.push(0x1234).i("pop", rax).cmp(rax, 0x1234).jne(fail); // stack at 0x7000
  a.mov(ax, 0x18).mov(ds, ax).mov(ss, ax);
  a.push(0x10).lea(rax, mem(next)).push(rax).i("retfq");
  a.bind(next).mov(al, 0x4f).out(0xe9, al).mov(al, 0x4b).out(0xe9, al).hlt();
  a.bind(fail).mov(al, 0x46).out(0xe9, al).hlt();
  return a.assemble();
}

Deno.test("plain ELF64: long mode at e_entry with identity paging and a flat GDT", () => {
  const code = code64(0x400000, 0x401000);
  const image = buildElf({
    cls: 64,
    entry: code.addressOf("entry"),
    segments: [{ paddr: 0x400000, data: code.bytes, memsz: 0x2000 }],
  });
  assert.equal(detectFormat(image), "elf64");
  const plan = loadElf(options("test64.elf", image, { cmdline: "ignored" }));
  assert.equal(checkPlanInvariants(plan, MEM), null);
  const m = new PlanMemory(plan);
  assert.deepEqual(m.bytes(0x400000, code.bytes.length), code.bytes);
  assert.equal(m.u64(0x510), 0x00af9b000000ffff);
  assert.equal(m.u64(0x518), 0x00cf93000000ffff);
  assert.equal(m.u64(0x10000), 0x11003);
  assert.deepEqual(plan.entry, {
    mode: "long64",
    rip: code.addressOf("entry"),
    regs: { rsp: 0x7000 },
    cs: { sel: 0x10, base: 0, limit: 0xffffffff, attr: 0xa09b },
    data: { sel: 0x18, base: 0, limit: 0xffffffff, attr: 0xc093 },
    gdt: { base: 0x500, limit: 0x1f },
    cr0: 0x80000011,
    cr3: 0x10000,
    cr4: 0x20,
    efer: 0x500,
    rflags: 0x2,
  });
  const t = runPlan(plan, MEM);
  assert.deepEqual(t.host.exceptions, []);
  assert.equal(t.host.text(), "OK");
});

Deno.test("plain ELF32: protected mode at e_entry", () => {
  const a = new Asm({ base: 0x100000, bits: 32 });
  const next = a.label("next");
  a.here("entry");
  a.mov(ax, 0x18).mov(ds, ax).jmpFar(0x10, next);
  a.bind(next).mov(eax, 0x7000).cmp(eax, 0x7000).mov(al, 0x4f).out(0xe9, al).hlt();
  const code = a.assemble();
  const image = buildElf({
    cls: 32,
    entry: 0x100000,
    segments: [{ paddr: 0x100000, data: code.bytes }],
  });
  assert.equal(detectFormat(image), "elf32");
  const plan = loadElf(options("test32.elf", image));
  assert.equal(plan.entry.mode, "prot32");
  assert.equal(plan.entry.rip, 0x100000);
  assert.deepEqual(plan.entry.regs, { rsp: 0x7000 });
  assert.equal(plan.entry.cs.attr, 0xc09b);
  assert.ok(!plan.writes.some((w) => w.what === "identity page tables"));
  assert.equal(new PlanMemory(plan).u64(0x510), 0x00cf9b000000ffff);
  assert.equal(runPlan(plan, MEM).host.text(), "O");
});

Deno.test("plain ELF: invalid files are LoadErrors naming the file", () => {
  const ok = buildElf({
    cls: 64,
    entry: 0x100000,
    segments: [{ paddr: 0x100000, data: new Uint8Array(32) }],
  });
  const cases: [Uint8Array, RegExp][] = [];
  const mut = (f: (b: Uint8Array, dv: DataView) => void) => {
    const b = ok.slice();
    f(b, new DataView(b.buffer));
    return b;
  };
  cases.push([mut((b) => (b[4] = 3)), /unknown ELF class 3/]);
  cases.push([mut((b) => (b[5] = 2)), /not a little-endian ELF file/]);
  cases.push([mut((_, d) => d.setUint16(16, 3, true)), /not an executable \(e_type 3/]);
  cases.push([mut((_, d) => d.setUint16(18, 40, true)), /not for x86 \(e_machine 40\)/]);
  cases.push([mut((_, d) => d.setUint16(56, 0, true)), /no program headers/]);
  cases.push([
    mut((_, d) => d.setUint16(56, 9, true)),
    /the program header table extends past the end of the file \(offset 0x40 \+ 0x1f8 > 0xa0\)/,
  ]);
  cases.push([
    mut((_, d) => d.setBigUint64(64 + 8, 0x1000n, true)),
    /^Cannot load guest bad\.elf: program header 0 extends past the end of the file \(offset 0x1000 \+ 0x20 > 0xa0\)$/,
  ]);
  cases.push([mut((_, d) => d.setBigUint64(64 + 40, 8n, true)), /p_filesz 0x20 > p_memsz 0x8/]);
  cases.push([mut((_, d) => d.setBigUint64(64 + 24, 0xfffffff0n, true)), /above 4 GiB/]);
  cases.push([
    mut((_, d) => d.setBigUint64(24, 0x200000n, true)),
    /entry point 0x200000 is not inside a loadable segment/,
  ]);
  cases.push([mut((_, d) => d.setUint32(64, 6, true)), /no loadable \(PT_LOAD\) segments/]);
  cases.push([
    mut((_, d) => d.setBigUint64(64 + 24, 0x8000000n, true)),
    /does not fit in guest memory/,
  ]);
  for (const [image, re] of cases) {
    assert.throws(() => loadElf(options("bad.elf", image)), (e: unknown) => {
      assert.ok(e instanceof LoadError, String(e));
      assert.match(e.message, re);
      return true;
    });
  }
  assert.throws(
    () => loadElf(options("k.elf", ok, { initrd: { name: "rd", bytes: new Uint8Array(1) } })),
    /cannot be given an initrd \(rd\)/,
  );
});
