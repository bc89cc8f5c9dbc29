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
  /** Echo "\n" as "\r\n" (stdout is a terminal in raw mode). */
  readonly crlf?: boolean;
  /** Polled between slices: true ends the run as Ctrl-C does (terminal escape Ctrl-A X). */
  readonly stopRequested?: () => boolean;
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

/**
 * Makes this terminal the guest's serial console: raw mode, every key goes to `input` (recorded
 * as input events like any live input), Ctrl-A X asks to end the run (`quit`), Ctrl-A Ctrl-A
 * sends a literal Ctrl-A. Returns the function that restores the terminal.
 */
export function attachTerminal(input: LiveInput, quit: () => void): () => void {
  Deno.stdin.setRaw(true);
  const filter = terminalKeys();
  (async () => {
    try {
      for await (const chunk of Deno.stdin.readable) {
        const { bytes, quit: q } = filter(chunk);
        if (bytes.length) input.push(bytes);
        if (q) quit();
      }
    } catch {
      // the terminal went away: no more input
    }
  })();
  return () => {
    try {
      Deno.stdin.setRaw(false);
    } catch {
      // not a terminal any more
    }
  };
}

/**
 * The console escape: Ctrl-A X (or x) quits, Ctrl-A Ctrl-A is a literal Ctrl-A, Ctrl-A with
 * anything else is dropped; every other byte goes to the guest. State carries across chunks.
 */
export function terminalKeys(): (chunk: Uint8Array) => { bytes: Uint8Array; quit: boolean } {
  let escape = false;
  return (chunk) => {
    const keep: number[] = [];
    let quit = false;
    for (const b of chunk) {
      if (escape) {
        escape = false;
        if (b === 0x78 || b === 0x58) quit = true;
        else if (b === 0x01) keep.push(1);
      } else if (b === 0x01) escape = true;
      else keep.push(b);
    }
    return { bytes: Uint8Array.from(keep), quit };
  };
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
  let last = 0;
  if (o.echo) {
    m.onConsole = (dev, b) => {
      if (dev !== "com1") return;
      if (o.crlf && b === 10 && last !== 13) out.push(13);
      out.push(b);
      last = b;
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
  let lastYield = t0;
  try {
    while (m.exit === null) {
      m.run(slice);
      flushOut();
      if (o.writer?.readyToFlush) await o.writer.flush();
      if (o.verifier) {
        if (!(await o.verifier.drain())) break;
        if (o.verifier.recordedEnded) break;
      }
      // Let signals and stdin reads in — every 20 ms of wall time, not after every slice: a
      // timer yield costs ~2 ms (nested timers are clamped), most of a short slice's time.
      const now = performance.now();
      if (now - lastYield >= 20) {
        await new Promise((r) => setTimeout(r, 0));
        lastYield = performance.now();
      }
      if (o.stopRequested?.()) interrupted = true;
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
