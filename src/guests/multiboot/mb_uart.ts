/**
 * `mb-uart` (32-bit protected mode, paging off): COM1 as a 16550A, checked against the National
 * PC16550D data sheet (register map Table II, §8.4-8.10) and QEMU's hw/char/serial.c:
 *
 * - scratch, line control, divisor latch (DLAB) and IER are distinct registers; IER bits 7:4,
 *   MCR bits 7:5 read 0; LSR = 0x60 (THRE, TEMT) when idle; MSR shows DCD/DSR/CTS outside
 *   loopback; IIR = 0x01 (no interrupt), bits 7:6 = 11 with the FIFOs enabled.
 * - Loopback (MCR bit 4): MSR bits 7:4 follow OUT2/OUT1/DTR/RTS; transmitted bytes are received;
 *   in 16450 mode an overrun sets LSR.OE and the newer byte replaces RBR (§8.6 LSR bit 1); in
 *   FIFO mode 16 bytes are held, the 17th is lost with OE; FCR bit 1 clears the receiver FIFO
 *   and changing FCR bit 0 clears both FIFOs (§8.4 FCR0).
 * - IIR priorities (§8.5 Table IV): line status (0x06) > received data (0x04) > THR empty (0x02);
 *   reading IIR clears a THR-empty indication; reading LSR clears OE.
 * - Interrupts through the IOAPIC (COM1 = ISA IRQ 4 = GSI 4, edge): THR-empty on enabling
 *   IER bit 1 and after a THR write, received data in loopback, an edge on a masked pin is lost.
 * - Received data from recorded serial input (`--input`): a line arrives by interrupt and is
 *   echoed as `uart: received '<line>'`.
 *
 * Loopback disconnects the serial input (§8.7), so the kernel enters loopback first and runs
 * every register and interrupt test there silently (printing would loop back too), recording
 * the values; it reports them after leaving loopback, when host input may flow again. A byte
 * that arrived before loopback is kept as the start of the input line.
 */

import { byte, dword, mem } from "../asm.ts";
import { al, dx, eax, ecx, esi } from "../asm/operands.ts";
import { EOI_LAPIC, type MbKernel, MbKit } from "./kit.ts";
import { ioapicRead, ioapicRoute } from "./platform.ts";

const COM1 = 0x3f8;
const VEC = 0x44;
const GSI = 4;

