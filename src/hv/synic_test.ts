import assert from "node:assert/strict";
import {
  HV_X64_MSR_EOM,
  HV_X64_MSR_SCONTROL,
  HV_X64_MSR_SIEFP,
  HV_X64_MSR_SIMP,
  HV_X64_MSR_SINT0,
  HV_X64_MSR_SVERSION,
} from "./hvdef.ts";
import {
  buildMessage,
  HV_MESSAGE_FLAG_MESSAGE_PENDING,
  parseMessageHeader,
  parseTimerMessagePayload,
} from "./messages.ts";
import { HV_X64_MSR_STIMER0_CONFIG, HV_X64_MSR_STIMER0_COUNT } from "./stimer.ts";
import {
  HV_X64_MSR_SIRBP,
  isSynicMsr,
  SynIC,
  SYNIC_QUEUE_LIMIT,
  type SynicEnv,
  type SynicOutcome,
  type SynicOverlayKind,
} from "./synic.ts";

const PAGE = 4096;
const SIMP_GPN = 0x123;
const SIEFP_GPN = 0x124;

interface Irq {
  vector: number;
  autoEoi: boolean;
  source: string;
}
interface Ev {
  sint: number;
  type: number;
  outcome: SynicOutcome;
}

/** A SynicEnv over a 4-page buffer: page 1 stores the SIM page, page 2 the SIEF page. */
class FakeEnv implements SynicEnv {
  readonly vpIndex = 0;
  readonly vtl = 1;
  readonly u8 = new Uint8Array(4 * PAGE);
  readonly dv = new DataView(this.u8.buffer);
  readonly touched: [number, number][] = [];
  readonly mem = {
    u8: this.u8,
    dv: this.dv,
    touch: (off: number, len: number) => {
      this.touched.push([off, len]);
    },
  };
  readonly storage: Record<SynicOverlayKind, number> = { simp: 1 * PAGE, siefp: 2 * PAGE };
  readonly overlays: Record<SynicOverlayKind, number | null> = { simp: null, siefp: null };
  readonly overlayCalls: [SynicOverlayKind, number | null][] = [];
  readonly irqs: Irq[] = [];
  readonly events: Ev[] = [];
  now = 0;
  deadlineChanges = 0;
  validGpn: ((gpn: number) => boolean) | undefined = undefined;

  setOverlay(kind: SynicOverlayKind, gpn: number | null): number {
    this.overlayCalls.push([kind, gpn]);
    this.overlays[kind] = gpn;
    return this.storage[kind];
  }
  interrupt(vector: number, autoEoi: boolean, source: string): void {
    this.irqs.push({ vector, autoEoi, source });
  }
  event(sint: number, type: number, outcome: SynicOutcome): void {
    this.events.push({ sint, type, outcome });
  }
  referenceTime(): number {
    return this.now;
  }
  isValidGpn(gpn: number): boolean {
    return this.validGpn ? this.validGpn(gpn) : true;
  }
  deadlineChanged(): void {
    this.deadlineChanges++;
  }
  /** Offset of SIM slot `sint`. */
  slot(sint: number): number {
    return this.storage.simp + sint * 256;
  }
  slotType(sint: number): number {
    return this.dv.getUint32(this.slot(sint), true);
  }
  slotPending(sint: number): boolean {
    return (this.u8[this.slot(sint) + 5]! & HV_MESSAGE_FLAG_MESSAGE_PENDING) !== 0;
  }
  /** The guest consumes a slot: MessageType = HvMessageTypeNone (TLFS recommended handling). */
  consume(sint: number): void {
    this.dv.setUint32(this.slot(sint), 0, true);
  }
}

function rd(s: SynIC, msr: number): [number, number] {
  const out = new Int32Array(2);
  assert.ok(s.readMsr(msr, out), `read ${msr.toString(16)}`);
  return [out[0]!, out[1]!];
}

