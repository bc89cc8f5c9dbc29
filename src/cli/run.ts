/**
 * The host-side run loop shared by boot, replay and rerun: advances the machine in slices,
 * flushing the trace writer, pumping live input and honouring Ctrl-C between slices. Wall-clock
 * time is measured here, outside the deterministic core.
 */

import type { Machine } from "../machine/machine.ts";
import type { LiveInput } from "../machine/inputs.ts";
import type { TraceWriter } from "../trace/writer.ts";
import type { ReplayVerifier } from "../trace/replay.ts";

export interface RunLoopOptions {
  readonly machine: Machine;
  readonly writer?: TraceWriter;
  readonly verifier?: ReplayVerifier;
  /** Print COM1 output to stdout as it comes. */
  readonly echo?: boolean;
  readonly slice?: number;
}

export interface RunLoopResult {
  readonly wallMs: number;
  readonly interrupted: boolean;
}

const enc = new TextEncoder();

/** Starts copying piped stdin into `input` (only when stdin is a pipe or a file). */
export function pipeStdin(input: LiveInput): void {
  (async () => {
    try {
      for await (const chunk of Deno.stdin.readable) input.push(chunk);
    } catch {
      // stdin closed or unreadable: no more input
    }
    input.close();
  })();
}

/** True when stdin is a pipe or a regular file (not a terminal, not /dev/null). */
export function stdinIsPiped(): boolean {
  try {
    if (Deno.stdin.isTerminal()) return false;
    const st = Deno.statSync("/dev/stdin");
    return st.isFile || st.isFifo === true;
  } catch {
    return false;
  }
}

export async function runLoop(o: RunLoopOptions): Promise<RunLoopResult> {
  const m = o.machine;
  const slice = o.slice ?? 2_000_000;
  let out: number[] = [];
  if (o.echo) {
    m.onConsole = (dev, b) => {
      if (dev === "com1") out.push(b);
    };
  }
  const flushOut = () => {
    if (out.length) {
      Deno.stdout.writeSync(Uint8Array.from(out));
      out = [];
    }
  };
  let interrupted = false;
  const onSigint = () => {
    interrupted = true;
  };
  try {
    Deno.addSignalListener("SIGINT", onSigint);
  } catch {
    // signals unavailable: Ctrl-C ends the process the default way
  }
  const t0 = performance.now();
  try {
    while (m.exit === null) {
      m.run(slice);
      flushOut();
      if (o.writer?.readyToFlush) await o.writer.flush();
      if (o.verifier) {
        if (!(await o.verifier.drain())) break;
        if (o.verifier.recordedEnded) break;
      }
      // Let signals and stdin reads in.
      await new Promise((r) => setTimeout(r, 0));
      if (interrupted && m.exit === null) m.interrupt();
    }
  } finally {
    try {
      Deno.removeSignalListener("SIGINT", onSigint);
    } catch {
      // ignore
    }
  }
  flushOut();
  const wallMs = performance.now() - t0;
  if (o.echo) Deno.stdout.writeSync(enc.encode(""));
  return { wallMs, interrupted };
}
