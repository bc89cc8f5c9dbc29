/** Reading what a recorded trace needs for re-execution: config, inputs, and how it ended. */

import type { TraceEvent } from "../core/events.ts";
import { fromHex } from "../core/hex.ts";
import { ConfigError, type MachineConfig, validateConfig } from "../machine/config.ts";
import type { ScheduledInput } from "../machine/inputs.ts";
import type { TraceReader } from "../trace/reader.ts";
import { UsageError } from "./errors.ts";

export function configOf(reader: TraceReader): MachineConfig {
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
export async function scanTrace(reader: TraceReader): Promise<RecordedRun> {
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
export function interruptedAt(run: RecordedRun): number {
  const l = run.last;
  return l !== null && l.kind === "exit" && l.reason === "interrupted" ? l.icount : Infinity;
}
