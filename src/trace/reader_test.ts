import { FORMAT_MINOR } from "./format.ts";
import assert from "node:assert/strict";
import type { TraceEvent } from "../core/events.ts";
import { ByteWriter, concatBytes } from "./bytes.ts";
import { encodeChunk, type RawChunk } from "./chunk.ts";
import { EventEncoder } from "./codec.ts";
import { TraceFormatError } from "./errors.ts";
import { encodeHeader } from "./header.ts";
import { encodeFooter, encodeIndex } from "./index_record.ts";
import { type ChunkInfo, TraceReader } from "./reader.ts";
import {
  collect,
  makeEvent,
  manyEvents,
  sampleEvents,
  sampleHeader,
  writeTrace,
} from "./test_fixtures.ts";

async function assertFormatError(p: Promise<unknown>, re: RegExp): Promise<TraceFormatError> {
  let err: unknown;
  await assert.rejects(p, (e: unknown) => {
    err = e;
    return true;
  });
  assert.ok(err instanceof TraceFormatError, `not a TraceFormatError: ${err}`);
  assert.match(err.message, re);
  assert.ok(!err.message.includes("\n"), "one line");
  return err;
}

/** Opens, decodes every event and computes the summary. */
async function readAll(bytes: Uint8Array) {
  const r = await TraceReader.open(bytes, "t.vtlrr");
  const events = await collect(r.events());
  const summary = await r.summary();
  return { r, events, summary };
}

function expectedSummary(events: readonly TraceEvent[]) {
  const byKind: Record<string, number> = {};
  const byVtl: Record<string, number> = {};
  for (const e of events) {
    byKind[e.kind] = (byKind[e.kind] ?? 0) + 1;
    byVtl[e.vtl] = (byVtl[e.vtl] ?? 0) + 1;
  }
  return {
    events: events.length,
    lastIcount: events.at(-1)?.icount ?? 0,
    byKind,
    byVtl,
    unknown: 0,
  };
}

Deno.test("reader: complete trace round trip with index and summary", async () => {
  const events = sampleEvents();
  const bytes = await writeTrace(events, { chunkEvents: 7 });
  const { r, events: got, summary } = await readAll(bytes);
  assert.equal(r.indexed, true);
  assert.equal(r.truncated, null);
  assert.deepEqual(r.header, sampleHeader());
  assert.deepEqual(got, events);
  assert.deepEqual(summary, { ...expectedSummary(events), truncated: false });
  assert.equal(r.stats.chunksDecoded, Math.ceil(events.length / 7));
  assert.deepEqual(
    r.checkpoints,
    events.filter((e) => e.kind === "checkpoint").map((e) => ({
      seq: e.seq,
      icount: e.icount,
      hash: e.hash,
    })),
  );
});

Deno.test("reader: reads from a file, and a missing file is a one-line error", async () => {
  const path = await Deno.makeTempFile({ suffix: ".vtlrr" });
  try {
    const events = manyEvents(100);
    await Deno.writeFile(path, await writeTrace(events, { chunkEvents: 16 }));
    const r = await TraceReader.open(path);
    try {
      assert.equal(r.path, path);
      assert.deepEqual(await collect(r.events()), events);
      assert.deepEqual(await collect(r.events(50)), events.slice(50));
    } finally {
      r.close();
    }
  } finally {
    await Deno.remove(path);
  }
  const e = await assertFormatError(
    TraceReader.open("/nonexistent/dir/x.vtlrr"),
    /^Cannot open trace \/nonexistent\/dir\/x\.vtlrr: No such file$/,
  );
  assert.equal(e.offset, null);
  await assertFormatError(
    TraceReader.open("/tmp", "tmpdir"),
    /^Cannot open trace tmpdir: Is a directory$/,
  );
});

Deno.test("reader: seeks through the index without decoding earlier chunks", async () => {
  const events = manyEvents(1000, 3);
  const bytes = await writeTrace(events, { chunkEvents: 64 });
  const r = await TraceReader.open(bytes);
  assert.equal(r.chunks.length, 16);
  for (const seq of [0, 63, 64, 65, 500, 959, 960, 999]) {
    const c = r.chunkFor(seq) as ChunkInfo;
    assert.equal(c.index, Math.floor(seq / 64));
    assert.ok(c.firstSeq <= seq && seq < c.firstSeq + c.events);
  }
  assert.equal(r.chunkFor(1000), null);
  const before = r.stats.chunksDecoded;
  const it = r.events(700);
  const first = await it.next();
  assert.deepEqual(first.value, events[700]);
  assert.equal(r.stats.chunksDecoded - before, 1, "only the chunk holding seq 700");
  await it.return?.();
  assert.deepEqual(await collect(r.events(700)), events.slice(700));
  assert.deepEqual(await collect(r.events(1000)), []);
  assert.deepEqual(await r.readChunk(15), events.slice(960));
  await assert.rejects(collect(r.events(-1)), RangeError);
});

