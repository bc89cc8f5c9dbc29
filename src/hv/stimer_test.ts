import assert from "node:assert/strict";
import { HV_X64_MSR_EOM, HV_X64_MSR_SCONTROL, HV_X64_MSR_SIMP, HV_X64_MSR_SINT0 } from "./hvdef.ts";
import { buildMessage, parseTimerMessagePayload } from "./messages.ts";
import {
  HV_X64_MSR_STIMER0_CONFIG,
  HV_X64_MSR_STIMER0_COUNT,
  HV_X64_MSR_STIMER1_CONFIG,
  HV_X64_MSR_STIMER1_COUNT,
  HV_X64_MSR_STIMER2_CONFIG,
  HV_X64_MSR_STIMER2_COUNT,
  HV_X64_MSR_STIMER3_CONFIG,
  HV_X64_MSR_STIMER3_COUNT,
  type StimerHost,
  SyntheticTimers,
} from "./stimer.ts";
import { SynIC, type SynicEnv, type SynicOutcome, type SynicOverlayKind } from "./synic.ts";

const ENABLED = 1, PERIODIC = 2, LAZY = 4, AUTO_ENABLE = 8, DIRECT = 1 << 12;
const sintx = (n: number) => n << 16;
const vector = (v: number) => v << 4;

interface Post {
  index: number;
  sint: number;
  expiration: number;
  delivery: number;
}

class Host implements StimerHost {
  now = 0;
  readonly posts: Post[] = [];
  readonly irqs: [number, boolean, string][] = [];
  changes = 0;
  referenceTime(): number {
    return this.now;
  }
  postTimerMessage(index: number, sint: number, expiration: number, delivery: number): void {
    this.posts.push({ index, sint, expiration, delivery });
  }
  interrupt(vector: number, autoEoi: boolean, source: string): void {
    this.irqs.push([vector, autoEoi, source]);
  }
  deadlineChanged(): void {
    this.changes++;
  }
}

function timers(): { h: Host; t: SyntheticTimers } {
  const h = new Host();
  return { h, t: new SyntheticTimers(h) };
}

function rd(t: { readMsr(msr: number, out: Int32Array): boolean }, msr: number): [number, number] {
  const out = new Int32Array(2);
  assert.ok(t.readMsr(msr, out));
  return [out[0]!, out[1]!];
}

Deno.test("STIMER MSR numbering (TLFS §12 Synthetic Timer MSRs)", () => {
  assert.deepEqual(
    [
      HV_X64_MSR_STIMER0_CONFIG,
      HV_X64_MSR_STIMER0_COUNT,
      HV_X64_MSR_STIMER1_CONFIG,
      HV_X64_MSR_STIMER1_COUNT,
      HV_X64_MSR_STIMER2_CONFIG,
      HV_X64_MSR_STIMER2_COUNT,
      HV_X64_MSR_STIMER3_CONFIG,
      HV_X64_MSR_STIMER3_COUNT,
    ],
    [
      0x400000b0,
      0x400000b1,
      0x400000b2,
      0x400000b3,
      0x400000b4,
      0x400000b5,
      0x400000b6,
      0x400000b7,
    ],
  );
  assert.ok(SyntheticTimers.handles(0x400000b0) && SyntheticTimers.handles(0x400000b7));
  assert.ok(!SyntheticTimers.handles(0x400000af) && !SyntheticTimers.handles(0x400000b8));
  const { t } = timers();
  assert.equal(t.readMsr(0x400000b8, new Int32Array(2)), false);
  assert.equal(t.writeMsr(0x400000af, 0, 0), false);
});

Deno.test("STIMER CONFIG RsvdZ bits raise #GP; valid fields read back (TLFS §12 Configuration Register)", () => {
  const { t } = timers();
  for (const bad of [1 << 13, 1 << 14, 1 << 15, 1 << 20, 1 << 31]) {
    assert.equal(t.writeMsr(HV_X64_MSR_STIMER0_CONFIG, bad, 0), false, bad.toString(16));
  }
  assert.equal(t.writeMsr(HV_X64_MSR_STIMER0_CONFIG, 0, 1), false);
  const all = ENABLED | PERIODIC | LAZY | AUTO_ENABLE | vector(0xff) | DIRECT | sintx(15);
  assert.ok(t.writeMsr(HV_X64_MSR_STIMER0_CONFIG, all, 0));
  assert.deepEqual(rd(t, HV_X64_MSR_STIMER0_CONFIG), [all, 0]);
  // COUNT takes any 64-bit value and reads it back exactly.
  assert.ok(t.writeMsr(HV_X64_MSR_STIMER1_COUNT, -1, -1));
  assert.deepEqual(rd(t, HV_X64_MSR_STIMER1_COUNT), [-1, -1]);
});

