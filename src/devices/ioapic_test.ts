import assert from "node:assert/strict";
import type { ApicMessage } from "./irq.ts";
import { Ioapic } from "./ioapic.ts";

function mk(id = 4) {
  const msgs: ApicMessage[] = [];
  const io = new Ioapic({ id, bus: { deliver: (m) => msgs.push(m) } });
  const rd = (reg: number) => {
    io.mmioWrite(0x00, 4, reg);
    return io.mmioRead(0x10, 4);
  };
  const wr = (reg: number, v: number) => {
    io.mmioWrite(0x00, 4, reg);
    io.mmioWrite(0x10, 4, v);
  };
  const route = (pin: number, lo: number, hi = 0) => {
    wr(0x11 + 2 * pin, hi);
    wr(0x10 + 2 * pin, lo);
  };
  return { io, msgs, rd, wr, route };
}

Deno.test("IOAPIC reset state and ID/VER/ARB registers", () => {
  const h = mk(4);
  assert.equal(h.rd(0x00), 0x04000000);
  assert.equal(h.rd(0x01), 0x00170020);
  assert.equal(h.rd(0x02), 0x04000000);
  for (let pin = 0; pin < 24; pin++) {
    assert.equal(h.rd(0x10 + 2 * pin), 0x00010000);
    assert.equal(h.rd(0x11 + 2 * pin), 0);
  }
  assert.equal(h.rd(0x40), 0); // beyond the table
  h.wr(0x00, 0x0a123456);
  assert.equal(h.rd(0x00), 0x0a000000);
  h.wr(0x01, 0);
  assert.equal(h.rd(0x01), 0x00170020);
});

Deno.test("IOAPIC edge-triggered redirection", () => {
  const h = mk();
  h.route(4, 0x0000_0831, 0x03000000); // vector 0x31, fixed, logical, dest 3
  h.io.setIrq(4, true);
  assert.deepEqual(h.msgs, [{
    vector: 0x31,
    deliveryMode: 0,
    destMode: 1,
    dest: 3,
    level: true,
    trigger: "edge",
    pin: 4,
  }]);
  h.io.setIrq(4, true); // no edge
  assert.equal(h.msgs.length, 1);
  h.io.setIrq(4, false);
  h.io.setIrq(4, true);
  assert.equal(h.msgs.length, 2);
  // Remote IRR is never set for edge entries.
  assert.equal(h.rd(0x18) & 0x4000, 0);
});

Deno.test("IOAPIC: an edge on a masked pin is lost", () => {
  const h = mk();
  h.route(2, 0x0001_0030);
  h.io.setIrq(2, true);
  h.io.setIrq(2, false);
  h.route(2, 0x0000_0030);
  assert.equal(h.msgs.length, 0);
  h.io.setIrq(2, true);
  assert.equal(h.msgs.length, 1);
  assert.equal(h.msgs[0]!.vector, 0x30);
});

Deno.test("IOAPIC level-triggered: remote IRR, EOI broadcast, redelivery", () => {
  const h = mk();
  h.route(9, 0x0000_a039); // vector 0x39, level, active high... (polarity bit 13 set: ignored)
  h.io.setIrq(9, true);
  assert.equal(h.msgs.length, 1);
  assert.equal(h.msgs[0]!.trigger, "level");
  assert.equal(h.rd(0x10 + 18) & 0x4000, 0x4000);
  h.io.eoi(0x38); // other vector: nothing
  assert.equal(h.rd(0x10 + 18) & 0x4000, 0x4000);
  h.io.eoi(0x39); // still asserted: delivered again
  assert.equal(h.msgs.length, 2);
  assert.equal(h.rd(0x10 + 18) & 0x4000, 0x4000);
  h.io.setIrq(9, false);
  h.io.eoi(0x39);
  assert.equal(h.msgs.length, 2);
  assert.equal(h.rd(0x10 + 18) & 0x4000, 0);
  // The EOI register (version 0x20) does the same.
  h.io.setIrq(9, true);
  assert.equal(h.msgs.length, 3);
  h.io.setIrq(9, false);
  h.io.mmioWrite(0x40, 4, 0x39);
  assert.equal(h.rd(0x10 + 18) & 0x4000, 0);
});

Deno.test("IOAPIC: unmasking an asserted level entry delivers; masking holds it", () => {
  const h = mk();
  h.route(10, 0x0001_8041); // masked, level
  h.io.setIrq(10, true);
  assert.equal(h.msgs.length, 0);
  h.route(10, 0x0000_8041);
  assert.equal(h.msgs.length, 1);
  // Switching to edge clears Remote IRR (Linux's EOI-by-retriggering trick).
  h.route(10, 0x0001_0041);
  assert.equal(h.rd(0x10 + 20) & 0x4000, 0);
});

Deno.test("IOAPIC register access rules: RO bits, reserved bits, sizes, offsets", () => {
  const h = mk();
  h.wr(0x10, 0xffffffff);
  assert.equal(h.rd(0x10), 0x0001afff); // delivery status, remote IRR, reserved read 0
  h.wr(0x11, 0xffffffff);
  assert.equal(h.rd(0x11), 0xffff0000);
  h.io.mmioWrite(0x00, 1, 0x112); // IOREGSEL is 8 bits, any width
  assert.equal(h.io.mmioRead(0x00, 4), 0x12);
  h.io.mmioWrite(0x10, 2, 0x1234); // IOWIN: 32-bit only
  assert.equal(h.io.mmioRead(0x10, 2), 0);
  assert.equal(h.io.mmioRead(0x10, 4), 0x00010000);
  assert.equal(h.io.mmioRead(0x20, 4), 0);
  assert.equal(h.io.mmioRead(0x110, 4), 0x00010000); // decoded modulo 0x100
  h.io.setIrq(24, true);
  h.io.setIrq(-1, true);
  h.io.setIrq(2.5, true);
  assert.equal(h.msgs.length, 0);
});

Deno.test("IOAPIC delivery modes pass through, snapshot is plain data", () => {
  const h = mk();
  h.route(1, 0x0000_0700, 0xff000000); // ExtINT, physical broadcast
  h.route(3, 0x0000_0400); // NMI
  h.io.setIrq(1, true);
  h.io.setIrq(3, true);
  assert.deepEqual(h.msgs.map((m) => [m.deliveryMode, m.dest, m.destMode]), [[7, 0xff, 0], [
    4,
    0,
    0,
  ]]);
  const snap = h.io.snapshot();
  assert.deepEqual(JSON.parse(JSON.stringify(snap)), snap);
  assert.deepEqual((snap.redirection as unknown[])[1], { lo: 0x700, hi: 0xff000000 });
});
