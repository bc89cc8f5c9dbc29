import assert from "node:assert/strict";
import { Pic8259 } from "./pic8259.ts";

function mk() {
  const pic = new Pic8259();
  const intr: boolean[] = [];
  pic.connect((l) => intr.push(l));
  const out = (port: number, v: number) => pic.ioWrite(port, 1, v);
  const inb = (port: number) => pic.ioRead(port, 1);
  return { pic, intr, out, inb };
}

/** Linux's init_8259A: vectors 0x20/0x28, cascade on IRQ2, 8086 mode, normal EOI. */
function initLike(h: ReturnType<typeof mk>, icw4 = 0x01): void {
  h.out(0x20, 0x11);
  h.out(0x21, 0x20);
  h.out(0x21, 0x04);
  h.out(0x21, icw4);
  h.out(0xa0, 0x11);
  h.out(0xa1, 0x28);
  h.out(0xa1, 0x02);
  h.out(0xa1, icw4);
}

const readIsr = (h: ReturnType<typeof mk>, port: number) => {
  h.out(port, 0x0b);
  const v = h.inb(port);
  h.out(port, 0x0a);
  return v;
};

Deno.test("PIC power-on state: uninitialised, nothing masked, base 0", () => {
  const h = mk();
  assert.deepEqual(h.intr, [false]); // connect reports the current level
  assert.equal(h.inb(0x21), 0);
  assert.equal(h.inb(0xa1), 0);
  assert.equal(h.inb(0x20), 0); // IRR
  assert.equal(h.inb(0x4d0), 0);
  assert.equal(h.pic.ack(), 7); // spurious, base 0
  h.pic.setIrq(1, true);
  assert.equal(h.pic.intr(), true);
  assert.equal(h.pic.ack(), 1); // vector = base 0 + IRQ1
});

Deno.test("PIC init, edge IRQ, INTA, EOI", () => {
  const h = mk();
  initLike(h);
  h.pic.setIrq(1, true);
  assert.equal(h.pic.intr(), true);
  assert.deepEqual(h.intr, [false, true]);
  assert.equal(h.inb(0x20), 0x02); // IRR
  assert.equal(h.pic.ack(), 0x21);
  assert.equal(h.pic.intr(), false);
  assert.equal(readIsr(h, 0x20), 0x02);
  assert.equal(h.inb(0x20), 0x00); // IRR cleared by INTA (edge)
  // The line is still high: no new edge, no new request.
  h.out(0x20, 0x20); // non-specific EOI
  assert.equal(readIsr(h, 0x20), 0);
  assert.equal(h.pic.intr(), false);
  h.pic.setIrq(1, false);
  h.pic.setIrq(1, true);
  assert.equal(h.pic.intr(), true);
});

Deno.test("PIC priority and nesting", () => {
  const h = mk();
  initLike(h);
  h.pic.setIrq(3, true);
  h.pic.setIrq(1, true);
  assert.equal(h.pic.ack(), 0x21); // IRQ1 beats IRQ3
  assert.equal(h.pic.intr(), false); // IRQ3 is lower than IRQ1 in service
  h.pic.setIrq(0, true);
  assert.equal(h.pic.intr(), true); // IRQ0 nests
  assert.equal(h.pic.ack(), 0x20);
  assert.equal(readIsr(h, 0x20), 0x03);
  h.out(0x20, 0x20); // EOI → IRQ0 (highest in service)
  assert.equal(readIsr(h, 0x20), 0x02);
  assert.equal(h.pic.intr(), false);
  h.out(0x20, 0x61); // specific EOI IRQ1
  assert.equal(h.pic.intr(), true);
  assert.equal(h.pic.ack(), 0x23);
});

Deno.test("PIC cascade: slave IRQs through master IRQ2", () => {
  const h = mk();
  initLike(h);
  h.pic.setIrq(8, true);
  assert.equal(h.pic.intr(), true);
  assert.equal(h.inb(0x20), 0x04); // master IRR2
  assert.equal(h.pic.ack(), 0x28);
  assert.equal(readIsr(h, 0x20), 0x04);
  assert.equal(readIsr(h, 0xa0), 0x01);
  h.pic.setIrq(12, true);
  assert.equal(h.pic.intr(), false); // master IRQ2 in service
  h.out(0xa0, 0x20);
  h.out(0x20, 0x20);
  assert.equal(h.pic.intr(), true);
  assert.equal(h.pic.ack(), 0x2c);
});

Deno.test("PIC masking (OCW1) and spurious vectors", () => {
  const h = mk();
  initLike(h);
  h.out(0x21, 0x02);
  h.pic.setIrq(1, true);
  assert.equal(h.pic.intr(), false);
  assert.equal(h.inb(0x20), 0x02); // still requested
  h.out(0x21, 0x00);
  assert.equal(h.pic.intr(), true);
  h.out(0x21, 0x02); // masked again between INTR and INTA
  assert.equal(h.pic.ack(), 0x27); // spurious IRQ7, no ISR bit
  assert.equal(readIsr(h, 0x20), 0);
  // Slave spurious: the master latched the cascade edge, the slave request went away.
  h.out(0x21, 0x00);
  h.pic.setIrq(1, false);
  h.pic.ack();
  h.out(0x20, 0x20);
  h.pic.setIrq(10, true);
  h.out(0xa1, 0x04);
  assert.equal(h.pic.ack(), 0x2f); // slave base + 7
  assert.equal(readIsr(h, 0xa0), 0);
  assert.equal(readIsr(h, 0x20), 0x04); // the master still needs its EOI
});

