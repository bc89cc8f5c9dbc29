/**
 * Scenario: the SynIC and synthetic timers, per VTL (TLFS §11 SynIC, §12 timers, §15.11; spec/vsm.md
 * §7.1-7.2): MSR reset values and #GP cases, SIM/SIEF overlay pages (separate per VTL), SINT
 * configuration, one-shot / periodic / direct-mode timers, HvMessageTypeTimerExpired contents,
 * MessagePending and EOM redelivery, AutoEnable, count 0, masked and AutoEOI SINTs, reference time.
 */

import { Kit, PAGES } from "../kit.ts";
import {
  byte,
  dword,
  eax,
  edx,
  type Label,
  qword,
  r13,
  r14,
  r15,
  rax,
  rcx,
  rdi,
  rdx,
  rsi,
} from "../asm.ts";
import type { BuiltinGuest } from "../demo.ts";
import { rdmsr64, setGate, Vtl1Server } from "./vsm_util.ts";

const VAR = PAGES.scratch + 0xf0000;
const REQ = VAR;
const NOCLEAR = VAR + 0x08, CNT_DIRECT = VAR + 0x10, EXPIRY = VAR + 0x18;
const T0 = VAR + 0x20;
/** Per-(VTL, SINT) record written by the SINT handlers. */
const REC = (vtl: number, s: number) => VAR + 0x1000 + vtl * 0x800 + s * 0x80;
const RC = 0x00, RTYPE = 0x08, RSIZE = 0x10, RFLAGS = 0x18, RINDEX = 0x20, REXP = 0x28;
const RDELIV = 0x30, RREF = 0x38, RISR = 0x40;
/** Periodic expirations (SINT3 of VTL0). */
const PER = (i: number) => VAR + 0x400 + i * 8;
const R = (i: number) => VAR + 0x200 + i * 8;

const SCONTROL = 0x40000080, SVERSION = 0x40000081, SIEFP = 0x40000082, SIMP = 0x40000083;
const EOM = 0x40000084, SINT0 = 0x40000090, HV_EOI = 0x40000070, TIME_REF = 0x40000020;
const STIMER_CONFIG = (n: number) => 0x400000b0 + 2 * n;
const STIMER_COUNT = (n: number) => 0x400000b1 + 2 * n;
const ENABLED = 1, PERIODIC = 2, AUTO_ENABLE = 8, DIRECT = 0x1000;
const SINTX = (s: number) => s << 16;
const TIMER_EXPIRED = 0x80000010;
const PATTERN0 = 0xdeadbeef, PATTERN1 = 0x0feedface;

