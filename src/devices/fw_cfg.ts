/**
 * QEMU firmware configuration device (docs/specs/fw_cfg.rst), x86 I/O port flavour:
 * - 0x510 selector (16-bit write; selecting resets the data offset to 0),
 * - 0x511 data (8-bit reads, auto-incrementing; past the end of an item reads 0),
 * - 0x514-0x51b DMA address register (present when a `mem` accessor is given): 64-bit
 *   big-endian; a 32-bit write at 0x514 sets the high half, a 32-bit write at 0x518 sets the low
 *   half and runs the FWCfgDmaAccess at that guest physical address; the register then reads
 *   back as "QEMU CFG" (it always does) and holds 0 again.
 *
 * As QEMU's combined port: any byte read of 0x510 or 0x511 reads data, a byte write to either is
 * a (deprecated, ignored) data write, a 16-bit write to 0x510 selects; other widths read
 * all-ones and are dropped. The write-channel bit (0x4000) of a selector is ignored for reads;
 * bit 15 selects the architecture-specific namespace. No item is writable (a DMA write sets the
 * error bit). Unknown keys read as empty items.
 *
 * Items: FW_CFG_SIGNATURE "QEMU", FW_CFG_ID (bit 0, plus bit 1 with DMA), FW_CFG_UUID (zeros),
 * FW_CFG_RAM_SIZE (u64), FW_CFG_NB_CPUS / FW_CFG_MAX_CPUS (u16), FW_CFG_CMDLINE_SIZE /
 * FW_CFG_CMDLINE_DATA (when a command line is set: strlen + 1, NUL-terminated bytes),
 * FW_CFG_FILE_DIR, and files added with `addFile` at keys 0x0020 up, numbered in name order as
 * QEMU does (adding a file renumbers the ones after it).
 */

import type { PortDevice } from "./bus.ts";

export const FW_CFG_SIGNATURE = 0x0000;
export const FW_CFG_ID = 0x0001;
export const FW_CFG_UUID = 0x0002;
export const FW_CFG_RAM_SIZE = 0x0003;
export const FW_CFG_NB_CPUS = 0x0005;
export const FW_CFG_MAX_CPUS = 0x000f;
export const FW_CFG_CMDLINE_SIZE = 0x0014;
export const FW_CFG_CMDLINE_DATA = 0x0015;
export const FW_CFG_FILE_DIR = 0x0019;
export const FW_CFG_FILE_FIRST = 0x0020;
export const FW_CFG_ARCH_LOCAL = 0x8000;

export const FW_CFG_DMA_CTL_ERROR = 0x01;
export const FW_CFG_DMA_CTL_READ = 0x02;
export const FW_CFG_DMA_CTL_SKIP = 0x04;
export const FW_CFG_DMA_CTL_SELECT = 0x08;
export const FW_CFG_DMA_CTL_WRITE = 0x10;

const SIGNATURE = new TextEncoder().encode("QEMU");
const DMA_SIGNATURE = new TextEncoder().encode("QEMU CFG");
const FILE_NAME_MAX = 56;
const ZERO_CHUNK = new Uint8Array(65536);

/** Guest physical memory as the DMA engine sees it. Either may throw for unbacked addresses:
 * the transfer then stops with the error bit set. */
export interface FwCfgMemory {
  read(addr: number, len: number): Uint8Array;
  write(addr: number, bytes: Uint8Array): void;
}

export interface FwCfgOptions {
  /** Guest RAM size in bytes (FW_CFG_RAM_SIZE). */
  readonly ramSize?: number;
  /** FW_CFG_NB_CPUS (default 1). */
  readonly cpus?: number;
  /** FW_CFG_MAX_CPUS (default = cpus). */
  readonly maxCpus?: number;
  /** Kernel command line (FW_CFG_CMDLINE_SIZE/DATA); absent = items absent. */
  readonly cmdline?: string;
  /** Guest memory accessor; enables the DMA interface. */
  readonly mem?: FwCfgMemory;
}

function le(value: number, bytes: number): Uint8Array {
  const out = new Uint8Array(bytes);
  let v = value;
  for (let i = 0; i < bytes; i++) {
    out[i] = v % 256;
    v = Math.floor(v / 256);
  }
  return out;
}

function be32(b: Uint8Array, off: number): number {
  return ((b[off]! << 24) | (b[off + 1]! << 16) | (b[off + 2]! << 8) | b[off + 3]!) >>> 0;
}

function bswap32(v: number): number {
  return (((v & 0xff) << 24) | ((v & 0xff00) << 8) | ((v >>> 8) & 0xff00) | (v >>> 24)) >>> 0;
}

function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return a[i]! - b[i]!;
  return a.length - b.length;
}

