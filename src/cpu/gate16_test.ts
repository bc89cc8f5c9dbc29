/**
 * Legacy event delivery through 16-bit interrupt and trap gates (IDT types 6 and 7), and inner
 * stacks from a 16-bit TSS in TR, for interrupts, exceptions and call gates (SDM Vol. 3A §6.12.1,
 * INT n "INTER-PRIVILEGE-LEVEL-INTERRUPT" and "INTERRUPT-FROM-VIRTUAL-8086-MODE").
 */

import assert from "node:assert/strict";
import {
  code32,
  data32,
  type Desc,
  enterProtected32,
  gate,
  segDesc,
  setGdt,
  tss32,
} from "./desc_testing.ts";
import {
  CS,
  DS,
  ES,
  FLAG_IF,
  FLAG_IOPL,
  FLAG_TF,
  FLAG_VM,
  FS,
  GS,
  RSP,
  SEG_ATTR_UNUSABLE,
  SS,
  VEC_GP,
  VEC_TS,
} from "./regs.ts";
import { makeCpu, type TestMachine } from "./testing.ts";
import { loadV86Segments } from "./v86.ts";

const GDT = 0x1000, TSS = 0x3000, TSS16 = 0x3200, IDT = 0x6000;
/** Handlers below 64 KiB: a 16-bit gate holds a 16-bit offset. */
const HANDLER = 0x5000;
const USER = 0x20000, USTACK = 0x8000, KSTACK = 0x9000, KSTACK16 = 0xa000;
const TR = 0x28, TR16 = 0x30;

const u16 = (t: TestMachine, at: number) => t.mem.dv.getUint16(at, true);
const u32 = (t: TestMachine, at: number) => t.mem.dv.getUint32(at, true);
/** The `n` words (2 or 4 bytes each) at the stack pointer. */
function stack(t: TestMachine, n: number, size: 2 | 4): number[] {
  const sp = t.cpu.lo[RSP]! >>> 0;
  return Array.from({ length: n }, (_, i) => size === 2 ? u16(t, sp + i * 2) : u32(t, sp + i * 4));
}

/** A 16-bit TSS descriptor (type 1, busy 3). */
const tss16 = (base: number, limit = 0x2b, busy = true): Desc =>
  segDesc(base, limit, busy ? 3 : 1, 0, 0);

/**
 * 32-bit protected mode without paging at CPL `cpl` (CS 0x08/0x1b, SS and DS 0x10/0x23), user
 * code `code` at USER, `jmp $` at HANDLER, the IDT at IDT with `gates` ([vector, descriptor]). TR holds
 * the 32-bit TSS (ESP0 = KSTACK) or, with `tr16`, the 16-bit TSS (SP0 = KSTACK16, SS0 = 0x10; its
 * bytes 8-11 — SS0 and ESP1 in the 32-bit layout — are 0).
 */
function setup(
  code: number[],
  gates: [number, Desc][],
  opts: { cpl?: 0 | 3; tr16?: boolean; tss16Limit?: number } = {},
): TestMachine {
  const t = makeCpu(4 << 20);
  const { cpu, mem } = t;
  const dv = mem.dv;
  setGdt(t, GDT, [
    [0, 0],
    code32(0),
    data32(0),
    code32(3),
    data32(3),
    tss32(TSS, 0x67, 0, true),
    tss16(TSS16, opts.tss16Limit ?? 0x2b),
  ]);
  if (opts.cpl === 3) enterProtected32(cpu, 0x1b, 0x23);
  else enterProtected32(cpu);
  if (opts.tr16) cpu.setSegment(7, TR16, TSS16, opts.tss16Limit ?? 0x2b, 0x83);
  else cpu.setSegment(7, TR, TSS, 0x67, 0x8b);
  dv.setUint32(TSS + 4, KSTACK, true);
  dv.setUint32(TSS + 8, 0x10, true);
  dv.setUint16(TSS16 + 2, KSTACK16, true);
  dv.setUint16(TSS16 + 4, 0x10, true);
  for (const [vec, d] of gates) {
    dv.setInt32(IDT + vec * 8, d[0], true);
    dv.setInt32(IDT + vec * 8 + 4, d[1], true);
  }
  cpu.idtBase = IDT;
  cpu.idtLimit = 0x7ff;
  mem.u8.set([0xeb, 0xfe], HANDLER); // jmp $
  mem.u8.set(code, USER);
  cpu.rip = USER;
  cpu.lo[RSP] = USTACK;
  cpu.setRflags(FLAG_IF | FLAG_TF | 2);
  return t;
}

