import assert from "node:assert/strict";
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