Deno.test("one-shot timer: COUNT is the absolute expiry; expires once, then disabled (TLFS §12)", () => {
  const { h, t } = timers();
  h.now = 100;
  assert.ok(t.writeMsr(HV_X64_MSR_STIMER0_CONFIG, ENABLED | sintx(3), 0));
  assert.equal(t.nextDeadline(), Infinity); // count 0: not armed
  assert.ok(t.writeMsr(HV_X64_MSR_STIMER0_COUNT, 2500, 0));
  assert.equal(t.nextDeadline(), 2500);
  assert.equal(t.fire(2499), 0);
  assert.equal(h.posts.length, 0);
  const changes = h.changes;
  assert.equal(t.fire(2600), 1);
  assert.deepEqual(h.posts, [{ index: 0, sint: 3, expiration: 2500, delivery: 2600 }]);
  assert.ok(h.changes > changes);
  assert.equal(t.enabled(0), false);
  assert.deepEqual(rd(t, HV_X64_MSR_STIMER0_CONFIG), [sintx(3), 0]);
  assert.deepEqual(rd(t, HV_X64_MSR_STIMER0_COUNT), [2500, 0]);
  assert.equal(t.nextDeadline(), Infinity);
  assert.equal(t.fire(1e9), 0);
});

Deno.test("one-shot timer with its expiry in the past fires at the next fire (TLFS §12)", () => {
  const { h, t } = timers();
  h.now = 5000;
  t.writeMsr(HV_X64_MSR_STIMER2_CONFIG, ENABLED | sintx(1), 0);
  t.writeMsr(HV_X64_MSR_STIMER2_COUNT, 1000, 0);
  assert.equal(t.nextDeadline(), 1000); // already due
  assert.equal(t.fire(5000), 1);
  assert.deepEqual(h.posts, [{ index: 2, sint: 1, expiration: 1000, delivery: 5000 }]);
  assert.equal(t.enabled(2), false);
});

Deno.test("periodic timer: first period from the enabling write, then no drift (TLFS §12)", () => {
  const { h, t } = timers();
  h.now = 100;
  t.writeMsr(HV_X64_MSR_STIMER1_COUNT, 1000, 0);
  t.writeMsr(HV_X64_MSR_STIMER1_CONFIG, ENABLED | PERIODIC | sintx(2), 0);
  assert.equal(t.nextDeadline(), 1100);
  assert.equal(t.fire(1150), 1); // 50 late
  assert.equal(t.nextDeadline(), 2100); // not 2150
  assert.equal(t.fire(2100), 1);
  assert.equal(t.fire(3999), 1); // 899 late, still within the period
  assert.equal(t.nextDeadline(), 4100);
  assert.deepEqual(h.posts.map((p) => [p.expiration, p.delivery]), [
    [1100, 1150],
    [2100, 2100],
    [3100, 3999],
  ]);
  assert.equal(t.enabled(1), true); // periodic timers stay enabled
});

Deno.test("late periodic timer skips missed periods: one expiry, next boundary after now", () => {
  const { h, t } = timers();
  h.now = 100;
  t.writeMsr(HV_X64_MSR_STIMER0_COUNT, 1000, 0);
  t.writeMsr(HV_X64_MSR_STIMER0_CONFIG, ENABLED | PERIODIC | sintx(2), 0);
  assert.equal(t.fire(4500), 1); // due 1100; 2100, 3100, 4100 missed
  assert.deepEqual(h.posts, [{ index: 0, sint: 2, expiration: 1100, delivery: 4500 }]);
  assert.equal(t.nextDeadline(), 5100);
  // Exactly on a boundary: that boundary counts as missed, next is strictly after now.
  assert.equal(t.fire(7100), 1);
  assert.equal(h.posts[1]!.expiration, 5100);
  assert.equal(t.nextDeadline(), 8100);
});

