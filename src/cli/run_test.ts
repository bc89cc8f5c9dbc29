import assert from "node:assert/strict";
import { terminalKeys } from "./run.ts";

Deno.test("terminal console keys: Ctrl-A X quits, Ctrl-A Ctrl-A is literal, state spans chunks", () => {
  const f = terminalKeys();
  assert.deepEqual(f(Uint8Array.of(0x6c, 0x73, 0x0d)), {
    bytes: Uint8Array.of(0x6c, 0x73, 0x0d),
    quit: false,
  });
  assert.deepEqual(f(Uint8Array.of(0x03)), { bytes: Uint8Array.of(0x03), quit: false }); // Ctrl-C to the guest
  assert.deepEqual(f(Uint8Array.of(0x01, 0x01, 0x61)), {
    bytes: Uint8Array.of(0x01, 0x61),
    quit: false,
  });
  assert.deepEqual(f(Uint8Array.of(0x61, 0x01)), { bytes: Uint8Array.of(0x61), quit: false });
  assert.deepEqual(f(Uint8Array.of(0x78)), { bytes: Uint8Array.of(), quit: true });
  assert.deepEqual(f(Uint8Array.of(0x01, 0x7a, 0x62)), { bytes: Uint8Array.of(0x62), quit: false });
});
