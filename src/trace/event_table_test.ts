import assert from "node:assert/strict";
import {
  EVENT_TABLE_BEGIN,
  EVENT_TABLE_END,
  normalizeMarkdown,
  renderEventTable,
} from "./event_table.ts";

Deno.test("traces/README.md's event table matches src/core/events.ts", async () => {
  const readme = await Deno.readTextFile(new URL("../../traces/README.md", import.meta.url));
  const begin = readme.indexOf(EVENT_TABLE_BEGIN);
  const end = readme.indexOf(EVENT_TABLE_END);
  assert.ok(begin >= 0 && end > begin, "README lacks the event-table markers");
  const inDoc = readme.slice(begin + EVENT_TABLE_BEGIN.length, end);
  assert.equal(
    normalizeMarkdown(inDoc),
    normalizeMarkdown(renderEventTable()),
    "traces/README.md is stale: paste the output of `deno run src/trace/event_table.ts` between the markers",
  );
});

Deno.test("normalizeMarkdown ignores table padding only", () => {
  assert.equal(
    normalizeMarkdown("| a  | b \\| c |\n| --- | :----: |"),
    normalizeMarkdown("| a | b \\| c |\n|---|:---:|"),
  );
  assert.notEqual(normalizeMarkdown("| a | b |"), normalizeMarkdown("| a | c |"));
});

Deno.test("normalizeMarkdown ignores paragraph wrapping", () => {
  assert.equal(normalizeMarkdown("a b\nc\n\n\nd"), normalizeMarkdown("a\nb c\n\nd"));
  assert.notEqual(normalizeMarkdown("a\n\nb"), normalizeMarkdown("a b"));
});
