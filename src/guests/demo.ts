/**
 * The built-in VSM demo guest (`deno task boot` with no guest), on 2 VPs:
 *
 * - VTL0 sets its guest OS ID and hypercall page, enables VTL1 for the partition and VP 0 with
 *   an initial context (TLFS §3.13, §15.15), and VTL-calls into it through the hypercall page's
 *   code-page offsets (§15.6-15.8).
 * - VTL1 — a tiny secure kernel — sets up its own hypercall page, VP assist page, SynIC (SINT0 for
 *   intercepts) and local APIC timer, enables VTL protection and makes a secret page
 *   inaccessible to VTL0 (§15.9), enables VTL1 on VP 1, and serves requests from VTL0.
 * - VTL0 starts VP 1 with HvCallStartVirtualProcessor; VP 1 does a VTL round trip of its own.
 * - VTL0 reads the secret page: the access is intercepted, VTL1 gets a GpaIntercept message on
 *   SINT0, skips the instruction by moving VTL0's RIP (HvCallSetVpRegisters) and returns a
 *   marker value instead; VTL0 goes on.
 * - Both VTLs take timer interrupts from their own APICs; VTL1's preempt VTL0 (§15.12.2).
 * - VTL0 echoes serial input, then exits through isa-debug-exit with 0.
 */

import { dword, type Label, mem, qword } from "./asm.ts";
import { al, dx, eax, ecx, edx, r8, rax, rbx, rcx, rdi, rdx, rsi } from "./asm/operands.ts";
import { Kit, PAGES } from "./kit.ts";

export interface BuiltinGuest {
  readonly name: string;
  readonly bytes: Uint8Array;
  readonly load: number;
  readonly entry: { rip: number; rsp: number; cr3: number; gdtBase: number; gdtLimit: number };
  /** Machine settings the guest needs (e.g. { vps: 4 }); `boot` uses them unless overridden. */
  readonly config?: Readonly<Record<string, unknown>>;
  /**
   * How the boot processor starts (default "long64": 64-bit long mode with the guest's page
   * tables and GDT from `entry`). "real": real mode at CS:IP = (load >> 4):(entry.rip - load),
   * DS = ES = FS = GS = CS, SS = 0, SP = entry.rsp (below 64 KiB); cr3/gdt are unused.
   */
  readonly entryMode?: "real" | "long64";
}

const SECRET = PAGES.scratch;
const VP1_STACK0 = 0x3d0000, VP1_STACK1 = 0x3d8000;
const INTERCEPT_VECTOR = 0x30, VTL1_TIMER = 0x31, VTL0_TIMER = 0x40;
/** Requests VTL0 passes to VTL1 in RDI. */
const REQ_INIT = 1, REQ_SQUARE = 2, REQ_STOP_TIMER = 3;

