/**
 * PCI configuration mechanism #1 (ports 0xcf8-0xcff) with the two functions of a minimal
 * i440FX/PIIX3 PC: the 82441FX host bridge at 00:00.0 and the 82371SB PIIX3 PCI-to-ISA bridge
 * at 00:01.0. Every other bus/device/function reads all-ones (no device) and ignores writes.
 *
 * - CONFIG_ADDRESS (0xcf8): 32-bit accesses only; bit 31 enable, 23:16 bus, 15:11 device,
 *   10:8 function, 7:2 register; bits 30:24 and 1:0 read 0.
 * - CONFIG_DATA (0xcfc-0xcff): byte/word/dword accesses reach config offset
 *   (register & 0xfc) + (port & 3); bytes of an access beyond 0xcff read 0xff / are dropped.
 *   With the enable bit clear, reads are all-ones and writes are dropped.
 * - Byte accesses to 0xcf9 reach the PIIX3 Reset Control Register: writing bit 2 (RCPU) calls
 *   `onReset(hard = bit 1)`; bit 1 (SRST) is stored. (The FADT names this as the ACPI reset
 *   register.) Byte/word accesses to 0xcf8, 0xcfa and 0xcfb read 0xff and are dropped.
 *
 * Config space is read-only except, as on the real parts: the command register bits that are
 * writable (82441FX: SERR# and parity-error enables; PIIX3: special-cycle enable), the status
 * register's write-1-to-clear error bits (never set here), and the 82441FX latency timer bits
 * 7:3. No BARs, no interrupt pins. Chipset registers show their reset values (PIIX3 as QEMU
 * resets them: PIRQ routing 0x60-0x63 = 0x80 "disabled", etc.; 82441FX SMRAM 0x72 = 0x02) but
 * ignore writes: PAM/SMRAM shadowing and PIRQ routing are not emulated.
 */

import type { PortDevice } from "./bus.ts";

/** One PCI function's config space with its writable and write-1-to-clear masks. */
class PciFunction {
  readonly label: string;
  readonly config = new Uint8Array(256);
  readonly wmask = new Uint8Array(256);
  readonly w1cmask = new Uint8Array(256);

  constructor(label: string) {
    this.label = label;
  }

  set8(off: number, v: number): void {
    this.config[off] = v & 0xff;
  }
  set16(off: number, v: number): void {
    this.config[off] = v & 0xff;
    this.config[off + 1] = (v >>> 8) & 0xff;
  }
  mask16(mask: Uint8Array, off: number, v: number): void {
    mask[off] = v & 0xff;
    mask[off + 1] = (v >>> 8) & 0xff;
  }

  writeByte(off: number, v: number): void {
    const c = this.config[off]!, w = this.wmask[off]!, w1c = this.w1cmask[off]!;
    this.config[off] = ((c & ~w) | (v & w)) & ~(v & w1c);
  }
}

const VENDOR_INTEL = 0x8086;

function hostBridge(): PciFunction {
  const f = new PciFunction("00:00.0");
  f.set16(0x00, VENDOR_INTEL);
  f.set16(0x02, 0x1237); // 82441FX PMC
  f.set16(0x04, 0x0006); // memory + bus master (hardwired)
  f.set16(0x06, 0x0280); // fast back-to-back, DEVSEL medium
  f.set8(0x08, 0x02); // revision
  f.set8(0x0b, 0x06); // class 06 00 00: host bridge
  f.set8(0x0e, 0x00);
  f.set8(0x72, 0x02); // SMRAM
  f.mask16(f.wmask, 0x04, 0x0140); // PERR#, SERR# enables
  f.mask16(f.w1cmask, 0x06, 0xf900);
  f.wmask[0x0d] = 0xf8; // master latency timer
  return f;
}

