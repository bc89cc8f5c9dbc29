/** Reading what a recorded trace needs for re-execution: config, inputs, and how it ended. */

import type { EventSink, TraceEvent } from "../core/events.ts";
import { fromHex } from "../core/hex.ts";
import { ConfigError, type MachineConfig, validateConfig } from "../machine/config.ts";
import { type ScheduledInput, ScheduledInputs } from "../machine/inputs.ts";
import { Machine } from "../machine/machine.ts";
import type { TraceReader } from "../trace/reader.ts";
import { UsageError } from "./errors.ts";
import { guestFromHeader, type ResolvedGuest } from "./guest.ts";

function configOf(reader: TraceReader): MachineConfig {
  try {
    return validateConfig(reader.header.config);
  } catch (e) {
    if (e instanceof ConfigError) throw new UsageError(`trace ${reader.path}: ${e.message}`);
    throw e;
  }
}

export interface RecordedRun {
  readonly inputs: ScheduledInput[];
  readonly last: TraceEvent | null;
  readonly events: number;
}

/** One pass over the trace: its input events and its last event. */
async function scanTrace(reader: TraceReader): Promise<RecordedRun> {
  const inputs: ScheduledInput[] = [];
  let last: TraceEvent | null = null;
  let events = 0;
  for await (const e of reader.events()) {
    events++;
    if (e.kind === "input") inputs.push({ icount: e.icount, data: fromHex(e.data) });
    last = e;
  }
  return { inputs, last, events };
}

/** The instruction count at which a Ctrl-C'd recording stopped, or Infinity. */
function interruptedAt(run: RecordedRun): number {
  const l = run.last;
  return l !== null && l.kind === "exit" && l.reason === "interrupted" ? l.icount : Infinity;
}

/** What re-executing a recorded trace (replay, rerun) needs, read from the trace once. */
export interface Reexecution {
  readonly config: MachineConfig;
  readonly guest: ResolvedGuest;
  readonly recorded: RecordedRun;
  /**
   * A machine running the recorded guest and config from reset, fed the recorded inputs at
   * their instruction counts, stopping where a Ctrl-C'd recording stopped; events go to `sink`.
   */
  machine(sink: EventSink): Machine;
}

/**
 * Reads a trace's config, resolves its guest (`guest`/`initrd` replace the recorded paths; the
 * image must have the recorded SHA-256) and scans its inputs and ending.
 */
export async function prepareReexecution(
  reader: TraceReader,
  paths: { readonly guest?: string; readonly initrd?: string } = {},
): Promise<Reexecution> {
  const config = configOf(reader);
  const guest = await guestFromHeader(reader.header, config, paths.guest, paths.initrd);
  const recorded = await scanTrace(reader);
  return {
    config,
    guest,
    recorded,
    machine(sink) {
      const m = new Machine(config, guest.loader, sink, new ScheduledInputs(recorded.inputs));
      m.stopAt = interruptedAt(recorded);
      return m;
    },
  };
}
