/**
 * Scenario: a hostile VTL0 against VTL1's protections (TLFS §15.9-§15.9.2 protections and
 * violations, §15.13 intercepts, §5.2.1 overlay pages, §7.10.1 Get/SetVpRegisters, §9.4.6
 * TranslateVirtualAddress, §10.5.2 SendSyntheticClusterIpi, §3.7 hypercall input/output;
 * spec/vsm.md §1-§2, §5).
 *
 * VTL1 (the monitor, vsm_monitor.ts) keeps a secret in a page VTL0 may not access at all, makes
 * another page read-only, protects two pages VTL0 built as page tables, and its own hypercall
 * input/output pages. VTL0 then tries every path to read, write or execute them: plain loads
 * and stores, read-modify-write, PUSH/POP, string instructions crossing from an allowed page,
 * instruction fetches, page walks through protected page tables (and a walk that must set an
 * accessed bit in a read-only page table), hypercalls with input or output in protected pages,
 * VTL1's overlay pages, and hypercalls aimed at VTL1's state. VTL1 skips, restores or faults
 * every attempt; it counts the intercepts and its secret stays intact.
 *
 * String instructions: a REP MOVS/STOS that reaches the protected page stops at the element that
 * touches it, with RCX/RSI/RDI reflecting the elements done before (SDM "repeat string
 * operations" progress, src/cpu/ops/string.ts); those elements lie in the allowed page and are
 * written, as on hardware. An element straddling the boundary writes nothing in either page.
 *
 * The scenario test also checks the trace: one `vtl_fault` event per memory attempt
 * (ISOLATION_FAULTS).
 */

import { Kit, PAGES } from "../kit.ts";
import { cr3, dword, eax, ecx, qword, r13, r14, rax, rcx, rdi, rsi, rsp } from "../asm.ts";
import type { BuiltinGuest } from "../demo.ts";
import { ACT, exceptionEvent, MON_IN, Monitor, MSG, REQ, V } from "./vsm_monitor.ts";
import { HC, REG, repResult, ST } from "./vsm_util.ts";

const P_OK = 0x6ff000, P_SECRET = 0x700000, P_RO = 0x701000, P_PT = 0x702000;
const P_PT3 = 0x703000, P_RO2 = 0x704000;
const SECRET = 0x5ec2_e7ba_be15_f00dn, RO_MARK = 0x2ead_0000_0000_0001n;
/** Scratch for string-instruction sources and destinations (VTL0's own). */
const SRC = 0x7e0000, DST = 0x7e0100;
/** VTL0 markers in the RAM under VTL1's overlays, and VTL1's markers in the overlays. */
const RAM_MARK = 0x0a0a_0a0a_0000_0000n, V1_MARK = 0x1111_1111_0000_0000n;
const ASSIST1_PROBE = PAGES.assist1 + 0x800, SIM1_PROBE = PAGES.simp1 + 15 * 256 + 0x80;
/** Linear addresses whose PD entries VTL0 points at page tables in protected pages. */
const LIN_PT3 = 100 * 0x200000, LIN_RO2 = 101 * 0x200000;

/** Memory attempts (each one `vtl_fault`) and hypercalls denied on input/output pages. */
export const ISOLATION_FAULTS = { memory: 14, hypercall: 4 } as const;