Deno.test("AutoEnable: a nonzero COUNT write enables the timer (TLFS §12 Configuration Register)", () => {
  const { h, t } = timers();
  h.now = 10;
  t.writeMsr(HV_X64_MSR_STIMER0_CONFIG, AUTO_ENABLE | sintx(2), 0);
  assert.equal(t.enabled(0), false);
  t.writeMsr(HV_X64_MSR_STIMER0_COUNT, 700, 0);
  assert.equal(t.enabled(0), true);
  assert.deepEqual(rd(t, HV_X64_MSR_STIMER0_CONFIG), [ENABLED | AUTO_ENABLE | sintx(2), 0]);
  assert.equal(t.nextDeadline(), 700);
  // Rewriting COUNT re-arms (Linux programs each one-shot this way).
  t.fire(700);
  assert.equal(t.enabled(0), false);
  t.writeMsr(HV_X64_MSR_STIMER0_COUNT, 1400, 0);
  assert.equal(t.enabled(0), true);
  assert.equal(t.nextDeadline(), 1400);
  // Without AutoEnable a COUNT write does not enable.
  t.writeMsr(HV_X64_MSR_STIMER1_CONFIG, sintx(2), 0);
  t.writeMsr(HV_X64_MSR_STIMER1_COUNT, 700, 0);
  assert.equal(t.enabled(1), false);
});

Deno.test("writing COUNT = 0 disables the timer, even with AutoEnable (TLFS §12 Count Register)", () => {
  const { t } = timers();
  t.writeMsr(HV_X64_MSR_STIMER0_CONFIG, AUTO_ENABLE | PERIODIC | sintx(2), 0);
  t.writeMsr(HV_X64_MSR_STIMER0_COUNT, 500, 0);
  assert.equal(t.nextDeadline(), 500);
  t.writeMsr(HV_X64_MSR_STIMER0_COUNT, 0, 0);
  assert.equal(t.enabled(0), false);
  assert.equal(t.nextDeadline(), Infinity);
  assert.equal(t.fire(1e6), 0);
});

Deno.test("Enabled with COUNT 0 arms nothing; a later COUNT write starts it (KVM/OpenVMM)", () => {
  const { h, t } = timers();
  t.writeMsr(HV_X64_MSR_STIMER3_CONFIG, ENABLED | PERIODIC | sintx(2), 0);
  assert.equal(t.enabled(3), true);
  assert.equal(t.nextDeadline(), Infinity); // periodic with count 0 never fires
  assert.equal(t.fire(1e9), 0);
  h.now = 50;
  t.writeMsr(HV_X64_MSR_STIMER3_COUNT, 100, 0);
  assert.equal(t.nextDeadline(), 150);
});

Deno.test("Enabled with SINTx = 0 outside direct mode is cleared immediately (TLFS §12)", () => {
  const { t } = timers();
  assert.ok(t.writeMsr(HV_X64_MSR_STIMER0_CONFIG, ENABLED | PERIODIC, 0));
  assert.deepEqual(rd(t, HV_X64_MSR_STIMER0_CONFIG), [PERIODIC, 0]);
  t.writeMsr(HV_X64_MSR_STIMER0_COUNT, 100, 0);
  assert.equal(t.nextDeadline(), Infinity);
  // AutoEnable cannot enable it either.
  t.writeMsr(HV_X64_MSR_STIMER1_CONFIG, AUTO_ENABLE, 0);
  t.writeMsr(HV_X64_MSR_STIMER1_COUNT, 100, 0);
  assert.equal(t.enabled(1), false);
  // Direct mode does not need a SINT.
  t.writeMsr(HV_X64_MSR_STIMER2_CONFIG, ENABLED | DIRECT | vector(0x50), 0);
  assert.equal(t.enabled(2), true);
});

Deno.test("direct mode asserts ApicVector in the APIC, no message (TLFS §12 Direct Synthetic Timers)", () => {
  const { h, t } = timers();
  t.writeMsr(HV_X64_MSR_STIMER1_CONFIG, ENABLED | PERIODIC | DIRECT | vector(0xd1), 0);
  t.writeMsr(HV_X64_MSR_STIMER1_COUNT, 300, 0);
  assert.equal(t.fire(300), 1);
  assert.equal(t.fire(600), 1);
  assert.deepEqual(h.irqs, [[0xd1, false, "stimer"], [0xd1, false, "stimer"]]);
  assert.equal(h.posts.length, 0);
});

