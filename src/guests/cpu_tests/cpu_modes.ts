/**
 * CPU test kernel `cpu-modes` (SDM Vol. 3A ch. 3, 5, 6, 9, 10): starts in real mode (entry mode
 * "real"), takes real-mode IVT exceptions and interrupts, switches to 16- and 32-bit protected
 * mode, checks segment limits and types, 32-bit IDT delivery, descriptor-table instructions
 * (SGDT/SIDT, LTR/STR, LLDT/SLDT, LAR/LSL/VERR/VERW), CPL 3 with the I/O permission bitmap,
 * CLI/STI/POPF IOPL rules, SYSENTER/SYSEXIT, then enables PAE + EFER.LME + paging (long mode),
 * runs compatibility-mode code, SYSCALL/SYSRET, SWAPGS, RD/WRFSBASE, RDTSCP and CPUID
 * consistency checks.
 */

import {
  Asm,
  ax,
  byte,
  cx,
  dword,
  dx,
  eax,
  ebx,
  ecx,
  edx,
  esp,
  type Label,
  mem,
  qword,
  rax,
  rbx,
  rcx,
  rdx,
  reg,
  rsp,
  word,
} from "../asm.ts";
import type { BuiltinGuest } from "../demo.ts";
import { gdt, idt32, idt64, pageTables4 } from "../x86_structs.ts";
import { legacyGuest } from "./common.ts";

const BASE = 0x10000;
const cr0 = reg("cr0"), cr3 = reg("cr3"), cr4 = reg("cr4"), ds = reg("ds"), es = reg("es");
const ss = reg("ss"), fs = reg("fs"), gs = reg("gs"), al = reg("al");
const bp = reg("bp"), sp = reg("sp");
const STACK = 0x7000, RSP0 = 0x6000, USER_STACK = 0x5000;
/** Fixed scratch variables (low memory, outside the image). */
const VAR = 0x4000;

/** GDT selectors. */
const S = {
  code16: 0x08,
  data16: 0x10,
  code32: 0x18,
  data32: 0x20,
  ucode32: 0x28,
  udata32: 0x30,
  ucode64a: 0x38,
  udata32b: 0x40,
  code64: 0x48,
  data64: 0x50,
  tss32: 0x60,
  ucode64: 0x68,
  udata64: 0x70,
  tss64: 0x78,
  limited: 0x88,
  ro: 0x90,
  expDown: 0x98,
  execOnly: 0xa0,
  smallStack: 0xa8,
  notPresent: 0xb0,
  ldt: 0xb8,
} as const;

