/**
 * CPU test kernel `cpu-legacy` (SDM Vol. 3A ch. 5, 6, 7, 20): legacy far transfers and event
 * delivery in 32-bit protected mode with paging. Starts in real mode (entry mode "real"), then:
 *
 * - (a) a far CALL from ring 3 through a call gate with 2 parameters to ring 0 (stack from
 *   TSS.ESP0, parameters copied) and RETF 8 back;
 * - (b) a kernel stack overflow into a not-present guard page: the #PF cannot be delivered on the
 *   same stack, and the #DF goes through a task gate to a separate TSS, whose handler checks the
 *   back link and the state saved in the old TSS, repairs it and IRETs (NT) back;
 * - (c) virtual-8086 mode: IRETD with VM = 1, INT n at IOPL 3 to a ring-0 handler and IRETD back,
 *   then CLI at IOPL 0 raising #GP with the virtual-8086 frame;
 * - (d) 16-bit interrupt and trap gates: from ring 0 (no stack switch), from ring 3 (stack switch,
 *   16-bit IRET back to ring 3) and from virtual-8086 mode (16-bit GS/FS/DS/ES frame).
 *
 * Excursions to ring 3 and virtual-8086 mode come back through INT 0x43 (`back`), which resumes
 * the ring-0 code at `V(CONT)` on the stack saved in `V(KESP)`.
 */

import { Asm, ax, bp, dword, eax, ecx, esp, type Label, mem, reg, sp, word } from "../asm.ts";
import type { BuiltinGuest } from "../demo.ts";
import { gdt, idt32 } from "../x86_structs.ts";
import { legacyGuest } from "./common.ts";

const BASE = 0x10000;
const cr0 = reg("cr0"), cr2 = reg("cr2"), cr3 = reg("cr3"), cs = reg("cs"), ds = reg("ds");
const es = reg("es"), ss = reg("ss"), fs = reg("fs"), gs = reg("gs");
const STACK = 0x7000, RSP0 = 0x6000, USER_STACK = 0x5000;
/** Fixed scratch variables (low memory, outside the image). */
const VAR = 0x4000;
const V = (i: number) => VAR + i * 4;
const KESP = 100, CONT = 101;
/** The overflowing kernel stack: a present page at OVF, a not-present guard page below it. */
const OVF = 0x81000, GUARD = 0x80000;
/** The #DF task's stack (top). */
const DF_STACK = 0x83000;

const FLAG_IF = 0x200, FLAG_NT = 0x4000, FLAG_VM = 0x20000, IOPL3 = 0x3000;
/** Virtual-8086 segments (ES, DS, FS, GS; CS holds the image, SS = 0). */
const V_CS = BASE >>> 4, V_ES = 0x400, V_DS = 0, V_FS = 0x300, V_GS = 0x200;

/** GDT selectors. */
const S = {
  code16: 0x08, // base BASE: the 16-bit gates' handlers
  data16: 0x10,
  code32: 0x18,
  data32: 0x20,
  ucode32: 0x28,
  udata32: 0x30,
  tss: 0x38,
  dfTss: 0x40,
  callGate: 0x48, // written at run time
  code32b: 0x50, // 32-bit, base BASE: callers of 16-bit gates (16-bit return IP)
  ucode32b: 0x58,
} as const;

