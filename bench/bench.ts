/**
 * `deno task bench`: guest MIPS with recording on, for the built-in CPU-bound guest (compute and
 * memory/branch workloads) and, when this workplace's ../shared/bench (or `--shared-bench DIR`)
 * is present, the shared benchmark guest; rep STOSQ/MOVSQ throughput (MB/s) on a bare CPU; trace
 * throughput (events per second written, and read back + verified as replay does); and the Linux
 * boot when cache/linux is present (not with `--no-linux`). Prints a table; no assertions on time.
 */

import { parse } from "../src/cli/args.ts";
import { UsageError } from "../src/cli/errors.ts";
import { builtinGuest, fileGuest, sha256Hex } from "../src/cli/guest.ts";
import { prepareReexecution } from "../src/cli/trace_input.ts";
import { enterLongMode, makeCpu } from "../src/cpu/testing.ts";
import { buildCpuBench } from "../src/guests/cpubench.ts";
import { DEFAULT_CONFIG, validateConfig } from "../src/machine/config.ts";
import { longModeLoader } from "../src/machine/loader.ts";
import { type GuestLoader, Machine } from "../src/machine/machine.ts";
import { type InputSource, LiveInput, NoInput } from "../src/machine/inputs.ts";
import { newHeader, type TraceHeader } from "../src/trace/header.ts";
import { TraceReader } from "../src/trace/reader.ts";
import { ReplayVerifier } from "../src/trace/replay.ts";
import { manyEvents, sampleHeader } from "../src/trace/test_fixtures.ts";
import { memorySink, TraceWriter } from "../src/trace/writer.ts";
import type { MachineConfig } from "../src/machine/config.ts";

const opts = (() => {
  try {
    const r = parse("bench", Deno.args, {
      "shared-bench": { type: "string" },
      "no-linux": { type: "boolean" },
    });
    if (r.positionals.length > 0) throw new UsageError("bench: takes no positional arguments");
    return r.values;
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    console.error(`vtlrr: ${e.message}`);
    Deno.exit(2);
  }
})();

const rows: string[][] = [["benchmark", "instructions", "seconds", "MIPS", "notes"]];

/** Adds a row: printed as it completes (the Linux rows take minutes), tabled at the end. */
function addRow(r: string[]): void {
  console.error(`bench: ${r.join(" | ")}`);
  rows.push(r);
}

async function runGuest(
  guest: { identity: TraceHeader["guest"]; loader: GuestLoader },
  config: MachineConfig,
  input: InputSource = new NoInput(),
  onConsole?: (b: number, m: Machine) => void,
) {
  const sink = memorySink();
  const writer = await TraceWriter.create(
    sink,
    newHeader({ guest: guest.identity, config, version: "bench" }),
  );
  let text = "";
  const m = new Machine(config, guest.loader, writer, input);
  m.onConsole = (d, b) => {
    if (d !== "com1") return;
    if (onConsole) onConsole(b, m);
    else text += String.fromCharCode(b);
  };
  const t0 = performance.now();
  while (m.exit === null) {
    m.run(5_000_000);
    if (writer.readyToFlush) await writer.flush();
  }
  await writer.close();
  const s = (performance.now() - t0) / 1000;
  return { m, s, text, trace: sink.bytes() };
}

// 1. Built-in CPU-bound guest.
{
  const g = buildCpuBench(40);
  const config = validateConfig({ ...DEFAULT_CONFIG });
  const { m, s, text } = await runGuest({
    identity: {
      name: "cpubench",
      source: "builtin",
      path: null,
      sha256: await sha256Hex(g.bytes),
      size: g.bytes.length,
    },
    loader: longModeLoader("cpubench", g.bytes, g.load, g.entry),
  }, config);
  const ok = /cpubench: done/.test(text) ? "ok" : "DID NOT FINISH";
  addRow([
    "cpubench (compute + memory/branch)",
    m.icount.toLocaleString("en-US"),
    s.toFixed(2),
    (m.icount / s / 1e6).toFixed(1),
    ok,
  ]);
}

