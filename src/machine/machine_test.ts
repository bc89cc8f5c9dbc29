import assert from "node:assert/strict";
import type { TraceEvent } from "../core/events.ts";
import { DEFAULT_CONFIG, validateConfig } from "./config.ts";
import { NoInput } from "./inputs.ts";
import { flatLoader, realModeLoader } from "./loader.ts";
import { Machine } from "./machine.ts";

Deno.test("a jump to the BIOS reset vector F000:FFF0 resets the machine (no BIOS: reset stub)", () => {
  const config = validateConfig({ ...DEFAULT_CONFIG });
  // jmp far F000:FFF0, as Linux's machine_real_restart does in the end.
  const guest = Uint8Array.of(0xea, 0xf0, 0xff, 0x00, 0xf0);
  const m = new Machine(
    config,
    realModeLoader("t", guest, 0x7c00, { rip: 0x7c00, rsp: 0x7000 }),
    { event() {} },
    new NoInput(),
  );
  m.run(1000);
  assert.equal(m.exit?.reason, "reset");
  assert.equal(m.icount, 4); // jmp far, mov dx, mov al, out
});

Deno.test("HV_X64_MSR_RESET: writing bit 0 resets the partition right after the WRMSR (TLFS)", () => {
  const config = validateConfig({
    ...DEFAULT_CONFIG,
    loader: { kind: "flat", load: 0x100000, entry: 0x100000 },
  });
  // mov ecx, 0x40000003; rdmsr (reads 0); mov eax, 1; xor edx, edx; wrmsr; hlt
  const guest = Uint8Array.of(
    ...[0xb9, 0x03, 0x00, 0x00, 0x40, 0x0f, 0x32],
    ...[0xb8, 0x01, 0x00, 0x00, 0x00, 0x31, 0xd2, 0x0f, 0x30, 0xf4],
  );
  const m = new Machine(
    config,
    flatLoader("t", guest, 0x100000, 0x100000),
    { event() {} },
    new NoInput(),
  );
  m.run(1000);
  assert.equal(m.exit?.reason, "reset");
  assert.equal(m.icount, 5);
});

Deno.test("a console event's insn is the code at the last byte's RIP, even if rewritten meanwhile", () => {
  const config = validateConfig({
    ...DEFAULT_CONFIG,
    loader: { kind: "flat", load: 0x100000, entry: 0x100000 },
  });
  const guest = new Uint8Array(0x120).fill(0x90);
  guest.set([
    ...[0x66, 0xba, 0xe9, 0x00], // mov dx, 0xe9 (debug console)
    ...[0xb0, 0x61, 0xe8, 0xf5, 0x00, 0x00, 0x00], // mov al, 'a'; call print
    ...[0xb0, 0x62, 0xe8, 0xee, 0x00, 0x00, 0x00], // mov al, 'b'; call print
    ...[0xc6, 0x04, 0x25, 0x05, 0x01, 0x10, 0x00, 0xcc], // mov byte [print+5], 0xcc
    ...[0xb0, 0x63, 0xe8, 0xdf, 0x00, 0x00, 0x00], // mov al, 'c'; call print
    ...[0xb0, 0x00, 0xe6, 0xf4], // isa-debug-exit 0
  ]);
  guest.set([0xee, 0xc3], 0x100); // print: out dx, al; ret
  const events: TraceEvent[] = [];
  const m = new Machine(
    config,
    flatLoader("t", guest, 0x100000, 0x100000),
    { event: (e) => void events.push(e) },
    new NoInput(),
  );
  m.run(1000);
  assert.equal(m.exit?.reason, "debug_exit");
  const c = events.filter((e) => e.kind === "console");
  assert.equal(c.length, 1);
  assert.equal(c[0]!.kind === "console" && c[0]!.text, "abc");
  assert.equal(c[0]!.rip, "0x100100");
  assert.equal(c[0]!.insn, "eec3909090cc909090909090909090");
});