/** Runs one instruction (the one raising the event) and checks it entered HANDLER at CPL 0. */
function deliver(t: TestMachine, exceptions: number[] = []): void {
  t.cpu.run(1);
  assert.deepEqual(t.host.exceptions, exceptions);
  assert.equal(t.cpu.rip, HANDLER);
  assert.equal(t.cpu.cpl, 0);
  assert.equal(t.cpu.segSel[CS], 0x08);
  assert.equal(t.cpu.eflags & FLAG_TF, 0);
}

const FLAGS = FLAG_IF | FLAG_TF | 2;

Deno.test("16-bit interrupt gate at the same privilege: FLAGS, CS, IP pushed as words; IF cleared", () => {
  // int 0x41; the gate's reserved offset bits 31:16 are ignored.
  const t = setup([0xcd, 0x41], [[0x41, gate(0x08, 0xdead0000 + HANDLER, 6, 0)]]);
  deliver(t);
  assert.equal(t.cpu.eflags & FLAG_IF, 0);
  assert.equal(t.cpu.segSel[SS], 0x10);
  assert.equal(t.cpu.lo[RSP], USTACK - 6);
  assert.deepEqual(stack(t, 3, 2), [(USER + 2) & 0xffff, 0x08, FLAGS]);
});

Deno.test("16-bit trap gate from ring 3: stack switch, SS and SP pushed as words; IF kept", () => {
  const t = setup([0xcd, 0x41], [[0x41, gate(0x08, HANDLER, 7, 3)]], { cpl: 3 });
  deliver(t);
  assert.equal(t.cpu.eflags & FLAG_IF, FLAG_IF);
  assert.equal(t.cpu.segSel[SS], 0x10);
  assert.equal(t.cpu.lo[RSP], KSTACK - 10);
  assert.deepEqual(stack(t, 5, 2), [(USER + 2) & 0xffff, 0x1b, FLAGS, USTACK, 0x23]);
});

Deno.test("an exception through a 16-bit interrupt gate pushes a 16-bit error code", () => {
  // mov ax, 0x28; mov ds, ax: a TSS selector in DS is #GP(0x28).
  const code = [0x66, 0xb8, 0x28, 0x00, 0x8e, 0xd8];
  const t = setup(code, [[VEC_GP, gate(0x08, HANDLER, 6, 0)]], { cpl: 3 });
  t.cpu.setRflags(FLAG_IF | 2); // no single-step trap after the MOV
  t.cpu.run(1);
  deliver(t, [VEC_GP]);
  assert.equal(t.cpu.lo[RSP], KSTACK - 12);
  assert.deepEqual(stack(t, 6, 2), [0x28, (USER + 4) & 0xffff, 0x1b, FLAG_IF | 2, USTACK, 0x23]);
});

Deno.test("16-bit gate from virtual-8086 mode: a 16-bit frame with GS, FS, DS, ES", () => {
  const t = setup([], [[0x41, gate(0x08, HANDLER, 6, 3)]]);
  const { cpu, mem } = t;
  // V86 at 0x2000:0x0010 (int 0x41), SS:SP 0x1000:0x0800.
  mem.u8.set([0xcd, 0x41], 0x20010);
  cpu.setRflags(FLAG_VM | FLAG_IOPL | FLAG_IF | 2);
  loadV86Segments(cpu, [0x3100, 0x2000, 0x1000, 0x3000, 0x3200, 0x3300]);
  cpu.rip = 0x10;
  cpu.lo[RSP] = 0x800;
  deliver(t);
  assert.equal(cpu.eflags & (FLAG_VM | FLAG_IF), 0);
  assert.equal(cpu.bits, 32);
  assert.equal(cpu.lo[RSP], KSTACK - 18);
  assert.deepEqual(stack(t, 9, 2), [
    0x12,
    0x2000,
    (FLAG_VM | FLAG_IOPL | FLAG_IF | 2) & 0xffff,
    0x800,
    0x1000,
    0x3100,
    0x3000,
    0x3200,
    0x3300,
  ]);
  for (const s of [ES, DS, FS, GS]) assert.equal(cpu.segAttr[s], SEG_ATTR_UNUSABLE);
});

