import assert from "node:assert/strict";
import {
  code32,
  code64,
  data32,
  enterProtected32,
  FLAT_GDT,
  gate,
  paging32,
  protected32,
  runToFault,
  setGdt,
  setIdt,
  tss32,
  writeTss32,
} from "./desc_testing.ts";
import {
  CS,
  DS,
  ES,
  FLAG_IF,
  FLAG_IOPL,
  FLAG_NT,
  FLAG_VIF,
  FLAG_VIP,
  FLAG_VM,
  FS,
  GS,
  RCX,
  RSP,
  SEG_ATTR_UNUSABLE,
  SS,
  VEC_BP,
  VEC_GP,
  VEC_PF,
  VEC_UD,
} from "./regs.ts";
import { enterLongMode, makeCpu, type TestMachine } from "./testing.ts";
import { V86_SEG_ATTR } from "./v86.ts";

// Physical layout: supervisor structures below 0x10000 and from 0x40000, user pages between.
const GDT = 0x1000, TSS = 0x3000, IDT = 0x6000, PD = 0x7000, PT = 0x8000, ESP0 = 0xa000;
const KERNEL = 0x50000, SUPERVISOR_DATA = 0x40000;
/** Kernel entry points: IRETD, and the handlers (HLT, or IRETD for INT 0x40). */
const K_IRET = KERNEL, K_GP = KERNEL + 0x100, K_PF = KERNEL + 0x200, K_INT = KERNEL + 0x300;
const K_BP = KERNEL + 0x400;
/** The V86 task's selectors: CS, SS (SP 0x1000), DS, ES, FS, GS. */
const V_CS = 0x1000, V_SS = 0x2000, V_SP = 0x1000, V_DS = 0x3000, V_ES = 0x3100;
const V_FS = 0x3200, V_GS = 0x3300;
const IOPL3 = 3 << 12;
/** The outer state an interrupt from V86 pushes above EFLAGS: SP, SS, ES, DS, FS, GS. */
const V86_OUTER = [V_SP, V_SS, V_ES, V_DS, V_FS, V_GS];

const u32 = (t: TestMachine, at: number) => t.mem.dv.getUint32(at, true);

/**
 * 32-bit protected mode at CPL 0 with 2-level paging (identity, 4 MiB; user pages only at
 * 0x10000-0x3ffff), TR = 0x28 with an I/O bitmap for all ports (port 0x81 denied), an IDT with
 * #GP/#PF handlers that halt, INT 0x40 (DPL 3) to a handler that IRETDs, INT 3 (DPL 3), INT 0x42
 * to a ring-3 segment and INT 0x43 to a conforming one. The kernel stack holds an IRETD frame into
 * virtual-8086 mode at V_CS:0 with `eflags`; `code` is the V86 code.
 */
function setup(code: number[], eflags: number): TestMachine {
  const t = protected32({
    gdt: GDT,
    tss: TSS,
    tssLimit: 0x68 + 0x2000,
    extra: [code32(0, true)],
    esp0: ESP0,
  });
  const { cpu, mem } = t;
  const dv = mem.dv;
  dv.setUint16(TSS + 0x66, 0x68, true); // I/O map base
  mem.u8[TSS + 0x68 + (0x81 >>> 3)] = 1 << (0x81 & 7);
  mem.u8[TSS + 0x68 + 0x2000] = 0xff;
  setIdt(t, IDT, [
    [VEC_BP, gate(0x08, K_BP, 0xf, 3)],
    [VEC_GP, gate(0x08, K_GP, 0xe, 0)],
    [VEC_PF, gate(0x08, K_PF, 0xe, 0)],
    [0x40, gate(0x08, K_INT, 0xe, 3)],
    [0x42, gate(0x18, K_INT, 0xe, 3)],
    [0x43, gate(0x30, K_INT, 0xe, 3)],
  ]);
  // Paging: identity, user-accessible only at 0x10000-0x3ffff.
  paging32(t, PD, PT, (i) => 3 | (i >= 0x10 && i < 0x40 ? 4 : 0));
  mem.u8.set([0xcf], K_IRET);
  mem.u8.set([0xf4], K_GP);
  mem.u8.set([0xf4], K_PF);
  mem.u8.set([0xcf], K_INT);
  mem.u8.set([0xf4], K_BP);
  mem.u8.set(code, V_CS * 16);
  const frame = [0, V_CS, eflags, V_SP, V_SS, V_ES, V_DS, V_FS, V_GS];
  const sp = ESP0 - 0x100;
  frame.forEach((v, i) => dv.setUint32(sp + i * 4, v, true));
  cpu.lo[RSP] = sp;
  cpu.rip = K_IRET;
  return t;
}

