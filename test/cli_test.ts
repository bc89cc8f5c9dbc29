/**
 * The command line as users run it: exit statuses, one-line errors for bad input, and the
 * committed reference trace replaying identically.
 */

import assert from "node:assert/strict";
import { encodeTrace, eventsOf, vtlrr } from "./support.ts";
import { sha256Hex } from "../src/cli/guest.ts";

const tmp = await Deno.makeTempDir({ prefix: "vtlrr-cli-" });
const demo = `${tmp}/demo.vtlrr`;

/** A bad-input error: status 2, exactly one line on stderr, no stack trace. */
function assertCleanError(r: { code: number; err: string }, pattern: RegExp): void {
  assert.equal(r.code, 2, `exit status: ${r.err}`);
  const lines = r.err.trim().split("\n");
  assert.equal(lines.length, 1, `one line expected, got:\n${r.err}`);
  assert.match(lines[0]!, pattern);
  assert.doesNotMatch(r.err, /\bat .*\.ts:\d+/);
}

Deno.test("boot runs the demo, prints its output and a summary, writes a trace", async () => {
  const r = await vtlrr("boot", "--trace", demo);
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /VTL1: intercepted VTL0 access/);
  assert.match(
    r.err,
    /instructions, \d+ events \(.*\), \d+ VTL switches, exit debug_exit value 0.*MIPS/,
  );
  assert.ok((await Deno.stat(demo)).size > 0);
});

Deno.test("replay: identical, with counts", async () => {
  const r = await vtlrr("replay", demo);
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /^replay identical: \d+ events, [\d,]+ instructions/m);
});

Deno.test("replay --out reproduces the trace byte for byte", async () => {
  const out = `${tmp}/replayed.vtlrr`;
  const r = await vtlrr("replay", demo, "--out", out);
  assert.equal(r.code, 0, r.err);
  assert.deepEqual(await Deno.readFile(out), await Deno.readFile(demo));
});

Deno.test("the committed reference trace replays identically with this build", async () => {
  const r = await vtlrr("replay", "traces/demo.vtlrr");
  assert.equal(r.code, 0, `${r.out}\n${r.err}`);
});

Deno.test("diff: identical traces exit 0, different ones exit 1 with a report", async () => {
  const same = await vtlrr("diff", demo, demo);
  assert.equal(same.code, 0);
  assert.match(same.out, /traces identical/);
  const input = `${tmp}/in.txt`;
  await Deno.writeTextFile(input, "hello\n");
  const other = `${tmp}/input.vtlrr`;
  assert.equal((await vtlrr("boot", "--quiet", "--input", input, "--trace", other)).code, 0);
  const d = await vtlrr("diff", demo, other);
  assert.equal(d.code, 1);
  assert.match(
    d.out,
    /first divergence at event \d+ \(icount \d+, vp \d+, vtl \d+\): \w+ vs \w+/,
  );
  assert.match(d.out, /instruction \(a\): 0x[0-9a-f]+ \S+/);
  assert.match(d.out, /summary:/);
  assert.match(d.out, /input\s+0\s+\d+\s+\*/);
});

Deno.test("dump prints the header and one JSON object per event", async () => {
  const r = await vtlrr("dump", demo);
  assert.equal(r.code, 0);
  const lines = r.out.trim().split("\n");
  assert.ok(JSON.parse(lines[0]!).header);
  const first = JSON.parse(lines[1]!);
  assert.deepEqual(Object.keys(first).slice(0, 8), [
    "kind",
    "seq",
    "icount",
    "vp",
    "vtl",
    "rip",
    "bits",
    "insn",
  ]);
  assert.equal(JSON.parse(lines.at(-1)!).kind, "exit");
});

Deno.test("rerun with this build: identical behaviour exits 0", async () => {
  const r = await vtlrr("rerun", demo, "--out", `${tmp}/rerun.vtlrr`);
  assert.equal(r.code, 0, r.out + r.err);
  assert.match(r.out, /traces identical/);
});

Deno.test("rerun: OLD from a build that behaved differently exits 1 with a diff", async () => {
  // A real recording whose header claims the default quantum although its VPs were scheduled
  // with another one: what an older build with a different scheduler would have written.
  const other = `${tmp}/quantum.vtlrr`;
  assert.equal((await vtlrr("boot", "--quiet", "--quantum", "3000", "--trace", other)).code, 0);
  const { header, events } = await eventsOf(await Deno.readFile(other));
  const demoHeader = (await eventsOf(await Deno.readFile(demo))).header;
  assert.equal(header.config.quantum, 3000);
  const old = `${tmp}/old.vtlrr`;
  await Deno.writeFile(old, await encodeTrace({ ...header, config: demoHeader.config }, events));
  const fresh = `${tmp}/old.rerun.vtlrr`;
  const r = await vtlrr("rerun", old, "--context", "2");
  assert.equal(r.code, 1, r.out + r.err);
  assert.match(r.out, /^traces differ \(old: .*old\.vtlrr, new: .*old\.rerun\.vtlrr\)$/m);
  assert.match(r.out, /first divergence at event \d+ \(icount \d+, vp \d+, vtl \d+\)/);
  assert.match(r.out, /^summary:$/m);
  // The summary line on stderr describes the new run, which went to the default NEW path ...
  assert.match(r.err, /exit debug_exit value 0.*trace .*old\.rerun\.vtlrr/);
  // ... and NEW is exactly what this build records for the demo.
  assert.deepEqual(await Deno.readFile(fresh), await Deno.readFile(demo));
});

