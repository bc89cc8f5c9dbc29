/**
 * The PC/AT pair of 8259A programmable interrupt controllers as found in the PIIX3: master at
 * 0x20/0x21, slave at 0xa0/0xa1 cascaded on master IRQ2, and the PIIX edge/level control
 * registers (ELCR) at 0x4d0/0x4d1. Modelled after the 8259A data sheet and QEMU's i8259:
 *
 * - ICW1-ICW4 initialisation (ICW1 LTIM is ignored: the ELCR selects edge/level, as on PIIX);
 *   single mode only skips ICW3; ICW4 AEOI and SFNM are honoured, µPM and buffered mode ignored.
 * - OCW1 (IMR), OCW2 (non-specific/specific EOI, rotate on EOI, rotate in AEOI, set priority),
 *   OCW3 (read IRR/ISR select, poll, special mask mode).
 * - Edge inputs latch into IRR on a rising edge; level inputs follow the line (and are not
 *   cleared from IRR by INTA).
 *
 * INTR (the master's output) goes to the BSP's LINT0 (ExtINT / virtual wire) and, if the guest
 * programs it so, to the IOAPIC's ExtINT entry; the CPU then runs INTA: `ack()`.
 *
 * Power-on state (no firmware has run): both chips uninitialised as after QEMU's reset: IMR 0
 * (nothing masked), IRR/ISR 0, vector base 0, ELCR 0 (all edge), read register = IRR. A guest
 * that never initialises the PIC would see vectors 0-15 on INTA; on this platform nothing
 * reaches a CPU until the guest unmasks LINT0 with delivery mode ExtINT (or an IOAPIC ExtINT
 * entry), which no OS does before initialising the 8259.
 */

import type { PortDevice } from "./bus.ts";
import type { IrqLine } from "./irq.ts";

/** One 8259A. */
class Chip {
  readonly master: boolean;
  /** Edge detector: the last level seen on each input. */
  lastIrr = 0;
  irr = 0;
  imr = 0;
  isr = 0;
  /** Rotation: the IRQ with the highest priority is `priorityAdd`. */
  priorityAdd = 0;
  irqBase = 0;
  /** OCW3 RR/RIS: read ISR (true) or IRR (false) from the command port. */
  readIsr = false;
  poll = false;
  specialMask = false;
  /** 0 = operational, 1 = expecting ICW2, 2 = ICW3, 3 = ICW4. */
  initState = 0;
  init4 = false;
  singleMode = false;
  autoEoi = false;
  rotateOnAutoEoi = false;
  specialFullyNested = false;
  elcr = 0;
  readonly elcrMask: number;

  constructor(master: boolean) {
    this.master = master;
    this.elcrMask = master ? 0xf8 : 0xde; // IRQ0-2 and IRQ8, IRQ13 are always edge on PIIX
  }

  /** Priority rank (0 = highest) of the best bit in `mask`, 8 if none. */
  priority(mask: number): number {
    if (mask === 0) return 8;
    let p = 0;
    while ((mask & (1 << ((p + this.priorityAdd) & 7))) === 0) p++;
    return p;
  }

  /** The IRQ (0..7) this chip would request now, or -1. */
  pending(): number {
    const p = this.priority(this.irr & ~this.imr);
    if (p === 8) return -1;
    let mask = this.isr;
    if (this.specialMask) mask &= ~this.imr;
    // Special fully nested mode: an in-service slave does not block further slave requests.
    if (this.specialFullyNested && this.master) mask &= ~(1 << 2);
    return p < this.priority(mask) ? (p + this.priorityAdd) & 7 : -1;
  }

  setInput(irq: number, level: boolean): void {
    const m = 1 << irq;
    if (this.elcr & m) {
      if (level) {
        this.irr |= m;
        this.lastIrr |= m;
      } else {
        this.irr &= ~m;
        this.lastIrr &= ~m;
      }
    } else if (level) {
      if ((this.lastIrr & m) === 0) this.irr |= m;
      this.lastIrr |= m;
    } else {
      this.lastIrr &= ~m;
    }
  }

