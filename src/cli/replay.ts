/**
 * `replay TRACE [--out PATH] [--guest FILE] [--initrd FILE] [--log-insns FROM[:COUNT]]`:
 * re-executes a trace and verifies every event; with --log-insns, prints COUNT instructions
 * from instruction count FROM (see insn_log.ts) and stops there.
 */

import type { Machine } from "../machine/machine.ts";
import { formatDivergence } from "../trace/compare.ts";
import { currentFormat } from "../trace/header.ts";
import { TraceReader } from "../trace/reader.ts";
import { ReplayVerifier } from "../trace/replay.ts";
import { deferredFileSink } from "../trace/sink.ts";
import { TraceWriter } from "../trace/writer.ts";
import { fmtInt, parse, parseNumber } from "./args.ts";
import { UsageError } from "./errors.ts";
import { runLoop } from "./run.ts";
import type { EventSink, TraceEvent } from "../core/events.ts";
import { type InsnWindow, parseInsnWindow, stepAndDescribe } from "./insn_log.ts";
import { prepareReexecution } from "./trace_input.ts";

export async function replay(args: string[]): Promise<number> {
  const { values: v, positionals } = parse("replay", args, {
    out: { type: "string" },
    guest: { type: "string" },
    initrd: { type: "string" },
    context: { type: "string" },
    "log-insns": { type: "string" },
  });
  const win = v["log-insns"] !== undefined ? parseInsnWindow(v["log-insns"]) : null;
  if (win !== null && v.out !== undefined) {
    throw new UsageError("replay: --log-insns and --out cannot be combined");
  }
  if (positionals.length !== 1) throw new UsageError("replay: give exactly one trace file");
  const path = positionals[0]!;
  const k = v.context !== undefined ? parseNumber("--context", v.context) : 5;
  const reader = await TraceReader.open(path);
  const re = await prepareReexecution(reader, { guest: v.guest, initrd: v.initrd });
  const cut = reader.truncated;
  const verifier = new ReplayVerifier(reader.events(), k, cut !== null);
  let writer: TraceWriter | null = null;
  const outSink = v.out !== undefined ? deferredFileSink(v.out) : null;
  if (outSink !== null) {
    // The replay's own trace: the recording's header in this build's format version.
    writer = await TraceWriter.create(outSink, { ...reader.header, format: currentFormat() });
    verifier.tee = writer;
  }
  const stepEvents: TraceEvent[] = [];
  const sink: EventSink = win === null ? verifier : {
    event(e) {
      stepEvents.push(e);
      verifier.event(e);
    },
  };
  const machine = re.machine(sink);
  if (outSink !== null) {
    try {
      await outSink.open();
    } catch (e) {
      throw new UsageError(`Cannot write trace ${v.out}: ${(e as Error).message}`);
    }
  }
  if (win !== null) return await logWindow(machine, verifier, win, stepEvents);
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

/** Replays (verifying) up to `win.from`, then logs `win.count` single-stepped instructions. */
async function logWindow(
  machine: Machine,
  verifier: ReplayVerifier,
  win: InsnWindow,
  events: TraceEvent[],
): Promise<number> {
  const slice = 2_000_000;
  while (machine.exit === null && machine.icount < win.from && verifier.divergence === null) {
    machine.run(Math.min(slice, win.from - machine.icount));
    if (!(await verifier.drain()) || verifier.recordedEnded) break;
  }
  events.length = 0;
  const enc = new TextEncoder();
  for (let n = 0; n < win.count && machine.exit === null; n++) {
    const lines = stepAndDescribe(machine, events);
    Deno.stdout.writeSync(enc.encode(lines.join("\n") + "\n"));
    if (n % 1024 === 1023 && !(await verifier.drain())) break;
  }
  await verifier.drain();
  const d = verifier.divergence;
  if (d !== null) {
    console.log("replay diverged:");
    for (const l of formatDivergence(d, ["recorded", "replay"])) console.log(l);
    return 1;
  }
  if (machine.exit !== null) console.log(`(the run ended: ${machine.exit.reason})`);
  return 0;
}
