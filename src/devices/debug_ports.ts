/**
 * Debug ports: QEMU's isa-debug-exit (a write of v ends the run with status (v << 1) | 1), the
 * Bochs/QEMU debug console at 0xe9, and the Bochs shutdown port 0x8900 (ignored).
 */

import type { PortDevice } from "./bus.ts";

export class DebugExit implements PortDevice {
  readonly name = "isa-debug-exit";
  onExit: (value: number) => void = () => {};
  ioRead(): number {
    return 0xffffffff;
  }
  ioWrite(_port: number, size: 1 | 2 | 4, value: number): void {
    this.onExit(size === 1 ? value & 0xff : size === 2 ? value & 0xffff : value >>> 0);
  }
}

export class DebugConsole implements PortDevice {
  readonly name = "debugcon";
  onTransmit: (byte: number) => void = () => {};
  ioRead(): number {
    return 0xe9; // QEMU's debugcon reads back 0xe9 ("present")
  }
  ioWrite(_port: number, _size: 1 | 2 | 4, value: number): void {
    this.onTransmit(value & 0xff);
  }
}

export class IgnoredPorts implements PortDevice {
  readonly name: string;
  constructor(name: string) {
    this.name = name;
  }
  ioRead(_port: number, size: 1 | 2 | 4): number {
    return size === 4 ? 0xffffffff : size === 2 ? 0xffff : 0xff;
  }
  ioWrite(): void {}
}
