/**
 * Guest physical memory: one ArrayBuffer holding the guest's RAM followed by a pool of host pages
 * for overlay pages (hypercall page, VP assist pages, SynIC pages …), which hide the RAM below
 * them for one VTL. Everything is addressed by *host page index*: RAM page n is host page n;
 * overlay pages are allocated after the RAM.
 *
 * Two per-page byte maps support the CPU: `dirty` (written since the last state hash) and `code`
 * (decoded instructions exist in the page, so writes must invalidate them).
 */

export const PAGE_SIZE = 4096;
export const PAGE_SHIFT = 12;

/** Called when bytes in a page holding decoded code are written. */
export type CodeWriteHook = (hostPage: number, offset: number, length: number) => void;

export class GuestMemory {
  readonly ramBytes: number;
  readonly ramPages: number;
  readonly totalPages: number;
  readonly buffer: ArrayBuffer;
  readonly u8: Uint8Array;
  readonly dv: DataView;
  readonly dirty: Uint8Array;
  readonly code: Uint8Array;
  #nextPool: number;
  onCodeWrite: CodeWriteHook = () => {};

  constructor(ramBytes: number, poolPages = 256) {
    if (ramBytes % PAGE_SIZE !== 0 || ramBytes <= 0) {
      throw new RangeError(`RAM size must be a positive multiple of 4096: ${ramBytes}`);
    }
    this.ramBytes = ramBytes;
    this.ramPages = ramBytes / PAGE_SIZE;
    this.totalPages = this.ramPages + poolPages;
    this.buffer = new ArrayBuffer(this.totalPages * PAGE_SIZE);
    this.u8 = new Uint8Array(this.buffer);
    this.dv = new DataView(this.buffer);
    this.dirty = new Uint8Array(this.totalPages);
    this.code = new Uint8Array(this.totalPages);
    this.#nextPool = this.ramPages;
  }

  /** Allocates a zeroed host page outside the RAM (for overlays). Deterministic order. */
  allocPage(): number {
    if (this.#nextPool >= this.totalPages) throw new RangeError("overlay page pool exhausted");
    return this.#nextPool++;
  }

  /** Marks [offset, offset+len) of the host buffer written: dirty, and invalidates code. */
  touch(offset: number, len: number): void {
    const first = Math.floor(offset / PAGE_SIZE);
    const last = Math.floor((offset + len - 1) / PAGE_SIZE);
    for (let p = first; p <= last; p++) {
      this.dirty[p] = 1;
      if (this.code[p] !== 0) {
        const start = p === first ? offset % PAGE_SIZE : 0;
        const end = p === last ? (offset + len - 1) % PAGE_SIZE + 1 : PAGE_SIZE;
        this.onCodeWrite(p, start, end - start);
      }
    }
  }

  // Host-offset accessors for hypervisor and device code (not the CPU fast path).
  read8(off: number): number {
    return this.u8[off]!;
  }
  read16(off: number): number {
    return this.dv.getUint16(off, true);
  }
  read32(off: number): number {
    return this.dv.getUint32(off, true);
  }
  /** Reads a 64-bit value as a BigInt (hypervisor paths only, never the CPU hot path). */
  read64n(off: number): bigint {
    return this.dv.getBigUint64(off, true);
  }
  write8(off: number, v: number): void {
    this.u8[off] = v;
    this.touch(off, 1);
  }
  write16(off: number, v: number): void {
    this.dv.setUint16(off, v, true);
    this.touch(off, 2);
  }
  write32(off: number, v: number): void {
    this.dv.setUint32(off, v >>> 0, true);
    this.touch(off, 4);
  }
  writeBytes(off: number, bytes: Uint8Array): void {
    this.u8.set(bytes, off);
    if (bytes.length) this.touch(off, bytes.length);
  }
  readBytes(off: number, len: number): Uint8Array {
    return this.u8.slice(off, off + len);
  }
}
