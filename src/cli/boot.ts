/**
 * `boot [guest] [options]`: runs a guest from reset, recording a trace. With no guest, the
 * built-in VSM demo runs and the trace goes to traces/demo.vtlrr.
 */

import { ConfigError, DEFAULT_CONFIG, validateConfig } from "../machine/config.ts";
import { type InputSource, LiveInput, NoInput } from "../machine/inputs.ts";
import { Machine } from "../machine/machine.ts";
import { newHeader } from "../trace/header.ts";
import { deferredFileSink } from "../trace/sink.ts";
import { TraceWriter } from "../trace/writer.ts";
import { fmtInt, parse, parseMiB, parseNumber } from "./args.ts";
import { UsageError } from "./errors.ts";
import {
  builtinGuest,
  builtinNames,
  fileGuest,
  type InitrdSource,
  isBuiltin,
  readUserFile,
  sha256Hex,
} from "./guest.ts";
import { attachTerminal, pipeStdin, runLoop, stdinIsPiped } from "./run.ts";
import { thisBuild } from "./version.ts";
import type { Machine as M } from "../machine/machine.ts";

export const BOOT_USAGE = `usage: deno task boot [GUEST] [options]
  GUEST                 a built-in guest (${builtinNames().join(", ")}; default demo)
                        or a kernel file: multiboot (e.g. kvm-unit-tests), Linux bzImage, PVH
                        vmlinux or plain ELF, detected from its contents
  --append STR          kernel command line
  --initrd FILE         initial ramdisk (Linux) or module (multiboot), recorded by SHA-256
  --trace PATH          where to write the trace (default traces/<guest>.vtlrr)
  --flat ADDR           load GUEST as a flat binary at ADDR ...
  --entry ADDR          ... and enter it in 64-bit mode at ADDR (identity paging by the loader)
  --vps N               virtual processors (default ${DEFAULT_CONFIG.vps})
  --max-vtl N           highest VTL the guest may enable (default ${DEFAULT_CONFIG.maxVtl})
  --mem SIZE            guest RAM, e.g. 64M or 1G (default ${DEFAULT_CONFIG.memMiB}M)
  --hv-profile P        hyperv (default) or kvm-rfc
  --input FILE|-        serial input (recorded in the trace); piped stdin is used by default
  --input-prompt STR    send the input a line at a time, each after the guest prints STR
                        (e.g. "# " for a shell prompt)
  --checkpoint N        a state-hash checkpoint every N instructions (0: none)
  --quantum N           instructions per VP turn (default ${DEFAULT_CONFIG.quantum})
  --max-instructions N  stop after N instructions
  --seed S              recorded in the header (default 0)
  --quiet               do not print the guest's serial output`;

export function summaryLine(m: M, wallMs: number, tracePath: string, traceBytes: number): string {
  const kinds = [...m.counts.entries()].sort(([a], [b]) => a < b ? -1 : 1)
    .map(([k, n]) => `${k} ${fmtInt(n)}`).join(", ");
  const events = [...m.counts.values()].reduce((a, b) => a + b, 0);
  const e = m.exit;
  const exit = e === null
    ? "still running"
    : e.reason === "debug_exit"
    ? `exit debug_exit value ${e.value} (status ${e.status})`
    : `exit ${e.reason}`;
  const mips = wallMs > 0 ? m.icount / wallMs / 1000 : 0;
  return `vtlrr: ${fmtInt(m.icount)} instructions, ${fmtInt(events)} events (${kinds}), ` +
    `${fmtInt(m.counts.get("vtl_switch") ?? 0)} VTL switches, ${exit}, ` +
    `${(wallMs / 1000).toFixed(2)} s, ${mips.toFixed(1)} MIPS, trace ${tracePath} (${
      fmtInt(traceBytes)
    } bytes)`;
}

/** Process exit status for a finished boot. */
export function exitStatus(m: M): number {
  const e = m.exit;
  if (e === null) return 0;
  switch (e.reason) {
    case "debug_exit":
      return e.value & 0xff;
    case "triple_fault":
    case "shutdown":
      return 1;
    case "interrupted":
      return 130;
    default:
      return 0;
  }
}

