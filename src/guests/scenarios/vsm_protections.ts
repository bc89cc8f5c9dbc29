/**
 * Scenario: VTL memory protections and secure memory intercepts (TLFS §15.5.1 VsmPartitionConfig,
 * §15.9 / §15.9.2-§15.9.3 protections and violations, §15.13 intercept delivery, §15.15.2
 * HvCallModifyVtlProtectionMask, §11 SynIC messages and EOM; spec/vsm.md §2.4, §3, §5, §7.1-7.2).
 *
 * VTL1 (the monitor, vsm_monitor.ts) sets up its SynIC so intercepts arrive on SINT0. VTL0 asks it
 * to enable VTL protection (VsmPartitionConfig) and to apply each valid mask — none, R, R+X, RW,
 * RWX — to its own pages, then reads, writes and executes them. Allowed accesses work; every
 * violation stops the instruction before any side effect, VTL1 is entered through SINT0 with a
 * GpaIntercept message, and resolves it by relaxing the mask (the instruction retries), by
 * skipping the instruction (SetVpRegisters of VTL0's RIP) or by injecting an exception
 * (HvRegisterPendingEvent0). Error paths of ModifyVtlProtectionMask and the intercept-page route
 * (VsmPartitionConfig.InterceptPage) are checked as well.
 */

import { Kit, PAGES } from "../kit.ts";
import {
  byte,
  cr2,
  dword,
  eax,
  qword,
  r11,
  r12,
  r13,
  r14,
  r14d,
  rax,
  rbx,
  rcx,
  rdx,
  rsp,
} from "../asm.ts";
import type { BuiltinGuest } from "../demo.ts";
import { ACT, exceptionEvent, MON_VARS, Monitor, MSG, REQ, V, V0_SCRATCH } from "./vsm_monitor.ts";
import { REG, repResult, ST } from "./vsm_util.ts";

/** Test pages and the masks VTL1 gives them (HV_MAP_GPA_FLAGS: R=1, W=2, KX=4, UX=8). */
const P_N = 0x700000, P_N2 = 0x701000, P_R = 0x702000, P_RX = 0x703000, P_RW = 0x704000;
const P_RWX = 0x705000, P_XA = 0x706000, P_XB = 0x707000, P_IP = 0x70b000;
/** Pages of the rep-list test; GPFN 0x4000 is the first page beyond the 64 MiB of RAM. */
const L0 = 0x708000, L1 = 0x709000, L2 = 0x70a000, BEYOND_RAM_GPFN = 0x4000;
const PAGES_ALL = [P_N, P_N2, P_R, P_RX, P_RW, P_RWX, P_XA, P_XB, L0, L1, L2, P_IP];
/** The marker VTL0 writes at offset 0 of each page before it is protected. */
const mark = (p: number) => 0x5afe_0000_0000_0000n + BigInt(p >>> 12);
/** `mov eax, 0x600d; ret` at offset 0x100 of each page. */
const CODE = 0x0000_c300_0060_0db8n, CODE_OFF = 0x100, CODE_EAX = 0x600d;
/** VTL1's APIC timer (busy-slot test) and what its handler saw. */
const REQ_TIMER = 100, TIMER_VECTOR = 0x32;
const T_TYPE = MON_VARS + 0xe0, T_FLAGS = MON_VARS + 0xe8, T_EOMS = MON_VARS + 0xf0;

