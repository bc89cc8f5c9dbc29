/**
 * The checkpoint state hash covers every piece of per-VP hypervisor state a guest can observe:
 * two runs that differ only there must not hash equal.
 */

import assert from "node:assert/strict";
import { Vtl1 } from "../core/vtl.ts";
import { HvVp } from "../hv/partition.ts";
import { DEFAULT_CONFIG, validateConfig } from "./config.ts";
import { NoInput } from "./inputs.ts";
import { realModeLoader } from "./loader.ts";
import { Machine } from "./machine.ts";
import type { Vp } from "./vp.ts";

function machine(): Machine {
  return new Machine(
    validateConfig({ ...DEFAULT_CONFIG, vps: 2, maxVtl: 2 }),
    realModeLoader("t", Uint8Array.of(0xf4), 0x7c00, { rip: 0x7c00, rsp: 0x7000 }),
    { event() {} },
    new NoInput(),
  );
}

type Change = (vp: Vp) => void;

/**
 * One change of per-VP state per entry, applied to VP 1 of a fresh machine; [before, change]
 * entries compare with a machine that had `before` applied.
 */
const CHANGES: Record<string, Change | [Change, Change]> = {
  activeVtl: (vp) => void (vp.hv.activeVtl = Vtl1),
  enabledVtls: (vp) => void (vp.hv.enabledVtls = 3),
  started: (vp) => void (vp.hv.started = true),
  waitSipi: (vp) => void (vp.waitSipi = false),
  tlbFlushInhibit: (vp) => void (vp.hv.tlbFlushInhibit = true),
  "secureConfig TlbLocked": (vp) => void (vp.hv.secureConfig[1]![0] = 2),
  "secureConfig of VTL2 for VTL1": (vp) => void (vp.hv.secureConfig[2]![1] = 2),
  crInterceptControl: (vp) => void (vp.hv.crInterceptControl[1] = 1),
  crInterceptCr0Mask: (vp) => void (vp.hv.crInterceptCr0Mask[1] = 1),
  crInterceptCr4Mask: (vp) => void (vp.hv.crInterceptCr4Mask[1] = 0x100000),
  crInterceptMiscEnableMask: (vp) => void (vp.hv.crInterceptMiscEnableMask[2] = 4),
  pendingEvent: pending({}),
  "pendingEvent vector": [pending({}), pending({ vector: 14 })],
  "pendingEvent hasErr": [pending({}), pending({ hasErr: false })],
  "pendingEvent err": [pending({}), pending({ err: 1 })],
  "pendingEvent param": [pending({}), pending({ param: 2 ** 40 })],
  "pendingEvent of VTL1": [pending({}), (vp) => void (vp.hv.pendingEvent[1] = ev({}))],
  assistMsr: (vp) => void (vp.hv.assistMsr.get(Vtl1)[1] = 1),
  vina: (vp) => void vp.hv.vina.set(Vtl1, 0x130),
  eoiAssistVector: (vp) => void (vp.hv.eoiAssistVector[0] = 0x40),
  waitTlb: (vp) => void (vp.hv.waitTlb = { vtl: 0 as never, targets: [0] }),
  "waitTlb targets": [
    (vp) => void (vp.hv.waitTlb = { vtl: 0 as never, targets: [0] }),
    (vp) => void (vp.hv.waitTlb = { vtl: 0 as never, targets: [0, 1] }),
  ],
};

type Event = { vector: number; hasErr: boolean; err: number; param: number };

function ev(o: Partial<Event>): Event {
  return { vector: 13, hasErr: true, err: 0, param: 0, ...o };
}

/** Sets VTL0's HvRegisterPendingEvent0. */
function pending(o: Partial<Event>): Change {
  return (vp) => void (vp.hv.pendingEvent[0] = ev(o));
}

/**
 * HvVp fields that are not hashed through HvVp.stateWords, and why. A new field must be hashed
 * (and get a CHANGES entry) or be listed here.
 */
const NOT_IN_STATE_WORDS = new Set([
  "index", // fixed
  "cpu", // hashed by the machine (registers and context)
  "contexts", // hashed by the machine (saved private contexts)
  "lapics", // hashed by the machine (snapshots)
  "synics", // hashed by the machine (snapshots)
  "overlays", // follow from the MSRs (hypercall, VP assist, SIMP/SIEFP, reference TSC)
  "assistPage", // host page numbers
  "synicPages", // host page numbers
  "preemptCheck", // "look again" flag; the APIC state it refers to is hashed
  "preemptedBy", // marks a trace event; not guest-visible
]);

Deno.test("state hash: every per-VP hypervisor field is hashed or deliberately left out", () => {
  const m = machine();
  const fields = Object.keys(m.vps[1]!.hv).filter((k) => !NOT_IN_STATE_WORDS.has(k));
  const changed = new Set(Object.keys(CHANGES).map((k) => k.split(" ")[0]!));
  for (const f of fields) assert.ok(changed.has(f), `HvVp.${f} has no CHANGES entry`);
  assert.ok(m.vps[1]!.hv instanceof HvVp);
});

for (const [name, change] of Object.entries(CHANGES)) {
  Deno.test(`state hash: changing ${name} changes the hash`, () => {
    const [before, after] = Array.isArray(change) ? change : [() => {}, change];
    const b = machine();
    before(b.vps[1]!);
    const m = machine();
    before(m.vps[1]!);
    after(m.vps[1]!);
    assert.notEqual(m.stateHash(), b.stateHash());
  });
}

Deno.test("state hash: two fresh machines hash equal", () => {
  assert.equal(machine().stateHash(), machine().stateHash());
});

const X87_POINTERS: Record<string, (vp: Vp) => void> = {
  fop: (vp) => void (vp.cpu.fop = 0x1d9),
  fip: (vp) => void (vp.cpu.fip = 0x1234),
  "fip high half": (vp) => void (vp.cpu.fip = 2 ** 40),
  fdp: (vp) => void (vp.cpu.fdp = 0x5678),
  "fdp high half": (vp) => void (vp.cpu.fdp = 2 ** 40),
};

const SHADOWS: Record<string, (vp: Vp) => void> = {
  "STI/MOV SS interrupt shadow": (vp) => void (vp.cpu.shadow = true),
  "MOV SS/POP SS NMI shadow": (vp) => void (vp.cpu.shadowSs = true),
  "pending NMI": (vp) => void (vp.cpu.nmiPending = true),
  "NMI blocking": (vp) => void (vp.cpu.nmiBlocked = true),
};

for (const [name, change] of Object.entries(SHADOWS)) {
  Deno.test(`state hash: the ${name} is hashed`, () => {
    const m = machine();
    change(m.vps[1]!);
    assert.notEqual(m.stateHash(), machine().stateHash());
  });
}

for (const [name, change] of Object.entries(X87_POINTERS)) {
  Deno.test(`state hash: the x87 ${name} (stored by FSTENV/FXSAVE) is hashed`, () => {
    const m = machine();
    change(m.vps[1]!);
    assert.notEqual(m.stateHash(), machine().stateHash());
  });
}