// 1b. rep STOSQ / MOVSQ over 4 KiB pages (memset/memcpy/clear_page as kernels write them), on a
// bare CPU: MB/s moved.
const stringOps: [string, number[]][] = [
  ["rep stosq", [0xf3, 0x48, 0xab]],
  ["rep movsq", [0xf3, 0x48, 0xa5]],
];
for (const [name, op] of stringOps) {
  const { cpu, mem } = makeCpu(32 << 20);
  enterLongMode(cpu, 0x1000, 16 << 20);
  const pages = 100_000;
  const code = [
    ...[0x41, 0xb8, ...u32le(pages)], // mov r8d, pages
    ...[0xbe, ...u32le(0x500000)], // loop: mov esi, 0x500000
    ...[0xbf, ...u32le(0x900000)], // mov edi, 0x900000 (same TLB slot as the source)
    ...[0xb9, ...u32le(512)], // mov ecx, 512
    ...op,
    ...[0x41, 0xff, 0xc8], // dec r8d
  ];
  code.push(0x75, (6 - (code.length + 2)) & 0xff, 0xf4); // jnz loop; hlt
  mem.u8.set(code, 0x200000);
  cpu.rip = 0x200000;
  const t0 = performance.now();
  while (!cpu.halted) cpu.run(1 << 20);
  const s = (performance.now() - t0) / 1000;
  addRow([
    `${name} (4 KiB x ${pages.toLocaleString("en-US")})`,
    cpu.icount.toLocaleString("en-US"),
    s.toFixed(2),
    "-",
    `${Math.round(pages * 4096 / 1e6 / s).toLocaleString("en-US")} MB/s`,
  ]);
}

function u32le(v: number): number[] {
  return [v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, v >>> 24];
}

// 2. The shared benchmark guest, when present.
const shared = opts["shared-bench"] !== undefined
  ? new URL(`${opts["shared-bench"].replace(/\/?$/, "/")}`, `file://${Deno.cwd()}/`)
  : new URL("../../shared/bench/", import.meta.url);
for (const reps of [70, 700]) {
  const bin = new URL(`guest-${reps}.bin`, shared).pathname;
  let info: string;
  try {
    info = await Deno.readTextFile(new URL(`guest-${reps}.info`, shared));
  } catch {
    addRow([`shared guest-${reps}`, "-", "-", "-", `${shared.pathname} not present`]);
    continue;
  }
  const insns = Number(/BENCH_INSNS=(\d+)/.exec(info)?.[1]);
  const config = validateConfig({
    ...DEFAULT_CONFIG,
    loader: { kind: "flat", load: 0x100000, entry: 0x100040 },
  });
  const { m, s, text } = await runGuest(await fileGuest(bin, config), config);
  const tsc = /tsc_delta=([0-9a-f]+)/.exec(text)?.[1];
  const exact = tsc !== undefined && parseInt(tsc, 16) === insns + 5;
  const note = `${/guest: OK/.test(text) ? "guest: OK" : "checksum FAILED"}, tsc_delta ${
    exact ? "= BENCH_INSNS + 5" : "MISMATCH"
  }`;
  addRow([
    `shared guest-${reps}`,
    m.icount.toLocaleString("en-US"),
    s.toFixed(2),
    (m.icount / s / 1e6).toFixed(1),
    note,
  ]);
}

// 3. Trace throughput.
{
  const events = manyEvents(300_000);
  const sink = memorySink();
  const w = await TraceWriter.create(sink, sampleHeader());
  let t0 = performance.now();
  for (const e of events) {
    w.event(e);
    if (w.readyToFlush) await w.flush();
  }
  await w.close();
  const ws = (performance.now() - t0) / 1000;
  const bytes = sink.bytes();
  t0 = performance.now();
  const reader = await TraceReader.open(bytes, "bench.vtlrr");
  const v = new ReplayVerifier(reader.events());
  for (const e of events) v.event(e);
  await v.finish();
  const rs = (performance.now() - t0) / 1000;
  addRow([
    "trace write",
    `${events.length.toLocaleString("en-US")} events`,
    ws.toFixed(2),
    "-",
    `${Math.round(events.length / ws).toLocaleString("en-US")} events/s, ${
      (bytes.length / events.length).toFixed(1)
    } bytes/event`,
  ]);
  addRow([
    "trace read + verify",
    `${events.length.toLocaleString("en-US")} events`,
    rs.toFixed(2),
    "-",
    `${Math.round(events.length / rs).toLocaleString("en-US")} events/s${
      v.divergence ? " (DIVERGED)" : ""
    }`,
  ]);
}