export function buildCpuModes(): BuiltinGuest {
  const a = new Asm({ base: BASE, bits: 16 });
  const { t, entry, start16, finish } = legacyGuest(a, { bias: BASE, flatData: S.data32 });

  // ---- tables ----------------------------------------------------------------------------------
  const tss32 = a.label(), tss64 = a.label(), ldt = a.label();
  const seg32 = (base: number, limit: number, type: number, dpl = 0, present = true) =>
    BigInt.asUintN(
      64,
      BigInt(limit & 0xffff) | (BigInt(base & 0xffffff) << 16n) | (BigInt(type) << 40n) |
        (1n << 44n) | (BigInt(dpl) << 45n) | ((present ? 1n : 0n) << 47n) |
        (BigInt((limit >>> 16) & 0xf) << 48n) | (1n << 54n) | (BigInt(base >>> 24) << 56n),
    );
  a.align(8);
  const g = gdt(a, [
    { type: "null" },
    { type: "code16", base: BASE },
    { type: "data16", base: BASE },
    { type: "code32" },
    { type: "data" },
    { type: "code32", dpl: 3 },
    { type: "data", dpl: 3 },
    { type: "code64", dpl: 3 },
    { type: "data", dpl: 3 },
    { type: "code64" },
    { type: "data" },
    { type: "data", dpl: 3 },
    { type: "tss32", base: tss32, limit: 104 + 128 },
    { type: "code64", dpl: 3 },
    { type: "data", dpl: 3 },
    { type: "tss64", base: tss64 },
    { type: "raw", value: seg32(0x200000, 0xfff, 0x3) }, // 0x88 limited
    { type: "raw", value: seg32(0, 0xfffff, 0x1) | (1n << 55n) }, // 0x90 read-only
    { type: "raw", value: seg32(0x200000, 0xfff, 0x7) }, // 0x98 expand-down
    { type: "raw", value: seg32(0, 0xfffff, 0x9) | (1n << 55n) }, // 0xa0 execute-only
    { type: "raw", value: seg32(0x300000, 0xfff, 0x3) }, // 0xa8 small stack
    { type: "raw", value: seg32(0, 0xfffff, 0x3, 0, false) | (1n << 55n) }, // 0xb0 not present
    { type: "raw", value: 0n }, // 0xb8 LDT descriptor (written at run time)
    { type: "raw", value: 0n },
  ], { pointerBits: 32 });
  const gdt64p = a.label();
  a.align(8).bind(gdt64p).dw(g.limit).dq(() => BigInt(a.addressOf(g.table)));
  // LDT: one data segment (selector 0x0c: index 1, TI=1).
  a.align(8).bind(ldt).dq(0n, seg32(0, 0xfffff, 0x3) | (1n << 55n));
  // 32-bit TSS: ESP0/SS0, I/O bitmap for ports 0-0x3ff (all denied but 0x3f8-0x3ff), 0xff end.
  a.align(16).bind(tss32).dd(0, RSP0, S.data32);
  a.space(102 - 12).dw(104);
  a.db(...new Array(127).fill(0xff), 0x00, 0xff);
  a.align(16).bind(tss64).dd(0).dq(BigInt(RSP0), 0n, 0n, 0n).space(104 - 36);
  const h32 = { g41: a.label(), g42: a.label(), back: a.label() };
  const sysTarget = a.label(), afterExit = a.label();
  const sysTarget64 = a.label(), afterExit64 = a.label();
  const idt32t = idt32(a, [
    ...t.stubs32.map((h, v) => ({
      vector: v,
      handler: h,
      selector: S.code32,
      type: "interrupt" as const,
    })),
    { vector: 0x41, handler: h32.g41, selector: S.code32, type: "interrupt" },
    { vector: 0x42, handler: h32.g42, selector: S.code32, type: "interrupt", dpl: 3 },
    { vector: 0x43, handler: h32.back, selector: S.code32, type: "interrupt", dpl: 3 },
  ], { count: 0x50 });
  const h64 = { back: a.label(), ipi: a.label() };
  const idt64t = idt64(a, [
    ...t.stubs64.map((h, v) => ({
      vector: v,
      handler: h,
      selector: S.code64,
      type: "interrupt" as const,
    })),
    { vector: 0x43, handler: h64.back, selector: S.code64, type: "interrupt", dpl: 3 },
    { vector: 0x44, handler: h64.ipi, selector: S.code64, type: "interrupt" },
  ], { count: 0x50 });
  const pml4 = pageTables4(a, { identityBytes: 1 << 30, pageSize: "1G", flags: 7 });
  const bounds = a.label(), ptrCompat = a.label(), sgdtBuf = a.label();
  a.align(8).bind(bounds).dd(10, 20).bind(sgdtBuf).dq(0n, 0n);
  const V = (i: number) => VAR + i * 4;
  const m = (l: Label, d = 0, size = 0) => t.m(l, d, size);

  // ---- real mode ------------------------------------------------------------------------------
  a.bind(start16);
  t.say("cpu-modes: real mode\n");
  t.installIvt();
  a.i("smsw", ax).and(ax, 1);
  t.expectEq("real mode: CR0.PE = 0 (SMSW)", ax, 0);
  // INT 0x40 through the IVT.
  const h40 = a.label(), after40 = a.label();
  a.xor(ax, ax).mov(es, ax); // ES = 0 in real mode: IVT and variables
  a.mov(word({ disp: 0x40 * 4, seg: es }), t.addr(h40)).mov(
    word({ disp: 0x102, seg: es }),
    BASE >>> 4,
  );
  a.xor(ebx, ebx).sti().int(0x40).bind(after40).cli();
  t.expectEq("real mode: INT 0x40 through the IVT ran the handler", ebx, 0x1234);
  const ev = (i: number) => dword({ disp: V(i), seg: es });
  t.expectEq("real mode: the handler ran with IF=0", ev(0), 0);
  t.expectEq("real mode: saved IP is after INT", ev(1), () => a.addressOf(after40) - BASE);
  t.expectEq("real mode: saved CS", ev(2), BASE >>> 4);
  let at = a.label();
  t.expectFault("real mode: #DE through the IVT, IP at DIV", 0, () => {
    a.xor(dx, dx).xor(cx, cx).mov(ax, 1).bind(at).div(cx);
  }, { eip: at });
  t.expectFault("real mode: #UD through the IVT", 6, () => a.i("ud2"));
  t.expectFault("real mode: word access at offset 0xffff -> #GP (segment wrap)", 13, () => {
    a.mov(ax, word(0xffff));
  });
  // To 16-bit protected mode.
  a.cli().lgdt(m(g.pointer, 0, 6));
  a.mov(eax, cr0).or(eax, 1).mov(cr0, eax);
  const pm16 = a.label();
  a.jmpFar(S.code16, () => a.addressOf(pm16) - BASE, 16);
  a.bind(pm16);
  a.mov(ax, S.data16).mov(ds, ax).mov(es, ax).mov(ax, S.data32).mov(ss, ax);
  a.i("smsw", ax).and(ax, 1);
  t.expectEq("16-bit protected mode: CR0.PE = 1", ax, 1);
  a.mov(ax, reg("cs"));
  t.expectEq("16-bit protected mode: CS = 16-bit code selector", ax, S.code16);
  const pm32 = a.label();
  a.jmpFar(S.code32, pm32, 32);

  // ---- 32-bit protected mode ---------------------------------------------------------------------
  a.bits(32).bind(pm32);
  a.mov(eax, S.data32).mov(ds, ax).mov(es, ax).mov(ss, ax).mov(fs, ax).mov(gs, ax);
  a.mov(esp, STACK).lidt(mem(idt32t.pointer));
  t.say("cpu-modes: 32-bit protected mode\n");
  at = a.label();
  t.expectFault("32-bit IDT: INT3 -> #BP, EIP after it", 3, () => a.i("int3").bind(at), {
    eip: at,
  });
  at = a.label();
  t.expectFault("32-bit IDT: #DE, EIP at DIV", 0, () => {
    a.xor(edx, edx).xor(ecx, ecx).mov(eax, 1).bind(at).div(ecx);
  }, { eip: at });
  at = a.label();
  t.expectFault("32-bit IDT: INTO with OF=1 -> #OF", 4, () => {
    a.mov(eax, 0x7fffffff).add(eax, 1).i("into").bind(at);
  }, { eip: at });
  at = a.label();
  t.expectFault("32-bit IDT: BOUND out of range -> #BR", 5, () => {
    a.mov(eax, 5).bind(at).i("bound", eax, qword(bounds));
  }, { eip: at });
  a.mov(eax, 15).i("bound", eax, qword(bounds));
  t.pass("BOUND within range: no exception");
  t.expectFault("32-bit IDT: UD2 -> #UD", 6, () => a.i("ud2"));
  // Segment type and limit checks.
  t.expectFault("write through CS -> #GP(0)", 13, () => {
    a.mov(dword({ disp: VAR, seg: reg("cs") }), eax);
  }, { err: 0 });
  a.mov(eax, dword({ disp: V(0), seg: reg("cs") }));
  t.pass("read through a readable code segment");
  t.expectFault("MOV DS, execute-only code segment -> #GP(sel)", 13, () => {
    a.mov(eax, S.execOnly).mov(ds, ax);
  }, { err: S.execOnly });
  a.mov(eax, S.ro).mov(es, ax);
  t.expectFault("write through a read-only data segment -> #GP(0)", 13, () => {
    a.mov(dword({ disp: V(0), seg: es }), eax);
  }, { err: 0 });
  a.mov(eax, S.limited).mov(es, ax).mov(eax, dword({ disp: 0xffc, seg: es }));
  t.pass("limit 0xfff: dword at 0xffc is inside");
  t.expectFault("limit 0xfff: dword at 0xffd -> #GP(0)", 13, () => {
    a.mov(eax, dword({ disp: 0xffd, seg: es }));
  }, { err: 0 });
  t.expectFault("limit 0xfff: byte write at 0x1000 -> #GP(0)", 13, () => {
    a.mov(byte({ disp: 0x1000, seg: es }), al);
  }, { err: 0 });
  a.mov(eax, S.expDown).mov(es, ax).mov(eax, dword({ disp: 0x2000, seg: es }));
  t.pass("expand-down limit 0xfff: offset 0x2000 is inside");
  t.expectFault("expand-down limit 0xfff: offset 0x800 -> #GP(0)", 13, () => {
    a.mov(eax, dword({ disp: 0x800, seg: es }));
  }, { err: 0 });
  {
    const resume = a.label();
    t.arm(12, resume);
    a.mov(eax, S.smallStack).mov(ss, ax).mov(esp, 0x800).mov(reg("ebp"), 0x1000);
    a.mov(eax, dword(reg("ebp")));
    a.bind(resume).mov(eax, S.data32).mov(ss, ax);
    t.disarm();
    t.checkCaught("SS limit 0xfff: [EBP=0x1000] -> #SS(0)", { err: 0 });
  }
  a.mov(eax, S.data32).mov(es, ax);
  t.expectFault("MOV DS, not-present segment -> #NP(sel)", 11, () => {
    a.mov(eax, S.notPresent).mov(ds, ax);
  }, { err: S.notPresent });
  t.expectFault("MOV SS, not-present segment -> #SS(sel)", 12, () => {
    a.mov(eax, S.notPresent).mov(ss, ax);
  }, { err: S.notPresent });
  t.expectFault("MOV SS, null selector -> #GP(0)", 13, () => {
    a.xor(eax, eax).mov(ss, ax);
  }, { err: 0 });
  a.xor(eax, eax).mov(fs, ax);
  t.expectFault("access through a null FS -> #GP(0)", 13, () => {
    a.mov(eax, dword({ disp: 0, seg: fs }));
  }, { err: 0 });
  // Descriptor instructions.
  a.i("sgdt", m(sgdtBuf, 0, 6));
  t.expectEq("SGDT: limit", word(sgdtBuf), g.limit);
  t.expectEq("SGDT: base", dword(sgdtBuf, 2), () => a.addressOf(g.table));
  a.i("sidt", m(sgdtBuf, 0, 6));
  t.expectEq("SIDT: limit", word(sgdtBuf), idt32t.limit);
  a.mov(ecx, S.code32).i("lar", eax, ecx);
  t.check("LAR code segment: ZF=1", () => {}, "ne");
  t.expectEq("LAR code segment: access rights (accessed after the far jump)", eax, 0x00cf9b00);
  a.mov(ecx, S.limited).i("lsl", eax, ecx);
  t.expectEq("LSL byte-granular limit", eax, 0xfff);
  a.mov(ecx, S.ro).i("lsl", eax, ecx);
  t.expectEq("LSL page-granular limit", eax, 0xffffffff);
  a.xor(ecx, ecx).mov(eax, 0x55).i("lar", eax, ecx);
  t.check("LAR null selector: ZF=0", () => {}, "e");
  a.mov(ecx, S.execOnly).i("verr", cx);
  t.check("VERR execute-only code: ZF=0", () => {}, "e");
  a.mov(ecx, S.code32).i("verr", cx);
  t.check("VERR readable code: ZF=1", () => {}, "ne");
  a.mov(ecx, S.ro).i("verw", cx);
  t.check("VERW read-only data: ZF=0", () => {}, "e");
  a.mov(ecx, S.data32).i("verw", cx);
  t.check("VERW writable data: ZF=1", () => {}, "ne");
  a.mov(ax, S.tss32).i("ltr", ax).i("str", ecx);
  t.expectEq("LTR/STR", ecx, S.tss32);
  a.mov(ecx, S.tss32).i("lar", eax, ecx).shr(eax, 8).and(eax, 0xf);
  t.expectEq("LTR marks the TSS busy (type 0xB)", eax, 0xb);
  // LDT descriptor at 0xb8 (base = ldt, limit 15, type 2).
  a.mov(eax, ldt).shl(eax, 16).or(eax, 15).mov(dword(g.table, S.ldt), eax);
  a.mov(eax, ldt).shr(eax, 16).and(eax, 0xff).or(eax, 0x8200);
  a.mov(ecx, ldt).and(ecx, 0xff000000).or(eax, ecx).mov(dword(g.table, S.ldt + 4), eax);
  a.mov(ax, S.ldt).i("lldt", ax).i("sldt", ecx);
  t.expectEq("LLDT/SLDT", ecx, S.ldt);
  a.mov(eax, 0x0c).mov(fs, ax).mov(eax, dword({ disp: V(1), seg: fs }));
  t.pass("a data segment from the LDT (TI=1) loads and reads");
  a.xor(eax, eax).i("lldt", ax);

  // ---- CPL 3 in protected mode ---------------------------------------------------------------------
  const user1 = a.label();
  a.mov(ecx, 0x174).mov(eax, S.code32).xor(edx, edx).wrmsr();
  a.mov(ecx, 0x175).mov(eax, RSP0).wrmsr();
  a.mov(ecx, 0x176).mov(eax, sysTarget).wrmsr();
  a.mov(eax, S.udata32 | 3).mov(ds, ax).mov(es, ax);
  a.mov(dword(V(8)), esp);
  a.push(S.udata32 | 3).push(USER_STACK).push(0x2).push(S.ucode32 | 3).push(user1).i("iretd");
  a.bind(user1);
  a.mov(ax, reg("cs")).and(eax, 3);
  t.expectEq("IRETD to CPL 3", eax, 3);
  t.expectFault("CPL 3, IOPL 0: IN from a port denied by the I/O bitmap -> #GP(0)", 13, () => {
    a.in_(al, 0x80);
  }, { err: 0 });
  a.mov(dx, 0x3fd).in_(al, dx);
  t.pass("CPL 3, IOPL 0: IN from a port allowed by the I/O bitmap");
  t.expectFault("CPL 3: 16-bit IN straddling a denied port -> #GP(0)", 13, () => {
    a.mov(dx, 0x3f7).in_(ax, dx);
  });
  t.expectFault("CPL 3: port beyond the I/O bitmap -> #GP(0)", 13, () => {
    a.mov(dx, 0x400).in_(al, dx);
  });
  t.expectFault("CPL 3, IOPL 0: CLI -> #GP(0)", 13, () => a.cli(), { err: 0 });
  t.expectFault("CPL 3, IOPL 0: STI -> #GP(0)", 13, () => a.sti(), { err: 0 });
  a.pushfd().or(dword(esp), 0x3200).popfd().pushfd().pop(eax).and(eax, 0x3200);
  t.expectEq("CPL 3: POPF changes neither IF nor IOPL", eax, 0);
  t.expectFault("CPL 3: INT n through a DPL 0 gate -> #GP(vector*8+2)", 13, () => a.int(0x41), {
    err: 0x41 * 8 + 2,
  });
  a.int(0x42);
  t.expectEq("CPL 3 -> 0 through a 32-bit gate: stack from TSS.ESP0", dword(V(3)), RSP0 - 20);
  t.expectEq("CPL 3 -> 0: frame SS = user SS", dword(V(4)), S.udata32 | 3);
  t.expectEq("CPL 3 -> 0: frame ESP = user ESP", dword(V(5)), USER_STACK);
  // SYSENTER to CPL 0 and SYSEXIT back.
  a.i("sysenter");
  a.bind(afterExit);
  a.mov(ax, reg("cs"));
  t.expectEq("SYSEXIT: CS = SYSENTER_CS + 16 | 3", ax, S.code32 + 16 + 3);
  a.mov(ax, ss);
  t.expectEq("SYSEXIT: SS = SYSENTER_CS + 24 | 3", ax, S.code32 + 24 + 3);
  t.expectEq("SYSENTER saw CS = SYSENTER_CS", dword(V(6)), S.code32);
  t.expectEq("SYSENTER saw ESP = SYSENTER_ESP", dword(V(7)), RSP0);
  a.int(0x43); // back to CPL 0
  // IOPL 3: CLI/STI and POPF IF allowed at CPL 3.
  const user2 = a.label();
  a.mov(eax, S.udata32 | 3).mov(ds, ax).mov(es, ax);
  a.push(S.udata32 | 3).push(USER_STACK).push(0x3002).push(S.ucode32 | 3).push(user2).i("iretd");
  a.bind(user2).cli().sti().cli();
  t.pass("CPL 3, IOPL 3: CLI/STI allowed");
  a.pushfd().or(dword(esp), 0x200).and(dword(esp), ~0x3000).popfd().pushfd().pop(eax);
  a.and(eax, 0x3200);
  t.expectEq("CPL 3, IOPL 3: POPF sets IF, leaves IOPL", eax, 0x3200);
  a.cli();
  a.int(0x43);
  // SYSENTER setup happens before the first user entry: see sysTarget below.

  // ---- to long mode ---------------------------------------------------------------------------
  a.mov(eax, cr4).or(eax, 0x20).mov(cr4, eax);
  a.mov(eax, pml4).mov(cr3, eax);
  a.mov(ecx, 0xc0000080).rdmsr().or(eax, 0x100 | 0x800 | 1).wrmsr();
  a.mov(eax, cr0).or(eax, 0x80000000).mov(cr0, eax);
  a.mov(ecx, 0xc0000080).rdmsr().and(eax, 0x400);
  t.expectEq("paging on with EFER.LME: EFER.LMA = 1 (compatibility mode)", eax, 0x400);
  const lm = a.label();
  a.jmpFar(S.code64, lm);

  // ---- 64-bit mode ----------------------------------------------------------------------------
  a.bits(64).bind(lm);
  a.mov(eax, S.data64).mov(ds, ax).mov(es, ax).mov(ss, ax);
  a.mov(rsp, STACK).lidt(mem(idt64t.pointer)).lgdt(mem(gdt64p));
  a.mov(ax, S.tss64).i("ltr", ax);
  t.say("cpu-modes: 64-bit long mode\n");
  a.mov(rax, 0x123456789n).shr(rax, 4);
  t.expectEq("64-bit mode: 64-bit register arithmetic", rax, 0x12345678);
  // Compatibility mode.
  const compat = a.label(), back64 = a.label(), skipPtr = a.label();
  a.jmp(skipPtr).bind(ptrCompat).dd(compat).dw(S.code32).bind(skipPtr);
  a.i("jmp", mem(ptrCompat).withSize(6));
  a.bits(32).bind(compat);
  a.mov(eax, 5).db(0x48); // DEC EAX in compatibility mode (a REX prefix in 64-bit mode)
  a.mov(dword(V(9)), eax);
  t.expectFault("compatibility mode: SYSCALL -> #UD (Intel)", 6, () => a.syscall());
  a.jmpFar(S.code64, back64);
  a.bits(64).bind(back64);
  t.expectEq("compatibility mode: 0x48 is DEC EAX", dword(V(9)), 4);
  // SYSCALL/SYSRET.
  wrmsr(a, 0xc0000081, (0x28n << 48n) | (BigInt(S.code64) << 32n));
  const lstar = a.label(), user64 = a.label(), afterSyscall = a.label();
  a.mov(rax, lstar).mov(rdx, rax).shr(rdx, 32).mov(ecx, 0xc0000082).wrmsr();
  wrmsr(a, 0xc0000084, 0x300); // SFMASK: IF, TF
  wrmsr(a, 0x174, S.code64);
  a.mov(ecx, 0x176).mov(rax, sysTarget64).mov(rdx, rax).shr(rdx, 32).wrmsr();
  a.mov(dword(V(8)), esp);
  a.push(S.udata64 | 3).push(USER_STACK).push(0x3202).push(S.ucode64 | 3).mov(rax, user64).push(
    rax,
  );
  a.iretq();
  a.bind(user64);
  a.syscall().bind(afterSyscall);
  t.expectEq("SYSCALL: RCX = return RIP", dword(V(10)), () => a.addressOf(afterSyscall));
  t.expectEq("SYSCALL: R11 = RFLAGS", dword(V(11)), 0x3202);
  t.expectEq("SYSCALL: CS = STAR[47:32]", dword(V(12)), S.code64);
  t.expectEq("SYSCALL: SS = STAR[47:32] + 8", dword(V(13)), S.code64 + 8);
  t.expectEq("SYSCALL: RFLAGS masked by SFMASK", dword(V(14)), 0x3002);
  a.mov(ax, reg("cs"));
  t.expectEq("SYSRET: CS = STAR[63:48] + 16 | 3", ax, 0x28 + 16 + 3);
  a.mov(ax, ss);
  t.expectEq("SYSRET: SS = STAR[63:48] + 8 | 3", ax, 0x28 + 8 + 3);
  t.expectFault("SWAPGS at CPL 3 -> #GP(0)", 13, () => a.i("swapgs"), { err: 0 });
  // SYSENTER/SYSEXIT in 64-bit mode.
  a.i("sysenter").bind(afterExit64);
  a.mov(ax, reg("cs"));
  t.expectEq("SYSEXIT (64): CS = SYSENTER_CS + 32 | 3", ax, S.code64 + 32 + 3);
  a.mov(ax, ss);
  t.expectEq("SYSEXIT (64): SS = SYSENTER_CS + 40 | 3", ax, S.code64 + 40 + 3);
  t.expectEq("SYSENTER (64) saw CS = SYSENTER_CS", dword(V(6)), S.code64);
  a.int(0x43);
  // SWAPGS.
  wrmsr(a, 0xc0000101, 0x1111);
  wrmsr(a, 0xc0000102, 0x2222);
  a.i("swapgs").mov(ecx, 0xc0000101).rdmsr();
  t.expectEq("SWAPGS: GS base <- KERNEL_GS_BASE", eax, 0x2222);
  a.mov(ecx, 0xc0000102).rdmsr();
  t.expectEq("SWAPGS: KERNEL_GS_BASE <- old GS base", eax, 0x1111);
  // RD/WRFSBASE.
  t.expectFault("WRFSBASE with CR4.FSGSBASE=0 -> #UD", 6, () => a.i("wrfsbase", rax));
  a.mov(rax, cr4).or(eax, 0x10000).mov(cr4, rax);
  a.mov(dword(VAR + 0x100), 0xfeed).mov(rax, VAR + 0x100).i("wrfsbase", rax);
  a.mov(eax, dword({ disp: 0, seg: fs }));
  t.expectEq("WRFSBASE: FS-relative access uses the new base", eax, 0xfeed);
  a.mov(ecx, 0xc0000100).rdmsr();
  t.expectEq("WRFSBASE: IA32_FS_BASE", eax, VAR + 0x100);
  a.i("rdfsbase", rbx);
  t.expectEq("RDFSBASE", rbx, VAR + 0x100);
  // RDTSCP / TSC_AUX.
  wrmsr(a, 0xc0000103, 0x42);
  a.i("rdtscp");
  t.expectEq("RDTSCP: ECX = IA32_TSC_AUX", ecx, 0x42);
  t.expectFault("WRMSR TSC_AUX with bits 63:32 set -> #GP(0)", 13, () => {
    a.mov(ecx, 0xc0000103).mov(eax, 1).mov(edx, 1).wrmsr();
  }, { err: 0 });
  // STI interrupt shadow (x2APIC self-IPI pending while IF=0).
  wrmsr(a, 0x1b, 0xfee00c00);
  wrmsr(a, 0x80f, 0x1ff);
  a.mov(dword(V(15)), 0).xor(ebx, ebx);
  wrmsr(a, 0x83f, 0x44); // self IPI, vector 0x44
  a.sti().mov(ebx, 1).mov(ebx, 2).cli();
  t.expectEq(
    "STI shadow: the interrupt comes after the instruction following STI",
    dword(V(15)),
    1,
  );
  // CPUID consistency.
  a.xor(eax, eax).cpuid();
  t.expectEq("CPUID 0: GenuineIntel (EBX)", ebx, 0x756e6547);
  a.mov(eax, 1).cpuid().mov(dword(V(16)), ecx).mov(dword(V(17)), edx);
  a.mov(eax, dword(V(17))).and(eax, (1 << 3) | (1 << 6) | (1 << 11) | (1 << 13));
  t.expectEq("CPUID 1: PSE, PAE, SEP, PGE advertised (all used above)", eax, 0x2848);
  a.mov(eax, dword(V(17))).and(eax, 2 | 4 | 0x80);
  t.expectEq("CPUID 1: VME, DE, MCE not advertised", eax, 0);
  for (
    const [bit, name] of [[1, "VME"], [8, "DE"], [0x40, "MCE"], [0x800, "UMIP"], [
      0x20000,
      "PCIDE",
    ]] as const
  ) {
    t.expectFault(`CR4.${name} (not advertised) -> #GP(0)`, 13, () => {
      a.mov(rax, cr4).or(eax, bit).mov(cr4, rax);
    }, { err: 0 });
  }
  a.mov(eax, dword(V(16))).and(eax, (1 << 3) | (1 << 17) | (1 << 28) | (1 << 30));
  t.expectEq("CPUID 1: MONITOR, PCID, AVX, RDRAND not advertised", eax, 0);
  t.expectFault("RDRAND (not advertised) -> #UD", 6, () => a.i("rdrand", eax));
  a.mov(eax, 7).xor(ecx, ecx).cpuid().and(ebx, (1 << 7) | (1 << 20));
  t.expectEq("CPUID 7: SMEP and SMAP advertised", ebx, (1 << 7) | (1 << 20));
  a.mov(rax, cr4).or(eax, 1 << 18).mov(cr4, rax).xor(ecx, ecx).i("xgetbv");
  t.expectEq(
    "CPUID 1: XSAVE advertised -> CR4.OSXSAVE settable, XGETBV(0) = 1 (x87) after reset",
    eax,
    1,
  );
  a.mov(eax, 1).cpuid().and(ecx, 1 << 27);
  t.expectEq("CPUID 1: OSXSAVE mirrors CR4.OSXSAVE", ecx, 1 << 27);
  a.mov(eax, 0x80000001).cpuid().and(edx, (1 << 20) | (1 << 27) | (1 << 29));
  t.expectEq("CPUID 0x80000001: NX, RDTSCP, LM advertised", edx, (1 << 20) | (1 << 27) | (1 << 29));
  t.say("cpu-modes: done\n");
  a.jmp(t.finish64);

  // ---- handlers --------------------------------------------------------------------------------
  a.bits(16).bind(h40);
  a.mov(ebx, 0x1234).push(bp).mov(bp, sp).push(ds).push(eax);
  a.mov(ax, 0).mov(ds, ax).pushf().pop(ax).and(eax, 0x200).mov(dword(V(0)), eax);
  a.movzx(eax, word(bp, 2)).mov(dword(V(1)), eax).movzx(eax, word(bp, 4)).mov(dword(V(2)), eax);
  a.pop(eax).pop(ds).pop(bp).iret();
  a.bits(32);
  a.bind(h32.g41).i("iretd");
  a.bind(h32.g42).mov(dword(V(3)), esp).push(eax);
  a.mov(eax, dword(esp, 20)).mov(dword(V(4)), eax).mov(eax, dword(esp, 16)).mov(dword(V(5)), eax);
  a.pop(eax).i("iretd");
  // 0x43: continue at CPL 0 after the INT, on the kernel stack.
  a.bind(h32.back).mov(eax, dword(esp)).mov(esp, dword(V(8))).push(2).popfd();
  a.mov(ecx, S.data32).mov(ds, cx).mov(es, cx).jmp(eax);
  a.bind(sysTarget);
  a.mov(ax, reg("cs")).movzx(eax, ax).mov(dword(V(6)), eax).mov(dword(V(7)), esp);
  a.mov(ecx, USER_STACK).mov(edx, afterExit).i("sysexit");
  a.bits(64);
  a.bind(lstar).mov(dword(V(10)), ecx).mov(dword(V(11)), reg("r11d"));
  a.mov(ax, reg("cs")).movzx(eax, ax).mov(dword(V(12)), eax);
  a.mov(ax, ss).movzx(eax, ax).mov(dword(V(13)), eax);
  a.pushfq().pop(rax).mov(dword(V(14)), eax);
  a.i("sysretq"); // back to RCX with RFLAGS = R11
  a.bind(sysTarget64);
  a.mov(ax, reg("cs")).movzx(eax, ax).mov(dword(V(6)), eax);
  a.mov(rcx, USER_STACK).mov(rdx, afterExit64).i("sysexitq");
  a.bind(h64.back).mov(rax, qword(rsp)).mov(esp, dword(V(8))).push(2).popfq().jmp(rax);
  a.bind(h64.ipi).mov(dword(V(15)), ebx);
  a.push(rcx).push(rdx).push(rax).mov(ecx, 0x80b).xor(eax, eax).xor(edx, edx).wrmsr();
  a.pop(rax).pop(rdx).pop(rcx).iretq();
  void [sysTarget, sysTarget64];

  finish();
  const img = a.assemble();
  return {
    name: "cpu-modes",
    bytes: img.bytes,
    load: BASE,
    entry: { rip: img.addressOf(entry), rsp: STACK, cr3: 0, gdtBase: 0, gdtLimit: 0 },
    entryMode: "real",
  };
}

/** WRMSR with a constant (64-bit mode). */
function wrmsr(a: Asm, msr: number, v: number | bigint): void {
  const b = BigInt.asUintN(64, BigInt(v));
  a.mov(ecx, msr).mov(eax, Number(b & 0xffffffffn) | 0).mov(edx, Number(b >> 32n) | 0).wrmsr();
}
