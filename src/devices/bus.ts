/**
 * The I/O port bus. Devices claim port ranges; an access to an unclaimed port reads as all-ones,
 * writes are dropped, and the bus remembers the port (reported once per port).
 */

export interface PortDevice {
  readonly name: string;
  ioRead(port: number, size: 1 | 2 | 4): number;
  ioWrite(port: number, size: 1 | 2 | 4, value: number): void;
}

export class PortBus {
  readonly #map = new Map<number, PortDevice>();
  /** Unclaimed ports touched so far (each is reported once). */
  readonly #unknownSet = new Set<number>();
  onUnknown: (port: number, write: boolean) => void = () => {};

  claim(first: number, count: number, dev: PortDevice): void {
    for (let p = first; p < first + count; p++) {
      if (this.#map.has(p)) throw new Error(`port 0x${p.toString(16)} claimed twice`);
      this.#map.set(p, dev);
    }
  }

  read(port: number, size: 1 | 2 | 4): number {
    const d = this.#map.get(port);
    if (d === undefined) {
      this.#miss(port, false);
      return size === 4 ? 0xffffffff : size === 2 ? 0xffff : 0xff;
    }
    return d.ioRead(port, size);
  }

  write(port: number, size: 1 | 2 | 4, value: number): void {
    const d = this.#map.get(port);
    if (d === undefined) {
      this.#miss(port, true);
      return;
    }
    d.ioWrite(port, size, value);
  }

  #miss(port: number, write: boolean): void {
    if (this.#unknownSet.has(port)) return;
    this.#unknownSet.add(port);
    this.onUnknown(port, write);
  }
}
