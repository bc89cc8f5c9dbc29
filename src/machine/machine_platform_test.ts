/**
 * Machine wiring of the platform timers and IPIs: PIT and RTC deadlines bound the scheduler's
 * slices (so halted time jumps exactly to them), lowest-priority IPIs reach one processor, and
 * INIT resets the target's local APIC.
 */

import assert from "node:assert/strict";
import type { TraceEvent } from "../core/events.ts";
import { Vtl0 } from "../core/vtl.ts";
import { RBX } from "../cpu/regs.ts";
import { DEFAULT_CONFIG, type MachineConfig, validateConfig } from "./config.ts";
import { NoInput } from "./inputs.ts";
import { realModeLoader } from "./loader.ts";
import { Machine } from "./machine.ts";

/** A machine whose boot processor halts at once with interrupts off (CLI; HLT at 0x7c00). */
function haltedMachine(over: Partial<MachineConfig> = {}) {
  const events: TraceEvent[] = [];
  const config = validateConfig({ ...DEFAULT_CONFIG, checkpointInterval: 0, ...over });
  const loader = realModeLoader("halt", Uint8Array.of(0xfa, 0xf4, 0xeb, 0xfd), 0x7c00, {
    rip: 0x7c00,
    rsp: 0x7000,
  });
  const m = new Machine(config, loader, { event: (e) => events.push(e) }, new NoInput());
  return { m, events };
}

Deno.test("machine: halted time jumps to the PIT's next IRQ0 edge, not past it", () => {
  const { m } = haltedMachine();
  const edges: number[] = [];
  const irq0 = m.pit.irq0;
  m.pit.irq0 = (level) => {
    if (level) edges.push(m.now());
    irq0(level);
  };
  // Channel 0, mode 2, count 100: OUT rises every 100 PIT ticks.
  m.pit.ioWrite(0x43, 1, 0x34);
  m.pit.ioWrite(0x40, 1, 100);
  m.pit.ioWrite(0x40, 1, 0);
  m.run(1_000_000);
  assert.ok(edges.length >= 10, `edges at ${edges}`);
  for (const t of edges) {
    // Each edge is applied at the first instruction count whose PIT tick reaches it.
    assert.equal(m.pit.instrAt(m.pit.tickAt(t)), t, `edge at ${t} is late`);
  }
});

Deno.test("machine: halted time jumps to the RTC's periodic interrupt", () => {
  const { m } = haltedMachine();
  const rises: number[] = [];
  const irq8 = m.rtc.irq8;
  m.rtc.irq8 = (level) => {
    if (level) rises.push(m.now());
    irq8(level);
  };
  m.rtc.ioWrite(0x70, 1, 0x0b);
  m.rtc.ioWrite(0x71, 1, 0x42); // PIE; register A's rate 6 = 1024 Hz
  m.run(2_000_000);
  assert.deepEqual(rises, [976_563]); // the first 1/1024 s boundary (32 ticks of 32768 Hz)
});

Deno.test("machine: a lowest-priority IPI reaches exactly one target, the lowest PPR", () => {
  const { m } = haltedMachine({ vps: 4 });
  const irr = (i: number) => m.vps[i]!.hv.lapic.irr[0x49 >>> 5]! & (1 << (0x49 & 31));
  for (const vp of m.vps) {
    vp.hv.lapic.write(0x0f, 0x1ff);
    vp.hv.lapic.write(0x0e, 0xffffffff); // flat model
    vp.hv.lapic.write(0x0d, (1 << (24 + vp.index)) >>> 0);
  }
  m.vps[1]!.hv.lapic.write(0x08, 0x40); // CPU 1 busier than CPUs 2 and 3
  m.sendIpi(m.vps[0]!, Vtl0, 0x4900 | 0x49, 0x0e000000); // lowest priority, logical 0x0e
  assert.deepEqual([0, 1, 2, 3].map((i) => irr(i) !== 0), [false, false, true, false]);
});

Deno.test("machine: INIT resets the target's local APIC, not its ID", () => {
  const { m } = haltedMachine({ vps: 2 });
  const l1 = m.vps[1]!.hv.lapic;
  l1.write(0x0f, 0x1ff);
  l1.write(0x0d, 0x02000000);
  m.sendIpi(m.vps[0]!, Vtl0, 0x4500, 0x01000000); // INIT, level assert, to APIC ID 1
  assert.equal(m.vps[1]!.waitSipi, true);
  assert.deepEqual([l1.read(0x0f), l1.read(0x0d), l1.id], [0xff, 0, 1]);
});

/** An NMI handler at 0000:7E00 for the halted machine: inc bx; iret. */
function nmiHandler(m: Machine): void {
  m.mem.writeBytes(0x7e00, Uint8Array.of(0x43, 0xcf));
  m.mem.write32(2 * 4, 0x7e00);
}