function wr(s: SynIC, msr: number, lo: number, hi = 0): boolean {
  return s.writeMsr(msr, lo | 0, hi | 0);
}

/** SynIC with SCONTROL, SIMP and SIEFP enabled and SINT2 = vector 0x40 unmasked. */
function setup(): { env: FakeEnv; s: SynIC } {
  const env = new FakeEnv();
  const s = new SynIC(env);
  assert.ok(wr(s, HV_X64_MSR_SCONTROL, 1));
  assert.ok(wr(s, HV_X64_MSR_SIMP, (SIMP_GPN << 12) | 1));
  assert.ok(wr(s, HV_X64_MSR_SIEFP, (SIEFP_GPN << 12) | 1));
  assert.ok(wr(s, HV_X64_MSR_SINT0 + 2, 0x40));
  return { env, s };
}

function msg(type: number, fill = 0): Uint8Array {
  return buildMessage(type, new Uint8Array(8).fill(fill));
}

// ---- MSRs ---------------------------------------------------------------------------------------

Deno.test("SynIC MSR reset values (TLFS §11 SynIC MSRs, §12 timers)", () => {
  const s = new SynIC(new FakeEnv());
  assert.deepEqual(rd(s, HV_X64_MSR_SCONTROL), [0, 0]);
  assert.deepEqual(rd(s, HV_X64_MSR_SVERSION), [1, 0]);
  assert.deepEqual(rd(s, HV_X64_MSR_SIEFP), [0, 0]);
  assert.deepEqual(rd(s, HV_X64_MSR_SIMP), [0, 0]);
  assert.deepEqual(rd(s, HV_X64_MSR_EOM), [0, 0]);
  for (let i = 0; i < 16; i++) assert.deepEqual(rd(s, HV_X64_MSR_SINT0 + i), [0x10000, 0]);
  for (let m = HV_X64_MSR_STIMER0_CONFIG; m <= 0x400000b7; m++) assert.deepEqual(rd(s, m), [0, 0]);
  assert.equal(s.enabled, false);
  assert.equal(s.simpOffset, -1);
  assert.equal(s.siefpOffset, -1);
});

Deno.test("SynIC MSR #GP cases (TLFS §11): SVERSION write, SINT vector < 16, SIRBP, others", () => {
  const s = new SynIC(new FakeEnv());
  assert.equal(wr(s, HV_X64_MSR_SVERSION, 1), false);
  // Vector 0..15 unmasked → #GP; the value is unchanged.
  assert.equal(wr(s, HV_X64_MSR_SINT0 + 3, 0x0f), false);
  assert.equal(wr(s, HV_X64_MSR_SINT0 + 3, 0x00), false);
  assert.deepEqual(rd(s, HV_X64_MSR_SINT0 + 3), [0x10000, 0]);
  // Masked with a low vector is tolerated (KVM), including the reset value 0x10000.
  assert.equal(wr(s, HV_X64_MSR_SINT0 + 3, 0x10000), true);
  assert.equal(wr(s, HV_X64_MSR_SINT0 + 3, 0x10005), true);
  assert.equal(wr(s, HV_X64_MSR_SINT0 + 3, 0x10), true);
  assert.equal(wr(s, HV_X64_MSR_SINT0 + 3, 0xff), true);
  // SIRBP is not implemented.
  const out = new Int32Array(2);
  assert.equal(s.readMsr(HV_X64_MSR_SIRBP, out), false);
  assert.equal(wr(s, HV_X64_MSR_SIRBP, 0), false);
  // STIMER CONFIG RsvdZ bits 15:13 and 63:20.
  assert.equal(wr(s, HV_X64_MSR_STIMER0_CONFIG, 1 << 13), false);
  assert.equal(wr(s, HV_X64_MSR_STIMER0_CONFIG, 1 << 20), false);
  assert.equal(wr(s, HV_X64_MSR_STIMER0_CONFIG, 0, 1), false);
  // Not a SynIC MSR.
  assert.equal(s.readMsr(0x40000070, out), false);
  assert.equal(wr(s, 0x40000086, 0), false);
});

