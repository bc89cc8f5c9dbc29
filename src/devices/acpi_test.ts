import assert from "node:assert/strict";
import { buildAcpiTables } from "./acpi.ts";

/** Guest memory view of the blob placed at `base`. */
class Phys {
  readonly base: number;
  readonly b: Uint8Array;
  readonly dv: DataView;
  constructor(base: number, b: Uint8Array) {
    this.base = base;
    this.b = b;
    this.dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  }
  off(addr: number): number {
    const o = addr - this.base;
    assert.ok(o >= 0 && o < this.b.length, `address 0x${addr.toString(16)} outside the blob`);
    return o;
  }
  u8(a: number): number {
    return this.b[this.off(a)]!;
  }
  u16(a: number): number {
    return this.dv.getUint16(this.off(a), true);
  }
  u32(a: number): number {
    return this.dv.getUint32(this.off(a), true);
  }
  u64(a: number): number {
    return this.u32(a) + this.u32(a + 4) * 4294967296;
  }
  str(a: number, n: number): string {
    return String.fromCharCode(...this.b.slice(this.off(a), this.off(a) + n));
  }
  sum(a: number, n: number): number {
    let s = 0;
    for (let i = 0; i < n; i++) s += this.u8(a + i);
    return s & 0xff;
  }
}

interface Sdt {
  sig: string;
  addr: number;
  length: number;
  revision: number;
}

function sdt(p: Phys, addr: number): Sdt {
  assert.equal(addr % 16, 0, "tables are 16-byte aligned");
  const sig = p.str(addr, 4);
  const length = p.u32(addr + 4);
  assert.ok(length >= 36);
  assert.equal(p.sum(addr, length), 0, `${sig} checksum`);
  assert.equal(p.str(addr + 10, 6), "VTLRR ");
  assert.equal(p.str(addr + 16, 8), "VTLRR   ");
  assert.equal(p.str(addr + 28, 4), "VTLR");
  return { sig, addr, length, revision: p.u8(addr + 8) };
}

function parse(base: number, vps: number, ioapicId?: number) {
  const t = buildAcpiTables({ vps, base, ioapicId });
  const p = new Phys(base, t.bytes);
  const r = t.rsdpAddress;
  assert.equal(r % 16, 0);
  assert.equal(p.str(r, 8), "RSD PTR ");
  assert.equal(p.sum(r, 20), 0, "RSDP checksum");
  assert.equal(p.sum(r, 36), 0, "RSDP extended checksum");
  assert.equal(p.str(r + 9, 6), "VTLRR ");
  assert.equal(p.u8(r + 15), 2);
  assert.equal(p.u32(r + 20), 36);
  const rsdt = sdt(p, p.u32(r + 16));
  const xsdt = sdt(p, p.u64(r + 24));
  assert.equal(rsdt.sig, "RSDT");
  assert.equal(xsdt.sig, "XSDT");
  const viaX: Sdt[] = [];
  for (let a = xsdt.addr + 36; a < xsdt.addr + xsdt.length; a += 8) viaX.push(sdt(p, p.u64(a)));
  const viaR: number[] = [];
  for (let a = rsdt.addr + 36; a < rsdt.addr + rsdt.length; a += 4) viaR.push(p.u32(a));
  assert.deepEqual(viaR, viaX.map((s) => s.addr));
  const bySig = new Map(viaX.map((s) => [s.sig, s]));
  return { t, p, bySig };
}