  /** INTA for `irq` on this chip. */
  intack(irq: number): void {
    if (this.autoEoi) {
      if (this.rotateOnAutoEoi) this.priorityAdd = (irq + 1) & 7;
    } else {
      this.isr |= 1 << irq;
    }
    if (!(this.elcr & (1 << irq))) this.irr &= ~(1 << irq);
  }

  /** Re-initialisation by ICW1 (the ELCR is not part of the 8259 and survives). */
  initReset(): void {
    this.lastIrr = 0;
    this.irr &= this.elcr;
    this.imr = 0;
    this.isr = 0;
    this.priorityAdd = 0;
    this.irqBase = 0;
    this.readIsr = false;
    this.poll = false;
    this.specialMask = false;
    this.initState = 0;
    this.autoEoi = false;
    this.rotateOnAutoEoi = false;
    this.specialFullyNested = false;
    this.init4 = false;
    this.singleMode = false;
  }

  writeCommand(v: number): void {
    if (v & 0x10) {
      // ICW1
      this.initReset();
      this.initState = 1;
      this.init4 = (v & 1) !== 0;
      this.singleMode = (v & 2) !== 0;
      return;
    }
    if (v & 0x08) {
      // OCW3
      if (v & 0x04) this.poll = true;
      if (v & 0x02) this.readIsr = (v & 1) !== 0;
      if (v & 0x40) this.specialMask = (v & 0x20) !== 0;
      return;
    }
    // OCW2
    const cmd = v >>> 5;
    switch (cmd) {
      case 0: // rotate in automatic EOI mode: clear
      case 4: // ... set
        this.rotateOnAutoEoi = cmd === 4;
        break;
      case 1: // non-specific EOI
      case 5: { // rotate on non-specific EOI
        const p = this.priority(this.isr);
        if (p !== 8) {
          const irq = (p + this.priorityAdd) & 7;
          this.isr &= ~(1 << irq);
          if (cmd === 5) this.priorityAdd = (irq + 1) & 7;
        }
        break;
      }
      case 3: // specific EOI
        this.isr &= ~(1 << (v & 7));
        break;
      case 6: // set priority: IRQ (v & 7) becomes the lowest
        this.priorityAdd = (v + 1) & 7;
        break;
      case 7: // rotate on specific EOI
        this.isr &= ~(1 << (v & 7));
        this.priorityAdd = ((v & 7) + 1) & 7;
        break;
      default: // 2: no operation
        break;
    }
  }

  writeData(v: number): void {
    switch (this.initState) {
      case 0: // OCW1
        this.imr = v;
        break;
      case 1: // ICW2
        this.irqBase = v & 0xf8;
        this.initState = this.singleMode ? (this.init4 ? 3 : 0) : 2;
        break;
      case 2: // ICW3 (cascade wiring is fixed)
        this.initState = this.init4 ? 3 : 0;
        break;
      default: // ICW4
        this.specialFullyNested = (v & 0x10) !== 0;
        this.autoEoi = (v & 0x02) !== 0;
        this.initState = 0;
        break;
    }
  }

  snapshot(): Record<string, unknown> {
    return {
      irr: this.irr,
      imr: this.imr,
      isr: this.isr,
      lastIrr: this.lastIrr,
      priorityAdd: this.priorityAdd,
      irqBase: this.irqBase,
      readIsr: this.readIsr,
      poll: this.poll,
      specialMask: this.specialMask,
      initState: this.initState,
      init4: this.init4,
      singleMode: this.singleMode,
      autoEoi: this.autoEoi,
      rotateOnAutoEoi: this.rotateOnAutoEoi,
      specialFullyNested: this.specialFullyNested,
      elcr: this.elcr,
    };
  }
}

/**
 * The cascaded 8259 pair plus ELCR. Ports: 0x20-0x21, 0xa0-0xa1, 0x4d0-0x4d1 (claim all three
 * ranges with this one device). Wider accesses are split into byte accesses on consecutive
 * ports; bytes falling outside these ports read 0xff and are dropped on write.
 */
export class Pic8259 implements PortDevice {
  readonly name = "pic8259";
  readonly master = new Chip(true);
  readonly slave = new Chip(false);
  #intr = false;
  /** The INTR output (to the BSP's LINT0); called when the level changes. */
  #onIntr: IrqLine = () => {};

