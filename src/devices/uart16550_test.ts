import assert from "node:assert/strict";
import { Uart16550 } from "./uart16550.ts";

function uart() {
  const u = new Uart16550("com1", 0x3f8);
  const out: number[] = [];
  u.onTransmit = (b) => out.push(b);
  return {
    u,
    out,
    w: (r: number, v: number) => u.ioWrite(0x3f8 + r, 1, v),
    rd: (r: number) => u.ioRead(0x3f8 + r, 1),
  };
}

Deno.test("uart: loopback disconnects the serial input (PC16550D §8.7)", () => {
  const { u, out, w, rd } = uart();
  w(4, 0x10);
  assert.equal(u.rxSpace(), 0);
  u.receive(Uint8Array.of(0x61));
  assert.equal(rd(5), 0x60, "external byte not received in loopback");
  w(0, 0x41);
  assert.deepEqual(out, [], "loopback transmits nothing");
  assert.equal(rd(5), 0x61);
  assert.equal(rd(0), 0x41);
  w(4, 0x00);
  assert.equal(u.rxSpace(), 1);
});

Deno.test("uart: 16450-mode overrun replaces RBR, FIFO-mode overrun keeps the FIFO (§8.6)", () => {
  const { w, rd } = uart();
  w(4, 0x10);
  w(0, 0x42);
  w(0, 0x43);
  assert.equal(rd(5), 0x63);
  assert.equal(rd(0), 0x43);
  assert.equal(rd(5), 0x60);
  w(2, 0x07);
  for (let i = 0; i < 17; i++) w(0, 0x40 + i);
  assert.equal(rd(5), 0x63);
  for (let i = 0; i < 16; i++) assert.equal(rd(0), 0x40 + i);
  assert.equal(rd(5), 0x60);
});

Deno.test("uart: changing FCR bit 0 clears the FIFOs (§8.4)", () => {
  const { w, rd } = uart();
  w(4, 0x10);
  w(2, 0x01);
  for (let i = 0; i < 3; i++) w(0, 0x60 + i);
  w(2, 0x00);
  assert.equal(rd(5), 0x60);
  w(0, 0x70);
  w(2, 0x01);
  assert.equal(rd(5), 0x60);
  w(0, 0x71);
  w(2, 0x03); // receiver FIFO reset, FIFO stays on
  assert.equal(rd(5), 0x60);
  assert.equal(rd(2), 0xc1);
});
