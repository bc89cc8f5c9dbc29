/**
 * `mb-lapic` (64-bit long mode): the local APIC from the guest side, after the Intel SDM Vol. 3A
 * ch. 11 (10 in older editions) and the checks of kvm-unit-tests x86/apic.c:
 *
 * - IA32_APIC_BASE (BSP, enabled, 0xfee00000), version register, SVR;
 * - the timer (§11.5.4) in one-shot mode (fires once, after initial count × divisor APIC
 *   ticks; a zero initial count stops it; a masked LVT counts without interrupting), with the
 *   divide configuration, in periodic mode (exact periods, current count reloads), mode changes
 *   between one-shot and periodic keep the count running (as KVM and QEMU do), and TSC-deadline
 *   mode (§11.5.4.1: fires when the TSC reaches IA32_TSC_DEADLINE, which then reads 0; writing 0
 *   disarms; initial-count writes are ignored; outside that mode the MSR reads 0 and ignores
 *   writes); APIC and TSC frequencies come from the Hyper-V frequency MSRs;
 * - task and processor priority (§11.8.3): TPR classes block lower or equal classes, PPR
 *   follows TPR and the in-service class, CR8 is TPR[7:4]; IRR/ISR; EOI; delivery in priority
 *   order; nesting of a higher-class interrupt; the in-service vector blocks its class;
 * - x2APIC mode (§11.12): the MSR interface (ID, LDR, TPR, SELF IPI, ICR, EOI, timer), #GP for
 *   reads of write-only registers and bad EOI writes, and the illegal x2APIC → xAPIC transition.
 */

import { dword, mem } from "../asm.ts";
import { eax, ecx, edx, rax, reg } from "../asm/operands.ts";
import { EOI_LAPIC, EOI_NONE, KV, type MbKernel, MbKit } from "./kit.ts";

const T = { id: 0x02, ver: 0x03, tpr: 0x08, ppr: 0x0a, eoi: 0x0b, svr: 0x0f, isr: 0x10 } as const;
const IRR = 0x20, LVT_T = 0x32, TMICT = 0x38, TMCCT = 0x39, TDCR = 0x3e;

