/**
 * Scenario guests: each reports PASS/FAIL lines over serial and a summary; every check must
 * pass, and every scenario must replay byte-identically.
 */

import assert from "node:assert/strict";
import { SCENARIOS } from "../src/guests/scenarios/index.ts";
import { eventsOf, recordBuiltin, replayBytes } from "./support.ts";
import type { TraceEvent } from "../src/core/events.ts";
import { ISOLATION_FAULTS } from "../src/guests/scenarios/vsm_isolation.ts";

/**
 * The exact number of checks each scenario reports: a section that silently stops running (or a
 * check that disappears) fails the test. Update the number when checks are added on purpose.
 */
const CHECKS: Record<string, number> = {
  "vsm-basics": 35,
  "cpu-exceptions": 95,
  "cpu-legacy": 64,
  "cpu-modes": 129,
  "cpu-paging": 66,
  "vsm-interrupts": 57,
  "vsm-synic": 98,
  "vsm-smp": 97,
  "vsm-translate": 123,
  "vsm-registers": 106,
  "vsm-negative": 149,
  "vsm-protections": 59,
  "vsm-mbec": 35,
  "vsm-register-intercepts": 41,
  "vsm-register-intercepts-kvm-rfc": 41,
  "vsm-isolation": 42,
  "vsm-hv-extras": 130,
  "vsm-install-intercept": 37,
};

/** Events of one kind. */
function ofKind<K extends TraceEvent["kind"]>(events: TraceEvent[], kind: K) {
  return events.filter((e): e is Extract<TraceEvent, { kind: K }> => e.kind === kind);
}

/**
 * Every `vtl_fault` is recorded in VTL0 at the faulting instruction, and the memory violations are
 * intercepts for VTL1: `intercepts` of them, each at a different (RIP, GPA) — one event per
 * attempt, never a retry loop. Returns the other faults.
 */
function checkFaults(events: TraceEvent[], intercepts: number) {
  const faults = ofKind(events, "vtl_fault");
  for (const f of faults) assert.equal(f.vtl, 0, JSON.stringify(f));
  const mem = faults.filter((f) => f.resolution === "intercept_vtl1");
  assert.equal(mem.length, intercepts, JSON.stringify(faults, null, 1));
  assert.equal(new Set(mem.map((f) => `${f.rip}/${f.gpa}`)).size, intercepts);
  return faults.filter((f) => f.resolution !== "intercept_vtl1");
}

/** Intercept messages posted to VTL1's SINT0, counted by "type/outcome". */
function sint0Messages(events: TraceEvent[]) {
  const n: Record<string, number> = {};
  for (const m of ofKind(events, "synic_message")) {
    assert.deepEqual([m.target_vtl, m.sint], [1, 0], JSON.stringify(m));
    const key = `0x${m.type.toString(16)}/${m.outcome}`;
    n[key] = (n[key] ?? 0) + 1;
  }
  return n;
}

/** Entries into VTL1 through the intercept page (VsmPartitionConfig.InterceptPage). */
function pageEntries(events: TraceEvent[]) {
  return ofKind(events, "vtl_switch").filter((e) => e.reason === "intercept").length;
}

