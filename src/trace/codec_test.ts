import assert from "node:assert/strict";
import { EVENT_KINDS, type TraceEvent } from "../core/events.ts";
import { ByteWriter } from "./bytes.ts";
import { decodeEvents, EventEncoder } from "./codec.ts";
import { DecodeError } from "./errors.ts";
import { makeEvent, MAX, sampleEvents } from "./test_fixtures.ts";

function encodeAll(events: readonly TraceEvent[]): Uint8Array {
  const enc = new EventEncoder();
  const out = new ByteWriter();
  let prev = events[0].icount;
  for (const e of events) {
    enc.encode(e, prev, out);
    prev = e.icount;
  }
  return out.copy();
}

function decodeAll(raw: Uint8Array, events: readonly TraceEvent[], newer = false) {
  return decodeEvents(raw, events.length, events[0].seq, events[0].icount, newer);
}

Deno.test("codec: every kind round-trips with edge values, keys in canonical order", () => {
  const events = sampleEvents();
  const kinds = new Set(events.map((e) => e.kind));
  assert.deepEqual([...kinds].sort(), Object.keys(EVENT_KINDS).sort());
  const raw = encodeAll(events);
  const d = decodeAll(raw, events);
  assert.equal(d.end, raw.length);
  assert.equal(d.skipped.length, 0);
  assert.deepEqual(d.events, events);
  for (let i = 0; i < events.length; i++) {
    assert.deepEqual(Object.keys(d.events[i]), Object.keys(events[i]));
  }
  assert.equal(d.lastIcount, MAX);
});

Deno.test("codec: encoding is deterministic and re-encoding decoded events is identical", () => {
  const events = sampleEvents();
  const a = encodeAll(events);
  const b = encodeAll(events);
  assert.deepEqual(a, b);
  assert.deepEqual(encodeAll(decodeAll(a, events).events), a);
});

Deno.test("codec: exact bytes of a small event", () => {
  const e = makeEvent("checkpoint", 7, 300, { hash: "ff00" }, {
    vp: 1,
    vtl: 0,
    rip: "0x80",
    bits: 64,
    insn: "90",
  });
  const out = new ByteWriter();
  new EventEncoder().encode(e, 172, out);
  // kind 11, length 12, icount delta 128 (80 01), vp 1, vtl 0, rip 0x80 (80 01), bits 64,
  // insn [1] 90, hash [2] ff 00
  assert.deepEqual(
    [...out.view()],
    [11, 12, 0x80, 0x01, 1, 0, 0x80, 0x01, 64, 1, 0x90, 2, 0xff, 0x00],
  );
});

Deno.test("codec: encoder rejects invalid events and leaves the output untouched", () => {
  const good = makeEvent("msr", 0, 5, {
    msr: 1,
    name: "x",
    value: "0x1",
    result: "ok",
  }) as unknown as Record<string, unknown>;
  const cases: [string, Record<string, unknown>, RegExp][] = [
    ["unknown kind", { ...good, kind: "nope" }, /unknown kind "nope"/],
    ["missing field", (({ result: _r, ...rest }) => rest)(good), /missing field result/],
    ["extra field", { ...good, extra: 1 }, /unexpected field "extra"/],
    ["leading zero u64", { ...good, value: "0x01" }, /field value must be a u64/],
    ["uppercase u64", { ...good, value: "0xA" }, /field value must be a u64/],
    ["empty u64", { ...good, value: "0x" }, /field value/],
    ["no prefix u64", { ...good, value: "10" }, /field value/],
    ["65-bit u64", { ...good, value: "0x10000000000000000" }, /field value/],
    ["u64 as number", { ...good, rip: 5 }, /field rip/],
    ["float u", { ...good, msr: 1.5 }, /field msr must be an integer/],
    ["negative u", { ...good, vp: -1 }, /field vp/],
    ["unsafe u", { ...good, bits: 2 ** 53 }, /field bits/],
    ["u as string", { ...good, vtl: "1" }, /field vtl/],
    ["odd hex", { ...good, insn: "9" }, /field insn/],
    ["uppercase hex", { ...good, insn: "AB" }, /field insn/],
    ["lone surrogate", { ...good, name: "a\ud800" }, /field name must be well-formed/],
    ["float icount", { ...good, icount: 5.5 }, /field icount/],
    ["bad seq", { ...good, seq: -1 }, /field seq/],
  ];
  const enc = new EventEncoder();
  const out = new ByteWriter();
  out.byte(0xaa);
  for (const [what, e, re] of cases) {
    assert.throws(() => enc.encode(e as unknown as TraceEvent, 0, out), re, what);
    assert.deepEqual([...out.view()], [0xaa], what);
  }
  const bad = [
    { ...makeEvent("console", 0, 0, { device: "x", text: "\u0100" }) },
    { ...makeEvent("interrupt", 0, 0, { vector: 1, source: "x", target_vtl: 0, preempted: 1 }) },
  ];
  for (const e of bad) assert.throws(() => enc.encode(e, 0, out), RangeError);
  assert.throws(() => enc.encode(null as unknown as TraceEvent, 0, out), TypeError);
});