Deno.test("reader: an empty trace", async () => {
  const { r, events, summary } = await readAll(await writeTrace([]));
  assert.equal(r.indexed, true);
  assert.deepEqual(events, []);
  assert.deepEqual(summary, { ...expectedSummary([]), truncated: false });
  const headerOnly = encodeHeader(sampleHeader());
  const t = await readAll(headerOnly);
  assert.equal(
    t.r.truncated?.message,
    "trace t.vtlrr was cut short: no complete chunk (0 events); the index and footer are missing",
  );
  assert.deepEqual(t.summary, { ...expectedSummary([]), truncated: true });
});

Deno.test("reader: truncated at every byte offset yields exactly the complete chunks", async () => {
  const events = manyEvents(40, 11);
  const bytes = await writeTrace(events, { chunkEvents: 8 });
  const full = await TraceReader.open(bytes);
  const headerEnd = full.chunks[0].offset;
  const ends = full.chunks.map((c) => c.offset + c.size);
  for (let cut = 0; cut < bytes.length; cut++) {
    const part = bytes.slice(0, cut);
    if (cut < headerEnd) {
      await assertFormatError(readAll(part), /cut short inside its header|bad magic|empty file/);
      continue;
    }
    let got;
    try {
      got = await readAll(part);
    } catch (e) {
      assert.fail(`cut at ${cut}: ${e}`);
    }
    const complete = ends.filter((end) => end <= cut).length;
    const n = complete * 8;
    assert.deepEqual(got.events, events.slice(0, n), `cut at ${cut}`);
    assert.equal(got.r.indexed, false);
    assert.ok(got.r.truncated !== null);
    assert.match(got.r.truncated.message, /^trace t\.vtlrr was cut short: /);
    if (complete > 0) {
      assert.ok(
        got.r.truncated.message.includes(`(events 0..${n - 1}, icount ${events[n - 1].icount})`),
      );
    }
    assert.deepEqual(got.summary, { ...expectedSummary(events.slice(0, n)), truncated: true });
  }
  const cut = ends[2] + 5;
  const r = await TraceReader.open(bytes.slice(0, cut), "traces/x.vtlrr");
  assert.equal(
    r.truncated?.message,
    `trace traces/x.vtlrr was cut short: readable up to chunk 2 (events 0..23, icount ${
      events[23].icount
    }); the rest (5 bytes) is incomplete`,
  );
});

Deno.test("reader: every single-byte flip is a TraceFormatError", async () => {
  const events = manyEvents(24, 5);
  const bytes = await writeTrace(events, { chunkEvents: 8 });
  for (let i = 0; i < bytes.length; i++) {
    for (const x of [0x01, 0x80, 0xff]) {
      const bad = bytes.slice();
      bad[i] ^= x;
      let got;
      try {
        got = await readAll(bad);
      } catch (e) {
        if (e instanceof TraceFormatError && !e.message.includes("\n")) continue;
        assert.fail(`byte ${i} ^ ${x}: unexpected ${e}`);
      }
      assert.fail(`byte ${i} ^ ${x}: read ${got.events.length} events without an error`);
    }
  }
});

Deno.test("reader: wrong magic and wrong major version", async () => {
  const bytes = await writeTrace(sampleEvents());
  const bad = bytes.slice();
  bad[3] = 0x58;
  await assertFormatError(
    TraceReader.open(bad, "x.bin"),
    /^Cannot parse trace x\.bin at offset 0: not a vtlrr trace \(bad magic\)$/,
  );
  const v2 = bytes.slice();
  v2[8] = 2;
  v2[10] = 1;
  await assertFormatError(
    TraceReader.open(v2, "x.vtlrr"),
    /^Cannot parse trace x\.vtlrr at offset 8: unsupported trace format version 2\.1; this build reads 1\.x$/,
  );
});

Deno.test("reader: a footer that points to garbage is an error, not truncation", async () => {
  const bytes = await writeTrace(manyEvents(20), { chunkEvents: 8 });
  const r = await TraceReader.open(bytes);
  const footerAt = bytes.length - 24;
  for (const target of [r.chunks[1].offset, r.chunks[0].offset + 3, footerAt - 12]) {
    const bad = bytes.slice();
    bad.set(encodeFooter(target), footerAt);
    await assertFormatError(TraceReader.open(bad), /index record|index is corrupt|outside/);
  }
  // A damaged trailing magic makes the file look unfinished; the complete index before it
  // gives the damage away.
  const bad = bytes.slice();
  bad[bytes.length - 1] ^= 1;
  await assertFormatError(TraceReader.open(bad), /footer is corrupt/);
});

