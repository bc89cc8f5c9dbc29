/**
 * Legacy event delivery through 16-bit interrupt and trap gates (IDT types 6 and 7), and inner
 * stacks from a 16-bit TSS in TR, for interrupts, exceptions and call gates (SDM Vol. 3A §6.12.1,
 * INT n "INTER-PRIVILEGE-LEVEL-INTERRUPT" and "INTERRUPT-FROM-VIRTUAL-8086-MODE").
 */

import assert from "node:assert/strict";
import {
  type Desc,
  firstException,
  gate,
  paging32,
  protected32,
  segDesc,
  setIdt,
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
  VEC_PF,
  VEC_SS,
  VEC_TS,
} from "./regs.ts";
import type { TestMachine } from "./testing.ts";
import { loadV86Segments } from "./v86.ts";

const GDT = 0x1000, TSS = 0x3000, TSS16 = 0x3200, IDT = 0x6000;
/** Handlers below 64 KiB: a 16-bit gate holds a 16-bit offset. */
const HANDLER = 0x5000;
const USER = 0x20000, USTACK = 0x8000, KSTACK = 0x9000, KSTACK16 = 0xa000;
const TR16 = 0x30;

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
 * bytes 8-11 — SS0 and ESP1 in the 32-bit layout — are 0). GDT entries from 0x38 on are `extra`.
 */
function setup(
  code: number[],
  gates: [number, Desc][],
  opts: { cpl?: 0 | 3; tr16?: boolean; tss16Limit?: number; extra?: Desc[] } = {},
): TestMachine {
  const t = protected32({
    gdt: GDT,
    tss: TSS,
    extra: [tss16(TSS16, opts.tss16Limit ?? 0x2b), ...opts.extra ?? []],
    cpl: opts.cpl ?? 0,
    esp0: KSTACK,
  });
  const { cpu, mem } = t;
  if (opts.tr16) cpu.setSegment(7, TR16, TSS16, opts.tss16Limit ?? 0x2b, 0x83);
  mem.dv.setUint16(TSS16 + 2, KSTACK16, true);
  mem.dv.setUint16(TSS16 + 4, 0x10, true);
  setIdt(t, IDT, gates);
  mem.u8.set([0xeb, 0xfe], HANDLER); // jmp $
  mem.u8.set(code, USER);
  cpu.rip = USER;
  cpu.lo[RSP] = USTACK;
  cpu.setRflags(FLAG_IF | FLAG_TF | 2);
  return t;
}

/** The outer state `enterV86` leaves for an interrupt to push above EFLAGS: SP, SS, ES, DS, FS, GS. */
const V86_OUTER = [0x800, 0x1000, 0x3100, 0x3000, 0x3200, 0x3300];

/**
 * Virtual-8086 mode with `eflags` at 0x2000:`ip` (`int 0x41` there), SS:SP 0x1000:0x0800, DS 0x3000,
 * ES 0x3100, FS 0x3200, GS 0x3300.
 */