Deno.test("isSynicMsr covers SCONTROL..SIRBP, SINT0-15 and STIMER0-3", () => {
  for (const m of [0x40000080, 0x40000084, 0x40000085, 0x40000090, 0x4000009f, 0x400000b0]) {
    assert.ok(isSynicMsr(m), m.toString(16));
  }
  assert.ok(isSynicMsr(0x400000b7));
  for (const m of [0x4000007f, 0x40000086, 0x4000008f, 0x400000a0, 0x400000af, 0x400000b8]) {
    assert.ok(!isSynicMsr(m), m.toString(16));
  }
});

Deno.test("RsvdP bits are stored and read back, not #GP (TLFS §11 SCONTROL/SIMP/SIEFP/SINTx)", () => {
  const env = new FakeEnv();
  const s = new SynIC(env);
  assert.ok(wr(s, HV_X64_MSR_SCONTROL, 0xfffffffe, 0x12345678));
  assert.deepEqual(rd(s, HV_X64_MSR_SCONTROL), [0xfffffffe | 0, 0x12345678]);
  assert.equal(s.enabled, false);
  assert.ok(wr(s, HV_X64_MSR_SIMP, (SIMP_GPN << 12) | 0xffe));
  assert.deepEqual(rd(s, HV_X64_MSR_SIMP), [(SIMP_GPN << 12) | 0xffe, 0]);
  assert.equal(env.overlayCalls.length, 0); // RsvdP bits only: still disabled
  assert.ok(wr(s, HV_X64_MSR_SINT0 + 7, 0x40 | 0xab00 | (1 << 20) | (1 << 31), 0x7fff));
  assert.deepEqual(rd(s, HV_X64_MSR_SINT0 + 7), [0x40 | 0xab00 | (1 << 20) | (1 << 31), 0x7fff]);
});

Deno.test("SIMP/SIEFP enable installs the overlay and zeroes it; same value keeps contents", () => {
  const env = new FakeEnv();
  const s = new SynIC(env);
  env.u8.fill(0xcc, PAGE, 3 * PAGE); // stale storage contents
  assert.ok(wr(s, HV_X64_MSR_SIMP, (SIMP_GPN << 12) | 1));
  assert.deepEqual(env.overlayCalls, [["simp", SIMP_GPN]]);
  assert.equal(s.simpOffset, PAGE);
  assert.ok(env.u8.subarray(PAGE, 2 * PAGE).every((b) => b === 0));
  assert.ok(env.touched.some(([o, l]) => o === PAGE && l === PAGE));
  // SIEF page still stale: not enabled yet.
  assert.equal(env.u8[2 * PAGE], 0xcc);
  assert.ok(wr(s, HV_X64_MSR_SIEFP, (SIEFP_GPN << 12) | 1, 0));
  assert.deepEqual(env.overlayCalls[1], ["siefp", SIEFP_GPN]);
  assert.equal(s.siefpOffset, 2 * PAGE);
  assert.ok(env.u8.subarray(2 * PAGE, 3 * PAGE).every((b) => b === 0));

  // Rewriting the same enabled value (RsvdP bits may differ): no new overlay call, no clearing.
  env.u8[PAGE + 17] = 0x55;
  assert.ok(wr(s, HV_X64_MSR_SIMP, (SIMP_GPN << 12) | 0x10 | 1));
  assert.equal(env.overlayCalls.length, 2);
  assert.equal(env.u8[PAGE + 17], 0x55);

  // Moving the page: overlay replaced, page zeroed.
  assert.ok(wr(s, HV_X64_MSR_SIMP, ((SIMP_GPN + 8) << 12) | 1));
  assert.deepEqual(env.overlayCalls[2], ["simp", SIMP_GPN + 8]);
  assert.equal(env.u8[PAGE + 17], 0);

  // Disabling removes it; the register keeps the GPFN.
  assert.ok(wr(s, HV_X64_MSR_SIMP, (SIMP_GPN + 8) << 12));
  assert.deepEqual(env.overlayCalls[3], ["simp", null]);
  assert.equal(s.simpOffset, -1);
  assert.deepEqual(rd(s, HV_X64_MSR_SIMP), [(SIMP_GPN + 8) << 12, 0]);
  // Disabling again: nothing to remove.
  assert.ok(wr(s, HV_X64_MSR_SIMP, 0));
  assert.equal(env.overlayCalls.length, 4);
  // A high GPFN (bits 63:32) reaches setOverlay intact.
  assert.ok(wr(s, HV_X64_MSR_SIEFP, 0x5000 | 1, 0x3));
  assert.deepEqual(env.overlayCalls.at(-1), ["siefp", 3 * 1048576 + 5]);
});

