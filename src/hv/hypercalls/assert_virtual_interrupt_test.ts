/**
 * HvCallAssertVirtualInterrupt input validation and delivery (assert_virtual_interrupt.ts;
 * OpenVMM's rules, TLFS-md HvCallAssertVirtualInterrupt / hv_interrupt_control).
 */

import assert from "node:assert/strict";
import { Vtl0, Vtl1 } from "../../core/vtl.ts";
import type { Lapic } from "../../devices/lapic.ts";
import {
  HV_STATUS_ACCESS_DENIED,
  HV_STATUS_INVALID_PARAMETER,
  HV_STATUS_SUCCESS,
  HvCallAssertVirtualInterrupt,
} from "../hvdef.ts";
import { ASSERT_VIRTUAL_INTERRUPT_SOURCE } from "./assert_virtual_interrupt.ts";
import { call, hvMachine } from "./testing.ts";
import { nmiDeliverable } from "../nmi.ts";

interface In {
  type?: number;
  /** InterruptControl bits 63:32. */
  flags?: number;
  dest?: bigint;
  vector?: number;
  vtl?: number;
  rsvd0?: number;
  rsvd1?: number;
  partition?: bigint;
}

function input(o: In): Uint8Array {
  const b = new Uint8Array(32), dv = new DataView(b.buffer);
  dv.setBigInt64(0, o.partition ?? -1n, true);
  dv.setUint32(8, o.type ?? 0, true);
  dv.setUint32(12, o.flags ?? 0, true);
  dv.setBigUint64(16, o.dest ?? 0n, true);
  dv.setUint32(24, o.vector ?? 0x40, true);
  b[28] = o.vtl ?? 0;
  b[29] = o.rsvd0 ?? 0;
  dv.setUint16(30, o.rsvd1 ?? 0, true);
  return b;
}

const pending = (l: Lapic, v: number) => ((l.irr[v >>> 5]! >>> (v & 31)) & 1) === 1;

Deno.test("AssertVirtualInterrupt: target VTL rules (lower VTLs only)", () => {
  const m = hvMachine();
  const a = (from: 0 | 1, o: In) =>
    call(m, 0, from === 0 ? Vtl0 : Vtl1, HvCallAssertVirtualInterrupt, input(o));
  assert.equal(a(1, { vtl: 3 }), HV_STATUS_INVALID_PARAMETER); // not a VTL
  assert.equal(a(0, { vtl: 1 }), HV_STATUS_ACCESS_DENIED); // higher than the caller
  assert.equal(a(0, { vtl: 0 }), HV_STATUS_ACCESS_DENIED); // the caller's own VTL
  assert.equal(a(1, { vtl: 1 }), HV_STATUS_ACCESS_DENIED);
  assert.equal(a(1, { vtl: 0, partition: 0n }), HV_STATUS_ACCESS_DENIED);
  for (const vp of m.vps) assert.equal(vp.hv.lapics.get(Vtl0).deliverable(), -1);
});

Deno.test("AssertVirtualInterrupt: reserved fields, types, vectors, destinations", () => {
  const m = hvMachine();
  const a = (o: In) => call(m, 0, Vtl1, HvCallAssertVirtualInterrupt, input(o));
  const bad: In[] = [
    { rsvd0: 1 },
    { rsvd1: 0x100 },
    { flags: 4 }, // bit 34 (ARM64 Asserted) is reserved on x64
    { flags: 0x80000000 },
    { type: 5 },
    { type: 6 },
    { type: 2 },
    { type: 0x100 },
    { vector: 0 },
    { vector: 0x0f },
    { vector: 0x100 },
    { dest: 1n << 32n },
  ];
  for (const o of bad) {
    assert.equal(
      a(o),
      HV_STATUS_INVALID_PARAMETER,
      JSON.stringify(o, (_, v) => typeof v === "bigint" ? String(v) : v),
    );
  }
  for (const vp of m.vps) assert.equal(vp.hv.lapics.get(Vtl0).deliverable(), -1);
  assert.equal(a({ vector: 0x10 }), HV_STATUS_SUCCESS);
  assert.equal(a({ vector: 0xff, dest: 1n }), HV_STATUS_SUCCESS);
});