export function buildVsmSynic(): BuiltinGuest {
  const k = new Kit("vsm-synic");
  const a = k.a;
  const srv = new Vtl1Server(k, REQ);

  const rd = (msr: number) => rdmsr64(k, msr);
  const expectMsr = (name: string, msr: number, v: number | bigint) => {
    rd(msr);
    k.expectEq(name, rax, v);
  };
  /** rax = reference time now. */
  const now = () => rd(TIME_REF);
  /** Arms STIMERn: CONFIG = cfg, then COUNT = now + rel (absolute, kept at EXPIRY) or `abs`. */
  const armRel = (n: number, cfg: number, rel: number) => {
    k.wrmsr(STIMER_CONFIG(n), cfg & ~ENABLED); // disarmed while COUNT changes
    now();
    a.add(rax, rel).mov(qword(EXPIRY), rax).mov(rdx, rax).shr(rdx, 32);
    a.mov(rcx, STIMER_COUNT(n)).wrmsr();
    if (cfg & ENABLED) k.wrmsr(STIMER_CONFIG(n), cfg);
  };
  /** Waits (RFLAGS.IF as it is) until reference time reaches now + rel. */
  const waitRef = (rel: number) => {
    now();
    a.lea(r15, qword(rax, rel));
    const l = a.here();
    now();
    a.cmp(rax, r15).jb(l);
  };
  const spinUntil = (addr: number, n: number) => {
    const l = a.label(), out = a.label();
    a.mov(r13, n).bind(l).cmp(qword(addr), 0).jne(out).pause().dec(r13).jnz(l).bind(out);
  };

  /** A SINT handler of VTL `vtl` for SINT `s`: records the slot's message, clears it, EOIs. */
  const sintHandler = (vtl: 0 | 1, s: number, opts: { autoEoi?: boolean } = {}): Label => {
    const l = a.label(), simp = vtl === 0 ? PAGES.simp0 : PAGES.simp1, rec = REC(vtl, s);
    const vector = (vtl === 0 ? 0x50 : 0x60) + s;
    a.bind(l).push(rax).push(rcx).push(rdx).push(rsi).push(rdi);
    a.mov(rsi, simp + s * 256).mov(rdi, rec);
    a.mov(eax, dword(rsi)).mov(qword(rdi, RTYPE), rax);
    a.movzx(eax, byte(rsi, 4)).mov(qword(rdi, RSIZE), rax);
    a.movzx(eax, byte(rsi, 5)).mov(qword(rdi, RFLAGS), rax);
    a.mov(eax, dword(rsi, 16)).mov(qword(rdi, RINDEX), rax);
    a.mov(rax, qword(rsi, 24)).mov(qword(rdi, REXP), rax);
    if (vtl === 0 && s === 3) {
      a.mov(rcx, qword(rdi, RC)).and(rcx, 7).mov(qword(null, rcx, 8, PER(0)), rax);
    }
    a.mov(rax, qword(rsi, 32)).mov(qword(rdi, RDELIV), rax);
    a.mov(rcx, TIME_REF).rdmsr().shl(rdx, 32).or(rax, rdx).mov(qword(rdi, RREF), rax);
    // ISR bit of our own vector (x2APIC ISR words at 0x810 + n).
    a.mov(rcx, 0x810 + (vector >> 5)).rdmsr().shr(eax, vector & 31).and(eax, 1);
    a.mov(qword(rdi, RISR), rax);
    a.i("inc", qword(rdi, RC));
    const keep = a.label(), noEom = a.label();
    if (vtl === 0 && s === 4) a.cmp(qword(NOCLEAR), 0).jne(keep);
    a.test(byte(rsi, 5), 1);
    a.mov(dword(rsi), 0);
    a.jz(noEom);
    a.mov(rcx, EOM).xor(eax, eax).xor(edx, edx).wrmsr();
    a.bind(noEom).bind(keep);
    if (!opts.autoEoi) a.mov(rcx, HV_EOI).xor(eax, eax).xor(edx, edx).wrmsr();
    a.pop(rdi).pop(rsi).pop(rdx).pop(rcx).pop(rax).iretq();
    return l;
  };

  // --- VTL0 setup: x2APIC, IDT gates -----------------------------------------------------------
  a.cli();
  k.hvInit(0);
  k.wrmsr(0x1b, 0xfee00c00);
  k.wrmsr(0x80f, 0x1ff);
  const direct0 = a.label();
  const handlers0: [number, Label][] = [2, 3, 4, 5, 6].map((
    s,
  ) => [s, a.label()]);
  for (const [s, l] of handlers0) setGate(k, 0, 0x50 + s, l);
  setGate(k, 0, 0x58, direct0);
  // Patterns in the RAM below the SIM/SIEF pages of both VTLs.
  a.mov(rax, PATTERN0).mov(qword(PAGES.simp0), rax).mov(qword(PAGES.siefp0), rax);
  a.mov(qword(PAGES.simp0 + 0x200), rax);
  a.mov(rax, PATTERN1).mov(qword(PAGES.simp1), rax);
  a.mov(qword(PAGES.simp1 + 0x200), rax);

  // --- Reset values (TLFS §11.8, §12) --------------------------------------------------------------
  a.mov(eax, 0x40000003).cpuid().shr(eax, 2).and(eax, 3);
  k.expectEq("§2.4 AccessSynicRegs and AccessSyntheticTimerRegs advertised", eax, 3);
  a.mov(eax, 0x40000003).cpuid().shr(edx, 19).and(edx, 1);
  k.expectEq("§2.4 direct-mode synthetic timers advertised (CPUID 0x40000003 EDX 19)", edx, 1);
  expectMsr("§11.8 SCONTROL resets to 0", SCONTROL, 0);
  expectMsr("§11.8 SVERSION reads 1", SVERSION, 1);
  expectMsr("§11.8 SIEFP resets to 0", SIEFP, 0);
  expectMsr("§11.8 SIMP resets to 0", SIMP, 0);
  expectMsr("§11.8 EOM reads 0", EOM, 0);
  expectMsr("§11.8 SINT0 resets to masked (0x10000)", SINT0, 0x10000);
  expectMsr("§11.8 SINT15 resets to masked (0x10000)", SINT0 + 15, 0x10000);
  expectMsr("§12.2 STIMER0_CONFIG resets to 0", STIMER_CONFIG(0), 0);
  expectMsr("§12.2 STIMER3_COUNT resets to 0", STIMER_COUNT(3), 0);
  // --- #GP cases --------------------------------------------------------------------------------
  k.expectFault(0, "§11.8 writing SVERSION (read-only) raises #GP", 13, () => {
    k.wrmsr(SVERSION, 1);
  });
  k.expectFault(0, "§11.8 SINT with an unmasked vector below 16 raises #GP", 13, () => {
    k.wrmsr(SINT0 + 2, 0x0f);
  });
  expectMsr("§11.8 the rejected SINT write changed nothing", SINT0 + 2, 0x10000);
  k.wrmsr(SINT0 + 7, 0x10000); // masked with vector 0: accepted
  expectMsr("§11.8 masked SINT with vector 0 accepted (the reset value)", SINT0 + 7, 0x10000);
  k.expectFault(0, "§12.2 STIMER CONFIG RsvdZ bit 13 raises #GP", 13, () => {
    k.wrmsr(STIMER_CONFIG(0), 0x2000);
  });
  k.expectFault(0, "§12.2 STIMER CONFIG RsvdZ bits 63:20 raise #GP", 13, () => {
    k.wrmsr(STIMER_CONFIG(1), 1n << 40n);
  });
  k.expectFault(0, "§11.8 SIMP outside guest memory raises #GP", 13, () => {
    k.wrmsr(SIMP, 0x40000001); // GPA 1 GiB: beyond the 64 MiB of RAM
  });
  expectMsr("§11.8 the rejected SIMP write changed nothing", SIMP, 0);
  k.expectFault(0, "§12.4 writing TIME_REF_COUNT (read-only) raises #GP", 13, () => {
    k.wrmsr(TIME_REF, 5);
  });

  // --- Overlay pages (TLFS §11.8.2, §5.2.1) -------------------------------------------------------
  k.wrmsr(SCONTROL, 1);
  expectMsr("§11.8 SCONTROL reads back Enable", SCONTROL, 1);
  k.wrmsr(SIMP, PAGES.simp0 | 1);
  expectMsr("§11.8 SIMP reads back GPFN|Enable", SIMP, PAGES.simp0 | 1);
  k.expectEq("§11.8.2 the SIM page overlay starts zeroed", qword(PAGES.simp0), 0);
  k.expectEq("§11.8.2 ... all of it", qword(PAGES.simp0 + 0x200), 0);
  a.mov(qword(PAGES.simp0 + 0x208), 0x77); // a write to the overlay
  k.wrmsr(SIMP, PAGES.simp0);
  k.expectEq("§5.2.1 disabling SIMP uncovers the RAM below", qword(PAGES.simp0), PATTERN0);
  k.expectEq("§5.2.1 the overlay's writes did not reach the RAM", qword(PAGES.simp0 + 0x208), 0);
  k.wrmsr(SIMP, PAGES.simp0 | 1);
  k.expectEq("§11.8.2 re-enabling SIMP shows a zeroed SIM page again", qword(PAGES.simp0), 0);
  k.wrmsr(SIEFP, PAGES.siefp0 | 1);
  expectMsr("§11.8 SIEFP reads back GPFN|Enable", SIEFP, PAGES.siefp0 | 1);
  k.expectEq("§11.8.3 the SIEF page overlay starts zeroed", qword(PAGES.siefp0), 0);
  // SINTs: 2, 3, 4 normal, 5 masked, 6 AutoEOI.
  for (const s of [2, 3, 4]) k.wrmsr(SINT0 + s, 0x50 + s);
  k.wrmsr(SINT0 + 5, 0x10055);
  k.wrmsr(SINT0 + 6, 0x20056);
  expectMsr("§11.8.4 SINT2 reads back vector 0x52, unmasked", SINT0 + 2, 0x52);
  expectMsr("§11.8.4 SINT6 reads back AutoEOI|0x56", SINT0 + 6, 0x20056);

  // --- Reference time (TLFS §12.4) ------------------------------------------------------------------
  now();
  a.mov(r13, rax);
  a.mov(r14, 1000);
  const l0 = a.here();
  a.dec(r14).jnz(l0);
  now();
  a.sub(rax, r13);
  k.check(
    "§12.4 reference time is monotonic and advances (~20 ticks per 2000 instructions)",
    () => {
      a.sub(rax, 19).cmp(rax, 3);
    },
    "ae",
    rax,
  );
  rd(0x40000022);
  k.expectEq("§12.4 TSC frequency MSR (1 GHz: 100 TSC ticks per 100 ns)", rax, 1_000_000_000);

  // --- One-shot timer -> SINT2 (TLFS §12.2, §11.9) -------------------------------------------------------
  now();
  a.mov(qword(T0), rax);
  armRel(0, ENABLED | SINTX(2), 50);
  expectMsr("§12.2 STIMER0_CONFIG reads back Enabled|SINTx=2", STIMER_CONFIG(0), 0x20001);
  a.sti();
  spinUntil(REC(0, 2) + RC, 100000);
  a.cli();
  const r0 = REC(0, 2);
  k.expectEq("§12.2 one-shot timer expired once", qword(r0 + RC), 1);
  k.expectEq("§11.9 message type HvMessageTypeTimerExpired", qword(r0 + RTYPE), TIMER_EXPIRED);
  k.expectEq("§11.9 timer message payload size 24", qword(r0 + RSIZE), 24);
  k.expectEq("§12.3 TimerIndex 0", qword(r0 + RINDEX), 0);
  a.mov(rax, qword(r0 + REXP));
  k.check("§12.3 ExpirationTime is the COUNT written", () => a.cmp(rax, qword(EXPIRY)), "ne", rax);
  a.mov(rax, qword(r0 + RDELIV)).sub(rax, qword(r0 + REXP));
  k.check("§12.3 DeliveryTime >= ExpirationTime", () => a.cmp(rax, 1000), "ae", rax);
  a.mov(rax, qword(r0 + RREF)).sub(rax, qword(r0 + RDELIV));
  k.check("§12.4 reference time in the handler >= DeliveryTime", () => a.cmp(rax, 1000), "ae", rax);
  expectMsr("§12.2 a one-shot timer disables itself after expiring", STIMER_CONFIG(0), 0x20000);
  rd(STIMER_COUNT(0));
  a.cmp(rax, qword(EXPIRY));
  k.check("§12.2 STIMER0_COUNT keeps the value written", () => {}, "ne");
  k.expectEq("§11.9 the SINT handler cleared the slot", dword(PAGES.simp0 + 2 * 256), 0);

  a.mov(rax, qword(r0 + REXP)).sub(rax, qword(T0));
  k.check("§12.2 the one-shot timer did not fire early", () => a.cmp(rax, 50), "b", rax);

  // --- Periodic timer -> SINT3 ------------------------------------------------------------------------
  now();
  a.mov(qword(T0), rax);
  k.wrmsr(STIMER_CONFIG(1), ENABLED | PERIODIC | SINTX(3));
  k.wrmsr(STIMER_COUNT(1), 100); // period: 100 × 100 ns
  a.sti();
  waitRef(350);
  a.cli();
  rd(STIMER_CONFIG(1));
  a.mov(qword(R(30)), rax);
  k.wrmsr(STIMER_COUNT(1), 0);
  rd(STIMER_CONFIG(1));
  a.mov(qword(R(31)), rax);
  const r3 = REC(0, 3);
  k.expectEq("§12.2 periodic timer expired 3 times in 3.5 periods", qword(r3 + RC), 3);
  k.expectEq("§12.3 periodic timer messages carry TimerIndex 1", qword(r3 + RINDEX), 1);
  a.mov(rax, qword(PER(0))).sub(rax, qword(T0)).sub(rax, 100);
  k.check(
    "§12.2 the first period starts when the timer is enabled",
    () => a.cmp(rax, 2),
    "ae",
    rax,
  );
  a.mov(rax, qword(PER(1))).sub(rax, qword(PER(0)));
  k.expectEq("§12.2 periodic expirations are one period apart (1st-2nd)", rax, 100);
  a.mov(rax, qword(PER(2))).sub(rax, qword(PER(1)));
  k.expectEq("§12.2 periodic expirations are one period apart (2nd-3rd)", rax, 100);
  k.expectEq("§12.2 a periodic timer stays enabled", qword(R(30)), ENABLED | PERIODIC | SINTX(3));
  k.expectEq("§12.2 writing COUNT 0 disables the timer", qword(R(31)), PERIODIC | SINTX(3));
  a.sti();
  waitRef(300);
  a.cli();
  k.expectEq("§12.2 a disabled periodic timer no longer fires", qword(r3 + RC), 3);

  // --- Two timers on one SINT: MessagePending and EOM (TLFS §11.9.3, §11.8.5) ---------------------
  a.mov(qword(NOCLEAR), 1);
  armRel(2, ENABLED | SINTX(4), 30);
  armRel(3, ENABLED | SINTX(4), 40);
  a.sti();
  waitRef(100);
  a.cli();
  const r4 = REC(0, 4), slot4 = PAGES.simp0 + 4 * 256;
  k.expectEq("§11.9.3 first message interrupts once", qword(r4 + RC), 1);
  k.expectEq("§11.9.3 the slot holds timer 2's message", dword(slot4 + 16), 2);
  k.expectEq("§11.9.3 MessagePending set in the occupied slot", byte(slot4 + 5), 1);
  a.mov(qword(NOCLEAR), 0);
  a.mov(dword(slot4), 0);
  k.wrmsr(EOM, 0);
  a.sti().nop().cli();
  k.expectEq("§11.8.5 EOM redelivers the queued message with an interrupt", qword(r4 + RC), 2);
  k.expectEq("§11.9.3 the redelivered message is timer 3's", qword(r4 + RINDEX), 3);
  k.expectEq("§11.9.3 no MessagePending on the last queued message", qword(r4 + RFLAGS), 0);
  a.mov(rax, qword(r4 + RDELIV)).sub(rax, qword(r4 + REXP));
  k.check(
    "§12.3 the queued message's DeliveryTime is later than its expiration",
    () => {
      a.cmp(rax, 40);
    },
    "b",
    rax,
  );
  a.mov(rax, qword(r4 + REXP)).sub(rax, qword(EXPIRY));
  k.expectEq("§12.3 the queued message's ExpirationTime is timer 3's COUNT", rax, 0);

  // --- Direct mode (TLFS §12.2, "direct synthetic timers") ----------------------------------------------
  armRel(0, ENABLED | DIRECT | (0x58 << 4), 20);
  a.sti();
  spinUntil(CNT_DIRECT, 100000);
  a.cli();
  k.expectEq("§12.2 a direct-mode timer interrupts at ApicVector", qword(CNT_DIRECT), 1);
  a.mov(eax, dword(PAGES.simp0)).or(eax, dword(PAGES.simp0 + 2 * 256));
  a.or(eax, dword(PAGES.simp0 + 3 * 256)).or(eax, dword(PAGES.simp0 + 4 * 256));
  k.expectEq("§12.2 a direct-mode timer posts no message", rax, 0);
  expectMsr("§12.2 a direct one-shot disables itself", STIMER_CONFIG(0), DIRECT | (0x58 << 4));

  // --- AutoEnable, count 0, SINTx 0 ---------------------------------------------------------------
  k.wrmsr(STIMER_CONFIG(0), AUTO_ENABLE | SINTX(2));
  expectMsr("§12.2 AutoEnable alone does not enable", STIMER_CONFIG(0), AUTO_ENABLE | SINTX(2));
  armRel(0, AUTO_ENABLE | SINTX(2), 20);
  expectMsr("§12.2 with AutoEnable a COUNT write enables", STIMER_CONFIG(0), 0x20009);
  a.sti();
  waitRef(60);
  a.cli();
  k.expectEq("§12.2 the auto-enabled timer fired", qword(r0 + RC), 2);
  armRel(0, ENABLED | SINTX(2), 30);
  k.wrmsr(STIMER_COUNT(0), 0);
  expectMsr("§12.2 COUNT 0 disables an armed timer", STIMER_CONFIG(0), SINTX(2));
  a.sti();
  waitRef(80);
  a.cli();
  k.expectEq("§12.2 the disarmed timer did not fire", qword(r0 + RC), 2);
  k.wrmsr(STIMER_CONFIG(0), ENABLED);
  expectMsr(
    "§12.2 enabling with SINTx 0 (not direct) marks the timer disabled",
    STIMER_CONFIG(0),
    0,
  );

  // --- Masked and AutoEOI SINTs ----------------------------------------------------------------------
  armRel(1, ENABLED | SINTX(5), 20);
  a.sti();
  waitRef(60);
  a.cli();
  k.expectEq("§11.8.4 a masked SINT raises no interrupt", qword(REC(0, 5) + RC), 0);
  k.expectEq(
    "§11.8.4 ... but the message is in its slot",
    dword(PAGES.simp0 + 5 * 256),
    TIMER_EXPIRED,
  );
  k.expectEq("§11.8.4 ... from timer 1", dword(PAGES.simp0 + 5 * 256 + 16), 1);
  a.mov(dword(PAGES.simp0 + 5 * 256), 0);
  armRel(2, ENABLED | SINTX(6), 20);
  a.sti();
  waitRef(60);
  a.cli();
  k.expectEq("§11.8.4 AutoEOI SINT delivers", qword(REC(0, 6) + RC), 1);
  k.expectEq(
    "§11.8.4 AutoEOI: the vector is not in service in the handler",
    qword(REC(0, 6) + RISR),
    0,
  );
  k.expectEq("§11.8.4 a normal SINT's vector is in service in its handler", qword(r4 + RISR), 1);
  rdmsr64(k, 0x80a);
  k.expectEq("§11.8.4 nothing left in service (PPR 0)", rax, 0);
  k.wrmsr(SINT0 + 7, 0x40057); // Polling
  armRel(1, ENABLED | SINTX(7), 20);
  a.sti();
  waitRef(60);
  a.cli();
  k.expectEq(
    "§11.8.4 a polling SINT gets the message",
    dword(PAGES.simp0 + 7 * 256),
    TIMER_EXPIRED,
  );
  k.expectEq(
    "§11.8.4 ... without an interrupt (vector 0x57 has no gate)",
    qword(REC(0, 5) + RC),
    0,
  );
  a.mov(dword(PAGES.simp0 + 7 * 256), 0);
  // An APIC EOI also rescans the queues (TLFS §11.9.3): clear the slot, EOI, no EOM.
  a.mov(qword(NOCLEAR), 1);
  armRel(2, ENABLED | SINTX(4), 20);
  armRel(3, ENABLED | SINTX(4), 30);
  a.sti();
  waitRef(80);
  a.cli();
  k.expectEq("§11.9.3 first of two queued messages delivered", qword(r4 + RC), 3);
  a.mov(qword(NOCLEAR), 0).mov(dword(slot4), 0);
  k.wrmsr(HV_EOI, 0);
  a.sti().nop().cli();
  k.expectEq(
    "§11.9.3 an EOI (nothing in service) redelivers the queued message",
    qword(r4 + RC),
    4,
  );
  k.expectEq("§11.9.3 ... timer 3's", qword(r4 + RINDEX), 3);

  // --- Per-VTL SynIC (TLFS §15.11) -------------------------------------------------------------------
  k.enableVtl1();
  now();
  a.mov(qword(T0), rax);
  srv.call(0); // VTL1 initialises and checks its own SynIC
  now();
  a.mov(r14, rax).mov(rax, qword(R(6))).sub(rax, qword(T0));
  k.check(
    "§15.11 TIME_REF_COUNT is shared: VTL1's read lies after VTL0's",
    () => {
      a.cmp(rax, 10000);
    },
    "ae",
    rax,
  );
  a.sub(r14, qword(R(6)));
  k.check("§15.11 ... and before VTL0's next read", () => a.cmp(r14, 10000), "ae", r14);
  k.expectEq("§15.11 VTL1's SCONTROL is its own (reset 0)", qword(R(0)), 0);
  k.expectEq("§15.11 VTL1's SIMP is its own (reset 0)", qword(R(1)), 0);
  k.expectEq("§15.11 VTL1's SINT2 is its own (masked)", qword(R(2)), 0x10000);
  k.expectEq("§15.11 VTL1's STIMER1_CONFIG is its own (0)", qword(R(3)), 0);
  k.expectEq(
    "§15.11 VTL1 sees RAM, not VTL0's SIM page, at VTL0's SIMP GPA",
    qword(R(4)),
    PATTERN0,
  );
  k.expectEq("§11.8.2 VTL1's own SIM page starts zeroed", qword(R(5)), 0);
  srv.call(1); // VTL1 arms its timer 0 -> its SINT2, then returns
  spinUntil(REC(1, 2) + RC, 200000); // VTL0 spins with IF=0: VTL1's SINT preempts it
  const r12 = REC(1, 2);
  k.expectEq("§15.12.2 VTL1's timer message interrupt preempts VTL0", qword(r12 + RC), 1);
  k.expectEq(
    "§15.11 the message reached VTL1's SIM page (timer 0)",
    qword(r12 + RTYPE),
    TIMER_EXPIRED,
  );
  k.expectEq(
    "§15.11 VTL0 sees RAM, not VTL1's SIM page, at VTL1's SIMP GPA",
    qword(PAGES.simp1),
    PATTERN1,
  );
  k.expectEq("§15.11 VTL1's timer posted nothing into VTL0's SIM", dword(PAGES.simp0 + 2 * 256), 0);
  k.expectEq("§15.11 VTL0's SINT2 handler did not run for VTL1's timer", qword(r0 + RC), 2);
  expectMsr("§15.11 VTL0's SIMP unchanged by VTL1", SIMP, PAGES.simp0 | 1);
  a.jmp(k.finish);

  // --- Handlers ----------------------------------------------------------------------------------------
  for (const [s, l] of handlers0) {
    const h = sintHandler(0, s, { autoEoi: s === 6 });
    a.bind(l).jmp(h);
  }
  a.bind(direct0).push(rax).push(rcx).push(rdx);
  a.i("inc", qword(CNT_DIRECT));
  a.mov(rcx, HV_EOI).xor(eax, eax).xor(edx, edx).wrmsr();
  a.pop(rdx).pop(rcx).pop(rax).iretq();
  const h12 = sintHandler(1, 2);

  // --- VTL1 ---------------------------------------------------------------------------------------------
  srv.init(() => {
    k.hvInit(1);
    k.wrmsr(0x40000073, PAGES.assist1 | 1);
    k.wrmsr(0x1b, 0xfee00c00);
    k.wrmsr(0x80f, 0x1ff);
    setGate(k, 1, 0x62, h12);
    const save = (i: number, msr: number) => {
      rd(msr);
      a.mov(qword(R(i)), rax);
    };
    save(0, SCONTROL);
    save(1, SIMP);
    save(2, SINT0 + 2);
    save(3, STIMER_CONFIG(1));
    a.mov(rax, qword(PAGES.simp0)).mov(qword(R(4)), rax);
    save(6, TIME_REF);
    k.wrmsr(SCONTROL, 1);
    k.wrmsr(SIMP, PAGES.simp1 | 1);
    k.wrmsr(SINT0 + 2, 0x62);
    a.mov(rax, qword(PAGES.simp1)).mov(qword(R(5)), rax);
  });
  srv.onInterrupt(() => a.sti().nop().cli());
  srv.on(1, () => armRel(0, ENABLED | SINTX(2), 20));
  srv.emit();
  return k.build();
}