Deno.test("machine: an NMI IPI (vector ignored) wakes a halted VP with IF = 0 through vector 2", () => {
  const { m, events } = haltedMachine({ vps: 2 });
  nmiHandler(m);
  m.run(1000);
  const bsp = m.vps[0]!;
  assert.ok(bsp.cpu.halted);
  assert.equal(bsp.runnable, false);
  // From VP1's APIC: delivery mode NMI (100b), physical destination APIC ID 0, vector 0x33.
  m.sendIpi(m.vps[1]!, Vtl0, 0x4433, 0x00000000);
  assert.ok(bsp.cpu.nmiPending);
  assert.equal(bsp.hv.lapic.deliverable(), -1);
  assert.equal(bsp.runnable, true);
  m.run(1000);
  assert.equal(bsp.cpu.lo[RBX]! & 0xffff, 1);
  assert.ok(bsp.cpu.halted && !bsp.cpu.nmiBlocked);
  const ints = events.filter((e) => e.kind === "interrupt");
  assert.equal(ints.length, 1);
  assert.deepEqual(
    [ints[0]!.vector, ints[0]!.source, ints[0]!.target_vtl, ints[0]!.preempted],
    [2, "nmi", 0, false],
  );
});

Deno.test("machine: the 8259's INTR rising on LINT0 in NMI mode is an NMI", () => {
  const { m } = haltedMachine();
  nmiHandler(m);
  m.run(1000);
  const l = m.vps[0]!.hv.lapic;
  l.write(0x0f, 0x1ff);
  l.write(0x35, 0x400); // LINT0: NMI
  // Initialise the master 8259 (ICW1-ICW4), unmask IRQ1, raise it.
  for (const [p, v] of [[0x20, 0x11], [0x21, 0x08], [0x21, 0x04], [0x21, 0x01], [0x21, 0xfd]]) {
    m.ports.write(p!, 1, v!);
  }
  m.pic.setIrq(1, true);
  assert.ok(m.vps[0]!.cpu.nmiPending);
  m.run(1000);
  assert.equal(m.vps[0]!.cpu.lo[RBX]! & 0xffff, 1);
});

Deno.test("machine: an IOAPIC redirection entry with delivery mode NMI delivers an NMI", () => {
  const { m } = haltedMachine();
  nmiHandler(m);
  m.run(1000);
  // Pin 5: delivery mode NMI (100b), vector 0x55 (ignored), edge, physical APIC ID 0.
  m.ioapic.mmioWrite(0x00, 4, 0x10 + 5 * 2);
  m.ioapic.mmioWrite(0x10, 4, 0x455);
  m.ioapic.mmioWrite(0x00, 4, 0x10 + 5 * 2 + 1);
  m.ioapic.mmioWrite(0x10, 4, 0);
  m.ioapic.setIrq(5, true);
  assert.ok(m.vps[0]!.cpu.nmiPending);
  m.run(1000);
  assert.equal(m.vps[0]!.cpu.lo[RBX]! & 0xffff, 1);
});

Deno.test("machine: an IOAPIC lowest-priority message goes to the APIC with the lowest priority (SDM 11.6.2.4)", () => {
  const { m } = haltedMachine({ vps: 2 });
  const [l0, l1] = [m.vps[0]!.hv.lapic, m.vps[1]!.hv.lapic];
  for (const [l, ldr] of [[l0, 0x01000000], [l1, 0x02000000]] as const) {
    l.write(0x0f, 0x1ff); // software enable
    l.write(0x0e, 0xffffffff); // flat model
    l.write(0x0d, ldr);
  }
  l0.write(0x08, 0x80); // VP 0 busy (TPR 0x80), VP 1 idle
  // Pin 5: vector 0x40, lowest priority (001b), logical destination 0x03 (both), edge.
  m.ioapic.mmioWrite(0x00, 4, 0x10 + 5 * 2);
  m.ioapic.mmioWrite(0x10, 4, 0x940);
  m.ioapic.mmioWrite(0x00, 4, 0x10 + 5 * 2 + 1);
  m.ioapic.mmioWrite(0x10, 4, 0x03000000);
  m.ioapic.setIrq(5, true);
  const irr = (l: typeof l0) => (l.read(0x22) & 1) !== 0; // IRR bit of vector 0x40
  assert.deepEqual([irr(l0), irr(l1)], [false, true]);
});

Deno.test("machine: an IOAPIC lowest-priority message that names no APIC is dropped", () => {
  const { m } = haltedMachine({ vps: 2 });
  for (const vp of m.vps) vp.hv.lapic.write(0x0f, 0x1ff);
  // Pin 5: vector 0x40, lowest priority, logical destination 0x80 (no LDR matches).
  m.ioapic.mmioWrite(0x00, 4, 0x10 + 5 * 2);
  m.ioapic.mmioWrite(0x10, 4, 0x940);
  m.ioapic.mmioWrite(0x00, 4, 0x10 + 5 * 2 + 1);
  m.ioapic.mmioWrite(0x10, 4, 0x80000000);
  m.ioapic.setIrq(5, true);
  for (const vp of m.vps) assert.equal(vp.hv.lapic.read(0x22) & 1, 0);
});