/** Segment registers as [selector, base, limit, attr]. */
function seg(t: TestMachine, s: number): number[] {
  const c = t.cpu;
  return [c.segSel[s]!, c.segBase[s]!, c.segLimit[s]!, c.segAttr[s]!];
}

/** The dwords at the kernel stack pointer. */
function frame(t: TestMachine, n: number): number[] {
  const esp = t.cpu.lo[RSP]! >>> 0;
  return Array.from({ length: n }, (_, i) => u32(t, esp + i * 4));
}

function assertV86(t: TestMachine, ip: number, sp = V_SP): void {
  const { cpu } = t;
  assert.equal(cpu.cpl, 3);
  assert.equal(cpu.bits, 16);
  assert.equal(cpu.eflags & FLAG_VM, FLAG_VM);
  assert.equal(cpu.rip, ip);
  assert.equal(cpu.lo[RSP], sp);
  const sels = [V_ES, V_CS, V_SS, V_DS, V_FS, V_GS];
  for (let s = 0; s < 6; s++) {
    assert.deepEqual(seg(t, s), [sels[s], sels[s]! * 16, 0xffff, V86_SEG_ATTR], `segment ${s}`);
  }
}

/** Checks the CPU entered a ring-0 handler from V86 with `expected` on its stack. */
function assertLeftV86(t: TestMachine, rip: number, expected: number[]): void {
  const { cpu } = t;
  assert.equal(cpu.cpl, 0);
  assert.equal(cpu.bits, 32);
  assert.equal(cpu.eflags & FLAG_VM, 0);
  assert.equal(cpu.rip, rip);
  assert.equal(cpu.segSel[CS], 0x08);
  assert.equal(cpu.segSel[SS], 0x10);
  assert.equal(cpu.lo[RSP], ESP0 - expected.length * 4);
  assert.deepEqual(frame(t, expected.length), expected);
  for (const s of [ES, DS, FS, GS]) assert.deepEqual(seg(t, s), [0, 0, 0, SEG_ATTR_UNUSABLE]);
}

const V86_FLAGS = FLAG_VM | IOPL3 | FLAG_IF | 2;

Deno.test("IRETD at CPL 0 with VM = 1 enters virtual-8086 mode; real-mode code runs paged", () => {
  // mov ax, [0x10]; mov es:[0x12], ax; push ax; pop bx; hlt
  const t = setup([0xa1, 0x10, 0x00, 0x26, 0xa3, 0x12, 0x00, 0x50, 0x5b, 0xf4], V86_FLAGS);
  const { cpu, mem } = t;
  mem.dv.setUint16(V_DS * 16 + 0x10, 0xbeef, true);
  cpu.run(1);
  assert.deepEqual(t.host.exceptions, []);
  assertV86(t, 0);
  assert.equal(cpu.getRflags(), V86_FLAGS);
  cpu.run(4);
  assert.deepEqual(t.host.exceptions, []);
  assert.equal(mem.dv.getUint16(V_ES * 16 + 0x12, true), 0xbeef);
  assert.equal(cpu.lo[3]! & 0xffff, 0xbeef);
  assert.equal(mem.dv.getUint16(V_SS * 16 + V_SP - 2, true), 0xbeef);
  // HLT is privileged: #GP(0), delivered with the virtual-8086 frame.
  cpu.run(2);
  assert.deepEqual(t.host.exceptions, [VEC_GP]);
  assert.equal(cpu.halted, true);
  assertLeftV86(t, K_GP + 1, [
    0,
    9,
    V_CS,
    V86_FLAGS,
    ...V86_OUTER,
  ]);
});

