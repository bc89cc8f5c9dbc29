/**
 * 16550A UART (as on COM1 at 0x3f8): transmit goes to the console, receive comes only from
 * recorded input. Registers: RBR/THR, IER, IIR/FCR, LCR, MCR, LSR, MSR, SCR and the divisor
 * latch. The 16-byte FIFOs are modelled; transmission is instantaneous (THR is always empty).
 * Interrupt requests go to `irq(level)`; routing is the platform's business.
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

  /** How many bytes the receiver can take now. */
  rxSpace(): number {
    return (this.fifoEnabled ? FIFO_SIZE : 1) - this.rx.length;
  }

  /** Bytes arriving from outside (recorded input). Excess bytes set the overrun error. */
  receive(bytes: Uint8Array): void {
    for (const b of bytes) {
      if (this.rxSpace() > 0) this.rx.push(b);
      else this.lsrErrors |= LSR_OE;
    }
    this.#update();
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
          if (this.mcr & MCR_LOOP) this.receive(Uint8Array.of(v));
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
        this.fcr = v & 0xc9;
        if (v & 0x02) this.rx.length = 0;
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
