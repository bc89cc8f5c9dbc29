/**
 * CPU test kernel `cpu-exceptions` (SDM Vol. 3A ch. 6): delivery and error code of every
 * exception vector the CPU raises (#DE #DB #BP #OF #BR #UD #NM #DF #TS #NP #SS #GP #PF #AC), with
 * saved RIPs (faults point at the instruction, traps after it), IST stacks, the stack switch
 * through TSS.RSP0 on CPL3→CPL0, interrupt vs trap gates (IF), IRETQ to CPL 3 and back, INT n
 * gate-DPL checks from user mode and the EXT bit of error codes. #OF (INTO) and #BR (BOUND) run
 * in compatibility mode. The triple fault has its own guest (`cpu-triple-fault`).
 */

import {
  type Asm,
  dword,
  eax,
  ebx,
  ecx,
  edx,
  fword,
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
import { Kit } from "../kit.ts";
import { gdt, tss64 } from "../x86_structs.ts";
import { C64, Catch64, gate64 } from "./common.ts";

const cr0 = reg("cr0"), cr2 = reg("cr2"), ax = reg("ax"), ds = reg("ds"), ss = reg("ss");
const xmm0 = reg("xmm0"), xmm1 = reg("xmm1");

/** Fixed scratch memory (outside the image). */
const VAR = 0x7f0000;
const V = (i: number) => VAR + i * 8;
const RSP0_TOP = 0x880000, IST1_TOP = 0x890000, IST2_TOP = 0x8a0000, USER_TOP = 0x8b0000;

/** Selectors of the guest's GDT. */
export const SEL = {
  code64: 0x08,
  data: 0x10,
  ucode64: 0x1b,
  udata: 0x23,
  code32: 0x28,
  tss: 0x30,
  notPresent: 0x40,
  tssSmall: 0x48,
  ro: 0x58,
} as const;

/** The GDT used by the kit-based CPU tests (the kit's five entries first). */
export function cpuTestGdt(a: Asm, tss: Label, tssSmall?: Label) {
  return gdt(a, [
    { type: "null" },
    { type: "code64" },
    { type: "data" },
    { type: "code64", dpl: 3 },
    { type: "data", dpl: 3 },
    { type: "code32" },
    { type: "tss64", base: tss },
    { type: "raw", value: 0x00cf92000000ffffn & ~(1n << 47n) }, // 0x40: data, not present
    { type: "tss64", base: tssSmall ?? tss, limit: 0x2f },
    { type: "data", writable: false }, // 0x58
  ]);
}

export function buildCpuExceptions(): BuiltinGuest {
  const k = new Kit("cpu-exceptions");
  const a = k.a;
  const c = new Catch64(k);
  const idt = k.idts[0]!.table;
  const start = a.label();
  a.jmp(start);
  const tss = tss64(a, { rsp0: RSP0_TOP, ist: [IST1_TOP, IST2_TOP] });
  const tssSmall = tss64(a, { rsp0: RSP0_TOP });
  const g = cpuTestGdt(a, tss.label, tssSmall.label);
  // Data.
  a.align(16);
  const bounds = a.here();
  a.dd(10, 20);
  const idtSmall = a.here();
  a.dw(32 * 16 - 1).dq(() => BigInt(a.addressOf(idt)));

  a.bind(start);
  c.install();
  // Own GDT (same selectors as the kit's for 0x08-0x20), TR.
  a.lgdt(mem10(g.pointer));
  a.mov(eax, SEL.data).mov(ds, ax).mov(reg("es"), ax).mov(ss, ax);
  const reloaded = a.label();
  a.push(SEL.code64).mov(rax, reloaded).push(rax).i("retfq").bind(reloaded);
  a.mov(ax, SEL.tss).i("ltr", ax);
  gate64(a, idt, 8, c.stubs[8]!, { ist: 1 });
  k.say("cpu-exceptions: 64-bit kernel up\n");

  // ---- #DE -----------------------------------------------------------------------------------
  let at = a.label();
  c.expectFault("#DE: div by zero", 0, () => {
    a.xor(edx, edx).xor(ecx, ecx).mov(eax, 1).bind(at).div(ecx);
  }, { rip: at });
  at = a.label();
  c.expectFault("#DE: idiv overflow (INT64_MIN / -1)", 0, () => {
    a.mov(rax, 0x8000000000000000n).i("cqo").mov(rcx, -1).bind(at).idiv(rcx);
  }, { rip: at });

  // ---- #DB -----------------------------------------------------------------------------------
  at = a.label();
  c.expectFault("#DB: INT1 (ICEBP) is a trap", 1, () => {
    a.i("int1").bind(at);
  }, { rip: at });
  // Single-step: a private handler counts the traps and clears TF in the frame.
  const tfHandler = a.label(), afterTf = a.label(), tfNext = a.label();
  gate64(a, idt, 1, tfHandler);
  a.mov(qword(V(0)), 0).mov(qword(V(1)), 0);
  a.pushfq().or(qword(rsp), 0x100).popfq(); // TF=1: the trap follows the next instruction
  a.bind(tfNext).nop().bind(afterTf).nop();
  gate64(a, idt, 1, c.stubs[1]!);
  k.expectEq("#DB: TF single-step traps once after the next instruction", qword(V(0)), 1);
  c.eqAddr("#DB: single-step saved RIP is after the stepped instruction", qword(V(1)), afterTf);
  k.expectEq("#DB: single-step sets DR6.BS", qword(V(2)), 0x4000);

  // ---- #BP, #OF, #BR -------------------------------------------------------------------------
  at = a.label();
  c.expectFault("#BP: INT3 is a trap", 3, () => a.i("int3").bind(at), { rip: at });
  at = a.label();
  c.expectFault("#BP: INT 3 (CD 03)", 3, () => a.db(0xcd, 0x03).bind(at), { rip: at });
  c.expectFault("#UD: INTO in 64-bit mode", 6, () => a.db(0xce));
  compatFault(k, c, "#OF: INTO with OF=1 in compatibility mode", 4, (l) => {
    a.mov(eax, 0x7fffffff).add(eax, 1).i("into").bind(l);
  }, true);
  compatFault(k, c, "#BR: BOUND out of range in compatibility mode", 5, (l) => {
    a.mov(eax, 21).bind(l).i("bound", eax, qword(bounds));
  }, false);

  // ---- #UD, #NM ------------------------------------------------------------------------------
  at = a.label();
  c.expectFault("#UD: UD2", 6, () => a.bind(at).i("ud2"), { rip: at });
  c.expectFault("#UD: PUSH ES is invalid in 64-bit mode", 6, () => a.db(0x06));
  c.expectFault("#UD: LOCK on a register operand", 6, () => a.db(0xf0, 0x01, 0xd8));
  a.mov(rax, reg("cr4")).or(eax, 0x200).mov(reg("cr4"), rax); // CR4.OSFXSR
  a.mov(rax, cr0).or(eax, 8).mov(cr0, rax); // CR0.TS
  at = a.label();
  c.expectFault("#NM: SSE instruction with CR0.TS=1", 7, () => a.bind(at).i("movaps", xmm0, xmm1), {
    rip: at,
  });
  a.i("clts");
  a.i("movaps", xmm0, xmm1);
  k.pass("#NM: CLTS clears CR0.TS, SSE runs");
  a.mov(rax, cr0).or(eax, 4).mov(cr0, rax); // CR0.EM
  c.expectFault("#UD: SSE instruction with CR0.EM=1", 6, () => a.i("movaps", xmm0, xmm1));
  a.mov(rax, cr0).and(eax, ~4).mov(cr0, rax);

  // ---- #DF -----------------------------------------------------------------------------------
  {
    const resume = a.label();
    c.arm(8, resume);
    a.mov(rsp, 0x40001000); // not mapped: delivering the #PF faults again
    a.mov(rax, qword(0x40005000));
    a.bind(resume);
    c.disarm();
    c.checkCaught("#DF: #PF while delivering #PF (stack not present)", { err: 0 });
    c.eqAddr("#DF: delivered on IST1", c.slot(C64.frameAt), IST1_TOP - 40);
    a.mov(rax, c.slot(C64.cr2)).shr(rax, 12);
    k.expectEq("#DF: CR2 is on the unmapped stack page", rax, 0x40000);
  }

  // ---- #TS -----------------------------------------------------------------------------------
  {
    const h = a.label();
    gate64(a, idt, 0x45, h, { ist: 3 });
    a.and(byte8(g.table, SEL.tssSmall + 5), ~2); // not busy
    a.mov(ax, SEL.tssSmall).i("ltr", ax);
    c.expectFault("#TS: INT n whose IST slot lies beyond the TSS limit", 10, () => a.int(0x45), {
      err: SEL.tssSmall,
    });
    a.and(byte8(g.table, SEL.tss + 5), ~2);
    a.mov(ax, SEL.tss).i("ltr", ax);
    const skip = a.label();
    a.jmp(skip).bind(h).iretq().bind(skip);
  }

  // ---- #NP -----------------------------------------------------------------------------------
  at = a.label();
  c.expectFault("#NP: MOV DS, not-present segment", 11, () => {
    a.mov(eax, SEL.notPresent).bind(at).mov(ds, ax);
  }, { err: SEL.notPresent, rip: at });
  const h41 = a.label();
  gate64(a, idt, 0x41, h41, { present: false });
  c.expectFault("#NP: INT n through a not-present gate", 11, () => a.int(0x41), {
    err: 0x41 * 8 + 2,
  });
  gate64(a, idt, 6, c.stubs[6]!, { present: false });
  c.expectFault("#NP: exception through a not-present gate has EXT=1", 11, () => a.i("ud2"), {
    err: 6 * 8 + 2 + 1,
  });
  gate64(a, idt, 6, c.stubs[6]!);

  // ---- #SS -----------------------------------------------------------------------------------
  c.expectFault("#SS: MOV SS, not-present segment", 12, () => {
    a.mov(eax, SEL.notPresent).mov(ss, ax);
  }, { err: SEL.notPresent });
  c.expectFault("#SS: non-canonical RSP-based address", 12, () => {
    a.mov(rbx, 0x8000000000000000n).mov(rax, qword(rsp, rbx));
  }, { err: 0 });
  gate64(a, idt, 12, c.stubs[12]!, { ist: 2 }); // the faulting stack cannot take the frame
  c.expectFault("#SS: PUSH with a non-canonical RSP (handler on IST2)", 12, () => {
    a.mov(rsp, 0x8000000000000010n).push(rax);
  }, { err: 0 });

  // ---- #GP -----------------------------------------------------------------------------------
  c.expectFault("#GP: non-canonical data address", 13, () => {
    a.mov(rbx, 0x8000000000000000n).mov(rax, qword(rbx));
  }, { err: 0 });
  c.expectFault("#GP: MOV DS beyond the GDT limit", 13, () => {
    a.mov(eax, 0xfff8).mov(ds, ax);
  }, { err: 0xfff8 });
  c.expectFault("#GP: MOV DS with a system (TSS) descriptor", 13, () => {
    a.mov(eax, SEL.tss).mov(ds, ax);
  }, { err: SEL.tss });
  c.expectFault("#GP: MOV SS with a code segment", 13, () => {
    a.mov(eax, SEL.code64).mov(ss, ax);
  }, { err: SEL.code64 });
  c.expectFault("#GP: MOV SS with a read-only data segment", 13, () => {
    a.mov(eax, SEL.ro).mov(ss, ax);
  }, { err: SEL.ro });
  c.expectFault("#GP: WRMSR to a non-existent MSR", 13, () => {
    a.mov(ecx, 0x12345).xor(eax, eax).xor(edx, edx).wrmsr();
  }, { err: 0 });
  a.lidt(mem10(idtSmall));
  c.expectFault("#GP: INT n beyond the IDT limit", 13, () => a.int(0x50), { err: 0x50 * 8 + 2 });
  a.lidt(mem10(k.idts[0]!.pointer));

  // ---- #PF -----------------------------------------------------------------------------------
  at = a.label();
  c.expectFault("#PF: read of a not-present page", 14, () => {
    a.bind(at).mov(rax, qword(0x40000000));
  }, { err: 0, rip: at, cr2: 0x40000000 });
  a.mov(rax, cr2);
  k.expectEq("#PF: CR2 keeps the faulting address", rax, 0x40000000);

  // ---- IST, interrupt vs trap gates ------------------------------------------------------------
  const hIst = a.label(), hIntr = a.label(), hTrap = a.label(), hUser = a.label();
  const hBack = a.label();
  gate64(a, idt, 0x42, hIst, { ist: 2 });
  gate64(a, idt, 0x43, hIntr, { type: "interrupt" });
  gate64(a, idt, 0x44, hTrap, { type: "trap" });
  gate64(a, idt, 0x80, hUser, { dpl: 3 });
  gate64(a, idt, 0x81, hBack, { dpl: 3 });
  a.int(0x42);
  k.expectEq("IST2: the handler runs on IST2 (RSP = IST2 top - 40)", qword(V(3)), IST2_TOP - 40);
  k.expectEq("IST2: frame RSP is the interrupted RSP", qword(V(4)), 0x3f0000);
  a.sti().int(0x43).cli();
  k.expectEq("interrupt gate clears IF", qword(V(5)), 0);
  a.sti().int(0x44).cli();
  k.expectEq("trap gate leaves IF set", qword(V(5)), 0x200);

  // ---- CPL 3 ---------------------------------------------------------------------------------
  const user = a.label();
  a.mov(qword(V(10)), rsp);
  a.push(SEL.udata).push(USER_TOP).push(0x3002).push(SEL.ucode64).mov(rax, user).push(rax);
  a.iretq();
  a.bind(user);
  a.mov(ax, reg("cs")).and(eax, 3);
  k.expectEq("IRETQ to CPL 3: CS.RPL = 3", eax, 3);
  a.mov(ax, ss);
  k.expectEq("IRETQ to CPL 3: SS = user data selector", ax, SEL.udata);
  k.expectEq("IRETQ to CPL 3: RSP from the frame", rsp, USER_TOP);
  a.int(0x80);
  k.expectEq("CPL3 -> CPL0: handler stack is TSS.RSP0 - 40", qword(V(6)), RSP0_TOP - 40);
  k.expectEq("CPL3 -> CPL0: SS is the null selector", qword(V(7)), 0);
  k.expectEq("CPL3 -> CPL0: frame CS = user CS", qword(V(8)), SEL.ucode64);
  k.expectEq("CPL3 -> CPL0: frame RSP = user RSP", qword(V(9)), USER_TOP);
  c.expectFault("INT n from CPL 3 through a DPL 0 gate -> #GP(vector*8+2)", 13, () => a.int(0x43), {
    err: 0x43 * 8 + 2,
  });
  c.expectFault("INT3 from CPL 3 through a DPL 0 gate -> #GP", 13, () => a.i("int3"), {
    err: 3 * 8 + 2,
  });
  at = a.label();
  c.expectFault("INT1 ignores the gate DPL (#DB at CPL 3)", 1, () => a.i("int1").bind(at), {
    rip: at,
  });
  c.expectFault("HLT at CPL 3 -> #GP(0)", 13, () => a.hlt(), { err: 0 });
  c.expectFault("MOV CR0 at CPL 3 -> #GP(0)", 13, () => a.mov(rax, cr0), { err: 0 });
  c.expectFault("MOV DS, DPL 0 data segment at CPL 3 -> #GP(sel)", 13, () => {
    a.mov(eax, SEL.data).mov(ds, ax);
  }, { err: SEL.data });
  at = a.label();
  c.expectFault("#PF at CPL 3 (not-present page): U/S in the error code", 14, () => {
    a.bind(at).mov(rax, qword(0x40000000));
  }, { err: 4, rip: at });
  // #AC: CR0.AM is set by the kernel below; here AC=1 and a misaligned access.
  a.int(0x81); // back to CPL 0
  a.mov(rax, cr0).or(eax, 1 << 18).mov(cr0, rax);
  const user2 = a.label();
  a.push(SEL.udata).push(USER_TOP).push(0x3002 | 0x40000).push(SEL.ucode64).mov(rax, user2).push(
    rax,
  );
  a.iretq().bind(user2);
  at = a.label();
  c.expectFault("#AC: misaligned access at CPL 3 with CR0.AM=1, RFLAGS.AC=1", 17, () => {
    a.bind(at).mov(eax, dword(rsp, -13));
  }, { err: 0, rip: at });
  a.pushfq().and(qword(rsp), ~0x40000).popfq();
  a.mov(eax, dword(rsp, -13));
  k.pass("#AC: no check with RFLAGS.AC=0");
  a.int(0x81);
  a.mov(rax, cr0).and(eax, ~(1 << 18)).mov(cr0, rax);
  a.pushfq().or(qword(rsp), 0x40000).popfq();
  a.mov(eax, dword(rsp, -13)).pushfq().and(qword(rsp), ~0x40000).popfq();
  k.pass("#AC: no check at CPL 0");
  k.say("cpu-exceptions: done\n");
  a.jmp(k.finish);

  // ---- handlers ------------------------------------------------------------------------------
  a.bind(tfHandler);
  a.i("inc", qword(V(0)));
  a.push(rax).mov(rax, qword(rsp, 8)).mov(qword(V(1)), rax);
  a.mov(rax, reg("dr6")).and(eax, 0x4000).mov(qword(V(2)), rax).pop(rax);
  a.and(qword(rsp, 16), ~0x100).iretq();
  a.bind(hIst).mov(qword(V(3)), rsp).push(rax).mov(rax, qword(rsp, 32)).mov(qword(V(4)), rax);
  a.pop(rax).iretq();
  a.bind(hIntr).push(rax).pushfq().pop(rax).and(eax, 0x200).mov(qword(V(5)), rax).pop(rax).iretq();
  a.bind(hTrap).push(rax).pushfq().pop(rax).and(eax, 0x200).mov(qword(V(5)), rax).pop(rax).iretq();
  a.bind(hUser).mov(qword(V(6)), rsp).push(rax);
  a.mov(ax, ss).movzx(eax, ax).mov(qword(V(7)), rax);
  a.mov(rax, qword(rsp, 16)).mov(qword(V(8)), rax);
  a.mov(rax, qword(rsp, 32)).mov(qword(V(9)), rax).pop(rax).iretq();
  a.bind(h41).iretq();
  // 0x81: continue at CPL 0 after the INT, on the kernel stack saved in V(10).
  a.bind(hBack).mov(rax, qword(rsp)).mov(rsp, qword(V(10))).push(2).popfq().jmp(rax);
  void [rdx, word, fword, dword, ebx];
  return k.build();
}

/** A byte memory operand at `l + d`. */
function byte8(l: Label, d: number) {
  return qword(l, d).withSize(1);
}

/** `lgdt`/`lidt` operand (10-byte pseudo-descriptor). */
function mem10(l: Label) {
  return mem(l);
}

/**
 * Expects exception `vector` from 32-bit compatibility-mode code: `body(l)` binds `l` at the
 * expected saved RIP (after the instruction for traps, at it for faults).
 */
function compatFault(
  k: Kit,
  c: Catch64,
  name: string,
  vector: number,
  body: (l: Label) => void,
  trap: boolean,
): void {
  const a = k.a, resume = a.label(), back = a.label(), l = a.label(), ptr = a.label();
  const skip = a.label(), compat = a.label();
  void trap;
  c.arm(vector, resume);
  a.jmp(fword(ptr));
  a.jmp(skip).bind(ptr).dd(() => a.addressOf(compat)).dw(SEL.code32).bind(skip);
  a.bits(32).bind(compat);
  body(l);
  a.bind(resume).jmpFar(SEL.code64, back);
  a.bits(64).bind(back);
  c.disarm();
  c.checkCaught(name, { rip: l });
}