function isaBridge(): PciFunction {
  const f = new PciFunction("00:01.0");
  f.set16(0x00, VENDOR_INTEL);
  f.set16(0x02, 0x7000); // 82371SB PIIX3 ISA
  f.set16(0x04, 0x0007); // I/O, memory, bus master (hardwired)
  f.set16(0x06, 0x0200); // DEVSEL medium
  f.set8(0x08, 0x00);
  f.set8(0x0a, 0x01); // class 06 01 00: ISA bridge
  f.set8(0x0b, 0x06);
  f.set8(0x0e, 0x80); // multi-function (IDE/USB functions are not emulated)
  const regs: [number, number][] = [
    [0x4c, 0x4d],
    [0x4e, 0x03],
    [0x60, 0x80],
    [0x61, 0x80],
    [0x62, 0x80],
    [0x63, 0x80],
    [0x69, 0x02],
    [0x70, 0x80],
    [0x76, 0x0c],
    [0x77, 0x0c],
    [0x78, 0x02],
    [0xa0, 0x08],
    [0xa8, 0x0f],
  ];
  for (const [o, v] of regs) f.set8(o, v);
  f.mask16(f.wmask, 0x04, 0x0008); // special cycle enable
  f.mask16(f.w1cmask, 0x06, 0xf900);
  return f;
}

export class PciHost implements PortDevice {
  readonly name = "pci-cf8";
  /** CONFIG_ADDRESS as last written (masked to its implemented bits). */
  configAddress = 0;
  /** PIIX3 Reset Control Register bit 1 (SRST). */
  rcr = 0;
  /** A write to 0xcf9 with bit 2 set: reset the system (hard = bit 1). */
  onReset: (hard: boolean) => void = () => {};
  readonly functions = new Map<number, PciFunction>([
    [0x00, hostBridge()],
    [0x08, isaBridge()],
  ]);

  /** The function addressed by CONFIG_ADDRESS (null = none / disabled). */
  #target(): PciFunction | null {
    const a = this.configAddress;
    if (!(a & 0x80000000)) return null;
    if ((a >>> 16) & 0xff) return null; // only bus 0
    return this.functions.get((a >>> 8) & 0xff) ?? null;
  }

  #readData(port: number, size: 1 | 2 | 4): number {
    const f = this.#target();
    let v = 0;
    for (let i = 0; i < size; i++) {
      const p = port + i;
      const b = f === null || p > 0xcff ? 0xff : f.config[(this.configAddress & 0xfc) + (p & 3)]!;
      v |= b << (8 * i);
    }
    return v >>> 0;
  }

  #writeData(port: number, size: 1 | 2 | 4, value: number): void {
    const f = this.#target();
    if (f === null) return;
    for (let i = 0; i < size; i++) {
      const p = port + i;
      if (p > 0xcff) break;
      f.writeByte((this.configAddress & 0xfc) + (p & 3), (value >>> (8 * i)) & 0xff);
    }
  }

  ioRead(port: number, size: 1 | 2 | 4): number {
    if (port >= 0xcfc) return this.#readData(port, size);
    if (port === 0xcf8 && size === 4) return this.configAddress >>> 0;
    if (port === 0xcf9 && size === 1) return this.rcr;
    return size === 4 ? 0xffffffff : size === 2 ? 0xffff : 0xff;
  }

  ioWrite(port: number, size: 1 | 2 | 4, value: number): void {
    if (port >= 0xcfc) {
      this.#writeData(port, size, value);
    } else if (port === 0xcf8 && size === 4) {
      this.configAddress = (value & 0x80fffffc) >>> 0;
    } else if (port === 0xcf9 && size === 1) {
      this.rcr = value & 0x02;
      if (value & 0x04) this.onReset((value & 0x02) !== 0);
    }
  }

  snapshot(): Record<string, unknown> {
    const functions: Record<string, number[]> = {};
    for (const f of this.functions.values()) functions[f.label] = [...f.config];
    return { configAddress: this.configAddress, rcr: this.rcr, functions };
  }
}