Deno.test("SIMP/SIEFP enabling at a GPFN rejected by isValidGpn raises #GP", () => {
  const env = new FakeEnv();
  env.validGpn = (g) => g < 0x1000;
  const s = new SynIC(env);
  assert.equal(wr(s, HV_X64_MSR_SIMP, (0x2000 << 12) | 1), false);
  assert.deepEqual(rd(s, HV_X64_MSR_SIMP), [0, 0]);
  assert.equal(env.overlayCalls.length, 0);
  // Disabled with a bad GPFN is fine (nothing is mapped).
  assert.equal(wr(s, HV_X64_MSR_SIEFP, 0x2000 << 12), true);
  assert.equal(wr(s, HV_X64_MSR_SIEFP, (0x800 << 12) | 1), true);
});

// ---- messages -----------------------------------------------------------------------------------

Deno.test("post into an empty slot (TLFS §11 Messages): copied, interrupt at SINTx.vector, event", () => {
  const { env, s } = setup();
  const m = msg(0x80010006, 0x77);
  assert.equal(s.post(2, m), "delivered");
  assert.deepEqual([...env.u8.subarray(env.slot(2), env.slot(2) + 256)], [...m]);
  assert.deepEqual(env.irqs, [{ vector: 0x40, autoEoi: false, source: "sint" }]);
  assert.deepEqual(env.events, [{ sint: 2, type: 0x80010006, outcome: "delivered" }]);
  assert.ok(env.touched.some(([o, l]) => o === env.slot(2) && l === 256));
  // Other slots untouched.
  assert.equal(env.slotType(1), 0);
  assert.equal(env.slotType(3), 0);
});

Deno.test("post is dropped while SCONTROL or SIMP is disabled (TLFS §11 Messages)", () => {
  const env = new FakeEnv();
  const s = new SynIC(env);
  assert.ok(wr(s, HV_X64_MSR_SIMP, (SIMP_GPN << 12) | 1));
  assert.equal(s.postTarget(0), "disabled");
  assert.equal(s.post(0, msg(5)), "dropped"); // SCONTROL.Enable = 0
  assert.ok(wr(s, HV_X64_MSR_SCONTROL, 1));
  assert.ok(wr(s, HV_X64_MSR_SIMP, SIMP_GPN << 12));
  assert.equal(s.postTarget(0), "disabled");
  assert.equal(s.post(0, msg(6)), "dropped"); // SIMP disabled
  assert.deepEqual(env.events, [
    { sint: 0, type: 5, outcome: "dropped" },
    { sint: 0, type: 6, outcome: "dropped" },
  ]);
  assert.equal(env.irqs.length, 0);
  assert.equal(s.queued(0), 0);
});

