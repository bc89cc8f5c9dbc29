/**
 * 16550A UART (as on COM1 at 0x3f8): transmit goes to the console, receive comes only from
 * recorded input. Registers: RBR/THR, IER, IIR/FCR, LCR, MCR, LSR, MSR, SCR and the divisor
 * latch. The 16-byte FIFOs are modelled; transmission is instantaneous (THR is always empty).
 * Interrupt requests go to `irq(level)`; routing is the platform's business.
 *
 * After the PC16550D data sheet (and QEMU's serial.c where it is silent):
 * - Loopback (MCR bit 4): transmitted bytes go to the receiver and the serial input is
 *   disconnected (§8.7), so recorded input waits (`rxSpace()` is 0) until loopback ends.
 * - Overrun (LSR bit 1, §8.6): in 16450 mode the new character overwrites RBR; in FIFO mode the
 *   FIFO keeps its 16 characters and the new one is lost.
 * - FCR bit 0 (§8.4): changing it clears both FIFOs; bit 1 clears the receiver FIFO.
 */

import type { PortDevice } from "./bus.ts";

const LSR_DR = 0x01, LSR_THRE = 0x20, LSR_TEMT = 0x40, LSR_OE = 0x02;
const IER_RDA = 0x01, IER_THRE = 0x02;
const MCR_LOOP = 0x10;
const FIFO_SIZE = 16;

export class Uart16550 implements PortDevice {
  readonly name: string;
  readonly base: number;
  ier = 0;
  lcr = 0x03;
  mcr = 0;
  scr = 0;
  dll = 0x01;
  dlm = 0;
  fcr = 0;
  lsrErrors = 0;
  readonly rx: number[] = [];
  /** THR-empty interrupt pending (cleared by reading IIR or writing THR). */
  thriPending = false;
  onTransmit: (byte: number) => void = () => {};
  irq: (level: boolean) => void = () => {};

  constructor(name: string, base: number) {
    this.name = name;
    this.base = base;
  }

  get fifoEnabled(): boolean {
    return (this.fcr & 1) !== 0;
  }

  /** How many bytes the receiver can take from outside now (none in loopback mode). */
  rxSpace(): number {
    if (this.mcr & MCR_LOOP) return 0;
    return (this.fifoEnabled ? FIFO_SIZE : 1) - this.rx.length;
  }

  /**
   * Bytes arriving from outside (recorded input); dropped in loopback mode, where the serial
   * input is disconnected. Excess bytes overrun (see #rxByte).
   */
  receive(bytes: Uint8Array): void {
    if (this.mcr & MCR_LOOP) return;
    for (const b of bytes) this.#rxByte(b);
    this.#update();
  }

  /** One character into the receiver: overrun keeps the FIFO, but replaces a 16450's RBR. */
  #rxByte(b: number): void {
    const cap = this.fifoEnabled ? FIFO_SIZE : 1;
    if (this.rx.length < cap) {
      this.rx.push(b);
      return;
    }
    this.lsrErrors |= LSR_OE;
    if (!this.fifoEnabled) this.rx[this.rx.length - 1] = b;
  }

  #lsr(): number {
    return (this.rx.length ? LSR_DR : 0) | LSR_THRE | LSR_TEMT | this.lsrErrors;
  }

  #iir(): number {
    const fifo = this.fifoEnabled ? 0xc0 : 0;
    if (this.lsrErrors && (this.ier & 0x04)) return fifo | 0x06;
    if (this.rx.length && (this.ier & IER_RDA)) return fifo | 0x04;
    if (this.thriPending && (this.ier & IER_THRE)) return fifo | 0x02;
    return fifo | 0x01;
  }

  #update(): void {
    this.irq((this.#iir() & 1) === 0);
  }

  ioRead(port: number, _size: 1 | 2 | 4): number {
    const r = port - this.base;
    const dlab = (this.lcr & 0x80) !== 0;
    switch (r) {
      case 0: {
        if (dlab) return this.dll;
        const v = this.rx.length ? this.rx.shift()! : 0;
        this.#update();
        return v;
      }
      case 1:
        return dlab ? this.dlm : this.ier;
      case 2: {
        const v = this.#iir();
        if ((v & 0x0f) === 0x02) this.thriPending = false;
        this.#update();
        return v;
      }
      case 3:
        return this.lcr;
      case 4:
        return this.mcr;
      case 5: {
        const v = this.#lsr();
        this.lsrErrors = 0;
        this.#update();
        return v;
      }
      case 6:
        // Loopback: CTS/DSR/RI/DCD reflect RTS/DTR/OUT1/OUT2; otherwise carrier and DSR/CTS set.
        if (this.mcr & MCR_LOOP) {
          const m = this.mcr;
          return ((m & 2) << 3) | ((m & 1) << 5) | ((m & 4) << 4) | ((m & 8) << 4);
        }
        return 0xb0;
      default:
        return this.scr;
    }
  }

  ioWrite(port: number, _size: 1 | 2 | 4, value: number): void {
    const r = port - this.base;
    const v = value & 0xff;
    const dlab = (this.lcr & 0x80) !== 0;
    switch (r) {
      case 0:
        if (dlab) this.dll = v;
        else {
          if (this.mcr & MCR_LOOP) this.#rxByte(v);
          else this.onTransmit(v);
          this.thriPending = true;
        }
        break;
      case 1:
        if (dlab) this.dlm = v;
        else {
          const was = this.ier;
          this.ier = v & 0x0f;
          if ((v & IER_THRE) && !(was & IER_THRE)) this.thriPending = true;
        }
        break;
      case 2:
        // Changing the FIFO enable bit clears both FIFOs; bit 1 clears the receiver FIFO.
        if ((v & 0x02) || ((v ^ this.fcr) & 1)) this.rx.length = 0;
        this.fcr = v & 0xc9;
        break;
      case 3:
        this.lcr = v;
        break;
      case 4:
        this.mcr = v & 0x1f;
        break;
      case 7:
        this.scr = v;
        break;
    }
    this.#update();
  }

  snapshot(): Record<string, unknown> {
    return {
      ier: this.ier,
      lcr: this.lcr,
      mcr: this.mcr,
      scr: this.scr,
      dll: this.dll,
      dlm: this.dlm,
      fcr: this.fcr,
      lsrErrors: this.lsrErrors,
      rx: [...this.rx],
      thriPending: this.thriPending,
    };
  }
}