export function buildDemo(): BuiltinGuest {
  const k = new Kit("demo");
  const a = k.a;
  const ticks0 = a.label("ticks0"), ticks1 = a.label("ticks1"), apDone = a.label("ap_done");
  const apResult = a.label("ap_result"), intercepts = a.label("intercepts");
  const apEntry = a.label("ap_entry"),
    serve = a.label("vtl1_serve"),
    handle = a.label("vtl1_handle");
  const secretRead = a.label("secret_read"), secretAfter = a.label("secret_after");

  // ---- VTL0 on VP 0 -----------------------------------------------------------------------------
  a.mov(dx, 0x3fa).mov(al, 0x01).out(dx, al); // UART: enable the FIFOs
  k.say("vtlrr demo: VTL0 up on VP 0\n");
  k.hvInit(0);
  k.enableVtl1();
  a.mov(rdi, REQ_INIT);
  k.vtlCall();
  k.say("VTL0: back from VTL1 initialisation\n");
  // Start VP 1 in VTL0.
  a.mov(rsi, k.enableVpInput(1, apEntry, VP1_STACK0, 0)).mov(rdi, PAGES.input).mov(ecx, 30)
    .rep().movsq();
  k.hypercall(0, 0x99, PAGES.input, 0);
  k.expectEq("HvCallStartVirtualProcessor(VP 1) succeeds", rax, 0);
  // VTL call round trips.
  for (let i = 1; i <= 3; i++) {
    a.mov(rdi, REQ_SQUARE).mov(rsi, i);
    k.vtlCall();
    k.expectEq(`VTL1 computed ${i}*${i}+1`, rsi, i * i + 1);
  }
  // Trip over the secret page.
  k.say("VTL0: reading VTL1's secret page...\n");
  a.bind(secretRead).mov(rax, qword(SECRET));
  a.bind(secretAfter);
  k.expectEq("the read was intercepted and skipped by VTL1 (rax = marker)", rax, 0xdead);
  // Timer interrupts in both VTLs (x2APIC, periodic).
  k.wrmsr(0x1b, 0xfee00c00); // IA32_APIC_BASE: enabled, x2APIC
  k.wrmsr(0x80f, 0x1ff).wrmsr(0x83e, 0x0b).wrmsr(0x832, 0x20000 | VTL0_TIMER).wrmsr(0x838, 50_000);
  a.sti();
  const wait = a.here("wait_ticks"), waitMore = a.label();
  a.hlt().cmp(dword(ticks0), 3).jb(wait);
  a.bind(waitMore).cmp(dword(ticks1), 2).jb(wait);
  a.cli();
  k.wrmsr(0x832, 0x10000 | VTL0_TIMER);
  a.mov(rdi, REQ_STOP_TIMER);
  k.vtlCall();
  k.say("timer interrupts in both VTLs ok\n");
  // VP 1's result.
  const apWait = a.here("ap_wait");
  a.i("pause").cmp(dword(apDone), 1).jne(apWait);
  k.expectEq("VP 1 did its own VTL round trip", qword(apResult), 101);
  // Echo serial input until the line is idle.
  k.say("waiting for serial input...\n");
  a.mov(rbx, 20000);
  const poll = a.here("echo_poll"), none = a.label();
  a.mov(dx, 0x3fd).in_(al, dx).test(al, 1).jz(none);
  a.mov(dx, 0x3f8).in_(al, dx).call(k.putc).mov(rbx, 20000);
  a.bind(none).dec(rbx).jnz(poll);
  k.say("vtlrr demo: done\n");
  a.jmp(k.finish);

  // VTL0 timer interrupt.
  a.bind(k.handler(0, VTL0_TIMER));
  a.push(rax).push(rcx).push(rdx);
  a.i("inc", dword(ticks0));
  k.say("VTL0: timer tick\n");
  a.mov(ecx, 0x80b).xor(eax, eax).xor(edx, edx).wrmsr(); // x2APIC EOI
  a.pop(rdx).pop(rcx).pop(rax).iretq();

  // ---- VTL0 on VP 1 -------------------------------------------------------------------------------
  a.bind(apEntry);
  a.mov(rdi, REQ_SQUARE).mov(rsi, 10);
  k.vtlCall();
  a.mov(qword(apResult), rsi).mov(dword(apDone), 1);
  const apSpin = a.here("ap_spin");
  a.cli().hlt().jmp(apSpin);

  // ---- VTL1 (both VPs) -------------------------------------------------------------------------------
  a.bind(k.vtl1Entry);
  k.wrmsr(0x40000073, PAGES.assist1 | 1); // VP assist page (per VP)
  k.wrmsr(0x40000080, 1).wrmsr(0x40000083, PAGES.simp1 | 1); // SCONTROL, SIMP
  k.wrmsr(0x40000090, (1 << 17) | INTERCEPT_VECTOR); // SINT0: AutoEOI
  a.mov(ecx, 0x40000002).rdmsr().test(eax, eax).jnz(handle); // VP 1: its first call is a request
  k.hvInit(1);
  k.say("VTL1: secure kernel up\n");
  // VTL protection with a full default mask, then the secret page: no access for VTL0.
  const setReg = (name: number, value: number | bigint) => {
    a.mov(rdi, PAGES.input).mov(qword(rdi), -1).mov(dword(rdi, 8), 0xfffffffe);
    a.mov(dword(rdi, 12), 0).mov(dword(rdi, 16), name).mov(dword(rdi, 20), 0);
    a.mov(qword(rdi, 24), 0).mov(rax, BigInt(value)).mov(qword(rdi, 32), rax).mov(
      qword(rdi, 40),
      0,
    );
    k.hypercall(1, 0x0000_0001_0000_0051n, PAGES.input, 0);
  };
  setReg(0x000d0007, 1 | (0xf << 1)); // VsmPartitionConfig: EnableVtlProtection, mask RWX
  k.expectEq("VTL1 enabled VTL protection", rax, 0x100000000n);
  a.mov(rdi, SECRET).mov(rax, 0x7465726365732031n).mov(qword(rdi), rax); // "1 secret"
  a.mov(rdi, PAGES.input).mov(qword(rdi), -1).mov(dword(rdi, 8), 0).mov(dword(rdi, 12), 0x11);
  a.mov(qword(rdi, 16), SECRET >>> 12);
  k.hypercall(1, 0x0000_0001_0000_000cn, PAGES.input, 0); // ModifyVtlProtectionMask, 1 page
  k.expectEq("VTL1 made the secret page inaccessible to VTL0", rax, 0x100000000n);
  k.say("VTL1: secret page protected\n");
  // Enable VTL1 on VP 1 (after the first VP, only VTL1 may do it).
  a.mov(rsi, k.enableVpInput(1, k.vtl1Entry, VP1_STACK1)).mov(rdi, PAGES.input).mov(ecx, 30)
    .rep().movsq();
  k.hypercall(1, 0x0f, PAGES.input, 0);
  k.expectEq("VTL1 enabled VTL1 on VP 1", rax, 0);
  // VTL1's own APIC timer (x2APIC, periodic).
  k.wrmsr(0x1b, 0xfee00c00).wrmsr(0x80f, 0x1ff).wrmsr(0x83e, 0x0b);
  k.wrmsr(0x832, 0x20000 | VTL1_TIMER).wrmsr(0x838, 120_000);
  // Service loop: interrupts on while waiting in VTL0; requests (VTL calls) in RDI.
  a.bind(serve);
  a.sti();
  k.vtlReturn(false);
  a.cli();
  a.cmp(dword(PAGES.assist1 + 0x08), 1).jne(serve); // entered for an interrupt: nothing to do
  a.bind(handle);
  const notSquare = a.label();
  a.cmp(rdi, REQ_SQUARE).jne(notSquare);
  a.mov(rax, rsi).imul(rax, rsi).i("inc", rax).mov(rsi, rax).jmp(serve);
  a.bind(notSquare);
  a.cmp(rdi, REQ_STOP_TIMER).jne(serve);
  k.wrmsr(0x832, 0x10000 | VTL1_TIMER);
  a.jmp(serve);

  // SINT0: a secure intercept message (GpaIntercept) from VTL0.
  a.bind(k.handler(1, INTERCEPT_VECTOR));
  a.push(rax).push(rcx).push(rdx).push(rdi).push(rsi).push(r8);
  const notGpa = a.label();
  a.cmp(dword(PAGES.simp1), 0x80000001).jne(notGpa);
  a.i("inc", dword(intercepts));
  k.say("VTL1: intercepted VTL0 access type ");
  a.movzx(eax, mem(PAGES.simp1 + 16 + 5, { size: 1 })).call(k.puthex);
  k.say(" to GPA ").a.mov(rax, qword(PAGES.simp1 + 16 + 56)).call(k.puthex);
  k.say(" at RIP ").a.mov(rax, qword(PAGES.simp1 + 16 + 24)).call(k.puthex);
  k.say("\n");
  // Skip the instruction: VTL0's RIP += its length; VTL0 gets a marker in RAX.
  a.mov(rax, qword(PAGES.simp1 + 16 + 24)).add(
    rax,
    () => a.addressOf(secretAfter) - a.addressOf(secretRead),
  );
  a.mov(rdi, PAGES.input).mov(qword(rdi), -1).mov(dword(rdi, 8), 0xfffffffe).mov(
    dword(rdi, 12),
    0x10,
  );
  a.mov(dword(rdi, 16), 0x00020010).mov(dword(rdi, 20), 0).mov(qword(rdi, 24), 0);
  a.mov(qword(rdi, 32), rax).mov(qword(rdi, 40), 0);
  k.hypercall(1, 0x0000_0001_0000_0051n, PAGES.input, 0); // SetVpRegisters(VTL0 RIP)
  a.mov(qword(PAGES.assist1 + 0x10), 0xdead);
  a.bind(notGpa);
  a.mov(dword(PAGES.simp1), 0); // free the message slot
  a.mov(ecx, 0x40000084).xor(eax, eax).xor(edx, edx).wrmsr(); // EOM
  a.pop(r8).pop(rsi).pop(rdi).pop(rdx).pop(rcx).pop(rax);
  a.iretq();

  // VTL1 timer interrupt.
  a.bind(k.handler(1, VTL1_TIMER));
  a.push(rax).push(rcx).push(rdx);
  a.i("inc", dword(ticks1));
  k.say("VTL1: timer tick (VTL0 preempted)\n");
  a.mov(ecx, 0x80b).xor(eax, eax).xor(edx, edx).wrmsr();
  a.pop(rdx).pop(rcx).pop(rax).iretq();

  // ---- data ------------------------------------------------------------------------------------
  a.align(8);
  for (const l of [ticks0, ticks1, apDone, apResult, intercepts] as Label[]) a.bind(l).dq(0n);
  return { ...k.build(), config: { vps: 2 } };
}
