import assert from "node:assert/strict";
import {
  device,
  eisaId,
  integer,
  ioPort,
  irqNoFlags,
  name,
  pkgLength,
  resourceTemplate,
  scope,
} from "./aml.ts";

/**
 * iasl 20221020 (Debian acpica-tools) compiling
 *
 *     Scope (\_SB) {
 *       Device (COM1) { Name (_HID, EisaId ("PNP0501")) Name (_UID, One)
 *         Name (_CRS, ResourceTemplate () { IO (Decode16, 0x03F8, 0x03F8, 0x01, 0x08)
 *                                           IRQNoFlags () {4} }) }
 *       Device (RTC) { Name (_HID, EisaId ("PNP0B00"))
 *         Name (_CRS, ResourceTemplate () { IO (Decode16, 0x0070, 0x0070, 0x01, 0x02)
 *                                           IRQNoFlags () {8} }) } }
 *
 * produces these bytes after the DSDT header.
 */
const IASL = "104a055f53425f5b822b434f4d31085f4849440c41d00501085f55494401085f43525311100a0d47" +
  "01f803f803010822100079005b82255254435f085f4849440c41d00b00085f43525311100a0d4701" +
  "7000700001022200017900";

Deno.test("AML: the DSDT device objects encode exactly as iasl compiles them", () => {
  const aml = scope(
    "_SB",
    device(
      "COM1",
      name("_HID", eisaId("PNP0501")),
      name("_UID", integer(1)),
      name("_CRS", resourceTemplate(ioPort(0x3f8, 8), irqNoFlags(4))),
    ),
    device(
      "RTC",
      name("_HID", eisaId("PNP0B00")),
      name("_CRS", resourceTemplate(ioPort(0x70, 2), irqNoFlags(8))),
    ),
  );
  assert.equal(aml.map((b) => b.toString(16).padStart(2, "0")).join(""), IASL);
});

Deno.test("AML: PkgLength encodings (ACPI 6.4 §20.2.4)", () => {
  assert.deepEqual(pkgLength(0), [1]);
  assert.deepEqual(pkgLength(62), [63]);
  assert.deepEqual(pkgLength(62 + 1), [0x40 | ((65) & 0xf), 65 >>> 4]);
  assert.deepEqual(pkgLength(0xfff - 2), [0x4f, 0xff]);
  assert.deepEqual(pkgLength(0xfff - 1), [0x80 | (0x1001 & 0xf), 0x00, 0x01]);
  assert.throws(() => pkgLength(1 << 28));
});
