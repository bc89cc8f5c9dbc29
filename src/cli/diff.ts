/** `diff A B`: exit 0 when the traces' events are identical, 1 with the first divergence. */

import { formatDivergence } from "../trace/compare.ts";
import { diffTraces, formatSummaries } from "../trace/diff.ts";
import { TraceReader } from "../trace/reader.ts";
import { fmtInt, parse, parseNumber } from "./args.ts";
import { UsageError } from "./errors.ts";

export async function printDiff(
  a: TraceReader,
  b: TraceReader,
  labels: [string, string],
  k: number,
): Promise<number> {
  const r = await diffTraces(a, b, k);
  for (const h of r.headerDifferences) console.log(`header: ${h}`);
  for (const [t, l] of [[a, labels[0]], [b, labels[1]]] as const) {
    if (t.truncated) console.log(`note (${l}): ${t.truncated.message}`);
  }
  if (r.identical) {
    console.log(`traces identical: ${fmtInt(r.compared)} events`);
    return 0;
  }
  console.log(`traces differ (${labels[0]}: ${a.path}, ${labels[1]}: ${b.path})`);
  for (const l of formatDivergence(r.divergence!, labels)) console.log(l);
  console.log("summary:");
  for (const l of formatSummaries(r.summaries, labels)) console.log(l);
  return 1;
}

export async function diff(args: string[]): Promise<number> {
  const { values: v, positionals } = parse("diff", args, { context: { type: "string" } });
  if (positionals.length !== 2) throw new UsageError("diff: give two trace files");
  const k = v.context !== undefined ? parseNumber("--context", v.context) : 5;
  const a = await TraceReader.open(positionals[0]!);
  const b = await TraceReader.open(positionals[1]!);
  return await printDiff(a, b, ["a", "b"], k);
}
