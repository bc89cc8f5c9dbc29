import assert from "node:assert/strict";
import { PciHost } from "./pci.ts";

function mk() {
  const pci = new PciHost();
  const resets: boolean[] = [];
  pci.onReset = (hard) => resets.push(hard);
  const addr = (bus: number, dev: number, fn: number, reg: number) =>
    (0x80000000 | (bus << 16) | (dev << 11) | (fn << 8) | (reg & 0xfc)) >>> 0;
  const cfgRead = (dev: number, reg: number, size: 1 | 2 | 4 = 4, fn = 0, bus = 0) => {
    pci.ioWrite(0xcf8, 4, addr(bus, dev, fn, reg));
    return pci.ioRead(0xcfc + (reg & 3), size);
  };
  const cfgWrite = (dev: number, reg: number, size: 1 | 2 | 4, v: number) => {
    pci.ioWrite(0xcf8, 4, addr(0, dev, 0, reg));
    pci.ioWrite(0xcfc + (reg & 3), size, v);
  };
  return { pci, resets, cfgRead, cfgWrite };
}

Deno.test("PCI host bridge and ISA bridge identify as 82441FX and PIIX3", () => {
  const h = mk();
  assert.equal(h.cfgRead(0, 0x00), 0x12378086);
  assert.equal(h.cfgRead(0, 0x08), 0x06000002);
  assert.equal(h.cfgRead(0, 0x0c), 0x00000000);
  assert.equal(h.cfgRead(0, 0x04), 0x02800006);
  assert.equal(h.cfgRead(1, 0x00), 0x70008086);
  assert.equal(h.cfgRead(1, 0x08), 0x06010000);
  assert.equal(h.cfgRead(1, 0x0c), 0x00800000);
  assert.equal(h.cfgRead(1, 0x60), 0x80808080); // PIRQ routing disabled
  assert.equal(h.cfgRead(0, 0x10), 0); // no BARs
  // Byte and word accesses at their offsets.
  assert.equal(h.cfgRead(0, 0x02, 2), 0x1237);
  assert.equal(h.cfgRead(1, 0x0b, 1), 0x06);
  assert.equal(h.cfgRead(1, 0x0e, 1), 0x80);
});

Deno.test("PCI: absent functions, other buses and a disabled address read all-ones", () => {
  const h = mk();
  assert.equal(h.cfgRead(2, 0x00), 0xffffffff);
  assert.equal(h.cfgRead(0, 0x00, 4, 1), 0xffffffff); // 00:00.1
  assert.equal(h.cfgRead(1, 0x00, 4, 1), 0xffffffff); // 00:01.1 (IDE not emulated)
  assert.equal(h.cfgRead(0, 0x00, 4, 0, 1), 0xffffffff);
  assert.equal(h.cfgRead(31, 0x00, 2), 0xffff);
  h.pci.ioWrite(0xcf8, 4, 0x00000000);
  assert.equal(h.pci.ioRead(0xcfc, 4), 0xffffffff);
  h.pci.ioWrite(0xcfc, 4, 0); // dropped
  assert.equal(h.cfgRead(0, 0x00), 0x12378086);
});

Deno.test("PCI config space is read-only except command/status/latency bits", () => {
  const h = mk();
  h.cfgWrite(0, 0x00, 4, 0xdeadbeef);
  assert.equal(h.cfgRead(0, 0x00), 0x12378086);
  h.cfgWrite(0, 0x04, 2, 0xffff);
  assert.equal(h.cfgRead(0, 0x04, 2), 0x0146);
  h.cfgWrite(0, 0x04, 2, 0x0000);
  assert.equal(h.cfgRead(0, 0x04, 2), 0x0006); // memory/master are hardwired
  h.cfgWrite(0, 0x06, 2, 0xffff); // write-1-to-clear bits are clear anyway
  assert.equal(h.cfgRead(0, 0x06, 2), 0x0280);
  h.cfgWrite(0, 0x0d, 1, 0xff);
  assert.equal(h.cfgRead(0, 0x0d, 1), 0xf8);
  h.cfgWrite(1, 0x04, 2, 0xffff);
  assert.equal(h.cfgRead(1, 0x04, 2), 0x000f);
  h.cfgWrite(1, 0x0d, 1, 0xff);
  assert.equal(h.cfgRead(1, 0x0d, 1), 0x00);
  h.cfgWrite(1, 0x60, 4, 0x0b0a0b0a);
  assert.equal(h.cfgRead(1, 0x60), 0x80808080);
  h.cfgWrite(0, 0x59, 1, 0x33); // PAM: not emulated
  assert.equal(h.cfgRead(0, 0x59, 1), 0);
});

Deno.test("PCI CONFIG_ADDRESS: dword only, reserved bits read 0; 0xcf9 reset control", () => {
  const h = mk();
  h.pci.ioWrite(0xcf8, 4, 0xffffffff);
  assert.equal(h.pci.ioRead(0xcf8, 4), 0x80fffffc);
  h.pci.ioWrite(0xcf8, 1, 0x00);
  h.pci.ioWrite(0xcfa, 2, 0x00);
  assert.equal(h.pci.ioRead(0xcf8, 4), 0x80fffffc);
  assert.equal(h.pci.ioRead(0xcf8, 1), 0xff);
  // Accesses spilling past 0xcff.
  h.pci.ioWrite(0xcf8, 4, 0x80000000);
  assert.equal(h.pci.ioRead(0xcfe, 4), 0xffff1237);
  // Reset control register.
  assert.equal(h.pci.ioRead(0xcf9, 1), 0);
  h.pci.ioWrite(0xcf9, 1, 0x02);
  assert.deepEqual(h.resets, []);
  assert.equal(h.pci.ioRead(0xcf9, 1), 0x02);
  h.pci.ioWrite(0xcf9, 1, 0x06);
  assert.deepEqual(h.resets, [true]);
  h.pci.ioWrite(0xcf9, 1, 0x04);
  assert.deepEqual(h.resets, [true, false]);
  const snap = h.pci.snapshot();
  assert.deepEqual(JSON.parse(JSON.stringify(snap)), snap);
});
