/** `replay TRACE [--out PATH] [--guest FILE] [--initrd FILE]`: re-executes a trace and verifies every event. */

import { Machine } from "../machine/machine.ts";
import { ScheduledInputs } from "../machine/inputs.ts";
import { formatDivergence } from "../trace/compare.ts";
import { currentFormat } from "../trace/header.ts";
import { TraceReader } from "../trace/reader.ts";
import { ReplayVerifier } from "../trace/replay.ts";
import { fileSink, TraceWriter } from "../trace/writer.ts";
import { fmtInt, parse, parseNumber } from "./args.ts";
import { UsageError } from "./errors.ts";
import { guestFromHeader } from "./guest.ts";
import { runLoop } from "./run.ts";
import { configOf, interruptedAt, scanTrace } from "./trace_input.ts";

export async function replay(args: string[]): Promise<number> {
  const { values: v, positionals } = parse("replay", args, {
    out: { type: "string" },
    guest: { type: "string" },
    initrd: { type: "string" },
    context: { type: "string" },
  });
  if (positionals.length !== 1) throw new UsageError("replay: give exactly one trace file");
  const path = positionals[0]!;
  const k = v.context !== undefined ? parseNumber("--context", v.context) : 5;
  const reader = await TraceReader.open(path);
  const config = configOf(reader);
  const guest = await guestFromHeader(reader.header, config, v.guest, v.initrd);
  const recorded = await scanTrace(reader);
  const cut = reader.truncated;
  const verifier = new ReplayVerifier(reader.events(), k, cut !== null);
  let writer: TraceWriter | null = null;
  if (v.out !== undefined) {
    // The replay's own trace: the recording's header in this build's format version.
    writer = await TraceWriter.create(await fileSink(v.out), {
      ...reader.header,
      format: currentFormat(),
    });
    verifier.tee = writer;
  }
  const machine = new Machine(config, guest.loader, verifier, new ScheduledInputs(recorded.inputs));
  machine.stopAt = interruptedAt(recorded);
  await runLoop({ machine, verifier, writer: writer ?? undefined });
  await verifier.finish();
  if (writer !== null) await writer.close();
  const d = verifier.divergence;
  if (d !== null) {
    console.log(`replay diverged from ${path}:`);
    for (const l of formatDivergence(d, ["recorded", "replay"])) console.log(l);
    return 1;
  }
  console.log(
    `replay identical: ${fmtInt(verifier.matched)} events, ${fmtInt(machine.icount)} instructions`,
  );
  if (cut !== null) console.log(`note: ${cut.message}; verified everything before the cut`);
  return 0;
}