Deno.test("ACPI: RSDP, RSDT, XSDT and every table check out", () => {
  for (const base of [0xe0000, 0xe0008, 0x7fff_0003]) {
    for (const vps of [1, 4, 64]) {
      const { t, p, bySig } = parse(base, vps);
      assert.deepEqual([...bySig.keys()], ["FACP", "APIC"]);
      assert.ok(t.rsdpAddress >= base && t.rsdpAddress < base + 16);
      assert.equal(t.tables.FACP, bySig.get("FACP")!.addr);

      // FADT.
      const f = bySig.get("FACP")!;
      assert.equal(f.length, 276);
      assert.equal(f.revision, 6);
      const flags = p.u32(f.addr + 112);
      assert.equal(flags & (1 << 20), 1 << 20, "HW_REDUCED_ACPI");
      assert.equal(flags & (1 << 10), 1 << 10, "RESET_REG_SUP");
      assert.equal(p.u16(f.addr + 46), 9, "SCI_INT");
      assert.equal(p.u8(f.addr + 108), 0x32, "CENTURY");
      assert.equal(p.u16(f.addr + 109), 0x0005, "IAPC_BOOT_ARCH");
      for (let o = 56; o < 96; o++) assert.equal(p.u8(f.addr + o), 0, `PM block byte ${o}`);
      assert.deepEqual(
        [p.u8(f.addr + 116), p.u8(f.addr + 117), p.u8(f.addr + 119), p.u64(f.addr + 120)],
        [1, 8, 1, 0xcf9],
      );
      assert.equal(p.u8(f.addr + 128), 0x06);
      const dsdtAddr = p.u64(f.addr + 140);
      assert.equal(p.u32(f.addr + 40), dsdtAddr);
      const dsdt = sdt(p, dsdtAddr);
      assert.equal(dsdt.sig, "DSDT");
      assert.equal(dsdt.revision, 2);
      // The device objects (COM1, RTC; exact bytes in aml_test.ts) follow the header.
      const body = [...Array(dsdt.length - 36)].map((_, i) => p.u8(dsdtAddr + 36 + i));
      const text = String.fromCharCode(...body);
      for (const n of ["_SB_", "COM1", "RTC_", "_HID", "_CRS"]) assert.ok(text.includes(n), n);

      // MADT.
      const m = bySig.get("APIC")!;
      assert.equal(p.u32(m.addr + 36), 0xfee00000);
      assert.equal(p.u32(m.addr + 40), 1, "PCAT_COMPAT");
      const entries: number[][] = [];
      for (let a = m.addr + 44; a < m.addr + m.length;) {
        const type = p.u8(a), len = p.u8(a + 1);
        assert.ok(len >= 2);
        const e = [type];
        if (type === 0) e.push(p.u8(a + 2), p.u8(a + 3), p.u32(a + 4));
        else if (type === 1) e.push(p.u8(a + 2), p.u32(a + 4), p.u32(a + 8));
        else if (type === 2) e.push(p.u8(a + 2), p.u8(a + 3), p.u32(a + 4), p.u16(a + 8));
        else if (type === 4) e.push(p.u8(a + 2), p.u16(a + 3), p.u8(a + 5));
        entries.push(e);
        a += len;
        assert.ok(a <= m.addr + m.length);
      }
      const want: number[][] = [];
      for (let i = 0; i < vps; i++) want.push([0, i, i, 1]);
      want.push([1, vps, 0xfec00000, 0]);
      want.push([2, 0, 0, 2, 0]);
      want.push([2, 0, 9, 9, 0x000d]);
      want.push([4, 0xff, 0, 1]);
      assert.deepEqual(entries, want);
    }
  }
});

Deno.test("ACPI: explicit I/O APIC id; impossible configurations are rejected", () => {
  const { p, bySig } = parse(0xe0000, 2, 0);
  const m = bySig.get("APIC")!;
  assert.equal(p.u8(m.addr + 44 + 16 + 2), 0);
  assert.throws(() => buildAcpiTables({ vps: 0, base: 0xe0000 }), RangeError);
  assert.throws(() => buildAcpiTables({ vps: 256, base: 0xe0000 }), RangeError);
  assert.throws(() => buildAcpiTables({ vps: 1, base: 0xffff_ff00 }), RangeError);
  assert.throws(() => buildAcpiTables({ vps: 1, base: 0xe0000, ioapicId: 300 }), RangeError);
});
