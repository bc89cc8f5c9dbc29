/**
 * Scenario: bad hypercall inputs (TLFS §3.5, §3.7, §3.8, §3.12, and the error lists of every
 * implemented call; spec/vsm.md §1-§2, README conflicts table). Each case checks the whole result
 * value (status and reps completed) and, where the call has output, that the output buffer is
 * untouched; calls that would change state are checked to have changed nothing. Hypercalls from
 * CPL 3 and from real mode raise #UD (the real-mode case runs on VP1, started with INIT/SIPI,
 * which then also exercises the 32-bit register ABI from protected mode).
 */

import { Kit, PAGES } from "../kit.ts";
import {
  ax,
  eax,
  ebx,
  ecx,
  edi,
  edx,
  esi,
  esp,
  mem,
  qword,
  rax,
  rcx,
  rdi,
  rdx,
  rsi,
  rsp,
  word,
} from "../asm.ts";
import { dword } from "../asm.ts";
import { cr0, ds, es, sp, ss } from "../asm.ts";
import type { BuiltinGuest } from "../demo.ts";
import { gdt } from "../x86_structs.ts";
import { r8 } from "../asm.ts";
import { fill, getReg, REG, repResult, setGate, ST, store64, Vtl1Server } from "./vsm_util.ts";

const VAR = PAGES.scratch + 0xf0000;
const REQ = VAR, UD_COUNT = VAR + 0x08, UD_CS = VAR + 0x10, UD_RAX = VAR + 0x18;
const SAVED_RSP = VAR + 0x20, UD_RESUME = VAR + 0x28, SAVED_GATE = VAR + 0x30;
const TSS = VAR + 0x800;
const PAT = 0x5a5a5a5a5a5a5a5an;
/** Low memory used by VP1 (real mode / 32-bit protected mode). */
const AP_CODE = 0x8000, AP_STARTED = 0x7000, AP_UD = 0x7002, AP_UD_IP = 0x7004;
const AP_UD_CS = 0x7006, AP_R1 = 0x7008, AP_R2 = 0x7010, AP_DONE = 0x7018;
const AP_IN = 0x7100, AP_OUT = 0x7200, AP_GDT = 0x7e00, AP_GDTR = 0x7f00;

