/**
 * ACPI tables for the vtlrr PC: RSDP (revision 2) → RSDT and XSDT → FADT (→ DSDT) and MADT,
 * laid out in one blob the machine copies to guest physical memory at `base` (e.g. 0xe0000,
 * inside the BIOS area the OS scans for "RSD PTR "; or anywhere, passing `rsdpAddress` to the
 * kernel through boot_params.acpi_rsdp_addr).
 *
 * The FADT (revision 6, ACPI 6.0 layout, 276 bytes) declares a HARDWARE-REDUCED ACPI platform
 * (flag bit 20): there are no PM1/GPE/PM-timer register blocks, no SMI command port, no FACS,
 * so nothing of the ACPI fixed hardware needs emulating. SCI_INT is 9 (routed level/active-high
 * by the MADT override, as QEMU does), but a hardware-reduced OS does not use the SCI. The
 * RESET_REG is I/O port 0xcf9 with value 0x06 (PIIX3 reset control: hard reset), flag
 * RESET_REG_SUP. CENTURY = 0x32 (the RTC century byte). IAPC_BOOT_ARCH = legacy devices +
 * VGA not present (no 8042 flag: there is no keyboard controller). Linux consequences of
 * hardware-reduced mode on x86: it uses the null legacy PIC (all ISA IRQs through the IOAPIC),
 * skips the PIT/HPET timer setup (timer_init), and needs its LAPIC timer/TSC frequencies from
 * elsewhere (CPUID/hypervisor MSRs) or calibrates against the PIT; ACPI power-off is
 * unavailable (no _S5, no sleep registers).
 *
 * The DSDT (revision 2) declares the legacy devices a hardware-reduced platform must describe
 * for the OS to route their interrupts (there are no ISA IRQ mappings without a legacy PIC):
 * \_SB.COM1 (PNP0501, I/O 0x3f8-0x3ff, IRQ 4) and \_SB.RTC (PNP0B00, I/O 0x70-0x71, IRQ 8).
 * Linux binds them through ACPI PNP (8250_pnp, rtc_cmos), which registers GSIs 4 and 8 on the
 * IOAPIC; without them the 8250 driver cannot request IRQ 4 and ttyS0 never transmits.
 *
 * The MADT (revision 3): local APIC address (default 0xfee00000), flags PCAT_COMPAT, one
 * Processor Local APIC entry per VP (ACPI processor UID = APIC ID = VP index, enabled), one
 * I/O APIC (ID `ioapicId`, default `vps`; address 0xfec00000; GSI base 0), Interrupt Source
 * Overrides ISA IRQ0 → GSI 2 (conforming flags) and ISA IRQ9 → GSI 9 (active high, level), and
 * a Local APIC NMI entry for LINT1 on all processors (UID 0xff).
 *
 * All tables carry OEMID "VTLRR ", OEM table ID "VTLRR   ", OEM revision 1, creator "VTLR" 1.
 * Every table starts 16-byte aligned; the RSDP is at the first 16-byte-aligned address ≥ base.
 */

import {
  device,
  eisaId,
  integer,
  ioPort,
  irqNoFlags,
  name,
  resourceTemplate,
  scope,
} from "./aml.ts";
import { IOAPIC_BASE } from "./ioapic.ts";

export interface AcpiOptions {
  /** Number of VPs (APIC IDs 0..vps-1), 1..255. */
  readonly vps: number;
  /** I/O APIC ID (default `vps`). */
  readonly ioapicId?: number;
  /** Guest physical address where `bytes` will be placed. */
  readonly base: number;
  /** Local APIC address (default 0xfee00000). */
  readonly lapicAddress?: number;
  /** I/O APIC address (default 0xfec00000). */
  readonly ioapicAddress?: number;
}

export interface AcpiTables {
  /** The blob to copy to `base`. */
  readonly bytes: Uint8Array;
  readonly rsdpAddress: number;
  /** Physical address of each table (by signature; the RSDP as "RSDP"). */
  readonly tables: Readonly<Record<string, number>>;
}

export const ACPI_OEM_ID = "VTLRR ";
const OEM_TABLE_ID = "VTLRR   ";
const CREATOR_ID = "VTLR";

const FADT_LENGTH = 276;
const FADT_WBINVD = 1 << 0;
const FADT_PROC_C1 = 1 << 2;
const FADT_PWR_BUTTON = 1 << 4;
const FADT_SLP_BUTTON = 1 << 5;
const FADT_RESET_REG_SUP = 1 << 10;
const FADT_HW_REDUCED_ACPI = 1 << 20;
const BOOT_ARCH_LEGACY_DEVICES = 1 << 0;
const BOOT_ARCH_VGA_NOT_PRESENT = 1 << 2;