Deno.test("AssertVirtualInterrupt: fixed, physical destination, into VTL0's APIC", () => {
  const m = hvMachine(3);
  const st = call(m, 0, Vtl1, HvCallAssertVirtualInterrupt, input({ dest: 2n, vector: 0x41 }));
  assert.equal(st, HV_STATUS_SUCCESS);
  const l = (i: number, vtl = Vtl0) => m.vps[i]!.hv.lapics.get(vtl);
  assert.deepEqual([0, 1, 2].map((i) => pending(l(i), 0x41)), [false, false, true]);
  assert.equal(pending(l(2, Vtl1), 0x41), false);
  assert.equal(l(2).sources[0x41], ASSERT_VIRTUAL_INTERRUPT_SOURCE);
  assert.equal((l(2).tmr[2]! >>> 1) & 1, 0); // edge
  // Level-triggered sets the TMR bit.
  call(m, 0, Vtl1, HvCallAssertVirtualInterrupt, input({ dest: 1n, vector: 0x42, flags: 1 }));
  assert.equal(pending(l(1), 0x42), true);
  assert.equal((l(1).tmr[2]! >>> 2) & 1, 1);
});

Deno.test("AssertVirtualInterrupt: broadcast, logical destinations, lowest priority", () => {
  const m = hvMachine(3);
  const l = (i: number) => m.vps[i]!.hv.lapics.get(Vtl0);
  const a = (o: In) => call(m, 1, Vtl1, HvCallAssertVirtualInterrupt, input(o));
  assert.equal(a({ dest: 0xffn, vector: 0x50 }), HV_STATUS_SUCCESS);
  assert.deepEqual([0, 1, 2].map((i) => pending(l(i), 0x50)), [true, true, true]);
  // Logical (flat model): LDR bits 24+i for VP i; destination 0b110 → VP1 and VP2.
  for (let i = 0; i < 3; i++) l(i).ldr = (1 << i) << 24;
  assert.equal(a({ dest: 0b110n, vector: 0x51, flags: 2 }), HV_STATUS_SUCCESS);
  assert.deepEqual([0, 1, 2].map((i) => pending(l(i), 0x51)), [false, true, true]);
  // Lowest priority among all three: VP0 and VP1 have a higher TPR, VP2 gets it.
  l(0).tpr = 0x20;
  l(1).tpr = 0x30;
  assert.equal(a({ type: 1, dest: 0xffn, vector: 0x52 }), HV_STATUS_SUCCESS);
  assert.deepEqual([0, 1, 2].map((i) => pending(l(i), 0x52)), [false, false, true]);
  // Ties go to the lowest VP index.
  l(0).tpr = 0;
  l(1).tpr = 0;
  assert.equal(a({ type: 1, dest: 0xffn, vector: 0x53 }), HV_STATUS_SUCCESS);
  assert.deepEqual([0, 1, 2].map((i) => pending(l(i), 0x53)), [true, false, false]);
  // No APIC matches: nothing happens, not an error.
  assert.equal(a({ dest: 7n, vector: 0x54 }), HV_STATUS_SUCCESS);
  assert.deepEqual([0, 1, 2].map((i) => pending(l(i), 0x54)), [false, false, false]);
});

Deno.test("AssertVirtualInterrupt: Nmi (4) reaches the target VTL's NMI input, vector ignored", () => {
  const m = hvMachine(3);
  const nmi = (i: number) => nmiDeliverable(m.vps[i]!.hv, Vtl0);
  // VP1 is in VTL0: its CPU's NMI input. The vector and LevelTriggered are ignored.
  const st = call(
    m,
    0,
    Vtl1,
    HvCallAssertVirtualInterrupt,
    input({ type: 4, dest: 1n, vector: 2, flags: 1 }),
  );
  assert.equal(st, HV_STATUS_SUCCESS);
  assert.deepEqual([0, 1, 2].map(nmi), [false, true, false]);
  assert.ok(m.vps[1]!.cpu.nmiPending);
  assert.equal(m.vps[1]!.hv.lapics.get(Vtl0).deliverable(), -1);
  // VP0 runs VTL1 (the caller): VTL0's saved context latches it.
  assert.equal(
    call(m, 0, Vtl1, HvCallAssertVirtualInterrupt, input({ type: 4, dest: 0xffn, vector: 0 })),
    HV_STATUS_SUCCESS,
  );
  assert.deepEqual([0, 1, 2].map(nmi), [true, true, true]);
  assert.ok(m.vps[0]!.hv.contexts.get(Vtl0).nmiPending && !m.vps[0]!.cpu.nmiPending);
  // Reserved fields are still checked.
  assert.equal(
    call(m, 0, Vtl1, HvCallAssertVirtualInterrupt, input({ type: 4, rsvd0: 1 })),
    HV_STATUS_INVALID_PARAMETER,
  );
});
