/**
 * `mb-pic` (32-bit protected mode, paging off): the 8259A pair in legacy mode, after the Intel
 * 8259A data sheet (ICW1-ICW4, OCW1-OCW3), the PIIX3 ELCR (ports 0x4d0/0x4d1) and QEMU's
 * i8259.c:
 *
 * - initialisation (vector bases 0x20/0x28, cascade on IRQ2), IMR read-back, the ELCR's
 *   always-edge bits (IRQ0-2, IRQ8, IRQ13);
 * - the PIT's IRQ0 reaching the BSP through LINT0 in ExtINT mode (the "virtual wire"), and with
 *   the local APIC globally disabled; IRR and ISR through OCW3; non-specific and specific EOI;
 *   a masked edge stays in the IRR and is delivered on unmasking; poll mode; auto-EOI;
 * - the slave: RTC IRQ8 → slave IRQ0 → master IRQ2, vector 0x28, with both ISR bits set in the
 *   handler and EOIs to both chips.
 */

import { dword } from "../asm.ts";
import { al, dx, eax, ecx } from "../asm/operands.ts";
import { EOI_NONE, EOI_PIC_BOTH, EOI_PIC_MASTER, type MbKernel, MbKit } from "./kit.ts";
import { cmosRead, cmosWrite } from "./platform.ts";

