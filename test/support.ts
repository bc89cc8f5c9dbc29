/** In-process record/replay helpers for the scenario tests (no subprocesses, no files). */

import { builtinGuest } from "../src/cli/guest.ts";
import { prepareReexecution } from "../src/cli/trace_input.ts";
import { DEFAULT_CONFIG, type MachineConfig, validateConfig } from "../src/machine/config.ts";
import { type InputSource, LiveInput, NoInput } from "../src/machine/inputs.ts";
import { Machine } from "../src/machine/machine.ts";
import { currentFormat, newHeader, type TraceHeader } from "../src/trace/header.ts";
import { TraceReader } from "../src/trace/reader.ts";
import { ReplayVerifier } from "../src/trace/replay.ts";
import { memorySink, TraceWriter } from "../src/trace/writer.ts";
import type { DivergenceReport } from "../src/trace/compare.ts";

export interface Recording {
  bytes: Uint8Array;
  machine: Machine;
}

export async function recordBuiltin(
  name: string,
  opts: {
    input?: Uint8Array;
    config?: Partial<MachineConfig>;
    slice?: number;
    /** Ctrl-C between slices once this many instructions have run (slices end exactly there). */
    interruptAt?: number;
  } = {},
): Promise<Recording> {
  const guest = await builtinGuest(name);
  const config = validateConfig({ ...DEFAULT_CONFIG, ...guest.config, ...opts.config });
  const sink = memorySink();
  const writer = await TraceWriter.create(
    sink,
    newHeader({ guest: guest.identity, config, version: "test" }),
  );
  let input: InputSource = new NoInput();
  if (opts.input !== undefined) {
    const live = new LiveInput(config.inputPollInterval);
    live.push(opts.input);
    live.close();
    input = live;
  }
  const machine = new Machine(config, guest.loader, writer, input);
  const slice = opts.slice ?? 2_000_000;
  while (machine.exit === null) {
    const left = opts.interruptAt !== undefined ? opts.interruptAt - machine.icount : slice;
    machine.run(Math.min(slice, left));
    if (writer.readyToFlush) await writer.flush();
    if (opts.interruptAt !== undefined && machine.icount >= opts.interruptAt) machine.interrupt();
  }
  await writer.close();
  return { bytes: sink.bytes(), machine };
}

export interface ReplayResult {
  divergence: DivergenceReport | null;
  matched: number;
  bytes: Uint8Array;
}

/** Replays a trace (bytes) and returns the verdict and the replay-produced trace. */
export async function replayBytes(trace: Uint8Array, slice = 2_000_000): Promise<ReplayResult> {
  const reader = await TraceReader.open(trace, "test.vtlrr");
  const re = await prepareReexecution(reader);
  const verifier = new ReplayVerifier(reader.events(), 5, reader.truncated !== null);
  const sink = memorySink();
  const writer = await TraceWriter.create(sink, { ...reader.header, format: currentFormat() });
  verifier.tee = writer;
  const machine = re.machine(verifier);
  while (machine.exit === null) {
    machine.run(slice);
    if (writer.readyToFlush) await writer.flush();
    if (!(await verifier.drain()) || verifier.recordedEnded) break;
  }
  await verifier.finish();
  await writer.close();
  return { divergence: verifier.divergence, matched: verifier.matched, bytes: sink.bytes() };
}

/** All events of a trace. */
export async function eventsOf(trace: Uint8Array) {
  const r = await TraceReader.open(trace, "t.vtlrr");
  const out = [];
  for await (const e of r.events()) out.push(e);
  return { header: r.header, events: out };
}

/** Re-encodes a header and events as a complete trace. */
export async function encodeTrace(
  header: TraceHeader,
  events: Iterable<import("../src/core/events.ts").TraceEvent>,
) {
  const sink = memorySink();
  const w = await TraceWriter.create(sink, header);
  for (const e of events) w.event(e);
  await w.close();
  return sink.bytes();
}

/** The repository root. */
export const ROOT = new URL("../", import.meta.url);

const MAIN = new URL("../main.ts", import.meta.url).pathname;

/** Runs the CLI as users do (`deno run main.ts ...` from the repository root), stdin closed. */
export async function vtlrr(
  ...args: string[]
): Promise<{ code: number; out: string; err: string }> {
  const r = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-read", "--allow-write", MAIN, ...args],
    cwd: ROOT.pathname,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return { code: r.code, out: dec.decode(r.stdout), err: dec.decode(r.stderr) };
}
