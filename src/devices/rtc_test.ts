import assert from "node:assert/strict";
import { epochToTime, Rtc, timeToEpoch } from "./rtc.ts";

const TSC = 1_000_000_000;

/** Date.UTC is a pure function: fine as an independent oracle in tests. */
function utc(y: number, mo: number, d: number, h = 0, mi = 0, s = 0): number {
  return Date.UTC(y, mo - 1, d, h, mi, s) / 1000;
}

function mk(start: number, opts: { memBelow4G?: number; memAbove4G?: number; cpus?: number } = {}) {
  const clock = { now: 0 };
  const irq: { now: number; level: boolean }[] = [];
  const rtc = new Rtc({
    tscHz: TSC,
    now: () => clock.now,
    startEpochSeconds: start,
    memBelow4G: opts.memBelow4G ?? 64 * 1024 * 1024,
    memAbove4G: opts.memAbove4G,
    cpus: opts.cpus,
    irq8: (level) => irq.push({ now: clock.now, level }),
  });
  const rd = (i: number) => {
    rtc.ioWrite(0x70, 1, i);
    return rtc.ioRead(0x71, 1);
  };
  const wr = (i: number, v: number) => {
    rtc.ioWrite(0x70, 1, i);
    rtc.ioWrite(0x71, 1, v);
  };
  /** [year, month, day, hour, min, sec, dow, century] as raw register bytes. */
  const regs = () => [9, 8, 7, 4, 2, 0, 6, 0x32].map(rd);
  const runTo = (limit: number) => {
    for (;;) {
      const d = rtc.nextDeadline(clock.now);
      if (d > limit) break;
      clock.now = d;
      rtc.update(d);
    }
    clock.now = limit;
  };
  return { rtc, clock, irq, rd, wr, regs, runTo };
}

Deno.test("RTC calendar helpers agree with Date over a wide range", () => {
  let s = 7;
  for (let i = 0; i < 20000; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    const e = Math.floor((s / 4294967296 - 0.3) * 2e11) + (i % 86400);
    const t = epochToTime(e);
    const d = new Date(e * 1000);
    assert.deepEqual(
      [t.year, t.month, t.day, t.hour, t.min, t.sec, t.dow],
      [
        d.getUTCFullYear(),
        d.getUTCMonth() + 1,
        d.getUTCDate(),
        d.getUTCHours(),
        d.getUTCMinutes(),
        d.getUTCSeconds(),
        d.getUTCDay() + 1,
      ],
      `epoch ${e}`,
    );
    assert.equal(timeToEpoch(t), e);
  }
  // Out-of-range fields roll over.
  assert.equal(
    timeToEpoch({ year: 2023, month: 13, day: 32, hour: 24, min: 0, sec: 0, dow: 1 }),
    utc(2024, 2, 2),
  );
});

Deno.test("RTC reads start + floor(now / tscHz) in BCD, across a leap day and month end", () => {
  const h = mk(utc(2024, 2, 28, 23, 59, 58)); // a Wednesday
  assert.deepEqual(h.regs(), [0x24, 0x02, 0x28, 0x23, 0x59, 0x58, 0x04, 0x20]);
  h.clock.now = 2 * TSC - 1;
  assert.equal(h.rd(0), 0x59);
  h.clock.now = 2 * TSC;
  assert.deepEqual(h.regs(), [0x24, 0x02, 0x29, 0x00, 0x00, 0x00, 0x05, 0x20]);
  h.clock.now = (2 + 86400) * TSC;
  assert.deepEqual(h.regs(), [0x24, 0x03, 0x01, 0x00, 0x00, 0x00, 0x06, 0x20]);
});

Deno.test("RTC year and century boundaries, non-leap years", () => {
  const cases: [number, number[]][] = [
    [utc(2023, 2, 28, 23, 59, 59), [0x23, 0x03, 0x01, 0x00, 0x00, 0x00, 0x04, 0x20]],
    [utc(2000, 2, 28, 23, 59, 59), [0x00, 0x02, 0x29, 0x00, 0x00, 0x00, 0x03, 0x20]],
    [utc(2099, 12, 31, 23, 59, 59), [0x00, 0x01, 0x01, 0x00, 0x00, 0x00, 0x06, 0x21]],
    [utc(2100, 2, 28, 23, 59, 59), [0x00, 0x03, 0x01, 0x00, 0x00, 0x00, 0x02, 0x21]],
    [utc(1999, 12, 31, 23, 59, 59), [0x00, 0x01, 0x01, 0x00, 0x00, 0x00, 0x07, 0x20]],
  ];
  for (const [start, want] of cases) {
    const h = mk(start);
    h.clock.now = TSC;
    assert.deepEqual(h.regs(), want, new Date(start * 1000).toISOString());
  }
});