/** Scenario-specific checks of the recorded events, after the generic ones. */
const EXTRA_CHECKS: Record<string, (events: TraceEvent[]) => void> = {
  "vsm-interrupts": (events) => {
    // VTL1's timer preempted VTL0 twice; those two interrupts are marked `preempted`.
    const pre = ofKind(events, "vtl_switch").filter((e) => e.reason === "interrupt");
    assert.deepEqual(pre.map((e) => [e.vp, e.from, e.to]), [[0, 0, 1], [0, 0, 1]]);
    const marked = ofKind(events, "interrupt").filter((e) => e.preempted);
    assert.deepEqual(marked.map((e) => [e.vector, e.target_vtl, e.source]), [
      [0x60, 1, "lapic_timer"],
      [0x60, 1, "lapic_timer"],
    ]);
    const vina = ofKind(events, "interrupt").filter((e) => e.source === "vina");
    assert.deepEqual(vina.map((e) => [e.vector, e.target_vtl]), [
      [0x70, 1],
      [0x70, 1],
      [0x70, 1],
      [0x71, 1],
    ]);
  },
  "vsm-synic": (events) => {
    const n: Record<string, number> = {};
    for (const m of ofKind(events, "synic_message")) {
      assert.equal(m.type, 0x80000010, JSON.stringify(m));
      const key = `${m.target_vtl}/${m.sint}/${m.outcome}`;
      n[key] = (n[key] ?? 0) + 1;
    }
    assert.deepEqual(n, {
      "0/2/delivered": 2,
      "0/3/delivered": 3,
      "0/4/delivered": 4,
      "0/4/pending": 2,
      "0/5/delivered": 1,
      "0/6/delivered": 1,
      "0/7/delivered": 1,
      "1/2/delivered": 1,
    });
  },
  "vsm-smp": (events) => {
    const starts = ofKind(events, "vp_start").map((e) => [e.target_vp, e.target_vtl, e.how]);
    assert.deepEqual(starts, [
      [0, 0, "reset"],
      [1, 0, "start_virtual_processor"],
      [2, 0, "start_virtual_processor"],
      [3, 0, "start_virtual_processor"],
    ]);
    // The two flushes that waited for VP1's TLB lock.
    const waits = ofKind(events, "hypercall").filter((e) => e.status_name === "HV_STATUS_TIMEOUT");
    assert.deepEqual(waits.map((e) => [e.vp, e.code]), [[0, 2], [0, 2]]);
    const pre = ofKind(events, "vtl_switch").filter((e) => e.reason === "interrupt");
    assert.deepEqual(pre.map((e) => [e.vp, e.from, e.to]), [[2, 0, 1]]);
  },
  "vsm-negative": (events) => {
    // VP1 started by INIT/SIPI in real mode; its VMCALL there raised #UD.
    const starts = ofKind(events, "vp_start").filter((e) => e.target_vp === 1);
    assert.deepEqual(starts.map((e) => e.how), ["sipi"]);
    const ud = ofKind(events, "exception").filter((e) => e.vp === 1);
    assert.deepEqual(ud.map((e) => [e.vector, e.bits]), [[6, 16]]);
  },
  "vsm-protections": (events) => {
    assert.deepEqual(checkFaults(events, 11), []);
    // The busy-slot test: one message queued behind the slot, delivered after EOM.
    assert.deepEqual(sint0Messages(events), {
      "0x80000001/delivered": 10,
      "0x80000001/pending": 1,
    });
    assert.equal(pageEntries(events), 1);
  },
  "vsm-mbec": (events) => {
    assert.deepEqual(checkFaults(events, 5), []);
    assert.ok(ofKind(events, "vtl_fault").every((f) => f.access === "x"));
  },
  "vsm-register-intercepts": (events) => {
    assert.deepEqual(checkFaults(events, 0), []);
    assert.deepEqual(sint0Messages(events), {
      "0x80010001/delivered": 2,
      "0x80010006/delivered": 3,
    });
    assert.equal(pageEntries(events), 1);
  },
  "vsm-register-intercepts-kvm-rfc": (events) => {
    EXTRA_CHECKS["vsm-register-intercepts"]!(events);
    // The RFC's hypercall page: every VTL call goes through the VMCALL at offset 0 of VTL0's
    // page (PAGES.hc0), where its stub at offset 4 jumps (OpenVMM's stub has its own VMCALL);
    // rip_before is just past that VMCALL.
    const calls = ofKind(events, "vtl_switch").filter((e) => e.reason === "call");
    assert.ok(calls.length > 0);
    for (const c of calls) assert.equal(c.rip_before, "0x600003");
  },
  "vsm-hv-extras": (events) => {
    // Guest messages only: 19 reached VTL0's SINT4 slot (16 of them after waiting in the queue),
    // one reached VTL1's SINT5.
    const n: Record<string, number> = {};
    for (const m of ofKind(events, "synic_message")) {
      const key = `${m.target_vtl}/${m.sint}/0x${m.type.toString(16)}/${m.outcome}`;
      n[key] = (n[key] ?? 0) + 1;
    }
    assert.deepEqual(n, {
      "0/4/0x1234/delivered": 19,
      "0/4/0x1234/pending": 16,
      "1/5/0x4321/delivered": 1,
    });
    // Two #GPs from the reference TSC page: a write, and a fetch at the page itself.
    const ex = ofKind(events, "exception");
    assert.deepEqual(ex.map((e) => [e.vp, e.vtl, e.vector]), [[0, 0, 13], [0, 0, 13]]);
    assert.equal(ex[1]!.rip, "0x710000");
    // Fast GetVpRegisters: output bytes written to registers (status, reps, output bytes).
    const get = ofKind(events, "hypercall").filter((e) => e.code === 0x50 && e.fast);
    assert.deepEqual(get.map((e) => [e.status, e.reps_done, e.output.length / 2]), [
      [0, 1, 16],
      [0, 4, 64],
      [0, 2, 16],
      [5, 1, 16],
      [3, 0, 0],
    ]);
    // Every SignalEvent/PostMessage status of the TLFS list that a guest can cause here.
    const st: Record<string, number> = {};
    for (const e of ofKind(events, "hypercall")) {
      if (e.code !== 0x5c && e.code !== 0x5d) continue;
      const key = `${e.name}/${e.status_name}`;
      st[key] = (st[key] ?? 0) + 1;
    }
    assert.deepEqual(st, {
      "HvCallPostMessage/HV_STATUS_INSUFFICIENT_BUFFERS": 1,
      "HvCallPostMessage/HV_STATUS_INVALID_CONNECTION_ID": 1,
      "HvCallPostMessage/HV_STATUS_INVALID_HYPERCALL_INPUT": 1,
      "HvCallPostMessage/HV_STATUS_INVALID_PARAMETER": 4,
      "HvCallPostMessage/HV_STATUS_INVALID_PORT_ID": 1,
      "HvCallPostMessage/HV_STATUS_INVALID_SYNIC_STATE": 3,
      "HvCallPostMessage/HV_STATUS_SUCCESS": 20,
      "HvCallSignalEvent/HV_STATUS_INVALID_CONNECTION_ID": 2,
      "HvCallSignalEvent/HV_STATUS_INVALID_PARAMETER": 2,
      "HvCallSignalEvent/HV_STATUS_INVALID_PORT_ID": 1,
      "HvCallSignalEvent/HV_STATUS_INVALID_SYNIC_STATE": 3,
      "HvCallSignalEvent/HV_STATUS_SUCCESS": 6,
    });
  },
  "vsm-install-intercept": (events) => {
    // IN, OUT and REP OUTSB: three I/O-port intercept messages, no memory faults.
    assert.deepEqual(checkFaults(events, 0), []);
    assert.deepEqual(sint0Messages(events), { "0x80010000/delivered": 3 });
    // The two interrupts VTL1 asserted were taken by VTL0, named after the hypercall.
    const asserted = ofKind(events, "interrupt").filter((e) =>
      e.source === "assert_virtual_interrupt"
    );
    assert.deepEqual(asserted.map((e) => [e.vp, e.vtl, e.vector, e.target_vtl]), [
      [0, 0, 0x61, 0],
      [0, 0, 0x61, 0],
    ]);
    // The NMI it asserted last: vector 2, source nmi, taken by VTL0 with IF = 0.
    const nmis = ofKind(events, "interrupt").filter((e) => e.source === "nmi");
    assert.deepEqual(nmis.map((e) => [e.vp, e.vtl, e.vector, e.target_vtl, e.preempted]), [
      [0, 0, 2, 0, false],
    ]);
  },
  "vsm-isolation": (events) => {
    // One vtl_fault per memory attempt, none for the attempts VTL1 resolved by retrying.
    const rest = checkFaults(events, ISOLATION_FAULTS.memory);
    assert.equal(rest.length, ISOLATION_FAULTS.hypercall, JSON.stringify(rest));
    for (const f of rest) assert.match(f.resolution, /^hypercall_(input|output)_denied$/);
    assert.equal(pageEntries(events), 1);
  },
};

