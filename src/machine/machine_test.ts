import assert from "node:assert/strict";
import { DEFAULT_CONFIG, validateConfig } from "./config.ts";
import { NoInput } from "./inputs.ts";
import { realModeLoader } from "./loader.ts";
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