Deno.test("a #PF in virtual-8086 mode (user access to a supervisor page) has the V86 frame", () => {
  // mov ax, 0x4000; mov ds, ax; mov ax, [0x24]
  const t = setup([0xb8, 0x00, 0x40, 0x8e, 0xd8, 0xa1, 0x24, 0x00], V86_FLAGS);
  const { cpu } = t;
  cpu.run(4);
  assert.deepEqual(t.host.exceptions, [VEC_PF]);
  assert.equal(cpu.halted, true);
  assert.equal(cpu.cr2, SUPERVISOR_DATA + 0x24);
  assert.equal(cpu.eflags & FLAG_IF, 0); // interrupt gate
  assert.equal((cpu.eflags & FLAG_IOPL) >>> 12, 3);
  assertLeftV86(t, K_PF + 1, [
    5, // present, read, user
    5,
    V_CS,
    V86_FLAGS,
    V_SP,
    V_SS,
    V_ES,
    SUPERVISOR_DATA >>> 4,
    V_FS,
    V_GS,
  ]);
});

Deno.test("INT n with IOPL 3 goes to the ring-0 handler with the V86 frame; IRETD comes back", () => {
  const t = setup([0xcd, 0x40, 0x41, 0xf4], V86_FLAGS); // int 0x40; inc cx; hlt
  const { cpu } = t;
  cpu.lo[RCX] = 0x10;
  cpu.run(2);
  assert.deepEqual(t.host.exceptions, []);
  assertLeftV86(t, K_INT, [2, V_CS, V86_FLAGS, V_SP, V_SS, V_ES, V_DS, V_FS, V_GS]);
  assert.equal(cpu.getRflags(), IOPL3 | 2); // IF, VM, TF, RF, NT cleared
  cpu.run(1); // iretd
  assert.deepEqual(t.host.exceptions, []);
  assertV86(t, 2);
  assert.equal(cpu.getRflags(), V86_FLAGS);
  cpu.run(1);
  assert.equal(cpu.lo[RCX], 0x11);
});

Deno.test("IOPL < 3: CLI, STI, PUSHF, POPF, INT n and IRET raise #GP(0); INT3 does not", () => {
  const cases: [string, number[]][] = [
    ["cli", [0xfa]],
    ["sti", [0xfb]],
    ["pushf", [0x9c]],
    ["pushfd", [0x66, 0x9c]],
    ["popf", [0x9d]],
    ["int 0x40", [0xcd, 0x40]],
    ["iret", [0xcf]],
    ["iretd", [0x66, 0xcf]],
  ];
  for (const [what, code] of cases) {
    const t = setup(code, FLAG_VM | FLAG_IF | 2);
    t.cpu.run(1);
    const f = runToFault(t, 1);
    assert.deepEqual(
      f,
      { vec: VEC_GP, err: 0, rip: 0, cs: V_CS, ss: V_SS, cpl: 3, rsp: V_SP },
      what,
    );
    t.cpu.run(2);
    assertLeftV86(t, K_GP + 1, [
      0,
      0,
      V_CS,
      FLAG_VM | FLAG_IF | 2,
      ...V86_OUTER,
    ]);
  }
  const t = setup([0xcc], FLAG_VM | 2); // int3: to the protected-mode handler (a trap gate)
  t.cpu.run(2);
  assert.deepEqual(t.host.exceptions, []);
  assertLeftV86(t, K_BP, [1, V_CS, FLAG_VM | 2, V_SP, V_SS, V_ES, V_DS, V_FS, V_GS]);
});

Deno.test("IOPL 3: CLI/STI, PUSHF/POPF and IRET work; VM and IOPL cannot be changed", () => {
  // cli; pushf; push 0x0000 (a FLAGS image with IOPL 0); popf; sti;
  // push 0x0002; push cs; push 0x0010; iret   (16-bit: to 0x10 with FLAGS = 2)
  const code = [0xfa, 0x9c, 0x6a, 0x00, 0x9d, 0xfb, 0x6a, 0x02, 0x0e, 0x6a, 0x10, 0xcf];
  const t = setup(code, V86_FLAGS);
  const { cpu, mem } = t;
  cpu.run(2);
  assert.equal(cpu.eflags & FLAG_IF, 0);
  cpu.run(1);
  assert.equal(mem.dv.getUint16(V_SS * 16 + V_SP - 2, true), IOPL3 | 2); // FLAGS: no IF
  cpu.run(2);
  assert.equal(cpu.getRflags(), FLAG_VM | IOPL3 | 2); // POPF kept IOPL 3 and VM
  cpu.run(1);
  assert.equal(cpu.getRflags(), V86_FLAGS);
  cpu.run(4);
  assert.deepEqual(t.host.exceptions, []);
  assert.equal(cpu.rip, 0x10);
  assert.equal(cpu.getRflags(), FLAG_VM | IOPL3 | 2); // IF from the image, IOPL and VM kept
  assertV86(t, 0x10, V_SP - 2);
});

