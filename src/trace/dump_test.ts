import assert from "node:assert/strict";
import { fieldsOf } from "../core/events.ts";
import { canonicalJson } from "./canonical_json.ts";
import { dumpLines, eventFromJson, eventToJson } from "./dump.ts";
import { TraceReader } from "./reader.ts";
import { collect, makeEvent, sampleEvents, sampleHeader, writeTrace } from "./test_fixtures.ts";

Deno.test("dump: header line, one line per event in schema key order", async () => {
  const events = sampleEvents();
  const r = await TraceReader.open(await writeTrace(events, { chunkEvents: 5 }));
  const lines = await collect(dumpLines(r));
  assert.equal(lines.length, 1 + events.length);
  assert.equal(lines[0], `{"header":${canonicalJson(sampleHeader())}}`);
  for (let i = 0; i < events.length; i++) {
    const line = lines[i + 1];
    const parsed = JSON.parse(line);
    assert.deepEqual(Object.keys(parsed), ["kind", ...fieldsOf(events[i].kind).map((f) => f.name)]);
    assert.deepEqual(eventFromJson(line), events[i]);
    assert.equal(eventToJson(eventFromJson(line)), line);
  }
});

Deno.test("dump: exact text of an event", () => {
  const e = makeEvent("console", 4, 77, { device: "com1", text: "hi\n\u00ff" }, {
    vp: 1,
    vtl: 0,
    rip: "0xfff0",
    bits: 16,
    insn: "ee",
  });
  assert.equal(
    eventToJson(e),
    '{"kind":"console","seq":4,"icount":77,"vp":1,"vtl":0,"rip":"0xfff0","bits":16,"insn":"ee",' +
      '"device":"com1","text":"hi\\nÿ"}',
  );
});

Deno.test("dump: a truncated trace ends with a truncated line", async () => {
  const bytes = await writeTrace(sampleEvents(), { chunkEvents: 5 });
  const r = await TraceReader.open(bytes.slice(0, bytes.length - 40), "cut.vtlrr");
  const lines = await collect(dumpLines(r));
  const last = JSON.parse(lines.at(-1) as string);
  assert.deepEqual(Object.keys(last), ["truncated"]);
  assert.match(last.truncated, /^trace cut\.vtlrr was cut short: readable up to chunk \d+/);
});

Deno.test("eventFromJson: validates kind, field set and values", () => {
  const good = JSON.parse(eventToJson(makeEvent("halt", 0, 0, {})));
  // Key order in the input does not matter; the result is in canonical order.
  const shuffled = JSON.stringify({ insn: good.insn, ...good });
  assert.deepEqual(Object.keys(eventFromJson(shuffled)), Object.keys(good));
  const cases: [unknown, RegExp][] = [
    [[1], /must be a JSON object/],
    [{ ...good, kind: "nope" }, /unknown kind "nope"/],
    [{ ...good, extra: 1 }, /unexpected field "extra"/],
    [{ ...good, rip: "0x00" }, /field rip must be a u64/],
    [{ ...good, seq: 1.5 }, /field seq must be an integer/],
    [(({ vp: _vp, ...rest }) => rest)(good), /lacks field vp/],
  ];
  for (const [v, re] of cases) assert.throws(() => eventFromJson(JSON.stringify(v)), re);
  assert.throws(() => eventFromJson("{"), /invalid JSON/);
});
