import assert from "node:assert/strict";
import { floorDiv, mulDivCeil, mulDivFloor, Pit8254, PIT_HZ } from "./pit8254.ts";

// ---- arithmetic ---------------------------------------------------------------------------------

let seed = 0x9e3779b9;
function rnd(): number {
  seed ^= seed << 13;
  seed ^= seed >>> 17;
  seed ^= seed << 5;
  return seed >>> 0;
}
function rndBelow(max: number): number {
  return Math.floor((rnd() * 4294967296 + rnd()) / 2 ** 64 * max);
}

Deno.test("mulDivFloor/mulDivCeil/floorDiv are exact (vs BigInt)", () => {
  const hzs = [1_000_000, 999_999_937, 1_000_000_000, 2_893_000_000, 100_000_000_000];
  const nows = [0, 1, 2 ** 45 - 1, 2 ** 45, 2 ** 47 + 12345, 2 ** 50 - 3];
  for (let i = 0; i < 2000; i++) nows.push(rndBelow(2 ** 48));
  for (const hz of hzs) {
    for (const now of nows) {
      const exp = BigInt(now) * BigInt(PIT_HZ) / BigInt(hz);
      assert.equal(mulDivFloor(now, PIT_HZ, hz), Number(exp), `floor ${now} ${hz}`);
      const expc = (BigInt(now) * BigInt(PIT_HZ) + BigInt(hz) - 1n) / BigInt(hz);
      assert.equal(mulDivCeil(now, PIT_HZ, hz), Number(expc), `ceil ${now} ${hz}`);
      const tick = Number(exp);
      const inv = (BigInt(tick) * BigInt(hz) + BigInt(PIT_HZ) - 1n) / BigInt(PIT_HZ);
      assert.equal(mulDivCeil(tick, hz, PIT_HZ), Number(inv), `inverse ${tick} ${hz}`);
      assert.equal(floorDiv(now, hz), Number(BigInt(now) / BigInt(hz)));
    }
  }
  // The float trap: (k*d - 1) / d can round up to k in doubles.
  for (let k = 2 ** 22; k < 2 ** 22 + 3000; k++) {
    for (const d of [999_999_999, 1_000_000_000, 2_000_000_011]) {
      if (k * d > Number.MAX_SAFE_INTEGER) continue;
      assert.equal(floorDiv(k * d - 1, d), k - 1);
      assert.equal(floorDiv(k * d, d), k);
    }
  }
});

// ---- harness ------------------------------------------------------------------------------------

const TSC = 1_000_000_000;

function mk(tscHz = TSC) {
  const clock = { now: 0 };
  const edges: { now: number; level: boolean }[] = [];
  let changed = 0;
  const pit = new Pit8254({
    tscHz,
    now: () => clock.now,
    irq0: (level) => edges.push({ now: clock.now, level }),
  });
  pit.onDeadlineChanged = () => changed++;
  const out = (port: number, v: number) => pit.ioWrite(port, 1, v);
  const inb = (port: number) => pit.ioRead(port, 1);
  /** Runs the machine's loop: stop at every deadline up to `limit`. */
  const runTo = (limit: number) => {
    for (;;) {
      const d = pit.nextDeadline(clock.now);
      if (d > limit) break;
      clock.now = d;
      pit.update(d);
    }
    clock.now = limit;
  };
  return { pit, clock, edges, out, inb, runTo, changes: () => changed };
}

/** Exact instruction count of PIT tick `t` at `hz`. */
function instr(t: number, hz = TSC): number {
  return Number((BigInt(t) * BigInt(hz) + BigInt(PIT_HZ) - 1n) / BigInt(PIT_HZ));
}

function risesOf(edges: { now: number; level: boolean }[]): number[] {
  return edges.filter((e) => e.level).map((e) => e.now);
}

// ---- channel 0 and IRQ0 ---------------------------------------------------------------------------