Deno.test("RTC binary and 12-hour formats", () => {
  const h = mk(utc(2024, 7, 4, 23, 5, 9));
  h.wr(0x0b, 0x04); // binary, 12-hour
  assert.deepEqual(h.regs(), [24, 7, 4, 0x80 | 11, 5, 9, 5, 20]);
  const at = (hour: number) => {
    const g = mk(utc(2024, 7, 4, hour));
    g.wr(0x0b, 0x00); // BCD, 12-hour
    return g.rd(4);
  };
  assert.deepEqual([0, 1, 11, 12, 13, 23].map(at), [0x12, 0x01, 0x11, 0x92, 0x81, 0x91]);
});

Deno.test("RTC register A: UIP during the last 244 µs of each second; B, C, D defaults", () => {
  const h = mk(0);
  assert.equal(h.rd(0x0a), 0x26);
  assert.equal(h.rd(0x0b), 0x02);
  assert.equal(h.rd(0x0c), 0x00);
  assert.equal(h.rd(0x0d), 0x80);
  h.clock.now = 5 * TSC + TSC - 244_000 - 1;
  assert.equal(h.rd(0x0a), 0x26);
  h.clock.now += 1;
  assert.equal(h.rd(0x0a), 0xa6);
  h.clock.now = 6 * TSC - 1;
  assert.equal(h.rd(0x0a), 0xa6);
  h.clock.now = 6 * TSC;
  assert.equal(h.rd(0x0a), 0x26);
  h.wr(0x0a, 0xff); // UIP is read-only
  assert.equal(h.rd(0x0a) & 0x7f, 0x7f);
  h.wr(0x0d, 0);
  assert.equal(h.rd(0x0d), 0x80);
});

Deno.test("RTC set time with SET, then the clock runs on from the written time", () => {
  const h = mk(utc(2024, 1, 1));
  h.clock.now = 3 * TSC + 400_000_000;
  h.wr(0x0b, 0x82); // SET
  for (const [i, v] of [[0, 0x30], [2, 0x15], [4, 0x10], [7, 0x31], [8, 0x12], [9, 0x25]]) {
    h.wr(i!, v!);
  }
  h.clock.now = 10 * TSC; // stopped meanwhile
  assert.deepEqual(h.regs().slice(0, 6), [0x25, 0x12, 0x31, 0x10, 0x15, 0x30]);
  h.wr(0x0b, 0x02);
  h.clock.now = 11 * TSC - 1;
  assert.equal(h.rd(0), 0x30);
  h.clock.now = 11 * TSC;
  assert.equal(h.rd(0), 0x31);
  h.clock.now = 11 * TSC + 30 * TSC;
  assert.deepEqual(h.regs().slice(0, 6), [0x25, 0x12, 0x31, 0x10, 0x16, 0x01]);
  // Without SET: a write re-anchors at once.
  h.wr(9, 0x99);
  h.wr(0x32, 0x19);
  assert.deepEqual(h.regs().slice(0, 1).concat(h.rd(0x32)), [0x99, 0x19]);
  h.clock.now += 86400 * 1000 * TSC / 1000;
  assert.deepEqual(h.regs().slice(0, 3), [0x00, 0x01, 0x01]); // 1999-12-31 → 2000-01-01
  assert.equal(h.rd(0x32), 0x20);
});

Deno.test("RTC divider reset stops the clock and the periodic interrupt", () => {
  const h = mk(utc(2024, 1, 1));
  h.wr(0x0a, 0x66);
  h.clock.now = 100 * TSC;
  assert.equal(h.rd(0), 0x00);
  assert.equal(h.rd(0x0a), 0x66); // no UIP while stopped
  h.wr(0x0a, 0x26);
  h.clock.now = 101 * TSC;
  assert.equal(h.rd(0), 0x01);
});

Deno.test("RTC periodic interrupt: exact deadlines, IRQ8 held until register C is read", () => {
  const h = mk(0);
  assert.equal(h.rtc.nextDeadline(0), Infinity);
  h.wr(0x0b, 0x42); // PIE, 1024 Hz (rate 6)
  assert.equal(h.rtc.nextDeadline(0), 976563); // ceil(32 / 32768 s)
  h.runTo(5_000_000);
  assert.deepEqual(h.irq, [{ now: 976563, level: true }]); // held: no more deadlines
  assert.equal(h.rtc.nextDeadline(h.clock.now), Infinity);
  assert.equal(h.rd(0x0c), 0xc0);
  assert.deepEqual(h.irq.at(-1), { now: 5_000_000, level: false });
  assert.equal(h.rd(0x0c), 0x00);
  assert.equal(h.rtc.nextDeadline(h.clock.now), 5859375); // 6 * 976562.5
  // Rate 15 (2 Hz): every 500 ms.
  h.wr(0x0a, 0x2f);
  assert.equal(h.rtc.nextDeadline(h.clock.now), 500_000_000);
});

