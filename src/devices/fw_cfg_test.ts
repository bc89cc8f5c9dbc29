import assert from "node:assert/strict";
import {
  encodeE820,
  FW_CFG_CMDLINE_DATA,
  FW_CFG_CMDLINE_SIZE,
  FW_CFG_DMA_CTL_READ,
  FW_CFG_DMA_CTL_SELECT,
  FW_CFG_DMA_CTL_SKIP,
  FW_CFG_DMA_CTL_WRITE,
  FW_CFG_FILE_DIR,
  FW_CFG_ID,
  FW_CFG_MAX_CPUS,
  FW_CFG_NB_CPUS,
  FW_CFG_RAM_SIZE,
  FW_CFG_SIGNATURE,
  FwCfg,
  type FwCfgMemory,
} from "./fw_cfg.ts";

function readItem(f: FwCfg, key: number, len: number): number[] {
  f.ioWrite(0x510, 2, key);
  const out: number[] = [];
  for (let i = 0; i < len; i++) out.push(f.ioRead(0x511, 1));
  return out;
}

const le = (b: number[]) => b.reduceRight((a, x) => a * 256 + x, 0);
const be = (b: number[]) => b.reduce((a, x) => a * 256 + x, 0);

class Ram implements FwCfgMemory {
  readonly bytes = new Uint8Array(0x10000);
  read(addr: number, len: number): Uint8Array {
    if (addr + len > this.bytes.length) throw new RangeError("unbacked");
    return this.bytes.slice(addr, addr + len);
  }
  write(addr: number, b: Uint8Array): void {
    if (addr + b.length > this.bytes.length) throw new RangeError("unbacked");
    this.bytes.set(b, addr);
  }
}

Deno.test("fw_cfg fixed items through the traditional interface", () => {
  const f = new FwCfg({ ramSize: 0x1_2345_6000, cpus: 4, maxCpus: 8, cmdline: "console=ttyS0" });
  assert.equal(String.fromCharCode(...readItem(f, FW_CFG_SIGNATURE, 4)), "QEMU");
  assert.equal(le(readItem(f, FW_CFG_ID, 4)), 1);
  assert.equal(le(readItem(f, FW_CFG_RAM_SIZE, 8)), 0x1_2345_6000);
  assert.equal(le(readItem(f, FW_CFG_NB_CPUS, 2)), 4);
  assert.equal(le(readItem(f, FW_CFG_MAX_CPUS, 2)), 8);
  assert.equal(le(readItem(f, FW_CFG_CMDLINE_SIZE, 4)), 14);
  assert.deepEqual(
    readItem(f, FW_CFG_CMDLINE_DATA, 16),
    [...new TextEncoder().encode("console=ttyS0"), 0, 0, 0],
  );
  // Past the end reads 0; reselecting restarts; the write bit is ignored for reads.
  assert.deepEqual(readItem(f, FW_CFG_SIGNATURE | 0x4000, 6), [0x51, 0x45, 0x4d, 0x55, 0, 0]);
  assert.deepEqual(readItem(f, 0x0123, 2), [0, 0]); // unknown key
  assert.deepEqual(readItem(f, 0x8003, 2), [0, 0]); // arch namespace, unset
  // Byte read of the selector port reads data too (QEMU's combined port).
  f.ioWrite(0x510, 2, FW_CFG_SIGNATURE);
  assert.equal(f.ioRead(0x510, 1), 0x51);
  assert.equal(f.ioRead(0x511, 2), 0xffff); // invalid width
  f.ioWrite(0x511, 1, 0x99); // data writes ignored
  assert.equal(f.ioRead(0x511, 1), 0x45);
  // No DMA without a memory accessor.
  assert.equal(f.ioRead(0x514, 4), 0xffffffff);
});