Deno.test("PIT mode 2, divisor 11932: IRQ0 every 11932 ticks (10.00015 ms), exact instruction counts", () => {
  const h = mk();
  h.out(0x43, 0x34); // ch0, lo/hi, mode 2, binary
  h.out(0x40, 11932 & 0xff);
  h.out(0x40, 11932 >> 8);
  // Counting starts at tick 0: OUT falls at 11931, rises at 11932, and so on.
  assert.equal(h.pit.nextDeadline(0), instr(11931));
  h.runTo(instr(5 * 11932) + 1);
  const rises = risesOf(h.edges);
  assert.deepEqual(rises, [1, 2, 3, 4, 5].map((k) => instr(k * 11932)));
  assert.equal(rises[0], 10000151); // 11932 / 1193182 Hz = 10.00015 ms
  // Every rise is preceded by a one-tick low pulse.
  const falls = h.edges.filter((e) => !e.level).map((e) => e.now);
  assert.deepEqual(falls, [1, 2, 3, 4, 5].map((k) => instr(k * 11932 - 1)));
});

Deno.test("PIT deadlines stay exact at large instruction counts", () => {
  const h = mk(2_893_000_123);
  const start = 2 ** 45 + 777;
  h.clock.now = start;
  h.pit.update(start);
  h.out(0x43, 0x34); // OUT was low (reset mode 3, low half): the control word raises it
  assert.deepEqual(h.edges.at(-1), { now: start, level: true });
  h.edges.length = 0;
  h.out(0x40, 0x9c);
  h.out(0x40, 0x2e); // 11932
  const t0 = Number(BigInt(start) * BigInt(PIT_HZ) / 2893000123n);
  h.runTo(instr(t0 + 3 * 11932, 2_893_000_123));
  assert.deepEqual(
    risesOf(h.edges),
    [1, 2, 3].map((k) => instr(t0 + k * 11932, 2_893_000_123)),
  );
});

Deno.test("PIT: a late update replays missed edges as one pulse", () => {
  const h = mk();
  h.out(0x43, 0x34);
  h.out(0x40, 100);
  h.out(0x40, 0);
  h.edges.length = 0;
  h.clock.now = instr(1050);
  h.pit.update(h.clock.now); // ten periods missed; OUT is high now
  assert.deepEqual(h.edges.map((e) => e.level), [false, true]);
  h.edges.length = 0;
  h.clock.now = instr(1099); // OUT low (count 1) right now, with no rise since
  h.pit.update(h.clock.now);
  assert.deepEqual(h.edges.map((e) => e.level), [false]);
  h.clock.now = instr(1250); // rises at 1100 and 1200, now high
  h.edges.length = 0;
  h.pit.update(h.clock.now);
  assert.deepEqual(h.edges.map((e) => e.level), [true]);
});

Deno.test("PIT reset state: mode 3, count 65536 on all channels, ch0 at 18.2 Hz", () => {
  const h = mk();
  // Read-back status of channel 0: OUT high, count valid, lo/hi, mode 3, binary.
  h.out(0x43, 0xe2);
  assert.equal(h.inb(0x40), 0x80 | 0x30 | (3 << 1));
  // OUT falls at 32768 ticks, rises at 65536.
  assert.equal(h.pit.nextDeadline(0), instr(32768));
  h.runTo(instr(65536));
  assert.deepEqual(h.edges, [
    { now: instr(32768), level: false },
    { now: instr(65536), level: true },
  ]);
  // Channel 2 is stopped (gate low) with OUT high.
  assert.equal(h.inb(0x61) & 0x20, 0x20);
});

Deno.test("PIT mode 0: one-shot, OUT low until terminal count, then the count wraps", () => {
  const h = mk();
  h.out(0x43, 0x30); // ch0, lo/hi, mode 0
  assert.equal(h.edges.at(-1)?.level, false); // OUT low on the control word
  h.out(0x40, 0x00);
  h.out(0x40, 0x10); // 4096
  assert.equal(h.pit.nextDeadline(0), instr(4096));
  h.clock.now = instr(1000);
  h.out(0x43, 0x00); // latch
  assert.equal(h.inb(0x40) | (h.inb(0x40) << 8), 4096 - 1000);
  h.runTo(instr(100000));
  assert.deepEqual(risesOf(h.edges), [instr(4096)]);
  assert.equal(h.pit.nextDeadline(h.clock.now), Infinity);
  h.clock.now = instr(4096 + 5);
  h.out(0x43, 0x00);
  assert.equal(h.inb(0x40) | (h.inb(0x40) << 8), 0x10000 - 5);
});