Deno.test("OUT in virtual-8086 mode consults the TSS I/O bitmap whatever IOPL is", () => {
  for (const eflags of [V86_FLAGS, FLAG_VM | 2]) {
    const t = setup([0xe6, 0x80, 0xe6, 0x81], eflags); // out 0x80, al; out 0x81, al
    t.cpu.lo[0] = 0x5a;
    t.cpu.run(2);
    assert.deepEqual(t.host.out, [{ port: 0x80, size: 1, value: 0x5a }]);
    const f = runToFault(t, 1);
    assert.deepEqual(f, { vec: VEC_GP, err: 0, rip: 2, cs: V_CS, ss: V_SS, cpl: 3, rsp: V_SP });
    assert.equal(t.host.out.length, 1);
  }
});

Deno.test("virtual-8086 mode: privileged instructions #GP(0), descriptor instructions #UD", () => {
  const cases: [string, number[], number][] = [
    ["hlt", [0xf4], VEC_GP],
    ["mov eax, cr0", [0x0f, 0x20, 0xc0], VEC_GP],
    ["lgdt [0]", [0x0f, 0x01, 0x16, 0, 0], VEC_GP],
    ["lmsw ax", [0x0f, 0x01, 0xf0], VEC_GP],
    ["clts", [0x0f, 0x06], VEC_GP],
    ["rdmsr", [0x0f, 0x32], VEC_GP],
    ["invlpg [0]", [0x0f, 0x01, 0x3e, 0, 0], VEC_GP],
    ["lar ax, bx", [0x0f, 0x02, 0xc3], VEC_UD],
    ["lsl ax, bx", [0x0f, 0x03, 0xc3], VEC_UD],
    ["verr ax", [0x0f, 0x00, 0xe0], VEC_UD],
    ["verw ax", [0x0f, 0x00, 0xe8], VEC_UD],
    ["arpl ax, bx", [0x63, 0xd8], VEC_UD],
    ["lldt ax", [0x0f, 0x00, 0xd0], VEC_UD],
    ["ltr ax", [0x0f, 0x00, 0xd8], VEC_UD],
    ["sldt ax", [0x0f, 0x00, 0xc0], VEC_UD],
    ["str ax", [0x0f, 0x00, 0xc8], VEC_UD],
    ["str [0]", [0x0f, 0x00, 0x0e, 0, 0], VEC_UD],
  ];
  for (const [what, code, vec] of cases) {
    const t = setup(code, V86_FLAGS);
    t.cpu.run(1);
    const f = runToFault(t, 1);
    const err = vec === VEC_GP ? 0 : -1;
    assert.deepEqual(f?.vec, vec, what);
    if (err >= 0) assert.equal(f?.err, err, what);
    assert.equal(f?.cpl, 3, what);
    assert.equal(f?.rip, 0, what);
  }
});

Deno.test("an interrupt from V86 to a ring-3 or conforming segment raises #GP(selector)", () => {
  for (const [vec, sel] of [[0x42, 0x18], [0x43, 0x30]] as const) {
    const t = setup([0xcd, vec], V86_FLAGS);
    t.cpu.run(1);
    const f = runToFault(t, 1);
    assert.deepEqual(f, { vec: VEC_GP, err: sel, rip: 0, cs: V_CS, ss: V_SS, cpl: 3, rsp: V_SP });
    assert.equal(t.cpu.eflags & FLAG_VM, FLAG_VM);
  }
});

Deno.test("IRETD to CPL 0 with VM = 1 and EIP beyond 0xFFFF raises #GP(0) at CPL 0", () => {
  const t = setup([0x90], V86_FLAGS);
  t.mem.dv.setUint32(ESP0 - 0x100, 0x10000, true);
  const f = runToFault(t, 1);
  assert.deepEqual(f, {
    vec: VEC_GP,
    err: 0,
    rip: K_IRET,
    cs: 0x08,
    ss: 0x10,
    cpl: 0,
    rsp: ESP0 - 0x100,
  });
});

