/**
 * Scenario: register intercepts (TLFS §15.13.4 HvX64RegisterCrInterceptControl and the CR0/CR4
 * mask registers; §15.13 intercept delivery; §7.10.1 Get/SetVpRegisters; spec/vsm.md §3, §5.4,
 * §6).
 *
 * VTL1 (the monitor, vsm_monitor.ts) asks, with SetVpRegisters on its own VTL, to see VTL0's
 * writes to CR0, CR4, IA32_LSTAR and IA32_EFER, with CR0/CR4 masks. VTL0 then writes them: a
 * write that changes a masked bit (or any write of an intercepted MSR) is not performed, RIP
 * stays on the instruction, and VTL1 gets a RegisterIntercept or MsrIntercept message on SINT0.
 * VTL1 emulates the write (SetVpRegisters of the register and RIP += instruction length),
 * refuses it (skips the instruction) or injects #GP. Writes of unmasked bits or of MSRs not
 * intercepted go through.
 *
 * Nothing checked here differs between the hypervisor profiles, so the scenario also runs under
 * `--hv-profile kvm-rfc` (vsm-register-intercepts-kvm-rfc: the kit calls the RFC's VTL stubs).
 */

import { Kit } from "../kit.ts";
import { cr0, cr4, eax, ebx, ecx, edx, qword, r13, r14, rax, rbx, rdx } from "../asm.ts";
import type { BuiltinGuest } from "../demo.ts";
import { ACT, exceptionEvent, Monitor, REQ, V } from "./vsm_monitor.ts";
import { REG, repResult, ST } from "./vsm_util.ts";

const CR0_MP = 1 << 1, CR0_AM = 1 << 18, CR4_TSD = 1 << 2, CR4_SMEP = 1 << 20;
/** CrInterceptControl bits (TLFS §15.13.4): Cr0Write, Cr4Write, MsrLstarWrite, MsrEferWrite. */
const CONTROL = (1 << 0) | (1 << 1) | (1 << 6) | (1 << 14);
const MSR_LSTAR = 0xc0000082, MSR_EFER = 0xc0000080, MSR_STAR = 0xc0000081;
const REGISTER_INTERCEPT = 0x80010006, MSR_INTERCEPT = 0x80010001;
const EXEC_AM = 8; // ExecutionState.Cr0Am