Deno.test("PIT mode 0 with count 0 counts 65536; the first byte of a new count stops it", () => {
  const h = mk();
  h.out(0x43, 0x30);
  h.out(0x40, 0);
  h.out(0x40, 0);
  assert.equal(h.pit.nextDeadline(0), instr(65536));
  h.clock.now = instr(10);
  h.out(0x40, 0x34); // LSB only: counting stops, OUT stays low, null count
  assert.equal(h.pit.nextDeadline(h.clock.now), Infinity);
  h.out(0x43, 0xe2);
  assert.equal(h.inb(0x40) & 0xc0, 0x40);
  h.clock.now = instr(20);
  h.out(0x40, 0x00); // 0x0034 loaded at tick 20
  assert.equal(h.pit.nextDeadline(h.clock.now), instr(20 + 0x34));
});

Deno.test("PIT mode 4: strobe one tick after terminal count", () => {
  const h = mk();
  h.out(0x43, 0x38); // ch0 lo/hi mode 4 (Linux oneshot)
  h.out(0x40, 50);
  h.out(0x40, 0);
  h.edges.length = 0;
  h.runTo(instr(1000));
  assert.deepEqual(h.edges, [
    { now: instr(50), level: false },
    { now: instr(51), level: true },
  ]);
});

Deno.test("PIT mode 3: square wave duty cycle and count sequence", () => {
  const h = mk();
  h.out(0x43, 0x36); // ch0 lo/hi mode 3
  h.out(0x40, 7);
  h.out(0x40, 0);
  h.edges.length = 0;
  h.runTo(instr(21));
  // Odd count 7: high 4 ticks, low 3.
  assert.deepEqual(h.edges.map((e) => [e.now, e.level]), [
    [instr(4), false],
    [instr(7), true],
    [instr(11), false],
    [instr(14), true],
    [instr(18), false],
    [instr(21), true],
  ]);
  // Even count 6: 6, 4, 2 in each half.
  h.out(0x43, 0x36);
  h.out(0x40, 6);
  h.out(0x40, 0);
  const seen: number[] = [];
  const base = h.pit.tickAt(h.clock.now);
  for (let d = 0; d < 6; d++) {
    h.clock.now = instr(base + d);
    h.out(0x43, 0x00);
    seen.push(h.inb(0x40) | (h.inb(0x40) << 8));
  }
  assert.deepEqual(seen, [6, 4, 2, 6, 4, 2]);
});

Deno.test("PIT mode 2: a new count takes effect at the end of the current period", () => {
  const h = mk();
  h.out(0x43, 0x34);
  h.out(0x40, 100);
  h.out(0x40, 0);
  h.clock.now = instr(30);
  h.out(0x40, 50);
  h.out(0x40, 0);
  h.out(0x43, 0xe2);
  assert.equal(h.inb(0x40) & 0x40, 0x40); // null count until the reload
  h.edges.length = 0;
  h.runTo(instr(260));
  assert.deepEqual(risesOf(h.edges), [instr(100), instr(150), instr(200), instr(250)]);
  h.out(0x43, 0xe2);
  assert.equal(h.inb(0x40) & 0x40, 0);
});

Deno.test("PIT mode 3: a new count takes effect at the end of the current half-cycle", () => {
  const h = mk();
  h.out(0x43, 0x36);
  h.out(0x40, 100);
  h.out(0x40, 0);
  h.clock.now = instr(10); // in the high half (0..49)
  h.out(0x40, 20);
  h.out(0x40, 0);
  h.edges.length = 0;
  h.runTo(instr(120));
  // Falls at 50 (end of the old high half), new low half 10 ticks, then period 20.
  assert.deepEqual(h.edges.map((e) => [e.now, e.level]), [
    [instr(50), false],
    [instr(60), true],
    [instr(70), false],
    [instr(80), true],
    [instr(90), false],
    [instr(100), true],
    [instr(110), false],
    [instr(120), true],
  ]);
});