  /** Connects the INTR output; the hook is called with the current level right away. */
  connect(onIntr: IrqLine): void {
    this.#onIntr = onIntr;
    onIntr(this.#intr);
  }

  /** The INTR output level: an unmasked request of higher priority than anything in service. */
  intr(): boolean {
    return this.#intr;
  }

  /** Drives input `irq` (0..7 master, 8..15 slave). IRQ2 is the cascade input: ignored. */
  setIrq(irq: number, level: boolean): void {
    if (!Number.isInteger(irq) || irq < 0 || irq > 15 || irq === 2) return;
    if (irq < 8) this.master.setInput(irq, level);
    else {
      this.slave.setInput(irq - 8, level);
      this.#updateSlave();
    }
    this.#update();
  }

  /**
   * INTA cycle: returns the vector for the highest-priority request and moves it in service.
   * With no request left (it went away, or was masked, after INTR was raised) the master
   * answers its spurious vector base+7 (IRQ7) without setting ISR; likewise the slave's
   * base+7 (IRQ15) when the master saw a cascade request the slave no longer has.
   */
  ack(): number {
    const m = this.master, s = this.slave;
    const irq = m.pending();
    let vector: number;
    if (irq < 0) {
      vector = m.irqBase + 7;
    } else if (irq === 2) {
      const irq2 = s.pending();
      if (irq2 >= 0) {
        s.intack(irq2);
        vector = s.irqBase + irq2;
      } else {
        vector = s.irqBase + 7;
      }
      m.intack(2);
      this.#updateSlave();
    } else {
      m.intack(irq);
      vector = m.irqBase + irq;
    }
    this.#update();
    return vector & 0xff;
  }

  #updateSlave(): void {
    this.master.setInput(2, this.slave.pending() >= 0);
  }

  #update(): void {
    const level = this.master.pending() >= 0;
    if (level !== this.#intr) {
      this.#intr = level;
      this.#onIntr(level);
    }
  }

  #pollRead(c: Chip): number {
    const irq = c.pending();
    c.poll = false;
    if (irq < 0) return 0;
    // Polling the master for a cascade request answers 2; the slave keeps its request until
    // the guest polls (or acknowledges) the slave too.
    c.intack(irq);
    return irq | 0x80;
  }

  #readByte(port: number): number {
    switch (port) {
      case 0x20:
      case 0x21:
      case 0xa0:
      case 0xa1: {
        const c = port < 0xa0 ? this.master : this.slave;
        let v: number;
        if (c.poll) v = this.#pollRead(c);
        else if ((port & 1) === 0) v = c.readIsr ? c.isr : c.irr;
        else v = c.imr;
        this.#updateSlave();
        this.#update();
        return v;
      }
      case 0x4d0:
        return this.master.elcr;
      case 0x4d1:
        return this.slave.elcr;
    }
    return 0xff;
  }

  #writeByte(port: number, v: number): void {
    switch (port) {
      case 0x20:
      case 0xa0:
        (port === 0x20 ? this.master : this.slave).writeCommand(v);
        break;
      case 0x21:
      case 0xa1:
        (port === 0x21 ? this.master : this.slave).writeData(v);
        break;
      case 0x4d0:
      case 0x4d1: {
        const c = port === 0x4d0 ? this.master : this.slave;
        c.elcr = v & c.elcrMask;
        break;
      }
      default:
        return;
    }
    this.#updateSlave();
    this.#update();
  }

  ioRead(port: number, size: 1 | 2 | 4): number {
    let v = 0;
    for (let i = 0; i < size; i++) v |= this.#readByte(port + i) << (8 * i);
    return v >>> 0;
  }

  ioWrite(port: number, size: 1 | 2 | 4, value: number): void {
    for (let i = 0; i < size; i++) this.#writeByte(port + i, (value >>> (8 * i)) & 0xff);
  }

  snapshot(): Record<string, unknown> {
    return { master: this.master.snapshot(), slave: this.slave.snapshot(), intr: this.#intr };
  }
}