Deno.test("post rejects bad SINTs, non-256-byte messages and HvMessageTypeNone", () => {
  const { s } = setup();
  assert.throws(() => s.post(16, msg(1)), RangeError);
  assert.throws(() => s.post(-1, msg(1)), RangeError);
  assert.throws(() => s.post(0, new Uint8Array(255)), RangeError);
  assert.throws(() => s.post(0, new Uint8Array(256)), RangeError);
});

Deno.test("busy slot → pending + MessagePending; EOM redelivers (TLFS §11 EOM Register)", () => {
  const { env, s } = setup();
  assert.equal(s.post(2, msg(0x101, 1)), "delivered");
  assert.equal(s.post(2, msg(0x102, 2)), "pending");
  assert.equal(s.post(2, msg(0x103, 3)), "pending");
  assert.equal(s.queued(2), 2);
  assert.equal(env.slotType(2), 0x101);
  assert.equal(env.slotPending(2), true);
  assert.equal(env.irqs.length, 1);

  // EOM with the slot still full: nothing happens.
  assert.ok(wr(s, HV_X64_MSR_EOM, 0));
  assert.equal(s.queued(2), 2);
  assert.equal(env.slotType(2), 0x101);

  // Guest consumes, writes EOM: next message delivered, interrupt, MessagePending still set
  // because one more waits.
  env.consume(2);
  assert.ok(wr(s, HV_X64_MSR_EOM, 0));
  assert.equal(env.slotType(2), 0x102);
  assert.equal(env.u8[env.slot(2) + 16], 2);
  assert.equal(env.slotPending(2), true);
  assert.equal(env.irqs.length, 2);
  assert.equal(s.queued(2), 1);

  env.consume(2);
  assert.ok(wr(s, HV_X64_MSR_EOM, 0));
  assert.equal(env.slotType(2), 0x103);
  assert.equal(env.slotPending(2), false);
  assert.equal(s.queued(2), 0);
  assert.equal(env.irqs.length, 3);

  // EOM with empty queues is a no-op.
  env.consume(2);
  assert.ok(wr(s, HV_X64_MSR_EOM, 0));
  assert.equal(env.slotType(2), 0);
  assert.equal(env.irqs.length, 3);
  assert.deepEqual(env.events.map((e) => [e.type, e.outcome]), [
    [0x101, "delivered"],
    [0x102, "pending"],
    [0x103, "pending"],
    [0x102, "delivered"],
    [0x103, "delivered"],
  ]);
});

Deno.test("apicEoi() rescans queued messages (TLFS §11: EOI is a rescan trigger)", () => {
  const { env, s } = setup();
  s.post(2, msg(0x201));
  s.post(2, msg(0x202));
  s.apicEoi();
  assert.equal(env.slotType(2), 0x201); // slot still full
  env.consume(2);
  s.apicEoi();
  assert.equal(env.slotType(2), 0x202);
  assert.equal(s.queued(2), 0);
});

Deno.test("a new post rescans first and never overtakes queued messages (FIFO)", () => {
  const { env, s } = setup();
  s.post(2, msg(0x301));
  s.post(2, msg(0x302));
  env.consume(2); // guest emptied the slot but wrote no EOM
  assert.equal(s.post(2, msg(0x303)), "pending");
  assert.equal(env.slotType(2), 0x302);
  assert.equal(env.slotPending(2), true);
  env.consume(2);
  s.apicEoi();
  assert.equal(env.slotType(2), 0x303);
});

Deno.test("queues are per SINT and bounded: overflow is dropped with an event", () => {
  const { env, s } = setup();
  s.post(2, msg(0x400));
  for (let i = 0; i < SYNIC_QUEUE_LIMIT; i++) assert.equal(s.post(2, msg(0x401 + i)), "pending");
  assert.equal(s.postTarget(2), "full");
  assert.equal(s.post(2, msg(0x999)), "dropped");
  assert.deepEqual(env.events.at(-1), { sint: 2, type: 0x999, outcome: "dropped" });
  assert.equal(s.queued(2), SYNIC_QUEUE_LIMIT);
  // Consumed without EOM: a post would drain one first, so there is room.
  env.consume(2);
  assert.equal(s.postTarget(2), "ready");
  assert.equal(s.post(2, msg(0x998)), "pending");
  assert.equal(s.postTarget(2), "full");
  // Another SINT is independent (masked: delivered without interrupt).
  assert.equal(s.post(5, msg(0x500)), "delivered");
  assert.equal(env.slotType(5), 0x500);
});