export function buildVsmNegative(): BuiltinGuest {
  const k = new Kit("vsm-negative");
  const a = k.a;
  const srv = new Vtl1Server(k, REQ);
  const IN: number = PAGES.input, OUT: number = PAGES.output;
  const inQ = (...q: (number | bigint)[]) => q.forEach((v, i) => store64(k, IN + 8 * i, v));
  const hc = (ctl: bigint | number, rdxV: number | bigint, r8V: number | bigint) =>
    k.hypercall(0, ctl, rdxV, r8V);
  const expectHc = (
    name: string,
    ctl: bigint | number,
    rdxV: number | bigint,
    r8V: number | bigint,
    result: number | bigint,
  ) => {
    hc(ctl, rdxV, r8V);
    k.expectEq(name, rax, result);
  };
  const untouched = (name: string, addr = OUT) => k.expectEq(name, qword(addr), PAT);
  const prefill = (addr = OUT) => fill(k, addr, 8, PAT);
  const partitionStatus = (name: string, value: number) => {
    getReg(k, 0, REG.VSM_PARTITION_STATUS);
    k.expectEq(name, qword(OUT), value);
  };
  const GET1 = 0x0000_0001_0000_0050n;
  /** GetVpRegisters(VpIndex) input for the caller's VP and VTL. */
  const getInput = () => inQ(-1n, 0xfffffffen, REG.VP_INDEX);

  // --- Before VSM: hypercall page, VTL call with no higher VTL ---------------------------------
  k.hvInit(0);
  k.expectFault(0, "§15.6 VTL call with no higher VTL enabled raises #UD", 6, () => k.vtlCall());
  k.expectFault(0, "§3.13 writing the hypercall page overlay raises #GP", 13, () => {
    a.mov(qword(PAGES.hc0), 0);
  });
  k.expectEq("§3.13 ... and leaves it intact (VMCALL at offset 0)", dword(PAGES.hc0), 0xc3c1010f);
  // --- Unknown call codes (TLFS §3.7, §3.12) -------------------------------------------------------
  for (const code of [0x0000, 0x000e, 0x0010, 0x00ff, 0x7777, 0x8001, 0xffff]) {
    prefill();
    expectHc(
      `§3.12 call code 0x${code.toString(16)} -> INVALID_HYPERCALL_CODE`,
      code,
      IN,
      OUT,
      ST.INVALID_HYPERCALL_CODE,
    );
  }
  untouched("§3.12 ... output untouched");
  expectHc(
    "§3.12 unknown code with fast bit and a rep count -> INVALID_HYPERCALL_CODE",
    0x0000_0003_0001_7777n,
    0,
    0,
    ST.INVALID_HYPERCALL_CODE,
  );
  // --- Reserved control-word fields (TLFS §3.7) --------------------------------------------------------
  getInput();
  for (const bit of [27, 28, 29, 30, 44, 45, 46, 47, 60, 61, 62, 63]) {
    prefill();
    expectHc(
      `§3.7 control bit ${bit} (RsvdZ) -> INVALID_HYPERCALL_INPUT`,
      GET1 | (1n << BigInt(bit)),
      IN,
      OUT,
      ST.INVALID_HYPERCALL_INPUT,
    );
  }
  untouched("§3.7 ... output untouched, 0 reps completed");
  // Rep count / rep start.
  expectHc("§3.7 rep count 0 on a rep call -> INVALID_HYPERCALL_INPUT", 0x50, IN, OUT, 3);
  expectHc(
    "§3.7 rep start = rep count -> INVALID_HYPERCALL_INPUT",
    0x0001_0001_0000_0050n,
    IN,
    OUT,
    3,
  );
  expectHc(
    "§3.7 rep start > rep count -> INVALID_HYPERCALL_INPUT",
    0x0005_0002_0000_0050n,
    IN,
    OUT,
    3,
  );
  expectHc(
    "§3.7 rep count on a simple call (EnablePartitionVtl) -> INVALID_HYPERCALL_INPUT",
    0x0000_0001_0001_000dn,
    -1,
    1,
    3,
  );
  expectHc(
    "§3.7 rep start on a simple call -> INVALID_HYPERCALL_INPUT",
    0x0001_0000_0001_000dn,
    -1,
    1,
    3,
  );
  // Variable header on calls without one.
  expectHc(
    "§3.7 variable header on GetVpRegisters -> INVALID_HYPERCALL_INPUT",
    GET1 | (1n << 17n),
    IN,
    OUT,
    3,
  );
  expectHc(
    "§3.7 variable header on EnablePartitionVtl -> INVALID_HYPERCALL_INPUT",
    0x1000d | (2 << 17),
    -1,
    1,
    3,
  );
  expectHc(
    "§3.7 variable header on FlushVirtualAddressSpace -> INVALID_HYPERCALL_INPUT",
    0x0002 | (1 << 17),
    IN,
    0,
    3,
  );
  expectHc(
    "§3.7 variable header on SendSyntheticClusterIpi -> INVALID_HYPERCALL_INPUT",
    0x000b | (1 << 17),
    IN,
    0,
    3,
  );
  partitionStatus("§3.7 none of the rejected EnablePartitionVtl calls enabled VTL1", 0x20001);
  // Alignment and page crossing (TLFS §3.7; README: crossing -> INVALID_HYPERCALL_INPUT).
  prefill();
  expectHc("§3.7 input GPA not 8-byte aligned -> INVALID_ALIGNMENT", GET1, IN + 4, OUT, 4);
  expectHc("§3.7 output GPA not 8-byte aligned -> INVALID_ALIGNMENT", GET1, IN, OUT + 4, 4);
  untouched("§3.7 ... output untouched");
  getInput();
  a.mov(rsi, IN).mov(rdi, IN + 0xff8).mov(ecx, 3).rep().movsq();
  expectHc("§3.7 input block crossing a page -> INVALID_HYPERCALL_INPUT", GET1, IN + 0xff8, OUT, 3);
  prefill(OUT + 0xff8);
  fill(k, OUT + 0x1000, 2, PAT);
  expectHc(
    "§3.7 output block crossing a page -> INVALID_HYPERCALL_INPUT",
    GET1,
    IN,
    OUT + 0xff8,
    3,
  );
  untouched("§3.7 ... output untouched (first page)", OUT + 0xff8);
  untouched("§3.7 ... output untouched (second page)", OUT + 0x1000);
  expectHc(
    "§3.7 input block larger than a page (SetVpRegisters × 200) -> INVALID_HYPERCALL_INPUT",
    0x0000_00c8_0000_0051n,
    IN,
    0,
    3,
  );
  inQ(-1n, 0n);
  expectHc(
    "§3.7 misaligned output GPA is ignored by a call without output",
    0x000d,
    IN,
    3,
    ST.INVALID_PARAMETER, // EnablePartitionVtl(TargetVtl 0) from the input page
  );
  // Fast calls whose input and output do not fit in the 112-byte register block (RDX, R8,
  // XMM0-XMM5; TLFS §3.7 "XMM Fast Hypercall Input", CPUID 0x40000003 EDX bit 4 advertised).
  a.mov(eax, 0x40000003).cpuid().and(edx, 0x10);
  k.expectEq("§2.4 XMM fast hypercall input advertised (CPUID 0x40000003 EDX bit 4)", edx, 0x10);
  expectHc(
    "§3.7 fast GetVpRegisters, 5 names: 36 input + 80 output bytes -> INVALID_HYPERCALL_INPUT",
    0x0000_0005_0001_0050n,
    -1,
    0xfffffffe,
    3,
  );
  expectHc(
    "§3.7 fast ModifyVtlProtectionMask, 13 GPFNs (120 bytes) -> INVALID_HYPERCALL_INPUT",
    0x0000_000d_0001_000cn,
    -1,
    0,
    3,
  );
  expectHc(
    "§3.7 fast SetVpRegisters, 4 elements (144 bytes) -> INVALID_HYPERCALL_INPUT",
    0x0000_0004_0001_0051n,
    -1,
    0xfffffffe,
    3,
  );
  expectHc(
    "§3.7 fast EnableVpVtl (240 bytes) -> INVALID_HYPERCALL_INPUT",
    0x1000f,
    -1,
    0xfffffffe,
    3,
  );
  expectHc("§10.5.1 fast NotifyLongSpinWait (8 bytes) succeeds", 0x10008, 1, 0, 0);
  expectHc(
    "§10.5.1 NotifyLongSpinWait with a rep count -> INVALID_HYPERCALL_INPUT",
    0x0000_0001_0001_0008n,
    1,
    0,
    3,
  );

  // --- EnablePartitionVtl (TLFS §15.15.3) -----------------------------------------------------------------
  expectHc("§15.15.3 partition 0 -> INVALID_PARTITION_ID", 0x1000d, 0, 1, ST.INVALID_PARTITION_ID);
  expectHc("§15.15.3 partition 1 -> INVALID_PARTITION_ID", 0x1000d, 1, 1, ST.INVALID_PARTITION_ID);
  expectHc("§15.15.3 TargetVtl 0 -> INVALID_PARAMETER", 0x1000d, -1, 0, ST.INVALID_PARAMETER);
  expectHc("§15.15.3 TargetVtl 3 (> MaximumVtl) -> INVALID_PARAMETER", 0x1000d, -1, 3, 5);
  expectHc("§15.15.3 TargetVtl 0xFF -> INVALID_PARAMETER", 0x1000d, -1, 0xff, 5);
  expectHc(
    "§15.15.3 flag EnableSupervisorShadowStack (unsupported) -> INVALID_PARAMETER",
    0x1000d,
    -1,
    0x201,
    5,
  );
  expectHc("§15.15.3 reserved byte 10 -> INVALID_PARAMETER", 0x1000d, -1, 0x10001, 5);
  expectHc(
    "§15.15.3 reserved byte 15 -> INVALID_PARAMETER",
    0x1000d,
    -1,
    0x0100_0000_0000_0001n,
    5,
  );
  partitionStatus("§15.15.3 ... EnabledVtlSet still {0}", 0x20001);
  // --- EnableVpVtl before and after EnablePartitionVtl (TLFS §15.15.4) --------------------------------
  const enableInput = k.enableVpInput(0xfffffffe, k.vtl1Entry, 0x3e0000);
  const loadEnable = (vp: number, vtl: number, extra = 0) => {
    a.mov(rsi, enableInput).mov(rdi, IN).mov(ecx, 30).rep().movsq();
    store64(k, IN + 8, BigInt(vp >>> 0) | (BigInt(vtl) << 32n) | (BigInt(extra) << 40n));
  };
  loadEnable(7, 1);
  expectHc("§15.15.4 VP index 7 -> INVALID_VP_INDEX", 0x0f, IN, 0, ST.INVALID_VP_INDEX);
  loadEnable(0xfffffffe, 1);
  expectHc("§15.15.4 VTL1 not enabled for the partition -> INVALID_VTL_STATE", 0x0f, IN, 0, 0x51);
  k.enableVtl1();
  loadEnable(0xfffffffe, 0);
  expectHc("§15.15.4 TargetVtl 0 -> INVALID_PARAMETER", 0x0f, IN, 0, 5);
  loadEnable(0xfffffffe, 2);
  expectHc("§15.15.4 TargetVtl 2 (not enabled) -> INVALID_VTL_STATE", 0x0f, IN, 0, 0x51);
  loadEnable(0xfffffffe, 1, 1);
  expectHc("§15.15.4 reserved byte 13 -> INVALID_PARAMETER", 0x0f, IN, 0, 5);
  loadEnable(1, 1);
  store64(k, IN, 0);
  expectHc("§15.15.4 partition 0 -> INVALID_PARTITION_ID", 0x0f, IN, 0, ST.INVALID_PARTITION_ID);
  loadEnable(1, 1);
  expectHc(
    "§15.15.4 VTL0 enabling VTL1 on another VP after the first -> ACCESS_DENIED",
    0x0f,
    IN,
    0,
    6,
  );
  loadEnable(0xfffffffe, 1);
  expectHc(
    "§15.15.4 EnableVpVtl of an enabled VTL -> VTL_ALREADY_ENABLED (OpenVMM)",
    0x0f,
    IN,
    0,
    0x86,
  );
  partitionStatus("§15.3.2 VsmPartitionStatus now {0,1}", 0x20003);
  getReg(k, 0, REG.VSM_VP_STATUS, { vp: 1 });
  k.expectEq("§15.15.4 VP1 got no VTL1 from the rejected calls", qword(OUT), 0x10000);

  // --- Get/SetVpRegisters headers (TLFS §7.10.1-2) ----------------------------------------------------
  const regInput = (part: bigint, vp: number, vtlSel: number, rsvd = 0) =>
    inQ(part, BigInt(vp >>> 0) | (BigInt(vtlSel) << 32n) | (BigInt(rsvd) << 40n), REG.VP_INDEX);
  const getCase = (
    name: string,
    part: bigint,
    vp: number,
    vtlSel: number,
    st: number,
    rsvd = 0,
  ) => {
    regInput(part, vp, vtlSel, rsvd);
    prefill();
    expectHc(name, GET1, IN, OUT, st);
    untouched(`${name}: output untouched`);
  };
  getCase(
    "§7.10.1 partition 0 -> INVALID_PARTITION_ID",
    0n,
    0xfffffffe,
    0,
    ST.INVALID_PARTITION_ID,
  );
  getCase("§7.10.1 VP index 2 -> INVALID_VP_INDEX", -1n, 2, 0, ST.INVALID_VP_INDEX);
  getCase("§7.10.1 HV_ANY_VP -> INVALID_VP_INDEX", -1n, 0xffffffff, 0, ST.INVALID_VP_INDEX);
  getCase("§1.6 HV_INPUT_VTL bit 5 -> INVALID_PARAMETER", -1n, 0xfffffffe, 0x20, 5);
  getCase("§1.6 HV_INPUT_VTL bit 7 -> INVALID_PARAMETER", -1n, 0xfffffffe, 0x80, 5);
  getCase("§7.10.1 TargetVtl 1 from VTL0 -> ACCESS_DENIED", -1n, 0xfffffffe, 0x11, 6);
  getCase("§7.10.1 TargetVtl 2 from VTL0 -> ACCESS_DENIED", -1n, 0xfffffffe, 0x12, 6);
  getCase("§7.10.1 reserved header byte 14 -> INVALID_PARAMETER", -1n, 0xfffffffe, 0, 5, 0x100);
  regInput(-1n, 1, 0x10);
  expectHc("§7.10.1 VP1's VTL0 (not started) is readable", GET1, IN, OUT, repResult(0, 1));
  k.expectEq("§7.10.1 ... HvRegisterVpIndex 1", qword(OUT), 1);
  // SetVpRegisters: a failed call changes nothing.
  const KGS = 0x00080002;
  inQ(-1n, 0xfffffffen, KGS, 0, 0x4444000, 0);
  expectHc(
    "§7.10.2 Set KernelGsBase of VTL0 from VTL0",
    0x0000_0001_0000_0051n,
    IN,
    0,
    repResult(0, 1),
  );
  inQ(0n, 0xfffffffen, KGS, 0, 0x5555000, 0);
  expectHc("§7.10.2 partition 0 -> INVALID_PARTITION_ID", 0x0000_0001_0000_0051n, IN, 0, 0xd);
  inQ(-1n, 0x0000_0040_ffff_fffen, KGS, 0, 0x5555000, 0);
  expectHc(
    "§1.6 Set with HV_INPUT_VTL bit 6 -> INVALID_PARAMETER",
    0x0000_0001_0000_0051n,
    IN,
    0,
    5,
  );
  inQ(-1n, 0x0000_0011_ffff_fffen, KGS, 0, 0x5555000, 0);
  expectHc("§7.10.2 Set TargetVtl 1 from VTL0 -> ACCESS_DENIED", 0x0000_0001_0000_0051n, IN, 0, 6);
  inQ(-1n, 0xfffffffen, BigInt(KGS) | (1n << 40n), 0, 0x5555000, 0);
  expectHc(
    "§7.10.2 nonzero element RsvdZ -> INVALID_PARAMETER, 0 reps",
    0x0000_0001_0000_0051n,
    IN,
    0,
    5,
  );
  a.mov(ecx, 0xc0000102).rdmsr().shl(rdx, 32).or(rax, rdx);
  k.expectEq("§7.10.2 ... KernelGsBase unchanged by the failed calls", rax, 0x4444000);

  // --- Other calls --------------------------------------------------------------------------------------
  // GetVpIndexFromApicId (TLFS §7.10.4): packed u32 elements.
  inQ(-1n, 0n, 0x0000_0007_0000_0000n);
  prefill();
  expectHc(
    "§7.10.4 GetVpIndexFromApicId: APIC ID 0 ok, 7 unknown -> INVALID_PARAMETER, 1 rep",
    0x0000_0002_0000_009an,
    IN,
    OUT,
    repResult(5, 1),
  );
  k.expectEq(
    "§7.10.4 ... element 0 = VP 0, element 1 untouched",
    qword(OUT),
    PAT & 0xffffffff00000000n,
  );
  inQ(0n, 0n, 0n);
  expectHc("§7.10.4 partition 0 -> INVALID_PARTITION_ID", 0x0000_0001_0000_009an, IN, OUT, 0xd);
  inQ(-1n, 0x100n, 0n);
  expectHc(
    "§7.10.4 reserved header byte 9 -> INVALID_PARAMETER",
    0x0000_0001_0000_009an,
    IN,
    OUT,
    5,
  );
  inQ(-1n, 0x20n, 0n);
  expectHc("§1.6 HV_INPUT_VTL bit 5 -> INVALID_PARAMETER", 0x0000_0001_0000_009an, IN, OUT, 5);
  inQ(-1n, 0x11n, 0n);
  expectHc("§7.10.4 TargetVtl 1 from VTL0 -> ACCESS_DENIED", 0x0000_0001_0000_009an, IN, OUT, 6);
  // SendSyntheticClusterIpi (TLFS §10.5.2-3).
  expectHc("§10.5.2 vector 0x0F -> INVALID_PARAMETER", 0x1000b, 0x0f, 1, 5);
  expectHc("§10.5.2 vector 0x100 -> INVALID_PARAMETER", 0x1000b, 0x100, 1, 5);
  expectHc("§1.6 HV_INPUT_VTL bit 5 -> INVALID_PARAMETER", 0x1000b, 0x20_0000_0040n, 1, 5);
  expectHc("§10.5.2 reserved byte 5 -> INVALID_PARAMETER", 0x1000b, 0x0100_0000_0040n, 1, 5);
  inQ(0x40n, 0n, 0x1n); // Ex: vector, format 0, ValidBanksMask 1, no bank qword
  expectHc(
    "§10.5.3 Ex: bank count != popcount(ValidBanksMask) -> INVALID_HYPERCALL_INPUT",
    0x0015,
    IN,
    0,
    3,
  );
  inQ(0x40n, 2n, 0n);
  expectHc("§10.5.3 Ex: HV_VP_SET format 2 -> INVALID_HYPERCALL_INPUT", 0x0015, IN, 0, 3);
  // Flush hypercalls (TLFS §9.4.2-5).
  inQ(0n, 0x10n, 1n);
  expectHc("§9.4.2 unknown flag 0x10 -> INVALID_PARAMETER", 0x0002, IN, 0, 5);
  inQ(0n, 0x1_0000_0001n, 1n);
  expectHc("§9.4.2 flags bits 63:32 -> INVALID_PARAMETER", 0x0002, IN, 0, 5);
  inQ(0n, 0x4n, 1n, 0x1000n);
  expectHc(
    "§9.4.3 NON_GLOBAL_MAPPINGS_ONLY on a list flush -> INVALID_PARAMETER, 0 reps",
    0x0000_0001_0000_0003n,
    IN,
    0,
    5,
  );
  inQ(0n, 0x1n, 0n);
  expectHc("§9.4.2 a valid flush of all processors", 0x0002, IN, 0, 0);
  // ModifyVtlProtectionMask (TLFS §15.15.2): header checks only (GPFN 0x700).
  inQ(0n, 0n, 0x700n);
  expectHc(
    "§15.15.2 ModifyVtlProtectionMask partition 0 -> INVALID_PARTITION_ID, 0 reps",
    0x0000_0001_0000_000cn,
    IN,
    0,
    0xd,
  );
  inQ(-1n, 0n, 0x700n);
  expectHc(
    "§15.15.2 from VTL0 for its own VTL (owner VTL0) -> INVALID_PARAMETER",
    0x0000_0001_0000_000cn,
    IN,
    0,
    5,
  );
  inQ(-1n, 0x11n << 32n, 0x700n);
  expectHc(
    "§15.15.2 from VTL0 with TargetVtl 1 -> ACCESS_DENIED",
    0x0000_0001_0000_000cn,
    IN,
    0,
    6,
  );
  expectHc(
    "§3.7 ModifyVtlProtectionMask with rep count 0 -> INVALID_HYPERCALL_INPUT",
    0x000c,
    IN,
    0,
    3,
  );
  a.mov(rax, qword(0x700000));
  k.expectEq("§15.9 ... GPA 0x700000 still readable by VTL0 (no intercept, no fault)", rax, 0);
  // StartVirtualProcessor (TLFS §7.10.3).
  loadEnable(9, 0);
  store64(k, IN, -1);
  expectHc("§7.10.3 StartVirtualProcessor VP 9 -> INVALID_VP_INDEX", 0x0099, IN, 0, 0xe);
  loadEnable(1, 0);
  store64(k, IN, 0);
  expectHc("§7.10.3 partition 0 -> INVALID_PARTITION_ID", 0x0099, IN, 0, 0xd);
  loadEnable(1, 3);
  expectHc("§7.10.3 TargetVtl 3 -> INVALID_PARAMETER", 0x0099, IN, 0, 5);
  loadEnable(1, 1);
  expectHc("§7.10.3 TargetVtl 1 from VTL0 -> ACCESS_DENIED", 0x0099, IN, 0, 6);
  loadEnable(0, 0);
  expectHc("§7.10.3 starting the running VP0 -> INVALID_VP_STATE", 0x0099, IN, 0, 0x15);
  // TranslateVirtualAddress (TLFS §9.4.6).
  inQ(-1n, 0xfffffffen, 1n, 0x100n);
  prefill();
  expectHc("§9.4.6 Translate: a valid call", 0x0052, IN, OUT, 0);
  inQ(-1n, 9n, 1n, 0x100n);
  prefill();
  expectHc("§9.4.6 Translate VP 9 -> INVALID_VP_INDEX", 0x0052, IN, OUT, 0xe);
  untouched("§9.4.6 ... output untouched");

  // --- VTL call / return control words (TLFS §15.6.1, §15.7.1) --------------------------------------
  k.expectFault(0, "§15.6.1 VTL call with a nonzero control word raises #UD", 6, () => {
    a.mov(ecx, 1).mov(rax, PAGES.hc0 + 0x0f).call(rax);
  });
  k.expectFault(0, "§15.6.1 VTL call with the fast bit in the call code raises #UD", 6, () => {
    a.xor(eax, eax).mov(ecx, 0x10011).vmcall();
  });
  k.expectFault(0, "§15.6.1 VTL call with a rep count raises #UD", 6, () => {
    a.xor(eax, eax).mov(rcx, 0x0000_0001_0000_0011n).vmcall();
  });
  k.expectFault(0, "§15.7.1 VTL return from VTL0 raises #UD", 6, () => {
    a.xor(eax, eax).mov(ecx, 0x12).vmcall();
  });
  srv.call(1); // VTL1: bad VTL return control words
  k.expectEq(
    "§15.7.1 VTL1 came back through a good return after the bad ones",
    qword(VAR + 0x40),
    2,
  );

  // --- CPL 3 (TLFS §3.5) ---------------------------------------------------------------------------------
  const myGdt = a.label();
  a.lgdt(mem(myGdt));
  a.mov(ax, 0x28).ltr(ax);
  fill(k, TSS, 13, 0);
  a.mov(dword(TSS + 4), 0x3b8000);
  a.mov(rax, qword(k.idts[0]!.table, 6 * 16)).mov(qword(SAVED_GATE), rax);
  a.mov(rax, qword(k.idts[0]!.table, 6 * 16 + 8)).mov(qword(SAVED_GATE + 8), rax);
  const udHandler = a.label();
  setGate(k, 0, 6, udHandler);
  const toUser = (body: () => void) => {
    const user = a.label(), back = a.label();
    a.mov(qword(SAVED_RSP), rsp);
    a.mov(rax, back).mov(qword(UD_RESUME), rax);
    a.push(0x23).push(0x3b0000).push(0x2).push(0x1b);
    a.mov(rax, user).push(rax).iretq();
    a.bind(user);
    body();
    a.jmp(a.here()); // not reached
    a.bind(back);
    a.mov(ax, 0x10).mov(ds, ax).mov(es, ax).mov(ss, ax);
  };
  toUser(() => {
    a.mov(rcx, GET1).mov(rdx, IN).mov(r8, OUT).mov(rax, 0xabcd).vmcall();
  });
  k.expectEq("§3.5 VMCALL at CPL 3 raises #UD", qword(UD_COUNT), 1);
  k.expectEq("§3.5 ... taken from CPL 3 (CS RPL 3)", qword(UD_CS), 0x1b);
  k.expectEq("§3.5 ... no result written to RAX", qword(UD_RAX), 0xabcd);
  toUser(() => k.vtlCall());
  k.expectEq("§15.6.1 a VTL call at CPL 3 raises #UD", qword(UD_COUNT), 2);
  a.mov(rax, qword(SAVED_GATE)).mov(qword(k.idts[0]!.table, 6 * 16), rax);
  a.mov(rax, qword(SAVED_GATE + 8)).mov(qword(k.idts[0]!.table, 6 * 16 + 8), rax);
  getReg(k, 0, REG.VSM_VP_STATUS);
  k.expectEq("§3.5 still in VTL0 after the CPL 3 attempts", qword(OUT), 0x30000);

  // --- Real mode and 32-bit protected mode on VP1 (TLFS §3.5, §3.7 x86 register mapping) --------------
  const apStart = a.label(), apEnd = a.label(), apVmcall = a.label();
  a.mov(rsi, apStart).mov(rdi, AP_CODE);
  a.mov(rcx, () => a.addressOf(apEnd) - a.addressOf(apStart)).rep().movsb();
  fill(k, 0x7000, 4, 0);
  store64(k, AP_GDT, 0);
  store64(k, AP_GDT + 8, 0x00cf9a000000ffffn);
  store64(k, AP_GDT + 16, 0x00cf92000000ffffn);
  store64(k, AP_GDTR, 0x17 | (AP_GDT << 16));
  k.wrmsr(0x1b, 0xfee00c00); // x2APIC
  k.wrmsr(0x830, 0x0000_0001_0000_4500n); // INIT to APIC ID 1
  k.wrmsr(0x830, 0x0000_0001_0000_4600n | BigInt(AP_CODE >> 12)); // SIPI, vector 0x08
  const wait = a.label(), waited = a.label();
  a.mov(rcx, 200000).bind(wait).cmp(dword(AP_DONE), 1).je(waited).pause().dec(rcx).jnz(wait);
  a.bind(waited);
  k.expectEq("§3.5 VP1 started in real mode", word(AP_STARTED), 1);
  k.expectEq("§3.5 VMCALL in real mode raises #UD", word(AP_UD), 0x600d);
  k.check("§3.5 ... with CS:IP of the VMCALL (CS 0x0800)", () => {
    a.cmp(dword(AP_UD_IP), () => 0x0800_0000 + a.addressOf(apVmcall) - a.addressOf(apStart));
  }, "ne");
  k.expectEq(
    "§3.7 32-bit caller, fast EnablePartitionVtl(3): EDX:EAX = INVALID_PARAMETER",
    qword(AP_R1),
    5,
  );
  k.expectEq(
    "§3.8 32-bit caller, GetVpRegisters: EDX:EAX = SUCCESS, 1 rep",
    qword(AP_R2),
    repResult(0, 1),
  );
  k.expectEq("§3.7 ... output through EDI:ESI: VP index 1", qword(AP_OUT), 1);
  k.expectEq("§3.7 VP1 finished", dword(AP_DONE), 1);
  a.jmp(k.finish);

  // --- #UD handler for the CPL 3 cases (CPL 0, on TSS.RSP0) ----------------------------------------
  a.bind(udHandler);
  a.mov(qword(UD_RAX), rax);
  a.mov(rax, qword(rsp, 8)).mov(qword(UD_CS), rax);
  a.i("inc", qword(UD_COUNT));
  a.mov(rsp, qword(SAVED_RSP));
  a.jmp(qword(UD_RESUME));
  // GDT with a TSS (kit layout + TSS at 0x28).
  const g = gdt(a, [
    { type: "null" },
    { type: "code64" },
    { type: "data" },
    { type: "code64", dpl: 3 },
    { type: "data", dpl: 3 },
    { type: "tss64", base: TSS },
  ]);
  a.bind(myGdt).dw(g.limit).dq(() => BigInt(a.addressOf(g.table)));

  // --- VP1 code: real mode, then 32-bit protected mode (copied to 0x8000) -------------------------
  a.bits(16);
  a.bind(apStart);
  const off = (l: ReturnType<typeof a.label>) => () => a.addressOf(l) - a.addressOf(apStart);
  const apUd = a.label(), pm32 = a.label();
  a.cli().xor(ax, ax).mov(ds, ax).mov(ss, ax).mov(sp, 0x7c00);
  a.mov(word(0x18), off(apUd)).mov(word(0x1a), AP_CODE >> 4);
  a.mov(word(AP_STARTED), 1);
  a.bind(apVmcall);
  a.vmcall();
  a.mov(word(AP_UD), 0xbad);
  const hang = a.here();
  a.hlt().jmp(hang);
  a.bind(apUd);
  a.pop(ax).mov(word(AP_UD_IP), ax).pop(ax).mov(word(AP_UD_CS), ax).pop(ax);
  a.mov(word(AP_UD), 0x600d);
  a.lgdt(mem(AP_GDTR));
  a.mov(eax, cr0).or(eax, 1).mov(cr0, eax);
  a.jmpFar(0x08, () => AP_CODE + a.addressOf(pm32) - a.addressOf(apStart), 16);
  a.bits(32);
  a.bind(pm32);
  a.mov(ax, 0x10).mov(ds, ax).mov(es, ax).mov(ss, ax).mov(esp, 0x7c00);
  // Fast EnablePartitionVtl(TargetVtl 3): EDX:EAX control, EBX:ECX and EDI:ESI the 16 input bytes.
  a.mov(eax, 0x1000d).xor(edx, edx).mov(ebx, -1).mov(ecx, -1).mov(esi, 3).xor(edi, edi).vmcall();
  a.mov(dword(AP_R1), eax).mov(dword(AP_R1 + 4), edx);
  // GetVpRegisters(VpIndex), memory form: input GPA EBX:ECX, output GPA EDI:ESI.
  a.mov(dword(AP_IN), -1).mov(dword(AP_IN + 4), -1).mov(dword(AP_IN + 8), 0xfffffffe);
  a.mov(dword(AP_IN + 12), 0).mov(dword(AP_IN + 16), REG.VP_INDEX);
  a.mov(eax, 0x50).mov(edx, 1).xor(ebx, ebx).mov(ecx, AP_IN).xor(edi, edi).mov(esi, AP_OUT);
  a.vmcall();
  a.mov(dword(AP_R2), eax).mov(dword(AP_R2 + 4), edx);
  a.mov(dword(AP_DONE), 1);
  const hang2 = a.here();
  a.cli().hlt().jmp(hang2);
  a.bind(apEnd);
  a.bits(64);

  // --- VTL1 ----------------------------------------------------------------------------------------------
  srv.init(() => {
    k.hvInit(1);
    k.wrmsr(0x40000073, PAGES.assist1 | 1);
  });
  srv.on(1, () => {
    a.mov(qword(VAR + 0x40), 1);
    k.expectFault(1, "§15.7.1 VTL return with control bit 1 (RsvdZ) raises #UD", 6, () => {
      a.mov(ecx, 2).mov(rax, PAGES.hc1 + 0x26).call(rax);
    });
    k.expectFault(1, "§15.7.1 VTL return with control bit 63 raises #UD", 6, () => {
      a.mov(rcx, 1n << 63n).mov(rax, PAGES.hc1 + 0x26).call(rax);
    });
    k.expectFault(1, "§15.7.1 VTL return with the fast bit in the call code raises #UD", 6, () => {
      a.xor(eax, eax).mov(ecx, 0x10012).vmcall();
    });
    k.expectFault(1, "§15.6 VTL call from VTL1 (no VTL2) raises #UD", 6, () => k.vtlCall(1));
    // EnableVpVtl for VP1 from VTL1: context and target checks (VP1 must keep VTL0 only).
    loadEnable(1, 1);
    store64(k, IN + 16 + 192, 0x80050032); // CR0.PE clear: real mode
    k.hypercall(1, 0x0f, IN, 0);
    k.expectEq("§15.11.3 EnableVpVtl with a real-mode VTL1 context -> INVALID_PARAMETER", rax, 5);
    loadEnable(1, 2);
    k.hypercall(1, 0x0f, IN, 0);
    k.expectEq(
      "§15.15.4 EnableVpVtl(VTL2) before EnablePartitionVtl(2) -> INVALID_VTL_STATE",
      rax,
      0x51,
    );
    k.hypercall(1, 0x1000b, 0x40, 0b10);
    k.expectEq(
      "§10.5.2 IPI to VTL1 of VP1 (VTL1 not enabled there) -> INVALID_VTL_STATE",
      rax,
      0x51,
    );
    a.mov(qword(VAR + 0x40), 2);
  });
  srv.emit();
  return {
    ...k.build(),
    config: { vps: 2 },
  };
}
