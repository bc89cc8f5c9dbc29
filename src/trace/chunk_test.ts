import assert from "node:assert/strict";
import type { TraceEvent } from "../core/events.ts";
import { ByteWriter } from "./bytes.ts";
import { decodeChunk, encodeChunk, parseChunkHeader, type RawChunk } from "./chunk.ts";
import { EventEncoder } from "./codec.ts";
import { crc32 } from "./crc32.ts";
import { deflateRaw } from "./deflate.ts";
import { TraceFormatError } from "./errors.ts";
import { sampleEvents } from "./test_fixtures.ts";

const LOC = { path: "c.vtlrr", index: 3, offset: 1000 };

function rawChunk(events: readonly TraceEvent[]): RawChunk {
  const enc = new EventEncoder();
  const w = new ByteWriter();
  let prev = events[0].icount;
  for (const e of events) {
    enc.encode(e, prev, w);
    prev = e.icount;
  }
  return {
    raw: w.copy(),
    count: events.length,
    firstSeq: events[0].seq,
    firstIcount: events[0].icount,
    lastIcount: prev,
  };
}

async function roundTrip(frame: Uint8Array) {
  const h = parseChunkHeader(frame, 0, LOC);
  return await decodeChunk(frame, h, LOC, false);
}

async function assertChunkError(frame: Uint8Array, re: RegExp) {
  await assert.rejects(
    (async () => await roundTrip(frame))(),
    (e: unknown) => {
      assert.ok(e instanceof TraceFormatError, String(e));
      assert.match(e.message, re);
      assert.equal(e.offset, 1000);
      return true;
    },
  );
}

/** Rebuilds the header CRC after editing header fields. */
function fixHeaderCrc(frame: Uint8Array): Uint8Array {
  new DataView(frame.buffer, frame.byteOffset).setUint32(44, crc32(frame.subarray(0, 44)), true);
  return frame;
}

Deno.test("chunk: framing layout and round trip", async () => {
  const events = sampleEvents();
  const c = rawChunk(events);
  const frame = await encodeChunk(c);
  const dv = new DataView(frame.buffer);
  assert.equal(new TextDecoder().decode(frame.subarray(0, 4)), "VCHK");
  assert.equal(dv.getUint32(4, true), frame.length - 48);
  assert.equal(dv.getUint32(8, true), c.raw.length);
  assert.equal(dv.getUint32(12, true), events.length);
  assert.equal(dv.getBigUint64(16, true), 0n);
  assert.equal(dv.getBigUint64(32, true), BigInt(Number.MAX_SAFE_INTEGER));
  assert.equal(dv.getUint32(40, true), crc32(frame.subarray(48)));
  assert.equal(dv.getUint32(44, true), crc32(frame.subarray(0, 44)));
  const d = await roundTrip(frame);
  assert.deepEqual(d.events, events);
  assert.deepEqual(await encodeChunk(c), frame, "deterministic");
});

Deno.test("chunk: every flipped byte is a CRC mismatch", async () => {
  const frame = await encodeChunk(rawChunk(sampleEvents().slice(0, 6)));
  for (let i = 4; i < frame.length; i++) {
    const bad = frame.slice();
    bad[i] ^= 0x20;
    const re = i < 48
      ? /^Cannot read trace c\.vtlrr at offset 1000: chunk 3 is corrupt \(header CRC mismatch\)$/
      : /^Cannot read trace c\.vtlrr at offset 1000: chunk 3 is corrupt \(CRC mismatch\)$/;
    await assertChunkError(bad, re);
  }
  const bad = frame.slice();
  bad[0] = 0;
  await assertChunkError(bad, /chunk 3 has a bad magic/);
});

Deno.test("chunk: impossible header values are reported even with a valid CRC", async () => {
  const frame = await encodeChunk(rawChunk(sampleEvents().slice(0, 6)));
  const edit = (at: number, v: number, bytes = 4) => {
    const b = frame.slice();
    const dv = new DataView(b.buffer);
    if (bytes === 4) dv.setUint32(at, v, true);
    else dv.setBigUint64(at, BigInt(v), true);
    return fixHeaderCrc(b);
  };
  await assertChunkError(edit(12, 0), /chunk 3 has no events/);
  await assertChunkError(edit(8, 0x7fffffff), /raw length 2147483647 exceeds/);
  await assertChunkError(edit(8, 3), /raw length 3 is too small/);
  await assertChunkError(edit(8, 5000), /inflates to \d+ bytes, the chunk header says 5000/);
  await assertChunkError(edit(8, 60), /inflates to more than the 60 bytes declared/);
  await assertChunkError(edit(12, 5), /bytes of event data follow its last event/);
  await assertChunkError(edit(12, 7), /event seq 6 .*runs past the end/);
  await assertChunkError(edit(16, 2 ** 53, 8), /firstSeq exceeds/);
  await assertChunkError(edit(32, 2 ** 54, 8), /icount exceeds/);
  await assertChunkError(edit(24, 1, 8), /last event has icount/);
  await assertChunkError(edit(24, 2 ** 40, 8), /lastIcount is below firstIcount/);
  const last = new DataView(frame.buffer).getBigUint64(32, true);
  await assertChunkError(
    edit(32, Number(last) + 1, 8),
    /last event has icount \d+, the chunk header says/,
  );
});

Deno.test("chunk: a payload that is not deflate data is reported, not thrown raw", async () => {
  const c = rawChunk(sampleEvents().slice(0, 3));
  const garbage = new Uint8Array([0xff, 0xff, 0xff, 0xff, 0x00]);
  const w = new ByteWriter();
  w.bytes(new TextEncoder().encode("VCHK"));
  w.u32(garbage.length);
  w.u32(c.raw.length);
  w.u32(c.count);
  w.u64(c.firstSeq);
  w.u64(c.firstIcount);
  w.u64(c.lastIcount);
  w.u32(crc32(garbage));
  w.u32(crc32(w.view()));
  w.bytes(garbage);
  await assertChunkError(
    w.copy(),
    /^Cannot parse trace c\.vtlrr at offset 1000: chunk 3: compressed data/,
  );
  // Valid deflate of garbage event bytes: an event-level error, with the chunk's offset.
  const junk = new Uint8Array([0x2a, 0x00, 0x00]);
  const payload = await deflateRaw(junk);
  const w2 = new ByteWriter();
  w2.bytes(new TextEncoder().encode("VCHK"));
  w2.u32(payload.length);
  w2.u32(junk.length);
  w2.u32(1);
  w2.u64(0);
  w2.u64(0);
  w2.u64(0);
  w2.u32(crc32(payload));
  w2.u32(crc32(w2.view()));
  w2.bytes(payload);
  await assertChunkError(
    w2.copy(),
    /^Cannot parse trace c\.vtlrr at offset 1000: chunk 3: event seq 0 \(byte 0 of the chunk's event data\): unknown event kind 0x2a$/,
  );
});