Deno.test("IRETQ at CPL 0 in IA-32e mode ignores VM in the popped RFLAGS, loads VIF and VIP", () => {
  const t = makeCpu(4 << 20);
  const { cpu, mem } = t;
  enterLongMode(cpu, 0x100000);
  setGdt(t, GDT, [[0, 0], code64(0), data32(0)]);
  const sp = 0x9000;
  [0x20010, 0x08, FLAG_VM | FLAG_VIF | FLAG_VIP | IOPL3 | 2, 0x9800, 0x10].forEach((v, i) =>
    mem.dv.setUint32(sp + i * 8, v, true)
  );
  mem.u8.set([0x48, 0xcf], 0x20000);
  cpu.rip = 0x20000;
  cpu.setReg(RSP, sp);
  cpu.run(1);
  assert.deepEqual(t.host.exceptions, []);
  assert.equal(cpu.rip, 0x20010);
  assert.equal(cpu.getRflags(), FLAG_VIF | FLAG_VIP | IOPL3 | 2);
  assert.equal(cpu.bits, 64);
  assert.equal(cpu.cpl, 0);
});

Deno.test("IRETD at CPL 3 ignores VM in the popped EFLAGS (no way into V86 but from CPL 0)", () => {
  const t = makeCpu(4 << 20);
  const { cpu, mem } = t;
  setGdt(t, GDT, FLAT_GDT);
  enterProtected32(cpu, 0x1b, 0x23);
  cpu.eflags = IOPL3 | 2;
  [0x20010, 0x1b, FLAG_VM | IOPL3 | FLAG_IF | 2].forEach((v, i) =>
    mem.dv.setUint32(0x9000 + i * 4, v, true)
  );
  mem.u8.set([0xcf], 0x20000);
  cpu.rip = 0x20000;
  cpu.lo[RSP] = 0x9000;
  cpu.run(1);
  assert.deepEqual(t.host.exceptions, []);
  assert.equal(cpu.rip, 0x20010);
  assert.equal(cpu.getRflags(), IOPL3 | FLAG_IF | 2);
  assert.equal(cpu.cpl, 3);
  assert.equal(cpu.bits, 32);
});

Deno.test("task switch into a virtual-8086 task and, through a task gate, back out and in", () => {
  const TSS_A = 0x3000, TSS_B = 0x3100, CODE = 0x20000;
  const t = protected32({ gdt: GDT, tss: TSS_A, extra: [tss32(TSS_B)] });
  const { cpu, mem } = t;
  setIdt(t, IDT, [[0x41, gate(0x28, 0, 5, 3)]]);
  // Task B: V86 at 1000:0005 (int 0x41; inc cx; hlt), IOPL 3.
  writeTss32(t, TSS_B, 5, V86_FLAGS, V_SP, [V_ES, V_CS, V_SS, V_DS, V_FS, V_GS]);
  mem.u8.set([0xcd, 0x41, 0x41, 0xf4], V_CS * 16 + 5);
  // Task A: jmp far 0x30:0; iretd
  mem.u8.set([0xea, 0, 0, 0, 0, 0x30, 0, 0xcf], CODE);
  cpu.lo[RSP] = 0x8000;
  cpu.rip = CODE;
  cpu.run(1);
  assert.deepEqual(t.host.exceptions, []);
  assert.equal(cpu.segSel[7], 0x30);
  assertV86(t, 5);
  assert.equal(cpu.getRflags(), V86_FLAGS);
  assert.equal(cpu.lo[RCX], 2);
  cpu.run(1); // int 0x41: task gate to A, saving B with VM = 1
  assert.deepEqual(t.host.exceptions, []);
  assert.equal(cpu.segSel[7], 0x28);
  assert.equal(cpu.rip, CODE + 7);
  assert.equal(cpu.cpl, 0);
  assert.equal(cpu.bits, 32);
  assert.equal(cpu.getRflags() & (FLAG_VM | FLAG_NT), FLAG_NT);
  assert.equal(u32(t, TSS_A) & 0xffff, 0x30);
  assert.equal(u32(t, TSS_B + 0x20), 7);
  assert.equal(u32(t, TSS_B + 0x24), V86_FLAGS);
  assert.deepEqual(
    Array.from({ length: 6 }, (_, i) => u32(t, TSS_B + 0x48 + i * 4) & 0xffff),
    [V_ES, V_CS, V_SS, V_DS, V_FS, V_GS],
  );
  cpu.run(1); // iretd with NT = 1: back to B, in virtual-8086 mode
  assert.deepEqual(t.host.exceptions, []);
  assert.equal(cpu.segSel[7], 0x30);
  assertV86(t, 7);
  cpu.run(1);
  assert.equal(cpu.lo[RCX], 3);
});
