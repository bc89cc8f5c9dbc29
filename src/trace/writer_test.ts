import { FORMAT_MINOR } from "./format.ts";
import assert from "node:assert/strict";
import type { TraceEvent } from "../core/events.ts";
import { TraceReader } from "./reader.ts";
import {
  collect,
  makeEvent,
  manyEvents,
  sampleEvents,
  sampleHeader,
  writeTrace,
} from "./test_fixtures.ts";
import { type ByteSink, fileSink, memorySink, TraceWriter } from "./writer.ts";

Deno.test("writer: same header and events give identical bytes", async () => {
  const events = manyEvents(600, 7);
  const a = await writeTrace(events, { chunkEvents: 64 });
  const b = await writeTrace(events, { chunkEvents: 64 });
  assert.deepEqual(a, b);
  // Flushing at different moments does not change the bytes.
  const sink = memorySink();
  const w = await TraceWriter.create(sink, sampleHeader(), { chunkEvents: 64 });
  for (const e of events) w.event(e);
  await w.close();
  assert.deepEqual(sink.bytes(), a);
  // A header with keys inserted in another order gives the same bytes.
  const h = sampleHeader();
  const reordered = {
    seed: h.seed,
    flags: h.flags,
    config: h.config,
    guest: h.guest,
    emulator: h.emulator,
    format: h.format,
  };
  assert.deepEqual(await writeTrace(events, { chunkEvents: 64 }, reordered), a);
});

Deno.test("writer: file sink writes the same bytes as the memory sink", async () => {
  const path = await Deno.makeTempFile({ suffix: ".vtlrr" });
  try {
    const events = sampleEvents();
    const w = await TraceWriter.create(await fileSink(path), sampleHeader(), { chunkEvents: 5 });
    for (const e of events) w.event(e);
    await w.flush();
    await w.close();
    assert.deepEqual(await Deno.readFile(path), await writeTrace(events, { chunkEvents: 5 }));
  } finally {
    await Deno.remove(path);
  }
});

Deno.test("writer: chunks close at chunkEvents or chunkBytes; flush writes only complete ones", async () => {
  const sink = memorySink();
  const w = await TraceWriter.create(sink, sampleHeader(), { chunkEvents: 4 });
  const headerBytes = w.stats.bytesWritten;
  assert.equal(sink.bytes().length, headerBytes);
  const events = manyEvents(10);
  for (let i = 0; i < 3; i++) w.event(events[i]);
  assert.equal(w.readyToFlush, false);
  w.event(events[3]);
  assert.equal(w.readyToFlush, true);
  for (let i = 4; i < 10; i++) w.event(events[i]);
  await w.flush();
  assert.equal(w.readyToFlush, false);
  assert.equal(w.stats.chunks, 2);
  assert.equal(w.stats.events, 10);
  assert.equal(sink.bytes().length, w.stats.bytesWritten);
  await w.close();
  assert.equal(w.stats.chunks, 3);
  const byKind: Record<string, number> = {};
  for (const e of events) byKind[e.kind] = (byKind[e.kind] ?? 0) + 1;
  assert.deepEqual(w.stats.byKind, byKind);
  const r = await TraceReader.open(sink.bytes());
  assert.deepEqual(r.chunks.map((c) => c.events), [4, 4, 2]);

  const small = memorySink();
  const w2 = await TraceWriter.create(small, sampleHeader(), { chunkBytes: 300 });
  for (const e of manyEvents(40)) w2.event(e);
  await w2.close();
  const r2 = await TraceReader.open(small.bytes());
  assert.ok(r2.chunks.length > 3, `${r2.chunks.length} chunks`);
  assert.deepEqual(await collect(r2.events()), manyEvents(40));
});