Deno.test("masked SINT: message delivered, no interrupt (TLFS §11: the interrupt is lost)", () => {
  const { env, s } = setup();
  assert.ok(wr(s, HV_X64_MSR_SINT0 + 4, 0x10000 | 0x41));
  assert.equal(s.post(4, msg(0x600)), "delivered");
  assert.equal(env.slotType(4), 0x600);
  assert.equal(env.irqs.length, 0);
  // EOM still drains a masked SINT's queue ("drain the message queue for a SINTx that has
  // been disabled").
  s.post(4, msg(0x601));
  env.consume(4);
  assert.ok(wr(s, HV_X64_MSR_EOM, 0));
  assert.equal(env.slotType(4), 0x601);
  assert.equal(env.irqs.length, 0);
});

Deno.test("polling SINT: message delivered, no interrupt (TLFS §11 SINTx Registers)", () => {
  const { env, s } = setup();
  assert.ok(wr(s, HV_X64_MSR_SINT0 + 6, (1 << 18) | 0x42));
  assert.equal(s.post(6, msg(0x700)), "delivered");
  assert.equal(env.slotType(6), 0x700);
  assert.equal(env.irqs.length, 0);
});

Deno.test("AutoEOI is passed through to the APIC (TLFS §11 SINTx Registers)", () => {
  const { env, s } = setup();
  assert.ok(wr(s, HV_X64_MSR_SINT0, (1 << 17) | 0x30));
  s.post(0, msg(0x800));
  assert.deepEqual(env.irqs, [{ vector: 0x30, autoEoi: true, source: "sint" }]);
});

Deno.test("disabling SIMP keeps queued messages; re-enabling zeroes the page and delivers", () => {
  const { env, s } = setup();
  s.post(2, msg(0x901));
  s.post(2, msg(0x902));
  assert.ok(wr(s, HV_X64_MSR_SIMP, SIMP_GPN << 12));
  assert.equal(s.queued(2), 1);
  s.apicEoi(); // SIM disabled: nothing delivered
  assert.equal(s.queued(2), 1);
  assert.equal(s.post(2, msg(0x903)), "dropped");
  assert.ok(wr(s, HV_X64_MSR_SIMP, (SIMP_GPN << 12) | 1));
  assert.equal(env.slotType(2), 0x902);
  assert.equal(s.queued(2), 0);
  // Same with SCONTROL: disabling holds, enabling rescans.
  s.post(2, msg(0x904));
  assert.ok(wr(s, HV_X64_MSR_SCONTROL, 0));
  env.consume(2);
  s.apicEoi();
  assert.equal(env.slotType(2), 0);
  assert.ok(wr(s, HV_X64_MSR_SCONTROL, 1));
  assert.equal(env.slotType(2), 0x904);
});

// ---- event flags --------------------------------------------------------------------------------