/** Encodes e820 entries as QEMU's "etc/e820" file: {u64 address, u64 length, u32 type} LE. */
export function encodeE820(
  entries: readonly { readonly addr: number; readonly size: number; readonly type: number }[],
): Uint8Array {
  const out = new Uint8Array(entries.length * 20);
  entries.forEach((e, i) => {
    out.set(le(e.addr, 8), i * 20);
    out.set(le(e.size, 8), i * 20 + 8);
    out.set(le(e.type, 4), i * 20 + 16);
  });
  return out;
}

interface FwFile {
  readonly name: string;
  readonly nameBytes: Uint8Array;
  readonly data: Uint8Array;
}

/** Ports 0x510-0x511, plus 0x514-0x51b when DMA is enabled. */
export class FwCfg implements PortDevice {
  readonly name = "fw_cfg";
  readonly #mem: FwCfgMemory | null;
  /** Fixed items by key (key & 0xbfff: generic 0x0000-0x001f, arch 0x8000-0xbfff). */
  readonly #items = new Map<number, Uint8Array>();
  readonly #files: FwFile[] = [];
  selector = 0;
  offset = 0;
  /** DMA address register, high half (set by a write at 0x514). */
  dmaHigh = 0;

  constructor(opts: FwCfgOptions = {}) {
    this.#mem = opts.mem ?? null;
    this.#items.set(FW_CFG_SIGNATURE, SIGNATURE);
    this.#items.set(FW_CFG_ID, le(this.#mem !== null ? 3 : 1, 4));
    this.#items.set(FW_CFG_UUID, new Uint8Array(16));
    this.#items.set(FW_CFG_RAM_SIZE, le(opts.ramSize ?? 0, 8));
    const cpus = opts.cpus ?? 1;
    this.#items.set(FW_CFG_NB_CPUS, le(cpus, 2));
    this.#items.set(FW_CFG_MAX_CPUS, le(opts.maxCpus ?? cpus, 2));
    if (opts.cmdline !== undefined) this.setCmdline(opts.cmdline);
    this.#rebuildDir();
  }

  get dmaEnabled(): boolean {
    return this.#mem !== null;
  }

  /** Sets a fixed (non-file) item. Keys 0x0020-0x3fff belong to files: use `addFile`. */
  setItem(key: number, data: Uint8Array): void {
    const k = key & 0xbfff;
    if ((k & 0x3fff) >= FW_CFG_FILE_FIRST && !(k & FW_CFG_ARCH_LOCAL)) {
      throw new RangeError(`fw_cfg key 0x${key.toString(16)} is in the file range`);
    }
    if (k === FW_CFG_FILE_DIR) throw new RangeError("fw_cfg FILE_DIR is generated");
    this.#items.set(k, data.slice());
  }

  /** Sets FW_CFG_CMDLINE_SIZE (length + 1, u32) and FW_CFG_CMDLINE_DATA (NUL-terminated). */
  setCmdline(cmdline: string): void {
    const s = new TextEncoder().encode(cmdline);
    const data = new Uint8Array(s.length + 1);
    data.set(s);
    this.#items.set(FW_CFG_CMDLINE_SIZE, le(data.length, 4));
    this.#items.set(FW_CFG_CMDLINE_DATA, data);
  }

  /** Adds a named file (e.g. "etc/e820"); returns its selector key (valid until the next add). */
  addFile(name: string, data: Uint8Array): number {
    const nameBytes = new TextEncoder().encode(name);
    if (nameBytes.length === 0 || nameBytes.length >= FILE_NAME_MAX || nameBytes.includes(0)) {
      throw new RangeError(`fw_cfg file name ${JSON.stringify(name)} must be 1..55 bytes`);
    }
    if (this.#files.some((f) => f.name === name)) {
      throw new RangeError(`fw_cfg file ${JSON.stringify(name)} added twice`);
    }
    if (this.#files.length >= 0x4000 - FW_CFG_FILE_FIRST) throw new RangeError("fw_cfg full");
    let i = this.#files.length;
    while (i > 0 && compareBytes(nameBytes, this.#files[i - 1]!.nameBytes) < 0) i--;
    this.#files.splice(i, 0, { name, nameBytes, data: data.slice() });
    this.#rebuildDir();
    return FW_CFG_FILE_FIRST + i;
  }

  /** The selector key of file `name`, or -1. */
  fileKey(name: string): number {
    const i = this.#files.findIndex((f) => f.name === name);
    return i < 0 ? -1 : FW_CFG_FILE_FIRST + i;
  }

  #rebuildDir(): void {
    const n = this.#files.length;
    const dir = new Uint8Array(4 + 64 * n);
    const dv = new DataView(dir.buffer);
    dv.setUint32(0, n);
    this.#files.forEach((f, i) => {
      const o = 4 + 64 * i;
      dv.setUint32(o, f.data.length);
      dv.setUint16(o + 4, FW_CFG_FILE_FIRST + i);
      dir.set(f.nameBytes, o + 8);
    });
    this.#items.set(FW_CFG_FILE_DIR, dir);
  }

