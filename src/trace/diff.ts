/** Diff of two traces: the first differing event, with context, and both sides' summaries. */

import type { TraceEvent } from "../core/events.ts";
import { compareEvents, type DivergenceReport } from "./compare.ts";
import type { TraceReader, TraceSummary } from "./reader.ts";

export interface DiffResult {
  readonly identical: boolean;
  readonly divergence: DivergenceReport | null;
  readonly compared: number;
  readonly summaries: [TraceSummary, TraceSummary];
  readonly headerDifferences: string[];
}

function headerDiffs(a: TraceReader, b: TraceReader): string[] {
  const out: string[] = [];
  const ha = a.header, hb = b.header;
  if (ha.guest.sha256 !== hb.guest.sha256) {
    out.push(
      `guest image: ${ha.guest.name} ${ha.guest.sha256.slice(0, 12)} vs ${hb.guest.name} ${
        hb.guest.sha256.slice(0, 12)
      }`,
    );
  }
  const ca = ha.config as Record<string, unknown>, cb = hb.config as Record<string, unknown>;
  for (const k of [...new Set([...Object.keys(ca), ...Object.keys(cb)])].sort()) {
    const va = JSON.stringify(ca[k]), vb = JSON.stringify(cb[k]);
    if (va !== vb) out.push(`config.${k}: ${va} vs ${vb}`);
  }
  if (ha.emulator.version !== hb.emulator.version || ha.emulator.commit !== hb.emulator.commit) {
    out.push(
      `emulator: ${ha.emulator.version} (${
        ha.emulator.commit ?? "no commit"
      }) vs ${hb.emulator.version} (${hb.emulator.commit ?? "no commit"})`,
    );
  }
  if (ha.seed !== hb.seed) out.push(`seed: ${ha.seed} vs ${hb.seed}`);
  return out;
}

export async function diffTraces(a: TraceReader, b: TraceReader, k = 5): Promise<DiffResult> {
  const ia = a.events(), ib = b.events();
  const recent: TraceEvent[] = [];
  let compared = 0;
  let divergence: DivergenceReport | null = null;
  while (true) {
    const [na, nb] = await Promise.all([ia.next(), ib.next()]);
    if (na.done && nb.done) break;
    const ea = na.done ? null : na.value, eb = nb.done ? null : nb.value;
    if (ea === null || eb === null) {
      divergence = { seq: (ea ?? eb)!.seq, expected: ea, actual: eb, fields: [], before: recent };
      break;
    }
    const fields = compareEvents(ea, eb);
    if (fields.length > 0) {
      divergence = { seq: ea.seq, expected: ea, actual: eb, fields, before: recent };
      break;
    }
    compared++;
    recent.push(ea);
    if (recent.length > k) recent.shift();
  }
  const summaries: [TraceSummary, TraceSummary] = [await a.summary(), await b.summary()];
  return {
    identical: divergence === null,
    divergence,
    compared,
    summaries,
    headerDifferences: headerDiffs(a, b),
  };
}

/** Per-kind and per-VTL counts of both sides as aligned text lines. */
export function formatSummaries(
  s: [TraceSummary, TraceSummary],
  labels: [string, string],
): string[] {
  const lines: string[] = [];
  const w = Math.max(labels[0].length, labels[1].length, 8);
  lines.push(`  ${"".padEnd(16)} ${labels[0].padStart(w)} ${labels[1].padStart(w)}`);
  lines.push(
    `  ${"events".padEnd(16)} ${String(s[0].events).padStart(w)} ${
      String(s[1].events).padStart(w)
    }`,
  );
  lines.push(
    `  ${"last icount".padEnd(16)} ${String(s[0].lastIcount).padStart(w)} ${
      String(s[1].lastIcount).padStart(w)
    }`,
  );
  const kinds = [...new Set([...Object.keys(s[0].byKind), ...Object.keys(s[1].byKind)])].sort();
  for (const k of kinds) {
    const x = s[0].byKind[k] ?? 0, y = s[1].byKind[k] ?? 0;
    lines.push(
      `  ${k.padEnd(16)} ${String(x).padStart(w)} ${String(y).padStart(w)}${x !== y ? "  *" : ""}`,
    );
  }
  const vtls = [...new Set([...Object.keys(s[0].byVtl), ...Object.keys(s[1].byVtl)])].sort();
  for (const v of vtls) {
    const x = s[0].byVtl[v] ?? 0, y = s[1].byVtl[v] ?? 0;
    lines.push(
      `  ${("vtl " + v).padEnd(16)} ${String(x).padStart(w)} ${String(y).padStart(w)}${
        x !== y ? "  *" : ""
      }`,
    );
  }
  return lines;
}