export function buildMbPic(): MbKernel {
  const k = new MbKit("mb-pic", { bits: 32 });
  const a = k.a;
  a.bits(32);
  const v = () => dword(k.var(4));
  const io = (port: number) => port < 0x100 ? port : (a.mov(dx, port), dx);
  const inb = (port: number) => {
    const x = v();
    a.in_(al, io(port)).movzx(eax, al).mov(x, eax);
    return x;
  };
  const outb = (port: number, val: number) => {
    const p = io(port);
    a.mov(al, val).out(p, al);
  };
  const icw = (icw4: number) => {
    a.mov(al, 0x11).out(0x20, al).out(0xa0, al);
    a.mov(al, 0x20).out(0x21, al).mov(al, 0x28).out(0xa1, al);
    a.mov(al, 0x04).out(0x21, al).mov(al, 0x02).out(0xa1, al);
    a.mov(al, icw4).out(0x21, al).out(0xa1, al);
  };
  const pitRate = (count: number) => {
    a.mov(al, 0x34).out(0x43, al).mov(al, count & 0xff).out(0x40, al);
    a.mov(al, count >>> 8).out(0x40, al);
  };
  const allow = (ticks: number) => {
    a.sti();
    k.delay(ticks);
    a.cli();
  };

  icw(0x01);
  outb(0x21, 0xfe);
  outb(0xa1, 0xff);
  k.expectEq("master IMR reads back 0xfe (OCW1)", inb(0x21), 0xfe);
  k.expectEq("slave IMR reads back 0xff", inb(0xa1), 0xff);
  outb(0x4d0, 0xff);
  outb(0x4d1, 0xff);
  k.expectEq("ELCR1: IRQ0-2 are always edge (reads 0xf8)", inb(0x4d0), 0xf8);
  k.expectEq("ELCR2: IRQ8 and IRQ13 are always edge (reads 0xde)", inb(0x4d1), 0xde);
  outb(0x4d0, 0x00);
  outb(0x4d1, 0x00);
  // The BSP takes the 8259's INTR through LINT0 in ExtINT mode.
  k.lapicOn();
  k.apicWrite(0x35, 0x700);
  k.eoiKind(0x20, EOI_PIC_MASTER);
  pitRate(100);
  k.waitCount(k.count(0x20), 3);
  k.expectEq("PIT IRQ0 -> 8259 -> LINT0 ExtINT: vector 0x20", k.count(0x20), 3);
  // In the handler: ISR bit 0 set; a non-specific EOI clears it.
  const isrIn = v(), isrOut = v(), irrMasked = v();
  const h = a.label(), skip = a.label();
  a.jmp(skip).bind(h);
  outb(0x20, 0x0b); // OCW3: read ISR
  a.in_(al, 0x20).movzx(eax, al).mov(isrIn, eax);
  outb(0x20, 0x20); // non-specific EOI
  a.in_(al, 0x20).movzx(eax, al).mov(isrOut, eax);
  outb(0x20, 0x0a); // OCW3: read IRR again
  a.ret().bind(skip);
  k.hook(0x20, h).eoiKind(0x20, EOI_NONE);
  a.mov(eax, k.count(0x20)).add(eax, 1).mov(ecx, eax);
  k.waitIrq(() => a.cmp(k.count(0x20), ecx), "ae");
  k.expectMask("in the handler: ISR bit 0 set (OCW3 read ISR)", isrIn, 1, 1);
  k.expectMask("non-specific EOI clears ISR bit 0", isrOut, 1, 0);
  // A masked edge waits in the IRR and is delivered when unmasked.
  k.unhook(0x20).eoiKind(0x20, EOI_PIC_MASTER);
  outb(0x21, 0xff);
  const n0 = v(), n1 = v();
  a.mov(eax, k.count(0x20)).mov(n0, eax);
  allow(300_000);
  a.mov(eax, k.count(0x20)).sub(eax, n0).mov(n1, eax);
  outb(0x20, 0x0a);
  a.in_(al, 0x20).movzx(eax, al).mov(irrMasked, eax);
  k.expectEq("IMR bit 0 set: no interrupts", n1, 0);
  k.expectMask("the masked edge is latched in the IRR", irrMasked, 1, 1);
  a.mov(eax, k.count(0x20)).mov(n0, eax);
  outb(0x21, 0xfe);
  a.sti().nop().nop().cli();
  a.mov(eax, k.count(0x20)).sub(eax, n0);
  k.expectEq("unmasking delivers the latched request at once", eax, 1);
  // Poll mode (OCW3 bit 2): with IF = 0 the poll byte names the highest request.
  k.delay(100_000);
  outb(0x20, 0x0c);
  const poll = inb(0x20);
  outb(0x20, 0x0b);
  const isrPoll = inb(0x20);
  outb(0x20, 0x60); // specific EOI, IRQ0
  outb(0x20, 0x0b);
  const isrSpec = inb(0x20);
  outb(0x20, 0x0a);
  k.expectEq("poll mode: 0x80 | IRQ0", poll, 0x80);
  k.expectMask("poll mode acknowledges: ISR bit 0 set", isrPoll, 1, 1);
  k.expectMask("specific EOI (OCW2 0x60) clears ISR bit 0", isrSpec, 1, 0);
  // Auto-EOI: the ISR bit is never set.
  pitRate(0);
  icw(0x03);
  outb(0x21, 0xfe);
  outb(0xa1, 0xff);
  const isrAeoi = v();
  const h2 = a.label(), skip2 = a.label();
  a.jmp(skip2).bind(h2);
  outb(0x20, 0x0b);
  a.in_(al, 0x20).movzx(eax, al).mov(isrAeoi, eax);
  outb(0x20, 0x0a);
  a.ret().bind(skip2);
  k.hook(0x20, h2).eoiKind(0x20, EOI_NONE);
  pitRate(100);
  a.mov(eax, k.count(0x20)).add(eax, 2).mov(ecx, eax);
  k.waitIrq(() => a.cmp(k.count(0x20), ecx), "ae");
  k.expectMask("auto-EOI (ICW4 bit 1): ISR bit 0 stays clear", isrAeoi, 1, 0);
  k.unhook(0x20).eoiKind(0x20, EOI_PIC_MASTER);
  icw(0x01);
  outb(0x21, 0xfa); // IRQ0 and the cascade (IRQ2)
  outb(0xa1, 0xfe); // slave IRQ0 = ISA IRQ8
  // The slave: RTC periodic interrupt (IRQ8) → vector 0x28.
  const mIsr = v(), sIsr = v();
  const h3 = a.label(), skip3 = a.label();
  a.jmp(skip3).bind(h3);
  outb(0x20, 0x0b);
  a.in_(al, 0x20).movzx(eax, al).mov(mIsr, eax);
  outb(0xa0, 0x0b);
  a.in_(al, 0xa0).movzx(eax, al).mov(sIsr, eax);
  outb(0x20, 0x0a);
  outb(0xa0, 0x0a);
  cmosRead(k, 0x0c);
  a.ret().bind(skip3);
  k.hook(0x28, h3).eoiKind(0x28, EOI_PIC_BOTH);
  pitRate(0); // slow IRQ0 down (18.2 Hz)
  cmosRead(k, 0x0c);
  cmosWrite(k, 0x0a, 0x23); // 8192 Hz
  cmosWrite(k, 0x0b, 0x42);
  k.waitCount(k.count(0x28), 2);
  cmosWrite(k, 0x0b, 0x02);
  cmosRead(k, 0x0c);
  k.expectEq("RTC IRQ8 -> slave IRQ0 -> master IRQ2: vector 0x28", k.count(0x28), 2);
  k.expectMask("slave interrupt: master ISR bit 2 (cascade) set", mIsr, 4, 4);
  k.expectMask("slave interrupt: slave ISR bit 0 set", sIsr, 1, 1);
  outb(0x20, 0x0b);
  k.expectEq("EOIs to both chips: master ISR clear", inb(0x20), 0);
  outb(0xa0, 0x0b);
  k.expectEq("EOIs to both chips: slave ISR clear", inb(0xa0), 0);
  outb(0x20, 0x0a);
  outb(0xa0, 0x0a);
  // Virtual wire with the local APIC globally disabled (IA32_APIC_BASE bit 11 = 0).
  pitRate(100);
  a.mov(eax, k.count(0x20)).mov(n0, eax);
  a.mov(ecx, 0x1b).mov(eax, 0xfee00100).xor(k.r.dx, k.r.dx).wrmsr();
  allow(300_000);
  a.mov(ecx, 0x1b).mov(eax, 0xfee00900).xor(k.r.dx, k.r.dx).wrmsr();
  a.mov(eax, k.count(0x20)).sub(eax, n0);
  k.expectRange("local APIC disabled: the 8259 interrupts the CPU directly", eax, 2, 4);
  outb(0x21, 0xff);
  outb(0xa1, 0xff);
  pitRate(0);
  return k.build();
}
