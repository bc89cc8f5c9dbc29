import assert from "node:assert/strict";
import {
  Lapic,
  MSR_IA32_TSC_DEADLINE,
  REG_LVT_LINT0,
  REG_LVT_LINT1,
  REG_LVT_TIMER,
  REG_TIMER_INITIAL,
} from "./lapic.ts";

function lapic() {
  let now = 0;
  const l = new Lapic(
    {
      now: () => now,
      tscOffset: () => 0,
      instrPerTick: 10,
      changed: () => {},
      timerChanged: () => {},
      sendIpi: () => {},
    },
    0,
    true,
  );
  l.write(0x0f, 0x1ff);
  return { l, at: (t: number) => now = t };
}

function readDeadline(l: Lapic): number {
  const out = new Int32Array(2);
  assert.ok(l.readMsr(MSR_IA32_TSC_DEADLINE, out));
  return (out[1]! >>> 0) * 2 ** 32 + (out[0]! >>> 0);
}

Deno.test("lapic: IA32_TSC_DEADLINE reads 0 and ignores writes outside TSC-deadline mode", () => {
  const { l } = lapic();
  l.write(REG_LVT_TIMER, 0x50); // one-shot
  assert.ok(l.writeMsr(MSR_IA32_TSC_DEADLINE, 5000, 0));
  assert.equal(readDeadline(l), 0);
  assert.equal(l.timerDeadline, Infinity);
  l.write(REG_LVT_TIMER, 0x40050); // TSC-deadline: still nothing armed
  assert.equal(l.timerDeadline, Infinity);
  l.writeMsr(MSR_IA32_TSC_DEADLINE, 5000, 1);
  assert.equal(readDeadline(l), 2 ** 32 + 5000);
  l.write(REG_LVT_TIMER, 0x50); // leaving TSC-deadline mode disarms
  assert.equal(l.timerDeadline, Infinity);
  assert.equal(readDeadline(l), 0);
});

Deno.test("lapic: one-shot <-> periodic keeps the initial count and the running count", () => {
  const { l, at } = lapic();
  l.write(0x3e, 0x0b);
  l.write(REG_LVT_TIMER, 0x50);
  l.write(REG_TIMER_INITIAL, 1000);
  const deadline = l.timerDeadline;
  assert.equal(deadline, 10_000);
  at(4000);
  l.write(REG_LVT_TIMER, 0x20050);
  assert.equal(l.read(REG_TIMER_INITIAL), 1000);
  assert.equal(l.timerDeadline, deadline);
  l.fireTimer(deadline);
  assert.equal(l.timerDeadline, 20_000, "periodic reload");
  l.write(REG_LVT_TIMER, 0x40050); // to TSC-deadline: disarmed, initial count 0
  assert.equal(l.read(REG_TIMER_INITIAL), 0);
  assert.equal(l.timerDeadline, Infinity);
});

Deno.test("lapic: INIT resets the registers except the APIC ID (SDM 11.4.7.3)", () => {
  const { l } = lapic();
  l.write(0x0e, 0x0fffffff);
  l.write(0x0d, 0x12000000);
  l.write(0x08, 0x40);
  l.write(REG_LVT_TIMER, 0x20050);
  l.write(REG_TIMER_INITIAL, 1000);
  l.accept(0x60);
  l.id = 3;
  l.initReset();
  assert.deepEqual(
    [
      l.read(0x0f),
      l.read(0x0e),
      l.read(0x0d),
      l.read(0x08),
      l.read(REG_LVT_TIMER),
      l.read(0x20 + 3),
    ],
    [0xff, 0xffffffff, 0, 0, 0x10000, 0],
  );
  assert.equal(l.read(REG_TIMER_INITIAL), 0);
  assert.equal(l.timerDeadline, Infinity);
  assert.equal(l.id, 3);
  assert.equal(l.hwEnabled, true);
});

Deno.test("lapic: DFR written as the flat model reads back 0xffffffff", () => {
  const { l } = lapic();
  l.write(0x0e, 0x0fffffff);
  assert.equal(l.read(0x0e), 0x0fffffff);
  l.write(0x0e, 0xffffffff);
  assert.equal(l.read(0x0e), 0xffffffff);
});

Deno.test("lapic: LINT1 (and LINT0) in NMI mode deliver an NMI on an edge; other modes do not", () => {
  let nmis = 0;
  const l = new Lapic(
    {
      now: () => 0,
      tscOffset: () => 0,
      instrPerTick: 10,
      changed: () => {},
      timerChanged: () => {},
      sendIpi: () => {},
      nmi: () => void nmis++,
    },
    0,
    true,
  );
  l.lint(1); // masked at reset
  assert.equal(nmis, 0);
  l.write(0x0f, 0x1ff);
  l.write(REG_LVT_LINT1, 0x400); // NMI, unmasked (the vector field is ignored)
  l.lint(1);
  assert.equal(nmis, 1);
  assert.equal(l.deliverable(), -1, "an NMI does not go through the IRR");
  l.write(REG_LVT_LINT1, 0x10400); // masked
  l.lint(1);
  l.write(REG_LVT_LINT0, 0x700); // ExtINT: the 8259 virtual wire, not an NMI
  l.lint(0);
  assert.equal(nmis, 1);
  l.write(REG_LVT_LINT0, 0x400);
  l.lint(0);
  assert.equal(nmis, 2);
  l.writeMsr(0x1b, 0, 0); // hardware-disabled: no NMI
  l.acceptNmi();
  assert.equal(nmis, 2);
});
