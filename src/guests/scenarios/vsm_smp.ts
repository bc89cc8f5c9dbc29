/**
 * Scenario: VSM on four VPs (TLFS §7.10.3-4, §9.4.2-5, §10.5.2-3, §15.9, §15.12, §15.15.4;
 * spec/vsm.md §2.2, §2.7-2.10, §4.6). VP0 starts VPs 1-3 with HvCallStartVirtualProcessor, enables
 * VTL1 on itself from VTL0 and on the others from VTL1, and drives everything; the APs never
 * print: they run a command loop in VTL0 and report through memory, and their VTL1 runs the same
 * per-VP request server as VP0's. Checks: start errors, per-VP VTL state separation, synthetic
 * cluster IPIs (plain and Ex, VTL-aware), cross-VP IPIs into VTL1 preempting VTL0, APIC IDs,
 * GetVpIndexFromApicId, the TLB flush hypercalls and TLB locks held by VTL1 on another VP.
 */

import { Kit, PAGES } from "../kit.ts";
import {
  dword,
  eax,
  ebx,
  type Label,
  qword,
  r12,
  r13,
  r14,
  r15,
  r8,
  rax,
  rbx,
  rcx,
  rdi,
  rdx,
  rsi,
  rsp,
} from "../asm.ts";
import type { BuiltinGuest } from "../demo.ts";
import { popAll, pushAll, REG, repResult, setGate, ST, store64 } from "./vsm_util.ts";

const VAR = PAGES.scratch + 0xf0000;
/** Per-VP slots (qword each, indexed by VP). */
const REQ = VAR, CMD = VAR + 0x40, CNT50 = VAR + 0x80, CNT51 = VAR + 0xc0, CNT52 = VAR + 0x100;
const CNT60 = VAR + 0x140, INTR = VAR + 0x180;
const LOCKED = VAR + 0x200, DONE = VAR + 0x208, UNLOCKED = VAR + 0x210, SNAP = VAR + 0x220;
/** Per-VP results: RES(vp) + slot. */
const RES = (vp: number) => VAR + 0x1000 + vp * 0x100;
const RESBASE = VAR + 0x1000;
const S_APIC0 = 0x00, S_ALIVE = 0x08, S_RBX_AFTER = 0x10, S_PING = 0x18, S_EN_SELF = 0x20;
const S_VPIDX1 = 0x30, S_RBX1 = 0x38, S_STATUS1 = 0x40, S_APIC1 = 0x48, S_REASON1 = 0x50;
const S_LSTAR1 = 0x58, S_LAST_INTR_REASON = 0x60, S_EN = 0x80; // S_EN: 5 statuses (VP0)
const S_IPI1 = 0xb0, S_DENY = 0xc0;
/** Per-VP hypercall pages and VTL1 VP assist pages (RAM below the scratch area). */
const IN = (vp: number) => 0x630000 + vp * 0x2000;
const ASSIST1 = (vp: number) => 0x620000 + vp * 0x1000;
const STACK0_AP = (vp: number) => 0x3c0000 - (vp - 1) * 0x4000;
const STACK1_AP = (vp: number) => 0x3a0000 - (vp - 1) * 0x4000;

/** VTL1 requests. */
const R_ENABLE_APS = 1, R_HELLO = 2, R_CHECK = 3, R_LOCK_A = 4, R_LOCK_B = 5, R_IPI_VTL1 = 6;
const R_DENY = 7, R_UNDENY = 8;
/** VTL0 AP commands. */
const C_VTLCALL = 1, C_PING = 2, C_ENABLE_SELF = 3;