function enterV86(t: TestMachine, ip: number, eflags: number): void {
  t.mem.u8.set([0xcd, 0x41], 0x20000 + ip);
  t.cpu.setRflags(eflags);
  loadV86Segments(t.cpu, [0x3100, 0x2000, 0x1000, 0x3000, 0x3200, 0x3300]);
  t.cpu.rip = ip;
  t.cpu.lo[RSP] = 0x800;
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
  const { cpu } = t;
  enterV86(t, 0x10, FLAG_VM | FLAG_IOPL | FLAG_IF | 2);
  deliver(t);
  assert.equal(cpu.eflags & (FLAG_VM | FLAG_IF), 0);
  assert.equal(cpu.bits, 32);
  assert.equal(cpu.lo[RSP], KSTACK - 18);
  assert.deepEqual(stack(t, 9, 2), [
    0x12,
    0x2000,
    (FLAG_VM | FLAG_IOPL | FLAG_IF | 2) & 0xffff,
    ...V86_OUTER,
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
  const { cpu } = t;
  enterV86(t, 0, FLAG_VM | FLAG_IOPL | 2);
  deliver(t);
  assert.equal(cpu.lo[RSP], KSTACK16 - 36);
  assert.deepEqual(stack(t, 9, 4), [
    2,
    0x2000,
    FLAG_VM | FLAG_IOPL | 2,
    ...V86_OUTER,
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

/** Ring-0 code (0x38) whose limit ends just below HANDLER, or at it with `reach`. */
const shortCode = (reach = false) => segDesc(0, HANDLER - (reach ? 0 : 1), 0x1b, 0, 4);
/** A ring-0 stack segment (0x38) whose limit is `limit` (expand-down with `down`). */
const stackSeg = (limit: number, down = false) => segDesc(0, limit, down ? 0x17 : 0x13, 0, 4);

Deno.test("a gate offset beyond the target CS limit raises #GP(EXT), with or without a stack switch", () => {
  // 32-bit and 16-bit gates; INT n (EXT 0) and an external interrupt (EXT 1); CPL 0 and 3.
  for (const type of [0xe, 6]) {
    for (const cpl of [0, 3] as const) {
      for (const ext of [0, 1]) {
        const t = setup([0xcd, 0x41], [[0x41, gate(0x38, HANDLER, type, 3)]], {
          cpl,
          extra: [shortCode()],
        });
        const act = ext ? () => t.cpu.deliverInterrupt(0x41) : () => t.cpu.run(1);
        assert.deepEqual(firstException(t, act), [VEC_GP, ext], `type ${type} CPL ${cpl}`);
        assert.equal(t.cpu.rip, USER);
        assert.equal(t.cpu.cpl, cpl);
        assert.equal(t.cpu.lo[RSP], USTACK);
      }
    }
  }
  // An offset at the limit is within it.
  const t = setup([0xcd, 0x41], [[0x41, gate(0x38, HANDLER, 0xe, 3)]], {
    cpl: 3,
    extra: [shortCode(true)],
  });
  t.cpu.run(1);
  assert.deepEqual(t.host.exceptions, []);
  assert.equal(t.cpu.rip, HANDLER);
});

Deno.test("an inner stack without room for the frame raises #SS(SS selector + EXT)", () => {
  // The frame: 20 bytes (32-bit gate), 24 with an error code, 10 (16-bit gate); 36 from V86.
  const cases: [string, number, Desc, boolean][] = [
    ["32-bit gate, limit 1 below the top", 0xe, stackSeg(KSTACK - 2), false],
    ["16-bit gate, limit 1 below the top", 6, stackSeg(KSTACK - 2), false],
    ["32-bit gate, expand-down, 1 byte short", 0xe, stackSeg(KSTACK - 20, true), false],
    ["16-bit gate, expand-down, 1 byte short", 6, stackSeg(KSTACK - 10, true), false],
    ["32-bit gate from V86, expand-down, 1 byte short", 0xe, stackSeg(KSTACK - 36, true), true],
  ];
  for (const [what, type, ss, v86] of cases) {
    for (const ext of [0, 1]) {
      const t = setup([0xcd, 0x41], [[0x41, gate(0x08, HANDLER, type, 3)]], {
        cpl: 3,
        extra: [ss],
      });
      t.mem.dv.setUint32(TSS + 8, 0x38, true);
      if (v86) enterV86(t, 0, FLAG_VM | FLAG_IOPL | 2);
      const rsp = t.cpu.lo[RSP];
      const act = ext ? () => t.cpu.deliverInterrupt(0x41) : () => t.cpu.run(1);
      assert.deepEqual(firstException(t, act), [VEC_SS, 0x38 + ext], what);
      assert.equal(t.cpu.cpl, 3, what);
      assert.equal(t.cpu.lo[RSP], rsp, what);
    }
  }
  // Exactly enough room (expand-up and expand-down) is enough.
  for (const ss of [stackSeg(KSTACK - 1), stackSeg(KSTACK - 21, true)]) {
    const t = setup([0xcd, 0x41], [[0x41, gate(0x08, HANDLER, 0xe, 3)]], { cpl: 3, extra: [ss] });
    t.mem.dv.setUint32(TSS + 8, 0x38, true);
    deliver(t);
    assert.equal(t.cpu.segSel[SS], 0x38);
    assert.equal(t.cpu.lo[RSP], KSTACK - 20);
  }
});

Deno.test("the current stack without room for the frame raises #SS(EXT)", () => {
  // At CPL 0, SS limit 1 below ESP: 12 bytes (32-bit gate), 6 (16-bit), 16 with an error code.
  for (const type of [0xe, 6]) {
    for (const ext of [0, 1]) {
      const t = setup([0xcd, 0x41], [[0x41, gate(0x08, HANDLER, type, 3)]]);
      t.cpu.setSegment(SS, 0x10, 0, USTACK - 2, 0x4093);
      const act = ext ? () => t.cpu.deliverInterrupt(0x41) : () => t.cpu.run(1);
      assert.deepEqual(firstException(t, act), [VEC_SS, ext], `type ${type}`);
      assert.equal(t.cpu.lo[RSP], USTACK);
    }
  }
  // #AC (17) pushes an error code; a #SS while delivering it is not a double fault.
  const t = setup([0xcd, 0x41], [[17, gate(0x08, HANDLER, 0xe, 0)]]);
  t.cpu.setSegment(SS, 0x10, 0, USTACK - 2, 0x4093);
  t.cpu.lo[RSP] = USTACK + 14; // room for 12 bytes, not for the 16 with an error code
  const seen: number[] = [];
  t.host.onException = (vec, _has, err) => void seen.push(vec, err);
  t.cpu.deliverException(17, true, 0);
  assert.deepEqual(seen.slice(0, 4), [17, 0, VEC_SS, 1]);
});

Deno.test("a page fault on the inner stack stays a #PF (the room check is a limit check only)", () => {
  const t = setup([0xcd, 0x41], [[0x41, gate(0x08, HANDLER, 0xe, 3)]], { cpl: 3 });
  const { cpu } = t;
  // Identity, user-writable, but the page below KSTACK is not present.
  paging32(t, 0xb000, 0xc000, (i) => i === (KSTACK - 1) >>> 12 ? 0 : 7);
  assert.deepEqual(firstException(t, () => cpu.run(1)), [VEC_PF, 2]); // supervisor write, not present
  assert.equal(cpu.cr2, KSTACK - 4);
});
