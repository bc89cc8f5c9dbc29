/**
 * `mb-pit-rtc` (32-bit protected mode, paging off): the 8254 PIT and the MC146818 RTC/CMOS.
 *
 * 8254 (Intel 82C54 data sheet): channel 2 gated by port 0x61 bit 0 with OUT2 on bit 5 (mode 0
 * pauses while the gate is low); the counter-latch command freezes a count until read; counts
 * advance with virtual time (TSC delta × 1193182 / TSC Hz, from the Hyper-V frequency MSR);
 * the read-back command returns status (OUT, NULL COUNT, access, mode, BCD) and count; NULL
 * COUNT is set by a control word until a count is loaded; mode 0 raises OUT at terminal count;
 * BCD counting; LSB-only access; mode 3 counts down by two.
 *
 * MC146818 (Motorola data sheet; QEMU mc146818rtc.c): register D = 0x80, A and B power-on
 * values; the time equals `rtc-epoch=` from the command line (the config's startEpochSeconds)
 * plus the virtual time, in BCD and binary, 24- and 12-hour forms, with the day of week;
 * register C flags are set whether or not enabled and clear on read; update-ended (at a second
 * boundary), periodic (1024 Hz) and alarm interrupts through the IOAPIC (GSI 8); the SET bit
 * stops the clock for setting the time; the CMOS NVRAM holds the memory size (0x34/0x35), the
 * CPU count (0x5f) and a valid checksum (0x2e/0x2f), and keeps written bytes.
 */

import { dword, mem } from "../asm.ts";
import { al, cl, eax, ebx, ecx, edi, edx, esi } from "../asm/operands.ts";
import { EOI_LAPIC, KV, type MbKernel, MbKit } from "./kit.ts";
import { cmdlineNumber, cmosRead, cmosWrite, discover, ioapicRoute, PV } from "./platform.ts";

const START_EPOCH = 1_772_323_198; // 2026-02-28T23:59:58Z: the month rolls over during the run
const RTC_VEC = 0x58;

