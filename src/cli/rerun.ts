/**
 * `rerun OLD [--out NEW] [--guest FILE] [--initrd FILE]`: re-executes OLD's guest, config and
 * recorded inputs with this build — not stopping at divergences — writes NEW, and diffs OLD
 * against NEW. The "did my change alter guest-visible behaviour?" check.
 */

import { currentFormat } from "../trace/header.ts";
import { TraceReader } from "../trace/reader.ts";
import { deferredFileSink } from "../trace/sink.ts";
import { TraceWriter } from "../trace/writer.ts";
import { parse, parseNumber } from "./args.ts";
import { summaryLine } from "./boot.ts";
import { printDiff } from "./diff.ts";
import { UsageError } from "./errors.ts";
import { runLoop } from "./run.ts";
import { prepareReexecution } from "./trace_input.ts";
import { thisBuild } from "./version.ts";

export async function rerun(args: string[]): Promise<number> {
  const { values: v, positionals } = parse("rerun", args, {
    out: { type: "string" },
    guest: { type: "string" },
    initrd: { type: "string" },
    context: { type: "string" },
  });
  if (positionals.length !== 1) throw new UsageError("rerun: give exactly one trace file");
  const oldPath = positionals[0]!;
  const k = v.context !== undefined ? parseNumber("--context", v.context) : 5;
  const old = await TraceReader.open(oldPath);
  const re = await prepareReexecution(old, { guest: v.guest, initrd: v.initrd });
  const outPath = v.out ?? oldPath.replace(/\.vtlrr$/, "") + ".rerun.vtlrr";
  if (outPath === oldPath) throw new UsageError("rerun: --out must differ from the old trace");
  // OLD's header as this build writes it: its guest, config and seed, this build's identity.
  const header = {
    ...old.header,
    format: currentFormat(),
    emulator: { name: "vtlrr" as const, ...thisBuild() },
  };
  // The file is created only once the guest has loaded: a trace that no longer loads leaves
  // an existing NEW untouched.
  const sink = deferredFileSink(outPath);
  const writer = await TraceWriter.create(sink, header);
  const machine = re.machine(writer);
  try {
    await sink.open();
  } catch (e) {
    throw new UsageError(`Cannot write trace ${outPath}: ${(e as Error).message}`);
  }
  const r = await runLoop({ machine, writer });
  await writer.close();
  console.error(summaryLine(machine, r.wallMs, outPath, writer.stats.bytesWritten));
  const fresh = await TraceReader.open(outPath);
  return await printDiff(old, fresh, ["old", "new"], k);
}