// Demo boot, for reference.
{
  const g = await builtinGuest("demo");
  const config = validateConfig({ ...DEFAULT_CONFIG, ...g.config }); // the demo needs its 2 VPs
  const { m, s } = await runGuest(g, config);
  addRow([
    "demo (VSM)",
    m.icount.toLocaleString("en-US"),
    s.toFixed(2),
    (m.icount / s / 1e6).toFixed(1),
    `${m.counts.get("vtl_switch") ?? 0} VTL switches`,
  ]);
}

// 4. Linux (tools/linux/fetch.sh): to the shell prompt, then the whole run recorded vs replayed.
const linux = new URL("../cache/linux/", import.meta.url);
const kernel = new URL("vmlinuz", linux).pathname,
  initrdPath = new URL("initramfs.cpio.gz", linux)
    .pathname;
let haveLinux = opts["no-linux"] !== true;
try {
  Deno.statSync(kernel);
  Deno.statSync(initrdPath);
} catch {
  haveLinux = false;
  addRow(["linux", "-", "-", "-", "cache/linux not present (tools/linux/fetch.sh)"]);
}
if (haveLinux) {
  const initrd = await Deno.readFile(initrdPath);
  const config = validateConfig({
    ...DEFAULT_CONFIG,
    memMiB: 256,
    cmdline: "console=ttyS0",
    maxInstructions: 30_000_000_000, // a safety net: the run ends by rebooting at ~6e9
    loader: {
      kind: "image",
      initrd: {
        name: "initramfs.cpio.gz",
        path: initrdPath,
        sha256: await sha256Hex(initrd),
        size: initrd.length,
      },
    },
  });
  const guest = await fileGuest(kernel, config, { bytes: initrd });
  const input = new LiveInput(config.inputPollInterval, "# ");
  input.push(new TextEncoder().encode("reboot -f\n"));
  input.close();
  const t0 = performance.now();
  let tail = "", promptAt = -1, promptS = 0;
  const { m, s, trace } = await runGuest(
    guest,
    config,
    input,
    (b, mm) => {
      tail = (tail + String.fromCharCode(b)).slice(-2);
      if (promptAt < 0 && tail === "# ") {
        promptAt = mm.icount;
        promptS = (performance.now() - t0) / 1000;
      }
    },
  );
  addRow([
    "linux: boot to shell prompt",
    promptAt.toLocaleString("en-US"),
    promptS.toFixed(2),
    (promptAt / promptS / 1e6).toFixed(1),
    promptAt < 0 ? "NO PROMPT" : 'recording; icount at the first "# "',
  ]);
  addRow([
    "linux: whole run, recorded",
    m.icount.toLocaleString("en-US"),
    s.toFixed(2),
    (m.icount / s / 1e6).toFixed(1),
    `exit ${m.exit?.reason}, trace ${trace.length.toLocaleString("en-US")} bytes`,
  ]);
  const reader = await TraceReader.open(trace, "linux.vtlrr");
  const re = await prepareReexecution(reader);
  const v = new ReplayVerifier(reader.events());
  const r = re.machine(v);
  const t1 = performance.now();
  while (r.exit === null && v.divergence === null) {
    r.run(5_000_000);
    if (!(await v.drain())) break;
  }
  await v.finish();
  const rs = (performance.now() - t1) / 1000;
  addRow([
    "linux: whole run, replayed",
    r.icount.toLocaleString("en-US"),
    rs.toFixed(2),
    (r.icount / rs / 1e6).toFixed(1),
    v.divergence ? "DIVERGED" : `identical, ${v.matched.toLocaleString("en-US")} events verified`,
  ]);
}

const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
for (const r of rows) {
  console.log(
    r.map((c, i) => i === 0 || i === 4 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!)).join("  "),
  );
}
console.log(
  "(QEMU 7.2 TCG on this class of machine: ~2300 MIPS, ~1130 with -icount; Bochs 2.7: ~120 MIPS)",
);
