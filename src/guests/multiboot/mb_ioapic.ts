/**
 * `mb-ioapic` (64-bit long mode): the I/O APIC routing ISA interrupts, after the 82093AA data
 * sheet (§3.2.4 redirection table), the ICH I/O APIC (version 0x20: EOI register at +0x40) and
 * QEMU's ioapic.c:
 *
 * - ID, version (0x20, 24 entries) and arbitration registers; the ID matches the MADT; all
 *   entries come up masked; the writable fields of an entry read back;
 * - PIT IRQ0 arrives at GSI 2 as the MADT interrupt source override says (and not at GSI 0):
 *   edge-triggered, fixed, physical and logical destination, lowest priority; periods follow
 *   the PIT count; masking stops delivery, unmasking resumes it;
 * - RTC IRQ8 level-triggered (GSI 8): Remote IRR set while the interrupt is in service, the
 *   vector's LAPIC TMR bit set, an EOI with the line still asserted re-delivers, Remote IRR
 *   clears on the EOI after the line drops (register C read), the directed EOI register clears
 *   Remote IRR, and unmasking an asserted level entry delivers it.
 */

import { dword, mem } from "../asm.ts";
import { al, eax, ecx } from "../asm/operands.ts";
import { EOI_LAPIC, EOI_NONE, type MbKernel, MbKit } from "./kit.ts";
import {
  cmosRead,
  cmosWrite,
  discover,
  ioapicRead,
  ioapicRoute,
  ioapicWrite,
  PV,
} from "./platform.ts";

const PIT_VEC = 0x50, RTC_VEC = 0x58, GSI0_VEC = 0x5e;
/** PIT count used for IRQ0 (≈ 83.8 µs at 1.193182 MHz). */
const PIT_COUNT = 100;

