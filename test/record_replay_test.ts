/**
 * The walking skeleton end to end, in process: record the demo guest, replay it, compare
 * traces byte for byte, and check that changed events and inputs are reported where they happen.
 */

import assert from "node:assert/strict";
import { diffTraces } from "../src/trace/diff.ts";
import { TraceReader } from "../src/trace/reader.ts";
import { encodeTrace, eventsOf, recordBuiltin, replayBytes } from "./support.ts";

const base = await recordBuiltin("demo");

Deno.test("demo guest: runs the VSM path and exits through isa-debug-exit with 0", async () => {
  const { events } = await eventsOf(base.bytes);
  const exit = events.at(-1)!;
  assert.equal(exit.kind, "exit");
  assert.equal(exit.kind === "exit" && exit.reason, "debug_exit");
  assert.equal(exit.kind === "exit" && exit.value, 0);
  const kinds = new Set(events.map((e) => e.kind));
  for (
    const k of [
      "vtl_switch",
      "hypercall",
      "interrupt",
      "console",
      "checkpoint",
      "msr",
      "vtl_fault",
      "protection_change",
      "synic_message",
      "vp_start",
    ]
  ) {
    assert.ok(kinds.has(k as never), `demo trace has no ${k} event`);
  }
  const switches = events.filter((e) => e.kind === "vtl_switch");
  assert.ok(switches.length >= 8, "several VTL call/return round trips");
  const text = events.filter((e) => e.kind === "console").map((e) =>
    e.kind === "console" ? e.text : ""
  )
    .join("");
  assert.match(text, /VTL1 computed 3\*3\+1/);
  assert.match(text, /VTL1: intercepted VTL0 access type 0+ to GPA 0+700000/);
  assert.match(text, /timer interrupts in both VTLs ok/);
  assert.match(text, /VP 1 did its own VTL round trip/);
  assert.match(text, /SUMMARY pass=[0-9a-f]+ fail=0+\n/);
  assert.match(text, /vtlrr demo: done/);
  // Two VPs ran, and VTL1's timer preempted VTL0.
  assert.ok(events.some((e) => e.vp === 1));
  assert.ok(events.some((e) => e.kind === "vtl_switch" && e.reason === "interrupt"));
});

Deno.test("record twice: byte-identical traces", async () => {
  const again = await recordBuiltin("demo");
  assert.deepEqual(again.bytes, base.bytes);
});

Deno.test("run slice size does not change the trace (events at exact positions)", async () => {
  for (const slice of [997, 65_537]) {
    const r = await recordBuiltin("demo", { slice });
    assert.deepEqual(r.bytes, base.bytes, `slice ${slice}`);
  }
});

Deno.test("replay verifies every event and reproduces the trace byte for byte", async () => {
  const r = await replayBytes(base.bytes);
  assert.equal(r.divergence, null);
  const { events } = await eventsOf(base.bytes);
  assert.equal(r.matched, events.length);
  assert.deepEqual(r.bytes, base.bytes);
});

Deno.test("replay of a trace with one changed field reports the divergence at that event", async () => {
  const { header, events } = await eventsOf(base.bytes);
  const k = events.findIndex((e) => e.kind === "hypercall");
  const tampered = events.map((e, i) =>
    i === k && e.kind === "hypercall" ? { ...e, status: 5 } : e
  );
  const r = await replayBytes(await encodeTrace(header, tampered));
  assert.ok(r.divergence !== null);
  assert.equal(r.divergence.seq, k);
  assert.deepEqual(r.divergence.fields.map((f) => f.field), ["status"]);
  assert.equal(r.matched, k);
});

Deno.test("replay of a trace with one flipped byte in an event reports that event", async () => {
  const { header, events } = await eventsOf(base.bytes);
  const k = events.findIndex((e) => e.kind === "console" && e.text.startsWith("VTL1"));
  const tampered = events.map((e, i) =>
    i === k && e.kind === "console"
      ? { ...e, text: String.fromCharCode(e.text.charCodeAt(0) ^ 1) + e.text.slice(1) }
      : e
  );
  const r = await replayBytes(await encodeTrace(header, tampered));
  assert.equal(r.divergence?.seq, k);
  assert.deepEqual(r.divergence?.fields.map((f) => f.field), ["text"]);
});

Deno.test("diff(t, t) is identical; one different input byte diverges at the input event", async () => {
  const a = await recordBuiltin("demo", { input: new TextEncoder().encode("hello\n") });
  const b = await recordBuiltin("demo", { input: new TextEncoder().encode("hellp\n") });
  const same = await diffTraces(
    await TraceReader.open(a.bytes, "a"),
    await TraceReader.open(a.bytes, "a"),
  );
  assert.equal(same.identical, true);
  const d = await diffTraces(
    await TraceReader.open(a.bytes, "a"),
    await TraceReader.open(b.bytes, "b"),
  );
  assert.equal(d.identical, false);
  const ev = d.divergence!.expected!;
  assert.equal(ev.kind, "input");
  assert.deepEqual(d.divergence!.fields.map((f) => f.field), ["data"]);
  // The guest echoes its input: that shows in its console output.
  const text = (await eventsOf(a.bytes)).events.filter((e) => e.kind === "console")
    .map((e) => e.kind === "console" ? e.text : "").join("");
  assert.match(text, /hello/);
  // And both input traces replay.
  assert.equal((await replayBytes(a.bytes)).divergence, null);
});

Deno.test("a trace cut short replays up to the cut", async () => {
  const long = await recordBuiltin("demo", { config: { checkpointInterval: 10_000 } });
  // Cut inside the last chunks (no footer): the reader reports it, replay verifies the rest.
  const cut = long.bytes.subarray(0, Math.floor(long.bytes.length * 0.6));
  const reader = await TraceReader.open(cut, "cut.vtlrr");
  assert.ok(reader.truncated !== null);
  assert.match(reader.truncated.message, /cut short/);
  const r = await replayBytes(cut);
  assert.equal(r.divergence, null);
  // Everything before the cut was really verified, not skipped as "missing".
  const readable = (await eventsOf(cut)).events.length;
  assert.ok(readable > 0);
  assert.equal(r.matched, readable);
});

Deno.test("Ctrl-C replays at the same instruction, also when it lands on a checkpoint instant", async () => {
  for (const at of [1_000_000, 1_234_567]) {
    const rec = await recordBuiltin("demo", { interruptAt: at });
    const { events } = await eventsOf(rec.bytes);
    const exit = events.at(-1)!;
    assert.equal(exit.kind === "exit" && exit.reason, "interrupted");
    assert.equal(exit.icount, at);
    const r = await replayBytes(rec.bytes);
    assert.equal(r.divergence, null, `interrupt at ${at}`);
    assert.deepEqual(r.bytes, rec.bytes, `interrupt at ${at}: replay trace byte-identical`);
  }
});