export function buildVsmProtections(): BuiltinGuest {
  const k = new Kit("vsm-protections");
  const a = k.a;
  const mon = new Monitor(k);
  const S = "§15.9.2"; // violations and intercepts

  k.hvInit(0);
  k.enableVtl1();
  // Pages: a marker at 0 and a tiny function at 0x100, written while everything is RWX.
  for (const p of PAGES_ALL) {
    a.mov(rax, mark(p)).mov(qword(p), rax);
    a.mov(rax, CODE).mov(qword(p + CODE_OFF), rax);
  }
  mon.req(0); // first VTL call: the monitor sets itself up

  // ---- ModifyVtlProtectionMask before EnableVtlProtection, VsmPartitionConfig ----------------
  mon.req(REQ.PROTECT_RANGE, P_N, 1, 0, 0x11);
  mon.eq(
    "§15.15.2 ModifyVtlProtectionMask before EnableVtlProtection -> HV_STATUS_ACCESS_DENIED",
    qword(V.result),
    ST.ACCESS_DENIED,
  );
  mon.req(REQ.SETREG, REG.VSM_PARTITION_CONFIG, 1 | (0xf << 1), 0, 0);
  mon.eq(
    "§15.5.1 SetVpRegisters(VsmPartitionConfig = EnableVtlProtection | default RWX) from VTL1",
    qword(V.result),
    repResult(0, 1),
  );
  mon.req(REQ.GETREG, REG.VSM_PARTITION_CONFIG, 0, 0);
  mon.eq("§15.5.1 VsmPartitionConfig reads back 0x1f", qword(V.value), 0x1f);
  // ---- Invalid masks and target VTLs ---------------------------------------------------------
  const masks: [number, string][] = [
    [0x2, "W without R"],
    [0xc, "X without R"],
    [0x5, "KX without UX"],
    [0x9, "UX != KX without MBEC"],
  ];
  a.xor(r13, r13);
  for (const [m] of masks) {
    mon.req(REQ.PROTECT_RANGE, P_N, 1, m, 0x11);
    a.mov(r14, qword(V.result)).xor(r14, ST.INVALID_REGISTER_VALUE).or(r13, r14);
  }
  mon.eq(
    `§15.9.3 invalid masks (${
      masks.map((m) => m[1]).join(", ")
    }) -> HV_STATUS_INVALID_REGISTER_VALUE`,
    r13,
    0,
  );
  mon.req(REQ.PROTECT_RANGE, P_N, 1, 0, 0x10);
  mon.eq(
    "§15.15.2 TargetVtl 0 (UseTargetVtl) -> HV_STATUS_INVALID_PARAMETER",
    qword(V.result),
    ST.INVALID_PARAMETER,
  );
  mon.req(REQ.PROTECT_RANGE, P_N, 1, 0, 0x12);
  mon.eq(
    "§15.15.2 TargetVtl above the caller (VTL2) -> HV_STATUS_ACCESS_DENIED",
    qword(V.result),
    ST.ACCESS_DENIED,
  );
  // ---- Apply the masks (memory form, rep) ----------------------------------------------------
  a.xor(r13, r13);
  const apply = (first: number, count: number, mask: number, sel: number) => {
    mon.req(REQ.PROTECT_RANGE, first, count, mask, sel);
    a.mov(r14, qword(V.result)).mov(r12, repResult(0, count)).xor(r14, r12).or(r13, r14);
  };
  apply(P_N, 2, 0x0, 0x11); // P_N, P_N2: no access (TargetVtl = VTL1, the owner)
  apply(P_R, 1, 0x1, 0x00); // UseTargetVtl = 0: the caller's VTL owns the mask
  apply(P_RX, 1, 0xd, 0x11);
  apply(P_RW, 1, 0x3, 0x11);
  apply(P_RWX, 1, 0xf, 0x11);
  apply(P_XA, 1, 0x3, 0x11);
  apply(P_XB, 1, 0x1, 0x11);
  apply(P_IP, 1, 0x0, 0x11);
  mon.eq(
    "§15.15.2 ModifyVtlProtectionMask applies none, R, R+X, RW, RWX (rep, TargetVtl = owner)",
    r13,
    0,
  );
  // A GPFN beyond RAM in the middle of a rep list: the earlier pages are changed.
  for (const [i, g] of [L0 >>> 12, L1 >>> 12, BEYOND_RAM_GPFN, L2 >>> 12].entries()) {
    a.mov(qword(V0_SCRATCH + 8 * i), g);
  }
  mon.req(REQ.PROTECT_LIST, V0_SCRATCH, 4, 0x1, 0x11);
  mon.eq(
    "§15.15.2 a GPFN beyond RAM at rep index 2 -> INVALID_PARAMETER, 2 reps completed (RAX 43:32)",
    qword(V.result),
    repResult(ST.INVALID_PARAMETER, 2),
  );
  // EnableVtlProtection is write-once.
  mon.req(REQ.SETREG, REG.VSM_PARTITION_CONFIG, 0, 0, 0);
  mon.req(REQ.GETREG, REG.VSM_PARTITION_CONFIG, 0, 0);
  mon.eq(
    "§15.5.1 EnableVtlProtection and DefaultVtlProtectionMask are write-once (still 0x1f)",
    qword(V.value),
    0x1f,
  );

  // ---- Allowed accesses ----------------------------------------------------------------------
  mon.arm(0);
  a.xor(r13, r13);
  for (const p of [P_R, P_RX, P_RW, P_RWX]) {
    a.mov(rax, qword(p)).mov(r14, mark(p)).xor(rax, r14).or(r13, rax);
  }
  mon.eq("§15.9 reads of R, R+X, RW and RWX pages return their data", r13, 0);
  a.xor(r13, r13);
  for (const p of [P_RW, P_RWX]) {
    a.mov(rax, 0x1234_5678n + BigInt(p)).mov(qword(p + 8), rax);
    a.mov(r14, qword(p + 8)).xor(r14, rax).or(r13, r14);
  }
  mon.eq("§15.9 writes to RW and RWX pages land", r13, 0);
  a.xor(r13, r13);
  for (const p of [P_RX, P_RWX]) {
    a.xor(eax, eax).mov(rax, p + CODE_OFF).call(rax).xor(rax, CODE_EAX).or(r13, rax);
  }
  mon.eq("§15.9 code in R+X and RWX pages executes", r13, 0);
  mon.expectNoIntercept("§15.9 allowed accesses cause no intercept");

  // ---- (a) read of a no-access page: VTL1 relaxes the mask to R, the read retries ----------
  const rd = a.label("rd_none");
  mon.arm(ACT.RELAX, { mask: 0x1 });
  a.mov(rax, 0);
  a.bind(rd).mov(rax, qword(P_N));
  mon.expectGpaIntercept(S, "read of a no-access page", {
    access: 0,
    gpa: P_N,
    gva: P_N,
    rip: rd,
  });
  mon.eq(`${S} read retried after VTL1 relaxed the mask: the data`, rax, mark(P_N));
  // The full intercept header once (spec §5.4).
  mon.eq(
    "§15.13 intercept header CS: limit 0xffffffff, selector 0x08, attributes 0xa09b",
    qword(MSG + 16 + 16),
    0xa09b_0008_ffff_ffffn,
  );
  mon.eq(
    "§15.9.2 memory intercept: CacheType WB, 15 instruction bytes, GvaValid | GvaGpaValid",
    qword(MSG + 16 + 40),
    6n | (15n << 32n) | (3n << 40n),
  );
  k.check(
    "§15.9.2 memory intercept: InstructionBytes are the faulting instruction's",
    () => {
      a.mov(r11, qword(MSG + 16 + 64)).mov(r12, qword(rd)).cmp(r11, r12);
    },
    "ne",
    r11,
  );

  // ---- (b) write to a no-access page: VTL1 skips the instruction ------------------------------
  const wr = a.label("wr_none"), wrNext = a.label();
  mon.arm(ACT.SKIP, { len: () => a.addressOf(wrNext) - a.addressOf(wr) });
  a.mov(rbx, 0).mov(rax, 0xbad);
  a.bind(wr).mov(qword(P_N2), rax);
  a.bind(wrNext).mov(rbx, 1);
  mon.expectGpaIntercept(S, "write to a no-access page", {
    access: 1,
    gpa: P_N2,
    gva: P_N2,
    rip: wr,
  });
  mon.req(REQ.PEEK, P_N2);
  a.mov(r13, qword(V.result)).mov(r14, mark(P_N2)).xor(r13, r14).xor(rbx, 1).or(r13, rbx);
  mon.eq(
    `${S} skipped write (SetVpRegisters RIP): nothing written, VTL0 continued after it`,
    r13,
    0,
  );

  // ---- (c) write to a read-only page: VTL1 injects #GP ----------------------------------------
  const wrR = a.label("wr_ro");
  mon.arm(ACT.INJECT, { event: exceptionEvent(13, 0) });
  k.expectFault(
    0,
    `${S} write to an R page: VTL1 injected #GP (PendingEvent0), VTL0 caught it`,
    13,
    () => {
      a.mov(rax, 0xbad);
      a.bind(wrR).mov(qword(P_R), rax);
    },
  );
  mon.expectGpaIntercept(S, "write to an R page", { access: 1, gpa: P_R, gva: P_R, rip: wrR });
  a.mov(r13, qword(P_R)).mov(r14, mark(P_R)).xor(r13, r14).or(r13, qword(k.catchState[0]!, 24));
  mon.eq(`${S} write to an R page: page unchanged, #GP error code 0`, r13, 0);

  // ---- execute in a read-only page: VTL1 injects #PF with CR2 ---------------------------------
  mon.arm(ACT.INJECT, { event: exceptionEvent(14, 0x11), param: P_R + CODE_OFF });
  k.expectFault(0, `${S} execute in an R page: VTL1 injected #PF, VTL0 caught it`, 14, () => {
    a.mov(rax, P_R + CODE_OFF).call(rax);
  });
  mon.expectGpaIntercept(S, "execute in an R page", {
    access: 2,
    gpa: P_R + CODE_OFF,
    gva: P_R + CODE_OFF,
    rip: P_R + CODE_OFF,
  });
  a.mov(r13, cr2).xor(r13, P_R + CODE_OFF);
  a.mov(r14, qword(k.catchState[0]!, 24)).xor(r14, 0x11).or(r13, r14);
  mon.eq(`${S} injected #PF: CR2 = the fetch address, error code 0x11`, r13, 0);

  // ---- POP to an R+X page, skipped: no side effect at all (RSP unchanged) --------------------
  const pp = a.label("pop_rx"), ppNext = a.label();
  mon.arm(ACT.SKIP, { len: () => a.addressOf(ppNext) - a.addressOf(pp) });
  a.push(0x77).mov(r13, rsp);
  a.bind(pp).pop(qword(P_RX));
  a.bind(ppNext).mov(r14, rsp).add(rsp, 8);
  mon.expectGpaIntercept(S, "POP to an R+X page", { access: 1, gpa: P_RX, gva: P_RX, rip: pp });
  a.sub(r13, r14).mov(r14, qword(P_RX)).mov(r12, mark(P_RX)).xor(r14, r12).or(r13, r14);
  mon.eq(`${S} intercepted POP had no side effect (RSP unchanged, page unchanged)`, r13, 0);

  // ---- execute in an RW page: VTL1 relaxes to RWX, the call retries ---------------------------
  mon.arm(ACT.RELAX, { mask: 0xf });
  a.xor(eax, eax).mov(rax, P_RW + CODE_OFF).call(rax);
  mon.expectGpaIntercept(S, "execute in an RW page", {
    access: 2,
    gpa: P_RW + CODE_OFF,
    gva: P_RW + CODE_OFF,
    rip: P_RW + CODE_OFF,
  });
  mon.eq(`${S} fetch retried after VTL1 relaxed the mask to RWX: the code ran`, rax, CODE_EAX);

  // ---- a write crossing from an RW page into an R page: nothing written ----------------------
  const xw = a.label("cross_w"), xwNext = a.label();
  mon.arm(ACT.SKIP, { len: () => a.addressOf(xwNext) - a.addressOf(xw) });
  a.mov(rax, -1n);
  a.bind(xw).mov(qword(P_XB - 4), rax);
  a.bind(xwNext);
  mon.expectGpaIntercept(S, "write crossing from an RW into an R page", {
    access: 1,
    gpa: P_XB,
    gva: P_XB,
    rip: xw,
  });
  a.mov(r13, qword(P_XB - 8)).mov(r14, qword(P_XB)).mov(r12, mark(P_XB)).xor(r14, r12);
  a.or(r13, r14);
  mon.eq(`${S} crossing write: neither the RW part nor the R page was written`, r13, 0);

  // ---- a busy SIM slot (TLFS §11 message protocol, spec §5.3, §7.2) ---------------------------
  // VTL1 keeps message A in SIM slot 0. Message B then queues behind it (MessagePending) and
  // VTL0 stays on its instruction; VTL1's APIC timer gets VTL1 running, it frees the slot and
  // writes EOM, B is delivered on SINT0 and handled.
  const wA = a.label("busy_a"), wAn = a.label(), wB = a.label("busy_b"), wBn = a.label();
  mon.arm(ACT.SKIP | ACT.KEEP, { len: () => a.addressOf(wAn) - a.addressOf(wA) });
  a.bind(wA).mov(qword(P_N2 + 0x10), rax);
  a.bind(wAn);
  mon.req(REQ_TIMER);
  mon.arm(ACT.SKIP, { len: () => a.addressOf(wBn) - a.addressOf(wB) });
  a.bind(wB).mov(qword(P_N2 + 0x18), rax);
  a.bind(wBn);
  a.mov(r13, qword(T_TYPE)).shl(r13, 8).or(r13, qword(T_FLAGS)).shl(r13, 8).or(r13, qword(T_EOMS));
  mon.eq(
    "§11 a message behind a busy slot: MessagePending set on the slot's message, VTL1 wrote EOM",
    r13,
    (0x80000001n << 16n) | 0x101n,
  );
  mon.expectOne(
    `${S} the queued intercept reached VTL1 after EOM (entry reason 2) and was resolved`,
    1,
    P_N2 + 0x18,
    P_N2 + 0x18,
  );

  // ---- the rep list: L0 and L1 became R, L2 (after the bad GPFN) did not ----------------------
  const wl1 = a.label("wr_l1"), wl1Next = a.label();
  mon.arm(ACT.SKIP, { len: () => a.addressOf(wl1Next) - a.addressOf(wl1) });
  a.bind(wl1).mov(qword(L1 + 8), rax);
  a.bind(wl1Next);
  k.check(
    "§15.15.2 rep list: the page before the bad GPFN is now R (write intercepted)",
    () => {
      a.mov(r11, qword(V.count)).sub(r11, qword(V.mark)).shl(r11, 32).or(r11, qword(MSG + 16 + 56));
      a.mov(r12, (1n << 32n) | BigInt(L1 + 8)).cmp(r11, r12);
    },
    "ne",
    r11,
  );
  mon.arm(0);
  a.mov(rax, 0x1212).mov(qword(L2 + 8), rax);
  a.mov(r13, qword(L2 + 8)).xor(r13, 0x1212);
  mon.eq("§15.15.2 rep list: the page after the bad GPFN is unchanged (RWX)", r13, 0);
  mon.expectNoIntercept("§15.15.2 rep list: writing the page after the bad GPFN: no intercept");

  // ---- the intercept-page route (VsmPartitionConfig.InterceptPage, spec §5.3) -----------------
  mon.req(REQ.SETREG, REG.VSM_PARTITION_CONFIG, 0x1f | 0x1000, 0, 0);
  mon.req(REQ.GETREG, REG.VSM_PARTITION_CONFIG, 0, 0);
  mon.eq("§15.5.1 VsmPartitionConfig.InterceptPage set (0x101f)", qword(V.value), 0x101f);
  const rdP = a.label("rd_ip");
  mon.arm(ACT.RELAX, { mask: 0x1 });
  a.mov(rax, 0);
  a.bind(rdP).mov(rax, qword(P_IP));
  mon.expectGpaIntercept("§15.13", "read with InterceptPage: message in the VP assist page", {
    access: 0,
    gpa: P_IP,
    gva: P_IP,
    rip: rdP,
    viaPage: true,
  });
  a.mov(r13, qword(V.sints)).sub(r13, qword(V.sintMark)).mov(r14, mark(P_IP)).xor(r14, rax);
  a.or(r13, r14);
  mon.eq("§15.13 InterceptPage: no SINT0 interrupt; the read retried and got the data", r13, 0);
  mon.req(REQ.SETREG, REG.VSM_PARTITION_CONFIG, 0x1f, 0, 0);

  // ---- the SynIC protocol held throughout (spec §7.2) ------------------------------------------
  mon.req(REQ.PEEK, PAGES.simp1);
  a.mov(r13, qword(V.spurious)).mov(r14, qword(V.sints)).sub(r14, 10).or(r13, r14);
  a.mov(r14d, dword(V.result)).or(r13, r14);
  mon.eq(
    "§11 10 SINT0 interrupts, each with a message; no spurious VTL1 entry; SIM slot 0 free",
    r13,
    0,
  );
  a.jmp(k.finish);

  // ---- VTL1: a one-shot timer in its own APIC, and its handler ----------------------------------
  mon.on(REQ_TIMER, () => {
    k.wrmsr(0x1b, 0xfee00c00).wrmsr(0x80f, 0x1ff).wrmsr(0x83e, 0x0b); // x2APIC, SVR, divide 1
    k.wrmsr(0x832, TIMER_VECTOR).wrmsr(0x838, 2000); // one-shot
  });
  a.bind(k.handler(1, TIMER_VECTOR));
  a.push(rax).push(rcx).push(rdx);
  a.mov(eax, dword(PAGES.simp1)).mov(qword(T_TYPE), rax);
  a.movzx(eax, byte(PAGES.simp1 + 5)).and(eax, 1).mov(qword(T_FLAGS), rax);
  a.mov(dword(PAGES.simp1), 0); // free the slot (message A was already handled)
  k.wrmsr(0x40000084, 0); // EOM: the queued message is delivered
  a.i("inc", qword(T_EOMS));
  k.wrmsr(0x80b, 0); // x2APIC EOI
  a.pop(rdx).pop(rcx).pop(rax).iretq();

  mon.emit();
  return k.build();
}