export function buildMbLapic(): MbKernel {
  const k = new MbKit("mb-lapic", { bits: 64 });
  const a = k.a;
  a.bits(64);
  const v = (bytes = 4) => dword(k.var(bytes));
  /** eax = TSC low dword. */
  const tsc = () => a.rdtsc();
  const save = (m: ReturnType<typeof dword>) => a.mov(m, eax);
  const selfIpi = (vector: number) => k.ipi(0x40000 | vector, 0);
  const allowIrqs = (ticks: number) => {
    a.sti();
    k.delay(ticks);
    a.cli();
  };
  /** eax = bit `vector` of the IRR/ISR/TMR bank at `base` (0 or 1). */
  const bankBit = (base: number, vector: number) => {
    k.apicRead(base + (vector >>> 5));
    a.shr(eax, vector & 31).and(eax, 1);
  };
  const stamps = k.var(64), nStamps = k.var(4);
  const stampHook = a.label(), skipH = a.label();
  a.jmp(skipH).bind(stampHook);
  {
    const full = a.label();
    a.mov(ecx, dword(nStamps)).cmp(ecx, 16).jae(full);
    a.rdtsc().mov(dword(mem(null, k.r.cx, 4, stamps)), eax);
    a.i("inc", dword(nStamps));
    a.bind(full).ret();
  }
  a.bind(skipH);
  const stampsAt = (i: number) => dword(stamps + 4 * i);
  for (
    const vec of [0x45, 0x50, 0x51, 0x52, 0x55, 0x58, 0x59, 0x5f, 0x65, 0x66, 0x67, 0x71, 0x85]
  ) {
    k.eoiKind(vec, EOI_LAPIC);
  }
  k.hook(0x51, stampHook);

  // ---- identification and frequencies -----------------------------------------------------------
  a.mov(ecx, 0x1b).rdmsr();
  k.expectEq("IA32_APIC_BASE = 0xfee00900 (BSP, enabled)", eax, 0xfee00900);
  k.apicRead(T.id);
  k.expectEq("APIC ID register = 0 on the BSP", eax, 0);
  k.apicRead(T.ver);
  k.expectMask("version register: integrated APIC (0x1x)", eax, 0xf0, 0x10);
  k.check(
    "version register: at least 5 LVT entries (max LVT >= 4)",
    () => {
      a.shr(eax, 16).and(eax, 0xff).cmp(eax, 4);
    },
    "b",
    eax,
  );
  a.mov(eax, 0x40000003).cpuid();
  k.expectMask("CPUID 0x40000003: frequency MSRs available (EAX bit 11)", eax, 0x800, 0x800);
  const tscHz = v(), apicHz = v(), ratio = v();
  a.mov(ecx, 0x40000022).rdmsr();
  save(tscHz);
  a.mov(ecx, 0x40000023).rdmsr();
  save(apicHz);
  a.mov(eax, tscHz).xor(edx, edx).div(apicHz).mov(ratio, eax);
  k.showDec("lapic: TSC ", tscHz, " Hz, ");
  k.showDec("APIC timer ", apicHz, " Hz\n");
  k.check("TSC frequency is a multiple of the APIC timer frequency", () => {
    a.mov(eax, tscHz).xor(edx, edx).div(apicHz).test(edx, edx);
  }, "nz");
  k.lapicOn();
  k.apicRead(T.svr);
  k.expectEq("SVR reads back 0x1ff (enabled, spurious vector 0xff)", eax, 0x1ff);

  /** eax = (measured - count × divisor × ratio), for range checks. */
  const lateness = (
    measured: ReturnType<typeof dword>,
    start: ReturnType<typeof dword>,
    ticks: number,
  ) => {
    a.mov(eax, ticks).imul(eax, ratio).mov(ecx, eax);
    a.mov(eax, measured).sub(eax, start).sub(eax, ecx);
  };

  // ---- one-shot ------------------------------------------------------------------------------------
  const t0 = v(), ccr1 = v(), ccr2 = v();
  k.apicWrite(TDCR, 0x0b); // divide by 1
  k.apicRead(TDCR);
  k.expectEq("divide configuration reads back 0xb (divide by 1)", eax, 0x0b);
  k.apicWrite(LVT_T, 0x50);
  tsc();
  save(t0);
  k.apicWrite(TMICT, 10_000);
  k.apicRead(TMCCT);
  save(ccr1);
  k.delay(20_000);
  k.apicRead(TMCCT);
  save(ccr2);
  a.sti();
  k.spinUntil(() => a.cmp(k.count(0x50), 1), "ae", 400_000);
  a.cli();
  k.expectRange("one-shot: current count starts at the initial count", ccr1, 9_900, 10_000);
  k.check("one-shot: current count decreases", () => a.mov(eax, ccr2).cmp(eax, ccr1), "ae", ccr2);
  k.expectEq("one-shot: the interrupt arrives", k.count(0x50), 1);
  lateness(dword(KV.tsc + 0x50 * 8), t0, 10_000);
  k.expectRange("one-shot: after 10000 APIC ticks (in TSC ticks, + entry latency)", eax, 0, 400);
  allowIrqs(300_000);
  k.expectEq("one-shot: fires only once", k.count(0x50), 1);
  k.apicRead(TMCCT);
  k.expectEq("one-shot: current count 0 after expiry", eax, 0);
  // Divide by 16.
  k.apicWrite(TDCR, 0x03);
  k.apicRead(TDCR);
  k.expectEq("divide configuration reads back 0x3 (divide by 16)", eax, 0x03);
  tsc();
  save(t0);
  k.apicWrite(TMICT, 1_000);
  a.sti();
  k.spinUntil(() => a.cmp(k.count(0x50), 2), "ae", 400_000);
  a.cli();
  lateness(dword(KV.tsc + 0x50 * 8), t0, 16_000);
  k.expectRange("divide by 16: fires after 1000 x 16 APIC ticks", eax, 0, 400);
  // A zero initial count stops the timer (§11.5.4).
  k.apicWrite(TDCR, 0x0b);
  k.apicWrite(TMICT, 10_000);
  k.apicWrite(TMICT, 0);
  allowIrqs(200_000);
  k.expectEq("initial count 0 stops a running one-shot", k.count(0x50), 2);
  k.apicRead(TMCCT);
  k.expectEq("stopped timer: current count 0", eax, 0);
  // Masked LVT: counts, no interrupt.
  k.apicWrite(LVT_T, 0x10050);
  k.apicWrite(TMICT, 2_000);
  allowIrqs(100_000);
  k.expectEq("masked LVT timer: no interrupt", k.count(0x50), 2);
  k.apicRead(TMCCT);
  k.expectEq("masked LVT timer: still counted down to 0", eax, 0);
  k.apicRead(IRR + 2);
  k.expectMask("masked LVT timer: nothing in the IRR", eax, 1 << 16, 0);

  // ---- periodic ------------------------------------------------------------------------------------
  k.apicWrite(LVT_T, 0x20051);
  k.apicRead(LVT_T);
  k.expectEq("LVT timer reads back periodic mode, vector 0x51", eax, 0x20051);
  tsc();
  save(t0);
  k.apicWrite(TMICT, 5_000);
  a.sti();
  k.spinUntil(() => a.cmp(k.count(0x51), 4), "ae", 1_000_000);
  a.cli();
  k.expectEq("periodic: four interrupts", k.count(0x51), 4);
  lateness(stampsAt(0), t0, 5_000);
  k.expectRange("periodic: first period", eax, 0, 400);
  for (let i = 1; i < 4; i++) {
    lateness(stampsAt(i), stampsAt(i - 1), 5_000);
    a.add(eax, 100);
    k.expectRange(`periodic: period ${i + 1} is exactly 5000 APIC ticks (+-100 TSC)`, eax, 0, 200);
  }
  k.apicRead(TMCCT);
  k.expectRange("periodic: current count reloads (1..5000)", eax, 1, 5_000);
  k.apicRead(TMICT);
  k.expectEq("periodic: initial count unchanged", eax, 5_000);
  // One-shot <-> periodic keeps the count running (KVM, QEMU; kvm-unit-tests
  // test_apic_change_mode); only TSC-deadline transitions disarm (SDM 11.5.4.1).
  const n0 = v(), n1 = v(), n2 = v();
  k.apicWrite(TMICT, 0);
  allowIrqs(1_000);
  a.mov(eax, k.count(0x51)).mov(n0, eax);
  k.apicWrite(LVT_T, 0x51);
  k.apicWrite(TMICT, 5_000);
  k.delay(25_000);
  k.apicWrite(LVT_T, 0x20051);
  k.apicRead(TMICT);
  k.expectEq("one-shot -> periodic: initial count kept", eax, 5_000);
  allowIrqs(130_000);
  a.mov(eax, k.count(0x51)).sub(eax, n0);
  k.expectRange("one-shot -> periodic mid-count: the timer fires and reloads", eax, 2, 3);
  k.apicWrite(LVT_T, 0x51);
  k.apicRead(TMICT);
  k.expectEq("periodic -> one-shot: initial count kept", eax, 5_000);
  allowIrqs(100_000);
  a.mov(eax, k.count(0x51)).mov(n1, eax);
  allowIrqs(100_000);
  a.mov(eax, k.count(0x51)).mov(n2, eax);
  k.expectSame("periodic -> one-shot: no reload after the running count expires", n2, n1);
  k.apicRead(TMCCT);
  k.expectEq("periodic -> one-shot: current count 0 after expiry", eax, 0);
  k.apicWrite(TMICT, 0);
  k.apicWrite(LVT_T, 0x10051);

  // ---- TPR, PPR, ISR, EOI ----------------------------------------------------------------------------
  k.apicWrite(T.tpr, 0x60);
  selfIpi(0x55);
  allowIrqs(2_000);
  k.expectEq("TPR 0x60 blocks vector 0x55", k.count(0x55), 0);
  bankBit(IRR, 0x55);
  k.expectEq("the blocked vector waits in the IRR", eax, 1);
  k.apicRead(T.ppr);
  k.expectEq("PPR = TPR (0x60) with nothing in service", eax, 0x60);
  k.apicWrite(T.tpr, 0x50);
  allowIrqs(2_000);
  k.expectEq("TPR 0x50 blocks vector 0x55 (same class)", k.count(0x55), 0);
  k.apicWrite(T.tpr, 0x4f);
  allowIrqs(2_000);
  k.expectEq("TPR 0x4f lets vector 0x55 through", k.count(0x55), 1);
  bankBit(IRR, 0x55);
  k.expectEq("delivered: IRR bit clear", eax, 0);
  // CR8 is TPR[7:4] (§11.8.6).
  a.mov(eax, 7).mov(reg("cr8"), rax);
  k.apicRead(T.tpr);
  k.expectEq("MOV CR8, 7 sets TPR to 0x70", eax, 0x70);
  k.apicWrite(T.tpr, 0x30);
  a.mov(rax, reg("cr8"));
  k.expectEq("TPR 0x30 reads as CR8 = 3", eax, 3);
  k.apicWrite(T.tpr, 0);
  // Delivery in priority order.
  selfIpi(0x45);
  selfIpi(0x85);
  selfIpi(0x65);
  const logAt = v();
  a.mov(eax, dword(KV.logIdx)).mov(logAt, eax);
  allowIrqs(2_000);
  const logEntry = (i: number) => {
    a.mov(ecx, logAt).add(ecx, i).and(ecx, 255).mov(eax, dword(mem(null, k.r.cx, 4, KV.log)));
  };
  const expectLog = (name: string, entries: number[]) => {
    entries.forEach((vec, i) => {
      logEntry(i);
      k.expectEq(`${name} (#${i + 1} = 0x${vec.toString(16)})`, eax, vec);
    });
  };
  expectLog("pending vectors are delivered highest first", [0x85, 0x65, 0x45]);
  // In service: PPR follows the ISR; a higher class nests, a lower one waits for the EOI.
  const isrIn = v(), pprIn = v(), n52In = v(), n71In = v(), isrAfter = v();
  const h61 = a.label(), skip61 = a.label();
  a.jmp(skip61).bind(h61);
  bankBit(T.isr, 0x61);
  save(isrIn);
  k.apicRead(T.ppr);
  save(pprIn);
  selfIpi(0x52);
  selfIpi(0x71);
  a.sti().nop().nop().nop().cli();
  a.mov(eax, k.count(0x52)).mov(n52In, eax);
  a.mov(eax, k.count(0x71)).mov(n71In, eax);
  k.apicWrite(T.eoi, 0);
  bankBit(T.isr, 0x61);
  save(isrAfter);
  a.ret().bind(skip61);
  k.hook(0x61, h61).eoiKind(0x61, EOI_NONE);
  a.mov(eax, dword(KV.logIdx)).mov(logAt, eax);
  selfIpi(0x61);
  allowIrqs(2_000);
  k.expectEq("in the handler: ISR bit of 0x61 set", isrIn, 1);
  k.expectEq("in the handler: PPR = 0x60 (in-service class)", pprIn, 0x60);
  k.expectEq("in service 0x61: vector 0x52 waits", n52In, 0);
  k.expectEq("in service 0x61: vector 0x71 nests", n71In, 1);
  k.expectEq("EOI clears the ISR bit", isrAfter, 0);
  k.expectEq("after the EOI the waiting vector 0x52 is delivered", k.count(0x52), 1);
  expectLog("nesting order", [0x61, 0x71, 0x52]);
  k.apicRead(T.isr + 2);
  k.expectEq("ISR empty at the end", eax, 0);

  // ---- TSC-deadline mode -----------------------------------------------------------------------------
  a.mov(eax, 1).cpuid().mov(eax, ecx);
  k.expectMask("CPUID.01H:ECX: TSC-deadline timer supported (bit 24)", eax, 1 << 24, 1 << 24);
  const dl = v(), rb = v();
  const writeDeadline = (delta: number) => {
    a.rdtsc();
    if (delta >= 0) a.add(eax, delta).adc(edx, 0);
    else a.sub(eax, -delta).sbb(edx, 0);
    a.mov(dl, eax).mov(ecx, 0x6e0).wrmsr();
  };
  k.apicWrite(LVT_T, 0x40058);
  k.apicRead(LVT_T);
  k.expectEq("LVT timer reads back TSC-deadline mode (bits 18:17 = 10)", eax, 0x40058);
  writeDeadline(100_000);
  a.mov(ecx, 0x6e0).rdmsr();
  save(rb);
  k.apicWrite(TMICT, 1234);
  k.apicRead(TMICT);
  k.expectEq("TSC-deadline mode: initial-count writes are ignored", eax, 0);
  k.expectSame("IA32_TSC_DEADLINE reads back the armed deadline", rb, dl);
  a.sti();
  k.spinUntil(() => a.cmp(k.count(0x58), 1), "ae", 400_000);
  a.cli();
  k.expectEq("TSC-deadline: the interrupt arrives", k.count(0x58), 1);
  a.mov(eax, dword(KV.tsc + 0x58 * 8)).sub(eax, dl);
  k.expectRange("TSC-deadline: fires when TSC >= deadline (+ entry latency)", eax, 0, 200);
  a.mov(ecx, 0x6e0).rdmsr();
  k.expectEq("TSC-deadline: the MSR reads 0 after the interrupt", eax, 0);
  writeDeadline(50_000);
  a.xor(eax, eax).xor(edx, edx).mov(ecx, 0x6e0).wrmsr();
  allowIrqs(150_000);
  k.expectEq("TSC-deadline: writing 0 disarms", k.count(0x58), 1);
  writeDeadline(-1000);
  allowIrqs(1_000);
  k.expectEq("TSC-deadline: a deadline in the past fires at once", k.count(0x58), 2);
  writeDeadline(50_000);
  k.apicWrite(LVT_T, 0x58); // to one-shot: disarms
  allowIrqs(150_000);
  k.expectEq("leaving TSC-deadline mode disarms the timer", k.count(0x58), 2);
  writeDeadline(50_000);
  a.mov(ecx, 0x6e0).rdmsr();
  k.expectEq("one-shot mode: IA32_TSC_DEADLINE reads 0 (writes ignored)", eax, 0);
  allowIrqs(150_000);
  k.expectEq("one-shot mode: an IA32_TSC_DEADLINE write arms nothing", k.count(0x58), 2);
  k.apicWrite(LVT_T, 0x10058);

  // ---- x2APIC ----------------------------------------------------------------------------------------
  a.mov(eax, 1).cpuid().mov(eax, ecx);
  k.expectMask("CPUID.01H:ECX: x2APIC supported (bit 21)", eax, 1 << 21, 1 << 21);
  a.mov(ecx, 0x1b).rdmsr().or(eax, 0x400).wrmsr();
  a.mov(ecx, 0x1b).rdmsr();
  k.expectEq("IA32_APIC_BASE: x2APIC enabled (EXTD)", eax, 0xfee00d00);
  const rdm = (msr: number) => a.mov(ecx, msr).rdmsr();
  const wrm = (msr: number, lo: number) => a.mov(ecx, msr).mov(eax, lo).xor(edx, edx).wrmsr();
  rdm(0x802);
  k.expectEq("x2APIC ID (MSR 0x802) = 0", eax, 0);
  rdm(0x80d);
  k.expectEq("x2APIC LDR (MSR 0x80d) = cluster 0, bit 0", eax, 1);
  rdm(0x80f);
  k.expectEq("SVR kept across the switch", eax, 0x1ff);
  wrm(0x808, 0x20);
  rdm(0x808);
  k.expectEq("x2APIC TPR (MSR 0x808) reads back", eax, 0x20);
  wrm(0x808, 0);
  wrm(0x83f, 0x66);
  allowIrqs(1_000);
  k.expectEq("x2APIC SELF IPI (MSR 0x83f) delivers vector 0x66", k.count(0x66), 1);
  a.mov(ecx, 0x830).mov(eax, 0x4067).xor(edx, edx).wrmsr(); // fixed, physical, to APIC ID 0
  allowIrqs(1_000);
  k.expectEq("x2APIC ICR (MSR 0x830) to APIC ID 0 delivers vector 0x67", k.count(0x67), 1);
  wrm(0x83e, 0x0b);
  wrm(0x832, 0x59);
  tsc();
  save(t0);
  wrm(0x838, 3_000);
  a.sti();
  k.spinUntil(() => a.cmp(k.count(0x59), 1), "ae", 200_000);
  a.cli();
  k.expectEq("x2APIC timer (MSRs 0x832/0x838/0x83e) fires", k.count(0x59), 1);
  lateness(dword(KV.tsc + 0x59 * 8), t0, 3_000);
  k.expectRange("x2APIC timer: after 3000 APIC ticks", eax, 0, 400);
  rdm(0x839);
  k.expectEq("x2APIC current count (MSR 0x839) = 0 after expiry", eax, 0);
  k.expectFault("x2APIC: RDMSR of EOI (write-only) raises #GP", 13, () => rdm(0x80b), { err: 0 });
  k.expectFault("x2APIC: WRMSR EOI with a non-zero value raises #GP", 13, () => wrm(0x80b, 1), {
    err: 0,
  });
  k.expectFault("x2APIC: RDMSR of a reserved register (0x801) raises #GP", 13, () => rdm(0x801));
  k.expectFault("x2APIC: WRMSR to the read-only ID register raises #GP", 13, () => wrm(0x802, 5));
  k.expectFault("x2APIC -> xAPIC without disabling raises #GP (SDM 11.12.5)", 13, () => {
    a.mov(ecx, 0x1b).mov(eax, 0xfee00900).xor(edx, edx).wrmsr();
  });
  // Disable, then back to xAPIC.
  a.mov(ecx, 0x1b).mov(eax, 0xfee00100).xor(edx, edx).wrmsr();
  a.mov(ecx, 0x1b).rdmsr();
  k.expectEq("IA32_APIC_BASE: globally disabled", eax, 0xfee00100);
  a.mov(eax, 0xfee00030).mov(eax, dword(rax));
  k.expectEq("disabled APIC: MMIO reads all-ones", eax, 0xffffffff);
  a.mov(ecx, 0x1b).mov(eax, 0xfee00900).xor(edx, edx).wrmsr();
  k.apicRead(T.ver);
  k.expectMask("re-enabled in xAPIC mode: version register readable", eax, 0xf0, 0x10);
  return k.build();
}