function align16(n: number): number {
  return Math.ceil(n / 16) * 16;
}

class Blob {
  readonly bytes: Uint8Array;
  readonly dv: DataView;
  constructor(size: number) {
    this.bytes = new Uint8Array(size);
    this.dv = new DataView(this.bytes.buffer);
  }
  u8(off: number, v: number): void {
    this.dv.setUint8(off, v);
  }
  u16(off: number, v: number): void {
    this.dv.setUint16(off, v, true);
  }
  u32(off: number, v: number): void {
    this.dv.setUint32(off, v >>> 0, true);
  }
  u64(off: number, v: number): void {
    this.dv.setUint32(off, v % 4294967296, true);
    this.dv.setUint32(off + 4, Math.floor(v / 4294967296), true);
  }
  str(off: number, s: string): void {
    for (let i = 0; i < s.length; i++) this.bytes[off + i] = s.charCodeAt(i);
  }
  /** Sets byte `at` so that bytes [off, off+len) sum to 0 mod 256. */
  checksum(off: number, len: number, at: number): void {
    this.bytes[at] = 0;
    let sum = 0;
    for (let i = off; i < off + len; i++) sum += this.bytes[i]!;
    this.bytes[at] = (256 - (sum & 0xff)) & 0xff;
  }
  /** Standard 36-byte SDT header (checksum filled by `finish`). */
  header(off: number, sig: string, length: number, revision: number): void {
    this.str(off, sig);
    this.u32(off + 4, length);
    this.u8(off + 8, revision);
    this.str(off + 10, ACPI_OEM_ID);
    this.str(off + 16, OEM_TABLE_ID);
    this.u32(off + 24, 1);
    this.str(off + 28, CREATOR_ID);
    this.u32(off + 32, 1);
  }
  finish(off: number, length: number): void {
    this.checksum(off, length, off + 9);
  }
  /** Generic Address Structure. */
  gas(off: number, space: number, bitWidth: number, accessSize: number, address: number): void {
    this.u8(off, space);
    this.u8(off + 1, bitWidth);
    this.u8(off + 2, 0);
    this.u8(off + 3, accessSize);
    this.u64(off + 4, address);
  }
}

