/**
 * `mb-faults` (64-bit long mode): a page-fault and exception torture test, after the Intel SDM
 * Vol. 3A ch. 6 (exceptions, Table 6-5 double faults, §6.14.5 IST) and §4.7 (page-fault error
 * code: P bit 0, W/R bit 1, U/S bit 2, RSVD bit 3, I/D bit 4), on a 4 KiB page table the kernel
 * builds at run time for 0x800000-0x9fffff:
 *
 *   0x800000 not present          0x801000 user, read-only      0x802000 supervisor, RW
 *   0x803000 user, RW, NX         0x804000 user, RW, reserved physical-address bit set
 *   0x805000-0x807fff user, RW (user code copy, user stack)
 *
 * - #PF: not-present read/write/fetch (user and supervisor), write to read-only with CR0.WP=1
 *   (and allowed with WP=0), user access to a supervisor page, NX fetch, reserved bit (read and
 *   write), SMEP fetch and SMAP read (allowed after STAC); CR2 = the faulting address.
 * - #GP: non-canonical address, bad selector (error code = selector), unknown MSR, reserved CR4
 *   bit, privileged instruction at CPL 3, INT n through a DPL 0 gate from CPL 3
 *   (error code = vector × 8 + 2).
 * - #UD (UD2, PUSH ES in 64-bit mode, LOCK on a register operand, MOV to CS), #DE (divide by
 *   zero, IDIV overflow; saved RIP = the divide), #BP (INT3 and INT 3 from CPL 0 and CPL 3;
 *   saved RIP after), #DB single-step (DR6.BS, RIP after one instruction), #AC at CPL 3, #SS on
 *   a non-canonical stack (delivered on IST1).
 * - Double faults on IST1 (error code 0): #GP through a not-present gate, #PF while pushing the
 *   #PF frame to an unmapped stack, #GP from a #DE gate with a non-code selector; a #PF inside
 *   the #BP handler is handled serially (benign then contributory).
 */

import { byte, dword, type Label, mem, qword } from "../asm.ts";
import { eax, ebx, ecx, edx, rax, rcx, rdi, reg, rsp } from "../asm/operands.ts";
import { CATCH, IST1_TOP, KV, type MbKernel, MbKit, SCRATCH } from "./kit.ts";

const PT = SCRATCH;
const BASE = 0x800000;
const USER_RSP = 0x808000;
const UCODE = 0x805000;
const cr0 = reg("cr0"), cr3 = reg("cr3"), cr4 = reg("cr4");