Deno.test("RTC flags are set without interrupts enabled (polling)", () => {
  const h = mk(0);
  h.clock.now = 2_000_000; // > 1 periodic tick at 1024 Hz
  assert.equal(h.rd(0x0c), 0x40);
  h.clock.now = TSC;
  assert.equal(h.rd(0x0c), 0x50); // PF and UF
  assert.deepEqual(h.irq, []);
  // Enabling an interrupt whose flag is already set raises IRQ8 at once.
  h.clock.now = 2 * TSC;
  h.wr(0x0b, 0x12);
  assert.deepEqual(h.irq, [{ now: 2 * TSC, level: true }]);
});

Deno.test("RTC update-ended and alarm interrupts", () => {
  const h = mk(utc(2024, 2, 28, 23, 59, 58));
  h.wr(0x0b, 0x12); // UIE
  assert.equal(h.rtc.nextDeadline(0), TSC);
  h.runTo(TSC);
  assert.equal(h.rd(0x0c), 0xd0); // IRQF, UF (and PF from the free-running divider)
  h.wr(0x0b, 0x22); // AIE only
  h.wr(0x01, 0x05);
  h.wr(0x03, 0x00);
  h.wr(0x05, 0x00); // 00:00:05
  assert.equal(h.rtc.nextDeadline(h.clock.now), 7 * TSC);
  h.runTo(20 * TSC);
  assert.deepEqual(h.irq.at(-1), { now: 7 * TSC, level: true });
  assert.equal(h.rd(0x0c), 0xf0);
  assert.equal(h.rtc.nextDeadline(h.clock.now), (7 + 86400) * TSC); // tomorrow
  // Don't-care seconds (0xc0): every second of 00:01.
  h.wr(0x01, 0xc0);
  h.wr(0x03, 0x01);
  assert.equal(h.rtc.nextDeadline(h.clock.now), 62 * TSC);
  h.wr(0x03, 0xff);
  h.wr(0x05, 0xff);
  assert.equal(h.rtc.nextDeadline(h.clock.now), 21 * TSC);
  h.wr(0x05, 0x24); // hour 24 never matches
  assert.equal(h.rtc.nextDeadline(h.clock.now), Infinity);
});

Deno.test("RTC NVRAM: memory sizes, CPU count, checksum; port 0x70", () => {
  const a = mk(0, { memBelow4G: 64 << 20 });
  assert.deepEqual([0x14, 0x15, 0x16, 0x17, 0x18, 0x30, 0x31, 0x34, 0x35].map(a.rd), [
    0x02,
    0x80,
    0x02,
    0x00,
    0xfc,
    0x00,
    0xfc,
    0x00,
    0x03,
  ]);
  const b = mk(0, { memBelow4G: 3 * 2 ** 30, memAbove4G: 2 ** 30, cpus: 4 });
  assert.deepEqual([0x17, 0x18, 0x34, 0x35, 0x5b, 0x5c, 0x5d, 0x5f].map(b.rd), [
    0xff,
    0xff,
    0x00,
    0xbf,
    0x00,
    0x40,
    0x00,
    0x03,
  ]);
  let sum = 0;
  for (let i = 0x10; i <= 0x2d; i++) sum += b.rd(i);
  assert.equal((b.rd(0x2e) << 8) | b.rd(0x2f), sum);
  // Scratch RAM, index port behaviour.
  b.wr(0x40, 0x5a);
  assert.equal(b.rd(0x40), 0x5a);
  b.rtc.ioWrite(0x70, 1, 0xc0); // NMI disable + index 0x40
  assert.equal(b.rtc.nmiDisabled, true);
  assert.equal(b.rtc.ioRead(0x71, 1), 0x5a);
  assert.equal(b.rtc.ioRead(0x70, 1), 0xff);
});

Deno.test("RTC garbage never throws; snapshot is plain data", () => {
  const h = mk(utc(2024, 5, 5));
  let s = 3;
  for (let i = 0; i < 5000; i++) {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    h.clock.now += s % 3_000_000;
    if (s & 0x10000) h.wr((s >>> 17) & 0x7f, (s >>> 8) & 0xff);
    else h.rd((s >>> 17) & 0x7f);
    if (s & 0x20000) h.rtc.update(h.clock.now);
    assert.ok(h.rtc.nextDeadline(h.clock.now) >= h.clock.now);
  }
  const snap = h.rtc.snapshot();
  assert.deepEqual(JSON.parse(JSON.stringify(snap)), snap);
});
