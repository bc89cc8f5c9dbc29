import assert from "node:assert/strict";
import { crc32 } from "./crc32.ts";
import { TraceFormatError } from "./errors.ts";
import {
  encodeFooter,
  encodeIndex,
  hasTrailer,
  parseFooter,
  parseIndex,
  type TraceIndex,
} from "./index_record.ts";

const HEADER_END = 100;

function sampleIndex(): TraceIndex {
  return {
    chunks: [
      { offset: 100, firstSeq: 0, events: 10, firstIcount: 0, lastIcount: 50 },
      { offset: 300, firstSeq: 10, events: 5, firstIcount: 50, lastIcount: 90 },
    ],
    checkpoints: [{ seq: 3, icount: 20, hash: "00ff" }, { seq: 12, icount: 60, hash: "" }],
    totals: { events: 15, lastIcount: 90, byKind: { halt: 13, checkpoint: 2 }, byVtl: { "0": 15 } },
  };
}

const INDEX_AT = 500;

function parse(rec: Uint8Array, at = INDEX_AT) {
  return parseIndex(rec, at, at + rec.length, HEADER_END, "i.vtlrr");
}

/** Index bytes from a JSON text, with a valid CRC. */
function recordOf(json: string): Uint8Array {
  const j = new TextEncoder().encode(json);
  const b = new Uint8Array(j.length + 12);
  const dv = new DataView(b.buffer);
  b.set([0x56, 0x49, 0x44, 0x58]);
  dv.setUint32(4, j.length, true);
  b.set(j, 8);
  dv.setUint32(8 + j.length, crc32(b.subarray(0, 8 + j.length)), true);
  return b;
}

Deno.test("index: round trip, canonical JSON of tuples", () => {
  const rec = encodeIndex(sampleIndex());
  const json = new TextDecoder().decode(rec.subarray(8, rec.length - 4));
  assert.equal(
    json,
    '{"checkpoints":[[3,20,"00ff"],[12,60,""]],"chunks":[[100,0,10,0,50],[300,10,5,50,90]],' +
      '"totals":{"byKind":{"checkpoint":2,"halt":13},"byVtl":{"0":15},"events":15,"lastIcount":90}}',
  );
  assert.deepEqual(parse(rec), sampleIndex());
});

Deno.test("footer: layout and round trip", () => {
  const f = encodeFooter(INDEX_AT);
  assert.equal(f.length, 24);
  assert.equal(new TextDecoder().decode(f.subarray(0, 4)), "VEND");
  assert.equal(new TextDecoder().decode(f.subarray(16)), "VTLRREND");
  assert.ok(hasTrailer(f));
  assert.equal(parseFooter(f, 800, HEADER_END, "i.vtlrr"), INDEX_AT);
  for (let i = 0; i < 24; i++) {
    const bad = f.slice();
    bad[i] ^= 1;
    assert.throws(() => parseFooter(bad, 800, HEADER_END, "i.vtlrr"), TraceFormatError);
  }
  assert.throws(() => parseFooter(f, 505, HEADER_END, "i.vtlrr"), /outside the file's index area/);
  assert.throws(() => parseFooter(encodeFooter(50), 800, HEADER_END, "i.vtlrr"), /outside/);
});

Deno.test("index: inconsistencies are errors", () => {
  const base = sampleIndex();
  const bad = (mut: (i: TraceIndex) => void) => {
    const i = structuredClone(base);
    mut(i);
    return encodeIndex(i);
  };
  const cases: [Uint8Array, RegExp][] = [
    [bad((i) => (i.chunks[0].offset = 101)), /chunk 0 offset 101 is out of order/],
    [bad((i) => (i.chunks[1].offset = 120)), /chunk 1 offset 120 is out of order/],
    [bad((i) => (i.chunks[1].firstSeq = 11)), /chunk 1 does not continue at seq 10/],
    [bad((i) => (i.chunks[1].firstIcount = 40)), /chunk 1 icount range goes backwards/],
    [bad((i) => (i.chunks[1].offset = 480)), /chunks do not end before the index/],
    [bad((i) => (i.totals.events = 16)), /totals do not match/],
    [bad((i) => (i.totals.byVtl = { "0": 14 })), /do not add up/],
    [bad((i) => (i.checkpoints[1].seq = 2)), /checkpoints are out of order/],
    [bad((i) => (i.checkpoints[1].seq = 15)), /out of range/],
    [recordOf("[1]"), /index is corrupt: not a JSON object/],
    [recordOf('{"chunks":[[1,2]]}'), /chunks must be an array of 5-element arrays/],
    [recordOf("{"), /invalid JSON/],
    [recordOf('{"chunks":[],"checkpoints":[],"totals":{}}'), /totals must hold/],
  ];
  for (const [rec, re] of cases) {
    assert.throws(() => parse(rec), (e: unknown) => {
      assert.ok(e instanceof TraceFormatError, String(e));
      assert.match(e.message, re);
      return true;
    });
  }
  const rec = encodeIndex(base);
  assert.throws(
    () => parseIndex(rec, INDEX_AT, INDEX_AT + rec.length + 1, HEADER_END, "i"),
    /does not reach the footer/,
  );
  const flipped = rec.slice();
  flipped[20] ^= 1;
  assert.throws(() => parse(flipped), /index is corrupt \(CRC mismatch\)/);
  const noMagic = rec.slice();
  noMagic[0] = 0;
  assert.throws(() => parse(noMagic), /footer points to something that is not an index record/);
});

Deno.test("index: an empty trace has no chunks and its index right after the header", () => {
  const empty: TraceIndex = {
    chunks: [],
    checkpoints: [],
    totals: { events: 0, lastIcount: 0, byKind: {}, byVtl: {} },
  };
  const rec = encodeIndex(empty);
  assert.deepEqual(parse(rec, HEADER_END), empty);
  assert.throws(() => parse(rec, HEADER_END + 1), /chunks do not end before the index/);
});