// ---- reading ------------------------------------------------------------------------------------

Deno.test("PIT counter latch holds the value while time passes; unlatched reads are live", () => {
  const h = mk();
  h.out(0x43, 0x34);
  h.out(0x40, 0x00);
  h.out(0x40, 0x40); // 0x4000
  h.clock.now = instr(0x100);
  h.out(0x43, 0x00);
  h.clock.now = instr(0x2000);
  assert.equal(h.inb(0x40), 0x00);
  h.out(0x43, 0x00); // ignored: already latched (until the MSB is read)
  assert.equal(h.inb(0x40), 0x3f);
  // Now unlatched: LSB then MSB of the live count 0x4000 - 0x2000.
  assert.equal(h.inb(0x40), 0x00);
  h.clock.now = instr(0x2100);
  assert.equal(h.inb(0x40), 0x1f);
});

Deno.test("PIT access modes: LSB only and MSB only", () => {
  const h = mk();
  h.out(0x43, 0x54); // ch1, LSB only, mode 2
  h.out(0x41, 18);
  h.clock.now = instr(5);
  assert.equal(h.inb(0x41), 13);
  assert.equal(h.inb(0x41), 13);
  h.out(0x43, 0x64); // ch1, MSB only, mode 2
  h.out(0x41, 0x02); // 0x200
  h.clock.now = instr(5 + 0x80);
  assert.equal(h.inb(0x41), 0x01); // 0x180
});

Deno.test("PIT read-back: status then count, multiple channels, NULL COUNT", () => {
  const h = mk();
  h.out(0x43, 0xb0); // ch2 lo/hi mode 0
  h.out(0x43, 0xe8); // read-back status of ch2
  assert.equal(h.inb(0x42), 0x40 | 0x30); // OUT low, null count, lo/hi, mode 0
  h.out(0x42, 0x10);
  h.out(0x42, 0x00);
  h.out(0x43, 0xce); // ch0..2, count and status
  assert.equal(h.inb(0x42), 0x30); // status: counting (gate low: paused), OUT low
  assert.equal(h.inb(0x42), 0x10);
  assert.equal(h.inb(0x42), 0x00);
  assert.equal(h.inb(0x40), 0x80 | 0x30 | 0x06); // ch0 status (reset mode 3, OUT high)
  h.out(0x43, 0xd2); // status only (bit 5 set = no count), ch0
  h.out(0x43, 0xe2); // count only ... status already latched
  assert.equal(h.inb(0x40), 0x80 | 0x36);
  assert.equal(h.inb(0x40), 0x00); // latched count 65536 - 0 = 0 LSB
  assert.equal(h.inb(0x40), 0x00);
});

Deno.test("PIT BCD counting", () => {
  const h = mk();
  h.out(0x43, 0x35); // ch0 lo/hi mode 2 BCD
  h.out(0x40, 0x00);
  h.out(0x40, 0x10); // 1000 decimal
  h.clock.now = instr(1);
  h.out(0x43, 0x00);
  assert.equal(h.inb(0x40) | (h.inb(0x40) << 8), 0x0999);
  h.edges.length = 0;
  h.runTo(instr(2000));
  assert.deepEqual(risesOf(h.edges), [instr(1000), instr(2000)]);
  // BCD count 0 = 10000.
  h.out(0x43, 0x31);
  h.out(0x40, 0);
  h.out(0x40, 0);
  assert.equal(h.pit.nextDeadline(h.clock.now), instr(h.pit.tickAt(h.clock.now) + 10000));
});

// ---- channel 2 and port 0x61 ------------------------------------------------------------------------