export function buildMbIoapic(): MbKernel {
  const k = new MbKit("mb-ioapic", { bits: 64 });
  const a = k.a, r = k.r;
  a.bits(64);
  const v = () => dword(k.var(4));
  discover(k);
  k.lapicOn();
  for (const vec of [PIT_VEC, GSI0_VEC]) k.eoiKind(vec, EOI_LAPIC);
  k.expectEq("MADT: ISA IRQ0 is overridden to GSI 2", dword(PV.irq0Gsi), 2);
  k.expectEq("MADT: IRQ0 override flags conforming (0)", dword(PV.irq0Flags), 0);

  // ---- registers -----------------------------------------------------------------------------------
  ioapicRead(k, 0x00);
  a.shr(eax, 24);
  k.expectSame("ID register (bits 27:24) = the MADT I/O APIC ID", eax, dword(PV.ioapicId));
  ioapicRead(k, 0x01);
  k.expectEq("version register: 0x00170020 (version 0x20, 24 entries)", eax, 0x00170020);
  ioapicWrite(k, 0x00, 0x0f000000);
  ioapicRead(k, 0x00);
  k.expectEq("ID register is writable", eax, 0x0f000000);
  ioapicRead(k, 0x02);
  k.expectEq("arbitration register follows the ID", eax, 0x0f000000);
  a.mov(eax, dword(PV.ioapicId)).shl(eax, 24);
  ioapicWrite(k, 0x00, eax);
  const masked = v();
  for (let pin = 0; pin < 24; pin++) {
    ioapicRead(k, 0x10 + 2 * pin);
    a.shr(eax, 16).and(eax, 1).add(masked, eax);
  }
  k.expectEq("all 24 redirection entries come up masked", masked, 24);
  ioapicRoute(k, 10, 0x0001a0f5, 0x07000000);
  ioapicRead(k, 0x10 + 20);
  k.expectEq("RTE writable fields read back (mask, level, low, vector 0xf5)", eax, 0x0001a0f5);
  ioapicRead(k, 0x11 + 20);
  k.expectEq("RTE destination reads back", eax, 0x07000000);
  ioapicRoute(k, 10, 0x10000, 0);

  // ---- PIT IRQ0 at GSI 2 -------------------------------------------------------------------------------
  const stamps = k.var(64), nStamps = k.var(4);
  const stampHook = a.label(), skipH = a.label();
  a.jmp(skipH).bind(stampHook);
  {
    const full = a.label();
    a.mov(ecx, dword(nStamps)).cmp(ecx, 16).jae(full);
    a.rdtsc().mov(dword(mem(null, r.cx, 4, stamps)), eax).i("inc", dword(nStamps));
    a.bind(full).ret();
  }
  a.bind(skipH);
  k.hook(PIT_VEC, stampHook);
  ioapicRoute(k, 0, GSI0_VEC, 0); // GSI 0: nothing is wired to it
  ioapicRoute(k, 2, PIT_VEC, 0); // edge, high, fixed, physical, APIC ID 0
  // PIT channel 0, mode 2 (rate generator), binary, LSB then MSB.
  a.mov(al, 0x34).out(0x43, al).mov(al, PIT_COUNT).out(0x40, al).mov(al, 0).out(0x40, al);
  k.waitCount(k.count(PIT_VEC), 4);
  k.expectEq("PIT IRQ0 -> GSI 2: interrupts arrive", k.count(PIT_VEC), 4);
  // Period: PIT_COUNT ticks of 1/1193182 s, in TSC ticks (tscHz from the Hyper-V MSR).
  const period = v();
  a.mov(ecx, 0x40000022).rdmsr().mov(ecx, PIT_COUNT).mul(ecx).mov(ecx, 1193182).div(ecx);
  a.mov(period, eax);
  for (let i = 1; i < 4; i++) {
    a.mov(eax, dword(stamps + 4 * i)).sub(eax, dword(stamps + 4 * (i - 1))).sub(eax, period);
    a.add(eax, 100);
    k.expectRange(`PIT IRQ0 period ${i}: ${PIT_COUNT} PIT ticks (+-100 TSC)`, eax, 0, 200);
  }
  k.expectEq("GSI 0 gets nothing from the PIT", k.count(GSI0_VEC), 0);
  // Masking stops delivery; unmasking resumes it.
  const n0 = v(), n1 = v();
  ioapicRoute(k, 2, 0x10000 | PIT_VEC, 0);
  a.mov(eax, k.count(PIT_VEC)).mov(n0, eax);
  a.sti();
  k.delay(400_000);
  a.cli();
  a.mov(eax, k.count(PIT_VEC)).sub(eax, n0).mov(n1, eax);
  k.expectEq("masked GSI 2: no interrupts for ~5 PIT periods", n1, 0);
  ioapicRoute(k, 2, PIT_VEC, 0);
  a.mov(eax, k.count(PIT_VEC)).add(eax, 2).mov(n0, eax);
  k.waitIrq(() => a.mov(eax, k.count(PIT_VEC)).cmp(eax, n0), "ae");
  k.check(
    "unmasked again: delivery resumes",
    () => {
      a.mov(eax, k.count(PIT_VEC)).cmp(eax, n0);
    },
    "b",
    k.count(PIT_VEC),
  );
  // Logical destination (flat model, BSP LDR bit 0) and lowest priority.
  k.apicWrite(0x0e, 0xffffffff).apicWrite(0x0d, 0x01000000);
  const route = (name: string, lo: number, hi: number, delivered: boolean) => {
    ioapicRoute(k, 2, lo, hi);
    a.mov(eax, k.count(PIT_VEC)).mov(n0, eax);
    a.sti();
    k.delay(300_000);
    a.cli();
    a.mov(eax, k.count(PIT_VEC)).sub(eax, n0);
    if (delivered) k.expectRange(name, eax, 2, 5);
    else k.expectEq(name, eax, 0);
  };
  route(
    "logical destination 0x01 (the BSP's LDR bit) is delivered",
    0x800 | PIT_VEC,
    0x01000000,
    true,
  );
  route("logical destination 0x02 (nobody) is not delivered", 0x800 | PIT_VEC, 0x02000000, false);
  route("lowest priority, logical 0x01, is delivered", 0x900 | PIT_VEC, 0x01000000, true);
  route("physical destination APIC ID 1 (absent) is not delivered", PIT_VEC, 0x01000000, false);
  ioapicRoute(k, 2, 0x10000 | PIT_VEC, 0);
  a.mov(al, 0x30).out(0x43, al); // channel 0 mode 0, no count: counting stops
  ioapicRoute(k, 0, 0x10000 | GSI0_VEC, 0);

  // ---- RTC IRQ8, level-triggered -------------------------------------------------------------------------
  const rirr1 = v(), tmr1 = v(), rirr2 = v(), rirrAfterEoiReg = v();
  const rtcHook = a.label(), skipR = a.label();
  a.jmp(skipR).bind(rtcHook);
  {
    const second = a.label(), third = a.label(), fourth = a.label(), done = a.label();
    const nHere = () => a.mov(eax, k.count(RTC_VEC));
    nHere();
    a.cmp(eax, 1).jne(second);
    // First delivery: in service with the line still asserted (register C not read).
    ioapicRead(k, 0x10 + 16);
    a.mov(rirr1, eax);
    k.apicRead(0x18 + (RTC_VEC >>> 5));
    a.mov(tmr1, eax);
    k.apicWrite(0x0b, 0); // EOI: the line is still up, so the IOAPIC delivers again
    a.jmp(done);
    a.bind(second);
    a.cmp(eax, 2).jne(third);
    ioapicRead(k, 0x10 + 16);
    a.mov(rirr2, eax);
    cmosRead(k, 0x0c); // clears IRQF: the line drops
    cmosWrite(k, 0x0b, 0x02); // periodic interrupt off
    k.apicWrite(0x0b, 0);
    a.jmp(done);
    a.bind(third);
    a.cmp(eax, 3).jne(fourth);
    cmosRead(k, 0x0c);
    cmosWrite(k, 0x0b, 0x02);
    // The directed EOI register (+0x40) clears Remote IRR for the vector.
    a.mov(eax, 0xfec00040).mov(dword(r.ax), RTC_VEC);
    ioapicRead(k, 0x10 + 16);
    a.mov(rirrAfterEoiReg, eax);
    k.apicWrite(0x0b, 0);
    a.jmp(done);
    a.bind(fourth);
    cmosRead(k, 0x0c);
    cmosWrite(k, 0x0b, 0x02);
    k.apicWrite(0x0b, 0);
    a.bind(done).ret();
  }
  a.bind(skipR);
  k.hook(RTC_VEC, rtcHook).eoiKind(RTC_VEC, EOI_NONE);
  cmosRead(k, 0x0c);
  ioapicRoute(k, 8, 0x8000 | RTC_VEC, 0); // level, active high, fixed, APIC ID 0
  cmosWrite(k, 0x0a, 0x23); // 32.768 kHz divider, rate 3 = 8192 Hz
  cmosWrite(k, 0x0b, 0x42); // PIE, 24-hour
  k.waitCount(k.count(RTC_VEC), 2);
  a.sti();
  k.delay(300_000);
  a.cli();
  k.expectMask("level: Remote IRR set while in service", rirr1, 1 << 14, 1 << 14);
  k.expectMask(
    "level: the vector's TMR bit is set in the LAPIC",
    tmr1,
    1 << (RTC_VEC & 31),
    1 << (RTC_VEC & 31),
  );
  k.expectEq("level: EOI with the line still asserted re-delivers", k.count(RTC_VEC), 2);
  k.expectMask("level: Remote IRR set again on the re-delivery", rirr2, 1 << 14, 1 << 14);
  ioapicRead(k, 0x10 + 16);
  k.expectMask("level: Remote IRR clear after the line dropped and EOI", eax, 1 << 14, 0);
  cmosWrite(k, 0x0b, 0x42);
  k.waitCount(k.count(RTC_VEC), 3);
  k.expectMask("IOAPIC EOI register clears Remote IRR", rirrAfterEoiReg, 1 << 14, 0);
  // Masked while asserted, then unmasked: delivered at once.
  const nm = v();
  ioapicRoute(k, 8, 0x18000 | RTC_VEC, 0);
  cmosWrite(k, 0x0b, 0x42);
  a.sti();
  k.delay(400_000);
  a.cli();
  a.mov(eax, k.count(RTC_VEC)).mov(nm, eax);
  k.expectEq("level, masked: not delivered while the line is up", nm, 3);
  ioapicRoute(k, 8, 0x8000 | RTC_VEC, 0);
  a.sti().nop().nop().cli();
  k.expectEq("level: unmasking an asserted entry delivers it", k.count(RTC_VEC), 4);
  ioapicRoute(k, 8, 0x10000 | RTC_VEC, 0);
  cmosWrite(k, 0x0b, 0x02);
  cmosRead(k, 0x0c);
  return k.build();
}