/** The raw bytes of one event with `extra` bytes appended to its payload (small events only). */
function rawEvent(
  e: TraceEvent,
  prevIcount: number,
  extra: number[] = [],
  code?: number,
): number[] {
  const w = new ByteWriter();
  new EventEncoder().encode(e, prevIcount, w);
  const b = [...w.view()];
  assert.ok(b[0] < 0x80 && b[1] + extra.length < 0x80);
  return [code ?? b[0], b[1] + extra.length, ...b.slice(2), ...extra];
}

async function newerMinorTrace(minor: number): Promise<Uint8Array> {
  const e0 = makeEvent("halt", 0, 10, {});
  const e1 = makeEvent("halt", 1, 15, {}); // re-labelled as unknown kind 0x2a below
  const e2 = makeEvent("exit", 2, 20, { reason: "limit", value: 3, status: 0 });
  const raw = [
    ...rawEvent(e0, 10),
    ...rawEvent(e1, 10, [0xaa, 0xbb], 0x2a),
    ...rawEvent(e2, 15, [0x07]),
  ];
  const chunk: RawChunk = {
    raw: new Uint8Array(raw),
    count: 3,
    firstSeq: 0,
    firstIcount: 10,
    lastIcount: 20,
  };
  const header = encodeHeader({ ...sampleHeader(), format: { major: 1, minor } });
  const frame = await encodeChunk(chunk);
  const index = encodeIndex({
    chunks: [{ offset: header.length, firstSeq: 0, events: 3, firstIcount: 10, lastIcount: 20 }],
    checkpoints: [],
    totals: {
      events: 3,
      lastIcount: 20,
      byKind: { halt: 1, exit: 1, future_kind: 1 },
      byVtl: { "0": 2, "1": 1 },
    },
  });
  return concatBytes([header, frame, index, encodeFooter(header.length + frame.length)]);
}

Deno.test("reader: a newer minor's appended fields and unknown kinds are skipped", async () => {
  const bytes = await newerMinorTrace(FORMAT_MINOR + 1);
  const { r, events, summary } = await readAll(bytes);
  assert.equal(r.header.format.minor, FORMAT_MINOR + 1);
  assert.deepEqual(events.map((e) => [e.seq, e.kind, e.icount]), [[0, "halt", 10], [
    2,
    "exit",
    20,
  ]]);
  assert.deepEqual(events[1], makeEvent("exit", 2, 20, { reason: "limit", value: 3, status: 0 }));
  assert.equal(r.stats.unknown, 1);
  assert.deepEqual(summary, {
    events: 3,
    lastIcount: 20,
    byKind: { halt: 1, exit: 1 },
    byVtl: { "0": 2, "1": 1 },
    unknown: 1,
    truncated: false,
  });
  // Without the index the scan finds the same.
  const scan = await readAll(bytes.slice(0, r.chunks[0].offset + r.chunks[0].size));
  assert.deepEqual(scan.events, events);
  assert.deepEqual(scan.summary, { ...summary, truncated: true });
  // At this build's own minor the same bytes are an error.
  const old = await newerMinorTrace(FORMAT_MINOR);
  const e = await assertFormatError(
    readAll(old),
    /^Cannot parse trace t\.vtlrr at offset \d+: chunk 0: event seq 1 \(byte 8 of the chunk's event data\): unknown event kind 0x2a$/,
  );
  assert.equal(e.offset, (await TraceReader.open(old)).chunks[0].offset);
});

Deno.test("reader: a chunk that disagrees with the index is an error", async () => {
  const events = manyEvents(16);
  const bytes = await writeTrace(events, { chunkEvents: 8 });
  const r = await TraceReader.open(bytes);
  // Rewrite the index so that chunk 1 claims a different icount range, with valid CRCs.
  const chunks = r.chunks.map(({ offset, firstSeq, events, firstIcount, lastIcount }) => ({
    offset,
    firstSeq,
    events,
    firstIcount,
    lastIcount,
  }));
  chunks[1].lastIcount += 1;
  const indexAt = r.chunks[1].offset + r.chunks[1].size;
  const s = await r.summary();
  const index = encodeIndex({
    chunks,
    checkpoints: [...(r.checkpoints ?? [])],
    totals: { events: 16, lastIcount: chunks[1].lastIcount, byKind: s.byKind, byVtl: s.byVtl },
  });
  const forged = concatBytes([bytes.subarray(0, indexAt), index, encodeFooter(indexAt)]);
  const f = await TraceReader.open(forged);
  assert.deepEqual(await f.readChunk(0), events.slice(0, 8));
  await assertFormatError(f.readChunk(1), /chunk 1 does not match the index/);
});
