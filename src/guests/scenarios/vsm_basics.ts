/**
 * Scenario: VSM enablement, VTL call/return and state separation (TLFS §2.4, §3.7, §3.13,
 * §15.6-§15.8, §15.11, §15.15; spec/vsm.md §1-§4).
 */

import { Kit, PAGES } from "../kit.ts";
import { dword, eax, ebx, ecx, edx, qword, r8, rax, rbx, rcx, rdi, rsi, rsp } from "../asm.ts";
import type { BuiltinGuest } from "../demo.ts";

const GPR_BASE = 0x00020000;

export function buildVsmBasics(): BuiltinGuest {
  const k = new Kit("vsm-basics");
  const a = k.a;
  // --- Hypervisor discovery (TLFS §2.4) -------------------------------------------------------
  a.mov(eax, 0x40000000).cpuid();
  k.expectEq("§2.4 CPUID 0x40000000 vendor 'Micr'", ebx, 0x7263694d);
  a.mov(eax, 0x40000001).cpuid();
  k.expectEq("§2.4 CPUID 0x40000001 interface 'Hv#1'", eax, 0x31237648);
  a.mov(eax, 0x40000003).cpuid().and(ebx, 0x30000);
  k.expectEq("§2.4 AccessVsm and AccessVpRegisters advertised", ebx, 0x30000);
  // --- Hypercall page (TLFS §3.13) -------------------------------------------------------------
  k.wrmsr(0x40000001, PAGES.hc0 | 1); // guest OS ID still 0: no effect
  a.mov(ecx, 0x40000001).rdmsr().and(eax, 1);
  k.expectEq("§3.13 hypercall page stays disabled while the guest OS ID is 0", eax, 0);
  k.hvInit(0);
  a.mov(ecx, 0x40000001).rdmsr().and(eax, 1);
  k.expectEq("§3.13 hypercall page enabled after the guest OS ID is set", eax, 1);
  // --- Hypercall ABI (TLFS §3.7) ----------------------------------------------------------------
  k.hypercall(0, 0x7777, 0, 0);
  k.expectEq("§3.7 unknown call code -> HV_STATUS_INVALID_HYPERCALL_CODE", rax, 2);
  k.hypercall(0, 0x0000_0001_0000_0050n | (1n << 28n), PAGES.input, PAGES.output);
  k.expectEq("§3.7 reserved control bits -> HV_STATUS_INVALID_HYPERCALL_INPUT", rax, 3);
  k.hypercall(0, 0x0000_0001_0000_0050n, PAGES.input + 4, PAGES.output);
  k.expectEq("§3.7 misaligned input GPA -> HV_STATUS_INVALID_ALIGNMENT", rax, 4);
  k.hypercall(0, 0x50n, PAGES.input, PAGES.output);
  k.expectEq("§3.7 rep call with rep count 0 -> HV_STATUS_INVALID_HYPERCALL_INPUT", rax, 3);
  // GetVpRegisters helper: one register of the caller's own VTL (or `vtlSel`) into rax.
  const getReg = (vtl: 0 | 1, name: number, vtlSel = 0) => {
    a.mov(rdi, PAGES.input).mov(qword(rdi), -1).mov(dword(rdi, 8), 0xfffffffe);
    a.mov(dword(rdi, 12), vtlSel).mov(dword(rdi, 16), name);
    k.hypercall(vtl, 0x0000_0001_0000_0050n, PAGES.input, PAGES.output);
  };
  getReg(0, 0x000d0004);
  k.expectEq("§15.3.2 GetVpRegisters(VsmPartitionStatus) succeeds", rax, 0x100000000n);
  a.mov(rax, qword(PAGES.output));
  k.expectEq("§15.3.2 VsmPartitionStatus: EnabledVtlSet {0}, MaximumVtl 2", rax, 0x20001);
  getReg(0, 0x000d0002);
  a.mov(rax, qword(PAGES.output));
  k.expectEq("§15.8 VsmCodePageOffsets: call 0x0F, return 0x26 (64-bit)", rax, 0x2600f);
  // --- Enablement (TLFS §15.15.3-4) ---------------------------------------------------------------
  k.hypercall(0, 0x1000d, -1, 0);
  k.expectEq("§15.15.3 EnablePartitionVtl(VTL0) -> INVALID_PARAMETER", rax, 5);
  k.hypercall(0, 0x1000d, -1, 3);
  k.expectEq("§15.15.3 EnablePartitionVtl above MaximumVtl -> INVALID_PARAMETER", rax, 5);
  // EnableVpVtl before the partition enabled VTL1.
  a.mov(rsi, k.enableVpInput(0xfffffffe, k.vtl1Entry, 0x3e0000));
  a.mov(rdi, PAGES.input).mov(ecx, 30).rep().movsq();
  k.hypercall(0, 0x0f, PAGES.input, 0);
  k.expectEq("§15.15.4 EnableVpVtl before EnablePartitionVtl -> INVALID_VTL_STATE", rax, 0x51);
  k.enableVtl1();
  k.hypercall(0, 0x1000d, -1, 1);
  k.expectEq("§15.15.3 EnablePartitionVtl twice -> INVALID_VTL_STATE (OpenVMM)", rax, 0x51);
  k.hypercall(0, 0x0f, PAGES.input, 0);
  k.expectEq("§15.15.4 EnableVpVtl twice -> VTL_ALREADY_ENABLED (OpenVMM)", rax, 0x86);
  a.mov(rax, 0x0000000100000007n).mov(qword(PAGES.input, 8), rax);
  k.hypercall(0, 0x0f, PAGES.input, 0);
  k.expectEq("§15.15.4 EnableVpVtl for a VP that does not exist -> INVALID_VP_INDEX", rax, 0x0e);
  getReg(0, 0x000d0003, 0x11); // UseTargetVtl, VTL1, from VTL0
  k.expectEq("§7.10.1 GetVpRegisters of a higher VTL -> ACCESS_DENIED", rax, 6);
  getReg(0, 0x000d0003);
  a.mov(rax, qword(PAGES.output));
  k.expectEq("§15.3.3 VsmVpStatus: active VTL0, EnabledVtlSet {0,1}", rax, 0x30000);
  // --- VTL call / return (TLFS §15.6-15.7, §15.11) ---------------------------------------------------
  k.expectFault(0, "§15.7 VTL return from VTL0 raises #UD", 6, () => {
    k.vtlReturn(false, 0);
  });
  a.mov(rbx, 0x1234).mov(r8, rsp);
  k.vtlCall(); // first entry: VTL1 initialises and serves request 1
  k.expectEq("§15.11 shared GPR written by VTL1 is seen by VTL0", rbx, 0x5678);
  k.expectEq("§15.11 RSP is private: VTL0's RSP unchanged", rsp, 0x3f0000 - 0);
  k.expectEq("§15.7.1 normal return restores RAX from VTL1's VP assist page", rax, 0xaaaa);
  k.expectEq("§15.7.1 normal return restores RCX from VTL1's VP assist page", rcx, 0xcccc);
  a.mov(rbx, 2);
  k.vtlCall(); // request 2: VTL1 answers with a fast return
  k.expectEq("§15.7.1 fast return leaves RAX (the code page put the control word there)", rax, 1);
  k.expectEq("§15.7.1 fast return leaves RCX (the VtlReturn call code)", rcx, 0x12);
  k.expectEq("VTL1 served request 2", rbx, 0x22);
  a.jmp(k.finish);

  // --- VTL1 ---------------------------------------------------------------------------------------
  a.bind(k.vtl1Entry);
  k.hvInit(1);
  k.wrmsr(0x40000073, PAGES.assist1 | 1);
  k.expectEq("§15.11 shared GPR written by VTL0 is seen by VTL1", rbx, 0x1234);
  getReg(1, 0x000d0003);
  a.mov(rax, qword(PAGES.output));
  k.expectEq("§15.3.3 VsmVpStatus in VTL1: active VTL1", rax, 0x30001);
  getReg(1, GPR_BASE + 0x10, 0x10); // VTL0's RIP, from VTL1
  k.expectEq("§7.10.1 a higher VTL reads a lower VTL's registers", rax, 0x100000000n);
  k.expectFault(1, "§15.6 VTL call with no higher VTL enabled raises #UD", 6, () => k.vtlCall(1));
  // Serve request 1: answer in RBX, values for RAX/RCX in the assist page.
  a.mov(rbx, 0x5678);
  a.mov(qword(PAGES.assist1 + 0x10), 0xaaaa).mov(qword(PAGES.assist1 + 0x18), 0xcccc);
  k.vtlReturn(false);
  // Request 2.
  a.mov(edx, dword(PAGES.assist1 + 0x08));
  k.expectEq("§15.8.1 entry reason after a VTL call is VtlCall (1)", edx, 1);
  a.mov(rbx, 0x22);
  k.vtlReturn(true);
  k.say("FAIL VTL1 entered a third time\n");
  a.jmp(k.finish);
  void [r8];
  return k.build();
}