Deno.test("signalEvent interrupts only on a 0→1 transition (TLFS §11 Event Flag Delivery)", () => {
  const { env, s } = setup();
  assert.equal(s.eventTarget(2), "ready");
  assert.equal(s.signalEvent(2, 9), true);
  const byte = 2 * PAGE + 2 * 256 + 1;
  assert.equal(env.u8[byte], 1 << 1);
  assert.deepEqual(env.irqs, [{ vector: 0x40, autoEoi: false, source: "sint" }]);
  assert.ok(env.touched.some(([o, l]) => o === byte && l === 1));
  assert.equal(s.signalEvent(2, 9), false);
  assert.equal(env.irqs.length, 1);
  // Another flag in the same byte: a new 0→1 transition.
  assert.equal(s.signalEvent(2, 8), true);
  assert.equal(env.u8[byte], 3);
  assert.equal(env.irqs.length, 2);
  // The guest clears the flag: signalling again interrupts again.
  env.u8[byte] = 0;
  assert.equal(s.signalEvent(2, 9), true);
  assert.equal(env.irqs.length, 3);
  // Last flag of the last SINT.
  assert.ok(wr(s, HV_X64_MSR_SINT0 + 15, 0x50));
  assert.equal(s.signalEvent(15, 2047), true);
  assert.equal(env.u8[2 * PAGE + 15 * 256 + 255], 0x80);
  // No synic_message events for event flags.
  assert.equal(env.events.length, 0);
});

Deno.test("signalEvent does nothing when disabled, masked or out of range (TLFS §11)", () => {
  const { env, s } = setup();
  assert.equal(s.eventTarget(3), "masked");
  assert.equal(s.signalEvent(3, 0), false); // SINT3 masked: HV_STATUS_INVALID_SYNIC_STATE
  assert.equal(env.u8[2 * PAGE + 3 * 256], 0);
  assert.equal(s.signalEvent(2, 2048), false);
  assert.equal(s.signalEvent(2, -1), false);
  assert.equal(s.signalEvent(16, 0), false);
  assert.ok(wr(s, HV_X64_MSR_SIEFP, SIEFP_GPN << 12));
  assert.equal(s.eventTarget(2), "disabled");
  assert.equal(s.signalEvent(2, 0), false);
  assert.ok(wr(s, HV_X64_MSR_SIEFP, (SIEFP_GPN << 12) | 1));
  assert.ok(wr(s, HV_X64_MSR_SCONTROL, 0));
  assert.equal(s.signalEvent(2, 0), false);
  assert.equal(env.irqs.length, 0);
  assert.ok(env.u8.subarray(2 * PAGE, 3 * PAGE).every((b) => b === 0));
  // Polling: flag set, no interrupt.
  assert.ok(wr(s, HV_X64_MSR_SCONTROL, 1));
  assert.ok(wr(s, HV_X64_MSR_SINT0 + 2, (1 << 18) | 0x40));
  assert.equal(s.signalEvent(2, 0), true);
  assert.equal(env.irqs.length, 0);
});

// ---- timers through the SynIC -------------------------------------------------------------------

Deno.test("STIMER MSRs are delegated; a timer message lands in SINTx (TLFS §12)", () => {
  const { env, s } = setup();
  assert.ok(wr(s, HV_X64_MSR_STIMER0_CONFIG, 1 | (2 << 16)));
  assert.ok(wr(s, HV_X64_MSR_STIMER0_COUNT, 5000));
  assert.equal(s.nextDeadline(), 5000);
  assert.equal(s.fireTimers(4999), 0);
  env.now = 5003;
  assert.equal(s.fireTimers(5003), 1);
  const h = parseMessageHeader(env.u8, env.slot(2));
  assert.equal(h.messageType, 0x80000010);
  assert.deepEqual(parseTimerMessagePayload(env.u8, env.slot(2)), {
    timerIndex: 0,
    expirationTime: 5000,
    deliveryTime: 5003,
  });
  assert.deepEqual(env.irqs, [{ vector: 0x40, autoEoi: false, source: "sint" }]);
  assert.deepEqual(env.events, [{ sint: 2, type: 0x80000010, outcome: "delivered" }]);
  assert.deepEqual(rd(s, HV_X64_MSR_STIMER0_CONFIG), [2 << 16, 0]); // one-shot self-disabled
  assert.equal(s.nextDeadline(), Infinity);
  assert.ok(env.deadlineChanges > 0);
});