export function buildMbUart(): MbKernel {
  const k = new MbKit("mb-uart", { bits: 32, bootHint: "--input FILE (a line of text)" });
  const a = k.a, r = k.r;
  a.bits(32);
  const outp = (reg: number, v: number) => a.mov(dx, COM1 + reg).mov(al, v).out(dx, al);
  const inp = (reg: number) => a.mov(dx, COM1 + reg).in_(al, dx);
  /** Records register `reg` into a fresh variable; returns its operand. */
  const rec = (reg: number) => {
    const v = k.var(4);
    inp(reg);
    a.movzx(eax, al).mov(dword(v), eax);
    return dword(v);
  };
  const checks: (() => void)[] = [];
  /** A check reported later (after loopback). */
  const later = (f: () => void) => checks.push(f);
  const rxN = k.var(4), rxLine = k.var(4), rxBuf = k.var(80), inputPhase = k.var(4);
  const lastRx = k.var(4), thri = k.var(4), iirLog = k.var(16), iirN = k.var(4);
  const lsrSeen = k.var(4);

  // ---- into loopback at once; keep a byte that may already have arrived ------------------------
  outp(4, 0x10);
  {
    const l = a.here(), done = a.label();
    inp(5);
    a.test(al, 1).jz(done);
    inp(0);
    a.mov(ecx, dword(rxN)).mov(byte(mem(null, r.cx, 1, rxBuf)), al).i("inc", dword(rxN));
    a.jmp(l).bind(done);
  }

  // ---- registers -------------------------------------------------------------------------------
  outp(7, 0x5a);
  const scr1 = rec(7);
  outp(7, 0xa5);
  const scr2 = rec(7);
  later(() => {
    k.expectEq("SCR holds 0x5a", scr1, 0x5a);
    k.expectEq("SCR holds 0xa5", scr2, 0xa5);
  });
  outp(3, 0x1b);
  const lcr = rec(3);
  outp(3, 0x83); // DLAB
  outp(0, 0x0c);
  outp(1, 0x01);
  const dll = rec(0), dlm = rec(1);
  outp(3, 0x03);
  const ierAfter = rec(1);
  const lsrIdle = rec(5), iirIdle = rec(2);
  outp(1, 0xf0);
  const ierHigh = rec(1);
  outp(1, 0x00);
  outp(2, 0x01);
  const iirFifo = rec(2);
  outp(2, 0x00);
  const iirNoFifo = rec(2);
  outp(4, 0xf3);
  const mcrHigh = rec(4);
  later(() => {
    k.expectEq("LCR reads back 0x1b (8 data bits, even parity)", lcr, 0x1b);
    k.expectEq("DLAB=1: divisor latch low reads back 0x0c", dll, 0x0c);
    k.expectEq("DLAB=1: divisor latch high reads back 0x01", dlm, 0x01);
    k.expectEq("DLAB=0: IER is not the divisor latch (reads 0)", ierAfter, 0);
    k.expectEq("LSR idle = 0x60 (THRE, TEMT)", lsrIdle, 0x60);
    k.expectEq("IIR = 0x01 (no interrupt pending, FIFOs off)", iirIdle, 0x01);
    k.expectEq("IER bits 7:4 read as 0", ierHigh, 0x00);
    k.expectEq("FIFOs enabled: IIR bits 7:6 = 11 (0xc1)", iirFifo, 0xc1);
    k.expectEq("FIFOs disabled: IIR = 0x01", iirNoFifo, 0x01);
    k.expectEq("MCR bits 7:5 read as 0", mcrHigh, 0x13);
  });

  // ---- loopback ----------------------------------------------------------------------------------
  const msr: [number, number, string][] = [
    [0x1f, 0xf0, "DTR|RTS|OUT1|OUT2 -> DSR|CTS|RI|DCD"],
    [0x10, 0x00, "no outputs -> no inputs"],
    [0x11, 0x20, "DTR -> DSR"],
    [0x12, 0x10, "RTS -> CTS"],
    [0x14, 0x40, "OUT1 -> RI"],
    [0x18, 0x80, "OUT2 -> DCD"],
  ];
  const msrVals = msr.map(([mcr]) => {
    outp(4, mcr);
    return rec(6);
  });
  later(() =>
    msr.forEach(([, want, what], i) => {
      k.expectMask(`loopback MSR: ${what}`, msrVals[i]!, 0xf0, want);
    })
  );
  outp(4, 0x18); // loopback + OUT2
  // 16450 mode: one byte, then an overrun.
  outp(0, 0x41);
  const lsr1 = rec(5), rbr1 = rec(0), lsr1b = rec(5);
  outp(0, 0x42);
  outp(0, 0x43);
  const lsrOv = rec(5), rbrOv = rec(0), lsrOv2 = rec(5);
  later(() => {
    k.expectEq("loopback: LSR.DR after a THR write (LSR = 0x61)", lsr1, 0x61);
    k.expectEq("loopback: RBR returns the transmitted byte", rbr1, 0x41);
    k.expectEq("loopback: LSR.DR clear after reading RBR", lsr1b, 0x60);
    k.expectEq("16450 mode overrun: LSR = DR|OE|THRE|TEMT (0x63)", lsrOv, 0x63);
    k.expectEq("16450 mode overrun: RBR holds the newer byte", rbrOv, 0x43);
    k.expectEq("reading LSR clears OE", lsrOv2, 0x60);
  });
  // FIFO mode: 16 bytes fit.
  outp(2, 0x07); // enable, reset both FIFOs, trigger level 1
  const fill = (from: number, n: number) => {
    a.mov(ecx, n).mov(al, from).mov(dx, COM1);
    const l = a.here();
    a.out(dx, al).i("inc", al).dec(ecx).jnz(l);
  };
  /** Reads `n` bytes, counting those equal to from, from+1, ... (in order). */
  const drain = (from: number, n: number) => {
    const v = k.var(4);
    a.mov(ecx, n);
    const l = a.here(), miss = a.label();
    a.mov(dx, COM1).in_(al, dx);
    a.movzx(eax, al).add(eax, ecx).cmp(eax, from + n).jne(miss).i("inc", dword(v));
    a.bind(miss).dec(ecx).jnz(l);
    return dword(v);
  };
  fill(0x30, 16);
  const lsrFull = rec(5);
  const inOrder = drain(0x30, 16);
  const lsrEmpty = rec(5);
  fill(0x40, 17);
  const lsrFifoOv = rec(5);
  const inOrderOv = drain(0x40, 16);
  const lsrAfterOv = rec(5);
  fill(0x60, 3);
  outp(2, 0x03); // FIFO stays enabled, receiver FIFO reset
  const lsrReset = rec(5);
  fill(0x60, 3);
  outp(2, 0x00); // FIFO enable bit changes: both FIFOs are cleared
  const lsrToggle = rec(5);
  later(() => {
    k.expectEq("FIFO: 16 bytes received, no overrun (LSR = 0x61)", lsrFull, 0x61);
    k.expectEq("FIFO: the 16 bytes come out in order", inOrder, 16);
    k.expectEq("FIFO: empty after 16 reads", lsrEmpty, 0x60);
    k.expectEq("FIFO: a 17th byte overruns (LSR.OE)", lsrFifoOv, 0x63);
    k.expectEq("FIFO overrun: the first 16 bytes are kept in order", inOrderOv, 16);
    k.expectEq("FIFO overrun: nothing beyond the 16 bytes", lsrAfterOv, 0x60);
    k.expectEq("FCR bit 1 clears the receiver FIFO", lsrReset, 0x60);
    k.expectEq("clearing FCR bit 0 clears the FIFOs (LSR.DR = 0)", lsrToggle, 0x60);
  });
  // IIR priorities (IOAPIC pin still masked: polled).
  outp(1, 0x03); // RDA + THRE
  outp(0, 0x78);
  const iirBoth = rec(2), rbrX = rec(0), iirThre = rec(2), iirNone = rec(2);
  outp(1, 0x04); // receiver line status only
  outp(0, 0x31);
  outp(0, 0x32);
  const iirLsr = rec(2);
  rec(5);
  const iirLsrCleared = rec(2);
  rec(0);
  outp(2, 0x07);
  outp(1, 0x01);
  outp(0, 0x33);
  const iirFifoRda = rec(2);
  rec(0);
  const iirFifoNone = rec(2);
  outp(1, 0x00);
  outp(2, 0x00);
  later(() => {
    k.expectEq("IIR priority: received data (0x04) before THR empty", iirBoth, 0x04);
    k.expectEq("loopback: RBR = 0x78", rbrX, 0x78);
    k.expectEq("IIR after reading RBR: THR empty (0x02)", iirThre, 0x02);
    k.expectEq("reading IIR cleared the THR-empty indication (0x01)", iirNone, 0x01);
    k.expectEq("IIR: receiver line status (0x06) on overrun", iirLsr, 0x06);
    k.expectEq("IIR: line status cleared by reading LSR", iirLsrCleared, 0x01);
    k.expectEq("IIR with FIFOs: received data = 0xc4", iirFifoRda, 0xc4);
    k.expectEq("IIR with FIFOs: none = 0xc1", iirFifoNone, 0xc1);
  });

  // ---- interrupts through the IOAPIC (still in loopback) ------------------------------------------
  const isr = a.label(), skipIsr = a.label();
  a.jmp(skipIsr).bind(isr);
  {
    // The driver loop: read IIR until bit 0 says nothing is pending (so the line drops and the
    // next interrupt is a new edge).
    const loop = a.label(), done = a.label(), r1 = a.label(), rd = a.label();
    const nolog = a.label(), store = a.label(), stored = a.label();
    a.bind(loop).mov(dx, COM1 + 2).in_(al, dx).movzx(eax, al);
    a.mov(ecx, dword(iirN)).cmp(ecx, 16).jae(nolog);
    a.mov(byte(mem(null, r.cx, 1, iirLog)), al).i("inc", dword(iirN));
    a.bind(nolog).test(al, 1).jnz(done);
    a.and(al, 0x0e).cmp(al, 0x02).jne(r1);
    a.i("inc", dword(thri)).jmp(loop);
    a.bind(r1).cmp(al, 0x06).jne(rd);
    a.mov(dx, COM1 + 5).in_(al, dx).mov(byte(lsrSeen), al).jmp(loop);
    a.bind(rd).mov(dx, COM1 + 5).in_(al, dx).test(al, 1).jz(loop);
    a.mov(dx, COM1).in_(al, dx).mov(byte(lastRx), al);
    a.cmp(dword(inputPhase), 0).jne(store).jmp(rd);
    a.bind(store).mov(ecx, dword(rxN)).cmp(ecx, 79).jae(stored);
    a.mov(byte(mem(null, r.cx, 1, rxBuf)), al).i("inc", dword(rxN));
    a.bind(stored).cmp(al, 10).jne(rd).mov(dword(rxLine), 1).jmp(rd);
    a.bind(done).ret();
  }
  a.bind(skipIsr);
  k.hook(VEC, isr).eoiKind(VEC, EOI_LAPIC);
  k.lapicOn();
  ioapicRoute(k, GSI, VEC, 0); // edge, active high, fixed, physical APIC ID 0, unmasked
  ioapicRead(k, 0x10 + 2 * GSI);
  const rte = k.var(4);
  a.mov(dword(rte), eax);
  // THR empty on enabling IER bit 1 (the transmitter is idle).
  const snap = () => {
    const v = k.var(4);
    a.mov(eax, k.count(VEC)).mov(dword(v), eax);
    return dword(v);
  };
  outp(1, 0x02);
  k.waitCount(k.count(VEC), 1);
  outp(1, 0x00);
  const n1 = snap();
  const firstIir = k.var(4);
  a.movzx(eax, byte(iirLog)).mov(dword(firstIir), eax);
  const thri1 = k.var(4);
  a.mov(eax, dword(thri)).mov(dword(thri1), eax);
  // A THR write raises it again.
  outp(1, 0x02);
  k.waitCount(k.count(VEC), 2);
  outp(0, 0x55);
  k.waitCount(k.count(VEC), 3);
  outp(1, 0x00);
  const n3 = snap();
  const lb = rec(0);
  // Received data.
  outp(1, 0x01);
  outp(0, 0x5a);
  k.waitCount(k.count(VEC), 4);
  outp(1, 0x00);
  const n4 = snap();
  const rx5a = k.var(4);
  a.movzx(eax, byte(lastRx)).mov(dword(rx5a), eax);
  // Masked pin: the edge is lost; re-raising after unmasking is delivered (82093AA: edges on a
  // masked pin are discarded; QEMU's ioapic.c ignores them too).
  ioapicRoute(k, GSI, 0x10000 | VEC, 0);
  a.sti();
  outp(1, 0x02);
  k.delay(50_000);
  const nMasked = snap();
  ioapicRoute(k, GSI, VEC, 0);
  k.delay(50_000);
  const nUnmasked = snap();
  a.cli();
  outp(1, 0x00);
  outp(1, 0x02);
  k.waitCount(k.count(VEC), 5);
  outp(1, 0x00);
  const n5 = snap();
  later(() => {
    k.expectEq("IOAPIC RTE 4 reads back (vector 0x44, unmasked)", dword(rte), VEC);
    k.expectEq("IRQ4: THR-empty interrupt when IER bit 1 is set", n1, 1);
    k.expectEq("IRQ4: the driver saw IIR = 0x02", dword(firstIir), 0x02);
    k.expectEq("IRQ4: one THR-empty indication counted", dword(thri1), 1);
    k.expectEq("IRQ4: THR-empty again after a THR write", n3, 3);
    k.expectEq("loopback byte received meanwhile", lb, 0x55);
    k.expectEq("IRQ4: received-data interrupt (loopback)", n4, 4);
    k.expectEq("the driver read the byte from RBR", dword(rx5a), 0x5a);
    k.expectEq("IOAPIC pin masked: no interrupt", nMasked, 4);
    k.expectEq("unmasking does not replay an edge seen while masked", nUnmasked, 4);
    k.expectEq("a new edge after unmasking is delivered", n5, 5);
  });

  // ---- out of loopback: report, then take recorded serial input ------------------------------------
  outp(2, 0x07); // FIFOs on (clears them), still in loopback
  outp(4, 0x0b); // DTR, RTS, OUT2: the serial input is connected again
  const msrOut = rec(6);
  k.say("mb-uart: COM1 16550A from the guest side\n");
  for (const f of checks) f();
  k.expectMask("MSR outside loopback: DCD, DSR, CTS asserted", msrOut, 0xf0, 0xb0);
  a.mov(dword(inputPhase), 1).mov(dword(k.count(VEC)), 0);
  k.say("uart: waiting for a line of serial input (--input)\n");
  outp(1, 0x01);
  k.waitIrq(() => a.cmp(dword(rxLine), 1), "e", 5_000_000);
  outp(1, 0x00);
  const noInput = a.label(), after = a.label(), end = a.label();
  a.cmp(dword(rxN), 0).je(noInput);
  a.mov(ecx, dword(rxN)).mov(byte(mem(null, r.cx, 1, rxBuf)), 0); // NUL-terminate
  a.cmp(byte(mem(null, r.cx, 1, rxBuf - 1)), 10).jne(after);
  a.mov(byte(mem(null, r.cx, 1, rxBuf - 1)), 0);
  a.bind(after);
  k.say("uart: received '");
  k.save(esi);
  a.mov(esi, rxBuf).call(k.rt.puts);
  k.restore(esi);
  k.say("'\n");
  k.expectEq("recorded input: a whole line arrived through IRQ4", dword(rxLine), 1);
  k.check("recorded input: interrupts were taken", () => a.cmp(k.count(VEC), 0), "e", k.count(VEC));
  k.expectEq("recorded input: no line status error", byte(lsrSeen), 0);
  a.jmp(end);
  a.bind(noInput);
  k.skip("recorded input", "no serial input arrived (boot with --input FILE)");
  a.bind(end);
  outp(2, 0x00);
  ioapicRoute(k, GSI, 0x10000 | VEC, 0);
  return k.build();
}