Deno.test("codec: icount never decreases (RangeError)", () => {
  const e = makeEvent("halt", 3, 99, {});
  assert.throws(() => new EventEncoder().encode(e, 100, new ByteWriter()), RangeError);
  assert.throws(
    () => new EventEncoder().encode(e, 100, new ByteWriter()),
    /icount 99 is below the previous event's 100/,
  );
});

/** A raw event built by hand: kind code, payload bytes. */
function rawEvent(code: number, payload: number[]): number[] {
  return [code, payload.length, ...payload];
}
// icount delta 0, vp 0, vtl 1, rip 0x0, bits 64, insn empty
const POS = [0, 0, 1, 0, 64, 0];

function decodeBytes(bytes: number[], count: number, newer = false) {
  return decodeEvents(new Uint8Array(bytes), count, 10, 500, newer);
}

function assertDecodeError(bytes: number[], count: number, re: RegExp) {
  assert.throws(() => decodeBytes(bytes, count), (e: unknown) => {
    assert.ok(e instanceof DecodeError, String(e));
    assert.match(e.message, re);
    return true;
  });
}

Deno.test("codec: decoder reports malformed events", () => {
  const halt = rawEvent(12, POS);
  assert.deepEqual(decodeBytes(halt, 1).events[0], {
    kind: "halt",
    seq: 10,
    icount: 500,
    vp: 0,
    vtl: 1,
    rip: "0x0",
    bits: 64,
    insn: "",
  });
  assertDecodeError(
    rawEvent(0x2a, POS),
    1,
    /^event seq 10 \(byte 0 .*\): unknown event kind 0x2a$/,
  );
  assertDecodeError(
    [...halt, ...rawEvent(0x2a, POS)],
    2,
    /event seq 11 \(byte 8 .*unknown event kind 0x2a/,
  );
  assertDecodeError(rawEvent(12, [...POS, 7]), 1, /1 unexpected trailing bytes/);
  assertDecodeError(rawEvent(12, POS.slice(0, 5)), 1, /field insn.*runs past the end/);
  assertDecodeError([12, 20, ...POS], 1, /payload \(20 bytes\) runs past the end/);
  assertDecodeError([12], 1, /payload length: varint runs past the end/);
  assertDecodeError([], 1, /event kind: varint runs past the end/);
  assertDecodeError(halt, 2, /event seq 11.*event kind: varint runs past the end/);
  assertDecodeError(rawEvent(12, [1, ...POS.slice(1)]), 1, /first event must be 0, got 1/);
  // overlong varint (vp = 0x80 0x00)
  assertDecodeError(
    rawEvent(12, [0, 0x80, 0x00, 1, 0, 64, 0]),
    1,
    /field vp: varint is not minimal/,
  );
  // u above 2^53-1: 8 bytes, the last 0x10
  const big = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x10];
  assertDecodeError(rawEvent(12, [0, ...big, 1, 0, 64, 0]), 1, /field vp: varint exceeds 2\^53-1/);
  // u64 above 64 bits: 10 bytes, the last 0x02
  const huge = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02];
  assertDecodeError(
    rawEvent(12, [0, 0, 1, ...huge, 64, 0]),
    1,
    /field rip: varint exceeds 64 bits/,
  );
  const nonMinimal64 = [0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00];
  assertDecodeError(
    rawEvent(12, [0, 0, 1, ...nonMinimal64, 64, 0]),
    1,
    /field rip: varint is not minimal/,
  );
  // bool byte 2 in interrupt.preempted
  const intr = [...POS, 3, 1, 0x61, 0, 2];
  assertDecodeError(rawEvent(4, intr), 1, /field preempted: bool byte is 2 \(must be 0 or 1\)/);
  // invalid UTF-8 in a str
  assertDecodeError(rawEvent(4, [...POS, 3, 1, 0xff, 0, 0]), 1, /field source is not valid UTF-8/);
  // overlong UTF-8 ("/" as C0 AF) is invalid too
  assertDecodeError(rawEvent(4, [...POS, 3, 2, 0xc0, 0xaf, 0, 0]), 1, /not valid UTF-8/);
  // icount overflow past 2^53-1
  const icountBig = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x0f];
  assert.throws(
    () =>
      decodeEvents(
        new Uint8Array([...halt, ...rawEvent(12, [...icountBig, ...POS.slice(1)])]),
        2,
        0,
        1,
        false,
      ),
    /icount exceeds 2\^53-1/,
  );
});