export function buildVsmRegisterIntercepts(
  hvProfile: "hyperv" | "kvm-rfc" = "hyperv",
): BuiltinGuest {
  const name = "vsm-register-intercepts" + (hvProfile === "kvm-rfc" ? "-kvm-rfc" : "");
  const k = new Kit(name, { hvProfile });
  const a = k.a;
  const mon = new Monitor(k);
  const S = "§15.13.4";
  const rdmsr64 = (msr: number) => a.mov(ecx, msr).rdmsr().shl(rdx, 32).or(rax, rdx);

  k.hvInit(0);
  k.enableVtl1();
  mon.req(0); // first VTL call: the monitor sets itself up

  // ---- who may set the intercept controls -------------------------------------------------------
  mon.setReg0(REG.CR_INTERCEPT_CONTROL, CONTROL, 0);
  mon.eq(
    `${S} VTL0 setting CrInterceptControl on itself -> HV_STATUS_INVALID_PARAMETER`,
    rax,
    ST.INVALID_PARAMETER,
  );
  mon.setReg0(REG.CR_INTERCEPT_CONTROL, CONTROL, 0x11);
  mon.eq(
    `§7.10.1 VTL0 setting VTL1's CrInterceptControl -> HV_STATUS_ACCESS_DENIED`,
    rax,
    ST.ACCESS_DENIED,
  );
  mon.req(REQ.SETREG, REG.CR_INTERCEPT_CONTROL, CONTROL, 0x10, 0);
  mon.eq(
    `${S} VTL1 addressing VTL0's CrInterceptControl (owned by VTL1) -> INVALID_PARAMETER`,
    qword(V.result),
    ST.INVALID_PARAMETER,
  );
  a.xor(r13, r13);
  for (const bit of [3, 5, 13]) {
    mon.req(REQ.SETREG, REG.CR_INTERCEPT_CONTROL, 1 << bit, 0x11, 0);
    a.mov(r14, qword(V.result)).xor(r14, ST.INVALID_REGISTER_VALUE).or(r13, r14);
  }
  mon.eq(
    `${S} read-intercept bits (IA32MiscEnableRead, MsrLstarRead, MsrEferRead) -> ` +
      "HV_STATUS_INVALID_REGISTER_VALUE",
    r13,
    0,
  );
  // ---- VTL1 sets the controls and masks on its own VTL ---------------------------------------
  a.xor(r13, r13);
  for (
    const [name, value, sel] of [
      [REG.CR_INTERCEPT_CONTROL, CONTROL, 0x11],
      [REG.CR_INTERCEPT_CR0_MASK, CR0_AM, 0],
      [REG.CR_INTERCEPT_CR4_MASK, CR4_TSD | CR4_SMEP, 0x11],
    ]
  ) {
    mon.req(REQ.SETREG, name!, value!, sel!, 0);
    a.mov(r14, qword(V.result)).mov(rax, repResult(0, 1)).xor(r14, rax).or(r13, r14);
  }
  mon.eq(
    `${S} VTL1 sets CrInterceptControl (Cr0Write, Cr4Write, MsrLstarWrite, MsrEferWrite) and ` +
      "the CR0/CR4 masks with TargetVtl = VTL1",
    r13,
    0,
  );
  mon.req(REQ.GETREG, REG.CR_INTERCEPT_CONTROL, 0, 0);
  mon.eq(`${S} CrInterceptControl reads back 0x4043`, qword(V.value), CONTROL);

  // ---- CR0 write changing a masked bit: intercepted, emulated by VTL1 -------------------------
  const w1 = a.label("cr0_am_on");
  mon.arm(ACT.EMU_CR | ACT.SKIP, {}, REG.CR0);
  a.mov(r13, cr0).mov(rax, r13).or(rax, CR0_AM).xor(ebx, ebx);
  a.bind(w1).mov(cr0, rax);
  a.i("inc", rbx);
  mon.expectIntercept(S, "MOV CR0 setting CR0.AM (masked)", {
    type: REGISTER_INTERCEPT,
    typeName: "RegisterIntercept",
    payload: 64,
    access: 1,
    insnLen: 3,
    rip: w1,
    fields: [["RegisterName HvX64RegisterCr0", 44, REG.CR0, 4], ["the new value", 48, rax, 8]],
  });
  mon.eq(`${S} VTL0's CR0 was unchanged when VTL1 got the intercept`, qword(V.probeVal), r13);
  a.mov(r14, cr0).xor(r14, rax).xor(rbx, 1).or(r14, rbx);
  mon.eq(
    `${S} VTL1 emulated it (SetVpRegisters CR0, RIP += 3): new CR0, next instruction ran once`,
    r14,
    0,
  );

  // ---- CR0 writes not touching masked bits are not intercepted --------------------------------
  mon.arm(0);
  a.mov(rax, cr0).xor(rax, CR0_MP).mov(r13, rax).mov(cr0, rax);
  a.mov(cr0, rax); // same value again
  a.mov(r14, cr0).xor(r14, r13);
  mon.eq(`${S} MOV CR0 toggling CR0.MP (not in the mask) takes effect`, r14, 0);
  a.mov(rax, cr0).xor(rax, CR0_MP).mov(cr0, rax);
  mon.expectNoIntercept(`${S} CR0 writes that change no masked bit are not intercepted`);

  // ---- CR0 write refused by VTL1 (skipped): CR0 keeps its value ------------------------------
  const w3 = a.label("cr0_am_off");
  mon.arm(ACT.SKIP);
  a.mov(r13, cr0).mov(rax, r13).btr(rax, 18);
  a.bind(w3).mov(cr0, rax);
  mon.expectIntercept(S, "MOV CR0 clearing CR0.AM", {
    type: REGISTER_INTERCEPT,
    typeName: "RegisterIntercept",
    payload: 64,
    access: 1,
    insnLen: 3,
    exec: EXEC_AM,
    rip: w3,
    fields: [["RegisterName HvX64RegisterCr0", 44, REG.CR0, 4], ["the new value", 48, rax, 8]],
  });
  a.mov(r14, cr0).xor(r14, r13);
  mon.eq(`${S} VTL1 refused the write (skipped it): CR0 keeps CR0.AM`, r14, 0);

  // ---- CR4 write changing a masked bit: VTL1 injects #GP ---------------------------------------
  const w4 = a.label("cr4_tsd");
  mon.arm(ACT.INJECT, { event: exceptionEvent(13, 0) });
  a.mov(r13, cr4);
  k.expectFault(0, `${S} MOV CR4 setting CR4.TSD: VTL1 injected #GP, VTL0 caught it`, 13, () => {
    a.mov(rax, r13).or(rax, CR4_TSD);
    a.bind(w4).mov(cr4, rax);
  });
  mon.expectIntercept(S, "MOV CR4 setting CR4.TSD (masked)", {
    type: REGISTER_INTERCEPT,
    typeName: "RegisterIntercept",
    payload: 64,
    access: 1,
    insnLen: 3,
    exec: EXEC_AM,
    rip: w4,
    fields: [["RegisterName HvX64RegisterCr4", 44, REG.CR4, 4], ["the new value", 48, rax, 8]],
  });
  a.mov(r14, cr4).xor(r14, r13);
  mon.eq(`${S} CR4 unchanged after the refused write`, r14, 0);

  // ---- WRMSR IA32_LSTAR: MsrIntercept, emulated ------------------------------------------------
  const w5 = a.label("wrmsr_lstar");
  const lstar = 0xffff_8000_1234_5678n;
  rdmsr64(MSR_LSTAR);
  a.mov(r13, rax);
  mon.arm(ACT.EMU_MSR | ACT.SKIP, { name: REG.LSTAR }, REG.LSTAR);
  // Junk in the upper halves: WRMSR ignores them, the message reports the registers.
  a.mov(rax, 0xaaaa_0000_0000_0000n | (lstar & 0xffff_ffffn));
  a.mov(rdx, 0xbbbb_0000_0000_0000n | (lstar >> 32n)).mov(ecx, MSR_LSTAR);
  a.bind(w5).wrmsr();
  mon.expectIntercept(S, "WRMSR IA32_LSTAR", {
    type: MSR_INTERCEPT,
    typeName: "MsrIntercept",
    payload: 64,
    access: 1,
    insnLen: 2,
    exec: EXEC_AM,
    rip: w5,
    fields: [["MsrNumber", 40, MSR_LSTAR, 4], ["RDX", 48, rdx, 8], ["RAX", 56, rax, 8]],
  });
  mon.eq(`${S} IA32_LSTAR unchanged when VTL1 got the intercept`, qword(V.probeVal), r13);
  rdmsr64(MSR_LSTAR);
  mon.eq(`${S} VTL1 emulated the WRMSR (SetVpRegisters LSTAR, RIP += 2)`, rax, lstar);

  // ---- WRMSR IA32_EFER: VTL1 injects #GP --------------------------------------------------------
  const w6 = a.label("wrmsr_efer");
  rdmsr64(MSR_EFER);
  a.mov(r13, rax).mov(r14, rax).or(r14, 1); // EFER.SCE
  mon.arm(ACT.INJECT, { event: exceptionEvent(13, 0) });
  k.expectFault(0, `${S} WRMSR IA32_EFER: VTL1 injected #GP, VTL0 caught it`, 13, () => {
    a.mov(rax, r14).xor(edx, edx).mov(ecx, MSR_EFER);
    a.bind(w6).wrmsr();
  });
  mon.expectIntercept(S, "WRMSR IA32_EFER", {
    type: MSR_INTERCEPT,
    typeName: "MsrIntercept",
    payload: 64,
    access: 1,
    insnLen: 2,
    exec: EXEC_AM,
    rip: w6,
    fields: [["MsrNumber", 40, MSR_EFER, 4], ["RDX", 48, 0, 8], ["RAX", 56, r14, 8]],
  });
  rdmsr64(MSR_EFER);
  mon.eq(`${S} IA32_EFER unchanged after the refused write`, rax, r13);

  // ---- an MSR whose write is not intercepted -----------------------------------------------------
  mon.arm(0);
  a.mov(ecx, MSR_STAR).mov(eax, 0).mov(edx, 0x0023_0008).wrmsr();
  rdmsr64(MSR_STAR);
  mon.eq(`${S} WRMSR IA32_STAR (MsrStarWrite clear) takes effect`, rax, 0x0023_0008_0000_0000n);
  mon.expectNoIntercept(`${S} WRMSR IA32_STAR is not intercepted`);

  // ---- the intercept-page route (VsmPartitionConfig.InterceptPage, spec §5.3) -----------------
  const w8 = a.label("cr0_am_off_page");
  mon.req(REQ.SETREG, REG.VSM_PARTITION_CONFIG, 0x1000, 0, 0);
  mon.arm(ACT.EMU_CR | ACT.SKIP);
  a.mov(rax, cr0).btr(rax, 18);
  a.bind(w8).mov(cr0, rax);
  mon.expectIntercept("§15.13", "MOV CR0 with InterceptPage set", {
    type: REGISTER_INTERCEPT,
    typeName: "RegisterIntercept",
    payload: 64,
    access: 1,
    insnLen: 3,
    exec: EXEC_AM,
    rip: w8,
    viaPage: true,
    fields: [["RegisterName HvX64RegisterCr0", 44, REG.CR0, 4], ["the new value", 48, rax, 8]],
  });
  a.mov(r14, cr0).xor(r14, rax);
  mon.eq("§15.13 emulated through the intercept page: CR0.AM cleared", r14, 0);
  mon.req(REQ.SETREG, REG.VSM_PARTITION_CONFIG, 0, 0, 0);

  // ---- controls cleared: nothing is intercepted any more ---------------------------------------
  mon.req(REQ.SETREG, REG.CR_INTERCEPT_CONTROL, 0, 0x11, 0);
  mon.arm(0);
  a.mov(rax, cr0).or(rax, CR0_AM).mov(cr0, rax).btr(rax, 18).mov(cr0, rax);
  a.mov(ecx, MSR_LSTAR).xor(eax, eax).xor(edx, edx).wrmsr();
  mon.expectNoIntercept(
    `${S} with CrInterceptControl = 0, CR0.AM and LSTAR writes are not intercepted`,
  );
  a.jmp(k.finish);

  mon.emit();
  return k.build();
}