export function buildVsmSmp(): BuiltinGuest {
  const k = new Kit("vsm-smp");
  const a = k.a;
  const apEntry = a.label(), h50 = a.label(), h51 = a.label(), h52 = a.label(), h60 = a.label();
  const waitZero = (addr: number, n = 400000) => {
    const l = a.label(), out = a.label();
    a.mov(r13, n).bind(l).cmp(qword(addr), 0).je(out).pause().dec(r13).jnz(l).bind(out);
  };
  const waitValue = (addr: number, v: number, n = 400000) => {
    const l = a.label(), out = a.label();
    a.mov(r13, n).bind(l).cmp(qword(addr), v).je(out).pause().dec(r13).jnz(l).bind(out);
  };
  const spin = (n: number) => {
    const l = a.label();
    a.mov(r12, n).bind(l).pause().dec(r12).jnz(l);
  };
  /** rax = VP index (HV_X64_MSR_VP_INDEX). Clobbers rcx, rdx. */
  const vpIndex = () => void a.mov(rcx, 0x40000002).rdmsr();
  const slot = (base: number) => qword(null, r15, 8, base);
  const hc0 = (ctl: bigint | number, inGpa: number | bigint, outGpa: number | bigint) =>
    k.hypercall(0, ctl, inGpa, outGpa);
  /** Copies the 240-byte template at `tpl` to `dst` and patches VpIndex / TargetVtl / RSP. */
  const loadVpInput = (tpl: Label, dst: number, vp: number | null, vtl: number, rspV?: number) => {
    a.mov(rsi, tpl).mov(rdi, dst).mov(rcx, 30).rep().movsq();
    if (vp !== null) store64(k, dst + 8, BigInt(vp >>> 0) | (BigInt(vtl) << 32n));
    if (rspV !== undefined) store64(k, dst + 24, rspV);
  };

  // --- VP0 setup ----------------------------------------------------------------------------------
  a.cli();
  k.hvInit(0);
  k.wrmsr(0x1b, 0xfee00c00);
  k.wrmsr(0x80f, 0x1ff);
  setGate(k, 0, 0x50, h50);
  setGate(k, 0, 0x51, h51);
  setGate(k, 0, 0x52, h52);
  setGate(k, 1, 0x60, h60);
  a.mov(rdi, VAR).mov(rcx, 0x2000 / 8).xor(rax, rax).rep().stosq();

  a.mov(eax, 0x40000003).cpuid().shr(ebx, 21).and(ebx, 1);
  k.expectEq("§2.4 StartVirtualProcessor privilege advertised (CPUID 0x40000003 EBX 21)", ebx, 1);
  a.mov(eax, 0x40000004).cpuid().and(eax, 0xc04);
  k.expectEq(
    "§2.4 recommended: hypercall remote flush, cluster IPIs, Ex processor masks",
    eax,
    0xc04,
  );
  a.mov(eax, 0x40000005).cpuid();
  k.expectEq("§2.4 CPUID 0x40000005: 4 VPs", eax, 4);

  // --- HvCallStartVirtualProcessor (TLFS §7.10.3) -----------------------------------------------------
  const startTpl = k.enableVpInput(0xfffffffe, apEntry, 0, 0);
  for (const vp of [1, 2, 3]) {
    loadVpInput(startTpl, PAGES.input, vp, 0, STACK0_AP(vp));
    hc0(0x99, PAGES.input, 0);
    k.expectEq(`§7.10.3 StartVirtualProcessor(VP${vp}, VTL0) succeeds`, rax, ST.SUCCESS);
  }
  loadVpInput(startTpl, PAGES.input, 1, 0, STACK0_AP(1));
  hc0(0x99, PAGES.input, 0);
  k.expectEq("§7.10.3 starting VP1 twice -> INVALID_VP_STATE", rax, ST.INVALID_VP_STATE);
  loadVpInput(startTpl, PAGES.input, 9, 0, STACK0_AP(1));
  hc0(0x99, PAGES.input, 0);
  k.expectEq("§7.10.3 StartVirtualProcessor(VP9) -> INVALID_VP_INDEX", rax, ST.INVALID_VP_INDEX);
  waitValue(RES(3) + S_ALIVE, 103);
  waitValue(RES(2) + S_ALIVE, 102);
  waitValue(RES(1) + S_ALIVE, 101);
  for (const vp of [1, 2, 3]) {
    k.expectEq(
      `§7.10.3 VP${vp} runs and reads HV_X64_MSR_VP_INDEX = ${vp}`,
      qword(RES(vp) + S_ALIVE),
      100 + vp,
    );
    k.expectEq(`§15.12 VP${vp}'s VTL0 x2APIC ID is ${vp}`, qword(RES(vp) + S_APIC0), vp);
  }
  a.mov(rdi, PAGES.input).mov(qword(rdi), -1).mov(qword(rdi, 8), 2).mov(
    qword(rdi, 16),
    REG.VP_INDEX,
  );
  hc0(0x0000_0001_0000_0050n, PAGES.input, PAGES.output);
  k.expectEq("§7.10.1 GetVpRegisters(VP2, HvRegisterVpIndex) = 2", qword(PAGES.output), 2);

  // --- VTL1 enablement (TLFS §15.15.4) -------------------------------------------------------------------
  k.enableVtl1();
  const vtl1Tpl = k.enableVpInput(0xfffffffe, k.vtl1Entry, 0, 1);
  loadVpInput(vtl1Tpl, PAGES.input, 1, 1, STACK1_AP(1));
  hc0(0x0f, PAGES.input, 0);
  k.expectEq(
    "§15.15.4 EnableVpVtl(VP1) from VTL0 after VP0 -> ACCESS_DENIED",
    rax,
    ST.ACCESS_DENIED,
  );
  a.mov(qword(CMD + 2 * 8), C_ENABLE_SELF);
  waitZero(CMD + 2 * 8);
  k.expectEq(
    "§15.15.4 VP2's VTL0 enabling VTL1 on itself -> ACCESS_DENIED",
    qword(RES(2) + S_EN_SELF),
    6,
  );
  a.mov(qword(REQ), R_ENABLE_APS);
  k.vtlCall();
  for (const vp of [1, 2, 3]) {
    k.expectEq(`§15.15.4 VTL1 enables VTL1 on VP${vp}`, qword(RES(0) + S_EN + 8 * (vp - 1)), 0);
  }
  k.expectEq(
    "§15.15.4 EnableVpVtl(VP1) twice -> VTL_ALREADY_ENABLED",
    qword(RES(0) + S_EN + 24),
    0x86,
  );
  a.mov(rdi, PAGES.input).mov(qword(rdi), -1).mov(qword(rdi, 8), 3).mov(
    qword(rdi, 16),
    REG.VSM_VP_STATUS,
  );
  hc0(0x0000_0001_0000_0050n, PAGES.input, PAGES.output);
  k.expectEq(
    "§15.3.3 VP3's VsmVpStatus: VTL0 active, EnabledVtlSet {0,1}",
    qword(PAGES.output),
    0x30000,
  );

  // --- VTL call / return on every VP (TLFS §15.6-15.7, §15.11) ------------------------------------------
  const everyVp = (req: number) => {
    for (const vp of [1, 2, 3]) {
      a.mov(qword(REQ + vp * 8), req).mov(qword(CMD + vp * 8), C_VTLCALL);
    }
    a.mov(qword(REQ), req).mov(rbx, 0x1000);
    k.vtlCall();
    for (const vp of [1, 2, 3]) waitZero(CMD + vp * 8);
  };
  everyVp(0); // first entry of VTL1 on VPs 1-3 (initialisation)
  everyVp(R_HELLO);
  for (const vp of [0, 1, 2, 3]) {
    const r = RES(vp);
    k.expectEq(`§15.6 VP${vp}: VTL1 entered by a VTL call (reason 1)`, qword(r + S_REASON1), 1);
    k.expectEq(`§15.11 VP${vp}: VTL1 reads VP_INDEX ${vp}`, qword(r + S_VPIDX1), vp);
    k.expectEq(`§15.11 VP${vp}: VTL1 sees its VP's shared RBX`, qword(r + S_RBX1), 0x1000 + vp);
    k.expectEq(
      `§15.3.3 VP${vp}: VsmVpStatus in VTL1 (active 1, {0,1})`,
      qword(r + S_STATUS1),
      0x30001,
    );
    k.expectEq(`§15.12 VP${vp}: VTL1's x2APIC ID equals VTL0's (${vp})`, qword(r + S_APIC1), vp);
  }
  everyVp(R_CHECK);
  for (const vp of [0, 1, 2, 3]) {
    k.expectEq(
      `§15.11 VP${vp}: VTL1's private LSTAR kept per VP`,
      qword(RES(vp) + S_LSTAR1),
      0xa000 + vp,
    );
  }
  for (const vp of [1, 2, 3]) {
    k.expectEq(
      `§15.7 VP${vp}: VTL0 resumed after its VTL call`,
      qword(RES(vp) + S_RBX_AFTER),
      0x1000 + vp,
    );
  }

  // --- Synthetic cluster IPIs (TLFS §10.5.2-3) -------------------------------------------------------------
  hc0(0x1000b, 0x50, 0b1110);
  k.expectEq("§10.5.2 SendSyntheticClusterIpi(0x50, VPs 1-3), fast", rax, 0);
  for (const vp of [1, 2, 3]) waitValue(CNT50 + vp * 8, 1);
  for (const vp of [1, 2, 3]) {
    k.expectEq(`§10.5.2 VP${vp}'s VTL0 handler ran once`, qword(CNT50 + vp * 8), 1);
  }
  k.expectEq("§10.5.2 VP0 (not in the mask) got nothing", qword(CNT50), 0);
  a.mov(rdi, PAGES.input).mov(qword(rdi), 0x51).mov(qword(rdi, 8), 0).mov(qword(rdi, 16), 1);
  a.mov(qword(rdi, 24), 0b1010);
  hc0(0x15 | (1 << 17), PAGES.input, 0);
  k.expectEq("§10.5.3 SendSyntheticClusterIpiEx(0x51, HV_VP_SET {1,3})", rax, 0);
  waitValue(CNT51 + 8, 1);
  waitValue(CNT51 + 24, 1);
  spin(30000);
  k.expectEq("§10.5.3 VP1 got the Ex IPI", qword(CNT51 + 8), 1);
  k.expectEq("§10.5.3 VP2 (not in the set) did not", qword(CNT51 + 16), 0);
  k.expectEq("§10.5.3 VP3 got the Ex IPI", qword(CNT51 + 24), 1);
  a.mov(rdi, PAGES.input).mov(qword(rdi), 0x51).mov(qword(rdi, 8), 1).mov(qword(rdi, 16), 0);
  hc0(0x15, PAGES.input, 0);
  k.expectEq("§10.5.3 SendSyntheticClusterIpiEx to all VPs (format 1)", rax, 0);
  a.sti().nop().cli();
  waitValue(CNT51 + 16, 1);
  k.expectEq("§10.5.3 VP0 itself got the all-VP IPI", qword(CNT51), 1);
  k.expectEq("§10.5.3 VP2 got the all-VP IPI", qword(CNT51 + 16), 1);
  hc0(0x1000b, 0x60n | (0x11n << 32n), 0b1110);
  k.expectEq("§10.5.2 from VTL0 to VTL1 -> ACCESS_DENIED", rax, ST.ACCESS_DENIED);
  // x2APIC IPI from VTL0: stays in VTL0 of the target (no VTL1 entry).
  k.wrmsr(0x830, 0x0000_0003_0000_0052n);
  waitValue(CNT52 + 24, 1);
  k.expectEq("§15.12 an x2APIC IPI to APIC ID 3 reaches VP3's VTL0", qword(CNT52 + 24), 1);
  k.expectEq("§15.12 ... and does not enter VP3's VTL1", qword(INTR + 24), 0);
  k.wrmsr(0x830, 0x0000_000a_0000_0852n); // logical, cluster 0, APIC IDs 1 and 3
  waitValue(CNT52 + 24, 2);
  waitValue(CNT52 + 8, 1);
  k.expectEq("§15.12 x2APIC logical IPI {1,3}: VP1", qword(CNT52 + 8), 1);
  k.expectEq("§15.12 x2APIC logical IPI {1,3}: VP3", qword(CNT52 + 24), 2);
  k.expectEq("§15.12 x2APIC logical IPI {1,3}: not VP2", qword(CNT52 + 16), 0);
  k.wrmsr(0x830, 0x000c_0052); // all excluding self
  waitValue(CNT52 + 16, 1);
  waitValue(CNT52 + 24, 3);
  waitValue(CNT52 + 8, 2);
  a.mov(rax, qword(CNT52)).add(rax, qword(CNT52 + 8)).add(rax, qword(CNT52 + 16));
  a.add(rax, qword(CNT52 + 24));
  k.expectEq("§15.12 all-excluding-self IPI: VPs 1-3 once each, not VP0", rax, 6);
  // VTL1 on VP0 interrupts VTL1 on VP2, which preempts VP2's VTL0.
  a.mov(qword(REQ), R_IPI_VTL1);
  k.vtlCall();
  k.expectEq("§10.5.2 VTL1 sends an IPI to VP2's VTL1", qword(RES(0) + S_IPI1), 0);
  waitValue(CNT60 + 16, 1);
  k.expectEq("§15.12.2 VP2's VTL1 handled it", qword(CNT60 + 16), 1);
  k.expectEq(
    "§15.12.2 ... entered from VTL0 with reason Interrupt (2)",
    qword(RES(2) + S_LAST_INTR_REASON),
    2,
  );
  k.expectEq("§15.12 ... VP2's VTL0 took no extra interrupt", qword(CNT52 + 16), 1);

  // --- HvCallGetVpIndexFromApicId (TLFS §7.10.4) -------------------------------------------------------------
  a.mov(rdi, PAGES.input).mov(qword(rdi), -1).mov(qword(rdi, 8), 0);
  a.mov(dword(rdi, 16), 3).mov(dword(rdi, 20), 1).mov(dword(rdi, 24), 2);
  hc0(0x0000_0003_0000_009an, PAGES.input, PAGES.output);
  k.expectEq("§7.10.4 GetVpIndexFromApicId of 3 APIC IDs: 3 reps", rax, repResult(0, 3));
  k.expectEq("§7.10.4 ... APIC 3 -> VP3, APIC 1 -> VP1", qword(PAGES.output), 0x0000000100000003n);
  k.expectEq("§7.10.4 ... APIC 2 -> VP2", dword(PAGES.output + 8), 2);
  a.mov(rdi, PAGES.input).mov(dword(rdi, 16), 9);
  hc0(0x0000_0001_0000_009an, PAGES.input, PAGES.output);
  k.expectEq("§7.10.4 unknown APIC ID 9 -> INVALID_PARAMETER", rax, ST.INVALID_PARAMETER);
  a.mov(rdi, PAGES.input).mov(qword(rdi, 8), 0x11).mov(dword(rdi, 16), 1);
  hc0(0x0000_0001_0000_009an, PAGES.input, PAGES.output);
  k.expectEq("§7.10.4 TargetVtl 1 from VTL0 -> ACCESS_DENIED", rax, ST.ACCESS_DENIED);

  // --- TLB flush hypercalls (TLFS §9.4.2-5) ------------------------------------------------------------------
  const flushIn = (flags: number, mask: number) => {
    a.mov(rdi, PAGES.input).mov(rax, k.pml4).mov(qword(rdi), rax);
    a.mov(qword(rdi, 8), flags).mov(qword(rdi, 16), mask);
  };
  flushIn(0, 0b1111);
  hc0(0x0002, PAGES.input, 0);
  k.expectEq("§9.4.2 FlushVirtualAddressSpace(VPs 0-3)", rax, 0);
  flushIn(1, 0);
  hc0(0x0002, PAGES.input, 0);
  k.expectEq("§9.4.2 FlushVirtualAddressSpace(ALL_PROCESSORS)", rax, 0);
  flushIn(2, 0b0110);
  a.mov(qword(rdi, 24), 0x100000).mov(qword(rdi, 32), 0x200003); // 1 page; 4 pages
  hc0(0x0000_0002_0000_0003n, PAGES.input, 0);
  k.expectEq("§9.4.3 FlushVirtualAddressList, 2 ranges: 2 reps", rax, repResult(0, 2));
  flushIn(0, 0); // Ex: HV_VP_SET at 16: format 0, banks mask 1, bank 0 = {0..3}
  a.mov(qword(rdi, 24), 1).mov(qword(rdi, 32), 0b1111);
  hc0(0x13 | (1 << 17), PAGES.input, 0);
  k.expectEq("§9.4.4 FlushVirtualAddressSpaceEx(HV_VP_SET {0-3})", rax, 0);
  a.mov(qword(rdi, 40), 0x300000);
  hc0(0x0000_0001_0000_0014n | (1n << 17n), PAGES.input, 0);
  k.expectEq("§9.4.5 FlushVirtualAddressListEx, 1 range: 1 rep", rax, repResult(0, 1));
  // TLB lock (VsmVpSecureConfigVtl0.TlbLocked) held by VP1's VTL1.
  a.mov(qword(REQ + 8), R_LOCK_A).mov(qword(CMD + 8), C_VTLCALL);
  waitValue(LOCKED, 1);
  flushIn(0, 0b0100);
  hc0(0x0002, PAGES.input, 0);
  a.mov(r14, qword(DONE)).mov(qword(SNAP), r14);
  k.expectEq("§9.4.2 a flush of VP2 only does not wait for VP1's lock", rax, 0);
  k.expectEq("§15.9 ... it completed while VP1's VTL1 still held the lock", qword(SNAP), 0);
  flushIn(1, 0);
  hc0(0x0002, PAGES.input, 0);
  a.mov(r14, qword(DONE)).mov(qword(SNAP), r14);
  k.expectEq("§9.4.2 a flush of all VPs completes after the lock is gone", rax, 0);
  k.expectEq(
    "§15.9 ... VP1's VTL1 had returned (lock released) before it completed",
    qword(SNAP),
    1,
  );
  waitZero(CMD + 8);
  a.mov(qword(LOCKED), 0).mov(qword(DONE), 0);
  a.mov(qword(REQ + 8), R_LOCK_B).mov(qword(CMD + 8), C_VTLCALL);
  waitValue(LOCKED, 1);
  flushIn(0, 0b0010);
  hc0(0x0002, PAGES.input, 0);
  a.mov(r14, qword(UNLOCKED)).mov(qword(SNAP), r14);
  a.mov(r14, qword(DONE)).mov(qword(SNAP + 8), r14);
  k.expectEq("§9.4.2 a flush of VP1 while locked completes", rax, 0);
  k.expectEq("§15.5.2 ... after VTL1 cleared TlbLocked", qword(SNAP), 1);
  k.expectEq("§15.5.2 ... while VP1 was still in VTL1", qword(SNAP + 8), 0);
  waitZero(CMD + 8);
  k.expectEq("§15.5.2 VP1's VTL1 then finished and returned", qword(DONE), 1);

  // --- DenyLowerVtlStartup (TLFS §15.5.1.4) ------------------------------------------------------------------
  a.mov(qword(REQ), R_DENY);
  k.vtlCall();
  k.expectEq("§15.5.1 VTL1 sets DenyLowerVtlStartup", qword(RES(0) + S_DENY), repResult(0, 1));
  k.expectEq(
    "§7.10.3 ... VTL1 itself may still start VPs (VP1 running: INVALID_VP_STATE)",
    qword(RES(0) + S_DENY + 8),
    ST.INVALID_VP_STATE,
  );
  loadVpInput(startTpl, PAGES.input, 1, 0, STACK0_AP(1));
  hc0(0x99, PAGES.input, 0);
  k.expectEq("§15.5.1 StartVirtualProcessor from VTL0 -> ACCESS_DENIED", rax, ST.ACCESS_DENIED);
  a.mov(qword(REQ), R_UNDENY);
  k.vtlCall();
  hc0(0x99, PAGES.input, 0);
  k.expectEq("§15.5.1 after VTL1 clears it: INVALID_VP_STATE again", rax, ST.INVALID_VP_STATE);

  // --- INIT to a VP with VTL1 enabled is dropped (TLFS §15.12.3) --------------------------------------------
  k.wrmsr(0x830, 0x0000_0003_0000_4500n);
  a.mov(qword(CMD + 24), C_PING);
  waitZero(CMD + 24);
  k.expectEq(
    "§15.12.3 INIT aimed at VP3's VTL0 is dropped: VP3 still answers",
    qword(RES(3) + S_PING),
    1,
  );
  a.jmp(k.finish);

  // --- VTL0 IPI handlers (any VP): count per VP, x2APIC EOI -----------------------------------------------
  const handler = (l: Label, counts: number) => {
    a.bind(l).push(rax).push(rcx).push(rdx);
    vpIndex();
    a.i("inc", qword(null, rax, 8, counts));
    a.mov(rcx, 0x80b).xor(rax, rax).xor(rdx, rdx).wrmsr();
    a.pop(rdx).pop(rcx).pop(rax).iretq();
  };
  handler(h50, CNT50);
  handler(h51, CNT51);
  handler(h52, CNT52);
  handler(h60, CNT60);

  // --- AP VTL0: command loop (no printing) -----------------------------------------------------------------
  a.bind(apEntry);
  a.cli();
  vpIndex();
  a.mov(r15, rax).mov(r14, rax).shl(r14, 8).add(r14, RESBASE);
  k.wrmsr(0x1b, 0xfee00c00);
  k.wrmsr(0x80f, 0x1ff);
  a.mov(rcx, 0x802).rdmsr().mov(qword(r14, S_APIC0), rax);
  a.lea(rax, qword(r15, 100)).mov(qword(r14, S_ALIVE), rax);
  const loop = a.label(), fin = a.label(), c2 = a.label(), c3 = a.label();
  a.bind(loop);
  a.sti().nop().cli().pause();
  a.mov(rax, slot(CMD)).test(rax, rax).jz(loop);
  a.cmp(rax, C_VTLCALL).jne(c2);
  a.lea(rbx, qword(r15, 0x1000));
  k.vtlCall();
  a.mov(qword(r14, S_RBX_AFTER), rbx);
  a.jmp(fin);
  a.bind(c2).cmp(rax, C_PING).jne(c3);
  a.i("inc", qword(r14, S_PING));
  a.jmp(fin);
  a.bind(c3).cmp(rax, C_ENABLE_SELF).jne(fin);
  // EnableVpVtl(SELF, VTL1) from this AP's VTL0, input in its own page.
  a.mov(rax, r15).shl(rax, 13).add(rax, IN(0)).mov(r12, rax);
  a.mov(rsi, vtl1Tpl).mov(rdi, r12).mov(rcx, 30).rep().movsq();
  a.mov(rcx, 0x0f).mov(rdx, r12).xor(r8, r8).call(k.hcall0);
  a.mov(qword(r14, S_EN_SELF), rax);
  a.bind(fin);
  a.mov(slot(CMD), 0);
  a.jmp(loop);

  // --- VTL1 request server, per VP (r15 = VP index, r14 = results, r12 = hypercall input page) ----
  const v1loop = a.label(), v1dispatch = a.label(), v1done = a.label(), v1intr = a.label();
  const perVp = () => {
    vpIndex();
    a.mov(r15, rax).mov(r14, rax).shl(r14, 8).add(r14, RESBASE);
    a.mov(rax, r15).shl(rax, 13).add(rax, IN(0)).mov(r12, rax);
  };
  const assistOf = (dst: typeof rax) => {
    a.mov(dst, r15).shl(dst, 12).add(dst, ASSIST1(0));
  };
  /** HvCallGetVpRegisters / SetVpRegisters for this VP's own VTL1, input at r12. */
  const getOwn = (name: number) => {
    a.mov(qword(r12), -1).mov(rax, 0xfffffffe).mov(qword(r12, 8), rax).mov(qword(r12, 16), name);
    a.lea(rdx, qword(r12)).lea(rax, qword(r12, 0x1000));
    a.mov(r8, rax).mov(rcx, 0x0000_0001_0000_0050n).call(k.hcall1);
  };
  const setOwn = (name: number, value: number) => {
    a.mov(qword(r12), -1).mov(rax, 0xfffffffe).mov(qword(r12, 8), rax).mov(qword(r12, 16), name);
    a.mov(qword(r12, 24), 0).mov(qword(r12, 32), value).mov(qword(r12, 40), 0);
    a.lea(rdx, qword(r12)).xor(r8, r8).mov(rcx, 0x0000_0001_0000_0051n).call(k.hcall1);
  };
  a.bind(k.vtl1Entry);
  pushAll(k);
  perVp();
  k.hvInit(1);
  assistOf(rax);
  a.or(rax, 1).mov(rcx, 0x40000073).xor(rdx, rdx).wrmsr();
  k.wrmsr(0x1b, 0xfee00c00);
  k.wrmsr(0x80f, 0x1ff);
  a.jmp(v1dispatch);
  a.bind(v1loop);
  pushAll(k);
  perVp();
  assistOf(rbx);
  a.cmp(dword(rbx, 8), 2).je(v1intr);
  a.bind(v1dispatch);
  assistOf(rbx);
  a.mov(rax, slot(REQ));
  const cases: [number, () => void][] = [
    [R_ENABLE_APS, () => {
      for (const vp of [1, 2, 3]) {
        loadVpInput(vtl1Tpl, IN(0), vp, 1, STACK1_AP(vp));
        k.hypercall(1, 0x0f, IN(0), 0);
        a.mov(qword(RES(0) + S_EN + 8 * (vp - 1)), rax);
      }
      loadVpInput(vtl1Tpl, IN(0), 1, 1, STACK1_AP(1));
      k.hypercall(1, 0x0f, IN(0), 0);
      a.mov(qword(RES(0) + S_EN + 24), rax);
    }],
    [R_HELLO, () => {
      a.mov(eax, dword(rbx, 8)).mov(qword(r14, S_REASON1), rax);
      a.mov(rax, qword(rsp, 13 * 8)).mov(qword(r14, S_RBX1), rax); // VTL0's RBX as pushed
      vpIndex();
      a.mov(qword(r14, S_VPIDX1), rax);
      a.mov(rcx, 0x802).rdmsr().mov(qword(r14, S_APIC1), rax);
      getOwn(REG.VSM_VP_STATUS);
      a.mov(rax, qword(r12, 0x1000)).mov(qword(r14, S_STATUS1), rax);
      a.lea(rax, qword(r15, 0xa000)).xor(rdx, rdx).mov(rcx, 0xc0000082).wrmsr();
    }],
    [R_CHECK, () => {
      a.mov(rcx, 0xc0000082).rdmsr().shl(rdx, 32).or(rax, rdx).mov(qword(r14, S_LSTAR1), rax);
    }],
    [R_LOCK_A, () => {
      setOwn(REG.VSM_VP_SECURE_CONFIG_VTL0, 2);
      a.mov(qword(LOCKED), 1);
      spin(40000);
      a.mov(qword(DONE), 1);
    }],
    [R_LOCK_B, () => {
      setOwn(REG.VSM_VP_SECURE_CONFIG_VTL0, 2);
      a.mov(qword(LOCKED), 1);
      spin(20000);
      setOwn(REG.VSM_VP_SECURE_CONFIG_VTL0, 0);
      a.mov(qword(UNLOCKED), 1);
      spin(60000);
      a.mov(qword(DONE), 1);
    }],
    [R_DENY, () => {
      setOwn(REG.VSM_PARTITION_CONFIG, 0x40);
      a.mov(qword(RES(0) + S_DENY), rax);
      loadVpInput(startTpl, IN(0), 1, 0, STACK0_AP(1));
      k.hypercall(1, 0x99, IN(0), 0);
      a.mov(qword(RES(0) + S_DENY + 8), rax);
    }],
    [R_UNDENY, () => setOwn(REG.VSM_PARTITION_CONFIG, 0)],
    [R_IPI_VTL1, () => {
      k.hypercall(1, 0x1000b, 0x60, 0b0100);
      a.mov(qword(RES(0) + S_IPI1), rax);
    }],
  ];
  for (const [req, body] of cases) {
    const next = a.label();
    a.cmp(rax, req).jne(next);
    body();
    a.jmp(v1done);
    a.bind(next);
  }
  a.jmp(v1done);
  a.bind(v1intr);
  a.mov(eax, dword(rbx, 8)).mov(qword(r14, S_LAST_INTR_REASON), rax);
  a.i("inc", slot(INTR));
  a.sti().nop().cli();
  a.bind(v1done);
  // VtlReturnX64Rax/Rcx from the pushed RAX/RCX, then restore everything and return.
  assistOf(rbx);
  a.mov(rax, qword(rsp, 14 * 8)).mov(qword(rbx, 0x10), rax);
  a.mov(rax, qword(rsp, 12 * 8)).mov(qword(rbx, 0x18), rax);
  popAll(k);
  k.vtlReturn(false);
  a.jmp(v1loop);

  return { ...k.build(), config: { vps: 4 } };
}