Deno.test("writer: seq must be exactly previous + 1, starting at 0", async () => {
  const w = await TraceWriter.create(memorySink(), sampleHeader(), { chunkEvents: 2 });
  assert.throws(() => w.event(makeEvent("halt", 1, 0, {})), /event seq 1 out of order, expected 0/);
  w.event(makeEvent("halt", 0, 0, {}));
  assert.throws(() => w.event(makeEvent("halt", 0, 0, {})), RangeError);
  assert.throws(() => w.event(makeEvent("halt", 2, 0, {})), RangeError);
  w.event(makeEvent("halt", 1, 5, {}));
  // icount decrease: inside a chunk and across a chunk boundary
  assert.throws(
    () => w.event(makeEvent("halt", 2, 4, {})),
    /icount 4 is below the previous event's 5/,
  );
  w.event(makeEvent("halt", 2, 5, {}));
  assert.throws(() => w.event(makeEvent("halt", 3, 1, {})), RangeError);
  await w.close();
  assert.throws(() => w.event(makeEvent("halt", 3, 6, {})), /after close/);
  await assert.rejects(w.close(), /called twice/);
});

Deno.test("writer: a rejected event leaves the trace unchanged", async () => {
  const events = manyEvents(6);
  const sink = memorySink();
  const w = await TraceWriter.create(sink, sampleHeader(), { chunkEvents: 4 });
  for (let i = 0; i < 6; i++) {
    const bad = { ...events[i], rip: "0x0001" } as TraceEvent;
    assert.throws(() => w.event(bad), /field rip/);
    w.event(events[i]);
  }
  await w.close();
  assert.deepEqual(sink.bytes(), await writeTrace(events, { chunkEvents: 4 }));
});

Deno.test("writer: checks its header and options", async () => {
  await assert.rejects(
    TraceWriter.create(memorySink(), {
      ...sampleHeader(),
      format: { major: 1, minor: FORMAT_MINOR + 1 },
    }),
    new RegExp(`this build writes format 1\\.${FORMAT_MINOR}, header says 1\\.${FORMAT_MINOR + 1}`),
  );
  await assert.rejects(
    TraceWriter.create(memorySink(), sampleHeader(), { chunkEvents: 0 }),
    RangeError,
  );
  await assert.rejects(
    TraceWriter.create(memorySink(), sampleHeader(), { chunkBytes: 1.5 }),
    RangeError,
  );
  await assert.rejects(
    TraceWriter.create(memorySink(), { ...sampleHeader(), flags: ["b", "a"] }),
    /flags must be sorted/,
  );
});

Deno.test("writer: a failing sink fails flush and every later call", async () => {
  let writes = 0;
  const sink: ByteSink = {
    write() {
      return ++writes > 1 ? Promise.reject(new Error("disk full")) : Promise.resolve();
    },
    close: () => Promise.resolve(),
  };
  const w = await TraceWriter.create(sink, sampleHeader(), { chunkEvents: 1 });
  w.event(makeEvent("halt", 0, 0, {}));
  await assert.rejects(w.flush(), /disk full/);
  assert.throws(() => w.event(makeEvent("halt", 1, 0, {})), /disk full/);
  await assert.rejects(w.close(), /disk full/);
});

Deno.test("writer: a run that never closes leaves a readable, truncated file", async () => {
  const path = await Deno.makeTempFile({ suffix: ".vtlrr" });
  try {
    const sink = await fileSink(path);
    const w = await TraceWriter.create(sink, sampleHeader(), { chunkEvents: 8 });
    const events = manyEvents(30);
    for (const e of events) w.event(e);
    await w.flush(); // 3 chunks of 8 on disk; 6 events still buffered when the "crash" happens
    await sink.close(); // the process dies: only the OS closes the file
    const r = await TraceReader.open(path, "traces/x.vtlrr");
    try {
      assert.equal(r.indexed, false);
      assert.equal(
        r.truncated?.message,
        `trace traces/x.vtlrr was cut short: readable up to chunk 2 (events 0..23, icount ${
          events[23].icount
        }); the index and footer are missing`,
      );
      assert.deepEqual(await collect(r.events()), events.slice(0, 24));
    } finally {
      r.close();
    }
  } finally {
    await Deno.remove(path);
  }
});