  /** The item a selector value addresses (null = none). */
  #item(selector: number): Uint8Array | null {
    const k = selector & 0xbfff;
    if (!(k & FW_CFG_ARCH_LOCAL) && k >= FW_CFG_FILE_FIRST) {
      return this.#files[k - FW_CFG_FILE_FIRST]?.data ?? null;
    }
    return this.#items.get(k) ?? null;
  }

  select(key: number): void {
    this.selector = key & 0xffff;
    this.offset = 0;
  }

  #readData(): number {
    const item = this.#item(this.selector);
    if (item === null || this.offset >= item.length) return 0;
    return item[this.offset++]!;
  }

  // ---- DMA ------------------------------------------------------------------------------------

  #dma(addr: number): void {
    const mem = this.#mem;
    if (mem === null) return;
    let hdr: Uint8Array;
    try {
      hdr = mem.read(addr, 16);
    } catch {
      return; // the descriptor itself is unreadable: nothing to report into
    }
    if (hdr.length < 16) return;
    let control = be32(hdr, 0);
    let length = be32(hdr, 4);
    const addrHi = be32(hdr, 8), addrLo = be32(hdr, 12);
    let address = addrHi * 4294967296 + addrLo;
    if (control & FW_CFG_DMA_CTL_SELECT) this.select(control >>> 16);
    const item = this.#item(this.selector);
    let read = false, write = false;
    if (control & FW_CFG_DMA_CTL_READ) read = true;
    else if (control & FW_CFG_DMA_CTL_WRITE) write = true;
    else if (!(control & FW_CFG_DMA_CTL_SKIP)) length = 0;
    control = 0;
    if (length > 0 && (read || write) && addrHi >= 0x200000) {
      control = FW_CFG_DMA_CTL_ERROR; // beyond 2^53: no such memory
      length = 0;
    }
    try {
      while (length > 0 && !(control & FW_CFG_DMA_CTL_ERROR)) {
        let len: number;
        if (item === null || this.offset >= item.length) {
          len = length;
          if (read) {
            for (let done = 0; done < len; done += ZERO_CHUNK.length) {
              mem.write(
                address + done,
                ZERO_CHUNK.subarray(0, Math.min(ZERO_CHUNK.length, len - done)),
              );
            }
          }
          if (write) control |= FW_CFG_DMA_CTL_ERROR;
        } else {
          len = Math.min(length, item.length - this.offset);
          if (read) mem.write(address, item.subarray(this.offset, this.offset + len));
          if (write) control |= FW_CFG_DMA_CTL_ERROR; // no item is writable
          this.offset += len;
        }
        address += len;
        length -= len;
      }
    } catch {
      control |= FW_CFG_DMA_CTL_ERROR;
    }
    try {
      mem.write(addr, Uint8Array.of(0, 0, 0, control & FW_CFG_DMA_CTL_ERROR));
    } catch {
      // the descriptor became unwritable: nothing more to do
    }
  }

  // ---- ports ----------------------------------------------------------------------------------

  ioRead(port: number, size: 1 | 2 | 4): number {
    if (port === 0x510 || port === 0x511) {
      return size === 1 ? this.#readData() : size === 2 ? 0xffff : 0xffffffff;
    }
    if (this.#mem !== null && port >= 0x514 && port <= 0x51b) {
      let v = 0;
      for (let i = 0; i < size; i++) {
        const o = port + i - 0x514;
        v |= (o < 8 ? DMA_SIGNATURE[o]! : 0xff) << (8 * i);
      }
      return v >>> 0;
    }
    return size === 4 ? 0xffffffff : size === 2 ? 0xffff : 0xff;
  }

  ioWrite(port: number, size: 1 | 2 | 4, value: number): void {
    if (port === 0x510 && size === 2) {
      this.select(value & 0xffff);
    } else if (this.#mem !== null && size === 4 && port === 0x514) {
      this.dmaHigh = bswap32(value >>> 0);
    } else if (this.#mem !== null && size === 4 && port === 0x518) {
      const low = bswap32(value >>> 0);
      const high = this.dmaHigh;
      this.dmaHigh = 0;
      if (high < 0x200000) this.#dma(high * 4294967296 + low);
    }
    // Byte writes to 0x510/0x511 are data writes: ignored since QEMU 2.4.
  }

  snapshot(): Record<string, unknown> {
    return {
      selector: this.selector,
      offset: this.offset,
      dmaHigh: this.dmaHigh,
      files: this.#files.map((f, i) => ({
        name: f.name,
        size: f.data.length,
        select: FW_CFG_FILE_FIRST + i,
      })),
    };
  }
}