Deno.test("port 0x61: channel 2 gate, OUT in bit 5 (Linux TSC calibration sequence)", () => {
  const h = mk();
  h.clock.now = 12345;
  h.out(0x61, (h.inb(0x61) & ~0x02) | 0x01); // gate high, speaker off
  h.out(0x43, 0xb0); // ch2 lo/hi mode 0
  h.out(0x42, 0xff);
  h.out(0x42, 0xff);
  const t0 = h.pit.tickAt(12345);
  assert.equal(h.inb(0x61) & 0x21, 0x01); // OUT low, gate bit reads back
  h.clock.now = instr(t0 + 0xffff) - 1;
  assert.equal(h.inb(0x61) & 0x20, 0);
  h.clock.now = instr(t0 + 0xffff);
  assert.equal(h.inb(0x61) & 0x20, 0x20);
  // Writes keep only bits 3:0.
  h.out(0x61, 0xff);
  assert.equal(h.inb(0x61) & 0xcf, 0x0f);
});

Deno.test("port 0x61: gate low pauses mode 0; the refresh bit toggles every 18 ticks", () => {
  const h = mk();
  h.out(0x61, 0x01);
  h.out(0x43, 0xb0);
  h.out(0x42, 100);
  h.out(0x42, 0);
  h.clock.now = instr(40);
  h.out(0x61, 0x00); // pause at d = 40
  h.clock.now = instr(500);
  h.out(0x61, 0x01); // resume
  h.clock.now = instr(559);
  assert.equal(h.inb(0x61) & 0x20, 0);
  h.clock.now = instr(560);
  assert.equal(h.inb(0x61) & 0x20, 0x20);
  const bits: number[] = [];
  for (const t of [0, 17, 18, 35, 36]) {
    h.clock.now = instr(t + 1000 * 18);
    bits.push((h.inb(0x61) >> 4) & 1);
  }
  assert.deepEqual(bits, [0, 0, 1, 1, 0]);
});

Deno.test("PIT channel 2 mode 1: gate rising edge triggers a one-shot", () => {
  const h = mk();
  h.out(0x43, 0xb2); // ch2 lo/hi mode 1
  h.out(0x42, 10);
  h.out(0x42, 0);
  assert.equal(h.inb(0x61) & 0x20, 0x20); // not triggered: OUT high
  h.clock.now = instr(100);
  h.out(0x61, 0x01);
  assert.equal(h.inb(0x61) & 0x20, 0);
  h.clock.now = instr(110);
  assert.equal(h.inb(0x61) & 0x20, 0x20);
  // Retrigger.
  h.out(0x61, 0x00);
  h.out(0x61, 0x01);
  assert.equal(h.inb(0x61) & 0x20, 0);
});

Deno.test("PIT: garbage never throws; snapshot is plain data", () => {
  const h = mk();
  for (let i = 0; i < 5000; i++) {
    h.clock.now += rnd() % 5000;
    const port = [0x40, 0x41, 0x42, 0x43, 0x61, 0x44][rnd() % 6]!;
    if (rnd() & 1) h.pit.ioWrite(port, ([1, 2, 4] as const)[rnd() % 3]!, rnd());
    else h.pit.ioRead(port, 1);
    const d = h.pit.nextDeadline(h.clock.now);
    assert.ok(d >= h.clock.now);
    if (rnd() % 4 === 0) h.pit.update(h.clock.now);
  }
  const snap = h.pit.snapshot();
  assert.deepEqual(JSON.parse(JSON.stringify(snap)), snap);
});

Deno.test("PIT: an access at a due deadline applies it and re-plans", () => {
  const h = mk();
  h.out(0x43, 0x34);
  h.out(0x40, 100);
  h.out(0x40, 0);
  h.edges.length = 0;
  h.clock.now = instr(100); // deadline instr(99) is overdue; the guest reads first
  assert.equal(h.pit.nextDeadline(h.clock.now), h.clock.now);
  h.inb(0x40);
  assert.deepEqual(h.edges.map((e) => e.level), [false, true]);
  assert.equal(h.pit.nextDeadline(h.clock.now), instr(199));
});
