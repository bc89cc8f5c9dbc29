/**
 * Scenario: mode-based execute control (TLFS §15.10 MBEC, §15.15.3 EnablePartitionVtl flags,
 * §15.5.2 VsmVpSecureConfigVtlN, §15.9.3 masks, §15.9.2 violations; spec/vsm.md §2.1, §3, §5.1).
 *
 * VTL0 checks VsmCapabilities.MbecVtlMask and enables VTL1 with EnableMbec. VTL1 (the monitor,
 * vsm_monitor.ts) enables VTL protection and gives pages kernel/user execute rights that differ:
 * with MBEC, a kernel-mode instruction fetch checks KX (UMX/"UX") and a user-mode fetch checks UX.
 * VTL0 runs with CR4.SMEP set (spec §5.1: MBEC is then unaffected by SMEP) on page tables where
 * its own code is supervisor-only, and reaches each test page through two linear aliases: the
 * identity mapping (supervisor) and a user mapping at ALIAS + GPA. It enters CPL 3 with IRETQ
 * and comes back with SYSCALL.
 *
 * Finally VTL1 enables VTL2 without MBEC; VTL2 enables its own protections, and a KX ≠ UX mask is
 * rejected for it (OpenVMM: KX ≠ UX only with MBEC).
 */

import { Kit, PAGES, STACK1 } from "../kit.ts";
import {
  cr3,
  cr4,
  dword,
  eax,
  ecx,
  qword,
  r13,
  r14,
  r8,
  rax,
  rcx,
  rdi,
  rdx,
  rsi,
  rsp,
} from "../asm.ts";
import type { BuiltinGuest } from "../demo.ts";
import { ACT, exceptionEvent, Monitor, REQ, V } from "./vsm_monitor.ts";
import { REG, repResult, ST } from "./vsm_util.ts";

/** The user-mode alias of GPA x is ALIAS + x (PDPT entry 1 → a PD mapping 0x600000 as user). */
const ALIAS = 0x4000_0000;
/** Test pages: R+UX, RW+UX, R only, R+KX+UX. */
const P_U = 0x700000, P_UW = 0x701000, P_Q = 0x702000, P_K = 0x703000;
/** `mov eax, 0x600d; syscall` (user snippet, offset 0x100) and `mov eax, 0x600d; ret` (0x200). */
const USER_CODE = 0x0005_0f00_0060_0db8n, KERNEL_CODE = 0x0000_c300_0060_0db8n;
const U_OFF = 0x100, K_OFF = 0x200, DONE = 0x600d;
/** VTL2: stack, hypercall page, input page. */
const STACK2 = 0x3d0000, HC2 = 0x7f8000, IN2 = 0x7f9000;
/** Variables VTL2 leaves for VTL0. */
const V2 = 0x7fa000;
const REQ_VTL2 = 100;

