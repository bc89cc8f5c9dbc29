/**
 * I/O APIC, version 0x20 (ICH-style, with the directed EOI register), 24 pins, at 0xfec00000.
 * Modelled after the 82093AA / ICH data sheets and QEMU's ioapic.c.
 *
 * MMIO (offsets within the 4 KiB page; like QEMU, only `offset & 0xff` is decoded):
 * - 0x00 IOREGSEL (8 bits; any access size reads/writes it),
 * - 0x10 IOWIN (32-bit accesses only: other sizes read 0 and are ignored on write),
 * - 0x40 EOI (32-bit writes only: clears Remote IRR of the level-triggered entries with that
 *   vector, as a LAPIC EOI broadcast would); reads 0.
 * Every other offset reads 0 and ignores writes.
 *
 * Registers: 0x00 ID (bits 31:24), 0x01 VER (0x00170020: version 0x20, max entry 23),
 * 0x02 ARB (reads the ID, as QEMU), 0x10-0x3f redirection table (low dword: vector 7:0,
 * delivery mode 10:8, dest mode 11, delivery status 12 (RO, always 0: delivery is immediate),
 * polarity 13, remote IRR 14 (RO), trigger 15, mask 16; high dword: destination 31:24 and the
 * extended destination ID 23:16, stored but not used). Reserved bits read 0. Unknown register
 * indices read 0 and ignore writes.
 *
 * Pins: `setIrq(pin, level)` with the logical (asserted = true) level. Edge-triggered entries
 * deliver on a rising edge while unmasked (an edge on a masked pin is lost, as on the 82093AA);
 * level-triggered entries deliver while asserted and Remote IRR is clear, set Remote IRR, and
 * redeliver after the EOI (`eoi(vector)` from the machine, or the EOI register) if the line is
 * still asserted. Unmasking an asserted level-triggered entry delivers it.
 *
 * Reset: all entries masked (0x00010000 / 0), IOREGSEL 0, ID = the configured id (the value the
 * firmware would have programmed to match the MADT).
 */

import type { ApicBus } from "./irq.ts";

export const IOAPIC_BASE = 0xfec00000;
export const IOAPIC_SIZE = 0x1000;
export const IOAPIC_PINS = 24;
export const IOAPIC_VERSION = 0x20;

const RTE_DELIVERY_STATUS = 1 << 12;
const RTE_REMOTE_IRR = 1 << 14;
const RTE_LEVEL = 1 << 15;
const RTE_MASKED = 1 << 16;
/** Writable bits of the low dword (vector, delivery mode, dest mode, polarity, trigger, mask). */
const RTE_LO_RW = 0x1afff;
/** Writable bits of the high dword (destination, extended destination ID). */
const RTE_HI_RW = 0xffff0000;

export interface IoapicOptions {
  /** The I/O APIC ID (as in the MADT). */
  readonly id: number;
  /** Where messages go (the machine: VTL0 local APICs). */
  readonly bus: ApicBus;
}

export class Ioapic {
  readonly name = "ioapic";
  readonly #bus: ApicBus;
  id: number;
  ioregsel = 0;
  /** Latched requests (bit per pin): edge seen but not yet delivered, or level asserted. */
  irr = 0;
  /** Current input levels (bit per pin). */
  levels = 0;
  readonly lo = new Uint32Array(IOAPIC_PINS);
  readonly hi = new Uint32Array(IOAPIC_PINS);

  constructor(opts: IoapicOptions) {
    this.#bus = opts.bus;
    this.id = opts.id & 0xff;
    this.lo.fill(RTE_MASKED);
  }

  /** Drives input `pin` (0..23) with its logical level; other pins are ignored. */
  setIrq(pin: number, level: boolean): void {
    if (!Number.isInteger(pin) || pin < 0 || pin >= IOAPIC_PINS) return;
    const m = 1 << pin;
    const was = (this.levels & m) !== 0;
    this.levels = level ? this.levels | m : this.levels & ~m;
    const e = this.lo[pin]!;
    if (e & RTE_LEVEL) {
      if (level) {
        this.irr |= m;
        if (!(e & RTE_REMOTE_IRR)) this.#service();
      } else {
        this.irr &= ~m;
      }
    } else if (level && !was && !(e & RTE_MASKED)) {
      this.irr |= m;
      this.#service();
    }
  }

