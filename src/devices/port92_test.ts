import assert from "node:assert/strict";
import { Port92 } from "./port92.ts";

Deno.test("port 0x92: A20 bit stored and reported, fast reset on a 0→1 write of bit 0", () => {
  const p = new Port92();
  const events: string[] = [];
  p.onReset = () => events.push("reset");
  p.onA20 = (on) => events.push(`a20=${on}`);
  assert.equal(p.ioRead(0x92, 1), 0x02);
  assert.equal(p.a20, true);
  p.ioWrite(0x92, 1, 0x00);
  assert.equal(p.a20, false);
  assert.equal(p.ioRead(0x92, 1), 0x00);
  p.ioWrite(0x92, 1, 0x03);
  p.ioWrite(0x92, 1, 0x03); // still set: no second reset
  assert.deepEqual(events, ["a20=false", "a20=true", "reset"]);
  assert.equal(p.ioRead(0x92, 1), 0x03);
  p.reset();
  assert.equal(p.ioRead(0x92, 1), 0x02);
  p.ioWrite(0x92, 1, 0xc3);
  assert.deepEqual(events, ["a20=false", "a20=true", "reset", "reset"]);
  assert.equal(p.ioRead(0x92, 2), 0xffc3);
  assert.deepEqual(p.snapshot(), { value: 0xc3 });
});