for (const name of Object.keys(SCENARIOS)) {
  Deno.test(`scenario ${name}: every check passes and the trace replays identically`, async () => {
    const rec = await recordBuiltin(name, { config: { maxInstructions: 50_000_000 } });
    const profile = name.endsWith("-kvm-rfc") ? "kvm-rfc" : "hyperv";
    assert.equal(rec.machine.config.hvProfile, profile);
    const { events } = await eventsOf(rec.bytes);
    const text = events.map((e) => e.kind === "console" ? e.text : "").join("");
    const fails = text.split("\n").filter((l) => l.startsWith("FAIL"));
    const passes = text.split("\n").filter((l) => l.startsWith("PASS"));
    assert.deepEqual(fails, [], text);
    assert.match(text, /SUMMARY pass=[0-9a-f]+ fail=0000000000000000/, text);
    assert.equal(passes.length, CHECKS[name], `${passes.length} checks:\n${text}`);
    const last = events.at(-1)!;
    assert.ok(
      last.kind === "exit" && last.reason === "debug_exit" && last.value === 0,
      JSON.stringify(last),
    );
    EXTRA_CHECKS[name]?.(events);
    const r = await replayBytes(rec.bytes);
    assert.equal(r.divergence, null);
    assert.deepEqual(r.bytes, rec.bytes);
  });
}
