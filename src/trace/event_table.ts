/**
 * Renders the event vocabulary (src/core/events.ts) as the markdown tables pasted into
 * traces/README.md between `<!-- event-table:begin -->` and `<!-- event-table:end -->`.
 * event_table_test.ts fails when the README's copy is stale; to refresh it, run
 * `deno run src/trace/event_table.ts` and paste the output, then `deno fmt traces/README.md`.
 */
import { EVENT_KINDS, POSITION_FIELDS } from "../core/events.ts";

export const EVENT_TABLE_BEGIN = "<!-- event-table:begin -->";
export const EVENT_TABLE_END = "<!-- event-table:end -->";

function cell(s: string): string {
  return s.replaceAll("|", "\\|");
}

/** The markdown of the position-field table and the event-kind table. */
export function renderEventTable(): string {
  const lines: string[] = [];
  lines.push("Position fields, first in every event, in this order:", "");
  lines.push("| field | type | meaning |", "| --- | --- | --- |");
  for (const f of POSITION_FIELDS) lines.push(`| \`${f.name}\` | ${f.type} | ${cell(f.doc)} |`);
  lines.push("");
  lines.push(
    "Event kinds and their own fields, in on-disk order after the position fields",
    "(class `input`: a cause, injected by replay; `observed`: re-derived and compared by replay):",
    "",
  );
  lines.push(
    "| code | kind | class | field | type | meaning |",
    "| --- | --- | --- | --- | --- | --- |",
  );
  for (const [kind, spec] of Object.entries(EVENT_KINDS)) {
    const code = "0x" + spec.code.toString(16).padStart(2, "0");
    const cls = spec.input ? "input" : "observed";
    lines.push(`| ${code} | \`${kind}\` | ${cls} | | | ${cell(spec.doc)} |`);
    for (const f of spec.fields) {
      lines.push(`| | | | \`${f.name}\` | ${f.type} | ${cell(f.doc)} |`);
    }
  }
  return lines.join("\n") + "\n";
}

/**
 * Makes two renderings of the same markdown comparable regardless of `deno fmt`: trims lines,
 * re-joins wrapped paragraph lines, collapses the padding around table cell separators and the
 * width of table separator rows.
 */
export function normalizeMarkdown(md: string): string {
  const out: string[] = [];
  let para = false;
  for (const line of md.split("\n")) {
    const t = line.trim();
    if (t.startsWith("|")) {
      out.push(t.replace(/\s*(?<!\\)\|\s*/g, "|").replace(/:?-{3,}:?/g, "---"));
      para = false;
    } else if (t === "") {
      if (out.length > 0 && out[out.length - 1] !== "") out.push("");
      para = false;
    } else if (para) {
      out[out.length - 1] += " " + t.replace(/\s+/g, " ");
    } else {
      out.push(t.replace(/\s+/g, " "));
      para = true;
    }
  }
  return out.join("\n").trim();
}

if (import.meta.main) console.log(renderEventTable());
