/**
 * Interrupt routing vocabulary for the PC platform.
 *
 * - An `IrqLine` is one interrupt wire: a device drives it with its current (logical, active-high)
 *   level. Edge-triggered consumers react to the false→true transition; a device that wants to
 *   signal an edge pulses it (true then false).
 * - `IsaIrqRouter` fans the 16 ISA IRQs out to the 8259 pair and to the IOAPIC, as the PIIX/ICH
 *   wiring does: ISA IRQ n drives PIC input n and IOAPIC GSI n, except ISA IRQ0 (the PIT) which
 *   drives GSI 2 (the MADT carries the matching Interrupt Source Override). ISA IRQ2 is the
 *   8259 cascade and has no external source: driving it does nothing.
 * - `ApicBus` is what the IOAPIC delivers to. The machine implements it by calling
 *   `Lapic.accept(vector, level, source)` on the target VPs' VTL0 APICs (external interrupts go
 *   to VTL0 under VSM), and handles ExtINT (delivery mode 7) as "ask the 8259: `pic.ack()`".
 */

/** One interrupt wire, driven with the current logical level. */
export type IrqLine = (level: boolean) => void;

/** Something with numbered interrupt inputs (the 8259 pair, the IOAPIC). */
export interface IrqSink {
  setIrq(pin: number, level: boolean): void;
}

/** IOAPIC / MSI delivery modes (redirection entry bits 10:8). */
export const DM_FIXED = 0, DM_LOWEST = 1, DM_SMI = 2, DM_NMI = 4, DM_INIT = 5, DM_EXTINT = 7;

/** One interrupt message from the IOAPIC to the local APICs. */
export interface ApicMessage {
  /** Vector 0..255 (meaningless for NMI/INIT/ExtINT, passed through as programmed). */
  readonly vector: number;
  /** 0 fixed, 1 lowest priority, 2 SMI, 4 NMI, 5 INIT, 7 ExtINT (3 and 6 are reserved). */
  readonly deliveryMode: number;
  /** 0 physical (dest = APIC ID, 0xff = broadcast), 1 logical (dest = message destination). */
  readonly destMode: number;
  /** Destination field (redirection entry bits 63:56). */
  readonly dest: number;
  /** Always true for an IOAPIC message (an assertion). */
  readonly level: boolean;
  readonly trigger: "edge" | "level";
  /** The IOAPIC pin (GSI) that raised it, for event records. */
  readonly pin: number;
}

/** Where the IOAPIC sends its messages (the machine: VTL0 local APICs). */
export interface ApicBus {
  deliver(msg: ApicMessage): void;
}

/** The GSI an ISA IRQ arrives at on the IOAPIC (identity except IRQ0 → GSI 2), or -1 for IRQ2. */
export function isaIrqToGsi(irq: number): number {
  if (irq === 0) return 2;
  if (irq === 2) return -1;
  return irq;
}

/**
 * Fans ISA IRQs 0..15 out to the 8259 pair (input = IRQ) and the IOAPIC (input = GSI). Keeps the
 * current level of each line (for the snapshot and to drop redundant calls).
 */
export class IsaIrqRouter {
  readonly #pic: IrqSink;
  readonly #ioapic: IrqSink;
  /** Bit n: ISA IRQ n is currently asserted. */
  levels = 0;

  constructor(pic: IrqSink, ioapic: IrqSink) {
    this.#pic = pic;
    this.#ioapic = ioapic;
  }

  /** Drives ISA IRQ `irq` (0..15; anything else, and IRQ2, is ignored). */
  set(irq: number, level: boolean): void {
    if (!Number.isInteger(irq) || irq < 0 || irq > 15 || irq === 2) return;
    const bit = 1 << irq;
    if (((this.levels & bit) !== 0) === level) return;
    this.levels = level ? this.levels | bit : this.levels & ~bit;
    this.#pic.setIrq(irq, level);
    this.#ioapic.setIrq(isaIrqToGsi(irq), level);
  }

  /** The wire for ISA IRQ `irq`, to hand to a device (e.g. `uart.irq = router.line(4)`). */
  line(irq: number): IrqLine {
    return (level) => this.set(irq, level);
  }

  snapshot(): Record<string, unknown> {
    return { levels: this.levels };
  }
}