export function buildCpuLegacy(): BuiltinGuest {
  const a = new Asm({ base: BASE, bits: 16 });
  const { t, entry, start16, finish } = legacyGuest(a, { bias: BASE, flatData: S.data32 });
  /** Offset of `l` from BASE (a 16-bit IP in the segments based at BASE). */
  const off = (l: Label) => () => a.addressOf(l) - BASE;

  // ---- tables ----------------------------------------------------------------------------------
  const tss = a.label("tss"), dfTss = a.label("df_tss"), pd = a.label("pd"), pt = a.label("pt");
  const h = {
    back: a.label(),
    v86Int: a.label(),
    gpV86: a.label(),
    df: a.label(),
    callTarget: a.label(),
    g46: a.label(),
    g47: a.label(),
    g48: a.label(),
  };
  a.align(8);
  const g = gdt(a, [
    { type: "null" },
    { type: "code16", base: BASE },
    { type: "data16", base: BASE },
    { type: "code32" },
    { type: "data" },
    { type: "code32", dpl: 3 },
    { type: "data", dpl: 3 },
    { type: "tss32", base: tss },
    { type: "tss32", base: dfTss },
    { type: "raw", value: 0n },
    { type: "code32", base: BASE },
    { type: "code32", base: BASE, dpl: 3 },
  ], { pointerBits: 32 });
  const idt = idt32(a, [
    ...t.stubs32.map((handler, vector) =>
      vector === 8
        ? { vector, selector: S.dfTss, type: "task" as const }
        : { vector, handler, selector: S.code32, type: "interrupt" as const }
    ),
    { vector: 0x43, handler: h.back, selector: S.code32, type: "interrupt", dpl: 3 },
    { vector: 0x44, handler: h.v86Int, selector: S.code32, type: "interrupt", dpl: 3 },
    { vector: 0x46, handler: off(h.g46), selector: S.code16, type: "interrupt16" },
    { vector: 0x47, handler: off(h.g47), selector: S.code16, type: "trap16", dpl: 3 },
    { vector: 0x48, handler: off(h.g48), selector: S.code16, type: "interrupt16", dpl: 3 },
  ], { count: 0x50 });
  // The first TSS: ESP0/SS0, CR3 (loaded again when the #DF task returns to it).
  a.align(16).bind(tss).dd(0, RSP0, S.data32, 0, 0, 0, 0, pd).space(0x66 - 0x20).dw(104);
  // The #DF task: CR3, EIP, EFLAGS, ESP and flat segments.
  a.align(16).bind(dfTss).dd(0, 0, 0, 0, 0, 0, 0, pd, h.df, 2, 0, 0, 0, 0, DF_STACK, 0, 0, 0);
  a.dd(S.data32, S.code32, S.data32, S.data32, S.data32, S.data32, 0).dw(0, 104);
  // 2-level paging: identity 4 KiB pages of the first 4 MiB, user-accessible, but GUARD.
  a.align(4096).bind(pd).dd(() => a.addressOf(pt) | 7).space(4092);
  a.bind(pt).dd(...Array.from({ length: 1024 }, (_, i) => i === GUARD >>> 12 ? 0 : (i << 12) | 7));

  /** Saves the ring-0 stack and where `back` resumes. */
  const excursion = (cont: Label) => {
    a.mov(dword(V(KESP)), esp).mov(dword(V(CONT)), cont);
  };
  /** IRETD from CPL 0 into virtual-8086 mode at V_CS:`ip` with `eflags`. */
  const enterV86 = (ip: Label, eflags: number) => {
    a.push(V_GS).push(V_FS).push(V_DS).push(V_ES).push(0).push(USER_STACK).push(eflags);
    a.push(V_CS).push(off(ip)).i("iretd");
  };
  /** CS into EAX (zero-extended). */
  const csToEax = () => a.xor(eax, eax).mov(ax, cs);

  // ---- real mode, then 32-bit protected mode with paging --------------------------------------
  a.bind(start16);
  t.say("cpu-legacy: real mode\n");
  const pm32 = a.label();
  a.cli().lgdt(t.m(g.pointer, 0, 6));
  a.mov(eax, cr0).or(eax, 1).mov(cr0, eax);
  a.jmpFar(S.code32, pm32, 32);
  a.bits(32).bind(pm32);
  a.mov(eax, S.data32).mov(ds, ax).mov(es, ax).mov(ss, ax).mov(fs, ax).mov(gs, ax);
  a.mov(esp, STACK).lidt(mem(idt.pointer));
  a.mov(ax, S.tss).i("ltr", ax);
  // The call gate: 32-bit (type 0xC), DPL 3, 2 parameters, to code32:callTarget.
  a.mov(dword(g.table, S.callGate), () => (S.code32 << 16) | (a.addressOf(h.callTarget) & 0xffff));
  a.mov(dword(g.table, S.callGate + 4), () => (a.addressOf(h.callTarget) & 0xffff0000) | 0xec02);
  a.mov(eax, pd).mov(cr3, eax).mov(eax, cr0).or(eax, 0x80000000).mov(cr0, eax);
  t.say("cpu-legacy: 32-bit protected mode with paging\n");
  a.mov(eax, cr0).and(eax, 0x80000001);
  t.expectEq("CR0.PG = CR0.PE = 1", eax, 0x80000001 | 0);

  // ---- (a) call gate from ring 3 -----------------------------------------------------------------
  t.say("cpu-legacy: call gate from ring 3\n");
  const userA = a.label(), retA = a.label(), afterA = a.label();
  excursion(afterA);
  a.mov(eax, S.udata32 | 3).mov(ds, ax).mov(es, ax);
  a.push(S.udata32 | 3).push(USER_STACK).push(2).push(S.ucode32 | 3).push(userA).i("iretd");
  a.bind(userA).push(0x2222).push(0x1111).mov(dword(V(0)), esp);
  a.callFar(S.callGate | 3, 0, 32).bind(retA);
  a.mov(dword(V(1)), esp);
  csToEax();
  a.mov(dword(V(2)), eax).int(0x43);
  a.bind(afterA);
  t.expectEq("call gate: the target runs at CPL 0", dword(V(4)), S.code32);
  t.expectEq("call gate: stack from TSS.ESP0 with 2 parameters", dword(V(3)), RSP0 - 24);
  t.expectEq("call gate: return EIP", dword(V(5)), () => a.addressOf(retA));
  t.expectEq("call gate: return CS", dword(V(6)), S.ucode32 | 3);
  t.expectEq("call gate: parameter 1 copied", dword(V(7)), 0x1111);
  t.expectEq("call gate: parameter 2 copied", dword(V(8)), 0x2222);
  t.expectEq("call gate: caller ESP", dword(V(9)), USER_STACK - 8);
  t.expectEq("call gate: caller SS", dword(V(10)), S.udata32 | 3);
  t.expectEq("RETF 8: back at CPL 3", dword(V(2)), S.ucode32 | 3);
  t.expectEq("RETF 8: the parameters are released", dword(V(1)), USER_STACK);

  // ---- (b) kernel stack overflow -> #DF through a task gate -------------------------------------
  t.say("cpu-legacy: kernel stack overflow, #DF through a task gate\n");
  const ovfPush = a.label(), afterB = a.label();
  excursion(afterB);
  a.mov(esp, OVF + 8);
  a.bind(ovfPush).push(eax).jmp(ovfPush);
  a.bind(afterB);
  t.expectEq("#DF task: error code 0", dword(V(20)), 0);
  t.expectEq("#DF task: back link = the interrupted task's TSS", dword(V(21)), S.tss);
  t.expectEq("#DF task: old TSS holds the ESP of the faulting PUSH", dword(V(22)), OVF);
  t.expectEq(
    "#DF task: old TSS holds the EIP of the faulting PUSH",
    dword(V(23)),
    () => a.addressOf(ovfPush),
  );
  t.expectEq("#DF task: runs with NT = 1", dword(V(24)), FLAG_NT);
  t.expectEq("#DF task: TR = the #DF TSS", dword(V(25)), S.dfTss);
  t.expectEq("#DF task: CR2 = the guard page", dword(V(26)), OVF - 4);
  a.i("str", eax);
  t.expectEq("IRET (NT): back in the first task", eax, S.tss);
  a.mov(eax, esp).sub(eax, dword(V(KESP)));
  t.expectEq("IRET (NT): on the repaired stack", eax, 0);
  a.mov(ecx, S.dfTss).i("lar", eax, ecx).shr(eax, 8).and(eax, 0xf);
  t.expectEq("IRET (NT): the #DF TSS is no longer busy", eax, 9);
  a.mov(ecx, S.tss).i("lar", eax, ecx).shr(eax, 8).and(eax, 0xf);
  t.expectEq("IRET (NT): the first TSS is still busy", eax, 0xb);
  a.mov(eax, cr0).and(eax, 8);
  t.expectEq("task switches set CR0.TS", eax, 8);
  a.i("clts");

  // ---- (c) virtual-8086 mode ------------------------------------------------------------------
  t.say("cpu-legacy: virtual-8086 mode\n");
  const v86a = a.label(), v86aAfter = a.label(), afterC1 = a.label();
  excursion(afterC1);
  enterV86(v86a, FLAG_VM | IOPL3 | 2);
  a.bind(afterC1);
  t.expectEq("V86: INT n at IOPL 3 -> ring 0 on TSS.ESP0", dword(V(31)), RSP0 - 36);
  t.expectEq("V86 frame: EIP after INT", dword(V(32)), off(v86aAfter));
  t.expectEq("V86 frame: CS", dword(V(33)), V_CS);
  t.expectEq("V86 frame: EFLAGS with VM = 1, IOPL 3", dword(V(34)), FLAG_VM | IOPL3 | 2);
  t.expectEq("V86 frame: ESP", dword(V(35)), USER_STACK);
  t.expectEq("V86 frame: SS", dword(V(36)), 0);
  t.expectEq("V86 frame: ES", dword(V(37)), V_ES);
  t.expectEq("V86 frame: DS", dword(V(38)), V_DS);
  t.expectEq("V86 frame: FS", dword(V(39)), V_FS);
  t.expectEq("V86 frame: GS", dword(V(40)), V_GS);
  t.expectEq("V86: DS is null in the ring-0 handler", dword(V(41)), 0);
  t.expectEq("V86: IRETD back, the real-mode code after INT ran", dword(V(30)), 0x5a5a);
  // CLI at IOPL 0: #GP(0) to a handler that records the frame (IDT entry 13 patched meanwhile).
  const v86cli = a.label(), afterC2 = a.label();
  const gp = (d: number) => dword(idt.table, 13 * 8 + d);
  a.mov(eax, gp(0)).mov(dword(V(46)), eax).mov(eax, gp(4)).mov(dword(V(47)), eax);
  a.mov(gp(0), () => (S.code32 << 16) | (a.addressOf(h.gpV86) & 0xffff));
  a.mov(gp(4), () => (a.addressOf(h.gpV86) & 0xffff0000) | 0x8e00);
  a.mov(dword(V(42)), -1);
  excursion(afterC2);
  enterV86(v86cli, FLAG_VM | 2);
  a.bind(afterC2);
  a.mov(eax, dword(V(46))).mov(gp(0), eax).mov(eax, dword(V(47))).mov(gp(4), eax);
  t.expectEq("V86 at IOPL 0: CLI -> #GP(0)", dword(V(42)), 0);
  t.expectEq("#GP from V86: saved EIP at CLI", dword(V(43)), off(v86cli));
  t.expectEq("#GP from V86: saved CS", dword(V(44)), V_CS);
  t.expectEq("#GP from V86: saved EFLAGS with VM = 1, IOPL 0", dword(V(45)), FLAG_VM | 2);

  // ---- (d) 16-bit interrupt and trap gates ---------------------------------------------------
  t.say("cpu-legacy: 16-bit interrupt and trap gates\n");
  const d1 = a.label(), d1After = a.label(), d1Back = a.label();
  a.jmpFar(S.code32b, off(d1), 32);
  a.bind(d1).mov(dword(V(60)), esp).sti().int(0x46).bind(d1After).cli();
  a.jmpFar(S.code32, d1Back, 32);
  a.bind(d1Back);
  a.mov(eax, dword(V(60))).sub(eax, dword(V(61)));
  t.expectEq("16-bit interrupt gate at CPL 0: IP, CS, FLAGS pushed as words", eax, 6);
  t.expectEq("16-bit gate frame: IP after INT", dword(V(62)), off(d1After));
  t.expectEq("16-bit gate frame: CS", dword(V(63)), S.code32b);
  a.mov(eax, dword(V(64))).and(eax, FLAG_IF);
  t.expectEq("16-bit gate frame: FLAGS with IF = 1", eax, FLAG_IF);
  t.expectEq("16-bit interrupt gate clears IF", dword(V(65)), 0);
  // From ring 3 through a 16-bit trap gate, and a 16-bit IRET back.
  const user2 = a.label(), u2After = a.label(), afterD2 = a.label();
  excursion(afterD2);
  a.mov(eax, S.udata32 | 3).mov(ds, ax).mov(es, ax);
  a.push(S.udata32 | 3).push(USER_STACK).push(FLAG_IF | 2).push(S.ucode32b | 3).push(off(user2));
  a.i("iretd");
  a.bind(user2).int(0x47).bind(u2After);
  csToEax();
  a.mov(dword(V(77)), eax).mov(dword(V(78)), esp).int(0x43);
  a.bind(afterD2);
  t.expectEq("16-bit trap gate from CPL 3: 10-byte frame on TSS.ESP0", dword(V(70)), RSP0 - 10);
  t.expectEq("16-bit gate from CPL 3: IP", dword(V(71)), off(u2After));
  t.expectEq("16-bit gate from CPL 3: CS", dword(V(72)), S.ucode32b | 3);
  t.expectEq("16-bit gate from CPL 3: FLAGS", dword(V(73)), FLAG_IF | 2);
  t.expectEq("16-bit gate from CPL 3: SP", dword(V(74)), USER_STACK);
  t.expectEq("16-bit gate from CPL 3: SS", dword(V(75)), S.udata32 | 3);
  t.expectEq("16-bit trap gate keeps IF", dword(V(76)), FLAG_IF);
  t.expectEq("16-bit IRET back to CPL 3", dword(V(77)), S.ucode32b | 3);
  t.expectEq("16-bit IRET back to CPL 3: ESP", dword(V(78)), USER_STACK);
  // From virtual-8086 mode through a 16-bit interrupt gate.
  const v86c = a.label(), v86cAfter = a.label(), afterD3 = a.label();
  excursion(afterD3);
  enterV86(v86c, FLAG_VM | IOPL3 | 2);
  a.bind(afterD3);
  t.expectEq("16-bit gate from V86: 18-byte frame on TSS.ESP0", dword(V(80)), RSP0 - 18);
  const d3 = [
    ["IP", off(v86cAfter)],
    ["CS", V_CS],
    ["FLAGS", IOPL3 | 2],
    ["SP", USER_STACK],
    ["SS", 0],
    ["ES", V_ES],
    ["DS", V_DS],
    ["FS", V_FS],
    ["GS", V_GS],
  ] as const;
  d3.forEach(([name, v], i) => t.expectEq(`16-bit gate from V86: ${name}`, dword(V(81 + i)), v));
  t.expectEq("16-bit gate from V86: DS is null in the handler", dword(V(90)), 0);
  t.say("cpu-legacy: done\n");
  a.jmp(t.finish32);

  // ---- ring-0 handlers (32-bit) -----------------------------------------------------------------
  a.bind(h.back).mov(eax, S.data32).mov(ds, ax).mov(es, ax).mov(fs, ax).mov(gs, ax);
  a.mov(esp, dword(V(KESP))).push(2).popfd().jmp(dword(V(CONT)));
  a.bind(h.callTarget).mov(dword(V(3)), esp);
  csToEax();
  a.mov(dword(V(4)), eax);
  for (let i = 0; i < 6; i++) a.mov(eax, dword(esp, i * 4)).mov(dword(V(5 + i)), eax);
  a.retf(8);
  // INT 0x44 from V86: [esp+8] EIP, CS, EFLAGS, ESP, SS, ES, DS, FS, GS after the two pushes.
  a.bind(h.v86Int).push(eax).push(ds).mov(eax, S.data32).mov(ds, ax);
  a.lea(eax, dword(esp, 8)).mov(dword(V(31)), eax);
  for (let i = 0; i < 9; i++) a.mov(eax, dword(esp, 8 + i * 4)).mov(dword(V(32 + i)), eax);
  a.mov(eax, dword(esp)).mov(dword(V(41)), eax);
  a.pop(ds).pop(eax).i("iretd");
  // #GP from V86: [esp] error code, EIP, CS, EFLAGS.
  a.bind(h.gpV86).mov(eax, S.data32).mov(ds, ax);
  for (let i = 0; i < 4; i++) a.mov(eax, dword(esp, i * 4)).mov(dword(V(42 + i)), eax);
  a.jmp(h.back);
  // The #DF task: record, point the old task at V(CONT) on the stack V(KESP), IRET to it.
  a.bind(h.df).pop(eax).mov(dword(V(20)), eax);
  a.movzx(eax, word(dfTss)).mov(dword(V(21)), eax);
  a.mov(eax, dword(tss, 0x38)).mov(dword(V(22)), eax);
  a.mov(eax, dword(tss, 0x20)).mov(dword(V(23)), eax);
  a.pushfd().pop(eax).and(eax, FLAG_NT).mov(dword(V(24)), eax);
  a.i("str", eax).mov(dword(V(25)), eax);
  a.mov(eax, cr2).mov(dword(V(26)), eax);
  a.mov(eax, dword(V(CONT))).mov(dword(tss, 0x20), eax);
  a.mov(eax, dword(V(KESP))).mov(dword(tss, 0x38), eax);
  a.i("iretd").jmp(h.df);

  // ---- 16-bit code: the 16-bit gates' handlers (CS = code16, base BASE) and V86 code ---------
  a.bits(16);
  /** Stores the words at [bp], [bp+2], ... into V(first), V(first+1), ... (SS-relative). */
  const frameWords = (n: number, first: number, seg = ds) => {
    for (let i = 0; i < n; i++) {
      a.movzx(eax, word(bp, i * 2)).mov(dword({ disp: V(first + i), seg }), eax);
    }
  };
  a.bind(h.g46).mov(dword(V(61)), esp).mov(bp, sp);
  frameWords(3, 62);
  a.pushfd().pop(eax).and(eax, FLAG_IF).mov(dword(V(65)), eax).iret();
  a.bind(h.g47).mov(dword(V(70)), esp).mov(bp, sp);
  frameWords(5, 71);
  a.pushfd().pop(eax).and(eax, FLAG_IF).mov(dword(V(76)), eax).iret();
  // From V86: DS is null, so the first stores go through SS.
  a.bind(h.g48).mov(dword({ disp: V(80), seg: ss }), esp).mov(bp, sp);
  a.xor(eax, eax).mov(ax, ds).mov(dword({ disp: V(90), seg: ss }), eax);
  frameWords(9, 81, ss);
  a.jmpFar(S.code32, h.back, 32);
  // Virtual-8086 code (CS = V_CS, DS = 0: the variables are at their linear addresses).
  a.bind(v86a).int(0x44).bind(v86aAfter).mov(dword(V(30)), 0x5a5a).int(0x43);
  a.bind(v86cli).cli().hlt();
  a.bind(v86c).int(0x48).bind(v86cAfter).hlt();

  finish();
  const img = a.assemble();
  if (img.bytes.length > 0x10000) throw new Error("cpu-legacy: image exceeds 64 KiB");
  return {
    name: "cpu-legacy",
    bytes: img.bytes,
    load: BASE,
    entry: { rip: img.addressOf(entry), rsp: STACK, cr3: 0, gdtBase: 0, gdtLimit: 0 },
    entryMode: "real",
  };
}