// ---- lifecycle ----------------------------------------------------------------------------------

Deno.test("reset() (TLFS §11): registers to reset values, overlays removed, pages and queues cleared", () => {
  const { env, s } = setup();
  s.post(2, msg(0xa01));
  s.post(2, msg(0xa02));
  s.signalEvent(2, 5);
  wr(s, HV_X64_MSR_STIMER0_CONFIG, 1 | (2 << 16));
  wr(s, HV_X64_MSR_STIMER0_COUNT, 100);
  const calls = env.overlayCalls.length;
  s.reset();
  assert.deepEqual(env.overlayCalls.slice(calls), [["simp", null], ["siefp", null]]);
  assert.deepEqual(rd(s, HV_X64_MSR_SCONTROL), [0, 0]);
  assert.deepEqual(rd(s, HV_X64_MSR_SIMP), [0, 0]);
  assert.deepEqual(rd(s, HV_X64_MSR_SIEFP), [0, 0]);
  assert.deepEqual(rd(s, HV_X64_MSR_SINT0 + 2), [0x10000, 0]);
  assert.deepEqual(rd(s, HV_X64_MSR_STIMER0_CONFIG), [0, 0]);
  assert.deepEqual(rd(s, HV_X64_MSR_STIMER0_COUNT), [0, 0]);
  assert.equal(s.queued(2), 0);
  assert.equal(s.nextDeadline(), Infinity);
  assert.ok(env.u8.subarray(PAGE, 3 * PAGE).every((b) => b === 0));
  assert.deepEqual(s.snapshot(), new SynIC(new FakeEnv()).snapshot());
});

function scenario(): { env: FakeEnv; s: SynIC } {
  const { env, s } = setup();
  wr(s, HV_X64_MSR_SINT0 + 1, (1 << 17) | 0x31);
  s.post(2, msg(0xb01, 1));
  s.post(2, msg(0xb02, 2));
  s.post(1, msg(0xb03, 3));
  s.signalEvent(1, 100);
  wr(s, HV_X64_MSR_STIMER0_CONFIG, 1 | 2 | (2 << 16));
  env.now = 10;
  wr(s, HV_X64_MSR_STIMER0_COUNT, 1000);
  wr(s, HV_X64_MSR_STIMER0_CONFIG + 2, 1 | (0x55 << 4) | (1 << 12));
  wr(s, HV_X64_MSR_STIMER0_COUNT + 2, 700);
  env.now = 1500;
  s.fireTimers(1500);
  return { env, s };
}

Deno.test("snapshot is stable: the same operations give the same snapshot", () => {
  const a = scenario(), b = scenario();
  const sa = a.s.snapshot();
  assert.deepEqual(sa, b.s.snapshot());
  assert.deepEqual(a.env.irqs, b.env.irqs);
  assert.deepEqual(a.env.events, b.env.events);
  assert.deepEqual([...a.env.u8], [...b.env.u8]);
  // Plain JSON data with named fields.
  assert.deepEqual(JSON.parse(JSON.stringify(sa)), sa);
  assert.equal(sa.scontrol, "0x1");
  assert.equal(sa.simp, "0x" + ((SIMP_GPN << 12) | 1).toString(16));
  assert.equal(sa.sint[1], "0x20031");
  assert.equal(sa.queues[2]!.length, 2); // 0xb02 and the timer message wait behind 0xb01
  assert.equal(sa.queues[2]![0]!.timer, null);
  assert.equal(sa.queues[2]![0]!.message.length, 512);
  assert.equal(sa.queues[2]![1]!.timer, 0);
  assert.deepEqual(sa.timers[0], { config: "0x20003", count: "0x3e8", due: 2010 });
  assert.deepEqual(sa.timers[1], { config: "0x1550", count: "0x2bc", due: null });
  // Taking a snapshot changes nothing.
  assert.deepEqual(a.s.snapshot(), sa);
});