Deno.test("fw_cfg files: sorted directory, keys from 0x20 in name order", () => {
  const f = new FwCfg();
  f.addFile("etc/e820", encodeE820([{ addr: 0, size: 0x9fc00, type: 1 }]));
  f.addFile("bootorder", new Uint8Array([1, 2, 3]));
  f.addFile("opt/vtlrr/x", new Uint8Array(0));
  assert.equal(f.fileKey("bootorder"), 0x20);
  assert.equal(f.fileKey("etc/e820"), 0x21);
  assert.equal(f.fileKey("opt/vtlrr/x"), 0x22);
  const dir = readItem(f, FW_CFG_FILE_DIR, 4 + 3 * 64);
  assert.equal(be(dir.slice(0, 4)), 3);
  const entries = [0, 1, 2].map((i) => {
    const e = dir.slice(4 + 64 * i, 4 + 64 * (i + 1));
    const nameBytes = e.slice(8);
    return {
      size: be(e.slice(0, 4)),
      select: be(e.slice(4, 6)),
      reserved: be(e.slice(6, 8)),
      name: String.fromCharCode(...nameBytes.slice(0, nameBytes.indexOf(0))),
    };
  });
  assert.deepEqual(entries, [
    { size: 3, select: 0x20, reserved: 0, name: "bootorder" },
    { size: 20, select: 0x21, reserved: 0, name: "etc/e820" },
    { size: 0, select: 0x22, reserved: 0, name: "opt/vtlrr/x" },
  ]);
  const e820 = readItem(f, 0x21, 20);
  assert.equal(le(e820.slice(8, 16)), 0x9fc00);
  assert.equal(le(e820.slice(16, 20)), 1);
  assert.throws(() => f.addFile("bootorder", new Uint8Array(1)), RangeError);
  assert.throws(() => f.addFile("x".repeat(56), new Uint8Array(1)), RangeError);
  assert.throws(() => f.setItem(0x30, new Uint8Array(1)), RangeError);
});

Deno.test("fw_cfg DMA: signature, select+read, skip, zero fill, write error", () => {
  const ram = new Ram();
  const f = new FwCfg({ mem: ram, ramSize: 0x4000000 });
  f.addFile("etc/hello", new TextEncoder().encode("hello world"));
  // "QEMU CFG" at 0x514..0x51b, in byte order.
  assert.equal(f.ioRead(0x514, 4), 0x554d4551);
  assert.equal(f.ioRead(0x518, 4), 0x47464320);
  assert.equal(le(readItem(f, FW_CFG_ID, 4)), 3);

  const dv = new DataView(ram.bytes.buffer);
  const dma = (at: number, control: number, length: number, address: number) => {
    dv.setUint32(at, control);
    dv.setUint32(at + 4, length);
    dv.setUint32(at + 8, 0);
    dv.setUint32(at + 12, address);
    f.ioWrite(0x514, 4, 0); // high half (big-endian register: byte-swapped I/O value)
    const swapped = ((at & 0xff) << 24) | ((at & 0xff00) << 8) | ((at >>> 8) & 0xff00) |
      (at >>> 24);
    f.ioWrite(0x518, 4, swapped >>> 0);
    return dv.getUint32(at);
  };
  const key = f.fileKey("etc/hello");
  assert.equal(dma(0x100, (key << 16) | FW_CFG_DMA_CTL_SELECT | FW_CFG_DMA_CTL_READ, 5, 0x200), 0);
  assert.equal(new TextDecoder().decode(ram.bytes.slice(0x200, 0x205)), "hello");
  assert.equal(dma(0x100, FW_CFG_DMA_CTL_SKIP, 1, 0), 0);
  // Reading past the end zero-fills the rest.
  ram.bytes.fill(0xee, 0x300, 0x310);
  assert.equal(dma(0x100, FW_CFG_DMA_CTL_READ, 16, 0x300), 0);
  assert.equal(new TextDecoder().decode(ram.bytes.slice(0x300, 0x305)), "world");
  assert.deepEqual([...ram.bytes.slice(0x305, 0x310)], new Array(11).fill(0));
  // The traditional data port continues from the DMA offset.
  assert.equal(f.ioRead(0x511, 1), 0);
  // Writes are refused: nothing is writable.
  assert.equal(dma(0x100, (key << 16) | FW_CFG_DMA_CTL_SELECT | FW_CFG_DMA_CTL_WRITE, 4, 0x200), 1);
  // A read into unbacked memory reports the error bit.
  assert.equal(
    dma(0x100, (key << 16) | FW_CFG_DMA_CTL_SELECT | FW_CFG_DMA_CTL_READ, 4, 0xfffe),
    1,
  );
  // No operation bits: length ignored, success.
  assert.equal(dma(0x100, 0, 100, 0x400), 0);
  // A descriptor outside memory is silently ignored.
  f.ioWrite(0x518, 4, 0x00000100); // 0x00010000 after the byte swap
  assert.equal(f.dmaHigh, 0);
  const snap = f.snapshot();
  assert.deepEqual(JSON.parse(JSON.stringify(snap)), snap);
});
