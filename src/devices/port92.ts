/**
 * System Control Port A (0x92, "fast A20 and reset"), as QEMU's port92:
 * - bit 0: a 0→1 write requests a system reset (`onReset()`); the bit reads back as written
 *   until the machine calls `reset()`.
 * - bit 1: A20 gate, stored and reported (and `onA20` is told). A20 masking itself is not
 *   emulated: the address line is always enabled, whatever this bit says.
 * - bits 7:2 are stored and read back (security lock, HDD activity LED: no effect).
 * Reset state 0x02 (A20 enabled, matching the always-enabled address line).
 */

import type { PortDevice } from "./bus.ts";

export class Port92 implements PortDevice {
  readonly name = "port92";
  value = 0x02;
  onReset: () => void = () => {};
  onA20: (enabled: boolean) => void = () => {};

  get a20(): boolean {
    return (this.value & 0x02) !== 0;
  }

  /** Machine reset: clears the reset request bit (A20 and the other bits are kept). */
  reset(): void {
    this.value &= ~1;
  }

  ioRead(port: number, size: 1 | 2 | 4): number {
    let v = 0;
    for (let i = 0; i < size; i++) v |= (port + i === 0x92 ? this.value : 0xff) << (8 * i);
    return v >>> 0;
  }

  ioWrite(port: number, size: 1 | 2 | 4, value: number): void {
    for (let i = 0; i < size; i++) {
      if (port + i !== 0x92) continue;
      const v = (value >>> (8 * i)) & 0xff;
      const old = this.value;
      this.value = v;
      if ((old ^ v) & 0x02) this.onA20((v & 0x02) !== 0);
      if ((v & 1) && !(old & 1)) this.onReset();
    }
  }

  snapshot(): Record<string, unknown> {
    return { value: this.value };
  }
}
