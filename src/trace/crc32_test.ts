import assert from "node:assert/strict";
import { crc32 } from "./crc32.ts";

const ascii = (s: string) => new TextEncoder().encode(s);

Deno.test("crc32: standard check values", () => {
  assert.equal(crc32(new Uint8Array(0)), 0);
  assert.equal(crc32(ascii("123456789")), 0xcbf43926);
  assert.equal(crc32(ascii("The quick brown fox jumps over the lazy dog")), 0x414fa339);
});

Deno.test("crc32: continues across pieces", () => {
  const whole = ascii("hello, trace world");
  for (let cut = 0; cut <= whole.length; cut++) {
    assert.equal(crc32(whole.subarray(cut), crc32(whole.subarray(0, cut))), crc32(whole));
  }
});