  /**
   * EOI broadcast from a local APIC for `vector` (the machine calls this when a VTL0 LAPIC EOIs
   * a level-triggered vector, i.e. one whose TMR bit was set). Clears Remote IRR of every
   * level-triggered entry with that vector and redelivers lines still asserted.
   */
  eoi(vector: number): void {
    vector &= 0xff;
    let again = false;
    for (let pin = 0; pin < IOAPIC_PINS; pin++) {
      const e = this.lo[pin]!;
      if ((e & 0xff) !== vector || !(e & RTE_LEVEL) || !(e & RTE_REMOTE_IRR)) continue;
      this.lo[pin] = e & ~RTE_REMOTE_IRR;
      if (!(e & RTE_MASKED) && (this.irr & (1 << pin))) again = true;
    }
    if (again) this.#service();
  }

  #service(): void {
    for (let pin = 0; pin < IOAPIC_PINS; pin++) {
      const m = 1 << pin;
      if (!(this.irr & m)) continue;
      const e = this.lo[pin]!;
      if (e & RTE_MASKED) continue;
      const level = (e & RTE_LEVEL) !== 0;
      if (level) {
        if (e & RTE_REMOTE_IRR) continue; // still being serviced: coalesce
        this.lo[pin] = e | RTE_REMOTE_IRR;
      } else {
        this.irr &= ~m;
      }
      this.#bus.deliver({
        vector: e & 0xff,
        deliveryMode: (e >>> 8) & 7,
        destMode: (e >>> 11) & 1,
        dest: this.hi[pin]! >>> 24,
        level: true,
        trigger: level ? "level" : "edge",
        pin,
      });
    }
  }

  #readReg(index: number): number {
    switch (index) {
      case 0x00:
      case 0x02:
        return (this.id << 24) >>> 0;
      case 0x01:
        return ((IOAPIC_PINS - 1) << 16) | IOAPIC_VERSION;
    }
    if (index >= 0x10 && index < 0x10 + 2 * IOAPIC_PINS) {
      const pin = (index - 0x10) >>> 1;
      return (index & 1) ? this.hi[pin]! : this.lo[pin]!;
    }
    return 0;
  }

  #writeReg(index: number, v: number): void {
    if (index === 0x00) {
      this.id = (v >>> 24) & 0xff;
      return;
    }
    if (index < 0x10 || index >= 0x10 + 2 * IOAPIC_PINS) return;
    const pin = (index - 0x10) >>> 1;
    if (index & 1) {
      this.hi[pin] = v & RTE_HI_RW;
    } else {
      const ro = this.lo[pin]! & (RTE_REMOTE_IRR | RTE_DELIVERY_STATUS);
      let e = (v & RTE_LO_RW) | ro;
      if (!(e & RTE_LEVEL)) e &= ~RTE_REMOTE_IRR; // Remote IRR is meaningless for edge
      this.lo[pin] = e;
    }
    this.#service();
  }

  /** MMIO read at `offset` within the 4 KiB window. */
  mmioRead(offset: number, size: 1 | 2 | 4 | 8): number {
    switch (offset & 0xff) {
      case 0x00:
        return this.ioregsel;
      case 0x10:
        return size === 4 ? this.#readReg(this.ioregsel) >>> 0 : 0;
    }
    return 0;
  }

  /** MMIO write at `offset` within the 4 KiB window. */
  mmioWrite(offset: number, size: 1 | 2 | 4 | 8, value: number): void {
    switch (offset & 0xff) {
      case 0x00:
        this.ioregsel = value & 0xff;
        break;
      case 0x10:
        if (size === 4) this.#writeReg(this.ioregsel, value >>> 0);
        break;
      case 0x40:
        if (size === 4) this.eoi(value & 0xff);
        break;
    }
  }

  snapshot(): Record<string, unknown> {
    const redirection: Record<string, number>[] = [];
    for (let i = 0; i < IOAPIC_PINS; i++) redirection.push({ lo: this.lo[i]!, hi: this.hi[i]! });
    return {
      id: this.id,
      ioregsel: this.ioregsel,
      irr: this.irr,
      levels: this.levels,
      redirection,
    };
  }
}