export function buildMbPitRtc(): MbKernel {
  const k = new MbKit("mb-pit-rtc", {
    bits: 32,
    // The run spans ~4 virtual seconds, mostly halted: checkpoints every 100M instructions.
    config: {
      startEpochSeconds: START_EPOCH,
      cmdline: `rtc-epoch=${START_EPOCH}`,
      checkpointInterval: 100_000_000,
    },
    bootHint: "--append rtc-epoch=<the config's startEpochSeconds> (default 1767225600)",
  });
  const a = k.a;
  a.bits(32);
  const v = () => dword(k.var(4));
  discover(k);
  const tscHz = v();
  a.mov(ecx, 0x40000022).rdmsr().mov(tscHz, eax);

  // ---- 8254 -----------------------------------------------------------------------------------------
  /** Latches channel `ch` (counter-latch command) and reads LSB, MSB into eax. */
  const latch = (ch: number) => {
    a.mov(al, ch << 6).out(0x43, al);
    a.in_(al, 0x40 + ch).movzx(ecx, al).in_(al, 0x40 + ch).movzx(eax, al).shl(eax, 8).or(eax, ecx);
  };
  // Channel 2, gate low: mode 0 count 50 stays paused; gate high: OUT2 rises after 50 ticks.
  const out2a = v(), out2b = v(), out2c = v();
  a.mov(al, 0).out(0x61, al);
  a.mov(al, 0xb0).out(0x43, al).mov(al, 50).out(0x42, al).mov(al, 0).out(0x42, al);
  k.delay(100_000);
  a.in_(al, 0x61).movzx(eax, al).mov(out2a, eax);
  a.mov(al, 1).out(0x61, al);
  a.in_(al, 0x61).movzx(eax, al).mov(out2b, eax);
  k.delay(100_000);
  a.in_(al, 0x61).movzx(eax, al).mov(out2c, eax);
  a.mov(al, 0).out(0x61, al);
  k.expectMask("channel 2, gate low: mode 0 paused, OUT2 low (port 0x61 bit 5)", out2a, 0x21, 0);
  k.expectMask("channel 2, gate high: OUT2 still low right after", out2b, 0x21, 0x01);
  k.expectMask("channel 2: OUT2 high after 50 ticks", out2c, 0x21, 0x21);
  // Channel 0, mode 2, count 65536: counts advance with virtual time.
  const t1 = v(), t2 = v(), c1 = v(), c2 = v(), c3 = v(), c4 = v();
  a.mov(al, 0x34).out(0x43, al).mov(al, 0).out(0x40, al).out(0x40, al);
  k.delay(2_000);
  a.rdtsc().mov(t1, eax);
  latch(0);
  a.mov(c1, eax);
  k.delay(100_000);
  a.rdtsc().mov(t2, eax);
  latch(0);
  a.mov(c2, eax);
  // Expected ticks = (t2 - t1) × 1193182 / tscHz.
  a.mov(eax, t2).sub(eax, t1).mov(ecx, 1193182).mul(ecx).div(tscHz).mov(ebx, eax);
  a.mov(eax, c1).sub(eax, c2).and(eax, 0xffff).sub(eax, ebx).add(eax, 2);
  k.expectRange("latched counts advance with virtual time (+-2 PIT ticks)", eax, 0, 4);
  a.mov(al, 0x00).out(0x43, al);
  k.delay(50_000);
  a.in_(al, 0x40).movzx(ecx, al).in_(al, 0x40).movzx(eax, al).shl(eax, 8).or(eax, ecx);
  a.mov(c3, eax);
  latch(0);
  a.mov(c4, eax);
  a.mov(eax, c3).sub(eax, c4).and(eax, 0xffff);
  k.expectRange("a latched count holds until read (~60 ticks older)", eax, 50, 70);
  // Read-back: status of channel 0.
  a.mov(al, 0xe2).out(0x43, al).in_(al, 0x40).movzx(eax, al);
  k.expectMask("read-back status: LSB/MSB access, mode 2, binary (0x34)", eax, 0x7f, 0x34);
  a.mov(al, 0x34).out(0x43, al);
  a.mov(al, 0xe2).out(0x43, al).in_(al, 0x40).movzx(eax, al);
  k.expectMask("read-back status: NULL COUNT after a control word", eax, 0x40, 0x40);
  a.mov(al, 0).out(0x40, al).mov(al, 0x10).out(0x40, al);
  k.delay(2_000);
  a.mov(al, 0xe2).out(0x43, al).in_(al, 0x40).movzx(eax, al);
  k.expectMask("read-back status: NULL COUNT clear once the count is loaded", eax, 0x40, 0);
  // Read-back of status and count together: status first, then LSB, MSB.
  a.mov(al, 0xc2).out(0x43, al).in_(al, 0x40).movzx(ebx, al);
  a.in_(al, 0x40).movzx(ecx, al).in_(al, 0x40).movzx(eax, al).shl(eax, 8).or(eax, ecx);
  k.expectRange("read-back count+status: the count follows the status (<= 0x1000)", eax, 1, 0x1000);
  k.expectMask("read-back count+status: the status byte comes first", ebx, 0x7f, 0x34);
  // Mode 0: OUT low after the count is written, high at terminal count.
  a.mov(al, 0x30).out(0x43, al).mov(al, 200).out(0x40, al).mov(al, 0).out(0x40, al);
  a.mov(al, 0xe2).out(0x43, al).in_(al, 0x40).movzx(eax, al);
  k.expectMask("mode 0: OUT low while counting", eax, 0x80, 0);
  k.delay(250_000);
  a.mov(al, 0xe2).out(0x43, al).in_(al, 0x40).movzx(eax, al);
  k.expectMask("mode 0: OUT high at terminal count", eax, 0x80, 0x80);
  a.mov(al, 0x30).out(0x43, al); // no count: channel 0 idles
  // BCD counting on channel 1 (mode 2, count 1000 decimal).
  const b1 = v(), b2 = v();
  a.mov(al, 0x75).out(0x43, al).mov(al, 0x00).out(0x41, al).mov(al, 0x10).out(0x41, al);
  k.delay(2_000);
  latch(1);
  a.mov(b1, eax);
  k.delay(100_000);
  latch(1);
  a.mov(b2, eax);
  /** eax (4 BCD digits) → binary in eax; ebx |= 1 when a digit is > 9. */
  const bcd4 = () => {
    a.mov(esi, eax).xor(eax, eax).xor(edx, edx);
    for (let i = 3; i >= 0; i--) {
      const ok = a.label();
      a.mov(ecx, esi).shr(ecx, 4 * i).and(ecx, 0xf).cmp(ecx, 9).jbe(ok).or(ebx, 1);
      a.bind(ok).imul(eax, eax, 10).add(eax, ecx);
    }
  };
  a.xor(ebx, ebx).mov(eax, b1);
  bcd4();
  a.mov(edi, eax).mov(eax, b2);
  bcd4();
  a.sub(edi, eax);
  k.expectEq("BCD mode: latched counts are valid BCD", ebx, 0);
  k.expectRange("BCD mode: ~119 decimal counts in 100000 TSC ticks", edi, 116, 122);
  // LSB-only access (RW = 01).
  a.mov(al, 0x54).out(0x43, al).mov(al, 200).out(0x41, al);
  k.delay(2_000);
  a.in_(al, 0x41).movzx(ebx, al).in_(al, 0x41).movzx(ecx, al);
  k.expectRange("LSB-only access: each read returns the low byte", ebx, 150, 200);
  k.expectRange("LSB-only access: the next read is the low byte again", ecx, 150, 200);
  // Mode 3 counts down by 2.
  a.mov(al, 0x76).out(0x43, al).mov(al, 0xe8).out(0x41, al).mov(al, 0x03).out(0x41, al);
  a.xor(ebx, ebx);
  for (let i = 0; i < 3; i++) {
    k.delay(1_000 + 317 * i);
    latch(1);
    a.and(eax, 1).or(ebx, eax);
  }
  k.expectEq("mode 3 (square wave): counts are even", ebx, 0);

  // ---- RTC ------------------------------------------------------------------------------------------
  const lastC = v(), stamps = k.var(32), nStamps = v();
  const hook = a.label(), skipH = a.label();
  a.jmp(skipH).bind(hook);
  {
    const full = a.label();
    cmosRead(k, 0x0c); // clear-on-read: also releases IRQ8
    a.movzx(eax, al).mov(lastC, eax);
    a.mov(ecx, nStamps).cmp(ecx, 8).jae(full);
    a.rdtsc().mov(dword(mem(null, ecx, 4, stamps)), eax).i("inc", nStamps);
    a.bind(full).ret();
  }
  a.bind(skipH);
  k.hook(RTC_VEC, hook).eoiKind(RTC_VEC, EOI_LAPIC);
  k.lapicOn();
  cmosRead(k, 0x0c);
  ioapicRoute(k, 8, RTC_VEC, 0); // edge: the handler reads register C to re-arm IRQ8
  const reg = (index: number) => {
    const x = v();
    cmosRead(k, index);
    a.movzx(eax, al).mov(x, eax);
    return x;
  };
  k.expectEq("register D = 0x80 (valid RAM and time)", reg(0x0d), 0x80);
  k.expectEq("register A = 0x26 (32.768 kHz divider, 1024 Hz rate)", reg(0x0a), 0x26);
  k.expectEq("register B = 0x02 (24-hour, BCD)", reg(0x0b), 0x02);
  // Reading the time: wait for UIP = 0, then the registers are stable for 244 us.
  const T = { sec: v(), min: v(), hour: v(), dow: v(), day: v(), mon: v(), year: v(), cent: v() };
  const tNow = v(), tHi = v();
  const readTime = a.label(), skipRt = a.label();
  a.jmp(skipRt).bind(readTime);
  {
    const w = a.here();
    cmosRead(k, 0x0a);
    a.test(al, 0x80).jnz(w);
    a.rdtsc().mov(tNow, eax).mov(tHi, edx);
    const regs: [number, typeof T.sec][] = [
      [0x00, T.sec],
      [0x02, T.min],
      [0x04, T.hour],
      [
        0x06,
        T.dow,
      ],
      [0x07, T.day],
      [0x08, T.mon],
      [0x09, T.year],
      [0x32, T.cent],
    ];
    for (const [i, x] of regs) {
      cmosRead(k, i);
      a.movzx(eax, al).mov(x, eax);
    }
    a.ret();
  }
  /** eax: BCD byte → binary. */
  const bcd2bin = () => a.mov(ecx, eax).shr(ecx, 4).and(eax, 0xf).imul(ecx, ecx, 10).add(eax, ecx);
  /** eax: binary → BCD byte. */
  const bin2bcd = () => {
    a.xor(edx, edx).mov(ecx, 10).div(ecx).shl(eax, 4).or(eax, edx);
  };
  // toEpoch: T (BCD, 24-hour) → eax = seconds since 1970 (days_from_civil), `days` too.
  const Y = v(), M = v(), D = v(), era = v(), yoe = v(), doy = v(), days = v();
  const toEpoch = a.label();
  a.bind(toEpoch);
  {
    const bin = (src: typeof T.sec, dst: typeof T.sec) => {
      a.mov(eax, src);
      bcd2bin();
      a.mov(dst, eax);
    };
    bin(T.cent, Y);
    a.imul(eax, Y, 100).mov(Y, eax);
    a.mov(eax, T.year);
    bcd2bin();
    a.add(Y, eax);
    bin(T.mon, M);
    bin(T.day, D);
    const noDec = a.label();
    a.mov(eax, Y).cmp(M, 2).ja(noDec).dec(eax);
    a.bind(noDec).xor(edx, edx).mov(ecx, 400).div(ecx).mov(era, eax).mov(yoe, edx);
    a.mov(eax, M).add(eax, 9).xor(edx, edx).mov(ecx, 12).div(ecx); // edx = mp
    a.imul(eax, edx, 153).add(eax, 2).xor(edx, edx).mov(ecx, 5).div(ecx);
    a.add(eax, D).dec(eax).mov(doy, eax);
    a.mov(eax, yoe).xor(edx, edx).mov(ecx, 100).div(ecx).mov(ebx, eax); // yoe / 100
    a.imul(eax, yoe, 365).mov(ecx, yoe).shr(ecx, 2).add(eax, ecx).sub(eax, ebx).add(eax, doy);
    a.imul(ecx, era, 146097).add(eax, ecx).sub(eax, 719468).mov(days, eax);
    a.imul(ebx, eax, 86400);
    a.mov(eax, T.hour);
    bcd2bin();
    a.imul(eax, eax, 3600).add(ebx, eax);
    a.mov(eax, T.min);
    bcd2bin();
    a.imul(eax, eax, 60).add(ebx, eax);
    a.mov(eax, T.sec);
    bcd2bin();
    a.add(eax, ebx).ret();
  }
  a.bind(skipRt);
  // The time: rtc-epoch + floor(TSC / TSC Hz).
  const epoch = v(), want = v();
  cmdlineNumber(k, "rtc-epoch", 0);
  a.mov(epoch, eax);
  a.call(readTime).call(toEpoch).mov(ebx, eax);
  a.mov(eax, tNow).mov(edx, tHi).div(tscHz).add(eax, epoch).mov(want, eax);
  const noEpoch = a.label(), epochDone = a.label();
  a.cmp(epoch, 0).je(noEpoch);
  k.showDec("rtc: epoch from the command line ", epoch, ", ");
  k.showDec("RTC shows ", ebx, "\n");
  k.expectSame("RTC time = rtc-epoch + virtual time (seconds)", ebx, want);
  a.mov(eax, days).add(eax, 4).xor(edx, edx).mov(ecx, 7).div(ecx).i("inc", edx);
  k.expectSame("day of week register (1 = Sunday) matches the date", T.dow, edx);
  a.jmp(epochDone);
  a.bind(noEpoch);
  k.skip("RTC absolute time", "no rtc-epoch= on the command line");
  a.bind(epochDone);
  // Binary and 12-hour forms.
  const hour24 = v();
  a.call(readTime);
  a.mov(eax, T.hour);
  bcd2bin();
  a.mov(hour24, eax);
  cmosWrite(k, 0x0b, 0x06); // binary, 24-hour
  const secBin = reg(0x00);
  cmosWrite(k, 0x0b, 0x00); // BCD, 12-hour
  const hour12 = reg(0x04);
  cmosWrite(k, 0x0b, 0x02);
  a.mov(eax, T.sec);
  bcd2bin();
  a.mov(ebx, eax);
  k.check(
    "binary mode (B bit 2): seconds in binary",
    () => {
      a.mov(eax, secBin).sub(eax, ebx).cmp(eax, 1);
    },
    "a",
    secBin,
  );
  // Expected 12-hour BCD hour: h % 12 (0 → 12) | 0x80 for PM.
  {
    const nz = a.label(), am = a.label();
    a.mov(eax, hour24).xor(edx, edx).mov(ecx, 12).div(ecx).mov(eax, edx).test(eax, eax).jnz(nz);
    a.mov(eax, 12);
    a.bind(nz);
    bin2bcd();
    a.cmp(hour24, 12).jb(am).or(eax, 0x80);
    a.bind(am).mov(ebx, eax);
  }
  k.expectSame("12-hour mode (B bit 1 clear): hour as 1-12 with bit 7 = PM", hour12, ebx);
  // Sleeps (HLT, LAPIC watchdog) until just past the next second boundary of virtual time.
  const apicHz = v();
  a.mov(ecx, 0x40000023).rdmsr().mov(apicHz, eax);
  const sleepPastSecond = () => {
    const loop = a.label(), done = a.label();
    a.rdtsc().div(tscHz).mov(eax, tscHz).sub(eax, edx); // TSC ticks to the boundary
    a.mov(ecx, eax).mov(eax, tscHz).xor(edx, edx).div(apicHz).mov(ebx, eax); // TSC per APIC tick
    a.mov(eax, ecx).xor(edx, edx).div(ebx).add(eax, 2_000).call(k.rt.armWatchdog);
    a.bind(loop).cli().cmp(dword(KV.wdFired), 0).jne(done).sti().hlt().jmp(loop);
    a.bind(done).call(k.rt.disarmWatchdog);
  };
  // Flags are set without their enables and clear on read.
  reg(0x0c);
  sleepPastSecond();
  // (PF and AF may be set too: the periodic rate runs and the alarm bytes are 0 at reset.)
  k.expectMask("update flag without UIE: UF set, IRQF clear", reg(0x0c), 0x90, 0x10);
  k.expectEq("register C clears on read", reg(0x0c), 0);
  // Update-ended interrupt at a second boundary.
  cmosWrite(k, 0x0b, 0x12);
  k.waitCount(k.count(RTC_VEC), 1, 120_000_000);
  cmosWrite(k, 0x0b, 0x02);
  k.expectEq("update-ended interrupt through IRQ8/GSI 8", k.count(RTC_VEC), 1);
  k.expectMask("update-ended: C has IRQF | UF", lastC, 0x90, 0x90);
  a.mov(eax, dword(stamps)).xor(edx, edx).div(tscHz);
  k.expectRange("update-ended: at a second boundary (TSC mod Hz < 2000)", edx, 0, 2000);
  k.expectEq("register C reads 0 after the handler's read", reg(0x0c), 0);
  // Periodic interrupt, 1024 Hz (rate 6): 976562.5 us apart at 1 GHz... in TSC ticks.
  a.mov(nStamps, 0);
  cmosWrite(k, 0x0b, 0x42);
  k.waitCount(nStamps, 4, 20_000_000);
  cmosWrite(k, 0x0b, 0x02);
  k.expectMask("periodic interrupt: C has IRQF | PF", lastC, 0xc0, 0xc0);
  const per = v();
  a.mov(eax, tscHz).shr(eax, 10).mov(per, eax); // tscHz / 1024
  for (let i = 1; i < 4; i++) {
    a.mov(eax, dword(stamps + 4 * i)).sub(eax, dword(stamps + 4 * (i - 1))).sub(eax, per);
    a.add(eax, 100);
    k.expectRange(`periodic 1024 Hz: interval ${i} = TSC Hz / 1024 (+-100)`, eax, 0, 200);
  }
  reg(0x0c);
  // Alarm at the next second (minutes and hours "don't care", 0xc0-0xff); the time was read
  // with UIP = 0, so the next update is at least 244 us away.
  const alarm = v(), secAtAlarm = v();
  a.call(readTime);
  a.mov(eax, T.sec);
  bcd2bin();
  a.add(eax, 1).xor(edx, edx).mov(ecx, 60).div(ecx).mov(eax, edx);
  bin2bcd();
  a.mov(alarm, eax);
  a.mov(al, 0x81).out(0x70, al).mov(eax, alarm).out(0x71, al);
  cmosWrite(k, 0x03, 0xff);
  cmosWrite(k, 0x05, 0xff);
  a.mov(eax, k.count(RTC_VEC)).inc(eax).mov(ebx, eax);
  cmosWrite(k, 0x0b, 0x22);
  k.waitIrq(() => a.cmp(k.count(RTC_VEC), ebx), "ae", 150_000_000);
  cmosWrite(k, 0x0b, 0x02);
  cmosRead(k, 0x00);
  a.movzx(eax, al).mov(secAtAlarm, eax);
  k.expectMask("alarm interrupt: C has IRQF | AF", lastC, 0xa0, 0xa0);
  k.expectSame("alarm: fires when the seconds match", secAtAlarm, alarm);
  // SET stops the clock; the written time runs on after SET is cleared.
  cmosWrite(k, 0x0b, 0x82);
  const set: [number, number][] = [
    [0x00, 0x30],
    [0x02, 0x45],
    [0x04, 0x13],
    [0x07, 0x15],
    [
      0x08,
      0x06,
    ],
    [0x09, 0x25],
    [0x32, 0x20],
  ];
  for (const [i, x] of set) cmosWrite(k, i, x);
  sleepPastSecond();
  const frozen = reg(0x00), uipSet = reg(0x0a);
  a.mov(eax, k.count(RTC_VEC)).inc(eax).mov(ebx, eax);
  cmosWrite(k, 0x0b, 0x12);
  k.waitIrq(() => a.cmp(k.count(RTC_VEC), ebx), "ae", 120_000_000);
  cmosWrite(k, 0x0b, 0x02);
  a.call(readTime);
  k.expectEq("SET: the clock does not advance", frozen, 0x30);
  k.expectMask("SET: UIP reads 0", uipSet, 0x80, 0);
  k.expectEq("after SET: seconds advanced by one update", T.sec, 0x31);
  k.expectEq("after SET: minutes as written", T.min, 0x45);
  k.expectEq("after SET: hours as written", T.hour, 0x13);
  k.expectEq("after SET: day of month as written", T.day, 0x15);
  k.expectEq("after SET: month as written", T.mon, 0x06);
  k.expectEq("after SET: year as written", T.year, 0x25);
  k.expectEq("after SET: century as written", T.cent, 0x20);
  ioapicRoute(k, 8, 0x10000 | RTC_VEC, 0);

  // ---- CMOS NVRAM --------------------------------------------------------------------------------------
  a.mov(eax, dword(PV.fwRamLo)).sub(eax, 16 << 20).shr(eax, 16).mov(ebx, eax);
  cmosRead(k, 0x35);
  a.movzx(ecx, al).shl(ecx, 8);
  cmosRead(k, 0x34);
  a.mov(cl, al);
  k.expectSame("CMOS 0x34/0x35: memory above 16 MiB in 64 KiB units (fw_cfg RAM size)", ecx, ebx);
  a.mov(ebx, dword(PV.fwCpus)).dec(ebx);
  cmosRead(k, 0x5f);
  a.movzx(eax, al);
  k.expectSame("CMOS 0x5f: CPU count - 1 (fw_cfg NB_CPUS)", eax, ebx);
  a.xor(ebx, ebx);
  for (let i = 0x10; i <= 0x2d; i++) {
    cmosRead(k, i);
    a.movzx(eax, al).add(ebx, eax);
  }
  cmosRead(k, 0x2e);
  a.movzx(ecx, al).shl(ecx, 8);
  cmosRead(k, 0x2f);
  a.mov(cl, al);
  k.expectSame("CMOS checksum 0x2e/0x2f = sum of 0x10-0x2d", ecx, ebx);
  cmosWrite(k, 0x40, 0x5a);
  k.expectEq("CMOS NVRAM byte 0x40 keeps a written value", reg(0x40), 0x5a);
  return k.build();
}