Deno.test("replay --log-insns FROM:COUNT prints each instruction and its events", async () => {
  const { events } = await eventsOf(await Deno.readFile(demo));
  const sw = events.find((e) => e.kind === "vtl_switch" && e.reason === "call")!;
  const from = sw.icount - 2;
  const r = await vtlrr("replay", demo, "--log-insns", `${from}:4`);
  assert.equal(r.code, 0, r.out + r.err);
  const lines = r.out.trimEnd().split("\n");
  const insns = lines.filter((l) => !l.startsWith("    "));
  assert.equal(insns.length, 4, r.out);
  // icount, VP, VTL, CPL, mode, address, disassembly.
  const re = /^(\d+) vp(\d+) vtl(\d) cpl(\d) (16|32|64)-bit (0x[0-9a-f]+) {2}(\S.*)$/;
  insns.forEach((l, i) => {
    const m = re.exec(l);
    assert.ok(m, `not an instruction line: ${l}`);
    assert.equal(Number(m[1]), from + i);
    assert.equal(Number(m[2]), sw.vp);
  });
  // The VTL call: the vmcall at the event's RIP in VTL0, then its event, then VTL1 code.
  const at = lines.findIndex((l) => l.startsWith(`${sw.icount} `));
  assert.match(
    lines[at]!,
    new RegExp(`^${sw.icount} vp${sw.vp} vtl0 cpl0 64-bit ${sw.rip}  vmcall$`),
  );
  assert.match(lines[at + 1]!, /^ {4}event vtl_switch \{"from":0,"to":1,"reason":"call",/);
  assert.match(lines[at + 2]!, new RegExp(`^${sw.icount + 1} vp${sw.vp} vtl1 cpl0 64-bit `));
  // Past the end of the run: it says so.
  const last = events.at(-1)!;
  const end = await vtlrr("replay", demo, "--log-insns", `${last.icount - 1}:5`);
  assert.equal(end.code, 0, end.out + end.err);
  assert.match(end.out, /\(the run ended: debug_exit\)\n$/);
  // Bad windows and combinations are usage errors.
  assertCleanError(await vtlrr("replay", demo, "--log-insns", "12:0"), /--log-insns: /);
  assertCleanError(
    await vtlrr("replay", demo, "--log-insns", "1", "--out", `${tmp}/x.vtlrr`),
    /--log-insns and --out cannot be combined/,
  );
});

Deno.test("bad input: one clear line, exit 2", async () => {
  assertCleanError(await vtlrr("boot", "--frobnicate"), /boot: Unknown option '--frobnicate'/);
  assertCleanError(
    await vtlrr("boot", "/no/such/guest.bin"),
    /Cannot read guest \/no\/such\/guest.bin: No such file/,
  );
  assertCleanError(await vtlrr("boot", "--vps", "many"), /--vps: not a number/);
  assertCleanError(await vtlrr("replay", "/no/such.vtlrr"), /Cannot open trace \/no\/such.vtlrr/);
  assertCleanError(await vtlrr("frob"), /unknown command "frob"/);
  const bytes = await Deno.readFile(demo);
  // Wrong magic.
  const bad = bytes.slice();
  bad[0] = 0x58;
  await Deno.writeFile(`${tmp}/magic.vtlrr`, bad);
  assertCleanError(await vtlrr("replay", `${tmp}/magic.vtlrr`), /not a vtlrr trace/);
  // Wrong major version.
  const ver = bytes.slice();
  ver[8] = 9;
  await Deno.writeFile(`${tmp}/ver.vtlrr`, ver);
  assertCleanError(await vtlrr("dump", `${tmp}/ver.vtlrr`), /unsupported trace format version 9\./);
  // A flipped byte in the middle of the compressed events.
  const flip = bytes.slice();
  flip[Math.floor(bytes.length / 2)]! ^= 0x40;
  await Deno.writeFile(`${tmp}/flip.vtlrr`, flip);
  assertCleanError(
    await vtlrr("replay", `${tmp}/flip.vtlrr`),
    /Cannot (read|parse) trace .*flip.vtlrr/,
  );
  // Truncated inside the header.
  await Deno.writeFile(`${tmp}/short.vtlrr`, bytes.subarray(0, 20));
  assertCleanError(await vtlrr("diff", demo, `${tmp}/short.vtlrr`), /short.vtlrr/);
});

Deno.test("replay refuses a guest image that differs from the recorded one", async () => {
  const img = `${tmp}/g.bin`;
  await Deno.writeFile(img, new Uint8Array(4096).fill(0xf4));
  const t = `${tmp}/g.vtlrr`;
  assert.equal(
    (await vtlrr(
      "boot",
      img,
      "--flat",
      "0x100000",
      "--entry",
      "0x100000",
      "--max-instructions",
      "1000",
      "--trace",
      t,
    )).code,
    0,
  );
  await Deno.writeFile(img, new Uint8Array(4096).fill(0x90));
  assertCleanError(
    await vtlrr("replay", t),
    /guest image mismatch: the trace was recorded with g.bin sha256 [0-9a-f]{64}/,
  );
});

Deno.test("a multiboot kernel file boots with --append and --initrd, and replays", async () => {
  const { buildMultibootHello } = await import("../src/guests/files/multiboot_hello.ts");
  const kernel = `${tmp}/hello.elf`, mod = `${tmp}/mod.txt`, trace = `${tmp}/hello.vtlrr`;
  await Deno.writeFile(kernel, buildMultibootHello());
  await Deno.writeTextFile(mod, "module-bytes!");
  const r = await vtlrr(
    "boot",
    kernel,
    "--append",
    "console=ttyS0 quiet",
    "--initrd",
    mod,
    "--trace",
    trace,
  );
  // The kernel saw its command line (argv[0] first, as QEMU passes it) and its module.
  assert.equal(r.out, "hello.elf console=ttyS0 quiet\nmodule-bytes!");
  assert.equal(r.code, 1, r.err); // debug-exit value = mods_count = 1
  assert.match(r.err, /exit debug_exit value 1/);
  const rep = await vtlrr("replay", trace);
  assert.equal(rep.code, 0, rep.err);
  assert.match(rep.out, /replay identical/);
  // A changed initrd is refused, naming both hashes; another path with the same bytes is fine.
  await Deno.writeTextFile(`${tmp}/mod2.txt`, "module-bytes!");
  const other = await vtlrr("replay", trace, "--initrd", `${tmp}/mod2.txt`);
  assert.equal(other.code, 0, other.err);
  await Deno.writeTextFile(mod, "module-bytes?");
  assertCleanError(await vtlrr("replay", trace), /initrd mismatch: .*mod\.txt sha256 [0-9a-f]{64}/);
  assertCleanError(
    await vtlrr("boot", kernel, "--initrd", `${tmp}/none.img`),
    /Cannot read initrd .*none\.img: No such file/,
  );
  // Not a kernel format: one line pointing at --flat.
  await Deno.writeTextFile(`${tmp}/junk.bin`, "junk");
  assertCleanError(await vtlrr("boot", `${tmp}/junk.bin`), /not a multiboot, Linux bzImage or ELF/);
  // A malformed multiboot ELF (truncated program data) is a load error, not a crash.
  const bytes = buildMultibootHello();
  await Deno.writeFile(`${tmp}/short.elf`, bytes.subarray(0, bytes.length - 16));
  // ... and it leaves an existing trace at the target path untouched.
  const before = await Deno.readFile(trace);
  assertCleanError(
    await vtlrr("boot", `${tmp}/short.elf`, "--trace", trace),
    /Cannot load guest short\.elf: /,
  );
  assert.deepEqual(await Deno.readFile(trace), before);
  // A trace whose recorded config no longer loads (here: a flat image over the loader's boot
  // structures) is bad input for replay too: one line, exit 2, not a "divergence".
  const { header, events } = await eventsOf(before);
  const hello = `${tmp}/hello.bin`;
  await Deno.writeFile(hello, bytes);
  const bad = await encodeTrace({
    ...header,
    guest: { ...header.guest, path: hello, sha256: await sha256Hex(bytes), size: bytes.length },
    config: { ...header.config, loader: { kind: "flat", load: 0x1000, entry: 0x1000 } },
  }, events);
  await Deno.writeFile(`${tmp}/bad-load.vtlrr`, bad);
  assertCleanError(
    await vtlrr("replay", `${tmp}/bad-load.vtlrr`),
    /Cannot load guest .*overlaps the loader's boot structures/,
  );
  // rerun too, and an existing NEW stays as it was.
  assertCleanError(
    await vtlrr("rerun", `${tmp}/bad-load.vtlrr`, "--out", trace),
    /Cannot load guest .*overlaps the loader's boot structures/,
  );
  assert.deepEqual(await Deno.readFile(trace), before);
});