Deno.test("a 16-bit TSS in TR gives the inner SS:SP from its 16-bit layout (SP0 at 2, SS0 at 4)", () => {
  // Through a 32-bit gate (32-bit frame) and a 16-bit gate (16-bit frame).
  const t = setup([0xcd, 0x41], [[0x41, gate(0x08, HANDLER, 0xe, 3)]], { cpl: 3, tr16: true });
  deliver(t);
  assert.equal(t.cpu.segSel[SS], 0x10);
  assert.equal(t.cpu.lo[RSP], KSTACK16 - 20);
  assert.deepEqual(stack(t, 5, 4), [USER + 2, 0x1b, FLAGS, USTACK, 0x23]);
  const w = setup([0xcd, 0x41], [[0x41, gate(0x08, HANDLER, 7, 3)]], { cpl: 3, tr16: true });
  deliver(w);
  assert.equal(w.cpu.lo[RSP], KSTACK16 - 10);
  assert.deepEqual(stack(w, 5, 2), [(USER + 2) & 0xffff, 0x1b, FLAGS, USTACK, 0x23]);
});

Deno.test("a 16-bit TSS in TR gives the ring-0 stack when leaving virtual-8086 mode", () => {
  const t = setup([], [[0x41, gate(0x08, HANDLER, 0xe, 3)]], { tr16: true });
  const { cpu, mem } = t;
  mem.u8.set([0xcd, 0x41], 0x20000);
  cpu.setRflags(FLAG_VM | FLAG_IOPL | 2);
  loadV86Segments(cpu, [0x3100, 0x2000, 0x1000, 0x3000, 0x3200, 0x3300]);
  cpu.rip = 0;
  cpu.lo[RSP] = 0x800;
  deliver(t);
  assert.equal(cpu.lo[RSP], KSTACK16 - 36);
  assert.deepEqual(stack(t, 9, 4), [
    2,
    0x2000,
    FLAG_VM | FLAG_IOPL | 2,
    0x800,
    0x1000,
    0x3100,
    0x3000,
    0x3200,
    0x3300,
  ]);
});

Deno.test("a 16-bit TSS too short for SS0 raises #TS(TR), with EXT for an external interrupt", () => {
  // Limit 4: SS0 at 4-5 lies beyond it. INT n (EXT 0), then an external interrupt (EXT 1).
  for (const ext of [0, 1]) {
    const t = setup([0xcd, 0x41], [[0x41, gate(0x08, HANDLER, 0xe, 3)]], {
      cpl: 3,
      tr16: true,
      tss16Limit: 4,
    });
    const seen: number[] = [];
    t.host.onException = (vec, _has, err) => void seen.push(vec, err);
    if (ext) t.cpu.deliverInterrupt(0x41);
    else t.cpu.run(1);
    assert.deepEqual(seen.slice(0, 2), [VEC_TS, TR16 + ext]);
  }
});

Deno.test("CALL through a call gate to ring 0 with a 16-bit TSS in TR: SS:SP from its layout", () => {
  const code = [0x9a, 0, 0, 0, 0, 0x38, 0x00]; // call far 0x38:0
  const t = setup(code, [], { cpl: 3, tr16: true });
  t.cpu.setRflags(2);
  const dv = t.mem.dv;
  dv.setInt32(GDT + 0x38, gate(0x08, HANDLER, 0xc, 3)[0], true);
  dv.setInt32(GDT + 0x3c, gate(0x08, HANDLER, 0xc, 3)[1], true);
  t.cpu.gdtLimit = 0x3f;
  deliver(t);
  assert.equal(t.cpu.segSel[SS], 0x10);
  assert.equal(t.cpu.lo[RSP], KSTACK16 - 16);
  assert.deepEqual(stack(t, 4, 4), [USER + 7, 0x1b, USTACK, 0x23]);
});