export function buildMbFaults(): MbKernel {
  const k = new MbKit("mb-faults", { bits: 64 });
  const a = k.a;
  a.bits(64);
  const idtAt = (vector: number, off = 0) => () => a.addressOf(k.idt.table) + vector * 16 + off;
  const v = () => dword(k.var(4));

  // ---- the 4 KiB page table for 0x800000-0x9fffff ------------------------------------------------
  const maxPhys = v();
  a.mov(eax, 0x80000008).cpuid().and(eax, 0xff).mov(maxPhys, eax);
  k.check(
    "CPUID 0x80000008: MAXPHYADDR < 52 (a reserved PTE bit exists)",
    () => {
      a.cmp(maxPhys, 52);
    },
    "ae",
    maxPhys,
  );
  a.mov(rdi, PT).mov(eax, BASE | 7).mov(ecx, 512);
  {
    const l = a.here();
    a.mov(qword(rdi), rax).add(rdi, 8).add(eax, 0x1000).dec(ecx).jnz(l);
  }
  a.mov(qword(PT + 0 * 8), 0);
  a.mov(qword(PT + 1 * 8), BASE + 0x1000 + 5); // P | U/S
  a.mov(qword(PT + 2 * 8), BASE + 0x2000 + 3); // P | R/W
  a.mov(rax, (1n << 63n) | BigInt(BASE + 0x3000 + 7)).mov(qword(PT + 3 * 8), rax);
  // Reserved bit: the lowest bit above MAXPHYADDR.
  a.mov(ecx, maxPhys).mov(eax, 1).shl(rax, reg("cl")).or(rax, BASE + 0x4000 + 7);
  a.mov(qword(PT + 4 * 8), rax);
  // PD entry 4 (0x800000) of the first page directory: PML4[0] → PDPT[0] → PD.
  a.mov(rax, cr3).and(rax, -4096).mov(rax, qword(rax)).and(rax, -4096);
  a.mov(rax, qword(rax)).and(rax, -4096);
  a.mov(qword(rax, 4 * 8), PT | 7);
  a.mov(rax, cr3).mov(cr3, rax);
  // User code: position-independent snippets copied to UCODE (user page).
  const uStart = a.label(), uEnd = a.label(), uSkip = a.label();
  const user: Record<string, Label> = {};
  const snippet = (name: string, body: () => void) => {
    user[name] = a.here();
    body();
    const spin = a.here();
    a.jmp(spin);
  };
  a.jmp(uSkip).bind(uStart);
  snippet("readSup", () => a.mov(eax, dword(BASE + 0x2000)));
  snippet("writeRo", () => a.mov(dword(BASE + 0x1000), eax));
  snippet("readNp", () => a.mov(eax, dword(BASE + 0x10)));
  snippet("hlt", () => a.hlt());
  snippet("int40", () => a.int(0x40));
  snippet("int3", () => a.i("int3"));
  snippet("ac", () => {
    a.pushfq().or(dword(rsp), 0x40000).popfq();
    a.mov(eax, dword(USER_RSP - 0x1000 + 1));
  });
  a.bind(uEnd).bind(uSkip);
  a.mov(reg("rsi"), uStart).mov(rdi, UCODE).mov(ecx, () => a.addressOf(uEnd) - a.addressOf(uStart));
  a.rep().movsb();
  const uAddr = (name: string) => () => UCODE + a.addressOf(user[name]!) - a.addressOf(uStart);
  /** IRETQ to CPL 3 at user snippet `name` (user stack at USER_RSP). */
  const toUser = (name: string) => {
    a.push(0x2b).push(USER_RSP).pushfq().push(0x33);
    a.mov(eax, uAddr(name)).push(rax).iretq();
  };

  // ---- #PF ------------------------------------------------------------------------------------------
  k.expectFault("#PF: supervisor read, not present", 14, () => a.mov(eax, dword(BASE + 0x10)), {
    err: 0,
    cr2: BASE + 0x10,
  });
  k.expectFault("#PF: supervisor write, not present", 14, () => a.mov(dword(BASE + 0x20), eax), {
    err: 2,
    cr2: BASE + 0x20,
  });
  k.expectFault("#PF: supervisor write to read-only, CR0.WP = 1", 14, () => {
    a.mov(dword(BASE + 0x1008), eax);
  }, { err: 3, cr2: BASE + 0x1008 });
  a.mov(rax, cr0).btr(rax, 16).mov(cr0, rax);
  a.mov(dword(BASE + 0x1008), 0x1234);
  a.mov(rax, cr0).bts(rax, 16).mov(cr0, rax);
  k.expectEq("CR0.WP = 0: supervisor write to read-only succeeds", dword(BASE + 0x1008), 0x1234);
  k.expectFault("#PF: user read of a supervisor page", 14, () => toUser("readSup"), {
    err: 5,
    cr2: BASE + 0x2000,
  });
  k.expectEq("user-mode fault frame: CS = 0x33", dword(KV.catch + CATCH.cs), 0x33);
  k.expectEq("user-mode fault frame: SS = 0x2b", dword(KV.catch + CATCH.frameSs), 0x2b);
  k.expectEq(
    "user-mode fault frame: RSP = the user stack",
    dword(KV.catch + CATCH.frameSp),
    USER_RSP,
  );
  k.expectFault("#PF: user write to a read-only user page", 14, () => toUser("writeRo"), {
    err: 7,
    cr2: BASE + 0x1000,
  });
  k.expectFault("#PF: user read, not present", 14, () => toUser("readNp"), {
    err: 4,
    cr2: BASE + 0x10,
  });
  k.expectFault("#PF: fetch from an NX page", 14, () => {
    a.mov(eax, BASE + 0x3000).call(rax);
  }, { err: 0x11, cr2: BASE + 0x3000 });
  k.expectFault("#PF: fetch from a not-present page", 14, () => {
    a.mov(eax, BASE + 0x40).jmp(rax);
  }, { err: 0x10, cr2: BASE + 0x40 });
  k.expectFault("#PF: read with a reserved bit set", 14, () => a.mov(eax, dword(BASE + 0x4010)), {
    err: 9,
    cr2: BASE + 0x4010,
  });
  k.expectFault("#PF: write with a reserved bit set", 14, () => a.mov(dword(BASE + 0x4020), eax), {
    err: 0xb,
    cr2: BASE + 0x4020,
  });
  // SMEP and SMAP, with the kernel's own 2 MiB pages (image, variables, stacks) supervisor-only.
  const pd0 = v();
  a.mov(rax, cr3).and(rax, -4096).mov(rax, qword(rax)).and(rax, -4096);
  a.mov(rax, qword(rax)).and(rax, -4096).mov(pd0, eax);
  a.mov(ecx, pd0).and(qword(rcx), ~4).and(qword(rcx, 8), ~4);
  a.mov(rax, cr3).mov(cr3, rax);
  a.mov(rax, cr4).or(eax, (1 << 20) | (1 << 21)).mov(cr4, rax);
  k.expectFault("#PF: SMEP, supervisor fetch from a user page", 14, () => {
    a.mov(eax, UCODE).call(rax);
  }, { err: 0x11, cr2: UCODE });
  k.expectFault("#PF: SMAP, supervisor read of a user page (AC = 0)", 14, () => {
    a.mov(eax, dword(UCODE));
  }, { err: 1, cr2: UCODE });
  a.i("stac").mov(ebx, dword(UCODE)).i("clac");
  k.expectSame("SMAP: STAC allows the read", ebx, dword(uStart));
  a.mov(rax, cr4).and(eax, ~((1 << 20) | (1 << 21))).mov(cr4, rax);
  a.mov(ecx, pd0).or(qword(rcx), 4).or(qword(rcx, 8), 4);
  a.mov(rax, cr3).mov(cr3, rax);

  // ---- #GP, #SS, #AC -----------------------------------------------------------------------------------
  k.expectFault("#GP: non-canonical address", 13, () => {
    a.mov(rax, 0x0000800000000000n).mov(rax, qword(rax));
  }, { err: 0 });
  k.expectFault("#GP: selector beyond the GDT limit (error code = selector)", 13, () => {
    a.mov(eax, 0x1000).mov(reg("ds"), eax);
  }, { err: 0x1000 });
  k.expectFault("#GP: RDMSR of an unknown MSR", 13, () => a.mov(ecx, 0x12345).rdmsr(), { err: 0 });
  k.expectFault("#GP: reserved CR4 bit", 13, () => {
    a.mov(rax, cr4).bts(rax, 40).mov(cr4, rax);
  }, { err: 0 });
  k.expectFault("#GP: HLT at CPL 3", 13, () => toUser("hlt"), { err: 0 });
  k.expectFault("#GP: INT 0x40 at CPL 3 through a DPL 0 gate (0x40*8+2)", 13, () => {
    toUser("int40");
  }, { err: 0x202 });
  // #SS on a non-canonical stack; the #SS gate uses IST1 so the frame can be pushed.
  a.mov(byte(idtAt(12, 4)), 1);
  k.expectFault("#SS: PUSH with a non-canonical RSP (delivered on IST1)", 12, () => {
    a.mov(rax, 0x0000800000000008n).mov(rsp, rax).push(rax); // writes at 0x800000000000
  }, { err: 0 });
  a.mov(byte(idtAt(12, 4)), 0);
  a.mov(rax, cr0).bts(rax, 18).mov(cr0, rax); // CR0.AM
  k.expectFault("#AC: misaligned access at CPL 3 with CR0.AM and EFLAGS.AC", 17, () => {
    toUser("ac");
  }, { err: 0 });
  a.mov(rax, cr0).btr(rax, 18).mov(cr0, rax);

  // ---- #UD, #DE, #BP, #DB ----------------------------------------------------------------------------------
  k.expectFault("#UD: UD2", 6, () => a.i("ud2"));
  k.expectFault("#UD: PUSH ES is invalid in 64-bit mode", 6, () => a.db(0x06));
  k.expectFault("#UD: LOCK with a register destination", 6, () => a.db(0xf0, 0x01, 0xd8));
  k.expectFault("#UD: MOV to CS", 6, () => a.db(0x8e, 0xc8));
  let at = a.label();
  k.expectFault("#DE: divide by zero (saved RIP = the DIV)", 0, () => {
    a.xor(edx, edx).xor(ecx, ecx).mov(eax, 1).bind(at).div(ecx);
  }, { ip: at });
  at = a.label();
  k.expectFault("#DE: IDIV overflow 0x80000000 / -1", 0, () => {
    a.mov(eax, 0x80000000).cdq().mov(ecx, -1).bind(at).idiv(ecx);
  }, { ip: at });
  at = a.label();
  k.expectFault("#BP: INT3 (saved RIP after it)", 3, () => a.i("int3").bind(at), { ip: at });
  at = a.label();
  k.expectFault("#BP: INT 3 (CD 03)", 3, () => a.db(0xcd, 0x03).bind(at), { ip: at });
  k.expectFault("#BP: INT3 at CPL 3 through the DPL 3 gate", 3, () => toUser("int3"));
  k.expectEq("#BP from CPL 3: saved CS = 0x33", dword(KV.catch + CATCH.cs), 0x33);
  at = a.label();
  a.xor(eax, eax).mov(reg("dr6"), rax);
  k.expectFault("#DB: single step after POPF sets TF", 1, () => {
    a.pushfq().or(dword(rsp), 0x100).popfq().nop().bind(at).nop();
  }, { ip: at });
  k.expectMask("#DB single step: DR6.BS (bit 14)", dword(KV.catch + CATCH.dr6), 0x4000, 0x4000);

  // ---- double faults (IST1) ----------------------------------------------------------------------------------
  const onIst1 = (name: string) => {
    a.mov(rax, qword(KV.catch + CATCH.frameAt)).sub(rax, IST1_TOP - 0x1000);
    k.expectRange(name, eax, 0, 0xfff);
  };
  a.and(byte(idtAt(13, 5)), 0x7f); // #GP gate not present
  k.expectFault("#DF: #GP through a not-present gate (#NP while delivering #GP)", 8, () => {
    a.mov(ecx, 0x12345).rdmsr();
  }, { err: 0 });
  a.or(byte(idtAt(13, 5)), 0x80);
  onIst1("#DF frame is on the IST1 stack");
  k.expectFault("#DF: #PF while pushing a #PF frame (unmapped stack)", 8, () => {
    a.mov(rsp, BASE + 0x800).mov(eax, dword(BASE + 0x100));
  }, { err: 0 });
  onIst1("#DF (stack fault) frame is on the IST1 stack");
  a.mov(rax, qword(KV.catch + CATCH.cr2)).sub(rax, BASE);
  k.expectRange("#DF (stack fault): CR2 is in the unmapped stack page", eax, 0, 0x7ff);
  a.mov(gateWord(idtAt(0, 2)), 0x10); // #DE gate: data selector instead of a 64-bit code segment
  k.expectFault("#DF: #GP from a #DE gate with a non-code selector", 8, () => {
    a.xor(edx, edx).xor(ecx, ecx).mov(eax, 1).div(ecx);
  }, { err: 0 });
  a.mov(gateWord(idtAt(0, 2)), 0x18);
  // A #PF inside the #BP handler is handled serially (SDM Table 6-5: benign, then contributory).
  const nested = v(), bpAfter = v();
  const h3 = a.label(), skip3 = a.label(), saved = k.var(16);
  a.jmp(skip3).bind(h3);
  {
    const resume = a.label();
    a.push(rax);
    k.arm(14, resume);
    a.mov(eax, dword(BASE + 0x30));
    a.bind(resume);
    k.disarm();
    a.mov(eax, dword(KV.catch + CATCH.caught)).mov(nested, eax);
    a.pop(rax).iretq();
  }
  a.bind(skip3);
  a.mov(rax, qword(idtAt(3))).mov(qword(saved), rax);
  a.mov(rax, qword(idtAt(3, 8))).mov(qword(saved + 8), rax);
  a.mov(eax, h3).mov(gateWord(idtAt(3, 0)), reg("ax"));
  a.shr(eax, 16).mov(gateWord(idtAt(3, 6)), reg("ax"));
  a.i("int3");
  a.mov(bpAfter, 1);
  a.mov(rax, qword(saved)).mov(qword(idtAt(3)), rax);
  a.mov(rax, qword(saved + 8)).mov(qword(idtAt(3, 8)), rax);
  k.expectEq("nested: the #PF inside the #BP handler was caught", nested, 1);
  k.expectEq("nested: the #BP handler returned after its #PF", bpAfter, 1);
  return k.build();
}

/** A word of an IDT gate (absolute address). */
function gateWord(addr: () => number) {
  return mem(addr, { size: 2, addressing: "abs" });
}