export function buildVsmIsolation(): BuiltinGuest {
  const k = new Kit("vsm-isolation");
  const a = k.a;
  const mon = new Monitor(k);
  const S = "§15.9.2";
  const evil = a.label("evil");
  const skipOver = (from: ReturnType<typeof a.label>, to: ReturnType<typeof a.label>) => () =>
    a.addressOf(to) - a.addressOf(from);

  k.hvInit(0);
  // VTL0's markers in the RAM that VTL1's VP assist page and SIM page will overlay.
  a.mov(rax, RAM_MARK).mov(qword(ASSIST1_PROBE), rax).mov(qword(SIM1_PROBE), rax);
  k.enableVtl1();
  // Pages VTL0 prepares while they are still its own.
  a.mov(rdi, P_OK).mov(ecx, 512).mov(rax, 0x0101_0101_0101_0101n).rep().stosq();
  a.mov(rax, RO_MARK).mov(qword(P_RO), rax);
  a.mov(rsi, cr3).mov(rdi, P_PT).mov(ecx, 512).rep().movsq(); // a copy of its PML4
  a.mov(rax, P_OK | 0x67).mov(qword(P_PT3), rax); // a valid PTE (A, D set)
  a.mov(rax, P_OK | 0x07).mov(qword(P_RO2), rax); // a valid PTE, accessed bit clear
  mon.init(() => {
    // VTL1's markers in its own overlay pages.
    a.mov(rax, V1_MARK).mov(qword(ASSIST1_PROBE), rax).mov(qword(SIM1_PROBE), rax);
  });
  mon.req(0); // first VTL call: the monitor sets itself up
  mon.req(REQ.SETREG, REG.VSM_PARTITION_CONFIG, 1 | (0xf << 1), 0, 0);
  a.mov(r13, qword(V.result)).mov(rax, repResult(0, 1)).xor(r13, rax);
  for (const [p, n, m] of [[P_SECRET, 1, 0], [P_RO, 1, 1], [P_PT, 2, 0], [P_RO2, 1, 1]]) {
    mon.req(REQ.PROTECT_RANGE, p!, n!, m!, 0x11);
    a.mov(r14, qword(V.result)).mov(rax, repResult(0, n!)).xor(r14, rax).or(r13, r14);
  }
  mon.req(REQ.PROTECT_RANGE, MON_IN, 2, 0, 0x11); // VTL1's hypercall input/output pages
  a.mov(r14, qword(V.result)).mov(rax, repResult(0, 2)).xor(r14, rax).or(r13, r14);
  mon.req(REQ.POKE, P_SECRET, SECRET); // the secret, written by VTL1 once protected
  mon.eq(
    "§15.9 VTL1 protects its secret (none), an R page, two page-table pages and its hypercall pages",
    r13,
    0,
  );

  // ---- overlay pages (TLFS §5.2.1): VTL0 sees its RAM, never VTL1's overlays --------------------
  a.mov(r13, qword(ASSIST1_PROBE)).mov(r14, qword(SIM1_PROBE)).xor(r13, r14);
  a.mov(rax, RAM_MARK).xor(r14, rax).or(r13, r14).or(r13, qword(PAGES.hc1));
  mon.eq(
    "§5.2.1 at VTL1's VP assist, SIM and hypercall page GPAs VTL0 reads plain RAM",
    r13,
    0,
  );
  a.mov(rax, 0xbad).mov(qword(ASSIST1_PROBE), rax).mov(qword(SIM1_PROBE), rax);
  mon.req(REQ.PEEK, ASSIST1_PROBE);
  a.mov(r13, qword(V.result));
  mon.req(REQ.PEEK, SIM1_PROBE);
  a.mov(r14, qword(V.result)).xor(r13, r14).mov(rax, V1_MARK).xor(r14, rax).or(r13, r14);
  mon.eq("§5.2.1 VTL0's writes there do not reach VTL1's VP assist and SIM pages", r13, 0);

  // ---- plain accesses, skipped by VTL1 ------------------------------------------------------------
  const ld = a.label("ld"), ldN = a.label();
  mon.arm(ACT.SKIP, { len: skipOver(ld, ldN) });
  a.mov(rax, 0x1111);
  a.bind(ld).mov(rax, qword(P_SECRET));
  a.bind(ldN).mov(r13, rax);
  mon.expectOne(`${S} load from the no-access page: intercepted (read)`, 0, P_SECRET, P_SECRET);
  mon.eq(`${S} skipped load: the destination register kept its value`, r13, 0x1111);

  const st = a.label("st"), stN = a.label();
  mon.arm(ACT.SKIP, { len: skipOver(st, stN) });
  a.bind(st).mov(qword(P_SECRET), rax);
  a.bind(stN);
  mon.expectOne(`${S} store to the no-access page: intercepted (write)`, 1, P_SECRET, P_SECRET);

  const sr = a.label("st_ro"), srN = a.label();
  mon.arm(ACT.SKIP, { len: skipOver(sr, srN) });
  a.bind(sr).mov(qword(P_RO + 8), rax);
  a.bind(srN);
  mon.expectOne(`${S} store to the R page: intercepted (write)`, 1, P_RO + 8, P_RO + 8);
  a.mov(r13, qword(P_RO + 8)).mov(r14, qword(P_RO)).mov(rax, RO_MARK).xor(r14, rax).or(r13, r14);
  mon.eq(`${S} the R page is unchanged`, r13, 0);

  const xc = a.label("xchg"), xcN = a.label();
  mon.arm(ACT.SKIP, { len: skipOver(xc, xcN) });
  a.mov(rax, 0x2222);
  a.bind(xc).xchg(qword(P_SECRET + 8), rax);
  a.bind(xcN).mov(r13, rax);
  mon.expectOne(
    `${S} XCHG with the no-access page: intercepted (write)`,
    1,
    P_SECRET + 8,
    P_SECRET + 8,
  );
  mon.eq(`${S} skipped XCHG: nothing read into the register`, r13, 0x2222);

  const ps = a.label("push"), psN = a.label();
  mon.arm(ACT.SKIP, { len: skipOver(ps, psN) });
  a.mov(r13, rsp).mov(rsp, P_SECRET + 0x800);
  a.bind(ps).push(rax);
  a.bind(psN).mov(r14, rsp).mov(rsp, r13);
  mon.expectOne(
    `${S} PUSH with RSP in the no-access page: intercepted (write)`,
    1,
    P_SECRET + 0x7f8,
    P_SECRET + 0x7f8,
  );
  mon.eq(`${S} skipped PUSH: RSP unchanged`, r14, P_SECRET + 0x800);

  // POP to the secret page through the intercept page route (the VTL switch waits until the
  // instruction is unwound: POP's RSP rollback must stay in VTL0).
  mon.req(REQ.SETREG, REG.VSM_PARTITION_CONFIG, 0x1f | 0x1000, 0, 0);
  const pp = a.label("pop"), ppN = a.label();
  mon.arm(ACT.SKIP, { len: skipOver(pp, ppN) });
  a.push(0x55).mov(r13, rsp);
  a.bind(pp).pop(qword(P_SECRET + 0x10));
  a.bind(ppN).mov(r14, rsp).add(rsp, 8).sub(r14, r13);
  mon.expectOne(
    `§15.13 POP to the no-access page, InterceptPage route: intercepted (write, reason 3)`,
    1,
    P_SECRET + 0x10,
    P_SECRET + 0x10,
    true,
  );
  mon.eq(`§15.13 skipped POP: RSP unchanged`, r14, 0);
  mon.req(REQ.SETREG, REG.VSM_PARTITION_CONFIG, 0x1f, 0, 0);

  // ---- string instructions crossing from the allowed page -----------------------------------------
  const ss = a.label("rep_stosq"), ssN = a.label();
  mon.arm(ACT.SKIP, { len: skipOver(ss, ssN) });
  a.mov(rdi, P_SECRET - 4).mov(ecx, 4).mov(rax, -1n);
  a.bind(ss).rep().stosq();
  a.bind(ssN);
  mon.expectOne(
    `${S} REP STOSQ whose first element straddles into the no-access page: intercepted`,
    1,
    P_SECRET,
    P_SECRET,
  );
  a.mov(r13, rcx).xor(r13, 4).mov(r14, rdi).mov(rax, P_SECRET - 4).xor(r14, rax).or(r13, r14);
  a.mov(r14, qword(P_SECRET - 8)).mov(rax, 0x0101_0101_0101_0101n).xor(r14, rax).or(r13, r14);
  mon.eq(
    `${S} straddling REP STOSQ: nothing written to the allowed part, RCX/RDI unchanged`,
    r13,
    0,
  );

  const mr = a.label("rep_movsb_r"), mrN = a.label();
  a.mov(rdi, DST).mov(ecx, 4).mov(rax, 0xcccc_cccc_cccc_ccccn).rep().stosq();
  mon.arm(ACT.SKIP, { len: skipOver(mr, mrN) });
  a.mov(rsi, P_SECRET - 16).mov(rdi, DST).mov(ecx, 32);
  a.bind(mr).rep().movsb();
  a.bind(mrN);
  mon.expectOne(
    `${S} REP MOVSB reading on into the no-access page: intercepted`,
    0,
    P_SECRET,
    P_SECRET,
  );
  a.mov(r13, rcx).xor(r13, 16).mov(r14, rsi).mov(rax, P_SECRET).xor(r14, rax).or(r13, r14);
  a.mov(r14, qword(DST + 16)).xor(r14, qword(DST + 24)).or(r13, r14);
  a.mov(r14, qword(DST + 16)).mov(rax, 0xcccc_cccc_cccc_ccccn).xor(r14, rax).or(r13, r14);
  a.mov(r14, qword(DST + 8)).mov(rax, 0x0101_0101_0101_0101n).xor(r14, rax).or(r13, r14);
  mon.eq(
    `${S} REP MOVSB stopped at the boundary (RCX 16, RSI = page): no secret byte copied`,
    r13,
    0,
  );

  const mw = a.label("rep_movsb_w"), mwN = a.label();
  a.mov(rdi, SRC).mov(ecx, 4).mov(rax, 0x3333_3333_3333_3333n).rep().stosq();
  mon.arm(ACT.SKIP, { len: skipOver(mw, mwN) });
  a.mov(rsi, SRC).mov(rdi, P_SECRET - 16).mov(ecx, 32);
  a.bind(mw).rep().movsb();
  a.bind(mwN);
  mon.expectOne(
    `${S} REP MOVSB writing on into the no-access page: intercepted`,
    1,
    P_SECRET,
    P_SECRET,
  );
  a.mov(r13, rcx).xor(r13, 16).mov(r14, rdi).mov(rax, P_SECRET).xor(r14, rax).or(r13, r14);
  a.mov(r14, qword(P_SECRET - 8)).mov(rax, 0x3333_3333_3333_3333n).xor(r14, rax).or(r13, r14);
  mon.eq(
    `${S} REP MOVSB stopped at the boundary (RCX 16, RDI = page): only allowed-page elements done`,
    r13,
    0,
  );

  // ---- instruction fetches: VTL1 injects #GP ------------------------------------------------------
  for (const [what, target] of [["no-access", P_SECRET + 0x40], ["R", P_RO + 0x40]] as const) {
    mon.arm(ACT.INJECT, { event: exceptionEvent(13, 0) });
    k.expectFault(0, `${S} jump into the ${what} page: VTL1 injected #GP`, 13, () => {
      a.mov(rax, target).jmp(rax);
    });
    mon.expectOne(`${S} fetch from the ${what} page: intercepted (execute)`, 2, target, target);
  }

  // ---- page walks through protected page tables ---------------------------------------------------
  // A PML4 in a no-access page: the fetch after MOV CR3 walks it; VTL1 restores CR3.
  const wk = a.label("walk_cr3");
  a.mov(r13, cr3);
  mon.arm(ACT.SETREG, { name: REG.CR3, val: r13 });
  a.mov(rax, P_PT).mov(cr3, rax);
  a.bind(wk).mov(r14, cr3);
  mon.expectOne(`${S} fetch walking a PML4 in a no-access page: intercepted (read)`, 0, P_PT, wk);
  a.xor(r14, r13).movzx(eax, qword(MSG + 16 + 45).withSize(1)).xor(eax, 1).or(r14, rax);
  mon.eq(
    `${S} walk intercept: MemoryAccessInfo GvaValid only; VTL1 restored CR3 and VTL0 went on`,
    r14,
    0,
  );
  // Page tables of VTL0's own PD pointing into protected pages.
  a.mov(rax, cr3).and(rax, -4096).mov(rax, qword(rax)).and(rax, -4096); // PDPT
  a.mov(rax, qword(rax)).and(rax, -4096); // PD
  a.mov(rcx, P_PT3 | 3).mov(qword(rax, 100 * 8), rcx).mov(rcx, P_RO2 | 3).mov(
    qword(rax, 101 * 8),
    rcx,
  );
  a.i("invlpg", qword(LIN_PT3)).i("invlpg", qword(LIN_RO2));
  const w3 = a.label("walk_pt"), w3N = a.label();
  mon.arm(ACT.SKIP, { len: skipOver(w3, w3N) });
  a.mov(rax, 0x4444);
  a.bind(w3).mov(rax, qword(LIN_PT3));
  a.bind(w3N).mov(r13, rax);
  mon.expectOne(
    `${S} load through a PT in a no-access page: the walk is intercepted (read)`,
    0,
    P_PT3,
    LIN_PT3,
  );
  mon.eq(`${S} the walk did not use the protected PTE (load skipped, register kept)`, r13, 0x4444);
  const w4 = a.label("walk_ad"), w4N = a.label();
  mon.arm(ACT.SKIP, { len: skipOver(w4, w4N) });
  a.mov(rax, 0x5555);
  a.bind(w4).mov(rax, qword(LIN_RO2));
  a.bind(w4N).mov(r13, rax);
  mon.expectOne(
    `${S} load through a PT in an R page: setting its accessed bit is intercepted (write)`,
    1,
    P_RO2,
    LIN_RO2,
  );
  a.mov(r14, qword(P_RO2)).xor(r14, P_OK | 0x07).xor(r13, 0x5555).or(r13, r14);
  mon.eq(`${S} the read-only PTE keeps its accessed bit clear; the load was skipped`, r13, 0);

  // ---- hypercalls with input or output in protected pages (TLFS §3.7) ----------------------------
  a.mov(rdi, PAGES.output).mov(ecx, 4).mov(rax, 0x7777).rep().stosq();
  k.hypercall(0, HC.GET_REGS_1, P_SECRET, PAGES.output);
  a.mov(r13, rax).xor(r13, ST.ACCESS_DENIED).mov(r14, qword(PAGES.output)).xor(r14, 0x7777);
  a.or(r13, r14);
  mon.eq("§3.7 GetVpRegisters with its input in the no-access page -> ACCESS_DENIED", r13, 0);
  a.mov(rdi, PAGES.input).mov(qword(rdi), -1).mov(dword(rdi, 8), 0xfffffffe).mov(dword(rdi, 12), 0);
  a.mov(qword(rdi, 16), REG.VSM_VP_STATUS);
  k.hypercall(0, HC.GET_REGS_1, PAGES.input, P_SECRET);
  a.mov(r13, rax).xor(r13, ST.ACCESS_DENIED);
  k.hypercall(0, HC.GET_REGS_1, PAGES.input, P_RO + 0x100);
  a.xor(rax, ST.ACCESS_DENIED).or(r13, rax).or(r13, qword(P_RO + 0x100));
  mon.eq(
    "§3.7 GetVpRegisters with its output in the no-access or R page -> ACCESS_DENIED, 0 reps, nothing written",
    r13,
    0,
  );
  k.hypercall(0, HC.GET_REGS_1, MON_IN, PAGES.output);
  mon.eq(
    "§3.7 input in VTL1's protected hypercall input page -> ACCESS_DENIED",
    rax,
    ST.ACCESS_DENIED,
  );

  // ---- hypercalls aimed at VTL1 --------------------------------------------------------------------
  mon.getReg0(REG.RIP, 0x11);
  a.mov(r13, rax).xor(r13, ST.ACCESS_DENIED);
  mon.setReg0(REG.RIP, P_OK, 0x11);
  a.xor(rax, ST.ACCESS_DENIED).or(r13, rax);
  mon.setReg0(REG.VSM_PARTITION_CONFIG, 0, 0x11);
  a.xor(rax, ST.ACCESS_DENIED).or(r13, rax);
  mon.eq(
    "§7.10.1 Get/SetVpRegisters of VTL1 (RIP, VsmPartitionConfig) from VTL0 -> ACCESS_DENIED",
    r13,
    0,
  );
  a.mov(rdi, PAGES.input).mov(qword(rdi), -1).mov(dword(rdi, 8), 0xfffffffe).mov(dword(rdi, 12), 0);
  a.mov(rax, 1n | (0x11n << 56n)).mov(qword(rdi, 16), rax).mov(qword(rdi, 24), P_SECRET >>> 12);
  k.hypercall(0, 0x52, PAGES.input, PAGES.output);
  mon.eq(
    "§9.4.6 TranslateVirtualAddress in VTL1's context from VTL0 -> ACCESS_DENIED",
    rax,
    ST.ACCESS_DENIED,
  );
  mon.stray(0x31);
  k.hypercall(0, 0x1000b, 0x31n | (0x11n << 32n), 1); // fast: vector 0x31, VTL1, VP 0
  mon.eq(
    "§10.5.2 SendSyntheticClusterIpi to VTL1 from VTL0 -> ACCESS_DENIED",
    rax,
    ST.ACCESS_DENIED,
  );
  a.mov(rdi, PAGES.input).mov(qword(rdi), -1).mov(rax, 0xfn | (0x11n << 32n));
  a.mov(qword(rdi, 8), rax).mov(qword(rdi, 16), P_SECRET >>> 12);
  k.hypercall(0, 0x0000_0001_0000_000cn, PAGES.input, 0);
  a.mov(r13, rax).xor(r13, ST.ACCESS_DENIED);
  a.mov(rax, 0xfn | (0x10n << 32n)).mov(qword(rdi, 8), rax);
  k.hypercall(0, 0x0000_0001_0000_000cn, PAGES.input, 0);
  a.xor(rax, ST.INVALID_PARAMETER).or(r13, rax);
  mon.eq(
    "§15.15.2 VTL0 lifting the protection (TargetVtl 1 / 0) -> ACCESS_DENIED / INVALID_PARAMETER",
    r13,
    0,
  );
  a.mov(rsi, k.enableVpInput(0xfffffffe, evil, 0x3e0000)).mov(rdi, PAGES.input);
  a.mov(ecx, 30).rep().movsq();
  k.hypercall(0, 0x0f, PAGES.input, 0);
  mon.eq(
    "§15.15.4 EnableVpVtl(VTL1) again to replace VTL1's context -> VTL_ALREADY_ENABLED",
    rax,
    0x86,
  );

  // ---- VTL1's account ------------------------------------------------------------------------------
  mon.req(REQ.PEEK, P_SECRET);
  a.mov(r13, qword(V.result)).mov(rax, SECRET).xor(r13, rax);
  mon.eq("§15.9 VTL1's secret is intact", r13, 0);
  a.mov(r13, qword(V.count)).xor(r13, ISOLATION_FAULTS.memory);
  a.or(r13, qword(V.stray)).or(r13, qword(V.spurious));
  mon.eq(
    `§15.9.2 VTL1 received exactly ${ISOLATION_FAULTS.memory} intercepts, no stray interrupt or entry`,
    r13,
    0,
  );
  a.jmp(k.finish);
  // What VTL0 would have VTL1 run.
  a.bind(evil);
  k.say("FAIL VTL1 runs code VTL0 chose\n");
  a.i("inc", qword(k.failCount)).jmp(k.finish);

  mon.emit();
  return k.build();
}
