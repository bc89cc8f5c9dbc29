/**
 * Scenario: per-VTL local APICs and cross-VTL interrupts (TLFS §15.12, §15.12.2, §15.12.4,
 * §15.8.1; spec/vsm.md §4.4-4.6). VTL0 and VTL1 each run their own x2APIC (same APIC ID,
 * separate register state, timers and IPIs); an interrupt for VTL1 preempts VTL0 whatever its
 * RFLAGS.IF, one for VTL0 waits while VTL1 runs, and VINA tells VTL1 about it.
 */

import { Kit, PAGES } from "../kit.ts";
import { byte, dword, eax, type Label, qword, r13, r14, rax, rcx, rdx } from "../asm.ts";
import type { BuiltinGuest } from "../demo.ts";
import { getReg, rdmsr64, REG, repResult, setGate, setReg, Vtl1Server } from "./vsm_util.ts";

const VAR = PAGES.scratch + 0xf0000;
const REQ = VAR;
const CNT0_TIMER = VAR + 0x08, CNT1_TIMER = VAR + 0x10, CNT1_VINA = VAR + 0x18;
const CNT0_IPI = VAR + 0x20, CNT1_IPI = VAR + 0x28, LAST_REASON = VAR + 0x30;
const INTR_ENTRIES = VAR + 0x38, CNT1_VINA2 = VAR + 0x40;
/** Results VTL1 leaves for VTL0 to check. */
const R = (i: number) => VAR + 0x100 + i * 8;

const MSR_APIC_BASE = 0x1b, X2_ID = 0x802, X2_TPR = 0x808, X2_EOI = 0x80b, X2_SVR = 0x80f;
const X2_PPR = 0x80a, HV_ICR = 0x40000071, HV_TPR = 0x40000072;
const X2_ICR = 0x830, X2_LVT_TIMER = 0x832, X2_TIMER_INIT = 0x838, X2_TIMER_DIV = 0x83e;
const V0_TIMER = 0x40, V0_IPI = 0x41, V0_IPI2 = 0x42, V1_TIMER = 0x60, V1_IPI = 0x61;
const V_VINA = 0x70;