export function buildVsmMbec(): BuiltinGuest {
  const k = new Kit("vsm-mbec");
  const a = k.a;
  const mon = new Monitor(k);
  const S = "§15.10";
  const savedRsp = 0x7e0100;
  const enterUser = a.label("enter_user"), sysEntry = a.label("syscall_entry");
  const aliasPd = a.label("alias_pd"), vtl2Entry = a.label("vtl2_entry");

  k.hvInit(0);
  // ---- capability and enablement with EnableMbec (§15.15.3) -----------------------------------
  mon.getReg0(REG.VSM_CAPABILITIES);
  a.mov(rax, qword(PAGES.output)).shr(rax, 1).and(eax, 3);
  mon.eq(
    "§15.3.3 VsmCapabilities.MbecVtlMask (bits 16:1) has the VTL0 and VTL1 bits (both readings)",
    rax,
    3,
  );
  k.hypercall(0, 0x1000d, -1, 1 | (1 << 8)); // fast: SELF, TargetVtl 1, Flags EnableMbec
  mon.eq("§15.15.3 EnablePartitionVtl(VTL1, EnableMbec) succeeds", rax, 0);
  mon.getReg0(REG.VSM_PARTITION_STATUS);
  mon.eq(
    "§15.3.2 VsmPartitionStatus: EnabledVtlSet {0,1}, MaximumVtl 2, MbecEnabledVtlSet {1}",
    qword(PAGES.output),
    0x3 | (2 << 16) | (0x2 << 20),
  );
  a.mov(rsi, k.enableVpInput(0xfffffffe, k.vtl1Entry, STACK1)).mov(rdi, PAGES.input);
  a.mov(ecx, 30).rep().movsq();
  k.hypercall(0, 0x0f, PAGES.input, 0);
  mon.eq("§15.15.4 EnableVpVtl(VTL1) succeeds", rax, 0);
  // Test pages: user and kernel snippets, written while everything is RWX.
  for (const p of [P_U, P_UW, P_Q, P_K]) {
    a.mov(rax, USER_CODE).mov(qword(p + U_OFF), rax);
    a.mov(rax, KERNEL_CODE).mov(qword(p + K_OFF), rax);
  }
  mon.req(0); // first VTL call: the monitor sets itself up
  mon.req(REQ.SETREG, REG.VSM_PARTITION_CONFIG, 1 | (0xf << 1), 0, 0);
  mon.eq(
    "§15.5.1 VTL1 enables VTL protection (default RWX)",
    qword(V.result),
    repResult(0, 1),
  );

  // ---- VsmVpSecureConfigVtl0.MbecEnabled (§15.5.2) --------------------------------------------
  mon.req(REQ.GETREG, REG.VSM_VP_SECURE_CONFIG_VTL0, 0, 0);
  a.mov(r13, qword(V.value));
  mon.req(REQ.SETREG, REG.VSM_VP_SECURE_CONFIG_VTL0, 1, 0, 0);
  a.mov(r14, qword(V.result)).mov(rax, repResult(0, 1)).xor(r14, rax).xor(r13, 1).or(r13, r14);
  mon.eq(
    "§15.5.2 VsmVpSecureConfigVtl0 (held by VTL1): MbecEnabled reads 1 and can be set",
    r13,
    0,
  );
  mon.req(REQ.SETREG, REG.VSM_VP_SECURE_CONFIG_VTL0, 0, 0, 0);
  mon.eq(
    "§15.5.2 MbecEnabled = 0 while the partition enabled MBEC for VTL1 -> INVALID_REGISTER_VALUE",
    qword(V.result),
    ST.INVALID_REGISTER_VALUE,
  );
  mon.setReg0(REG.VSM_VP_SECURE_CONFIG_VTL0, 0, 0);
  mon.eq(
    "§15.5.2 VTL0 writing VsmVpSecureConfigVtl0 -> ACCESS_DENIED (only a higher VTL may)",
    rax,
    ST.ACCESS_DENIED,
  );

  // ---- masks with MBEC (§15.9.3, spec §5.1) ---------------------------------------------------
  a.xor(r13, r13);
  for (const [p, m] of [[P_U, 0x9], [P_UW, 0xb], [P_Q, 0x1], [P_K, 0xd]]) {
    mon.req(REQ.PROTECT_RANGE, p!, 1, m!, 0x11);
    a.mov(r14, qword(V.result)).mov(rax, repResult(0, 1)).xor(r14, rax).or(r13, r14);
  }
  mon.eq(`${S} with MBEC, R+UX (0x9) and RW+UX (0xb) masks are accepted`, r13, 0);
  a.xor(r13, r13);
  for (const m of [0x5, 0x7]) {
    mon.req(REQ.PROTECT_RANGE, P_K, 1, m, 0x11);
    a.mov(r14, qword(V.result)).xor(r14, ST.INVALID_REGISTER_VALUE).or(r13, r14);
  }
  mon.eq(
    `${S} KX without UX (0x5, 0x7) stays invalid with MBEC -> INVALID_REGISTER_VALUE`,
    r13,
    0,
  );

  // ---- VTL0 paging: supervisor-only identity map, user alias, SMEP, SYSCALL ----------------------
  a.mov(rax, cr3).and(rax, -4096).mov(rax, qword(rax)).and(rax, -4096); // PDPT
  a.mov(rcx, aliasPd).or(rcx, 7).mov(qword(rax, 8), rcx); // PDPT[1] → alias PD
  a.mov(rax, qword(rax)).and(rax, -4096); // PD of the identity map
  for (let i = 0; i < 4; i++) a.and(qword(rax, i * 8), ~4); // 0-8 MiB: supervisor only
  a.mov(rax, 0x600000 | 0x87).mov(qword(aliasPd, 3 * 8), rax); // ALIAS+6 MiB → 6 MiB, user
  a.mov(rax, cr3).mov(cr3, rax);
  a.mov(rax, cr4).or(eax, 1 << 20).mov(cr4, rax); // SMEP
  k.wrmsr(0xc0000081, 0x0000_0008_0000_0000n); // STAR: SYSCALL CS 0x08, SS 0x10
  a.mov(rax, sysEntry).mov(rdx, rax).shr(rdx, 32).mov(ecx, 0xc0000082).wrmsr(); // LSTAR
  a.mov(ecx, 0xc0000080).rdmsr().or(eax, 1).wrmsr(); // EFER.SCE

  // ---- user-mode execution of an R+UX page works ------------------------------------------------
  mon.arm(0);
  a.xor(eax, eax).mov(rcx, ALIAS + P_U + U_OFF).call(enterUser);
  a.mov(r13, rax).xor(r13, DONE);
  mon.eq(`${S} CPL 3 executes an R+UX page (UX governs user-mode fetches)`, r13, 0);
  mon.expectNoIntercept(`${S} user-mode execution of the R+UX page: no intercept`);

  // ---- kernel-mode execution of the same page: intercepted, VTL1 injects #GP --------------------
  mon.arm(ACT.INJECT, { event: exceptionEvent(13, 0) });
  k.expectFault(0, `${S} CPL 0 executing the R+UX page: VTL1 injected #GP`, 13, () => {
    a.mov(rax, P_U + K_OFF).call(rax);
  });
  mon.expectGpaIntercept(S, "kernel-mode fetch from an R+UX page", {
    access: 2,
    gpa: P_U + K_OFF,
    gva: P_U + K_OFF,
    rip: P_U + K_OFF,
  });

  // ---- user-mode execution of an R page: intercepted, VTL1 grants UX, the fetch retries --------
  mon.arm(ACT.RELAX, { mask: 0x9 });
  a.xor(eax, eax).mov(rcx, ALIAS + P_Q + U_OFF).call(enterUser);
  a.mov(r8, rax);
  mon.expectGpaIntercept(S, "user-mode fetch from an R page", {
    access: 2,
    gpa: P_Q + U_OFF,
    gva: ALIAS + P_Q + U_OFF,
    rip: ALIAS + P_Q + U_OFF,
    cpl: 3,
  });
  a.xor(r8, DONE);
  mon.eq(`${S} after VTL1 set R+UX the user-mode fetch retried and the code ran`, r8, 0);

  // ---- kernel-mode execution of it still needs KX: VTL1 grants it, the call retries -------------
  mon.arm(ACT.RELAX, { mask: 0xd });
  a.xor(eax, eax).mov(rax, P_Q + K_OFF).call(rax);
  mon.expectGpaIntercept(S, "kernel-mode fetch from the R+UX page", {
    access: 2,
    gpa: P_Q + K_OFF,
    gva: P_Q + K_OFF,
    rip: P_Q + K_OFF,
  });
  mon.eq(`${S} after VTL1 set R+KX+UX the kernel-mode call retried and ran`, rax, DONE);

  // ---- R+KX+UX and RW+UX pages ------------------------------------------------------------------
  mon.arm(0);
  a.xor(eax, eax).mov(rax, P_K + K_OFF).call(rax).mov(r13, rax);
  a.xor(eax, eax).mov(rcx, ALIAS + P_K + U_OFF).call(enterUser).xor(r13, rax);
  a.xor(eax, eax).mov(rcx, ALIAS + P_UW + U_OFF).call(enterUser).xor(rax, DONE).or(r13, rax);
  a.mov(rax, 0x77).mov(qword(P_UW + 8), rax).xor(rax, qword(P_UW + 8)).or(r13, rax);
  mon.eq(
    `${S} R+KX+UX runs in both modes; RW+UX runs in user mode and is writable`,
    r13,
    0,
  );
  mon.expectNoIntercept(`${S} no intercept for those accesses`);
  mon.arm(ACT.INJECT, { event: exceptionEvent(13, 0) });
  k.expectFault(0, `${S} CPL 0 executing the RW+UX page: VTL1 injected #GP`, 13, () => {
    a.mov(rax, P_UW + K_OFF).call(rax);
  });
  mon.expectGpaIntercept(S, "kernel-mode fetch from an RW+UX page", {
    access: 2,
    gpa: P_UW + K_OFF,
    gva: P_UW + K_OFF,
    rip: P_UW + K_OFF,
  });

  // ---- SMEP available but disabled: every fetch is governed by KX (TLFS §15.10) -----------------
  a.mov(rax, cr4).btr(rax, 20).mov(cr4, rax);
  mon.arm(ACT.RELAX, { mask: 0xd });
  a.xor(eax, eax).mov(rcx, ALIAS + P_U + U_OFF).call(enterUser);
  a.mov(r13, rax);
  mon.expectOne(
    `${S} with CR4.SMEP clear, CPL 3 executing the R+UX page is intercepted (KX governs)`,
    2,
    P_U + U_OFF,
    ALIAS + P_U + U_OFF,
  );
  mon.eq(`${S} after VTL1 set R+KX+UX the user-mode fetch retried and ran`, r13, DONE);

  // ---- a VTL without MBEC: KX != UX is rejected (OpenVMM validation, spec §5.1) -----------------
  mon.req(REQ_VTL2);
  mon.eq(
    "§15.15.3 VTL1 enables VTL2 (no EnableMbec) for the partition and this VP",
    qword(V2),
    0,
  );
  mon.eq(
    "§15.9.3 VTL2 (no MBEC) applying R+UX (0x9) -> HV_STATUS_INVALID_REGISTER_VALUE",
    qword(V2 + 8),
    ST.INVALID_REGISTER_VALUE,
  );
  mon.eq(
    "§15.9.3 VTL2 (no MBEC) applying R+KX+UX (0xd) succeeds",
    qword(V2 + 16),
    repResult(0, 1),
  );
  a.jmp(k.finish);

  // ---- CPL 3 round trip: IRETQ to `rcx` at CPL 3, back through SYSCALL ---------------------------
  a.bind(enterUser);
  a.mov(qword(savedRsp), rsp);
  a.push(0x23).push(ALIAS + P_UW + 0xff0).push(0x2).push(0x1b).push(rcx).iretq();
  a.bind(sysEntry);
  a.mov(rsp, qword(savedRsp)).ret();

  // ---- VTL1: bring up VTL2 and let it try masks ---------------------------------------------------
  mon.on(REQ_VTL2, () => {
    a.mov(qword(V2), 0);
    k.hypercall(1, 0x1000d, -1, 2); // EnablePartitionVtl(VTL2), fast, no flags
    a.or(qword(V2), rax);
    a.mov(rsi, k.enableVpInput(0xfffffffe, vtl2Entry, STACK2, 2)).mov(rdi, IN2);
    a.mov(ecx, 30).rep().movsq();
    k.hypercall(1, 0x0f, IN2, 0); // EnableVpVtl(VTL2)
    a.or(qword(V2), rax);
    k.vtlCall(1); // into VTL2; it comes back with a fast VTL return
  });
  // ---- VTL2 ------------------------------------------------------------------------------------
  a.bind(vtl2Entry);
  k.wrmsr(0x40000000, 0x8100000000000003n).wrmsr(0x40000001, HC2 | 1);
  const hc2 = (ctl: bigint, input: number) => {
    a.mov(rcx, ctl).mov(rdx, input).xor(r8, r8).mov(rax, HC2).call(rax);
  };
  a.mov(rdi, IN2).mov(qword(rdi), -1).mov(dword(rdi, 8), 0xfffffffe).mov(dword(rdi, 12), 0);
  a.mov(qword(rdi, 16), REG.VSM_PARTITION_CONFIG).mov(qword(rdi, 24), 0);
  a.mov(qword(rdi, 32), 0x1f).mov(qword(rdi, 40), 0);
  hc2(0x0000_0001_0000_0051n, IN2); // SetVpRegisters(own VsmPartitionConfig = 0x1f)
  a.mov(rcx, repResult(0, 1)).xor(rax, rcx).or(qword(V2), rax);
  for (const [i, m] of [[1, 0x9], [2, 0xd]]) {
    a.mov(rdi, IN2).mov(qword(rdi), -1).mov(qword(rdi, 8), m!).mov(qword(rdi, 16), P_K >>> 12);
    hc2(0x0000_0001_0000_000cn, IN2); // ModifyVtlProtectionMask, owner = the caller (VTL2)
    a.mov(qword(V2 + 8 * i!), rax);
  }
  a.mov(ecx, 1).mov(rax, HC2 + 0x26).call(rax); // fast VTL return to VTL1
  k.say("FAIL VTL2 entered twice\n");
  a.jmp(k.finish);

  mon.emit();
  a.align(4096).bind(aliasPd).space(4096);
  return k.build();
}