Deno.test("a CONFIG write re-arms a periodic timer from the time of the write", () => {
  const { h, t } = timers();
  t.writeMsr(HV_X64_MSR_STIMER0_COUNT, 1000, 0);
  t.writeMsr(HV_X64_MSR_STIMER0_CONFIG, ENABLED | PERIODIC | sintx(2), 0);
  assert.equal(t.nextDeadline(), 1000);
  h.now = 400;
  t.writeMsr(HV_X64_MSR_STIMER0_CONFIG, ENABLED | PERIODIC | LAZY | sintx(2), 0);
  assert.equal(t.nextDeadline(), 1400);
  t.writeMsr(HV_X64_MSR_STIMER0_CONFIG, PERIODIC | sintx(2), 0); // disable
  assert.equal(t.nextDeadline(), Infinity);
});

Deno.test("several due timers expire in index order; nextDeadline is the minimum", () => {
  const { h, t } = timers();
  t.writeMsr(HV_X64_MSR_STIMER3_CONFIG, ENABLED | sintx(4), 0);
  t.writeMsr(HV_X64_MSR_STIMER3_COUNT, 10, 0);
  t.writeMsr(HV_X64_MSR_STIMER1_CONFIG, ENABLED | sintx(5), 0);
  t.writeMsr(HV_X64_MSR_STIMER1_COUNT, 20, 0);
  t.writeMsr(HV_X64_MSR_STIMER0_CONFIG, ENABLED | sintx(6), 0);
  t.writeMsr(HV_X64_MSR_STIMER0_COUNT, 30, 0);
  assert.equal(t.nextDeadline(), 10);
  assert.equal(t.fire(25), 2);
  assert.deepEqual(h.posts.map((p) => p.index), [1, 3]);
  assert.equal(t.nextDeadline(), 30);
});

Deno.test("COUNT at or above 2^32 (and 2^53) works; reset() clears everything (TLFS §12)", () => {
  const { t } = timers();
  t.writeMsr(HV_X64_MSR_STIMER0_CONFIG, ENABLED | sintx(1), 0);
  t.writeMsr(HV_X64_MSR_STIMER0_COUNT, 5, 2);
  assert.equal(t.nextDeadline(), 2 * 4294967296 + 5);
  t.writeMsr(HV_X64_MSR_STIMER1_CONFIG, ENABLED | sintx(1), 0);
  t.writeMsr(HV_X64_MSR_STIMER1_COUNT, -1, 0x7fffffff);
  assert.equal(t.fire(2 * 4294967296 + 4), 0);
  assert.equal(t.fire(1e15), 1); // timer 0 only; timer 1 is due near 2^63
  assert.equal(t.nextDeadline(), 0x7fffffff * 4294967296 + 0xffffffff);
  t.reset();
  for (let m = HV_X64_MSR_STIMER0_CONFIG; m <= HV_X64_MSR_STIMER3_COUNT; m++) {
    assert.deepEqual(rd(t, m), [0, 0]);
  }
  assert.equal(t.nextDeadline(), Infinity);
  assert.deepEqual(t.snapshot(), timers().t.snapshot());
});

// ---- through the SynIC: pending timer messages ----------------------------------------------

class Env implements SynicEnv {
  readonly vpIndex = 1;
  readonly vtl = 0;
  readonly u8 = new Uint8Array(3 * 4096);
  readonly dv = new DataView(this.u8.buffer);
  readonly mem = { u8: this.u8, dv: this.dv, touch: (_o: number, _l: number) => {} };
  readonly irqs: [number, boolean, string][] = [];
  readonly events: [number, number, SynicOutcome][] = [];
  now = 0;
  setOverlay(kind: SynicOverlayKind, _gpn: number | null): number {
    return kind === "simp" ? 4096 : 8192;
  }
  interrupt(vector: number, autoEoi: boolean, source: string): void {
    this.irqs.push([vector, autoEoi, source]);
  }
  event(sint: number, type: number, outcome: SynicOutcome): void {
    this.events.push([sint, type, outcome]);
  }
  referenceTime(): number {
    return this.now;
  }
  slotType(sint: number): number {
    return this.dv.getUint32(4096 + sint * 256, true);
  }
  consume(sint: number): void {
    this.dv.setUint32(4096 + sint * 256, 0, true);
  }
}