export async function boot(args: string[]): Promise<number> {
  const { values: v, positionals } = parse("boot", args, {
    trace: { type: "string" },
    append: { type: "string" },
    initrd: { type: "string" },
    flat: { type: "string" },
    entry: { type: "string" },
    vps: { type: "string" },
    "max-vtl": { type: "string" },
    mem: { type: "string" },
    "hv-profile": { type: "string" },
    input: { type: "string" },
    "input-prompt": { type: "string" },
    checkpoint: { type: "string" },
    quantum: { type: "string" },
    "max-instructions": { type: "string" },
    seed: { type: "string" },
    quiet: { type: "boolean" },
    help: { type: "boolean", short: "h" },
  });
  if (v.help) {
    console.log(BOOT_USAGE);
    return 0;
  }
  if (positionals.length > 1) {
    throw new UsageError(`boot: one guest expected, got ${positionals.length}`);
  }
  const guestArg = positionals[0] ?? "demo";
  if ((v.flat === undefined) !== (v.entry === undefined)) {
    throw new UsageError("boot: --flat and --entry go together");
  }
  const builtin = v.flat === undefined && isBuiltin(guestArg);
  if (builtin && (v.initrd !== undefined || v.append !== undefined)) {
    throw new UsageError(
      `boot: --initrd and --append need a kernel file, not built-in ${guestArg}`,
    );
  }
  if (v.flat !== undefined && v.initrd !== undefined) {
    throw new UsageError("boot: --initrd cannot be used with --flat");
  }
  const builtinResolved = builtin ? await builtinGuest(guestArg) : null;
  const guestDefaults = builtinResolved?.config ?? {};
  // The initrd is read and hashed once: the config records its identity, the loader gets it.
  let initrd = null, initrdSource: InitrdSource = {};
  if (v.initrd !== undefined) {
    const initrdBytes = await readUserFile("initrd", v.initrd);
    initrdSource = { bytes: initrdBytes };
    initrd = {
      name: v.initrd.split("/").pop() ?? v.initrd,
      path: v.initrd,
      sha256: await sha256Hex(initrdBytes),
      size: initrdBytes.length,
    };
  }
  let config;
  try {
    config = validateConfig({
      ...DEFAULT_CONFIG,
      ...guestDefaults,
      ...(v.vps !== undefined ? { vps: parseNumber("--vps", v.vps) } : {}),
      ...(v["max-vtl"] !== undefined ? { maxVtl: parseNumber("--max-vtl", v["max-vtl"]) } : {}),
      ...(v.mem !== undefined ? { memMiB: parseMiB("--mem", v.mem) } : {}),
      ...(v["hv-profile"] !== undefined ? { hvProfile: v["hv-profile"] } : {}),
      ...(v.checkpoint !== undefined
        ? { checkpointInterval: parseNumber("--checkpoint", v.checkpoint) }
        : {}),
      ...(v.quantum !== undefined ? { quantum: parseNumber("--quantum", v.quantum) } : {}),
      ...(v["max-instructions"] !== undefined
        ? { maxInstructions: parseNumber("--max-instructions", v["max-instructions"]) }
        : {}),
      ...(v.append !== undefined ? { cmdline: v.append } : {}),
      loader: v.flat !== undefined
        ? {
          kind: "flat",
          load: parseNumber("--flat", v.flat),
          entry: parseNumber("--entry", v.entry!),
        }
        : builtin
        ? { kind: "builtin" }
        : { kind: "image", initrd },
    });
  } catch (e) {
    if (e instanceof ConfigError) throw new UsageError(`boot: ${e.message}`);
    throw e;
  }
  const guest = builtinResolved ?? await fileGuest(guestArg, config, initrdSource);
  // Inputs.
  let input: InputSource = new NoInput();
  if (v["input-prompt"] === "") throw new UsageError("boot: --input-prompt must not be empty");
  let terminal: LiveInput | null = null;
  if (v.input !== undefined || stdinIsPiped()) {
    const live = new LiveInput(config.inputPollInterval, v["input-prompt"]);
    if (v.input !== undefined && v.input !== "-") {
      live.push(await readUserFile("input", v.input));
      live.close();
    } else pipeStdin(live);
    input = live;
  } else if (Deno.stdin.isTerminal() && !v.quiet) {
    // Interactive: this terminal becomes the serial console once the run starts.
    terminal = new LiveInput(config.inputPollInterval);
    input = terminal;
  }

  const tracePath = v.trace ?? `traces/${guest.identity.name.replace(/\.[^.]*$/, "")}.vtlrr`;
  const header = newHeader({
    guest: guest.identity,
    config,
    ...thisBuild(),
    seed: v.seed ?? "0",
  });
  // The trace file is created only once the guest has loaded (a load error leaves it alone).
  const sink = deferredFileSink(tracePath);
  const writer = await TraceWriter.create(sink, header);
  const machine = new Machine(config, guest.loader, writer, input);
  try {
    await sink.open();
  } catch (e) {
    throw new UsageError(`Cannot write trace ${tracePath}: ${(e as Error).message}`);
  }
  let quit = false;
  let restore = () => {};
  if (terminal !== null) {
    console.error("vtlrr: serial console on this terminal; Ctrl-A X ends the run");
    restore = attachTerminal(terminal, () => void (quit = true));
  }
  let r;
  try {
    r = await runLoop({
      machine,
      writer,
      echo: !v.quiet,
      crlf: terminal !== null,
      stopRequested: () => quit,
    });
  } finally {
    restore();
  }
  await writer.close();
  const stats = writer.stats;
  console.error(summaryLine(machine, r.wallMs, tracePath, stats.bytesWritten));
  const unimpl = [...machine.code.unimplemented.keys()];
  if (unimpl.length) {
    console.error(`vtlrr: note: unimplemented instructions raised #UD: ${unimpl.join(", ")}`);
  }
  return exitStatus(machine);
}