Deno.test("PIC level-triggered inputs via ELCR", () => {
  const h = mk();
  initLike(h);
  h.out(0x4d0, 0xff);
  h.out(0x4d1, 0xff);
  assert.equal(h.inb(0x4d0), 0xf8); // IRQ0-2 cannot be level
  assert.equal(h.inb(0x4d1), 0xde); // nor IRQ8, IRQ13
  h.out(0x4d0, 0x20); // IRQ5 level
  h.out(0x4d1, 0x00);
  h.pic.setIrq(5, true);
  assert.equal(h.pic.ack(), 0x25);
  assert.equal(h.inb(0x20), 0x20); // IRR stays for a level input
  h.out(0x20, 0x20);
  assert.equal(h.pic.intr(), true); // still asserted: requests again
  h.pic.setIrq(5, false);
  assert.equal(h.pic.intr(), false);
  assert.equal(h.inb(0x20), 0);
});

Deno.test("PIC automatic EOI and rotation", () => {
  const h = mk();
  initLike(h, 0x03); // AEOI
  h.pic.setIrq(4, true);
  assert.equal(h.pic.ack(), 0x24);
  assert.equal(readIsr(h, 0x20), 0);
  // Rotate in AEOI mode: the acknowledged IRQ becomes the lowest priority.
  h.out(0x20, 0x80);
  h.pic.setIrq(4, false);
  h.pic.setIrq(4, true);
  h.pic.setIrq(6, true);
  assert.equal(h.pic.ack(), 0x24);
  h.pic.setIrq(4, false);
  h.pic.setIrq(4, true);
  assert.equal(h.pic.ack(), 0x26); // 6 now beats 4
});

Deno.test("PIC set-priority and rotate-on-EOI commands", () => {
  const h = mk();
  initLike(h);
  h.out(0x20, 0xc3); // IRQ3 lowest → IRQ4 highest
  h.pic.setIrq(1, true);
  h.pic.setIrq(5, true);
  assert.equal(h.pic.ack(), 0x25);
  h.out(0x20, 0xa0); // rotate on non-specific EOI: IRQ5 lowest, IRQ6 highest
  assert.equal(h.pic.ack(), 0x21);
  h.out(0x20, 0xe1); // rotate on specific EOI IRQ1: IRQ2 highest
  h.pic.setIrq(0, true);
  h.pic.setIrq(3, true);
  assert.equal(h.pic.ack(), 0x23);
});

Deno.test("PIC poll mode and special mask mode", () => {
  const h = mk();
  initLike(h);
  h.pic.setIrq(3, true);
  h.out(0x20, 0x0c); // poll
  assert.equal(h.inb(0x20), 0x83);
  assert.equal(readIsr(h, 0x20), 0x08); // poll acknowledged it
  h.out(0x20, 0x0c);
  assert.equal(h.inb(0x21), 0x00); // nothing pending: 0 (and poll is consumed)
  assert.equal(h.inb(0x21), 0x00); // IMR read again
  // IRQ3 in service blocks IRQ5 ... unless masked under special mask mode.
  h.pic.setIrq(5, true);
  assert.equal(h.pic.intr(), false);
  h.out(0x21, 0x08);
  h.out(0x20, 0x68); // set special mask mode
  assert.equal(h.pic.intr(), true);
  assert.equal(h.pic.ack(), 0x25);
  h.out(0x20, 0x48); // reset special mask mode
  h.out(0x20, 0x20); // non-specific EOI clears the highest in service: IRQ3, not IRQ5
  assert.equal(readIsr(h, 0x20), 0x20);
});

Deno.test("PIC wide accesses split into byte accesses; garbage never throws", () => {
  const h = mk();
  h.pic.ioWrite(0x20, 2, 0x2011); // ICW1 to 0x20, then ICW2 0x20 to 0x21
  h.pic.ioWrite(0x21, 1, 0x04);
  h.pic.ioWrite(0x21, 1, 0x01);
  h.pic.setIrq(1, true);
  assert.equal(h.pic.ack(), 0x21);
  assert.equal(h.pic.ioRead(0x4d0, 2), 0x0000);
  assert.equal(h.pic.ioRead(0x21, 2), 0xff00); // 0x22 is not ours
  let s = 1;
  for (let i = 0; i < 20000; i++) {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    const port = [0x20, 0x21, 0xa0, 0xa1, 0x4d0, 0x4d1][s % 6]!;
    if (s & 0x100) h.pic.ioWrite(port, 1, s >>> 16);
    else h.pic.ioRead(port, 1);
    if (s & 0x200) h.pic.setIrq((s >>> 12) % 16, (s & 0x400) !== 0);
    if (s & 0x800) assert.ok(h.pic.ack() >= 0);
  }
  const snap = h.pic.snapshot();
  assert.deepEqual(JSON.parse(JSON.stringify(snap)), snap);
});
