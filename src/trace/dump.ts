/**
 * The canonical text form of a trace, one JSON object per line: used for golden files, `dump`
 * and jq. First `{"header":…}`, then one line per event with keys in the order `kind`, position
 * fields, the kind's fields (schema order), and, when the trace was cut short, a last line
 * `{"truncated":"…"}`.
 */
import { fieldsOf, type FieldSpec, isEventKind, type TraceEvent } from "../core/events.ts";
import { canonicalJson, parseJson } from "./canonical_json.ts";
import type { TraceReader } from "./reader.ts";
import { checkValue } from "./values.ts";

/** The lines of the dump of `reader` (without newline characters). */
export async function* dumpLines(reader: TraceReader): AsyncIterable<string> {
  yield `{"header":${canonicalJson(reader.header)}}`;
  for await (const e of reader.events()) yield eventToJson(e);
  const t = reader.truncated;
  if (t !== null) yield `{"truncated":${JSON.stringify(t.message)}}`;
}

/** One event as a JSON line: `kind`, then the position fields, then the kind's fields. */
export function eventToJson(e: TraceEvent): string {
  const rec = e as unknown as Record<string, unknown>;
  let s = `{"kind":${JSON.stringify(e.kind)}`;
  for (const f of fieldsOf(e.kind)) {
    s += `,${JSON.stringify(f.name)}:${JSON.stringify(rec[f.name])}`;
  }
  return s + "}";
}

/**
 * Parses one event line and checks it against the schema: a known kind, exactly the kind's fields,
 * each a valid value of its type. Throws TypeError with a one-line reason otherwise. The result
 * has its keys in canonical order.
 */
export function eventFromJson(line: string): TraceEvent {
  const v = parseJson(line);
  if (typeof v !== "object" || v === null || Array.isArray(v)) {
    throw new TypeError("event line must be a JSON object");
  }
  const rec = v as Record<string, unknown>;
  const kind = rec.kind;
  if (typeof kind !== "string" || !isEventKind(kind)) {
    throw new TypeError(`event line has unknown kind ${JSON.stringify(kind)}`);
  }
  const fields: readonly FieldSpec[] = fieldsOf(kind);
  const out: Record<string, unknown> = { kind };
  for (const f of fields) {
    if (!Object.hasOwn(rec, f.name)) {
      throw new TypeError(`${kind} event line lacks field ${f.name}`);
    }
    const problem = checkValue(f.type, rec[f.name]);
    if (problem !== null) throw new TypeError(`${kind} event line: field ${f.name} ${problem}`);
    out[f.name] = rec[f.name];
  }
  const extra = Object.keys(rec).length - 1 - fields.length;
  if (extra !== 0) {
    const known = new Set(["kind", ...fields.map((f) => f.name)]);
    const name = Object.keys(rec).find((k) => !known.has(k));
    throw new TypeError(`${kind} event line has unexpected field ${JSON.stringify(name)}`);
  }
  return out as unknown as TraceEvent;
}
