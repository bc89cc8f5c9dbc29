import assert from "node:assert/strict";
import { CS } from "./regs.ts";
import { enterLongMode, makeCpu } from "./testing.ts";

/** Long mode, identity-mapped with 2 MiB pages (the page directory is at 0x3000). */
function longMode() {
  const t = makeCpu(32 << 20);
  enterLongMode(t.cpu, 0x1000, 16 << 20);
  return t;
}

function runToHalt(t: ReturnType<typeof makeCpu>): void {
  for (let k = 0; k < 20 && !t.cpu.halted; k++) t.cpu.run(20);
}

// mov dword [0x3010], 0xa00083 (PD entry 2: linear 4 MiB → physical 10 MiB, 2 MiB page)
const REMAP_PD2 = [0xc7, 0x04, 0x25, 0x10, 0x30, 0, 0, 0x83, 0, 0xa0, 0];
const INVLPG_4M = [0x0f, 0x01, 0x3c, 0x25, 0, 0, 0x40, 0]; // invlpg [0x400000]

Deno.test("INVLPG of an address in a 2 MiB page drops the translations of its other 4 KiB pages (SDM 4.10.4.1)", () => {
  const t = longMode();
  t.mem.u8[0x401000] = 0x41; // old physical
  t.mem.u8[0xa01000] = 0x42; // new physical
  const load = [0x8a, 0x04, 0x25, 0x00, 0x10, 0x40, 0x00, 0xe6, 0xe9]; // mov al,[0x401000]; out 0xe9,al
  t.mem.u8.set([...load, ...REMAP_PD2, ...INVLPG_4M, ...load, 0xf4], 0x200000);
  t.cpu.rip = 0x200000;
  runToHalt(t);
  assert.equal(t.host.text(), "AB");
});

Deno.test("a far jump to another CS base does not reuse the block cached for the same IP", () => {
  const t = makeCpu();
  // 1000:0100: mov al,'A'; out 0xe9,al; jmp far 2000:0100
  t.mem.u8.set([0xb0, 0x41, 0xe6, 0xe9, 0xea, 0x00, 0x01, 0x00, 0x20], 0x10100);
  // 2000:0100: mov al,'B'; out 0xe9,al; hlt
  t.mem.u8.set([0xb0, 0x42, 0xe6, 0xe9, 0xf4], 0x20100);
  t.cpu.loadSegReal(CS, 0x1000);
  t.cpu.rip = 0x100;
  runToHalt(t);
  assert.equal(t.host.text(), "AB");
  assert.equal(t.cpu.halted, true);
});

for (
  const [where, w] of [["in another 2 MiB page", 0x800100], [
    "in the same 2 MiB page",
    0x600100,
  ]] as const
) {
  Deno.test(`code remapped by a PDE write + INVLPG runs from the new page (remapping code ${where})`, () => {
    const t = longMode();
    const v = 0x400000;
    // V: mov al,'A'; out 0xe9,al; mov eax, W; jmp rax
    t.mem.u8.set([0xb0, 0x41, 0xe6, 0xe9, 0xb8, ...le32(w), 0xff, 0xe0], v);
    // W: remap V's 2 MiB page; invlpg [V]; mov eax, V; jmp rax
    t.mem.u8.set([...REMAP_PD2, ...INVLPG_4M, 0xb8, ...le32(v), 0xff, 0xe0], w);
    // new physical page: mov al,'B'; out 0xe9,al; hlt
    t.mem.u8.set([0xb0, 0x42, 0xe6, 0xe9, 0xf4], 0xa00000);
    t.cpu.rip = v;
    runToHalt(t);
    assert.equal(t.host.text(), "AB");
    assert.deepEqual(t.host.exceptions, []);
  });
}

function le32(n: number): number[] {
  return [n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, n >>> 24];
}

Deno.test("an instruction crossing into a remapped page is decoded from the new page", () => {
  const t = longMode();
  const start = 0x3ffffc, w = 0x800100;
  // 0x3ffffc: mov eax, imm32 whose top byte is the first byte of the next page
  t.mem.u8.set([0xb8, 0, 0, 0], start);
  // old page at 4 MiB: 'A'; shr eax,24; out 0xe9,al; mov eax, W; jmp rax
  const rest = [0xc1, 0xe8, 0x18, 0xe6, 0xe9];
  t.mem.u8.set([0x41, ...rest, 0xb8, ...le32(w), 0xff, 0xe0], 0x400000);
  // new page at 10 MiB: 'B'; shr eax,24; out 0xe9,al; hlt
  t.mem.u8.set([0x42, ...rest, 0xf4], 0xa00000);
  // W: remap 4 MiB → 10 MiB; invlpg; jump back to the crossing instruction
  t.mem.u8.set([...REMAP_PD2, ...INVLPG_4M, 0xb8, ...le32(start), 0xff, 0xe0], w);
  t.cpu.rip = start;
  runToHalt(t);
  assert.equal(t.host.text(), "AB");
  assert.deepEqual(t.host.exceptions, []);
});