/** Builds the tables. Throws RangeError for an impossible configuration (host error). */
export function buildAcpiTables(opts: AcpiOptions): AcpiTables {
  const vps = opts.vps;
  if (!Number.isInteger(vps) || vps < 1 || vps > 255) {
    throw new RangeError(`ACPI: vps must be 1..255, got ${vps}`);
  }
  const ioapicId = opts.ioapicId ?? vps;
  if (!Number.isInteger(ioapicId) || ioapicId < 0 || ioapicId > 255) {
    throw new RangeError(`ACPI: ioapicId must be 0..255, got ${ioapicId}`);
  }
  const base = opts.base;
  const lapicAddress = opts.lapicAddress ?? 0xfee00000;
  const ioapicAddress = opts.ioapicAddress ?? IOAPIC_BASE;

  // Blob offsets whose physical addresses are 16-byte aligned.
  const next = (off: number) => align16(base + off) - base;
  const rsdpOff = next(0);
  const rsdtOff = next(rsdpOff + 36);
  const nTables = 2;
  const rsdtLen = 36 + 4 * nTables;
  const xsdtOff = next(rsdtOff + rsdtLen);
  const xsdtLen = 36 + 8 * nTables;
  const fadtOff = next(xsdtOff + xsdtLen);
  const dsdtOff = next(fadtOff + FADT_LENGTH);
  const dsdtAml = dsdtBody();
  const dsdtLen = 36 + dsdtAml.length;
  const madtOff = next(dsdtOff + dsdtLen);
  const madtLen = 44 + 8 * vps + 12 + 10 * 2 + 6;
  const total = madtOff + madtLen;
  if (!Number.isInteger(base) || base < 0 || base + total > 0x100000000) {
    throw new RangeError(`ACPI: tables at 0x${base.toString(16)} must lie below 4 GiB`);
  }
  const at = (off: number) => base + off;
  const b = new Blob(total);

  // DSDT: the device objects.
  b.header(dsdtOff, "DSDT", dsdtLen, 2);
  b.bytes.set(dsdtAml, dsdtOff + 36);
  b.finish(dsdtOff, dsdtLen);

  // FADT.
  const f = fadtOff;
  b.header(f, "FACP", FADT_LENGTH, 6);
  b.u32(f + 36, 0); // FIRMWARE_CTRL: no FACS (hardware-reduced)
  b.u32(f + 40, at(dsdtOff));
  b.u16(f + 46, 9); // SCI_INT
  b.u16(f + 96, 0x0fff); // P_LVL2_LAT: C2 not supported
  b.u16(f + 98, 0x0fff); // P_LVL3_LAT: C3 not supported
  b.u8(f + 108, 0x32); // CENTURY
  b.u16(f + 109, BOOT_ARCH_LEGACY_DEVICES | BOOT_ARCH_VGA_NOT_PRESENT);
  b.u32(
    f + 112,
    FADT_WBINVD | FADT_PROC_C1 | FADT_PWR_BUTTON | FADT_SLP_BUTTON | FADT_RESET_REG_SUP |
      FADT_HW_REDUCED_ACPI,
  );
  b.gas(f + 116, 1, 8, 1, 0xcf9); // RESET_REG: system I/O, byte
  b.u8(f + 128, 0x06); // RESET_VALUE
  b.u8(f + 131, 0); // FADT minor version
  b.u64(f + 140, at(dsdtOff)); // X_DSDT
  b.str(f + 268, "VTLRR\0\0\0"); // hypervisor vendor identity
  b.finish(f, FADT_LENGTH);

  // MADT.
  const m = madtOff;
  b.header(m, "APIC", madtLen, 3);
  b.u32(m + 36, lapicAddress);
  b.u32(m + 40, 1); // PCAT_COMPAT
  let o = m + 44;
  for (let i = 0; i < vps; i++) {
    b.u8(o, 0); // Processor Local APIC
    b.u8(o + 1, 8);
    b.u8(o + 2, i); // ACPI processor UID
    b.u8(o + 3, i); // APIC ID
    b.u32(o + 4, 1); // enabled
    o += 8;
  }
  b.u8(o, 1); // I/O APIC
  b.u8(o + 1, 12);
  b.u8(o + 2, ioapicId);
  b.u8(o + 3, 0);
  b.u32(o + 4, ioapicAddress);
  b.u32(o + 8, 0); // GSI base
  o += 12;
  const iso = (irq: number, gsi: number, flags: number) => {
    b.u8(o, 2); // Interrupt Source Override
    b.u8(o + 1, 10);
    b.u8(o + 2, 0); // bus: ISA
    b.u8(o + 3, irq);
    b.u32(o + 4, gsi);
    b.u16(o + 8, flags);
    o += 10;
  };
  iso(0, 2, 0x0000); // conforms to the bus: edge, active high
  iso(9, 9, 0x000d); // active high (01), level (11 << 2)
  b.u8(o, 4); // Local APIC NMI
  b.u8(o + 1, 6);
  b.u8(o + 2, 0xff); // all processors
  b.u16(o + 3, 0x0000); // conforms: edge, active high
  b.u8(o + 5, 1); // LINT1
  o += 6;
  b.finish(m, madtLen);

  // RSDT and XSDT.
  const pointers = [at(fadtOff), at(madtOff)];
  b.header(rsdtOff, "RSDT", rsdtLen, 1);
  pointers.forEach((p, i) => b.u32(rsdtOff + 36 + 4 * i, p));
  b.finish(rsdtOff, rsdtLen);
  b.header(xsdtOff, "XSDT", xsdtLen, 1);
  pointers.forEach((p, i) => b.u64(xsdtOff + 36 + 8 * i, p));
  b.finish(xsdtOff, xsdtLen);

  // RSDP.
  const r = rsdpOff;
  b.str(r, "RSD PTR ");
  b.str(r + 9, ACPI_OEM_ID);
  b.u8(r + 15, 2);
  b.u32(r + 16, at(rsdtOff));
  b.u32(r + 20, 36);
  b.u64(r + 24, at(xsdtOff));
  b.checksum(r, 20, r + 8);
  b.checksum(r, 36, r + 32);

  return {
    bytes: b.bytes,
    rsdpAddress: at(rsdpOff),
    tables: {
      RSDP: at(rsdpOff),
      RSDT: at(rsdtOff),
      XSDT: at(xsdtOff),
      FACP: at(fadtOff),
      DSDT: at(dsdtOff),
      APIC: at(madtOff),
    },
  };
}

/** The DSDT's definition blocks (see the module comment). */
function dsdtBody(): Uint8Array {
  return Uint8Array.from(scope(
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
  ));
}