function synic(): { env: Env; s: SynIC } {
  const env = new Env();
  const s = new SynIC(env);
  s.writeMsr(HV_X64_MSR_SCONTROL, 1, 0);
  s.writeMsr(HV_X64_MSR_SIMP, 0x5000 | 1, 0);
  s.writeMsr(HV_X64_MSR_SINT0 + 2, 0x40, 0);
  return { env, s };
}

const TIMER = 0x80000010;

Deno.test("timer message to a busy slot is pending; DeliveryTime is when it enters the slot", () => {
  const { env, s } = synic();
  s.post(2, buildMessage(0x1234, new Uint8Array(0))); // occupy the slot
  s.writeMsr(HV_X64_MSR_STIMER0_CONFIG, ENABLED | sintx(2), 0);
  s.writeMsr(HV_X64_MSR_STIMER0_COUNT, 1000, 0);
  env.now = 1005;
  s.fireTimers(1005);
  assert.deepEqual(env.events.at(-1), [2, TIMER, "pending"]);
  assert.equal(s.queued(2), 1);
  assert.equal(s.timers.enabled(0), false); // the one-shot expired: its message is queued
  env.consume(2);
  env.now = 1700;
  s.writeMsr(HV_X64_MSR_EOM, 0, 0);
  assert.equal(env.slotType(2), TIMER);
  assert.deepEqual(parseTimerMessagePayload(env.u8, 4096 + 2 * 256), {
    timerIndex: 0,
    expirationTime: 1000,
    deliveryTime: 1700,
  });
  assert.deepEqual(env.events.at(-1), [2, TIMER, "delivered"]);
  assert.equal(env.irqs.length, 2);
});

Deno.test("one message buffer per timer (TLFS §11 Message Sources): queued → next expiry dropped", () => {
  const { env, s } = synic();
  s.post(2, buildMessage(0x1234, new Uint8Array(0)));
  s.writeMsr(HV_X64_MSR_STIMER1_CONFIG, ENABLED | PERIODIC | sintx(2), 0);
  s.writeMsr(HV_X64_MSR_STIMER1_COUNT, 100, 0);
  s.fireTimers(100); // queued
  s.fireTimers(200); // its buffer is still queued: dropped
  s.fireTimers(300);
  assert.equal(s.queued(2), 1);
  assert.deepEqual(env.events.slice(1), [
    [2, TIMER, "pending"],
    [2, TIMER, "dropped"],
    [2, TIMER, "dropped"],
  ]);
  assert.equal(s.nextDeadline(), 400); // the period keeps running without drift
  env.consume(2);
  env.now = 350;
  s.apicEoi();
  assert.equal(parseTimerMessagePayload(env.u8, 4096 + 2 * 256).expirationTime, 100);
  // The buffer is free again: the next expiry is posted (slot busy → pending).
  s.fireTimers(400);
  assert.deepEqual(env.events.at(-1), [2, TIMER, "pending"]);
});

Deno.test("timer messages follow SynIC rules: masked SINT → no interrupt; SynIC off → dropped", () => {
  const { env, s } = synic();
  s.writeMsr(HV_X64_MSR_SINT0 + 7, 0x10000 | 0x47, 0);
  s.writeMsr(HV_X64_MSR_STIMER0_CONFIG, ENABLED | sintx(7), 0);
  s.writeMsr(HV_X64_MSR_STIMER0_COUNT, 10, 0);
  s.fireTimers(10);
  assert.equal(env.slotType(7), TIMER);
  assert.equal(env.irqs.length, 0);
  s.writeMsr(HV_X64_MSR_SCONTROL, 0, 0);
  s.writeMsr(HV_X64_MSR_STIMER0_CONFIG, ENABLED | sintx(2), 0);
  s.writeMsr(HV_X64_MSR_STIMER0_COUNT, 20, 0);
  s.fireTimers(20);
  assert.deepEqual(env.events.at(-1), [2, TIMER, "dropped"]);
  assert.equal(s.timers.enabled(0), false); // a one-shot expires even when its message is lost
});
