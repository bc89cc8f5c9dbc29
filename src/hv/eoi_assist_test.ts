/**
 * EOI assist (TLFS `virtual-interrupts.md` "EOI Assist", spec/vsm.md §7.4): when "No EOI
 * required" is set, and how an EOI made by clearing it reaches the local APIC.
 */

import assert from "node:assert/strict";
import { Vtl0 } from "../core/vtl.ts";
import { DEFAULT_CONFIG, validateConfig } from "../machine/config.ts";
import { NoInput } from "../machine/inputs.ts";
import { realModeLoader } from "../machine/loader.ts";
import { Machine } from "../machine/machine.ts";
import { HV_X64_MSR_EOI, HV_X64_MSR_VP_ASSIST_PAGE } from "./hvdef.ts";
import { writeSynthMsr } from "./msrs.ts";

const ASSIST = 0x9000;

function setup(enable = true) {
  const m = new Machine(
    validateConfig({ ...DEFAULT_CONFIG }),
    realModeLoader("t", Uint8Array.of(0xf4), 0x7c00, { rip: 0x7c00, rsp: 0x7000 }),
    { event() {} },
    new NoInput(),
  );
  const vp = m.vps[0]!, hv = vp.hv, p = m.partition, lapic = hv.lapics.get(Vtl0);
  m.mem.write32(ASSIST, 0xa5a5a5a4); // RAM below the page (bit 0 clear)
  if (enable) assert.ok(writeSynthMsr(p, hv, HV_X64_MSR_VP_ASSIST_PAGE, ASSIST | 1, 0));
  const off = p.assistOffset(hv, Vtl0, 0);
  const bit = () => m.mem.read32(off) & 1;
  const inService = (v: number) => ((lapic.isr[v >>> 5]! >>> (v & 31)) & 1) === 1;
  /** What the guest's `btr [assist], 0` does. */
  const btr = () => {
    const was = bit();
    m.mem.write32(off, m.mem.read32(off) & ~1);
    return was;
  };
  return { m, vp, hv, p, lapic, off, bit, inService, btr };
}

Deno.test("EOI assist: an edge interrupt with nothing else pending sets No EOI required", () => {
  const t = setup();
  t.lapic.accept(0x40);
  assert.equal(t.vp.interruptAck(), 0x40);
  assert.equal(t.bit(), 1);
  assert.ok(t.inService(0x40), "the vector is in service until the guest's EOI");
  assert.equal(t.hv.eoiAssistVector[0], 0x40);
  // The guest's EOI: test-and-clear the bit; it was set, so no EOI MSR write.
  assert.equal(t.btr(), 1);
  // The hypervisor takes it at the next APIC event (here: a new, lower request), before it acts.
  t.lapic.accept(0x30);
  assert.ok(!t.inService(0x40), "lazy EOI performed");
  assert.equal(t.hv.eoiAssistVector[0], -1);
  assert.equal(t.lapic.deliverable(), 0x30, "the lower vector is no longer blocked");
  assert.equal(t.vp.interruptAck(), 0x30);
  assert.equal(t.bit(), 1);
});

Deno.test("EOI assist: the bit stays clear when an EOI is really needed", () => {
  const t = setup();
  // Another interrupt still pending in the IRR (lower priority) at delivery.
  t.lapic.accept(0x41);
  t.lapic.accept(0x42);
  assert.equal(t.vp.interruptAck(), 0x42);
  assert.equal(t.bit(), 0);
  assert.equal(t.hv.eoiAssistVector[0], -1);
  assert.ok(t.inService(0x42));
  assert.ok(writeSynthMsr(t.p, t.hv, HV_X64_MSR_EOI, 0, 0)); // conventional EOI
  assert.equal(t.vp.interruptAck(), 0x41, "then 0x41, with nothing else pending");
  assert.equal(t.bit(), 1);
  assert.equal(t.btr(), 1);
  // Level-triggered: never (the IOAPIC must see the EOI).
  t.lapic.accept(0x43, true);
  assert.equal(t.vp.interruptAck(), 0x43);
  assert.ok(!t.inService(0x41), "0x41's lazy EOI was taken before 0x43 was acknowledged");
  assert.equal(t.bit(), 0);
  assert.ok(writeSynthMsr(t.p, t.hv, HV_X64_MSR_EOI, 0, 0));
  // Auto-EOI (a SINT with AutoEOI): no EOI at all, the bit is left clear.
  t.lapic.accept(0x44, false, "sint", true);
  assert.equal(t.vp.interruptAck(), 0x44);
  assert.ok(!t.inService(0x44));
  assert.equal(t.bit(), 0);
});

