import assert from "node:assert/strict";
import { IsaIrqRouter, isaIrqToGsi } from "./irq.ts";
import { Ioapic } from "./ioapic.ts";
import { Pic8259 } from "./pic8259.ts";
import type { ApicMessage } from "./irq.ts";

Deno.test("ISA IRQ → GSI: identity except IRQ0 → GSI 2; IRQ2 has none", () => {
  assert.equal(isaIrqToGsi(0), 2);
  assert.equal(isaIrqToGsi(2), -1);
  for (const i of [1, 3, 4, 8, 9, 14, 15]) assert.equal(isaIrqToGsi(i), i);
});

Deno.test("IsaIrqRouter fans out to both controllers and drops redundant levels", () => {
  const pic: [number, boolean][] = [], io: [number, boolean][] = [];
  const r = new IsaIrqRouter(
    { setIrq: (n, l) => pic.push([n, l]) },
    { setIrq: (n, l) => io.push([n, l]) },
  );
  r.set(0, true);
  r.set(0, true);
  r.line(4)(true);
  r.set(2, true);
  r.set(16, true);
  r.set(-1, true);
  r.set(0, false);
  assert.deepEqual(pic, [[0, true], [4, true], [0, false]]);
  assert.deepEqual(io, [[2, true], [4, true], [2, false]]);
  assert.deepEqual(r.snapshot(), { levels: 0x10 });
});

Deno.test("IRQ0 reaches the 8259 (vector 0x20) and IOAPIC pin 2 at once", () => {
  const pic = new Pic8259();
  const msgs: ApicMessage[] = [];
  const io = new Ioapic({ id: 1, bus: { deliver: (m) => msgs.push(m) } });
  const r = new IsaIrqRouter(pic, io);
  for (const [p, v] of [[0x20, 0x11], [0x21, 0x20], [0x21, 4], [0x21, 1]]) pic.ioWrite(p!, 1, v!);
  io.mmioWrite(0, 4, 0x14);
  io.mmioWrite(0x10, 4, 0x30); // pin 2 → vector 0x30
  r.set(0, true);
  assert.equal(pic.ack(), 0x20);
  assert.deepEqual(msgs.map((m) => [m.pin, m.vector]), [[2, 0x30]]);
});