export function buildVsmInterrupts(): BuiltinGuest {
  const k = new Kit("vsm-interrupts");
  const a = k.a;
  const srv = new Vtl1Server(k, REQ);
  const h0timer = a.label(), h0ipi = a.label(), h1timer = a.label(), h1ipi = a.label();
  const h1vina = a.label(), h1vina2 = a.label();

  /** Arms this VTL's x2APIC timer: one-shot, divide by 1, `ticks` × 10 instructions. */
  const armTimer = (vector: number, ticks: number) => {
    k.wrmsr(X2_TIMER_DIV, 0xb);
    k.wrmsr(X2_LVT_TIMER, vector);
    k.wrmsr(X2_TIMER_INIT, ticks);
  };
  /** Spins (RFLAGS.IF unchanged) until the qword at `addr` is nonzero, at most `n` rounds. */
  const spinUntil = (addr: number, n: number) => {
    const l = a.label(), out = a.label();
    a.mov(r13, n).bind(l).cmp(qword(addr), 0).jne(out).pause().dec(r13).jnz(l).bind(out);
  };
  const spin = (n: number) => {
    const l = a.label();
    a.mov(r13, n).bind(l).pause().dec(r13).jnz(l);
  };
  /** Opens an interrupt window of a few instructions. */
  const window = () => void a.sti().nop().nop().cli();
  const x2apicOn = () => {
    k.wrmsr(MSR_APIC_BASE, 0xfee00c00); // EN | EXTD
    k.wrmsr(X2_SVR, 0x1ff);
  };

  // --- VTL0 setup ----------------------------------------------------------------------------
  a.cli();
  k.hvInit(0);
  setGate(k, 0, V0_TIMER, h0timer);
  setGate(k, 0, V0_IPI, h0ipi);
  setGate(k, 0, V0_IPI2, h0ipi);
  k.enableVtl1();
  x2apicOn();
  rdmsr64(k, X2_ID);
  k.expectEq("§15.12 VTL0's x2APIC ID on VP0 is 0", rax, 0);
  k.wrmsr(X2_TPR, 0x20);
  srv.call(0); // VTL1 initialises (checks its own APIC state)
  rdmsr64(k, X2_TPR);
  k.expectEq("§15.12 VTL0's TPR unaffected by VTL1's APIC programming", rax, 0x20);
  k.wrmsr(X2_TPR, 0);
  k.expectEq("VTL1 saw a reset APIC base (xAPIC mode, enabled, BSP)", qword(R(0)), 0xfee00900);
  k.expectEq("§15.12 VTL1's APIC has its own SVR (reset value 0xFF)", qword(R(1)), 0xff);
  k.expectEq("§15.12 VTL1's TPR is its own (0, not VTL0's 0x20)", qword(R(2)), 0);
  k.expectEq("§15.12 the x2APIC ID is the same in VTL1 (0)", qword(R(3)), 0);

  // --- VTL1 timer preempts VTL0 with IF = 0 (TLFS §15.12.2) -----------------------------------
  srv.call(2); // VTL1 arms its timer
  a.mov(rax, 0x1234abcd).mov(r14, 0x5555);
  spinUntil(CNT1_TIMER, 200000);
  k.expectEq("§15.12.2 VTL1's timer preempts VTL0 spinning with RFLAGS.IF=0", qword(CNT1_TIMER), 1);
  k.expectEq("§15.8.1 VTL1 entered with entry reason Interrupt (2)", qword(LAST_REASON), 2);
  k.expectEq("§15.7.1 VTL0's RAX restored after the interrupt entry", rax, 0x1234abcd);
  k.expectEq("§15.11 VTL0's other registers intact after the interrupt entry", r14, 0x5555);
  a.pushfq().pop(rax).and(rax, 0x200);
  k.expectEq("§15.12.2 VTL0's RFLAGS.IF still 0 after being preempted", rax, 0);
  k.expectEq("§15.12 VTL0 received no interrupt", qword(CNT0_TIMER), 0);

  // --- Preemption of a halted VTL0 -------------------------------------------------------------
  srv.call(2);
  a.hlt();
  k.expectEq(
    "§15.12.2 a halted VTL0 (IF=0) is preempted and resumes after HLT",
    qword(CNT1_TIMER),
    2,
  );
  k.expectEq("§15.8.1 two interrupt entries so far", qword(INTR_ENTRIES), 2);

  // --- Only the target VTL's TPR holds a higher-VTL interrupt pending --------------------------
  srv.call(3); // VTL1: TPR 0x70, arms its timer (vector 0x60 is masked by the TPR)
  spin(20000);
  k.expectEq("§15.12.2 VTL1's TPR holds its timer pending: no preemption", qword(CNT1_TIMER), 2);
  srv.call(4); // VTL1 lowers its TPR and takes the interrupt
  k.expectEq("§15.12.2 VTL1 takes its pending timer after lowering TPR", qword(CNT1_TIMER), 3);
  k.expectEq("§15.8.1 that entry's reason was VtlCall (1)", qword(R(4)), 1);

  // --- A VTL0 interrupt never preempts VTL1 -------------------------------------------------------
  armTimer(V0_TIMER, 100);
  srv.call(5); // VTL1 spins with IF=1 well past VTL0's timer
  k.expectEq("§15.12.2 VTL0's timer did not interrupt VTL1", qword(R(5)), 0);
  k.expectEq("§15.12.2 VTL0's timer did not reach VTL1's handlers", qword(R(6)), 3);
  k.expectEq("§15.12 VTL0 had not taken it either (IF=0)", qword(CNT0_TIMER), 0);
  window();
  k.expectEq("§15.12.2 VTL0 takes its timer interrupt after VTL1 returns", qword(CNT0_TIMER), 1);

  // --- IPIs stay within a VTL ----------------------------------------------------------------------
  k.wrmsr(X2_ICR, V0_IPI | (1 << 18)); // self-IPI in VTL0, left pending (IF=0)
  srv.call(6);
  k.expectEq("§15.12 VTL0's self-IPI does not reach VTL1", qword(R(7)), 0);
  k.expectEq("§15.12 VTL1's physical IPI to APIC ID 0 reaches VTL1's APIC", qword(R(8)), 1);
  k.expectEq("§15.12 VTL1's IPI did not reach VTL0", qword(CNT0_IPI), 0);
  window();
  k.expectEq("§15.12 VTL0 takes its own self-IPI", qword(CNT0_IPI), 1);
  k.expectEq("§15.12 VTL1's IPI count unchanged by VTL0", qword(CNT1_IPI), 1);

  // --- VINA (TLFS §15.12.4) -----------------------------------------------------------------------------
  srv.call(7); // VTL1 configures VINA: vector 0x70, Enabled, AutoReset
  k.expectEq(
    "§15.12.4 SetVpRegisters(HvRegisterVsmVina) from VTL1 succeeds",
    qword(R(9)),
    repResult(0, 1),
  );
  k.expectEq("§15.12.4 HvRegisterVsmVina reads back vector|Enabled|AutoReset", qword(R(10)), 0x370);
  armTimer(V0_TIMER, 100);
  srv.call(8); // VTL1 waits for VINA, then gets a second VTL0 interrupt
  k.expectEq("§15.12.4 a VTL0 interrupt raises the VINA vector in VTL1", qword(R(11)), 1);
  k.expectEq("§15.12.4 VinaAsserted set in VTL1's VP assist page", qword(R(12)), 1);
  k.expectEq("§15.12.4 EOI of the VINA vector does not clear VinaAsserted", qword(R(13)), 1);
  k.expectEq(
    "§10.5.2 VTL1 sends an IPI to VTL0 with HvCallSendSyntheticClusterIpi",
    qword(R(14)),
    0,
  );
  k.expectEq("§15.12.4 a second VTL0 interrupt raises no second VINA", qword(R(15)), 1);
  k.expectEq("§15.12.2 VTL0's interrupts stayed pending while VTL1 ran", qword(CNT0_TIMER), 1);
  window();
  k.expectEq("§15.12 VTL0 takes its timer after VTL1 returns", qword(CNT0_TIMER), 2);
  k.expectEq("§15.12 VTL0 takes VTL1's synthetic IPI after VTL1 returns", qword(CNT0_IPI), 2);
  srv.call(9);
  k.expectEq("§15.12.4 AutoReset cleared VinaAsserted (at VTL return, OpenVMM)", qword(R(16)), 0);
  k.expectEq("§15.12.4 no VINA on an entry with nothing pending in VTL0", qword(CNT1_VINA), 1);
  // Without AutoReset: VinaAsserted stays until VTL1 clears it.
  srv.call(10); // VINA: Enabled, no AutoReset
  k.wrmsr(X2_ICR, V0_IPI | (1 << 18)); // pending in VTL0
  srv.call(11);
  k.expectEq("§15.12.4 entering VTL1 with a VTL0 interrupt pending raises VINA", qword(R(17)), 2);
  srv.call(12);
  k.expectEq("§15.12.4 without AutoReset VinaAsserted survives the return", qword(R(18)), 1);
  k.expectEq("§15.12.4 no new VINA while VinaAsserted is set", qword(R(19)), 2);
  k.expectEq(
    "§15.12.4 after VTL1 clears VinaAsserted a new VTL0 interrupt raises VINA",
    qword(R(20)),
    3,
  );
  window();
  k.expectEq("§15.12 VTL0 then takes both pending IPIs", qword(CNT0_IPI), 4);
  srv.call(13); // VINA disabled
  k.wrmsr(X2_ICR, V0_IPI | (1 << 18));
  srv.call(14);
  k.expectEq("§15.12.4 VINA disabled: no notification", qword(R(21)), 3);
  window();
  k.expectEq("§15.12 VTL0's last IPI delivered", qword(CNT0_IPI), 5);
  srv.call(15);
  k.expectEq("§10.5.2 SendSyntheticClusterIpi from VTL1 to VTL2 -> ACCESS_DENIED", qword(R(22)), 6);
  k.hypercall(0, 0x1000b, BigInt(V1_IPI) | (0x11n << 32n), 1);
  k.expectEq("§10.5.2 SendSyntheticClusterIpi from VTL0 to VTL1 -> ACCESS_DENIED", rax, 6);
  k.expectEq("§10.5.2 the denied IPI reached no VTL1 handler", qword(CNT1_IPI), 1);
  // VINA with AutoEoi (its handler does not EOI), and the synthetic APIC MSRs (TLFS §10.4).
  srv.call(16);
  k.wrmsr(X2_ICR, V0_IPI | (1 << 18));
  srv.call(17);
  k.expectEq("§15.12.4 VINA with AutoEoi raised vector 0x71", qword(CNT1_VINA2), 1);
  k.expectEq("§15.12.4 ... delivered without an EOI: nothing in service (PPR 0)", qword(R(23)), 0);
  k.expectEq("§10.4 HV_X64_MSR_TPR writes VTL1's own TPR", qword(R(24)), 0x30);
  k.expectEq("§10.4 HV_X64_MSR_ICR self-IPI reaches VTL1's handler", qword(R(25)), 2);
  k.expectEq("§10.4 HV_X64_MSR_ICR reads back the command", qword(R(26)), V1_IPI | (1 << 18));
  rdmsr64(k, X2_TPR);
  k.expectEq("§10.4 VTL0's TPR untouched by VTL1's HV_X64_MSR_TPR write", rax, 0);
  window();
  k.expectEq("§15.12 VTL0 takes its pending IPI", qword(CNT0_IPI), 6);
  a.jmp(k.finish);

  // --- Handlers (both VTLs use x2APIC EOI) ------------------------------------------------------
  const handler = (l: Label, counter: number, eoi = true) => {
    a.bind(l).push(rax).push(rcx).push(rdx);
    a.i("inc", qword(counter));
    if (eoi) {
      a.mov(rcx, X2_EOI).xor(rax, rax).xor(rdx, rdx).wrmsr();
    }
    a.pop(rdx).pop(rcx).pop(rax).iretq();
  };
  handler(h0timer, CNT0_TIMER);
  handler(h0ipi, CNT0_IPI);
  handler(h1timer, CNT1_TIMER);
  handler(h1ipi, CNT1_IPI);
  handler(h1vina, CNT1_VINA);
  handler(h1vina2, CNT1_VINA2, false);

  // --- VTL1 -----------------------------------------------------------------------------------------
  srv.init(() => {
    k.hvInit(1);
    k.wrmsr(0x40000073, PAGES.assist1 | 1);
    setGate(k, 1, V1_TIMER, h1timer);
    setGate(k, 1, V1_IPI, h1ipi);
    setGate(k, 1, V_VINA, h1vina);
    setGate(k, 1, V_VINA + 1, h1vina2);
    rdmsr64(k, MSR_APIC_BASE);
    a.mov(qword(R(0)), rax);
    k.wrmsr(MSR_APIC_BASE, 0xfee00c00);
    rdmsr64(k, X2_SVR);
    a.mov(qword(R(1)), rax);
    rdmsr64(k, X2_TPR);
    a.mov(qword(R(2)), rax);
    k.wrmsr(X2_SVR, 0x1ff);
    rdmsr64(k, X2_ID);
    a.mov(qword(R(3)), rax);
  });
  srv.onInterrupt(() => {
    a.mov(eax, dword(PAGES.assist1 + 8)).mov(qword(LAST_REASON), rax);
    a.i("inc", qword(INTR_ENTRIES));
    window();
  });
  srv.on(2, () => armTimer(V1_TIMER, 300));
  srv.on(3, () => {
    k.wrmsr(X2_TPR, 0x70);
    armTimer(V1_TIMER, 100);
  });
  srv.on(4, () => {
    a.mov(eax, dword(PAGES.assist1 + 8)).mov(qword(R(4)), rax);
    k.wrmsr(X2_TPR, 0);
    window();
  });
  srv.on(5, () => {
    a.sti();
    spin(20000);
    a.cli();
    a.mov(rax, qword(CNT0_TIMER)).mov(qword(R(5)), rax);
    a.mov(rax, qword(CNT1_TIMER)).mov(qword(R(6)), rax);
  });
  srv.on(6, () => {
    window();
    a.mov(rax, qword(CNT0_IPI)).mov(qword(R(7)), rax);
    a.mov(rcx, X2_ICR).mov(rax, V1_IPI).mov(rdx, 0).wrmsr(); // physical, destination 0
    window();
    a.mov(rax, qword(CNT1_IPI)).mov(qword(R(8)), rax);
  });
  srv.on(7, () => {
    setReg(k, 1, REG.VSM_VINA, V_VINA | 0x100 | 0x200);
    a.mov(qword(R(9)), rax);
    getReg(k, 1, REG.VSM_VINA);
    a.mov(rax, qword(PAGES.output)).mov(qword(R(10)), rax);
  });
  const vinaBit = () => {
    a.movzx(rax, byte(PAGES.assist1 + 0xc)).and(rax, 1);
  };
  srv.on(8, () => {
    a.sti();
    spinUntil(CNT1_VINA, 100000);
    a.cli();
    a.mov(rax, qword(CNT1_VINA)).mov(qword(R(11)), rax);
    vinaBit();
    a.mov(qword(R(12)), rax);
    vinaBit(); // the handler EOI'd already
    a.mov(qword(R(13)), rax);
    // A second VTL0 interrupt: HvCallSendSyntheticClusterIpi, fast, to VTL0 (UseTargetVtl).
    k.hypercall(1, 0x1000b, BigInt(V0_IPI2) | (0x10n << 32n), 1);
    a.mov(qword(R(14)), rax);
    a.sti();
    spin(2000);
    a.cli();
    a.mov(rax, qword(CNT1_VINA)).mov(qword(R(15)), rax);
  });
  srv.on(9, () => {
    vinaBit();
    a.mov(qword(R(16)), rax);
  });
  srv.on(10, () => setReg(k, 1, REG.VSM_VINA, V_VINA | 0x100));
  srv.on(11, () => {
    window();
    a.mov(rax, qword(CNT1_VINA)).mov(qword(R(17)), rax);
  });
  srv.on(12, () => {
    vinaBit();
    a.mov(qword(R(18)), rax);
    window();
    a.mov(rax, qword(CNT1_VINA)).mov(qword(R(19)), rax);
    a.mov(byte(PAGES.assist1 + 0xc), 0);
    k.hypercall(1, 0x1000b, BigInt(V0_IPI2) | (0x10n << 32n), 1);
    window();
    a.mov(rax, qword(CNT1_VINA)).mov(qword(R(20)), rax);
  });
  srv.on(13, () => setReg(k, 1, REG.VSM_VINA, V_VINA | 0x200));
  srv.on(14, () => {
    window();
    a.mov(rax, qword(CNT1_VINA)).mov(qword(R(21)), rax);
  });
  srv.on(15, () => {
    // From VTL1 to VTL2 (above the caller).
    k.hypercall(1, 0x1000b, BigInt(V1_IPI) | (0x12n << 32n), 1);
    a.mov(qword(R(22)), rax);
  });
  srv.on(16, () => setReg(k, 1, REG.VSM_VINA, (V_VINA + 1) | 0x100 | 0x200 | 0x400));
  srv.on(17, () => {
    window();
    rdmsr64(k, X2_PPR);
    a.mov(qword(R(23)), rax);
    setReg(k, 1, REG.VSM_VINA, 0);
    k.wrmsr(HV_TPR, 0x30);
    rdmsr64(k, X2_TPR);
    a.mov(qword(R(24)), rax);
    k.wrmsr(HV_TPR, 0);
    k.wrmsr(HV_ICR, V1_IPI | (1 << 18));
    window();
    a.mov(rax, qword(CNT1_IPI)).mov(qword(R(25)), rax);
    rdmsr64(k, HV_ICR);
    a.mov(qword(R(26)), rax);
  });
  srv.emit();
  return k.build();
}