Deno.test("EOI assist: a later request clears the bit, so the guest's EOI goes to the APIC", () => {
  const t = setup();
  t.lapic.accept(0x50);
  assert.equal(t.vp.interruptAck(), 0x50);
  assert.equal(t.bit(), 1);
  t.lapic.accept(0x45); // lower priority, requested while 0x50 is in service
  assert.equal(t.bit(), 0, "No EOI required cleared");
  assert.ok(t.inService(0x50));
  assert.equal(t.btr(), 0, "the guest sees the bit clear and writes the EOI MSR");
  assert.ok(writeSynthMsr(t.p, t.hv, HV_X64_MSR_EOI, 0, 0));
  assert.ok(!t.inService(0x50));
  assert.equal(t.vp.interruptAck(), 0x45);
  assert.equal(t.bit(), 1);
  // A higher-priority request nests on top: the bit is cleared as well.
  t.lapic.accept(0x60);
  assert.equal(t.bit(), 0);
  assert.equal(t.vp.interruptAck(), 0x60);
  assert.equal(t.bit(), 1, "the innermost interrupt gets it");
  assert.equal(t.btr(), 1);
  t.vp.rdmsr(0x40000072, new Int32Array(2)); // an APIC access (TPR MSR) settles 0x60's EOI
  assert.ok(!t.inService(0x60));
  assert.ok(t.inService(0x45), "0x45 still needs its conventional EOI");
  assert.ok(writeSynthMsr(t.p, t.hv, HV_X64_MSR_EOI, 0, 0));
  assert.ok(!t.inService(0x45));
});

Deno.test("EOI assist: a conventional EOI with the bit set is fine and clears it", () => {
  const t = setup();
  t.lapic.accept(0x51);
  assert.equal(t.vp.interruptAck(), 0x51);
  assert.equal(t.bit(), 1);
  assert.ok(writeSynthMsr(t.p, t.hv, HV_X64_MSR_EOI, 0, 0));
  assert.ok(!t.inService(0x51));
  assert.equal(t.bit(), 0);
  assert.equal(t.hv.eoiAssistVector[0], -1);
});

Deno.test("EOI assist: only with the VP assist page; disabling it settles a pending EOI", () => {
  const off = setup(false);
  off.lapic.accept(0x40);
  assert.equal(off.vp.interruptAck(), 0x40);
  assert.equal(off.hv.eoiAssistVector[0], -1);
  assert.equal(off.m.mem.read32(ASSIST), 0xa5a5a5a4, "nothing written to the RAM");
  // The guest cleared the bit, then disables the page: the EOI is performed first.
  const t = setup();
  t.lapic.accept(0x40);
  assert.equal(t.vp.interruptAck(), 0x40);
  assert.equal(t.btr(), 1);
  assert.ok(writeSynthMsr(t.p, t.hv, HV_X64_MSR_VP_ASSIST_PAGE, ASSIST, 0));
  assert.ok(!t.inService(0x40));
  // Not cleared yet when the page goes: the guest has to do a conventional EOI.
  assert.ok(writeSynthMsr(t.p, t.hv, HV_X64_MSR_VP_ASSIST_PAGE, ASSIST | 1, 0));
  t.lapic.accept(0x41);
  assert.equal(t.vp.interruptAck(), 0x41);
  assert.equal(t.bit(), 1);
  assert.ok(writeSynthMsr(t.p, t.hv, HV_X64_MSR_VP_ASSIST_PAGE, ASSIST, 0));
  assert.ok(t.inService(0x41));
  assert.equal(t.hv.eoiAssistVector[0], -1);
  assert.ok(writeSynthMsr(t.p, t.hv, HV_X64_MSR_VP_ASSIST_PAGE, ASSIST | 1, 0));
  assert.equal(t.bit(), 0, "the bit was cleared before the page went away");
});