Deno.test("codec: a newer minor's unknown kinds are skipped and appended fields ignored", () => {
  const halt = rawEvent(12, POS);
  // unknown kind 0x2a with a position (icount delta 5) and extra payload after it
  const unknown = rawEvent(0x2a, [5, 0, 2, 0, 64, 0, 0xde, 0xad]);
  // halt with an appended field, delta 1
  const haltPlus = rawEvent(12, [1, 0, 1, 0, 64, 0, 0x99, 0x01]);
  const d = decodeBytes([...halt, ...unknown, ...haltPlus], 3, true);
  assert.deepEqual(d.events.map((e) => [e.seq, e.icount]), [[10, 500], [12, 506]]);
  assert.deepEqual(d.skipped, [{ code: 0x2a, seq: 11, icount: 505, vtl: 2 }]);
  assert.equal(d.lastIcount, 506);
  // The same bytes at the reader's own minor are errors.
  assertDecodeError([...halt, ...unknown], 2, /unknown event kind 0x2a/);
  assertDecodeError(
    [...haltPlus.slice(0, 2), 0, ...haltPlus.slice(3)],
    1,
    /2 unexpected trailing bytes/,
  );
});

Deno.test("codec: any single-byte change is rejected or decodes to its own canonical encoding", () => {
  const events = sampleEvents().slice(0, 14);
  const raw = encodeAll(events);
  for (let i = 0; i < raw.length; i++) {
    for (const x of [0x01, 0x80, 0xff]) {
      const bad = raw.slice();
      bad[i] ^= x;
      let d;
      try {
        d = decodeAll(bad, events);
      } catch (e) {
        assert.ok(e instanceof DecodeError, `byte ${i}: ${e}`);
        continue;
      }
      if (d.end !== bad.length) continue; // the chunk layer rejects leftover bytes
      const again = new ByteWriter();
      const enc = new EventEncoder();
      let prev = d.events[0].icount;
      for (const e of d.events) {
        enc.encode(e, prev, again);
        prev = e.icount;
      }
      assert.deepEqual(again.view(), bad, `byte ${i} ^ ${x}`);
    }
  }
});
