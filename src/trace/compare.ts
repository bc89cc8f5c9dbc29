/** Field-by-field comparison of events, shared by replay verification and diff. */

import { fieldsOf, type TraceEvent } from "../core/events.ts";
import { disassemble } from "./disasm.ts";
import { eventToJson } from "./dump.ts";

export interface FieldDiff {
  readonly field: string;
  readonly expected: unknown;
  readonly actual: unknown;
}

/** Differences between two events (kind first; then every schema field). */
export function compareEvents(expected: TraceEvent, actual: TraceEvent): FieldDiff[] {
  if (expected.kind !== actual.kind) {
    return [{ field: "kind", expected: expected.kind, actual: actual.kind }];
  }
  const out: FieldDiff[] = [];
  const e = expected as unknown as Record<string, unknown>;
  const a = actual as unknown as Record<string, unknown>;
  for (const f of fieldsOf(expected.kind)) {
    if (e[f.name] !== a[f.name]) {
      out.push({ field: f.name, expected: e[f.name], actual: a[f.name] });
    }
  }
  return out;
}

export interface DivergenceReport {
  /** Sequence number (position in the trace) of the first differing event. */
  readonly seq: number;
  readonly expected: TraceEvent | null;
  readonly actual: TraceEvent | null;
  readonly fields: FieldDiff[];
  /** Up to K events before the divergence (identical on both sides). */
  readonly before: TraceEvent[];
}

function show(v: unknown): string {
  return typeof v === "string" ? JSON.stringify(v) : String(v);
}

function insnLine(e: TraceEvent): string {
  const d = disassemble(e.insn, e.rip, e.bits);
  return `${e.rip} ${d || "(no instruction bytes)"}`;
}

/** Human-readable lines for a divergence (labels: what the two sides are called). */
export function formatDivergence(r: DivergenceReport, labels: [string, string]): string[] {
  const lines: string[] = [];
  const ref = r.expected ?? r.actual!;
  lines.push(
    `first divergence at event ${r.seq} (icount ${ref.icount}, vp ${ref.vp}, vtl ${ref.vtl}): ` +
      (r.expected && r.actual && r.expected.kind === r.actual.kind
        ? `${r.expected.kind}`
        : `${r.expected?.kind ?? "(end of trace)"} vs ${r.actual?.kind ?? "(end of trace)"}`),
  );
  if (r.expected === null) lines.push(`  ${labels[0]}: (trace ends here)`);
  if (r.actual === null) lines.push(`  ${labels[1]}: (trace ends here)`);
  for (const f of r.fields) {
    lines.push(`  ${f.field}: ${labels[0]} ${show(f.expected)}, ${labels[1]} ${show(f.actual)}`);
  }
  if (r.expected) lines.push(`  instruction (${labels[0]}): ${insnLine(r.expected)}`);
  if (
    r.actual &&
    (!r.expected || r.actual.insn !== r.expected.insn || r.actual.rip !== r.expected.rip)
  ) {
    lines.push(`  instruction (${labels[1]}): ${insnLine(r.actual)}`);
  }
  if (r.before.length > 0) {
    lines.push(`  the ${r.before.length} events before it:`);
    for (const e of r.before) lines.push(`    ${eventToJson(e)}`);
  }
  if (r.expected) lines.push(`  ${labels[0]}: ${eventToJson(r.expected)}`);
  if (r.actual) lines.push(`  ${labels[1]}: ${eventToJson(r.actual)}`);
  return lines;
}
