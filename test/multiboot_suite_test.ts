/**
 * The multiboot device test-kernel suite (`mb-*`, src/guests/multiboot/): each kernel boots
 * through the multiboot loader, reports every one of its checks as PASS (exactly the set it
 * declares, so a skipped or silently missing check fails too), none as FAIL or SKIP, exits
 * through isa-debug-exit with 0, and its trace replays byte-identically. The file versions
 * written by tools/mkkernels.ts are the same bytes and boot the same way.
 */

import assert from "node:assert/strict";
import { fileGuest } from "../src/cli/guest.ts";
import { MULTIBOOT_KERNELS, multibootKernel } from "../src/guests/multiboot/index.ts";
import { DEFAULT_CONFIG, validateConfig } from "../src/machine/config.ts";
import { NoInput } from "../src/machine/inputs.ts";
import { Machine } from "../src/machine/machine.ts";
import { newHeader } from "../src/trace/header.ts";
import { memorySink, TraceWriter } from "../src/trace/writer.ts";
import type { TraceEvent } from "../src/core/events.ts";
import { eventsOf, recordBuiltin, replayBytes } from "./support.ts";

/** The serial input given to mb-uart (a line it echoes back). */
const UART_LINE = "vtlrr says hello over COM1";
/** Generous: mb-pit-rtc spans a few virtual seconds (mostly halted, so cheap). */
const LIMIT = 20_000_000_000;

function consoleText(events: TraceEvent[]): string {
  return events.map((e) => e.kind === "console" && e.device === "com1" ? e.text : "").join("");
}

function checkOutput(name: string, text: string, events: TraceEvent[]): void {
  const k = multibootKernel(name);
  const lines = text.split("\n");
  assert.deepEqual(lines.filter((l) => l.startsWith("FAIL")), [], text);
  assert.deepEqual(lines.filter((l) => l.startsWith("SKIP")), [], text);
  const passes = lines.filter((l) => l.startsWith("PASS ")).map((l) => l.slice(5));
  assert.deepEqual([...passes].sort(), [...k.checks].sort(), text);
  assert.ok(
    lines.includes(`SUMMARY ${name} pass=${k.checks.length} fail=0 skip=0`),
    `summary line missing:\n${text}`,
  );
  const last = events.at(-1)!;
  assert.ok(
    last.kind === "exit" && last.reason === "debug_exit" && last.value === 0,
    JSON.stringify(last),
  );
}

for (const name of Object.keys(MULTIBOOT_KERNELS)) {
  Deno.test(`multiboot kernel ${name}: every check passes, exit 0, replay identical`, async () => {
    const input = name === "mb-uart" ? new TextEncoder().encode(`${UART_LINE}\n`) : undefined;
    const rec = await recordBuiltin(name, { input, config: { maxInstructions: LIMIT } });
    const { header, events } = await eventsOf(rec.bytes);
    assert.equal(header.guest.sha256.length, 64);
    const text = consoleText(events);
    checkOutput(name, text, events);
    if (name === "mb-uart") assert.ok(text.includes(`uart: received '${UART_LINE}'\n`), text);
    const r = await replayBytes(rec.bytes);
    assert.equal(r.divergence, null);
    assert.deepEqual(r.bytes, rec.bytes);
  });
}

Deno.test("mb-uart without serial input reports a SKIP, not a failure", async () => {
  const rec = await recordBuiltin("mb-uart", { config: { maxInstructions: LIMIT } });
  const { events } = await eventsOf(rec.bytes);
  const text = consoleText(events);
  assert.match(text, /^SKIP recorded input: no serial input arrived/m);
  assert.match(text, /^SUMMARY mb-uart pass=\d+ fail=0 skip=1$/m);
});

Deno.test("mb-smp on one VP skips its SMP checks instead of hanging", async () => {
  const rec = await recordBuiltin("mb-smp", { config: { vps: 1, maxInstructions: LIMIT } });
  const { events } = await eventsOf(rec.bytes);
  const text = consoleText(events);
  assert.match(text, /^SKIP smp: needs 4 CPUs/m);
  assert.doesNotMatch(text, /^FAIL/m);
  const last = events.at(-1)!;
  assert.ok(last.kind === "exit" && last.reason === "debug_exit", JSON.stringify(last));
});

Deno.test("a kernel file boots through the image loader like its built-in", async () => {
  const dir = await Deno.makeTempDir({ prefix: "vtlrr-mb-" });
  const name = "mb-faults";
  const path = `${dir}/${name}.elf`;
  await Deno.writeFile(path, multibootKernel(name).image);
  const config = validateConfig({
    ...DEFAULT_CONFIG,
    maxInstructions: LIMIT,
    loader: { kind: "image", initrd: null },
  });
  const g = await fileGuest(path, config);
  assert.equal(g.identity.source, "file");
  const sink = memorySink();
  const writer = await TraceWriter.create(
    sink,
    newHeader({ guest: g.identity, config, version: "test" }),
  );
  const m = new Machine(config, g.loader, writer, new NoInput());
  while (m.exit === null) m.run(2_000_000);
  await writer.close();
  const fromFile = await eventsOf(sink.bytes());
  const builtin = await recordBuiltin(name, { config: { maxInstructions: LIMIT } });
  const fromBuiltin = await eventsOf(builtin.bytes);
  assert.equal(g.identity.sha256, fromBuiltin.header.guest.sha256);
  const text = consoleText(fromFile.events);
  checkOutput(name, text, fromFile.events);
  assert.equal(text, consoleText(fromBuiltin.events));
  await Deno.remove(dir, { recursive: true });
});

Deno.test("tools/mkkernels.ts writes every kernel's bytes", async () => {
  const dir = await Deno.makeTempDir({ prefix: "vtlrr-mk-" });
  const tool = new URL("../tools/mkkernels.ts", import.meta.url).pathname;
  const r = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-read", "--allow-write", tool, dir],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(r.code, 0, new TextDecoder().decode(r.stderr));
  for (const name of Object.keys(MULTIBOOT_KERNELS)) {
    assert.deepEqual(await Deno.readFile(`${dir}/${name}.elf`), multibootKernel(name).image);
  }
  assert.match(
    new TextDecoder().decode(r.stdout),
    /mb-smp\.elf: \d+ bytes, \d+ checks; boot with --vps 4/,
  );
  await Deno.remove(dir, { recursive: true });
});
